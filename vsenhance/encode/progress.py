"""Progress display on stderr: one bar for the whole job (frames done/total across all workers, combined fps,
elapsed and remaining time, GPU utilisation) and, on a terminal, one line per worker below it.

Resumed work counts toward "done" but not toward the speed: fps and the remaining time come only from frames
encoded in this run, so a resumed job does not report an impossible speed. Frames a worker has in flight
count as soon as it reports them; a discarded attempt takes its frames back.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from .farm.protocol import WorkerInfo
from .plan import Segment

__all__ = ["GpuMonitor", "ProgressDisplay", "format_duration", "is_chinese_locale"]

_UNITS = {
    "en": (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)),
    "zh": (("天", 86400), ("小时", 3600), ("分", 60), ("秒", 1)),
}
_LABELS = {
    "en": {"elapsed": "elapsed", "eta": "left", "resumed": "resumed", "gpu": "GPU", "idle": "idle", "seg": "segment"},
    "zh": {"elapsed": "已用", "eta": "剩余", "resumed": "已续", "gpu": "GPU", "idle": "空闲", "seg": "片段"},
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


@dataclass
class _WorkerLine:
    info: WorkerInfo
    seg: Segment | None = None
    frames: int = 0  # of the segment in flight
    started: float = 0.0

    def where(self) -> str:
        info = self.info
        place = f"GPU {info.gpu}" if info.gpu else (f"cpus {info.cpus}" if info.cpus else "cpu")
        return f"{info.host} {place}"

    def local_gpu(self) -> int | None:
        """The NVML index of its GPU when it runs on this host and sees exactly one (by index)."""
        gpu = self.info.gpu
        if gpu is None or not gpu.isdigit() or self.info.host != socket.gethostname():
            return None
        return int(gpu)


class ProgressDisplay:
    """Tracks frames per worker; ``render()`` builds the bar, ``update()`` redraws it (rate-limited)."""

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
        self.workers: dict[str, _WorkerLine] = {}
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self._last_draw = -math.inf
        self._lines = 0  # lines of the block drawn last (terminal only)
        self._ai: dict[int, int] = {}  # segment -> its AI frames, when counted (plan_paths)
        self._remaining: dict[int, Segment] = {}  # segments not yet rendered in this run
        self._rendered: list[tuple[int, int, float]] = []  # (AI frames, other frames, seconds) per segment

    # --- numbers -------------------------------------------------------------------------------------
    @property
    def encoded(self) -> int:
        """Frames encoded in this run (finished segments plus those in flight on every worker)."""
        return self.frames_this_run + sum(w.frames for w in self.workers.values())

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
        if self.done >= self.total:
            return 0.0
        by_path = self._path_eta()
        if by_path is not None:
            return by_path
        fps = self.fps
        return (self.total - self.done) / fps if fps else None

    def plan_paths(self, remaining: list[Segment], ai_frames: dict[int, int]) -> None:
        """Each remaining segment's AI frames: the ETA then sums each segment's own cost (an AI segment can take
        a hundred times a Lanczos one) instead of dividing the frames left by one overall speed."""
        self._ai = dict(ai_frames)
        self._remaining = {seg.index: seg for seg in remaining}

    def path_seconds(self) -> tuple[float, float] | None:
        """Seconds per AI frame and per other frame, fitted (least squares) to the segments rendered in this run;
        None until segments of different mixes have been rendered."""
        saa = sum(a * a for a, _, _ in self._rendered)
        soo = sum(o * o for _, o, _ in self._rendered)
        sao = sum(a * o for a, o, _ in self._rendered)
        det = saa * soo - sao * sao
        if det <= 0:
            return None
        sas = sum(a * s for a, _, s in self._rendered)
        sos = sum(o * s for _, o, s in self._rendered)
        return max(0.0, (sas * soo - sao * sos) / det), max(0.0, (saa * sos - sao * sas) / det)

    def _path_eta(self) -> float | None:
        speeds = self.path_seconds() if self._ai else None
        if speeds is None:
            return None
        t_ai, t_other = speeds
        in_flight = {w.seg.index: w.frames / w.seg.frames for w in self.workers.values() if w.seg is not None}
        cost = 0.0
        for index, seg in self._remaining.items():
            ai = self._ai.get(index, 0)
            cost += (ai * t_ai + (seg.frames - ai) * t_other) * (1 - in_flight.get(index, 0.0))
        return cost / max(1, len(self.workers))

    # --- events (the scheduler's FarmDisplay) ----------------------------------------------------------
    def worker_ready(self, worker: WorkerInfo) -> None:
        self.workers.setdefault(worker.worker_id, _WorkerLine(worker))

    def worker_gone(self, worker_id: str) -> None:
        self.workers.pop(worker_id, None)

    def segment_started(self, worker_id: str, seg: Segment) -> None:
        w = self.workers.get(worker_id)
        if w is not None:
            w.seg, w.frames, w.started = seg, 0, self.clock()

    def worker_frames(self, worker_id: str, frames: int) -> None:
        w = self.workers.get(worker_id)
        if w is not None and w.seg is not None:
            w.frames = max(0, min(frames, w.seg.frames))
        self.update()

    def segment_done(self, worker_id: str, frames: int) -> None:
        self.frames_this_run += frames
        self.segment_discarded(worker_id)
        self.update(force=True)

    def segment_rendered(self, seg: Segment, seconds: float) -> None:
        """A worker finished ``seg`` in ``seconds``: it leaves the ETA's remaining work, and times its paths."""
        self._remaining.pop(seg.index, None)
        ai = self._ai.get(seg.index, 0)
        self._rendered.append((ai, seg.frames - ai, seconds))

    def segment_rejected(self, seg: Segment) -> None:
        """A finished segment failed the driver's check: its frames no longer count as done, it is to do again."""
        self.frames_this_run -= seg.frames
        if self._ai:
            self._remaining[seg.index] = seg
        self.update(force=True)

    def segment_discarded(self, worker_id: str) -> None:
        w = self.workers.get(worker_id)
        if w is not None:
            w.seg, w.frames = None, 0

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

    def worker_lines(self) -> list[str]:
        """One line per worker: where it runs, its segment, its speed and, on this host, its GPU's load."""
        labels = _LABELS.get(self.lang, _LABELS["en"])
        util = self.gpu.utilisation() if self.gpu and self.workers else None
        now = self.clock()
        lines = []
        for worker_id in sorted(self.workers, key=_natural):
            w = self.workers[worker_id]
            parts = [f"  {worker_id:>4}  {w.where()}"]
            if w.seg is None:
                parts.append(labels["idle"])
            else:
                seconds = now - w.started
                fps = f"{w.frames / seconds:.2f} fps" if seconds > 0 and w.frames else "-- fps"
                seg = w.seg
                parts.append(f"{labels['seg']} {seg.index} ({seg.first}-{seg.last}) {w.frames}/{seg.frames}  {fps}")
            index = w.local_gpu()
            if util and index is not None and index < len(util):
                parts.append(f"{labels['gpu']} {util[index]}%")
            lines.append("  ".join(parts))
        return lines

    def update(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        if self.tty:
            self._clear()
            columns = shutil.get_terminal_size().columns - 1  # a wrapped line would break the redraw
            lines = [line[:columns] for line in (self.render(), *self.worker_lines())]
            self.stream.write("\n".join(lines))
            self._lines = len(lines)
        else:
            self.stream.write(self.render() + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        """Move to the start of the block drawn last and erase it (terminal only)."""
        if self._lines:
            self.stream.write("\r" + (f"\x1b[{self._lines - 1}A" if self._lines > 1 else "") + "\x1b[J")
            self._lines = 0

    def finish(self) -> None:
        if self._lines and self.tty:
            self.stream.write("\n")
            self.stream.flush()
            self._lines = 0
        if self.gpu:
            self.gpu.close()

    def message(self, text: str) -> None:
        """Print a line without garbling the bar."""
        if self.tty:
            self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = -math.inf


def _natural(worker_id: str) -> tuple[int, str]:
    digits = "".join(c for c in worker_id if c.isdigit())
    return (int(digits) if digits else 0, worker_id)
