"""The one time-code parser (ranges, cut, --audio-start)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vsenhance.errors import ClipError
from vsenhance.timecode import parse_time, parse_time_exact


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("75", 75), ("11:56", 716), ("1:02:03.5", 3723.5), ("0:00:00", 0), ("2.25", 2.25), ("00:59.5", 59.5),
     ("90:00", 5400)],
)  # fmt: skip
def test_parse_time(text, seconds):
    assert parse_time(text, "cut") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1:60", "1:60:00", "-5", "1::2", "1:2:3:4", "1h"])
def test_parse_time_rejects(text):
    with pytest.raises(ClipError):
        parse_time(text, "cut")


def test_parse_time_exact_is_a_fraction():
    assert parse_time_exact("0.1", "cut") == Fraction(1, 10)
    assert parse_time_exact("1:02:03.5", "cut") == Fraction(7447, 2)
