"""``vsenhance pose-export``: run a .vpy script in this process and write its output's pose props as JSON.

Imports no torch: the script is executed with VapourSynth's Python API like vspipe does (``-a key=value``
becomes a global string variable), then ``vsenhance.export_pose`` streams the frames to the JSON file.
"""

from __future__ import annotations

import argparse
import logging
import runpy
import sys
from pathlib import Path

from ..errors import ClipError, EncodeError

log = logging.getLogger(__name__)


def _arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pose-export`` to the top-level parser."""
    p = sub.add_parser(
        "pose-export",
        help="write the pose props of a .vpy script's output to JSON",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("script", type=Path, help="VapourSynth script whose output carries pose props (vse.pose)")
    p.add_argument("-o", "--output", type=Path, required=True, help="JSON file to write")
    p.add_argument(
        "-a",
        "--arg",
        type=_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="script argument, as vspipe -a (repeatable)",
    )
    p.add_argument("--index", type=int, default=0, help="output index of the script (default 0)")
    p.add_argument("--prefix", default="Pose", help="prop name prefix given to vse.pose (default Pose)")
    p.add_argument("--wholebody", action="store_true", help="also write the raw 133 keypoints per person")
    p.set_defaults(handler=run)


def load_output(script: Path, args: dict[str, str], index: int = 0):
    """Execute ``script`` like vspipe and return its output node ``index``."""
    import vapoursynth as vs

    func = "pose-export"
    if not script.is_file():
        raise ClipError(func, f"script {str(script)!r} does not exist.", "Pass the path of a .vpy script.")
    vs.clear_outputs()
    folder = str(script.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        runpy.run_path(str(script), init_globals=dict(args), run_name="__vapoursynth__")
    except vs.Error:
        raise
    except Exception as exc:  # the user's script failed: one line, the traceback with -v
        raise EncodeError(
            func, f"the script {script} raised {type(exc).__name__}: {exc}", "Correct the script."
        ) from exc
    finally:
        if added:
            sys.path.remove(folder)
    outputs = vs.get_outputs()
    if index not in outputs:
        raise ClipError(
            func,
            f"the script set no output {index} (outputs: {sorted(outputs)}).",
            "Call clip.set_output() in the script or pass --index.",
        )
    node = outputs[index]
    return getattr(node, "clip", node)


def run(args: argparse.Namespace) -> int:
    from ..encode.paths import check_output
    from ..filters.pose import export_pose

    check_output("pose-export", args.output, [args.script])  # before the script runs; never the script itself
    node = load_output(args.script, dict(args.arg), args.index)
    count = export_pose(node, args.output, prefix=args.prefix, include_wholebody=args.wholebody)
    log.info("pose-export: %d frames -> %s", count, args.output)
    return 0
