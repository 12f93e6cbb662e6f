#!/usr/bin/env python
"""Benchmark: ``vsenhance estimate`` against a measured ``vspipe`` render of the same hybrid script.

The shipped sample looped to 480 frames through ``examples/hybrid.vpy``'s settings (realesr-animevideov3-x2, x2,
Lanczos 4 taps elsewhere, the source's format), on the CPU, with AI ranges that fall between the 20 evenly
spaced samples, then the same clip trimmed (``clip[100:]``) and spliced with a second hybrid clip. For each:
the AI frames the estimate counts and the true number, the projected render time and the time ``vspipe``
reports for its output (the script's loading excluded from both), and their ratio.

    .venv/bin/python scripts/bench_estimate.py --json out/bench-estimate.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_upscale import cpu_name  # a sibling: scripts/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """\
import vapoursynth as vs
import vsenhance as vse
core = vs.core
src = core.bs.VideoSource({sample!r}) * 10
kw = dict(scale=2, taps=4, device="cpu", output_format="same")
clip = vse.upscale_ranges(src, {ranges!r}, "realesr-animevideov3-x2", **kw)
{shape}
clip.set_output()
"""
CASES = [
    ("13-30,40-55", "", 34),
    ("100-115", "", 16),
    ("13-30,40-55,150-170", "clip = clip[100:]", 21),
    ("13-30,40-55", 'clip = clip + vse.upscale_ranges(src[:96], "60-79", "realesr-animevideov3-x2", **kw)', 54),
]


def _vspipe_seconds(script: Path) -> float:
    vspipe = Path(sys.executable).with_name("vspipe")
    done = subprocess.run([str(vspipe), "-c", "y4m", str(script), "--"], capture_output=True, text=True, check=True)
    return float(re.search(r"Output \d+ frames in ([\d.]+) seconds", done.stderr)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ranges, shape, true_ai in CASES:
            script = Path(tmp) / "hybrid.vpy"
            script.write_text(SCRIPT.format(sample=str(ROOT / "examples" / "sample.mkv"), ranges=ranges, shape=shape))
            done = subprocess.run([sys.executable, "-m", "vsenhance", "estimate", str(script), "--json"],
                                  capture_output=True, text=True, check=True)  # fmt: skip
            est = json.loads(done.stdout)
            measured = _vspipe_seconds(script)
            rows.append({
                "ranges": ranges, "shape": shape or "-", "frames": est["frames"], "true_ai_frames": true_ai,
                "counted_ai_frames": est["paths"].get("ai", {}).get("frames", 0), "counted": est["counted"],
                "projected_seconds": est["projected_seconds"], "vspipe_seconds": measured,
                "ratio": est["projected_seconds"] / measured,
            })  # fmt: skip
            print(f"{ranges} {shape}: {rows[-1]['ratio']:.2f}", file=sys.stderr)
    cpu = cpu_name()
    print(f"CPU: {cpu}")
    print("| `-a ranges=` | shape | frames | AI frames (true) | estimate counts | projected | vspipe | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| `{r['ranges']}` | {r['shape']} | {r['frames']} | {r['true_ai_frames']} | {r['counted_ai_frames']} | "
              f"{r['projected_seconds']:.1f} s | {r['vspipe_seconds']:.1f} s | {r['ratio']:.2f} |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu": cpu, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
