"""Step 1 of LEAD: the initial logit state, the linear probe's out-of-fold (by default) decisions as LEAD's
options choose it (:func:`lead_hf.scores._probe.probe_decision`), and their probabilities."""
from __future__ import annotations

import torch

from .._probe import fit_logit_scale, probe_decision, scores_to_probabilities
from .options import LeadOptions


def svm_decision(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """One-vs-rest SVM scores [N, K] of every sample (out-of-fold, in-sample or leave-one-out) and the C used."""
    return probe_decision(features, labels, num_classes, loss=opts.svm_loss, fit=opts.svm_fit,
                          folds=opts.svm_folds, seed=opts.seed, standardize=opts.standardize, C=opts.svm_C,
                          alpha=opts.svm_alpha, gram_products=opts.svm_gram_products)


def initial_state(features: torch.Tensor, labels: torch.Tensor, num_classes: int, opts: LeadOptions):
    """(decisions [N, K], their probabilities [N, K], the temperature a, C): the state fine-tuning starts from."""
    decision, C = svm_decision(features, labels, num_classes, opts)
    a = fit_logit_scale(decision, labels) if opts.svm_probability == "temperature" else 1.0
    return decision, scores_to_probabilities(decision, opts.svm_probability, a), a, C
