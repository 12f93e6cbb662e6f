"""Pose's runtime plan: batch, groups at once and threads, decided once when the filter is made."""

from __future__ import annotations

from vsenhance.models import cores
from vsenhance.models.pose import runtime
from vsenhance.models.pose.runtime import plan_runtime


def _plan(num_frames=100, **kwargs):
    args = dict(batch="auto", det_interval=1, streams="auto", threads=None, providers="cpu", func="vsenhance.pose")
    return plan_runtime(num_frames, 320, 180, **(args | kwargs))


def test_auto_batch_follows_the_clip_and_the_memory(monkeypatch):
    monkeypatch.setattr(runtime, "_mem_available", lambda: None)
    assert _plan(100).batch == 16 and _plan(40).batch == 10 and _plan(5).batch == 5
    monkeypatch.setattr(runtime, "_mem_available", lambda: 4 * (320 * 180 * 36 + 640 * 640 * 24 + 256 * 192 * 24) * 3)
    assert _plan(100).batch == 3  # a quarter of what is available holds 3 frames' buffers


def test_a_batch_is_a_multiple_of_det_interval_and_no_longer_than_the_clip(monkeypatch):
    monkeypatch.setattr(runtime, "_mem_available", lambda: None)
    assert _plan(100, batch=10, det_interval=4).batch == 12
    assert _plan(7, batch=64).batch == 7
    assert _plan(7, batch=64, det_interval=3).batch == 9  # three detector groups of 3 cover the 7 frames


def test_streams_and_threads_share_the_cores_on_the_cpu(monkeypatch):
    monkeypatch.setattr(cores, "usable_cores", lambda: 8)
    assert _plan(100) == runtime.PoseRuntime(batch=16, streams=1, threads=8)  # CPU: one group at a time
    two = _plan(100, streams=2)
    assert (two.streams, two.threads) == (2, 4)
    assert _plan(10, batch=10, streams=4).streams == 1  # one group: nothing to overlap
    assert _plan(100, streams=2, threads=3).threads == 3
