"""The processes below a process, from Linux's /proc: the benchmarks signal a hung run's whole tree with it, and the
farm's tests find the workers below an encode."""

from __future__ import annotations

import contextlib
import os


def descendants(pid: int) -> list[int]:
    """Every PID below ``pid`` (its children, theirs, ...), from /proc/PID/task/TID/children."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
                found += kids
                todo += kids
    return found
