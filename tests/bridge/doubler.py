"""A plane callback for the bridge's tests: doubles each plane (2x2 nearest) slowly, and records what it was
given and how many calls ran at once, so a test can tell whether frames were computed concurrently."""

from __future__ import annotations

import threading
import time

import numpy as np


class SlowDoubler:
    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.calls: list[float] = []  # each call's first input sample
        self.peak = 0  # the most calls running at once
        self._active = 0
        self._lock = threading.Lock()

    def __call__(self, src, dst) -> None:
        with self._lock:
            self.calls.append(float(src[0][0, 0]))
            self._active += 1
            self.peak = max(self.peak, self._active)
        time.sleep(self.seconds)
        dst[0][...] = np.kron(src[0], np.ones((2, 2), np.float32))
        with self._lock:
            self._active -= 1
