"The relaxation of ICML eq. (16) (worst-case change of IG) to eq. (17) (the Stable-IG regularizer) for one-layer models."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit.losses import LOSS_NAMES, get_loss, margin_loss
from advex_lit.stable import ig_change, one_layer_loss_ig, stable_ig_regularizer, worst_ig_change

SETTINGS = dict(max_examples=examples(25), deadline=None)


def instance(seed, d, n=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)), rng.choice([-1, 1], n), rng.normal(size=d), 2 * rng.normal(size=(n, d)),
            float(rng.uniform(0.05, 1.0)))


@settings(**SETTINGS)
@given(seed=st.integers(0, 2 ** 16), d=st.integers(1, 4), loss=st.sampled_from(LOSS_NAMES))
def test_stable_ig_regularizer_bounds_the_worst_change_from_below(seed, d, loss):
    "R17 <= R16 for every baseline; equal for u = x and for d = 1."
    x, y, w, u, eps = instance(seed, d)
    r16, best = worst_ig_change(x, y, w, eps, u, loss, samples=32, seed=seed)
    r17 = stable_ig_regularizer(x, y, w, eps, loss)
    assert np.all(r16 >= r17 - 1e-9)
    assert np.all(np.abs(best - x) <= eps + 1e-12)
    np.testing.assert_allclose(ig_change(x, best, y, w, u, loss), r16, rtol=1e-12)
    at_x, _ = worst_ig_change(x, y, w, eps, x, loss, samples=32, seed=seed)
    np.testing.assert_allclose(at_x, r17, rtol=1e-9, atol=1e-12)
    if d == 1: np.testing.assert_allclose(r16, r17, rtol=1e-9, atol=1e-12)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2 ** 16), d=st.integers(1, 4), loss=st.sampled_from(LOSS_NAMES))
def test_ig_change_is_at_least_the_loss_change(seed, d, loss):
    "Completeness: ||IG(x', u) - IG(x, u)||_1 >= |L(x') - L(x)|, with equality for d = 1; zero at x' = x."
    x, y, w, u, eps = instance(seed, d)
    x_prime = x + np.random.default_rng(seed + 1).uniform(-eps, eps, size=x.shape)
    change = ig_change(x, x_prime, y, w, u, loss)
    loss_change = np.abs(margin_loss(x_prime, y, w, loss) - margin_loss(x, y, w, loss))
    assert np.all(change >= loss_change - 1e-10)
    if d == 1: np.testing.assert_allclose(change, loss_change, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ig_change(x, x, y, w, u, loss), 0.0, atol=1e-15)


def test_ig_change_closed_form_by_hand():
    "Two features, the logistic loss, u = 0: the difference of the two one-layer closed forms, written out."
    x, x_prime, y, w = np.array([[1.0, 2.0]]), np.array([[1.5, 1.0]]), np.array([1]), np.array([0.5, -1.0])
    g = get_loss("logistic").g
    def ig(point):  # IG of g(-y<w, .>) at `point` from the zero baseline: (point w) times the chord slope of g
        z = -y[0] * (point[0] @ w)
        return -y[0] * w * point[0] * (g(z) - g(0.0)) / z
    np.testing.assert_allclose(ig_change(x, x_prime, y, w), np.abs(ig(x_prime) - ig(x)).sum(), rtol=1e-12)
    np.testing.assert_allclose(one_layer_loss_ig(np.zeros_like(x), x, y, w)[0], ig(x), rtol=1e-12)


def test_the_relaxation_can_be_strict():
    "With a baseline away from x, the worst change of IG exceeds the Stable-IG regularizer (logistic, d = 2)."
    x, y, w, u, eps = np.array([[1.0, -0.6]]), np.array([1]), np.array([1.8, -1.3]), np.array([[-1.3, 1.9]]), 0.5
    r16, _ = worst_ig_change(x, y, w, eps, u, "logistic", samples=0)
    assert r16[0] > 4 * stable_ig_regularizer(x, y, w, eps, "logistic")[0]  # 1.008 against 0.232


def test_refusals():
    x, y, w = np.zeros((2, 3)), np.array([1, -1]), np.ones(3)
    with pytest.raises(ValueError, match="`baseline`"):
        ig_change(x, x, y, w, baseline=np.zeros(4))
    with pytest.raises(ValueError, match="`eps`"):
        worst_ig_change(x, y, w, -1.0)
    with pytest.raises(ValueError, match="`samples`"):
        worst_ig_change(x, y, w, 0.1, samples=-1)
    with pytest.raises(ValueError, match="d = 13"):
        worst_ig_change(np.zeros((1, 13)), np.array([1]), np.ones(13), 0.1)


# --- the first-order (l1) reading of closed-form adversarial training (tabular chapter) ------------------------------

from advex_lit.exp_tabular import penalty_expansion  # noqa: E402


def test_penalty_expansion_by_hand():
    "One example, label 1: adversarial loss log(1 + e^(m + t)), first order t sigmoid(m), m = -(<w, x> + b)."
    x, y, w, b, eps = np.array([[1.0, -2.0]]), np.array([1]), np.array([0.5, 0.25]), 0.1, 0.4
    m, t = -(0.5 - 0.5 + 0.1), 0.4 * 0.75
    out = penalty_expansion(x, y, w, b, eps)
    sig = 1 / (1 + np.exp(-m))
    np.testing.assert_allclose([out["eps ||w||_1"], out["natural"], out["adversarial"], out["first order"],
                                out["second order"]],
                               [t, np.log1p(np.exp(m)), np.log1p(np.exp(m + t)), t * sig, 0.5 * t ** 2 * sig * (1 - sig)],
                               rtol=1e-12)
    flipped = penalty_expansion(x, np.array([0]), w, b, eps)  # label 0: the margin changes sign
    np.testing.assert_allclose(flipped["natural"], np.log1p(np.exp(-m)), rtol=1e-12)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2 ** 16), eps=st.floats(0.0, 2.0))
def test_penalty_expansion_remainder(seed, eps):
    "The remainder beyond the l1 term lies in [0, t^2/8] and is the second-order term to leading order."
    rng = np.random.default_rng(seed)
    x, y, w, b = rng.normal(size=(40, 5)), rng.integers(0, 2, 40), rng.normal(size=5), float(rng.normal())
    out = penalty_expansion(x, y, w, b, eps)
    t = out["eps ||w||_1"]
    assert -1e-12 <= out["remainder"] <= t ** 2 / 8 + 1e-12
    np.testing.assert_allclose(out["adversarial"] - out["natural"] - out["first order"], out["remainder"], atol=1e-15)
    tiny = penalty_expansion(x, y, w, b, 1e-3 / max(np.abs(w).sum(), 1e-9))
    np.testing.assert_allclose(tiny["remainder"], tiny["second order"], rtol=2e-2)


def test_penalty_expansion_refusals():
    with pytest.raises(ValueError, match="`w`"):
        penalty_expansion(np.zeros((2, 3)), np.array([0, 1]), np.ones(2), 0.0, 0.1)
    with pytest.raises(ValueError, match="`eps`"):
        penalty_expansion(np.zeros((2, 3)), np.array([0, 1]), np.ones(3), 0.0, -0.1)
