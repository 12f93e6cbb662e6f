"""protocol.drain: what both pools' poll returns."""

from __future__ import annotations

import queue
import threading

from vsenhance.encode.farm.protocol import Died, Event, drain


def test_drain_takes_every_queued_event():
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    for i in range(3):
        events.put(Died(f"w{i}", None, "gone"))
    assert [e.worker_id for e in drain(events, 0)] == ["w0", "w1", "w2"]
    assert drain(events, 0) == []


def test_drain_waits_for_the_first_event_only_up_to_the_timeout():
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    threading.Timer(0.05, events.put, (Died("w0", 1, "late"),)).start()
    assert drain(events, 5) == [Died("w0", 1, "late")]  # returns with the first event
    assert drain(events, 0.01) == []  # and with nothing once the timeout has passed
