"""The example script through ``vspipe -c y4m`` (stdout must be a clean y4m stream) and into ffmpeg."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VSPIPE = str(Path(sys.executable).with_name("vspipe"))

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is required (scripts/setup.sh installs it)"
)


def read_y4m(data: bytes) -> tuple[dict[str, str], int]:
    """Parse a y4m stream strictly: header, then FRAME markers each followed by exactly one frame."""
    header, _, rest = data.partition(b"\n")
    fields = header.decode().split()
    assert fields[0] == "YUV4MPEG2", fields
    params = {f[0]: f[1:] for f in fields[1:]}
    w, h = int(params["W"]), int(params["H"])
    assert params["C"].startswith("420"), params
    size = w * h * 3 // 2
    frames, pos = 0, 0
    while pos < len(rest):
        marker_end = rest.index(b"\n", pos)
        assert rest[pos:marker_end].startswith(b"FRAME"), rest[pos : pos + 16]
        pos = marker_end + 1 + size
        frames += 1
    assert pos == len(rest), "trailing bytes: something wrote to stdout"
    return params, frames


def test_vspipe_stdout_is_valid_y4m_and_encodes(tmp_path, tiny_model_path) -> None:
    args = [
        VSPIPE,
        "-c",
        "y4m",
        "-a",
        f"model={tiny_model_path}",
        "-a",
        "device=cpu",
        "-e",
        "11",
        str(ROOT / "examples" / "upscale.vpy"),
        "-",
    ]
    done = subprocess.run(args, capture_output=True, check=True)
    params, frames = read_y4m(done.stdout)
    assert (params["W"], params["H"], frames) == ("512", "288", 12)

    out = tmp_path / "out.mkv"
    encode = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "-", "-c:v", "libx264", "-crf", "20", str(out)],
        input=done.stdout,
        capture_output=True,
    )
    assert encode.returncode == 0, encode.stderr.decode()
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=width,height,nb_read_frames", "-of", "json", str(out)],
        capture_output=True, check=True,
    )  # fmt: skip
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["width"], stream["height"], int(stream["nb_read_frames"])) == (512, 288, 12)


def test_pose_example_through_vspipe(tmp_path) -> None:
    """examples/pose.vpy on the built-in sample with tiny ONNX models: a valid y4m stream of every frame."""
    from tests.models.pose import posekit

    det = posekit.bright_detector(tmp_path / "det.onnx")
    pose = posekit.dot_pose(tmp_path / "pose.onnx")
    args = [
        VSPIPE,
        "-c",
        "y4m",
        "-a",
        f"src={ROOT / 'examples' / 'sample.mkv'}",
        "-a",
        f"det={det}",
        "-a",
        f"pose={pose}",
    ]
    done = subprocess.run([*args, str(ROOT / "examples" / "pose.vpy"), "-"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    params, frames = read_y4m(done.stdout)
    assert (params["W"], params["H"], frames) == ("256", "144", 48)


def test_the_examples_take_arguments_typed_as_vs_preview_passes_them(monkeypatch):
    """vspipe passes -a values as strings, vs-preview as typed values (the integer 1): the examples take both."""
    from vsenhance.constants import PATH_PROP
    from vsenhance.script import run_script

    examples = Path(__file__).resolve().parents[1] / "examples"
    clip = run_script(examples / "hybrid.vpy", {"ranges": 10, "device": "cpu"})
    assert clip.get_frame(10).props[PATH_PROP] in ("ai", b"ai")
    assert clip.get_frame(11).props[PATH_PROP] in ("lanczos", b"lanczos")
    clip = run_script(examples / "upscale.vpy", {"tile": 256, "streams": 1, "compile": 0, "device": "cpu"})
    assert clip.get_frame(0).width == clip.width
