"""The "AI ranges" dock inside a real vsview under Xvfb: notches, list, jump, the choice box, and a frame added
to the range file. Driven by ``scripts/vsview_shots.py`` (the same script makes docs/preview.md's screenshots)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vsenhance.filters.ranges import parse_ranges

from .qt_display import why_qt_cannot_show

ROOT = Path(__file__).resolve().parents[2]


# vsview needs jetpytools 3, vs-preview's vsjetpack 1.x pins 2.2: scripts/setup.sh gives vsview .venv-view,
# layered on .venv (everything else comes from there). An env of one's own with the view extra is used as it is.
VIEW_PYTHON = Path(sys.executable) if importlib.util.find_spec("vsview") else ROOT / ".venv-view" / "bin" / "python"
WHY_NOT = why_qt_cannot_show(
    VIEW_PYTHON, "vsview", "scripts/setup.sh makes .venv-view", "PySide6", "Qt/plugins/platforms"
)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")]


def test_the_dock_shows_and_extends_the_ai_ranges_of_the_hybrid_example(tmp_path) -> None:
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work)
    (work / "keys.txt").write_text("8-15\n32-39")  # no newline at the end, as editors leave it
    env = {**os.environ, "HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "xcb", "VSVIEW_NO_SETTINGS": "1"}
    driver = [str(VIEW_PYTHON), "-m", "scripts.vsview_shots", str(work / "hybrid.vpy"), str(tmp_path / "out"),
              "-a", f"keys={work / 'keys.txt'}", "-a", "device=cpu",
              "-a", f"source={work / 'sample.mkv'}", "--props-frame", "10", "--add-frame", "20",
              "--add-scene", "40-43,45"]  # fmt: skip
    xvfb = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"]
    done = subprocess.run(xvfb + driver, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    result_file = tmp_path / "out" / "result.json"
    assert result_file.exists(), done.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert "error" not in result, result.get("traceback", result)
    assert done.returncode == 0, done.stderr[-3000:]

    assert "vsenhance_ranges" in result["plugins"]
    props = result["props"]  # frame 10 is in the first AI range
    assert props["VSEnhancePath"] == "ai" and props["VSEnhanceFrame"] == 10
    assert props["VSEnhanceRangesFile"] == str(work / "keys.txt")
    choice = dict(result["choice"])
    assert choice["Path"] == "AI" and choice["Model"] == props["VSEnhanceModel"] and choice["Device"] == "cpu"
    assert props["VSEnhanceHeldFrom"] == 10 and choice["Frame"] == "computed"  # the sample moves: no frame held
    # the ranges as timeline notches spanning each range, and in the list
    assert result["notches"] == [[8, 15, "AI 8-15"], [32, 39, "AI 32-39"]]
    assert [line.split()[0] for line in result["listed"]] == ["8-15", "32-39"]
    assert result["after_click"] == 32  # clicking the second range jumps to its first frame
    assert "added 20" in result["status"]
    # the Frame Props tool's "vsenhance" category shows our formatters' texts
    formatted = result["formatted"]
    assert formatted["VSEnhancePath"] == "AI" and formatted["VSEnhanceRanges"] == "8-15, 32-39"
    assert formatted["VSEnhanceHeldFrom"] == "frame 10's output"
    assert formatted["VSEnhanceTile"] in ("whole frame (no tiles)", f"{props['VSEnhanceTile']} px")
    # a scene of vsview's Scening tool, appended in the range file's numbering
    assert "added 40-43, 45" in result["scene_status"]
    assert (work / "keys.txt").read_text() == "8-15\n32-39\n20\n40-43  # scene chorus\n45  # scene chorus\n"
    assert parse_ranges(work / "keys.txt", 48) == [(8, 15), (20, 20), (32, 43), (45, 45)]
    assert result["dock_visible"]
    for shot in ("choice.png", "timeline.png"):
        assert (tmp_path / "out" / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
