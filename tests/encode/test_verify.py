"""The driver's check of a segment: decoded frame by frame, wrong only when a working check proved it."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from tests.encode.encode_helpers import make_ffv1
from vsenhance.encode.verify import check_segment, decode_segment

FFMPEG = Path(shutil.which("ffmpeg") or "ffmpeg")


@pytest.fixture
def segment(tmp_path) -> Path:
    return make_ffv1(tmp_path / "seg.mkv", 24)


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in (len(data) // 2, len(data) // 2 + 7):
        data[offset] ^= 0xFF  # inside a frame: the packet count stays right, the slice CRC does not
    path.write_bytes(bytes(data))


def test_a_good_segment_is_ok_with_its_record(segment):
    verdict = check_segment(FFMPEG, segment, 24)
    assert verdict.kind == "ok" and verdict.frames == 24
    assert verdict.record is not None and verdict.record.size == segment.stat().st_size
    assert len(verdict.record.sha256) == 64


@pytest.mark.parametrize(
    ("harm", "reason"),
    [
        (_damage, "slice CRC mismatch"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 3]), ""),  # a copy that stopped
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "truncated"),
        (lambda p: p.write_bytes(b""), "damaged"),
    ],
    ids=["damaged-bytes", "cut-short", "header-only", "empty"],
)
def test_proven_wrong(segment, harm, reason):
    harm(segment)
    verdict = check_segment(FFMPEG, segment, 24)
    assert verdict.kind == "wrong" and reason in verdict.reason


def test_a_wrong_frame_count_is_wrong(segment):
    verdict = check_segment(FFMPEG, segment, 25)
    assert verdict.kind == "wrong" and "decodes to 24 frames, not 25" in verdict.reason


def test_a_check_that_fails_is_not_a_verdict_on_the_file(segment, tmp_path):
    assert check_segment(FFMPEG, tmp_path / "gone.mkv", 24).kind == "unreadable"
    assert check_segment(tmp_path / "no-ffmpeg", segment, 24).kind == "unreadable"  # the tool is missing
    failing = tmp_path / "ffmpeg"
    failing.write_text("#!/bin/sh\necho 'connection to the storage server lost' >&2\nexit 1\n")
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    verdict = decode_segment(failing, segment, 24)
    assert verdict.kind == "unreadable" and "storage server" in verdict.reason
    killed = tmp_path / "ffmpeg-killed"
    killed.write_text("#!/bin/sh\nkill -9 $$\n")
    killed.chmod(killed.stat().st_mode | stat.S_IEXEC)
    assert decode_segment(killed, segment, 24).kind == "unreadable"


def test_an_io_error_from_ffmpeg_on_bytes_that_read_fine_is_settled_by_decoding_those_bytes(segment, monkeypatch):
    """ffmpeg's EIO is both a storage error and a Matroska file that ends early: the piped decode tells them apart."""
    from vsenhance.encode import verify

    real = verify.decode_segment

    def storage_says_eio(ffmpeg, path, expected, *, through_pipe=False):
        if not through_pipe:  # ffmpeg reading the file itself: the mount fails it
            return verify.Verdict("unreadable", "[in#0] Error reading header: Input/output error")
        return real(ffmpeg, path, expected, through_pipe=True)

    monkeypatch.setattr(verify, "decode_segment", storage_says_eio)
    verdict = check_segment(FFMPEG, segment, 24)
    assert verdict.kind == "ok" and verdict.frames == 24  # the content is fine: kept, not re-rendered
    segment.write_bytes(segment.read_bytes()[:100])  # and a file that really ends early is still wrong
    verdict = check_segment(FFMPEG, segment, 24)
    assert verdict.kind == "wrong"
