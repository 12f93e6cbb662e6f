"""The cores this process may use: what both runtimes (PyTorch SR, ONNX Runtime pose) size their threads by.

A farm worker pinned to a share of the machine sees only its share (``sched_getaffinity``), so its threads follow.
"""

from __future__ import annotations

import os

__all__ = ["cpu_threads", "usable_cores"]


def usable_cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def cpu_threads(streams: int) -> int:
    """Threads per stream (torch's for SR, ONNX Runtime's for pose): the usable cores over ``streams``, so that
    the frames in flight together use the cores and no more."""
    return max(1, usable_cores() // max(1, streams))
