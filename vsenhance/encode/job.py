"""``vsenhance encode``: plan, resume, encode the missing segments, join, clean up."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..errors import ClipError, EncodeError, PlanMismatchError
from .concat import concat_segments
from .info import read_clip_info
from .plan import EncoderSettings, Plan, hash_file
from .progress import GpuMonitor, Progress
from .run import SegmentJob, encode_segment
from .state import EncodeState, state_dir_for
from .tools import find_ffmpeg, find_vspipe

__all__ = ["EncodeOptions", "run_encode"]


@dataclass(frozen=True)
class EncodeOptions:
    script: Path
    output: Path
    script_args: tuple[str, ...] = ()
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    segment_frames: int = 1000
    resume: bool = False
    restart: bool = False
    overwrite: bool = False
    audio: Path | None = None
    keep_segments: bool = False


def run_encode(opts: EncodeOptions, stream: TextIO | None = None) -> int:
    """Run (or resume) an encode. Returns 0, or 130 after Ctrl-C (children ended, state left valid)."""
    err = stream if stream is not None else sys.stderr
    script, output = opts.script.resolve(), Path(os.path.abspath(opts.output))
    if not script.is_file():
        raise ClipError("encode", f"the script {opts.script} does not exist.", "check the path.")
    if not output.parent.is_dir():
        raise ClipError("encode", f"the output folder {output.parent} does not exist.", "create it first.")
    if opts.audio is not None and not opts.audio.is_file():
        raise ClipError("encode", f"the audio source {opts.audio} does not exist.", "check the path.")
    if opts.segment_frames <= 0:
        raise ClipError("encode", f"--segment-frames {opts.segment_frames} is not positive.", "pass N > 0.")
    vspipe, ffmpeg = find_vspipe(), find_ffmpeg()

    info = read_clip_info(script, list(opts.script_args))
    plan = Plan(
        script=str(script),
        script_sha256=hash_file(script),
        script_args=tuple(opts.script_args),
        encoder=opts.encoder,
        segment_frames=opts.segment_frames,
        total_frames=info.frames,
        fps_num=info.fps_num,
        fps_den=info.fps_den,
        width=info.width,
        height=info.height,
    )
    state = EncodeState(state_dir_for(output))

    resuming = False
    if state.exists():
        if opts.restart:
            _tell(err, f"--restart: discarding the previous plan and segments in {state.dir}")
            state.clear()
        else:
            old = state.load_plan()
            if old.fingerprint != plan.fingerprint:
                changes = "; ".join(plan_diff(old, plan)) or "the fingerprint"
                raise PlanMismatchError(
                    "encode",
                    f"{state.dir} holds a plan for a different job ({changes} changed), "
                    "so its segments cannot be mixed with this encode.",
                    "restore the old script/arguments/settings to resume it, use another -o, "
                    "or pass --restart to discard the old segments.",
                )
            resuming = True
    elif opts.resume:
        raise EncodeError(
            "encode", f"--resume was given but there is no plan in {state.dir}.", "run without --resume to start."
        )
    if output.exists() and not opts.overwrite:
        raise EncodeError("encode", f"the output {output} already exists.", "pass -y/--overwrite or another -o.")

    if not resuming:
        state.write_plan(plan)
    done = state.scan_done(plan)  # verifies every segment file with ffprobe
    segments = plan.segments
    resumed_frames = sum(done.values())
    _tell(
        err,
        f"encode: {script.name} -> {output.name}: {plan.total_frames} frames "
        f"({info.width}x{info.height} {info.format} {info.fps_num}/{info.fps_den} fps), "
        f"{len(segments)} segments of {plan.segment_frames}, {opts.encoder.describe()}",
    )
    if resuming:
        _tell(
            err,
            f"resuming: found a matching plan in {state.dir}; {len(done)} of {len(segments)} segments "
            f"({resumed_frames} frames) already done",
        )

    progress = Progress(plan.total_frames, resumed=resumed_frames, stream=err, gpu=GpuMonitor())
    try:
        for seg in segments:
            if seg.index in done:
                continue
            job = SegmentJob(
                vspipe, ffmpeg, script, plan.script_args, plan.encoder, seg,
                state.partial_path(seg), state.segment_path(seg),
            )  # fmt: skip
            encode_segment(job, on_frames=progress.set_current)
            done[seg.index] = seg.frames
            state.write_done(plan, done)
            progress.segment_done(seg.frames)
        progress.finish()
        concat_segments(
            ffmpeg, state.dir / "concat.txt", [state.segment_path(s) for s in segments], output,
            plan.total_frames, opts.audio,
        )  # fmt: skip
    except KeyboardInterrupt:
        progress.segment_discarded()
        progress.message(
            f"interrupted: {len(done)} of {len(segments)} segments are done and kept in {state.dir}; "
            "run the same command again to resume"
        )
        progress.finish()
        return 130
    except BaseException:
        progress.finish()
        raise

    if opts.keep_segments:
        _tell(err, f"done: {output} ({plan.total_frames} frames); segments kept in {state.dir}")
    else:
        state.clear()
        _tell(err, f"done: {output} ({plan.total_frames} frames)")
    return 0


def plan_diff(old: Plan, new: Plan) -> list[str]:
    return old.differences(new)


def _tell(stream: TextIO, message: str) -> None:
    """A status line for the person running the encode (stderr: stdout may be a pipe)."""
    stream.write(message + "\n")
    stream.flush()
