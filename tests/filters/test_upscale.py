"""``vse.upscale`` as a VapourSynth filter: formats, props, random access, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsenhance as vse
from vsenhance.bridge.frames import read_planes
from vsenhance.constants import CHOICE_PROPS, DEDUP_ID_PROP
from vsenhance.models.sr import SRRuntime

core = vs.core


def rgbs_clip(photo: np.ndarray, length: int = 4) -> vs.VideoNode:
    """A clip of the photo, shifted by one pixel per frame, in RGBS."""
    h, w, _ = photo.shape
    blank = core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=length, fpsnum=24)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        shifted = np.roll(photo, n, axis=1)
        for c, plane in enumerate(read_planes(out)):
            plane[...] = shifted[..., c]
        out.props["Scene"] = n // 2
        return out

    return blank.std.ModifyFrame(blank, fill)


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """Counts frames the model runs on."""
    seen: list[int] = []
    original = SRRuntime.process

    def counting(self, planes, out, **kwargs):
        seen.append(1)
        original(self, planes, out, **kwargs)

    monkeypatch.setattr(SRRuntime, "process", counting)
    return seen


def test_rgbs_output_matches_runtime(photo, tiny_model_path) -> None:
    clip = rgbs_clip(photo)
    out = vse.upscale(clip, tiny_model_path, tile=16, tile_pad=4, device="cpu", precision="fp32", backend="torch")
    assert (out.format.id, out.width, out.height, out.num_frames) == (vs.RGBS, 128, 96, 4)
    frame = out.get_frame(1)
    got = np.stack(read_planes(frame))
    from vsenhance.models.loading import load_model
    from vsenhance.models.sr import TileSettings

    rt = SRRuntime(
        load_model(tiny_model_path, func="t"),
        device=torch.device("cpu"),
        dtype=torch.float32,
        tiles=TileSettings(tile=16, tile_pad=4),
    )
    src = torch.from_numpy(np.roll(photo, 1, axis=1).transpose(2, 0, 1).copy()).unsqueeze(0)
    np.testing.assert_allclose(got, rt.upscale_tensor(src)[0].numpy(), atol=1e-6)
    assert frame.props["Scene"] == 0


@pytest.mark.parametrize(
    "fmt",
    [vs.RGB24, vs.RGB48, vs.RGBH, vs.YUV420P8, vs.YUV422P10, vs.YUV444P16, vs.YUV420PS, vs.GRAY8, vs.GRAY16, vs.GRAYS],
)
def test_every_format_family(photo, nearest_model_path, fmt) -> None:
    rgb = rgbs_clip(photo, length=2)
    family = core.get_video_format(fmt).color_family
    limited = fmt in (vs.YUV420P8, vs.YUV422P10, vs.GRAY8)
    matrix = {} if family == vs.RGB else {"matrix_s": "709"}
    clip = core.resize.Bicubic(rgb, format=fmt, range_s="limited" if limited else "full", **matrix)
    clip = core.std.SetFrameProps(clip, Title="keep me")
    out = vse.upscale(clip, nearest_model_path, tile=0, device="cpu", precision="fp32")
    half = core.get_video_format(fmt).sample_type == vs.FLOAT and core.get_video_format(fmt).bits_per_sample == 16
    assert out.format.id == (vs.RGBH if half else vs.RGBS)
    same = vse.upscale(clip, nearest_model_path, tile=0, device="cpu", precision="fp32", output_format="same")
    assert same.format.id == fmt and (same.width, same.height) == (128, 96)
    f = same.get_frame(1)
    assert f.props["Title"] == b"keep me" or f.props["Title"] == "keep me"
    assert f.props["Scene"] == 0
    # the model is a nearest-neighbour upscaler, so the round trip through RGB must give back the source's
    # levels (matrix, range and depth honoured), up to chroma resampling
    src = np.asarray(clip.get_frame(1)[0], dtype=np.float64)
    got = np.asarray(f[0], dtype=np.float64)[::2, ::2]
    fmt_obj = core.get_video_format(fmt)
    peak = (1 << fmt_obj.bits_per_sample) - 1 if fmt_obj.sample_type == vs.INTEGER else 1.0
    assert np.abs(got - src).mean() / peak < 0.01


@pytest.mark.parametrize(
    ("fmt", "output_format"),
    [
        (vs.YUV420P8, None),
        (vs.YUV420P10, "same"),
        (vs.YUV422P16, vs.RGB24),
        (vs.GRAY8, None),
        (vs.RGB24, None),
        (vs.RGB48, vs.YUV444P10),
        (vs.YUV444PH, "same"),
    ],
)
def test_conversions_on_the_inference_device_match_vapoursynth(
    photo, tiny_model_path, monkeypatch, fmt, output_format
) -> None:
    """The GPU path (source planes in, output planes out; converted by torch) forced on the CPU: same frames
    (to rounding; "same" quantises by rounding on the device, by error diffusion in zimg), same props."""
    family = core.get_video_format(fmt).color_family
    clip = core.resize.Bicubic(
        rgbs_clip(photo, length=2), format=fmt, **({} if family == vs.RGB else {"matrix_s": "709"})
    )
    clip = clip.std.SetFrameProps(_ChromaLocation=1) if family == vs.YUV else clip
    kwargs = {"tile": 32, "tile_pad": 8, "device": "cpu", "precision": "fp32", "output_format": output_format}
    by_zimg = vse.upscale(clip, tiny_model_path, **kwargs).get_frame(1)
    monkeypatch.setattr("vsenhance.filters.upscale._converts_on_device", lambda runtime: True)
    on_device = vse.upscale(clip, tiny_model_path, **kwargs)
    assert on_device.format.id == by_zimg.format.id
    frame = on_device.get_frame(1)
    ids = {DEDUP_ID_PROP: None}  # each clip names its own held-frame decisions
    assert dict(frame.props) | ids == dict(by_zimg.props) | ids
    fmt_out = frame.format
    quantised = fmt_out.sample_type == vs.INTEGER or fmt_out.bits_per_sample == 16
    for p in range(fmt_out.num_planes):
        a, b = (np.asarray(f[p], dtype=np.float64) for f in (frame, by_zimg))
        peak = (1 << fmt_out.bits_per_sample) - 1 if fmt_out.sample_type == vs.INTEGER else 1.0
        if not quantised:
            assert np.abs(a - b).max() < 1e-5, p
        elif p == 0 or fmt_out.color_family == vs.RGB:
            assert np.abs(a - b).max() <= max(1, peak / 500), p  # rounding vs error diffusion
        else:
            assert np.abs(a - b).mean() / peak < 0.01, p  # [1, 2, 1] chroma vs Spline36


def test_random_access_runs_only_the_requested_frame(photo, tiny_model_path, calls) -> None:
    clip = rgbs_clip(photo, length=200)
    out = vse.upscale(clip, tiny_model_path, tile=0, device="cpu", precision="fp32")
    out.get_frame(150)
    assert len(calls) == 1


def test_scale_differs_from_model(photo, tiny_model_path) -> None:
    clip = rgbs_clip(photo, length=1)
    out = vse.upscale(clip, tiny_model_path, scale=1.5, device="cpu", precision="fp32")
    assert (out.width, out.height) == (96, 72)
    out.get_frame(0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile": -1}, "tile=-1"),
        ({"streams": 0}, "streams=0"),
        ({"scale": 0}, "scale=0"),
        ({"output_format": "yuv"}, "output_format"),
    ],
)
def test_bad_arguments(photo, tiny_model_path, kwargs, match) -> None:
    with pytest.raises(vs.Error, match=match):
        vse.upscale(rgbs_clip(photo, 1), tiny_model_path, device="cpu", precision="fp32", **kwargs)


def test_variable_format_and_size_are_refused(photo, tiny_model_path) -> None:
    a = rgbs_clip(photo, 1)
    varsize = core.std.Splice([a, core.resize.Point(a, 32, 24)], mismatch=True)
    with pytest.raises(vs.Error, match="variable-size"):
        vse.upscale(varsize, tiny_model_path)
    varfmt = core.std.Splice([a, core.resize.Point(a, format=vs.RGB24)], mismatch=True)
    with pytest.raises(vs.Error, match="variable-format"):
        vse.upscale(varfmt, tiny_model_path)


def test_cuda_without_cuda_is_an_error(photo, tiny_model_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(vs.Error, match=r"sees no GPU|built without CUDA"):
        vse.upscale(rgbs_clip(photo, 1), tiny_model_path, device="cuda")


def test_odd_and_tiny_frames(tiny_model_path) -> None:
    clip = core.std.BlankClip(format=vs.RGBS, width=3, height=5, length=1, color=[0.2, 0.5, 0.8])
    out = vse.upscale(clip, tiny_model_path, tile=2, tile_pad=1, pre_pad=1, device="cpu", precision="fp32")
    assert (out.width, out.height) == (6, 10)
    assert np.isfinite(np.stack(read_planes(out.get_frame(0)))).all()


def test_same_output_keeps_hdr_props(photo, nearest_model_path) -> None:
    """A PQ clip (props as bestsource sets them) keeps its colour description and HDR10 metadata, so
    ``vsenhance encode`` tags the upscaled film like its source."""
    hdr = {
        "_Matrix": 9, "_Transfer": 16, "_Primaries": 9, "_Range": 0, "_ChromaLocation": 2,
        "MasteringDisplayPrimariesX": [0.68, 0.265, 0.15], "MasteringDisplayPrimariesY": [0.32, 0.69, 0.06],
        "MasteringDisplayWhitePointX": 0.3127, "MasteringDisplayWhitePointY": 0.329,
        "MasteringDisplayMinLuminance": 0.005, "MasteringDisplayMaxLuminance": 1000.0,
        "ContentLightLevelMax": 1000, "ContentLightLevelAverage": 400,
    }  # fmt: skip
    clip = core.resize.Bicubic(rgbs_clip(photo, 2), format=vs.YUV420P10, matrix_s="2020ncl", range_s="limited")
    clip = core.std.SetFrameProps(clip, **hdr)
    out = vse.upscale(clip, nearest_model_path, tile=0, device="cpu", precision="fp32", output_format="same")
    props = out.get_frame(1).props
    assert out.format.id == vs.YUV420P10
    for key, value in hdr.items():
        if key == "_ChromaLocation":
            assert props[key] == 0  # re-subsampled with left siting, and tagged so (truthfully)
        elif isinstance(value, list):
            assert list(props[key]) == pytest.approx(value), key
        else:
            assert props[key] == pytest.approx(value), key


def test_filters_share_the_loaded_model_but_not_the_tile(photo, tiny_model_path, monkeypatch) -> None:
    """Two upscale() calls with the same settings load the model once, and each has its own runtime view (its
    own tile size after an out-of-memory retry)."""
    seen: list[SRRuntime] = []  # the views themselves: ids of dead objects can repeat
    original = SRRuntime.process

    def recording(self, planes, out, **kwargs):
        seen.append(self)
        original(self, planes, out, **kwargs)

    monkeypatch.setattr(SRRuntime, "process", recording)
    clip = rgbs_clip(photo, length=1)
    for _ in range(2):
        vse.upscale(clip, tiny_model_path, tile=16, tile_pad=4, device="cpu", precision="fp32").get_frame(0)
    view_a, view_b = seen
    assert view_a is not view_b and view_a.model is view_b.model


AUTO_BACKEND = "openvino" if importlib.util.find_spec("openvino") else "torch"  # backend="auto" on the CPU


def test_every_frame_says_what_made_it(photo, tiny_model_path) -> None:
    """vs-preview shows frame props but no logs: the model, device, precision and tile used are props."""
    frame = vse.upscale(rgbs_clip(photo, 1), tiny_model_path, tile=16, device="cpu", precision="fp32").get_frame(0)
    got = {key: frame.props[key] for key in CHOICE_PROPS}
    got = {k: v.decode() if isinstance(v, bytes) else v for k, v in got.items()}
    assert got == {"VSEnhanceModel": tiny_model_path.name, "VSEnhanceDevice": "cpu",
                   "VSEnhancePrecision": "float32", "VSEnhanceBackend": AUTO_BACKEND, "VSEnhanceTile": 16}  # fmt: skip


def test_openvino_frames_say_so_and_equal_torchs(photo, tiny_model_path) -> None:
    if AUTO_BACKEND != "openvino":
        pytest.skip("openvino is not installed (pip install 'vsenhance[openvino]')")
    clip = rgbs_clip(photo, 2)
    frames = {b: vse.upscale(clip, tiny_model_path, tile=16, precision="fp32", backend=b).get_frame(1)
              for b in ("torch", "openvino")}  # fmt: skip
    props = {k: frames["openvino"].props[k] for k in ("VSEnhanceDevice", "VSEnhancePrecision", "VSEnhanceBackend")}
    assert {k: v.decode() if isinstance(v, bytes) else v for k, v in props.items()} == {
        "VSEnhanceDevice": "cpu", "VSEnhancePrecision": "float32", "VSEnhanceBackend": "openvino"}  # fmt: skip
    for plane in range(3):
        np.testing.assert_allclose(np.asarray(frames["openvino"][plane]), np.asarray(frames["torch"][plane]),
                                   atol=1 / 255, rtol=0)  # fmt: skip


def test_real_esrgans_x1_models_run_same_size_tiled_as_untiled(photo, tmp_path) -> None:
    """Real-ESRGAN's x1 models (denoise, dejpeg) are "Restoration" to spandrel; they run, padded as RealESRGANer
    pads scale 1 (a multiple of 4), and tiles match the whole frame."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=1).eval()
    path = tmp_path / "x1.safetensors"
    save_file(net.state_dict(), path)
    clip = rgbs_clip(np.ascontiguousarray(photo[:46, :62]), length=1)  # 62x46: not a multiple of 4: mod-padded
    whole = vse.upscale(clip, path, device="cpu", tile=0, precision="fp32")
    tiled = vse.upscale(clip, path, device="cpu", tile=24, tile_pad=8, precision="fp32")
    assert (whole.width, whole.height) == (62, 46)
    src = np.stack(read_planes(clip.get_frame(0)))
    with torch.no_grad():  # RealESRGANer's scale-1 path: reflect-pad to a multiple of 4, infer, crop
        padded = torch.nn.functional.pad(torch.from_numpy(src)[None], (0, 2, 0, 2), mode="reflect")
        ref = net(padded).clamp(0, 1)[0, :, :46, :62].numpy()
    for out in (whole, tiled):
        got = np.stack(read_planes(out.get_frame(0)))
        assert np.abs(got - ref).max() < 1e-5
