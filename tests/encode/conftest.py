"""Fixtures for the encoder tests, and real two-node Ray clusters on loopback (one open, one with token
authentication, Ray's default), started once per test session when a test asks for one, each with its own HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from .encode_helpers import write_script
from .farm.farm_helpers import RayCluster


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return write_script(tmp_path / "clip.vpy")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'vsenhance[cluster]')")
    cluster = RayCluster(tmp_path_factory.mktemp("ray"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ray_token_cluster(tmp_path_factory):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'vsenhance[cluster]')")
    cluster = RayCluster(tmp_path_factory.mktemp("ray-token"), token=True)
    yield cluster
    cluster.stop()
