"""Held-frame decisions: exact and near rules, key frames compared with the picture shown, order independence,
bounded random access, and the per-key result cache."""

from __future__ import annotations

import math
import random
import threading
import time

import numpy as np
import pytest
import vapoursynth as vs

from tests.bridge.doubler import SlowDoubler
from vsenhance import holds
from vsenhance.bridge.held import (
    NEAR_TOLERANCE,
    HeldRule,
    KeyFrames,
    ResultsByKey,
    map_planes_held,
    resolve_dedup,
)
from vsenhance.constants import HELD_IN_FLIGHT, HELD_PROP, KEY_INTERVAL
from vsenhance.errors import ClipError

core = vs.core


def picture_clip(pictures: list[np.ndarray], fmt: int = vs.GRAY8, reads: list[int] | None = None) -> vs.VideoNode:
    """A clip whose frame n shows ``pictures[n]`` in every plane; ``reads`` collects the frames rendered."""
    h, w = pictures[0].shape
    blank = core.std.BlankClip(width=w, height=h, format=fmt, length=len(pictures), fpsnum=24)
    fmt_obj = blank.format

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        if reads is not None:
            reads.append(n)
        out = f.copy()
        for p in range(fmt_obj.num_planes):
            plane = np.asarray(out[p])
            plane[...] = pictures[n][: plane.shape[0], : plane.shape[1]]
        return out

    return blank.std.ModifyFrame(blank, fill)


def reference_keys(pictures: list[np.ndarray], same) -> list[int]:
    """The rule written out: a key at every interval start, else the key of n - 1 when n is the same picture as
    that key, else n itself."""
    keys: list[int] = []
    for n, pic in enumerate(pictures):
        if n % KEY_INTERVAL == 0 or not same(pic, pictures[keys[-1]]):
            keys.append(n)
        else:
            keys.append(keys[-1])
    return keys


def held_pattern(length: int, seed: int) -> list[np.ndarray]:
    """Random pictures, each held for 1 to 4 frames."""
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < length:
        pic = rng.integers(0, 256, (16, 24), dtype=np.uint8)
        out += [pic] * int(rng.integers(1, 5))
    return out[:length]


@pytest.mark.parametrize("dedup", ["exact", "near", 3.5])
def test_decisions_match_the_rule_in_any_order(dedup) -> None:
    pictures = held_pattern(150, seed=1)
    rule = resolve_dedup(dedup, "t")
    expected = reference_keys(pictures, lambda a, b: np.array_equal(a, b))
    assert len(set(expected)) < 110  # many holds, across two key intervals
    keys = KeyFrames(picture_clip(pictures), rule)
    assert keys.keys(0, len(pictures) - 1) == expected
    order = list(range(len(pictures)))
    random.Random(2).shuffle(order)
    fresh = KeyFrames(picture_clip(pictures), rule)
    got = {n: fresh.keys(n, n)[0] for n in order}
    assert [got[n] for n in range(len(pictures))] == expected


def test_keys_restart_every_interval() -> None:
    pictures = [np.full((8, 8), 7, np.uint8)] * (3 * KEY_INTERVAL + 5)
    keys = KeyFrames(picture_clip(pictures), HeldRule(None)).keys(0, len(pictures) - 1)
    assert keys == [n - n % KEY_INTERVAL for n in range(len(pictures))]


@pytest.mark.parametrize("dedup", ["exact", "near"])
def test_random_access_reads_a_bounded_number_of_frames(dedup) -> None:
    static = [np.full((8, 8), 9, np.uint8)] * 6000  # the worst case: one long hold
    reads: list[int] = []
    keys = KeyFrames(picture_clip(static, reads=reads), resolve_dedup(dedup, "t"))
    assert keys.keys(5000, 5000) == [5000 - 5000 % KEY_INTERVAL]
    assert len(set(reads)) <= KEY_INTERVAL + 1
    assert min(reads) >= 5000 - 5000 % KEY_INTERVAL - 1


def test_moving_frames_decide_without_walking_back() -> None:
    rng = np.random.default_rng(3)
    moving = [rng.integers(0, 256, (8, 8), dtype=np.uint8) for _ in range(200)]
    for dedup in ("exact", "near"):
        reads: list[int] = []
        keys = KeyFrames(picture_clip(moving, reads=reads), resolve_dedup(dedup, "t"))
        assert keys.keys(150, 150) == [150]
        assert set(reads) == {149, 150}, dedup  # the frame and its neighbour


def test_a_drift_is_measured_against_the_key_not_the_neighbour() -> None:
    """A slow change of 0.6 codes a frame stays within 2x the tolerance of each neighbour, but the frames are
    compared with the key they would show, so no frame is held once it is more than the tolerance away."""
    base = np.full((16, 16), 100.0)
    pictures = [np.round(base + 0.6 * n).astype(np.uint8) for n in range(40)]
    tolerance = 2.0
    keys = KeyFrames(picture_clip(pictures), HeldRule(tolerance)).keys(0, 39)
    for n, key in enumerate(keys):
        assert abs(float(pictures[n].astype(int).mean() - pictures[key].astype(int).mean())) <= tolerance / 32 + 1e-9
    assert len(set(keys)) > 20  # it moved, so most frames are keys


@pytest.mark.parametrize("fmt", [vs.GRAY8, vs.YUV420P8, vs.YUV444P10, vs.RGB24, vs.RGBS])
@pytest.mark.parametrize("offset", [(0, 0), (3, 5), (21, 13)])
def test_a_small_patch_is_never_held(fmt, offset) -> None:
    """An 8x8 patch 24 codes brighter, on or off any block grid, in any format: never the same picture."""
    rng = np.random.default_rng(4)
    bits = core.get_video_format(fmt).bits_per_sample
    is_float = core.get_video_format(fmt).sample_type == vs.FLOAT
    scale = 1 / 255 if is_float else float(1 << (bits - 8))
    background = rng.integers(40, 200, (48, 64)).astype(np.float64)
    patched = background.copy()
    y, x = offset
    patched[y : y + 8, x : x + 8] += 24
    pictures = [(p * scale).astype(np.float32 if is_float else np.uint16) for p in (background, patched) * 3]
    keys = KeyFrames(picture_clip(pictures, fmt), HeldRule(NEAR_TOLERANCE)).keys(0, 5)
    assert keys == [0, 1, 2, 3, 4, 5]


def test_a_fade_is_never_held() -> None:
    rng = np.random.default_rng(5)
    photo = rng.integers(30, 220, (48, 64)).astype(np.float64)
    pictures = [np.round(photo * (1 - n / 48)).astype(np.uint8) for n in range(48)]  # 48 frames to black
    keys = KeyFrames(picture_clip(pictures, vs.YUV420P8), HeldRule(NEAR_TOLERANCE)).keys(0, 47)
    assert keys[:40] == list(range(40))  # the last frames are black: those are held


def test_near_holds_noise_of_a_few_codes() -> None:
    rng = np.random.default_rng(6)
    photo = rng.integers(30, 220, (48, 64)).astype(np.int16)
    noisy = np.clip(photo + rng.integers(-3, 4, photo.shape), 0, 255)
    pictures = [photo.astype(np.uint8), noisy.astype(np.uint8)]
    assert KeyFrames(picture_clip(pictures, vs.YUV420P8), HeldRule(NEAR_TOLERANCE)).keys(0, 1) == [0, 0]
    assert KeyFrames(picture_clip(pictures, vs.YUV420P8), HeldRule(None)).keys(0, 1) == [0, 1]


@pytest.mark.parametrize(
    ("value", "words"),
    [("fast", "not known"), ("", "not known"), (True, "not a choice"), (None, "not a choice"), (-1, "[0, 64]"),
     (math.nan, "[0, 64]"), (math.inf, "[0, 64]"), (65, "[0, 64]"), ([1], "not a choice")],
)  # fmt: skip
def test_bad_choices_are_one_line_naming_the_choices(value, words) -> None:
    with pytest.raises(ClipError) as err:
        resolve_dedup(value, "vsenhance.upscale")
    text = str(err.value)
    assert "\n" not in text and words in text
    assert '"off", "exact", "near"' in text and text.startswith("vsenhance.upscale: dedup=")


def test_choices() -> None:
    assert resolve_dedup("off", "t") is None
    assert resolve_dedup(" Exact ", "t") == HeldRule(None)
    assert resolve_dedup("near", "t") == HeldRule(NEAR_TOLERANCE)
    assert resolve_dedup(0, "t") == HeldRule(0.0)


def test_decisions_are_registered_while_the_graph_lives() -> None:
    keys = KeyFrames(picture_clip(held_pattern(10, seed=7)), HeldRule(None))
    assert holds.decisions(keys.id) is keys
    clip_id = keys.id
    del keys
    assert holds.decisions(clip_id) is None


def test_results_by_key_compute_each_key_once_across_groups() -> None:
    calls: list[list[int]] = []
    lock = threading.Lock()
    cache = ResultsByKey(100)

    def compute(todo: list[int]) -> list[str]:
        with lock:
            calls.append(list(todo))
        time.sleep(0.05)
        return [f"r{k}" for k in todo]

    groups = [[0, 0, 2, 2], [2, 5, 5, 7], [7, 7, 7, 11]]  # each group's first frame held from the group before
    results: list[dict[int, str]] = [{}] * 3
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, cache.get(groups[i], compute)))
               for i in range(3)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    computed = sorted(k for call in calls for k in call)
    assert computed == [0, 2, 5, 7, 11]
    assert all(results[i] == {k: f"r{k}" for k in groups[i]} for i in range(3))


def test_results_by_key_release_claims_on_failure() -> None:
    cache = ResultsByKey(10)

    def fail(todo):
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError):
        cache.get([1, 2], fail)
    assert cache.get([1, 2], lambda todo: [k * 10 for k in todo]) == {1: 10, 2: 20}


def test_held_frames_in_flight_leave_keys_computing_at_once() -> None:
    """Threes, three threads and the window ensure_threads gives two streams: each key runs ``fn`` once, two keys
    at once (held frames waiting for their key take no thread), every frame its key's output with its own props."""
    pictures = [np.full((8, 8), 10 * (n // 3), np.uint8) for n in range(24)]
    clip = picture_clip(pictures, vs.GRAYS)
    clip = core.std.ModifyFrame(clip, clip, lambda n, f: _with_prop(f, "Own", n))
    template = clip.std.BlankClip(width=16, height=16, keep=True)
    keys = KeyFrames(clip, resolve_dedup("exact", "test"))
    double = SlowDoubler()
    out = map_planes_held(clip, template, double, lambda: {"Made": 1}, keys, cache_frames=6)
    old = core.num_threads
    core.num_threads = 3
    try:
        frames = list(out.frames(prefetch=2 * HELD_IN_FLIGHT + 1))
    finally:
        core.num_threads = old
    assert sorted(double.calls) == [10.0 * k for k in range(8)]
    assert double.peak >= 2, "held frames in flight kept the next key from starting"
    for n, f in enumerate(frames):
        assert float(np.asarray(f[0])[5, 5]) == 10 * (n // 3)
        assert (f.props["Own"], f.props["Made"], f.props[HELD_PROP]) == (n, 1, n - n % 3)


def _with_prop(f: vs.VideoFrame, name: str, value: int) -> vs.VideoFrame:
    out = f.copy()
    out.props[name] = value
    return out
