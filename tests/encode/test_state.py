from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.encode.encode_helpers import make_ffv1, recorded_done
from vsenhance.encode import state as state_module
from vsenhance.encode import verify
from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.plan import Plan
from vsenhance.encode.state import EncodeState, count_frames, state_dir_for
from vsenhance.encode.verify import Record
from vsenhance.errors import EncodeError
from vsenhance.files import atomic_write_json

FFMPEG = Path(shutil.which("ffmpeg") or "ffmpeg")


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


def _rec(frames: int) -> Record:
    return Record(frames, 0, "0" * 64)  # a record no file matches: its segment is decoded again


def test_segment_done_only_once_decoded_and_a_wrong_one_is_moved_aside(tmp_path):
    plan = _plan(total=20, size=8)  # segments of 8, 8, 4
    state = EncodeState(tmp_path / "s")
    state.write_plan(plan)
    s0, s1, s2 = plan.segments
    make_ffv1(state.segment_path(s0), 8)  # right
    make_ffv1(state.segment_path(s1), 5)  # short: proven wrong
    make_ffv1(state.partial_path(s2, "w1", 2), 2)  # partial leftovers of any attempt: discarded
    make_ffv1(state.partial_path(s0, "w0", 1), 2)
    assert state.partial_path(s2, "w1", 2).name == "seg_00002.w1.a2.partial.mkv"
    # a record without its file is not a segment; files without a record (renamed, then the driver died before
    # recording them) are decoded
    state.write_done(plan, {2: _rec(4)})
    said: list[str] = []
    done = state.scan_done(plan, FFMPEG, said.append)
    assert list(done) == [0] and done[0].frames == 8 and done[0].size == state.segment_path(s0).stat().st_size
    assert not state.segment_path(s1).exists() and not state.partials()
    rejected = list((state.dir / "rejected").iterdir())
    assert [p.name.split(".")[0] for p in rejected] == ["seg_00001"] and count_frames(rejected[0]) == 5
    assert "segment 1 (frames 8-15) is wrong" in said[0] and "decodes to 5 frames, not 8" in said[0]
    assert recorded_done(state.dir) == {0: 8}
    assert EncodeState(state.dir).load_plan() == plan


def _two_verified_segments(tmp_path) -> tuple[Plan, EncodeState, dict[int, Record]]:
    """A plan of two 8-frame segments, both on disk and verified (on record)."""
    plan = _plan(total=16, size=8)
    state = EncodeState(tmp_path / "s")
    state.write_plan(plan)
    for seg in plan.segments:
        make_ffv1(state.segment_path(seg), 8)
    return plan, state, state.scan_done(plan, FFMPEG, print)


def test_matching_bytes_are_trusted_and_a_swapped_segment_is_rejected_never_decoded_and_trusted(tmp_path, monkeypatch):
    plan, state, first = _two_verified_segments(tmp_path)
    s0, s1 = plan.segments
    decoded: list[str] = []
    real = verify.decode_segment
    monkeypatch.setattr(verify, "decode_segment", lambda f, p, n: decoded.append(p.name) or real(f, p, n))
    assert state.scan_done(plan, FFMPEG, print) == first and decoded == []  # the same bytes: trusted
    # segment 0 copied over segment 1: 8 frames, the right format, but not the file that was verified
    shutil.copyfile(state.segment_path(s0), state.segment_path(s1))
    with open(state.segment_path(s1), "ab") as fh:
        fh.write(b"\0")  # (the two test segments are identical: make the bytes differ, as any two segments do)
    told: list[str] = []
    again = state.scan_done(plan, FFMPEG, told.append)
    assert decoded == [] and list(again) == [0] and again[0] == first[0]
    assert "segment 1 (frames 8-15) is not the file that was verified" in told[0]
    assert not state.segment_path(s1).exists() and len(list((state.dir / "rejected").iterdir())) == 1
    assert recorded_done(state.dir) == {0: 8}  # rendered again, never joined


def test_a_segment_that_cannot_be_read_to_the_end_stops_the_scan_with_the_file_kept(tmp_path, monkeypatch):
    plan, state, _ = _two_verified_segments(tmp_path)
    s1 = plan.segments[1]
    verified = state.segment_path(s1).read_bytes()
    state.segment_path(s1).unlink()
    os.mkfifo(state.segment_path(s1))  # a read of it would block forever
    with pytest.raises(EncodeError, match=r"is not a regular file .* it is kept"):
        state.scan_done(plan, FFMPEG, print)
    state.segment_path(s1).unlink()
    state.segment_path(s1).write_bytes(verified)
    # a stalled mount: the hash does not finish in time
    monkeypatch.setattr(state_module, "HASH_SECONDS", 0.2)
    monkeypatch.setattr(state_module, "sha256_file", lambda path: time.sleep(5))
    start = time.monotonic()
    with pytest.raises(EncodeError, match=r"reading it took over 0.2 s \(a stalled mount\?\).* it is kept"):
        state.scan_done(plan, FFMPEG, print)
    assert time.monotonic() - start < 4 and state.segment_path(s1).is_file()


def test_a_segment_that_cannot_be_checked_is_kept_and_stops_the_encode(tmp_path, monkeypatch):
    plan = _plan(total=8, size=8)
    state = EncodeState(tmp_path / "s")
    state.write_plan(plan)
    seg = make_ffv1(state.segment_path(plan.segments[0]), 8)
    before = seg.read_bytes()
    monkeypatch.setattr(state_module, "CHECK_PAUSE_SECONDS", 0)
    calls: list[int] = []

    def failing(ffmpeg, path, expected):
        calls.append(1)
        return verify.Verdict("unreadable", "simulated: the mount stalled")

    monkeypatch.setattr(state_module, "check_segment", failing)
    with pytest.raises(EncodeError, match=r"could not be checked 3 times \(simulated: the mount stalled\); it is kept"):
        state.scan_done(plan, FFMPEG, print)
    assert len(calls) == state_module.CHECK_ATTEMPTS and seg.read_bytes() == before
    assert not (state.dir / "rejected").exists()


def test_foreign_segments(tmp_path):
    plan = _plan()
    state = EncodeState(tmp_path / "s")
    assert state.foreign_segments(None) is None  # nothing here
    state.write_plan(plan)
    make_ffv1(state.segment_path(plan.segments[0]), 8)
    assert state.foreign_segments(plan) is None  # no done-record yet: its own, to be decoded
    state.write_done(plan, {})
    assert state.foreign_segments(plan) is None
    assert "no plan" in state.foreign_segments(None)
    other = _plan(total=40)
    assert "another job" in state.foreign_segments(other)


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
    state.write_done(plan, {0: _rec(8)})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(EncodeError) as info:
        state.write_done(plan, {0: _rec(8), 1: _rec(8)})
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
