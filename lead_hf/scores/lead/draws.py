"""LEAD on many resamples of the same rows at once (``rank --bootstrap``), equal to LEAD on each resample's rows.

A resample repeats row j ``w_j`` times. What LEAD does with the repeated rows, and how it is done here from
the distinct rows and their multiplicities:

- The folds: copies of a row sit next to each other in the seeded projection order, so they are dealt to
  consecutive folds. From the rows' order (taken once, on all rows) and the multiplicities, every row gets
  ``c[j, f]``, its copies in fold f; a copy's out-of-fold decision depends only on (j, f).
- The probe (the least-squares SVM; its dual, N <= D + 1, is what the demo runs): the standardised kernel of
  the distinct rows, and per fold the system of its distinct training rows with their training
  multiplicities t: predictions k(x, T) t^1/2 (t^1/2 K_TT t^1/2 + alpha I)^-1 t^1/2 y_T, the same ridge
  solution as the repeated rows'. The primal (N > D + 1) is fitted on the repeated rows as LEAD does.
- The NTK samples: the first S copies of each class in the seeded order, i.e. a count per distinct row; the
  head's traces are taken on the distinct rows only (a trace depends on the row and on the scale of all the
  resample's features, which the resample sets). ntk="analytic": the closed form on the distinct rows.
- lambda_max (eta_normalization="lambda_max", the default): the kernel points are counted per distinct row
  the same way (all sampled copies, or the first max_kernel_points // K sampled copies of each class when
  there are more than max_kernel_points). The Gram of repeated points has the top eigenvalue of
  W^1/2 G W^1/2, with G the Gram of the distinct kernel points and W their copies: that m x m matrix (m
  distinct points, about 0.63 of the copies in a bootstrap) by the same lambda_max_method, lanczos,
  eigvalsh or matrix_free (then W^1/2 G W^1/2 v by the kernel's matvec, no m x m matrix).
- The evolution and the cross-entropy: LEAD's own functions on the decisions and traces repeated as the copies
  are (O(N K), nothing to save).

Handled: the least-squares probe out of fold or in sample, with svm_alpha (a number) or svm_C, the softmax,
sigmoid or clip probabilities, evolution class_mean (the default), every eta_normalization and
lambda_max_method, the empirical and the analytic NTK. Other options return None: the resamples are then
scored one by one.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._linalg import gram as gram_matrix
from .._linalg import spd_solve
from .._order import projection_order
from .._probe import column_scale, ovr_targets, scores_to_probabilities
from ..registry import register_draws
from ..validation import ScoreInputs
from .evolution import evolved_cross_entropies
from .kernel import (AnalyticHeadKernel, HeadKernel, class_rates, head_kernel, kernel_scale,
                     lanczos_top_eigenvalue, make_head)
from .options import LeadOptions
from .probe import svm_decision


def handles(opts: LeadOptions) -> bool:
    """Whether :func:`lead_draws` computes these options (else the resamples are scored one by one)."""
    return (opts.svm_loss == "least_squares" and opts.svm_fit in ("out_of_fold", "in_sample")
            and opts.svm_alpha != "gcv" and opts.svm_probability != "temperature"
            and opts.evolution == "class_mean")


def class_order(features: torch.Tensor, labels: torch.Tensor, seed: int) -> np.ndarray:
    """All rows grouped by class, inside a class in the seeded projection order (``within_class_order``;
    equal projections keep the rows' order, as the stable sort does on a resample, whose rows are sorted)."""
    by_key = projection_order(features, seed)
    return by_key[torch.sort(labels.cpu()[by_key], stable=True).indices].numpy()


def copies_before(order: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For every row, how many copies of its class come before its own in ``order`` (class_order), [N]."""
    w = weights[order]
    before = np.cumsum(w) - w
    y = labels[order]
    starts = np.flatnonzero(np.r_[True, y[1:] != y[:-1]])
    first = np.repeat(before[starts], np.diff(np.r_[starts, y.size]))
    out = np.empty_like(before)
    out[order] = before - first
    return out


def fold_copies(rank: np.ndarray, weights: np.ndarray, folds: int) -> np.ndarray:
    """[N, folds]: the copies of every row in each fold, the class's copies being dealt round-robin in order
    (a row's copies get ranks rank .. rank + w - 1, fold = rank % folds)."""
    w = weights.astype(np.int64)
    f = np.arange(folds)
    first = (f[None, :] - rank[:, None].astype(np.int64)) % folds   # offset of the first copy in fold f
    return np.where(first < w[:, None], (w[:, None] - 1 - first) // folds + 1, 0)


def selected_copies(rank: np.ndarray, weights: np.ndarray, per_class: int) -> np.ndarray:
    """[N]: the copies of every row among the first ``per_class`` copies of its class."""
    return np.clip(per_class - rank, 0, weights)


def dual_decisions(x: torch.Tensor, labels: torch.Tensor, num_classes: int, copies: np.ndarray, C: float | None,
                   relative_alpha: float) -> torch.Tensor:
    """Out-of-fold least-squares SVM decisions [N, folds, K] of the distinct rows ``x`` (standardised; copies
    [N, folds] per fold, every row present) from the dual: the kernel of the distinct rows once, then per fold
    the system of its distinct training rows weighted by their training copies. Rows absent from a fold get
    zeros there."""
    n_rows, folds = copies.shape
    kernel = gram_matrix(x, samples=True).add_(1.0)                  # [x, 1] [x, 1]^T
    total = torch.as_tensor(copies.sum(1), dtype=x.dtype, device=x.device)
    if C is None:  # relative_alpha x the mean eigenvalue of the repeated rows' kernel, its trace / (D + 1)
        C = 1.0 / (2.0 * relative_alpha * float((total * torch.diagonal(kernel)).sum()) / (x.shape[1] + 1))
    alpha = 1.0 / (2.0 * C)
    y = ovr_targets(labels, num_classes, x.dtype)
    out = x.new_zeros(n_rows, folds, num_classes)
    for f in range(folds):
        here = np.flatnonzero(copies[:, f] > 0)
        if here.size == 0:
            continue
        train_w = copies.sum(1) - copies[:, f] if folds > 1 else copies[:, f]
        train = np.flatnonzero(train_w > 0)
        tr = torch.as_tensor(train, device=x.device)
        root = torch.as_tensor(train_w[train], dtype=x.dtype, device=x.device).sqrt()
        system = root[:, None] * kernel[tr][:, tr] * root
        system.diagonal().add_(alpha)
        coef = root[:, None] * spd_solve(system, root[:, None] * y[tr])
        out[torch.as_tensor(here, device=x.device), f] = kernel[torch.as_tensor(here, device=x.device)][:, tr] @ coef
    return out


class ScaledTraces:
    """The head's NTK traces (``HeadKernel.traces``) of rows scaled by a factor, for many factors: LEAD's
    head sees a resample's rows divided by the RMS norm of all its rows, a number every resample sets.

    With two hidden layers (the default head), everything the factor c does not change is taken once, at a
    reference factor c0: the first layer's products P = f W1^T; the second layer's pre-activation
    c Q + R (with the first layer's ReLU mask m1 at c0, Q = (m1 * P) W2^T and R = (m1 * b1) W2^T + b2); and the
    signal sent back to the first layer, S = (m2 * v) W2 (v = the column sums of the last layer, m2 the
    second ReLU mask at c0). At another c only the units whose mask changes (a few: the factors of a
    bootstrap differ by about 1%) correct these, through the rows of W2 they touch: exact, and a few
    thousand multiply-adds a row instead of the head's forward and backward (3.4 + 2.1 million at
    1280 -> 1024 -> 2048). In float32, as LEAD takes the traces. Other heads: the traces directly."""

    def __init__(self, head: torch.nn.Sequential, rows: torch.Tensor, c0: float):
        self.head, self.rows = head, rows
        linears = [m for m in head if isinstance(m, torch.nn.Linear)]
        self.incremental = len(linears) == 3
        if not self.incremental:
            return
        (w1, b1), (w2, b2), (w3, _) = [(m.weight, m.bias) for m in linears]
        self.b1, self.w2, self.k = b1, w2, w3.shape[0]
        self.v = w3.sum(0)                                        # d(sum of outputs) / d(second layer's output)
        self.p = rows.float() @ w1.T
        self.m1 = (c0 * self.p + b1) > 0
        m1 = self.m1.to(self.p.dtype)
        self.q = (m1 * self.p) @ w2.T
        self.r = torch.addmm(b2, m1 * b1, w2.T)
        self.m2 = (c0 * self.q + self.r) > 0
        self.s = (self.m2.to(self.p.dtype) * self.v) @ w2

    def __call__(self, sel: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        """Traces [len(sel)] (float64) of ``rows[sel] / norm``, as ``head_kernel`` takes them."""
        return self.kernel(sel, norm).traces().double()

    def kernel(self, sel: torch.Tensor, norm: torch.Tensor) -> HeadKernel:
        """The head's NTK of ``rows[sel] / norm`` as its layer signals (``head_kernel``'s), float32: its
        traces, and the Gram of its points where lambda_max is needed."""
        z = (self.rows[sel] / norm).float()
        c = float(1.0 / norm)
        if not self.incremental:
            return head_kernel(self.head, z)
        p1 = c * self.p[sel] + self.b1
        m1 = p1 > 0
        a1 = p1.clamp_min(0)
        flips = (m1 != self.m1[sel]).nonzero()                   # a unit on now and off at c0, or the reverse
        if flips.shape[0] > 64 * sel.numel():  # c far from c0: the head itself is cheaper
            return head_kernel(self.head, z)
        p2 = c * self.q[sel] + self.r[sel]
        if flips.numel():
            sign = m1[flips[:, 0], flips[:, 1]].to(p1.dtype) * 2 - 1
            p2.index_add_(0, flips[:, 0], (sign * p1[flips[:, 0], flips[:, 1]])[:, None] * self.w2.T[flips[:, 1]])
        m2 = p2 > 0
        back = self.s[sel].clone()
        flips = (m2 != self.m2[sel]).nonzero()
        if flips.numel():
            sign = m2[flips[:, 0], flips[:, 1]].to(p1.dtype) * 2 - 1
            back.index_add_(0, flips[:, 0], (sign * self.v[flips[:, 1]])[:, None] * self.w2[flips[:, 1]])
        return HeadKernel([z, a1, p2.clamp_min(0)], [back * m1, self.v * m2, None], self.k)


class _Resampler:
    """What every resample shares: the rows' orders for the folds and the NTK samples, the head."""

    def __init__(self, inputs: ScoreInputs, opts: LeadOptions):
        f = inputs.features
        self.features, self.labels, self.k, self.opts = f, inputs.labels, inputs.num_classes, opts
        self.labels_np = inputs.labels.cpu().numpy()
        self.fold_order = class_order(f, inputs.labels, opts.seed + 1)   # folds_and_order's seed
        self.ntk_order = class_order(f, inputs.labels, opts.seed)        # select_ntk_samples'
        self.sq_norms = f.pow(2).sum(1)

    def decisions(self, w: np.ndarray, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(out-of-fold decisions of every copy [N', K], their labels), copies grouped by row and fold."""
        opts, f, y = self.opts, self.features, self.labels
        n, d = int(w.sum()), f.shape[1]
        if n > d + 1:  # the primal: LEAD's own probe on the repeated rows
            return svm_decision(f[torch.as_tensor(idx, device=f.device)], y[torch.as_tensor(idx, device=f.device)],
                                self.k, opts)[0], y[torch.as_tensor(idx, device=f.device)]
        keep = np.flatnonzero(w > 0)
        if opts.svm_fit == "out_of_fold":
            rank = copies_before(self.fold_order, self.labels_np, w)
            copies = fold_copies(rank[keep], w[keep], opts.svm_folds)
        else:
            copies = w[keep, None].astype(np.int64)
        rows = f[torch.as_tensor(keep, device=f.device)]
        peak = float(rows.abs().max())
        if peak > 2.0 ** 40 or 0 < peak < 2.0 ** -40:  # as probe_decision does
            rows = rows * 2.0 ** -math.ceil(math.log2(peak))
        if opts.standardize:
            wt = torch.as_tensor(w[keep], dtype=rows.dtype, device=rows.device)
            mean = (wt @ rows) / n
            rows = rows - mean
            scale = column_scale(wt @ (rows * rows), wt @ rows, n, mean)
            rows = rows * scale
        dec = dual_decisions(rows, y[torch.as_tensor(keep, device=f.device)], self.k, copies, opts.svm_C,
                             opts.svm_alpha)
        reps = torch.as_tensor(copies.reshape(-1), device=f.device)
        row_of = torch.as_tensor(np.repeat(keep, copies.shape[1]), device=f.device)
        return (torch.repeat_interleave(dec.reshape(-1, self.k), reps, dim=0),
                torch.repeat_interleave(y[row_of], reps))

    def ntk_samples(self, w: np.ndarray) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
        """(the copies of every row among the resample's NTK samples [N], the RMS norm of its rows, the
        copies of every row among its kernel points [N], those lambda_max is taken on)."""
        opts = self.opts
        rank = copies_before(self.ntk_order, self.labels_np, w)
        chosen = selected_copies(rank, w, opts.samples_per_class)
        # kernel_point_rows: every sampled copy, or when there are more than max_kernel_points of them the
        # first of each class's sampled copies in the same seeded order
        kept = chosen
        if chosen.sum() > opts.max_kernel_points:
            kept = selected_copies(rank, w, min(opts.samples_per_class, max(1, opts.max_kernel_points // self.k)))
        f = self.features
        norm = ((torch.as_tensor(w, dtype=f.dtype, device=f.device) @ self.sq_norms) / w.sum()).sqrt().clamp_min(1e-300)
        return chosen, norm, kept

    def prepare_traces(self, counts: np.ndarray) -> None:
        """The head's signals for every resample in ``counts``: taken once on every row one of them samples."""
        if self.opts.ntk == "analytic":  # no head: the closed form on the resample's rows is cheap
            return
        samples = [self.ntk_samples(w) for w in counts]
        self.candidates = np.flatnonzero(np.any([chosen > 0 for chosen, _, _ in samples], axis=0))
        self.position = np.full(self.features.shape[0], -1)
        self.position[self.candidates] = np.arange(self.candidates.size)
        c0 = float(np.median([1.0 / float(norm) for _, norm, _ in samples]))
        f = self.features
        head = make_head(f.shape[1], self.k, self.opts.head_widths, self.opts.seed, dtype=torch.float32,
                         device=f.device)
        self.signals = ScaledTraces(head, f[torch.as_tensor(self.candidates, device=f.device)], c0)

    def kernel(self, rows: np.ndarray, norm: torch.Tensor) -> HeadKernel | AnalyticHeadKernel:
        """The NTK of the distinct rows ``rows`` at the resample's scale, as ``kernel_inputs`` takes it."""
        f, opts = self.features, self.opts
        if opts.ntk == "analytic":
            z = f[torch.as_tensor(rows, device=f.device)] / norm
            return AnalyticHeadKernel(z.double(), tuple(int(h) for h in opts.head_widths), self.k)
        return self.signals.kernel(torch.as_tensor(self.position[rows], device=f.device), norm)

    def rates(self, w: np.ndarray) -> tuple[torch.Tensor, float | None]:
        """(lambda_k, lambda_max or None where the scale needs none) of the resample, from its distinct rows."""
        chosen, norm, kept = self.ntk_samples(w)
        rows = np.flatnonzero(chosen > 0)
        kernel = self.kernel(rows, norm)
        dev = self.features.device
        reps = torch.as_tensor(chosen[rows], device=dev)
        labels = self.labels[torch.as_tensor(rows, device=dev)]
        lam = class_rates(torch.repeat_interleave(kernel.traces().double(), reps),
                          torch.repeat_interleave(labels, reps), self.k, self.opts)
        if self.opts.eta_normalization != "lambda_max":
            return lam, None
        return lam, repeated_top_eigenvalue(kernel, torch.as_tensor(kept[rows], device=dev), self.opts)

    def value(self, w: np.ndarray) -> float:
        opts = self.opts
        idx = np.repeat(np.arange(w.size), w)
        decision, y = self.decisions(w, idx)
        probs = scores_to_probabilities(decision, opts.svm_probability)
        lam, lam_max = self.rates(w)
        tau = opts.eta * opts.t / kernel_scale(lam, lam_max, opts, self.k)
        ce = evolved_cross_entropies(decision, probs, y, None, None, lam, None, None, tau, opts, 1.0)[0]
        return -float(ce)


def repeated_top_eigenvalue(kernel: HeadKernel | AnalyticHeadKernel, copies: torch.Tensor,
                            opts: LeadOptions) -> float:
    """lambda_max of ``kernel``'s points repeated ``copies`` times (``top_ntk_eigenvalue`` on the repeated
    points), from the distinct points: the repeated Gram G_rep = E G E^T (E [n_rep, n] picks each copy's
    point) has the nonzero eigenvalues of W^1/2 G W^1/2, W = E^T E = diag(copies). By the same method."""
    present = copies.nonzero().squeeze(1)
    part = kernel.subset(present)
    root = copies[present].double().sqrt()
    if opts.lambda_max_method == "matrix_free":
        return lanczos_top_eigenvalue(lambda v: root * part.matvec(root * v), part.n, device=part.device,
                                      seed=opts.seed)
    gram = root[:, None] * part.gram() * root
    if opts.lambda_max_method == "eigvalsh":
        return float(torch.linalg.eigvalsh(gram)[-1])
    return lanczos_top_eigenvalue(lambda v: gram @ v, gram.shape[0], device=gram.device, seed=opts.seed)


@register_draws("lead")
def lead_draws(inputs: ScoreInputs, counts: torch.Tensor, opts: LeadOptions) -> list[float] | None:
    """LEAD of B resamples (``counts`` [B, N]), or None for options it does not handle (:func:`handles`)."""
    if not handles(opts):
        return None
    counts = np.rint(counts.cpu().numpy()).astype(np.int64)
    resampler = _Resampler(inputs, opts)
    resampler.prepare_traces(counts)
    return [resampler.value(w) for w in counts]
