import threading

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

    out, cache = batched_modify(src, src, size, compute, apply)
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
    assert len(calls) == before and cache.computed == before


def test_group_cache_concurrent_and_lru():
    cache = GroupCache(2)
    count = []
    gate = threading.Event()

    def slow():
        count.append(1)
        gate.wait(2)
        return [1]

    threads = [threading.Thread(target=cache.get, args=(0, slow)) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(count) == 1
    cache.get(1, lambda: [2])
    cache.get(2, lambda: [3])
    assert cache.get(0, lambda: ["again"]) == ["again"]  # evicted


def test_failure_is_not_cached():
    cache = GroupCache(4)
    with pytest.raises(RuntimeError):
        cache.get(0, lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert cache.get(0, lambda: [5]) == [5]
