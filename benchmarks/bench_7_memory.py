"""Target 7: IG never holds more than `batch_size` path points at once; peak memory of the benchmark-1 workload.

Each measurement runs in a fresh child process (so the backend's allocator has cached nothing yet): IG of the Madry
CNN on N inputs with m = 50, once with the default batch_size (4096 path points) and once with 512. Reported: the
path points per kernel call, the peak resident memory above the level before the call, the peak of NumPy
allocations (tracemalloc), and accelerator memory where the backend reports it. The path points per call are observed,
not computed from the chunk plan IG itself uses: the same model, wrapped in a plain callable that records the batch
size of every call it sees (the compiled kernel calls it while tracing, once per chunk shape), is explained once, and
the largest batch it saw is checked against batch_size.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import json
import os
import subprocess
import sys

import numpy as np


def child(n: int, steps: int, batch_size: int) -> dict:
    "Measure one IG call in this process (the child side)."
    import keras
    from advex_lit import attribution as A
    from advex_lit.models import madry_cnn
    common.quiet_tf()
    keras.utils.set_random_seed(0)
    model = madry_cnn()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    A.integrated_gradients(model, x[:2], target=y[:2], steps=steps, batch_size=batch_size)  # compile, load libraries
    mem = common.peak_memory(lambda: A.integrated_gradients(model, x, target=y, steps=steps, batch_size=batch_size))
    seen = []
    def recorder(q):
        seen.append(int(q.shape[0]))
        return model(q, training=False)
    A.integrated_gradients(recorder, x, target=y, steps=steps, batch_size=batch_size)
    return {"points_per_call": max(seen), "calls_seen": len(seen), **mem}


def measure(n: int, steps: int, batch_size: int) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import bench_7_memory as b; print('RESULT', json.dumps(b.child({n}, {steps}, {batch_size})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(common.ROOT), env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def run(n: int = 64, steps: int = 50, sizes=(4096, 512)) -> list[dict]:
    rows = []
    for batch_size in sizes:
        r = measure(n, steps, batch_size)
        ok = r["points_per_call"] <= batch_size
        device = "" if r["device_peak"] is None else f", device peak {r['device_peak'] / 2 ** 20:.1f} MiB"
        rows.append(common.row("7", f"peak RSS (MiB) of IG, Madry CNN, N={n}, m={steps}, batch_size={batch_size}",
                               r["rss_peak"] / 2 ** 20, f"pts <= {batch_size}", ok,
                               f"at most {r['points_per_call']} path points per call (observed by the model over "
                               f"{r['calls_seen']} traced calls); NumPy peak "
                               f"{r['numpy_peak'] / 2 ** 20:.1f} MiB{device}", batch_size=batch_size, **r))
    return rows


if __name__ == "__main__":
    common.print_rows(run())
