"""Held frames: which source frame each frame shows, decided from the source alone, and its AI output reused.

Animation drawn on twos and threes, static shots, title cards and black frames repeat the picture before them.
:class:`KeyFrames` decides, for every frame n, its *key frame*: the frame whose picture it shows.

- Frames 0, 64, 128, ... (:data:`~vsenhance.constants.KEY_INTERVAL`) are always keys, and a frame that differs
  from its key is a key of its own.
- Frame n is compared with the key frame that frame n - 1 shows, not only with frame n - 1, so that a fade or
  a slow pan can never drift further from the picture shown than the tolerance.
- So key(n) depends on the source frames from the last multiple of 64 up to n, and on nothing else: not on the
  order of requests, nor on which worker renders it. A jump in a previewer, ``encode --workers N`` and Ray give
  the frames one ``vspipe`` gives, and showing any frame reads at most 64 source frames (fewer: a frame that
  differs from its neighbour by more than twice the tolerance cannot be within it of the key, so the walk back
  stops there; in ``"exact"`` mode it walks back only through bit-identical neighbours).

The decisions live in the graph: a recursive clip whose frame n carries the pixels of src[key(n)] and the key's
number (frame n asks frame n - 1 of the same clip, at most 63 deep), memoised per frame, so sequential access
costs one comparison a frame. No frame is ever requested synchronously from a callback.

:func:`map_planes_held` runs the model once per key frame (a bounded cache of its outputs, one computation per
key however many requests wait for it) and gives every frame the key's pixels with its own props.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import vapoursynth as vs

from .. import holds
from ..constants import DEDUP_FRAME_PROP, DEDUP_ID_PROP, HELD_PROP, KEY_INTERVAL
from ..errors import ClipError
from .batching import GroupCache
from .checks import check_choice
from .evaluate import PlaneFunction
from .frames import read_planes

__all__ = [
    "NEAR_TOLERANCE",
    "Dedup",
    "HeldRule",
    "KeyFrames",
    "ResultsByKey",
    "map_planes_held",
    "resolve_dedup",
]

core = vs.core

DedupName = Literal["off", "exact", "near"]
Dedup = DedupName | float
"""``"off"``, ``"exact"`` (bit-identical pictures only), ``"near"`` (lossy sources) or a tolerance in 8-bit codes."""

NEAR_TOLERANCE = 8.0
"""``"near"``: at most 8 codes of mean absolute difference in any 8x8 area. Measured on a real photo panned and
held, through x264 and x265 at CRF 18-23 (presets veryfast to slow): the held frames' worst 8x8 area differs by
at most 6.0 codes from the key in luma (4:2:0 chroma, 4x4 areas: 8.6, once); every moving frame by more than
100; an 8x8 patch changed by 24 codes gives 24 wherever it lies. ``scripts/bench_dedup.py`` and docs/dedup.md."""

MAX_TOLERANCE = 64.0  # a quarter of the 8-bit range: beyond it, "held" would take in real motion
FADE_SHARE = 1 / 32  # the whole frame's mean difference may be at most this share of the tolerance (fades)
WINDOW = 8  # the compared areas: 8x8 pixels of luma (or of RGB), the same picture area on subsampled chroma
_ids = itertools.count()  # in creation order: every process that executes a script names its decisions alike
_KEY = "_VSEnhanceKey"  # on the decision clip's frames: the number of the key frame whose pixels they carry
_FAR = "_VSEnhanceFar"  # on the neighbour clip's frames: 1 where frame n cannot be within the tolerance of its key


@dataclass(frozen=True)
class HeldRule:
    """When a frame shows the same picture as its key. ``tolerance`` None: bit for bit."""

    tolerance: float | None

    @property
    def exact(self) -> bool:
        return self.tolerance is None

    def describe(self) -> str:
        return "exact" if self.exact else f"near (tolerance {self.tolerance:g})"

    def same(self, a: Sequence[np.ndarray], b: Sequence[np.ndarray], fmt: vs.VideoFormat, scale: float = 1) -> bool:
        """Whether ``a`` and ``b`` (a frame's planes) show the same picture; ``scale`` widens the tolerance (the
        neighbour test uses twice it)."""
        if all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
            return True
        if self.tolerance is None:
            return False
        return _within(a, b, fmt, self.tolerance * scale)


def resolve_dedup(dedup: object, func: str) -> HeldRule | None:
    """The rule ``dedup`` names (None for ``"off"``), or one line naming the choices."""
    choices = '"off", "exact", "near" or a tolerance in 8-bit codes (0-64)'
    if isinstance(dedup, str):
        name = check_choice(func, "dedup", dedup, DedupName, f"Pass {choices}.")
        return {"off": None, "exact": HeldRule(None), "near": HeldRule(NEAR_TOLERANCE)}[name]
    if isinstance(dedup, bool) or not isinstance(dedup, int | float):
        raise ClipError(func, f"dedup={dedup!r} is not a choice or a number.", f"Pass {choices}.")
    if not math.isfinite(dedup) or not 0 <= dedup <= MAX_TOLERANCE:
        raise ClipError(
            func, f"dedup={dedup!r} is not a tolerance in [0, {MAX_TOLERANCE:g}] codes.", f"Pass {choices}."
        )
    return HeldRule(float(dedup))


def _codes(fmt: vs.VideoFormat) -> float:
    """8-bit codes per unit of a plane's samples."""
    if fmt.sample_type == vs.FLOAT:
        return 255.0
    return 1.0 / (1 << (fmt.bits_per_sample - 8)) if fmt.bits_per_sample >= 8 else 1.0


def _within(a: Sequence[np.ndarray], b: Sequence[np.ndarray], fmt: vs.VideoFormat, tolerance: float) -> bool:
    """Every 8x8 area (at every offset, not only on a grid) differs by at most ``tolerance`` codes of mean
    absolute difference, and the whole frame's mean difference by at most ``tolerance * FADE_SHARE`` codes
    (a fade moves every pixel a little: the areas alone would let it drift)."""
    codes = _codes(fmt)
    integer = fmt.sample_type == vs.INTEGER
    for p, (x, y) in enumerate(zip(a, b, strict=True)):
        chroma = fmt.color_family == vs.YUV and p > 0
        wh = max(1, WINDOW >> fmt.subsampling_h) if chroma else WINDOW
        ww = max(1, WINDOW >> fmt.subsampling_w) if chroma else WINDOW
        wide = np.int32 if integer else np.float64  # no wrap-around, and float sums that stay exact enough
        d = x.astype(wide) - y.astype(wide)
        if abs(float(d.mean(dtype=np.float64))) * codes > tolerance * FADE_SHARE:
            return False
        wh, ww = min(wh, d.shape[0]), min(ww, d.shape[1])
        limit = tolerance * wh * ww / codes
        ad = np.abs(d)
        gh, gw = d.shape[0] // wh * wh, d.shape[1] // ww * ww  # the areas on the grid first: motion fails there
        grid = ad[:gh, :gw].reshape(gh // wh, wh, gw // ww, ww).sum(axis=(1, 3), dtype=np.int64 if integer else None)
        if float(grid.max()) > limit:
            return False
        rows = np.cumsum(ad, axis=0, dtype=np.int64 if integer else np.float64)
        rows = np.concatenate([rows[wh - 1 : wh], rows[wh:] - rows[:-wh]]) if d.shape[0] > wh else rows[-1:]
        cols = np.cumsum(rows, axis=1)
        cols = np.concatenate([cols[:, ww - 1 : ww], cols[:, ww:] - cols[:, :-ww]], axis=1) if d.shape[1] > ww \
            else cols[:, -1:]  # fmt: skip
        if float(cols.max()) > limit:
            return False
    return True


class KeyFrames:
    """The key frame of every frame of ``clip`` under ``rule``; registered in :mod:`vsenhance.holds` by ``id``,
    which counts the decisions a process makes, so that every worker executing one script has the same ids.

    ``clip`` (the decision clip): frame n holds src[key(n)]'s pixels and its number. :meth:`keys` reads the
    decisions without anything else being computed (the encoder and the estimate count computed frames so).
    """

    def __init__(self, src: vs.VideoNode, rule: HeldRule) -> None:
        self.rule = rule
        self.id = f"held{next(_ids)}"
        self.num_frames = src.num_frames
        self._src = src
        self._fmt = src.format
        self._memo = np.full(src.num_frames, -1, np.int64)  # key(n), once known (decisions are final)
        self._lock = threading.Lock()
        self._previous: vs.VideoNode | None = None
        me = weakref.ref(self)  # the graph's callbacks must not keep this object (and so the graph) alive
        self._keyed = core.std.ModifyFrame(src, src, _own_key)
        prev = src[0] + src[:-1] if src.num_frames > 1 else src
        flags = core.std.BlankClip(src, width=1, height=1, format=vs.GRAY8, keep=True)
        far = core.std.ModifyFrame(flags, [flags, src, prev], partial(_neighbour, me))
        # frames already decided, and interval starts, need no comparison: only the others read the neighbour
        self._undecided = core.std.FrameEval(src, partial(_decide, me), prop_src=[far], clip_src=[src, far])
        self.clip = core.std.FrameEval(src, partial(_known, me), clip_src=[self._keyed, self._undecided])
        holds.register(self.id, self)

    def frozen(self, clip: vs.VideoNode, key: int, n: int) -> vs.VideoNode:
        """``clip`` with frame ``key`` in place of frame ``n``."""
        return clip if key == n else core.std.FreezeFrames(clip, first=n, last=n, replacement=key)

    def previous(self) -> vs.VideoNode:
        """The decision clip one frame later: its frame n is the decision of frame n - 1."""
        with self._lock:
            if self._previous is None:
                self._previous = self.clip[0] + self.clip[:-1]
            return self._previous

    def keys(self, first: int, last: int) -> list[int]:
        """key(n) for n in ``first..last`` (reads the source there, and back to the last key interval)."""
        if not 0 <= first <= last < self.num_frames:
            raise ValueError(f"frames {first}-{last} are outside 0-{self.num_frames - 1}")
        known = self._memo[first : last + 1]
        if (known >= 0).all():
            return [int(k) for k in known]
        return [int(f.props[_KEY]) for f in self.clip[first : last + 1].frames(close=True)]

    def at_key(self, clip: vs.VideoNode) -> vs.VideoNode:
        """``clip`` (frame for frame with the source) with each frame replaced by its key frame's, which carries
        the key's number as :data:`HELD_PROP`."""
        keyed = core.std.ModifyFrame(clip, clip, _held_from_self)

        def select(n: int, f: vs.VideoFrame) -> vs.VideoNode:
            return self.frozen(keyed, int(f.props[_KEY]), n)

        return core.std.FrameEval(clip, select, prop_src=[self.clip], clip_src=[keyed, self.clip])

    def mark(self, props: vs.FrameProps, key: int, n: int) -> None:
        """The props every frame with held-frame reuse carries: what it shows, and whose decisions those are."""
        props[HELD_PROP] = key
        props[DEDUP_ID_PROP] = self.id
        props[DEDUP_FRAME_PROP] = n


def _own_key(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    out.props[_KEY] = n
    return out


def _held_from_self(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    out.props[HELD_PROP] = n
    return out


def _alive(ref: weakref.ref[KeyFrames]) -> KeyFrames:
    keys = ref()
    if keys is None:
        raise vs.Error("vsenhance: a frame was requested from a clip whose held-frame decisions were freed")
    return keys


def _neighbour(ref: weakref.ref[KeyFrames], n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
    """Frame n's flag: 1 where it cannot be within the tolerance of its key (it differs from frame n - 1 by more
    than twice it, while frame n - 1 is within it of that key), so the walk back stops here."""
    keys = _alive(ref)
    out = f[0].copy()
    out.props[_FAR] = int(not keys.rule.same(read_planes(f[1]), read_planes(f[2]), keys._fmt, 2))
    return out


def _known(ref: weakref.ref[KeyFrames], n: int) -> vs.VideoNode:
    keys = _alive(ref)
    known = int(keys._memo[n])
    if known >= 0:
        return keys.frozen(keys._keyed, known, n)
    if n % KEY_INTERVAL == 0:
        keys._memo[n] = n
        return keys._keyed
    return keys._undecided


def _decide(ref: weakref.ref[KeyFrames], n: int, f: vs.VideoFrame) -> vs.VideoNode:
    keys = _alive(ref)
    memo = keys._memo
    if f.props[_FAR]:
        memo[n] = n
        return keys._keyed
    before = int(memo[n - 1])
    if before >= 0 and keys.rule.exact:  # bit-identical to frame n - 1, which shows ``before``
        memo[n] = before
        return keys.frozen(keys._keyed, before, n)
    shown = keys.frozen(keys._keyed, before, n) if before >= 0 else keys.previous()
    return core.std.ModifyFrame(keys._src, [keys._src, shown], partial(_compare, ref))


def _compare(ref: weakref.ref[KeyFrames], n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
    """Frame n against the key frame n - 1 shows (``f[1]``, carrying its number): held, or a key itself."""
    keys = _alive(ref)
    own, shown = f
    if keys.rule.exact or keys.rule.same(read_planes(own), read_planes(shown), keys._fmt):
        keys._memo[n] = int(shown.props[_KEY])  # exact: _neighbour found n bit-identical to n - 1
        return shown.copy()
    keys._memo[n] = n
    out = own.copy()
    out.props[_KEY] = n
    return out


def map_planes_held(
    clip: vs.VideoNode,
    template: vs.VideoNode,
    fn: PlaneFunction,
    props: Callable[[], Mapping[str, Any]],
    keys: KeyFrames,
    cache_frames: int,
) -> vs.VideoNode:
    """:func:`~.evaluate.map_planes` with held frames: ``fn`` runs once per key frame (``clip[key]``); every
    frame gets its key's output with its own props (``clip[n]``'s), ``props()`` as read after the key's ``fn``,
    and :meth:`KeyFrames.mark`.

    A held frame requests its key's output as a frame of one node (``outputs``), so VapourSynth merges the
    requests of a key's frames in flight into one computation without a thread waiting on it: held frames
    never take a worker from the next key. The outputs of the last ``cache_frames`` keys are kept, so a key's
    later frames, requested soon after, never run ``fn`` again (after an eviction, e.g. on a jump back in a
    previewer, it is computed again).
    """
    fmt, width, height = template.format, template.width, template.height
    cache = GroupCache(cache_frames)

    def compute(f: vs.VideoFrame) -> list[Any]:
        dst = core.create_video_frame(fmt, width, height)
        fn(read_planes(f), read_planes(dst))
        for name, value in props().items():
            dst.props[name] = value
        return [dst]

    def output(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        return cache.get(n, partial(compute, f))[0].copy()

    # one ModifyFrame node per request (as map_planes): several keys run ``fn`` at once
    outputs = template.std.FrameEval(lambda n: template.std.ModifyFrame(clip, output), clip_src=[clip, template])

    def deliver(n: int, f: list[vs.VideoFrame], key: int) -> vs.VideoFrame:
        result, own = f
        out = result.copy()
        made = dict(result.props)
        out.props.clear()
        out.props.update(own.props)
        out.props.update(made)
        keys.mark(out.props, key, n)
        return out

    def request(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        key = int(f.props[_KEY])
        return template.std.ModifyFrame([keys.frozen(outputs, key, n), clip], partial(deliver, key=key))

    return template.std.FrameEval(request, prop_src=[keys.clip], clip_src=[outputs, clip, template, keys.clip])


class ResultsByKey:
    """Per-key-frame results of a batched model (pose): each key computed once, however many frames and
    groups show it; a bounded LRU of ``max_items``.

    :meth:`get` claims the keys nobody has and computes them in one batch; keys another group is computing
    are waited for (that group is running: a group waits at most for the key of its first frame, held from
    the group before). A failed computation releases its claims, so a waiter computes them itself.
    """

    def __init__(self, max_items: int) -> None:
        self.max_items = max(1, int(max_items))
        self._done: OrderedDict[int, Any] = OrderedDict()
        self._pending: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, keys: Sequence[int], compute: Callable[[list[int]], list[Any]]) -> dict[int, Any]:
        """``{key: result}`` for every key; ``compute(claimed)`` returns one result per claimed key."""
        have: dict[int, Any] = {}
        while True:
            claimed, waiting = [], []
            with self._lock:
                for key in dict.fromkeys(keys):
                    if key in have:
                        continue
                    if key in self._done:
                        self._done.move_to_end(key)
                        have[key] = self._done[key]
                    elif key in self._pending:
                        waiting.append(self._pending[key])
                    else:
                        self._pending[key] = threading.Event()
                        claimed.append(key)
            if claimed:
                have.update(self._compute(claimed, compute))
            for event in waiting:
                event.wait()
            if not waiting:
                return have

    def _compute(self, claimed: list[int], compute: Callable[[list[int]], list[Any]]) -> dict[int, Any]:
        results: dict[int, Any] = {}
        try:
            results = dict(zip(claimed, compute(claimed), strict=True))
        finally:
            with self._lock:
                for key in claimed:
                    if key in results:
                        self._done[key] = results[key]
                    self._pending.pop(key).set()
                while len(self._done) > self.max_items:
                    self._done.popitem(last=False)
        return results
