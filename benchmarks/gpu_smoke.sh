#!/usr/bin/env bash
# GPU smoke of the full profile, for a GPU machine that may have no internet: installs what it needs from the wheels
# shipped with it, then measures throughput at the papers' settings and projects every full run's GPU hours
# (benchmarks/results/gpu_smoke.{json,md}). Usage, from the repository root:
#   bash benchmarks/gpu_smoke.sh [WHEELS_DIR] [BUDGET_SECONDS]     (defaults: benchmarks/wheels, 480)
# WHEELS_DIR holds keras-3.15.1-py3-none-any.whl and its small dependencies (namex, optree) for machines with JAX but
# no Keras; `pip download --no-deps --only-binary=:all: keras==3.15.1 namex optree -d benchmarks/wheels` makes it.
# The backend is JAX unless KERAS_BACKEND says otherwise; the whole script stays under ten minutes.
set -euo pipefail
WHEELS="${1:-benchmarks/wheels}"
BUDGET="${2:-480}"
PY="${PYTHON:-python3}"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
if ! "$PY" -c "import keras" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" keras namex optree
fi
# the package itself, without its pinned dependencies (the GPU stack is the machine's own)
"$PY" -c "import advex_lit" 2>/dev/null || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout "$((BUDGET + 120))" "$PY" benchmarks/gpu_smoke.py --budget-s "$BUDGET" "${@:3}"
