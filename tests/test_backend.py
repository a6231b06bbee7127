"""The backend layer refuses the Keras backends it does not support (PyTorch included), naming the supported ones."""
import numpy as np
import pytest

import keras

from advex_lit import backend as B


def test_supported_backend_passes():
    assert B.check_backend() == B.backend_name() == keras.backend.backend()
    assert set(B.SUPPORTED_BACKENDS) == {"tensorflow", "jax"}
    assert B.check_backend("jax") == "jax"


@pytest.mark.parametrize("name", ["torch", "numpy", "openvino"])
def test_unsupported_backend_named_in_error(name):
    with pytest.raises(NotImplementedError, match=rf"supports the Keras backends tensorflow and jax, not '{name}'"):
        B.check_backend(name)


def test_every_backend_function_refuses_torch(monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.ones((1, 2), "float32")
    monkeypatch.setattr(B, "backend_name", lambda: "torch")
    calls = {"value_and_input_gradient": lambda: B.value_and_input_gradient(lambda t: t, x),
             "input_gradient": lambda: B.input_gradient(lambda t: t, x, create_graph=True),
             "compile_function": lambda: B.compile_function(lambda t: t),
             "compile_model_function": lambda: B.compile_model_function(lambda t: model(t), lambda: model),
             "value_and_weight_gradient": lambda: B.value_and_weight_gradient(model, lambda: model(x)),
             "make_train_step": lambda: B.make_train_step(model, keras.optimizers.SGD(), lambda: model(x)),
             "visible_accelerators": B.visible_accelerators}
    for name, call in calls.items():
        with pytest.raises(NotImplementedError, match="KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax"):
            call()


def test_model_variables_counts_shared_weights_once_and_refuses_non_models():
    inner = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((3,)), inner, keras.layers.Activation("softmax")])
    view = keras.Model(model.inputs, inner.output)  # shares the Dense layer's kernel and bias
    found = B.model_variables((model, view, inner))
    assert [id(v) for v in found] == [id(inner.kernel), id(inner.bias)]
    with pytest.raises(TypeError, match="`models` must be Keras models or layers, got ndarray"):
        B.model_variables(np.ones(3))
    with pytest.raises(TypeError, match="`models`"):
        B.compile_model_function(lambda t: model(t), model.layers)  # a list, not a callable returning it


def test_compiled_model_function_follows_set_weights():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([np.array([[2.0], [3.0]], "float32")])
    output = B.compile_model_function(lambda t: model(t)[:, 0], lambda: model)
    x = np.array([[1.0, 1.0]], "float32")
    assert np.allclose(B.to_numpy(output(x)), [5.0])
    model.set_weights([np.array([[-1.0], [4.0]], "float32")])
    assert np.allclose(B.to_numpy(output(x)), [3.0])


def test_abs_sign_gradient_is_abs_with_the_sign_as_its_gradient():
    abs_sign_gradient, input_gradient, to_numpy = B.abs_sign_gradient, B.input_gradient, B.to_numpy
    t = np.array([-2.5, -0.0, 0.0, 1e-30, 3.0], np.float32)
    assert np.array_equal(to_numpy(abs_sign_gradient(t)), np.abs(t))
    assert np.array_equal(to_numpy(input_gradient(abs_sign_gradient, t)), np.sign(t))  # 0 at 0, not JAX's 1
