"""H-score (Bao et al., ICIP 2019) and its shrinkage-regularised form (Ibrahim et al., ICLR 2022).

    H(f) = tr( cov(f)^-1 cov(E[f | y]) )

cov(f) is the feature covariance and cov(E[f | y]) the between-class covariance (every sample replaced
by its class mean). Both are computed in the eigenbasis of cov(f): with eigenpairs (l_i, v_i),
    H = sum_i  v_i^T cov(E[f|y]) v_i / l_i,
and since cov(f) = within + between with both parts positive semi-definite, every term lies in [0, 1];
H lies in [0, K - 1].

Plain H-score ("hscore") inverts cov(f) by a pseudo-inverse: eigenvalues below ``rcond`` x the largest
are dropped and every remaining term is clipped to its exact bounds [0, 1], so rounding in a
near-singular direction cannot add an arbitrarily large term. With few samples (N <= D) cov(f) is
singular, the pseudo-inverse fits the between-class part exactly and the score saturates near K - 1:
that is what the regularised form fixes.

Regularised H-score ("hscore_reg") replaces cov(f) by the Ledoit-Wolf shrinkage estimate
(1 - a) cov(f) + a mu I (mu = tr cov(f) / D, a chosen by the Ledoit & Wolf 2004 formula, or fixed) and
scales the between-class covariance by (1 - a), as Ibrahim et al. do:
    H_reg = (1 - a) sum_i v_i^T cov(E[f|y]) v_i / ((1 - a) l_i + a mu).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval, OneOf
from ._linalg import gram
from ._stats import SOLVERS, class_counts, class_means, resolve_solver
from .registry import ScoreResult, register_score
from .validation import ScoreInputs


@dataclass
class HScoreOptions(Constrained):
    rcond: float | None = None
    """Pseudo-inverse cut-off: eigenvalues of cov(f) below rcond x the largest count as zero.
    None: max(N, D) x machine epsilon (numpy's matrix_rank rule)."""
    solver: str = "auto"
    """Eigendecomposition used: auto (covariance when N > D, else gram) | covariance (D x D) | gram (N x N)."""

    constraints = {"rcond": (Interval(float, 0, 1, closed="left"), None), "solver": OneOf(*SOLVERS)}


@dataclass
class HScoreRegOptions(Constrained):
    shrinkage: float | None = None
    """Shrinkage a in [0, 1] towards mu I. None: the Ledoit-Wolf estimate (Ibrahim et al.)."""
    solver: str = "auto"
    """Eigendecomposition used: auto (covariance when N > D, else gram) | covariance (D x D) | gram (N x N)."""

    constraints = {"shrinkage": (Interval(float, 0, 1), None), "solver": OneOf(*SOLVERS)}


def between_class_factor(xc: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """B [K, D] with B^T B = cov(E[f | y]): rows sqrt(n_k / N) (mean_k - mean) of centred features."""
    n = xc.shape[0]
    counts = class_counts(labels, num_classes, xc.dtype)
    return class_means(xc, labels, num_classes, counts) * (counts / n).sqrt()[:, None]


def eigen_terms(xc: torch.Tensor, b: torch.Tensor, solver: str = "auto"):
    """Eigenvalues l [r] of cov(f) = Xc^T Xc / N (all of them, descending), w_i = ||B v_i||^2 [r], the
    solver used and ||cov(f)||_F^2 (the same from either Gram matrix; Ledoit-Wolf needs it).

    ``gram`` works with the N x N matrix Xc Xc^T: its eigenvectors u_i give v_i = Xc^T u_i / sqrt(N l_i),
    so B v_i = (B Xc^T) u_i / sqrt(N l_i). The directions it cannot see (outside the row space of Xc)
    have l = 0 and B v = 0, since the class means are averages of rows of Xc.
    """
    n, d = xc.shape
    solver = resolve_solver(solver, n, d)
    if solver == "covariance":
        g = gram(xc) / n
        lam, v = torch.linalg.eigh(g)
        w = ((b @ v) ** 2).sum(0)
    else:
        g = gram(xc, samples=True) / n
        lam, u = torch.linalg.eigh(g)
        proj = (b @ xc.T) @ u                      # [K, N]
        # null directions of Xc come out with eigenvalues of rounding size; their w would be 0/0 noise
        real = lam > lam.max().clamp_min(0) * max(n, d) * torch.finfo(lam.dtype).eps
        w = torch.where(real, (proj ** 2).sum(0) / (n * lam.clamp_min(1e-300)), torch.zeros_like(lam))
    return lam.flip(0).clamp_min(0), w.flip(0), solver, float((g ** 2).sum())


def ledoit_wolf_shrinkage(xc: torch.Tensor, s_fro2: float | None = None) -> float:
    """Ledoit & Wolf (2004) optimal shrinkage of the sample covariance of centred ``xc`` towards mu I.

    a = min(b2, d2) / d2 with d2 = ||S - mu I||_F^2 / D and b2 = (1/(N^2 D)) sum_n ||x_n x_n^T - S||_F^2
    (the same estimator as scikit-learn's ledoit_wolf). ``s_fro2`` = ||S||_F^2 when already known;
    otherwise it is read off the smaller Gram matrix (||X^T X||_F = ||X X^T||_F).
    """
    n, d = xc.shape
    if s_fro2 is None:
        s_fro2 = float((gram(xc, samples=n <= d) ** 2).sum()) / n ** 2
    sq_norms = (xc ** 2).sum(1)
    mu = float(sq_norms.sum()) / (n * d)
    d2 = (s_fro2 - 2 * mu * mu * d + d * mu * mu) / d          # ||S - mu I||_F^2 / D, as tr S = mu D
    # sum_n ||x_n x_n^T - S||_F^2 = sum_n ||x_n||^4 - N ||S||_F^2
    b2 = (float((sq_norms ** 2).sum()) / n - s_fro2) / (n * d)
    # S already a multiple of I (always so for D = 1): nothing to shrink. d2 is then rounding noise
    # whose ratio with b2 would be arbitrary; the relative cut-off gives scikit-learn's a = 0 instead.
    if d2 <= 1e-12 * mu * mu:
        return 0.0
    return min(max(b2, 0.0), d2) / d2


def _prepare(inputs: ScoreInputs):
    xc = inputs.features - inputs.features.mean(0)
    return xc, between_class_factor(xc, inputs.labels, inputs.num_classes)


@register_score(
    "hscore", title="H-score", options=HScoreOptions,
    summary="H-score: tr(cov(f)^+ cov(E[f|y])), between-class over total feature covariance",
    citation="Bao et al., An Information-Theoretic Approach to Transferability in Task Transfer Learning, "
             "ICIP 2019")
def hscore(inputs: ScoreInputs, opts: HScoreOptions) -> ScoreResult:
    xc, b = _prepare(inputs)
    lam, w, solver, _ = eigen_terms(xc, b, opts.solver)
    rcond = opts.rcond if opts.rcond is not None else max(xc.shape) * torch.finfo(xc.dtype).eps
    keep = lam > lam[0] * rcond if bool(lam[0] > 0) else torch.zeros_like(lam, dtype=torch.bool)
    ratios = (w[keep] / lam[keep]).clamp(0, 1)
    return ScoreResult("hscore", float(ratios.sum()), details={
        "rank": int(keep.sum()), "rcond": float(rcond), "solver": solver,
        "max_value": inputs.num_classes - 1})


@register_score(
    "hscore_reg", options=HScoreRegOptions,
    summary="Regularised H-score: H-score with the Ledoit-Wolf shrinkage estimate of the feature covariance",
    citation="Ibrahim et al., Newer is Not Always Better: Rethinking Transferability Metrics, Their "
             "Peculiarities, Stability and Performance, ICLR 2022 (after Bao et al., ICIP 2019)")
def hscore_reg(inputs: ScoreInputs, opts: HScoreRegOptions) -> ScoreResult:
    xc, b = _prepare(inputs)
    lam, w, solver, s_fro2 = eigen_terms(xc, b, opts.solver)
    n, d = xc.shape
    a = ledoit_wolf_shrinkage(xc, s_fro2) if opts.shrinkage is None else float(opts.shrinkage)
    mu = float(lam.sum()) / d
    if mu <= 0:   # constant features: no covariance to invert and no between-class spread either
        return ScoreResult("hscore_reg", 0.0, details={"shrinkage": a, "solver": solver})
    # directions outside the data (gram solver, N <= D) have l = 0 and w = 0: they add nothing
    denom = (1 - a) * lam + a * mu
    terms = torch.where(denom > 0, (1 - a) * w / denom.clamp_min(1e-300), torch.zeros_like(w))
    return ScoreResult("hscore_reg", float(terms.sum()), details={
        "shrinkage": a, "solver": solver, "max_value": inputs.num_classes - 1})
