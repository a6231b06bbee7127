"Property tests for advex_lit.losses: the three margin losses, the assumption checker, Lemma 1, input validation."
import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from property_settings import examples
from hypothesis.extra.numpy import arrays

from advex_lit.backend import input_gradient, to_numpy
from advex_lit.data import feature_translation, translate_features
from advex_lit.losses import (LOSS_NAMES, MarginLoss, check_loss_assumptions, feat_trans_residual, get_loss,
                              margin_loss, validate_margin_inputs)

REFERENCE = {  # independent NumPy formulas for g and g'
    "logistic": (lambda z: np.logaddexp(0, z), lambda z: 1 / (1 + np.exp(-z))),
    "hinge": (lambda z: np.maximum(0, 1 + z), lambda z: (z > -1).astype(float)),
    "softplus_hinge": (lambda z: np.logaddexp(0, 1 + z), lambda z: 1 / (1 + np.exp(-1 - z))),
}
finite = st.floats(-20, 20, allow_nan=False)
loss_names = st.sampled_from(LOSS_NAMES)


@st.composite
def margin_problems(draw, max_n=12, max_d=8):
    n, d = draw(st.integers(1, max_n)), draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    return rng.normal(scale=2, size=(n, d)), rng.choice([-1, 1], size=n), rng.normal(size=d)


def test_loss_names_and_dataclass():
    assert LOSS_NAMES == ("logistic", "hinge", "softplus_hinge")
    for name in LOSS_NAMES:
        loss = get_loss(name)
        assert isinstance(loss, MarginLoss) and loss.name == name
    with pytest.raises(Exception):
        get_loss("hinge").name = "other"  # frozen


@settings(max_examples=examples(60), deadline=None)
@given(name=loss_names, z=arrays(np.float64, st.integers(1, 30), elements=finite))
def test_g_and_dg_match_reference(name, z):
    loss, (g, dg) = get_loss(name), REFERENCE[name]
    assert np.allclose(loss.g(z), g(z), rtol=1e-12, atol=1e-12)
    keep = np.abs(z + 1) > 1e-12 if name == "hinge" else slice(None)
    assert np.allclose(loss.dg(z)[keep], dg(z)[keep], rtol=1e-12, atol=1e-12)
    assert isinstance(loss.g(z), np.ndarray) and loss.g(z).dtype == np.float64


@settings(max_examples=examples(40), deadline=None)
@given(name=loss_names, z=arrays(np.float64, st.integers(1, 20), elements=st.floats(-8, 8)))
def test_dg_is_finite_difference_and_autodiff(name, z):
    loss = get_loss(name)
    z = z[np.abs(z + 1) > 1e-4]
    assume(z.size > 0)
    h = 1e-6
    assert np.allclose(loss.dg(z), (loss.g(z + h) - loss.g(z - h)) / (2 * h), atol=1e-6)
    autodiff = to_numpy(input_gradient(loss.g, keras.ops.convert_to_tensor(z)))
    assert np.allclose(loss.dg(z), autodiff, atol=1e-12)


def test_g_on_backend_tensors_returns_tensors():
    z = keras.ops.convert_to_tensor(np.array([-2.0, 0.0, 1.5]))
    for name in LOSS_NAMES:
        out = get_loss(name).g(z)
        assert keras.ops.is_tensor(out)
        assert np.allclose(to_numpy(out), REFERENCE[name][0](np.array([-2.0, 0.0, 1.5])))
        assert keras.ops.is_tensor(get_loss(name).dg(z))


def test_hinge_derivative_at_kink_is_zero():
    assert get_loss("hinge").dg(np.array([-1.0]))[0] == 0.0
    assert get_loss("hinge").dg(np.array([-0.999]))[0] == 1.0


@settings(max_examples=examples(40), deadline=None)
@given(name=loss_names, problem=margin_problems())
def test_margin_loss_matches_reference(name, problem):
    x, y, w = problem
    assert np.allclose(margin_loss(x, y, w, name), REFERENCE[name][0](-y * (x @ w)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_checker_accepts_the_three_losses(name):
    assert check_loss_assumptions(get_loss(name).g) == dict(non_decreasing=True, convex=True)


@pytest.mark.parametrize("g, expected", [
    (lambda z: -z, dict(non_decreasing=False, convex=True)),
    (np.sin, dict(non_decreasing=False, convex=False)),
    (np.tanh, dict(non_decreasing=True, convex=False)),
    (np.square, dict(non_decreasing=False, convex=True)),
    (lambda z: np.exp(-z), dict(non_decreasing=False, convex=True)),
    (lambda z: -np.logaddexp(0, -z), dict(non_decreasing=True, convex=False)),  # concave and increasing
    (np.exp, dict(non_decreasing=True, convex=True)),
])
def test_checker_flags_bad_functions(g, expected):
    assert check_loss_assumptions(g) == expected


@settings(max_examples=examples(30), deadline=None)
@given(slope=st.floats(0.01, 5), bump=st.floats(0.05, 2), centre=st.floats(-5, 5))
def test_checker_flags_a_local_dip(slope, bump, centre):
    # an increasing line with a dent: decreasing somewhere once the dent is steeper than the line
    g = lambda z: slope * z - (slope + bump) * np.exp(-((z - centre) ** 2))
    result = check_loss_assumptions(g)
    assert result["convex"] is False
    if bump > 1.0 or slope < 0.5 * bump:  # the dent's slope 0.86*(slope+bump) exceeds slope
        assert result["non_decreasing"] is False


def test_checker_validates():
    with pytest.raises(TypeError, match="`g`"): check_loss_assumptions(3.0)
    with pytest.raises(ValueError, match="`lo`"): check_loss_assumptions(np.exp, lo=1, hi=0)
    with pytest.raises(ValueError, match="`n`"): check_loss_assumptions(np.exp, n=2)
    with pytest.raises(ValueError, match="`g`"): check_loss_assumptions(lambda z: np.ones(3))


@st.composite
def discrete_distributions(draw):
    "A random joint distribution of (X, Y) with rational weights: X takes k values in R^d, Y in {-1, +1}, both likely."
    k, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    support = rng.normal(scale=3, size=(k, d))
    counts = rng.integers(1, 20, size=(2, k))  # row 0: y = -1, row 1: y = +1; P(x_j, y) = counts / counts.sum()
    return support, counts


@settings(max_examples=examples(60), deadline=None)
@given(distribution=discrete_distributions())
def test_lemma_1_on_discrete_distributions(distribution):
    "`feature_translation` on a data set that lists each atom as often as its count is Lemma 1 for that distribution."
    support, counts = distribution
    joint = counts / counts.sum()
    x = np.concatenate([np.repeat(support, counts[0], axis=0), np.repeat(support, counts[1], axis=0)])
    y = np.repeat([-1, 1], counts.sum(axis=1))
    offset, strength = feature_translation(x, y)
    # the distribution's own conditional means, from the joint table
    p_y = joint.sum(axis=1)
    mean_neg, mean_pos = joint[0] @ support / p_y[0], joint[1] @ support / p_y[1]
    np.testing.assert_allclose(strength, (mean_pos - mean_neg) / 2, atol=1e-10)
    np.testing.assert_allclose(offset, (mean_pos + mean_neg) / 2, atol=1e-10)
    # E[X | Y] = a Y + c at both labels
    np.testing.assert_allclose(strength + offset, mean_pos, atol=1e-10)
    np.testing.assert_allclose(offset - strength, mean_neg, atol=1e-10)
    # E[Y (X - c)] = a whatever the class balance, for the distribution and for the translated data set
    np.testing.assert_allclose(-(joint[0] @ (support - offset)) + joint[1] @ (support - offset), strength, atol=1e-10)
    np.testing.assert_allclose((y[:, None] * translate_features(x, offset)).mean(axis=0), strength, atol=1e-4)
    # without translation the gap is (2p - 1) c
    e_yx = -(joint[0] @ support) + joint[1] @ support
    np.testing.assert_allclose(e_yx, strength + (2 * p_y[1] - 1) * offset, atol=1e-10)


@settings(max_examples=examples(30), deadline=None)
@given(problem=margin_problems(max_n=40))
def test_lemma_1_on_samples_through_data_layer(problem):
    x, y, _ = problem
    assume(len(np.unique(y)) == 2)
    offset, strength = feature_translation(x, y)
    assert np.allclose((y[:, None] * (x - offset)).mean(axis=0), strength, atol=1e-10)
    assert np.allclose((y[:, None] * translate_features(x, offset)).mean(axis=0), strength, atol=1e-4)


def test_validate_returns_float64_and_broadcasts_scalar_label():
    x, y, w = validate_margin_inputs([[1, 2], [3, 4]], 1, [0, 1])
    assert x.dtype == y.dtype == w.dtype == np.float64
    assert np.array_equal(y, [1.0, 1.0])


@pytest.mark.parametrize("bad, argument", [
    (dict(x=np.ones(3)), "`x`"),
    (dict(x=np.ones((2, 3))), "`w`"),
    (dict(w=np.ones((2, 1))), "`w`"),
    (dict(y=np.array([1, 1, 1])), "`y`"),
    (dict(y=np.array([1, 0])), "`y`"),
    (dict(y=np.array([1, 2])), "`y`"),
    (dict(x=np.array([[np.nan, 0], [0, 0]])), "`x`"),
    (dict(w=np.array([np.inf, 0])), "`w`"),
    (dict(loss="square"), "`loss`"),
])
def test_margin_loss_rejects_bad_inputs(bad, argument):
    kwargs = dict(x=np.ones((2, 2)), y=np.array([1, -1]), w=np.ones(2), loss="logistic") | bad
    with pytest.raises(ValueError, match=argument):
        margin_loss(**kwargs)


def test_get_loss_errors():
    with pytest.raises(ValueError, match="`loss`.*logistic.*hinge.*softplus_hinge"): get_loss("squared")
    with pytest.raises(TypeError, match="`loss`"): get_loss(3)


# ---------------------------------------------------------------- FEAT-TRANS (the ICML name) and FEAT-EXP (the arXiv name)

def test_feat_trans_residual_by_hand():
    x = np.array([[3.0, 1.0], [1.0, 0.0], [-1.0, 2.0]])
    y = np.array([1, 1, -1])
    # class means: feature 0 has 2 and -1 (midpoint 0.5), feature 1 has 0.5 and 2 (midpoint 1.25)
    assert np.isclose(feat_trans_residual(x, y), 1.25)
    assert np.isclose(feat_trans_residual(x[:, :1], y), 0.5)
    assert feat_trans_residual(x - [0.5, 1.25], y) < 1e-12


@settings(max_examples=examples(40), deadline=None)
@given(problem=margin_problems(max_n=40))
def test_feat_trans_is_feat_exp_for_a_binary_label(problem):
    "Zero after the Lemma 1 translation; before it, the residual is max|c| and equals the best FEAT-EXP error."
    x, y, _ = problem
    assume(len(np.unique(y)) == 2)
    offset, _ = feature_translation(x, y)
    assert feat_trans_residual(x - offset, y) < 1e-10
    assert np.isclose(feat_trans_residual(x, y), np.abs(offset).max(), rtol=0, atol=1e-10)
    # FEAT-EXP residual: the smallest max_y |mean(x_i | y) - a y| over a grid of a, which contains the optimum
    mean_pos, mean_neg = x[y == 1].mean(axis=0), x[y == -1].mean(axis=0)
    grid = np.concatenate([np.linspace(-10, 10, 2001)[:, None] + np.zeros(x.shape[1]), ((mean_pos - mean_neg) / 2)[None]])
    feat_exp_error = np.maximum(np.abs(mean_pos - grid), np.abs(mean_neg + grid)).min(axis=0).max()
    assert np.isclose(feat_trans_residual(x, y), feat_exp_error, rtol=0, atol=1e-10)


def test_feat_trans_residual_rejects_bad_input():
    with pytest.raises(ValueError, match="`y`"): feat_trans_residual(np.ones((3, 2)), [1, 1, 1])
    with pytest.raises(ValueError, match="`y`"): feat_trans_residual(np.ones((3, 2)), [0, 1, 1])
    with pytest.raises(ValueError, match="`x`"): feat_trans_residual(np.ones(3), [1, -1, 1])
