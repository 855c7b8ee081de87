"""Probe accuracy: the shared probe's decisions against explicit per-fold ridge fits, ties, properties."""
import numpy as np
import pytest
import torch

import lead_hf
from helpers import gaussian_classes, within_ulps
from lead_hf.scores._probe import stratified_folds
from lead_hf.scores.probe_accuracy import tie_shared_accuracy


def explicit_ls_svm_accuracy(x, y, k, folds=5, seed=0, alpha_rel=0.01, leave_one_out=False):
    """Each fold (or each sample) refitted by numpy: z-scored features (statistics of all rows), a bias
    column regularised like the weights, ridge on +-1 targets with alpha = alpha_rel x trace/(D+1) of the
    Gram of all rows, then argmax."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(0)
    z = (x - x.mean(0)) / np.where(std > 0, std, 1)
    z = np.hstack([z, np.ones((len(z), 1))])
    t = -np.ones((len(y), k))
    t[np.arange(len(y)), y] = 1
    alpha = alpha_rel * np.trace(z.T @ z) / z.shape[1]
    if leave_one_out:
        groups = np.arange(len(y))
    else:
        groups = stratified_folds(torch.from_numpy(x), torch.from_numpy(y), k, folds, seed).numpy()
    decision = np.empty((len(y), k))
    for g in np.unique(groups):
        test = groups == g
        a = z[~test]
        w = np.linalg.solve(a.T @ a + alpha * np.eye(z.shape[1]), a.T @ t[~test])
        decision[test] = z[test] @ w
    return float((decision.argmax(1) == y).mean()), decision


@pytest.mark.parametrize("shape", [(60, 5), (30, 40)])   # primal (N > D + 1) and dual (N <= D + 1) paths
@pytest.mark.parametrize("fit", ["out_of_fold", "leave_one_out"])
def test_equals_explicit_refits(shape, fit):
    n, d = shape
    x, y = gaussian_classes(num_classes=3, per_class=n // 3, dim=d, separation=0.5, seed=n + d)
    want, _ = explicit_ls_svm_accuracy(x, y, 3, leave_one_out=fit == "leave_one_out")
    got = lead_hf.score("probe_accuracy", x, y, fit=fit)
    assert got == pytest.approx(want, abs=1e-12)
    assert 0.3 < want < 1.0            # overlapping classes, so the equality says something


def test_squared_hinge_runs_and_separates():
    x, y = gaussian_classes(num_classes=3, per_class=30, dim=6, separation=4.0, seed=3)
    assert lead_hf.score("probe_accuracy", x, y, loss="squared_hinge") == 1.0


def test_separable_scores_one_and_random_labels_near_chance():
    x, y = gaussian_classes(num_classes=4, per_class=60, dim=10, separation=5.0, seed=1)
    assert lead_hf.score("probe_accuracy", x, y) == 1.0
    shuffled = np.random.default_rng(2).permutation(y)
    assert abs(lead_hf.score("probe_accuracy", x, shuffled) - 0.25) < 0.1


def test_in_sample_is_at_least_out_of_fold():
    x, y = gaussian_classes(num_classes=3, per_class=30, dim=8, separation=0.4, seed=4)
    assert lead_hf.score("probe_accuracy", x, y, fit="in_sample") >= lead_hf.score("probe_accuracy", x, y)


def test_ties_are_shared_so_constant_features_give_one_over_k():
    # balanced classes and constant features: every class gets the same decision
    x = np.ones((30, 4))
    y = np.arange(30) % 3
    r = lead_hf.compute_score("probe_accuracy", x, y)
    assert r.value == pytest.approx(1 / 3)
    d = torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    assert tie_shared_accuracy(d, torch.tensor([0, 1, 1])).tolist() == [0.5, 0.0, 1.0]


def test_invariant_to_feature_scales_label_names_and_row_order():
    x, y = gaussian_classes(num_classes=3, per_class=25, dim=6, separation=0.6, seed=5)
    base = lead_hf.compute_score("probe_accuracy", x, y)
    scales = np.random.default_rng(6).uniform(1e-3, 1e3, size=6)
    assert lead_hf.score("probe_accuracy", x * scales, y) == within_ulps(base.value)
    perm = np.random.default_rng(7).permutation(y.size)
    assert lead_hf.score("probe_accuracy", x[perm], y[perm]) == within_ulps(base.value)
    names = np.array(["zebra", "moth", "ant"])[y]
    assert lead_hf.score("probe_accuracy", x, names) == within_ulps(base.value)


def test_cross_entropy_detail_is_the_calibrated_nll():
    x, y = gaussian_classes(num_classes=3, per_class=25, dim=6, separation=0.6, seed=5)
    r = lead_hf.compute_score("probe_accuracy", x, y)
    _, decision = explicit_ls_svm_accuracy(x, y, 3)
    a = r.details["logit_scale"]
    z = a * decision
    log_p = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    assert r.details["cross_entropy"] == pytest.approx(-log_p[np.arange(y.size), y].mean(), rel=1e-9)
    # the fitted temperature minimises the NLL: neighbours of a do no better
    for b in (0.9 * a, 1.1 * a):
        zb = b * decision
        nll = -(zb[np.arange(y.size), y] - np.log(np.exp(zb).sum(1))).mean()
        assert nll >= r.details["cross_entropy"] - 1e-12


def test_leave_one_out_needs_least_squares():
    with pytest.raises(ValueError, match="fit must be"):
        lead_hf.score("probe_accuracy", np.eye(6), np.arange(6) % 2, fit="leave_one_out", loss="squared_hinge")
