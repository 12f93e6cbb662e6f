"""Pose's runtime decisions, made once when the filter is made (as SR's ``resolve_device``/``resolve_dtype``/
``cpu_threads`` are): frames per model call, groups computed at once, ONNX Runtime threads per session.

The filter checks its arguments, asks :func:`plan_runtime`, and runs; nothing here touches a frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import ClipError
from ..cores import cpu_threads
from .session import uses_gpu

__all__ = ["PoseRuntime", "auto_batch", "plan_runtime"]

log = logging.getLogger(__name__)

MAX_BATCH = 4096
MAX_STREAMS = 64


@dataclass(frozen=True)
class PoseRuntime:
    batch: int  # frames per model call, a multiple of det_interval
    streams: int  # groups of ``batch`` frames computed at once
    threads: int  # ONNX Runtime intra-op threads per session


def _mem_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (what the kernel can give without swapping), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def auto_batch(num_frames: int, width: int, height: int, det_interval: int = 1) -> int:
    """``max(8, min(16, frames // 4))`` capped at the clip length and at a quarter of the available memory,
    rounded up to a multiple of ``det_interval``."""
    b = min(max(8, min(16, num_frames // 4)), num_frames)
    avail = _mem_available()
    if avail:
        per_frame = width * height * 3 * 4 * 3 + 640 * 640 * 3 * 4 * 2 + 256 * 192 * 3 * 8
        b = max(1, min(b, int(avail * 0.25) // per_frame))
    if det_interval > 1:
        b = -(-b // det_interval) * det_interval
    return max(1, b)


def plan_runtime(
    num_frames: int,
    width: int,
    height: int,
    *,
    batch: int | str,
    det_interval: int,
    streams: int | str,
    threads: int | None,
    providers: str | Sequence[str],
    func: str,
) -> PoseRuntime:
    """The runtime for a clip, from checked arguments (``batch`` and ``streams`` numbers or ``"auto"``).

    ``streams="auto"``: 2 with a GPU provider, so that one group's detector runs while the other's pose model
    runs and the CPU's pre/post-processing overlaps the device; 1 on the CPU alone, where two 1-thread groups
    at once measured no faster than one group on all cores and hold twice the activations (docs/pose.md).
    ``threads`` defaults to the cores over ``streams``, so the runs in flight share the cores.
    """
    if batch == "auto":
        size = auto_batch(num_frames, width, height, det_interval)
    else:
        size = int(batch)
        if det_interval > 1 and size % det_interval:
            size = -(-size // det_interval) * det_interval
            log.info("%s: batch rounded up to %d, a multiple of det_interval=%d", func, size, det_interval)
    size = min(size, -(-num_frames // det_interval) * det_interval)
    groups = -(-num_frames // size)
    if streams == "auto":
        streams = 2 if uses_gpu(providers, func) else 1
    elif not isinstance(streams, int):
        raise ClipError(func, f"streams={streams!r} is not a number.", f'Pass "auto" or 1-{MAX_STREAMS}.')
    count = min(int(streams), groups)
    return PoseRuntime(batch=size, streams=count, threads=threads or cpu_threads(count))
