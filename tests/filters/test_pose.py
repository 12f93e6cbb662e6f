"""vse.pose / draw_pose / export_pose on tiny ONNX stand-ins, against the per-frame reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import vapoursynth as vs

import vsenhance as vse
from tests.models.pose import posekit
from tests.models.pose import reference as ref
from vsenhance.bridge.pose_props import read_pose
from vsenhance.errors import ClipError, DeviceError, ModelError
from vsenhance.filters import pose as pose_filter
from vsenhance.models.pose import skeleton
from vsenhance.models.pose.draw_options import DrawOptions
from vsenhance.models.pose.pipeline import PosePipeline

core = vs.core


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("pose_filter_models")
    return {
        "rd": str(posekit.random_detector(d / "rd.onnx")),
        "rp": str(posekit.random_pose(d / "rp.onnx")),
        "rd1": str(posekit.random_detector(d / "rd1.onnx", fixed_batch=True)),
        "rp1": str(posekit.random_pose(d / "rp1.onnx", fixed_batch=True)),
        "bd": str(posekit.bright_detector(d / "bd.onnx")),
        "dp": str(posekit.dot_pose(d / "dp.onnx")),
    }


@pytest.fixture(scope="module")
def parity_case(models):
    frames = posekit.random_frames(45, 72, 128, seed=5)
    bboxes, kp2ds = ref.process(ref.Yolo(models["rd"]), ref.ViTPose(models["rp"]), frames)
    return frames, bboxes, kp2ds


@pytest.fixture
def observed(monkeypatch):
    """What ``pose()`` chose and did, seen from outside: the batch size and streams it handed to
    ``batched_modify``, and the pipeline calls (one per group computed)."""
    seen = {"groups": 0}
    real_modify, real_call = pose_filter.batched_modify, PosePipeline.__call__

    def modify(clip, src, size, compute, apply, **kwargs):
        seen.update(batch=size, streams=kwargs.get("streams", 1))
        return real_modify(clip, src, size, compute, apply, **kwargs)

    def call(self, frames, det_interval=1):
        seen["groups"] += 1
        return real_call(self, frames, det_interval)

    monkeypatch.setattr(pose_filter, "batched_modify", modify)
    monkeypatch.setattr(PosePipeline, "__call__", call)
    return seen


def _all(clip, order=None):
    order = range(clip.num_frames) if order is None else order
    return {n: read_pose(clip.get_frame(n).props, "Pose") for n in order}


@pytest.mark.parametrize(("batch", "fixed"), [("auto", False), (5, True)])
def test_filter_matches_reference(models, parity_case, batch, fixed, observed):
    frames, bboxes, kp2ds = parity_case
    clip = posekit.clip_from_frames(frames)
    out = vse.pose(
        clip, models["rd1" if fixed else "rd"], models["rp1" if fixed else "rp"], batch=batch, providers="cpu"
    )
    assert out.num_frames == 45 and out.format.id == clip.format.id
    if batch == "auto":
        assert observed["batch"] == 11  # max(8, min(16, 45 // 4))
    got = {n: read_pose(f.props, "Pose") for n, f in enumerate(out.frames())}
    for n in range(45):
        boxes, kps = got[n]
        np.testing.assert_array_equal(boxes[0], bboxes[n])
        np.testing.assert_allclose(kps[0], kp2ds[n], atol=1e-3, rtol=0)
    # frames pass through unchanged
    np.testing.assert_array_equal(np.asarray(out.get_frame(7)[1]), frames[7, :, :, 1])


def test_random_access_matches_sequential(models, parity_case, observed):
    frames, _, _ = parity_case
    clip = posekit.clip_from_frames(frames)
    seq = _all(vse.pose(clip, models["rd"], models["rp"], providers="cpu", batch=8))
    before = observed["groups"]
    out = vse.pose(clip, models["rd"], models["rp"], providers="cpu", batch=8)
    rnd = _all(out, [40, 3, 44, 0, 40, 3])
    for n, (b, k) in rnd.items():
        np.testing.assert_array_equal(b, seq[n][0])
        np.testing.assert_array_equal(k, seq[n][1])
    assert observed["groups"] - before == 2  # groups 5 (40, 44) and 0 (3, 0); re-requests come from the cache


@pytest.mark.parametrize("fmt", [vs.RGBS, vs.YUV444P16, vs.RGB24])
@pytest.mark.parametrize("size", [(96, 64), (160, 90), (64, 160)])
def test_dot_keypoint_in_source_pixels(models, size, fmt):
    w, h = size
    rng = np.random.default_rng(w + h)
    pts = [(rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h) for _ in range(3)]
    frames = np.stack([posekit.gaussian_dot(h, w, x, y, max(w, h) / 20) for x, y in pts])
    clip = posekit.clip_from_frames(frames, fmt)
    out = vse.pose(clip, models["bd"], models["dp"], providers="cpu", batch=2)
    tol = 1.0 if fmt != vs.RGB24 else 1.25  # 8-bit rounding of the blob
    for n, (x, y) in enumerate(pts):
        boxes, kps = read_pose(out.get_frame(n).props, "Pose")
        assert boxes[0, 4] > 0
        assert abs(kps[0, 0, 0] - x) < tol and abs(kps[0, 0, 1] - y) < tol


def test_no_person_gives_full_frame(models):
    frames = np.zeros((3, 64, 96, 3), np.float32)
    out = vse.pose(posekit.clip_from_frames(frames), models["bd"], models["dp"], providers="cpu")
    f = out.get_frame(1)
    assert f.props["PoseCount"] == 1 and f.props["PoseDetected"] == 0
    np.testing.assert_array_equal(read_pose(f.props, "Pose")[0][0], [0, 0, 96, 64, -1])


def test_det_interval(models, parity_case, observed):
    frames, _, _ = parity_case
    clip = posekit.clip_from_frames(frames[:20])
    every = _all(vse.pose(clip, models["rd"], models["rp"], providers="cpu", batch=4))
    out = vse.pose(clip, models["rd"], models["rp"], providers="cpu", batch=4, det_interval=3, prefix="P3")
    assert observed["batch"] == 6  # rounded up to a multiple of det_interval
    for n in range(20):
        boxes, _ = read_pose(out.get_frame(n).props, "P3")
        np.testing.assert_array_equal(boxes, every[n - n % 3][0])


def test_export_json(models, parity_case, tmp_path):
    frames, bboxes, _ = parity_case
    out = vse.pose(posekit.clip_from_frames(frames[:13]), models["rd"], models["rp"], providers="cpu")
    path = tmp_path / "poses.json"
    assert vse.export_pose(out, path, include_wholebody=True) == 13
    data = json.loads(path.read_text())
    assert data["num_frames"] == 13 and len(data["frames"]) == 13 and data["width"] == 128
    person = data["frames"][4]["people"][0]
    assert len(person["pose_keypoints_2d"]) == 60
    assert len(person["hand_left_keypoints_2d"]) == 63 and len(person["hand_right_keypoints_2d"]) == 63
    assert len(person["face_keypoints_2d"]) == 210 and len(person["wholebody_keypoints_2d"]) == 399
    assert person["box"] == list(bboxes[4])
    assert not (tmp_path / "poses.json.part").exists()
    with pytest.raises(ClipError, match="PoseCount"):
        vse.export_pose(posekit.clip_from_frames(frames[:2]), tmp_path / "x.json")


def _pose_clip(kps, w=160, h=120):
    clip = core.std.BlankClip(width=w, height=h, format=vs.RGB24, length=1)
    props = {
        "PoseCount": 1,
        "PoseDetected": 1,
        "PoseBoxes": [0.0, 0.0, float(w), float(h), 0.9],
        "PoseKeypoints": np.asarray(kps, np.float64).ravel().tolist(),
    }
    return core.std.SetFrameProps(clip, **props)


def test_draw_colours_at_limbs():
    kps = np.zeros((133, 3))
    kps[5] = [60, 40, 0.9]  # left shoulder
    kps[6] = [100, 40, 0.9]  # right shoulder -> neck = (80, 40)
    kps[8] = [100, 90, 0.9]  # right elbow
    kps[91:112] = [[20 + i, 100, 0.9] for i in range(21)]  # left hand on a line
    img = np.stack([np.asarray(vse.draw_pose(_pose_clip(kps)).get_frame(0)[p]) for p in range(3)], -1)
    # joints in full OpenPose colour: neck (index 1) is (255, 85, 0), right shoulder (index 2) (255, 170, 0)
    assert tuple(img[40, 80]) == (255, 85, 0)
    assert tuple(img[40, 100]) == (255, 170, 0)
    # limb neck -> right shoulder at 60 % of (255, 0, 0); shoulder -> elbow at 60 % of (255, 170, 0)
    assert tuple(img[40, 90]) == (153, 0, 0)
    assert tuple(img[65, 100]) == (153, 102, 0)
    assert tuple(img[100, 25]) == (0, 0, 255)  # hand joints are blue
    assert img[5:30].max() == 0 and img[:, 130:].max() == 0  # nothing elsewhere
    posed = _pose_clip(kps)
    green = core.std.CopyFrameProps(core.std.BlankClip(posed, color=[0, 128, 0]), posed)
    over = vse.draw_pose(green, background="frame")
    frame = over.get_frame(0)
    assert np.asarray(frame[1])[5, 5] == 128 and frame.props["PoseCount"] == 1


def test_draw_matches_skeleton_module():
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(10, 110, (133, 2)), rng.uniform(0.3, 1, (133, 1))], 1)
    img = np.stack([np.asarray(vse.draw_pose(_pose_clip(kps), draw_face=True).get_frame(0)[p]) for p in range(3)], -1)
    canvas = skeleton.draw(np.zeros((120, 160, 3), np.uint8), kps, DrawOptions(draw_face=True))
    np.testing.assert_array_equal(img, canvas)


def test_bad_arguments(models):
    clip = posekit.clip_from_frames(np.zeros((2, 32, 32, 3), np.float32))
    for kwargs in (
        {"batch": 0},
        {"batch": "many"},
        {"det_threshold": 2},
        {"max_persons": 0},
        {"det_interval": 0},
        {"prefix": ""},
        {"nms_iou": -1},
    ):
        with pytest.raises(ClipError):
            vse.pose(clip, models["bd"], models["dp"], providers="cpu", **kwargs)
    with pytest.raises(ClipError):
        vse.pose("not a clip", models["bd"], models["dp"])
    with pytest.raises(ModelError, match=r"missing\.onnx"):
        vse.pose(clip, "missing.onnx", models["dp"], providers="cpu")
    with pytest.raises(ClipError, match=r"background=.white. .*Use one of black, frame"):
        vse.draw_pose(clip, background="white")


def test_cuda_request_raises_device_error(models):
    import os

    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("a GPU is present")
    clip = posekit.clip_from_frames(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(DeviceError, match="Fix:"):
        vse.pose(clip, models["bd"], models["dp"], providers="cuda")
