from __future__ import annotations

import json

import pytest

from vsenhance.cli import main
from vsenhance.encode.estimate import build_estimate, format_estimate, sample_indices

from .encode_helpers import run_cli


def test_sample_indices_spread_over_whole_clip():
    idx = sample_indices(1000, 10)
    assert idx == [50, 150, 250, 350, 450, 550, 650, 750, 850, 950]
    assert sample_indices(5, 10) == [0, 1, 2, 3, 4]
    assert sample_indices(0, 10) == [] and sample_indices(10, 0) == []
    idx = sample_indices(100_000, 7)
    assert len(idx) == 7 and idx[0] < 100_000 / 7 and idx[-1] > 100_000 * 6 / 7


def _probe(samples):
    return {"frames": 1000, "fps": [24, 1], "width": 64, "height": 48, "format": "YUV420P8",
            "load_seconds": 0.5, "samples": samples}  # fmt: skip


def test_build_estimate_plain():
    est = build_estimate(_probe([{"frame": i, "seconds": 0.1, "path": None} for i in range(4)]))
    assert not est["hybrid"]
    assert est["projected_seconds"] == pytest.approx(100.0)
    assert est["render_fps"] == pytest.approx(10.0)
    assert "1m 40s" in format_estimate(est)


def test_build_estimate_hybrid_split_and_warmup():
    samples = [{"frame": 0, "seconds": 9.0, "path": "ai"}]  # first AI frame pays the model load
    samples += [{"frame": i, "seconds": 1.0, "path": "ai"} for i in range(1, 5)]
    samples += [{"frame": i, "seconds": 0.01, "path": "lanczos"} for i in range(5, 20)]
    est = build_estimate(_probe(samples))
    assert est["hybrid"]
    ai, lz = est["paths"]["ai"], est["paths"]["lanczos"]
    assert ai["share"] == pytest.approx(0.25) and lz["share"] == pytest.approx(0.75)
    assert ai["seconds_per_frame"] == pytest.approx(1.0)  # warm-up sample left out
    assert ai["projected_seconds"] == pytest.approx(250.0) and lz["projected_seconds"] == pytest.approx(7.5)
    assert est["projected_seconds"] == pytest.approx(257.5)
    text = format_estimate(est, "zh")
    assert "ai: 25%" in text and "lanczos: 75%" in text and "4分18秒" in text


@pytest.mark.slow
def test_estimate_hybrid_script_json(script, capsys):
    rc = main(["estimate", str(script), "--frames", "12", "-a", "hybrid=1", "-a", "length=96", "--json"])
    assert rc == 0
    est = json.loads(capsys.readouterr().out)
    assert est["frames"] == 96 and est["hybrid"]
    assert len(est["sampled_frames"]) == 12
    assert est["sampled_frames"][0] < 10 and est["sampled_frames"][-1] > 85  # across the clip, not the start
    assert set(est["paths"]) == {"ai", "lanczos"}
    assert est["paths"]["ai"]["samples"] == est["paths"]["lanczos"]["samples"] == 6
    assert est["projected_seconds"] > 0 and est["render_fps"] > 0


@pytest.mark.slow
def test_estimate_text_output_and_script_print_kept_off_stdout(tmp_path):
    from .encode_helpers import write_script

    script = write_script(tmp_path / "s.vpy", extra="print('noise from the script')\n")
    done = run_cli("estimate", str(script), "--frames", "5")
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "48 frames" in out and "fps" in out and "projected render time for 48 frames" in out
    assert "sampled 5 frames" in out and "noise" not in out


@pytest.mark.slow
def test_estimate_reports_script_error(tmp_path, capsys):
    bad = tmp_path / "bad.vpy"
    bad.write_text("raise ValueError('broken script')\n")
    assert main(["estimate", str(bad)]) == 2
    assert "broken script" in capsys.readouterr().err


@pytest.mark.slow
def test_estimate_runs_the_script_from_its_folder_like_vspipe(tmp_path):
    """Relative paths in a script (``bs.VideoSource("sample.mkv")``) resolve against the script's folder."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "length.txt").write_text("30")
    script = folder / "s.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "n = int(open('length.txt').read())\n"
        "vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=n).set_output()\n"
    )
    done = run_cli("estimate", str(script), "--frames", "3")  # started from another working directory
    assert done.returncode == 0, done.stderr.decode()
    assert "30 frames" in done.stdout.decode()
