"Tests of the image and robust experiments' verdicts: per-example fields in the records, one Verdict per claim, known truths."
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import math

import numpy as np
import pandas as pd
import pytest
from tiny_experiments import TINY_IMAGES, tiny_robust

from advex_lit import exp_images as ei, exp_robust as er
from advex_lit.experiments import get_experiment, run_experiment
from advex_lit.verdicts import Verdict, claim_dataset, claims_for, get_claim


@pytest.fixture(scope="module")
def image_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("images")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ei.IMAGE_SETTINGS, "quick", {"synthetic:cifar10": TINY_IMAGES})
        mp.setitem(ei.FIG3_DATASETS, "quick", ("synthetic:cifar10",))
        return {n: run_experiment(n, "quick", out, progress=False) for n in ("table1_images", "fig1", "fig2", "fig3")}


@pytest.fixture(scope="module")
def robust_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("robust")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(er.ROBUST_SETTINGS, "quick", {"synthetic:gtsrb": tiny_robust()})
        mp.setitem(er.TABLE3_DATASET, "quick", "synthetic:gtsrb")
        return {n: run_experiment(n, "quick", out, progress=False) for n in ("table2", "table3", "table4")}


def _by_claim(verdicts: list, experiment: str) -> dict:
    "The verdicts keyed by claim, checking there is exactly one Verdict per registered claim of the experiment."
    assert all(isinstance(v, Verdict) for v in verdicts)
    keys = [v.claim for v in verdicts]
    assert sorted(keys) == sorted(c.key for c in claims_for(experiment)) and len(set(keys)) == len(keys)
    return dict(zip(keys, verdicts))


# ---------- records carry the per-example data ----------
def test_image_records_hold_per_example_correctness_and_gini(image_records):
    for name in ("table1_images", "fig3"):
        df = image_records[name]
        for _, r in df.iterrows():
            correct = np.asarray(r["correct"])
            assert len(correct) == r["n_test"] == 24 and set(np.unique(correct)) <= {0, 1}
            assert r["accuracy"] == pytest.approx(correct.mean(), abs=1e-12)
            assert len(r["gini_ig"]) == 12 and r["mean_gini_ig"] == pytest.approx(np.mean(r["gini_ig"]), abs=1e-5)
    assert all(len(g) == 3 for g in image_records["table1_images"]["gini_shap"])


def test_robust_records_pair_models_on_all_attacked_images(robust_records):
    for name, df in robust_records.items():
        for _, r in df.iterrows():
            tau, topk = np.asarray(r["kendall_tau_per_example"], float), np.asarray(r["topk_per_example"], float)
            assert len(tau) == len(topk) == 4  # n_ifia of the tiny settings, attacked or not
            assert np.array_equal(np.isnan(tau), np.isnan(topk)) and int(np.isfinite(tau).sum()) == r["n_attacked"]
            assert ((-1 <= tau[~np.isnan(tau)]) & (tau[~np.isnan(tau)] <= 1)).all()
            if r["n_attacked"]:
                assert r["kendall_tau"] == pytest.approx(np.nanmean(tau), abs=1e-5)
                assert r["topk_intersection"] == pytest.approx(np.nanmean(topk), abs=1e-5)
            robust = np.asarray(r["pgd_correct"])
            assert len(robust) == 16 and set(np.unique(robust)) <= {0, 1} and r["pgd_accuracy"] == pytest.approx(robust.mean())


def test_robust_inputs_are_in_the_papers_units(robust_records):
    df = robust_records["table2"]
    claim = next(c for c in claims_for("table2", "gtsrb") if ".topk." in c.key)
    data = er.robust_inputs(claim, df)
    nat = df[df["method"] == "natural"].iloc[0]
    assert np.allclose(data["natural"], 100 * np.asarray([nat["topk_per_example"]], float), equal_nan=True)
    madry = df[df["method"] == "adversarial"].iloc[0]
    acc = er.robust_inputs(next(c for c in claims_for("table2", "gtsrb") if ".adv_acc." in c.key), df)
    assert np.array_equal(acc["madry"], 100 * np.asarray([madry["pgd_correct"]], float))


# ---------- every claim yields a Verdict ----------
@pytest.mark.parametrize("name", ["table1_images", "fig1", "fig2", "fig3"])
def test_every_image_claim_has_a_verdict(image_records, name):
    verdicts = _by_claim(get_experiment(name).verdicts(image_records[name]), name)
    for key, v in verdicts.items():
        assert v.profile == "quick" and v.demonstration and v.outcome in ("supported", "contradicted", "inconclusive")
        if ".cifar10." in key:  # the tiny sweep ran the CIFAR-10 stand-in
            assert v.examples > 1 and "synthetic stand-in" in v.note
        else:
            assert v.outcome == "inconclusive" and "profile has no" in v.note and v.examples == 0


def test_table1_images_verdicts_judge_the_stand_in(image_records):
    v = _by_claim(ei.table1_images_verdicts(image_records["table1_images"]), "table1_images")
    t1 = image_records["table1_images"]
    a, n = (np.asarray(t1[t1["method"] == m].iloc[0]["gini_ig"]) for m in ("adversarial", "natural"))
    sparser = v["icml.t1.cifar10.ig.a_sparser"]
    assert sparser.effect == pytest.approx(np.mean(a - n), abs=1e-12) and sparser.low <= sparser.effect <= sparser.high
    assert sparser.examples == 12 and sparser.seeds == 1
    assert v["icml.t1.cifar10.ig.a_vs_l_matched"].examples == 24  # the correctness of every test image


@pytest.mark.parametrize("name", ["table2", "table3", "table4"])
def test_every_robust_claim_has_a_verdict(robust_records, name):
    verdicts = _by_claim(get_experiment(name).verdicts(robust_records[name]), name)
    for key, v in verdicts.items():
        assert v.demonstration
        if ".gtsrb." not in key: assert v.outcome == "inconclusive" and "profile has no" in v.note
    if name == "table3":  # Table 3 is MNIST's; read as MNIST, the tiny grid has no m = 50 and says so
        as_mnist = _by_claim(er.table3_verdicts(robust_records[name].assign(dataset="mnist_5k")), name)
        assert all(v.outcome == "inconclusive" and "lack m50" in v.note for v in as_mnist.values())


def test_fig3_verdict_builds_curves_from_the_sweep(image_records):
    df = image_records["fig3"].assign(dataset="mnist_5k")  # the same sweep, read as if it were MNIST's
    v = _by_claim(ei.fig3_verdicts(df), "fig3")
    ig = v["icml.fig3.mnist.ig.tradeoff"]
    assert ig.examples == 24 and "common accuracy range" in ig.note
    assert v["icml.fig3.mnist.shap.tradeoff"].outcome == "inconclusive" and "lack a_curve" in v["icml.fig3.mnist.shap.tradeoff"].note
    curves = ei.fig3_inputs(get_claim("icml.fig3.mnist.ig.tradeoff"), df)
    assert curves["a_curve"].shape == (2, 1, 12) and curves["a_curve_accuracy"].shape == (2, 1, 24)
    nat = df[df["method"] == "natural"].iloc[0]
    assert np.array_equal(curves["a_curve"][0, 0], np.asarray(nat["gini_ig"]))  # every curve starts at the natural model


# ---------- known truths ----------
def _image_frame(profile: str, shift: float, n: int = 1000, seed: int = 0) -> pd.DataFrame:
    "Table 1 records with known effects: Gini(a) = Gini(n) + shift, Gini(l) = Gini(n) + 0.04 (+ noise); nested correctness."
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 0.9, n)
    gini = {"natural": base, "adversarial": base + shift + rng.normal(0, 0.02, n), "l1": base + 0.04 + rng.normal(0, 0.02, n)}
    correct = {"natural": np.arange(n) < 0.90 * n, "adversarial": np.arange(n) < 0.85 * n, "l1": np.arange(n) < 0.70 * n}
    return pd.DataFrame([{"dataset": "mnist_5k", "method": m, "seed": 0, "profile": profile, "gini_ig": ei.rounded(gini[m]),
                          "correct": correct[m].astype(int).tolist(), "accuracy": float(correct[m].mean())} for m in gini])


@pytest.mark.parametrize("shift, expected", [(0.1, "supported"), (-0.1, "contradicted")])
def test_known_image_effect_is_judged(shift, expected):
    v = _by_claim(ei.table1_images_verdicts(_image_frame("cpu", shift)), "table1_images")
    for key in ("icml.t1.mnist.ig.a_sparser", "icml.t1.mnist.ig.a_vs_l_matched"):
        assert v[key].outcome == expected and not v[key].demonstration
        assert v[key].low < v[key].effect < v[key].high
    assert v["icml.t1.mnist.ig.a_sparser"].effect == pytest.approx(shift, abs=0.005)
    # the l curve (natural at accuracy 0.9, l at 0.7, 0.04 sparser) at the a-model's 0.85: a quarter of the way, 0.01
    assert v["icml.t1.mnist.ig.a_vs_l_matched"].effect == pytest.approx(shift - 0.01, abs=0.005)
    assert v["icml.t1.mnist.shap.a_sparser"].outcome == "inconclusive" and "lack" in v["icml.t1.mnist.shap.a_sparser"].note


def test_quick_verdicts_are_demonstrations():
    v = _by_claim(ei.table1_images_verdicts(_image_frame("quick", 0.1)), "table1_images")
    assert v["icml.t1.mnist.ig.a_sparser"].outcome == "supported" and v["icml.t1.mnist.ig.a_sparser"].demonstration


def _robust_frame(gain: float, n: int = 400, seed: int = 1) -> pd.DataFrame:
    "Table 2 records: IG-SUM-NORM's Kendall tau = natural's + gain on each image; models attacked on different images."
    rng = np.random.default_rng(seed)
    tau = rng.uniform(0.1, 0.5, n)
    rows = []
    for i, m in enumerate(er.ROBUST_METHODS):
        mine = tau + (gain if m == "ig_sum_norm" else 0.0) + rng.normal(0, 0.01, n)
        mine[rng.random(n) < 0.2] = np.nan  # not attacked (misclassified): NaN, so every model keeps all n slots
        rows.append({"dataset": "mnist", "method": m, "seed": 0, "profile": "cpu",
                     "kendall_tau_per_example": ei.rounded(mine), "topk_per_example": ei.rounded(np.clip(mine, 0, 1)),
                     "pgd_correct": (rng.random(n) < 0.5 + 0.1 * i).astype(int).tolist()})
    return pd.DataFrame(rows)


def test_known_robust_effect_is_judged():
    v = _by_claim(er.table2_verdicts(_robust_frame(0.2)), "table2")
    sum_vs_nat, sum_vs_madry = v["neurips.t2.mnist.kendall.ig_sum_norm_vs_natural"], v["neurips.t2.mnist.kendall.ig_sum_norm_vs_madry"]
    assert sum_vs_nat.outcome == sum_vs_madry.outcome == "supported" and sum_vs_nat.effect == pytest.approx(0.2, abs=0.01)
    assert v["neurips.fig2.mnist.kendall.ig_sum_norm_vs_natural"].outcome == "supported"
    assert v["neurips.t2.mnist.kendall.madry_vs_natural"].outcome == "inconclusive"  # no effect between them
    assert v["neurips.t2.mnist.adv_acc.ig_sum_norm_vs_natural"].effect == pytest.approx(30, abs=8)  # points, 0.8 vs 0.5
    reversed_ = _by_claim(er.table2_verdicts(_robust_frame(-0.2)), "table2")
    assert reversed_["neurips.t2.mnist.kendall.ig_sum_norm_vs_natural"].outcome == "contradicted"


def test_table3_best_m_is_judged_on_a_grid_with_m50():
    rng = np.random.default_rng(3)
    tau = rng.uniform(0.1, 0.5, 300)
    rows = [{"dataset": "mnist", "method": "ig_norm", "seed": 0, "profile": "cpu", "m_grad": m,
             "kendall_tau_per_example": ei.rounded(tau + (0.1 if m == 50 else 0.0) + rng.normal(0, 0.01, 300)),
             "topk_per_example": ei.rounded(tau), "pgd_correct": [1] * 300} for m in (10, 50, 100)]
    v = _by_claim(er.table3_verdicts(pd.DataFrame(rows)), "table3")
    assert v["neurips.t3.mnist.kendall.m50_best"].outcome == "supported"
    assert v["neurips.t3.mnist.kendall.m50_best"].effect == pytest.approx(0.1, abs=0.01)
    assert v["neurips.t3.mnist.topk.m50_best"].outcome == "inconclusive"  # every m the same: no best


# ---------- helpers and bad input ----------
def test_claim_dataset_and_bad_records():
    assert [claim_dataset(d) for d in ("mnist_5k", "synthetic:gtsrb", "synthetic:flowers17", "cifar10")] == \
        ["mnist", "gtsrb", "flower", "cifar10"]
    with pytest.raises(TypeError, match="dataset"): claim_dataset(None)
    mixed = pd.concat([_image_frame("quick", 0.1, n=20), _image_frame("cpu", 0.1, n=20)])
    with pytest.raises(ValueError, match="one profile"): ei.table1_images_verdicts(mixed)
    assert ei.table1_images_verdicts(_image_frame("cpu", 0.1).iloc[:0]) == []


def test_verdicts_read_as_lines_for_the_report():
    v = ei.table1_images_verdicts(_image_frame("cpu", 0.1))[0]
    assert str(v) == v.line() and v.claim in v and ": holds" not in v and math.isfinite(v.effect)
