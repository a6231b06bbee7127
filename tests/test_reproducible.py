"""Same seed, same numbers: every experiment gives bit-identical metrics in two fresh processes that run them in
opposite orders, and an image sweep killed with SIGKILL and resumed ends with the records of an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "tiny_experiments.py"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}


def tiny(*args, **kwargs):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], env=ENV, cwd=HERE.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def package_experiments() -> list:
    "The experiments the package registers (tests may register their own too), sorted."
    import advex_lit.exp_images, advex_lit.exp_robust, advex_lit.exp_tabular  # noqa: E401,F401
    from advex_lit.experiments import get_experiment, list_experiments
    return sorted(n for n in list_experiments() if getattr(get_experiment(n).execute, "__module__", "").startswith("advex_lit."))


def finish(process, timeout=600):
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]


def test_every_experiment_is_bit_identical_across_fresh_processes(tmp_path):
    forward, reverse = tiny(tmp_path / "forward", "first-runs", "forward"), None
    finish(forward)
    reverse = tiny(tmp_path / "reverse", "first-runs", "reverse")
    finish(reverse)
    names = sorted(p.name for p in (tmp_path / "forward").glob("*.json"))
    assert [n[:-len(".json")] for n in names] == package_experiments()  # every experiment of the package
    for name in names:
        assert (tmp_path / "forward" / name).read_text() == (tmp_path / "reverse" / name).read_text(), name


def records(folder: Path) -> dict:
    "config hash -> (run, metrics) of every record in folder."
    out = {}
    for p in sorted(folder.glob("*.json")):
        rec = json.loads(p.read_text())
        out[rec["config_hash"]] = (rec["run"], rec["metrics"])
    return out


def test_an_image_sweep_killed_and_resumed_equals_an_uninterrupted_one(tmp_path):
    whole = tiny(tmp_path / "whole", "sweep", "table1_images")
    finish(whole)
    killed = tiny(tmp_path / "killed", "sweep", "table1_images")
    folder = tmp_path / "killed" / "table1_images"
    deadline = time.monotonic() + 300
    while not list(folder.glob("*.json")) and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert killed.poll() is None, "the sweep ended before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert 1 <= len(list(folder.glob("*.json"))) < 3  # killed between its first and last record
    finish(tiny(tmp_path / "killed", "sweep", "table1_images"))
    assert records(folder) == records(tmp_path / "whole" / "table1_images")
    assert len(records(folder)) == 3
