"""A CPU-only farm's core shares and their taskset-style lists."""

from __future__ import annotations

import os

from vsenhance.encode.farm.cpus import cpu_shares, format_cpus, parse_cpus, pinned_cpus


def test_cpu_shares():
    assert cpu_shares(range(8), 3) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert cpu_shares([2, 3], 2) == [[2], [3]]
    assert cpu_shares([0, 1], 3) == [[0], [1], [0]]  # more workers than cores: cores are shared


def test_cpu_lists_round_trip():
    for cpus, text in [({0, 1, 2, 5}, "0-2,5"), ({3}, "3"), ({0, 2, 4}, "0,2,4"), ({1, 2, 3, 4}, "1-4")]:
        assert format_cpus(cpus) == text
        assert parse_cpus(text) == cpus


def test_pinned_cpus_is_none_when_every_core_is_usable():
    usable = os.sched_getaffinity(0)
    expected = None if len(usable) == os.cpu_count() else format_cpus(usable)
    assert pinned_cpus() == expected
