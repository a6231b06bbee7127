"Property tests for advex_lit.theory: the covariance lemma and the pruning theorem, exact and sampled, and training."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit.data import feat_indep_dataset
from advex_lit.linear import adversarial_loss
from advex_lit.losses import LOSS_NAMES, get_loss
from advex_lit.theory import (covariance_gap, expected_adversarial_loss, expected_update_exact, expected_update_mc,
                              group_pruning_bound, hinge_adversarial_optimum, mean_g_prime, one_sided_derivative,
                              oriented_update, pruning_bound, random_covariance_instance, random_discrete_distribution,
                              train_one_layer, weighted_average)

SEEDS = st.integers(0, 2**31 - 1)
LOSSES = st.sampled_from(LOSS_NAMES)


def _weights(seed, d, zero_fraction=0.3):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w[rng.random(d) < zero_fraction] = 0.0
    return w


# ---------------------------------------------------------------- the covariance lemma

@settings(max_examples=examples(60), deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), SEEDS, st.floats(0.01, 10), LOSSES)
def test_covariance_lemma_loss_slopes(n_y, n_z, n_v, seed, c, loss):
    inst = random_covariance_instance(n_y, n_z, n_v, seed=seed)
    assert covariance_gap(inst.probs, inst.z, get_loss(loss).dg(inst.v - c * inst.z)) <= 1e-12


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), SEEDS)
def test_covariance_lemma_step_functions(n_y, n_z, n_v, seed):
    inst = random_covariance_instance(n_y, n_z, n_v, seed=seed)
    rng = np.random.default_rng(seed)
    cuts, heights = rng.normal(size=(3, 1)), rng.exponential(size=(3, 1))
    f = -(heights * (inst.z[None, :] > cuts + np.tanh(inst.v)[None, :])).sum(axis=0) + np.cos(3 * inst.v)
    assert covariance_gap(inst.probs, inst.z, f) <= 1e-12


def test_covariance_instance_is_centered_and_conditionally_independent():
    inst = random_covariance_instance(3, 3, 4, seed=7)
    p = inst.probs
    means = [p[inst.y == k] @ inst.z[inst.y == k] / p[inst.y == k].sum() for k in range(3)]
    assert np.allclose(means, means[0], atol=1e-12)
    for k in range(3):  # joint of (Z, V) given Y = k factorizes
        sel = inst.y == k
        joint = p[sel] / p[sel].sum()
        zs, vs = inst.z[sel], inst.v[sel]
        for zval in np.unique(zs):
            for vval in np.unique(vs):
                pz, pv = joint[zs == zval].sum(), joint[vs == vval].sum()
                assert np.isclose(joint[(zs == zval) & (vs == vval)].sum(), pz * pv, atol=1e-12)


def test_covariance_lemma_needs_constant_conditional_mean():
    # Y uniform on {0, 1}, Z = V = Y, f(z, v) = v: E[Z f] = 1/2 > 1/4 = E[Z] E[f]
    probs, z = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    assert covariance_gap(probs, z, z) == pytest.approx(0.25, abs=1e-15)
    gaps = [covariance_gap(i.probs, i.z, get_loss("logistic").dg(i.v - i.z))
            for i in (random_covariance_instance(centered=False, seed=s) for s in range(200))]
    assert max(gaps) > 1e-3


# ---------------------------------------------------------------- exact expected update

@settings(max_examples=examples(25), deadline=None)
@given(st.integers(2, 4), SEEDS, st.floats(0, 1), LOSSES)
def test_expected_update_matches_direct_formula(d, seed, eps, loss):
    dist = random_discrete_distribution([1] * d, n_atoms=2, seed=seed)
    w = _weights(seed + 1, d)
    margin = eps * np.abs(w).sum() - dist.y * (dist.x @ w)
    slope = get_loss(loss).dg(margin)
    direct = dist.probs @ (slope[:, None] * (dist.y[:, None] * dist.x - eps * np.sign(w)))
    assert np.allclose(expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss), direct, atol=1e-12)
    assert mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs) == pytest.approx(dist.probs @ slope, abs=1e-12)


@pytest.mark.parametrize("loss", ["logistic", "softplus_hinge"])
def test_expected_update_is_minus_gradient_of_expected_adversarial_loss(loss):
    dist = random_discrete_distribution([1, 1, 1], n_atoms=3, seed=11)
    w, eps, h = np.array([0.7, -0.4, 0.2]), 0.3, 1e-6
    risk = lambda v: dist.probs @ adversarial_loss(dist.x, dist.y, v, eps, loss)
    numeric = np.array([(risk(w + h * e) - risk(w - h * e)) / (2 * h) for e in np.eye(3)])
    assert np.allclose(expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss), -numeric, atol=1e-7)


@settings(max_examples=examples(40), deadline=None)
@given(st.integers(2, 5), SEEDS, st.floats(0, 1), LOSSES)
def test_pruning_theorem_exact(d, seed, eps, loss):
    dist = random_discrete_distribution([1] * d, n_atoms=3, seed=seed)
    w = _weights(seed + 1, d)
    update = oriented_update(expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss), w)
    gbar = mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs)
    bound = pruning_bound(dist.strengths, w, eps, gbar)
    zero = w == 0
    assert np.allclose(update[zero], gbar * dist.strengths[zero], rtol=0, atol=1e-9)
    assert (update[~zero] <= bound[~zero] + 1e-9).all()
    weak = ~zero & (dist.strengths * np.sign(w) < eps)
    assert (update[weak] <= 1e-9).all()  # a weak (or misaligned) weight never expands on average


@settings(max_examples=examples(20), deadline=None)
@given(SEEDS, st.floats(0, 1), LOSSES)
def test_equality_in_the_limit(seed, eps, loss):
    dist = random_discrete_distribution([1] * 4, n_atoms=3, seed=seed)
    w = np.random.default_rng(seed).normal(size=4)
    sign, w[0] = np.sign(w[0]), 0.0
    at_zero = expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss)[0]
    g0 = mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs)
    w[0] = sign * 1e-8
    update = oriented_update(expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss), w)[0]
    bound = pruning_bound(dist.strengths, w, eps, mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs))[0]
    assert -1e-9 <= bound - update <= 1e-6
    # leaving zero, the oriented update jumps by eps * g' toward zero
    assert abs(update - (sign * at_zero - eps * g0)) <= 1e-6


@settings(max_examples=examples(30), deadline=None)
@given(st.lists(st.integers(1, 3), min_size=2, max_size=3), SEEDS, st.floats(0, 1), LOSSES)
def test_pruning_theorem_group_form(sizes, seed, eps, loss):
    dist = random_discrete_distribution(sizes, n_atoms=2, seed=seed)
    w = _weights(seed + 1, len(dist.strengths), 0.2)
    if seed % 3 == 0: w[dist.groups[0]] = 0.0
    update = expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss)
    gbar = mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs)
    for group in dist.groups:
        if (w[group] == 0).all():
            assert np.allclose(update[group], gbar * dist.strengths[group], rtol=0, atol=1e-9)
        else:
            assert weighted_average(update, w, group) <= group_pruning_bound(dist.strengths, w, eps, gbar, group) + 1e-9


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(2, 3), SEEDS, st.floats(0, 1), LOSSES)
def test_group_form_equality_in_the_limit(group_size, seed, eps, loss):
    "w_S = t u with t -> 0: the group bound is attained, and the group average tends to g'_0 (a_S^u - eps)."
    dist = random_discrete_distribution([group_size, 1, 2], n_atoms=3, seed=seed)
    rng = np.random.default_rng(seed + 1)
    group = dist.groups[0]
    w, u = rng.normal(size=len(dist.strengths)), rng.normal(size=group_size)
    w[group] = 0.0
    g0 = mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs)
    w[group] = 1e-8 * u
    update = expected_update_exact(dist.x, dist.y, dist.probs, w, eps, loss)
    gbar = mean_g_prime(dist.x, dist.y, w, eps, loss, probs=dist.probs)
    lhs = weighted_average(update, w, group)
    assert -1e-9 <= group_pruning_bound(dist.strengths, w, eps, gbar, group) - lhs <= 1e-6
    assert abs(lhs - g0 * (u @ dist.strengths[group] / np.abs(u).sum() - eps)) <= 1e-6


def test_group_form_gap_is_positive_away_from_the_limit():
    "The group bound is not an identity: at t = 1 some instances have a clear gap (the limit test is not vacuous)."
    gaps = []
    for seed in range(20):
        dist = random_discrete_distribution([3, 1], n_atoms=3, seed=seed)
        w = np.random.default_rng(seed).normal(size=4)
        update = expected_update_exact(dist.x, dist.y, dist.probs, w, 0.3, "logistic")
        gbar = mean_g_prime(dist.x, dist.y, w, 0.3, "logistic", probs=dist.probs)
        gaps.append(group_pruning_bound(dist.strengths, w, 0.3, gbar, [0, 1, 2]) - weighted_average(update, w, [0, 1, 2]))
    assert min(gaps) >= -1e-9 and max(gaps) > 1e-3


def test_natural_training_shrinks_an_aligned_weight_beyond_its_optimum():
    "eps = 0: the bound g' |a_i| is positive, yet an aligned weight at 3 x its optimum 2 a_i shrinks on average."
    mc = expected_update_mc([1.0, -0.8, 0.3], [2.0, -1.6, 1.8], 0.0, n=100_000, seed=3)
    assert mc.bound[2] > 0 and mc.update[2] < -0.02


# ---------------------------------------------------------------- the corollary at a computed optimum

def test_expected_adversarial_loss_and_one_sided_derivative_by_hand():
    # one atom x = (1, 0), y = +1, hinge; h(w) = max(0, 1 + eps ||w||_1 - w_1)
    x, y, p = np.array([[1.0, 0.0]]), np.array([1]), np.array([1.0])
    assert np.isclose(expected_adversarial_loss(x, y, p, [0.5, 0.0], 0.2, "hinge"), 0.6)
    # at w = (1, 0), eps = 0: h = max(0, 1 - w_1) sits on the kink; right derivatives 0 along +e_1, 1 along -e_1
    assert np.isclose(one_sided_derivative(x, y, p, [1.0, 0.0], 0.0, [1.0, 0.0], "hinge"), 0.0)
    assert np.isclose(one_sided_derivative(x, y, p, [1.0, 0.0], 0.0, [-1.0, 0.0], "hinge"), 1.0)
    # along e_2 from w_2 = 0 with eps = 0.25 (margin term 0.25 > -1): eps on both sides
    for s in (1.0, -1.0):
        assert np.isclose(one_sided_derivative(x, y, p, [0.5, 0.0], 0.25, [0.0, s], "hinge"), 0.25)


@settings(max_examples=examples(15), deadline=None)
@given(SEEDS, st.floats(0.2, 1.0))
def test_hinge_optimum_is_optimal(seed, eps):
    "The LP solution is a minimizer: no random point and no coordinate step does better."
    dist = random_discrete_distribution([1] * 3, n_atoms=3, seed=seed)
    w_opt = hinge_adversarial_optimum(dist.x, dist.y, dist.probs, eps)
    best = expected_adversarial_loss(dist.x, dist.y, dist.probs, w_opt, eps, "hinge")
    rng = np.random.default_rng(seed)
    for w in np.concatenate([rng.normal(scale=2, size=(200, 3)), w_opt + rng.normal(scale=1e-3, size=(200, 3))]):
        assert expected_adversarial_loss(dist.x, dist.y, dist.probs, w, eps, "hinge") >= best - 1e-9
    for d in np.concatenate([np.eye(3), -np.eye(3)]):
        assert one_sided_derivative(dist.x, dist.y, dist.probs, w_opt, eps, d, "hinge") >= -1e-6


@settings(max_examples=examples(25), deadline=None)
@given(SEEDS, st.floats(0.2, 1.0))
def test_corollary_weak_weights_are_zero_at_the_hinge_optimum(seed, eps):
    "At the LP optimum of the adversarial hinge loss: w*_i = 0 and both one-sided derivatives >= (eps - |a_i|) E[g'_-]."
    dist = random_discrete_distribution([1] * 4, n_atoms=3, seed=seed)
    w_opt = hinge_adversarial_optimum(dist.x, dist.y, dist.probs, eps)
    slope = mean_g_prime(dist.x, dist.y, w_opt, eps, "hinge", probs=dist.probs)
    for i in np.flatnonzero(np.abs(dist.strengths) < eps):
        assert abs(w_opt[i]) <= 1e-8
        for s in (1.0, -1.0):
            d = np.zeros(4)
            d[i] = s
            deriv = one_sided_derivative(dist.x, dist.y, dist.probs, w_opt, eps, d, "hinge")
            assert deriv >= (eps - abs(dist.strengths[i])) * slope - 1e-6 and deriv >= -1e-6


def test_corollary_optimum_has_atoms_on_the_kink():
    "The case the corollary's proof must handle: hinge optima with an atom exactly at the kink (no derivative)."
    kinks = 0
    for seed in range(10):
        dist = random_discrete_distribution([1] * 4, n_atoms=3, seed=seed)
        w_opt = hinge_adversarial_optimum(dist.x, dist.y, dist.probs, 0.5)
        kinks += (np.abs(0.5 * np.abs(w_opt).sum() - dist.y * (dist.x @ w_opt) + 1) < 1e-7).any()
    assert kinks > 0


def test_random_discrete_distribution_satisfies_feat_exp():
    dist = random_discrete_distribution([2, 1, 3], n_atoms=3, seed=5)
    assert np.isclose(dist.probs.sum(), 1) and dist.x.shape == (2 * 27, 6)
    for label in (1, -1):
        sel = dist.y == label
        cond_mean = dist.probs[sel] @ dist.x[sel] / dist.probs[sel].sum()
        assert np.allclose(cond_mean, label * dist.strengths, atol=1e-12)


def test_natural_training_shrinks_misaligned_and_adversarial_shrinks_more():
    dist = random_discrete_distribution([1] * 3, n_atoms=3, seed=2)
    a = dist.strengths
    w = np.array([-np.sign(a[0]) * 0.3, 0.5, 0.5])  # first weight misaligned
    natural = oriented_update(expected_update_exact(dist.x, dist.y, dist.probs, w, 0.0, "logistic"), w)[0]
    assert natural < 0
    adversarial = oriented_update(expected_update_exact(dist.x, dist.y, dist.probs, w, 0.3, "logistic"), w)[0]
    assert adversarial < natural


def test_weighted_average_and_bounds_by_hand():
    assert weighted_average([1.0, 2.0, 3.0], [1.0, -1.0, 0.0], [0, 1, 2]) == pytest.approx(-0.5)
    assert weighted_average([1.0, 2.0, 3.0], [0.0, 0.0, -2.0], [2]) == pytest.approx(-3.0)
    assert np.allclose(pruning_bound([0.5, 0.2, -0.1], [0.0, -1.0, 2.0], 0.3, 2.0), [1.0, -1.0, -0.8])
    assert group_pruning_bound([0.5, 0.2], [1.0, 1.0], 0.3, 2.0, [0, 1]) == pytest.approx(0.1)
    assert np.allclose(oriented_update([1.0, 2.0, -3.0], [0.0, -1.0, -2.0]), [1.0, -2.0, 3.0])


# ---------------------------------------------------------------- Monte Carlo

@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_monte_carlo_bound(loss):
    a, w = np.array([0.8, -0.3, 0.1, 0.05, 0.0]), np.array([0.4, 0.0, -0.3, 0.2, 0.5])
    mc = expected_update_mc(a, w, 0.25, loss, n=40_000, seed=3)
    zero = w == 0
    assert (np.abs(mc.gap[zero]) <= 4 * mc.gap_se[zero]).all()
    assert (mc.gap[~zero] <= 4 * mc.gap_se[~zero]).all()
    assert np.allclose(mc.update - mc.bound, mc.gap, atol=1e-10)
    assert (mc.update[2:] < 0).all()  # weak features shrink


# ---------------------------------------------------------------- training

def test_train_one_layer_step_is_lemma_3_step():
    from advex_lit.linear import adversarial_loss_gradient
    x, y = feat_indep_dataset(48, [0.8, -0.3, 0.1], seed=0)
    w0 = np.array([0.5, 0.2, -0.3])
    for loss in LOSS_NAMES:
        w1, traj = train_one_layer(x, y, 0.2, loss, lr=0.1, epochs=1, batch_size=48, initial_weights=w0)
        expected = w0 - 0.1 * adversarial_loss_gradient(x.astype(np.float64), y, w0, 0.2, loss).mean(axis=0)
        assert traj.shape == (2, 3) and np.allclose(traj[0], w0)
        assert np.allclose(w1, expected, atol=1e-5)


def test_adversarial_training_prunes_a_weak_feature():
    strengths = [1.0, 0.1, -0.1]
    x, y = feat_indep_dataset(2000, strengths, seed=0)
    init = [0.0, 0.4, 0.4]  # one weak weight aligned, one misaligned
    _, natural = train_one_layer(x, y, 0.0, lr=0.05, epochs=4, batch_size=32, initial_weights=init)
    _, adversarial = train_one_layer(x, y, 0.3, lr=0.05, epochs=4, batch_size=32, initial_weights=init)
    late_nat, late_adv = np.abs(natural[-60:]).mean(axis=0), np.abs(adversarial[-60:]).mean(axis=0)
    assert (late_adv[1:] < 0.05).all() and (late_adv[1:] < late_nat[1:] / 2).all()
    assert late_adv[0] > 0.5


def test_train_one_layer_is_seeded():
    x, y = feat_indep_dataset(100, [0.5, 0.1], seed=1)
    _, t1 = train_one_layer(x, y, 0.1, epochs=1, batch_size=10, seed=4)
    _, t2 = train_one_layer(x, y, 0.1, epochs=1, batch_size=10, seed=4)
    assert np.array_equal(t1, t2)


# ---------------------------------------------------------------- bad inputs

def test_bad_inputs():
    dist = random_discrete_distribution([1, 1], n_atoms=2, seed=0)
    w = np.array([0.1, 0.2])
    with pytest.raises(ValueError, match="eps"):
        expected_update_exact(dist.x, dist.y, dist.probs, w, -0.1, "logistic")
    with pytest.raises(ValueError, match="`w`"):
        expected_update_exact(dist.x, dist.y, dist.probs, np.ones(3), 0.1, "logistic")
    with pytest.raises(ValueError, match="probs"):
        expected_update_exact(dist.x, dist.y, dist.probs * 2, w, 0.1, "logistic")
    with pytest.raises(ValueError, match="support_y"):
        expected_update_exact(dist.x, np.zeros_like(dist.y), dist.probs, w, 0.1, "logistic")
    with pytest.raises(ValueError, match="loss"):
        expected_update_exact(dist.x, dist.y, dist.probs, w, 0.1, "squared")
    with pytest.raises(ValueError, match="non-zero weight"):
        weighted_average([1.0, 2.0], [0.0, 0.0], [0, 1])
    with pytest.raises(ValueError, match="group"):
        weighted_average([1.0, 2.0], [1.0, 0.0], [2])
    with pytest.raises(ValueError, match="g_prime"):
        pruning_bound([0.1, 0.2], w, 0.1, -1.0)
    with pytest.raises(ValueError, match="group_sizes"):
        random_discrete_distribution([0, 1])
    with pytest.raises(ValueError, match="z"):
        covariance_gap([0.5, 0.5], [1.0, 2.0], [1.0])
    x, y = feat_indep_dataset(10, [0.5, 0.1], seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        train_one_layer(x, y, 0.1, batch_size=0)
    with pytest.raises(ValueError, match="`y`"):
        train_one_layer(x, (y + 1) // 2, 0.1)
    with pytest.raises(ValueError, match="optimizer"):
        train_one_layer(x, y, 0.1, optimizer="ftrl")
    with pytest.raises(ValueError, match="eps"):
        expected_update_mc([0.5, 0.1], [0.1, 0.1], float("nan"))
    with pytest.raises(ValueError, match="`direction`"):
        one_sided_derivative(dist.x, dist.y, dist.probs, w, 0.1, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="`step`"):
        one_sided_derivative(dist.x, dist.y, dist.probs, w, 0.1, [1.0, 0.0], step=0.0)
    with pytest.raises(ValueError, match="`eps`"):
        hinge_adversarial_optimum(dist.x, dist.y, dist.probs, -1.0)
    with pytest.raises(ValueError, match="`probs`"):
        expected_adversarial_loss(dist.x, dist.y, dist.probs[:-1], w, 0.1)
