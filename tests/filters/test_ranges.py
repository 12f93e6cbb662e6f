"""``vse.upscale_ranges``: range parsing, one output format, and which frames reach the model."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import vapoursynth as vs

import vsenhance as vse
from vsenhance.constants import (
    CHOICE_PROPS,
    DEDUP_FRAME_PROP,
    HELD_PROP,
    HYBRID_FRAME_PROP,
    HYBRID_ID_PROP,
    PATH_PROP,
    RANGES_FILE_PROP,
    RANGES_PROP,
)
from vsenhance.errors import ClipError
from vsenhance.filters.ranges import parse_ranges
from vsenhance.models.sr import SRRuntime

core = vs.core


@pytest.fixture
def model_frames(monkeypatch) -> list[int]:
    """Records the number of every frame that reaches the model (via the frame's FrameNo prop)."""
    seen: list[int] = []
    original = SRRuntime.process

    def counting(self, planes, out, **kwargs):
        seen.append(round(float(planes[0][0, 0]) * 1000))
        original(self, planes, out, **kwargs)

    monkeypatch.setattr(SRRuntime, "process", counting)
    return seen


def numbered_clip(length: int = 40, fmt: int = vs.YUV420P8) -> vs.VideoNode:
    """Frame n's first RGB sample encodes n (n/1000), so the model sees which frame it runs on."""
    blank = core.std.BlankClip(format=vs.RGBS, width=32, height=24, length=length, fpsnum=24)
    numbered = core.std.FrameEval(
        blank, lambda n: blank.std.BlankClip(color=[n / 1000, 0.5, 0.5], length=1), clip_src=blank
    )
    if fmt == vs.RGBS:
        return numbered
    return core.resize.Point(numbered, format=fmt, matrix_s="709")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ([(10, 12), (3, 5)], [(3, 5), (10, 12)]),
        ([(3, 5), (6, 8)], [(3, 8)]),
        ([(3, 9), (5, 6), 20], [(3, 9), (20, 20)]),
        ("12-14, 2-4,13-20,30", [(2, 4), (12, 20), (30, 30)]),
    ],
)
def test_parse_and_merge(spec, expected) -> None:
    assert parse_ranges(spec, 40) == expected


@pytest.mark.parametrize(
    ("spec", "match"), [([(30, 40)], "40 frames"), ([(-1, 3)], "outside"), ([(5, 2)], "ends before"), ("3-x", "3-x")]
)
def test_bad_ranges_name_the_range_and_length(spec, match) -> None:
    with pytest.raises(vs.Error, match=match):
        parse_ranges(spec, 40)


def test_only_ranges_reach_the_model(tiny_model_path, model_frames) -> None:
    clip = numbered_clip(fmt=vs.RGBS)
    out = vse.upscale_ranges(clip, [(5, 7), (30, 31)], tiny_model_path, device="cpu", precision="fp32", tile=0)
    paths = [out.get_frame(n).props[PATH_PROP] for n in range(out.num_frames)]
    ai = [n for n, p in enumerate(paths) if p in (b"ai", "ai")]
    assert ai == [5, 6, 7, 30, 31]
    assert sorted(model_frames) == ai
    assert all(p in (b"lanczos", "lanczos") for n, p in enumerate(paths) if n not in ai)


def test_random_access_into_a_range(tiny_model_path, model_frames) -> None:
    out = vse.upscale_ranges(numbered_clip(fmt=vs.RGBS), "10-20", tiny_model_path, device="cpu", precision="fp32")
    out.get_frame(15)
    out.get_frame(3)
    assert model_frames == [15]


@pytest.mark.parametrize("output_format", [None, "same"])
def test_both_paths_have_one_size_format_and_props(nearest_model_path, output_format) -> None:
    clip = core.std.SetFrameProps(numbered_clip(fmt=vs.YUV420P8), Title="film")
    out = vse.upscale_ranges(
        clip, [(2, 3)], nearest_model_path, device="cpu", precision="fp32", width=48, output_format=output_format
    )
    expected_fmt = vs.YUV420P8 if output_format == "same" else vs.RGBS
    assert (out.width, out.height, out.format.id, out.num_frames) == (48, 36, expected_fmt, 40)
    ai, classic = out.get_frame(2), out.get_frame(10)
    for f in (ai, classic):
        assert (f.width, f.height, f.format.id) == (48, 36, expected_fmt)
    assert set(ai.props) == set(classic.props)
    for key in ai.props:
        if key not in (PATH_PROP, HYBRID_FRAME_PROP, HELD_PROP, DEDUP_FRAME_PROP, *CHOICE_PROPS):  # per frame
            assert ai.props[key] == classic.props[key], key
    assert (ai.props[HYBRID_FRAME_PROP], classic.props[HYBRID_FRAME_PROP]) == (2, 10)
    assert list(ai.props[RANGES_PROP]) == [2, 3]


def test_every_frame_carries_the_clips_map_through_trims_and_splices(nearest_model_path) -> None:
    kw = {"device": "cpu", "precision": "fp32", "width": 48}
    one = vse.upscale_ranges(numbered_clip(fmt=vs.YUV420P8), "5-7, 30", nearest_model_path, **kw)
    two = vse.upscale_ranges(numbered_clip(fmt=vs.YUV420P8), [(0, 1)], nearest_model_path, **kw)
    final = one[10:] + two[:5]
    seen = [(f.props[HYBRID_ID_PROP], f.props[HYBRID_FRAME_PROP]) for f in (final.get_frame(0), final.get_frame(30))]
    assert seen[0][1] == 10 and seen[1][1] == 0 and seen[0][0] != seen[1][0]  # which clip, which frame of it
    assert list(final.get_frame(0).props[RANGES_PROP]) == [5, 7, 30, 30]
    assert list(final.get_frame(30).props[RANGES_PROP]) == [0, 1]


def test_a_range_file_is_named_on_every_frame(nearest_model_path, tmp_path, monkeypatch) -> None:
    """The vs-preview plugin adds ranges to the file the clip came from: its absolute path, whatever the cwd."""
    (tmp_path / "keys.txt").write_text("2-3\n")
    monkeypatch.chdir(tmp_path)
    kw = {"device": "cpu", "precision": "fp32", "width": 48}
    from_file = vse.upscale_ranges(numbered_clip(), Path("keys.txt"), nearest_model_path, **kw)
    assert from_file.get_frame(0).props[RANGES_FILE_PROP] in (
        str(tmp_path / "keys.txt"),
        str(tmp_path / "keys.txt").encode(),
    )
    from_text = vse.upscale_ranges(numbered_clip(), "2-3", nearest_model_path, **kw)
    assert RANGES_FILE_PROP not in from_text.get_frame(0).props


def test_scale_and_fallback_options(tiny_model_path) -> None:
    clip = numbered_clip(fmt=vs.RGBS, length=6)
    out = vse.upscale_ranges(
        clip, [(0, 1)], tiny_model_path, device="cpu", precision="fp32", scale=3, fallback="spline36"
    )
    assert (out.width, out.height) == (96, 72)
    assert out.get_frame(4).props[PATH_PROP] in (b"spline36", "spline36")
    with pytest.raises(vs.Error, match="fallback"):
        vse.upscale_ranges(clip, [(0, 1)], tiny_model_path, fallback="nnedi3")
    with pytest.raises(vs.Error, match="either width/height or scale"):
        vse.upscale_ranges(clip, [(0, 1)], tiny_model_path, device="cpu", precision="fp32", width=64, scale=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"taps": True}, "taps=True is not an integer"),
        ({"taps": 0}, "taps=0 is out of range"),
        ({"taps": 2.5}, "taps=2.5 is not an integer"),
        ({"ranges": [(True, 1)]}, "range (True, 1) is not (first, last)"),
        ({"ranges": (0, False)}, "range False is not (first, last)"),
    ],
)
def test_booleans_are_not_numbers(tiny_model_path, kwargs, message) -> None:
    clip = numbered_clip(fmt=vs.RGBS, length=6)
    args = {"ranges": [(0, 1)]} | kwargs
    with pytest.raises(ClipError) as info:
        vse.upscale_ranges(clip, args.pop("ranges"), tiny_model_path, device="cpu", precision="fp32", **args)
    assert message in str(info.value)


def test_times_and_frames_mixed():
    # 24 fps: 11:56 = 716 s = frame 17184; 12:26 = 746 s -> last = 746*24 - 1
    assert parse_ranges("11:56-12:26, 10-20", 20000, fps=Fraction(24)) == [(10, 20), (17184, 746 * 24 - 1)]
    # 1:02:03.5 = 3723.5 s -> 89364; 1:02:10 = 3730 s -> 89520 - 1
    assert parse_ranges("1:02:03.5-1:02:10", 100000, fps=Fraction(24)) == [(89364, 89519)]
    # items mix; the two ends of one range share a unit (a decimal comma would otherwise pass unnoticed);
    # a single time is the frame on screen then
    assert parse_ranges("0:04.5-0:10, 1.5", 1000, fps=Fraction(24)) == [(36, 36), (108, 239)]
    with pytest.raises(vs.Error, match="'100-0:10' mixes a frame number and a time"):
        parse_ranges("100-0:10", 1000, fps=Fraction(24))


def test_time_ranges_at_ntsc_rates_are_exact():
    fps = Fraction(24000, 1001)
    # frame n is on screen from n*1001/24000 s; 10 s falls inside frame 239 (9.9716 s..10.0133 s)
    assert parse_ranges("0:10-0:20", 1000, fps=fps) == [(239, 479)]
    # a time exactly on a frame boundary: 1001/24000*240 = 10.01 s starts frame 240, ends the range before it
    assert parse_ranges("10.01-20.02", 1000, fps=fps) == [(240, 479)]
    assert parse_ranges("0.0-10.01", 1000, fps=fps) == [(0, 239)]
    # floats would get this wrong: 0.1 s at 30 fps is exactly frame 3's start
    assert parse_ranges("0.1-0.2", 100, fps=Fraction(30)) == [(3, 5)]


def test_variable_frame_rate_needs_frame_numbers():
    assert parse_ranges("3-7", 40, fps=Fraction(0)) == [(3, 7)]
    with pytest.raises(vs.Error, match=r"variable.*frame numbers"):
        parse_ranges("0:01-0:02", 40, fps=Fraction(0))
    vfr = core.std.BlankClip(length=40, fpsnum=0, fpsden=1, width=32, height=24, format=vs.RGBS)
    with pytest.raises(vs.Error, match="frame numbers"):
        vse.upscale_ranges(vfr, "0:01-0:02")


@pytest.mark.parametrize(
    ("spec", "match"),
    [("1:75-2:00", "seconds"), ("0:01-0:30", "outside"), ("0:02-0:01", "ends before"), ("1-2-3", "1-2-3")],
)
def test_bad_time_ranges(spec, match):
    with pytest.raises(vs.Error, match=match):
        parse_ranges(spec, 100, fps=Fraction(24))


def test_ranges_file(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(
        "# my picks\n"
        "1200-1850   # the fight\n"
        "\n"
        "0:10-0:20\n"
        "3000 3100\n"  # generic / rfs style
        "(4000,4100),\n"  # vs-preview's scening export, default template
        "(5000,5000),\n"  # a single-frame scene: end == start (vs-preview's end is inclusive)
        "[6000 6010]\n"
        "7000\n"
        "[(8000, 8010), (8100, 8100)]\n",  # vsview's Scening export "Python List (Frames)"
        encoding="utf-8",
    )
    assert parse_ranges(keys, 10000, fps=Fraction(24)) == [
        (240, 479), (1200, 1850), (3000, 3100), (4000, 4100), (5000, 5000), (6000, 6010), (7000, 7000), (8000, 8010),
        (8100, 8100),
    ]  # fmt: skip
    bad = tmp_path / "bad.txt"
    for line in ("(30;40)", "(a,b),", "ten twenty", "5-", "[(30, 40), x]"):
        bad.write_text(f"10-20\n{line}\n", encoding="utf-8")
        with pytest.raises(vs.Error, match="line 2"):
            parse_ranges(bad, 100)
    with pytest.raises(vs.Error, match="cannot be read"):
        parse_ranges(tmp_path / "missing.txt", 100)


def test_a_bare_pair_is_one_range_a_list_holds_items():
    assert parse_ranges((3, 7), 40) == [(3, 7)]
    assert parse_ranges([3, 7], 40) == [(3, 3), (7, 7)]
    assert parse_ranges([(3, 7)], 40) == [(3, 7)]
    assert parse_ranges([(3, 7), 20, "30-31"], 40) == [(3, 7), (20, 20), (30, 31)]


def test_a_bare_pair_sends_the_whole_range_to_the_model(tiny_model_path, model_frames):
    out = vse.upscale_ranges(
        numbered_clip(fmt=vs.RGBS, length=12), (3, 7), tiny_model_path, device="cpu", precision="fp32", tile=0
    )
    for n in range(out.num_frames):
        out.get_frame(n)
    assert sorted(model_frames) == [3, 4, 5, 6, 7]
    model_frames.clear()
    out = vse.upscale_ranges(
        numbered_clip(fmt=vs.RGBS, length=12), [3, 7], tiny_model_path, device="cpu", precision="fp32", tile=0
    )
    for n in range(out.num_frames):
        out.get_frame(n)
    assert sorted(model_frames) == [3, 7]


def test_time_range_sends_its_frames_to_the_model(tiny_model_path, model_frames, tmp_path):
    clip = numbered_clip(fmt=vs.RGBS, length=40)  # 24 fps
    keys = tmp_path / "keys.txt"
    keys.write_text("0.5-0:00.75  # frames 12..17\n(30,31),\n", encoding="utf-8")
    out = vse.upscale_ranges(clip, keys, tiny_model_path, device="cpu", precision="fp32", tile=0)
    for n in range(out.num_frames):
        out.get_frame(n)
    assert sorted(model_frames) == [12, 13, 14, 15, 16, 17, 30, 31]


def test_default_model_is_upscales_default_and_needs_no_download():
    """The tests' model cache is empty and nothing is downloaded: the default is upscale()'s built-in model."""
    out = vse.upscale_ranges(numbered_clip(fmt=vs.RGBS, length=4), "1-2", device="cpu", precision="fp32", tile=0)
    frame = out.get_frame(1)
    assert (frame.width, frame.height) == (128, 96)  # realesr-animevideov3 is x4
    assert frame.props[PATH_PROP] in (b"ai", "ai")


def test_a_ranges_file_with_a_utf8_bom_is_read(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("10-20\n(30,35),\n", encoding="utf-8-sig")  # as Windows editors save it
    assert parse_ranges(keys, 100) == [(10, 20), (30, 35)]
