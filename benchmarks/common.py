"""Shared helpers of the advex-lit benchmarks: interleaved A/B timing, peak memory, machine info, result rows.

Every benchmark reports RATIOS measured side by side in one process (never absolute times against a fixed budget):
both sides of a ratio run in alternation, round after round, so that both see the same machine load.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gc
import math
import platform
import resource
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"


def quiet_tf() -> None:
    "Silence TensorFlow's Python logger (the C++ one is silenced by TF_CPP_MIN_LOG_LEVEL)."
    try:
        import keras
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            tf.get_logger().setLevel("ERROR")
    except Exception:
        pass


def interleaved(fns: dict[str, Callable], repeats: int = 5, warmup: int = 1, min_time: float = 0.0) -> dict:
    """Time several functions in alternation: `warmup` untimed calls each, then `repeats` rounds in which every
    function runs once (the order rotates each round). A function whose single call is short is run `inner` times
    per timing so that one timing lasts at least `min_time` seconds.

    Returns {name: {"median": s, "times": [...], "inner": k}} and, under "_rounds", the per-round times, so that a
    ratio can be taken round by round (`ratio`)."""
    names = list(fns)
    inner = {name: 1 for name in names}
    for name in (names if warmup > 0 or min_time > 0 else []):
        for _ in range(max(warmup, 1)):
            began = time.perf_counter()
            fns[name]()
            once = time.perf_counter() - began
        inner[name] = 1 if min_time <= 0 or once >= min_time else int(math.ceil(min_time / max(once, 1e-6)))
    rounds, cpu_rounds = [], []
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        times, cpu = {}, {}
        for name in order:
            gc.collect()
            began, began_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner[name]): fns[name]()
            times[name] = (time.perf_counter() - began) / inner[name]
            cpu[name] = (time.process_time() - began_cpu) / inner[name]
        rounds.append(times)
        cpu_rounds.append(cpu)
    out = {name: {"median": float(np.median([t[name] for t in rounds])), "times": [t[name] for t in rounds],
                  "inner": inner[name]} for name in names}
    out["_rounds"], out["_cpu_rounds"] = rounds, cpu_rounds
    return out


def ratio(timings: dict, num: str, den: str, cpu: bool = False) -> float:
    """Median over rounds of time(num) / time(den): robust to load that drifts between rounds. cpu=True: the same
    with the CPU time of this process (all its threads), which other processes on a shared machine disturb less."""
    rounds = timings["_cpu_rounds" if cpu else "_rounds"]
    return float(np.median([t[num] / max(t[den], 1e-12) for t in rounds]))


def rss_bytes() -> int:
    "Current resident set size of this process (Linux /proc; else the peak from resource)."
    try:
        with open("/proc/self/statm") as f: return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def tf_memory_info() -> dict | None:
    "Peak/current bytes of the first TF accelerator (None on CPU-only TensorFlow or other backends)."
    try:
        import keras
        if keras.backend.backend() != "tensorflow": return None
        import tensorflow as tf
        gpus = tf.config.list_logical_devices("GPU")
        if not gpus: return None
        return tf.config.experimental.get_memory_info(gpus[0].name.replace("/device:", ""))
    except Exception:
        return None


def peak_memory(fn: Callable, interval: float = 0.002) -> dict:
    """Run fn once and report its peak memory above the level before the call:
    `numpy_peak` (tracemalloc: NumPy/Python allocations), `rss_peak` (resident set sampled every `interval` s: what
    the backend allocates outside Python too), and `device_peak` (TF accelerator memory info, where available)."""
    gc.collect()
    try:
        import tensorflow as tf
        for g in tf.config.list_logical_devices("GPU"):
            tf.config.experimental.reset_memory_stats(g.name.replace("/device:", ""))
    except Exception:
        pass
    base = rss_bytes()
    peak = [base]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(interval)
    thread = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    thread.start()
    try:
        fn()
    finally:
        stop.set()
        thread.join()
        _, numpy_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    peak[0] = max(peak[0], rss_bytes())
    info = tf_memory_info()
    return {"numpy_peak": int(numpy_peak), "rss_peak": int(peak[0] - base),
            "device_peak": None if info is None else int(info.get("peak", 0))}


def row(target: str, name: str, measured: float, goal: str | None, passed: bool | None, notes: str = "", **extra) -> dict:
    "One result row: target number, what was measured, the measured ratio (or value), the goal and pass/fail."
    out = {"target": str(target), "name": name, "measured": float(measured), "goal": goal or "report",
           "pass": None if passed is None else bool(passed), "notes": notes}
    out.update(extra)
    return out


def print_rows(rows: list[dict]) -> None:
    "Print rows as a fixed-width table."
    header = f"{'target':<7}{'measured':>11}  {'goal':<14}{'result':<8}{'name / notes'}"
    print(header)
    print("-" * len(header))
    for r in rows:
        result = "report" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        print(f"{r['target']:<7}{r['measured']:>11.3f}  {r['goal']:<14}{result:<8}{r['name']}"
              + (f"  [{r['notes']}]" if r["notes"] else ""), flush=True)


def machine_info() -> dict:
    "CPU model, cores, accelerator, backend and package versions, date (UTC)."
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"): cpu = line.split(":", 1)[1].strip(); break
    except OSError:
        pass
    import keras
    info = {"cpu": cpu, "cores": os.cpu_count(), "backend": keras.backend.backend(), "python": platform.python_version(),
            "numpy": np.__version__, "keras": keras.__version__, "platform": platform.platform(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "accelerator": "none (CPU)",
            "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None}
    if info["backend"] == "tensorflow":
        import tensorflow as tf
        info["tensorflow"] = tf.__version__
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            info["accelerator"] = details.get("device_name", gpus[0].name)
    elif info["backend"] == "jax":
        import jax
        info["jax"] = jax.__version__
        devices = jax.devices()
        if devices and devices[0].platform != "cpu": info["accelerator"] = devices[0].device_kind
    try:
        import shap
        info["shap"] = shap.__version__
    except Exception:
        pass
    return info


def code() -> dict:
    """{name: hash} of the code the benchmarks measure: the advex_lit modules the benchmark scripts import (with their
    advex_lit imports, transitively, as for experiment records) and the scripts themselves (normalized source). Only
    the scripts `run_all.py` runs count (with the peer worker of target 8): the GPU smoke and the lab timer are
    measurements of their own."""
    from advex_lit.experiments import code_modules, package_imports, source_hash
    here = Path(__file__).resolve().parent
    scripts = sorted([p for p in here.glob("*.py") if p.name.startswith("bench_") or p.name in ("common.py", "run_all.py")]
                     + list(here.glob("peers/*.py")))  # the peer worker times the peers' side of target 8
    modules = set().union(*(package_imports(p.read_text(), relative=False) for p in scripts))
    scripts_hashes = {f"benchmarks/{p.relative_to(here).as_posix()}": source_hash(p.read_text()) for p in scripts}
    return dict(sorted({**code_modules(sorted(modules)), **scripts_hashes}.items()))


def provenance() -> dict:
    "Commit (or 'uncommitted' and a diff hash), package hash, code hash and per-module hashes of the benchmarked code."
    from advex_lit.experiments import combine_hashes, git_state, package_hash
    modules = code()
    return {**git_state(), "package_hash": package_hash(), "code_hash": combine_hashes(modules), "code_modules": modules}


def scale() -> float:
    "Size multiplier from ADVEX_BENCH_SCALE (default 1; the smoke test uses a small value)."
    return float(os.environ.get("ADVEX_BENCH_SCALE", "1"))
