"""``vsenhance cut``: extract a short test clip to try settings on before a long job.

Stream copy (default) seeks with ``-ss`` before ``-i``: the copy starts at the keyframe at or before START,
so the clip can begin up to one GOP early and its length is only as exact as the keyframes allow.
``--reencode`` decodes from that keyframe and drops frames up to START, so the cut is exact.
"""

from __future__ import annotations

import contextlib
import os
import re
from fractions import Fraction
from pathlib import Path

from ..errors import ClipError, EncodeError
from .tools import find_ffmpeg, run_checked

__all__ = ["cut", "cut_argv", "parse_time", "parse_time_exact"]

_TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


def parse_time(text: str) -> float:
    """``"75"`` -> 75.0, ``"11:56"`` -> 716.0, ``"1:02:03.5"`` -> 3723.5 (minutes/seconds after a colon < 60)."""
    return float(parse_time_exact(text))


def parse_time_exact(text: str) -> Fraction:
    """:func:`parse_time` as an exact fraction (``"0.1"`` is 1/10), for frame arithmetic at 24000/1001 fps."""
    m = _TIME.match(text.strip())
    if not m:
        raise ClipError("parse_time", f"{text!r} is not a time.", "use seconds (75), MM:SS (11:56) or H:MM:SS.s.")
    hours, minutes, seconds = m.groups()
    sec = Fraction(seconds)
    if minutes is not None and sec >= 60:
        raise ClipError("parse_time", f"{text!r} has {float(sec):g} seconds after a colon.", "keep seconds below 60.")
    if hours is not None and int(minutes) >= 60:
        raise ClipError("parse_time", f"{text!r} has {minutes} minutes after a colon.", "keep minutes below 60.")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + sec


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
) -> None:
    if not source.is_file():
        raise ClipError("cut", f"the input {source} does not exist.", "check the path.")
    if duration <= 0:
        raise ClipError("cut", f"the duration {duration:g}s is not positive.", "pass --duration > 0.")
    if output.exists() and not overwrite:
        raise EncodeError("cut", f"the output {output} already exists.", "pass -y/--overwrite or another -o.")
    tmp = output.with_name(f".{output.stem}.partial{output.suffix}")
    try:
        run_checked(
            cut_argv(find_ffmpeg(), source, tmp, start, duration, reencode),
            "cut",
            f"cutting {source}",
            "check START against the input's length; for a container that cannot take the streams as they "
            "are, use --reencode or another output extension.",
        )
        os.replace(tmp, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
