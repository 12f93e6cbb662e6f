"""The network on OpenVINO: Real-ESRGAN's tiling kept exactly, the IR and compile caches and their failure paths,
devices OpenVINO does not see, streams."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tiny_models import make_compact
from vsenhance.errors import DeviceError
from vsenhance.models import openvino_network
from vsenhance.models.sr import SRRuntime, TileSettings, cpu_bf16_units

from .test_sr import as_tensor, process_in_threads, reference_enhance

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not openvino_network.openvino_available(), reason="openvino is not installed (pip install 'vsenhance[openvino]')"
)


def ov_runtime(descriptor, precision: str = "fp32", streams: int = 1, **tiles) -> SRRuntime:
    network = openvino_network.OpenVinoNetwork(
        descriptor.model, device="CPU", precision=precision, streams=streams, func="vsenhance.upscale"
    )
    return SRRuntime(descriptor, device=torch.device("cpu"), dtype=torch.float32, tiles=TileSettings(**tiles),
                     streams=streams, openvino=network)  # fmt: skip


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize(("tile", "tile_pad", "pre_pad", "crop"), [(16, 2, 0, (48, 64)), (0, 10, 3, (47, 63))])
def test_fp32_matches_realesrganer_within_a_code(model_dir, photo, scale, tile, tile_pad, pre_pad, crop) -> None:
    desc = make_compact(scale=scale)
    img = as_tensor(photo)[:, :, : crop[0], : crop[1]].contiguous()
    with torch.inference_mode():
        expected = reference_enhance(desc.model.eval(), scale, img, tile, tile_pad, pre_pad)
    got = ov_runtime(desc, tile=tile, tile_pad=tile_pad, pre_pad=pre_pad).upscale_tensor(img)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1 / 255, rtol=0)
    assert (got - expected).abs().max() < 1e-4  # measured: about 1e-6, the kernels' own rounding


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_low_precision_runs_where_the_cpu_has_its_units_and_says_so_where_not(
    model_dir, photo, caplog, precision
) -> None:
    """bf16 on a CPU with bf16 units (AMX, AVX512-BF16) is within 50 dB of fp32; where OpenVINO's CPU plugin
    ignores the hint (no such units: it runs f32), the output is fp32's, the precision says float32, and a
    warning says the asked precision does not run. fp16 runs on the CPU only with AMX-FP16 units."""
    desc = make_compact(scale=2)
    img = as_tensor(photo)
    fp32 = ov_runtime(desc, "fp32", tile=0).upscale_tensor(img)
    runtime = ov_runtime(desc, precision, tile=0)
    with caplog.at_level("WARNING"):
        low = runtime.upscale_tensor(img)
        ran = runtime.openvino.precision()
    warned = [r.getMessage() for r in caplog.records if "OpenVINO's CPU plugin runs" in r.getMessage()]
    if ran == "float32":
        assert precision == "fp16" or cpu_bf16_units() is None  # bf16 units: OpenVINO honours the bf16 hint
        assert warned == [f"vsenhance.upscale: precision='{precision}': OpenVINO's CPU plugin runs float32 here "
                          f"(this CPU has no {'bfloat16' if precision == 'bf16' else 'float16'} support); "
                          "VSEnhancePrecision says so"]  # fmt: skip
        torch.testing.assert_close(low, fp32, atol=0, rtol=0)
    else:
        assert ran == {"bf16": "bfloat16", "fp16": "float16"}[precision] and not warned
        mse = float(((low - fp32) ** 2).mean())
        assert mse > 0 and 10 * np.log10(1 / mse) >= 50


def test_the_ir_is_converted_once_and_read_from_the_cache(model_dir, photo, monkeypatch) -> None:
    desc = make_compact(scale=2)
    first = ov_runtime(desc, tile=16).upscale_tensor(as_tensor(photo))
    folders = [p for p in (model_dir / "openvino").iterdir() if p.name != "compiled"]
    assert len(folders) == 1 and (folders[0] / "model.xml").is_file() and (folders[0] / "model.bin").is_file()
    monkeypatch.setattr(openvino_network.OpenVinoNetwork, "_save", lambda *a: pytest.fail("converted again"))
    openvino = openvino_network._openvino("t")
    monkeypatch.setattr(openvino, "convert_model", lambda *a, **k: pytest.fail("converted again"))
    torch.testing.assert_close(ov_runtime(desc, tile=16).upscale_tensor(as_tensor(photo)), first, atol=0, rtol=0)


def test_a_damaged_ir_costs_a_warning_and_a_conversion(model_dir, photo, caplog) -> None:
    desc = make_compact(scale=2)
    first = ov_runtime(desc, tile=0).upscale_tensor(as_tensor(photo))
    (ir,) = [p for p in (model_dir / "openvino").iterdir() if p.name != "compiled"]
    (ir / "model.xml").write_text("<net>cut short")
    with caplog.at_level("WARNING"):
        again = ov_runtime(desc, tile=0).upscale_tensor(as_tensor(photo))
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert (ir / "model.xml").read_text().startswith("<?xml")  # replaced by the new conversion


def test_a_damaged_compile_cache_costs_a_warning_never_a_frame(model_dir, photo, caplog) -> None:
    desc = make_compact(scale=2)
    first = ov_runtime(desc, tile=0).upscale_tensor(as_tensor(photo))
    blobs = [p for p in (model_dir / "openvino" / "compiled").rglob("*") if p.is_file()]
    assert blobs, "OpenVINO wrote no compiled blob"
    for blob in blobs:
        blob.write_bytes(b"\0garbage" * 8)
    with caplog.at_level("WARNING"):
        again = ov_runtime(desc, tile=0).upscale_tensor(as_tensor(photo))
    torch.testing.assert_close(again, first, atol=0, rtol=0)


# What OpenVINO's GPU plugin raises when a shape does not fit (ocl_engine.cpp), as its Python API passes it on.
_GPU_OOM = (
    "Exception from src/inference/src/cpp/infer_request.cpp:245:\n"
    "Exception from src/plugins/intel_gpu/src/runtime/ocl/ocl_engine.cpp:185:\n[GPU] out of GPU resources\n"
)


class _SmallDevice:
    """OpenVINO on a device with room for inputs up to 40 pixels a side: larger ones fail ``where`` ("compile":
    compile_model; "infer": the request), as an Intel GPU's do when a tile does not fit."""

    def __init__(self, network, where: str) -> None:
        self.network, self.where, self.compiled = network, where, network._compile

    @staticmethod
    def fits(shape) -> bool:
        return shape[-1] <= 40 and shape[-2] <= 40

    def compile_model(self, model, device, config):
        shape = tuple(model.input(0).get_shape())
        if self.where == "compile" and not self.fits(shape):
            raise RuntimeError(_GPU_OOM)
        return self.network._ov.Core().compile_model(model, device, config)

    def compile(self, shape):
        compiled = self.compiled(shape)
        if self.where != "infer" or self.fits(shape):
            return compiled

        class Request:
            def infer(self, *args, **kwargs):
                raise RuntimeError(_GPU_OOM)

        class Compiled:
            def create_infer_request(self):
                return Request()

        return Compiled()


@pytest.mark.parametrize("where", ["compile", "infer"])
def test_out_of_memory_on_the_device_halves_the_tile_as_with_torch(model_dir, photo, caplog, where) -> None:
    desc = make_compact(scale=2, num_conv=2)
    rt = ov_runtime(desc, tile=64, tile_pad=4)
    device = _SmallDevice(rt.openvino, where)
    built = set(rt.openvino._compiled)  # the network's first inference, when it was built
    rt.openvino._core, rt.openvino._compile = device, device.compile
    with caplog.at_level("WARNING"), torch.inference_mode():
        got = rt.upscale_tensor(as_tensor(photo))
        rt.upscale_tensor(as_tensor(photo))  # later frames keep the smaller tile: no second warning
        expected = reference_enhance(desc.model.eval(), 2, as_tensor(photo), 32, 4, 0)
    torch.testing.assert_close(got, expected, atol=1 / 255, rtol=0)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["vsenhance.upscale: out of memory; retrying with tile=32 (and for later frames)"]
    assert rt.tile == 32 and all(device.fits(shape) for shape in set(rt.openvino._compiled) - built)  # big one gone


def test_out_of_memory_at_every_tile_is_one_line(model_dir, photo) -> None:
    desc = make_compact(scale=2, num_conv=2)
    rt = ov_runtime(desc, tile=64, tile_pad=4)
    device = _SmallDevice(rt.openvino, "compile")
    device.fits = lambda shape: False
    rt.openvino._core = device
    with pytest.raises(DeviceError, match=r"out of memory even with tile=32\.") as caught, torch.inference_mode():
        rt.upscale_tensor(as_tensor(photo))
    assert len(str(caught.value).splitlines()) == 1


def test_a_device_openvino_does_not_see_is_refused_in_one_line() -> None:
    for name in ("GPU", "GPU.1", "NPU"):
        with pytest.raises(DeviceError, match=rf"device='{name}' is not an OpenVINO device on this machine \(OpenVINO sees CPU\)") as caught:  # fmt: skip
            openvino_network.openvino_device(name, "vsenhance.upscale")
        assert len(str(caught.value).splitlines()) == 1
    assert openvino_network.openvino_device("cpu", "f") == "CPU" == openvino_network.openvino_device("auto", "f")


def test_streams_infer_frames_at_once_each_with_its_own_requests(model_dir, photo) -> None:
    desc = make_compact(scale=2)
    rt = ov_runtime(desc, streams=2, tile=16)
    expected = rt.upscale_tensor(as_tensor(photo))[0].numpy()
    planes = [np.ascontiguousarray(photo[..., c]) for c in range(3)]
    for o in process_in_threads(rt, planes, 4):
        np.testing.assert_array_equal(np.stack(o), expected)


def test_openvino_is_imported_without_its_telemetry() -> None:
    """openvino forks a process to send a usage event when imported and on each conversion: a filter inside
    vspipe must neither fork nor reach the network."""
    code = (
        "import os, sys\n"
        "os.fork = lambda: sys.exit('forked')\n"
        "import torch\n"
        "from tests.tiny_models import make_compact\n"
        "from vsenhance.models import openvino_network as n\n"
        "n.OpenVinoNetwork(make_compact().model, device='CPU', precision='fp32', streams=1, func='t')\n"
        "assert sys.modules['openvino_telemetry'] is None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_streams_first_inferences_at_once_do_not_deadlock(model_dir) -> None:
    """The first calls into OpenVINO's numpy bindings from two threads at once can deadlock (pybind11 initialises
    its numpy API inside a C++ static guard and lets go of the GIL there): vspipe hung before frame 0 with both
    streams in their first ``infer``, once on CI and once in ~140 processes here. So a network makes one inference
    when it is built. Each fresh process here builds one from the cached IR, as every vspipe after the first
    does, then 16 threads start, at one barrier, what a stream's first inference calls. Measured on a Zen 3
    VM: without that first inference 4 processes in 30 hung, with it 0 in 30."""
    code = (
        "import threading, torch\n"
        "from tests.tiny_models import make_compact\n"
        "from vsenhance.models import openvino_network as n\n"
        "net = n.OpenVinoNetwork(make_compact().model, device='CPU', precision='fp32', streams=16, func='t')\n"
        "import openvino\n"
        "barrier = threading.Barrier(16)\n"
        "def first(requests):\n"
        "    barrier.wait()\n"
        "    openvino.Type.f32.to_dtype()\n"  # where the streams hung, in the input's dispatch
        "    requests.run(torch.rand(1, 3, 16, 16))\n"
        "threads = [threading.Thread(target=first, args=(net.requests(),)) for _ in range(16)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
    )
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, capture_output=True, cwd=ROOT, timeout=120).returncode == 0  # converts, caches the IR
    for attempt in range(6):
        try:
            done = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {attempt + 1}: 16 streams' first inferences at once deadlocked")
        assert done.returncode == 0, done.stderr[-2000:]
