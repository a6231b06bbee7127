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
             "value_and_weight_gradient": lambda: B.value_and_weight_gradient(model, lambda: model(x)),
             "make_train_step": lambda: B.make_train_step(model, keras.optimizers.SGD(), lambda: model(x)),
             "visible_accelerators": B.visible_accelerators}
    for name, call in calls.items():
        with pytest.raises(NotImplementedError, match="KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax"):
            call()
