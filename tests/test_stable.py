"""Stable-IG loss = adversarial loss for one-layer models (closed form, numerical search through Keras), the weak
instances of the robust attribution objective, the transport duality, and the errors."""
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit.attribution import integrated_gradients, layer_integrated_gradients
from advex_lit.backend import input_gradient, to_numpy
from advex_lit.linear import adversarial_loss, adversarial_loss_gradient, box_vertices, linear_model
from advex_lit.losses import LOSS_NAMES, get_loss, margin_loss
from advex_lit.stable import (dual_coupling_value, ig_of_loss, one_layer_loss_ig, penalized_coupling_value,
                              robust_coupling_value, stable_ig_loss, stable_ig_loss_numerical, stable_ig_maximizer,
                              stable_ig_regularizer, stable_ig_search)


def instance(seed, n, d):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.choice([-1, 1], size=n)
    w = rng.normal(size=d) * rng.uniform(0.3, 2.0)
    return x, y, w, float(rng.uniform(0.05, 1.0))


def quadrature_tolerance(closed, w, eps, loss, ig_steps=128):
    "float32 trapezoid IG: 1e-4 relative, plus half a step's share of the jump of g' for the hinge's kink."
    kink = eps * np.abs(w).sum() / (2 * ig_steps) if loss == "hinge" else 0.0
    return 1e-4 * np.abs(closed) + 1e-6 + kink


seeds = st.integers(0, 2**31 - 1)


# ---------------------------------------------------------------- the theorem
@settings(max_examples=examples(25), deadline=None)
@given(seed=seeds, loss=st.sampled_from(LOSS_NAMES), d=st.integers(1, 6))
def test_closed_form_is_adversarial_loss(seed, loss, d):
    x, y, w, eps = instance(seed, 5, d)
    closed = stable_ig_loss(x, y, w, eps, loss)
    assert np.allclose(closed, adversarial_loss(x, y, w, eps, loss), rtol=1e-12, atol=0)
    # the regularizer is the loss increase at the adversarial example, and it is zero for eps = 0
    assert np.allclose(stable_ig_regularizer(x, y, w, eps, loss),
                       margin_loss(stable_ig_maximizer(x, y, w, eps), y, w, loss) - margin_loss(x, y, w, loss))
    assert np.allclose(stable_ig_loss(x, y, w, 0.0, loss), margin_loss(x, y, w, loss))


@settings(max_examples=examples(6), deadline=None)
@given(seed=seeds, loss=st.sampled_from(LOSS_NAMES), d=st.integers(1, 4))
def test_corner_search_through_keras_matches(seed, loss, d):
    x, y, w, eps = instance(seed, 4, d)
    closed = stable_ig_loss(x, y, w, eps, loss)
    numerical = stable_ig_loss_numerical(x, y, w, eps, loss, method="vertex")
    assert np.all(np.abs(numerical - closed) <= quadrature_tolerance(closed, w, eps, loss))


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_ascent_reaches_but_never_exceeds(loss):
    x, y, w, eps = instance(11, 5, 2)
    closed = stable_ig_loss(x, y, w, eps, loss)
    ascent = stable_ig_loss_numerical(x, y, w, eps, loss, method="ascent", restarts=64, steps=30, seed=1)
    tolerance = quadrature_tolerance(closed, w, eps, loss)
    assert np.all(ascent >= closed - 1e-3 - tolerance)
    assert np.all(ascent <= closed + tolerance)
    # random points of the box never beat the maximizer
    rng = np.random.default_rng(0)
    x_prime = np.repeat(x, 50, 0) + rng.uniform(-eps, eps, size=(250, 2))
    norms = np.abs(one_layer_loss_ig(np.repeat(x, 50, 0), x_prime, np.repeat(y, 50), w, loss)).sum(1).reshape(5, 50)
    assert np.all(norms.max(1) <= stable_ig_regularizer(x, y, w, eps, loss) + 1e-12)


def test_search_returns_the_adversarial_corner():
    x, y, w, eps = instance(3, 4, 3)
    _, points = stable_ig_search(x, y, w, eps, "logistic", method="vertex")
    assert np.allclose(points, stable_ig_maximizer(x, y, w, eps))


@settings(max_examples=examples(15), deadline=None)
@given(seed=seeds, loss=st.sampled_from(LOSS_NAMES), d=st.integers(1, 5))
def test_gradient_in_w_matches_adversarial_loss(seed, loss, d):
    x, y, w, eps = instance(seed, 4, d)
    w = np.where(np.abs(w) < 0.05, 0.05, w)  # keep away from sgn(w) flips
    h = 1e-6
    steps = np.eye(d) * h
    grad = np.stack([(stable_ig_loss(x, y, w + e, eps, loss) - stable_ig_loss(x, y, w - e, eps, loss)) / (2 * h)
                     for e in steps], axis=1)
    z = eps * np.abs(w).sum() - y * (x @ w)
    near_kink = np.abs(z + 1) < 1e-3 if loss == "hinge" else np.zeros(len(z), bool)
    expected = adversarial_loss_gradient(x, y, w, eps, loss)
    assert np.allclose(grad[~near_kink], expected[~near_kink], atol=1e-5)


# ---------------------------------------------------------------- Propositions 1 and 2
def small_network():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Dense(1)(keras.layers.Dense(6, activation="tanh")(inputs))
    return keras.Model(inputs, outputs)


@settings(max_examples=examples(5), deadline=None)
@given(seed=seeds)
def test_sum_of_ig_gives_madry_objective(seed):
    model, g = small_network(), get_loss("logistic").g
    rng = np.random.default_rng(seed)
    x, y, eps = rng.normal(size=(3, 3)), np.array([1, -1, 1]), 0.3
    k = 20
    x_base, y_rep = np.repeat(x, k, 0), np.repeat(y, k)
    x_cand = x_base + rng.uniform(-eps, eps, size=x_base.shape)
    loss = lambda u: g(-y_rep * to_numpy(model(u.astype("float32")))[:, 0])
    ig = ig_of_loss(model, x_base, x_cand, y_rep, "logistic", steps=128)
    change = loss(x_cand) - loss(x_base)
    assert np.allclose(ig.sum(1), change, atol=1e-4)
    natural = loss(x_base).reshape(3, k)[:, 0]
    assert np.allclose(natural + ig.sum(1).reshape(3, k).max(1), loss(x_cand).reshape(3, k).max(1), atol=1e-4)
    assert np.all(natural + np.abs(ig).sum(1).reshape(3, k).max(1) >= loss(x_cand).reshape(3, k).max(1) - 1e-4)


@settings(max_examples=examples(5), deadline=None)
@given(seed=seeds, p=st.sampled_from([np.inf, 2.0, 4.0]))
def test_one_step_ig_gives_gradient_regularization(seed, p):
    model, g = small_network(), get_loss("logistic").g
    rng = np.random.default_rng(seed)
    x, eps = rng.normal(size=(1, 3)).astype("float32"), 0.2
    grad = to_numpy(input_gradient(lambda u: g(-model(u)[:, 0]), keras.ops.convert_to_tensor(x)))[0]
    q = 1.0 if p == np.inf else p / (p - 1)
    directions = rng.normal(size=(200, 3))
    directions /= np.linalg.norm(directions, p, axis=1, keepdims=True)
    holder = np.sign(grad) * np.abs(grad) ** (q - 1) / np.linalg.norm(grad, q) ** (q - 1) if p != np.inf else np.sign(grad)
    moves = eps * np.vstack([holder, directions])
    ig = ig_of_loss(model, np.repeat(x, len(moves), 0), x + moves, np.ones(len(moves)), "logistic",
                    steps=1, method="riemann_left")
    assert np.allclose(ig, moves * grad, atol=1e-6)
    size = np.abs(ig).sum(1) ** q
    target = eps ** q * np.linalg.norm(grad, q) ** q
    assert np.isclose(size[0], target, rtol=1e-4) and size.max() <= target * (1 + 1e-4)


def test_ig_of_loss_matches_one_layer_closed_form():
    x, y, w, eps = instance(5, 6, 4)
    x_prime = x + np.random.default_rng(1).uniform(-eps, eps, size=x.shape)
    for loss in ("logistic", "softplus_hinge"):
        assert np.allclose(ig_of_loss(linear_model(w), x, x_prime, y, loss, steps=256),
                           one_layer_loss_ig(x, x_prime, y, w, loss), atol=2e-5)


# ---------------------------------------------------------------- distributional robustness on a discrete P
@settings(max_examples=examples(25), deadline=None)
@given(seed=seeds, rho=st.floats(0.01, 2.0))
def test_transport_duality(seed, rho):
    rng = np.random.default_rng(seed)
    n, m = 4, 7
    p = rng.dirichlet(np.ones(n))
    cost = np.hstack([np.zeros((n, 1)), rng.uniform(0.1, 2.0, size=(n, m - 1))])  # the zero move is available
    gain = np.hstack([np.zeros((n, 1)), rng.uniform(-1, 3, size=(n, m - 1))])
    primal, plan = robust_coupling_value(p, gain, cost, rho)
    assert np.allclose(plan.sum(1), p, atol=1e-9) and (plan * cost).sum() <= rho + 1e-9
    dual, zeta = dual_coupling_value(p, gain, cost, rho)
    assert abs(primal - dual) < 1e-7 and zeta >= 0
    assert abs(dual - (zeta * rho + penalized_coupling_value(p, gain, cost, zeta))) < 1e-7
    # weak duality at any other multiplier
    for other in (0.0, 0.5 * zeta + 0.1, 2 * zeta + 1):
        assert primal <= other * rho + penalized_coupling_value(p, gain, cost, other) + 1e-9
    # the budget-free problem decouples: value = sum_k p_k max_j (gain - gamma cost)
    gamma = float(rng.uniform(0, 3))
    assert penalized_coupling_value(p, gain, cost, gamma) >= 0
    big, _ = robust_coupling_value(p, gain - gamma * cost, cost, 1e6)
    assert abs(big - penalized_coupling_value(p, gain, cost, gamma)) < 1e-7


# ---------------------------------------------------------------- errors
X, Y, W = np.zeros((2, 3)), np.array([1, -1]), np.ones(3)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(eps=-0.1), "`eps`"), (dict(eps=np.nan), "`eps`"), (dict(eps=[0.1, 0.2]), "`eps`"),
    (dict(w=np.ones(2)), "`w`"), (dict(x=np.zeros(3)), "`x`"), (dict(y=np.array([1, 0])), "`y`"),
    (dict(y=np.array([1, -1, 1])), "`y`"), (dict(x=np.full((2, 3), np.inf)), "`x`"),
    (dict(w=np.array([1.0, np.nan, 0.0])), "`w`"), (dict(loss="square"), "`loss`")])
def test_bad_inputs(kwargs, argument):
    args = dict(x=X, y=Y, w=W, eps=0.1, loss="logistic") | kwargs
    for fn in (stable_ig_loss, stable_ig_loss_numerical, stable_ig_regularizer):
        with pytest.raises(ValueError, match=argument):
            fn(**args)


def test_bad_search_arguments():
    with pytest.raises(ValueError, match="`method`"):
        stable_ig_search(X, Y, W, 0.1, method="grid")
    with pytest.raises(ValueError, match="`restarts`"):
        stable_ig_search(X, Y, W, 0.1, method="ascent", restarts=0)
    with pytest.raises(ValueError, match="`ig_steps`"):
        stable_ig_search(X, Y, W, 0.1, ig_steps=0)
    with pytest.raises(ValueError, match="`x`"):
        stable_ig_search(np.zeros((1, 13)), [1], np.ones(13), 0.1, method="vertex")
    with pytest.raises(ValueError, match="`x_prime`"):
        one_layer_loss_ig(X, np.zeros((2, 2)), Y, W)
    with pytest.raises(ValueError, match="`x_prime`"):
        ig_of_loss(linear_model(W), X, np.full((2, 3), np.nan), Y)


def test_bad_transport_arguments():
    p, table = np.array([0.5, 0.5]), np.zeros((2, 3))
    with pytest.raises(ValueError, match="`p`"):
        robust_coupling_value(np.array([0.5, 0.6]), table, table, 0.1)
    with pytest.raises(ValueError, match="`cost`"):
        robust_coupling_value(p, table, -np.ones((2, 3)), 0.1)
    with pytest.raises(ValueError, match="`gain`"):
        dual_coupling_value(p, np.zeros((3, 3)), table, 0.1)
    with pytest.raises(ValueError, match="`rho`"):
        robust_coupling_value(p, table, table, -1.0)
    with pytest.raises(ValueError, match="`gamma`"):
        penalized_coupling_value(p, table, table, -1.0)


# ---------------------------------------------------------------- the chord-slope lemma behind the theorem
@settings(max_examples=examples(30), deadline=None)
@given(seed=seeds, loss=st.sampled_from(LOSS_NAMES))
def test_chord_slopes_are_nonnegative_and_nondecreasing(seed, loss):
    rng = np.random.default_rng(seed)
    g = get_loss(loss).g
    z = float(rng.uniform(-4, 4))
    deltas = np.sort(np.r_[rng.uniform(-5, 5, size=60), -1e-3, 1e-3])
    deltas = deltas[np.abs(deltas) > 1e-9]
    slopes = (np.asarray(g(z + deltas), np.float64) - float(g(z))) / deltas
    assert np.all(slopes >= -1e-9)
    assert np.all(np.diff(slopes) >= -1e-7)


# ---------------------------------------------------------------- Propositions 1-3 for every loss
@pytest.mark.parametrize("loss", ["logistic", "softplus_hinge"])
def test_sum_of_ig_gives_madry_objective_smooth_losses(loss):
    "Proposition 1 for the smooth losses (the hinge's kink makes the trapezoid sum, not the identity, inexact)."
    model, g = small_network(), get_loss(loss).g
    rng = np.random.default_rng(4)
    x, y, eps, k = rng.normal(size=(3, 3)), np.array([1, -1, 1]), 0.3, 20
    x_base, y_rep = np.repeat(x, k, 0), np.repeat(y, k)
    x_cand = x_base + rng.uniform(-eps, eps, size=x_base.shape)
    loss_at = lambda u: np.asarray(g(-y_rep * to_numpy(model(u.astype("float32")))[:, 0]), np.float64)
    ig = ig_of_loss(model, x_base, x_cand, y_rep, loss, steps=128)
    assert np.allclose(ig.sum(1), loss_at(x_cand) - loss_at(x_base), atol=1e-4)
    natural = loss_at(x_base).reshape(3, k)[:, 0]
    assert np.allclose(natural + ig.sum(1).reshape(3, k).max(1), loss_at(x_cand).reshape(3, k).max(1), atol=1e-4)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_one_step_ig_is_gradient_times_move_for_every_loss(loss):
    "Proposition 2: one left Riemann step gives (x' - x) * grad, whose l1 size is maximized by the Hoelder move."
    model, g = small_network(), get_loss(loss).g
    rng = np.random.default_rng(2)
    x, eps = rng.normal(size=(1, 3)).astype("float32"), 0.2
    grad = to_numpy(input_gradient(lambda u: g(-model(u)[:, 0]), keras.ops.convert_to_tensor(x)))[0]
    moves = eps * np.vstack([np.sign(grad), rng.uniform(-1, 1, size=(100, 3))])
    ig = ig_of_loss(model, np.repeat(x, len(moves), 0), x + moves, np.ones(len(moves)), loss,
                    steps=1, method="riemann_left")
    assert np.allclose(ig, moves * grad, atol=1e-6)
    size = np.abs(ig).sum(1)
    assert np.isclose(size[0], eps * np.abs(grad).sum(), rtol=1e-5) and size.max() <= size[0] * (1 + 1e-5) + 1e-9


@settings(max_examples=examples(20), deadline=None)
@given(seed=seeds, loss=st.sampled_from(LOSS_NAMES), d=st.integers(1, 5))
def test_loss_output_surrogate_is_exact_for_one_layer(seed, loss, d):
    "Proposition 3, one-layer case: loss + largest |loss change| over the box = the adversarial loss."
    x, y, w, eps = instance(seed, 4, d)
    corners = box_vertices(d, eps)
    x_base, x_cand = np.repeat(x, len(corners), 0), (x[:, None] + corners[None]).reshape(-1, d)
    y_rep = np.repeat(y, len(corners))
    change = margin_loss(x_cand, y_rep, w, loss) - margin_loss(x_base, y_rep, w, loss)
    surrogate = margin_loss(x, y, w, loss) + np.abs(change).reshape(len(x), -1).max(1)
    assert np.allclose(surrogate, adversarial_loss(x, y, w, eps, loss), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["logistic", "softplus_hinge"])
def test_loss_output_surrogate_bounds_the_adversarial_loss(loss):
    "Proposition 3 on a network: IG to the one-unit loss layer is the loss change, and the surrogate is an upper bound."
    base, g = small_network(), get_loss(loss).g
    def loss_model(label):
        inputs = keras.Input(shape=(3,))
        unit = keras.layers.Lambda(lambda t: g(-float(label) * t), name="loss")(base(inputs))
        return keras.Model(inputs, keras.layers.Identity()(unit))
    rng = np.random.default_rng(6)
    x, y, eps, k = rng.normal(size=(4, 3)).astype("float32"), np.array([1, -1, 1, -1]), 0.3, 24
    x_base, y_rep = np.repeat(x, k, 0), np.repeat(y, k)
    x_cand = (x_base + rng.uniform(-eps, eps, size=x_base.shape)).astype("float32")
    loss_at = lambda u, labels: np.asarray(g(-labels * to_numpy(base(u))[:, 0]), np.float64)
    change = loss_at(x_cand, y_rep) - loss_at(x_base, y_rep)
    unit_ig = np.zeros(len(x_base))
    for label in (-1, 1):
        r = y_rep == label
        unit_ig[r] = layer_integrated_gradients(loss_model(label), "loss", x_cand[r], baseline=x_base[r],
                                                steps=128).reshape(-1)
    assert np.allclose(unit_ig, change, atol=1e-4)
    surrogate = loss_at(x, y) + np.abs(unit_ig).reshape(4, k).max(1)
    assert np.all(surrogate >= loss_at(x_cand, y_rep).reshape(4, k).max(1) - 1e-4)


# ---------------------------------------------------------------- Proposition 4 and Theorem 2 on discrete distributions
def discrete_problem(seed, loss, w):
    "Six atoms in the plane, 25 moves each (the zero move first), l_inf cost; exact one-layer IG tables."
    rng = np.random.default_rng(seed)
    atoms_x, atoms_y = rng.normal(size=(6, 2)), np.array([1, 1, 1, -1, -1, -1])
    p = rng.dirichlet(np.ones(6))
    grid = np.linspace(-0.5, 0.5, 5)
    moves = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    moves = moves[np.argsort(np.abs(moves).max(1), kind="stable")]
    cost = np.tile(np.abs(moves).max(1), (6, 1))
    x_from, x_to = np.repeat(atoms_x, len(moves), 0), (atoms_x[:, None] + moves[None]).reshape(-1, 2)
    y_rep = np.repeat(atoms_y, len(moves))
    ig = one_layer_loss_ig(x_from, x_to, y_rep, w, loss)
    after = margin_loss(x_to, y_rep, w, loss).reshape(6, -1)
    natural = p @ margin_loss(atoms_x, atoms_y, w, loss)
    return p, cost, np.abs(ig).sum(1).reshape(6, -1), ig.sum(1).reshape(6, -1), after, natural


@settings(max_examples=examples(15), deadline=None)
@given(seed=seeds, loss=st.sampled_from(LOSS_NAMES), rho=st.floats(0.01, 0.6))
def test_sum_version_is_wasserstein_robust_prediction(seed, loss, rho):
    "Proposition 4: natural risk + the constrained value with summed IG = the best risk within the transport budget."
    w = np.random.default_rng(seed).normal(size=2) * 1.5
    p, cost, d_l1, d_sum, after, natural = discrete_problem(seed, loss, w)
    value_sum, _ = robust_coupling_value(p, d_sum, cost, rho)
    value_loss, _ = robust_coupling_value(p, after, cost, rho)
    assert abs(natural + value_sum - value_loss) < 1e-7
    value_l1, _ = robust_coupling_value(p, d_l1, cost, rho)
    assert value_l1 >= value_sum - 1e-9  # the l1 size is never below the sum


def test_sum_version_through_keras_model():
    "Proposition 4 with the IG computed numerically through the Keras model (float32, 64 steps)."
    w = np.array([1.2, -0.8])
    p, cost, _, d_sum, after, natural = discrete_problem(7, "logistic", w)
    rng = np.random.default_rng(7)
    atoms_x, atoms_y = rng.normal(size=(6, 2)), np.array([1, 1, 1, -1, -1, -1])
    grid = np.linspace(-0.5, 0.5, 5)
    moves = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    moves = moves[np.argsort(np.abs(moves).max(1), kind="stable")]
    ig = ig_of_loss(linear_model(w), np.repeat(atoms_x, len(moves), 0), (atoms_x[:, None] + moves[None]).reshape(-1, 2),
                    np.repeat(atoms_y, len(moves)), "logistic", steps=64)
    assert np.allclose(ig.sum(1).reshape(6, -1), d_sum, atol=1e-5)
    value_sum, _ = robust_coupling_value(p, ig.sum(1).reshape(6, -1), cost, 0.25)
    value_loss, _ = robust_coupling_value(p, after, cost, 0.25)
    assert abs(natural + value_sum - value_loss) < 1e-4


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("rho", [0.05, 0.2])
def test_lagrange_multiplier_makes_the_objectives_agree(loss, rho):
    "Theorem 2: the constrained minimizer minimizes the penalized objective at its multiplier, and conversely."
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    thetas = np.stack([np.cos(angles), np.sin(angles)], 1) * 1.5
    problems = [discrete_problem(3, loss, theta) for theta in thetas]
    constrained = np.array([pr[5] + robust_coupling_value(pr[0], pr[2], pr[1], rho)[0] for pr in problems])
    best = int(constrained.argmin())
    p, cost, d_l1 = problems[best][:3]
    _, gamma = dual_coupling_value(p, d_l1, cost, rho)
    penalized = np.array([pr[5] + penalized_coupling_value(pr[0], pr[2], pr[1], gamma) for pr in problems])
    assert penalized[best] <= penalized.min() + 1e-8
    minimizers = np.flatnonzero(penalized <= penalized.min() + 1e-9)
    assert np.all(constrained[minimizers] <= constrained.min() + 1e-7)
    # at the optimum the constrained value is the penalized value plus the price of the budget
    assert abs(constrained[best] - (penalized[best] + gamma * rho)) < 1e-6
