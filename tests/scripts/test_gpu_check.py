"""scripts/gpu_check.sh --dry-run: the prepared GPU check runs every step on this CPU at tiny sizes and writes
the one JSON object it promises, so a short GPU loan finds it working."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["tools", "cuda_tests", "x2_eager", "x2_compile_start", "x2_compiled", "rrdbnet_eager", "farm_gpus",
         "farm_ray", "precision", "nvenc"]  # fmt: skip


def test_dry_run_passes_every_step(tmp_path) -> None:
    done = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", str(tmp_path)], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] is True and report["commit"]
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == STEPS
    ray = importlib.util.find_spec("ray") is not None
    for name, step in steps.items():
        expected = "skipped" if name == "farm_ray" and not ray else "passed"
        assert step["status"] == expected, (name, step.get("error"))
    figures = {name: step.get("figures", {}) for name, step in steps.items()}
    assert figures["cuda_tests"]["skipped"] >= 5  # the CUDA-only tests, which skip on a CPU
    vspipe = next(row for mode, row in figures["x2_eager"].items() if mode.startswith("vspipe"))
    assert vspipe["fps"] > 0 and vspipe["efficiency"] > 0
    assert set(figures["x2_compile_start"]) == {"eager", "cold", "warm"}
    assert figures["farm_gpus"]["frame_exact"] and figures["farm_gpus"]["frames"] == 12
    assert figures["farm_gpus"]["worker_lines"] >= 1  # its stderr was a terminal: one line per worker
    if ray:
        assert figures["farm_ray"]["frame_exact"]
    units = figures["precision"]["cpu_bf16_units"]  # precision="auto" on a CPU follows its bf16 units
    assert figures["precision"]["auto"] == ("torch.bfloat16" if units else "torch.float32")
    # the NVENC step's code, through x265 on a CPU: 48 frames and the tags read back
    assert figures["nvenc"]["encoder"] == "x265" and figures["nvenc"]["nb_read_frames"] == "48"
    assert (tmp_path / "gpu_check.log").stat().st_size > 0
