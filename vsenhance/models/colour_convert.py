"""Colour conversion on the inference device, both ways: the source's planes → RGB, RGB → the output's planes.

Converting after the upload and before the download moves 1.5–6 bytes per pixel over PCIe and through the
CPU instead of 12 (RGB float), which is what keeps the GPU busy at 4K/8K. Pure PyTorch; the filter decides
when it applies and supplies the specs (``colour_spec``, torch-free) and the chroma upsampling weights (from
VapourSynth's own resizer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .colour_spec import MATRIX_COEFFICIENTS, ChromaUpsampling, PlaneSpec

__all__ = ["planes_to_rgb", "rgb_to_planes", "torch_dtype", "upsample_chroma"]


def torch_dtype(spec: PlaneSpec) -> torch.dtype:
    if spec.is_float:
        return torch.float16 if spec.bits == 16 else torch.float32
    return torch.uint8 if spec.bits == 8 else torch.uint16


def upsample_chroma(ups: ChromaUpsampling, chroma: torch.Tensor) -> torch.Tensor:
    """(2, h, w) float32 chroma → (2, H, W), on chroma's device (taps uploaded once per device)."""
    with ups.device_lock:
        taps = ups.on_device.get(chroma.device)
        if taps is None:
            taps = (_Taps.of(ups.vertical, chroma.device, dim=-2),
                    _Taps.of(None if ups.horizontal is None else ups.horizontal.T, chroma.device, dim=-1))  # fmt: skip
            if chroma.device.type == "cuda":  # other workers' streams read them: finish the upload first
                torch.cuda.current_stream(chroma.device).synchronize()
            ups.on_device[chroma.device] = taps
    for axis in taps:
        if axis is not None:
            chroma = axis.apply(chroma)
    return chroma


@dataclass(frozen=True)
class _Taps:
    """A resampling matrix (out, in) as its nonzero weights: out[i] = sum_k weight[k, i] * in[index[k, i]]."""

    index: tuple[torch.Tensor, ...]  # per tap: (out,) input positions
    weight: tuple[torch.Tensor, ...]  # per tap: weights, shaped to broadcast along ``dim``
    dim: int

    @classmethod
    def of(cls, matrix: np.ndarray | None, device: torch.device, dim: int) -> _Taps | None:
        if matrix is None:
            return None
        rows = [np.flatnonzero(row) for row in matrix]
        k = max(len(r) for r in rows)
        index = np.zeros((k, len(rows)), np.int64)
        weight = np.zeros((k, len(rows)), np.float32)
        for i, r in enumerate(rows):
            index[: len(r), i] = r
            weight[: len(r), i] = matrix[i, r]
        shape = (-1, 1) if dim == -2 else (-1,)
        return cls(tuple(torch.from_numpy(x).to(device) for x in index),
                   tuple(torch.from_numpy(w).reshape(shape).to(device) for w in weight), dim)  # fmt: skip

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        out = x.index_select(self.dim, self.index[0]).mul_(self.weight[0])
        for index, weight in zip(self.index[1:], self.weight[1:], strict=True):
            out.addcmul_(x.index_select(self.dim, index), weight)
        return out


def planes_to_rgb(planes: list[torch.Tensor], spec: PlaneSpec, chroma: ChromaUpsampling | None) -> torch.Tensor:
    """The planes of a frame in ``spec`` → (3, H, W) float32 RGB in [0, 1] (not clipped, as zimg)."""
    if spec.family == "rgb":
        return torch.stack([_dequantise(p, spec, luma=True) for p in planes])
    y = _dequantise(planes[0], spec, luma=True)
    if spec.family == "gray":
        return y.expand(3, -1, -1)
    c = torch.stack([_dequantise(p, spec, luma=False) for p in planes[1:]])
    cb, cr = upsample_chroma(chroma, c) if chroma is not None else c
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
    """(3, H, W) RGB in [0, 1] → the output format's planes, quantised with rounding (left chroma siting).

    Few passes over the frame, as they are what this costs at 4K/8K: scaling to code values is folded into the
    matrix, and subsampled chroma is computed from subsampled RGB (both linear), so only luma is computed at
    full size. Elementwise float32 throughout, like the rest of the conversions.
    """
    rgb = rgb.to(torch.float32, memory_format=torch.contiguous_format)  # one pass; planes contiguous
    if spec.family == "rgb":
        scale, _ = _code_scale(spec, luma=True)  # RGB output is full range
        return [_round(p.mul_(scale), spec) for p in rgb] if scale != 1 else [_round(p, spec) for p in rgb]
    kr, kb = MATRIX_COEFFICIENTS[spec.matrix]
    y = _affine(rgb, (kr, 1 - kr - kb, kb), *_code_scale(spec, luma=True))
    if spec.family == "gray":
        return [_round(y, spec)]
    small = _subsample(rgb, spec.subsampling_w, spec.subsampling_h) if spec.subsampling_w or spec.subsampling_h else rgb
    scale, offset = _code_scale(spec, luma=False)
    kg = 1 - kr - kb
    cb = _affine(small, (-kr / (2 - 2 * kb), -kg / (2 - 2 * kb), 0.5), scale, offset)  # (b - y) / (2 (1 - kb))
    cr = _affine(small, (0.5, -kg / (2 - 2 * kr), -kb / (2 - 2 * kr)), scale, offset)  # (r - y) / (2 (1 - kr))
    return [_round(y, spec), _round(cb, spec), _round(cr, spec)]


def _affine(rgb: torch.Tensor, coefficients: tuple[float, float, float], scale: float, offset: float) -> torch.Tensor:
    """scale * (c0 r + c1 g + c2 b) + offset, as one new plane."""
    (c0, c1, c2), (r, g, b) = coefficients, rgb
    out = torch.mul(r, c0 * scale).add_(g, alpha=c1 * scale).add_(b, alpha=c2 * scale)
    return out.add_(offset) if offset else out


def _code_scale(spec: PlaneSpec, *, luma: bool) -> tuple[float, float]:
    """(scale, offset) from [0, 1] luma / [-0.5, 0.5] chroma to code values (identity for float formats)."""
    if spec.is_float:
        return 1.0, 0.0
    if spec.full_range:
        return float((1 << spec.bits) - 1), 0.0 if luma else float(1 << (spec.bits - 1))
    shift = 1 << (spec.bits - 8)
    return (219.0 * shift, 16.0 * shift) if luma else (224.0 * shift, 128.0 * shift)


def _subsample(x: torch.Tensor, sw: int, sh: int) -> torch.Tensor:
    """(C, H, W) → (C, H >> sh, W >> sw) with MPEG-2 ("left") siting: horizontally co-sited [1, 2, 1]/4 per
    factor (the left edge repeated), vertically centred box averages. Slices and multiply-adds, not a
    convolution (cuDNN would round its inputs to TF32 by PyTorch's default)."""
    for _ in range(sw):
        even, odd = x[..., 0::2], x[..., 1::2]
        out = torch.mul(even, 0.5).add_(odd, alpha=0.25)  # the sample itself and its right neighbour
        out[..., 1:].add_(odd[..., :-1], alpha=0.25)  # the left neighbour ...
        out[..., :1].add_(even[..., :1], alpha=0.25)  # ... which at the edge is the sample itself
        x = out
    if sh:
        x = F.avg_pool2d(x.unsqueeze(1), kernel_size=(1 << sh, 1), stride=(1 << sh, 1)).squeeze(1)
    return x


def _round(p: torch.Tensor, spec: PlaneSpec) -> torch.Tensor:
    if spec.is_float:
        return p.to(torch_dtype(spec))
    return p.round_().clamp_(0, (1 << spec.bits) - 1).to(torch_dtype(spec))
