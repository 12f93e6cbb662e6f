"""The driver loop: hand missing segments to ready workers, check what they finish, retry what fails.

The driver alone decides that a segment is done: after a worker reports :class:`Finished`, it decodes every
frame of the segment file itself (:mod:`.verify`), and only then is the done-record rewritten (atomically). Workers never
touch the state files, so a worker killed at any moment cannot corrupt them. Written against the
:class:`~.farm.protocol.Pool` protocol only, so local processes and Ray actors share it (and a fake pool tests it).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Protocol

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
    Started,
    WorkerInfo,
)
from .plan import Plan, Segment
from .progress import format_duration
from .state import DISK_FULL_TEXT, EncodeState, disk_full_error, low_on_space, unreadable_error
from .verify import Record, Verdict

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_STALL_SECONDS", "FarmDisplay", "Scheduler", "describe_clip"]

log = logging.getLogger(__name__)
DEFAULT_MAX_RETRIES = 2  # attempts per segment after its first failure
DEFAULT_STALL_SECONDS = 900.0  # a worker that delivers no frame for this long while rendering is ended
EXECUTING_REPORT_SECONDS = 10.0  # how often a worker still executing the script is reported
MakeTask = Callable[[Segment, str, int], RenderTask]  # segment, worker id, attempt -> the task


class FarmDisplay(Protocol):
    """What the scheduler tells the progress display (vsenhance.encode.progress.ProgressDisplay)."""

    def worker_ready(self, worker: WorkerInfo) -> None: ...
    def worker_gone(self, worker_id: str) -> None: ...
    def segment_started(self, worker_id: str, seg: Segment) -> None: ...
    def worker_frames(self, worker_id: str, frames: int) -> None: ...
    def segment_done(self, worker_id: str, frames: int) -> None: ...
    def segment_discarded(self, worker_id: str) -> None: ...
    def segment_rejected(self, seg: Segment) -> None: ...
    def segment_rendered(self, seg: Segment, seconds: float) -> None: ...
    def message(self, text: str) -> None: ...
    def update(self, force: bool = False) -> None: ...


def describe_clip(clip: ClipSummary) -> str:
    return f"{clip.frames} frames, {clip.width}x{clip.height} {clip.format} {clip.fps_num}/{clip.fps_den} fps"


@dataclass
class _Run:
    """What :meth:`Scheduler.run` works through: the plan's missing segments and their attempts."""

    plan: Plan
    state: EncodeState
    done: dict[int, Record]
    make_task: MakeTask
    ffmpeg: Path  # the driver's decoder for its check of each finished segment
    display: FarmDisplay
    queue: list[Segment]
    order: Callable[[Segment], tuple[int, int]]  # the queue's order, kept when a segment is queued again
    attempts: Counter[int] = field(default_factory=Counter)
    failures: Counter[int] = field(default_factory=Counter)
    # the driver's checks of finished segments, one at a time in the order they finished, beside the rendering:
    # a worker is given its next segment at once, not after its last one was decoded
    checker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="check"))
    checking: dict[Future[Verdict], tuple[str, Segment, RenderTask]] = field(default_factory=dict)


class Scheduler:
    """Tracks the workers of one pool (starting, idle, busy) and runs the segments through them.

    Every event of the pool goes through one :meth:`_dispatch`, whatever the driver waits for (the first ready
    worker, a probe's props, the segments), so an event is handled the same way whenever it arrives.
    """

    def __init__(
        self, pool: Pool, *, max_retries: int = DEFAULT_MAX_RETRIES, poll_seconds: float = 0.25,
        stall_seconds: float = DEFAULT_STALL_SECONDS, tell: Callable[[str], None] = log.info,
        clock: Callable[[], float] = time.monotonic, script_sha256: str | None = None,
    ) -> None:  # fmt: skip
        self.pool = pool
        self.script_sha256 = script_sha256  # what every worker must have executed (None: not checked)
        self.max_retries = max_retries
        self.poll_seconds = poll_seconds
        self.stall_seconds = stall_seconds
        self.tell = tell  # status lines before the progress display exists
        self.clock = clock
        self._activity: dict[str, float] = {}  # busy (or probing) worker -> when it last delivered a frame
        self._stalled: dict[str, float] = {}  # worker -> the seconds without a frame after which it was ended
        self._watched_at: float | None = None  # when the stall watch last ran
        self._executing: dict[str, tuple[str, float]] = {}  # started worker -> (what it is doing, since when)
        self._last_report = clock()
        self.starting = 0  # started, neither Ready nor Died yet
        self.workers: dict[str, WorkerInfo] = {}  # every worker that became Ready and is alive
        self.idle: list[str] = []
        self.busy: dict[str, tuple[Segment, RenderTask]] = {}
        self.clip: ClipSummary | None = None
        self.clip_from: WorkerInfo | None = None
        self.start_errors: list[str] = []  # why workers died before they were Ready
        self._failed_start: dict[str, str] = {}  # worker id -> the error it reported before dying
        self.display: FarmDisplay | None = None
        self._probing: str | None = None  # the worker holding a ProbeTask
        self._probe_answer: Probed | Failed | Died | None = None
        self._probe_deaths = 0
        self._run: _Run | None = None

    # --- waiting ----------------------------------------------------------------------------------------
    def start(self) -> int:
        """Start the pool's workers; how many it started."""
        self.starting = self.pool.start()
        return self.starting

    def first_ready(self) -> ClipSummary:
        """Wait for the first worker to execute the script; its clip is the one the plan is made for."""
        self._wait(lambda: self.clip is not None)
        assert self.clip is not None
        return self.clip

    def probe(self, frames: tuple[int, ...], spans: tuple[tuple[str, int, int], ...] = ()) -> Probed:
        """The props of ``frames`` (and the files then open), rendered by one ready worker before any segment,
        and the key frames of ``spans`` (held-frame decisions: :class:`ProbeTask`).

        A worker that dies meanwhile is replaced and the probe given to the next one, up to ``max_retries``
        times, as a segment would be; the script raising on one of the frames is an EncodeError.
        """
        what = f"the props of frames {list(frames)}" if frames else f"the key frames of {len(spans)} spans"
        while True:
            self._wait(lambda: bool(self.idle))
            self._probing, self._probe_answer = self.idle[0], None
            self._activity[self._probing] = self.clock()
            self.pool.submit(self._probing, ProbeTask(frames, spans))
            self._wait(lambda: self._probe_answer is not None)
            answer, self._probing = self._probe_answer, None
            if isinstance(answer, Probed):
                return answer
            if isinstance(answer, Failed):
                raise EncodeError(
                    "encode",
                    f"reading {what} failed: {_join(answer.message, answer.stderr_tail)}",
                    "fix the script (try it with `vspipe SCRIPT -s 0 -e 0 -`) and run the same command again.",
                )
            self._probe_deaths += 1  # counted over every probe of the job, as a segment's attempts are
            if self._probe_deaths > self.max_retries:
                raise EncodeError(
                    "encode",
                    f"{self._probe_deaths} workers died reading {what}; the last: {answer.message}",
                    "check the machine (memory, GPU) and the script, then run the same command again.",
                )

    def _wait(self, until: Callable[[], bool]) -> None:
        """Handle events until ``until()`` holds; raises once no worker is left to make it hold."""
        while not until():
            for event in self.pool.poll(self.poll_seconds):
                self._dispatch(event)
            self._watch()
            if not until() and not self.workers and self.starting <= 0:
                self._no_worker_left()

    # --- running -------------------------------------------------------------------------------------
    def run(
        self, plan: Plan, state: EncodeState, done: dict[int, Record], make_task: MakeTask, display: FarmDisplay,
        ffmpeg: Path, ai_frames: dict[int, int] | None = None,
    ) -> None:  # fmt: skip
        """Encode every segment of ``plan`` not in ``done`` (updated in place, and on disk after each one).

        ``ai_frames`` (segment -> its AI frames): the segments with the most go first (longest first, as Av1an
        orders them), so the last minutes of a multi-worker encode are not one worker alone on a long AI segment.
        """
        self.display = display
        for worker in self.workers.values():
            display.worker_ready(worker)
        ai = ai_frames or {}

        def order(seg: Segment) -> tuple[int, int]:
            return -ai.get(seg.index, 0), seg.index

        missing = sorted((s for s in plan.segments if s.index not in done), key=order)
        run = self._run = _Run(plan, state, done, make_task, ffmpeg, display, missing, order)
        try:
            while run.queue or self.busy or run.checking:
                self._hand_out(run)
                if run.queue and not self.idle and not self.busy and self.starting <= 0:
                    self._no_worker_left()
                display.update()
                for event in self.pool.poll(self.poll_seconds):
                    self._dispatch(event)
                self._watch()
                self._collect_checks(run)
        except Exception:
            self._record_checked(run)  # the encode stops: what was already verified is kept on record
            raise
        finally:
            run.checker.shutdown(wait=False, cancel_futures=True)

    def _watch(self) -> None:
        """End workers that stalled (no frame for ``stall_seconds``); say which are still executing the script."""
        now = self.clock()
        away = now - self._watched_at - self.poll_seconds if self._watched_at is not None else 0.0
        self._watched_at = now
        if away > max(2.0, self.stall_seconds / 2):
            # the driver itself was away (stopped with SIGSTOP, a suspended machine, swapping): the frames
            # its workers made meanwhile are not read yet, so that time counts for no worker
            log.info("the driver did not watch its workers for %s: their stall clocks restart", format_duration(away))
            self._activity = {worker_id: since + away for worker_id, since in self._activity.items()}
        watched = [*self.busy, *([self._probing] if self._probing else [])]
        for worker_id in watched:
            quiet = now - self._activity.get(worker_id, now)
            if worker_id not in self._stalled and quiet > self.stall_seconds:
                self._stalled[worker_id] = quiet
                self._say(f"worker {worker_id} delivered no frame for {format_duration(quiet)} "
                          f"(--stall-timeout {self.stall_seconds:g}): ending it")  # fmt: skip
                self.pool.stop_worker(worker_id)
        if self._executing and now - self._last_report >= EXECUTING_REPORT_SECONDS:
            self._last_report = now
            for worker_id, (doing, since) in sorted(self._executing.items()):
                self._say(f"{worker_id} {doing}: {format_duration(now - since)}")

    def _say(self, text: str) -> None:
        if self.display is not None:
            self.display.message(text)
        else:
            self.tell(text)

    def _hand_out(self, run: _Run) -> None:
        while run.queue and self.idle:
            worker_id = self.idle.pop(0)
            seg = run.queue.pop(0)
            run.attempts[seg.index] += 1
            task = run.make_task(seg, worker_id, run.attempts[seg.index])
            self.busy[worker_id] = (seg, task)
            self._activity[worker_id] = self.clock()
            self.pool.submit(worker_id, task)
            run.display.segment_started(worker_id, seg)

    def _no_worker_left(self) -> NoReturn:
        last = self.start_errors[-1] if self.start_errors else "(no message)"
        left = f"the {len(self._run.queue)} remaining segments" if self._run is not None else "the job"
        raise EncodeError(
            "encode",
            f"no worker is left to encode {left}; the last error:\n{_indent(last)}",
            "fix the cause and run the same command again; finished segments are kept.",
        )

    # --- the one dispatch ----------------------------------------------------------------------------
    def _dispatch(self, event: Event) -> None:
        worker_id = event.worker.worker_id if isinstance(event, Ready) else event.worker_id
        if isinstance(event, Started):
            doing = "waiting for the Ray cluster to place it" if event.placing else f"executing {event.script}"
            self._executing[worker_id] = (doing, self.clock())
        elif isinstance(event, Ready):
            self._ready(event)
        elif isinstance(event, Died):
            self._died(event)
        elif worker_id in self.busy:
            if isinstance(event, FramesWritten):
                self._activity[worker_id] = self.clock()
                self._display_frames(worker_id, event.frames)
            elif isinstance(event, Finished):
                self._finished(event)
            elif isinstance(event, Failed):
                self._segment_failed(worker_id, event.message, event.stderr_tail)
        elif worker_id == self._probing and isinstance(event, Probed | Failed):
            self._probe_answer = event
        elif isinstance(event, Failed) and worker_id not in self.workers:
            self._failed_start[worker_id] = _join(event.message, event.stderr_tail)

    def _display_frames(self, worker_id: str, frames: int) -> None:
        if self.display is not None:
            self.display.worker_frames(worker_id, frames)

    def _ready(self, event: Ready) -> None:
        info = event.worker
        if self.script_sha256 is not None and info.script_sha256 != self.script_sha256:
            raise EncodeError(
                "encode",
                f"worker {info.worker_id} on {info.host} executed the script as it is now, which is not the script "
                "this encode was planned from (it was edited since the encode started); its segments would mix two "
                "scripts.",
                "restore the script and run the same command again (finished segments are kept), or pass --restart "
                "to encode the edited one.",
            )
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
        self._executing.pop(info.worker_id, None)
        self.workers[info.worker_id] = info
        self.idle.append(info.worker_id)
        place = f"GPU {info.gpu}" if info.gpu else (f"cpus {info.cpus}" if info.cpus else "cpu")
        text = f"worker {info.worker_id} ready on {info.host} ({place}, PID {info.pid}) after {info.load_seconds:.1f} s"
        if self.display is not None:
            self.display.worker_ready(info)
            self.display.message(text)
        else:
            log.info("%s", text)

    def _finished(self, event: Finished) -> None:
        """A worker finished a segment: it gets its next one at once, and the segment's file is checked (every
        frame decoded) beside the rendering before it is recorded as done."""
        run, worker_id = self._run, event.worker_id
        assert run is not None
        seg, task = self.busy.pop(worker_id)
        self.idle.append(worker_id)
        log.debug(
            "segment %d (frames %d-%d) rendered by %s in %.2f s, first frame after %.2f s",
            seg.index, seg.first, seg.last, worker_id, event.seconds, event.first_frame_seconds,
        )  # fmt: skip
        run.display.segment_done(worker_id, seg.frames)
        run.display.segment_rendered(seg, event.seconds)
        future = run.checker.submit(run.state.check, run.ffmpeg, Path(task.final), seg.frames)
        run.checking[future] = (worker_id, seg, task)

    def _record_checked(self, run: _Run) -> None:
        """Wait for the checks under way and record the segments they verified (the rest are checked on resume)."""
        for future, (_worker_id, seg, _task) in list(run.checking.items()):
            with contextlib.suppress(Exception):
                verdict = future.result()
                if verdict.kind == "ok" and verdict.record is not None:
                    run.done[seg.index] = verdict.record
        with contextlib.suppress(Exception):
            run.state.write_done(run.plan, run.done)

    def _collect_checks(self, run: _Run) -> None:
        for future in [f for f in run.checking if f.done()]:
            worker_id, seg, task = run.checking.pop(future)
            verdict, final = future.result(), Path(task.final)
            if verdict.kind == "ok":
                assert verdict.record is not None
                run.done[seg.index] = verdict.record
                run.state.write_done(run.plan, run.done)
                continue
            if verdict.kind == "unreadable":
                raise unreadable_error(final, verdict.reason)
            full = low_on_space(run.state.dir)  # a full disk makes short files: say that, not "wrong"
            moved = run.state.reject(final, verdict.reason)
            if full:
                raise disk_full_error("encode", run.state.dir, f"segment {seg.index} came out short")
            run.display.segment_rejected(seg)
            message = f"the encoded file is wrong ({verdict.reason}; moved to {moved})"
            self._fail(worker_id, seg, task, message, "", rendering=False)

    def _segment_failed(self, worker_id: str, message: str, tail: str) -> None:
        seg, task = self.busy.pop(worker_id)
        self.idle.append(worker_id)
        self._fail(worker_id, seg, task, message, tail)

    def _fail(
        self, worker_id: str, seg: Segment, task: RenderTask, message: str, tail: str, *, rendering: bool = True
    ) -> None:
        """A failed attempt: its files go, the segment is queued again unless it has failed too often.
        ``rendering``: the worker was still on it (else it failed its check, and the worker is on another)."""
        run = self._run
        assert run is not None
        with contextlib.suppress(FileNotFoundError):
            Path(task.partial).unlink()
        if rendering:
            run.display.segment_discarded(worker_id)
        if DISK_FULL_TEXT in tail or DISK_FULL_TEXT in message:
            raise disk_full_error("encode", run.state.dir, f"segment {seg.index} could not be written")
        if not run.state.dir.is_dir():  # no retry can write there: say what happened, once
            raise EncodeError(
                "encode",
                f"the state folder {run.state.dir} is gone (the output's folder removed or unmounted?): segment "
                f"{seg.index} could not be written there.",
                "restore the folder (or its mount) and run the same command again: what is in it resumes.",
            )
        run.failures[seg.index] += 1
        where = _where(seg, self.workers.get(worker_id), worker_id)
        if run.failures[seg.index] > self.max_retries:
            raise EncodeError(
                "encode",
                f"{where} failed {run.failures[seg.index]} times; the last time: {message}"
                + (f"\n{_indent(tail)}" if tail else ""),
                "fix the cause above and run the same command again; finished segments are kept, unless the fix "
                "edits the script itself (it is hashed: a changed script starts over; a fixed source or plugin "
                "does not).",
            )
        run.display.message(f"{where} failed ({message}); trying it again")
        bisect.insort(run.queue, seg, key=run.order)

    def _died(self, event: Died) -> None:
        worker_id = event.worker_id
        if worker_id not in self.workers:
            self._died_starting(event)
            return
        info = self.workers[worker_id]
        stalled = self._stalled.pop(worker_id, None)
        how = f"it stalled (no frame for {format_duration(stalled)}) and was ended" if stalled else event.message
        log.warning("worker %s on %s died: %s", worker_id, info.host, how)
        self.start_errors.append(f"worker {worker_id} on {info.host} died: {how}")
        if worker_id in self.busy:
            seg, task = self.busy.pop(worker_id)
            self._fail(worker_id, seg, task, f"the worker died: {how}", "")
        if worker_id == self._probing:
            self._probe_answer = event
        del self.workers[worker_id]
        if worker_id in self.idle:
            self.idle.remove(worker_id)
        if self.display is not None:
            self.display.worker_gone(worker_id)
        if self.pool.replace(worker_id) is not None:
            self.starting += 1

    def _died_starting(self, event: Died) -> None:
        """No replacement: a script that fails to load would fail again (no retry storm)."""
        self.starting -= 1
        self._executing.pop(event.worker_id, None)
        reason = self._failed_start.pop(event.worker_id, event.message)  # the worker's own words, when it sent them
        self.start_errors.append(reason)
        first = next((line for line in reason.splitlines() if line.strip()), event.message)
        if self.workers:  # the encode goes on with the others: say why this one is missing, in one line
            self._say(f"worker {event.worker_id} could not start: {first.split(' Fix: ')[0]}")
        log.warning("worker %s could not start: %s", event.worker_id, first)
        if self.starting <= 0 and not self.workers:
            last = (self.start_errors[-1] if self.start_errors else "") or "(no message)"
            lines = [line for line in last.splitlines() if line.strip()] or ["(no message)"]
            reason = lines[0].split(" Fix: ")[0].strip()  # the reason on the first line; one Fix, ours
            raise EncodeError(
                "encode",
                f"every worker failed to execute the script: {reason}",
                "fix the script (try it with `vspipe --info SCRIPT -`) and run the same command again.",
                _indent("\n".join(lines[1:])) if len(lines) > 1 else None,
            )


def _where(seg: Segment, info: WorkerInfo | None, worker_id: str) -> str:
    on = f"worker {worker_id} ({info.host})" if info is not None else f"worker {worker_id}"
    return f"segment {seg.index} (frames {seg.first}-{seg.last}) on {on}"


def _join(message: str, tail: str) -> str:
    return message + (f"\n{tail}" if tail else "")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "(no output)").splitlines())
