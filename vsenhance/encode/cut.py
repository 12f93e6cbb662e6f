"""``vsenhance cut``: extract a short test clip to try settings on before a long job.

Stream copy (default) seeks with ``-ss`` before ``-i``: the copy starts at the keyframe at or before START,
so the clip can begin up to one GOP early and its length is only as exact as the keyframes allow.
``--reencode`` decodes from that keyframe and drops frames up to START, so the cut is exact.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import EncodeError, FileError
from ..files import atomic_path, check_output
from .programs import find_ffmpeg, find_ffprobe, run_checked
from .state import count_frames

__all__ = ["cut", "cut_argv"]


def cut_argv(ffmpeg: Path, source: Path, output: Path, start: float, duration: float, reencode: bool) -> list[str]:
    argv = [
        os.fspath(ffmpeg), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        "-ss", f"{start:.6f}", "-i", os.fspath(source), "-t", f"{duration:.6f}",
        "-map", "0:v:0?", "-map", "0:a?",
    ]  # fmt: skip
    if reencode:
        argv += ["-c:v", "libx264", "-crf", "16", "-preset", "medium", "-c:a", "aac", "-b:a", "192k"]
    else:
        argv += ["-c", "copy", "-avoid_negative_ts", "make_zero"]
    return [*argv, "-y", os.fspath(output)]


def cut(
    source: Path, output: Path, start: float, duration: float, *, reencode: bool = False, overwrite: bool = False
) -> str:
    """Cut ``duration`` seconds from ``start`` of ``source`` into ``output``; returns what was written, in words.

    Checked first: the paths (``output`` is never ``source``, even with ``overwrite``) and, with ffprobe, that
    ``start`` lies inside the input; a duration running past the end is cut there. Checked after: the output
    has video frames. The output appears only when complete (written beside it, then renamed).
    """
    func = "cut"
    if source.is_dir():
        raise FileError(func, f"the input {source} is a folder.", "pass a video file.")
    if not source.is_file():
        raise FileError(func, f"the input {source} does not exist.", "check the path.")
    if not math.isfinite(start) or start < 0:
        raise EncodeError(func, f"the start {start:g}s is not a time in the input.", "pass --start >= 0.")
    if not math.isfinite(duration) or duration <= 0:
        raise EncodeError(func, f"the duration {duration:g}s is not positive.", "pass --duration > 0.")
    output = check_output(func, output, [source], overwrite=overwrite, stream=False)
    length = _video_length(source)
    ends_early = ""
    if length is not None:
        if start >= length:
            raise EncodeError(
                func,
                f"--start {start:g}s is at or past the end of {source}, which is {length:g}s long.",
                f"pass a --start below {length:g}s.",
            )
        if start + duration > length:
            duration = length - start
            ends_early = f", to the end of the {length:g}s input"
    with atomic_path(output) as tmp:  # the output appears only once verified
        run_checked(
            cut_argv(find_ffmpeg(func), source, tmp, start, duration, reencode),
            func,
            f"cutting {source}",
            "for a container that cannot take the streams as they are, use --reencode or another output extension.",
        )
        if not count_frames(tmp):
            raise EncodeError(
                func,
                f"the cut of {source} from {start:g}s has no video frames; nothing was written.",
                "check --start and --duration against the input" + ("." if reencode else ", or try --reencode."),
            )
    how = "re-encoded, exact" if reencode else "stream copy: starts at the keyframe at or before the start"
    return f"wrote {output} ({duration:g}s from {start:g}s{ends_early}; {how})"


def _video_length(source: Path) -> float | None:
    """The input's duration in seconds (None when the container does not say); EncodeError without video."""
    argv = [
        os.fspath(find_ffprobe("cut")), "-v", "error", "-show_entries", "format=duration:stream=codec_type,duration",
        "-of", "json", os.fspath(source),
    ]  # fmt: skip
    done = run_checked(argv, "cut", f"reading {source} with ffprobe", "check that the input is a video file.")
    try:
        info = json.loads(done.stdout)
    except ValueError:
        info = {}
    video = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not video:
        raise EncodeError("cut", f"the input {source} has no video stream.", "pass a video file.")
    for where in (video[0], info.get("format", {})):  # the video's own length where the container gives it
        try:
            length = float(where.get("duration"))
        except (TypeError, ValueError):
            continue
        if math.isfinite(length) and length > 0:
            return length
    return None
