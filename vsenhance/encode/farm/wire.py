"""The protocol's messages as JSON lines: one :func:`dumps`/:func:`loads` pair for the worker and both pools.

A worker reads tasks and writes events as lines of JSON (``{"type": "RenderTask", ...fields}``); the local
pool reads them from the worker's pipe, the Ray pool gets the same lines through its actors (which pass them
on unread), so there is one serialisation and one rendering implementation.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .protocol import (
    ClipSummary,
    Died,
    Event,
    Failed,
    Finished,
    FramesWritten,
    Probed,
    ProbeTask,
    Ready,
    RenderTask,
    Started,
    Task,
    WorkerInfo,
)

__all__ = ["dumps", "loads"]

_FLAT = {cls.__name__: cls for cls in (Started, FramesWritten, Finished, Failed, Died)}


def dumps(message: Task | Event) -> str:
    """One line of JSON (no newline) for a task or an event."""
    return json.dumps({"type": type(message).__name__, **asdict(message)}, separators=(",", ":"))


def loads(line: str | bytes) -> Task | Event:
    """The task or event of one line; ValueError for anything else."""
    data: dict[str, Any] = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"not a protocol message: {line!r:.200}")
    kind = data.pop("type", None)
    try:
        if kind == "RenderTask":
            return RenderTask(**{**data, "ffmpeg_argv": tuple(data["ffmpeg_argv"])})
        if kind == "ProbeTask":
            return ProbeTask(
                tuple(data["frames"]), tuple((str(c), int(a), int(b)) for c, a, b in data.get("spans", ()))
            )
        if kind == "Ready":
            return Ready(WorkerInfo(**data["worker"]), ClipSummary(**data["clip"]))
        if kind == "Probed":
            return Probed(
                data["worker_id"],
                {int(n): props for n, props in data["props"].items()},
                tuple(data.get("open_files", ())),
                tuple(tuple(int(k) for k in keys) for keys in data.get("keys", ())),
            )
        if kind in _FLAT:
            return _FLAT[kind](**data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed {kind} message ({exc}): {line!r:.200}") from exc
    raise ValueError(f"unknown message type {kind!r}: {line!r:.200}")
