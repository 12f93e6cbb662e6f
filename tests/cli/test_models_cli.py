from __future__ import annotations

from pathlib import Path

import pytest

from vsenhance.cli import main
from vsenhance.models import store


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("VSENHANCE_MODEL_DIR", str(d))
    return d


@pytest.fixture
def wheel_dir() -> Path:
    d = store.ncnn_wheel_dir()
    if d is None:
        pytest.skip(f"{store.NCNN_WHEEL} is not installed")
    return d


def test_list(model_dir: Path, wheel_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    assert "ncnn wheel" in lines["RealESRGAN_x4plus"] and "RRDBNet" in lines["RealESRGAN_x4plus"]
    assert "download only" in lines["realesr-general-x4v3"] and "x4" in lines["realesr-general-x4v3"]
    assert "x2" in lines["realesr-animevideov3-x2"]
    assert str(model_dir) in out


def test_path_converts_then_reports(model_dir: Path, wheel_dir: Path, capsys) -> None:
    assert main(["models", "path", "realesr-animevideov3"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(model_dir / "realesr-animevideov3.safetensors")
    assert Path(out).is_file()
    assert main(["models", "list"]) == 0
    assert "local" in next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("realesr-animevideov3 "))


def test_path_unavailable(model_dir: Path, capsys) -> None:
    assert main(["models", "path", "realesr-general-x4v3"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "vsenhance models download realesr-general-x4v3" in captured.err


def test_import_ncnn(tmp_path: Path, wheel_dir: Path, capsys) -> None:
    out = tmp_path / "anime.safetensors"
    param = wheel_dir / "REALESRGAN_ANIMAVIDEOV3_UP4X.param"
    assert main(["models", "import-ncnn", str(param), "-o", str(out)]) == 0
    assert out.is_file()
    assert str(out) in capsys.readouterr().out

    from vsenhance.models.loading import load_model

    assert load_model(out, func="test").scale == 4


def test_import_ncnn_missing(tmp_path: Path, capsys) -> None:
    assert main(["models", "import-ncnn", str(tmp_path / "none.param")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_download_bad_name(model_dir: Path, capsys) -> None:
    assert main(["models", "download", "nope"]) == 2
    assert "unknown model name" in capsys.readouterr().err
