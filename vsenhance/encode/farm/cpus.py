"""A CPU-only farm's placement: splitting this machine's cores into shares, one per worker, and the
taskset-style lists (``0-3,6``) that carry a share from the pool to its worker."""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["cpu_shares", "format_cpus", "parse_cpus", "pinned_cpus"]


def cpu_shares(cores: Sequence[int], workers: int) -> list[list[int]]:
    """Split ``cores`` into ``workers`` contiguous shares as equal as possible (round-robin single cores when
    there are more workers than cores)."""
    cores = sorted(cores)
    if workers > len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    base, extra = divmod(len(cores), workers)
    shares, at = [], 0
    for i in range(workers):
        size = base + (1 if i < extra else 0)
        shares.append(cores[at : at + size])
        at += size
    return shares


def format_cpus(cpus: set[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2,5"`` (taskset's list format)."""
    parts, ordered = [], sorted(cpus)
    start = prev = ordered[0]
    for c in [*ordered[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(parts)


def parse_cpus(text: str) -> set[int]:
    """``"0-2,5"`` -> ``{0, 1, 2, 5}``."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def pinned_cpus() -> str | None:
    """The cores this process may run on, when that is fewer than the machine has; None when not pinned."""
    cpus = os.sched_getaffinity(0)
    return format_cpus(cpus) if len(cpus) < (os.cpu_count() or len(cpus)) else None
