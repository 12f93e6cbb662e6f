"""Known Real-ESRGAN models: architecture, scale, official download URL, SHA-256, ncnn wheel file.

Checksums are the SHA-256 of the official GitHub release files (xinntao/Real-ESRGAN); each one was found
identically in several independent public model lists and package recipes (Arch PKGBUILDs, Nix, app model
manifests that verify at download). Where no trustworthy checksum is known the field is ``None``: a download
then reports the hash it got, and the user may pass one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ModelError

__all__ = ["MODELS", "OR_A_PATH", "ModelInfo", "get_model_info", "is_known"]

_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"


@dataclass(frozen=True)
class ModelInfo:
    """One known model.

    ``scale`` is the model's output scale. For the ``-x2``/``-x3`` animevideov3 variants the ncnn file is the
    x4 network followed by a bicubic downscale; loading them gives a model whose output is ``scale`` times
    the input all the same.
    """

    name: str
    arch: Literal["RRDBNet", "SRVGGNetCompact"]
    scale: int
    url: str | None
    sha256: str | None
    filename: str
    ncnn_stem: str | None
    description: str

    @property
    def downloadable(self) -> bool:
        return self.url is not None


def _m(*args) -> tuple[str, ModelInfo]:
    info = ModelInfo(*args)
    return info.name, info


MODELS: dict[str, ModelInfo] = dict(
    [
        _m(
            "realesr-animevideov3",
            "SRVGGNetCompact",
            4,
            f"{_RELEASES}/v0.2.5.0/realesr-animevideov3.pth",
            "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
            "realesr-animevideov3.pth",
            "REALESRGAN_ANIMAVIDEOV3_UP4X",
            "x4 compact model for anime video (16 convs, fast)",
        ),
        _m(
            "realesr-animevideov3-x2",
            "SRVGGNetCompact",
            2,
            None,
            None,
            "realesr-animevideov3-x2.safetensors",
            "REALESRGAN_ANIMAVIDEOV3_UP2X",
            "x2 anime video (the x4 network + bicubic 0.5 downscale; from the ncnn wheel only)",
        ),
        _m(
            "realesr-animevideov3-x3",
            "SRVGGNetCompact",
            3,
            None,
            None,
            "realesr-animevideov3-x3.safetensors",
            "REALESRGAN_ANIMAVIDEOV3_UP3X",
            "x3 anime video (the x4 network + bicubic 0.75 downscale; from the ncnn wheel only)",
        ),
        _m(
            "RealESRGAN_x4plus",
            "RRDBNet",
            4,
            f"{_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",
            "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
            "RealESRGAN_x4plus.pth",
            "REALESRGAN_X4PLUS_UP4X",
            "x4 general photo/video model (RRDBNet, 23 blocks, slow, best quality)",
        ),
        _m(
            "RealESRGAN_x4plus_anime_6B",
            "RRDBNet",
            4,
            f"{_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
            "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
            "RealESRGAN_x4plus_anime_6B.pth",
            "REALESRGAN_X4PLUSANIME_UP4X",
            "x4 anime illustration model (RRDBNet, 6 blocks)",
        ),
        _m(
            "RealESRGAN_x2plus",
            "RRDBNet",
            2,
            f"{_RELEASES}/v0.2.1/RealESRGAN_x2plus.pth",
            "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
            "RealESRGAN_x2plus.pth",
            None,
            "x2 general photo/video model (RRDBNet, 23 blocks; download only)",
        ),
        _m(
            "realesr-general-x4v3",
            "SRVGGNetCompact",
            4,
            f"{_RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",
            "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
            "realesr-general-x4v3.pth",
            None,
            "x4 general compact model (32 convs; download only)",
        ),
    ]
)


OR_A_PATH = "or pass a path to a .pth/.safetensors/.param file"


def get_model_info(name: str, *, func: str = "get_model_info", otherwise: str = OR_A_PATH) -> ModelInfo:
    """Look a model up by name (exact, else case-insensitive); ModelError listing known names if unknown.

    ``otherwise`` ends the fix: what the caller accepts besides a known name.
    """
    info = MODELS.get(name)
    if info is not None:
        return info
    folded = {k.casefold(): v for k, v in MODELS.items()}
    info = folded.get(str(name).casefold())
    if info is not None:
        return info
    raise ModelError(
        func,
        f"unknown model name {name!r}.",
        f"use one of {', '.join(MODELS)}" + (f", {otherwise}." if otherwise else "."),
    )


def is_known(name: str) -> bool:
    return str(name) in MODELS or str(name).casefold() in {k.casefold() for k in MODELS}
