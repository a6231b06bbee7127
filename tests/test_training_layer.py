"IG-NORM / IG-SUM-NORM with the attribution at a hidden layer h (NeurIPS eq. 4 with h): completeness, objective, training."
import keras
import numpy as np
import pytest

from advex_lit import attacks
from advex_lit.backend import set_seed, to_numpy
from advex_lit.training import TrainConfig, loss_integrated_gradients, make_objective, train, validate_config


@pytest.fixture(scope="module")
def net():
    set_seed(0)
    inputs = keras.Input((5,), dtype="float64")
    h = keras.layers.Dense(4, activation="tanh", name="h", dtype="float64")(inputs)
    out = keras.layers.Dense(3, name="logits", dtype="float64")(keras.layers.Dense(6, activation="tanh", dtype="float64")(h))
    return keras.Model(inputs, out)


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 5))
    return x, np.clip(x + rng.uniform(-0.3, 0.3, size=x.shape), 0, 1), rng.integers(0, 3, size=n)


def test_layer_ig_of_the_loss_is_complete(net):
    x, xp, y = batch()
    ig = to_numpy(loss_integrated_gradients(net, x, xp, y, 256, layer="h"))
    assert ig.shape == (6, 4)  # shaped like h(x), not like x
    loss = lambda u: to_numpy(attacks.cross_entropy(y, net(u)))
    assert np.allclose(ig.sum(axis=1), loss(xp) - loss(x), atol=1e-5)
    input_ig = to_numpy(loss_integrated_gradients(net, x, xp, y, 256))
    assert np.allclose(input_ig.sum(axis=1), ig.sum(axis=1), atol=1e-5) and not np.allclose(np.abs(input_ig).sum(1), np.abs(ig).sum(1))


@pytest.mark.parametrize("method", ["ig_norm", "ig_sum_norm"])
def test_layer_objective_is_cross_entropy_plus_weighted_l1_of_layer_ig(net, method):
    x, xp, y = batch(seed=1)
    config = TrainConfig(eps=0.3, attack_steps=1, attack_step_size=0.1, ig_lambda=0.7, ig_beta=0.4, m_attack=2, m_grad=64,
                         ig_layer="h")
    value = float(to_numpy(make_objective(method, config)(net, x, xp, y)))
    ig = to_numpy(loss_integrated_gradients(net, x, xp, y, 64, layer="h"))
    ce = lambda u: to_numpy(attacks.cross_entropy(y, net(u))).mean()
    expected = ce(x) + 0.7 * np.abs(ig).sum(1).mean() if method == "ig_norm" else ce(xp) + 0.4 * np.abs(ig).sum(1).mean()
    assert value == pytest.approx(expected, rel=1e-6)


def test_training_with_a_layer_attribution_runs_and_refuses_unknown_layers(net):
    x, _, y = batch(40, seed=2)
    config = TrainConfig(epochs=2, batch_size=20, learning_rate=1e-2, eps=0.1, attack_steps=1, attack_step_size=0.1,
                         ig_lambda=1.0, m_attack=2, m_grad=4, ig_layer="h", clip=None)
    _, history = train(net, "ig_norm", (x, y), config, verbose=False)
    assert np.isfinite(history["batch_loss"]).all()
    with pytest.raises(ValueError, match="not a layer of the model"):
        train(net, "ig_norm", (x, y), TrainConfig(**{**config.__dict__, "ig_layer": "nope"}), verbose=False)
    with pytest.raises(ValueError, match="ig_layer"):
        validate_config("ig_norm", TrainConfig(**{**config.__dict__, "ig_layer": 3}))
