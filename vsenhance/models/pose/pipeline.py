"""Batched detect -> select -> crop -> pose over a group of frames (pure numpy + ONNX Runtime)."""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from . import detector as det
from . import keypoints as kp
from .session import OnnxModel

__all__ = ["PosePipeline", "PoseResult"]

log = logging.getLogger(__name__)

DET_OUTPUT = "[N, 300, 6] (YOLOv10 rows x1, y1, x2, y2, score, cls) or [N, 4 + classes, anchors] (YOLOv8)"
POSE_OUTPUT = f"[N, {kp.NUM_KEYPOINTS}, {kp.HEATMAP_SIZE[0]}, {kp.HEATMAP_SIZE[1]}] heatmaps"


@dataclass(frozen=True)
class PoseResult:
    """One frame: ``boxes`` (P, 5) ``[x1, y1, x2, y2, score]`` (score -1: no person, the full frame was used),
    ``keypoints`` (P, 133, 3) ``[x, y, score]`` in source pixels, ``detected`` persons found by the detector."""

    boxes: np.ndarray
    keypoints: np.ndarray
    detected: int


class PosePipeline:
    """Two ONNX sessions created once; ``__call__`` runs one batch: the detector over the frames, the pose
    model over all crops of those frames."""

    def __init__(
        self,
        detector: str | os.PathLike,
        pose_model: str | os.PathLike,
        *,
        providers: str | Sequence[str] | None = "auto",
        det_threshold: float = 0.05,
        nms_iou: float = 0.5,
        max_persons: int = 1,
        threads: int | None = None,
        func: str = "pose",
    ) -> None:
        self.func = func
        self.det_threshold = float(det_threshold)
        self.nms_iou = float(nms_iou)
        self.max_persons = int(max_persons)
        self.detector = OnnxModel(
            detector,
            role="detector",
            input_shape=(3, det.INPUT_SIZE, det.INPUT_SIZE),
            output_desc=DET_OUTPUT,
            providers=providers,
            func=func,
            threads=threads,
        )
        self.pose = OnnxModel(
            pose_model,
            role="pose",
            input_shape=(3, *kp.INPUT_HW),
            output_desc=POSE_OUTPUT,
            providers=providers,
            func=func,
            threads=threads,
        )
        # detector input buffers, shared by the worker threads (taken for a batch, then put back): one buffer per
        # thread would be page-faulted in by each thread (59 MB at batch 12)
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        ds, ps = self.detector.output_shape, self.pose.output_shape
        if len(ds) != 3 or (isinstance(ds[-1], int) and ds[-1] != 6 and isinstance(ds[1], int) and ds[1] < 5):
            raise ModelError(
                func, f"detector model {self.detector.path.name} output shape is {ds}.", f"Expected {DET_OUTPUT}."
            )
        if len(ps) != 4 or (isinstance(ps[1], int) and ps[1] != kp.NUM_KEYPOINTS):
            raise ModelError(
                func, f"pose model {self.pose.path.name} output shape is {ps}.", f"Expected {POSE_OUTPUT}."
            )

    @property
    def providers(self) -> list[str]:
        return self.detector.providers

    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        """Selected boxes (P, 5) and the number of detected persons for each frame."""
        if not frames:
            return []
        try:
            buffer = self._free.get_nowait()
        except queue.Empty:
            buffer = None
        batch = det.preprocess(frames, buffer)
        try:
            raw = self.detector.run(batch)
        finally:
            self._free.put(batch)
        if raw.ndim != 3 or raw.shape[0] != len(frames):
            raise ModelError(
                self.func,
                f"detector model {self.detector.path.name} returned shape {raw.shape} for {len(frames)} images.",
                f"Expected {DET_OUTPUT}.",
            )
        out = []
        for frame, rows in zip(frames, raw, strict=True):
            h, w = frame.shape[:2]
            found = det.decode(rows, h, w, self.det_threshold, self.nms_iou)
            boxes = det.select_persons(found, h, w, self.det_threshold, self.max_persons)
            persons = int(np.count_nonzero((found[:, 5] == det.PERSON_CLASS) & (found[:, 4] > self.det_threshold)))
            out.append((boxes, persons if boxes[0, 4] > 0 else 0))
        return out

    def estimate(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(P, 133, 3) keypoints for each frame's boxes; all crops of all frames go through one model call."""
        counts = [len(b) for b in boxes]
        total = sum(counts)
        if total == 0:
            return [np.zeros((0, kp.NUM_KEYPOINTS, 3), np.float32) for _ in frames]
        crops = np.empty((total, *kp.INPUT_HW, 3), np.float32)
        centers = np.empty((total, 2))
        scales = np.empty((total, 2))
        j = 0
        for frame, frame_boxes in zip(frames, boxes, strict=True):
            h, w = frame.shape[:2]
            for box in frame_boxes:
                centers[j], scales[j] = kp.center_scale(kp.usable_box(box, h, w))
                kp.crop(frame, centers[j], scales[j], out=crops[j])
                j += 1
        heatmaps = self.pose.run(kp.normalise(crops))
        if heatmaps.ndim != 4 or heatmaps.shape[:2] != (total, kp.NUM_KEYPOINTS):
            raise ModelError(
                self.func,
                f"pose model {self.pose.path.name} returned shape {heatmaps.shape} for {total} crops.",
                f"Expected {POSE_OUTPUT}.",
            )
        points = kp.decode_heatmaps(heatmaps, centers, scales)
        return np.split(points, np.cumsum(counts)[:-1])

    def __call__(self, frames: Sequence[np.ndarray], det_interval: int = 1) -> list[PoseResult]:
        """Results for consecutive frames; with ``det_interval`` k the detector runs on frames 0, k, 2k, ...
        of ``frames`` and the frames between reuse those boxes."""
        keys = list(range(0, len(frames), max(1, det_interval)))
        found = self.detect([frames[i] for i in keys])
        per_frame = [found[i // max(1, det_interval)] for i in range(len(frames))]
        boxes = [b for b, _ in per_frame]
        points = self.estimate(frames, boxes)
        return [PoseResult(np.asarray(b, np.float64), p, d) for (b, d), p in zip(per_frame, points, strict=True)]
