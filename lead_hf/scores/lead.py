"""LEAD: logit-space evolution of fine-tuning, in closed form (Hu et al., CVPR 2024).

Steps (docs/lead.md has the maths and every departure from the paper):
1. initial logit state: one-vs-rest linear SVM on the features, scores mapped to per-class probabilities;
2. a random MLP head (1024, 2048 hidden units by default) on the frozen features, seeded;
3. per class, the mean eigenvalue of the empirical NTK of the head's summed output on S samples,
   = the mean squared gradient norm, computed in closed form layer by layer (no Gram matrix);
4. class-aware evolution  F_t = (1 - e_k) onehot + e_k P,  e_k = exp(-rate_k);
5. score = minus the mean cross-entropy of F_t against the labels (higher is better).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ._linalg import gram as gram_matrix
from .registry import ScoreResult, register_score
from .validation import ScoreInputs

ETA_NORMALIZATIONS = ("class_mean", "class_max", "unit_features", "none")
SVM_LOSSES = ("least_squares", "squared_hinge")
SVM_FITS = ("out_of_fold", "in_sample")
SVM_PROBABILITIES = ("softmax", "sigmoid", "clip")


@dataclass
class LeadOptions:
    t: float = 1.0
    """Time coefficient of the evolution."""
    samples_per_class: int = 64
    """S: samples per class for the class-aware NTK (all of a class when it has fewer)."""
    head_widths: tuple[int, ...] = (1024, 2048)
    """Hidden widths of the random MLP head."""
    seed: int = 0
    """Seed of the head initialisation, the NTK sample choice and the SVM folds."""
    eta: float = 1.0
    """Learning-rate-like factor multiplying every rate (after normalisation)."""
    eta_normalization: str = "class_mean"
    """How eta*lambda_k*t is put on a usable scale: class_mean | class_max | unit_features | none."""
    class_aware: bool = True
    """False: one global NTK rate for all classes (the paper's ablation)."""
    svm_loss: str = "least_squares"
    """least_squares (LS-SVM, closed form) | squared_hinge (scikit-learn LinearSVC's objective)."""
    svm_fit: str = "out_of_fold"
    """out_of_fold (each fold scored by the SVM fitted on the other folds) | in_sample (the paper)."""
    svm_alpha: float | str = 0.01
    """least_squares regularisation relative to the data: ridge alpha = svm_alpha x the mean eigenvalue of
    the Gram matrix of [features, 1] (its trace / (D+1); about N after standardisation), so it is free of
    the features' scale and dimension. 'gcv': chosen by generalised cross-validation (one extra
    eigendecomposition)."""
    svm_C: float | None = None
    """Absolute SVM regularisation C (alpha = 1 / (2C)); overrides svm_alpha. None: svm_alpha
    (least_squares) or 1.0, LinearSVC's default (squared_hinge)."""
    svm_folds: int = 5
    """Number of folds of the out-of-fold SVM fit."""
    svm_probability: str = "softmax"
    """How SVM scores become probabilities: softmax | sigmoid (then row-normalised) | clip."""
    standardize: bool = True
    """Z-score every feature dimension before the SVM (makes C comparable across models)."""
    softmax_before_ce: bool = True
    """Take the cross-entropy of the evolved logits F_t as logits (softmax, then log), as a CE loss on
    logits does. False: read F_t directly as probabilities (its rows already sum to 1)."""

    def __post_init__(self):
        _check_choice("eta_normalization", self.eta_normalization, ETA_NORMALIZATIONS)
        _check_choice("svm_loss", self.svm_loss, SVM_LOSSES)
        _check_choice("svm_fit", self.svm_fit, SVM_FITS)
        _check_choice("svm_probability", self.svm_probability, SVM_PROBABILITIES)
        if not (self.t >= 0 and math.isfinite(self.t)):
            raise ValueError(f"t must be a finite number >= 0, got {self.t}")
        if not (self.eta > 0 and math.isfinite(self.eta)):
            raise ValueError(f"eta must be a finite number > 0, got {self.eta}")
        if self.samples_per_class < 1:
            raise ValueError(f"samples_per_class must be >= 1, got {self.samples_per_class}")
        if not self.head_widths or any(int(w) < 1 for w in self.head_widths):
            raise ValueError(f"head_widths must be positive integers, got {self.head_widths}")
        if self.svm_C is not None and not (self.svm_C > 0 and math.isfinite(self.svm_C)):
            raise ValueError(f"svm_C must be > 0 (or None to use svm_alpha), got {self.svm_C}")
        if self.svm_alpha != "gcv" and not (isinstance(self.svm_alpha, (int, float))
                                            and self.svm_alpha > 0 and math.isfinite(self.svm_alpha)):
            raise ValueError(f"svm_alpha must be a number > 0 or 'gcv', got {self.svm_alpha!r}")
        if self.svm_folds < 2:
            raise ValueError(f"svm_folds must be >= 2, got {self.svm_folds}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")


# --------------------------------------------------------------------------------------------------
# 2-3. random head and its class-aware NTK
# --------------------------------------------------------------------------------------------------

def make_head(in_dim: int, num_classes: int, widths=(1024, 2048), seed: int = 0,
              dtype=torch.float64, device="cpu") -> nn.Sequential:
    """The random MLP head: Linear-ReLU blocks then a Linear to K outputs, PyTorch default init.

    Initialised on the CPU under a private RNG state, so the head depends only on ``seed`` (not on the
    device, nor on the caller's global RNG).
    """
    layers: list[nn.Module] = []
    dims = [in_dim, *[int(w) for w in widths]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b, dtype=torch.float64), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], num_classes, dtype=torch.float64))
    return nn.Sequential(*layers).to(device=device, dtype=dtype).requires_grad_(False)


def ntk_traces(head: nn.Sequential, z: torch.Tensor) -> torch.Tensor:
    """Per sample, ||d(sum_k F_k(z)) / d(head parameters)||^2, in closed form.

    For a layer  out = W a + b  with back-propagated signal delta = d(sum F)/d(out), the gradient is
    delta a^T for W and delta for b, so its squared norm is ||delta||^2 (||a||^2 + 1). The signal starts
    as a vector of ones at the output and goes back through W^T and the ReLU masks.
    """
    linears = [m for m in head if isinstance(m, nn.Linear)]
    acts, masks = [z], []
    a = z
    for lin in linears[:-1]:
        pre = torch.addmm(lin.bias, a, lin.weight.T)
        masks.append(pre > 0)
        a = pre.clamp_min(0)
        acts.append(a)
    # delta at the output is all ones: ||delta||^2 = K, and W_L^T delta is the column sum of W_L.
    last = linears[-1]
    total = last.out_features * ((acts[-1] ** 2).sum(1) + 1)
    back = last.weight.sum(0).expand(z.shape[0], -1)       # W_L^T 1, one row per sample
    for i in range(len(linears) - 2, -1, -1):
        delta = back * masks[i]
        total = total + (delta ** 2).sum(1) * ((acts[i] ** 2).sum(1) + 1)
        if i:
            back = delta @ linears[i].weight
    return total


def within_class_order(features: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Sample indices grouped by class, in a seeded random order inside each class.

    The order comes from a seeded random projection of each feature row rather than from the row's
    position, so the samples picked (and hence the score) do not depend on the order of the dataset:
    shuffling or re-gathering the same split gives the same LEAD value.
    """
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(features.shape[1], generator=gen, dtype=torch.float64).to(features.device)
    key = (features.double() @ direction).cpu()
    labels_cpu = labels.cpu()
    by_key = torch.argsort(key, stable=True)
    return by_key[torch.sort(labels_cpu[by_key], stable=True).indices]


def _rank_in_class(order: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    labels_cpu = labels.cpu()
    counts = torch.bincount(labels_cpu, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(order.numel()) - starts[labels_cpu[order]]


def select_ntk_samples(features: torch.Tensor, labels: torch.Tensor, num_classes: int, per_class: int,
                       seed: int) -> torch.Tensor:
    """Indices of at most ``per_class`` samples of each class, a seeded choice independent of row order."""
    order = within_class_order(features, labels, seed)
    return order[_rank_in_class(order, labels, num_classes) < per_class].to(labels.device)


def class_ntk_rates(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    opts: LeadOptions, chunk: int = 4096) -> torch.Tensor:
    """lambda_k: the mean eigenvalue (trace / S) of the class-k empirical NTK of the random head."""
    idx = select_ntk_samples(features, labels, num_classes, opts.samples_per_class, opts.seed)
    z = features[idx]
    if opts.eta_normalization == "unit_features":
        z = z / features.pow(2).sum(1).mean().sqrt().clamp_min(1e-12)
    # float32 is plenty for squared norms (relative error ~1e-6) and halves the cost of the biggest matmuls
    z = z.float()
    head = make_head(z.shape[1], num_classes, opts.head_widths, opts.seed, dtype=z.dtype, device=z.device)
    traces = torch.cat([ntk_traces(head, part) for part in z.split(chunk)]).double()
    y = labels[idx]
    sums = torch.zeros(num_classes, dtype=traces.dtype, device=traces.device).index_add_(0, y, traces)
    counts = torch.bincount(y, minlength=num_classes).to(traces.dtype)
    if not opts.class_aware:
        return (sums.sum() / counts.sum()).expand(num_classes).clone()
    return sums / counts


def evolution_rates(lam: torch.Tensor, opts: LeadOptions, num_classes: int) -> torch.Tensor:
    """eta * lambda_k * t on the scale chosen by ``eta_normalization``."""
    mode = opts.eta_normalization
    if mode == "class_mean":
        lam = lam / lam.mean()
    elif mode == "class_max":
        lam = lam / lam.max()
    elif mode == "unit_features":
        lam = lam / num_classes  # the summed output puts a factor K into the last layer's term
    return opts.eta * opts.t * lam


# --------------------------------------------------------------------------------------------------
# 1. initial logit state: one-vs-rest linear SVM
# --------------------------------------------------------------------------------------------------

def standardize(x: torch.Tensor) -> torch.Tensor:
    """Z-score columns; constant columns become 0."""
    std = x.std(0, unbiased=False)
    return (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))


def _with_bias(x: torch.Tensor) -> torch.Tensor:
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


def _fold_bounds(sizes: list[int]) -> list[tuple[int, int]]:
    ends = torch.tensor(sizes).cumsum(0).tolist()
    return [(e - n, e) for n, e in zip(sizes, ends)]


def _gram_with_bias(x: torch.Tensor) -> torch.Tensor:
    """LOWER triangle of the Gram matrix of [x, 1], without building [x, 1]: [[x^T x, .], [1^T x, n]].

    Only the lower triangle is filled (the upper one may be zero): everything downstream (sums, Cholesky,
    eigh) reads the lower triangle only, and skipping the symmetrisation saves a pass per fold.
    """
    d = x.shape[1]
    out = torch.zeros(d + 1, d + 1, dtype=x.dtype, device=x.device)
    out[:d, :d] = gram_matrix(x, lower_only=True)
    out[d, :d] = x.sum(0)
    out[d, d] = x.shape[0]
    return out


def _xty_with_bias(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.T @ y, y.sum(0, keepdim=True)], 0)


def ls_svm_decision(x: torch.Tensor, y: torch.Tensor, C: float | None, fold_sizes: list[int] | None,
                    relative_alpha: float | str = "gcv"):
    """Least-squares SVM (Suykens & Vandewalle 1999), one-vs-rest, every class at once.

    Minimises 0.5 |w|^2 + C sum_i (1 - y_i w.[x_i, 1])^2 per class: ridge regression on +-1 targets
    with alpha = 1 / (2C) and the intercept regularised like the weights (as liblinear does). C=None:
    alpha = relative_alpha x the Gram matrix's mean eigenvalue, or chosen by GCV when relative_alpha='gcv'.
    ``fold_sizes``: the rows of ``x`` are grouped by fold, in that order, and each fold is predicted by
    the model fitted on the other folds; None: in-sample decisions.
    Works in the primal ((D+1) x (D+1) systems) when N > D+1 and in the dual (N x N kernel) otherwise.
    Per-fold Grams are taken on contiguous row blocks and summed: one pass over the data, no copy of it.
    Returns (decision [N, K], C).
    """
    n, d = x.shape[0], x.shape[1] + 1
    primal = n > d
    bounds = _fold_bounds(fold_sizes) if fold_sizes is not None else []
    if primal:
        parts = [(_gram_with_bias(x[a:b]), _xty_with_bias(x[a:b], y[a:b])) for a, b in bounds]
        gram = sum(p[0] for p in parts) if parts else _gram_with_bias(x)  # lower triangle
        xty = sum(p[1] for p in parts) if parts else _xty_with_bias(x, y)
    else:
        gram = gram_matrix(x, samples=True).add_(1.0)  # kernel of [x, 1], symmetric (sliced below)
    if C is None and relative_alpha != "gcv":
        # trace / (D+1) in both the primal and the dual: the same alpha whichever path runs
        C = 1.0 / (2.0 * relative_alpha * float(torch.diagonal(gram).sum()) / d)
    if C is None:
        s, v = torch.linalg.eigh(gram)
        s = s.clamp_min(0)
        proj = v.T @ (xty if primal else y)
        # |u_j^T Y|^2 with u_j the left singular vectors; in the primal u_j = X v_j / sqrt(s_j)
        r2 = (proj ** 2).sum(1)
        if primal:
            r2 = torch.where(s > s.max() * 1e-12, r2 / s.clamp_min(1e-300), torch.zeros_like(r2))
        C = 1.0 / (2.0 * gcv_alpha(s, r2, float((y ** 2).sum()), n))
    alpha = 1.0 / (2.0 * C)

    def regularised(a: torch.Tensor) -> torch.Tensor:  # in place: callers pass a matrix they own
        a.diagonal().add_(alpha)
        return a

    def predict(rows: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.addmm(w[-1:], rows, w[:-1])

    if fold_sizes is None:
        if primal:
            return predict(x, torch.cholesky_solve(xty, torch.linalg.cholesky(regularised(gram.clone())))), C
        return gram @ torch.cholesky_solve(y, torch.linalg.cholesky(regularised(gram.clone()))), C
    out = torch.empty_like(y)
    for i, (a, b) in enumerate(bounds):
        if a == b:
            continue
        if primal:
            g_f, b_f = parts[i]
            w = torch.cholesky_solve(xty - b_f, torch.linalg.cholesky(regularised(gram - g_f)))
            out[a:b] = predict(x[a:b], w)
        else:
            keep = torch.ones(n, dtype=torch.bool, device=x.device)
            keep[a:b] = False
            k_tr = gram[keep][:, keep]
            coef = torch.cholesky_solve(y[keep], torch.linalg.cholesky(regularised(k_tr)))
            out[a:b] = gram[a:b][:, keep] @ coef
    return out, C


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
    order = within_class_order(features, labels, seed + 1)
    fold = torch.empty(labels.numel(), dtype=torch.int64)
    fold[order] = _rank_in_class(order, labels, num_classes) % num_folds
    return fold.to(labels.device)


def svm_decision(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """One-vs-rest SVM scores [N, K] of every sample (out-of-fold or in-sample) and the C used."""
    order, sizes = None, None
    if opts.svm_fit == "out_of_fold":
        folds = stratified_folds(features, labels, num_classes, opts.svm_folds, opts.seed)
        order = torch.argsort(folds, stable=True)  # rows grouped by fold: every fold is a contiguous block
        sizes = torch.bincount(folds, minlength=opts.svm_folds).tolist()
    # our own working copy (one gather), standardised in place; the caller's tensor is never modified
    x = features[order] if order is not None else (features.clone() if opts.standardize else features)
    if opts.standardize:
        var, mean = torch.var_mean(x, 0, unbiased=False)  # one pass
        std = var.sqrt_()
        x.sub_(mean).div_(torch.where(std > 0, std, torch.ones_like(std)))
    y = ovr_targets(labels if order is None else labels[order], num_classes, x.dtype)
    if opts.svm_loss == "least_squares":
        out, C = ls_svm_decision(x, y, opts.svm_C, sizes, opts.svm_alpha)
    else:
        C = 1.0 if opts.svm_C is None else opts.svm_C
        xb = _with_bias(x)
        if sizes is None:
            out = xb @ squared_hinge_svm_weights(xb, y, C)
        else:
            out = torch.empty_like(y)
            for a, b in _fold_bounds(sizes):
                if a < b:
                    train = torch.cat([xb[:a], xb[b:]])
                    out[a:b] = xb[a:b] @ squared_hinge_svm_weights(train, torch.cat([y[:a], y[b:]]), C)
    if order is not None:
        unsorted = torch.empty_like(out)
        unsorted[order] = out
        out = unsorted
    return out, C


def scores_to_probabilities(scores: torch.Tensor, how: str) -> torch.Tensor:
    if how == "softmax":
        return torch.softmax(scores, 1)
    if how == "sigmoid":
        p = torch.sigmoid(scores)
    else:  # clip: read +-1 targets as probabilities 0..1
        p = ((scores + 1) / 2).clamp_min(1e-6)
    return p / p.sum(1, keepdim=True)


# --------------------------------------------------------------------------------------------------
# 4-5. evolution and score
# --------------------------------------------------------------------------------------------------

def evolved_cross_entropy(probs: torch.Tensor, labels: torch.Tensor, rates: torch.Tensor,
                          softmax_before_ce: bool) -> torch.Tensor:
    """Mean CE of F_t = (1 - e) onehot + e P with e = exp(-rate of the sample's class)."""
    e = torch.exp(-rates[labels])
    rows = torch.arange(labels.numel(), device=labels.device)
    if softmax_before_ce:
        f = e[:, None] * probs
        f[rows, labels] += 1 - e
        return -torch.log_softmax(f, 1)[rows, labels].mean()
    p_true = probs[rows, labels]
    # -log(1 - e + e p) written to stay accurate when e is tiny (log1p) and when p is tiny
    return -torch.log1p(-e * (1 - p_true)).mean()


@register_score(
    "lead", options=LeadOptions,
    summary="LEAD: cross-entropy of logits evolved by a class-aware NTK ODE in closed form",
    citation="Hu et al., Exploring Logit Space Evolution for Model Selection, CVPR 2024")
def lead(inputs: ScoreInputs, opts: LeadOptions) -> ScoreResult:
    z, y, k = inputs.features, inputs.labels, inputs.num_classes
    decision, C = svm_decision(z, y, k, opts)
    probs = scores_to_probabilities(decision, opts.svm_probability)
    lam = class_ntk_rates(z, y, k, opts)
    rates = evolution_rates(lam, opts, k)
    ce = evolved_cross_entropy(probs, y, rates, opts.softmax_before_ce)
    svm_acc = float((decision.argmax(1) == y).double().mean())
    return ScoreResult("lead", -float(ce), details={
        "cross_entropy": float(ce),
        "ntk_lambda": lam.tolist(),
        "rates": rates.tolist(),
        "svm_C": float(C),
        "svm_accuracy": svm_acc,
        "initial_cross_entropy": float(-torch.log(probs[torch.arange(y.numel()), y].clamp_min(1e-300)).mean()),
    })
