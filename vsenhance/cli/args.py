"""What every command's parser shares: how a command presents itself in ``--help``, and the script arguments.

One spelling for users everywhere: the script is ``SCRIPT.vpy``, its arguments ``-a key=value`` (as vspipe's),
and each command's help ends with examples to copy.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

__all__ = ["HelpFormatter", "add_command", "add_script", "add_script_args"]


class HelpFormatter(argparse.HelpFormatter):
    """Prose wrapped to the terminal; a block whose lines are indented (examples) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.strip("\n").split("\n\n"):
            lines = block.splitlines()
            if all(line.startswith("  ") for line in lines[1:]) and len(lines) > 1 and lines[0].endswith(":"):
                blocks.append("\n".join(indent + line for line in lines))
            else:
                blocks.append(textwrap.fill(" ".join(block.split()), width, initial_indent=indent,
                                            subsequent_indent=indent))  # fmt: skip
        return "\n\n".join(blocks)


def add_command(
    sub: argparse._SubParsersAction, name: str, *, summary: str, description: str, examples: str = ""
) -> argparse.ArgumentParser:
    """A command: ``summary`` is its line in ``vsenhance --help``; ``description`` what it does for the user;
    ``examples`` command lines shown as written."""
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples}" if examples else None,
        formatter_class=HelpFormatter,
    )


def add_script(p: argparse.ArgumentParser, what: str = "the VapourSynth script") -> None:
    p.add_argument("script", type=Path, metavar="SCRIPT.vpy", help=what)


def add_script_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--arg", dest="script_args", action="append", default=[], metavar="key=value",
                   help="a value for the script, as vspipe -a: a global string variable (repeatable)")  # fmt: skip
