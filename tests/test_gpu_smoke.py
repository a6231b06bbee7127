"""benchmarks/gpu_smoke.sh and gpu_smoke.py at tiny sizes on this CPU: the script runs, measures every part of the
slice, and projects the full profile with each shared model trained once."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_smoke_runs_tiny_on_cpu_and_projects_every_image_experiment(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "benchmarks/gpu_smoke.sh", str(tmp_path / "no-wheels"), "300", "--tiny",
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_smoke_tiny.json").read_text())
    slice_ = result["madry_fashion_mnist"]
    assert all(slice_[k] > 0 for k in ("natural_steps_per_s", "adversarial_steps_per_s", "ig_images_per_s", "ifia_images_per_s"))
    assert slice_["natural_steps_per_s"] > slice_["adversarial_steps_per_s"]  # PGD-20 costs more than a natural step
    assert {a["arch"] for a in result["architectures"]} == {"madry_cnn", "neurips_resnet", "wide_resnet"}
    rows = {r["experiment"]: r for r in result["projection"]}
    assert set(rows) == {"table1_images", "fig1", "fig2", "fig3", "table2", "table3", "table4", "robust_maps", "reg_search"}
    assert all(r["runs not projected"] == 0 and r["training GPU hours"] >= 0 for r in rows.values())
    for shared in ("fig1", "fig2", "table4", "robust_maps"):  # their models are Table 1's or Table 2's
        assert rows[shared]["training GPU hours"] == 0 and rows[shared]["evaluation GPU hours"] > 0
    assert 0 < rows["reg_search"]["training GPU hours"]  # 16 of its 24 models are not Table 2's
    assert rows["table2"]["training GPU hours"] > 0 and "| table2 |" in (tmp_path / "gpu_smoke_tiny.md").read_text()
