"""Checks on the file a command writes, made before any work: a usable place, and never one of its inputs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import EncodeError

__all__ = ["check_output", "same_file"]


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode when both exist (links, bind mounts), else the
    same absolute path once symlinks are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output(func: str, output: Path, inputs: Iterable[Path | None], *, overwrite: bool = True) -> Path:
    """``output`` as an absolute path, once it is known to be writable without harm.

    Refused whatever ``overwrite`` says: a directory, a missing folder, or the same file as one of ``inputs``
    (the script, the source, the audio). An existing file is refused unless ``overwrite``.
    """
    out = Path(os.path.abspath(output))
    for source in inputs:
        if source is not None and same_file(out, Path(source)):
            raise EncodeError(
                func,
                f"the output {output} is the input {source}; writing it would destroy the input.",
                "pass another -o.",
            )
    if out.is_dir():
        raise EncodeError(func, f"the output {output} is a directory.", "pass a file name for -o.")
    if not out.parent.is_dir():
        raise EncodeError(
            func, f"the output folder {out.parent} does not exist.", "create it first or pass another -o."
        )
    if not os.access(out.parent, os.W_OK):
        raise EncodeError(
            func, f"the output folder {out.parent} is not writable.", "pass -o in a folder you can write to."
        )
    if out.exists() and not overwrite:
        raise EncodeError(func, f"the output {output} already exists.", "pass -y/--overwrite or another -o.")
    return out
