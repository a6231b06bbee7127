"""Target 2: batched IG against a per-example loop, the way the papers' code computed it.

The loop takes one input at a time: it builds that input's m + 1 path points in NumPy, runs one compiled gradient
over them (the authors ran a TF1 session on the same batch), and averages with the trapezoid weights in NumPy. Same
math, same run, same inputs. Goal: speed-up >= 10x and attributions equal to 1e-5 relative (max |a - b| / max |b|).

The loop always works in input space. For the one-layer model the batched engine would take the Dense shortcut, so
batching and the shortcut are measured apart: loop / batched IG in input space (the model wrapped in a plain callable,
the general kernel: batching alone, the row with the goal), and batched input-space IG / batched IG with the shortcut
(the shortcut alone, reported).
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np

try: from benchmarks.bench_1_ig_floor import inputs, models
except ImportError: from bench_1_ig_floor import inputs, models

GOAL_SPEEDUP, GOAL_REL = 10.0, 1e-5


def per_example_ig(model, steps: int = 50):
    "IG one input at a time: a compiled gradient over that input's path points, trapezoid weights in NumPy."
    from keras import ops
    from advex_lit import attribution as A
    from advex_lit.backend import compile_function, input_gradient, to_numpy
    alphas, weights = A.path_weights(steps)
    grads = {}
    def explain(x, target):
        mode, t = A._resolve_target(target, len(x), A._output_width(model, x))
        if mode not in grads:
            grads[mode] = compile_function(
                lambda p, tt: input_gradient(lambda q: A.select_output(A.call_model(model, q), tt, mode), p))
        out = np.empty_like(x)
        shape = (-1,) + (1,) * (x.ndim - 1)
        for i in range(len(x)):
            points = x[i] * alphas.reshape(shape)  # baseline zero: u + alpha (x - u) = alpha x
            g = to_numpy(grads[mode](ops.convert_to_tensor(points), ops.convert_to_tensor(np.repeat(t[i], len(alphas)))))
            out[i] = x[i] * np.tensordot(weights, g, axes=1)
        return out
    return explain


def measure(name: str, model, n: int, steps: int, repeats: int) -> list[dict]:
    from advex_lit.attribution import integrated_gradients
    x, target = inputs(model, n, seed=1)
    loop = per_example_ig(model, steps)
    batched = integrated_gradients(model, x, target=target, steps=steps)
    looped = loop(x, target)
    rel = float(np.abs(batched - looped).max() / max(np.abs(looped).max(), 1e-30))
    fns = {"batched": lambda: integrated_gradients(model, x, target=target, steps=steps), "loop": lambda: loop(x, target)}
    shortcut = name == "one_layer"
    if shortcut:  # the same model as a plain callable: the general (input-space) kernel, batched
        general = lambda z: model(z, training=False)
        fns["general"] = lambda: integrated_gradients(general, x, target=target, steps=steps)
    timings = common.interleaved(fns, repeats=repeats, warmup=0, min_time=0.3)
    base = "general" if shortcut else "batched"
    speedup = common.ratio(timings, "loop", base)
    rows = [common.row("2", f"per-example loop / batched IG, both in input space, {name}, N={n}, m={steps}", speedup,
                       f">= {GOAL_SPEEDUP:g}", speedup >= GOAL_SPEEDUP, f"numerator: loop {timings['loop']['median']:.3g} s; "
                       f"denominator: batched {'general kernel ' if shortcut else ''}{timings[base]['median']:.3g} s; "
                       f"CPU-time ratio {common.ratio(timings, 'loop', base, cpu=True):.2f}"
                       + ("" if speedup >= GOAL_SPEEDUP or shortcut else "; misses the goal: each of the loop's calls "
                          f"already holds {steps + 1} path points of a CNN, enough work to keep the cores busy, so "
                          "batching examples saves only the per-call overhead"), model=name, n=n)]
    if shortcut:
        r = common.ratio(timings, "general", "batched")
        rows.append(common.row("2", f"batched IG in input space / batched IG with the Dense shortcut, {name}", r, "report",
                               None, "the shortcut alone (same batching on both sides)", model=name, n=n))
    rows.append(common.row("2", f"max relative difference loop vs batched, {name}", rel, f"<= {GOAL_REL:g}",
                           rel <= GOAL_REL, "same attributions", model=name, n=n))
    return rows


def run(n_cnn: int = 32, n_linear: int = 256, steps: int = 50, repeats: int = 3, cnn: bool = True) -> list[dict]:
    common.quiet_tf()
    rows = []
    for name, model in models(cnn=cnn).items():
        rows += measure(name, model, n_cnn if name == "madry_cnn" else n_linear, steps, repeats)
    return rows


if __name__ == "__main__":
    common.print_rows(run())
