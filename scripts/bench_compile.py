"""Benchmark: time to the first frame of ``vspipe`` with ``upscale(compile=True)``, cold and warm.

    .venv/bin/python scripts/bench_compile.py                          # CPU, realesr-animevideov3, 64x48
    python scripts/bench_compile.py --device cuda --size 1920x1080 --json out/compile.json

Each row is a fresh ``vspipe -e 0`` process (importing torch, loading the model, compiling, one frame) with an
empty inductor cache of its own (``TORCHINDUCTOR_CACHE_DIR``), so only vsenhance's saved compilation
(``<model cache>/compiled``) can make it warm:
  eager   compile=False: the floor
  cold    compile=True, nothing saved yet: compiles, then saves its artifacts
  warm    compile=True again, a new process: loads the saved artifacts instead of generating code
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VSPIPE = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe") or "vspipe"

SCRIPT = """
import vapoursynth as vs
import vsenhance as vse
src = vs.core.std.BlankClip(format=vs.YUV420P8, width={w}, height={h}, length=1, color=[90, 100, 150])
vse.upscale(src, {model!r}, tile=0, device={device!r}, output_format=vs.YUV420P8, compile={compile}).set_output()
"""


def first_frame_seconds(script: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([VSPIPE, "-e", "0", str(script), os.devnull], capture_output=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"vspipe failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--size", default="64x48", help="input WIDTHxHEIGHT")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    w, _, h = args.size.partition("x")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = dict(os.environ, VSENHANCE_MODEL_DIR=str(folder / "models"))
        # the model itself is resolved (ncnn conversion) once, before anything is timed
        for name, compile_ in (("prepare", False), ("eager", False), ("cold", True), ("warm", True)):
            script = folder / f"{name}.vpy"
            script.write_text(SCRIPT.format(w=int(w), h=int(h), model=args.model, device=args.device,
                                            compile=compile_))  # fmt: skip
            seconds = first_frame_seconds(script, env | {"TORCHINDUCTOR_CACHE_DIR": str(folder / f"ind-{name}")})
            if name != "prepare":
                rows.append({"start": name, "first_frame_seconds": seconds})
        saved = sorted(p.name for p in (folder / "models" / "compiled").glob("*.bin"))
    import torch

    report = {
        "machine": {
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "settings": {"model": args.model, "size": args.size, "device": args.device},
        "rows": rows,
        "saved_files": saved,
    }
    print("| start | time to first frame (s) |")
    print("| --- | ---: |")
    for row in rows:
        print(f"| {row['start']} | {row['first_frame_seconds']:.1f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
