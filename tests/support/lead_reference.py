"""A deliberately straightforward LEAD, for tests and benchmarks of the fast path in ``lead_hf/scores/lead.py``.

Every step is done the obvious, expensive way: scikit-learn's LinearSVC (liblinear) or an explicit ridge
solve per fold, the hat matrix for generalised cross-validation, a bounded scalar minimiser (scipy) for the
temperature, per-sample gradient vectors from autograd, the NTK Gram matrix J J^T of their Jacobian,
``eigvalsh`` for its eigenvalues and ``matrix_exp`` for the evolution. The definitions that are not "fast
paths" (the seeded head, the NTK sample choice, the folds, the standardisation) are shared with lead.py
so that both compute the same quantity.
"""
from __future__ import annotations

import numpy as np
import torch

from lead_hf.scores.lead import (PROBABILITY_FLOOR, LeadOptions, logit_scale_cap, make_head, ovr_targets,
                           scores_to_probabilities, select_ntk_samples, standardize, stratified_folds)


def _sampled_points(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    idx = select_ntk_samples(features, labels, num_classes, opts.samples_per_class, opts.seed)
    # the head sees the features at unit RMS norm (LEAD is free of their scale)
    return idx, features[idx] / features.pow(2).sum(1).mean().sqrt()


def jacobian_rows(head: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """One row per sample: the gradient of the summed output w.r.t. every head parameter (autograd)."""
    params = [p.requires_grad_(True) for p in head.parameters()]
    out = []
    for i in range(rows.shape[0]):
        grads = torch.autograd.grad(head(rows[i:i + 1].double()).sum(), params)
        out.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(out)


def reference_analytic_ntk(points, widths, num_outputs: int, weight_variance: float = 1 / 3,
                           bias_variance: float = 1 / 3) -> np.ndarray:
    """The infinite-width NTK of the summed output of make_head's head, pair by pair in scalars, by the
    forward recursion of Jacot et al. (2018): for one output unit Theta_1 = x.x' + 1 and
    Theta_{l+1} = (E[a_l . a_l'] + 1) + w kappa_0(Sigma_l) Theta_l, where Sigma_l is the 2 x 2 covariance of
    a hidden unit's pre-activations at (x, x'); the K outputs' cross terms vanish in expectation, so the
    summed output's kernel is K Theta_L."""
    z = np.asarray(points, dtype=np.float64)
    n, dim = z.shape
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            inner = np.array([[z[i] @ z[i], z[i] @ z[j]], [z[j] @ z[i], z[j] @ z[j]]])  # E[a_0 a_0'] = x x'
            theta = inner[0, 1] + 1.0
            fan_in = dim
            for width in widths:
                cov = (weight_variance * inner + bias_variance) / fan_in
                sx, sy = np.sqrt(cov[0, 0]), np.sqrt(cov[1, 1])
                rho = 1.0 if i == j else min(1.0, max(-1.0, cov[0, 1] / (sx * sy)))
                angle = np.arccos(rho)
                relu_xy = sx * sy * (np.sin(angle) + (np.pi - angle) * np.cos(angle)) / (2 * np.pi)
                step_xy = (np.pi - angle) / (2 * np.pi)
                inner = width * np.array([[cov[0, 0] / 2, relu_xy], [relu_xy, cov[1, 1] / 2]])
                theta = (inner[0, 1] + 1.0) + weight_variance * step_xy * theta
                fan_in = width
            out[i, j] = num_outputs * theta
    return out


def reference_ntk_gram(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """(indices of the sampled points, the explicit NTK Gram J J^T on them, or with ntk="analytic" its
    infinite-width expectation), float64."""
    idx, z = _sampled_points(features, labels, num_classes, opts)
    if opts.ntk == "analytic":
        return idx, torch.as_tensor(reference_analytic_ntk(z, opts.head_widths, num_classes))
    head = make_head(z.shape[1], num_classes, opts.head_widths, opts.seed, dtype=torch.float64)
    jac = jacobian_rows(head, z)
    return idx, jac @ jac.T


def reference_ntk_lambda(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                         opts: LeadOptions) -> torch.Tensor:
    """Mean eigenvalue of each class's explicit S x S empirical NTK Gram (autograd Jacobian rows)."""
    idx, gram = reference_ntk_gram(features, labels, num_classes, opts)
    y = labels[idx]
    if not opts.class_aware:
        return torch.linalg.eigvalsh(gram).mean().expand(num_classes).clone()
    lam = torch.zeros(num_classes, dtype=torch.float64)
    for k in range(num_classes):
        members = (y == k).nonzero().squeeze(1)
        lam[k] = torch.linalg.eigvalsh(gram[members][:, members]).mean()
    return lam


def reference_logit_scale(decision: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature's scale by scipy's bounded scalar minimiser on the explicit mean NLL."""
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    d = decision.numpy()
    lab = labels.numpy()

    def nll(a):
        return float(np.mean(logsumexp(a * d, axis=1) - a * d[np.arange(len(lab)), lab]))

    cap = logit_scale_cap(decision)
    res = minimize_scalar(nll, bounds=(0.0, cap), method="bounded", options={"xatol": 1e-12 * cap})
    return float(res.x)


def _gcv_alpha_explicit(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> float:
    n = x.shape[0]
    best = None
    for a in grid:
        hat = x @ np.linalg.solve(x.T @ x + a * np.eye(x.shape[1]), x.T)
        rss = ((y - hat @ y) ** 2).sum()
        gcv = (rss / n) / (1 - np.trace(hat) / n) ** 2
        if best is None or gcv < best[0]:
            best = (gcv, a)
    return best[1]


def reference_svm_decision(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                           opts: LeadOptions, tol: float = 1e-10):
    x = standardize(features) if opts.standardize else features
    x = x.numpy()
    xb = np.hstack([x, np.ones((x.shape[0], 1))])
    y_t = ovr_targets(labels, num_classes, torch.float64).numpy()
    lab = labels.numpy()
    if opts.svm_fit == "out_of_fold":
        folds = stratified_folds(features, labels, num_classes, opts.svm_folds, opts.seed).numpy()
        splits = [(folds != f, folds == f) for f in range(opts.svm_folds) if (folds == f).any()]
    elif opts.svm_fit == "leave_one_out":  # N refits, each without one sample
        splits = [(np.arange(len(lab)) != i, np.arange(len(lab)) == i) for i in range(len(lab))]
    else:
        splits = [(np.ones(len(lab), bool), np.ones(len(lab), bool))]
    if opts.svm_loss == "least_squares":
        C = opts.svm_C
        if C is None and opts.svm_alpha != "gcv":
            C = 1 / (2 * opts.svm_alpha * (xb ** 2).sum() / xb.shape[1])
        if C is None:
            s = np.linalg.eigvalsh(xb.T @ xb if xb.shape[0] > xb.shape[1] else xb @ xb.T).clip(0)
            grid = np.logspace(-6, 2, 33) * s.mean()
            C = 1 / (2 * _gcv_alpha_explicit(xb, y_t, grid))
        alpha = 1 / (2 * C)
        out = np.zeros_like(y_t)
        for tr, te in splits:
            w = np.linalg.solve(xb[tr].T @ xb[tr] + alpha * np.eye(xb.shape[1]), xb[tr].T @ y_t[tr])
            out[te] = xb[te] @ w
        return torch.as_tensor(out), C
    from sklearn.svm import LinearSVC

    C = 1.0 if opts.svm_C is None else opts.svm_C
    out = np.zeros_like(y_t)
    for tr, te in splits:
        for k in range(num_classes):  # one-vs-rest, one liblinear problem per class
            clf = LinearSVC(C=C, loss="squared_hinge", dual=True, tol=tol, max_iter=1_000_000,
                            fit_intercept=True, intercept_scaling=1.0)
            clf.fit(x[tr], (lab[tr] == k).astype(int))
            out[te, k] = clf.decision_function(x[te])
    return torch.as_tensor(out), C


def _reference_cross_entropy(f: np.ndarray, y: np.ndarray, opts: LeadOptions, scale: float) -> float:
    rows = np.arange(len(y))
    if opts.evolved_state == "decisions":
        if opts.svm_probability in ("softmax", "temperature"):
            logits = f * (scale if opts.svm_probability == "temperature" else 1.0)
            logits = logits - logits.max(1, keepdims=True)
            return float(np.mean(np.log(np.exp(logits).sum(1)) - logits[rows, y]))
        p = scores_to_probabilities(torch.as_tensor(f), opts.svm_probability).numpy()[rows, y]
    elif opts.softmax_before_ce:
        e = np.exp(f - f.max(1, keepdims=True))
        p = (e / e.sum(1, keepdims=True))[rows, y]
    else:
        p = f[rows, y]
    return float(-np.mean(np.log(np.maximum(p, PROBABILITY_FLOOR))))


def reference_lead(features, labels, opts: LeadOptions | None = None, svm_tol: float = 1e-10) -> float:
    """LEAD computed the slow way; ``features`` [N, D] and integer ``labels`` 0..K-1 (torch or numpy).

    ``svm_tol``: liblinear's stopping tolerance for the squared-hinge SVM (LinearSVC's default is 1e-4).
    """
    opts = opts or LeadOptions()
    z = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    k = int(y.max()) + 1
    decision, _ = reference_svm_decision(z, y, k, opts, tol=svm_tol)
    scale = reference_logit_scale(decision, y) if opts.svm_probability == "temperature" else 1.0
    probs = scores_to_probabilities(decision, opts.svm_probability, scale)
    idx, gram = reference_ntk_gram(z, y, k, opts)
    lam = reference_ntk_lambda(z, y, k, opts)
    y_s = y[idx]
    if len(idx) > opts.max_kernel_points:  # the kernel points: the first floor(max / K) sampled per class
        per_class = max(1, opts.max_kernel_points // k)
        keep = torch.sort(torch.cat([(y_s == c).nonzero().squeeze(1)[:per_class] for c in range(k)])).values
    else:
        keep = torch.arange(len(idx))
    lam_max = float(torch.linalg.eigvalsh(gram[keep][:, keep])[-1])
    if opts.evolution == "full_kernel":
        idx, y_s, gram = idx[keep], y_s[keep], gram[keep][:, keep]
    divisor = {"class_mean": float(lam.mean()), "class_max": float(lam.max()), "lambda_max": lam_max,
               "unit_features": float(k), "none": 1.0}[opts.eta_normalization]
    tau = opts.eta * opts.t / divisor
    rows = slice(None) if opts.evolution == "class_mean" else idx
    y_e = y[rows]
    if opts.evolved_state == "probabilities":
        f0, target = probs[rows], torch.eye(k, dtype=torch.float64)[y_e]
    else:
        f0, target = decision[rows], ovr_targets(y_e, k, torch.float64)
    residual = f0 - target
    if opts.evolution == "class_mean":
        moved = torch.exp(-tau * lam[y_e])[:, None] * residual
    elif opts.evolution == "class_block":
        moved = torch.zeros_like(residual)
        for c in range(k):
            m = (y_s == c).nonzero().squeeze(1)
            moved[m] = torch.linalg.matrix_exp(-tau * gram[m][:, m]) @ residual[m]
    else:
        moved = torch.linalg.matrix_exp(-tau * gram) @ residual
    return -_reference_cross_entropy((target + moved).numpy(), y_e.numpy(), opts, scale)
