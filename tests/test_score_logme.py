"""LogME: fixed point against a direct evidence maximisation, both eigendecompositions, invariances."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import lead_hf
from helpers import gaussian_classes

TIGHT = {"tol": 1e-10, "max_iter": 1000}


def explicit_class_evidence(f, y):
    """max over (alpha, beta) of the evidence (/ N) written with D x D matrices (solve, slogdet), by
    scipy's L-BFGS-B on (log alpha, log beta) from several starts; no eigenbasis shortcut. The box is wide
    enough that maxima in a limit (alpha or beta -> infinity) are reached to ~1e-12."""
    n, d = f.shape
    gram, fty = f.T @ f, f.T @ y

    def negative(params):
        alpha, beta = np.exp(params)
        a = alpha * np.eye(d) + beta * gram
        m = beta * np.linalg.solve(a, fty)
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.linalg.slogdet(a)[1]
                    - beta / 2 * ((y - f @ m) ** 2).sum() - alpha / 2 * m @ m - n / 2 * np.log(2 * np.pi))
        return -evidence

    runs = [minimize(negative, start, method="L-BFGS-B", bounds=[(-20, 40), (-20, 40)],
                     options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000})
            for start in [(-2.0, 0.0), (2.0, 2.0), (6.0, 0.0)]]
    best = min(runs, key=lambda r: r.fun)
    return -best.fun / n, np.exp(best.x)


@pytest.mark.parametrize("shape", [(60, 5), (24, 40)])
def test_fixed_point_equals_direct_evidence_maximisation(shape):
    n, d = shape
    rng = np.random.default_rng(n * d)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + 0.6 * rng.normal(size=(3, d))[y]
    result = lead_hf.compute_score("logme", f, y, **TIGHT)
    ours = result.details["evidence_per_class"]
    assert result.value == pytest.approx(np.mean(ours), rel=1e-12)
    limits = result.details["at_limit"]
    assert not all(limits)   # the data are built so that some maxima are stationary points
    for k in range(3):
        best, (alpha, beta) = explicit_class_evidence(f, (y == k).astype(float))
        # no optimiser may find more evidence than the fixed point reports
        assert ours[k] >= best - 1e-10
        if limits[k]:
            # sup in a limit: the optimiser creeps towards it and gets close from below
            assert ours[k] == pytest.approx(best, abs=1e-4)
        else:
            assert ours[k] == pytest.approx(best, rel=1e-8)
            assert result.details["alpha"][k] == pytest.approx(alpha, rel=1e-3)
            assert result.details["beta"][k] == pytest.approx(beta, rel=1e-3)


def test_limit_where_features_explain_nothing_is_the_noise_only_evidence():
    # a zero-mean noise feature: the best prior is w = 0 (alpha -> infinity), leaving y ~ N(0, I / beta)
    # with beta = N / n_k, whose evidence has a closed form; no class can do worse than that limit
    rng = np.random.default_rng(11)
    y = np.array([0, 1] * 20)
    f = rng.normal(size=(40, 1))
    r = lead_hf.compute_score("logme", f, y, **TIGHT)
    noise_only = (20 * math.log(40 / 20) - 20 - 20 * math.log(2 * math.pi)) / 40
    assert all(e >= noise_only - 1e-12 for e in r.details["evidence_per_class"])
    assert any(r.details["at_limit"])
    for e, limit in zip(r.details["evidence_per_class"], r.details["at_limit"]):
        if limit:
            assert e == pytest.approx(noise_only, abs=1e-10)


@pytest.mark.parametrize("shape", [(50, 8), (20, 30), (25, 25)])
def test_covariance_and_gram_paths_agree(shape):
    n, d = shape
    f, y = gaussian_classes(num_classes=5, per_class=n // 5, dim=d, separation=1.0, seed=d)
    cov = lead_hf.compute_score("logme", f, y, solver="covariance", **TIGHT)
    gram = lead_hf.compute_score("logme", f, y, solver="gram", **TIGHT)
    assert cov.details["solver"] == "covariance" and gram.details["solver"] == "gram"
    assert cov.details["rank"] == gram.details["rank"] == min(n, d)
    assert cov.value == pytest.approx(gram.value, rel=1e-8)
    np.testing.assert_allclose(cov.details["evidence_per_class"], gram.details["evidence_per_class"],
                               rtol=1e-8)
    auto = lead_hf.compute_score("logme", f, y)
    assert auto.details["solver"] == ("covariance" if n > d else "gram")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(6, 30), d=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_paths_agree_on_random_shapes(n, d, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) * rng.uniform(0.1, 10)
    cov = lead_hf.score("logme", f, y, solver="covariance", **TIGHT)
    gram = lead_hf.score("logme", f, y, solver="gram", **TIGHT)
    assert math.isfinite(cov) and cov == pytest.approx(gram, rel=1e-6, abs=1e-8)


def test_separable_classes_score_above_noise_and_shuffled_labels():
    f, y = gaussian_classes(num_classes=4, per_class=30, dim=16, separation=3.0)
    noise = np.random.default_rng(1).normal(size=f.shape)
    shuffled = np.random.default_rng(2).permutation(y)
    good = lead_hf.score("logme", f, y)
    assert good > lead_hf.score("logme", noise, y) + 0.1
    assert good > lead_hf.score("logme", f, shuffled) + 0.1


def test_more_informative_features_score_higher():
    # same noise and class directions, growing class separation: the evidence must grow with it
    scores = [lead_hf.score("logme", *gaussian_classes(num_classes=4, per_class=40, dim=10,
                                                       separation=s, seed=3))
              for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


def test_invariant_to_scale_rotation_and_duplicated_columns():
    # sample order and label names: tests/test_score_contract.py
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=6, separation=1.5, seed=4)
    base = lead_hf.score("logme", f, y, **TIGHT)
    # the exact evidence does not depend on the feature scale (alpha absorbs it)
    assert lead_hf.score("logme", f * 1e3, y, **TIGHT) == pytest.approx(base, rel=1e-8)
    q, _ = np.linalg.qr(np.random.default_rng(6).normal(size=(6, 6)))
    assert lead_hf.score("logme", f @ q, y, **TIGHT) == pytest.approx(base, rel=1e-8)
    # a repeated column adds no information and makes F^T F singular: same score
    assert lead_hf.score("logme", np.hstack([f, f]), y, **TIGHT) == pytest.approx(base, rel=1e-8)


def test_details_expose_the_solver_state():
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=5, seed=8)
    r = lead_hf.compute_score("logme", f, y)
    d = r.details
    assert len(d["alpha"]) == len(d["beta"]) == len(d["iterations"]) == len(d["evidence_per_class"]) == 3
    assert d["converged"] is True and all(1 <= i < 100 for i in d["iterations"])
    assert all(a > 0 for a in d["alpha"]) and all(b > 0 for b in d["beta"])
    assert r.value == pytest.approx(np.mean(d["evidence_per_class"]))
    # max_iter=1 stops early and says so
    assert lead_hf.compute_score("logme", f, y, max_iter=1).details["converged"] is False


@pytest.mark.parametrize("case", ["single_sample_class", "exact_fit"])
def test_every_class_evidence_is_finite_at_the_limits(case):
    # the score's finiteness on every edge case: tests/test_score_contract.py; here each class's evidence
    rng = np.random.default_rng(9)
    if case == "single_sample_class":
        y = np.array([0] * 10 + [1] * 10 + [2])
        f = rng.normal(size=(21, 4))
    else:  # N < D: every target fits exactly, the evidence maximum sits at alpha, beta -> infinity
        y = np.array([0, 1, 2] * 4)
        f = rng.normal(size=(12, 50))
    result = lead_hf.compute_score("logme", f, y)
    assert all(math.isfinite(e) for e in result.details["evidence_per_class"])
    assert result.value == pytest.approx(np.mean(result.details["evidence_per_class"]))


def test_zero_features_give_the_noise_only_evidence():
    # no features: y ~ N(0, I / beta) with beta = N / n_k, in closed form
    y = np.array([0, 1] * 6)
    n = 12
    expected = np.mean([0.5 * n * math.log(n / 6) - 0.5 * n - 0.5 * n * math.log(2 * math.pi)] * 2) / n
    assert lead_hf.score("logme", np.zeros((12, 5)), y) == pytest.approx(expected, rel=1e-12)


def test_default_options():
    assert lead_hf.score_options("logme") == {"tol": 1e-6, "max_iter": 100, "solver": "auto"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    f, y = gaussian_classes(num_classes=4, per_class=20, dim=12, seed=10)
    assert lead_hf.score("logme", f, y, device="cuda") == pytest.approx(
        lead_hf.score("logme", f, y, device="cpu"), rel=1e-9)


def test_gram_helper_equals_matmul():
    from lead_hf.scores._linalg import gram
    x = torch.randn(40, 7, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    for a in (x, x[:, 1:6], x.T.contiguous().T, x.float()):
        np.testing.assert_allclose(gram(a).double().numpy(), (a.T @ a).double().numpy(), rtol=1e-5, atol=1e-10)
        np.testing.assert_allclose(gram(a, samples=True).double().numpy(), (a @ a.T).double().numpy(),
                                   rtol=1e-5, atol=1e-10)
        if a.dtype == torch.float64:   # the syrk path mirrors one triangle: exactly symmetric
            assert torch.equal(gram(a), gram(a).T)
