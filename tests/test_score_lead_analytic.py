"""LEAD with ntk="analytic": the infinite-width expectation of the random head's NTK (docs/lead.md).

The kernel against a Monte-Carlo mean of the empirical kernel over many seeded heads, its arc-cosine pieces
against numerical integration, and the score's properties with it. The whole score with it against the
slow reference is in tests/test_score_lead.py::test_fast_path_equals_reference.
"""
import math

import numpy as np
import pytest
import torch

import lead_hf
from lead_hf.scores import lead as L
from tests.support.lead_reference import reference_analytic_ntk

from helpers import gaussian_classes


def _points(dim=256, seed=0):
    """Six inputs at unit RMS norm: a near pair, an antipodal pair, one long, one non-negative, one short."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(6, dim, generator=gen, dtype=torch.float64)
    x[1] = x[0] + 0.3 * torch.randn(dim, generator=gen, dtype=torch.float64)
    x[2] = -x[0]
    x[3] = 2.0 * x[3]
    x[4] = x[4].abs()
    x[5] = 0.2 * x[5]
    return x / x.pow(2).sum(1).mean().sqrt()


# ---------------------------------------------------------------- the kernel against Monte Carlo
# The mean of the empirical Gram (make_head + head_kernel) over SEEDS heads, entry by entry, within
# MC_RTOL of the analytic Gram. Measured on these points (D = 256, K = 3, 50 seeds): the largest relative
# standard error of an entry's mean is 0.5% and the largest relative deviation 0.7% (widths (512, 512)) and
# 0.4% (three layers). The rest of the deviation is not noise: the analytic kernel treats pre-activations as
# Gaussian, while each is a sum of uniform weights times inputs plus ONE uniform bias of the same variance
# (1.7% at widths (512,); 3-7% at D = 4-16). 2% is four standard errors. The wrong kernels below miss by
# 18-212% at their worst entry (bias variance 1 instead of 1/3, weight variance 1, no bias) and by 4-7%
# (weight variance 10% too large); a bias variance 10% too large moves the entries by only 1.7-2.4%, which
# this tolerance does not reliably resolve.
SEEDS = 50
MC_RTOL = 0.02


@pytest.fixture(scope="module")
def empirical_means():
    x = _points()
    means = {}
    for widths in ((512, 512), (256, 512, 256)):
        grams = [L.head_kernel(L.make_head(x.shape[1], 3, widths, seed=s), x).gram() for s in range(SEEDS)]
        means[widths] = torch.stack(grams).mean(0)
    return x, means


@pytest.mark.parametrize("widths", [(512, 512), (256, 512, 256)])
def test_analytic_gram_is_the_mean_of_empirical_grams(empirical_means, widths):
    x, means = empirical_means
    mc = means[widths]
    analytic = L.AnalyticHeadKernel(x, widths, 3).gram()
    assert torch.allclose(analytic, mc, rtol=MC_RTOL, atol=0), ((analytic - mc) / mc).abs().max()
    # the test can fail: a kernel with a wrong variance factor lies outside the tolerance
    for wrong in ({"bias_variance": 1.0}, {"weight_variance": 1.0}, {"bias_variance": 0.0},
                  {"weight_variance": 1 / 3 * 1.1}):
        other = L.AnalyticHeadKernel(x, widths, 3, **wrong).gram()
        assert not torch.allclose(other, mc, rtol=MC_RTOL, atol=0), wrong


def test_analytic_kernel_equals_the_forward_recursion_and_its_own_parts():
    """The backward accumulation of AnalyticHeadKernel against the textbook forward recursion, pair by pair
    (tests/support/lead_reference.py); its diagonal, row subsets and blocked products against its Gram."""
    torch.manual_seed(0)
    for widths in ((7,), (11, 13), (9, 7, 5), (1024, 2048)):
        z = torch.randn(10, 6, dtype=torch.float64)
        kernel = L.AnalyticHeadKernel(z, widths, 4)
        gram = kernel.gram()
        assert torch.allclose(gram, torch.as_tensor(reference_analytic_ntk(z.numpy(), widths, 4)), rtol=1e-12)
        assert torch.equal(gram, gram.T)
        assert torch.allclose(kernel.traces(), torch.diagonal(gram), rtol=1e-14)
        rows = torch.tensor([1, 4, 5, 9])
        assert torch.allclose(kernel.gram(rows), gram[rows][:, rows], rtol=1e-14)
        assert torch.allclose(kernel.subset(rows).gram(), gram[rows][:, rows], rtol=1e-14)
        v = torch.randn(10, dtype=torch.float64)
        assert torch.allclose(kernel.matvec(v, block=3), gram @ v, rtol=1e-12, atol=1e-12)
        assert bool((torch.linalg.eigvalsh(gram) > 0).all())  # a kernel: positive definite on distinct points


# ---------------------------------------------------------------- the arc-cosine pieces
def _quadrature(var_x, var_y, rho):
    """E[relu(u) relu(v)] and P(u > 0, v > 0) by numerical integration over the positive quadrant."""
    from scipy import integrate

    cov = rho * math.sqrt(var_x * var_y)
    det = var_x * var_y - cov * cov
    inv = np.array([[var_y, -cov], [-cov, var_x]]) / det
    norm = 1 / (2 * math.pi * math.sqrt(det))

    def density(v, u):
        q = inv[0, 0] * u * u + 2 * inv[0, 1] * u * v + inv[1, 1] * v * v
        return norm * math.exp(-q / 2)

    lim_x, lim_y = 12 * math.sqrt(var_x), 12 * math.sqrt(var_y)
    opts = dict(epsabs=1e-13, epsrel=1e-11)
    relu = integrate.dblquad(lambda v, u: u * v * density(v, u), 0, lim_x, 0, lim_y, **opts)[0]
    step = integrate.dblquad(density, 0, lim_x, 0, lim_y, **opts)[0]
    return relu, step


@pytest.mark.parametrize("var_x, var_y, rho", [(1.0, 1.0, 0.5), (2.0, 0.3, -0.7), (0.01, 0.04, 0.95),
                                                (3e-4, 5e-4, 0.2), (1.0, 4.0, -0.2)])
def test_arc_cosine_moments_equal_numerical_integration(var_x, var_y, rho):
    from scipy.stats import multivariate_normal

    cov = torch.tensor(rho * math.sqrt(var_x * var_y), dtype=torch.float64)
    relu, step = L.relu_gaussian_moments(cov, torch.tensor(var_x, dtype=torch.float64),
                                         torch.tensor(var_y, dtype=torch.float64))
    q_relu, q_step = _quadrature(var_x, var_y, rho)
    assert float(relu) == pytest.approx(q_relu, rel=1e-8)
    assert float(step) == pytest.approx(q_step, rel=1e-8)
    # the orthant probability once more, by scipy's bivariate normal CDF: P(u > 0, v > 0) = P(-u < 0, -v < 0)
    c = float(cov)
    assert float(step) == pytest.approx(
        multivariate_normal(mean=[0, 0], cov=[[var_x, c], [c, var_y]]).cdf([0, 0]), rel=1e-6)


def test_arc_cosine_moments_closed_forms():
    s = torch.tensor([0.5, 2.0], dtype=torch.float64)
    t = torch.tensor([3.0, 0.1], dtype=torch.float64)
    # uncorrelated: the product of the means, E[relu(u)] = sqrt(var / (2 pi)), and 1/4
    relu, step = L.relu_gaussian_moments(torch.zeros(2, dtype=torch.float64), s, t)
    assert torch.allclose(relu, torch.sqrt(s / (2 * math.pi)) * torch.sqrt(t / (2 * math.pi)), rtol=1e-14)
    assert torch.allclose(step, torch.full_like(step, 0.25), rtol=1e-14)
    # u = v: E[relu(u)^2] = var / 2 and 1/2; u = -v: 0 and 0
    relu, step = L.relu_gaussian_moments(s, s, s)
    assert torch.allclose(relu, s / 2, rtol=1e-14) and torch.allclose(step, torch.full_like(s, 0.5), rtol=1e-14)
    relu, step = L.relu_gaussian_moments(-s, s, s)
    assert torch.allclose(relu, torch.zeros_like(s), atol=1e-15) and torch.allclose(step, torch.zeros_like(s))
    # rounding past |rho| = 1 is clamped, and unit_correlation forces exactly 1
    relu, step = L.relu_gaussian_moments(s * (1 + 1e-15), s, s, ...)
    assert torch.equal(step, torch.full_like(s, 0.5)) and torch.allclose(relu, s / 2, rtol=1e-15)


# ---------------------------------------------------------------- the score with ntk="analytic"
ANALYTIC = dict(ntk="analytic", samples_per_class=8, head_widths=(64, 128))
VARIANTS = [{}, {"eta_normalization": "lambda_max", "t": 10.0},
            {"evolution": "class_block", "eta_normalization": "lambda_max", "t": 1.0},
            {"evolution": "full_kernel", "eta_normalization": "lambda_max", "t": 1.0, "max_kernel_points": 20}]


def test_analytic_separable_features_score_higher_than_random_ones():
    values = [lead_hf.score("lead", *gaussian_classes(separation=s, seed=1), **ANALYTIC)
              for s in (0.0, 0.3, 0.7, 1.5, 3.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    for variant in VARIANTS[1:]:
        noise = lead_hf.score("lead", *gaussian_classes(separation=0.0, seed=1), **ANALYTIC, **variant)
        separable = lead_hf.score("lead", *gaussian_classes(separation=3.0, seed=1), **ANALYTIC, **variant)
        assert separable > noise + 0.2, variant


@pytest.mark.parametrize("variant", VARIANTS)
def test_analytic_is_invariant_to_row_order_label_names_and_feature_scale(variant):
    x, y = gaussian_classes(num_classes=3, per_class=15, dim=12, separation=1.0, seed=2)
    opts = {**ANALYTIC, **variant}
    base = lead_hf.score("lead", x, y, **opts)
    perm = np.random.default_rng(3).permutation(len(y))
    assert lead_hf.score("lead", x[perm], y[perm], **opts) == pytest.approx(base, rel=1e-10)
    names = np.array(["zebra", "moth", "ant"])[y]  # sorted, the names number the classes in another order
    assert lead_hf.score("lead", x, names, **opts) == pytest.approx(base, rel=1e-10)
    for scale in (1e-6, 1e6):
        assert lead_hf.score("lead", x * scale, y, **opts) == pytest.approx(base, rel=1e-7)


@pytest.mark.parametrize("variant", VARIANTS)
def test_analytic_is_free_of_the_seed_where_only_the_head_would_use_it(variant):
    """Where the seed picks nothing else (no folds: leave-one-out; every sample of a class a kernel point;
    eigvalsh, no seeded Lanczos start), the analytic score does not move with it and the empirical one
    does. The seed still orders the probe's rows, which moves float32 Gram sums by ~1e-10: float64 here.
    With the default folds and fewer kernel samples than a class holds, the score moves with the seed."""
    x, y = gaussian_classes(num_classes=3, per_class=15, dim=12, separation=1.0, seed=2)
    fixed = {**ANALYTIC, **variant, "samples_per_class": 15, "svm_fit": "leave_one_out",
             "lambda_max_method": "eigvalsh", "svm_gram_products": "float64", "max_kernel_points": 1024}
    values = [lead_hf.score("lead", x, y, **fixed, seed=s) for s in (0, 1, 2)]
    assert values[1:] == [pytest.approx(values[0], rel=1e-12)] * 2
    empirical = [lead_hf.score("lead", x, y, **{**fixed, "ntk": "empirical"}, seed=s) for s in (0, 1)]
    assert abs(empirical[1] - empirical[0]) > 1e-6
    # the seed still chooses the folds and the kernel's samples
    assert lead_hf.score("lead", x, y, **ANALYTIC, **variant, seed=1) != pytest.approx(
        lead_hf.score("lead", x, y, **ANALYTIC, **variant, seed=0), rel=1e-10)


def test_analytic_class_rates_are_affine_in_the_squared_norms():
    """On the diagonal every correlation is 1, so lambda_k is the same affine function of each class's
    mean squared norm (at unit RMS norm): the class_mean rates see the classes' norms only."""
    x, y = gaussian_classes(num_classes=4, per_class=10, dim=32, separation=2.0, seed=4)
    r = lead_hf.compute_score("lead", x, y, **{**ANALYTIC, "samples_per_class": 10})
    z = x / np.sqrt((x ** 2).sum(1).mean())
    sq = np.array([(z[y == c] ** 2).sum(1).mean() for c in range(4)])
    lam = np.array(r.details["ntk_lambda"])
    slope, intercept = np.polyfit(sq, lam, 1)
    assert np.allclose(lam, slope * sq + intercept, rtol=1e-12)
    assert slope > 0


def test_analytic_kernel_needs_no_head(monkeypatch):
    def no_head(*args, **kwargs):
        raise AssertionError("the analytic NTK drew a head")

    monkeypatch.setattr("lead_hf.scores.lead.kernel.make_head", no_head)
    x, y = gaussian_classes(num_classes=3, per_class=10, dim=8)
    assert math.isfinite(lead_hf.score("lead", x, y, **ANALYTIC))
    with pytest.raises(AssertionError, match="drew a head"):
        lead_hf.score("lead", x, y, **{**ANALYTIC, "ntk": "empirical"})
