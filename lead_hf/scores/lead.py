"""LEAD: logit-space evolution of fine-tuning, in closed form (Hu et al., CVPR 2024).

Steps (docs/lead.md has the maths and every departure from the paper):
1. initial logit state: one-vs-rest least-squares SVM on the features, fitted out of fold; its decisions
   become per-class probabilities (softmax, a fitted temperature, ...);
2. a random MLP head (1024, 2048 hidden units by default) on the frozen features, seeded;
3. the empirical NTK of the head's summed output on S samples per class, from the layer-wise closed form
   Theta = sum_l (Delta_l Delta_l^T) * (A_l A_l^T + 1): per class its mean eigenvalue lambda_k (a trace,
   no Gram matrix), and where the evolution needs it the Gram matrix itself and its top eigenvalue;
4. evolution  F_t = Y + exp(-eta Theta t)(F_0 - Y), with Theta replaced by lambda_k per class
   (class_mean), by each class's own block (class_block) or taken whole on the sampled points
   (full_kernel), and eta on the scale set by eta_normalization (lambda_max: eta = c / lambda_max);
5. score = minus the mean cross-entropy of F_t against the labels (higher is better).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..utils.constraints import Boolean, Constrained, Interval, Items, OneOf, OptionError
from ._linalg import gram as gram_matrix
from ._linalg import FLOAT32_BLOCK_ROWS, GRAM_PRODUCTS, add_gram_, addmm_rows_, new_gram_total, spd_solve
from ._stats import class_counts, class_means, class_sums
from .registry import ScoreResult, register_score
from .validation import ScoreInputs

ETA_NORMALIZATIONS = ("class_mean", "class_max", "lambda_max", "unit_features", "none")
EVOLUTIONS = ("class_mean", "class_block", "full_kernel")
EVOLVED_STATES = ("probabilities", "decisions")
LAMBDA_MAX_METHODS = ("lanczos", "eigvalsh", "matrix_free")
SVM_LOSSES = ("least_squares", "squared_hinge")
SVM_FITS = ("out_of_fold", "in_sample", "leave_one_out")
SVM_PROBABILITIES = ("softmax", "temperature", "sigmoid", "clip")
# F_t read as probabilities (softmax_before_ce=False) can leave [0, 1] under a kernel that couples samples;
# the true-class probability is floored here so that one such sample costs at most -log(1e-6) = 13.8 nats.
PROBABILITY_FLOOR = 1e-6


@dataclass
class LeadOptions(Constrained):
    t: float = 0.3
    """Time coefficient of the evolution (with eta_normalization=lambda_max: a number of gradient steps).
    0.3 by the declared CHOOSE/CONFIRM rule on benchmark v2 (docs/benchmark.md section 5); the paper's 1
    pushes every model's state further towards the labels and loses ranking signal."""
    samples_per_class: int = 64
    """S: samples per class for the class-aware NTK (all of a class when it has fewer)."""
    head_widths: tuple[int, ...] = (1024, 2048)
    """Hidden widths of the random MLP head."""
    seed: int = 0
    """Seed of the head initialisation, the NTK sample choice and the SVM folds."""
    eta: float = 1.0
    """Learning-rate-like factor multiplying every rate (after normalisation); with
    eta_normalization=lambda_max it is c in eta = c / lambda_max (c < 2: a stable gradient step)."""
    eta_normalization: str = "class_mean"
    """The kernel's scale: eta*Theta*t is divided by the mean (class_mean) or largest (class_max) class
    rate lambda_k, by lambda_max, the top eigenvalue of the NTK over all sampled points (lambda_max), by K
    after scaling the features to unit RMS norm (unit_features), or not at all (none)."""
    evolution: str = "class_mean"
    """Which kernel moves the logits: class_mean (each class's mean eigenvalue lambda_k, a scalar rate: the
    paper's class-aware decomposition) | class_block (each class's own S x S NTK block, its whole spectrum)
    | full_kernel (the S*K x S*K NTK of all sampled points, classes coupled). The kernel variants evolve
    and score the sampled points only."""
    evolved_state: str = "probabilities"
    """What evolves: probabilities (F_0 = the probe's probabilities, towards one-hot labels; the paper) |
    decisions (F_0 = the LS-SVM's decisions, towards its +-1 targets: the MSE regression the probe solves;
    svm_probability then maps F_t to probabilities)."""
    class_aware: bool = True
    """False: one global NTK rate for all classes (the paper's ablation; evolution=class_mean only)."""
    max_kernel_points: int = 1024
    """The kernel points: all S*K sampled points when there are at most this many, else floor(this / K)
    of them per class. lambda_max and the full kernel are taken on them; the class rates lambda_k and the
    class blocks use all S per class. Bounds the n x n Gram (and full_kernel's eigh) cost."""
    lambda_max_method: str = "lanczos"
    """Top NTK eigenvalue of the kernel points: lanczos (Lanczos on their Gram matrix) | eigvalsh (the same
    Gram, LAPACK) | matrix_free (Lanczos from the layer-wise closed form, no n x n matrix: memory O(n x
    width) but each step costs about two forward passes of the head)."""
    svm_loss: str = "least_squares"
    """least_squares (LS-SVM, closed form) | squared_hinge (scikit-learn LinearSVC's objective)."""
    svm_fit: str = "out_of_fold"
    """out_of_fold (each fold scored by the SVM fitted on the other folds) | in_sample (the paper) |
    leave_one_out (least_squares only: every sample scored by the SVM fitted on all the others, exactly and
    in closed form from the hat matrix's diagonal, f_-i = y_i - (y_i - f_i) / (1 - h_ii): more training
    data per prediction than 5 folds when N / K is small; costs one N x D x D pass more than in_sample)."""
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
    svm_gram_products: str = "float32"
    """least_squares with N > D+1: precision of the products in the D x D Gram matrix of the features, the
    largest cost of the score (N D^2 / 2 multiply-adds). float32: products in float32 over blocks of 4096
    rows, the blocks summed in float64 and every solve done in float64: half the Gram's time; it moved the
    score by at most 7e-9 on the feature sets of benchmarks/lead_gram_precision.py (the equality tests'
    tolerance is 1e-6) | float64."""
    svm_probability: str = "softmax"
    """How SVM scores become probabilities: softmax | temperature (softmax of a x scores, one scalar a >= 0
    per model fitted by minimising the NLL of the out-of-fold decisions: Platt-style calibration) |
    sigmoid (then row-normalised) | clip."""
    standardize: bool = True
    """Z-score every feature dimension before the SVM (makes C comparable across models)."""
    softmax_before_ce: bool = True
    """Take the cross-entropy of the evolved logits F_t as logits (softmax, then log), as a CE loss on
    logits does. False: read F_t directly as probabilities (its rows already sum to 1)."""

    constraints = {
        "t": Interval(float, 0), "samples_per_class": Interval(int, 1),
        "head_widths": Items(Interval(int, 1), min_items=1), "seed": Interval(int),
        "eta": Interval(float, 0, closed="neither"), "eta_normalization": OneOf(*ETA_NORMALIZATIONS),
        "evolution": OneOf(*EVOLUTIONS), "evolved_state": OneOf(*EVOLVED_STATES), "class_aware": Boolean(),
        "max_kernel_points": Interval(int, 2), "lambda_max_method": OneOf(*LAMBDA_MAX_METHODS),
        "svm_loss": OneOf(*SVM_LOSSES), "svm_fit": OneOf(*SVM_FITS),
        "svm_alpha": (Interval(float, 0, closed="neither"), "gcv"),
        "svm_C": (Interval(float, 0, closed="neither"), None), "svm_folds": Interval(int, 2),
        "svm_probability": OneOf(*SVM_PROBABILITIES), "standardize": Boolean(), "softmax_before_ce": Boolean(),
        "svm_gram_products": OneOf(*GRAM_PRODUCTS),
    }

    def __post_init__(self):
        super().__post_init__()
        if self.svm_fit == "leave_one_out" and self.svm_loss != "least_squares":
            raise OptionError("svm_fit", self.svm_fit,
                              "'out_of_fold' or 'in_sample' with svm_loss='squared_hinge' (the closed-form "
                              "leave-one-out exists for the least-squares SVM only)")
        if not self.class_aware and self.evolution != "class_mean":
            raise OptionError("class_aware", self.class_aware,
                              "True with evolution='class_block' or 'full_kernel', which use the kernel itself "
                              "(one global rate only applies to evolution='class_mean')")


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


@dataclass
class HeadKernel:
    """The empirical NTK of the summed output of a head, on n points, kept as its layer signals.

    For a layer ``out = W a + b`` the gradient of sum_k F_k with respect to (W, b) at x is
    (delta(x) a(x)^T, delta(x)), so  Theta(x, x') = sum_l <delta_l(x), delta_l(x')> (<a_l(x), a_l(x')> + 1):
    Theta = sum_l (Delta_l Delta_l^T) * (A_l A_l^T + 1) (elementwise), with A_l the layer's inputs and
    Delta_l the signals back-propagated from the summed output to its outputs (all ones at the last
    layer). Nothing n x n is formed until ``gram`` is called; ``traces`` and ``matvec`` need none.
    """

    inputs: list[torch.Tensor]
    """A_l [n, d_in] of every Linear layer, first to last."""
    signals: list[torch.Tensor | None]
    """Delta_l [n, d_out] of every Linear layer; None for the last one (a vector of ones, K entries)."""
    num_outputs: int

    @property
    def n(self) -> int:
        return self.inputs[0].shape[0]

    def traces(self) -> torch.Tensor:
        """diag(Theta): ||grad sum_k F_k(x)||^2 per point, [n]."""
        total = self.num_outputs * ((self.inputs[-1] ** 2).sum(1) + 1)
        for a, d in zip(self.inputs[:-1], self.signals[:-1]):
            total = total + (d ** 2).sum(1) * ((a ** 2).sum(1) + 1)
        return total

    def gram(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Theta restricted to ``rows`` (all points when None), float64 [m, m].

        Every product is symmetric, so each is taken by syrk (one triangle, half the flops of a matmul)
        and the sum is mirrored once at the end."""
        pick = (lambda t: t) if rows is None else (lambda t: t[rows])

        def sym(t: torch.Tensor) -> torch.Tensor:  # t t^T: the lower triangle is what is read below
            return gram_matrix(t, samples=True, lower_only=True)

        out = (self.num_outputs * (sym(pick(self.inputs[-1])) + 1)).double()
        for a, d in zip(self.inputs[:-1], self.signals[:-1]):
            out += (sym(pick(d)) * (sym(pick(a)) + 1)).double()
        return torch.tril(out) + torch.tril(out, -1).T

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Theta v without Theta: for each layer  sum_j (d_i.d_j)(a_i.a_j) v_j = d_i^T M a_i  with
        M = Delta^T diag(v) A, plus Delta (Delta^T v). Cost: two products of [n, d_out] x [d_out, d_in]
        per layer, i.e. about two forward passes; memory O(n x width)."""
        x = v.to(self.inputs[0].dtype)
        a = self.inputs[-1]
        out = self.num_outputs * (a @ (a.T @ x) + x.sum())
        for a, d in zip(self.inputs[:-1], self.signals[:-1]):
            m = d.T @ (x[:, None] * a)
            out = out + ((d @ m) * a).sum(1) + d @ (d.T @ x)
        return out.to(v.dtype)


def head_kernel(head: nn.Sequential, z: torch.Tensor) -> HeadKernel:
    """The layer inputs and back-propagated signals of ``head`` on ``z`` (one forward, one backward pass)."""
    linears = [m for m in head if isinstance(m, nn.Linear)]
    inputs, masks = [z], []
    a = z
    for lin in linears[:-1]:
        pre = torch.addmm(lin.bias, a, lin.weight.T)
        masks.append(pre > 0)
        a = pre.clamp_min(0)
        inputs.append(a)
    signals: list[torch.Tensor | None] = [None] * len(linears)
    # the signal at the output is all ones, so W_L^T 1 is the column sum of W_L, one row per sample
    back = linears[-1].weight.sum(0).expand(z.shape[0], -1)
    for i in range(len(linears) - 2, -1, -1):
        signals[i] = back * masks[i]
        if i:
            back = signals[i] @ linears[i].weight
    return HeadKernel(inputs, signals, linears[-1].out_features)


def ntk_traces(head: nn.Sequential, z: torch.Tensor) -> torch.Tensor:
    """Per sample, ||d(sum_k F_k(z)) / d(head parameters)||^2, in closed form.

    For a layer  out = W a + b  with back-propagated signal delta = d(sum F)/d(out), the gradient is
    delta a^T for W and delta for b, so its squared norm is ||delta||^2 (||a||^2 + 1). The signal starts
    as a vector of ones at the output and goes back through W^T and the ReLU masks.
    """
    return head_kernel(head, z).traces()


def lanczos_top_eigenvalue(matvec, n: int, *, dtype=torch.float64, device="cpu", seed: int = 0,
                           tol: float = 1e-7, max_iter: int = 100) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite operator given by ``matvec``.

    Lanczos with full re-orthogonalisation (the Krylov basis stays small: the top eigenvalue of an NTK
    stands well apart, so a handful of steps suffice). Stops when the top Ritz pair's residual
    ||Theta u - theta u|| = beta_j |s_j| falls below tol x theta; the eigenvalue's error is then about
    (tol x theta)^2 / gap, far below the float32 rounding of the kernel. The start vector is seeded.
    """
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
    q = q / q.norm()
    basis, alphas, betas = [q], [], []
    theta = 0.0
    for j in range(min(max_iter, n)):
        w = matvec(basis[-1])
        alphas.append(float(basis[-1] @ w))
        stacked = torch.stack(basis, 1)
        for _ in range(2):  # twice is enough (Kahan's "twice is enough" re-orthogonalisation)
            w = w - stacked @ (stacked.T @ w)
        beta = float(w.norm())
        tri = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if j:
            off = torch.tensor(betas, dtype=torch.float64)
            tri += torch.diag(off, 1) + torch.diag(off, -1)
        evals, evecs = torch.linalg.eigh(tri)
        theta = float(evals[-1])
        if beta * abs(float(evecs[-1, -1])) <= tol * max(abs(theta), 1e-300) or beta <= 1e-300:
            break
        betas.append(beta)
        basis.append(w / beta)
    return theta


def within_class_order(features: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Sample indices grouped by class, in a seeded random order inside each class.

    The order comes from a seeded random projection of each feature row rather than from the row's
    position, so the samples picked (and hence the score) do not depend on the order of the dataset:
    shuffling or re-gathering the same split gives the same LEAD value.
    """
    by_key = _projection_order(features, seed)
    return by_key[torch.sort(labels.cpu()[by_key], stable=True).indices]


def _projection_order(features: torch.Tensor, seed: int) -> torch.Tensor:
    """Sample indices (CPU) sorted by a seeded random projection of their feature rows."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(features.shape[1], generator=gen, dtype=torch.float64).to(features.device)
    return torch.argsort((features.double() @ direction).cpu(), stable=True)


def _rank_in_class(order: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    labels_cpu = labels.cpu()
    counts = class_counts(labels_cpu, num_classes)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(order.numel()) - starts[labels_cpu[order]]


def select_ntk_samples(features: torch.Tensor, labels: torch.Tensor, num_classes: int, per_class: int,
                       seed: int) -> torch.Tensor:
    """Indices of at most ``per_class`` samples of each class, a seeded choice independent of row order."""
    order = within_class_order(features, labels, seed)
    return order[_rank_in_class(order, labels, num_classes) < per_class].to(labels.device)


def kernel_inputs(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """(indices of the S samples per class, the head's NTK on them as layer signals)."""
    idx = select_ntk_samples(features, labels, num_classes, opts.samples_per_class, opts.seed)
    z = features[idx]
    if opts.eta_normalization == "unit_features":
        z = z / features.pow(2).sum(1).mean().sqrt().clamp_min(1e-12)
    # float32 is plenty for the kernel (relative error ~1e-6 of entries that only set exp(-rate)) and
    # halves the cost of the largest products
    z = z.float()
    head = make_head(z.shape[1], num_classes, opts.head_widths, opts.seed, dtype=z.dtype, device=z.device)
    return idx, head_kernel(head, z)


def class_ntk_rates(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    opts: LeadOptions) -> torch.Tensor:
    """lambda_k: the mean eigenvalue (trace / S) of the class-k empirical NTK of the random head."""
    idx, kernel = kernel_inputs(features, labels, num_classes, opts)
    return _lambdas(kernel.traces().double(), labels[idx], num_classes, opts)


def _lambdas(traces: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions) -> torch.Tensor:
    if not opts.class_aware:
        return traces.mean().expand(num_classes).clone()
    return class_means(traces, labels, num_classes)


def kernel_point_rows(labels: torch.Tensor, num_classes: int, opts: LeadOptions) -> torch.Tensor | None:
    """Rows (into the sampled points, grouped by class) of the kernel points; None: all of them.

    A nested subset: the first floor(max_kernel_points / K) (at least 1) sampled points of every class."""
    if labels.numel() <= opts.max_kernel_points:
        return None
    per_class = max(1, opts.max_kernel_points // num_classes)
    keep = _rank_in_class(torch.arange(labels.numel()), labels.cpu(), num_classes) < per_class
    return keep.nonzero().squeeze(1).to(labels.device)


def top_ntk_eigenvalue(kernel: HeadKernel, rows: torch.Tensor | None, opts: LeadOptions) -> float:
    """lambda_max of the NTK on the kernel points ``rows``, by ``opts.lambda_max_method``."""
    if opts.lambda_max_method == "matrix_free":
        part = kernel if rows is None else HeadKernel([a[rows] for a in kernel.inputs],
                                                      [None if d is None else d[rows] for d in kernel.signals],
                                                      kernel.num_outputs)
        return lanczos_top_eigenvalue(part.matvec, part.n, device=part.inputs[0].device, seed=opts.seed)
    gram = kernel.gram(rows)
    if opts.lambda_max_method == "eigvalsh":
        return float(torch.linalg.eigvalsh(gram)[-1])
    return lanczos_top_eigenvalue(lambda v: gram @ v, gram.shape[0], device=gram.device, seed=opts.seed)


def kernel_scale(lam: torch.Tensor, lam_max: float | None, opts: LeadOptions, num_classes: int) -> float:
    """The divisor that puts eta * Theta * t on the scale chosen by ``eta_normalization``."""
    mode = opts.eta_normalization
    if mode == "class_mean":
        return float(lam.mean())
    if mode == "class_max":
        return float(lam.max())
    if mode == "lambda_max":
        return float(lam_max)
    if mode == "unit_features":
        return float(num_classes)  # the summed output puts a factor K into the last layer's term
    return 1.0


def evolution_rates(lam: torch.Tensor, opts: LeadOptions, num_classes: int,
                    lam_max: float | None = None) -> torch.Tensor:
    """eta * lambda_k * t on the scale chosen by ``eta_normalization``."""
    return opts.eta * opts.t * lam / kernel_scale(lam, lam_max, opts, num_classes)


def evolve_with_kernel(residual: torch.Tensor, gram: torch.Tensor, tau: float):
    """exp(-tau Theta) R = V exp(-tau S) V^T R by the eigendecomposition of the (PSD) Gram; (result, S)."""
    s, v = torch.linalg.eigh(gram)
    s = s.clamp_min(0)  # rounding can leave tiny negative eigenvalues of a PSD matrix
    return v @ (torch.exp(-tau * s)[:, None] * (v.T @ residual)), s


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


class _Rows:
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


def _fold_bounds(sizes: list[int]) -> list[tuple[int, int]]:
    ends = torch.tensor(sizes).cumsum(0).tolist()
    return [(e - n, e) for n, e in zip(sizes, ends)]


@dataclass
class _RowStats:
    """What the primal LS-SVM needs from a run of rows of the (centred) features: one pass over them."""

    gram: torch.Tensor        # LOWER triangle of x^T x [D, D] (the upper one unspecified)
    sums: torch.Tensor        # column sums [D]
    class_sums: torch.Tensor  # per class, the sum of its rows [K, D]
    counts: torch.Tensor      # samples per class [K]
    n: int

    @classmethod
    def of(cls, rows: _Rows, start: int, stop: int, labels: torch.Tensor, num_classes: int,
           products: str) -> "_RowStats":
        """The statistics of rows start..stop (``labels``: the labels of all rows, working order)."""
        d = rows.shape[1]
        gram = new_gram_total(d, rows.features)
        sums = torch.zeros(num_classes, d, dtype=rows.features.dtype, device=rows.features.device)
        for a, block in rows.blocks(start, stop):
            add_gram_(gram, block, products, rows.scratch)
            sums.index_add_(0, labels[a:a + block.shape[0]], block)
        return cls(gram, sums.sum(0), sums, class_counts(labels[start:stop], num_classes), stop - start)

    def __sub__(self, other: "_RowStats") -> "_RowStats":
        return _RowStats(self.gram - other.gram, self.sums - other.sums, self.class_sums - other.class_sums,
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


def column_scale(squares: torch.Tensor, sums: torch.Tensor, n: int, mean: torch.Tensor) -> torch.Tensor:
    """1 / the standard deviation of every column of centred data, from its sums of squares and sums
    (the corrected two-pass variance); 0 for a constant column, which standardisation maps to 0.

    A column is constant when its standard deviation is below 1e-12 x |its mean|: the centring leaves a
    constant column with (at most) the rounding of its mean, orders of magnitude below that, while a
    float32 feature that moves by one unit in its last place varies by ~6e-8 x |mean|.
    """
    var = (squares / n - (sums / n) ** 2).clamp_min(0)
    std = var.sqrt()
    return torch.where(std > 1e-12 * mean.abs(), 1.0 / std.clamp_min(1e-300), torch.zeros_like(std))


def ls_svm_decision(rows: _Rows | torch.Tensor, labels: torch.Tensor, num_classes: int, C: float | None,
                    fold_sizes: list[int] | None, relative_alpha: float | str = "gcv",
                    gram_products: str = "float64", leave_one_out: bool = False):
    """Least-squares SVM (Suykens & Vandewalle 1999), one-vs-rest, every class at once.

    Minimises 0.5 |w|^2 + C sum_i (1 - y_i w.[x_i, 1])^2 per class: ridge regression on +-1 targets
    with alpha = 1 / (2C) and the intercept regularised like the weights (as liblinear does). C=None:
    alpha = relative_alpha x the Gram matrix's mean eigenvalue, or chosen by GCV when relative_alpha='gcv'.
    ``rows``: the features (a tensor, or ``_Rows``: rows read in blocks); ``labels`` in their order.
    ``fold_sizes``: the rows are grouped by fold, in that order, and each fold is predicted by the model
    fitted on the other folds; None: in-sample decisions, or with ``leave_one_out`` each row predicted by
    the model fitted on all the other rows (exact, from the leverages h_ii of the one fit on all rows).
    With ``_Rows`` centred by a mean, the SVM sees the features standardised: each column divided by its
    standard deviation (constant columns become 0). The primal applies that scaling to the (D+1) x (D+1)
    systems instead of the data, and reads the variances off the Gram's diagonal; the dual scales its
    copy. ``gram_products``: precision of the primal Gram's products (``_linalg.add_gram_``); everything
    else is computed in the features' dtype.
    Works in the primal ((D+1) x (D+1) systems) when N > D+1 and in the dual (N x N kernel) otherwise.
    In the primal one pass over the data takes, per fold (a contiguous run of rows), the Gram matrix and
    the class sums; the training set of a fold is the total minus the fold, so its system costs O(D^2),
    and X^T Y comes from the class sums (no N x D x K product). A second pass predicts each fold.
    Returns (decision [N, K], C).
    """
    rows = rows if isinstance(rows, _Rows) else _Rows(rows, None, None)
    mean = rows.mean
    n, d = rows.shape[0], rows.shape[1] + 1
    k = num_classes
    primal = n > d
    bounds = _fold_bounds(fold_sizes) if fold_sizes is not None else [(0, n)]
    scale = None
    if primal:
        parts = [_RowStats.of(rows, a, b, labels, k, gram_products) for a, b in bounds]
        total = parts[0]
        for p in parts[1:]:
            total = _RowStats(total.gram + p.gram, total.sums + p.sums, total.class_sums + p.class_sums,
                              total.counts + p.counts, total.n + p.n)
        if mean is not None:
            scale = column_scale(torch.diagonal(total.gram), total.sums, n, mean)
        outer = None if scale is None else scale[:, None] * scale
        gram, xty = total.system(scale, outer)  # lower triangle
    else:
        x = rows.materialize()
        if mean is not None:
            scale = column_scale((x * x).sum(0), x.sum(0), n, mean)
            x.mul_(scale)
        y = ovr_targets(labels, k, x.dtype)
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
        C = 1.0 / (2.0 * gcv_alpha(s, r2, float(n * k), n))  # |Y|^2 = N K for +-1 targets
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
        if primal:
            system = regularised(gram.clone())
            inverse = spd_solve(system, torch.eye(d, dtype=gram.dtype, device=gram.device))
            predict_into(out, 0, n, inverse @ xty)
            lev = _leverages(rows, scale, inverse)
        else:
            inverse = spd_solve(regularised(gram.clone()), torch.eye(n, dtype=gram.dtype, device=gram.device))
            # H = K (K + a I)^-1 = I - a (K + a I)^-1: the residual is a (K + a I)^-1 y, 1 - h_ii = a M_ii
            return targets - (inverse @ targets) / torch.diagonal(inverse)[:, None], C
        return targets - (targets - out) / (1 - lev)[:, None], C
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


def _leverages(rows: _Rows, scale: torch.Tensor | None, inverse: torch.Tensor) -> torch.Tensor:
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
    return _folds_and_order(features, labels, num_classes, num_folds, seed)[0]


def _folds_and_order(features: torch.Tensor, labels: torch.Tensor, num_classes: int, num_folds: int | None,
                     seed: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(fold ids as ``stratified_folds`` deals them, or None when ``num_folds`` is None; the row order of
    the SVM's working copy: grouped by fold, and inside a fold by the seeded random projection that
    ``within_class_order`` sorts on).

    The working order depends on the rows' values, not on their positions nor on the labels' names, so
    every sum the SVM takes over its copy runs in the same order for a shuffled or relabelled split: the
    score stays invariant to the last few bits, with float32 products too."""
    by_key = _projection_order(features, seed + 1)
    if num_folds is None:
        return None, by_key.to(labels.device)
    labels_cpu = labels.cpu()
    order = by_key[torch.sort(labels_cpu[by_key], stable=True).indices]  # = within_class_order(.., seed + 1)
    fold = torch.empty(labels.numel(), dtype=torch.int64)
    fold[order] = _rank_in_class(order, labels_cpu, num_classes) % num_folds
    working = by_key[torch.argsort(fold[by_key], stable=True)]
    return fold.to(labels.device), working.to(labels.device)


def svm_decision(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """One-vs-rest SVM scores [N, K] of every sample (out-of-fold or in-sample) and the C used."""
    order, sizes = None, None
    if opts.svm_fit == "out_of_fold":
        # rows grouped by fold (every fold is a contiguous block), in an order free of the rows' positions
        folds, order = _folds_and_order(features, labels, num_classes, opts.svm_folds, opts.seed)
        sizes = torch.bincount(folds, minlength=opts.svm_folds).tolist()
    elif opts.svm_loss == "least_squares":  # in_sample, leave_one_out
        order = _folds_and_order(features, labels, num_classes, None, opts.seed)[1]
    rows_labels = labels if order is None else labels[order]
    if opts.svm_loss == "least_squares":
        # the rows grouped by fold and centred block by block as they are read; the standardisation's
        # scaling is applied to the small systems (ls_svm_decision). The caller's tensor is never modified.
        mean = (features.new_ones(features.shape[0]) @ features) / features.shape[0] if opts.standardize else None
        out, C = ls_svm_decision(_Rows(features, order, mean), rows_labels, num_classes, opts.svm_C, sizes,
                                 opts.svm_alpha, opts.svm_gram_products,
                                 leave_one_out=opts.svm_fit == "leave_one_out")
    else:
        x = features[order] if order is not None else (features.clone() if opts.standardize else features)
        if opts.standardize:
            var, mean = torch.var_mean(x, 0, unbiased=False)  # one pass
            std = var.sqrt_()
            x.sub_(mean).div_(torch.where(std > 0, std, torch.ones_like(std)))
        y = ovr_targets(rows_labels, num_classes, x.dtype)
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


# --------------------------------------------------------------------------------------------------
# 4-5. evolution and score
# --------------------------------------------------------------------------------------------------

def readout_cross_entropy(f: torch.Tensor, labels: torch.Tensor, opts: LeadOptions,
                          logit_scale: float = 1.0) -> torch.Tensor:
    """Mean CE of an (evolved) state F against the labels, as ``opts`` reads it."""
    rows = torch.arange(labels.numel(), device=labels.device)
    if opts.evolved_state == "decisions":  # F is a decision function: map it like the probe's decisions
        if opts.svm_probability in ("softmax", "temperature"):
            scale = logit_scale if opts.svm_probability == "temperature" else 1.0
            return -torch.log_softmax(scale * f, 1)[rows, labels].mean()
        p_true = scores_to_probabilities(f, opts.svm_probability)[rows, labels]
    elif opts.softmax_before_ce:
        return -torch.log_softmax(f, 1)[rows, labels].mean()
    else:
        p_true = f[rows, labels]
    return -torch.log(p_true.clamp_min(PROBABILITY_FLOOR)).mean()


def evolved_cross_entropy(probs: torch.Tensor, labels: torch.Tensor, rates: torch.Tensor,
                          softmax_before_ce: bool) -> torch.Tensor:
    """Mean CE of F_t = (1 - e) onehot + e P with e = exp(-rate of the sample's class) (class_mean)."""
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
    "lead", title="LEAD", options=LeadOptions,
    summary="LEAD: cross-entropy of logits evolved by a class-aware NTK ODE in closed form",
    citation="Hu et al., Exploring Logit Space Evolution for Model Selection, CVPR 2024")
def lead(inputs: ScoreInputs, opts: LeadOptions) -> ScoreResult:
    z, y, k = inputs.features, inputs.labels, inputs.num_classes
    decision, C = svm_decision(z, y, k, opts)
    a = fit_logit_scale(decision, y) if opts.svm_probability == "temperature" else 1.0
    probs = scores_to_probabilities(decision, opts.svm_probability, a)

    idx, kernel = kernel_inputs(z, y, k, opts)
    y_s = y[idx]
    lam = _lambdas(kernel.traces().double(), y_s, k, opts)
    rows = kernel_point_rows(y_s, k, opts)
    if opts.evolution == "full_kernel":
        s_all, v_all = torch.linalg.eigh(kernel.gram(rows))
        s_all = s_all.clamp_min(0)
        lam_max = float(s_all[-1])
        eval_idx = idx if rows is None else idx[rows]
    else:
        lam_max = top_ntk_eigenvalue(kernel, rows, opts)
        eval_idx = idx if opts.evolution == "class_block" else None
    tau = opts.eta * opts.t / kernel_scale(lam, lam_max, opts, k)

    rows_eval = eval_idx if eval_idx is not None else slice(None)
    y_e = y[rows_eval]
    f0 = probs[rows_eval] if opts.evolved_state == "probabilities" else decision[rows_eval]
    paper_form = (opts.evolution == "class_mean" and opts.evolved_state == "probabilities"
                  and opts.svm_probability != "temperature")
    if not paper_form:  # the paper's form needs no N x K target nor residual
        target = (torch.nn.functional.one_hot(y_e, k).to(f0.dtype) if opts.evolved_state == "probabilities"
                  else ovr_targets(y_e, k, f0.dtype))
        residual = f0 - target
    if paper_form:
        ce = evolved_cross_entropy(probs, y, tau * lam, opts.softmax_before_ce)
    elif opts.evolution == "class_mean":
        ce = readout_cross_entropy(target + torch.exp(-tau * lam[y_e])[:, None] * residual, y_e, opts, a)
    elif opts.evolution == "class_block":
        moved = torch.empty_like(residual)
        for c in range(k):
            members = (y_s == c).nonzero().squeeze(1)
            if members.numel():
                moved[members] = evolve_with_kernel(residual[members], kernel.gram(members), tau)[0]
        ce = readout_cross_entropy(target + moved, y_e, opts, a)
    else:
        moved = v_all @ (torch.exp(-tau * s_all)[:, None] * (v_all.T @ residual))
        ce = readout_cross_entropy(target + moved, y_e, opts, a)
    ce0 = readout_cross_entropy(f0, y_e, opts, a)
    n_all = torch.arange(y.numel(), device=y.device)
    probe_acc = float((decision.argmax(1) == y).double().mean())
    details = {
        "cross_entropy": float(ce),
        "initial_cross_entropy": float(ce0),
        "ntk_lambda": lam.tolist(),
        "lambda_max": lam_max,
        "rates": (tau * lam).tolist(),
        "kernel_scale": kernel_scale(lam, lam_max, opts, k),
        "kernel_points": kernel.n if rows is None else int(rows.numel()),
        "evaluated_samples": int(y_e.numel()),
        "svm_C": float(C),
        "probe_accuracy": probe_acc,
        "svm_accuracy": probe_acc,
        "probe_cross_entropy": float(-torch.log(probs[n_all, y].clamp_min(1e-300)).mean()),
    }
    if opts.svm_probability == "temperature":
        details["logit_scale"] = a
    return ScoreResult("lead", -float(ce), details=details)
