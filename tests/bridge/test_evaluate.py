"""``map_planes`` runs the callback for several frames at once and keeps random access."""

from __future__ import annotations

import numpy as np
import vapoursynth as vs

from tests.bridge.doubler import SlowDoubler
from vsenhance.bridge.evaluate import ensure_threads, map_planes
from vsenhance.constants import HELD_IN_FLIGHT

core = vs.core


def test_callbacks_run_concurrently_and_frames_stay_in_order() -> None:
    clip = core.std.BlankClip(format=vs.GRAYS, width=8, height=8, length=8)
    clip = core.std.FrameEval(clip, lambda n: clip.std.BlankClip(color=[n], length=1), clip_src=clip)
    template = clip.std.BlankClip(width=16, height=16, keep=True)
    double = SlowDoubler()
    out = map_planes(clip, template, double)
    old = core.num_threads
    core.num_threads = 4
    try:
        values = [float(np.asarray(f[0])[15, 15]) for f in out.frames(prefetch=4)]
    finally:
        core.num_threads = old
    assert values == [float(n) for n in range(8)]
    assert double.peak >= 2, "the callback never ran for two frames at once"


def test_threads_cover_the_streams_and_with_held_frames_their_holds() -> None:
    old = core.num_threads
    try:
        core.num_threads = 1
        ensure_threads(2, "test")
        assert core.num_threads == 3
        ensure_threads(2, "test", held=True)
        assert core.num_threads == 2 * HELD_IN_FLIGHT + 1
        ensure_threads(1, "test")  # never lowered
        assert core.num_threads == 2 * HELD_IN_FLIGHT + 1
    finally:
        core.num_threads = old
