"""Which frames of a script's output take which path (AI or a classic resizer), counted from a few frames.

Every frame of an ``upscale_ranges`` clip carries that clip's AI ranges, its own number in it and the clip's id
(:data:`~vsenhance.constants.RANGES_PROP` ...). A sampled frame of the final clip (after trims and splices)
therefore says which hybrid clip it came from and at which offset. Runs of samples with the same (id, offset)
are contiguous pieces of one hybrid clip; where two neighbouring samples differ, the frames between them are
bisected until the boundary is exact. Then the AI frames of each piece are the overlap of its mapped frame
numbers with its clip's ranges: counted, not guessed. Torch-free, and without VapourSynth: the sampler
renders, this module does the arithmetic.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..constants import DEDUP_FRAME_PROP, DEDUP_ID_PROP, HYBRID_FRAME_PROP, HYBRID_ID_PROP, PATH_PROP, RANGES_PROP

__all__ = [
    "MAX_BISECT_FRAMES",
    "PathMap",
    "Piece",
    "Sample",
    "boundaries_to_render",
    "map_clip",
    "map_paths",
    "sample",
    "segment_ai_frames",
]

MAX_BISECT_FRAMES = 48  # frames rendered to find piece boundaries before the mapping gives up (then: sampled)
Key = tuple[str, int] | None  # (hybrid clip id, its frame number - the final frame number), None without a map
HeldKey = tuple[str, int] | None  # (held-frame decisions' id, their frame number - the final one), None without


@dataclass(frozen=True)
class Sample:
    """One rendered frame of the final clip, as the sampler saw it."""

    frame: int
    path: str | None  # VSEnhancePath, None when the frame has none
    clip: str | None = None  # VSEnhanceClip
    hybrid_frame: int | None = None  # VSEnhanceFrame
    held: HeldKey = None  # from VSEnhanceDedup and VSEnhanceDedupFrame (see .heldcount)

    @property
    def key(self) -> Key:
        if self.clip is None or self.hybrid_frame is None:
            return None
        return self.clip, self.hybrid_frame - self.frame


@dataclass(frozen=True)
class Piece:
    first: int  # final frame numbers, inclusive
    last: int
    key: Key
    path: str | None  # the path of its samples when it has no map (one path assumed)


@dataclass(frozen=True)
class PathMap:
    counted: bool  # every frame's path is known exactly; else the shares are the samples'
    frames: dict[str, int]  # path -> frames of the final clip (counted, or projected from the samples)
    intervals: dict[str, list[tuple[int, int]]]  # path -> inclusive final-frame intervals (counted only)
    note: str  # why it was not counted, or how


def boundaries_to_render(samples: Iterable[Sample]) -> list[int]:
    """Frames to render next: the midpoint of every pair of neighbouring samples whose maps (paths or held-frame
    decisions) differ and that are not yet adjacent (bisection toward each boundary)."""
    ordered = sorted(samples, key=lambda s: s.frame)
    return [
        (a.frame + b.frame) // 2
        for a, b in itertools.pairwise(ordered)
        if (a.key, a.held) != (b.key, b.held) and b.frame - a.frame > 1
    ]


def map_paths(samples: Iterable[Sample], ranges: dict[str, list[tuple[int, int]]], total: int) -> PathMap:
    """The paths of all ``total`` frames from the samples (which must include frames 0 and ``total - 1``) and
    each hybrid clip's AI ranges; counted when every boundary between pieces was found."""
    ordered = sorted(samples, key=lambda s: s.frame)
    fallback_names = {s.path for s in ordered if s.path not in (None, "ai")}
    fallback = next(iter(fallback_names)) if len(fallback_names) == 1 else "classic"
    if not any(s.path for s in ordered):  # no hybrid anywhere: one path, trivially counted
        return PathMap(True, {"all": total}, {"all": [(0, total - 1)]}, "no upscale_ranges in the script")
    pieces, exact = _pieces(ordered, total)
    if not exact or any(p.key is None for p in pieces):
        return _sampled(ordered, total, "some frames carry no map (not from upscale_ranges), or a boundary was "
                        "not found: the shares are the samples'")  # fmt: skip
    intervals: dict[str, list[tuple[int, int]]] = {}
    for piece in pieces:
        assert piece.key is not None
        clip, offset = piece.key
        pos = piece.first
        for first, last in ranges.get(clip, []):
            a, b = max(first - offset, piece.first), min(last - offset, piece.last)
            if a > b:
                continue
            if a > pos:
                intervals.setdefault(fallback, []).append((pos, a - 1))
            intervals.setdefault("ai", []).append((a, b))
            pos = b + 1
        if pos <= piece.last:
            intervals.setdefault(fallback, []).append((pos, piece.last))
    frames = {path: sum(b - a + 1 for a, b in spans) for path, spans in intervals.items()}
    note = f"counted from the clips' maps ({len(pieces)} piece{'s' if len(pieces) > 1 else ''})"
    return PathMap(True, frames, intervals, note)


def _pieces(ordered: list[Sample], total: int) -> tuple[list[Piece], bool]:
    """Runs of samples with one map; exact when they start at 0, end at ``total - 1`` and every two runs meet."""
    pieces: list[Piece] = []
    for s in ordered:
        same = pieces and pieces[-1].key == s.key and (s.key is not None or pieces[-1].path == s.path)
        if same:
            pieces[-1] = Piece(pieces[-1].first, s.frame, s.key, s.path)
        else:
            pieces.append(Piece(s.frame, s.frame, s.key, s.path))
    exact = bool(pieces) and pieces[0].first == 0 and pieces[-1].last == total - 1
    exact = exact and all(b.first == a.last + 1 for a, b in itertools.pairwise(pieces))
    return pieces, exact


def _sampled(ordered: list[Sample], total: int, note: str) -> PathMap:
    counts: dict[str, int] = {}
    for s in ordered:
        counts[s.path or "all"] = counts.get(s.path or "all", 0) + 1
    frames = {path: round(total * n / len(ordered)) for path, n in counts.items()}
    return PathMap(False, frames, {}, note)


def prop_text(value: object) -> str | None:
    """A string prop as VapourSynth returns it (bytes before R62, str after), or None."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def map_clip(
    render: Callable[[list[int]], Mapping[int, Mapping[str, Any]]], total: int, spread: Iterable[int],
    known: Mapping[int, Mapping[str, Any]] | None = None,
) -> tuple[PathMap, dict[int, Mapping[str, Any]]]:  # fmt: skip
    """Map a clip's paths from frame props: ``render(frames)`` gives the props of those frames (the sampler
    renders them itself, the encoder asks a worker); ``spread`` and both ends are rendered, then midpoints
    toward every boundary, at most :data:`MAX_BISECT_FRAMES` more. Returns the map and every frame's props."""
    seen: dict[int, Mapping[str, Any]] = dict(known or {})
    first = sorted({*spread, 0, total - 1} - set(seen))
    seen.update(render(first) if first else {})
    budget = MAX_BISECT_FRAMES
    while True:
        samples = [sample(n, p) for n, p in seen.items()]
        todo = [n for n in boundaries_to_render(samples) if n not in seen][:budget]
        if not todo:
            break
        seen.update(render(todo))
        budget -= len(todo)
    return map_paths(samples, ranges_of(seen), total), seen


def sample(n: int, props: Mapping[str, Any]) -> Sample:
    """Frame ``n`` of the final clip as its props map it."""
    held_id, held_frame = prop_text(props.get(DEDUP_ID_PROP)), props.get(DEDUP_FRAME_PROP)
    held = (held_id, int(held_frame) - n) if held_id is not None and held_frame is not None else None
    path, clip = prop_text(props.get(PATH_PROP)), prop_text(props.get(HYBRID_ID_PROP))
    return Sample(n, path, clip, props.get(HYBRID_FRAME_PROP), held)


def ranges_of(seen: Mapping[int, Mapping[str, Any]]) -> dict[str, list[tuple[int, int]]]:
    """Each hybrid clip's AI ranges, from the props of any of its frames."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for props in seen.values():
        clip = prop_text(props.get(HYBRID_ID_PROP))
        if clip is not None and clip not in ranges:
            flat = [int(v) for v in props.get(RANGES_PROP) or []]
            ranges[clip] = [(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]
    return ranges


def segment_ai_frames(mapped: PathMap, segments: Iterable[tuple[int, int, int]]) -> dict[int, int] | None:
    """AI frames of each ``(index, first, last)`` segment, or None when the map was not counted."""
    if not mapped.counted:
        return None
    spans = mapped.intervals.get("ai", [])
    return {index: sum(max(0, min(b, last) - max(a, first) + 1) for a, b in spans) for index, first, last in segments}
