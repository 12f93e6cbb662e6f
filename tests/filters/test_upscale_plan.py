"""``upscale``'s conversion plan: which side converts, what the runtime reads and writes, and the labels."""

from __future__ import annotations

import pytest
import vapoursynth as vs

from vsenhance.bridge.colour import ColourParams
from vsenhance.filters.upscale import _plan

core = vs.core
BT709_LIMITED = ColourParams(matrix=1, transfer=1, primaries=1, range=vs.RANGE_LIMITED, chroma_location=1)
YCGCO = ColourParams(matrix=8, transfer=1, primaries=1, range=vs.RANGE_LIMITED)  # no coefficients on the device


def plan(fmt: int, params: ColourParams | None, out: int, *, on_device: bool, scale: float | None = None):
    clip = core.std.BlankClip(format=fmt, width=32, height=24, length=1)
    out_fmt = core.get_video_format(out)
    return _plan(clip, params, out_fmt, on_device=on_device, model_scale=2, scale=scale)


def test_on_the_device_yuv_planes_go_in_and_out() -> None:
    p = plan(vs.YUV420P10, BT709_LIMITED, vs.YUV420P10, on_device=True)
    assert not p.rgb_input and p.chroma is not None
    assert (p.source.family, p.source.bits, p.source.full_range, p.source.matrix) == ("yuv", 10, False, 1)
    assert p.written.id == vs.YUV420P10 and p.output == p.source
    assert p.props == {"_Matrix": 1, "_Transfer": 1, "_Primaries": 1, "_Range": 0, "_ChromaLocation": 0}
    assert p.resize is None


def test_on_the_cpu_vapoursynth_converts_both_ways() -> None:
    p = plan(vs.YUV420P10, BT709_LIMITED, vs.YUV420P10, on_device=False)
    assert p.rgb_input and p.chroma is None and p.props is None
    assert p.source.family == p.output.family == "rgb" and p.written.id == vs.RGBS


def test_rgb_float_is_read_as_is_and_labelled_like_zimg() -> None:
    p = plan(vs.RGBH, None, vs.RGBH, on_device=False)
    assert not p.rgb_input and (p.source.bits, p.source.is_float, p.source.full_range) == (16, True, True)
    assert p.written.id == vs.RGBS and p.props == {"_Matrix": 0, "_Range": vs.RANGE_FULL}


def test_limited_integer_rgb_is_read_as_limited_and_written_full() -> None:
    params = ColourParams(matrix=1, transfer=1, primaries=1, range=vs.RANGE_LIMITED)
    p = plan(vs.RGB24, params, vs.RGB24, on_device=True)
    assert not p.source.full_range and p.output.full_range and p.written.id == vs.RGB24


def test_an_unknown_matrix_falls_back_to_vapoursynth() -> None:
    p = plan(vs.YUV444P8, YCGCO, vs.RGBS, on_device=True)
    assert p.rgb_input and p.written.id == vs.RGBS and p.props is None


@pytest.mark.parametrize("on_device", [False, True])
def test_another_scale_resizes_rgb_float_then_converts(on_device) -> None:
    p = plan(vs.YUV420P8, BT709_LIMITED, vs.YUV420P8, on_device=on_device, scale=1.5)
    assert p.resize == (48, 36) and p.written.id == vs.RGBS and p.output_format.id == vs.YUV420P8
