"""``upscale_ranges``: AI on chosen frame ranges, a classic resizer everywhere else, one output format."""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
import uuid
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import vapoursynth as vs

from ..bridge.checks import MAX_FRAME_SIDE, check_choice, check_frame_size, check_number
from ..bridge.colour import check_constant, colour_params, resolve_output_format
from ..bridge.held import KeyFrames, resolve_dedup
from ..constants import (
    CHOICE_PROPS,
    HELD_PROP,
    HYBRID_FRAME_PROP,
    HYBRID_ID_PROP,
    PATH_PROP,
    RANGES_FILE_PROP,
    RANGES_PROP,
)
from ..errors import ClipError
from ..files import note_input
from ..timecode import parse_frame_number, parse_time_exact
from .upscale import _MAX_SCALE, _MIN_SCALE, _upscale, upscale

__all__ = ["parse_ranges", "upscale_ranges"]

core = vs.core

_FUNC = "vsenhance.upscale_ranges"

Fallback = Literal["lanczos", "spline36", "bicubic", "bilinear", "point"]

Endpoint = int | str
RangeSpec = (
    str | os.PathLike[str] | tuple[Endpoint, Endpoint] | Iterable[tuple[Endpoint, Endpoint] | list[int] | int | str]
)

# One range per line of a ranges file. Besides this module's own "FIRST-LAST" syntax, two formats that other
# tools write are read as they are (both with an inclusive end frame):
# - vs-preview's scening "Export Multiline": one line per scene from the template "({start},{end})," by default
#   (vspreview/toolbars/scening/settings.py, set_defaults; toolbar.py, export_multiline); a scene's end is
#   inclusive (vspreview/core/types/scene.py: Scene.__contains__ is ``start <= frame <= end``, and a scene made
#   from one frame has end == start);
# - "generic (rfs style) frame mappings: {start end}", whitespace-separated, which vs-preview imports
#   (toolbar.py, import_generic), as do ReplaceFramesSimple-style mapping files ("[start end]");
# - vsview's Scening export "Python List (Frames)": one line, ``str([(start, end), ...])``
#   (vsview/app/tools/scening/serializer.py, PythonListFramesSerializer), end inclusive (RangeFrame.to_tuple).
_PAIR = re.compile(r"[(\[]\s*([^,\s()\[\]]+)\s*[,\s]\s*([^,\s()\[\]]+)\s*[)\]]")


def parse_ranges(
    ranges: RangeSpec, num_frames: int, func: str = _FUNC, *, fps: Fraction | None = None
) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` frame ranges, sorted, with overlapping and adjacent ones merged.

    Accepts:

    - a string of comma-separated items, each a frame number, ``FIRST-LAST`` or a time range, freely mixed:
      ``"1200-1850, 11:56-12:26, 1:02:03.5-1:02:10, 50"``. An endpoint with ``:`` or ``.`` is a time
      (seconds, M:SS or H:MM:SS.s, as ``vsenhance cut --start``); a plain integer is a frame number.
    - a file (any :class:`os.PathLike`, e.g. ``Path("keys.txt")``): one range per line in the string syntax,
      ``#`` comments, vs-preview's scening export (``(1200,1850),``), vsview's (``[(1200, 1850), (2000, 2100)]``)
      or ``start end`` lines.
    - a bare pair ``(first, last)``: ONE range. A list holds items: ``[3, 7]`` is frames 3 and 7,
      ``[(3, 7)]`` is frames 3 to 7, ``[(3, 7), 20, "11:56-12:26"]`` mixes them.

    A time range covers every frame on screen at some moment from t0 up to (not including) t1:
    first = floor(t0 × fps), last = ceil(t1 × fps) - 1, in exact fractions (at 24000/1001 fps,
    ``"0:10-0:20"`` is frames 239-479). A single time is the frame on screen at that moment. Times need
    ``fps`` (the clip's, constant).
    """
    items: list[tuple[Endpoint, Endpoint | None]] = []  # (first, None): a single frame or moment
    if isinstance(ranges, os.PathLike):
        items = _items_from_file(Path(ranges), func)
    elif isinstance(ranges, str):
        if ranges.strip() and _is_file(ranges):
            raise ClipError(
                func, f"ranges={ranges!r} is a string, and a file of that name exists.",
                f"Pass Path({ranges!r}) to read the file, or frame ranges such as \"1200-1850\".",
            )  # fmt: skip
        items = _items_from_text(ranges, func)
    elif isinstance(ranges, tuple) and len(ranges) == 2 and all(_is_endpoint(v) for v in ranges):
        items = [(ranges[0], ranges[1])]  # a bare (first, last) pair is one range, as ReplaceFramesSimple's
    elif isinstance(ranges, Iterable) and not isinstance(ranges, dict | bytes):
        for item in ranges:
            if isinstance(item, str):
                items += _items_from_text(item, func)
            elif _is_endpoint(item):
                items.append((item, None))
            elif isinstance(item, tuple | list) and len(item) == 2 and all(_is_endpoint(v) for v in item):
                items.append((item[0], item[1]))
            else:
                raise ClipError(
                    func, f"range {item!r} is not (first, last).", "Pass inclusive (first, last) integer pairs."
                )
    else:
        raise ClipError(
            func, f"ranges={ranges!r} ({type(ranges).__name__}) is not a range list.",
            'Pass "1200-1850,11:56-12:26", [(1200, 1850)] or Path("keys.txt").',
        )  # fmt: skip
    if not items:
        raise ClipError(
            func, f"ranges={ranges!r} holds no range: no frame would be upscaled.",
            "Pass at least one range, or use a plain resize for the whole clip.",
        )  # fmt: skip
    frames = []
    for a, b in items:  # b None: a single frame, or the frame on screen at a time
        first = _frame(a, fps, func, last=False)
        frames.append((first, first if b is None else _frame(b, fps, func, last=True)))
    for (first, last), (a, b) in zip(frames, items, strict=True):
        shown = f"({first}, {last})"
        if isinstance(a, str) or isinstance(b, str):
            shown = f"{a}-{b}" if b is not None else str(a)
        if first > last:
            raise ClipError(func, f"range {shown} ends before it starts.", "Write (first, last) with first <= last.")
        if first < 0 or last >= num_frames:
            where = f" (frames {first}-{last})" if shown != f"({first}, {last})" else ""
            raise ClipError(
                func,
                f"range {shown}{where} is outside the clip, which has {num_frames} frames (0-{num_frames - 1}).",
                "Use frame numbers or times inside the clip; last is inclusive.",
            )
    merged: list[tuple[int, int]] = []
    for first, last in sorted(frames):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _is_file(text: str) -> bool:
    """Whether a range string is also a file's name; a string no file could have (too long, a NUL) is not."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _is_endpoint(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _items_from_text(text: str, func: str) -> list[tuple[Endpoint, Endpoint | None]]:
    items: list[tuple[Endpoint, Endpoint | None]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([\d:.]+)\s*(?:-\s*([\d:.]+))?", part)
        if not m:
            raise ClipError(
                func,
                f"range {part!r} is not FIRST-LAST, a frame number or a time range.",
                'Write e.g. "1200-1850,11:56-12:26".',
            )
        first, last = _endpoint(m[1], func), _endpoint(m[2], func) if m[2] is not None else None
        if last is not None and isinstance(first, str) != isinstance(last, str):
            raise ClipError(
                func, f"range {part!r} mixes a frame number and a time.",
                'Write both ends in one unit ("120-240" or "0:05-0:10"); a decimal comma splits a time in two.',
            )  # fmt: skip
        items.append((first, last))
    return items


_MAX_TAPS = 15
"""zimg's most Lanczos taps (measured: 16 fails with "lanczos tap count too high" on every frame)."""

_MAX_RANGES_FILE = 16 << 20
"""Bytes: a range file of a long film is a few kilobytes; anything this big is not one (``/dev/zero``)."""


def _items_from_file(path: Path, func: str) -> list[tuple[Endpoint, Endpoint | None]]:
    if path.exists() and not path.is_file():  # a FIFO would block until a writer comes, a device never ends
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO or a device)"
        raise ClipError(func, f"the ranges file {path} is {kind}.", "Pass the path of a text file of ranges.")
    try:
        if path.stat().st_size > _MAX_RANGES_FILE:
            raise ClipError(
                func, f"the ranges file {path} holds {path.stat().st_size} bytes, more than any range file.",
                "Pass the text file of ranges (one range per line).",
            )  # fmt: skip
        text = path.read_text(encoding="utf-8-sig")  # a UTF-8 BOM (Windows editors write one) is not a range
    except OSError as exc:
        raise ClipError(func, f"the ranges file {path} cannot be read ({exc.strerror}).", "Check the path.") from exc
    except UnicodeDecodeError as exc:
        raise ClipError(
            func, f"the ranges file {path} is not UTF-8 text (byte {exc.start}).", "Save it as UTF-8 text."
        ) from exc
    note_input(path)  # an input: no output may replace it
    items: list[tuple[Endpoint, Endpoint | None]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[(") and line.endswith("]"):  # vsview's "[(8, 15), (32, 39)]": the pairs inside
            line = line[1:-1]
        try:
            if line[0] in "([":  # vs-preview's "(start,end)," or rfs' "[start end]", one or more per line
                pairs = _PAIR.findall(line)
                if not pairs or _PAIR.sub("", line).strip(", ") != "":
                    raise ClipError(func, f"{line!r} is not (first,last).", "Write (1200,1850).")
                items += [(_endpoint(a, func), _endpoint(b, func)) for a, b in pairs]
            elif len(words := line.split()) == 2 and "-" not in line and "," not in line:
                items.append((_endpoint(words[0], func), _endpoint(words[1], func)))  # "start end"
            else:
                items += _items_from_text(line, func)
        except ClipError as exc:
            raise ClipError(
                func,
                f"{path} line {number}: {line!r} is not a range.",
                'Write one range per line: "1200-1850", "11:56-12:26", "1200 1850" or "(1200,1850),".',
            ) from exc
    return items


def _endpoint(text: str, func: str) -> Endpoint:
    """A frame number, or the text of a time (converted once the clip's frame rate is known)."""
    if not re.fullmatch(r"[0-9:.]+", text):
        raise ClipError(func, f"{text[:40]!r} is neither a frame number nor a time.", "Write 1200 or 11:56.")
    if (":" in text or "." in text) and len(text) <= 40:
        return text
    number = parse_frame_number(text)
    if number is None:
        raise ClipError(func, f"{text[:40]!r} is larger than any frame number.", "Write a frame of the clip.")
    return number


def _frame(value: Endpoint, fps: Fraction | None, func: str, *, last: bool) -> int:
    """A frame number, or for a time the first frame on screen at it (``last``: the last one before it)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if (number := parse_frame_number(text)) is not None:
        return number
    if not fps:
        raise ClipError(
            func,
            f"the time {text!r} needs a constant frame rate, but the clip's is variable (fps 0/1).",
            "Use frame numbers for a variable-frame-rate clip.",
        )
    t = parse_time_exact(text, func) * fps
    return math.ceil(t) - 1 if last else math.floor(t)


def upscale_ranges(
    clip: vs.VideoNode,
    ranges: RangeSpec,
    model: str | os.PathLike[str] | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    fallback: Fallback = "lanczos",
    taps: int = 3,
    **upscale_kwargs: Any,
) -> vs.VideoNode:
    """Upscale the frames in ``ranges`` with ``model`` and all others with a classic resizer.

    Both paths give the same size, format and props; frames outside the ranges never reach the model.
    Each frame carries ``VSEnhancePath`` = ``"ai"`` or the fallback's name, and the clip's map: its AI ranges
    (``VSEnhanceRanges``), the frame's own number in it (``VSEnhanceFrame``) and an id (``VSEnhanceClip``), from
    which ``vsenhance estimate`` counts the AI frames of the final clip exactly.

    :param ranges:        frames and times to upscale with the model, see :func:`parse_ranges`: inclusive
                          ``(first, last)`` pairs (as ReplaceFramesSimple), ``"1200-1850,11:56-12:26"``, or a
                          file ``Path("keys.txt")`` with one range per line (vsview's and vs-preview's
                          scening exports work).
    :param model:         as :func:`vsenhance.upscale`; default: its default (a built-in model, no download).
    :param width/height:  target size (one alone keeps the aspect ratio). Default: ``scale`` × the input.
    :param scale:         target scale when width/height are not given. Default: the model's scale.
    :param fallback:      ``"lanczos"`` (``taps`` settable), ``"spline36"``, ``"bicubic"``, ``"bilinear"``, ``"point"``.
    :param upscale_kwargs: passed to :func:`vsenhance.upscale` (tile, device, precision, output_format, ...).
    """
    check_constant(clip, _FUNC)
    fallback = check_choice(_FUNC, "fallback", fallback, Fallback)
    # taps=True is a mistake, not taps=1; above 15, zimg refuses every frame ("lanczos tap count too high")
    check_number(_FUNC, "taps", taps, 1, _MAX_TAPS, integer=True)
    if "scale" in upscale_kwargs:
        raise ClipError(_FUNC, "scale is this function's own argument.", "Pass scale= once.")
    unknown = sorted(set(upscale_kwargs) - _UPSCALE_ARGS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(_UPSCALE_ARGS | _OWN_ARGS), n=1)
        raise ClipError(
            _FUNC,
            f"{unknown[0]}= is an argument of neither upscale_ranges nor upscale"
            + (f"; did you mean {close[0]}=?" if close else "."),
            "See help(vsenhance.upscale_ranges) and help(vsenhance.upscale) for the arguments.",
        )
    for name, value in (("width", width), ("height", height)):
        if value is not None:
            check_number(_FUNC, name, value, 1, MAX_FRAME_SIDE, integer=True)
    if scale is not None:  # scale=True is not 1, nor "2" 2
        check_number(_FUNC, "scale", scale, _MIN_SCALE, _MAX_SCALE)
    merged = parse_ranges(ranges, clip.num_frames, fps=clip.fps)

    # upscale's own defaults for what was not given; the held-frame decisions are made here, in this clip's
    # numbering, so that the encoder finds them under this clip's id too
    options = _UPSCALE_SIGNATURE.bind(clip, *(() if model is None else (model,)), **upscale_kwargs)
    options.apply_defaults()
    settings = dict(options.arguments)
    clip, model = settings.pop("clip"), settings.pop("model")
    rule = resolve_dedup(settings["dedup"], _FUNC)
    keys = KeyFrames(clip, rule) if rule is not None else None
    ai = _upscale(clip, model, keys, **settings)
    size = _target_size(clip, ai, width, height, scale)
    check_frame_size(_FUNC, *size, f"the target size for {clip.width}x{clip.height}")
    if (ai.width, ai.height) != size:
        ai = core.resize.Lanczos(ai, *size, filter_param_a=taps)

    out_fmt = resolve_output_format(clip, upscale_kwargs.get("output_format"), _FUNC)
    resizer = getattr(core.resize, fallback.capitalize() if fallback != "spline36" else "Spline36")
    kwargs: dict[str, Any] = {"format": out_fmt.id, "dither_type": "error_diffusion"}
    if fallback == "lanczos":
        kwargs["filter_param_a"] = taps
    if clip.format.color_family != vs.RGB or out_fmt.color_family != vs.RGB:
        params = colour_params(clip)
        if clip.format.color_family != vs.RGB:
            kwargs.update(params.resize_in())
        if out_fmt.color_family != vs.RGB:
            kwargs.update(params.resize_out())
    if out_fmt.color_family == vs.RGB:
        kwargs["range"] = vs.RANGE_FULL
    classic = resizer(clip, *size, **kwargs)
    # the classic path says what made its frames too, so both paths carry one prop set (see CHOICE_PROPS)
    made_by = dict(zip(CHOICE_PROPS, [fallback, "cpu", "", "", 0], strict=True))
    classic = core.std.SetFrameProps(classic, **{PATH_PROP: fallback}, **made_by).std.RemoveFrameProps("_Alpha")
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
    out = pieces[0] if len(pieces) == 1 else core.std.Splice(pieces)
    source = Path(ranges).resolve() if isinstance(ranges, os.PathLike) else None
    return _with_map(out, merged, source, keys)


_UPSCALE_SIGNATURE = inspect.signature(upscale)
_UPSCALE_ARGS = frozenset(_UPSCALE_SIGNATURE.parameters) - {"clip", "model", "scale"}
_OWN_ARGS = frozenset(inspect.signature(upscale_ranges).parameters) - {"upscale_kwargs"}


def _with_map(
    clip: vs.VideoNode, merged: list[tuple[int, int]], source: Path | None, keys: KeyFrames | None
) -> vs.VideoNode:
    """Every frame says which AI ranges its clip has and which frame of it it is (:data:`RANGES_PROP`,
    :data:`HYBRID_FRAME_PROP`, :data:`HYBRID_ID_PROP`): the estimate and the encoder count the AI frames of the
    final clip from a few sampled frames, through any trims and splices, instead of guessing from samples; with
    held-frame reuse, the classic path's frames name ``keys`` too (:meth:`KeyFrames.mark`, showing themselves),
    so every frame has one prop set and the count of computed AI frames finds the decisions from any frame.
    A range file's path (:data:`RANGES_FILE_PROP`) tells the previewer plugins (vsview or vs-preview) where to add
    ranges. Frames of the classic path were computed: they show themselves (:data:`HELD_PROP`)."""
    flat = [n for pair in merged for n in pair]
    props: dict[str, Any] = {RANGES_PROP: flat, HYBRID_ID_PROP: uuid.uuid4().hex[:12]}
    if source is not None:
        props[RANGES_FILE_PROP] = str(source)
    clip = core.std.SetFrameProps(clip, **props)

    def number(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        out.props[HYBRID_FRAME_PROP] = n
        if HELD_PROP not in out.props:  # the classic path: computed, in the numbering the decisions use too
            if keys is None:
                out.props[HELD_PROP] = n
            else:
                keys.mark(out.props, n, n)
        return out

    return core.std.ModifyFrame(clip, clip, number)


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
