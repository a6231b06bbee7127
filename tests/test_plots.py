"Tests of advex_lit.plots: every figure function on fresh random inputs, goldilocks_band on constructed tables, bad inputs."
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from property_settings import examples
from matplotlib.figure import Figure

from advex_lit import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --- saliency_grid -----------------------------------------------------------------------------------------------
@settings(max_examples=examples(6), deadline=None)
@given(n_images=st.integers(1, 5), n=st.integers(1, 7), channels=st.sampled_from([None, 1, 3]), models=st.integers(1, 3))
def test_saliency_grid_layout(n_images, n, channels, models):
    rng = np.random.default_rng(n_images * 7 + n)
    shape = (n_images, 6, 5) + (() if channels is None else (channels,))
    maps = {f"m{k}": rng.normal(size=shape) for k in range(models)}
    fig = plots.saliency_grid(rng.random(shape), maps, labels=[f"y{i}" for i in range(n_images)], n=n, title="T")
    rows = min(n, n_images)
    assert isinstance(fig, Figure) and len(fig.axes) == rows * (1 + models) + 1  # + the colour bar
    assert fig.axes[-1].get_ylabel() == "|attribution| / map maximum"
    assert [ax.get_title() for ax in fig.axes[: 1 + models]] == ["image", *maps]
    assert fig.axes[0].get_ylabel() == "y0" and fig._suptitle.get_text() == "T"
    # each heatmap: |map| summed over channels, scaled to its own maximum
    m0 = maps["m0"][0]
    heat = np.abs(m0).sum(-1) if m0.ndim == 3 else np.abs(m0)
    im = fig.axes[1].get_images()[0]
    np.testing.assert_allclose(im.get_array(), heat, rtol=1e-12)
    assert im.norm.vmin == 0 and im.norm.vmax == pytest.approx(heat.max())


def test_saliency_grid_bad_inputs():
    x = np.zeros((3, 4, 4, 1))
    with pytest.raises(ValueError, match="maps_by_model"):
        plots.saliency_grid(x, {"a": np.zeros((2, 4, 4, 1))})
    with pytest.raises(ValueError, match="maps_by_model"):
        plots.saliency_grid(x, {})
    with pytest.raises(ValueError, match="images"):
        plots.saliency_grid(np.full((3, 4, 4, 1), np.nan), {"a": x})
    with pytest.raises(ValueError, match="labels"):
        plots.saliency_grid(x, {"a": x}, labels=[1])
    with pytest.raises(ValueError, match="`n`"):
        plots.saliency_grid(x, {"a": x}, n=0)
    with pytest.raises(TypeError, match="title"):
        plots.saliency_grid(x, {"a": x}, title=3)


# --- dg_boxplot --------------------------------------------------------------------------------------------------
def test_dg_boxplot_dict_and_frame_agree():
    rng = np.random.default_rng(0)
    dg = {"IG a-model": rng.normal(0.1, 0.05, 40), "IG l-model": rng.normal(0.05, 0.05, 30), "SHAP a-model": rng.normal(size=20)}
    for data in (dg, pd.DataFrame([{"setting": k, "dG": v} for k, vs in dg.items() for v in vs])):
        fig = plots.dg_boxplot(data, title="t")
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == list(dg)
        assert "Gini" in ax.get_ylabel() and ax.get_xlabel()
        zero = [line for line in ax.get_lines() if line.get_label().startswith("no change")]
        assert len(zero) == 1 and set(zero[0].get_ydata()) == {0.0}
        assert len(_legend_texts(ax)) == 1
        plt.close(fig)


def test_dg_boxplot_bad_inputs():
    with pytest.raises(ValueError, match="dg_by_setting"):
        plots.dg_boxplot({"a": np.array([1.0, np.inf])})
    with pytest.raises(ValueError, match="dg_by_setting"):
        plots.dg_boxplot({"a": np.array([])})
    with pytest.raises(ValueError, match="dg_by_setting"):
        plots.dg_boxplot(pd.DataFrame({"setting": ["a"], "gain": [1.0]}))


# --- tradeoff_curves ---------------------------------------------------------------------------------------------
def _trade_table():
    return pd.DataFrame({"family": ["a-model"] * 3 + ["l-model"] * 3, "param": [0, 0.1, 0.2, 0, 0.01, 0.1],
                         "mean_gini": [0.5, 0.6, 0.7, 0.5, 0.55, 0.58], "accuracy": [0.99, 0.98, 0.95, 0.99, 0.985, 0.97]})


def test_tradeoff_curves_lines_annotations_and_star():
    df = _trade_table()
    fig = plots.tradeoff_curves(df, title="t")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "mean gini" and ax.get_ylabel() == "accuracy"
    assert _legend_texts(ax) == ["a-model", "l-model", "natural model"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["a-model"].get_xdata(), [0.5, 0.6, 0.7])  # sorted by param, natural point first
    np.testing.assert_allclose(lines["natural model"].get_ydata(), [0.99, 0.99])
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.1", "0.2", "0.01", "0.1"])
    # shuffled rows and custom column names give the same curves
    shuffled = df.sample(frac=1, random_state=1).rename(columns={"mean_gini": "g", "accuracy": "acc"})
    ax2 = plots.tradeoff_curves(shuffled, x="g", y="acc").axes[0]
    np.testing.assert_allclose({l.get_label(): l for l in ax2.get_lines()}["a-model"].get_xdata(), [0.5, 0.6, 0.7])


def test_tradeoff_curves_error_bars():
    df = _trade_table()
    df = df.assign(g_lo=df["mean_gini"] - 0.01, g_hi=df["mean_gini"] + 0.03, a_lo=df["accuracy"] - 0.002,
                   a_hi=df["accuracy"] + 0.001)
    ax = plots.tradeoff_curves(df, x_interval=("g_lo", "g_hi"), y_interval=("a_lo", "a_hi")).axes[0]
    assert _legend_texts(ax) == ["a-model", "l-model", "natural model"]  # the bars add no legend entries
    bars = [c for c in ax.containers if c.has_xerr]
    assert len(bars) == 3 and all(c.has_yerr for c in bars)  # one per family, one for the natural model
    x_segments = np.concatenate([c.lines[2][0].get_segments() for c in bars])
    widths = sorted(np.round(s[1, 0] - s[0, 0], 6) for s in x_segments)
    np.testing.assert_allclose(widths, [0.04] * (len(df) + 2))  # 0.01 below, 0.03 above every point and both stars
    assert not plots.tradeoff_curves(df).axes[0].containers  # no intervals, no bars
    with pytest.raises(ValueError, match="contain its point"):
        plots.tradeoff_curves(df.assign(g_lo=df["mean_gini"] + 0.1), x_interval=("g_lo", "g_hi"))
    with pytest.raises(TypeError, match="y_interval"):
        plots.tradeoff_curves(df, y_interval="a_lo")
    with pytest.raises(ValueError, match="lacks the columns"):
        plots.tradeoff_curves(df, x_interval=("g_lo", "nope"))


def test_tradeoff_curves_bad_inputs():
    df = _trade_table()
    with pytest.raises(ValueError, match="lacks the columns"):
        plots.tradeoff_curves(df.drop(columns="param"))
    with pytest.raises(ValueError, match="accuracy"):
        plots.tradeoff_curves(df.assign(accuracy=np.nan))
    with pytest.raises(ValueError, match="empty"):
        plots.tradeoff_curves(df.iloc[:0])


# --- goldilocks_band and w1p_auc_vs_eps --------------------------------------------------------------------------
TOY = pd.DataFrame({"eps": [0, 0.5, 1.0, 1.5, 2.0, 3.0], "w1p": [97, 90, 50, 12, 8, 5],
                    "auc": [1.0, 1.0, 0.995, 0.99, 0.95, 0.8]})


def test_goldilocks_band_known_tables():
    assert plots.goldilocks_band(TOY) == (1.0, 1.5)
    assert plots.goldilocks_band(TOY.sample(frac=1, random_state=0)) == (1.0, 1.5)  # order of rows does not matter
    assert plots.goldilocks_band(TOY, auc_band=0.1) == (1.0, 2.0)
    assert plots.goldilocks_band(TOY, auc_band=0.1, drop_fraction=1.0) == (2.0, 2.0)
    assert plots.goldilocks_band(TOY.assign(auc=[1, 0.9, 1, 1, 1, 1])) == (0.0, 0.0)  # run from eps = 0 is broken at once
    assert plots.goldilocks_band(TOY.assign(w1p=[10, 20, 30, 40, 50, 60])) == (0.0, 0.0)  # W1P never falls


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0.5, 1.0)), min_size=2, max_size=10), st.floats(0, 0.1))
def test_goldilocks_band_invariants(rows, band):
    df = pd.DataFrame({"eps": np.arange(len(rows)) * 0.1, "w1p": [r[0] for r in rows], "auc": [r[1] for r in rows]})
    lo, hi = plots.goldilocks_band(df, band)
    assert lo <= hi
    if hi > 0:
        inside = df[df.eps <= hi + 1e-12]
        assert (inside.auc >= df.auc[0] - band - 1e-9).all()            # every eps up to hi keeps the AUC
        assert df.w1p[df.eps == lo].item() < df.w1p[0]                  # W1P has fallen at lo
        assert lo > 0


def test_w1p_auc_vs_eps_twin_axes_and_bands():
    fig = plots.w1p_auc_vs_eps(TOY, title="t")
    ax, ax2 = fig.axes
    assert "W1P" in ax.get_ylabel() and "AUC" in ax2.get_ylabel() and "varepsilon" in ax.get_xlabel()
    texts = _legend_texts(ax)
    assert texts[:2] == ["W1P (%)", "test AUC"] and "goldilocks eps [1, 1.5]" in texts
    spans = [p for p in ax.patches]  # axvspan of the goldilocks band
    assert len(spans) == 1 and spans[0].get_x() == pytest.approx(1.0) and spans[0].get_width() == pytest.approx(0.5)
    green = ax2.patches[0]
    assert green.get_y() == pytest.approx(0.99) and green.get_height() == pytest.approx(0.01)
    ax = plots.w1p_auc_vs_eps(TOY, goldilocks=(0.5, 2.0)).axes[0]
    assert "goldilocks eps [0.5, 2]" in _legend_texts(ax)


def test_w1p_auc_vs_eps_bad_inputs():
    with pytest.raises(ValueError, match="eps = 0"):
        plots.w1p_auc_vs_eps(TOY.iloc[1:])
    with pytest.raises(ValueError, match="auc"):
        plots.w1p_auc_vs_eps(TOY.drop(columns="auc"))
    with pytest.raises(ValueError, match="w1p"):
        plots.goldilocks_band(TOY.assign(w1p=np.inf))
    with pytest.raises(ValueError, match="goldilocks"):
        plots.w1p_auc_vs_eps(TOY, goldilocks=(2.0, 1.0))
    with pytest.raises(ValueError, match="auc_band"):
        plots.goldilocks_band(TOY, auc_band=-1)


# --- dropoff_curves ----------------------------------------------------------------------------------------------
@settings(max_examples=examples(8), deadline=None)
@given(st.integers(2, 40), st.integers(1, 3), st.booleans())
def test_dropoff_curves(d, models, normalize):
    rng = np.random.default_rng(d)
    values = {f"m{k}": rng.normal(size=d + k) for k in range(models)}
    fig = plots.dropoff_curves(values, normalize=normalize, title="t")
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_label() in values]
    assert len(curves) == models and ax.get_yscale() == "log" and ax.get_xlabel()
    y = curves[0].get_ydata()
    expected = np.sort(np.abs(values["m0"]))[::-1]
    np.testing.assert_allclose(y, expected / expected[0] if normalize else expected)
    np.testing.assert_allclose(curves[0].get_xdata()[[0, -1]], [100 / d, 100])
    assert len(_legend_texts(ax)) == models + normalize  # the 1% line only when normalized
    assert plots.dropoff_curves(values, log_scale=False).axes[0].get_yscale() == "linear"


def test_dropoff_curves_bad_inputs():
    with pytest.raises(ValueError, match="all zero"):
        plots.dropoff_curves({"a": np.zeros(4)})
    with pytest.raises(ValueError, match="values_by_model"):
        plots.dropoff_curves({"a": [1.0, np.nan]})
    with pytest.raises(ValueError, match="values_by_model"):
        plots.dropoff_curves([np.ones(3)])


# --- fi_bars -----------------------------------------------------------------------------------------------------
def test_fi_bars_orders_by_first_model():
    rng = np.random.default_rng(3)
    names = [f"f{i}" for i in range(12)]
    fi = {"nat": pd.Series(rng.random(12), index=names), "adv": pd.Series(rng.random(12), index=names[::-1])}
    fig = plots.fi_bars(fi, top=5, title="t")
    ax = fig.axes[0]
    top5 = list(fi["nat"].sort_values(ascending=False).index[:5])
    assert [t.get_text() for t in ax.get_yticklabels()] == top5
    assert len(ax.containers) == 2 and all(len(c) == 5 for c in ax.containers)
    widths = [bar.get_width() for bar in ax.containers[1]]
    np.testing.assert_allclose(widths, fi["adv"][top5].to_numpy())  # second model aligned by feature name
    assert _legend_texts(ax) == ["nat", "adv"] and ax.get_xlabel().startswith("feature impact")
    assert plots.fi_bars(fi, top=3, value_label="|weight|").axes[0].get_xlabel() == "|weight|"  # arXiv Fig. I.9


def test_fi_bars_bad_inputs():
    s = pd.Series([1.0, 2.0], index=["a", "b"])
    with pytest.raises(ValueError, match="same features"):
        plots.fi_bars({"x": s, "y": pd.Series([1.0], index=["a"])})
    with pytest.raises(ValueError, match="pandas Series"):
        plots.fi_bars({"x": np.ones(2)})
    with pytest.raises(ValueError, match="top"):
        plots.fi_bars({"x": s}, top=0)
    with pytest.raises(ValueError, match="fi_by_model"):
        plots.fi_bars({"x": s.replace(2.0, np.nan)})
    with pytest.raises(ValueError, match="value_label"):
        plots.fi_bars({"x": s}, value_label="")
