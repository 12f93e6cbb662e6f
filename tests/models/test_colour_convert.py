"""RGB → YUV/GRAY/RGB planes on the inference device, against VapourSynth's own resize."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsenhance.models.colour_convert import planes_to_rgb, rgb_to_planes
from vsenhance.models.colour_spec import ChromaUpsampling, PlaneSpec

core = vs.core


def vs_convert(rgb: np.ndarray, fmt: int, **kwargs) -> list[np.ndarray]:
    h, w, _ = rgb.shape
    blank = core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=1)

    def fill(n, f):
        out = f.copy()
        for c in range(3):
            np.asarray(out[c])[...] = rgb[..., c]
        return out

    clip = blank.std.ModifyFrame(blank, fill)
    frame = core.resize.Point(clip, format=fmt, dither_type="none", **kwargs).get_frame(0)
    return [np.asarray(frame[p]).copy() for p in range(frame.format.num_planes)]


@pytest.mark.parametrize(
    ("fmt", "spec", "kwargs"),
    [
        (vs.YUV444P10, PlaneSpec("yuv", 10, False, False, 0, 0, 1), {"matrix": 1, "range": 0}),
        (vs.YUV444P8, PlaneSpec("yuv", 8, False, True, 0, 0, 6), {"matrix": 6, "range": 1}),
        (vs.YUV444P16, PlaneSpec("yuv", 16, False, False, 0, 0, 9), {"matrix": 9, "range": 0}),
        (vs.GRAY16, PlaneSpec("gray", 16, False, True, 0, 0, 1), {"matrix": 1, "range": 1}),
        (vs.RGB24, PlaneSpec("rgb", 8, False, True), {}),
        (vs.YUV444PS, PlaneSpec("yuv", 32, True, True, 0, 0, 1), {"matrix": 1}),
    ],
)
def test_matrix_range_and_depth_match_vapoursynth(photo, fmt, spec, kwargs) -> None:
    ours = [p.numpy() for p in rgb_to_planes(torch.from_numpy(photo.transpose(2, 0, 1).copy()), spec)]
    theirs = vs_convert(photo, fmt, **kwargs)
    assert [p.shape for p in ours] == [p.shape for p in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype
        tol = 1e-5 if spec.is_float else 1  # rounding of exact halves may differ by one code
        assert np.abs(a.astype(np.float64) - b.astype(np.float64)).max() <= tol


@pytest.mark.parametrize(("fmt", "sw", "sh"), [(vs.YUV420P10, 1, 1), (vs.YUV422P8, 1, 0), (vs.YUV411P8, 2, 0)])
def test_chroma_subsampling_is_close_to_vapoursynth(photo, fmt, sw, sh) -> None:
    smooth = cv2.resize(photo, (128, 96), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    spec = PlaneSpec("yuv", core.get_video_format(fmt).bits_per_sample, False, False, sw, sh, 1)
    ours = [
        p.numpy().astype(np.float64) for p in rgb_to_planes(torch.from_numpy(smooth.transpose(2, 0, 1).copy()), spec)
    ]
    theirs = [p.astype(np.float64) for p in vs_convert(smooth, fmt, matrix=1, range=0)]
    assert ours[0].shape == theirs[0].shape and ours[1].shape == theirs[1].shape
    assert np.abs(ours[0] - theirs[0]).max() <= 1
    peak = (1 << spec.bits) - 1
    for a, b in zip(ours[1:], theirs[1:], strict=True):  # different (but both left-sited) downsampling filters
        assert np.abs(a - b).mean() / peak < 0.004


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_conversions_are_exact_even_with_tf32_enabled(photo, monkeypatch) -> None:
    """No matrix product or convolution inside: global TF32 switches cannot round the colour maths."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    rgb = torch.from_numpy(photo.transpose(2, 0, 1).copy())
    spec = PlaneSpec("yuv", 16, False, False, 1, 1, 1)
    cpu = rgb_to_planes(rgb, spec)
    gpu = rgb_to_planes(rgb.cuda(), spec)
    for a, b in zip(cpu, gpu, strict=True):
        assert (a.double() - b.cpu().double()).abs().max() <= 1  # a rounding tie at most
    ups = ChromaUpsampling(_half_pel(48), _half_pel(64).T.copy())
    spec444 = PlaneSpec("yuv", 16, False, False, 0, 0, 1)
    planes = rgb_to_planes(rgb, spec444)
    small = [planes[0], *(p[::2, ::2].contiguous() for p in planes[1:])]
    expected = planes_to_rgb(small, spec, ups)
    got = planes_to_rgb([p.cuda() for p in small], spec, ups).cpu()
    assert (expected - got).abs().max() < 1e-5


def _half_pel(n: int) -> np.ndarray:
    """(n, n // 2): linear interpolation of a half-size signal (a stand-in for VapourSynth's weights)."""
    m = np.zeros((n, n // 2), np.float32)
    for i in range(n):
        x = min(max((i - 0.5) / 2, 0), n // 2 - 1)
        lo = int(x)
        hi = min(lo + 1, n // 2 - 1)
        m[i, lo] += 1 - (x - lo)
        m[i, hi] += x - lo
    return m
