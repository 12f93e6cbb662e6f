"""Fixtures for the farm tests: a real two-node Ray cluster on loopback, started once per test session."""

from __future__ import annotations

import pytest

from .farm_helpers import RayCluster


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'vsenhance[cluster]')")
    cluster = RayCluster(tmp_path_factory.mktemp("ray"))
    yield cluster
    cluster.stop()
