"""The delivery encoders end to end (SVT-AV1, ProRes, NVENC): real vspipe | ffmpeg encodes of tiny clips, read back
with ffprobe, compared frame by frame with a one-process encode, and the refusals before any work."""

from __future__ import annotations

import json
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vsenhance.cli import main
from vsenhance.encode.encoder import EncoderSettings
from vsenhance.encode.state import count_frames
from vsenhance.errors import ClipError

from .encode_helpers import find_vspipe, framemd5
from .test_colour_tags import CASES, HDR10, frame_side_data, hdr10_of, probe_stream

pytestmark = pytest.mark.slow

# 64x64 (SVT-AV1's smallest), every frame different: a moving bar and the frame number, colour props as given
SCRIPT = """\
import vapoursynth as vs
core = vs.core
base = core.std.BlankClip(format=vs.{fmt}, width=64, height=64, length={length}, fpsnum=24, color={colour})
bar = core.std.BlankClip(base, width=8, color={bar})

def moved(n):
    x = (n % 7) * 8
    return core.std.StackHorizontal(([base.std.Crop(right=64 - x)] if x else []) + [bar, base.std.Crop(left=x + 8)])

clip = core.text.FrameNum(core.std.FrameEval(base, moved), alignment=7)
clip = core.std.SetFrameProps(clip, **{props!r})
clip.set_output()
"""


def _script(tmp_path: Path, fmt: str, props: dict, length: int = 30) -> Path:
    ten = fmt.endswith("10")
    colour, bar = ([160, 512, 512], [900, 512, 512]) if ten else ([40, 128, 128], [225, 128, 128])
    path = tmp_path / f"{fmt}.vpy"
    path.write_text(SCRIPT.format(fmt=fmt, length=length, colour=colour, bar=bar, props=props), encoding="utf-8")
    return path


def _luma(path: Path, width: int = 64, height: int = 64) -> np.ndarray:
    """Every frame's 8-bit luma, decoded by ffmpeg: (frames, height, width)."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", os.fspath(path), "-map", "0:v:0", "-f", "rawvideo",
         "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width)


def _source_luma(script: Path) -> np.ndarray:
    vsp = subprocess.Popen([os.fspath(find_vspipe()), "-c", "y4m", os.fspath(script), "-"], stdout=subprocess.PIPE)
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "yuv4mpegpipe", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        stdin=vsp.stdout, capture_output=True, check=True,
    )  # fmt: skip
    vsp.stdout.close()
    assert vsp.wait() == 0
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, 64, 64)


def _nearest_source_frames(decoded: np.ndarray, source: np.ndarray) -> list[int]:
    """For each decoded frame, the source frame it is closest to: a lossy encode's frame order, checked."""
    distance = np.abs(decoded[:, None].astype(np.int16) - source[None].astype(np.int16)).mean(axis=(2, 3))
    return [int(i) for i in distance.argmin(axis=1)]


def _encode(script: Path, out: Path, *args: str) -> str:
    return _run(["encode", str(script), "-o", str(out), "--segment-frames", "10", *args])


def _run(argv: list[str], rc: int = 0) -> str:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        got = main(argv)
    assert got == rc, err.getvalue()
    return err.getvalue()


def _probe(path: Path, fields: str) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", f"stream={fields}", "-of", "json",
         os.fspath(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)["streams"][0]


def _av1_hdr10() -> dict:
    """HDR10's values in AV1's metadata units: chromaticities in 1/65536, luminance max 1/256, min 1/16384."""
    xs, ys = HDR10["MasteringDisplayPrimariesX"], HDR10["MasteringDisplayPrimariesY"]
    out = {}
    for i, colour in enumerate(("red", "green", "blue")):
        out[f"{colour}_x"], out[f"{colour}_y"] = (Fraction(round(v * 65536), 65536) for v in (xs[i], ys[i]))
    out["white_point_x"] = Fraction(round(HDR10["MasteringDisplayWhitePointX"] * 65536), 65536)
    out["white_point_y"] = Fraction(round(HDR10["MasteringDisplayWhitePointY"] * 65536), 65536)
    out["max_luminance"] = Fraction(round(HDR10["MasteringDisplayMaxLuminance"] * 256), 256)
    out["min_luminance"] = Fraction(round(HDR10["MasteringDisplayMinLuminance"] * 16384), 16384)
    return out | {"max_content": HDR10["ContentLightLevelMax"], "max_average": HDR10["ContentLightLevelAverage"]}


def test_svt_av1_hdr10_in_two_workers_matches_one_process(tmp_path):
    fmt, props, expected = CASES["bt2020-pq-topleft-hdr10"]
    script = _script(tmp_path, fmt, props)
    one, two = tmp_path / "one.mkv", tmp_path / "two.mkv"
    err = _encode(script, one, "--encoder", "svt-av1", "--crf", "20", "--preset", "12", "--workers", "1")
    assert "svt-av1 crf 20 preset 12" in err and "warning" not in err
    _encode(script, two, "--encoder", "svt-av1", "--crf", "20", "--preset", "12", "--workers", "2")
    assert count_frames(two) == 30
    assert framemd5(two) == framemd5(one)  # segments encoded by two workers decode as one process's do
    assert _nearest_source_frames(_luma(two), _source_luma(script)) == list(range(30))  # none lost or repeated
    stream = _probe(two, "codec_name,pix_fmt,profile")
    assert (stream["codec_name"], stream["pix_fmt"], stream["profile"]) == ("av1", "yuv420p10le", "Main")
    assert probe_stream(two) == expected
    side = frame_side_data(two)
    assert hdr10_of(side[0]) == _av1_hdr10() and hdr10_of(side[10]) == _av1_hdr10()  # each segment carries it


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_svt_av1_8bit_into_mp4_and_webm_keeps_every_frame_and_tag(tmp_path, ext):
    fmt, props, expected = CASES["bt709-limited-left"]
    script = _script(tmp_path, fmt, props, length=25)
    out = tmp_path / f"out{ext}"
    _encode(script, out, "--encoder", "svt-av1", "--preset", "12")
    assert count_frames(out) == 25
    assert _probe(out, "codec_name,pix_fmt") == {"codec_name": "av1", "pix_fmt": "yuv420p"}
    assert _nearest_source_frames(_luma(out), _source_luma(script)) == list(range(25))
    assert probe_stream(out)[:4] == expected[:4]  # the siting: the bitstream's (AV1's "vertical" = left) below
    if ext == ".mp4":
        assert probe_stream(out)[4] == "left"


@pytest.mark.parametrize(
    ("profile", "ext", "pix_fmt", "probed"),
    [("hq", ".mov", "yuv422p10le", "HQ"), ("4444", ".mkv", "yuv444p10le", "4444"),
     ("proxy", ".mov", "yuv422p10le", "Proxy")],
)  # fmt: skip
def test_prores_profile_format_and_tags_read_back(tmp_path, profile, ext, pix_fmt, probed):
    fmt, props, expected = CASES["bt601-170m-full-topleft"]
    script = _script(tmp_path, fmt, props, length=20)
    one, two = tmp_path / f"one{ext}", tmp_path / f"two{ext}"
    err = _encode(script, two, "--encoder", "prores", "--profile", profile, "--workers", "2")
    chroma = "4:4:4" if profile == "4444" else "4:2:2"
    converted = f"YUV420P8 converted to {chroma} 10-bit ({pix_fmt}) for ProRes {profile}"
    assert f"prores {profile} (prores_ks); {converted}, full range scaled to limited" in err
    _encode(script, one, "--encoder", "prores", "--profile", profile, "--workers", "1")
    assert framemd5(two) == framemd5(one) and count_frames(two) == 20
    assert _nearest_source_frames(_luma(two), _source_luma(script)) == list(range(20))
    stream = _probe(two, "codec_name,profile,pix_fmt")
    decoded = "yuv444p12le" if profile == "4444" else pix_fmt  # ffmpeg's decoder gives 4444 as 12-bit
    assert (stream["codec_name"], stream["profile"], stream["pix_fmt"]) == ("prores", probed, decoded)
    space, trc, prim, rng, siting = probe_stream(two)
    assert (space, trc, prim) == expected[:3] and expected[3] == "pc" and rng == "tv"
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", os.fspath(two), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout  # fmt: skip
    y = np.frombuffer(raw, "<u2")[: 64 * 64].reshape(64, 64)  # the 10-bit luma, as ProRes stores it
    assert abs(y[40:, 40:].mean() - (64 + 40 * 876 / 255)) < 1  # the full-range 40 (8-bit), now limited 10-bit
    if ext == ".mkv":  # Matroska keeps the siting: 4:4:4 has none; MOV has no field for it
        assert siting == "unknown"


def test_a_changed_prores_profile_is_refused_on_resume_and_restarted_on_request(script, tmp_path):
    out = tmp_path / "out.mov"
    args = ["encode", str(script), "-o", str(out), "--encoder", "prores", "--segment-frames", "10"]
    _run([*args, "--profile", "lt", "-a", "failat=25"], rc=2)  # segments 0 and 1 are finished and kept
    err = _run([*args, "--profile", "hq", "-a", "failat=25"], rc=2)
    assert "the encoder settings (profile=lt → profile=hq)" in err and "--restart" in err
    _run([*args, "--profile", "hq", "-a", "failat=-1", "--restart"])
    assert _probe(out, "profile")["profile"] == "HQ" and count_frames(out) == 48


def _nvenc_opens() -> bool:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=size=256x256:duration=0.05", "-c:v",
         "h264_nvenc", "-f", "null", "-"],
        capture_output=True,
    )  # fmt: skip
    return done.returncode == 0


@pytest.mark.parametrize("encoder", ["nvenc-h264", "nvenc-hevc"])
def test_nvenc_without_a_device_is_refused_before_any_worker_in_one_line(script, tmp_path, encoder):
    if _nvenc_opens():
        pytest.skip("this machine has an NVENC device (scripts/gpu_check.sh encodes with it)")
    out = tmp_path / "out.mkv"
    err = _run(["encode", str(script), "-o", str(out), "--encoder", encoder], rc=2)
    first = err.strip().splitlines()[0]
    assert f"--encoder {encoder} needs an NVIDIA GPU with NVENC" in first and "Fix:" in first
    assert "Error initializing output stream" not in err  # ffmpeg's own last line names no cause
    assert not (tmp_path / "out.mkv.vsenhance").exists()  # no plan, no worker


def test_an_encoder_this_ffmpeg_lacks_is_named(script, tmp_path):
    listed = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if "av1_nvenc" in listed:
        pytest.skip("this ffmpeg has av1_nvenc")
    err = _run(["encode", str(script), "-o", str(tmp_path / "o.mkv"), "--encoder", "nvenc-av1"], rc=2)
    assert "has no av1_nvenc encoder (av1_nvenc needs ffmpeg 6.0 or later)" in err


def test_a_clip_smaller_than_svt_av1_takes_is_refused_before_frame_0(script, tmp_path):
    # failat=0: had frame 0 been rendered, the script's own failure would be the message
    err = _run(["encode", str(script), "-o", str(tmp_path / "o.mkv"), "--encoder", "svt-av1", "-a", "failat=0"], rc=2)
    assert "svt-av1 takes frames of at least 64x64; the clip is 64x48" in err
    assert "planned failure" not in err


def test_a_422_clip_is_refused_for_svt_av1_with_the_conversion_to_write(tmp_path):
    script = _script(tmp_path, "YUV422P10", {}, length=3)
    err = _run(["encode", str(script), "-o", str(tmp_path / "o.mkv"), "--encoder", "svt-av1"], rc=2)
    assert "svt-av1 encodes 4:2:0 8-bit, 4:2:0 10-bit; the clip is YUV422P10" in err
    assert "format=vs.YUV420P10" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--encoder", "svt-av1", "--crf", "64"], "--crf 64 is outside svt-av1's 0-63"),
        (["--encoder", "svt-av1", "--preset", "14"], "not one of svt-av1's presets 0-13"),
        (["--encoder", "prores", "--crf", "18"], "--crf does not apply to ProRes, whose quality is its --profile"),
        (["--encoder", "prores", "--ffmpeg-args", "-profile:v 1"], "ProRes's profile is --profile"),
        (["--encoder", "nvenc-hevc", "--crf", "20"], "NVENC has no CRF; its constant quality is --cq 1-51"),
        (["--encoder", "nvenc-hevc", "--preset", "slow"], "not one of nvenc-hevc's presets p1-p7"),
        (["--encoder", "x265", "--profile", "hq"], "--profile is ProRes's"),
    ],
)
def test_settings_an_encoder_cannot_take_are_refused_in_one_line(script, tmp_path, argv, said):
    err = _run(["encode", str(script), "-o", str(tmp_path / "o.mkv"), *argv], rc=2)
    assert said in err.strip().splitlines()[0]


def test_webm_with_prores_and_a_profile_that_does_not_exist_are_refused(script, tmp_path, capsys):
    err = _run(["encode", str(script), "-o", str(tmp_path / "o.webm"), "--encoder", "prores"], rc=2)
    assert "a .webm file cannot hold prores video (it can go into .mkv, .mov)" in err
    with pytest.raises(SystemExit):  # argparse: "invalid choice: 'ultra' (choose from proxy, lt, ...)"
        main(["encode", str(script), "-o", str(tmp_path / "o.mov"), "--encoder", "prores", "--profile", "ultra"])
    assert "invalid choice: 'ultra'" in capsys.readouterr().err
    with pytest.raises(ClipError, match="'ultra' is not a ProRes profile"):
        EncoderSettings.create("prores", None, None, None, profile="ultra")
