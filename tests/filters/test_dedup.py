"""dedup in the filters: upscale, upscale_ranges and pose reuse held frames' results, and only theirs.

Against ``dedup="off"`` as the reference: ``"exact"`` gives the same frames and props; ``"near"`` takes in the
holds of a real x264 encode and nothing across a small change; any request order gives the same frames.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import vapoursynth as vs

import vsenhance as vse
from scripts import held_clips
from tests.models.pose import posekit
from vsenhance.bridge.pose_props import read_pose
from vsenhance.constants import DEDUP_FRAME_PROP, DEDUP_ID_PROP, HELD_PROP
from vsenhance.errors import ClipError
from vsenhance.models.pose.pipeline import PosePipeline
from vsenhance.models.sr import SRRuntime

core = vs.core
PER_FRAME = {HELD_PROP: None, DEDUP_ID_PROP: None, DEDUP_FRAME_PROP: None}  # what held-frame reuse adds


def yuv_clip(pictures: list[np.ndarray]) -> vs.VideoNode:
    """RGB pictures as a BT.709 4:2:0 clip whose frames keep their own prop (``Own``)."""
    h, w = pictures[0].shape[:2]
    blank = core.std.BlankClip(width=w, height=h, format=vs.RGB24, length=len(pictures), fpsnum=24)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for c in range(3):
            np.asarray(out[c])[...] = pictures[n][:, :, c]
        out.props["Own"] = n
        return out

    rgb = blank.std.ModifyFrame(blank, fill)
    return core.resize.Bicubic(rgb, format=vs.YUV420P8, matrix_s="709").std.SetFrameProps(_Range=0)


@pytest.fixture
def model_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = SRRuntime.process

    def counting(self, planes, out, **kwargs):
        calls.append(1)
        return real(self, planes, out, **kwargs)

    monkeypatch.setattr(SRRuntime, "process", counting)
    return calls


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p]) for p in range(frame.format.num_planes)]


def render(clip: vs.VideoNode, order=None) -> dict[int, tuple[list[np.ndarray], dict]]:
    order = range(clip.num_frames) if order is None else order
    out = {}
    for n in order:
        f = clip.get_frame(n)
        out[n] = planes(f), dict(f.props)
    return out


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean((a[0].astype(np.float64) - b[0].astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


OPTS = {"device": "cpu", "precision": "fp32", "tile": 0, "output_format": "same"}


def test_exact_is_identical_to_off_and_computes_each_picture_once(tiny_model_path, model_calls) -> None:
    pictures = held_clips.pan(held_clips.photo(), 64, 48, positions=8, hold=2) + held_clips.pan(
        held_clips.photo("astronaut"), 64, 48, positions=6, hold=3
    )
    clip = yuv_clip(pictures)
    off = render(vse.upscale(clip, tiny_model_path, dedup="off", **OPTS))
    assert len(model_calls) == 34
    model_calls.clear()
    exact = render(vse.upscale(clip, tiny_model_path, **OPTS))  # the default
    assert len(model_calls) == 14  # 8 + 6 pictures
    truth = held_clips.held_truth(pictures)
    for n in range(len(pictures)):
        assert all(np.array_equal(a, b) for a, b in zip(off[n][0], exact[n][0], strict=True)), n
        assert exact[n][1][HELD_PROP] == truth[n] and off[n][1][HELD_PROP] == n
        assert exact[n][1]["Own"] == n  # the frame's own props, with its key's pixels
        assert off[n][1] | PER_FRAME == exact[n][1] | PER_FRAME
        assert exact[n][1][DEDUP_FRAME_PROP] == n and DEDUP_ID_PROP not in off[n][1]


@pytest.mark.parametrize("dedup", ["exact", "near"])
def test_any_request_order_gives_the_same_frames(tiny_model_path, dedup) -> None:
    rng = np.random.default_rng(1)
    pictures = [
        np.clip(p.astype(int) + rng.integers(-2, 3, p.shape), 0, 255).astype(np.uint8) if n % 3 == 2 else p
        for n, p in enumerate(held_clips.pan(held_clips.photo("chelsea"), 48, 32, positions=30, hold=3))
    ]  # the third frame of each hold carries a little noise: held for near, computed for exact
    clip = yuv_clip(pictures)
    sequential = render(vse.upscale(clip, tiny_model_path, dedup=dedup, **OPTS))
    order = list(range(len(pictures)))
    random.Random(3).shuffle(order)
    shuffled = render(vse.upscale(clip, tiny_model_path, dedup=dedup, **OPTS), order)
    for n in range(len(pictures)):
        assert shuffled[n][1][HELD_PROP] == sequential[n][1][HELD_PROP], n
        assert all(np.array_equal(a, b) for a, b in zip(sequential[n][0], shuffled[n][0], strict=True)), n
    held = [n for n in range(len(pictures)) if sequential[n][1][HELD_PROP] != n]
    expected = [n for n in range(90) if n % 3 in ((1, 2) if dedup == "near" else (1,)) and n != 64]
    assert held == expected  # frame 64 starts a key interval: computed


def test_near_takes_in_the_holds_of_a_lossy_encode(tiny_model_path, tmp_path) -> None:
    pictures = held_clips.pan(held_clips.photo(), 160, 96, positions=12, hold=2)
    video = held_clips.write_video(pictures, tmp_path / "twos.mkv", crf=20)
    clip = core.bs.VideoSource(str(video), cachemode=0)
    assert clip.num_frames == 24
    truth = held_clips.held_truth(pictures)
    exact = [f.props[HELD_PROP] for f in vse.upscale(clip, tiny_model_path, dedup="exact", **OPTS).frames()]
    near_clip = vse.upscale(clip, tiny_model_path, dedup="near", **OPTS)
    near = render(near_clip)
    assert [near[n][1][HELD_PROP] for n in range(24)] == truth  # every hold, and nothing that moved
    assert exact != truth  # the encode made some holds inexact: near is what finds them
    off = render(vse.upscale(clip, tiny_model_path, dedup="off", **OPTS))
    assert min(psnr(off[n][0], near[n][0]) for n in range(24)) > 40


def test_a_small_patch_change_is_never_reused(tiny_model_path, tmp_path) -> None:
    pictures = held_clips.patch_toggle(held_clips.photo("astronaut"), 96, 64, frames=24, seed=2)
    truth = held_clips.held_truth(pictures)
    video = held_clips.write_video(pictures, tmp_path / "patch.mkv", crf=20)
    clip = core.bs.VideoSource(str(video), cachemode=0)
    for dedup in ("near", 12.0):
        held = [f.props[HELD_PROP] for f in vse.upscale(clip, tiny_model_path, dedup=dedup, **OPTS).frames()]
        assert all(held[n] >= truth[n] for n in range(24)), (dedup, held)  # never from before the change


def test_upscale_ranges_reuses_within_its_clip(nearest_model_path, model_calls) -> None:
    pictures = held_clips.pan(held_clips.photo(), 32, 24, positions=10, hold=2)
    clip = yuv_clip(pictures)
    kwargs = {"device": "cpu", "precision": "fp32", "width": 64, "output_format": "same"}
    off = render(vse.upscale_ranges(clip, [(3, 12)], nearest_model_path, dedup="off", **kwargs))
    assert len(model_calls) == 10
    model_calls.clear()
    exact = render(vse.upscale_ranges(clip, [(3, 12)], nearest_model_path, **kwargs))
    assert len(model_calls) == 6  # frame 3 shows frame 2's picture: its key's AI output, computed once
    truth = held_clips.held_truth(pictures)
    for n in range(20):
        assert all(np.array_equal(a, b) for a, b in zip(off[n][0], exact[n][0], strict=True)), n
        assert exact[n][1][HELD_PROP] == (truth[n] if 3 <= n <= 12 else n)  # the classic path computes all
        assert set(exact[n][1]) == set(exact[0][1])  # one prop set for the whole clip


def test_bad_dedup_is_refused_before_the_model_loads(tiny_model_path, monkeypatch) -> None:
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("vsenhance.filters.upscale._runtime", no_load)
    clip = yuv_clip(held_clips.pan(held_clips.photo(), 16, 16, positions=2, hold=1))
    for bad in ("fast", -1, float("nan")):
        with pytest.raises(ClipError, match=r'^vsenhance.upscale: dedup=.*"off", "exact", "near"'):
            vse.upscale(clip, tiny_model_path, dedup=bad)
        with pytest.raises(ClipError, match=r'^vsenhance.upscale_ranges: dedup=.*"off", "exact", "near"'):
            vse.upscale_ranges(clip, [(0, 0)], tiny_model_path, dedup=bad)
    variable = core.std.Splice([clip, clip.resize.Point(8, 8)], mismatch=True)
    with pytest.raises(ClipError, match="variable-size"):  # every constant format is compared; this one is not
        vse.upscale(variable, tiny_model_path, dedup="near")


@pytest.fixture(scope="module")
def pose_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("dedup_pose")
    return str(posekit.random_detector(d / "rd.onnx")), str(posekit.random_pose(d / "rp.onnx"))


def test_pose_exact_gives_the_props_of_off(pose_models, monkeypatch) -> None:
    frames = posekit.random_frames(10, 72, 128, seed=7)
    held = frames[np.arange(30) // 3]  # threes
    clip = posekit.clip_from_frames(held)
    seen: list[int] = []
    real = PosePipeline.__call__

    def call(self, batch, det_interval=1):
        seen.append(len(batch))
        return real(self, batch, det_interval)

    monkeypatch.setattr(PosePipeline, "__call__", call)
    off = [dict(f.props) for f in vse.pose(clip, *pose_models, providers="cpu", dedup="off").frames()]
    assert sum(seen) == 30
    seen.clear()
    exact_clip = vse.pose(clip, *pose_models, providers="cpu")
    order = list(range(30))
    random.Random(4).shuffle(order)
    exact = {n: dict(exact_clip.get_frame(n).props) for n in order}
    assert sum(seen) == 10  # one detection and pose per picture
    for n in range(30):
        (boxes, points), (off_boxes, off_points) = read_pose(exact[n], "Pose"), read_pose(off[n], "Pose")
        assert np.array_equal(boxes, off_boxes) and np.array_equal(points, off_points)
        assert exact[n]["PoseHeldFrom"] == n - n % 3 and off[n]["PoseHeldFrom"] == n
        assert off[n] | PER_FRAME | {"PoseHeldFrom": 0} == exact[n] | PER_FRAME | {"PoseHeldFrom": 0}
