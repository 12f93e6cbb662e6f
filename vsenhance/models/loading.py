"""Load a super-resolution model safely: known names, ncnn ``.param``, ``.pth``/``.pt``/``.ckpt``/``.safetensors``.

Pickles are read with ``torch.load(weights_only=True)``: only tensors and plain containers are rebuilt, so a
checkpoint can never run code. TorchScript archives are refused.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import spandrel
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from . import store
from .ncnn import META_OUTPUT_RESIZE, read_ncnn
from .registry import closest_name, is_known

__all__ = ["PICKLE_SUFFIXES", "SUFFIXES", "load_model", "load_state_dict"]

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
SUFFIXES = (*PICKLE_SUFFIXES, ".safetensors", ".param")


class ResizedOutput(nn.Module):
    """A network followed by a bicubic resize of its output (ncnn ``UP2X``/``UP3X`` animevideov3 graphs)."""

    def __init__(self, inner: nn.Module, net_scale: int, scale: int) -> None:
        super().__init__()
        self.inner = inner
        self.net_scale = net_scale
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        h, w = x.shape[-2] * self.scale, x.shape[-1] * self.scale
        return F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False)


def _fix_for(path: Path) -> str:
    return f"re-download or re-export {path.name}, or use a known model name (`vsenhance models list`)."


def _load_pickle(path: Path, func: str) -> dict:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist()):
                raise ModelError(
                    func,
                    f"{path} is a TorchScript archive, which may contain code; it is not loaded.",
                    "save the model's state_dict (torch.save(model.state_dict(), ...)) or use .safetensors.",
                )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": not the user's concern
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        unsafe = re.search(r"GLOBAL ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)", msg)
        if unsafe:
            problem = (
                f"{path} contains Python objects other than tensors (it references "
                f"{unsafe.group(1) or unsafe.group(2)}); loading it could run code, so it was refused."
            )
            fix = "use a plain state-dict checkpoint or a .safetensors file from a source you trust."
        else:
            reason = msg.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
            reason = " ".join(reason.split())[:200] or type(exc).__name__
            problem = (
                f"{path} is corrupt or not a plain-tensor PyTorch checkpoint ({reason}); it was not loaded "
                "because unpickling anything else could run code."
            )
            fix = _fix_for(path)
        raise ModelError(func, problem, fix) from None
    except Exception as exc:  # a corrupt pickle can fail in any way inside the restricted unpickler
        first = (str(exc).split(". ") or [type(exc).__name__])[0] or type(exc).__name__
        raise ModelError(func, f"{path} is corrupt or not a PyTorch checkpoint ({first}).", _fix_for(path)) from None
    if not isinstance(obj, dict):
        raise ModelError(
            func,
            f"{path} holds a {type(obj).__name__}, not a state dict.",
            "save the model's state_dict, or use a .safetensors file.",
        )
    return obj


def _load_safetensors(path: Path, func: str) -> tuple[dict, dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            sd = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a Mapping)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(
            func, f"{path.name} is corrupt or not a safetensors file.", _fix_for(path), f"{path}: {exc}"
        ) from None
    return sd, meta


def load_state_dict(path: str | os.PathLike, *, func: str) -> tuple[dict, float | None]:
    """Read a model file into a state dict without executing anything; also return any output resize
    recorded by the ncnn importer (None for ordinary models)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise ModelError(func, f"{path} is a folder, not a model file.", f"pass a {', '.join(SUFFIXES)} file in it.")
    if suffix not in SUFFIXES:
        raise ModelError(
            func,
            f"{path} has an unsupported extension {path.suffix or '(none)'!r}.",
            f"use one of {', '.join(SUFFIXES)} or a known model name.",
        )
    if not path.is_file():
        close = closest_name(path.name) if path.parent == Path() else None  # "RealESRGAN_x4plus.pth" typed
        raise ModelError(
            func,
            f"model file {path} does not exist.",
            f"{close!r} is a known model name: pass it as it is." if close else
            "check the path, or use a known model name (`vsenhance models list`).",
        )  # fmt: skip
    resize: float | None = None
    if suffix == ".param":
        m = read_ncnn(path, func=func)
        sd, resize = m.state_dict, m.output_resize
    elif suffix == ".safetensors":
        sd, meta = _load_safetensors(path, func)
        text = meta.get(META_OUTPUT_RESIZE)
        try:
            resize = float(text) if text is not None else None
        except ValueError:
            resize = math.nan
        if resize is not None and not 0 < resize <= 64:  # NaN, inf, 1e300, 0: no model resizes so
            raise ModelError(func, f"{path} has bad metadata {META_OUTPUT_RESIZE}={text!r}.", _fix_for(path))
    else:
        sd = _load_pickle(path, func)
    _check_finite(sd, path, func)
    return sd, resize


def _check_finite(sd: dict, path: Path, func: str) -> None:
    """Refuse weights that hold NaN or infinity: such a model makes black (YUV) or NaN (RGBS) frames, without
    an error, on every frame of a job of days."""
    bad = [name for name, t in sd.items() if isinstance(t, torch.Tensor) and t.is_floating_point()
           and not bool(torch.isfinite(t).all())]  # fmt: skip
    if bad:
        raise ModelError(
            func,
            f"{path.name} holds NaN or infinite weights ({len(bad)} of {len(sd)} tensors): its frames would be black.",
            "use an intact copy of the model.",
            f"first bad tensor: {bad[0]!r}; file: {path}",
        )


_X1_ARCHITECTURES = ("Compact", "ESRGAN")
"""The architectures whose x1 (same-size) models are accepted: Real-ESRGAN's, tiled as its inference tiles them."""


def _describe(desc) -> str:
    return (
        f"{type(desc).__name__} {desc.architecture.name} (purpose {desc.purpose}, scale {desc.scale}, "
        f"{desc.input_channels}->{desc.output_channels} channels)"
    )


def load_model(model: str | os.PathLike, *, func: str) -> spandrel.ImageModelDescriptor:
    """Load a single-image RGB super-resolution model on the CPU, in eval mode.

    ``model`` is a known name (resolved offline via the store), an ncnn ``.param`` path (the ``.bin`` beside
    it), or a ``.pth``/``.pt``/``.ckpt``/``.safetensors`` file. Raises ModelError naming ``func`` otherwise.
    """
    if isinstance(model, str) and is_known(model) and not Path(model).suffix:
        path = store.resolve(model, func=func)
    else:
        path = Path(model)
        if isinstance(model, str) and not path.suffix and not path.exists():
            store.resolve(model, func=func)  # unknown name -> ModelError listing the known ones
    sd, resize = load_state_dict(path, func=func)
    try:
        sd = spandrel.canonicalize_state_dict(sd)
        desc = spandrel.ModelLoader(device="cpu").load_from_state_dict(sd)
    except spandrel.UnsupportedModelError:
        raise ModelError(
            func,
            f"{path} is not a model architecture spandrel recognises.",
            "use a Real-ESRGAN/ESRGAN-family super-resolution model (see `vsenhance models list`).",
        ) from None
    except (RuntimeError, ValueError, KeyError, AssertionError, TypeError, IndexError) as exc:
        raise ModelError(func, f"{path} could not be built as a model ({exc}).", _fix_for(path)) from None
    # Real-ESRGAN's own x1 models (Compact, RRDBNet: denoise, dejpeg) are "Restoration" to spandrel; tiling.py
    # pads them as RealESRGANer does (a multiple of 4). Other restoration networks have other size rules
    x1_real_esrgan = (
        isinstance(desc, spandrel.ImageModelDescriptor) and desc.purpose == "Restoration" and desc.scale == 1
        and desc.architecture.id in _X1_ARCHITECTURES
    )  # fmt: skip
    if not isinstance(desc, spandrel.ImageModelDescriptor) or (desc.purpose != "SR" and not x1_real_esrgan):
        raise ModelError(
            func,
            f"{path} is a {_describe(desc)}, not a single-image super-resolution model.",
            "use a super-resolution model such as RealESRGAN_x4plus.",
        )
    if desc.input_channels != 3 or desc.output_channels != 3:
        raise ModelError(
            func,
            f"{path} is a {_describe(desc)}; an RGB model with 3 input and 3 output channels is needed.",
            "use an RGB super-resolution model.",
        )
    if resize is not None:
        scale = round(desc.scale * resize)
        if scale < 1 or abs(desc.scale * resize - scale) > 1e-6:
            raise ModelError(
                func, f"{path} resizes its x{desc.scale} output by {resize}, not to an integer scale.", _fix_for(path)
            )
        wrapped = ResizedOutput(desc.model, desc.scale, scale)
        desc = spandrel.ImageModelDescriptor(
            wrapped,
            wrapped.state_dict(),
            desc.architecture,
            purpose="SR",
            tags=[*desc.tags, f"bicubic x{resize:g}"],
            supports_half=desc.supports_half,
            supports_bfloat16=desc.supports_bfloat16,
            scale=scale,
            input_channels=3,
            output_channels=3,
            size_requirements=desc.size_requirements,
            tiling=desc.tiling,
        )
    desc.model.eval()
    log.debug("loaded %s: %s", path, _describe(desc))
    return desc
