"""Benchmark vse.upscale: model-only ceiling vs the .vpy pipeline vs Real-ESRGAN's sequential video loop.

    .venv/bin/python scripts/bench_upscale.py --size 320x180 --frames 24              # CPU, a few minutes
    python scripts/bench_upscale.py --device cuda --size 1920x1080 --frames 120 --json out/bench.json

Modes, on the same frames, model and tiles (each in its own process, so peak RSS is per mode):
  model       the tiles of one frame through the network in a tight loop (no VapourSynth, no conversion)
  vspipe      the .vpy path: `vspipe -c y4m` of a script using vse.upscale(output_format=YUV420P10),
              into ffmpeg (--encoder) or discarded (null), for each --streams value
  sequential  Real-ESRGAN's inference_realesrgan_video.py loop: read a frame from a decoder pipe, tile-infer
              it, write it to an encoder pipe, one frame at a time
Frames per second are measured after --warmup frames, so model loading and warm-up don't count.
Pipeline efficiency = vspipe fps / model fps. The model may be a known name, a file, or `arch:rrdbnet-x2`,
`arch:rrdbnet-x4`, `arch:compact-x4` (the architecture with random weights: the same speed, no download).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
VSPIPE = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe") or "vspipe"

SOURCE_VPY = """
import numpy as np, vapoursynth as vs
core = vs.core
W, H, N = {width}, {height}, {frames}
rng = np.random.default_rng(0)
base = rng.random((H // 8 + 2, W // 8 + 2, 3), dtype=np.float32)
import cv2
photo = cv2.resize(base, (W + 64, H + 8), interpolation=cv2.INTER_CUBIC).clip(0, 1)
blank = core.std.BlankClip(format=vs.RGBS, width=W, height=H, length=16, fpsnum=24)
def pan(n, f):
    out = f.copy()
    for c in range(3):
        np.copyto(np.asarray(out[c]), photo[:H, 4 * n:4 * n + W, c])
    return out
rendered = core.resize.Bicubic(blank.std.ModifyFrame(blank, pan), format=vs.YUV420P8, matrix_s="709")
# 16 pan positions rendered once and replayed: the source costs a memcpy per frame, as a fast decoder would
frames = [[np.array(f[p]) for p in range(3)] for f in rendered.frames()]
def replay(n, f):
    out = f.copy()
    for p, plane in enumerate(frames[n % 16]):
        np.copyto(np.asarray(out[p]), plane)
    return out
source = core.std.BlankClip(rendered, length=N, keep=True).std.SetFrameProps(_Matrix=1, _Range=0, _ChromaLocation=0)
source = source.std.ModifyFrame(source, replay)
"""

UPSCALE_VPY = """
import vsenhance as vse
out = vse.upscale(source, {model!r}, tile={tile}, tile_pad={tile_pad}, device={device!r}, precision={precision!r},
                  streams={streams}, output_format=vs.{output_format}, compile={compile}, backend={backend!r})
out.set_output()
"""

SEQUENTIAL_SOURCE_VPY = """
core.resize.Bicubic(source, format=vs.RGB24, matrix_in_s="709").set_output()
"""


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def load_runtime(args: argparse.Namespace, streams: int = 1):
    import torch

    from vsenhance.models.cores import cpu_threads
    from vsenhance.models.loading import load_model
    from vsenhance.models.sr import SRRuntime, TileSettings, configure_process, resolve_device, resolve_dtype

    arch = args.model.startswith("arch:")
    descriptor = synthetic_model(args.model) if arch else load_model(args.model, func="bench")
    dev = resolve_device(args.device, "bench")
    dtype = resolve_dtype(args.precision, dev, descriptor, "bench")
    runtime = SRRuntime(descriptor, device=dev, dtype=dtype, streams=streams, func="bench", compile=args.compile,
                        tiles=TileSettings(args.tile, args.tile_pad, 0, 1))  # fmt: skip
    configure_process(dev, streams, "bench")  # as the filter does after creating its runtime (once per process)
    if dev.type == "cpu":  # each mode here measures its stream count as a process of its own would run it
        torch.set_num_threads(cpu_threads(streams))
    return runtime


def synthetic_model(spec: str):
    """An architecture with random weights: same FLOPs and memory traffic as the real model."""
    import torch
    from spandrel import ModelLoader
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    kind = spec.removeprefix("arch:")
    if kind == "rrdbnet-x2":  # RealESRGAN_x2plus: pixel-unshuffle by 2, then the x4 RRDBNet
        net = ESRGAN(in_nc=12, out_nc=3, num_filters=64, num_blocks=23, scale=4, shuffle_factor=2)
    elif kind == "rrdbnet-x4":
        net = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
    elif kind == "compact-x4":
        net = Compact(num_feat=64, num_conv=16, upscale=4)
    elif kind.startswith("minimal-x"):  # next to no GPU work: what the pipeline around the model can move
        net = Compact(num_feat=4, num_conv=0, upscale=int(kind.removeprefix("minimal-x")))
    else:
        raise SystemExit(f"unknown synthetic model {spec!r}: arch:rrdbnet-x2, arch:rrdbnet-x4, arch:compact-x4 "
                         "or arch:minimal-xN")  # fmt: skip
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.1)
    return ModelLoader().load_from_state_dict(net.state_dict())


def first_frame(args: argparse.Namespace):
    """Frame 0 of the benchmark source as a (1, 3, H, W) float tensor."""
    import numpy as np
    import torch
    import vapoursynth as vs

    width, height = parse_size(args.size)
    scope: dict = {}
    exec(SOURCE_VPY.format(width=width, height=height, frames=1), scope)
    rgb = vs.core.resize.Bicubic(scope["source"], format=vs.RGBS, matrix_in_s="709").get_frame(0)
    return torch.from_numpy(np.stack([np.asarray(rgb[p]) for p in range(3)])).unsqueeze(0)


# -- modes (each runs in a child process) ------------------------------------------------------------------


def mode_model(args: argparse.Namespace) -> dict:
    import torch

    rt = load_runtime(args)
    img = first_frame(args).to(rt.device).to(rt.dtype)
    sync = torch.cuda.synchronize if rt.device.type == "cuda" else (lambda: None)
    run = rt.upscale_tensor
    if args.memory_format == "contiguous":  # the study's other leg: NCHW weights and input, the network alone
        net = rt.model.to(memory_format=torch.contiguous_format)
        img = img.contiguous()
        run = net
    with torch.inference_mode():
        for _ in range(args.warmup):
            run(img)
        sync()
        start = time.perf_counter()
        for _ in range(args.frames):
            run(img)
        sync()
    return {"fps": args.frames / (time.perf_counter() - start), "scale": rt.scale}


def mode_runtime(args: argparse.Namespace) -> dict:
    """SRRuntime.process from one thread per stream on frame 0's YUV planes: what vspipe runs per frame
    (upload, on-device conversions, inference, download) without VapourSynth around it."""
    import numpy as np
    import vapoursynth as vs

    from vsenhance.bridge.colour import colour_params
    from vsenhance.filters.upscale import _plan

    streams = max(int(s) for s in args.streams.split(","))
    rt = load_runtime(args, streams=streams)
    width, height = parse_size(args.size)
    scope: dict = {}
    exec(SOURCE_VPY.format(width=width, height=height, frames=1), scope)
    clip = scope["source"]
    frame = clip.get_frame(0)
    planes = [np.array(frame[p]) for p in range(3)]
    out_fmt = vs.core.get_video_format(getattr(vs, args.output_format))
    s = rt.scale
    plan = _plan(clip, colour_params(clip), out_fmt, on_device=True, model_scale=s, scale=None)  # upscale's, on a GPU
    shapes = [((height * s) >> (p and out_fmt.subsampling_h), (width * s) >> (p and out_fmt.subsampling_w))
              for p in range(out_fmt.num_planes)]  # fmt: skip
    dtype = np.uint8 if out_fmt.bits_per_sample == 8 else np.uint16 if out_fmt.sample_type == vs.INTEGER else np.float32
    counter = iter(range(args.warmup + args.frames))
    lock = threading.Lock()
    started: list[float] = []

    def worker() -> None:
        out = [np.empty(shape, dtype) for shape in shapes]
        while True:
            with lock:
                i = next(counter, None)
                if i == args.warmup:
                    started.append(time.perf_counter())
            if i is None:
                return
            rt.process(planes, out, source=plan.source, chroma=plan.chroma, output=plan.output)

    threads = [threading.Thread(target=worker) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"fps": args.frames / (time.perf_counter() - started[0]), "streams": streams}


def mode_sequential(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    rt = load_runtime(args)
    width, height = parse_size(args.size)
    s = rt.scale
    total = args.frames + args.warmup
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "source.vpy"
        script.write_text(SOURCE_VPY.format(width=width, height=height, frames=total) + SEQUENTIAL_SOURCE_VPY)
        # vspipe without a container writes raw planar RGB24, as `ffmpeg -f rawvideo -pix_fmt gbrp` would read it
        decoder = subprocess.Popen([VSPIPE, str(script), "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        encoder = subprocess.Popen(encoder_argv(args, width * s, height * s, raw_gbrp=True), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        frame_bytes = width * height * 3
        start = None
        with torch.inference_mode():
            for i in range(total):
                if i == args.warmup:
                    start = time.perf_counter()
                buf = decoder.stdout.read(frame_bytes)
                img = torch.from_numpy(np.frombuffer(buf, np.uint8).reshape(3, height, width).astype(np.float32) / 255)
                out = rt.upscale_tensor(img.unsqueeze(0).to(rt.device, rt.dtype))
                data = (out[0].float().cpu().numpy() * 255).round().astype(np.uint8)
                encoder.stdin.write(data.tobytes())
        encoder.stdin.close()
        encoder.wait()
        decoder.wait()
    return {"fps": args.frames / (time.perf_counter() - start), "encoder": args.encoder}


def encoder_argv(args: argparse.Namespace, width: int, height: int, *, raw_gbrp: bool = False) -> list[str]:
    """The consumer: ffmpeg encoding (--encoder x264/x265), or a sink that only reads (null)."""
    if args.encoder in ("null", "devnull") or not shutil.which("ffmpeg"):
        return [sys.executable, "-c", "import sys\nwhile sys.stdin.buffer.read(1 << 20): pass"]
    inp = ["-f", "rawvideo", "-pix_fmt", "gbrp", "-s", f"{width}x{height}", "-r", "24"] if raw_gbrp else []
    codec = {"x264": "libx264", "x265": "libx265"}[args.encoder]
    return ["ffmpeg", "-v", "error", *inp, "-i", "-", "-c:v", codec, "-preset", "ultrafast", "-f", "null", "-"]


def run_vspipe(
    args: argparse.Namespace,
    streams: int,
    model: str | None = None,
    frames: int | None = None,
    body: str | None = None,
    cores: int | None = None,
) -> dict:
    """The .vpy path; called in the parent so NVML can sample the GPU while it runs. ``body``: the script's
    filtering after the source (which defines ``source``), instead of ``vse.upscale`` (a peer's filter).
    ``cores``: vspipe pinned to the first ``cores`` cores (``taskset``), which vse.upscale and OpenVINO read."""
    width, height = parse_size(args.size)
    frames = frames or args.frames
    total = frames + args.warmup
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.vpy"
        model = model or args.model
        if model.startswith("arch:"):
            saved = Path(tmp) / "model.safetensors"
            save_synthetic(model, saved)
            model = str(saved)
        body = body or UPSCALE_VPY.format(
            model=model, tile=args.tile, tile_pad=args.tile_pad, device=args.device, precision=args.precision,
            streams=streams, output_format=args.output_format, compile=args.compile,
            backend=getattr(args, "backend", "torch"))  # fmt: skip
        script.write_text(SOURCE_VPY.format(width=width, height=height, frames=total) + body)
        if args.write_script:
            args.write_script.write_text(script.read_text())
        container = ["-c", "y4m"] if args.output_format.startswith(("YUV", "GRAY")) else []
        pin = ["taskset", "-c", f"0-{cores - 1}"] if cores else []
        if args.encoder == "devnull":  # vspipe writes the file itself: no pipe in the way
            vspipe = subprocess.Popen([*pin, VSPIPE, "-p", *container, str(script), os.devnull], stderr=subprocess.PIPE)
            consumer = None
        else:
            vspipe = subprocess.Popen([*pin, VSPIPE, "-p", *container, str(script), "-"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)  # fmt: skip
            with contextlib.suppress(OSError):  # a 1 MiB pipe instead of 64 KiB: fewer context switches per frame
                fcntl.fcntl(vspipe.stdout.fileno(), F_SETPIPE_SZ, 1 << 20)
            consumer = subprocess.Popen(encoder_argv(args, 0, 0), stdin=vspipe.stdout, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
            vspipe.stdout.close()
        sampler = GpuSampler(args.device)
        marks: dict[int, float] = {}
        err = bytearray()
        while chunk := vspipe.stderr.read1(4096) if hasattr(vspipe.stderr, "read1") else vspipe.stderr.read(64):
            err += chunk
            now = time.perf_counter()
            for m in re.finditer(rb"Frame: (\d+)/", bytes(err[-8192:])):
                marks.setdefault(int(m[1]), now)
            if b"Output " in err[-8192:]:  # the end: all frames written (progress lines are throttled)
                marks.setdefault(total, now)
            if marks and min(marks) <= args.warmup <= max(marks):
                sampler.start()
        _, status, usage = os.wait4(vspipe.pid, 0)
        vspipe.returncode = os.waitstatus_to_exitcode(status)
        if consumer is not None:
            consumer.wait()
        sampler.stop()
        if vspipe.returncode != 0:
            raise SystemExit(f"vspipe failed:\n{err.decode(errors='replace')[-3000:]}")
    after = sorted(k for k in marks if k >= args.warmup)
    span = marks[after[-1]] - marks[after[0]] if after else 0.0
    # vspipe prints progress about twice a second: the timed stretch must cover a quarter of the frames or 1 s
    if len(after) < 2 or span <= 0 or (after[-1] - after[0] < frames // 4 and span < 1.0):
        raise SystemExit(f"vspipe's progress (frames {sorted(marks)}) is too sparse after warm-up to time it: "
                         "raise --frames")  # fmt: skip
    fps = (after[-1] - after[0]) / span
    return {"fps": fps, "rss_mib": usage.ru_maxrss / 1024, "gpu_util": sampler.mean(), "encoder": args.encoder}


def model_scale(args: argparse.Namespace) -> int:
    if args.model.startswith("arch:"):
        return int(synthetic_model(args.model).scale)
    from vsenhance.models.loading import load_model

    return int(load_model(args.model, func="bench").scale)


def save_synthetic(spec: str, path: Path) -> None:
    from safetensors.torch import save_file

    sd = synthetic_model(spec).model.state_dict()
    save_file({k: v.contiguous() for k, v in sd.items()}, path)


class GpuSampler:
    """Mean utilisation of GPU 0 every 50 ms while running (None without NVML or on the CPU).

    NVML is opened, read and closed by :class:`vsenhance.encode.progress.GpuMonitor`, as for ``vsenhance encode``.
    """

    def __init__(self, device: str) -> None:
        from vsenhance.encode.progress import GpuMonitor

        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu = None if device == "cpu" else GpuMonitor()
        if self._gpu is not None and self._gpu.utilisation() is None:  # no NVML, driver or GPU
            self._gpu.close()
            self._gpu = None

    def start(self) -> None:
        if self._gpu is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            if per_device := self._gpu.utilisation():
                self.samples.append(per_device[0])

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._gpu is not None:
            self._gpu.close()

    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def run_child(args: argparse.Namespace, mode: str) -> dict:
    """Run one mode in a fresh process; its peak RSS comes from wait4 (that process and what it waited for)."""
    argv = [sys.executable, __file__, "--child", mode, *args.passthrough]
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{mode} failed:\n{err.read().decode(errors='replace')[-3000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["rss_mib"] = usage.ru_maxrss / 1024
    return result


def cpu_name() -> str:
    """The CPU's model name (every benchmark names the CPU with its figures)."""
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    return platform.processor() or "?"


def machine(args: argparse.Namespace) -> dict:
    import torch

    info = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}  # fmt: skip
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--size", default="320x180", help="input WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=24, help="timed frames per mode")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--tile", type=int, default=0)
    parser.add_argument("--tile-pad", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--backend", default="torch", choices=("torch", "openvino"), help="vse.upscale's backend")
    parser.add_argument("--streams", default="1,2,4", help="comma-separated worker counts for the vspipe mode")
    parser.add_argument(
        "--encoder",
        default="null",
        choices=["null", "devnull", "x264", "x265"],
        help="consumer: a process reading the pipe (null), vspipe writing /dev/null (devnull), ffmpeg",
    )
    parser.add_argument(
        "--modes",
        default="model,vspipe,sequential",
        help="model, runtime, vspipe, sequential; runtime: SRRuntime.process from --streams threads, the "
        "per-frame work without VapourSynth; overhead: the vspipe path with a near-free model of the same scale "
        "(arch:minimal-xN), i.e. the most frames per second the pipeline around the model can deliver",
    )
    parser.add_argument("--output-format", default="YUV420P10", help="vspipe mode's output (RGB formats: raw, no y4m)")
    parser.add_argument("--write-script", type=Path, help="also save the vspipe mode's .vpy here")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (upscale(compile=True))")
    parser.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last",
                        help="model mode only: the runtime's NHWC (what upscale runs), or NCHW for comparison")  # fmt: skip
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.passthrough = [a for a in sys.argv[1:] if a not in ("--child",)]

    if args.child:
        result = {"model": mode_model, "runtime": mode_runtime, "sequential": mode_sequential}[args.child](args)
        print(json.dumps(result))
        return 0

    modes = args.modes.split(",")
    rows: list[dict] = []
    ceiling = None
    if "model" in modes:
        r = run_child(args, "model")
        ceiling = r["fps"]
        rows.append({"mode": "model-only (ceiling)", **r})
    if "runtime" in modes:
        r = run_child(args, "runtime")
        rows.append({"mode": f"runtime.process, {r['streams']} threads (no VapourSynth)", **r})
    baseline = None
    if "sequential" in modes:
        r = run_child(args, "sequential")
        baseline = r["fps"]
        rows.append({"mode": "sequential (Real-ESRGAN video loop)", **r})
    streams_list = [int(s) for s in args.streams.split(",")]
    if "vspipe" in modes:
        for streams in streams_list:
            r = run_vspipe(args, streams)
            rows.append({"mode": f"vspipe, streams={streams}", **r})
    if "overhead" in modes:
        scale = next((r["scale"] for r in rows if "scale" in r), None) or model_scale(args)
        # it runs many times faster than the model: more frames, so vspipe's throttled progress can time it
        r = run_vspipe(args, max(streams_list), model=f"arch:minimal-x{scale}", frames=args.frames * 8)
        rows.append({"mode": f"vspipe, near-free model (pipeline ceiling), streams={max(streams_list)}", **r,
                     "overhead": True})  # fmt: skip
    for row in rows:
        row["efficiency"] = row["fps"] / ceiling if ceiling and not row.get("overhead") else None
        row["speedup_vs_sequential"] = row["fps"] / baseline if baseline else None

    info = machine(args)
    settings = {
        k: getattr(args, k)
        for k in (
            "model",
            "size",
            "frames",
            "warmup",
            "tile",
            "tile_pad",
            "device",
            "precision",
            "encoder",
            "output_format",
            "compile",
            "memory_format",
        )
    }
    print(f"\nmachine: {info}\nsettings: {settings}\n")
    print("| mode | fps | efficiency | vs sequential | peak RSS MiB | GPU util % |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for row in rows:
        print(f"| {row['mode']} | {row['fps']:.3f} | {fmt(row['efficiency'], '.2f')} | "
              f"{fmt(row['speedup_vs_sequential'], '.2f')}x | {row['rss_mib']:.0f} | {fmt(row.get('gpu_util'), '.0f')} |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "settings": settings, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
