"""The literate discipline: the package is exported from the notebooks, the notebooks are clean, the book lists them,
and pip and conda users get the same pinned stack."""
import configparser
import os
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def settings():
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    return cfg["DEFAULT"]


def copy_project(tmp_path):
    "A scratch copy of what nbdev reads and writes."
    for name in ("settings.ini", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs")
    shutil.copytree(ROOT / "advex_lit", tmp_path / "advex_lit", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_exported_package_is_in_sync_with_notebooks(tmp_path):
    work = copy_project(tmp_path)
    subprocess.run([str(BIN / "nbdev_export")], cwd=work, check=True, capture_output=True)
    ours = sorted(p.name for p in (ROOT / "advex_lit").glob("*.py"))
    theirs = sorted(p.name for p in (work / "advex_lit").glob("*.py"))
    assert ours == theirs, "nbdev_export would add or remove modules: run nbdev_export and commit"
    _, mismatch, errors = filecmp.cmpfiles(ROOT / "advex_lit", work / "advex_lit", ours, shallow=False)
    assert not mismatch and not errors, f"advex_lit out of sync with nbs/ in {mismatch}: run nbdev_export"


def test_notebooks_are_clean(tmp_path):
    work = copy_project(tmp_path)
    subprocess.run([str(BIN / "nbdev_clean")], cwd=work, check=True, capture_output=True)
    names = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb"))
    _, dirty, _ = filecmp.cmpfiles(ROOT / "nbs", work / "nbs", names, shallow=False)
    assert not dirty, f"nbdev_clean would change {dirty}: run nbdev_clean and commit"


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files += [s["file"] for s in chapter.get("sections", [])]
    return files


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    listed = set(toc_files())
    notebooks = {f"nbs/{p.stem}" for p in (ROOT / "nbs").glob("*.ipynb")}
    assert notebooks - listed == set(), f"notebooks missing from _toc.yml: {sorted(notebooks - listed)}"
    for entry in listed:
        assert any((ROOT / (entry + ext)).exists() for ext in (".ipynb", ".md")), f"_toc.yml lists missing {entry}"


def test_environment_yml_pins_the_same_versions_as_settings_ini():
    cfg = settings()
    pip_pins = set(cfg["requirements"].split()) | set(cfg["dev_requirements"].split())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert set(conda_pip) == pip_pins
    assert all("==" in pin for pin in pip_pins), "every requirement is pinned with =="


def test_package_version_matches_settings():
    import advex_lit
    assert advex_lit.__version__ == settings()["version"]


def test_cells_tags_bridge_hides_nbdev_scaffolding():
    sys.path.insert(0, str(ROOT / "_ext"))
    from nbdev_tags import translate_notebook
    import json
    nb = {"cells": [
        {"cell_type": "code", "metadata": {}, "source": "#| hide\nimport x"},
        {"cell_type": "code", "metadata": {}, "source": "#| export\ndef f(): pass"},
        {"cell_type": "code", "metadata": {}, "source": "#| echo: false\nplot()"},
        {"cell_type": "code", "metadata": {}, "source": "#| eval: false\nslow()"},
        {"cell_type": "code", "metadata": {}, "source": "x = 1"},
        {"cell_type": "markdown", "metadata": {}, "source": "#| hide is text here"}]}
    cells = json.loads(translate_notebook(json.dumps(nb)))["cells"]
    assert cells[0]["metadata"]["tags"] == ["remove-cell"]
    assert cells[1]["source"] == "def f(): pass"  # the directive line is stripped, whatever the tags
    assert cells[1]["metadata"].get("tags", []) == []  # an exported cell is shown: no hiding tag
    assert cells[2]["metadata"]["tags"] == ["remove-input"]
    assert cells[3]["metadata"]["tags"] == ["skip-execution"]
    assert cells[4] == nb["cells"][4] and cells[5] == nb["cells"][5]


BROKEN_NB = {"cells": [{"cell_type": "code", "execution_count": None, "id": "broken-cell", "metadata": {}, "outputs": [],
                        "source": "raise RuntimeError('a broken cell')"}],
             "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
             "nbformat": 4, "nbformat_minor": 5}


def test_a_failing_cell_fails_the_book_build(tmp_path):
    "The book build that `make test` runs must exit non-zero when a notebook cell raises."
    import json
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copy(ROOT / "references.bib", tmp_path / "references.bib")
    shutil.copytree(ROOT / "_ext", tmp_path / "_ext")
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "broken.ipynb").write_text(json.dumps(BROKEN_NB))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: nbs/broken\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    flags = subprocess.check_output(["make", "-s", "--no-print-directory", "print-book-flags"],
                                    cwd=ROOT, text=True, env=env).split()
    assert "-W" in flags
    run = subprocess.run([str(BIN / "jupyter-book"), "build", str(tmp_path), *flags], capture_output=True, text=True)
    assert run.returncode != 0
    assert "Executing notebook failed" in run.stdout + run.stderr


def test_api_reference_lists_every_exported_module():
    api = (ROOT / "nbs" / "api.md").read_text()
    modules = sorted(p.stem for p in (ROOT / "advex_lit").glob("*.py") if not p.stem.startswith("_"))
    missing = [m for m in modules if f".. automodule:: advex_lit.{m}\n" not in api]
    assert not missing, f"add {missing} to nbs/api.md"


def test_no_cell_swallowed_a_cell_marker():
    "A fence left open in a markdown cell swallows the next cell (its `%% [markdown]` marker shows up as text)."
    import json
    for path in sorted((ROOT / "nbs").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            assert "%% [markdown]" not in source and "\n# %%" not in source, f"{path.name}: a cell marker in {source[:80]!r}"


def test_pip_builds_a_wheel_with_every_module(tmp_path):
    "`pip install .` installs the package: the wheel holds every exported module and the pinned requirements."
    import zipfile
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("advex_lit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    modules = {f"advex_lit/{p.name}" for p in (ROOT / "advex_lit").glob("*.py")}
    assert modules <= set(names), f"missing from the wheel: {sorted(modules - set(names))}"
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: keras==" in metadata and "Requires-Dist: tensorflow==" in metadata


def test_exported_modules_compile_without_warnings():
    "An invalid escape (e.g. a LaTeX summary line turned docstring) warns at import; keep modules clean."
    import warnings
    for path in sorted((ROOT / "advex_lit").glob("*.py")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(path.read_text(), str(path), "exec")


def test_every_chapter_has_objectives_summary_and_exercises_with_solutions():
    "The course material: each numbered chapter opens with objectives and ends with a summary and >= 2 exercises."
    import json
    for path in sorted((ROOT / "nbs").glob("[0-9][0-9]_*.ipynb")):
        text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
        assert "Learning objectives" in text, f"{path.name}: no learning objectives"
        assert "## Summary" in text, f"{path.name}: no summary"
        exercises, solutions = text.count("{exercise}"), text.count("{solution}")
        assert exercises >= 2 and solutions >= exercises, f"{path.name}: {exercises} exercises, {solutions} solutions"
        assert ":class: dropdown" in text, f"{path.name}: solutions should start hidden"
