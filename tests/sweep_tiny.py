"""A tiny experiment for the sweep tests, importable by the workers (`run_sweep(..., setup=('sweep_tiny',))`).

Each execution appends 'pid config_hash' to $SWEEP_TINY_LOG. With $SWEEP_TINY_HANG set to a path, the first execution
of run k=2 writes its pid there and sleeps, so that a test can kill the worker in the middle of a run."""""
import os
import time
from pathlib import Path

from advex_lit.experiments import Experiment, Run, register_experiment

NAME = "sweep_tiny"


def runs(profile):
    return [Run.make(NAME, "synthetic:counts", "square", "exact", {"k": k}, seed=0, profile=profile) for k in range(6)]


def execute(run, ctx):
    k = run.param_dict["k"]
    with open(os.environ["SWEEP_TINY_LOG"], "a") as f: f.write(f"{os.getpid()} {run.config_hash()}\n")
    hang = os.environ.get("SWEEP_TINY_HANG")
    if hang and k == 2 and not Path(hang).exists():
        Path(hang).write_text(str(os.getpid()))
        time.sleep(600)
    time.sleep(0.3)  # long enough that both workers get runs
    return {"value": k * k + 0.5, "pair": [k, -k]}


if NAME not in __import__("advex_lit.experiments", fromlist=["list_experiments"]).list_experiments():
    register_experiment(Experiment(NAME, "Sweep test", "(test)", runs, execute))
