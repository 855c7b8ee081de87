"""TransRate: mutual information between features and labels, estimated by coding rates.

Huang, Huang, Rong, Yang, Wei. "Frustratingly Easy Transferability Estimation", ICML 2022.

    TransRate = R(Z, eps) - R(Z | Y, eps)
    R(Z, eps)     = 1/2 logdet(I_d + Z^T Z / (n eps))              (Z centred, normalised)
    R(Z | Y, eps) = sum_k w_k R(Z_k, eps),  Z_k the rows of class k, w_k = 1/K (or n_k / n)

R(Z) is the number of nats needed to code Z up to distortion eps; R(Z|Y) the same per class. Their
difference is large when the features spread out overall but are compact inside each class.
docs/baselines.md has the details and the choices this module makes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval, OneOf
from ._stats import class_counts
from .registry import ScoreResult, register_draws, register_score
from .validation import ScoreInputs

NORMALIZATIONS = ("mean_norm", "l2", "none")
CLASS_WEIGHTS = ("uniform", "proportional")


@dataclass
class TransRateOptions(Constrained):
    eps: float = 1e-4
    """Distortion eps of the coding rate (the paper's code divides Z^T Z by n * eps)."""
    normalize: str = "mean_norm"
    """Feature scaling after centring: mean_norm (mean squared sample norm = 1; makes the score
    independent of the feature scale) | l2 (each sample to unit length, then centred) | none."""
    class_weights: str = "uniform"
    """Weights of the per-class rates in R(Z|Y): uniform (1/K, the paper's code) | proportional (n_k/n)."""

    constraints = {"eps": Interval(float, 0, closed="neither"), "normalize": OneOf(*NORMALIZATIONS),
                   "class_weights": OneOf(*CLASS_WEIGHTS)}


def prepare_features(z: torch.Tensor, how: str) -> torch.Tensor:
    """Centre (and scale) the features as TransRate expects."""
    if how == "l2":
        norms = z.norm(dim=1, keepdim=True)
        z = z / torch.where(norms > 0, norms, torch.ones_like(norms))
    z = z - z.mean(0)
    if how == "mean_norm":
        rms = z.pow(2).sum(1).mean().sqrt()
        if rms > 0:  # constant features stay all zero: every rate is 0
            z = z / rms
    return z


def coding_rate(z: torch.Tensor, eps: float) -> torch.Tensor:
    """1/2 logdet(I_d + z^T z / (n eps)) by a Cholesky factor of the smaller Gram matrix.

    logdet(I_d + A^T A) = logdet(I_n + A A^T), so an n x n or d x d matrix serves, whichever is smaller.
    Its eigenvalues are >= 1, so the Cholesky factorisation is stable, and it costs a fraction of an
    eigendecomposition.
    """
    n, d = z.shape
    gram = z @ z.T if n < d else z.T @ z
    m = gram / (n * eps)
    m.diagonal().add_(1.0)
    return torch.linalg.cholesky(m).diagonal().log().sum()


def transrate_parts(z: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: TransRateOptions):
    """(R(Z), R(Z|Y), per-class rates) on features already prepared."""
    n = z.shape[0]
    rz = coding_rate(z, opts.eps)
    counts = class_counts(labels, num_classes)
    rates = torch.stack([coding_rate(z[labels == k], opts.eps) for k in range(num_classes)])
    if opts.class_weights == "uniform":
        weights = torch.full_like(rates, 1.0 / num_classes)
    else:
        weights = counts.to(rates.dtype) / n
    return rz, (weights * rates).sum(), rates


@register_score(
    "transrate", title="TransRate", options=TransRateOptions,
    summary="TransRate: coding rate of all features minus the mean coding rate per class",
    citation="Huang et al., Frustratingly Easy Transferability Estimation, ICML 2022")
def transrate(inputs: ScoreInputs, opts: TransRateOptions) -> ScoreResult:
    z = prepare_features(inputs.features, opts.normalize)
    rz, rzy, rates = transrate_parts(z, inputs.labels, inputs.num_classes, opts)
    return ScoreResult("transrate", float(rz - rzy), details={
        "rate_all": float(rz),
        "rate_given_labels": float(rzy),
        "class_rates": rates.tolist(),
    })


def _weighted_rate(g: torch.Tensor, root: torch.Tensor, n: float, eps: float) -> torch.Tensor:
    """``coding_rate`` of rows repeated root**2 times, from the Gram matrix ``g`` of the distinct rows:
    logdet(I_D + Z^T W Z / (n eps)) = logdet(I + W^1/2 Z Z^T W^1/2 / (n eps))."""
    m = root[:, None] * g * root / (n * eps)
    m.diagonal().add_(1.0)
    return torch.linalg.cholesky(m).diagonal().log().sum()


@register_draws("transrate")
def transrate_draws(inputs: ScoreInputs, counts: torch.Tensor, opts: TransRateOptions) -> list[float]:
    """TransRate of B resamples (``counts`` [B, N]): per resample, the Gram matrix of its distinct rows
    (prepared as ``prepare_features`` prepares the repeated ones: the centring and the scale are weighted)
    gives the coding rate of all rows and, by its diagonal blocks, of every class."""
    z0, y, k = inputs.features, inputs.labels, inputs.num_classes
    if opts.normalize == "l2":
        norms = z0.norm(dim=1, keepdim=True)
        z0 = z0 / torch.where(norms > 0, norms, torch.ones_like(norms))
    values = []
    for w in counts:
        keep = (w > 0).nonzero().squeeze(1)
        wk, yk = w[keep], y[keep]
        n = float(wk.sum())
        z = z0[keep] - (wk @ z0[keep]) / n
        if opts.normalize == "mean_norm":
            rms = ((wk @ z.pow(2).sum(1)) / n).sqrt()
            if rms > 0:
                z = z / rms
        small = z.shape[0] <= z.shape[1]
        g = z @ z.T if small else None
        root = wk.sqrt()

        def rate(rows):
            if small:
                return _weighted_rate(g[rows][:, rows], root[rows], float(wk[rows].sum()), opts.eps)
            zr = z[rows] * root[rows][:, None]
            m = zr.T @ zr / (float(wk[rows].sum()) * opts.eps)
            m.diagonal().add_(1.0)
            return torch.linalg.cholesky(m).diagonal().log().sum()

        rz = rate(torch.arange(keep.numel(), device=z.device))
        per_class = torch.zeros(k, dtype=z.dtype, device=z.device).index_add_(0, yk, wk)
        rates = torch.stack([rate((yk == c).nonzero().squeeze(1)) for c in range(k)])
        weights = torch.full_like(rates, 1.0 / k) if opts.class_weights == "uniform" else per_class / n
        values.append(float(rz - (weights * rates).sum()))
    return values
