"""``vsenhance encode --ray``: a real two-node Ray cluster on loopback (started and ended by the test)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .encode_helpers import direct_framemd5, framemd5, run_cli

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    """A head and a second node, each with 1 CPU; every process they start is ended afterwards."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="/tmp/vser")  # Ray's socket paths must stay short
    ray_bin = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "ray"
    exe = str(ray_bin) if ray_bin.is_file() else "ray"
    common = ["--num-cpus=1", "--disable-usage-stats", "--block"]
    procs = [
        subprocess.Popen([exe, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                          f"--temp-dir={temp}", "--include-dashboard=false", *common],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True),
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.5)
        procs.append(
            subprocess.Popen([exe, "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", *common],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        )  # fmt: skip
        yield f"127.0.0.1:{port}"
    finally:
        for proc in reversed(procs):  # each `ray start --block` leads its own session: its raylet, GCS, workers
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_cluster_encode_is_frame_exact(script, tmp_path, cluster):
    out = tmp_path / "out.mkv"
    done = run_cli("encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "8",
                   "--ray", cluster, "--workers", "2", timeout=300)  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "started 2 workers (Ray" in err and "48/48" in err
    assert framemd5(out) == direct_framemd5(script)
