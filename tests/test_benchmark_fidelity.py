"""Benchmark fidelity v3: the fast bootstrap measures against the explicit ones, the bootstrap over seeds,
the noise ceiling per measure, the headline rule, reference rows and ground-truth rows."""
import json

import numpy as np
import pytest

import lead_hf
from lead_hf.benchmark import BenchmarkOptions, Entry, run_benchmark
from lead_hf.benchmark.fidelity import (_halves, _quick, bootstrap_ci, bootstrap_draws, ceiling_measures,
                                        fidelity_document, fidelity_table, headline_datasets, paired_difference_ci,
                                        per_dataset_table)
from lead_hf.results.agreement import agreement
from lead_hf.results.ground_truth import by_dataset, for_dataset, read_ground_truth


def _rows(values, accuracies, score="s", ds="d"):
    return [{"dataset": ds, "model": f"m{i}", "score": score, "value": float(v), "seconds": 0.0, "accuracy": float(a)}
            for i, (v, a) in enumerate(zip(values, accuracies))]


@pytest.mark.parametrize("seed", range(5))
def test_the_bootstraps_quick_measures_equal_the_explicit_ones(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    values = rng.normal(size=n).round(1)  # rounded: ties, as a bootstrap draw's repeated models make
    acc = rng.uniform(0.3, 0.9, size=n).round(2)
    quick, full = _quick(values, acc), agreement(values, acc)
    for m in quick:
        assert quick[m] == pytest.approx(full[m], abs=1e-12), m


def test_halves_split_every_way_once():
    assert _halves(3) == [([0], [1, 2]), ([1], [0, 2]), ([2], [0, 1])]
    assert len(_halves(6)) == 10 and len(_halves(8)) == 35  # C(6,3)/2, C(8,4)/2
    assert all(0 in a for a, _ in _halves(4))


def test_noise_ceiling_in_every_measure_equals_the_explicit_average():
    rng = np.random.default_rng(3)
    seeds = [list(rng.uniform(0.5, 0.9, size=4)) for _ in range(7)]
    acc = np.array(seeds)
    splits = [([0, 1], [2, 3]), ([0, 2], [1, 3]), ([0, 3], [1, 2])]
    want = [agreement(acc[:, a].mean(1), acc[:, b].mean(1)) for a, b in splits]
    got = ceiling_measures(seeds)
    for m in got:
        assert got[m] == pytest.approx(np.mean([w[m] for w in want])), m
    assert ceiling_measures([[0.5], [0.6]]) is None and ceiling_measures([[0.5, 0.6]]) is None


def test_the_bootstrap_resamples_seeds_too():
    """A score equal to the mean accuracy ranks perfectly on the data; resampling models alone cannot move
    its weighted tau off 1, resampling the seeds (which reorders close models) does."""
    acc_seeds = {("d", f"m{i}"): [0.5 + 0.02 * i + e for e in (-0.03, 0.0, 0.03)] for i in range(8)}
    rows = _rows([0.5 + 0.02 * i for i in range(8)], [0.5 + 0.02 * i for i in range(8)], "oracle")
    without = bootstrap_ci(rows, draws=200, seed=0)
    with_seeds = bootstrap_ci(rows, draws=200, seed=0, seeds=acc_seeds)
    assert without["oracle"] == pytest.approx([1.0, 1.0])
    assert with_seeds["oracle"][0] < 0.9
    again = bootstrap_ci(rows, draws=200, seed=0, seeds=acc_seeds)
    assert again == with_seeds  # seeded: repeatable


def test_paired_regret_difference_counts_lower_as_better():
    acc = np.linspace(0.5, 0.9, 10)
    rng = np.random.default_rng(0)
    good = _rows(acc + rng.normal(scale=0.01, size=acc.size), acc, "good")
    bad = _rows(-acc, acc, "bad")  # always picks the worst
    diff = paired_difference_ci(good + bad, "good", draws=200, seed=0, measure="top1_regret")
    assert diff["bad"]["ci95"][0] > 0 and diff["bad"]["p_better"] == 0.0
    draws = bootstrap_draws(good + bad, draws=50, seed=0)
    assert set(draws) == {"top1_regret", "recall_at_3", "weighted_tau", "spearman", "pearson"}
    assert np.all(draws["top1_regret"]["bad"] > draws["top1_regret"]["good"])


def test_headline_rule():
    ok, low = {"weighted_tau": 0.85}, {"weighted_tau": 0.6}
    keep, apart = headline_datasets({"a": ok, "b": low, "c": None}, 0.8)
    assert keep == ["a"] and set(apart) == {"b", "c"} and "0.60 < 0.8" in apart["b"] and "seeds" in apart["c"]
    assert headline_datasets({"a": None, "b": None}, 0.8) == (["a", "b"], {})  # nothing to judge by


# ------------------------------------------------------------------------ a whole run on entries

def _entry(model, ds, signal, seeds, size, rng):
    labels = np.repeat(np.arange(3), 10)
    feats = signal * np.eye(3)[labels] @ rng.normal(size=(3, 5)) + rng.normal(size=(30, 5))
    return Entry(model, ds, feats.astype(np.float32), labels, None, float(np.mean(seeds)), list(seeds),
                 "ft-v3 test", cost={"parameters": size, "flops_per_image": size * 10.0})


def test_a_run_reports_reference_rows_the_headline_and_every_measure(tmp_path):
    rng = np.random.default_rng(0)
    signals = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]
    entries = {
        # "steady": seeds agree (ceiling 1); "noisy": the seeds disagree (ceiling far below 0.8)
        "steady": [_entry(f"m{i}", "steady", s, [0.5 + 0.08 * i + e for e in (0, 0.001, 0.002)], 1e6 * (6 - i), rng)
                   for i, s in enumerate(signals)],
        "noisy": [_entry(f"m{i}", "noisy", s, list(rng.uniform(0.4, 0.9, size=3)), 1e6 * (i + 1), rng)
                  for i, s in enumerate(signals)],
    }
    opts = BenchmarkOptions(ground_truth="unused", features="unused", scores=("logme", "hscore"),
                            reference=("num_params",), bootstrap=100, output_dir=str(tmp_path),
                            score_options=("logme.tol=0.001",))
    res = run_benchmark(opts, log=lambda m: None, entries=entries)
    assert res.headline == ["steady"] and "noisy" in res.not_in_headline
    assert res.reference == ["num_params"] and "num_params" in res.summary
    doc = json.loads(json.dumps(fidelity_document(res)))  # JSON-clean
    assert doc["headline_datasets"] == ["steady"]
    assert doc["noise_ceiling"]["steady"] == pytest.approx(1.0) and doc["noise_ceiling"]["noisy"] < 0.8
    assert set(doc["reference"]) == {"num_params", "random", "noise_ceiling"}
    assert set(doc["scores"]) == {"logme", "hscore"}
    # every row says the options it ran with, defaults filled in and the ones asked for applied
    assert set(doc["score_options"]) == {"logme", "hscore", "num_params"}
    assert doc["score_options"]["logme"]["tol"] == pytest.approx(0.001)
    assert doc["score_options"]["logme"]["max_iter"] == lead_hf.score_options("logme")["max_iter"]
    for group in ("scores", "reference"):
        for name, row in doc[group].items():
            assert {"mean_wtau", "mean_regret", "per_dataset"} <= set(row), name
            # headline means are the steady dataset's values, not the noisy one's
            assert row["mean_regret"] == pytest.approx(row["per_dataset"]["steady"]["top1_regret"]), name
    # the static order puts the smallest-accuracy model first on steady (sizes fall as accuracy rises)
    assert doc["reference"]["num_params"]["per_dataset"]["steady"]["weighted_tau"] == pytest.approx(-1.0)
    assert doc["reference"]["num_params"]["mean_regret"] == pytest.approx(100 * (0.901 - 0.501))  # seed means
    assert doc["reference"]["random"]["mean"]["spearman"] == 0.0
    table = fidelity_table(doc)
    assert table.count("\n") == 2 + len(doc["scores"]) + len(doc["reference"])
    assert "*num_params*" in table and "*noise ceiling (seed halves)*" in table
    assert "noisy †" in per_dataset_table(doc)


def test_an_old_fidelity_file_is_named_not_misread():
    with pytest.raises(ValueError, match="re-run `lead-hf benchmark`"):
        fidelity_table({"schema": "lead-hf/fidelity/v1", "scores": {}})
    with pytest.raises(ValueError, match="re-run `lead-hf benchmark`"):  # not a KeyError on a missing field
        per_dataset_table({"schema": "lead-hf/fidelity/v1", "scores": {}, "datasets": ["a"]})


# ------------------------------------------------------------------------------- ground-truth rows

def test_rows_that_share_a_dataset_are_kept_apart(tmp_path):
    head = "model,dataset,accuracy,train_per_class,row\n"
    (tmp_path / "clipart.csv").write_text(head + "zoo:a,embedded:clipart,0.6,75,clipart\n"
                                                 "zoo:b,embedded:clipart,0.5,75,clipart\n")
    (tmp_path / "clipart_10pc.csv").write_text(head + "zoo:a,embedded:clipart,0.3,10,clipart_10pc\n"
                                                      "zoo:b,embedded:clipart,0.35,10,clipart_10pc\n")
    truth = by_dataset(read_ground_truth(tmp_path))
    assert set(truth) == {"clipart", "clipart_10pc"}
    assert truth["clipart_10pc"]["zoo:a"].train_per_class == 10 and truth["clipart"]["zoo:a"].accuracy == 0.6
    with pytest.raises(ValueError, match="2 rows.*clipart, clipart_10pc.*one row"):
        for_dataset(read_ground_truth(tmp_path), "embedded:clipart")
    assert for_dataset(read_ground_truth(tmp_path / "clipart_10pc.csv"), "embedded:clipart") == {"zoo:a": 0.3,
                                                                                                   "zoo:b": 0.35}
    from lead_hf.benchmark.job import check_inputs, dataset_specs

    for want, pairs in [((), [("clipart", "embedded:clipart"), ("clipart_10pc", "embedded:clipart")]),
                        (("clipart_10pc",), [("clipart_10pc", "embedded:clipart")]),
                        # the row named clipart only, though clipart_10pc's dataset has that name too
                        (("clipart",), [("clipart", "embedded:clipart")]),
                        (("embedded:clipart",), [("clipart", "embedded:clipart"),
                                                 ("clipart_10pc", "embedded:clipart")])]:
        opts = BenchmarkOptions(ground_truth=str(tmp_path), models=("zoo:a",), datasets=want)
        assert dataset_specs(opts, check_inputs(opts)) == pairs, want
    # a bare dataset name that is no row's name: every row of it, extracted from the dataset they record
    only = tmp_path / "only_10pc"
    only.mkdir()
    (only / "clipart_10pc.csv").write_text((tmp_path / "clipart_10pc.csv").read_text())
    opts = BenchmarkOptions(ground_truth=str(only), models=("zoo:a",), datasets=("clipart",))
    assert dataset_specs(opts, check_inputs(opts)) == [("clipart_10pc", "embedded:clipart")]
    with pytest.raises(ValueError, match="no ground truth for dataset.*clipart_5pc"):
        check_inputs(BenchmarkOptions(ground_truth=str(tmp_path), models=("zoo:a",), datasets=("clipart_5pc",)))


def test_a_mistyped_reference_row_fails_before_any_model_runs(tmp_path):
    from lead_hf.benchmark.job import check_inputs

    (tmp_path / "gt.csv").write_text("model,dataset,accuracy\nzoo:a,embedded:digits,0.9\n")
    with pytest.raises(ValueError, match="num_param"):
        check_inputs(BenchmarkOptions(ground_truth=str(tmp_path / "gt.csv"), models=("zoo:a",),
                                      reference=("num_param",)))
