"""Batch frames for a model: ``clip[i::n]`` fan-out, tail padding, ``std.Interleave`` back, a per-group cache.

Output frame ``k`` belongs to group ``k // n``; the first request for any frame of a group fetches the group's
``n`` source frames (VapourSynth requests them in parallel, i.e. prefetch), computes one result per frame with
one call of ``compute`` and caches the results (LRU, bounded), so the other ``n - 1`` frames, random access and
re-requests never run the models again. Concurrent requests for the same group wait for the one computation.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import vapoursynth as vs

__all__ = ["GroupCache", "batched_modify"]

log = logging.getLogger(__name__)
core = vs.core


class GroupCache:
    """Thread-safe LRU of group index -> per-frame results, computing each group once."""

    def __init__(self, max_groups: int) -> None:
        self.max_groups = max(1, int(max_groups))
        self._done: OrderedDict[int, list[Any]] = OrderedDict()
        self._pending: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self.computed = 0  # groups computed (for tests and logs)

    def get(self, group: int, compute: Callable[[], list[Any]]) -> list[Any]:
        while True:
            with self._lock:
                if group in self._done:
                    self._done.move_to_end(group)
                    return self._done[group]
                event = self._pending.get(group)
                if event is None:
                    event = self._pending[group] = threading.Event()
                    owner = True
                else:
                    owner = False
            if not owner:
                event.wait()
                continue  # done (cached) or failed (the next caller retries)
            try:
                results = compute()
                with self._lock:
                    self._done[group] = results
                    self.computed += 1
                    while len(self._done) > self.max_groups:
                        self._done.popitem(last=False)
                return results
            finally:
                with self._lock:
                    self._pending.pop(group, None)
                event.set()


def _pad(clip: vs.VideoNode, length: int) -> vs.VideoNode:
    return clip if clip.num_frames >= length else clip + clip[-1] * (length - clip.num_frames)


def batched_modify(
    clip: vs.VideoNode,
    src: vs.VideoNode,
    size: int,
    compute: Callable[[Sequence[vs.VideoFrame], int], list[Any]],
    apply: Callable[[vs.VideoFrame, Any, int], None],
    *,
    cache_frames: int = 4096,
) -> tuple[vs.VideoNode, GroupCache]:
    """Return ``clip`` with each frame passed through ``apply(writable_copy, result, n)``.

    ``compute(frames, first)`` gets the source frames ``first .. first + len(frames) - 1`` of ``src`` (one group
    of up to ``size`` frames; the tail group is shorter) and returns one result per frame.
    """
    if src.num_frames != clip.num_frames:
        raise ValueError("batched_modify: clip and src differ in length")
    n = clip.num_frames
    size = max(1, min(int(size), n))
    padded = -(-n // size) * size
    clip_p, src_p = _pad(clip, padded), _pad(src, padded)
    cache = GroupCache(max(2, cache_frames // size))
    sources = [src_p[i::size] for i in range(size)]

    def _group(group: int, frames: Sequence[vs.VideoFrame]) -> list[Any]:
        first = group * size
        valid = min(size, n - first)
        return compute(list(frames[:valid]), first)

    def _select(n: int, f: list[vs.VideoFrame], i: int) -> vs.VideoFrame:  # n: the group index
        results = cache.get(n, partial(_group, n, f[1:]))
        out = f[0].copy()
        apply(out, results[i], n * size + i)
        return out

    outs = []
    for i in range(size):
        base = clip_p[i::size]
        outs.append(core.std.ModifyFrame(base, [base, *sources], partial(_select, i=i)))
    out = outs[0] if size == 1 else core.std.Interleave(outs)
    return out[:n], cache
