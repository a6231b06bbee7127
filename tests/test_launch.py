"""The first cell of the chapters (issue 17): it prepares Colab and Binder, and does nothing locally."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from advex_lit import launch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("environ,modules,expected", [
    ({}, {}, None),
    ({"COLAB_RELEASE_TAG": "release-colab-20261201"}, {}, "colab"),
    ({}, {"google.colab": object()}, "colab"),
    ({"BINDER_REPO_URL": "https://github.com/advex-lit/advex-lit"}, {}, "binder"),
    ({"BINDER_LAUNCH_HOST": "https://mybinder.org/"}, {}, "binder"),
    ({"COLAB_RELEASE_TAG": "x", "ADVEX_LAUNCH": "off"}, {}, None),
    ({"ADVEX_LAUNCH": "colab"}, {}, "colab"),
    ({"JUPYTERHUB_USER": "someone", "CI": "true"}, {}, None),  # a plain JupyterHub or CI is local
])
def test_hosted_environment(environ, modules, expected):
    assert launch.hosted_environment(environ, modules) == expected


def test_bad_override_is_refused():
    with pytest.raises(ValueError, match="ADVEX_LAUNCH"):
        launch.hosted_environment({"ADVEX_LAUNCH": "kaggle"}, {})


def test_this_test_run_is_local():
    assert launch.hosted_environment() is None


def test_install_plan_per_host(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # install_package adds the checkout to sys.path
    ran = []
    colab = launch.install_package("colab", have_package=False, checkout=str(tmp_path / "clone"), run=ran.append)
    assert colab[0][:2] == ["git", "clone"] and colab[1][-2:] == ["-e", str(tmp_path / "clone")] and ran == colab
    (tmp_path / "clone").mkdir()  # a second run after a restart: no second clone
    assert launch.install_package("colab", have_package=False, checkout=str(tmp_path / "clone"), run=ran.append)[0][:3] \
        == [sys.executable, "-m", "pip"]
    binder = launch.install_package("binder", have_package=False, cwd=ROOT / "nbs", run=ran.append)
    assert binder == [[sys.executable, "-m", "pip", "install", "-q", "-e", str(ROOT)]]
    assert launch.install_package("binder", have_package=True, run=ran.append) == []


def test_prepare_asks_for_a_restart_and_fetches_only_downloadable_data():
    class Module:
        __version__ = "1.26.4"
    with pytest.raises(RuntimeError, match="restart"):
        launch.prepare(["spambase"], modules={"numpy": Module()}, version=lambda name: "2.4.6", load=None)
    loaded = []
    assert launch.prepare(["digits", "mushroom", "gtsrb", "mushroom"], modules={}, load=loaded.append) == ["mushroom"]
    assert loaded == ["mushroom"]


def test_the_cell_does_nothing_locally(monkeypatch):
    "Executed as the book build and `make test` execute it: no command, no import of the package's data code."
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(launch, "prepare", lambda *a, **k: calls.append(("prepare", a)))
    for name in ("COLAB_RELEASE_TAG", "COLAB_GPU", "BINDER_REPO_URL", "BINDER_LAUNCH_HOST", "ADVEX_LAUNCH"):
        monkeypatch.delenv(name, raising=False)
    exec(launch.launch_cell_source(["spambase"]), {})
    assert calls == []


def test_the_cell_prepares_a_hosted_session(monkeypatch):
    "On a host with the package installed, the cell skips the install and fetches the chapter's data."
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: calls.append(("run", a)))
    monkeypatch.setattr(launch, "prepare", lambda names: calls.append(("prepare", names)))
    monkeypatch.setenv("BINDER_REPO_URL", "https://github.com/advex-lit/advex-lit")
    exec(launch.launch_cell_source(["spambase", "mushroom"]), {})
    assert calls == [("prepare", ["spambase", "mushroom"])]


def test_insert_is_idempotent_and_keeps_the_chapter(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Title"]},
                    {"cell_type": "code", "id": "b", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": ["x = load_dataset(\"mushroom\")"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps(nb))
    assert launch.insert_launch_cell(path) and not launch.insert_launch_cell(path)
    out = json.loads(path.read_text())
    assert out["cells"][1:] == nb["cells"] and launch.is_launch_cell(out["cells"][0])
    assert "".join(out["cells"][0]["source"]).startswith("#| hide\n")  # the book removes it (nbdev_tags: remove-cell)
    assert "prepare(['mushroom'])" in "".join(out["cells"][0]["source"])
    out["cells"][0]["source"] = ["#| hide\n", launch.LAUNCH_MARK + ": an old version\n"]  # an outdated cell is replaced
    path.write_text(json.dumps(out))
    assert launch.insert_launch_cell(path)
    assert sum(launch.is_launch_cell(c) for c in json.loads(path.read_text())["cells"]) == 1


def test_launch_cell_is_not_exported_and_is_hidden_by_the_book():
    sys.path.insert(0, str(ROOT / "_ext"))
    from nbdev_tags import translate_notebook
    nb = launch.with_launch_cell({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    cell = json.loads(translate_notebook(json.dumps(nb)))["cells"][0]
    assert cell["metadata"]["tags"] == ["remove-cell"]
    assert "#| export" not in "".join(nb["cells"][0]["source"])


def launch_notebooks():
    "The notebooks `make launch-cells` writes to (LAUNCH_NOTEBOOKS in the Makefile)."
    out = subprocess.run(["make", "-s", "--no-print-directory", "-pn", "launch-cells"], cwd=ROOT, capture_output=True,
                         text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("LAUNCH_NOTEBOOKS"))
    return [ROOT / p for p in line.split("=", 1)[1].split()]


def test_listed_chapters_carry_the_current_launch_cell():
    paths = launch_notebooks()
    assert paths and all(p.exists() for p in paths)
    assert set(paths) == set((ROOT / "nbs").glob("*.ipynb"))  # every chapter opens with it
    stale = [p.name for p in paths if not launch.launch_cell_is_current(json.loads(p.read_text()))]
    assert stale == [], f"run `make launch-cells`: {stale}"
