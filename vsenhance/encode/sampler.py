"""``python -m vsenhance.encode.sampler SCRIPT [-a k=v] [--frames N]``: load a script, time sampled frames.

Runs in its own process (started by ``vsenhance estimate`` with the same interpreter), so whatever the
script imports (torch, models) never loads into the CLI process. The script runs the way vspipe runs it
(:func:`vsenhance.script.run_script`). Anything the script prints goes to stderr; stdout carries only
the JSON result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from ..constants import PATH_PROP
from ..script import parse_script_args, run_script
from .estimate import sample_indices

__all__ = ["main", "probe"]


def _path_of(frame) -> str | None:
    value = frame.props.get(PATH_PROP)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def probe(script: Path, script_args: dict[str, str], frames: int, output_index: int = 0) -> dict:
    start = time.perf_counter()
    clip = run_script(script, script_args, output_index, func="estimate")
    load_seconds = time.perf_counter() - start
    samples = []
    for n in sample_indices(clip.num_frames, frames):
        t0 = time.perf_counter()
        frame = clip.get_frame(n)
        seconds = time.perf_counter() - t0
        samples.append({"frame": n, "seconds": seconds, "path": _path_of(frame)})
        del frame
    fmt = clip.format
    return {
        "frames": clip.num_frames,
        "fps": [clip.fps.numerator, clip.fps.denominator],
        "width": clip.width,
        "height": clip.height,
        "format": fmt.name if fmt is not None else None,
        "load_seconds": load_seconds,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsenhance.encode.sampler")
    parser.add_argument("script", type=Path)
    parser.add_argument("-a", "--arg", dest="script_args", action="append", default=[])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--output-index", type=int, default=0)
    args = parser.parse_args(argv)
    script_args = parse_script_args(args.script_args, func="estimate")
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = probe(args.script, script_args, args.frames, args.output_index)
    real_stdout.write(json.dumps(result) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
