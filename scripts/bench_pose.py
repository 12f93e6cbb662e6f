#!/usr/bin/env python
"""Benchmark: the per-frame reference pose pipeline vs the batched ``vsenhance.pose`` filter.

Both run the same ONNX models on the same frames: realistically sized stand-ins with random weights built here
(a YOLO-style CNN at 640x640 giving ``[N, 300, 6]``, 5.75 GMAC = 11.5 GFLOP per frame at the default
``--det-width 32``, between YOLOv10n and YOLOv10s; ``--det-width 64`` is 46 GFLOP, about YOLOv10m; and a
ViT-S-sized pose transformer, 12 blocks, dim 384, 6 heads, 16x16 patches of 256x192, 4.6 GMAC per crop, giving
``[N, 133, 64, 48]``), saved to a temporary folder. Both pipelines get the same ONNX Runtime thread budget
(all usable cores: the reference's sessions ``intra_op_num_threads = cores``; the filter ``streams`` groups
at once with ``cores // streams`` threads per session). Runs alternate ``--repeat`` times (the median is
reported, shared VMs are noisy), the outputs are compared, ``--stages`` adds each network's ms/image at 1
and all threads, batch 1 / batch B and with I/O binding, and (on the CPU) ONNX Runtime's own GEMM peak, i.e.
the ceiling for any schedule. ``--providers cuda`` runs both pipelines and the stages on the GPU.

    .venv/bin/python -m scripts.bench_pose                      # defaults: 48 frames, 320x180, CPU
    .venv/bin/python -m scripts.bench_pose --quick              # small networks, CI-sized
    .venv/bin/python -m scripts.bench_pose --stages --json bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# the tests' pose helpers (tiny models, frames, the reference transcription): run from the repository root
# as a module, ``python -m scripts.bench_pose``, so that ``tests`` is importable as the package it is
from tests.models.pose import posekit
from tests.models.pose import reference as ref

# ONNX Runtime page-faults its working memory in on the first two runs of a shape (the second allocates the
# planned memory pattern): about 80k faults and 0.1-1 s for the detector at batch 12 on the CPU, measured
WARMUP_RUNS = 2


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


def gmacs(path: Path) -> float:
    """Multiply-accumulates of Conv and MatMul for one image (batch 1), from ONNX shape inference."""
    from onnx import shape_inference

    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model = shape_inference.infer_shapes(model)
    graph = model.graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.value_info, *graph.input, *graph.output]
    }
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":
            total += int(np.prod(shapes[node.output[0]])) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type == "MatMul":
            total += int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return total / 1e9


def _session(path: Path, threads: int, providers: str = "cpu"):
    import onnxruntime as ort

    from vsenhance.models.pose.session import resolve_providers

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=resolve_providers(providers, "bench_pose")[0])


def _runner(session, x: np.ndarray, io_binding: bool):
    """A call that runs ``x`` and returns the output on the host: ``session.run``, or I/O binding with the
    output written into a buffer allocated once on the session's device (then copied to the host if it is not
    the CPU), which is what binding would save a pipeline: the per-run output allocation."""
    import onnxruntime as ort

    name, out = session.get_inputs()[0].name, session.get_outputs()[0].name
    if not io_binding:
        return lambda: session.run([out], {name: x})[0]
    shape = session.run([out], {name: x})[0].shape
    binding = session.io_binding()
    binding.bind_cpu_input(name, x)
    if session.get_providers()[0] not in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        host = np.empty(shape, np.float32)
        binding.bind_output(out, "cpu", 0, np.float32, list(shape), host.ctypes.data)
        return lambda: (session.run_with_iobinding(binding), host)[1]
    device = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cuda", 0)
    binding.bind_ortvalue_output(out, device)
    return lambda: (session.run_with_iobinding(binding), device.numpy())[1]


def _ms_per_image(session, x: np.ndarray, reps: int = 3, io_binding: bool = False) -> float:
    run = _runner(session, x, io_binding)
    run()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times) / len(x) * 1000


def gemm_peak(threads: int, size: int = 2048) -> float:
    """ONNX Runtime's MatMul GFLOP/s on a large square GEMM: what its kernels attain on this CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        g = _Graph(2)
        out = g.op("MatMul", ["x", g.const(np.ones((size, size), np.float32))])
        path = g.save("x", [size, size], out, [size, size], Path(tmp) / "mm.onnx")
        ms = _ms_per_image(_session(path, threads), np.ones((size, size), np.float32), reps=4) * size
    return 2 * size**3 / ms / 1e6


def stages(det: Path, pose: Path, batch: int, cores: int, providers: str = "cpu") -> dict:
    """ms per image of each network at 1 and all threads, batch 1 and ``batch``, and with I/O binding (all
    threads, batch ``batch``; its output must equal ``session.run``'s); then ORT's GEMM peak on the CPU."""
    rng = np.random.default_rng(0)
    out: dict = {}
    for label, path, shape in (("detector", det, (3, 640, 640)), ("pose", pose, (3, 256, 192))):
        x = rng.random((batch, *shape), dtype=np.float32)
        for threads in sorted({1, cores}):
            s = _session(path, threads, providers)
            out[f"{label}_ms_b1_t{threads}"] = round(_ms_per_image(s, x[:1]), 1)
            out[f"{label}_ms_b{batch}_t{threads}"] = round(_ms_per_image(s, x), 1)
        out[f"{label}_ms_b{batch}_t{cores}_iobinding"] = round(_ms_per_image(s, x, io_binding=True), 1)
        if not np.array_equal(_runner(s, x, True)(), _runner(s, x, False)()):
            raise SystemExit(f"bench_pose: the {label} output with I/O binding differs from session.run")
    if _on_cpu(providers):  # the CPU's ceiling; a GPU's is not ORT's CPU GEMM
        for threads in sorted({1, cores}):
            out[f"gemm_gflops_t{threads}"] = round(gemm_peak(threads))
    return out


def _on_cpu(providers: str) -> bool:
    from vsenhance.models.pose.session import resolve_providers

    return resolve_providers(providers, "bench_pose")[0][0] == "CPUExecutionProvider"


def run_reference(
    det: Path, pose: Path, frames: np.ndarray, threads: int, providers: str
) -> tuple[float, list, np.ndarray]:
    yolo, vit = ref.Yolo(str(det)), ref.ViTPose(str(pose))
    yolo.session, vit.session = _session(det, threads, providers), _session(pose, threads, providers)
    ref.process(yolo, vit, frames[:WARMUP_RUNS])  # warm-up
    t = time.perf_counter()
    bboxes, kp2ds = ref.process(yolo, vit, frames)
    return time.perf_counter() - t, bboxes, kp2ds


@contextlib.contextmanager
def _observed_filter():
    """What ``vsenhance.pose`` chose and did, seen from outside the package (it keeps no record of its runs):
    the batch size and streams it hands ``batched_modify``, the pipeline and its threads per session, the
    thread pool its groups run on (to warm up those very threads), and the most groups in the pipeline at once.
    """
    from concurrent.futures import ThreadPoolExecutor

    import vsenhance.filters.pose as pose_filter
    from vsenhance.bridge import batching
    from vsenhance.models.pose import pipeline

    seen: dict = {"peak_groups": 0}
    running, lock = [0], threading.Lock()
    real_modify = pose_filter.batched_modify

    def modify(clip, src, size, compute, apply, **kwargs):
        seen.update(batch=size, streams=kwargs.get("streams", 1))
        return real_modify(clip, src, size, compute, apply, **kwargs)

    class Executor(ThreadPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen["executor"] = self

    class Pipeline(pipeline.PosePipeline):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.update(pipeline=self, threads=kwargs["threads"])

        def __call__(self, *args, **kwargs):
            with lock:
                running[0] += 1
                seen["peak_groups"] = max(seen["peak_groups"], running[0])
            try:
                return super().__call__(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1

    with (
        mock.patch.object(pose_filter, "batched_modify", modify),
        mock.patch.object(batching, "ThreadPoolExecutor", Executor),
        mock.patch.object(pipeline, "PosePipeline", Pipeline),
    ):
        yield seen


def run_filter(det: Path, pose: Path, frames: np.ndarray, batch, providers: str, streams) -> tuple[float, list, dict]:
    import vsenhance as vse
    from vsenhance.bridge.pose_props import read_pose

    clip = posekit.clip_from_frames(frames)
    with _observed_filter() as seen:
        out = vse.pose(clip, det, pose, batch=batch, providers=providers, streams=streams)
        # warm-up: two runs at the batch size on each of the filter's worker threads (as the reference's two
        # frames); the peak of groups at once is the timed run's
        warm = list(frames[: seen["batch"]])
        for _ in range(WARMUP_RUNS):
            runs = [seen["executor"].submit(seen["pipeline"], warm) for _ in range(seen["streams"])]
            for future in runs:
                future.result()
        seen["peak_groups"] = 0
        t = time.perf_counter()
        results = [read_pose(f.props, "Pose") for f in out.frames()]
        elapsed = time.perf_counter() - t
    info = {k: seen[k] for k in ("batch", "streams", "threads", "peak_groups")}
    return elapsed, results, info


def main(argv=None) -> int:
    import vapoursynth as vs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--batch", default="auto", help='frames per model call, or "auto"')
    p.add_argument("--streams", default="auto", help='groups at once in the filter, or "auto"')
    p.add_argument("--providers", default="cpu", help='ONNX Runtime providers of both pipelines ("cpu", "cuda")')
    p.add_argument("--det-width", type=int, default=32, help="detector base channels (64: about YOLOv10m)")
    p.add_argument("--pose-depth", type=int, default=12, help="pose transformer blocks")
    p.add_argument("--repeat", type=int, default=3, help="alternating runs of each pipeline (median reported)")
    p.add_argument("--quick", action="store_true", help="small networks and 16 frames (CI-sized)")
    p.add_argument("--stages", action="store_true", help="also time each network alone and the GEMM peak")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.det_width, args.pose_depth, args.repeat = 16, 8, 2, 1
    batch = args.batch if args.batch == "auto" else int(args.batch)
    streams = args.streams if args.streams == "auto" else int(args.streams)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    frames = posekit.random_frames(args.frames, args.height, args.width, seed=0)
    t_ref, t_bat, same = [], [], True
    with tempfile.TemporaryDirectory() as tmp:
        det = build_detector(Path(tmp) / "det.onnx", args.det_width)
        pose = build_vit_pose(Path(tmp) / "pose.onnx", depth=args.pose_depth)
        g_det, g_pose = gmacs(det), gmacs(pose)
        for _ in range(max(1, args.repeat)):
            t, bboxes, kp2ds = run_reference(det, pose, frames, cores, args.providers)
            t_ref.append(t)
            t, results, info = run_filter(det, pose, frames, batch, args.providers, streams)
            t_bat.append(t)
            same &= all(np.array_equal(r[0][0], b) for r, b in zip(results, bboxes, strict=True))
            same &= all(np.array_equal(r[1][0], k) for r, k in zip(results, kp2ds, strict=True))
        extra = stages(det, pose, info["batch"], cores, args.providers) if args.stages else {}

    fps_ref, fps_bat = args.frames / statistics.median(t_ref), args.frames / statistics.median(t_bat)
    flop_frame = 2 * (g_det + g_pose)
    data = {
        "frames": args.frames,
        "size": [args.width, args.height],
        "detector_gflop": round(2 * g_det, 2),
        "pose_gflop_per_crop": round(2 * g_pose, 2),
        **info,
        "reference_threads": cores,
        "vs_threads": vs.core.num_threads,
        "providers": args.providers,
        "reference_s": [round(t, 3) for t in t_ref],
        "batched_s": [round(t, 3) for t in t_bat],
        "reference_fps": round(fps_ref, 2),
        "batched_fps": round(fps_bat, 2),
        "speedup": round(fps_bat / fps_ref, 2),
        "identical": bool(same),
        "persons_detected": int(sum(b[4] > 0 for b in bboxes)),
        **extra,
        "machine": {
            "cpu_count": cores,
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
    }
    print(
        f"models: detector {2 * g_det:.1f} GFLOP/frame, pose {2 * g_pose:.1f} GFLOP/crop; {args.frames} frames "
        f"{args.width}x{args.height}, {cores} CPUs, median of {len(t_ref)} alternating runs\n\n"
        f"| pipeline | batch | ORT threads | fps (median) | runs (s) |\n|---|---|---|---|---|\n"
        f"| per-frame reference | 1 | {cores} per session, one frame at a time | {fps_ref:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in t_ref)} |\n"
        f"| vsenhance.pose | {info['batch']} | {info['threads']} per session x {info['streams']} groups at once "
        f"(VS threads {vs.core.num_threads}) | {fps_bat:.2f} | {', '.join(f'{t:.2f}' for t in t_bat)} |\n\n"
        f"speedup {fps_bat / fps_ref:.2f}x; outputs identical (boxes and keypoints bit-equal): {same}"
    )
    if extra:
        print("\n" + "\n".join(f"{k}: {v}" for k, v in extra.items()))
    if f"gemm_gflops_t{cores}" in extra:
        peak = extra[f"gemm_gflops_t{cores}"]
        print(
            f"ceiling: {flop_frame:.1f} GFLOP/frame at ORT's {cores}-thread GEMM peak {peak} GFLOP/s = "
            f"{peak / flop_frame:.1f} fps = {peak / flop_frame / fps_ref:.2f}x the reference"
        )
        data["ceiling_fps"] = round(peak / flop_frame, 2)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
