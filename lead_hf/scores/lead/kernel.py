"""Steps 2-3 of LEAD: the random MLP head on the frozen features and its NTK: the empirical one of a seeded
head, from the layer-wise closed form Theta = sum_l (Delta_l Delta_l^T) * (A_l A_l^T + 1), or its expectation
over the random initialisation in the infinite-width limit (``ntk="analytic"``, arc-cosine kernels, no head).
From either: per class the mean eigenvalue lambda_k (a trace, no Gram matrix), the Gram itself where the
evolution needs it, its top eigenvalue, and the scale that makes eta * Theta * t comparable between models
(``eta_normalization``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .._linalg import gram as gram_matrix
from .._order import rank_in_class, within_class_order
from .._stats import class_means
from .options import LeadOptions


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

    @property
    def device(self) -> torch.device:
        return self.inputs[0].device

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

    def subset(self, rows: torch.Tensor | None) -> "HeadKernel":
        """The same kernel on the points ``rows`` only (itself when None)."""
        if rows is None:
            return self
        return HeadKernel([a[rows] for a in self.inputs], [None if d is None else d[rows] for d in self.signals],
                          self.num_outputs)

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


# PyTorch's default nn.Linear init: weights kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) and biases
# U(+-1/sqrt(fan_in)), both of variance (1/3) / fan_in
WEIGHT_VARIANCE = 1.0 / 3.0
BIAS_VARIANCE = 1.0 / 3.0


def relu_gaussian_moments(cov: torch.Tensor, var_x: torch.Tensor, var_y: torch.Tensor,
                          unit_correlation=None):
    """(E[relu(u) relu(v)], E[1{u > 0} 1{v > 0}]) for a centred Gaussian pair (u, v) with variances var_x,
    var_y (broadcast against cov) and covariance cov: the arc-cosine kernels of degree 1 and 0 (Cho & Saul
    2009), sqrt(var_x var_y) (sin theta + (pi - theta) cos theta) / (2 pi) and (pi - theta) / (2 pi), with
    theta the angle whose cosine is the correlation. ``unit_correlation``: an index of the entries that pair
    a point with itself ((rows, columns), or ``...`` for all), whose correlation is set to exactly 1
    (rounding would leave 1 - 1e-16, an angle of 1e-8)."""
    scale = torch.sqrt(var_x * var_y)
    rho = (cov / scale).clamp(-1.0, 1.0)
    if unit_correlation is not None:
        rho[unit_correlation] = 1.0
    theta = torch.arccos(rho)
    rest = math.pi - theta
    relu = scale * (torch.sqrt((1 - rho * rho).clamp_min(0)) + rest * rho) / (2 * math.pi)
    return relu, rest / (2 * math.pi)


@dataclass
class AnalyticHeadKernel:
    """The expectation of :class:`HeadKernel` over the head's random initialisation (PyTorch's default init,
    as :func:`make_head` draws it), in the infinite-width limit with the widths' ratios kept: no head, no
    seed, nothing random. docs/lead.md derives it. With E_l = E[a_{l-1}(x) . a_{l-1}(x')] (E_1 = x . x'),
    Sigma_l = (w E_l + b) / d_{l-1} the covariance of the pre-activations of hidden layer l (w, b = the
    weight and bias variance factors, 1/3; d_0 = D, d_l = the l-th width) and E_{l+1} = d_l kappa_1(Sigma_l),
    Theta = K (E_L + 1) + sum_{l<L} (E_l + 1) K prod_{m=l}^{L-1} w kappa_0(Sigma_m)
    with kappa_1, kappa_0 the arc-cosine kernels of :func:`relu_gaussian_moments`. Same interface as
    HeadKernel: ``traces`` (closed form, O(n D)), ``gram``, ``matvec`` (row blocks of the Gram) and ``subset``.
    """

    points: torch.Tensor
    """The head's inputs [n, D] (the sampled features at unit RMS norm), float64."""
    widths: tuple[int, ...]
    num_outputs: int
    weight_variance: float = WEIGHT_VARIANCE
    bias_variance: float = BIAS_VARIANCE

    @property
    def n(self) -> int:
        return self.points.shape[0]

    @property
    def device(self) -> torch.device:
        return self.points.device

    def _theta(self, inner, sq_x, sq_y, unit_correlation=None) -> torch.Tensor:
        """Theta from the inputs' inner products ``inner`` and squared norms sq_x, sq_y (broadcast against it)."""
        w, b = self.weight_variance, self.bias_variance
        fan_in = [self.points.shape[1], *self.widths]
        inputs, backward = [inner], []  # E_l of every layer; kappa_0 of every hidden layer
        diag_x, diag_y = sq_x, sq_y
        for d_in, d_out in zip(fan_in[:-1], fan_in[1:]):
            var_x, var_y = (w * diag_x + b) / d_in, (w * diag_y + b) / d_in
            relu, step = relu_gaussian_moments((w * inputs[-1] + b) / d_in, var_x, var_y, unit_correlation)
            inputs.append(d_out * relu)
            backward.append(step)
            diag_x, diag_y = d_out * var_x / 2, d_out * var_y / 2  # E[relu(u)^2] = var / 2
        k = float(self.num_outputs)
        theta = k * (inputs[-1] + 1)
        factor = k
        for e, step in zip(reversed(inputs[:-1]), reversed(backward)):
            factor = factor * w * step
            theta = theta + (e + 1) * factor
        return theta

    def traces(self) -> torch.Tensor:
        """diag(Theta), [n]: the same recursion with every correlation 1 (kappa_1 = var / 2, kappa_0 = 1 / 2)."""
        sq = (self.points ** 2).sum(1)
        return self._theta(sq, sq, sq, ...)

    def _block(self, rows: torch.Tensor | slice, cols: torch.Tensor | slice, unit_correlation=None) -> torch.Tensor:
        a, c = self.points[rows], self.points[cols]
        return self._theta(a @ c.T, (a ** 2).sum(1)[:, None], (c ** 2).sum(1)[None, :], unit_correlation)

    def gram(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Theta restricted to ``rows`` (all points when None), float64 [m, m]."""
        rows = slice(None) if rows is None else rows
        m = self.points[rows].shape[0]
        same = torch.arange(m, device=self.device)
        g = self._block(rows, rows, (same, same))
        return (g + g.T) / 2  # exactly symmetric (the products a c^T need not be)

    def subset(self, rows: torch.Tensor | None) -> "AnalyticHeadKernel":
        """The same kernel on the points ``rows`` only (itself when None)."""
        if rows is None:
            return self
        return AnalyticHeadKernel(self.points[rows], self.widths, self.num_outputs, self.weight_variance,
                                  self.bias_variance)

    def matvec(self, v: torch.Tensor, block: int = 1024) -> torch.Tensor:
        """Theta v, the Gram built ``block`` rows at a time: memory O(block x n), n^2 (D + L) work per call."""
        x = v.to(self.points.dtype)
        out = torch.empty(self.n, dtype=x.dtype, device=x.device)
        for start in range(0, self.n, block):
            stop = min(start + block, self.n)
            diag = (torch.arange(stop - start, device=self.device), torch.arange(start, stop, device=self.device))
            out[start:stop] = self._block(slice(start, stop), slice(None), diag) @ x
        return out.to(v.dtype)


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


def select_ntk_samples(features: torch.Tensor, labels: torch.Tensor, num_classes: int, per_class: int,
                       seed: int) -> torch.Tensor:
    """Indices of at most ``per_class`` samples of each class, a seeded choice independent of row order."""
    order = within_class_order(features, labels, seed)
    return order[rank_in_class(order, labels, num_classes) < per_class].to(labels.device)


def kernel_inputs(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """(indices of the S samples per class, the head's NTK on them: as layer signals, or analytic)."""
    idx = select_ntk_samples(features, labels, num_classes, opts.samples_per_class, opts.seed)
    # the head sees the features at unit RMS norm, so that the score is free of their scale: a random
    # head's biases would otherwise weigh differently against features 10x larger (and overflow at 1e20)
    z = features[idx] / features.pow(2).sum(1).mean().sqrt().clamp_min(1e-300)
    if opts.ntk == "analytic":  # the kernel's expectation over the head's init: no head is drawn
        return idx, AnalyticHeadKernel(z.double(), tuple(int(w) for w in opts.head_widths), num_classes)
    # float32 is plenty for the kernel (relative error ~1e-6 of entries that only set exp(-rate)) and
    # halves the cost of the largest products
    z = z.float()
    head = make_head(z.shape[1], num_classes, opts.head_widths, opts.seed, dtype=z.dtype, device=z.device)
    return idx, head_kernel(head, z)


def class_ntk_rates(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    opts: LeadOptions) -> torch.Tensor:
    """lambda_k: the mean eigenvalue (trace / S) of the class-k empirical NTK of the random head."""
    idx, kernel = kernel_inputs(features, labels, num_classes, opts)
    return class_rates(kernel.traces().double(), labels[idx], num_classes, opts)


def class_rates(traces: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions) -> torch.Tensor:
    """lambda_k: the mean NTK trace of each class's sampled points (one global mean with class_aware=False)."""
    if not opts.class_aware:
        return traces.mean().expand(num_classes).clone()
    return class_means(traces, labels, num_classes)


def kernel_point_rows(labels: torch.Tensor, num_classes: int, opts: LeadOptions) -> torch.Tensor | None:
    """Rows (into the sampled points, grouped by class) of the kernel points; None: all of them.

    A nested subset: the first floor(max_kernel_points / K) (at least 1) sampled points of every class."""
    if labels.numel() <= opts.max_kernel_points:
        return None
    per_class = max(1, opts.max_kernel_points // num_classes)
    keep = rank_in_class(torch.arange(labels.numel()), labels.cpu(), num_classes) < per_class
    return keep.nonzero().squeeze(1).to(labels.device)


def top_ntk_eigenvalue(kernel: HeadKernel | AnalyticHeadKernel, rows: torch.Tensor | None, opts: LeadOptions) -> float:
    """lambda_max of the NTK on the kernel points ``rows``, by ``opts.lambda_max_method``."""
    if opts.lambda_max_method == "matrix_free":
        part = kernel.subset(rows)
        return lanczos_top_eigenvalue(part.matvec, part.n, device=part.device, seed=opts.seed)
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

