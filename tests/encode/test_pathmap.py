"""Counting each path's frames of the final clip from a few frames' maps, through trims and splices."""

from __future__ import annotations

from vsenhance.encode.pathmap import Sample, boundaries_to_render, map_paths

RANGES = {"a": [(13, 30), (40, 55)], "b": [(0, 3)]}


def _hybrid_a(n: int) -> Sample:
    ai = any(first <= n <= last for first, last in RANGES["a"])
    return Sample(n, "ai" if ai else "lanczos", "a", n)


def _bisected(frame_of, total: int, spread: list[int]) -> list[Sample]:
    """What the sampler does: the spread and both ends, then midpoints until every boundary is exact."""
    samples = [frame_of(n) for n in sorted({*spread, 0, total - 1})]
    while todo := [n for n in boundaries_to_render(samples) if n not in {s.frame for s in samples}]:
        samples += [frame_of(n) for n in todo]
    return samples


def test_ranges_between_the_samples_are_counted_exactly():
    samples = _bisected(_hybrid_a, 480, [12, 36, 60, 84])  # no sample inside 13-30 or 40-55
    mapped = map_paths(samples, RANGES, 480)
    assert mapped.counted and mapped.frames == {"ai": 34, "lanczos": 446}
    assert mapped.intervals["ai"] == [(13, 30), (40, 55)]
    assert len(samples) == 6  # one map throughout: nothing to bisect


def test_a_trimmed_hybrid_clip():  # clip[20:]: final frame n is hybrid frame n + 20
    samples = _bisected(lambda n: Sample(n, _hybrid_a(n + 20).path, "a", n + 20), 460, [100, 300])
    assert map_paths(samples, RANGES, 460).frames == {"ai": 11 + 16, "lanczos": 460 - 27}


def test_two_hybrid_clips_spliced():  # hybrid a[0:100] + hybrid b (50 frames): the boundary is bisected
    def frame_of(n: int) -> Sample:
        if n < 100:
            return _hybrid_a(n)
        return Sample(n, "ai" if n - 100 <= 3 else "lanczos", "b", n - 100)

    samples = _bisected(frame_of, 150, [25, 75, 125])
    mapped = map_paths(samples, RANGES, 150)
    assert mapped.counted and mapped.frames == {"ai": 34 + 4, "lanczos": 150 - 38}
    assert {s.frame for s in samples} >= {99, 100}  # found the splice


def test_frames_without_a_map_are_only_sampled():
    samples = [Sample(n, "ai" if n < 50 else "lanczos") for n in (0, 40, 80, 99)]
    mapped = map_paths(samples, {}, 100)
    assert not mapped.counted and mapped.frames == {"ai": 50, "lanczos": 50} and "samples" in mapped.note
    assert boundaries_to_render(samples) == []  # nothing to find without a map


def test_a_script_without_hybrid_clips_is_one_path():
    mapped = map_paths([Sample(0, None), Sample(99, None)], {}, 100)
    assert mapped.counted and mapped.frames == {"all": 100}
