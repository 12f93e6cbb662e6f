"""Error classes, and the rule that picks one. Every message names the function, the problem and the fix.

The class says what kind of thing is wrong, whichever room meets it, so that a caller who catches one kind
catches it everywhere (``tests/test_errors.py`` holds every raise site to this):

- a model: missing, corrupt, unsafe to load, not super-resolution, the model cache → :class:`ModelError`
  (:class:`DownloadError` for a download);
- a device: CUDA, an ONNX Runtime execution provider, NVENC → :class:`DeviceError`;
- a file or path a filter or command was given (the script, a source, the audio, the output, its state
  folder, a range file): missing, a folder, a FIFO or device, not writable, or one that would replace an
  input → :class:`FileError`, which is a :class:`ClipError`: a path is an argument too;
- any other argument of a filter or command: a value, a choice, the clip or its format, ranges, options →
  :class:`ClipError` (a ``ValueError``);
- work that failed once started: vspipe, ffmpeg, a worker, Ray, a segment on disk, a full disk →
  :class:`EncodeError` (:class:`PlanMismatchError`: the saved plan is another job's).

``func`` is what the user called: a filter by its public name (``"vsenhance.upscale"``) or a command as typed
(``"encode"``, ``"models download"``), never an internal function's name.
"""

from __future__ import annotations

import vapoursynth as vs

__all__ = [
    "ClipError",
    "DeviceError",
    "DownloadError",
    "EncodeError",
    "FileError",
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


class FileError(ClipError):
    """A file or path given to a filter or command cannot be used as given (see the rule above)."""


class ModelError(VSEnhanceError):
    """A model is missing, corrupt, unsafe to load or not a single-image super-resolution model."""


class DownloadError(ModelError):
    """A download failed or its SHA-256 did not match."""


class DeviceError(VSEnhanceError):
    """The requested device or execution provider is not available (never a silent fallback)."""


class EncodeError(VSEnhanceError):
    """Work that failed once started: vspipe, ffmpeg, a worker, Ray, a segment on disk, a full disk."""


class PlanMismatchError(EncodeError):
    """An existing encode plan was made for another script, arguments or encoder settings."""
