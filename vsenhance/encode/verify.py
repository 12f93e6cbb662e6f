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

import contextlib
import os
import subprocess
import threading
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
        # ffmpeg says EIO both for a read the storage refused and for a Matroska file that ends early. Decode
        # the bytes we read ourselves instead: what that finds is about the content, not the storage
        verdict = decode_segment(ffmpeg, path, expected, through_pipe=True)
    if verdict.kind != "ok":
        return verdict
    return Verdict("ok", frames=verdict.frames, record=Record(expected, size, digest))


def decode_segment(ffmpeg: Path, path: Path, expected: int, *, through_pipe: bool = False) -> Verdict:
    """Decode every video frame of ``path`` (the driver's check before it trusts a segment); ``through_pipe``:
    from the bytes this process reads and pipes to ffmpeg, so that a storage error cannot pass for damage."""
    source = "pipe:0" if through_pipe else os.fspath(path)
    argv = [
        os.fspath(ffmpeg), "-v", "error", "-nostdin", "-err_detect", "crccheck+bitstream+buffer",
        *(["-f", "matroska"] if through_pipe else []), "-i", source, "-map", "0:v:0", "-f", "framecrc", "-",
    ]  # fmt: skip
    if through_pipe:
        argv.remove("-nostdin")
    timeout = max(CHECK_MIN_SECONDS, expected * CHECK_SECONDS_PER_FRAME)
    try:
        done = _run_decoder(argv, path if through_pipe else None, timeout)
    except subprocess.TimeoutExpired:
        return Verdict("unreadable", f"decoding it took longer than {timeout:.0f} s")
    except OSError as exc:
        return Verdict("unreadable", f"could not run {argv[0]}: {exc}")
    except _ReadFailed as exc:
        return Verdict("unreadable", f"reading it failed: {exc.__cause__}")
    errors = done.stderr.decode("utf-8", "replace").strip()
    if through_pipe and done.returncode == 0 and not errors:
        pass  # the content decodes: what failed before was the storage, and the frames are counted below
    elif through_pipe and "Input/output error" in errors:
        return Verdict(
            "wrong", f"its bytes read, but ffmpeg cannot parse them: it is truncated ({_last_line(errors)})", 0
        )
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


class _ReadFailed(Exception):
    """Our own read of the segment failed while it was piped to the decoder."""


def _run_decoder(argv: list[str], piped: Path | None, timeout: float) -> subprocess.CompletedProcess:
    """The decoder, with ``piped``'s bytes on its stdin (copied by a thread, so a large segment is never held in
    memory) or with no stdin."""
    if piped is None:
        return subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL, timeout=timeout)
    failed: list[OSError] = []
    outputs: dict[str, bytes] = {}
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=child_env()) as proc:  # fmt: skip
        readers = [threading.Thread(target=lambda name=name, stream=stream: outputs.__setitem__(name, stream.read()),
                                    daemon=True) for name, stream in (("out", proc.stdout), ("err", proc.stderr))]  # fmt: skip
        for reader in readers:
            reader.start()
        try:
            with open(piped, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    proc.stdin.write(chunk)
        except BrokenPipeError:
            pass  # the decoder stopped reading: its verdict says why
        except OSError as exc:
            failed.append(exc)
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        for reader in readers:
            reader.join(5)
    if failed:
        raise _ReadFailed() from failed[0]
    return subprocess.CompletedProcess(argv, proc.returncode, outputs.get("out", b""), outputs.get("err", b""))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
