"""The state folder beside the output (``OUT.mkv.vsenhance/``): plan, done-record and segment files.

Every JSON file is written with :func:`vsenhance.files.atomic_write_json`, so a kill at any moment leaves either
the old or the new record. A segment counts as done only once its every frame was decoded
(:mod:`.verify`); its record (frames, size, SHA-256) lets a resume trust the same bytes again without decoding
them. Nothing that could not be read is deleted: a segment proven wrong is moved to ``rejected/``, one whose
check failed is kept and the check retried, then the encode stops naming it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import EncodeError
from ..files import atomic_write_json, sha256_file
from .plan import Plan, Segment
from .programs import child_env, find_ffprobe
from .verify import Record, Verdict, check_segment

__all__ = [
    "DISK_FULL_TEXT",
    "EncodeState",
    "count_frames",
    "disk_full_error",
    "low_on_space",
    "state_dir_for",
    "unreadable_error",
]

log = logging.getLogger(__name__)
CHECK_ATTEMPTS = 3  # checks of a file before an unreadable one stops the encode
CHECK_PAUSE_SECONDS = 2.0  # before the second check; doubled before each later one
REJECTED = "rejected"  # where segments proven wrong are moved
PLAN_FILE = "plan.json"
DONE_FILE = "done.json"
# atomic_write_json's temp files (``.plan.XXXX.partial.json``), left behind only by a kill mid-write
_TEMP_PREFIXES = tuple(f".{Path(name).stem}." for name in (PLAN_FILE, DONE_FILE))
DISK_FULL_TEXT = "No space left on device"  # strerror(ENOSPC), as ffmpeg prints it


def low_on_space(folder: Path, margin: int = 16 << 20) -> bool:
    """Nearly no space left where ``folder`` lives. ffmpeg can exit 0 after a write failed with ENOSPC, leaving a
    short file; a frame count that is off while the disk is full means the disk, not the script."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < margin


def disk_full_error(func: str, folder: Path, what: str) -> EncodeError:
    """The one message for ENOSPC, wherever it shows up (a segment, a state file, the join)."""
    return EncodeError(
        func,
        f"the disk holding {folder} is full ({what}); nothing that was done is lost.",
        "free some space there and run the same command again: it resumes from the finished segments.",
    )


def state_dir_for(output: Path) -> Path:
    return output.with_name(output.name + ".vsenhance")


def count_frames(path: Path) -> int | None:
    """Video frames in a file by counting packets with ffprobe (no decoding); None when unreadable."""
    argv = [
        os.fspath(find_ffprobe("encode")), "-v", "error", "-select_streams", "v:0", "-count_packets",
        "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", os.fspath(path),
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    text = done.stdout.decode().strip().split(",")[0].strip()
    return int(text) if text.isdigit() else None


class EncodeState:
    """Files of one job: ``plan.json``, ``done.json``, ``seg_NNNNN.mkv`` and partial files."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @property
    def plan_path(self) -> Path:
        return self.dir / PLAN_FILE

    @property
    def done_path(self) -> Path:
        return self.dir / DONE_FILE

    def segment_path(self, seg: Segment) -> Path:
        return self.dir / seg.name

    def partial_path(self, seg: Segment, worker_id: str, attempt: int) -> Path:
        """Unique per attempt (``seg_00003.w1.a2.partial.mkv``), so two attempts never share a file."""
        name = Path(seg.name)
        return self.dir / f"{name.stem}.{worker_id}.a{attempt}.partial{name.suffix}"

    def partials(self) -> list[Path]:
        """Partial segment files left by any attempt (a killed driver or worker)."""
        return sorted(self.dir.glob("seg_*.partial*")) if self.dir.is_dir() else []

    def has_segments(self) -> bool:
        """Whether any finished segment file is on disk (unverified: a cheap look for the plan check)."""
        return self.dir.is_dir() and any(".partial" not in p.name for p in self.dir.glob("seg_*"))

    def exists(self) -> bool:
        return self.plan_path.is_file()

    def load_plan(self) -> Plan:
        try:
            data = json.loads(self.plan_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EncodeError(
                "encode",
                f"the plan {self.plan_path} is not readable ({str(exc)[:100]}).",
                "pass --restart to discard it and start over.",
            ) from exc
        return Plan.from_json(data)

    def write_plan(self, plan: Plan) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write(self.plan_path, plan.to_json())

    def _write(self, path: Path, data: object) -> None:
        try:
            atomic_write_json(path, data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full_error("encode", self.dir, f"writing {path.name}") from exc
            raise

    def records(self) -> tuple[str | None, dict[int, Record]]:
        """The done-record: the fingerprint it was written for and each segment's record. An unreadable record
        is no record (every segment on disk is then decoded again), never an error."""
        try:
            data = json.loads(self.done_path.read_text(encoding="utf-8"))
            records = {
                int(k): Record(int(v["frames"]), int(v["size"]), str(v["sha256"])) for k, v in data["done"].items()
            }
            return str(data["fingerprint"]), records
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
            if self.done_path.exists():
                log.warning("the done-record %s is not readable (%s): segments are checked again", self.done_path, exc)
            return None, {}

    def write_done(self, plan: Plan, done: dict[int, Record]) -> None:
        record = {
            "fingerprint": plan.fingerprint,
            "done": {str(k): done[k].to_json() for k in sorted(done)},
            "done_frames": sum(r.frames for r in done.values()),
            "total_frames": plan.total_frames,
        }
        self._write(self.done_path, record)

    def check(self, ffmpeg: Path, path: Path, expected: int) -> Verdict:
        """:func:`~.verify.check_segment`, retried while the check itself fails (a stalled mount recovers)."""
        pause = CHECK_PAUSE_SECONDS
        verdict = check_segment(ffmpeg, path, expected)
        for _ in range(CHECK_ATTEMPTS - 1):
            if verdict.kind != "unreadable":
                break
            log.warning("could not check %s (%s); trying again in %.0f s", path, verdict.reason, pause)
            time.sleep(pause)
            pause *= 2
            verdict = check_segment(ffmpeg, path, expected)
        return verdict

    def reject(self, path: Path, reason: str) -> Path:
        """Move a segment proven wrong aside (never delete it): ``rejected/NAME.<time>.<pid>``."""
        folder = self.dir / REJECTED
        folder.mkdir(exist_ok=True)
        target = folder / f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
        os.replace(path, target)
        log.warning("%s is wrong (%s): moved to %s", path.name, reason, target)
        return target

    def foreign_segments(self, plan: Plan | None) -> str | None:
        """Why the segment files here belong to no job this plan can resume, or None when they may be its own:
        segments without a plan, or a done-record written for another fingerprint."""
        if not self.has_segments():
            return None
        if plan is None:
            return f"{self.dir} holds segment files but no plan (plan.json is gone)"
        fingerprint, _ = self.records()
        if fingerprint is not None and fingerprint != plan.fingerprint:
            return f"the done-record in {self.dir} was written for another job (fingerprint {fingerprint[:12]})"
        return None

    def scan_done(self, plan: Plan, ffmpeg: Path, tell: Callable[[str], None]) -> dict[int, Record]:
        """The segments already done: bytes that match their record are trusted, any other file is decoded
        again; partial files are removed, a segment proven wrong is moved to ``rejected/``, and one that cannot
        be checked stops the encode with the file kept. The done-record is rewritten."""
        for partial in self.partials():
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        _, records = self.records()
        done: dict[int, Record] = {}
        for seg in plan.segments:
            path = self.segment_path(seg)
            if not path.exists():
                continue
            known = records.get(seg.index)
            if known is not None and known.frames == seg.frames:
                if _same_bytes(path, known):
                    done[seg.index] = known
                    continue
                # the record proves this is not the file that was verified: another segment, another job's
                # segment, damage. Its frame count may well be right, so it is never decoded and trusted
                moved = self.reject(path, "its bytes are not those of the segment verified before")
                tell(f"segment {seg.index} (frames {seg.first}-{seg.last}) is not the file that was verified "
                     f"(its size or SHA-256 differs from the record): moved to {moved}; it is rendered again")  # fmt: skip
                continue
            verdict = self.check(ffmpeg, path, seg.frames)
            if verdict.kind == "ok":
                assert verdict.record is not None
                done[seg.index] = verdict.record
            elif verdict.kind == "wrong":
                moved = self.reject(path, verdict.reason)
                tell(f"segment {seg.index} (frames {seg.first}-{seg.last}) is wrong ({verdict.reason}): "
                     f"moved to {moved}; it is rendered again")  # fmt: skip
            else:
                raise unreadable_error(path, verdict.reason)
        self.write_done(plan, done)
        return done

    def clear(self) -> None:
        """Remove this job's files (the plan, records, segments, lists) and the folder if it ends up empty."""
        if not self.dir.is_dir():
            return
        for child in self.dir.iterdir():
            if child.is_file() and (
                child.name in (PLAN_FILE, DONE_FILE, "concat.txt") or child.name.startswith(("seg_", *_TEMP_PREFIXES))
            ):
                child.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()


HASH_SECONDS = 600.0
"""The longest a segment's hash may take before the file counts as unreadable (a stalled mount)."""


def _same_bytes(path: Path, record: Record) -> bool:
    """Whether ``path`` still holds the bytes its record describes. A file that cannot be read to the end (a
    FIFO put in its place, a stalled mount) stops the encode with the file kept, instead of blocking it."""
    try:
        info = path.stat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise unreadable_error(path, "it is not a regular file (a FIFO or a device)")
    if info.st_size != record.size:
        return False
    hashed: list[str | OSError] = []

    def read() -> None:
        try:
            hashed.append(sha256_file(path))
        except OSError as exc:
            hashed.append(exc)

    reader = threading.Thread(target=read, name="segment-hash", daemon=True)  # daemon: a stuck read never holds
    reader.start()  # the driver's exit
    reader.join(HASH_SECONDS)
    if not hashed:
        raise unreadable_error(path, f"reading it took over {HASH_SECONDS:g} s (a stalled mount?)")
    if isinstance(hashed[0], OSError):
        raise unreadable_error(path, f"reading it failed: {hashed[0].strerror or hashed[0]}")
    return hashed[0] == record.sha256


def unreadable_error(path: Path, reason: str) -> EncodeError:
    """The one stop for a segment file whose check kept failing: it is kept, nothing is deleted."""
    return EncodeError(
        "encode",
        f"{path} could not be checked {CHECK_ATTEMPTS} times ({reason}); it is kept and nothing was deleted.",
        "make it readable (a stalled mount, a missing ffmpeg) and run the same command again to resume.",
    )
