"""The fault table: what a week-long job on real machines meets, and what the encoder does about it.

Each row is a fault and its expected outcome, and every row ends either frame-exact (framemd5 of the encode
equals a direct ``vspipe | ffmpeg`` of the same script) or as a clear refusal with nothing lost (the finished
segments' bytes unchanged). A new fault is a new row: a function ``(Job) -> None`` added to ``FAULTS``.

The script reads ``control.json`` beside it, so a row can change the world between runs without changing the
script or its ``-a`` arguments (which the fingerprint covers): the clip's format, size and rate, a frame that
fails, a frame that never returns, a source video it reads.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.encode.encode_helpers import direct_framemd5, framemd5, make_ffv1, start_cli, wait_for_done_segments
from tests.models.pose import posekit
from vsenhance.cli import main
from vsenhance.encode import state as state_module
from vsenhance.encode import verify

pytestmark = pytest.mark.slow

SCRIPT = """\
import json
import os
import time
import vapoursynth as vs
core = vs.core
control = json.load(open("control.json"))  # beside the script: what the world looks like in this run
HUNG = os.path.abspath("hung.once")  # frames are made after the script ran, in the worker's own folder
width, height = control.get("size", [64, 48])
if "source" in control:  # a source video the script reads (bestsource keeps it open while frames are made)
    clip = core.bs.VideoSource(control["source"], cachemode=0)
    clip = core.resize.Point(clip, format=vs.YUV420P8, matrix_s="709")
else:
    clip = core.std.BlankClip(format=vs.YUV420P8, width=width, height=height, length=40,
                              fpsnum=control.get("fps", 24), color=[40, 128, 128])
    clip = core.text.FrameNum(clip, alignment=5)
if control.get("bits", 8) == 10:
    clip = core.resize.Point(clip, format=vs.YUV420P10)

def per_frame(n, f):
    if n == control.get("failat"):
        raise RuntimeError(f"planned failure at frame {n}")
    if n == control.get("cuda_breaks") and not os.path.exists(HUNG):
        open(HUNG, "w").close()
        raise RuntimeError("CUDA error: an illegal memory access was encountered")  # what a broken context says
    if n == control.get("hang") and not os.path.exists(HUNG):
        open(HUNG, "w").close()
        time.sleep(3600)  # a frame that never comes: a GPU hang, a deadlocked plugin, a stuck mount
    time.sleep(control.get("delay", 0))
    return f

clip = core.std.ModifyFrame(clip, clip, per_frame)
clip.set_output()
"""


@dataclass
class Job:
    """One row's encode: its folder, script, output and the world (``control.json``) the script sees."""

    folder: Path
    capsys: pytest.CaptureFixture
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    control: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.script = self.folder / "clip.vpy"
        self.script.write_text(SCRIPT)
        self.out = self.folder / "out.mkv"
        self.state = self.folder / "out.mkv.vsenhance"
        self.world()

    def world(self, **changes) -> None:
        self.control = {**self.control, **changes}
        self.control = {k: v for k, v in self.control.items() if v is not None}
        (self.folder / "control.json").write_text(json.dumps(self.control))

    def encode(self, *extra: str) -> tuple[int, str]:
        argv = ["encode", str(self.script), "-o", str(self.out), "--encoder", "ffv1", "--segment-frames", "8"]
        rc = main([*argv, *extra])
        return rc, self.capsys.readouterr().err

    def interrupted(self) -> dict[str, bytes]:
        """A first run that stops with segments 0 and 1 finished (frame 20 fails); their bytes."""
        self.world(failat=20)
        rc, err = self.encode("--max-retries", "0")
        assert rc == 2 and "planned failure at frame 20" in err, err
        self.world(failat=None)
        return self.segments()

    def segments(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.state.glob("seg_*.mkv"))}

    def frame_exact(self, err: str = "") -> None:
        assert self.out.is_file(), err
        assert framemd5(self.out) == direct_framemd5(self.script)


def _refused(job: Job, rc: int, err: str, fragment: str, kept: dict[str, bytes]) -> None:
    assert rc == 2 and fragment in err, err
    assert job.segments() == kept  # nothing lost


# --- the rows ----------------------------------------------------------------------------------------------
def clip_format_changes(job: Job) -> None:
    kept = job.interrupted()
    job.world(bits=10)
    _refused(job, *job.encode(), "the clip's format (YUV420P8 → YUV420P10)", kept)
    job.world(bits=None)
    job.frame_exact(job.encode()[1])


def clip_size_changes(job: Job) -> None:
    kept = job.interrupted()
    job.world(size=[96, 64])
    _refused(job, *job.encode(), "the clip's size (64x48 → 96x64)", kept)
    job.world(size=None)
    job.frame_exact(job.encode()[1])


def clip_rate_changes(job: Job) -> None:
    kept = job.interrupted()
    job.world(fps=25)
    _refused(job, *job.encode(), "the clip's frame rate (24/1 → 25/1)", kept)
    job.world(fps=None)
    job.frame_exact(job.encode()[1])


def damaged_segment(job: Job) -> None:
    job.interrupted()
    seg = job.state / "seg_00000.mkv"
    data = bytearray(seg.read_bytes())
    for offset in (len(data) // 2, len(data) // 2 + 7):
        data[offset] ^= 0xFF  # inside a frame: the packet count is right, a slice CRC is not
    seg.write_bytes(bytes(data))
    rc, err = job.encode()
    # its record proves it is not the file that was verified: aside, without a decode that might pass
    assert rc == 0 and "segment 0 (frames 0-7) is not the file that was verified" in err, err
    assert [p.name.split(".")[0] for p in (job.state / "rejected").iterdir()] == ["seg_00000"]  # aside, not gone
    job.frame_exact(err)


def swapped_segment(job: Job) -> None:
    job.interrupted()
    # segment 0 copied over segment 1: the same format and frame count, 8 wrong frames
    (job.state / "seg_00001.mkv").write_bytes((job.state / "seg_00000.mkv").read_bytes())
    rc, err = job.encode()
    assert rc == 0 and "segment 1 (frames 8-15) is not the file that was verified" in err, err
    job.frame_exact(err)


def plan_deleted(job: Job) -> None:
    kept = job.interrupted()
    (job.state / "plan.json").unlink()
    _refused(job, *job.encode(), "holds segment files but no plan", kept)
    rc, err = job.encode()
    assert "--restart" in err
    rc, err = job.encode("--restart")
    assert rc == 0, err
    job.frame_exact(err)


def _fake_ffmpeg(job: Job, behaviour: str) -> None:
    """An ffmpeg first on PATH that fails (or hangs) when it checks seg_00000, and is ffmpeg otherwise."""
    real = subprocess.run(["which", "ffmpeg"], capture_output=True, text=True, check=True).stdout.strip()
    folder = job.folder / "bin"
    folder.mkdir()
    fake = folder / "ffmpeg"
    fake.write_text(f"""#!/bin/sh
case "$*" in
  *seg_00000.mkv*framecrc*) {behaviour} ;;
esac
exec {real} "$@"
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    job.monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    job.monkeypatch.setattr(state_module, "CHECK_PAUSE_SECONDS", 0)


def _check_of_one_file_fails(job: Job, behaviour: str, reason: str) -> None:
    kept = job.interrupted()
    (job.state / "done.json").unlink()  # no record: every segment on disk must be decoded again
    _fake_ffmpeg(job, behaviour)
    rc, err = job.encode()
    _refused(job, rc, err, "seg_00000.mkv could not be checked 3 times", kept)
    assert reason in err and "it is kept and nothing was deleted" in err, err
    job.monkeypatch.undo()  # the storage recovers
    rc, err = job.encode()
    assert rc == 0, err
    job.frame_exact(err)


def checker_fails_for_one_file(job: Job) -> None:
    _check_of_one_file_fails(job, "echo 'lost the connection to the storage server' >&2; exit 1", "storage server")


def checker_hangs_for_one_file(job: Job) -> None:
    job.monkeypatch.setattr(verify, "CHECK_MIN_SECONDS", 2.0)
    _check_of_one_file_fails(job, "sleep 600", "decoding it took longer than 8 s")


def frame_never_returns(job: Job) -> None:
    job.world(hang=12)
    rc, err = job.encode("--stall-timeout", "3")
    assert rc == 0 and "worker w0 delivered no frame for 3s" in err and "it stalled" in err, err
    job.frame_exact(err)


def cuda_context_breaks(job: Job) -> None:
    job.world(cuda_breaks=12)
    rc, err = job.encode()
    assert rc == 0 and "its CUDA context is broken, so the worker exits" in err, err
    assert "worker w1 ready" in err  # the worker that exited was replaced
    job.frame_exact(err)


def worker_stopped(job: Job) -> None:
    job.world(delay=0.05)
    argv = ["encode", str(job.script), "-o", str(job.out), "--encoder", "ffv1", "--segment-frames", "8"]
    proc = start_cli(*argv, "--stall-timeout", "3")
    worker = None
    deadline = time.monotonic() + 60
    while worker is None and time.monotonic() < deadline:
        worker = _worker_pid(job.script)
        time.sleep(0.2)
    assert worker is not None
    time.sleep(1.0)  # mid-segment
    os.kill(worker, signal.SIGSTOP)
    _out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "delivered no frame" in err.decode(), err.decode()[-3000:]
    job.frame_exact(err.decode())


def script_edited_mid_encode(job: Job) -> None:
    job.world(delay=0.05)
    argv = ["encode", str(job.script), "-o", str(job.out), "--encoder", "ffv1", "--segment-frames", "8"]
    proc = start_cli(*argv, "--workers", "2")
    wait_for_done_segments(job.state, 1, proc, timeout=120)
    original = job.script.read_text()
    job.script.write_text(original + "clip = clip.std.Invert()\nclip.set_output()\n")  # the edit
    worker = _worker_pid(job.script)
    assert worker is not None
    os.kill(worker, signal.SIGKILL)  # its replacement executes the script as it is now
    _out, err = proc.communicate(timeout=180)
    said = err.decode()
    assert proc.returncode == 2 and "executed the script as it is now, which is not the script" in said, said[-3000:]
    kept = job.segments()
    assert kept  # finished segments are kept; the old script resumes them
    job.script.write_text(original)
    job.world(delay=None)
    rc, err2 = job.encode()
    assert rc == 0, err2
    job.frame_exact(err2)


def output_folder_removed_mid_encode(job: Job) -> None:
    job.world(delay=0.05)
    folder = job.folder / "films"
    folder.mkdir()
    out = folder / "o.mkv"
    proc = start_cli("encode", str(job.script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "8")
    wait_for_done_segments(folder / "o.mkv.vsenhance", 1, proc, timeout=120)
    shutil.rmtree(folder)
    _out, err = proc.communicate(timeout=120)
    said = err.decode()
    assert proc.returncode == 2 and "is gone (the output's folder removed or unmounted?)" in said, said[-2000:]
    assert "Traceback" not in said and said.count("error:") == 1


def state_folder_not_writable(job: Job) -> None:
    kept = job.interrupted()
    os.chmod(job.state, 0o555)  # another user's, or made read-only since
    # root writes anywhere: the encode runs as root without the capabilities that override permissions
    as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    if as_user and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run the encode without root's permission override")
    try:
        proc = start_cli("encode", str(job.script), "-o", str(job.out), "--encoder", "ffv1", "--segment-frames", "8",
                         "--resume", enter=as_user)  # fmt: skip
        _out, err = proc.communicate(timeout=120)
    finally:
        os.chmod(job.state, 0o755)
    said = err.decode()
    assert proc.returncode == 2 and "cannot be written by this user" in said.splitlines()[0], said
    assert "Traceback" not in said and job.segments() == kept
    rc, err = job.encode("--resume")
    assert rc == 0, err
    job.frame_exact(err)


def _worker_pid(script: Path) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if "vsenhance.encode.farm.worker" in argv and str(script) in argv:
                return int(entry.name)
    return None


def closed_ray_port(job: Job) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'vsenhance[cluster]')")
    start = time.monotonic()
    rc, err = job.encode("--ray", "127.0.0.1:1")
    assert rc == 2 and "could not connect to the Ray cluster at 127.0.0.1:1" in err and "Connection refused" in err
    assert time.monotonic() - start < 30 and not job.state.exists()


def _ray_token(job: Job, token: str) -> tuple[int, str]:
    cluster = job.request.getfixturevalue("ray_token_cluster")
    home = job.folder / "home"
    (home / ".ray").mkdir(parents=True)
    env = {"HOME": str(cluster.home if token == "right" else home)}
    if token == "wrong":
        (home / ".ray" / "auth_token").write_text("0" * 64)
    if token == "missing":
        env["RAY_AUTH_MODE"] = "token"  # the cluster's mode, without its token
    argv = ["encode", str(job.script), "-o", str(job.out), "--encoder", "ffv1", "--segment-frames", "8"]
    start = time.monotonic()
    proc = start_cli(*argv, "--ray", cluster.address, env=env, enter=cluster.enter)
    _out, err = proc.communicate(timeout=180)
    if token != "right":  # said at Ray's first refusal, not after its ~20 s of retries
        assert time.monotonic() - start < 15, err
    # no local Ray was started in the cluster's place: it would have written a token of its own into HOME
    assert sorted(p.name for p in (home / ".ray").iterdir()) == (["auth_token"] if token == "wrong" else [])
    return proc.returncode, err.decode()


def token_cluster_with_its_token(job: Job) -> None:
    rc, err = _ray_token(job, "right")
    assert rc == 0, err[-3000:]
    job.frame_exact(err)


def token_cluster_without_a_token(job: Job) -> None:
    rc, err = _ray_token(job, "missing")
    assert rc == 2 and "requires a token and this driver has none" in err and "RAY_AUTH_TOKEN_PATH" in err, err
    assert not job.out.exists()


def token_cluster_with_a_wrong_token(job: Job) -> None:
    rc, err = _ray_token(job, "wrong")
    first = err.splitlines()[0]
    assert rc == 2 and "refused this driver's token" in first and "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH" in err, err
    assert not job.out.exists()


def output_is_the_source(job: Job) -> None:
    victim = make_ffv1(job.folder / "victim.mkv", 24)
    before = victim.read_bytes()
    job.world(source=str(victim))
    job.out = victim
    rc, err = job.encode("-y")
    assert rc == 2 and "is the input" in err and str(victim) in err, err
    assert victim.read_bytes() == before and not list(job.folder.glob("victim.mkv.vsenhance/seg_*"))


def _pose_export(job: Job, output: Path, *extra: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    script = job.folder / "pose.vpy"
    script.write_text(POSE_SCRIPT)
    det, pose = posekit.bright_detector(job.folder / "bd.onnx"), posekit.dot_pose(job.folder / "dp.onnx")
    argv = [sys.executable, "-m", "vsenhance", "pose-export", str(script), "-o", str(output), "-a", f"det={det}",
            "-a", f"pose={pose}", *extra]  # fmt: skip
    return subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)


POSE_SCRIPT = """\
import vapoursynth as vs
import vsenhance as vse
clip = vs.core.std.BlankClip(width=96, height=64, format=vs.RGBS, length=3, color=[0.8, 0.8, 0.8])
vse.pose(clip, det, pose, providers="cpu").set_output()
"""


def pose_export_over_an_existing_file(job: Job) -> None:
    existing = job.folder / "poses.json"
    existing.write_text("precious")
    proc = _pose_export(job, existing)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "already exists" in err.decode() and "-y" in err.decode()
    assert existing.read_text() == "precious"
    proc = _pose_export(job, existing, "-y")
    assert proc.wait(timeout=120) == 0 and json.loads(existing.read_text())["num_frames"] == 3


def pose_export_into_a_fifo(job: Job) -> None:
    fifo = job.folder / "poses.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = _pose_export(job, fifo)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and json.loads(got[0])["num_frames"] == 3  # written through


def pose_export_through_a_symlink_to_stdout(job: Job) -> None:
    link = job.folder / "poses-link.json"
    link.symlink_to("/proc/self/fd/1")
    proc = _pose_export(job, link, stdout=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"  # the link is kept
    assert json.loads(out)["num_frames"] == 3


FAULTS: list[Callable[[Job], None]] = [
    clip_format_changes,
    clip_size_changes,
    clip_rate_changes,
    damaged_segment,
    swapped_segment,
    plan_deleted,
    checker_fails_for_one_file,
    checker_hangs_for_one_file,
    frame_never_returns,
    cuda_context_breaks,
    worker_stopped,
    script_edited_mid_encode,
    output_folder_removed_mid_encode,
    state_folder_not_writable,
    closed_ray_port,
    token_cluster_with_its_token,
    token_cluster_without_a_token,
    token_cluster_with_a_wrong_token,
    output_is_the_source,
    pose_export_over_an_existing_file,
    pose_export_into_a_fifo,
    pose_export_through_a_symlink_to_stdout,
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__.replace("_", "-"))
def test_fault(fault, tmp_path, capsys, monkeypatch, request):
    fault(Job(tmp_path, capsys, monkeypatch, request))
