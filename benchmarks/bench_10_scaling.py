"""Target 10: how the cost of IG grows with the problem: inputs N, Riemann steps m and model size (reported).

IG's work is N (m + 1) forward and input-gradient passes, 4 F flops each for a model of F multiply-adds per example
(see target 9). Three sweeps, each varying one size with the others fixed: N at m = 50 on the Madry CNN, m at N = 64
on the Madry CNN, and the model (small_cnn widths 8 and 16, a half-width and the full Madry CNN) at N = 64, m = 50.
Every row is seconds per call (median of interleaved rounds within its sweep) with the counted flops beside it, so
that the performance chapter can plot seconds against work: a straight line of slope 1 on log axes is a cost
proportional to the work.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np

try: from benchmarks.bench_9_machine import forward_macs
except ImportError: from bench_9_machine import forward_macs


def model_zoo(sizes) -> dict:
    "The models of the model-size sweep, smallest first."
    import keras
    from advex_lit.models import madry_cnn, small_cnn
    builders = {"small_cnn(8)": lambda: small_cnn(width=8), "small_cnn(16)": lambda: small_cnn(width=16),
                "madry_cnn(16, 32; 256)": lambda: madry_cnn(filters=(16, 32), dense_units=256), "madry_cnn": madry_cnn}
    out = {}
    for name in sizes:
        keras.utils.set_random_seed(0)
        out[name] = builders[name]()
    return out


def sweep(label: str, cases: dict, repeats: int) -> list[dict]:
    "cases: {value: (model, n, m)}; one row per value: seconds of IG and counted flops."
    from advex_lit.attribution import integrated_gradients
    rng = np.random.default_rng(0)
    calls, work = {}, {}
    for value, (model, n, m) in cases.items():
        x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, size=n).astype(np.int32)
        calls[str(value)] = (lambda model=model, x=x, y=y, m=m: integrated_gradients(model, x, target=y, steps=m))
        work[str(value)] = (4 * forward_macs(model) * n * (m + 1), n, m, model.name)
    t = common.interleaved(calls, repeats=repeats, warmup=1)
    rows = []
    for value, (flops, n, m, model_name) in work.items():
        seconds = t[value]["median"]
        rows.append(common.row("10", f"IG seconds, sweep over {label}: {label} = {value} (N={n}, m={m}, {model_name})",
                               seconds, "report", None, f"{flops / 1e9:.3g} GFLOP counted, {flops / seconds / 1e9:.3g} "
                               f"GFLOP/s", sweep=label, value=value, n=n, steps=m, flops=flops, seconds=seconds))
    return rows


def run(ns=(16, 64, 256), ms=(10, 25, 50, 100), models=("small_cnn(8)", "small_cnn(16)", "madry_cnn(16, 32; 256)",
                                                         "madry_cnn"), n: int = 64, m: int = 50,
        repeats: int = 3) -> list[dict]:
    common.quiet_tf()
    zoo = model_zoo(models)
    madry = zoo.get("madry_cnn") or model_zoo(["madry_cnn"])["madry_cnn"]
    rows = sweep("N", {v: (madry, v, m) for v in ns}, repeats)
    rows += sweep("m", {v: (madry, n, v) for v in ms}, repeats)
    rows += sweep("model", {name: (model, n, m) for name, model in zoo.items()}, repeats)
    return rows


if __name__ == "__main__":
    common.print_rows(run())
