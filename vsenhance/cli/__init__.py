"""The ``vsenhance`` command line: argument parsing only; each command calls into the package's modules.

Only ``models import-ncnn`` loads torch in this process (it converts weights). Encoding drives ``ffmpeg`` and
worker processes that run the script; the other model commands use the torch-free store.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

import vapoursynth as vs

from ..errors import VSEnhanceError
from ..script import error_line
from . import encode, models, pose, preview
from .args import HelpFormatter

DESCRIPTION = """\
AI video enhancement for VapourSynth. The filters (vse.upscale, vse.upscale_ranges, vse.pose) go in your .vpy
scripts; these commands encode such a script safely, time it, cut test pieces, manage models and export poses."""

EPILOG = """\
examples:
  vsenhance estimate film.vpy
  vsenhance encode film.vpy -o film_x4.mkv --encoder x265 --crf 18 --audio film.mkv
  vsenhance models list

'vsenhance COMMAND --help' gives a command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsenhance", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (models, encode, pose, preview):
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
    except vs.Error as exc:  # ours, or a frame of the user's script failing (pose-export runs it in-process)
        ours = isinstance(exc, VSEnhanceError)
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        text = str(exc) if ours else f"vsenhance {args.command}: the script failed: {error_line(exc)}"
        if not args.verbose and (not ours or exc.__cause__ is not None):
            text += " (run with -v for the traceback)"
        print(f"error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vsenhance models list | head -1`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would raise it again
        return 0


if __name__ == "__main__":
    sys.exit(main())
