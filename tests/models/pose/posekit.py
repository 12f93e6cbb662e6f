"""Tiny ONNX stand-ins with the YOLO / ViTPose signatures, and frame helpers, for the pose tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(nodes, inits, in_shape, out_shape, path, in_name="images", out_name="output"):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def bright_detector(path, fixed_batch: bool = False, score: float = 0.9):
    """[N,3,640,640] -> [N,300,6]: one class-0 box around the pixels whose channel mean is > 0.5."""
    n = 1 if fixed_batch else "N"
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], axes=[1], keepdims=0),
        helper.make_node("Greater", ["m", "half"], ["gt"]),
        helper.make_node("Cast", ["gt"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["mask"], ["col"], axes=[1], keepdims=0),
        helper.make_node("ReduceMax", ["mask"], ["row"], axes=[2], keepdims=0),
        helper.make_node("ArgMax", ["col"], ["x1i"], axis=1, keepdims=1),
        helper.make_node("ArgMax", ["col"], ["x2i"], axis=1, keepdims=1, select_last_index=1),
        helper.make_node("ArgMax", ["row"], ["y1i"], axis=1, keepdims=1),
        helper.make_node("ArgMax", ["row"], ["y2i"], axis=1, keepdims=1, select_last_index=1),
        *[helper.make_node("Cast", [f"{v}i"], [f"{v}f"], to=TensorProto.FLOAT) for v in ("x1", "x2", "y1", "y2")],
        helper.make_node("Add", ["x2f", "one"], ["x2"]),
        helper.make_node("Add", ["y2f", "one"], ["y2"]),
        helper.make_node("ReduceMax", ["col"], ["any"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["any", "score"], ["sc"]),
        helper.make_node("Mul", ["any", "zero"], ["cls"]),
        helper.make_node("Concat", ["x1f", "y1f", "x2", "y2", "sc", "cls"], ["row6"], axis=1),
        helper.make_node("Unsqueeze", ["row6", "ax1"], ["row3"]),
        helper.make_node("Pad", ["row3", "pads"], ["output"]),
    ]
    inits = {
        "half": np.float32(0.5),
        "one": np.float32(1),
        "zero": np.float32(0),
        "score": np.float32(score),
        "ax1": np.array([1], np.int64),
        "pads": np.array([0, 0, 0, 0, 299, 0], np.int64),
    }
    return _save(nodes, inits, [n, 3, 640, 640], [n, 300, 6], path)


def dot_pose(path, fixed_batch: bool = False):
    """[N,3,256,192] -> [N,133,64,48]: the red channel (un-normalised) sampled every 4 pixels, on 133 maps."""
    n = 1 if fixed_batch else "N"
    nodes = [
        helper.make_node("Slice", ["input", "c0", "c1", "cax"], ["red"]),
        helper.make_node("Mul", ["red", "std"], ["r1"]),
        helper.make_node("Add", ["r1", "mean"], ["r2"]),
        helper.make_node("Slice", ["r2", "s0", "s1", "sax", "steps"], ["small"]),
        helper.make_node("Expand", ["small", "shape"], ["heatmaps"]),
    ]
    inits = {
        "c0": np.array([0], np.int64),
        "c1": np.array([1], np.int64),
        "cax": np.array([1], np.int64),
        "std": np.float32(0.229),
        "mean": np.float32(0.485),
        "s0": np.array([0, 0], np.int64),
        "s1": np.array([256, 192], np.int64),
        "sax": np.array([2, 3], np.int64),
        "steps": np.array([4, 4], np.int64),
        "shape": np.array([1, 133, 1, 1], np.int64),
    }
    return _save(nodes, inits, [n, 3, 256, 192], [n, 133, 64, 48], path, in_name="input", out_name="heatmaps")


def random_detector(path, seed: int = 0, fixed_batch: bool = False, channels: int = 8):
    """A random-weight conv net [N,3,640,640] -> [N,300,6] of plausible boxes (two classes), for parity."""
    rng = np.random.default_rng(seed)
    n = 1 if fixed_batch else "N"
    c = channels
    m = np.zeros((6, 6), np.float32)
    m[0, 0] = m[0, 2] = 480
    m[1, 1] = m[1, 3] = 480
    m[2, 2] = 300
    m[3, 3] = 300
    m[4, 4] = 1
    m[5, 5] = 1.999
    inits = {
        "w1": (rng.standard_normal((c, 3, 4, 4)) * 0.15).astype(np.float32),
        "b1": np.zeros(c, np.float32),
        "w2": (rng.standard_normal((c, c, 4, 4)) * 0.1).astype(np.float32),
        "b2": np.zeros(c, np.float32),
        "w3": (rng.standard_normal((6, c, 1, 1)) * 0.5).astype(np.float32),
        "b3": np.zeros(6, np.float32),
        "shape": np.array([0, 6, 1600], np.int64),
        "s0": np.array([0], np.int64),
        "s1": np.array([300], np.int64),
        "ax": np.array([2], np.int64),
        "m": m,
        "bias": np.array([0, 0, 20, 20, 0, 0], np.float32),
        "a0": np.array([0], np.int64),
        "a5": np.array([5], np.int64),
        "a6": np.array([6], np.int64),
        "last": np.array([2], np.int64),
    }
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], strides=[4, 4], kernel_shape=[4, 4]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[4, 4], kernel_shape=[4, 4]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["c3", "shape"], ["flat"]),
        helper.make_node("Slice", ["flat", "s0", "s1", "ax"], ["anchors"]),
        helper.make_node("Sigmoid", ["anchors"], ["sig"]),
        helper.make_node("Transpose", ["sig"], ["rows"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["rows", "m"], ["mm"]),
        helper.make_node("Add", ["mm", "bias"], ["aff"]),
        helper.make_node("Slice", ["aff", "a0", "a5", "last"], ["head"]),
        helper.make_node("Slice", ["aff", "a5", "a6", "last"], ["clsf"]),
        helper.make_node("Floor", ["clsf"], ["cls"]),
        helper.make_node("Concat", ["head", "cls"], ["output"], axis=2),
    ]
    return _save(nodes, inits, [n, 3, 640, 640], [n, 300, 6], path)


def random_pose(path, seed: int = 1, fixed_batch: bool = False, channels: int = 16):
    """A random-weight conv net [N,3,256,192] -> [N,133,64,48] (positive heatmaps), for parity."""
    rng = np.random.default_rng(seed)
    n = 1 if fixed_batch else "N"
    c = channels
    inits = {
        "w1": (rng.standard_normal((c, 3, 4, 4)) * 0.3).astype(np.float32),
        "b1": np.zeros(c, np.float32),
        "w2": (rng.standard_normal((133, c, 3, 3)) * 0.3).astype(np.float32),
        "b2": np.zeros(133, np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], strides=[4, 4], kernel_shape=[4, 4]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["heatmaps"]),
    ]
    return _save(nodes, inits, [n, 3, 256, 192], [n, 133, 64, 48], path, in_name="input", out_name="heatmaps")


def gaussian_dot(h: int, w: int, x: float, y: float, sigma: float) -> np.ndarray:
    """(H, W, 3) float32 black frame with a white Gaussian blob centred on pixel coordinate (x, y)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)).astype(np.float32)
    return np.repeat(g[:, :, None], 3, axis=2)


def random_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """(N, H, W, 3) float32 smooth random frames with a bright moving rectangle."""
    rng = np.random.default_rng(seed)
    frames = np.empty((n, h, w, 3), np.float32)
    base = rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    import cv2

    for i in range(n):
        f = cv2.resize(base, (w, h)) * 0.4
        x0 = int((i * 7) % max(1, w // 2))
        f[h // 5 : h - h // 6, x0 : x0 + w // 3] = rng.random(3) * 0.3 + 0.7
        f += rng.random((h, w, 3)).astype(np.float32) * 0.05
        frames[i] = np.clip(f, 0, 1)
    return frames


def clip_from_frames(frames: np.ndarray, fmt=None):
    """A VapourSynth RGBS clip showing (N, H, W, 3) float32 frames (converted to ``fmt`` if given)."""
    import vapoursynth as vs

    core = vs.core
    n, h, w, _ = frames.shape
    blank = core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=n, keep=True)

    def fill(n, f):
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n, :, :, p])
        return out

    clip = core.std.ModifyFrame(blank, blank, fill)
    if fmt is not None:
        yuv = core.get_video_format(fmt).color_family == vs.YUV
        clip = core.resize.Point(clip, format=fmt, **({"matrix_s": "709"} if yuv else {})) if fmt != vs.RGBS else clip
    return clip
