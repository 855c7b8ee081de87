"""Steps 4-5 of LEAD: the logits evolved in closed form, F_t = Y + exp(-eta Theta t)(F_0 - Y), with Theta a
scalar rate per class (class_mean, the paper's class-aware decomposition), each class's own NTK block
(class_block) or the whole kernel of the sampled points (full_kernel); and the cross-entropy of F_t."""
from __future__ import annotations

import torch

from .._probe import ovr_targets, scores_to_probabilities
from .options import PROBABILITY_FLOOR, LeadOptions


def evolve_with_kernel(residual: torch.Tensor, gram: torch.Tensor, tau: float):
    """exp(-tau Theta) R = V exp(-tau S) V^T R by the eigendecomposition of the (PSD) Gram; (result, S)."""
    s, v = torch.linalg.eigh(gram)
    s = s.clamp_min(0)  # rounding can leave tiny negative eigenvalues of a PSD matrix
    return v @ (torch.exp(-tau * s)[:, None] * (v.T @ residual)), s


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



def evolved_cross_entropies(decision: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor, kernel, sampled,
                            lam: torch.Tensor, spectrum, eval_idx, tau: float, opts: LeadOptions,
                            logit_scale: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(CE of F_t, CE of F_0, how many samples they are taken on) for the evolution ``opts`` names.

    ``sampled``: the indices of the NTK's points (``kernel``'s rows), ``spectrum``: (eigenvalues, vectors) of
    the full kernel (full_kernel only), ``eval_idx``: the samples evolved and scored (None: all; the
    kernel variants score the sampled points only), ``tau`` = eta t / the kernel's scale."""
    k = probs.shape[1]
    rows_eval = eval_idx if eval_idx is not None else slice(None)
    y_e = labels[rows_eval]
    f0 = probs[rows_eval] if opts.evolved_state == "probabilities" else decision[rows_eval]
    ce0 = readout_cross_entropy(f0, y_e, opts, logit_scale)
    if (opts.evolution == "class_mean" and opts.evolved_state == "probabilities"
            and opts.svm_probability != "temperature"):  # the paper's form: no N x K target nor residual
        return evolved_cross_entropy(probs, labels, tau * lam, opts.softmax_before_ce), ce0, int(y_e.numel())
    target = (torch.nn.functional.one_hot(y_e, k).to(f0.dtype) if opts.evolved_state == "probabilities"
              else ovr_targets(y_e, k, f0.dtype))
    residual = f0 - target
    if opts.evolution == "class_mean":
        moved = torch.exp(-tau * lam[y_e])[:, None] * residual
    elif opts.evolution == "class_block":
        y_s = labels[sampled]
        moved = torch.empty_like(residual)
        for c in range(k):
            members = (y_s == c).nonzero().squeeze(1)
            if members.numel():
                moved[members] = evolve_with_kernel(residual[members], kernel.gram(members), tau)[0]
    else:
        s_all, v_all = spectrum
        moved = v_all @ (torch.exp(-tau * s_all)[:, None] * (v_all.T @ residual))
    return readout_cross_entropy(target + moved, y_e, opts, logit_scale), ce0, int(y_e.numel())
