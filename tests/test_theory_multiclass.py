"""Tests for the multi-class pruning theorem of advex_lit.theory: the pairwise adversarial loss, its exact expected SGD
update, and both parts of the theorem with the limit, on random finite K-class distributions."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit.linear import adversarial_loss
from advex_lit.losses import LOSS_NAMES, get_loss
from advex_lit.theory import (class_means, expected_update_multiclass_exact, multiclass_adversarial_loss,
                              multiclass_adversarial_loss_gradient, multiclass_pruning_bound,
                              multiclass_zero_column_update, pair_slopes, pairwise_margins, radial_update,
                              random_multiclass_distribution)

SEEDS = st.integers(0, 2**31 - 1)
LOSSES = st.sampled_from(LOSS_NAMES)


def _instance(seed, n_classes, group_size=2):
    dist = random_multiclass_distribution(n_classes, (1, group_size), n_atoms=3, seed=seed)
    rng = np.random.default_rng(seed + 1)
    return dist, rng.normal(size=(n_classes, dist.x.shape[1])), rng


def _sides(dist, W, eps, loss, feature=0):
    update = expected_update_multiclass_exact(dist.x, dist.y, dist.probs, W, eps, loss)
    slopes = pair_slopes(dist.x, dist.y, dist.probs, W, eps, loss)
    return (update, slopes, radial_update(update, W, feature),
            multiclass_pruning_bound(dist.means[:, feature], W, feature, eps, slopes))


# ---------------------------------------------------------------- the loss and its gradient

@settings(max_examples=examples(30), deadline=None)
@given(SEEDS, st.floats(0, 1), LOSSES)
def test_two_classes_is_the_binary_adversarial_loss(seed, eps, loss):
    rng = np.random.default_rng(seed)
    x, y, W = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20), rng.normal(size=(2, 3))
    np.testing.assert_allclose(multiclass_adversarial_loss(x, y, W, eps, loss),
                               adversarial_loss(x, 2 * y - 1, W[1] - W[0], eps, loss), rtol=0, atol=1e-12)


def test_pairwise_loss_by_hand():
    # K = 3, d = 1: W = (0, 1, -2), x = 1, y = 0, eps = 0.5, hinge g(z) = max(0, 1 + z)
    W = np.array([[0.0], [1.0], [-2.0]])
    m = pairwise_margins(np.array([[1.0]]), np.array([0]), W, 0.5)
    np.testing.assert_allclose(m, [[0.0, 0.5 + 1.0, 1.0 - 2.0]])
    np.testing.assert_allclose(multiclass_adversarial_loss(np.array([[1.0]]), np.array([0]), W, 0.5, "hinge"), [2.5])


@settings(max_examples=examples(20), deadline=None)
@given(SEEDS, st.integers(2, 4), st.floats(0, 1), st.sampled_from(["logistic", "softplus_hinge"]))
def test_expected_update_is_minus_gradient_of_expected_loss(seed, n_classes, eps, loss):
    dist, W, _ = _instance(seed, n_classes)
    h = lambda V: dist.probs @ multiclass_adversarial_loss(dist.x, dist.y, V.reshape(W.shape), eps, loss)
    step = 1e-6
    numeric = np.array([(h(W.ravel() + step * e) - h(W.ravel() - step * e)) / (2 * step) for e in np.eye(W.size)])
    exact = expected_update_multiclass_exact(dist.x, dist.y, dist.probs, W, eps, loss)
    np.testing.assert_allclose(exact, -numeric.reshape(W.shape), rtol=0, atol=1e-6)


def test_gradient_rows_sum_to_zero_per_example():
    "Each pair term depends on w_k - w_y only, so the gradient rows of every example sum to zero."
    dist, W, _ = _instance(3, 4)
    grad = multiclass_adversarial_loss_gradient(dist.x, dist.y, W, 0.4, "hinge")
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)


def test_pair_slopes_and_class_means_by_reference():
    dist, W, _ = _instance(5, 3)
    eps, loss = 0.3, "logistic"
    slopes = pair_slopes(dist.x, dist.y, dist.probs, W, eps, loss)
    dg = get_loss(loss).dg
    for c in range(3):
        rows = dist.y == c
        mass = dist.probs[rows].sum()
        np.testing.assert_allclose(class_means(dist.x, dist.y, dist.probs, 3)[c], dist.probs[rows] @ dist.x[rows] / mass)
        for k in range(3):
            if k == c:
                assert slopes[c, k] == 0
                continue
            diff = W[k] - W[c]
            m = eps * np.abs(diff).sum() + dist.x[rows] @ diff
            assert np.isclose(slopes[c, k], dist.probs[rows] @ dg(m), rtol=0, atol=1e-14)


# ---------------------------------------------------------------- the theorem

@settings(max_examples=examples(40), deadline=None)
@given(SEEDS, st.integers(2, 4), st.floats(0, 1), LOSSES)
def test_zero_column_update_is_exact(seed, n_classes, eps, loss):
    dist, W, _ = _instance(seed, n_classes)
    W[:, 0] = 0.0
    update, slopes, _, _ = _sides(dist, W, eps, loss)
    np.testing.assert_allclose(update[:, 0], multiclass_zero_column_update(dist.means[:, 0], slopes),
                               rtol=0, atol=1e-9)


@settings(max_examples=examples(60), deadline=None)
@given(SEEDS, st.integers(2, 4), st.floats(0, 1), LOSSES)
def test_radial_update_is_below_the_bound(seed, n_classes, eps, loss):
    dist, W, _ = _instance(seed, n_classes)
    _, _, radial, bound = _sides(dist, W, eps, loss)
    assert radial <= bound + 1e-9


@settings(max_examples=examples(30), deadline=None)
@given(SEEDS, st.integers(2, 4), st.floats(0.05, 1), LOSSES)
def test_weak_feature_column_shrinks(seed, n_classes, eps, loss):
    "Scale feature 0 so that every class mean lies within eps of zero: the column must shrink on average."
    dist, W, _ = _instance(seed, n_classes)
    x = dist.x.copy()
    x[:, 0] *= 0.9 * eps / np.abs(dist.means[:, 0]).max()
    means = class_means(x, dist.y, dist.probs, n_classes)
    update = expected_update_multiclass_exact(x, dist.y, dist.probs, W, eps, loss)
    slopes = pair_slopes(x, dist.y, dist.probs, W, eps, loss)
    bound = multiclass_pruning_bound(means[:, 0], W, 0, eps, slopes)
    assert bound <= 0 and radial_update(update, W, 0) <= bound + 1e-9
    if loss != "hinge":   # g' > 0 everywhere: strictly negative
        assert radial_update(update, W, 0) < 0


@settings(max_examples=examples(20), deadline=None)
@given(SEEDS, st.integers(2, 4), st.floats(0, 1), LOSSES)
def test_equality_in_the_limit(seed, n_classes, eps, loss):
    dist, W, rng = _instance(seed, n_classes)
    u = rng.normal(size=n_classes)
    W[:, 0] = 1e-8 * u
    _, _, radial, bound = _sides(dist, W, eps, loss)
    assert -1e-9 <= (bound - radial) / 1e-8 <= 1e-6


def test_bound_fails_inside_a_dependent_group():
    "The bound needs conditional independence: some feature of a dependent group breaks it."
    broken = 0
    for seed in range(60):
        dist, W, _ = _instance(seed, 3, group_size=2)
        update = expected_update_multiclass_exact(dist.x, dist.y, dist.probs, W, 0.3, "logistic")
        slopes = pair_slopes(dist.x, dist.y, dist.probs, W, 0.3, "logistic")
        for j in dist.groups[1]:
            broken += radial_update(update, W, j) > multiclass_pruning_bound(dist.means[:, j], W, j, 0.3, slopes) + 1e-9
    assert broken > 0


def test_bounds_by_hand():
    # K = 2, feature 0: W[:, 0] = (1, -1), means (0.5, -0.5), slopes G = [[0, 0.2], [0.3, 0]], eps = 0.1
    # pairs: (0, 1): 0.2 * 2 * (0.5 - 0.1) = 0.16; (1, 0): 0.3 * 2 * (0.5 * -1 * -1 - 0.1) = 0.24
    W = np.array([[1.0, 0.0], [-1.0, 0.0]])
    G = np.array([[0.0, 0.2], [0.3, 0.0]])
    assert np.isclose(multiclass_pruning_bound([0.5, -0.5], W, 0, 0.1, G), 0.4)
    # zero column: mu_c sum_k G[c, k] - sum_k mu_k G[k, c] = (0.5 * 0.2 + 0.5 * 0.3, -0.5 * 0.3 - 0.5 * 0.2)
    np.testing.assert_allclose(multiclass_zero_column_update([0.5, -0.5], G), [0.25, -0.25])
    assert radial_update(np.array([[2.0, 5.0], [3.0, 7.0]]), W, 0) == -1.0


def test_random_multiclass_distribution_is_conditionally_independent():
    dist = random_multiclass_distribution(3, (1, 2), n_atoms=3, seed=0)
    assert np.isclose(dist.probs.sum(), 1) and dist.groups == [[0], [1, 2]]
    for c in range(3):
        rows = dist.y == c
        p = dist.probs[rows] / dist.probs[rows].sum()
        x0, rest = dist.x[rows, 0], dist.x[rows, 1]
        # E[x0 * f(rest) | c] = E[x0 | c] E[f(rest) | c] for a non-linear f
        assert np.isclose(p @ (x0 * np.sin(rest)), (p @ x0) * (p @ np.sin(rest)))


def test_bad_inputs():
    dist = random_multiclass_distribution(3, (1, 1), seed=0)
    W = np.zeros((3, 2))
    with pytest.raises(ValueError, match="`W`"): multiclass_adversarial_loss(dist.x, dist.y, np.zeros((1, 2)), 0.1)
    with pytest.raises(ValueError, match="`W`"): multiclass_adversarial_loss(dist.x, dist.y, np.zeros((3, 5)), 0.1)
    with pytest.raises(ValueError, match="`support_y`"):
        expected_update_multiclass_exact(dist.x, dist.y + 5, dist.probs, W, 0.1)
    with pytest.raises(ValueError, match="`probs`"):
        expected_update_multiclass_exact(dist.x, dist.y, dist.probs * 2, W, 0.1)
    with pytest.raises(ValueError, match="`eps`"): pair_slopes(dist.x, dist.y, dist.probs, W, -1.0)
    with pytest.raises(ValueError, match="`feature`"): radial_update(W, W, 7)
    with pytest.raises(ValueError, match="`means`"): multiclass_pruning_bound([0.1], W, 0, 0.1, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="`slopes`"): multiclass_zero_column_update([0.1, 0, 0], -np.ones((3, 3)))
    with pytest.raises(ValueError, match="`n_classes`"): random_multiclass_distribution(1)
    with pytest.raises(ValueError, match="`group_sizes`"): random_multiclass_distribution(3, (0,))
    with pytest.raises(ValueError, match="every class"):
        class_means(dist.x, dist.y, np.where(dist.y == 0, 0.0, dist.probs / dist.probs[dist.y != 0].sum()), 3)
