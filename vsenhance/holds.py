"""Held-frame decisions by id, for the encoder's workers and the estimate's sampler.

A clip with held-frame reuse registers its decisions here (:class:`vsenhance.bridge.held.KeyFrames`), and each
of its frames carries the id (:data:`~vsenhance.constants.DEDUP_ID_PROP`). A process that executed the script
(a worker, the sampler) then counts which frames are computed from the source alone, without running the
model: the schedule and the ETA follow the work, not the frame count. Imports nothing heavy: the encoder reads
it without VapourSynth's graph code, and without torch.
"""

from __future__ import annotations

import weakref
from typing import Protocol

__all__ = ["Decisions", "decisions", "register"]


class Decisions(Protocol):
    num_frames: int

    def keys(self, first: int, last: int) -> list[int]:
        """The key frame of each frame ``first..last``: the frame whose picture it shows (itself when computed)."""


_registry: weakref.WeakValueDictionary[str, Decisions] = weakref.WeakValueDictionary()


def register(clip_id: str, decisions: Decisions) -> None:
    """Kept while the clip's graph lives (weakly: a reloaded script's old graph is freed)."""
    _registry[clip_id] = decisions


def decisions(clip_id: str) -> Decisions | None:
    return _registry.get(clip_id)
