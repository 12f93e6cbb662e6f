"""``upscale``: Real-ESRGAN (or any spandrel super-resolution model) as a VapourSynth filter."""

from __future__ import annotations

import logging
import os
import threading
from functools import partial
from typing import TYPE_CHECKING, Literal, get_args

import vapoursynth as vs

from ..bridge.checks import check_bool, check_number, check_path
from ..bridge.evaluate import ensure_threads, map_planes
from ..bridge.formats import (
    ColorParams,
    check_constant,
    chroma_upsampling,
    color_params,
    from_rgb,
    resolve_output_format,
    to_rgb,
)
from ..errors import ClipError
from ..models.colorspec import MATRIX_COEFFICIENTS, ChromaUpsampling, PlaneSpec

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
Precision = Literal["auto", "fp16", "bf16", "fp32"]
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
    device: str = "auto",
    precision: Precision = "auto",
    streams: int = 2,
    tile_batch: int = 1,
    output_format: str | int | vs.VideoFormat | vs.PresetVideoFormat | None = None,
    compile: bool = False,
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
    :param precision:     ``"auto"`` (fp16 on CUDA, fp32 on CPU), ``"fp16"``, ``"bf16"`` or ``"fp32"``.
    :param streams:       frames in flight at once (a CUDA stream each on a GPU; CPU workers share the cores).
    :param tile_batch:    same-sized tiles of one frame inferred together.
    :param output_format: None for RGBS (RGBH for half-float input), ``"same"`` for the input's format, or a
                          VapourSynth format. All frame props of the input are kept.
    :param compile:       ``torch.compile`` the network (fuses bias, activation and concatenation around the
                          convolutions: 1.5-2x on an H100). The first frame of each tile shape waits for the
                          compilation (about a minute); worth it for encodes, not for previews.
    """
    check_constant(clip, _FUNC)
    check_path(_FUNC, "model", model, "a model name (`vsenhance models list`) or the path of a model file")
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
    if precision not in get_args(Precision):
        raise ClipError(
            _FUNC, f"precision={precision!r} is not known.", f"Use one of {', '.join(get_args(Precision))}."
        )
    out_fmt = resolve_output_format(clip, output_format, _FUNC)
    needs_matrix = clip.format.color_family != vs.RGB or out_fmt.color_family != vs.RGB
    integer_rgb = clip.format.color_family == vs.RGB and clip.format.sample_type == vs.INTEGER
    params = color_params(clip, _FUNC) if needs_matrix or integer_rgb else None
    runtime = _runtime(model, device, precision, tile, tile_pad, pre_pad, tile_batch, streams, compile)
    ensure_threads(streams, _FUNC)

    # On a GPU both conversions run there: the frames' own planes (1.5-6 bytes a pixel) cross PCIe and the
    # CPU instead of RGB float (12). On the CPU, VapourSynth's resize (zimg, SIMD) is several times faster.
    on_device = _converts_on_device(runtime)
    src, source, chroma = _source(clip, params, on_device)

    s = runtime.scale
    resized = scale is not None and scale != s
    size = _scaled_size(clip, scale if resized else s, out_fmt)
    spec = _plane_spec(out_fmt, params) if on_device and not resized else None
    if spec is None:  # AI output in RGB float, then VapourSynth resizes and converts
        spec, fmt = _plane_spec(_RGBS, None), _RGBS
    else:
        fmt = out_fmt
    template = src.std.BlankClip(width=clip.width * s, height=clip.height * s, format=fmt.id, keep=True)
    out = map_planes(src, template, partial(runtime.process, source=source, chroma=chroma, output=spec))
    if src is clip and fmt.color_family == vs.RGB:
        out = _set_rgb_props(out, params if clip.format.color_family != vs.RGB else None)
    if resized:
        out = core.resize.Lanczos(out, *size)
    elif fmt.id == out_fmt.id:
        return _set_color_props(out, out_fmt, params)
    return from_rgb(out, out_fmt, params)


def _converts_on_device(runtime: SRRuntime) -> bool:
    """Whether the colour conversions run on the inference device (a GPU) rather than in VapourSynth."""
    return runtime.device.type == "cuda"


def _source(
    clip: vs.VideoNode, params: ColorParams | None, on_device: bool
) -> tuple[vs.VideoNode, PlaneSpec, ChromaUpsampling | None]:
    """The clip whose planes the runtime reads, how to read them, and how to upsample their chroma.

    On the device: ``clip`` itself where the planes say enough (known matrix); otherwise VapourSynth's RGB float.
    """
    fmt = clip.format
    spec = None
    if on_device and fmt.color_family == vs.RGB:
        full = fmt.sample_type == vs.FLOAT or params is None or params.range == vs.RANGE_FULL
        spec = PlaneSpec("rgb", fmt.bits_per_sample, fmt.sample_type == vs.FLOAT, full)
    elif on_device:
        spec = _plane_spec(fmt, params)
    if spec is None:
        half = fmt.color_family == vs.RGB and fmt.sample_type == vs.FLOAT and fmt.bits_per_sample == 16
        rgb = to_rgb(clip, params, half=half)
        return rgb, _plane_spec(rgb.format, None), None
    if not (fmt.subsampling_w or fmt.subsampling_h):
        return clip, spec, None
    return clip, spec, chroma_upsampling(fmt, clip.width, clip.height, params.chroma_location)


def _set_rgb_props(clip: vs.VideoNode, params: ColorParams | None) -> vs.VideoNode:
    """The props zimg's conversion to full-range RGB would set (``params``: those of a YUV/GRAY source)."""
    props = {"_Matrix": 0, "_Range": vs.RANGE_FULL}
    if params is not None:
        props |= {"_Transfer": params.transfer, "_Primaries": params.primaries}
    return clip.std.SetFrameProps(**props).std.RemoveFrameProps("_ChromaLocation")


def _plane_spec(fmt: vs.VideoFormat, params: ColorParams | None) -> PlaneSpec | None:
    """How the inference device writes ``fmt``; None where VapourSynth must convert (unusual matrices)."""
    family = {vs.RGB: "rgb", vs.YUV: "yuv", vs.GRAY: "gray"}[fmt.color_family]
    matrix = params.matrix if params is not None and family != "rgb" else 0
    if family != "rgb" and matrix not in MATRIX_COEFFICIENTS:
        return None
    full = params is None or params.range == vs.RANGE_FULL or fmt.sample_type == vs.FLOAT or family == "rgb"
    return PlaneSpec(family, fmt.bits_per_sample, fmt.sample_type == vs.FLOAT, full,
                     fmt.subsampling_w, fmt.subsampling_h, matrix)  # fmt: skip


def _set_color_props(clip: vs.VideoNode, fmt: vs.VideoFormat, params: ColorParams | None) -> vs.VideoNode:
    """The props VapourSynth's resize would set for ``fmt``, for frames the inference device converted."""
    if fmt.color_family == vs.RGB:
        return clip
    # _Range as zimg labels it, float formats included (whose planes ignore it)
    props = {"_Matrix": params.matrix, "_Transfer": params.transfer, "_Primaries": params.primaries,
             "_Range": params.range}  # fmt: skip
    if fmt.subsampling_w or fmt.subsampling_h:
        return core.std.SetFrameProps(clip, **props, _ChromaLocation=0)  # left (MPEG-2), as converted
    return core.std.SetFrameProps(clip, **props).std.RemoveFrameProps("_ChromaLocation")


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
) -> SRRuntime:
    """A runtime per model and settings, kept so a script reloaded in a previewer doesn't load it again."""
    from ..models.loading import load_model
    from ..models.sr import SRRuntime, TileSettings, configure_process, resolve_device, resolve_dtype

    dev = resolve_device(device, _FUNC)
    key = (os.fspath(model), str(dev), precision, tile, tile_pad, pre_pad, tile_batch, streams, compile)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            descriptor = load_model(model, func=_FUNC)
            dtype = resolve_dtype(precision, dev, descriptor, _FUNC)
            runtime = SRRuntime(
                descriptor,
                device=dev,
                dtype=dtype,
                streams=streams,
                compile=compile,
                func=_FUNC,
                tiles=TileSettings(tile, tile_pad, pre_pad, tile_batch),
            )
            configure_process(dev, streams)  # once per process: the first runtime's device and streams
            log.info(
                "%s: %s x%d on %s (%s), tile=%d tile_pad=%d pre_pad=%d streams=%d compile=%s",
                _FUNC,
                descriptor.architecture.name,
                runtime.scale,
                dev,
                dtype,
                tile,
                tile_pad,
                pre_pad,
                streams,
                compile,
            )
            if len(_runtimes) >= _MAX_RUNTIMES:
                _runtimes.pop(next(iter(_runtimes)))
            _runtimes[key] = runtime
        return runtime
