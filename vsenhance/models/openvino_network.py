"""The network on OpenVINO's kernels (``upscale(backend="openvino")``), everything around it still SRRuntime's.

On CPUs, oneDNN through PyTorch is slower for these convolutions than OpenVINO's own kernels (measured in
docs/performance.md), so the network alone moves: the spandrel model is converted once to OpenVINO's IR (input
height and width left dynamic) and compiled once per input shape, while the tiles, the padding, the
conversions, the frames in flight and the out-of-memory handling stay :class:`~.sr.SRRuntime`'s, so the output
is tiled exactly as with torch.

Caches, beside the model cache (``<model cache>/openvino/``): the IR under a key of the weights, the
architecture and the OpenVINO version (converting costs seconds: tracing the module); OpenVINO's own compiled
blobs in ``compiled/`` (OpenVINO keys them by the model, the device, the precision and its version). A cache
that cannot be read costs a warning and a rebuild, never a frame.

Streams: the compiled model runs ``streams`` OpenVINO streams over this process's cores, and each of the
runtime's streams owns one infer request per input shape, so ``streams`` frames infer at once, as with torch.

Out of memory (an Intel GPU's few GiB, an integrated GPU's share of RAM, a huge tile on the CPU): OpenVINO's
allocation failures, at compilation or inference, are raised as ``torch.OutOfMemoryError``, so the runtime's
out-of-memory handling applies as with torch (the tile halves, the frame is retried, later frames keep the
smaller tile), and the compiled model of the shape that did not fit is let go.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DeviceError, ModelError
from .cores import usable_cores
from .store import cache_dir

__all__ = ["OpenVinoNetwork", "openvino_available", "openvino_device"]

log = logging.getLogger(__name__)

PRECISION_HINTS = {"auto": None, "fp32": "f32", "bf16": "bf16", "fp16": "f16"}
"""``precision`` as OpenVINO's INFERENCE_PRECISION_HINT; ``"auto"`` leaves OpenVINO's default, which is what
vsenhance's ``auto`` picks on the CPU too: bf16 where the CPU has bf16 units, else f32."""
_PRECISION_NAMES = (("bf16", "bfloat16"), ("f16", "float16"), ("f32", "float32"))  # OpenVINO's short names
"""How torch names the element type OpenVINO reports (``<Type: 'bf16'>``, ``<Type: 'float32'>``, ...)."""


_FIRST_SHAPE = (1, 3, 64, 64)
"""The input shape compiled first: the one inference made before the streams start, and the precision read."""

_OUT_OF_MEMORY = (
    "out of GPU resources",  # the GPU plugin (ocl_engine.cpp), and CL_OUT_OF_RESOURCES after a kernel
    "CL_OUT_OF_RESOURCES",
    "Exceeded max size of memory object allocation",  # the GPU plugin: one buffer over the device's limit
    "Can not allocate",  # the GPU plugin's USM allocations
    "Failed to allocate",  # the CPU plugin (cpu_memory.cpp)
    "std::bad_alloc",
)
"""How OpenVINO's exceptions (a RuntimeError with the C++ message) say that memory ran out."""


def _out_of_memory(exc: BaseException, device: str, shape: tuple[int, ...]) -> torch.OutOfMemoryError | None:
    """``exc`` as the out-of-memory error the runtime handles, where it is one."""
    text = str(exc)
    if not any(words in text for words in _OUT_OF_MEMORY):
        return None
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    return torch.OutOfMemoryError(f"OpenVINO {device} out of memory for input {shape}: {last[:200]}")


def openvino_available() -> bool:
    """Whether the ``openvino`` package is installed (the ``vsenhance[openvino]`` extra)."""
    return importlib.util.find_spec("openvino") is not None


def _openvino(func: str) -> Any:
    """The ``openvino`` module, imported without its usage telemetry.

    Importing openvino (and each conversion) sends an event to Google Analytics from a forked process
    (``openvino_telemetry``, on unless the user opted out). A filter runs inside vspipe or a previewer: it must
    neither fork a multi-threaded process nor reach the network. With ``openvino_telemetry`` unimportable,
    OpenVINO falls back to its own no-op stub; a process that imported either already is left as it is."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    try:
        import openvino
    except ImportError as exc:
        raise DeviceError(
            func,
            f"backend='openvino' needs the OpenVINO runtime, which is not installed ({exc}).",
            "pip install 'vsenhance[openvino]'.",
        ) from exc
    return openvino


def openvino_device(device: str, func: str) -> str:
    """``device`` as OpenVINO names it: ``"auto"``/``"cpu"`` is its CPU plugin; its own names (``"GPU"``,
    ``"GPU.1"``, ``"NPU"``) as given, case aside. A device OpenVINO does not see here is refused in one line."""
    ov = _openvino(func)
    if not isinstance(device, str):
        raise DeviceError(func, f"device={device!r} is not a device name.", 'Use "cpu", "GPU", "GPU.1" or "NPU".')
    name = "CPU" if device.strip().lower() in ("auto", "cpu") else device.strip().upper()
    seen = ov.Core().available_devices
    if name not in seen:
        raise DeviceError(
            func,
            f"device={device!r} is not an OpenVINO device on this machine (OpenVINO sees {', '.join(seen)}).",
            f"Use one of {', '.join(map(repr, seen))}, or backend='torch' for CUDA.",
        )
    return name


def _weights_key(module: torch.nn.Module, version: str) -> str:
    digest = hashlib.sha256(f"{type(module).__name__}|{version}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:24]


class OpenVinoNetwork:
    """One network compiled by OpenVINO for ``device``, per input shape, shared by a runtime's streams."""

    def __init__(self, module: torch.nn.Module, *, device: str, precision: str, streams: int, func: str) -> None:
        self._ov = _openvino(func)
        self.func = func
        self.device = device
        self._core = self._ov.Core()
        self._folder = cache_dir() / "openvino"
        self._config: dict[str, Any] = {"NUM_STREAMS": streams, "PERFORMANCE_HINT": "LATENCY"}
        if device == "CPU":
            self._config["INFERENCE_NUM_THREADS"] = usable_cores()  # the streams share this process's cores
        if (hint := PRECISION_HINTS[precision]) is not None:
            self._config["INFERENCE_PRECISION_HINT"] = hint
        self._model = self._ir(module)
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._lock = threading.Lock()
        self._asked = precision
        self._precision: str | None = None
        self._first_inference()

    def precision(self) -> str:
        """The precision OpenVINO runs the network at on this device, as torch names it (``"float32"``,
        ``"bfloat16"``, ``"float16"``): the hint where the device honours it (an AVX2 CPU runs f32 whatever
        the hint), read from a compiled model."""
        if self._precision is None:
            hint = str(self._compile(_FIRST_SHAPE).get_property("INFERENCE_PRECISION_HINT")).lower()
            self._precision = next((name for key, name in _PRECISION_NAMES if key in hint or name in hint), hint)
            asked = dict(_PRECISION_NAMES).get(PRECISION_HINTS[self._asked] or "")
            if asked is not None and asked != self._precision:  # the user asked for it: say it is not what runs
                log.warning("%s: precision=%r: OpenVINO's %s plugin runs %s here (this %s has no %s support); "
                            "VSEnhancePrecision says so", self.func, self._asked, self.device, self._precision,
                            "CPU" if self.device == "CPU" else "device", asked)  # fmt: skip
        return self._precision

    def _first_inference(self) -> None:
        """One inference here, on the thread that builds the network, before any stream's: the first calls into
        OpenVINO's numpy bindings from two threads at once can deadlock (pybind11 initialises its numpy API inside
        a C++ static guard and lets go of the GIL there; the other thread takes the GIL and waits on the guard).
        Seen: vspipe hung for good before frame 0, both streams in their first ``infer``, on a CI run and here."""
        _Requests(self).run(torch.zeros(_FIRST_SHAPE))

    def requests(self) -> _Requests:
        """Infer requests for one stream of the runtime (one per input shape, made when first needed)."""
        return _Requests(self)

    # -- internals ------------------------------------------------------------------------------------

    def _ir(self, module: torch.nn.Module) -> Any:
        """The IR from the cache, else converted from ``module`` and saved there (best effort: a read-only cache
        converts in every process)."""
        folder = self._folder / _weights_key(module, self._ov.__version__)
        xml = folder / "model.xml"
        if xml.is_file():
            try:
                return self._core.read_model(xml)
            except Exception as exc:  # a cut copy, a full disk mid-save, another version's file
                log.warning("%s: the OpenVINO cache %s is damaged (%s); converting the model again",
                            self.func, folder, str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__)  # fmt: skip
        log.info("%s: converting the network to OpenVINO (once per model; cached in %s)", self.func, folder)
        try:
            example = torch.rand(1, 3, 64, 64)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.trace's deprecation, on every conversion
                model = self._ov.convert_model(module.float().eval(), example_input=example,
                                               input=[self._ov.PartialShape([-1, 3, -1, -1])])  # fmt: skip
        except Exception as exc:
            raise ModelError(self.func, f"OpenVINO could not convert {type(module).__name__}: {exc}".splitlines()[0][:300],
                             "Use backend='torch' for this model.") from exc  # fmt: skip
        self._save(model, folder)
        return model

    def _save(self, model: Any, folder: Path) -> None:
        """Write the IR into a temp folder, then rename it into place: a kill leaves the old one or the new one."""
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self._folder, prefix=".partial-"))
            self._ov.save_model(model, tmp / "model.xml", compress_to_fp16=False)
            if folder.exists():  # damaged: moved aside first, as a rename cannot replace a folder
                aside = Path(tempfile.mkdtemp(dir=self._folder, prefix=".damaged-"))
                os.replace(folder, aside / folder.name)
                shutil.rmtree(aside, ignore_errors=True)
            os.replace(tmp, folder)
        except OSError as exc:
            log.warning("%s: could not save the OpenVINO cache to %s (%s)", self.func, folder, exc.strerror or exc)

    def _compile(self, shape: tuple[int, ...]) -> Any:
        with self._lock:
            compiled = self._compiled.get(shape)
            if compiled is None:
                compiled = self._compiled[shape] = self._compile_shape(shape)
            return compiled

    def _forget(self, shape: tuple[int, ...]) -> None:
        """Let go of the compiled model of a shape that ran out of memory (its buffers are the device's)."""
        with self._lock:
            self._compiled.pop(shape, None)

    def _compile_shape(self, shape: tuple[int, ...]) -> Any:
        model = self._model.clone()
        model.reshape(list(shape))
        blobs = self._folder / "compiled"
        config = self._config | {"CACHE_DIR": str(blobs)}
        try:
            return self._core.compile_model(model, self.device, config)
        except Exception as exc:  # a damaged compiled blob in OpenVINO's own cache: compile without it
            if (oom := _out_of_memory(exc, self.device, shape)) is not None:  # the shape, not the cache
                raise oom from exc
            log.warning("%s: OpenVINO could not use its compile cache %s (%s); compiling without it",
                        self.func, blobs, str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__)  # fmt: skip
            shutil.rmtree(blobs, ignore_errors=True)
            try:
                return self._core.compile_model(model, self.device, self._config)
            except Exception as again:
                if (oom := _out_of_memory(again, self.device, shape)) is not None:
                    raise oom from again
                raise DeviceError(self.func, f"OpenVINO could not compile the network for device {self.device}: "
                                  f"{str(again).splitlines()[0][:200]}", "Use device='cpu' or backend='torch'.") from again  # fmt: skip


class _Requests:
    """One stream's infer requests, one per input shape."""

    def __init__(self, network: OpenVinoNetwork) -> None:
        self._network = network
        self._by_shape: dict[tuple[int, ...], Any] = {}

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The network on ``x`` (N, 3, H, W) float32 on the CPU, in the request's own output buffer (no copy):
        valid until this stream's next call, which is after its frame has been written out."""
        shape = tuple(x.shape)
        try:
            request = self._by_shape.get(shape)
            if request is None:
                request = self._by_shape[shape] = self._network._compile(shape).create_infer_request()
            result = request.infer({0: np.ascontiguousarray(x.float().numpy())}, share_inputs=True, share_outputs=True)
        except Exception as exc:  # OpenVINO's errors are RuntimeErrors carrying the C++ message
            oom = exc if isinstance(exc, torch.OutOfMemoryError) else _out_of_memory(exc, self._network.device, shape)
            if oom is None:
                raise
            self._by_shape.pop(shape, None)
            self._network._forget(shape)
            if oom is exc:  # from the compilation: already said as out of memory
                raise
            raise oom from exc
        return torch.from_numpy(result[0])
