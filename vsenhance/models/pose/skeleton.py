"""COCO-WholeBody 133 keypoints -> OpenPose body/hands/face, drawing like the reference ``DrawViTPose``."""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from .draw_options import DrawOptions

__all__ = [
    "BODY_COLORS",
    "LIMBS",
    "draw",
    "openpose_person",
    "split_wholebody",
]

# 20-point OpenPose body (18 + two toes) from the 133 COCO-WholeBody points: the mean of two source points
_BODY_A = [0, 6, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3, 17, 20]
_BODY_B = [0, 5, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3, 18, 21]
LIMBS = [
    (2, 3),
    (2, 6),
    (3, 4),
    (4, 5),
    (6, 7),
    (7, 8),
    (2, 9),
    (9, 10),
    (10, 11),
    (2, 12),
    (12, 13),
    (13, 14),
    (2, 1),
    (1, 15),
    (15, 17),
    (1, 16),
    (16, 18),
    (14, 19),
    (11, 20),
]  # 1-based, as the reference
BODY_COLORS = [
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
    (255, 0, 85),
    (200, 200, 0),
    (100, 100, 0),
]
HAND_EDGES = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (0, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (0, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (0, 13),
    (13, 14),
    (14, 15),
    (15, 16),
    (0, 17),
    (17, 18),
    (18, 19),
    (19, 20),
]
HAND_COLORS = [
    tuple(float(c) * 255 for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)) for i in range(len(HAND_EDGES))
]
_HEAD = [0, 14, 15, 16, 17]


def split_wholebody(kps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(133, 3) -> body (20, 3), left hand (21, 3), right hand (21, 3), face (70, 3: 68 landmarks + 2 eyes)."""
    kps = np.asarray(kps, np.float64)
    body = (kps[_BODY_A] + kps[_BODY_B]) / 2
    face = np.concatenate([kps[23:91], kps[1:3]], axis=0)
    return body, kps[91:112].copy(), kps[112:133].copy(), face


def openpose_person(kps: np.ndarray, box: np.ndarray) -> dict:
    """One person as OpenPose-style JSON lists (flat x, y, c)."""
    body, lhand, rhand, face = split_wholebody(kps)
    return {
        "box": [float(v) for v in box],
        "pose_keypoints_2d": body.ravel().tolist(),
        "hand_left_keypoints_2d": lhand.ravel().tolist(),
        "hand_right_keypoints_2d": rhand.ravel().tolist(),
        "face_keypoints_2d": face.ravel().tolist(),
    }


def _draw_hand(canvas: np.ndarray, hand: np.ndarray, threshold: float, width: int) -> None:
    eps = 0.01
    for ie, (e1, e2) in enumerate(HAND_EDGES):
        k1, k2 = hand[e1], hand[e2]
        if k1[2] < threshold or k2[2] < threshold:
            continue
        x1, y1, x2, y2 = int(k1[0]), int(k1[1]), int(k2[0]), int(k2[1])
        if x1 > eps and y1 > eps and x2 > eps and y2 > eps:
            cv2.line(canvas, (x1, y1), (x2, y2), HAND_COLORS[ie], thickness=width)
    for k in hand:
        if k[2] < threshold:
            continue
        x, y = int(k[0]), int(k[1])
        if x > eps and y > eps:
            cv2.circle(canvas, (x, y), width, (0, 0, 255), thickness=-1)


def draw(canvas: np.ndarray, kps: np.ndarray, opts: DrawOptions) -> np.ndarray:
    """Draw one person's 133 keypoints on an (H, W, 3) uint8 RGB canvas in place, like ``draw_aapose_new``.

    Limbs are filled ellipses at 60 % of the OpenPose colour, joints are discs in the full colour, hands use
    the HSV edge colours with blue joints. ``draw_face`` adds the 68 face landmarks as white dots (the
    reference ``DrawViTPose`` does not draw them).
    """
    threshold, body_stick_width, hand_stick_width = opts.threshold, opts.body_stick_width, opts.hand_stick_width
    draw_body, draw_hands, draw_head, draw_face = opts.draw_body, opts.draw_hands, opts.draw_head, opts.draw_face
    h, w = canvas.shape[:2]
    body, lhand, rhand, face = split_wholebody(kps)
    if not draw_head:
        body[_HEAD, 2] = 0
    stick = max(int(min(h, w) / 200) - 1, 1) if body_stick_width == -1 else body_stick_width
    if draw_body and stick > 0:
        for (a, b), color in zip(LIMBS, BODY_COLORS, strict=False):
            k1, k2 = body[a - 1], body[b - 1]
            if k1[-1] < threshold or k2[-1] < threshold:
                continue
            ys = np.array([k1[0], k2[0]])
            xs = np.array([k1[1], k2[1]])
            m_x, m_y = np.mean(xs), np.mean(ys)
            length = ((xs[0] - xs[1]) ** 2 + (ys[0] - ys[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(xs[0] - xs[1], ys[0] - ys[1]))
            poly = cv2.ellipse2Poly((int(m_y), int(m_x)), (int(length / 2), stick), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, poly, [int(float(c) * 0.6) for c in color])
        for k, color in zip(body, BODY_COLORS, strict=True):
            if k[-1] < threshold:
                continue
            cv2.circle(canvas, (int(k[0]), int(k[1])), stick, color, thickness=-1)
    if draw_hands and hand_stick_width != 0:
        hw = max(max(int(min(h, w) / 200) - 1, 1) // 2, 1) if hand_stick_width == -1 else hand_stick_width
        _draw_hand(canvas, lhand, threshold, hw)
        _draw_hand(canvas, rhand, threshold, hw)
    if draw_face:
        radius = max(int(min(h, w) / 300), 1)
        for k in face[:68]:
            if k[2] >= threshold and k[0] > 0.01 and k[1] > 0.01:
                cv2.circle(canvas, (int(k[0]), int(k[1])), radius, (255, 255, 255), thickness=-1)
    return canvas
