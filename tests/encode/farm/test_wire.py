"""Every protocol message survives the JSON-lines wire unchanged; anything else is a ValueError."""

from __future__ import annotations

import pytest

from vsenhance.encode.farm import wire
from vsenhance.encode.farm.protocol import (
    ClipSummary,
    Died,
    Failed,
    Finished,
    FramesWritten,
    Probed,
    ProbeTask,
    Ready,
    RenderTask,
    Started,
    WorkerInfo,
)

INFO = WorkerInfo("w0", "host", 123, "0", "0-3", 1.5)
CLIP = ClipSummary(48, 24000, 1001, 64, 48, "YUV420P10", "YUV")
MESSAGES = [
    RenderTask(3, 24, 31, ("ffmpeg", "-i", "pipe:0", "o.mkv"), "/s/p.mkv", "/s/f.mkv", 2),
    ProbeTask((0, 12)),
    ProbeTask((), (("held0", 0, 63), ("held1", 64, 70))),
    Started("w2", "film.vpy"),
    Started("r3-w0", "film.vpy", placing=True),
    Ready(INFO, CLIP),
    FramesWritten("w0", 3, 5),
    Finished("w0", 3, 2.5, 0.4),
    Probed("w0", {0: {"_Matrix": 1, "Name": "x", "List": [1, 2]}}, ("/src/film.mkv",)),
    Probed("w0", {}, (), ((0, 0, 2), (64,))),
    Failed("w0", None, "the script failed on frame 5", "tail"),
    Died("w1", 4, "worker w1 was killed by SIGKILL"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message):
    line = wire.dumps(message)
    assert "\n" not in line
    assert wire.loads(line) == message
    assert wire.loads(line.encode()) == message


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("[1, 2]", "not a protocol message"),
        ('{"type": "Nope"}', "unknown message type"),
        ('{"type": "Finished", "worker_id": "w0"}', "malformed Finished"),
        ("{not json", "Expecting property name"),
    ],
)
def test_what_is_not_a_message(line, fragment):
    with pytest.raises(ValueError, match=fragment):
        wire.loads(line)
