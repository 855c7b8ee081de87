"""ETran: energy-based transferability estimation (Gholami et al., ICCV 2023).

Three terms, summed (the paper's S = S_en + S_lda + S_svd):

- energy: the mean of logsumexp over the outputs of each sample, over the ``energy_fraction`` of samples
  with the lowest values (the authors' evaluation: the lowest 0.5 %). logsumexp is minus the free energy of
  an energy-based model (Liu et al., NeurIPS 2020): high when the target samples look in-distribution. The
  authors' code takes it over the model's penultimate features (``energy_input="features"``, the default: it
  exists for every model, headless ones included); ``energy_input="source_logits"`` takes it over the source
  classifier's logits instead and drops the term for a model without them (``details["terms_used"]``).
- lda: the mean probability of the true class under a linear discriminant fitted on the features (the
  regularised LDA of SFDA's first pass, lambda = exp(-5 sigma_max(Sw))).
- svd: minus the mean squared residual of the one-hot labels regressed on the features through their
  truncated SVD (the fewest singular directions holding ``svd_energy`` of sum s^2):
  -(1/N) ||Y - U_r U_r^T Y||_F^2, in [-1, 0].

The authors' classification results combine only energy and lda, min-max normalised over the models being
ranked, 0.15 energy + 0.85 lda (``etran_over_models``). docs/baselines.md has what the public code does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval, Items, OneOf
from ._hub import combine_over_models
from ._stats import class_counts, class_means
from .logme import spectrum
from .registry import ScoreResult, register_score
from .sfda import class_logits, fisher_fit
from .validation import ScoreInputs

ETRAN_TERMS = ("energy", "lda", "svd")
ENERGY_INPUTS = ("features", "source_logits")
ENERGY_TAILS = ("lowest", "highest")
LDA_RULES = ("fisher", "euclidean")
HUB_ENERGY_WEIGHT = 0.15
"""The authors' weight of the min-max normalised energy (tw.py: 0.15 energy + 0.85 lda)."""


@dataclass
class ETranOptions(Constrained):
    terms: tuple[str, ...] = ETRAN_TERMS
    """The terms summed into the value: energy, lda, svd (the paper's S_en + S_lda + S_svd)."""
    energy_input: str = "features"
    """What the energy's logsumexp runs over: features (the penultimate features, as the authors' code; every
    model has them) | source_logits (the source classifier's logits; the term is then left out for a
    model scored without them, which makes its value not comparable with models that have them)."""
    energy_fraction: float = 0.005
    """Fraction of the samples whose logsumexp is averaged (at least one sample): the authors' 0.5 %."""
    energy_tail: str = "lowest"
    """Which samples: lowest (the authors' 'bot') | highest logsumexp."""
    lda: str = "fisher"
    """fisher: the regularised LDA (Sw shrunk by lambda = exp(-5 sigma_max(Sw)), SFDA's first pass), as the
    paper describes | euclidean: softmax(x . mu_k - |mu_k|^2 / 2 + log pi_k), what the authors' code
    computes (its eigenvectors come from numpy's symmetric eigh of the non-symmetric Sw^-1 Sb, an
    orthonormal basis whatever the matrix, so its coef_ = means E E^T are the class means)."""
    regularization_decay: float = 5.0
    """a in the fisher LDA's lambda = exp(-a sigma_max(Sw)) (SFDA's 5)."""
    svd_energy: float = 0.8
    """The svd term keeps the fewest singular directions of the features holding this fraction of sum s^2
    (1: all of them, an exact least-squares fit, which saturates at 0 when N <= D)."""

    constraints = {"terms": Items(OneOf(*ETRAN_TERMS), min_items=1, distinct=True),
                   "energy_input": OneOf(*ENERGY_INPUTS),
                   "energy_fraction": Interval(float, 0, 1, closed="right"),
                   "energy_tail": OneOf(*ENERGY_TAILS), "lda": OneOf(*LDA_RULES),
                   "regularization_decay": Interval(float, 0, closed="neither"),
                   "svd_energy": Interval(float, 0, 1, closed="right")}

    def __post_init__(self):
        if isinstance(self.terms, list):
            self.terms = tuple(self.terms)
        super().__post_init__()


def energy_term(outputs: torch.Tensor, fraction: float, tail: str) -> tuple[float, int]:
    """(mean logsumexp over the selected tail of the rows, rows averaged)."""
    values = torch.logsumexp(outputs, dim=1)
    n = values.numel()
    m = min(n, max(1, math.floor(fraction * n + 1e-9)))
    chosen = torch.topk(values, m, largest=tail == "highest").values   # the values, whatever the tie order
    return float(chosen.mean()), m


def lda_term(x: torch.Tensor, labels: torch.Tensor, k: int, rule: str, decay: float) -> tuple[float, float | None]:
    """(mean probability of the true class, the fisher LDA's lambda or None)."""
    rows = torch.arange(x.shape[0], device=x.device)
    if rule == "fisher":
        fit = fisher_fit(x, labels, k, None, decay, None)
        logits, lam = class_logits(x, fit), fit.regularization
    else:
        counts = class_counts(labels, k, x.dtype)
        means = class_means(x, labels, k, counts)
        logits = x @ means.T - 0.5 * (means * means).sum(1) + (counts / x.shape[0]).log()
        lam = None
    return float(torch.log_softmax(logits, 1)[rows, labels].exp().mean()), lam


def svd_term(x: torch.Tensor, labels: torch.Tensor, k: int, energy: float) -> tuple[float, int]:
    """(-(1/N) ||Y - U_r U_r^T Y||^2 for the one-hot Y, r): U_r the top left singular vectors of x holding
    ``energy`` of the squared singular values."""
    n = x.shape[0]
    sigma, proj, _ = spectrum(x, labels, k)              # nonzero eigenvalues of x^T x (ascending), U^T Y
    if sigma.numel() == 0:
        return -1.0, 0
    order = torch.argsort(sigma, descending=True)
    sigma, proj = sigma[order], proj[order]
    share = torch.cumsum(sigma, 0) / sigma.sum()
    r = min(int((share < energy - 1e-12).sum()) + 1, sigma.numel())
    explained = float((proj[:r] ** 2).sum())
    return -max(n - explained, 0.0) / n, r


@register_score(
    "etran", title="ETran", options=ETranOptions,
    summary="ETran: energy of the outputs (logsumexp) + LDA true-class probability + SVD regression fit",
    citation="Gholami et al., ETran: Energy-Based Transferability Estimation, ICCV 2023")
def etran(inputs: ScoreInputs, opts: ETranOptions) -> ScoreResult:
    x, y, k = inputs.features, inputs.labels, inputs.num_classes
    terms: dict[str, float] = {}
    details: dict = {"energy_input": opts.energy_input}
    if "energy" in opts.terms:
        outputs = x if opts.energy_input == "features" else inputs.source_logits
        if outputs is None:
            details["energy_skipped"] = "no source logits were passed (energy_input='source_logits')"
        else:
            terms["energy"], details["energy_samples"] = energy_term(outputs, opts.energy_fraction, opts.energy_tail)
    if "lda" in opts.terms:
        terms["lda"], details["lda_regularization"] = lda_term(x, y, k, opts.lda, opts.regularization_decay)
    if "svd" in opts.terms:
        terms["svd"], details["svd_rank"] = svd_term(x, y, k, opts.svd_energy)
    if not terms:
        raise ValueError("etran has no term to compute: terms=('energy',) with energy_input='source_logits' needs "
                         "source_logits=<array [N, C]>; pass them, or add lda/svd to terms")
    details["terms"] = terms
    details["terms_used"] = [t for t in ETRAN_TERMS if t in terms]
    return ScoreResult("etran", sum(terms[t] for t in details["terms_used"]), details=details)


def etran_over_models(results, energy_weight: float = HUB_ENERGY_WEIGHT) -> dict[str, float]:
    """The authors' ETran over a set of models: {model: w minmax(energy) + (1 - w) minmax(lda)} from
    {model: ScoreResult of ``etran`` (or its details)} of the same split, w = 0.15 (their tw.py)."""
    return combine_over_models(results, {"energy": energy_weight, "lda": 1.0 - energy_weight})
