"""Target 1: batched Integrated Gradients against its floor, one batched gradient over the same path points.

For N inputs and m steps, IG needs the input gradient at N x (m + 1) path points (the trapezoid rule evaluates m + 1
points). The floor is a compiled gradient of the selected output over those points, already built and held as
backend tensors, in chunks of the same size as IG's (so both sides run the same kernel shapes and memory bound).
Everything IG costs above the floor (building the path, contracting with the weights and with x - u, chunking,
conversions) is overhead. Goal: time(IG) / time(floor) <= 1.25, for the Madry MNIST CNN and a one-layer model.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common  # run as a script from benchmarks/

import numpy as np

GOAL = 1.25


def models(d: int = 784, cnn: bool = True, seed: int = 0):
    "The two models of targets 1, 2 and 7: the Madry CNN (10 logits) and a one-layer sigmoid model on d features."
    import keras
    from advex_lit.models import madry_cnn
    keras.utils.set_random_seed(seed)
    out = {}
    if cnn: out["madry_cnn"] = madry_cnn()
    inp = keras.Input((d,), name="features")
    out["one_layer"] = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", kernel_initializer="glorot_normal",
                                                           name="logit")(inp), name="one_layer")
    return out


def inputs(model, n: int, seed: int = 0):
    "n inputs in [0, 1] shaped for `model`, and the target classes (None for one output)."
    rng = np.random.default_rng(seed)
    shape = tuple(model.inputs[0].shape[1:])
    x = rng.uniform(0, 1, size=(n,) + shape).astype(np.float32)
    width = model.outputs[0].shape[-1]
    return x, (None if width == 1 else rng.integers(0, width, size=n).astype(np.int32))


def sync(t):
    "Force a backend result to be computed (a tiny slice to NumPy), without copying the whole tensor back."
    from advex_lit.backend import to_numpy
    return to_numpy(t[-1:])


def floor_function(model, x, target, steps: int = 50, batch_size: int | None = None):
    "A function that runs one compiled input gradient over IG's N x (m + 1) path points, in IG's chunk size."
    from keras import ops
    from advex_lit import attribution as A
    from advex_lit.backend import compile_function, input_gradient
    alphas, _ = A.path_weights(steps)
    batch_size = A._check_batch_size(batch_size)
    mode, t = A._resolve_target(target, len(x), A._output_width(model, x))
    n_ex, n_pts = A.chunk_plan(len(x), len(alphas), batch_size)
    chunk = n_ex * n_pts
    points = (alphas.reshape((1, -1) + (1,) * (x.ndim - 1)) * x[:, None]).reshape((-1,) + x.shape[1:])
    targets = np.repeat(t, len(alphas))
    pad = -len(points) % chunk
    points = np.concatenate([points, points[:pad]]) if pad else points
    targets = np.concatenate([targets, targets[:pad]]) if pad else targets
    chunks = [(ops.convert_to_tensor(points[i:i + chunk]), ops.convert_to_tensor(targets[i:i + chunk]))
              for i in range(0, len(points), chunk)]
    grad = compile_function(lambda p, tt: input_gradient(lambda q: A.select_output(A.call_model(model, q), tt, mode), p))
    def run():
        for p, tt in chunks: sync(grad(p, tt))
    return run, len(points)


def measure(name: str, model, n: int, steps: int, repeats: int, batch_size: int | None = None) -> dict:
    "One row: median over interleaved rounds of time(IG) / time(floor)."
    from advex_lit.attribution import integrated_gradients
    x, target = inputs(model, n)
    floor, n_points = floor_function(model, x, target, steps, batch_size)
    ig = lambda: integrated_gradients(model, x, target=target, steps=steps, batch_size=batch_size)
    timings = common.interleaved({"ig": ig, "floor": floor}, repeats=repeats, warmup=1, min_time=0.3)
    r = common.ratio(timings, "ig", "floor")
    return common.row("1", f"IG / batched-gradient floor, {name}, N={n}, m={steps}", r, f"<= {GOAL}", r <= GOAL,
                      f"{n_points} path points; IG {timings['ig']['median']:.3g} s, floor {timings['floor']['median']:.3g} s; "
                      f"CPU-time ratio {common.ratio(timings, 'ig', 'floor', cpu=True):.2f}",
                      model=name, n=n, steps=steps, ig_seconds=timings["ig"]["median"],
                      floor_seconds=timings["floor"]["median"])


def run(n_cnn: int = 256, n_linear: int = 256, steps: int = 50, repeats: int = 3, cnn: bool = True) -> list[dict]:
    """Rows of target 1 for both models. The one-layer model is measured twice: as a Keras model (the engine takes
    the path in the space of its Dense layer's pre-activations) and wrapped in a plain callable, which forces the
    general kernel (the path in input space), reported for comparison."""
    common.quiet_tf()
    rows = []
    for name, model in models(cnn=cnn).items():
        if name == "madry_cnn":
            rows.append(measure(name, model, n_cnn, steps, repeats))
            continue
        rows.append(measure(name, model, n_linear, steps, 4 * repeats))
        general = lambda z, model=model: model(z, training=False)
        general.inputs, general.outputs = model.inputs, model.outputs  # for `inputs` (shapes only)
        r = measure("one_layer, general kernel", general, n_linear, steps, 4 * repeats)
        rows.append({**r, "goal": "report", "pass": None,
                     "notes": r["notes"] + "; path in input space: building N(m+1) points costs as much as their gradient"})
    return rows


if __name__ == "__main__":
    common.print_rows(run())
