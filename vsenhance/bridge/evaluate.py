"""Per-frame callbacks: ``std.ModifyFrame`` wiring and how many frames VapourSynth works on at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import vapoursynth as vs

from ..constants import HELD_IN_FLIGHT
from .frames import read_planes

__all__ = ["PlaneFunction", "ensure_threads", "map_planes"]

log = logging.getLogger(__name__)

PlaneFunction = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], None]
"""Reads the source planes and fills the (writable) destination planes."""


def ensure_threads(streams: int, func: str, *, held: bool = False) -> None:
    """Give VapourSynth enough threads to keep ``streams`` frames in flight plus one for decode/encode
    (``held``: :data:`~vsenhance.constants.HELD_IN_FLIGHT` frames per stream, so held frames in flight leave
    ``streams`` keys computing).

    vspipe requests as many frames at once as the core has threads, so fewer threads than streams would
    leave streams idle: the GPU "waveform".
    """
    core = vs.core
    wanted = streams * (HELD_IN_FLIGHT if held else 1) + 1
    if core.num_threads < wanted:
        log.info(
            "%s: raising core.num_threads from %d to %d so %d streams stay busy",
            func,
            core.num_threads,
            wanted,
            streams,
        )
        core.num_threads = wanted


def map_planes(
    clip: vs.VideoNode,
    template: vs.VideoNode,
    fn: PlaneFunction,
    props: Callable[[int], Mapping[str, Any]] | None = None,
) -> vs.VideoNode:
    """A clip shaped like ``template`` whose frame n is ``fn(planes of clip[n])``, with clip[n]'s props (and
    ``props(n)``, read after ``fn`` ran, so it can tell what ``fn`` did, e.g. the tile size it ended up using).

    Each frame is computed independently (random access: frame n needs only clip[n]). ``std.ModifyFrame``
    runs its callback for one frame at a time, so each request gets its own ModifyFrame node through
    ``std.FrameEval``: that lets VapourSynth run ``fn`` for several frames at once (``fn`` must be
    thread-safe) and keeps every worker busy.
    """

    fmt, width, height = template.format, template.width, template.height

    def modify(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        # A new frame, not a copy of a blank one: writing to a copy would first duplicate its planes (a full
        # memcpy per frame, 13-30 ms at 8K) only for ``fn`` to overwrite them.
        dst = vs.core.create_video_frame(fmt, width, height)
        fn(read_planes(f), read_planes(dst))
        dst.props.update(f.props)
        if props is not None:
            dst.props.update(props(n))
        return dst

    return template.std.FrameEval(lambda n: template.std.ModifyFrame(clip, modify), clip_src=[clip, template])
