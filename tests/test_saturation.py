"""Attacks and adversarial training on saturated outputs (logits of +-40): they work on the logits, so every attacked
coordinate moves by exactly eps in the sign of the true loss gradient, for sigmoid, softmax and logit outputs alike."""
import keras
import numpy as np
import pytest

from advex_lit import attacks
from advex_lit.attacks import cross_entropy, fgsm, ifia_topk, logit_model, pgd, predict_labels
from advex_lit.backend import set_seed, to_numpy
from advex_lit.training import TrainConfig, make_attack, mean_loss

D, EPS = 6, 0.05


def one_layer(kernel, activation, dtype):
    "Dense model without bias, fixed kernel (d, k), in float32 or float64."
    model = keras.Sequential([keras.Input((kernel.shape[0],), dtype=dtype),
                              keras.layers.Dense(kernel.shape[1], use_bias=False, activation=activation, dtype=dtype)])
    model.layers[0].kernel.assign(kernel.astype(dtype))
    return model


def saturated_batch(dtype, margin):
    "Weights w and inputs x whose logit <w, x> is +-margin (half the rows each), labels half right, half wrong."
    rng = np.random.default_rng(0)
    w = rng.choice([-1.0, 1.0], size=D) * rng.uniform(0.5, 1.5, size=D)
    x = rng.uniform(1.0, 2.0, size=(8, D)) * np.sign(w)  # <w, x> > 0 with every |x_i| > eps
    x *= margin / (x @ w)[:, None]
    x[::2] *= -1  # logits alternate -margin, +margin
    y = np.array([0, 1, 1, 0, 0, 1, 1, 0])  # right, right, wrong, wrong, ...
    return w, x.astype(dtype), y


def binary_vertex(w, x, y, eps):
    "The closed-form worst case of the logistic loss: x - eps s sign(w), s = 2y - 1."
    return x - eps * (2 * y - 1)[:, None] * np.sign(w)[None, :]


CASES = [(dtype, activation) for dtype in ("float32", "float64") for activation in ("sigmoid", None)]


@pytest.mark.parametrize("dtype,activation", CASES)
def test_fgsm_and_pgd_move_saturated_binary_examples_by_eps(dtype, activation):
    w, x, y = saturated_batch(dtype, 40.0)
    model = one_layer(w[:, None], activation, dtype)
    logits = to_numpy(logit_model(model)(x))[:, 0]
    assert np.allclose(np.abs(logits), 40.0, rtol=1e-5)
    expected = binary_vertex(w, x.astype(np.float64), y, EPS)
    tol = 1e-6 if dtype == "float32" else 1e-12
    assert np.abs(fgsm(model, x, y, EPS, clip=None) - expected).max() < tol
    assert np.abs(pgd(model, x, y, EPS, steps=4, step_size=EPS / 1.5, clip=None) - expected).max() < tol


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fgsm_moves_saturated_softmax_examples_by_eps(dtype):
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(D, 2))  # two unrelated class columns: sign(W_1 - W_0) differs from sign(W_1) somewhere
    difference = kernel[:, 1] - kernel[:, 0]
    _, x, y = saturated_batch(dtype, 40.0)
    x = rng.uniform(1.0, 2.0, size=x.shape) * np.sign(difference)
    x = (x * 40.0 / (x @ difference)[:, None] * np.where(np.arange(len(x)) % 2, 1.0, -1.0)[:, None]).astype(dtype)
    model = one_layer(kernel, "softmax", dtype)
    if dtype == "float32":  # saturated: the top probability is 1 to float32 precision (exactly 1, or one ulp below
        # it where the CPU's vectorized exp rounds exp(0) down), so 1 - p carries no gradient information
        assert (1.0 - to_numpy(model(x)).max(axis=1) <= np.finfo(np.float32).epsneg).all()
    # CE gradient in x for two classes: p_other (W_other - W_y), of sign (1 - 2y) sign(W_1 - W_0)
    expected = x.astype(np.float64) + EPS * (1 - 2 * y)[:, None] * np.sign(difference)[None, :]
    tol = 1e-6 if dtype == "float32" else 1e-12
    assert np.abs(fgsm(model, x, y, EPS, clip=None) - expected).max() < tol
    assert np.abs(pgd(model, x, y, EPS, steps=4, step_size=EPS / 1.5, clip=None) - expected).max() < tol


@pytest.mark.parametrize("dtype,activation", CASES)
def test_adversarial_training_attack_moves_saturated_examples(dtype, activation):
    w, x, y = saturated_batch(dtype, 40.0)
    model = one_layer(w[:, None], activation, dtype)
    config = TrainConfig(eps=EPS, attack_steps=4, attack_step_size=EPS / 1.5, clip=None)
    x_star = make_attack("adversarial", model, config)(x, y, 0)
    expected = binary_vertex(w, x.astype(np.float64), y, EPS)
    assert np.abs(x_star - expected).max() < (1e-6 if dtype == "float32" else 1e-12)
    # the training loss of the sigmoid model is the logistic loss of its logit, even where the probability is 0 or 1
    s = 2 * y - 1
    reference = np.logaddexp(0.0, -s * (x.astype(np.float64) @ w)).mean()
    assert abs(float(to_numpy(mean_loss(model, x, y, training=False))) - reference) < 1e-5 * max(1.0, reference)


def test_cross_entropy_matches_log_softmax_and_is_stable():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(50, 4)) * 3
    y = rng.integers(0, 4, size=50)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert np.allclose(to_numpy(cross_entropy(y, z)), -log_softmax[np.arange(50), y], atol=1e-10)
    # one logit: the logistic loss log(1 + exp(-s z)), finite and accurate at |z| = 100 in float32
    z1 = np.array([[-100.0], [100.0], [0.5]], np.float32)
    y1 = np.array([1, 1, 0])
    assert np.allclose(to_numpy(cross_entropy(y1, z1)), [100.0, np.exp(-100.0), np.logaddexp(0, 0.5)], rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ifia_moves_saturated_examples_by_eps(dtype):
    "On a linear softmax model the top-k share falls fastest by shrinking |x_i| on the top-k set and growing it elsewhere."
    w, x, y = saturated_batch(dtype, 20.0)
    y = (x @ w > 0).astype(int)  # the class the model predicts (label 1 scores <w, x>), so every example is attacked
    model = one_layer(np.stack([-w, w], axis=1), "softmax", dtype)
    assert (predict_labels(model, x) == y).all()
    k = 2
    result = ifia_topk(model, x, y, eps=EPS, k=k, steps=4, step_size=EPS / 1.5, restarts=1, ig_steps=8, clip=None)
    saliency = np.abs(np.where(y[:, None] == 1, w, -w) * x)  # |IG| of the true logit of a linear model: |W_y,i x_i|
    top = np.zeros_like(saliency, dtype=bool)
    np.put_along_axis(top, np.argsort(-saliency, axis=1)[:, :k], True, axis=1)
    expected = x + EPS * np.where(top, -1.0, 1.0) * np.sign(x)
    assert result.evaluated.all() and result.label_changed == 0
    assert np.abs(result.x_adv - expected).max() < (1e-6 if dtype == "float32" else 1e-12)


def test_labels_out_of_range_for_the_model_are_refused():
    set_seed(0)
    binary = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    three = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    x = np.zeros((2, 3), np.float32)
    for call in (lambda: pgd(binary, x, [0, 2], 0.1), lambda: fgsm(binary, x, [7, 0], 0.1),
                 lambda: attacks.adversarial_accuracy(binary, x, [0, 2], 0.1, steps=1)):
        with pytest.raises(ValueError, match="`y` must hold labels in \\{0, 1\\}"):
            call()
    with pytest.raises(ValueError, match="class indices 0..2"):
        ifia_topk(three, x, [0, 3], eps=0.1, k=1, steps=1, step_size=0.1)


def test_logit_model_refuses_what_it_cannot_read():
    class Wrapped(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, activation="sigmoid")

        def call(self, x):
            return self.dense(x)
    model = Wrapped()
    model(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="not a functional or Sequential model"):
        logit_model(model)
