"""compile=True saves its compilation beside the model cache; a fresh process loads it instead of compiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = """
import json, sys, time
import torch
from torch._dynamo.utils import counters
from tests.tiny_models import make_compact
from vsenhance.models.sr import SRRuntime, TileSettings

runtime = SRRuntime(make_compact(), device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(tile=0),
                    compile=True)
img = torch.rand(1, 3, 24, 32)
start = time.perf_counter()
with torch.inference_mode():
    out = runtime.upscale_tensor(img)
print(json.dumps({"hits": counters["inductor"]["fxgraph_cache_hit"], "misses": counters["inductor"]["fxgraph_cache_miss"],
                  "seconds": time.perf_counter() - start, "sum": float(out.sum())}))
"""


def _fresh_process(tmp_path, name: str) -> dict:
    env = dict(os.environ)
    env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / f"inductor-{name}")  # no help from /tmp's inductor cache
    env["VSENHANCE_MODEL_DIR"] = str(tmp_path / "models")
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_fresh_process_starts_from_the_saved_compilation(tmp_path) -> None:
    cold = _fresh_process(tmp_path, "cold")
    saved = list((tmp_path / "models" / "compiled").glob("*.bin"))
    assert len(saved) == 1 and saved[0].stat().st_size > 0  # one input shape, one file
    assert cold["misses"] >= 1 and cold["hits"] == 0
    warm = _fresh_process(tmp_path, "warm")
    assert warm["hits"] >= 1 and warm["misses"] == 0  # inductor's work came from the saved artifacts
    assert warm["sum"] == pytest.approx(cold["sum"], rel=1e-6)


def _cache(tmp_path, monkeypatch, folder):
    import torch

    from tests.tiny_models import make_compact
    from vsenhance.models.compile_cache import CompileCache

    monkeypatch.setenv("VSENHANCE_MODEL_DIR", str(folder))
    return CompileCache(make_compact().model, torch.device("cpu"), torch.float32)


def test_a_damaged_cache_file_costs_a_cold_compile_and_says_so(tmp_path, monkeypatch, caplog) -> None:
    cache = _cache(tmp_path, monkeypatch, tmp_path / "models")
    path = cache.path((1, 3, 24, 32))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0" * 32 + b"half an artifact")  # a write cut short, or another version's file
    with caplog.at_level("WARNING"):
        assert cache.load((1, 3, 24, 32)) is False
    assert any("is damaged" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_a_cache_folder_that_is_a_file_costs_a_cold_compile(tmp_path, monkeypatch, caplog) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "compiled").write_text("not a folder")
    cache = _cache(tmp_path, monkeypatch, models)
    with caplog.at_level("WARNING"):
        assert cache.load((1, 3, 24, 32)) is False  # a warning, never a failed frame
    assert any("cannot read the compile cache" in r.getMessage() for r in caplog.records)
