"""The render worker: vspipe's bytes, the script executed once, failures with absolute frames, a clean channel."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from vsenhance.encode.farm.protocol import Failed, Finished, FramesWritten, Probed, ProbeTask, Ready, RenderTask

from ..encode_helpers import write_script
from .farm_helpers import COUNT_EXECUTIONS, WorkerProcess, copy_argv, vspipe_y4m


def _task(tmp: Path, index: int, first: int, last: int, attempt: int = 1) -> RenderTask:
    partial = tmp / f"seg{index}.{attempt}.partial"
    return RenderTask(index, first, last, copy_argv(partial), str(partial), str(tmp / f"seg{index}.y4m"), attempt)


@pytest.fixture
def worker_factory():
    started: list[WorkerProcess] = []

    def start(script: Path, *args: str) -> WorkerProcess:
        started.append(WorkerProcess(script, *args))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def test_segments_are_vspipes_bytes_and_the_script_runs_once(tmp_path, worker_factory):
    count = tmp_path / "executions.txt"
    script = write_script(tmp_path / "clip.vpy", extra=COUNT_EXECUTIONS)
    w = worker_factory(script, f"count={count}", "length=40")
    ready = w.wait_for(Ready)
    assert ready.worker.worker_id == "w0" and ready.worker.gpu is None
    assert (ready.clip.frames, ready.clip.width, ready.clip.height) == (40, 64, 48)
    assert (ready.clip.format, ready.clip.color_family, ready.clip.fps_num) == ("YUV420P8", "YUV", 24)
    ranges = [(0, 9), (10, 26), (27, 39), (13, 13)]
    for i, (first, last) in enumerate(ranges):
        w.send(_task(tmp_path, i, first, last))
        done = w.wait_for(Finished)
        assert done.index == i and done.seconds >= done.first_frame_seconds > 0
    for i, (first, last) in enumerate(ranges):
        got = (tmp_path / f"seg{i}.y4m").read_bytes()
        assert got == vspipe_y4m(script, first, last, f"count={tmp_path / 'other.txt'}", "length=40"), (first, last)
    assert not list(tmp_path.glob("*.partial"))
    assert count.read_text().splitlines() == ["executed"]  # once for four tasks
    assert w.close() == 0


def test_failure_names_the_absolute_frame_and_the_worker_lives_on(tmp_path, worker_factory):
    script = write_script(tmp_path / "clip.vpy")
    w = worker_factory(script, "failat=17")
    w.wait_for(Ready)
    w.send(_task(tmp_path, 1, 10, 19))
    failed = w.wait_for(Failed)
    assert failed.index == 1
    assert "frame 17" in failed.message and "planned failure at frame 17" in failed.message
    assert "\n" not in failed.message and "RuntimeError" in failed.stderr_tail
    assert not (tmp_path / "seg1.1.partial").exists() and not (tmp_path / "seg1.y4m").exists()

    # ffmpeg exiting non-zero: Failed with its stderr tail; then a good task on the same worker
    bad = RenderTask(
        2,
        20,
        29,
        ("ffmpeg", "-v", "error", "-f", "nosuchformat", "-i", "pipe:0", "x.mkv"),
        str(tmp_path / "p"),
        str(tmp_path / "f"),
    )
    w.send(bad)
    failed = w.wait_for(Failed)
    assert failed.index == 2 and "ffmpeg exited with code" in failed.message and failed.stderr_tail
    w.send(_task(tmp_path, 3, 20, 29))
    assert w.wait_for(Finished).index == 3
    w.send(ProbeTask((0, 5)))
    probed = w.wait_for(Probed)
    assert set(probed.props) == {0, 5} and probed.props[5]["_DurationDen"] == 24
    assert w.close() == 0


def test_sys_exit_in_a_frame_callback_is_said_as_such_and_the_worker_lives_on(tmp_path, worker_factory):
    """VapourSynth hands a callback's SystemExit back to output()/get_frame(): a failed task naming the call and
    the frame, not an interpreter shutdown (SIGABRT, "_enter_buffered_busy")."""
    script = tmp_path / "exits.vpy"
    script.write_text(
        "import sys\nimport vapoursynth as vs\nc = vs.core.std.BlankClip(format=vs.YUV420P8, length=30)\n"
        "def f(n, f):\n    if n == 12:\n        sys.exit(4)\n    return f\n"
        "vs.core.std.ModifyFrame(c, c, f).set_output()\n"
    )
    w = worker_factory(script)
    w.wait_for(Ready)
    w.send(_task(tmp_path, 1, 10, 19))
    failed = w.wait_for(Failed)
    assert (failed.index, failed.message, failed.stderr_tail) == (1, "the script called sys.exit(4) on frame 12", "")
    w.send(ProbeTask((12,)))
    assert w.wait_for(Failed).message == "probing frame 12: the script called sys.exit(4)"
    w.send(_task(tmp_path, 2, 0, 9))
    assert w.wait_for(Finished).index == 2
    assert w.close() == 0


def test_stdin_closing_mid_segment_ends_the_worker_and_removes_the_partial(tmp_path, worker_factory):
    script = write_script(tmp_path / "clip.vpy")
    w = worker_factory(script, "delay=0.05")  # 48 frames: ~2.4 s
    w.wait_for(Ready)
    task = _task(tmp_path, 0, 0, 47)
    w.send(task)
    progress = w.wait_for(FramesWritten)
    assert progress.index == 0 and progress.frames > 0
    assert Path(task.partial).exists()
    t0 = time.monotonic()
    assert w.close(timeout=5) == 0
    assert time.monotonic() - t0 < 5
    time.sleep(0.3)  # a copy child left behind would still be writing
    assert not Path(task.partial).exists() and not Path(task.final).exists()


def test_the_channel_carries_only_protocol_lines(tmp_path, worker_factory):
    noisy = """
import os, sys
print("print at load")
sys.stdout.write("sys.stdout at load\\n")
os.write(1, b"fd 1 at load\\n")
def shout(n, f):
    print("print at frame", n)
    os.write(1, b"fd 1 at frame\\n")
    return f
clip = core.std.ModifyFrame(clip, clip, shout)
clip.set_output()
"""
    script = write_script(tmp_path / "clip.vpy", extra=noisy)
    w = worker_factory(script, "length=12")
    w.wait_for(Ready)
    w.send(_task(tmp_path, 0, 0, 11))
    w.wait_for(Finished)
    assert w.close() == 0
    assert all(line.startswith(b'{"type":') for line in w.lines), w.lines
    assert "fd 1 at load" in w.stderr() and "print at frame" in w.stderr()
    quiet = write_script(tmp_path / "quiet" / "clip.vpy")  # under vspipe the prints would corrupt the y4m
    assert (tmp_path / "seg0.y4m").read_bytes() == vspipe_y4m(quiet, 0, 11, "length=12")


def test_a_script_that_fails_to_execute_is_reported_and_the_worker_exits(tmp_path, worker_factory):
    script = tmp_path / "bad.vpy"
    script.write_text("raise ValueError('broken script')\n")
    w = worker_factory(script)
    failed = w.wait_for(Failed)
    assert failed.index is None and "broken script" in failed.message
    assert w.proc.wait(timeout=30) == 1


def test_an_ffmpeg_that_writes_no_file_is_a_failed_task(tmp_path, worker_factory):
    script = write_script(tmp_path / "clip.vpy")
    w = worker_factory(script, "length=4")
    w.wait_for(Ready)
    drain = (sys.executable, "-c", "import sys; sys.stdin.buffer.read()")  # exits 0, writes nothing
    w.send(RenderTask(0, 0, 3, drain, str(tmp_path / "p"), str(tmp_path / "f")))
    failed = w.wait_for(Failed)
    assert failed.index == 0 and "could not finish" in failed.message
    w.send(_task(tmp_path, 1, 0, 3))
    assert w.wait_for(Finished).index == 1
    assert w.close() == 0


def test_a_probe_reads_held_frame_decisions_without_rendering(tmp_path, worker_factory):
    """The key frames of spans of the script's decisions (named alike in every process), or a failed probe
    naming decisions this worker's clip does not have."""
    script = tmp_path / "held.vpy"
    script.write_text(
        "import vapoursynth as vs\nfrom vsenhance.bridge.held import HeldRule, KeyFrames\n"
        "c = vs.core.std.BlankClip(format=vs.GRAY8, width=8, height=8, length=20)\n"
        "c = vs.core.std.Splice([c[i].std.BlankClip(color=i // 3 * 10, keep=True) for i in range(20)])\n"
        "KeyFrames(c, HeldRule(None)).at_key(c).set_output()\n"
    )
    w = worker_factory(script)
    w.wait_for(Ready)
    w.send(ProbeTask((), (("held0", 0, 7), ("held0", 17, 19))))
    assert w.wait_for(Probed).keys == ((0, 0, 0, 3, 3, 3, 6, 6), (15, 18, 18))
    w.send(ProbeTask((), (("held7", 0, 3),)))
    assert "held-frame decisions held7 are not in this worker's clip" in w.wait_for(Failed).message
    assert w.close() == 0
