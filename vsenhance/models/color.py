"""Colour conversion on the inference device, both ways: the source's planes → RGB, RGB → the output's planes.

Converting after the upload and before the download moves 1.5–6 bytes per pixel over PCIe and through the
CPU instead of 12 (RGB float), which is what keeps the GPU busy at 4K/8K. Pure PyTorch; the filter decides
when it applies and supplies the chroma upsampling weights (from VapourSynth's own resizer).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MATRIX_COEFFICIENTS", "ChromaUpsampling", "PlaneSpec", "planes_to_rgb", "rgb_to_planes"]

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
    """The planes a frame of the output format holds, and how to quantise them."""

    family: str  # "rgb", "yuv" or "gray"
    bits: int
    is_float: bool
    full_range: bool
    subsampling_w: int = 0
    subsampling_h: int = 0
    matrix: int = 0  # a key of MATRIX_COEFFICIENTS for yuv/gray

    def torch_dtype(self) -> torch.dtype:
        if self.is_float:
            return torch.float16 if self.bits == 16 else torch.float32
        return torch.uint8 if self.bits == 8 else torch.uint16


@dataclass(frozen=True, eq=False)
class ChromaUpsampling:
    """Subsampled chroma → full size as two resampling matrices: ``full = vertical @ chroma @ horizontal``.

    ``vertical`` is (H, H >> sh) and ``horizontal`` (W >> sw, W); None where that axis isn't subsampled.
    """

    vertical: np.ndarray | None
    horizontal: np.ndarray | None
    _on_device: dict[torch.device, tuple[torch.Tensor | None, ...]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, chroma: torch.Tensor) -> torch.Tensor:
        """(2, h, w) float32 chroma → (2, H, W), on chroma's device (matrices uploaded once per device)."""
        with self._lock:
            mats = self._on_device.get(chroma.device)
            if mats is None:
                mats = tuple(None if m is None else torch.from_numpy(m).to(chroma.device)
                             for m in (self.vertical, self.horizontal))  # fmt: skip
                if chroma.device.type == "cuda":  # other workers' streams read them: finish the upload first
                    torch.cuda.current_stream(chroma.device).synchronize()
                self._on_device[chroma.device] = mats
        vertical, horizontal = mats
        if vertical is not None:
            chroma = vertical @ chroma
        if horizontal is not None:
            chroma = chroma @ horizontal
        return chroma


def planes_to_rgb(planes: list[torch.Tensor], spec: PlaneSpec, chroma: ChromaUpsampling | None) -> torch.Tensor:
    """The planes of a frame in ``spec`` → (3, H, W) float32 RGB in [0, 1] (not clipped, as zimg)."""
    if spec.family == "rgb":
        return torch.stack([_dequantise(p, spec, luma=True) for p in planes])
    y = _dequantise(planes[0], spec, luma=True)
    if spec.family == "gray":
        return y.expand(3, -1, -1)
    c = torch.stack([_dequantise(p, spec, luma=False) for p in planes[1:]])
    cb, cr = chroma.apply(c) if chroma is not None else c
    kr, kb = MATRIX_COEFFICIENTS[spec.matrix]
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return torch.stack((r, g, b))


def _dequantise(p: torch.Tensor, spec: PlaneSpec, *, luma: bool) -> torch.Tensor:
    if p.dtype == torch.uint16:  # few CUDA kernels take uint16: widen through its int16 bit pattern
        p = p.view(torch.int16).to(torch.int32) & 0xFFFF
    p = p.float()
    if spec.is_float:
        return p
    if spec.full_range:
        return p / ((1 << spec.bits) - 1) if luma else (p - (1 << (spec.bits - 1))) / ((1 << spec.bits) - 1)
    shift = 1 << (spec.bits - 8)
    return (p - 16 * shift) / (219 * shift) if luma else (p - 128 * shift) / (224 * shift)


def rgb_to_planes(rgb: torch.Tensor, spec: PlaneSpec) -> list[torch.Tensor]:
    """(3, H, W) RGB in [0, 1] → the output format's planes, quantised with rounding (left chroma siting)."""
    rgb = rgb.float()
    if spec.family == "rgb":
        return [_quantise(c, spec, luma=True) for c in rgb]
    kr, kb = MATRIX_COEFFICIENTS[spec.matrix]
    r, g, b = rgb
    y = kr * r + (1 - kr - kb) * g + kb * b
    if spec.family == "gray":
        return [_quantise(y, spec, luma=True)]
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    chroma = _subsample(torch.stack((cb, cr)), spec.subsampling_w, spec.subsampling_h)
    return [_quantise(y, spec, luma=True), *(_quantise(c, spec, luma=False) for c in chroma)]


def _subsample(c: torch.Tensor, sw: int, sh: int) -> torch.Tensor:
    """MPEG-2 ("left") siting: horizontally co-sited [1, 2, 1]/4 per factor, vertically centred box averages."""
    x = c.unsqueeze(1)  # (2, 1, H, W)
    for _ in range(sw):
        x = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), x.new_tensor([[[[0.25, 0.5, 0.25]]]]), stride=(1, 2))
    if sh:
        x = F.avg_pool2d(x, kernel_size=(1 << sh, 1), stride=(1 << sh, 1))
    return x.squeeze(1)


def _quantise(p: torch.Tensor, spec: PlaneSpec, *, luma: bool) -> torch.Tensor:
    if spec.is_float:
        return p.to(spec.torch_dtype())
    peak = (1 << spec.bits) - 1
    if spec.full_range:
        v = p * peak + (0 if luma else 1 << (spec.bits - 1))
    else:
        shift = 1 << (spec.bits - 8)
        v = (p * 219 + 16) * shift if luma else (p * 224 + 128) * shift
    v = v.round_().clamp_(0, peak)
    return v.to(spec.torch_dtype())
