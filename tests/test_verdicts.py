"Tests of advex_lit.verdicts: outcomes, the paired two-level bootstrap, matched comparisons, the claim registry."
import time
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from property_settings import examples
from sklearn.metrics import roc_auc_score

from advex_lit import verdicts as v


def paired(effect, n=1000, seeds=1, seed_offsets=None, seed=0):
    "Per-example values of two models on the same examples: strong shared per-example variation, small noise."
    r = np.random.default_rng(seed)
    image = r.normal(0.55, 0.08, (1, n))
    shift = effect + (np.zeros((seeds, 1)) if seed_offsets is None else np.asarray(seed_offsets, float)[:, None])
    return {"a": image + shift + r.normal(0, 0.02, (seeds, n)), "n": image + r.normal(0, 0.02, (seeds, n))}


CLAIM = v.get_claim("icml.t1.mnist.ig.a_sparser")


# ---------- outcomes ----------
@pytest.mark.parametrize("low, high, direction, threshold, inclusive, expected", [
    (0.01, 0.05, 1, 0.0, False, "supported"), (-0.05, -0.01, 1, 0.0, False, "contradicted"),
    (-0.01, 0.02, 1, 0.0, False, "inconclusive"), (0.0, 0.02, 1, 0.0, False, "inconclusive"),
    (-0.05, -0.01, -1, 0.0, False, "supported"), (0.01, 0.05, -1, 0.0, False, "contradicted"),
    (0.0, 0.01, -1, 0.01, True, "supported"), (0.0, 0.01, -1, 0.01, False, "inconclusive"),
    (0.011, 0.02, -1, 0.01, True, "contradicted"), (np.nan, 0.1, 1, 0.0, False, "inconclusive"),
])
def test_outcome_table(low, high, direction, threshold, inclusive, expected):
    assert v.outcome(low, high, direction, threshold, inclusive) == expected


def test_a_tie_is_never_support_but_rounding_is_tolerated():
    assert v.point_outcome(0.06 - 0.06) == "inconclusive"
    assert v.point_outcome(0.974 - 0.964, -1, 0.01, inclusive=True) == "supported"  # 0.010000000000000009
    with pytest.raises(ValueError, match="direction"):
        v.outcome(0, 1, direction=0)


# ---------- the engine on data where the truth is known ----------
def test_large_null_and_reversed_effects():
    got = [v.judge(CLAIM, paired(e, seed=s), "cpu").outcome for e, s in ((0.02, 1), (0.0, 0), (-0.02, 3))]
    assert got == ["supported", "inconclusive", "contradicted"]


def test_null_effect_false_positive_rate_is_at_most_about_five_percent():
    calls = [v.judge(CLAIM, paired(0.0, n=200, seed=s), "cpu", resamples=400, seed=s).outcome for s in range(300)]
    rate = np.mean([c != "inconclusive" for c in calls])
    assert rate <= 0.09, rate  # nominal 5%; binomial sd over 300 draws is 1.3 points


def test_point_estimate_and_interval_match_the_normal_approximation():
    data = paired(0.01, seed=5)
    iv = v.bootstrap_interval(v.Difference("a", "n"), data, resamples=4000, seed=0)
    d = data["a"][0] - data["n"][0]
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert np.isclose(iv.effect, d.mean())
    assert abs(iv.low - (d.mean() - 1.96 * se)) < 0.15 * se and abs(iv.high - (d.mean() + 1.96 * se)) < 0.15 * se


def test_pairing_narrows_the_interval():
    "Resampling a and n independently (different lengths are unpaired) would give a far wider interval."
    data = paired(0.01, seed=6)
    width = lambda iv: iv.high - iv.low
    pairs = v.bootstrap_interval(v.Difference("a", "n"), data, resamples=1000)
    alone = v.bootstrap_interval(v.Difference("a", "n"), {"a": data["a"][0], "n": data["n"][0, :-1]}, resamples=1000)
    assert width(alone) > 3 * width(pairs)


def test_seeds_as_outer_level_widen_the_interval_when_seeds_disagree():
    agree = v.bootstrap_interval(v.Difference("a", "n"), paired(0.01, seeds=3, seed=7), resamples=1000)
    disagree = v.bootstrap_interval(v.Difference("a", "n"), paired(0.01, seeds=3, seed_offsets=[-0.03, 0.0, 0.03], seed=7),
                                    resamples=1000)
    assert agree.seeds == disagree.seeds == 3
    assert (disagree.high - disagree.low) > 5 * (agree.high - agree.low)
    assert v.judge(CLAIM, paired(0.01, seeds=3, seed_offsets=[-0.03, 0.0, 0.03], seed=7), "cpu").outcome == "inconclusive"


def test_a_different_bootstrap_seed_gives_the_same_verdict_and_the_same_seed_the_same_numbers():
    for effect, s in ((0.02, 1), (-0.02, 3), (0.0, 0)):
        x, y = (v.judge(CLAIM, paired(effect, seed=s), "cpu", seed=b) for b in (0, 99))
        assert x.outcome == y.outcome and x.effect == y.effect
        assert abs(x.low - y.low) < 0.1 * (x.high - x.low)
    assert v.judge(CLAIM, paired(0.01), "cpu", seed=4) == v.judge(CLAIM, paired(0.01), "cpu", seed=4)


def on_the_edge(n=400, seed=0):
    "Paired data whose paired mean difference is exactly 1.96 standard errors: the interval's low end sits at zero."
    d = np.random.default_rng(seed).normal(0, 1, n)
    d = d - d.mean() + 1.96 * d.std(ddof=1) / np.sqrt(n)
    return {"a": d, "n": np.zeros(n)}


def test_quantile_band_brackets_the_quantile_of_the_distribution():
    "For draws of a known distribution the band around the empirical p-quantile holds the true p-quantile."
    for p in (0.025, 0.5, 0.975):
        bands = [v.quantile_band(np.random.default_rng(s).uniform(0, 1, 2000), p) for s in range(50)]
        assert all(low <= p <= high for low, high in bands), p
        width = np.mean([high - low for low, high in bands])  # 8 binomial sd of the rank, over 2000 draws
        assert np.isclose(width, 8 * np.sqrt(p * (1 - p) / 2000), rtol=0.1), (p, width)
    assert v.quantile_band([], 0.5) == (v.quantile_band([], 0.5)[0],) * 2 and np.isnan(v.quantile_band([], 0.5)[0])
    assert v.quantile_band([3.0], 0.025) == (3.0, 3.0)


def test_a_verdict_on_the_edge_is_not_decided_by_the_bootstrap_draw():
    "An interval end at the threshold: more resamples, then inconclusive with the reason, the same for every seed."
    verdicts = [v.judge(CLAIM, on_the_edge(), "cpu", seed=b) for b in range(6)]
    assert {x.outcome for x in verdicts} == {"inconclusive"} and {x.resamples for x in verdicts} == {50_000}
    assert all("within Monte Carlo error" in x.note for x in verdicts)
    plain = [v.outcome(*(lambda iv: (iv.low, iv.high))(v.bootstrap_interval(CLAIM.rule, on_the_edge(), 2000, b)))
             for b in range(20)]
    assert {"supported", "inconclusive"} <= set(plain)  # without the bands the draw decides


def test_a_clear_verdict_keeps_its_resamples_and_bad_limits_are_refused():
    clear = v.judge(CLAIM, paired(0.02, seed=1), "cpu")
    assert clear.resamples == 2000 and clear.outcome == "supported" and "Monte Carlo" not in clear.note
    capped = v.judge(CLAIM, on_the_edge(), "cpu", max_resamples=2000)
    assert capped.resamples == 2000 and capped.outcome == "inconclusive"
    with pytest.raises(ValueError, match="max_resamples"):
        v.judge(CLAIM, paired(0.02), "cpu", resamples=2000, max_resamples=1000)


def test_resampling_is_fast():
    data = paired(0.01)
    best = min(_timed(lambda: v.bootstrap_interval(v.Difference("a", "n"), data, resamples=4000)) for _ in range(2))
    assert best < 1.0, best


def _timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


@settings(max_examples=examples(30), deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40), seeds=st.integers(1, 3), curve=st.integers(1, 3))
def test_weighted_mean_equals_the_mean_of_gathered_values(seed, n, seeds, curve):
    r = np.random.default_rng(seed)
    x = r.normal(size=(curve, seeds, n))
    x[r.random(x.shape) < 0.2] = np.nan
    resample = v.random_resample(seeds, {n}, 7, r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a slot that drew only NaN has no mean
        expected = np.nanmean(resample.take(x), axis=-1)
    assert np.allclose(resample.mean(x), expected, equal_nan=True)


def test_median_and_best_of_point_estimates():
    r = np.random.default_rng(2)
    a, b, others = r.random(101), r.random(101), r.random((4, 101))
    assert np.isclose(v.resampled_effects(v.Difference("a", "b", statistic="median"), {"a": a, "b": b}, 0)[0],
                      np.median(a) - np.median(b))
    assert np.isclose(v.resampled_effects(v.BestOf("t", "o"), {"t": a, "o": others}, 0)[0], a.mean() - others.mean(1).max())


def test_auc_matches_sklearn_with_ties_and_model_level_values_pass_through():
    r = np.random.default_rng(3)
    labels = (r.random(300) < 0.4).astype(float)
    scores = np.round(r.random(300) + 0.3 * labels, 1)  # many ties
    assert np.isclose(v.roc_auc_rows(scores, labels), roc_auc_score(labels, scores))
    rule = v.Difference("n", "a", statistic="auc", label="label")
    other = r.random(300)
    point = v.resampled_effects(rule, {"n": scores, "a": other, "label": labels}, 0)[0]
    assert np.isclose(point, roc_auc_score(labels, scores) - roc_auc_score(labels, other))
    assert np.isclose(v.resampled_effects(rule, {"n": 0.97, "a": 0.95}, 0)[0], 0.02)


def test_a_single_measurement_is_inconclusive():
    claim = v.get_claim("arxiv.app_i.mushroom.w1p_falls")
    one = v.judge(claim, {"n": 97.0, "a": 12.0}, "cpu")
    assert one.outcome == "inconclusive" and "one measurement" in one.note
    three = v.judge(claim, {"n": [[97.0], [96.0], [95.0]], "a": [[12.0], [14.0], [11.0]]}, "cpu")
    assert three.outcome == "supported" and three.examples == 1 and three.seeds == 3


# ---------- comparable accuracy ----------
@settings(max_examples=examples(40), deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6), slope=st.floats(-3, 3), intercept=st.floats(-1, 1))
def test_interpolation_is_exact_on_a_line(seed, k, slope, intercept):
    r = np.random.default_rng(seed)
    acc = r.permutation(np.linspace(0.8, 0.99, k) + r.uniform(0, 0.001, k))
    at = r.uniform(acc.min(), acc.max(), 20)
    got = v.interpolate_curve(acc, slope * acc + intercept, at)
    assert np.allclose(got, slope * at + intercept, atol=1e-9)
    outside = v.interpolate_curve(acc, slope * acc + intercept, np.array([acc.min() - 0.01, acc.max() + 0.01]))
    assert np.isnan(outside).all()


def correct_with(acc, n=4000, seed=0):
    "0/1 correctness with exactly the given accuracy."
    return np.random.default_rng(seed).permutation((np.arange(n) < round(acc * n)).astype(float))


def matched_data(offset, a_acc=0.97, noise=0.0, n=4000):
    "An l curve whose mean Gini is linear in accuracy; the a-model sits `offset` above it at its own accuracy."
    line = lambda acc: 0.6 + 0.5 * (0.99 - acc)
    r = np.random.default_rng(11)
    points = [0.99, 0.98, 0.96, 0.93]
    l_curve = [line(p) + noise * r.standard_normal(n) for p in points]
    l_acc = [correct_with(p, n, i) for i, p in enumerate(points)]
    a = line(a_acc) + offset + noise * r.standard_normal(n)
    return {"a": a, "a_accuracy": correct_with(a_acc, n, 9), "l": l_curve[1], "l_accuracy": l_acc[1],
            "l_curve": l_curve, "l_curve_accuracy": l_acc,
            "a_curve": [l_curve[0], a], "a_curve_accuracy": [l_acc[0], correct_with(a_acc, n, 9)]}


def test_matched_difference_recovers_the_offset_at_the_a_models_accuracy():
    point = v.resampled_effects(v.MatchedDifference(), matched_data(0.02), 0)[0]
    assert np.isclose(point, 0.02, atol=1e-12)
    verdict = v.judge(v.get_claim("icml.t1.mnist.ig.a_vs_l_matched"), matched_data(0.02, noise=0.05), "cpu", resamples=500)
    assert verdict.outcome == "supported" and "a-model accuracy 0.9700" in verdict.note and "l-model accuracy 0.9800" in verdict.note


def test_matched_difference_falls_back_to_the_a_curve_and_is_undefined_without_overlap():
    # a-model less accurate than the whole l curve: compare on the a curve at the l-model's accuracy
    data = matched_data(0.02, a_acc=0.90)
    data["l"], data["l_accuracy"] = data["l_curve"][1], data["l_curve_accuracy"][1]
    point = v.resampled_effects(v.MatchedDifference(), data, 0)[0]
    g_a_at = np.interp(0.98, [0.90, 0.99], [0.6 + 0.5 * 0.09 + 0.02, 0.6])
    assert np.isclose(point, g_a_at - (0.6 + 0.5 * 0.01))
    # neither inside: a curve only at 0.90-0.905, l curve and l-model at 0.93-0.99
    data["a_curve"], data["a_curve_accuracy"] = [data["a"], data["a"]], [correct_with(0.90), correct_with(0.905)]
    data["l"], data["l_accuracy"] = data["l_curve"][0], data["l_curve_accuracy"][0]
    verdict = v.judge(v.get_claim("icml.t1.mnist.ig.a_vs_l_matched"), data, "cpu", resamples=200)
    assert verdict.outcome == "inconclusive" and not np.isfinite(verdict.effect) and "undefined" in verdict.note
    assert verdict.coverage > 0 or "resamples where it is defined" not in verdict.note
    # at the edge: the a-model's accuracy equals the l curve's top, so about half the resamples fall outside
    edge = matched_data(0.05, a_acc=0.99, noise=0.01)
    edge["a_curve"], edge["a_curve_accuracy"] = [edge["a"]] * 2, [edge["a_accuracy"]] * 2
    verdict = v.judge(v.get_claim("icml.t1.mnist.ig.a_vs_l_matched"), edge, "cpu", resamples=400)
    assert np.isclose(verdict.effect, 0.05, atol=1e-3) and verdict.coverage < 0.8
    assert verdict.outcome == "inconclusive" and "resamples" in verdict.note


def test_curve_gap_of_parallel_lines():
    line = lambda acc, c: c + 0.5 * (0.99 - acc)
    accs = [0.99, 0.97, 0.95]
    data = {"a_curve": [line(p, 0.63) for p in accs], "a_curve_accuracy": [p for p in accs],
            "l_curve": [line(p, 0.6) for p in accs + [0.9]], "l_curve_accuracy": accs + [0.9]}
    assert np.isclose(v.resampled_effects(v.CurveGap(), data, 0)[0], 0.03)


# ---------- claims and the registry ----------
@pytest.mark.parametrize("key", sorted(v.CLAIMS))
def test_every_registered_claim_accepts_the_papers_numbers(key):
    claim = v.CLAIMS[key]
    assert v.paper_outcome(claim) == "supported", (key, v.paper_effect(claim))
    assert set(claim.inputs) == set(claim.rule.inputs) and claim.statement and claim.source.split(",")[0] in (
        "ICML 2020", "arXiv 2019", "NeurIPS 2019")


def test_statements_that_are_not_claims_fail_the_papers_numbers():
    tie = v.resampled_effects(v.Difference("a", "l"), {"a": 0.06, "l": 0.06}, 0)[0]
    assert v.point_outcome(tie) == "inconclusive"  # Mushroom, Table 1
    spambase = {"a": 0.17, "a_accuracy": -0.009, "l": 0.15, "l_accuracy": -0.001, "a_curve": [0, 0.17],
                "a_curve_accuracy": [0, -0.009], "l_curve": [0, 0.15], "l_curve_accuracy": [0, -0.001]}
    effect = v.resampled_effects(v.MatchedDifference(), spambase, 0)[0]
    assert np.isclose(effect, 0.17 / 9 - 0.15) and v.point_outcome(effect) == "contradicted"
    cost = v.NEURIPS_TABLE2["fashion_mnist"]["natural"][0] - v.NEURIPS_TABLE2["fashion_mnist"]["ig_sum_norm"][0]
    assert v.point_outcome(cost, -1, 5.0, inclusive=True) == "contradicted"  # "at most 5 points"
    assert v.point_outcome(53 / 96, -1, 0.5, inclusive=True) == "contradicted"  # "W1P at most half", Spambase
    kendall = dict(zip(v.NEURIPS_TABLE3["m"], v.NEURIPS_TABLE3["kendall"]))
    assert kendall[60] < kendall[50]  # no rise with m
    assert len(v.NOT_CLAIMS) >= 8 and "5.42" in " ".join(v.NOT_CLAIMS["why it is not a claim"])


def test_registry_covers_every_experiment_and_direction_minus_one():
    experiments = {c.experiment for c in v.CLAIMS.values()}
    assert {"table1_images", "table1_tabular", "fig1", "fig2", "fig3", "app_i", "feat_indep", "table2", "table3",
            "table4"} <= experiments
    assert v.get_claim("neurips.t4.fashion_mnist.kendall.ig_sum_norm_vs_madry").direction == -1
    assert "neurips.t2.fashion_mnist.kendall.ig_norm_vs_madry" not in v.CLAIMS
    assert [c.key for c in v.claims_for("app_i", "spambase")] == [
        "arxiv.app_i.spambase.w1p_falls", "arxiv.app_i.spambase.auc_within", "arxiv.app_i.spambase.a_vs_l_in_band"]
    with pytest.raises(ValueError, match="no claims"):
        v.claims_for("table9")
    with pytest.raises(ValueError, match="unknown claim"):
        v.get_claim("icml.t9")


def test_claim_validation():
    base = dict(key="x", statement="s", source="ICML 2020", experiment="e", rule=v.Difference("a", "b"),
                inputs={"a": "", "b": ""}, paper={"a": 1, "b": 0}, effect="a - b")
    v.Claim(**base)
    with pytest.raises(ValueError, match="threshold_source"):
        v.Claim(**{**base, "threshold": 0.01})
    with pytest.raises(ValueError, match="inputs"):
        v.Claim(**{**base, "inputs": {"a": ""}})
    with pytest.raises(ValueError, match="lacks"):
        v.Claim(**{**base, "paper": {"a": 1}})
    with pytest.raises(ValueError, match="direction"):
        v.Claim(**{**base, "direction": 2})
    with pytest.raises(ValueError, match="already registered"):
        v.register_claim(v.Claim(**{**base, "key": CLAIM.key}))


def test_bad_data_is_refused():
    rule = v.Difference("a", "b")
    with pytest.raises(ValueError, match="lacks"):
        v.bootstrap_interval(rule, {"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="same number of seeds"):
        v.bootstrap_interval(rule, {"a": np.zeros((2, 5)), "b": np.zeros((3, 5))})
    with pytest.raises(TypeError, match="input 'a'"):
        v.bootstrap_interval(rule, {"a": ["x"], "b": [1.0]})
    with pytest.raises(TypeError, match="mapping"):
        v.bootstrap_interval(rule, [1, 2])
    with pytest.raises(ValueError, match="resamples"):
        v.bootstrap_interval(rule, {"a": [1.0, 2.0], "b": [0.0, 1.0]}, resamples=-1)
    with pytest.raises(ValueError, match="level"):
        v.bootstrap_interval(rule, {"a": [1.0, 2.0], "b": [0.0, 1.0]}, level=95)
    with pytest.raises(ValueError, match="label"):
        v.Difference("a", "b", statistic="auc")


# ---------- tables ----------
def test_at_a_glance_counts_per_profile_and_marks_demonstrations():
    verdicts = [v.judge(CLAIM, paired(e, seed=s), p) for e, s, p in
                ((0.02, 1, "cpu"), (0.0, 0, "cpu"), (-0.02, 3, "cpu"), (0.02, 1, "quick"), (0.02, 2, "quick"))]
    t = v.at_a_glance(verdicts).set_index("profile")
    assert t.loc["cpu", ["supported", "contradicted", "inconclusive", "total"]].tolist() == [1, 1, 1, 3]
    assert t.loc["quick", ["supported", "contradicted", "inconclusive", "total"]].tolist() == [2, 0, 0, 2]
    assert bool(t.loc["quick", "demonstration"]) and not bool(t.loc["cpu", "demonstration"])
    table = v.verdict_table(verdicts)
    assert table["outcome"].tolist()[-1] == "supported (demonstration)" and table["statement"].iloc[0] == CLAIM.statement
    with pytest.raises(TypeError, match="Verdict"):
        v.at_a_glance(["supported"])
