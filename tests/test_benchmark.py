"""lead-hf benchmark: ground-truth parsing, agreement tables from given features, outputs, errors, and the
extraction path with tiny models."""
import json

import numpy as np
import pytest

from lead_hf.benchmark import (BenchmarkOptions, Entry, agreement_tables, dataset_key, read_ground_truth,
                               read_zoo, run_benchmark, write_outputs)

from helpers import within_ulps

SCORES = ("lead", "logme", "hscore", "leep")


def _features(signal: float, seed: int, n_per_class=12, k=3, d=6):
    """Features whose class information grows with ``signal`` (class means scaled by it, unit noise)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per_class)
    means = rng.normal(size=(k, d))
    feats = signal * means[labels] + rng.normal(size=(labels.size, d))
    logits = signal * np.eye(k)[labels] @ rng.normal(size=(k, 5)) + rng.normal(size=(labels.size, 5))
    return feats.astype(np.float32), labels, logits.astype(np.float32)


@pytest.fixture
def feature_tree(tmp_path):
    """Two datasets x 5 models; the model's accuracy follows its feature informativeness."""
    signals = {"m0": 0.0, "m1": 0.5, "m2": 1.0, "m3": 2.0, "m4": 4.0}
    rows = ["model,dataset,accuracy"]
    for ds_i, ds in enumerate(("alpha", "beta")):
        for i, (name, s) in enumerate(signals.items()):
            f, y, lg = _features(s, seed=10 * ds_i + i)
            folder = tmp_path / "feats" / ds
            folder.mkdir(parents=True, exist_ok=True)
            arrays = {"features": f, "labels": y}
            if ds == "alpha":
                arrays["logits"] = lg  # beta has no source logits: LEEP must be skipped there only
            np.savez(folder / f"{name}.npz", **arrays)
            rows.append(f"{name},{ds},{0.5 + 0.1 * i}")
    (tmp_path / "gt.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def _opts(tree, **kw):
    base = dict(features=str(tree / "feats"), ground_truth=str(tree / "gt.csv"), datasets=("alpha", "beta"),
                scores=SCORES, output_dir=str(tree / "out"))
    base.update(kw)
    return BenchmarkOptions(**base)


def test_informative_features_give_positive_weighted_tau(feature_tree):
    res = run_benchmark(_opts(feature_tree), log=lambda m: None)
    assert set(res.per_dataset) == {"alpha", "beta"}
    for method in ("lead", "logme", "hscore"):
        assert res.summary[method]["weighted_tau"] > 0.5, (method, res.summary[method])
        assert res.summary[method]["datasets"] == 2
    # LEEP needs logits: computed on alpha, skipped on beta (no error)
    assert "leep" in res.per_dataset["alpha"] and "leep" not in res.per_dataset["beta"]
    assert res.summary["leep"]["datasets"] == 1
    assert len([r for r in res.values if r["score"] == "lead"]) == 10
    assert all(r["seconds"] >= 0 for r in res.values)


def test_reversed_ground_truth_gives_negative_tau(feature_tree):
    lines = (feature_tree / "gt.csv").read_text().splitlines()
    flipped = [lines[0]] + [f"{m},{d},{1.5 - float(a)}" for m, d, a in (ln.split(",") for ln in lines[1:])]
    (feature_tree / "gt.csv").write_text("\n".join(flipped) + "\n")
    res = run_benchmark(_opts(feature_tree, scores=("logme",)), log=lambda m: None)
    assert res.summary["logme"]["weighted_tau"] < -0.5
    assert res.summary["logme"]["top1_regret"] > 0


def test_agreement_table_matches_scipy():
    from scipy import stats

    rows = [{"dataset": "d", "model": f"m{i}", "score": "s", "value": v, "seconds": 0.1, "accuracy": a}
            for i, (v, a) in enumerate(zip([3.0, 1.0, 2.0, 5.0], [0.7, 0.5, 0.9, 0.8]))]
    per, summary = agreement_tables(rows)
    expected = stats.weightedtau([3.0, 1.0, 2.0, 5.0], [0.7, 0.5, 0.9, 0.8]).statistic
    assert per["d"]["s"]["weighted_tau"] == pytest.approx(expected)
    assert summary["s"]["top1_regret"] == pytest.approx((0.9 - 0.8) / 0.9)


def test_outputs_written(feature_tree):
    res = run_benchmark(_opts(feature_tree, scores=("logme", "hscore")), log=lambda m: None)
    paths = write_outputs(res, feature_tree / "out", "bench")
    names = sorted(p.name for p in paths)
    assert names == ["bench.csv", "bench.json", "bench.md", "bench.png"]
    doc = json.loads((feature_tree / "out" / "bench.json").read_text())
    assert doc["schema"] == "lead-hf/benchmark/v1" and "logme" in doc["summary"]
    md = (feature_tree / "out" / "bench.md").read_text()
    assert "| logme |" in md and "alpha" in md
    assert (feature_tree / "out" / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert len((feature_tree / "out" / "bench.csv").read_text().splitlines()) == 1 + 2 * 5 * 2


def test_cli_with_features(feature_tree, capsys):
    from lead_hf.cli import main

    code = main(["benchmark", "--features", str(feature_tree / "feats"), "--ground-truth",
                 str(feature_tree / "gt.csv"), "--datasets", "alpha,beta", "--scores", "logme",
                 "--output-dir", str(feature_tree / "cli"), "--no-chart"])
    assert code == 0
    assert (feature_tree / "cli" / "benchmark.md").is_file()
    assert not (feature_tree / "cli" / "benchmark.png").exists()


def test_ground_truth_formats(tmp_path):
    (tmp_path / "wide.csv").write_text("# comment\nmodel,cifar10,dtd\nresnet50,96.28,74.72\nvgg,95.0,\n")
    wide = read_ground_truth(tmp_path / "wide.csv")
    assert wide == {"cifar10": {"resnet50": 96.28, "vgg": 95.0}, "dtd": {"resnet50": 74.72}}
    folder = tmp_path / "gt"
    folder.mkdir()
    (folder / "digits.csv").write_text(
        "model,dataset,accuracy,protocol\na,embedded:digits,0.9,x\nb,embedded:digits,0.8,x\n")
    assert read_ground_truth(folder) == {"digits": {"a": 0.9, "b": 0.8}}
    assert dataset_key("embedded:fashion_mnist") == "fashion_mnist"


def test_reference_ground_truth_parses():
    from pathlib import Path

    ref = Path("/work/shared/data/reference/finetune_acc_supervised_11x11.csv")
    if not ref.is_file():
        pytest.skip("reference data not present on this machine")
    gt = read_ground_truth(ref)
    assert len(gt) == 11 and all(len(v) == 11 for v in gt.values())


@pytest.mark.parametrize("content, match", [
    ("name,accuracy\na,0.5\n", "'model' column"),
    ("model,dataset,accuracy\na,d,high\n", "not a number"),
    ("model,dataset,accuracy\na,d,nan\n", "accuracy of"),
])
def test_bad_ground_truth(tmp_path, content, match):
    (tmp_path / "gt.csv").write_text(content)
    with pytest.raises(ValueError, match=match):
        read_ground_truth(tmp_path / "gt.csv")


def test_bad_inputs(feature_tree):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_ground_truth(feature_tree / "missing.csv")
    with pytest.raises(ValueError, match="no ground truth for dataset 'gamma'"):
        run_benchmark(_opts(feature_tree, datasets=("gamma",)), log=lambda m: None)
    with pytest.raises(ValueError, match="at least 9 are needed"):
        run_benchmark(_opts(feature_tree, min_models=9), log=lambda m: None)
    np.savez(feature_tree / "feats" / "alpha" / "m0.npz", feats=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="'features'"):
        run_benchmark(_opts(feature_tree), log=lambda m: None)
    with pytest.raises(ValueError, match="min_models"):
        BenchmarkOptions(min_models=1)


def test_read_zoo_placeholder(tmp_path):
    (tmp_path / "zoo.txt").write_text("# models\nzoo:a\ntimm:x@{ZOO_DIR}/w.safetensors  # derived\n\n")
    assert read_zoo(tmp_path / "zoo.txt", "/z") == ["zoo:a", "timm:x@/z/w.safetensors"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no model"):
        read_zoo(tmp_path / "empty.txt")


def test_extraction_path_with_tiny_models(tmp_path):
    """Models given as specs: features come from the extraction cache at fine-tuning's image size."""
    import datasets
    import timm
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    labels = [i % 2 for i in range(16)]
    images = [Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8) // (1 + c)).convert("RGB")
              for c in labels]
    data = tmp_path / "data"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"image": images, "label": labels}, features=feats)}
                         ).save_to_disk(str(data))
    specs = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = timm.create_model("test_resnet", pretrained=False, num_classes=4)
        path = tmp_path / f"m{seed}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        specs.append(f"timm:test_resnet@{path}")
    (tmp_path / "gt.csv").write_text("model,dataset,accuracy\n" + "".join(
        f"timm:test_resnet@m{i}.safetensors,data,{0.6 + 0.1 * i}\n" for i in range(3)))
    opts = BenchmarkOptions(models=tuple(specs), datasets=(str(data),), ground_truth=str(tmp_path / "gt.csv"),
                            scores=("logme", "leep"), image_size=32, max_per_class=None,
                            cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path / "out"))
    res = run_benchmark(opts, log=lambda m: None)
    assert set(res.summary) == {"logme", "leep"}
    assert -1 <= res.summary["logme"]["weighted_tau"] <= 1
    entry_rows = [r for r in res.values if r["score"] == "logme"]
    assert len(entry_rows) == 3
    # the cache holds features at 32 px: a second run is a cache hit and gives the same values
    again = run_benchmark(opts, log=lambda m: None)
    assert [r["value"] for r in again.values] == within_ulps([r["value"] for r in res.values])
