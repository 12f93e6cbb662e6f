"""Fixtures for the model-store tests: an isolated cache dir, the ncnn wheel's files, a local HTTP server."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from vsenhance.models import store


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("VSENHANCE_MODEL_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def wheel_dir() -> Path:
    d = store.ncnn_wheel_dir()
    if d is None:
        pytest.skip(f"{store.NCNN_WHEEL} is not installed")
    return d


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def http_root(tmp_path: Path):
    """Serve ``tmp_path/www`` on 127.0.0.1; yields (root dir, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
