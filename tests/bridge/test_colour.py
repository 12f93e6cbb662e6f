"""Source planes → RGB on the inference device (``planes_to_rgb`` with ``chroma_upsampling``) against ``to_rgb``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsenhance.bridge.colour import chroma_upsampling, colour_params, to_rgb
from vsenhance.models.colour_convert import planes_to_rgb
from vsenhance.models.colour_spec import PlaneSpec

core = vs.core


def clip_of(photo: np.ndarray, fmt: int, **kwargs) -> vs.VideoNode:
    h, w, _ = photo.shape
    blank = core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for c in range(3):
            np.copyto(np.asarray(out[c]), photo[..., c])
        return out

    return core.resize.Bicubic(blank.std.ModifyFrame(blank, fill), format=fmt, **kwargs)


def on_device(clip: vs.VideoNode) -> np.ndarray:
    fmt, params = clip.format, colour_params(clip)
    family = {vs.RGB: "rgb", vs.YUV: "yuv", vs.GRAY: "gray"}[fmt.color_family]
    spec = PlaneSpec(family, fmt.bits_per_sample, fmt.sample_type == vs.FLOAT, params.range == vs.RANGE_FULL,
                     fmt.subsampling_w, fmt.subsampling_h, params.matrix)  # fmt: skip
    subsampled = fmt.subsampling_w or fmt.subsampling_h
    chroma = chroma_upsampling(fmt, clip.width, clip.height, params.chroma_location) if subsampled else None
    frame = clip.get_frame(0)
    planes = [torch.from_numpy(np.array(frame[p])) for p in range(fmt.num_planes)]
    return planes_to_rgb(planes, spec, chroma).numpy()


def by_zimg(clip: vs.VideoNode) -> np.ndarray:
    params = colour_params(clip) if clip.format.color_family != vs.RGB else None
    frame = to_rgb(clip, params).get_frame(0)
    return np.stack([np.asarray(frame[p]) for p in range(3)])


@pytest.mark.parametrize("location", range(6))
@pytest.mark.parametrize("fmt", [vs.YUV420P8, vs.YUV422P10, vs.YUV411P8, vs.YUV410P8, vs.YUV420P16, vs.YUV420PH])
def test_subsampled_yuv_matches_zimg(photo, fmt, location) -> None:
    clip = clip_of(photo, fmt, matrix_s="709", range=0).std.SetFrameProps(_ChromaLocation=location)
    assert np.abs(on_device(clip) - by_zimg(clip)).max() < 1e-5


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [
        (vs.YUV420P10, {"matrix_s": "170m", "range": 1}),
        (vs.YUV444P8, {"matrix_s": "2020ncl", "range": 0}),
        (vs.YUV444PS, {"matrix_s": "709"}),
        (vs.GRAY8, {"matrix_s": "709", "range": 0}),
        (vs.GRAY16, {"matrix_s": "709", "range": 1}),
        (vs.RGB24, {}),
        (vs.RGB48, {"range": 0}),
        (vs.RGBH, {}),
    ],
)
def test_matrix_range_depth_and_families_match_zimg(photo, fmt, kwargs) -> None:
    clip = clip_of(photo, fmt, **kwargs)
    assert np.abs(on_device(clip) - by_zimg(clip)).max() < 1e-5


def test_matrices_are_resize_weights(photo) -> None:
    """Each output sample's weights sum to 1 (a resampler), and only subsampled axes get a matrix."""
    ups = chroma_upsampling(core.get_video_format(vs.YUV422P8), 64, 48, 0)
    assert ups.vertical is None and ups.horizontal.shape == (32, 64)
    np.testing.assert_allclose(ups.horizontal.sum(axis=0), 1, atol=1e-5)
    ups = chroma_upsampling(core.get_video_format(vs.YUV420P8), 64, 48, 1)
    assert ups.vertical.shape == (48, 24)
    np.testing.assert_allclose(ups.vertical.sum(axis=1), 1, atol=1e-5)
