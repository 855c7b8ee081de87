"""NLEEP: the torch PCA and EM against scikit-learn/scipy, EM monotonicity, score properties."""
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import lead_hf
from lead_hf.scores._stats import principal_scores
from lead_hf.scores.nleep import gmm_e_step, gmm_log_prob, gmm_m_step, kmeans_init
from helpers import gaussian_classes, within_ulps


def random_params(x, m, covariance, seed=0):
    """A valid, deliberately poor mixture: the M-step of random soft responsibilities."""
    resp = torch.softmax(torch.randn(x.shape[0], m, generator=torch.Generator().manual_seed(seed),
                                     dtype=torch.float64) * 2, 1)
    return gmm_m_step(x, resp, covariance, 1e-3)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_log_prob_equals_scipy(covariance):
    x = torch.randn(30, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _, means, covs = random_params(x, 4, covariance)
    ours = gmm_log_prob(x, means, covs, covariance, 1e-3).numpy()
    for j in range(4):
        cov = covs[j].numpy() if covariance == "full" else np.diag(covs[j].numpy())
        np.testing.assert_allclose(ours[:, j], multivariate_normal(means[j].numpy(), cov).logpdf(x.numpy()),
                                   rtol=1e-10)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_one_em_step_equals_scikit_learn(covariance):
    x = torch.randn(80, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x[:40] += 3.0
    weights, means, covs = random_params(x, 4, covariance, seed=3)
    reg = 1e-4
    log_resp, _ = gmm_e_step(x, weights, means, covs, covariance, reg)
    new_w, new_means, new_covs = gmm_m_step(x, torch.exp(log_resp), covariance, reg)

    precisions = np.linalg.inv(covs.numpy()) if covariance == "full" else 1 / covs.numpy()
    ref = GaussianMixture(4, covariance_type=covariance, weights_init=weights.numpy(),
                          means_init=means.numpy(), precisions_init=precisions, reg_covar=reg, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(x.numpy())
    np.testing.assert_allclose(new_w.numpy(), ref.weights_, rtol=1e-9)
    np.testing.assert_allclose(new_means.numpy(), ref.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new_covs.numpy(), ref.covariances_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_em_never_decreases_the_likelihood(covariance):
    x = torch.as_tensor(gaussian_classes(num_classes=3, per_class=30, dim=4, separation=1.5, seed=4)[0])
    weights, means, covs = random_params(x, 6, covariance, seed=5)
    history = []
    for _ in range(25):
        log_resp, ll = gmm_e_step(x, weights, means, covs, covariance, 1e-6)
        history.append(ll)
        weights, means, covs = gmm_m_step(x, torch.exp(log_resp), covariance, 1e-6)
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:])), history
    assert history[-1] > history[0] + 0.1


@pytest.mark.parametrize("shape", [(60, 8), (12, 30)])   # scatter (D x D) and Gram (N x N) paths
def test_pca_equals_scikit_learn(shape):
    n, d = shape
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d)) * np.linspace(3, 0.2, d) + 5
    for variance in (0.5, 0.8, 0.95):
        ours = principal_scores(torch.as_tensor(x), variance=variance).numpy()
        ref = PCA(n_components=variance, svd_solver="full").fit_transform(x)
        assert ours.shape == ref.shape
        signs = np.sign((ours * ref).sum(0))      # principal axes are defined up to sign
        np.testing.assert_allclose(ours * signs, ref, rtol=1e-8, atol=1e-9)
    assert principal_scores(torch.as_tensor(x), components=3).shape == (n, 3)
    zeros = torch.zeros(n, d, dtype=torch.float64)   # no variance at all: one zero column
    assert principal_scores(zeros, variance=0.8).abs().max() == 0 and principal_scores(zeros).shape == (n, 1)


def test_kmeans_init_is_seeded_and_finds_separated_clusters():
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=5, separation=20.0, seed=6)
    x = torch.as_tensor(f)
    a = kmeans_init(x, 3, seed=1, max_iter=50)
    assert torch.equal(a, kmeans_init(x, 3, seed=1, max_iter=50))
    # one cluster per class (up to renaming)
    assert all(len(set(a[torch.as_tensor(y == k)].tolist())) == 1 for k in range(3))
    assert len(set(a.tolist())) == 3


def test_separated_clusters_score_near_zero_and_above_noise():
    f, y = gaussian_classes(num_classes=3, per_class=30, dim=8, separation=8.0, seed=7)
    good = lead_hf.compute_score("nleep", f, y)
    assert good.value == pytest.approx(0.0, abs=1e-6)
    noise = np.random.default_rng(8).normal(size=f.shape)
    bad = lead_hf.score("nleep", noise, y)
    assert bad < -0.3
    assert lead_hf.score("nleep", f, y, covariance="diag") == pytest.approx(0.0, abs=1e-6)


def test_more_separated_classes_score_higher():
    scores = [lead_hf.score("nleep", *gaussian_classes(num_classes=3, per_class=30, dim=4,
                                                       separation=s, seed=9), covariance="diag")
              for s in (0.0, 1.0, 6.0)]
    assert scores[0] < scores[1] < scores[2], scores


def test_label_names_do_not_enter_the_mixture_and_the_scale_does_not_matter():
    # determinism and order invariance: tests/test_score_contract.py
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=6, separation=1.0, seed=10)
    value = lead_hf.score("nleep", f, y, seed=3)
    names = np.array(["c", "a", "b"])[y]
    # labels do not enter the mixture; the classes are summed in another order, hence ulps, not ==
    assert lead_hf.score("nleep", f, names, seed=3) == within_ulps(value)
    # PCA, k-means++ and the relative covariance floor all scale with the features
    assert lead_hf.score("nleep", f * 1e3, y, seed=3) == pytest.approx(value, rel=1e-6)


def test_sample_order_matters_only_when_the_mixture_is_ambiguous():
    # on ambiguous data EM finds a local optimum that depends on the seeded initialisation (and so on
    # the sample order); with clear clusters every order finds the same mixture (that case runs for every
    # score in tests/test_score_contract.py)
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=4, separation=10.0, seed=11)
    perm = np.random.default_rng(12).permutation(y.size)
    a = lead_hf.score("nleep", f, y, components_per_class=1)
    b = lead_hf.score("nleep", f[perm], y[perm], components_per_class=1)
    assert a == pytest.approx(b, abs=1e-9)
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=6, separation=2.0, seed=2)
    perm = np.random.default_rng(4).permutation(y.size)
    a = lead_hf.score("nleep", f, y, components_per_class=1)
    assert lead_hf.score("nleep", f[perm], y[perm], components_per_class=1) != pytest.approx(a, abs=1e-6)


def test_details_and_component_cap():
    f, y = gaussian_classes(num_classes=3, per_class=4, dim=5, seed=13)
    r = lead_hf.compute_score("nleep", f, y)           # 3 x 5 = 15 components > 12 samples
    assert r.details["components"] == 12
    assert r.details["em_iterations"] >= 1 and math.isfinite(r.details["log_likelihood"])
    r2 = lead_hf.compute_score("nleep", f, y, pca_components=2, components_per_class=2)
    assert r2.details["pca_dim"] == 2 and r2.details["components"] == 6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    f, y = gaussian_classes(num_classes=3, per_class=20, dim=6, separation=2.0, seed=15)
    assert lead_hf.score("nleep", f, y, device="cuda") == pytest.approx(
        lead_hf.score("nleep", f, y, device="cpu"), rel=1e-6)
