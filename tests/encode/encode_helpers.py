"""Helpers for the encoder tests (imported by name; the name is unique across the test tree)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vsenhance.encode.programs import child_env
from vsenhance.errors import EncodeError

# The reference runs: vspipe itself (only the tests run it; the encoder's workers execute scripts themselves).
_WRAPPER_MARK = b"from vapoursynth import vspipe"


def _real_vspipe(candidate: Path) -> Path:
    """pip's ``vspipe`` is a Python wrapper that runs the binary in the vapoursynth package as a child.

    The wrapper turns Ctrl-C into exit code 0 and does not pass SIGTERM on, so when the candidate is that
    wrapper we run the binary beside it directly (same program, one process less, signals reach it).
    """
    try:
        with candidate.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return candidate
    if not head.startswith(b"#!") or _WRAPPER_MARK not in head:
        return candidate
    spec = importlib.util.find_spec("vapoursynth")  # locates the package without importing it
    if spec is None or spec.origin is None:
        return candidate
    binary = Path(spec.origin).with_name("vspipe")
    return binary if binary.is_file() and os.access(binary, os.X_OK) else candidate


def find_vspipe() -> Path:
    """vspipe next to the running interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "vspipe"
    if beside.is_file() and os.access(beside, os.X_OK):
        return _real_vspipe(beside)
    found = shutil.which("vspipe")
    if found:
        return _real_vspipe(Path(found))
    raise EncodeError(
        "find_vspipe",
        f"vspipe was found neither beside the Python interpreter ({beside}) nor on PATH.",
        "install VapourSynth into this environment (pip install vapoursynth) or put vspipe on PATH.",
    )


# 64x48 frames, each different (frame number drawn), optionally slow, failing at a frame, or hybrid-tagged; with
# -a gate=PATH, frames 8-15 (one 8-frame segment, none of the frames an encode probes) wait until PATH exists, so
# an encode cannot finish before a test interrupts it, however slow or fast the machine.
SCRIPT = """\
import os
import time
import vapoursynth as vs
core = vs.core
length = int(globals().get("length", "48"))
delay = float(globals().get("delay", "0"))
ai_delay = float(globals().get("ai_delay", "0"))
failat = int(globals().get("failat", "-1"))
hybrid = globals().get("hybrid", "0") == "1"
gate = globals().get("gate")
clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=length, fpsnum=24, color=[40, 128, 128])
clip = core.text.FrameNum(clip, alignment=5)

def per_frame(n, f):
    while gate and 8 <= n <= 15 and not os.path.exists(gate):
        time.sleep(0.01)
    if n == failat:
        raise RuntimeError(f"planned failure at frame {n}")
    ai = hybrid and (n // 8) % 2 == 0  # AI ranges of 8 frames, then 8 Lanczos
    if delay or (ai and ai_delay):
        time.sleep(delay + (ai_delay if ai else 0))
    if not hybrid:
        return f
    out = f.copy()
    out.props["VSEnhancePath"] = "ai" if ai else "lanczos"
    return out

clip = core.std.ModifyFrame(clip, clip, per_frame)
clip.set_output()
"""


# Appended to SCRIPT: every rendered frame appends "<NODE_TAG> <frame>" to the file named by -a frames_log=...
# (the node a frame was rendered on; NODE_TAG is set per node by the Ray test cluster, else "None").
LOG_FRAMES = """
if "frames_log" in globals():
    import os
    node_tag = os.environ.get("NODE_TAG")
    def log_frame(n, f):
        with open(frames_log, "a") as fh:
            fh.write(f"{node_tag} {n}\\n")
        return f
    clip = core.std.ModifyFrame(clip, clip, log_frame)
    clip.set_output()
"""


def write_script(path: Path, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT + extra, encoding="utf-8")
    return path


def framemd5(path: Path) -> list[str]:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", os.fspath(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True,
        check=True,
    )
    return [line.rsplit(",", 1)[1].strip() for line in done.stdout.decode().splitlines() if not line.startswith("#")]


def direct_framemd5(script: Path, *args: str) -> list[str]:
    """Hashes of ``vspipe -c y4m SCRIPT - | ffmpeg -f framemd5`` (the reference, no segments)."""
    argv = [os.fspath(find_vspipe()), "-c", "y4m"]
    for a in args:
        argv += ["-a", a]
    vsp = subprocess.Popen([*argv, os.fspath(script), "-"], stdout=subprocess.PIPE, env=child_env())
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "yuv4mpegpipe", "-i", "pipe:0", "-f", "framemd5", "-"],
        stdin=vsp.stdout,
        capture_output=True,
        check=True,
    )
    vsp.stdout.close()
    assert vsp.wait() == 0
    return [line.rsplit(",", 1)[1].strip() for line in done.stdout.decode().splitlines() if not line.startswith("#")]


def cli_env() -> dict[str, str]:
    env = child_env()
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([repo, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("LANG", None)
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    return env


def start_cli(*args: str, env: dict[str, str] | None = None, enter: Sequence[str] = ()) -> subprocess.Popen:
    """``vsenhance ARGS`` in its own session, as a terminal's foreground command starts: Ctrl-C (SIGINT) not
    ignored, even where this test process ignores it (a shell starts background jobs so, ``pytest &``, and
    exec keeps an ignored signal ignored). ``env`` adds to (or replaces in) the CLI's environment; ``enter``:
    an argv prefix it runs under (a test Ray cluster's ``enter``, into its network namespace)."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:  # handled here for the fork; exec gives the child the default, and Python its KeyboardInterrupt
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [*enter, sys.executable, "-m", "vsenhance", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env() | (env or {}),
            start_new_session=True,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vsenhance", *args], capture_output=True, env=cli_env(), timeout=timeout
    )


def wait_for_done_segments(state_dir: Path, count: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    """Poll the done-record until it lists ``count`` segments; returns how many it lists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done = json.loads((state_dir / "done.json").read_text())["done"]
            if len(done) >= count:
                return len(done)
        except (OSError, ValueError, KeyError):
            pass
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"encode ended early ({proc.returncode}): {err.decode()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError("no segment finished in time")


def make_ffv1(path: Path, frames: int) -> Path:
    """A small ffv1 file of ``frames`` test-pattern frames, encoded as the encoder encodes ffv1 segments."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=24",
         "-frames:v", str(frames), "-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-y", os.fspath(path)],
        check=True,
    )  # fmt: skip
    return path


def recorded_done(state_dir: Path) -> dict[int, int]:
    """What the done-record says: segment index -> frames (the tests' view of ``done.json``)."""
    data = json.loads((state_dir / "done.json").read_text(encoding="utf-8"))
    return {int(k): int(v["frames"]) for k, v in data["done"].items()}
