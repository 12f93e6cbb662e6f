"""Colour description and HDR10 metadata: props -> ffmpeg options + encoder VUI, checked with ffprobe."""

from __future__ import annotations

import json
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from tests.encode.encode_helpers import find_vspipe
from vsenhance.encode.colour_tags import ColourTags, clip_colour, colour_changes
from vsenhance.encode.encoder import EncoderSettings, vui_params
from vsenhance.encode.programs import child_env

# bestsource's props for a UHD Blu-ray-like master (P3-D65 mastering display, 1000 nits)
HDR10 = {
    "MasteringDisplayPrimariesX": [0.68, 0.265, 0.15],
    "MasteringDisplayPrimariesY": [0.32, 0.69, 0.06],
    "MasteringDisplayWhitePointX": 0.3127,
    "MasteringDisplayWhitePointY": 0.329,
    "MasteringDisplayMinLuminance": 0.005,
    "MasteringDisplayMaxLuminance": 1000.0,
    "ContentLightLevelMax": 1000,
    "ContentLightLevelAverage": 400,
}

# name: (format, props, expected ffprobe stream fields)
CASES = {
    "bt709-limited-left": (
        "YUV420P8",
        {"_Matrix": 1, "_Transfer": 1, "_Primaries": 1, "_Range": 0, "_ChromaLocation": 0},
        ("bt709", "bt709", "bt709", "tv", "left"),
    ),
    "bt601-170m-full-topleft": (
        "YUV420P8",
        {"_Matrix": 6, "_Transfer": 6, "_Primaries": 6, "_Range": 1, "_ChromaLocation": 2},
        ("smpte170m", "smpte170m", "smpte170m", "pc", "topleft"),
    ),
    "bt601-470bg-limited-center": (
        "YUV420P8",
        {"_Matrix": 5, "_Transfer": 6, "_Primaries": 5, "_Range": 0, "_ChromaLocation": 1},
        ("bt470bg", "smpte170m", "bt470bg", "tv", "center"),
    ),
    "bt2020-pq-topleft-hdr10": (
        "YUV420P10",
        {"_Matrix": 9, "_Transfer": 16, "_Primaries": 9, "_Range": 0, "_ChromaLocation": 2, **HDR10},
        ("bt2020nc", "smpte2084", "bt2020", "tv", "topleft"),
    ),
    "bt2020-hlg-full-left": (
        "YUV420P10",
        {"_Matrix": 9, "_Transfer": 18, "_Primaries": 9, "_Range": 1, "_ChromaLocation": 0},
        ("bt2020nc", "arib-std-b67", "bt2020", "pc", "left"),
    ),
}

PROBE_FIELDS = ("color_space", "color_transfer", "color_primaries", "color_range", "chroma_location")


def write_prop_script(path: Path, fmt: str, props: dict, length: int = 3) -> Path:
    """A tiny clip whose frames carry ``props`` (as bestsource would set them)."""
    path.write_text(
        "import vapoursynth as vs\n"
        f"clip = vs.core.std.BlankClip(format=vs.{fmt}, width=64, height=48, length={length}, fpsnum=24)\n"
        f"clip = vs.core.std.SetFrameProps(clip, **{props!r})\n"
        "clip.set_output()\n",
        encoding="utf-8",
    )
    return path


def encode(script: Path, out: Path, settings: EncoderSettings, tags: ColourTags) -> None:
    """vspipe | ffmpeg with the argv the encoder builds for a segment."""
    vsp = subprocess.Popen(
        [os.fspath(find_vspipe()), "-c", "y4m", os.fspath(script), "-"], stdout=subprocess.PIPE, env=child_env()
    )
    argv = ["ffmpeg", "-v", "warning", "-nostdin", "-f", "yuv4mpegpipe", "-i", "pipe:0",
            *settings.codec_argv(tags), "-y", os.fspath(out)]  # fmt: skip
    done = subprocess.run(argv, stdin=vsp.stdout, capture_output=True, timeout=60)
    vsp.stdout.close()
    assert vsp.wait(timeout=30) == 0
    assert done.returncode == 0, done.stderr.decode()
    assert "Error parsing" not in done.stderr.decode()  # libx264 only warns about a param it does not know


def probe_stream(path: Path) -> tuple[str, ...]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=" + ",".join(PROBE_FIELDS),
         "-of", "json", os.fspath(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    stream = json.loads(done.stdout)["streams"][0]
    return tuple(stream.get(k, "unknown") for k in PROBE_FIELDS)


def frame_side_data(path: Path) -> list[list[dict]]:
    """Every video frame's side data (the HEVC decoder exports the HDR10 SEI as side data)."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_frames", "-show_entries",
         "frame=side_data_list", "-of", "json", os.fspath(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    return [f.get("side_data_list", []) for f in json.loads(done.stdout)["frames"]]


def hdr10_of(side_data: list[dict]) -> dict:
    """Mastering display and light level side data, as exact fractions (ffprobe writes ``num/den``)."""
    out: dict = {}
    for sd in side_data:
        if sd.get("side_data_type") == "Mastering display metadata":
            out |= {k: Fraction(v) for k, v in sd.items() if k != "side_data_type"}
        elif sd.get("side_data_type") == "Content light level metadata":
            out |= {"max_content": sd["max_content"], "max_average": sd["max_average"]}
    return out


def expected_hdr10() -> dict:
    xs, ys = HDR10["MasteringDisplayPrimariesX"], HDR10["MasteringDisplayPrimariesY"]

    def q(v: float, unit: int) -> Fraction:
        return Fraction(round(v * unit), unit)

    out = {}
    for i, colour in enumerate(("red", "green", "blue")):  # the props' order, FFmpeg's too
        out[f"{colour}_x"], out[f"{colour}_y"] = q(xs[i], 50000), q(ys[i], 50000)
    out["white_point_x"] = q(HDR10["MasteringDisplayWhitePointX"], 50000)
    out["white_point_y"] = q(HDR10["MasteringDisplayWhitePointY"], 50000)
    out["min_luminance"] = q(HDR10["MasteringDisplayMinLuminance"], 10000)
    out["max_luminance"] = q(HDR10["MasteringDisplayMaxLuminance"], 10000)
    return out | {"max_content": 1000, "max_average": 400}


@pytest.mark.parametrize("encoder", ["x264", "x265", "ffv1"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_encoded_file_is_tagged_like_its_source(tmp_path, encoder, case):
    fmt, props, expected = CASES[case]
    script = write_prop_script(tmp_path / "clip.vpy", fmt, props)
    tags = ColourTags.from_props(props)
    out = tmp_path / "out.mkv"
    lossy = encoder != "ffv1"  # ffv1 takes no --crf or --preset
    encode(
        script, out, EncoderSettings.create(encoder, 30 if lossy else None, "ultrafast" if lossy else None, None), tags
    )
    assert probe_stream(out) == expected
    if encoder == "x265" and "MasteringDisplayPrimariesX" in props:
        assert hdr10_of(frame_side_data(out)[0]) == expected_hdr10()


@pytest.mark.parametrize("encoder", ["x264", "x265"])
def test_vui_alone_carries_the_tags(tmp_path, encoder):
    """The bitstream's own VUI says it too: a raw elementary stream (no container fields) probes the same."""
    fmt, props, expected = CASES["bt601-170m-full-topleft"]
    script = write_prop_script(tmp_path / "clip.vpy", fmt, props)
    settings = EncoderSettings.create(encoder, 30, "ultrafast", None)
    vui_only = [a for a in settings.codec_argv(ColourTags.from_props(props)) if a]
    stream_opts = ColourTags.from_props(props).ffmpeg_argv()
    for i in range(0, len(stream_opts), 2):  # drop ffmpeg's stream options, keep the -x26N-params
        j = vui_only.index(stream_opts[i])
        del vui_only[j : j + 2]
    out = tmp_path / ("out.264" if encoder == "x264" else "out.265")
    vsp = subprocess.Popen(
        [os.fspath(find_vspipe()), "-c", "y4m", os.fspath(script), "-"], stdout=subprocess.PIPE, env=child_env()
    )
    done = subprocess.run(
        ["ffmpeg", "-v", "warning", "-nostdin", "-f", "yuv4mpegpipe", "-i", "pipe:0", *vui_only, "-y", os.fspath(out)],
        stdin=vsp.stdout, capture_output=True, timeout=60,
    )  # fmt: skip
    vsp.stdout.close()
    assert vsp.wait(timeout=30) == 0 and done.returncode == 0, done.stderr.decode()
    assert "Error parsing" not in done.stderr.decode()
    assert probe_stream(out) == expected


@pytest.mark.parametrize("props", [{}, {"_Matrix": 2, "_Transfer": 2, "_Primaries": 2}])
def test_absent_or_unspecified_stays_unspecified(tmp_path, props):
    script = write_prop_script(tmp_path / "clip.vpy", "YUV420P8", props)
    tags = ColourTags.from_props(props)
    assert tags.ffmpeg_argv() == ["-chroma_sample_location", "unspecified"] and vui_params(tags, "x265") == {}
    out = tmp_path / "out.mkv"
    encode(script, out, EncoderSettings.create("x265", 30, "ultrafast", None), tags)
    space, trc, prim, _range, _loc = probe_stream(out)
    assert (space, trc, prim) == ("unknown", "unknown", "unknown")


def test_untagged_chroma_siting_is_not_invented(tmp_path):
    """y4m's "C420" header means centre siting to ffmpeg; an untagged clip must not come out tagged "center"."""
    script = write_prop_script(tmp_path / "clip.vpy", "YUV420P8", {"_Matrix": 1, "_Transfer": 1, "_Primaries": 1})
    tags = ColourTags.from_props({"_Matrix": 1, "_Transfer": 1, "_Primaries": 1})
    out = tmp_path / "out.mkv"
    encode(script, out, EncoderSettings.create("ffv1", None, None, None), tags)  # siting only in Matroska's header
    assert probe_stream(out)[4] == "unknown"  # ffprobe's word for unspecified; before: "center"


def test_master_display_order_and_units():
    tags = ColourTags.from_props({**HDR10, "_Transfer": 16})
    # x265 lists green, blue, red; units of 0.00002 and 0.0001 cd/m2
    assert tags.master_display == "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
    assert tags.max_cll == (1000, 400)
    params = vui_params(tags, "x265")
    assert params["max-cll"] == "1000,400" and params["hdr10"] == "1" and params["repeat-headers"] == "1"
    assert "master-display" not in vui_params(tags, "x264")


def test_partial_hdr_props_write_no_mastering_display():
    props = dict(HDR10)
    del props["MasteringDisplayMinLuminance"]
    tags = ColourTags.from_props(props)
    assert tags.master_display is None and tags.max_cll == (1000, 400)


@pytest.mark.parametrize(
    ("props", "fragment"),
    [({"_Range": 5}, "_Range=5 is not one of [0, 1]"), ({"_ChromaLocation": -1}, "_ChromaLocation=-1"),
     ({"ContentLightLevelMax": -5, "ContentLightLevelAverage": 100}, "ContentLightLevelMax=-5"),
     ({"_Transfer": "pq"}, "_Transfer='pq' is not an H.273 code")],
)  # fmt: skip
def test_odd_props_are_warned_about_and_left_unspecified(props, fragment):
    tags, warnings = clip_colour({0: props}, "YUV420P10")
    assert any(fragment in w for w in warnings), warnings
    assert tags == ColourTags()  # nothing invented, nothing silently changed


def test_old_colorrange_prop_and_chroma_of_444():
    assert ColourTags.from_props({"_ColourRange": 0}).range == "full"  # the old prop: 0 = full
    assert ColourTags.from_props({"_Range": 1}).range == "full"  # R74+: 1 = full
    assert ColourTags.from_props({"_ChromaLocation": 2}, subsampled=False).chroma_location is None


def test_json_round_trip_and_changes():
    tags = ColourTags.from_props(CASES["bt2020-pq-topleft-hdr10"][1])
    assert ColourTags.from_json(json.loads(json.dumps(tags.to_json()))) == tags
    sdr = ColourTags.from_props(CASES["bt709-limited-left"][1])
    changes = colour_changes(tags, sdr)
    assert any(c.startswith("transfer 16 -> 1") for c in changes)
    assert colour_changes(tags, tags) == []


def test_pq_source_through_vsenhance_encode_x265(tmp_path):
    """Every segment and the joined file are tagged like the source and carry the HDR10 metadata."""
    from .encode_helpers import run_cli

    fmt, props, expected = CASES["bt2020-pq-topleft-hdr10"]
    script = write_prop_script(tmp_path / "pq.vpy", fmt, props, length=30)
    out = tmp_path / "pq.mkv"
    done = run_cli(
        "encode", str(script), "-o", str(out), "--encoder", "x265", "--preset", "ultrafast", "--crf", "30",
        "--segment-frames", "10", "--keep-segments",
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "colour: bt2020nc/smpte2084/bt2020 limited topleft, HDR10 metadata" in err
    assert "warning" not in err
    state = tmp_path / "pq.mkv.vsenhance"
    plan = json.loads((state / "plan.json").read_text())
    assert plan["colour"]["transfer"] == 16 and plan["colour"]["master_display"]  # a resume keeps the tags
    segments = sorted(state.glob("seg_*.mkv"))
    assert len(segments) == 3
    for seg in segments:
        assert probe_stream(seg) == expected
        assert hdr10_of(frame_side_data(seg)[0]) == expected_hdr10()
    assert probe_stream(out) == expected
    side = frame_side_data(out)
    assert len(side) == 30
    for first in (0, 10, 20):  # each segment's first frame in the joined file
        assert hdr10_of(side[first]) == expected_hdr10(), first


def test_colour_warnings_from_the_encode(tmp_path):
    from .encode_helpers import run_cli

    # an 8-bit PQ clip through x264, whose colour changes at frame 6 (a spliced SDR part)
    script = tmp_path / "mixed.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "c = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=12, fpsnum=24)\n"
        "pq = vs.core.std.SetFrameProps(c, _Matrix=9, _Transfer=16, _Primaries=9)\n"
        "sdr = vs.core.std.SetFrameProps(c, _Matrix=1, _Transfer=1, _Primaries=1)\n"
        "(pq[:6] + sdr[6:]).set_output()\n",
        encoding="utf-8",
    )
    done = run_cli(
        "encode", str(script), "-o", str(tmp_path / "mixed.mkv"), "--preset", "ultrafast", "--segment-frames", "6"
    )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "8-bit" in err and "x264 writes no HDR10" in err
    assert "colour props differ from frame 0's" in err and "transfer 16 -> 1" in err
    assert probe_stream(tmp_path / "mixed.mkv")[:3] == ("bt2020nc", "smpte2084", "bt2020")


def test_plan_fingerprint_holds_the_colour():
    from vsenhance.encode.plan import Plan

    pq = ColourTags.from_props(CASES["bt2020-pq-topleft-hdr10"][1])
    sdr = ColourTags.from_props(CASES["bt709-limited-left"][1])
    plan = Plan("s.vpy", "0" * 64, {}, EncoderSettings(), 10, 30, 24, 1, 64, 48, colour=pq)
    again = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.colour == pq and again.fingerprint == plan.fingerprint  # a resume keeps the tags
    other = Plan("s.vpy", "0" * 64, {}, EncoderSettings(), 10, 30, 24, 1, 64, 48, colour=sdr)
    assert other.fingerprint != plan.fingerprint
    assert any("colour description" in d for d in plan.differences(other))


def test_a_sampled_frame_that_fails_fails_with_its_segment(tmp_path):
    """Only frame 0's probe is required; a sampled frame that raises is reported by its segment, as usual."""
    from .encode_helpers import run_cli

    script = tmp_path / "fails.vpy"
    script.write_text(
        "import vapoursynth as vs\n"
        "c = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=30, fpsnum=24)\n"
        "def check(n, f):\n"
        "    if n == 11:  # one of the frames sampled for the colour check (3, 11, 18, 26)\n"
        "        raise RuntimeError('bad frame 11')\n"
        "    return f\n"
        "c.std.ModifyFrame(c, check).set_output()\n",
        encoding="utf-8",
    )
    done = run_cli(
        "encode", str(script), "-o", str(tmp_path / "out.mkv"), "--encoder", "ffv1", "--segment-frames", "10",
        "--max-retries", "0",
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "could not be compared with frame 0's colour" in err and "bad frame 11" in err
    assert "segment 1 (frames 10-19)" in err
