"""Clip checks and colour conversion to and from the RGB float format the models work in."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import vapoursynth as vs

from ..errors import ClipError

if TYPE_CHECKING:  # torch stays out of what the CLI imports
    from ..models.colour_spec import ChromaUpsampling

__all__ = [
    "ColourParams",
    "check_constant",
    "chroma_upsampling",
    "colour_params",
    "from_rgb",
    "resolve_output_format",
    "to_rgb",
]

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
    _check_depth(clip.format, func, "Convert with clip.resize.Point(format=...) to a supported depth.")


def _check_depth(fmt: vs.VideoFormat, func: str, fix: str) -> None:
    st, bits = fmt.sample_type, fmt.bits_per_sample
    if (st == vs.INTEGER and not 8 <= bits <= 16) or (st == vs.FLOAT and bits not in (16, 32)):
        raise ClipError(
            func, f"unsupported sample format {fmt.name}: integer 8-16 bit or half/single float are supported.", fix
        )


@dataclass(frozen=True)
class ColourParams:
    """Colour metadata used for both directions of the RGB conversion (VapourSynth prop values)."""

    matrix: int
    transfer: int
    primaries: int
    range: int  # vs.Range: 1 = full, 0 = limited
    chroma_location: int = 0  # vs.ChromaLocation: 0 = left (MPEG-2), 1 = center, 2 = top-left, ...

    def resize_in(self) -> dict[str, int]:
        return {
            "matrix_in": self.matrix,
            "transfer_in": self.transfer,
            "primaries_in": self.primaries,
            "range_in": self.range,
            "chromaloc_in": self.chroma_location,
        }

    def resize_out(self) -> dict[str, int]:
        """To these parameters, keeping transfer and primaries as they are (an RGB source may not say)."""
        return {"matrix": self.matrix, "transfer": self.transfer, "primaries": self.primaries, "range": self.range,
                "transfer_in": self.transfer, "primaries_in": self.primaries}  # fmt: skip


def _prop(props: vs.FrameProps, key: str) -> int | None:
    value = props.get(key)
    return None if value is None or int(value) == _UNSPECIFIED else int(value)


# the values the conversions here can use (2 = unspecified); zimg refuses the others when a frame is converted.
# Matrix 14 (ICtCp) is left out: zimg needs BT.2020 primaries and a PQ/HLG transfer for it, which RGB output
# would have to change.
_KNOWN_PROPS = {
    "_Matrix": frozenset({1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13}),
    "_Transfer": frozenset({1, 2, *range(4, 19)}),
    "_Primaries": frozenset({1, 2, *range(4, 13), 22}),
    "_Range": frozenset({0, 1}),
    "_ChromaLocation": frozenset(range(6)),
}


def _check_props(props: vs.FrameProps, fmt: vs.VideoFormat, func: str) -> None:
    """Raise ClipError for a colour prop that VapourSynth's resize would refuse at the first frame it converts.

    An RGB clip's ``_Matrix`` is 0 and not used; a YUV/GRAY clip labelled 0 (RGB) cannot be converted.
    """
    for key, known in _KNOWN_PROPS.items():
        value = props.get(key)
        if value is None or (key == "_Matrix" and fmt.color_family == vs.RGB):
            continue
        if not isinstance(value, int) or value not in known:
            rgb = key == "_Matrix" and value == 0
            why = f"0 means RGB, which a {fmt.color_family.name} clip is not" if rgb else "not a value resize knows"
            raise ClipError(
                func,
                f"frame 0 has {key}={value!r} ({why}).",
                f"set {key} in the script, or remove it to use the default.",
                f"e.g. clip = clip.std.SetFrameProps({key}=...) or clip = clip.std.RemoveFrameProps({key!r})",
            )


def colour_params(
    clip: vs.VideoNode, func: str = "colour_params", props: Mapping[str, Any] | None = None
) -> ColourParams:
    """Colour metadata from the first frame's ``_Matrix``/``_Transfer``/``_Primaries``/``_Range`` props.

    Absent or "unspecified" values get the usual defaults: BT.709 for HD and larger, BT.601 (170m) below;
    limited range for YUV/GRAY integer clips, full range for RGB and float clips. Values that the
    conversion would refuse raise ClipError naming ``func`` now, when the filter is created.

    This reads frame 0 when the filter is created: one decode for a source, but one frame of the whole chain
    for a clip behind other filters. The conversion parameters need it anyway, so checking the props here costs
    nothing more. A later frame whose props differ from frame 0's still fails in resize when it is requested.
    ``props``: frame 0's, when the caller has read them already (one render of frame 0, not two).
    """
    props = clip.get_frame(0).props if props is None else props
    fmt = clip.format
    _check_props(props, fmt, func)
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
    params = ColourParams(matrix, transfer, primaries, int(rng), int(props.get("_ChromaLocation", 0)))
    log.debug("colour parameters for conversion: %s", params)
    return params


def to_rgb(clip: vs.VideoNode, params: ColourParams | None, *, half: bool = False) -> vs.VideoNode:
    """Convert a clip to full-range RGBS (or RGBH), chroma upsampled with Spline36.

    ``params`` is required for YUV and GRAY input; RGB input keeps its own ``_Range`` prop.
    """
    target = vs.RGBH if half else vs.RGBS
    if clip.format.id == target:
        return clip
    kwargs = params.resize_in() if params is not None and clip.format.color_family != vs.RGB else {}
    return core.resize.Spline36(clip, format=target, range=vs.RANGE_FULL, **kwargs)


def chroma_upsampling(fmt: vs.VideoFormat, width: int, height: int, chroma_location: int) -> ChromaUpsampling:
    """The exact linear map ``to_rgb`` applies to subsampled chroma (Spline36, siting, edges), as matrices.

    Each matrix is VapourSynth's resizer applied to unit impulses, so the inference device reproduces it to
    float rounding. A chroma plane resized alone with ``src_left``/``src_top`` equal to the siting offset is
    what zimg does to the chroma of a YUV clip.
    """
    from ..models.colour_spec import ChromaUpsampling

    left = chroma_location in (0, 2, 4)  # left, top-left, bottom-left: co-sited with the first luma column
    top = {2: 1, 3: 1, 4: -1, 5: -1}.get(chroma_location, 0)  # top(-left) +, bottom(-left) -, else centred
    vertical = horizontal = None
    if fmt.subsampling_w:
        shift = (0.5 - 0.5 / (1 << fmt.subsampling_w)) if left else 0.0
        n = width >> fmt.subsampling_w
        horizontal = _impulse_responses(n, width, n, src_left=shift)  # (n, width): rows are impulses
    if fmt.subsampling_h:
        shift = top * (0.5 - 0.5 / (1 << fmt.subsampling_h))
        n = height >> fmt.subsampling_h
        vertical = _impulse_responses(n, n, height, src_top=shift)  # (height, n): columns are impulses
    return ChromaUpsampling(vertical, horizontal)


def _impulse_responses(size: int, width: int, height: int, **shift: float) -> np.ndarray:
    """A size x size identity image resized by ``resize.Spline36`` to ``width`` x ``height``."""
    blank = core.std.BlankClip(format=vs.GRAYS, width=size, height=size, length=1)

    def identity(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.copyto(np.asarray(out[0]), np.eye(size, dtype=np.float32))
        return out

    impulses = blank.std.ModifyFrame(blank, identity)
    return np.array(core.resize.Spline36(impulses, width, height, **shift).get_frame(0)[0])


def from_rgb(clip: vs.VideoNode, fmt: vs.VideoFormat, params: ColourParams | None) -> vs.VideoNode:
    """Convert an RGB float clip to ``fmt`` (dithered when reducing depth); RGB output is full range.

    ``params`` (the source's colour parameters) is required for YUV and GRAY output.
    """
    if clip.format.id == fmt.id:
        return clip
    kwargs: dict[str, int | str] = {"dither_type": "error_diffusion"}
    if fmt.color_family == vs.RGB:
        kwargs["range"] = vs.RANGE_FULL
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
    if isinstance(output_format, str) and output_format.lower() == "same":
        return clip.format
    fix = 'Use None (RGB float), "same" (the input\'s format), or a format such as vs.YUV420P10 or "YUV420P10".'
    if isinstance(output_format, vs.VideoFormat):
        fmt = output_format
    elif isinstance(output_format, str):  # a format's name, as vspipe -a and vs-preview pass it: "YUV420P10"
        preset = getattr(vs.PresetVideoFormat, output_format.strip().upper(), None)
        fmt = core.get_video_format(preset) if preset is not None else None
    elif isinstance(output_format, int) and not isinstance(output_format, bool) and 0 < output_format < 1 << 32:
        fmt = core.get_video_format(output_format)  # any int gives a format; an unknown one has id 0
    else:
        fmt = None
    if fmt is None or fmt.id == vs.NONE:
        raise ClipError(func, f"output_format={output_format!r} is not understood.", fix)
    if fmt.color_family not in (vs.RGB, vs.YUV, vs.GRAY):
        raise ClipError(func, f"output_format {fmt.name} is not RGB, YUV or GRAY.", "Choose another format.")
    _check_depth(fmt, func, fix)
    return fmt
