"""What a frame's planes hold and how they map to RGB: plain data, no torch.

The filters build these specs when a graph is built (cheap, and without loading torch); ``models.colour_convert``
applies them on the inference device.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["MATRIX_COEFFICIENTS", "ChromaUpsampling", "PlaneSpec"]

# (Kr, Kb) by VapourSynth/ITU-T H.273 matrix id.
MATRIX_COEFFICIENTS: dict[int, tuple[float, float]] = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG
    6: (0.299, 0.114),  # SMPTE 170M (BT.601)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}


@dataclass(frozen=True)
class PlaneSpec:
    """The planes a frame of a format holds, and how their values map to and from RGB in [0, 1]."""

    family: Literal["rgb", "yuv", "gray"]
    bits: int
    is_float: bool
    full_range: bool
    subsampling_w: int = 0
    subsampling_h: int = 0
    matrix: int = 0  # a key of MATRIX_COEFFICIENTS for yuv/gray


@dataclass(frozen=True, eq=False)
class ChromaUpsampling:
    """Subsampled chroma → full size, given as two resampling matrices: ``full = vertical @ chroma @ horizontal``.

    ``vertical`` is (H, H >> sh) and ``horizontal`` (W >> sw, W); None where that axis isn't subsampled. They are
    applied as a few taps per output sample (gathers and multiply-adds: exact float32 whatever the global TF32
    settings, which a matrix product would follow).
    """

    vertical: np.ndarray | None
    horizontal: np.ndarray | None
    # the taps on each device, filled by ``color.upsample_chroma`` (which holds ``device_lock`` while it does)
    on_device: dict[Any, Any] = field(default_factory=dict, repr=False)
    device_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
