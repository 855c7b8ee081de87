"""ETran: each term against the authors' formula or an explicit version, the terms chosen, the combination
over models, and the invariances."""
import numpy as np
import pytest
import torch
from scipy import linalg

import lead_hf
from helpers import gaussian_classes, rotation
from lead_hf.scores.etran import etran_over_models


def public_energy(outputs, percent=0.5, tail="bot"):
    """The authors' Energy_Score (mgholamikn/ETran metrics.py) written out."""
    e = torch.logsumexp(torch.from_numpy(outputs), dim=-1).numpy()
    m = int(percent * 10) * len(e) // 1000
    chosen = np.argsort(e)[:m] if tail == "bot" else np.argsort(e)[-m:]
    return e[chosen].mean()


def public_lda(x, y, generalized=False, power_iterations=3):
    """The authors' LDA_Score written out: SFDA's shrunk scatters, then numpy's eigh of Sw^-1 Sb (their code)
    or scipy's generalised eigh(Sb, Sw) (the regularised LDA it was copied from)."""
    k, d = y.max() + 1, x.shape[1]
    priors = np.bincount(y) / len(y)
    means = np.stack([x[y == c].mean(0) for c in range(k)])
    sw = sum(priors[c] * np.cov(x[y == c].T, bias=True) for c in range(k))
    v = sw.sum(1)
    for _ in range(power_iterations):
        w = sw @ v
        u = w / np.linalg.norm(w)
        w = sw @ u
        v = w / np.linalg.norm(w)
    lam = max(np.exp(-5 * (v @ sw @ u)), 1e-10)
    st = np.cov(x.T, bias=True)
    st_r = (1 - lam) * st + lam * np.trace(st) / d * np.eye(d)
    sw_r = (1 - lam) * sw + lam * np.trace(sw) / d * np.eye(d)
    sb = st_r - sw_r
    evals, evecs = linalg.eigh(sb, sw_r) if generalized else np.linalg.eigh(np.linalg.inv(sw_r) @ sb)
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = means @ evecs @ evecs.T
    z = x @ coef.T - 0.5 * np.diag(means @ coef.T) + np.log(priors)
    z -= z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return p[np.arange(len(y)), y].mean(), lam


def explicit_svd_term(x, y, energy):
    """-(1/N) |Y - U_r U_r^T Y|^2 with numpy's SVD, r the fewest directions holding ``energy`` of sum s^2."""
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    s2 = s ** 2
    r = int(np.searchsorted(np.cumsum(s2) / s2.sum(), energy - 1e-12) + 1)
    r = min(r, int((s2 > s2[0] * 1e-10).sum()))
    onehot = np.eye(y.max() + 1)[y]
    resid = onehot - u[:, :r] @ (u[:, :r].T @ onehot)
    return -(resid ** 2).sum() / len(y), r


def relu_features(k, n, d, sep, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return np.maximum(rng.normal(size=(k, d))[y] * sep + rng.normal(size=(n, d)), 0) * scale, y


@pytest.mark.parametrize("n", [400, 1000, 2000])
def test_energy_equals_the_public_formula(n):
    x, y = relu_features(4, n, 32, 0.3, seed=n)
    r = lead_hf.compute_score("etran", x, y, terms=["energy"])
    assert r.value == pytest.approx(public_energy(x), rel=1e-12)
    assert r.details["energy_samples"] == n // 200
    top = lead_hf.score("etran", x, y, terms=["energy"], energy_tail="highest")
    assert top == pytest.approx(public_energy(x, tail="top"), rel=1e-12)
    every = lead_hf.score("etran", x, y, terms=["energy"], energy_fraction=1.0)
    assert every == pytest.approx(torch.logsumexp(torch.from_numpy(x), 1).mean().item(), rel=1e-12)


def test_energy_of_a_small_split_averages_at_least_one_sample():
    x, y = relu_features(3, 60, 8, 0.3, seed=1)    # 0.5 % of 60 rounds to 0 (the authors' code gives NaN)
    assert lead_hf.score("etran", x, y, terms=["energy"]) == pytest.approx(
        torch.logsumexp(torch.from_numpy(x), 1).min().item())


@pytest.mark.parametrize("k, n, d", [(5, 600, 24), (3, 300, 40)])
def test_lda_terms_equal_the_public_formulas(k, n, d):
    x, y = relu_features(k, n, d, 0.3, seed=k * d)
    euclid, _ = public_lda(x, y)
    fisher, lam = public_lda(x, y, generalized=True, power_iterations=500)
    r_e = lead_hf.compute_score("etran", x, y, terms=["lda"], lda="euclidean")
    r_f = lead_hf.compute_score("etran", x, y, terms=["lda"])
    assert r_e.value == pytest.approx(euclid, rel=1e-10)
    assert r_f.value == pytest.approx(fisher, rel=1e-8)
    assert r_f.details["lda_regularization"] == pytest.approx(lam, rel=1e-6)
    # the authors' eigenvectors are an orthonormal basis, so their coef_ is the class means: another rule
    assert abs(euclid - fisher) > 1e-3 and 0.3 < fisher < 0.99


@pytest.mark.parametrize("energy", [0.5, 0.8, 1.0])
@pytest.mark.parametrize("shape", [(200, 30), (20, 60)])
def test_svd_term_equals_explicit_numpy_svd(energy, shape):
    n, d = shape
    x, y = relu_features(4, n, d, 0.4, seed=n + d)
    want, r = explicit_svd_term(x, y, energy)
    got = lead_hf.compute_score("etran", x, y, terms=["svd"], svd_energy=energy)
    assert got.value == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert got.details["svd_rank"] == r
    if energy == 1.0:   # every direction: the plain least-squares residual
        onehot = np.eye(4)[y]
        coef = np.linalg.lstsq(x, onehot, rcond=None)[0]
        assert got.value == pytest.approx(-((onehot - x @ coef) ** 2).sum() / n, abs=1e-9)


def test_value_is_the_sum_of_the_terms_used():
    x, y = relu_features(3, 400, 16, 0.4, seed=2)
    r = lead_hf.compute_score("etran", x, y)
    assert r.details["terms_used"] == ["energy", "lda", "svd"]
    assert r.value == pytest.approx(sum(r.details["terms"].values()))
    assert lead_hf.score("etran", x, y, terms=["lda", "svd"]) == pytest.approx(
        r.details["terms"]["lda"] + r.details["terms"]["svd"])


def test_energy_from_source_logits_only_when_they_are_given():
    x, y = relu_features(3, 400, 16, 0.4, seed=3)
    logits = np.random.default_rng(4).normal(size=(400, 10))
    with_logits = lead_hf.compute_score("etran", x, y, source_logits=logits, energy_input="source_logits")
    assert with_logits.details["terms"]["energy"] == pytest.approx(public_energy(logits))
    headless = lead_hf.compute_score("etran", x, y, energy_input="source_logits")
    assert headless.details["terms_used"] == ["lda", "svd"] and "energy_skipped" in headless.details
    with pytest.raises(ValueError, match="needs source_logits"):
        lead_hf.score("etran", x, y, terms=["energy"], energy_input="source_logits")


def test_combination_over_models_is_the_authors_min_max_recipe():
    models = {f"m{i}": relu_features(3, 400, 16, 0.2 + 0.1 * i, seed=20 + i, scale=1 + i) for i in range(4)}
    results = {m: lead_hf.compute_score("etran", x, y) for m, (x, y) in models.items()}
    combined = etran_over_models(results)

    def scale(values):   # tw.py's scale()
        lo, hi = min(values.values()), max(values.values())
        return {m: (v - lo) / (hi - lo) for m, v in values.items()}

    energy = scale({m: r.details["terms"]["energy"] for m, r in results.items()})
    lda = scale({m: r.details["terms"]["lda"] for m, r in results.items()})
    for m in models:
        assert combined[m] == pytest.approx(0.15 * energy[m] + 0.85 * lda[m], abs=1e-12)
    headless = {"a": lead_hf.compute_score("etran", *models["m0"], energy_input="source_logits"), "b": results["m1"]}
    with pytest.raises(ValueError, match="missing for a"):
        etran_over_models(headless)


def test_separable_scores_above_noise():
    x, y = gaussian_classes(num_classes=4, per_class=50, dim=12, separation=3.0, seed=5)
    noise = np.random.default_rng(6).normal(size=x.shape)
    for term in ("lda", "svd"):
        assert lead_hf.score("etran", x, y, terms=[term]) > lead_hf.score("etran", noise, y, terms=[term]) + 0.3


def test_invariances():
    x, y = relu_features(3, 300, 10, 0.4, seed=7)
    base = lead_hf.compute_score("etran", x, y)
    perm = np.random.default_rng(8).permutation(y.size)
    assert lead_hf.score("etran", x[perm], y[perm]) == pytest.approx(base.value, rel=1e-12)
    assert lead_hf.score("etran", x, np.array(["c", "b", "a"])[y]) == pytest.approx(base.value, rel=1e-12)
    # the svd term is free of the features' basis and scale, the LDA of their basis; the energy is neither
    q = rotation(10)
    svd = base.details["terms"]["svd"]
    assert lead_hf.score("etran", 7 * x @ q, y, terms=["svd"]) == pytest.approx(svd, rel=1e-9)
    assert lead_hf.score("etran", x @ q, y, terms=["lda"]) == pytest.approx(base.details["terms"]["lda"], rel=1e-9)
    assert lead_hf.score("etran", x @ q, y, terms=["energy"]) != pytest.approx(base.details["terms"]["energy"])
