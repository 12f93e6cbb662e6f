"""``python -m vsenhance.encode.sampler SCRIPT [-a k=v] [--frames N]``: load a script, time sampled frames.

Runs in its own process (started by ``vsenhance estimate`` with the same interpreter), so whatever the
script imports (torch, models) never loads into the CLI process. The script runs the way vspipe runs it
(:func:`vsenhance.script.run_script`). Anything the script prints goes to stderr; stdout carries only
the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from ..constants import HYBRID_FRAME_PROP, HYBRID_ID_PROP, PATH_PROP, RANGES_PROP
from ..errors import VSEnhanceError
from ..script import error_line, parse_script_args, run_script
from .estimate import sample_indices
from .pathmap import PathMap, map_clip, prop_text, ranges_of

__all__ = ["main", "probe"]


MAP_PROPS = (PATH_PROP, HYBRID_ID_PROP, HYBRID_FRAME_PROP, RANGES_PROP)
WARMUP_FRAMES = 1  # per path: rendered first and not timed (model load, allocations, autotuning)
TIMED_FRAMES = 4  # per path: rendered at once, as vspipe requests frames, and timed together


def probe(script: Path, script_args: dict[str, str], frames: int, output_index: int = 0) -> dict:
    """Render ``frames`` frames spread over the clip (plus its first and last) and find where its pieces of
    hybrid clips begin and end; then time each path after a warm-up, a few frames at once."""
    start = time.perf_counter()
    clip = run_script(script, script_args, output_index, func="estimate")
    load_seconds = time.perf_counter() - start
    total = clip.num_frames
    timed: dict[int, float] = {}

    def render(frames: list[int]) -> dict[int, dict]:
        out = {}
        for n in frames:
            t0 = time.perf_counter()
            frame = _get_frame(clip, n)
            timed[n] = time.perf_counter() - t0
            out[n] = {key: frame.props.get(key) for key in MAP_PROPS}
            del frame
        return out

    spread = sample_indices(total, frames)
    mapped, seen = map_clip(render, total, spread)
    samples = [
        {"frame": n, "seconds": timed[n], "path": prop_text(p[PATH_PROP]), "clip": prop_text(p[HYBRID_ID_PROP]),
         "hybrid_frame": p[HYBRID_FRAME_PROP]}
        for n, p in sorted(seen.items())
    ]  # fmt: skip
    ranges = {clip: [list(span) for span in spans] for clip, spans in ranges_of(seen).items()}
    timing = {path: _time_path(clip, path, mapped, samples) for path in sorted(mapped.frames)}
    fmt = clip.format
    return {
        "frames": total,
        "fps": [clip.fps.numerator, clip.fps.denominator],
        "width": clip.width,
        "height": clip.height,
        "format": fmt.name if fmt is not None else None,
        "load_seconds": load_seconds,
        "sampled_frames": spread,
        "samples": samples,
        "ranges": ranges,
        "timing": timing,
    }


class FrameFailed(Exception):
    """The script failed on one frame: said in one line naming it, as the encoder's workers say it."""

    def __init__(self, n: int, exc: BaseException) -> None:
        super().__init__(f"{error_line(exc)} on frame {n}" if isinstance(exc, SystemExit)
                         else f"the script failed on frame {n}: {error_line(exc)}")  # fmt: skip


def _get_frame(clip, n: int):
    try:
        return clip.get_frame(n)
    except (Exception, SystemExit) as exc:  # a frame's error, or sys.exit() in a callback
        raise FrameFailed(n, exc) from exc


def _time_path(clip, path: str, mapped: PathMap, samples: list[dict]) -> dict:
    """One warm-up frame of ``path``, then ``TIMED_FRAMES`` more requested at once: seconds per frame."""
    frames = _frames_of(path, mapped, samples, clip.num_frames)
    warm, batch = frames[:WARMUP_FRAMES], frames[WARMUP_FRAMES : WARMUP_FRAMES + TIMED_FRAMES]
    for n in warm:
        _get_frame(clip, n)
    t0 = time.perf_counter()
    for n, future in [(n, clip.get_frame_async(n)) for n in batch]:
        try:
            future.result()
        except (Exception, SystemExit) as exc:
            raise FrameFailed(n, exc) from exc
    seconds = time.perf_counter() - t0
    return {"warmup": warm, "frames": batch, "seconds": seconds,
            "seconds_per_frame": seconds / len(batch) if batch else None}  # fmt: skip


def _frames_of(path: str, mapped: PathMap, samples: list[dict], total: int) -> list[int]:
    """Frames of ``path`` to time: from its longest counted interval, else after a sample of that path."""
    wanted = WARMUP_FRAMES + TIMED_FRAMES
    if mapped.counted:
        first, last = max(mapped.intervals[path], key=lambda span: span[1] - span[0])
        return list(range(first, min(last, first + wanted - 1) + 1))
    start = next(s["frame"] for s in samples if (s["path"] or "all") == path)
    return list(range(start, min(total, start + wanted)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vsenhance.encode.sampler")
    parser.add_argument("script", type=Path)
    parser.add_argument("-a", "--arg", dest="script_args", action="append", default=[])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--output-index", type=int, default=0)
    args = parser.parse_args(argv)
    script_args = parse_script_args(args.script_args, func="estimate")
    # the result goes through a private copy of stdout; fd 1 and sys.stdout become stderr, so nothing the script
    # or a plugin prints (even with os.write(1, ...)) can corrupt it, as in the farm's workers
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        result = probe(args.script, script_args, args.frames, args.output_index)
    except FrameFailed as exc:  # the error travels as the result: one line, no traceback on stderr
        result = {"error": str(exc)}
    except VSEnhanceError as exc:  # ours (no output 0, not video): its message says it all
        result = {"error": str(exc).split("\n")[0]}
    except (Exception, SystemExit) as exc:
        traceback.print_exc()  # stderr: the user's script raised while executing; the traceback helps
        result = {"error": f"executing {args.script.name}: {error_line(exc)}"}
    channel.write(json.dumps(result) + "\n")
    channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
