"""Super-resolution runtime: device and precision, streams (a CUDA stream each on a GPU), tiled inference.

Pure PyTorch and numpy: frames arrive as (H, W) planes and leave through writable (H, W) arrays.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import logging
import os
import queue
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from spandrel import ImageModelDescriptor

from ..errors import DeviceError, ModelError
from .colour_convert import planes_to_rgb, rgb_to_planes
from .colour_spec import ChromaUpsampling, PlaneSpec
from .compile_cache import CompileCache
from .cores import cpu_threads
from .tiling import Tile, padding, tile_grid

if TYPE_CHECKING:
    from .openvino_network import OpenVinoNetwork

__all__ = [
    "AUTO_BF16_UNITS",
    "SRRuntime",
    "TileSettings",
    "configure_process",
    "cpu_bf16_units",
    "resolve_device",
    "resolve_dtype",
]

log = logging.getLogger(__name__)

AUTO_BF16_UNITS = (
    "amx",
    "avx512_bf16",
)  # precision="auto" picks bf16 on these CPU units (measured: docs/performance.md)
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_NP_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16,
                np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16}  # fmt: skip
RGBS = PlaneSpec("rgb", 32, is_float=True, full_range=True)
_MIN_OOM_TILE = 32
_configured = False
_configure_lock = threading.Lock()


def resolve_device(device: str, func: str) -> torch.device:
    """``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; never a silent fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str | torch.device):
        raise DeviceError(func, f"device={device!r} is not a device name.", 'Use "auto", "cpu", "cuda" or "cuda:N".')
    try:
        dev = torch.device(device.lower() if isinstance(device, str) else device)  # "CPU", "CUDA:0" too
    except RuntimeError:
        raise DeviceError(
            func, f"device={device!r} is not a device.", 'Use "auto", "cpu", "cuda" or "cuda:N".'
        ) from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise DeviceError(func, f"device={device!r} is not supported.", 'Use "auto", "cpu", "cuda" or "cuda:N".')
    if not torch.cuda.is_available():
        raise _no_cuda(device, func)
    index = dev.index or 0
    if index >= torch.cuda.device_count():
        raise DeviceError(
            func,
            f"device={device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) present.",
            "Pick an index below the device count.",
        )
    return torch.device("cuda", index)


def cpu_bf16_units() -> Literal["amx", "avx512_bf16"] | None:
    """The CPU's native bf16 matrix units, asked the way PyTorch's oneDNN backend asks (``torch.cpu``'s checks):
    AMX tiles (Intel Sapphire Rapids and later), else AVX512-BF16 dot products (AMD Zen 4 and later, Intel
    Cooper Lake), else None."""
    with contextlib.suppress(AttributeError, RuntimeError):  # a torch without these checks: no bf16 units known
        if torch.cpu._is_amx_tile_supported():
            return "amx"
        if torch.cpu._is_avx512_bf16_supported():
            return "avx512_bf16"
    return None


@functools.cache
def _cpu_auto_dtype() -> torch.dtype:
    """``precision="auto"`` on this CPU, decided (and logged) once per process."""
    units = cpu_bf16_units()
    if units in AUTO_BF16_UNITS:
        log.info('precision="auto" on the CPU: bf16 (this CPU has %s bf16 matrix units)', units)
        return torch.bfloat16
    why = {
        "avx512_bf16": "AVX512-BF16 without AMX, where bf16 measured slower than fp32",
        None: "this CPU has no bf16 matrix units",
    }[units]
    log.info('precision="auto" on the CPU: fp32 (%s)', why)
    return torch.float32


def _no_cuda(device: str, func: str) -> DeviceError:
    """Why CUDA is not there, told apart: a torch built without CUDA, or no GPU/driver that torch can see."""
    if torch.version.cuda is None:
        return DeviceError(
            func,
            f"device={device!r}: this torch ({torch.__version__}) is built without CUDA.",
            'Install a CUDA build of torch (pip install torch), or pass device="cpu".',
        )
    return DeviceError(
        func,
        f"device={device!r}: torch {torch.__version__} is a CUDA {torch.version.cuda} build, but it sees no GPU.",
        'Check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES, or pass device="cpu".',
    )


def resolve_dtype(precision: str, device: torch.device, descriptor: ImageModelDescriptor, func: str) -> torch.dtype:
    """``"auto"``: fp16 on CUDA (when the architecture supports it); on the CPU bf16 where it has AMX bf16 units
    (and the architecture supports bf16), else fp32 (docs/performance.md has the measurements)."""
    if precision == "auto":
        if device.type == "cuda" and descriptor.supports_half:
            return torch.float16
        if device.type == "cpu" and descriptor.supports_bfloat16:
            return _cpu_auto_dtype()
        return torch.float32
    if precision not in _DTYPES:
        raise ModelError(func, f"precision={precision!r} is not known.", 'Use "auto", "fp32", "fp16" or "bf16".')
    dtype = _DTYPES[precision]
    if dtype is torch.float16 and not descriptor.supports_half:
        raise ModelError(func, f"{descriptor.architecture.name} does not support fp16.", 'Use precision="fp32".')
    if dtype is torch.bfloat16 and not descriptor.supports_bfloat16:
        raise ModelError(func, f"{descriptor.architecture.name} does not support bf16.", 'Use precision="fp32".')
    if dtype is torch.float16 and device.type == "cpu":
        raise DeviceError(func, "fp16 inference is not supported on the CPU.", 'Use precision="fp32" or "bf16".')
    return dtype


def configure_process(device: torch.device, streams: int, func: str = "vsenhance.upscale") -> None:
    """Process-wide settings for SR inference, applied once per process by whoever creates the first runtime
    (the filter, a benchmark), never by a runtime itself: they are global, so a constructor setting them would
    let the last runtime created decide for every other one.

    - ``gc.freeze()``: everything alive now (torch, the loaded model) leaves the garbage collector's sight; its
      full collections, triggered by per-frame allocations, otherwise walk millions of objects (~10% of a frame).
    - On the CPU, ``torch.set_num_threads(usable cores // streams)``: ``streams`` frames run at once, so together
      they use this process's cores (a pinned farm worker: its share) without oversubscribing them.
    - On CUDA (for any runtime, not just the first), ``cudnn.benchmark``: frame sizes are constant per clip, so
      cuDNN times its algorithms once per tile shape.
    """
    global _configured
    with _configure_lock:
        if device.type == "cuda":  # only ever switched on: safe for every runtime, the first may be on the CPU
            torch.backends.cudnn.benchmark = True
        if _configured:
            return
        _configured = True
        gc.freeze()
        if device.type == "cpu":
            threads = cpu_threads(streams)
            torch.set_num_threads(threads)
            log.info("%s: %d CPU stream(s) with %d torch thread(s) each", func, streams, threads)


@dataclass(frozen=True)
class TileSettings:
    """Real-ESRGAN's ``tile``/``tile_pad``/``pre_pad``, plus how many same-sized tiles go through at once."""

    tile: int = 512
    tile_pad: int = 10
    pre_pad: int = 0
    tile_batch: int = 1


class _Stream:
    """One stream: a CUDA stream (on a GPU) and pinned host buffers reused across frames; with OpenVINO, the
    stream's own infer requests."""

    def __init__(self, device: torch.device, openvino: OpenVinoNetwork | None = None) -> None:
        self.cuda = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.openvino = openvino.requests() if openvino is not None else None
        self._pinned: dict[tuple[str, tuple[int, ...], torch.dtype], torch.Tensor] = {}

    def pinned(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        buf = self._pinned.get((key, shape, dtype))
        if buf is None:
            buf = torch.empty(shape, dtype=dtype, pin_memory=True)
            self._pinned[(key, shape, dtype)] = buf
        return buf


class SRRuntime:
    """Runs a spandrel super-resolution model on frames with Real-ESRGAN's tiling.

    ``streams`` streams; a frame takes whichever is free. Each owns a CUDA stream and pinned buffers on a GPU,
    so uploads, inference and downloads of different frames overlap. ``process`` is thread-safe. With
    ``openvino``, the network runs on OpenVINO's kernels (:mod:`.openvino_network`) and the rest stays here.
    """

    def __init__(
        self,
        descriptor: ImageModelDescriptor,
        *,
        device: torch.device,
        dtype: torch.dtype,
        tiles: TileSettings,
        streams: int = 1,
        compile: bool = False,
        openvino: OpenVinoNetwork | None = None,
        func: str = "vsenhance.upscale",
    ) -> None:
        self.descriptor = descriptor
        self.openvino = openvino
        self.scale = int(descriptor.scale)
        self.device = device
        self.dtype = dtype
        self.func = func
        self._tiles = tiles
        self._tile = tiles.tile
        self._tile_lock = threading.Lock()
        self._oom_warned = False
        self._multiple_of = max(1, int(descriptor.size_requirements.multiple_of))
        self._min_size = max(1, int(descriptor.size_requirements.minimum))

        # channels_last (NHWC) suits both cuDNN tensor cores and oneDNN: measured 2x faster on the CPU here.
        self.model = (
            descriptor.model.eval()
            .requires_grad_(False)
            .to(device=device, dtype=dtype, memory_format=torch.channels_last)
        )
        self._compiled_shapes: set[tuple[int, ...]] | None = None
        if compile:
            self._check_compiler()
            _quiet_compile_locks()
            self._compile_cache = CompileCache(self.model, device, dtype)
            # Shapes are fixed per clip and tile grid: no dynamic shapes, one compilation per distinct tile shape.
            self.model = torch.compile(self.model, dynamic=False)
            self._compiled_shapes = set()
            self._compile_lock = threading.Lock()
        # Free streams: a frame takes whichever is free (round-robin would queue a frame behind a busy stream
        # while another idles) and owns it, stream and buffers, until its planes are written.
        self._free: queue.SimpleQueue[_Stream] = queue.SimpleQueue()
        for _ in range(streams):
            self._free.put(_Stream(device, openvino))

    # -- public ---------------------------------------------------------------------------------------

    @property
    def tile(self) -> int:
        """The tile size in effect: ``tiles.tile``, or smaller after an out-of-memory retry."""
        return self._tile

    def for_filter(self) -> SRRuntime:
        """This runtime for one filter: the model, its compilations and the streams are shared, the tile size is
        the filter's own, so an out-of-memory shrink stays with the filter that hit it."""
        view = copy.copy(self)
        view._tile, view._tile_lock, view._oom_warned = self._tiles.tile, threading.Lock(), False
        return view

    def process(
        self,
        planes: Sequence[np.ndarray],
        out: Sequence[np.ndarray],
        *,
        source: PlaneSpec = RGBS,
        chroma: ChromaUpsampling | None = None,
        output: PlaneSpec = RGBS,
    ) -> None:
        """Upscale the planes of a frame in ``source`` into the writable planes of a frame in ``output``.

        Conversions to RGB (``chroma`` upsamples subsampled chroma) and from it (matrix, range, chroma
        subsampling, quantisation) run on the inference device, so only the frames' own planes cross PCIe.
        """
        stream = self._free.get()
        try:
            on_stream = torch.cuda.stream(stream.cuda) if stream.cuda is not None else contextlib.nullcontext()
            with torch.inference_mode(), on_stream:
                rgb = planes_to_rgb(self._upload(stream, planes), source, chroma)
                upscaled = self._upscale(rgb.unsqueeze(0).to(self.dtype), stream)[0]
                self._download(stream, rgb_to_planes(upscaled, output), out)
        finally:
            self._free.put(stream)

    def upscale_tensor(self, img: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] on the runtime's device → (N, 3, H*s, W*s) clamped, with OOM recovery."""
        stream = self._free.get()
        try:
            with torch.inference_mode():
                out = self._upscale(img, stream)
                # OpenVINO's result lives in the stream's request, which the next frame on it overwrites
                return out.clone() if stream.openvino is not None else out
        finally:
            self._free.put(stream)

    # -- internals ------------------------------------------------------------------------------------

    def _upscale(self, img: torch.Tensor, stream: _Stream) -> torch.Tensor:
        while True:
            tile = self._tile
            try:
                return self._tiled(img, tile, stream)
            except torch.OutOfMemoryError:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self._shrink_tile(tile, img.shape[-2:])

    def _upload(self, stream: _Stream, planes: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """The frame's planes on the device: through the stream's pinned buffers on a GPU (non-blocking)."""
        if stream.cuda is None:
            return [torch.from_numpy(np.array(p)) for p in planes]  # a copy: VapourSynth's planes are read-only
        uploaded = []
        for i, plane in enumerate(planes):
            host = stream.pinned(f"in{i}", plane.shape, _NP_TO_TORCH[plane.dtype])
            host.numpy()[...] = plane
            uploaded.append(host.to(self.device, non_blocking=True))
        return uploaded

    def _download(self, stream: _Stream, result: list[torch.Tensor], out: Sequence[np.ndarray]) -> None:
        """Write the result planes into ``out``; on a GPU through pinned buffers, waiting for the stream once."""
        if stream.cuda is not None:
            hosts = [stream.pinned(f"out{i}", tuple(p.shape), p.dtype) for i, p in enumerate(result)]
            for host, plane in zip(hosts, result, strict=True):
                host.copy_(plane, non_blocking=True)
            stream.cuda.synchronize()
            result = hosts
        for dst, src in zip(out, result, strict=True):
            np.copyto(dst, src.numpy())

    def _shrink_tile(self, failed: int, size: torch.Size) -> None:
        with self._tile_lock:
            if self._tile != failed:  # another stream already shrank it
                return
            current = failed if failed > 0 else max(size)
            smaller = current // 2
            if smaller < _MIN_OOM_TILE:
                raise DeviceError(
                    self.func,
                    f"out of memory even with tile={current}.",
                    "Free GPU memory, lower streams/tile_batch, or use a smaller model.",
                )
            self._tile = smaller
            if not self._oom_warned:
                self._oom_warned = True
                log.warning("%s: out of memory; retrying with tile=%d (and for later frames)", self.func, smaller)

    def _pad(self, img: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
        if not bottom and not right:
            return img
        h, w = img.shape[-2:]
        # Reflect, as the reference; frames too small to reflect (where the reference fails) replicate.
        mode = "reflect" if bottom < h and right < w else "replicate"
        return F.pad(img, (0, right, 0, bottom), mode=mode)

    def _tiled(self, img: torch.Tensor, tile: int, stream: _Stream) -> torch.Tensor:
        n, _, h, w = img.shape
        s = self.scale
        pad = padding(h, w, s, self._tiles.pre_pad)
        img = self._pad(img, pad.pre, pad.pre)
        img = self._pad(img, pad.mod_h, pad.mod_w)
        ph, pw = img.shape[-2:]
        tiles = tile_grid(ph, pw, tile, self._tiles.tile_pad)
        if len(tiles) == 1:
            result = self._run(img, stream)
        else:
            result = torch.empty((n, 3, ph * s, pw * s), dtype=img.dtype, device=img.device)
            for group in self._groups(tiles):
                x = torch.cat([img[:, :, t.in_y0 : t.in_y1, t.in_x0 : t.in_x1] for t in group])
                y = self._run(x, stream)
                for i, t in enumerate(group):
                    oy, ox = t.out_slices(s)
                    dy, dx = t.dest_slices(s)
                    result[:, :, dy, dx] = y[i * n : (i + 1) * n, :, oy, ox]
        return result[:, :, : h * s, : w * s].clamp_(0, 1)

    def _groups(self, tiles: list[Tile]) -> list[list[Tile]]:
        """Tiles in batches of ``tile_batch``; a batch holds tiles of one input shape only."""
        by_shape: dict[tuple[int, int], list[Tile]] = {}
        for t in tiles:
            by_shape.setdefault(t.in_shape, []).append(t)
        size = max(1, self._tiles.tile_batch)
        return [group[i : i + size] for group in by_shape.values() for i in range(0, len(group), size)]

    def _run(self, x: torch.Tensor, stream: _Stream) -> torch.Tensor:
        """The network on one batch, padded (replicate) to the architecture's size requirements if needed."""
        h, w = x.shape[-2:]
        m = self._multiple_of
        th, tw = max(-(-h // m) * m, self._min_size), max(-(-w // m) * m, self._min_size)
        if (th, tw) != (h, w):
            x = F.pad(x, (0, tw - w, 0, th - h), mode="replicate")
        if stream.openvino is not None:
            y = stream.openvino.run(x)
        elif self._compiled_shapes is not None and tuple(x.shape) not in self._compiled_shapes:
            y = self._first_compiled_call(x.contiguous(memory_format=torch.channels_last))
        else:
            y = self.model(x.contiguous(memory_format=torch.channels_last))
        return y[:, :, : h * self.scale, : w * self.scale]

    def _first_compiled_call(self, x: torch.Tensor) -> torch.Tensor:
        """Compile for a new input shape, one stream at a time (the others wait rather than compile it too)."""
        with self._compile_lock:
            if tuple(x.shape) in self._compiled_shapes:
                return self.model(x)
            shape = tuple(x.shape)
            warm = self._compile_cache.load(shape)
            log.info("%s: compiling the network for input %s (once per tile shape; %s)", self.func, shape,
                     "from the saved compile cache" if warm else "may take minutes")  # fmt: skip
            try:
                y = self.model(x)
            except torch.OutOfMemoryError:
                raise
            except Exception as exc:
                raise ModelError(self.func, f"torch.compile failed for input {tuple(x.shape)}: {exc}",
                                 "Pass compile=False.") from exc  # fmt: skip
            if not warm:
                self._compile_cache.save(shape)
            self._compiled_shapes.add(shape)
            return y

    def _check_compiler(self) -> None:
        """torch.compile needs Triton on a GPU and a C++ compiler on the CPU: say so now, not on frame 1."""
        if self.device.type == "cuda":
            try:
                import triton  # noqa: F401
            except ImportError:
                raise ModelError(self.func, "compile=True needs Triton, which is not installed.",
                                 "pip install triton (it comes with Linux CUDA builds of torch), or compile=False.") from None  # fmt: skip
        elif shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
            raise ModelError(self.func, "compile=True on the CPU needs a C++ compiler, and none was found.",
                             "Install g++ (e.g. apt-get install g++), or compile=False.")  # fmt: skip


def _quiet_compile_locks() -> None:
    """Inductor logs every cache-lock acquire and release through ``filelock`` at DEBUG, and under vspipe every
    logger's DEBUG reaches the console (VapourSynth's bridge sits on the root logger at NOTSET). Raise that one
    logger to WARNING unless the user has set its level."""
    locks = logging.getLogger("filelock")
    if locks.level == logging.NOTSET:
        locks.setLevel(logging.WARNING)
