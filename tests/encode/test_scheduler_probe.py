"""``Scheduler.probe``: frame props from a worker before any segment (colour tags, _AbsoluteTime)."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import pytest

from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.farm.protocol import Died, Failed, Probed, ProbeTask, RenderTask
from vsenhance.encode.job import render_task
from vsenhance.encode.plan import Plan
from vsenhance.encode.progress import ProgressDisplay as Display
from vsenhance.encode.scheduler import Scheduler
from vsenhance.encode.state import EncodeState
from vsenhance.errors import EncodeError

from .test_scheduler import CLIP, FakePool, ffv1_files, finish  # noqa: F401 (a fixture)

PROPS = {0: {"_Transfer": 16, "_AbsoluteTime": 50.05}, 10: {"_Transfer": 16}}


def _no_files(frames: int):
    raise AssertionError("a probe writes no segment")


def answer(worker_id, task):
    if isinstance(task, ProbeTask):
        return [Probed(worker_id, {n: PROPS[n] for n in task.frames})]
    return finish(worker_id, task)


def _scheduler(pool: FakePool, max_retries: int = 2) -> Scheduler:
    scheduler = Scheduler(pool, max_retries=max_retries, poll_seconds=0)
    scheduler.start()
    assert scheduler.first_ready() == CLIP
    return scheduler


def test_probe_then_segments_on_every_worker(tmp_path, ffv1_files):  # noqa: F811 (the imported fixture)
    """Events that arrive during the probe (the second worker's Ready) are kept for the run."""
    pool = FakePool(2, answer, ffv1_files)
    scheduler = _scheduler(pool)
    assert scheduler.probe((0, 10)) == PROPS
    assert pool.submitted == [("w0", ProbeTask((0, 10)))]
    plan = Plan("/a.vpy", "00" * 32, {}, EncoderSettings.create("ffv1", None, None, None), 8, CLIP.frames)
    state = EncodeState(tmp_path / "out.mkv.vsenhance")
    state.write_plan(plan)
    done: dict[int, int] = {}
    display = Display(plan.total_frames, resumed=0, stream=io.StringIO(), lang="en", interval=0)
    scheduler.run(plan, state, done, partial(render_task, Path("/usr/bin/ffmpeg"), plan.encoder, state), display)
    display.finish()
    assert done == {0: 8, 1: 8, 2: 4}
    assert {w for w, t in pool.submitted if isinstance(t, RenderTask)} == {"w0", "w1"}


def reporting(events_for):
    """A FakePool whose workers report ``events_for(worker_id)`` for a probe (no partial file involved)."""

    def behaviour(worker_id, task):
        pool.inflight.pop(worker_id)  # one report per task
        pool.queue.extend(events_for(worker_id))  # delivered by the next poll

    pool = FakePool(1, behaviour, _no_files)
    return pool


def test_a_script_raising_on_a_probed_frame_is_an_error():
    pool = reporting(lambda w: [Failed(w, None, "probing frame 10: RuntimeError: boom", "Traceback ...")])
    with pytest.raises(EncodeError, match=r"frames \[0, 10\].*boom"):
        _scheduler(pool).probe((0, 10))


def test_a_worker_dying_on_the_probe_is_replaced_and_the_probe_retried():
    deaths = []

    def die_once(worker_id):
        if not deaths:
            deaths.append(worker_id)
            return [Died(worker_id, None, "killed")]
        return [Probed(worker_id, {0: PROPS[0]})]

    pool = reporting(die_once)
    assert _scheduler(pool).probe((0,)) == {0: PROPS[0]}
    assert pool.replaced == ["w0"] and [w for w, _ in pool.submitted] == ["w0", "w1"]

    pool = reporting(lambda w: [Died(w, None, "out of memory")])
    with pytest.raises(EncodeError, match=r"3 workers died.*out of memory"):
        _scheduler(pool, max_retries=2).probe((0,))
