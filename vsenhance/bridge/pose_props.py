"""Pose results <-> flat float-array frame props.

With ``prefix="Pose"`` a frame carries:

- ``PoseCount`` (int): P, the number of person entries (>= 1; see ``PoseDetected``).
- ``PoseDetected`` (int): persons the detector found; 0 means the entry is the full-frame fallback.
- ``PoseBoxes`` (float[P * 5]): ``x1, y1, x2, y2, score`` per person, source pixels; score -1 = full frame.
- ``PoseKeypoints`` (float[P * 133 * 3]): ``x, y, score`` per COCO-WholeBody keypoint, source pixels.
"""

from __future__ import annotations

import numpy as np
import vapoursynth as vs

from ..constants import NUM_KEYPOINTS

__all__ = ["NUM_KEYPOINTS", "has_pose", "prop_names", "read_pose", "write_pose"]


def prop_names(prefix: str) -> dict[str, str]:
    return {k: f"{prefix}{k}" for k in ("Count", "Detected", "Boxes", "Keypoints")}


def write_pose(props: vs.FrameProps, prefix: str, boxes: np.ndarray, keypoints: np.ndarray, detected: int) -> None:
    """Store (P, 5) boxes and (P, 133, 3) keypoints as flat float arrays (doubles) on a writable frame."""
    names = prop_names(prefix)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 5)
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    if len(boxes) != len(keypoints):
        raise ValueError(f"write_pose: {len(boxes)} boxes but {len(keypoints)} keypoint sets")
    props[names["Count"]] = len(boxes)
    props[names["Detected"]] = int(detected)
    props[names["Boxes"]] = boxes.ravel().tolist()
    props[names["Keypoints"]] = keypoints.ravel().tolist()


def has_pose(props: vs.FrameProps, prefix: str) -> bool:
    return prop_names(prefix)["Count"] in props


def read_pose(props: vs.FrameProps, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(P, 5) boxes and (P, 133, 3) keypoints from a frame's props (KeyError when they are absent)."""
    names = prop_names(prefix)
    count = int(props[names["Count"]])
    if count == 0:
        return np.zeros((0, 5)), np.zeros((0, NUM_KEYPOINTS, 3))
    boxes = np.asarray(props[names["Boxes"]], np.float64).reshape(count, 5)
    keypoints = np.asarray(props[names["Keypoints"]], np.float64).reshape(count, NUM_KEYPOINTS, 3)
    return boxes, keypoints
