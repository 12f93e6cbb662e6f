"""Clip information from ``vspipe --info`` (no VapourSynth script runs in this process)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import EncodeError
from .tools import find_vspipe, run_checked, script_arg_argv

__all__ = ["ClipInfo", "parse_vspipe_info", "read_clip_info"]


@dataclass(frozen=True)
class ClipInfo:
    frames: int
    fps_num: int
    fps_den: int
    width: int
    height: int
    format: str

    @property
    def fps(self) -> float:
        return self.fps_num / self.fps_den if self.fps_den else 0.0


def parse_vspipe_info(text: str) -> ClipInfo:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    try:
        if fields.get("type", "video").lower() != "video":
            raise ValueError(f"output 0 is {fields['type']}, not video")
        fps = re.match(r"(\d+)/(\d+)", fields.get("fps", "0/1"))
        num, den = (int(fps.group(1)), int(fps.group(2))) if fps else (0, 1)
        return ClipInfo(
            frames=int(fields["frames"]),
            fps_num=num,
            fps_den=den,
            width=int(fields.get("width", "0")),
            height=int(fields.get("height", "0")),
            format=fields.get("format name", fields.get("format", "?")),
        )
    except (KeyError, ValueError) as exc:
        raise EncodeError(
            "parse_vspipe_info",
            f"could not read the clip's info from vspipe --info ({exc}); it printed:\n{text.strip()}",
            "make sure the script sets output 0 to a video clip with a constant format.",
        ) from exc


def read_clip_info(script: Path, script_args: list[str]) -> ClipInfo:
    argv = [find_vspipe(), "--info", *script_arg_argv(script_args), script, "-"]
    done = run_checked(argv, "read_clip_info", f"loading the script {script}")
    info = parse_vspipe_info(done.stdout.decode("utf-8", "replace"))
    if info.width == 0 or info.height == 0:
        raise EncodeError(
            "read_clip_info",
            "the script's output has a variable frame size, which y4m cannot carry.",
            "resize to a constant size in the script.",
        )
    return info
