"""The audio that goes with the encoded video: which part of ``--audio SOURCE``, found before any frame renders.

A script that trims (``clip[1200:]``) starts later than its source, so the audio must start later too and
end with the video. The start, in seconds from the beginning of SOURCE (as a player counts it):

1. ``--audio-start`` when given: a frame number of the source (converted with SOURCE's own video frame rate,
   or the script's when SOURCE has no video) or a time (``11:56``, ``75.5``);
2. else frame 0's ``_AbsoluteTime`` prop, which bestsource and ffms2 set to the frame's presentation time in
   the source. That time counts from the stream's zero, and ffmpeg's ``-ss`` counts from the file's first
   timestamp (``format.start_time``, e.g. 1.4 s in an MPEG-TS), so the file's start is subtracted. This
   assumes SOURCE is the file the script reads (same timeline);
3. else 0.

The audio is cut to the video's duration (frames × fps_den / fps_num) and stream-copied (no re-encode): the
cut falls on the first audio packet at or after the start (within one packet, ~21 ms for AAC at 48 kHz), and
that packet keeps its exact timestamp in the output, so what plays stays in sync.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from ..errors import ClipError, EncodeError
from ..timecode import parse_frame_number, parse_time_exact
from .programs import child_env

__all__ = ["AudioCut", "AudioSource", "audio_input_argv", "parse_audio_start", "plan_audio", "probe_audio"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioSource:
    """What ffprobe says about ``--audio SOURCE``."""

    path: Path
    audio_streams: int
    start_time: Fraction  # the file's first timestamp (format.start_time), seconds
    video_fps: Fraction | None  # its first video stream's average frame rate, if it has one
    duration: Fraction | None = None  # seconds, as the container says (None when it does not)

    def start_seconds(self, start: int | Fraction) -> Fraction | None:
        """``--audio-start`` in seconds: a time as it is, a frame number at the source's video rate."""
        if isinstance(start, int):
            return start / self.video_fps if self.video_fps else None
        return start

    def check_start(self, start: int | Fraction | None) -> None:
        """An ``--audio-start`` at or past the source's end is refused before any worker starts."""
        seconds = self.start_seconds(start) if start is not None else None
        if seconds is not None and self.duration is not None and seconds >= self.duration:
            raise EncodeError(
                "encode",
                f"--audio-start is {float(seconds):.3f} s, at or past the end of {self.path.name} "
                f"({float(self.duration):.3f} s long).",
                "pass a position inside the audio source, or leave --audio-start out.",
            )


@dataclass(frozen=True)
class AudioCut:
    """The part of SOURCE to mux: ``start`` seconds into it, ``duration`` seconds long (None: to its end)."""

    path: Path
    start: Fraction
    duration: Fraction | None
    origin: Literal["--audio-start", "_AbsoluteTime", "default"]

    def describe(self) -> str:
        length = f"{float(self.duration):.3f} s" if self.duration is not None else "to its end"
        how = {"--audio-start": "from --audio-start", "_AbsoluteTime": "from frame 0's _AbsoluteTime",
               "default": "the script's frame 0 is assumed to be the source's start"}[self.origin]  # fmt: skip
        return f"audio: {self.path.name} from {float(self.start):.3f} s, {length} ({how})"


def _fraction(text: object) -> Fraction | None:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value


def probe_audio(ffprobe: Path, source: Path) -> AudioSource:
    """ffprobe SOURCE; EncodeError when it cannot be read or holds no audio stream."""
    argv = [os.fspath(ffprobe), "-v", "error", "-show_entries", "stream=codec_type,avg_frame_rate:format=start_time,duration",
            "-of", "json", os.fspath(source)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise EncodeError(
            "encode",
            f"ffprobe cannot read the audio source {source}: {done.stderr.decode('utf-8', 'replace').strip()}",
            "check that --audio names a media file.",
        )
    data = json.loads(done.stdout or b"{}")
    streams = data.get("streams", [])
    audio = sum(1 for s in streams if s.get("codec_type") == "audio")
    if audio == 0:
        raise EncodeError(
            "encode",
            f"the audio source {source} has no audio stream.",
            "pass a file with audio to --audio, or leave --audio out.",
        )
    video_fps = next((_fraction(s.get("avg_frame_rate")) for s in streams if s.get("codec_type") == "video"), None)
    start = _fraction(data.get("format", {}).get("start_time", "0")) or Fraction(0)
    duration = _fraction(data.get("format", {}).get("duration"))
    return AudioSource(source, audio, start, video_fps or None, duration)


def parse_audio_start(text: str) -> int | Fraction:
    """``--audio-start``: ``"1200"`` -> 1200 (a frame number of the source, an int), ``"11:56"`` or ``"75.5"`` ->
    seconds (a Fraction)."""
    text = text.strip()
    if (number := parse_frame_number(text)) is not None:
        return number
    try:
        return parse_time_exact(text, "encode")
    except ClipError as exc:
        raise EncodeError(
            "encode",
            f"--audio-start {text!r} is neither a frame number nor a time.",
            "pass a frame number (1200) or a time (11:56, 1:02:03.5, 75.5).",
        ) from exc


def plan_audio(
    source: AudioSource,
    start: int | Fraction | None,
    absolute_time: float | None,
    frames: int,
    fps_num: int,
    fps_den: int,
) -> AudioCut:
    """Which part of SOURCE goes with the video (see the module docstring for the rules).

    ``start``: :func:`parse_audio_start`'s value of ``--audio-start``; ``absolute_time``: frame 0's
    ``_AbsoluteTime`` prop, if any.
    """
    fps = Fraction(fps_num, fps_den) if fps_num and fps_den else None
    duration = Fraction(frames * fps_den, fps_num) if fps is not None else None
    if isinstance(start, int):  # a frame number of the source
        rate = source.video_fps or fps
        if rate is None:
            raise EncodeError(
                "encode",
                f"--audio-start {start} is a frame number, but neither {source.path.name} nor the script "
                "has a constant frame rate to convert it with.",
                "pass --audio-start as a time (e.g. 11:56 or 75.5).",
            )
        cut = AudioCut(source.path, start / rate, duration, "--audio-start")
    elif start is not None:
        cut = AudioCut(source.path, start, duration, "--audio-start")
    elif absolute_time is not None:
        seconds = Fraction(absolute_time).limit_denominator(1_000_000) - source.start_time
        cut = AudioCut(source.path, max(seconds, Fraction(0)), duration, "_AbsoluteTime")
    else:
        cut = AudioCut(source.path, Fraction(0), duration, "default")
    if duration is None:
        log.warning("the clip has a variable frame rate: the audio is not cut to the video's length")
    elif source.duration is not None and source.duration - cut.start < duration:
        short = duration - (source.duration - cut.start)
        log.warning(
            "the audio of %s ends %.3f s before the video (from %.3f s it holds %.3f s, the video lasts %.3f s)",
            source.path.name, float(short), float(cut.start), float(source.duration - cut.start), float(duration),
        )  # fmt: skip
    return cut


def audio_input_argv(cut: AudioCut) -> list[str]:
    """ffmpeg input options for SOURCE: seek to the start, read the video's duration (exact decimals)."""
    argv = ["-ss", _seconds(cut.start)] if cut.start else []
    if cut.duration is not None:
        argv += ["-t", _seconds(cut.duration)]
    return [*argv, "-i", os.fspath(cut.path)]


def _seconds(value: Fraction) -> str:
    """Seconds to the microsecond, ffmpeg's time base (``1001/24`` -> ``41.708333``)."""
    return f"{float(value):.6f}"
