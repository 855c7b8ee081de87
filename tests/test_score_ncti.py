"""NCTI: the three terms against the authors' formula (scikit-learn PCA + LDA), their combination over
models, the per-model bounds, and the invariances."""
import math

import numpy as np
import pytest

import lead_hf
from helpers import gaussian_classes, rotation
from lead_hf.scores.ncti import ncti_over_models


def public_ncti_terms(x, y, pca_dim=64):
    """The authors' NCTI_Score (prafful-kumar/enhancing_TE metrics.py) written out: PCA, the LDA their rule
    picks, then (seli, ncc, vc). PCA with the exact solver (scikit-learn's default may pick a randomized one)."""
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    pca = PCA(n_components=pca_dim, svd_solver="full")
    z = pca.fit_transform(x)
    temp = max(np.exp(-pca.explained_variance_[:32].sum()), 1e-10)
    lda = (LinearDiscriminantAnalysis(solver="svd") if temp == 1e-10
           else LinearDiscriminantAnalysis(solver="eigen", shrinkage=float(temp)))
    low = lda.fit_transform(z, y)
    low = low - low.mean(0, keepdims=True)
    pred = lda.predict_proba(z)
    seli = np.linalg.norm(low, ord="nuc")
    ncc = pred[np.arange(len(y)), y].mean()
    vc = np.log(sum(np.linalg.norm(pred[y == c], ord="nuc") for c in np.unique(y)))
    return {"seli": seli, "ncc": ncc, "vc": vc}, temp


def overlapping(k, n, d, scale, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = (rng.normal(size=(k, d))[y] * 0.25 + rng.normal(size=(n, d))) * scale
    return x, y


@pytest.mark.parametrize("scale, solver", [(1.0, "svd"), (0.05, "eigen")])
@pytest.mark.parametrize("k, n, d", [(5, 400, 100), (2, 300, 80), (12, 600, 70)])
def test_terms_equal_the_public_formula(scale, solver, k, n, d):
    x, y = overlapping(k, n, d, scale, seed=k + n)
    want, temp = public_ncti_terms(x, y)
    r = lead_hf.compute_score("ncti", x, y)
    assert r.details["solver"] == solver and (temp == 1e-10) == (solver == "svd")
    for term in ("seli", "ncc", "vc"):
        assert r.details["terms"][term] == pytest.approx(want[term], rel=1e-9, abs=1e-12), term
    assert 0.2 < want["ncc"] < 0.99              # classes overlap: the posteriors are not saturated


def test_fixed_shrinkage_equals_scikit_learn_eigen_solver():
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    x, y = overlapping(4, 200, 30, 3.0, seed=1)
    z = PCA(n_components=30, svd_solver="full").fit_transform(x)
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=0.3).fit(z, y)
    low = lda.transform(z)
    r = lead_hf.compute_score("ncti", x, y, shrinkage=0.3, pca_dim=30)
    assert r.details["terms"]["seli"] == pytest.approx(np.linalg.norm(low - low.mean(0), ord="nuc"), rel=1e-9)
    assert r.details["terms"]["ncc"] == pytest.approx(lda.predict_proba(z)[np.arange(200), y].mean(), rel=1e-9)


def test_combination_over_models_is_the_authors_min_max_sum():
    models = {f"m{i}": overlapping(3, 150, 40, 1.0 + i, seed=10 + i) for i in range(4)}
    results = {m: lead_hf.compute_score("ncti", x, y) for m, (x, y) in models.items()}
    combined = ncti_over_models(results)
    terms = {m: r.details["terms"] for m, r in results.items()}

    def minmax(name):
        v = np.array([terms[m][name] for m in models])
        return dict(zip(models, (v - v.min()) / (v.max() - v.min())))

    seli, ncc, vc = minmax("seli"), minmax("ncc"), minmax("vc")
    for m in models:
        assert combined[m] == pytest.approx(ncc[m] + seli[m] - vc[m], abs=1e-12)


def test_per_model_parts_stay_within_their_bounds():
    for seed in range(5):
        k = 2 + seed
        x, y = overlapping(k, 40 * k, 12, 0.5 + seed, seed)
        r = lead_hf.compute_score("ncti", x, y)
        counts = np.bincount(y)
        vc_min = math.log(sum(math.sqrt(c / k) for c in counts))
        vc_max = math.log(sum(math.sqrt(c * min(c, k)) for c in counts))
        assert vc_min - 1e-9 <= r.details["terms"]["vc"] <= vc_max + 1e-9
        assert 0 <= r.details["class_share_of_seli"] <= 1 and 0 <= r.details["vc_position"] <= 1
        assert r.value == pytest.approx(r.details["terms"]["ncc"] + r.details["class_share_of_seli"]
                                        - r.details["vc_position"])


def test_separable_classes_score_above_noise_and_shuffled_labels():
    x, y = gaussian_classes(num_classes=5, per_class=60, dim=40, separation=3.0, seed=2)
    good = lead_hf.score("ncti", x, y)
    noise = lead_hf.score("ncti", np.random.default_rng(3).normal(size=x.shape), y)
    shuffled = lead_hf.score("ncti", x, np.random.default_rng(4).permutation(y))
    assert good > noise + 0.5 and good > shuffled + 0.5


def test_invariant_to_rotation_label_names_and_row_order():
    x, y = overlapping(4, 240, 20, 2.0, seed=5)
    base = lead_hf.compute_score("ncti", x, y)
    assert lead_hf.score("ncti", x @ rotation(20), y) == pytest.approx(base.value, rel=1e-9)
    names = np.array(["d", "c", "b", "a"])[y]
    assert lead_hf.score("ncti", x, names) == pytest.approx(base.value, rel=1e-12)
    perm = np.random.default_rng(6).permutation(y.size)
    assert lead_hf.score("ncti", x[perm], y[perm]) == pytest.approx(base.value, rel=1e-12)


def test_scale_invariant_unregularised_and_with_a_fixed_shrinkage_but_not_under_the_authors_rule_near_it():
    x, y = overlapping(3, 150, 20, 1.0, seed=7)     # sum of the top PCA variances >> 23: no regularisation
    for opts in ({}, {"shrinkage": 0.2}):
        assert lead_hf.score("ncti", 10 * x, y, **opts) == pytest.approx(lead_hf.score("ncti", x, y, **opts), rel=1e-9)
    small = lead_hf.compute_score("ncti", 0.05 * x, y)   # the rule now shrinks the LDA, by an amount set by the scale
    assert small.details["solver"] == "eigen"
    assert small.value != pytest.approx(lead_hf.score("ncti", 0.1 * x, y), rel=1e-6)


def test_fewer_samples_than_components_and_constant_features():
    x, y = overlapping(3, 30, 100, 1.0, seed=8)
    r = lead_hf.compute_score("ncti", x, y)
    assert r.details["pca_dim"] <= 29 and math.isfinite(r.value)
    r = lead_hf.compute_score("ncti", np.zeros((12, 5)), np.arange(12) % 3)
    assert r.details["terms"]["seli"] == 0 and r.details["terms"]["ncc"] == pytest.approx(1 / 3)


def test_combine_over_models_edge_cases():
    from lead_hf.scores._hub import combine_over_models

    terms = {"a": {"x": 1.0, "y": 5.0}, "b": {"x": 3.0, "y": 5.0}, "c": {"x": 2.0, "y": 5.0}}
    # a term equal for every model adds nothing (the authors' code would divide by zero)
    assert combine_over_models(terms, {"x": 2.0, "y": -1.0}) == {"a": 0.0, "b": 2.0, "c": 1.0}
    assert combine_over_models({}, {"x": 1.0}) == {}
    with pytest.raises(ValueError, match="missing for b"):
        combine_over_models({"a": {"x": 1.0}, "b": {}}, {"x": 1.0})
    with pytest.raises(ValueError, match="not finite"):
        combine_over_models({"a": {"x": float("nan")}, "b": {"x": 1.0}}, {"x": 1.0})
