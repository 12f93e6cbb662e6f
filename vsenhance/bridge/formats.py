"""Clip checks and colour conversion to and from the RGB float format the models work in."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import vapoursynth as vs

from ..errors import ClipError

__all__ = ["ColorParams", "check_constant", "color_params", "from_rgb", "resolve_output_format", "to_rgb"]

log = logging.getLogger(__name__)
core = vs.core

_UNSPECIFIED = 2


def check_constant(clip: vs.VideoNode, func: str) -> None:
    """Raise ClipError unless ``clip`` is a video clip of constant format and size."""
    if not isinstance(clip, vs.VideoNode):
        raise ClipError(func, f"expected a vs.VideoNode, got {type(clip).__name__}.", "Pass a video clip.")
    if clip.format is None or clip.format.id == vs.NONE:
        raise ClipError(
            func,
            "variable-format clips are not supported.",
            "Convert to one format first, e.g. clip.resize.Bicubic(format=vs.YUV420P10).",
        )
    if clip.width == 0 or clip.height == 0:
        raise ClipError(
            func,
            "variable-size clips are not supported.",
            "Resize every frame to one size first, e.g. clip.resize.Bicubic(1920, 1080).",
        )
    if clip.format.color_family not in (vs.RGB, vs.YUV, vs.GRAY):
        raise ClipError(func, f"unsupported colour family {clip.format.color_family.name}.", "Use RGB, YUV or GRAY.")
    st, bits = clip.format.sample_type, clip.format.bits_per_sample
    if (st == vs.INTEGER and not 8 <= bits <= 16) or (st == vs.FLOAT and bits not in (16, 32)):
        raise ClipError(
            func,
            f"unsupported sample format {clip.format.name}: integer 8-16 bit or half/single float are supported.",
            "Convert with clip.resize.Point(format=...) to a supported depth.",
        )


@dataclass(frozen=True)
class ColorParams:
    """Colour metadata used for both directions of the RGB conversion (VapourSynth prop values)."""

    matrix: int
    transfer: int
    primaries: int
    range: int  # vs.Range: 1 = full, 0 = limited

    def resize_in(self) -> dict[str, int]:
        return {
            "matrix_in": self.matrix,
            "transfer_in": self.transfer,
            "primaries_in": self.primaries,
            "range_in": self.range,
        }

    def resize_out(self) -> dict[str, int]:
        return {"matrix": self.matrix, "transfer": self.transfer, "primaries": self.primaries, "range": self.range}


def _prop(props: vs.FrameProps, key: str) -> int | None:
    value = props.get(key)
    return None if value is None or int(value) == _UNSPECIFIED else int(value)


def color_params(clip: vs.VideoNode) -> ColorParams:
    """Colour metadata from the first frame's ``_Matrix``/``_Transfer``/``_Primaries``/``_Range`` props.

    Absent or "unspecified" values get the usual defaults: BT.709 for HD and larger, BT.601 (170m) below;
    limited range for YUV/GRAY integer clips, full range for RGB and float clips.
    """
    props = clip.get_frame(0).props
    fmt = clip.format
    hd = clip.width >= 1280 or clip.height >= 720
    matrix = _prop(props, "_Matrix")
    if fmt.color_family == vs.RGB or matrix is None or matrix == 0:
        matrix = 1 if hd else 6
    transfer = _prop(props, "_Transfer") or (1 if hd else 6)
    primaries = _prop(props, "_Primaries") or (1 if hd else 6)
    range_prop = props.get("_Range")
    if range_prop is not None:  # the prop and resize's range argument share vs.Range: 1 = full, 0 = limited
        rng = int(range_prop)
    elif fmt.color_family == vs.RGB or fmt.sample_type == vs.FLOAT:
        rng = vs.RANGE_FULL
    else:
        rng = vs.RANGE_LIMITED
    params = ColorParams(matrix, transfer, primaries, int(rng))
    log.debug("colour parameters for conversion: %s", params)
    return params


def to_rgb(clip: vs.VideoNode, params: ColorParams | None, *, half: bool = False) -> vs.VideoNode:
    """Convert a clip to full-range RGBS (or RGBH), chroma upsampled with Spline36.

    ``params`` is required for YUV and GRAY input; RGB input keeps its own ``_Range`` prop.
    """
    target = vs.RGBH if half else vs.RGBS
    if clip.format.id == target:
        return clip
    kwargs = params.resize_in() if params is not None and clip.format.color_family != vs.RGB else {}
    return core.resize.Spline36(clip, format=target, range=vs.RANGE_FULL, **kwargs)


def from_rgb(clip: vs.VideoNode, fmt: vs.VideoFormat, params: ColorParams | None) -> vs.VideoNode:
    """Convert an RGB float clip to ``fmt`` (dithered when reducing depth).

    ``params`` (the source's colour parameters) is required for YUV and GRAY output.
    """
    if clip.format.id == fmt.id:
        return clip
    kwargs: dict[str, int | str] = {"dither_type": "error_diffusion"}
    if fmt.color_family == vs.RGB:
        full = fmt.sample_type == vs.FLOAT or params is None
        kwargs["range"] = vs.RANGE_FULL if full else params.range
    else:
        if params is None:
            raise ValueError("from_rgb: colour parameters are required for YUV/GRAY output")
        kwargs.update(params.resize_out())
        kwargs["range_in"] = vs.RANGE_FULL
    return core.resize.Spline36(clip, format=fmt.id, **kwargs)


def resolve_output_format(
    clip: vs.VideoNode, output_format: str | int | vs.VideoFormat | vs.PresetVideoFormat | None, func: str
) -> vs.VideoFormat:
    """The format a filter returns: RGBS (RGBH for half-float input), the input's (``"same"``), or a given one."""
    if output_format is None:
        half = clip.format.sample_type == vs.FLOAT and clip.format.bits_per_sample == 16
        return core.get_video_format(vs.RGBH if half else vs.RGBS)
    if output_format == "same":
        return clip.format
    if isinstance(output_format, str):
        raise ClipError(
            func,
            f"output_format={output_format!r} is not understood.",
            'Use None (RGB float), "same" (the input\'s format), or a format such as vs.YUV420P10.',
        )
    fmt = output_format if isinstance(output_format, vs.VideoFormat) else core.get_video_format(output_format)
    if fmt.color_family not in (vs.RGB, vs.YUV, vs.GRAY):
        raise ClipError(func, f"output_format {fmt.name} is not RGB, YUV or GRAY.", "Choose another format.")
    return fmt
