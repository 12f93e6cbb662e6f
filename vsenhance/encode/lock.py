"""One driver per output: an exclusive ``flock`` on ``OUT.vsenhance/lock``, holding who took it.

``flock`` belongs to the open file, so the kernel drops it when the holder dies, however it dies: a lock file
left by a killed driver is not held and is taken over (the JSON in it only names the previous holder). The
file is removed on release; a driver that opened the old file just before that sees its inode gone and
opens the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

from ..errors import EncodeError

__all__ = ["LOCK_FILE", "OutputLock"]

LOCK_FILE = "lock"
log = logging.getLogger(__name__)


class OutputLock:
    """``with OutputLock(state_dir):`` — refuses at once (EncodeError) when another live driver holds it."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise EncodeError(
                    "encode",
                    f"another vsenhance encode (PID {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                    f"started {holder.get('started', '?')}) is writing to {self.path.parent}.",
                    "wait for it to finish or stop it, or use another -o.",
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file while we waited: lock the new one
        stale = _read(fd)
        if stale.get("pid"):
            log.warning(
                "taking over the lock of an encode that is gone (PID %s on %s, started %s)",
                stale.get("pid"), stale.get("host", "?"), stale.get("started", "?"),
            )  # fmt: skip
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
