"""Run every benchmark (targets 1-10), print one table and write benchmarks/results/latest.json atomically.

Usage: python benchmarks/run_all.py [--quick | --smoke | --only N[,N...]]   (`make bench`; --quick uses small sizes,
for a fast look; --smoke uses tiny sizes, only to check that every script runs; --only re-measures the given targets
at full size and replaces just their rows in latest.json, valid only while the other targets' scripts are unchanged:
their rows keep their measurement and the file says which targets were re-measured when). Neither --quick nor --smoke writes latest.json, which
records the commit and the code hash of what it measured (tests/test_benchmarks.py fails when they are stale).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import bench_1_ig_floor, bench_2_ig_loop, bench_3_closed_form, bench_4_training, bench_5_ig_norm  # noqa: E402
import bench_6_deepshap, bench_7_memory, bench_8_peers, bench_9_machine, bench_10_scaling  # noqa: E402

# Sizes of `make bench` (chosen to finish in about 10 minutes on a loaded 2-core CPU; see the notes in each script)
FULL = {
    bench_1_ig_floor: dict(n_cnn=256, n_linear=256, steps=50, repeats=3),
    bench_2_ig_loop: dict(n_cnn=16, n_linear=256, steps=50, repeats=3),
    bench_3_closed_form: dict(n=256, d=784, steps=50),
    bench_4_training: dict(n_cnn=400, k=7, n_linear=20000, repeats=3),
    bench_5_ig_norm: dict(n=16, m=5, steps=3, repeats=3, n_train=100, ifia_batch=8),
    bench_6_deepshap: dict(n=16, background=20, steps=50, repeats=3),
    bench_7_memory: dict(n=256, steps=50),
    bench_8_peers: dict(n=256, steps=50, pgd_steps=40, repeats=5),
    bench_9_machine: dict(n=64, steps=50, pgd_steps=40, n_train=400, matrix=2048, repeats=3, rounds=2),
    bench_10_scaling: dict(repeats=3),
}
QUICK = {
    bench_1_ig_floor: dict(n_cnn=8, n_linear=64, steps=10, repeats=1),
    bench_2_ig_loop: dict(n_cnn=4, n_linear=32, steps=10, repeats=1),
    bench_3_closed_form: dict(n=32, d=64, steps=50, repeats=3),
    bench_4_training: dict(n_cnn=50, k=2, n_linear=200, repeats=1),
    bench_5_ig_norm: dict(n=4, m=2, steps=1, repeats=1, n_train=50, ifia_batch=2),
    bench_6_deepshap: dict(n=2, background=4, steps=10, repeats=1),
    bench_7_memory: dict(n=8, steps=10, sizes=(512,)),
    bench_8_peers: dict(n=16, steps=10, pgd_steps=5, repeats=2),
    bench_9_machine: dict(n=8, steps=10, pgd_steps=5, n_train=100, matrix=512, repeats=1, rounds=1),
    bench_10_scaling: dict(ns=(4, 16), ms=(5, 10), n=4, m=10, repeats=1),
}
# Tiny sizes that only check every script runs end to end (tests/test_benchmarks.py), a few seconds each
SMOKE = {
    bench_1_ig_floor: dict(n_cnn=2, n_linear=8, steps=4, repeats=1),
    bench_2_ig_loop: dict(n_cnn=2, n_linear=6, steps=4, repeats=1),
    bench_3_closed_form: dict(n=8, d=16, steps=20, repeats=1),
    bench_4_training: dict(n_cnn=50, k=1, n_linear=100, repeats=1),
    bench_5_ig_norm: dict(n=2, m=2, steps=1, repeats=1, n_train=50, ifia_batch=2),
    bench_6_deepshap: dict(n=1, background=2, steps=4, repeats=1),
    bench_7_memory: dict(n=2, steps=4, sizes=(64,)),
    bench_8_peers: dict(n=2, steps=4, pgd_steps=2, repeats=1),
    bench_9_machine: dict(n=2, steps=2, pgd_steps=1, n_train=50, matrix=64, repeats=1, rounds=1),
    bench_10_scaling: dict(ns=(1, 2), ms=(2, 3), models=("small_cnn(8)",), n=1, m=2, repeats=1),
}


def write_atomic(path: Path, payload: dict) -> None:
    "Write JSON to `path` via a temporary file and os.replace (a reader never sees half a file)."
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    os.replace(tmp, path)


def target_of(module) -> str:
    return module.__name__.split("_")[1]


def only_targets(argv: list) -> set | None:
    "The targets after --only, checked; None without --only."
    if "--only" not in argv: return None
    i = argv.index("--only")
    if i + 1 >= len(argv): raise SystemExit("usage: run_all.py --only N[,N...]")
    wanted, known = set(argv[i + 1].split(",")), {target_of(m) for m in FULL}
    if not wanted <= known: raise SystemExit(f"--only: unknown targets {sorted(wanted - known)}; known {sorted(known)}")
    return wanted


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    only = only_targets(argv)
    rest = [a for a in argv if a not in ("--only", argv[argv.index("--only") + 1] if only else None)]
    unknown = [a for a in rest if a not in ("--quick", "--smoke")]
    if unknown or len(rest) > 1 or (only and rest):
        raise SystemExit(f"usage: run_all.py [--quick | --smoke | --only N[,N...]], got {' '.join(argv)}")
    sizes = QUICK if "--quick" in argv else SMOKE if "--smoke" in argv else FULL
    if only: sizes = {m: kw for m, kw in FULL.items() if target_of(m) in only}
    provenance = common.provenance()  # the code as it is when the measurements start
    common.quiet_tf()
    began = time.perf_counter()
    rows = []
    for module, kwargs in sizes.items():
        start = time.perf_counter()
        new = module.run(**kwargs)
        common.print_rows(new)
        print(f"  ({module.__name__}: {time.perf_counter() - start:.0f} s)\n", flush=True)
        rows += new
    seconds = time.perf_counter() - began
    print("=" * 100)
    common.print_rows(rows)
    info = common.machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['accelerator']}, backend {info['backend']}; "
          f"{info['date']}; total {seconds:.0f} s")
    if only:
        path = common.RESULTS / "latest.json"
        old = json.loads(path.read_text())
        kept = [r for r in old["rows"] if r["target"] not in only]
        remeasured = {**old.get("remeasured", {}), **{t: {"date": info["date"], "machine": info["cpu"]} for t in only}}
        write_atomic(path, {**old, "rows": sorted(kept + rows, key=lambda r: int(r["target"])), "provenance": provenance,
                            "remeasured": remeasured})
        print(f"replaced the rows of targets {', '.join(sorted(only))} in {path}")
    elif sizes is FULL:
        write_atomic(common.RESULTS / "latest.json", {"machine": info, "seconds": seconds, "rows": rows,
                                                      "sizes": {m.__name__: kw for m, kw in sizes.items()},
                                                      "provenance": provenance})
        print(f"wrote {common.RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
