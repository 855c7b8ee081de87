"""The three nsfwjs models (npm ``nsfwjs@4.4.0``, MIT) as PyTorch modules, converted from TF.js.

nsfwjs ships three TF.js models of ImageNet networks whose upper layers were fine-tuned on 5 NSFW
classes (drawing, hentai, neutral, porn, sexy):

- ``inception_v3``: Keras InceptionV3 (299 px; layers up to about mixed4 frozen ImageNet weights), pooled
  2048-d, then a 256-128-5 MLP head;
- ``mobilenet_v2``: Keras MobileNetV2 1.0 (224 px; blocks 0-10 frozen ImageNet), pooled 1280-d, then a
  256-128-5 MLP head;
- ``mobilenet_v2_mid``: the TF-Hub ``mobilenet_v2_140_224`` feature-vector graph (BatchNorm folded into
  the convolutions) and one 1792->5 layer.

**Features** are the globally average-pooled backbone vector (2048 / 1280 / 1792): the input of the
source head. The whole head (the MLP, or the one layer) is the source classifier: its output before the
softmax is the source logits, and fine-tuning replaces all of it with one ``Linear(D, K)``.

What the port reproduces (each one a difference that changes the outputs when missed):

- Keras/TF pad stride-2 convolutions bottom/right: the Keras models carry explicit ``ZeroPadding2D``
  ((0, 1), (0, 1)) layers, copied as such; the TF-Hub graph uses TF ``SAME``, computed per input size.
- BatchNorm epsilon 1e-3 (Keras); the folded TF-Hub graph has none (conv + bias).
- InceptionV3's 3x3 average pools exclude the padding (``count_include_pad=False``).
- Inputs: [0, 1] RGB for the Keras models, ``x * 2 - 1`` for the TF-Hub graph (mean = std = 0.5 here).
- The Keras models pool with a fixed 7x7 / 8x8 window, which is global at their native size; the port
  pools globally at every size, so smaller inputs (fine-tuning at 64 px) work.

Conversion reads the npm tarball directly (no node needed), decodes the uint8-quantised weights as TF.js
does (:mod:`benchmarks.zoo.tfjs`), checks every layer's kind, kernel, stride, padding and activation
against the module it fills, and caches the result under ``<lead_hf cache>/converted/nsfwjs/`` with a
sha256 check. Equality with nsfwjs running under TF.js is tested (tests/test_models_nsfwjs.py against
tests/fixtures/nsfwjs_reference.json, made by benchmarks/zoo/make_nsfwjs_fixture.py).
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NSFWJS_VERSION = "4.4.0"
NSFWJS_TARBALL = f"nsfwjs-{NSFWJS_VERSION}.tgz"
NSFWJS_INTEGRITY = ("sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA==")
"""The npm registry's ``dist.integrity`` of nsfwjs 4.4.0 (checked before anything is converted)."""
NSFW_CLASSES = ("drawing", "hentai", "neutral", "porn", "sexy")
CONVERTER = "nsfwjs-torch-1"
"""Version tag of this conversion code (part of the zoo revision and of the cache file name)."""
INSTALL_HINT = ("make nsfwjs (npm pack nsfwjs@4.4.0 into .venv/share/lead_hf/npm/), or put nsfwjs-4.4.0.tgz "
                "into a folder named by $LEAD_HF_NPM_DIR")


# ------------------------------------------------------------------------------------ the package

def check_integrity(path: str | os.PathLike) -> None:
    """ValueError unless ``path`` is byte for byte the tarball the npm registry publishes."""
    h = hashlib.sha512()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    got = "sha512-" + base64.b64encode(h.digest()).decode()
    if got != NSFWJS_INTEGRITY:
        raise ValueError(f"{str(path)!r} is not the published nsfwjs {NSFWJS_VERSION} tarball (sha512 "
                         f"{got[:24]}... instead of {NSFWJS_INTEGRITY[:24]}...); delete it and run {INSTALL_HINT}")


def read_package_model(tarball: str | os.PathLike, folder: str):
    """The TF.js model ``dist/models/<folder>`` of the nsfwjs tarball, with decoded weights."""
    from .tfjs import read_bundled_model

    prefix = "package/dist/models/"
    texts: dict[str, str] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(f"{prefix}{folder}/"):
                texts[member.name[len(prefix):]] = tar.extractfile(member).read().decode("utf-8")
    if not texts:
        raise ValueError(f"{str(tarball)!r} has no model folder dist/models/{folder}; is it the nsfwjs package?")

    def read_text(path: str) -> str:
        if path not in texts:
            raise ValueError(f"{str(tarball)!r} lacks dist/models/{path}; the package is incomplete")
        return texts[path]

    return read_bundled_model(read_text, folder)


# ---------------------------------------------------------------------------------------- modules

class TFSamePad(nn.Module):
    """TensorFlow's ``SAME`` padding of a strided convolution, computed from the input size: the extra
    row/column (when the total is odd) goes at the bottom/right."""

    def __init__(self, kernel: tuple[int, int], stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k in zip(x.shape[-2:], self.kernel):
            total = max((math.ceil(size / self.stride) - 1) * self.stride + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.pad(x, (left, right, top, bottom))


class ConvUnit(nn.Module):
    """Convolution (optionally depthwise) + BatchNorm (or a bias when BN was folded) + activation, with
    the padding described as in TensorFlow: ``"same"`` (stride 1, symmetric), ``"valid"``, ``"tf_same"``
    (strided, computed per input) or a fixed (top, bottom, left, right) zero padding."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, *, depthwise: bool = False,
                 padding: str | tuple[int, int, int, int] = "same", bn_eps: float | None = 1e-3,
                 act: str | None = "relu"):
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        if padding == "same" and stride != 1:
            raise ValueError("ConvUnit: 'same' padding is for stride 1; use 'tf_same' or a fixed padding")
        self.kernel, self.stride, self.depthwise, self.padding, self.act_name = (kh, kw), stride, depthwise, padding, act
        if isinstance(padding, tuple):
            top, bottom, left, right = padding
            self.pad = nn.ZeroPad2d((left, right, top, bottom))
        elif padding == "tf_same":
            self.pad = TFSamePad((kh, kw), stride)
        else:
            self.pad = nn.Identity()
        inner = (kh // 2, kw // 2) if padding == "same" else 0
        self.conv = nn.Conv2d(cin, cout, (kh, kw), stride, padding=inner, groups=cin if depthwise else 1,
                              bias=bn_eps is None)
        self.bn = nn.BatchNorm2d(cout, eps=bn_eps) if bn_eps is not None else nn.Identity()
        self.act = {"relu": nn.ReLU, "relu6": nn.ReLU6, None: nn.Identity}[act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(self.pad(x))))


class Concat(nn.Module):
    """Parallel branches on one input, concatenated along channels (an Inception block)."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class MLPHead(nn.Module):
    """Dense-ReLU-Dropout blocks then a final Linear: nsfwjs's 256-128-5 head. Its output is the logits
    (nsfwjs applies the softmax after it)."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], out_features: int,
                 dropout: tuple[float, ...]):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        layers: list[nn.Module] = []
        width = in_features
        for h, p in zip(hidden, dropout):
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(p)]
            width = h
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _seq(*mods: nn.Module) -> nn.Sequential:
    return nn.Sequential(*mods)


def _bc(cin: int, cout: int, kernel, stride: int = 1, padding="same") -> ConvUnit:
    """Keras InceptionV3's conv2d_bn: conv without bias, BatchNorm (no scale, eps 1e-3), ReLU."""
    return ConvUnit(cin, cout, kernel, stride, padding=padding, bn_eps=1e-3, act="relu")


def _avg() -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def inception_v3_body() -> nn.Sequential:
    """Keras InceptionV3 up to the global average pool, [B, 3, H, W] -> [B, 2048] (H, W >= 75). Modules
    are created in Keras's construction order, so the i-th ConvUnit is Keras's ``conv2d_<i+1>``."""
    def block_a(cin, pool):
        return Concat(_bc(cin, 64, 1), _seq(_bc(cin, 48, 1), _bc(48, 64, 5)),
                      _seq(_bc(cin, 64, 1), _bc(64, 96, 3), _bc(96, 96, 3)), _seq(_avg(), _bc(cin, pool, 1)))

    def block_c(c7):
        return Concat(_bc(768, 192, 1), _seq(_bc(768, c7, 1), _bc(c7, c7, (1, 7)), _bc(c7, 192, (7, 1))),
                      _seq(_bc(768, c7, 1), _bc(c7, c7, (7, 1)), _bc(c7, c7, (1, 7)), _bc(c7, c7, (7, 1)),
                           _bc(c7, 192, (1, 7))),
                      _seq(_avg(), _bc(768, 192, 1)))

    def block_e(cin):
        return Concat(_bc(cin, 320, 1),
                      _seq(_bc(cin, 384, 1), Concat(_bc(384, 384, (1, 3)), _bc(384, 384, (3, 1)))),
                      _seq(_bc(cin, 448, 1), _bc(448, 384, 3), Concat(_bc(384, 384, (1, 3)), _bc(384, 384, (3, 1)))),
                      _seq(_avg(), _bc(cin, 192, 1)))

    return nn.Sequential(
        _bc(3, 32, 3, 2, "valid"), _bc(32, 32, 3, 1, "valid"), _bc(32, 64, 3), nn.MaxPool2d(3, 2),
        _bc(64, 80, 1, 1, "valid"), _bc(80, 192, 3, 1, "valid"), nn.MaxPool2d(3, 2),
        block_a(192, 32), block_a(256, 64), block_a(288, 64),                                   # mixed0-2
        Concat(_bc(288, 384, 3, 2, "valid"),                                                    # mixed3
               _seq(_bc(288, 64, 1), _bc(64, 96, 3), _bc(96, 96, 3, 2, "valid")), nn.MaxPool2d(3, 2)),
        block_c(128), block_c(160), block_c(160), block_c(192),                                 # mixed4-7
        Concat(_seq(_bc(768, 192, 1), _bc(192, 320, 3, 2, "valid")),                           # mixed8
               _seq(_bc(768, 192, 1), _bc(192, 192, (1, 7)), _bc(192, 192, (7, 1)), _bc(192, 192, 3, 2, "valid")),
               nn.MaxPool2d(3, 2)),
        block_e(1280), block_e(2048),                                                           # mixed9-10
        GlobalAvgPool())


def _make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNet's channel rounding (Keras/TF-slim ``_make_divisible``)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int, *, bn_eps, stride2_padding):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvUnit(cin, hidden, 1, bn_eps=bn_eps, act="relu6") if expansion != 1 else None
        self.depthwise = ConvUnit(hidden, hidden, 3, stride, depthwise=True, bn_eps=bn_eps, act="relu6",
                                  padding=stride2_padding if stride == 2 else "same")
        self.project = ConvUnit(hidden, cout, 1, bn_eps=bn_eps, act=None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x) if self.expand is not None else x))
        return x + y if self.residual else y


_MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1))
"""(expansion, channels, repeats, first stride) of MobileNetV2's 17 inverted-residual blocks."""


def mobilenet_v2_body(width: float = 1.0, *, folded: bool = False) -> nn.Sequential:
    """MobileNetV2 up to the global average pool, [B, 3, H, W] -> [B, last]. ``folded=False``: the Keras
    application (BatchNorm eps 1e-3, fixed bottom/right padding of stride-2 convolutions, as its
    ZeroPadding2D layers); ``folded=True``: the TF-Hub graph (conv + bias, TF ``SAME`` padding)."""
    bn_eps = None if folded else 1e-3
    pad2 = "tf_same" if folded else (0, 1, 0, 1)
    stem = _make_divisible(32 * width)
    layers: list[nn.Module] = [ConvUnit(3, stem, 3, 2, padding=pad2, bn_eps=bn_eps, act="relu6")]
    cin = stem
    for t, c, n, s in _MOBILENET_V2_BLOCKS:
        cout = _make_divisible(c * width)
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, bn_eps=bn_eps, stride2_padding=pad2))
            cin = cout
    last = _make_divisible(1280 * width) if width > 1.0 else 1280
    layers += [ConvUnit(cin, last, 1, bn_eps=bn_eps, act="relu6"), GlobalAvgPool()]
    return nn.Sequential(*layers)


def conv_units(module: nn.Module) -> list[ConvUnit]:
    """The ConvUnits of a module in construction order (the order the converters fill them)."""
    return [m for m in module.modules() if isinstance(m, ConvUnit)]


# ------------------------------------------------------------------------------------- conversion

@dataclass
class _ConvSource:
    """One source convolution with what follows it, in TensorFlow's terms."""

    name: str
    depthwise: bool
    kernel: np.ndarray
    """Keras/TF layout: [kh, kw, in, out] (conv) or [kh, kw, in, 1] (depthwise)."""
    stride: int
    padding: Any
    """'same' | 'valid' | 'tf_same' | (top, bottom, left, right) before a 'valid' conv."""
    act: str | None
    bias: np.ndarray | None = None
    bn: dict[str, np.ndarray] | None = None
    bn_eps: float | None = None


def _pads_nothing(padding, kernel: tuple[int, int], stride: int) -> bool:
    """'same' and 'valid' pad nothing for a 1x1 stride-1 kernel, so either spelling matches the other."""
    return padding in ("same", "valid") and kernel == (1, 1) and stride == 1


def _fill(unit: ConvUnit, src: _ConvSource, model: str) -> dict[str, torch.Tensor]:
    """State-dict entries of ``unit`` from ``src``, after checking that they describe the same layer."""
    kh, kw = src.kernel.shape[:2]
    where = f"nsfwjs {model}: layer {src.name!r}"
    mine_pad = src.padding if (_pads_nothing(unit.padding, unit.kernel, unit.stride)
                               and _pads_nothing(src.padding, (kh, kw), src.stride)) else unit.padding
    checks = {"kind": (unit.depthwise, src.depthwise), "kernel": (unit.kernel, (kh, kw)),
              "stride": (unit.stride, src.stride), "padding": (mine_pad, src.padding),
              "activation": (unit.act_name, src.act)}
    for what, (mine, theirs) in checks.items():
        if mine != theirs:
            raise ValueError(f"{where} does not fit the torch module ({what}: module {mine!r}, source {theirs!r}); "
                             "the package's topology differs from the one this converter was written for")
    if src.depthwise:
        weight = torch.from_numpy(np.ascontiguousarray(src.kernel.transpose(2, 3, 0, 1)))
        weight = weight.reshape(-1, 1, kh, kw)
    else:
        weight = torch.from_numpy(np.ascontiguousarray(src.kernel.transpose(3, 2, 0, 1)))
    out = {"conv.weight": weight}
    if src.bn is not None:
        if not isinstance(unit.bn, nn.BatchNorm2d) or unit.bn.eps != src.bn_eps:
            raise ValueError(f"{where}: BatchNorm (eps {src.bn_eps}) where the module has "
                             f"{type(unit.bn).__name__}")
        n = src.bn["moving_mean"].shape[0]
        out.update({"bn.weight": torch.from_numpy(src.bn.get("gamma", np.ones(n, np.float32))),
                    "bn.bias": torch.from_numpy(src.bn.get("beta", np.zeros(n, np.float32))),
                    "bn.running_mean": torch.from_numpy(src.bn["moving_mean"]),
                    "bn.running_var": torch.from_numpy(src.bn["moving_variance"]),
                    "bn.num_batches_tracked": torch.tensor(0)})
    elif src.bias is not None:
        out["conv.bias"] = torch.from_numpy(src.bias)
    target = unit.state_dict()
    if set(out) != set(target):
        raise ValueError(f"{where} gives {sorted(out)} but the module needs {sorted(target)}")
    for key, value in out.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise ValueError(f"{where}: {key} has shape {tuple(value.shape)}, the module {tuple(target[key].shape)}")
    return out


def _keras_sources(model, order: Callable[[list[dict]], list[dict]]) -> tuple[list[_ConvSource], list[dict]]:
    """Convolutions (with their BatchNorm, activation and explicit padding) and Dense layers of a Keras
    layers model, by walking its graph; ``order`` puts the conv layers in construction order."""
    layers = model.keras_layers()
    by_name = {layer["name"]: layer for layer in layers}
    consumers: dict[str, list[dict]] = {}
    for layer in layers:
        for node in layer.get("inbound_nodes", []):
            for inbound in node:
                consumers.setdefault(inbound[0], []).append(layer)

    def only_consumer(name: str) -> dict | None:
        nxt = consumers.get(name, [])
        return nxt[0] if len(nxt) == 1 else None

    def weights(layer: str, *names: str) -> dict[str, np.ndarray]:
        return {n: model.weights[f"{layer}/{n}"] for n in names if f"{layer}/{n}" in model.weights}

    convs = [layer for layer in layers if layer["class_name"] in ("Conv2D", "DepthwiseConv2D")]
    sources = []
    for layer in order(convs):
        cfg, name = layer["config"], layer["name"]
        depthwise = layer["class_name"] == "DepthwiseConv2D"
        if cfg.get("dilation_rate", [1, 1]) != [1, 1] or cfg["strides"][0] != cfg["strides"][1] or \
                cfg.get("activation", "linear") != "linear" or (depthwise and cfg.get("depth_multiplier", 1) != 1):
            raise ValueError(f"nsfwjs: Keras layer {name!r} uses options this converter does not handle ({cfg})")
        padding: Any = cfg["padding"]
        inbound = by_name[layer["inbound_nodes"][0][0][0]]
        if inbound["class_name"] == "ZeroPadding2D":
            (top, bottom), (left, right) = inbound["config"]["padding"]
            if padding != "valid":
                raise ValueError(f"nsfwjs: Keras layer {name!r} pads twice (ZeroPadding2D then 'same')")
            padding = (top, bottom, left, right)
        kernel = weights(name, "depthwise_kernel" if depthwise else "kernel")
        if len(kernel) != 1 or cfg.get("use_bias", False):
            raise ValueError(f"nsfwjs: Keras layer {name!r} has no kernel weight or has a bias; not a conv_bn layer")
        bn_layer = only_consumer(name)
        if bn_layer is None or bn_layer["class_name"] != "BatchNormalization":
            raise ValueError(f"nsfwjs: Keras layer {name!r} is not followed by one BatchNormalization")
        bn = weights(bn_layer["name"], "gamma", "beta", "moving_mean", "moving_variance")
        act_layer, act = only_consumer(bn_layer["name"]), None
        if act_layer is not None and act_layer["class_name"] == "ReLU":
            act = "relu6" if act_layer["config"].get("max_value") == 6 else "relu"
        elif act_layer is not None and act_layer["class_name"] == "Activation":
            act = act_layer["config"]["activation"]
        sources.append(_ConvSource(name, depthwise, next(iter(kernel.values())), int(cfg["strides"][0]), padding,
                                   act, bn=bn, bn_eps=float(bn_layer["config"]["epsilon"])))
    dense = [{"name": layer["name"], "activation": layer["config"]["activation"],
              **weights(layer["name"], "kernel", "bias")} for layer in layers if layer["class_name"] == "Dense"]
    return sources, dense


def _numeric_suffix(convs: list[dict]) -> list[dict]:
    def key(layer):
        m = re.fullmatch(r"conv2d_(\d+)", layer["name"])
        if not m:
            raise ValueError(f"nsfwjs inception_v3: unexpected conv layer name {layer['name']!r}")
        return int(m.group(1))
    return sorted(convs, key=key)


def _graph_sources(model) -> tuple[list[_ConvSource], dict]:
    """Convolutions and the final MatMul of the tfjs-converter graph (fused conv + bias + activation),
    in data-flow order, with a check of the input scaling the graph applies (x * 2 - 1)."""
    nodes = {n["name"]: n for n in model.graph_nodes()}

    def inputs(node) -> list[str]:
        return [i.split(":")[0] for i in node.get("input", []) if not i.startswith("^")]

    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:  # longest path from the graph input; iterative (the graph is deep)
        stack = [name]
        while stack:
            cur = stack[-1]
            pending = [i for i in inputs(nodes[cur]) if i not in depth]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[cur] = 1 + max((depth[i] for i in inputs(nodes[cur])), default=-1)
        return depth[name]

    def attr_s(node, key) -> str:
        return base64.b64decode(node["attr"][key]["s"]).decode()

    def weight(name: str) -> np.ndarray:
        if name not in model.weights:
            raise ValueError(f"nsfwjs mobilenet_v2_mid: graph constant {name!r} has no weights")
        return model.weights[name]

    for scale in ("hub_input/Mul", "hub_input/Sub"):
        hits = [n for n in nodes.values() if n["name"].endswith(scale)]
        consts = [i for n in hits for i in inputs(n) if nodes[i]["op"] == "Const"]
        expected = 2.0 if scale.endswith("Mul") else 1.0
        if len(consts) != 1 or float(weight(consts[0])) != expected:
            raise ValueError(f"nsfwjs mobilenet_v2_mid: the graph's input scaling ({scale}) is not x * 2 - 1; "
                             "the preprocessing of this entry would be wrong")
    convs = [n for n in nodes.values() if n["op"] in ("_FusedConv2D", "FusedDepthwiseConv2dNative")]
    sources = []
    for node in sorted(convs, key=lambda n: depth_of(n["name"])):
        fused = [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"]["s"]]
        strides = [int(s) for s in node["attr"]["strides"]["list"]["i"]]
        if attr_s(node, "data_format") != "NHWC" or fused[0] != "BiasAdd" or len(fused) > 2 or \
                strides[1] != strides[2] or attr_s(node, "padding") != "SAME":
            raise ValueError(f"nsfwjs mobilenet_v2_mid: node {node['name']!r} uses options this converter does not "
                             f"handle (fused {fused}, strides {strides})")
        act = {"Relu6": "relu6", "Relu": "relu"}.get(fused[1]) if len(fused) == 2 else None
        _, w, b = inputs(node)
        stride = strides[1]
        sources.append(_ConvSource(node["name"], node["op"] == "FusedDepthwiseConv2dNative", weight(w), stride,
                                   "same" if stride == 1 else "tf_same", act, bias=weight(b)))
    matmul = [n for n in nodes.values() if n["op"] == "_FusedMatMul"]
    if len(matmul) != 1:
        raise ValueError(f"nsfwjs mobilenet_v2_mid: expected one MatMul (the 5-way layer), found {len(matmul)}")
    _, w, b = inputs(matmul[0])
    if matmul[0]["attr"].get("transpose_b", {}).get("b"):
        raise ValueError("nsfwjs mobilenet_v2_mid: transposed MatMul weights are not handled")
    return sources, {"kernel": weight(w), "bias": weight(b)}


def _linear(kernel: np.ndarray, bias: np.ndarray) -> dict[str, torch.Tensor]:
    return {"weight": torch.from_numpy(np.ascontiguousarray(kernel.T)), "bias": torch.from_numpy(bias)}


def convert(folder: str, tfjs_model) -> dict[str, torch.Tensor]:
    """The state dict of ``build_module(folder)`` filled from the decoded TF.js model."""
    net = build_module(folder)
    body, head = net.body, net.classifier
    if folder == "mobilenet_v2_mid":
        sources, dense = _graph_sources(tfjs_model)
        head_sd = _linear(dense["kernel"], dense["bias"])
    else:
        order = _numeric_suffix if folder == "inception_v3" else (lambda convs: convs)
        sources, dense_layers = _keras_sources(tfjs_model, order)
        linears = [m for m in head.layers if isinstance(m, nn.Linear)]
        acts = [d["activation"] for d in dense_layers]
        if len(dense_layers) != len(linears) or acts[:-1] != ["relu"] * (len(acts) - 1) or acts[-1] != "softmax":
            raise ValueError(f"nsfwjs {folder}: the Dense head is {acts}, not relu MLP + softmax")
        head_sd = {}
        for i, d in zip([i for i, m in enumerate(head.layers) if isinstance(m, nn.Linear)], dense_layers):
            head_sd.update({f"layers.{i}.{k}": v for k, v in _linear(d["kernel"], d["bias"]).items()})
    units = conv_units(body)
    if len(units) != len(sources):
        raise ValueError(f"nsfwjs {folder}: {len(sources)} convolutions in the package, {len(units)} in the "
                         "torch module")
    unit_prefix = {id(m): name for name, m in body.named_modules()}
    state: dict[str, torch.Tensor] = {}
    for unit, src in zip(units, sources):
        for key, value in _fill(unit, src, folder).items():
            state[f"body.{unit_prefix[id(unit)]}.{key}"] = value
    state.update({f"classifier.{k}": v for k, v in head_sd.items()})
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing or set(state) - set(expected):
        raise ValueError(f"nsfwjs {folder}: conversion leaves {missing[:3]} unset")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(f"nsfwjs {folder}: {key} has shape {tuple(value.shape)}, the module "
                             f"{tuple(expected[key].shape)}")
    return {k: v.contiguous() for k, v in state.items()}


# ---------------------------------------------------------------------------------------- members

FOLDERS = ("inception_v3", "mobilenet_v2", "mobilenet_v2_mid")
"""The package's model folders (dist/models/<folder>); zoo.py registers one member per folder."""


def build_module(folder: str) -> nn.Module:
    """The torch module of one nsfwjs model, randomly initialised (the converter fills it): a ZooNet whose
    ``body`` gives the pooled feature and whose ``classifier`` is the source head."""
    from lead_hf.models.base import ZooNet
    if folder == "inception_v3":
        return ZooNet(inception_v3_body(), MLPHead(2048, (256, 128), 5, (0.5, 0.25)))
    if folder == "mobilenet_v2":
        return ZooNet(mobilenet_v2_body(1.0), MLPHead(1280, (256, 128), 5, (0.5, 0.25)))
    if folder == "mobilenet_v2_mid":
        return ZooNet(mobilenet_v2_body(1.4, folded=True), nn.Linear(1792, 5))
    raise ValueError(f"unknown nsfwjs model folder {folder!r}; one of {', '.join(FOLDERS)}")


def cache_dir() -> Path:
    from lead_hf.utils.io import default_cache_root
    return default_cache_root() / "converted" / "nsfwjs"


def converted_state_dict(folder: str, tarball: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The converted weights of the model ``folder``: from the cache when the cached file's sha256 matches its
    record, else converted from the tarball (integrity-checked first) and cached atomically."""
    from safetensors.torch import load_file, save_file

    from lead_hf.utils.io import atomic_path, write_json_atomic
    from lead_hf.models.base import file_sha256

    source_sha = file_sha256(tarball)
    stem = f"{folder}-{CONVERTER}-{source_sha[:16]}"
    weights_path, record_path = cache_dir() / f"{stem}.safetensors", cache_dir() / f"{stem}.json"
    if weights_path.is_file() and record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("sha256") == file_sha256(weights_path) and record.get("source_sha256") == source_sha:
            return load_file(str(weights_path))
    check_integrity(tarball)
    state = convert(folder, read_package_model(tarball, folder))
    with atomic_path(weights_path) as tmp:
        save_file(state, str(tmp), metadata={"source": f"nsfwjs@{NSFWJS_VERSION}/dist/models/{folder}",
                                             "converter": CONVERTER})
    write_json_atomic(record_path, {"source": f"npm nsfwjs@{NSFWJS_VERSION} dist/models/{folder}",
                                    "source_sha256": source_sha, "integrity": NSFWJS_INTEGRITY,
                                    "converter": CONVERTER, "sha256": file_sha256(weights_path)})
    return state


def build(folder: str, files: list[str]) -> nn.Module:
    """The converted nsfwjs model ``folder`` (a ZooNet, eval mode) from the tarball ``files[0]``."""
    net = build_module(folder)
    net.load_state_dict(converted_state_dict(folder, files[0]), strict=True)
    return net.eval()


# the builders the zoo entries name ("benchmarks.zoo.nsfwjs:build_<folder>"), one per model of the package
def build_inception_v3(files: list[str]) -> nn.Module:
    return build("inception_v3", files)


def build_mobilenet_v2(files: list[str]) -> nn.Module:
    return build("mobilenet_v2", files)


def build_mobilenet_v2_mid(files: list[str]) -> nn.Module:
    return build("mobilenet_v2_mid", files)
