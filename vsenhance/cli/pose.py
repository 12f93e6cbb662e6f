"""``vsenhance pose-export``: run a .vpy script in this process and write its output's pose props as JSON.

Imports no torch: the script is executed in this process like vspipe does
(:func:`vsenhance.script.run_script`: ``-a key=value`` becomes a global string variable, relative paths
resolve beside the script), then ``vsenhance.export_pose`` streams the frames to the JSON file.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ..errors import EncodeError
from ..script import parse_script_args, run_script
from .args import add_command, add_script, add_script_args

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pose-export`` to the top-level parser."""
    p = add_command(
        sub, "pose-export",
        summary="write the people and poses a script found (vse.pose) to a JSON file",
        description="Run SCRIPT.vpy, whose output carries vse.pose's props, and write every frame's people (box, "
        "body, feet, face and hands keypoints) to OUT as JSON, frame by frame. With -o - the JSON goes to the "
        "standard output and nothing else does: the script's own prints go to stderr.",
        examples="  vsenhance pose-export dance.vpy -o dance.json\n"
        "  vsenhance pose-export dance.vpy -o - -a source=dance.mp4 | jq '.frames[0]'",
    )  # fmt: skip
    add_script(p, "a script whose output went through vse.pose")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="the JSON file (- for stdout)")
    add_script_args(p)
    p.add_argument("--index", type=int, default=0, metavar="N", help="the script's output to read (0)")
    p.add_argument("--prefix", default="Pose", help="the prefix given to vse.pose (Pose)")
    p.add_argument("--wholebody", action="store_true", help="also write the raw 133 keypoints of each person")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(handler=run)


STDOUT_NAMES = ("-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")
"""``-o`` names that mean this process's standard output: the JSON is streamed there, and only the JSON."""


def _is_stdout(path: Path) -> bool:
    """Whether ``path`` is this process's standard output under another name (a link to /proc/self/fd/1)."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except OSError:
        return False


@contextlib.contextmanager
def _stdout_for_the_output_only() -> Iterator[TextIO]:
    """A text stream on the standard output, which nothing else reaches meanwhile: the script's ``print()``
    and any plugin writing to fd 1 go to stderr, so ``pose-export -o - | jq`` reads JSON alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    shown, sys.stdout = sys.stdout, sys.stderr
    try:
        with os.fdopen(os.dup(saved), "w", encoding="utf-8") as out:
            yield out
    finally:
        sys.stdout = shown
        os.dup2(saved, 1)
        os.close(saved)


def run(args: argparse.Namespace) -> int:
    import vapoursynth as vs

    from ..files import check_output, input_files
    from ..filters.pose import check_prefix, export_pose, write_pose_json

    check_prefix("pose-export", args.prefix)  # before the script runs, as every argument
    to_stdout = str(args.output) in STDOUT_NAMES or _is_stdout(args.output)
    # before the script runs: never the script itself, never an existing file without -y
    output = None if to_stdout else check_output("pose-export", args.output, [args.script], overwrite=args.overwrite)
    with _stdout_for_the_output_only() as stdout:
        try:
            node = run_script(
                args.script, parse_script_args(args.script_args, "pose-export"), args.index, func="pose-export"
            )
            node.get_frame(0)  # the script's sources are open now: the output must not be one of them
        except vs.Error:  # ours (names its function) or VapourSynth's: main() prints it
            raise
        except Exception as exc:  # the user's script failed: one line, the traceback with -v
            raise EncodeError(
                "pose-export", f"the script {args.script} raised {type(exc).__name__}: {exc}", "correct the script."
            ) from exc
        if output is None:
            count = write_pose_json(node, stdout, prefix=args.prefix, include_wholebody=args.wholebody,
                                    func="pose-export")  # fmt: skip
        else:
            check_output("pose-export", output, [Path(f) for f in input_files()], overwrite=True)
            count = export_pose(node, output, prefix=args.prefix, include_wholebody=args.wholebody)
    log.info("pose-export: %d frames -> %s", count, args.output)
    return 0
