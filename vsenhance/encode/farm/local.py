"""The local pool: render workers as subprocesses of the driver, on this machine's GPUs or split CPU cores.

Each worker is ``python -m vsenhance.encode.farm.worker`` (same interpreter, :func:`~..programs.child_env`), in
its own session: Ctrl-C reaches only the driver, which ends the workers through :meth:`LocalPool.shutdown`,
and the worker's whole process group (it and its ffmpeg) can be killed at once. One reader thread per worker
turns its channel into events on one queue. A worker whose channel closes (it exited, was killed, failed to
start) yields :class:`~.protocol.Died` with the index of the task it held, after its ffmpeg is killed and that
task's partial file removed.

Placement:

- ``gpus=[0, 1], per_gpu=W``: W workers per listed GPU, each seeing only its GPU (``CUDA_VISIBLE_DEVICES``),
  so ``device="cuda"`` in the script means that GPU.
- CPU only: the cores this process may use are split into ``workers`` disjoint, contiguous shares as equal as
  possible (8 cores, 3 workers: 3+3+2); each worker pins itself to its share (``sched_setaffinity``, inherited
  by its ffmpeg), and OMP/MKL threads, VapourSynth's threads and vsenhance's torch threads follow the share
  (they size themselves by the affinity mask). More workers than cores: worker i gets core ``i mod cores``, so
  workers share cores (only useful when the script waits on something other than the CPU).
  A replacement worker takes the dead one's GPU or cores.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...script import ScriptArgs, script_args_argv
from ..programs import StderrTail, child_env
from . import wire
from .cpus import cpu_shares, format_cpus
from .protocol import Died, Event, Failed, Finished, Probed, RenderTask, Started, Task, drain

__all__ = ["LocalPool"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Placement:
    """Where a worker runs: one GPU, or a share of the cores (None: the whole machine)."""

    gpu: int | None = None
    cpus: tuple[int, ...] | None = None


class _WorkerProcess:
    def __init__(self, worker_id: str, slot: _Placement, proc: subprocess.Popen) -> None:
        self.worker_id = worker_id
        self.slot = slot
        self.proc = proc
        assert proc.stderr is not None
        self.stderr = StderrTail(proc.stderr, echo=functools.partial(log.debug, "%s: %s", worker_id))
        self.task: Task | None = None  # the task it holds, set by submit, cleared by its answer
        self.lock = threading.Lock()


class LocalPool:
    """Worker subprocesses on this machine; see the module docstring for placement."""

    def __init__(
        self,
        script: Path,
        script_args: ScriptArgs | None = None,
        *,
        workers: int = 1,
        gpus: Sequence[int] = (),
        per_gpu: int = 1,
        output_index: int = 0,
        stop_seconds: float = 5.0,
        id_prefix: str = "w",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.script = Path(os.path.abspath(script))
        self.script_args = dict(script_args or {})
        self.output_index = output_index
        self.stop_seconds = stop_seconds
        self.id_prefix = id_prefix  # worker ids are id_prefix + 0, 1, ... (unique in one encode)
        self.env = dict(env or {})  # --env: set in every worker over this process's environment
        if gpus:
            self.slots = [_Placement(gpu=g) for g in gpus for _ in range(per_gpu)]
        else:
            cores = sorted(os.sched_getaffinity(0))
            shares = cpu_shares(cores, workers) if workers > 1 else [cores]
            self.slots = [_Placement(cpus=None if len(s) == len(cores) else tuple(s)) for s in shares]
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._workers: dict[str, _WorkerProcess] = {}
        self._threads: list[threading.Thread] = []  # one reader per worker ever started, in _workers' order
        self._next_id = 0
        self._closing = False

    # --- Pool ----------------------------------------------------------------------------------------
    def start(self) -> int:
        for slot in self.slots:
            self._spawn(slot)
        return len(self.slots)

    def submit(self, worker_id: str, task: Task) -> None:
        worker = self._workers[worker_id]
        with worker.lock:
            worker.task = task
        assert worker.proc.stdin is not None
        try:
            worker.proc.stdin.write((wire.dumps(task) + "\n").encode())
            worker.proc.stdin.flush()
        except OSError:
            pass  # the worker is gone: its reader reports Died with this task

    def poll(self, timeout: float) -> list[Event]:
        return drain(self._events, timeout)

    def replace(self, worker_id: str) -> str | None:
        old = self._workers.get(worker_id)
        if old is None or self._closing:
            return None
        return self._spawn(old.slot)

    def stop_worker(self, worker_id: str) -> None:
        worker = self._workers.get(worker_id)
        if worker is None:
            return
        with worker.lock:
            if worker.proc.returncode is None:  # not reaped yet, so the group id is still its own
                _kill_group(worker.proc.pid)

    def shutdown(self) -> None:
        """Close every worker's stdin (it kills its ffmpeg, removes its partial, exits), then kill what is
        left after ``stop_seconds``; reap all and remove partials of tasks still held."""
        self._closing = True
        workers = list(self._workers.values())
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.proc.stdin.close()  # type: ignore[union-attr]
        for worker, thread in zip(workers, self._threads, strict=True):
            thread.join(timeout=self.stop_seconds)
            with worker.lock:
                if worker.proc.returncode is None:  # not reaped yet, so the group id is still its own
                    _kill_group(worker.proc.pid)
            thread.join()
            _remove_partial(worker.task)

    # --- internals -----------------------------------------------------------------------------------
    def _spawn(self, slot: _Placement) -> str:
        worker_id = f"{self.id_prefix}{self._next_id}"
        self._next_id += 1
        env = child_env() | self.env
        argv = [sys.executable, "-m", "vsenhance.encode.farm.worker", os.fspath(self.script), "--id", worker_id]
        argv += [*script_args_argv(self.script_args), "--output-index", str(self.output_index)]
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
        if slot.cpus is not None:
            argv += ["--cpus", format_cpus(set(slot.cpus))]
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(len(slot.cpus))
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        worker = _WorkerProcess(worker_id, slot, proc)
        self._workers[worker_id] = worker
        self._events.put(Started(worker_id, self.script.name))
        thread = threading.Thread(target=self._read, args=(worker,), name=f"farm-{worker_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return worker_id

    def _read(self, worker: _WorkerProcess) -> None:
        assert worker.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in worker.proc.stdout:
                try:
                    event = wire.loads(line)
                except ValueError as exc:
                    event = Failed(worker.worker_id, None, f"unreadable message from the worker: {exc}", "")
                if isinstance(event, Finished | Failed | Probed):
                    with worker.lock:
                        worker.task = None
                self._events.put(event)
        with contextlib.suppress(ChildProcessError):  # a zombie now: its pid, and so its group id, stay ours
            os.waitid(os.P_PID, worker.proc.pid, os.WEXITED | os.WNOWAIT)
        with worker.lock:
            _kill_group(worker.proc.pid)  # its ffmpeg, if the worker was killed mid-segment
            rc = worker.proc.wait()
            task, worker.task = worker.task, None
        _remove_partial(task)
        if self._closing:
            return
        how = f"was killed by {_signal_name(-rc)}" if rc < 0 else f"exited with code {rc}"
        tail = worker.stderr.text()
        message = f"worker {worker.worker_id} (pid {worker.proc.pid}) {how}" + (f"; it said:\n{tail}" if tail else "")
        self._events.put(Died(worker.worker_id, task.index if isinstance(task, RenderTask) else None, message))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _remove_partial(task: Task | None) -> None:
    if isinstance(task, RenderTask):
        with contextlib.suppress(OSError):
            os.unlink(task.partial)
