"""Shared fixtures: a tiny deterministic super-resolution model and a small real image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_models import make_compact

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _isolated_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or write the user's model cache."""
    os.environ["VSENHANCE_MODEL_DIR"] = str(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny x2 Compact model saved as .safetensors."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("models") / "tiny_x2.safetensors"
    save_file({k: v.contiguous() for k, v in make_compact().model.state_dict().items()}, path)
    return path


@pytest.fixture(scope="session")
def nearest_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An x2 Compact model with zero weights: its output is exactly the nearest-neighbour upscale."""
    import torch
    from safetensors.torch import save_file

    sd = {k: torch.zeros_like(v).contiguous() for k, v in make_compact().model.state_dict().items()}
    path = tmp_path_factory.mktemp("models") / "nearest_x2.safetensors"
    save_file(sd, path)
    return path


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photograph (scikit-image's astronaut), 64x48 RGB float32 in [0, 1], HWC."""
    import cv2
    from skimage import data

    img = data.astronaut()[40:280, 120:440]  # 240x320 crop around the face
    return cv2.resize(img, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
