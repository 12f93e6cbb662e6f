"""Benchmark `vsenhance encode`: a fresh vspipe per segment vs long-lived render workers.

    .venv/bin/python scripts/bench_encode.py                                   # CPU, a few minutes
    python scripts/bench_encode.py --model arch:compact-x4 --size 320x180 --frames 192 --workers 1,2 --json b.json

The same script (a synthetic source through vse.upscale on the CPU, one torch thread per process) and clip,
encoded with ffv1 in segments three ways (each from scratch, in its own state folder):
  vspipe      the encoder before the farm: per segment `vspipe -c y4m -s FIRST -e LAST SCRIPT - | ffmpeg`,
              so every segment pays the script's start-up (the torch import, the model load) again
  workers=N   `vsenhance encode --workers N`: N workers execute the script once, then render segment after
              segment
Reported per mode: wall time and fps of the whole encode (start-up included: that is the point), and each
segment's start-up, i.e. the time from starting the segment to its first frame (vspipe: from starting the
processes to the first y4m FRAME; workers: from the task to its first frame, as the worker reports it). All
outputs are compared frame by frame (framemd5) with the first mode's.

A mode that has not ended after --timeout seconds is a hang, not a slow run: every Python process of it (vspipe,
or the encode's driver and workers) gets SIGABRT, which Python's faulthandler (PYTHONFAULTHANDLER=1) answers with
every thread's stack on stderr, and the benchmark fails with that stderr's tail, so a hang seen once on CI says
where it was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_upscale import cpu_name, save_synthetic  # siblings: scripts/ is sys.path[0] when run as a script
from processes import descendants

ROOT = Path(__file__).resolve().parents[1]

VSPIPE = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe") or "vspipe"

SCRIPT = """
import torch
torch.set_num_threads(1)  # one core per worker: N workers use N cores
import vapoursynth as vs
import vsenhance as vse
core = vs.core
src = core.std.BlankClip(format=vs.YUV420P8, width={width}, height={height}, length={frames}, fpsnum=24,
                         color=[60, 110, 150])
src = core.text.FrameNum(src, alignment=5)
out = vse.upscale(src, {model!r}, tile=0, device="cpu", output_format="same")
out.set_output()
"""
SEGMENT_LINE = re.compile(
    r"segment (\d+) \(frames \d+-\d+\) rendered by \S+ in ([\d.]+) s, first frame after ([\d.]+) s"
)


def machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()}


def framemd5(path: Path) -> list[str]:
    done = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "framemd5",
                           "-"], capture_output=True, check=True, text=True)  # fmt: skip
    return [ln.rsplit(",", 1)[1].strip() for ln in done.stdout.splitlines() if not ln.startswith("#")]


def ffmpeg_ffv1(output: Path) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-f", "yuv4mpegpipe", "-i", "pipe:0",
            "-map", "0:v:0", "-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-f", "matroska", "-y",
            str(output)]  # fmt: skip


def with_stacks() -> dict[str, str]:
    """The environment for a process whose threads' stacks a SIGABRT should print (faulthandler on)."""
    return os.environ | {"PYTHONFAULTHANDLER": "1"}


def abort(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGABRT)


def hung(what: str, seconds: float, stderr: str) -> SystemExit:
    return SystemExit(f"{what} had not ended after {seconds:.0f} s (a hang; --timeout); its stderr, with every "
                      f"thread's stack:\n{stderr[-12000:]}")  # fmt: skip


def mode_vspipe(script: Path, frames: int, seg_frames: int, work: Path, timeout: float) -> dict:
    """One vspipe and one ffmpeg per segment, then the concat demuxer, as the encoder did before the farm."""
    segments, files = [], []
    start = time.perf_counter()
    for index, first in enumerate(range(0, frames, seg_frames)):
        last = min(first + seg_frames, frames) - 1
        seg_file = work / f"seg_{index:05d}.mkv"
        t0 = time.perf_counter()
        vsp = subprocess.Popen([VSPIPE, "-c", "y4m", "-s", str(first), "-e", str(last), str(script), "-"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=with_stacks())  # fmt: skip
        ffm = subprocess.Popen(ffmpeg_ffv1(seg_file), stdin=subprocess.PIPE)
        err = bytearray()
        drain = threading.Thread(target=lambda p=vsp, e=err: e.extend(p.stderr.read()), daemon=True)  # never full
        drain.start()
        # the vspipe on PATH may be a wrapper (the wheel's) running the real one: the whole tree
        watchdog = threading.Timer(max(0.0, timeout - (t0 - start)), lambda p=vsp.pid: abort([*descendants(p), p]))
        watchdog.start()
        first_frame, seen = None, b""
        with contextlib.suppress(BrokenPipeError):  # ffmpeg stopped reading: its exit code says why
            while chunk := vsp.stdout.read1(1 << 16):
                if first_frame is None:
                    seen = (seen + chunk)[-(1 << 20) :]
                    if b"FRAME" in seen:
                        first_frame = time.perf_counter() - t0
                ffm.stdin.write(chunk)
        with contextlib.suppress(BrokenPipeError):
            ffm.stdin.close()
        rc = vsp.wait()  # vspipe also stops when ffmpeg does (its stdout breaks), else the watchdog ends it
        watchdog.cancel()
        drain.join()
        text = err.decode(errors="replace")
        if rc != 0 and time.perf_counter() - start >= timeout:
            ffm.kill()
            raise hung(f"vspipe for segment {index}", timeout, text)
        if rc != 0 or ffm.wait() != 0:
            raise SystemExit(f"segment {index}: vspipe or ffmpeg failed:\n{text[-2000:]}")
        segments.append({"index": index, "frames": last - first + 1, "seconds": time.perf_counter() - t0,
                         "first_frame_seconds": first_frame})  # fmt: skip
        files.append(seg_file)
    listing = work / "concat.txt"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{f.name}'\n" for f in files))
    output = work / "out.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "concat", "-safe", "0", "-i", str(listing), "-c",
                    "copy", "-y", str(output)], check=True)  # fmt: skip
    return {"mode": "vspipe per segment", "workers": 1, "seconds": time.perf_counter() - start, "output": output,
            "segments": segments}  # fmt: skip


def mode_workers(script: Path, seg_frames: int, workers: int, work: Path, timeout: float) -> dict:
    output = work / "out.mkv"
    argv = [sys.executable, "-m", "vsenhance", "-v", "encode", str(script), "-o", str(output), "--encoder", "ffv1",
            "--segment-frames", str(seg_frames), "--workers", str(workers), "--keep-segments"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=with_stacks())  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        abort(descendants(proc.pid))  # the workers first: with -v the driver echoes their stacks while it lives
        time.sleep(3)
        left = descendants(proc.pid)
        proc.send_signal(signal.SIGABRT)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        for pid in left:  # workers start in their own sessions: ended one by one
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        raise hung(f"vsenhance encode --workers {workers}", timeout, stderr) from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"vsenhance encode --workers {workers} failed:\n{stderr[-3000:]}")
    segments = sorted(
        ({"index": int(m[1]), "seconds": float(m[2]), "first_frame_seconds": float(m[3])}
         for m in SEGMENT_LINE.finditer(stderr)),
        key=lambda s: s["index"],
    )  # fmt: skip
    loads = [float(x) for x in re.findall(r"worker w\d+ ready on .*? after ([\d.]+) s", stderr)]
    return {"mode": f"workers={workers}", "workers": workers, "seconds": seconds, "output": output,
            "segments": segments, "script_load_seconds": loads}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="arch:compact-x4", help="model file or arch:compact-x4 etc. (random weights)")
    ap.add_argument("--size", default="96x64", help="source size before upscaling (96x64; at least 40x48)")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--segment-frames", type=int, default=12)
    ap.add_argument("--workers", default="1,2", help="worker counts to run (1,2)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds a mode may take before it is a hang")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    counts = [int(v) for v in args.workers.split(",") if v]

    with tempfile.TemporaryDirectory(prefix="bench_encode.") as tmp:
        tmp = Path(tmp)
        model = args.model
        if model.startswith("arch:"):
            model = str(tmp / "model.safetensors")
            save_synthetic(args.model, Path(model))
        script = tmp / "bench.vpy"
        script.write_text(SCRIPT.format(width=width, height=height, frames=args.frames, model=model))
        runs = []
        for name in ["vspipe", *(f"workers{n}" for n in counts)]:
            work = tmp / name
            work.mkdir()
            if name == "vspipe":
                runs.append(mode_vspipe(script, args.frames, args.segment_frames, work, args.timeout))
            else:
                workers = int(name.removeprefix("workers"))
                runs.append(mode_workers(script, args.segment_frames, workers, work, args.timeout))
            print(f"{runs[-1]['mode']}: {runs[-1]['seconds']:.1f} s", file=sys.stderr)
        reference = framemd5(runs[0]["output"])
        rows = []
        for run in runs:
            hashes = framemd5(run.pop("output"))
            starts = [s["first_frame_seconds"] for s in run["segments"] if s["first_frame_seconds"] is not None]
            rows.append(run | {
                "frames": len(hashes),
                "identical": hashes == reference,
                "fps": len(hashes) / run["seconds"],
                "startup_mean_seconds": sum(starts) / len(starts) if starts else None,
                "speedup": runs[0]["seconds"] / run["seconds"],
            })  # fmt: skip

    info = machine()
    settings = {"model": args.model, "size": args.size, "frames": args.frames, "segment_frames": args.segment_frames,
                "encoder": "ffv1", "torch_threads_per_process": 1}  # fmt: skip
    print(f"{info['cpu']} ({info['cores']} cores); {args.frames} frames of {args.size} through {args.model} on the "
          f"CPU, segments of {args.segment_frames}, ffv1")  # fmt: skip
    print("| mode | seconds | fps | speed-up | mean segment start-up (s) | frames | identical |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        startup = f"{row['startup_mean_seconds']:.2f}" if row["startup_mean_seconds"] is not None else "?"
        print(f"| {row['mode']} | {row['seconds']:.1f} | {row['fps']:.2f} | {row['speedup']:.2f}x | {startup} | "
              f"{row['frames']} | {'yes' if row['identical'] else 'NO'} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "settings": settings, "rows": rows}, indent=2))
    return 0 if all(row["identical"] and row["frames"] == args.frames for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
