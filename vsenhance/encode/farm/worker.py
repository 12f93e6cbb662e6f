"""``python -m vsenhance.encode.farm.worker SCRIPT --id W [-a k=v ...]``: a long-lived render worker.

It executes the script once (:func:`~vsenhance.script.run_script`: the torch import, the model load and
a ``torch.compile`` are paid once), reports :class:`~.protocol.Ready`, then serves tasks one at a time. Tasks
arrive as JSON lines (:mod:`.wire`) on stdin; events leave on a private channel, the process's *original*
stdout, while fd 1 and ``sys.stdout`` point to stderr from the first instruction on, so nothing the script or a
plugin prints can corrupt the channel.

A :class:`~.protocol.RenderTask` pipes ``clip[first:last + 1]`` as y4m (the bytes ``vspipe -c y4m -s FIRST
-e LAST`` writes) into the task's ffmpeg, whose output is ``partial``; on ffmpeg's exit 0 the partial is
renamed to ``final``. A failure (the script raised on a frame, ffmpeg exited non-zero) removes the partial,
reports :class:`~.protocol.Failed` with absolute frame numbers, and the worker waits for the next task.

When stdin closes (the driver finished, or was killed) the worker ends at once, even mid-segment: it kills its
ffmpeg, removes the partial and exits without unwinding (``os._exit``). A script that fails to execute is
reported as ``Failed(index=None)`` and the worker exits with code 1 (its pool then reports ``Died``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ... import holds
from ...errors import VSEnhanceError
from ...files import fsync_path, input_files, sha256_file
from ...script import error_line, parse_script_args, run_script
from ..programs import StderrTail
from . import wire
from .cpus import parse_cpus, pinned_cpus
from .protocol import (
    ClipSummary,
    Event,
    Failed,
    Finished,
    FramesWritten,
    Probed,
    ProbeTask,
    Ready,
    RenderTask,
    WorkerInfo,
)

if TYPE_CHECKING:
    import vapoursynth as vs

__all__ = ["main"]

PROGRESS_SECONDS = 0.5  # at most ~2 FramesWritten events a second per worker
EXIT_CUDA_BROKEN = 70  # the exit code of a worker whose CUDA context is broken
_CUDA_BROKEN = (
    "illegal memory access", "device-side assert", "unspecified launch failure", "illegal instruction",
    "misaligned address", "CUDA error: an illegal", "cudaErrorLaunchFailure", "CUBLAS_STATUS_EXECUTION_FAILED",
)  # fmt: skip
"""Errors after which a process's CUDA context is unusable: every later kernel fails too, so the worker exits
and is replaced (Ray's rule for such actors), instead of failing every segment it is given."""


class _Channel:
    """Event lines on a private file descriptor, one writer at a time."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        line = wire.dumps(event) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


def _tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _jsonable(value: Any) -> Any:
    """A frame prop as JSON (bytes decoded, arrays as lists); None for what JSON cannot hold (clips, frames)."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        items = [_jsonable(v) for v in value]
        return None if any(v is None for v in items) else items
    return None


class _FrameMeter:
    """Counts the frames handed to ffmpeg and reports them at most every PROGRESS_SECONDS."""

    def __init__(self, channel: _Channel, worker_id: str, index: int, start: float) -> None:
        self.channel, self.worker_id, self.index = channel, worker_id, index
        self.start = self.last_sent = start
        self.written = 0
        self.first_frame: float | None = None  # seconds from the task's start to its first frame

    def update(self, current: int, _total: int) -> None:
        self.written = current
        now = time.perf_counter()
        if current and self.first_frame is None:
            self.first_frame = now - self.start
        if current and now - self.last_sent >= PROGRESS_SECONDS:
            self.last_sent = now
            self.channel.send(FramesWritten(self.worker_id, self.index, current))


class Worker:
    """The rendering side; the stdin reader thread may call :meth:`abort` at any moment."""

    def __init__(self, worker_id: str, clip: vs.VideoNode, channel: _Channel) -> None:
        self.worker_id = worker_id
        self.clip = clip
        self.channel = channel
        self._lock = threading.Lock()  # guards the running ffmpeg, its partial, and abort
        self._ffmpeg: subprocess.Popen | None = None
        self._partial: str | None = None

    def abort(self) -> None:
        """Kill the running ffmpeg, remove its partial file and exit now (the driver is gone)."""
        self._lock.acquire()  # never released: the process ends here
        if self._ffmpeg is not None:
            with contextlib.suppress(OSError):
                self._ffmpeg.kill()
            self._ffmpeg.wait()
        if self._partial is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._partial)
        os._exit(0)

    def serve(self, task: RenderTask | ProbeTask) -> None:
        if isinstance(task, RenderTask):
            self.render(task)
        else:
            self.probe(task)

    def render(self, task: RenderTask) -> None:
        """Pipe frames ``first..last`` into the task's ffmpeg; publish the file, or report why not."""
        start = time.perf_counter()
        first, last, total = task.first, task.last, self.clip.num_frames
        if not 0 <= first <= last < total:
            self.channel.send(
                Failed(self.worker_id, task.index, f"frames {first}-{last} are outside the clip's 0-{total - 1}", "")
            )
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(task.partial)
        with self._lock:
            try:
                proc = subprocess.Popen(
                    task.ffmpeg_argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
            except OSError as exc:
                self.channel.send(Failed(self.worker_id, task.index, f"could not start ffmpeg: {exc}", ""))
                return
            self._ffmpeg, self._partial = proc, task.partial
        assert proc.stderr is not None
        ff_tail = StderrTail(proc.stderr)
        meter = _FrameMeter(self.channel, self.worker_id, task.index, start)
        failure = self._pipe(task, proc, meter, ff_tail)
        failure = self._publish(task, ff_tail) if failure is None else self._discard(task, failure)
        if failure is not None:
            self._report(failure)
            return
        seconds = time.perf_counter() - start
        self.channel.send(Finished(self.worker_id, task.index, seconds, meter.first_frame or seconds))

    def _report(self, failure: Failed) -> None:
        """Send a failure; a broken CUDA context then ends this process, so the pool replaces the worker."""
        broken = any(text in failure.message or text in failure.stderr_tail for text in _CUDA_BROKEN)
        if broken:
            failure = replace(failure, message=failure.message + "; its CUDA context is broken, so the worker exits")
        self.channel.send(failure)
        if broken:
            sys.stderr.flush()
            os._exit(EXIT_CUDA_BROKEN)

    def _pipe(self, task: RenderTask, proc: subprocess.Popen, meter: _FrameMeter, ff_tail: StderrTail) -> Failed | None:
        """The frames as y4m into ffmpeg; what went wrong, if anything (the script or ffmpeg)."""
        import vapoursynth as vs

        assert proc.stdin is not None
        script_error: vs.Error | SystemExit | None = None
        try:
            self.clip[task.first : task.last + 1].output(proc.stdin, y4m=True, progress_update=meter.update)
        except (vs.Error, SystemExit) as exc:
            script_error = exc
            proc.kill()
        except OSError:
            pass  # ffmpeg stopped reading: its exit code and stderr say why
        with contextlib.suppress(OSError):
            proc.stdin.close()
        rc = proc.wait()
        if script_error is not None:
            frame = task.first + meter.written  # output() raises on the first frame (in order) it could not get
            if isinstance(script_error, SystemExit):
                return Failed(self.worker_id, task.index, f"{error_line(script_error)} on frame {frame}", "")
            message = f"the script failed on frame {frame}: {error_line(script_error)}"
            return Failed(self.worker_id, task.index, message, _tail(str(script_error)))
        if rc != 0:
            how = f"was killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
            message = f"ffmpeg {how} after {meter.written} of {task.last - task.first + 1} frames"
            return Failed(self.worker_id, task.index, message, ff_tail.text())
        return None

    def _publish(self, task: RenderTask, ff_tail: StderrTail) -> Failed | None:
        """The protocol's publish step: the partial file becomes the segment (synced), or the task fails."""
        with self._lock:
            self._ffmpeg = None
            try:
                fsync_path(task.partial)
                os.replace(task.partial, task.final)
                fsync_path(Path(task.final).parent)
            except OSError as exc:  # ffmpeg wrote no file, or the disk is full: a failed task, not a dead worker
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(task.partial)
                return Failed(self.worker_id, task.index, f"could not finish {task.final}: {exc}", ff_tail.text())
            finally:
                self._partial = None
        return None

    def _discard(self, task: RenderTask, failure: Failed) -> Failed:
        with self._lock:
            self._ffmpeg = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(task.partial)
            self._partial = None
        return failure

    def probe(self, task: ProbeTask) -> None:
        props: dict[int, dict[str, Any]] = {}
        for n in task.frames:
            try:
                frame = self.clip.get_frame(n)
            except (Exception, SystemExit) as exc:  # a bad frame number or the script raising on that frame
                tail = "" if isinstance(exc, SystemExit) else _tail(str(exc))
                self._report(Failed(self.worker_id, None, f"probing frame {n}: {error_line(exc)}", tail))
                return
            values = {key: _jsonable(value) for key, value in frame.props.items()}
            props[n] = {key: value for key, value in values.items() if value is not None}
            del frame
        keys: list[tuple[int, ...]] = []
        for clip_id, first, last in task.spans:
            decisions = holds.decisions(clip_id)
            if decisions is None:  # the script made fewer decisions here than where the props were read
                message = f"the held-frame decisions {clip_id} are not in this worker's clip"
                self._report(Failed(self.worker_id, None, message, "the script must build the same graph each run"))
                return
            try:
                keys.append(tuple(decisions.keys(first, last)))
            except (Exception, SystemExit) as exc:  # the source failing on a frame, or a bad span
                tail = "" if isinstance(exc, SystemExit) else _tail(str(exc))
                self._report(
                    Failed(self.worker_id, None, f"reading held frames {first}-{last}: {error_line(exc)}", tail)
                )
                return
        self.channel.send(Probed(self.worker_id, props, tuple(input_files()), tuple(keys)))


def clip_summary(clip: vs.VideoNode) -> ClipSummary:
    fmt = clip.format
    known = fmt is not None and fmt.id != 0
    return ClipSummary(
        frames=clip.num_frames,
        fps_num=clip.fps.numerator,
        fps_den=clip.fps.denominator,
        width=clip.width,
        height=clip.height,
        format=fmt.name if known else None,
        color_family=fmt.color_family.name if known else None,
    )


def _read_tasks(stdin: IO[bytes], tasks: queue.SimpleQueue[bytes], on_eof: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in stdin:
            if line.strip():
                tasks.put(line)
    on_eof()


def main(argv: list[str] | None = None) -> int:
    # The channel first: from here on fd 1 and sys.stdout are stderr, whatever the script or a plugin prints.
    channel = _Channel(os.dup(1))
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    parser = argparse.ArgumentParser(prog="python -m vsenhance.encode.farm.worker")
    parser.add_argument("script", type=Path)
    parser.add_argument("--id", dest="worker_id", required=True)
    parser.add_argument("-a", "--arg", dest="script_args", action="append", default=[])
    parser.add_argument("--output-index", type=int, default=0)
    parser.add_argument("--cpus", type=parse_cpus, help="pin to these cores first (taskset's list: 0-3,6)")
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)  # before VapourSynth, torch or OpenMP size their thread pools

    tasks: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    worker: Worker | None = None

    def on_eof() -> None:
        if worker is not None:
            worker.abort()
        os._exit(0)  # still executing the script: nothing of ours to clean up

    threading.Thread(target=_read_tasks, args=(sys.stdin.buffer, tasks, on_eof), daemon=True).start()

    cpus = pinned_cpus()
    start = time.perf_counter()
    try:
        import vapoursynth as vs

        if cpus is not None:  # VapourSynth sizes its pool by the machine, not by this worker's share of it
            vs.core.num_threads = len(os.sched_getaffinity(0))
        executed = sha256_file(args.script)
        clip = run_script(args.script, parse_script_args(args.script_args, "encode"), args.output_index, "encode")
        if sha256_file(args.script) != executed:  # edited while it ran: what was executed is not known
            executed = "changed while it was executed"
    except VSEnhanceError as exc:  # ours (no output 0, not video...): the message says it all, no traceback
        hint = f" ({exc.fix.rstrip('.')})" if exc.fix else ""
        channel.send(Failed(args.worker_id, None, f"executing {args.script}: {exc.problem}{hint}", ""))
        sys.stderr.flush()
        os._exit(1)
    except SystemExit as exc:  # sys.exit() in the script: said as such, not as the interpreter's shutdown noise
        channel.send(
            Failed(args.worker_id, None, f"executing {args.script}: the script called sys.exit({exc.code!r})", "")
        )
        sys.stderr.flush()
        os._exit(1)
    except Exception as exc:
        channel.send(
            Failed(args.worker_id, None, f"executing {args.script}: {error_line(exc)}", _tail(traceback.format_exc()))
        )
        sys.stderr.flush()
        os._exit(1)  # not a normal exit: the stdin reader thread would abort the interpreter's shutdown
    info = WorkerInfo(
        worker_id=args.worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        gpu=os.environ.get("CUDA_VISIBLE_DEVICES"),
        cpus=cpus,
        load_seconds=time.perf_counter() - start,
        script_sha256=executed,
    )
    worker = Worker(args.worker_id, clip, channel)
    channel.send(Ready(info, clip_summary(clip)))
    while True:
        line = tasks.get()
        try:
            task = wire.loads(line)
        except ValueError as exc:
            channel.send(Failed(args.worker_id, None, f"unreadable task: {exc}", ""))
            continue
        if not isinstance(task, RenderTask | ProbeTask):
            channel.send(Failed(args.worker_id, None, f"{type(task).__name__} is not a task", ""))
            continue
        worker.serve(task)


if __name__ == "__main__":
    sys.exit(main())
