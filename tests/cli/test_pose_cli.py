import json
import subprocess
import sys

import pytest

from tests.models.pose import posekit
from vsenhance.cli import main

SCRIPT = """
import vapoursynth as vs
import vsenhance as vse
core = vs.core
import numpy as np
clip = core.std.BlankClip(width=96, height=64, format=vs.RGBS, length=int(frames), keep=True)
yy, xx = np.mgrid[0:64, 0:96]
dot = np.exp(-((xx - 40) ** 2 + (yy - 30) ** 2) / (2 * 4.8**2)).astype(np.float32)

def fill(n, f):
    out = f.copy()
    for p in range(3):
        np.copyto(np.asarray(out[p]), dot)
    return out

clip = core.std.ModifyFrame(clip, clip, fill)
vse.pose(clip, det, pose, providers="cpu").set_output()
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    det = posekit.bright_detector(d / "bd.onnx")
    pose = posekit.dot_pose(d / "dp.onnx")
    script = d / "pose.vpy"
    script.write_text(SCRIPT)
    return d, script, det, pose


def test_pose_export(setup):
    d, script, det, pose = setup
    out = d / "poses.json"
    rc = main(["pose-export", str(script), "-o", str(out), "-a", f"det={det}", "-a", f"pose={pose}", "-a", "frames=7"])
    assert rc == 0
    data = json.loads(out.read_text())
    assert len(data["frames"]) == 7
    body = data["frames"][3]["people"][0]["pose_keypoints_2d"]
    assert abs(body[0] - 40) < 1 and abs(body[1] - 30) < 1  # nose = the dot


def test_pose_export_errors(setup, capsys):
    d = setup[0]
    assert main(["pose-export", str(d / "none.vpy"), "-o", str(d / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_does_not_import_torch(setup):
    d, script, det, pose = setup
    code = (
        "import sys; from vsenhance.cli import main; "
        f"rc = main(['pose-export', {str(script)!r}, '-o', {str(d / 'y.json')!r}, '-a', 'det={det}', "
        f"'-a', 'pose={pose}', '-a', 'frames=2']); assert 'torch' not in sys.modules; sys.exit(rc)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""


def test_pose_export_resolves_paths_like_vspipe(setup, tmp_path, monkeypatch):
    """Relative paths in the script resolve beside the script; -o resolves where the command runs."""
    _d, script, det, pose = setup
    project = tmp_path / "project"
    project.mkdir()
    (project / "pose.vpy").write_text(script.read_text())
    (project / "bd.onnx").write_bytes(det.read_bytes())
    (project / "dp.onnx").write_bytes(pose.read_bytes())
    monkeypatch.chdir(tmp_path)
    argv = ["pose-export", "project/pose.vpy", "-o", "out.json", "-a", "det=bd.onnx", "-a", "pose=dp.onnx"]
    assert main([*argv, "-a", "frames=2"]) == 0
    assert len(json.loads((tmp_path / "out.json").read_text())["frames"]) == 2


@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_pose_export_to_stdout_carries_the_json_alone(setup, tmp_path, name):
    """The script's print() and a redirected stdout (> f.json) do not mix into the JSON."""
    _d, _script, det, pose = setup
    noisy = tmp_path / "noisy.vpy"
    noisy.write_text("print('hello from the script')\n" + SCRIPT)
    with open(tmp_path / "f.json", "wb") as f:  # stdout redirected to a file: the case that could not work
        done = subprocess.run(
            [sys.executable, "-m", "vsenhance", "pose-export", str(noisy), "-o", name, "-a", f"det={det}",
             "-a", f"pose={pose}", "-a", "frames=3"],
            stdout=f, stderr=subprocess.PIPE, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert len(json.loads((tmp_path / "f.json").read_text())["frames"]) == 3
    assert "hello from the script" in done.stderr.decode()


def test_pose_export_checks_the_prefix_before_the_script_runs(tmp_path, capsys):
    marker = tmp_path / "ran"
    runs = tmp_path / "runs.vpy"
    runs.write_text(f"open({str(marker)!r}, 'w').close()\n" + SCRIPT)
    assert main(["pose-export", str(runs), "-o", str(tmp_path / "p.json"), "--prefix", "no good"]) == 2
    assert "prefix='no good'" in capsys.readouterr().err and not marker.exists()
