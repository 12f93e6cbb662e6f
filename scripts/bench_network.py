"""The network alone, one full frame per call, under execution variants; and where its GPU time goes.

    python scripts/bench_network.py --model arch:rrdbnet-x2 --size 1920x1080 --device cuda --profile
    .venv/bin/python scripts/bench_network.py --model arch:compact-x4 --size 160x90 --device cpu --variants nhwc,nchw

This is the question behind bench_upscale's model-only ceiling: can the network itself run faster? Variants:
  nhwc          what vse.upscale runs: channels_last, cudnn.benchmark
  nhwc-noautotune  the same without cudnn.benchmark
  nchw          contiguous (NCHW) activations
  cudagraph     nhwc, replayed from a captured CUDA graph (no launch overhead)
  dense-buffer  RRDBNet only: each dense block writes into one preallocated buffer instead of torch.cat
  compile       torch.compile(model)
  compile-max-autotune  torch.compile(model, mode="max-autotune")
--profile adds a table of device time per operator (torch.profiler) and the convolutions' achieved TFLOP/s.
Prints a markdown table; --json writes the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import torch
from bench_upscale import load_runtime, parse_size  # a sibling: scripts/ is sys.path[0] when run as a script

VARIANTS = "nhwc,nhwc-noautotune,nchw,cudagraph,dense-buffer,compile,compile-max-autotune"


def dense_forward(block: torch.nn.Module):
    """ResidualDenseBlock_5C.forward with the five convolutions reading slices of one buffer (NCHW, N=1 slices
    of channels are contiguous), so no torch.cat copies the growing feature stack four times."""
    convs = [block.conv1, block.conv2, block.conv3, block.conv4]

    def forward(x: torch.Tensor) -> torch.Tensor:
        nf, gc = x.shape[1], convs[0][0].out_channels
        buf = x.new_empty((x.shape[0], nf + 4 * gc, *x.shape[2:]))
        buf[:, :nf] = x
        for i, conv in enumerate(convs):
            buf[:, nf + i * gc : nf + (i + 1) * gc] = conv(buf[:, : nf + i * gc])
        return block.conv5(buf) * 0.2 + x

    return forward


def prepare(variant: str, rt, img: torch.Tensor):
    """A zero-argument callable that runs the network once on ``img`` under ``variant`` and returns its output."""
    model = rt.model
    torch.backends.cudnn.benchmark = variant != "nhwc-noautotune"
    x = img.contiguous(memory_format=torch.channels_last)
    if variant in ("nchw", "dense-buffer"):
        model = model.to(memory_format=torch.contiguous_format)
        x = img.contiguous()
        if variant == "dense-buffer":
            blocks = [m for m in model.modules() if type(m).__name__ == "ResidualDenseBlock_5C"]
            if not blocks:
                raise RuntimeError("dense-buffer applies to RRDBNet (ESRGAN) models only")
            for b in blocks:
                b.forward = dense_forward(b)
    elif variant.startswith("compile"):
        mode = "max-autotune" if variant == "compile-max-autotune" else None
        model = torch.compile(model, mode=mode)
    if variant == "cudagraph":
        if rt.device.type != "cuda":
            raise RuntimeError("CUDA graphs need a CUDA device")
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = model(x)

        def replay() -> torch.Tensor:
            graph.replay()
            return out

        return replay
    return lambda: model(x)


def timed(fn, iters: int, warmup: int, sync) -> float:
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return iters / (time.perf_counter() - start)


def profile(rt, img: torch.Tensor, sync) -> dict:
    """Device time per operator for a few frames, and the convolutions' share of the FLOPs and time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from torch.utils.flop_counter import FlopCounterMode

    torch.backends.cudnn.benchmark = True
    fn = prepare("nhwc", rt, img)
    with FlopCounterMode(display=False) as counter:
        fn()
    flops = counter.get_total_flops()
    conv_flops = sum(v for k, v in counter.get_flop_counts()["Global"].items() if "convolution" in str(k))
    fn()
    sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if rt.device.type == "cuda" else [])
    frames = 3
    with torch_profile(activities=activities) as prof:
        for _ in range(frames):
            fn()
        sync()
    attr = "self_device_time_total" if rt.device.type == "cuda" else "self_cpu_time_total"
    ops = sorted(prof.key_averages(), key=lambda e: getattr(e, attr), reverse=True)
    total = sum(getattr(e, attr) for e in ops if e.key.startswith("aten::")) or 1.0
    rows = [{"op": e.key, "ms_per_frame": getattr(e, attr) / 1000 / frames, "share": getattr(e, attr) / total}
            for e in ops if e.key.startswith("aten::") and getattr(e, attr) > 0][:12]  # fmt: skip
    conv_s = sum(r["ms_per_frame"] for r in rows if "conv" in r["op"]) / 1000
    return {"tflop_per_frame": flops / 1e12, "conv_tflop_per_frame": conv_flops / 1e12,
            "device_ms_per_frame": total / 1000 / frames,
            "conv_tflops_achieved": conv_flops / 1e12 / conv_s if conv_s else None, "ops": rows}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="arch:rrdbnet-x2")
    parser.add_argument("--size", default="1920x1080", help="input WIDTHxHEIGHT (one untiled frame)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variants", default=VARIANTS)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.tile, args.tile_pad, args.compile = 0, 0, False
    width, height = parse_size(args.size)
    rows: list[dict] = []
    reference = None
    report: dict = {"settings": vars(args) | {"json": str(args.json)}, "rows": rows}
    for variant in args.variants.split(","):
        rt = load_runtime(args)  # a fresh model each time: variants patch it
        sync = torch.cuda.synchronize if rt.device.type == "cuda" else (lambda: None)
        img = torch.rand((1, 3, height, width), generator=torch.Generator().manual_seed(0))
        img = img.to(rt.device, rt.dtype)
        row = {"variant": variant}
        try:
            with torch.inference_mode():
                fn = prepare(variant, rt, img)
                out = fn().float()
                if reference is None:
                    reference = out
                row["max_abs_diff"] = (out - reference).abs().max().item()  # vs the first variant
                row["fps"] = timed(fn, args.iters, args.warmup, sync)
        except Exception as exc:  # a variant this torch/device can't run is reported, not fatal
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
            traceback.print_exc(file=sys.stderr)
        rows.append(row)
        print(f"{variant}: {row.get('fps', row.get('error'))}", file=sys.stderr, flush=True)
    if args.profile:
        rt = load_runtime(args)
        sync = torch.cuda.synchronize if rt.device.type == "cuda" else (lambda: None)
        img = torch.rand((1, 3, height, width), generator=torch.Generator().manual_seed(0)).to(rt.device, rt.dtype)
        with torch.inference_mode():
            report["profile"] = profile(rt, img, sync)
    report["machine"] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                         "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}  # fmt: skip

    print(f"\nmachine: {report['machine']}\nmodel: {args.model}, {args.size}, {args.precision}\n")
    base = next((r["fps"] for r in rows if r["variant"] == "nhwc" and "fps" in r), None)
    print(f"| variant | fps | vs nhwc | max abs diff vs {rows[0]['variant']} |\n| --- | ---: | ---: | ---: |")
    for r in rows:
        if "fps" in r:
            rel = f"{r['fps'] / base:.2f}x" if base else "-"
            print(f"| {r['variant']} | {r['fps']:.2f} | {rel} | {r['max_abs_diff']:.1e} |")
        else:
            print(f"| {r['variant']} | failed: {r['error']} | - | - |")
    if "profile" in report:
        p = report["profile"]
        achieved = p["conv_tflops_achieved"]
        print(f"\n{p['tflop_per_frame']:.2f} TFLOP per frame ({p['conv_tflop_per_frame']:.2f} in convolutions); "
              f"device time {p['device_ms_per_frame']:.1f} ms per frame; convolutions run at "
              f"{achieved:.0f} TFLOP/s\n" if achieved else "")  # fmt: skip
        print("| operator | ms per frame | share |\n| --- | ---: | ---: |")
        for r in p["ops"]:
            print(f"| {r['op']} | {r['ms_per_frame']:.2f} | {r['share']:.0%} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
