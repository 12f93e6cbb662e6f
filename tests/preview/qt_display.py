"""Whether a previewer's Qt can show windows here (under Xvfb): the reason a skip states, or None."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def why_qt_cannot_show(python: str | Path, previewer: str, install: str, binding: str, platforms: str) -> str | None:
    """``previewer`` importable by ``python``, ``xvfb-run`` present, and ``binding``'s xcb platform (``platforms``
    below the binding's package) with every library it links; else why not.

    ``python`` is asked in a child process because vsview and vs-preview pin different jetpytools and live in
    different environments (scripts/setup.sh: ``.venv`` has vs-preview, ``.venv-view`` vsview)."""
    where = f"import importlib.util as u; assert u.find_spec({previewer!r}); print(u.find_spec({binding!r}).origin)"
    try:
        found = subprocess.run([str(python), "-c", where], capture_output=True, text=True, timeout=60)
    except OSError:
        return f"{previewer} is not installed: no {python} ({install})"
    if found.returncode != 0:
        return f"{previewer} is not installed for {python} ({install})"
    if shutil.which("xvfb-run") is None:
        return "no X server for Qt (scripts/setup.sh installs it: apt-get install xvfb)"
    qxcb = Path(found.stdout.strip()).parent / platforms / "libqxcb.so"
    ldd = subprocess.run(["ldd", str(qxcb)], capture_output=True, text=True).stdout
    missing = [line.split()[0] for line in ldd.splitlines() if "not found" in line]
    if missing:
        return f"Qt's xcb platform lacks {', '.join(missing)} (scripts/setup.sh installs them with apt-get)"
    return None
