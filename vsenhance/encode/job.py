"""``vsenhance encode``: check the request, lock the output, start the workers, plan (or resume) from the clip
the first worker sees, let the scheduler encode the missing segments, join them, clean up.

The plan is written only once a worker has executed the script and the clip is known to be encodable, so a
job that fails before its first segment leaves nothing that a changed rerun must ``--restart`` past; a plan
without any finished segment never blocks a different job either.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TextIO

from ..errors import ClipError, EncodeError, PlanMismatchError
from ..files import same_file, sha256_file
from .audio import AudioSource, plan_audio, probe_audio
from .colour import ColourTags, clip_colour, format_bits
from .concat import concat_segments
from .encoder import EncoderSettings, hdr_warnings, segment_argv
from .estimate import sample_indices
from .farm.protocol import ClipSummary, Pool, RenderTask
from .farm.scheduler import Scheduler
from .lock import OutputLock
from .plan import Plan, Segment
from .progress import GpuMonitor, Progress
from .state import EncodeState, disk_full_error, state_dir_for
from .tools import find_ffmpeg, find_ffprobe

__all__ = ["EncodeOptions", "parse_gpus", "render_task", "run_encode"]

Y4M_FAMILIES = ("YUV", "GRAY")
COLOUR_SAMPLES = 4  # frames besides frame 0 whose colour props are compared with frame 0's (see clip_colour)
_RAY_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


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
    audio_start: int | Fraction | None = None  # --audio-start: a frame number of the source, or seconds
    keep_segments: bool = False
    workers: int | None = None  # None: 1 (per GPU with gpus); with ray: one per node (per GPU on a GPU cluster)
    gpus: str | None = None  # "0,1,3"
    ray: str | None = None  # "auto", "HOST:PORT" or "ray://HOST:PORT"
    max_retries: int = 2


def parse_gpus(text: str | None) -> tuple[int, ...]:
    """``"0,1,3"`` -> ``(0, 1, 3)``; empty for None."""
    if text is None:
        return ()
    items = [item.strip() for item in text.split(",")]
    if not items or not all(item.isdigit() for item in items) or len(set(items)) != len(items):
        raise ClipError(
            "encode", f"--gpus {text!r} is not a list of distinct GPU numbers.", "pass e.g. --gpus 0 or --gpus 0,1,3."
        )
    return tuple(int(item) for item in items)


def _validate(opts: EncodeOptions, script: Path, output: Path) -> tuple[int, ...]:
    """Every check that needs no worker, before anything starts."""
    if not script.is_file():
        raise ClipError("encode", f"the script {opts.script} does not exist.", "check the path.")
    if not output.parent.is_dir():
        raise ClipError("encode", f"the output folder {output.parent} does not exist.", "create it first.")
    if any(same_file(output, source) for source in (script, opts.audio) if source is not None):  # links too
        raise ClipError("encode", f"the output {output} is one of the inputs.", "pass another -o.")
    if opts.audio is not None and not opts.audio.is_file():
        raise ClipError("encode", f"the audio source {opts.audio} does not exist.", "check the path.")
    if opts.audio_start is not None and opts.audio is None:
        raise ClipError("encode", "--audio-start was given without --audio.", "pass --audio SOURCE too.")
    if opts.segment_frames <= 0:
        raise ClipError("encode", f"--segment-frames {opts.segment_frames} is not positive.", "pass N > 0.")
    if opts.workers is not None and opts.workers < 1:
        raise ClipError("encode", f"--workers {opts.workers} is less than 1.", "pass --workers 1 or more.")
    if opts.max_retries < 0:
        raise ClipError("encode", f"--max-retries {opts.max_retries} is negative.", "pass 0 or more.")
    gpus = parse_gpus(opts.gpus)
    if opts.ray is not None:
        if gpus:
            raise ClipError(
                "encode", "--gpus and --ray were both given.", "leave --gpus out: Ray gives each worker one GPU."
            )
        if not _RAY_ADDRESS.match(opts.ray):
            raise ClipError(
                "encode", f"--ray {opts.ray!r} is not a Ray address.", "pass auto, HOST:PORT or ray://HOST:PORT."
            )
        if importlib.util.find_spec("ray") is None:
            raise EncodeError("encode", "--ray needs Ray, which is not installed.", "pip install 'vsenhance[cluster]'.")
    return gpus


def run_encode(opts: EncodeOptions, stream: TextIO | None = None) -> int:
    """Run (or resume) an encode. Returns 0, or 130 after Ctrl-C (workers ended, state left valid)."""
    err = stream if stream is not None else sys.stderr
    script, output = opts.script.resolve(), Path(os.path.abspath(opts.output))
    gpus = _validate(opts, script, output)
    ffmpeg = find_ffmpeg()
    audio = probe_audio(find_ffprobe(), opts.audio) if opts.audio is not None else None
    state = EncodeState(state_dir_for(output))
    # every field but the frame count is known now: a refused rerun costs no worker start
    draft = Plan(
        script=str(script),
        script_sha256=sha256_file(script),
        script_args=tuple(opts.script_args),
        encoder=opts.encoder,
        segment_frames=opts.segment_frames,
        total_frames=0,
    )
    try:
        with OutputLock(state.dir):
            return _locked(opts, script, output, gpus, ffmpeg, state, draft, audio, err)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_full_error("encode", state.dir, str(exc)) from exc
        raise
    finally:
        with contextlib.suppress(OSError):  # only if the job left it empty (the lock file is gone)
            state.dir.rmdir()


def _locked(
    opts: EncodeOptions, script: Path, output: Path, gpus: tuple[int, ...], ffmpeg: Path, state: EncodeState,
    draft: Plan, audio: AudioSource | None, err: TextIO,
) -> int:  # fmt: skip
    if state.exists() and not opts.restart:
        old = state.load_plan()
        _check_previous(state, replace(draft, total_frames=old.total_frames, colour=old.colour), err)
    elif opts.resume and not state.exists():
        raise EncodeError(
            "encode", f"--resume was given but there is no plan in {state.dir}.", "run without --resume to start."
        )
    if output.exists() and not opts.overwrite:
        raise EncodeError("encode", f"the output {output} already exists.", "pass -y/--overwrite or another -o.")

    pool, where = _make_pool(opts, script, gpus, state)
    scheduler = Scheduler(pool, max_retries=opts.max_retries)
    progress: Progress | None = None
    done: dict[int, int] = {}
    of = ""  # " of M" once the plan is known
    try:
        workers = scheduler.start()
        _tell(
            err, f"encode: started {workers} worker{'s' if workers > 1 else ''} ({where}); each executes {script.name}"
        )
        clip = scheduler.first_ready()
        _check_clip(clip, script)
        props = scheduler.probe((0,))  # the tags and _AbsoluteTime: a script failing here fails the encode
        samples = tuple(n for n in sample_indices(clip.frames, COLOUR_SAMPLES) if n)
        unchecked = None
        try:  # best effort: a frame that fails here fails (and is retried) with its segment
            props |= scheduler.probe(samples) if samples else {}
        except EncodeError as exc:
            unchecked = f"frames {list(samples)} could not be compared with frame 0's colour: {exc.problem}"
        colour, colour_warnings = clip_colour(props, clip.format)
        colour_warnings += [unchecked] if unchecked else []
        plan = replace(
            draft, total_frames=clip.frames, fps_num=clip.fps_num, fps_den=clip.fps_den,
            width=clip.width, height=clip.height, colour=colour,
        )  # fmt: skip
        cut = None
        if audio is not None:
            absolute = props.get(0, {}).get("_AbsoluteTime")
            cut = plan_audio(audio, opts.audio_start, absolute, clip.frames, clip.fps_num, clip.fps_den)
        if opts.restart and state.exists():
            _tell(err, f"--restart: discarding the previous plan and segments in {state.dir}")
            state.clear()
        resuming = state.exists() and _check_previous(state, plan, err)
        if not resuming:
            state.write_plan(plan)
        done = state.scan_done(plan)  # verifies every segment file with ffprobe, drops leftovers
        segments = plan.segments
        of = f" of {len(segments)}"
        resumed_frames = sum(done.values())
        _tell(
            err,
            f"encode: {script.name} -> {output.name}: {plan.total_frames} frames "
            f"({clip.width}x{clip.height} {clip.format} {clip.fps_num}/{clip.fps_den} fps), "
            f"{len(segments)} segments of {plan.segment_frames}, {opts.encoder.describe()}",
        )
        _tell(err, f"colour: {colour.describe()}")
        for warning in [*colour_warnings, *hdr_warnings(colour, plan.encoder.encoder, format_bits(clip.format))]:
            _tell(err, f"warning: {warning}")
        if cut is not None:
            _tell(err, cut.describe())
        if resuming:
            _tell(
                err,
                f"resuming: found a matching plan in {state.dir}; {len(done)} of {len(segments)} segments "
                f"({resumed_frames} frames) already done",
            )
        progress = Progress(plan.total_frames, resumed=resumed_frames, stream=err, gpu=GpuMonitor())
        make_task = functools.partial(render_task, ffmpeg, plan.encoder, state, colour=plan.colour)
        scheduler.run(plan, state, done, make_task, progress)
        progress.update(force=True)
        progress.finish()
        pool.shutdown()
        concat_segments(
            ffmpeg, state.dir / "concat.txt", [state.segment_path(s) for s in segments], output,
            plan.total_frames, cut,
        )  # fmt: skip
    except KeyboardInterrupt:
        _stop(pool, state)
        text = (
            f"interrupted: {len(done)}{of} segments are done and kept in {state.dir}; "
            "run the same command again to resume"
        )
        if progress is not None:
            progress.message(text)
            progress.finish()
        else:
            _tell(err, text)
        return 130
    except BaseException:
        _stop(pool, state)
        if progress is not None:
            progress.finish()
        raise

    if opts.keep_segments:
        _tell(err, f"done: {output} ({plan.total_frames} frames); segments kept in {state.dir}")
    else:
        state.clear()
        _tell(err, f"done: {output} ({plan.total_frames} frames)")
    return 0


def render_task(
    ffmpeg: Path, encoder: EncoderSettings, state: EncodeState, seg: Segment, worker_id: str, attempt: int,
    colour: ColourTags | None = None,
) -> RenderTask:  # fmt: skip
    """One attempt at a segment: its frames, and the ffmpeg that writes them to a partial file unique to the
    attempt, which the worker renames to the segment's name when ffmpeg succeeds."""
    partial = state.partial_path(seg, worker_id, attempt)
    return RenderTask(
        index=seg.index,
        first=seg.first,
        last=seg.last,
        ffmpeg_argv=tuple(segment_argv(ffmpeg, encoder, partial, colour)),
        partial=os.fspath(partial),
        final=os.fspath(state.segment_path(seg)),
        attempt=attempt,
    )


def _make_pool(opts: EncodeOptions, script: Path, gpus: tuple[int, ...], state: EncodeState) -> tuple[Pool, str]:
    """The pool, and where its workers run (for the first status line)."""
    if opts.ray is not None:
        from .farm.ray_pool import RayPool

        return RayPool(opts.ray, script, opts.script_args, state_dir=state.dir, workers=opts.workers), f"Ray {opts.ray}"
    from .farm.local import LocalPool

    workers = opts.workers or 1
    pool = LocalPool(script, opts.script_args, workers=workers, gpus=[str(g) for g in gpus], per_gpu=workers)
    where = f"GPUs {','.join(map(str, gpus))}, {workers} per GPU" if gpus else "this machine"
    return pool, where


def _stop(pool: Pool, state: EncodeState) -> None:
    """End the workers and their ffmpeg, then drop every partial file (the pool's, and any it missed)."""
    with contextlib.suppress(Exception):
        pool.shutdown()
    for partial in state.partials():
        with contextlib.suppress(OSError):
            partial.unlink()


def _check_clip(clip: ClipSummary, script: Path) -> None:
    """y4m carries one constant YUV or GRAY format and size: refuse anything else before any segment."""
    if clip.frames <= 0:
        raise ClipError("encode", f"the output clip of {script.name} has {clip.frames} frames.", "check the script.")
    if clip.width == 0 or clip.height == 0 or clip.format is None:
        raise ClipError(
            "encode",
            f"the output clip of {script.name} has a variable frame size or format, which y4m cannot carry.",
            "resize to one constant size and format in the script.",
        )
    if clip.color_family not in Y4M_FAMILIES:
        raise ClipError(
            "encode",
            f"the output clip of {script.name} is {clip.format} ({clip.color_family}); y4m carries only YUV or GRAY.",
            'use output_format="same" (the source\'s YUV format) in vse.upscale, or a resize line such as '
            'clip = core.resize.Bicubic(clip, format=vs.YUV420P10, matrix_s="709").',
        )


def _check_previous(state: EncodeState, plan: Plan, err: TextIO) -> bool:
    """True to resume the saved plan. A different one is refused if any segment of it exists, else replaced."""
    old = state.load_plan()
    if old.fingerprint == plan.fingerprint:
        return True
    changes = "; ".join(old.differences(plan)) or "the fingerprint"
    if not state.has_segments():
        _tell(err, f"replacing the plan in {state.dir} ({changes} changed): it has no finished segment")
        state.clear()
        return False
    raise PlanMismatchError(
        "encode",
        f"{state.dir} holds a plan for a different job ({changes} changed), "
        "so its segments cannot be mixed with this encode.",
        "restore the old script/arguments/settings to resume it, use another -o, "
        "or pass --restart to discard the old segments.",
    )


def _tell(stream: TextIO, message: str) -> None:
    """A status line for the person running the encode (stderr: stdout may be a pipe)."""
    stream.write(message + "\n")
    stream.flush()
