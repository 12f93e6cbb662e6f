#!/usr/bin/env bash
# The prepared GPU check (scripts/gpu_check.py says what it runs): about 6 minutes on an H100, install included.
#   scripts/gpu_check.sh [--dry-run] [OUT_DIR]    OUT_DIR/gpu_check.json and gpu_check.log (default out/gpu-check)
# On a GPU loan the machine has Python 3.12 with torch, Triton and numpy but none of the rest: gather it here
# first with scripts/gpu_carry.sh (wheels, the converted model, the commit), carry out/gpu-carry, and this
# script installs it into a private folder. --dry-run runs every step on this machine's CPU at tiny sizes, in
# .venv (scripts/setup.sh), so the check itself is tested here.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=()
if [ "${1:-}" = "--dry-run" ]; then dry=(--dry-run); shift; fi
out="${1:-out/gpu-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if [ ${#dry[@]} -gt 0 ]; then
    [ -x .venv/bin/python ] || scripts/setup.sh
    py=.venv/bin/python
    export PATH="$PWD/.venv/bin:$PATH"
else
    py=python3
fi
# what scripts/gpu_carry.sh gathered: always on a loan; GPU_CHECK_CARRIED=1 tries the same install in a dry run
carry=out/gpu-carry
if [ ${#dry[@]} -eq 0 ] || [ "${GPU_CHECK_CARRIED:-0}" = 1 ]; then
    if [ -d "$carry/wheels" ]; then
        site=$(mktemp -d /tmp/vse-site.XXXX)
        "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$carry"/wheels/*.whl
        export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PATH="$site/bin:$PATH"
    else
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
        echo "gpu_check.sh: no $carry/wheels (scripts/gpu_carry.sh gathers them): using what is installed" >&2
    fi
    if [ -d "$carry/models" ]; then export VSENHANCE_MODEL_DIR="$PWD/$carry/models"; fi
fi
exec "$py" -m scripts.gpu_check "${dry[@]}" "$out"
