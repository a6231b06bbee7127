"Architectures of advex_lit.models: shapes, parameter counts, validation, save/load."
import numpy as np
import pytest
import keras

from advex_lit.models import (PerImageStandardization, leaky_relu_01, logistic_regression, madry_cnn, neurips_resnet,
                              small_cnn, wide_resnet)


def _conv_params(k, c_in, c_out, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


def test_logistic_regression_is_one_dense_logit():
    m = logistic_regression(7)
    assert m.output_shape == (None, 1) and m.count_params() == 8
    assert np.all(m.get_weights()[0] == 0)
    assert logistic_regression(7, use_bias=False).count_params() == 7
    x = np.random.default_rng(0).normal(size=(3, 7)).astype("float32")
    w = np.arange(7, dtype="float32")[:, None] / 7
    m.layers[-1].kernel.assign(w)
    np.testing.assert_allclose(m.predict(x, verbose=0), x @ w, rtol=1e-5, atol=1e-6)


def test_madry_cnn_counts_and_shapes():
    m = madry_cnn()
    assert m.count_params() == _conv_params(5, 1, 32) + _conv_params(5, 32, 64) + (7 * 7 * 64 * 1024 + 1024) + 10250
    assert [l.name for l in m.layers] == ["image", "conv1", "pool1", "conv2", "pool2", "flatten", "dense", "logits"]
    assert m.get_layer("pool2").output.shape[1:] == (7, 7, 64)
    small = madry_cnn(filters=(4, 8), dense_units=16)
    assert small.count_params() == _conv_params(5, 1, 4) + _conv_params(5, 4, 8) + (7 * 7 * 8 * 16 + 16) + (16 * 10 + 10)


def test_small_cnn_counts():
    m = small_cnn((8, 8, 1), 10, width=4)
    assert m.count_params() == _conv_params(3, 1, 4) + _conv_params(3, 4, 8) + (2 * 2 * 8 * 16 + 16) + (16 * 10 + 10)


def test_wide_resnet_counts_and_depth_check():
    assert 36.4e6 < wide_resnet(depth=28, width=10).count_params() < 36.6e6
    assert 0.68e6 < wide_resnet(depth=16, width=2).count_params() < 0.70e6
    m = wide_resnet((16, 16, 3), 5, depth=10, width=1)
    assert sum(isinstance(l, keras.layers.Add) for l in m.layers) == 3  # one unit per stage
    assert m.output_shape == (None, 5)
    for bad in (27, 12, 5):
        with pytest.raises(ValueError, match="depth"):
            wide_resnet(depth=bad)


def test_neurips_resnet_structure():
    m = neurips_resnet((32, 32, 3), 43)
    assert sum(isinstance(l, keras.layers.Add) for l in m.layers) == 15  # 3 stages x 5 units
    assert isinstance(m.get_layer("standardize"), PerImageStandardization)
    assert m.get_layer("stage3_unit0_conv1").output.shape[1:] == (8, 8, 64)
    assert m.output_shape == (None, 43)


def test_per_image_standardization_matches_tf():
    import tensorflow as tf
    x = np.random.default_rng(1).uniform(size=(3, 6, 6, 3)).astype("float32")
    x[2] = 0.5  # a constant image: deviation floored
    out = keras.ops.convert_to_numpy(PerImageStandardization()(x))
    np.testing.assert_allclose(out, tf.image.per_image_standardization(x).numpy(), atol=1e-5)


def test_leaky_relu_slope():
    out = keras.ops.convert_to_numpy(leaky_relu_01(np.array([-2.0, 3.0], "float32")))
    np.testing.assert_allclose(out, [-0.2, 3.0])


@pytest.mark.parametrize("build", [lambda: madry_cnn(filters=(2, 4), dense_units=8),
                                   lambda: neurips_resnet((16, 16, 3), 4, units=1),
                                   lambda: wide_resnet((16, 16, 3), 3, depth=10, width=1),
                                   lambda: logistic_regression(5)])
def test_save_load_round_trip(build, tmp_path):
    model = build()
    x = np.random.default_rng(2).uniform(size=(2,) + model.input_shape[1:]).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, keras.Model) and loaded.inputs
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("call", [lambda: logistic_regression(0), lambda: madry_cnn((28, 28)),
                                  lambda: madry_cnn(n_classes=1), lambda: small_cnn(width=0),
                                  lambda: neurips_resnet(filters=(16, 32)), lambda: wide_resnet(width=0)])
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()
