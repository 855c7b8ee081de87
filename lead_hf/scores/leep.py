"""LEEP: log expected empirical prediction (Nguyen et al., ICML 2020).

With theta_i = softmax(source logits of sample i) over the C source classes z:
    P(y, z) = 1/N sum_{i: y_i = y} theta_i(z)           empirical joint of target label and source class
    P(y | z) = P(y, z) / sum_y' P(y', z)                  empirical conditional
    LEEP = 1/N sum_i log( sum_z P(y_i | z) theta_i(z) )   mean log-likelihood of the "expected empirical
                                                          predictor" on the training split
It is <= 0; 0 when the source classes determine the labels with certainty, and -H(Y) (the entropy of
the label marginal) when the source predictions carry no information.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval
from .registry import ScoreResult, register_draws, register_score
from .validation import ScoreInputs

# rows of source logits turned into probabilities at a time: keeps memory at O(chunk * C) when N * C
# (e.g. 50k samples x 21k ImageNet-21k classes) would not fit twice
_CHUNK = 8192


@dataclass
class LeepOptions(Constrained):
    temperature: float = 1.0
    """Softmax temperature applied to the source logits; 1 uses the model's own probabilities (the paper)."""

    constraints = {"temperature": Interval(float, 0, closed="neither")}


def _softmax_chunks(logits: torch.Tensor, temperature: float = 1.0):
    for start in range(0, logits.shape[0], _CHUNK):
        yield start, torch.softmax(logits[start:start + _CHUNK] / temperature, dim=1)


def leep_from_chunks(chunks, labels: torch.Tensor, num_classes: int, num_sources: int):
    """LEEP from source probabilities given as a re-iterable of (start row, probabilities [n, C]) chunks.

    Returns (LEEP, the empirical joint P(y, z) [K, C]). Two passes: the joint, then the
    log-likelihood. The argument of the log is bounded below: the sample's most probable source class
    z* has theta(z*) >= 1/C and P(y_i | z*) >= theta_i(z*) / (N P(z*)) > 0, so no clamp is needed.
    """
    n = labels.numel()
    joint = None
    for start, probs in chunks():
        if joint is None:
            joint = torch.zeros(num_classes, num_sources, dtype=probs.dtype, device=probs.device)
        joint.index_add_(0, labels[start:start + probs.shape[0]], probs)
    joint /= n
    marginal = joint.sum(0)
    # a source class no sample puts mass on has P(z) = 0 and contributes nothing (theta(z) = 0 too)
    cond = torch.where(marginal > 0, joint / marginal.clamp_min(1e-300), torch.zeros_like(joint))
    total = joint.new_zeros(())
    for start, probs in chunks():
        y = labels[start:start + probs.shape[0]]
        if num_sources <= num_classes:   # the cheaper of [n, C] and [n, K] intermediates
            eep = (probs * cond[y]).sum(1)
        else:
            eep = (probs @ cond.T).gather(1, y[:, None])[:, 0]
        total = total + torch.log(eep).sum()
    return total / n, joint


def leep_from_probabilities(probs: torch.Tensor, labels: torch.Tensor, num_classes: int):
    """LEEP of source-class probabilities ``probs`` [N, C] (rows summing to 1). Returns (LEEP, P(y, z))."""
    return leep_from_chunks(lambda: iter([(0, probs)]), labels, num_classes, probs.shape[1])


@register_score(
    "leep", title="LEEP", options=LeepOptions, needs_source_logits=True, needs_features=False,
    summary="LEEP: mean log-likelihood of the source model's predictions mapped to the target labels "
            "through their empirical conditional",
    citation="Nguyen et al., LEEP: A New Measure to Evaluate Transferability of Learned Representations, "
             "ICML 2020")
def leep(inputs: ScoreInputs, opts: LeepOptions) -> ScoreResult:
    logits = inputs.source_logits
    value, joint = leep_from_chunks(lambda: _softmax_chunks(logits, opts.temperature), inputs.labels,
                                   inputs.num_classes, logits.shape[1])
    return ScoreResult("leep", float(value), details={
        "num_source_classes": int(logits.shape[1]),
        # accuracy of mapping each source class to its most frequent target label: sum_z max_y P(y, z)
        "mapped_accuracy": float(joint.max(0).values.sum()),
    })


@register_draws("leep")
def leep_draws(inputs: ScoreInputs, counts: torch.Tensor, opts: LeepOptions) -> torch.Tensor:
    """LEEP of B resamples (``counts`` [B, N]: each row's multiplicity): the joint is a weighted sum of the
    softmaxes, which do not depend on the resample. Per class k, the rows of k give the joint's row k of
    every resample at once (counts [B, n_k] @ probabilities [n_k, C]); the log-likelihood sums the same
    rows with the same weights."""
    logits, y, k = inputs.source_logits, inputs.labels, inputs.num_classes
    c = logits.shape[1]
    members = [(y == j).nonzero().squeeze(1) for j in range(k)]

    def blocks():  # (class, its weights [B, m], its probabilities [m, C]) in row chunks
        for j, rows in enumerate(members):
            for start in range(0, rows.numel(), _CHUNK):
                part = rows[start:start + _CHUNK]
                yield j, counts[:, part], torch.softmax(logits[part] / opts.temperature, dim=1)

    joint = logits.new_zeros(counts.shape[0], k, c)
    for j, w, probs in blocks():
        joint[:, j] += w @ probs
    n = counts.sum(1)
    joint /= n[:, None, None]
    marginal = joint.sum(1, keepdim=True)
    cond = torch.where(marginal > 0, joint / marginal.clamp_min(1e-300), torch.zeros_like(joint))
    total = logits.new_zeros(counts.shape[0])
    for j, w, probs in blocks():
        eep = probs @ cond[:, j].T                      # [m, B]: sum_z theta_i(z) P_b(y = j | z)
        # a row a resample leaves out has weight 0 and may have eep = 0 there (log 0 = -inf)
        total += torch.where(w > 0, w * torch.log(eep.T.clamp_min(1e-300)), torch.zeros_like(w)).sum(1)
    return total / n
