"""SFDA: Self-challenging Fisher Discriminant Analysis (Shao et al., ECCV 2022).

1. Regularised FDA. Within-class scatter Sw = sum_k pi_k Cov_k, total scatter St = Cov(X); both are
   shrunk towards a scaled identity, S' = (1 - lambda) S + lambda (tr S / D) I, with the strength taken
   from the data: lambda = exp(-a * sigma_max(Sw)), a = 5 (floored at 1e-10). The Fisher directions solve
   Sb v = e Sw' v with Sb = St' - Sw'.
2. Class scores in the Fisher space: with x~ = V^T x and mu~_k = V^T mu_k,
   delta_k(x) = x~ . mu~_k - |mu~_k|^2 / 2 + log pi_k, and p(y|x) = softmax_k delta_k(x).
3. ConfMix (self-challenging): every sample moves towards the mean of the OTHER classes' means by how
   unsure the model is about it,  x <- p_y x + (1 - p_y) mean_{k != y} mu_k,  with p_y the (softened)
   probability of its own class; then step 1-2 are repeated on the mixed features with the same lambda.
4. Score: the mean log-probability of the true class after the challenge (higher is better).
docs/baselines.md has the details and which choices follow the paper or the authors' code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..utils.constraints import Boolean, Constrained, Interval
from ._stats import class_counts, class_means
from .registry import ScoreResult, register_score
from .validation import ScoreInputs

MIN_REGULARIZATION = 1e-10


@dataclass
class SfdaOptions(Constrained):
    regularization: float | None = None
    """lambda in (1 - lambda) S + lambda (tr S / D) I. None: from the data, exp(-regularization_decay *
    largest eigenvalue of Sw), at least 1e-10 (the paper)."""
    regularization_decay: float = 5.0
    """a in lambda = exp(-a * sigma_max(Sw)) (the paper's value is 5)."""
    n_components: int | None = None
    """Fisher directions kept. None: all D, as the authors' code does (the class scores are then the
    LDA rule with the regularised Sw); K-1 is the classical FDA dimension."""
    soften: bool = True
    """Pass the first-pass probabilities through a second softmax before ConfMix, as the authors' code
    does to keep the mixing weights away from 0/1."""
    log_probability: bool = True
    """Score = mean log p(true class) (the paper). False: mean p(true class) (the authors' code)."""

    constraints = {"regularization": (Interval(float, 0, 1, closed="right"), None),
                   "regularization_decay": Interval(float, 0, closed="neither"),
                   "n_components": (Interval(int, 1), None), "soften": Boolean(), "log_probability": Boolean()}


@dataclass
class FisherFit:
    coef: torch.Tensor         # [D, K]: V V^T mu_k (= Sw'^-1 mu_k when every direction is kept)
    intercept: torch.Tensor    # [K]: -mu~_k . mu~_k / 2 + log pi_k
    means: torch.Tensor        # [K, D] class means
    regularization: float


def largest_eigenvalue(a: torch.Tensor, tol: float = 1e-12, max_iter: int = 500) -> float:
    """Largest eigenvalue of a symmetric PSD matrix by power iteration (the Rayleigh quotient).

    A full eigendecomposition of a 2048 x 2048 matrix takes seconds on a CPU; the paper only needs the
    top eigenvalue. The start vector is fixed pseudo-random (a structured one such as the row sums can be
    orthogonal to the top eigenvector); the Rayleigh quotient converges quadratically in the vector error.
    """
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(a.shape[0], generator=gen, dtype=torch.float64).to(device=a.device, dtype=a.dtype)
    v = v / v.norm()
    value = 0.0
    for _ in range(max_iter):
        w = a @ v
        new = float(v @ w)
        norm = w.norm()
        if norm == 0:
            return 0.0
        v = w / norm
        if abs(new - value) <= tol * abs(new):
            return new
        value = new
    return value


def fisher_fit(x: torch.Tensor, labels: torch.Tensor, num_classes: int, regularization: float | None,
               decay: float, n_components: int | None) -> FisherFit:
    """Regularised FDA (step 1) and the linear class scores of step 2 as x @ coef + intercept."""
    n, d = x.shape
    counts = class_counts(labels, num_classes, x.dtype)
    means = class_means(x, labels, num_classes, counts)
    within = x - means[labels]
    sw = within.T @ within / n                      # = sum_k (n_k/n) Cov_k, biased covariances
    if regularization is None:
        regularization = max(math.exp(-decay * largest_eigenvalue(sw)), MIN_REGULARIZATION)
    lam = float(regularization)
    total = x - x.mean(0)
    mu_w, mu_t = float(torch.trace(sw)) / d, float(total.pow(2).sum()) / (n * d)
    if mu_w <= 0:  # every class is a single point: shrink towards the total scale instead of 0
        mu_w = mu_t if mu_t > 0 else 1.0
    sw_reg = (1 - lam) * sw
    sw_reg.diagonal().add_(lam * mu_w)
    chol = torch.linalg.cholesky(sw_reg)
    if n_components is None or n_components >= d:
        # every Fisher direction kept: V V^T = Sw'^-1 whatever Sb is, so no eigenproblem is needed
        coef = torch.cholesky_solve(means.T.contiguous(), chol)
    else:
        st = total.T @ total / n
        sb = (1 - lam) * (st - sw)                  # St' - Sw'
        sb.diagonal().add_(lam * (mu_t - mu_w))
        # Sb v = e Sw' v  <=>  (L^-1 Sb L^-T) u = e u with v = L^-T u
        half = torch.linalg.solve_triangular(chol, sb, upper=False)
        e, u = torch.linalg.eigh(torch.linalg.solve_triangular(chol, half.T, upper=False))
        u = u[:, torch.argsort(e, descending=True)[:n_components]]
        v = torch.linalg.solve_triangular(chol.T, u, upper=True)
        coef = v @ (v.T @ means.T)
    intercept = -0.5 * (means * coef.T).sum(1) + (counts / n).log()
    return FisherFit(coef, intercept, means, lam)


def class_logits(x: torch.Tensor, fit: FisherFit) -> torch.Tensor:
    """delta_k(x) = x~ . mu~_k - |mu~_k|^2 / 2 + log pi_k in the Fisher space (step 2)."""
    return x @ fit.coef + fit.intercept


def confmix(x: torch.Tensor, labels: torch.Tensor, means: torch.Tensor, p_true: torch.Tensor) -> torch.Tensor:
    """x <- p x + (1 - p) (mean of the other classes' means) (step 3)."""
    k = means.shape[0]
    others = (means.sum(0, keepdim=True) - means) / (k - 1)
    w = p_true[:, None]
    return w * x + (1 - w) * others[labels]


@register_score(
    "sfda", title="SFDA", options=SfdaOptions,
    summary="SFDA: class log-likelihood in a regularised Fisher space after a self-challenging mix",
    citation="Shao et al., Not All Models Are Equal: Predicting Model Transferability in a "
             "Self-challenging Fisher Space, ECCV 2022")
def sfda(inputs: ScoreInputs, opts: SfdaOptions) -> ScoreResult:
    x, y, k = inputs.features, inputs.labels, inputs.num_classes
    rows = torch.arange(x.shape[0], device=x.device)
    first = fisher_fit(x, y, k, opts.regularization, opts.regularization_decay, opts.n_components)
    prob = torch.softmax(class_logits(x, first), 1)
    if opts.soften:
        prob = torch.softmax(prob, 1)
    p_true = prob[rows, y]
    mixed = confmix(x, y, first.means, p_true)
    second = fisher_fit(mixed, y, k, first.regularization, opts.regularization_decay, opts.n_components)
    log_p = torch.log_softmax(class_logits(mixed, second), 1)[rows, y]
    value = log_p.mean() if opts.log_probability else log_p.exp().mean()
    return ScoreResult("sfda", float(value), details={
        "regularization": first.regularization,
        "first_pass_accuracy": float((prob.argmax(1) == y).double().mean()),
        "mean_mixing_weight": float(p_true.mean()),
        "mean_true_probability": float(log_p.exp().mean()),
    })
