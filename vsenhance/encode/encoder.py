"""The encoder's room: which encoders there are, their settings and defaults, and the one ffmpeg command line a
segment is encoded with (codec options, the colour description in the stream and in the encoder's VUI, HDR10
metadata, the user's extra options merged in).

The pixel format comes from the y4m header a worker writes (ProRes: from its profile); segments are Matroska,
which holds every codec here. Torch-free: the driver and the CLI import this.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast, get_args

from ..errors import ClipError
from .colour_tags import PQ, ColourTags, vui_names

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

Encoder = Literal["x264", "x265", "ffv1", "svt-av1", "prores", "nvenc-h264", "nvenc-hevc", "nvenc-av1"]
ENCODERS: tuple[Encoder, ...] = get_args(Encoder)  # the CLI's choices and the settings' check
DEFAULT_ENCODER: Encoder = "x264"
DEFAULT_CRF = 18
DEFAULT_PRESET = "slow"

ProresProfile = Literal["proxy", "lt", "standard", "hq", "4444", "4444xq"]
PRORES_PROFILES: tuple[ProresProfile, ...] = get_args(ProresProfile)  # prores_ks's -profile:v 0-5, in order
DEFAULT_PRORES_PROFILE: ProresProfile = "hq"

CRF_MAX = 51
"""x264's and x265's highest CRF; above it both clamp silently."""

NVENC_PRESETS = tuple(f"p{n}" for n in range(1, 8))  # p1 fastest ... p7 best, NVENC's (SDK 10+) names


@dataclass(frozen=True)
class Codec:
    """What one ``--encoder`` is: ffmpeg's encoder, its quality and preset options, and what it takes."""

    ffmpeg: str
    quality: Literal["crf", "cq"] | None  # the option that sets quality; None: lossless (ffv1) or --profile (prores)
    quality_range: tuple[int, int] = (0, 0)
    default_quality: int | None = None
    whole_quality: bool = False  # ffmpeg takes an integer (SVT-AV1, NVENC); x264/x265 take 18.5
    presets: tuple[str, ...] | None = None  # None: any name (x264/x265's, checked by the dry run)
    default_preset: str | None = None
    params: str | None = None  # the encoder's own key=value option, where the VUI and HDR10 metadata go
    layouts: frozenset[tuple[str, int]] | None = None  # (chroma, bits) it encodes; None: any y4m carries
    min_size: int = 0  # the smallest width and height it accepts


_420_8_10 = frozenset({("420", 8), ("420", 10)})
_NVENC = {"quality": "cq", "quality_range": (1, 51), "default_quality": 20, "whole_quality": True,
          "presets": NVENC_PRESETS, "default_preset": "p5"}  # fmt: skip
CODECS: dict[Encoder, Codec] = {
    "x264": Codec("libx264", "crf", (0, CRF_MAX), DEFAULT_CRF, default_preset=DEFAULT_PRESET, params="-x264-params"),
    "x265": Codec("libx265", "crf", (0, CRF_MAX), DEFAULT_CRF, default_preset=DEFAULT_PRESET, params="-x265-params"),
    "ffv1": Codec("ffv1", None),
    "svt-av1": Codec(
        "libsvtav1",
        "crf",
        (0, 63),
        30,
        whole_quality=True,
        presets=tuple(str(n) for n in range(14)),
        default_preset="6",
        params="-svtav1-params",
        layouts=_420_8_10,
        min_size=64,
    ),
    "prores": Codec("prores_ks", None),
    "nvenc-h264": Codec("h264_nvenc", **_NVENC, layouts=frozenset({("420", 8), ("444", 8)})),
    "nvenc-hevc": Codec("hevc_nvenc", **_NVENC, layouts=_420_8_10 | {("444", 8), ("444", 10)}),
    "nvenc-av1": Codec("av1_nvenc", **_NVENC, layouts=_420_8_10),
}
"""Every encoder's facts, in one place: the settings' checks, the command line and docs/encode.md follow them."""

_FRAMES_FIX = "change frames in the script, where the plan, the check and the resume see it"
_NOT_IN_FFMPEG_ARGS = {
    **dict.fromkeys(("-c", "-codec", "-vcodec"), "the codec is --encoder's"),
    "-f": "segments are Matroska and the joined file's container comes from -o's extension",
    **dict.fromkeys(("-vf", "-filter", "-filter_complex", "-lavfi", "-s", "-r"), _FRAMES_FIX),
    **dict.fromkeys(("-frames", "-vframes", "-ss", "-t", "-to", "-fs"), "each segment must hold all of its frames"),
    **dict.fromkeys(("-map", "-i"), "the inputs are the worker's y4m and --audio"),
    **dict.fromkeys(("-crf", "-cq"), "the quality is --crf (--cq for NVENC), which the plan records"),
    "-preset": "the preset is --preset, which the plan records",
}
"""Options that would make a segment other than what the plan, the check and the join expect."""
_PRORES_NOT_IN_FFMPEG_ARGS = {
    "-profile": "ProRes's profile is --profile, which the plan records",
    "-pix_fmt": "ProRes's --profile sets the pixel format (4:2:2 or 4:4:4, 10-bit)",
}
_FFMPEG_ARGS_FIX = "keep --ffmpeg-args to encoder options (-tune, -x264-params, -profile:v, ...)."


def _refuse(problem: str, fix: str) -> ClipError:
    return ClipError("encode", problem, fix)


@dataclass(frozen=True)
class EncoderSettings:
    encoder: Encoder = DEFAULT_ENCODER
    crf: float | None = DEFAULT_CRF
    preset: str | None = DEFAULT_PRESET
    ffmpeg_args: tuple[str, ...] = field(default_factory=tuple)
    profile: ProresProfile | None = None  # ProRes only
    cq: int | None = None  # NVENC only: its constant quality

    @classmethod
    def create(
        cls, encoder: str, crf: float | None, preset: str | None, ffmpeg_args: str | None,
        *, cq: int | None = None, profile: str | None = None,
    ) -> EncoderSettings:  # fmt: skip
        """Validate and normalise. An option the encoder has no use for is refused, not ignored (ffv1 is
        lossless, ProRes's quality is its profile, NVENC's is ``cq``), and is not hashed into the plan."""
        if encoder not in CODECS:
            raise _refuse(f"unknown encoder {encoder!r}.", f"use one of {', '.join(ENCODERS)}.")
        codec = CODECS[cast(Encoder, encoder)]
        try:
            extra = tuple(shlex.split(ffmpeg_args)) if ffmpeg_args else ()
        except ValueError as exc:
            raise _refuse(f"--ffmpeg-args could not be split: {exc}.", "check the quoting.") from exc
        forbidden = _NOT_IN_FFMPEG_ARGS | (_PRORES_NOT_IN_FFMPEG_ARGS if encoder == "prores" else {})
        for arg in extra:
            why = forbidden.get(arg.split(":")[0])
            if arg.startswith("-") and why is not None:
                raise _refuse(f"--ffmpeg-args may not hold {arg}: {why}.", _FFMPEG_ARGS_FIX)
        what = {"ffv1": "ffv1, which is lossless", "prores": "ProRes, whose quality is its --profile"}.get(encoder)
        given = [name for name, value in (("--crf", crf), ("--cq", cq), ("--preset", preset)) if value is not None]
        if codec.quality is None and given:
            raise _refuse(
                f"{' and '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to {what}.",
                "leave it out." if len(given) == 1 else "leave them out.",
            )
        if codec.quality == "crf" and cq is not None:
            raise _refuse(f"--cq is NVENC's quality; {encoder}'s is --crf.", f"pass --crf {codec.default_quality}.")
        if codec.quality == "cq" and crf is not None:
            raise _refuse(
                f"NVENC has no CRF; its constant quality is --cq {codec.quality_range[0]}-{codec.quality_range[1]}.",
                f"pass --cq {codec.default_quality} (lower is better).",
            )
        if profile is not None and encoder != "prores":
            raise _refuse(
                f"--profile is ProRes's ({'|'.join(PRORES_PROFILES)}); {encoder} has none.",
                "leave it out (an encoder's own profile goes in --ffmpeg-args, e.g. -profile:v high10).",
            )
        if encoder == "prores":
            profile = DEFAULT_PRORES_PROFILE if profile is None else profile
            if profile not in PRORES_PROFILES:
                raise _refuse(
                    f"--profile {profile!r} is not a ProRes profile.", f"use one of {'|'.join(PRORES_PROFILES)}."
                )
        quality = None
        if codec.quality is not None:
            quality = _quality(encoder, codec, crf if codec.quality == "crf" else cq)
            preset = _preset(encoder, codec, preset)
        if codec.quality == "cq":
            crf, cq = None, cast(int, quality)
        else:
            crf = quality
        return cls(cast(Encoder, encoder), crf, preset, extra, cast(ProresProfile | None, profile), cq)

    @property
    def codec(self) -> Codec:
        return CODECS[self.encoder]

    def codec_argv(self, colour: ColourTags | None = None) -> list[str]:
        """ffmpeg output options for the video codec (the pixel format comes from the y4m header, or for ProRes
        from its profile).

        ``colour``: the clip's colour description and HDR metadata, written as stream options and, where the
        encoder has its own key=value option, in its VUI (one ``-x26N-params``/``-svtav1-params`` holding ours
        and the user's, whose keys win).
        """
        colour = colour or ColourTags()
        codec = self.codec
        params: dict[str, str] = {}
        argv = ["-c:v", codec.ffmpeg]
        if self.encoder == "ffv1":
            argv += ["-level", "3", "-g", "1", "-slicecrc", "1"]
        elif self.encoder == "prores":
            colour, filters = _prores_conversion(colour, self.prores_pix_fmt)
            argv += ["-profile:v", str(PRORES_PROFILES.index(self.profile or DEFAULT_PRORES_PROFILE)),
                     "-vendor", "apl0", "-vf", filters]  # fmt: skip
        elif codec.quality == "cq":  # NVENC: constant quality through VBR with no bitrate cap
            argv += ["-preset", str(self.preset), "-tune", "hq", "-rc", "vbr", "-cq", str(self.cq), "-b:v", "0"]
        else:
            argv += ["-crf", str(self.crf), "-preset", str(self.preset)]
        if self.encoder == "x265":
            params["log-level"] = "error"
        params |= vui_params(colour, self.encoder)
        merged, extra = merge_encoder_params(self.encoder, params, list(self.ffmpeg_args))
        return argv + colour.ffmpeg_argv() + merged + extra

    @property
    def prores_pix_fmt(self) -> str:
        """What ProRes's profile encodes: 4:2:2 10-bit up to hq, 4:4:4 10-bit for 4444 and 4444xq."""
        return "yuv444p10le" if (self.profile or "").startswith("4444") else "yuv422p10le"

    def clip_problem(self, format_name: str, width: int, height: int) -> tuple[str, str] | None:
        """(problem, fix) when this encoder cannot take the clip as it is, checked before its first frame
        (ffmpeg would convert it silently, losing bits or chroma, or fail on every segment)."""
        codec = self.codec
        if width < codec.min_size or height < codec.min_size:
            return (
                f"{self.encoder} takes frames of at least {codec.min_size}x{codec.min_size}; the clip is "
                f"{width}x{height}",
                "resize it in the script or pick another --encoder (x264, x265, ffv1 take any size).",
            )
        layout = _layout(format_name)
        if codec.layouts is None or layout is None or layout in codec.layouts:
            return None
        takes = ", ".join(f"{c[0]}:{c[1]}:{c[2]} {b}-bit" for c, b in sorted(codec.layouts))
        example = "YUV420P10" if ("420", 10) in codec.layouts else "YUV420P8"
        return (
            f"{self.encoder} encodes {takes}; the clip is {format_name}, which ffmpeg would convert silently",
            f"convert it in the script, e.g. clip = core.resize.Spline36(clip, format=vs.{example}).",
        )

    def conversion(self, format_name: str | None, colour: ColourTags | None = None) -> str | None:
        """How the encoder's ffmpeg converts the clip, for the plan line (ProRes: its profile decides the format,
        and a full-range clip becomes limited)."""
        if self.encoder != "prores" or not format_name:
            return None
        chroma = "444" if self.prores_pix_fmt.startswith("yuv444") else "422"
        said = []
        if _layout(format_name) != (chroma, 10) or format_name.upper().startswith("GRAY"):
            said.append(f"{format_name} converted to {':'.join(chroma)} 10-bit ({self.prores_pix_fmt}) for ProRes "
                        f"{self.profile}")  # fmt: skip
        if colour is not None and colour.range == "full":
            said.append("full range scaled to limited (ProRes has no full-range flag)")
        return ", ".join(said) or None

    def describe(self) -> str:
        if self.encoder == "ffv1":
            text = "ffv1 (lossless, level 3)"
        elif self.encoder == "prores":
            text = f"prores {self.profile} (prores_ks)"
        elif self.codec.quality == "cq":
            text = f"{self.encoder} cq {self.cq} preset {self.preset}"
        else:
            text = f"{self.encoder} crf {self.crf} preset {self.preset}"
        return text + (f" + {shlex.join(self.ffmpeg_args)}" if self.ffmpeg_args else "")


def _quality(encoder: str, codec: Codec, value: float | None) -> float | int:
    """The CRF or CQ, default or checked against the encoder's range."""
    low, high = codec.quality_range
    option = f"--{codec.quality}"
    value = codec.default_quality if value is None else value
    if not math.isfinite(value) or not low <= value <= high:
        raise _refuse(
            f"{option} {value:g} is outside {encoder}'s {low}-{high}.", f"pass e.g. {option} {codec.default_quality}."
        )
    if codec.whole_quality and not float(value).is_integer():
        raise _refuse(f"{option} {value:g} is not a whole number; {encoder} takes {low}-{high} in steps of 1.",
                      f"pass e.g. {option} {round(value)}.")  # fmt: skip
    return int(value) if float(value).is_integer() else value


def _preset(encoder: str, codec: Codec, preset: str | None) -> str:
    if preset is not None and not preset.strip():
        raise _refuse("--preset is empty.", f"pass a preset name, e.g. {codec.default_preset}.")
    preset = preset or cast(str, codec.default_preset)
    if codec.presets is not None and preset not in codec.presets:
        span = f"{codec.presets[0]}-{codec.presets[-1]}"
        kind = "the slowest and best" if encoder == "svt-av1" else "the fastest"
        raise _refuse(f"--preset {preset} is not one of {encoder}'s presets {span} ({codec.presets[0]}: {kind}).",
                      f"pass e.g. --preset {codec.default_preset}.")  # fmt: skip
    return preset


def _layout(format_name: str | None) -> tuple[str, int] | None:
    """(chroma, bits) of a YUV or GRAY format name: ``YUV422P10`` -> ("422", 10); GRAY counts as 4:2:0 (ffmpeg
    adds neutral chroma, losing nothing). None for a name it does not read."""
    m = re.fullmatch(r"(?:YUV(\d{3})P|GRAY)(\d+)", (format_name or "").upper())
    return (m[1] or "420", int(m[2])) if m else None


_SETPARAMS = {"-colorspace": "colorspace", "-color_trc": "color_trc", "-color_primaries": "color_primaries",
              "-color_range": "range"}  # fmt: skip


def _prores_conversion(colour: ColourTags, pix_fmt: str) -> tuple[ColourTags, str]:
    """The colour description after the conversion to ProRes's format, and the ``-vf`` that converts.

    ProRes has no full-range flag (decoders read it as limited), so a full-range clip is scaled to limited range.
    Its 4:2:2 keeps only the horizontal part of the siting; 4:4:4 has none. The tags are set on the converted
    frames (``setparams``): ffmpeg 5.1 drops the stream options' colour when it converts the pixel format.
    """
    full = colour.range == "full"
    siting = None if colour.chroma_location is None or pix_fmt.startswith("yuv444") else colour.chroma_location % 2
    colour = replace(colour, range="limited" if colour.range else None, chroma_location=siting)
    stream = colour.ffmpeg_argv()
    tags = [f"{_SETPARAMS[k]}={v}" for k, v in zip(stream[::2], stream[1::2], strict=True) if k in _SETPARAMS]
    filters = [*(["scale=in_range=pc:out_range=tv"] if full else []), f"format={pix_fmt}"]
    return colour, ",".join(filters + ([f"setparams={':'.join(tags)}"] if tags else []))


_H26X: tuple[Encoder, ...] = ("x264", "x265", "nvenc-h264", "nvenc-hevc")
_AV1: tuple[Encoder, ...] = ("svt-av1", "nvenc-av1")
CONTAINERS: dict[str, tuple[Encoder, ...]] = {
    ".mkv": ENCODERS, ".mka": (), ".mov": (*_H26X, "ffv1", "prores"), ".nut": (*_H26X, "ffv1", *_AV1),
    ".mp4": (*_H26X, *_AV1), ".m4v": _H26X, ".ts": _H26X, ".m2ts": _H26X,
    ".avi": ("x264", "nvenc-h264", "ffv1"), ".webm": _AV1,
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
    at = argv.index("-i")  # the y4m pipe becomes generated 8-bit 4:2:0 frames, above every encoder's minimum
    side, frames = _DRY_SIDE, _DRY_FRAMES
    argv[at - 2 : at + 2] = ["-f", "lavfi", "-i", f"testsrc2=size={side}x{side}:rate=24,format=yuv420p",
                             "-frames:v", str(frames)]  # fmt: skip
    argv[1:1] = ["-nostdin"]
    done = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    if done.returncode != 0:
        said = [ln.strip() for ln in done.stderr.decode("utf-8", "replace").splitlines()
                if ln.strip() and not ln.strip().startswith("Last message repeated")]  # fmt: skip
        raise ClipError("encode", *_refusal(settings, said, ffmpeg))
    got = _frames_and_size(frame)
    if got != (frames, side, side):  # whatever option did it: the plan, the check and the join expect the clip
        shown = f"{got[0]} of {got[1]}x{got[2]}" if got else "no readable frames"
        raise ClipError(
            "encode",
            f"the encoder options change the frames ({settings.describe()}): {frames} frames of {side}x{side} in, "
            f"{shown} out.",
            "leave frame-changing options out of --ffmpeg-args; change frames in the script, where the plan sees it.",
        )
    return frame


_DRY_SIDE, _DRY_FRAMES = 256, 3


def _frames_and_size(path: Path) -> tuple[int, int, int] | None:
    """(decoded frames, width, height) of a file's video, by ffprobe; None when it cannot tell."""
    from .programs import child_env, find_ffprobe

    argv = [os.fspath(find_ffprobe("encode")), "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
            "stream=nb_read_frames,width,height", "-of", "csv=p=0", os.fspath(path)]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, env=child_env(), stdin=subprocess.DEVNULL, timeout=60)
        width, height, count = (int(v) for v in done.stdout.decode().strip().split(",")[:3])
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return count, width, height


_NO_NVENC_DEVICE = ("cannot load libcuda", "no capable devices", "no nvenc capable devices", "cuinit",
                    "openencodesessionex failed", "driver does not support the required nvenc api")  # fmt: skip


def _refusal(settings: EncoderSettings, said: list[str], ffmpeg: Path) -> tuple[str, str]:
    """(problem, fix) for a failed dry run, in plain words where the cause is known: no NVENC device, or an
    encoder this ffmpeg was built without. Otherwise the encoder's own last line (ffmpeg's last one, "Error
    initializing output stream ...", says nothing of the cause)."""
    codec = settings.codec.ffmpeg
    own = [ln for ln in said if ln.startswith(f"[{codec} @")]
    line = (own or said or ["no message"])[-1]
    if any(ln.startswith("Unknown encoder") for ln in said):
        newer = " (av1_nvenc needs ffmpeg 6.0 or later)" if codec == "av1_nvenc" else ""
        return (f"--encoder {settings.encoder}: this ffmpeg ({ffmpeg}) has no {codec} encoder{newer}",
                "install an ffmpeg built with it, or pick another --encoder.")  # fmt: skip
    if settings.codec.quality == "cq" and any(k in ln.lower() for ln in said for k in _NO_NVENC_DEVICE):
        return (f"--encoder {settings.encoder} needs an NVIDIA GPU with NVENC, and this machine has none that ffmpeg "
                f"can open ({line.split('] ', 1)[-1]})",
                "run the encode where an NVIDIA GPU and its driver are, or pick --encoder x264, x265 or svt-av1.")  # fmt: skip
    return (f"ffmpeg refuses the encoder options ({settings.describe()[:80]}): {line[:120]}",
            "check --encoder, --crf/--cq, --preset, --profile and --ffmpeg-args.")  # fmt: skip


def vui_params(colour: ColourTags, encoder: Encoder) -> dict[str, str]:
    """The VUI (and the HDR10 metadata where the encoder writes it) as the items of its own key=value option:
    ``-x264-params``, ``-x265-params`` or ``-svtav1-params``. Encoders without one (ffv1, ProRes, NVENC) take
    ffmpeg's stream options alone, which they write into their bitstream themselves."""
    if encoder == "svt-av1":
        return _svt_params(colour)
    if CODECS[encoder].params is None:
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


_AV1_SITING = {0: "1", 2: "2"}  # H.273 left -> AV1 CSP_VERTICAL, topleft -> CSP_COLOCATED; AV1 has no other


def _svt_params(colour: ColourTags) -> dict[str, str]:
    """SVT-AV1's sequence-header colour config and its HDR10 metadata OBUs. AV1 numbers primaries, transfer and
    matrix as H.273 does, so the codes pass as they are; SVT-AV1 reads the mastering display in cd/m² and
    chromaticities as decimals, where x265 (and :class:`ColourTags`) count 0.00002 and 0.0001 cd/m² units."""
    params: dict[str, str] = {}
    for key, code in (("color-primaries", colour.primaries), ("transfer-characteristics", colour.transfer),
                      ("matrix-coefficients", colour.matrix)):  # fmt: skip
        if code is not None:
            params[key] = str(code)
    if colour.range is not None:
        params["color-range"] = "1" if colour.range == "full" else "0"
    if colour.chroma_location in _AV1_SITING:
        params["chroma-sample-position"] = _AV1_SITING[colour.chroma_location]
    if colour.master_display:
        params["mastering-display"] = _svt_master_display(colour.master_display)
    if colour.max_cll:
        params["content-light"] = f"{colour.max_cll[0]},{colour.max_cll[1]}"
    return params


def _svt_master_display(x265: str) -> str:
    """x265's ``G(13250,34500)...L(10000000,50)`` as SVT-AV1's ``G(0.265,0.69)...L(1000,0.005)``."""
    numbers = [int(n) for n in re.findall(r"\d+", x265)]
    xy = [f"{n / 50000:g}" for n in numbers[:8]]
    hi, lo = numbers[8] / 10000, numbers[9] / 10000
    return f"G({xy[0]},{xy[1]})B({xy[2]},{xy[3]})R({xy[4]},{xy[5]})WP({xy[6]},{xy[7]})L({hi:g},{lo:g})"


_NO_HDR10 = {"ffv1": "ffv1 has no place for", "prores": "ProRes (prores_ks) drops",
             **dict.fromkeys(("nvenc-h264", "nvenc-hevc", "nvenc-av1"), "NVENC (as vsenhance drives it through ffmpeg) drops")}  # fmt: skip
"""The encoders that drop HDR10 mastering/light-level metadata (x265 and SVT-AV1 write it)."""


def hdr_warnings(colour: ColourTags, encoder: Encoder, bits: int | None) -> list[str]:
    """What the encode will lose of the source's HDR signal or its bits (empty when nothing)."""
    out = []
    if encoder in _NO_HDR10 and (colour.master_display or colour.max_cll):
        out.append(
            f"{_NO_HDR10[encoder]} the HDR10 mastering/light-level metadata (the colour tags are kept); pass it on "
            "when encoding the delivery file from this master, or use --encoder x265 or svt-av1, which write it"
        )
    if encoder == "x264" and bits is not None and bits > 10:
        out.append(f"x264 encodes at most 10 bits: this {bits}-bit clip is reduced to 10 (x265 and ffv1 keep it)")
    if encoder == "prores" and bits is not None and bits > 10:
        out.append(f"prores_ks encodes 10 bits: this {bits}-bit clip is reduced to 10 (ffv1 keeps it)")
    if not colour.hdr:
        return out
    kind = "PQ" if colour.transfer == PQ else "HLG"
    if bits is not None and bits < 10 and encoder != "prores":  # ProRes is 10-bit whatever the clip
        out.append(
            f"the clip is HDR ({kind}) but only {bits}-bit: banding is likely; "
            "output 10 bits (e.g. output_format=vs.YUV420P10) to keep the HDR signal intact"
        )
    if encoder in ("x264", "nvenc-h264"):
        out.append(
            f"the clip is HDR ({kind}): {encoder} writes no HDR10 mastering/light-level metadata, so players may "
            "show it wrongly; use --encoder x265 or svt-av1 to keep the HDR signal"
        )
    return out


def merge_encoder_params(encoder: Encoder, params: Mapping[str, str], extra: list[str]) -> tuple[list[str], list[str]]:
    """One ``-x26N-params`` (``-svtav1-params``) for ``params`` and any the user passed in ``extra`` (the user's
    keys win).

    ffmpeg keeps only the last of repeated ``-x265-params`` options, so a user's ``--ffmpeg-args
    "-x265-params aq-mode=3"`` would otherwise silently drop the colour tags and HDR metadata.
    Returns (the merged option, ``extra`` without the user's ``-x26N-params``).
    """
    option = CODECS[encoder].params
    if option is None:
        return [], list(extra)
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
