"""Target 3: the closed-form IG of a one-layer model (Lemma 4.1) against numerical IG with m = 50.

F(x) = sigmoid(<w, x>) on d features, zero baseline. The closed form costs O(n d) (two dot products and a scaling);
the numerical rule costs m + 1 forward-backward passes. Agreement is checked against the Riemann error of the rule,
estimated by Richardson: |IG_m - IG_exact| ~ 4/3 |IG_m - IG_2m| for the trapezoid rule. Goal: speed-up >= 50x.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np

try: from benchmarks.bench_1_ig_floor import inputs, models
except ImportError: from bench_1_ig_floor import inputs, models

GOAL = 50.0


def run(n: int = 256, d: int = 784, steps: int = 50, repeats: int = 12) -> list[dict]:
    from advex_lit.attribution import integrated_gradients, linear_ig
    common.quiet_tf()
    model = models(d=d, cnn=False)["one_layer"]
    w = model.get_layer("logit").kernel.numpy()[:, 0].astype(np.float64)
    x, _ = inputs(model, n, seed=2)
    x = x * 0.2  # keep <w, x> in the curved part of the sigmoid
    exact = linear_ig(x, None, w, "sigmoid")
    numeric = integrated_gradients(model, x, steps=steps)
    finer = integrated_gradients(model, x, steps=2 * steps)
    riemann = 4.0 / 3.0 * np.abs(numeric.astype(np.float64) - finer).max() + 1e-6  # + float32 rounding
    error = float(np.abs(numeric - exact).max())
    general = lambda z: model(z, training=False)  # a plain callable: the general kernel, path in input space
    timings = common.interleaved({"closed": lambda: linear_ig(x, None, w, "sigmoid"),
                                  "numeric": lambda: integrated_gradients(general, x, steps=steps),
                                  "dense": lambda: integrated_gradients(model, x, steps=steps)},
                                 repeats=repeats, warmup=1, min_time=0.2)
    speedup = common.ratio(timings, "numeric", "closed")
    dense = common.ratio(timings, "dense", "closed")
    return [common.row("3", f"numerical IG (m={steps}, general kernel) / closed form (Lemma 4.1), n={n}, d={d}", speedup,
                       f">= {GOAL:g}", speedup >= GOAL, f"closed {timings['closed']['median'] * 1e3:.3g} ms, numeric "
                       f"{timings['numeric']['median'] * 1e3:.3g} ms"),
            common.row("3", f"numerical IG (m={steps}, Dense pre-activation path) / closed form", dense, "report", None,
                       f"the engine's path for a Keras model starting with Dense: {timings['dense']['median'] * 1e3:.3g} ms"),
            common.row("3", "max |numeric - closed| / Riemann error estimate", error / riemann, "<= 1",
                       error <= riemann, f"error {error:.2e}, estimate {riemann:.2e}")]


if __name__ == "__main__":
    common.print_rows(run())
