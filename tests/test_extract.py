"""The extraction loop: exact outputs in dataset order, the cache, resume after a failure, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import datasets
from lead_hf.extract import ExtractOptions, extract
from lead_hf.extract import cache as cache_mod
from lead_hf.extract import runtime as runtime_mod
from lead_hf.models import ModelRef, load_model, resolve_model


def make_dataset(n=23, classes=("a", "b", "c"), seed=0, size=(20, 16)):
    from PIL import Image
    rng = np.random.default_rng(seed)
    imgs = [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]
    labels = [int(v) for v in rng.integers(0, len(classes), n)]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(classes))})
    return datasets.Dataset.from_dict({"image": imgs, "label": labels}, features=feats)


@pytest.fixture(scope="module")
def timm_model(tmp_path_factory):
    import timm
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    out = tmp_path_factory.mktemp("timm") / "tiny"
    # a small input size keeps the tests fast; it travels in the saved data config
    timm.models.save_for_hf(model, str(out), safe_serialization=True,
                            model_config={"pretrained_cfg": {**model.pretrained_cfg, "input_size": (3, 48, 48)}})
    return f"local-dir:{out}"


@pytest.fixture(scope="module")
def vit_model(tmp_path_factory):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor
    torch.manual_seed(0)
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, num_labels=6)
    out = tmp_path_factory.mktemp("vit") / "tiny-vit"
    ViTForImageClassification(cfg).save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return str(out)


@pytest.fixture
def opts(tmp_path):
    return ExtractOptions(cache_dir=str(tmp_path / "cache"), batch_size=4, chunk_size=5, num_workers=0,
                          progress=False)


def reference(spec, ds):
    """Plain single-process loop: preprocess every image and call the model, no accelerate, no cache."""
    m = load_model(spec)
    x = torch.stack([m.preprocess(img) for img in ds["image"]])
    with torch.no_grad():
        feats, logits = m(x)
    return feats.numpy(), logits.numpy()


@pytest.mark.parametrize("which", ["timm", "vit"])
def test_extract_equals_plain_forward_in_dataset_order(which, timm_model, vit_model, opts):
    spec = {"timm": timm_model, "vit": vit_model}[which]
    ds = make_dataset()
    out = extract(spec, ds, opts)
    want_f, want_l = reference(spec, ds)
    assert out.features.dtype == np.float32 and out.logits.dtype == np.float32 and out.labels.dtype == np.int64
    np.testing.assert_allclose(out.features, want_f, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.logits, want_l, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out.labels, ds["label"])
    assert out.label_names == ["a", "b", "c"] and not out.from_cache
    prov = out.provenance
    assert prov.model.revision.startswith("sha256:") and prov.dataset.num_samples == 23
    assert {"torch", "datasets", "accelerate"} <= set(prov.versions) and prov.processes == 1
    assert not (out.cache_path / "partial").exists()


def test_cache_hit_does_not_touch_the_model(timm_model, opts, monkeypatch):
    ds = make_dataset()
    first = extract(timm_model, ds, opts)

    def boom(self):
        raise AssertionError("the model was loaded on a cache hit")

    monkeypatch.setattr(ModelRef, "load", boom)
    again = extract(timm_model, ds, opts)
    assert again.from_cache and again.cache_path == first.cache_path
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.logits, first.logits)
    assert again.provenance == first.provenance
    # a different sample selection or precision is a different request: it needs the model
    for change in ({"max_per_class": 2}, {"mixed_precision": "bf16"}, {"split": "train[:10]"}):
        with pytest.raises(AssertionError, match="loaded on a cache hit"):
            extract(timm_model, ds, opts, **change)
    # use_cache=False recomputes
    with pytest.raises(AssertionError):
        extract(timm_model, ds, opts, use_cache=False)


def test_embedded_cache_hit_skips_building_the_dataset(timm_model, opts, monkeypatch):
    out = extract(timm_model, "embedded:lfw_faces", opts, split="test[:9]")
    assert out.features.shape[0] == 9 and out.label_names == ["face", "non-face"]
    import lead_hf.data as data_mod
    monkeypatch.setattr(data_mod, "load_split", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built")))
    monkeypatch.setattr(ModelRef, "load", lambda self: (_ for _ in ()).throw(AssertionError("loaded")))
    assert extract(timm_model, "embedded:lfw_faces", opts, split="test[:9]").from_cache


def test_resume_after_failure_gives_identical_arrays(timm_model, opts, tmp_path, monkeypatch):
    ds = make_dataset()
    clean = extract(timm_model, ds, opts, cache_dir=str(tmp_path / "clean"))
    written = []
    real_write = cache_mod.ChunkStore.write

    def failing_write(self, c, arrays):
        if len(written) == 2:
            raise RuntimeError("killed after two chunks")
        written.append(c)
        real_write(self, c, arrays)

    monkeypatch.setattr(cache_mod.ChunkStore, "write", failing_write)
    with pytest.raises(RuntimeError, match="killed"):
        extract(timm_model, ds, opts)
    entry = next(p for p in (tmp_path / "cache" / "extract").iterdir() if not p.name.startswith("."))
    assert not (entry / "manifest.json").exists()  # never complete
    assert cache_mod.read_entry(entry) is None
    # chunk_size 5 is rounded up to 8 (two batches of 4)
    assert sorted(p.name for p in (entry / "partial").glob("chunk-*.safetensors")) == ["chunk-00000.safetensors",
                                                                           "chunk-00001.safetensors"]
    monkeypatch.setattr(cache_mod.ChunkStore, "write", real_write)
    seen = []
    real_forward_for = runtime_mod.forward_for

    def counting_forward_for(*args, **kwargs):  # the batches the loop runs, whichever runtime runs them
        forward, info = real_forward_for(*args, **kwargs)
        return (lambda x: (seen.append(x.shape[0]), forward(x))[1]), info

    monkeypatch.setattr(runtime_mod, "forward_for", counting_forward_for)
    resumed = extract(timm_model, ds, opts)
    # only the missing last chunk (rows 16-22), batched as before
    assert seen == [4, 3]
    np.testing.assert_array_equal(resumed.features, clean.features)
    np.testing.assert_array_equal(resumed.logits, clean.logits)


def test_resume_after_sigkill(timm_model, tmp_path):
    """A real process killed mid-run (SIGKILL: no clean-up at all) resumes to the same arrays."""
    import subprocess
    import sys
    import time
    ds = make_dataset(n=30)
    ds.save_to_disk(tmp_path / "ds")
    cache = tmp_path / "cache"
    script = f"""
import time, torch
from lead_hf.extract import ExtractOptions, extract
from lead_hf.models import ModelRef
real = ModelRef.load
def slow(self):
    m = real(self); inner = m._both
    m._both = lambda x: (time.sleep(0.4), inner(x))[1]
    return m
ModelRef.load = slow
extract({timm_model!r}, {str(tmp_path / 'ds')!r}, ExtractOptions(cache_dir={str(cache)!r}, batch_size=3,
        chunk_size=6, num_workers=0, progress=False, runtime="eager"))
"""
    # runtime="eager": the slowed forward above is PyTorch's; ONNX Runtime would not run it and could finish
    # the 30 rows between two polls
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(list(cache.glob("extract/*/partial/chunk-*.safetensors"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the extraction finished before it could be killed"
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    entry = next(p for p in (cache / "extract").iterdir() if not p.name.startswith("."))
    assert not (entry / "manifest.json").exists()
    opts = ExtractOptions(cache_dir=str(cache), batch_size=3, chunk_size=6, num_workers=0, progress=False,
                          runtime="eager")
    resumed = extract(timm_model, str(tmp_path / "ds"), opts)
    clean = extract(timm_model, str(tmp_path / "ds"), opts, cache_dir=str(tmp_path / "clean"))
    np.testing.assert_array_equal(resumed.features, clean.features)
    np.testing.assert_array_equal(resumed.logits, clean.logits)


def test_changed_chunk_plan_discards_old_chunks(tmp_path):
    store = cache_mod.ChunkStore(tmp_path, 10, 4, {"key": "k"})
    store.write(0, {"features": np.zeros((4, 2), np.float32)})
    assert cache_mod.ChunkStore(tmp_path, 10, 4, {"key": "k"}).done() == [0]
    assert cache_mod.ChunkStore(tmp_path, 10, 3, {"key": "k"}).done() == []
    (tmp_path / "partial" / "chunk-00001.safetensors").write_bytes(b"torn")
    assert cache_mod.ChunkStore(tmp_path, 10, 3, {"key": "k"}).done() == []


def test_corrupt_image_names_the_row_and_leaves_nothing_complete(timm_model, opts):
    ds = make_dataset(n=9).cast_column("image", datasets.Image(decode=False))
    rows = ds.to_dict()
    rows["image"][6] = {"bytes": b"\x89PNG but not really", "path": None}
    bad = datasets.Dataset.from_dict(rows, features=ds.features).cast_column("image", datasets.Image())
    with pytest.raises(ValueError, match=r"image 6 of dataset .*could not be read.*--skip-bad-samples"):
        extract(timm_model, bad, opts, num_workers=1)
    for entry in (opts.cache_root() / "extract").iterdir():
        assert cache_mod.read_entry(entry) is None


def test_corrupt_image_file_is_named_by_its_path(timm_model, opts, tmp_path):
    from PIL import Image
    for i, cls in enumerate(["cat", "cat", "dog", "dog"]):
        (tmp_path / "photos" / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(tmp_path / "photos" / cls / f"{i}.png")
    broken = tmp_path / "photos" / "dog" / "3.png"
    broken.write_bytes(b"\x89PNG truncated")
    with pytest.raises(ValueError, match=rf"could not be read \(file '{broken}': .*fix or delete that file"):
        extract(timm_model, f"imagefolder:{tmp_path / 'photos'}", opts)


def test_empty_split_and_bad_options(timm_model, opts):
    with pytest.raises(ValueError, match="selects no sample"):
        extract(timm_model, make_dataset(), opts, split="train[:0]")
    with pytest.raises(ValueError, match="mixed_precision"):
        ExtractOptions(mixed_precision="fp8")
    with pytest.raises(ValueError, match="batch_size"):
        ExtractOptions(batch_size=-1)


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path / "env-cache"))
    assert ExtractOptions().cache_root() == tmp_path / "env-cache"
    monkeypatch.delenv("LEAD_HF_CACHE")
    assert str(ExtractOptions().cache_root()).endswith(".cache/lead_hf")


def test_cli_extract(timm_model, tmp_path, capsys):
    from lead_hf.cli import main
    make_dataset(n=8).save_to_disk(tmp_path / "ds")
    code = main(["extract", "--dataset", str(tmp_path / "ds"), "--models", timm_model, "--cache-dir",
                 str(tmp_path / "c"), "--no-progress", "--batch-size", "3", "--output", str(tmp_path / "s.json")])
    assert code == 0
    assert "lead-hf extract: 1 process(es) (world size 1" in capsys.readouterr().err
    summary = json.loads((tmp_path / "s.json").read_text())["extractions"]
    assert summary[0]["num_samples"] == 8 and summary[0]["feature_dim"] == resolve_model(timm_model).load().feature_dim
    with pytest.raises(SystemExit) as exc:  # every field's help renders
        main(["extract", "--help"])
    assert exc.value.code == 0 and "--max-per-class" in capsys.readouterr().out
    assert main(["extract", "--list-zoo"]) == 0
    listing = capsys.readouterr().out
    assert "zoo:mobilenetv2_100.in1k" in listing and "(licence: MIT)" in listing  # ZooEntry.licence is shown
    assert main(["extract", "--dataset", "embedded:nope", "--models", timm_model]) == 2


# --- issue 10 item 9: multi-process runs on CPU, and stopping them ---------------------------------------

def test_a_launch_that_starts_one_process_instead_of_several_is_said(capsys):
    from lead_hf.extract.launch import launch_problem, under_launcher

    simple = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "ACCELERATE_USE_CPU": "True"}
    message = launch_problem(1, simple)  # what `accelerate launch --cpu --num_processes 2` leaves
    assert "started just one" in message and "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu" in message
    torchrun = {**simple, "LOCAL_RANK": "0", "WORLD_SIZE": "2", "RANK": "0"}
    assert under_launcher(torchrun) and launch_problem(2, torchrun) is None
    assert launch_problem(1, {}) is None and not under_launcher({})


def test_missing_model_directories_fail_before_any_extraction(tmp_path, capsys):
    from lead_hf.cli import main
    code = main(["extract", "--dataset", "embedded:digits", "--models", "zoo:mobilenetv2_100.in1k",
                 f"local-dir:{tmp_path / 'gone'}", "./no/such/model", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2 and f"model directory '{tmp_path / 'gone'}' does not exist" in err
    assert "model directory './no/such/model' does not exist" in err and not (tmp_path / "c").exists()


WORKER = """
import os, sys, time
from lead_hf.extract.launch import stop_with_parent
assert stop_with_parent()
print("armed", flush=True)
time.sleep(120)
"""
LAUNCHER = """
import os, subprocess, sys, time
env = dict(os.environ, LOCAL_RANK="0", WORLD_SIZE="1")
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=env, stdout=sys.stdout)
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_workers_stop_when_their_launcher_is_killed():
    import signal
    import subprocess
    import sys
    import time
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, WORKER], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(launcher.stdout.readline())
        assert launcher.stdout.readline().strip() == "armed"
        assert _alive(worker)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its launcher"
    finally:
        launcher.kill()
