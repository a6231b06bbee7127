"""Target 6: DeepSHAP against IG, cost per explained input (reported, no goal).

IG with m steps costs m + 1 forward-backward passes per input. shap's DeepExplainer evaluates each input against every
one of the B background examples (a batch of B pairs) and runs one backward pass per output of the model it is given.
`deep_shap` gives it only the target class's logit (inputs grouped by class), so about B passes per input (B x K if
all K classes were explained, as the explainer does by default). Every `deep_shap` call also builds one explainer per
class it meets, a fixed cost that does not grow with the number of inputs. So both methods are timed on n and on 2n
inputs of one class, interleaved over rounds, and the cost per input is the slope (t(2n) - t(n)) / n; the intercept
t(n) - n x slope is DeepSHAP's explainer construction (and IG's fixed cost), reported apart.
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np


def run(n: int = 16, background: int = 20, steps: int = 50, repeats: int = 3) -> list[dict]:
    from advex_lit.attribution import deep_shap, integrated_gradients
    from advex_lit.models import madry_cnn
    common.quiet_tf()
    rng = np.random.default_rng(0)
    model = madry_cnn()
    x = rng.uniform(0, 1, size=(2 * n, 28, 28, 1)).astype(np.float32)
    bg = rng.uniform(0, 1, size=(background, 28, 28, 1)).astype(np.float32)
    y = np.zeros(2 * n, np.int32)  # one class: one explainer per call
    t = common.interleaved({"shap_n": lambda: deep_shap(model, x[:n], bg, y[:n]),
                            "shap_2n": lambda: deep_shap(model, x, bg, y),
                            "ig_n": lambda: integrated_gradients(model, x[:n], target=y[:n], steps=steps),
                            "ig_2n": lambda: integrated_gradients(model, x, target=y, steps=steps)},
                           repeats=repeats, warmup=1)
    slope = {k: float(np.median([(r[f"{k}_2n"] - r[f"{k}_n"]) / n for r in t["_rounds"]])) for k in ("shap", "ig")}
    fixed = {k: float(np.median([r[f"{k}_n"] for r in t["_rounds"]])) - n * slope[k] for k in ("shap", "ig")}
    r = max(slope["shap"], 0.0) / max(slope["ig"], 1e-12)
    noisy = "" if min(slope.values()) > 0 else "; a slope <= 0: at this size the timing noise exceeds the per-input cost"
    k = int(model.outputs[0].shape[-1])
    return [common.row("6", f"DeepSHAP (B={background}) / IG (m={steps}) cost per additional input, Madry CNN", r,
                       "report", None, f"slopes over n={n} -> {2 * n} inputs of one class, median of {repeats} rounds: "
                       f"DeepSHAP {slope['shap'] * 1e3:.3g} ms/input, IG {slope['ig'] * 1e3:.3g} ms/input; passes per "
                       f"input: DeepSHAP ~B = {background} (B*K = {background * k} for all classes), IG m+1 = {steps + 1}"
                       + noisy, shap_ms_per_input=slope["shap"] * 1e3, ig_ms_per_input=slope["ig"] * 1e3),
            common.row("6", "DeepSHAP fixed cost per call (explainer construction), seconds", max(fixed["shap"], 0.0),
                       "report", None, f"intercept t(n) - n x slope ({fixed['shap']:.3g} s; a negative one is noise); "
                       f"IG's fixed cost {fixed['ig'] * 1e3:.3g} ms",
                       shap_fixed_seconds=fixed["shap"], ig_fixed_seconds=fixed["ig"])]


if __name__ == "__main__":
    common.print_rows(run())
