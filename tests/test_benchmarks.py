"Smoke tests of benchmarks/: every benchmark script at tiny sizes, and the committed latest.json (complete, not stale)."
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_1_ig_floor, bench_2_ig_loop, bench_3_closed_form, common, run_all  # noqa: E402

TARGET = {m.__name__: m.__name__.split("_")[1] for m in run_all.SMOKE}
# IG agreement with a peer at smoke size (2 images, 5 path points): one ReLU kink crossed by one library's rounding and
# not the other's (see bench_8_peers.IG_AGREEMENT) moves so small a batch by about 2% (0.016 for the Madry CNN in two
# CI runs, 4e-7 on another machine of the same code); a wrong rule or weight moves it by 20% or more (Captum's
# trapezoid weights unscaled: 1/m = 25%). The benchmark itself, on 256 images and 51 points, holds 0.001.
SMOKE_IG_AGREEMENT = 0.05


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
    same = [r for r in rows if r["name"].startswith("max relative difference")]
    assert len(same) == 1 and same[0]["pass"], rows  # the loop and the batched engine give the same attributions
    assert any("Dense shortcut" in r["name"] for r in rows)  # batching and the shortcut are measured apart
    rows = bench_3_closed_form.run(n=8, d=16, steps=20, repeats=1)
    _check_rows(rows, "3")
    assert rows[-1]["pass"], rows[-1]  # numerical IG agrees with Lemma 4.1 within the Riemann error


def test_latest_results_cover_every_target():
    path = ROOT / "benchmarks" / "results" / "latest.json"
    assert path.exists(), "benchmarks/results/latest.json is missing: run `make bench`"
    results = json.loads(path.read_text())
    assert {str(t) for t in range(1, 11)} <= {r["target"] for r in results["rows"]}
    assert all(math.isfinite(r["measured"]) for r in results["rows"])
    assert {"cpu", "cores", "backend", "date", "keras"} <= set(results["machine"])


@pytest.mark.parametrize("module", list(run_all.SMOKE), ids=lambda m: m.__name__)
def test_every_benchmark_runs_at_smoke_size(module):
    assert set(run_all.SMOKE) == set(run_all.FULL) == set(run_all.QUICK)  # every script has a smoke size
    rows = module.run(**run_all.SMOKE[module])
    _check_rows(rows, TARGET[module.__name__])
    if module is run_all.bench_8_peers:  # every peer ran, on the same model and weights, and agrees with ours
        agreement = [r for r in rows if "agreement" in r["name"]]
        assert {r["peer"] for r in agreement} == set(run_all.bench_8_peers.PEERS) and len(agreement) == 6, rows
        ig_peer = lambda r: run_all.bench_8_peers.PEERS[r["peer"]] == "IG"
        agrees = lambda r: r["measured"] <= SMOKE_IG_AGREEMENT if ig_peer(r) else r["pass"]
        assert all(agrees(r) for r in agreement), [f"{r['name']}: {r['measured']:.3g}, goal {r['goal']}; {r['notes']}"
                                                   for r in agreement if not agrees(r)]
    if module is run_all.bench_7_memory:
        assert all(r["pass"] for r in rows), rows  # observed path points per call within batch_size


def test_latest_results_are_not_stale():
    results = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    prov = results.get("provenance") or {}
    regenerate = "regenerate with `make bench` (python benchmarks/run_all.py) and commit benchmarks/results/latest.json"
    assert prov.get("code_hash"), f"latest.json names no code hash (unknown provenance): {regenerate}"
    assert prov.get("commit"), f"latest.json names no commit: {regenerate}"
    current = common.code()
    changed = sorted(m for m in set(current) | set(prov.get("code_modules", {}))
                     if current.get(m) != prov.get("code_modules", {}).get(m))
    assert prov["code_hash"] == common.provenance()["code_hash"], \
        f"latest.json is stale: the benchmarked code changed since it was measured ({', '.join(changed)}); {regenerate}"


def test_code_hash_of_benchmarks_sees_scripts_and_package(monkeypatch):
    from advex_lit import experiments as E
    mods = common.code()
    assert {"advex_lit.attribution", "advex_lit.training", "advex_lit.models", "benchmarks/run_all.py"} <= set(mods)
    assert not set(mods) & set(E.BOOKKEEPING_MODULES)
    real = E.source_hash
    monkeypatch.setattr(E, "source_hash", lambda src: "0" * 16 if "def integrated_gradients" in src else real(src))
    assert common.code()["advex_lit.attribution"] == "0" * 16 and common.provenance()["code_hash"] != E.combine_hashes(mods)


def test_run_all_rejects_unknown_flags():
    with pytest.raises(SystemExit, match="usage"):
        run_all.main(["--fast"])
