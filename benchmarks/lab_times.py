"""Measured times of the labs on the teaching page, for a lecturer's plan (issue 17).

    python benchmarks/lab_times.py            # measure every lab, print the table
    python benchmarks/lab_times.py --write    # also write benchmarks/results/lab_times.json and the teaching page's table
    python benchmarks/lab_times.py --smoke    # tiny sizes: checks that each lab runs, measures nothing, writes nothing

Each lab's reference work (what a student's finished notebook computes, at the sizes the teaching page sets) runs in a
fresh Python process, so the time includes importing TensorFlow and loading the data, as a student's run does. The
table reports wall-clock minutes and CPU minutes (user + system, all threads) of that process. Other processes
sharing the machine make both larger: read them as upper bounds. The GPU lab is not measured here (it needs a GPU
and the full-size data sets).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "lab_times.json"
TEACHING = ROOT / "nbs" / "teaching.md"
BEGIN, END = "<!-- lab-times: begin (benchmarks/lab_times.py --write) -->", "<!-- lab-times: end -->"

# week -> (what the lab does, its reference code; SMOKE is True for the tiny run)
LABS = {
    1: ("load every reachable data set; the FEAT-TRANS check on Spambase", """
from advex_lit.data import load_dataset, DataNotFoundError, feature_translation, signed_labels
from advex_lit.losses import feat_trans_residual
import numpy as np
names = ["digits", "breast_cancer"] if SMOKE else ["spambase", "mushroom", "fashion_mnist", "mnist_5k", "digits", "breast_cancer"]
for name in names:
    try: load_dataset(name, download=False)
    except DataNotFoundError as err: print(name, "not reachable")
s = load_dataset("breast_cancer" if SMOKE else "spambase")
x, y = s.x_train.astype(float), signed_labels(s.y_train)
c, a = feature_translation(x, y)
print("residual before", feat_trans_residual(x, y), "after", feat_trans_residual(x - c, y))
"""),
    2: ("brute-force the l-infinity adversary and compare with the closed form", """
import numpy as np
from advex_lit.linear import adversarial_loss, pgd_adversarial_loss, vertex_adversarial_loss
rng = np.random.default_rng(0)
for d in ((2, 4) if SMOKE else (2, 4, 8, 12, 16)):
    x, y, w = rng.normal(size=(64, d)), rng.choice([-1, 1], 64), rng.normal(size=d)
    exact = adversarial_loss(x, y, w, 0.3)
    assert np.allclose(vertex_adversarial_loss(x, y, w, 0.3), exact, atol=1e-6)
    assert (np.asarray(pgd_adversarial_loss(x, y, w, 0.3, steps=10 if SMOKE else 50)) <= exact + 1e-5).all()
"""),
    3: ("the weight-trajectory simulation; vary epsilon and the feature strengths", """
import numpy as np
from advex_lit.data import feat_indep_dataset
from advex_lit.theory import train_one_layer
strengths = np.array([1.0, -0.8, 0.5, 0.15, -0.1, 0.05, 0.1, -0.15, 0.0])
initial = np.array([0.0, 0.0, 0.0, 0.4, -0.4, 0.4, -0.4, 0.4, 0.4])
x, y = feat_indep_dataset(400 if SMOKE else 4000, strengths, seed=0)
for scale in ((1.0,) if SMOKE else (1.0, 0.5)):  # two sets of feature strengths
    if scale != 1.0: x, y = feat_indep_dataset(4000, strengths * scale, seed=1)
    for e in ((0.0, 0.3) if SMOKE else (0.0, 0.05, 0.1, 0.2, 0.3)):
        train_one_layer(x, y, e, lr=0.05, epochs=1 if SMOKE else 8, initial_weights=initial)
"""),
    4: ("implement IG by hand and check completeness on a CNN", """
import keras, numpy as np
from advex_lit.attribution import completeness_gap, integrated_gradients
from advex_lit.backend import set_seed, to_numpy, input_gradient
from advex_lit.data import load_dataset
set_seed(0)
digits = load_dataset("digits")
cnn = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, padding="same", activation="tanh"),
                        keras.layers.Flatten(), keras.layers.Dense(32, activation="tanh"), keras.layers.Dense(10)])
cnn.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
cnn.fit(digits.x_train, digits.y_train, epochs=1 if SMOKE else 5, batch_size=64, verbose=0)
x = digits.x_test[:8 if SMOKE else 64].astype("float32")
t = to_numpy(cnn(x)).argmax(axis=1)
for m in ((4,) if SMOKE else (4, 16, 64, 256)):  # IG by hand: average gradient along the path, times x - 0
    alphas = (np.arange(m) + 0.5) / m
    path = (alphas[:, None, None, None, None] * x[None]).reshape(-1, *x.shape[1:])
    f = lambda p: keras.ops.take_along_axis(cnn(p), keras.ops.convert_to_tensor(np.tile(t, m)[:, None]), axis=1)[:, 0]
    grads = to_numpy(input_gradient(f, path)).reshape(m, *x.shape).mean(axis=0)
    by_hand = grads * x
    ig = integrated_gradients(cnn, x, target=t, steps=m, method="riemann_midpoint")
    print(m, np.abs(by_hand - ig).max(), np.abs(completeness_gap(cnn, x, ig, target=t)).max())
"""),
}
GPU_LAB = (5, "GPU lab: the full profile of one experiment")


def run_lab(code: str, smoke: bool) -> dict:
    "Run one lab in a fresh interpreter: wall and CPU seconds of that process."
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"SMOKE = {smoke}\n" + code], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def machine() -> str:
    cpu = platform.processor()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(record: dict) -> str:
    lines = [f"Measured by `make lab-times` on {record['date']} ({record['machine']}){record.get('note', '')}.", "",
             "| week | lab | wall-clock minutes | CPU minutes | GPU |", "|---|---|---|---|---|"]
    for row in record["labs"]:
        lines.append(f"| {row['week']} | {row['lab']} | {row['wall_s'] / 60:.2f} ({row['wall_s']:.0f} s) | "
                     f"{row['cpu_s'] / 60:.2f} ({row['cpu_s']:.0f} s) | not needed |")
    lines.append(f"| {GPU_LAB[0]} | {GPU_LAB[1]} | not measured on CPU | not measured | not yet measured (needs the "
                 "full-profile GPU run) |")
    return "\n".join(lines)


def write_teaching(text: str) -> None:
    page = TEACHING.read_text()
    if BEGIN not in page or END not in page: raise SystemExit(f"{TEACHING} lacks the lab-times markers")
    head, rest = page.split(BEGIN, 1)
    TEACHING.write_text(head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the JSON record and the teaching page's table")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; writes nothing")
    parser.add_argument("--shared", action="store_true", help="say in the table that other work shared the machine")
    args = parser.parse_args(argv)
    rows = []
    for week, (lab, code) in LABS.items():
        rows.append({"week": week, "lab": lab, **run_lab(code, args.smoke)})
        print(f"week {week}: {rows[-1]['wall_s']:.1f} s wall, {rows[-1]['cpu_s']:.1f} s CPU", flush=True)
    if args.smoke: return 0
    record = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "labs": rows,
              "note": ", while another long computation shared the machine: upper bounds" if args.shared else ""}
    print(table(record))
    if args.write:
        RESULTS.write_text(json.dumps(record, indent=1) + "\n")
        write_teaching(table(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
