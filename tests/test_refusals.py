"""Bad input refused by the attacks, training and experiment modules: each row is a call, the error type it must
raise and a fragment of the message, which names the argument and what was expected."""
import keras
import numpy as np
import pytest

from advex_lit import attacks, exp_images as ei, exp_robust as er, training as tr
from advex_lit.backend import set_seed
from advex_lit.training import TrainConfig

set_seed(0)
MODEL = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
BINARY = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
X = np.random.default_rng(0).uniform(0, 1, size=(5, 4)).astype("float32")
Y = np.array([0, 1, 2, 1, 0])
X_NAN = X.copy(); X_NAN[2, 1] = np.nan
KERNEL = tr._attribution_ascent_kernel(MODEL, "ig_norm", TrainConfig(eps=0.1, attack_steps=1, attack_step_size=0.1,
                                                                        ig_lambda=1.0, m_attack=2, m_grad=2))

BAD = [
    # attacks
    ("pgd eps negative", lambda: attacks.pgd(MODEL, X, Y, -0.1), ValueError, "`eps` must be a finite number >= 0"),
    ("pgd eps string", lambda: attacks.pgd(MODEL, X, Y, "0.1"), TypeError, "`eps` must be a finite number"),
    ("pgd eps bool", lambda: attacks.pgd(MODEL, X, Y, True), TypeError, "`eps`"),
    ("pgd steps 0", lambda: attacks.pgd(MODEL, X, Y, 0.1, steps=0), ValueError, "`steps` must be an integer >= 1"),
    ("pgd steps float", lambda: attacks.pgd(MODEL, X, Y, 0.1, steps=2.0), TypeError, "`steps` must be an integer"),
    ("pgd step_size nan", lambda: attacks.pgd(MODEL, X, Y, 0.1, step_size=float("nan")), ValueError, "`step_size`"),
    ("pgd clip reversed", lambda: attacks.pgd(MODEL, X, Y, 0.1, clip=(1, 0)), ValueError, "`clip` must be a pair"),
    ("pgd random_start 1", lambda: attacks.pgd(MODEL, X, Y, 0.1, random_start=1), TypeError, "`random_start`"),
    ("pgd loss not callable", lambda: attacks.pgd(MODEL, X, Y, 0.1, loss="ce"), TypeError, "`loss`"),
    ("pgd label 3 of 3 classes", lambda: attacks.pgd(MODEL, X, [0, 1, 3, 1, 0], 0.1), ValueError, "class indices 0..2"),
    ("pgd label 2 one output", lambda: attacks.pgd(BINARY, X, [0, 1, 2, 1, 0], 0.1), ValueError, "labels in {0, 1}"),
    ("pgd bool labels", lambda: attacks.pgd(MODEL, X, Y > 0, 0.1), TypeError, "`y` must be integer class labels"),
    ("pgd labels too few", lambda: attacks.pgd(MODEL, X, Y[:3], 0.1), ValueError, "`y` must hold 5 labels"),
    ("pgd x nan", lambda: attacks.pgd(MODEL, X_NAN, Y, 0.1), ValueError, "`x` must hold finite values"),
    ("pgd x vector", lambda: attacks.pgd(MODEL, X[0], Y[:1], 0.1), ValueError, "`x` must be a batch"),
    ("pgd x strings", lambda: attacks.pgd(MODEL, [["a"] * 4] * 5, Y, 0.1), TypeError, "`x` must be an array of numbers"),
    ("pgd model not callable", lambda: attacks.pgd("model", X, Y, 0.1), TypeError, "`model` must be a Keras model"),
    ("pgd seed negative", lambda: attacks.pgd(MODEL, X, Y, 0.1, seed=-1), ValueError, "`seed`"),
    ("pgd seed bool", lambda: attacks.pgd(MODEL, X, Y, 0.1, seed=True), TypeError, "`seed`"),
    ("fgsm eps inf", lambda: attacks.fgsm(MODEL, X, Y, float("inf")), ValueError, "`eps`"),
    ("adversarial_accuracy restarts 0", lambda: attacks.adversarial_accuracy(MODEL, X, Y, 0.1, restarts=0), ValueError, "`restarts`"),
    ("adversarial_accuracy label 7", lambda: attacks.adversarial_accuracy(BINARY, X, [7, 0, 0, 0, 0], 0.1), ValueError, "labels in {0, 1}"),
    ("project eps negative", lambda: attacks.project(X, X, -1.0), ValueError, "`eps`"),
    ("project clip reversed", lambda: attacks.project(X, X, 0.1, clip=(1, 0)), ValueError, "`clip`"),
    ("project shapes", lambda: attacks.project(X[:2], X, 0.1), ValueError, "`x_adv` must have the shape of `x`"),
    ("project nan", lambda: attacks.project(X_NAN, X, 0.1), ValueError, "`x_adv` must hold finite values"),
    ("random_sign eps string", lambda: attacks.random_sign_perturbation(X, "0.1"), TypeError, "`eps`"),
    ("ifia k too large", lambda: attacks.ifia_topk(MODEL, X, Y, 0.1, k=5, steps=1, step_size=0.1), ValueError, "`k` must be at most"),
    ("ifia label out of range", lambda: attacks.ifia_topk(MODEL, X, [0, 1, 5, 1, 0], 0.1, k=2, steps=1, step_size=0.1),
     ValueError, "class indices 0..2"),
    ("ifia saliency", lambda: attacks.ifia_topk(MODEL, X, Y, 0.1, k=2, steps=1, step_size=0.1, saliency="shap"), ValueError, "`saliency`"),
    ("softplus_copy beta 0", lambda: attacks.softplus_copy(MODEL, 0.0), ValueError, "`beta`"),
    ("softplus_copy not a model", lambda: attacks.softplus_copy(lambda x: x), TypeError, "`model`"),
    ("predict_labels batch_size 0", lambda: attacks.predict_labels(MODEL, X, 0), ValueError, "`batch_size`"),
    # training
    ("train x nan", lambda: tr.train(MODEL, "natural", (X_NAN, Y), TrainConfig(), verbose=False), ValueError,
     "inputs must be finite"),
    ("train bool labels", lambda: tr.train(MODEL, "natural", (X, Y > 0), TrainConfig(), verbose=False), ValueError,
     "labels must be integers"),
    ("train label 3", lambda: tr.train(MODEL, "natural", (X, [0, 1, 3, 0, 0]), TrainConfig(), verbose=False), ValueError,
     "class indices 0..2"),
    ("train unknown method", lambda: tr.train(MODEL, "madry", (X, Y), TrainConfig(), verbose=False), ValueError, "`method`"),
    ("make_optimizer rmsprop", lambda: tr.make_optimizer(TrainConfig(optimizer="rmsprop")), ValueError, "`config.optimizer`"),
    ("make_optimizer lr negative", lambda: tr.make_optimizer(TrainConfig(learning_rate=-1e-3)), ValueError,
     "`config.learning_rate`"),
    ("make_optimizer lr string", lambda: tr.make_optimizer(TrainConfig(learning_rate="0.01")), ValueError,
     "`config.learning_rate`"),
    ("make_objective missing eps", lambda: tr.make_objective("adversarial", TrainConfig()), ValueError, "config.eps"),
    ("make_attack not a model", lambda: tr.make_attack("natural", "model", TrainConfig()), TypeError, "`model`"),
    ("kernel_variables not a model", lambda: tr.kernel_variables(None), TypeError, "`model`"),
    ("attribution_pgd steps 0", lambda: tr.attribution_pgd(KERNEL, X, Y, 0.1, 0, 0.1, None), ValueError, "`steps`"),
    ("attribution_pgd eps negative", lambda: tr.attribution_pgd(KERNEL, X, Y, -0.1, 1, 0.1, None), ValueError, "`eps`"),
    ("attribution_pgd step nan", lambda: tr.attribution_pgd(KERNEL, X, Y, 0.1, 1, float("nan"), None), ValueError, "`step_size`"),
    ("attribution_pgd clip reversed", lambda: tr.attribution_pgd(KERNEL, X, Y, 0.1, 1, 0.1, (1, 0)), ValueError, "`clip`"),
    ("attribution_pgd kernel", lambda: tr.attribution_pgd(None, X, Y, 0.1, 1, 0.1, None), TypeError, "`kernel`"),
    ("accuracy x nan", lambda: tr.accuracy(MODEL, X_NAN, Y), ValueError, "inputs must be finite"),
    ("model_logits batch_size", lambda: tr.model_logits(MODEL, X, batch_size=0), ValueError, "`batch_size`"),
    # experiments
    ("synthetic_images name", lambda: ei.synthetic_images("svhn"), ValueError, "`name`"),
    ("synthetic_images n_train bool", lambda: ei.synthetic_images("cifar10", n_train=True), ValueError, "`n_train`"),
    ("build_model name", lambda: ei.build_model("vgg", (8, 8, 1), 2, {}), ValueError, "`name`"),
    ("image_params profile", lambda: ei.image_params("huge", "mnist_5k", "natural"), ValueError, "profile"),
    ("robust_params method", lambda: er.robust_params("quick", "mnist_5k", "l1"), ValueError, "method"),
]


@pytest.mark.parametrize("case", BAD, ids=[row[0] for row in BAD])
def test_bad_input_is_refused_by_name(case):
    _, call, error, fragment = case
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), str(info.value)


def test_a_diverging_run_stops_instead_of_writing_nan_weights():
    set_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    huge = X * 1e30
    with pytest.raises(FloatingPointError, match="objective became"):
        tr.train(model, "natural", (huge, Y), TrainConfig(epochs=2, batch_size=5, optimizer="sgd", learning_rate=1e30),
                 verbose=False)
