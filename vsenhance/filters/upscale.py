"""``upscale``: Real-ESRGAN (or any spandrel super-resolution model) as a VapourSynth filter."""

from __future__ import annotations

import logging
import os
import threading
from functools import partial
from typing import TYPE_CHECKING

import vapoursynth as vs

from ..bridge.evaluate import ensure_threads, map_planes
from ..bridge.formats import ColorParams, check_constant, color_params, from_rgb, resolve_output_format, to_rgb
from ..errors import ClipError
from ..models.color import MATRIX_COEFFICIENTS, PlaneSpec

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


def upscale(
    clip: vs.VideoNode,
    model: str | os.PathLike[str] = "realesr-animevideov3",
    *,
    scale: float | None = None,
    tile: int = 512,
    tile_pad: int = 10,
    pre_pad: int = 0,
    device: str = "auto",
    precision: str = "auto",
    streams: int = 2,
    tile_batch: int = 1,
    output_format: str | int | vs.VideoFormat | vs.PresetVideoFormat | None = None,
) -> vs.VideoNode:
    """Upscale ``clip`` with a super-resolution model, tiled exactly like Real-ESRGAN's ``RealESRGANer``.

    :param model:         a known name (``vsenhance models list``), a ``.pth``/``.safetensors`` file, or an
                          ncnn ``.param`` with its ``.bin`` beside it.
    :param scale:         output scale; when it differs from the model's, the AI output is resized with
                          Lanczos (Real-ESRGAN's ``outscale``). Default: the model's scale.
    :param tile:          tile core size in input pixels; 0 infers the whole frame at once.
    :param tile_pad:      context pixels around each tile (only the core of each tile's output is kept).
    :param pre_pad:       reflect padding at the right and bottom, removed after inference.
    :param device:        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; CUDA requested but missing raises.
    :param precision:     ``"auto"`` (fp16 on CUDA, fp32 on CPU), ``"fp16"``, ``"bf16"`` or ``"fp32"``.
    :param streams:       frames in flight at once (a CUDA stream each on a GPU; CPU workers share the cores).
    :param tile_batch:    same-sized tiles of one frame inferred together.
    :param output_format: None for RGBS (RGBH for half-float input), ``"same"`` for the input's format, or a
                          VapourSynth format. All frame props of the input are kept.
    """
    check_constant(clip, _FUNC)
    for name, value, low in (
        ("tile", tile, 0),
        ("tile_pad", tile_pad, 0),
        ("pre_pad", pre_pad, 0),
        ("streams", streams, 1),
        ("tile_batch", tile_batch, 1),
    ):
        if not isinstance(value, int) or value < low:
            raise ClipError(_FUNC, f"{name}={value!r} must be an integer >= {low}.", f"Pass {name}>={low}.")
    if scale is not None and not scale > 0:
        raise ClipError(_FUNC, f"scale={scale!r} must be positive.", "Pass e.g. scale=2, or None for the model's.")
    out_fmt = resolve_output_format(clip, output_format, _FUNC)

    runtime = _runtime(model, device, precision, tile, tile_pad, pre_pad, tile_batch, streams)
    ensure_threads(streams, _FUNC)

    needs_matrix = clip.format.color_family != vs.RGB or out_fmt.color_family != vs.RGB
    params = color_params(clip) if needs_matrix else None
    half_in = clip.format.sample_type == vs.FLOAT and clip.format.bits_per_sample == 16
    rgb = to_rgb(clip, params, half=half_in and clip.format.color_family == vs.RGB)

    s = runtime.scale
    resized = scale is not None and scale != s
    # On a GPU the output conversion runs there, so only the final planes cross PCIe and the CPU; on the CPU,
    # VapourSynth's resize (zimg, SIMD) converts several times faster than torch ops would.
    on_gpu = runtime.device.type == "cuda"
    spec = _plane_spec(out_fmt, params) if on_gpu and not resized else None
    if spec is None:  # AI output in RGB float, then VapourSynth resizes and converts
        spec, fmt = _plane_spec(_RGBS, None), _RGBS
    else:
        fmt = out_fmt
    template = rgb.std.BlankClip(width=clip.width * s, height=clip.height * s, format=fmt.id, keep=True)
    out = map_planes(rgb, template, partial(runtime.process, output=spec))
    if resized:
        out = core.resize.Lanczos(out, *_scaled_size(clip, scale, out_fmt))
    elif fmt.id == out_fmt.id:
        return _set_color_props(out, out_fmt, params)
    return from_rgb(out, out_fmt, params)


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
    props = {"_Matrix": params.matrix, "_Transfer": params.transfer, "_Primaries": params.primaries,
             "_Range": vs.RANGE_FULL if fmt.sample_type == vs.FLOAT else params.range}  # fmt: skip
    if fmt.color_family == vs.YUV:
        props["_ChromaLocation"] = 0  # left (MPEG-2), as converted
    return core.std.SetFrameProps(clip, **props)


def _scaled_size(clip: vs.VideoNode, scale: float, fmt: vs.VideoFormat) -> tuple[int, int]:
    """``int(size * scale)`` like Real-ESRGAN's ``outscale``, checked against the format's subsampling."""
    width, height = int(clip.width * scale), int(clip.height * scale)
    mw, mh = 1 << fmt.subsampling_w, 1 << fmt.subsampling_h
    if width % mw or height % mh or width < 1 or height < 1:
        raise ClipError(
            _FUNC,
            f"scale={scale} gives {width}x{height}, which {fmt.name} cannot hold (needs multiples of {mw}x{mh}).",
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
) -> SRRuntime:
    """A runtime per model and settings, kept so a script reloaded in a previewer doesn't load it again."""
    from ..models.loading import load_model
    from ..models.sr import SRRuntime, TileSettings, resolve_device, resolve_dtype

    dev = resolve_device(device, _FUNC)
    key = (os.fspath(model), str(dev), precision, tile, tile_pad, pre_pad, tile_batch, streams)
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
                func=_FUNC,
                tiles=TileSettings(tile, tile_pad, pre_pad, tile_batch),
            )
            log.info(
                "%s: %s x%d on %s (%s), tile=%d tile_pad=%d pre_pad=%d streams=%d",
                _FUNC,
                descriptor.architecture.name,
                runtime.scale,
                dev,
                dtype,
                tile,
                tile_pad,
                pre_pad,
                streams,
            )
            if len(_runtimes) >= _MAX_RUNTIMES:
                _runtimes.pop(next(iter(_runtimes)))
            _runtimes[key] = runtime
        return runtime
