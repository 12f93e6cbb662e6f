"""The SR runtime against a transcription of Real-ESRGAN's ``RealESRGANer`` inference."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.tiny_models import make_compact
from vsenhance.errors import DeviceError, ModelError
from vsenhance.models import cores, sr
from vsenhance.models.sr import SRRuntime, TileSettings, resolve_device, resolve_dtype


def reference_enhance(model, scale: int, img: torch.Tensor, tile: int, tile_pad: int, pre_pad: int) -> torch.Tensor:
    """``RealESRGANer.pre_process`` + ``tile_process``/``process`` + ``post_process``, transcribed."""
    if pre_pad != 0:
        img = F.pad(img, (0, pre_pad, 0, pre_pad), "reflect")
    mod_scale = {2: 2, 1: 4}.get(scale)
    mod_pad_h = mod_pad_w = 0
    if mod_scale is not None:
        _, _, h, w = img.size()
        if h % mod_scale != 0:
            mod_pad_h = mod_scale - h % mod_scale
        if w % mod_scale != 0:
            mod_pad_w = mod_scale - w % mod_scale
        img = F.pad(img, (0, mod_pad_w, 0, mod_pad_h), "reflect")
    if tile > 0:
        batch, channel, height, width = img.shape
        output = img.new_zeros((batch, channel, height * scale, width * scale))
        for y in range(math.ceil(height / tile)):
            for x in range(math.ceil(width / tile)):
                isx, iex = x * tile, min(x * tile + tile, width)
                isy, iey = y * tile, min(y * tile + tile, height)
                psx, pex = max(isx - tile_pad, 0), min(iex + tile_pad, width)
                psy, pey = max(isy - tile_pad, 0), min(iey + tile_pad, height)
                out_tile = model(img[:, :, psy:pey, psx:pex])
                osx, osy = (isx - psx) * scale, (isy - psy) * scale
                output[:, :, isy * scale : iey * scale, isx * scale : iex * scale] = out_tile[
                    :, :, osy : osy + (iey - isy) * scale, osx : osx + (iex - isx) * scale
                ]
    else:
        output = model(img)
    _, _, h, w = output.size()
    output = output[:, :, 0 : h - mod_pad_h * scale, 0 : w - mod_pad_w * scale]
    if pre_pad != 0:
        _, _, h, w = output.size()
        output = output[:, :, 0 : h - pre_pad * scale, 0 : w - pre_pad * scale]
    return output.clamp(0, 1)


def runtime(descriptor, **tiles) -> SRRuntime:
    return SRRuntime(descriptor, device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(**tiles))


def as_tensor(photo: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(photo.transpose(2, 0, 1).copy()).unsqueeze(0)


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize(
    ("tile", "tile_pad", "pre_pad", "crop"),
    [(16, 2, 0, (48, 64)), (20, 3, 5, (45, 61)), (0, 10, 3, (47, 63)), (7, 1, 0, (13, 11))],
)
def test_matches_realesrganer(photo, scale, tile, tile_pad, pre_pad, crop) -> None:
    desc = make_compact(scale=scale)
    img = as_tensor(photo)[:, :, : crop[0], : crop[1]].contiguous()
    with torch.inference_mode():
        expected = reference_enhance(desc.model.eval(), scale, img, tile, tile_pad, pre_pad)
        got = runtime(desc, tile=tile, tile_pad=tile_pad, pre_pad=pre_pad).upscale_tensor(img)
    assert got.shape == (1, 3, crop[0] * scale, crop[1] * scale)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_tiled_equals_untiled_when_pad_covers_receptive_field(photo) -> None:
    desc = make_compact(scale=2, num_conv=2)  # receptive radius 4 input pixels
    img = as_tensor(photo)
    with torch.inference_mode():
        whole = runtime(desc, tile=0).upscale_tensor(img)
        tiled = runtime(desc, tile=13, tile_pad=4).upscale_tensor(img)
        too_small = runtime(desc, tile=13, tile_pad=1).upscale_tensor(img)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    assert (too_small - whole).abs().max() > 1e-3  # with less context than the receptive field, seams show


def test_tile_batch_gives_the_same_result(photo) -> None:
    desc = make_compact(scale=2)
    img = as_tensor(photo)
    with torch.inference_mode():
        one = runtime(desc, tile=16, tile_pad=3).upscale_tensor(img)
        four = runtime(desc, tile=16, tile_pad=3, tile_batch=4).upscale_tensor(img)
    torch.testing.assert_close(four, one, atol=1e-5, rtol=0)


def process_in_threads(rt: SRRuntime, planes: list[np.ndarray], frames: int) -> list[list[np.ndarray]]:
    """``frames`` frames through ``rt.process`` at once, one thread each; their output planes (96x128)."""
    outs = [[np.zeros((96, 128), np.float32) for _ in range(3)] for _ in range(frames)]
    threads = [threading.Thread(target=rt.process, args=(planes, o)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outs


def test_process_writes_planes_and_is_thread_safe(photo) -> None:
    desc = make_compact(scale=2)
    rt = SRRuntime(desc, device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(tile=16), streams=2)
    planes = [np.ascontiguousarray(photo[..., c]) for c in range(3)]
    expected = rt.upscale_tensor(as_tensor(photo))[0].numpy()
    frames, lock, upscale = [], threading.Lock(), rt._upscale

    def counted(img, stream):
        with lock:
            frames.append(img.shape)
        return upscale(img, stream)

    rt._upscale = counted
    for o in process_in_threads(rt, planes, 4):
        np.testing.assert_allclose(np.stack(o), expected, atol=1e-6)
    assert len(frames) == 4  # one network pass (tiled) per frame


class _Picky(torch.nn.Module):
    """``net`` on tiles up to 40 pixels; a larger one "runs out of CUDA memory"."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        if x.shape[-1] > 40 or x.shape[-2] > 40:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.net(x)


def test_out_of_memory_retries_with_smaller_tiles(photo, caplog) -> None:
    desc = make_compact(scale=2, num_conv=2)
    net = desc.model

    rt = runtime(desc, tile=64, tile_pad=4)
    rt.model = _Picky(net)
    with caplog.at_level(logging.WARNING), torch.inference_mode():
        got = rt.upscale_tensor(as_tensor(photo))
        rt.upscale_tensor(as_tensor(photo))
        expected = reference_enhance(net, 2, as_tensor(photo), 32, 4, 0)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert sum("out of memory" in r.message for r in caplog.records) == 1


def test_an_out_of_memory_shrink_stays_with_its_filter(photo) -> None:
    desc = make_compact(scale=2, num_conv=2)
    net = desc.model

    shared = runtime(desc, tile=64, tile_pad=4)
    hit, other = shared.for_filter(), shared.for_filter()
    hit.model = _Picky(net)  # only this filter's frames run out of memory
    with torch.inference_mode():
        hit.upscale_tensor(as_tensor(photo))
        other.upscale_tensor(as_tensor(photo))
    assert (hit.tile, other.tile, shared.tile, shared.for_filter().tile) == (32, 64, 64, 64)


def test_cuda_requested_without_cuda_raises() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match=r"sees no GPU|built without CUDA"):
        resolve_device("cuda", "vsenhance.upscale")
    assert resolve_device("auto", "f").type == "cpu"


@pytest.mark.parametrize(
    ("version", "problem", "fix"),
    [
        ("13.0", "is a CUDA 13.0 build, but it sees no GPU", "nvidia-smi"),
        (None, "is built without CUDA", "pip install"),
    ],
)
def test_no_cuda_tells_a_cpu_torch_from_a_missing_gpu(monkeypatch, version, problem, fix) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", version)
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda", "f")
    assert problem in info.value.problem and fix in info.value.fix


@pytest.fixture
def bf16_units(monkeypatch):
    """Pretend the CPU has these bf16 units (precision="auto" is decided once per process: reset around)."""

    def pretend(units):
        monkeypatch.setattr(sr, "cpu_bf16_units", lambda: units)
        sr._cpu_auto_dtype.cache_clear()

    yield pretend
    sr._cpu_auto_dtype.cache_clear()


@pytest.mark.parametrize(
    ("units", "expected", "why"),
    [("amx", torch.bfloat16, "amx bf16 matrix units"), ("avx512_bf16", torch.bfloat16, "avx512_bf16 bf16"),
     (None, torch.float32, "no bf16 matrix units")],
)  # fmt: skip
def test_auto_precision_on_the_cpu_follows_its_bf16_units(bf16_units, caplog, units, expected, why) -> None:
    bf16_units(units)
    cpu = torch.device("cpu")
    with caplog.at_level(logging.INFO, logger="vsenhance.models.sr"):
        assert resolve_dtype("auto", cpu, make_compact(), "f") is expected
        assert resolve_dtype("auto", cpu, make_compact(), "f") is expected
    said = [r.getMessage() for r in caplog.records if "precision" in r.getMessage()]
    assert len(said) == 1 and why in said[0]  # logged once, naming the choice and why
    assert resolve_dtype("fp32", cpu, make_compact(), "f") is torch.float32  # fp32 stays exact


def test_auto_without_bf16_units_is_bit_identical_to_fp32(bf16_units, photo) -> None:
    bf16_units(None)
    desc = make_compact()
    outs = []
    for precision in ("auto", "fp32"):
        dtype = resolve_dtype(precision, torch.device("cpu"), desc, "f")
        rt = SRRuntime(desc, device=torch.device("cpu"), dtype=dtype, tiles=TileSettings(tile=32, tile_pad=4))
        with torch.inference_mode():
            outs.append(rt.upscale_tensor(as_tensor(photo)))
    assert torch.equal(outs[0], outs[1])


def test_this_cpus_units_are_what_torch_reports() -> None:
    units = sr.cpu_bf16_units()
    assert units == ("amx" if torch.cpu._is_amx_tile_supported() else
                     "avx512_bf16" if torch.cpu._is_avx512_bf16_supported() else None)  # fmt: skip


def test_precision_rules() -> None:
    desc = make_compact()
    cpu = torch.device("cpu")
    assert resolve_dtype("bf16", cpu, desc, "f") is torch.bfloat16
    with pytest.raises(DeviceError, match="fp16"):
        resolve_dtype("fp16", cpu, desc, "f")
    with pytest.raises(Exception, match="precision='fp8'"):
        resolve_dtype("fp8", cpu, desc, "f")


def test_compiled_network_matches_eager_per_tile_shape(photo, caplog) -> None:
    """compile=True gives the eager result; each distinct tile shape compiles once, later frames reuse it."""
    img = as_tensor(photo)
    tiles = TileSettings(tile=40, tile_pad=4)
    eager = SRRuntime(make_compact(), device=torch.device("cpu"), dtype=torch.float32, tiles=tiles)
    compiled = SRRuntime(make_compact(), device=torch.device("cpu"), dtype=torch.float32, tiles=tiles, compile=True)
    with torch.inference_mode(), caplog.at_level(logging.INFO, logger="vsenhance.models.sr"):
        expected = eager.upscale_tensor(img)
        torch.testing.assert_close(compiled.upscale_tensor(img), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(compiled.upscale_tensor(img), expected, atol=1e-5, rtol=1e-5)
    # 64x48 in tiles of 40 with 4 pixels of pad: 44 or 28 columns by 44 or 12 rows
    shapes = {(1, 3, 44, 44), (1, 3, 44, 28), (1, 3, 12, 44), (1, 3, 12, 28)}
    assert compiled._compiled_shapes == shapes
    assert sum("compiling the network" in r.message for r in caplog.records) == len(shapes)


@pytest.mark.parametrize("user_level", [logging.NOTSET, logging.DEBUG])
def test_compile_quiets_inductor_cache_locks_unless_configured(user_level) -> None:
    """Under vspipe every DEBUG record reaches the console: compile=True raises filelock (inductor's cache locks,
    two lines per acquire) to WARNING, but keeps a level the user chose."""
    locks = logging.getLogger("filelock")
    before = locks.level
    locks.setLevel(user_level)
    try:
        SRRuntime(make_compact(), device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(), compile=True)
        assert locks.level == (logging.WARNING if user_level == logging.NOTSET else user_level)
    finally:
        locks.setLevel(before)


def test_compile_without_a_compiler_is_an_error(monkeypatch) -> None:
    monkeypatch.setattr("vsenhance.models.sr.shutil.which", lambda name: None)
    with pytest.raises(ModelError, match="C\\+\\+ compiler"):
        SRRuntime(make_compact(), device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(), compile=True)


def test_process_settings_are_applied_once_and_not_by_runtimes(monkeypatch) -> None:
    """gc.freeze and the CPU thread count are process-wide: the first configure_process sets them, later calls
    (another runtime with other streams) and runtime constructors leave them alone."""
    calls = []
    monkeypatch.setattr(sr, "_configured", False)
    monkeypatch.setattr(sr.gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(sr.torch, "set_num_threads", lambda n: calls.append(n))
    monkeypatch.setattr(cores, "usable_cores", lambda: 8)
    runtime(make_compact())
    assert calls == []
    sr.configure_process(torch.device("cpu"), streams=2)
    assert calls == ["freeze", 4]
    sr.configure_process(torch.device("cpu"), streams=1)
    runtime(make_compact())
    assert calls == ["freeze", 4]
