"""``vsenhance encode --ray`` end to end on the two-node loopback cluster: frame-exact against a one-process
``vspipe | ffmpeg`` run, segments rendered on both nodes, an actor killed mid-segment, a node lost, and the
``--env`` variables every worker sees."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..encode_helpers import LOG_FRAMES, direct_framemd5, framemd5, start_cli, write_script
from .farm_helpers import RayCluster, parent_pid

pytestmark = pytest.mark.slow


def _encode(script: Path, out: Path, address: str, *extra: str) -> list[str]:
    argv = ["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "8", "--ray", address]
    return [*argv, *extra]


def _nodes_per_segment(log: Path) -> dict[int, set[str]]:
    nodes: dict[int, set[str]] = {}
    for line in log.read_text().splitlines():
        tag, frame = line.split()
        nodes.setdefault(int(frame) // 8, set()).add(tag)
    return nodes


def _worker_pid(worker_id: str, script: Path) -> int | None:
    """The render worker ``--id worker_id`` of this script (it runs under a Ray actor, not under the CLI)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().decode().split("\0")
                if "vsenhance.encode.farm.worker" in argv and str(script) in argv and worker_id in argv:
                    return int(entry.name)
    return None


def _run(proc: subprocess.Popen, timeout: float = 120) -> str:
    try:
        _out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return err.decode()


def test_encode_on_two_nodes_is_frame_exact(ray_cluster, tmp_path):
    script = write_script(tmp_path / "clip.vpy", extra=LOG_FRAMES)
    log, out = tmp_path / "frames.txt", tmp_path / "out.mkv"
    err = _run(
        start_cli(
            *_encode(script, out, ray_cluster.address, "-a", f"frames_log={log}", "-a", "delay=0.02"),
            env={"HOME": str(ray_cluster.home)},
            enter=ray_cluster.enter,
        )
    )
    assert "done:" in err, err
    assert framemd5(out) == direct_framemd5(script, f"frames_log={tmp_path / 'ref.txt'}")
    nodes = _nodes_per_segment(log)
    assert sorted(nodes) == list(range(6))
    assert set().union(*nodes.values()) == {"a", "b"}  # segments rendered on both nodes


def test_actor_killed_mid_segment_the_encode_is_still_frame_exact(ray_cluster, tmp_path):
    script = write_script(tmp_path / "clip.vpy")
    out, state = tmp_path / "out.mkv", tmp_path / "out.mkv.vsenhance"
    proc = start_cli(
        *_encode(script, out, ray_cluster.address, "-a", "delay=0.05"),
        env={"HOME": str(ray_cluster.home)},
        enter=ray_cluster.enter,
    )
    try:
        deadline = time.monotonic() + 90
        pid = None
        while pid is None:
            assert time.monotonic() < deadline and proc.poll() is None, "no segment started"
            partial = next(iter(state.glob("seg_*.partial.mkv")), None)  # seg_00001.r1-w0.a1.partial.mkv
            if partial is not None:
                pid = _worker_pid(partial.name.split(".")[1], script)
            time.sleep(0.02)
        os.kill(parent_pid(pid), signal.SIGKILL)  # the Ray actor process hosting that worker
    finally:
        err = _run(proc)
    assert proc.returncode == 0, err
    assert "died" in err
    assert framemd5(out) == direct_framemd5(script)


# Appended to encode_helpers.SCRIPT: the clip's length comes from the environment, as a script's settings may.
LENGTH_FROM_ENV = """
import os
if "VSE_TEST_LENGTH" in os.environ:
    clip = clip[: int(os.environ["VSE_TEST_LENGTH"])]
    clip.set_output()
"""


def test_env_reaches_every_ray_worker_and_the_plan(ray_cluster, tmp_path, monkeypatch):
    script = write_script(tmp_path / "clip.vpy", extra=LENGTH_FROM_ENV)
    out = tmp_path / "out.mkv"
    monkeypatch.setenv("VSE_TEST_LENGTH", "20")  # this shell has it; the nodes do not
    err = _run(
        start_cli(
            *_encode(script, out, ray_cluster.address, "--env", "VSE_TEST_LENGTH", "--keep-segments"),
            env={"HOME": str(ray_cluster.home)},
            enter=ray_cluster.enter,
        )
    )
    assert "done:" in err and "(20 frames)" in err, err
    assert framemd5(out) == direct_framemd5(script)  # the local reference, with this shell's VSE_TEST_LENGTH
    plan = json.loads((tmp_path / "out.mkv.vsenhance" / "plan.json").read_text())
    assert plan["env"] == {"VSE_TEST_LENGTH": hashlib.sha256(b"20").hexdigest()}  # the digest, never the value

    # a changed value is a changed plan: refused, naming the variable, with the finished segments kept
    monkeypatch.setenv("VSE_TEST_LENGTH", "24")
    proc = start_cli(*_encode(script, out, ray_cluster.address, "--env", "VSE_TEST_LENGTH", "--resume", "-y"))
    err = _run(proc)
    assert proc.returncode == 2 and "the --env variables (VSE_TEST_LENGTH changed)" in err, err


def test_a_lost_node_costs_its_segment_and_says_so_in_one_line(tmp_path, tmp_path_factory):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'vsenhance[cluster]')")
    cluster = RayCluster(tmp_path_factory.mktemp("lost"))  # its own, as this test ends one of its nodes
    try:
        script = write_script(tmp_path / "clip.vpy")
        out, state = tmp_path / "out.mkv", tmp_path / "out.mkv.vsenhance"
        argv = _encode(script, out, cluster.address, "-a", "length=160", "-a", "delay=0.05")
        proc = start_cli(*argv, env={"HOME": str(cluster.home)}, enter=cluster.enter)
        try:
            deadline = time.monotonic() + 90
            while len(list(state.glob("seg_*[0-9].mkv"))) < 2:  # both nodes have rendered
                assert time.monotonic() < deadline and proc.poll() is None, "no segment finished"
                time.sleep(0.05)
            cluster.stop_node("b")
        finally:
            err = _run(proc, timeout=240)
    finally:
        cluster.stop()
    assert proc.returncode == 0, err
    assert framemd5(out) == direct_framemd5(script, "length=160")
    assert re.search(r"died: its Ray (node left the cluster|actor stopped answering)", err), err
    after_start = err[err.index("encode: started") :]
    assert not re.search(r"^\[\d{4}-\d\d-\d\d [^\]]*\] \S+\.cc:\d+", after_start, re.M), err  # Ray's core: silent
    assert max(map(len, after_start.splitlines())) < 300, err  # and no actor ids or RPC codes in our lines
