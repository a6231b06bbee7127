"Property tests for advex_lit.attacks: PGD/FGSM geometry and strength, the linear closed form, IFIA on a small CNN."
import keras
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from property_settings import examples

from advex_lit.attacks import (adversarial_accuracy, attribution_similarity, default_loss, fgsm, ifia_topk, pgd,
                               predict_labels, random_sign_perturbation, softplus_copy)
from advex_lit.backend import set_seed, to_numpy
from advex_lit.data import load_dataset
from advex_lit.linear import adversarial_perturbation, linear_model


@pytest.fixture(scope="module")
def mlp():
    set_seed(0)
    return keras.Sequential([keras.Input((10,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)])


@pytest.fixture(scope="module")
def digits_cnn():
    "A small CNN trained naturally on scikit-learn's digits (8x8), with its test split."
    data = load_dataset("digits")
    set_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train, data.y_train, epochs=10, batch_size=32, verbose=0)
    return model, data.x_test, data.y_test


def _loss(model, x, y):
    return to_numpy(default_loss(model)(y, model(x)))


def _mlp_loss_gradient(model, x, y):
    "Gradient in x of the cross-entropy of a Dense-ReLU-Dense logit model, by the chain rule in float64 NumPy."
    (w1, b1), (w2, b2) = [[v.astype(np.float64) for v in layer.get_weights()] for layer in model.layers]
    pre = x.astype(np.float64) @ w1 + b1
    logits = np.maximum(pre, 0) @ w2 + b2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d_logits = p - np.eye(w2.shape[1])[y]
    return ((d_logits @ w2.T) * (pre > 0)) @ w1.T


def test_fgsm_moves_exactly_eps_where_the_gradient_is_nonzero():
    "A dead input (zero first-layer weights) and an example whose ReLUs are all off have a zero gradient: FGSM keeps them."
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu"), keras.layers.Dense(3)])
    w1 = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 1.5]], "float32")  # feature 0 feeds nothing
    model.layers[0].set_weights([w1, np.array([0.1, -0.2], "float32")])
    model.layers[1].set_weights([np.array([[1.0, -1.0, 0.5], [0.3, 0.8, -1.2]], "float32"), np.zeros(3, "float32")])
    x = np.array([[0.3, 0.4, 0.2], [0.9, 0.1, 0.7], [0.5, 0.0, -1.0], [0.2, 0.6, 0.1]], "float32")  # row 2: ReLUs off
    y = np.array([0, 2, 1, 1])
    grad = _mlp_loss_gradient(model, x, y)
    assert (grad[:, 0] == 0).all() and (grad[2] == 0).all() and (grad[[0, 1, 3], 1:] != 0).all()
    eps = 0.25
    x_adv = fgsm(model, x, y, eps, clip=None)
    np.testing.assert_allclose(x_adv - x, eps * np.sign(grad), atol=1e-7)
    assert _loss(model, x_adv, y)[[0, 1, 3]].min() > 0 and (_loss(model, x_adv, y) >= _loss(model, x, y) - 1e-6).all()


@settings(max_examples=examples(10), deadline=None)
@given(eps=st.floats(0.0, 0.6), seed=st.integers(0, 1000))
def test_pgd_fgsm_stay_in_ball_and_range(mlp, eps, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(32, 10)).astype("float32")
    y = rng.integers(0, 4, size=32)
    for x_adv in (pgd(mlp, x, y, eps, steps=5, step_size=eps / 2 + 1e-3, seed=seed), fgsm(mlp, x, y, eps),
                  random_sign_perturbation(x, eps, seed=seed)):
        assert x_adv.shape == x.shape and x_adv.dtype == np.float32
        assert np.abs(x_adv - x).max() <= eps + 1e-6
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    # without a range only the ball binds, and FGSM moves every coordinate with a non-zero gradient by exactly eps
    # along the gradient's sign, and leaves the coordinates with a zero gradient where they are
    x_free = fgsm(mlp, x, y, eps, clip=None)
    grad = _mlp_loss_gradient(mlp, x, y)
    clear = np.abs(grad) > 1e-6 * np.abs(grad).max()  # float32 autodiff and this float64 formula agree on the sign
    np.testing.assert_allclose((x_free - x)[clear], eps * np.sign(grad[clear]), atol=1e-6)
    np.testing.assert_array_equal(x_free[grad == 0], x[grad == 0])


def test_pgd_beats_random_noise(mlp):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(200, 10)).astype("float32")
    y = rng.integers(0, 4, size=200)
    eps = 0.1
    loss_pgd = _loss(mlp, pgd(mlp, x, y, eps, steps=20, step_size=0.02), y)
    loss_noise = _loss(mlp, random_sign_perturbation(x, eps, seed=2), y)
    loss_clean = _loss(mlp, x, y)
    assert (loss_pgd > loss_noise).mean() >= 0.95 and loss_pgd.mean() > loss_noise.mean()
    assert (loss_pgd >= loss_clean - 1e-6).all()


@settings(max_examples=examples(8), deadline=None)
@given(d=st.integers(1, 12), eps=st.floats(0.01, 1.0), seed=st.integers(0, 1000))
@example(d=9, eps=1.0, seed=632)  # a sigmoid output saturated past |logit| 16.1: the attack stalled (fixed)
def test_closed_form_on_linear_model(d, eps, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w[np.abs(w) < 1e-3] = 0.5  # a zero weight gives a zero gradient: PGD would keep its random start there
    x, y = rng.normal(size=(20, d)), rng.integers(0, 2, size=20)
    model = linear_model(w)
    expected = x + adversarial_perturbation(w, 2 * y - 1, eps)
    assert np.abs(fgsm(model, x, y, eps, clip=None) - expected).max() < 1e-9
    assert np.abs(pgd(model, x, y, eps, steps=4, step_size=eps / 1.5, clip=None, seed=seed) - expected).max() < 1e-9
    # a probability-output model (sigmoid last layer) is attacked in the same direction
    prob = keras.Sequential([keras.Input((d,), dtype="float64"),
                             keras.layers.Dense(1, use_bias=False, activation="sigmoid", dtype="float64")])
    prob.layers[0].kernel.assign(w[:, None])
    assert np.abs(fgsm(prob, x, y, eps, clip=None) - expected).max() < 1e-9


def test_adversarial_accuracy_and_determinism(digits_cnn):
    model, x, y = digits_cnn
    x, y = x[:150], y[:150]
    natural = float((predict_labels(model, x) == y).mean())
    assert natural > 0.85
    assert adversarial_accuracy(model, x, y, 0.0, steps=2) == pytest.approx(natural)
    one = adversarial_accuracy(model, x, y, 0.1, steps=10, restarts=1, seed=3)
    two = adversarial_accuracy(model, x, y, 0.1, steps=10, restarts=2, seed=3)
    assert two <= one <= natural and adversarial_accuracy(model, x, y, 0.3, steps=10) < natural - 0.3
    assert adversarial_accuracy(model, x, y, 0.1, steps=10, seed=3, batch_size=64) <= natural
    np.testing.assert_array_equal(pgd(model, x, y, 0.1, steps=3, seed=7), pgd(model, x, y, 0.1, steps=3, seed=7))
    assert not np.array_equal(pgd(model, x, y, 0.1, steps=3, seed=7), pgd(model, x, y, 0.1, steps=3, seed=8))


def test_ifia_beats_random_and_keeps_labels(digits_cnn):
    model, x, y = digits_cnn
    x, y = x[:30], y[:30]
    eps, k = 0.2, 16
    result = ifia_topk(model, x, y, eps, k, steps=20, step_size=0.02, restarts=2, ig_steps=30, attack_ig_steps=10, seed=0)
    ev = result.evaluated
    assert ev.sum() >= 25 and result.label_changed == 0
    assert (predict_labels(model, result.x_adv[ev]) == y[ev]).all()
    assert np.abs(result.x_adv - x).max() <= eps + 1e-6 and result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    assert np.isnan(result.kendall_tau[~ev]).all() and np.array_equal(result.x_adv[~ev], x[~ev])
    topk_r, tau_r = attribution_similarity(model, x, random_sign_perturbation(x, eps, seed=0), y, k, ig_steps=30)
    # measured here: top-k 0.68 vs 0.85 for random noise, tau 0.61 vs 0.66 (the attack aims at the top-k set, so its
    # lead on the global rank correlation is smaller; the chapter's MNIST run shows both margins above 0.05)
    assert result.mean_topk_intersection < topk_r[ev].mean() - 0.1
    assert result.mean_kendall_tau < np.nanmean(tau_r[ev]) - 0.03
    again = ifia_topk(model, x, y, eps, k, steps=20, step_size=0.02, restarts=2, ig_steps=30, attack_ig_steps=10, seed=0)
    np.testing.assert_array_equal(again.x_adv, result.x_adv)


def test_softplus_copy_is_close(digits_cnn):
    model, x, _ = digits_cnn
    smooth = softplus_copy(model, beta=10.0)
    assert not any(getattr(layer, "activation", None) is keras.activations.relu for layer in smooth.layers)
    assert (predict_labels(smooth, x) == predict_labels(model, x)).mean() > 0.95
    gap = np.abs(to_numpy(smooth(x[:50])) - to_numpy(model(x[:50]))).max()
    assert 0 < gap < 1.0


def test_bad_inputs(mlp, digits_cnn):
    x = np.random.default_rng(0).uniform(size=(4, 10)).astype("float32")
    y = np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match="eps"): pgd(mlp, x, y, -0.1)
    with pytest.raises(ValueError, match="eps"): fgsm(mlp, x, y, float("nan"))
    with pytest.raises(ValueError, match="steps"): pgd(mlp, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="`y`"): pgd(mlp, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="`x`"): pgd(mlp, np.where(x > 0.5, np.nan, x), y, 0.1)
    with pytest.raises(ValueError, match="clip"): pgd(mlp, x, y, 0.1, clip=(1, 0))
    with pytest.raises(ValueError, match="restarts"): adversarial_accuracy(mlp, x, y, 0.1, restarts=0)
    with pytest.raises(ValueError, match="eps"): random_sign_perturbation(x, -1.0)
    model, xd, yd = digits_cnn
    with pytest.raises(ValueError, match="`k`"): ifia_topk(model, xd[:2], yd[:2], 0.1, 0, steps=1, step_size=0.01)
    with pytest.raises(ValueError, match="`k`"): ifia_topk(model, xd[:2], yd[:2], 0.1, 65, steps=1, step_size=0.01)
    with pytest.raises(ValueError, match="steps"): ifia_topk(model, xd[:2], yd[:2], 0.1, 5, steps=0, step_size=0.01)
    with pytest.raises(ValueError, match="eps"): ifia_topk(model, xd[:2], yd[:2], -0.1, 5, steps=1, step_size=0.01)
    with pytest.raises(ValueError, match="`y`"): ifia_topk(model, xd[:2], yd[:3], 0.1, 5, steps=1, step_size=0.01)


def test_ifia_on_simple_gradient_maps(digits_cnn):
    "saliency='gradient' attacks and scores |dF_y/dx| maps (NeurIPS Table 4) with the same guarantees."
    from advex_lit.attacks import saliency_map
    model, x, y = digits_cnn
    x, y = x[:20], y[:20]
    result = ifia_topk(model, x, y, 0.2, 16, steps=10, step_size=0.02, restarts=1, seed=0, saliency="gradient")
    ev = result.evaluated
    assert result.label_changed == 0 and np.abs(result.x_adv - x).max() <= 0.2 + 1e-6
    maps = saliency_map(model, x[ev], y[ev], method="gradient")
    assert maps.shape == (ev.sum(), 8, 8) and (maps >= 0).all()
    still = ifia_topk(model, x, y, 0.0, 16, steps=2, step_size=0.02, restarts=1, seed=0, saliency="gradient")
    assert np.allclose(still.topk_intersection[still.evaluated], 1.0)
    with pytest.raises(ValueError, match="saliency"):
        ifia_topk(model, x, y, 0.1, 16, steps=1, step_size=0.01, saliency="deeplift")


def test_pgd_default_step_sizes(mlp):
    "The documented defaults: step_size=0.01 when omitted, and step_size=None means 2.5 eps / steps."
    rng = np.random.default_rng(5)
    x = rng.uniform(0.2, 0.8, size=(16, 10)).astype("float32")
    y = rng.integers(0, 4, size=16)
    run = lambda **kw: pgd(mlp, x, y, 0.1, 5, random_start=False, clip=None, **kw)
    np.testing.assert_array_equal(run(), run(step_size=0.01))
    assert np.abs(run() - run(step_size=0.02)).max() > 0.009
    assert np.abs(run() - x).max() == pytest.approx(0.05, abs=1e-6)  # five steps of 0.01 from x, inside the ball
    np.testing.assert_array_equal(run(step_size=None), run(step_size=2.5 * 0.1 / 5))
    assert np.abs(run(step_size=None) - run(step_size=0.04)).max() > 0.009
    assert np.abs(run(step_size=None) - x).max() == pytest.approx(0.1, abs=1e-6)  # 0.05 steps reach the ball's edge


def test_ifia_restarts_keep_the_best(digits_cnn):
    "Restart r starts from the r-th draw of the seed's generator, so more restarts keep a Kendall tau no larger, per example."
    model, x, y = digits_cnn
    x, y = x[:20], y[:20]
    runs = [ifia_topk(model, x, y, 0.2, 16, steps=5, step_size=0.03, restarts=r, seed=0, ig_steps=20, attack_ig_steps=8)
            for r in (1, 2, 3)]
    ev = runs[0].evaluated
    taus = np.array([r.kendall_tau[ev] for r in runs])
    assert (np.diff(taus, axis=0) <= 1e-12).all(), taus
    assert (taus[2] < taus[0] - 1e-3).sum() >= 3  # a later restart did better for several examples
    # the reported tau is the one of the kept point
    again = attribution_similarity(model, x[ev], runs[2].x_adv[ev], y[ev], 16, ig_steps=20)[1]
    np.testing.assert_allclose(again, taus[2], atol=1e-12)


def test_ifia_gradient_saliency_attacks_the_gradient_map(digits_cnn):
    """saliency='gradient' differentiates the simple-gradient map: it beats random sign noise of the same eps on that
    map (an attack on the IG map instead does no better than the noise here, where the two maps share ~57% of the top 16)."""
    from advex_lit.attacks import saliency_map
    from advex_lit.metrics import kendall_tau, topk_intersection
    model, x, y = digits_cnn
    x, y = x[:20], y[:20]
    eps, k = 0.2, 16
    result = ifia_topk(model, x, y, eps, k, steps=20, step_size=0.02, restarts=1, seed=0, saliency="gradient",
                       attack_ig_steps=10)
    ev = result.evaluated
    before = saliency_map(model, x[ev], y[ev], method="gradient")
    noise = [saliency_map(model, random_sign_perturbation(x[ev], eps, seed=s), y[ev], method="gradient") for s in range(3)]
    noise_topk = np.mean([topk_intersection(before, m, k, batched=True).mean() for m in noise])
    noise_tau = np.mean([np.nanmean(kendall_tau(before, m, batched=True)) for m in noise])
    # measured: top-k 0.76 vs 0.87 for noise, tau 0.65 vs 0.75; attacking the IG map instead: 0.85 and 0.72
    assert result.mean_topk_intersection < noise_topk - 0.05, (result.mean_topk_intersection, noise_topk)
    assert result.mean_kendall_tau < noise_tau - 0.04, (result.mean_kendall_tau, noise_tau)
