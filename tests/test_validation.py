"""Bad input refused everywhere: the shared checks of advex_lit.validation, then one table of bad inputs per module.

Each row of a table is (function, positional arguments, keyword arguments, expected exception, a fragment of the
message naming the argument). A wrong type must raise a TypeError (the package's ArgumentTypeError is one), a wrong
value a plain ValueError (not a TypeError), so the table also pins which kind of mistake each input is.
"""
import os

import numpy as np
import pandas as pd
import pytest

from advex_lit import (attribution, data, exp_tabular, linear, losses, metrics, models, plots, stable, theory,
                       validation as v)

MODEL, LINEAR = object(), object()  # placeholders for a small classifier and a one-output linear model (built once)


@pytest.fixture(scope="module")
def built():
    import keras
    classifier = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return {MODEL: classifier, LINEAR: linear.linear_model(np.ones(3))}


def _resolve(value, built):
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        return type(value)(_resolve(x, built) for x in value)
    if isinstance(value, dict):
        return {k: _resolve(x, built) for k, x in value.items()}
    return built[value] if any(value is placeholder for placeholder in (MODEL, LINEAR)) else value


def assert_refused(fn, args, kwargs, error, fragment):
    with pytest.raises((TypeError, ValueError)) as info:
        fn(*args, **kwargs)
    err = info.value
    assert isinstance(err, error), f"{fn.__name__}: expected {error.__name__}, got {type(err).__name__}: {err}"
    if error is ValueError:
        assert not isinstance(err, TypeError), f"{fn.__name__}: a wrong value raised a TypeError: {err}"
    assert fragment in str(err), f"{fn.__name__}: message {str(err)!r} lacks {fragment!r}"


def row(fn, *args, error=ValueError, fragment, **kwargs):
    "One bad input: fn(*args, **kwargs) must raise `error` with `fragment` in its message."
    return pytest.param(fn, args, kwargs, error, fragment, id=f"{getattr(fn, '__name__', 'fn')}-{fragment}")


def table(*rows):
    return list(rows)


# ---------------------------------------------------------------- the shared checks themselves
X3, Y2, W3 = np.ones((2, 3)), np.array([1, -1]), np.array([0.5, -1.0, 0.0])

VALIDATION = table(
    row(v.check_number, "eps", "0.1", error=TypeError, fragment="`eps` must be a finite number"),
    row(v.check_number, "eps", True, error=TypeError, fragment="(a bool)"),
    row(v.check_number, "eps", np.bool_(False), error=TypeError, fragment="`eps`"),
    row(v.check_number, "eps", [0.1], error=TypeError, fragment="`eps`"),
    row(v.check_number, "eps", None, error=TypeError, fragment="`eps`"),
    row(v.check_number, "eps", float("nan"), fragment="`eps` must be a finite number"),
    row(v.check_number, "eps", -np.inf, fragment="`eps`"),
    row(v.check_number, "eps", -0.1, low=0, fragment="`eps` must be a finite number >= 0"),
    row(v.check_number, "eps", 0.0, low=0, strict=True, fragment="> 0"),
    row(v.check_number, "p", 1.0, high=1, strict="high", fragment="< 1"),
    row(v.check_probability, "p", 1.5, fragment="`p` must be a finite number >= 0 and <= 1"),
    row(v.check_integer, "steps", 3.0, error=TypeError, fragment="`steps` must be an integer"),
    row(v.check_integer, "steps", True, error=TypeError, fragment="`steps`"),
    row(v.check_integer, "steps", "3", error=TypeError, fragment="`steps`"),
    row(v.check_integer, "steps", 0, low=1, fragment="`steps` must be an integer >= 1"),
    row(v.check_integer, "k", 5, high=4, fragment="<= 4"),
    row(v.check_bool, "batched", 1, error=TypeError, fragment="`batched` must be True or False"),
    row(v.check_bool, "batched", "yes", error=TypeError, fragment="`batched`"),
    row(v.check_array, "x", [[1, 2], [3]], error=TypeError, fragment="`x` must be an array of numbers (not ragged)"),
    row(v.check_array, "x", "abc", error=TypeError, fragment="`x`"),
    row(v.check_array, "x", {"a": 1}, error=TypeError, fragment="`x`"),
    row(v.check_array, "x", np.array([["0.1"]]), error=TypeError, fragment="`x` must be an array of numbers"),
    row(v.check_array, "x", np.ones((2, 2), bool), error=TypeError, fragment="not booleans"),
    row(v.check_array, "x", np.array([1, None]), error=TypeError, fragment="`x`"),
    row(v.check_array, "x", [[0.0, np.nan]], fragment="`x` must hold finite values only"),
    row(v.check_array, "x", [1e300], dtype=np.float32, fragment="`x` must hold finite values only"),
    row(v.check_array, "x", np.ones(3), ndim=2, fragment="`x` must have 2 dimension(s)"),
    row(v.check_array, "x", np.ones((0, 3)), fragment="`x` must have at least 1 row(s)"),
    row(v.check_array, "w", np.ones(4), shape=(3,), fragment="`w` must be shaped (3,)"),
    row(v.check_array, "x", np.ones((2, 4)), shape=(None, 3), fragment="`x` must be shaped (n, 3)"),
    row(v.check_same_length, ("x", "y"), np.ones(2), np.ones(3), fragment="`y` must have one row per row of `x`"),
    row(v.check_labels, "y", np.array([True, False]), error=TypeError, fragment="`y` must be integer class labels"),
    row(v.check_labels, "y", ["a", "b"], error=TypeError, fragment="`y`"),
    row(v.check_labels, "y", [0.5, 1.0], fragment="`y` must hold integer class labels"),
    row(v.check_labels, "y", [0.0, np.nan], fragment="`y`"),
    row(v.check_labels, "y", [[0, 1]], fragment="`y` must be a vector"),
    row(v.check_labels, "y", [0, 1], 3, fragment="`y` must hold 3 labels"),
    row(v.check_labels, "y", [0, -1], fragment="`y` must hold class labels >= 0"),
    row(v.check_labels, "y", [0, 2], 2, 2, fragment="`y` must hold class labels < 2"),
    row(v.check_labels, "y", [1, 0], allowed=(-1, 1), fragment="`y` must hold labels in (-1, 1), got 0"),
    row(v.check_choice, "optimizer", "rmsprop", ("adam", "sgd"), fragment="`optimizer` must be one of ('adam', 'sgd')"),
    row(v.check_choice, "optimizer", ["adam"], ("adam", "sgd"), fragment="`optimizer`"),
    row(v.check_choice, "label", True, (-1, 1), fragment="`label`"),
    row(v.check_pair_range, "clip", (1, 0), fragment="`clip` must be a pair (low, high)"),
    row(v.check_pair_range, "clip", (0, np.nan), fragment="`clip`"),
    row(v.check_pair_range, "clip", (0, 1, 2), error=TypeError, fragment="`clip`"),
    row(v.check_pair_range, "clip", ("0", "1"), error=TypeError, fragment="`clip`"),
    row(v.check_pair_range, "clip", (False, True), error=TypeError, fragment="`clip`"),
    row(v.check_pair_range, "clip", None, optional=False, error=TypeError, fragment="`clip`"),
    row(v.check_size_guard, "d", 40, 2 ** 40, 2 ** 20, "vertices", fragment="`d`=40 would need 1,099,511,627,776 vertices"),
    row(v.check_model, "model", 3, error=TypeError, fragment="`model` must be a Keras model or a callable"),
    row(v.check_model, "model", dict, error=TypeError, fragment="`model`"),
    row(v.check_callable, "g", 3.0, error=TypeError, fragment="`g` must be a callable"),
    row(v.check_seed, "seed", -1, fragment="`seed` must be an integer >= 0"),
    row(v.check_seed, "seed", True, error=TypeError, fragment="`seed`"),
    row(v.check_seed, "seed", np.random.default_rng(0), error=TypeError, fragment="`seed`"),
    row(v.check_path, "path", 3, error=TypeError, fragment="`path` must be a path"),
    row(v.check_path, "path", "", error=TypeError, fragment="`path`"),
    row(v.check_frame, "df", [1, 2], error=TypeError, fragment="`df` must be a pandas DataFrame"),
    row(v.check_frame, "df", pd.DataFrame({"a": [1]}), ["eps"], fragment="`df` lacks the columns ['eps']"),
)


@pytest.mark.parametrize("fn, args, kwargs, error, fragment", VALIDATION)
def test_validation_refuses(fn, args, kwargs, error, fragment):
    assert_refused(fn, args, kwargs, error, fragment)


def test_validation_returns_canonical_values():
    assert v.check_number("eps", np.float32(0.5), low=0) == 0.5 and type(v.check_number("eps", 1)) is float
    assert v.check_number("eps", np.array(0.25)) == 0.25 and v.check_number("eps", None, optional=True) is None
    assert v.check_number("eps", 0.0, low=0) == 0.0 and v.check_probability("p", 1.0) == 1.0
    assert v.check_integer("steps", np.int64(3), low=1) == 3 and type(v.check_integer("steps", np.int8(2))) is int
    assert v.check_bool("b", np.bool_(True)) is True
    x = v.check_array("x", [[0, 1], [2, 3]], ndim=2, dtype="float")
    assert x.dtype == np.float32 and x.tolist() == [[0, 1], [2, 3]]
    x64 = np.zeros((2, 2))
    assert v.check_array("x", x64, dtype="float") is x64  # no copy when the dtype already fits
    assert v.check_array("x", [[np.inf]], finite=False)[0, 0] == np.inf
    assert v.check_array("x", np.ones(2, bool), allow_bool=True).dtype == bool
    labels = v.check_labels("y", np.array([1.0, 0.0, 2.0]), 3, 3)
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0, 2]
    assert v.check_labels("y", [-1, 1, 1], allowed=(-1, 1)).tolist() == [-1, 1, 1]
    assert v.check_pair_range("clip", (0, 1)) == (0.0, 1.0) and v.check_pair_range("clip", None) is None
    assert v.check_size_guard("d", 16, 2 ** 16, 2 ** 16) == 2 ** 16
    rng = np.random.default_rng(0)
    assert v.check_seed("seed", rng, generator=True) is rng and v.check_seed("seed", np.int64(4)) == 4


def test_argument_type_error_is_both_kinds():
    "Code that catches ValueError catches every refused input; code that cares can tell a type mistake apart."
    with pytest.raises(ValueError):
        v.check_number("eps", "0.1")
    with pytest.raises(TypeError):
        v.check_number("eps", "0.1")
    with pytest.raises(ValueError) as info:
        v.check_number("eps", -1.0, low=0)
    assert not isinstance(info.value, TypeError)


def test_model_labels_follow_the_output_width(built):
    classifier, one_output = built[MODEL], built[LINEAR]
    assert v.output_width(classifier) == 2 and v.output_width(one_output) == 1 and v.output_width(np.sum) is None
    assert v.check_model_labels("y", [0, 1, 1], one_output).tolist() == [0, 1, 1]
    for model in (classifier, one_output):  # two classes either way: 0 and 1 only
        assert_refused(v.check_model_labels, ("y", [0, 2], model), {}, ValueError, "`y` must hold class labels < 2")


# ---------------------------------------------------------------- one table per module
TABLE = pd.DataFrame({"eps": [0.0, 0.1], "w1p": [90.0, 50.0], "auc": [0.9, 0.9]})
IMAGES, MAPS = np.zeros((2, 4, 4)), np.ones((2, 4, 4))
P2, T23 = np.array([0.5, 0.5]), np.zeros((2, 3))

DATA = table(
    row(data.signed_labels, np.array([True, False]), error=TypeError, fragment="`y`"),
    row(data.signed_labels, [0, 2], fragment="`y` must hold labels in (0, 1)"),
    row(data.write_idx, os.devnull, [[256]], fragment="`array` must hold integers in 0..255"),
    row(data.write_idx, os.devnull, [-1], fragment="`array`"),
    row(data.write_idx, os.devnull, [0.5, 1.0], fragment="`array`"),
    row(data.write_idx, os.devnull, np.ones(2, bool), error=TypeError, fragment="`array`"),
    row(data.write_idx, os.devnull, 7, fragment="`array` must have at least 1 dimension"),
    row(data.write_idx, 3, [1], error=TypeError, fragment="`path`"),
    row(data.read_idx, None, error=TypeError, fragment="`path`"),
    row(data.read_idx_folder, 3, error=TypeError, fragment="`folder`"),
    row(data.read_mnist_npz, 3, error=TypeError, fragment="`path`"),
    row(data.read_gtsrb_folder, "nowhere", size=0, fragment="`size`"),
    row(data.read_flowers17_folder, "nowhere", test_per_class=1.5, error=TypeError, fragment="`test_per_class`"),
    row(data.read_flowers17_folder, "nowhere", seed=-1, fragment="`seed`"),
    row(data.read_rda_frame, "nowhere.rda", 3, error=TypeError, fragment="`name`"),
    row(data.read_spambase, 3.0, error=TypeError, fragment="`path`"),
    row(data.one_hot, [[1, 2]], error=TypeError, fragment="`features`"),
    row(data.one_hot, pd.DataFrame({"a": ["x"]}), "mode", fragment="`missing`"),
    row(data.split_indices, [0, 1] * 5, (0.5, "0.5"), error=TypeError, fragment="`fractions`"),
    row(data.split_indices, [0, 1] * 5, 3, error=TypeError, fragment="`fractions`"),
    row(data.split_indices, [0, 1] * 5, (0.5, 0.6), fragment="`fractions` must be 2 or 3 fractions"),
    row(data.split_indices, np.array([True, False] * 5), "arxiv", error=TypeError, fragment="`y`"),
    row(data.split_indices, [0, 1] * 5, "arxiv", seed=-1, fragment="`seed`"),
    row(data.split_indices, [], "arxiv", fragment="`y`"),
    row(data.standardize, np.ones((3, 2)), np.ones((2, 3)), fragment="`others[0]`"),
    row(data.standardize, np.ones((3, 2)), columns=[5], fragment="`columns`"),
    row(data.standardize, np.ones((3, 2)), columns=[0.5], fragment="`columns`"),
    row(data.standardize, [["a"]], error=TypeError, fragment="`x_train`"),
    row(data.class_conditional_means, np.ones((2, 2)), [True, False], error=TypeError, fragment="`y`"),
    row(data.class_conditional_means, np.ones((2, 2)), [1, 2], fragment="`y`"),
    row(data.class_conditional_means, np.ones((2, 2)), [1, -1, 1], fragment="`y` must hold 2 labels"),
    row(data.class_conditional_means, [[np.nan, 0.0], [0.0, 0.0]], [1, -1], fragment="`x`"),
    row(data.feature_translation, np.ones((2, 2)), [1, 1], fragment="`y`"),
    row(data.translate_features, np.ones((2, 2)), np.ones(3), fragment="`offset`"),
    row(data.translate_features, np.ones((2, 2)), [np.nan, 0.0], fragment="`offset`"),
    row(data.load_dataset, "spambase", limit_train=True, error=TypeError, fragment="`limit_train`"),
    row(data.load_dataset, "spambase", limit_test=2.0, error=TypeError, fragment="`limit_test`"),
    row(data.load_dataset, "spambase", seed="0", error=TypeError, fragment="`seed`"),
    row(data.load_dataset, "spambase", download="no", error=TypeError, fragment="`download`"),
    row(data.load_dataset, "spambase", standardize_features=1, error=TypeError, fragment="`standardize_features`"),
    row(data.load_dataset, "spambase", path=3, error=TypeError, fragment="`path`"),
    row(data.load_dataset, "spambase", split=("0.5", "0.5"), error=TypeError, fragment="`split`"),
    row(data.feat_indep_dataset, True, [1.0], error=TypeError, fragment="`n`"),
    row(data.feat_indep_dataset, 10 ** 12, [1.0], fragment="`n`=1000000000000 would need"),
    row(data.feat_indep_dataset, 5.0, [1.0], error=TypeError, fragment="`n`"),
    row(data.feat_indep_dataset, 5, ["1"], error=TypeError, fragment="`strengths`"),
    row(data.feat_indep_dataset, 5, [1.0, 2.0], [1.0, 1.0, 1.0], fragment="`noise_scale`"),
    row(data.feat_indep_dataset, 5, [1.0], p_positive=1.0, fragment="`p_positive`"),
    row(data.feat_indep_dataset, 5, [1.0], p_positive="0.5", error=TypeError, fragment="`p_positive`"),
    row(data.feat_indep_dataset, 5, [1.0], seed=1.5, error=TypeError, fragment="`seed`"),
)

LOSSES = table(
    row(losses.margin_loss, X3, np.array([True, False]), W3, error=TypeError, fragment="`y`"),
    row(losses.margin_loss, X3, 0.5, W3, fragment="`y`"),
    row(losses.margin_loss, X3, True, W3, error=TypeError, fragment="`y`"),
    row(losses.margin_loss, [["a", "b", "c"]], 1, W3, error=TypeError, fragment="`x`"),
    row(losses.margin_loss, X3, Y2, [[1.0, 2.0, 3.0]], fragment="`w`"),
    row(losses.validate_margin_inputs, X3, Y2, ["1", "2", "3"], error=TypeError, fragment="`w`"),
    row(losses.check_loss_assumptions, np.exp, n=3.0, error=TypeError, fragment="`n`"),
    row(losses.check_loss_assumptions, np.exp, lo="0", error=TypeError, fragment="`lo`"),
    row(losses.check_loss_assumptions, np.exp, lo=np.nan, fragment="`lo`"),
    row(losses.elementwise_op, 3, error=TypeError, fragment="`op`"),
    row(losses.get_loss("logistic").g, "a", error=TypeError, fragment="`z`"),
    row(losses.get_loss, ["logistic"], error=TypeError, fragment="`loss`"),
)

LINEAR_TABLE = table(
    row(linear.box_vertices, 40, 0.1, fragment="`d`=40 would need"),
    row(linear.box_vertices, 10 ** 12, 0.1, fragment="`d`=1000000000000 would need"),
    row(linear.box_vertices, 2.0, 0.1, error=TypeError, fragment="`d`"),
    row(linear.box_vertices, True, 0.1, error=TypeError, fragment="`d`"),
    row(linear.box_vertices, 0, 0.1, fragment="`d`"),
    row(linear.box_vertices, 2, "0.1", error=TypeError, fragment="`eps`"),
    row(linear.adversarial_loss, X3, Y2, W3, True, error=TypeError, fragment="`eps`"),
    row(linear.adversarial_loss, X3, Y2, W3, "0.1", error=TypeError, fragment="`eps`"),
    row(linear.adversarial_loss_gradient, X3, np.array([True, False]), W3, 0.1, error=TypeError, fragment="`y`"),
    row(linear.adversarial_perturbation, W3, np.array([True]), 0.1, error=TypeError, fragment="`y`"),
    row(linear.adversarial_perturbation, ["a"], 1, 0.1, error=TypeError, fragment="`w`"),
    row(linear.linear_model, [[1.0]], fragment="`w`"),
    row(linear.linear_model, [np.nan], fragment="`w`"),
    row(linear.vertex_adversarial_loss, X3, Y2, W3, -1.0, fragment="`eps`"),
    row(linear.pgd_adversarial_loss, X3, Y2, W3, 0.1, step_size=np.nan, fragment="`step_size`"),
    row(linear.pgd_adversarial_loss, X3, Y2, W3, 0.1, step_size="0.1", error=TypeError, fragment="`step_size`"),
    row(linear.pgd_adversarial_loss, X3, Y2, W3, 0.1, seed=-1, fragment="`seed`"),
    row(linear.pgd_adversarial_loss, X3, Y2, W3, 0.1, steps=True, error=TypeError, fragment="`steps`"),
)

DIST_X, DIST_Y, DIST_P = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1, -1]), np.array([0.5, 0.5])
W2 = np.array([0.1, 0.2])
FI_X, FI_Y = data.feat_indep_dataset(10, [0.5, 0.1], seed=0)

THEORY = table(
    row(theory.random_covariance_instance, n_y=True, error=TypeError, fragment="`n_y`"),
    row(theory.random_covariance_instance, n_z=2.0, error=TypeError, fragment="`n_z`"),
    row(theory.random_covariance_instance, centered=1, error=TypeError, fragment="`centered`"),
    row(theory.random_covariance_instance, 1000, 1000, 1000, fragment="would need 1,000,000,000 atoms"),
    row(theory.random_discrete_distribution, [1, 1], n_atoms=True, error=TypeError, fragment="`n_atoms`"),
    row(theory.random_discrete_distribution, [1.5], fragment="`group_sizes`"),
    row(theory.random_discrete_distribution, 10 ** 12, fragment="`group_sizes`=1000000000000 would need"),
    row(theory.random_discrete_distribution, [True], error=TypeError, fragment="`group_sizes`"),
    row(theory.random_discrete_distribution, ["a"], error=TypeError, fragment="`group_sizes`"),
    row(theory.random_discrete_distribution, [1] * 10, n_atoms=10, fragment="`n_atoms`=10 would need"),
    row(theory.random_discrete_distribution, p_positive="0.5", error=TypeError, fragment="`p_positive`"),
    row(theory.random_discrete_distribution, p_positive=1.0, fragment="`p_positive`"),
    row(theory.covariance_gap, [0.5, 0.5], ["1", "2"], [1.0, 2.0], error=TypeError, fragment="`z`"),
    row(theory.covariance_gap, [0.5, 0.5], [1.0, 2.0], [1.0, np.nan], fragment="`f_values`"),
    row(theory.expected_update_exact, DIST_X, np.array([True, False]), DIST_P, W2, 0.1, error=TypeError,
        fragment="`support_y`"),
    row(theory.expected_update_exact, DIST_X, DIST_Y, ["0.5", "0.5"], W2, 0.1, error=TypeError, fragment="`probs`"),
    row(theory.expected_update_exact, DIST_X, DIST_Y, DIST_P, W2, "0.1", error=TypeError, fragment="`eps`"),
    row(theory.mean_g_prime, DIST_X, [1, 0], W2, 0.1, fragment="`y`"),
    row(theory.mean_g_prime, np.ones(2), [1, -1], W2, 0.1, fragment="`x`"),
    row(theory.oriented_update, ["a", "b"], W2, error=TypeError, fragment="`update`"),
    row(theory.pruning_bound, [0.1, 0.2], W2, 0.1, "1", error=TypeError, fragment="`g_prime`"),
    row(theory.pruning_bound, [0.1, 0.2], W2, 0.1, np.nan, fragment="`g_prime`"),
    row(theory.weighted_average, [1.0, 2.0], [1.0, 1.0], [0.5], error=TypeError, fragment="`group`"),
    row(theory.weighted_average, [1.0, 2.0], [1.0, 1.0], [True], error=TypeError, fragment="`group`"),
    row(theory.weighted_average, [1.0, 2.0], [1.0, 1.0], [[0, 1], [1]], error=TypeError, fragment="`group`"),
    row(theory.group_pruning_bound, [1.0, 2.0], [1.0, 1.0], 0.1, np.nan, [0], fragment="`g_prime`"),
    row(theory.expected_update_mc, [0.5], [0.1], 0.1, loss="square", fragment="`loss`"),
    row(theory.expected_update_mc, ["0.5"], [0.1], 0.1, error=TypeError, fragment="`strengths`"),
    row(theory.one_layer_model, True, error=TypeError, fragment="`d`"),
    row(theory.train_one_layer, FI_X, FI_Y, 0.1, lr="0.05", error=TypeError, fragment="`lr`"),
    row(theory.train_one_layer, FI_X, FI_Y, 0.1, lr=0.0, fragment="`lr`"),
    row(theory.train_one_layer, FI_X, FI_Y, 0.1, epochs=2.0, error=TypeError, fragment="`epochs`"),
    row(theory.train_one_layer, FI_X, FI_Y > 0, 0.1, error=TypeError, fragment="`y`"),
    row(theory.train_one_layer, np.full_like(FI_X, np.nan), FI_Y, 0.1, fragment="`x`"),
    row(theory.train_one_layer, FI_X, FI_Y, 0.1, seed=-1, fragment="`seed`"),
    row(theory.train_one_layer, FI_X, FI_Y, True, error=TypeError, fragment="`eps`"),
)

XA = np.ones((2, 3), np.float32)
ATTRIBUTION = table(
    row(attribution.integrated_gradients, MODEL, np.ones((2, 3), bool), target=0, error=TypeError, fragment="`x`"),
    row(attribution.integrated_gradients, MODEL, [[1, 2, 3], [3]], target=0, error=TypeError, fragment="`x`"),
    row(attribution.integrated_gradients, MODEL, np.full((2, 3), np.nan), target=0, fragment="`x`"),
    row(attribution.integrated_gradients, 3, XA, error=TypeError, fragment="`model`"),
    row(attribution.integrated_gradients, dict, XA, error=TypeError, fragment="`model`"),
    row(attribution.integrated_gradients, MODEL, XA, target=0, steps=True, error=TypeError, fragment="`steps`"),
    row(attribution.integrated_gradients, MODEL, XA, target=0, method="simpson", fragment="`method`"),
    row(attribution.integrated_gradients, MODEL, XA, target=0, batch_size=0, fragment="`batch_size`"),
    row(attribution.integrated_gradients, MODEL, XA, target=0, batch_size=2.5, error=TypeError,
        fragment="`batch_size`"),
    row(attribution.integrated_gradients, MODEL, XA, baseline="a", target=0, error=TypeError, fragment="`baseline`"),
    row(attribution.integrated_gradients, MODEL, XA, baseline=np.ones(3, bool), target=0, error=TypeError,
        fragment="`baseline`"),
    row(attribution.integrated_gradients, MODEL, XA, target=5, fragment="`target`"),
    row(attribution.integrated_gradients, MODEL, XA, target=True, error=TypeError, fragment="`target`"),
    row(attribution.path_weights, 0, fragment="`steps`"),
    row(attribution.path_weights, 5, "simpson", fragment="`method`"),
    row(attribution.model_outputs, MODEL, "x", error=TypeError, fragment="`x`"),
    row(attribution.completeness_gap, MODEL, XA, [["a"]], target=0, error=TypeError, fragment="`attributions`"),
    row(attribution.completeness_gap, MODEL, XA, np.full((2, 3), np.nan), target=0, fragment="`attributions`"),
    row(attribution.completeness_gap, 3, XA, XA, error=TypeError, fragment="`model`"),
    row(attribution.linear_ig, np.array([["1", "2"]]), None, [1.0, 1.0], error=TypeError, fragment="`x`"),
    row(attribution.linear_ig, np.ones((1, 2)), None, [True, False], error=TypeError, fragment="`w`"),
    row(attribution.linear_ig, np.ones((1, 2)), ["a", "b"], [1.0, 1.0], error=TypeError, fragment="`baseline`"),
    row(attribution.input_layer_name, 3, error=TypeError, fragment="`model`"),
    row(attribution.split_model, MODEL, 3, error=TypeError, fragment="`layer_name`"),
    row(attribution.deep_shap, MODEL, XA, XA, 0, return_gap="yes", error=TypeError, fragment="`return_gap`"),
    row(attribution.saliency, MODEL, np.full((1, 3), np.inf), target=0, fragment="`x`"),
)

STABLE = table(
    row(stable.label_loss_model, LINEAR, True, error=TypeError, fragment="`label`"),
    row(stable.label_loss_model, LINEAR, 2, fragment="`label`"),
    row(stable.label_loss_model, np.sum, 1, error=TypeError, fragment="`score_model`"),
    row(stable.ig_of_loss, np.sum, X3, X3, Y2, error=TypeError, fragment="`score_model`"),
    row(stable.ig_of_loss, LINEAR, X3, X3, Y2, steps=0, fragment="`steps`"),
    row(stable.ig_of_loss, LINEAR, X3, [["a"] * 3] * 2, Y2, error=TypeError, fragment="`x_prime`"),
    row(stable.one_layer_loss_ig, X3, X3, np.array([True, False]), W3, error=TypeError, fragment="`y`"),
    row(stable.stable_ig_search, X3, Y2, W3, 0.1, method="vertex", restarts=0, fragment="`restarts`"),
    row(stable.stable_ig_search, X3, Y2, W3, 0.1, seed="0", error=TypeError, fragment="`seed`"),
    row(stable.stable_ig_search, X3, Y2, W3, 0.1, method=["vertex"], fragment="`method`"),
    row(stable.stable_ig_ascent, X3, Y2, W3, 0.1, steps=1.0, error=TypeError, fragment="`steps`"),
    row(stable.stable_ig_ascent, X3, Y2, W3, 0.1, ig_steps=True, error=TypeError, fragment="`ig_steps`"),
    row(stable.stable_ig_loss, X3, Y2, W3, "0.1", error=TypeError, fragment="`eps`"),
    row(stable.stable_ig_maximizer, X3, Y2, W3, True, error=TypeError, fragment="`eps`"),
    row(stable.robust_coupling_value, P2, T23, T23, "0.1", error=TypeError, fragment="`rho`"),
    row(stable.robust_coupling_value, ["0.5", "0.5"], T23, T23, 0.1, error=TypeError, fragment="`p`"),
    row(stable.dual_coupling_value, P2, T23, T23, True, error=TypeError, fragment="`rho`"),
    row(stable.penalized_coupling_value, P2, T23, T23, np.nan, fragment="`gamma`"),
    row(stable.penalized_coupling_value, P2, [["a"] * 3] * 2, T23, 0.1, error=TypeError, fragment="`gain`"),
)

A24 = np.ones((2, 4))
METRICS = table(
    row(metrics.gini, ["0.1", "0.2"], error=TypeError, fragment="`v`"),
    row(metrics.gini, [True, False], error=TypeError, fragment="`v`"),
    row(metrics.gini, [1.0, 2.0], offset="0", error=TypeError, fragment="`offset`"),
    row(metrics.gini, [1.0, 2.0], offset=np.inf, fragment="`offset`"),
    row(metrics.gini, A24, axis=True, error=TypeError, fragment="`axis`"),
    row(metrics.gini, A24, axis=1.0, error=TypeError, fragment="`axis`"),
    row(metrics.gini_of_maps, [["a", "b"]], error=TypeError, fragment="`maps`"),
    row(metrics.lorenz_curve, "abc", error=TypeError, fragment="`v`"),
    row(metrics.percent_significant, [1.0, 2.0], threshold="0.1", error=TypeError, fragment="`threshold`"),
    row(metrics.percent_significant, [1.0, 2.0], threshold=np.nan, fragment="`threshold`"),
    row(metrics.percent_significant, [1.0, 2.0], threshold=1.5, fragment="`threshold`"),
    row(metrics.l1_linf_ratio, [[1.0, np.nan]], fragment="`v`"),
    row(metrics.accuracy_drop, "0.9", 0.8, error=TypeError, fragment="`acc_natural`"),
    row(metrics.accuracy_drop, True, 0.8, error=TypeError, fragment="`acc_natural`"),
    row(metrics.sparseness_improvement, [True], [0.5], error=TypeError, fragment="`gini_model`"),
    row(metrics.feature_value_impact, [["a"]], error=TypeError, fragment="`attributions`"),
    row(metrics.feature_impact, A24, None, "abcd", error=TypeError, fragment="`feature_names`"),
    row(metrics.feature_impact, A24, {"f": [True, False]}, fragment="`groups`"),
    row(metrics.concentration_metrics, ["1", "2"], error=TypeError, fragment="`w`"),
    row(metrics.concentration_metrics, [1.0, 2.0], threshold=0, fragment="`threshold`"),
    row(metrics.topk_intersection, A24, A24, True, error=TypeError, fragment="`k`"),
    row(metrics.kendall_tau, A24, A24, batched=1, error=TypeError, fragment="`batched`"),
    row(metrics.spearman, A24, A24, batched="yes", error=TypeError, fragment="`batched`"),
    row(metrics.top_k_indices, A24, np.int64(9), fragment="`k`"),
)

MODELS = table(
    row(models.logistic_regression, True, error=TypeError, fragment="`d`"),
    row(models.logistic_regression, 3, use_bias="yes", error=TypeError, fragment="`use_bias`"),
    row(models.logistic_regression, 3, name=3, error=TypeError, fragment="`name`"),
    row(models.madry_cnn, filters=5, fragment="`filters`"),
    row(models.madry_cnn, filters=(32, 64.0), error=TypeError, fragment="`filters`"),
    row(models.madry_cnn, input_shape=(28, 28, True), fragment="`input_shape`"),
    row(models.madry_cnn, dense_units=10 ** 7, fragment="`dense_units`=10000000 would need"),
    row(models.small_cnn, width=10 ** 5, fragment="`width`=100000 would need"),
    row(models.small_cnn, n_classes=1, fragment="`n_classes`"),
    row(models.neurips_resnet, standardize="no", error=TypeError, fragment="`standardize`"),
    row(models.neurips_resnet, filters=(16, 16, 32, 10 ** 5), fragment="`filters`=[16, 16, 32, 100000] would need"),
    row(models.wide_resnet, width=1000, fragment="`width`=1000 would need"),
    row(models.wide_resnet, depth=28.0, error=TypeError, fragment="`depth`"),
)

SERIES = pd.Series([1.0, 2.0], index=["f", "g"])
PLOTS = table(
    row(plots.saliency_grid, IMAGES, {"a": MAPS}, n=True, error=TypeError, fragment="`n`"),
    row(plots.saliency_grid, IMAGES, {"a": MAPS}, labels=5, error=TypeError, fragment="`labels`"),
    row(plots.saliency_grid, IMAGES, {"a": MAPS}, title=3, error=TypeError, fragment="`title`"),
    row(plots.saliency_grid, np.full((2, 4, 4), "a"), {"a": MAPS}, error=TypeError, fragment="`images`"),
    row(plots.saliency_grid, IMAGES, [MAPS], error=TypeError, fragment="`maps_by_model`"),
    row(plots.dg_boxplot, [1.0, 2.0], error=TypeError, fragment="`dg_by_setting`"),
    row(plots.dg_boxplot, {}, fragment="`dg_by_setting`"),
    row(plots.dg_boxplot, {"a": [True, False]}, error=TypeError, fragment="`dg_by_setting['a']`"),
    row(plots.goldilocks_band, TABLE, auc_band="0.01", error=TypeError, fragment="`auc_band`"),
    row(plots.goldilocks_band, TABLE, auc_band=True, error=TypeError, fragment="`auc_band`"),
    row(plots.goldilocks_band, TABLE, drop_fraction=0, fragment="`drop_fraction`"),
    row(plots.goldilocks_band, [1.0], error=TypeError, fragment="`df`"),
    row(plots.w1p_auc_vs_eps, TABLE, goldilocks=("a", "b"), error=TypeError, fragment="`goldilocks`"),
    row(plots.dropoff_curves, {"a": [1.0, 2.0]}, normalize="yes", error=TypeError, fragment="`normalize`"),
    row(plots.dropoff_curves, {"a": [1.0, 2.0]}, log_scale=0, error=TypeError, fragment="`log_scale`"),
    row(plots.fi_bars, {"a": SERIES}, top=1.5, error=TypeError, fragment="`top`"),
    row(plots.fi_bars, {"a": [1.0]}, error=TypeError, fragment="`fi_by_model['a']`"),
    row(plots.tradeoff_curves, pd.DataFrame({"x": [1.0]}), x=3, error=TypeError, fragment="`x`"),
)

XT, YT = np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])
TABULAR = table(
    row(exp_tabular.tabular_splits, "digits", fragment="`name`"),
    row(exp_tabular.train_logistic, XT, YT, "l1", "0.1", 1, error=TypeError, fragment="`strength`"),
    row(exp_tabular.train_logistic, XT, YT, "l1", -0.1, 1, fragment="`strength`"),
    row(exp_tabular.train_logistic, XT, YT, "l1", 0.1, 2.5, error=TypeError, fragment="`epochs`"),
    row(exp_tabular.train_logistic, XT, [0, 1, 2, 1], "l1", 0.1, 1, fragment="`y`"),
    row(exp_tabular.train_logistic, XT, YT > 0, "l1", 0.1, 1, error=TypeError, fragment="`y`"),
    row(exp_tabular.train_logistic, XT, YT, "svm", 0.1, 1, fragment="`method`"),
    row(exp_tabular.train_logistic, np.full((4, 2), np.nan), YT, "natural", 0.0, 1, fragment="`x`"),
    row(exp_tabular.train_logistic, XT, YT, "natural", 0.0, 1, seed=-1, fragment="`seed`"),
    row(exp_tabular.weights_of, 3, error=TypeError, fragment="`model`"),
    row(exp_tabular.table1_runs, "fast", fragment="`profile`"),
    row(exp_tabular.appi_runs, "fast", fragment="`profile`"),
    row(exp_tabular.feat_indep_runs, "fast", fragment="`profile`"),
    row(exp_tabular.tradeoff_frame, [1], error=TypeError, fragment="`df`"),
    row(exp_tabular.tradeoff_frame, pd.DataFrame({"dataset": ["spambase"]}), fragment="`df` lacks the columns"),
    row(exp_tabular.appi_frame, pd.DataFrame({"dataset": ["spambase"], "method": ["l1"]}), fragment="`df` lacks"),
    row(exp_tabular.eps_sweep, pd.DataFrame({"dataset": ["spambase"]}), "spambase", fragment="`g` lacks"),
    row(exp_tabular.matched_l_model, [1], "spambase", None, error=TypeError, fragment="`g`"),
    row(exp_tabular.feat_indep_frame, pd.DataFrame({"seed": [0]}), fragment="`df` lacks"),
)


@pytest.mark.parametrize("fn, args, kwargs, error, fragment",
                         DATA + LOSSES + LINEAR_TABLE + THEORY + ATTRIBUTION + STABLE + METRICS + MODELS + PLOTS + TABULAR)
def test_bad_input_is_refused_by_name(fn, args, kwargs, error, fragment, built):
    assert_refused(fn, _resolve(args, built), _resolve(kwargs, built), error, fragment)


def test_box_vertices_guard_refuses_before_allocating():
    "d = 40 fails at once with the size it would need; the largest allowed d still works."
    import time
    start = time.perf_counter()
    with pytest.raises(ValueError, match="would need"):
        linear.box_vertices(40, 0.1)
    assert time.perf_counter() - start < 1.0
    assert linear.box_vertices(linear.MAX_VERTEX_DIM, 1.0).shape == (2 ** linear.MAX_VERTEX_DIM, linear.MAX_VERTEX_DIM)


def test_write_idx_round_trips_valid_bytes(tmp_path):
    "Integers 0..255, given as any integer or integral float dtype, are written exactly; the refusals are in DATA."
    values = np.array([[0, 1, 254, 255]])
    for dtype in (np.uint8, np.int64, np.float64):
        path = tmp_path / f"v_{np.dtype(dtype).name}.gz"
        data.write_idx(path, values.astype(dtype))
        assert data.read_idx(path).tolist() == values.tolist()
