"""Batch frames for a model: groups of ``n`` frames, several groups in flight, a per-group cache.

Output frame ``k`` belongs to group ``k // n``. Each request gets its own ``std.ModifyFrame`` node through
``std.FrameEval`` (one ModifyFrame node runs its callback for one frame at a time; one node per request lets
callbacks for several frames and groups run at once). The node of a request whose group is not computed yet
also fetches that group's ``n`` source frames (VapourSynth fetches them in parallel); its callback hands the
group to a pool of ``streams`` threads and waits for the results, which are cached (LRU, bounded), so the
other ``n - 1`` frames, random access and re-requests never run the models again. Concurrent requests for
one group wait for the one computation.

Sequential access (a request for group ``g`` after one for ``g - 1``, or for frame 0) also fetches the
sources of groups ``g + 1 .. g + streams - 1`` and starts them, so ``streams`` groups are computed at once
and the next group's detector runs while this group's pose model runs. Random access computes only the
groups it asks for.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import vapoursynth as vs

__all__ = ["GroupCache", "batched_modify"]

log = logging.getLogger(__name__)
core = vs.core


class GroupCache:
    """Thread-safe LRU of group index -> per-frame results, computing each group once.

    ``get`` computes a missing group in the calling thread; ``start`` hands it to ``executor``. Either way a
    group that is done or being computed is never computed again (until evicted); a failed computation is not
    cached and its error reaches the requests waiting for it.
    """

    def __init__(self, max_groups: int, executor: ThreadPoolExecutor | None = None) -> None:
        self.max_groups = max(1, int(max_groups))
        self.executor = executor
        self._done: OrderedDict[int, list[Any]] = OrderedDict()
        self._pending: dict[int, threading.Event] = {}
        self._errors: dict[int, BaseException] = {}
        self._lock = threading.Lock()

    def peek(self, group: int) -> list[Any] | None:
        with self._lock:
            return self._done.get(group)

    def known(self, group: int) -> bool:
        """Done or being computed."""
        with self._lock:
            return group in self._done or group in self._pending

    def _claim(self, group: int) -> tuple[list[Any] | None, threading.Event | None, bool]:
        """(results, event, owner) under the lock: results if done, else the pending event and whether the
        caller now owns the computation."""
        if group in self._done:
            self._done.move_to_end(group)
            return self._done[group], None, False
        event = self._pending.get(group)
        if event is not None:
            return None, event, False
        event = self._pending[group] = threading.Event()
        self._errors.pop(group, None)
        return None, event, True

    def _compute(self, group: int, compute: Callable[[], list[Any]], event: threading.Event) -> list[Any]:
        try:
            results = compute()
        except BaseException as exc:
            with self._lock:
                self._errors[group] = exc
            raise
        else:
            with self._lock:
                self._done[group] = results
                while len(self._done) > self.max_groups:
                    self._done.popitem(last=False)
            return results
        finally:
            with self._lock:
                self._pending.pop(group, None)
            event.set()

    def _background(self, group: int, compute: Callable[[], list[Any]], event: threading.Event) -> None:
        try:
            self._compute(group, compute, event)
        except BaseException:  # kept in _errors for the waiting requests
            log.debug("group %d failed in the background", group, exc_info=True)

    def start(self, group: int, compute: Callable[[], list[Any]]) -> None:
        """Compute ``group`` on the executor unless it is done or being computed (no executor: inline)."""
        with self._lock:
            _, event, owner = self._claim(group)
        if not owner:
            return
        if self.executor is None:
            self._background(group, compute, event)
        else:
            self.executor.submit(self._background, group, compute, event)

    def get(self, group: int, compute: Callable[[], list[Any]] | None = None) -> list[Any]:
        """The results of ``group``: cached, awaited, or computed here with ``compute``.

        Without ``compute`` a group that is neither done nor pending (failed, or evicted) raises.
        """
        while True:
            with self._lock:
                results, event, owner = self._claim(group) if compute is not None else self._peek_or_wait(group)
            if results is not None:
                return results
            if owner:
                return self._compute(group, compute, event)
            if event is None:
                with self._lock:
                    error = self._errors.get(group)
                if error is not None:
                    raise error
                raise RuntimeError(f"batched_modify: group {group} was evicted from the cache before it was read")
            event.wait()
            with self._lock:
                error = self._errors.get(group) if group not in self._done else None
            if error is not None and compute is None:
                raise error
            # done (cached), or failed: with ``compute`` the loop retries here

    def _peek_or_wait(self, group: int) -> tuple[list[Any] | None, threading.Event | None, bool]:
        if group in self._done:
            self._done.move_to_end(group)
            return self._done[group], None, False
        return None, self._pending.get(group), False


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
    streams: int = 1,
) -> vs.VideoNode:
    """Return ``clip`` with each frame passed through ``apply(writable_copy, result, n)``.

    ``compute(frames, first)`` gets the source frames ``first .. first + len(frames) - 1`` of ``src`` (one group
    of up to ``size`` frames; the tail group is shorter) and returns one result per frame. It runs on one of
    ``streams`` threads, for up to ``streams`` groups at once, so it must be thread-safe.
    """
    if src.num_frames != clip.num_frames:
        raise ValueError("batched_modify: clip and src differ in length")
    n = clip.num_frames
    size = max(1, min(int(size), n))
    streams = max(1, int(streams))
    groups = -(-n // size)
    padded = groups * size
    clip_p, src_p = _pad(clip, padded), _pad(src, padded)
    ahead = min(streams, groups)
    executor = ThreadPoolExecutor(streams, thread_name_prefix="vse-batch")
    cache = GroupCache(max(2 * ahead + 2, cache_frames // size), executor)
    # shifted[a][j]: frame k shows source frame (k // size + a) * size + j, i.e. frame j of group g + a
    lanes = [core.std.Interleave([src_p[j::size]] * size) if size > 1 else src_p for j in range(size)]
    shifted = [lanes] + [[_pad(lane[a * size :], padded) for lane in lanes] for a in range(1, ahead)]
    requested: set[int] = set()
    requested_lock = threading.Lock()

    def _group(group: int, frames: Sequence[vs.VideoFrame]) -> list[Any]:
        first = group * size
        return compute(list(frames[: min(size, n - first)]), first)

    def _cached(n: int, f: vs.VideoFrame, results: list[Any]) -> vs.VideoFrame:  # n: the output frame
        out = f.copy()
        apply(out, results[n % size], n)
        return out

    def _select(n: int, f: Any, starts: tuple[int, ...], results: list[Any] | None) -> vs.VideoFrame:
        f = f if isinstance(f, list) else [f]  # ModifyFrame passes a bare frame for one clip
        for idx, g in enumerate(starts):
            cache.start(g, partial(_group, g, f[1 + idx * size : 1 + (idx + 1) * size]))
        return _cached(n, f[0], results if results is not None else cache.get(n // size))

    def _request(n: int) -> vs.VideoNode:
        group = n // size
        with requested_lock:
            sequential = n == 0 or (group - 1) in requested
            requested.add(group)
        results = cache.peek(group)
        wanted = range(group, min(group + ahead, groups)) if sequential else range(group, group + 1)
        starts = tuple(g for g in wanted if not cache.known(g))
        if results is not None and not starts:
            return clip_p.std.ModifyFrame(clip_p, partial(_cached, results=results))
        sources = [node for g in starts for node in shifted[g - group]]
        return clip_p.std.ModifyFrame([clip_p, *sources], partial(_select, starts=starts, results=results))

    out = clip_p.std.FrameEval(_request)
    return out[:n]
