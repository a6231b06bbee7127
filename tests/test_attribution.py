"Property tests for advex_lit.attribution: completeness, Lemma 4.1, targets, baselines, chunking, layer IG, errors."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples
from keras import ops

from advex_lit import attribution as A
from advex_lit.attribution import (completeness_gap, integrated_gradients, layer_integrated_gradients, linear_ig,
                                   path_weights, split_model, input_layer_name, METHODS, deep_shap, saliency,
                                   model_outputs)
from advex_lit.backend import set_seed, to_numpy

SETTINGS = dict(max_examples=examples(6), deadline=None)
seeds = st.integers(0, 2 ** 16)


def dense_model(w, activation):
    "x -> activation(<w, x>) (w: (d,) or (d, k)), no bias."
    w = np.asarray(w, np.float32)
    w = w.reshape(len(w), -1)
    layer = keras.layers.Dense(w.shape[1], activation=activation, use_bias=False)
    model = keras.Sequential([keras.Input((w.shape[0],)), layer])
    layer.set_weights([w])
    return model


def mlp(d, hidden, k, activation, seed):
    set_seed(seed)
    inp = keras.Input((d,))
    h = keras.layers.Dense(hidden, activation=activation, name="h1")(inp)
    h = keras.layers.Dense(hidden, activation=activation, name="h2")(h)
    out = keras.layers.Dense(k, name="out")(h)
    return keras.Model(inp, out)


def dyadic(a, scale=8):
    return np.round(np.asarray(a) * scale) / scale


# --- quadrature rules -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_path_weights_integrate_polynomials(method):
    alphas, weights = path_weights(64, method)
    assert np.isclose(weights.sum(), 1, atol=1e-6) and alphas.min() >= 0 and alphas.max() <= 1
    exact_order = 1 if method in ("riemann_left", "riemann_right") else 2
    # constants are exact for every rule; x is exact for midpoint and trapezoid
    assert np.isclose((weights * alphas).sum(), 0.5, atol=1e-6) == (exact_order == 2)
    err = abs((weights * alphas.astype(np.float64) ** 2).sum() - 1 / 3)
    assert err < (0.6 / 64 if exact_order == 1 else 0.2 / 64 ** 2)


def test_callable_quadratic_is_exact_with_trapezoid():
    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    u = np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32)
    ig = integrated_gradients(lambda t: ops.sum(t ** 2, axis=1), x, u, steps=3)
    np.testing.assert_allclose(ig, x ** 2 - u ** 2, rtol=1e-5, atol=1e-5)


# --- completeness ----------------------------------------------------------------------------------------------------
@settings(**SETTINGS)
@given(seed=seeds, d=st.integers(2, 6), hidden=st.integers(2, 8), k=st.integers(1, 4),
       activation=st.sampled_from(["tanh", "sigmoid", "softplus"]), n=st.integers(1, 5))
def test_completeness_dense(seed, d, hidden, k, activation, n):
    rng = np.random.default_rng(seed)
    model = mlp(d, hidden, k, activation, seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    u = rng.normal(size=(n, d)).astype(np.float32) * 0.5
    target = rng.integers(0, k, size=n)
    ig = integrated_gradients(model, x, u, target=target, steps=200)
    change = A.model_outputs(model, x, target) - A.model_outputs(model, u, target)
    gap = completeness_gap(model, x, ig, u, target)
    np.testing.assert_allclose(gap, ig.reshape(n, -1).sum(1) - change, atol=1e-6)
    assert np.all(np.abs(gap) <= 1e-3 * (1 + np.abs(change))), (gap, change)


# --- Lemma 4.1 -------------------------------------------------------------------------------------------------------
@settings(**SETTINGS)
@given(seed=seeds, d=st.integers(2, 8), n=st.integers(1, 6), activation=st.sampled_from(["sigmoid", "exp"]))
def test_linear_ig_matches_numerical_ig(seed, d, n, activation):
    rng = np.random.default_rng(seed)
    w = dyadic(rng.normal(size=d) * 0.6)
    x, u = dyadic(rng.normal(size=(n, d))), dyadic(rng.normal(size=(n, d)) * 0.3)
    x[0] = u[0] + rng.integers(-2, 3) * np.r_[w[1], -w[0], np.zeros(d - 2)]  # limit case: <w, x - u> = 0 exactly
    assert (x[0] - u[0]) @ w == 0
    model = dense_model(w, "exponential" if activation == "exp" else "sigmoid")
    exact = linear_ig(x, u, w, activation)
    scale = np.abs(exact).max(axis=1, keepdims=True) + 1e-3
    # both kernels: the Keras model (Dense fast path) and the same model as a callable (general input-space path)
    for explained in (model, lambda t: model(t)):
        numeric = integrated_gradients(explained, x.astype(np.float32), u.astype(np.float32), steps=300)
        assert np.all(np.abs(numeric - exact) <= 2e-4 * scale)
    # Riemann error of the left rule is first order: a factor-of-two error (wrong sign or scale) would exceed it
    left = integrated_gradients(model, x.astype(np.float32), u.astype(np.float32), steps=300, method="riemann_left")
    assert np.all(np.abs(left - exact) <= 2e-2 * scale)


@settings(max_examples=examples(25), deadline=None)
@given(seed=seeds, d=st.integers(2, 8), activation=st.sampled_from(["sigmoid", "exp", "identity", "tanh", "softplus"]))
def test_linear_ig_limit_and_completeness(seed, d, activation):
    rng = np.random.default_rng(seed)
    w, u = dyadic(rng.normal(size=d)), dyadic(rng.normal(size=d))
    x = u + np.r_[w[1], -w[0], np.zeros(d - 2)]
    fn, dfn = A.ACTIVATIONS[activation]
    limit = linear_ig(x, u, w, activation)
    np.testing.assert_allclose(limit, dfn(u @ w) * (x - u) * w, rtol=1e-12, atol=1e-15)
    # continuity: a tiny step off the hyperplane changes the value by about as much
    near = linear_ig(x + 1e-6 * w / (w @ w), u, w, activation)
    np.testing.assert_allclose(near, limit, atol=1e-5 * (1 + np.abs(limit).max()))
    # completeness and the callable path (numerical derivative) away from and at the limit
    x2 = u + rng.normal(size=d)
    ig = linear_ig(x2, u, w, activation)
    np.testing.assert_allclose(ig.sum(), fn(x2 @ w) - fn(u @ w), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(linear_ig(x2, u, w, fn), ig, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(linear_ig(x, u, w, fn), limit, rtol=1e-6, atol=1e-9)


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(1, 5), method=st.sampled_from(["riemann_trapezoid", "riemann_left", "riemann_midpoint"]))
def test_dense_kernel_equals_general_kernel(seed, n, method):
    "The pre-activation-space kernel and the input-space kernel compute the same Riemann sum on a deeper Dense model."
    keras.utils.set_random_seed(seed % 2**31)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh"),
                              keras.layers.Dense(4, activation="softplus"), keras.layers.Dense(3)])
    rng = np.random.default_rng(seed)
    x, u = rng.normal(size=(n, 5)).astype(np.float32), rng.normal(size=(n, 5)).astype(np.float32)
    target = rng.integers(0, 3, size=n)
    fast = integrated_gradients(model, x, u, target=target, steps=40, method=method)
    general = integrated_gradients(lambda t: model(t), x, u, target=target, steps=40, method=method)
    np.testing.assert_allclose(fast, general, rtol=1e-4, atol=1e-6 * (1 + np.abs(general).max()))


def test_linear_ig_batched_rows_and_sparsity():
    rng = np.random.default_rng(0)
    w = rng.normal(size=5); w[[1, 3]] = 0
    x, u = rng.normal(size=(4, 5)), rng.normal(size=5)
    batched = linear_ig(x, u, w, "sigmoid")
    rows = np.stack([linear_ig(row, u, w, "sigmoid") for row in x])
    np.testing.assert_allclose(batched, rows)
    assert np.all(batched[:, [1, 3]] == 0)


# --- targets and baselines --------------------------------------------------------------------------------------------
@settings(**SETTINGS)
@given(seed=seeds, d=st.integers(2, 6), k=st.integers(2, 5), n=st.integers(1, 6))
def test_target_selects_class(seed, d, k, n):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, k))
    model = dense_model(w, "sigmoid")  # class c is the independent one-layer model sigmoid(<w[:, c], x>)
    x = rng.normal(size=(n, d)).astype(np.float32)
    target = rng.integers(0, k, size=n)
    ig = integrated_gradients(model, x, target=target, steps=200)
    exact = np.stack([linear_ig(x[j].astype(np.float64), None, w[:, target[j]].astype(np.float32), "sigmoid")
                      for j in range(n)])
    np.testing.assert_allclose(ig, exact, atol=1e-4)
    single = integrated_gradients(model, x, target=int(target[0]), steps=200)
    np.testing.assert_allclose(single, integrated_gradients(model, x, target=np.full(n, target[0]), steps=200))


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(1, 5), method=st.sampled_from(METHODS))
def test_baseline_broadcasting(seed, n, method):
    rng = np.random.default_rng(seed)
    model = mlp(3, 4, 2, "tanh", seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    u1 = rng.normal(size=3).astype(np.float32)
    full = integrated_gradients(model, x, np.tile(u1, (n, 1)), target=1, steps=20, method=method)
    np.testing.assert_allclose(integrated_gradients(model, x, u1, target=1, steps=20, method=method), full, atol=1e-7)
    zeros = integrated_gradients(model, x, np.zeros_like(x), target=1, steps=20, method=method)
    np.testing.assert_allclose(integrated_gradients(model, x, None, target=1, steps=20, method=method), zeros)
    np.testing.assert_allclose(integrated_gradients(model, x, 0.0, target=1, steps=20, method=method), zeros)


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(1, 7), steps=st.integers(1, 30), batch_size=st.integers(1, 64),
       method=st.sampled_from(METHODS))
def test_chunking_does_not_change_result(seed, n, steps, batch_size, method):
    rng = np.random.default_rng(seed)
    model = mlp(4, 5, 3, "softplus", 0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    t = rng.integers(0, 3, size=n)
    one = integrated_gradients(model, x, target=t, steps=steps, method=method, batch_size=10_000)
    chunked = integrated_gradients(model, x, target=t, steps=steps, method=method, batch_size=batch_size)
    np.testing.assert_allclose(chunked, one, rtol=1e-5, atol=1e-6)


def test_repeated_calls_do_not_retrace():
    model = mlp(4, 5, 3, "tanh", 1)
    x = np.random.default_rng(0).normal(size=(37, 4)).astype(np.float32)
    integrated_gradients(model, x, target=2, steps=40, batch_size=256)
    traces = A._TRACES["integrated_gradients"]
    for _ in range(3):
        integrated_gradients(model, x, target=1, steps=40, batch_size=256)
    assert A._TRACES["integrated_gradients"] == traces


# --- layer IG --------------------------------------------------------------------------------------------------------
@settings(max_examples=examples(4), deadline=None)
@given(seed=seeds, layer=st.sampled_from(["h1", "h2"]), n=st.integers(1, 4), k=st.integers(1, 3))
def test_layer_ig_completeness(seed, layer, n, k):
    rng = np.random.default_rng(seed)
    model = mlp(5, 6, k, "tanh", seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    u = rng.normal(size=(n, 5)).astype(np.float32) * 0.3
    t = rng.integers(0, k, size=n)
    lig = layer_integrated_gradients(model, layer, x, u, target=t, steps=200)
    assert lig.shape == (n, 6)
    change = A.model_outputs(model, x, t) - A.model_outputs(model, u, t)
    gap = completeness_gap(model, x, lig, u, target=t)
    assert np.all(np.abs(gap) <= 1e-3 * (1 + np.abs(change)))
    ig = integrated_gradients(model, x, u, target=t, steps=200)
    np.testing.assert_allclose(lig.sum(1), ig.sum(1), atol=1e-4)


def test_layer_ig_at_input_is_input_ig_and_linear_layer():
    rng = np.random.default_rng(0)
    model = mlp(4, 5, 2, "sigmoid", 3)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    at_input = layer_integrated_gradients(model, input_layer_name(model), x, target=1, steps=64)
    np.testing.assert_allclose(at_input, integrated_gradients(model, x, target=1, steps=64), atol=1e-6)
    # a last layer that is linear: attributions to its inputs h2 are w_out * (h2(x) - h2(u)), exactly
    head, tail = split_model(model, "h2")
    w_out = model.get_layer("out").get_weights()[0][:, 1]
    h_x, h_u = to_numpy(head(x)), to_numpy(head(np.zeros_like(x)))
    lig = layer_integrated_gradients(model, "h2", x, target=1, steps=400)
    np.testing.assert_allclose(lig, w_out * (h_x - h_u), atol=2e-5)


def test_layer_ig_conv_shape():
    set_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="tanh", name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(4)])
    x = np.random.default_rng(0).random((2, 6, 6, 1)).astype(np.float32)
    lig = layer_integrated_gradients(model, "conv", x, target=np.array([0, 3]), steps=64, batch_size=50)
    assert lig.shape == (2, 4, 4, 3)
    assert np.abs(completeness_gap(model, x, lig, target=np.array([0, 3]))).max() < 1e-3


# --- bad input -------------------------------------------------------------------------------------------------------
def test_bad_inputs_raise():
    model = mlp(3, 4, 2, "tanh", 0)
    x = np.ones((2, 3), np.float32)
    scalar_model = dense_model(np.ones(3), "sigmoid")
    cases = [
        (ValueError, "baseline", lambda: integrated_gradients(model, x, np.ones((2, 4)), target=0)),
        (ValueError, "x", lambda: integrated_gradients(model, np.array([[np.nan, 1, 1]]), target=0)),
        (ValueError, "x", lambda: integrated_gradients(model, np.ones(3), target=0)),
        (TypeError, "x", lambda: integrated_gradients(model, np.array([["a", "b", "c"]]), target=0)),
        (ValueError, "steps", lambda: integrated_gradients(model, x, target=0, steps=0)),
        (ValueError, "steps", lambda: integrated_gradients(model, x, target=0, steps=2.5)),
        (ValueError, "method", lambda: integrated_gradients(model, x, target=0, method="simpson")),
        (ValueError, "batch_size", lambda: integrated_gradients(model, x, target=0, batch_size=0)),
        (ValueError, "target", lambda: integrated_gradients(model, x, target=2)),
        (ValueError, "target", lambda: integrated_gradients(model, x, target=-1)),
        (ValueError, "target", lambda: integrated_gradients(model, x, target=np.array([0, 1, 1]))),
        (ValueError, "target", lambda: integrated_gradients(model, x)),
        (ValueError, "target", lambda: integrated_gradients(lambda t: ops.sum(t, axis=1), x, target=0)),
        (TypeError, "target", lambda: integrated_gradients(model, x, target=0.5)),
        (TypeError, "model", lambda: integrated_gradients("model", x)),
        (ValueError, "attributions", lambda: completeness_gap(scalar_model, x, np.ones((3, 3)))),
        (ValueError, "w", lambda: linear_ig(np.ones((2, 3)), None, np.ones(4), "sigmoid")),
        (ValueError, "baseline", lambda: linear_ig(np.ones((2, 3)), np.ones(2), np.ones(3), "sigmoid")),
        (ValueError, "activation", lambda: linear_ig(np.ones(3), None, np.ones(3), "relu6")),
        (TypeError, "activation", lambda: linear_ig(np.ones(3), None, np.ones(3), 3)),
        (ValueError, "x", lambda: linear_ig(np.array([1.0, np.inf]), None, np.ones(2), "exp")),
        (ValueError, "layer_name", lambda: layer_integrated_gradients(model, "nope", x, target=0)),
        (TypeError, "model", lambda: layer_integrated_gradients(lambda t: t, "h1", x)),
    ]
    for error, name, call in cases:
        with pytest.raises(error, match=f"`{name}`"):
            call()


def test_split_refuses_skip_connection():
    inp = keras.Input((3,))
    h = keras.layers.Dense(3, name="q")(inp)
    model = keras.Model(inp, keras.layers.Add()([h, inp]))
    with pytest.raises(ValueError, match="layer_name"):
        split_model(model, "q")


# --- split at the output layer -----------------------------------------------------------------------------------------
def test_split_at_output_layer():
    model = mlp(4, 5, 3, "tanh", 7)
    x = np.random.default_rng(7).normal(size=(3, 4)).astype(np.float32)
    head, tail = split_model(model, "out")
    np.testing.assert_allclose(to_numpy(tail(head(x))), to_numpy(model(x)), atol=1e-6)
    t = np.array([0, 2, 1])
    lig = layer_integrated_gradients(model, "out", x, target=t, steps=32)
    change = model_outputs(model, x, t) - model_outputs(model, np.zeros_like(x), t)
    np.testing.assert_allclose(lig[np.arange(3), t], change, atol=1e-4)
    lig[np.arange(3), t] = 0
    assert np.abs(lig).max() < 1e-6
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])
    head, tail = split_model(seq, "b")
    np.testing.assert_allclose(to_numpy(tail(head(x))), to_numpy(seq(x)), atol=1e-6)


# --- DeepSHAP and saliency ---------------------------------------------------------------------------------------------
def small_cnn(seed, k=4):
    set_seed(seed)
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                             keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(k)])


@settings(max_examples=examples(2), deadline=None)
@given(seed=seeds, n=st.integers(2, 5))
def test_deep_shap_target_column_and_additivity(seed, n):
    model = small_cnn(seed % 1000)
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 1)).astype(np.float32)
    background = rng.random((10, 6, 6, 1)).astype(np.float32)
    t1 = rng.integers(0, 4, size=n)
    t1[0] = 2
    t2 = (t1 + 1 + rng.integers(0, 3, size=n)) % 4
    f_x = to_numpy(model(x)).astype(np.float64)
    f_b = to_numpy(model(background)).astype(np.float64).mean(axis=0)
    phis = []
    for t in (t1, t2):
        phi, gap = deep_shap(model, x, background, t, return_gap=True)
        assert phi.shape == x.shape and gap.shape == (n,)
        sums = phi.reshape(n, -1).sum(axis=1)
        np.testing.assert_allclose(sums, f_x[np.arange(n), t] - f_b[t], atol=1e-4)  # own class's background mean
        assert np.abs(gap).max() < 1e-4
        phis.append(phi)
    # the chosen column is used: the sums follow each example's own target
    assert not np.allclose(phis[0].reshape(n, -1).sum(1), phis[1].reshape(n, -1).sum(1), atol=1e-3)
    # an int target means the same class for every example
    np.testing.assert_allclose(deep_shap(model, x[:1], background, 2), phis[0][:1], atol=1e-6)


def test_deep_shap_subclassed_and_single_output():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.h = keras.layers.Dense(5, activation="tanh")
            self.o = keras.layers.Dense(1)
        def call(self, x):
            return self.o(self.h(x))
    set_seed(0)
    sub = Sub()
    rng = np.random.default_rng(0)
    x, background = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(8, 4)).astype(np.float32)
    sub(x)
    phi, gap = deep_shap(sub, x, background, 0, return_gap=True)
    assert phi.shape == (3, 4) and np.abs(gap).max() < 1e-4


def test_deep_shap_linear_model_closed_form():
    # for a linear model DeepSHAP is w * (x - mean background), for every class separately
    w = np.random.default_rng(1).normal(size=(5, 3))
    model = dense_model(w, "linear")
    x = np.random.default_rng(2).normal(size=(4, 5)).astype(np.float32)
    background = np.random.default_rng(3).normal(size=(6, 5)).astype(np.float32)
    t = np.array([2, 0, 1, 2])
    phi = deep_shap(model, x, background, t)
    want = (x - background.mean(axis=0)) * w[:, t].T
    np.testing.assert_allclose(phi, want, atol=1e-5)


@settings(max_examples=examples(4), deadline=None)
@given(seed=seeds, n=st.integers(1, 4), k=st.integers(1, 3))
def test_saliency_matches_finite_differences(seed, n, k):
    model = mlp(5, 6, k, "tanh", seed % 1000)
    x = np.random.default_rng(seed).normal(size=(n, 5))
    t = np.random.default_rng(seed + 1).integers(0, k, size=n)
    grad = saliency(model, x, target=t)
    assert grad.shape == (n, 5) and grad.dtype == np.float32
    h = 1e-2
    for i in range(5):
        e = np.zeros(5); e[i] = h
        fd = (model_outputs(model, (x + e).astype(np.float32), t) - model_outputs(model, (x - e).astype(np.float32), t))
        np.testing.assert_allclose(grad[:, i], fd / (2 * h), atol=2e-3)


def test_saliency_of_linear_model_is_the_weight_column():
    w = np.random.default_rng(4).normal(size=(6, 3))
    model = dense_model(w, "linear")
    x = np.random.default_rng(5).normal(size=(4, 6))
    np.testing.assert_allclose(saliency(model, x, target=np.array([0, 2, 1, 1])), w[:, [0, 2, 1, 1]].T, atol=1e-6)
    scalar = dense_model(w[:, 0], "sigmoid")
    np.testing.assert_allclose(saliency(scalar, x),
                               w[:, 0] * (lambda p: p * (1 - p))(1 / (1 + np.exp(-x @ w[:, 0])))[:, None], atol=1e-5)


def test_deep_shap_and_saliency_bad_inputs():
    model = small_cnn(0)
    x = np.zeros((2, 6, 6, 1), np.float32)
    cases = [
        (ValueError, "target", lambda: deep_shap(model, x, x, None)),
        (ValueError, "target", lambda: deep_shap(model, x, x, 4)),
        (ValueError, "target", lambda: deep_shap(model, x, x, np.array([0, 1, 2]))),
        (TypeError, "target", lambda: deep_shap(model, x, x, 0.5)),
        (ValueError, "background", lambda: deep_shap(model, x, np.zeros((3, 5, 5, 1)), 0)),
        (ValueError, "x", lambda: deep_shap(model, np.full((1, 6, 6, 1), np.nan), x, 0)),
        (TypeError, "model", lambda: deep_shap(lambda t: t, x, x, 0)),
        (ValueError, "target", lambda: saliency(model, x)),
        (ValueError, "x", lambda: saliency(model, np.ones(3), target=0)),
    ]
    for error, name, call in cases:
        with pytest.raises(error, match=f"`{name}`"):
            call()


def test_float64_model_keeps_its_precision():
    "A model built in float64 (as the Stable-IG chapter does) is explained without dtype errors, and completely."
    import keras
    inputs = keras.Input((3,), dtype="float64")
    out = keras.layers.Dense(1, activation="sigmoid", dtype="float64")(inputs)
    model = keras.Model(inputs, out)
    x = np.random.default_rng(0).normal(size=(4, 3))
    ig = integrated_gradients(model, x, steps=64)
    assert np.abs(completeness_gap(model, x, ig)).max() < 1e-4
