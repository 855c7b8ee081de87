"""lead-hf benchmark: ground-truth parsing, agreement tables from given features, outputs, errors, and the
extraction path with tiny models."""
import json
from pathlib import Path

import numpy as np
import pytest

from lead_hf.benchmark import BenchmarkOptions, Entry, run_benchmark
from lead_hf.benchmark.fidelity import agreement_tables
from lead_hf.benchmark.job import read_zoo
from lead_hf.benchmark.report import write_outputs
from lead_hf.results.ground_truth import GroundTruth, accuracy_table, by_dataset, dataset_key, read_ground_truth


def accuracies(path) -> dict[str, dict[str, float]]:
    return accuracy_table(read_ground_truth(path))

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
    assert summary["s"]["top1_regret"] == pytest.approx(10.0)  # picks the 0.8 model, the best is 0.9: 10 points


def test_outputs_written(feature_tree):
    res = run_benchmark(_opts(feature_tree, scores=("logme", "hscore")), log=lambda m: None)
    paths = write_outputs(res, feature_tree / "out", "bench")
    names = sorted(p.name for p in paths)
    assert names == ["bench.csv", "bench.json", "bench.md", "bench.png", "bench_fidelity.json"]
    fid = json.loads((feature_tree / "out" / "bench_fidelity.json").read_text())
    assert fid["schema"] == "lead-hf/fidelity/v2"
    assert fid["datasets"] == ["alpha", "beta"] and fid["models"] == ["m0", "m1", "m2", "m3", "m4"]
    assert fid["headline_datasets"] == ["alpha", "beta"]  # no seeds: no ceiling to leave a dataset out by
    for name in ("logme", "hscore"):
        got = fid["scores"][name]
        assert got["mean_wtau"] == pytest.approx(res.summary[name]["weighted_tau"])
        assert got["mean_regret"] == pytest.approx(res.summary[name]["top1_regret"])
        assert set(got["per_dataset"]) == {"alpha", "beta"}
        assert set(got["per_dataset"]["alpha"]) >= {"top1_regret", "recall_at_3", "weighted_tau", "spearman", "pearson"}
        lo, hi = got["ci95"]["weighted_tau"]
        assert lo - 1e-12 <= got["mean_wtau"] <= hi + 1e-12
    assert fid["noise_ceiling"] == {}  # this ground truth has no seeds
    # num_params and flops need the model's size (not in a features tree); the probe reads the features
    assert set(fid["reference"]) == {"probe_accuracy", "random", "noise_ceiling"}
    assert fid["reference"]["random"]["mean_regret"] == pytest.approx(np.mean([
        100 * (0.9 - np.mean([0.5, 0.6, 0.7, 0.8, 0.9]))] * 2))
    top = fid["best"]["weighted_tau"]
    other = ({"logme", "hscore"} - {top}).pop()
    assert "weighted_tau" not in fid["scores"][top]["minus_top"]  # the best is not compared with itself
    assert res.summary[other]["weighted_tau"] <= res.summary[top]["weighted_tau"]
    lo, hi = fid["scores"][other]["minus_top"]["weighted_tau"]["ci95"]
    assert lo <= hi and lo <= 1e-12 and 0 <= fid["scores"][other]["minus_top"]["weighted_tau"]["p_better"] <= 1
    md = (feature_tree / "out" / "bench.md").read_text()
    assert "*random order (expected)*" in md and "top-1 regret (points)" in md


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
    wide = accuracies(tmp_path / "wide.csv")
    assert wide == {"cifar10": {"resnet50": 96.28, "vgg": 95.0}, "dtd": {"resnet50": 74.72}}
    folder = tmp_path / "gt"
    folder.mkdir()
    (folder / "digits.csv").write_text(
        "model,dataset,accuracy,protocol\na,embedded:digits,0.9,x\nb,embedded:digits,0.8,x\n")
    assert accuracies(folder) == {"digits": {"a": 0.9, "b": 0.8}}
    (folder / "digits.csv").write_text("model,acc\na,0.7\n")  # no dataset column: the file names it
    assert accuracies(folder) == {"digits": {"a": 0.7}}
    assert dataset_key("embedded:fashion_mnist") == "fashion_mnist"


def test_reference_ground_truth_parses():
    from pathlib import Path

    ref = Path("/work/shared/data/reference/finetune_acc_supervised_11x11.csv")
    if not ref.is_file():
        pytest.skip("reference data not present on this machine")
    gt = accuracies(ref)
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
    with pytest.raises(ValueError, match=r"no ground truth for dataset\(s\) gamma"):
        run_benchmark(_opts(feature_tree, datasets=("gamma",)), log=lambda m: None)
    with pytest.raises(ValueError, match="at least 9 are needed"):
        run_benchmark(_opts(feature_tree, min_models=9), log=lambda m: None)
    np.savez(feature_tree / "feats" / "alpha" / "m0.npz", feats=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="m0.npz' holds no labels array"):
        run_benchmark(_opts(feature_tree), log=lambda m: None)
    with pytest.raises(ValueError, match="min_models"):
        BenchmarkOptions(min_models=1)


def test_read_zoo_placeholder(tmp_path):
    (tmp_path / "zoo.txt").write_text("# models\nzoo:a\ntimm:x@{ZOO_DIR}/w.safetensors  # derived\n\n")
    assert read_zoo(tmp_path / "zoo.txt", "/z") == ["zoo:a", "timm:x@/z/w.safetensors"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no model"):
        read_zoo(tmp_path / "empty.txt")


@pytest.fixture
def tiny_zoo(tmp_path):
    """An image folder dataset saved to disk and three random timm models saved as files: (data, specs)."""
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
    return data, specs


def test_extraction_path_with_tiny_models(tmp_path, tiny_zoo):
    """Models given as specs: features come from the extraction cache at fine-tuning's image size."""
    data, specs = tiny_zoo
    (tmp_path / "gt.csv").write_text("model,dataset,accuracy\n" + "".join(
        f"timm:test_resnet@m{i}.safetensors,data,{0.6 + 0.1 * i}\n" for i in range(3)))
    opts = BenchmarkOptions(models=tuple(specs), datasets=(str(data),), ground_truth=str(tmp_path / "gt.csv"),
                            scores=("logme", "leep"), image_size=32, max_per_class=None,
                            cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path / "out"))
    res = run_benchmark(opts, log=lambda m: None)
    # the static orders and the probe accuracy: reference rows
    assert set(res.summary) == {"logme", "leep", "num_params", "flops", "probe_accuracy"}
    assert res.reference == ["num_params", "flops", "probe_accuracy"]
    assert -1 <= res.summary["logme"]["weighted_tau"] <= 1
    entry_rows = [r for r in res.values if r["score"] == "logme"]
    assert len(entry_rows) == 3
    # the cache holds features at 32 px: a second run is a cache hit and gives the same values
    again = run_benchmark(opts, log=lambda m: None)
    assert [r["value"] for r in again.values] == within_ulps([r["value"] for r in res.values])


# ------------------------------------------------------------------------------------ fidelity v2

def _entry(name, accs, ds="d"):
    return Entry(name, ds, np.zeros((2, 1)), np.zeros(2, dtype=int), None, float(np.mean(accs)), list(accs))


def test_noise_ceiling_is_one_for_seeds_that_agree_and_low_for_seeds_that_do_not():
    from lead_hf.benchmark.fidelity import noise_ceiling

    agree = [_entry(f"m{i}", [0.1 * i, 0.1 * i + 0.01, 0.1 * i + 0.02]) for i in range(6)]
    assert noise_ceiling(agree) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = [_entry(f"m{i}", rng.uniform(size=3)) for i in range(12)]
    assert noise_ceiling(noisy) < 0.6
    # explicit: three seeds -> the mean over {a}|{b,c}, {b}|{a,c}, {c}|{a,b}
    from lead_hf.results.agreement import weighted_tau
    acc = np.array([e.seed_accuracies for e in noisy])
    want = np.mean([weighted_tau(acc[:, 0], acc[:, [1, 2]].mean(1)), weighted_tau(acc[:, 1], acc[:, [0, 2]].mean(1)),
                    weighted_tau(acc[:, 2], acc[:, [0, 1]].mean(1))])
    assert noise_ceiling(noisy) == pytest.approx(want)
    assert noise_ceiling([_entry("a", [0.5]), _entry("b", [0.6])]) is None  # one seed: no ceiling
    # mixed counts: the first n seeds of every model, n the fewest any has
    mixed = [_entry("a", [0.5, 0.6]), _entry("b", [0.6, 0.4, 0.8]), _entry("c", [0.7, 0.9])]
    assert noise_ceiling(mixed) == pytest.approx(weighted_tau([0.5, 0.6, 0.7], [0.6, 0.4, 0.9]))


def _rows(values, accuracies, score="s", ds="d"):
    return [{"dataset": ds, "model": f"m{i}", "score": score, "value": float(v), "seconds": 0.0, "accuracy": float(a)}
            for i, (v, a) in enumerate(zip(values, accuracies))]


def test_bootstrap_interval_covers_the_estimate_and_is_tight_for_a_perfect_ranking():
    from lead_hf.benchmark.fidelity import bootstrap_ci

    acc = np.linspace(0.2, 0.9, 12)
    rng = np.random.default_rng(1)
    perfect = _rows(acc, acc, "perfect")
    noisy = _rows(acc + rng.normal(scale=0.3, size=acc.size), acc, "noisy")
    ci = bootstrap_ci(perfect + noisy, draws=300, seed=0)
    assert ci["perfect"] == pytest.approx([1.0, 1.0])
    from lead_hf.results.agreement import weighted_tau
    point = weighted_tau([r["value"] for r in noisy], acc)
    lo, hi = ci["noisy"]
    assert lo <= point <= hi and hi - lo > 0.05
    assert bootstrap_ci(noisy, draws=300, seed=0)["noisy"] == ci["noisy"]  # seeded: repeatable
    assert bootstrap_ci(noisy, draws=0) == {}


def test_paired_difference_separates_what_the_two_intervals_cannot():
    """Two noisy scores whose intervals overlap, one of them the other plus a consistent improvement: the
    paired difference is read on the same draws, so it is positive in every draw; a score against itself
    (a copy under another name) differs by exactly 0."""
    from lead_hf.benchmark.fidelity import bootstrap_ci, paired_difference_ci

    acc = np.linspace(0.2, 0.9, 14)
    rng = np.random.default_rng(2)
    noise = rng.normal(scale=0.25, size=acc.size)
    base = _rows(acc + noise, acc, "base")
    better = _rows(acc + 0.5 * noise, acc, "better")  # the same errors, halved: ranks at least as well
    copy = _rows(acc + noise, acc, "copy")
    rows = base + better + copy
    ci = bootstrap_ci(rows, draws=300, seed=0)
    assert ci["better"][0] < ci["base"][1]  # the separate intervals overlap
    diff = paired_difference_ci(rows, "base", draws=300, seed=0)
    assert diff["copy"]["ci95"] == [0.0, 0.0] and diff["copy"]["p_better"] == 0.0
    assert diff["better"]["ci95"][0] >= 0 and diff["better"]["p_better"] > 0.5
    assert paired_difference_ci(rows, "missing", draws=10) == {}


def test_ground_truth_table_reads_seeds_and_protocol_fields(tmp_path):
    (tmp_path / "digits.csv").write_text(
        "model,dataset,accuracy,accuracy_std,seed_accuracies,best_lr,lr_grid,image_size,train_split,"
        "train_per_class,test_split,test_per_class,subset_seed,protocol,command\n"
        "zoo:a,embedded:digits,0.9000,0.0100,0.8900;0.9000;0.9100,0.01,0.003;0.01;0.03,64,all,100,all,100,0,"
        "ft-v2 sgd,lead-hf finetune zoo:a\n")
    gt = by_dataset(read_ground_truth(tmp_path))["digits"]["zoo:a"]
    assert gt.accuracy == 0.9 and gt.seed_accuracies == [0.89, 0.9, 0.91]
    assert (gt.image_size, gt.train_split, gt.train_per_class, gt.subset_seed) == (64, "all", 100, 0)
    assert gt.protocol.startswith("ft-v2")
    (tmp_path / "digits.csv").write_text("model,dataset,accuracy,seed_accuracies\nzoo:a,d,0.9,0.8;x\n")
    with pytest.raises(ValueError, match="not a number"):
        read_ground_truth(tmp_path)


def test_benchmark_reports_noise_ceiling_and_intervals(feature_tree):
    lines = (feature_tree / "gt.csv").read_text().splitlines()
    rows = ["model,dataset,accuracy,seed_accuracies,protocol"]
    for m, d, a in (ln.split(",") for ln in lines[1:]):
        a = float(a)
        rows.append(f"{m},{d},{a},{a - 0.01:.4f};{a:.4f};{a + 0.01:.4f},ft-v2 test")
    (feature_tree / "gt.csv").write_text("\n".join(rows) + "\n")
    res = run_benchmark(_opts(feature_tree, scores=("logme",), bootstrap=200), log=lambda m: None)
    assert res.noise_ceiling == {"alpha": pytest.approx(1.0), "beta": pytest.approx(1.0)}
    assert res.protocol == "ft-v2"
    lo, hi = res.ci95["weighted_tau"]["logme"]
    assert lo <= res.summary["logme"]["weighted_tau"] <= hi
    assert res.ceiling["alpha"]["top1_regret"] == 0.0 and res.ceiling["alpha"]["recall_at_3"] == 1.0
    from lead_hf.benchmark.report import markdown
    md = markdown(res)
    assert "noise ceiling" in md and "95% CI" in md and "ft-v2" in md


def test_missing_ground_truth_or_models_fail_before_any_work(tmp_path):
    from lead_hf.benchmark.job import check_inputs

    with pytest.raises(ValueError, match="needs fine-tuned accuracies.*--config benchmarks/configs"):
        check_inputs(BenchmarkOptions(zoo="zoo.txt"))
    with pytest.raises(ValueError, match="needs the models"):
        check_inputs(BenchmarkOptions(ground_truth=str(tmp_path)))
    (tmp_path / "gt.csv").write_text("model,dataset,accuracy\nzoo:a,embedded:digits,0.9\n")
    with pytest.raises(ValueError, match="no ground truth for dataset.*mnist"):
        check_inputs(BenchmarkOptions(ground_truth=str(tmp_path / "gt.csv"), models=("zoo:a",),
                                      datasets=("embedded:mnist",)))


def test_no_dataset_given_means_every_dataset_of_the_ground_truth(tmp_path):
    from lead_hf.benchmark.job import check_inputs, dataset_specs

    (tmp_path / "gt.csv").write_text("model,dataset,accuracy\nzoo:a,embedded:digits,0.9\nzoo:a,embedded:mnist,0.8\n")
    opts = BenchmarkOptions(ground_truth=str(tmp_path / "gt.csv"), models=("zoo:a",))
    assert sorted(dataset_specs(opts, check_inputs(opts))) == [("digits", "embedded:digits"),
                                                               ("mnist", "embedded:mnist")]


def test_a_member_that_is_not_built_and_has_no_ground_truth_is_skipped(tmp_path, monkeypatch):
    from lead_hf.benchmark.job import extracted_entries

    monkeypatch.setenv("LEAD_HF_ZOO_DIR", str(tmp_path / "empty"))
    logs = []
    got = extracted_entries(["zoo:mobilenetv2_100.in1k-reinit3", "zoo:mobilenetv2_100.in1k-fashion_mnist"],
                            "embedded:fashion_mnist", {"zoo:other": GroundTruth(0.5)}, BenchmarkOptions(), logs.append)
    assert got == []
    assert "not available here" in logs[0] and "python -m benchmarks.zoo.build" in logs[0]
    assert "derived from embedded:fashion_mnist" in logs[1]  # excluded before anything is resolved


def test_a_model_whose_weights_differ_from_the_ground_truths_is_skipped(tmp_path, tiny_zoo):
    """A derived member rebuilt on another machine has other weights: its fine-tuned accuracy is not theirs."""
    from lead_hf.benchmark.job import extracted_entries
    from lead_hf.models import resolve_model

    data, specs = tiny_zoo
    right = resolve_model(specs[0]).revision
    assert right.startswith("sha256:")
    (tmp_path / "gt.csv").write_text("model,dataset,accuracy,revision\n" + "".join(
        f"{spec},data,{acc},{rev}\n" for spec, acc, rev in
        zip(specs, (0.6, 0.7, 0.8), (right, "sha256:" + "0" * 64, ""))))
    truth = by_dataset(read_ground_truth(tmp_path / "gt.csv"))["data"]
    assert truth[specs[0]].revision == right and truth[specs[2]].revision is None
    logs = []
    opts = BenchmarkOptions(image_size=32, max_per_class=None, cache_dir=str(tmp_path / "cache"))
    got = extracted_entries(specs, str(data), truth, opts, logs.append)
    assert [e.accuracy for e in got] == [0.6, 0.8]  # the unrecorded revision is not checked
    assert any("sha256:0000" in line and "skipped" in line for line in logs)


def test_zoo_members_without_ground_truth_are_named_and_counted_in_the_table(tmp_path, tiny_zoo):
    """A sweep not finished: the members the zoo has but the ground truth lacks are collected, and the
    per-dataset header counts them (2 of 3), so a mean over fewer members says so in the table itself."""
    from lead_hf.benchmark.fidelity import per_dataset_table
    from lead_hf.benchmark.job import extracted_entries

    data, specs = tiny_zoo
    truth = {specs[0]: GroundTruth(0.6), specs[1]: GroundTruth(0.7)}
    opts = BenchmarkOptions(image_size=32, max_per_class=None, cache_dir=str(tmp_path / "cache"))
    pending = []
    got = extracted_entries(specs, str(data), truth, opts, lambda m: None, no_truth=pending)
    assert [e.accuracy for e in got] == [0.6, 0.7] and pending == [specs[2]]
    doc = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results"
                      / "benchmark_v2_fidelity.json").read_text())
    d = doc["datasets"][0]
    n = len(doc["models_per_dataset"][d])
    doc["ground_truth_models"][d] = n
    assert f"{d} ({n})" in per_dataset_table(doc) or f"{d} † ({n})" in per_dataset_table(doc)
    doc["without_ground_truth"] = {d: ["zoo:x", "zoo:y"]}
    assert f" ({n} of {n + 2})" in per_dataset_table(doc).splitlines()[0]


@pytest.mark.parametrize("name, page", [("benchmark_v3_fidelity.json", "README.md"),
                                        ("benchmark_v3_fidelity.json", "docs/benchmark.md"),
                                        ("benchmark_v3_fidelity.json", "docs/benchmark_v3.md"),
                                        ("benchmark_v2_fidelity.json", "docs/benchmark.md"),
                                        ("benchmark_v3_partial_fidelity.json", "docs/benchmark_v3.md")])
def test_the_benchmark_tables_are_the_committed_fidelity_json(name, page):
    """The benchmark tables of the README and docs/benchmark.md are rendered from benchmarks/results/<name>
    (python -m lead_hf.benchmark FILE), so the two cannot drift apart."""
    from lead_hf.benchmark.fidelity import fidelity_table, per_dataset_table

    root = Path(__file__).resolve().parents[1]
    doc = json.loads((root / "benchmarks" / "results" / name).read_text())
    table = fidelity_table(doc)
    assert table.count("\n") == 2 + len(doc["scores"]) + len(doc["reference"])  # header, rule, one row each
    text = (root / page).read_text()
    for rendered in (table, per_dataset_table(doc)) if page.startswith("docs/") else (table,):
        assert rendered in text, \
            f"{page}'s benchmark table differs from {name}: paste the output of " \
            f"`python -m lead_hf.benchmark benchmarks/results/{name}`"


def test_the_chart_title_wraps_a_long_list_of_headline_datasets():
    from lead_hf.benchmark.report import chart_title

    over = "the headline datasets (" + ", ".join(f"dataset_number_{i}" for i in range(9)) + ")"
    lines = chart_title("Agreement with fine-tuning", over).splitlines()
    assert len(lines) >= 2 and all(len(line) <= 130 for line in lines)
    assert " ".join(lines) == f"Agreement with fine-tuning: means over {over}; grey: reference rows"
    assert chart_title("T", "every dataset") == "T: means over every dataset; grey: reference rows"
