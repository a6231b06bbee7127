"""GPU smoke test of the full profile: measure throughput at the papers' settings, project every full run's GPU hours.

    python benchmarks/gpu_smoke.py [--budget-s 480] [--out benchmarks/results] [--tiny]

It measures, on whatever device the Keras backend uses (JAX or TensorFlow; one GPU if one is visible):
  - the Madry CNN at Fashion-MNIST's shape (28x28x1, batch 50): natural training steps per second, Madry training
    (PGD-20, eps 0.1, step 0.01) steps per second, IG (100 steps) images per second, IFIA (100 steps, attack IG 10)
    images per second;
  - for every other architecture of the full profile (WRN-28-10 at 32x32x3, the NeurIPS ResNet at 32x32x3 and
    128x128x3): the natural training step and one input-gradient pass per example, at its batch size;
then projects the GPU hours of every full-profile run from these rates and the run's epochs, data size, attack steps
and evaluation sizes (the cost model is in `train_hours` and `eval_hours`), and writes gpu_smoke.json and gpu_smoke.md under --out.
Data are random arrays of the right shape: throughput does not depend on the pixel values. --tiny shrinks every count
so that the script runs in a minute on a CPU (the test in `make test`); its numbers are not a projection of anything.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "gtsrb": 39209, "flowers17": 1224}
TEST_SIZES = {"mnist": 10000, "fashion_mnist": 10000, "cifar10": 10000, "gtsrb": 12630, "flowers17": 136}
SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "gtsrb": (32, 32, 3),
          "flowers17": (128, 128, 3)}
CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "gtsrb": 43, "flowers17": 17}


def timed(fn, repeats: int) -> float:
    "Median seconds of fn() over `repeats` calls, after one warm-up call (compilation)."
    fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def build(arch: str, shape: tuple, n_classes: int, tiny: bool):
    "The full profile's architecture (a narrow stand-in of the same kind with --tiny)."
    from advex_lit import models
    if arch == "madry_cnn":
        return models.madry_cnn(shape, n_classes, filters=(4, 8), dense_units=16) if tiny else models.madry_cnn(shape, n_classes)
    if arch == "wide_resnet":
        return models.wide_resnet(shape, n_classes, depth=10, width=1) if tiny else models.wide_resnet(shape, n_classes)
    return models.neurips_resnet(shape, n_classes, units=1) if tiny else models.neurips_resnet(shape, n_classes)


def arch_rates(arch: str, dataset: str, batch: int, tiny: bool, repeats: int) -> dict:
    "Seconds per natural training step at `batch`, and per example of one input-gradient pass (PGD / IG point)."
    import keras
    from advex_lit.backend import input_gradient, set_seed, to_numpy
    from advex_lit.training import TrainConfig, make_objective, make_optimizer
    from advex_lit.backend import make_train_step
    from advex_lit import attacks
    set_seed(0)
    shape, k = SHAPES[dataset], CLASSES[dataset]
    model = build(arch, shape, k, tiny)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, *shape)).astype(np.float32)
    y = rng.integers(0, k, size=batch)
    config = TrainConfig(batch_size=batch)
    objective = make_objective("natural", config)
    step = make_train_step(model, make_optimizer(config), lambda xb, xs, yb: objective(model, xb, xs, yb))
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    train_s = timed(lambda: float(to_numpy(step(xt, xt, yt))), repeats)
    net = attacks.logit_model(model)
    grad = lambda: to_numpy(input_gradient(lambda u: keras.ops.sum(attacks.cross_entropy(yt, net(u))), xt))
    grad_s = timed(grad, repeats) / batch
    return {"arch": arch, "dataset": dataset, "batch": batch, "train_step_s": train_s, "grad_s_per_example": grad_s}


def madry_slice(tiny: bool, repeats: int) -> dict:
    "Fashion-MNIST at the paper's settings on the Madry CNN: natural and PGD-20 training, IG (100 steps), IFIA."
    from advex_lit import attacks
    from advex_lit.attribution import integrated_gradients
    from advex_lit.backend import set_seed
    from advex_lit.training import TrainConfig, train
    set_seed(0)
    rng = np.random.default_rng(1)
    n_train, n_ig, n_ifia = (100, 8, 2) if tiny else (50 * 40, 1000, 20)
    x = rng.uniform(size=(n_train, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n_train)
    out = {}
    for method, extra in (("natural", {}), ("adversarial", {"eps": 0.1, "attack_steps": 20, "attack_step_size": 0.01})):
        model = build("madry_cnn", (28, 28, 1), 10, tiny)
        config = TrainConfig(epochs=1, batch_size=50, learning_rate=1e-4, **extra)
        train(model, method, (x[:100], y[:100]), config, verbose=False)  # compile
        began = time.perf_counter()
        train(model, method, (x, y), config, verbose=False)
        out[f"{method}_steps_per_s"] = (n_train / 50) / (time.perf_counter() - began)
    ig_steps = 4 if tiny else 100
    integrated_gradients(model, x[:2], target=y[:2], steps=ig_steps)
    began = time.perf_counter()
    integrated_gradients(model, x[:n_ig], target=y[:n_ig], steps=ig_steps)
    out["ig_images_per_s"] = n_ig / (time.perf_counter() - began)
    steps, attack_ig = (2, 2) if tiny else (100, 10)
    began = time.perf_counter()
    attacks.ifia_topk(model, x[:n_ifia], y[:n_ifia], eps=0.1, k=100, steps=steps, step_size=0.01, restarts=1,
                      ig_steps=ig_steps, attack_ig_steps=attack_ig)
    out["ifia_images_per_s"] = n_ifia / (time.perf_counter() - began)
    out["settings"] = {"train_images": n_train, "ig_images": n_ig, "ifia_images": n_ifia, "ig_steps": ig_steps,
                       "ifia_steps": steps, "attack_ig_steps": attack_ig}
    return out


def train_hours(run, rates: dict) -> float:
    """Projected GPU hours of training the model of one full-profile run from the measured rates of its architecture.

    epochs x ceil(n_train / batch) steps; a step costs one natural step plus, per example, one input-gradient pass per
    attack step (PGD-k: k; IG-NORM / IG-SUM-NORM: k x m_attack) and, for the IG-regularized objective, about 2 m_grad
    gradient passes (its weight gradient differentiates m_grad input gradients)."""
    p, r = run.param_dict, rates
    batch = int(p.get("batch_size", r["batch"]))
    steps = int(p.get("epochs", 1)) * math.ceil(TRAIN_SIZES[run.dataset] / batch)
    per_example = {"natural": 0, "l1": 0, "adversarial": int(p.get("attack_steps") or 0)}.get(run.method)
    if per_example is None:  # ig_norm / ig_sum_norm
        per_example = int(p["attack_steps"]) * int(p["m_attack"]) + 2 * int(p["m_grad"])
    return steps * (r["train_step_s"] * batch / r["batch"] + batch * per_example * r["grad_s_per_example"]) / 3600


def eval_hours(run, rates: dict) -> float:
    """Projected GPU hours of one run's evaluation: IG (ig_steps passes on n_ig images), PGD accuracy (pgd_steps passes
    per test image), IFIA (ifia_steps x attack_ig_steps passes per restart, plus two IG maps, per attacked image).
    DeepSHAP and the data pipeline are left out."""
    p, n_test = run.param_dict, TEST_SIZES[run.dataset]
    if "n_maps" in p:  # robust_maps: the attack and two maps on n_maps images only
        ifia = int(p["ifia_steps"]) * int(p["attack_ig_steps"]) * int(p.get("ifia_restarts", 1)) + 2 * int(p["ig_steps"])
        return int(p["n_maps"]) * ifia * rates["grad_s_per_example"] / 3600
    passes = int(p.get("ig_steps", 0)) * min(int(p.get("n_ig") or n_test), n_test) if "n_ig" in p else 0
    passes += int(p.get("pgd_steps", 0)) * n_test
    passes += int(p.get("n_ifia", 0)) * (int(p.get("ifia_steps", 0)) * int(p.get("attack_ig_steps", 0))
                                        * int(p.get("ifia_restarts", 1)) + 2 * int(p.get("ig_steps", 0)))
    return passes * rates["grad_s_per_example"] / 3600


def projection(rates_by_arch: dict) -> list:
    """One row per full-profile image or robust experiment: runs, projected GPU hours of training (a model shared with
    an earlier experiment, as the runner shares it, counted once) and of evaluation; runs of unmeasured architectures."""
    from advex_lit import exp_images, exp_robust, exp_tabular  # noqa: F401 (register the experiments)
    from advex_lit.exp_images import ModelSpec
    from advex_lit.cli import registration_order
    from advex_lit.experiments import get_experiment
    rows, trained = [], set()
    for name in registration_order():  # the order the chapters run them in: Table 1's models before the figures'
        runs = [r for r in get_experiment(name).runs("full") if r.model in ("madry_cnn", "wide_resnet", "neurips_resnet")]
        if not runs: continue
        train, evaluate, missing = 0.0, 0.0, 0
        for r in runs:
            rates = rates_by_arch.get((r.model, "flowers17" if r.dataset == "flowers17" else None))
            if rates is None:
                missing += 1
                continue
            key = ModelSpec.of(r).key()
            if key not in trained: train += train_hours(r, rates)
            trained.add(key)
            evaluate += eval_hours(r, rates)
        rows.append({"experiment": name, "runs": len(runs), "training GPU hours": round(train, 2),
                     "evaluation GPU hours": round(evaluate, 2), "runs not projected": missing})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--budget-s", type=float, default=480.0, help="stop measuring new architectures after this")
    parser.add_argument("--tiny", action="store_true", help="tiny counts and narrow models: a CPU check of the script")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    from advex_lit.backend import backend_name, quiet_logs, visible_accelerators
    from advex_lit.experiments import git_state, host_name
    quiet_logs()
    repeats = 2 if args.tiny else 5
    result = {"backend": backend_name(), "accelerators": visible_accelerators(), "host": host_name(),
              "tiny": args.tiny, "commit": git_state()["commit"], "madry_fashion_mnist": madry_slice(args.tiny, repeats)}
    rates = {}
    plan = [(("madry_cnn", None), "fashion_mnist", 50), (("neurips_resnet", None), "gtsrb", 64),
            (("neurips_resnet", "flowers17"), "flowers17", 16), (("wide_resnet", None), "cifar10", 128)]
    for key, dataset, batch in plan:
        if time.perf_counter() - began > args.budget_s: break
        rates[key] = arch_rates(key[0], dataset, 8 if args.tiny else batch, args.tiny, repeats)
    result["architectures"] = list(rates.values())
    result["projection"] = projection(rates)
    result["seconds"] = time.perf_counter() - began
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "gpu_smoke_tiny" if args.tiny else "gpu_smoke"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    lines = [f"Measured on {', '.join(result['accelerators']) or 'CPU only'} ({result['backend']}), commit "
             f"{result['commit']}{'; --tiny: not a projection' if args.tiny else ''}.", "",
             "| experiment | runs | training GPU hours | evaluation GPU hours | runs not projected |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['experiment']} | {r['runs']} | {r['training GPU hours']} | {r['evaluation GPU hours']} | "
              f"{r['runs not projected']} |" for r in result["projection"]]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
