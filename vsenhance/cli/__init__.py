"""The ``vsenhance`` command line: argument parsing only; each command calls into the package's modules.

Only ``models import-ncnn`` loads torch in this process (it converts weights). Encoding drives ``vspipe``,
``ffmpeg`` and worker processes that run the script; the other model commands use the torch-free store.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import VSEnhanceError
from . import encode, models, pose


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsenhance", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (models, encode, pose):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except VSEnhanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
