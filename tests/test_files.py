"""vsenhance.files: a file appears whole or not at all, whatever happens while it is written."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vsenhance.errors import FileError
from vsenhance.files import (
    atomic_open,
    atomic_path,
    atomic_write_json,
    can_create_in,
    check_output,
    same_file,
    sha256_file,
)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_atomic_open_replaces_only_when_complete(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("half of the new")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and not _leftovers(tmp_path)
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("new")
    assert target.read_text() == "new" and not _leftovers(tmp_path)
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_atomic_path_keeps_the_extension_for_tools(tmp_path):
    target = tmp_path / "film.mkv"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mkv" and tmp.name.startswith(".film.")
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data" and not _leftovers(tmp_path)


def test_a_failed_check_inside_the_block_publishes_nothing(tmp_path):
    target = tmp_path / "model.safetensors"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_bytes(b"corrupt")
        raise ValueError("checksum mismatch")
    assert not target.exists() and not _leftovers(tmp_path)


def test_json_and_sha256(tmp_path):
    target = tmp_path / "done.json"
    atomic_write_json(target, {"done": {"3": {"frames": 10}}, "name": "視頻"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"done": {"3": {"frames": 10}}, "name": "視頻"}
    blob = os.urandom(3 << 20)
    (tmp_path / "b").write_bytes(blob)
    assert sha256_file(tmp_path / "b") == hashlib.sha256(blob).hexdigest()


def test_sigkill_while_writing_leaves_the_old_file(tmp_path):
    target = tmp_path / "state.json"
    target.write_text('{"old": true}')
    child = (
        "import sys, time\n"
        "from vsenhance.files import atomic_open\n"
        "with atomic_open(sys.argv[1], 'w', encoding='utf-8') as fh:\n"
        "    fh.write('{\"new\": ')\n"
        "    fh.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child, str(target)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"writing\n"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert json.loads(target.read_text()) == {"old": True}  # the half-written temp file never replaced it


def test_same_file_through_links(tmp_path):
    target = tmp_path / "a.vpy"
    target.write_text("x")
    (tmp_path / "sym.vpy").symlink_to(target)
    os.link(target, tmp_path / "hard.vpy")
    assert same_file(tmp_path / "sym.vpy", target)
    assert same_file(tmp_path / "hard.vpy", target)
    assert not same_file(tmp_path / "other.vpy", target)  # a missing file compares by resolved path
    assert same_file(tmp_path / "sub" / ".." / "a.vpy", target)


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("input", "is the input"),
        ("folder", "is a directory"),
        ("missing-folder", "does not exist"),
        ("exists", "already exists"),
    ],
)
def test_check_output_refusals(tmp_path, case, fragment):
    source = tmp_path / "in.vpy"
    source.write_text("x")
    (tmp_path / "existing.mkv").write_bytes(b"")
    (tmp_path / "dir").mkdir()
    output = {
        "input": tmp_path / "link.vpy",
        "folder": tmp_path / "dir",
        "missing-folder": tmp_path / "nowhere" / "o.mkv",
        "exists": tmp_path / "existing.mkv",
    }[case]
    if case == "input":
        output.symlink_to(source)
    with pytest.raises(FileError, match=fragment):
        check_output("cmd", output, [source], overwrite=False)
    if case == "exists":  # the one refusal that -y lifts
        assert check_output("cmd", output, [source], overwrite=True) == output


def test_check_output_returns_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_output("cmd", type(tmp_path)("o.mkv"), [None]) == tmp_path / "o.mkv"


def test_can_create_in_tries_for_real(tmp_path) -> None:
    assert can_create_in(tmp_path) and list(tmp_path.iterdir()) == []  # the probe file is gone again
    assert not can_create_in(Path("/proc"))  # os.access says yes to root here
    assert not can_create_in(tmp_path / "missing")
