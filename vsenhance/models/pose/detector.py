"""YOLO person detector: batched pre-processing and the reference post-processing and person selection.

Follows the per-frame pipeline of ComfyUI-WanAnimatePreprocess (``Yolo.postprocess`` / ``process_results``):
plain bilinear resize to 640x640 (no letterbox, no normalisation, RGB in [0, 1]); YOLOv10 rows
``[x1, y1, x2, y2, score, cls]`` or the YOLOv8 ``[4 + classes, N]`` layout; boxes scaled back by W/640 and
H/640 and truncated to integers; ``cv2.dnn.NMSBoxes`` over all classes; persons (class 0) selected by area
among boxes whose longest side is at least 0.4 of the longest one.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["INPUT_SIZE", "decode", "full_frame_box", "preprocess", "select_persons"]

INPUT_SIZE = 640
PERSON_CLASS = 0
SHAPE_RATIO = 0.4  # threshold_bbox_shape_ratio
MULTI_PERSON_RATIO = 0.1  # threshold_multi_persons


def preprocess(frames: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float32 RGB frames in [0, 1] -> contiguous (N, 3, 640, 640) float32.

    Each plane is resized straight into the batch buffer (bit-identical to resizing the RGB image and
    transposing, without the strided copy); pass ``out`` to reuse a buffer between batches.
    """
    n = len(frames)
    if out is None or out.shape != (n, 3, INPUT_SIZE, INPUT_SIZE):
        out = np.empty((n, 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    for i, frame in enumerate(frames):
        for c in range(3):
            cv2.resize(np.ascontiguousarray(frame[:, :, c]), (INPUT_SIZE, INPUT_SIZE), dst=out[i, c])
    return out


def decode(output: np.ndarray, height: int, width: int, threshold: float, iou: float) -> np.ndarray:
    """One image's raw detector output -> (K, 6) float64 rows ``[x1, y1, x2, y2, score, cls]`` after NMS.

    Coordinates are integers in source pixels, as the reference truncates them before NMS.
    """
    out = np.squeeze(np.asarray(output))
    if out.ndim == 1:
        out = out[None]
    if out.ndim != 2:
        raise ValueError(f"detector output for one image has shape {np.shape(output)}")
    # the reference computes the factors from a numpy shape array: np.int64 / 640 -> float64 products
    x_factor = np.float64(width) / INPUT_SIZE
    y_factor = np.float64(height) / INPUT_SIZE
    if out.shape[-1] == 6:  # YOLOv10: [x1, y1, x2, y2, score, cls]
        scores = out[:, 4]
        keep = scores >= threshold
        scores = scores[keep]
        classes = out[:, 5][keep]
        boxes = out[:, :4][keep]  # a copy (float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]] * x_factor
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * y_factor
        boxes[:, 2] = boxes[:, 2] - boxes[:, 0]
        boxes[:, 3] = boxes[:, 3] - boxes[:, 1]
        boxes = boxes.astype(np.int32)
    else:  # YOLOv8: [4 + classes, N] (transposed to rows) of [cx, cy, w, h, class scores...]
        if out.shape[0] < out.shape[1]:
            out = out.T
        class_scores = out[:, 4:]
        max_scores = np.amax(class_scores, -1)
        keep = max_scores >= threshold
        classes = np.argmax(class_scores[keep], -1)
        scores = max_scores[keep]
        xywh = out[:, :4][keep]
        x, y, w, h = xywh[:, 0:1], xywh[:, 1:2], xywh[:, 2:3], xywh[:, 3:4]
        boxes = np.concatenate(
            [(x - w / 2) * x_factor, (y - h / 2) * y_factor, w * x_factor, h * y_factor], axis=-1
        ).astype(np.int32)
    box_list = boxes.tolist()
    score_list = scores.tolist()
    class_list = classes.tolist()
    indices = cv2.dnn.NMSBoxes(box_list, score_list, threshold, iou)
    rows = []
    for i in np.asarray(indices, dtype=np.int64).reshape(-1):
        bx, by, bw, bh = box_list[i]
        rows.append([bx, by, bx + bw, by + bh, score_list[i], class_list[i]])
    if not rows:
        return np.zeros((0, 6), np.float64)
    return np.array(rows, dtype=np.float64)


def full_frame_box(height: int, width: int) -> np.ndarray:
    """The reference's "no person" box: the whole frame with score -1."""
    return np.array([0.0, 0.0, 1.0 * width, 1.0 * height, -1.0])


def select_persons(results: np.ndarray, height: int, width: int, threshold: float, max_persons: int = 1) -> np.ndarray:
    """Choose persons like the reference ``process_results`` (select_type 'max', strict) -> (P, 5) boxes.

    The first row is the main person: the largest area among person boxes whose longest side is at least
    0.4 x the longest so far. With ``max_persons > 1`` other persons whose area is between 0.1 and 1 x the
    main one follow in detection order. No person gives the full-frame box with score -1.
    """
    if len(results) == 0:
        return full_frame_box(height, width)[None]
    person = [
        i for i in range(results.shape[0]) if (results[i, -1] + 1 in (PERSON_CLASS + 1,)) and results[i, -2] > threshold
    ]
    max_bbox_shape = -1
    for i in person:
        b = results[i]
        max_bbox_shape = max(max_bbox_shape, max(b[2] - b[0], b[3] - b[1]))
    results = results[person]
    max_idx = -1
    max_bbox_size = height * width * -10
    for i in range(results.shape[0]):
        b = results[i]
        size = (b[2] - b[0]) * (b[3] - b[1])
        shape = max(b[2] - b[0], b[3] - b[1])
        if size > max_bbox_size:
            if shape < max_bbox_shape * SHAPE_RATIO:
                continue
            max_bbox_size = size
            max_bbox_shape = shape
            max_idx = i
    if max_idx == -1:
        return full_frame_box(height, width)[None]
    chosen = [results[max_idx, :5]]
    for i in range(results.shape[0]):
        if len(chosen) >= max_persons:
            break
        b = results[i]
        size = (b[2] - b[0]) * (b[3] - b[1])
        if i != max_idx and max_bbox_size * MULTI_PERSON_RATIO < size < max_bbox_size:
            chosen.append(results[i, :5])
    return np.stack(chosen).astype(np.float64)
