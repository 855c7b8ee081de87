"""H-score and regularised H-score: explicit numpy/scikit-learn versions, both eigendecompositions,
bounds, invariances and the small-sample saturation that the shrinkage fixes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.covariance import LedoitWolf

import lead_hf
from lead_hf.scores.hscore import ledoit_wolf_shrinkage
from helpers import gaussian_classes


def class_mean_features(x, y):
    g = np.zeros_like(x)
    for k in np.unique(y):
        g[y == k] = x[y == k].mean(0)
    return g


def explicit_hscore(x, y):
    """Bao et al.'s formula with numpy: tr(pinv(cov f) cov(E[f|y]))."""
    cov_f = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1])
    cov_g = np.cov(class_mean_features(x, y), rowvar=False, bias=True).reshape(cov_f.shape)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10, hermitian=True) @ cov_g))


def explicit_hscore_reg(x, y):
    """Ibrahim et al.'s form with scikit-learn's Ledoit-Wolf estimator: tr(inv(S_a) (1 - a) cov_g)."""
    lw = LedoitWolf().fit(x)
    cov_g = np.cov(class_mean_features(x, y), rowvar=False, bias=True).reshape(lw.covariance_.shape)
    return float(np.trace(np.linalg.inv(lw.covariance_) @ ((1 - lw.shrinkage_) * cov_g)))


@pytest.mark.parametrize("shape", [(80, 6), (30, 45)])
def test_equal_explicit_versions(shape):
    n, d = shape
    rng = np.random.default_rng(n)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, d)) + 0.8 * rng.normal(size=(3, d))[y] + 2.0
    assert lead_hf.score("hscore", x, y) == pytest.approx(explicit_hscore(x, y), rel=1e-8)
    assert lead_hf.score("hscore_reg", x, y) == pytest.approx(explicit_hscore_reg(x, y), rel=1e-8)


@pytest.mark.parametrize("shape", [(40, 5), (15, 30), (12, 1)])   # D = 1: S is a multiple of I
def test_ledoit_wolf_shrinkage_equals_scikit_learn(shape):
    x = np.random.default_rng(shape[1]).normal(size=shape) @ np.diag(np.linspace(0.1, 3, shape[1]))
    xc = torch.as_tensor(x - x.mean(0))
    assert ledoit_wolf_shrinkage(xc) == pytest.approx(LedoitWolf().fit(x).shrinkage_, rel=1e-10)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(5, 40), d=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_covariance_and_gram_paths_agree(n, d, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3 if n > 3 else np.arange(n) % 2
    x = rng.normal(size=(n, d)) * rng.uniform(0.01, 100) + rng.normal(size=(1, d))
    for name in ("hscore", "hscore_reg"):
        cov = lead_hf.compute_score(name, x, y, solver="covariance")
        gram = lead_hf.compute_score(name, x, y, solver="gram")
        assert cov.details["solver"] == "covariance" and gram.details["solver"] == "gram"
        assert cov.value == pytest.approx(gram.value, rel=1e-7, abs=1e-9)
        # every eigen-direction adds between 0 and 1
        assert -1e-9 <= cov.value <= len(set(y)) - 1 + 1e-9


def test_separable_classes_score_above_noise():
    x, y = gaussian_classes(num_classes=4, per_class=30, dim=10, separation=3.0)
    noise = np.random.default_rng(1).normal(size=x.shape)
    for name in ("hscore", "hscore_reg"):
        good, bad = lead_hf.score(name, x, y), lead_hf.score(name, noise, y)
        assert good > bad + 1.0, name
        assert good <= 3.0


def test_more_informative_features_score_higher():
    data = [gaussian_classes(num_classes=3, per_class=30, dim=6, separation=s, seed=2)
            for s in (0.0, 0.5, 1.0, 2.0, 4.0)]
    plain = [lead_hf.score("hscore", x, y) for x, y in data]
    assert all(a < b for a, b in zip(plain, plain[1:])), plain
    reg = [lead_hf.compute_score("hscore_reg", x, y) for x, y in data]
    values = [r.value for r in reg]
    assert all(a <= b for a, b in zip(values, values[1:])) and values[-1] > values[2] > 0, values
    # nearly isotropic features: Ledoit-Wolf shrinks all the way (a = 1, as scikit-learn does) and the
    # (1 - a) factor of the regularised score makes it exactly 0, a tie between weak models
    assert reg[0].details["shrinkage"] == 1.0 and values[0] == 0.0


def test_few_samples_saturate_the_plain_score_not_the_regularised_one():
    # N <= D: cov(f) is singular and its pseudo-inverse fits the class means exactly, so plain H-score
    # reaches K - 1 even for pure noise; the shrinkage estimate keeps noise and signal apart
    k, d = 3, 60
    signal, y = gaussian_classes(num_classes=k, per_class=8, dim=d, separation=2.0, seed=3)
    noise = np.random.default_rng(4).normal(size=signal.shape)
    assert lead_hf.score("hscore", noise, y) == pytest.approx(k - 1, abs=1e-6)
    assert lead_hf.score("hscore", signal, y) == pytest.approx(k - 1, abs=1e-6)
    reg_signal, reg_noise = lead_hf.score("hscore_reg", signal, y), lead_hf.score("hscore_reg", noise, y)
    assert reg_signal > reg_noise + 0.3
    assert reg_signal < k - 1


def test_invariant_to_shifts_scalings_and_rotations():
    # sample order and label names: tests/test_score_contract.py
    x, y = gaussian_classes(num_classes=3, per_class=25, dim=5, separation=1.0, seed=5)
    rng = np.random.default_rng(6)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    mixing = rng.normal(size=(5, 5))           # invertible (almost surely)
    for name in ("hscore", "hscore_reg"):
        base = lead_hf.score(name, x, y)
        # shifts, scalings and rotations of the feature space change nothing
        assert lead_hf.score(name, 7.0 * x @ q + 3.0, y) == pytest.approx(base, rel=1e-8)
    # the plain score is invariant to every invertible linear map (the shrinkage target mu I is not)
    assert lead_hf.score("hscore", x @ mixing, y) == pytest.approx(lead_hf.score("hscore", x, y), rel=1e-7)


def test_singular_covariance_is_handled_by_the_pseudo_inverse():
    x, y = gaussian_classes(num_classes=3, per_class=20, dim=4, separation=1.0, seed=7)
    base = lead_hf.score("hscore", x, y)
    # repeated and linearly dependent columns: cov(f) is singular, the information is the same
    redundant = np.hstack([x, x, x[:, :1] - 2 * x[:, 1:2]])
    r = lead_hf.compute_score("hscore", redundant, y)
    assert r.value == pytest.approx(base, rel=1e-8)
    assert r.details["rank"] == 4
    # near-duplicates at rounding level must not add a spurious direction
    wobble = np.hstack([x, x[:, :1] + 1e-15 * np.random.default_rng(8).normal(size=(60, 1))])
    assert lead_hf.score("hscore", wobble, y) == pytest.approx(base, rel=1e-6)


def test_shrinkage_option():
    x, y = gaussian_classes(num_classes=3, per_class=20, dim=4, separation=1.0, seed=9)
    assert lead_hf.score("hscore_reg", x, y, shrinkage=0.0) == pytest.approx(lead_hf.score("hscore", x, y))
    assert lead_hf.score("hscore_reg", x, y, shrinkage=1.0) == 0.0
    r = lead_hf.compute_score("hscore_reg", x, y)
    assert 0 < r.details["shrinkage"] < 1
    halves = [lead_hf.score("hscore_reg", x, y, shrinkage=a) for a in (0.1, 0.5, 0.9)]
    assert halves[0] > halves[1] > halves[2]


@pytest.mark.parametrize("case", ["single_sample_class", "two_classes", "one_dim", "constant"])
def test_edge_cases_stay_inside_the_bounds(case):
    # finiteness on every edge case: tests/test_score_contract.py; here the values the theory fixes
    rng = np.random.default_rng(10)
    if case == "single_sample_class":
        y, x = np.array([0] * 8 + [1] * 8 + [2]), rng.normal(size=(17, 4))
    elif case == "two_classes":
        y, x = np.array([0, 1] * 6), rng.normal(size=(12, 3))
    elif case == "one_dim":
        y, x = np.array([0, 1, 2] * 6), rng.normal(size=(18, 1))
    else:
        y, x = np.array([0, 1] * 6), np.ones((12, 4))
    for name in ("hscore", "hscore_reg"):
        value = lead_hf.score(name, x, y)
        assert 0 <= value <= len(np.unique(y)) - 1
        if case == "constant":
            assert value == 0.0
        if case == "one_dim":   # one direction: the between / total variance ratio of that feature
            g = class_mean_features(x, y)
            assert lead_hf.score("hscore", x, y) == pytest.approx(g.var() / x.var(), rel=1e-10)


def test_default_options():
    assert lead_hf.score_options("hscore") == {"rcond": None, "solver": "auto"}
    assert lead_hf.score_options("hscore_reg") == {"shrinkage": None, "solver": "auto"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x, y = gaussian_classes(num_classes=3, per_class=20, dim=6, seed=11)
    for name in ("hscore", "hscore_reg"):
        assert lead_hf.score(name, x, y, device="cuda") == pytest.approx(
            lead_hf.score(name, x, y, device="cpu"), rel=1e-9)
