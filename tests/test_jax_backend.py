"""The JAX backend end to end on this CPU: every experiment's first tiny run (every training method, IG, PGD, IFIA, the
tabular sweeps), DeepSHAP's clear refusal, and IG / PGD equal to TensorFlow's on the same weights."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")
from advex_lit import attacks  # noqa: E402
from advex_lit.attribution import integrated_gradients  # noqa: E402
from advex_lit.experiments import get_experiment, list_experiments  # noqa: E402
from advex_lit.models import small_cnn  # noqa: E402
from advex_lit.training import TrainConfig, make_attack  # noqa: E402

import advex_lit.exp_images, advex_lit.exp_robust, advex_lit.exp_tabular  # noqa: E401,E402,F401

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    "Weights and inputs from this (TensorFlow) process, then the child under KERAS_BACKEND=jax."
    out = tmp_path_factory.mktemp("jax")
    import keras
    keras.utils.set_random_seed(3)
    model = small_cnn((8, 8, 1), 3, width=2)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(6, 8, 8, 1)).astype(np.float32), np.array([0, 1, 2, 0, 1, 2])
    np.savez(out / "weights.npz", **{f"w{i}": w for i, w in enumerate(model.get_weights())}, x=x, y=y)
    keras.utils.set_random_seed(4)  # the weights the child's model takes after its kernels were compiled
    np.savez(out / "other_weights.npz", *small_cnn((8, 8, 1), 3, width=2).get_weights())
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "jax_child.py"), str(out)], env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, model, x, y


def test_every_experiment_runs_under_jax(jax_run):
    out = jax_run[0]
    ran = {p.stem: json.loads(p.read_text()) for p in (out / "first_runs").glob("*.json")}
    package = {n for n in list_experiments() if get_experiment(n).execute.__module__.startswith("advex_lit.")}
    assert set(ran) == package  # every experiment of the package (tests may register their own as well)
    numbers = [v for m in ran.values() for v in m.values() if isinstance(v, float)]
    assert numbers and all(np.isfinite(v) or np.isnan(v) for v in numbers)
    assert 0 <= ran["table2"]["pgd_accuracy"] <= ran["table2"]["natural_accuracy"] <= 1


def test_deep_shap_refuses_jax_with_a_clear_message(jax_run):
    message = (jax_run[0] / "deep_shap.txt").read_text()
    assert "KERAS_BACKEND=tensorflow" in message and "n_shap=0" in message


def test_ig_and_pgd_agree_with_tensorflow_on_the_same_weights(jax_run):
    out, model, x, y = jax_run
    with np.load(out / "agreement.npz") as f: ig_jax, adv_jax = f["ig"], f["adv"]
    ig_tf = np.asarray(integrated_gradients(model, x, target=y, steps=16))
    adv_tf = np.asarray(attacks.pgd(model, x, y, 0.1, 5, 0.02, random_start=False))
    np.testing.assert_allclose(ig_jax, ig_tf, atol=1e-5, rtol=1e-4)
    assert np.abs(adv_jax - x).max() <= 0.1 + 1e-6
    assert np.mean(np.isclose(adv_jax, adv_tf, atol=1e-5)) > 0.99  # a sign step may differ where a gradient is ~0


def test_cached_kernels_see_changed_weights_under_jax(jax_run):
    "jax.jit keeps the arrays it traced with: a kernel cached on a model must still follow set_weights (and training)."
    out, model, x, y = jax_run
    changed = small_cnn((8, 8, 1), 3, width=2)  # a fresh TensorFlow model with the child's new weights
    with np.load(out / "other_weights.npz") as f: changed.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])
    with np.load(out / "changed.npz") as f: jax_side = {k: f[k] for k in f.files}
    np.testing.assert_allclose(jax_side["ig"], integrated_gradients(changed, x, target=y, steps=16), atol=1e-5, rtol=1e-4)
    tf_side = {"adv": attacks.pgd(changed, x, y, 0.1, 5, 0.02, random_start=False),
               "ifia": attacks.ifia_topk(changed, x, y, eps=0.1, k=8, steps=3, step_size=0.02, restarts=1, ig_steps=8,
                                         attack_ig_steps=4, seed=0).x_adv,
               "ig_norm": make_attack("ig_norm", changed, TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.03,
                                                                      ig_lambda=1.0, m_attack=4, m_grad=4))(x, y, 0)}
    for name, tf_value in tf_side.items():  # sign steps: one may differ where a gradient is ~0
        assert np.mean(np.isclose(jax_side[name], tf_value, atol=1e-5)) > 0.99, name  # stale weights: 0.05 to 0.67


def test_attacks_agree_with_tensorflow_where_attributions_vanish(jax_run):
    "On exact zeros |IG| has a kink: both backends take sign(0) = 0 there (JAX's own abs takes slope 1)."
    out, _, x, _ = jax_run
    model = small_cnn((8, 8, 1), 3, width=2)  # the child's model ends with these weights
    with np.load(out / "other_weights.npz") as f: model.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])
    with np.load(out / "zeros.npz") as f: jax_side = {k: f[k] for k in f.files}
    assert np.array_equal(jax_side["slope"], np.zeros(3))
    x0 = x.copy()
    x0[:, :, :4] = 0.0
    y0 = jax_side["y"]
    assert np.array_equal(attacks.predict_labels(model, x0), y0)
    tf_side = {"ifia": attacks.ifia_topk(model, x0, y0, eps=0.1, k=8, steps=3, step_size=0.02, restarts=1, ig_steps=8,
                                         attack_ig_steps=4, seed=0).x_adv,
               "ig_norm": make_attack("ig_norm", model, TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.03,
                                                                    ig_lambda=1.0, m_attack=4, m_grad=4))(x0, y0, 0)}
    # with JAX's own abs: 80% of the IFIA coordinates agree and 3 of the 384 IG-NORM ones differ; here all agree
    assert np.mean(np.isclose(jax_side["ifia"], tf_side["ifia"], atol=1e-5)) > 0.99
    assert np.sum(~np.isclose(jax_side["ig_norm"], tf_side["ig_norm"], atol=1e-5)) <= 1
