"""k-NN leave-one-out accuracy: the blocked path against an explicit loop, scikit-learn, ties, properties."""
from collections import Counter

import numpy as np
import pytest
import torch

import lead_hf
from helpers import gaussian_classes, rotation, same_within_ulps, within_ulps
from lead_hf.scores._order import projection_order
from lead_hf.scores.knn import nearest_neighbours, vote


def explicit_knn(x, y, k, metric):
    """One sample at a time: distances to every other row in numpy, sorted by (distance, canonical rank),
    the k first vote, a tie between classes goes to the nearest neighbour among them. Returns (accuracy,
    soft accuracy, neighbours of every row in canonical positions)."""
    x = np.asarray(x, dtype=np.float64)
    order = projection_order(torch.from_numpy(x), seed=0).numpy()
    xo, yo = x[order], np.asarray(y)[order]
    if metric == "cosine":
        norms = np.linalg.norm(xo, axis=1, keepdims=True)
        xo = xo / np.where(norms > 0, norms, 1)
    n = len(yo)
    k = min(k, n - 1)
    correct, soft, neighbours = 0.0, 0.0, []
    for i in range(n):
        cands = []
        for j in range(n):
            if j == i:
                continue
            d = 1 - xo[i] @ xo[j] if metric == "cosine" else float(((xo[i] - xo[j]) ** 2).sum())
            cands.append((d, j))
        chosen = [j for _, j in sorted(cands)[:k]]          # tuples: distance first, then canonical rank
        neighbours.append(chosen)
        votes = Counter(int(yo[j]) for j in chosen)
        top = max(votes.values())
        winner = next(int(yo[j]) for j in chosen if votes[int(yo[j])] == top)
        correct += winner == yo[i]
        soft += votes[int(yo[i])] / k
    return correct / n, soft / n, np.array(neighbours)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [1, 4, 7])
def test_blocked_path_equals_explicit_loop(metric, k):
    x, y = gaussian_classes(num_classes=3, per_class=14, dim=5, separation=0.7, seed=k)
    want_acc, want_soft, want_nb = explicit_knn(x, y, k, metric)
    r = lead_hf.compute_score("knn", x, y, k=k, metric=metric)
    assert r.details["accuracy"] == pytest.approx(want_acc, abs=1e-12)
    assert r.details["soft_accuracy"] == pytest.approx(want_soft, abs=1e-12)
    assert 0.2 < want_acc < 1.0                       # overlapping classes: not a vacuous comparison
    xt = torch.from_numpy(x)
    xo = xt[projection_order(xt, seed=0)]
    for block in (1, 5, 1000):                        # blocks of every size give the same neighbours
        idx, _ = nearest_neighbours(xo, k, metric, block_rows=block)
        np.testing.assert_array_equal(idx.numpy(), want_nb)


def test_ties_at_the_kth_distance_and_in_the_vote_follow_the_explicit_rule():
    # integer grid points with repeats: many equal (exact) squared distances, and even k makes vote ties
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(40, 2)).astype(float)
    y = rng.integers(0, 3, size=40)
    for k in (2, 4, 6):
        want_acc, want_soft, want_nb = explicit_knn(x, y, k, "euclidean")
        r = lead_hf.compute_score("knn", x, y, k=k, metric="euclidean")
        assert r.details["accuracy"] == pytest.approx(want_acc, abs=1e-12)
        assert r.details["soft_accuracy"] == pytest.approx(want_soft, abs=1e-12)
        xt = torch.from_numpy(x)
        idx, _ = nearest_neighbours(xt[projection_order(xt, seed=0)], k, "euclidean", block_rows=7)
        np.testing.assert_array_equal(idx.numpy(), want_nb)


def test_vote_ties_go_to_the_nearest_neighbour_among_the_tied_classes():
    labels = torch.tensor([[2, 0, 0, 2], [1, 1, 2, 2], [0, 1, 2, 1]])   # nearest first
    predicted, votes = vote(labels, 3)
    assert predicted.tolist() == [2, 1, 1]
    assert votes[0].tolist() == [2, 0, 2]


def test_equals_scikit_learn_leave_one_out_without_ties():
    from sklearn.neighbors import NearestNeighbors

    # two classes and an odd k: no vote can tie, so scikit-learn's majority rule is the same rule
    x, y = gaussian_classes(num_classes=2, per_class=60, dim=8, separation=0.4, seed=11)
    k = 7
    nb = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
    others = np.array([[j for j in row if j != i][:k] for i, row in enumerate(nb)])
    predicted = (y[others].mean(1) > 0.5).astype(int)
    assert lead_hf.score("knn", x, y, k=k, metric="euclidean") == pytest.approx((predicted == y).mean(), abs=1e-12)


def test_separable_classes_score_one_and_random_labels_near_chance():
    x, y = gaussian_classes(num_classes=4, per_class=50, dim=16, separation=6.0, seed=1)
    assert lead_hf.score("knn", x, y) == 1.0
    assert lead_hf.score("knn", x, y, soft=True) == 1.0
    shuffled = np.random.default_rng(2).permutation(y)
    assert abs(lead_hf.score("knn", x, shuffled) - 0.25) < 0.1


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_invariant_to_scale_rotation_and_label_names(metric):
    x, y = gaussian_classes(num_classes=3, per_class=30, dim=6, separation=0.8, seed=4)
    base = lead_hf.compute_score("knn", x, y, metric=metric, k=5)
    assert 0.4 < base.value < 1.0
    for variant in (x * 1e3, x @ rotation(6)):
        assert lead_hf.score("knn", variant, y, metric=metric, k=5) == within_ulps(base.value)
    names = np.array(["zebra", "moth", "ant"])[y]
    assert same_within_ulps(lead_hf.compute_score("knn", x, names, metric=metric, k=5).details, base.details)


def test_shuffled_rows_give_the_same_value():
    x, y = gaussian_classes(num_classes=5, per_class=40, dim=12, separation=0.5, seed=6)
    perm = np.random.default_rng(7).permutation(y.size)
    for soft in (False, True):
        assert lead_hf.score("knn", x[perm], y[perm], soft=soft) == within_ulps(lead_hf.score("knn", x, y, soft=soft))


def test_soft_is_the_mean_share_of_neighbours_with_the_label_and_k_1_makes_both_equal():
    x, y = gaussian_classes(num_classes=3, per_class=20, dim=4, separation=0.6, seed=8)
    r = lead_hf.compute_score("knn", x, y, k=1)
    assert r.details["soft_accuracy"] == r.details["accuracy"]
    r5 = lead_hf.compute_score("knn", x, y, k=5, soft=True)
    assert r5.value == r5.details["soft_accuracy"] != r5.details["accuracy"]


def test_k_larger_than_the_split_uses_every_other_sample():
    x, y = gaussian_classes(num_classes=2, per_class=4, dim=3, seed=9)
    r = lead_hf.compute_score("knn", x, y, k=50, soft=True)
    assert r.details["k"] == 7
    # every sample sees the 3 others of its class among its 7 neighbours
    assert r.value == pytest.approx(3 / 7)
