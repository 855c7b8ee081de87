"""Model loading for every family: features are exactly the classifier's input, logits the model's output."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lead_hf.models import LoadedModel, load_model, resolve_model


def _classifier_input(module, classifier, call, x):
    """Reference: run the model plainly and capture what its classification Linear receives."""
    seen = []
    handle = classifier.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        with torch.no_grad():
            out = call(x)
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0], out


def _image(seed=0, size=(40, 30), mode="RGB"):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr).convert(mode)


@pytest.fixture(scope="module")
def timm_dir(tmp_path_factory):
    import timm
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    out = tmp_path_factory.mktemp("timm") / "tiny"
    timm.models.save_for_hf(model, str(out), safe_serialization=True)
    return out, model


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor
    torch.manual_seed(0)
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, num_labels=7)
    model = ViTForImageClassification(cfg).eval()
    out = tmp_path_factory.mktemp("vit") / "tiny-vit"
    model.save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out, model


@pytest.fixture(scope="module")
def resnet_dir(tmp_path_factory):
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification
    torch.manual_seed(1)
    cfg = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=4)
    model = ResNetForImageClassification(cfg).eval()
    out = tmp_path_factory.mktemp("resnet") / "tiny-resnet"
    model.save_pretrained(out)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.0).save_pretrained(out)
    return out, model


def test_timm_local_dir_features_are_classifier_input(timm_dir):
    folder, reference = timm_dir
    m = load_model(f"local-dir:{folder}")
    assert isinstance(m, LoadedModel) and m.family == "timm" and m.hub_id is None
    assert m.revision.startswith("sha256:") and m.num_classes == 5
    x = torch.stack([m.preprocess(_image(i)) for i in range(3)])
    assert x.shape[1:] == (3, *m.image_size)
    want_feats, want_logits = _classifier_input(reference, reference.get_classifier(), reference, x)
    with torch.no_grad():
        feats, logits = m(x)
    torch.testing.assert_close(feats, want_feats, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, want_logits, rtol=1e-5, atol=1e-6)
    assert feats.shape == (3, m.feature_dim)


def test_timm_arch_with_weights_file(timm_dir, tmp_path):
    from safetensors.torch import save_file
    folder, reference = timm_dir
    weights = tmp_path / "w.safetensors"
    save_file(reference.state_dict(), str(weights))
    m = load_model(f"timm:test_resnet@{weights}")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m.logits(x), reference(x))
    # a .pth of the same tensors is the same model, only the file hash differs
    torch.save(reference.state_dict(), tmp_path / "w.pth")
    m2 = load_model(f"timm:test_resnet@{tmp_path / 'w.pth'}")
    with torch.no_grad():
        torch.testing.assert_close(m2.features(x), m.features(x))


@pytest.mark.parametrize("which", ["vit", "resnet"])
def test_transformers_features_are_classifier_input(which, vit_dir, resnet_dir):
    folder, reference = {"vit": vit_dir, "resnet": resnet_dir}[which]
    m = load_model(str(folder))
    assert m.family == "transformers" and m.num_classes == reference.config.num_labels
    assert m.image_size == (32, 32)
    x = torch.stack([m.preprocess(_image(i, mode="L")) for i in range(4)])  # grayscale in, 3 channels out
    assert x.shape == (4, 3, 32, 32)
    linear = [mod for mod in reference.classifier.modules() if isinstance(mod, torch.nn.Linear)][-1]
    want_feats, want_logits = _classifier_input(reference, linear, lambda t: reference(pixel_values=t).logits, x)
    with torch.no_grad():
        feats, logits = m(x)
    torch.testing.assert_close(feats, want_feats)
    torch.testing.assert_close(logits, want_logits)
    assert feats.shape == (4, linear.in_features) == (4, m.feature_dim)


def test_torchvision_state_dict(tmp_path):
    import torchvision
    torch.manual_seed(0)
    ref = torchvision.models.mobilenet_v3_small(num_classes=6).eval()
    torch.save(ref.state_dict(), tmp_path / "mnv3.pth")
    m = load_model(f"torchvision:mobilenet_v3_small@{tmp_path / 'mnv3.pth'}")
    assert m.family == "torchvision" and m.num_classes == 6 and m.image_size == (224, 224)
    x = torch.randn(2, 3, 64, 64)
    want_feats, want_logits = _classifier_input(ref, ref.classifier[-1], ref, x)
    with torch.no_grad():
        feats, logits = m(x)
    torch.testing.assert_close(feats, want_feats)
    torch.testing.assert_close(logits, want_logits)
    assert m.preprocess(_image()).shape == (3, 224, 224)


def test_resolve_is_cheap_and_stable(timm_dir):
    folder, _ = timm_dir
    a, b = resolve_model(f"local-dir:{folder}"), resolve_model(f"local-dir:{folder}")
    assert (a.name, a.revision, a.preprocess_config) == (b.name, b.revision, b.preprocess_config)
    assert a.preprocess_config["input_size"] == [3, 160, 160]


def test_model_without_classifier(tmp_path):
    import timm
    model = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    timm.models.save_for_hf(model, str(tmp_path / "headless"), safe_serialization=True)
    with pytest.raises(ValueError, match="no classification layer"):
        load_model(f"local-dir:{tmp_path / 'headless'}")


def test_unknown_hub_model_offline_names_it():
    with pytest.raises(ValueError, match=r"nobody-here/no-such-model.*(offline|Hub).*zoo"):
        load_model("nobody-here/no-such-model")
    with pytest.raises(ValueError, match="timm/no-such-model"):
        load_model("timm/no-such-model")


@pytest.mark.parametrize("spec, match", [
    ("", "non-empty"),
    ("zoo:no_such_model", "unknown zoo model 'no_such_model'.*mobilenetv2_100.in1k"),
    ("timm:no_such_arch@/dev/null", "no_such_arch"),
    ("what is this", "not understood"),
])
def test_bad_specs(spec, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        load_model(spec)


def test_weights_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(f"timm:test_resnet@{tmp_path / 'missing.pth'}")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read"):
        load_model(f"timm:test_resnet@{bad}")
    with pytest.raises(ValueError, match="timm:ARCH@"):
        load_model(str(bad))
    import torchvision
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=3).state_dict(), tmp_path / "mnv3.pth")
    with pytest.raises(ValueError, match="do not match the architecture"):
        load_model(f"torchvision:resnet18@{tmp_path / 'mnv3.pth'}")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(str(tmp_path))
