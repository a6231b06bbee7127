"Property tests for advex_lit.linear: Lemma 2 (worst-case perturbation) and Lemma 3 (its gradient) against brute force."
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit.backend import input_gradient, to_numpy
from advex_lit.linear import (adversarial_loss, adversarial_loss_gradient, adversarial_perturbation, box_vertices,
                              linear_model, pgd_adversarial_loss, vertex_adversarial_loss)
from advex_lit.losses import LOSS_NAMES, MarginLoss, get_loss, margin_loss

loss_names = st.sampled_from(LOSS_NAMES)
epsilons = st.one_of(st.just(0.0), st.floats(1e-3, 3.0))


@st.composite
def problems(draw, max_n=10, max_d=8, min_abs_w=0.0, zeros=True):
    n, d = draw(st.integers(1, max_n)), draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.normal(scale=draw(st.sampled_from([0.3, 1.0, 4.0])), size=(n, d))
    y = rng.choice([-1, 1], size=n)
    w = rng.choice([-1, 1], size=d) * rng.uniform(min_abs_w, 2.0, size=d)
    if zeros: w = w * (rng.random(d) > 0.25)
    return x, y, w


def reference_adversarial_loss(name, x, y, w, eps):
    "Independent NumPy version of g(eps ||w||_1 - y <w, x>)."
    z = eps * np.abs(w).sum() - y * (x @ w)
    return {"logistic": np.logaddexp(0, z), "hinge": np.maximum(0, 1 + z), "softplus_hinge": np.logaddexp(0, 1 + z)}[name]


@settings(max_examples=examples(60), deadline=None)
@given(name=loss_names, problem=problems(max_d=10), eps=epsilons)
def test_closed_form_equals_vertex_maximum(name, problem, eps):
    x, y, w = problem
    closed = adversarial_loss(x, y, w, eps, name)
    assert np.allclose(closed, vertex_adversarial_loss(x, y, w, eps, name), rtol=0, atol=1e-6)
    assert np.allclose(closed, reference_adversarial_loss(name, x, y, w, eps), rtol=1e-12, atol=1e-12)


@settings(max_examples=examples(60), deadline=None)
@given(name=loss_names, problem=problems(max_d=10), eps=epsilons)
def test_perturbation_attains_the_maximum_and_lies_in_the_box(name, problem, eps):
    x, y, w = problem
    delta = adversarial_perturbation(w, y, eps)
    assert delta.shape == x.shape
    assert np.abs(delta).max(initial=0) <= eps
    assert np.array_equal(delta, -y[:, None] * np.sign(w) * eps)
    assert np.allclose(margin_loss(x + delta, y, w, name), adversarial_loss(x, y, w, eps, name), atol=1e-12)
    # and no random point of the box does better
    rng = np.random.default_rng(0)
    for _ in range(5):
        other = rng.uniform(-eps, eps, size=x.shape)
        assert (margin_loss(x + other, y, w, name) <= adversarial_loss(x, y, w, eps, name) + 1e-12).all()


def test_perturbation_with_scalar_label_and_zero_weight():
    delta = adversarial_perturbation(np.array([2.0, 0.0, -1.0]), -1, 0.5)
    assert delta.shape == (1, 3)
    assert np.array_equal(delta, [[0.5, 0.0, -0.5]])
    assert not np.signbit(delta[0, 1])  # a zero weight gives +0.0, not -0.0


@settings(max_examples=examples(12), deadline=None)
@given(name=loss_names, problem=problems(max_n=8, max_d=12), eps=st.floats(0.01, 1.0), seed=st.integers(0, 100))
def test_pgd_never_exceeds_and_gets_close(name, problem, eps, seed):
    x, y, w = problem
    closed = adversarial_loss(x, y, w, eps, name)
    found = pgd_adversarial_loss(x, y, w, eps, name, steps=30, restarts=2, seed=seed)
    assert found.shape == closed.shape
    assert (found <= closed + 1e-6).all()
    assert (found >= closed - 1e-3).all()


def test_pgd_is_seeded_and_weak_with_tiny_steps():
    rng = np.random.default_rng(5)
    x, y, w = rng.normal(size=(6, 5)), rng.choice([-1, 1], 6), rng.normal(size=5)
    a = pgd_adversarial_loss(x, y, w, 0.5, steps=3, step_size=0.01, restarts=1, seed=1)
    b = pgd_adversarial_loss(x, y, w, 0.5, steps=3, step_size=0.01, restarts=1, seed=1)
    assert np.array_equal(a, b)
    # three tiny steps cannot reach the corner: PGD must then be strictly below the closed form (it is a real search)
    assert (a < adversarial_loss(x, y, w, 0.5) - 1e-3).all()


def test_linear_model_is_the_dot_product():
    w = np.array([0.5, -2.0, 1.0])
    x = np.random.default_rng(0).normal(size=(4, 3))
    model = linear_model(w)
    assert np.allclose(to_numpy(model(keras.ops.convert_to_tensor(x)))[:, 0], x @ w, atol=1e-12)


@settings(max_examples=examples(40), deadline=None)
@given(name=loss_names, problem=problems(min_abs_w=0.05, zeros=False), eps=epsilons)
def test_gradient_matches_finite_differences(name, problem, eps):
    x, y, w = problem
    h = 1e-6
    gradient = adversarial_loss_gradient(x, y, w, eps, name)
    assert gradient.shape == x.shape
    numeric = np.stack([(adversarial_loss(x, y, w + h * e, eps, name) - adversarial_loss(x, y, w - h * e, eps, name)) / (2 * h)
                        for e in np.eye(len(w))], axis=1)
    keep = np.abs(eps * np.abs(w).sum() - y * (x @ w) + 1) > 1e-3  # away from the hinge's kink
    scale = 1 + np.abs(x).max() + eps
    assert np.allclose(gradient[keep], numeric[keep], rtol=0, atol=1e-6 * scale)


@settings(max_examples=examples(30), deadline=None)
@given(name=loss_names, problem=problems(), eps=epsilons)
def test_gradient_matches_autodiff_and_danskin(name, problem, eps):
    x, y, w = problem
    g = get_loss(name).g
    w_rows = keras.ops.convert_to_tensor(np.tile(w, (len(x), 1)))
    closed = lambda W: g(eps * keras.ops.sum(keras.ops.abs(W), axis=1) - y * keras.ops.sum(W * x, axis=1))
    attacked = x + adversarial_perturbation(w, y, eps)
    danskin = lambda W: g(-y * keras.ops.sum(W * attacked, axis=1))
    gradient = adversarial_loss_gradient(x, y, w, eps, name)
    assert np.allclose(gradient, to_numpy(input_gradient(closed, w_rows)), rtol=0, atol=1e-10)
    assert np.allclose(gradient, to_numpy(input_gradient(danskin, w_rows)), rtol=0, atol=1e-10)


def test_gradient_formula_has_the_right_signs():
    # one example, one feature: logistic, w = 1, x = 2, y = 1, eps = 0.5 -> m = 0.5 - 2 = -1.5, grad = sigmoid(-1.5) (0.5 - 2)
    grad = adversarial_loss_gradient(np.array([[2.0]]), np.array([1]), np.array([1.0]), 0.5)
    assert np.isclose(grad[0, 0], (1 / (1 + np.exp(1.5))) * (0.5 - 2.0))
    # zero weight: sgn(0) = 0, the ordinary loss gradient
    grad = adversarial_loss_gradient(np.array([[2.0, 1.0]]), np.array([1]), np.array([1.0, 0.0]), 0.5)
    assert np.isclose(grad[0, 1], -(1 / (1 + np.exp(1.5))) * 1.0)


def test_square_loss_breaks_the_closed_form():
    square = MarginLoss("square", lambda z: (1 + np.asarray(z)) ** 2, lambda z: 2 * (1 + np.asarray(z)))
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(100, 3)), rng.choice([-1, 1], 100), rng.normal(size=3)
    gap = vertex_adversarial_loss(x, y, w, 0.3, square) - adversarial_loss(x, y, w, 0.3, square)
    assert gap.min() >= -1e-12 and gap.max() > 0.1


def test_box_vertices():
    v = box_vertices(3, 0.5)
    assert v.shape == (8, 3) and len({tuple(r) for r in v}) == 8 and np.all(np.abs(v) == 0.5)


X, Y, W = np.ones((2, 3)), np.array([1, -1]), np.array([0.5, -1.0, 0.0])


@pytest.mark.parametrize("fn", [adversarial_loss, adversarial_loss_gradient, vertex_adversarial_loss, pgd_adversarial_loss])
@pytest.mark.parametrize("bad, argument", [
    (dict(eps=-0.1), "`eps`"), (dict(eps=np.nan), "`eps`"), (dict(eps="big"), "`eps`"), (dict(eps=[0.1, 0.2]), "`eps`"),
    (dict(x=np.ones((2, 4))), "`w`"), (dict(x=np.ones(3)), "`x`"), (dict(y=np.array([1, 1, -1])), "`y`"),
    (dict(y=np.array([1, 0])), "`y`"), (dict(x=np.array([[np.inf, 0, 0], [0, 0, 0]])), "`x`"),
    (dict(w=np.array([np.nan, 0, 0])), "`w`"), (dict(loss="square"), "`loss`"),
])
def test_bad_inputs_raise(fn, bad, argument):
    kwargs = dict(x=X, y=Y, w=W, eps=0.1, loss="logistic") | bad
    with pytest.raises(ValueError, match=argument):
        fn(**kwargs)


def test_perturbation_bad_inputs():
    with pytest.raises(ValueError, match="`eps`"): adversarial_perturbation(W, 1, -1.0)
    with pytest.raises(ValueError, match="`y`"): adversarial_perturbation(W, 0, 1.0)
    with pytest.raises(ValueError, match="`w`"): adversarial_perturbation(np.ones((2, 2)), 1, 1.0)
    with pytest.raises(ValueError, match="`w`"): adversarial_perturbation(np.array([np.nan]), 1, 1.0)


def test_vertex_refuses_large_d():
    with pytest.raises(ValueError, match="d = 17"):
        vertex_adversarial_loss(np.ones((1, 17)), [1], np.ones(17), 0.1)


def test_pgd_bad_settings():
    with pytest.raises(ValueError, match="`steps`"): pgd_adversarial_loss(X, Y, W, 0.1, steps=0)
    with pytest.raises(ValueError, match="`restarts`"): pgd_adversarial_loss(X, Y, W, 0.1, restarts=1.5)
    with pytest.raises(ValueError, match="`step_size`"): pgd_adversarial_loss(X, Y, W, 0.1, step_size=-1)
