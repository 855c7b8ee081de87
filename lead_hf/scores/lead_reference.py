"""A deliberately straightforward LEAD, for tests and benchmarks of the fast path in ``lead.py``.

Every step is done the obvious, expensive way: scikit-learn's LinearSVC (liblinear) or an explicit ridge
solve per fold, the hat matrix for generalised cross-validation, per-sample gradient vectors from autograd,
the S x S NTK Gram matrix of each class and its eigendecomposition. The definitions that are not "fast
paths" (the seeded head, the NTK sample choice, the folds, the standardisation) are shared with lead.py
so that both compute the same quantity.
"""
from __future__ import annotations

import numpy as np
import torch

from .lead import (LeadOptions, evolution_rates, make_head, ovr_targets, select_ntk_samples,
                   standardize, stratified_folds, scores_to_probabilities)


def reference_ntk_lambda(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                         opts: LeadOptions) -> torch.Tensor:
    """Mean eigenvalue of each class's explicit S x S empirical NTK Gram (autograd Jacobian rows)."""
    idx = select_ntk_samples(features, labels, num_classes, opts.samples_per_class, opts.seed)
    z = features[idx]
    if opts.eta_normalization == "unit_features":
        z = z / features.pow(2).sum(1).mean().sqrt()
    head = make_head(z.shape[1], num_classes, opts.head_widths, opts.seed, dtype=torch.float64)
    params = list(head.parameters())
    for p in params:
        p.requires_grad_(True)

    def jacobian(rows: torch.Tensor) -> torch.Tensor:
        """One row per sample: the gradient of the summed output w.r.t. every head parameter."""
        out = []
        for i in range(rows.shape[0]):
            grads = torch.autograd.grad(head(rows[i:i + 1].double()).sum(), params)
            out.append(torch.cat([g.reshape(-1) for g in grads]))
        return torch.stack(out)

    y = labels[idx]
    if not opts.class_aware:
        jac = jacobian(z)
        return torch.linalg.eigvalsh(jac @ jac.T).mean().expand(num_classes).clone()
    lam = torch.zeros(num_classes, dtype=torch.float64)
    for k in range(num_classes):  # one class at a time: S x P Jacobians, not (S K) x P
        jk = jacobian(z[y == k])
        lam[k] = torch.linalg.eigvalsh(jk @ jk.T).mean()
    return lam


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


def reference_lead(features, labels, opts: LeadOptions | None = None, svm_tol: float = 1e-10) -> float:
    """LEAD computed the slow way; ``features`` [N, D] and integer ``labels`` 0..K-1 (torch or numpy).

    ``svm_tol``: liblinear's stopping tolerance for the squared-hinge SVM (LinearSVC's default is 1e-4).
    """
    opts = opts or LeadOptions()
    z = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    k = int(y.max()) + 1
    decision, _ = reference_svm_decision(z, y, k, opts, tol=svm_tol)
    probs = scores_to_probabilities(decision, opts.svm_probability).numpy()
    lam = reference_ntk_lambda(z, y, k, opts)
    e = torch.exp(-evolution_rates(lam, opts, k)).numpy()
    onehot = np.eye(k)[y.numpy()]
    f = (1 - e[y.numpy()])[:, None] * onehot + e[y.numpy()][:, None] * probs
    if opts.softmax_before_ce:
        f = np.exp(f - f.max(1, keepdims=True))
        f = f / f.sum(1, keepdims=True)
    return float(np.mean(np.log(f[np.arange(len(y)), y.numpy()])))
