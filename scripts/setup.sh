#!/usr/bin/env bash
# Set up vsenhance in ./.venv: find Python >= 3.12, install the package with its dev extras (vs-preview among them),
# vsview in ./.venv-view, and make sure ffmpeg, Xvfb and Qt's X libraries are present (apt-get, when missing).
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

find_python() {
    local c v
    for c in "${PYTHON:-}" python3.14 python3.13 python3.12 python3 python; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$c"; return 0
        fi
    done
    # pyenv keeps other versions installed but not on PATH; ask it rather than hard-coding a path.
    if command -v pyenv >/dev/null 2>&1; then
        for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?$' | sort -rV); do
            c=$(PYENV_VERSION="$v" pyenv which python 2>/dev/null) || continue
            "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$c"; return 0; }
        done
    fi
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    py=$(find_python) || { log "Python >= 3.12 is required (VapourSynth's wheel is cp312-abi3). Install it, or set PYTHON=/path/to/python3.12."; exit 1; }
    log "creating .venv with $py"
    rm -rf .venv
    "$py" -m venv .venv
fi

stamp=.venv/.vsenhance-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing vsenhance and its dependencies (torch is large: a few minutes the first time)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev,gpu-monitor,cluster,preview,openvino]'
    touch "$stamp"
fi

# vsview (the view extra) needs jetpytools 3; vs-preview 0.20.1's vsjetpack 1.x pins jetpytools 2.2, so the two
# cannot share .venv. .venv-view holds vsview and its Qt only, and sees .venv's packages (vsenhance, torch,
# VapourSynth) behind its own through a .pth file, so nothing large is installed twice.
view_stamp=.venv-view/.vsenhance-installed
if [ ! -f "$view_stamp" ] || [ pyproject.toml -nt "$view_stamp" ]; then
    log "installing vsview into .venv-view (layered on .venv)"
    rm -rf .venv-view
    .venv/bin/python -m venv .venv-view
    base=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    own=$(.venv-view/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "import site; site.addsitedir('$base')" >"$own/zz-vsenhance-base.pth"
    view_req=$(.venv/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["view"])')
    # pip names .venv's vsjetpack 1.x (vs-preview's, never imported by vsview) as conflicting: expected here
    .venv-view/bin/python -m pip install --quiet $view_req 2>&1 | grep -v -e "vsjetpack" -e "dependency resolver" >&2 || true
    QT_LOGGING_RULES='*=false' .venv-view/bin/python -c 'import vsview, vsenhance' && touch "$view_stamp"
fi

apt_install() {
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$@" >/dev/null
}

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    log "ffmpeg not found: installing it with apt-get"
    apt_install ffmpeg
fi

# the Ray tests run their clusters in a network namespace of their own (unshare, nsenter) and check it with ss
if ! command -v ss >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1 || ! command -v nsenter >/dev/null 2>&1; then
    log "installing iproute2 and util-linux with apt-get (for the Ray tests' private network)"
    apt_install iproute2 util-linux || log "apt-get failed: the Ray tests' clusters will use this machine's loopback"
fi

# the previewers' plugin tests run Qt under Xvfb; Qt 6.5+'s xcb platform needs libraries that slim images lack
qxcb=$(.venv/bin/python -c 'import pathlib, PyQt6; print(pathlib.Path(PyQt6.__file__).parent / "Qt6/plugins/platforms/libqxcb.so")')
if ! command -v xvfb-run >/dev/null 2>&1 || ldd "$qxcb" | grep -q "not found"; then
    log "installing Xvfb and Qt's xcb libraries with apt-get (for the previewers' tests)"
    apt_install xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
        libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 \
        libdbus-1-3 || log "apt-get failed: the previewers' tests will be skipped, saying why"
fi
log "ready: $(.venv/bin/python --version), $(ffmpeg -version | head -n 1)"
