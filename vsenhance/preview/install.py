"""Install the vs-preview plugin the way vs-preview finds third-party plugins: a ``.pth`` file in its global
plugins folder naming the folder that holds the ``.ppy``. Nothing is copied, so an upgrade of vsenhance upgrades
the plugin, and uninstalling removes one file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import FileError
from ..files import atomic_open

PLUGIN_FOLDER = Path(__file__).with_name("plugin")
"""Holds only the ``.ppy``: vs-preview adds the folder to ``sys.path``, so nothing else may be importable there."""

PTH_NAME = "vsenhance.pth"


def plugins_dir() -> Path:
    """vs-preview's global plugins folder (its ``MainWindow.global_plugins_dir``), without importing Qt."""
    base = os.path.expandvars("%APPDATA%") if sys.platform == "win32" else os.path.expanduser("~/.config")
    return Path(base) / "vspreview" / "plugins"


def install(folder: Path | None = None, *, func: str = "preview-plugin install") -> Path:
    """Write the ``.pth`` file; returns its path. Running it again rewrites the same line."""
    folder = folder or plugins_dir()
    if folder.exists() and not folder.is_dir():
        raise FileError(func, f"vs-preview's plugins folder {folder} is a file.", "Move the file away.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        pth = folder / PTH_NAME
        with atomic_open(pth, "w", encoding="utf-8") as fh:
            fh.write(f"{PLUGIN_FOLDER}\n")
    except OSError as exc:
        raise FileError(
            func, f"cannot write into {folder} ({exc.strerror}).", "Pass --dir with a folder you can write."
        ) from exc
    return pth


def uninstall(folder: Path | None = None, *, func: str = "preview-plugin uninstall") -> Path | None:
    """Remove the ``.pth`` file; returns its path, or None when it was not there."""
    pth = (folder or plugins_dir()) / PTH_NAME
    try:
        pth.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileError(func, f"cannot remove {pth} ({exc.strerror}).", "Remove it by hand.") from exc
    return pth
