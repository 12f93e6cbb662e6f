import threading
import time

import numpy as np
import pytest
import vapoursynth as vs

from vsenhance.bridge.batching import GroupCache, batched_modify

core = vs.core


def _numbered(n):
    blank = core.std.BlankClip(width=16, height=8, format=vs.GRAYS, length=n, keep=True)

    def fill(n, f):
        out = f.copy()
        np.asarray(out[0])[...] = n
        return out

    return core.std.ModifyFrame(blank, blank, fill)


@pytest.mark.parametrize(("length", "size"), [(10, 4), (8, 8), (3, 8), (7, 1), (13, 5)])
def test_fan_out_interleave_and_padding(length, size):
    src = _numbered(length)
    calls = []

    def compute(frames, first):
        values = [float(np.asarray(f[0])[0, 0]) for f in frames]
        calls.append((first, values))
        return values

    def apply(frame, value, n):
        frame.props["V"] = value
        frame.props["N"] = n

    out = batched_modify(src, src, size, compute, apply)
    assert out.num_frames == length
    got = [(f.props["V"], f.props["N"]) for f in out.frames()]
    assert got == [(float(i), i) for i in range(length)]
    eff = min(size, length)
    assert sorted(c[0] for c in calls) == list(range(0, length, eff))
    for first, values in calls:
        assert values == [float(v) for v in range(first, min(first + eff, length))]
    # random access and re-requests use the cache
    before = len(calls)
    for n in (length - 1, 0, length // 2, 0):
        assert out.get_frame(n).props["V"] == n
    assert len(calls) == before


def test_group_cache_concurrent_and_lru(monkeypatch):
    """Four threads ask for one group while it is being computed: it is computed once, all get its result."""
    waiting = threading.Semaphore(0)

    class CountingEvent(threading.Event):
        def wait(self, timeout=None):
            waiting.release()  # a request is about to wait for the group in progress
            return super().wait(timeout)

    monkeypatch.setattr("vsenhance.bridge.batching.threading.Event", CountingEvent)
    cache = GroupCache(2)
    count = []

    def slow():
        count.append(1)
        for _ in range(3):  # finish only once the three other requests wait on this computation
            assert waiting.acquire(timeout=10), "the other requests never waited for the pending group"
        return [1]

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(0, slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(count) == 1 and results == [[1]] * 4
    cache.get(1, lambda: [2])
    cache.get(2, lambda: [3])
    assert cache.get(0, lambda: ["again"]) == ["again"]  # evicted


def test_failure_is_not_cached():
    cache = GroupCache(4)
    with pytest.raises(RuntimeError):
        cache.get(0, lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert cache.get(0, lambda: [5]) == [5]


@pytest.mark.parametrize("prefetch", [1, 2, 8])
def test_groups_overlap_and_each_is_computed_once(prefetch):
    src = _numbered(24)
    calls, active, peak, lock = [], [0], [0], threading.Lock()

    def compute(frames, first):
        with lock:
            calls.append(first)
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return [float(np.asarray(f[0])[0, 0]) for f in frames]

    def apply(frame, value, n):
        frame.props["V"] = value

    out = batched_modify(src, src, 4, compute, apply, streams=2)
    old = core.num_threads
    core.num_threads = max(2, prefetch)
    try:
        got = [f.props["V"] for f in out.frames(prefetch=prefetch)]
        # many concurrent requests for already computed and for the same groups: nothing is recomputed
        futures = [out.get_frame_async(n) for n in (23, 0, 5, 23, 12, 0) * 3]
        assert [f.result().props["V"] for f in futures] == [float(n) for n in (23, 0, 5, 23, 12, 0) * 3]
    finally:
        core.num_threads = old
    assert got == [float(n) for n in range(24)]
    assert sorted(calls) == list(range(0, 24, 4)), "a group was computed twice or not at all"
    assert len(calls) == 6
    assert peak[0] == 2, "sequential reading never computed two groups at once (or more than streams)"


def test_concurrent_first_requests_of_one_group():
    src = _numbered(8)
    calls = []

    def compute(frames, first):
        calls.append(first)
        time.sleep(0.05)
        return [first] * len(frames)

    out = batched_modify(src, src, 8, compute, lambda frame, value, n: None, streams=2)
    old = core.num_threads
    core.num_threads = 8
    try:
        futures = [out.get_frame_async(n) for n in (7, 3, 5, 1, 6)]
        for f in futures:
            f.result()
    finally:
        core.num_threads = old
    assert calls == [0]


def test_background_failure_reaches_the_request_and_is_retried():
    src = _numbered(8)
    fail = [True]

    def compute(frames, first):
        if fail[0]:
            raise RuntimeError("model failed")
        return [first] * len(frames)

    def apply(frame, value, n):
        frame.props["V"] = value

    out = batched_modify(src, src, 4, compute, apply, streams=2)
    with pytest.raises(vs.Error, match="model failed"):
        out.get_frame(1)
    fail[0] = False
    assert out.get_frame(1).props["V"] == 0 and out.get_frame(6).props["V"] == 4
