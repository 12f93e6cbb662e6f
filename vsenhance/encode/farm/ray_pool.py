"""The Ray pool: one render worker per Ray actor, across the nodes of a cluster (``vsenhance encode --ray``).

Each actor hosts a one-worker :class:`~.local.LocalPool` on its node, so rendering, the channel, the partial
clean-up and the ``Died`` of a killed worker subprocess are the local pool's code; the actor only relays tasks
in and events out. The worker subprocess dies with its actor: its stdin is a pipe from the actor process.

Placement: where the cluster has GPUs, one actor per GPU with ``num_gpus=1`` (Ray sets
``CUDA_VISIBLE_DEVICES``, so ``device="cuda"`` in the script is the actor's GPU); on a CPU-only cluster
``workers`` actors (default: one per alive node), each asking for an equal share of the cluster's CPUs,
spread over the nodes (``SPREAD``). Ray does not pin cores; it sets ``OMP_NUM_THREADS`` to the share.

Shared storage is the contract: the script, its sources and the state folder at the same path on every node.
Each actor checks on start that it can read the script and create and delete a file in the state folder;
:meth:`RayPool.start` waits for every check and raises :class:`EncodeError` naming the node and the path, so a
misconfigured node fails the encode up front (a later replacement that fails the check reports ``Failed`` and
``Died`` instead).

Environment: a worker's script sees its node's environment (what ``ray start`` was given there) plus the
variables named by ``--env``, passed to each actor's worker; nothing else of the driver's environment travels.

Faults: an actor that dies (its process killed, its node lost) yields ``Died`` with the task it held; the
driver requeues it and calls :meth:`RayPool.replace`, which starts a fresh actor that Ray places on any live
node. Actors are not restarted in place (``max_restarts=0``): a restarted actor would come back under an id the
driver has already counted dead, and the driver's retry count decides what is retried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ...errors import EncodeError
from ...script import ScriptArgs
from .local import LocalPool
from .protocol import Died, Event, Failed, Finished, Probed, RenderTask, Started, Task, drain

__all__ = ["RayPool"]

log = logging.getLogger(__name__)

EVENT_WAIT_SECONDS = 1.0  # how long one relay call waits for the actor's next events
START_SECONDS = 120.0  # for the cluster to place every actor and for each storage check
CONNECT_SECONDS = 30.0  # to reach the cluster at the address, or fail naming it
TOKEN_VARIABLES = "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH"
_PROBE = """
import sys
import ray
try:
    ray.init(address=sys.argv[1], log_to_driver=False, logging_level="error")
except ray.exceptions.AuthenticationError as exc:
    sys.stderr.write(chr(10) + str(exc).split(".")[0] + chr(10))
    sys.exit(3)
except Exception as exc:
    sys.stderr.write(chr(10) + type(exc).__name__ + ": " + (str(exc).strip().splitlines() or [""])[0] + chr(10))
    sys.exit(2)
ray.shutdown()
"""
"""Connecting in a child first: ``ray.init`` can retry forever (a refused port, a port that is not Ray's), and
only a child can be stopped when it does."""
_REFUSED_TOKEN = ("Unauthenticated", "InvalidAuthToken")  # what Ray's GCS client logs for a wrong or missing token


def connect(address: str) -> Any:
    """Connect this driver to the cluster at ``address`` or fail within :data:`CONNECT_SECONDS`, naming the
    address and what was tried. Never starts a local Ray: not here, not on an error path, not at shutdown
    (``RAY_ENABLE_AUTO_CONNECT=0`` makes any Ray call without a connection an error instead)."""
    os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
    token = _token_source()
    if token is not None and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"  # send the token we have; a cluster without auth accepts it too
    ray = _import_ray()  # after the environment above: Ray reads some of it when imported
    tried = [f"a Ray token from {token}" if token else "no Ray token (none in the environment or ~/.ray)"]
    hostport = address.removeprefix("ray://")
    if address != "auto":
        host, _, port = hostport.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError as exc:
            raise _connect_error(address, f"nothing answers there ({exc.strerror or exc})", tried) from exc
        tried.append("a TCP connection to it (it answered)")
    rc, said = _probe(address)
    if rc is None:
        raise _connect_error(address, f"no Ray cluster answered within {CONNECT_SECONDS:.0f} s", tried)
    if rc == 3 or (rc == 4 and token is None):
        raise EncodeError(
            "encode --ray",
            f"the Ray cluster at {address} requires a token and this driver has none ({said}).",
            f"set {TOKEN_VARIABLES} to the cluster's token (`ray get-auth-token` on its head node).",
        )
    if rc == 4:
        raise EncodeError(
            "encode --ray",
            f"the Ray cluster at {address} refused this driver's token from {token} ({said}).",
            f"set {TOKEN_VARIABLES} to the cluster's own token (`ray get-auth-token` on its head node).",
        )
    if rc != 0:
        raise _connect_error(address, said or f"the connection test exited with {rc}", tried)
    ray.init(address=address, log_to_driver=False, logging_level="warning")
    return ray


def _probe(address: str) -> tuple[int | None, str]:
    """Run :data:`_PROBE` against ``address``: its exit code (None: no answer within :data:`CONNECT_SECONDS`;
    4: the cluster refused the token) and its last word. Ray retries a refused token for about 20 s before it
    says only "Failed to connect"; its GCS client logs the refusal on its first try, so the first such line ends
    the test at once."""
    proc = subprocess.Popen([sys.executable, "-c", _PROBE, address], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            env=os.environ | {"RAY_ENABLE_AUTO_CONNECT": "0"})  # fmt: skip
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline, last = time.monotonic() + CONNECT_SECONDS, ""
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None, last
            if line is None:
                return proc.wait(), last
            if any(word in line for word in _REFUSED_TOKEN):
                return 4, line.rsplit(": ", 1)[-1].strip()[:200]
            last = line.strip()[:300] or last
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _token_source() -> str | None:
    """Where a Ray token for this driver is, as Ray looks for it: the environment, then ``~/.ray/auth_token``."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path and os.path.isfile(path):
        return f"RAY_AUTH_TOKEN_PATH ({path})"
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def _connect_error(address: str, problem: str, tried: list[str]) -> EncodeError:
    """One short first line (what failed), then what was tried and what to do; a token, when the cause may be one."""
    short = problem if len(problem) <= 100 else problem[:97] + "..."
    token_words = any(word in problem.lower() for word in ("auth", "token", "unauthenticated"))
    fix = (f"give this driver the cluster's token: {TOKEN_VARIABLES} (`ray get-auth-token` on its head node)."
           if token_words else
           f"start the cluster (ray start --head) and pass its address; a token cluster needs {TOKEN_VARIABLES}.")  # fmt: skip
    return EncodeError(
        "encode --ray",
        f"could not connect to the Ray cluster at {address}: {short}.",
        fix,
        f"tried: {'; '.join(tried)}" + (f"\nRay said: {problem}" if short != problem else ""),
    )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise EncodeError(
            "encode --ray", f"Ray is not installed ({exc}).", "pip install 'vsenhance[cluster]' on every node."
        ) from exc
    return ray


def check_storage(script: Path, state_dir: Path) -> str | None:
    """None when this node reads ``script`` and writes in ``state_dir``; else what failed, naming the node."""
    node = f"{socket.gethostname()} ({_node_ip()})"
    try:
        with open(script, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"node {node} cannot read the script {script}: {exc.strerror or exc}"
    probe = state_dir / f".storage-check-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"node {node} cannot create and delete a file in the state folder {state_dir}: {exc.strerror or exc}"
    return None


def _node_ip() -> str:
    with contextlib.suppress(Exception):
        import ray

        return ray.util.get_node_ip_address()
    return "?"


class RenderActor:
    """Runs on a node: one worker subprocess (a one-worker LocalPool) and a relay of its events."""

    def __init__(
        self, worker_id: str, script: str, script_args: ScriptArgs, output_index: int, state_dir: str,
        env: dict[str, str],
    ) -> None:  # fmt: skip
        self.problem = check_storage(Path(script), Path(state_dir))
        self.pool: LocalPool | None = None
        if self.problem is None:
            self.pool = LocalPool(
                Path(script), script_args, output_index=output_index, id_prefix=f"{worker_id}-w", env=env
            )
            self.pool.start()

    def check(self) -> str | None:
        return self.problem

    def submit(self, worker_id: str, task: Task) -> None:
        assert self.pool is not None
        self.pool.submit(worker_id, task)

    def events(self, timeout: float) -> list[Event]:
        return self.pool.poll(timeout) if self.pool is not None else []

    def stop_worker(self, worker_id: str) -> None:
        if self.pool is not None:
            self.pool.stop_worker(worker_id)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


class _Actor:
    def __init__(self, worker_id: str, handle: Any) -> None:
        self.worker_id = worker_id
        self.handle = handle
        self.task: Task | None = None
        self.lock = threading.Lock()
        self.gone = False


class RayPool:
    """Render workers as Ray actors; see the module docstring."""

    def __init__(
        self,
        address: str,
        script: Path,
        script_args: ScriptArgs | None = None,
        *,
        state_dir: Path,
        workers: int | None = None,
        output_index: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.address = address
        self.env = dict(env or {})  # --env: the driver's variables every worker's script sees
        self.script = Path(os.path.abspath(script))
        self.script_args = dict(script_args or {})
        self.state_dir = Path(os.path.abspath(state_dir))
        self.workers = workers
        self.output_index = output_index
        self._ray: Any = None
        self._remote: Any = None  # RenderActor as a Ray actor class
        self._connected_here = False
        self._options: dict[str, Any] = {}
        self._actors: dict[str, _Actor] = {}
        self._threads: list[threading.Thread] = []
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._next = 0
        self._closing = False

    # --- Pool ----------------------------------------------------------------------------------------
    def start(self) -> int:
        """Connect, place the actors and wait for every storage check (EncodeError naming the failing nodes);
        the workers then execute the script and report Ready through :meth:`poll`."""
        ray = sys.modules.get("ray")  # not imported here before connect() has set Ray's environment
        if ray is None or not ray.is_initialized():
            ray = connect(self.address)
            self._connected_here = True
        self._ray = ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            count, self._options = gpus, {"num_gpus": 1}
        else:
            nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
            count = self.workers or max(1, nodes)
            cpus = max(1, int(resources.get("CPU", 1)) // count)
            self._options = {"num_cpus": cpus, "scheduling_strategy": "SPREAD"}
        actors = [self._new_actor() for _ in range(count)]
        checks = [actor.handle.check.remote() for actor in actors]
        ready, pending = ray.wait(checks, num_returns=len(checks), timeout=START_SECONDS)
        problems = []
        if pending:
            problems.append(
                f"the cluster placed only {len(ready)} of {count} workers ({self._options}) in {START_SECONDS:.0f} s"
            )
        for ref in ready:
            try:
                problem = ray.get(ref)
            except ray.exceptions.RayError as exc:
                problem = f"a worker actor failed to start: {_first_line(exc)}"
            if problem:
                problems.append(problem)
        if problems:
            self.shutdown()
            raise EncodeError(
                "encode --ray",
                "; ".join(problems) + ".",
                "put the script, its sources and the output folder on storage every node mounts at the same path "
                "(and check the cluster's resources with `ray status`).",
            )
        for actor in actors:
            self._relay(actor)
        return count

    def submit(self, worker_id: str, task: Task) -> None:
        actor = self._actors[worker_id]
        with actor.lock:
            actor.task = task
        actor.handle.submit.remote(worker_id, task)  # an actor gone by now is reported by its relay

    def poll(self, timeout: float) -> list[Event]:
        return drain(self._events, timeout)

    def stop_worker(self, worker_id: str) -> None:
        actor = self._actors.get(worker_id)
        if actor is not None and not actor.gone:
            actor.handle.stop_worker.remote(worker_id)  # the actor ends its worker, whose Died it relays

    def replace(self, worker_id: str) -> str | None:
        if self._closing or self._ray is None:
            return None
        actor = self._new_actor()
        threading.Thread(target=self._check_then_relay, args=(actor,), daemon=True).start()
        return actor.worker_id

    def shutdown(self) -> None:
        """Stop every worker (each removes its partial), end the actors, disconnect."""
        self._closing = True
        ray, self._ray = self._ray, None  # once: a Ray call after ray.shutdown() would start a local Ray
        if ray is None:
            return
        actors = list(self._actors.values())
        stops = [a.handle.stop.remote() for a in actors if not a.gone]
        with contextlib.suppress(Exception):
            ray.wait(stops, num_returns=len(stops), timeout=15)
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor.handle)
        for thread in self._threads:
            thread.join(timeout=2 * EVENT_WAIT_SECONDS + 1)
        for actor in actors:
            _remove_partial(actor.task)
        if self._connected_here:
            with contextlib.suppress(Exception):
                ray.shutdown()

    # --- internals -----------------------------------------------------------------------------------
    def _new_actor(self) -> _Actor:
        ray = self._ray
        worker_id = f"r{self._next}"
        self._next += 1
        if self._remote is None:
            self._remote = ray.remote(max_concurrency=4, max_restarts=0)(RenderActor)
        handle = self._remote.options(**self._options).remote(
            worker_id, os.fspath(self.script), self.script_args, self.output_index, os.fspath(self.state_dir), self.env
        )
        actor = _Actor(f"{worker_id}-w0", handle)  # the id its one-worker LocalPool gives the worker
        self._actors[actor.worker_id] = actor
        self._events.put(Started(actor.worker_id, self.script.name, placing=True))
        return actor

    def _check_then_relay(self, actor: _Actor) -> None:
        ray = self._ray
        try:
            problem = ray.get(actor.handle.check.remote(), timeout=START_SECONDS)
        except Exception as exc:  # the actor died or could not be placed
            problem = _why_gone(exc)
        if problem:
            actor.gone = True
            self._events.put(Failed(actor.worker_id, None, problem, ""))
            self._events.put(Died(actor.worker_id, None, problem))
            with contextlib.suppress(Exception):
                ray.kill(actor.handle)
            return
        self._relay(actor)

    def _relay(self, actor: _Actor) -> None:
        thread = threading.Thread(target=self._pump, args=(actor,), name=f"farm-{actor.worker_id}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _pump(self, actor: _Actor) -> None:
        """Relay the actor's events until its worker dies, the actor dies, or the pool shuts down."""
        ray = self._ray
        while not self._closing:
            try:
                events = ray.get(actor.handle.events.remote(EVENT_WAIT_SECONDS))
            except Exception as exc:  # RayActorError (process killed, node lost) or the connection gone
                if self._closing:
                    return
                actor.gone = True
                with actor.lock:
                    task, actor.task = actor.task, None
                _remove_partial(task)  # shared storage: the node may be gone with its worker
                index = task.index if isinstance(task, RenderTask) else None
                self._events.put(Died(actor.worker_id, index, _why_gone(exc)))
                return
            for event in events:
                if isinstance(event, Finished | Failed | Probed | Died):
                    with actor.lock:
                        actor.task = None
                self._events.put(event)
                if isinstance(event, Died):  # the worker subprocess is gone: free the actor's resources
                    actor.gone = True
                    with contextlib.suppress(Exception):
                        ray.kill(actor.handle)
                    return


def _why_gone(exc: BaseException) -> str:
    """One short line for an actor Ray reports gone; Ray's own words (actor ids, RPC codes) go to the log."""
    text = str(exc)
    log.debug("Ray on the lost actor: %s", text)
    if "node" in text.lower() and any(word in text for word in ("died", "dead", "removed", "lost")):
        return "its Ray node left the cluster"
    if "unavailable" in text or "Socket closed" in text:
        return "its Ray actor stopped answering (its process or its node is gone)"
    first = _first_line(exc).split(". ")[0]
    return f"its Ray actor died ({first if len(first) <= 120 else first[:117] + '...'})"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _remove_partial(task: Task | None) -> None:
    if isinstance(task, RenderTask):
        with contextlib.suppress(OSError):
            os.unlink(task.partial)
