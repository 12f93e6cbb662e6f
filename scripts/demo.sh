#!/usr/bin/env bash
# Set up (scripts/setup.sh), then upscale the built-in sample with real Real-ESRGAN weights:
#   out/sample_x4.mkv  the whole clip, x4, encoded in resumable segments by `vsenhance encode`
#   out/compare.png    frame 24 side by side: Lanczos (left) vs realesr-animevideov3 (right)
# Extra arguments go to `vsenhance encode` (e.g. -a device=cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
vsenhance encode examples/upscale.vpy -o out/sample_x4.mkv --segment-frames 24 --crf 16 --preset medium -y "$@"
vspipe -c y4m -s 24 -e 24 examples/compare.vpy - | ffmpeg -v error -y -i - -frames:v 1 out/compare.png
ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=width,height,nb_read_frames \
    -of default=noprint_wrappers=1 out/sample_x4.mkv >&2
echo "[demo] wrote out/sample_x4.mkv and out/compare.png" >&2
