"""One peer library's side of a side-by-side benchmark (target 8), run with the Python of that peer's own venv.

It never imports advex_lit (the peer venvs do not hold it). The benchmark process starts it, then talks to it in JSON
lines: every request is one line on stdin, every answer one line on stdout starting with "PEER ".

  {"op": "setup", "library": "xplique" | "captum" | "art", "model": spec, "data": "inputs.npz", ...task settings}
  {"op": "time"}            run the peer's call once; answer its wall and CPU seconds, measured here
  {"op": "save", "path": p} run it once and save its output to p (.npy), for the agreement check
  {"op": "quit"}

The model spec is {"keras": "model.keras"} for the TensorFlow peers (the same saved model and weights as ours) or
{"layers": "layers.npz", "arch": [...]} for Captum, from which an equivalent PyTorch network is built (same weights).
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def answer(payload: dict) -> None:
    "One answer line on stdout."
    sys.stdout.write("PEER " + json.dumps(payload) + "\n")
    sys.stdout.flush()


def one_hot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[y]


def keras_model(spec: dict):
    import keras
    return keras.saving.load_model(spec["keras"], compile=False)


def xplique_ig(spec: dict, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int):
    "xplique's IntegratedGradients (trapezoid rule on steps + 1 points), the logit of the target class, no reducer."
    import xplique
    from xplique.attributions import IntegratedGradients
    model = keras_model(spec)
    explainer = IntegratedGradients(model, batch_size=batch_size, steps=steps + 1, reducer=None)
    targets = one_hot(y, int(model.outputs[0].shape[-1]))
    return (lambda: np.asarray(explainer.explain(x, targets))), {"xplique": xplique.__version__, **tf_versions()}


def tf_versions() -> dict:
    import keras
    import tensorflow as tf
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def art_pgd(spec: dict, x: np.ndarray, y: np.ndarray, eps: float, steps: int, step_size: float, batch_size: int):
    "ART's ProjectedGradientDescent (L_inf, no random start) on the model's logits with cross-entropy."
    import art
    import tensorflow as tf
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier
    model = keras_model(spec)
    k = int(model.outputs[0].shape[-1])
    classifier = TensorFlowV2Classifier(model=model, nb_classes=k, input_shape=tuple(x.shape[1:]), clip_values=(0.0, 1.0),
                                        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True))
    attack = ProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=step_size, max_iter=steps,
                                      num_random_init=0, batch_size=batch_size, verbose=False)
    labels = one_hot(y, k)
    return (lambda: np.asarray(attack.generate(x=x, y=labels))), {"art": art.__version__, **tf_versions()}


def torch_network(spec: dict):
    """The PyTorch twin of a Keras Sequential-style CNN: inputs stay NHWC (as in Keras), convolutions run in NCHW,
    and the feature map is flattened in NHWC order so that the Keras Dense weights apply unchanged."""
    import torch
    from torch import nn
    weights = np.load(spec["layers"])

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.ops = nn.ModuleList()
            self.kinds = []
            for i, layer in enumerate(spec["arch"]):
                kind = layer["kind"]
                if kind == "conv":
                    w = weights[f"{i}_kernel"]  # (kh, kw, in, out)
                    conv = nn.Conv2d(w.shape[2], w.shape[3], w.shape[:2], padding="same")
                    conv.weight.data = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
                    conv.bias.data = torch.from_numpy(weights[f"{i}_bias"])
                    self.ops.append(conv)
                elif kind == "dense":
                    w = weights[f"{i}_kernel"]  # (in, out)
                    dense = nn.Linear(w.shape[0], w.shape[1])
                    dense.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
                    dense.bias.data = torch.from_numpy(weights[f"{i}_bias"])
                    self.ops.append(dense)
                elif kind == "pool":
                    self.ops.append(nn.MaxPool2d(layer["size"]))
                elif kind == "flatten":
                    self.ops.append(nn.Flatten())
                else:
                    raise ValueError(f"unknown layer kind {kind!r}")
                self.kinds.append((kind, layer.get("relu", False)))

        def forward(self, x):
            h = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
            for op, (kind, relu) in zip(self.ops, self.kinds):
                if kind == "flatten": h = h.permute(0, 2, 3, 1)  # back to NHWC, the order of Keras' Flatten
                h = op(h)
                if relu: h = torch.relu(h)
            return h

    return Twin().eval()


def captum_ig(spec: dict, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int):
    "Captum's IntegratedGradients, method riemann_trapezoid on steps + 1 points, internal batches of batch_size points."
    import captum
    import torch
    from captum.attr import IntegratedGradients
    net = torch_network(spec)
    ig = IntegratedGradients(net)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    def run():
        out = ig.attribute(xt, baselines=0.0, target=yt, n_steps=steps + 1, method="riemann_trapezoid",
                           internal_batch_size=batch_size)
        return out.detach().numpy()
    return run, {"captum": captum.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def setup(request: dict):
    data = np.load(request["data"])
    x, y = data["x"].astype(np.float32), data["y"].astype(np.int32)
    library, spec = request["library"], request["model"]
    if library == "xplique": return xplique_ig(spec, x, y, request["steps"], request["batch_size"])
    if library == "captum": return captum_ig(spec, x, y, request["steps"], request["batch_size"])
    if library == "art":
        return art_pgd(spec, x, y, request["eps"], request["steps"], request["step_size"], request["batch_size"])
    raise ValueError(f"unknown library {library!r}: expected xplique, captum or art")


def main() -> int:
    fn = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "setup":
                fn, versions = setup(request)
                answer({"ok": True, "versions": versions})
            elif request["op"] == "time":
                began, began_cpu = time.perf_counter(), time.process_time()
                fn()
                answer({"ok": True, "seconds": time.perf_counter() - began, "cpu": time.process_time() - began_cpu})
            elif request["op"] == "save":
                np.save(request["path"], fn())
                answer({"ok": True})
            elif request["op"] == "quit":
                answer({"ok": True})
                return 0
            else:
                raise ValueError(f"unknown op {request['op']!r}")
        except Exception as e:  # reported to the benchmark process, which raises it there
            answer({"ok": False, "error": f"{type(e).__name__}: {e}"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
