"""``torch.compile``'s results kept beside the model cache, so that a fresh process starts warm.

Inductor caches its compiled graphs and kernels under ``/tmp/torchinductor_<user>``: gone after a reboot, and
local to one machine. For each network input shape, the first compilation's artifacts
(``torch.compiler.save_cache_artifacts``: FX graphs, kernels, autotuning results) are written to
``<model cache>/compiled/<key>.bin`` (after the SHA-256 of its contents), keyed by the network's weights, the input shape, the dtype, the device
(the GPU's name) and the torch version, so any of them changing misses instead of loading something stale. A
later process loads that file before it compiles the same shape (``load_cache_artifacts``): dynamo still traces
the model, but inductor's code generation and autotuning are cache hits. With the model cache on the shared
storage an encode farm needs anyway, every worker on every node starts warm.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

from ..files import atomic_open
from .store import cache_dir

__all__ = ["CompileCache"]

log = logging.getLogger(__name__)


class CompileCache:
    """Saved compilation artifacts of one network on one device, one file per input shape."""

    def __init__(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        weights = hashlib.sha256()
        for name, tensor in model.state_dict().items():
            weights.update(name.encode())
            weights.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        self._identity = {
            "weights": weights.hexdigest(),
            "dtype": str(dtype),
            "device": gpu,
            "torch": torch.__version__,
        }
        self.folder = cache_dir() / "compiled"

    def path(self, shape: tuple[int, ...]) -> Path:
        blob = json.dumps({**self._identity, "shape": list(shape)}, sort_keys=True).encode()
        return self.folder / f"{hashlib.sha256(blob).hexdigest()[:24]}.bin"

    def load(self, shape: tuple[int, ...]) -> bool:
        """Hot-load the artifacts saved for ``shape``, if any. A cache problem only costs a cold compile, never a
        frame: a missing, unreadable or damaged file (its SHA-256 prefix does not match) is warned about and the
        next compilation replaces it."""
        path = self.path(shape)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:  # the cache folder is a file, unreadable, on a stalled mount
            log.warning("cannot read the compile cache %s (%s): compiling cold", path, exc.strerror or exc)
            return False
        digest, data = data[:32], data[32:]
        if hashlib.sha256(data).digest() != digest:
            log.warning("the compile cache %s is damaged: compiling cold, and the result replaces it", path)
            return False
        try:
            torch.compiler.load_cache_artifacts(data)
        except Exception as exc:  # a file from a crashed write of another version: compile as if it weren't there
            log.warning("ignoring the unreadable compile cache %s (%s)", path, exc)
            return False
        log.info("loaded the compile cache for input %s from %s", shape, path)
        return True

    def save(self, shape: tuple[int, ...]) -> None:
        """Write what this process has compiled so far as ``shape``'s artifacts (atomically; best effort)."""
        artifacts = torch.compiler.save_cache_artifacts()
        if not artifacts:
            return
        path = self.path(shape)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "wb") as fh:
                fh.write(hashlib.sha256(artifacts[0]).digest())  # lets load() tell a damaged file
                fh.write(artifacts[0])
        except OSError as exc:  # a read-only or full cache: the encode goes on, later processes compile again
            log.warning("could not save the compile cache to %s (%s)", path, exc)
            return
        log.info("saved the compile cache for input %s to %s", shape, path)
