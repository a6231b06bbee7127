"Tests of advex_lit.exp_robust: the simple-gradient attack, the run lists of both profiles, a tiny end-to-end sweep."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import math

import numpy as np
import pytest

from advex_lit import attacks, exp_images as ei, exp_robust as er
from advex_lit.experiments import Run, get_experiment, run_experiment
from advex_lit.models import small_cnn
from advex_lit.training import TrainConfig, train

EXPERIMENTS = ("table2", "table3", "table4", "reg_search")


@pytest.fixture(scope="module")
def toy():
    d = ei.synthetic_images("gtsrb", 240, 20, seed=2)
    model = small_cnn(d.x_train.shape[1:], d.n_classes, width=4)
    train(model, "natural", (d.x_train, d.y_train), TrainConfig(epochs=2, learning_rate=5e-3, batch_size=40), seed=0)
    return d, model


# ---------- the simple-gradient attack ----------
def test_gradient_map_is_channel_sum_of_abs_gradient(toy):
    d, model = toy
    from advex_lit.attribution import saliency
    g = er.gradient_map(model, d.x_test[:4], d.y_test[:4])
    assert g.shape == (4, 16, 16) and np.allclose(g, np.abs(saliency(model, d.x_test[:4], d.y_test[:4])).sum(-1), atol=1e-6)


def test_ifia_gradient_respects_budget_labels_and_scores(toy):
    d, model = toy
    eps = 8 / 255
    res = er.ifia_gradient(model, d.x_test, d.y_test, eps=eps, k=20, steps=3, step_size=2 / 255, restarts=2, seed=1)
    correct = attacks.predict_labels(model, d.x_test) == d.y_test
    assert np.array_equal(res.evaluated, correct) and res.label_changed == 0
    assert np.abs(res.x_adv - d.x_test).max() <= eps + 1e-6 and res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert np.array_equal(attacks.predict_labels(model, res.x_adv)[correct], d.y_test[correct])
    ok = res.evaluated
    assert np.isnan(res.kendall_tau[~ok]).all() and ((-1 <= res.kendall_tau[ok]) & (res.kendall_tau[ok] <= 1)).all()
    assert ((0 <= res.topk_intersection[ok]) & (res.topk_intersection[ok] <= 1)).all()
    still = er.ifia_gradient(model, d.x_test, d.y_test, eps=0.0, k=20, steps=2, step_size=0.01)
    assert np.allclose(still.topk_intersection[still.evaluated], 1.0)  # no budget, no change


def test_ifia_gradient_bad_inputs(toy):
    d, model = toy
    with pytest.raises(ValueError, match="eps"): er.ifia_gradient(model, d.x_test, d.y_test, -0.1, 5, 1, 0.01)
    with pytest.raises(ValueError, match="k"): er.ifia_gradient(model, d.x_test, d.y_test, 0.1, 10 ** 6, 1, 0.01)
    with pytest.raises(ValueError, match="steps"): er.ifia_gradient(model, d.x_test, d.y_test, 0.1, 5, 0, 0.01)
    with pytest.raises(ValueError): er.ifia_gradient(model, d.x_test, d.y_test[:3], 0.1, 5, 1, 0.01)


def test_pgd_correct_is_per_example_pgd_accuracy(toy):
    d, model = toy
    from advex_lit.training import pgd_accuracy
    for eps, seed, batch in ((8 / 255, 0, 256), (16 / 255, 3, 7)):
        robust = er.pgd_correct(model, d.x_test, d.y_test, eps, 1, 1 / 255, batch_size=batch, seed=seed)
        assert robust.shape == (len(d.x_test),) and robust.dtype == bool
        assert robust.mean() == pgd_accuracy(model, d.x_test, d.y_test, eps, 1, 1 / 255, seed=seed, batch_size=batch)
    assert np.array_equal(er.pgd_correct(model, d.x_test, d.y_test, 0.0, 2, 0.01),
                          attacks.predict_labels(model, d.x_test) == d.y_test)  # no budget: natural correctness


# ---------- run lists ----------
@pytest.mark.parametrize("profile", ["quick", "full"])
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_run_lists_build_and_validate(name, profile):
    runs = get_experiment(name).runs(profile)
    assert runs and all(isinstance(r, Run) and r.profile == profile for r in runs)
    assert len({r.config_hash() for r in runs}) == len(runs)
    for r in runs:
        ei.train_config(r.method, r.param_dict)
        assert r.method in er.ROBUST_METHODS


def test_full_profile_has_the_papers_settings():
    p = er.robust_params("full", "mnist", "ig_norm")
    assert (p["eps"], p["attack_steps"], p["ig_lambda"], p["m_grad"], p["m_attack"], p["k"], p["eval_k"]) == (0.3, 40, 1.0, 50, 10, 200, 100)
    g = er.robust_params("full", "gtsrb", "ig_sum_norm")
    assert g["ig_beta"] == 1.0 and g["eps"] == pytest.approx(8 / 255) and g["batch_size"] == 64 and g["ifia_steps"] == 50
    assert [r.param_dict["m_grad"] for r in er.table3_runs("full")] == list(range(10, 101, 10))
    assert {r.method for r in er.table4_runs("full")} == {"natural", "adversarial", "ig_sum_norm"}
    with pytest.raises(ValueError, match="method"): er.robust_params("full", "mnist", "l1")
    assert (p["pgd_steps"], p["pgd_step_size"]) == (100, 0.01) and er.robust_params("full", "mnist", "natural")["epochs"] == 21
    assert (g["pgd_steps"], g["learning_rate"], g["lr_schedule"], g["l2_coupled"]) == (40, 1e-5, ((500, 1e-4), (60_000, 1e-5)), 2e-4)
    assert er.robust_params("full", "gtsrb", "ig_norm")["learning_rate"] == 1e-6
    assert (g["augment_per_class"], g["normalize_brightness"]) == (10_000, True)
    f = er.robust_params("full", "flowers17", "adversarial")
    assert (f["learning_rate"], f["lr_schedule"], f["augment_per_class"], f["epochs"]) == (1e-3, ((60_000, 1e-4),), 1000, 66)
    with pytest.raises(ValueError, match="dataset"): er.robust_params("quick", "mnist", "natural")


def test_neurips_settings_beside_the_paper_state_every_difference():
    t = er.neurips_settings_vs_paper()
    assert t[~t["same"] & (t["note"] == "")].empty
    assert set(t.loc[~t["same"], "setting"]) == {"steps", "lr_schedule"}
    steps = t[t["setting"] == "steps"].set_index(["dataset", "method"])["ours"]
    assert steps[("gtsrb", "ig_norm")] == 10 * 6719 and steps[("flowers17", "natural")] == 66 * 1063
    assert steps[("mnist", "natural")] == 21 * 1200 and steps[("mnist", "adversarial")] == 84 * 1200
    assert len(t) > 200 and t["same"].mean() > 0.9


def test_tables_share_models():
    t2 = {(r.dataset, r.method): ei.ModelSpec.of(r) for r in er.table2_runs("quick")}
    t4 = er.table4_runs("quick")
    assert all(ei.ModelSpec.of(r) == t2[(r.dataset, r.method)] for r in t4)
    t3 = [r for r in er.table3_runs("quick") if r.param_dict["m_grad"] == er.robust_params("quick", "mnist_5k", "ig_norm")["m_grad"]]
    assert len(t3) == 1 and ei.ModelSpec.of(t3[0]) == t2[("mnist_5k", "ig_norm")]


# ---------- a tiny end-to-end sweep ----------
def test_tiny_sweep_end_to_end(tmp_path, monkeypatch):
    tiny = er._quick(200, 24, 4, 5e-3, 8 / 255, 1, 4 / 255, 0.1, 0.1, 10, 2 / 255)
    tiny["m_grid"] = (2,)
    tiny["eval"].update(n_ifia=6, ifia_steps=2, ig_steps=4, attack_ig_steps=2, pgd_steps=2)
    for m in ("ig_norm", "ig_sum_norm"): tiny[m].update(m_attack=1, m_grad=2)
    tiny["train"]["epochs"] = 2
    monkeypatch.setitem(er.ROBUST_SETTINGS, "quick", {"synthetic:gtsrb": tiny})
    monkeypatch.setitem(er.TABLE3_DATASET, "quick", "synthetic:gtsrb")
    t2 = run_experiment("table2", "quick", tmp_path, progress=False)
    assert len(t2) == 4
    for col in ("natural_accuracy", "pgd_accuracy"):
        assert t2[col].between(0, 1).all()
    assert (t2["pgd_accuracy"] <= t2["natural_accuracy"] + 1e-9).all()
    attacked = t2[t2["n_attacked"] > 0]
    assert len(attacked) >= 2 and attacked["kendall_tau"].map(math.isfinite).all()
    assert attacked["topk_intersection"].between(0, 1).all()
    table = get_experiment("table2").table(t2, "quick")
    assert (table["data"] == "synthetic stand-in").all() and set(table["approach"]) == set(er.APPROACH.values())
    assert "Kendall (paper)" in table.columns and len(get_experiment("table2").verdicts(t2)) >= 1
    n_models = len(list((tmp_path / "models").glob("*.weights.h5")))
    t3 = run_experiment("table3", "quick", tmp_path, progress=False)
    t4 = run_experiment("table4", "quick", tmp_path, progress=False)
    assert len(t3) == 1 and len(t4) == 3 and t4["natural_accuracy"].between(0, 1).all()
    assert len(list((tmp_path / "models").glob("*.weights.h5"))) == n_models  # Tables 3 and 4 reuse Table 2's models
    nat2 = t2[t2["method"] == "natural"].iloc[0]["natural_accuracy"]
    assert t4[t4["method"] == "natural"].iloc[0]["natural_accuracy"] == pytest.approx(nat2)


# ---------- App. C.3: the lambda / beta search ----------
def test_reg_search_runs_cover_the_grid_and_share_table2_models():
    full = er.reg_search_runs("full")
    assert len(full) == 24 and er.reg_search_runs("cpu") == []
    values = {(r.dataset, r.method): set() for r in full}
    for r in full: values[(r.dataset, r.method)].add(r.param_dict[er.REG_PARAM[r.method]])
    assert all(v == set(er.REG_GRID) == {1.0, 0.1, 0.01} for v in values.values()) and len(values) == 8
    t2 = {ei.ModelSpec.of(r).key() for r in er.table2_runs("full")}
    shared = [r for r in full if ei.ModelSpec.of(r).key() in t2]
    assert sorted((r.dataset, r.method, r.param_dict[er.REG_PARAM[r.method]]) for r in shared) == sorted(
        (d, m, er.paper_choice(d, m)) for d in ("mnist", "fashion_mnist", "gtsrb", "flowers17") for m in er.REG_PARAM)
    quick = er.reg_search_runs("quick")
    assert [(r.dataset, r.method) for r in quick] == [("mnist_5k", "ig_norm")] * 3
    with pytest.raises(ValueError, match="profile"): er.reg_search_runs("gpu")


def test_paper_choice_is_table2s_setting():
    assert [er.paper_choice(d, m) for d, m in (("mnist", "ig_norm"), ("mnist", "ig_sum_norm"), ("fashion_mnist", "ig_sum_norm"),
                                               ("gtsrb", "ig_sum_norm"), ("flowers17", "ig_norm"), ("mnist_5k", "ig_norm"),
                                               ("synthetic:gtsrb", "ig_norm"))] == [1.0, 0.1, 0.1, 1.0, 0.1, 1.0, 1.0]
    with pytest.raises(ValueError, match="method"): er.paper_choice("mnist", "adversarial")
    with pytest.raises(ValueError, match="dataset"): er.paper_choice("cifar10", "ig_norm")


def _search_records(taus: dict, method="ig_sum_norm", dataset="fashion_mnist", seeds=(0,)):
    rows = []
    for seed in seeds:
        for value, per_image in taus.items():
            t = np.asarray(per_image, dtype=float) + 0.01 * seed
            rows.append({"dataset": dataset, "method": method, "seed": seed, er.REG_PARAM[method]: value,
                         "limit_train": None, "natural_accuracy": 0.9, "pgd_accuracy": 0.5, "topk_intersection": 0.6,
                         "n_attacked": int(np.isfinite(t).sum()), "kendall_tau": float(np.nanmean(t)) if np.isfinite(t).any() else np.nan,
                         "kendall_tau_per_example": t.tolist()})
    import pandas as pd
    return pd.DataFrame(rows)


def test_selected_value_is_the_best_mean_tau_and_skips_unattacked_models():
    df = _search_records({1.0: [0.2, 0.4], 0.1: [0.5, 0.7], 0.01: [np.nan, np.nan]}, seeds=(0, 1))
    assert er.selected_value(df) == 0.1
    assert er.selected_value(df[df["ig_beta"] == 0.01]) is None
    assert er.selected_value(_search_records({1.0: [0.3], 0.1: [0.3 - 1e-9]})) == 1.0


def test_reg_search_table_marks_selection_paper_choice_and_paired_gain():
    taus = {1.0: [0.50, 0.60, 0.55, 0.65], 0.1: [0.40, 0.45, 0.50, 0.42], 0.01: [0.30, 0.20, 0.25, 0.35]}
    t = er.reg_search_table(_search_records(taus), "cpu").set_index("value")
    assert list(t.index) == [1.0, 0.1, 0.01] and (t["approach"] == "IG-SUM-NORM").all() and (t["weight"] == "beta").all()
    assert t.loc[1.0, "selected"] == "yes" and t.loc[0.1, "paper's choice"] == "yes" and t.loc[0.01, "selected"] == ""
    gain = np.mean(taus[1.0]) - np.mean(taus[0.1])
    effect, interval = t.loc[1.0, "tau gain over paper's value"].split(" [")
    low, high = (float(v) for v in interval.rstrip("]").split(", "))
    assert float(effect) == pytest.approx(gain, abs=1e-4) and low <= gain <= high and low > 0
    same = er.reg_search_table(_search_records({1.0: [0.1, 0.2], 0.1: [0.5, 0.6]}), "cpu").set_index("value")
    assert same.loc[0.1, "tau gain over paper's value"] == "same value"
