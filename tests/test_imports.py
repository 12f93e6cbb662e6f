"""Where the heavy runtimes load: never on import, in the encoder or the CLI; when a filter is called."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import vapoursynth as vs
from vsenhance import draw_pose, export_pose, pose, upscale, upscale_ranges
import vsenhance.cli, vsenhance.encode.job, vsenhance.encode.estimate, vsenhance.encode.cut
from vsenhance.cli import main
try:
    main(["models", "list"])
except SystemExit:
    pass
heavy = [m for m in ("torch", "onnxruntime", "cv2") if m in sys.modules]
assert not heavy, heavy
clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=4)
upscale(clip, sys.argv[1], device="cpu")  # the model is loaded and checked when the filter is created
assert "torch" in sys.modules
"""


def test_import_cli_and_encoder_load_no_runtime(tiny_model_path):
    done = subprocess.run([sys.executable, "-c", CHECK, str(tiny_model_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
