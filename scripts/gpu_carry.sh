#!/usr/bin/env bash
# Gather what scripts/gpu_check.sh needs on a GPU loan into out/gpu-carry (name it in the device run's carry):
#   wheels/   VapourSynth (with vspipe), spandrel, platformdirs: manylinux x86-64 wheels for CPython 3.12, the
#             loan's Python (it already has torch, Triton, numpy, einops, safetensors, pytest, nvidia-ml-py)
#   models/   realesr-animevideov3-x2 converted from the ncnn wheel here (the loan has no network); the RRDBNet
#             step uses arch:rrdbnet-x2, random weights of the same shape and speed, so no file travels for it
#   commit.txt  the commit measured (the working tree travels without .git)
# Ray does not travel: its wheel (77 MB) is over the loan's 64 MiB, so the Ray step reports itself skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
carry=out/gpu-carry
rm -rf "$carry"
mkdir -p "$carry/wheels" "$carry/models"
[ -x .venv/bin/python ] || scripts/setup.sh
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$p")
done
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$carry/wheels" \
    "vapoursynth==$(.venv/bin/python -c 'import vapoursynth as vs; print(vs.core.core_version.release_major)')" \
    "spandrel==$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("spandrel"))')" platformdirs
model=$(.venv/bin/vsenhance models path realesr-animevideov3-x2)
cp "$model" "$carry/models/"
git describe --always --dirty > "$carry/commit.txt"
du -sh "$carry" >&2
echo "carry: $carry  (commit $(cat "$carry/commit.txt"))" >&2
