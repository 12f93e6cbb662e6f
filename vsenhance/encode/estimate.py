"""``vsenhance estimate``: how many frames take each path, how fast each path is, and the projected render time.

How it works: a sampler subprocess (:mod:`vsenhance.encode.sampler`, same interpreter, so torch never loads into
the CLI) loads the script and renders N frames spread over the whole clip (and its first and last). Frames of
``upscale_ranges`` clips carry their clip's map (its AI ranges, the frame's number in it, the clip's id), so the
AI frames of the final clip are counted exactly through trims and splices (:mod:`.pathmap`, which bisects to
each boundary between pieces); where frames carry no map the split is the samples' and the output says so.
Each path is then timed on its own frames: one warm-up frame (model loading, allocations), then several frames
requested at once, as vspipe requests them. Projected time = sum over paths of frames × seconds per frame; the
encoder's own time is not included. Where held frames reuse their key frame's AI output, the sampler counts the
frames the model computes (:mod:`.heldcount`, from the decisions alone) and times a run of frames holding
several computed ones: that path's time is computed frames × seconds per computed frame.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import ClipError, EncodeError
from ..script import ScriptArgs, check_script, script_args_argv
from .pathmap import Sample, map_paths
from .programs import child_env, stderr_tail
from .progress import format_duration

__all__ = ["build_estimate", "format_estimate", "run_estimate", "sample_indices"]


def sample_indices(total: int, count: int) -> list[int]:
    """``count`` frame numbers spread evenly over ``[0, total)`` (centres of equal parts); all if fewer."""
    if total <= 0 or count <= 0:
        return []
    if count >= total:
        return list(range(total))
    return sorted({min(total - 1, int((i + 0.5) * total / count)) for i in range(count)})


def build_estimate(probe: dict) -> dict:
    """The sampler's measurements as frame counts per path (counted from the clips' maps where they allow it),
    seconds per frame per path (timed after a warm-up, several frames at once) and the projected total."""
    total = int(probe["frames"])
    samples = [Sample(s["frame"], s["path"], s.get("clip"), s.get("hybrid_frame")) for s in probe["samples"]]
    if not samples:
        raise EncodeError("estimate", "no frames were sampled.", "pass --frames 1 or more.")
    ranges = {clip: [tuple(r) for r in spans] for clip, spans in probe.get("ranges", {}).items()}
    mapped = map_paths(samples, ranges, total)
    held = probe.get("held")
    paths = {}
    projected = 0.0
    for name in sorted(mapped.frames):
        frames = mapped.frames[name]
        timing = probe["timing"].get(name, {})
        spf = timing.get("seconds_per_frame") or 0.0  # per computed frame where held frames reuse
        computed = held["computed"] if held and held["path"] == name else None
        cost = (frames if computed is None else computed) * spf
        paths[name] = {
            "frames": frames,
            "counted": mapped.counted,
            "share": frames / total if total else 0.0,
            "computed": computed,
            "held": None if computed is None else held["describe"],
            "seconds_per_frame": spf,
            "fps": 1 / spf if spf > 0 else None,
            "timed_frames": timing.get("frames", []),
            "warmup_frames": timing.get("warmup", []),
            "projected_seconds": cost,
        }
        projected += cost
    fps_num, fps_den = probe["fps"]
    return {
        "frames": total,
        "fps": [fps_num, fps_den],
        "width": probe["width"],
        "height": probe["height"],
        "format": probe.get("format"),
        "duration_seconds": total * fps_den / fps_num if fps_num else None,
        "load_seconds": probe.get("load_seconds"),
        "sampled_frames": probe.get("sampled_frames", [s.frame for s in samples]),
        "rendered_frames": len(probe["samples"]),
        "hybrid": set(mapped.frames) != {"all"},
        "counted": mapped.counted,
        "mapping": mapped.note,
        "paths": paths,
        "models": probe.get("models", []),
        "render_fps": total / projected if projected > 0 else None,
        "projected_seconds": projected,
    }


def format_estimate(est: dict, lang: str = "en") -> str:
    def dur(s: float | None) -> str:
        return format_duration(s, lang)

    fn, fd = est["fps"]
    sampled = est["sampled_frames"]
    lines = [
        f"clip: {est['frames']} frames, {est['width']}x{est['height']} {est['format']}, "
        f"{fn}/{fd} fps ({dur(est['duration_seconds'])} of video); script loaded in {est['load_seconds']:.2f}s",
        f"sampled {len(sampled)} frames spread over {sampled[0]}..{sampled[-1]}",
    ]
    lines.append(f"paths: {est['mapping']}")
    if est.get("models"):  # what the timings were measured with: a projection holds for these choices only
        lines.append(f"model: {'; '.join(est['models'])}")
    for name, p in est["paths"].items():
        how = "counted" if p["counted"] else "estimated from the samples"
        speed = f"{p['fps']:.2f} fps" if p["fps"] else "? fps"
        if p.get("computed") is not None:
            lines.append(f"  {name}: {p['held']}: {p['computed']} computed frames at {speed} "
                         f"= {dur(p['projected_seconds'])}")  # fmt: skip
            continue
        lines.append(f"  {name}: {p['frames']} frames ({how}) at {speed} = {dur(p['projected_seconds'])}")
    fps = est["render_fps"]
    lines.append(f"render speed: {fps:.2f} fps" if fps else "render speed: ?")
    lines.append(
        f"projected render time for {est['frames']} frames: {dur(est['projected_seconds'])} "
        "(each path timed after a warm-up frame, several frames at once; encoder time not included)"
    )
    return "\n".join(lines)


def run_probe(script: Path, script_args: ScriptArgs, frames: int) -> dict:
    argv = [sys.executable, "-m", "vsenhance.encode.sampler", os.fspath(script), "--frames", str(frames)]
    argv += script_args_argv(script_args)
    done = subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = stderr_tail(done.stderr)
        raise EncodeError(
            "estimate", f"the probe of {script} failed (exit code {done.returncode}):\n{tail}", "fix the script."
        )
    try:
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise EncodeError("estimate", f"the probe printed no result ({exc}).", "report this.") from exc
    if "error" in result:
        raise EncodeError(
            "estimate", f"{result['error']}.", "fix the script (try the frame with `vspipe SCRIPT -s N -e N -`)."
        )
    return result


def run_estimate(script: Path, script_args: ScriptArgs, frames: int) -> dict:
    """Probe ``frames`` frames spread over the script and project the whole clip's render time."""
    check_script(script, "estimate")
    if frames <= 0:
        raise ClipError("estimate", f"--frames {frames} is not positive.", "pass --frames 1 or more.")
    return build_estimate(run_probe(script, script_args, frames))
