"""Benchmark vse.upscale against vs-mlrt's OpenVINO filter on the CPU, side by side in one run, same weights.

    .venv/bin/python -m scripts.bench_peer                        # 320x180 -> 1280x720, a few minutes
    .venv/bin/python -m scripts.bench_peer --repeat 3 --json out/bench-peer.json

Legs, each a `vspipe` process of the same source script (bench_upscale's panned photo, YUV420P8), whose output
is YUV420P10 x4 discarded by a reader process; frames per second after --warmup frames:
  vse fp32 / bf16       vse.upscale(model, precision=...), streams 1 and 2 (backend="torch")
  vseov fp32 / bf16     the same with backend="openvino": OpenVINO's kernels inside vse.upscale's pipeline
  ov f32 / bf16         vs-mlrt's core.ov.Model on the same weights exported to ONNX (torch.onnx.export),
                        INFERENCE_PRECISION_HINT f32 or bf16, num_streams 1 and 2, with the same conversions
                        (resize to RGBS in, to YUV420P10 out) as vse.upscale does inside
The legs alternate --repeat times and the median is reported (shared VMs are noisy). --one-core adds, per leg,
streams=1 pinned to one core (taskset): the single-stream speed a stream has on its share of the cores, so that
the table can say whether streams=2 on two cores gives the sum of two of them. vs-mlrt is not a
dependency: its wheel (vapoursynth-mlrt-ov) is downloaded with pip into out/peer/ and loaded with LoadPlugin,
so nothing is installed into the environment.
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

from scripts.bench_upscale import ROOT, cpu_name, parse_size, run_vspipe
from vsenhance.models.sr import cpu_bf16_units

PEER_DIR = ROOT / "out" / "peer"
OV_WHEEL = "vapoursynth-mlrt-ov"

OV_VPY = """
core.std.LoadPlugin({plugin!r})
rgb = core.resize.Bicubic(source, format=vs.RGBS, matrix_in_s="709")
up = core.ov.Model(rgb, network_path={onnx!r}, device="CPU", num_streams={streams},
                   config=lambda: dict(INFERENCE_PRECISION_HINT={hint!r}))
out = core.resize.Bicubic(up, format=vs.{output_format}, matrix_s="709")
out.set_output()
"""


def ov_plugin() -> Path:
    """libvsov.so from the vapoursynth-mlrt-ov wheel, downloaded and unpacked into out/peer/ once."""
    found = glob.glob(str(PEER_DIR / "ov" / "**" / "libvsov.so"), recursive=True)
    if found:
        return Path(found[0])
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(PEER_DIR), OV_WHEEL],
                   check=True)  # fmt: skip
    wheel = sorted(PEER_DIR.glob("vapoursynth_mlrt_ov-*.whl"))[-1]
    with zipfile.ZipFile(wheel) as z:
        z.extractall(PEER_DIR / "ov")
    return next((PEER_DIR / "ov").rglob("libvsov.so"))


def export_onnx(model: str, width: int, height: int) -> Path:
    """The model's weights as ONNX at the benchmark's frame size (vs-mlrt runs whole frames here: tile 0)."""
    import torch

    from vsenhance.models.loading import load_model

    path = PEER_DIR / f"{Path(model).stem}_{width}x{height}.onnx"
    if path.exists() and Path(model).is_file() is False:  # a known name's weights never change; a file's may
        return path
    net = load_model(model, func="bench_peer").model.eval()
    with torch.no_grad():
        torch.onnx.export(net, (torch.rand(1, 3, height, width),), str(path), input_names=["input"],
                          output_names=["output"], opset_version=17, dynamo=False)  # fmt: skip
    return path


def ov_version(plugin: Path) -> str:
    code = f"import vapoursynth as vs; vs.core.std.LoadPlugin({str(plugin)!r}); print(vs.core.ov.Version())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--streams", default="1,2")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--legs", help="comma-separated; default: every leg, the bf16 ones where the CPU has bf16 units"
    )
    parser.add_argument("--one-core", action="store_true", help="also each leg with streams=1 pinned to one core")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # what bench_upscale.run_vspipe reads
    args.tile, args.tile_pad, args.device, args.compile = 0, 10, "cpu", False
    args.output_format, args.encoder, args.write_script = "YUV420P10", "null", None

    if args.legs is None:
        args.legs = "vse-fp32,vseov-fp32,ov-f32" + (",vse-bf16,vseov-bf16,ov-bf16" if cpu_bf16_units() else "")
    if "bf16" in args.legs and cpu_bf16_units() is None:  # OpenVINO would run f32 under a bf16 label
        raise SystemExit(f"bench_peer: this CPU ({cpu_name()}) has no bf16 units, so the bf16 legs would run f32 "
                         "(torch emulates bf16, OpenVINO ignores the hint). Fix: --legs vse-fp32,vseov-fp32,ov-f32.")  # fmt: skip
    width, height = parse_size(args.size)
    legs = [(leg, int(s), None) for leg in args.legs.split(",") for s in args.streams.split(",")]
    if args.one_core:
        legs += [(leg, 1, 1) for leg in args.legs.split(",")]
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    plugin, onnx = ov_plugin(), export_onnx(args.model, width, height)
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for leg, streams, cores in legs:
            kind, precision = leg.split("-")
            body = None
            if kind == "ov":
                body = OV_VPY.format(plugin=str(plugin), onnx=str(onnx), streams=streams, hint=precision,
                                     output_format=args.output_format)  # fmt: skip
            args.precision, args.backend = precision, "openvino" if kind == "vseov" else "torch"
            r = run_vspipe(args, streams, body=body, cores=cores)
            name = f"{leg} streams={streams}" + (" one core" if cores else "")
            runs.setdefault(name, []).append(r["fps"])
            print(f"  {name}: {r['fps']:.2f} fps", file=sys.stderr)
    rows = [{"leg": name, "fps": statistics.median(v), "runs": v} for name, v in runs.items()]
    fps = {row["leg"]: row["fps"] for row in rows}
    sums = [{"leg": leg, "streams2_over_two_single": fps[f"{leg} streams=2"] / (2 * fps[f"{leg} streams=1 one core"])}
            for leg in args.legs.split(",") if f"{leg} streams=2" in fps and f"{leg} streams=1 one core" in fps]  # fmt: skip
    cpu_flags = sorted({f for f in ("amx_bf16", "avx512_bf16", "avx512f") if f in Path("/proc/cpuinfo").read_text()})
    report = {
        "cpu": cpu_name(), "cpu_flags": cpu_flags, "model": args.model, "size": args.size, "frames": args.frames,
        "warmup": args.warmup, "repeat": args.repeat, "openvino": ov_version(plugin), "rows": rows, "sums": sums,
    }  # fmt: skip
    print(f"{report['cpu']} ({', '.join(cpu_flags)}), {args.model} {args.size}, median of {args.repeat}")
    print(f"{'leg':<36}{'fps':>8}   runs")
    for row in rows:
        print(f"{row['leg']:<36}{row['fps']:>8.2f}   {', '.join(f'{v:.2f}' for v in row['runs'])}")
    for row in sums:
        print(f"{row['leg']}: streams=2 on two cores is {row['streams2_over_two_single']:.2f}x two single-core streams")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
