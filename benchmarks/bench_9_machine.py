"""Target 9: how far from the machine. Achieved floating-point rate of IG, PGD and a training epoch of the Madry CNN
against the rate of a large dense matrix product measured in the same process, under TensorFlow and under JAX.

Work is counted from the model's multiply-adds (MACs) per example: a forward pass costs F MACs (convolutions
H W kh kw c_in c_out, dense layers in x out); its gradient with respect to the input costs about F more (every layer's
data gradient is a product of the same size), so one IG path point or one PGD step costs 2F MACs = 4F flops; a
training step adds the weight gradients: 3F MACs = 6F flops per example. The reference is C = A B for n x n float32
matrices, 2 n^3 flops. Goal: IG and PGD at >= 50% of the matrix product's rate. Each backend runs in a child process of
its own (KERAS_BACKEND set before Keras is imported); the children alternate, round after round, so that the
backend comparison (time JAX / time TF, same work) sees the same machine load.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import json
import os
import subprocess
import sys
import time

import numpy as np

GOAL = 0.5
BACKENDS = ("tensorflow", "jax")


def forward_macs(model) -> int:
    "Multiply-adds of one forward pass of one example through the Conv2D and Dense layers of `model`."
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += int(h) * int(w) * int(kh) * int(kw) * int(cin) * int(cout)
        elif kind == "Dense":
            total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return total


def best_time(fn, repeats: int) -> float:
    "Median wall time of `repeats` calls after one warm-up call."
    fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def child(n: int, steps: int, pgd_steps: int, n_train: int, matrix: int, repeats: int) -> dict:
    "Measure in this process (the child side): seconds and flops of the matrix product, IG, PGD and one epoch."
    import keras
    from keras import ops
    from advex_lit.attacks import pgd
    from advex_lit.attribution import integrated_gradients
    from advex_lit.backend import compile_function, to_numpy
    from advex_lit.models import madry_cnn
    from advex_lit.training import TrainConfig, train
    common.quiet_tf()
    keras.utils.set_random_seed(0)
    model = madry_cnn()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    a = ops.convert_to_tensor(rng.normal(size=(matrix, matrix)).astype(np.float32))
    b = ops.convert_to_tensor(rng.normal(size=(matrix, matrix)).astype(np.float32))
    product = compile_function(lambda p, q: ops.matmul(p, q))
    f = forward_macs(model)
    xt = rng.uniform(0, 1, size=(n_train, 28, 28, 1)).astype(np.float32)
    yt = rng.integers(0, 10, size=n_train).astype(np.int32)
    config = TrainConfig(epochs=2, batch_size=50)
    def epoch():  # the second epoch of a fresh `train` call (the first compiles)
        keras.utils.set_random_seed(0)
        return train(madry_cnn(), "natural", (xt, yt), config, seed=0, verbose=False)[1]["seconds"][-1]
    out = {"matmul": {"seconds": best_time(lambda: to_numpy(product(a, b)[:1, :1]), repeats), "flops": 2 * matrix ** 3},
           "ig": {"seconds": best_time(lambda: integrated_gradients(model, x, target=y, steps=steps), repeats),
                  "flops": 4 * f * n * (steps + 1)},
           "pgd": {"seconds": best_time(lambda: pgd(model, x, y, 0.3, steps=pgd_steps, step_size=0.01,
                                                    random_start=False), repeats),
                   "flops": 4 * f * n * pgd_steps},
           "epoch": {"seconds": float(np.median([epoch() for _ in range(max(repeats // 2, 1))])),
                     "flops": 6 * f * n_train}}
    return {"backend": keras.backend.backend(), "forward_macs": f, **out}


def measure(backend: str, **sizes) -> dict:
    "Run `child` in a fresh process under `backend`."
    args = ", ".join(f"{k}={v!r}" for k, v in sizes.items())
    code = (f"import sys, json; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import bench_9_machine as b; print('RESULT', json.dumps(b.child({args})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(common.ROOT),
                         env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"bench_9 child under {backend} failed (code {out.returncode}): {out.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def rate(entry: dict) -> float:
    return entry["flops"] / entry["seconds"]


def run(n: int = 64, steps: int = 50, pgd_steps: int = 40, n_train: int = 400, matrix: int = 2048, repeats: int = 3,
        rounds: int = 2, backends=BACKENDS) -> list[dict]:
    "Rows of target 9: achieved rate / matrix-product rate per computation and backend; JAX time / TF time."
    sizes = dict(n=n, steps=steps, pgd_steps=pgd_steps, n_train=n_train, matrix=matrix, repeats=repeats)
    results = {b: [] for b in backends}
    for r in range(rounds):
        for backend in (backends if r % 2 == 0 else tuple(reversed(backends))):
            results[backend].append(measure(backend, **sizes))
    rows = []
    for backend, runs in results.items():
        peak = float(np.median([rate(m["matmul"]) for m in runs]))
        for task, label, goal in (("ig", f"IG (m={steps}, N={n})", GOAL), ("pgd", f"PGD-{pgd_steps} (N={n})", GOAL),
                                  ("epoch", f"natural training epoch (n={n_train}, batch 50)", None)):
            share = float(np.median([rate(m[task]) / rate(m["matmul"]) for m in runs]))
            achieved = float(np.median([rate(m[task]) for m in runs]))
            rows.append(common.row(
                "9", f"{label} flop rate / {matrix}x{matrix} matmul rate, Madry CNN, {backend}", share,
                f">= {goal:g}" if goal else "report", None if goal is None else share >= goal,
                f"{achieved / 1e9:.1f} GFLOP/s of {peak / 1e9:.1f}; {runs[0]['forward_macs'] / 1e6:.2f} M MACs forward "
                f"per example; numerator: counted flops / measured seconds, denominator: 2 n^3 / seconds of the product",
                backend=backend, task=task, gflops=achieved / 1e9, matmul_gflops=peak / 1e9))
    if set(backends) == set(BACKENDS):
        for task in ("ig", "pgd", "epoch", "matmul"):
            r = float(np.median([j[task]["seconds"] / t[task]["seconds"]
                                 for j, t in zip(results["jax"], results["tensorflow"])]))
            rows.append(common.row("9", f"time under JAX / time under TensorFlow, {task}, same work", r, "report", None,
                                   "below 1: JAX is faster on this machine; above 1: TensorFlow is", task=task))
    return rows


if __name__ == "__main__":
    common.print_rows(run())
