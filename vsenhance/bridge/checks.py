"""Argument checks shared by the filters: one helper per kind of check, each raising ClipError naming the fix."""

from __future__ import annotations

import math
import os

from ..errors import ClipError

__all__ = ["check_bool", "check_number", "check_path"]


def check_number(
    func: str, name: str, value: object, lo: float, hi: float = math.inf, *, integer: bool = False
) -> None:
    """Raise ClipError unless ``value`` is a number in ``[lo, hi]`` (an ``int`` where ``integer``).

    ``bool`` is never a number here: ``tile=True`` is a mistake, not ``tile=1``. NaN is out of every range.
    """
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    if ok and lo <= value <= hi:
        return
    kind = "an integer" if integer else "a number"
    bounds = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"
    what = "is not " + kind if not ok else "is out of range"
    raise ClipError(func, f"{name}={value!r} {what}.", f"Pass {kind} {bounds}.")


def check_bool(func: str, name: str, value: object) -> None:
    """Raise ClipError unless ``value`` is True or False (``draw_face="no"`` would otherwise be truthy)."""
    if not isinstance(value, bool):
        raise ClipError(func, f"{name}={value!r} must be True or False.", f"Pass {name}=True or {name}=False.")


def check_path(func: str, name: str, value: object, what: str) -> None:
    """Raise ClipError unless ``value`` is a non-empty ``str`` or ``os.PathLike`` (``what``: e.g. "a model")."""
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ClipError(func, f"{name}={value!r} is not {what}.", f"Pass {what}.")
