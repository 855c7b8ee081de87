"""LogME: log marginal evidence of a Bayesian linear model on the features (You et al., ICML 2021 / JMLR 2022).

For every class k the one-hot column y_k [N] is modelled as y = F w + noise with a Gaussian prior
w ~ N(0, I / alpha) and noise ~ N(0, I / beta). The evidence p(y_k | F, alpha, beta) is maximised over
(alpha, beta) by the fixed-point iteration of the JMLR version; the score is the mean over classes of
the maximised log evidence, divided by N.

One eigendecomposition of F^T F (D x D, when N > D) or of F F^T (N x N, otherwise) serves every class
and every iteration: in its eigenbasis the ridge solution, its residual and the log-determinant are
sums over the eigenvalues, so an iteration costs O(rank * K).

With t = alpha / beta, the exact evidence (all D eigenvalues of A = alpha I + beta F^T F, including the
zero ones) is
    log p = N/2 log beta - 1/2 sum_i log(1 + sigma_i / t) - beta/2 (res2 + t m2) - N/2 log(2 pi)
where sigma_i are the nonzero eigenvalues of F^T F, m2 = ||m||^2 and res2 = ||y - F m||^2 for the ridge
solution m = (F^T F + t I)^-1 F^T y. The dimension D cancels, which makes the score invariant to the
scale of the features (docs/baselines.md: the official code drops the D - rank zero eigenvalues from
log|A| when N <= D, which breaks that invariance; we keep them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval, OneOf
from ._linalg import gram, symmetric_eigh
from ._stats import SOLVERS, class_sums, resolve_solver
from .registry import ScoreResult, register_draws, register_score
from .validation import ScoreInputs

# eigenvalues of F^T F below this fraction of the largest are rounding noise of the eigensolver (about
# D * machine epsilon relative); they are treated as exact zeros, which changes the evidence by O(1e-10).
_RANK_RTOL = 1e-10
# t = alpha / beta is kept inside [1e-14, 1e14] x sigma_max: beyond that the evidence is flat to double
# precision, and the bound keeps an exact fit (N <= D) or a target orthogonal to the features finite.
_T_RANGE = 1e14


@dataclass
class LogMEOptions(Constrained):
    tol: float = 1e-6
    """Stop a class's fixed point when t = alpha/beta changes by less than this fraction."""
    max_iter: int = 100
    """Most fixed-point iterations per class (it usually converges in fewer than 10)."""
    solver: str = "auto"
    """Eigendecomposition used: auto (covariance when N > D, else gram) | covariance (D x D) | gram (N x N)."""

    constraints = {"tol": Interval(float, 0, closed="neither"), "max_iter": Interval(int, 1),
                   "solver": OneOf(*SOLVERS)}


def spectrum(features: torch.Tensor, labels: torch.Tensor, num_classes: int, solver: str = "auto"):
    """Nonzero eigenvalues sigma [r] of F^T F and the projections x = U^T Y [r, K] of the one-hot targets.

    U holds the left singular vectors of F. ``covariance`` never forms U: U^T Y = S^-1 V^T (F^T Y), and
    F^T Y is a per-class sum of feature rows.
    """
    n, d = features.shape
    solver = resolve_solver(solver, n, d)
    if solver == "covariance":
        sigma, v = torch.linalg.eigh(gram(features))
        keep = sigma > sigma.max().clamp_min(0) * _RANK_RTOL
        sigma, v = sigma[keep], v[:, keep]
        sums = class_sums(features, labels, num_classes)             # (F^T Y)^T
        x = (v.T @ sums.T) / sigma.sqrt()[:, None]
    else:
        sigma, u = torch.linalg.eigh(gram(features, samples=True))
        keep = sigma > sigma.max().clamp_min(0) * _RANK_RTOL
        sigma, u = sigma[keep], u[:, keep]
        x = class_sums(u, labels, num_classes).T                      # U^T Y
    return sigma, x, solver


def _ridge_terms(sigma: torch.Tensor, x2: torch.Tensor, rest: torch.Tensor, t: torch.Tensor):
    """gamma, N-independent part of N - gamma, m2 and res2 at t (one value per class)."""
    s = sigma[:, None]
    shrink = t / (s + t)                                   # [r, K]
    gamma = (1 - shrink).sum(0)
    m2 = (s * x2 / (s + t) ** 2).sum(0)
    res2 = (x2 * shrink ** 2).sum(0) + rest
    return gamma, shrink.sum(0), m2, res2


def fixed_point(sigma: torch.Tensor, x: torch.Tensor, counts: torch.Tensor, n: int,
                tol: float = 1e-6, max_iter: int = 100):
    """Maximise the evidence of every class (columns of ``x``) by the JMLR fixed point on t = alpha/beta.

    Each step sets alpha = gamma / m2, beta = (N - gamma) / res2 (MacKay's updates written through the
    shared eigenvalues) and t = alpha / beta. Returns per class: evidence / N, alpha, beta, iterations,
    converged, and whether the maximum is a limit (t -> 0 or infinity) rather than a stationary point.
    """
    k = x.shape[1]
    dtype, dev = x.dtype, x.device
    x2 = x ** 2
    # part of ||y||^2 outside the column space of F (cancellation can make it slightly negative); with
    # rank N the column space is everything and the rest is exactly 0
    rest = (counts.to(dtype) - x2.sum(0)).clamp_min(0)
    if sigma.numel() == n:
        rest = torch.zeros_like(rest)
    iters = torch.zeros(k, dtype=torch.long, device=dev)
    converged = torch.zeros(k, dtype=torch.bool, device=dev)
    at_limit = torch.zeros(k, dtype=torch.bool, device=dev)
    if sigma.numel() == 0:  # all-zero features: the evidence no longer depends on t
        t = torch.ones(k, dtype=dtype, device=dev)
        converged[:] = True
    else:
        smax = sigma.max()
        lo, hi = smax / _T_RANGE, smax * _T_RANGE
        t = sigma.mean().expand(k).clone()    # scale-free start (alpha = beta = 1 in the paper's code)
        for _ in range(max_iter):
            active = ~converged
            if not bool(active.any()):
                break
            gamma, n_minus_gamma, m2, res2 = _ridge_terms(sigma, x2, rest, t)
            n_minus_gamma = n_minus_gamma + (n - sigma.numel())   # zero eigenvalues contribute 1 each
            # t_new = (gamma / m2) / ((N - gamma) / res2); m2 = 0 means y is orthogonal to the features
            t_new = torch.where(m2 > 0, gamma * res2 / (n_minus_gamma * m2).clamp_min(1e-300), hi)
            t_new = t_new.clamp(lo, hi)
            done = (t_new - t).abs() <= tol * t
            t = torch.where(active, t_new, t)
            iters += active.long()
            converged |= active & done
        # The evidence can rise monotonically towards a limit instead of peaking: t -> infinity (the
        # features explain nothing of this class: w = 0) or, with rank N, t -> 0 (an exact fit). The
        # fixed point then only drifts towards it, so compare with both limits, evaluated at the bounds.
        best, best_t = profile_evidence(sigma, x2, rest, t, n)[0], t
        for bound in (lo, hi):
            t_b = torch.full_like(t, float(bound))
            e_b = profile_evidence(sigma, x2, rest, t_b, n)[0]
            better = e_b > best
            best, best_t = torch.where(better, e_b, best), torch.where(better, t_b, best_t)
            converged |= better
        t = best_t
        at_limit = (t <= lo) | (t >= hi)
    evidence, alpha, beta = profile_evidence(sigma, x2, rest, t, n)
    return evidence / n, alpha, beta, iters, converged, at_limit


def profile_evidence(sigma, x2, rest, t, n: int):
    """Log evidence at t = alpha/beta with beta at its optimum for that t, beta = N / (res2 + t m2)."""
    _, _, m2, res2 = _ridge_terms(sigma, x2, rest, t)
    beta = n / (res2 + t * m2).clamp_min(1e-300)
    logdet = torch.log1p(sigma[:, None] / t).sum(0)
    evidence = 0.5 * n * torch.log(beta) - 0.5 * logdet - 0.5 * n - 0.5 * n * math.log(2 * math.pi)
    return evidence, t * beta, beta


@register_score(
    "logme", title="LogME", options=LogMEOptions,
    summary="LogME: maximum log evidence of a Bayesian linear model per class, averaged, divided by N",
    citation="You et al., LogME: Practical Assessment of Pre-trained Models for Transfer Learning, ICML 2021; "
             "Ranking and Tuning Pre-trained Models: A New Paradigm for Exploiting Model Hubs, JMLR 2022")
def logme(inputs: ScoreInputs, opts: LogMEOptions) -> ScoreResult:
    f, y, k = inputs.features, inputs.labels, inputs.num_classes
    sigma, x, solver = spectrum(f, y, k, opts.solver)
    evidence, alpha, beta, iters, converged, at_limit = fixed_point(
        sigma, x, inputs.class_counts(), inputs.num_samples, opts.tol, opts.max_iter)
    return ScoreResult("logme", float(evidence.mean()), details={
        "evidence_per_class": evidence.tolist(),
        "alpha": alpha.tolist(),
        "beta": beta.tolist(),
        "iterations": iters.tolist(),
        "converged": bool(converged.all()),
        # classes whose evidence is highest in a limit: alpha/beta -> infinity (the features explain
        # nothing of the class) or -> 0 (an exact fit, rank N); alpha and beta are then at the bound
        "at_limit": at_limit.tolist(),
        "rank": int(sigma.numel()),
        "solver": solver,
    })


def weighted_spectrum(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weights: torch.Tensor,
                      samples_gram: torch.Tensor | None = None):
    """``spectrum`` of the rows repeated as ``weights`` [N] says (0 leaves a row out), from the distinct rows.

    With P the N' x n matrix that repeats the rows (P^T P = W = diag(w)), the repeated features P F have the
    nonzero spectrum of W^1/2 F F^T W^1/2 (the distinct rows' Gram, n x n) or of F^T W F (D x D), whichever is
    smaller, and U^T Y' = Ũ^T W^1/2 Y with Ũ the eigenvectors of the former (Y' = P Y: a row's copies share
    its label). ``samples_gram``: F F^T of all rows when the caller has it (one for every resample)."""
    keep = (weights > 0).nonzero().squeeze(1)
    f, w, y = features[keep], weights[keep], labels[keep]
    root = w.sqrt()
    if keep.numel() <= f.shape[1]:
        g = samples_gram[keep][:, keep] if samples_gram is not None else gram(f, samples=True)
        sigma, u = symmetric_eigh(root[:, None] * g * root)
        kept = sigma > sigma.max().clamp_min(0) * _RANK_RTOL
        sigma, u = sigma[kept], u[:, kept]
        x = class_sums(u * root[:, None], y, num_classes).T             # Ũ^T W^1/2 Y
    else:
        sigma, v = symmetric_eigh(gram(f * root[:, None]))
        kept = sigma > sigma.max().clamp_min(0) * _RANK_RTOL
        sigma, v = sigma[kept], v[:, kept]
        sums = class_sums(f * w[:, None], y, num_classes)                # (F^T W Y)^T
        x = (v.T @ sums.T) / sigma.sqrt()[:, None]
    return sigma, x


@register_draws("logme")
def logme_draws(inputs: ScoreInputs, counts: torch.Tensor, opts: LogMEOptions) -> list[float]:
    """LogME of B resamples (``counts`` [B, N]): per resample one eigendecomposition of the Gram matrix of
    its distinct rows (about 63% of N), cut from the N x N Gram of all rows taken once, instead of one of
    the N x N (or D x D) matrix of the repeated rows."""
    f, y, k = inputs.features, inputs.labels, inputs.num_classes
    n, d = f.shape
    distinct = int((counts > 0).sum(1).max())
    samples_gram = gram(f, samples=True) if distinct <= d else None
    values = []
    for w in counts:
        sigma, x = weighted_spectrum(f, y, k, w, samples_gram)
        per_class = class_sums(w[:, None], y, k)[:, 0]
        evidence = fixed_point(sigma, x, per_class, int(round(float(w.sum()))), opts.tol, opts.max_iter)[0]
        values.append(float(evidence.mean()))
    return values
