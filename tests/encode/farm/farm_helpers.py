"""Helpers for the farm tests (imported by name; the name is unique across the test tree)."""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.encode.encode_helpers import find_vspipe
from vsenhance.encode.farm import wire
from vsenhance.encode.farm.protocol import Event, RenderTask, Task
from vsenhance.encode.programs import child_env

# An "ffmpeg" that copies the y4m it is given into the partial file, byte for byte.
COPY = (sys.executable, "-c", "import shutil,sys; shutil.copyfileobj(sys.stdin.buffer, open(sys.argv[1], 'wb'))")

# Appended to encode_helpers.SCRIPT: each execution of the script adds a line to the file named by -a count=...
COUNT_EXECUTIONS = """
if "count" in globals():
    with open(count, "a") as fh:
        fh.write("executed\\n")
"""


def copy_argv(partial: Path) -> tuple[str, ...]:
    return (*COPY, os.fspath(partial))


def vspipe_y4m(script: Path, first: int, last: int, *args: str) -> bytes:
    argv = [os.fspath(find_vspipe()), "-c", "y4m", "-s", str(first), "-e", str(last)]
    for a in args:
        argv += ["-a", a]
    done = subprocess.run([*argv, os.fspath(script), "-"], capture_output=True, env=child_env(), timeout=60, check=True)
    return done.stdout


class WorkerProcess:
    """One worker subprocess driven by hand: tasks in, every raw channel line kept, events out."""

    def __init__(self, script: Path, *args: str, worker_id: str = "w0") -> None:
        argv = [sys.executable, "-m", "vsenhance.encode.farm.worker", os.fspath(script), "--id", worker_id]
        for a in args:
            argv += ["-a", a]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()
        )
        self.lines: list[bytes] = []
        self._events: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._events.put(wire.loads(line))
        self._events.put(None)

    def send(self, task: Task) -> None:
        self.proc.stdin.write((wire.dumps(task) + "\n").encode())
        self.proc.stdin.flush()

    def next_event(self, timeout: float = 60) -> Event:
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event in {timeout} s; stderr: {self.stderr()[-2000:]}") from None
        assert event is not None, f"the worker's channel closed; stderr: {self.stderr()[-2000:]}"
        return event

    def wait_for(self, kind: type, timeout: float = 60) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.1, deadline - time.monotonic()))
            if isinstance(event, kind):
                return event

    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def close(self, timeout: float = 10) -> int:
        """Close stdin and wait for the exit code (killed after ``timeout``)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


# Appended to encode_helpers.SCRIPT: each execution records "<NODE_TAG> <pid>" in the file named by -a nodes=...
RECORD_NODE = """
if "nodes" in globals():
    import os
    with open(nodes, "a") as fh:
        fh.write(f"{os.environ.get('NODE_TAG')} {os.getpid()}\\n")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class RayCluster:
    """Ray nodes on this machine (2 CPUs each; resources node_a, node_b ...; env NODE_TAG=a, b ...).

    Hermetic: every node and every driver that connects (``env``) has this cluster's own ``HOME``, so Ray's
    token file (``~/.ray/auth_token``, written when an instance starts) is this cluster's, and a token in the
    user's ``HOME`` changes nothing. Every process ``ray start`` leaves behind stays in the session it was started
    in, so :meth:`stop` ends exactly those sessions' processes (never ``ray stop``, which would end every Ray on
    the machine).

    Private: Ray's GCS, raylets and agents listen on every interface whatever ``--node-ip-address`` says (Ray has
    no setting that binds them), so where this process may (root, with ``unshare``), the nodes run in a network
    namespace of their own that has loopback alone (``netns``): reachable from no other machine and no other
    namespace. A driver joins it: a subprocess through ``enter`` (an argv prefix, empty without a namespace),
    this process through :meth:`inside`.
    """

    def __init__(self, temp_dir: Path, nodes: int = 2, num_gpus: int = 0, token: bool = False) -> None:
        self.temp_dir = temp_dir
        self.home = temp_dir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = child_env() | {"HOME": str(self.home)}  # for a driver of this cluster
        for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE", "RAY_ADDRESS"):
            self.env.pop(var, None)
        self.token: str | None = None
        if token:  # Ray's token authentication, its default: every node and every driver needs this token
            self.token = secrets.token_hex(32)
            (self.home / ".ray").mkdir(exist_ok=True)
            (self.home / ".ray" / "auth_token").write_text(self.token)
        self.sessions: list[int] = []
        self.nodes: dict[str, int] = {}  # tag -> session
        self.netns: Path | None = None  # /proc/PID/ns/net of the namespace's holder
        self.enter: list[str] = []
        try:
            if private_network_why_not() is None:
                self._private_network()
            port = free_port()
            self.address = f"127.0.0.1:{port}"
            self._start("a", num_gpus, "--head", f"--port={port}", "--include-dashboard=false")
            for tag in "bcdefgh"[: nodes - 1]:
                self._start(tag, num_gpus, f"--address={self.address}")
        except BaseException:
            self.stop()
            raise

    def _private_network(self) -> None:
        """A network namespace with loopback up, held by a sleeping process in a session of ours."""
        holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec sleep 86400"],
            stdout=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        self.sessions.append(holder.pid)
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"up":
            raise RuntimeError(f"could not bring loopback up in a new network namespace ({holder.wait()})")
        self.netns = Path(f"/proc/{holder.pid}/ns/net")
        self.enter = ["nsenter", f"--net={self.netns}", "--"]

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """This thread (and the threads and children it starts) in the cluster's network namespace."""
        if self.netns is None:
            yield
            return
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            with open(self.netns, "rb") as ns:
                os.setns(ns.fileno(), os.CLONE_NEWNET)
            try:
                yield
            finally:
                os.setns(own, os.CLONE_NEWNET)
        finally:
            os.close(own)

    def _start(self, tag: str, num_gpus: int, *args: str) -> None:
        ray = Path(sys.executable).with_name("ray")
        argv = [os.fspath(ray), "start", *args, "--node-ip-address=127.0.0.1", "--num-cpus=2", f"--num-gpus={num_gpus}"]
        argv += [f'--resources={{"node_{tag}": 1}}', f"--temp-dir={self.temp_dir}", "--disable-usage-stats"]
        env = self.env | {"NODE_TAG": tag} | ({"RAY_AUTH_MODE": "token"} if self.token else {})
        proc = subprocess.Popen(
            [*self.enter, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.sessions.append(proc.pid)
        self.nodes[tag] = proc.pid  # the session its processes stay in
        out, _ = proc.communicate(timeout=90)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}): {out.decode()[-2000:]}")

    def stop_node(self, tag: str) -> None:
        """Kill every process of node ``tag`` at once (a machine that vanished); the other nodes go on."""
        for pid in self._members([self.nodes[tag]]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _members(self, sessions: list[int] | None = None) -> list[int]:
        wanted = self.sessions if sessions is None else sessions
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2 :].split()[3]) in wanted:
                    pids.append(int(entry.name))
        return pids

    def stop(self, grace: float = 5.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self._members():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(alive(p) for p in self._members()):
                time.sleep(0.1)


def private_network_why_not() -> str | None:
    """None where test clusters get a network namespace of their own; else why not (for a skip's reason)."""
    if os.geteuid() != 0:
        return "a network namespace needs root (unshare --net)"
    missing = [tool for tool in ("unshare", "nsenter", "ip", "ss") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (util-linux, iproute2)"
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return "unshare --net is not permitted here (a container without CAP_SYS_ADMIN)"
    return None


def copy_task(tmp: Path, index: int, first: int, last: int) -> RenderTask:
    """A render task whose "encoder" copies the y4m bytes into ``seg{index}.y4m``."""
    partial = tmp / f"seg{index}.partial"
    return RenderTask(index, first, last, copy_argv(partial), str(partial), str(tmp / f"seg{index}.y4m"))


def poll_until(pool, want, timeout: float = 90) -> list[Event]:
    """Poll ``pool`` until ``want(events so far)`` holds; returns every event seen."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while not want(seen):
        assert time.monotonic() < deadline, f"timed out; events: {seen}"
        seen += pool.poll(0.2)
    return seen
