"""Helpers for the farm tests (imported by name; the name is unique across the test tree)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from vsenhance.encode.farm import wire
from vsenhance.encode.farm.protocol import Event, Task
from vsenhance.encode.tools import child_env, find_vspipe

# An "ffmpeg" that copies the y4m it is given into the partial file, byte for byte.
COPY = (sys.executable, "-c", "import shutil,sys; shutil.copyfileobj(sys.stdin.buffer, open(sys.argv[1], 'wb'))")

# Appended to encode_helpers.SCRIPT: each execution of the script adds a line to the file named by -a count=...
COUNT_EXECUTIONS = """
if "count" in globals():
    with open(count, "a") as fh:
        fh.write("executed\\n")
"""


def copy_argv(partial: Path) -> tuple[str, ...]:
    return (*COPY, os.fspath(partial))


def vspipe_y4m(script: Path, first: int, last: int, *args: str) -> bytes:
    argv = [os.fspath(find_vspipe()), "-c", "y4m", "-s", str(first), "-e", str(last)]
    for a in args:
        argv += ["-a", a]
    done = subprocess.run([*argv, os.fspath(script), "-"], capture_output=True, env=child_env(), timeout=60, check=True)
    return done.stdout


class WorkerProcess:
    """One worker subprocess driven by hand: tasks in, every raw channel line kept, events out."""

    def __init__(self, script: Path, *args: str, worker_id: str = "w0") -> None:
        argv = [sys.executable, "-m", "vsenhance.encode.farm.worker", os.fspath(script), "--id", worker_id]
        for a in args:
            argv += ["-a", a]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()
        )
        self.lines: list[bytes] = []
        self._events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._events.put(wire.loads(line))
        self._events.put(None)

    def send(self, task: Task) -> None:
        self.proc.stdin.write((wire.dumps(task) + "\n").encode())
        self.proc.stdin.flush()

    def next_event(self, timeout: float = 60) -> Event:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event in {timeout} s; stderr: {self.stderr()[-2000:]}") from None
        assert event is not None, f"the worker's channel closed; stderr: {self.stderr()[-2000:]}"
        return event

    def wait_for(self, kind: type, timeout: float = 60) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.1, deadline - time.monotonic()))
            if isinstance(event, kind):
                return event

    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def close(self, timeout: float = 10) -> int:
        """Close stdin and wait for the exit code (killed after ``timeout``)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
