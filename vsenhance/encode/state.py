"""The state folder beside the output (``OUT.mkv.vsenhance/``): plan, done-record and segment files.

Every JSON file is written with :func:`vsenhance.files.atomic_write_json`, so a kill at any moment leaves either
the old or the new record. A segment counts as done only when its file exists and ffprobe confirms its frame
count; the done-record alone is never trusted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from pathlib import Path

from ..errors import EncodeError
from ..files import atomic_write_json
from .plan import Plan, Segment
from .programs import child_env, find_ffprobe

__all__ = [
    "DISK_FULL_TEXT",
    "EncodeState",
    "count_frames",
    "disk_full_error",
    "low_on_space",
    "state_dir_for",
]

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
        os.fspath(find_ffprobe()), "-v", "error", "-select_streams", "v:0", "-count_packets",
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
                "EncodeState.load_plan",
                f"the plan {self.plan_path} is not readable ({exc}).",
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
                raise disk_full_error("EncodeState", self.dir, f"writing {path.name}") from exc
            raise

    def write_done(self, plan: Plan, done: dict[int, int]) -> None:
        record = {
            "fingerprint": plan.fingerprint,
            "done": {str(k): {"frames": done[k]} for k in sorted(done)},
            "done_frames": sum(done.values()),
            "total_frames": plan.total_frames,
        }
        self._write(self.done_path, record)

    def verify(self, seg: Segment) -> bool:
        """True when the segment file exists and holds exactly ``seg.frames`` video frames."""
        path = self.segment_path(seg)
        return path.is_file() and count_frames(path) == seg.frames

    def scan_done(self, plan: Plan) -> dict[int, int]:
        """Verify every segment file on disk; remove partial and wrong ones; rewrite the done-record."""
        for partial in self.partials():
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        done: dict[int, int] = {}
        for seg in plan.segments:
            path = self.segment_path(seg)
            if not path.exists():
                continue
            if self.verify(seg):
                done[seg.index] = seg.frames
            else:
                path.unlink()
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
