"""k-NN: leave-one-out accuracy of a k-nearest-neighbour vote on the frozen features.

Every sample is classified by the labels of its k nearest OTHER samples (cosine or Euclidean distance); the
score is the fraction classified correctly (or, ``soft=True``, the mean share of a sample's k neighbours
that carry its label: the k-NN estimate of the true class's probability). It needs no fitting and no
seed, and is the simplest check of how well the classes are separated locally in the feature space.

Ties are broken from the data alone, never from row positions or label names:
- neighbours at the same distance are ordered by the rows' rank in a seeded random projection of their
  features (``_order.projection_order``), so the k chosen do not depend on the order of the split;
- classes with the same number of votes: the winner is the class of the nearest neighbour among them.
The whole computation runs in that projection order, so a shuffled split gives the same distance matrix
block by block (the same BLAS calls on the same rows) and hence the same value to the last bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Boolean, Constrained, Interval, OneOf
from ._order import projection_order
from .registry import ScoreResult, register_score
from .validation import ScoreInputs

KNN_METRICS = ("cosine", "euclidean")
_BLOCK_ELEMS = 1 << 22   # distances held at once (a block of query rows x N): 32 MB in float64


@dataclass
class KnnOptions(Constrained):
    k: int = 20
    """Neighbours that vote (at most N - 1 are used). 20 as te-guide's k-NN score and DINO's k-NN evaluation."""
    metric: str = "euclidean"
    """Distance between feature rows: euclidean (as te-guide's k-NN score, scikit-learn's default) | cosine
    (1 - cosine similarity, as DINO's evaluation; an all-zero row is at distance 1 from every row)."""
    soft: bool = False
    """The value: False, the leave-one-out accuracy of the majority vote; True, the mean share of every
    sample's k neighbours that carry its label. Both are in details."""

    constraints = {"k": Interval(int, 1), "metric": OneOf(*KNN_METRICS), "soft": Boolean()}


def _distances(query: torch.Tensor, rows: torch.Tensor, query_sq, rows_sq, metric: str) -> torch.Tensor:
    """[b, N] distances (squared for euclidean: the same order) of the query block to every row."""
    if metric == "cosine":
        return 1 - query @ rows.T
    return (query_sq[:, None] + rows_sq[None, :] - 2 * (query @ rows.T)).clamp_min_(0)


def nearest_neighbours(x: torch.Tensor, k: int, metric: str, block_rows: int | None = None):
    """(indices [N, k], distances [N, k]) of every row's k nearest other rows, each row's neighbours in
    increasing distance, ties in the order of the rows of ``x`` (the caller passes rows in a canonical
    order). Blocks of ``block_rows`` query rows (default: ~4M distances per block)."""
    n = x.shape[0]
    if metric == "cosine":
        norms = x.norm(dim=1, keepdim=True)
        x = x / torch.where(norms > 0, norms, torch.ones_like(norms))
        sq = None
    else:
        sq = (x * x).sum(1)
    block = block_rows or max(1, _BLOCK_ELEMS // n)
    out_idx = torch.empty(n, k, dtype=torch.long, device=x.device)
    out_dist = torch.empty(n, k, dtype=x.dtype, device=x.device)
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = torch.arange(stop - start, device=x.device)
        dist = _distances(x[start:stop], x, None if sq is None else sq[start:stop], sq, metric)
        dist[rows, start + rows] = float("inf")                  # leave the sample itself out
        kth = torch.topk(dist, k, dim=1, largest=False).values[:, -1:]   # the values are unique, the indices not
        closer = dist < kth
        at_kth = dist == kth
        missing = k - closer.sum(1, keepdim=True)
        chosen = closer | (at_kth & (torch.cumsum(at_kth, 1) <= missing))   # ties at the k-th: the first columns
        idx = chosen.nonzero()[:, 1].view(stop - start, k)      # row-major: columns ascending within a row
        d = dist.gather(1, idx)
        d, by_distance = torch.sort(d, dim=1, stable=True)     # stable: equal distances keep column order
        out_idx[start:stop] = idx.gather(1, by_distance)
        out_dist[start:stop] = d
    return out_idx, out_dist


def vote(neighbour_labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class [N], votes [N, K]) of the neighbours' labels [N, k] (nearest first); a tie between
    classes goes to the class of the nearest neighbour among the tied classes."""
    n, k = neighbour_labels.shape
    votes = torch.zeros(n, num_classes, dtype=torch.long, device=neighbour_labels.device)
    votes.scatter_add_(1, neighbour_labels, torch.ones_like(neighbour_labels))
    tied = votes == votes.max(1, keepdim=True).values
    in_tie = tied.gather(1, neighbour_labels)
    first = in_tie.to(torch.int8).argmax(1)                      # argmax returns the first maximum
    return neighbour_labels[torch.arange(n, device=neighbour_labels.device), first], votes


@register_score(
    "knn", title="k-NN", options=KnnOptions,
    summary="k-NN: leave-one-out accuracy of a k-nearest-neighbour vote on the features",
    citation="Cover & Hart, Nearest neighbor pattern classification, IEEE Trans. Inf. Theory 1967; as a "
             "transferability baseline: the k-NN evaluation of self-supervised features (Wu et al., CVPR 2018; "
             "Caron et al., DINO, ICCV 2021)")
def knn(inputs: ScoreInputs, opts: KnnOptions) -> ScoreResult:
    x, y = inputs.features, inputs.labels
    n = inputs.num_samples
    k = min(opts.k, n - 1)
    order = projection_order(x, seed=0).to(x.device)
    xo, yo = x[order], y[order]
    idx, _ = nearest_neighbours(xo, k, opts.metric)
    neighbour_labels = yo[idx]
    predicted, votes = vote(neighbour_labels, inputs.num_classes)
    rows = torch.arange(n, device=x.device)
    accuracy = float((predicted == yo).to(x.dtype).mean())
    soft = float((votes[rows, yo].to(x.dtype) / k).mean())
    return ScoreResult("knn", soft if opts.soft else accuracy, details={
        "accuracy": accuracy,
        "soft_accuracy": soft,
        "k": k,
        "metric": opts.metric,
    })
