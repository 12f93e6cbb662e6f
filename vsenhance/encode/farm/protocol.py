"""What the driver and the render workers say to each other, whatever carries it (a pipe or Ray).

The driver (``vsenhance encode``) alone owns the plan, the done-record and the queue. A *pool* starts
workers, hands each one task at a time and reports what happened as events. Two pools implement
:class:`Pool`: local worker processes and Ray actors. The scheduler is written once against this protocol and
unit-tested with a fake pool.

A worker executes the script once (like vspipe), then for every :class:`RenderTask` pipes frames
``first..last`` (absolute, inclusive) as y4m into its own ``ffmpeg`` child whose argv the driver built, whose
output is ``partial``; when ffmpeg exits 0 it renames ``partial`` to ``final`` and reports :class:`Finished`.
The driver counts the segment as done only after it has decoded every frame of ``final`` itself.
"""

from __future__ import annotations

import contextlib
import queue
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ClipSummary",
    "Died",
    "Event",
    "Failed",
    "Finished",
    "FramesWritten",
    "Pool",
    "ProbeTask",
    "Probed",
    "Ready",
    "RenderTask",
    "Started",
    "Task",
    "WorkerInfo",
    "drain",
]


@dataclass(frozen=True)
class ClipSummary:
    """Output 0 of the script, as the worker sees it after executing it (no frame is rendered for this)."""

    frames: int
    fps_num: int
    fps_den: int
    width: int  # 0 for a variable size
    height: int
    format: str | None  # VapourSynth format name, None for a variable format
    color_family: str | None  # "YUV", "GRAY", "RGB" or None


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str  # unique in one encode: "w0", "w1", ... (a replacement gets a new id)
    host: str
    pid: int
    gpu: str | None  # the CUDA device(s) it sees (CUDA_VISIBLE_DEVICES), None on the CPU
    cpus: str | None  # cores it is pinned to, e.g. "0-3", or None when not pinned
    load_seconds: float  # time to execute the script
    script_sha256: str = ""  # of the script bytes it executed: every worker renders the script the plan was made of


@dataclass(frozen=True)
class RenderTask:
    index: int  # segment index
    first: int  # absolute frame numbers of the script's output, inclusive
    last: int
    ffmpeg_argv: tuple[str, ...]  # complete ffmpeg argv: y4m on pipe:0 in, ``partial`` out
    partial: str  # unique per attempt, in the state folder
    final: str
    attempt: int = 1


@dataclass(frozen=True)
class ProbeTask:
    """Render ``frames`` and report their props (colour description, HDR metadata, _AbsoluteTime...); and
    the key frames of ``spans`` (held-frame decisions' id, first, last): read from the source, no model runs."""

    frames: tuple[int, ...]
    spans: tuple[tuple[str, int, int], ...] = ()


Task = RenderTask | ProbeTask


@dataclass(frozen=True)
class Started:
    """A worker process was started and is executing the script (Ready or Died follows); with ``placing``, a Ray
    actor was asked for and waits for the cluster to place it (a Started without it follows once its worker
    executes the script)."""

    worker_id: str
    script: str  # the script's file name, for "w0 executing film.vpy: 2m 10s"
    placing: bool = False


@dataclass(frozen=True)
class Ready:
    worker: WorkerInfo
    clip: ClipSummary


@dataclass(frozen=True)
class FramesWritten:
    worker_id: str
    index: int
    frames: int  # frames of this segment handed to ffmpeg so far


@dataclass(frozen=True)
class Finished:
    worker_id: str
    index: int
    seconds: float  # render + encode wall time of the segment
    first_frame_seconds: float  # time from the task's start to its first frame


@dataclass(frozen=True)
class Probed:
    worker_id: str
    props: dict[int, dict[str, int | float | str | list]]  # frame -> its JSON-able props
    open_files: tuple[str, ...] = ()  # regular files the worker has open after rendering them: the sources
    keys: tuple[tuple[int, ...], ...] = ()  # per span of the task, the key frame of each of its frames


@dataclass(frozen=True)
class Failed:
    """The task failed but the worker lives on (the script raised on a frame, ffmpeg exited non-zero)."""

    worker_id: str
    index: int | None  # segment index, None for a ProbeTask or a failure while starting
    message: str  # one line, absolute frame numbers
    stderr_tail: str  # the failing tool's (or the script's) last lines


@dataclass(frozen=True)
class Died:
    """The worker is gone (killed, OOM, lost node, failed to start); its task, if any, must be requeued."""

    worker_id: str
    index: int | None
    message: str


Event = Started | Ready | FramesWritten | Finished | Probed | Failed | Died


class Pool(Protocol):
    """Local processes or Ray actors; the scheduler sees only this."""

    def start(self) -> int:
        """Begin starting the workers; each reports :class:`Ready` (or :class:`Died`) through :meth:`poll`.
        Returns how many it started (a Ray pool knows only once connected), so the driver can tell when every
        one of them failed to execute the script."""

    def submit(self, worker_id: str, task: Task) -> None:
        """Give an idle, ready worker one task."""

    def poll(self, timeout: float) -> list[Event]:
        """Events since the last call, waiting up to ``timeout`` seconds for the first one."""

    def replace(self, worker_id: str) -> str | None:
        """Start a fresh worker in place of a dead one; its new id (it reports Ready later), or None if the
        pool cannot (e.g. Ray restarts actors itself, or the node is gone)."""

    def stop_worker(self, worker_id: str) -> None:
        """End one worker now, however stuck (SIGKILL reaches a stopped or hung process); it then reports
        :class:`Died` with the task it held, as any dead worker does."""

    def shutdown(self) -> None:
        """End every worker and its ffmpeg child; partial files of unfinished tasks are removed."""


def drain(events: queue.SimpleQueue[Event], timeout: float) -> list[Event]:
    """What a pool's :meth:`Pool.poll` returns: every queued event, waiting up to ``timeout`` for the first."""
    try:
        out = [events.get(timeout=max(0.0, timeout))]
    except queue.Empty:
        return []
    with contextlib.suppress(queue.Empty):
        while True:
            out.append(events.get_nowait())
    return out
