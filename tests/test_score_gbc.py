"""GBC: properties, bounds, invariances and a per-pair explicit version."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lead_hf
from helpers import blobs, rotation


def explicit_gbc(x, y, pca_dim=64, gaussian_type="diagonal", var_floor=1e-4):
    """Per-pair loop with covariance matrices, logdets and a linear solve; PCA by numpy SVD."""
    z = np.asarray(x, dtype=np.float64)
    if pca_dim:
        zc = z - z.mean(0)
        _, s, vt = np.linalg.svd(zc, full_matrices=False)
        rank = max(1, int((s ** 2 > (s[0] ** 2) * 1e-12).sum()))
        z = zc @ vt[: min(pca_dim, rank)].T
    floor = var_floor * z.var(0).mean()
    classes = np.unique(y)
    stats = []
    for c in classes:
        zc = z[y == c]
        var = np.maximum(zc.var(0), floor)
        if gaussian_type == "spherical":
            var = np.full_like(var, var.mean())
        stats.append((zc.mean(0), np.diag(var)))
    total = 0.0
    for i, (mi, si) in enumerate(stats):
        for j, (mj, sj) in enumerate(stats):
            if i == j:
                continue
            s = (si + sj) / 2
            dm = mi - mj
            db = dm @ np.linalg.solve(s, dm) / 8 + 0.5 * (
                np.linalg.slogdet(s)[1] - 0.5 * (np.linalg.slogdet(si)[1] + np.linalg.slogdet(sj)[1]))
            total += np.exp(-db)
    return -total


def test_separable_scores_above_noise():
    x, y = blobs()
    noise = np.random.default_rng(5).normal(size=x.shape)
    assert lead_hf.score("gbc", x, y) > lead_hf.score("gbc", noise, y) + 1
    assert lead_hf.score("gbc", x, y, gaussian_type="spherical") > lead_hf.score(
        "gbc", noise, y, gaussian_type="spherical") + 1


@pytest.mark.parametrize("gaussian_type", ["diagonal", "spherical"])
@pytest.mark.parametrize("pca_dim", [64, 3, None])
@pytest.mark.parametrize("shape", [(40, 6), (16, 30)])
def test_fast_equals_explicit_per_pair_loop(gaussian_type, pca_dim, shape):
    n, d = shape
    rng = np.random.default_rng(n * d)
    y = np.arange(n) % 4
    x = rng.normal(size=(4, d))[y] * 0.3 + rng.normal(size=(n, d)) * rng.uniform(0.2, 2, size=d)
    fast = lead_hf.score("gbc", x, y, gaussian_type=gaussian_type, pca_dim=pca_dim)
    slow = explicit_gbc(x, y, pca_dim=pca_dim, gaussian_type=gaussian_type)
    assert fast == pytest.approx(slow, rel=1e-8, abs=1e-10)
    assert -12 < fast < -1e-6  # overlapping classes: strictly inside the bounds, so the check is not vacuous


@pytest.mark.parametrize("opts", [{"gaussian_type": "diagonal"}, {"gaussian_type": "spherical"},
                                  {"gaussian_type": "spherical", "pca_dim": None}, {"pca_dim": 5}])
def test_invariant_to_orthogonal_rotation(opts):
    # PCA turns any rotation of the features back onto the same principal axes (up to signs)
    x, y = blobs(d=8, spread=1.0)
    assert lead_hf.score("gbc", x @ rotation(8), y, **opts) == pytest.approx(
        lead_hf.score("gbc", x, y, **opts), rel=1e-7)


def test_without_pca_the_diagonal_model_sees_the_basis():
    # the counterpart of the rotation test: the invariance comes from PCA, not from a test too weak to see it
    x, y = blobs(d=8, spread=1.0)
    x = x * np.array([5, 1, 1, 1, 1, 1, 1, 0.2])
    assert lead_hf.score("gbc", x @ rotation(8), y, pca_dim=None) != pytest.approx(
        lead_hf.score("gbc", x, y, pca_dim=None), rel=1e-3)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_identical_class_distributions_give_the_minimum(k):
    pts = np.random.default_rng(k).normal(size=(7, 5))
    x = np.concatenate([pts] * k)
    y = np.repeat(np.arange(k), 7)
    for gaussian_type in ("diagonal", "spherical"):
        assert lead_hf.score("gbc", x, y, gaussian_type=gaussian_type) == pytest.approx(-k * (k - 1), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(6, 30), d=st.integers(1, 10), k=st.integers(2, 4), seed=st.integers(0, 10_000),
       spherical=st.booleans())
def test_always_between_the_bounds(n, d, k, seed, spherical):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
    y = np.arange(n) % k
    value = lead_hf.score("gbc", x, y, gaussian_type="spherical" if spherical else "diagonal")
    assert -k * (k - 1) - 1e-9 <= value <= 0


def test_scale_and_translation_invariant():
    x, y = blobs(spread=1.0)
    assert lead_hf.score("gbc", 1e3 * x + 7, y) == pytest.approx(lead_hf.score("gbc", x, y), rel=1e-8)


def test_one_sample_class_uses_the_variance_floor():
    x, y = blobs(k=3, spread=1.0)
    x = np.concatenate([x, x[:1] + 0.1])
    y = np.concatenate([y, [3]])
    res = lead_hf.compute_score("gbc", x, y)
    assert math.isfinite(res.value) and res.details["single_sample_classes"] == 1
    assert res.value == pytest.approx(explicit_gbc(x, y), rel=1e-8)
    # a larger floor makes the point-mass class broader, hence overlap more
    assert lead_hf.score("gbc", x, y, var_floor=0.5) < res.value


def test_constant_features_are_one_point_mass_per_class():
    assert lead_hf.score("gbc", np.zeros((10, 4)), np.arange(10) % 2) == pytest.approx(-2.0)


def test_compute_score_details_and_options():
    x, y = blobs(d=100, per_class=30)
    res = lead_hf.compute_score("gbc", x, y)
    assert res.details["reduced_dim"] == 64 and res.options["pca_dim"] == 64
    assert lead_hf.compute_score("gbc", x, y, pca_dim=8).details["reduced_dim"] == 8
