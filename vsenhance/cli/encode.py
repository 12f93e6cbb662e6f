"""``vsenhance`` encode commands (argument parsing only): ``encode``, ``estimate``, ``cut``."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from ..encode.encoder import CODECS, DEFAULT_ENCODER, DEFAULT_PRORES_PROFILE, ENCODERS, PRORES_PROFILES
from ..encode.plan import DEFAULT_SEGMENT_FRAMES
from ..encode.scheduler import DEFAULT_MAX_RETRIES, DEFAULT_STALL_SECONDS
from ..errors import ClipError, EncodeError
from ..script import parse_script_args, parse_script_env
from .args import add_command, add_script, add_script_args

__all__ = ["parse_gpus", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``encode``, ``estimate`` and ``cut`` to the top-level parser."""
    p = add_command(
        sub, "encode",
        summary="encode a script in segments that survive a crash, on this machine's GPUs or a Ray cluster",
        description="Encode what SCRIPT.vpy outputs, in segments of N frames, into OUT. Workers execute the script "
        "once each and render segment after segment; each finished segment is checked by decoding it. Progress "
        "is kept in OUT.vsenhance/ beside OUT: run the same command again after a crash, a Ctrl-C or a reboot "
        "and it resumes without losing or repeating a frame. The plan is printed before the first frame.",
        examples="  vsenhance encode film.vpy -o film_x4.mkv --encoder x265 --crf 18 --audio film.mkv\n"
        "  vsenhance encode film.vpy -o film_x4.mkv -a source=film.mkv --gpus 0,1\n"
        "  vsenhance encode film.vpy -o film_x4.mov --encoder prores --profile hq\n"
        "  vsenhance encode /mnt/films/film.vpy -o /mnt/films/film_x4.mkv --ray head:6379 --env GRAIN",
    )  # fmt: skip
    add_script(p, "the VapourSynth script to encode (its output 0)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="the finished file (.mkv for every encoder; .mp4, .webm, .mov where the encoder fits)")  # fmt: skip
    add_script_args(p)
    p.add_argument("--segment-frames", type=int, default=DEFAULT_SEGMENT_FRAMES, metavar="N",
                   help=f"frames per segment ({DEFAULT_SEGMENT_FRAMES})")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="require an existing matching plan (a matching plan is resumed anyway)")  # fmt: skip
    p.add_argument("--restart", action="store_true", help="discard an existing plan and its segments")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    svt, nv = CODECS["svt-av1"], CODECS["nvenc-hevc"]
    p.add_argument("--encoder", choices=ENCODERS, default=DEFAULT_ENCODER,
                   help=f"video encoder ({DEFAULT_ENCODER}); docs/encode.md compares them")  # fmt: skip
    p.add_argument("--crf", type=float, default=None,
                   help=f"x264/x265 CRF 0-51 ({CODECS['x264'].default_quality}), svt-av1 CRF 0-63 "
                   f"({svt.default_quality}); lower is better")  # fmt: skip
    p.add_argument("--cq", type=float, default=None,
                   help=f"NVENC constant quality {nv.quality_range[0]}-{nv.quality_range[1]} ({nv.default_quality})")  # fmt: skip
    p.add_argument("--preset", default=None,
                   help=f"x264/x265 preset name ({CODECS['x264'].default_preset}), svt-av1 0-13 "
                   f"({svt.default_preset}), NVENC p1-p7 ({nv.default_preset})")  # fmt: skip
    p.add_argument("--profile", default=None, choices=PRORES_PROFILES,
                   help=f"ProRes profile ({DEFAULT_PRORES_PROFILE})")  # fmt: skip
    p.add_argument("--ffmpeg-args", default=None, metavar='"..."',
                   help="extra ffmpeg output options, split like a shell would (no shell is run)")  # fmt: skip
    p.add_argument(
        "--audio",
        type=Path,
        default=None,
        metavar="SOURCE",
        help="mux the audio of SOURCE, from where the script's frame 0 is and as long as the video",
    )
    p.add_argument("--audio-start", type=_audio_start_arg, default=None, metavar="POS",
                   help="where the script's frame 0 is in SOURCE: a frame number of the source (1200) or a time "
                   "(11:56, 75.5); default: frame 0's _AbsoluteTime (bestsource, ffms2), else 0")  # fmt: skip
    p.add_argument("--keep-segments", action="store_true", help="keep the segments and state after joining")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="render workers, each executing the script once (1); with --gpus: workers per GPU; with "
                   "--ray: workers on a CPU cluster (one per node; a GPU cluster gets one per GPU)")  # fmt: skip
    p.add_argument("--gpus", default=None, metavar="0,1,3", help="one worker per listed GPU (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run the workers on a Ray cluster: auto, HOST:PORT or ray://HOST:PORT (the script, "
                   "sources and output folder on shared storage at the same path on every node)")  # fmt: skip
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                   help="an environment variable the script reads, given to every worker (local or Ray) and "
                   "recorded in the plan; NAME alone takes this shell's value; repeatable")  # fmt: skip
    p.add_argument("--max-retries", type=int, default=DEFAULT_MAX_RETRIES, metavar="N",
                   help=f"attempts per segment after its first failure before the encode stops ({DEFAULT_MAX_RETRIES})")  # fmt: skip
    p.add_argument("--stall-timeout", type=float, default=DEFAULT_STALL_SECONDS, metavar="SECONDS",
                   help="end and replace a worker that delivers no frame for this long while rendering; its segment "
                   f"counts as a failed attempt ({DEFAULT_STALL_SECONDS:g})")  # fmt: skip
    p.set_defaults(handler=_encode)

    p = add_command(
        sub, "estimate",
        summary="say how long encoding a script will take, from a sample of its frames",
        description="Render N frames spread across SCRIPT.vpy and project the whole render time, with an ETA. "
        "Scripts that mix AI and Lanczos (vse.upscale_ranges) get each part timed on its own; held frames "
        "(dedup) are counted as the free frames they are.",
        examples="  vsenhance estimate film.vpy\n  vsenhance estimate film.vpy --frames 40 -a source=film.mkv --json",
    )  # fmt: skip
    add_script(p, "the VapourSynth script to time")
    p.add_argument("--frames", type=int, default=20, metavar="N", help="frames to sample (20)")
    add_script_args(p)
    p.add_argument("--json", action="store_true", help="print the estimate as JSON on stdout")
    p.set_defaults(handler=_estimate)

    p = add_command(
        sub, "cut",
        summary="cut a short piece of a video, to try settings on before the long encode",
        description="Copy DURATION seconds of INPUT, from START, into OUT. Without --reencode the streams are "
        "copied, so the piece starts at the keyframe at or before START (up to one GOP early); --reencode "
        "cuts exactly.",
        examples="  vsenhance cut film.mkv --start 11:56 --duration 30 -o test.mkv\n"
        "  vsenhance cut film.mkv --start 1:02:03.5 -o test.mkv --reencode",
    )  # fmt: skip
    p.add_argument("input", type=Path, metavar="INPUT", help="the video to cut from")
    p.add_argument("--start", required=True, type=_time_arg, help="11:56, 1:02:03.5 or 75 (seconds)")
    p.add_argument("--duration", type=_time_arg, default=30.0, help="length, same formats (30)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="the piece (never INPUT)")
    p.add_argument("--reencode", action="store_true", help="exact cut, re-encoded with x264 crf 16 and AAC")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(handler=_cut)


def _time_arg(text: str) -> float:
    from ..timecode import parse_time

    try:
        return parse_time(text, "cut")
    except ClipError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from exc


def _audio_start_arg(text: str) -> int | Fraction:
    from ..encode.audio import parse_audio_start

    try:
        return parse_audio_start(text)
    except EncodeError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from exc


def parse_gpus(text: str | None) -> tuple[int, ...]:
    """``--gpus "0,1,3"`` -> ``(0, 1, 3)``; empty when not given."""
    if text is None:
        return ()
    items = [item.strip() for item in text.split(",")]
    if not all(item.isascii() and item.isdigit() for item in items) or len(set(items)) != len(items):
        raise ClipError(
            "encode", f"--gpus {text!r} is not a list of distinct GPU numbers.", "pass e.g. --gpus 0 or --gpus 0,1,3."
        )
    return tuple(int(item) for item in items)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops as cleanly as Ctrl-C (children ended, partial segment dropped)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _encode(args: argparse.Namespace) -> int:
    from ..encode.encoder import EncoderSettings
    from ..encode.job import EncodeOptions, run_encode

    opts = EncodeOptions(
        script=args.script,
        output=args.output,
        script_args=parse_script_args(args.script_args, "encode"),
        encoder=EncoderSettings.create(
            args.encoder, args.crf, args.preset, args.ffmpeg_args, cq=args.cq, profile=args.profile
        ),
        segment_frames=args.segment_frames,
        resume=args.resume,
        restart=args.restart,
        overwrite=args.overwrite,
        audio=args.audio,
        audio_start=args.audio_start,
        keep_segments=args.keep_segments,
        workers=args.workers,
        gpus=parse_gpus(args.gpus),
        ray=args.ray,
        max_retries=args.max_retries,
        stall_timeout=args.stall_timeout,
        env=parse_script_env(args.env, "encode"),
    )
    with _sigterm_as_interrupt():
        return run_encode(opts)


def _estimate(args: argparse.Namespace) -> int:
    from ..encode.estimate import format_estimate, run_estimate
    from ..encode.progress import is_chinese_locale

    est = run_estimate(args.script, parse_script_args(args.script_args, "estimate"), args.frames)
    if args.json:
        print(json.dumps(est, indent=1))
    else:
        print(format_estimate(est, "zh" if is_chinese_locale() else "en"))
    return 0


def _cut(args: argparse.Namespace) -> int:
    from ..encode.cut import cut

    done = cut(args.input, args.output, args.start, args.duration, reencode=args.reencode, overwrite=args.overwrite)
    print(f"cut: {done}", file=sys.stderr)
    return 0
