"""ViTPose whole-body pre/post-processing: box -> centre/scale, crop, normalise; heatmaps -> keypoints (DARK).

Vectorised over all crops of a batch, reproducing the per-crop reference (ComfyUI-WanAnimatePreprocess
``bbox_from_detector``, ``crop``, ``keypoints_from_heatmaps(unbiased=True, kernel=11)``).
"""

from __future__ import annotations

import cv2
import numpy as np

from ...constants import NUM_KEYPOINTS

__all__ = [
    "HEATMAP_SIZE",
    "INPUT_HW",
    "NUM_KEYPOINTS",
    "center_scale",
    "crop",
    "decode_heatmaps",
    "normalise",
    "usable_box",
]

INPUT_HW = (256, 192)  # rows, cols
HEATMAP_SIZE = (64, 48)  # rows, cols: the input size / 4
RESCALE = 1.25
DARK_KERNEL = 11
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def usable_box(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """The box the pose model sees: the reference falls back to the full frame for no/tiny (<10 px) boxes."""
    if box is None or box[-1] <= 0 or (box[2] - box[0]) < 10 or (box[3] - box[1]) < 10:
        return np.array([0, 0, width, height])
    return box


def center_scale(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``bbox_from_detector``: centre (x, y) and scale (w, h) / 200 with aspect 192/256 and x1.25 padding."""
    aspect = INPUT_HW[0] / float(INPUT_HW[1])
    center = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])
    size = max((box[2] - box[0]) * aspect, box[3] - box[1])
    scale = np.array([size / aspect, size]) / 200.0
    scale *= RESCALE
    return center, scale


def _corner(pt: tuple[int, int], center: np.ndarray, s: float) -> np.ndarray:
    """The reference ``transform(pt, center, s, res, invert=1)``: crop pixel -> rounded source pixel."""
    res = INPUT_HW
    h = 200 * s
    w = h / (res[0] / float(res[1]))
    t = np.zeros((3, 3))
    t[0, 0] = float(res[1]) / w
    t[1, 1] = float(res[0]) / h
    t[0, 2] = res[1] * (-float(center[0]) / w + 0.5)
    t[1, 2] = res[0] * (-float(center[1]) / h + 0.5)
    t[2, 2] = 1
    t = np.linalg.inv(t)
    p = np.dot(t, np.array([pt[0] - 1, pt[1] - 1, 1.0]).T)
    return np.array([round(p[0]), round(p[1])], dtype=int) + 1


def crop(img: np.ndarray, center: np.ndarray, scale: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The reference ``crop``: integer corners, the box pasted into a zero canvas, bilinear resize to 192x256."""
    s = max(scale)
    ul = _corner((1, 1), center, s) - 1
    br = _corner((INPUT_HW[1] + 1, INPUT_HW[0] + 1), center, s) - 1
    rows, cols = int(br[1] - ul[1]), int(br[0] - ul[0])
    ih, iw = img.shape[:2]
    if out is None:
        out = np.empty((*INPUT_HW, 3), np.float32)
    if ul[0] >= 0 and ul[1] >= 0 and br[0] <= iw and br[1] <= ih and rows > 0 and cols > 0:
        region = img[ul[1] : br[1], ul[0] : br[0]]  # inside the frame: the canvas would be this exact slice
    else:
        region = np.zeros((rows, cols, img.shape[2]), np.float32)
        new_x = max(0, -ul[0]), min(br[0], iw) - ul[0]
        new_y = max(0, -ul[1]), min(br[1], ih) - ul[1]
        old_x = max(0, ul[0]), min(iw, br[0])
        old_y = max(0, ul[1]), min(ih, br[1])
        try:  # noqa: SIM105 (the reference prints and keeps the zero canvas)
            region[new_y[0] : new_y[1], new_x[0] : new_x[1]] = img[old_y[0] : old_y[1], old_x[0] : old_x[1]]
        except ValueError:  # the reference prints and keeps the zero canvas
            pass
    cv2.resize(region, (INPUT_HW[1], INPUT_HW[0]), dst=out)
    return out


def normalise(crops: np.ndarray) -> np.ndarray:
    """(N, 256, 192, 3) RGB in [0, 1] -> contiguous (N, 3, 256, 192) float32 with ImageNet mean/std."""
    norm = ((crops - MEAN) / STD).astype(np.float32)
    return np.ascontiguousarray(norm.transpose(0, 3, 1, 2))


def _gaussian_blur(heatmaps: np.ndarray) -> np.ndarray:
    """Zero-padded 11x11 Gaussian blur of every map, rescaled to the map's original maximum.

    One ``cv2.GaussianBlur`` per map into a reused padded buffer: bit-identical to the reference (a
    multi-channel or matrix formulation differs in the last bits, which DARK amplifies on flat heatmaps).
    """
    n, k, h, w = heatmaps.shape
    border = (DARK_KERNEL - 1) // 2
    maps = heatmaps.reshape(n * k, h, w)
    out = np.empty_like(maps)
    pad = np.zeros((h + 2 * border, w + 2 * border), np.float32)
    blurred = np.empty_like(pad)
    inner = pad[border:-border, border:-border]
    for i in range(n * k):
        inner[...] = maps[i]
        cv2.GaussianBlur(pad, (DARK_KERNEL, DARK_KERNEL), 0, dst=blurred)
        out[i] = blurred[border:-border, border:-border]
    origin_max = maps.reshape(n * k, -1).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = origin_max / out.reshape(n * k, -1).max(axis=1)
    out *= factor[:, None, None]
    return out.reshape(n, k, h, w)


def decode_heatmaps(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(N, K, H, W) heatmaps + (N, 2) centres + (N, 2) scales (/200) -> (N, K, 3) float32 ``[x, y, score]``.

    Argmax, then DARK: log of the Gaussian-modulated heatmap and one Taylor (Newton) step, then the mapping
    ``x * scale_w / W + cx - scale_w / 2`` back to source pixels, like the reference ``keypoints_from_heatmaps``.
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = np.argmax(flat, 2)
    maxvals = np.take_along_axis(flat, idx[:, :, None], 2)
    preds = np.empty((n, k, 2), np.float32)
    preds[:, :, 0] = idx % w
    preds[:, :, 1] = idx // w
    preds = np.where(maxvals > 0.0, preds, np.float32(-1)).astype(np.float32)

    with np.errstate(divide="ignore", invalid="ignore"):
        logmap = np.log(np.maximum(_gaussian_blur(heatmaps), 1e-10))
    px = preds[:, :, 0].astype(np.int64)
    py = preds[:, :, 1].astype(np.int64)
    ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    pxc, pyc = np.where(ok, px, 2), np.where(ok, py, 2)
    lm = logmap.reshape(n * k, h, w)
    flat_i = np.arange(n * k)

    def at(dy: int, dx: int) -> np.ndarray:
        return lm[flat_i, (pyc + dy).ravel(), (pxc + dx).ravel()].reshape(n, k)

    c = at(0, 0)
    dx = np.float32(0.5) * (at(0, 1) - at(0, -1))
    dy = np.float32(0.5) * (at(1, 0) - at(-1, 0))
    dxx = np.float32(0.25) * (at(0, 2) - 2 * c + at(0, -2))
    dxy = np.float32(0.25) * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    dyy = np.float32(0.25) * (at(2, 0) - 2 * c + at(-2, 0))
    det = dxx * dyy - dxy**2
    ok &= det != 0
    sel = np.flatnonzero(ok.ravel())
    if sel.size:
        hess = np.stack([dxx.ravel()[sel], dxy.ravel()[sel], dxy.ravel()[sel], dyy.ravel()[sel]], -1)
        deriv = np.stack([dx.ravel()[sel], dy.ravel()[sel]], -1)[:, :, None]
        offset = -np.linalg.inv(hess.reshape(-1, 2, 2)) @ deriv
        flat_preds = preds.reshape(-1, 2)
        flat_preds[sel] += offset[:, :, 0]

    scale_px = np.asarray(scales, np.float64) * 200
    centers = np.asarray(centers, np.float64)
    out = np.empty((n, k, 3), np.float32)
    sx = scale_px[:, 0:1] / w
    sy = scale_px[:, 1:2] / h
    out[:, :, 0] = preds[:, :, 0] * sx + centers[:, 0:1] - scale_px[:, 0:1] * 0.5
    out[:, :, 1] = preds[:, :, 1] * sy + centers[:, 1:2] - scale_px[:, 1:2] * 0.5
    out[:, :, 2] = maxvals[:, :, 0]
    return out
