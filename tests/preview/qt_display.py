"""Whether a previewer's Qt can show windows here (under Xvfb): the reason a skip states, or None."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path


def why_qt_cannot_show(previewer: str, install: str, binding: str, platforms: str) -> str | None:
    """``previewer`` importable, ``xvfb-run`` present, and ``binding``'s xcb platform (``platforms`` below the
    binding's package) with every library it links; else why not."""
    if importlib.util.find_spec(previewer) is None:
        return f"{previewer} is not installed ({install})"
    if shutil.which("xvfb-run") is None:
        return "no X server for Qt (scripts/setup.sh installs it: apt-get install xvfb)"
    qxcb = Path(importlib.util.find_spec(binding).origin).parent / platforms / "libqxcb.so"
    ldd = subprocess.run(["ldd", str(qxcb)], capture_output=True, text=True).stdout
    missing = [line.split()[0] for line in ldd.splitlines() if "not found" in line]
    if missing:
        return f"Qt's xcb platform lacks {', '.join(missing)} (scripts/setup.sh installs them with apt-get)"
    return None
