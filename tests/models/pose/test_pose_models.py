"""Pose models layer: detector/keypoint maths against the reference transcription, sessions, errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.models.pose import posekit
from tests.models.pose import reference as ref
from vsenhance.errors import DeviceError, ModelError
from vsenhance.models.pose import detector as det
from vsenhance.models.pose import keypoints as kp
from vsenhance.models.pose.pipeline import PosePipeline
from vsenhance.models.pose.session import OnnxModel


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("pose_models")
    return {
        "rd": posekit.random_detector(d / "rd.onnx"),
        "rd1": posekit.random_detector(d / "rd1.onnx", fixed_batch=True),
        "rp": posekit.random_pose(d / "rp.onnx"),
        "rp1": posekit.random_pose(d / "rp1.onnx", fixed_batch=True),
        "bd": posekit.bright_detector(d / "bd.onnx"),
        "dp": posekit.dot_pose(d / "dp.onnx"),
        "dir": d,
    }


def _ref_yolo(path=None):
    y = ref.Yolo.__new__(ref.Yolo)  # post-processing only, no session
    y.input_width = y.input_height = 640
    y.threshold_multi_persons, y.threshold_conf, y.threshold_iou = 0.1, 0.05, 0.5
    y.threshold_bbox_shape_ratio, y.cat_id, y.select_type, y.strict = 0.4, [1], "max", True
    return y


def _rows(rng, n, w=640, h=640):
    x1 = rng.uniform(0, w * 0.7, n)
    y1 = rng.uniform(0, h * 0.7, n)
    return np.stack(
        [
            x1,
            y1,
            x1 + rng.uniform(5, w * 0.4, n),
            y1 + rng.uniform(5, h * 0.4, n),
            rng.uniform(0, 1, n),
            rng.integers(0, 3, n),
        ],
        1,
    ).astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("size", [(90, 160), (160, 64), (1080, 1920)])
def test_decode_and_select_match_reference_v10(seed, size):
    h, w = size
    rng = np.random.default_rng(seed)
    out = _rows(rng, 300)
    y = _ref_yolo()
    expected = y.postprocess(out.copy(), np.array([h, w]))
    got = det.decode(out, h, w, 0.05, 0.5)
    np.testing.assert_array_equal(got.reshape(-1, 6), np.asarray(expected, np.float64).reshape(-1, 6))
    ref_sel = y.process_results(expected, np.array([h, w]))
    sel = det.select_persons(got, h, w, 0.05)
    if not ref_sel:
        np.testing.assert_array_equal(sel[0], [0, 0, w, h, -1])
    else:
        np.testing.assert_array_equal(sel[0], ref_sel[0]["bbox"])


@pytest.mark.parametrize("seed", range(3))
def test_decode_v8_layout_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n = 500
    xywh = np.stack(
        [rng.uniform(50, 590, n), rng.uniform(50, 590, n), rng.uniform(5, 200, n), rng.uniform(5, 200, n)], 0
    )
    scores = rng.uniform(0, 0.2, (80, n))
    out = np.concatenate([xywh, scores]).astype(np.float32)  # [84, N]
    y = _ref_yolo()
    expected = y.postprocess(out.copy(), np.array([90, 160]))
    got = det.decode(out, 90, 160, 0.05, 0.5)
    np.testing.assert_array_equal(got.reshape(-1, 6), np.asarray(expected, np.float64).reshape(-1, 6))


def test_select_no_person_and_shape_ratio():
    full = det.select_persons(np.zeros((0, 6)), 90, 160, 0.05)
    np.testing.assert_array_equal(full, [[0, 0, 160, 90, -1]])
    only_cars = np.array([[0, 0, 50, 50, 0.9, 2.0]])
    np.testing.assert_array_equal(det.select_persons(only_cars, 90, 160, 0.05), [[0, 0, 160, 90, -1]])
    # a wide low box has a larger area but a long side < 0.4 x the tallest person: the tall one is chosen
    rows = np.array([[0, 0, 30, 300, 0.9, 0], [0, 0, 110, 110, 0.8, 0]], np.float64)
    y = _ref_yolo()
    expected = y.process_results(rows, np.array([400, 400]))[0]["bbox"]
    np.testing.assert_array_equal(det.select_persons(rows, 400, 400, 0.05)[0], expected)
    two = det.select_persons(np.array([[0, 0, 100, 200, 0.9, 0], [200, 0, 260, 120, 0.8, 0]]), 400, 400, 0.05, 2)
    assert two.shape == (2, 5)


@pytest.mark.parametrize(
    "box",
    [[10, 20, 60, 120, 0.9], [-30, -10, 40, 50, 0.8], [100, 40, 200, 90, 0.7], [0, 0, 5, 5, 0.9], [0, 0, 160, 90, -1]],
)
def test_crop_matches_reference(box):
    img = posekit.random_frames(1, 90, 160, seed=3)[0]
    b = kp.usable_box(np.array(box, np.float64), 90, 160)
    rb = np.array(box, np.float64)
    if rb[-1] <= 0 or rb[2] - rb[0] < 10 or rb[3] - rb[1] < 10:
        rb = np.array([0, 0, 160, 90])
    c, s = kp.center_scale(b)
    rc, rs = ref.bbox_from_detector(rb)
    np.testing.assert_array_equal(c, rc)
    np.testing.assert_array_equal(s, rs)
    np.testing.assert_array_equal(kp.crop(img, c, s), ref.crop(img, rc, rs, (256, 192))[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_dark_decoding_matches_reference():
    import cv2

    rng = np.random.default_rng(0)
    hm = rng.random((3, 133, 64, 48)).astype(np.float32)
    hm = np.stack([[cv2.GaussianBlur(h, (7, 7), 0) for h in x] for x in hm])
    hm[0, 0] = 0  # no peak: the reference keeps -1 coordinates
    hm[1, 1, 0, 0] = 5  # a peak on the border: no Taylor step
    c = rng.random((3, 2)) * 100
    s = rng.random((3, 2)) + 0.5
    got = kp.decode_heatmaps(hm, c, s)
    p, m = ref.keypoints_from_heatmaps(hm, c, s * 200)
    np.testing.assert_allclose(got, np.concatenate([p, m], axis=2), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fixed", [False, True])
def test_pipeline_matches_reference(models, fixed):
    frames = posekit.random_frames(8, 90, 160)
    bboxes, kp2ds = ref.process(ref.Yolo(str(models["rd"])), ref.ViTPose(str(models["rp"])), frames)
    pipe = PosePipeline(models["rd1" if fixed else "rd"], models["rp1" if fixed else "rp"], providers="cpu")
    results = pipe(list(frames))
    assert sum(r.detected for r in results) > 0 and any(r.boxes[0, 4] < 0 for r in results)
    for r, b, k in zip(results, bboxes, kp2ds, strict=True):
        np.testing.assert_array_equal(r.boxes[0], b)
        np.testing.assert_allclose(r.keypoints[0], k, atol=1e-3, rtol=0)


@pytest.mark.parametrize("size", [(96, 64), (160, 90), (64, 160), (120, 120), (160, 48)])
@pytest.mark.parametrize("amp", [1.0, 0.45])  # bright: detector box; dim: no person -> full frame
def test_dot_comes_back_as_keypoint(models, size, amp):
    w, h = size
    pipe = PosePipeline(models["bd"], models["dp"], providers="cpu")
    rng = np.random.default_rng(w * h)
    frames, points = [], []
    for _ in range(4):
        x, y = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        frames.append(posekit.gaussian_dot(h, w, x, y, max(w, h) / 20) * amp)
        points.append((x, y))
    for r, (x, y) in zip(pipe(frames), points, strict=True):
        assert (r.boxes[0, 4] > 0) == (amp == 1.0)
        assert abs(r.keypoints[0, 0, 0] - x) < 1.0 and abs(r.keypoints[0, 0, 1] - y) < 1.0


def test_det_interval_reuses_boxes(models):
    frames = posekit.random_frames(6, 90, 160)
    pipe = PosePipeline(models["rd"], models["rp"], providers="cpu")
    every = pipe(list(frames))
    sparse = pipe(list(frames), det_interval=3)
    for i in range(6):
        np.testing.assert_array_equal(sparse[i].boxes, every[i - i % 3].boxes)


def test_detector_buffer_is_shared_by_threads(models, monkeypatch):
    """A batch run on a new thread reuses the buffer of the last one (not page-faulted in again), while
    concurrent batches each get their own, and the results stay those of a fresh pipeline."""
    frames = list(posekit.random_frames(4, 90, 160))
    pipe = PosePipeline(models["rd"], models["rp"], providers="cpu")
    expected = [r.boxes for r in pipe(frames)]
    seen = []
    run = pipe.detector.run
    monkeypatch.setattr(pipe.detector, "run", lambda x: (seen.append(x), run(x))[1])
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:
        first.submit(pipe, frames).result()
        results = second.submit(pipe, frames).result()
    assert seen[0] is seen[1] and seen[0].shape == (4, 3, 640, 640)
    for r, boxes in zip(results, expected, strict=True):
        np.testing.assert_array_equal(r.boxes, boxes)
    barrier = threading.Barrier(2)
    monkeypatch.setattr(pipe.detector, "run", lambda x: (seen.append(x), barrier.wait(), run(x))[2])
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(pipe, frames) for _ in range(2)]:
            future.result()
    assert seen[2] is not seen[3]


def test_session_errors(models, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        PosePipeline(tmp_path / "nope.onnx", models["rp"], providers="cpu")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="could not be loaded"):
        PosePipeline(bad, models["rp"], providers="cpu")
    with pytest.raises(ModelError, match=r"input shape .*Expected input \[N, 3, 640, 640\]"):
        PosePipeline(models["rp"], models["rp"], providers="cpu")  # pose model given as detector
    with pytest.raises(ModelError, match="pose model"):
        PosePipeline(models["rd"], models["dp"].parent / "rd.onnx", providers="cpu")


def test_cuda_on_cpu_machine_raises_device_error(models):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(DeviceError):
            OnnxModel(models["rp"], role="pose", input_shape=(3, 256, 192), output_desc="x", providers="cuda")
        return
    import os

    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError, match="no GPU driver"):  # checked before ORT tries (and prints)
        OnnxModel(models["rp"], role="pose", input_shape=(3, 256, 192), output_desc="x", providers="cuda")
    with pytest.raises(DeviceError):
        OnnxModel(models["rp"], role="pose", input_shape=(3, 256, 192), output_desc="x", providers="nope")


def test_out_of_memory_halves_the_batch(models):
    m = OnnxModel(models["rp"], role="pose", input_shape=(3, 256, 192), output_desc="x", providers="cpu")
    real = m._run_once
    sizes = []

    def flaky(x):
        sizes.append(x.shape[0])
        if x.shape[0] > 2:
            raise RuntimeError("CUDA failure: out of memory")
        return real(x)

    m._run_once = flaky
    x = np.random.default_rng(0).random((5, 3, 256, 192)).astype(np.float32)
    out = m.run(x)
    assert out.shape == (5, 133, 64, 48) and m.max_batch == 2
    np.testing.assert_allclose(out, real(x), atol=1e-5)
    assert sizes[0] == 5 and max(sizes[1:]) <= 2
