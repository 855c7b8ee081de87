"""ITM: implicit transferability modelling (Zheng, Wang, Zhou & Huang, NeurIPS 2025, arXiv 2510.23145).

ITM trains a small head on the frozen features for a few hundred steps and scores the model by the best
validation accuracy the head reaches. The head follows the embedding-space evolution of fine-tuning with a
divide-and-conquer variational approximation (DVA): within a mini-batch of n samples, the unit-normalised
head outputs h_i move towards their one-hot labels e_i through the batch's similarity kernel,

    y_m = (I - B)^m (h - E) + E,    B = c H H^T / n  (H = h detached, c = ``coupling``),

and a linear layer reads the class logits from y_m. Values and steps follow the public port of the authors'
code (te-guide, ``ITM``: BUAAHugeGun/ITM's ``TE/itm.py``, ``nets/dva.py``, ``nets/mk_proto.py``): z-scored
features, head = Linear(D, K) (after ``hidden_layers`` Linear(D, D) + ReLU), unit normalisation, the DVA step
with the batch's one-hot labels (validation batches too), Linear(K, K); cross-entropy; AdamW (lr 0.005,
weight decay 0.01) with a linear learning-rate decay over 10,000 steps of which 500 are run; batches of
256; an 80 / 20 split; validation accuracy every 100 steps; the score is the best of them.

What is made deterministic and free of the rows' positions and the labels' names (docs/architecture.md):
- the rows are put in a canonical order (a seeded random projection of their z-scored features, ``_order``)
  and the classes numbered by their first row in it, so a shuffled, relabelled or per-feature rescaled split
  trains the same network;
- the 20 % validation rows are drawn per class (stratified: at least one row of every class with two or
  more) by a seeded permutation of that order; the batches by seeded permutations of the training rows;
- the weights start from PyTorch's default Linear initialisation drawn from a generator seeded with
  ``seed``, not from the global random state.
An accuracy tie between classes counts 1/t (the expected accuracy of a random tie-break).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.constraints import Constrained, Interval
from ._order import projection_order
from ._probe import standardize
from .registry import ScoreResult, register_score
from .validation import ScoreInputs


@dataclass
class ItmOptions(Constrained):
    steps: int = 500
    """Training steps (mini-batches) of the head (the port's train_iter)."""
    batch_size: int = 256
    """Samples per mini-batch (the DVA kernel couples the samples of one batch)."""
    learning_rate: float = 0.005
    """AdamW's initial learning rate."""
    weight_decay: float = 0.01
    """AdamW's decoupled weight decay."""
    decay_steps: int = 10000
    """The learning rate decays linearly to 0 over this many steps (the port's max_iter; only ``steps`` of
    them are run)."""
    evolution_steps: int = 1
    """m, the power of (I - B) in the DVA step (0: no evolution, a plain linear head on unit outputs)."""
    coupling: float = 0.5
    """c in B = c H H^T / n."""
    eval_every: int = 100
    """Validation accuracy is measured every this many steps (and after the last step)."""
    hidden_layers: int = 0
    """Linear(D, D) + ReLU layers before the Linear(D, K) head (the port's model_size)."""
    validation_fraction: float = 0.2
    """Fraction of every class held out for validation (at least one row of a class with two or more rows,
    never all of them)."""
    seed: int = 0
    """Seed of the canonical order, the split, the initial weights and the batches."""
    threads: int = 1
    """CPU threads while the head trains (0: leave torch's setting). Its products are small (batch x D x K)
    and thread hand-offs cost more than they save: 500 steps at N = 1,000, D = 32 took 0.5 s with one
    thread and 5-16 s with two on the shared 2-core machine. torch's setting is restored afterwards."""

    constraints = {"steps": Interval(int, 1), "batch_size": Interval(int, 1),
                   "learning_rate": Interval(float, 0, closed="neither"), "weight_decay": Interval(float, 0),
                   "decay_steps": Interval(int, 1), "evolution_steps": Interval(int, 0),
                   "coupling": Interval(float, 0), "eval_every": Interval(int, 1), "hidden_layers": Interval(int, 0),
                   "validation_fraction": Interval(float, 0, 1, closed="neither"), "seed": Interval(int, 0),
                   "threads": Interval(int, 0)}


@dataclass
class ItmSplit:
    order: torch.Tensor        # [N] the input rows in canonical order
    labels: torch.Tensor       # [N] canonical class numbers of the rows in that order
    train: torch.Tensor        # positions (in canonical order) of the training rows, ascending
    validation: torch.Tensor   # positions of the validation rows, ascending


def canonical_split(features: torch.Tensor, labels: torch.Tensor, num_classes: int, fraction: float,
                    seed: int) -> ItmSplit:
    """The canonical row order, the classes renumbered by their first row in it, and a stratified split."""
    order = projection_order(features, seed).to(labels.device)
    y = labels[order]
    first = torch.full((num_classes,), y.numel(), dtype=torch.long, device=y.device)
    first.scatter_reduce_(0, y, torch.arange(y.numel(), device=y.device), reduce="amin")
    rename = torch.empty_like(first)
    rename[torch.argsort(first)] = torch.arange(num_classes, device=y.device)
    y = rename[y]
    gen = torch.Generator().manual_seed(seed)
    key = torch.rand(y.numel(), generator=gen, dtype=torch.float64).to(y.device)
    by_class = torch.argsort(y * 2.0 + key, stable=True)        # classes in turn, shuffled inside
    counts = torch.bincount(y, minlength=num_classes)
    held = torch.clamp(torch.floor(counts.double() * fraction + 1e-9).long(), min=1)
    held = torch.minimum(held, counts - 1).clamp_min(0)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(y.numel(), device=y.device) - starts[y[by_class]]
    is_val = torch.zeros(y.numel(), dtype=torch.bool, device=y.device)
    is_val[by_class] = rank >= (counts - held)[y[by_class]]
    positions = torch.arange(y.numel(), device=y.device)
    return ItmSplit(order, y, positions[~is_val], positions[is_val])


def initial_parameters(dim: int, num_classes: int, hidden_layers: int, seed: int, dtype=torch.float64,
                       device=None) -> list[torch.Tensor]:
    """[W, b] of every Linear (hidden ones, the D -> K head, the K -> K readout), PyTorch's default
    initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn from a generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed + 1)
    shapes = [(dim, dim)] * hidden_layers + [(num_classes, dim), (num_classes, num_classes)]
    params = []
    for out_dim, in_dim in shapes:
        bound = 1.0 / in_dim ** 0.5
        for shape in ((out_dim, in_dim), (out_dim,)):
            t = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            params.append(t.to(dtype=dtype, device=device).requires_grad_(True))
    return params


def dva_logits(params: list[torch.Tensor], x: torch.Tensor, onehot: torch.Tensor, evolution_steps: int,
               coupling: float) -> torch.Tensor:
    """Class logits [n, K] of a batch: head, unit normalisation, (I - B)^m (h - E) + E, readout."""
    h = x
    *hidden, w_head, b_head, w_out, b_out = params
    for w, b in zip(hidden[0::2], hidden[1::2]):
        h = torch.relu(h @ w.T + b)
    h = h @ w_head.T + b_head
    h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
    fixed = h.detach()
    v = h - onehot
    scale = coupling / x.shape[0]
    for _ in range(evolution_steps):
        v = v - scale * (fixed @ (fixed.T @ v))      # (I - B) v without the n x n matrix
    return (v + onehot) @ w_out.T + b_out


def batch_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per sample: 1/t when its class is among the t highest logits, else 0."""
    top = logits == logits.max(1, keepdim=True).values
    hit = top[torch.arange(labels.numel(), device=labels.device), labels]
    return hit.to(logits.dtype) / top.sum(1).to(logits.dtype)


def evaluate(params, x: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: "ItmOptions"):
    """(accuracy, mean cross-entropy) on rows ``x`` in batches of ``batch_size``, in their order."""
    correct, loss = 0.0, 0.0
    with torch.no_grad():
        for a in range(0, x.shape[0], opts.batch_size):
            yb = labels[a:a + opts.batch_size]
            onehot = torch.nn.functional.one_hot(yb, num_classes).to(x.dtype)
            logits = dva_logits(params, x[a:a + opts.batch_size], onehot, opts.evolution_steps, opts.coupling)
            correct += float(batch_accuracy(logits, yb).sum())
            loss += float(torch.nn.functional.cross_entropy(logits, yb, reduction="sum"))
    return correct / x.shape[0], loss / x.shape[0]


def train_head(x: torch.Tensor, split: ItmSplit, num_classes: int, opts: "ItmOptions", params=None):
    """Train from ``params`` (default: ``initial_parameters``) on the training rows of ``split``
    (``x`` in canonical order). Returns (params, [(step, validation accuracy, validation loss)], last
    training loss)."""
    if params is None:
        params = initial_parameters(x.shape[1], num_classes, opts.hidden_layers, opts.seed, x.dtype, x.device)
    x_train, y_train = x[split.train], split.labels[split.train]
    x_val, y_val = x[split.validation], split.labels[split.validation]
    gen = torch.Generator().manual_seed(opts.seed + 2)
    optimizer = torch.optim.AdamW(params, lr=opts.learning_rate, weight_decay=opts.weight_decay)
    history, batches, last_loss = [], [], float("nan")
    with torch.enable_grad():
        for step in range(opts.steps):
            if not batches:   # a new epoch: a seeded permutation of the training rows, cut into batches
                perm = torch.randperm(y_train.numel(), generator=gen).to(x.device)
                batches = list(torch.split(perm, opts.batch_size))[::-1]
            rows = batches.pop()
            for group in optimizer.param_groups:   # PyTorch's PolynomialLR(power=1) in closed form
                group["lr"] = opts.learning_rate * max(0.0, 1.0 - step / opts.decay_steps)
            yb = y_train[rows]
            logits = dva_logits(params, x_train[rows], torch.nn.functional.one_hot(yb, num_classes).to(x.dtype),
                                opts.evolution_steps, opts.coupling)
            loss = torch.nn.functional.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            last_loss = float(loss.detach())
            if (step + 1) % opts.eval_every == 0 or step + 1 == opts.steps:
                history.append((step + 1, *evaluate(params, x_val, y_val, num_classes, opts)))
    return params, history, last_loss


@register_score(
    "itm", title="ITM", options=ItmOptions,
    summary="ITM: best validation accuracy of a small head trained briefly with a divide-and-conquer "
            "variational approximation of the embedding evolution",
    citation="Zheng, Wang, Zhou & Huang, Implicit Modeling for Transferability Estimation of Vision Foundation "
             "Models, NeurIPS 2025 (arXiv 2510.23145)")
def itm(inputs: ScoreInputs, opts: ItmOptions) -> ScoreResult:
    split = canonical_split(standardize(inputs.features), inputs.labels, inputs.num_classes,
                            opts.validation_fraction, opts.seed)
    x = standardize(inputs.features[split.order])   # again, in canonical order: the same sums for any row order
    before = torch.get_num_threads()
    if opts.threads and x.device.type == "cpu":
        torch.set_num_threads(opts.threads)
    try:
        _, history, last_loss = train_head(x, split, inputs.num_classes, opts)
    finally:
        torch.set_num_threads(before)
    best = max(range(len(history)), key=lambda i: (history[i][1], -i))   # the earliest of the best
    return ScoreResult("itm", history[best][1], details={
        "validation_accuracy": [h[1] for h in history],
        "validation_loss": [h[2] for h in history],
        "steps_evaluated": [h[0] for h in history],
        "best_step": history[best][0],
        "train_rows": int(split.train.numel()),
        "validation_rows": int(split.validation.numel()),
        "last_train_loss": last_loss,
    })
