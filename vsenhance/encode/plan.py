"""The encode plan: segments of N frames and a fingerprint of everything that decides the segments' content.

The fingerprint is the SHA-256 of: the script file's bytes (only the script itself: files it imports or the
source video it reads are *not* hashed), the ``-a`` arguments (sorted), the ``--env`` variables (their values'
SHA-256, so that a secret never lands in ``plan.json``), the encoder settings, the segment size and the clip's
total frame count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from ..errors import ClipError, EncodeError
from ..script import ScriptArgs, parse_script_arg
from .colour_tags import ColourTags
from .encoder import EncoderSettings

__all__ = [
    "DEFAULT_SEGMENT_FRAMES",
    "Plan",
    "Segment",
    "env_digests",
    "make_segments",
]

SEGMENT_EXT = ".mkv"  # Matroska holds H.264, HEVC and FFV1 alike
DEFAULT_SEGMENT_FRAMES = 1000


def _encoder_fields(encoder: EncoderSettings) -> dict:
    """The settings as the plan saves and hashes them; ProRes's profile and NVENC's cq only where they are set,
    so a plan saved before those existed keeps its fingerprint and resumes."""
    fields = asdict(encoder) | {"ffmpeg_args": list(encoder.ffmpeg_args)}
    return {key: value for key, value in fields.items() if value is not None or key not in ("profile", "cq")}


@dataclass(frozen=True)
class Segment:
    index: int
    first: int  # inclusive
    last: int  # inclusive

    @property
    def frames(self) -> int:
        return self.last - self.first + 1

    @property
    def name(self) -> str:
        return f"seg_{self.index:05d}{SEGMENT_EXT}"


def env_digests(env: Mapping[str, str]) -> dict[str, str]:
    """``--env`` values as the plan keeps them: each value's SHA-256, never the value."""
    return {name: hashlib.sha256(value.encode()).hexdigest() for name, value in sorted(env.items())}


def make_segments(total_frames: int, segment_frames: int) -> list[Segment]:
    """Split ``total_frames`` into consecutive segments of ``segment_frames`` (the last may be shorter)."""
    if total_frames <= 0:
        raise ClipError("encode", f"the clip has {total_frames} frames.", "check the script's output clip.")
    if segment_frames <= 0:
        raise ClipError("encode", f"segment size {segment_frames} is not positive.", "pass --segment-frames N > 0.")
    return [
        Segment(i, first, min(first + segment_frames, total_frames) - 1)
        for i, first in enumerate(range(0, total_frames, segment_frames))
    ]


@dataclass(frozen=True)
class Plan:
    script: str  # absolute path, informational (not part of the fingerprint: moving the script is fine)
    script_sha256: str
    script_args: ScriptArgs  # parsed -a arguments; saved as "key=value" items sorted by key
    encoder: EncoderSettings
    segment_frames: int
    total_frames: int
    fps_num: int = 0
    fps_den: int = 1
    width: int = 0
    height: int = 0
    colour: ColourTags = field(default_factory=ColourTags)  # frame 0's, written into every segment
    format: str | None = None  # the clip's VapourSynth format name
    env: Mapping[str, str] = field(default_factory=dict)  # --env NAME -> SHA-256 of its value (env_digests)

    @property
    def segments(self) -> list[Segment]:
        return make_segments(self.total_frames, self.segment_frames)

    def fingerprint_fields(self) -> dict:
        fields = {
            "script_sha256": self.script_sha256,
            "script_args": [f"{k}={v}" for k, v in sorted(self.script_args.items())],
            "encoder": _encoder_fields(self.encoder),
            "segment_frames": self.segment_frames,
            "total_frames": self.total_frames,
            "colour": self.colour.to_json(),
        }
        if self.env:  # only where set: a plan saved before --env existed keeps its fingerprint
            fields["env"] = dict(sorted(self.env.items()))
        return fields

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.fingerprint_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_json(self) -> dict:
        return {
            "version": 1,
            "fingerprint": self.fingerprint,
            "script": self.script,
            **self.fingerprint_fields(),
            "fps": [self.fps_num, self.fps_den],
            "size": [self.width, self.height],
            "format": self.format,
            "segments": [[s.first, s.last] for s in self.segments],
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        try:
            enc = data["encoder"]
            fps = data.get("fps", [0, 1])
            size = data.get("size", [0, 0])
            return cls(
                script=data["script"],
                script_sha256=data["script_sha256"],
                script_args=dict(parse_script_arg(item, "encode") for item in data["script_args"]),
                encoder=EncoderSettings(
                    enc["encoder"],
                    enc["crf"],
                    enc["preset"],
                    tuple(enc["ffmpeg_args"]),
                    enc.get("profile"),
                    enc.get("cq"),
                ),
                segment_frames=int(data["segment_frames"]),
                total_frames=int(data["total_frames"]),
                fps_num=int(fps[0]),
                fps_den=int(fps[1]),
                width=int(size[0]),
                height=int(size[1]),
                colour=ColourTags.from_json(data.get("colour") or {}),
                format=data.get("format"),
                env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise EncodeError(
                "encode",
                f"the saved plan is not readable ({type(exc).__name__}: {str(exc)[:80]}).",
                "pass --restart to start over.",
                f"the full error: {exc!r}",
            ) from exc

    def differences(self, other: Plan) -> list[str]:
        """Human descriptions of what differs between two plans' fingerprints."""
        a, b = self.fingerprint_fields(), other.fingerprint_fields()
        names = {
            "script_sha256": "the script's content",
            "script_args": "the -a script arguments",
            "encoder": "the encoder settings",
            "segment_frames": "the segment size",
            "total_frames": "the clip's frame count",
            "colour": "the clip's colour description (frame 0's props)",
            "env": "the --env variables",
        }
        a["env"], b["env"] = a.get("env", {}), b.get("env", {})
        out = []
        for key, label in names.items():
            if a[key] != b[key]:
                if key == "script_sha256":
                    out.append(label)
                elif key == "env":  # digests say nothing to a person: name the variables
                    changed = sorted(k for k in {**a[key], **b[key]} if a[key].get(k) != b[key].get(k))
                    out.append(f"{label} ({', '.join(changed)} changed)")
                elif isinstance(a[key], dict) and isinstance(b[key], dict):  # name only what changed in it
                    changed = [k for k in {**a[key], **b[key]} if a[key].get(k) != b[key].get(k)]
                    old, new = ({k: side.get(k) for k in changed} for side in (a[key], b[key]))
                    out.append(f"{label} ({_short(old)} → {_short(new)})")
                else:
                    out.append(f"{label} ({_short(a[key])} → {_short(b[key])})")
        return out

    def clip_changes(self, other: Plan) -> list[str]:
        """What differs in the clip itself (its format, size, frame rate) between a saved plan and this run's:
        segments of one cannot be joined with segments of the other. A field the saved plan lacks (written
        by an older version) is not compared."""
        out = []
        for label, old, new in (
            ("format", self.format, other.format),
            ("size", f"{self.width}x{self.height}" if self.width else None, f"{other.width}x{other.height}"),
            (
                "frame rate",
                f"{self.fps_num}/{self.fps_den}" if self.fps_num else None,
                f"{other.fps_num}/{other.fps_den}",
            ),
        ):
            if old is not None and old != new:
                out.append(f"the clip's {label} ({old} → {new})")
        return out


def _short(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
