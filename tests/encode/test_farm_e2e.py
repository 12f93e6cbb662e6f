"""End-to-end with long-lived workers: real worker processes and ffmpeg on tiny clips, compared frame by frame
(ffv1 is lossless) with a one-process ``vspipe | ffmpeg`` run; faults injected with real signals."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from scripts.processes import descendants
from vsenhance.cli import main

from .encode_helpers import (
    LOG_FRAMES,
    direct_framemd5,
    framemd5,
    run_cli,
    start_cli,
    wait_for_done_segments,
    write_script,
)
from .farm.farm_helpers import COUNT_EXECUTIONS

pytestmark = pytest.mark.slow


def _encode(script: Path, out: Path, *extra: str) -> list[str]:
    return ["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "8", *extra]


def _workers(root: int) -> dict[str, int]:
    """Worker id -> PID of the render workers below ``root`` (``... vsenhance.encode.farm.worker ... --id W``)."""
    found = {}
    for pid in descendants(root):
        with contextlib.suppress(OSError, ValueError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            if "vsenhance.encode.farm.worker" in argv:
                found[argv[argv.index("--id") + 1]] = pid
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(predicate, proc: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"encode ended early ({proc.returncode}): {err.decode()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError("timed out")


def _kill_tree(proc: subprocess.Popen) -> None:
    pids = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in pids:  # workers may run in their own session
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.communicate()


def test_two_workers_frame_exact_and_the_script_runs_once_per_worker(tmp_path, capsys):
    script = write_script(tmp_path / "clip.vpy", extra=COUNT_EXECUTIONS)
    ref = direct_framemd5(script)
    hashes = {}
    for workers in (1, 2):
        runs = tmp_path / f"runs{workers}.txt"
        out = tmp_path / f"out{workers}.mkv"
        rc = main([*_encode(script, out, "--workers", str(workers)), "-a", f"count={runs}"])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert "48/48" in err and "fps" in err
        hashes[workers] = framemd5(out)
        assert runs.read_text().splitlines() == ["executed"] * workers  # six segments, one execution per worker
    assert hashes[1] == hashes[2] == ref


def test_worker_killed_mid_segment_is_replaced_and_the_encode_is_frame_exact(script, tmp_path):
    out = tmp_path / "out.mkv"
    state = tmp_path / "out.mkv.vsenhance"
    gate = tmp_path / "gate"  # segment 1 waits for it: the encode cannot end before the kill
    proc = start_cli(*_encode(script, out, "--workers", "2", "-a", "delay=0.05", "-a", f"gate={gate}"))
    try:
        partial = _wait(lambda: next(iter(state.glob("seg_*.partial.mkv")), None), proc)
        worker_id = partial.name.split(".")[1]  # seg_00001.w1.a1.partial.mkv
        pid = _wait(lambda: _workers(proc.pid).get(worker_id), proc)
        os.kill(pid, signal.SIGKILL)
        gate.touch()
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
    assert proc.returncode == 0, err.decode()
    assert "died" in err.decode()
    assert framemd5(out) == direct_framemd5(script)


def test_driver_killed_then_resumed_with_another_worker_count(script, tmp_path):
    out = tmp_path / "out.mkv"
    state = tmp_path / "out.mkv.vsenhance"
    gate = tmp_path / "gate"  # segment 1 waits for it: the encode cannot end before the kill
    args = _encode(script, out, "-a", "delay=0.05", "-a", f"gate={gate}")
    proc = start_cli(*args, "--workers", "2")
    workers = []
    try:
        wait_for_done_segments(state, 1, proc)
        workers = list(_workers(proc.pid).values())
        assert len(workers) == 2
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must notice and end by themselves
        proc.communicate()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in workers if _alive(p)], "workers outlived their driver"
    done_before = json.loads((state / "done.json").read_text())["done"]
    assert 1 <= len(done_before) < 6 and "1" not in done_before and not out.exists()
    gate.touch()
    done = run_cli(*args, "--workers", "1")  # a lock left by the killed driver does not block
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "resuming" in err and "taking over the lock" in err
    assert framemd5(out) == direct_framemd5(script)
    assert not state.exists()


def test_two_drivers_on_one_output(script, tmp_path):
    out = tmp_path / "out.mkv"
    gate = tmp_path / "gate"  # segment 1 waits for it: the first encode is still running when the second starts
    args = _encode(script, out, "-a", "delay=0.05", "-a", f"gate={gate}")
    proc = start_cli(*args)
    try:
        _wait(lambda: (tmp_path / "out.mkv.vsenhance" / "lock").exists(), proc)
        second = run_cli(*args, timeout=60)
        assert second.returncode == 2
        err = second.stderr.decode()
        assert f"PID {proc.pid}" in err and "another vsenhance encode" in err and "Traceback" not in err
        gate.touch()
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()  # the first one was not disturbed
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
    assert framemd5(out) == direct_framemd5(script)


def test_failure_before_any_segment_does_not_demand_restart(script, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    assert main([*_encode(script, out), "-a", "failat=2", "--max-retries", "0"]) == 2
    err = capsys.readouterr().err
    assert "segment 0 (frames 0-7" in err and "planned failure at frame 2" in err
    assert main([*_encode(script, out), "-a", "length=40"]) == 0, capsys.readouterr().err  # changed: no --restart
    assert framemd5(out) == direct_framemd5(script, "length=40")


def test_rgb_output_is_refused_before_any_segment(tmp_path, capsys):
    script = write_script(tmp_path / "rgb.vpy", extra="core.resize.Bicubic(clip, format=vs.RGB24, matrix_in_s='709')"
                          ".set_output()\n")  # fmt: skip
    out = tmp_path / "out.mkv"
    assert main(_encode(script, out)) == 2
    err = capsys.readouterr().err
    assert "RGB24" in err and 'output_format="same"' in err and "resize" in err
    assert not (tmp_path / "out.mkv.vsenhance").exists()


def test_script_that_does_not_load_stops_once_with_its_error(tmp_path, capsys):
    script = write_script(tmp_path / "bad.vpy", extra=COUNT_EXECUTIONS + "raise RuntimeError('no such source file')\n")
    runs = tmp_path / "runs.txt"
    assert main([*_encode(script, tmp_path / "out.mkv", "--workers", "2"), "-a", f"count={runs}"]) == 2
    err = capsys.readouterr().err
    assert "no such source file" in err and "every worker failed" in err
    assert runs.read_text().splitlines() == ["executed"] * 2  # each worker tried once: no retry storm


def test_bad_requests_are_refused_before_any_worker_starts(script, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    for extra, text in [(["--workers", "0"], "--workers 0"), (["--gpus", "0,x"], "--gpus"),
                        (["--gpus", "1,1"], "distinct"), (["--max-retries", "-1"], "--max-retries")]:  # fmt: skip
        assert main([*_encode(script, out), *extra]) == 2
        assert text in capsys.readouterr().err
    assert not (tmp_path / "out.mkv.vsenhance").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 64 KiB (root only; a 40-frame test segment takes 12 KiB); unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("length", [480, 120])  # 480 frames fill it while encoding, 120 only in the join
def test_disk_full_says_so_and_keeps_what_is_done(script, small_disk, capsys, length):
    out = small_disk / "out.mkv"
    rc = main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "40",
               "-a", f"length={length}"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "is full" in err and str(small_disk) in err
    assert "frame count" not in err and "Traceback" not in err
    state = small_disk / "out.mkv.vsenhance"
    done = json.loads((state / "done.json").read_text())["done"]
    kept = list(state.glob("seg_*.mkv"))
    # the record names only kept files; it may lag behind them where the full disk refused its last write (a
    # loaded machine), and those are checked on resume (test_a_resume_after_the_disk_is_freed_...)
    assert kept and all((state / f"seg_{int(i):05d}.mkv").is_file() for i in done)
    assert len(done) == 3 or length == 480  # 120 frames: all three segments recorded before the join
    assert not list(state.glob("*.partial*")) and not out.exists()


def test_a_resume_after_the_disk_is_freed_renders_only_what_is_not_on_it(tmp_path, small_disk, capsys):
    """The disk fills mid-encode; once there is room again, the resume renders exactly the segments that are
    not on the disk complete: every kept file is trusted (recorded) or decoded again and trusted, files cut
    short by the full disk are moved aside and rendered again; the output is one vspipe's, frame for frame."""
    script = write_script(tmp_path / "clip.vpy", extra=LOG_FRAMES)
    log, out, state = tmp_path / "frames.txt", small_disk / "out.mkv", small_disk / "out.mkv.vsenhance"
    argv = ["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "40",
            "-a", "length=480", "-a", f"frames_log={log}"]  # fmt: skip
    assert main(argv) == 2
    assert "is full" in capsys.readouterr().err
    kept = {int(p.stem.removeprefix("seg_")) for p in state.glob("seg_*.mkv")}
    assert kept and len(kept) < 12
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    log.write_text("")
    assert main(argv) == 0
    assert "resuming: found a matching plan" in capsys.readouterr().err
    cut_short = {int(p.name.split(".")[0].removeprefix("seg_")) for p in (state / "rejected").glob("seg_*")}
    rendered = {int(line.split()[1]) for line in log.read_text().splitlines()}
    segments = {i for i in range(12) if set(range(40 * i, 40 * i + 40)) <= rendered}  # the probe reads single frames
    assert segments == set(range(12)) - (kept - cut_short)
    assert framemd5(out) == direct_framemd5(script, "length=480")


HELD_SCRIPT = """\
import numpy as np
import vapoursynth as vs
import vsenhance as vse
core = vs.core
rng = np.random.default_rng(0)
pictures = rng.integers(16, 235, (20, 24, 32), dtype=np.uint8)
blank = core.std.BlankClip(format=vs.YUV420P8, width=32, height=24, length=40, fpsnum=24)

def fill(n, f):
    out = f.copy()
    np.asarray(out[0])[...] = pictures[n // 2]  # drawn on twos
    return out

src = blank.std.ModifyFrame(blank, fill).std.SetFrameProps(_Matrix=1, _Range=0, _ChromaLocation=0)
backend = globals().get("backend", "torch")
vse.upscale(src, model, device="cpu", precision="fp32", output_format="same", dedup=dedup, backend=backend).set_output()
"""


@pytest.mark.parametrize(("dedup", "backend"), [("exact", "torch"), ("near", "torch"), ("exact", "openvino")])
def test_held_frames_on_two_workers_are_frame_exact_across_segment_boundaries(tmp_path, tiny_model_path, capsys,
                                                                                dedup, backend):  # fmt: skip
    """7-frame segments of a twos clip: segments 7-13, 21-27 and 35-39 start on a held frame, whose key is in
    the segment before: each computes it once more, and the frames are one vspipe's (with either backend)."""
    if backend == "openvino" and importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed (pip install 'vsenhance[openvino]')")
    script = tmp_path / "held.vpy"
    script.write_text(HELD_SCRIPT, encoding="utf-8")
    args = ("-a", f"model={tiny_model_path}", "-a", f"dedup={dedup}", "-a", f"backend={backend}")
    ref = direct_framemd5(script, f"model={tiny_model_path}", f"dedup={dedup}", f"backend={backend}")
    out = tmp_path / "held.mkv"
    rc = main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "7",
               "--workers", "2", *args])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert framemd5(out) == ref and len(ref) == 40
    assert "AI frames 40, computed 23 (42 % held)" in err  # 20 pictures, 3 of them twice
