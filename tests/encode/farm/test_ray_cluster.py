"""The test clusters themselves: reachable from no other machine (their own network namespace, loopback only)."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from .farm_helpers import private_network_why_not


def _listeners(*enter: str) -> dict[int, set[int]]:
    """port -> pids of the processes listening on it, as ``ss`` sees them (in the namespace ``enter`` joins)."""
    out = subprocess.run([*enter, "ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found: dict[int, set[int]] = {}
    for line in out.splitlines():
        port = int(line.split()[3].rsplit(":", 1)[1])
        found.setdefault(port, set()).update(int(pid) for pid in re.findall(r"pid=(\d+)", line))
    return found


def test_a_test_cluster_listens_in_its_own_loopback_only_namespace(ray_cluster):
    why = private_network_why_not()
    if why is not None:
        pytest.skip(f"test clusters run on this machine's loopback, not a namespace of their own: {why}")
    members = set(ray_cluster._members())
    gcs_port = int(ray_cluster.address.rsplit(":", 1)[1])

    inside = _listeners(*ray_cluster.enter)
    assert gcs_port in inside and inside[gcs_port] & members  # the GCS listens there...
    assert len(inside) >= 3  # ...and the raylets' and agents' servers (the ones Ray binds to every interface)
    addresses = subprocess.run([*ray_cluster.enter, "ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert {line.split()[1] for line in addresses.splitlines()} == {"lo"}  # no interface but loopback

    outside = _listeners()
    assert not any(pids & members for pids in outside.values())  # not one of the cluster's sockets out here
    for host in {"127.0.0.1", socket.gethostbyname(socket.gethostname())}:
        with pytest.raises(OSError), socket.create_connection((host, gcs_port), timeout=2):
            pass  # nothing answers from this namespace, at loopback or at the machine's own address
