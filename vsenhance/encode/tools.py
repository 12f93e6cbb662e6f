"""Finding and running the external tools (vspipe, ffmpeg, ffprobe). Argv lists only, never a shell."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from ..errors import EncodeError

__all__ = [
    "StderrTail",
    "child_env",
    "end_process",
    "find_ffmpeg",
    "find_ffprobe",
    "find_vspipe",
    "script_arg_argv",
]

_WRAPPER_MARK = b"from vapoursynth import vspipe"


def _real_vspipe(candidate: Path) -> Path:
    """pip's ``vspipe`` is a Python wrapper that runs the binary in the vapoursynth package as a child.

    The wrapper turns Ctrl-C into exit code 0 and does not pass SIGTERM on, so when the candidate is that
    wrapper we run the binary beside it directly (same program, one process less, signals reach it).
    """
    try:
        with candidate.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return candidate
    if not head.startswith(b"#!") or _WRAPPER_MARK not in head:
        return candidate
    spec = importlib.util.find_spec("vapoursynth")  # locates the package without importing it
    if spec is None or spec.origin is None:
        return candidate
    binary = Path(spec.origin).with_name("vspipe")
    return binary if binary.is_file() and os.access(binary, os.X_OK) else candidate


def find_vspipe() -> Path:
    """vspipe next to the running interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "vspipe"
    if beside.is_file() and os.access(beside, os.X_OK):
        return _real_vspipe(beside)
    found = shutil.which("vspipe")
    if found:
        return _real_vspipe(Path(found))
    raise EncodeError(
        "find_vspipe",
        f"vspipe was found neither beside the Python interpreter ({beside}) nor on PATH.",
        "install VapourSynth into this environment (pip install vapoursynth) or put vspipe on PATH.",
    )


def _find(name: str) -> Path:
    found = shutil.which(name)
    if not found:
        raise EncodeError(f"find_{name}", f"{name} is not on PATH.", f"install FFmpeg so that {name} is on PATH.")
    return Path(found)


def find_ffmpeg() -> Path:
    return _find("ffmpeg")


def find_ffprobe() -> Path:
    return _find("ffprobe")


def child_env() -> dict[str, str]:
    """The environment for children: the interpreter's folder first on PATH so vspipe finds this Python."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    parts = env.get("PATH", "").split(os.pathsep) if env.get("PATH") else []
    if bindir not in parts:
        env["PATH"] = os.pathsep.join([bindir, *parts])
    return env


def script_arg_argv(script_args: Iterable[str]) -> list[str]:
    """``["-a", "k=v", ...]`` for vspipe."""
    argv: list[str] = []
    for item in script_args:
        argv += ["-a", item]
    return argv


class StderrTail:
    """Reads a child's stream in a thread, keeping the last lines (for error messages)."""

    def __init__(self, stream: IO[bytes], max_lines: int = 40) -> None:  # a BufferedReader (has read1)
        import threading

        self.lines: deque[str] = deque(maxlen=max_lines)
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        buf = b""
        try:
            while chunk := self._stream.read1(65536):
                buf += chunk
                # vspipe -p uses \r; treat it as a line break for the tail
                *complete, buf = buf.replace(b"\r", b"\n").split(b"\n")
                for line in complete:
                    if line.strip():
                        self.lines.append(line.decode("utf-8", "replace"))
        except (OSError, ValueError):
            pass
        if buf.strip():
            self.lines.append(buf.decode("utf-8", "replace"))

    def text(self, n: int = 15) -> str:
        self._thread.join(timeout=2)
        return "\n".join(list(self.lines)[-n:])


def end_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate, then kill after ``timeout`` seconds; always reaps the child."""
    if proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


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
