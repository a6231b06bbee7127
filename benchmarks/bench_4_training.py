"""Target 4: adversarial training epochs against natural epochs, timed side by side.

A PGD-k training step runs k forward-backward passes to find x* and one more to update the weights: k + 1 passes
against the natural step's one, so (k + 1) is the floor of the ratio. Goal: epoch(PGD-k) / epoch(natural) <=
1.15 (k + 1) for the Madry CNN. Closed-form adversarial logistic regression needs no attack passes (x* = x - eps y
sign(w)): goal <= 1.3x a natural epoch. Each `train` call runs 2 epochs and the second one is timed (the first
includes compiling the step).
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np

GOAL_PGD, GOAL_CLOSED = 1.15, 1.3


def _epoch_rounds(model_fn, methods: dict, x, y, repeats: int) -> dict:
    "Per-round seconds of the 2nd epoch of `train` for each method (config), interleaved."
    from advex_lit.training import train
    models = {name: model_fn() for name in methods}
    names = list(methods)
    rounds = []
    for r in range(repeats):
        times = {}
        for name in names[r % len(names):] + names[:r % len(names)]:
            method, config = methods[name]
            _, history = train(models[name], method, (x, y), config, seed=r, verbose=False)
            times[name] = history["seconds"][-1]
        rounds.append(times)
    return {"_rounds": rounds, **{n: {"median": float(np.median([t[n] for t in rounds]))} for n in names}}


def run(n_cnn: int = 200, k: int = 7, n_linear: int = 4000, d: int = 57, repeats: int = 2) -> list[dict]:
    from advex_lit.models import logistic_regression, madry_cnn
    from advex_lit.training import TrainConfig
    common.quiet_tf()
    rng = np.random.default_rng(0)
    rows = []
    x = rng.uniform(0, 1, size=(n_cnn, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n_cnn).astype(np.int32)
    natural = TrainConfig(epochs=2, batch_size=50)
    adversarial = TrainConfig(epochs=2, batch_size=50, eps=0.3, attack_steps=k, attack_step_size=0.01)
    t = _epoch_rounds(madry_cnn, {"natural": ("natural", natural), "pgd": ("adversarial", adversarial)}, x, y, repeats)
    r = common.ratio(t, "pgd", "natural")
    goal = GOAL_PGD * (k + 1)
    rows.append(common.row("4", f"PGD-{k} epoch / natural epoch, Madry CNN, n={n_cnn}, batch 50", r, f"<= {goal:.2f}",
                           r <= goal, f"floor k+1 = {k + 1}; ratio/(k+1) = {r / (k + 1):.3f}; natural "
                           f"{t['natural']['median']:.3g} s", k=k))
    x = rng.normal(size=(n_linear, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) > 0).astype(np.int32)
    nat = TrainConfig(epochs=2, batch_size=50, clip=None)
    closed = TrainConfig(epochs=2, batch_size=50, clip=None, eps=0.1)
    t = _epoch_rounds(lambda: logistic_regression(d), {"natural": ("natural", nat),
                                                       "closed": ("adversarial_closed_form", closed)}, x, y, repeats + 3)
    r = common.ratio(t, "closed", "natural")
    rows.append(common.row("4", f"closed-form adversarial / natural epoch, logistic regression, n={n_linear}, d={d}", r,
                           f"<= {GOAL_CLOSED}", r <= GOAL_CLOSED, f"natural {t['natural']['median'] * 1e3:.3g} ms"))
    return rows


if __name__ == "__main__":
    common.print_rows(run())
