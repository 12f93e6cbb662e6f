"""The encoder's room: settings, the segment's ffmpeg command line, the VUI, HDR warnings, merged params."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.encode.test_colour import HDR10
from vsenhance.encode.colour import ColourTags
from vsenhance.encode.encoder import EncoderSettings, hdr_warnings, merge_encoder_params, segment_argv
from vsenhance.errors import ClipError


def test_hdr_warnings():
    pq = ColourTags.from_props({"_Matrix": 9, "_Transfer": 16, "_Primaries": 9})
    assert hdr_warnings(pq, "x265", 10) == []
    assert any("8-bit" in w for w in hdr_warnings(pq, "x265", 8))
    assert any("x264" in w for w in hdr_warnings(pq, "x264", 10))
    hlg = ColourTags.from_props({"_Transfer": 18})
    assert any("HLG" in w for w in hdr_warnings(hlg, "x264", 8))
    assert hdr_warnings(ColourTags.from_props({"_Transfer": 1}), "x264", 8) == []
    hdr10 = ColourTags.from_props({"_Transfer": 16, **HDR10})
    assert any("ffv1 has no place" in w for w in hdr_warnings(hdr10, "ffv1", 10))
    assert hdr_warnings(pq, "ffv1", 10) == []  # the tags alone fit
    assert len(hdr_warnings(hdr10, "ffv1", 8)) == 2  # no metadata, and 8 bits


def test_user_params_are_merged_not_replaced():
    tags = ColourTags.from_props({"_Matrix": 1, "_Transfer": 1, "_Primaries": 1})
    argv = EncoderSettings.create(
        "x265", 20, "slow", "-x265-params aq-mode=3:colorprim=bt470bg -tune grain"
    ).codec_argv(tags)
    assert argv.count("-x265-params") == 1
    params = argv[argv.index("-x265-params") + 1].split(":")
    assert "aq-mode=3" in params and "colorprim=bt470bg" in params and "transfer=bt709" in params
    assert "log-level=error" in params and argv[-2:] == ["-tune", "grain"]
    merged, rest = merge_encoder_params("ffv1", {}, ["-g", "1"])
    assert merged == [] and rest == ["-g", "1"]


def test_encoder_settings():
    ffv1 = EncoderSettings.create("ffv1", None, None, None)
    assert (ffv1.crf, ffv1.preset) == (None, None)  # not hashed: lossless
    assert ffv1.codec_argv()[:2] == ["-c:v", "ffv1"] and "-level" in ffv1.codec_argv()
    x264 = EncoderSettings.create("x264", 18.0, "slow", "-tune 'film grain' -x264-params \"a=1:b=2\"")
    assert x264.crf == 18 and isinstance(x264.crf, int)
    assert x264.ffmpeg_args == ("-tune", "film grain", "-x264-params", "a=1:b=2")
    # one -x264-params: the user's, merged with the colour tags (none here: the siting stays unspecified)
    assert x264.codec_argv() == [
        "-c:v", "libx264", "-crf", "18", "-preset", "slow", "-chroma_sample_location", "unspecified",
        "-x264-params", "a=1:b=2", "-tune", "film grain",
    ]  # fmt: skip
    with pytest.raises(ClipError):
        EncoderSettings.create("av1", 18, "slow", None)
    for crf, preset, match in [(30, None, "do not apply to ffv1"), (None, "slow", "do not apply to ffv1")]:
        with pytest.raises(ClipError, match=match):
            EncoderSettings.create("ffv1", crf, preset, None)


@pytest.mark.parametrize(
    ("crf", "preset", "args", "match"),
    [
        (52, None, None, "--crf 52 is outside x264's 0-51"),  # x264 would clamp it to 51 without a word
        (18, "", None, "--preset is empty"),
        (18, None, "-c:v libx265", "may not hold -c:v: the codec is --encoder's"),
        (18, None, "-f mp4", "may not hold -f: segments are Matroska"),
        (18, None, "-vf scale=32:24", "may not hold -vf: change frames in the script"),
        (18, None, "-filter:v:0 hflip", "may not hold -filter:v:0"),
        (18, None, "-frames:v 1", "may not hold -frames:v: each segment must hold all of its frames"),
        (18, None, "-map 0:a", "may not hold -map"),
    ],
)
def test_encoder_options_that_would_be_ignored_or_break_segments(crf, preset, args, match) -> None:
    with pytest.raises(ClipError, match=match):
        EncoderSettings.create("x264", crf, preset, args)


def test_encoder_options_that_shape_the_codec_stay_allowed() -> None:
    settings = EncoderSettings.create("x265", 51, "medium", "-tune grain -profile:v main10 -pix_fmt yuv420p10le")
    assert settings.ffmpeg_args == ("-tune", "grain", "-profile:v", "main10", "-pix_fmt", "yuv420p10le")
    with pytest.raises(ClipError):
        EncoderSettings.create("x264", 18, "slow", "-tune 'unclosed")


def test_a_16_bit_clip_through_x264_is_warned_about():
    assert any("x264 encodes at most 10 bits: this 16-bit clip" in w for w in hdr_warnings(ColourTags(), "x264", 16))
    assert hdr_warnings(ColourTags(), "x265", 16) == [] and hdr_warnings(ColourTags(), "x264", 10) == []


def test_segment_argv_reads_y4m_and_writes_matroska():
    argv = segment_argv(Path("/usr/bin/ffmpeg"), EncoderSettings.create("ffv1", None, None, None), Path("/s/p.mkv"))
    assert argv[0] == "/usr/bin/ffmpeg" and argv[argv.index("-i") - 1] == "yuv4mpegpipe"
    assert argv[-4:] == ["-f", "matroska", "-y", "/s/p.mkv"]
    assert argv[argv.index("-c:v") + 1] == "ffv1"
