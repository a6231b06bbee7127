"The softplus copy behind the IFIA attack smooths every ReLU-type activation of the model zoo and refuses other kinks."
import keras
import numpy as np
import pytest

from advex_lit import models
from advex_lit.attacks import kink_slopes, smooth_kink, softplus_copy
from advex_lit.backend import set_seed, to_numpy

ZOO = {"small_cnn": lambda: models.small_cnn((12, 12, 1), 3, width=4),
       "madry_cnn": lambda: models.madry_cnn((12, 12, 1), 3, filters=(4, 8), dense_units=16),
       "wide_resnet": lambda: models.wide_resnet((8, 8, 3), 3, depth=10, width=1),
       "neurips_resnet": lambda: models.neurips_resnet((8, 8, 3), 3, units=1)}


def activations(model):
    return [layer.activation for layer in model.layers if getattr(layer, "activation", None) is not None]


@pytest.mark.parametrize("name", list(ZOO))
def test_no_kink_left_in_the_copy_of_any_zoo_model(name):
    set_seed(0)
    model = ZOO[name]()
    kinks = [a for a in activations(model) if kink_slopes(a) is not None]
    assert kinks, f"{name} has no ReLU-type activation to smooth"
    copy = softplus_copy(model, beta=50.0)
    assert not [a for a in activations(copy) if kink_slopes(a) is not None]
    x = np.random.default_rng(0).uniform(0, 1, size=(4,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    original, smooth = to_numpy(model(x)), to_numpy(copy(x))
    assert np.abs(original - smooth).max() < 0.25 * (1 + np.abs(original).max())  # close to the original at beta 50


def test_kink_slopes_and_smooth_kink():
    assert kink_slopes(keras.activations.relu) == (1.0, 0.0)
    assert kink_slopes(models.leaky_relu_01) == pytest.approx((1.0, 0.1))
    assert kink_slopes(keras.activations.tanh) is None and kink_slopes(keras.activations.linear) is None
    z = np.linspace(-3, 3, 13).astype("float32")
    smooth = to_numpy(smooth_kink(1.0, 0.1, 10.0)(z))
    leaky = np.maximum(z, 0) + 0.1 * np.minimum(z, 0)
    assert np.all(smooth >= leaky - 1e-6) and np.abs(smooth - leaky).max() <= 1.1 * np.log(2) / 10 + 1e-6


@pytest.mark.parametrize("layer,fragment", [(keras.layers.Activation("relu6", name="clipped"), "'clipped'"),
                                            (keras.layers.ReLU(max_value=6.0, name="capped"), "'capped'"),
                                            (keras.layers.PReLU(name="learned"), "'learned'")])
def test_other_piecewise_linear_activations_are_refused_by_layer_name(layer, fragment):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), layer, keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=fragment):
        softplus_copy(model)
