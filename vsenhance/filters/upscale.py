"""``upscale``: Real-ESRGAN (or any spandrel super-resolution model) as a VapourSynth filter."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, cast

import vapoursynth as vs

from ..bridge.checks import check_bool, check_choice, check_frame_size, check_number, check_path
from ..bridge.colour import (
    ColourParams,
    check_constant,
    chroma_upsampling,
    colour_params,
    from_rgb,
    resolve_output_format,
    to_rgb,
)
from ..bridge.evaluate import ensure_threads, map_planes
from ..bridge.held import Dedup, KeyFrames, map_planes_held, resolve_dedup
from ..constants import CHOICE_PROPS, HELD_PROP
from ..errors import ClipError
from ..files import note_input
from ..models.colour_spec import MATRIX_COEFFICIENTS, ChromaUpsampling, PlaneSpec

if TYPE_CHECKING:
    from ..models.sr import SRRuntime

__all__ = ["upscale"]

log = logging.getLogger(__name__)
core = vs.core

_FUNC = "vsenhance.upscale"
_runtimes: dict[tuple, SRRuntime] = {}
_runtimes_lock = threading.Lock()
_MAX_RUNTIMES = 4
_RGBS = core.get_video_format(vs.RGBS)
_FAMILIES: dict[vs.ColorFamily, Literal["rgb", "yuv", "gray"]] = {vs.RGB: "rgb", vs.YUV: "yuv", vs.GRAY: "gray"}
Precision = Literal["auto", "fp16", "bf16", "fp32"]
Backend = Literal["auto", "torch", "openvino"]
# "cuda:N" (a GPU by index) is a device too, hence `str` beside the literals: type checkers then accept any
# string, and resolve_device refuses an unknown one when the filter is created
Device = Literal["auto", "cpu", "cuda"] | str
# bounds far above any real use: a larger tile, pad, stream count or scale is a typo that would try to allocate it
_MAX_SIDE = 1 << 16
_MIN_SCALE, _MAX_SCALE = 1e-3, 64


def upscale(
    clip: vs.VideoNode,
    model: str | os.PathLike[str] = "realesr-animevideov3",
    *,
    scale: float | None = None,
    tile: int = 512,
    tile_pad: int = 10,
    pre_pad: int = 0,
    device: Device = "auto",
    precision: Precision = "auto",
    streams: int = 2,
    tile_batch: int = 1,
    output_format: str | int | vs.VideoFormat | vs.PresetVideoFormat | None = None,
    compile: bool = False,
    dedup: Dedup = "exact",
    backend: Backend = "auto",
) -> vs.VideoNode:
    """Upscale ``clip`` with a super-resolution model, tiled exactly like Real-ESRGAN's ``RealESRGANer``.

    :param model:         a known name (``vsenhance models list``), a ``.pth``/``.safetensors`` file, or an
                          ncnn ``.param`` with its ``.bin`` beside it.
    :param scale:         output scale; when it differs from the model's, the AI output is resized with
                          Lanczos (Real-ESRGAN's ``outscale``). Default: the model's scale.
    :param tile:          tile core size in input pixels; 0 infers the whole frame at once.
    :param tile_pad:      context pixels around each tile (only the core of each tile's output is kept).
    :param pre_pad:       reflect padding at the right and bottom, removed after inference (at most the frame's
                          longer side).
    :param device:        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; CUDA requested but missing raises.
                          With ``backend="openvino"`` also OpenVINO's own names: ``"GPU"``, ``"GPU.1"``, ``"NPU"``.
    :param precision:     ``"auto"`` (fp16 on CUDA, fp32 on CPU), ``"fp16"``, ``"bf16"`` or ``"fp32"``.
    :param streams:       frames in flight at once (a CUDA stream each on a GPU; CPU workers share the cores).
    :param tile_batch:    same-sized tiles of one frame inferred together.
    :param output_format: None for RGBS (RGBH for half-float input), ``"same"`` for the input's format, or a
                          VapourSynth format. All frame props of the input are kept.
    :param compile:       ``torch.compile`` the network (fuses bias, activation and concatenation around the
                          convolutions: 1.5-2x on an H100). The first frame of each tile shape waits for the
                          compilation (about a minute); worth it for encodes, not for previews.
    :param dedup:         held frames (a picture repeated from the frame before) reuse the model's output of
                          the frame they repeat instead of running it again: ``"exact"`` (bit-identical source
                          frames only; the output is identical to ``"off"``), ``"near"`` (lossy sources: at most
                          8 codes of mean difference in any 8x8 area, see docs/dedup.md), a tolerance in 8-bit
                          codes, or ``"off"``. Every frame carries ``VSEnhanceHeldFrom``: the frame whose output it
                          shows (its own number when computed).
    :param backend:       what runs the network: ``"torch"``, ``"openvino"`` (OpenVINO's kernels, on the CPU or an
                          Intel GPU/NPU; ``pip install 'vsenhance[openvino]'``), or ``"auto"``: OpenVINO on the
                          CPU where it is installed (faster there), torch on CUDA and with ``compile=True``. Tiles,
                          conversions and props are the same with either; ``VSEnhanceBackend`` says which ran.
    """
    return _upscale(
        clip, model, None, scale=scale, tile=tile, tile_pad=tile_pad, pre_pad=pre_pad, device=device,
        precision=precision, streams=streams, tile_batch=tile_batch, output_format=output_format, compile=compile,
        dedup=dedup, backend=backend,
    )  # fmt: skip


def _upscale(
    clip: vs.VideoNode,
    model: str | os.PathLike[str],
    keys: KeyFrames | None,
    *,
    scale: float | None,
    tile: int,
    tile_pad: int,
    pre_pad: int,
    device: Device,
    precision: Precision,
    streams: int,
    tile_batch: int,
    output_format: str | int | vs.VideoFormat | vs.PresetVideoFormat | None,
    compile: bool,
    dedup: Dedup,
    backend: Backend = "auto",
) -> vs.VideoNode:
    """``upscale``; ``keys``: decisions made by the caller (``upscale_ranges`` registers them under its own id)."""
    check_constant(clip, _FUNC)
    check_path(_FUNC, "model", model, "a model name (`vsenhance models list`) or the path of a model file")
    note_input(model)  # a model file is an input: no output (export_pose, encode, cut) may replace it
    for name, value, low, high in (
        ("tile", tile, 0, _MAX_SIDE),
        ("tile_pad", tile_pad, 0, _MAX_SIDE),
        ("pre_pad", pre_pad, 0, max(clip.width, clip.height)),  # more pads more than the frame itself
        ("streams", streams, 1, 64),
        ("tile_batch", tile_batch, 1, 1024),
    ):
        check_number(_FUNC, name, value, low, high, integer=True)
    if scale is not None:
        check_number(_FUNC, "scale", scale, _MIN_SCALE, _MAX_SCALE)
    check_bool(_FUNC, "compile", compile)
    precision = cast(Precision, check_choice(_FUNC, "precision", precision, Precision))
    backend = _resolve_backend(check_choice(_FUNC, "backend", backend, Backend), device, compile)
    if backend == "openvino" and compile:
        raise ClipError(_FUNC, "compile=True is torch.compile; OpenVINO compiles the network by itself.",
                        "Drop compile=True, or pass backend='torch'.")  # fmt: skip
    rule = resolve_dedup(dedup, _FUNC)
    out_fmt = resolve_output_format(clip, output_format, _FUNC)
    first = clip.get_frame(0).props  # read once: the field order here, the colour props below
    _check_progressive(first)
    # read now (frame 0) so bad colour props fail before the model loads: YUV/GRAY on either side needs the
    # matrix, and integer RGB its _Range
    needs_matrix = clip.format.color_family != vs.RGB or out_fmt.color_family != vs.RGB
    integer_rgb = clip.format.color_family == vs.RGB and clip.format.sample_type == vs.INTEGER
    params = colour_params(clip, _FUNC, first) if needs_matrix or integer_rgb else None
    runtime = _runtime(model, device, precision, tile, tile_pad, pre_pad, tile_batch, streams, compile, backend)
    ensure_threads(streams, _FUNC, held=rule is not None or keys is not None)

    check_frame_size(_FUNC, clip.width * runtime.scale, clip.height * runtime.scale,
                     f"the x{runtime.scale} model on {clip.width}x{clip.height}")  # fmt: skip
    plan = _plan(clip, params, out_fmt, on_device=_converts_on_device(runtime), model_scale=runtime.scale, scale=scale)
    if plan.resize is not None:
        check_frame_size(_FUNC, *plan.resize, f"scale={scale:g} on {clip.width}x{clip.height}")
    src = _prepare_input(clip, plan)
    if rule is not None and keys is None:
        keys = KeyFrames(clip, rule)
    out = _infer(src, runtime, plan, os.path.basename(os.fspath(model)), keys, streams)
    return _finish_output(out, plan)


def _converts_on_device(runtime: SRRuntime) -> bool:
    """Whether the colour conversions run on the inference device (a GPU) rather than in VapourSynth."""
    return runtime.device.type == "cuda"


@dataclass(frozen=True)
class _Conversion:
    """Every format decision of one ``upscale`` call, made once up front by ``_plan``.

    The graph is: the clip (or VapourSynth's RGBS of it) → the runtime, which reads ``source`` and writes
    ``written`` → ``props`` → Lanczos to ``resize`` → VapourSynth's conversion to ``output_format``.
    """

    params: ColourParams | None  # the clip's colour parameters; None where RGB float in and RGB out need none
    rgb_input: bool  # VapourSynth converts the clip to RGBS first; False: the runtime reads the clip's own planes
    source: PlaneSpec  # how the runtime reads the planes it is given
    chroma: ChromaUpsampling | None  # how it upsamples their subsampled chroma (None: not subsampled)
    written: vs.VideoFormat  # the format the runtime writes: RGBS, or ``output_format`` converted on the device
    output: PlaneSpec  # how it writes it
    props: Mapping[str, int] | None  # set on what it wrote, the labels zimg would have set (none: removed)
    resize: tuple[int, int] | None  # Lanczos to this size after the model: the requested scale isn't the model's
    output_format: vs.VideoFormat  # what upscale returns; VapourSynth converts to it unless ``written`` is it


def _plan(
    clip: vs.VideoNode,
    params: ColourParams | None,
    out_fmt: vs.VideoFormat,
    *,
    on_device: bool,
    model_scale: int,
    scale: float | None,
) -> _Conversion:
    """How ``clip`` becomes ``out_fmt`` around the model (``model_scale``; ``scale``: the one requested).

    On a GPU both conversions run there where the runtime knows the matrix: the frames' own planes (1.5-6 bytes
    a pixel) cross PCIe and the CPU instead of RGB float (12). On the CPU, VapourSynth's resize (zimg, SIMD)
    is several times faster, and RGB float is what the model reads anyway. After a Lanczos resize VapourSynth
    converts: the runtime writes RGB float.
    """
    fmt = clip.format
    resized = scale is not None and scale != model_scale
    size = _scaled_size(clip, scale if resized else model_scale, out_fmt)
    # the clip's range as labelled; float planes are full range whatever the label, and RGB output always is
    limited = params is not None and params.range != vs.RANGE_FULL

    reads_planes = (fmt.color_family == vs.RGB and fmt.sample_type == vs.FLOAT) or (
        on_device and _device_converts(fmt, params)
    )
    src_fmt = fmt if reads_planes else _RGBS
    source = _plane_spec(src_fmt, params, full_range=not limited or src_fmt.sample_type == vs.FLOAT)
    subsampled = src_fmt.subsampling_w or src_fmt.subsampling_h
    chroma = chroma_upsampling(fmt, clip.width, clip.height, params.chroma_location) if subsampled else None

    writes_output = on_device and not resized and _device_converts(out_fmt, params)
    written = out_fmt if writes_output else _RGBS
    full_out = not limited or written.sample_type == vs.FLOAT or written.color_family == vs.RGB
    output = _plane_spec(written, params, full_range=full_out)

    props: dict[str, int] | None = None
    if written.color_family != vs.RGB:  # YUV/GRAY converted on the device: as resize labels it (float included)
        props = {"_Matrix": params.matrix, "_Transfer": params.transfer, "_Primaries": params.primaries,
                 "_Range": params.range}  # fmt: skip
        if written.subsampling_w or written.subsampling_h:
            props["_ChromaLocation"] = 0  # left (MPEG-2), as converted
    elif reads_planes:  # RGB from the clip's own planes: as zimg's conversion to full-range RGB labels it
        props = {"_Matrix": 0, "_Range": vs.RANGE_FULL}
        if fmt.color_family != vs.RGB:
            props |= {"_Transfer": params.transfer, "_Primaries": params.primaries}
    return _Conversion(
        params=params,
        rgb_input=not reads_planes,
        source=source,
        chroma=chroma,
        written=written,
        output=output,
        props=props,
        resize=size if resized else None,
        output_format=out_fmt,
    )


def _device_converts(fmt: vs.VideoFormat, params: ColourParams | None) -> bool:
    """Whether the inference device can convert ``fmt`` (RGB, or a matrix it has coefficients for)."""
    return fmt.color_family == vs.RGB or params.matrix in MATRIX_COEFFICIENTS


def _plane_spec(fmt: vs.VideoFormat, params: ColourParams | None, *, full_range: bool) -> PlaneSpec:
    """``fmt``'s planes as the runtime reads or writes them (YUV/GRAY with the clip's matrix)."""
    family = _FAMILIES[fmt.color_family]
    matrix = 0 if family == "rgb" else params.matrix
    return PlaneSpec(family, fmt.bits_per_sample, fmt.sample_type == vs.FLOAT, full_range,
                     fmt.subsampling_w, fmt.subsampling_h, matrix)  # fmt: skip


def _prepare_input(clip: vs.VideoNode, plan: _Conversion) -> vs.VideoNode:
    """Preprocess: the clip whose planes the runtime reads."""
    return to_rgb(clip, plan.params) if plan.rgb_input else clip


def _infer(
    src: vs.VideoNode, runtime: SRRuntime, plan: _Conversion, model: str, keys: KeyFrames | None, streams: int
) -> vs.VideoNode:
    """Inference: the model's output, ``runtime.scale`` times ``src``'s size, in ``plan.written``, each frame
    saying what made it (:data:`~vsenhance.constants.CHOICE_PROPS`) and which frame's output it shows
    (``keys``: once per key frame; None: every frame its own)."""
    s = runtime.scale
    template = src.std.BlankClip(width=src.width * s, height=src.height * s, format=plan.written.id, keep=True)
    process = partial(runtime.process, source=plan.source, chroma=plan.chroma, output=plan.output)
    fixed = [model, *_made_by(runtime)]

    def choice() -> dict[str, object]:
        return dict(zip(CHOICE_PROPS, [*fixed, runtime.tile], strict=True))

    if keys is None:
        return map_planes(src, template, process, lambda n: choice() | {HELD_PROP: n})
    # the outputs of the keys of every frame in flight stay until their held frames have them
    return map_planes_held(src, template, process, choice, keys, cache_frames=max(core.num_threads, streams) + 2)


def _resolve_backend(backend: str, device: Device, compile: bool) -> Literal["torch", "openvino"]:
    """``"auto"``: OpenVINO on the CPU where it is installed (its kernels beat oneDNN's through torch there:
    docs/performance.md), and for OpenVINO's own device names (``"GPU"``, ``"NPU"``); torch on CUDA, with
    ``compile=True`` (torch.compile) and where OpenVINO is missing. The runtime's INFO line says which, once per
    model and settings, and every frame's ``VSEnhanceBackend``."""
    if backend != "auto":
        return cast(Literal["torch", "openvino"], backend)
    from ..models.openvino_network import openvino_available

    if not isinstance(device, str):  # resolve_device names the mistake
        return "torch"
    name = device.strip().lower()
    if name.startswith(("gpu", "npu")):
        return "openvino"
    if compile or not openvino_available() or name.startswith("cuda"):
        return "torch"
    if name == "auto":
        import torch

        if torch.cuda.is_available():
            return "torch"
    return "openvino"


def _made_by(runtime: SRRuntime) -> list[str]:
    """The device, precision and backend props: torch's names (``cpu``, ``cuda:0``; ``float16``), and for
    OpenVINO its device (``cpu`` for its CPU plugin, else ``GPU.1``) and the precision it actually runs at."""
    network = runtime.openvino
    if network is None:
        return [str(runtime.device), str(runtime.dtype).removeprefix("torch."), "torch"]
    return ["cpu" if network.device == "CPU" else network.device, network.precision(), "openvino"]


def _check_progressive(props: Mapping[str, Any]) -> None:
    """Refuse an interlaced clip (frame 0's ``_FieldBased`` 1 or 2): the model sees one picture, the two fields'
    combing included, and the classic resizers would scale the fields apart, so the paths would disagree."""
    field = props.get("_FieldBased", 0)
    if field in (1, 2):
        raise ClipError(
            _FUNC,
            f"frame 0 is interlaced (_FieldBased={field}, {'bottom' if field == 1 else 'top'} field first): the "
            "model would upscale the two fields as one picture, combing and all.",
            "Deinterlace first (e.g. core.bwdif.Bwdif); for progressive video flagged interlaced, "
            "clip = core.std.SetFieldBased(clip, 0).",
        )


def _finish_output(out: vs.VideoNode, plan: _Conversion) -> vs.VideoNode:
    """Postprocess: label what the runtime wrote, resize to the requested scale, convert to the output format."""
    if plan.props is not None:
        out = out.std.SetFrameProps(**plan.props)
        if "_ChromaLocation" not in plan.props:
            out = out.std.RemoveFrameProps("_ChromaLocation")
    if plan.resize is not None:
        out = core.resize.Lanczos(out, *plan.resize)
    # the input's alpha plane (a frame of the input's size) does not belong to a frame of another size
    return from_rgb(out, plan.output_format, plan.params).std.RemoveFrameProps("_Alpha")


def _scaled_size(clip: vs.VideoNode, scale: float, fmt: vs.VideoFormat) -> tuple[int, int]:
    """``int(size * scale)`` like Real-ESRGAN's ``outscale``, checked against the format's subsampling."""
    width, height = int(clip.width * scale), int(clip.height * scale)
    mw, mh = 1 << fmt.subsampling_w, 1 << fmt.subsampling_h
    if width % mw or height % mh or width < 1 or height < 1:
        raise ClipError(
            _FUNC,
            f"scale {scale:g} gives {width}x{height}, which {fmt.name} cannot hold (needs multiples of {mw}x{mh}).",
            "Choose a scale that gives a size the output format allows, or an RGB/4:4:4 output_format.",
        )
    return width, height


def _runtime(
    model: str | os.PathLike[str],
    device: str,
    precision: str,
    tile: int,
    tile_pad: int,
    pre_pad: int,
    tile_batch: int,
    streams: int,
    compile: bool,
    backend: Backend,
) -> SRRuntime:
    """A runtime per model and settings, kept so a script reloaded in a previewer doesn't load it again; each
    filter gets its own view of it (its own tile size after an out-of-memory retry)."""
    from ..models.loading import load_model
    from ..models.sr import SRRuntime, TileSettings, configure_process, resolve_device, resolve_dtype

    openvino = backend == "openvino"
    if openvino:
        from ..models.openvino_network import OpenVinoNetwork, openvino_device

        where, dev = openvino_device(device, _FUNC), resolve_device("cpu", _FUNC)
    else:
        dev = resolve_device(device, _FUNC)
        where = str(dev)
    key = (os.fspath(model), where, precision, tile, tile_pad, pre_pad, tile_batch, streams, compile, backend)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            descriptor = load_model(model, func=_FUNC)
            network = None
            if openvino:  # tensors around the network stay float32 on the CPU: OpenVINO's hint sets its precision
                network = OpenVinoNetwork(descriptor.model, device=where, precision=precision, streams=streams,
                                          func=_FUNC)  # fmt: skip
            dtype = resolve_dtype("fp32" if openvino else precision, dev, descriptor, _FUNC)
            runtime = SRRuntime(
                descriptor,
                device=dev,
                dtype=dtype,
                streams=streams,
                compile=compile,
                openvino=network,
                func=_FUNC,
                tiles=TileSettings(tile, tile_pad, pre_pad, tile_batch),
            )
            configure_process(dev, streams)  # once per process: the first runtime's device and streams
            log.info(
                "%s: %s x%d on %s, backend %s, %s, tile=%d tile_pad=%d pre_pad=%d streams=%d compile=%s",
                _FUNC,
                descriptor.architecture.name,
                runtime.scale,
                where,
                backend,
                network.precision() if network is not None else dtype,
                tile,
                tile_pad,
                pre_pad,
                streams,
                compile,
            )
            if len(_runtimes) >= _MAX_RUNTIMES:
                _runtimes.pop(next(iter(_runtimes)))
            _runtimes[key] = runtime
        return runtime.for_filter()
