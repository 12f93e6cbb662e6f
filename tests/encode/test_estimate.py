from __future__ import annotations

import importlib.util
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


def _probe(samples, ranges=None, timing=None):
    return {"frames": 1000, "fps": [24, 1], "width": 64, "height": 48, "format": "YUV420P8",
            "load_seconds": 0.5, "samples": samples, "ranges": ranges or {}, "timing": timing or {}}  # fmt: skip


def test_build_estimate_plain():
    samples = [{"frame": i, "seconds": 0.1, "path": None} for i in (0, 500, 999)]
    est = build_estimate(_probe(samples, timing={"all": {"seconds_per_frame": 0.1, "frames": [1, 2, 3, 4]}}))
    assert not est["hybrid"] and est["counted"]
    assert est["projected_seconds"] == pytest.approx(100.0)
    assert est["render_fps"] == pytest.approx(10.0)
    assert "1m 40s" in format_estimate(est)


def test_build_estimate_counts_the_ai_frames_from_the_map():
    """Samples at 0, 500 and 999 of one hybrid clip (offset 0) whose AI ranges no sample falls in: counted."""
    samples = [{"frame": n, "seconds": 0.01, "path": "lanczos", "clip": "c1", "hybrid_frame": n} for n in (0, 500, 999)]
    timing = {"ai": {"seconds_per_frame": 1.0}, "lanczos": {"seconds_per_frame": 0.01}}
    est = build_estimate(_probe(samples, {"c1": [[13, 30], [40, 55]]}, timing))
    assert est["counted"] and est["hybrid"]
    ai, lz = est["paths"]["ai"], est["paths"]["lanczos"]
    assert (ai["frames"], lz["frames"]) == (34, 966)
    assert ai["projected_seconds"] == pytest.approx(34.0) and lz["projected_seconds"] == pytest.approx(9.66)
    assert est["projected_seconds"] == pytest.approx(43.66)
    text = format_estimate(est, "zh")
    assert "ai: 34 frames (counted)" in text and "lanczos: 966 frames (counted)" in text


def test_build_estimate_without_maps_says_it_sampled():
    samples = [{"frame": i, "seconds": 1.0, "path": "ai" if i < 250 else "lanczos"} for i in range(0, 1000, 50)]
    samples.append({"frame": 999, "seconds": 0.01, "path": "lanczos"})
    est = build_estimate(_probe(samples, timing={"ai": {"seconds_per_frame": 1.0}}))
    assert not est["counted"] and "samples" in est["mapping"]
    assert est["paths"]["ai"]["frames"] == round(1000 * 5 / 21)
    assert "(estimated from the samples)" in format_estimate(est)


@pytest.mark.slow
def test_estimate_hybrid_script_json(script, capsys):
    rc = main(["estimate", str(script), "--frames", "12", "-a", "hybrid=1", "-a", "length=96", "--json"])
    assert rc == 0
    est = json.loads(capsys.readouterr().out)
    assert est["frames"] == 96 and est["hybrid"]
    assert len(est["sampled_frames"]) == 12
    assert est["sampled_frames"][0] < 10 and est["sampled_frames"][-1] > 85  # across the clip, not the start
    assert set(est["paths"]) == {"ai", "lanczos"}
    # the helper script tags paths itself (no upscale_ranges map): the split is the samples'
    assert not est["counted"] and not est["paths"]["ai"]["counted"]
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
    assert "executing bad.vpy: ValueError: broken script" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("raise ValueError('bad frame')", "the script failed on frame 11: ValueError: bad frame"),
        ("sys.exit(4)", "the script called sys.exit(4) on frame 11"),
    ],
)
def test_estimate_errors_name_the_frame_in_one_line(tmp_path, capsys, body, said):
    """As encode's workers say it: the frame, the error's last line, no traceback (frame 11: the first sample
    at or after 10 of a 40-frame clip)."""
    script = tmp_path / "frames.vpy"
    script.write_text(
        "import sys\nimport vapoursynth as vs\nc = vs.core.std.BlankClip(format=vs.YUV420P8, length=40)\n"
        f"def f(n, f):\n    if n >= 10:\n        {body}\n    return f\n"
        "vs.core.std.ModifyFrame(c, c, f).set_output()\n"
    )
    assert main(["estimate", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: estimate: {said}.") and "Traceback" not in err and err.count("\n") == 1


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


HYBRID = """\
import vapoursynth as vs
import vsenhance as vse
core = vs.core
src = core.std.BlankClip(format=vs.YUV420P8, width=32, height=24, length=int(length), color=[60, 110, 150])
kw = dict(device="cpu", precision="fp32", output_format="same")
a = vse.upscale_ranges(src, ranges, model, **kw)
if shape == "trim":
    a = a[100:]
elif shape == "splice":
    a = a + vse.upscale_ranges(src[:50], "0-3", model, **kw)
a.set_output()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shape", "frames", "ai"),
    [("plain", 480, 34), ("trim", 380, 0), ("splice", 530, 38)],
)
def test_the_ai_frames_of_a_hybrid_script_are_counted(tmp_path, capsys, tiny_model_path, shape, frames, ai):
    """AI ranges placed between the 20 evenly spaced samples (the old estimate saw none of them), and the same
    clip trimmed or spliced with another hybrid clip: the AI frame count is exact."""
    script = tmp_path / "hybrid.vpy"
    script.write_text(HYBRID)
    args = ["-a", "length=480", "-a", "ranges=13-30,40-55", "-a", f"model={tiny_model_path}", "-a", f"shape={shape}"]
    assert main(["estimate", str(script), "--frames", "20", *args, "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["frames"] == frames and est["counted"]
    assert est["paths"].get("ai", {}).get("frames", 0) == ai
    assert est["paths"]["lanczos"]["frames"] == frames - ai
    if ai:
        assert len(est["paths"]["ai"]["timed_frames"]) == 4 and est["paths"]["ai"]["seconds_per_frame"] > 0


@pytest.mark.slow
def test_a_script_writing_to_fd_1_cannot_break_the_estimate(tmp_path):
    script = tmp_path / "noisy.vpy"
    script.write_text(
        "import os\nimport vapoursynth as vs\nos.write(1, b'{not json from the script}\\n')\n"
        "vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=10).set_output()\n"
    )
    done = run_cli("estimate", str(script), "--frames", "3", "--json")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["frames"] == 10  # the script's bytes went to stderr, not into the result


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_the_estimate_counts_and_times_computed_frames(tmp_path, capsys, tiny_model_path, backend):
    """A clip drawn on twos: 20 of its 40 frames are computed; the timed run holds 4 computed frames (and the
    4 held ones between them), so the projection is 20 x seconds per computed frame; with either backend."""
    from .test_farm_e2e import HELD_SCRIPT

    if backend == "openvino" and importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed (pip install 'vsenhance[openvino]')")
    script = tmp_path / "held.vpy"
    script.write_text(HELD_SCRIPT)
    args = ["-a", f"model={tiny_model_path}", "-a", "dedup=exact", "-a", f"backend={backend}"]
    assert main(["estimate", str(script), "--frames", "5", *args, "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    path = est["paths"]["all"]
    assert path["frames"] == 40 and path["computed"] == 20
    assert path["held"] == "AI frames 40, computed 20 (50 % held)"
    assert path["timed_frames"] == list(range(2, 10)) and path["warmup_frames"] == [0]
    assert path["projected_seconds"] == pytest.approx(20 * path["seconds_per_frame"])
    assert "AI frames 40, computed 20 (50 % held): 20 computed frames at" in format_estimate(est)
    assert est["models"] == [f"{tiny_model_path.name} on cpu ({backend}, float32)"]  # what the timing holds for
    assert f"model: {tiny_model_path.name} on cpu ({backend}, float32)\n" in format_estimate(est)
