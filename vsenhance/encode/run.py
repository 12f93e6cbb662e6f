"""One segment: ``vspipe SCRIPT -c y4m -s FIRST -e LAST - | ffmpeg ... seg.partial.mkv`` with argv lists.

Both exit codes and both stderr streams are checked; on failure the error names the segment and shows the
tail of the failing tool's stderr. On any interruption (Ctrl-C, an exception) both children are ended
(terminate, then kill after a timeout) and the partial file is removed, so the state folder stays valid.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import EncodeError
from .plan import EncoderSettings, Segment
from .state import count_frames
from .tools import StderrTail, child_env, end_process, script_arg_argv

__all__ = ["SegmentJob", "encode_segment", "ffmpeg_segment_argv", "vspipe_segment_argv"]


@dataclass(frozen=True)
class SegmentJob:
    vspipe: Path
    ffmpeg: Path
    script: Path
    script_args: Sequence[str]
    encoder: EncoderSettings
    segment: Segment
    partial: Path
    final: Path


def vspipe_segment_argv(job: SegmentJob) -> list[str]:
    seg = job.segment
    return [
        os.fspath(job.vspipe), "-c", "y4m", "-s", str(seg.first), "-e", str(seg.last),
        *script_arg_argv(job.script_args), os.fspath(job.script), "-",
    ]  # fmt: skip


def ffmpeg_segment_argv(job: SegmentJob) -> list[str]:
    return [
        os.fspath(job.ffmpeg), "-hide_banner", "-nostats", "-loglevel", "warning", "-progress", "pipe:1",
        "-f", "yuv4mpegpipe", "-i", "pipe:0", "-map", "0:v:0", *job.encoder.codec_argv(),
        "-f", "matroska", "-y", os.fspath(job.partial),
    ]  # fmt: skip


class _ProgressReader:
    """Follows ffmpeg's ``-progress pipe:1`` key=value lines and keeps the latest ``frame=`` value."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.frames = 0
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in self._stream:
                key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                if key == "frame" and value.isdigit():
                    self.frames = int(value)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def encode_segment(job: SegmentJob, on_frames: Callable[[int], None] | None = None, poll: float = 0.25) -> None:
    """Encode one segment into ``job.final`` (via ``job.partial``), verified frame-exact with ffprobe."""
    seg = job.segment
    where = f"segment {seg.index} (frames {seg.first}-{seg.last})"
    env = child_env()
    with contextlib.suppress(FileNotFoundError):
        job.partial.unlink()
    procs: list[subprocess.Popen] = []
    try:
        vsp = subprocess.Popen(
            vspipe_segment_argv(job), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        procs.append(vsp)
        ffm = subprocess.Popen(
            ffmpeg_segment_argv(job), stdin=vsp.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        procs.append(ffm)
        assert vsp.stdout is not None and vsp.stderr is not None
        assert ffm.stdout is not None and ffm.stderr is not None
        vsp.stdout.close()  # only ffmpeg reads it now, so vspipe sees a broken pipe if ffmpeg dies
        vs_tail, ff_tail = StderrTail(vsp.stderr), StderrTail(ffm.stderr)
        reader = _ProgressReader(ffm.stdout)
        while ffm.poll() is None or vsp.poll() is None:
            if ffm.poll() is not None and vsp.poll() is None:
                # ffmpeg is gone: vspipe may block on a full pipe forever, so give it a moment, then end it
                with contextlib.suppress(subprocess.TimeoutExpired):
                    vsp.wait(timeout=5)
                end_process(vsp)
                break
            time.sleep(poll)
            if on_frames:
                on_frames(reader.frames)
        vs_rc, ff_rc = vsp.wait(), ffm.wait()
    except BaseException:
        for proc in reversed(procs):
            with contextlib.suppress(Exception):
                proc.terminate()
        for proc in reversed(procs):
            end_process(proc)
        with contextlib.suppress(FileNotFoundError):
            job.partial.unlink()
        raise

    failures = []
    if ff_rc != 0:
        failures.append(f"ffmpeg exited with code {ff_rc}:\n{_indent(ff_tail.text())}")
    if vs_rc != 0:
        note = " (probably because ffmpeg stopped reading)" if ff_rc != 0 else ""
        failures.append(f"vspipe exited with code {vs_rc}{note}:\n{_indent(vs_tail.text())}")
    if failures:
        with contextlib.suppress(FileNotFoundError):
            job.partial.unlink()
        raise EncodeError(
            "encode_segment",
            f"{where} failed; " + "\n".join(failures),
            "fix the cause above and run the same command again; finished segments are kept.",
        )
    got = count_frames(job.partial)
    if got != seg.frames:
        with contextlib.suppress(FileNotFoundError):
            job.partial.unlink()
        raise EncodeError(
            "encode_segment",
            f"{where}: the encoded file holds {got} frames instead of {seg.frames}.\n"
            f"vspipe said:\n{_indent(vs_tail.text())}\nffmpeg said:\n{_indent(ff_tail.text())}",
            "check that the script's frame count does not change between runs (e.g. a variable-length source).",
        )
    _fsync(job.partial)
    os.replace(job.partial, job.final)
    _fsync(job.final.parent)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "(no output)").splitlines())
