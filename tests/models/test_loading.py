from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest
import spandrel
import torch
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact

from vsenhance.errors import ModelError
from vsenhance.models.loading import load_model


def _compact_sd(in_ch: int = 3, scale: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = Compact(num_in_ch=in_ch, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
    return {k: v.clone() for k, v in net.state_dict().items()}


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".ckpt"])
def test_tiny_compact_loads(tmp_path: Path, suffix: str) -> None:
    sd = _compact_sd(scale=2)
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".safetensors":
        save_file(sd, str(path))
    elif suffix == ".ckpt":
        torch.save({"params_ema": sd}, path)  # Real-ESRGAN's wrapped layout
    else:
        torch.save(sd, path)
    desc = load_model(path, func="upscale")
    assert isinstance(desc, spandrel.ImageModelDescriptor)
    assert desc.scale == 2 and desc.architecture.id == "Compact"
    assert not desc.model.training
    with torch.no_grad():
        out = desc.model(torch.rand(1, 3, 8, 12))
    assert out.shape == (1, 3, 16, 24)
    torch.testing.assert_close(desc.model.state_dict()["body.0.weight"], sd["body.0.weight"])


def test_malicious_pickle_refused_without_side_effect(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"body.0.weight": torch.zeros(1), "payload": _Evil(marker)}, path)
    with pytest.raises(ModelError) as ei:
        load_model(path, func="upscale")
    msg = str(ei.value)
    assert msg.startswith("upscale: ") and "refused" in msg and "system" in msg and "Fix:" in msg
    assert not marker.exists()


def test_malicious_plain_pickle_refused_without_side_effect(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path.write_bytes(pickle.dumps({"x": _Evil(marker)}, protocol=protocol))
        with pytest.raises(ModelError, match="could run code"):
            load_model(path, func="upscale")
        assert not marker.exists()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_refused(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 3, 1)), str(path))
    with pytest.raises(ModelError, match="TorchScript"):
        load_model(path, func="upscale")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as ei:
        load_model(tmp_path / "nope.pth", func="upscale")
    assert "Fix:" in str(ei.value)


def test_unknown_name(model_dir: Path) -> None:
    with pytest.raises(ModelError, match="unknown model name") as ei:
        load_model("RealESRGAN_x16", func="upscale")
    assert "realesr-animevideov3" in str(ei.value)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("seed", range(12))
def test_random_bytes(tmp_path: Path, suffix: str, seed: int) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(random.Random(seed).randbytes(2048))
    with pytest.raises(ModelError, match="corrupt") as ei:
        load_model(path, func="upscale")
    assert str(ei.value).startswith("upscale: ")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated(tmp_path: Path, suffix: str) -> None:
    sd = _compact_sd()
    path = tmp_path / f"t{suffix}"
    if suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save(sd, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(path, func="upscale")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported extension"):
        load_model(path, func="upscale")


def test_wrong_channels(tmp_path: Path) -> None:
    path = tmp_path / "gray.safetensors"
    save_file(_compact_sd(in_ch=1), str(path))
    with pytest.raises(ModelError, match=r"1->3 channels") as ei:
        load_model(path, func="upscale")
    assert "Compact" in str(ei.value)


def test_unrecognised_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 4)}, str(path))
    with pytest.raises(ModelError, match="not a model architecture spandrel recognises"):
        load_model(path, func="upscale")


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ModelError, match="not a state dict"):
        load_model(path, func="upscale")


def test_known_name_from_wheel(model_dir: Path, wheel_dir: Path) -> None:
    desc = load_model("realesr-animevideov3-x3", func="upscale")
    assert desc.scale == 3
    with torch.no_grad():
        out = desc.model(torch.rand(1, 3, 8, 10))
    assert out.shape == (1, 3, 24, 30)
    # the cached conversion keeps the x3 resize (it is stored as safetensors metadata)
    desc2 = load_model(model_dir / "realesr-animevideov3-x3.safetensors", func="upscale")
    assert desc2.scale == 3


def test_param_path(wheel_dir: Path) -> None:
    desc = load_model(wheel_dir / "REALESRGAN_ANIMAVIDEOV3_UP4X.param", func="upscale")
    assert desc.scale == 4 and desc.architecture.id == "Compact"
