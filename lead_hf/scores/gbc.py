"""GBC: Gaussian Bhattacharyya Coefficient (Pandy et al., CVPR 2022).

Each class is a Gaussian with diagonal (or spherical) covariance in the PCA-reduced feature space.
For two classes the Bhattacharyya distance is

    D_B = 1/8 (mu_i - mu_j)^T S^-1 (mu_i - mu_j) + 1/2 log( det S / sqrt(det S_i det S_j) ),  S = (S_i + S_j)/2

and the Bhattacharyya coefficient BC = exp(-D_B) in (0, 1] measures their overlap. The score is
GBC = - sum over ordered pairs i != j of BC(i, j): 0 for perfectly separated classes, -K(K-1) when every
class has the same distribution. docs/baselines.md has the details and the variance floor.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval, OneOf
from ._linalg import gram
from ._stats import class_counts, class_means, principal_scores
from .registry import ScoreResult, register_draws, register_score
from .validation import ScoreInputs

GAUSSIAN_TYPES = ("diagonal", "spherical")


@dataclass
class GbcOptions(Constrained):
    gaussian_type: str = "diagonal"
    """Per-class covariance: diagonal (one variance per dimension) | spherical (one variance per class)."""
    pca_dim: int | None = 64
    """Project the centred features on their top principal components first (the paper uses 64);
    None or 0 keeps the raw features (then diagonal GBC depends on the feature basis)."""
    var_floor: float = 1e-4
    """Lower bound of every class variance, relative to the mean variance of the (reduced) features:
    keeps classes with one sample, and dimensions constant inside a class, finite."""

    constraints = {"gaussian_type": OneOf(*GAUSSIAN_TYPES), "pca_dim": (Interval(int, 0), None),
                   "var_floor": Interval(float, 0, closed="neither")}


def class_gaussians(z: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: GbcOptions):
    """Per-class means [K, p] and floored variances [K, p] (spherical: the class mean variance, repeated)."""
    counts = class_counts(labels, num_classes)
    means = class_means(z, labels, num_classes, counts)
    centred = z - means[labels]
    var = class_means(centred * centred, labels, num_classes, counts)
    total = z.var(0, unbiased=False).mean()
    floor = opts.var_floor * (total if total > 0 else torch.ones_like(total))
    var = var.clamp_min(floor)
    if opts.gaussian_type == "spherical":
        var = var.mean(1, keepdim=True).expand_as(var)
    return means, var


def bhattacharyya_matrix(means: torch.Tensor, var: torch.Tensor, chunk_elems: int = 1 << 22) -> torch.Tensor:
    """[K, K] Bhattacharyya coefficients between diagonal Gaussians, in row blocks to bound memory."""
    k, p = means.shape
    log_var = var.log()
    rows = max(1, chunk_elems // max(1, k * p))
    out = []
    for start in range(0, k, rows):
        block = slice(start, start + rows)
        mi, vi, li = means[block, None], var[block, None], log_var[block, None]
        avg = 0.5 * (vi + var[None])
        dist = ((mi - means[None]) ** 2 / avg).sum(-1) / 8 \
            + 0.5 * (avg.log() - 0.5 * (li + log_var[None])).sum(-1)
        out.append(torch.exp(-dist))
    return torch.cat(out)


@register_score(
    "gbc", title="GBC", options=GbcOptions,
    summary="GBC: minus the summed Bhattacharyya overlap of per-class Gaussians in PCA space",
    citation="Pandy et al., Transferability Estimation using Bhattacharyya Class Separability, CVPR 2022")
def gbc(inputs: ScoreInputs, opts: GbcOptions) -> ScoreResult:
    z = inputs.features
    if opts.pca_dim:
        z = principal_scores(z, components=opts.pca_dim)
    means, var = class_gaussians(z, inputs.labels, inputs.num_classes, opts)
    bc = bhattacharyya_matrix(means, var)
    bc.fill_diagonal_(0)
    k = inputs.num_classes
    return ScoreResult("gbc", -float(bc.sum()), details={
        "reduced_dim": int(z.shape[1]),
        "mean_pair_coefficient": float(bc.sum() / (k * (k - 1))),
        "single_sample_classes": int((inputs.class_counts() == 1).sum()),
    })


def weighted_principal_scores(x: torch.Tensor, w: torch.Tensor, components: int) -> torch.Tensor:
    """``principal_scores(x repeated w times, components)`` for the distinct rows ``x`` (one score row each:
    a row's copies share it). The eigenproblem is W^1/2 Xc Xc^T W^1/2 (its eigenvector u gives the row j the
    score u_j / sqrt(w_j) sqrt(l)) or Xc^T W Xc, whichever is smaller; the D - rank directions that the
    repeated rows' N x N matrix has in addition have eigenvalue 0 and are never among the kept ones."""
    n = w.sum()
    xc = x - (w @ x) / n
    root = w.sqrt()
    by_scatter = x.shape[0] > x.shape[1]
    lam, vectors = torch.linalg.eigh(gram(xc * root[:, None], samples=not by_scatter))
    lam, vectors = lam.flip(0).clamp_min(0), vectors.flip(1)
    if not bool(lam.sum() > 0):
        return xc.new_zeros(x.shape[0], 1)
    q = max(1, min(components, int((lam > lam[0] * 1e-12).sum())))
    if by_scatter:
        return xc @ vectors[:, :q]
    return vectors[:, :q] / root[:, None] * lam[:q].sqrt()


@register_draws("gbc")
def gbc_draws(inputs: ScoreInputs, counts: torch.Tensor, opts: GbcOptions) -> list[float] | None:
    """GBC of B resamples (``counts`` [B, N]): the PCA and the class Gaussians of each resample's distinct
    rows with their multiplicities as weights. Not handled (None): PCA to more components than the smaller
    side of the problem, where the explicit eigensolver's zero eigenvalues could be among the kept ones."""
    z0, y, k = inputs.features, inputs.labels, inputs.num_classes
    values = []
    for w in counts:
        keep = (w > 0).nonzero().squeeze(1)
        wk, yk = w[keep], y[keep]
        if opts.pca_dim and opts.pca_dim >= min(keep.numel(), z0.shape[1]):
            return None
        z = weighted_principal_scores(z0[keep], wk, opts.pca_dim) if opts.pca_dim else z0[keep]
        n_k = torch.zeros(k, dtype=z.dtype, device=z.device).index_add_(0, yk, wk)
        means = torch.zeros(k, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, yk, wk[:, None] * z)
        means = means / n_k[:, None]
        centred = z - means[yk]
        var = torch.zeros_like(means).index_add_(0, yk, wk[:, None] * centred * centred) / n_k[:, None]
        mu = (wk @ z) / wk.sum()
        total = ((wk @ (z - mu) ** 2) / wk.sum()).mean()
        floor = opts.var_floor * (total if total > 0 else torch.ones_like(total))
        var = var.clamp_min(floor)
        if opts.gaussian_type == "spherical":
            var = var.mean(1, keepdim=True).expand_as(var)
        bc = bhattacharyya_matrix(means, var)
        bc.fill_diagonal_(0)
        values.append(-float(bc.sum()))
    return values
