"""benchmarks/lead_ablation.py: the one-option-at-a-time grid, the stratified low-data subsample and the
choose-on-some-datasets rule."""
import importlib.util
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
    grid = ablation.ablation_grid()
    assert grid[0] == ("default", "default", {})
    for group, label, opts in grid[1:]:
        assert set(opts) <= set(defaults), (group, opts)
        LeadOptions(**opts)  # every setting is accepted by LEAD itself
        if group != "svm_loss x svm_fit":
            assert len(opts) == 1
    groups = {g for g, _, _ in grid}
    assert {"eta_normalization", "t", "class_aware", "samples_per_class", "svm_probability",
            "svm_loss x svm_fit"} <= groups


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
    md = ablation.render(table, {"t": "t=3"}, ["a"], ["b"], [], [])
    assert "t=3 *" in md and "t=10 *" not in md
