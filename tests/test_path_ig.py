"IG along a general curve (NeurIPS Lemma 1, eq. 1, and Lemma 2 for a general curve): closed forms, completeness, errors."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit.attribution import (Curve, completeness_gap, integrated_gradients, layer_integrated_gradients,
                                   layer_path_integrated_gradients, path_integrated_gradients, power_curve,
                                   straight_curve)
from advex_lit.backend import set_seed

SETTINGS = dict(max_examples=examples(6), deadline=None)
seeds = st.integers(0, 2 ** 16)


def product(z):
    "F(x) = x_1 x_2, one output per example."
    return z[:, 0] * z[:, 1]


def mlp(d, seed):
    set_seed(seed)
    inp = keras.Input((d,))
    h = keras.layers.Dense(6, activation="tanh", name="hidden")(inp)
    out = keras.layers.Dense(3, name="out")(keras.layers.Dense(5, activation="softplus", name="top")(h))
    return keras.Model(inp, out)


def wiggle_curve(v):
    "The straight segment plus sin(pi alpha) v: curved, not monotone, same ends."
    def position(alphas, x, u):
        a = np.reshape(alphas, (1, -1, 1))
        return u[:, None] + a * (x - u)[:, None] + np.sin(np.pi * a) * v
    def velocity(alphas, x, u):
        a = np.reshape(alphas, (1, -1, 1))
        return (x - u)[:, None] + np.pi * np.cos(np.pi * a) * v
    return Curve(position, velocity)


@settings(**SETTINGS)
@given(a=st.floats(1, 5), b=st.floats(1, 5), seed=seeds)
def test_product_closed_form_depends_on_the_curve(a, b, seed):
    "For F = x_1 x_2 from 0 along (alpha^a x_1, alpha^b x_2): IG = (a, b) / (a + b) x_1 x_2 (lemma, part 2)."
    x = np.random.default_rng(seed).uniform(-2, 2, size=(4, 2)).astype(np.float32)
    ig = path_integrated_gradients(product, x, power_curve([a, b]), steps=600)
    exact = x.prod(axis=1, keepdims=True) * np.array([a, b]) / (a + b)
    np.testing.assert_allclose(ig, exact, atol=2e-4)


def test_product_with_baseline_and_other_rules():
    "With a baseline u the power curve gives, for F = x_1 x_2, a closed form checked by hand; every rule converges."
    x, u = np.array([[2.0, 3.0]], np.float32), np.array([1.0, -1.0], np.float32)
    # r = (1 + alpha, -1 + 4 alpha^2): IG_1 = int (-1 + 4 a^2) da = 1/3, IG_2 = int (1 + a) 8 a da = 4 + 8/3
    for method in ("riemann_midpoint", "riemann_trapezoid"):
        ig = path_integrated_gradients(product, x, power_curve([1, 2]), baseline=u, steps=800, method=method)
        np.testing.assert_allclose(ig[0], [1 / 3, 4 + 8 / 3], atol=1e-4)


@settings(**SETTINGS)
@given(seed=seeds, steps=st.integers(3, 40))
def test_straight_curve_is_integrated_gradients(seed, steps):
    "The straight curve evaluates the same points with the same weights as `integrated_gradients`."
    model = mlp(4, seed)
    rng = np.random.default_rng(seed)
    x, u = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    target = rng.integers(0, 3, size=5)
    ours = path_integrated_gradients(model, x, straight_curve(), baseline=u, target=target, steps=steps)
    np.testing.assert_allclose(ours, integrated_gradients(model, x, baseline=u, target=target, steps=steps), atol=2e-5)


@settings(**SETTINGS)
@given(seed=seeds)
def test_completeness_on_curved_paths(seed):
    "Along curved paths the attributions still add up to F(x) - F(u) (lemma, part 1), but differ from straight IG."
    model = mlp(3, seed)
    rng = np.random.default_rng(seed)
    x, u = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    for curve in (power_curve(rng.uniform(1, 3, size=3)), wiggle_curve(rng.normal(size=3))):
        ig = path_integrated_gradients(model, x, curve, baseline=u, target=1, steps=400, batch_size=97)
        assert np.abs(completeness_gap(model, x, ig, baseline=u, target=1)).max() < 1e-3
    straight = path_integrated_gradients(model, x, straight_curve(), baseline=u, target=1, steps=400)
    assert np.abs(ig - straight).max() > 1e-3  # the wiggle moves the split among features


@settings(**SETTINGS)
@given(seed=seeds)
def test_layer_attributions_along_curves(seed):
    "Lemma 2 for a general curve: the image of an input curve and a curve in the layer's space are both complete."
    model = mlp(3, seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    straight = layer_path_integrated_gradients(model, "hidden", x, straight_curve(), target=2, steps=32)
    np.testing.assert_allclose(straight, layer_integrated_gradients(model, "hidden", x, target=2, steps=32), atol=2e-5)
    curve = wiggle_curve(rng.normal(size=3))
    image = layer_path_integrated_gradients(model, "hidden", x, curve, target=2, steps=400)
    assert image.shape == (4, 6)
    assert np.abs(completeness_gap(model, x, image, target=2)).max() < 1e-3
    in_layer = layer_path_integrated_gradients(model, "hidden", x, power_curve(rng.uniform(1, 3, size=6)), target=2,
                                               space="layer", steps=400)
    assert np.abs(completeness_gap(model, x, in_layer, target=2)).max() < 1e-3
    assert np.abs(in_layer - image).max() > 1e-4  # a different curve of the layer, a different split


def test_layer_image_curve_matches_a_finite_difference_velocity():
    "The Jacobian-vector product of the image curve agrees with the layer IG of a hand-made curve h(r(alpha))."
    model = mlp(3, 0)
    head = keras.Model(model.inputs[0], model.get_layer("hidden").output)
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    curve = power_curve([1.0, 2.0, 3.0])
    def h_position(alphas, hx, hu):
        pts = curve.position(alphas, x.astype(np.float64), np.zeros_like(x, np.float64))
        return np.asarray(head(pts.reshape(-1, 3).astype(np.float32))).reshape(2, len(alphas), -1)
    def h_velocity(alphas, hx, hu, step=1e-3):
        lo, hi = np.clip(alphas - step, 0, 1), np.clip(alphas + step, 0, 1)
        return (h_position(hi, hx, hu) - h_position(lo, hx, hu)) / (hi - lo)[None, :, None]
    by_image = layer_path_integrated_gradients(model, "hidden", x, curve, target=0, steps=200)
    by_layer = layer_path_integrated_gradients(model, "hidden", x, Curve(h_position, h_velocity), target=0,
                                               space="layer", steps=200)
    np.testing.assert_allclose(by_image, by_layer, atol=2e-3)


def test_refusals():
    "Bad curves and arguments are refused with the argument named."
    model = mlp(3, 0)
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="`curve`"):
        path_integrated_gradients(model, x, lambda a, x, u: x, target=0)
    shifted = Curve(lambda a, x, u: straight_curve().position(a, x, u) + 0.5, straight_curve().velocity)
    with pytest.raises(ValueError, match="`curve` must run from the baseline"):
        path_integrated_gradients(model, x, shifted, target=0)
    flat = Curve(lambda a, x, u: x, straight_curve().velocity)
    with pytest.raises(ValueError, match=r"`curve.position` must return an array shaped"):
        path_integrated_gradients(model, x, flat, target=0)
    with pytest.raises(ValueError, match="`powers`"):
        power_curve([0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match="`space`"):
        layer_path_integrated_gradients(model, "hidden", x, straight_curve(), target=0, space="output")
    with pytest.raises(ValueError, match="in the layer space"):
        layer_path_integrated_gradients(model, "hidden", x, shifted, target=0, space="layer")
