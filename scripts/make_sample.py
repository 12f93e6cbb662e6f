"""Make examples/sample.mkv: a slow pan over scikit-image's "coffee" photograph (Rachel Michetti, CC0).

256x144, 48 frames at 24 fps, x264 CRF 20. Run once by a maintainer; the clip is committed.
Needs scikit-image (a dev extra) and ffmpeg.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

WIDTH, HEIGHT, FRAMES, FPS = 256, 144, 48, 24


def main() -> int:
    out = Path(__file__).resolve().parents[1] / "examples" / "sample.mkv"
    photo = cv2.resize(data.coffee(), (384, 256), interpolation=cv2.INTER_AREA)  # 600x400 -> 384x256
    ys = np.linspace(40, 100, FRAMES)
    xs = np.linspace(0, photo.shape[1] - WIDTH, FRAMES)
    argv = [
        "ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
        "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-crf", "20", "-preset", "slow", "-pix_fmt", "yuv420p",
        "-colorspace", "bt470bg", "-color_primaries", "bt470bg", "-color_trc", "smpte170m", "-color_range", "tv",
        "-metadata", "title=vsenhance sample: pan over skimage coffee (CC0)", str(out),
    ]  # fmt: skip
    frames = []
    for x, y in zip(xs, ys, strict=True):
        # sub-pixel pan: bilinear warp so motion is smooth
        m = np.float32([[1, 0, -x], [0, 1, -y]])
        frames.append(cv2.warpAffine(photo, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR))
    subprocess.run(argv, input=np.stack(frames).tobytes(), check=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
