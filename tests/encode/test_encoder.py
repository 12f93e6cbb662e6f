"""The encoder's room: settings, the segment's ffmpeg command line, the VUI, HDR warnings, merged params."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.encode.test_colour_tags import HDR10
from vsenhance.encode.colour_tags import ColourTags
from vsenhance.encode.encoder import EncoderSettings, hdr_warnings, merge_encoder_params, segment_argv
from vsenhance.errors import ClipError


def test_hdr_warnings_of_the_delivery_encoders():
    hdr10 = ColourTags.from_props({"_Transfer": 16, **HDR10})
    assert hdr_warnings(hdr10, "svt-av1", 10) == []  # it writes the metadata
    for encoder in ("prores", "nvenc-hevc"):
        assert any("drops the HDR10 mastering/light-level metadata" in w for w in hdr_warnings(hdr10, encoder, 10))
    assert any("reduced to 10" in w for w in hdr_warnings(ColourTags(), "prores", 12))
    assert hdr_warnings(hdr10, "prores", 8) != [] and not any("8-bit" in w for w in hdr_warnings(hdr10, "prores", 8))


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
    for crf, preset, match in [(30, None, "does not apply to ffv1"), (None, "slow", "does not apply to ffv1")]:
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


def test_svt_av1_writes_the_colour_and_hdr10_in_its_own_params_merged_with_the_users():
    tags = ColourTags.from_props({"_Matrix": 9, "_Transfer": 16, "_Primaries": 9, "_Range": 1,
                                  "_ChromaLocation": 2, **HDR10})  # fmt: skip
    argv = EncoderSettings.create("svt-av1", None, None, "-svtav1-params tune=0:color-range=0").codec_argv(tags)
    assert argv[:6] == ["-c:v", "libsvtav1", "-crf", "30", "-preset", "6"]
    assert argv.count("-svtav1-params") == 1
    params = dict(item.split("=", 1) for item in argv[argv.index("-svtav1-params") + 1].split(":"))
    assert params["color-primaries"] == "9" and params["transfer-characteristics"] == "16"
    assert params["matrix-coefficients"] == "9" and params["chroma-sample-position"] == "2"  # topleft: colocated
    assert params["color-range"] == "0" and params["tune"] == "0"  # the user's keys win
    # SVT-AV1 reads decimals and cd/m², where x265's syntax counts 0.00002 and 0.0001 cd/m² units
    assert params["mastering-display"] == "G(0.265,0.69)B(0.15,0.06)R(0.68,0.32)WP(0.3127,0.329)L(1000,0.005)"
    assert params["content-light"] == "1000,400"


def test_prores_converts_to_its_profile_and_keeps_the_tags_on_the_converted_frames():
    tags = ColourTags.from_props({"_Matrix": 1, "_Transfer": 1, "_Primaries": 1, "_Range": 1, "_ChromaLocation": 2})
    hq = EncoderSettings.create("prores", None, None, None)
    assert hq.profile == "hq" and hq.describe() == "prores hq (prores_ks)"
    argv = hq.codec_argv(tags)
    assert argv[argv.index("-profile:v") + 1] == "3" and argv[argv.index("-vendor") + 1] == "apl0"
    assert argv[argv.index("-vf") + 1] == (
        "scale=in_range=pc:out_range=tv,format=yuv422p10le,"
        "setparams=colorspace=bt709:color_trc=bt709:color_primaries=bt709:range=tv"
    )
    assert argv[argv.index("-chroma_sample_location") + 1] == "left"  # 4:2:2 keeps the horizontal siting
    xq = EncoderSettings.create("prores", None, None, None, profile="4444xq").codec_argv(tags)
    assert "format=yuv444p10le" in xq[xq.index("-vf") + 1] and xq[-1] == "unspecified"  # 4:4:4: no siting
    assert hq.conversion("YUV422P10") is None and hq.conversion("GRAY10") is not None
    assert "full range scaled to limited" in hq.conversion("YUV422P10", tags)


@pytest.mark.parametrize(
    ("encoder", "fmt", "size", "refused"),
    [("svt-av1", "YUV420P10", (64, 64), False), ("svt-av1", "YUV420P12", (64, 64), True),
     ("svt-av1", "YUV444P8", (64, 64), True), ("svt-av1", "YUV420P8", (64, 62), True),
     ("svt-av1", "Gray8", (64, 64), False), ("nvenc-h264", "YUV420P10", (64, 64), True),
     ("nvenc-h264", "YUV444P8", (64, 64), False), ("nvenc-hevc", "YUV444P10", (64, 64), False),
     ("nvenc-hevc", "YUV422P10", (64, 64), True), ("prores", "YUV420P16", (8, 8), False),
     ("x264", "YUV422P10", (8, 8), False)],
)  # fmt: skip
def test_what_each_encoder_takes_is_checked_before_frame_0(encoder, fmt, size, refused):
    settings = EncoderSettings.create(encoder, None, None, None)
    assert (settings.clip_problem(fmt, *size) is not None) == refused


def test_nvenc_names_its_quality_cq_and_its_presets_p1_to_p7():
    nv = EncoderSettings.create("nvenc-hevc", None, None, None)
    assert (nv.cq, nv.preset, nv.crf) == (20, "p5", None) and nv.describe() == "nvenc-hevc cq 20 preset p5"
    assert nv.codec_argv()[:12] == ["-c:v", "hevc_nvenc", "-preset", "p5", "-tune", "hq", "-rc", "vbr", "-cq", "20",
                                    "-b:v", "0"]  # fmt: skip
    with pytest.raises(ClipError, match="not a whole number"):
        EncoderSettings.create("nvenc-h264", None, None, None, cq=20.5)
    with pytest.raises(ClipError, match="outside nvenc-h264's 1-51"):
        EncoderSettings.create("nvenc-h264", None, None, None, cq=0)
