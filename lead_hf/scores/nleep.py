"""NLEEP: LEEP on the posteriors of a Gaussian mixture fitted to the features (Li et al., CVPR 2021).

Steps:
1. PCA of the (centred) features, keeping the fewest components that explain ``pca_variance`` of the
   variance (80% in the paper), or exactly ``pca_components``;
2. a Gaussian mixture with K * v components (v = 5 in the paper) fitted by EM, initialised by seeded
   k-means++ and Lloyd iterations (scikit-learn's GaussianMixture default, which public NLEEP code uses);
3. LEEP with the mixture's posteriors p(component | x) in place of the source model's class probabilities.

The mixture is fitted here in torch (CPU or CUDA, float64); scikit-learn is not needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval, OneOf
from ._stats import class_counts, class_means, principal_scores
from .leep import leep_from_probabilities
from .registry import ScoreResult, register_score
from .validation import ScoreInputs

COVARIANCES = ("full", "diag")


@dataclass
class NleepOptions(Constrained):
    components_per_class: int = 5
    """v: the mixture has K * v components (capped at N)."""
    pca_variance: float = 0.8
    """Keep the fewest principal components that explain this fraction of the variance (0 < x <= 1)."""
    pca_components: int | None = None
    """Keep exactly this many principal components instead (capped at the rank); overrides pca_variance."""
    covariance: str = "full"
    """Covariance of each mixture component: full (scikit-learn's default, as in public NLEEP code) | diag
    (much faster when K and the PCA dimension are large)."""
    max_iter: int = 100
    """Most EM iterations."""
    tol: float = 1e-3
    """EM stops when the mean log-likelihood per sample improves by less than this."""
    reg_covar: float = 1e-6
    """Added to every component variance, as a fraction of the mean variance of the PCA features."""
    init_iter: int = 100
    """Most Lloyd (k-means) iterations of the initialisation."""
    seed: int = 0
    """Seed of the k-means++ initialisation."""

    constraints = {
        "components_per_class": Interval(int, 1), "pca_variance": Interval(float, 0, 1, closed="right"),
        "pca_components": (Interval(int, 1), None), "covariance": OneOf(*COVARIANCES),
        "max_iter": Interval(int, 1), "tol": Interval(float, 0), "reg_covar": Interval(float, 0, closed="neither"),
        "init_iter": Interval(int, 0), "seed": Interval(int, 0),
    }


# --------------------------------------------------------------------------------------------------
# 2. Gaussian mixture by EM
# --------------------------------------------------------------------------------------------------

def _sq_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    d2 = (x * x).sum(1, keepdim=True) - 2 * x @ centers.T + (centers * centers).sum(1)
    return d2.clamp_min(0)


def kmeans_init(x: torch.Tensor, m: int, seed: int, max_iter: int) -> torch.Tensor:
    """Hard assignment [N] of every sample to one of ``m`` clusters: k-means++ seeding then Lloyd steps.

    Random draws come from a CPU generator seeded with ``seed``, so the result does not depend on the
    device or the caller's global RNG state.
    """
    n = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    chosen = [int(torch.randint(n, (1,), generator=gen))]
    d2 = _sq_distances(x, x[chosen[0]][None])[:, 0]
    for _ in range(1, m):
        weights = d2.cpu()
        if not bool(weights.sum() > 0):   # fewer distinct points than clusters: duplicate a point
            weights = torch.ones_like(weights)
        nxt = int(torch.multinomial(weights, 1, generator=gen))
        chosen.append(nxt)
        d2 = torch.minimum(d2, _sq_distances(x, x[nxt][None])[:, 0])
    centers = x[chosen].clone()
    assign = _sq_distances(x, centers).argmin(1)
    for _ in range(max_iter):
        counts = class_counts(assign, m)
        filled = counts > 0   # an empty cluster keeps its centre
        centers = torch.where(filled[:, None], class_means(x, assign, m, counts), centers)
        new = _sq_distances(x, centers).argmin(1)
        if bool((new == assign).all()):
            break
        assign = new
    return assign


def _cholesky_with_jitter(cov: torch.Tensor, scale: float) -> torch.Tensor:
    """Cholesky factors of a batch of covariances; a component that is not numerically positive definite
    gets a growing ridge (10x the regularisation each try) instead of an error."""
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    jitter = 0.0
    for _ in range(12):
        chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
        if not bool((info > 0).any()):
            return chol
        jitter = scale if jitter == 0 else jitter * 10
    raise ValueError("the Gaussian mixture's covariances are not positive definite even after "
                     "regularisation; increase reg_covar or use covariance='diag'")


def gmm_m_step(x: torch.Tensor, resp: torch.Tensor, covariance: str, reg: float):
    """Maximum-likelihood weights [M], means [M, q] and covariances ([M, q, q] full, [M, q] diag)."""
    nk = resp.sum(0) + 10 * torch.finfo(x.dtype).eps   # scikit-learn's guard for empty components
    weights = nk / nk.sum()
    means = (resp.T @ x) / nk[:, None]
    if covariance == "diag":
        second = (resp.T @ (x * x)) / nk[:, None]
        return weights, means, (second - means ** 2).clamp_min(0) + reg
    q = x.shape[1]
    eye = torch.eye(q, dtype=x.dtype, device=x.device)
    covs = torch.empty(means.shape[0], q, q, dtype=x.dtype, device=x.device)
    for sl in _component_blocks(x.shape[0], q, means.shape[0]):
        diff = x[None] - means[sl, None]                          # [g, N, q]
        weighted = resp.T[sl, :, None] * diff
        covs[sl] = weighted.transpose(1, 2) @ diff / nk[sl, None, None] + reg * eye
    return weights, means, covs


def _component_blocks(n: int, q: int, m: int, budget: int = 1 << 24):
    """Slices of components processed together so that [g, N, q] temporaries stay near 128 MB."""
    g = max(1, budget // max(1, n * q))
    return [slice(j, min(j + g, m)) for j in range(0, m, g)]


def gmm_log_prob(x: torch.Tensor, means: torch.Tensor, covs: torch.Tensor, covariance: str,
                 reg: float) -> torch.Tensor:
    """log N(x_i | mean_j, cov_j) for every sample and component [N, M]."""
    q = x.shape[1]
    const = q * math.log(2 * math.pi)
    if covariance == "diag":
        prec = 1 / covs
        maha = (x * x) @ prec.T - 2 * x @ (means * prec).T + (means * means * prec).sum(1)
        return -0.5 * (const + torch.log(covs).sum(1) + maha.clamp_min(0))
    chol = _cholesky_with_jitter(covs, reg)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    out = torch.empty(x.shape[0], means.shape[0], dtype=x.dtype, device=x.device)
    for sl in _component_blocks(x.shape[0], q, means.shape[0]):
        # ||L^-1 (x - mu)||^2 by batched triangular solves
        z = torch.linalg.solve_triangular(chol[sl], (x[None] - means[sl, None]).transpose(1, 2), upper=False)
        out[:, sl] = (-0.5 * (const + logdet[sl, None] + (z * z).sum(1))).T
    return out


def gmm_e_step(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, covs: torch.Tensor,
               covariance: str, reg: float):
    """Log posteriors log p(component | x) [N, M] and the mean log-likelihood per sample."""
    joint = gmm_log_prob(x, means, covs, covariance, reg) + torch.log(weights)
    norm = torch.logsumexp(joint, 1, keepdim=True)
    return joint - norm, float(norm.mean())


def fit_gmm(x: torch.Tensor, m: int, opts: NleepOptions):
    """EM for a Gaussian mixture of ``m`` components; returns (posteriors [N, M], info dict)."""
    scale = float(x.var(0, unbiased=False).mean())
    reg = opts.reg_covar * (scale if scale > 0 else 1.0)
    assign = kmeans_init(x, m, opts.seed, opts.init_iter)
    resp = torch.nn.functional.one_hot(assign, m).to(x.dtype)
    params = gmm_m_step(x, resp, opts.covariance, reg)
    history, converged = [], False
    for _ in range(opts.max_iter):
        log_resp, ll = gmm_e_step(x, *params, opts.covariance, reg)
        params = gmm_m_step(x, torch.exp(log_resp), opts.covariance, reg)
        if history and abs(ll - history[-1]) < opts.tol:
            history.append(ll)
            converged = True
            break
        history.append(ll)
    log_resp, ll = gmm_e_step(x, *params, opts.covariance, reg)
    history.append(ll)
    return torch.exp(log_resp), {"em_iterations": len(history) - 1, "converged": converged,
                                 "log_likelihood": ll}


@register_score(
    "nleep", title="N-LEEP", options=NleepOptions,
    summary="NLEEP: LEEP on the posteriors of a Gaussian mixture (K x 5 components) fitted to PCA features",
    citation="Li et al., Ranking Neural Checkpoints, CVPR 2021")
def nleep(inputs: ScoreInputs, opts: NleepOptions) -> ScoreResult:
    k, n = inputs.num_classes, inputs.num_samples
    # 1. PCA
    x = principal_scores(inputs.features, components=opts.pca_components, variance=opts.pca_variance)
    m = min(k * opts.components_per_class, n)
    posteriors, info = fit_gmm(x, m, opts)
    value, _ = leep_from_probabilities(posteriors, inputs.labels, k)
    return ScoreResult("nleep", float(value), details={
        "pca_dim": int(x.shape[1]), "components": m, **info})
