"""What one attempt at a segment is: the frames, the ffmpeg argv a worker pipes them into, and its files.

The worker executes the script once and writes ``clip[first:last + 1]`` as y4m into this ffmpeg (the bytes
``vspipe -c y4m -s FIRST -e LAST`` would write), whose output is a partial file unique to the attempt; the
pixel format comes from the y4m header.
"""

from __future__ import annotations

import os
from pathlib import Path

from .farm.protocol import RenderTask
from .plan import EncoderSettings, Segment
from .state import EncodeState

__all__ = ["ffmpeg_segment_argv", "render_task"]


def ffmpeg_segment_argv(ffmpeg: Path, encoder: EncoderSettings, output: Path) -> list[str]:
    return [
        os.fspath(ffmpeg), "-hide_banner", "-nostats", "-loglevel", "warning",
        "-f", "yuv4mpegpipe", "-i", "pipe:0", "-map", "0:v:0", *encoder.codec_argv(),
        "-f", "matroska", "-y", os.fspath(output),
    ]  # fmt: skip


def render_task(
    ffmpeg: Path, encoder: EncoderSettings, state: EncodeState, seg: Segment, worker_id: str, attempt: int
) -> RenderTask:
    partial = state.partial_path(seg, worker_id, attempt)
    return RenderTask(
        index=seg.index,
        first=seg.first,
        last=seg.last,
        ffmpeg_argv=tuple(ffmpeg_segment_argv(ffmpeg, encoder, partial)),
        partial=os.fspath(partial),
        final=os.fspath(state.segment_path(seg)),
        attempt=attempt,
    )
