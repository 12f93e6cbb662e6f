"""Join the segments with the concat demuxer (stream copy), optionally muxing the source's audio."""

from __future__ import annotations

import errno
import os
import subprocess
from fractions import Fraction
from pathlib import Path

from ..errors import ClipError, EncodeError
from ..files import atomic_path
from .audio import AudioCut, audio_input_argv
from .programs import run_checked
from .state import DISK_FULL_TEXT, count_frames, disk_full_error, low_on_space

__all__ = ["concat_argv", "concat_segments", "dry_join", "write_concat_list"]


def _quote(name: str) -> str:
    return "'" + name.replace("'", "'\\''") + "'"


def write_concat_list(list_path: Path, segment_files: list[Path]) -> None:
    lines = ["ffconcat version 1.0"]
    for path in segment_files:
        # names relative to the list's folder; the concat demuxer resolves them there
        rel = os.path.relpath(path, list_path.parent)
        lines.append(f"file {_quote(rel)}")
    list_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def concat_argv(ffmpeg: Path, list_path: Path, output: Path, audio: AudioCut | None) -> list[str]:
    argv = [
        os.fspath(ffmpeg), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        "-f", "concat", "-safe", "0", "-i", os.fspath(list_path),
    ]  # fmt: skip
    if audio is not None:
        argv += audio_input_argv(audio)
    argv += ["-map", "0:v:0"]
    if audio is not None:
        argv += ["-map", "1:a"]  # every audio track; that there is one was checked before rendering
    argv += ["-c", "copy", "-y", os.fspath(output)]
    return argv


def dry_join(ffmpeg: Path, segment: Path, output: Path, audio: Path | None) -> None:
    """The join's exact command on a one-frame segment (:func:`~.encoder.dry_run`) and a tenth of a second of
    ``--audio``, into a file with ``output``'s extension, before any worker starts: a container that cannot hold
    the audio's codec (FLAC or PCM into .mp4) is one line now, not a failed join after every segment."""
    folder = segment.parent
    cut = AudioCut(audio, Fraction(0), Fraction(1, 10), "default") if audio is not None else None
    trial = folder / f"joined{output.suffix}"
    write_concat_list(folder / "segments.txt", [segment])
    done = subprocess.run(
        concat_argv(ffmpeg, folder / "segments.txt", trial, cut), capture_output=True, stdin=subprocess.DEVNULL,
        timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        said = [ln.strip() for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        what = f"the video and the audio of {audio.name}" if audio is not None else "the video"
        raise ClipError(
            "encode",
            f"a {output.suffix} file cannot hold {what}: {said[-1] if said else 'ffmpeg gave no message'}",
            "pick another extension for -o (.mkv holds every codec).",
        )


def concat_segments(
    ffmpeg: Path, list_path: Path, segment_files: list[Path], output: Path, total_frames: int,
    audio: AudioCut | None = None,
) -> None:  # fmt: skip
    """Write ``output`` atomically (:func:`~vsenhance.files.atomic_path`), frame-count checked before it appears."""
    with atomic_path(output) as tmp:
        try:
            write_concat_list(list_path, segment_files)
            run_checked(
                concat_argv(ffmpeg, list_path, tmp, audio),
                "encode",
                f"joining the segments into {output}",
                "check that the output extension's container can hold the codec (and audio); "
                "the segments are kept in the state folder, so a rerun only repeats the mux.",
            )
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full_error("encode", list_path.parent, "writing the segment list") from exc
            raise
        except EncodeError as exc:
            if DISK_FULL_TEXT in exc.problem:
                raise disk_full_error("encode", output.parent, f"joining the segments into {output.name}") from exc
            raise
        got = count_frames(tmp)
        if got != total_frames and low_on_space(output.parent):  # ffmpeg may exit 0 after ENOSPC
            raise disk_full_error("encode", output.parent, f"the joined file came out short ({got} frames)")
        if got != total_frames:
            raise EncodeError(
                "encode",
                f"the joined file holds {got} frames instead of {total_frames}.",
                "report this; the segments are kept in the state folder.",
            )
