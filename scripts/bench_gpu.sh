#!/usr/bin/env bash
# Every GPU row of the performance tables in docs/performance.md, in one go (about 15 minutes on an H100):
#   scripts/bench_gpu.sh [OUT_DIR]      JSON per row into OUT_DIR (default out/bench-gpu), tables on stdout
# Uses the active Python (.venv/bin/python after scripts/setup.sh, if it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/bench-gpu}"
mkdir -p "$out"
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
bench() { "$py" scripts/bench_upscale.py --device cuda --encoder devnull --warmup 10 "$@"; }
x2=(--model realesr-animevideov3-x2 --size 1920x1080)
x4=(--model realesr-animevideov3 --size 1920x1080)
x2_720=(--model realesr-animevideov3-x2 --size 1280x720)
rrdb=(--model arch:rrdbnet-x2 --size 1920x1080 --warmup 6 --streams 2)
for compiled in "" --compile; do
    tag=${compiled:+_compiled}
    bench "${x2[@]}" --frames 200 --streams 8 --modes model,runtime,vspipe,overhead $compiled --json "$out/h100_animevideov3-x2_1080p$tag.json"
    bench "${x4[@]}" --frames 150 --streams 8 --modes model,runtime,vspipe,overhead $compiled --json "$out/h100_animevideov3-x4_1080p$tag.json"
    bench "${x2_720[@]}" --frames 300 --streams 8 --modes model,vspipe $compiled --json "$out/h100_animevideov3-x2_720p$tag.json"
    bench "${rrdb[@]}" --frames 60 --modes model,runtime,vspipe $compiled --json "$out/h100_rrdbnet-x2_1080p$tag.json"
done
"$py" scripts/bench_network.py --device cuda --model arch:rrdbnet-x2 --size 1920x1080 --profile \
    --json "$out/h100_network_rrdbnet-x2_1080p.json"
"$py" scripts/bench_network.py --device cuda --model realesr-animevideov3 --size 1920x1080 --iters 40 \
    --variants nhwc,nchw,cudagraph,compile --profile --json "$out/h100_network_animevideov3_1080p.json"
# pose on the GPU needs onnxruntime-gpu (its CUDA provider): batching and I/O binding, with the CPU reference's
# pipeline on the same provider
if "$py" -c 'import onnxruntime, sys; sys.exit("CUDAExecutionProvider" not in onnxruntime.get_available_providers())'; then
    "$py" -m scripts.bench_pose --providers cuda --frames 96 --width 1920 --height 1080 --stages --repeat 3 \
        --json "$out/h100_pose_1080p.json"
else
    echo "bench_gpu.sh: onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu): pose skipped" >&2
fi
