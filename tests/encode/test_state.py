from __future__ import annotations

import errno
import json
import os

import pytest

from tests.encode.encode_helpers import make_ffv1, recorded_done
from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.plan import Plan
from vsenhance.encode.state import EncodeState, count_frames, state_dir_for
from vsenhance.errors import EncodeError
from vsenhance.files import atomic_write_json


def _plan(total=20, size=8) -> Plan:
    enc = EncoderSettings.create("ffv1", None, None, None)
    return Plan("/a.vpy", "00" * 32, {}, enc, size, total)


def test_state_dir_beside_output(tmp_path):
    assert state_dir_for(tmp_path / "out put.mkv") == tmp_path / "out put.mkv.vsenhance"


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "ü": "視頻"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 2, "ü": "視頻"}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_count_frames(tmp_path):
    assert count_frames(make_ffv1(tmp_path / "a.mkv", 7)) == 7
    (tmp_path / "junk.mkv").write_bytes(b"not a video")
    assert count_frames(tmp_path / "junk.mkv") is None
    assert count_frames(tmp_path / "missing.mkv") is None


def test_segment_done_only_with_right_frame_count(tmp_path):
    plan = _plan(total=20, size=8)  # segments of 8, 8, 4
    state = EncodeState(tmp_path / "s")
    state.write_plan(plan)
    s0, s1, s2 = plan.segments
    make_ffv1(state.segment_path(s0), 8)  # right
    make_ffv1(state.segment_path(s1), 5)  # truncated: not done
    make_ffv1(state.partial_path(s2, "w1", 2), 2)  # partial leftovers of any attempt: discarded
    make_ffv1(state.partial_path(s0, "w0", 1), 2)
    assert state.partial_path(s2, "w1", 2).name == "seg_00002.w1.a2.partial.mkv"
    state.write_done(plan, {0: 8, 1: 8, 2: 4})  # the record alone is not trusted
    assert state.verify(s0) and not state.verify(s1) and not state.verify(s2)
    assert state.scan_done(plan) == {0: 8}
    assert not state.segment_path(s1).exists() and not state.partials()
    assert recorded_done(state.dir) == {0: 8}
    assert EncodeState(state.dir).load_plan() == plan


def test_clear_removes_only_job_files(tmp_path):
    plan = _plan()
    state = EncodeState(tmp_path / "s")
    state.write_plan(plan)
    state.write_done(plan, {})
    (state.dir / "seg_00000.mkv").write_bytes(b"x")
    (state.dir / ".plan.k1ll3d.partial.json").write_bytes(b"{")  # atomic_write_json's temp, left by a kill
    (state.dir / ".done.k1ll3d.partial.json").write_bytes(b"{")
    state.clear()
    assert not state.dir.exists()
    state.write_plan(plan)
    (state.dir / "mine.txt").write_text("user file")
    state.clear()
    assert [p.name for p in state.dir.iterdir()] == ["mine.txt"]


def test_disk_full_on_a_state_file_says_so_and_keeps_the_old_record(tmp_path, monkeypatch):
    plan = _plan()
    state = EncodeState(tmp_path / "s")
    state.write_plan(plan)
    state.write_done(plan, {0: 8})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(EncodeError) as info:
        state.write_done(plan, {0: 8, 1: 8})
    assert "is full" in str(info.value) and str(state.dir) in str(info.value) and "done.json" in str(info.value)
    monkeypatch.undo()
    assert recorded_done(state.dir) == {0: 8}
    assert sorted(p.name for p in state.dir.iterdir()) == ["done.json", "plan.json"]


def test_has_segments_ignores_partials(tmp_path):
    plan = _plan()
    state = EncodeState(tmp_path / "s")
    assert not state.has_segments()
    state.write_plan(plan)
    state.partial_path(plan.segments[0], "w0", 1).write_bytes(b"x")
    assert not state.has_segments()
    state.segment_path(plan.segments[1]).write_bytes(b"x")
    assert state.has_segments()
