"""VideoFrame <-> numpy plane views. The only place that reads or writes frame memory."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vapoursynth as vs

__all__ = ["read_planes", "read_rgb", "write_planes"]


def read_planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    """Zero-copy (H, W) views of each plane; valid while ``frame`` is alive."""
    return [np.asarray(frame[p]) for p in range(frame.format.num_planes)]


def read_rgb(frame: vs.VideoFrame) -> np.ndarray:
    """An RGB frame as a contiguous (H, W, 3) array (one copy)."""
    return np.stack(read_planes(frame), axis=-1)


def write_planes(frame: vs.VideoFrame, planes: Sequence[np.ndarray]) -> None:
    """Copy (H, W) arrays into a writable frame's planes, casting to the plane's dtype."""
    if len(planes) != frame.format.num_planes:
        raise ValueError(f"write_planes: {len(planes)} arrays for {frame.format.num_planes} planes")
    for p, src in enumerate(planes):
        np.copyto(np.asarray(frame[p]), src, casting="unsafe")
