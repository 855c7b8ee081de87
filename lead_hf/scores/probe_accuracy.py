"""Probe accuracy: out-of-fold accuracy of a linear probe on the frozen features.

The probe is the one LEAD starts from (:func:`lead_hf.scores._probe.probe_decision`): one-vs-rest linear SVMs
on the standardised features, least squares in closed form by default, each fold predicted by the probe
fitted on the other folds. The score is the fraction of samples whose own class gets the highest decision.
Linear probing is the most common proxy for fine-tuning; this is its cheapest exact form here.

A tie for the highest decision (constant features give every class the same decision) counts 1/t for a
sample whose class is one of the t tied classes: the expected accuracy of a uniformly random tie-break,
which does not depend on how the classes are named or numbered. ``details["cross_entropy"]`` is the mean
negative log-likelihood of the decisions turned into probabilities by one fitted temperature.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Boolean, Constrained, Interval, OneOf, OptionError
from ._linalg import GRAM_PRODUCTS
from ._probe import PROBE_FITS, PROBE_LOSSES, fit_logit_scale, probe_decision
from .registry import ScoreResult, register_score
from .validation import ScoreInputs


@dataclass
class ProbeAccuracyOptions(Constrained):
    fit: str = "out_of_fold"
    """out_of_fold (each fold predicted by the probe fitted on the other folds) | leave_one_out
    (least_squares only: exact, in closed form) | in_sample (training accuracy: optimistic, saturates at 1
    when N <= D)."""
    folds: int = 5
    """Stratified folds of the out-of-fold fit (dealt from a seeded order of the rows' values)."""
    loss: str = "least_squares"
    """least_squares (LS-SVM, closed form) | squared_hinge (scikit-learn LinearSVC's objective, by Newton)."""
    alpha: float | str = 0.01
    """least_squares ridge alpha relative to the data (x the mean eigenvalue of the Gram matrix of
    [features, 1]); 'gcv': chosen by generalised cross-validation. LEAD's default."""
    C: float | None = None
    """Absolute SVM regularisation C (alpha = 1 / (2C)); overrides alpha. None: alpha (least_squares) or
    1.0 (squared_hinge)."""
    standardize: bool = True
    """Z-score every feature first (the value is then invariant to the scale of each feature)."""
    seed: int = 0
    """Seed of the folds."""
    gram_products: str = "float64"
    """least_squares with N > D+1: precision of the products of the D x D Gram matrix (float32 halves its
    time; see LEAD's svm_gram_products)."""

    constraints = {"fit": OneOf(*PROBE_FITS), "folds": Interval(int, 2), "loss": OneOf(*PROBE_LOSSES),
                   "alpha": (Interval(float, 0, closed="neither"), "gcv"),
                   "C": (Interval(float, 0, closed="neither"), None), "standardize": Boolean(),
                   "seed": Interval(int, 0), "gram_products": OneOf(*GRAM_PRODUCTS)}

    def __post_init__(self):
        super().__post_init__()
        if self.fit == "leave_one_out" and self.loss != "least_squares":
            raise OptionError("fit", self.fit, "'out_of_fold' or 'in_sample' with loss='squared_hinge' (the "
                              "closed-form leave-one-out exists for the least-squares probe only)")


def tie_shared_accuracy(decision: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per sample: 1/t when its class is among the t classes with the highest decision, else 0."""
    top = decision == decision.max(1, keepdim=True).values
    hit = top[torch.arange(labels.numel(), device=labels.device), labels]
    return hit.to(decision.dtype) / top.sum(1).to(decision.dtype)


def calibrated_cross_entropy(decision: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean NLL of softmax(a x decision), a) with the temperature a >= 0 fitted to these decisions."""
    a = fit_logit_scale(decision, labels)
    log_p = torch.log_softmax(a * decision, 1)[torch.arange(labels.numel(), device=labels.device), labels]
    return float(-log_p.mean()), a


@register_score(
    "probe_accuracy", title="Probe accuracy", options=ProbeAccuracyOptions,
    summary="Probe accuracy: out-of-fold accuracy of a one-vs-rest linear probe (LS-SVM) on the features",
    citation="Linear evaluation protocol (Kornblith et al., Do Better ImageNet Models Transfer Better?, "
             "CVPR 2019); LS-SVM: Suykens & Vandewalle, Neural Processing Letters 1999")
def probe_accuracy(inputs: ScoreInputs, opts: ProbeAccuracyOptions) -> ScoreResult:
    decision, C = probe_decision(inputs.features, inputs.labels, inputs.num_classes, loss=opts.loss,
                                 fit=opts.fit, folds=opts.folds, seed=opts.seed, standardize=opts.standardize,
                                 C=opts.C, alpha=opts.alpha, gram_products=opts.gram_products)
    accuracy = float(tie_shared_accuracy(decision, inputs.labels).mean())
    cross_entropy, scale = calibrated_cross_entropy(decision, inputs.labels)
    return ScoreResult("probe_accuracy", accuracy, details={
        "accuracy": accuracy,
        "cross_entropy": cross_entropy,
        "logit_scale": scale,
        "C": float(C),
        "fit": opts.fit,
    })
