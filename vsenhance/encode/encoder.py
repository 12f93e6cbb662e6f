"""The encoder's room: which encoders there are, their settings and defaults, and the one ffmpeg command line a
segment is encoded with (codec options, the colour description in the stream and in the encoder's VUI, HDR10
metadata, the user's extra options merged in).

The pixel format comes from the y4m header a worker writes; the output is Matroska, which holds H.264, HEVC and
FFV1 alike. Torch-free: the driver and the CLI import this.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from ..errors import ClipError
from .colour import PQ, ColourTags, vui_names

__all__ = [
    "DEFAULT_CRF",
    "DEFAULT_ENCODER",
    "DEFAULT_PRESET",
    "ENCODERS",
    "Encoder",
    "EncoderSettings",
    "check_container",
    "dry_run",
    "hdr_warnings",
    "merge_encoder_params",
    "segment_argv",
    "vui_params",
]

Encoder = Literal["x264", "x265", "ffv1"]
ENCODERS: tuple[Encoder, ...] = get_args(Encoder)  # the CLI's choices and the settings' check
DEFAULT_ENCODER: Encoder = "x264"
DEFAULT_CRF = 18
DEFAULT_PRESET = "slow"


CRF_MAX = 51
"""x264's and x265's highest CRF; above it both clamp silently."""

_FRAMES_FIX = "change frames in the script, where the plan, the check and the resume see it"
_NOT_IN_FFMPEG_ARGS = {
    **dict.fromkeys(("-c", "-codec", "-vcodec"), "the codec is --encoder's"),
    "-f": "segments are Matroska and the joined file's container comes from -o's extension",
    **dict.fromkeys(("-vf", "-filter", "-filter_complex", "-lavfi", "-s", "-r"), _FRAMES_FIX),
    **dict.fromkeys(("-frames", "-vframes", "-ss", "-t", "-to"), "each segment must hold all of its frames"),
    **dict.fromkeys(("-map", "-i"), "the inputs are the worker's y4m and --audio"),
}
"""Options that would make a segment other than what the plan, the check and the join expect."""
_FFMPEG_ARGS_FIX = "keep --ffmpeg-args to encoder options (-tune, -x264-params, -profile:v, ...)."


@dataclass(frozen=True)
class EncoderSettings:
    encoder: Encoder = DEFAULT_ENCODER
    crf: float | None = DEFAULT_CRF
    preset: str | None = DEFAULT_PRESET
    ffmpeg_args: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def create(cls, encoder: str, crf: float | None, preset: str | None, ffmpeg_args: str | None) -> EncoderSettings:
        """Validate and normalise (ffv1 is lossless: crf and preset do not apply and are not hashed)."""
        if encoder not in ENCODERS:
            raise ClipError("EncoderSettings", f"unknown encoder {encoder!r}.", f"use one of {', '.join(ENCODERS)}.")
        try:
            extra = tuple(shlex.split(ffmpeg_args)) if ffmpeg_args else ()
        except ValueError as exc:
            raise ClipError(
                "EncoderSettings", f"--ffmpeg-args could not be split: {exc}.", "check the quoting."
            ) from exc
        for arg in extra:
            why = _NOT_IN_FFMPEG_ARGS.get(arg.split(":")[0])
            if arg.startswith("-") and why is not None:
                raise ClipError("EncoderSettings", f"--ffmpeg-args may not hold {arg}: {why}.", _FFMPEG_ARGS_FIX)
        if encoder == "ffv1":
            if crf is not None or preset is not None:
                raise ClipError(
                    "EncoderSettings", "--crf and --preset do not apply to ffv1, which is lossless.", "leave them out."
                )
        else:
            crf = DEFAULT_CRF if crf is None else crf
            if not math.isfinite(crf) or not 0 <= crf <= CRF_MAX:
                raise ClipError(
                    "EncoderSettings", f"--crf {crf} is outside {encoder}'s 0-{CRF_MAX}.", "pass e.g. --crf 18."
                )
            if preset is not None and not preset.strip():
                raise ClipError("EncoderSettings", "--preset is empty.", f"pass a preset name, e.g. {DEFAULT_PRESET}.")
            preset = preset or DEFAULT_PRESET
        if crf is not None and float(crf).is_integer():
            crf = int(crf)
        return cls(cast(Encoder, encoder), crf, preset, extra)

    def codec_argv(self, colour: ColourTags | None = None) -> list[str]:
        """ffmpeg output options for the video codec (the pixel format comes from the y4m header).

        ``colour``: the clip's colour description and HDR metadata, written as stream options and in the
        encoder's VUI (one ``-x26N-params`` holding ours and the user's, whose keys win).
        """
        colour = colour or ColourTags()
        params: dict[str, str] = {}
        if self.encoder == "ffv1":
            argv = ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1"]
        elif self.encoder == "x264":
            argv = ["-c:v", "libx264", "-crf", str(self.crf), "-preset", str(self.preset)]
        else:
            argv = ["-c:v", "libx265", "-crf", str(self.crf), "-preset", str(self.preset)]
            params["log-level"] = "error"
        params |= vui_params(colour, self.encoder)
        merged, extra = merge_encoder_params(self.encoder, params, list(self.ffmpeg_args))
        return argv + colour.ffmpeg_argv() + merged + extra

    def describe(self) -> str:
        if self.encoder == "ffv1":
            text = "ffv1 (lossless, level 3)"
        else:
            text = f"{self.encoder} crf {self.crf} preset {self.preset}"
        return text + (f" + {shlex.join(self.ffmpeg_args)}" if self.ffmpeg_args else "")


CONTAINERS: dict[str, tuple[Encoder, ...]] = {
    ".mkv": ("x264", "x265", "ffv1"), ".mka": (), ".mov": ("x264", "x265", "ffv1"), ".nut": ("x264", "x265", "ffv1"),
    ".mp4": ("x264", "x265"), ".m4v": ("x264", "x265"), ".ts": ("x264", "x265"), ".m2ts": ("x264", "x265"),
    ".avi": ("x264", "ffv1"), ".webm": (),
}  # fmt: skip
"""The joined file's containers (by extension) and the encoders' streams each can hold."""


def check_container(output: Path, encoder: Encoder) -> str | None:
    """Why ``output``'s extension cannot hold what ``encoder`` writes (checked before any segment), or None."""
    ext = output.suffix.lower()
    if ext not in CONTAINERS:
        known = ", ".join(e for e, held in CONTAINERS.items() if encoder in held)
        return f"the output {output.name} has {'no extension' if not ext else f'the extension {ext}'}, which names no container this encoder writes ({known})"
    if encoder not in CONTAINERS[ext]:
        fits = ", ".join(e for e, held in CONTAINERS.items() if encoder in held)
        return f"a {ext} file cannot hold {encoder} video (it can go into {fits})"
    return None


def segment_argv(ffmpeg: Path, settings: EncoderSettings, output: Path, colour: ColourTags | None = None) -> list[str]:
    """The ffmpeg a worker pipes one segment into: y4m on stdin, Matroska at ``output``."""
    return [
        os.fspath(ffmpeg), "-hide_banner", "-nostats", "-loglevel", "warning",
        "-f", "yuv4mpegpipe", "-i", "pipe:0", "-map", "0:v:0", *settings.codec_argv(colour),
        "-f", "matroska", "-y", os.fspath(output),
    ]  # fmt: skip


def dry_run(ffmpeg: Path, settings: EncoderSettings, folder: Path) -> Path:
    """Encode one synthetic frame with the exact options a segment gets, before any worker starts: a bad
    ``--preset``, a codec option ffmpeg refuses or a broken ``--ffmpeg-args`` is one line now, not a failed
    segment after the script has run (ClipError with ffmpeg's own last line). Returns the one-frame segment,
    which :func:`~.concat.dry_join` muxes as the join will."""
    frame = folder / "frame.mkv"
    argv = segment_argv(ffmpeg, settings, frame)
    at = argv.index("-i")  # the y4m pipe becomes one generated 8-bit 4:2:0 frame
    argv[at - 2 : at + 2] = ["-f", "lavfi", "-i", "color=size=64x64:rate=24:duration=0.05,format=yuv420p"]
    argv[1:1] = ["-nostdin"]
    done = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    if done.returncode != 0:
        said = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        raise ClipError(
            "encode",
            f"ffmpeg refuses the encoder options ({settings.describe()}): {said[-1].strip() if said else 'no message'}",
            "check --encoder, --crf, --preset and --ffmpeg-args.",
        )
    return frame


def vui_params(colour: ColourTags, encoder: Encoder) -> dict[str, str]:
    """The VUI (and for x265 the HDR10 SEI) as ``-x264-params``/``-x265-params`` key=value items."""
    if encoder == "ffv1":
        return {}
    names = vui_names(colour)
    keys = {"primaries": "colorprim", "transfer": "transfer", "matrix": "colormatrix"}
    params = {keys[key]: name for key, name in names.items()}
    if colour.range is not None:  # libx264's own key is fullrange (x264's CLI --range is not a param)
        if encoder == "x264":
            params["fullrange"] = "on" if colour.range == "full" else "off"
        else:
            params["range"] = colour.range
    if colour.chroma_location is not None:
        params["chromaloc"] = str(colour.chroma_location)
    if encoder == "x265" and (colour.master_display or colour.max_cll):
        if colour.master_display:
            params["master-display"] = colour.master_display
        if colour.max_cll:
            params["max-cll"] = f"{colour.max_cll[0]},{colour.max_cll[1]}"
        params["hdr10"] = "1"  # signal HDR10 (writes the SEI)
        params["hdr10-opt"] = "1"  # x265's block-level luma/chroma QP offsets for HDR10
        params["repeat-headers"] = "1"  # headers (and SEI) at every keyframe: each segment carries them
    return params


def hdr_warnings(colour: ColourTags, encoder: Encoder, bits: int | None) -> list[str]:
    """What the encode will lose of the source's HDR signal (empty when nothing)."""
    out = []
    if encoder == "ffv1" and (colour.master_display or colour.max_cll):
        out.append(
            "ffv1 has no place for the HDR10 mastering/light-level metadata (the colour tags are kept); "
            "pass it on when encoding the delivery file from this master (x265 master-display/max-cll)"
        )
    if encoder == "x264" and bits is not None and bits > 10:
        out.append(f"x264 encodes at most 10 bits: this {bits}-bit clip is reduced to 10 (x265 and ffv1 keep it)")
    if not colour.hdr:
        return out
    kind = "PQ" if colour.transfer == PQ else "HLG"
    if bits is not None and bits < 10:
        out.append(
            f"the clip is HDR ({kind}) but only {bits}-bit: banding is likely; "
            "output 10 bits (e.g. output_format=vs.YUV420P10) to keep the HDR signal intact"
        )
    if encoder == "x264":
        out.append(
            f"the clip is HDR ({kind}): x264 writes no HDR10 mastering/light-level metadata, so players may "
            "show it wrongly; use --encoder x265 to keep the HDR signal"
        )
    return out


def merge_encoder_params(encoder: Encoder, params: Mapping[str, str], extra: list[str]) -> tuple[list[str], list[str]]:
    """One ``-x26N-params`` for ``params`` and any the user passed in ``extra`` (the user's keys win).

    ffmpeg keeps only the last of repeated ``-x265-params`` options, so a user's ``--ffmpeg-args
    "-x265-params aq-mode=3"`` would otherwise silently drop the colour tags and HDR metadata.
    Returns (the merged option, ``extra`` without the user's ``-x26N-params``).
    """
    if encoder == "ffv1":
        return [], list(extra)
    option = f"-{encoder}-params"
    merged = dict(params)
    rest: list[str] = []
    i = 0
    while i < len(extra):
        if extra[i] == option and i + 1 < len(extra):
            for item in filter(None, extra[i + 1].split(":")):
                key, _, value = item.partition("=")
                merged[key] = value
            i += 2
        else:
            rest.append(extra[i])
            i += 1
    if not merged:
        return [], rest
    return [option, ":".join(f"{k}={v}" if v else k for k, v in merged.items())], rest
