"""RayPool on a real two-node cluster (loopback): workers on both nodes, actor and worker deaths, storage check."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from vsenhance.encode.farm.protocol import Died, Finished, FramesWritten, Ready
from vsenhance.errors import EncodeError

from ..encode_helpers import write_script
from .farm_helpers import RECORD_NODE, alive, copy_task, parent_pid, poll_until, vspipe_y4m


def _nodes(path: Path) -> dict[int, str]:
    """pid -> node tag of every execution of the script."""
    return {int(pid): tag for tag, pid in (line.split() for line in path.read_text().splitlines())}


@pytest.fixture
def ray_pool(ray_cluster, tmp_path, monkeypatch):
    from vsenhance.encode.farm.ray_pool import RayPool
    from vsenhance.script import parse_script_args

    monkeypatch.setenv("HOME", str(ray_cluster.home))  # this process is the driver: the cluster's own HOME

    made = []

    def make(*args: str, **kwargs) -> RayPool:
        script = write_script(tmp_path / "clip.vpy", extra=RECORD_NODE)
        made.append(
            RayPool(ray_cluster.address, script, parse_script_args(args, "encode"), state_dir=tmp_path, **kwargs)
        )
        return made[-1]

    with ray_cluster.inside():  # the cluster's network namespace, where it has one
        yield make
        for pool in made:
            pool.shutdown()


def test_workers_on_both_nodes_and_deaths(ray_pool, tmp_path):
    nodes = tmp_path / "nodes.txt"
    pool = ray_pool(f"nodes={nodes}", "delay=0.03", workers=2)
    pool.start()
    events = poll_until(pool, lambda ev: sum(isinstance(e, Ready) for e in ev) == 2)
    workers = {e.worker.worker_id: e.worker for e in events if isinstance(e, Ready)}
    tags = _nodes(nodes)
    assert sorted(tags[w.pid] for w in workers.values()) == ["a", "b"]  # one worker per node (SPREAD)
    by_node = {tags[w.pid]: w for w in workers.values()}

    # both render; the segments are vspipe's bytes
    pool.submit(by_node["a"].worker_id, copy_task(tmp_path, 0, 0, 9))
    pool.submit(by_node["b"].worker_id, copy_task(tmp_path, 1, 10, 19))
    events = poll_until(pool, lambda ev: sum(isinstance(e, Finished) for e in ev) == 2)
    assert {e.index for e in events if isinstance(e, Finished)} == {0, 1}
    script = tmp_path / "clip.vpy"
    for i, (first, last) in enumerate([(0, 9), (10, 19)]):
        assert (tmp_path / f"seg{i}.y4m").read_bytes() == vspipe_y4m(script, first, last), i

    # the actor process on node b killed mid-segment: Died with the task's index; its worker ends too
    victim = by_node["b"]
    task = copy_task(tmp_path, 2, 0, 47)
    pool.submit(victim.worker_id, task)
    poll_until(pool, lambda ev: any(isinstance(e, FramesWritten) and e.worker_id == victim.worker_id for e in ev))
    os.kill(parent_pid(victim.pid), signal.SIGKILL)
    events = poll_until(pool, lambda ev: any(isinstance(e, Died) for e in ev))
    died = next(e for e in events if isinstance(e, Died))
    assert (died.worker_id, died.index) == (victim.worker_id, 2), died
    deadline = time.monotonic() + 10
    while alive(victim.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(victim.pid) and not Path(task.partial).exists()

    # the segment again, elsewhere: on the surviving worker, and a replacement worker that Ray places
    new = pool.replace(victim.worker_id)
    assert new is not None and new != victim.worker_id
    pool.submit(by_node["a"].worker_id, copy_task(tmp_path, 2, 0, 47))
    events = poll_until(
        pool, lambda ev: any(isinstance(e, Ready) for e in ev) and any(isinstance(e, Finished) for e in ev)
    )
    assert next(e for e in events if isinstance(e, Finished)).index == 2
    assert (tmp_path / "seg2.y4m").read_bytes() == vspipe_y4m(script, 0, 47)
    replacement = next(e.worker for e in events if isinstance(e, Ready))
    assert replacement.worker_id == new

    # the worker subprocess (not the actor) killed mid-segment: Died, relayed from the actor's local pool
    task = copy_task(tmp_path, 3, 0, 47)
    pool.submit(new, task)
    poll_until(pool, lambda ev: any(isinstance(e, FramesWritten) and e.worker_id == new for e in ev))
    os.kill(replacement.pid, signal.SIGKILL)
    events = poll_until(pool, lambda ev: any(isinstance(e, Died) for e in ev))
    died = next(e for e in events if isinstance(e, Died))
    assert (died.worker_id, died.index) == (new, 3) and "SIGKILL" in died.message
    assert not Path(task.partial).exists()


def test_a_node_that_cannot_write_the_state_folder_fails_up_front(ray_pool, tmp_path):
    pool = ray_pool(workers=2)
    pool.state_dir = tmp_path / "not-there"  # as if the folder were not mounted on the nodes
    with pytest.raises(EncodeError, match="cannot create and delete a file in the state folder") as err:
        pool.start()
    assert str(tmp_path / "not-there") in str(err.value) and "node " in str(err.value)


def test_without_ray_the_error_says_what_to_install(monkeypatch, tmp_path):
    from vsenhance.encode.farm.ray_pool import RayPool

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    pool = RayPool("auto", write_script(tmp_path / "clip.vpy"), state_dir=tmp_path)
    with pytest.raises(EncodeError, match=r"pip install 'vsenhance\[cluster\]'"):
        pool.start()
