"""Argument checks shared by the filters: one helper per kind of check, each raising ClipError naming the fix."""

from __future__ import annotations

import math
import os
from typing import Any, get_args

from ..errors import ClipError

__all__ = ["check_bool", "check_choice", "check_number", "check_path"]


def check_number(
    func: str, name: str, value: object, lo: float, hi: float = math.inf, *, integer: bool = False
) -> None:
    """Raise ClipError unless ``value`` is a number in ``[lo, hi]`` (an ``int`` where ``integer``).

    ``bool`` is never a number here: ``tile=True`` is a mistake, not ``tile=1``. NaN is out of every range.
    """
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        # an int is never NaN: math.isnan(10**400) would raise OverflowError on the way to a float
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not (isinstance(value, float) and math.isnan(value))
        )
    if ok and lo <= value <= hi:
        return
    kind = "an integer" if integer else "a number"
    bounds = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"
    what = "is not " + kind if not ok else "is out of range"
    shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:20]}... ({len(repr(value))} characters)"
    raise ClipError(func, f"{name}={shown} {what}.", f"Pass {kind} {bounds}.")


MAX_FRAME_SIDE = 1 << 15
MAX_FRAME_PIXELS = 1 << 28
"""The largest frame a filter makes: 32768 on a side, 268 MP (16384x16384). VapourSynth aborts the whole
process (SIGABRT) when it cannot allocate a plane, so a size past this is refused when the filter is made."""


def check_frame_size(func: str, width: int, height: int, why: str) -> None:
    """Raise ClipError when a ``width`` x ``height`` frame (``why``: what makes it) is past what a filter makes."""
    if width <= MAX_FRAME_SIDE and height <= MAX_FRAME_SIDE and width * height <= MAX_FRAME_PIXELS:
        return
    raise ClipError(
        func,
        f"{why} gives {width}x{height} frames ({width * height / 1e6:.0f} MP), past the largest frame it makes "
        f"({MAX_FRAME_SIDE} on a side, {MAX_FRAME_PIXELS / 1e6:.0f} MP).",
        "Pass a smaller scale, width or height, or upscale a crop.",
    )


def check_choice(func: str, name: str, value: object, choices: Any, fix: str | None = None) -> Any:
    """``value`` as one of ``choices`` (a ``Literal`` of strings, or a tuple of them), spaces and case ignored
    (``precision="FP32 "`` is ``"fp32"``: names arrive as people type them); else ClipError listing them.

    Returns the normalized string, typed as the caller's ``Literal`` (``cast`` it there). ``fix``: the fix to
    say when the option takes more than these names (``dedup`` takes a number too)."""
    options = choices if isinstance(choices, tuple) else get_args(choices)
    name_of = value.strip().lower() if isinstance(value, str) else value
    if name_of in options:
        return name_of
    raise ClipError(func, f"{name}={name_of!r} is not known.", fix or f"Use one of {', '.join(options)}.")


def check_bool(func: str, name: str, value: object) -> None:
    """Raise ClipError unless ``value`` is True or False (``draw_face="no"`` would otherwise be truthy)."""
    if not isinstance(value, bool):
        raise ClipError(func, f"{name}={value!r} must be True or False.", f"Pass {name}=True or {name}=False.")


def check_path(func: str, name: str, value: object, what: str) -> None:
    """Raise ClipError unless ``value`` is a non-empty ``str`` or ``os.PathLike`` (``what``: e.g. "a model")."""
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ClipError(func, f"{name}={value!r} is not {what}.", f"Pass {what}.")
