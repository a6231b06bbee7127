"""The built wheel, installed into a fresh venv that cannot see the repository's editable install, runs.

The heavy dependencies are not installed again: the fresh venv reaches the project venv's site-packages through a
path line in a .pth file. Python adds such a directory to sys.path but does not process the .pth files inside it, so
the editable install's import hook (itself a .pth file there) stays inactive, and the fresh venv's own site-packages
(holding the wheel) comes first on the path."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("advex_lit", "setup.py", "settings.ini", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in")


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    "A venv with only the built wheel of advex_lit installed, borrowing the project venv's other packages."
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:  # build from a copy, so that no build/ or egg-info lands in the working tree
        path = ROOT / name
        if path.is_dir(): shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists(): shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", tmp / "dist", src], cwd=tmp)
    wheels = sorted((tmp / "dist").glob("advex_lit-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheels[0]], cwd=tmp)
    fresh_site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).strip())
    project_site = Path(sysconfig.get_paths()["purelib"])
    (fresh_site / "zz_project_dependencies.pth").write_text(f"{project_site}\n")
    return {"python": python, "bin": venv / "bin", "site": fresh_site, "cwd": tmp, "wheel": wheels[0]}


def test_wheel_holds_the_package_and_console_script(fresh_venv):
    import zipfile
    names = zipfile.ZipFile(fresh_venv["wheel"]).namelist()
    assert {"advex_lit/metrics.py", "advex_lit/cli.py", "advex_lit/experiments.py"} <= set(names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "advex-lit = advex_lit.cli:main" in zipfile.ZipFile(fresh_venv["wheel"]).read(entry).decode()


def test_import_and_call_from_the_wheel(fresh_venv):
    code = ("import advex_lit, numpy as np; from advex_lit.metrics import gini; "
            "print(advex_lit.__file__); print(gini(np.array([1.0, 2.0, 3.0, 4.0]))); print(gini(np.eye(4)[3]))")
    out = _run([fresh_venv["python"], "-c", code], cwd=fresh_venv["cwd"]).split()
    assert Path(out[0]).resolve().is_relative_to(fresh_venv["site"].resolve())  # the wheel, not the editable install
    assert not Path(out[0]).resolve().is_relative_to(ROOT)
    # closed forms: G = sum_i (2i - n - 1) a_(i) / (n sum a) = 10/40 for (1, 2, 3, 4) and (n - 1)/n for a one-hot vector
    assert float(out[1]) == pytest.approx(0.25, abs=1e-12) and float(out[2]) == pytest.approx(0.75, abs=1e-12)


def test_console_script_help(fresh_venv):
    script = fresh_venv["bin"] / "advex-lit"
    assert script.exists()
    text = _run([script, "--help"], cwd=fresh_venv["cwd"])
    assert "usage: advex-lit" in text and all(c in text for c in ("list", "reproduce", "report"))
    where = _run([fresh_venv["python"], "-c", "import advex_lit.cli as c; print(c.__file__)"], cwd=fresh_venv["cwd"])
    assert Path(where.strip()).resolve().is_relative_to(fresh_venv["site"].resolve())
