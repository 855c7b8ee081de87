"""TransRate: properties, the theory's invariances and bound, and an explicit logdet version."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lead_hf
from lead_hf.scores.transrate import TransRateOptions
from helpers import blobs, rotation, within_ulps


def explicit_transrate(x, y, eps=1e-4, normalize="mean_norm", class_weights="uniform"):
    """Straight from the definition: d x d logdet per class, numpy, no Gram-matrix shortcut."""
    z = np.asarray(x, dtype=np.float64)
    if normalize == "l2":
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    z = z - z.mean(0)
    if normalize == "mean_norm":
        z = z / np.sqrt((z ** 2).sum(1).mean())

    def rate(a):
        n, d = a.shape
        return 0.5 * np.linalg.slogdet(np.eye(d) + a.T @ a / (n * eps))[1]

    classes = np.unique(y)
    w = [1 / len(classes) if class_weights == "uniform" else np.mean(y == c) for c in classes]
    return rate(z) - sum(wk * rate(z[y == c]) for wk, c in zip(w, classes))


def test_separable_scores_above_noise_and_shuffled_labels():
    x, y = blobs()
    noise = np.random.default_rng(5).normal(size=x.shape)
    shuffled = np.random.default_rng(6).permutation(y)
    good = lead_hf.score("transrate", x, y)
    assert good > lead_hf.score("transrate", noise, y) + 1
    assert good > lead_hf.score("transrate", x, shuffled) + 1


@pytest.mark.parametrize("normalize", ["mean_norm", "l2", "none"])
@pytest.mark.parametrize("class_weights", ["uniform", "proportional"])
@pytest.mark.parametrize("shape", [(60, 5), (18, 40)])   # n > d and n < d take different Gram matrices
def test_fast_equals_explicit_logdet(normalize, class_weights, shape):
    n, d = shape
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) + 0.5
    y = np.array([0, 0, 1, 2] * (n // 4) + [1] * (n % 4))
    fast = lead_hf.score("transrate", x, y, normalize=normalize, class_weights=class_weights)
    slow = explicit_transrate(x, y, normalize=normalize, class_weights=class_weights)
    assert fast == pytest.approx(slow, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("normalize", ["mean_norm", "l2", "none"])
def test_invariant_to_orthogonal_rotation(normalize):
    x, y = blobs(d=9)
    q = rotation(9)
    assert lead_hf.score("transrate", x @ q, y, normalize=normalize) == pytest.approx(
        lead_hf.score("transrate", x, y, normalize=normalize), rel=1e-9)


def test_mean_norm_removes_the_feature_scale_and_translation():
    x, y = blobs()
    base = lead_hf.score("transrate", x, y)
    assert lead_hf.score("transrate", 37.0 * x - 5.0, y) == pytest.approx(base, rel=1e-9)
    # without normalisation the scale matters (small features sit below the distortion eps)
    assert lead_hf.score("transrate", 1e-3 * x, y, normalize="none") < 0.5 * lead_hf.score(
        "transrate", x, y, normalize="none")


def test_identical_class_distributions_give_zero():
    # every class holds the same points: Z^T Z / n equals each class's Z_k^T Z_k / n_k, so R(Z) = R(Z_k)
    pts = np.random.default_rng(4).normal(size=(10, 6))
    x = np.concatenate([pts, pts, pts])
    y = np.repeat([0, 1, 2], 10)
    for weights in ("uniform", "proportional"):
        assert lead_hf.score("transrate", x, y, class_weights=weights) == pytest.approx(0, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(6, 30), d=st.integers(1, 12), k=st.integers(2, 4), seed=st.integers(0, 10_000))
def test_proportional_weights_never_negative(n, d, k, seed):
    # logdet is concave and Z^T Z / n = sum_k (n_k / n) Z_k^T Z_k / n_k, so R(Z) >= sum_k (n_k/n) R(Z_k)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
    y = np.arange(n) % k
    assert lead_hf.score("transrate", x, y, class_weights="proportional") >= -1e-9


def test_compute_score_reports_the_parts():
    x, y = blobs()
    res = lead_hf.compute_score("transrate", x, y, eps=1e-3)
    assert res.method == "transrate" and res.options["eps"] == 1e-3
    assert res.value == pytest.approx(res.details["rate_all"] - res.details["rate_given_labels"])
    assert len(res.details["class_rates"]) == 4
    assert res.value == pytest.approx(explicit_transrate(x, y, eps=1e-3), rel=1e-9)


def test_torch_input_and_float32_give_the_same_value():
    x, y = blobs()
    assert lead_hf.score("transrate", torch.tensor(x, dtype=torch.float32), torch.tensor(y)) == pytest.approx(
        lead_hf.score("transrate", x.astype(np.float32), y), rel=1e-12)


def test_options_dataclass_defaults():
    assert lead_hf.score_options("transrate") == {"eps": 1e-4, "normalize": "mean_norm",
                                                  "class_weights": "uniform"}
    # CLI/YAML strings are converted to the declared types
    x, y = blobs()
    assert lead_hf.score("transrate", x, y, eps="1e-3") == within_ulps(lead_hf.score("transrate", x, y, eps=1e-3))
    assert TransRateOptions().normalize == "mean_norm"
