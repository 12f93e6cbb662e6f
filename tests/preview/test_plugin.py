"""The "AI ranges" plugin inside a real vs-preview under Xvfb: notches, list, jump, and a line added to the file.

Driven by ``scripts/preview_shots.py`` (the same script makes docs/preview.md's screenshots).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vsenhance.filters.ranges import parse_ranges

from .qt_display import why_qt_cannot_show

ROOT = Path(__file__).resolve().parents[2]


WHY_NOT = why_qt_cannot_show(
    sys.executable,
    "vspreview",
    "scripts/setup.sh installs it: pip install -e '.[preview]'",
    "PyQt6",
    "Qt6/plugins/platforms",
)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")]

SCRIPT = """\
from pathlib import Path
import vapoursynth as vs
import vsenhance as vse
core = vs.core
clip = core.std.BlankClip(width=64, height=48, format=vs.RGB24, length=100, color=[40, 90, 160], fpsnum=24, fpsden=1)
clip = core.std.SetFrameProps(clip, _Transfer=13, _Primaries=1)
hybrid = vse.upscale_ranges(clip, Path("keys.txt"), precision="fp32")
hybrid[10:].set_output()
"""


def test_the_plugin_shows_and_extends_the_ai_ranges(tmp_path) -> None:
    home = tmp_path / "home"  # vs-preview's global folder (and its plugin list) lives under HOME
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "xcb"}
    work = tmp_path / "work"
    work.mkdir()
    (work / "hybrid.vpy").write_text(SCRIPT)
    (work / "keys.txt").write_text("20-29\n50-59")  # no newline at the end, as editors leave it
    vse_cli = [sys.executable, "-m", "vsenhance", "preview-plugin", "install"]
    subprocess.run(vse_cli, env=env, check=True, capture_output=True, timeout=60)

    driver = [sys.executable, "-m", "scripts.preview_shots", str(work / "hybrid.vpy"), str(tmp_path / "out"),
              "--props-frame", "15", "--add-frame", "70", "--scene", "60-64"]  # fmt: skip
    xvfb = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    done = subprocess.run(xvfb + driver, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    result_file = tmp_path / "out" / "result.json"
    assert result_file.exists(), done.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    assert done.returncode == 0, done.stderr[-3000:]

    assert "vsenhance.ranges" in result["plugins"]
    assert result["total_frames"] == 90
    props = result["props"]  # output frame 15 is hybrid frame 25, in the first AI range
    assert props["VSEnhancePath"] == "ai" and props["VSEnhanceFrame"] == 25
    assert props["VSEnhanceRangesFile"] == str(work / "keys.txt")
    # the ranges in the output's numbering (hybrid[10:]), as notches at both ends and in the list
    assert result["notches"] == [[10, "AI 10-19"], [19, "AI 10-19"], [40, "AI 40-49"], [49, "AI 40-49"]]
    assert [line.split()[0] for line in result["listed"]] == ["10-19", "40-49"]
    assert result["after_click"] == 40  # clicking the second range jumps to its first frame
    # "Add this frame" at output frame 70 writes hybrid frame 80, the number upscale_ranges reads
    assert "added 80" in result["status"]
    # "Add this scene": the Scening toolbar's scene 60-64 of the output is 70-74 of the clip
    assert "added 70-74" in result["scene_status"]
    assert (work / "keys.txt").read_text() == "20-29\n50-59\n80\n70-74\n"
    assert parse_ranges(work / "keys.txt", 100) == [(20, 29), (50, 59), (70, 74), (80, 80)]
    for shot in ("props.png", "timeline.png"):
        assert (tmp_path / "out" / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
