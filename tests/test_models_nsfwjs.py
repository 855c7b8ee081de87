"""nsfwjs's three TF.js models as zoo members: the TF.js reader, the modules, and equality with nsfwjs
itself running under TensorFlow.js (tests/fixtures/nsfwjs_reference.json, made by
benchmarks/zoo/make_nsfwjs_fixture.py)."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lead_hf.models import resolve_model, zoo_entry
from benchmarks.zoo import nsfwjs
from lead_hf.models.loaders import zoo_builder
from benchmarks.zoo.tfjs import decode_weights, read_js_bundle_export, read_js_literal

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "nsfwjs_reference.json"
MEMBERS = {"inception_v3.nsfwjs": "inception_v3", "mobilenetv2_100.nsfwjs": "mobilenet_v2",
           "mobilenetv2_140.nsfwjs": "mobilenet_v2_mid"}

from benchmarks.zoo.make_nsfwjs_fixture import centre_crop  # noqa: E402


# ------------------------------------------------------------------------------- the TF.js reader

def test_js_literal_reader_reads_what_minifiers_emit():
    text = r"""{a:"x\"y\u0041\\",'b':[.5,-1e-3,2E+2,!0,!1,void 0,null,true,false,12,-7],"c d":{},e:[]}"""
    value, end = read_js_literal(text)
    assert end == len(text)
    assert value == {"a": 'x"yA\\', "b": [0.5, -0.001, 200.0, True, False, None, None, True, False, 12, -7],
                     "c d": {}, "e": []}
    assert isinstance(value["b"][-1], int) and isinstance(value["b"][0], float)


@pytest.mark.parametrize("bad, what", [("{a:1 b:2}", "expected ','"), ("[1,", "unexpected end"),
                                       ('{a:"open}', "unterminated string"), ("{a:@}", "expected a value")])
def test_js_literal_reader_names_the_position_of_bad_input(bad, what):
    with pytest.raises(ValueError, match=what):
        read_js_literal(bad, source="t.js")


def test_bundle_export_is_found_and_other_files_are_refused():
    bundle = ('!function(e){module.exports=e()}(function(){return function e(a,n,i){}({1:[function(r,q,z)'
              '{q.exports={weightsManifest:[],modelTopology:{x:!0}}},{}]},{},[1])(1)});')
    assert read_js_bundle_export(bundle, "m.js") == {"weightsManifest": [], "modelTopology": {"x": True}}
    with pytest.raises(ValueError, match="not a browserify bundle"):
        read_js_bundle_export("var x = 1;", "other.js")


def test_decode_weights_dequantises_as_tfjs():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, size=6, dtype=np.uint8)
    f = rng.standard_normal(4).astype(np.float32)
    lo, scale = -0.8733451160730, 0.006666756611244351
    manifest = [{"paths": ["s1", "s2"], "weights": [
        {"name": "q", "shape": [2, 3], "dtype": "float32", "quantization": {"min": lo, "scale": scale, "dtype": "uint8"}},
        {"name": "f", "shape": [4], "dtype": "float32"}]}]
    blob = q.tobytes() + f.tobytes()
    shards = {"s1": blob[:5], "s2": blob[5:]}  # a weight may straddle two shards
    out = decode_weights(manifest, shards.__getitem__)
    # TF.js: Float32Array element = (double) v * scale + min
    expected = np.array([np.float32(float(v) * scale + lo) for v in q], dtype=np.float32).reshape(2, 3)
    assert out["q"].dtype == np.float32 and np.array_equal(out["q"], expected)
    assert np.array_equal(out["f"], f)
    with pytest.raises(ValueError, match="too short"):
        decode_weights(manifest, lambda p: shards[p][:-1])
    with pytest.raises(ValueError, match="not described"):
        decode_weights(manifest, lambda p: shards[p] + (b"\0" if p == "s2" else b""))


# -------------------------------------------------------------------------------------- modules

@pytest.mark.parametrize("size, pads", [(8, (0, 1)), (7, (1, 1)), (1, (1, 1))])
def test_tf_same_pad_puts_the_odd_row_at_the_bottom(size, pads):
    torch.manual_seed(0)
    x = torch.randn(1, 2, size, size)
    unit = nsfwjs.ConvUnit(2, 3, 3, 2, padding="tf_same", bn_eps=None, act=None)
    top, bottom = pads
    expected = F.conv2d(F.pad(x, (top, bottom, top, bottom)), unit.conv.weight, unit.conv.bias, stride=2)
    assert unit(x).shape[-1] == -(-size // 2)  # ceil(size / 2), as TF's SAME
    torch.testing.assert_close(unit(x), expected, rtol=0, atol=0)


def test_inception_average_pools_exclude_the_padding():
    pools = [m for m in nsfwjs.inception_v3_body().modules() if isinstance(m, torch.nn.AvgPool2d)]
    assert len(pools) == 9 and all(not p.count_include_pad for p in pools)
    # a constant map stays constant up to the border only when the padding is excluded
    assert torch.equal(pools[0](torch.ones(1, 1, 5, 5)), torch.ones(1, 1, 5, 5))


@pytest.mark.parametrize("folder, px, dim", [("inception_v3", 75, 2048), ("mobilenet_v2", 64, 1280),
                                             ("mobilenet_v2_mid", 64, 1792)])
def test_modules_fine_tune_at_small_sizes(folder, px, dim):
    """What fine-tuning does with a member: a new head, a forward at max(64, min_input_size) px and a
    backward that reaches the first convolution."""
    torch.manual_seed(0)
    net = nsfwjs.build_module(folder)
    assert net.num_features == dim and net.num_classes == 5
    net.reset_classifier(3)
    assert isinstance(net.classifier, torch.nn.Linear) and net.classifier.in_features == dim
    net.train()
    logits = net(torch.randn(2, 3, px, px))
    assert logits.shape == (2, 3)
    F.cross_entropy(logits, torch.tensor([0, 2])).backward()
    first = nsfwjs.conv_units(net.body)[0].conv.weight
    assert first.grad is not None and float(first.grad.abs().sum()) > 0


def test_inception_min_input_size_is_75():
    body = nsfwjs.inception_v3_body().eval()
    with torch.no_grad():
        assert body(torch.zeros(1, 3, 75, 75)).shape == (1, 2048)
        with pytest.raises(RuntimeError):
            body(torch.zeros(1, 3, 74, 74))
    assert zoo_entry("inception_v3.nsfwjs").min_input_size == 75


def test_zoo_entries_agree_with_the_converter():
    for name, folder in MEMBERS.items():
        entry = zoo_entry(name)
        assert entry.family == "torch" and entry.converter == nsfwjs.CONVERTER and entry.num_classes == 5
        assert entry.build == f"benchmarks.zoo.nsfwjs:build_{folder}"  # data: the loader imports it
        assert zoo_builder(entry.build) is getattr(nsfwjs, f"build_{folder}")
        assert nsfwjs.build_module(folder).num_features == entry.feature_dim
    assert zoo_entry("mobilenetv2_140.nsfwjs").preprocess.config()["value_range"] == [-1.0, 1.0]
    assert zoo_entry("mobilenetv2_100.nsfwjs").preprocess.config()["value_range"] == [0.0, 1.0]


def test_missing_package_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LEAD_HF_NPM_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="make nsfwjs"):
        resolve_model("zoo:mobilenetv2_100.nsfwjs")


def test_integrity_check_rejects_another_file(tmp_path):
    fake = tmp_path / "nsfwjs-4.4.0.tgz"
    fake.write_bytes(b"not the package")
    with pytest.raises(ValueError, match="not the published nsfwjs"):
        nsfwjs.check_integrity(fake)
    digest = base64.b64encode(hashlib.sha512(b"not the package").digest()).decode()
    assert digest not in nsfwjs.NSFWJS_INTEGRITY


# ------------------------------------------------------------------------- the real package

@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The installed tarball, with a private conversion cache. Skips only when npm is absent."""
    try:
        tarball = zoo_entry("inception_v3.nsfwjs").weight_files()[0]
    except FileNotFoundError:
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so `make` could not fetch the nsfwjs package; install node and npm, "
                        "then run `make nsfwjs`")
        pytest.fail("npm is installed but the nsfwjs package is not: run `make nsfwjs`")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEAD_HF_CACHE", str(tmp_path_factory.mktemp("lead_hf_cache")))
    yield tarball
    mp.undo()


@pytest.mark.parametrize("name", list(MEMBERS))
def test_outputs_equal_nsfwjs_under_tfjs(package, name):
    fixture = json.loads(FIXTURE.read_text())
    ref = fixture["models"][name]
    ref_model = resolve_model(f"zoo:{name}")
    assert ref_model.preprocess_config["min_input_size"] == zoo_entry(name).min_input_size
    model = ref_model.load()
    size = zoo_entry(name).preprocess.size
    assert ref["size"] == size and model.image_size == (size, size)
    names = sorted(ref["outputs"])
    pixels = torch.stack([model.preprocess(Image.fromarray(centre_crop(n, size))) for n in names])
    with torch.no_grad():
        feats, logits = model(pixels)
    assert feats.shape == (len(names), model.feature_dim) and logits.shape == (len(names), 5)
    probs = logits.double().softmax(-1)
    for i, image in enumerate(names):
        want = ref["outputs"][image]
        assert want["feature_dim"] == model.feature_dim
        np.testing.assert_allclose(probs[i].numpy(), want["probabilities"], rtol=0, atol=1e-4,
                                   err_msg=f"{name} on {image}: probabilities")
        # log-probabilities too, so that the rare classes (p ~ 1e-6) are checked as well
        np.testing.assert_allclose(logits[i].double().log_softmax(-1).numpy(), np.log(want["probabilities"]),
                                   rtol=0, atol=1e-4, err_msg=f"{name} on {image}: log-probabilities")
        f = feats[i].double()
        np.testing.assert_allclose(f[:4].numpy(), want["features"]["head"], rtol=1e-4, atol=1e-6,
                                   err_msg=f"{name} on {image}: first features")
        np.testing.assert_allclose([float(f.mean()), float(f.norm())],
                                   [want["features"]["mean"], want["features"]["norm"]], rtol=1e-4,
                                   err_msg=f"{name} on {image}: feature mean / norm")
    # the photos are told apart: the reference is not one constant answer
    assert float((probs[0] - probs[1]).abs().max()) > 1e-3


def test_cache_is_reused_and_a_damaged_file_is_rebuilt(package):
    # clone: tensors read from the cache may be views of the memory-mapped file damaged below
    first = {k: v.clone() for k, v in nsfwjs.converted_state_dict("mobilenet_v2", package).items()}
    files = sorted(nsfwjs.cache_dir().glob("mobilenet_v2-*.safetensors"))
    assert len(files) == 1 and files[0].with_suffix(".json").is_file()
    stamp = files[0].stat().st_mtime_ns
    again = nsfwjs.converted_state_dict("mobilenet_v2", package)
    assert files[0].stat().st_mtime_ns == stamp  # read, not rewritten
    assert all(torch.equal(first[k], again[k]) for k in first)
    data = bytearray(files[0].read_bytes())
    data[-1] ^= 0xFF
    files[0].unlink()
    files[0].write_bytes(bytes(data))
    rebuilt = nsfwjs.converted_state_dict("mobilenet_v2", package)
    assert all(torch.equal(first[k], rebuilt[k]) for k in first)
    assert json.loads(files[0].with_suffix(".json").read_text())["sha256"] == \
        hashlib.sha256(files[0].read_bytes()).hexdigest()


def test_converter_refuses_a_topology_it_was_not_written_for(package):
    model = nsfwjs.read_package_model(package, "mobilenet_v2")
    layer = next(l for l in model.keras_layers() if l["name"] == "block_2_depthwise")
    layer["config"]["strides"] = [2, 2]
    with pytest.raises(ValueError, match="block_2_depthwise.*stride"):
        nsfwjs.convert("mobilenet_v2", model)
    model = nsfwjs.read_package_model(package, "mobilenet_v2")
    pad = next(l for l in model.keras_layers() if l["name"] == "block_1_pad")
    pad["config"]["padding"] = [[1, 1], [1, 1]]  # torchvision's symmetric padding is not what Keras did
    with pytest.raises(ValueError, match="block_1_depthwise.*padding"):
        nsfwjs.convert("mobilenet_v2", model)
    model = nsfwjs.read_package_model(package, "mobilenet_v2_mid")
    mul = next(n for n in model.graph_nodes() if n["name"].endswith("hub_input/Mul"))
    const = next(i for i in mul["input"] if i.endswith("Mul/y"))
    model.weights[const] = np.float32(3.0)
    with pytest.raises(ValueError, match="not x \\* 2 - 1"):
        nsfwjs.convert("mobilenet_v2_mid", model)


def test_fine_tuning_size_honours_inceptions_minimum(package):
    from lead_hf.models.preprocessing import effective_image_size, resized_ref

    ref = resized_ref("zoo:inception_v3.nsfwjs", 64)
    assert ref.preprocess_config["resize"] == [75, 75]
    assert effective_image_size(ref.preprocess_config, 64) == 75
    assert resized_ref("zoo:mobilenetv2_140.nsfwjs", 64).preprocess_config["resize"] == [64, 64]
