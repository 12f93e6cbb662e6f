"""How a skeleton is drawn: the options of ``draw_pose`` and their defaults, declared once.

A plain dataclass (no OpenCV), so the filter's signature can take its defaults from here without importing the
drawing code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DrawOptions"]


@dataclass(frozen=True)
class DrawOptions:
    threshold: float = 0.5  # keypoints scored below it are not drawn
    body_stick_width: int = -1  # -1: from the frame size, like the reference
    hand_stick_width: int = -1  # -1: half the body's; 0: no hands
    draw_body: bool = True
    draw_hands: bool = True
    draw_head: bool = True
    draw_face: bool = False  # the 68 face landmarks as white dots (the reference does not draw them)
