"""Trusting a segment: decode every frame of it, and tell a file proven wrong from a check that failed.

A segment is hours of AI work, so the verdict has three values, not two:

- ``ok``: ffmpeg decoded the expected number of frames and reported no error (ffv1's slice CRCs are checked);
- ``wrong``: the check worked and proved the file bad (a decode error, a wrong frame count, a damaged
  container): only then may the file be moved aside and its segment redone;
- ``unreadable``: the check itself failed (ffmpeg missing, killed or timed out, an I/O error on a stalled
  mount): nothing is known about the file, so it is kept and the check retried.

The record a verified segment leaves in ``done.json`` (its size and SHA-256) lets a resume trust the same bytes
again without decoding them; any other bytes are decoded again.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..files import sha256_file
from .programs import child_env

__all__ = ["CHECK_MIN_SECONDS", "CHECK_SECONDS_PER_FRAME", "Record", "Verdict", "check_segment", "decode_segment"]

CHECK_SECONDS_PER_FRAME = 1.0  # a decode slower than this per frame (and than CHECK_MIN_SECONDS) has stalled
CHECK_MIN_SECONDS = 60.0
_IO_ERRORS = (
    "Input/output error", "Permission denied", "Stale file handle", "Resource temporarily unavailable",
    "Connection timed out", "Transport endpoint is not connected", "Host is down", "No such file or directory",
    "Too many open files", "Cannot allocate memory",
)  # fmt: skip
"""Errno texts in ffmpeg's stderr that say the file could not be read, not that its content is bad."""
_DAMAGED = ("Invalid data found when processing input", "EBML header parsing failed", "End of file")
"""What ffmpeg says of a container it read and could not make sense of (a truncated or overwritten file)."""


@dataclass(frozen=True)
class Record:
    """What ``done.json`` keeps of a verified segment: enough to know its bytes again."""

    frames: int
    size: int
    sha256: str

    def to_json(self) -> dict:
        return {"frames": self.frames, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Verdict:
    kind: Literal["ok", "wrong", "unreadable"]
    reason: str = ""  # what proved it wrong, or why it could not be checked
    frames: int | None = None  # frames decoded (ok, and wrong by count)
    record: Record | None = None  # ok: what done.json keeps


def check_segment(ffmpeg: Path, path: Path, expected: int) -> Verdict:
    """Read every byte of ``path`` (its size and SHA-256), then decode every frame.

    Reading it first tells an unreadable file (an OSError: the mount, the disk) from one ffmpeg cannot parse:
    a file whose bytes read fine but that ffmpeg reports as an I/O error twice is truncated, i.e. wrong.
    """
    try:
        size, digest = path.stat().st_size, sha256_file(path)
    except OSError as exc:
        return Verdict("unreadable", f"reading it failed: {exc}")
    verdict = decode_segment(ffmpeg, path, expected)
    if verdict.kind == "unreadable" and verdict.reason.endswith("Input/output error"):
        verdict = decode_segment(ffmpeg, path, expected)
        if verdict.kind == "unreadable" and verdict.reason.endswith("Input/output error"):
            return Verdict("wrong", f"its {size} bytes read, but ffmpeg cannot parse them: it is truncated", 0)
    if verdict.kind != "ok":
        return verdict
    return Verdict("ok", frames=verdict.frames, record=Record(expected, size, digest))


def decode_segment(ffmpeg: Path, path: Path, expected: int) -> Verdict:
    """Decode every video frame of ``path`` (the driver's check before it trusts a segment)."""
    argv = [
        os.fspath(ffmpeg), "-v", "error", "-nostdin", "-err_detect", "crccheck+bitstream+buffer",
        "-i", os.fspath(path), "-map", "0:v:0", "-f", "framecrc", "-",
    ]  # fmt: skip
    timeout = max(CHECK_MIN_SECONDS, expected * CHECK_SECONDS_PER_FRAME)
    try:
        done = subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Verdict("unreadable", f"decoding it took longer than {timeout:.0f} s")
    except OSError as exc:
        return Verdict("unreadable", f"could not run {argv[0]}: {exc}")
    errors = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode < 0:
        return Verdict("unreadable", f"the decoder was killed by signal {-done.returncode}")
    if any(text in errors for text in _IO_ERRORS):
        return Verdict("unreadable", _last_line(errors))
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    frames = sum(1 for line in lines if line and line[0] != "#")
    if not any(line.startswith("#tb") for line in lines):  # it never started decoding: was the file the cause?
        if any(text in errors for text in _DAMAGED):
            return Verdict("wrong", f"the container is damaged: {_last_line(errors)}", 0)
        return Verdict("unreadable", _last_line(errors) or f"the decoder exited with {done.returncode}")
    if done.returncode != 0 or errors:
        return Verdict("wrong", f"decode errors: {_last_line(errors) or f'exit code {done.returncode}'}", frames)
    if frames != expected:
        return Verdict("wrong", f"it decodes to {frames} frames, not {expected}", frames)
    return Verdict("ok", frames=frames)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
