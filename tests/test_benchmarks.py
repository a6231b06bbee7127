"Smoke tests of benchmarks/: the cheapest benchmark functions at tiny sizes, and the committed latest.json."
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_1_ig_floor, bench_2_ig_loop, bench_3_closed_form, common  # noqa: E402


def _check_rows(rows, target):
    assert rows and all(r["target"] == target for r in rows)
    for r in rows:
        assert math.isfinite(r["measured"]) and r["measured"] >= 0, r
        assert set(r) >= {"target", "name", "measured", "goal", "pass", "notes"}
        assert (r["goal"] == "report") == (r["pass"] is None)


def test_interleaved_and_ratio():
    calls = []
    t = common.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=1)
    assert len(t["_rounds"]) == 4 and calls.count("a") == calls.count("b") == 5
    assert calls[2:4] == ["a", "b"] and calls[4:6] == ["b", "a"]  # the order rotates each round
    assert math.isfinite(common.ratio(t, "a", "b"))
    mem = common.peak_memory(lambda: bytearray(8 * 2 ** 20))
    assert mem["numpy_peak"] >= 8 * 2 ** 20 and mem["rss_peak"] >= 0


def test_ig_benchmarks_tiny():
    _check_rows(bench_1_ig_floor.run(n_linear=8, steps=4, repeats=1, cnn=False), "1")
    rows = bench_2_ig_loop.run(n_linear=6, steps=4, repeats=1, cnn=False)
    _check_rows(rows, "2")
    assert rows[1]["pass"], rows[1]  # the loop and the batched engine give the same attributions
    rows = bench_3_closed_form.run(n=8, d=16, steps=20, repeats=1)
    _check_rows(rows, "3")
    assert rows[-1]["pass"], rows[-1]  # numerical IG agrees with Lemma 4.1 within the Riemann error


def test_latest_results_cover_every_target():
    path = ROOT / "benchmarks" / "results" / "latest.json"
    assert path.exists(), "benchmarks/results/latest.json is missing: run `make bench`"
    results = json.loads(path.read_text())
    assert {str(t) for t in range(1, 8)} <= {r["target"] for r in results["rows"]}
    assert all(math.isfinite(r["measured"]) for r in results["rows"])
    assert {"cpu", "cores", "backend", "date", "keras"} <= set(results["machine"])
