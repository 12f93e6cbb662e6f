from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from vsenhance.cli import main
from vsenhance.encode.cut import cut_argv
from vsenhance.encode.state import count_frames


def test_cut_argv_seeks_before_input():
    argv = cut_argv(Path("ffmpeg"), Path("in put.mp4"), Path("o.mp4"), 716, 30, reencode=False)
    assert argv.index("-ss") < argv.index("-i") and "in put.mp4" in argv
    assert argv[argv.index("-c") + 1] == "copy"
    assert "libx264" in cut_argv(Path("ffmpeg"), Path("i.mp4"), Path("o.mp4"), 1, 2, reencode=True)


def _duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(out.strip())


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cut") / "source clip ü.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=10",
         "-f", "lavfi", "-i", "sine=duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "24",
         "-c:a", "aac", "-shortest", "-y", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.slow
def test_cut_stream_copy_within_a_gop(source, tmp_path):
    out = tmp_path / "test.mp4"
    assert main(["cut", str(source), "--start", "0:02.5", "--duration", "3", "-o", str(out)]) == 0
    assert abs(_duration(out) - 3.0) <= 1.0 + 0.1  # GOP is 1 s
    frames = count_frames(out)
    assert 72 - 24 <= frames <= 72 + 24


@pytest.mark.slow
def test_cut_reencode_exact(source, tmp_path, capsys):
    out = tmp_path / "exact.mkv"
    assert main(["cut", str(source), "--start", "2.5", "--duration", "3", "-o", str(out), "--reencode"]) == 0
    assert count_frames(out) == 72
    assert main(["cut", str(source), "--start", "2.5", "-o", str(out)]) == 2  # exists
    assert "already exists" in capsys.readouterr().err


def test_cut_missing_input(tmp_path, capsys):
    assert main(["cut", str(tmp_path / "nope.mp4"), "--start", "1", "-o", str(tmp_path / "o.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
