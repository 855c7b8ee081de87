"""LEAD's options (one dataclass, its constraints declared) and the choices each option takes."""
from __future__ import annotations

from dataclasses import dataclass

from ...utils.constraints import Boolean, Constrained, Interval, Items, OneOf, OptionError
from .._linalg import GRAM_PRODUCTS
from .._probe import PROBABILITY_MAPS, PROBE_FITS, PROBE_LOSSES

ETA_NORMALIZATIONS = ("class_mean", "class_max", "lambda_max", "unit_features", "none")
EVOLUTIONS = ("class_mean", "class_block", "full_kernel")
EVOLVED_STATES = ("probabilities", "decisions")
LAMBDA_MAX_METHODS = ("lanczos", "eigvalsh", "matrix_free")
NTKS = ("empirical", "analytic")
SVM_LOSSES = PROBE_LOSSES
SVM_FITS = PROBE_FITS
SVM_PROBABILITIES = PROBABILITY_MAPS
# F_t read as probabilities (softmax_before_ce=False) can leave [0, 1] under a kernel that couples samples;
# the true-class probability is floored here so that one such sample costs at most -log(1e-6) = 13.8 nats.
PROBABILITY_FLOOR = 1e-6


@dataclass
class LeadOptions(Constrained):
    t: float = 10.0
    """Time coefficient of the evolution (with eta_normalization=lambda_max: a number of gradient steps of
    size eta / lambda_max). 10 steps by the declared CHOOSE/CONFIRM rule on benchmark v3 (docs/lead.md,
    "Re-deciding the default on benchmark v3"); v2's rule had chosen t = 0.3 under class_mean scaling."""
    samples_per_class: int = 64
    """S: samples per class for the class-aware NTK (all of a class when it has fewer)."""
    head_widths: tuple[int, ...] = (1024, 2048)
    """Hidden widths of the random MLP head."""
    ntk: str = "empirical"
    """Which NTK of the head: empirical (of one head drawn under ``seed``: a forward and backward pass of the
    S*K sampled points through it) | analytic (its expectation over the random initialisation in the
    infinite-width limit, the widths' ratios and PyTorch's init variances kept: arc-cosine kernels of the
    features' inner products, docs/lead.md). analytic needs no head forward pass and no head seed, so it
    is deterministic: ``seed`` then only picks the NTK's samples and the SVM folds."""
    seed: int = 0
    """Seed of the head initialisation (ntk=empirical), the NTK sample choice and the SVM folds."""
    eta: float = 1.0
    """Learning-rate-like factor multiplying every rate (after normalisation); with
    eta_normalization=lambda_max it is c in eta = c / lambda_max (c < 2: a stable gradient step)."""
    eta_normalization: str = "lambda_max"
    """The kernel's scale: eta*Theta*t is divided by lambda_max, the top eigenvalue of the NTK over the
    kernel points (the sampled points, at most max_kernel_points of them; lambda_max: t then counts stable
    gradient steps, and how far each class moves depends on its rate relative to the model's fastest
    direction, which is the ranking signal), by the mean (class_mean) or largest
    (class_max) class rate lambda_k, by K (unit_features), or not at all (none). The head always sees the
    features scaled to unit RMS norm, so the score is free of their scale. lambda_max is the v3 default
    (docs/lead.md); class_mean was v2's."""
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
    width) but each step costs about two forward passes of the head; with ntk=analytic each step builds the
    Gram again in blocks of 1024 rows)."""
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
        "head_widths": Items(Interval(int, 1), min_items=1), "seed": Interval(int, 0),
        "eta": Interval(float, 0, closed="neither"), "eta_normalization": OneOf(*ETA_NORMALIZATIONS),
        "evolution": OneOf(*EVOLUTIONS), "evolved_state": OneOf(*EVOLVED_STATES), "class_aware": Boolean(),
        "max_kernel_points": Interval(int, 2), "lambda_max_method": OneOf(*LAMBDA_MAX_METHODS),
        "ntk": OneOf(*NTKS),
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
