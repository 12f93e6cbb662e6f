from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.encode import encode_helpers
from vsenhance.encode import programs
from vsenhance.errors import EncodeError
from vsenhance.script import script_args_argv


def test_find_vspipe_prefers_interpreter_folder_and_resolves_pip_wrapper():
    found = encode_helpers.find_vspipe()
    assert found.is_file() and os.access(found, os.X_OK)
    beside = Path(sys.executable).parent / "vspipe"
    if beside.is_file():
        # pip's Python wrapper is replaced by the binary it would run (signals reach it directly)
        assert found == beside or not found.read_bytes().startswith(b"#!")


def test_wrapper_detection(tmp_path):
    wrapper = tmp_path / "vspipe"
    wrapper.write_text("#!/usr/bin/python\nimport sys\nfrom vapoursynth import vspipe\n")
    other = tmp_path / "other"
    other.write_text("#!/bin/sh\nexec something\n")
    assert encode_helpers._real_vspipe(other) == other
    assert encode_helpers._real_vspipe(wrapper).name == "vspipe"


def test_missing_vspipe_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EncodeError, match="vspipe was found neither"):
        encode_helpers.find_vspipe()


def test_child_env_puts_interpreter_folder_first(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    env = programs.child_env()
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert script_args_argv({"a": "1", "b": "x y"}) == ["-a", "a=1", "-a", "b=x y"]


def test_run_checked_names_the_tool_and_its_stderr():
    with pytest.raises(EncodeError, match=r"listing failed \(sh exited with 3\):\nboom"):
        programs.run_checked(["sh", "-c", "echo boom >&2; exit 3"], "caller", "listing")
    with pytest.raises(EncodeError, match="could not start"):
        programs.run_checked([os.fspath(Path("/nonexistent/tool"))], "caller", "listing")


def test_stderr_tail_keeps_the_last_lines():
    assert programs.stderr_tail(b"a\nb\nc\n", lines=2) == "b\nc"
