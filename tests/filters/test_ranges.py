"""``vse.upscale_ranges``: range parsing, one output format, and which frames reach the model."""

from __future__ import annotations

import pytest
import vapoursynth as vs

import vsenhance as vse
from vsenhance.filters.ranges import PATH_PROP, parse_ranges
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
    out = vse.upscale_ranges(clip, [(5, 7), (30, 31)], tiny_model_path, device="cpu", tile=0)
    paths = [out.get_frame(n).props[PATH_PROP] for n in range(out.num_frames)]
    ai = [n for n, p in enumerate(paths) if p in (b"ai", "ai")]
    assert ai == [5, 6, 7, 30, 31]
    assert sorted(model_frames) == ai
    assert all(p in (b"lanczos", "lanczos") for n, p in enumerate(paths) if n not in ai)


def test_random_access_into_a_range(tiny_model_path, model_frames) -> None:
    out = vse.upscale_ranges(numbered_clip(fmt=vs.RGBS), "10-20", tiny_model_path, device="cpu")
    out.get_frame(15)
    out.get_frame(3)
    assert model_frames == [15]


@pytest.mark.parametrize("output_format", [None, "same"])
def test_both_paths_have_one_size_format_and_props(nearest_model_path, output_format) -> None:
    clip = core.std.SetFrameProps(numbered_clip(fmt=vs.YUV420P8), Title="film")
    out = vse.upscale_ranges(clip, [(2, 3)], nearest_model_path, device="cpu", width=48, output_format=output_format)
    expected_fmt = vs.YUV420P8 if output_format == "same" else vs.RGBS
    assert (out.width, out.height, out.format.id, out.num_frames) == (48, 36, expected_fmt, 40)
    ai, classic = out.get_frame(2), out.get_frame(10)
    for f in (ai, classic):
        assert (f.width, f.height, f.format.id) == (48, 36, expected_fmt)
    assert set(ai.props) == set(classic.props)
    for key in ai.props:
        if key != PATH_PROP:
            assert ai.props[key] == classic.props[key], key


def test_scale_and_fallback_options(tiny_model_path) -> None:
    clip = numbered_clip(fmt=vs.RGBS, length=6)
    out = vse.upscale_ranges(clip, [(0, 1)], tiny_model_path, device="cpu", scale=3, fallback="spline36")
    assert (out.width, out.height) == (96, 72)
    assert out.get_frame(4).props[PATH_PROP] in (b"spline36", "spline36")
    with pytest.raises(vs.Error, match="fallback"):
        vse.upscale_ranges(clip, [(0, 1)], tiny_model_path, fallback="nnedi3")
    with pytest.raises(vs.Error, match="either width/height or scale"):
        vse.upscale_ranges(clip, [(0, 1)], tiny_model_path, device="cpu", width=64, scale=2)
