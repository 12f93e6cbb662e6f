from __future__ import annotations

import io
import sys

import pytest

from vsenhance.encode.progress import GpuMonitor, Progress, format_duration, is_chinese_locale


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
    p = Progress(1000, resumed=600, stream=out, lang="en", clock=clock, interval=0)
    assert p.done == 600 and p.fps is None and p.eta is None
    clock.t += 10
    p.set_current(50)  # 50 frames in 10 s this run: 5 fps, not (650 / 10)
    assert p.done == 650 and p.fps == pytest.approx(5.0)
    assert p.eta == pytest.approx(350 / 5.0)
    p.segment_done(100)
    clock.t += 10
    assert p.encoded == 100 and p.done == 700 and p.fps == pytest.approx(5.0) and p.eta == pytest.approx(60)
    line = p.render()
    assert "700/1000" in line and "70.0%" in line and "5.00 fps" in line
    assert "elapsed 20s" in line and "left 1m 0s" in line and "resumed 600" in line
    assert out.getvalue().count("\n") == 2  # not a tty: one line per draw


def test_progress_chinese_and_finished():
    clock = Clock()
    p = Progress(10, resumed=10, stream=io.StringIO(), lang="zh", clock=clock, interval=0)
    assert p.eta == 0.0
    assert "已用" in p.render() and "剩余 0秒" in p.render()


def test_progress_rate_limited_when_not_tty():
    clock = Clock()
    out = io.StringIO()
    p = Progress(100, stream=out, lang="en", clock=clock, interval=10)
    p.set_current(1)
    p.set_current(2)
    clock.t += 11
    p.set_current(3)
    p.segment_done(3)  # forced
    assert out.getvalue().count("\n") == 3


def test_gpu_monitor_absent_shows_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    gpu = GpuMonitor()
    assert gpu.utilisation() is None
    p = Progress(10, stream=io.StringIO(), lang="en", gpu=gpu, interval=0)
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
    p = Progress(10, stream=io.StringIO(), lang="en", gpu=GpuMonitor(), interval=0)
    assert "GPU 87%" in p.render()
    p.finish()
