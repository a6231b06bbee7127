"""run_sweep on submitit's local executor: two workers give the records of a sequential run, and a worker killed in the
middle of a run loses nothing. Also the heartbeat lease that lets workers on other hosts reclaim a dead worker's run."""
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import sweep_tiny  # noqa: E402  (registers the experiment in this process too)

from advex_lit import experiments as E  # noqa: E402
from advex_lit.experiments import (claim_alive, claim_heartbeat, claim_path, load_records, parse_executor,  # noqa: E402
                                   run_experiment, run_sweep)

pytest.importorskip("submitit")
TESTS = str(Path(__file__).parent)


@pytest.fixture()
def worker_env(tmp_path, monkeypatch):
    "The workers import sweep_tiny from tests/ and log their executions."
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SWEEP_TINY_LOG", str(tmp_path / "executions.log"))
    return tmp_path / "executions.log"


def executions(log: Path) -> list:
    return [line.split() for line in log.read_text().splitlines()]


def metrics_by_hash(out) -> dict:
    df = load_records(out, experiment=sweep_tiny.NAME)
    return {h: (v, list(p)) for h, v, p in zip(df["config_hash"], df["value"], df["pair"])}


def test_two_local_workers_give_the_records_of_a_sequential_run(tmp_path, worker_env):
    records = run_sweep(sweep_tiny.NAME, "quick", tmp_path / "sweep", "local:2", setup=("sweep_tiny",))
    done = executions(worker_env)
    assert len(records) == 6 and sorted(h for _, h in done) == sorted(r.config_hash() for r in sweep_tiny.runs("quick"))
    assert len({pid for pid, _ in done}) == 2 and str(os.getpid()) not in {pid for pid, _ in done}  # both workers ran
    run_experiment(sweep_tiny.NAME, "quick", tmp_path / "sequential", progress=False)
    assert metrics_by_hash(tmp_path / "sweep") == metrics_by_hash(tmp_path / "sequential")
    assert not list((tmp_path / "sweep" / sweep_tiny.NAME).glob("*.claim"))
    assert set(load_records(tmp_path / "sweep", experiment=sweep_tiny.NAME)["seconds"] > 0) == {True}


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, worker_env, monkeypatch):
    hang = tmp_path / "hanging.pid"
    monkeypatch.setenv("SWEEP_TINY_HANG", str(hang))
    result = {}
    def sweep():
        with pytest.warns(UserWarning, match="1 of 2 workers failed") as caught:
            result["records"] = run_sweep(sweep_tiny.NAME, "quick", tmp_path / "out", "local:2", setup=("sweep_tiny",))
        result["warnings"] = [str(w.message) for w in caught]
    thread = threading.Thread(target=sweep)
    thread.start()
    began = time.time()
    while not hang.exists() or not hang.read_text():
        assert time.time() - began < 120, "no worker reached run k=2"
        time.sleep(0.1)
    victim = int(hang.read_text())
    folder = tmp_path / "out" / sweep_tiny.NAME
    while len(list(folder.glob("*.json"))) < 5:  # the other worker finishes the rest first, then waits for k=2
        assert time.time() - began < 120, "the other worker did not finish the other runs"
        time.sleep(0.1)
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive() and len(result["records"]) == 6
    k2 = next(r for r in sweep_tiny.runs("quick") if r.param_dict["k"] == 2).config_hash()
    done = executions(worker_env)
    first, second = [pid for pid, h in done if h == k2]  # the killed worker began it, the other worker redid it
    assert first == str(victim) and second not in (str(victim), str(os.getpid()))
    assert sorted({h for _, h in done}) == sorted(r.config_hash() for r in sweep_tiny.runs("quick"))
    assert sorted(v for v, _ in metrics_by_hash(tmp_path / "out").values()) == [k * k + 0.5 for k in range(6)]


def test_executor_spec_and_bad_sweeps(tmp_path):
    assert parse_executor("local:4") == ("local", 4) and parse_executor("slurm") == ("slurm", 1)
    assert parse_executor("slurm:16") == ("slurm", 16)
    for bad in ("local", "local:0", "local:x", "dask:2", "", None):
        with pytest.raises(ValueError, match="executor"): parse_executor(bad)
    with pytest.raises(ValueError, match="gpus"):
        run_sweep(sweep_tiny.NAME, "quick", tmp_path, "local:2", gpus=[0])
    with pytest.raises(ValueError, match="profile"):
        run_sweep(sweep_tiny.NAME, "gpu", tmp_path, "local:2")


def test_a_claim_from_another_host_is_a_lease_kept_alive_by_its_heartbeat(tmp_path, monkeypatch):
    path = tmp_path / "run.claim"
    path.write_text(json.dumps({"pid": 12345, "host": "some-other-host"}))
    assert claim_alive(path)                               # fresh: its owner is presumed to be working
    old = time.time() - E.CLAIM_LEASE - 1
    os.utime(path, (old, old))
    assert not claim_alive(path)                           # silent for longer than the lease: a dead worker
    with claim_heartbeat(path, every=0.05):
        time.sleep(0.3)
    assert claim_alive(path) and time.time() - path.stat().st_mtime < 1.0
    with pytest.raises(ValueError, match="every"):
        with claim_heartbeat(path, every=0): pass


def test_cli_executor_options(capsys):
    from advex_lit.cli import main, slurm_parameters
    assert slurm_parameters(["partition=gpu", "gpus_per_node=1", "timeout_min=600"]) == \
        {"partition": "gpu", "gpus_per_node": 1, "timeout_min": 600}
    with pytest.raises(ValueError, match="KEY=VALUE"): slurm_parameters(["partition"])
    assert main(["reproduce", "table1_tabular", "--executor", "dask:2"]) == 2
    assert "executor" in capsys.readouterr().err
    assert main(["reproduce", "table1_tabular", "--gpus", "0,1"]) == 2
    assert "need `--executor`" in capsys.readouterr().err
