"""The benchmark scripts of docs/performance.md run, on a tiny CPU workload, and write the table and JSON they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    """A script as docs/performance.md runs it: by path, or ``-m scripts.NAME`` for one that imports the tests' helpers."""
    as_module = script in (
        "bench_pose.py",
        "bench_pose_precision.py",
        "bench_peer.py",
        "bench_dedup.py",
    )  # import scripts.*
    how = ["-m", f"scripts.{script.removesuffix('.py')}"] if as_module else [str(ROOT / "scripts" / script)]
    proc = subprocess.run([sys.executable, *how, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_bench_upscale_modes(tmp_path, tiny_model_path) -> None:
    out = tmp_path / "bench.json"
    stdout = run("bench_upscale.py", "--device", "cpu", "--model", str(tiny_model_path), "--size", "256x144",
                 "--frames", "200", "--warmup", "4", "--streams", "2", "--encoder", "devnull",
                 "--modes", "model,runtime,sequential,vspipe,overhead", "--json", str(out))  # fmt: skip
    report = json.loads(out.read_text())
    modes = [row["mode"] for row in report["rows"]]
    assert modes[0] == "model-only (ceiling)" and any(m.startswith("runtime.process") for m in modes)
    assert any(m.startswith("sequential") for m in modes) and "vspipe, streams=2" in modes
    assert any("near-free model" in m for m in modes)
    for row in report["rows"]:  # every mode really ran: frames per second and a peak RSS were measured
        assert row["fps"] > 0 and row["rss_mib"] > 0
        assert (row["efficiency"] is None) == ("near-free" in row["mode"])  # the near-free model has no ceiling
    assert "| vspipe, streams=2 |" in stdout and report["machine"]["cores"] >= 1


def test_bench_network_variants(tmp_path) -> None:
    out = tmp_path / "net.json"
    stdout = run("bench_network.py", "--device", "cpu", "--model", "arch:compact-x4", "--size", "48x32",
                 "--iters", "2", "--warmup", "1", "--variants", "nhwc,nchw,cudagraph", "--profile",
                 "--json", str(out))  # fmt: skip
    report = json.loads(out.read_text())
    rows = {row["variant"]: row for row in report["rows"]}
    assert rows["nhwc"]["fps"] > 0 and rows["nchw"]["max_abs_diff"] < 1e-4  # same network, another layout
    assert "CUDA" in rows["cudagraph"]["error"]  # reported, not fatal, on a machine without CUDA
    assert report["profile"]["ops"] and report["profile"]["tflop_per_frame"] > 0
    assert "| nhwc |" in stdout


def test_bench_pose_quick(tmp_path) -> None:
    out = tmp_path / "pose.json"
    stdout = run("bench_pose.py", "--quick", "--repeat", "1", "--stages", "--json", str(out))
    report = json.loads(out.read_text())
    batch = report["batch"]
    for net in ("detector", "pose"):  # each network alone: batch 1, the batch, with I/O binding (equal output)
        assert report[f"{net}_ms_b1_t1"] > 0 and report[f"{net}_ms_b{batch}_t1"] > 0
        assert any(k.startswith(f"{net}_ms_b{batch}_t") and k.endswith("_iobinding") for k in report)
    assert report["ceiling_fps"] > 0 and "ceiling:" in stdout
    assert report["identical"] is True and report["persons_detected"] > 0  # same boxes and keypoints, not nothing
    assert report["reference_fps"] > 0 and report["batched_fps"] > 0
    assert "| per-frame reference |" in stdout


def test_bench_compile_cold_and_warm(tmp_path, tiny_model_path) -> None:
    out = tmp_path / "compile.json"
    stdout = run("bench_compile.py", "--model", str(tiny_model_path), "--size", "32x24", "--json", str(out))
    report = json.loads(out.read_text())
    assert [row["start"] for row in report["rows"]] == ["eager", "cold", "warm"]
    assert all(row["first_frame_seconds"] > 0 for row in report["rows"])
    assert len(report["saved_files"]) == 1  # the cold start saved its compilation, the warm one reused it
    assert "| warm |" in stdout


def test_bench_upscale_memory_format_leg(tmp_path, tiny_model_path) -> None:
    out = tmp_path / "nchw.json"
    run("bench_upscale.py", "--device", "cpu", "--model", str(tiny_model_path), "--size", "64x36", "--frames", "4",
        "--modes", "model", "--memory-format", "contiguous", "--json", str(out))  # fmt: skip
    report = json.loads(out.read_text())
    assert report["settings"]["memory_format"] == "contiguous" and report["rows"][0]["fps"] > 0


def test_bench_pose_precision(tmp_path) -> None:
    out = tmp_path / "pose_precision.json"
    stdout = run("bench_pose_precision.py", "--batch", "1", "--rounds", "1", "--json", str(out))
    report = json.loads(out.read_text())
    assert [r["network"] for r in report["rows"]] == ["detector 640x640", "pose 256x192"]
    assert all(r["fp32_ms"] > 0 and r["fp16_ms"] > 0 and r["fp16_casts_added"] >= 0 for r in report["rows"])
    assert report["bf16_cpu_provider"]  # "loads", or the provider's refusal
    assert "| pose 256x192 |" in stdout


def test_bench_peer_side_by_side(tmp_path, tiny_model_path) -> None:
    """vs-mlrt's OpenVINO wheel comes from the package index (into out/peer/); without it, this is skipped."""
    import pytest

    from scripts.bench_peer import ov_plugin

    try:
        ov_plugin()
    except Exception as exc:  # no index reachable: the benchmark cannot have its peer
        pytest.skip(f"vapoursynth-mlrt-ov could not be fetched: {exc}")
    from vsenhance.models.sr import cpu_bf16_units

    out = tmp_path / "peer.json"
    stdout = run("bench_peer.py", "--model", str(tiny_model_path), "--size", "256x144", "--frames", "600",
                 "--warmup", "4", "--streams", "1,2", "--one-core", "--repeat", "1", "--json", str(out))  # fmt: skip
    report = json.loads(out.read_text())
    legs = ["vse-fp32", "vseov-fp32", "ov-f32"] + (["vse-bf16", "vseov-bf16", "ov-bf16"] if cpu_bf16_units() else [])
    assert [row["leg"] for row in report["rows"]] == [
        *(f"{leg} streams={n}" for leg in legs for n in (1, 2)),
        *(f"{leg} streams=1 one core" for leg in legs),
    ]
    assert all(row["fps"] > 0 for row in report["rows"]) and report["openvino"]
    assert [row["leg"] for row in report["sums"]] == legs and all(
        row["streams2_over_two_single"] > 0 for row in report["sums"]
    )
    assert "vseov-fp32: streams=2 on two cores is" in stdout
    if cpu_bf16_units() is None:  # bf16 legs would run f32 here under a bf16 label
        proc = subprocess.run([sys.executable, "-m", "scripts.bench_peer", "--legs", "vseov-bf16"], capture_output=True,
                              text=True, timeout=120, cwd=ROOT)  # fmt: skip
        assert proc.returncode == 1 and "has no bf16 units, so the bf16 legs would run f32" in proc.stderr


def test_bench_dedup_counts_and_compares_every_mode(tmp_path, tiny_model_path) -> None:
    out = tmp_path / "dedup.json"
    stdout = run("bench_dedup.py", "--model", str(tiny_model_path), "--size", "48x32", "--positions", "3",
                 "--repeat", "1", "--json", str(out))  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 7 * 3 and {r["mode"] for r in rows} == {"off", "exact", "near"}
    for r in rows:
        assert r["fps"] > 0 and r["reused_across_a_change"] == 0
        assert r["computed"] == r["frames"] if r["mode"] == "off" else r["pictures"] <= r["computed"] <= r["frames"]
        if r["mode"] == "exact" and r["coding"] == "lossless":
            assert r["computed"] == r["pictures"] and r["min_psnr_to_off"] is None  # None: identical to off
    assert "| pan, held 2 | lossless | 6 (3) | exact |" in stdout
