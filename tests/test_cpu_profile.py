"""Tests of the cpu profile: its settings meet the evaluation sizes it promises, its seeded rows pair models by seed, and
committed records are recomputed bit for bit."""
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
import pytest

from advex_lit import exp_images as ei, exp_robust as er, exp_tabular  # noqa: F401 (registers the tabular experiments)
from advex_lit.experiments import RunContext, experiment_report, get_experiment, hardware_string, results_dir, select_runs

PAPER_EPS = {"mnist_5k": 0.3, "fashion_mnist": 0.1}
IMAGE_EXPERIMENTS = ("table1_images", "fig1", "fig2", "fig3")
ROBUST_EXPERIMENTS = ("table2", "table3", "table4")
JUDGED_EXPERIMENTS = ("table1_tabular", "app_i", "feat_indep") + IMAGE_EXPERIMENTS + ROBUST_EXPERIMENTS


# ---------- what the cpu runs promise ----------
@pytest.mark.parametrize("name", IMAGE_EXPERIMENTS + ROBUST_EXPERIMENTS)
def test_cpu_runs_use_all_the_data_and_validate(name):
    runs = select_runs(name, "cpu")
    assert runs and {r.dataset for r in runs} == ({er.TABLE3_DATASET["cpu"]} if name == "table3" else set(PAPER_EPS))
    for r in runs:
        p = r.param_dict
        assert p["limit_train"] is None and p["limit_test"] is None
        ei.train_config(r.method, p)


def test_cpu_image_evaluation_sizes_and_eps():
    for dataset, eps in PAPER_EPS.items():
        p = ei.image_params("cpu", dataset, "adversarial")
        assert p["eps"] == eps and p["n_ig"] >= 1000 and p["n_shap"] >= 200 and p["ig_steps"] == 100


def test_cpu_icml_rows_have_three_seeds_per_model():
    runs = select_runs("table1_images", "cpu")
    assert len(runs) == 2 * 3 * 3
    for dataset in PAPER_EPS:
        for method in ("natural", "adversarial", "l1"):
            assert {r.seed for r in runs if r.dataset == dataset and r.method == method} == {0, 1, 2}
    assert {r.seed for r in select_runs("fig2", "cpu")} == {0, 1, 2}


def test_cpu_robust_evaluation_sizes():
    for dataset, eps in PAPER_EPS.items():
        for method in er.ROBUST_METHODS:
            p = er.robust_params("cpu", dataset, method)
            assert p["attack_eps"] == eps and p["pgd_steps"] == 40 and p["limit_test"] is None
            assert p["n_ifia"] >= 100 and p["ifia_steps"] == 100
    assert 50 in [r.param_dict["m_grad"] for r in select_runs("table3", "cpu")]


def test_cpu_robust_natural_and_madry_models_are_the_image_chapters():
    image = {(r.dataset, r.method): ei.ModelSpec.of(r).key() for r in select_runs("table1_images", "cpu") if r.seed == 0}
    for r in select_runs("table2", "cpu"):
        if r.method in ("natural", "adversarial"):
            assert ei.ModelSpec.of(r).key() == image[(r.dataset, r.method)]


@pytest.mark.parametrize("name", ("table1_tabular", "app_i", "feat_indep"))
def test_cpu_tabular_runs_are_the_full_runs(name):
    strip = lambda runs: [(r.dataset, r.model, r.method, r.params, r.seed) for r in runs]
    assert strip(select_runs(name, "cpu")) == strip(select_runs(name, "full"))


# ---------- seeded rows ----------
def _record(method, seed, gini, accuracy):
    return {"dataset": "fashion_mnist", "method": method, "seed": seed, "accuracy": accuracy, "gini_ig": gini,
            "eps": 0.1, "l1_lambda": 2e-4, "limit_train": None}


def test_table1_rows_pair_each_model_with_the_natural_model_of_its_seed():
    records = pd.DataFrame([  # shuffled; seed 2 has no natural model and must be left out
        _record("adversarial", 1, [0.80, 0.90], 0.80), _record("natural", 1, [0.70, 0.70], 0.90),
        _record("adversarial", 0, [0.60, 0.70], 0.85), _record("natural", 0, [0.50, 0.50], 0.95),
        _record("adversarial", 2, [0.99, 0.99], 0.10)])
    row = ei.table1_images_rows(records).set_index("model").loc["a"]
    assert row["seeds"] == 2
    assert row["dG"] == pytest.approx(np.mean([0.15, 0.15]))
    assert row["AcDrop %"] == pytest.approx(100 * np.mean([0.95 - 0.85, 0.90 - 0.80]))
    assert row["accuracy"] == pytest.approx(0.825) and row["natural accuracy"] == pytest.approx(0.925)


def test_fig2_settings_pool_the_examples_of_all_seeds_in_seed_order():
    records = pd.DataFrame([{"dataset": "mnist_5k", "method": "adversarial", "seed": s, "dg_ig": [s, s + 0.5]}
                            for s in (2, 0, 1)])
    pooled = ei.fig2_settings(records)
    assert list(pooled) == ["MNIST IG a"]
    np.testing.assert_array_equal(pooled["MNIST IG a"], [0, 0.5, 1, 1.5, 2, 2.5])


# ---------- committed records are what the code computes ----------
ROOT = Path(__file__).resolve().parents[1]


def as_json(value):
    "value as its record stores it (NumPy scalars and arrays, tuples: plain JSON types)."
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


@pytest.mark.parametrize("config_hash", ["8ac8a3c3adc2907a", "8c9057ab07fb84d3"])  # Spambase: an l-model, an a-model (seed 1)
def test_a_committed_cpu_record_is_recomputed_bit_for_bit(config_hash, tmp_path):
    record = json.loads((ROOT / "results" / "cpu" / "table1_tabular" / f"{config_hash}.json").read_text())
    exp = get_experiment("table1_tabular")
    run = next(r for r in exp.runs("cpu") if r.config_hash() == config_hash)
    assert run.to_json() == record["run"]
    metrics = as_json(exp.execute(run, RunContext(out=tmp_path, profile="cpu")))
    if record["hardware"] == hardware_string():
        assert metrics == record["metrics"]  # the machine kind that made it: bit for bit
    else:  # another CPU's kernels round differently in the last bits; everything counted is the same
        assert_close(metrics, record["metrics"])


def assert_close(ours, theirs, path="metrics"):
    "Equal structure, ints and strings; floats within 1e-4 relative or 2e-5 (records round to 5 decimals), NaN as NaN."
    assert type(ours) is type(theirs) or {type(ours), type(theirs)} <= {int, float}, path
    if isinstance(ours, dict):
        assert ours.keys() == theirs.keys(), path
        for k in ours: assert_close(ours[k], theirs[k], f"{path}.{k}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)): assert_close(a, b, f"{path}[{i}]")
    elif isinstance(ours, float) or isinstance(theirs, float):
        assert np.isclose(ours, theirs, rtol=1e-4, atol=2e-5, equal_nan=True), (path, ours, theirs)
    else:
        assert ours == theirs, (path, ours, theirs)


def test_assert_close_tells_rounding_from_a_change():
    assert_close({"w": [1.0, 2.0], "n": 3}, {"w": [1.0 + 1e-9, 2.00001], "n": 3})
    for changed in ({"w": [1.0, 2.01], "n": 3}, {"w": [1.0, 2.0], "n": 4}, {"w": [1.0], "n": 3}):
        with pytest.raises(AssertionError): assert_close(changed, {"w": [1.0, 2.0], "n": 3})


def test_committed_cpu_verdicts_do_not_depend_on_the_bootstrap_seed():
    "Issue 12: judged again with another bootstrap seed, every committed cpu verdict keeps its outcome and effect."
    from advex_lit.verdicts import Verdict, bootstrap_seed
    judged = {}
    for seed in (0, 1):
        with bootstrap_seed(seed):
            for name in [n for n in JUDGED_EXPERIMENTS if (results_dir("cpu") / n).is_dir()]:
                rep = experiment_report(name, results_dir("cpu"), "cpu")  # judged only when its sweep is complete
                for v in rep.verdicts:
                    if isinstance(v, Verdict) and np.isfinite(v.effect): judged.setdefault(v.claim, []).append(v)
    assert len(judged) >= 20 and all(len(vs) == 2 for vs in judged.values())
    for claim, (v0, v1) in judged.items():
        assert (v0.outcome, v0.effect) == (v1.outcome, v1.effect), (claim, v0.line(), v1.line())
    assert any(v0.low != v1.low for v0, v1 in judged.values())  # the second seed did draw other resamples


def test_readme_counts_of_the_cpu_evidence_are_the_records():
    "The README's summary of the cpu evidence states the counts and the run time that the committed records give."
    import re
    from advex_lit.verdicts import Verdict
    verdicts = [v for n in JUDGED_EXPERIMENTS for v in experiment_report(n, results_dir("cpu"), "cpu").verdicts
                if isinstance(v, Verdict) and v.seeds]
    counts = {o: sum(v.outcome == o for v in verdicts) for o in ("supported", "contradicted")}
    seconds = sum(json.loads(p.read_text())["seconds"] for p in results_dir("cpu").glob("*/*.json"))
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    stated = re.search(r"\((\d+) claims supported and (\d+) contradicted among those with data", readme)
    assert stated and (int(stated[1]), int(stated[2])) == (counts["supported"], counts["contradicted"]), counts
    hours = re.search(r"cpu records add up to about ([\d.]+) hours", readme)
    assert hours and abs(float(hours[1]) - seconds / 3600) < 0.05, seconds / 3600
