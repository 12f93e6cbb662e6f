"""Counting computed frames: held pieces from samples, distinct keys per segment, and the spread count beyond
the budget, against a written-out rule."""

from __future__ import annotations

from vsenhance.constants import KEY_INTERVAL
from vsenhance.encode.heldcount import HeldPiece, count_computed, held_pieces
from vsenhance.encode.pathmap import Sample, boundaries_to_render, sample


def twos(n: int) -> int:
    """Key of frame n of a clip drawn on twos, with a key every KEY_INTERVAL frames."""
    return n - n % KEY_INTERVAL if n % KEY_INTERVAL == 0 else n - n % 2


def lookup_of(rule, log: list | None = None):
    def lookup(spans):
        if log is not None:
            log.extend(spans)
        return [[rule(n) for n in range(a, b + 1)] for _, a, b in spans]

    return lookup


def test_samples_map_their_held_pieces_through_a_trim() -> None:
    props = {n: {"VSEnhanceDedup": "held0", "VSEnhanceDedupFrame": n + 100} for n in (0, 10, 99)}
    samples = [sample(n, p) for n, p in props.items()]
    assert held_pieces(samples, 100) == [HeldPiece(0, 99, "held0", 100)]
    assert held_pieces(samples, 101) is None  # the last frame was not seen


def test_a_splice_is_bisected_and_left_unknown_until_found() -> None:
    a = [Sample(n, None, held=("held0", 0)) for n in (0, 4)]
    b = [Sample(n, None, held=("held1", -10)) for n in (10, 19)]
    assert boundaries_to_render(a + b) == [7]
    assert held_pieces(a + b, 20) is None
    found = a + b + [Sample(9, None, held=("held1", -10)), Sample(5, None, held=("held0", 0))]
    found += [Sample(n, None, held=("held1", -10)) for n in (6, 7, 8)]
    assert held_pieces(found, 20) == [HeldPiece(0, 5, "held0", 0), HeldPiece(6, 19, "held1", -10)]


def test_each_segment_computes_its_distinct_keys_and_a_held_start_once_more() -> None:
    pieces = [HeldPiece(0, 39, "held0", 0)]
    segments = [(i, 7 * i, min(39, 7 * i + 6)) for i in range(6)]
    got = count_computed(pieces, [(0, 39)], segments, lookup_of(twos))
    assert got.counted and got.ai_frames == 40
    expected = {i: len({twos(n) for n in range(a, b + 1)}) for i, a, b in segments}
    assert got.segments == expected and got.computed == 23
    assert got.describe() == "AI frames 40, computed 23 (42 % held)"


def test_only_ai_frames_of_reusing_pieces_are_read() -> None:
    log: list = []
    pieces = [HeldPiece(0, 19, "held0", 5), HeldPiece(20, 29, None, 0)]  # the second piece: no reuse
    got = count_computed(pieces, [(4, 9), (18, 24)], [(0, 0, 29)], lookup_of(twos, log))
    assert log == [("held0", 9, 14), ("held0", 23, 24)]
    assert got.segments == {0: len({twos(n) for n in range(9, 15)}) + len({twos(23), twos(24)}) + 5}
    assert got.ai_frames == 13


def test_beyond_the_budget_whole_key_intervals_stand_for_the_rest() -> None:
    log: list = []
    total = 100 * KEY_INTERVAL
    segments = [(i, i * 1000, min(total - 1, i * 1000 + 999)) for i in range(total // 1000 + 1)]
    segments = [s for s in segments if s[1] < total]
    got = count_computed([HeldPiece(0, total - 1, "held0", 0)], [(0, total - 1)], segments,
                         lookup_of(twos, log), budget=10 * KEY_INTERVAL)  # fmt: skip
    assert not got.counted and got.frames_read <= 10 * KEY_INTERVAL + KEY_INTERVAL
    assert all(b - a + 1 <= KEY_INTERVAL and a % KEY_INTERVAL == 0 for _, a, b in log)  # whole intervals
    assert abs(got.computed - total / 2) <= total * 0.02  # the share of twos
    assert "from" in got.describe()
