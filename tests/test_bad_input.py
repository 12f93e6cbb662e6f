"""Bad input never costs work: each bad input below gives its error class and a message naming the problem,
when the filter is created or before a command's first frame (docs/bad_inputs.md lists them with the outcome
before the fix)."""

from __future__ import annotations

import hashlib
import math
import os
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import vapoursynth as vs

import vsenhance as vse
from tests.models.pose import posekit
from tests.models.test_ncnn import _write_srvgg
from vsenhance.cli import main
from vsenhance.encode.state import count_frames
from vsenhance.errors import ClipError, DeviceError, FileError, ModelError

core = vs.core


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_model_path):
    """Tiny models, clips and files; ``requests`` counts the frames computed of ``counted``."""
    d = tmp_path_factory.mktemp("bad")
    trunc = d / "trunc.safetensors"
    data = tiny_model_path.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    (d / "garbage.param").write_text("not an ncnn param\n")
    import torch

    torch.save({"fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}, d / "classifier.pth")
    (d / "folder").mkdir()
    (d / "text.onnx").write_text("not onnx")
    bd, dp = posekit.bright_detector(d / "bd.onnx"), posekit.dot_pose(d / "dp.onnx")
    requests: list[int] = []

    def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        requests.append(n)
        return f

    fifo = d / "ranges.fifo"
    os.mkfifo(fifo)
    from safetensors.torch import load_file, save_file

    weights = load_file(tiny_model_path)
    nan_model = d / "nan.safetensors"
    save_file({k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in weights.items()}, nan_model)
    bad_resize = d / "resize.safetensors"
    save_file(weights, bad_resize, metadata={"vsenhance.output_resize": "nan"})
    rgb = core.std.BlankClip(format=vs.RGBS, width=32, height=24, length=2)
    yuv = core.std.BlankClip(format=vs.YUV420P8, width=32, height=24, length=2)
    posed = vse.pose(posekit.clip_from_frames(np.zeros((2, 32, 32, 3), np.float32)), bd, dp, providers="cpu")
    return SimpleNamespace(
        dir=d, model=tiny_model_path, trunc=trunc, bd=bd, dp=dp, rgb=rgb, yuv=yuv, posed=posed,
        counted=posed.std.ModifyFrame(posed, count), requests=requests, fifo=fifo, nan_model=nan_model,
        bad_resize=bad_resize,
    )  # fmt: skip


def _up(**kwargs):
    def call(e):
        kw = {"device": "cpu"} | kwargs
        clip, model = kw.pop("clip", e.rgb), kw.pop("model", e.model)
        return vse.upscale(clip(e) if callable(clip) else clip, model(e) if callable(model) else model, **kw)

    return call


def _pose(**kwargs):
    def call(e):
        kw = {"providers": "cpu"} | kwargs
        clip = kw.pop("clip", lambda e: posekit.clip_from_frames(np.zeros((2, 32, 32, 3), np.float32)))
        detector = kw.pop("detector", e.bd)
        return vse.pose(clip(e), detector(e) if callable(detector) else detector, e.dp, **kw)

    return call


def _yuv(**props):
    return lambda e: e.yuv.std.SetFrameProps(**props)


def _file(e, name: str, data: bytes):
    path = e.dir / name
    path.write_bytes(data)
    return path


def _ranges(ranges, **kwargs):
    return lambda e: vse.upscale_ranges(
        e.rgb, ranges(e) if callable(ranges) else ranges, e.model, device="cpu", **kwargs
    )


FILTER_CASES = [
    # the list
    pytest.param(_up(model=None), ClipError, "model=None is not", id="upscale-model-None"),
    pytest.param(_up(output_format=12345), ClipError, "output_format=12345 is not understood", id="outfmt-12345"),
    pytest.param(_up(tile=True), ClipError, "tile=True is not an integer", id="upscale-tile-True"),
    pytest.param(_up(clip=_yuv(_Matrix=0)), ClipError, "_Matrix=0 (0 means RGB", id="yuv-matrix-0"),
    pytest.param(_up(clip=_yuv(_Matrix=77)), ClipError, "_Matrix=77", id="yuv-matrix-77"),
    # the sweep
    pytest.param(_up(tile_pad=-5), ClipError, "tile_pad=-5 is out of range", id="tile_pad-negative"),
    pytest.param(_up(tile_pad=10**9), ClipError, "tile_pad=1000000000 is out of range", id="tile_pad-huge"),
    pytest.param(_up(pre_pad=10**5), ClipError, "pre_pad=100000 is out of range", id="pre_pad-huge"),
    pytest.param(_up(streams=0), ClipError, "streams=0 is out of range", id="streams-0"),
    pytest.param(_up(tile_batch=0), ClipError, "tile_batch=0", id="tile_batch-0"),
    pytest.param(_up(tile=2.5), ClipError, "tile=2.5 is not an integer", id="tile-float"),
    pytest.param(_up(scale=0), ClipError, "scale=0 is out of range", id="scale-0"),
    pytest.param(_up(scale=-2), ClipError, "scale=-2 is out of range", id="scale-negative"),
    pytest.param(_up(scale=math.nan), ClipError, "scale=nan is not a number", id="scale-nan"),
    pytest.param(_up(scale=math.inf), ClipError, "scale=inf is out of range", id="scale-inf"),
    pytest.param(_up(scale="2"), ClipError, "scale='2' is not a number", id="scale-str"),
    pytest.param(_up(scale=True), ClipError, "scale=True is not a number", id="scale-True"),
    pytest.param(_up(compile="yes"), ClipError, "compile='yes' must be True or False", id="compile-str"),
    pytest.param(_up(precision="fp8"), ClipError, "precision='fp8' is not known", id="precision-fp8"),
    pytest.param(_up(backend="tensorrt"), ClipError, "backend='tensorrt' is not known", id="backend-unknown"),
    pytest.param(
        _up(backend="openvino", compile=True), ClipError, "compile=True is torch.compile", id="backend-ov-compile"
    ),
    pytest.param(_up(precision=None), ClipError, "precision=None is not known", id="precision-None"),
    pytest.param(_up(device=None), DeviceError, "device=None is not a device name", id="device-None"),
    pytest.param(_up(device="tpu"), DeviceError, "device='tpu'", id="device-tpu"),
    pytest.param(_up(output_format=True), ClipError, "output_format=True is not understood", id="outfmt-True"),
    pytest.param(_up(output_format=1.5), ClipError, "output_format=1.5 is not understood", id="outfmt-float"),
    pytest.param(_up(output_format=vs.GRAY32), ClipError, "unsupported sample format Gray32", id="outfmt-int32"),
    pytest.param(
        _up(
            clip=core.std.BlankClip(format=vs.RGBS, width=34, height=24, length=1), output_format=vs.YUV420P8, scale=1.5
        ),
        ClipError,
        "51x36, which YUV420P8 cannot hold",
        id="odd-width-420-output",
    ),
    pytest.param(_up(clip=core.std.BlankAudio()), ClipError, "got AudioNode", id="audio-node"),
    pytest.param(_up(model=lambda e: e.dir / "missing.pth"), ModelError, "does not exist", id="model-missing"),
    pytest.param(_up(model=lambda e: e.trunc), ModelError, "corrupt or not a safetensors", id="model-truncated"),
    pytest.param(_up(model=lambda e: e.dir / "garbage.param"), ModelError, "ncnn magic", id="model-bad-param"),
    pytest.param(
        _up(model=lambda e: e.dir / "classifier.pth"), ModelError, "not a model architecture", id="model-not-sr"
    ),
    pytest.param(_up(model=lambda e: e.dir / "folder"), ModelError, "is a folder", id="model-folder"),
    pytest.param(_up(model=""), ClipError, "model='' is not", id="model-empty"),
    pytest.param(_up(clip=_yuv(_Range=5)), ClipError, "_Range=5", id="yuv-range-5"),
    pytest.param(_up(clip=_yuv(_ChromaLocation=9)), ClipError, "_ChromaLocation=9", id="yuv-chromaloc-9"),
    pytest.param(_up(clip=_yuv(_Transfer=77)), ClipError, "_Transfer=77", id="yuv-transfer-77"),
    pytest.param(_up(clip=_yuv(_Primaries=0)), ClipError, "_Primaries=0", id="yuv-primaries-0"),
    pytest.param(_up(clip=_yuv(_Matrix=14)), ClipError, "_Matrix=14", id="yuv-matrix-ictcp"),
    pytest.param(
        _up(clip=core.std.BlankClip(format=vs.RGB24, width=32, height=24, length=1).std.SetFrameProps(_Range=3)),
        ClipError,
        "_Range=3",
        id="rgb24-range-3",
    ),
    pytest.param(
        lambda e: vse.upscale_ranges(e.rgb, [(0, 0)], e.model, device="cpu", tile=True),
        ClipError,
        "tile=True is not an integer",
        id="upscale_ranges-tile-True",
    ),
    # range lists as people write them (bad input, round 2)
    pytest.param(_ranges(""), ClipError, "holds no range: no frame would be upscaled", id="ranges-empty-string"),
    pytest.param(
        _ranges(lambda e: _file(e, "comments.txt", b"# only a comment\n")),
        ClipError,
        "holds no range",
        id="ranges-file-only-comments",
    ),
    pytest.param(
        _ranges(lambda e: _file(e, "latin1.txt", b"1-2 # caf\xe9\n")),
        ClipError,
        "is not UTF-8 text",
        id="ranges-file-not-utf8",
    ),
    pytest.param(
        _ranges("0:01,5-0:02"), ClipError, "'5-0:02' mixes a frame number and a time", id="ranges-decimal-comma"
    ),
    pytest.param(
        _ranges(lambda e: str(_file(e, "keys.txt", b"1-2\n"))), ClipError, "Pass Path(", id="ranges-file-name-as-str"
    ),
    pytest.param(_ranges(None), ClipError, "ranges=None (NoneType) is not a range list", id="ranges-None"),
    pytest.param(_ranges(5), ClipError, "ranges=5 (int) is not a range list", id="ranges-int"),
    pytest.param(_ranges({"a": 1}), ClipError, "(dict) is not a range list", id="ranges-dict"),
    pytest.param(_pose(batch=True), ClipError, "batch=True is not an integer", id="pose-batch-True"),
    pytest.param(_pose(det_interval=True), ClipError, "det_interval=True", id="pose-det_interval-True"),
    pytest.param(_pose(max_persons=2.5), ClipError, "max_persons=2.5 is not an integer", id="pose-max_persons"),
    pytest.param(_pose(det_threshold=math.nan), ClipError, "det_threshold=nan", id="pose-threshold-nan"),
    pytest.param(_pose(detector=None), ClipError, "detector=None", id="pose-detector-None"),
    pytest.param(
        _pose(detector=lambda e: e.dir / "text.onnx"), ModelError, "could not be loaded", id="pose-detector-not-onnx"
    ),
    pytest.param(_pose(clip=_yuv(_Matrix=0)), ClipError, "_Matrix=0", id="pose-yuv-matrix-0"),
    pytest.param(
        lambda e: vse.draw_pose(e.posed, draw_face="no"),
        ClipError,
        "draw_face='no' must be True",
        id="draw_pose-bool-str",
    ),
    pytest.param(
        lambda e: vse.draw_pose(e.posed, body_stick_width=True),
        ClipError,
        "body_stick_width=True",
        id="draw_pose-width-True",
    ),
    pytest.param(
        lambda e: vse.draw_pose(e.posed, threshold=math.nan), ClipError, "threshold=nan", id="draw_pose-threshold-nan"
    ),
    pytest.param(
        lambda e: vse.export_pose(e.posed, e.dir / "p.json", include_wholebody="yes"),
        ClipError,
        "include_wholebody='yes'",
        id="export_pose-bool-str",
    ),
    pytest.param(lambda e: vse.export_pose(e.posed, None), ClipError, "path=None", id="export_pose-None"),
    # round 2, our own inputs
    pytest.param(
        _ranges("0", width=-64),
        ClipError,
        "width=-64 is out of range",
        id="ranges-width-negative",
    ),
    pytest.param(
        _ranges("0", width=64.5),
        ClipError,
        "width=64.5 is not an integer",
        id="ranges-width-float",
    ),
    pytest.param(
        _ranges("0", height="96"),
        ClipError,
        "height='96' is not an integer",
        id="ranges-height-str",
    ),
    pytest.param(
        _ranges("0", tiles=64),
        ClipError,
        "tiles= is an argument of neither upscale_ranges nor upscale; did you mean tile=?",
        id="ranges-unknown-kwarg",
    ),
    pytest.param(
        _up(model="realesr-animevideov3 "),
        ModelError,
        "unknown model name 'realesr-animevideov3 '; did you mean 'realesr-animevideov3'?",
        id="model-name-trailing-space",
    ),
    pytest.param(
        _up(model="RealESRGAN_x4plus.pth"),
        ModelError,
        "'RealESRGAN_x4plus' is a known model name: pass it as it is",
        id="model-name-with-extension",
    ),
    pytest.param(_up(output_format="YUV420P11"), ClipError, "output_format='YUV420P11' is not", id="outfmt-bad-name"),
    pytest.param(_ranges("3..5"), ClipError, "'3..5' is not a time", id="ranges-double-dot"),
    pytest.param(_ranges("1-1;0-1"), ClipError, "'1-1;0-1' is not FIRST-LAST", id="ranges-semicolon"),
    pytest.param(_ranges("1-"), ClipError, "'1-' is not FIRST-LAST", id="ranges-open-end"),
    pytest.param(_ranges([(1, 0)]), ClipError, "(1, 0) ends before it starts", id="ranges-reversed-pair"),
    pytest.param(_ranges([(0, 1, 1)]), ClipError, "(0, 1, 1) is not (first, last)", id="ranges-triple"),
    pytest.param(_up(precision="fp8 "), ClipError, "precision='fp8' is not known", id="precision-unknown-spaced"),
    # held-frame reuse (issue 27)
    pytest.param(_up(dedup="yes"), ClipError, "dedup='yes' is not known", id="dedup-unknown"),
    pytest.param(_up(dedup=True), ClipError, "dedup=True is not a choice or a number", id="dedup-True"),
    pytest.param(_up(dedup=65), ClipError, "dedup=65 is not a tolerance in [0, 64] codes", id="dedup-too-far"),
    pytest.param(_up(dedup=float("nan")), ClipError, "dedup=nan is not a tolerance", id="dedup-nan"),
    pytest.param(_ranges("0", dedup="nearly"), ClipError, "dedup='nearly' is not known", id="ranges-dedup-unknown"),
    pytest.param(_pose(dedup=-1), ClipError, "dedup=-1 is not a tolerance", id="pose-dedup-negative"),
    # round 3 (issue 30)
    pytest.param(_ranges("1-2," * 100), ClipError, "range (1, 2) is outside the clip", id="ranges-long-string-bad"),
    pytest.param(_ranges(lambda e: "0-1," + "1-1," * 100), None, None, id="ranges-long-string-valid"),
    pytest.param(_ranges("0", scale=True), ClipError, "scale=True is not a number", id="ranges-scale-True"),
    pytest.param(_ranges("0", scale=math.nan), ClipError, "scale=nan is not a number", id="ranges-scale-nan"),
    pytest.param(_ranges("0", scale=math.inf), ClipError, "scale=inf is out of range", id="ranges-scale-inf"),
    pytest.param(_ranges("0", scale="2"), ClipError, "scale='2' is not a number", id="ranges-scale-str"),
    pytest.param(_ranges("0", width=10**6), ClipError, "width=1000000 is out of range", id="ranges-width-huge"),
    pytest.param(_ranges("0", width=2**31), ClipError, "width=2147483648 is out of range", id="ranges-width-2-31"),
    pytest.param(_ranges("0", width=30000, height=30000), ClipError, "past the largest frame", id="ranges-area-huge"),
    pytest.param(
        _up(clip=core.std.BlankClip(format=vs.RGBS, width=2048, height=2048, length=1), scale=64),
        ClipError,
        "gives 131072x131072 frames",
        id="upscale-scale-64-of-2048",
    ),
    pytest.param(_up(scale=10**400), ClipError, "is out of range", id="upscale-scale-10e400"),
    pytest.param(_ranges([("²", "3")]), ClipError, "'²' is not a time", id="ranges-superscript-digit"),
    pytest.param(_ranges("0", taps=16), ClipError, "taps=16 is out of range", id="ranges-taps-past-zimg"),
    pytest.param(_ranges("9" * 5000), ClipError, "is larger than any frame number", id="ranges-5000-digits"),
    pytest.param(
        _ranges(lambda e: e.fifo), ClipError, "is not a regular file (a FIFO or a device)", id="ranges-file-fifo"
    ),
    pytest.param(_ranges(Path("/dev/zero")), ClipError, "is not a regular file", id="ranges-file-dev-zero"),
    pytest.param(_up(model=lambda e: e.nan_model), ModelError, "NaN or infinite weights", id="model-nan-weights"),
    pytest.param(
        _up(model=lambda e: e.bad_resize),
        ModelError,
        "bad metadata vsenhance.output_resize='nan'",
        id="model-output-resize-nan",
    ),
]


FIRST_LINE_LIMIT = 250  # characters: a previewer's error dialog (vs-preview's grows to fit) stays on a screen


@pytest.mark.parametrize(("call", "error", "fragment"), FILTER_CASES)
def test_filter_refuses_when_created(env, call, error, fragment) -> None:
    if error is None:  # a valid input that once failed: it makes a clip
        assert isinstance(call(env), vs.VideoNode)
        return
    with pytest.raises(error) as info:
        call(env)
    assert fragment in str(info.value)
    assert " Fix: " in str(info.value)
    first = str(info.value).splitlines()[0]
    assert len(first) <= FIRST_LINE_LIMIT, f"{len(first)} characters: {first}"  # details go on later lines


def test_every_error_class_keeps_its_first_line_short(env) -> None:
    """The longest first line of each error class among the filter cases (the ones a previewer shows)."""
    longest: dict[str, int] = {}
    for case in FILTER_CASES:
        call, error, _ = case.values
        if error is None:  # a valid input among them
            continue
        with pytest.raises(error) as info:
            call(env)
        name = type(info.value).__name__
        longest[name] = max(longest.get(name, 0), len(str(info.value).splitlines()[0]))
    assert {"ClipError", "ModelError", "DeviceError"} <= set(longest)
    assert max(longest.values()) <= FIRST_LINE_LIMIT, longest


def test_device_names_are_case_insensitive(env) -> None:
    out = vse.upscale(env.rgb, env.model, device="CPU")
    assert (out.width, out.height) == (64, 48)


def test_names_arrive_as_people_type_them(env) -> None:
    """vspipe -a and vs-preview pass strings: a format's name, "SAME" and "FP32" mean what they say."""
    yuv = env.yuv.std.SetFrameProps(_Matrix=1)
    assert vse.upscale(yuv, env.model, device="cpu", output_format="yuv420p10").format.id == vs.YUV420P10
    assert vse.upscale(yuv, env.model, device="cpu", output_format="SAME").format.id == vs.YUV420P8
    out = vse.upscale(env.rgb, env.model, device="cpu", precision="FP32")
    assert out.get_frame(0).props["VSEnhancePrecision"] in (b"float32", "float32")


def test_props_of_a_later_frame_fail_only_when_it_is_requested(env) -> None:
    """Props that only a later frame has cannot be checked when the filter is created; VapourSynth says so."""
    clip = core.std.Splice([env.yuv[0], env.yuv[1].std.SetFrameProps(_Matrix=0)])
    out = vse.upscale(clip, env.model, device="cpu")
    out.get_frame(0)
    with pytest.raises(vs.Error):
        out.get_frame(1)


@pytest.mark.parametrize("where", ["folder", "missing-parent", "unwritable", "full-device"])
def test_export_pose_checks_destination_before_any_frame(env, where) -> None:
    target = {"folder": env.dir / "folder", "missing-parent": env.dir / "none" / "p.json",
              "unwritable": Path("/proc/p.json"), "full-device": Path("/dev/full")}[where]  # fmt: skip
    env.requests.clear()
    with pytest.raises(ClipError, match="export_pose: "):
        vse.export_pose(env.counted, target)
    assert env.requests == []  # no frame was computed
    assert not list(env.dir.glob(".*partial*"))  # no temp file left


def test_onnx_runtime_banner_never_reaches_stdout(env, capfd, monkeypatch) -> None:
    """ONNX Runtime print()s an "EP Error" banner when TensorRT fails; stdout belongs to vspipe."""
    import onnxruntime

    from vsenhance.models.pose import session

    if "TensorrtExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has no TensorRT provider to fail")
    if Path("/dev/nvidiactl").exists():
        pytest.skip("a GPU is present: TensorRT may work here")
    capfd.readouterr()
    with pytest.raises(DeviceError, match="no GPU driver"):  # our own check, before ONNX Runtime tries
        vse.pose(env.rgb, env.bd, env.dp, providers="tensorrt")
    monkeypatch.setattr(session, "_gpu_present", lambda: True)  # past our checks: ORT fails and prints
    monkeypatch.setattr(session.ctypes.util, "find_library", lambda name: f"lib{name}.so")
    with pytest.raises(DeviceError, match="fell back"):
        vse.pose(env.rgb, env.bd, env.dp, providers="tensorrt")
    out = capfd.readouterr().out
    assert out == ""


# ---- commands -------------------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("cmd")
    video = d / "two seconds.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=2",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "24", "-y", str(video)],
        check=True, timeout=60,
    )  # fmt: skip
    audio = d / "tone.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=duration=1", "-y", str(audio)],
                   check=True, timeout=60)  # fmt: skip
    (d / "text.mp4").write_text("not a video")
    (d / "folder").mkdir()
    (d / "raises.vpy").write_text("raise RuntimeError('boom in the script')\n")
    (d / "plain.vpy").write_text("import vapoursynth as vs\nvs.core.std.BlankClip(length=2).set_output()\n")
    # what the encode refusals run: a refusal that needs no worker comes before the script is executed
    (d / "sleeps.vpy").write_text(
        f"import time, pathlib\npathlib.Path({str(d / 'executed')!r}).touch()\ntime.sleep(60)\n"
        "import vapoursynth as vs\nvs.core.std.BlankClip(length=2).set_output()\n"
    )
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "flac",
                    "-y", str(d / "tone.flac")], check=True, timeout=60)  # fmt: skip
    (d / "frame_fails.vpy").write_text(
        "import vapoursynth as vs\nc = vs.core.std.BlankClip(length=2)\n"
        "def f(n, f):\n    raise ValueError('frame fails')\nvs.core.std.ModifyFrame(c, c, f).set_output()\n"
    )
    (d / "matrix0.vpy").write_text(
        "import vapoursynth as vs\n"
        "vs.core.std.BlankClip(format=vs.YUV420P8, length=2).std.SetFrameProps(_Matrix=0).set_output()\n"
    )
    (d / "float.vpy").write_text(
        "import vapoursynth as vs\nvs.core.std.BlankClip(format=vs.YUV444PS, length=2).set_output()\n"
    )
    (d / "exits.vpy").write_text("import sys\nsys.exit(3)\n")
    (d / "syntax.vpy").write_text("import vapoursynth as vs\nclip = vs.core.std.BlankClip(\nclip.set_output()\n")
    (d / "vfr.vpy").write_text(
        "import vapoursynth as vs\nc = vs.core.std.BlankClip(format=vs.YUV420P8, length=2)\n"
        "vs.core.std.Splice([c, c.std.AssumeFPS(fpsnum=30)], mismatch=True).set_output()\n"
    )
    (d / "half.txt").write_text("scale=32:24")  # a filter graph in a file: past the option check, caught by the dry run
    (d / "ncnn").mkdir()
    param, _ = _write_srvgg(d / "ncnn")
    fifo = d / "audio.fifo"  # exists, but is not a file: not "does not exist"
    os.mkfifo(fifo)
    link = d / "link.mkv"  # an output name that is the script under another name
    link.symlink_to(d / "sleeps.vpy")
    return SimpleNamespace(dir=d, video=video, audio=audio, param=param, link=link, fifo=fifo)


def _encode(*extra):
    """``encode`` of the script that marks and sleeps when executed, into o.mkv, with ``extra`` arguments."""
    return _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", lambda m: m.dir / "o.mkv", *extra)


def _cmd(*parts):
    return lambda m: [str(p(m)) if callable(p) else str(p) for p in parts]


CLI_CASES = [
    # the list
    pytest.param(
        _cmd("cut", lambda m: m.video, "--start", "10", "-o", lambda m: m.dir / "c.mp4"),
        "--start 10s is at or past the end",
        id="cut-start-past-end",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.video, "--start", "10", "--reencode", "-o", lambda m: m.dir / "c.mp4"),
        "--start 10s is at or past the end",
        id="cut-reencode-start-past-end",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.video, "--start", "0", "-y", "-o", lambda m: m.video),
        "is the input",
        id="cut-output-is-input",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "raises.vpy", "-o", lambda m: m.dir / "p.json"),
        "raised RuntimeError: boom in the script",
        id="pose-export-script-raises",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "plain.vpy", "-o", "/dev/full"),
        "the output /dev/full refuses writes (No space left on device)",
        id="pose-export-to-dev-full",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "plain.vpy", "-o", lambda m: m.dir / "folder"),
        "is a directory",
        id="pose-export-to-folder",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "plain.vpy", "-o", lambda m: m.dir / "none" / "p.json"),
        "does not exist",
        id="pose-export-missing-parent",
    ),
    pytest.param(_cmd("models", "download", "nope"), "or pass an http(s) URL.", id="download-unknown"),
    # the sweep
    pytest.param(
        _cmd("cut", lambda m: m.video, "--start", "0", "-y", "-o", lambda m: m.dir / "folder"),
        "is a directory",
        id="cut-output-folder",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.video, "--start", "0", "-o", lambda m: m.dir / "none" / "c.mp4"),
        "does not exist",
        id="cut-missing-parent",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.audio, "--start", "0", "-o", lambda m: m.dir / "c.mp4"),
        "has no video stream",
        id="cut-audio-only",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.dir / "text.mp4", "--start", "0", "-o", lambda m: m.dir / "c.mp4"),
        "check that the input is a video file",
        id="cut-not-media",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.video, "--start", "1.99", "--reencode", "-o", lambda m: m.dir / "c.mp4"),
        "has no video frames",
        id="cut-no-frames-left",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "plain.vpy", "-o", lambda m: m.dir / "plain.vpy"),
        "is the input",
        id="pose-export-output-is-script",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "frame_fails.vpy", "-o", lambda m: m.dir / "p.json"),
        "the script failed: ValueError: frame fails",
        id="pose-export-frame-fails",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-y", "-o", lambda m: m.link),
        "is the input",
        id="encode-output-is-script-via-link",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-y", "--audio", lambda m: m.audio, "-o", lambda m: m.audio),
        "is the input",
        id="encode-output-is-audio",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-y", "-o", lambda m: m.dir / "folder"),
        "is a directory",
        id="encode-output-is-a-folder",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", lambda m: m.dir / "o.xyz"),
        "the extension .xyz, which names no container",
        id="encode-output-unknown-extension",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", lambda m: m.dir / "o"),
        "has no extension",
        id="encode-output-no-extension",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", lambda m: m.dir / "o.webm", "--encoder", "x264"),
        "a .webm file cannot hold x264 video",
        id="encode-webm-x264",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", lambda m: m.dir / "o.mp4", "--encoder", "ffv1"),
        "a .mp4 file cannot hold ffv1 video",
        id="encode-mp4-ffv1",
    ),
    pytest.param(
        _encode("--resume", "--restart"),
        "--resume and --restart were both given",
        id="encode-resume-and-restart",
    ),
    pytest.param(
        _cmd("cut", lambda m: m.dir / "folder", "--start", "0", "-o", lambda m: m.dir / "c.mp4"),
        "is a folder",
        id="cut-a-folder",
    ),
    pytest.param(  # root may write anywhere by os.access, yet /proc takes no new file: found by trying
        _cmd("cut", lambda m: m.video, "--start", "0.5", "-o", "/proc/c.mp4"),
        "the output folder /proc is not writable",
        id="cut-into-proc",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", "/proc/o.mkv"),
        "the output folder /proc is not writable",
        id="encode-into-proc",
    ),
    pytest.param(
        _encode("--crf", "nan"),
        "--crf nan is outside x264's 0-51",
        id="encode-crf-nan",
    ),
    pytest.param(
        _encode("--preset", "superslowest"),
        "ffmpeg refuses the encoder options (x264 crf 18 preset superslowest)",
        id="encode-preset-unknown",
    ),
    pytest.param(
        _encode("--ffmpeg-args", "-bogusopt 1"),
        "ffmpeg refuses the encoder options",
        id="encode-ffmpeg-args-unknown",
    ),
    pytest.param(
        _encode("--audio", lambda m: m.audio, "--audio-start", "0:05"),
        "at or past the end of tone.m4a",
        id="encode-audio-start-past-end",
    ),
    pytest.param(
        _cmd(
            "encode",
            lambda m: m.dir / "sleeps.vpy",
            "-o",
            lambda m: m.dir / "o.mp4",
            "--audio",
            lambda m: m.dir / "tone.flac",
        ),
        "a .mp4 file cannot hold the video and the audio of tone.flac",
        id="encode-flac-into-mp4",
    ),
    pytest.param(_cmd("models", "path", "nope"), "unknown model name 'nope'", id="path-unknown"),
    pytest.param(
        _cmd("models", "download", "http://127.0.0.1:9/x.pth", "--timeout", "-1", "-o", lambda m: m.dir / "x.pth"),
        "the timeout -1.0 is not a positive number",
        id="download-timeout-negative",
    ),
    pytest.param(
        _cmd("models", "import-ncnn", lambda m: m.param, "-o", lambda m: m.param),
        "is the input",
        id="import-ncnn-output-is-param",
    ),
    pytest.param(
        _cmd("models", "import-ncnn", lambda m: m.param, "-o", lambda m: m.param.with_suffix(".bin")),
        "is the input",
        id="import-ncnn-output-is-bin",
    ),
    # round 2, our own inputs
    pytest.param(
        _cmd("encode", lambda m: m.dir / "folder", "-o", lambda m: m.dir / "o.mkv"),
        "folder is a folder. Fix: pass the path of a .vpy script",
        id="encode-script-is-a-folder",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.video, "-o", lambda m: m.dir / "o.mkv"),
        "is not text (it holds NUL bytes)",
        id="encode-video-as-script",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "syntax.vpy", "-o", lambda m: m.dir / "o.mkv"),
        "has a syntax error on line 2: '(' was never closed",
        id="encode-script-syntax-error",
    ),
    pytest.param(
        _cmd("estimate", lambda m: m.dir / "syntax.vpy"),
        "has a syntax error on line 2",
        id="estimate-script-syntax-error",
    ),
    pytest.param(
        _cmd("pose-export", lambda m: m.dir / "syntax.vpy", "-o", lambda m: m.dir / "p.json"),
        "has a syntax error on line 2",
        id="pose-export-script-syntax-error",
    ),
    pytest.param(
        _encode("--audio", lambda m: m.dir / "folder"),
        "the audio source",
        id="encode-audio-is-a-folder",
    ),
    pytest.param(
        _encode("--audio", lambda m: m.video),
        "has no audio stream",
        id="encode-audio-without-audio",
    ),
    pytest.param(
        _encode("--crf", "60"),
        "--crf 60 is outside x264's 0-51",
        id="encode-crf-above-51",
    ),
    pytest.param(
        _encode("--encoder", "ffv1", "--crf", "18"),
        "--crf does not apply to ffv1",
        id="encode-ffv1-with-crf",
    ),
    pytest.param(
        _encode("--encoder", "svt-av1", "--crf", "64"),
        "--crf 64 is outside svt-av1's 0-63",
        id="encode-svt-av1-crf-64",
    ),
    pytest.param(
        _encode("--encoder", "prores", "--crf", "18"),
        "--crf does not apply to ProRes, whose quality is its --profile",
        id="encode-prores-with-crf",
    ),
    pytest.param(
        _encode("--encoder", "nvenc-hevc", "--crf", "20"),
        "NVENC has no CRF; its constant quality is --cq 1-51",
        id="encode-nvenc-with-crf",
    ),
    pytest.param(
        _encode("--ffmpeg-args", lambda m: f"-filter_script {m.dir / 'half.txt'}"),
        "the encoder options change the frames",
        id="encode-ffmpeg-args-filter-script",
    ),
    pytest.param(
        _cmd("models", "download", "http://[::1"), "is not an http(s) URL with a host", id="download-bad-ipv6-url"
    ),
    pytest.param(
        _cmd("models", "download", "http://exa mple.com/a.pth"), "is not an http(s) URL", id="download-url-space"
    ),
    pytest.param(_cmd("models", "download", "ftp://host/a.pth"), "is not an http(s) URL", id="download-url-ftp"),
    pytest.param(
        _encode("--audio", lambda m: m.fifo), "is not a regular file (a FIFO or a device)", id="encode-audio-fifo"
    ),
    pytest.param(_encode("--ray", "127.0.0.1:0"), "is not a Ray address", id="encode-ray-port-0"),
    pytest.param(_encode("--env", "MY-VAR"), "does not name an environment variable", id="encode-env-bad-name"),
    pytest.param(
        _encode("--env", "VSE_SURELY_UNSET_VARIABLE"), "is not set in this environment", id="encode-env-not-set"
    ),
    pytest.param(_encode("--ray", "127.0.0.1:99999"), "is not a Ray address", id="encode-ray-port-99999"),
    pytest.param(
        _encode("--ffmpeg-args", "-fs 1000"),
        "may not hold -fs: each segment must hold all of its frames",
        id="encode-ffmpeg-args-fs",
    ),
    pytest.param(
        _encode("--encoder", "x264", "--ffmpeg-args", "-preset veryslow"),
        "may not hold -preset: the preset is --preset",
        id="encode-ffmpeg-args-preset",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", lambda m: m.dir / "o.webm", "--encoder", "prores"),
        "a .webm file cannot hold prores video",
        id="encode-prores-into-webm",
    ),
    pytest.param(
        _encode("--preset", ""),
        "--preset is empty",
        id="encode-preset-empty",
    ),
    pytest.param(
        _encode("--ffmpeg-args", "-c:v libx265"),
        "may not hold -c:v",
        id="encode-ffmpeg-args-codec",
    ),
    pytest.param(
        _encode("--ffmpeg-args", "-f mp4"),
        "may not hold -f",
        id="encode-ffmpeg-args-format",
    ),
    pytest.param(
        _encode("--ffmpeg-args", "-vf hflip"),
        "may not hold -vf",
        id="encode-ffmpeg-args-filter",
    ),
    pytest.param(
        _encode("--ffmpeg-args", "-frames:v 1"),
        "may not hold -frames:v",
        id="encode-ffmpeg-args-frames",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "sleeps.vpy", "-o", "-"),
        "has no extension",
        id="encode-output-dash",
    ),
    pytest.param(
        _encode("--segment-frames", "0"),
        "--segment-frames 0 is not positive",
        id="encode-segment-frames-0",
    ),
    pytest.param(
        _encode("-a", "=value"),
        "'=value' is not key=value",
        id="encode-arg-empty-key",
    ),
    pytest.param(
        _encode("--gpus", ""),
        "--gpus '' is not a list",
        id="encode-gpus-empty",
    ),
    pytest.param(
        _cmd("preview-plugin", "install", "--dir", "/proc/vspreview"),
        "cannot write into /proc/vspreview",
        id="preview-plugin-into-proc",
    ),
    pytest.param(_cmd("models", "path", ""), "unknown model name ''", id="path-empty-name"),
    pytest.param(
        _cmd("models", "import-ncnn", lambda m: m.param, "-o", lambda m: m.dir / "x.pth"),
        "does not end in .safetensors",
        id="import-ncnn-output-not-safetensors",
    ),
]


WORKER_CASES = [  # refused once the first worker has executed the script, before any segment
    pytest.param(
        _cmd("encode", lambda m: m.dir / "matrix0.vpy", "-o", lambda m: m.dir / "o.mkv"),
        "is YUV but its _Matrix is 0",
        id="encode-yuv-matrix-0",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "float.vpy", "-o", lambda m: m.dir / "o.mkv"),
        "YUV444PS, a float format",
        id="encode-float-yuv",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "exits.vpy", "-o", lambda m: m.dir / "o.mkv"),
        "the script called sys.exit(3)",
        id="encode-script-sys-exit",
    ),
    pytest.param(
        _cmd("encode", lambda m: m.dir / "vfr.vpy", "-o", lambda m: m.dir / "o.mkv"),
        "has a variable frame rate (fps 0/1)",
        id="encode-variable-frame-rate",
    ),
]


@pytest.mark.parametrize(("argv", "fragment"), WORKER_CASES)
def test_encode_refuses_before_any_segment(media, argv, fragment, capsys) -> None:
    assert main(argv(media)) == 2
    err = capsys.readouterr().err
    error = err[err.index("error: ") :]  # after the worker's status line; a script's own error may add lines
    assert fragment in error and "Traceback" not in err, err
    assert not list(media.dir.glob("o.mkv.vsenhance/seg_*")) and not (media.dir / "o.mkv").exists()


@pytest.mark.parametrize(("argv", "fragment"), CLI_CASES)
def test_command_refuses_in_one_line(media, argv, fragment, capsys) -> None:
    inputs = [p for p in media.dir.rglob("*") if p.is_file()]
    before = {p: _sha(p) for p in inputs}
    assert main(argv(media)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("error: ") and fragment in err
    assert "Traceback" not in err
    assert {p: _sha(p) for p in inputs} == before  # no input touched
    assert not (media.dir / "c.mp4").exists() and not (media.dir / "p.json").exists()
    assert not (media.dir / "executed").exists()  # refused before any worker executed the script (it sleeps 60 s)


def test_encode_of_a_script_without_output_says_so(media, tmp_path, capsys) -> None:
    script = tmp_path / "no_output.vpy"
    script.write_text("import vapoursynth as vs\n")
    assert main(["encode", str(script), "-o", str(tmp_path / "out.mkv")]) == 2
    err = capsys.readouterr().err
    assert "sets no output 0 (it sets none)" in err and "clip.set_output()" in err
    assert "Traceback" not in err  # our own error needs none
    assert not (tmp_path / "out.mkv").exists()


def test_unknown_download_name_does_not_suggest_a_path(capsys) -> None:
    assert main(["models", "download", "nope"]) == 2
    assert "path" not in capsys.readouterr().err


def test_script_error_traceback_only_with_verbose(media, capsys) -> None:
    argv = ["pose-export", str(media.dir / "raises.vpy"), "-o", str(media.dir / "p.json")]
    assert main(["-v", *argv]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_cut_duration_past_the_end_is_cut_there_and_says_so(media, tmp_path, capsys) -> None:
    out = tmp_path / "tail.mkv"
    assert main(["cut", str(media.video), "--start", "1.5", "--duration", "5", "--reencode", "-o", str(out)]) == 0
    assert "0.5s from 1.5s, to the end of the 2s input" in capsys.readouterr().err
    assert count_frames(out) == 12  # 0.5 s at 24 fps


def test_cut_output_is_input_refused_through_another_name(media, tmp_path) -> None:
    link = tmp_path / "link.mp4"
    link.symlink_to(media.video)
    before = _sha(media.video)
    with pytest.raises(FileError, match="is the input"):
        from vsenhance.encode.cut import cut

        cut(media.video, link, 0, 1, overwrite=True)
    assert _sha(media.video) == before


# --- round 3 (issue 30): inputs are never overwritten, by a command or a filter ---------------------------------


def test_export_pose_never_replaces_the_video_the_clip_reads(env, media, tmp_path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(media.video.read_bytes())
    before = _sha(video)
    clip = core.bs.VideoSource(str(video))  # the source keeps the file open
    with pytest.raises(ClipError, match="is the input"):
        vse.export_pose(clip, video)
    assert _sha(video) == before


def test_export_pose_and_pose_export_never_replace_a_model(env, tmp_path, capsys) -> None:
    detector = tmp_path / "det.onnx"
    detector.write_bytes(env.bd.read_bytes())
    before = _sha(detector)
    clip = vse.pose(posekit.clip_from_frames(np.zeros((2, 32, 32, 3), np.float32)), detector, env.dp, providers="cpu")
    with pytest.raises(ClipError, match="is the input"):  # ONNX Runtime closed the file: noted when given
        vse.export_pose(clip, detector)
    script = tmp_path / "pose.vpy"
    script.write_text(
        "import numpy as np, vsenhance as vse\nfrom tests.models.pose import posekit\n"
        f"c = posekit.clip_from_frames(np.zeros((2, 32, 32, 3), np.float32))\n"
        f"vse.pose(c, {str(detector)!r}, {str(env.dp)!r}, providers='cpu').set_output()\n"
    )
    assert main(["pose-export", str(script), "-o", str(detector), "-y"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert _sha(detector) == before


def test_cut_and_encode_never_replace_a_fifo(media, tmp_path, capsys) -> None:
    fifo = tmp_path / "out.mkv"
    os.mkfifo(fifo)
    from vsenhance.encode.cut import cut

    with pytest.raises(FileError, match="is not a regular file"):
        cut(media.video, fifo, 0, 1)
    assert main(["encode", str(media.dir / "sleeps.vpy"), "-o", str(fifo)]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and not (media.dir / "executed").exists()


def test_models_download_never_replaces_a_file_it_was_not_asked_to(tmp_path, capsys) -> None:
    mine = tmp_path / "mine.pth"
    mine.write_bytes(b"my own file")
    # the refusal comes before any connection: port 9 (discard) is never reached
    assert main(["models", "download", "http://127.0.0.1:9/model.pth", "-o", str(mine)]) == 2
    assert "already exists" in capsys.readouterr().err and mine.read_bytes() == b"my own file"
    assert main(["models", "download", "http://127.0.0.1:9/model.pth", "-o", "/dev/null"]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_a_stale_alpha_prop_is_not_kept_on_a_larger_frame(env) -> None:
    alpha = core.std.BlankClip(format=vs.GRAYS, width=32, height=24, length=2)
    clip = core.std.ClipToProp(env.rgb, alpha, prop="_Alpha")
    assert "_Alpha" in clip.get_frame(0).props
    out = vse.upscale(clip, env.model, device="cpu")
    assert "_Alpha" not in out.get_frame(0).props
    hybrid = vse.upscale_ranges(clip, "0", env.model, device="cpu")
    assert all("_Alpha" not in hybrid.get_frame(n).props for n in range(2))


def test_a_ray_client_address_without_ray_client_is_refused_up_front(media, capsys) -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("grpc") is not None:
        pytest.skip("needs Ray without Ray Client (the cluster extra as it installs)")
    argv = ["encode", str(media.dir / "sleeps.vpy"), "-o", str(media.dir / "o.mkv"), "--ray", "ray://127.0.0.1:10001"]
    assert main(argv) == 2
    assert "Ray Client (grpcio) is not installed" in capsys.readouterr().err
    assert not (media.dir / "executed").exists()


def test_an_interlaced_clip_is_refused_when_upscale_is_made(env) -> None:
    for field, order in ((1, "bottom"), (2, "top")):
        with pytest.raises(ClipError, match=f"frame 0 is interlaced \\(_FieldBased={field}, {order} field first\\)"):
            vse.upscale(env.rgb.std.SetFieldBased(field), env.model, device="cpu")
    vse.upscale(env.rgb.std.SetFieldBased(0), env.model, device="cpu")  # progressive: fine


def test_gpus_without_an_nvidia_driver_is_said(media, tmp_path, capsys) -> None:
    if Path("/proc/driver/nvidia/gpus").is_dir():
        pytest.skip("this machine has an NVIDIA driver")
    out, script = tmp_path / "o.mkv", tmp_path / "yuv.vpy"
    script.write_text("import vapoursynth as vs\nvs.core.std.BlankClip(format=vs.YUV420P8, length=2).set_output()\n")
    assert main(["encode", str(script), "-o", str(out), "--encoder", "ffv1", "--gpus", "0"]) == 0
    assert "this machine shows no NVIDIA GPU" in capsys.readouterr().err


def test_a_state_folder_that_is_a_file_and_an_empty_plugin_dir_are_refused(media, tmp_path, capsys) -> None:
    (tmp_path / "o.mkv.vsenhance").write_text("not a folder")
    assert main(["encode", str(media.dir / "sleeps.vpy"), "-o", str(tmp_path / "o.mkv")]) == 2
    assert "where this encode keeps its state, is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["preview-plugin", "install", "--dir", ""])
    assert "--dir is empty" in capsys.readouterr().err and not (Path.cwd() / "vsenhance.pth").exists()
