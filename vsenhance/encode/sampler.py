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

from .. import holds
from ..constants import (
    BACKEND_PROP,
    DEDUP_FRAME_PROP,
    DEDUP_ID_PROP,
    HYBRID_FRAME_PROP,
    HYBRID_ID_PROP,
    KEY_INTERVAL,
    PATH_PROP,
    RANGES_PROP,
)
from ..errors import EncodeError, VSEnhanceError
from ..script import error_line, parse_script_args, run_script
from .estimate import sample_indices
from .heldcount import Computed, HeldPiece, count_computed, held_pieces
from .pathmap import PathMap, map_clip, prop_text, ranges_of, sample

__all__ = ["main", "probe"]


MAP_PROPS = (PATH_PROP, HYBRID_ID_PROP, HYBRID_FRAME_PROP, RANGES_PROP, DEDUP_ID_PROP, DEDUP_FRAME_PROP)
WARMUP_FRAMES = 1  # per path: rendered first and not timed (model load, allocations, autotuning)
TIMED_FRAMES = 4  # per path: rendered at once, as vspipe requests frames, and timed together


def probe(script: Path, script_args: dict[str, str], frames: int, output_index: int = 0) -> dict:
    """Render ``frames`` frames spread over the clip (plus its first and last) and find where its pieces of
    hybrid clips begin and end; count the frames the model computes where held frames reuse their key's output
    (:mod:`.heldcount`, from the decisions alone); then time each path after a warm-up, a few frames at once
    (with reuse: a run holding that many computed frames, so the time is per computed frame)."""
    start = time.perf_counter()
    clip = run_script(script, script_args, output_index, func="estimate")
    load_seconds = time.perf_counter() - start
    total = clip.num_frames
    timed: dict[int, float] = {}
    models: dict[str, None] = {}  # what ran the network on the sampled frames, in the order first seen

    def render(frames: list[int]) -> dict[int, dict]:
        out = {}
        for n in frames:
            t0 = time.perf_counter()
            frame = _get_frame(clip, n)
            timed[n] = time.perf_counter() - t0
            out[n] = {key: frame.props.get(key) for key in MAP_PROPS}
            if made_by := _made_by(frame.props):
                models[made_by] = None
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
    computed = _count_computed(seen, mapped, total)
    ai_path = "ai" if "ai" in mapped.frames else "all"
    timing = {
        path: _time_path(clip, path, mapped, samples, computed.pieces if computed and path == ai_path else None)
        for path in sorted(mapped.frames)
    }
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
        "models": list(models),
        "timing": timing,
        "held": None if computed is None else {
            "path": ai_path, "ai_frames": computed.ai_frames, "computed": computed.computed,
            "counted": computed.counted, "frames_read": computed.frames_read, "describe": computed.describe(),
        },
    }  # fmt: skip


def _made_by(props) -> str | None:
    """``upscale``'s choices on a frame (among :data:`~vsenhance.constants.CHOICE_PROPS`) in words: ``MODEL on DEVICE
    (BACKEND, PRECISION)``; None for a frame no model made (a classic path, a fallback frame)."""
    model, device, precision, backend = (
        prop_text(props.get(key)) for key in ("VSEnhanceModel", "VSEnhanceDevice", "VSEnhancePrecision", BACKEND_PROP)
    )  # by name, not by CHOICE_PROPS's order
    if not model or not backend:
        return None
    return f"{model} on {device} ({backend}, {precision})"


def _lookup(spans: list[tuple[str, int, int]]) -> list[list[int]]:
    """Key frames from this process's decisions (the script's own graph)."""
    out = []
    for clip_id, first, last in spans:
        decisions = holds.decisions(clip_id)
        if decisions is None:
            raise EncodeError("estimate", f"the held-frame decisions {clip_id} were freed.", "report this.")
        out.append(decisions.keys(first, last))
    return out


def _count_computed(seen: dict[int, dict], mapped: PathMap, total: int) -> Computed | None:
    """Frames the model computes over the whole clip, where frames reuse held ones; None otherwise."""
    samples = [sample(n, p) for n, p in seen.items()]
    pieces = held_pieces(samples, total) if any(s.held for s in samples) else None
    spans = mapped.intervals.get("ai" if "ai" in mapped.frames else "all") if mapped.counted else None
    if pieces is None or spans is None:
        return None
    return count_computed(pieces, spans, [(0, 0, total - 1)], _lookup)


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


def _time_path(clip, path: str, mapped: PathMap, samples: list[dict], pieces: list[HeldPiece] | None) -> dict:
    """One warm-up frame of ``path``, then ``TIMED_FRAMES`` more requested at once: seconds per frame. With
    ``pieces`` (held frames reuse): as many frames after the warm-up as hold ``TIMED_FRAMES`` computed frames,
    and seconds per computed frame."""
    frames, end = _frames_of(path, mapped, samples, clip.num_frames)
    warm, batch = frames[:WARMUP_FRAMES], frames[WARMUP_FRAMES : WARMUP_FRAMES + TIMED_FRAMES]
    computed = None
    if pieces is not None and batch:
        spans = [(batch[0], end)] + (sorted(mapped.intervals[path]) if mapped.counted else [])
        batch, computed = _computed_run(pieces, spans, warm[-1])
    for n in warm:
        _get_frame(clip, n)
    t0 = time.perf_counter()
    for n, future in [(n, clip.get_frame_async(n)) for n in batch]:
        try:
            future.result()
        except (Exception, SystemExit) as exc:
            raise FrameFailed(n, exc) from exc
    seconds = time.perf_counter() - t0
    per = computed or len(batch)  # no key after the warm-up: the held frames' own time (the warm-up's the rest)
    return {"warmup": warm, "frames": batch, "computed": computed, "seconds": seconds,
            "seconds_per_frame": seconds / per if per else None}  # fmt: skip


def _frames_of(path: str, mapped: PathMap, samples: list[dict], total: int) -> tuple[list[int], int]:
    """Frames of ``path`` to time: from its longest counted interval, else after a sample of that path; and the
    last frame of the path there."""
    wanted = WARMUP_FRAMES + TIMED_FRAMES
    if mapped.counted:
        first, last = max(mapped.intervals[path], key=lambda span: span[1] - span[0])
        return list(range(first, min(last, first + wanted - 1) + 1)), last
    start = next(s["frame"] for s in samples if (s["path"] or "all") == path)
    return list(range(start, min(total, start + wanted))), total - 1


def _computed_run(pieces: list[HeldPiece], spans: list[tuple[int, int]], after: int) -> tuple[list[int], int]:
    """Frames holding ``TIMED_FRAMES`` computed frames: from the first key frame after ``after`` (the warm-up)
    in ``spans`` (the path's frames, the warm-up's first), each key of them shown first in the run; and how
    many they hold (0: no key follows, the frames after the warm-up are timed as they are)."""
    for first, last in spans:
        first = max(first, after + 1)
        for piece in pieces:
            lo, hi = max(first, piece.first), min(last, piece.last, first + TIMED_FRAMES * KEY_INTERVAL - 1)
            if lo > hi:
                continue
            if piece.clip is None:
                run = list(range(lo, min(hi, lo + TIMED_FRAMES - 1) + 1))
                return run, len(run)
            keys = _lookup([(piece.clip, lo + piece.offset, hi + piece.offset)])[0]
            start = next((i for i, key in enumerate(keys) if key == lo + i + piece.offset), None)
            if start is None:
                continue
            run, distinct = [], set()
            for i in range(start, len(keys)):
                distinct.add(keys[i])
                if len(distinct) > TIMED_FRAMES:
                    break
                run.append(lo + i)
            return run, len(distinct)
    return list(range(after + 1, min(spans[0][1], after + TIMED_FRAMES) + 1)), 0


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
