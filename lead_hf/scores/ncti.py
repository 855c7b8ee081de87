"""NCTI: how far a model's features on the target set are from neural collapse (Wang et al., ICCV 2023).

Neural collapse is the geometry that fine-tuning drives the last layer towards: each class collapses to its
mean, the class means form a simplex equiangular tight frame, and the classifier becomes the nearest class
centre. NCTI measures one term for each, in a linear discriminant (LDA) space of the top principal components
of the features (steps as in the authors' code):

1. PCA to ``pca_dim`` components. The LDA is regularised only for low-variance features: with s the sum
   of the top ``shrinkage_components`` PCA variances (unbiased), a = exp(-s); if a <= 1e-10 the LDA is
   unregularised (scikit-learn's ``svd`` solver: the pooled within-class covariance whitened, directions of
   singular value < 1e-4 dropped), else it is shrunk by a (``eigen`` solver: (1 - a) S + a tr(S)/p I for the
   class and total covariances). Covariances are biased (1/N), as in scikit-learn 1.9.
2. ``seli`` = ||Z - mean(Z)||_* : the nuclear norm of the features projected on the r = min(K-1, p) LDA
   directions (the simplex-ETF / SELI term: large when the class means spread over many directions).
   ``ncc`` = mean_i p(y_i | x_i) of the LDA posterior (the nearest-centre term).
   ``vc`` = log sum_c ||P_c||_* with P_c the [n_c, K] posteriors of class c (within-class variability:
   small when every sample of a class gets the same prediction).
3. The authors min-max normalise each term over the models being ranked and score ncc + seli - vc
   (``lead_hf.scores.ncti.ncti_over_models``). The registry scores one model at a time, so the value here
   normalises each term by bounds that depend on the split only (the same for every model, so the order of
   the models does not depend on which others are scored):
       value = ncc + (1 - ||Z_within||_* / ||Z - mean(Z)||_*) - (vc - vc_min) / (vc_max - vc_min)
   where Z_within are the projected features minus their class means (so the second term is the share of
   the nuclear norm due to the class structure, in [0, 1]) and vc_min = log sum_c sqrt(n_c / K),
   vc_max = log sum_c sqrt(n_c min(n_c, K)) are the smallest and largest values vc can take on this split.
docs/baselines.md has the choices and the comparison with the public code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval
from ._hub import combine_over_models
from ._stats import class_counts, class_means, principal_scores
from .registry import ScoreResult, register_score
from .validation import ScoreInputs

NO_SHRINKAGE_BELOW = 1e-10      # the authors' floor: exp(-s) at or below it means the unregularised LDA
_RANK_TOL = 1e-4                # scikit-learn's LDA ``tol`` on singular values (squared on eigenvalues)
HUB_WEIGHTS = {"ncc": 1.0, "seli": 1.0, "vc": -1.0}
"""The authors' combination of the min-max normalised terms (evaluate_metric, ``mcscore + mascore - cpscore``)."""


@dataclass
class NctiOptions(Constrained):
    pca_dim: int = 64
    """Principal components kept before the LDA (the authors' 64; fewer when the features have lower rank)."""
    shrinkage_components: int = 32
    """The LDA's regularisation is exp(-sum of the top this-many PCA variances) (the authors' 32)."""
    shrinkage: float | None = None
    """None: the authors' rule above (no regularisation when exp(-s) <= 1e-10, which makes the value
    invariant to the scale of features with large variance, and depend on it otherwise). A number in
    (0, 1]: always the shrunk LDA with that strength (then the value is scale-invariant)."""

    constraints = {"pca_dim": Interval(int, 1), "shrinkage_components": Interval(int, 1),
                   "shrinkage": (Interval(float, 0, 1, closed="right"), None)}


@dataclass
class LdaFit:
    projected: torch.Tensor      # [N, r] features on the LDA directions (not centred)
    log_posterior: torch.Tensor  # [N, K]
    solver: str                  # "svd" (unregularised) | "eigen" (shrunk)
    shrinkage: float             # 0 for svd


def nuclear_norm(z: torch.Tensor) -> float:
    """||z||_* (sum of singular values; an SVD rather than the square roots of a Gram matrix's eigenvalues,
    which lose the small singular values to rounding)."""
    if z.numel() == 0:
        return 0.0
    return float(torch.linalg.svdvals(z).sum())


def lda_svd(z: torch.Tensor, labels: torch.Tensor, k: int, counts: torch.Tensor, means: torch.Tensor) -> LdaFit:
    """Unregularised LDA as scikit-learn's ``svd`` solver: whiten with the pooled within-class covariance
    (1/N, as scikit-learn 1.9; older releases divided by N - K), columns scaled by their within-class
    std first and directions with singular value < 1e-4 dropped; then keep the whitened between-class
    directions (singular value >= 1e-4 x the largest)."""
    n, p = z.shape
    priors = counts / n
    within = z - means[labels]
    std = within.std(0, unbiased=False)
    # a column constant inside every class leaves rounding residue, not 0: treat it as constant (scikit-learn
    # tests std == 0 and would whiten the residue into an O(1) direction)
    std = torch.where(std > 1e-12 * z.abs().max(), std, torch.ones_like(std))
    scaled = within / std
    s2, v = torch.linalg.eigh(scaled.T @ scaled / n)              # squared singular values of Xc/(std sqrt(N))
    keep = s2 > _RANK_TOL ** 2
    scalings = (v[:, keep] / std[:, None]) / s2[keep].sqrt()      # [p, r1]: whitening
    xbar = priors @ means
    between = ((n * priors / max(k - 1, 1)).sqrt()[:, None] * (means - xbar)) @ scalings   # [K, r1]
    b2, w = torch.linalg.eigh(between.T @ between)
    b2, w = b2.flip(0), w.flip(1)                                 # descending
    rank = int((b2 > (_RANK_TOL ** 2) * b2[0].clamp_min(0)).sum()) if b2.numel() else 0
    scalings = scalings @ w[:, :rank]                             # [p, r]
    projected = (z - xbar) @ scalings
    centres = (means - xbar) @ scalings                           # [K, r]
    logits = projected @ centres.T - 0.5 * (centres * centres).sum(1) + priors.log()
    return LdaFit(projected, torch.log_softmax(logits, 1), "svd", 0.0)


def lda_eigen(z: torch.Tensor, labels: torch.Tensor, k: int, counts: torch.Tensor, means: torch.Tensor,
              shrinkage: float) -> LdaFit:
    """Shrunk LDA as scikit-learn's ``eigen`` solver: Sw = sum_k pi_k shrunk(Cov_k), St = shrunk(Cov),
    shrunk(S) = (1 - a) S + a tr(S)/p I (biased covariances); the posterior uses Sw^-1, the projection the
    top min(K-1, p) generalised eigenvectors of (St - Sw, Sw), normalised to v^T Sw v = 1."""
    n, p = z.shape
    priors = counts / n
    within = z - means[labels]
    sw = within.T @ within / n                       # sum_k pi_k Cov_k, and shrinkage is linear in S
    centred = z - z.mean(0)
    st = centred.T @ centred / n

    def shrunk(s: torch.Tensor, fallback: float) -> torch.Tensor:
        mu = float(torch.trace(s)) / p
        out = (1 - shrinkage) * s
        out.diagonal().add_(shrinkage * (mu if mu > 0 else fallback))
        return out

    scale = float(torch.trace(st)) / p
    st_r = shrunk(st, 1.0)
    sw_r = shrunk(sw, scale if scale > 0 else 1.0)  # every class a single point: shrink towards the total scale
    chol = torch.linalg.cholesky(sw_r)
    coef = torch.cholesky_solve(means.T.contiguous(), chol)      # Sw^-1 mu_k  [p, K]
    logits = z @ coef - 0.5 * (means * coef.T).sum(1) + priors.log()
    half = torch.linalg.solve_triangular(chol, st_r - sw_r, upper=False)
    e, u = torch.linalg.eigh(torch.linalg.solve_triangular(chol, half.T, upper=False))
    u = u[:, torch.argsort(e, descending=True)[:min(k - 1, p)]]
    directions = torch.linalg.solve_triangular(chol.T, u, upper=True)
    return LdaFit(z @ directions, torch.log_softmax(logits, 1), "eigen", shrinkage)


def class_prediction_nuclear_norms(prob: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """||P_c||_* for every class c, P_c the rows of ``prob`` [N, K] of class c."""
    order = torch.argsort(labels, stable=True)
    counts = class_counts(labels, k).tolist()
    out = prob.new_zeros(k)
    start = 0
    for c, m in enumerate(counts):
        out[c] = nuclear_norm(prob[order[start:start + m]])
        start += m
    return out


@register_score(
    "ncti", title="NCTI", options=NctiOptions,
    summary="NCTI: nearness to neural collapse in an LDA space (nearest-centre accuracy, simplex-ETF nuclear "
            "norm, within-class collapse of the predictions)",
    citation="Wang et al., How Far Pre-trained Models Are from Neural Collapse on the Target Dataset Informs "
             "their Transferability, ICCV 2023")
def ncti(inputs: ScoreInputs, opts: NctiOptions) -> ScoreResult:
    x, y, k = inputs.features, inputs.labels, inputs.num_classes
    n = inputs.num_samples
    z = principal_scores(x, components=opts.pca_dim)
    variances = (z * z).sum(0) / (n - 1)                      # principal_scores' columns are centred
    top = float(variances[:opts.shrinkage_components].sum())
    counts = class_counts(y, k, z.dtype)
    means = class_means(z, y, k, counts)
    if opts.shrinkage is None:
        rule = math.exp(-top)
        fit = lda_svd(z, y, k, counts, means) if rule <= NO_SHRINKAGE_BELOW else lda_eigen(z, y, k, counts, means, rule)
    else:
        fit = lda_eigen(z, y, k, counts, means, opts.shrinkage)
    zc = fit.projected - fit.projected.mean(0)
    seli = nuclear_norm(zc)
    seli_within = nuclear_norm(fit.projected - class_means(fit.projected, y, k, counts)[y])
    rows = torch.arange(n, device=x.device)
    ncc = float(fit.log_posterior[rows, y].exp().mean())
    prob = fit.log_posterior.exp()
    vc = math.log(max(float(class_prediction_nuclear_norms(prob, y, k).sum()), 1e-300))
    n_c = counts.tolist()
    vc_min = math.log(sum(math.sqrt(m / k) for m in n_c))
    vc_max = math.log(sum(math.sqrt(m * min(m, k)) for m in n_c))
    vc_position = min(max((vc - vc_min) / (vc_max - vc_min), 0.0), 1.0) if vc_max > vc_min else 0.0
    class_share = min(max(1.0 - seli_within / seli, 0.0), 1.0) if seli > 0 else 0.0
    return ScoreResult("ncti", ncc + class_share - vc_position, details={
        "terms": {"seli": seli, "ncc": ncc, "vc": vc},
        "class_share_of_seli": class_share,
        "vc_position": vc_position,
        "solver": fit.solver,
        "shrinkage": fit.shrinkage,
        "pca_dim": int(z.shape[1]),
        "lda_dim": int(fit.projected.shape[1]),
        "top_pca_variance": top,
    })


def ncti_over_models(results) -> dict[str, float]:
    """The authors' NCTI over a set of models: {model: minmax(ncc) + minmax(seli) - minmax(vc)} from
    {model: ScoreResult of ``ncti`` (or its details)} of the same split."""
    return combine_over_models(results, HUB_WEIGHTS)
