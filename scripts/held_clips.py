"""Clips with held frames, made from real photos, for ``bench_dedup.py`` and the dedup tests.

- :func:`pan`: a photo panned in steps, each position held for ``hold`` frames (anime drawn on ones, twos,
  threes), as RGB pictures;
- :func:`patch_toggle`: a held background on which a small patch (8x8, 24 codes brighter) appears and disappears
  every other frame, somewhere new each time, on and off any block grid;
- :func:`write_video`: pictures through ffmpeg (``ffv1`` lossless, or x264 at a CRF), so a lossy source is a
  real decoder's output, read back with bestsource.

The truth is known: :func:`held_truth` gives, for each frame, the frame whose picture it repeats.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["held_truth", "pan", "patch_toggle", "photo", "write_video"]


def photo(name: str = "coffee") -> np.ndarray:
    """A real photo from scikit-image (``coffee``, ``astronaut``, ``chelsea``, ``rocket``), RGB uint8 HWC."""
    from skimage import data

    return getattr(data, name)()


def pan(image: np.ndarray, width: int, height: int, positions: int, hold: int, step: int = 6) -> list[np.ndarray]:
    """``positions`` crops of ``image`` moving ``step`` pixels right each time, each repeated ``hold`` times."""
    need = width + step * (positions - 1)
    if image.shape[1] < need or image.shape[0] < height:
        raise ValueError(f"a {image.shape[1]}x{image.shape[0]} photo is too small for {positions} steps of {step}")
    top = (image.shape[0] - height) // 2
    out: list[np.ndarray] = []
    for p in range(positions):
        crop = np.ascontiguousarray(image[top : top + height, p * step : p * step + width, :3])
        out += [crop] * hold
    return out


def patch_toggle(image: np.ndarray, width: int, height: int, frames: int, seed: int = 0) -> list[np.ndarray]:
    """A held crop of ``image``; every other pair of frames shows an 8x8 patch 24 codes brighter at a new place."""
    rng = np.random.default_rng(seed)
    background = np.ascontiguousarray(image[:height, :width, :3])
    out: list[np.ndarray] = []
    for pair in range((frames + 1) // 2):
        picture = background
        if pair % 2:
            y, x = int(rng.integers(0, height - 8)), int(rng.integers(0, width - 8))
            picture = background.copy()
            picture[y : y + 8, x : x + 8] = np.clip(picture[y : y + 8, x : x + 8].astype(int) + 24, 0, 255)
        out += [picture, picture]
    return out[:frames]


def held_truth(pictures: Sequence[np.ndarray]) -> list[int]:
    """For each frame, the first frame of the run of identical pictures it belongs to (itself when it moved)."""
    truth: list[int] = []
    for n, picture in enumerate(pictures):
        truth.append(truth[-1] if n and np.array_equal(picture, pictures[n - 1]) else n)
    return truth


def write_video(pictures: Sequence[np.ndarray], path: Path, crf: int | None, fps: int = 24) -> Path:
    """``pictures`` as a 4:2:0 video: ffv1 (lossless, ``crf`` None) or x264 at ``crf`` (preset medium)."""
    height, width = pictures[0].shape[:2]
    codec = ["-c:v", "ffv1"] if crf is None else ["-c:v", "libx264", "-crf", str(crf), "-preset", "medium"]
    argv = [
        "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
        "-r", str(fps), "-i", "-", "-vf", "scale=out_color_matrix=bt709:out_range=tv", *codec, "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries",
        "bt709", "-color_trc", "bt709", "-color_range", "tv", str(path),
    ]  # fmt: skip
    subprocess.run(argv, input=b"".join(p.tobytes() for p in pictures), check=True)
    return path
