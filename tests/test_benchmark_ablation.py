"""benchmarks/lead_ablation.py: the one-option-at-a-time grid, the stratified low-data subsample and the
choose-on-some-datasets rule."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from lead_hf import score_options
from lead_hf.benchmark import Entry


@pytest.fixture(scope="module")
def ablation():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lead_ablation.py"
    spec = importlib.util.spec_from_file_location("lead_ablation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grid_changes_one_option_and_every_value_is_valid(ablation):
    from lead_hf.scores.lead import LeadOptions

    defaults = score_options("lead")
    grid = ablation.ablation_grid(["one-option"])
    assert grid[0] == ("default", "default", {})
    for group, label, opts in grid[1:]:
        assert set(opts) <= set(defaults), (group, opts)
        LeadOptions(**{**defaults, **opts})  # every setting is a valid variant of the default
        if group != "svm_loss x svm_fit":
            assert len(opts) == 1
    groups = {g for g, _, _ in grid}
    assert {"eta_normalization", "t", "evolution", "samples_per_class", "svm_probability",
            "svm_loss x svm_fit"} <= groups


def test_candidates_spell_out_every_option_that_defines_a_variant(ablation):
    from lead_hf.scores.lead import LeadOptions

    rows = [r for r in ablation.ablation_grid(["candidate"]) if r[0] == "candidate"]
    keys = {"evolution", "eta_normalization", "evolved_state", "svm_probability", "softmax_before_ce", "t"}
    for _, label, opts in rows:
        assert keys <= set(opts), label  # independent of whatever the defaults are when it runs
        LeadOptions(**opts)
    assert len({label for _, label, _ in rows}) == len(rows)
    assert {o["evolution"] for _, _, o in rows} == {"class_mean", "class_block", "full_kernel"}


def test_every_ground_truth_scores_the_same_values(ablation):
    rows = [{"dataset": "embedded:a", "model": m, "score": "lead", "value": v, "seconds": 0.1, "accuracy": 0.0}
            for m, v in (("m1", 1.0), ("m2", 2.0), ("m3", 3.0), ("m4", 4.0))]
    truths = {"same": {"a": {"m1": 0.1, "m2": 0.2, "m3": 0.3, "m4": 0.4}},
              "reversed": {"a": {"m1": 0.4, "m2": 0.3, "m3": 0.2, "m4": 0.1}}}
    tables = ablation.agreement_per_truth(rows, truths)
    row = ablation.table_row("g", "s", {}, "lead", tables, ["a"], [])
    assert row["a@same"] == pytest.approx(1.0) and row["a@reversed"] == pytest.approx(-1.0)
    assert row["choose"] == pytest.approx(0.0)  # the mean over the ground truths
    assert row["confirm"] != row["confirm"]  # no CONFIRM dataset: NaN, not a made-up number


def test_subsample_is_stratified(ablation):
    labels = np.repeat(np.arange(3), 30)
    e = Entry("m", "d", np.arange(90 * 2, dtype=float).reshape(90, 2), labels, np.zeros((90, 4)), 0.5)
    sub = ablation.subsample(e, 10)
    assert np.bincount(sub.labels).tolist() == [10, 10, 10]
    assert sub.features.shape == (30, 2) and sub.logits.shape == (30, 4)
    # rows stay aligned: feature row i of the subset is the original row of its label
    rows = (sub.features[:, 0] / 2).astype(int)
    assert np.array_equal(labels[rows], sub.labels)


def test_choose_uses_only_the_choose_mean(ablation):
    table = [
        {"group": "default", "setting": "default", "score": "lead", "choose": 0.2, "confirm": 0.9, "seconds": 0.1},
        {"group": "t", "setting": "t=1", "score": "lead", "choose": 0.2, "confirm": 0.9, "seconds": 0.1},
        {"group": "t", "setting": "t=3", "score": "lead", "choose": 0.5, "confirm": -0.9, "seconds": 0.1},
        {"group": "t", "setting": "t=10", "score": "lead", "choose": 0.1, "confirm": 1.0, "seconds": 0.1},
    ]
    assert ablation.choose(table) == {"t": "t=3"}
    from types import SimpleNamespace

    args = SimpleNamespace(choose=["a"], confirm=["b"], ground_truth=["gt"], zoo="zoo.txt")
    md = ablation.render(table, {"t": "t=3"}, args, [], [], [])
    assert "t=3 *" in md and "t=10 *" not in md


def test_a_label_with_a_pipe_stays_one_table_cell(ablation):
    from types import SimpleNamespace

    table = [{"group": "candidate", "setting": "softmax | class_block, t=1", "score": "lead", "choose": 0.1,
              "confirm": 0.2, "seconds": 0.1}]
    args = SimpleNamespace(choose=["a"], confirm=["b"], ground_truth=["gt"], zoo="zoo.txt")
    md = ablation.render(table, {}, args, [], [], [])
    header, rule, row = md.strip().splitlines()[-3:]
    cells = lambda line: [c for c in re.split(r"(?<!\\)\|", line)[1:-1]]  # noqa: E731
    assert len(cells(row)) == len(cells(header)) == len(cells(rule))
    assert "softmax \\| class_block" in row


def test_low_data_draws_from_the_subset_the_scores_see(ablation):
    """M per class comes from the entries when every class has M; a v2 ground truth fixes its own subset,
    so an M above it cannot be extracted anew (its 50-per-class row was once the full 100-per-class data)."""
    from types import SimpleNamespace

    from lead_hf.results.ground_truth import GroundTruth

    entries = {"a": [SimpleNamespace(labels=np.array([0] * 60 + [1] * 40))],
               "b": [SimpleNamespace(labels=np.array([0, 1, 2] * 100))]}
    assert ablation.smallest_class(entries) == 40
    assert ablation.own_subsets([GroundTruth(accuracy=0.9, train_split="train", train_per_class=100)])
    assert not ablation.own_subsets([GroundTruth(accuracy=0.9)])


def test_v3_decision_grid_is_the_declared_twenty_rows(ablation):
    """docs/lead.md declares 20 rows: the default of that time, its analytic twin, and class_mean / class_block /
    full_kernel with eta = 1/lambda_max at three t each, empirical and analytic NTK."""
    from lead_hf.scores.lead import LeadOptions

    grid = ablation.v3_decision_grid()
    assert len(grid) == 20 and grid[0][:2] == ("default", "default")
    # the row held against is v2's default whatever the defaults are now (the decision replaced it)
    assert grid[0][2]["t"] == 0.3 and grid[0][2]["eta_normalization"] == "class_mean"
    assert len({label for _, label, _ in grid}) == 20
    options = [LeadOptions(**{**score_options("lead"), **opts}) for _, _, opts in grid]
    kinds = {(o.ntk, o.evolution, o.eta_normalization) for o in options[2:]}
    assert kinds == {(n, e, "lambda_max") for n in ("empirical", "analytic")
                     for e in ("class_mean", "class_block", "full_kernel")}
    assert options[1].ntk == "analytic" and options[1].t == options[0].t
    assert all(o.softmax_before_ce and o.svm_probability == "softmax" for o in options)


def _decision_row(group, setting, choose, confirm, choose_regret, confirm_regret):
    return {"group": group, "setting": setting, "score": "lead", "options": {}, "choose": choose,
            "confirm": confirm, "choose_regret": choose_regret, "confirm_regret": confirm_regret}


def test_v3_rule_reads_regret_first_then_weighted_tau(ablation):
    default = _decision_row("default", "default", 0.40, 0.40, 1.00, 1.00)
    # lowest CHOOSE regret wins, even with a lower CHOOSE weighted tau; it passes CONFIRM
    better = _decision_row("v3", "b", 0.30, 0.39, 0.50, 0.90)
    got = ablation.decide_v3([default, better])
    assert got["winner"] == "b" and got["adopted"] is True
    # within the 0.05-point tie, the higher CHOOSE weighted tau wins
    twin = _decision_row("v3", "c", 0.45, 0.40, 0.53, 0.80)
    assert ablation.decide_v3([default, better, twin])["winner"] == "c"
    # a winner whose CONFIRM regret is above the default's is not adopted
    worse_confirm = _decision_row("v3", "d", 0.50, 0.50, 0.10, 1.10)
    got = ablation.decide_v3([default, worse_confirm])
    assert got["winner"] == "d" and got["adopted"] is False and "CONFIRM regret" in got["reason"]
    # ... nor one whose CONFIRM weighted tau trails by more than 0.02
    low_tau = _decision_row("v3", "e", 0.50, 0.37, 0.10, 0.90)
    got = ablation.decide_v3([default, low_tau])
    assert got["adopted"] is False and "weighted tau" in got["reason"]
    # the default tied with a variant on regret and on weighted tau stays
    same = _decision_row("v3", "f", 0.40, 0.50, 1.02, 0.10)
    got = ablation.decide_v3([default, same])
    assert got["winner"] == "default" and got["adopted"] is False


def test_v3_rule_counts_only_rows_finished_for_every_member(ablation):
    from lead_hf.results.ground_truth import GroundTruth

    def rec(model, row, dataset):
        return GroundTruth(accuracy=0.5, model=model, row=row, dataset=dataset)

    zoo = ["zoo:a", "zoo:b", "zoo:mobilenetv2_100.in1k-fashion_mnist"]  # the last is derived from fashion_mnist
    records = [rec("zoo:a", "clipart", "embedded:clipart"), rec("zoo:b", "clipart", "embedded:clipart"),
               rec("zoo:a", "fashion_mnist", "embedded:fashion_mnist"),
               rec("zoo:b", "fashion_mnist", "embedded:fashion_mnist"),
               rec("zoo:a", "clipart_10pc", "embedded:clipart")]
    done, missing = ablation.finished_rows(records, zoo, ["clipart", "fashion_mnist", "clipart_10pc", "mnist"])
    assert done == ["fashion_mnist"]  # the derived member is never scored on its own dataset
    assert missing["clipart"] == ["zoo:mobilenetv2_100.in1k-fashion_mnist"]
    assert missing["clipart_10pc"] == ["zoo:b", "zoo:mobilenetv2_100.in1k-fashion_mnist"]
    assert missing["mnist"] == zoo
