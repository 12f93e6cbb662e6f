"""The driver loop: hand missing segments to ready workers, check what they finish, retry what fails.

The driver alone decides that a segment is done: after a worker reports :class:`Finished`, its own ffprobe
count of the segment file must match, and only then is the done-record rewritten (atomically). Workers never
touch the state files, so a worker killed at any moment cannot corrupt them. Written against the
:class:`~.farm.protocol.Pool` protocol only, so local processes and Ray actors share it (and a fake pool tests it).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import EncodeError
from .farm.protocol import (
    ClipSummary,
    Died,
    Event,
    Failed,
    Finished,
    FramesWritten,
    Pool,
    Probed,
    ProbeTask,
    Ready,
    RenderTask,
    WorkerInfo,
)
from .plan import Plan, Segment
from .state import DISK_FULL_TEXT, EncodeState, count_frames, disk_full_error, low_on_space

__all__ = ["DEFAULT_MAX_RETRIES", "FarmDisplay", "Scheduler", "describe_clip"]

log = logging.getLogger(__name__)
DEFAULT_MAX_RETRIES = 2  # attempts per segment after its first failure
MakeTask = Callable[[Segment, str, int], RenderTask]  # segment, worker id, attempt -> the task


class FarmDisplay(Protocol):
    """What the scheduler tells the progress display (vsenhance.encode.progress.ProgressDisplay)."""

    def worker_ready(self, worker: WorkerInfo) -> None: ...
    def worker_gone(self, worker_id: str) -> None: ...
    def segment_started(self, worker_id: str, seg: Segment) -> None: ...
    def worker_frames(self, worker_id: str, frames: int) -> None: ...
    def segment_done(self, worker_id: str, frames: int) -> None: ...
    def segment_discarded(self, worker_id: str) -> None: ...
    def message(self, text: str) -> None: ...
    def update(self, force: bool = False) -> None: ...


def describe_clip(clip: ClipSummary) -> str:
    return f"{clip.frames} frames, {clip.width}x{clip.height} {clip.format} {clip.fps_num}/{clip.fps_den} fps"


class Scheduler:
    """Tracks the workers of one pool (starting, idle, busy) and runs the segments through them."""

    def __init__(self, pool: Pool, *, max_retries: int = DEFAULT_MAX_RETRIES, poll_seconds: float = 0.25) -> None:
        self.pool = pool
        self.max_retries = max_retries
        self.poll_seconds = poll_seconds
        self.starting = 0  # started, neither Ready nor Died yet
        self.workers: dict[str, WorkerInfo] = {}  # every worker that became Ready and is alive
        self.idle: list[str] = []
        self.busy: dict[str, tuple[Segment, RenderTask]] = {}
        self.clip: ClipSummary | None = None
        self.clip_from: WorkerInfo | None = None
        self.start_errors: list[str] = []  # why workers died before they were Ready
        self._failed_start: dict[str, str] = {}  # worker id -> the error it reported before dying
        self.display: FarmDisplay | None = None
        self._pending: list[Event] = []

    # --- starting ------------------------------------------------------------------------------------
    def start(self) -> int:
        """Start the pool's workers; how many it started."""
        self.starting = self.pool.start()
        return self.starting

    def first_ready(self) -> ClipSummary:
        """Wait for the first worker to execute the script; its clip is the one the plan is made for."""
        while self.clip is None:
            events = self.pool.poll(self.poll_seconds)
            for i, event in enumerate(events):
                if isinstance(event, Ready):
                    self._ready(event)
                    self._pending.extend(events[i + 1 :])  # handled once the plan (and display) exist
                    break
                self._handle_before_ready(event)
        return self.clip

    def _handle_before_ready(self, event: Event) -> None:
        if isinstance(event, Died):
            self._died_starting(event)
        elif isinstance(event, Failed):
            self._failed_start[event.worker_id] = _join(event.message, event.stderr_tail)

    def _died_starting(self, event: Died) -> None:
        """No replacement: a script that fails to load would fail again (no retry storm)."""
        self.starting -= 1
        self.start_errors.append(self._failed_start.pop(event.worker_id, event.message))
        log.warning("worker %s could not start: %s", event.worker_id, event.message)
        if self.starting <= 0 and not self.workers:
            last = self.start_errors[-1] if self.start_errors else "(no message)"
            raise EncodeError(
                "encode",
                f"every worker failed to execute the script; the last one said:\n{_indent(last)}",
                "fix the script (try it with `vspipe --info SCRIPT -`) and run the same command again.",
            )

    def _ready(self, event: Ready) -> None:
        info = event.worker
        if self.clip is None:
            self.clip, self.clip_from = event.clip, info
        elif event.clip != self.clip:
            first = self.clip_from
            raise EncodeError(
                "encode",
                f"worker {info.worker_id} on {info.host} sees a different clip ({describe_clip(event.clip)}) "
                f"than worker {first.worker_id} on {first.host} ({describe_clip(self.clip)}).",
                "make the script, its sources and plugins the same on every node (shared storage at the same "
                "path) and run the same command again.",
            )
        self.starting -= 1
        self.workers[info.worker_id] = info
        self.idle.append(info.worker_id)
        place = f"GPU {info.gpu}" if info.gpu else (f"cpus {info.cpus}" if info.cpus else "cpu")
        text = f"worker {info.worker_id} ready on {info.host} ({place}, PID {info.pid}) after {info.load_seconds:.1f} s"
        if self.display is not None:
            self.display.worker_ready(info)
            self.display.message(text)
        else:
            log.info("%s", text)

    def probe(self, frames: tuple[int, ...]) -> dict[int, dict]:
        """The props of ``frames``, rendered by one ready worker (before any segment: colour, _AbsoluteTime).

        A worker that dies meanwhile is replaced and the probe given to the next one, up to ``max_retries``
        times, as a segment would be; the script raising on one of the frames is an EncodeError. Other events
        that arrive meanwhile are kept for :meth:`run`.
        """
        deaths = 0
        while True:
            worker_id = self._idle_worker()
            self.pool.submit(worker_id, ProbeTask(frames))
            died: Died | None = None
            while died is None:
                events = self.pool.poll(self.poll_seconds)
                for i, event in enumerate(events):
                    if not isinstance(event, Probed | Failed | Died) or event.worker_id != worker_id:
                        self._pending.append(event)
                    elif isinstance(event, Probed):
                        self._pending.extend(events[i + 1 :])
                        return event.props
                    elif isinstance(event, Failed):
                        raise EncodeError(
                            "encode",
                            f"reading the props of frames {list(frames)} failed: "
                            f"{_join(event.message, event.stderr_tail)}",
                            "fix the script (try it with `vspipe SCRIPT -s 0 -e 0 -`) and run the same command again.",
                        )
                    else:
                        self._pending.extend(events[i + 1 :])
                        died = event
                        break
            self._died(died, lambda *_: None)  # not busy with a segment: nothing to requeue
            deaths += 1
            if deaths > self.max_retries:
                raise EncodeError(
                    "encode",
                    f"{deaths} workers died reading the props of frames {list(frames)}; the last: {died.message}",
                    "check the machine (memory, GPU) and the script, then run the same command again.",
                )

    def _idle_worker(self) -> str:
        """A ready, idle worker, waiting for one (a replacement) if none is."""
        events, self._pending = self._pending, []
        while not self.idle:
            for event in events:
                if isinstance(event, Ready):
                    self._ready(event)
                elif isinstance(event, Died) and event.worker_id not in self.workers:
                    self._died_starting(event)  # raises once no worker is left to start
                else:
                    self._pending.append(event)
            events = [] if self.idle else self.pool.poll(self.poll_seconds)
        self._pending.extend(events)
        return self.idle[0]

    # --- running -------------------------------------------------------------------------------------
    def run(
        self, plan: Plan, state: EncodeState, done: dict[int, int], make_task: MakeTask, display: FarmDisplay
    ) -> None:
        """Encode every segment of ``plan`` not in ``done`` (updated in place, and on disk after each one)."""
        self.display = display
        for worker in self.workers.values():
            display.worker_ready(worker)
        queue = [seg for seg in plan.segments if seg.index not in done]
        attempts: Counter[int] = Counter()
        failures: Counter[int] = Counter()

        def fail(worker_id: str, seg: Segment, task: RenderTask, message: str, tail: str) -> None:
            with contextlib.suppress(FileNotFoundError):
                Path(task.partial).unlink()
            display.segment_discarded(worker_id)
            if DISK_FULL_TEXT in tail or DISK_FULL_TEXT in message:
                raise disk_full_error("encode", state.dir, f"segment {seg.index} could not be written")
            failures[seg.index] += 1
            where = _where(seg, self.workers.get(worker_id), worker_id)
            if failures[seg.index] > self.max_retries:
                raise EncodeError(
                    "encode",
                    f"{where} failed {failures[seg.index]} times; the last time: {message}"
                    + (f"\n{_indent(tail)}" if tail else ""),
                    "fix the cause above and run the same command again; finished segments are kept.",
                )
            display.message(f"{where} failed ({message}); trying it again")
            bisect.insort(queue, seg, key=lambda s: s.index)

        events, self._pending = self._pending, []
        while True:
            for event in events:
                if isinstance(event, Ready):
                    self._ready(event)
                elif isinstance(event, FramesWritten):
                    if event.worker_id in self.busy:
                        display.worker_frames(event.worker_id, event.frames)
                elif isinstance(event, Finished):
                    if event.worker_id not in self.busy:
                        continue
                    seg, task = self.busy.pop(event.worker_id)
                    self.idle.append(event.worker_id)
                    got = count_frames(Path(task.final))
                    if got == seg.frames:
                        log.debug(
                            "segment %d (frames %d-%d) done by %s in %.2f s, first frame after %.2f s",
                            seg.index, seg.first, seg.last, event.worker_id, event.seconds, event.first_frame_seconds,
                        )  # fmt: skip
                        done[seg.index] = seg.frames
                        state.write_done(plan, done)
                        display.segment_done(event.worker_id, seg.frames)
                    else:
                        full = low_on_space(state.dir)  # before the short file is deleted: it fills the disk
                        with contextlib.suppress(FileNotFoundError):
                            Path(task.final).unlink()
                        if full:
                            raise disk_full_error("encode", state.dir, f"segment {seg.index} came out short")
                        fail(event.worker_id, seg, task, f"the encoded file holds {got} frames, not {seg.frames}", "")
                elif isinstance(event, Failed):
                    if event.worker_id in self.busy:
                        seg, task = self.busy.pop(event.worker_id)
                        self.idle.append(event.worker_id)
                        fail(event.worker_id, seg, task, event.message, event.stderr_tail)
                    elif event.worker_id not in self.workers:
                        self._handle_before_ready(event)
                elif isinstance(event, Died):
                    self._died(event, fail)
            if not queue and not self.busy:
                return
            while queue and self.idle:
                worker_id = self.idle.pop(0)
                seg = queue.pop(0)
                attempts[seg.index] += 1
                task = make_task(seg, worker_id, attempts[seg.index])
                self.busy[worker_id] = (seg, task)
                self.pool.submit(worker_id, task)
                display.segment_started(worker_id, seg)
            if not self.idle and not self.busy and self.starting <= 0:
                last = self.start_errors[-1] if self.start_errors else "(no message)"
                raise EncodeError(
                    "encode",
                    f"no worker is left to encode the {len(queue)} remaining segments; the last error:\n"
                    f"{_indent(last)}",
                    "fix the cause and run the same command again; finished segments are kept.",
                )
            display.update()
            events = self.pool.poll(self.poll_seconds)

    def _died(self, event: Died, fail: Callable[[str, Segment, RenderTask, str, str], None]) -> None:
        worker_id = event.worker_id
        if worker_id not in self.workers:
            self._died_starting(event)
            return
        info = self.workers[worker_id]
        log.warning("worker %s on %s died: %s", worker_id, info.host, event.message)
        self.start_errors.append(f"worker {worker_id} on {info.host} died: {event.message}")
        if worker_id in self.busy:
            seg, task = self.busy.pop(worker_id)
            fail(worker_id, seg, task, f"the worker died: {event.message}", "")
        del self.workers[worker_id]
        if worker_id in self.idle:
            self.idle.remove(worker_id)
        if self.display is not None:
            self.display.worker_gone(worker_id)
        if self.pool.replace(worker_id) is not None:
            self.starting += 1


def _where(seg: Segment, info: WorkerInfo | None, worker_id: str) -> str:
    on = f"worker {worker_id} ({info.host})" if info is not None else f"worker {worker_id}"
    return f"segment {seg.index} (frames {seg.first}-{seg.last}) on {on}"


def _join(message: str, tail: str) -> str:
    return message + (f"\n{tail}" if tail else "")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "(no output)").splitlines())
