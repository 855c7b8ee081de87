"""The v3 zoo's small CNNs (benchmarks/zoo/small_cnns.py): ccexam's SVHN net and captum's CIFAR-10 LeNet equal
their originals, recognise real images, and train at fine-tuning's 64 px. Skipped when a package is absent."""
from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lead_hf.models import list_zoo, load_model, resolve_model, zoo_entry

MEMBERS = {"svhn_cnn.ccexam": (256, 10), "lenet.captum_cifar10": (84, 10)}


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))


def _need(name: str) -> list[str]:
    if name not in list_zoo(available_only=True):
        pytest.skip(f"{zoo_entry(name).package} not installed ({zoo_entry(name).install_hint()})")
    return zoo_entry(name).weight_files()


def _package_files(module: str, pattern: str) -> list[str]:
    spec = importlib.util.find_spec(module)
    if spec is None:
        pytest.skip(f"{module} not installed")
    files = sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0], pattern)))
    if not files:
        pytest.skip(f"{module} has no files {pattern}")
    return files


def test_members_are_registered_with_their_shapes():
    for name, (dim, classes) in MEMBERS.items():
        e = zoo_entry(name)
        assert (e.family, e.feature_dim, e.num_classes, e.preprocess.size, e.min_input_size) == \
            ("torch", dim, classes, 32, 32)
        if name in list_zoo(available_only=True):
            assert resolve_model(f"zoo:{name}").preprocess_config["min_input_size"] == 32


def test_svhn_normalisation_is_ccexams():
    _need("svhn_cnn.ccexam")
    from ccexam.constants import DATASET_STATS

    from benchmarks.zoo.small_cnns import SVHN_MEAN, SVHN_STD
    assert tuple(DATASET_STATS["svhn"]["mean"]) == SVHN_MEAN and tuple(DATASET_STATS["svhn"]["std"]) == SVHN_STD


def test_svhn_cnn_equals_ccexams_own_network_and_reads_its_samples():
    (path,) = _need("svhn_cnn.ccexam")
    files = _package_files("ccexam", "samples/svhn_digit_*.png")
    labels = [int(Path(f).stem.rsplit("_", 1)[1]) for f in files]
    m = load_model("zoo:svhn_cnn.ccexam")
    x = torch.stack([m.preprocess(Image.open(f)) for f in files])
    assert x.shape == (len(files), 3, 32, 32)
    with torch.inference_mode():
        feats, logits = m(x)
    assert feats.shape == (len(files), 256) and logits.shape == (len(files), 10)
    assert logits.argmax(1).tolist() == labels  # 4/4 when checked, p >= 0.999
    models = pytest.importorskip("ccexam.models")
    ref = models.SVHNNet(32)
    ref.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    ref.eval()
    with torch.inference_mode():
        torch.testing.assert_close(ref(x), logits, rtol=0, atol=0)


def _lenet_reference(sd, x):
    """The tutorial's forward, written with functional ops on the raw state dict."""
    h = F.max_pool2d(F.relu(F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"])), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, sd["conv2.weight"], sd["conv2.bias"])), 2).reshape(len(x), -1)
    h = F.relu(F.linear(h, sd["fc1.weight"], sd["fc1.bias"]))
    h = F.relu(F.linear(h, sd["fc2.weight"], sd["fc2.bias"]))
    return F.linear(h, sd["fc3.weight"], sd["fc3.bias"])


def test_lenet_equals_the_tutorial_forward_and_classifies_foolbox_cifar10():
    (path,) = _need("lenet.captum_cifar10")
    files = _package_files("foolbox", "data/cifar10_*.png")
    labels = np.array([int(Path(f).stem.split("_")[2]) for f in files])
    m = load_model("zoo:lenet.captum_cifar10")
    x = torch.stack([m.preprocess(Image.open(f)) for f in files])
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    with torch.inference_mode():
        feats, logits = m(x)
        want = _lenet_reference(torch.load(path, map_location="cpu", weights_only=True), x)
    assert feats.shape == (len(files), 84)
    torch.testing.assert_close(logits, want, rtol=1e-5, atol=1e-5)
    assert (logits.argmax(1).numpy() == labels).sum() >= 13  # 14/20 when checked


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_member_takes_64px_and_trains(name):
    """The adaptive pool before the flatten lets fine-tuning's 64 px through (at 32 px the two tests above
    show the networks equal their originals); a backward reaches the first layer."""
    _need(name)
    net = load_model(f"zoo:{name}").module
    net.reset_classifier(3)
    net.train()
    torch.manual_seed(0)
    loss = F.cross_entropy(net(torch.rand(2, 3, 64, 64)), torch.tensor([0, 2]))
    loss.backward()
    first = next(net.body.parameters())
    assert first.grad is not None and float(first.grad.abs().sum()) > 0


def test_member_extracts_through_lead_hf_extract(tmp_path, monkeypatch):
    _need("lenet.captum_cifar10")
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path))
    from lead_hf.extract import ExtractOptions, extract
    out = extract("zoo:lenet.captum_cifar10", "embedded:digits", ExtractOptions(max_per_class=1, progress=False))
    assert out.features.shape == (10, 84) and out.logits.shape == (10, 10) and np.isfinite(out.features).all()
