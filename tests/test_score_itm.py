"""ITM: the training loop against the public port's modules (torch.nn, matrix_power, PolynomialLR) fed the
same initial weights and batches, the DVA step against an explicit per-sample sum, the split, properties."""
import numpy as np
import pytest
import torch
from torch import nn

import lead_hf
from helpers import gaussian_classes, same_within_ulps
from lead_hf.scores._probe import standardize
from lead_hf.scores.itm import ItmOptions, canonical_split, dva_logits, initial_parameters, train_head


class PortDVA(nn.Module):
    """The DVA head of te-guide's ITM port (nets/dva.py of the authors' code), written out."""

    def __init__(self, c, dim, m, coeff, model_size):
        super().__init__()
        layers = []
        for _ in range(model_size):
            layers += [nn.Linear(dim, dim), nn.ReLU()]
        layers.append(nn.Linear(dim, c))
        self.tmodel = nn.Sequential(*layers)
        self.lp = nn.Linear(c, c)
        self.m, self.coeff = m, coeff

    def forward(self, x, y_embed):
        x = nn.functional.normalize(self.tmodel(x), p=2, dim=1)
        nb = x.shape[0]
        xd = x.detach()
        a = torch.eye(nb, dtype=x.dtype) - (xd @ xd.t()) * self.coeff / nb
        ym = torch.linalg.matrix_power(a, self.m) @ (x - y_embed) + y_embed
        return ym, self.lp(ym)


def port_training(x, split, k, opts, params):
    """The port's loop (AdamW + PolynomialLR, CrossEntropyLoss, validation every val_interval steps, the
    max accuracy) with the same initial weights and the same batches as lead_hf's."""
    model = PortDVA(k, x.shape[1], opts.evolution_steps, opts.coupling, opts.hidden_layers).double()
    linears = [mod for mod in model.modules() if isinstance(mod, nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, zip(params[0::2], params[1::2])):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    proto = torch.eye(k, dtype=torch.float64)          # mk_proto: normalised one-hot embeddings
    opt = torch.optim.AdamW(model.parameters(), lr=opts.learning_rate, weight_decay=opts.weight_decay)
    sch = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=opts.decay_steps, power=1.0)
    xt, yt = x[split.train], split.labels[split.train]
    xv, yv = x[split.validation], split.labels[split.validation]
    gen = torch.Generator().manual_seed(opts.seed + 2)   # lead_hf's batches: a permutation per epoch
    batches, accs = [], []
    for i in range(opts.steps):
        if not batches:
            batches = list(torch.split(torch.randperm(yt.numel(), generator=gen), opts.batch_size))[::-1]
        rows = batches.pop()
        _, logits = model(xt[rows], proto[yt[rows]])
        loss = nn.CrossEntropyLoss()(logits, yt[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sch.step()
        if (i + 1) % opts.eval_every == 0:
            with torch.no_grad():
                correct = 0
                for a in range(0, yv.numel(), opts.batch_size):
                    _, logits = model(xv[a:a + opts.batch_size], proto[yv[a:a + opts.batch_size]])
                    correct += int((logits.argmax(1) == yv[a:a + opts.batch_size]).sum())
            accs.append(correct / yv.numel())
    return accs, [p.detach() for lin in linears for p in (lin.weight, lin.bias)]


@pytest.mark.parametrize("opts", [ItmOptions(steps=60, eval_every=20, batch_size=32),
                                  ItmOptions(steps=80, eval_every=20, batch_size=50, evolution_steps=2,
                                             coupling=1.0, hidden_layers=1, decay_steps=100)])
def test_training_equals_the_public_port_given_the_same_start_and_batches(opts):
    x, y = gaussian_classes(num_classes=4, per_class=40, dim=6, separation=1.0, seed=1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    split = canonical_split(standardize(xt), yt, 4, opts.validation_fraction, opts.seed)
    xs = standardize(xt[split.order])
    start = initial_parameters(6, 4, opts.hidden_layers, opts.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)    # tiny products: one thread is 10x faster on a busy machine
    try:
        port_accs, port_params = port_training(xs, split, 4, opts, [p.detach().clone() for p in start])
        params, history, _ = train_head(xs, split, 4, opts, params=start)
    finally:
        torch.set_num_threads(threads)
    for got, want in zip(params, port_params):
        torch.testing.assert_close(got.detach(), want, rtol=1e-10, atol=1e-12)
    assert [h[1] for h in history] == port_accs       # no logit ties on continuous data
    assert 0.3 < max(port_accs) < 1.0


def test_dva_step_equals_an_explicit_sum_over_the_batch():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.normal(size=(7, 5)))
    y = torch.tensor([0, 1, 2, 1, 0, 2, 2])
    onehot = nn.functional.one_hot(y, 3).double()
    params = [p.detach() for p in initial_parameters(5, 3, 0, seed=3)]
    w, b, w2, b2 = params
    h = x @ w.T + b
    h = h / h.norm(dim=1, keepdim=True)
    for m, c in ((0, 0.5), (1, 0.5), (2, 1.5)):
        v = (h - onehot).numpy()
        for _ in range(m):   # v_i <- v_i - c/n sum_j (h_i . h_j) v_j
            v = np.array([v[i] - c / 7 * sum(float(h[i] @ h[j]) * v[j] for j in range(7)) for i in range(7)])
        want = torch.from_numpy(v) + onehot
        torch.testing.assert_close(dva_logits(params, x, onehot, m, c), want @ w2.T + b2, rtol=1e-12, atol=1e-12)


def test_split_is_stratified_disjoint_and_covers_every_row():
    y = torch.tensor([0] * 10 + [1] * 4 + [2] * 2 + [3])
    x = torch.from_numpy(np.random.default_rng(4).normal(size=(17, 3)))
    s = canonical_split(x, y, 4, 0.2, seed=0)
    assert sorted(s.train.tolist() + s.validation.tolist()) == list(range(17))
    held = torch.bincount(s.labels[s.validation], minlength=4)
    # canonical classes are numbered by first appearance; compare the multiset of held-out counts per class size
    sizes = torch.bincount(s.labels, minlength=4)
    assert sorted(zip(sizes.tolist(), held.tolist())) == [(1, 0), (2, 1), (4, 1), (10, 2)]
    # the canonical labels are a renaming of the input labels
    assert torch.equal(torch.bincount(s.labels).sort().values, torch.bincount(y).sort().values)


def test_separable_scores_high_and_random_labels_near_chance():
    x, y = gaussian_classes(num_classes=5, per_class=60, dim=20, separation=3.0, seed=5)
    assert lead_hf.score("itm", x, y, steps=200) > 0.95
    shuffled = np.random.default_rng(6).permutation(y)
    assert lead_hf.score("itm", x, shuffled, steps=200) < 0.45


def test_invariant_to_row_order_label_names_and_feature_scale():
    x, y = gaussian_classes(num_classes=3, per_class=40, dim=8, separation=0.6, seed=7)
    base = lead_hf.compute_score("itm", x, y, steps=150, eval_every=50)
    perm = np.random.default_rng(8).permutation(y.size)
    assert same_within_ulps(lead_hf.compute_score("itm", x[perm], y[perm], steps=150, eval_every=50).details,
                            base.details)
    assert same_within_ulps(lead_hf.compute_score("itm", x, np.array(["z", "m", "a"])[y], steps=150,
                                                  eval_every=50).details, base.details)
    scaled = lead_hf.compute_score("itm", x * np.geomspace(1e-2, 1e2, 8), y, steps=150, eval_every=50)
    assert scaled.details["validation_accuracy"] == base.details["validation_accuracy"]
    assert 0.4 < base.value < 1.0


def test_evaluation_after_the_last_step_and_best_of_the_checkpoints():
    x, y = gaussian_classes(num_classes=3, per_class=30, dim=5, separation=1.0, seed=9)
    r = lead_hf.compute_score("itm", x, y, steps=45, eval_every=20)
    assert r.details["steps_evaluated"] == [20, 40, 45]
    assert r.value == max(r.details["validation_accuracy"])


def test_restores_torch_threads():
    before = torch.get_num_threads()
    x, y = gaussian_classes(num_classes=2, per_class=10, dim=3, seed=10)
    lead_hf.score("itm", x, y, steps=5)
    assert torch.get_num_threads() == before
