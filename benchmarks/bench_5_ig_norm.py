"""Target 5: the costs of the robust-attribution work: IG-NORM / IG-SUM-NORM attack steps and training epochs
against Madry's PGD, and the IFIA attack per attacked image.

A PGD step is one forward-backward pass over the batch. The IG-NORM attack step ascends ||IG(x -> x')||_1 (IG-SUM-NORM
adds the loss): it needs the input gradients at the m + 1 path points of every example (m + 1 forward-backward passes,
kept differentiable) and then the gradient of their weighted sum with respect to x' (a backward pass through those
backward passes, about twice their cost): about 3 (m + 1) pass-equivalents. We report the measured ratio next to that
count, and the driver's overhead beyond the method's own compiled kernel (random start, sign, projection, transfers):
goal <= 1.15; a ratio below 1 says that the timing noise is larger than the overhead (the spread is printed).
Training: one epoch of IG-NORM / IG-SUM-NORM against one epoch of Madry (PGD) training with the same attack steps,
reported (the papers' settings imply about 11x). IFIA: seconds per attacked image for one image and for a batch
(the attack is vectorized over examples), and the images per second of the batch; the attack-IG path gradients per
image (restarts x steps x (attack IG steps + 1)) are counted beside it.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np

GOAL_OVERHEAD = 1.15


def run(n: int = 16, m: int = 5, steps: int = 3, repeats: int = 3, n_train: int = 100, ifia_batch: int = 8) -> list[dict]:
    from keras import ops
    from advex_lit import attacks
    from advex_lit.backend import to_numpy
    from advex_lit.models import madry_cnn
    from advex_lit.training import TrainConfig, _attribution_ascent_kernel, attribution_pgd
    common.quiet_tf()
    rng = np.random.default_rng(0)
    model = madry_cnn()
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    eps, step = 0.3, 0.01
    rows = []
    fns = {"pgd": lambda: attacks.pgd(model, x, y, eps, steps=steps, step_size=step, seed=0)}
    for method in ("ig_norm", "ig_sum_norm"):
        config = TrainConfig(eps=eps, attack_steps=steps, attack_step_size=step, ig_lambda=1.0, ig_beta=1.0,
                             m_attack=m, m_grad=m)
        kernel = _attribution_ascent_kernel(model, method, config)
        xt, yt = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        fns[method] = (lambda k=kernel: attribution_pgd(k, x, y, eps, steps, step, (0.0, 1.0), seed=0))
        fns[method + "_kernel"] = (lambda k=kernel: [to_numpy(k(xt, xt, yt)) for _ in range(steps)])
    t = common.interleaved(fns, repeats=repeats, warmup=1, min_time=0.2)
    for method, label in (("ig_norm", "IG-NORM"), ("ig_sum_norm", "IG-SUM-NORM")):
        per_round = [r[method] / r[method + "_kernel"] for r in t["_rounds"]]
        r = common.ratio(t, method, "pgd")
        rows.append(common.row("5", f"{label} attack step / PGD step, Madry CNN, batch {n}, m={m}", r, "report", None,
                               f"passes: m+1 = {m + 1} path gradients + their backward, ~{3 * (m + 1)} fwd-bwd "
                               f"equivalents; ratio per equivalent {r / (3 * (m + 1)):.2f}", passes=3 * (m + 1)))
        o = common.ratio(t, method, method + "_kernel")
        noise = (f"; below 1: the timing noise (per-round ratios {min(per_round):.2f} to {max(per_round):.2f}) is "
                 "larger than the overhead" if o < 1 else f"; per-round ratios {min(per_round):.2f} to {max(per_round):.2f}")
        rows.append(common.row("5", f"{label} attack step / its compiled kernel (driver overhead)", o,
                               f"<= {GOAL_OVERHEAD}", o <= GOAL_OVERHEAD, "sign, projection and transfers in NumPy" + noise))
    return rows + training_rows(n_train, m, steps, repeats) + ifia_rows(ifia_batch, m, steps)


def training_rows(n: int, m: int, steps: int, repeats: int) -> list[dict]:
    "Epoch of IG-NORM and of IG-SUM-NORM / epoch of Madry training, same attack steps, interleaved (2nd epoch timed)."
    import keras
    from advex_lit.models import madry_cnn
    from advex_lit.training import TrainConfig, train
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    attack = dict(epochs=2, batch_size=50, eps=0.3, attack_steps=steps, attack_step_size=0.01)
    configs = {"adversarial": TrainConfig(**attack),
               "ig_norm": TrainConfig(**attack, ig_lambda=1.0, m_attack=m, m_grad=m),
               "ig_sum_norm": TrainConfig(**attack, ig_beta=1.0, m_attack=m, m_grad=m)}
    rounds = []
    for r in range(repeats):
        times = {}
        for name in list(configs)[r % 3:] + list(configs)[:r % 3]:
            keras.utils.set_random_seed(r)
            times[name] = train(madry_cnn(), name, (x, y), configs[name], seed=r, verbose=False)[1]["seconds"][-1]
        rounds.append(times)
    t = {"_rounds": rounds}
    rows = []
    for method, label in (("ig_norm", "IG-NORM"), ("ig_sum_norm", "IG-SUM-NORM")):
        r = common.ratio(t, method, "adversarial")
        rows.append(common.row("5", f"{label} training epoch / Madry training epoch, n={n}, batch 50, m={m}, "
                               f"{steps} attack steps", r, "report", None,
                               f"numerator {np.median([v[method] for v in rounds]):.3g} s, denominator "
                               f"{np.median([v['adversarial'] for v in rounds]):.3g} s (median of {repeats} rounds)"))
    return rows


def ifia_rows(batch: int, m: int, steps: int, k: int = 20, restarts: int = 1) -> list[dict]:
    "IFIA seconds per attacked image, one image vs a batch of `batch`, and the batch's images per second."
    import time
    import keras
    from advex_lit.attacks import ifia_topk
    from advex_lit.models import madry_cnn
    keras.utils.set_random_seed(0)
    model = madry_cnn()
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, size=(batch, 28, 28, 1)).astype(np.float32)
    y = np.asarray(model.predict(x, verbose=0).argmax(axis=1), np.int32)  # attack the model's own labels
    attack = lambda xs, ys: ifia_topk(model, xs, ys, 0.3, k, steps, 0.01, restarts, ig_steps=m, attack_ig_steps=m)
    timed = {}
    for name, (xs, ys) in (("one", (x[:1], y[:1])), ("batch", (x, y))):
        attack(xs, ys)  # compile
        began = time.perf_counter()
        attack(xs, ys)
        timed[name] = (time.perf_counter() - began) / len(xs)
    gradients = restarts * steps * (m + 1)
    return [common.row("5", f"IFIA seconds per attacked image, batch of {batch}, Madry CNN, {steps} steps, attack IG "
                       f"m={m}, {restarts} restart", timed["batch"], "report", None,
                       f"{1 / timed['batch']:.3g} images/s; one image alone {timed['one']:.3g} s (vectorizing over "
                       f"examples: {timed['one'] / timed['batch']:.2f}x); {gradients} attack-IG path gradients per image",
                       seconds_one=timed["one"], seconds_batch=timed["batch"], path_gradients=gradients)]


if __name__ == "__main__":
    common.print_rows(run())
