"""NCE: negative conditional entropy of the target labels given the source model's hard predictions.

Tran et al., Transferability and Hardness of Supervised Classification Tasks, ICCV 2019. With
z_i = argmax of the source logits of sample i and the empirical joint P(y, z) of (label, prediction):
    NCE = -H(Y | Z) = sum_{y, z} P(y, z) log( P(y, z) / P(z) )
It is <= 0; 0 when the source prediction determines the label, -H(Y) when it is the same for every sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained
from .registry import ScoreResult, register_draws, register_score
from .validation import ScoreInputs


@dataclass
class NceOptions(Constrained):
    """NCE has no options: the source labels are the argmax of the source logits (ties: lowest index)."""


def negative_conditional_entropy(target: torch.Tensor, source: torch.Tensor, num_target: int,
                                 num_source: int) -> torch.Tensor:
    """-H(target | source) of two label vectors (values 0..num_target-1 and 0..num_source-1), in nats."""
    n = target.numel()
    counts = torch.bincount(target * num_source + source, minlength=num_target * num_source)
    counts = counts.view(num_target, num_source).to(torch.float64)
    per_source = counts.sum(0, keepdim=True).expand_as(counts)
    seen = counts > 0     # 0 log 0 = 0
    return (counts[seen] * torch.log(counts[seen] / per_source[seen])).sum() / n


@register_score(
    "nce", title="NCE", options=NceOptions, needs_source_logits=True, needs_features=False,
    summary="NCE: negative conditional entropy of the target labels given the source model's argmax class",
    citation="Tran et al., Transferability and Hardness of Supervised Classification Tasks, ICCV 2019")
def nce(inputs: ScoreInputs, opts: NceOptions) -> ScoreResult:
    logits = inputs.source_logits
    z = logits.argmax(1)
    value = negative_conditional_entropy(inputs.labels, z, inputs.num_classes, logits.shape[1])
    return ScoreResult("nce", float(value), details={
        "num_source_classes": int(logits.shape[1]),
        "source_classes_used": int(torch.unique(z).numel()),
    })


@register_draws("nce")
def nce_draws(inputs: ScoreInputs, counts: torch.Tensor, opts: NceOptions) -> list[float]:
    """NCE of B resamples (``counts`` [B, N]): the joint counts of (label, argmax) are the multiplicities
    summed per pair; the argmax does not depend on the resample."""
    logits, k = inputs.source_logits, inputs.num_classes
    c = logits.shape[1]
    pair = inputs.labels * c + logits.argmax(1)
    values = []
    for w in counts:
        joint = torch.bincount(pair, weights=w, minlength=k * c).view(k, c)
        per_source = joint.sum(0, keepdim=True).expand_as(joint)
        seen = joint > 0
        values.append(float((joint[seen] * torch.log(joint[seen] / per_source[seen])).sum() / w.sum()))
    return values
