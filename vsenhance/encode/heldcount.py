"""How many frames of each segment the model computes, when held frames reuse their key frame's output.

Every frame of a clip with held-frame reuse carries its decisions' id and its number in the clip that made them
(:data:`~vsenhance.constants.DEDUP_ID_PROP`, :data:`~vsenhance.constants.DEDUP_FRAME_PROP`), so the sampled
frames of the final clip (after trims and splices) map it into *held pieces*, found as :mod:`.pathmap` finds its
pieces. A process that executed the script then reads the key of each AI frame (``lookup``, through
:func:`vsenhance.holds.decisions`: the source frames alone, no model), and a segment computes each distinct key
of its AI frames once: a segment that starts on a held frame computes its key, from the segment before, too.

Reading the decisions costs a pass over the source (for ``"near"`` at 1080p, about 70 frames a second on two
cores of an AMD EPYC): up to :data:`COUNT_BUDGET` frames are read, and beyond that whole key intervals spread
over the clip, whose shares of held frames stand for the rest. Torch-free and without VapourSynth.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..constants import KEY_INTERVAL
from .pathmap import Sample

__all__ = ["COUNT_BUDGET", "Computed", "HeldPiece", "Lookup", "count_computed", "held_pieces"]

COUNT_BUDGET = 20_000  # frames whose decisions are read at most; beyond it, spread key intervals stand for all
Lookup = Callable[[list[tuple[str, int, int]]], list[list[int]]]
"""``[(decisions id, first, last), ...]`` (frames of the clip that decided) -> each span's key frames."""


@dataclass(frozen=True)
class HeldPiece:
    first: int  # final frame numbers, inclusive
    last: int
    clip: str | None  # the decisions' id; None where frames are computed without held-frame reuse
    offset: int  # the decisions' frame number of final frame n is n + offset


@dataclass(frozen=True)
class Computed:
    """What the model computes: per segment, and over all the AI frames counted."""

    segments: dict[int, int]  # segment index -> frames the model computes
    ai_frames: int  # AI frames of those segments
    computed: int
    counted: bool  # every decision read; else the spread key intervals' share stands for the rest
    frames_read: int  # decisions read
    pieces: list[HeldPiece] = field(default_factory=list, compare=False)  # the clip's held pieces

    def describe(self) -> str:
        held = self.ai_frames - self.computed
        share = f"{100 * held / self.ai_frames:.0f} %" if self.ai_frames else "0 %"
        how = "" if self.counted else f", from {self.frames_read} frames' decisions"
        return f"AI frames {self.ai_frames}, computed {self.computed} ({share} held{how})"


def held_pieces(samples: Iterable[Sample], total: int) -> list[HeldPiece] | None:
    """Runs of samples with one held key; None unless they cover ``0..total - 1`` with every two runs adjacent
    (a boundary not found: the share of computed frames is then not known)."""
    pieces: list[HeldPiece] = []
    for sample in sorted(samples, key=lambda s: s.frame):
        frame = sample.frame
        clip, offset = sample.held if sample.held is not None else (None, 0)
        if pieces and (pieces[-1].clip, pieces[-1].offset) == (clip, offset):
            pieces[-1] = HeldPiece(pieces[-1].first, frame, clip, offset)
        else:
            pieces.append(HeldPiece(frame, frame, clip, offset))
    if not pieces or pieces[0].first != 0 or pieces[-1].last != total - 1:
        return None
    if any(b.first != a.last + 1 for a, b in itertools.pairwise(pieces)):
        return None
    return pieces


def count_computed(
    pieces: Sequence[HeldPiece], ai_spans: Sequence[tuple[int, int]], segments: Sequence[tuple[int, int, int]],
    lookup: Lookup, budget: int = COUNT_BUDGET,
) -> Computed:  # fmt: skip
    """Frames the model computes in each ``(index, first, last)`` segment: its AI frames (``ai_spans``, final
    frame numbers, inclusive) without reuse, else one per distinct key; within ``budget`` frames read."""
    # per segment, the runs of its AI frames that reuse held frames (in decisions' numbering) and the others
    runs: dict[int, list[tuple[str, int, int]]] = {}
    plain: dict[int, int] = {}
    ai_total = 0
    for index, first, last in segments:
        runs[index], plain[index] = [], 0
        for a, b in ai_spans:
            for piece in pieces:
                lo, hi = max(a, first, piece.first), min(b, last, piece.last)
                if lo > hi:
                    continue
                ai_total += hi - lo + 1
                if piece.clip is None:
                    plain[index] += hi - lo + 1
                else:
                    runs[index].append((piece.clip, lo + piece.offset, hi + piece.offset))
    wanted = sum(hi - lo + 1 for spans in runs.values() for _, lo, hi in spans)
    if wanted <= budget:
        counted = _exact(runs, plain, ai_total, lookup, wanted)
    else:
        counted = _spread(runs, plain, ai_total, lookup, budget)
    return replace(counted, pieces=list(pieces))


def _exact(runs, plain, ai_total: int, lookup: Lookup, wanted: int) -> Computed:
    spans = [span for index in runs for span in runs[index]]
    keys = iter(lookup(spans) if spans else [])
    counts = {}
    for index in runs:
        distinct: set[tuple[str, int]] = set()
        for (clip, _, _), span_keys in zip(runs[index], keys, strict=False):
            distinct.update((clip, k) for k in span_keys)
        counts[index] = plain[index] + len(distinct)
    return Computed(counts, ai_total, sum(counts.values()), True, wanted)


def _spread(runs, plain, ai_total: int, lookup: Lookup, budget: int) -> Computed:
    """Whole key intervals (which depend on nothing before them), spread evenly over the frames to count; each
    segment takes the share of computed frames of its own intervals, or of all of them when it has none."""
    intervals = []  # (segment, clip, first, last) in decisions' numbering, within one key interval each
    for index, spans in runs.items():
        for clip, lo, hi in spans:
            start = lo
            while start <= hi:
                end = min(hi, start - start % KEY_INTERVAL + KEY_INTERVAL - 1)
                intervals.append((index, clip, start, end))
                start = end + 1
    aligned = [item for item in intervals if item[2] % KEY_INTERVAL == 0]  # nothing before them to read
    candidates = aligned or intervals
    frames = sum(e - s + 1 for _, _, s, e in candidates)
    step = max(1.0, frames / budget)
    chosen, read, next_at, seen = [], 0, 0.0, 0
    for item in candidates:
        if seen >= next_at and read < budget:
            chosen.append(item)
            read += item[3] - item[2] + 1
            next_at += step * (item[3] - item[2] + 1)
        seen += item[3] - item[2] + 1
    keys = lookup([(clip, s, e) for _, clip, s, e in chosen])
    by_segment: dict[int, list[int]] = {}  # segment -> [frames read, keys among them]
    for (index, _, s, e), span_keys in zip(chosen, keys, strict=True):
        got = by_segment.setdefault(index, [0, 0])
        got[0] += e - s + 1
        got[1] += len(set(span_keys))
    share_all = sum(k for _, k in by_segment.values()) / max(1, read)
    counts = {}
    for index, spans in runs.items():
        reuse = sum(hi - lo + 1 for _, lo, hi in spans)
        got = by_segment.get(index)
        share = got[1] / got[0] if got else share_all
        counts[index] = plain[index] + round(reuse * share)
    return Computed(counts, ai_total, sum(counts.values()), False, read)
