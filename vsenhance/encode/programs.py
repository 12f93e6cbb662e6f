"""Running the external programs the encoder drives (ffmpeg, ffprobe, the workers): finding them, their
environment, their stderr for error messages. Argv lists only, never a shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from ..errors import EncodeError

__all__ = ["StderrTail", "child_env", "find_ffmpeg", "find_ffprobe", "run_checked", "stderr_tail"]


def _find(name: str, func: str) -> Path:
    found = shutil.which(name)
    if not found:
        raise EncodeError(func, f"{name} is not on PATH.", f"install FFmpeg so that {name} is on PATH.")
    return Path(found)


def find_ffmpeg(func: str) -> Path:
    return _find("ffmpeg", func)


def find_ffprobe(func: str) -> Path:
    return _find("ffprobe", func)


def child_env() -> dict[str, str]:
    """The environment for children: the interpreter's folder first on PATH so a child (a worker, the sampler, vspipe) finds this Python."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    parts = env.get("PATH", "").split(os.pathsep) if env.get("PATH") else []
    if bindir not in parts:
        env["PATH"] = os.pathsep.join([bindir, *parts])
    return env


class StderrTail:
    """Reads a child's stream in a thread, keeping the last lines (for error messages)."""

    def __init__(
        self, stream: IO[bytes], max_lines: int = 40, echo: Callable[[str], None] | None = None
    ) -> None:  # a BufferedReader (has read1)
        """``echo``: also called with each line as it arrives (a worker's lines reach the log with ``-v``)."""
        import threading

        self.lines: deque[str] = deque(maxlen=max_lines)
        self._echo = echo
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        buf = b""
        try:
            while chunk := self._stream.read1(65536):
                buf += chunk
                # progress lines end in \r (ffmpeg -stats, vspipe -p); treat it as a line break for the tail
                *complete, buf = buf.replace(b"\r", b"\n").split(b"\n")
                for line in complete:
                    if line.strip():
                        self._keep(line)
        except (OSError, ValueError):
            pass
        if buf.strip():
            self._keep(buf)

    def _keep(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        self.lines.append(line)
        if self._echo is not None:
            self._echo(line)

    def text(self, n: int = 15) -> str:
        self._thread.join(timeout=2)
        return "\n".join(list(self.lines)[-n:])


def stderr_tail(data: bytes, lines: int = 15) -> str:
    """The last ``lines`` lines of a tool's stderr, for error messages."""
    return "\n".join(data.decode("utf-8", "replace").strip().splitlines()[-lines:])


def run_checked(
    argv: Sequence[str | os.PathLike[str]], func: str, what: str, fix: str = "see the tool's message above."
) -> subprocess.CompletedProcess:
    """Run a short tool call, raising EncodeError with the stderr tail on failure."""
    try:
        done = subprocess.run(
            [os.fspath(a) for a in argv], capture_output=True, env=child_env(), stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise EncodeError(func, f"could not start {argv[0]}: {exc}.", "check that the tool is installed.") from exc
    if done.returncode != 0:
        tool = Path(os.fspath(argv[0])).name
        raise EncodeError(
            func, f"{what} failed ({tool} exited with {done.returncode}):\n{stderr_tail(done.stderr)}", fix
        )
    return done
