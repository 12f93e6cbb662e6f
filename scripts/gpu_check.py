"""The prepared GPU check: every GPU figure docs/performance.md needs, in one run that fits a short loan.

Run it through ``scripts/gpu_check.sh`` (which installs what was carried to the GPU machine), or here with
``--dry-run``: every step then runs on this machine's CPU at tiny sizes, so the script itself is tested.

Steps (each keeps going past a failure; ``OUT/gpu_check.json`` holds one object with every step's figures,
pass/fail and error text, ``OUT/gpu_check.log`` the steps' own output):

1. ``tools``: the machine: GPU, torch, CUDA, ffmpeg/ffprobe/vspipe, Ray.
2. ``cuda_tests``: the CUDA-only tests (they skip on a CPU).
3. ``x2_eager``: realesr-animevideov3-x2, 1080p -> 2160p, fp16, streams=8: model-only, runtime and vspipe fps,
   efficiency and NVML utilisation.
4. ``x2_compile_start``: compile=True, a cold then a warm fresh process: time to the first frame.
5. ``x2_compiled``: the same figures as step 3 with compile=True.
6. ``rrdbnet_eager``: the RRDBNet x2 shape (``arch:rrdbnet-x2``, random weights, the same FLOPs), 1080p:
   model-only and vspipe.
7. ``farm_gpus``: ``vsenhance encode --gpus 0`` of 120 frames, frame-exact against ``vspipe | ffmpeg``, with the
   per-worker progress lines (a terminal) and their NVML load.
8. ``farm_ray``: the same through a one-node Ray cluster the script starts on loopback (``num_gpus=1``).
9. ``precision``: what ``precision="auto"`` picks on the device, and why.
10. ``nvenc``: ``vsenhance encode --encoder nvenc-hevc --gpus 0`` of 48 frames, if this ffmpeg has NVENC: the frame
    count, the codec and the colour tags read back (the dry run encodes with x265 instead, to test the step).

A step whose estimated cost no longer fits ``--budget`` seconds is skipped, and the JSON says so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

FARM_SCRIPT = """\
import vapoursynth as vs
import vsenhance as vse
core = vs.core
length = int(globals().get("length", "120"))
width, height = int(globals().get("width", "640")), int(globals().get("height", "360"))
clip = core.std.BlankClip(format=vs.YUV420P8, width=width, height=height, length=length, fpsnum=24,
                          color=[80, 110, 150])
clip = core.text.FrameNum(clip, alignment=5)
clip = vse.upscale(clip, globals().get("model", "realesr-animevideov3-x2"), tile=0, device="auto",
                   output_format="same")
clip.set_output()
"""


@dataclass(frozen=True)
class Sizes:
    """What the steps run at: the loan's sizes, or tiny ones for the dry run on a CPU."""

    device: str
    size: str
    frames: int
    warmup: int
    streams: int
    rrdb_size: str
    rrdb_frames: int
    rrdb_streams: int
    farm_frames: int
    farm_size: tuple[int, int]
    farm_segment: int


GPU = Sizes("cuda", "1920x1080", 200, 10, 8, "1920x1080", 40, 2, 120, (640, 360), 40)
DRY = Sizes("cpu", "64x48", 4, 1, 2, "32x24", 6, 1, 12, (64, 48), 4)


@dataclass
class Check:
    sizes: Sizes
    out: Path
    dry_run: bool
    budget: float
    log: object  # the open log file
    started: float = field(default_factory=time.monotonic)
    results: list[dict] = field(default_factory=list)

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def run(self, argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
        """A step's command, its output appended to the log (and returned); a non-zero exit raises."""
        self.log.write(f"\n$ {' '.join(argv)}\n")
        self.log.flush()
        limit = timeout if timeout != float("inf") else None
        done = subprocess.run(argv, capture_output=True, text=True, timeout=limit, cwd=ROOT, **kwargs)
        self.log.write(done.stdout + done.stderr)
        self.log.flush()
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[1] if argv[0] == sys.executable else argv[0]).name} exited with "
                               f"{done.returncode}: {(done.stderr or done.stdout).strip()[-1500:]}")  # fmt: skip
        return done


def _bench(check: Check, name: str, *args: str, timeout: float) -> dict:
    """One scripts/bench_upscale.py run; its rows keyed by mode."""
    path = check.out / f"{name}.json"
    check.run([sys.executable, "scripts/bench_upscale.py", "--device", check.sizes.device, "--encoder", "devnull",
               *args, "--json", str(path)], timeout=timeout)  # fmt: skip
    rows = json.loads(path.read_text())["rows"]
    return {row["mode"]: {k: v for k, v in row.items() if k != "mode"} for row in rows}


# --- the steps ---------------------------------------------------------------------------------------
def step_tools(check: Check) -> dict:
    import torch

    found = {tool: shutil.which(tool) for tool in ("ffmpeg", "ffprobe", "vspipe", "nvidia-smi")}
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu": platform.processor() or platform.machine(),
        "tools": found,
        "ray": importlib.util.find_spec("ray") is not None,
        "pynvml": importlib.util.find_spec("pynvml") is not None,
    }


def step_cuda_tests(check: Check) -> dict:
    files = ["tests/filters/test_upscale_cuda.py", "tests/models/test_colour_convert.py"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *files],
                          capture_output=True, text=True, timeout=min(240.0, check.left()), cwd=ROOT)  # fmt: skip
    check.log.write(done.stdout + done.stderr)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {key: int(n) for n, key in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
    if done.returncode not in (0, 5):
        raise RuntimeError(f"pytest exited with {done.returncode}: {summary}")
    return {"summary": summary, **counts}


def step_x2_eager(check: Check) -> dict:
    s = check.sizes
    return _bench(check, "x2_eager", "--model", "realesr-animevideov3-x2", "--size", s.size, "--frames",
                  str(s.frames), "--warmup", str(s.warmup), "--streams", str(s.streams), "--modes",
                  "model,runtime,vspipe", timeout=check.left())  # fmt: skip


def step_x2_compile_start(check: Check) -> dict:
    path = check.out / "x2_compile_start.json"
    model = _model_file("realesr-animevideov3-x2")
    check.run([sys.executable, "scripts/bench_compile.py", "--device", check.sizes.device, "--model", model,
               "--size", check.sizes.size, "--json", str(path)], timeout=check.left())  # fmt: skip
    return {row["start"]: row["first_frame_seconds"] for row in json.loads(path.read_text())["rows"]}


def step_x2_compiled(check: Check) -> dict:
    s = check.sizes
    return _bench(check, "x2_compiled", "--model", "realesr-animevideov3-x2", "--size", s.size, "--frames",
                  str(s.frames), "--warmup", str(s.warmup), "--streams", str(s.streams), "--modes", "model,vspipe",
                  "--compile", timeout=check.left())  # fmt: skip


def step_rrdbnet_eager(check: Check) -> dict:
    s = check.sizes
    return _bench(check, "rrdbnet_eager", "--model", "arch:rrdbnet-x2", "--size", s.rrdb_size, "--frames",
                  str(s.rrdb_frames), "--warmup", "2", "--streams", str(s.rrdb_streams), "--modes", "model,vspipe",
                  timeout=check.left())  # fmt: skip


def _farm_script(check: Check) -> tuple[Path, list[str]]:
    script = check.out / "farm.vpy"
    script.write_text(FARM_SCRIPT)
    w, h = check.sizes.farm_size
    return script, [f"length={check.sizes.farm_frames}", f"width={w}", f"height={h}"]


def _encode(
    check: Check,
    script: Path,
    args: list[str],
    output: Path,
    *where: str,
    env: dict[str, str] | None = None,
    enter: Sequence[str] = (),
    encoder: tuple[str, ...] = ("--encoder", "ffv1"),
) -> tuple[float, list[str]]:
    """``vsenhance encode`` with its stderr on a terminal (so the per-worker lines are drawn); the seconds it took
    and the screen's lines, without escape codes. ``env``: the whole environment (a Ray cluster's own), else
    this process's; ``enter``: an argv prefix (a test Ray cluster's, into its network namespace)."""
    argv = [*enter, sys.executable, "-m", "vsenhance", "encode", str(script), "-o", str(output), *encoder,
            "--segment-frames", str(check.sizes.farm_segment), "-y", *where]  # fmt: skip
    for arg in args:
        argv += ["-a", arg]
    check.log.write(f"\n$ {' '.join(argv)}\n")
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    screen = b""
    deadline = start + max(30.0, check.left())
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the encode exited
                chunk = b""
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
        if time.monotonic() > deadline:
            proc.kill()
            break
    os.close(master)
    rc = proc.wait()
    text = ANSI.sub("", screen.decode("utf-8", "replace")).replace("\r\n", "\n").replace("\r", "\n")
    check.log.write(text)
    if rc != 0:
        raise RuntimeError(f"vsenhance encode exited with {rc}: {text.strip()[-1500:]}")
    return time.monotonic() - start, [line for line in text.splitlines() if line.strip()]


def _frame_exact(check: Check, script: Path, args: list[str], output: Path) -> dict:
    from tests.encode.encode_helpers import direct_framemd5, framemd5

    got, want = framemd5(output), direct_framemd5(script, *args)
    if got != want:
        same = sum(a == b for a, b in zip(got, want, strict=False))
        raise RuntimeError(f"not frame-exact: {len(got)} frames against {len(want)}, {same} equal")
    return {"frames": len(got), "frame_exact": True}


def _worker_lines(lines: list[str]) -> dict:
    """The per-worker progress lines ("  w0  GPU 0 ... GPU 87%") and the loads they showed."""
    workers = [line for line in lines if re.match(r"^\s+w\d", line)]
    loads = [int(n) for line in workers for n in re.findall(r"GPU (\d+)%", line)]
    return {
        "worker_lines": len(workers),
        "nvml_loads": loads[-8:],
        "last_worker_line": workers[-1] if workers else None,
    }


def step_farm_gpus(check: Check) -> dict:
    script, args = _farm_script(check)
    output = check.out / "farm_gpus.mkv"
    seconds, lines = _encode(check, script, args, output, "--gpus", "0")
    result = {"seconds": seconds, **_frame_exact(check, script, args, output), **_worker_lines(lines)}
    output.unlink()
    return result


def step_farm_ray(check: Check) -> dict:
    if importlib.util.find_spec("ray") is None:
        raise Skipped("Ray is not importable here (its wheel is larger than what can be carried to a GPU loan)")
    from tests.encode.farm.farm_helpers import RayCluster

    script, args = _farm_script(check)
    output = check.out / "farm_ray.mkv"
    with tempfile.TemporaryDirectory(prefix="vse-ray-") as tmp:
        cluster = RayCluster(Path(tmp), nodes=1, num_gpus=0 if check.dry_run else 1)
        try:
            seconds, lines = _encode(
                check, script, args, output, "--ray", cluster.address, env=cluster.env, enter=cluster.enter
            )  # the cluster's own HOME and no inherited RAY_AUTH_*: a token in the user's HOME changes nothing
        finally:
            cluster.stop()
    result = {"seconds": seconds, **_frame_exact(check, script, args, output), **_worker_lines(lines)}
    output.unlink()
    return result


def step_precision(check: Check) -> dict:
    import torch

    from tests.tiny_models import make_compact
    from vsenhance.models.sr import cpu_bf16_units, resolve_device, resolve_dtype

    device = resolve_device(check.sizes.device, "gpu_check")
    auto = str(resolve_dtype("auto", device, make_compact(), "gpu_check"))
    return {"device": str(device), "auto": auto, "cpu_bf16_units": cpu_bf16_units()} | (
        {"bf16_matmul": torch.cuda.is_bf16_supported()} if device.type == "cuda" else {}
    )


NVENC_SCRIPT = """\
import vapoursynth as vs
core = vs.core
clip = core.std.BlankClip(format=vs.YUV420P8, width=640, height=360, length=48, fpsnum=24, color=[80, 110, 150])
clip = core.std.SetFrameProps(core.text.FrameNum(clip, alignment=5), _Matrix=1, _Transfer=1, _Primaries=1, _Range=0)
clip.set_output()
"""


def step_nvenc(check: Check) -> dict:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise Skipped("no ffmpeg on this machine")
    listed = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if "hevc_nvenc" not in listed and not check.dry_run:
        raise Skipped("this ffmpeg has no hevc_nvenc")
    script = check.out / "nvenc.vpy"
    script.write_text(NVENC_SCRIPT)
    output = check.out / "nvenc.mkv"
    encoder = ("--encoder", "x265", "--preset", "ultrafast") if check.dry_run else ("--encoder", "nvenc-hevc")
    seconds, _ = _encode(check, script, [], output, "--gpus", "0", encoder=encoder)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,nb_read_frames,color_space,color_transfer,color_primaries,color_range", "-of", "json",
         str(output)], capture_output=True, text=True, check=True,
    )  # fmt: skip
    stream = json.loads(probe.stdout)["streams"][0]
    tags = [stream.get(k) for k in ("color_space", "color_transfer", "color_primaries", "color_range")]
    if int(stream["nb_read_frames"]) != 48 or stream["codec_name"] != "hevc" or tags != ["bt709"] * 3 + ["tv"]:
        raise RuntimeError(f"the NVENC encode reads back as {stream}")
    output.unlink()
    return {"encoder": encoder[1], "seconds": seconds, "fps": 48 / seconds, **stream}


class Skipped(Exception):
    """A step that cannot run here, for a stated reason (not a failure)."""


def _model_file(name: str) -> str:
    """The model as a file (a carried model dir, or the cache this machine converts into)."""
    from vsenhance.models.store import resolve

    return os.fspath(resolve(name, func="gpu_check"))


STEPS: list[tuple[str, Callable[[Check], dict], float]] = [  # name, step, estimated seconds on an H100
    ("tools", step_tools, 5),
    ("cuda_tests", step_cuda_tests, 40),
    ("x2_eager", step_x2_eager, 60),
    ("x2_compile_start", step_x2_compile_start, 150),
    ("x2_compiled", step_x2_compiled, 90),
    ("rrdbnet_eager", step_rrdbnet_eager, 45),
    ("farm_gpus", step_farm_gpus, 40),
    ("farm_ray", step_farm_ray, 40),
    ("precision", step_precision, 5),
    ("nvenc", step_nvenc, 15),
]


def _commit() -> str:
    carried = ROOT / "out" / "gpu-carry" / "commit.txt"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT)
        if done.returncode == 0:
            return done.stdout.strip()
    return carried.read_text().strip() if carried.is_file() else "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "out" / "gpu-check")
    parser.add_argument("--dry-run", action="store_true", help="every step on this CPU at tiny sizes")
    parser.add_argument("--budget", type=float, default=480, help="seconds for all steps (default 480)")
    parser.add_argument("--steps", default=",".join(n for n, _, _ in STEPS), help="a comma-separated subset")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = args.steps.split(",")
    sizes = DRY if args.dry_run else GPU
    report = {"commit": _commit(), "dry_run": args.dry_run, "sizes": sizes.__dict__, "steps": []}
    with open(args.out / "gpu_check.log", "w", encoding="utf-8") as log:
        check = Check(sizes, args.out, args.dry_run, args.budget if not args.dry_run else float("inf"), log)
        for name, step, cost in STEPS:
            if name not in wanted:
                continue
            entry: dict = {"step": name}
            start = time.monotonic()
            if check.left() < cost:
                entry |= {
                    "status": "skipped",
                    "error": f"{check.left():.0f} s left of the budget, it needs ~{cost:.0f}",
                }
            else:
                log.write(f"\n=== {name} ===\n")
                try:
                    entry |= {"status": "passed", "figures": step(check)}
                except Skipped as exc:
                    entry |= {"status": "skipped", "error": str(exc)}
                except Exception as exc:
                    entry |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                    log.write(traceback.format_exc())
            entry["seconds"] = round(time.monotonic() - start, 1)
            report["steps"].append(entry)
            print(f"gpu_check: {name}: {entry['status']} ({entry['seconds']} s)"
                  + (f": {entry['error'][:300]}" if entry.get("error") else ""), flush=True)  # fmt: skip
            (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    failed = [e["step"] for e in report["steps"] if e["status"] == "failed"]
    print(f"gpu_check: {len(report['steps']) - len(failed)} of {len(report['steps'])} steps passed or skipped"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
