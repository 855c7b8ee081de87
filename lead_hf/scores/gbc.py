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
from ._stats import class_counts, class_means, principal_scores
from .registry import ScoreResult, register_score
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
