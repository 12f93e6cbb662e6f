from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import spandrel
import torch

from vsenhance.errors import ModelError
from vsenhance.models.ncnn import (
    META_ARCH,
    META_OUTPUT_RESIZE,
    TAG_FP16,
    import_ncnn,
    load_ncnn,
    parse_param,
    read_ncnn,
)

# stem -> (arch, spandrel arch id, network scale, overall scale, tag)
WHEEL = {
    "REALESRGAN_ANIMAVIDEOV3_UP2X": ("SRVGGNetCompact", "Compact", 4, 2, "16nc"),
    "REALESRGAN_ANIMAVIDEOV3_UP3X": ("SRVGGNetCompact", "Compact", 4, 3, "16nc"),
    "REALESRGAN_ANIMAVIDEOV3_UP4X": ("SRVGGNetCompact", "Compact", 4, 4, "16nc"),
    "REALESRGAN_X4PLUSANIME_UP4X": ("RRDBNet", "ESRGAN", 4, 4, "6nb"),
    "REALESRGAN_X4PLUS_UP4X": ("RRDBNet", "ESRGAN", 4, 4, "23nb"),
}


def _ncnn_forward(param: Path, x: np.ndarray) -> np.ndarray:
    ncnn = pytest.importorskip("ncnn")
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_packed = False
    opt.use_fp16_storage = False
    opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.num_threads = 1
    assert net.load_param(str(param)) == 0
    assert net.load_model(str(param.with_suffix(".bin"))) == 0
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(np.ascontiguousarray(x)))
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out)


def test_parse_param_array_params(wheel_dir: Path) -> None:
    g = parse_param(wheel_dir / "REALESRGAN_X4PLUSANIME_UP4X.param", func="t")
    assert g.layers[0].type == "Input"
    conv = next(ly for ly in g.layers if ly.type == "Convolution" and ly.get(9) == 2)
    assert conv.params[10] == (0.2,)  # from "-23310=1,2.000000e-01"
    elt = next(ly for ly in g.layers if ly.type == "Eltwise")
    assert elt.params[0] == 1 and elt.params[1] == (0.2, 1.0)


@pytest.mark.parametrize("stem", sorted(WHEEL))
def test_wheel_models_detected_by_spandrel(wheel_dir: Path, stem: str) -> None:
    arch, arch_id, net_scale, scale, tag = WHEEL[stem]
    m = read_ncnn(wheel_dir / f"{stem}.param", func="t")
    assert (m.arch, m.net_scale, m.scale) == (arch, net_scale, scale)
    assert all(t.dtype == torch.float32 for t in m.state_dict.values())
    desc = spandrel.ModelLoader().load_from_state_dict(m.state_dict)
    assert isinstance(desc, spandrel.ImageModelDescriptor)
    assert desc.architecture.id == arch_id and desc.scale == net_scale and tag in desc.tags
    assert (desc.input_channels, desc.output_channels) == (3, 3)


@pytest.mark.parametrize(
    ("stem", "size"),
    [
        ("REALESRGAN_ANIMAVIDEOV3_UP2X", (20, 24)),
        ("REALESRGAN_ANIMAVIDEOV3_UP3X", (20, 24)),
        ("REALESRGAN_ANIMAVIDEOV3_UP4X", (24, 20)),
        ("REALESRGAN_X4PLUSANIME_UP4X", (16, 16)),
    ],
)
def test_parity_with_ncnn(wheel_dir: Path, stem: str, size: tuple[int, int]) -> None:
    from vsenhance.models.loading import load_model

    x = np.random.default_rng(1).random((3, *size), dtype=np.float32)
    param = wheel_dir / f"{stem}.param"
    ref = _ncnn_forward(param, x)
    desc = load_model(param, func="test")
    scale = WHEEL[stem][3]
    assert desc.scale == scale
    with torch.no_grad():
        got = desc.model(torch.from_numpy(x)[None])[0].numpy()
    assert got.shape == ref.shape == (3, size[0] * scale, size[1] * scale)
    assert np.abs(got - ref).max() < 2e-3


def test_state_dict_matches_fp16_bin(wheel_dir: Path) -> None:
    """The first conv weight in the .bin is fp16 right after the tag; the bias follows as fp32."""
    data = (wheel_dir / "REALESRGAN_ANIMAVIDEOV3_UP4X.bin").read_bytes()
    assert struct.unpack("<I", data[:4])[0] == TAG_FP16
    w = np.frombuffer(data[4 : 4 + 2 * 1728], dtype="<f2").astype(np.float32)
    b = np.frombuffer(data[4 + 2 * 1728 : 4 + 2 * 1728 + 4 * 64], dtype="<f4")
    sd = load_ncnn(wheel_dir / "REALESRGAN_ANIMAVIDEOV3_UP4X.param")
    assert np.array_equal(sd["body.0.weight"].numpy().ravel(), w)
    assert np.array_equal(sd["body.0.bias"].numpy(), b)
    assert sd["body.1.weight"].shape == (64,)  # PReLU
    assert sd["body.34.weight"].shape == (48, 64, 3, 3)


# ---- small synthetic graphs: fp32 storage, int8 rejection, wrong structure ----


def _write_srvgg(tmp: Path, tag: int = 0, num_conv: int = 1, feat: int = 4, scale: int = 2, extra: str = ""):
    """Write a tiny SRVGGNetCompact ncnn model; return (param path, expected state dict)."""
    rng = np.random.default_rng(0)
    lines, blobs, sd = [], "data", {}
    chans = [3] + [feat] * (num_conv + 1) + [3 * scale * scale]
    bin_parts = []
    body = 0
    n_layers = 0
    for i in range(len(chans) - 1):
        cin, cout = chans[i], chans[i + 1]
        w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.1
        b = rng.standard_normal(cout).astype(np.float32) * 0.1
        src = "in1" if i == 0 else blobs
        lines.append(f"Convolution c{i} 1 1 {src} c{i}o 0={cout} 1=3 4=1 5=1 6={w.size}{extra}")
        blobs = f"c{i}o"
        if tag == 0:
            bin_parts.append(struct.pack("<I", 0) + w.tobytes())
        else:
            half = w.astype("<f2").tobytes()
            bin_parts.append(struct.pack("<I", tag) + half + b"\0" * (-len(half) % 4))  # ncnn pads to 4
            w = w.astype(np.float16).astype(np.float32)
        bin_parts.append(b.tobytes())
        sd[f"body.{body}.weight"], sd[f"body.{body}.bias"] = w, b
        body += 1
        n_layers += 1
        if i < len(chans) - 2:
            s = rng.random(cout).astype(np.float32) * 0.3
            lines.append(f"PReLU p{i} 1 1 {blobs} p{i}o 0={cout}")
            blobs = f"p{i}o"
            bin_parts.append(s.tobytes())
            sd[f"body.{body}.weight"] = s
            body += 1
            n_layers += 1
    lines.append(f"PixelShuffle ps 1 1 {blobs} pso 0={scale}")
    lines.append(f"Interp up 1 1 in0 upo 0=1 1={scale:.6e} 2={scale:.6e}")
    lines.append("BinaryOp add 2 1 pso upo output")
    head = ["Input input 0 1 data", "Split sp 1 2 data in0 in1"]
    all_lines = head + lines
    param = tmp / "tiny.param"
    param.write_text(f"7767517\n{len(all_lines)} {len(all_lines) + 2}\n" + "\n".join(all_lines) + "\n")
    param.with_suffix(".bin").write_bytes(b"".join(bin_parts))
    return param, sd


@pytest.mark.parametrize("tag", [0, TAG_FP16])
def test_synthetic_fp32_fp16(tmp_path: Path, tag: int) -> None:
    param, expected = _write_srvgg(tmp_path, tag=tag, feat=5)  # 5 channels: odd fp16 counts need padding
    sd = load_ncnn(param)
    assert sd.keys() == expected.keys()
    for k, v in expected.items():
        assert np.array_equal(sd[k].numpy(), v), k
    x = np.random.default_rng(2).random((3, 8, 8), dtype=np.float32)
    ref = _ncnn_forward(param, x)
    desc = spandrel.ModelLoader().load_from_state_dict(sd)
    with torch.no_grad():
        got = desc.model(torch.from_numpy(x)[None])[0].numpy()
    assert np.abs(got - ref).max() < 1e-4


def test_import_ncnn_writes_safetensors(tmp_path: Path, wheel_dir: Path) -> None:
    from safetensors import safe_open

    out = tmp_path / "sub" / "x2.safetensors"
    m = import_ncnn(wheel_dir / "REALESRGAN_ANIMAVIDEOV3_UP2X.param", out)
    assert m.scale == 2
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        assert set(f.keys()) == set(m.state_dict)
    assert meta[META_ARCH] == "SRVGGNetCompact" and float(meta[META_OUTPUT_RESIZE]) == 0.5
    assert sorted(p.name for p in out.parent.iterdir()) == ["x2.safetensors"]


def test_int8_rejected(tmp_path: Path) -> None:
    param, _ = _write_srvgg(tmp_path, tag=0x000D4B38)
    with pytest.raises(ModelError, match="int8"):
        load_ncnn(param, func="upscale")


def test_unknown_tag_rejected(tmp_path: Path) -> None:
    param, _ = _write_srvgg(tmp_path, tag=0x12345678)
    with pytest.raises(ModelError, match="0x12345678"):
        load_ncnn(param)


def test_fused_activation_rejected_for_srvgg(tmp_path: Path) -> None:
    param, _ = _write_srvgg(tmp_path, extra=" 9=1")
    with pytest.raises(ModelError, match="activation"):
        load_ncnn(param)


def test_truncated_bin(tmp_path: Path) -> None:
    param, _ = _write_srvgg(tmp_path)
    binp = param.with_suffix(".bin")
    binp.write_bytes(binp.read_bytes()[:-10])
    with pytest.raises(ModelError, match="ends early"):
        load_ncnn(param)


def test_trailing_bytes(tmp_path: Path) -> None:
    param, _ = _write_srvgg(tmp_path)
    binp = param.with_suffix(".bin")
    binp.write_bytes(binp.read_bytes() + b"\0" * 8)
    with pytest.raises(ModelError, match="unread bytes"):
        load_ncnn(param)


def test_missing_bin(tmp_path: Path) -> None:
    param, _ = _write_srvgg(tmp_path)
    param.with_suffix(".bin").unlink()
    with pytest.raises(ModelError, match=r"tiny\.bin") as ei:
        load_ncnn(param, func="upscale")
    assert str(ei.value).startswith("upscale: ")


def test_bad_magic(tmp_path: Path) -> None:
    p = tmp_path / "x.param"
    p.write_text("1234\n0 0\n")
    with pytest.raises(ModelError, match="magic"):
        parse_param(p, func="t")


def test_not_realesrgan_graph(tmp_path: Path) -> None:
    p = tmp_path / "x.param"
    p.write_text("7767517\n2 2\nInput in 0 1 data\nReLU r 1 1 data output\n")
    p.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(ModelError, match="neither SRVGGNetCompact nor RRDBNet"):
        load_ncnn(p)


def test_other_weighted_layer_rejected(tmp_path: Path) -> None:
    p = tmp_path / "x.param"
    p.write_text("7767517\n2 2\nInput in 0 1 data\nInnerProduct fc 1 1 data output 0=2 1=1 2=6\n")
    p.with_suffix(".bin").write_bytes(b"\0" * 32)
    with pytest.raises(ModelError, match="InnerProduct"):
        load_ncnn(p)


def test_rrdb_wrong_interp_rejected(tmp_path: Path, wheel_dir: Path) -> None:
    text = (wheel_dir / "REALESRGAN_X4PLUSANIME_UP4X.param").read_text()
    bad = text.replace("0=1 1=2.000000e+00 2=2.000000e+00", "0=2 1=2.000000e+00 2=2.000000e+00", 1)
    assert bad != text
    p = tmp_path / "r.param"
    p.write_text(bad)
    with pytest.raises(ModelError, match="nearest x2"):
        load_ncnn(p, wheel_dir / "REALESRGAN_X4PLUSANIME_UP4X.bin")
