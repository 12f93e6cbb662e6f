"""The driver loop against a fake pool (no processes): the queue, retries, dead workers, the done-record."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.encode.encode_helpers import make_ffv1, recorded_done
from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.farm.protocol import (
    ClipSummary,
    Died,
    Event,
    Failed,
    Finished,
    FramesWritten,
    Probed,
    ProbeTask,
    Ready,
    RenderTask,
    Started,
    WorkerInfo,
)
from vsenhance.encode.job import render_task
from vsenhance.encode.plan import Plan
from vsenhance.encode.progress import ProgressDisplay as Display
from vsenhance.encode.scheduler import Scheduler
from vsenhance.encode.state import EncodeState
from vsenhance.encode.verify import Record
from vsenhance.errors import EncodeError

FFMPEG = Path(shutil.which("ffmpeg") or "ffmpeg")
CLIP = ClipSummary(frames=20, fps_num=24, fps_den=1, width=32, height=24, format="YUV420P8", color_family="YUV")
# what a worker does with a task: events to report (Finished writes the segment file), or None to keep it busy
Behaviour = Callable[[str, RenderTask], list[Event] | None]


@pytest.fixture(scope="module")
def ffv1_files(tmp_path_factory) -> Callable[[int], Path]:
    folder = tmp_path_factory.mktemp("ffv1")

    def make(frames: int) -> Path:
        path = folder / f"{frames}.mkv"
        if not path.exists():
            make_ffv1(path, frames)
        return path

    return make


class FakePool:
    """Workers that report what ``behaviour`` says; Finished segments are real ffv1 files of the right length."""

    def __init__(self, workers: int, behaviour: Behaviour, ffv1: Callable[[int], Path], *, start_fails=False,
                 can_replace=True, clips: dict[str, ClipSummary] | None = None) -> None:  # fmt: skip
        self.behaviour, self.ffv1 = behaviour, ffv1
        self.start_fails, self.can_replace, self.clips = start_fails, can_replace, clips or {}
        self.ids = [f"w{i}" for i in range(workers)]
        self.next_id = workers
        self.queue: list[Event] = []
        self.inflight: dict[str, RenderTask] = {}
        self.submitted: list[tuple[str, RenderTask]] = []
        self.replaced: list[str] = []
        self.stopped: list[str] = []
        self.shut = False

    def _announce(self, worker_id: str) -> None:
        if self.start_fails:
            self.queue.append(Died(worker_id, None, "Traceback ...\nNameError: name 'clpi' is not defined"))
        else:
            info = WorkerInfo(worker_id, "hostA", 100 + int(worker_id[1:]), None, None, 0.1)
            self.queue.append(Ready(info, self.clips.get(worker_id, CLIP)))

    def start(self) -> int:
        for worker_id in self.ids:
            self._announce(worker_id)
        return len(self.ids)

    def submit(self, worker_id: str, task: RenderTask) -> None:
        assert worker_id not in self.inflight, "a busy worker was given a second task"
        self.inflight[worker_id] = task
        self.submitted.append((worker_id, task))

    def poll(self, timeout: float) -> list[Event]:
        events, self.queue = self.queue, []
        for worker_id, task in list(self.inflight.items()):
            out = self.behaviour(worker_id, task)
            if out is None:
                continue
            del self.inflight[worker_id]
            for event in out:
                if isinstance(event, Finished) and not Path(task.final).exists():  # unless the behaviour wrote it
                    shutil.copyfile(self.ffv1(task.last - task.first + 1), task.final)
                if isinstance(event, Failed | Died):
                    Path(task.partial).write_bytes(b"half a segment")
            events += out
        return events

    def replace(self, worker_id: str) -> str | None:
        self.replaced.append(worker_id)
        if not self.can_replace:
            return None
        new = f"w{self.next_id}"
        self.next_id += 1
        self.start_fails = False
        self._announce(new)
        return new

    def stop_worker(self, worker_id: str) -> None:
        self.stopped.append(worker_id)
        task = self.inflight.pop(worker_id, None)
        self.queue.append(Died(worker_id, task.index if task is not None else None, "killed by SIGKILL"))

    def shutdown(self) -> None:
        self.shut = True


class RecordingState(EncodeState):
    """Keeps a copy of every done-record written."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.written: list[dict] = []

    def write_done(self, plan, done):
        super().write_done(plan, done)
        self.written.append(json.loads(self.done_path.read_text()))


def frames_of(done: dict[int, Record]) -> dict[int, int]:
    return {index: record.frames for index, record in done.items()}


def finish(worker_id: str, task: RenderTask) -> list[Event]:
    return [
        FramesWritten(worker_id, task.index, task.last - task.first + 1),
        Finished(worker_id, task.index, 0.1, 0.01),
    ]


def _run(
    tmp_path, pool: FakePool, workers: int, max_retries: int = 2, done: dict | None = None, ai_frames=None, **options
):
    plan = Plan("/a.vpy", "00" * 32, {}, EncoderSettings.create("ffv1", None, None, None), 8, CLIP.frames)
    state = RecordingState(tmp_path / "out.mkv.vsenhance")
    state.write_plan(plan)
    done = {} if done is None else done
    scheduler = Scheduler(pool, max_retries=max_retries, poll_seconds=0, **options)
    assert scheduler.start() == workers
    assert scheduler.first_ready() == CLIP
    display = Display(
        plan.total_frames, resumed=sum(r.frames for r in done.values()), stream=io.StringIO(), lang="en", interval=0
    )
    make = partial(render_task, Path("/usr/bin/ffmpeg"), plan.encoder, state)
    try:
        scheduler.run(plan, state, done, make, display, FFMPEG, ai_frames)
    finally:
        display.finish()
    return state, done, display


def test_queue_in_order_and_done_record(tmp_path, ffv1_files):
    pool = FakePool(1, finish, ffv1_files)
    state, done, display = _run(tmp_path, pool, 1)
    assert [t.index for _, t in pool.submitted] == [0, 1, 2]
    assert [(t.first, t.last) for _, t in pool.submitted] == [(0, 7), (8, 15), (16, 19)]
    assert frames_of(done) == {0: 8, 1: 8, 2: 4}
    record = json.loads(state.done_path.read_text())
    assert {k: v["frames"] for k, v in record["done"].items()} == {"0": 8, "1": 8, "2": 4}
    assert record["done_frames"] == 20 and record["total_frames"] == 20
    assert record["fingerprint"] == state.load_plan().fingerprint
    task = pool.submitted[1][1]
    assert Path(task.partial).name == "seg_00001.w0.a1.partial.mkv" and Path(task.final).name == "seg_00001.mkv"
    assert task.ffmpeg_argv[-1] == task.partial and "pipe:0" in task.ffmpeg_argv
    assert display.done == 20 and "20/20" in display.stream.getvalue()


def test_out_of_order_completion_and_resumed_segments_skipped(tmp_path, ffv1_files):
    held: set[int] = set()

    def w0_slow(worker_id, task):  # w0 needs two polls per segment, w1 one
        if worker_id == "w0" and task.index not in held:
            held.add(task.index)
            return None
        return finish(worker_id, task)

    pool = FakePool(2, w0_slow, ffv1_files)
    state, done, display = _run(tmp_path, pool, 2, done={2: Record(4, 0, "")})  # segment 2 was done by an earlier run
    assert sorted(done) == [0, 1, 2]
    assert [sorted(map(int, r["done"])) for r in state.written] == [[1, 2], [0, 1, 2]]  # 1 before 0
    assert sorted((w, t.index) for w, t in pool.submitted) == [("w0", 0), ("w1", 1)]
    assert display.resumed == 4 and display.frames_this_run == 16


def test_a_failure_is_retried_in_a_new_partial(tmp_path, ffv1_files):
    seen: list[str] = []

    def fails_once(worker_id, task):
        seen.append(task.partial)
        if task.index == 1 and task.attempt == 1:
            return [Failed(worker_id, 1, "the script raised on frame 9", "RuntimeError: once")]
        return finish(worker_id, task)

    pool = FakePool(1, fails_once, ffv1_files)
    state, done, display = _run(tmp_path, pool, 1)
    assert frames_of(done) == {0: 8, 1: 8, 2: 4}
    tries = [t for _, t in pool.submitted if t.index == 1]
    assert [t.attempt for t in tries] == [1, 2] and tries[0].partial != tries[1].partial
    assert not state.partials()  # the failed attempt's partial is gone
    assert "segment 1 (frames 8-15) on worker w0 (hostA) failed" in display.stream.getvalue()


@pytest.mark.parametrize("max_retries", [0, 2])
def test_retry_limit_stops_naming_segment_frames_and_tail(tmp_path, ffv1_files, max_retries):
    def always(worker_id, task):
        if task.index == 1:
            return [Failed(worker_id, 1, "ffmpeg exited with code 1", "Unrecognized option 'bogus'")]
        return finish(worker_id, task)

    pool = FakePool(1, always, ffv1_files)
    with pytest.raises(EncodeError) as info:
        _run(tmp_path, pool, 1, max_retries=max_retries)
    text = str(info.value)
    assert "segment 1 (frames 8-15) on worker w0" in text and f"failed {max_retries + 1} times" in text
    assert "Unrecognized option 'bogus'" in text
    assert len([t for _, t in pool.submitted if t.index == 1]) == max_retries + 1
    state = EncodeState(tmp_path / "out.mkv.vsenhance")
    assert recorded_done(state.dir) == {0: 8} and not state.partials()


def test_absolute_frames_in_the_error(tmp_path, ffv1_files):
    def last_fails(worker_id, task):
        return [Failed(worker_id, task.index, "x", "")] if task.index == 2 else finish(worker_id, task)

    with pytest.raises(EncodeError, match=r"segment 2 \(frames 16-19\)"):
        _run(tmp_path, FakePool(2, last_fails, ffv1_files), 2, max_retries=1)


def test_died_worker_is_replaced_and_its_segment_requeued(tmp_path, ffv1_files):
    def dies_once(worker_id, task):
        if worker_id == "w0" and task.index == 0:
            return [Died(worker_id, 0, "killed by signal 9")]
        return finish(worker_id, task)

    pool = FakePool(2, dies_once, ffv1_files)
    state, done, _ = _run(tmp_path, pool, 2)
    assert frames_of(done) == {0: 8, 1: 8, 2: 4} and pool.replaced == ["w0"]
    assert [w for w, t in pool.submitted if t.index == 0][-1] != "w0"
    assert not any(w == "w0" for w, _ in pool.submitted[1:])  # nothing goes to a dead worker
    assert not state.partials()


def test_died_without_replacement_carries_on_then_stops_when_none_is_left(tmp_path, ffv1_files):
    def w0_dies(worker_id, task):
        return [Died(worker_id, task.index, "node lost")] if worker_id == "w0" else finish(worker_id, task)

    pool = FakePool(2, w0_dies, ffv1_files, can_replace=False)
    _, done, _ = _run(tmp_path / "a", pool, 2)
    assert frames_of(done) == {0: 8, 1: 8, 2: 4}

    def all_die(worker_id, task):
        return [Died(worker_id, task.index, "node lost")]

    with pytest.raises(EncodeError, match="no worker is left"):
        _run(tmp_path / "b", FakePool(1, all_die, ffv1_files, can_replace=False), 1)


def test_script_failing_to_load_everywhere_stops_without_retries(tmp_path, ffv1_files):
    pool = FakePool(3, finish, ffv1_files, start_fails=True)
    with pytest.raises(EncodeError) as info:
        _run(tmp_path, pool, 3)
    assert "every worker failed to execute the script" in str(info.value)
    assert "NameError: name 'clpi' is not defined" in str(info.value)
    assert pool.replaced == [] and pool.submitted == []


def test_wrong_frame_count_is_requeued(tmp_path, ffv1_files):
    def short_once(worker_id, task):
        if task.index == 0 and task.attempt == 1:
            shutil.copyfile(ffv1_files(5), task.final)  # ffmpeg "succeeded" but the file is short
            return [Finished(worker_id, 0, 0.1, 0.01)]
        return finish(worker_id, task)

    pool = FakePool(1, short_once, ffv1_files)
    state, done, display = _run(tmp_path, pool, 1)
    assert frames_of(done) == {0: 8, 1: 8, 2: 4}
    assert [t.attempt for _, t in pool.submitted if t.index == 0] == [1, 2]
    assert "decodes to 5 frames, not 8" in display.stream.getvalue()
    assert [p.name.split(".")[0] for p in (state.dir / "rejected").iterdir()] == ["seg_00000"]  # kept, aside
    # the short file was never recorded: every record of segment 0 is of its second, whole attempt
    assert all(r["done"]["0"]["frames"] == 8 for r in state.written if "0" in r["done"])
    assert state.written[-1]["done_frames"] == 20


def test_disk_full_stops_at_once_naming_the_folder(tmp_path, ffv1_files):
    def full(worker_id, task):
        if task.index == 1:
            return [
                Failed(
                    worker_id, 1, "ffmpeg exited with code 1", "av_interleaved_write_frame(): No space left on device"
                )
            ]
        return finish(worker_id, task)

    pool = FakePool(1, full, ffv1_files)
    with pytest.raises(EncodeError) as info:
        _run(tmp_path, pool, 1)
    text = str(info.value)
    assert "is full" in text and str(tmp_path / "out.mkv.vsenhance") in text and "frame count" not in text
    assert len([t for _, t in pool.submitted if t.index == 1]) == 1  # no retry: it would fill the disk again
    assert recorded_done(tmp_path / "out.mkv.vsenhance") == {0: 8}


def test_a_worker_seeing_another_clip_stops_the_encode(tmp_path, ffv1_files):
    other = ClipSummary(19, 24, 1, 32, 24, "YUV420P8", "YUV")
    pool = FakePool(2, finish, ffv1_files, clips={"w1": other})
    with pytest.raises(EncodeError, match="w1 on hostA sees a different clip"):
        _run(tmp_path, pool, 2)


# --- Scheduler.probe: frame props from a worker before any segment (colour tags, _AbsoluteTime) ---

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


def test_probe_then_segments_on_every_worker(tmp_path, ffv1_files):
    """Events that arrive during the probe (the second worker's Ready) are kept for the run."""
    pool = FakePool(2, answer, ffv1_files)
    scheduler = _scheduler(pool)
    assert scheduler.probe((0, 10)).props == PROPS
    assert pool.submitted == [("w0", ProbeTask((0, 10)))]
    plan = Plan("/a.vpy", "00" * 32, {}, EncoderSettings.create("ffv1", None, None, None), 8, CLIP.frames)
    state = EncodeState(tmp_path / "out.mkv.vsenhance")
    state.write_plan(plan)
    done: dict[int, int] = {}
    display = Display(plan.total_frames, resumed=0, stream=io.StringIO(), lang="en", interval=0)
    scheduler.run(plan, state, done, partial(render_task, FFMPEG, plan.encoder, state), display, FFMPEG)
    display.finish()
    assert frames_of(done) == {0: 8, 1: 8, 2: 4}
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
    assert _scheduler(pool).probe((0,)).props == {0: PROPS[0]}
    assert pool.replaced == ["w0"] and [w for w, _ in pool.submitted] == ["w0", "w1"]

    pool = reporting(lambda w: [Died(w, None, "out of memory")])
    with pytest.raises(EncodeError, match=r"3 workers died.*out of memory"):
        _scheduler(pool, max_retries=2).probe((0,))


# --- stalls and slow starts --------------------------------------------------------------------------------


class Clock:
    """A clock the test moves: each reading advances it by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_stalled_worker_is_ended_and_its_segment_tried_again(tmp_path, ffv1_files):
    def hangs_once(worker_id, task):
        if task.index == 1 and task.attempt == 1:
            return None  # no frame, ever: a GPU hang, a deadlocked plugin, a stuck mount
        return finish(worker_id, task)

    pool = FakePool(1, hangs_once, ffv1_files)
    _, done, display = _run(tmp_path, pool, 1, stall_seconds=60, clock=Clock(1.0))
    assert frames_of(done) == {0: 8, 1: 8, 2: 4}
    assert pool.stopped == ["w0"] and pool.replaced == ["w0"]  # ended, then replaced
    assert [t.attempt for _, t in pool.submitted if t.index == 1] == [1, 2]
    text = display.stream.getvalue()
    assert "worker w0 delivered no frame for 1m" in text and "--stall-timeout 60" in text
    assert "it stalled (no frame for 1m" in text  # the failed attempt says why


def test_a_worker_still_executing_the_script_is_reported(tmp_path, ffv1_files):
    class SlowStart(FakePool):
        def start(self) -> int:
            self.queue.append(Started("w0", "film.vpy"))
            self.polls = 0
            return 1

        def poll(self, timeout):
            self.polls += 1
            if self.polls == 40:  # the script finally executed (a long torch.compile, say)
                self._announce("w0")
            return super().poll(timeout)

    said: list[str] = []
    pool = SlowStart(1, finish, ffv1_files)
    scheduler = Scheduler(pool, poll_seconds=0, tell=said.append, clock=Clock(1.0))
    scheduler.start()
    assert scheduler.first_ready() == CLIP
    assert len(said) >= 3 and all(re.fullmatch(r"w0 executing film.vpy: \d+s", line) for line in said)
    assert int(said[-1].split()[-1][:-1]) > int(said[0].split()[-1][:-1])  # every 10 s until it is ready


def test_a_ray_actor_waiting_for_a_place_is_reported_as_such_then_as_executing(tmp_path, ffv1_files):
    class SlowPlacement(FakePool):
        def start(self) -> int:
            self.queue.append(Started("w0", "film.vpy", placing=True))  # the cluster has no room for it yet
            self.polls = 0
            return 1

        def poll(self, timeout):
            self.polls += 1
            if self.polls == 40:  # placed: its worker executes the script
                self.queue.append(Started("w0", "film.vpy"))
            if self.polls == 80:
                self._announce("w0")
            return super().poll(timeout)

    said: list[str] = []
    scheduler = Scheduler(SlowPlacement(1, finish, ffv1_files), poll_seconds=0, tell=said.append, clock=Clock(1.0))
    scheduler.start()
    assert scheduler.first_ready() == CLIP
    placing = [line for line in said if re.fullmatch(r"w0 waiting for the Ray cluster to place it: \d+s", line)]
    executing = [line for line in said if re.fullmatch(r"w0 executing film.vpy: \d+s", line)]
    assert placing and executing and len(placing) + len(executing) == len(said)
    assert said.index(executing[0]) > said.index(placing[-1])  # placed first, then executing, never back
    assert int(executing[0].split()[-1][:-1]) < int(placing[-1].split()[-1][:-1])  # its clock restarts when placed


def test_segments_with_the_most_ai_frames_go_first(tmp_path, ffv1_files):
    pool = FakePool(1, finish, ffv1_files)
    _, done, _ = _run(tmp_path, pool, 1, ai_frames={0: 0, 1: 3, 2: 4})
    assert [t.index for _, t in pool.submitted] == [2, 1, 0] and frames_of(done) == {0: 8, 1: 8, 2: 4}


def test_a_paused_driver_does_not_blame_a_worker_that_rendered_all_along(tmp_path, ffv1_files):
    clock = Clock(0.01)
    paused: list[int] = []

    def renders_while_the_driver_is_stopped(worker_id, task):
        if task.index == 1 and not paused:
            paused.append(1)
            clock.now += 12  # SIGSTOP on the driver for 12 s; its worker kept rendering (frames not read yet)
            return None
        return finish(worker_id, task)

    pool = FakePool(1, renders_while_the_driver_is_stopped, ffv1_files)
    _, done, display = _run(tmp_path, pool, 1, stall_seconds=4, clock=clock)
    assert paused and pool.stopped == [] and frames_of(done) == {0: 8, 1: 8, 2: 4}
    assert "delivered no frame" not in display.stream.getvalue()
