"""ONNX Runtime sessions for the pose models: created once, reused, with checked providers and signatures."""

from __future__ import annotations

import contextlib
import ctypes.util
import io
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DeviceError, ModelError
from ..cores import usable_cores

__all__ = ["OnnxModel", "resolve_providers", "uses_gpu"]

log = logging.getLogger(__name__)

_GPU_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "DmlExecutionProvider",
    "MIGraphXExecutionProvider",
    "CoreMLExecutionProvider",
)
_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
_TRAP_FIX = (
    "If a GPU is present, the usual cause is 'onnxruntime' and 'onnxruntime-gpu' both installed: "
    "run 'pip uninstall -y onnxruntime onnxruntime-gpu' then 'pip install onnxruntime-gpu', and check the "
    "CUDA/cuDNN versions your onnxruntime-gpu needs. Or pass providers='cpu'."
)
_OOM_MARKERS = ("out of memory", "failed to allocate", "bad_alloc", "cudaerrormemoryallocation", "oom")


def _ort():
    import onnxruntime

    return onnxruntime


def _gpu_present() -> bool:
    """A cheap check for an NVIDIA/AMD GPU driver, so that ``"auto"`` does not try CUDA on CPU-only machines."""
    if sys.platform == "win32":
        return True  # no cheap check; ORT falls back and "auto" accepts that
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"))


def resolve_providers(providers: str | Sequence[str] | None, func: str) -> tuple[list[str], bool]:
    """The provider list for ONNX Runtime and whether a CPU fallback is acceptable (only for ``"auto"``)."""
    available = _ort().get_available_providers()
    if providers is None or (isinstance(providers, str) and providers.lower() == "auto"):
        chosen: list[str] = []
        if _gpu_present():
            if "TensorrtExecutionProvider" in available and ctypes.util.find_library("nvinfer"):
                chosen.append("TensorrtExecutionProvider")
            for name in ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider"):
                if name in available:
                    chosen.append(name)
        chosen.append("CPUExecutionProvider")
        return chosen, True
    names = [providers] if isinstance(providers, str) else list(providers)
    if not names or not all(isinstance(n, str) for n in names):
        raise DeviceError(
            func,
            f"providers={providers!r} is not understood.",
            'Use "auto", a provider name such as "cuda" or "CPUExecutionProvider", or a list of them.',
        )
    resolved = [_ALIASES.get(n.lower(), n) for n in names]
    missing = [n for n in resolved if n not in available]
    if missing:
        raise DeviceError(
            func,
            f"execution provider(s) {missing} are not available in this onnxruntime (available: {available}).",
            _TRAP_FIX if any(n in _GPU_PROVIDERS for n in missing) else "Choose one of the available providers.",
        )
    gpu = [n for n in resolved if n in _GPU_PROVIDERS]
    if gpu and not _gpu_present():
        raise DeviceError(func, f"{gpu} was requested but no GPU driver was found.", 'Pass providers="cpu".')
    if "TensorrtExecutionProvider" in resolved and not ctypes.util.find_library("nvinfer"):
        raise DeviceError(
            func,
            "TensorrtExecutionProvider was requested but the TensorRT library (libnvinfer) was not found.",
            'Install TensorRT so that libnvinfer is on the library path, or pass providers="cuda".',
        )
    return resolved, False


def uses_gpu(providers: str | Sequence[str] | None, func: str) -> bool:
    """Whether ``providers`` would put a model on a GPU (``"auto"`` on a machine with a usable GPU provider)."""
    return any(p in _GPU_PROVIDERS for p in resolve_providers(providers, func)[0])


def _ep_error(printed: str) -> str:
    """The reason in ONNX Runtime's printed "EP Error" banner, on one line ("" when it printed none)."""
    if "EP Error" not in printed:
        return ""
    lines = [ln.strip() for ln in printed.splitlines() if ln.strip() and not ln.startswith("*")]
    text = " ".join(lines).removeprefix("EP Error").strip()
    return text[:400]


def session_options(threads: int | None = None):
    """``ORT_ENABLE_ALL``, sequential execution (one intra-op pool; these graphs are chains, measured: the
    parallel executor and inter-op threads do not help), ``threads`` intra-op threads (default: all cores)."""
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or usable_cores()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


class OnnxModel:
    """One ONNX Runtime session, created once and reused by every batch.

    ``input_shape`` is ``(C, H, W)`` as the caller expects; a model whose batch dimension is fixed at 1 is run
    one item at a time inside a batch (logged once). An out-of-memory error halves the batch and retries.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        role: str,
        input_shape: tuple[int, int, int],
        output_desc: str,
        providers: str | Sequence[str] | None = "auto",
        func: str = "pose",
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.role = role
        self.func = func
        expected = f"input [N, {input_shape[0]}, {input_shape[1]}, {input_shape[2]}] float32, output {output_desc}"
        self.expected = expected
        if not self.path.is_file():
            raise ModelError(
                func, f"{role} model {str(self.path)!r} does not exist.", f"Pass the path of an ONNX file ({expected})."
            )
        chosen, fallback_ok = resolve_providers(providers, func)
        self.session, ep_error = self._create(chosen, threads)
        self.providers = active = self._started(chosen, fallback_ok, ep_error)
        self._read_signature(input_shape)
        self.max_batch: int | None = self.fixed_batch
        # ORT's run() is thread-safe: on CPU concurrent runs (one per group in flight) each use the calling
        # thread plus the session's intra-op pool; GPU runs are serialised per session (one model at a time on
        # the device, so that two groups never hold two batches of activations at once)
        self._lock = threading.Lock() if any(p in active for p in _GPU_PROVIDERS) else contextlib.nullcontext()
        if self.fixed_batch is not None:
            how = "batches run one item at a time" if self.fixed_batch == 1 else "batches are padded to it"
            log.info("%s: %s model %s has a fixed batch size of %d; %s", func, role, self.path.name,
                     self.fixed_batch, how)  # fmt: skip
        log.debug("%s: %s session %s on %s", func, role, self.path.name, active)

    def _create(self, chosen: list[str], threads: int | None) -> tuple[Any, str]:
        """The session, and the reason in ONNX Runtime's "EP Error" banner ("" when it printed none).

        stdout belongs to vspipe: ONNX Runtime print()s that banner there when a provider fails and it falls
        back, so its Python stdout goes to a buffer while the session is created (sys.stdout is process-wide:
        what another thread prints in that moment is caught too, and logged to stderr)."""
        banner = io.StringIO()
        try:
            with contextlib.redirect_stdout(banner):
                session = _ort().InferenceSession(
                    str(self.path), sess_options=session_options(threads), providers=chosen
                )
        except Exception as exc:  # corrupt file, unsupported ops, ...
            raise ModelError(
                self.func,
                f"the {self.role} model {self.path.name!r} could not be loaded.",
                f"Pass a valid ONNX file ({self.expected}).",
                f"{self.path}: {str(exc).strip()}",
            ) from exc
        printed = banner.getvalue()
        ep_error = _ep_error(printed)
        if printed.strip() and not ep_error:
            log.info("%s: printed while the %s session was created: %s", self.func, self.role, printed.strip())
        return session, ep_error

    def _started(self, chosen: list[str], fallback_ok: bool, ep_error: str) -> list[str]:
        """The providers the session runs on; a GPU asked for by name that did not start is a DeviceError."""
        active = self.session.get_providers()
        wanted_gpu = [p for p in chosen if p in _GPU_PROVIDERS]
        if wanted_gpu and not any(p in active for p in wanted_gpu):
            if not fallback_ok:
                raise DeviceError(
                    self.func,
                    f"{wanted_gpu} was requested for {self.path.name} but ONNX Runtime fell back to {active}"
                    + (f" ({ep_error})." if ep_error else "."),
                    _TRAP_FIX,
                )
            log.info("%s: no GPU provider could be started for %s; running on CPU", self.func, self.path.name)
            if ep_error:
                log.debug("%s: ONNX Runtime said: %s", self.func, ep_error)
        elif ep_error:
            log.warning("%s: ONNX Runtime fell back to %s for %s: %s", self.func, active, self.path.name, ep_error)
        return active

    def _read_signature(self, input_shape: tuple[int, int, int]) -> None:
        """The input and output names and shapes, checked against ``input_shape`` (C, H, W)."""
        func, role, name, expected = self.func, self.role, self.path.name, self.expected
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or not outputs:
            raise ModelError(
                func,
                f"{role} model {name} has {len(inputs)} inputs and {len(outputs)} outputs.",
                f"Export a model with one image input and one output: {expected}.",
            )
        shape = list(inputs[0].shape)
        if len(shape) != 4 or inputs[0].type not in ("tensor(float)",):
            raise ModelError(func, f"{role} model {name} input is {inputs[0].type} {shape}.", f"Expected {expected}.")
        for got, want in zip(shape[1:], input_shape, strict=True):
            if isinstance(got, int) and got != want:
                raise ModelError(func, f"{role} model {name} input shape is {shape}.", f"Expected {expected}.")
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.output_shape = list(outputs[0].shape)
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def _run_once(self, x: np.ndarray) -> np.ndarray:
        fixed = self.fixed_batch
        n = x.shape[0]
        if fixed is not None and n != fixed:
            if n > fixed:
                return np.concatenate([self._run_once(x[i : i + fixed]) for i in range(0, n, fixed)])
            pad = np.zeros((fixed - n, *x.shape[1:]), x.dtype)
            return self._run_once(np.concatenate([x, pad]))[:n]
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(x)})[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run a batch ``x`` (N, C, H, W) float32; splits it to ``max_batch`` and halves it on out-of-memory."""
        if x.shape[0] == 0:
            raise ValueError("empty batch")
        limit = self.max_batch or x.shape[0]
        if x.shape[0] > limit:
            return np.concatenate([self.run(x[i : i + limit]) for i in range(0, x.shape[0], limit)])
        try:
            with self._lock:
                return self._run_once(x)
        except Exception as exc:
            text = str(exc).lower()
            if x.shape[0] > 1 and any(m in text for m in _OOM_MARKERS):
                half = max(1, x.shape[0] // 2)
                self.max_batch = half
                log.warning(
                    "%s: out of memory with a batch of %d on the %s model; retrying with %d",
                    self.func,
                    x.shape[0],
                    self.role,
                    half,
                )
                return self.run(x)
            if any(m in text for m in _OOM_MARKERS):
                raise DeviceError(
                    self.func,
                    f"out of memory running the {self.role} model on one image.",
                    "Free GPU memory or use providers='cpu'.",
                ) from exc
            raise ModelError(
                self.func,
                f"{self.role} model {self.path.name} failed: {exc}",
                f"Check that the model matches {self.expected}.",
            ) from exc
