"""Target 5: the attack step of IG-NORM and IG-SUM-NORM against a Madry PGD step, next to the passes they need.

A PGD step is one forward-backward pass over the batch. The IG-NORM attack step ascends ||IG(x -> x')||_1 (IG-SUM-NORM
adds the loss): it needs the input gradients at the m + 1 path points of every example (m + 1 forward-backward passes,
kept differentiable) and then the gradient of their weighted sum with respect to x' (a backward pass through those
backward passes, about twice their cost): about 3 (m + 1) pass-equivalents. We report the measured ratio next to that
count, and check the overhead beyond the method's own compiled kernel (the driver: random start, sign, projection,
transfers): goal <= 1.15.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np

GOAL_OVERHEAD = 1.15


def run(n: int = 16, m: int = 5, steps: int = 3, repeats: int = 3) -> list[dict]:
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
        r = common.ratio(t, method, "pgd")
        rows.append(common.row("5", f"{label} attack step / PGD step, Madry CNN, batch {n}, m={m}", r, "report", None,
                               f"passes: m+1 = {m + 1} path gradients + their backward, ~{3 * (m + 1)} fwd-bwd "
                               f"equivalents; ratio per equivalent {r / (3 * (m + 1)):.2f}", passes=3 * (m + 1)))
        o = common.ratio(t, method, method + "_kernel")
        rows.append(common.row("5", f"{label} attack step / its compiled kernel (driver overhead)", o,
                               f"<= {GOAL_OVERHEAD}", o <= GOAL_OVERHEAD, "sign, projection and transfers in NumPy"))
    return rows


if __name__ == "__main__":
    common.print_rows(run())
