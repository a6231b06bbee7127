"Property tests for advex_lit.metrics: Gini index and its six properties, dG, concentration metrics, rank agreement."
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import assume, given, settings, strategies as st
from property_settings import examples

from advex_lit.metrics import (accuracy_drop, concentration_metrics, feature_impact, feature_value_impact, gini,
                               gini_of_maps, kendall_tau, l1_linf_ratio, lorenz_curve, percent_significant,
                               sparseness_improvement, spearman, top_k_indices, topk_intersection)

SETTINGS = dict(max_examples=examples(60), deadline=None)
seeds = st.integers(0, 2 ** 32 - 1)


def random_vector(seed, n, zero_fraction=0.3):
    "Non-negative vector with some exact zeros and at least one positive entry."
    rng = np.random.default_rng(seed)
    c = rng.exponential(size=n) * (rng.random(n) >= zero_fraction)
    c[rng.integers(n)] += 0.1
    return c, rng


def mean_difference_gini(c):
    c = np.abs(np.asarray(c, dtype=np.float64))
    return np.abs(c[:, None] - c[None, :]).sum() / (2 * len(c) * c.sum())


# --- exact values -----------------------------------------------------------------------------------------------------
@settings(**SETTINGS)
@given(n=st.integers(1, 60), value=st.floats(1e-6, 1e6), sign=st.sampled_from([-1, 1]))
def test_equal_entries_give_zero(n, value, sign):
    assert abs(gini(np.full(n, sign * value))) < 1e-12


@settings(**SETTINGS)
@given(n=st.integers(1, 60), value=st.floats(1e-6, 1e6), position=st.integers(0, 59))
def test_single_spike_gives_one_minus_one_over_n(n, value, position):
    v = np.zeros(n); v[position % n] = -value
    assert abs(gini(v) - (1 - 1 / n)) < 1e-12


def test_all_zero_vector_and_authors_offset():
    assert gini(np.zeros(7)) == 0.0 and gini(np.zeros(7), offset=1e-7) == 0.0
    assert np.array_equal(gini_of_maps(np.zeros((3, 2, 2))), np.zeros(3))
    # the authors' convention: G(|v| + 1e-7); tiny for a map of unit mass
    v = np.array([0.0, 0.0, 1.0, 3.0])
    a = np.sort(np.abs(v) + 1e-7); n = len(a)
    authors = np.sum((2 * np.arange(1, n + 1) - n - 1) * a) / (n * a.sum())
    assert abs(gini(v, offset=1e-7) - authors) < 1e-15 and abs(gini(v) - authors) < 1e-6


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(2, 50))
def test_matches_mean_difference_and_lorenz(seed, n):
    c, _ = random_vector(seed, n)
    signs = np.random.default_rng(seed + 1).choice([-1, 1], size=n)
    g = gini(c * signs)
    assert abs(g - mean_difference_gini(c)) < 1e-12
    share, mass = lorenz_curve(c)
    assert abs(g - (1 - 2 * np.sum((mass[1:] + mass[:-1]) / 2) / n)) < 1e-12
    assert 0 <= g <= 1 - 1 / n + 1e-12


@settings(max_examples=examples(20), deadline=None)
@given(seed=seeds, shape=st.sampled_from([(4, 5), (3, 4, 5), (2, 3, 2, 2)]))
def test_axes_and_batches(seed, shape):
    v = np.random.default_rng(seed).normal(size=shape)
    flat = v.reshape(shape[0], -1)
    per_example = np.array([mean_difference_gini(row) for row in flat])
    assert np.allclose(gini_of_maps(v), per_example, atol=1e-12)
    assert np.allclose(gini(v, axis=tuple(range(1, len(shape)))), per_example, atol=1e-12)
    assert abs(gini(v, axis=None) - mean_difference_gini(v.ravel())) < 1e-12
    along_first = np.array([mean_difference_gini(v[(slice(None),) + idx]) for idx in np.ndindex(*shape[1:])])
    assert np.allclose(gini(v, axis=0), along_first.reshape(shape[1:]), atol=1e-12)


# --- Hurley & Rickard properties --------------------------------------------------------------------------------------
@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(2, 40), alpha=st.floats(1e-3, 1e3))
def test_scaling_and_cloning_invariance(seed, n, alpha):
    c, _ = random_vector(seed, n)
    g = gini(c)
    assert abs(gini(alpha * c) - g) < 1e-12
    assert abs(gini(np.concatenate([c, c])) - g) < 1e-12
    assert abs(gini(np.concatenate([c, c, c])) - g) < 1e-12


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(2, 40), frac=st.floats(0.02, 0.98))
def test_robin_hood_decreases(seed, n, frac):
    c, rng = random_vector(seed, n)
    i, j = rng.choice(n, size=2, replace=False)
    if c[i] < c[j]: i, j = j, i
    assume(c[i] - c[j] > 1e-6)
    d = frac * (c[i] - c[j]) / 2
    r = c.copy(); r[i] -= d; r[j] += d
    assert gini(r) < gini(c) - 1e-13


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(2, 40), tide=st.floats(1e-3, 10))
def test_rising_tide_decreases(seed, n, tide):
    c, _ = random_vector(seed, n)
    assume(np.ptp(c) > 1e-6)
    assert gini(c + tide) < gini(c) - 1e-13


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(2, 40), raise_by=st.floats(1e-2, 1e3))
def test_bill_gates_increases(seed, n, raise_by):
    c, _ = random_vector(seed, n)
    assume(np.count_nonzero(c) > 1)
    g = c.copy(); g[np.argmax(c)] += raise_by
    assert gini(g) > gini(c) + 1e-13


@settings(**SETTINGS)
@given(seed=seeds, n=st.integers(1, 40), zeros=st.integers(1, 20))
def test_babies_increase(seed, n, zeros):
    c, _ = random_vector(seed, n)
    bigger = gini(np.concatenate([c, np.zeros(zeros)]))
    assert bigger > gini(c) + 1e-13
    # closed form of the proof: G' = (D + 2 m S) / (2 (n + m) S)
    D = 2 * n * c.sum() * gini(c)
    assert abs(bigger - (D + 2 * zeros * c.sum()) / (2 * (n + zeros) * c.sum())) < 1e-12


# --- dG and accuracy drop ---------------------------------------------------------------------------------------------
@settings(max_examples=examples(20), deadline=None)
@given(seed=seeds, n=st.integers(1, 30))
def test_sparseness_improvement_and_accuracy_drop(seed, n):
    rng = np.random.default_rng(seed)
    gm, gn = rng.random(n), rng.random(n)
    per, mean = sparseness_improvement(gm, gn)
    assert np.allclose(per, gm - gn) and abs(mean - (gm.mean() - gn.mean())) < 1e-12
    assert accuracy_drop(0.97, 0.95) == pytest.approx(0.02) and accuracy_drop(95.0, 97.0) == pytest.approx(-2.0)


# --- concentration metrics --------------------------------------------------------------------------------------------
def test_percent_significant_and_ratio_by_hand():
    w = np.array([-10.0, 0.1, 0.09, 0.0, 5.0])  # 1% of max = 0.1: -10, 0.1, 5 qualify
    assert percent_significant(w) == pytest.approx(60.0)
    assert l1_linf_ratio(w) == pytest.approx(15.19 / 10)
    assert percent_significant(np.zeros(4)) == 0.0 and l1_linf_ratio(np.zeros(4)) == 0.0
    assert l1_linf_ratio(np.ones(8)) == pytest.approx(8.0) and percent_significant(np.ones(8)) == 100.0
    assert np.allclose(percent_significant(np.array([[1.0, 0.0], [1.0, 1.0]])), [50.0, 100.0])


@settings(max_examples=examples(30), deadline=None)
@given(seed=seeds, n=st.integers(1, 20), d=st.integers(2, 15), alpha=st.floats(1e-3, 1e3))
def test_concentration_scale_invariant_and_bounded(seed, n, d, alpha):
    w = np.random.default_rng(seed).normal(size=d)
    assert 1 - 1e-12 <= l1_linf_ratio(w) <= d + 1e-12 and 100 / d - 1e-9 <= percent_significant(w) <= 100
    assert l1_linf_ratio(alpha * w) == pytest.approx(l1_linf_ratio(w), rel=1e-12)
    assert percent_significant(-alpha * w) == percent_significant(w)


@settings(max_examples=examples(30), deadline=None)
@given(seed=seeds, n=st.integers(1, 20), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5),
       extra=st.integers(0, 3))
def test_feature_impact_sums_per_group(seed, n, sizes, extra):
    rng = np.random.default_rng(seed)
    d = sum(sizes) + extra
    perm = rng.permutation(d)
    groups, start = {}, 0
    for g, size in enumerate(sizes):
        groups[f"f{g}"] = sorted(perm[start:start + size].tolist()); start += size
    a = rng.normal(size=(n, d))
    fv = feature_value_impact(a)
    assert np.allclose(fv, np.abs(a).mean(axis=0))
    fi = feature_impact(a, groups)
    assert isinstance(fi, pd.Series) and len(fi) == len(sizes) + extra
    for name, cols in groups.items():
        assert fi[name] == pytest.approx(fv[cols].sum())
    for i in perm[start:]:
        assert fi[str(i)] == pytest.approx(fv[i])
    assert fi.sum() == pytest.approx(fv.sum())
    m = concentration_metrics(rng.normal(size=d), a, groups)
    assert m["FI1P"] == pytest.approx(percent_significant(fi.to_numpy()))
    assert m["FIL1"] == pytest.approx(l1_linf_ratio(fi.to_numpy()))


# --- rank agreement ---------------------------------------------------------------------------------------------------
@settings(max_examples=examples(25), deadline=None)
@given(seed=seeds, n=st.integers(1, 5), shape=st.sampled_from([(7,), (4, 5), (3, 3, 2)]),
       decimals=st.sampled_from([None, 0, 1]), noise=st.floats(0.0, 3.0))
def test_rank_correlations_match_scipy(seed, n, shape, decimals, noise):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, *shape))
    b = a + noise * rng.normal(size=a.shape)
    if decimals is not None: a, b = np.round(a, decimals), np.round(b, decimals)
    tau, rho = kendall_tau(a, b, batched=True), spearman(a, b, batched=True)
    assert tau.shape == rho.shape == (n,)
    for i in range(n):
        ref_tau = scipy.stats.kendalltau(a[i].ravel(), b[i].ravel())[0]
        ref_rho = scipy.stats.spearmanr(a[i].ravel(), b[i].ravel())[0]
        assert (np.isnan(tau[i]) and np.isnan(ref_tau)) or abs(tau[i] - ref_tau) < 1e-12
        assert (np.isnan(rho[i]) and np.isnan(ref_rho)) or abs(rho[i] - ref_rho) < 1e-12
    # single maps give floats equal to the batched values
    assert kendall_tau(a[0], b[0]) == pytest.approx(tau[0], nan_ok=True)
    assert spearman(a[0], b[0]) == pytest.approx(rho[0], nan_ok=True)
    # without batched=True a batch is one flattened map: a float, equal to SciPy on the whole array
    whole = kendall_tau(a, b)
    assert isinstance(whole, float)
    ref = scipy.stats.kendalltau(a.ravel(), b.ravel())[0]
    assert (np.isnan(whole) and np.isnan(ref)) or abs(whole - ref) < 1e-12


def test_rank_correlation_extremes():
    a = np.arange(10.0)
    assert kendall_tau(a, 2 * a + 1) == pytest.approx(1.0) and kendall_tau(a, -a) == pytest.approx(-1.0)
    assert spearman(a, a ** 3) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau(np.ones(5), a[:5])) and np.isnan(spearman(np.ones(5), a[:5]))


def test_empty_batch_gives_empty_results():
    empty = np.zeros((0, 3, 3))
    for fn in (kendall_tau, spearman, lambda a, b, batched: topk_intersection(a, b, 2, batched=batched)):
        out = fn(empty, empty, batched=True)
        assert isinstance(out, np.ndarray) and out.shape == (0,)


def test_kendall_large_map_uses_blocks():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2500), rng.normal(size=2500)
    b = a + b
    assert abs(kendall_tau(a, b) - scipy.stats.kendalltau(a, b)[0]) < 1e-12


def test_topk_by_hand():
    a = np.array([0.9, 0.1, 0.5, 0.3, 0.0])
    b = np.array([0.8, 0.2, 0.1, 0.6, 0.0])
    assert topk_intersection(a, b, 1) == 1.0
    assert topk_intersection(a, b, 2) == 0.5          # {0, 2} vs {0, 3}
    assert topk_intersection(a, b, 3) == pytest.approx(2 / 3)  # {0, 2, 3} vs {0, 3, 1}
    assert topk_intersection(a, b, 5) == 1.0
    # ties at the k-th place are broken by the lower index
    assert topk_intersection(np.array([1.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0]), 1) == 1.0
    batch = np.stack([a, b])
    assert np.allclose(topk_intersection(batch, batch[::-1], 2, batched=True), [0.5, 0.5])
    assert topk_intersection(batch.reshape(2, 5, 1), batch.reshape(2, 5, 1), 3, batched=True).tolist() == [1.0, 1.0]
    # a single 2-D map (e.g. 28 x 28) is compared as a whole: k may exceed its row length
    image_map = np.arange(64.0).reshape(8, 8)
    assert topk_intersection(image_map, image_map, 20) == 1.0
    assert topk_intersection(image_map, -image_map, 20) == 0.0
    assert top_k_indices(batch, 2).tolist() == [[0, 2], [0, 3]]


@settings(max_examples=examples(30), deadline=None)
@given(seed=seeds, d=st.integers(2, 40), k=st.integers(1, 40))
def test_topk_matches_set_definition(seed, d, k):
    assume(k <= d)
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(3, d)), rng.normal(size=(3, d))  # no ties almost surely
    got = topk_intersection(a, b, k, batched=True)
    want = [len(set(np.argsort(-x)[:k]) & set(np.argsort(-y)[:k])) / k for x, y in zip(a, b)]
    assert np.allclose(got, want)


# --- errors -----------------------------------------------------------------------------------------------------------
def test_bad_inputs_raise():
    a = np.ones((2, 4))
    cases = [
        (ValueError, "v", lambda: gini([1.0, np.nan])),
        (ValueError, "v", lambda: gini(np.ones((3, 0)))),
        (ValueError, "offset", lambda: gini([1.0, 2.0], offset=-1)),
        (ValueError, "axis", lambda: gini(np.ones((2, 3)), axis=2)),
        (ValueError, "maps", lambda: gini_of_maps(np.ones(4))),
        (ValueError, "maps", lambda: gini_of_maps(np.array([[1.0, np.inf]]))),
        (ValueError, "gini_model", lambda: sparseness_improvement(np.ones(3), np.ones(4))),
        (ValueError, "gini_natural", lambda: sparseness_improvement(np.ones(3), [1, np.nan, 1])),
        (ValueError, "acc_model", lambda: accuracy_drop(0.9, np.nan)),
        (ValueError, "threshold", lambda: percent_significant(a, threshold=0)),
        (ValueError, "attributions", lambda: feature_value_impact(np.ones(3))),
        (ValueError, "attributions", lambda: feature_impact(np.array([[1.0, np.nan]]))),
        (ValueError, "groups", lambda: feature_impact(a, {"f": [0, 4]})),
        (ValueError, "groups", lambda: feature_impact(a, {"f": [0, 1], "g": [1, 2]})),
        (TypeError, "groups", lambda: feature_impact(a, [[0, 1]])),
        (ValueError, "feature_names", lambda: feature_impact(a, None, ["x"])),
        (ValueError, "`a`", lambda: kendall_tau(np.ones((2, 4)), np.ones((2, 5)))),
        (TypeError, "`batched`", lambda: kendall_tau(np.ones((2, 4)), np.ones((2, 4)), batched=None)),
        (ValueError, "`a`", lambda: spearman(np.ones((2, 4)), np.ones((3, 4)))),
        (ValueError, "`a`", lambda: kendall_tau(np.array([[1.0, np.nan]]), np.ones((1, 2)))),
        (ValueError, "`b`", lambda: spearman(np.ones((1, 3)), np.array([[1.0, np.inf, 0]]))),
        (ValueError, "`k`", lambda: topk_intersection(a, a, 5, batched=True)),
        (ValueError, "`k`", lambda: topk_intersection(a, a, 9)),
        (ValueError, "`k`", lambda: topk_intersection(a, a, 0)),
        (TypeError, "`k`", lambda: topk_intersection(a, a, 1.5)),
        (ValueError, "`a`", lambda: topk_intersection(np.ones((3, 1)), np.ones((3, 1)), 1, batched=True)),
        (ValueError, "`a`", lambda: kendall_tau(np.ones(3), np.ones(3), batched=True)),
        (ValueError, "`a`", lambda: top_k_indices(np.ones(3), 1)),
        (ValueError, "`k`", lambda: top_k_indices(np.ones((2, 3)), 4)),
    ]
    for error, name, call in cases:
        match = name if name.startswith("`") else f"`{name}`"
        with pytest.raises(error, match=match):
            call()
