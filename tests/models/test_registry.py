from __future__ import annotations

import re

import pytest

from vsenhance.errors import ModelError
from vsenhance.models.registry import MODELS, get_model_info

REQUIRED = {
    "realesr-animevideov3": ("SRVGGNetCompact", 4, "REALESRGAN_ANIMAVIDEOV3_UP4X"),
    "realesr-animevideov3-x2": ("SRVGGNetCompact", 2, "REALESRGAN_ANIMAVIDEOV3_UP2X"),
    "realesr-animevideov3-x3": ("SRVGGNetCompact", 3, "REALESRGAN_ANIMAVIDEOV3_UP3X"),
    "RealESRGAN_x4plus": ("RRDBNet", 4, "REALESRGAN_X4PLUS_UP4X"),
    "RealESRGAN_x4plus_anime_6B": ("RRDBNet", 4, "REALESRGAN_X4PLUSANIME_UP4X"),
    "RealESRGAN_x2plus": ("RRDBNet", 2, None),
    "realesr-general-x4v3": ("SRVGGNetCompact", 4, None),
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_models(name: str) -> None:
    info = MODELS[name]
    assert info.name == name
    assert (info.arch, info.scale, info.ncnn_stem) == REQUIRED[name]
    if info.url is not None:
        assert info.url.startswith("https://github.com/xinntao/Real-ESRGAN/releases/download/")
        assert info.url.endswith("/" + info.filename)
    else:
        assert info.ncnn_stem is not None  # every model can be obtained somehow
    if info.sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", info.sha256)
        assert info.url is not None


def test_checksums_are_distinct() -> None:
    sums = [m.sha256 for m in MODELS.values() if m.sha256]
    assert len(sums) == len(set(sums))


def test_lookup_case_insensitive() -> None:
    assert get_model_info("realesrgan_X4PLUS", func="t") is MODELS["RealESRGAN_x4plus"]


def test_unknown_name_lists_known() -> None:
    with pytest.raises(ModelError) as ei:
        get_model_info("RealESRGAN_x8", func="upscale")
    msg = str(ei.value)
    assert msg.startswith("upscale: ")
    assert "RealESRGAN_x8" in msg and "realesr-animevideov3" in msg and "Fix:" in msg


def test_model_info_is_frozen() -> None:
    with pytest.raises(AttributeError):
        MODELS["RealESRGAN_x4plus"].scale = 2  # type: ignore[misc]
