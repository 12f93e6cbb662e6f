"""LocalPool: workers on this machine, Died with the task's index, replace, shutdown, placement."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from vsenhance.encode.farm.cpus import cpu_shares
from vsenhance.encode.farm.local import LocalPool
from vsenhance.encode.farm.protocol import Died, Event, Failed, Finished, FramesWritten, Ready

from ..encode_helpers import write_script
from .farm_helpers import COUNT_EXECUTIONS, copy_task, poll_until, vspipe_y4m


def _ready(events: list[Event]) -> list[str]:
    return [e.worker.worker_id for e in events if isinstance(e, Ready)]


@pytest.fixture
def pools():
    made: list[LocalPool] = []
    yield made
    for pool in made:
        pool.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_kill_replace_shutdown(tmp_path, pools):
    count = tmp_path / "executions.txt"
    script = write_script(tmp_path / "clip.vpy", extra=COUNT_EXECUTIONS)
    pool = LocalPool(script, {"count": str(count), "delay": "0.03"}, workers=2)
    pools.append(pool)
    pool.start()
    events = poll_until(pool, lambda ev: len(_ready(ev)) == 2)
    infos = {e.worker.worker_id: e.worker for e in events if isinstance(e, Ready)}
    assert set(infos) == {"w0", "w1"}
    cores = os.sched_getaffinity(0)
    if len(cores) >= 2:  # each worker pinned to its own half
        shares = [set(cpu_shares(cores, 2)[i]) for i in range(2)]
        assert [infos[w].cpus for w in ("w0", "w1")] == [_fmt(s) for s in shares]

    # both render; results are vspipe's bytes
    pool.submit("w0", copy_task(tmp_path, 0, 0, 9))
    pool.submit("w1", copy_task(tmp_path, 1, 10, 19))
    events = poll_until(pool, lambda ev: sum(isinstance(e, Finished) for e in ev) == 2)
    assert {e.worker_id: e.index for e in events if isinstance(e, Finished)} == {"w0": 0, "w1": 1}
    assert (tmp_path / "seg1.y4m").read_bytes() == vspipe_y4m(script, 10, 19, "delay=0")

    # w1 killed mid-segment: Died with the index it held, its partial gone; w0 unaffected
    task = copy_task(tmp_path, 2, 0, 47)  # ~1.4 s
    pool.submit("w1", task)
    poll_until(pool, lambda ev: any(isinstance(e, FramesWritten) and e.worker_id == "w1" for e in ev))
    os.kill(infos["w1"].pid, signal.SIGKILL)
    events = poll_until(pool, lambda ev: any(isinstance(e, Died) for e in ev))
    died = next(e for e in events if isinstance(e, Died))
    assert (died.worker_id, died.index) == ("w1", 2) and "SIGKILL" in died.message
    time.sleep(0.3)
    assert not Path(task.partial).exists() and not Path(task.final).exists()

    new = pool.replace("w1")
    assert new == "w2"
    events = poll_until(pool, lambda ev: _ready(ev) == ["w2"])
    w2 = next(e.worker for e in events if isinstance(e, Ready))
    assert w2.cpus == infos["w1"].cpus  # the dead worker's cores
    pool.submit("w2", copy_task(tmp_path, 2, 20, 29))
    pool.submit("w0", copy_task(tmp_path, 3, 30, 39))
    events = poll_until(pool, lambda ev: sum(isinstance(e, Finished) for e in ev) == 2)
    assert count.read_text().count("executed") == 3  # w0, w1, w2: once each, for 5 tasks

    # shutdown mid-segment: every process ends, the partial is removed
    last = copy_task(tmp_path, 4, 0, 47)
    pool.submit("w0", last)
    poll_until(pool, lambda ev: any(isinstance(e, FramesWritten) for e in ev))
    t0 = time.monotonic()
    pool.shutdown()
    assert time.monotonic() - t0 < 10
    assert not _alive(infos["w0"].pid) and not _alive(w2.pid)
    assert not list(tmp_path.glob("*.partial"))


def test_gpu_placement_sets_cuda_visible_devices(tmp_path, pools):
    script = write_script(tmp_path / "clip.vpy")
    pool = LocalPool(script, {"length": "4"}, gpus=[0, 3], per_gpu=2)
    pools.append(pool)
    pool.start()
    events = poll_until(pool, lambda ev: len(_ready(ev)) == 4)
    gpus = sorted(e.worker.gpu for e in events if isinstance(e, Ready))
    assert gpus == ["0", "0", "3", "3"]
    assert all(e.worker.cpus is None for e in events if isinstance(e, Ready))


def test_a_worker_that_cannot_execute_the_script_dies(tmp_path, pools):
    script = tmp_path / "bad.vpy"
    script.write_text("raise ValueError('broken script')\n")
    pool = LocalPool(script, workers=1)
    pools.append(pool)
    pool.start()
    events = poll_until(pool, lambda ev: any(isinstance(e, Died) for e in ev))
    failed, died = events[-2:]  # the script's error first, then the exit
    assert isinstance(failed, Failed) and failed.index is None and "broken script" in failed.message
    assert isinstance(died, Died) and died.index is None and "exited with code 1" in died.message


def test_a_workers_stderr_reaches_the_log_and_its_death(tmp_path, pools, caplog):
    """The script's own lines reach the driver's log (shown with -v) as they come, and the last ones are in the
    message of a worker that dies without a word on the protocol (os._exit: no Failed event)."""
    script = tmp_path / "dies.vpy"
    script.write_text("import os, sys\nprint('grain is too strong here', file=sys.stderr, flush=True)\nos._exit(1)\n")
    caplog.set_level("DEBUG", logger="vsenhance.encode.farm.local")
    pool = LocalPool(script, workers=1)
    pools.append(pool)
    pool.start()
    events = poll_until(pool, lambda ev: any(isinstance(e, Died) for e in ev))
    died = events[-1]
    assert isinstance(died, Died) and "exited with code 1; it said:\ngrain is too strong here" in died.message
    assert any(r.getMessage().endswith(": grain is too strong here") for r in caplog.records)


def _fmt(cores: set[int]) -> str | None:
    from vsenhance.encode.farm.cpus import format_cpus

    return format_cpus(cores) if len(cores) < (os.cpu_count() or 0) else None
