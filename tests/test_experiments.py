"""Tests of the experiment runner (advex_lit.experiments) and the advex-lit command line (advex_lit.cli)."""
import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples

from advex_lit import experiments as E
from advex_lit.experiments import (Experiment, Run, RunContext, experiment_report, get_experiment, list_experiments,
                                   load_records, record_path, register_experiment, results_dir, run_experiment,
                                   run_progress, select_runs, side_by_side, write_json_atomic)

NAME = "test_tiny"


def _runs(profile):
    return [Run.make(NAME, ds, "mean", "average", {"n": n}, seed=s, profile=profile)
            for ds in ("synthetic:a", "synthetic:b") for n in (5, 50) for s in range(2)]


def _execute(run, ctx):
    ctx.cache["calls"] = ctx.cache.get("calls", 0) + 1
    x = np.random.default_rng(run.seed).standard_normal(run.param_dict["n"])
    return {"err": float(abs(x.mean())), "nested": {"n2": run.param_dict["n"] * 2}, "vec": [1.0, 2.0]}


def _table(df, profile):
    ours = df.groupby(["dataset", "n"], as_index=False)["err"].mean()
    paper = pd.DataFrame({"dataset": ["synthetic:a", "synthetic:a"], "n": [5, 50], "err": [0.36, 0.11]})
    return side_by_side(ours, paper, on=["dataset", "n"])


def _verdicts(df):
    m = df.groupby("n")["err"].mean()
    return [f"error shrinks: {'holds' if m[50] < m[5] else 'does not hold'}"]


@pytest.fixture()
def tiny():
    calls = []

    def execute(run, ctx):
        calls.append(run.config_hash())
        return _execute(run, ctx)
    exp = register_experiment(Experiment(NAME, "Tiny", "(test)", _runs, execute, table=_table, verdicts=_verdicts))
    exp.calls = calls
    yield exp
    E.unregister_experiment(NAME)


def test_run_progress_counts_records_of_planned_runs(tiny, tmp_path):
    assert run_progress(NAME, "quick", tmp_path) == (0, 8)
    run_experiment(NAME, "quick", tmp_path, only="synthetic:a", progress=False)
    assert run_progress(NAME, "quick", tmp_path) == (4, 8)
    record_path(tmp_path, _runs("quick")[-1]).write_text("{}")  # counted by its file, whatever it holds
    assert run_progress(NAME, "quick", tmp_path) == (5, 8)
    assert run_progress(NAME, "full", tmp_path) == (0, 8)      # another profile's runs have other hashes
    with pytest.raises(ValueError, match="profile"):
        run_progress(NAME, "gpu", tmp_path)


# --- hashes -------------------------------------------------------------------------------------------------------

def test_config_hash_stable_and_canonical():
    a = Run.make("e", "d", "m", "x", {"eps": 0.1, "lam": 2, "grid": [1, 2]}, seed=3)
    b = Run.make("e", "d", "m", "x", {"grid": (np.int64(1), 2), "lam": np.int64(2), "eps": np.float64(0.1)}, seed=3)
    assert a == b and hash(a) == hash(b)
    assert a.config_hash() == b.config_hash()
    assert len(a.config_hash()) == 16 and int(a.config_hash(), 16) >= 0
    # a fixed value: the hash must not change between versions, or old records would be re-run
    assert Run.make("e", "d", "m", "x", {"eps": 0.1}).config_hash() == Run.make("e", "d", "m", "x", {"eps": 0.1}).config_hash()
    assert a.param_dict == {"eps": 0.1, "grid": (1, 2), "lam": 2}


@settings(max_examples=examples(40), deadline=None)
@given(st.dictionaries(st.sampled_from(["eps", "lam", "k", "steps"]), st.integers(-5, 5) | st.floats(-1, 1), min_size=1),
       st.integers(0, 10))
def test_config_hash_changes_with_any_field(params, seed):
    r = Run.make("e", "d", "m", "x", params, seed=seed)
    assert r.config_hash() == Run.make("e", "d", "m", "x", dict(reversed(list(params.items()))), seed=seed).config_hash()
    others = [Run.make("e2", "d", "m", "x", params, seed=seed), Run.make("e", "d2", "m", "x", params, seed=seed),
              Run.make("e", "d", "m2", "x", params, seed=seed), Run.make("e", "d", "m", "x2", params, seed=seed),
              Run.make("e", "d", "m", "x", params, seed=seed + 1), Run.make("e", "d", "m", "x", params, seed=seed, profile="full"),
              Run.make("e", "d", "m", "x", {**params, "extra": 1}, seed=seed)]
    assert len({o.config_hash() for o in others} | {r.config_hash()}) == len(others) + 1


def test_run_make_validation():
    with pytest.raises(TypeError, match="params"):
        Run.make("e", "d", "m", "x", params=[("eps", 1)])
    with pytest.raises(ValueError, match="profile"):
        Run.make("e", "d", "m", "x", profile="medium")


# --- resume ----------------------------------------------------------------------------------------------------------

def test_second_call_executes_nothing(tiny, tmp_path):
    df = run_experiment(NAME, "quick", tmp_path, progress=False)
    assert len(tiny.calls) == 8 and len(df) == 8
    assert len(list((tmp_path / NAME).glob("*.json"))) == 8
    df2 = run_experiment(NAME, "quick", tmp_path, progress=False)
    assert len(tiny.calls) == 8
    pd.testing.assert_frame_equal(df.sort_values("config_hash").reset_index(drop=True),
                                  df2.sort_values("config_hash").reset_index(drop=True))


def test_interrupted_sweep_resumes(tiny, tmp_path):
    original = tiny.execute
    count = []

    def crash_on_third(run, ctx):
        count.append(1)
        if len(count) == 3:
            raise RuntimeError("simulated kill")
        return original(run, ctx)
    tiny.execute = crash_on_third
    with pytest.raises(RuntimeError, match="simulated kill"):
        run_experiment(NAME, "quick", tmp_path, progress=False)
    files = sorted(p.name for p in (tmp_path / NAME).iterdir())
    assert len(files) == 2 and all(f.endswith(".json") for f in files)  # no tmp file, no half record
    tiny.execute = original
    done_before = list(tiny.calls)
    df = run_experiment(NAME, "quick", tmp_path, progress=True)
    assert len(df) == 8 and df["err"].notna().all()
    new = tiny.calls[len(done_before):]
    assert len(new) == 6 and not set(new) & {f[:-5] for f in files}


def test_only_filter_and_then_rest(tiny, tmp_path):
    df = run_experiment(NAME, "quick", tmp_path, only="b", progress=False)
    assert set(df["dataset"]) == {"synthetic:b"} and len(tiny.calls) == 4
    # names match exactly (with or without the synthetic: prefix), never as substrings; commas separate names
    assert {r.dataset for r in select_runs(NAME, "quick", only="synthetic:a, b")} == {"synthetic:a", "synthetic:b"}
    with pytest.raises(ValueError, match="matches no data set"):
        select_runs(NAME, "quick", only="synthetic")
    df = run_experiment(NAME, "quick", tmp_path, progress=False)
    assert len(df) == 8 and len(tiny.calls) == 8


# --- atomic writes ---------------------------------------------------------------------------------------------------

def test_failed_run_leaves_no_record(tiny, tmp_path):
    def bad(run, ctx):
        raise ValueError("boom")
    tiny.execute = bad
    with pytest.raises(ValueError, match="boom"):
        run_experiment(NAME, "quick", tmp_path, progress=False)
    assert not (tmp_path / NAME).exists() or not list((tmp_path / NAME).iterdir())


def test_replace_failure_leaves_no_partial_file(tiny, tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        run_experiment(NAME, "quick", tmp_path, progress=False)
    assert list((tmp_path / NAME).iterdir()) == []  # no record, no temp file, no claim
    with pytest.raises(OSError):
        write_json_atomic(tmp_path / "x" / "r.json", {"a": 1})
    assert list((tmp_path / "x").iterdir()) == []


def test_unserialisable_metrics_leave_no_file(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "r.json", {"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_record_contents(tiny, tmp_path):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    run = _runs("quick")[0]
    rec = json.loads(record_path(tmp_path, run).read_text())
    assert set(rec) >= {"run", "config_hash", "metrics", "seconds", "versions", "hardware", "date"}
    assert rec["config_hash"] == run.config_hash() and rec["run"]["params"] == {"n": 5}
    assert rec["versions"]["numpy"] == np.__version__ and "python" in rec["versions"]
    assert "CPU" in rec["hardware"] and rec["seconds"] >= 0
    df = load_records(tmp_path, experiment=NAME)
    assert {"n", "err", "nested.n2", "vec", "hardware", "date"} <= set(df.columns)
    assert (df["nested.n2"] == 2 * df["n"]).all() and df["vec"].iloc[0] == [1.0, 2.0]
    assert load_records(tmp_path, experiment=NAME, profile="full").empty
    assert load_records(tmp_path / "nowhere", missing_ok=True).empty


# --- validation ------------------------------------------------------------------------------------------------------

def test_validation_before_work(tiny, tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*test_tiny"):
        run_experiment("nope", "quick", tmp_path)
    with pytest.raises(ValueError, match="profile"):
        run_experiment(NAME, "medium", tmp_path)
    with pytest.raises(ValueError, match="matches no data set.*synthetic:a"):
        run_experiment(NAME, "quick", tmp_path, only="mnist")
    with pytest.raises(ValueError, match="only"):
        run_experiment(NAME, "quick", tmp_path, only="")
    with pytest.raises(ValueError, match="profile"):
        results_dir("medium")
    assert tiny.calls == [] and not (tmp_path / NAME).exists()


def test_bad_runs_rejected(tmp_path):
    dup = Experiment("test_dup", "dup", "-", lambda p: [Run.make("test_dup", "d", "m", "x", profile=p)] * 2, _execute)
    foreign = Experiment("test_foreign", "f", "-", lambda p: [Run.make("other", "d", "m", "x", profile=p)], _execute)
    wrong = Experiment("test_wrong", "w", "-", lambda p: [Run.make("test_wrong", "d", "m", "x", profile="full")], _execute)
    try:
        for exp, msg in ((dup, "duplicate"), (foreign, "belongs"), (wrong, "profile")):
            register_experiment(exp)
            with pytest.raises(ValueError, match=msg):
                run_experiment(exp.name, "quick", tmp_path, progress=False)
    finally:
        for n in ("test_dup", "test_foreign", "test_wrong"):
            E.unregister_experiment(n)
    with pytest.raises(TypeError):
        register_experiment("not an experiment")


def test_prepare_runs_before_execute(tmp_path):
    order = []

    def prepare(runs, ctx):
        order.append("prepare")
        raise FileNotFoundError("data missing")
    exp = register_experiment(Experiment("test_prep", "p", "-", _runs, lambda r, c: order.append("execute") or {},
                                         prepare=prepare))
    exp.runs = lambda p: [Run.make("test_prep", "d", "m", "x", profile=p)]
    try:
        with pytest.raises(FileNotFoundError, match="data missing"):
            run_experiment("test_prep", "quick", tmp_path, progress=False)
        assert order == ["prepare"]
    finally:
        E.unregister_experiment("test_prep")


# --- tables ----------------------------------------------------------------------------------------------------------

def test_side_by_side():
    ours = pd.DataFrame({"dataset": ["a", "b"], "model": ["x", "x"], "dG": [0.1, 0.2], "acc": [0.9, 0.8]})
    paper = pd.DataFrame({"dataset": ["a", "c"], "model": ["x", "x"], "dG": [0.15, 0.3], "only_paper": [1, 2]})
    t = side_by_side(ours, paper, on=["dataset", "model"])
    assert list(t.columns) == ["dataset", "model", "dG", "dG (paper)", "acc", "only_paper (paper)"]
    assert len(t) == 3
    row_a = t[t["dataset"] == "a"].iloc[0]
    assert row_a["dG"] == 0.1 and row_a["dG (paper)"] == 0.15
    assert np.isnan(t[t["dataset"] == "b"]["dG (paper)"].iloc[0])
    assert np.isnan(t[t["dataset"] == "c"]["dG"].iloc[0])
    with pytest.raises(ValueError, match="key column"):
        side_by_side(ours, paper, on=["missing"])
    with pytest.raises(TypeError, match="paper"):
        side_by_side(ours, [1, 2], on=["dataset"])


def test_verdicts_wait_for_the_complete_sweep(tiny, tmp_path):
    judged = []
    tiny.verdicts = lambda df: judged.append(len(df)) or _verdicts(df)
    run_experiment(NAME, "quick", tmp_path, only="synthetic:a", progress=False)
    rep = experiment_report(NAME, tmp_path, "quick")
    assert (rep.runs_done, rep.runs_planned, rep.complete) == (4, 8, False)
    assert rep.verdicts == [] and judged == [] and rep.table is not None  # the table shows what there is
    assert "4 of 8 quick runs have a record" in E.progress_note(rep) and "verdicts wait" in E.progress_note(rep)
    (tmp_path / "empty").mkdir()
    none = experiment_report(NAME, tmp_path / "empty", "quick")
    assert none.runs_done == 0 and "none of its 8 quick runs has a record yet" in E.progress_note(none)
    run_experiment(NAME, "quick", tmp_path, progress=False)
    rep = experiment_report(NAME, tmp_path, "quick")
    assert rep.complete and E.progress_note(rep) is None and judged == [8] and rep.verdicts == ["error shrinks: holds"]


def test_report_on_tiny(tiny, tmp_path):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    rep = experiment_report(NAME, tmp_path, "quick")
    assert rep.n_records == 8 and rep.verdicts == ["error shrinks: holds"]
    assert list(rep.table.columns) == ["dataset", "n", "err", "err (paper)"] and len(rep.table) == 4
    assert experiment_report(NAME, tmp_path, "full").table is None
    assert "profile **quick**, 8 runs" in E.provenance_line(rep)


# --- CLI -------------------------------------------------------------------------------------------------------------

def test_cli_end_to_end(tiny, tmp_path, capsys):
    from advex_lit.cli import main, frame_to_markdown, resolve_names
    assert main(["reproduce", NAME, "--out", str(tmp_path), "--quiet"]) == 0
    # --out is a results root: records of profile P go to ROOT/P/NAME, where results_dir(P) looks for ROOT=$ADVEX_RESULTS
    assert len(list((tmp_path / "quick" / NAME).glob("*.json"))) == 8 and len(tiny.calls) == 8
    assert main(["reproduce", NAME, "--out", str(tmp_path), "--only", "a"]) == 0
    assert len(tiny.calls) == 8
    md = tmp_path / "R.md"
    assert main(["report", "--out", str(tmp_path), "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "## Tiny [quick]" in text and "error shrinks: holds" in text and "| err (paper) |" in text
    assert "not** the papers' results" in text
    assert main(["list"]) == 0
    assert NAME in capsys.readouterr().out
    assert main(["reproduce", "nope", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", NAME, "--out", str(tmp_path), "--only", "zzz"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", NAME, "--profile", "medium"])
    assert resolve_names("test") == [NAME] and resolve_names(NAME) == [NAME]
    assert frame_to_markdown(pd.DataFrame({"a": [1.0, np.nan], "b": ["x|y", None]})).splitlines()[2:] == \
        ["| 1 | x\\|y |", "| – | – |"]


def test_tabular_experiments_registered():
    import advex_lit.exp_tabular  # noqa: F401
    for n in ("table1_tabular", "app_i", "feat_indep"):
        exp = get_experiment(n)
        for p in ("quick", "full"):
            runs = exp.runs(p)
            assert runs and len({r.config_hash() for r in runs}) == len(runs) and all(r.profile == p for r in runs)
    assert {r.dataset for r in get_experiment("table1_tabular").runs("quick")} == {"mushroom", "spambase"}
    assert n in list_experiments()


def test_table1_builder_on_small_frame():
    from advex_lit.exp_tabular import table1_rows, table1_table, table1_verdicts, tradeoff_frame
    rows = [("natural", np.nan, np.nan, 0.95, 0.80), ("adversarial_closed_form", 0.1, np.nan, 0.93, 0.90),
            ("l1", np.nan, 0.02, 0.94, 0.85), ("l1", np.nan, 0.05, 0.925, 0.88)]
    n = 200  # per-example lists: the Gini index of each test example and its 0/1 correctness
    def example_lists(a, g, s):
        correct = (np.arange(n) < round((a + 0.01 * s) * n)).astype(int)
        return {"gini_ig": list(g + 0.01 * np.sin(np.arange(n))), "correct": list(correct)}
    df = pd.DataFrame([{"dataset": "spambase", "method": m, "eps": e, "lambda": l, "seed": s, "accuracy": a + 0.01 * s,
                        "auc": 0.9, "mean_gini": g, "profile": "cpu", **example_lists(a, g, s)}
                       for (m, e, l, a, g) in rows for s in (0, 1)])
    g = tradeoff_frame(df)
    a = g[g["family"] == "adversarial"].iloc[0]
    assert a["dG"] == pytest.approx(0.10) and a["AcDrop %"] == pytest.approx(2.0) and a["seeds"] == 2
    t = table1_rows(df)
    assert list(t["model"]) == ["n", "a", "l", "l matched"]
    matched = t[t["model"] == "l matched"].iloc[0]
    assert matched["setting"] == "lambda=0.05" and matched["dG"] == pytest.approx(0.08)  # AcDrop 2.5% is closest to 2%
    full = table1_table(df, "quick")
    assert {"dG (paper)", "AcDrop % (paper)"} <= set(full.columns)
    assert list(full.columns[:2]) == ["dataset", "profile"] and (full["profile"] == "quick").all()  # every table says its profile
    assert full[(full["dataset"] == "spambase") & (full["model"] == "a")]["dG (paper)"].iloc[0] == 0.17
    v = {x.claim: x for x in table1_verdicts(df)}
    assert v["icml.t1.spambase.ig.a_sparser"].outcome == "supported"       # mean Gini 0.90 vs 0.80 on every example
    assert v["icml.t1.spambase.ig.a_sparser"].effect == pytest.approx(0.10, abs=1e-9)
    assert v["icml.t1.spambase.ig.a_vs_l"].effect == pytest.approx(0.05, abs=1e-9) and v["icml.t1.spambase.ig.a_vs_l"].seeds == 2
    assert "no Mushroom runs" in v["icml.t1.mushroom.ig.a_sparser"].note


def test_load_records_ignores_other_json(tiny, tmp_path):
    run_experiment(NAME, "quick", tmp_path, progress=False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "cache.json").write_text('{"weights": [1, 2]}')
    (tmp_path / NAME / "broken.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        df = load_records(tmp_path)
    assert len(df) == 8 and set(df["experiment"]) == {NAME}


def test_glance_table_counts_outcomes_and_shows_text_verdicts_only_where_there_are_some():
    from types import SimpleNamespace
    from advex_lit.cli import glance_table
    from advex_lit.verdicts import Verdict
    judged = [Verdict("c1", "cpu", o, 0.1, 0.0, 0.2, 1, 10, 100, 1.0, False) for o in ("supported", "supported", "inconclusive")]
    rep = lambda name, verdicts: SimpleNamespace(name=name, paper="p", profile="cpu", n_records=3, runs_planned=3,
                                                 verdicts=verdicts, stale=0)
    t = glance_table([rep("a", judged)])
    assert "text verdicts" not in t and t.loc[0, ["supported", "contradicted", "inconclusive", "claims"]].tolist() == [2, 0, 1, 3]
    t = glance_table([rep("a", judged), rep("mine", ["error shrinks: holds"])])
    assert t["text verdicts"].tolist() == [0, 1] and t.loc[1, "supported"] == 0
