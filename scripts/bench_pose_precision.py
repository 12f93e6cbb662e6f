"""Would fp16 or bf16 speed up the pose filter's ONNX Runtime sessions on this CPU? Measured, not guessed.

    .venv/bin/python -m scripts.bench_pose_precision --json out/bench-pose-precision.json

The networks are bench_pose's stand-ins (a YOLO-style detector at 640x640 and a ViT-S-sized pose transformer at
256x192, random weights, the real models' FLOPs). Each is timed on ONNX Runtime's CPU execution provider as
built (fp32) and converted to fp16 with onnxconverter-common (``keep_io_types``: float32 in and out, as the
filter feeds it), ms per image at --batch with all cores (median of --rounds alternating rounds). bf16: ONNX Runtime's CPU provider is asked to load
a one-MatMul bf16 graph; whether it can is the answer (the filter would need that kernel first).
Needs ``pip install onnxconverter-common`` (a benchmark tool, not a dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from scripts.bench_pose import _ms_per_image, _session, build_detector, build_vit_pose
from scripts.bench_upscale import cpu_name


def to_fp16(src: Path, dst: Path) -> Path:
    from onnxconverter_common import float16

    onnx.save(float16.convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))
    return dst


def bf16_matmul_loads(folder: Path) -> str:
    """ONNX Runtime's answer to a bf16 MatMul on the CPU provider: "loads" or its error."""
    import onnxruntime as ort

    x = helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [64, 64])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["y"])], "bf16", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what this ONNX Runtime reads
    path = folder / "bf16.onnx"
    onnx.save(model, str(path))
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # the provider's refusal is the measurement
        return str(exc).splitlines()[0][-200:]
    return "loads"


def casts_added(path: Path, folder: Path) -> int:
    """Cast nodes in the graph ONNX Runtime actually runs, less those in the file: each pair is an op it
    computes in fp32 because the CPU provider has no fp16 kernel for it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(folder / f"{path.stem}.run.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    count = lambda m: sum(n.op_type == "Cast" for n in m.graph.node)  # noqa: E731
    return count(onnx.load(opts.optimized_model_filepath)) - count(onnx.load(str(path)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of 5 runs; the median is kept")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nets = {
            "detector 640x640": (build_detector(folder / "det.onnx"), (args.batch, 3, 640, 640)),
            "pose 256x192": (build_vit_pose(folder / "pose.onnx"), (args.batch, 3, 256, 192)),
        }
        rng = np.random.default_rng(0)
        for name, (path, shape) in nets.items():
            x = rng.random(shape, dtype=np.float32)
            half = to_fp16(path, folder / f"{path.stem}_fp16.onnx")
            sessions = {"fp32": _session(path, cores), "fp16": _session(half, cores)}
            times: dict[str, list[float]] = {"fp32": [], "fp16": []}
            for _ in range(args.rounds):  # alternating: a shared VM's slow minute hits both
                for kind, session in sessions.items():
                    times[kind].append(_ms_per_image(session, x, reps=5))
            fp32_ms, fp16_ms = statistics.median(times["fp32"]), statistics.median(times["fp16"])
            rows.append({"network": name, "fp32_ms": fp32_ms, "fp16_ms": fp16_ms, "fp16_speedup": fp32_ms / fp16_ms,
                         "fp16_casts_added": casts_added(half, folder)})  # fmt: skip
        bf16 = bf16_matmul_loads(folder)
    report = {"cpu": cpu_name(), "cores": cores, "batch": args.batch, "rows": rows, "bf16_cpu_provider": bf16}
    import onnxruntime as ort

    report["onnxruntime"] = ort.__version__
    print(f"{report['cpu']}, {cores} cores, ONNX Runtime {ort.__version__}, batch {args.batch}")
    print("| network | fp32 ms/image | fp16 ms/image | fp16 speed-up | casts ONNX Runtime added to the fp16 graph |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['network']} | {r['fp32_ms']:.1f} | {r['fp16_ms']:.1f} | {r['fp16_speedup']:.2f}x "
            f"| {r['fp16_casts_added']} |"
        )
    print(f"bf16 MatMul on the CPU provider: {bf16}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
