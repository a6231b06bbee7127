"""Target 8: our IG and PGD against the libraries a user would pick instead, on the same model, weights and inputs.

Peers: xplique (IG, Keras 3 on TensorFlow), Captum (IG, PyTorch on the CPU) and the Adversarial Robustness Toolbox
(PGD, Keras 3 on TensorFlow). Each peer runs in its own venv (`make bench-peers`, requirements in benchmarks/peers/)
as a worker process (benchmarks/peers/peer_worker.py) that times its own calls; this process times ours. The two
sides alternate, round after round (the order rotates), and the row reports the median over rounds of
time(ours) / time(peer), with the spread of both. Same Riemann rule for IG (the trapezoid rule on m + 1 points, which
both peers offer), the same PGD (L_inf, no random start, same step size and steps, clipped to [0, 1]).
Goal: ours / peer <= 1.0. A second row per comparison checks that the outputs agree. Captum's "riemann_trapezoid"
on n points weights the inner points 1/n (its ends 1/(2n)), so its weights sum to (n - 1)/n instead of 1: the
agreement check multiplies Captum's attributions by n/(n - 1), which turns them into the trapezoid rule (same points,
so the timing is unaffected).
"""
from __future__ import annotations

try: from benchmarks import common
except ImportError: import common

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL = 1.0
IG_AGREEMENT = 1e-3  # ||ours - peer|| / ||peer|| over the batch: float32 rounding, and the ReLU or max-pool kinks that
# a path point one rounding step away can cross (each library rounds alpha_k = k/m its own way), which moves a few
# examples' maps by up to about 1% of their largest value while the rest agree to float precision
PGD_AGREEMENT = 0.99  # share of coordinates equal to 1e-6: the same steps give the same points up to gradient ties
PEER_VENVS = common.ROOT / ".venv-peers"
WORKER = Path(__file__).resolve().parent / "peers" / "peer_worker.py"
PEERS = {"xplique": "IG", "captum": "IG", "art": "PGD"}


def peer_python(library: str) -> Path:
    "The Python of a peer's venv; a clear error naming the make target when it is missing."
    python = PEER_VENVS / library / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"no venv for the peer {library!r} at {python.parent.parent}: run `make bench-peers`")
    return python


class PeerWorker:
    "A peer library in its own process, speaking peer_worker.py's JSON-lines protocol."

    def __init__(self, library: str):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
        self.process = subprocess.Popen([str(peer_python(library)), str(WORKER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                                        cwd=str(common.ROOT))

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith("PEER "):
                reply = json.loads(line[5:])
                if not reply.get("ok"): raise RuntimeError(f"peer worker: {reply.get('error')}")
                return reply
        raise RuntimeError(f"peer worker exited (code {self.process.wait()}) before answering {request['op']!r}")

    def close(self) -> None:
        try: self.ask(op="quit")
        except (RuntimeError, BrokenPipeError, OSError): pass
        self.process.wait(timeout=60)


def keras_layers(model) -> tuple[list, dict]:
    "The architecture of a Conv2D/MaxPooling2D/Flatten/Dense model as a list of layer specs, and their weights."
    arch, weights = [], {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer": continue
        i = len(arch)
        if kind in ("Conv2D", "Dense"):
            act = layer.activation.__name__
            if act not in ("relu", "linear"): raise ValueError(f"layer {layer.name}: activation {act} not supported")
            arch.append({"kind": "conv" if kind == "Conv2D" else "dense", "relu": act == "relu"})
            weights[f"{i}_kernel"], weights[f"{i}_bias"] = (np.asarray(w, np.float32) for w in layer.get_weights())
        elif kind == "MaxPooling2D": arch.append({"kind": "pool", "size": list(layer.pool_size)})
        elif kind == "Flatten": arch.append({"kind": "flatten"})
        else: raise ValueError(f"layer {layer.name} ({kind}) has no PyTorch twin in peer_worker.py")
    return arch, weights


def model_spec(model, library: str, folder: Path) -> dict:
    "What the peer loads: the saved Keras model (TensorFlow peers) or layer specs and weights (Captum)."
    if library == "captum":
        arch, weights = keras_layers(model)
        np.savez(folder / "layers.npz", **weights)
        return {"layers": str(folder / "layers.npz"), "arch": arch}
    model.save(folder / "model.keras")
    return {"keras": str(folder / "model.keras")}


def side_by_side(ours, worker: PeerWorker, repeats: int) -> dict:
    "Warm both up, then `repeats` rounds alternating ours and the peer (order rotates); per-round wall and CPU times."
    ours()
    worker.ask(op="time")
    rounds = []
    for r in range(repeats):
        times = {}
        for side in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
            if side == "ours":
                began, began_cpu = time.perf_counter(), time.process_time()
                ours()
                times["ours"], times["ours_cpu"] = time.perf_counter() - began, time.process_time() - began_cpu
            else:
                reply = worker.ask(op="time")
                times["peer"], times["peer_cpu"] = reply["seconds"], reply["cpu"]
        rounds.append(times)
    return {"_rounds": rounds, "_cpu_rounds": [{"ours": t["ours_cpu"], "peer": t["peer_cpu"]} for t in rounds]}


def spread(rounds: list, side: str) -> str:
    v = [t[side] for t in rounds]
    return f"{np.median(v):.3g} s [{min(v):.3g}, {max(v):.3g}]"


def tasks(model_name: str, n: int, steps: int, pgd_steps: int):
    "The comparisons of one model: (library, task label, settings for the worker, our call)."
    from advex_lit.attacks import pgd
    from advex_lit.attribution import integrated_gradients
    eps, step_size = 0.3, 0.01
    return [("xplique", f"IG m={steps}", dict(steps=steps, batch_size=4096),
             lambda m, x, y: integrated_gradients(m, x, target=y, steps=steps)),
            ("captum", f"IG m={steps}", dict(steps=steps, batch_size=4096),
             lambda m, x, y: integrated_gradients(m, x, target=y, steps=steps)),
            ("art", f"PGD-{pgd_steps} eps {eps}", dict(eps=eps, steps=pgd_steps, step_size=step_size, batch_size=n),
             lambda m, x, y: pgd(m, x, y, eps, steps=pgd_steps, step_size=step_size, random_start=False))]


def agreement_row(library: str, label: str, model_name: str, model, x, y, ours, theirs, eps: float | None) -> dict:
    "IG: ||ours - peer|| / ||peer||. PGD: both inside the ball and the box, share of equal coordinates, losses."
    if eps is None:
        rel = float(np.linalg.norm(ours - theirs) / max(np.linalg.norm(theirs), 1e-30))
        per_example = np.abs(ours - theirs).reshape(len(ours), -1).max(1) / np.abs(theirs).reshape(len(ours), -1).max(1)
        return common.row("8", f"{label} agreement with {library}, {model_name}: ||ours - peer|| / ||peer||", rel,
                          f"<= {IG_AGREEMENT:g}", rel <= IG_AGREEMENT,
                          f"{rel:.2g}; max |ours - peer| {np.abs(ours - theirs).max():.2g} (max |peer| "
                          f"{np.abs(theirs).max():.3g}); examples whose map differs by more than 1e-4 of its largest "
                          f"value: {int((per_example > 1e-4).sum())} of {len(ours)}",
                          model=model_name, peer=library)
    from advex_lit.attacks import cross_entropy
    from advex_lit.backend import to_numpy
    inside = [float(np.abs(a - x).max()) <= eps + 1e-6 and a.min() >= 0 and a.max() <= 1 for a in (ours, theirs)]
    same = float(np.mean(np.abs(ours - theirs) <= 1e-6))
    loss = [float(np.mean(to_numpy(cross_entropy(y, model(a, training=False))))) for a in (ours, theirs)]
    return common.row("8", f"{label} agreement with {library}, {model_name}: share of equal coordinates", same,
                      f">= {PGD_AGREEMENT:g}", same >= PGD_AGREEMENT and all(inside), f"mean cross-entropy ours {loss[0]:.3f}, peer {loss[1]:.3f}; "
                      f"inside the eps-ball and [0, 1]: ours {inside[0]}, peer {inside[1]}",
                      model=model_name, peer=library, loss_ours=loss[0], loss_peer=loss[1])


def measure_model(model_name: str, model, n: int, steps: int, pgd_steps: int, repeats: int, libraries) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, int(model.outputs[0].shape[-1]), size=n).astype(np.int32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savez(folder / "inputs.npz", x=x, y=y)
        for library, label, settings, call in tasks(model_name, n, steps, pgd_steps):
            if library not in libraries: continue
            worker = PeerWorker(library)
            try:
                versions = worker.ask(op="setup", library=library, model=model_spec(model, library, folder),
                                      data=str(folder / "inputs.npz"), **settings)["versions"]
                ours = lambda: call(model, x, y)
                t = side_by_side(ours, worker, repeats)
                worker.ask(op="save", path=str(folder / "peer.npy"))
                theirs = np.load(folder / "peer.npy")
                if library == "captum": theirs = theirs * (steps + 1) / steps  # its weights sum to m / (m + 1)
            finally:
                worker.close()
            r = common.ratio(t, "ours", "peer")
            peer_name = f"{library} {versions.get(library)}"
            rows.append(common.row("8", f"{label}, {model_name}, N={n}: ours / {peer_name}", r, f"<= {GOAL:g}", r <= GOAL,
                                   f"ours {spread(t['_rounds'], 'ours')}, peer {spread(t['_rounds'], 'peer')} (median "
                                   f"[min, max] of {repeats} rounds); CPU-time ratio "
                                   f"{common.ratio(t, 'ours', 'peer', cpu=True):.2f}; peer stack {versions}",
                                   model=model_name, peer=library, n=n, peer_versions=versions,
                                   ours_seconds=float(np.median([v['ours'] for v in t['_rounds']])),
                                   peer_seconds=float(np.median([v['peer'] for v in t['_rounds']]))))
            rows.append(agreement_row(library, label, model_name, model, x, y, call(model, x, y), theirs,
                                      settings.get("eps") if library == "art" else None))
    return rows


def run(n: int = 256, steps: int = 50, pgd_steps: int = 40, repeats: int = 5, width: int = 16,
        libraries=tuple(PEERS)) -> list[dict]:
    """Rows of target 8 for the Madry CNN and small_cnn(width), against every peer in `libraries`."""
    import keras
    from advex_lit.models import madry_cnn, small_cnn
    common.quiet_tf()
    rows = []
    for name, build in (("madry_cnn", madry_cnn), (f"small_cnn({width})", lambda: small_cnn(width=width))):
        keras.utils.set_random_seed(0)
        rows += measure_model(name, build(), n, steps, pgd_steps, repeats, libraries)
    return rows


if __name__ == "__main__":
    common.print_rows(run())
