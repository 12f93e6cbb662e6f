"""The shared argument checks: check_choice for the Literal options (the others are held by test_bad_input)."""

from __future__ import annotations

from typing import Literal

import pytest

from vsenhance.bridge.checks import check_choice
from vsenhance.errors import ClipError

Colour = Literal["red", "green"]


def test_check_choice_takes_names_as_people_type_them_and_lists_the_choices():
    assert check_choice("f", "colour", " GREEN ", Colour) == "green"
    assert check_choice("f", "colour", "red", ("red", "blue")) == "red"
    for bad in ("purple", None, 1, True, ["red"]):
        with pytest.raises(ClipError, match=r"^f: colour=.* is not known\. Fix: Use one of red, green\.$"):
            check_choice("f", "colour", bad, Colour)
    with pytest.raises(ClipError, match=r"Fix: Pass red, green or a number\."):
        check_choice("f", "colour", "x", Colour, "Pass red, green or a number.")
