"""vsenhance: VapourSynth filters for AI video enhancement.

Importing the package is cheap: torch loads when ``upscale``/``upscale_ranges`` is called (the model is loaded
then, to check it and learn its scale, before any frame) and onnxruntime when ``pose`` is (its sessions are
checked then); importing, the encoder and the CLI load neither (tested).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .errors import (
    ClipError,
    DeviceError,
    DownloadError,
    EncodeError,
    FileError,
    ModelError,
    PlanMismatchError,
    VSEnhanceError,
)

try:
    __version__ = version("vsenhance")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_LAZY = {
    "upscale": "vsenhance.filters.upscale",
    "upscale_ranges": "vsenhance.filters.ranges",
    "pose": "vsenhance.filters.pose",
    "draw_pose": "vsenhance.filters.pose",
    "export_pose": "vsenhance.filters.pose",
    "script_arg": "vsenhance.script",
}

__all__ = [
    "ClipError",
    "DeviceError",
    "DownloadError",
    "EncodeError",
    "FileError",
    "ModelError",
    "PlanMismatchError",
    "VSEnhanceError",
    "__version__",
    *_LAZY,
]

if TYPE_CHECKING:
    from .filters.pose import draw_pose as draw_pose
    from .filters.pose import export_pose as export_pose
    from .filters.pose import pose as pose
    from .filters.ranges import upscale_ranges as upscale_ranges
    from .filters.upscale import upscale as upscale
    from .script import script_arg as script_arg


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vsenhance' has no attribute {name!r}")
    return getattr(import_module(module), name)
