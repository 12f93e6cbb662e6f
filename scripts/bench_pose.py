#!/usr/bin/env python
"""Benchmark: the per-frame reference pose pipeline vs the batched ``vsenhance.pose`` filter.

Both run the same ONNX models on the same frames: realistically sized stand-ins with random weights built here
(a YOLO-style CNN at 640x640 giving ``[N, 300, 6]`` and a ViT-S-sized pose transformer giving
``[N, 133, 64, 48]``), saved to a temporary folder. Prints a markdown table, checks the outputs are equal and
optionally writes JSON (``--json PATH``).

    .venv/bin/python scripts/bench_pose.py                      # defaults: 32 frames, 320x180, CPU
    .venv/bin/python scripts/bench_pose.py --frames 64 --width 640 --height 360 --json bench.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "models" / "pose"))

import posekit  # noqa: E402  (frames and clip helpers of the tests)
import reference as ref  # noqa: E402  (the per-frame reference transcription)


class _Graph:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.i = 0

    def name(self, base: str) -> str:
        self.i += 1
        return f"{base}{self.i}"

    def const(self, value, base="c") -> str:
        n = self.name(base)
        self.inits[n] = np.asarray(value)
        return n

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, s: int, act: bool = True, pad: int | None = None) -> str:
        w = self.const((self.rng.standard_normal((cout, cin, k, k)) * (1.0 / np.sqrt(cin * k * k))).astype(np.float32))
        b = self.const(np.zeros(cout, np.float32))
        y = self.op("Conv", [x, w, b], kernel_shape=[k, k], strides=[s, s], pads=[k // 2 if pad is None else pad] * 4)
        return self.op("Relu", [y]) if act else y

    def linear(self, x: str, cin: int, cout: int) -> str:
        w = self.const((self.rng.standard_normal((cin, cout)) / np.sqrt(cin)).astype(np.float32))
        b = self.const(np.zeros(cout, np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def save(self, inp: str, in_shape, out: str, out_shape, path: Path) -> Path:
        graph = helper.make_graph(
            self.nodes,
            "bench",
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
            initializer=[numpy_helper.from_array(v, k) for k, v in self.inits.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(path))
        return path


def build_detector(path: Path, width: int = 32) -> Path:
    """A YOLO-style CNN: stride-2 stages at 640x640 down to 20x20, a 1x1 head to 300 boxes."""
    g = _Graph(0)
    x = "images"
    chans = [3, width, width * 2, width * 4, width * 8, width * 8]
    for cin, cout in itertools.pairwise(chans):
        x = g.conv(x, cin, cout, 3, 2)
        x = g.conv(x, cout, cout, 3, 1)
    head = g.conv(x, chans[-1], 6, 1, 1, act=False)  # (N, 6, 20, 20)
    flat = g.op("Reshape", [head, g.const(np.array([0, 6, 400], np.int64))])
    first = g.op(
        "Slice",
        [flat, g.const(np.array([0], np.int64)), g.const(np.array([300], np.int64)), g.const(np.array([2], np.int64))],
    )
    sig = g.op("Sigmoid", [first])
    rows = g.op("Transpose", [sig], perm=[0, 2, 1])
    m = np.zeros((6, 6), np.float32)
    m[0, 0] = m[0, 2] = m[1, 1] = m[1, 3] = 400
    m[2, 2] = m[3, 3] = 240
    m[4, 4] = 1
    m[5, 5] = 1.999
    aff = g.op("Add", [g.op("MatMul", [rows, g.const(m)]), g.const(np.array([0, 0, 20, 20, 0, 0], np.float32))])
    ax = g.const(np.array([2], np.int64))
    head5 = g.op("Slice", [aff, g.const(np.array([0], np.int64)), g.const(np.array([5], np.int64)), ax])
    cls = g.op("Floor", [g.op("Slice", [aff, g.const(np.array([5], np.int64)), g.const(np.array([6], np.int64)), ax])])
    out = g.op("Concat", [head5, cls], axis=2)
    return g.save("images", ["N", 3, 640, 640], out, ["N", 300, 6], path)


def build_vit_pose(path: Path, dim: int = 384, depth: int = 12, heads: int = 6) -> Path:
    """A ViT-S-sized pose network: 16x16 patches of 256x192 (192 tokens), ``depth`` blocks, a pixel-shuffle
    head to 133 heatmaps of 64x48."""
    g = _Graph(1)
    patches = g.conv("input", 3, dim, 16, 16, act=False, pad=0)  # (N, dim, 16, 12)
    tokens = g.op(
        "Transpose", [g.op("Reshape", [patches, g.const(np.array([0, dim, 192], np.int64))])], perm=[0, 2, 1]
    )  # (N, 192, dim)
    hd = dim // heads
    ones, zeros = g.const(np.ones(dim, np.float32)), g.const(np.zeros(dim, np.float32))
    x = tokens
    for _ in range(depth):
        h = g.op("LayerNormalization", [x, ones, zeros], axis=-1)
        qkv = g.linear(h, dim, 3 * dim)
        qkv = g.op("Reshape", [qkv, g.const(np.array([0, 192, 3, heads, hd], np.int64))])
        qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # (3, N, heads, 192, hd)
        q, k, v = (g.op("Gather", [qkv, g.const(np.array(i, np.int64))], axis=0) for i in range(3))
        att = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
        att = g.op("Softmax", [g.op("Mul", [att, g.const(np.float32(hd**-0.5))])], axis=-1)
        o = g.op("Transpose", [g.op("MatMul", [att, v])], perm=[0, 2, 1, 3])
        o = g.linear(g.op("Reshape", [o, g.const(np.array([0, 192, dim], np.int64))]), dim, dim)
        x = g.op("Add", [x, o])
        h = g.op("LayerNormalization", [x, ones, zeros], axis=-1)
        h = g.linear(h, dim, 4 * dim)
        h = g.op("Mul", [h, g.op("Sigmoid", [g.op("Mul", [h, g.const(np.float32(1.702))])])])  # GELU approx.
        x = g.op("Add", [x, g.linear(h, 4 * dim, dim)])
    x = g.op("LayerNormalization", [x, ones, zeros], axis=-1)
    hm = g.linear(x, dim, 133 * 16)  # (N, 192, 133*16)
    hm = g.op("Reshape", [hm, g.const(np.array([-1, 16, 12, 133, 4, 4], np.int64))])
    hm = g.op("Transpose", [hm], perm=[0, 3, 1, 4, 2, 5])
    hm = g.op("Reshape", [hm, g.const(np.array([-1, 133, 64, 48], np.int64))])
    out = g.op("Sigmoid", [hm])
    return g.save("input", ["N", 3, 256, 192], out, ["N", 133, 64, 48], path)


def run_reference(det: Path, pose: Path, frames: np.ndarray) -> tuple[float, list, np.ndarray]:
    yolo, vit = ref.Yolo(str(det)), ref.ViTPose(str(pose))
    ref.process(yolo, vit, frames[:1])  # warm-up
    t = time.perf_counter()
    bboxes, kp2ds = ref.process(yolo, vit, frames)
    return time.perf_counter() - t, bboxes, kp2ds


def run_filter(det: Path, pose: Path, frames: np.ndarray, batch, providers: str) -> tuple[float, list, int]:
    import vsenhance as vse
    from vsenhance.bridge.props import read_pose
    from vsenhance.filters.pose import last_run

    clip = posekit.clip_from_frames(frames)
    out = vse.pose(clip, det, pose, batch=batch, providers=providers)
    last_run["pipeline"](list(frames[:1]))  # warm-up (sessions already exist)
    t = time.perf_counter()
    results = [read_pose(f.props, "Pose") for f in out.frames()]
    return time.perf_counter() - t, results, last_run["batch"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--batch", default="auto", help='frames per model call, or "auto"')
    p.add_argument("--providers", default="cpu", help="for the batched filter (the reference uses CPU)")
    p.add_argument("--det-width", type=int, default=32, help="detector base channels")
    p.add_argument("--pose-depth", type=int, default=12, help="pose transformer blocks")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    batch = args.batch if args.batch == "auto" else int(args.batch)

    frames = posekit.random_frames(args.frames, args.height, args.width, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        det = build_detector(Path(tmp) / "det.onnx", args.det_width)
        pose = build_vit_pose(Path(tmp) / "pose.onnx", depth=args.pose_depth)
        t_ref, bboxes, kp2ds = run_reference(det, pose, frames)
        t_bat, results, used_batch = run_filter(det, pose, frames, batch, args.providers)

    boxes_equal = all(np.array_equal(r[0][0], b) for r, b in zip(results, bboxes, strict=True))
    kp_diff = max(float(np.abs(r[1][0] - k).max()) for r, k in zip(results, kp2ds, strict=True))
    fps_ref, fps_bat = args.frames / t_ref, args.frames / t_bat
    data = {
        "frames": args.frames,
        "size": [args.width, args.height],
        "batch": used_batch,
        "providers": args.providers,
        "reference_s": round(t_ref, 3),
        "batched_s": round(t_bat, 3),
        "reference_fps": round(fps_ref, 2),
        "batched_fps": round(fps_bat, 2),
        "speedup": round(fps_bat / fps_ref, 2),
        "boxes_equal": boxes_equal,
        "keypoints_max_abs_diff_px": kp_diff,
        "persons_detected": int(sum(b[4] > 0 for b in bboxes)),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
    }
    print(
        f"| pipeline | frames | batch | time (s) | fps |\n|---|---|---|---|---|\n"
        f"| per-frame reference | {args.frames} | 1 | {t_ref:.2f} | {fps_ref:.2f} |\n"
        f"| vsenhance.pose | {args.frames} | {used_batch} | {t_bat:.2f} | {fps_bat:.2f} |\n\n"
        f"speedup {fps_bat / fps_ref:.2f}x; boxes equal: {boxes_equal}; "
        f"keypoints max |diff| {kp_diff:.2e} px ({args.width}x{args.height}, {os.cpu_count()} CPUs)"
    )
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    return 0 if boxes_equal and kp_diff < 1e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
