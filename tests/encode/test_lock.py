"""One driver per output: the second refuses naming the first; a dead driver's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from vsenhance.encode.lock import LOCK_FILE, OutputLock
from vsenhance.errors import EncodeError

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vsenhance.encode.lock import OutputLock
    lock = OutputLock(Path(sys.argv[1]))
    lock.acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def _holder(state_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_lock_refuses_naming_the_first(tmp_path):
    proc = _holder(tmp_path / "s")
    try:
        with pytest.raises(EncodeError) as info:
            OutputLock(tmp_path / "s").acquire()
        assert f"PID {proc.pid} on {socket.gethostname()}" in str(info.value)
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_driver_is_taken_over(tmp_path, caplog):
    proc = _holder(tmp_path / "s")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((tmp_path / "s" / LOCK_FILE).read_text())["pid"] == proc.pid  # left behind
    with caplog.at_level("WARNING"), OutputLock(tmp_path / "s"):
        assert json.loads((tmp_path / "s" / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"PID {proc.pid}" in caplog.text and "gone" in caplog.text
    assert not (tmp_path / "s" / LOCK_FILE).exists()  # released: removed


def test_release_lets_the_next_one_in(tmp_path):
    with OutputLock(tmp_path / "s"):
        pass
    with OutputLock(tmp_path / "s"):
        assert (tmp_path / "s" / LOCK_FILE).exists()
