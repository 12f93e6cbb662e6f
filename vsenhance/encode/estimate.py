"""``vsenhance estimate``: render frames spread across the script and project the total render time.

How it works: a sampler subprocess (:mod:`vsenhance.encode.sampler`, same interpreter, so torch never loads into
the CLI) loads the script and renders N frames at evenly spaced positions over the whole clip, timing each
one. Counting the hybrid filter's paths over the whole clip from frame props would mean rendering it, so the
split is sampled too: each sampled frame's ``VSEnhancePath`` prop (``"ai"`` or ``"lanczos"``) says which path
made it; a path's share of the clip is its share of the samples, its speed the mean time of its samples
(leaving out its first sample when it has three or more, since that one pays warm-up such as model loading).
Projected time = sum over paths of (share × total frames × seconds per frame). Frames are timed one at a time,
so filters that gain from parallel requests may run faster under vspipe; the encoder's own time is not
included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import ClipError, EncodeError
from ..script import ScriptArgs, script_args_argv
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


def _path_seconds(times: list[float]) -> float:
    kept = times[1:] if len(times) >= 3 else times
    return sum(kept) / len(kept)


def build_estimate(probe: dict) -> dict:
    """Turn the probe's samples into per-path shares, speeds and the projected total time."""
    total = int(probe["frames"])
    samples = probe["samples"]
    if not samples:
        raise EncodeError("estimate", "no frames were sampled.", "pass --frames 1 or more.")
    groups: dict[str, list[float]] = {}
    for s in samples:
        groups.setdefault(s["path"] or "all", []).append(float(s["seconds"]))
    paths = {}
    projected = 0.0
    for name, times in sorted(groups.items()):
        share = len(times) / len(samples)
        spf = _path_seconds(times)
        frames = share * total
        paths[name] = {
            "samples": len(times),
            "share": share,
            "seconds_per_frame": spf,
            "fps": 1 / spf if spf > 0 else None,
            "projected_frames": round(frames),
            "projected_seconds": frames * spf,
        }
        projected += frames * spf
    fps_num, fps_den = probe["fps"]
    return {
        "frames": total,
        "fps": [fps_num, fps_den],
        "width": probe["width"],
        "height": probe["height"],
        "format": probe.get("format"),
        "duration_seconds": total * fps_den / fps_num if fps_num else None,
        "load_seconds": probe.get("load_seconds"),
        "sampled_frames": [s["frame"] for s in samples],
        "hybrid": set(groups) != {"all"},
        "paths": paths,
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
    if est["hybrid"]:
        for name, p in est["paths"].items():
            lines.append(
                f"  {name}: {p['share'] * 100:.0f}% of samples ({p['samples']}) -> ~{p['projected_frames']} frames "
                f"at {p['fps']:.2f} fps = {dur(p['projected_seconds'])}"
            )
    fps = est["render_fps"]
    lines.append(f"render speed: {fps:.2f} fps" if fps else "render speed: ?")
    lines.append(
        f"projected render time for {est['frames']} frames: {dur(est['projected_seconds'])} "
        "(frames timed one by one; encoder time not included)"
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
        return json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise EncodeError("estimate", f"the probe printed no result ({exc}).", "report this.") from exc


def run_estimate(script: Path, script_args: ScriptArgs, frames: int) -> dict:
    """Probe ``frames`` frames spread over the script and project the whole clip's render time."""
    if not script.is_file():
        raise ClipError("estimate", f"the script {script} does not exist.", "check the path.")
    if frames <= 0:
        raise ClipError("estimate", f"--frames {frames} is not positive.", "pass --frames 1 or more.")
    return build_estimate(run_probe(script, script_args, frames))
