"""Fixtures for the encoder tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .encode_helpers import write_script


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "clip.vpy")
