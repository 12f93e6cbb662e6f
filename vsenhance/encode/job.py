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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TextIO, cast

from ..errors import ClipError, EncodeError, FileError, PlanMismatchError
from ..files import can_create_in, check_output, sha256_file
from ..script import ScriptArgs, check_script
from .audio import AudioCut, AudioSource, plan_audio, probe_audio
from .colour_tags import ColourTags, clip_colour, format_bits
from .concat import concat_segments, dry_join
from .encoder import EncoderSettings, check_container, dry_run, hdr_warnings, segment_argv
from .estimate import sample_indices
from .farm.protocol import ClipSummary, Pool, RenderTask
from .heldcount import Computed, count_computed, held_pieces
from .lock import OutputLock
from .pathmap import PathMap, map_clip, sample, segment_ai_frames
from .plan import DEFAULT_SEGMENT_FRAMES, Plan, Segment, env_digests
from .programs import find_ffmpeg, find_ffprobe
from .progress import GpuMonitor, ProgressDisplay
from .scheduler import DEFAULT_MAX_RETRIES, DEFAULT_STALL_SECONDS, Scheduler
from .state import EncodeState, disk_full_error, state_dir_for
from .verify import Record

__all__ = ["EncodeOptions", "render_task", "run_encode"]

Y4M_FAMILIES = ("YUV", "GRAY")
COLOUR_SAMPLES = 4  # frames besides frame 0 whose colour props are compared with frame 0's (see clip_colour)
_RAY_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


@dataclass(frozen=True)
class EncodeOptions:
    script: Path
    output: Path
    script_args: ScriptArgs = field(default_factory=dict)  # parsed once, by the CLI
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    resume: bool = False
    restart: bool = False
    overwrite: bool = False
    audio: Path | None = None
    audio_start: int | Fraction | None = None  # --audio-start: a frame number of the source, or seconds
    keep_segments: bool = False
    workers: int | None = None  # None: 1 (per GPU with gpus); with ray: one per node (per GPU on a GPU cluster)
    gpus: tuple[int, ...] = ()  # --gpus 0,1,3
    ray: str | None = None  # "auto", "HOST:PORT" or "ray://HOST:PORT"
    max_retries: int = DEFAULT_MAX_RETRIES
    stall_timeout: float = DEFAULT_STALL_SECONDS  # seconds without a frame before a rendering worker is ended
    env: dict[str, str] = field(default_factory=dict)  # --env: variables every worker's script sees, local or Ray


def _validate(opts: EncodeOptions, script: Path, output: Path) -> None:
    """Every check that needs no worker, before anything starts."""
    check_script(opts.script, "encode")
    # the joined file is renamed into place once checked: a FIFO or device is refused, never replaced
    check_output("encode", output, [script, opts.audio], stream=False)
    if opts.audio is not None and opts.audio.is_dir():
        raise FileError("encode", f"the audio source {opts.audio} is a folder.", "pass the file that holds the audio.")
    if opts.audio is not None and opts.audio.exists() and not opts.audio.is_file():
        raise FileError(
            "encode", f"the audio source {opts.audio} is not a regular file (a FIFO or a device).",
            "pass the file that holds the audio: it is read twice (probed, then muxed).",
        )  # fmt: skip
    if opts.audio is not None and not opts.audio.is_file():
        raise FileError("encode", f"the audio source {opts.audio} does not exist.", "check the path.")
    if opts.audio_start is not None and opts.audio is None:
        raise ClipError("encode", "--audio-start was given without --audio.", "pass --audio SOURCE too.")
    container = check_container(output, opts.encoder.encoder)
    if container is not None:
        raise ClipError("encode", f"{container}.", "name the output .mkv (any encoder), or pick a matching --encoder.")
    state_dir = state_dir_for(output)
    if state_dir.exists() and not state_dir.is_dir():
        raise FileError(
            "encode", f"{state_dir}, where this encode keeps its state, is a file.",
            "move it away, or pass another -o.",
        )  # fmt: skip
    if state_dir.is_dir() and not can_create_in(state_dir):  # another user's, or made read-only: not a traceback
        raise FileError(
            "encode", f"{state_dir}, where this encode keeps its state, cannot be written by this user.",
            "give this user write permission to it (chmod u+w, or chown), or pass another -o.",
        )  # fmt: skip
    if opts.resume and opts.restart:
        raise ClipError(
            "encode", "--resume and --restart were both given: one keeps the finished segments, one discards them.",
            "pass one of them.",
        )  # fmt: skip
    if opts.segment_frames <= 0:
        raise ClipError("encode", f"--segment-frames {opts.segment_frames} is not positive.", "pass N > 0.")
    if opts.workers is not None and opts.workers < 1:
        raise ClipError("encode", f"--workers {opts.workers} is less than 1.", "pass --workers 1 or more.")
    if opts.max_retries < 0:
        raise ClipError("encode", f"--max-retries {opts.max_retries} is negative.", "pass 0 or more.")
    if not opts.stall_timeout > 0:  # NaN too
        raise ClipError("encode", f"--stall-timeout {opts.stall_timeout} is not positive.", "pass seconds, e.g. 900.")
    if opts.ray is not None:
        if opts.gpus:
            raise ClipError(
                "encode", "--gpus and --ray were both given.", "leave --gpus out: Ray gives each worker one GPU."
            )
        if not _RAY_ADDRESS.match(opts.ray) or (
            opts.ray != "auto" and not 1 <= int(opts.ray.rsplit(":", 1)[1]) <= 65535
        ):
            raise ClipError(
                "encode", f"--ray {opts.ray!r} is not a Ray address.", "pass auto, HOST:PORT or ray://HOST:PORT."
            )
        if importlib.util.find_spec("ray") is None:
            raise EncodeError("encode", "--ray needs Ray, which is not installed.", "pip install 'vsenhance[cluster]'.")
        if opts.ray.startswith("ray://") and importlib.util.find_spec("grpc") is None:
            raise EncodeError(
                "encode", f"--ray {opts.ray} is a Ray Client address, and Ray Client (grpcio) is not installed.",
                "pip install 'ray[client]', or pass the cluster's HOST:PORT (GCS port) instead.",
            )  # fmt: skip


def run_encode(opts: EncodeOptions, stream: TextIO | None = None) -> int:
    """Run (or resume) an encode. Returns 0, or 130 after Ctrl-C (workers ended, state left valid)."""
    err = stream if stream is not None else sys.stderr
    script, output = opts.script.resolve(), Path(os.path.abspath(opts.output))
    _validate(opts, script, output)
    ffmpeg, ffprobe = (
        find_ffmpeg("encode"),
        find_ffprobe("encode"),
    )  # both before any worker: the join is checked with ffprobe
    audio = probe_audio(ffprobe, opts.audio) if opts.audio is not None else None
    if audio is not None:
        audio.check_start(opts.audio_start)
    with tempfile.TemporaryDirectory(prefix="vsenhance-dry-run-") as tmp:  # the encoder's options, then the join
        dry_join(ffmpeg, dry_run(ffmpeg, opts.encoder, Path(tmp)), output, opts.audio)
    for warning in _placement_warnings(opts):
        _tell(err, f"warning: {warning}")
    state = EncodeState(state_dir_for(output))
    # every field but the frame count is known now: a refused rerun costs no worker start
    draft = Plan(
        script=str(script),
        script_sha256=sha256_file(script),
        script_args=opts.script_args,
        encoder=opts.encoder,
        segment_frames=opts.segment_frames,
        total_frames=0,
        env=env_digests(opts.env),
    )
    try:
        with OutputLock(state.dir):
            return _Job(opts, script, output, ffmpeg, state, audio, err).run(draft)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_full_error("encode", state.dir, str(exc)) from exc
        raise
    finally:
        with contextlib.suppress(OSError):  # only if the job left it empty (the lock file is gone)
            state.dir.rmdir()


@dataclass
class _Job:
    """One locked run of an encode, as named steps: check the saved state, start the workers, plan from the
    clip they see, encode the missing segments, join them, clean up (or stop cleanly on Ctrl-C)."""

    opts: EncodeOptions
    script: Path
    output: Path
    ffmpeg: Path
    state: EncodeState
    audio: AudioSource | None
    err: TextIO
    done: dict[int, Record] = field(default_factory=dict)
    progress: ProgressDisplay | None = None
    clip: ClipSummary | None = None  # what the first ready worker sees
    props: dict[int, dict] = field(default_factory=dict)  # the frames probed so far, by frame number
    segments: int | None = None  # known once planned

    def run(self, draft: Plan) -> int:
        self.check_saved_state(draft)
        pool, where = _make_pool(self.opts, self.script, self.state)
        scheduler = Scheduler(
            pool, max_retries=self.opts.max_retries, stall_seconds=self.opts.stall_timeout, tell=self.tell,
            script_sha256=draft.script_sha256,
        )  # fmt: skip
        try:
            workers = scheduler.start()
            self.tell(f"encode: started {workers} worker{'s' if workers > 1 else ''} ({where}); "
                      f"each executes {self.script.name}")  # fmt: skip
            plan, cut, colour_warnings = self.plan_from_clip(scheduler, draft)
            resuming = self.adopt_plan(plan)
            self.announce(plan, cut, colour_warnings, resuming)
            ai_frames = self.count_ai_frames(scheduler, plan)
            self.encode_segments(scheduler, plan, ai_frames)
            pool.shutdown()
            segments = [self.state.segment_path(s) for s in plan.segments]
            concat_segments(self.ffmpeg, self.state.dir / "concat.txt", segments, self.output, plan.total_frames, cut)
        except KeyboardInterrupt:
            self.stop(pool)
            return self.interrupted()
        except BaseException:
            self.stop(pool)
            if self.progress is not None:
                self.progress.finish()
            raise
        self.clean_up(plan)
        return 0

    def tell(self, message: str) -> None:
        """A status line for the person running the encode (stderr: stdout may be a pipe)."""
        if self.progress is not None:
            self.progress.message(message)
            return
        self.err.write(message + "\n")
        self.err.flush()

    def check_saved_state(self, draft: Plan) -> None:
        """Refuse a rerun that the saved state contradicts before any worker starts."""
        if self.state.exists() and not self.opts.restart:
            old = self.state.load_plan()
            _check_previous(self.state, replace(draft, total_frames=old.total_frames, colour=old.colour), self.tell)
            _refuse_foreign(self.state, old)
        elif not self.opts.restart:
            _refuse_foreign(self.state, None)
        if self.opts.resume and not self.state.exists():
            raise EncodeError(
                "encode", f"--resume was given but there is no plan in {self.state.dir}.", "run without --resume."
            )
        if self.output.exists() and not self.opts.overwrite:
            raise FileError("encode", f"the output {self.output} already exists.", "pass -y/--overwrite or another -o.")

    def plan_from_clip(self, scheduler: Scheduler, draft: Plan) -> tuple[Plan, AudioCut | None, list[str]]:
        """The plan for the clip the first worker sees: its size, rate, frame count and frame 0's colour."""
        clip = self.clip = scheduler.first_ready()
        _check_clip(clip, self.script)
        refused = draft.encoder.clip_problem(cast(str, clip.format), clip.width, clip.height)
        if refused is not None:  # before frame 0 is rendered: no AI work is spent on an encode that cannot be
            raise ClipError("encode", f"{refused[0]}.", refused[1])
        first = scheduler.probe((0,))  # the tags and _AbsoluteTime: a script failing here fails the encode
        _refuse_sources(self.output, first.open_files)
        props = self.props = dict(first.props)
        samples = tuple(n for n in sample_indices(clip.frames, COLOUR_SAMPLES) if n)
        unchecked = None
        try:  # best effort: a frame that fails here fails (and is retried) with its segment
            props |= scheduler.probe(samples).props if samples else {}
        except EncodeError as exc:
            unchecked = f"frames {list(samples)} could not be compared with frame 0's colour: {exc.problem}"
        if clip.color_family == "YUV" and props.get(0, {}).get("_Matrix") == 0:
            raise ClipError(
                "encode",
                f"frame 0 of {self.script.name} is YUV but its _Matrix is 0 (RGB's): players would show wrong colours.",
                "set the real matrix in the script (e.g. core.std.SetFrameProps(clip, _Matrix=1) for BT.709).",
            )
        colour, warnings = clip_colour(props, clip.format)
        warnings += [unchecked] if unchecked else []
        warnings += hdr_warnings(colour, draft.encoder.encoder, format_bits(clip.format))
        plan = replace(
            draft, total_frames=clip.frames, fps_num=clip.fps_num, fps_den=clip.fps_den,
            width=clip.width, height=clip.height, colour=colour, format=clip.format,
        )  # fmt: skip
        cut = None
        if self.audio is not None:
            absolute = props.get(0, {}).get("_AbsoluteTime")
            cut = plan_audio(self.audio, self.opts.audio_start, absolute, clip.frames, clip.fps_num, clip.fps_den)
        return plan, cut, warnings

    def adopt_plan(self, plan: Plan) -> bool:
        """Resume the saved plan when it matches (True), else start this one; verify the finished segments."""
        if self.opts.restart and self.state.exists():
            self.tell(f"--restart: discarding the previous plan and segments in {self.state.dir}")
            self.state.clear()
        resuming = self.state.exists() and _check_previous(self.state, plan, self.tell)
        if not resuming:
            self.state.write_plan(plan)
        self.done = self.state.scan_done(plan, self.ffmpeg, self.tell)  # trusts matching bytes, decodes the rest
        self.segments = len(plan.segments)
        return resuming

    def announce(self, plan: Plan, cut: AudioCut | None, warnings: list[str], resuming: bool) -> None:
        self.tell(
            f"encode: {self.script.name} -> {self.output.name}: {plan.total_frames} frames "
            f"({plan.width}x{plan.height} {self.clip.format if self.clip else '?'} {plan.fps_num}/{plan.fps_den} fps), "
            f"{self.segments} segments of {plan.segment_frames}, {plan.encoder.describe()}"
            + (f"; {converted}" if (converted := plan.encoder.conversion(plan.format, plan.colour)) else "")
        )
        self.tell(f"colour: {plan.colour.describe()}")
        for warning in warnings:
            self.tell(f"warning: {warning}")
        if cut is not None:
            self.tell(cut.describe())
        if resuming:
            self.tell(
                f"resuming: found a matching plan in {self.state.dir}; {len(self.done)} of {self.segments} "
                f"segments ({sum(r.frames for r in self.done.values())} frames) already done"
            )

    def count_ai_frames(self, scheduler: Scheduler, plan: Plan) -> dict[int, int] | None:
        """Each missing segment's AI frames, counted from the clip's map (a few more frames probed where pieces of
        hybrid clips meet), or, with held-frame reuse, the frames the model computes: for the ETA and the order.
        None where the map does not allow counting."""
        missing = [s for s in plan.segments if s.index not in self.done]
        if not missing:
            return None
        try:
            mapped, self.props = map_clip(lambda frames: scheduler.probe(tuple(frames)).props, plan.total_frames,
                                          (), known=self.props)  # fmt: skip
        except EncodeError as exc:  # best effort: a frame failing here fails with its segment
            self.tell(f"the AI frames were not counted ({exc.problem}); the ETA follows the overall speed")
            return None
        counts = segment_ai_frames(mapped, [(s.index, s.first, s.last) for s in missing])
        computed = self.count_computed(scheduler, mapped, missing, plan.total_frames)
        if counts is not None and "ai" in mapped.frames:
            order = "" if computed else "; segments with the most AI frames go first"
            self.tell(f"AI frames: {mapped.frames['ai']} of {plan.total_frames} ({mapped.note}){order}")
        if computed is not None:
            self.tell(f"{computed.describe()}; segments that compute the most go first")
            return computed.segments if any(computed.segments.values()) else None
        return counts if counts and any(counts.values()) else None

    def count_computed(
        self, scheduler: Scheduler, mapped: PathMap, missing: list[Segment], total: int
    ) -> Computed | None:
        """With held-frame reuse in the clip: the frames of each missing segment that the model computes, from the
        decisions one worker reads off the source (:mod:`.heldcount`); None without reuse, or when not known."""
        samples = [sample(n, p) for n, p in self.props.items()]
        if not any(s.held for s in samples):
            return None
        pieces = held_pieces(samples, total)
        ai_spans = mapped.intervals.get("ai", []) if "ai" in mapped.frames else mapped.intervals.get("all")
        if pieces is None or not mapped.counted or ai_spans is None:
            self.tell("held frames were not counted (the clip's pieces were not all found); the ETA counts frames")
            return None
        start = time.monotonic()
        try:
            computed = count_computed(
                pieces, ai_spans, [(s.index, s.first, s.last) for s in missing],
                lambda spans: [list(keys) for keys in scheduler.probe((), tuple(spans)).keys],
            )  # fmt: skip
        except EncodeError as exc:  # best effort, as the AI frames' count
            self.tell(f"held frames were not counted ({exc.problem}); the ETA counts frames")
            return None
        self.tell(f"read {computed.frames_read} frames' held-frame decisions in {time.monotonic() - start:.1f}s")
        return computed

    def encode_segments(self, scheduler: Scheduler, plan: Plan, ai_frames: dict[int, int] | None) -> None:
        self.progress = ProgressDisplay(
            plan.total_frames, resumed=sum(r.frames for r in self.done.values()), stream=self.err, gpu=GpuMonitor()
        )
        if ai_frames is not None:
            self.progress.plan_paths([s for s in plan.segments if s.index not in self.done], ai_frames)
        make_task = functools.partial(render_task, self.ffmpeg, plan.encoder, self.state, colour=plan.colour)
        scheduler.run(plan, self.state, self.done, make_task, self.progress, self.ffmpeg, ai_frames)
        self.progress.update(force=True)
        self.progress.finish()

    def stop(self, pool: Pool) -> None:
        """End the workers and their ffmpeg, then drop every partial file (the pool's, and any it missed)."""
        with contextlib.suppress(Exception):
            pool.shutdown()
        for partial in self.state.partials():
            with contextlib.suppress(OSError):
                partial.unlink()

    def interrupted(self) -> int:
        of = f" of {self.segments}" if self.segments is not None else ""
        self.tell(
            f"interrupted: {len(self.done)}{of} segments are done and kept in {self.state.dir}; "
            "run the same command again to resume"
        )
        if self.progress is not None:
            self.progress.finish()
        return 130

    def clean_up(self, plan: Plan) -> None:
        if self.opts.keep_segments:
            self.tell(f"done: {self.output} ({plan.total_frames} frames); segments kept in {self.state.dir}")
        else:
            self.state.clear()
            self.tell(f"done: {self.output} ({plan.total_frames} frames)")


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


def _make_pool(opts: EncodeOptions, script: Path, state: EncodeState) -> tuple[Pool, str]:
    """The pool, and where its workers run (for the first status line)."""
    if opts.ray is not None:
        from .farm.ray_pool import RayPool

        pool = RayPool(opts.ray, script, opts.script_args, state_dir=state.dir, workers=opts.workers, env=opts.env)
        return pool, f"Ray {opts.ray}"
    from .farm.local import LocalPool

    workers = opts.workers or 1
    pool = LocalPool(script, opts.script_args, workers=workers, gpus=opts.gpus, per_gpu=workers, env=opts.env)
    where = f"GPUs {','.join(map(str, opts.gpus))}, {workers} per GPU" if opts.gpus else "this machine"
    return pool, where


def _check_clip(clip: ClipSummary, script: Path) -> None:
    """y4m carries one constant YUV or GRAY format and size: refuse anything else before any segment."""
    if clip.frames <= 0:
        raise ClipError("encode", f"the output clip of {script.name} has {clip.frames} frames.", "check the script.")
    if clip.fps_num == 0:
        raise ClipError(
            "encode",
            f"the output clip of {script.name} has a variable frame rate (fps 0/1); y4m carries one rate, and ffmpeg "
            "would play every frame at its default 25 fps.",
            "set one rate in the script, e.g. clip = core.std.AssumeFPS(clip, fpsnum=24000, fpsden=1001).",
        )
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
    if clip.format.endswith(("S", "H")):  # VapourSynth names float formats ...PS / ...PH (Gray: S, H)
        raise ClipError(
            "encode",
            f"the output clip of {script.name} is {clip.format}, a float format; y4m carries integer samples only.",
            "convert to an integer format in the script, e.g. core.resize.Point(clip, format=vs.YUV420P10).",
        )


def _placement_warnings(opts: EncodeOptions) -> list[str]:
    """More workers than this machine has cores, or a --gpus index this machine does not show."""
    out = []
    cores = len(os.sched_getaffinity(0))
    if opts.ray is None and not opts.gpus and opts.workers and opts.workers > cores:
        out.append(f"--workers {opts.workers} is more than this machine's {cores} cores: workers will share cores")
    visible = Path("/proc/driver/nvidia/gpus")
    if opts.gpus and visible.is_dir():
        count = len(list(visible.iterdir()))
        missing = [g for g in opts.gpus if g >= count]
        if missing:
            out.append(f"--gpus lists {missing}, but this machine shows {count} NVIDIA GPU(s) (0-{count - 1})")
    elif opts.gpus:
        out.append(
            f"--gpus {','.join(map(str, opts.gpus))}: this machine shows no NVIDIA GPU (no NVIDIA driver in "
            "/proc/driver/nvidia), so a script with device='cuda' fails and device='auto' runs on the CPU"
        )
    return out


def _tell(stream: TextIO, message: str) -> None:
    stream.write(message + "\n")
    stream.flush()


def _refuse_sources(output: Path, read: tuple[str, ...]) -> None:
    """The output is never a file the script reads: those a worker has open once it rendered frame 0, and the
    files its filters were given (a model)."""
    check_output("encode", output, [Path(f) for f in read], stream=False)


def _refuse_foreign(state: EncodeState, plan: Plan | None) -> None:
    """Segments that belong to no job this run can resume are never reused: refused, naming --restart."""
    why = state.foreign_segments(plan)
    if why is not None:
        raise PlanMismatchError(
            "encode",
            f"{why}, so its segments cannot be trusted for this encode; nothing was deleted.",
            "use another -o, or pass --restart to discard them.",
        )


def _check_previous(state: EncodeState, plan: Plan, tell: Callable[[str], None]) -> bool:
    """True to resume the saved plan. A different one (another fingerprint, or the same script now giving a
    clip of another format, size or rate) is refused if any segment of it exists, else replaced."""
    old = state.load_plan()
    clip = old.clip_changes(plan) if plan.width else []  # a draft (no clip yet) compares the fingerprint only
    if old.fingerprint == plan.fingerprint and not clip:
        return True
    changes = "; ".join([*old.differences(plan), *clip]) or "the fingerprint"
    if not state.has_segments():
        tell(f"replacing the plan in {state.dir} ({changes} changed): it has no finished segment")
        state.clear()
        return False
    raise PlanMismatchError(
        "encode",
        f"{state.dir} holds a plan for a different job ({changes} changed), "
        "so its segments cannot be mixed with this encode.",
        "restore the old script/arguments/settings to resume it, use another -o, "
        "or pass --restart to discard the old segments.",
    )
