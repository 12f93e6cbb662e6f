"""``upscale_ranges``: AI on chosen frame ranges, a classic resizer everywhere else, one output format."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import vapoursynth as vs

from ..bridge.formats import check_constant, color_params, resolve_output_format
from ..errors import ClipError
from .upscale import upscale

__all__ = ["PATH_PROP", "parse_ranges", "upscale_ranges"]

core = vs.core

_FUNC = "vsenhance.upscale_ranges"
PATH_PROP = "VSEnhancePath"
"""Frame prop naming the path that made a frame: ``"ai"`` or the fallback's name (e.g. ``"lanczos"``)."""

_FALLBACKS = {"lanczos", "spline36", "bicubic", "bilinear", "point"}

RangeSpec = str | Iterable[tuple[int, int] | list[int] | int]


def parse_ranges(ranges: RangeSpec, num_frames: int, func: str = _FUNC) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` ranges, sorted, with overlapping and adjacent ones merged.

    Accepts ``[(1200, 1850), (40000, 41200)]``, single frame numbers, or ``"1200-1850,40000-41200,50"``.
    """
    items: list[tuple[int, int]] = []
    if isinstance(ranges, str):
        for part in filter(None, (p.strip() for p in ranges.split(","))):
            m = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
            if not m:
                raise ClipError(
                    func, f"range {part!r} is not FIRST-LAST or a frame number.", 'Write e.g. "1200-1850,40000-41200".'
                )
            first = int(m[1])
            items.append((first, int(m[2]) if m[2] is not None else first))
    else:
        for item in ranges:
            if isinstance(item, int):
                items.append((item, item))
            elif len(item) == 2 and all(isinstance(v, int) for v in item):
                items.append((item[0], item[1]))
            else:
                raise ClipError(
                    func, f"range {item!r} is not (first, last).", "Pass inclusive (first, last) integer pairs."
                )
    for first, last in items:
        if first > last:
            raise ClipError(
                func, f"range ({first}, {last}) ends before it starts.", "Write (first, last) with first <= last."
            )
        if first < 0 or last >= num_frames:
            raise ClipError(
                func,
                f"range ({first}, {last}) is outside the clip, which has {num_frames} frames (0-{num_frames - 1}).",
                "Use frame numbers inside the clip; last is inclusive.",
            )
    merged: list[tuple[int, int]] = []
    for first, last in sorted(items):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def upscale_ranges(
    clip: vs.VideoNode,
    ranges: RangeSpec,
    model: str | os.PathLike[str] = "RealESRGAN_x2plus",
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    fallback: str = "lanczos",
    taps: int = 3,
    **upscale_kwargs: Any,
) -> vs.VideoNode:
    """Upscale the frames in ``ranges`` with ``model`` and all others with a classic resizer.

    Both paths give the same size, format and props; frames outside the ranges never reach the model.
    Each frame carries ``VSEnhancePath`` = ``"ai"`` or the fallback's name.

    :param ranges:        inclusive ``(first, last)`` pairs (as ReplaceFramesSimple), or ``"a-b,c-d"``.
    :param width/height:  target size (one alone keeps the aspect ratio). Default: ``scale`` × the input.
    :param scale:         target scale when width/height are not given. Default: the model's scale.
    :param fallback:      ``"lanczos"`` (``taps`` settable), ``"spline36"``, ``"bicubic"``, ``"bilinear"``, ``"point"``.
    :param upscale_kwargs: passed to :func:`vsenhance.upscale` (tile, device, precision, output_format, ...).
    """
    check_constant(clip, _FUNC)
    if fallback not in _FALLBACKS:
        raise ClipError(_FUNC, f"fallback={fallback!r} is not known.", f"Use one of {sorted(_FALLBACKS)}.")
    if not isinstance(taps, int) or taps < 1:
        raise ClipError(_FUNC, f"taps={taps!r} must be a positive integer.", "Pass e.g. taps=3.")
    if "scale" in upscale_kwargs:
        raise ClipError(_FUNC, "scale is this function's own argument.", "Pass scale= once.")
    merged = parse_ranges(ranges, clip.num_frames)

    ai = upscale(clip, model, **upscale_kwargs)
    size = _target_size(clip, ai, width, height, scale)
    if (ai.width, ai.height) != size:
        ai = core.resize.Lanczos(ai, *size, filter_param_a=taps)

    out_fmt = resolve_output_format(clip, upscale_kwargs.get("output_format"), _FUNC)
    resizer = getattr(core.resize, fallback.capitalize() if fallback != "spline36" else "Spline36")
    kwargs: dict[str, Any] = {"format": out_fmt.id, "dither_type": "error_diffusion"}
    if fallback == "lanczos":
        kwargs["filter_param_a"] = taps
    if clip.format.color_family != vs.RGB or out_fmt.color_family != vs.RGB:
        params = color_params(clip)
        if clip.format.color_family != vs.RGB:
            kwargs.update(params.resize_in())
        if out_fmt.color_family != vs.RGB:
            kwargs.update(params.resize_out())
    if out_fmt.color_family == vs.RGB:
        kwargs["range"] = vs.RANGE_FULL
    classic = resizer(clip, *size, **kwargs)
    classic = core.std.SetFrameProps(classic, **{PATH_PROP: fallback})
    ai = core.std.SetFrameProps(ai, **{PATH_PROP: "ai"})

    pieces: list[vs.VideoNode] = []
    pos = 0
    for first, last in merged:
        if first > pos:
            pieces.append(classic[pos:first])
        pieces.append(ai[first : last + 1])
        pos = last + 1
    if pos < clip.num_frames:
        pieces.append(classic[pos:])
    return pieces[0] if len(pieces) == 1 else core.std.Splice(pieces)


def _target_size(
    clip: vs.VideoNode, ai: vs.VideoNode, width: int | None, height: int | None, scale: float | None
) -> tuple[int, int]:
    if width is None and height is None:
        if scale is None:
            return ai.width, ai.height
        width, height = int(clip.width * scale), int(clip.height * scale)
    elif scale is not None:
        raise ClipError(_FUNC, "give either width/height or scale, not both.", "Drop one of them.")
    elif width is None:
        width = round(clip.width * height / clip.height)
    elif height is None:
        height = round(clip.height * width / clip.width)
    fmt = ai.format
    mw, mh = 1 << fmt.subsampling_w, 1 << fmt.subsampling_h
    if width < 1 or height < 1 or width % mw or height % mh:
        raise ClipError(
            _FUNC,
            f"target size {width}x{height} does not fit {fmt.name} (needs multiples of {mw}x{mh}).",
            "Pass width/height that the output format allows.",
        )
    return width, height
