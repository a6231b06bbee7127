"""Crash and concurrency safety of result records (claims, temp files) and their provenance (code hash, staleness)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from advex_lit import experiments as E
from advex_lit.experiments import (Experiment, Run, claim_path, claim_run, code_hash, code_modules, experiment_code_hash,
                                   experiment_report, host_name, load_records, process_alive, provenance_line,
                                   record_path, register_experiment, release_claim, remove_stale_temp_files,
                                   run_experiment, source_hash, unregister_experiment, write_json_atomic)

ROOT = Path(__file__).resolve().parent.parent
NAME = "test_records_tiny"

# A tiny experiment in a script of its own, so that real processes can run it, be killed, and race each other.
CHILD = textwrap.dedent('''
    import json, os, sys, time
    from advex_lit.experiments import Experiment, Run, register_experiment, run_experiment

    out, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]
    NAME = "test_records_tiny"

    def runs(profile):
        return [Run.make(NAME, "synthetic:a", "mean", "average", {"k": k}, seed=0, profile=profile) for k in range(6)]

    def execute(run, ctx):
        k = run.param_dict["k"]
        with open(log, "a") as f: f.write(f"{os.getpid()} {run.config_hash()}\\n")
        if mode == "hang-run" and k == 2:
            open(log + ".mark", "w").close()
            time.sleep(120)
        if mode == "slow": time.sleep(0.3)
        return {"value": k * k + 0.5}

    register_experiment(Experiment(NAME, "tiny", "(test)", runs, execute))
    if mode == "slow":  # start together: wait until both racers are ready
        open(f"{log}.ready.{os.getpid()}", "w").close()
        began = time.time()
        while len([p for p in os.listdir(os.path.dirname(log)) if ".ready." in p]) < 2 and time.time() - began < 60:
            time.sleep(0.01)
    if mode == "hang-write":
        real_replace, calls = os.replace, []
        def replace(src, dst):
            calls.append(dst)
            if len(calls) == 3:  # the third record: its temp file is written and synced, the rename never comes
                open(log + ".mark", "w").close()
                time.sleep(120)
            return real_replace(src, dst)
        os.replace = replace
    df = run_experiment(NAME, "quick", out, progress=False, wait=(mode == "slow"))
    print(json.dumps(sorted(zip(df["config_hash"], df["value"]))))
''')


def _runs(profile):
    return [Run.make(NAME, "synthetic:a", "mean", "average", {"k": k}, seed=0, profile=profile) for k in range(6)]


def _execute(run, ctx):
    return {"value": run.param_dict["k"] ** 2 + 0.5}


@pytest.fixture()
def tiny():
    calls = []

    def execute(run, ctx):
        calls.append(run.config_hash())
        return _execute(run, ctx)
    exp = register_experiment(Experiment(NAME, "tiny", "(test)", _runs, execute))
    exp.calls = calls
    yield exp
    unregister_experiment(NAME)


@pytest.fixture()
def child(tmp_path):
    script = tmp_path / "tiny_child.py"
    script.write_text(CHILD)
    log = tmp_path / "executions.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(out, mode):
        return subprocess.Popen([sys.executable, str(script), str(out), mode, str(log)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start.log = log
    return start


def _kill_when_marked(proc, mark: Path, timeout: float = 60.0):
    "SIGKILL proc as soon as it has created the marker file (it then sleeps), and reap it."
    began = time.time()
    while not mark.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - began < timeout, "child never reached the point to kill"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _executions(log: Path) -> list:
    return [line.split()[1] for line in log.read_text().splitlines()]


def _files(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


# --- crash safety ------------------------------------------------------------------------------------------------------

def test_killed_mid_write_leaves_no_temp_file_after_next_run(tiny, tmp_path, child):
    proc = child(tmp_path / "out", "hang-write")
    _kill_when_marked(proc, Path(str(child.log) + ".mark"))
    folder = tmp_path / "out" / NAME
    leftovers = [n for n in _files(folder) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and f".{proc.pid}@{host_name()}." in leftovers[0]  # the killed write's temp file
    assert len([n for n in _files(folder) if n.endswith(".json")]) == 2
    assert len([n for n in _files(folder) if n.endswith(".claim")]) == 1  # the dead process's claim of run 3
    df = run_experiment(NAME, "quick", tmp_path / "out", progress=False)
    assert len(df) == 6 and sorted(df["value"]) == [k * k + 0.5 for k in range(6)]
    assert len(tiny.calls) == 4 and _runs("quick")[2].config_hash() in tiny.calls  # the killed run is redone
    assert all(n.endswith(".json") for n in _files(folder)) and len(_files(folder)) == 6  # no temp file, no claim


def test_killed_mid_run_is_reclaimed_and_redone(tiny, tmp_path, child):
    proc = child(tmp_path / "out", "hang-run")
    _kill_when_marked(proc, Path(str(child.log) + ".mark"))
    folder = tmp_path / "out" / NAME
    victim = _runs("quick")[2]
    assert claim_path(tmp_path / "out", victim).exists() and not record_path(tmp_path / "out", victim).exists()
    assert json.loads(claim_path(tmp_path / "out", victim).read_text())["pid"] == proc.pid
    df = run_experiment(NAME, "quick", tmp_path / "out", progress=False)
    assert len(df) == 6 and tiny.calls == [r.config_hash() for r in _runs("quick")[2:]]
    assert all(n.endswith(".json") for n in _files(folder)) and len(_files(folder)) == 6


def test_two_processes_compute_each_run_once(tmp_path, child):
    procs = [child(tmp_path / "out", "slow") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    executed = _executions(child.log)
    assert sorted(executed) == sorted(r.config_hash() for r in _runs("quick"))  # each run exactly once
    assert len({line.split()[0] for line in child.log.read_text().splitlines()}) == 2  # and both did some of the work
    first, second = (json.loads(o.strip().splitlines()[-1]) for o, _ in outs)
    assert first == second and len(first) == 6
    assert sorted(v for _, v in first) == [k * k + 0.5 for k in range(6)]
    assert not [n for n in _files(tmp_path / "out" / NAME) if not n.endswith(".json")]


def test_live_claim_is_skipped_with_a_warning_dead_claim_reclaimed(tiny, tmp_path):
    victim = _runs("quick")[4]
    claim_path(tmp_path, victim).parent.mkdir(parents=True)
    claim_path(tmp_path, victim).write_text(json.dumps({"pid": os.getppid(), "host": host_name()}))
    with pytest.warns(UserWarning, match=rf"1 run\(s\) are being computed by another process \(pid {os.getppid()}.*k=4"):
        df = run_experiment(NAME, "quick", tmp_path, progress=False)
    assert len(df) == 5 and victim.config_hash() not in set(df["config_hash"]) and len(tiny.calls) == 5
    assert claim_path(tmp_path, victim).exists()  # another process's claim is left alone
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not process_alive(int(gone.stdout))
    claim_path(tmp_path, victim).write_text(json.dumps({"pid": int(gone.stdout), "host": host_name()}))
    df = run_experiment(NAME, "quick", tmp_path, progress=False)
    assert len(df) == 6 and tiny.calls[-1] == victim.config_hash() and not claim_path(tmp_path, victim).exists()


def test_claim_protocol(tiny, tmp_path):
    run = _runs("quick")[0]
    assert claim_run(tmp_path, run) is None  # claimed
    owner = json.loads(claim_path(tmp_path, run).read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == host_name()
    assert claim_run(tmp_path, run)["pid"] == os.getpid()  # a second claim, even by the same process, is refused
    release_claim(tmp_path, run)
    assert not claim_path(tmp_path, run).exists()
    other = {"pid": os.getppid(), "host": "some-other-host"}  # can't be checked from here: respected
    claim_path(tmp_path, run).write_text(json.dumps(other))
    assert claim_run(tmp_path, run) == other
    release_claim(tmp_path, run)
    assert claim_path(tmp_path, run).exists()  # not ours
    claim_path(tmp_path, run).write_text(json.dumps({"pid": os.getpid(), "host": host_name(), "started": "0"}))
    assert claim_run(tmp_path, run) is None  # our pid but another start time: a reused pid, reclaimed
    with pytest.raises(ValueError, match="pid"):
        process_alive(0)
    assert process_alive(os.getpid()) and not process_alive(os.getpid(), started="0")


def test_remove_stale_temp_files(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".abc.{int(gone.stdout)}@{host_name()}.x1y2z3.tmp"
    live = tmp_path / f".abc.{os.getpid()}@{host_name()}.q9.tmp"
    foreign = tmp_path / f".abc.{int(gone.stdout)}@elsewhere.q9.tmp"
    legacy_old, legacy_new = tmp_path / ".abc.k3j4.tmp", tmp_path / ".abd.k3j4.tmp"
    for p in (dead, live, foreign, legacy_old, legacy_new): p.write_text("{")
    os.utime(legacy_old, (time.time() - 3600, time.time() - 3600))
    assert remove_stale_temp_files(tmp_path) == sorted([dead, legacy_old])
    assert sorted(tmp_path.iterdir()) == sorted([live, foreign, legacy_new])
    write_json_atomic(tmp_path / "r.json", {"a": 1})  # its own temp file is named so that the cleaner can judge it
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}


# --- provenance ----------------------------------------------------------------------------------------------------------

def test_every_record_names_what_made_it(tiny, tmp_path):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    current = experiment_code_hash(tiny)
    for run in _runs("quick"):
        rec = json.loads(record_path(tmp_path, run).read_text())
        prov = rec["provenance"]
        assert {"commit", "base_commit", "diff_hash", "package_hash", "code_hash", "code_modules"} <= set(prov)
        assert prov["code_hash"] == current and prov["code_hash"] == E.combine_hashes(prov["code_modules"])
        assert "test_records" in prov["code_modules"] and len(prov["package_hash"]) == 16
        assert prov["commit"] is None or prov["commit"] == "uncommitted" or len(prov["commit"]) == 40
        assert (prov["commit"] == "uncommitted") == (prov["diff_hash"] is not None)
        assert rec["seconds"] >= 0 and rec["versions"]["python"] and "CPUs" in rec["hardware"]
    df = load_records(tmp_path, experiment=NAME)
    assert (df["code_hash"] == current).all() and df["commit"].notna().all()


def test_git_state_matches_git(tmp_path):
    state = E.git_state()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        assert state["commit"] is None
        return
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "advex_lit"], cwd=ROOT, capture_output=True, text=True)
    assert state["base_commit"] == head.stdout.strip()
    assert state["commit"] == ("uncommitted" if dirty.stdout.strip() else head.stdout.strip())


def test_source_hash_ignores_docstrings_and_comments_not_code():
    base = 'def f(x, eps=0.1):\n    return x + eps\n'
    assert source_hash(base) == source_hash('"""Module."""\n# note\ndef f(x, eps=0.1):\n    "Add eps."\n    return (x+eps)\n')
    for changed in ('def f(x, eps=0.2):\n    return x + eps\n', 'def f(x, eps=0.1):\n    return x - eps\n',
                    'def f(x, eps=0.1):\n    "Add eps."\n    return eps + x\n'):
        assert source_hash(changed) != source_hash(base)


@pytest.fixture()
def package_copy(tmp_path, monkeypatch):
    "A copy of the package's sources that code_hash reads instead of the real one (so a test may edit it)."
    copy = tmp_path / "advex_lit"
    shutil.copytree(E.package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(E, "package_dir", lambda: copy)
    return copy


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1))


def test_code_hash_follows_code_that_determines_numbers(package_copy):
    mods = code_modules("advex_lit.exp_tabular")
    assert {"advex_lit.exp_tabular", "advex_lit.metrics", "advex_lit.training", "advex_lit.data"} <= set(mods)
    assert not set(mods) & set(E.BOOKKEEPING_MODULES) and "advex_lit.exp_images" not in mods  # verdict glue is bookkeeping
    before = code_hash("advex_lit.exp_tabular")
    _edit(package_copy / "metrics.py", '"""', '"""A new module docstring. ')  # a docstring: no change
    _edit(package_copy / "plots.py", "import", "import os\nimport")          # a bookkeeping module: no change
    _edit(package_copy / "exp_images.py", "import", "import os\nimport")     # a module exp_tabular does not import
    assert code_hash("advex_lit.exp_tabular") == before
    _edit(package_copy / "metrics.py", "def gini(", "GINI_OFFSET = 1\n\ndef gini(")  # code, two imports deep
    after = code_hash("advex_lit.exp_tabular")
    assert after != before
    assert code_modules("advex_lit.exp_tabular")["advex_lit.metrics"] != mods["advex_lit.metrics"]
    with pytest.raises(ValueError, match="module"):
        code_hash("numpy")


def test_stale_records_flagged(tiny, tmp_path, monkeypatch):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    rep = experiment_report(NAME, tmp_path, "quick")
    assert rep.stale == 0 and rep.unknown == 0 and "(current)" in provenance_line(rep)
    # an older record that names no code: unknown provenance, stale
    old = record_path(tmp_path, _runs("quick")[0])
    rec = json.loads(old.read_text())
    del rec["provenance"]
    write_json_atomic(old, rec)
    rep = experiment_report(NAME, tmp_path, "quick")
    assert (rep.stale, rep.unknown) == (1, 1) and "1 of 6 records stale" in provenance_line(rep)
    assert "unknown provenance" in provenance_line(rep)
    # the code changes: every record is stale and the report names the changed module
    real = E.experiment_code(tiny)
    monkeypatch.setattr(E, "experiment_code", lambda exp: {**real, "test_records": "0" * 16})
    rep = experiment_report(NAME, tmp_path, "quick")
    assert rep.stale == 6 and rep.changed_modules == ["test_records"]
    assert "6 of 6 records stale" in provenance_line(rep) and "code changed since: test_records" in provenance_line(rep)


def test_cli_report_counts_stale_and_fails_on_bad_input(tiny, tmp_path, capsys, monkeypatch):
    from advex_lit.cli import main
    run_experiment(NAME, "quick", tmp_path / "quick", progress=False)
    assert main(["report", "--out", str(tmp_path), "--experiment", NAME, "--fail-stale"]) == 0
    out = capsys.readouterr().out
    assert "| stale records |" in out and "(current)" in out
    real = E.experiment_code(tiny)
    monkeypatch.setattr(E, "experiment_code", lambda exp: {**real, "test_records": "0" * 16})
    assert main(["report", "--out", str(tmp_path), "--experiment", NAME]) == 0
    assert main(["report", "--out", str(tmp_path), "--experiment", NAME, "--fail-stale"]) == 1
    captured = capsys.readouterr()
    assert "**6 of 6 records stale**" in captured.out and "6 of 6 records are stale" in captured.err
    assert main(["report", "--out", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path), "--experiment", "no_such_experiment"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path), "--profile", "full"]) == 2  # ROOT/full does not exist
    assert main(["report", "--out", str(tmp_path), "--experiment", NAME, "--bootstrap-seed", "-1"]) == 2
    assert "--bootstrap-seed must be a non-negative int, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--profile", "medium"])


def test_load_records_refuses_missing_folder_unknown_experiment_or_profile(tiny, tmp_path):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_records(tmp_path / "nowhere")
    assert load_records(tmp_path / "nowhere", missing_ok=True).empty
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        load_records(tmp_path, experiment="nope")
    with pytest.raises(ValueError, match="profile"):
        load_records(tmp_path, experiment=NAME, profile="medium")
    assert len(load_records(tmp_path, experiment=NAME)) == 6
    unregister_experiment(NAME)  # records on disk of an experiment no longer registered still load
    assert len(load_records(tmp_path, experiment=NAME)) == 6
    assert isinstance(load_records(tmp_path, experiment=NAME), pd.DataFrame)


def test_a_chapter_kernels_experiment_is_hashed_as_its_exported_module():
    "The book runs a chapter's exported cells in its kernel (__main__): its records must name the module's code."
    from advex_lit import exp_tabular
    from advex_lit.experiments import Experiment, experiment_code, exported_module
    namespace = {"__name__": "__main__"}
    exec("def table1_execute(run, ctx):\n    return {}\ndef helper_only_here(run, ctx):\n    return {}\n"
         "def run_split(split):\n    def prepare(runs, ctx): pass\n    return prepare", namespace)
    kernel_execute, unknown = namespace["table1_execute"], namespace["helper_only_here"]
    assert exported_module(kernel_execute) == "advex_lit.exp_tabular"
    assert exported_module(namespace["run_split"]("icml")) == "advex_lit.exp_tabular"  # a closure
    assert exported_module(unknown) is None and exported_module(exp_tabular.table1_execute) is None
    package = experiment_code(Experiment("t", "t", "(test)", lambda p: [], exp_tabular.table1_execute))
    kernel = experiment_code(Experiment("t", "t", "(test)", lambda p: [], kernel_execute))
    assert kernel == package and "__main__" not in kernel


def test_reproduce_rerun_stale_recomputes_only_the_stale_records(tiny, tmp_path, monkeypatch):
    "`reproduce --rerun-stale` replaces records made by other code, keeps current ones, and leaves none missing."
    from advex_lit.cli import main, remove_stale_records
    folder = tmp_path / "quick"
    run_experiment(NAME, "quick", folder, progress=False)
    runs = _runs("quick")
    paths = [record_path(folder, r) for r in runs]
    assert remove_stale_records(NAME, runs, folder) == []  # all current: nothing removed
    old = json.loads(paths[0].read_text())
    old["provenance"]["code_hash"] = "0" * 16  # one record made by other code
    write_json_atomic(paths[0], old)
    kept = paths[1].read_text()
    assert main(["reproduce", NAME, "--profile", "quick", "--out", str(tmp_path), "--quiet"]) == 0
    assert json.loads(paths[0].read_text())["provenance"]["code_hash"] == "0" * 16  # without the flag it stays
    assert main(["reproduce", NAME, "--profile", "quick", "--out", str(tmp_path), "--quiet", "--rerun-stale"]) == 0
    current = E.experiment_code_hash(E.get_experiment(NAME))
    assert all(json.loads(p.read_text())["provenance"]["code_hash"] == current for p in paths)
    assert paths[1].read_text() == kept  # a current record is not rewritten
    assert experiment_report(NAME, folder, "quick").stale == 0


def test_provenance_line_sums_the_records_wall_times(tiny, tmp_path):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    for i, path in enumerate(sorted(tmp_path.glob(f"{NAME}/*.json"))):  # 6 records: 600 s each, one of 3,000 s
        rec = json.loads(path.read_text())
        rec["seconds"] = 3000.0 if i == 0 else 600.0
        write_json_atomic(path, rec)
    line = provenance_line(experiment_report(NAME, tmp_path, "quick"))
    assert "wall time 1.7 h in all (longest run 50 min)" in line  # 6,000 s = 1.67 h
    assert [E.duration_text(s) for s in (0, 89, 90, 5399, 5400)] == ["0 s", "89 s", "2 min", "90 min", "1.5 h"]
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds"):
            E.duration_text(bad)
