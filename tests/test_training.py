"advex_lit.training: objectives, closed forms, attribution regularization, checkpoints, validation."
import os

import numpy as np
import pytest
from dataclasses import asdict
from hypothesis import given, settings, strategies as st
from property_settings import examples

import keras

from advex_lit import attacks
from advex_lit.backend import make_train_step, to_numpy, value_and_weight_gradient
from advex_lit.data import load_dataset, signed_labels
from advex_lit.linear import adversarial_loss
from advex_lit.models import logistic_regression, small_cnn
from advex_lit.stable import stable_ig_loss
from advex_lit.training import (CHECKPOINT_FILE, METHODS, TrainConfig, accuracy, attribution_table, epoch_eps, l1_penalty,
                                loss_integrated_gradients, make_attack, make_objective, mean_loss, pgd_accuracy,
                                roc_auc, train, validate_config, make_optimizer, l2_penalty)
from advex_lit.training import checkpoint_fingerprint
from dataclasses import replace


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", limit_train=400, limit_test=200)


def _config(**kw):
    return TrainConfig(**{**dict(epochs=1, batch_size=50, learning_rate=3e-3), **kw})


def _logistic(d, rng, bias=True):
    model = logistic_regression(d, use_bias=bias)
    model.layers[-1].kernel.assign(rng.normal(size=(d, 1)).astype("float32"))
    if bias: model.layers[-1].bias.assign(rng.normal(size=(1,)).astype("float32"))
    return model


# --- objectives -----------------------------------------------------------------------------------------------------

def test_l1_penalty_value():
    model = small_cnn((8, 8, 1), 3, width=2)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    kernels = [l.kernel.numpy() for l in model.layers if hasattr(l, "kernel")]
    assert len(kernels) == 4  # two convolutions, two dense layers; biases excluded
    assert np.isclose(float(to_numpy(l1_penalty(model))), sum(np.abs(k).sum() for k in kernels), rtol=1e-5)
    x = rng.uniform(size=(5, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 2, 1, 0], "int32")
    value = float(to_numpy(make_objective("l1", TrainConfig(l1_lambda=0.3))(model, x, x, y)))
    assert np.isclose(value, float(to_numpy(mean_loss(model, x, y))) + 0.3 * sum(np.abs(k).sum() for k in kernels), rtol=1e-5)


@settings(max_examples=examples(5), deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.01, 0.5))
def test_closed_form_equals_pgd_worst_case(seed, eps):
    rng = np.random.default_rng(seed)
    d = 4
    model = _logistic(d, rng)
    x = rng.normal(size=(16, d)).astype("float32")
    y = rng.integers(0, 2, size=16).astype("int32")
    w, b = model.get_weights()
    z = eps * np.abs(w).sum() - signed_labels(y) * (x @ w[:, 0] + b[0])
    closed = np.logaddexp(0, z)  # g(eps ||w||_1 - y(<w, x> + b)), the closed form with a bias
    np.testing.assert_allclose(adversarial_loss(x, signed_labels(y), w[:, 0], eps),
                                   np.logaddexp(0, z + signed_labels(y) * b[0]), rtol=1e-5)  # same form, no bias
    x_pgd = attacks.pgd(model, x, y, eps, steps=30, step_size=eps / 5, clip=None, seed=seed)
    at_pgd = to_numpy(attacks.default_loss(model)(y, model(x_pgd)))
    np.testing.assert_allclose(at_pgd, closed, rtol=1e-4, atol=1e-5)
    x_star = make_attack("adversarial_closed_form", model, TrainConfig(eps=eps, clip=None))(x, y, 0)
    objective = float(to_numpy(make_objective("adversarial_closed_form", TrainConfig(eps=eps))(model, x, x_star, y)))
    assert np.isclose(objective, closed.mean(), rtol=1e-5)


@settings(max_examples=examples(5), deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 0.5))
def test_stable_ig_equals_adversarial_loss_and_gradient(seed, eps):
    rng = np.random.default_rng(seed)
    d = 6
    model = _logistic(d, rng, bias=False)
    x = rng.normal(size=(20, d)).astype("float32")
    y = rng.integers(0, 2, size=20).astype("int32")
    config = TrainConfig(eps=eps, clip=None)
    out = {}
    for method in ("adversarial_closed_form", "stable_ig"):
        x_star = make_attack(method, model, config)(x, y, 0)
        value, grads = value_and_weight_gradient(model, lambda: make_objective(method, config)(model, x, x_star, y))
        out[method] = (float(to_numpy(value)), to_numpy(grads[0]))
    w = model.get_weights()[0][:, 0]
    assert np.isclose(out["stable_ig"][0], stable_ig_loss(x, signed_labels(y), w, eps).mean(), rtol=1e-5, atol=1e-6)
    assert np.isclose(out["stable_ig"][0], out["adversarial_closed_form"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["stable_ig"][1], out["adversarial_closed_form"][1], rtol=1e-4, atol=1e-6)


def test_loss_ig_completeness():
    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    inp = keras.Input((4, 4, 1))
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, keras.layers.Dense(4)(hidden))  # smooth, so the Riemann sum converges fast
    x = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    x_prime = np.clip(x + rng.uniform(-0.3, 0.3, size=x.shape), 0, 1).astype("float32")
    y = np.array([0, 3, 1], "int32")
    ig = to_numpy(loss_integrated_gradients(model, x, x_prime, y, steps=64))
    loss = attacks.default_loss(model)
    change = to_numpy(loss(y, model(x_prime))) - to_numpy(loss(y, model(x)))
    np.testing.assert_allclose(ig.reshape(3, -1).sum(1), change, rtol=1e-3, atol=1e-5)


# --- training ------------------------------------------------------------------------------------------------------

def test_adversarial_training_raises_pgd_accuracy(digits):
    x, y = digits.x_train, digits.y_train
    eps = 0.1
    acc = {}
    for method, extra in (("natural", {}), ("adversarial", dict(eps=eps, attack_steps=3, attack_step_size=0.05))):
        keras.utils.set_random_seed(0)
        model, _ = train(small_cnn((8, 8, 1), 10, width=16), method, (x, y),
                         _config(epochs=8, batch_size=25, learning_rate=5e-3, **extra))
        acc[method] = pgd_accuracy(model, digits.x_test, digits.y_test, eps, steps=10, step_size=0.025)
    assert acc["adversarial"] > acc["natural"] + 0.1, acc


@pytest.mark.parametrize("method, extra", [("ig_norm", dict(ig_lambda=1.0)), ("ig_sum_norm", dict(ig_beta=0.5))])
def test_ig_regularized_step_is_finite_and_descends(digits, method, extra):
    keras.utils.set_random_seed(0)
    model = small_cnn((8, 8, 1), 10, width=4)
    config = TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.05, m_attack=4, m_grad=8, **extra)
    x, y = digits.x_train[:32], digits.y_train[:32].astype("int32")
    x_star = make_attack(method, model, config)(x, y, 0)
    assert np.abs(x_star - x).max() <= 0.1 + 1e-6 and x_star.min() >= 0 and x_star.max() <= 1
    objective = make_objective(method, config)
    before = float(to_numpy(objective(model, x, x_star, y)))
    step = make_train_step(model, keras.optimizers.SGD(0.05), lambda a, b, c: objective(model, a, b, c))
    values = [float(to_numpy(step(x, x_star, y))) for _ in range(5)]
    after = float(to_numpy(objective(model, x, x_star, y)))
    assert np.isfinite(values).all() and np.isclose(values[0], before, rtol=1e-5)
    assert after < before


def test_ig_norm_attack_increases_attribution_term(digits):
    model = small_cnn((8, 8, 1), 10, width=4)
    config = TrainConfig(eps=0.1, attack_steps=5, attack_step_size=0.03, m_attack=4, m_grad=4, ig_lambda=1.0)
    x, y = digits.x_train[:16], digits.y_train[:16].astype("int32")
    x_star = make_attack("ig_norm", model, config)(x, y, 0)
    rand = np.clip(x + np.random.default_rng(0).uniform(-0.1, 0.1, size=x.shape), 0, 1).astype("float32")
    size = lambda xp: np.abs(to_numpy(loss_integrated_gradients(model, x, xp, y, 4))).sum()
    assert size(x_star) > size(rand)


def _fresh_cnn(model_seed: int):
    "A small CNN whose initial weights come from model_seed."
    keras.utils.set_random_seed(model_seed)
    return small_cnn((8, 8, 1), 10, width=4)


def _straight_and_resumed(method, data, config, seed, model_seed, folder):
    "(model, history) trained straight through, and again resumed from a checkpoint written after epoch 1."
    straight = train(_fresh_cnn(model_seed), method, data, config, seed=seed)
    train(_fresh_cnn(model_seed), method, data, TrainConfig(**{**asdict(config), "epochs": 1}), seed=seed,
          checkpoint_dir=folder)
    assert (folder / CHECKPOINT_FILE).exists() and not any(p.name.endswith(".tmp.npz") for p in folder.iterdir())
    return straight, train(_fresh_cnn(model_seed), method, data, config, seed=seed, checkpoint_dir=folder)


def test_resume_reproduces_uninterrupted_run(digits, tmp_path):
    config = _config(epochs=3, eps=0.1, attack_steps=2, attack_step_size=0.05)
    data = (digits.x_train[:150], digits.y_train[:150])
    fresh = lambda: _fresh_cnn(5)
    folder = tmp_path / "ckpt"
    (straight, h1), (resumed, h2) = _straight_and_resumed("adversarial", data, config, 7, 5, folder)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1["batch_loss"] == h2["batch_loss"] and h2["epoch"] == [1, 2, 3]
    # a finished run is not redone: calling again changes nothing
    again, h3 = train(fresh(), "adversarial", data, config, seed=7, checkpoint_dir=folder)
    assert h3["epoch"] == [1, 2, 3]
    for a, b in zip(straight.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="different settings"):
        train(fresh(), "adversarial", data, config, seed=8, checkpoint_dir=folder)


def test_learning_rate_schedule_changes_the_rate_at_its_steps():
    "GTSRB's IG-NORM schedule of the NeurIPS paper: 1e-6, then 1e-4 from step 500, then 1e-5 from step 60,000."
    optimizer = make_optimizer(TrainConfig(optimizer="momentum", learning_rate=1e-6,
                                           lr_schedule=((500, 1e-4), (60_000, 1e-5))))
    rates = []
    for step in (0, 499, 500, 59_999, 60_000):
        optimizer.iterations.assign(step)
        rates.append(float(to_numpy(optimizer.learning_rate)))
    np.testing.assert_allclose(rates, [1e-6, 1e-6, 1e-4, 1e-4, 1e-5], rtol=1e-6)
    assert float(make_optimizer(TrainConfig(learning_rate=3e-3)).learning_rate) == pytest.approx(3e-3)


def test_schedule_resumes_from_a_checkpoint(digits, tmp_path):
    "A schedule whose rate drops inside epoch 2 gives the same weights straight through and resumed after epoch 1."
    config = _config(epochs=2, optimizer="momentum", learning_rate=0.05, lr_schedule=((4, 0.005),), l2_coupled=1e-3)
    data = (digits.x_train[:150], digits.y_train[:150])  # 3 batches an epoch: the drop at step 4 is in epoch 2
    (straight, _), (resumed, _) = _straight_and_resumed("natural", data, config, 1, 3, tmp_path / "ckpt")
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    constant, _ = train(_fresh_cnn(3), "natural", data, replace(config, lr_schedule=None), seed=1)
    assert not all(np.array_equal(a, b) for a, b in zip(straight.get_weights(), constant.get_weights()))


def test_coupled_l2_adds_half_the_squared_kernel_norm_and_its_gradient():
    "objective + wd * sum(W**2) / 2 over kernels (biases excluded); its weight gradient grows by wd * W."
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)])
    for v in model.trainable_variables: v.assign(np.random.default_rng(1).normal(size=v.shape).astype("float32"))
    x = np.random.default_rng(2).normal(size=(6, 5)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2], "int32")
    wd = 0.05
    plain = make_objective("natural", TrainConfig())
    coupled = make_objective("natural", TrainConfig(l2_coupled=wd))
    kernels = [to_numpy(v) for v in model.trainable_variables if v.path.endswith("kernel")]
    expected = wd * sum(float(np.sum(k.astype(np.float64) ** 2)) for k in kernels) / 2
    assert float(to_numpy(l2_penalty(model))) * wd == pytest.approx(expected, rel=1e-6)
    gap = float(to_numpy(coupled(model, x, x, y))) - float(to_numpy(plain(model, x, x, y)))
    assert gap == pytest.approx(expected, rel=1e-5)
    _, g_plain = value_and_weight_gradient(model, lambda: plain(model, x, x, y))
    _, g_coupled = value_and_weight_gradient(model, lambda: coupled(model, x, x, y))
    for v, a, b in zip(model.trainable_variables, g_plain, g_coupled):
        extra = wd * to_numpy(v) if v.path.endswith("kernel") else 0.0
        np.testing.assert_allclose(to_numpy(b) - to_numpy(a), extra, atol=1e-6)


def test_checkpoint_fingerprint_leaves_out_the_later_fields_at_their_defaults():
    "Checkpoints written before lr_schedule and l2_coupled existed still resume: those fields appear only when set."
    plain = checkpoint_fingerprint("natural", TrainConfig(), 0)
    assert "lr_schedule" not in plain and "l2_coupled" not in plain and "learning_rate" in plain
    set_ = checkpoint_fingerprint("natural", TrainConfig(l2_coupled=2e-4, lr_schedule=((500, 1e-3),)), 0)
    assert set_["l2_coupled"] == 2e-4 and set_["lr_schedule"] == ((500, 1e-3),)


def test_resume_restores_dropout_randomness(digits, tmp_path):
    "A model with a random layer resumes bit-identically: the checkpoint holds the layers' seed-generator states."
    config = _config(epochs=3)
    data = (digits.x_train[:100].reshape(100, -1), digits.y_train[:100])
    def fresh():
        keras.utils.set_random_seed(2)
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dropout(0.5), keras.layers.Dense(10)])
    straight, h1 = train(fresh(), "natural", data, config, seed=1, verbose=False)
    folder = tmp_path / "ckpt"
    train(fresh(), "natural", data, TrainConfig(**{**asdict(config), "epochs": 1}), seed=1, checkpoint_dir=folder,
          verbose=False)
    keras.utils.set_random_seed(99)  # a different global state in the "new process" must not matter
    resumed, h2 = train(fresh(), "natural", data, config, seed=1, checkpoint_dir=folder, verbose=False)
    assert h1["batch_loss"] == h2["batch_loss"]
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluation_helpers():
    rng = np.random.default_rng(0)
    model = _logistic(3, rng)
    x = rng.normal(size=(200, 3)).astype("float32")
    s = to_numpy(model(x))[:, 0]
    y = (s > 0).astype("int32")
    assert accuracy(model, x, y) == 1.0 and roc_auc(model, x, y) == 1.0
    assert roc_auc(model, x, 1 - y) == 0.0
    table = attribution_table({"a": model, "b": model}, x[:5], y[:5], steps=20)
    assert list(table.columns[:3]) == ["model", "example", "method"] and len(table) == 10
    assert table["gini"].between(0, 1).all()
    trained, history = train(logistic_regression(3), "natural", (x, y), TrainConfig(epochs=2, learning_rate=0.1, validation_fraction=0.25),
                             verbose=True)
    assert history["epoch"] == [1, 2] and len(history["val_accuracy"]) == len(history["val_loss"]) == 2
    assert history["loss"][1] < history["loss"][0] and len(history["batch_loss"]) == 2 * 3  # 150 examples, batch 50


def test_eps_warmup_schedule_and_training(digits):
    ramp = _config(eps=0.2, attack_steps=2, attack_step_size=0.05, eps_warmup_epochs=3)
    assert np.allclose([epoch_eps(ramp, k) for k in range(5)], [0.2 / 3, 0.4 / 3, 0.2, 0.2, 0.2])
    assert epoch_eps(TrainConfig(eps=0.2), 7) == 0.2
    with pytest.raises(ValueError, match="epoch"): epoch_eps(ramp, -1)

    def weights_after(method, config, epochs, **extra):
        keras.utils.set_random_seed(0)
        model = small_cnn((8, 8, 1), 10, width=2)
        cfg = TrainConfig(**{**asdict(config), "epochs": epochs, **extra})
        train(model, method, (digits.x_train[:100], digits.y_train[:100]), cfg, seed=1, verbose=False)
        return model.get_weights()

    def same(a, b): return all(np.array_equal(u, v) for u, v in zip(a, b))
    # epoch 1 of the warm-up trains exactly like one epoch at radius eps / 3, and differs from one at the full radius
    warm = weights_after("adversarial", ramp, 1)
    assert same(warm, weights_after("adversarial", ramp, 1, eps=0.2 / 3, eps_warmup_epochs=0))
    assert not same(warm, weights_after("adversarial", ramp, 1, eps_warmup_epochs=0))
    ig = _config(eps=0.2, attack_steps=2, attack_step_size=0.05, ig_beta=0.1, m_attack=2, m_grad=2, eps_warmup_epochs=2)
    assert same(weights_after("ig_sum_norm", ig, 1), weights_after("ig_sum_norm", ig, 1, eps=0.1, eps_warmup_epochs=0))


# --- validation ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, config, field", [
    ("bogus", TrainConfig(), "method"),
    ("adversarial", TrainConfig(eps=-0.1, attack_steps=3, attack_step_size=0.1), "eps"),
    ("adversarial", TrainConfig(eps=0.1, attack_steps=0, attack_step_size=0.1), "attack_steps"),
    ("adversarial", TrainConfig(eps=0.1, attack_steps=3), "attack_step_size"),
    ("l1", TrainConfig(), "l1_lambda"),
    ("l1", TrainConfig(l1_lambda=-1.0), "l1_lambda"),
    ("ig_norm", TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.1, ig_lambda=1.0, m_attack=5), "m_grad"),
    ("ig_sum_norm", TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.1, ig_beta=-1.0, m_attack=5, m_grad=5), "ig_beta"),
    ("natural", TrainConfig(epochs=0), "epochs"),
    ("natural", TrainConfig(learning_rate=0.0), "learning_rate"),
    ("natural", TrainConfig(optimizer="rmsprop"), "optimizer"),
    ("natural", TrainConfig(clip=(1.0, 0.0)), "clip"),
    ("stable_ig", TrainConfig(), "eps"),
    ("adversarial", TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.1, eps_warmup_epochs=-1), "eps_warmup_epochs"),
    ("stable_ig", TrainConfig(eps=0.1, eps_warmup_epochs=2), "eps_warmup_epochs"),
    ("natural", TrainConfig(eps_warmup_epochs=1), "eps_warmup_epochs"),
    ("natural", TrainConfig(l2_coupled=-2e-4), "l2_coupled"),
    ("natural", TrainConfig(lr_schedule=((0, 1e-3),)), "lr_schedule"),
    ("natural", TrainConfig(lr_schedule=((500, 1e-3), (400, 1e-4))), "lr_schedule"),
    ("natural", TrainConfig(lr_schedule=((500, 0.0),)), "lr_schedule"),
    ("natural", TrainConfig(lr_schedule=(500, 1e-3)), "lr_schedule"),
])
def test_invalid_configs_raise_before_work(method, config, field, tmp_path):
    model = logistic_regression(4)
    before = [w.copy() for w in model.get_weights()]
    data = (np.zeros((8, 4), "float32"), np.zeros(8, "int64"))
    with pytest.raises(ValueError, match=field):
        train(model, method, data, config, checkpoint_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_one_layer_methods_refuse_deep_models(digits):
    with pytest.raises(ValueError, match="one-layer"):
        train(small_cnn((8, 8, 1), 10, width=2), "stable_ig", (digits.x_train, digits.y_train), TrainConfig(eps=0.1))


def test_stable_ig_refuses_probability_outputs():
    "Stable-IG is written for the logistic loss of a logit: a sigmoid output (in the layer or after it) is refused."
    x, y = np.random.default_rng(0).normal(size=(16, 3)).astype("float32"), np.arange(16) % 2
    in_layer = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    after = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1), keras.layers.Activation("sigmoid")])
    for model in (in_layer, after):
        with pytest.raises(ValueError, match="logit"):
            train(model, "stable_ig", (x, y), TrainConfig(eps=0.1), verbose=False)
    train(logistic_regression(3), "stable_ig", (x, y), TrainConfig(eps=0.1), verbose=False)  # a logit model is fine


def test_labels_must_fit_the_model_outputs(digits):
    x, y = digits.x_train[:20], digits.y_train[:20].astype("int64")
    model = small_cnn((8, 8, 1), 10, width=2)
    before = [w.copy() for w in model.get_weights()]
    for bad in (np.where(np.arange(20) == 3, 10, y), np.where(np.arange(20) == 5, -1, y)):
        with pytest.raises(ValueError, match="class indices 0..9"):
            train(model, "natural", (x, bad), TrainConfig(), verbose=False)
    with pytest.raises(ValueError, match="validation"):
        train(model, "natural", (x, y), TrainConfig(validation_data=(x, np.full(20, 12))), verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_progress_bar_by_default(capsys):
    x, y = np.random.default_rng(1).normal(size=(40, 3)).astype("float32"), np.arange(40) % 2
    train(logistic_regression(3), "natural", (x, y), TrainConfig(epochs=1, batch_size=10))
    assert "4/4" in capsys.readouterr().out  # Keras progress bar over the 4 batches
    train(logistic_regression(3), "natural", (x, y), TrainConfig(epochs=1, batch_size=10), verbose=False)
    assert capsys.readouterr().out == ""


def test_all_methods_listed():
    assert set(METHODS) == {"natural", "l1", "adversarial", "fgsm", "adversarial_closed_form", "stable_ig", "ig_norm",
                            "ig_sum_norm"}
    with pytest.raises(TypeError):
        validate_config("natural", {"epochs": 1})


def test_fgsm_attack_and_training(digits):
    model = small_cnn((8, 8, 1), 10, width=2)
    config = TrainConfig(epochs=1, eps=0.05)
    x, y = digits.x_train[:20], digits.y_train[:20].astype("int32")
    x_star = make_attack("fgsm", model, config)(x, y, 0)
    moved = np.abs(x_star - x)
    full = np.isclose(moved, 0.05, atol=1e-6)
    assert moved.max() <= 0.05 + 1e-6 and full.mean() > 0.2
    assert (full | (moved == 0) | (x_star == 0) | (x_star == 1)).all()  # a full sign step unless clipped or flat
    _, history = train(model, "fgsm", (x, y), config)
    assert np.isfinite(history["batch_loss"]).all()


# --- IG-NORM and IG-SUM-NORM against independent references ---------------------------------------------------------

IG_CONFIG = TrainConfig(eps=0.3, attack_steps=1, attack_step_size=0.1, ig_lambda=0.7, ig_beta=0.3, m_attack=4, m_grad=64)


def _pair(rng, n, d, radius=0.3):
    x = rng.uniform(size=(n, d)).astype("float32")
    return x, (x + rng.uniform(-radius, radius, size=x.shape)).astype("float32")


def _reference_objectives(natural, at_x_prime, ig):
    "IG-NORM = CE(x) + lambda mean ||IG||_1 and IG-SUM-NORM = CE(x') + beta mean ||IG||_1, from independent parts."
    size = np.abs(ig).reshape(len(ig), -1).sum(axis=1).mean()
    return {"ig_norm": natural.mean() + IG_CONFIG.ig_lambda * size,
            "ig_sum_norm": at_x_prime.mean() + IG_CONFIG.ig_beta * size}


def test_ig_objectives_on_a_logit_model_match_the_closed_form_ig():
    "One Dense(1) logit: the loss's IG has the exact chord form of the Stable-IG chapter (`one_layer_loss_ig`)."
    from advex_lit.stable import one_layer_loss_ig
    rng = np.random.default_rng(4)
    model = _logistic(5, rng, bias=False)
    x, x_prime = _pair(rng, 12, 5, radius=0.6)
    y = rng.integers(0, 2, size=12).astype("int32")
    s, w = signed_labels(y), model.get_weights()[0][:, 0].astype(np.float64)
    ig = one_layer_loss_ig(x, x_prime, s, w)
    assert ((ig > 0).any(axis=1) & (ig < 0).any(axis=1)).mean() > 0.5  # mixed signs: ||IG||_1 > |sum IG|
    expected = _reference_objectives(np.logaddexp(0, -s * (x @ w)), np.logaddexp(0, -s * (x_prime @ w)), ig)
    for method, value in expected.items():
        got = float(to_numpy(make_objective(method, IG_CONFIG)(model, x, x_prime, y)))
        assert np.isclose(got, value, rtol=2e-5), (method, got, value)


def test_ig_objectives_on_a_softmax_mlp_match_ig_of_the_loss():
    "A tanh MLP with three logits: the reference IG is `integrated_gradients` of -log softmax_y with 512 steps."
    from advex_lit.attribution import integrated_gradients
    rng = np.random.default_rng(1)
    keras.utils.set_random_seed(1)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Dense(5, activation="tanh")(inp)))
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    x, x_prime = _pair(rng, 8, 4)
    y = rng.integers(0, 3, size=8).astype("int32")
    neg_log_p = lambda u: -keras.ops.log_softmax(model(u))
    ig = integrated_gradients(neg_log_p, x_prime, baseline=x, target=y, steps=512)
    loss_at = lambda u: to_numpy(neg_log_p(u))[np.arange(8), y].astype(np.float64)
    assert ((ig > 0).any(axis=1) & (ig < 0).any(axis=1)).mean() > 0.5
    expected = _reference_objectives(loss_at(x), loss_at(x_prime), ig)
    for method, value in expected.items():
        got = float(to_numpy(make_objective(method, IG_CONFIG)(model, x, x_prime, y)))
        assert np.isclose(got, value, rtol=1e-4), (method, got, value)


@pytest.mark.parametrize("method", ["ig_norm", "ig_sum_norm"])
def test_ig_objective_weight_gradient_matches_finite_differences(method):
    """The training gradient goes through the Riemann-sum IG (a second-order term): on a float64 model it matches
    central differences of the objective along random weight directions, and one SGD step of `make_train_step` moves
    the weights by -lr times it."""
    rng = np.random.default_rng(1)
    keras.utils.set_random_seed(1)
    inp = keras.Input((4,), dtype="float64")
    hidden = keras.layers.Dense(5, activation="tanh", dtype="float64")(inp)
    model = keras.Model(inp, keras.layers.Dense(3, dtype="float64")(hidden))
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    x = rng.uniform(size=(6, 4))
    x_prime = x + rng.uniform(-0.3, 0.3, size=x.shape)
    y = rng.integers(0, 3, size=6).astype("int32")
    config = TrainConfig(**{**asdict(IG_CONFIG), "ig_lambda": 1.0, "ig_beta": 0.5, "m_grad": 16})
    objective = make_objective(method, config)
    value, grads = value_and_weight_gradient(model, lambda: objective(model, x, x_prime, y))
    grads, weights = [to_numpy(g) for g in grads], model.get_weights()
    assert all(g.dtype == np.float64 for g in grads)
    h = 1e-5
    for _ in range(4):
        direction = [rng.normal(size=w.shape) for w in weights]
        sides = []
        for sign in (1, -1):
            model.set_weights([w + sign * h * u for w, u in zip(weights, direction)])
            sides.append(float(to_numpy(objective(model, x, x_prime, y))))
        model.set_weights(weights)
        analytic = sum(float((g * u).sum()) for g, u in zip(grads, direction))
        assert np.isclose(analytic, (sides[0] - sides[1]) / (2 * h), rtol=1e-6, atol=1e-8)
    lr = 0.1
    step = make_train_step(model, keras.optimizers.SGD(lr), lambda a, b, c: objective(model, a, b, c))
    assert np.isclose(float(to_numpy(step(x, x_prime, y))), float(to_numpy(value)), rtol=1e-10)
    for before, after, g in zip(weights, model.get_weights(), grads):
        np.testing.assert_allclose((before - after) / lr, g, rtol=1e-6, atol=1e-9)
