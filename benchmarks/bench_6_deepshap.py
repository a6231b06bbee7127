"""Target 6: DeepSHAP against IG, cost per explained input (reported, no goal).

IG with m steps costs m + 1 forward-backward passes per input. shap's DeepExplainer evaluates each input against every
one of the B background examples (a batch of B pairs) and runs one backward pass per output of the model it is given.
`deep_shap` gives it only the target class's logit (inputs grouped by class), so about B passes per input (B x K if
all K classes were explained, as the explainer does by default).
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import numpy as np


def run(n: int = 8, background: int = 20, steps: int = 50, repeats: int = 2) -> list[dict]:
    from advex_lit.attribution import deep_shap, integrated_gradients
    from advex_lit.models import madry_cnn
    common.quiet_tf()
    rng = np.random.default_rng(0)
    model = madry_cnn()
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    bg = rng.uniform(0, 1, size=(background, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int32)
    t = common.interleaved({"shap": lambda: deep_shap(model, x, bg, y),
                            "ig": lambda: integrated_gradients(model, x, target=y, steps=steps)},
                           repeats=repeats, warmup=1)
    r = common.ratio(t, "shap", "ig")
    k = int(model.outputs[0].shape[-1])
    return [common.row("6", f"DeepSHAP (B={background}) / IG (m={steps}) time per input, Madry CNN", r, "report", None,
                       f"DeepSHAP {t['shap']['median'] / n * 1e3:.3g} ms/input, IG {t['ig']['median'] / n * 1e3:.3g} "
                       f"ms/input; passes per input: DeepSHAP ~B = {background} (B*K = {background * k} for all classes), "
                       f"IG m+1 = {steps + 1}",
                       shap_ms_per_input=t["shap"]["median"] / n * 1e3, ig_ms_per_input=t["ig"]["median"] / n * 1e3)]


if __name__ == "__main__":
    common.print_rows(run())
