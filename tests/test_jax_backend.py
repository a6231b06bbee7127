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
