"""Progress display on stderr: frames done/total, fps, elapsed and remaining time, GPU utilisation.

Resumed work counts toward "done" but not toward the speed: fps and the remaining time come only from frames
encoded in this run, so a resumed job does not report an impossible speed.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

__all__ = ["GpuMonitor", "Progress", "format_duration", "is_chinese_locale"]

_UNITS = {
    "en": (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)),
    "zh": (("天", 86400), ("小时", 3600), ("分", 60), ("秒", 1)),
}
_LABELS = {
    "en": {"elapsed": "elapsed", "eta": "left", "resumed": "resumed", "gpu": "GPU"},
    "zh": {"elapsed": "已用", "eta": "剩余", "resumed": "已续", "gpu": "GPU"},
}


def is_chinese_locale(environ: Mapping[str, str] | None = None) -> bool:
    """The first of LC_ALL, LC_MESSAGES, LANG that is set decides (POSIX precedence)."""
    env = os.environ if environ is None else environ
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key)
        if value:
            return value.lower().startswith("zh")
    return False


def format_duration(seconds: float | None, lang: str = "en") -> str:
    """``3822`` -> ``"1h 3m 42s"`` (``"1小时3分42秒"`` in Chinese); leading zero units are left out."""
    units = _UNITS.get(lang, _UNITS["en"])
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    remaining = round(seconds)
    parts: list[str] = []
    for suffix, size in units:
        value, remaining = divmod(remaining, size)
        if value or parts or size == 1:
            parts.append(f"{value}{suffix}")
    return ("" if lang == "zh" else " ").join(parts)


class GpuMonitor:
    """GPU utilisation through NVML (``pynvml``, package nvidia-ml-py) when present; otherwise nothing."""

    def __init__(self) -> None:
        self._nvml = None
        self._handles: list = []
        try:
            import pynvml  # optional

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._nvml = pynvml
        except Exception:  # no module, no driver, no GPU: show nothing
            self._nvml = None
            self._handles = []

    def utilisation(self) -> list[int] | None:
        if not self._nvml or not self._handles:
            return None
        try:
            return [int(self._nvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in self._handles]
        except Exception:
            return None

    def close(self) -> None:
        if self._nvml:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


class Progress:
    """Tracks frames; ``render()`` builds the line, ``update()`` redraws it (rate-limited)."""

    def __init__(
        self,
        total: int,
        resumed: int = 0,
        *,
        stream: TextIO | None = None,
        lang: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        gpu: GpuMonitor | None = None,
        interval: float | None = None,
    ) -> None:
        self.total = total
        self.resumed = resumed
        self.stream = stream if stream is not None else sys.stderr
        self.lang = lang or ("zh" if is_chinese_locale() else "en")
        self.clock = clock
        self.gpu = gpu
        self.start = clock()
        self.frames_this_run = 0  # completed segments of this run
        self._current = 0  # frames of the segment in progress
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self._last_draw = -math.inf
        self._drawn = False

    # --- numbers -------------------------------------------------------------------------------------
    @property
    def encoded(self) -> int:
        """Frames encoded in this run (finished segments plus the one in progress)."""
        return self.frames_this_run + self._current

    @property
    def done(self) -> int:
        return min(self.total, self.resumed + self.encoded)

    @property
    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.start)

    @property
    def fps(self) -> float | None:
        elapsed = self.elapsed
        return self.encoded / elapsed if elapsed > 0 and self.encoded > 0 else None

    @property
    def eta(self) -> float | None:
        fps = self.fps
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / fps if fps else None

    # --- events --------------------------------------------------------------------------------------
    def set_current(self, frames: int) -> None:
        self._current = max(0, frames)
        self.update()

    def segment_done(self, frames: int) -> None:
        self.frames_this_run += frames
        self._current = 0
        self.update(force=True)

    def segment_discarded(self) -> None:
        self._current = 0

    # --- drawing -------------------------------------------------------------------------------------
    def render(self, width: int = 24) -> str:
        labels = _LABELS.get(self.lang, _LABELS["en"])
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * width)
        bar = "#" * filled + "-" * (width - filled)
        fps = self.fps
        parts = [
            f"[{bar}] {self.done}/{self.total} {frac * 100:5.1f}%",
            f"{fps:.2f} fps" if fps is not None else "-- fps",
            f"{labels['elapsed']} {format_duration(self.elapsed, self.lang)}",
            f"{labels['eta']} {format_duration(self.eta, self.lang)}",
        ]
        if self.resumed:
            parts.append(f"{labels['resumed']} {self.resumed}")
        util = self.gpu.utilisation() if self.gpu else None
        if util:
            parts.append(f"{labels['gpu']} " + "/".join(f"{u}%" for u in util))
        return "  ".join(parts)

    def update(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        line = self.render()
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        if self.gpu:
            self.gpu.close()

    def message(self, text: str) -> None:
        """Print a line without garbling the bar."""
        if self._drawn and self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = -math.inf
