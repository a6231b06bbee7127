"""Run under KERAS_BACKEND=jax by tests/test_jax_backend.py: `python tests/jax_child.py OUT`.

Writes OUT/first_runs/<experiment>.json (the first tiny run of every experiment: every training method, IG, PGD, IFIA,
the tabular and FEAT-INDEP sweeps), OUT/deep_shap.txt (the message DeepSHAP refuses with) and OUT/agreement.npz (IG
and PGD of the model whose weights the parent wrote to OUT/weights.npz) and OUT/changed.npz (IG, PGD, the IFIA and the
IG-NORM attack step of the same model object after its weights changed: compiled kernels cached on the model must see
the new weights) and OUT/zeros.npz (the IFIA and the IG-NORM attack step on inputs that are half exact zeros, where
|attribution| has its kink, and the slope of abs_sign_gradient at 0)."""
import os
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402

import tiny_experiments as tiny  # noqa: E402
from advex_lit import attacks  # noqa: E402
from advex_lit.attribution import deep_shap, integrated_gradients  # noqa: E402
from advex_lit.backend import abs_sign_gradient, backend_name, input_gradient, to_numpy  # noqa: E402
from advex_lit.models import small_cnn  # noqa: E402
from advex_lit.training import TrainConfig, make_attack  # noqa: E402

out = Path(sys.argv[1])
assert backend_name() == "jax", backend_name()
tiny.TINY_IMAGES["eval"]["n_shap"] = 0  # DeepSHAP needs TensorFlow (checked below)
tiny.use_tiny_settings()
(out / "first_runs").mkdir(parents=True, exist_ok=True)
tiny.first_runs(out / "first_runs", "forward")
with np.load(out / "weights.npz") as f:
    weights, x, y = [f[f"w{i}"] for i in range(len(f.files) - 2)], f["x"], f["y"]
model = small_cnn((8, 8, 1), 3, width=2)
model.set_weights(weights)
try:
    deep_shap(model, x[:2], x[2:4], y[:2])
    (out / "deep_shap.txt").write_text("no error")
except NotImplementedError as err:
    (out / "deep_shap.txt").write_text(str(err))
ig = np.asarray(integrated_gradients(model, x, target=y, steps=16))
adv = np.asarray(attacks.pgd(model, x, y, 0.1, 5, 0.02, random_start=False))
np.savez(out / "agreement.npz", ig=ig, adv=adv)

ig_norm_config = TrainConfig(eps=0.1, attack_steps=3, attack_step_size=0.03, ig_lambda=1.0, m_attack=4, m_grad=4)
ig_norm_step = make_attack("ig_norm", model, ig_norm_config)  # built once, as `train` does, then called every batch
ifia_args = dict(eps=0.1, k=8, steps=3, step_size=0.02, restarts=1, ig_steps=8, attack_ig_steps=4, seed=0)
attacks.ifia_topk(model, x, y, **ifia_args), ig_norm_step(x, y, 0)  # compile and cache every kernel on the old weights
with np.load(out / "other_weights.npz") as f: model.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])
np.savez(out / "changed.npz", ig=np.asarray(integrated_gradients(model, x, target=y, steps=16)),
         adv=np.asarray(attacks.pgd(model, x, y, 0.1, 5, 0.02, random_start=False)),
         ifia=attacks.ifia_topk(model, x, y, **ifia_args).x_adv, ig_norm=ig_norm_step(x, y, 0))

x0 = x.copy()
x0[:, :, :4] = 0.0  # the left half of every image exactly 0, as an MNIST background: IG is 0 there (model: other_weights)
y0 = attacks.predict_labels(model, x0)  # every example classified "correctly", so every one is attacked
np.savez(out / "zeros.npz", y=y0, ifia=attacks.ifia_topk(model, x0, y0, **ifia_args).x_adv,
         ig_norm=ig_norm_step(x0, y0, 0), slope=to_numpy(input_gradient(abs_sign_gradient, np.zeros(3, np.float32))))
