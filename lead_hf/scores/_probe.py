"""A linear probe on frozen features, as the scores use it: one-vs-rest linear SVMs fitted in closed form
(least squares, Suykens & Vandewalle 1999) or by a finite Newton method (squared hinge, LinearSVC's
objective), in sample, out of fold or exactly leave-one-out, with the regularisation relative to the data or
chosen by generalised cross-validation; and the maps from its decisions to probabilities (softmax, a fitted
temperature, ...). Nothing here is specific to one score: LEAD's initial state and the probe-accuracy score
are both :func:`probe_decision`.

The primal path never forms an N x D working copy (rows are read in blocks, ``Rows``), takes every fold's
system from one pass over the data (``RowStats``), and applies the standardisation to the (D+1) x (D+1)
systems instead of the data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._linalg import FLOAT32_BLOCK_ROWS, add_gram_, addmm_rows_, new_gram_total, spd_solve
from ._linalg import gram as gram_matrix
from ._order import projection_order, rank_in_class
from ._stats import class_counts

PROBE_LOSSES = ("least_squares", "squared_hinge")
PROBE_FITS = ("out_of_fold", "in_sample", "leave_one_out")
PROBABILITY_MAPS = ("softmax", "temperature", "sigmoid", "clip")


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Z-score columns; constant columns become 0."""
    std = x.std(0, unbiased=False)
    return (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))


def with_bias(x: torch.Tensor) -> torch.Tensor:
    # liblinear's intercept: a constant feature (intercept_scaling = 1) whose weight is regularised too
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)


def ovr_targets(labels: torch.Tensor, num_classes: int, dtype) -> torch.Tensor:
    y = -torch.ones(labels.numel(), num_classes, dtype=dtype, device=labels.device)
    y[torch.arange(labels.numel(), device=labels.device), labels] = 1
    return y


def gcv_alpha(s: torch.Tensor, r2: torch.Tensor, y2: float, n: int) -> float:
    """Ridge alpha minimising generalised cross-validation (Golub, Heath & Wahba 1979).

    ``s``: eigenvalues of the kernel X X^T (equivalently of X^T X); ``r2[j]``: squared norm of the targets'
    projection on the j-th left singular vector, summed over classes; ``y2`` = |Y|^2. Then
    Y - f = sum_j alpha/(s_j+alpha) u_j u_j^T Y + (the part of Y outside the span), so
    RSS = y2 - sum r2 + sum (alpha/(s+alpha))^2 r2 and tr(H) = sum s/(s+alpha): O(rank) per alpha.
    GCV(alpha) = (RSS/n) / (1 - tr(H)/n)^2. The grid is relative to the mean eigenvalue (scale-free).
    """
    grid = torch.logspace(-6, 2, 33, dtype=s.dtype, device=s.device) * s.mean()
    a = grid[:, None]
    shrink = a / (s + a)
    rss = (y2 - r2.sum()) + (shrink ** 2 * r2).sum(1)
    dof = (s / (s + a)).sum(1)
    gcv = (rss.clamp_min(0) / n) / (1 - dof / n).clamp_min(1e-12) ** 2
    return float(grid[int(torch.argmin(gcv))])


class Rows:
    """The SVM's rows, ``features[order] - mean``, read in blocks of rows into one reused buffer: the
    N x D working copy is never formed (at N = 50,000, D = 2,048 it would be 800 MB to allocate and
    fault in, which took 1-5 s on the shared machine). ``order`` None: the rows as they are; ``mean``
    None: no centring (blocks may then be views of ``features``: read them, never write)."""

    def __init__(self, features: torch.Tensor, order: torch.Tensor | None, mean: torch.Tensor | None,
                 block_rows: int = FLOAT32_BLOCK_ROWS):
        self.features, self.order, self.mean, self.block_rows = features, order, mean, block_rows
        self._buffer: torch.Tensor | None = None
        self.scratch: dict = {}  # float32 buffers of add_gram_, allocated once

    @property
    def shape(self) -> tuple[int, int]:
        return self.features.shape[0], self.features.shape[1]

    def blocks(self, start: int, stop: int):
        """(first row, rows [m, D]) for rows start..stop of the working order, block by block; every
        block is overwritten by the next one."""
        for a in range(start, stop, self.block_rows):
            m = min(self.block_rows, stop - a)
            if self.order is None and self.mean is None:
                yield a, self.features[a:a + m]
                continue
            if self._buffer is None:
                self._buffer = torch.empty(min(self.block_rows, self.shape[0]), self.shape[1],
                                           dtype=self.features.dtype, device=self.features.device)
            rows = self._buffer[:m]
            if self.order is None:
                rows.copy_(self.features[a:a + m])
            else:
                torch.index_select(self.features, 0, self.order[a:a + m], out=rows)
            if self.mean is not None:
                rows.sub_(self.mean)
            yield a, rows

    def materialize(self) -> torch.Tensor:
        """All the rows as one new tensor (the dual path, where N <= D + 1 keeps it small)."""
        x = self.features if self.order is None else self.features[self.order]
        if self.mean is None:
            return x.clone() if self.order is None else x
        return x - self.mean


def fold_bounds(sizes: list[int]) -> list[tuple[int, int]]:
    ends = torch.tensor(sizes).cumsum(0).tolist()
    return [(e - n, e) for n, e in zip(sizes, ends)]


@dataclass
class RowStats:
    """What the primal LS-SVM needs from a run of rows of the (centred) features: one pass over them."""

    gram: torch.Tensor        # LOWER triangle of x^T x [D, D] (the upper one unspecified)
    sums: torch.Tensor        # column sums [D]
    class_sums: torch.Tensor  # per class, the sum of its rows [K, D]
    counts: torch.Tensor      # samples per class [K]
    n: int

    @classmethod
    def of(cls, rows: Rows, start: int, stop: int, labels: torch.Tensor, num_classes: int,
           products: str) -> "RowStats":
        """The statistics of rows start..stop (``labels``: the labels of all rows, working order)."""
        d = rows.shape[1]
        gram = new_gram_total(d, rows.features)
        sums = torch.zeros(num_classes, d, dtype=rows.features.dtype, device=rows.features.device)
        for a, block in rows.blocks(start, stop):
            add_gram_(gram, block, products, rows.scratch)
            sums.index_add_(0, labels[a:a + block.shape[0]], block)
        return cls(gram, sums.sum(0), sums, class_counts(labels[start:stop], num_classes), stop - start)

    def __sub__(self, other: "RowStats") -> "RowStats":
        return RowStats(self.gram - other.gram, self.sums - other.sums, self.class_sums - other.class_sums,
                         self.counts - other.counts, self.n - other.n)

    def system(self, scale: torch.Tensor | None,
               outer: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(LOWER triangle of the Gram of [x diag(scale), 1] [D+1, D+1], [x diag(scale), 1]^T Y [D+1, K])
        for the one-vs-rest targets Y = 2 onehot - 1, whose x^T Y is 2 x (class sums)^T - (column sums).
        ``outer``: scale scale^T when the caller has it (one per SVM, not one per fold). The Gram comes
        out column-major like ``self.gram`` (so the scaling runs through memory in order, and LAPACK
        takes it as it is)."""
        d = self.gram.shape[0]
        out = self.gram.new_zeros(d + 1, d + 1).T  # column-major
        xty = self.gram.new_empty(d + 1, self.counts.numel())
        xty[:d] = (2 * self.class_sums - self.sums).T
        xty[d] = 2 * self.counts.to(xty.dtype) - self.n
        out[d, d] = self.n
        if scale is None:
            out[:d, :d] = self.gram
            out[d, :d] = self.sums
        else:
            outer = scale[:, None] * scale if outer is None else outer
            torch.mul(self.gram, outer.T, out=out[:d, :d])  # outer is symmetric: .T is the same matrix
            out[d, :d] = self.sums * scale
            xty[:d] *= scale[:, None]
        return out, xty


VARIANCE_FLOOR = {"float32": 1e-30, "float64": 0.0}
"""Per Gram-product precision, the variance at or below which a column counts as constant: float32 products
of values near 1e-21 are subnormal (a few bits, or flushed to 0), and such a column, scaled up to unit
variance, made the Gram matrix indefinite (a ReLU unit that is dead on every sample and steered by
Curvature Tuning gives values of 1e-20 to 1e-30 instead of 0)."""


def column_scale(squares: torch.Tensor, sums: torch.Tensor, n: int, mean: torch.Tensor,
                 floor: float = 0.0) -> torch.Tensor:
    """1 / the standard deviation of every column of centred data, from its sums of squares and sums
    (the corrected two-pass variance); 0 for a constant column, which standardisation maps to 0.

    A column is constant when its standard deviation is below 1e-12 x |its mean|: the centring leaves a
    constant column with (at most) the rounding of its mean, orders of magnitude below that, while a
    float32 feature that moves by one unit in its last place varies by ~6e-8 x |mean|. It is constant too
    when its variance is at most ``floor`` (:data:`VARIANCE_FLOOR`: what the Gram's products resolve).
    """
    var = (squares / n - (sums / n) ** 2).clamp_min(0)
    std = var.sqrt()
    return torch.where((std > 1e-12 * mean.abs()) & (var > floor), 1.0 / std.clamp_min(1e-300), torch.zeros_like(std))


def ls_svm_decision(rows: Rows | torch.Tensor, labels: torch.Tensor, num_classes: int, C: float | None,
                    fold_sizes: list[int] | None, relative_alpha: float | str = "gcv",
                    gram_products: str = "float64", leave_one_out: bool = False):
    """Least-squares SVM (Suykens & Vandewalle 1999), one-vs-rest, every class at once.

    Minimises 0.5 |w|^2 + C sum_i (1 - y_i w.[x_i, 1])^2 per class: ridge regression on +-1 targets
    with alpha = 1 / (2C) and the intercept regularised like the weights (as liblinear does). C=None:
    alpha = relative_alpha x the Gram matrix's mean eigenvalue, or chosen by GCV when relative_alpha='gcv'.
    ``rows``: the features (a tensor, or ``Rows``: rows read in blocks); ``labels`` in their order.
    ``fold_sizes``: the rows are grouped by fold, in that order, and each fold is predicted by the model
    fitted on the other folds; None: in-sample decisions, or with ``leave_one_out`` each row predicted by
    the model fitted on all the other rows (exact, from the leverages h_ii of the one fit on all rows).
    With ``Rows`` centred by a mean, the SVM sees the features standardised: each column divided by its
    standard deviation (constant columns become 0). The primal applies that scaling to the (D+1) x (D+1)
    systems instead of the data, and reads the variances off the Gram's diagonal; the dual scales its
    copy. ``gram_products``: precision of the primal Gram's products (``_linalg.add_gram_``); everything
    else is computed in the features' dtype.
    Works in the primal ((D+1) x (D+1) systems) when N > D+1 and in the dual (N x N kernel) otherwise.
    In the primal one pass over the data takes, per fold (a contiguous run of rows), the Gram matrix and
    the class sums; the training set of a fold is the total minus the fold, so its system costs O(D^2),
    and X^T Y comes from the class sums (no N x D x K product). A second pass predicts each fold.
    Returns (decision [N, K], C). (One function of about 60 lines of code: the primal and the dual share the
    regularisation, the leave-one-out and the fold loop, and splitting them would pass a dozen arrays around.)
    """
    rows = rows if isinstance(rows, Rows) else Rows(rows, None, None)
    mean = rows.mean
    n, d = rows.shape[0], rows.shape[1] + 1
    k = num_classes
    primal = n > d
    bounds = fold_bounds(fold_sizes) if fold_sizes is not None else [(0, n)]
    scale = None
    if primal:
        parts = [RowStats.of(rows, a, b, labels, k, gram_products) for a, b in bounds]
        total = parts[0]
        for p in parts[1:]:
            total = RowStats(total.gram + p.gram, total.sums + p.sums, total.class_sums + p.class_sums,
                              total.counts + p.counts, total.n + p.n)
        if mean is not None:
            scale = column_scale(torch.diagonal(total.gram), total.sums, n, mean, VARIANCE_FLOOR[gram_products])
        outer = None if scale is None else scale[:, None] * scale
        gram, xty = total.system(scale, outer)  # lower triangle
    else:
        x = rows.materialize()
        if mean is not None:
            scale = column_scale((x * x).sum(0), x.sum(0), n, mean)
            x.mul_(scale)
        y = ovr_targets(labels, k, x.dtype)
        gram = gram_matrix(x, samples=True).add_(1.0)  # kernel of [x, 1], symmetric (sliced below)
    if C is None:
        C = _regularisation(gram, xty if primal else y, primal, n, k, d, relative_alpha)
    alpha = 1.0 / (2.0 * C)

    def regularised(a: torch.Tensor) -> torch.Tensor:  # in place: callers pass a matrix they own
        a.diagonal().add_(alpha)
        return a

    def predict_into(out: torch.Tensor, start: int, stop: int, w: torch.Tensor) -> None:
        # [rows diag(scale), 1] w for rows start..stop, with the scaling moved onto the weights
        w_x = w[:-1] if scale is None else scale[:, None] * w[:-1]
        for a, block in rows.blocks(start, stop):
            addmm_rows_(out[a:a + block.shape[0]], w[-1], block, w_x)

    out = rows.features.new_empty(n, k)
    if fold_sizes is None and leave_one_out:
        # ridge regression is a linear smoother f = H y, so y_i - f_-i(x_i) = (y_i - f_i) / (1 - h_ii)
        targets = ovr_targets(labels, k, out.dtype)
        inverse = spd_solve(regularised(gram.clone()), torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device))
        if not primal:
            # H = K (K + a I)^-1 = I - a (K + a I)^-1: the residual is a (K + a I)^-1 y, 1 - h_ii = a M_ii
            return targets - (inverse @ targets) / torch.diagonal(inverse)[:, None], C
        predict_into(out, 0, n, inverse @ xty)
        return targets - (targets - out) / (1 - leverages(rows, scale, inverse))[:, None], C
    if fold_sizes is None:
        if primal:
            predict_into(out, 0, n, spd_solve(regularised(gram), xty))
            return out, C
        return gram @ spd_solve(regularised(gram.clone()), y), C
    for i, (a, b) in enumerate(bounds):
        if a == b:
            continue
        if primal:
            g_f, xty_f = (total - parts[i]).system(scale, outer)
            predict_into(out, a, b, spd_solve(regularised(g_f), xty_f))
        else:
            keep = torch.ones(n, dtype=torch.bool, device=x.device)
            keep[a:b] = False
            k_tr = gram[keep][:, keep]
            coef = spd_solve(regularised(k_tr), y[keep])
            out[a:b] = gram[a:b][:, keep] @ coef
    return out, C


def _regularisation(gram: torch.Tensor, xty: torch.Tensor, primal: bool, n: int, k: int, d: int,
                    relative_alpha: float | str) -> float:
    """C of the LS-SVM: ``relative_alpha`` x the mean eigenvalue of the Gram of [x, 1] (its trace / (D+1) =
    ``d``, the primal and the dual kernel having the same trace: the same alpha whichever path runs), or
    the GCV choice for 'gcv'. ``xty``: X^T Y in the primal, Y in the dual."""
    if relative_alpha != "gcv":
        return 1.0 / (2.0 * relative_alpha * float(torch.diagonal(gram).sum()) / d)
    s, v = torch.linalg.eigh(gram)
    s = s.clamp_min(0)
    # |u_j^T Y|^2 with u_j the left singular vectors; in the primal u_j = X v_j / sqrt(s_j)
    r2 = ((v.T @ xty) ** 2).sum(1)
    if primal:
        r2 = torch.where(s > s.max() * 1e-12, r2 / s.clamp_min(1e-300), torch.zeros_like(r2))
    return 1.0 / (2.0 * gcv_alpha(s, r2, float(n * k), n))  # |Y|^2 = N K for +-1 targets


def leverages(rows: Rows, scale: torch.Tensor | None, inverse: torch.Tensor) -> torch.Tensor:
    """h_ii = z_i^T A^-1 z_i for every row, z_i = [x_i diag(scale), 1] and ``inverse`` = A^-1 [D+1, D+1]
    (symmetric); the rows are read block by block, the scaling moved onto A^-1."""
    d = inverse.shape[0] - 1
    m, u, c = inverse[:d, :d], inverse[:d, d], inverse[d, d]
    if scale is not None:
        m, u = scale[:, None] * m * scale, scale * u
    out = inverse.new_empty(rows.shape[0])
    for a, block in rows.blocks(0, rows.shape[0]):
        out[a:a + block.shape[0]] = ((block @ m) * block).sum(1) + 2 * (block @ u) + c
    return out


def squared_hinge_svm_weights(x: torch.Tensor, y: torch.Tensor, C: float, tol: float = 1e-8,
                              max_newton: int = 100, max_cg: int = 500) -> torch.Tensor:
    """L2-regularised squared-hinge linear SVM (LinearSVC's primal objective), all classes at once.

    min_w 0.5 ||w||^2 + C sum_i max(0, 1 - y_i w.x_i)^2, solved by the finite Newton method of
    Keerthi & DeCoste (2005): Newton steps on the active set by preconditioned conjugate gradients,
    batched over classes, each followed by an exact line search on the piecewise-quadratic objective.
    ``x`` already carries the bias column. Returns W [D, K].
    """
    d, k = x.shape[1], y.shape[1]
    w = torch.zeros(d, k, dtype=x.dtype, device=x.device)
    x2 = x * x
    g0 = None
    for _ in range(max_newton):
        m = x @ w
        active = (y * m < 1).to(x.dtype)
        grad = w + 2 * C * (x.T @ (active * (m - y)))
        gnorm = grad.norm(dim=0)
        if g0 is None:
            g0 = gnorm.clamp_min(1e-30)
        todo = gnorm > tol * g0
        if not bool(todo.any()):
            break
        # PCG for (I + 2C X_A^T X_A) p = -grad, Jacobi preconditioner, every class in parallel
        diag = 1 + 2 * C * (x2.T @ active)
        p = torch.zeros_like(w)
        res = -grad * todo
        z = res / diag
        direc = z.clone()
        rz = (res * z).sum(0)
        rnorm0 = res.norm(dim=0).clamp_min(1e-300)
        for _ in range(max_cg):
            hd = direc + 2 * C * (x.T @ (active * (x @ direc)))
            step = rz / (direc * hd).sum(0).clamp_min(1e-300)
            p = p + step * direc
            res = res - step * hd
            if bool((res.norm(dim=0) <= 1e-3 * rnorm0).all()):
                break
            z = res / diag
            rz_new = (res * z).sum(0)
            direc = z + (rz_new / rz.clamp_min(1e-300)) * direc
            rz = rz_new
        # exact line search along p: phi'(a) is piecewise linear and increasing in a
        xp = x @ p
        wp, pp = (w * p).sum(0), (p * p).sum(0)
        a = torch.ones(k, dtype=x.dtype, device=x.device)
        for _ in range(50):
            ma = m + a * xp
            act = (y * ma < 1).to(x.dtype)
            d1 = wp + a * pp + 2 * C * (act * (ma - y) * xp).sum(0)
            d2 = pp + 2 * C * (act * xp * xp).sum(0)
            a_new = a - d1 / d2.clamp_min(1e-300)
            if bool(((a_new - a).abs() <= 1e-12 * a.abs().clamp_min(1)).all()):
                a = a_new
                break
            a = a_new
        w = w + a * p * todo
    return w


def stratified_folds(features: torch.Tensor, labels: torch.Tensor, num_classes: int, num_folds: int,
                     seed: int) -> torch.Tensor:
    """Fold id of every sample: each class dealt round-robin over the folds in a seeded order that does
    not depend on the order of the rows (see ``within_class_order``)."""
    return folds_and_order(features, labels, num_classes, num_folds, seed)[0]


def folds_and_order(features: torch.Tensor, labels: torch.Tensor, num_classes: int, num_folds: int | None,
                     seed: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(fold ids as ``stratified_folds`` deals them, or None when ``num_folds`` is None; the row order of
    the SVM's working copy: grouped by fold, and inside a fold by the seeded random projection that
    ``within_class_order`` sorts on).

    The working order depends on the rows' values, not on their positions nor on the labels' names, so
    every sum the SVM takes over its copy runs in the same order for a shuffled or relabelled split: the
    score stays invariant to the last few bits, with float32 products too."""
    by_key = projection_order(features, seed + 1)
    if num_folds is None:
        return None, by_key.to(labels.device)
    labels_cpu = labels.cpu()
    order = by_key[torch.sort(labels_cpu[by_key], stable=True).indices]  # = within_class_order(.., seed + 1)
    fold = torch.empty(labels.numel(), dtype=torch.int64)
    fold[order] = rank_in_class(order, labels_cpu, num_classes) % num_folds
    working = by_key[torch.argsort(fold[by_key], stable=True)]
    return fold.to(labels.device), working.to(labels.device)


def logit_scale_cap(decision: torch.Tensor) -> float:
    """Largest logit scale searched: a x max|decision| = 1000 makes every softmax one-hot to float64."""
    return 1e3 / max(float(decision.abs().max()), 1e-300)


def fit_logit_scale(decision: torch.Tensor, labels: torch.Tensor, max_iter: int = 200) -> float:
    """Temperature calibration (Guo et al. 2017, one-parameter Platt scaling): the scale a >= 0
    minimising the mean NLL of softmax(a x decision) on the labels.

    The NLL is convex in a, with derivative g(a) = mean_i (E_p[d_i] - d_i,y_i) and second derivative
    mean_i Var_p(d_i) >= 0, so Newton steps kept inside a bracket [lo, hi] with g(lo) < 0 <= g(hi) (bisection
    when a step leaves it) converge to the unique minimiser. a = 0 (uniform probabilities) when the
    decisions are no better than chance on average (g(0) >= 0); the cap ``logit_scale_cap`` when they
    separate the classes perfectly (g < 0 everywhere).
    """
    rows = torch.arange(labels.numel(), device=labels.device)
    d_true = decision[rows, labels]

    def slope(a: float):
        p = torch.softmax(a * decision, 1)
        m = (p * decision).sum(1)
        return float((m - d_true).mean()), float(((p * decision * decision).sum(1) - m * m).mean())

    if slope(0.0)[0] >= 0:
        return 0.0
    cap = logit_scale_cap(decision)
    lo, hi, a = 0.0, None, min(1.0, cap)
    for _ in range(max_iter):
        g, h = slope(a)
        if g < 0:
            lo = a
        else:
            hi = a
        if hi is None and a >= cap:
            return cap
        upper = cap if hi is None else hi
        if upper - lo <= 1e-12 * upper:
            break
        step = a - g / h if h > 0 else float("inf")
        if not lo < step < upper:
            step = min(2 * a, cap) if hi is None else 0.5 * (lo + hi)
        a = step
    return a


def scores_to_probabilities(scores: torch.Tensor, how: str, logit_scale: float = 1.0) -> torch.Tensor:
    if how == "softmax":
        return torch.softmax(scores, 1)
    if how == "temperature":
        return torch.softmax(logit_scale * scores, 1)
    if how == "sigmoid":
        p = torch.sigmoid(scores)
    else:  # clip: read +-1 targets as probabilities 0..1
        p = ((scores + 1) / 2).clamp_min(1e-6)
    return p / p.sum(1, keepdim=True)


def probe_decision(features: torch.Tensor, labels: torch.Tensor, num_classes: int, *, loss: str = "least_squares",
                   fit: str = "out_of_fold", folds: int = 5, seed: int = 0, standardize: bool = True,
                   C: float | None = None, alpha: float | str = 0.01, gram_products: str = "float64"):
    """One-vs-rest linear SVM scores [N, K] of every sample and the C used.

    ``loss``: least_squares (LS-SVM, closed form; ``alpha`` relative to the data, or 'gcv') | squared_hinge
    (LinearSVC's objective; ``C`` default 1). ``fit``: out_of_fold (``folds`` stratified folds, each scored
    by the probe fitted on the others) | in_sample | leave_one_out (least_squares: exact, closed form).
    ``standardize``: z-score every feature first. ``C`` overrides ``alpha``. The rows are read in a seeded
    order free of their positions (:mod:`._order`), so a shuffled split gives the same scores."""
    peak = float(features.abs().max())
    if peak > 2.0 ** 40 or 0 < peak < 2.0 ** -40:
        # the probe is free of the features' scale, but float32 Gram products of values near 1e20 overflow
        # (and near 1e-20 underflow): bring them near 1 by a power of two, which rounds nothing
        features = features * 2.0 ** -math.ceil(math.log2(peak))
    order, sizes = None, None
    if fit == "out_of_fold":
        # rows grouped by fold (every fold is a contiguous block), in an order free of the rows' positions
        fold_ids, order = folds_and_order(features, labels, num_classes, folds, seed)
        sizes = torch.bincount(fold_ids, minlength=folds).tolist()
    elif loss == "least_squares":  # in_sample, leave_one_out
        order = folds_and_order(features, labels, num_classes, None, seed)[1]
    rows_labels = labels if order is None else labels[order]
    if loss == "least_squares":
        # the rows grouped by fold and centred block by block as they are read; the standardisation's
        # scaling is applied to the small systems (ls_svm_decision). The caller's tensor is never modified.
        mean = (features.new_ones(features.shape[0]) @ features) / features.shape[0] if standardize else None
        out, C = ls_svm_decision(Rows(features, order, mean), rows_labels, num_classes, C, sizes, alpha,
                                 gram_products, leave_one_out=fit == "leave_one_out")
    else:
        x = features[order] if order is not None else (features.clone() if standardize else features)
        if standardize:
            var, mean = torch.var_mean(x, 0, unbiased=False)  # one pass
            std = var.sqrt_()
            x.sub_(mean).div_(torch.where(std > 0, std, torch.ones_like(std)))
        y = ovr_targets(rows_labels, num_classes, x.dtype)
        C = 1.0 if C is None else C
        xb = with_bias(x)
        if sizes is None:
            out = xb @ squared_hinge_svm_weights(xb, y, C)
        else:
            out = torch.empty_like(y)
            for a, b in fold_bounds(sizes):
                if a < b:
                    train = torch.cat([xb[:a], xb[b:]])
                    out[a:b] = xb[a:b] @ squared_hinge_svm_weights(train, torch.cat([y[:a], y[b:]]), C)
    if order is not None:
        unsorted = torch.empty_like(out)
        unsorted[order] = out
        out = unsorted
    return out, C

