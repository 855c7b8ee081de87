"""LEAD: logit-space evolution of fine-tuning, in closed form (Hu et al., CVPR 2024).

Steps (docs/lead.md has the maths and every departure from the paper), one module each:
1. initial logit state (:mod:`.probe`): a one-vs-rest least-squares SVM on the features, fitted out of fold;
   its decisions become per-class probabilities (softmax, a fitted temperature, ...);
2-3. the kernel (:mod:`.kernel`): a random MLP head (1024, 2048 hidden units by default) on the frozen
   features, seeded, and the empirical NTK of its summed output on S samples per class, from the layer-wise
   closed form: per class its mean eigenvalue lambda_k, and where the evolution needs it the Gram matrix
   itself and its top eigenvalue;
4-5. the evolution (:mod:`.evolution`): F_t = Y + exp(-eta Theta t)(F_0 - Y), with Theta replaced by lambda_k
   per class (class_mean), by each class's own block (class_block) or taken whole on the sampled points
   (full_kernel), eta on the scale set by eta_normalization; score = minus the mean cross-entropy of F_t
   against the labels (higher is better).
"""
from __future__ import annotations

import torch

from .._probe import (fit_logit_scale, logit_scale_cap, ovr_targets, scores_to_probabilities, squared_hinge_svm_weights,
                      standardize, stratified_folds)
from ..registry import ScoreResult, register_score
from ..validation import ScoreInputs
from .evolution import evolve_with_kernel, evolved_cross_entropies
from .kernel import (AnalyticHeadKernel, HeadKernel, class_ntk_rates, class_rates, head_kernel, kernel_inputs,
                     kernel_point_rows, kernel_scale, lanczos_top_eigenvalue, make_head, ntk_traces,
                     relu_gaussian_moments, select_ntk_samples, top_ntk_eigenvalue)
from .options import PROBABILITY_FLOOR, LeadOptions
from .probe import initial_state, svm_decision

from . import draws  # noqa: E402,F401 - registers LEAD's resampled form (rank --bootstrap)

__all__ = ["PROBABILITY_FLOOR", "AnalyticHeadKernel", "HeadKernel", "LeadOptions", "class_ntk_rates",
           "evolve_with_kernel", "fit_logit_scale", "head_kernel", "lanczos_top_eigenvalue", "lead",
           "logit_scale_cap", "make_head", "ntk_traces", "ovr_targets", "relu_gaussian_moments",
           "scores_to_probabilities", "select_ntk_samples", "squared_hinge_svm_weights", "standardize",
           "stratified_folds", "svm_decision"]


@register_score(
    "lead", title="LEAD", options=LeadOptions,
    summary="LEAD: cross-entropy of logits evolved by a class-aware NTK ODE in closed form",
    citation="Hu et al., Exploring Logit Space Evolution for Model Selection, CVPR 2024")
def lead(inputs: ScoreInputs, opts: LeadOptions) -> ScoreResult:
    z, y, k = inputs.features, inputs.labels, inputs.num_classes
    decision, probs, a, C = initial_state(z, y, k, opts)
    idx, kernel = kernel_inputs(z, y, k, opts)
    lam = class_rates(kernel.traces().double(), y[idx], k, opts)
    rows = kernel_point_rows(y[idx], k, opts)
    spectrum = None
    if opts.evolution == "full_kernel":
        s_all, v_all = torch.linalg.eigh(kernel.gram(rows))
        spectrum = (s_all.clamp_min(0), v_all)
        lam_max = float(spectrum[0][-1])
        eval_idx = idx if rows is None else idx[rows]
    else:
        lam_max = top_ntk_eigenvalue(kernel, rows, opts)
        eval_idx = idx if opts.evolution == "class_block" else None
    scale = kernel_scale(lam, lam_max, opts, k)
    tau = opts.eta * opts.t / scale
    ce, ce0, evaluated = evolved_cross_entropies(decision, probs, y, kernel, idx, lam, spectrum, eval_idx, tau,
                                                 opts, a)
    n_all = torch.arange(y.numel(), device=y.device)
    probe_acc = float((decision.argmax(1) == y).double().mean())
    details = {
        "cross_entropy": float(ce),
        "initial_cross_entropy": float(ce0),
        "ntk_lambda": lam.tolist(),
        "lambda_max": lam_max,
        "rates": (tau * lam).tolist(),
        "kernel_scale": scale,
        "kernel_points": kernel.n if rows is None else int(rows.numel()),
        "evaluated_samples": evaluated,
        "svm_C": float(C),
        "probe_accuracy": probe_acc,
        "svm_accuracy": probe_acc,
        "probe_cross_entropy": float(-torch.log(probs[n_all, y].clamp_min(1e-300)).mean()),
    }
    if opts.svm_probability == "temperature":
        details["logit_scale"] = a
    return ScoreResult("lead", -float(ce), details=details)
