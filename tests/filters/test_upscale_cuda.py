"""CUDA paths (streams, pinned buffers, on-device conversion); skipped on machines without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsenhance as vse

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
core = vs.core


@pytest.fixture(autouse=True)
def strict_fp32(monkeypatch):
    """fp32 means fp32 here: no TF32 convolutions or matmuls (PyTorch allows them by default on Ampere+)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


def source(length: int = 12) -> vs.VideoNode:
    blank = core.std.BlankClip(format=vs.RGBS, width=96, height=64, length=length)
    clip = core.std.FrameEval(
        blank, lambda n: blank.std.BlankClip(color=[n / 20, 0.4, 0.7 - n / 40], length=1), clip_src=blank
    )
    return core.resize.Bicubic(
        clip.std.AddBorders(left=8, color=[0.9, 0.1, 0.1]).resize.Bicubic(96, 64), format=vs.YUV420P10, matrix_s="709"
    )


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.asarray(frame[p]).astype(np.float64) for p in range(frame.format.num_planes)]


@pytest.mark.parametrize("output_format", [None, "same"])
def test_cuda_fp32_matches_cpu(tiny_model_path, output_format) -> None:
    clip = source()
    cpu = vse.upscale(clip, tiny_model_path, device="cpu", precision="fp32", tile=32, output_format=output_format)
    gpu = vse.upscale(
        clip, tiny_model_path, device="cuda", precision="fp32", tile=32, streams=4, output_format=output_format
    )
    assert (gpu.format.id, gpu.width, gpu.height) == (cpu.format.id, cpu.width, cpu.height)
    # "same" is converted on the GPU (rounding, [1, 2, 1] chroma filter) and by zimg on the CPU (error
    # diffusion, Spline36): luma within a code, chroma close on average.
    for n, (a, b) in enumerate(zip(cpu.frames(), gpu.frames(prefetch=6), strict=True)):
        pa, pb = planes(a), planes(b)
        if output_format is None:
            diff = max(np.abs(x - y).max() for x, y in zip(pa, pb, strict=True))
            assert diff <= 1e-4, (n, diff)
            continue
        assert np.abs(pa[0] - pb[0]).max() <= 1, n
        assert max(np.abs(x - y).mean() for x, y in zip(pa[1:], pb[1:], strict=True)) / 1023 < 0.01, n


def test_fp16_is_close_to_fp32(tiny_model_path) -> None:
    clip = source(2)
    a = vse.upscale(clip, tiny_model_path, device="cuda", precision="fp32").get_frame(1)
    b = vse.upscale(clip, tiny_model_path, device="cuda", precision="fp16").get_frame(1)
    assert max(np.abs(x - y).max() for x, y in zip(planes(a), planes(b), strict=True)) < 0.02


def test_compiled_matches_eager(tiny_model_path) -> None:
    clip = source(3)
    kwargs = {"device": "cuda", "precision": "fp32", "tile": 0, "streams": 2}
    eager = vse.upscale(clip, tiny_model_path, **kwargs)
    compiled = vse.upscale(clip, tiny_model_path, compile=True, **kwargs)
    for a, b in zip(eager.frames(), compiled.frames(prefetch=3), strict=True):
        diff = max(np.abs(x - y).max() for x, y in zip(planes(a), planes(b), strict=True))
        assert diff < 1e-4, diff
