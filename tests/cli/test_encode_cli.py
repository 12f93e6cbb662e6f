"""The encode/estimate/cut commands' argument parsing and their wiring into ``vsenhance.cli.main``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vsenhance.cli import build_parser, main
from vsenhance.encode.encoder import EncoderSettings


def test_encode_arguments():
    args = build_parser().parse_args(
        ["encode", "in.vpy", "-o", "out.mkv", "-a", "k=v", "-a", "x=1 2", "--segment-frames", "500",
         "--resume", "--encoder", "x265", "--crf", "20", "--preset", "medium",
         "--ffmpeg-args", "-tune grain", "--audio", "src.mkv", "--keep-segments"]
    )  # fmt: skip
    assert args.command == "encode" and callable(args.handler)
    assert args.script == Path("in.vpy") and args.output == Path("out.mkv")
    assert args.script_args == ["k=v", "x=1 2"] and args.segment_frames == 500
    assert args.resume and args.keep_segments and not args.restart and not args.overwrite
    assert (args.encoder, args.crf, args.preset) == ("x265", 20, "medium")
    assert args.ffmpeg_args == "-tune grain" and args.audio == Path("src.mkv")


def test_encode_defaults_and_choices(capsys):
    args = build_parser().parse_args(["encode", "in.vpy", "-o", "o.mkv"])
    assert (args.encoder, args.crf, args.preset, args.segment_frames) == ("x264", None, None, 1000)  # not given
    settings = EncoderSettings.create(args.encoder, args.crf, args.preset, args.ffmpeg_args)
    assert (settings.crf, settings.preset) == (18, "slow")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["encode", "in.vpy", "-o", "o.mkv", "--encoder", "av1"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["encode", "in.vpy"])  # -o is required


def test_estimate_and_cut_arguments():
    args = build_parser().parse_args(["estimate", "s.vpy", "--frames", "30"])
    assert args.frames == 30 and callable(args.handler)
    args = build_parser().parse_args(["cut", "in.mkv", "--start", "11:56", "--duration", "30", "-o", "t.mp4"])
    assert args.start == 716 and args.duration == 30 and not args.reencode
    args = build_parser().parse_args(["cut", "in.mkv", "--start", "1:02:03.5", "-o", "t.mp4", "--reencode"])
    assert args.start == pytest.approx(3723.5) and args.reencode


def test_cut_bad_time_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["cut", "in.mkv", "--start", "11:75", "-o", "t.mp4"])
    assert exc.value.code == 2
    assert "seconds after a colon" in capsys.readouterr().err


def test_bad_script_arg_and_missing_script_are_reported(tmp_path, capsys):
    assert main(["encode", str(tmp_path / "x.vpy"), "-o", str(tmp_path / "o.mkv"), "-a", "novalue"]) == 2
    assert "key=value" in capsys.readouterr().err
    assert main(["encode", str(tmp_path / "x.vpy"), "-o", str(tmp_path / "o.mkv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_encoder_modules_do_not_import_torch():
    code = (
        "import sys; import vsenhance.encode.job, vsenhance.encode.estimate, vsenhance.encode.cut; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('vsenhance.filters', 'vsenhance.models'))]; "
        "assert not bad, bad; "
        "import vsenhance.cli; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_closed_pipe_ends_the_listing_quietly():
    done = subprocess.run(f"{sys.executable} -m vsenhance models list | head -1", shell=True, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() and "BrokenPipe" not in done.stderr, done.stderr
