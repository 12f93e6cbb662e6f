"""``vsenhance preview-plugin``: install or remove the vs-preview 0.20 plugin that shows the AI ranges.

vsview needs no such step: it finds its plugin through an entry point (``pip install 'vsenhance[view]'``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..preview import install
from .args import add_command


def _install(args: argparse.Namespace) -> int:
    pth = install.install(args.dir)
    print(f"{pth}\nvs-preview now loads the 'AI ranges' plugin from {install.PLUGIN_FOLDER}")
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    pth = install.uninstall(args.dir)
    print(f"removed {pth}" if pth else f"not installed (no {install.PTH_NAME} in {args.dir or install.plugins_dir()})")
    return 0


def _folder_arg(text: str) -> Path:
    """``--dir``: an empty value is refused, not taken as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("--dir is empty: pass vs-preview's plugins folder, or leave --dir out")
    return Path(text)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``vsenhance preview-plugin {install,uninstall}``."""
    p = add_command(
        sub, "preview-plugin",
        summary="install or remove the vs-preview plugin that shows the AI ranges (vsview needs none)",
        description="vs-preview 0.20 loads plugins from its plugins folder: install writes vsenhance.pth there, "
        "uninstall removes it. vsview finds vsenhance's plugin by itself (pip install 'vsenhance[view]').",
        examples="  vsenhance preview-plugin install\n  vsenhance preview-plugin uninstall --dir ~/my-plugins",
    )  # fmt: skip
    psub = p.add_subparsers(dest="preview_command", required=True, metavar="ACTION")
    for name, handler, text in (
        ("install", _install, "write vsenhance.pth into vs-preview's plugins folder"),
        ("uninstall", _uninstall, "remove vsenhance.pth from vs-preview's plugins folder"),
    ):
        a = add_command(psub, name, summary=text, description=text[0].upper() + text[1:] + ".")
        a.add_argument(
            "--dir", type=_folder_arg, help=f"vs-preview's global plugins folder (default {install.plugins_dir()})"
        )
        a.set_defaults(handler=handler)
