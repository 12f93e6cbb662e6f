"""Time codes as people type them (``75``, ``11:56``, ``1:02:03.5``): the one parser, for the ranges filter,
``vsenhance cut`` and ``--audio-start``. Exact fractions, so frame arithmetic at 24000/1001 fps does not drift."""

from __future__ import annotations

import re
from fractions import Fraction

from .errors import ClipError

__all__ = ["parse_frame_number", "parse_time", "parse_time_exact"]

# ASCII digits only: \d and str.isdigit take "²" or "٣", which int() then refuses or reads; a length bound
# keeps Python's 4300-digit limit for int() out of reach
_TIME = re.compile(r"^(?:(?:([0-9]{1,9}):)?([0-9]{1,9}):)?([0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})$")
_FRAME = re.compile(r"[0-9]{1,15}")


def parse_frame_number(text: str) -> int | None:
    """``"1200"`` -> 1200; None for anything that is not a plain frame number (ASCII digits, at most 15)."""
    text = text.strip()
    return int(text) if _FRAME.fullmatch(text) else None


def parse_time(text: str, func: str) -> float:
    """``"75"`` -> 75.0, ``"11:56"`` -> 716.0, ``"1:02:03.5"`` -> 3723.5 (minutes/seconds after a colon < 60)."""
    return float(parse_time_exact(text, func))


def parse_time_exact(text: str, func: str) -> Fraction:
    """:func:`parse_time` as an exact fraction (``"0.1"`` is 1/10), for frame arithmetic at 24000/1001 fps."""
    m = _TIME.match(text.strip())
    if not m:
        raise ClipError(func, f"{text!r} is not a time.", "use seconds (75), MM:SS (11:56) or H:MM:SS.s.")
    hours, minutes, seconds = m.groups()
    sec = Fraction(seconds)
    if minutes is not None and sec >= 60:
        raise ClipError(func, f"{text!r} has {float(sec):g} seconds after a colon.", "keep seconds below 60.")
    if hours is not None and int(minutes) >= 60:
        raise ClipError(func, f"{text!r} has {minutes} minutes after a colon.", "keep minutes below 60.")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + sec
