import numpy as np
import pytest
import torch

import lead_hf
from lead_hf.scores import _probe as P
from lead_hf.scores import lead as L
from tests.support.lead_reference import reference_lead, reference_ntk_lambda

from helpers import gaussian_classes, within_ulps

SMALL = dict(samples_per_class=8, head_widths=(16, 32))


# ---------------------------------------------------------------- fast path == slow explicit path
@pytest.mark.parametrize("options", [
    {},
    {"svm_fit": "in_sample"},
    {"svm_fit": "leave_one_out"},
    {"svm_fit": "leave_one_out", "svm_gram_products": "float64", "svm_alpha": "gcv"},
    {"svm_fit": "leave_one_out", "standardize": False, "svm_probability": "temperature"},
    {"svm_C": 0.3},
    {"svm_alpha": "gcv"},
    {"svm_alpha": 0.5, "svm_fit": "in_sample"},
    {"svm_loss": "squared_hinge"},
    {"svm_loss": "squared_hinge", "svm_fit": "in_sample", "svm_C": 0.1},
    {"class_aware": False},
    {"svm_gram_products": "float64"},
    {"svm_gram_products": "float64", "svm_alpha": "gcv", "svm_fit": "in_sample"},
    {"eta_normalization": "class_max", "t": 2.0},
    {"eta_normalization": "unit_features"},
    {"eta_normalization": "none", "eta": 1e-3},
    {"svm_probability": "sigmoid", "softmax_before_ce": False},
    {"svm_probability": "clip", "standardize": False},
    {"svm_probability": "temperature"},
    {"svm_probability": "temperature", "softmax_before_ce": False, "t": 3.0},
    {"eta_normalization": "lambda_max", "t": 30.0},
    {"eta_normalization": "lambda_max", "t": 30.0, "lambda_max_method": "matrix_free"},
    {"eta_normalization": "lambda_max", "t": 30.0, "lambda_max_method": "eigvalsh", "max_kernel_points": 14},
    {"evolution": "class_block", "eta_normalization": "lambda_max", "t": 10.0, "max_kernel_points": 9},
    {"evolution": "class_block", "eta_normalization": "lambda_max", "t": 10.0},
    {"evolution": "class_block", "softmax_before_ce": False},
    {"evolution": "full_kernel", "eta_normalization": "lambda_max", "t": 10.0},
    {"evolution": "full_kernel", "eta_normalization": "lambda_max", "t": 10.0, "softmax_before_ce": False},
    {"evolution": "full_kernel", "eta_normalization": "none", "eta": 1e-4, "svm_probability": "sigmoid"},
    {"evolution": "full_kernel", "max_kernel_points": 20, "t": 3.0},
    {"evolution": "full_kernel", "eta_normalization": "unit_features"},
    {"evolution": "full_kernel", "eta_normalization": "lambda_max", "t": 10.0, "evolved_state": "decisions",
     "svm_probability": "temperature"},
    {"evolution": "class_block", "evolved_state": "decisions", "svm_probability": "clip"},
    {"evolution": "class_mean", "evolved_state": "decisions", "svm_probability": "softmax", "t": 2.0},
    {"ntk": "analytic"},
    {"ntk": "analytic", "class_aware": False, "eta_normalization": "unit_features"},
    {"ntk": "analytic", "eta_normalization": "lambda_max", "t": 30.0, "lambda_max_method": "matrix_free"},
    {"ntk": "analytic", "evolution": "class_block", "eta_normalization": "lambda_max", "t": 10.0},
    {"ntk": "analytic", "evolution": "full_kernel", "eta_normalization": "lambda_max", "t": 10.0,
     "max_kernel_points": 20},
])
def test_fast_path_equals_reference(options):
    x, y = gaussian_classes(num_classes=4, per_class=20, dim=10, separation=1.0)
    opts = L.LeadOptions(**SMALL, **options)
    fast = lead_hf.score("lead", x, y, **SMALL, **options)
    slow = reference_lead(x, y, opts)
    assert fast == pytest.approx(slow, abs=1e-6)


@pytest.mark.parametrize("svm_loss", ["least_squares", "squared_hinge"])
def test_fast_path_equals_reference_when_fewer_samples_than_dims(svm_loss):
    # N <= D takes the dual (kernel) path of the LS-SVM
    x, y = gaussian_classes(num_classes=3, per_class=6, dim=40, separation=0.7, seed=3)
    extras = [{}, {"svm_alpha": "gcv"}] + ([{"svm_fit": "leave_one_out"}] if svm_loss == "least_squares" else [])
    for extra in extras:
        opts = L.LeadOptions(**SMALL, svm_loss=svm_loss, svm_folds=3, **extra)
        fast = lead_hf.score("lead", x, y, **SMALL, svm_loss=svm_loss, svm_folds=3, **extra)
        assert fast == pytest.approx(reference_lead(x, y, opts), abs=1e-6)


@pytest.mark.parametrize("dim", [10, 40])  # primal (N > D + 1) and dual (N <= D + 1)
@pytest.mark.parametrize("standardize", [True, False])
def test_leave_one_out_decisions_equal_explicit_refits(dim, standardize):
    """The closed-form leave-one-out LS-SVM decisions against N explicit refits without each sample."""
    from tests.support.lead_reference import reference_svm_decision

    x, y = gaussian_classes(num_classes=3, per_class=9, dim=dim, separation=0.8, seed=5)
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y)
    opts = L.LeadOptions(**SMALL, svm_fit="leave_one_out", standardize=standardize, svm_gram_products="float64")
    fast, c_fast = L.svm_decision(x, y, 3, opts)
    slow, c_slow = reference_svm_decision(x, y, 3, opts)
    assert c_fast == pytest.approx(c_slow, rel=1e-12)
    assert torch.allclose(fast, slow, atol=1e-9, rtol=0)
    in_sample, _ = L.svm_decision(x, y, 3, L.LeadOptions(**SMALL, svm_fit="in_sample", standardize=standardize,
                                                         svm_gram_products="float64"))
    assert float((fast - in_sample).abs().max()) > 1e-3  # leaving a sample out does change its decision


def test_leave_one_out_needs_the_least_squares_svm():
    with pytest.raises(ValueError, match="svm_fit"):
        L.LeadOptions(svm_fit="leave_one_out", svm_loss="squared_hinge")


def test_float32_gram_products_stay_close_to_float64():
    # more rows than one float32 block (4096), correlated features with a large offset: the blocked float32
    # Gram is within float32 rounding of the float64 one, and the score moves far less than the tolerance
    from lead_hf.scores._linalg import FLOAT32_BLOCK_ROWS, gram

    rng = np.random.default_rng(4)
    n, d = FLOAT32_BLOCK_ROWS + 1500, 24
    x = rng.normal(size=(n, 4)) @ rng.normal(size=(4, d)) + rng.normal(size=(n, d)) + 30.0
    xt = torch.as_tensor(x)
    exact = gram(xt)
    for lower_only in (False, True):
        approx = gram(xt, products="float32", lower_only=lower_only)
        ref = torch.tril(exact) if lower_only else exact
        assert float((approx - ref).abs().max()) <= 1e-6 * float(exact.abs().max())
        assert float((approx - ref).abs().max()) > 0  # the float32 products did run
    y = np.arange(n) % 6
    x_c = x + (np.eye(6)[y] @ rng.normal(size=(6, d))) * 0.5
    r32 = lead_hf.compute_score("lead", x_c, y, **SMALL)
    r64 = lead_hf.compute_score("lead", x_c, y, **SMALL, svm_gram_products="float64")
    assert r32.value == pytest.approx(r64.value, abs=1e-7)
    assert r32.details["probe_cross_entropy"] == pytest.approx(r64.details["probe_cross_entropy"], abs=1e-6)
    with pytest.raises(ValueError, match="products"):
        gram(xt, products="float16")


def test_gram_accumulated_over_row_blocks_equals_the_whole_gram():
    # the LS-SVM adds the Gram of each block of rows into one total (BLAS syrk with beta = 1 in float64)
    from lead_hf.scores._linalg import add_gram_, gram, new_gram_total

    rng = np.random.default_rng(6)
    x = torch.as_tensor(rng.normal(size=(700, 9)) + 3.0)
    exact = torch.tril(gram(x))
    for products, tol in (("float64", 1e-12), ("float32", 1e-6)):
        total = new_gram_total(9, x)
        for a in range(0, 700, 256):
            add_gram_(total, x[a:a + 256], products)
        assert float((torch.tril(total) - exact).abs().max()) <= tol * float(exact.abs().max())
    with pytest.raises(ValueError, match="products"):
        add_gram_(new_gram_total(9, x), x, "half")


def test_lapack_solve_and_blas_predictions_equal_torch():
    # the LS-SVM's Cholesky solves and its predictions go to scipy's LAPACK/BLAS on the CPU
    from lead_hf.scores._linalg import addmm_rows_, spd_solve

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(200, 12, generator=gen, dtype=torch.float64)
    a = x.T @ x + torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    expected = torch.linalg.solve(a, b)
    for layout in (a.clone(), a.T.contiguous().T, torch.tril(a)):  # row-, column-major, lower only
        assert torch.allclose(spd_solve(layout, b), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(torch.linalg.LinAlgError, match="not positive definite"):
        spd_solve(-a, b)
    out = torch.full((300, 5), float("nan"), dtype=torch.float64)
    bias = torch.randn(5, generator=gen, dtype=torch.float64)
    addmm_rows_(out[50:250], bias, x, b)
    assert torch.allclose(out[50:250], bias + x @ b, rtol=1e-12, atol=1e-12)
    assert bool(out[:50].isnan().all()) and bool(out[250:].isnan().all())  # only its rows are written


def test_binary_problem_matches_reference():
    x, y = gaussian_classes(num_classes=2, per_class=25, dim=6, separation=0.8, seed=5)
    for loss in ("least_squares", "squared_hinge"):
        opts = L.LeadOptions(**SMALL, svm_loss=loss)
        assert lead_hf.score("lead", x, y, **SMALL, svm_loss=loss) == pytest.approx(
            reference_lead(x, y, opts), abs=1e-6)


def test_closed_form_ntk_trace_equals_autograd_gradient_norm():
    torch.manual_seed(0)
    head = L.make_head(7, 5, (11, 13), seed=3)
    z = torch.randn(9, 7, dtype=torch.float64)
    params = [p.requires_grad_(True) for p in head.parameters()]
    explicit = []
    for i in range(z.shape[0]):
        grads = torch.autograd.grad(head(z[i:i + 1]).sum(), params)
        explicit.append(sum((g ** 2).sum() for g in grads))
    closed = L.ntk_traces(head, z)
    assert torch.allclose(closed, torch.stack(explicit), rtol=1e-10)


def _explicit_gram(head, z):
    params = [p.requires_grad_(True) for p in head.parameters()]
    rows = []
    for i in range(z.shape[0]):
        grads = torch.autograd.grad(head(z[i:i + 1]).sum(), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    jac = torch.stack(rows)
    for p in params:
        p.requires_grad_(False)
    return jac @ jac.T


@pytest.mark.parametrize("widths", [(11, 13), (6,), (9, 7, 5)])
def test_layerwise_gram_equals_autograd_jacobian_gram(widths):
    torch.manual_seed(0)
    head = L.make_head(7, 4, widths, seed=2)
    z = torch.randn(12, 7, dtype=torch.float64)
    kernel = L.head_kernel(head, z)
    explicit = _explicit_gram(head, z)
    assert torch.allclose(kernel.gram(), explicit, rtol=1e-10, atol=1e-10)
    assert torch.allclose(torch.diagonal(kernel.gram()), L.ntk_traces(head, z), rtol=1e-12)
    rows = torch.tensor([1, 4, 5, 9])
    assert torch.allclose(kernel.gram(rows), explicit[rows][:, rows], rtol=1e-10, atol=1e-10)
    v = torch.randn(12, dtype=torch.float64)
    assert torch.allclose(kernel.matvec(v), explicit @ v, rtol=1e-10, atol=1e-9)


def test_lanczos_top_eigenvalue_equals_eigvalsh():
    torch.manual_seed(1)
    head = L.make_head(5, 3, (20, 30), seed=0)
    z = torch.randn(40, 5, dtype=torch.float64) + 0.5
    kernel = L.head_kernel(head, z)
    dense = float(torch.linalg.eigvalsh(kernel.gram())[-1])
    assert L.lanczos_top_eigenvalue(kernel.matvec, kernel.n) == pytest.approx(dense, rel=1e-9)
    # an operator whose two top eigenvalues are close still converges (more steps)
    q, _ = torch.linalg.qr(torch.randn(30, 30, dtype=torch.float64))
    evals = torch.linspace(0, 1, 30, dtype=torch.float64)
    evals[-2] = 0.999
    mat = q @ torch.diag(evals) @ q.T
    assert L.lanczos_top_eigenvalue(lambda v: mat @ v, 30) == pytest.approx(1.0, rel=1e-9)


def test_lambda_max_detail_is_the_top_eigenvalue_of_the_sampled_points_ntk():
    from tests.support.lead_reference import reference_ntk_gram

    x, y = gaussian_classes(num_classes=3, per_class=12, dim=5)
    opts = L.LeadOptions(samples_per_class=10, head_widths=(8, 16))
    _, gram = reference_ntk_gram(torch.as_tensor(x), torch.as_tensor(y), 3, opts)
    expected = float(torch.linalg.eigvalsh(gram)[-1])
    for method in ("lanczos", "eigvalsh", "matrix_free"):
        r = lead_hf.compute_score("lead", x, y, samples_per_class=10, head_widths=(8, 16),
                                  lambda_max_method=method)
        assert r.details["lambda_max"] == pytest.approx(expected, rel=1e-5)  # float32 head signals
        assert r.details["kernel_points"] == 30
    # fewer kernel points than S*K: the first 2 sampled points of each class
    keep = torch.tensor([0, 1, 10, 11, 20, 21])
    sub = float(torch.linalg.eigvalsh(gram[keep][:, keep])[-1])
    for method in ("lanczos", "matrix_free"):
        r = lead_hf.compute_score("lead", x, y, samples_per_class=10, head_widths=(8, 16), max_kernel_points=7,
                                  lambda_max_method=method)
        assert r.details["kernel_points"] == 6
        assert r.details["lambda_max"] == pytest.approx(sub, rel=1e-5)


def test_kernel_evolution_equals_matrix_exponential():
    torch.manual_seed(3)
    a = torch.randn(9, 6, dtype=torch.float64)
    gram = a @ a.T  # rank 6 < 9: zero eigenvalues leave their residual components unchanged
    r = torch.randn(9, 4, dtype=torch.float64)
    moved, s = L.evolve_with_kernel(r, gram, 0.3)
    assert torch.allclose(moved, torch.linalg.matrix_exp(-0.3 * gram) @ r, atol=1e-12)
    assert bool((s >= 0).all())


def test_logit_scale_minimises_the_nll_like_scipy():
    from tests.support.lead_reference import reference_logit_scale

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 4
    for signal in (0.3, 1.0, 3.0):
        d = torch.randn(60, 4, generator=gen, dtype=torch.float64)
        d[torch.arange(60), y] += signal
        a = L.fit_logit_scale(d, y)
        assert a == pytest.approx(reference_logit_scale(d, y), rel=1e-6)
        assert a > 0
    # decisions pointing away from the labels: no scale helps, probabilities become uniform
    d = torch.randn(60, 4, generator=gen, dtype=torch.float64)
    d[torch.arange(60), y] -= 2.0
    assert L.fit_logit_scale(d, y) == 0.0
    # perfectly separating decisions: the NLL decreases towards 0 forever; the scale grows until the
    # probabilities are one-hot to float precision (and never beyond its cap)
    d = -torch.ones(60, 4, dtype=torch.float64)
    d[torch.arange(60), y] = 1.0
    a = L.fit_logit_scale(d, y)
    assert 10 < a <= L.logit_scale_cap(d)
    assert -torch.log_softmax(a * d, 1)[torch.arange(60), y].mean() < 1e-12


def test_temperature_probe_cross_entropy_is_at_most_the_softmax_one():
    # the fitted scale minimises the probe NLL, so scale 1 (plain softmax) can only be worse
    x, y = gaussian_classes(num_classes=4, per_class=20, dim=10, separation=1.0)
    soft = lead_hf.compute_score("lead", x, y, **SMALL)
    temp = lead_hf.compute_score("lead", x, y, **SMALL, svm_probability="temperature")
    assert temp.details["probe_cross_entropy"] <= soft.details["probe_cross_entropy"] + 1e-12
    assert temp.details["logit_scale"] > 1.0  # +-1 margins of a decent probe are under-confident


@pytest.mark.parametrize("options", [
    {"evolution": "full_kernel", "eta_normalization": "lambda_max"},
    {"evolution": "class_block", "eta_normalization": "lambda_max"},
    {"evolution": "full_kernel", "eta_normalization": "lambda_max", "evolved_state": "decisions",
     "svm_probability": "temperature"},
])
def test_kernel_evolutions_start_at_the_probe_and_details_are_complete(options):
    x, y = gaussian_classes(num_classes=4, per_class=20, dim=10, separation=0.8)
    r0 = lead_hf.compute_score("lead", x, y, **SMALL, **options, t=0.0)
    assert r0.value == pytest.approx(-r0.details["initial_cross_entropy"], rel=1e-12)
    r = lead_hf.compute_score("lead", x, y, **SMALL, **options, t=5.0)
    assert r.details["initial_cross_entropy"] == pytest.approx(r0.details["initial_cross_entropy"], rel=1e-12)
    assert r.value == pytest.approx(-r.details["cross_entropy"])
    assert r.details["cross_entropy"] < r.details["initial_cross_entropy"]  # fitting moves towards labels
    assert r.details["evaluated_samples"] == 4 * 8
    assert len(r.details["ntk_lambda"]) == 4 and r.details["lambda_max"] >= max(r.details["ntk_lambda"])
    assert 0.0 <= r.details["probe_accuracy"] <= 1.0


def test_full_kernel_reaches_the_labels_when_the_kernel_has_full_rank():
    x, y = gaussian_classes(num_classes=3, per_class=8, dim=6, separation=0.5)
    r = lead_hf.compute_score("lead", x, y, **SMALL, evolution="full_kernel", eta_normalization="lambda_max",
                              softmax_before_ce=False, t=1e9)
    assert r.value == pytest.approx(0.0, abs=1e-6)


def test_max_kernel_points_caps_the_full_kernel():
    x, y = gaussian_classes(num_classes=4, per_class=20, dim=10)
    r = lead_hf.compute_score("lead", x, y, **SMALL, evolution="full_kernel", max_kernel_points=13)
    assert r.details["evaluated_samples"] == 4 * 3 == r.details["kernel_points"]
    # one per class at least, whatever the cap
    r = lead_hf.compute_score("lead", x, y, **SMALL, evolution="full_kernel", max_kernel_points=2)
    assert r.details["evaluated_samples"] == 4


def test_class_rates_equal_mean_eigenvalue_of_explicit_gram():
    x, y = gaussian_classes(num_classes=3, per_class=12, dim=5)
    opts = L.LeadOptions(samples_per_class=10, head_widths=(8, 16))
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    fast = L.class_ntk_rates(xt, yt, 3, opts)
    slow = reference_ntk_lambda(xt, yt, 3, opts)
    assert torch.allclose(fast, slow, rtol=1e-5)


def test_squared_hinge_solver_reaches_liblinear_optimum():
    from sklearn.svm import LinearSVC

    x, y = gaussian_classes(num_classes=3, per_class=15, dim=4, separation=0.6, seed=2)
    xb = P.with_bias(torch.as_tensor(x))
    targets = L.ovr_targets(torch.as_tensor(y), 3, torch.float64)
    w = L.squared_hinge_svm_weights(xb, targets, C=0.5)
    for k in range(3):
        clf = LinearSVC(C=0.5, tol=1e-12, max_iter=10**6).fit(x, (y == k).astype(int))
        np.testing.assert_allclose(w[:-1, k].numpy(), clf.coef_[0], atol=1e-6)
        np.testing.assert_allclose(w[-1, k].item(), clf.intercept_[0], atol=1e-6)


# ---------------------------------------------------------------- properties
def test_more_separable_features_score_higher():
    values = [lead_hf.score("lead", *gaussian_classes(separation=s, seed=1), **SMALL)
              for s in (0.0, 0.3, 0.7, 1.5, 3.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_true_labels_beat_shuffled_labels():
    x, y = gaussian_classes(separation=1.0)
    shuffled = np.random.default_rng(0).permutation(y)
    assert lead_hf.score("lead", x, y, **SMALL) > lead_hf.score("lead", x, shuffled, **SMALL) + 0.05


def test_random_features_score_near_chance():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 40)
    x = rng.normal(size=(200, 8))
    result = lead_hf.compute_score("lead", x, y, **SMALL, t=0.0)
    # with t = 0 the score is the mean log-probability of the (out-of-fold) SVM: about log(1/K) for noise
    assert result.value == pytest.approx(np.log(1 / 5), abs=0.05)


def test_standardized_svm_is_invariant_to_feature_scale():
    x, y = gaussian_classes(num_classes=3, per_class=15, dim=6, separation=1.0)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    opts = L.LeadOptions(**SMALL)
    a, _ = L.svm_decision(xt, yt, 3, opts)
    b, _ = L.svm_decision(xt * 123.0 + 4.0, yt, 3, opts)
    assert torch.allclose(a, b, atol=1e-8)


@pytest.mark.parametrize("norm, ts", [("class_mean", (0.0, 0.5, 1.0, 4.0, 50.0)),
                                       # t counts steps of eta / lambda_max: the slowest class needs more
                                       ("lambda_max", (0.0, 1.0, 10.0, 100.0, 1e4))])
def test_time_coefficient_limits(norm, ts):
    x, y = gaussian_classes(separation=0.5)  # 4 classes
    probs = dict(SMALL, softmax_before_ce=False, eta_normalization=norm)
    r0 = lead_hf.compute_score("lead", x, y, **probs, t=0.0)
    assert r0.value == pytest.approx(-r0.details["initial_cross_entropy"], rel=1e-9)
    values = [lead_hf.score("lead", x, y, **probs, t=t) for t in ts]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.0, abs=1e-6)  # fully evolved logits are the labels
    assert all(v <= 0 for v in values)
    # default: F_t read as logits; fully evolved = one-hot logits, whose softmax gives e / (e + K - 1)
    values = [lead_hf.score("lead", x, y, **SMALL, eta_normalization=norm, t=t) for t in ts]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(-np.log(1 + 3 / np.e), abs=1e-6)


def test_global_rate_ablation_uses_one_rate():
    x, y = gaussian_classes()
    r = lead_hf.compute_score("lead", x, y, **SMALL, class_aware=False)
    assert len(set(np.round(r.details["rates"], 12))) == 1
    r2 = lead_hf.compute_score("lead", x, y, **SMALL, eta_normalization="class_mean")
    # class_mean normalisation: rate_k = eta t lambda_k / mean_j lambda_j, so the rates average eta t
    assert np.mean(r2.details["rates"]) == pytest.approx(r2.options["eta"] * r2.options["t"])
    # lambda_max (the default): rate_k = eta t lambda_k / lambda_max; the class rates are Rayleigh quotients
    # of the kernel points' NTK, so none exceeds eta t, and their ratios are class_mean's
    r3 = lead_hf.compute_score("lead", x, y, **SMALL)
    assert r3.options["eta_normalization"] == "lambda_max"
    assert 0 < max(r3.details["rates"]) <= r3.options["eta"] * r3.options["t"] * (1 + 1e-9)
    np.testing.assert_allclose(np.asarray(r3.details["rates"]) / np.mean(r3.details["rates"]),
                               np.asarray(r2.details["rates"]) / np.mean(r2.details["rates"]), rtol=1e-9)


@pytest.mark.parametrize("evolution", ["class_block", "full_kernel"])
def test_kernel_evolutions_are_invariant_to_sample_order(evolution):
    x, y = gaussian_classes(num_classes=3, per_class=15, dim=6, separation=1.0)
    opts = dict(SMALL, evolution=evolution, eta_normalization="lambda_max", t=10.0)
    perm = np.random.default_rng(3).permutation(len(y))
    assert lead_hf.score("lead", x[perm], y[perm], **opts) == pytest.approx(lead_hf.score("lead", x, y, **opts),
                                                                              abs=1e-10)


def test_seed_determinism():
    x, y = gaussian_classes(per_class=40)
    opts = dict(SMALL, samples_per_class=5)
    a = lead_hf.score("lead", x, y, **opts, seed=1)
    assert a == within_ulps(lead_hf.score("lead", x, y, **opts, seed=1))
    assert a != lead_hf.score("lead", x, y, **opts, seed=2)


def test_relative_alpha_is_the_same_in_primal_and_dual():
    # alpha = svm_alpha * trace / (D+1) in both paths: the decisions of N > D+1 and N <= D+1 agree with a
    # direct ridge fit using that alpha
    for n_per, dim in ((30, 5), (3, 40)):
        x, y = gaussian_classes(num_classes=3, per_class=n_per, dim=dim, separation=1.0)
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        opts = L.LeadOptions(**SMALL, svm_fit="in_sample", svm_alpha=0.05)
        dec, C = L.svm_decision(xt, yt, 3, opts)
        xb = P.with_bias(L.standardize(xt))
        alpha = 0.05 * float((xb ** 2).sum()) / xb.shape[1]
        assert 1 / (2 * C) == pytest.approx(alpha)
        w = torch.linalg.solve(xb.T @ xb + alpha * torch.eye(xb.shape[1], dtype=xb.dtype),
                               xb.T @ L.ovr_targets(yt, 3, xb.dtype))
        assert torch.allclose(dec, xb @ w, atol=1e-8)


def test_out_of_fold_fit_does_not_saturate_like_in_sample():
    # small N, large D: the in-sample SVM memorises noise (the failure measured in lead-method.md)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 10)
    x = rng.normal(size=(40, 200))
    in_sample = lead_hf.compute_score("lead", x, y, **SMALL, svm_fit="in_sample", svm_C=10.0,
                                      svm_loss="squared_hinge")
    assert in_sample.details["svm_accuracy"] == 1.0
    out = lead_hf.compute_score("lead", x, y, **SMALL)
    assert out.details["svm_accuracy"] < 0.6


def test_one_global_rate_needs_the_class_mean_evolution():
    # every option against its declared constraint, and the edge cases with both SVM losses:
    # tests/test_score_contract.py; here the one rule between two options
    x, y = gaussian_classes()
    for evolution in ("class_block", "full_kernel"):
        with pytest.raises(ValueError, match=r"^lead\.class_aware must be True with evolution='class_block' or "):
            lead_hf.score("lead", x, y, evolution=evolution, class_aware=False)
    assert np.isfinite(lead_hf.score("lead", x, y, **SMALL, class_aware=False))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x, y = gaussian_classes()
    assert lead_hf.score("lead", x, y, device="cuda") == pytest.approx(lead_hf.score("lead", x, y), abs=1e-6)


@pytest.mark.parametrize("svm_fit", ["out_of_fold", "in_sample"])
def test_caller_features_are_not_modified(svm_fit):
    x, y = gaussian_classes()
    xt = torch.as_tensor(x.copy())  # float64: prepare_inputs shares this memory
    before = xt.clone()
    lead_hf.score("lead", xt, y, **SMALL, svm_fit=svm_fit)
    assert torch.equal(xt, before)


@pytest.mark.parametrize("scale", [1e-20, 1e-6, 1e6, 1e20])
def test_lead_is_free_of_the_features_scale(scale):
    """The probe is scale-free (its ridge is relative to the data) and the head sees the features at unit RMS
    norm, so scaling every feature by a constant leaves LEAD's value (issue 20: 1e20 raised a LinAlgError)."""
    x, y = gaussian_classes(num_classes=3, per_class=40, dim=16, seed=0)
    base = lead_hf.score("lead", x, y)
    assert lead_hf.score("lead", x * scale, y) == pytest.approx(base, rel=1e-7)
