"""Target 1: batched Integrated Gradients against its floor, the least work the same algorithm must do.

For a general network (the Madry CNN) and N inputs with m steps, IG needs the input gradient at N x (m + 1) path
points (the trapezoid rule evaluates m + 1 points). That floor is a compiled gradient of the selected output over
those points, already built and held as backend tensors, in chunks of the same size as IG's (so both sides run the
same kernel shapes and memory bound). Everything IG costs above it (building the path, contracting with the weights
and with x - u, chunking, conversions) is overhead. Goal: time(IG) / time(floor) <= 1.25.

A one-layer model F(x) = sigmoid(<w, x> + b) takes another algorithm: along the straight path the pre-activation is
affine in alpha, so the engine never forms input-space points (the Dense shortcut of the attribution chapter). Its
floor is the work of that algorithm: x W (one product), sigmoid' at the N (m + 1) scalar pre-activations and their
weighted sum, and the product with W^T scaled by x (the second product), written directly in a compiled function.
Goal: the same 1.25. The input-space gradients at N (m + 1) points are reported too, under their right name: the
naive algorithm, which the shortcut avoids (a speed-up, not a floor).
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


def dense_floor_function(model, x, steps: int = 50):
    """The one-layer model's own floor: x W, sigmoid'(b + alpha_k x W) weighted by the rule's c_k and summed over k,
    then (.) W^T scaled by x, in one compiled function (zero baseline)."""
    from keras import ops
    from advex_lit import attribution as A
    from advex_lit.backend import compile_function
    dense = model.get_layer("logit")
    w, b = ops.convert_to_tensor(dense.kernel), ops.convert_to_tensor(dense.bias)
    alphas, weights = (ops.convert_to_tensor(v) for v in A.path_weights(steps))
    def floor(xt):
        z = b + ops.matmul(xt, w) * ops.expand_dims(alphas, 0)  # (N, m + 1) pre-activations along the path
        s = ops.sigmoid(z)
        summed = ops.sum(s * (1.0 - s) * ops.expand_dims(weights, 0), axis=1, keepdims=True)
        return ops.matmul(summed, ops.transpose(w)) * xt
    kernel, xt = compile_function(floor), ops.convert_to_tensor(x)
    return lambda: sync(kernel(xt))


def measure_dense(n: int, steps: int, repeats: int, model) -> list[dict]:
    "One-layer rows: IG / its own floor (goal), and the naive input-space algorithm / IG (the shortcut's speed-up)."
    from advex_lit.attribution import integrated_gradients
    x, _ = inputs(model, n)
    naive, n_points = floor_function(model, x, None, steps)
    floor = dense_floor_function(model, x, steps)
    ig = lambda: integrated_gradients(model, x, steps=steps)
    t = common.interleaved({"ig": ig, "floor": floor, "naive": naive}, repeats=repeats, warmup=1, min_time=0.3)
    r, speedup = common.ratio(t, "ig", "floor"), common.ratio(t, "naive", "ig")
    return [common.row("1", f"IG / its own floor (x W, scalar path, (.) W^T), one_layer, N={n}, m={steps}", r,
                       f"<= {GOAL}", r <= GOAL, f"numerator: integrated_gradients (Dense shortcut) "
                       f"{t['ig']['median'] * 1e3:.3g} ms; denominator: the floor written directly "
                       f"{t['floor']['median'] * 1e3:.3g} ms; CPU-time ratio {common.ratio(t, 'ig', 'floor', cpu=True):.2f}"
                       + ("" if r <= GOAL else "; misses the goal because the Dense shortcut still cuts the work into "
                          "chunks of batch_size path points (about batch_size / (m + 1) examples per kernel call), as "
                          "for input-space points, although its points are scalars: the ratio grows with N (one "
                          "compiled call per chunk)"),
                       model="one_layer", n=n, steps=steps, ig_seconds=t["ig"]["median"],
                       floor_seconds=t["floor"]["median"]),
            common.row("1", f"naive algorithm (input gradients at {n_points} path points) / IG, one_layer", speedup,
                       "report", None, f"numerator: a compiled input-space gradient over prebuilt path points "
                       f"{t['naive']['median'] * 1e3:.3g} ms; denominator: IG with the Dense shortcut; the speed-up of "
                       f"the shortcut, not a floor", model="one_layer", n=n, steps=steps)]


def measure(name: str, model, n: int, steps: int, repeats: int, batch_size: int | None = None) -> dict:
    "One row: median over interleaved rounds of time(IG) / time(floor)."
    from advex_lit.attribution import integrated_gradients
    x, target = inputs(model, n)
    floor, n_points = floor_function(model, x, target, steps, batch_size)
    ig = lambda: integrated_gradients(model, x, target=target, steps=steps, batch_size=batch_size)
    timings = common.interleaved({"ig": ig, "floor": floor}, repeats=repeats, warmup=1, min_time=0.3)
    r = common.ratio(timings, "ig", "floor")
    return common.row("1", f"IG / batched-gradient floor, {name}, N={n}, m={steps}", r, f"<= {GOAL}", r <= GOAL,
                      f"numerator: integrated_gradients; denominator: one compiled input gradient over the {n_points} "
                      f"prebuilt path points; IG {timings['ig']['median']:.3g} s, floor {timings['floor']['median']:.3g} s; "
                      f"CPU-time ratio {common.ratio(timings, 'ig', 'floor', cpu=True):.2f}",
                      model=name, n=n, steps=steps, ig_seconds=timings["ig"]["median"],
                      floor_seconds=timings["floor"]["median"])


def run(n_cnn: int = 256, n_linear: int = 256, steps: int = 50, repeats: int = 3, cnn: bool = True) -> list[dict]:
    """Rows of target 1: the Madry CNN against its batched-gradient floor; the one-layer model against its own floor
    and the naive algorithm; and the one-layer model wrapped in a plain callable, which forces the general kernel
    (the path in input space), against the batched-gradient floor, reported for comparison."""
    common.quiet_tf()
    rows = []
    for name, model in models(cnn=cnn).items():
        if name == "madry_cnn":
            rows.append(measure(name, model, n_cnn, steps, repeats))
            continue
        rows += measure_dense(n_linear, steps, 4 * repeats, model)
        general = lambda z, model=model: model(z, training=False)
        general.inputs, general.outputs = model.inputs, model.outputs  # for `inputs` (shapes only)
        r = measure("one_layer, general kernel", general, n_linear, steps, 4 * repeats)
        rows.append({**r, "goal": "report", "pass": None,
                     "notes": r["notes"] + "; path in input space: building N(m+1) points costs as much as their gradient"})
    return rows


if __name__ == "__main__":
    common.print_rows(run())
