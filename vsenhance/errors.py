"""Error classes. Every message names the calling function, the problem and the fix."""

from __future__ import annotations

import vapoursynth as vs

__all__ = [
    "ClipError",
    "DeviceError",
    "DownloadError",
    "EncodeError",
    "ModelError",
    "PlanMismatchError",
    "VSEnhanceError",
]


class VSEnhanceError(vs.Error):
    """Base of all vsenhance errors; a ``vs.Error`` so vspipe and previewers report it as one."""

    def __init__(self, func: str, problem: str, fix: str | None = None, details: str | None = None) -> None:
        self.func = func
        self.problem = problem
        self.fix = fix
        self.details = details  # on the lines below: a previewer's dialog shows the short first line whole
        super().__init__(f"{func}: {problem}" + (f" Fix: {fix}" if fix else "") + (f"\n{details}" if details else ""))

    def __reduce__(self):  # keep the constructor's parts picklable
        return type(self), (self.func, self.problem, self.fix, self.details)


class ClipError(VSEnhanceError, ValueError):
    """The clip or an argument is not usable: variable format/size, bad ranges, unsupported format."""


class ModelError(VSEnhanceError):
    """A model is missing, corrupt, unsafe to load or not a single-image super-resolution model."""


class DownloadError(ModelError):
    """A download failed or its SHA-256 did not match."""


class DeviceError(VSEnhanceError):
    """The requested device or execution provider is not available (never a silent fallback)."""


class EncodeError(VSEnhanceError):
    """vspipe or ffmpeg failed while encoding."""


class PlanMismatchError(EncodeError):
    """An existing encode plan was made for another script, arguments or encoder settings."""
