from __future__ import annotations

import io
import socket
import sys

import pytest

from vsenhance.encode.farm.protocol import WorkerInfo
from vsenhance.encode.plan import Segment
from vsenhance.encode.progress import GpuMonitor, ProgressDisplay, format_duration, is_chinese_locale


def _worker(p: ProgressDisplay, worker_id: str = "w0", gpu: str | None = None, host: str = "hostA") -> None:
    p.worker_ready(WorkerInfo(worker_id, host, 4242, gpu, None if gpu else "0-1", 1.0))


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (0, "0s", "0秒"),
        (42, "42s", "42秒"),
        (60, "1m 0s", "1分0秒"),
        (3822, "1h 3m 42s", "1小时3分42秒"),
        (86400 + 3600 + 3 * 60 + 42, "1d 1h 3m 42s", "1天1小时3分42秒"),
        (86400 + 5, "1d 0h 0m 5s", "1天0小时0分5秒"),
        (59.6, "1m 0s", "1分0秒"),
    ],
)
def test_format_duration(seconds, en, zh):
    assert format_duration(seconds) == en
    assert format_duration(seconds, "zh") == zh


def test_format_duration_unknown():
    assert format_duration(None) == "?"
    assert format_duration(float("inf")) == "?"
    assert format_duration(-1) == "?"


@pytest.mark.parametrize(
    ("env", "zh"),
    [
        ({"LANG": "zh_CN.UTF-8"}, True),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_TW.UTF-8"}, True),
        ({"LC_ALL": "zh_HK", "LANG": "en_US"}, True),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN"}, False),
        ({"LANG": "C"}, False),
        ({}, False),
    ],
)
def test_chinese_locale(env, zh):
    assert is_chinese_locale(env) is zh


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_progress_counts_resumed_frames_but_speed_only_from_this_run():
    clock = Clock()
    out = io.StringIO()
    p = ProgressDisplay(1000, resumed=600, stream=out, lang="en", clock=clock, interval=0)
    _worker(p)
    p.segment_started("w0", Segment(6, 600, 699))
    assert p.done == 600 and p.fps is None and p.eta is None
    clock.t += 10
    p.worker_frames("w0", 50)  # 50 frames in 10 s this run: 5 fps, not (650 / 10)
    assert p.done == 650 and p.fps == pytest.approx(5.0)
    assert p.eta == pytest.approx(350 / 5.0)
    p.segment_done("w0", 100)
    clock.t += 10
    assert p.encoded == 100 and p.done == 700 and p.fps == pytest.approx(5.0) and p.eta == pytest.approx(60)
    line = p.render()
    assert "700/1000" in line and "70.0%" in line and "5.00 fps" in line
    assert "elapsed 20s" in line and "left 1m 0s" in line and "resumed 600" in line
    assert out.getvalue().count("\n") == 2  # not a tty: one line per draw


def test_progress_chinese_and_finished():
    clock = Clock()
    p = ProgressDisplay(10, resumed=10, stream=io.StringIO(), lang="zh", clock=clock, interval=0)
    assert p.eta == 0.0
    assert "已用" in p.render() and "剩余 0秒" in p.render()


def test_progress_rate_limited_when_not_tty():
    clock = Clock()
    out = io.StringIO()
    p = ProgressDisplay(100, stream=out, lang="en", clock=clock, interval=10)
    _worker(p)
    p.segment_started("w0", Segment(0, 0, 9))
    p.worker_frames("w0", 1)
    p.worker_frames("w0", 2)
    clock.t += 11
    p.worker_frames("w0", 3)
    p.segment_done("w0", 3)  # forced
    assert out.getvalue().count("\n") == 3


def test_gpu_monitor_absent_shows_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    gpu = GpuMonitor()
    assert gpu.utilisation() is None
    p = ProgressDisplay(10, stream=io.StringIO(), lang="en", gpu=gpu, interval=0)
    assert "GPU" not in p.render()


def test_gpu_monitor_with_fake_nvml(monkeypatch):
    class Util:
        gpu = 87

    class FakeNvml:
        @staticmethod
        def nvmlInit():
            pass

        @staticmethod
        def nvmlDeviceGetCount():
            return 1

        @staticmethod
        def nvmlDeviceGetHandleByIndex(i):
            return i

        @staticmethod
        def nvmlDeviceGetUtilizationRates(h):
            return Util()

        @staticmethod
        def nvmlShutdown():
            pass

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml)
    p = ProgressDisplay(10, stream=io.StringIO(), lang="en", gpu=GpuMonitor(), interval=0)
    assert "GPU 87%" in p.render()
    p.finish()


def test_workers_in_flight_add_up_and_a_discarded_attempt_takes_its_frames_back():
    clock = Clock()
    p = ProgressDisplay(48, stream=io.StringIO(), lang="en", clock=clock, interval=0)
    _worker(p, "w0")
    _worker(p, "w1")
    p.segment_started("w0", Segment(0, 0, 7))
    p.segment_started("w1", Segment(1, 8, 15))
    clock.t += 2
    p.worker_frames("w0", 4)
    p.worker_frames("w1", 6)
    assert p.done == 10 and p.fps == pytest.approx(5.0)
    p.segment_discarded("w1")
    assert p.done == 4
    p.worker_gone("w0")
    assert p.done == 0 and p.worker_lines() == ["    w1  hostA cpus 0-1  idle"]


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_terminal_shows_one_line_per_worker_with_its_gpu(monkeypatch):
    class Util:
        def __init__(self, gpu):
            self.gpu = gpu

    class FakeNvml:
        nvmlInit = nvmlShutdown = staticmethod(lambda: None)
        nvmlDeviceGetCount = staticmethod(lambda: 2)
        nvmlDeviceGetHandleByIndex = staticmethod(lambda i: i)
        nvmlDeviceGetUtilizationRates = staticmethod(lambda h: Util([55, 97][h]))

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml)
    clock = Clock()
    out = Tty()
    p = ProgressDisplay(48, stream=out, lang="en", clock=clock, gpu=GpuMonitor(), interval=0)
    _worker(p, "w0", gpu="1", host=socket.gethostname())
    _worker(p, "w1", gpu="0", host="elsewhere")  # a remote node: its GPU's load is not known here
    p.segment_started("w0", Segment(3, 24, 31))
    clock.t += 2
    p.worker_frames("w0", 5)
    lines = p.worker_lines()
    assert lines[0] == f"    w0  {socket.gethostname()} GPU 1  segment 3 (24-31) 5/8  2.50 fps  GPU 97%"
    assert lines[1] == "    w1  elsewhere GPU 0  idle"
    p.worker_frames("w0", 6)  # redraw: up two lines, erase, three lines again
    assert out.getvalue().count("\x1b[2A\x1b[J") == 1
    p.finish()


def test_the_eta_sums_each_remaining_segments_own_cost():
    """Two AI segments and three Lanczos ones of 8 frames; an AI frame costs 10 s, a Lanczos frame 0.1 s."""
    clock = iter(range(0, 10_000, 1)).__next__
    p = ProgressDisplay(40, stream=io.StringIO(), lang="en", clock=lambda: float(clock()), interval=0)
    _worker(p)
    segments = [Segment(i, 8 * i, 8 * i + 7) for i in range(5)]
    p.plan_paths(segments, {0: 8, 1: 8, 2: 0, 3: 0, 4: 0})
    assert p.path_seconds() is None  # nothing rendered yet: the overall speed decides
    for seg, seconds in ((segments[0], 80.0), (segments[2], 0.8)):
        p.segment_started("w0", seg)
        p.segment_done("w0", 8)
        p.segment_rendered(seg, seconds)
    t_ai, t_other = p.path_seconds()
    assert t_ai == pytest.approx(10.0) and t_other == pytest.approx(0.1)
    assert p.eta == pytest.approx(8 * 10.0 + 2 * 8 * 0.1)  # segment 1 (AI), then 3 and 4 (Lanczos)
    p.segment_started("w0", segments[1])
    p.worker_frames("w0", 4)  # half of the AI segment is done
    assert p.eta == pytest.approx(4 * 10.0 + 2 * 8 * 0.1)
    p.segment_rejected(segments[0])  # its file failed the check: to do again
    assert p.eta == pytest.approx(4 * 10.0 + 80.0 + 2 * 8 * 0.1)
