"""scripts/bench_encode.py runs on a tiny CPU workload and writes the table and JSON it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_encode_modes(tmp_path, tiny_model_path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_encode.py"), "--model", str(tiny_model_path), "--size",
         "48x48", "--frames", "8", "--segment-frames", "4", "--workers", "2", "--json", str(out), "--timeout", "240"],
        capture_output=True, text=True, timeout=2 * 240 + 120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-12000:]  # a hang (--timeout) ends with every thread's stack
    report = json.loads(out.read_text())
    rows = {row["mode"]: row for row in report["rows"]}
    assert list(rows) == ["vspipe per segment", "workers=2"]
    for row in rows.values():
        assert row["frames"] == 8 and row["identical"] is True  # frame-exact against the vspipe run
        assert row["seconds"] > 0 and row["fps"] > 0
        assert sorted(s["index"] for s in row["segments"]) == [0, 1]
        assert all(s["first_frame_seconds"] is not None for s in row["segments"])
    # one line per worker that became ready before the job ended (a slow starter may not have)
    assert 1 <= len(rows["workers=2"]["script_load_seconds"]) <= 2
    assert report["machine"]["cores"] >= 1 and report["settings"]["segment_frames"] == 4
    assert "| workers=2 |" in proc.stdout
