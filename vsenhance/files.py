"""Atomic file writes, file hashes and the checks on a file a command writes: one implementation for all.

A file a user or a resumed job relies on (a model in the cache, the encode's plan and done-record, a segment,
the joined output, a pose JSON) appears at its path only once it is complete: it is written to a hidden temp
file in the same folder (so the rename cannot cross file systems), flushed to disk, then renamed over the path
with ``os.replace``, and the folder is synced so the rename itself survives a power cut. A kill at any moment
leaves the old file or the new one, never half of one; a failure removes the temp file.

Before any work, :func:`check_output` makes sure the file a command or a filter will write is a usable place and
never one of its inputs (through links too): the files it was given, every file this process has open (a
source the script opened), and every file a filter was handed (:func:`note_input`: a model, a range file,
which ONNX Runtime and torch close once loaded, so the open files alone miss them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal

from .errors import FileError

__all__ = [
    "atomic_open",
    "atomic_path",
    "atomic_write_json",
    "can_create_in",
    "check_output",
    "fsync_path",
    "input_files",
    "note_input",
    "open_files",
    "same_file",
    "sha256_file",
]


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file's or a folder's metadata to disk (best effort: some file systems refuse folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, mode: int = 0o644) -> Iterator[Path]:
    """A temp path beside ``path`` for writers that take a path (ffmpeg, ``safetensors.save_file``).

    The temp name keeps ``path``'s extension, so tools that choose a format by it choose the same one. When the
    block ends without an exception the temp file is synced, given ``mode`` (mkstemp makes 0600; caches and
    videos are shared) and renamed to ``path``; otherwise it is removed. Checks that must pass before the file
    may appear (a frame count, a checksum) belong inside the block.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f".partial{target.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(target.parent)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: Literal["w", "wb"] = "wb", *, encoding: str | None = None
) -> Iterator[IO]:
    """``open(path, mode)`` that only replaces ``path`` once the block has written the whole file."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding if mode == "w" else None) as fh:
        yield fh
        fh.flush()


def atomic_write_json(path: str | os.PathLike[str], data: object) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode when both exist (links, bind mounts), else the
    same absolute path once symlinks are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder``, found by creating (and removing) one: ``os.access`` says
    yes to root in ``/proc`` or on a read-only mount, and the work would fail only at its end."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".vsenhance-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def check_output(
    func: str,
    output: Path,
    inputs: Iterable[Path | None] = (),
    *,
    overwrite: bool = True,
    stream: bool = True,
) -> Path:
    """``output`` as an absolute path, once it is known to be writable without harm; the one check every
    command and filter that writes a file goes through.

    Refused whatever ``overwrite`` says: a directory, a missing folder, or the same file as one of ``inputs``
    or of :func:`input_files` (the script, the source, the audio, a model). An existing regular file is refused
    unless ``overwrite``. An existing FIFO or device (``/dev/stdout``) is written through, never replaced, so it
    needs neither ``-y`` nor a writable folder; a writer that must rename a finished file into place
    (``stream=False``: a video it checks before it shows it) refuses one instead of replacing it.
    """
    out = Path(os.path.abspath(output))
    for source in [*inputs, *map(Path, input_files())]:
        if source is not None and same_file(out, Path(source)):
            raise FileError(
                func,
                f"the output {output} is the input {source}; writing it would destroy the input.",
                "pass another output path.",
            )
    if out.is_dir():
        raise FileError(func, f"the output {output} is a directory.", "pass a file name for the output.")
    if out.exists() and not out.is_file():  # a FIFO, a device, a terminal (through links too)
        if stream and (refused := _device_refuses_writes(out)) is not None:
            raise FileError(
                func, f"the output {output} refuses writes ({refused}).", "pass a file, a pipe or a terminal."
            )
        if stream:
            return out
        raise FileError(
            func, f"the output {output} is not a regular file (a FIFO or a device), which {func} would replace.",
            "pass the path of a regular file; the file appears there once it is complete and checked.",
        )  # fmt: skip
    if not out.parent.is_dir():
        raise FileError(
            func, f"the output folder {out.parent} does not exist.", "create it first or pass another path."
        )
    if not can_create_in(out.parent):
        raise FileError(
            func, f"the output folder {out.parent} is not writable.", "pass a path in a folder you can write to."
        )
    if out.exists() and not overwrite:
        raise FileError(func, f"the output {output} already exists.", "pass -y/--overwrite or another path.")
    return out


def _device_refuses_writes(path: Path) -> str | None:
    """Why a device refuses a write (``/dev/full``: ENOSPC), found now by writing nothing to it, rather than
    after the first frame's work; None for one that takes writes, and for a FIFO, whose open would wait for a
    reader."""
    with contextlib.suppress(OSError):
        if stat.S_ISFIFO(os.stat(path).st_mode):
            return None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"")
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


_given: set[str] = set()


def note_input(path: str | os.PathLike[str]) -> None:
    """Remember a file a filter was given (a model, a range file), so that no output replaces it later."""
    with contextlib.suppress(OSError, ValueError):
        if os.path.isfile(path):
            _given.add(os.path.realpath(path))


def input_files() -> list[str]:
    """The files this process reads: those it has open (:func:`open_files`) and those filters were given."""
    return sorted(set(open_files()) | _given)


def open_files() -> list[str]:
    """The regular files this process has open (Linux ``/proc/self/fd``; empty where there is none): after a
    script rendered a frame, its sources are among them, so an output can be checked against what it reads."""
    found = []
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                link = f"/proc/self/fd/{fd}"
                if stat.S_ISREG(os.stat(link).st_mode):
                    found.append(os.readlink(link))
    return sorted(set(found))
