"""SFDA: properties, invariances and an explicit version built on scipy's generalized eigensolver."""
import math

import numpy as np
import pytest
import scipy.linalg

import lead_hf
from helpers import blobs, rotation


def softmax(a):
    a = a - a.max(1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(1, keepdims=True)


def explicit_fda(x, y, lam, decay=5.0, n_components=None):
    """Regularised FDA as the paper describes it: scatter matrices summed class by class, the
    generalized eigenproblem Sb v = e Sw' v solved by scipy, class scores in the Fisher space."""
    n, d = x.shape
    classes = np.unique(y)
    priors = np.array([np.mean(y == c) for c in classes])
    means = np.stack([x[y == c].mean(0) for c in classes])
    sw = sum(p * np.cov(x[y == c].T, bias=True).reshape(d, d) for p, c in zip(priors, classes))
    if lam is None:
        lam = max(math.exp(-decay * np.linalg.eigvalsh(sw).max()), 1e-10)
    st = np.cov(x.T, bias=True).reshape(d, d)

    def shrink(s):
        return (1 - lam) * s + lam * np.trace(s) / d * np.eye(d)

    sw_r = shrink(sw)
    evals, evecs = scipy.linalg.eigh(shrink(st) - sw_r, sw_r)
    v = evecs[:, np.argsort(evals)[::-1]][:, :n_components]
    xp, mp = x @ v, means @ v
    logits = xp @ mp.T - 0.5 * (mp ** 2).sum(1) + np.log(priors)
    return logits, means, lam


def explicit_sfda(x, y, n_components=None, soften=True, log_probability=True, regularization=None):
    x = np.asarray(x, dtype=np.float64).copy()
    k = len(np.unique(y))
    logits, means, lam = explicit_fda(x, y, regularization, n_components=n_components)
    prob = softmax(logits)
    if soften:
        prob = softmax(prob)
    for c in range(k):
        rows = np.flatnonzero(y == c)
        outer = np.mean([means[j] for j in range(k) if j != c], axis=0)
        p = prob[rows, c][:, None]
        x[rows] = p * x[rows] + (1 - p) * outer
    logits, _, _ = explicit_fda(x, y, lam, n_components=n_components)
    p_true = softmax(logits)[np.arange(len(y)), y]
    return np.log(p_true).mean() if log_probability else p_true.mean()


def test_separable_scores_above_noise():
    x, y = blobs(spread=1.0)
    noise = np.random.default_rng(5).normal(size=x.shape)
    good = lead_hf.score("sfda", x, y)
    assert good > lead_hf.score("sfda", noise, y) + 0.3
    assert good > lead_hf.score("sfda", x, np.random.default_rng(6).permutation(y)) + 0.3


@pytest.mark.parametrize("opts", [{}, {"n_components": 3}, {"n_components": 1}, {"soften": False},
                                  {"log_probability": False}, {"regularization": 0.3}])
@pytest.mark.parametrize("shape", [(48, 6), (16, 24)])
def test_fast_equals_explicit_generalized_eigenproblem(opts, shape):
    n, d = shape
    rng = np.random.default_rng(n + d)
    y = np.arange(n) % 4
    x = rng.normal(size=(4, d))[y] * 0.4 + rng.normal(size=(n, d)) * rng.uniform(0.3, 1.5, size=d)
    fast = lead_hf.score("sfda", x, y, **opts)
    slow = explicit_sfda(x, y, **opts)
    assert fast == pytest.approx(slow, rel=1e-7, abs=1e-9)


def test_regularization_comes_from_the_largest_within_class_eigenvalue():
    x, y = blobs(spread=0.5, d=5)
    x = x * 0.3  # small features: lambda well above its 1e-10 floor
    res = lead_hf.compute_score("sfda", x, y)
    _, _, lam = explicit_fda(x, y, None)
    assert res.details["regularization"] == pytest.approx(lam, rel=1e-10)
    assert 1e-6 < lam < 1
    assert lead_hf.compute_score("sfda", x, y, regularization_decay=1.0).details["regularization"] > lam


def test_invariant_to_rotation_and_translation():
    # Sw' shrinks towards a multiple of the identity and lambda depends on an eigenvalue: both rotate along
    x, y = blobs(d=7, spread=0.5)
    base = lead_hf.score("sfda", x, y)
    assert lead_hf.score("sfda", x @ rotation(7) + 3.0, y) == pytest.approx(base, rel=1e-8)


def test_without_log_the_mean_probability_bounds_the_log_score():
    # Jensen: mean p >= exp(mean log p), and p is a probability
    x, y = blobs(spread=0.4)
    log_score = lead_hf.score("sfda", x, y)
    mean_p = lead_hf.score("sfda", x, y, log_probability=False)
    assert 0 < mean_p <= 1 and log_score < 0
    assert mean_p >= math.exp(log_score)


def test_confmix_makes_the_task_harder():
    # the self-challenge mixes samples towards the other classes: the second pass is less confident
    x, y = blobs(spread=0.4)
    res = lead_hf.compute_score("sfda", x, y, log_probability=False)
    first_pass = softmax(explicit_fda(x, y, None)[0])[np.arange(len(y)), y].mean()
    assert res.value < first_pass


def test_constant_features_give_the_prior_log_likelihood():
    # nothing to discriminate: every sample gets the class priors
    y = np.array([0, 0, 0, 1])
    expected = np.mean(np.log([0.75, 0.75, 0.75, 0.25]))
    assert lead_hf.score("sfda", np.zeros((4, 3)), y) == pytest.approx(expected, rel=1e-9)
