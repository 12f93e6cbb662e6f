import numpy as np
import pytest
import vapoursynth as vs

from vsenhance.bridge.pose_props import has_pose, prop_names, read_pose, write_pose


@pytest.mark.parametrize("persons", [1, 3])
def test_roundtrip(persons):
    rng = np.random.default_rng(persons)
    boxes = rng.random((persons, 5)) * 100
    kps = rng.random((persons, 133, 3)) * 100
    f = vs.core.std.BlankClip(length=1).get_frame(0).copy()
    assert not has_pose(f.props, "P")
    write_pose(f.props, "P", boxes, kps.astype(np.float32), detected=persons - 1)
    assert f.props["PCount"] == persons and f.props["PDetected"] == persons - 1
    assert len(f.props["PBoxes"]) == persons * 5 and len(f.props["PKeypoints"]) == persons * 399
    b, k = read_pose(f.props, "P")
    np.testing.assert_array_equal(b, boxes)
    np.testing.assert_allclose(k, kps, rtol=1e-6)
    assert prop_names("X") == {"Count": "XCount", "Detected": "XDetected", "Boxes": "XBoxes", "Keypoints": "XKeypoints"}


def test_mismatch_raises():
    f = vs.core.std.BlankClip(length=1).get_frame(0).copy()
    with pytest.raises(ValueError):
        write_pose(f.props, "P", np.zeros((2, 5)), np.zeros((1, 133, 3)), 1)
