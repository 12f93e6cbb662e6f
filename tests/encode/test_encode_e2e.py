"""End-to-end: real vspipe | ffmpeg runs on tiny clips, compared frame by frame (ffv1 is lossless)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from vsenhance.cli import main
from vsenhance.encode.state import count_frames

from .encode_helpers import (
    direct_framemd5,
    framemd5,
    run_cli,
    start_cli,
    wait_for_done_segments,
    write_script,
)

pytestmark = pytest.mark.slow


def _state_is_valid(state: Path, total: int, seg: int) -> dict:
    plan = json.loads((state / "plan.json").read_text())
    done = json.loads((state / "done.json").read_text())["done"]
    assert plan["total_frames"] == total
    assert not [p.name for p in state.iterdir() if ".partial" in p.name or p.name.endswith(".tmp")]
    for index, entry in done.items():
        assert (
            count_frames(state / f"seg_{int(index):05d}.mkv") == entry["frames"] == min(seg, total - int(index) * seg)
        )
    return done


def test_full_encode_matches_direct_pipe(script, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    rc = main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "10"])
    err = capsys.readouterr().err
    assert rc == 0, err
    ref = direct_framemd5(script)
    assert len(ref) == 48 and len(set(ref)) == 48  # every frame differs: a duplicate or gap would show
    assert framemd5(out) == ref
    assert "48/48" in err and "fps" in err
    assert not (tmp_path / "out.mkv.vsenhance").exists()  # cleaned after a successful mux
    # an existing output is not overwritten by accident
    assert main(["encode", str(script), "-o", str(out), "--encoder", "ffv1"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_x264_mp4_frame_count_and_keep_segments(script, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    args = ["encode", str(script), "-o", str(out), "--segment-frames", "20", "--preset", "ultrafast",
            "--crf", "30", "-a", "length=50", "--keep-segments"]  # fmt: skip
    assert main(args) == 0
    assert count_frames(out) == 50 and len(framemd5(out)) == 50
    state = tmp_path / "out.mp4.vsenhance"
    assert sorted(p.name for p in state.glob("seg_*.mkv")) == ["seg_00000.mkv", "seg_00001.mkv", "seg_00002.mkv"]
    # rerun with everything done: only the join is repeated
    capsys.readouterr()
    assert main([*args, "-y"]) == 0
    assert "3 of 3 segments (50 frames) already done" in capsys.readouterr().err


def test_audio_is_muxed(script, tmp_path):
    wav = tmp_path / "audio.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-y", str(wav)],
        check=True,
    )
    out = tmp_path / "out.mkv"
    assert main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--audio", str(wav)]) == 0
    streams = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(out)],
        capture_output=True, check=True, text=True,
    ).stdout.split()  # fmt: skip
    assert sorted(streams) == ["audio", "video"]
    assert framemd5(out) == direct_framemd5(script)


def _start_slow_encode(script, tmp_path, workers: int = 1):
    """An ffv1 encode in 8-frame segments, slowed down, whose segment 1 waits for ``tmp_path / "gate"``: it
    cannot finish before the test interrupts it, however slow the test's process is."""
    out = tmp_path / "out.mkv"
    args = ["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "8", "-a", "delay=0.02",
            "-a", f"gate={tmp_path / 'gate'}", "--workers", str(workers)]  # fmt: skip
    return out, tmp_path / "out.mkv.vsenhance", args, start_cli(*args)


def _workers_of(script) -> list[int]:
    """PIDs of render workers executing ``script`` (they run in sessions of their own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"vsenhance.encode.farm.worker" in cmdline and str(script).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def test_sigkill_then_resume_is_frame_identical(script, tmp_path):
    out, state, args, proc = _start_slow_encode(script, tmp_path)
    try:
        wait_for_done_segments(state, 1, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its vspipe/ffmpeg children
        proc.communicate()
    deadline = time.monotonic() + 30
    while _workers_of(script) and time.monotonic() < deadline:  # each ends itself once its driver is gone
        time.sleep(0.05)
    assert not out.exists()
    done_before = _state_is_valid(state, 48, 8)
    assert 1 <= len(done_before) < 6 and "1" not in done_before  # segment 1 waited at the gate
    (tmp_path / "gate").touch()
    done = run_cli(*args)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "resuming" in err and "already done" in err
    assert f"{len(done_before) * 8}/48" in err  # the done count starts from the resumed frames
    assert framemd5(out) == direct_framemd5(script)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigint_exits_130_with_valid_state_and_resumes(script, tmp_path, workers):
    out, state, args, proc = _start_slow_encode(script, tmp_path, workers)
    try:
        wait_for_done_segments(state, 1, proc)
        assert len(_workers_of(script)) == workers
        proc.send_signal(signal.SIGINT)  # the CLI only: it must end its workers and their ffmpeg itself
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert _workers_of(script) == []
    assert "interrupted" in err.decode()
    assert "1" not in _state_is_valid(state, 48, 8)  # segment 1 waited at the gate
    assert not out.exists()
    (tmp_path / "gate").touch()
    done = run_cli("encode", *args[1:], "--resume")
    assert done.returncode == 0, done.stderr.decode()
    assert framemd5(out) == direct_framemd5(script)


def test_changed_script_is_refused(script, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    args = ["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "10",
            "-a", "failat=25"]  # fmt: skip
    assert main(args) == 2  # fails in segment 2, segments 0 and 1 are kept
    capsys.readouterr()
    write_script(script, extra="# edited\n")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "PlanMismatch" in err or "different job" in err
    assert "script's content" in err and "--restart" in err
    # other settings are refused too, naming them
    assert main([*args[:-2], "-a", "failat=25", "--segment-frames", "12"]) == 2
    assert "segment size (10 → 12)" in capsys.readouterr().err
    # --restart discards the old plan
    assert main([*args[:-2], "-a", "failat=-1", "--restart"]) == 0
    assert framemd5(out) == direct_framemd5(script)


def test_resume_without_plan_is_an_error(script, tmp_path, capsys):
    assert main(["encode", str(script), "-o", str(tmp_path / "o.mkv"), "--resume"]) == 2
    assert "no plan" in capsys.readouterr().err


def test_paths_with_spaces_quotes_unicode(tmp_path, capsys):
    weird = tmp_path / "dir ü 視頻 \"q\" 'a'"
    script = write_script(weird / "my script ü.vpy")
    out = weird / "out file 視頻's.mkv"
    assert main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "20"]) == 0, (
        capsys.readouterr().err
    )
    assert framemd5(out) == direct_framemd5(script)


def test_vspipe_failure_names_segment_and_shows_stderr(script, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    rc = main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "10",
               "-a", "failat=23"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "segment 2 (frames 20-29)" in err and "the script failed on frame 23" in err and "failed 3 times" in err
    assert "planned failure at frame 23" in err and "Traceback" in err  # the script's own traceback
    state = tmp_path / "out.mkv.vsenhance"
    assert sorted(p.name for p in state.glob("seg_*")) == ["seg_00000.mkv", "seg_00001.mkv"]


def test_ffmpeg_failure_names_segment_and_shows_stderr(script, tmp_path, capsys, monkeypatch):
    """An ffmpeg that fails on the segments' y4m (bad options never get this far: the dry run refuses them)."""
    real = shutil.which("ffmpeg")
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\ncase "$*" in *yuv4mpegpipe*) echo "Unrecognized option bogus_opt" >&2; exit 1;; esac\n'
                    f'exec {real} "$@"\n')  # fmt: skip
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out.mkv"
    rc = main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--max-retries", "0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "segment 0 (frames 0-47)" in err and "ffmpeg exited with code" in err and "bogus_opt" in err
    assert not out.exists()


def test_a_hybrid_encode_counts_its_ai_frames_and_is_frame_exact(tmp_path, capsys, tiny_model_path):
    script = tmp_path / "hybrid.vpy"
    script.write_text(
        "import vapoursynth as vs\nimport vsenhance as vse\ncore = vs.core\n"
        "src = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=60, color=[60, 110, 150])\n"
        "src = core.text.FrameNum(src)\n"
        f"out = vse.upscale_ranges(src, '13-30', {str(tiny_model_path)!r}, device='cpu', precision='fp32', "
        "output_format='same')\n"
        "(out[5:] + out[:10]).set_output()\n"  # a trim and a splice: the map follows both
    )
    out = tmp_path / "out.mkv"
    rc = main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "10"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "AI frames: 18 of 65" in err and "AI frames 18, computed 18 (0 % held)" in err  # every frame differs
    assert "segments that compute the most go first" in err
    assert framemd5(out) == direct_framemd5(script)
