#!/usr/bin/env python
"""Benchmark held-frame reuse: ``vse.upscale(dedup="off" | "exact" | "near")`` on clips with known holds.

    .venv/bin/python -m scripts.bench_dedup --json docs/bench/cpu_dedup.json      # CPU: about 8 minutes

Clips (:mod:`held_clips`): a real photo (scikit-image's coffee) panned 6 pixels a step, each position held for
1, 2 or 3 frames, lossless (ffv1) and through x264 at CRF 20 (decoded with bestsource); and a held background
on which an 8x8 patch, 24 codes brighter, appears and disappears every other frame pair. For each mode: fps of
the whole clip (rendered in this process after one warm-up frame of the model; the best of ``--repeat``
runs), the frames computed (``VSEnhanceHeldFrom == n``), frames reused across a change of the picture (should
be 0), and the luma PSNR of every frame to ``"off"`` (the minimum over the clip).

Targets on the CPU (issue 27): twos >= 1.8x the fps of off, threes >= 2.6x, ones at most 3 % slower, near
>= 40 dB from off on the lossy twos clip, zero frames reused across the patch change.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import vapoursynth as vs

import vsenhance as vse
from scripts import held_clips
from scripts.bench_upscale import cpu_name
from vsenhance.constants import HELD_PROP

core = vs.core
MODES = ("off", "exact", "near")


def render(clip: vs.VideoNode) -> tuple[float, list[np.ndarray], list[int]]:
    """Seconds for every frame (requested as vspipe requests them), the luma planes and VSEnhanceHeldFrom."""
    t0 = time.perf_counter()
    lumas, held = [], []
    for frame in clip.frames():
        lumas.append(np.array(frame[0]))
        held.append(int(frame.props[HELD_PROP]))
    return time.perf_counter() - t0, lumas, held


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="realesr-animevideov3-x2")
    parser.add_argument("--size", default="240x160")
    parser.add_argument("--positions", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    photo = held_clips.photo("coffee")
    opts = {"device": args.device, "output_format": "same"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for hold in (1, 2, 3):
            pictures = held_clips.pan(photo, width, height, args.positions, hold)
            for coding, crf in (("lossless", None), ("x264 CRF 20", 20)):
                clips.append((f"pan, held {hold}", coding, pictures, crf))
        patch = held_clips.patch_toggle(held_clips.photo("astronaut"), width, height, 2 * args.positions, seed=1)
        clips.append(("patch toggling", "x264 CRF 20", patch, 20))
        warm = core.bs.VideoSource(str(held_clips.write_video(clips[0][2][:2], Path(tmp) / "warm.mkv", None)))
        vse.upscale(warm, args.model, dedup="off", **opts).get_frame(0)  # first allocations at this size
        for i, (name, coding, pictures, crf) in enumerate(clips):
            video = held_clips.write_video(pictures, Path(tmp) / f"clip{i}.mkv", crf)
            truth = held_clips.held_truth(pictures)
            results = {}
            for mode in MODES:
                best = math.inf
                for _ in range(args.repeat):
                    src = core.bs.VideoSource(str(video), cachemode=0)
                    out = vse.upscale(src, args.model, dedup=mode, **opts)  # a fresh graph: nothing cached
                    seconds, lumas, held = render(out)
                    best = min(best, seconds)
                results[mode] = (best, lumas, held)
            peak = float((1 << results["off"][1][0].dtype.itemsize * 8) - 1)
            for mode in MODES:
                seconds, lumas, held = results[mode]
                fps = len(pictures) / seconds
                worst = min(psnr(a, b, peak) for a, b in zip(results["off"][1], lumas, strict=True))
                rows.append({
                    "clip": name, "coding": coding, "frames": len(pictures), "mode": mode, "fps": fps,
                    "speed_vs_off": fps / (len(pictures) / results["off"][0]),
                    "computed": sum(1 for n, k in enumerate(held) if k == n), "pictures": len(set(truth)),
                    "reused_across_a_change": sum(1 for n, k in enumerate(held) if k < truth[n]),
                    "min_psnr_to_off": worst,
                })  # fmt: skip
                r = rows[-1]
                print(f"{name} / {coding} / {mode}: {fps:.2f} fps, {r['speed_vs_off']:.2f}x", file=sys.stderr)
    cpu = cpu_name()
    print(f"CPU: {cpu}; {args.model}, {width}x{height} -> x2, {args.device}")
    print("| clip | source | frames (pictures) | mode | fps | vs off | computed | reused across a change | "
          "min PSNR to off |")  # fmt: skip
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        db = "identical" if math.isinf(r["min_psnr_to_off"]) else f"{r['min_psnr_to_off']:.1f} dB"
        print(f"| {r['clip']} | {r['coding']} | {r['frames']} ({r['pictures']}) | {r['mode']} | {r['fps']:.2f} | "
              f"{r['speed_vs_off']:.2f}x | {r['computed']} | {r['reused_across_a_change']} | {db} |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        clean = [{k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in r.items()} for r in rows]
        args.json.write_text(json.dumps({"cpu": cpu, "model": args.model, "size": args.size, "rows": clean}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
