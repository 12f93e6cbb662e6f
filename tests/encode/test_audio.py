"""``--audio`` / ``--audio-start``: which part of the source is muxed, checked by where a beep lands."""

from __future__ import annotations

import json
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vsenhance.encode.audio import AudioSource, audio_input_argv, parse_audio_start, plan_audio, probe_audio
from vsenhance.encode.programs import find_ffprobe
from vsenhance.errors import EncodeError

RATE = 48000
BEEP = 2.5  # seconds into the source


def make_source(path: Path, *, audio: bool = True, seconds: float = 4.0) -> Path:
    """24 fps video with (optionally) PCM audio that is silent except a 1 kHz beep from 2.5 s to 2.6 s."""
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=24:duration={seconds}"]
    if audio:
        beep = f"if(between(t,{BEEP},{BEEP + 0.1}),0.5*sin(2*PI*1000*t),0)"
        argv += ["-f", "lavfi", "-i", f"aevalsrc='{beep}':s={RATE}:d={seconds}", "-c:a", "pcm_s16le"]
    argv += ["-c:v", "ffv1", "-y", os.fspath(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return path


def stream_times(path: Path) -> dict[str, tuple[float, float]]:
    """codec_type -> (start_time, duration) of the first stream of that type."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time,duration:stream_tags=DURATION",
         "-of", "json", os.fspath(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    out: dict[str, tuple[float, float]] = {}
    for s in json.loads(done.stdout)["streams"]:
        duration = s.get("duration") or _hms(s.get("tags", {}).get("DURATION", "nan"))
        out.setdefault(s["codec_type"], (float(s.get("start_time", "nan")), float(duration)))
    return out


def _hms(text: str) -> float:
    h, m, sec = text.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def beep_time(path: Path) -> float | None:
    """When the beep starts in ``path``'s timeline: the audio stream's start time + the first loud sample."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", os.fspath(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1",
         "-ar", str(RATE), "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    samples = np.frombuffer(done.stdout, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples) > 3000)
    if not loud.size:
        return None
    return stream_times(path)["audio"][0] + loud[0] / RATE


def test_the_beep_is_where_the_source_has_it(tmp_path):
    src = make_source(tmp_path / "src.mkv")
    assert beep_time(src) == pytest.approx(BEEP, abs=0.002)


def test_probe_audio(tmp_path):
    info = probe_audio(find_ffprobe("encode"), make_source(tmp_path / "src.mkv"))
    assert (info.audio_streams, info.start_time, info.video_fps) == (1, 0, 24)
    with pytest.raises(EncodeError, match="no audio stream"):
        probe_audio(find_ffprobe("encode"), make_source(tmp_path / "silent.mkv", audio=False))
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    with pytest.raises(EncodeError, match="cannot read"):
        probe_audio(find_ffprobe("encode"), text)


SOURCE = AudioSource(Path("src.mkv"), 1, Fraction(0), Fraction(24000, 1001))


@pytest.mark.parametrize(
    ("start", "absolute", "expected", "origin"),
    [
        (None, None, 0, "default"),
        (None, 50.05, Fraction(5005, 100), "_AbsoluteTime"),
        ("1200", 50.05, Fraction(1200 * 1001, 24000), "--audio-start"),  # the source's rate, not the clip's
        ("11:56", None, 716, "--audio-start"),
        ("75.5", None, Fraction(151, 2), "--audio-start"),
    ],
)
def test_plan_audio_start(start, absolute, expected, origin):
    cut = plan_audio(SOURCE, None if start is None else parse_audio_start(start), absolute, 240, 24, 1)
    assert (cut.start, cut.origin) == (expected, origin)
    assert cut.duration == 10  # 240 frames at 24 fps


def test_absolute_time_counts_from_the_files_start():
    ts = AudioSource(Path("src.ts"), 1, Fraction(14, 10), Fraction(25))
    assert plan_audio(ts, None, 1.4 + 2.0, 50, 25, 1).start == 2
    assert plan_audio(ts, None, 1.0, 50, 25, 1).start == 0  # never before the file's start


def test_audio_input_argv_and_bad_start():
    cut = plan_audio(SOURCE, Fraction(1), None, 1000, 24000, 1001)  # 1000 frames = 41.7083 s
    assert audio_input_argv(cut) == ["-ss", "1.000000", "-t", "41.708333", "-i", "src.mkv"]
    assert audio_input_argv(plan_audio(SOURCE, None, None, 24, 24, 1)) == ["-t", "1.000000", "-i", "src.mkv"]
    with pytest.raises(EncodeError, match="neither a frame number nor a time"):
        parse_audio_start("1:75")
    no_rate = AudioSource(Path("a.flac"), 1, Fraction(0), None)
    with pytest.raises(EncodeError, match="frame number"):
        plan_audio(no_rate, 100, None, 24, 0, 1)


# A source filter's clip, trimmed like a script that skips the first second; ``absolute=1`` makes every frame
# carry _AbsoluteTime (its time in the source) as bestsource and ffms2 do.
TRIMMED = """\
import vapoursynth as vs
core = vs.core
src = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=96, fpsnum=24)

def stamp(n, f):
    out = f.copy()
    out.props["_AbsoluteTime"] = n / 24
    return out

if globals().get("absolute") == "1":
    src = core.std.ModifyFrame(src, src, stamp)
clip = src[24:72]  # 48 frames: source seconds 1.0 to 3.0
clip.set_output()
"""


def _encode_with_audio(tmp_path: Path, *extra: str, absolute: bool) -> tuple[subprocess.CompletedProcess, Path]:
    from .encode_helpers import run_cli

    script = tmp_path / "trimmed.vpy"
    script.write_text(TRIMMED, encoding="utf-8")
    src = tmp_path / "src.mkv"
    if not src.exists():
        make_source(src)
    out = tmp_path / f"out{len(list(tmp_path.glob('out*.mkv')))}.mkv"
    done = run_cli(
        "encode", str(script), "-o", str(out), "--encoder", "ffv1", "--segment-frames", "16",
        "--audio", str(src), "-a", f"absolute={int(absolute)}", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done, out


@pytest.mark.parametrize(
    ("extra", "absolute", "beep", "origin"),
    [
        ((), True, BEEP - 1.0, "_AbsoluteTime"),  # derived from frame 0's _AbsoluteTime
        (("--audio-start", "24"), False, BEEP - 1.0, "--audio-start"),  # a frame number of the source
        (("--audio-start", "0:00.5"), True, BEEP - 0.5, "--audio-start"),  # explicit wins over _AbsoluteTime
        ((), False, None, "assumed"),  # nothing says where: 0 s, and the 2-s cut ends before the beep
    ],
)
def test_trimmed_script_audio_is_in_sync(tmp_path, extra, absolute, beep, origin):
    done, out = _encode_with_audio(tmp_path, *extra, absolute=absolute)
    assert origin in done.stderr.decode()
    times = stream_times(out)
    assert times["video"][0] == 0
    assert beep_time(out) == (None if beep is None else pytest.approx(beep, abs=0.003))
    # cut to the video's 48 frames at 24 fps (stream copy: to the audio packet)
    assert times["audio"][1] == pytest.approx(2.0, abs=0.03)
    assert times["video"][1] == pytest.approx(2.0, abs=0.001)


def test_a_source_without_audio_is_an_error_before_any_rendering(tmp_path):
    from .encode_helpers import run_cli

    script = tmp_path / "trimmed.vpy"
    script.write_text(TRIMMED, encoding="utf-8")
    silent = make_source(tmp_path / "silent.mkv", audio=False)
    done = run_cli("encode", str(script), "-o", str(tmp_path / "out.mkv"), "--audio", str(silent))
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "no audio stream" in err and "starting" not in err  # no worker was started
    assert not (tmp_path / "out.mkv.vsenhance").exists() and not (tmp_path / "out.mkv").exists()
    done = run_cli("encode", str(script), "-o", str(tmp_path / "out.mkv"), "--audio-start", "10")
    assert done.returncode == 2 and "without --audio" in done.stderr.decode()
    src = make_source(tmp_path / "src.mkv")
    done = run_cli("encode", str(script), "-o", str(tmp_path / "out.mkv"), "--audio", str(src), "--audio-start", "1:75")
    assert done.returncode == 2 and "neither a frame number nor a time" in done.stderr.decode()


def test_audio_shorter_than_the_video_is_warned_about_and_a_start_past_its_end_refused(caplog):
    source = AudioSource(Path("src.mkv"), 1, Fraction(0), Fraction(24), Fraction(5))  # 5 s of audio
    with caplog.at_level("WARNING"):
        plan_audio(source, Fraction(2), None, 96, 24, 1)  # 4 s of video from 2 s: 1 s short
    assert any("ends 1.000 s before the video" in r.getMessage() for r in caplog.records)
    source.check_start(Fraction(4))
    source.check_start(96)  # frame 96 at the source's 24 fps: 4 s
    for start in (Fraction(5), 120):
        with pytest.raises(EncodeError, match=r"at or past the end of src\.mkv"):
            source.check_start(start)
