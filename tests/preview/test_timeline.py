"""The plugin's arithmetic: ranges from one frame's props through trims, and lines added to a range file."""

from __future__ import annotations

import pytest

from vsenhance.constants import HELD_PROP, HYBRID_FRAME_PROP, PATH_PROP, RANGES_FILE_PROP, RANGES_PROP, TILE_PROP
from vsenhance.filters.ranges import parse_ranges
from vsenhance.preview.timeline import (
    append_range,
    choice_rows,
    hybrid_frame,
    output_ranges,
    prop_formats,
    range_line,
    ranges_file,
)

PROPS = {RANGES_PROP: [20, 29, 50, 59], HYBRID_FRAME_PROP: 25}


@pytest.mark.parametrize(
    ("shown", "total", "expected"),
    [
        (25, 100, [(20, 29), (50, 59)]),  # the hybrid clip itself
        (15, 90, [(10, 19), (40, 49)]),  # clip[10:]
        (0, 30, [(0, 4), (25, 29)]),  # clip[25:55]: the first range is cut by the trim, the second by the end
        (5, 30, [(0, 9)]),  # clip[20:50]: the second range lies past the end
    ],
)
def test_ranges_follow_the_trim_seen_from_the_shown_frame(shown, total, expected) -> None:
    assert output_ranges(PROPS, shown, total) == expected


def test_a_clip_without_the_map_has_no_ranges() -> None:
    assert output_ranges({"_Matrix": 1}, 3, 10) == []
    assert hybrid_frame({}, 7) == 7
    assert ranges_file({}) is None


def test_the_file_and_the_frame_come_from_the_props(tmp_path) -> None:
    assert hybrid_frame(PROPS, 15) == 25
    assert ranges_file({RANGES_FILE_PROP: str(tmp_path / "k.txt").encode()}) == tmp_path / "k.txt"


def test_appended_lines_are_what_upscale_ranges_reads(tmp_path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_bytes(b"\xef\xbb\xbf10-19  # opening\r\n30")  # a BOM, CRLF, no newline at the end
    assert append_range(keys, 80, 80) == "80"
    assert append_range(keys, 95, 90, note="marked backwards") == "90-95  # marked backwards"
    assert keys.read_bytes().startswith(b"\xef\xbb\xbf10-19  # opening\r\n30\n80\n")
    assert parse_ranges(keys, 100) == [(10, 19), (30, 30), (80, 80), (90, 95)]


def test_a_missing_file_is_created(tmp_path) -> None:
    keys = tmp_path / "new.txt"
    append_range(keys, 5, 7)
    assert keys.read_text() == "5-7\n"
    assert range_line(3, 3) == "3"


def test_choice_rows_say_the_path_the_model_and_computed_or_held() -> None:
    ai = {"VSEnhancePath": b"ai", "VSEnhanceModel": b"realesr-animevideov3", "VSEnhanceDevice": "cuda:1",
          "VSEnhancePrecision": "float16", "VSEnhanceTile": 256, "VSEnhanceHeldFrom": 40, HYBRID_FRAME_PROP: 42}  # fmt: skip
    assert choice_rows(ai, 32) == [("Path", "AI"), ("Model", "realesr-animevideov3"), ("Device", "cuda:1"),
                                   ("Precision", "float16"), ("Tile", "256"),
                                   ("Frame", "held: shows frame 40's output")]  # fmt: skip
    # an upscale clip (no ranges): the shown frame is its own number
    assert choice_rows({"VSEnhanceModel": "m", "VSEnhanceHeldFrom": 7}, 7) == [("Model", "m"), ("Frame", "computed")]
    assert choice_rows({"VSEnhancePath": "lanczos"}, 0) == [("Path", "lanczos")]
    assert choice_rows({}, 0) == []
    # a trimmed upscale clip: the decisions' own numbering says computed, whatever the output's number
    assert choice_rows({"VSEnhanceHeldFrom": 17, "VSEnhanceDedupFrame": 17}, 7) == [("Frame", "computed")]


def test_prop_formats_put_the_values_in_words() -> None:
    text = prop_formats()
    assert text[PATH_PROP](b"ai") == "AI" and text[PATH_PROP](b"lanczos") == "lanczos (classic resizer)"
    assert text[RANGES_PROP]([8, 15, 20, 20, 32, 39]) == "8-15, 20, 32-39"  # a range file's own lines
    assert text[TILE_PROP](0) == "whole frame (no tiles)" and text[TILE_PROP](512) == "512 px"
    assert text[HELD_PROP](40) == "frame 40's output"
