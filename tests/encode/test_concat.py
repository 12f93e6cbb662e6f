"""The join: the concat list, stream copy, and the frame count checked before the output appears."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.encode.encode_helpers import make_ffv1
from vsenhance.encode.concat import concat_argv, concat_segments, write_concat_list
from vsenhance.encode.state import count_frames
from vsenhance.errors import EncodeError

FFMPEG = Path(shutil.which("ffmpeg") or "ffmpeg")


def test_concat_list_names_are_relative_and_quoted(tmp_path):
    listing = tmp_path / "concat.txt"
    write_concat_list(listing, [tmp_path / "seg_00000.mkv", tmp_path / "it's.mkv"])
    assert listing.read_text().splitlines() == ["ffconcat version 1.0", "file 'seg_00000.mkv'", "file 'it'\\''s.mkv'"]


def test_concat_argv_copies_the_video_and_maps_no_audio_without_a_source(tmp_path):
    argv = concat_argv(FFMPEG, tmp_path / "l.txt", tmp_path / "o.mkv", None)
    assert argv[argv.index("-f") + 1] == "concat" and argv[-3:] == ["copy", "-y", str(tmp_path / "o.mkv")]
    assert "1:a" not in argv


def test_segments_join_frame_exactly(tmp_path):
    segments = [make_ffv1(tmp_path / f"seg_{i:05d}.mkv", n) for i, n in enumerate((8, 8, 3))]
    out = tmp_path / "out.mkv"
    concat_segments(FFMPEG, tmp_path / "concat.txt", segments, out, 19)
    assert count_frames(out) == 19


def test_a_short_join_is_refused_and_nothing_appears(tmp_path):
    segments = [make_ffv1(tmp_path / "seg_00000.mkv", 4)]
    out = tmp_path / "out.mkv"
    with pytest.raises(EncodeError, match="holds 4 frames instead of 5"):
        concat_segments(FFMPEG, tmp_path / "concat.txt", segments, out, 5)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "out" in p.name]
