"""The AI ranges as a previewer's timeline sees them (vsview or vs-preview), read from one frame's props; no Qt, no rendering.

An ``upscale_ranges`` clip puts its ranges on every frame in its own numbering (``VSEnhanceRanges``) with the
frame's number in it (``VSEnhanceFrame``). The frame the previewer has just shown carries both, so the ranges of the
output, trimmed or not, come from the props it already has: ``output = hybrid + (shown - VSEnhanceFrame)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..constants import (
    CHOICE_PROPS,
    DEDUP_FRAME_PROP,
    HELD_PROP,
    HYBRID_FRAME_PROP,
    PATH_PROP,
    RANGES_FILE_PROP,
    RANGES_PROP,
    TILE_PROP,
)


def output_ranges(props: Mapping[str, Any], shown: int, total: int) -> list[tuple[int, int]]:
    """The AI ranges of the output, inclusive, clipped to its ``total`` frames, seen from frame ``shown``.

    Exact for the hybrid clip and for any trim of it; after a splice of several pieces, the ranges of the piece
    that holds the shown frame. No ``VSEnhanceRanges`` (not an ``upscale_ranges`` clip): no ranges.
    """
    flat = props.get(RANGES_PROP)
    if flat is None:
        return []
    offset = shown - int(props.get(HYBRID_FRAME_PROP, shown))
    flat = [int(n) for n in flat]
    ranges = []
    for first, last in zip(flat[::2], flat[1::2], strict=True):
        first, last = max(first + offset, 0), min(last + offset, total - 1)
        if first <= last:
            ranges.append((first, last))
    return ranges


def hybrid_frame(props: Mapping[str, Any], shown: int) -> int:
    """The shown frame's number in the clip ``upscale_ranges`` was given: what a range file holds."""
    return int(props.get(HYBRID_FRAME_PROP, shown))


def ranges_file(props: Mapping[str, Any]) -> Path | None:
    """The range file the clip was made from, if it was made from one."""
    value = props.get(RANGES_FILE_PROP)
    if value is None:
        return None
    return Path(value.decode() if isinstance(value, bytes) else str(value))


def range_line(first: int, last: int) -> str:
    """One line of a range file, in the syntax ``upscale_ranges`` reads."""
    return f"{first}" if first == last else f"{first}-{last}"


def append_range(path: Path, first: int, last: int, note: str = "") -> str:
    """Add a range to the end of ``path`` (created if missing), keeping every line already there.

    The file is opened for appending, not rewritten, so an editor's unsaved view of it loses nothing but the new
    line. Returns the line written.
    """
    if first > last:
        first, last = last, first
    line = range_line(first, last) + (f"  # {note}" if note else "")
    with open(path, "a+b") as f:  # a+: read the last byte to know whether the old last line ends
        f.seek(0, os.SEEK_END)
        needs_newline = False
        if f.tell():
            f.seek(-1, os.SEEK_END)
            needs_newline = f.read(1) not in (b"\n", b"\r")
        f.write(("\n" if needs_newline else "").encode() + line.encode() + b"\n")
    return line


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def choice_rows(props: Mapping[str, Any], shown: int) -> list[tuple[str, str]]:
    """What the filter chose for the frame shown, as (name, value) rows: the path (AI or the fallback), the
    model, device, precision and tile, and whether the frame was computed or shows a held frame's output."""
    rows = []
    if PATH_PROP in props:
        path = _text(props[PATH_PROP])
        rows.append(("Path", "AI" if path == "ai" else path))
    for name in CHOICE_PROPS:
        if name in props:
            rows.append((name.removeprefix("VSEnhance"), _text(props[name])))
    if HELD_PROP in props:
        # the frame's own number where the decisions were made (VSEnhanceDedupFrame): right through any trim
        key, own = int(props[HELD_PROP]), int(props.get(DEDUP_FRAME_PROP, hybrid_frame(props, shown)))
        rows.append(("Frame", "computed" if key == own else f"held: shows frame {key}'s output"))
    return rows


def prop_formats() -> dict[str, Callable[[Any], str]]:
    """How a previewer's frame-props tool shows our props: prop name -> text of its value (vsview's Frame Props
    formatters). Only what the raw value hides: the path's meaning, the ranges as a range file writes them, tile 0
    as the whole frame, and the frame a held frame's output came from."""

    def ranges(flat: Any) -> str:
        flat = [int(n) for n in flat]
        return ", ".join(range_line(a, b) for a, b in zip(flat[::2], flat[1::2], strict=True))

    return {
        PATH_PROP: lambda v: "AI" if _text(v) == "ai" else f"{_text(v)} (classic resizer)",
        RANGES_PROP: ranges,
        TILE_PROP: lambda v: "whole frame (no tiles)" if int(v) == 0 else f"{int(v)} px",
        HELD_PROP: lambda v: f"frame {int(v)}'s output",
    }
