"""The statistics the scores share (lead_hf/scores/_stats.py) against numpy written out."""
import numpy as np
import pytest
import torch

from lead_hf.scores._stats import class_counts, class_means, class_sums, principal_scores, resolve_solver


def test_class_sums_and_means_equal_a_loop_over_classes():
    rng = np.random.default_rng(0)
    labels = np.array([2, 0, 2, 2, 0, 3])   # class 1 is empty
    values = rng.normal(size=(6, 3))
    y = torch.as_tensor(labels)
    sums = class_sums(torch.as_tensor(values), y, 4).numpy()
    means = class_means(torch.as_tensor(values), y, 4).numpy()
    for k in range(4):
        rows = values[labels == k]
        np.testing.assert_allclose(sums[k], rows.sum(0) if len(rows) else np.zeros(3), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(means[k], rows.mean(0) if len(rows) else np.zeros(3), rtol=1e-14, atol=1e-15)
    assert class_counts(y, 4).tolist() == [2, 0, 3, 1]
    assert class_counts(y, 4, torch.float64).dtype == torch.float64
    # one value per sample: [K] means, with the counts passed in
    flat = class_means(torch.as_tensor(values[:, 0]), y, 4, class_counts(y, 4))
    assert flat.shape == (4,)
    np.testing.assert_allclose(flat.numpy(), means[:, 0], rtol=1e-14, atol=1e-15)


def test_resolve_solver():
    assert resolve_solver("auto", 10, 3) == "covariance"
    assert resolve_solver("auto", 3, 3) == "gram"
    assert resolve_solver("gram", 10, 3) == "gram"
    assert resolve_solver("covariance", 2, 30) == "covariance"


@pytest.mark.parametrize("shape", [(30, 5), (5, 30), (8, 8)])   # scatter, Gram, and the tie (Gram)
def test_principal_scores_equal_numpy_svd(shape):
    n, d = shape
    rng = np.random.default_rng(n * d)
    x = rng.normal(size=(n, d)) * np.linspace(4, 0.5, d) + 2
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    for q in (1, 3):
        ours = principal_scores(torch.as_tensor(x), components=q).numpy()
        ref = xc @ vt[:q].T
        signs = np.sign((ours * ref).sum(0))   # axes are defined up to sign
        np.testing.assert_allclose(ours * signs, ref, rtol=1e-8, atol=1e-9)
    # no count and no fraction: every axis of the numerical rank (centring removes one when n <= d)
    assert principal_scores(torch.as_tensor(x)).shape == (n, min(d, n - 1))


def test_principal_scores_never_exceed_the_rank():
    x = np.random.default_rng(1).normal(size=(20, 3))
    redundant = torch.as_tensor(np.hstack([x, x, 2 * x[:, :1]]))   # 7 columns, rank 3
    assert principal_scores(redundant, components=6).shape == (20, 3)
    assert principal_scores(redundant, variance=1.0).shape == (20, 3)
    assert principal_scores(redundant, components=0).shape == (20, 1)   # at least one column
