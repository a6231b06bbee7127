"""Every registered experiment at a tiny size, for reproducibility tests run in fresh processes.

`python tests/tiny_experiments.py OUT first-runs forward|reverse` executes the first run of every experiment, in
that order, and writes each run's metrics to OUT/<experiment>.json; `python tests/tiny_experiments.py OUT sweep NAME`
runs the whole tiny sweep of one experiment through `run_experiment` (records under OUT/NAME/)."""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from advex_lit import exp_images as ei, exp_robust as er, exp_tabular as et  # noqa: E402
from advex_lit.experiments import RunContext, get_experiment, list_experiments, run_experiment  # noqa: E402

TINY_IMAGES = {"paper": "CIFAR-10", "model": "small_cnn", "data": {"limit_train": 120, "limit_test": 24},
               "train": {"width": 4, "epochs": 1, "batch_size": 40, "optimizer": "adam", "learning_rate": 5e-3},
               "natural": {}, "l1": {"l1_lambda": 1e-4},
               "adversarial": {"eps": 2 / 255, "attack_steps": 1, "attack_step_size": 2 / 255},
               "eval": {"ig_steps": 4, "n_ig": 12, "n_shap": 3, "shap_background": 2},
               "eps_grid": (2 / 255,), "lambda_grid": (1e-4,)}


def tiny_robust() -> dict:
    "The NeurIPS settings shrunk to seconds per run."
    tiny = er._quick(160, 16, 4, 5e-3, 8 / 255, 1, 4 / 255, 0.1, 0.1, 10, 2 / 255)
    tiny["m_grid"] = (2,)
    tiny["eval"].update(n_ifia=4, ifia_steps=2, ig_steps=4, attack_ig_steps=2, pgd_steps=2)
    for m in ("ig_norm", "ig_sum_norm"): tiny[m].update(m_attack=1, m_grad=2)
    tiny["train"]["epochs"] = 1
    return tiny


def use_tiny_settings() -> None:
    "Shrink every experiment's quick profile in place (image and robust ones run on a synthetic stand-in)."
    ei.IMAGE_SETTINGS["quick"] = {"synthetic:cifar10": TINY_IMAGES}
    ei.FIG3_DATASETS["quick"] = ("synthetic:cifar10",)
    er.ROBUST_SETTINGS["quick"] = {"synthetic:gtsrb": tiny_robust()}
    er.TABLE3_DATASET["quick"] = "synthetic:gtsrb"
    er.REG_SEARCH_PLAN["quick"] = {"synthetic:gtsrb": ("ig_norm",)}
    et.T1_EPOCHS["quick"] = et.APPI_EPOCHS["quick"] = 1
    et.FI_SIZE["quick"] = {"n": 400, "epochs": 1}


def first_runs(out: Path, order: str) -> None:
    "The first run of every experiment, in alphabetical or reverse order, its metrics written as JSON."
    names = list_experiments()
    for name in names if order == "forward" else names[::-1]:
        exp = get_experiment(name)
        run = exp.runs("quick")[0]
        ctx = RunContext(out=out / "work", profile="quick")
        if exp.prepare is not None: exp.prepare([run], ctx)
        metrics = exp.execute(run, ctx)
        (out / f"{name}.json").write_text(json.dumps(metrics, sort_keys=True, default=repr))


if __name__ == "__main__":
    use_tiny_settings()
    out, mode = Path(sys.argv[1]), sys.argv[2]
    out.mkdir(parents=True, exist_ok=True)
    if mode == "first-runs": first_runs(out, sys.argv[3])
    else: run_experiment(sys.argv[3], "quick", out, progress=False)
