"""Build the course's autograded assignments from the chapters' own exercises.

    python assignments/build.py build --out _build/assignments    # what `make assignments` runs
    python assignments/build.py grade NOTEBOOK --autograder ZIP    # score one submission locally

For each `assignments/<name>.yml`, the prompts and reference solutions are read from the chapter notebooks by label
(they stay where the reader meets them), combined with the spec's setup, skeletons and tests into an otter-grader
master notebook, and `otter assign` turns that into:

    <out>/<name>/student/<name>.ipynb        prompts and skeletons, public tests (grader.check), no solutions
    <out>/<name>/autograder/<name>.ipynb     the reference solution
    <out>/<name>/autograder/<name>-autograder_*.zip   public and hidden tests, for `otter run` or Gradescope

Needs otter-grader (`make teach-venv`); reading the specs and chapters needs only PyYAML.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "assignments"
_EXERCISE = re.compile(r"^(?P<fence>`{3,4})\{exercise\}[^\n]*\n(?P<body>.*?)\n(?P=fence)[ \t]*$", re.S | re.M)
_SOLUTION = re.compile(r"^(?P<fence>`{3,4})\{solution\}\s+(?P<label>[\w-]+)[^\n]*\n(?P<body>.*?)\n(?P=fence)[ \t]*$",
                       re.S | re.M)
_OPTION = re.compile(r"^:(label|class):[^\n]*\n?", re.M)
_CODE = re.compile(r"^```python\n(.*?)\n```[ \t]*$", re.S | re.M)
_ROLE = re.compile(r"\{(?:prf:ref|ref|numref|doc)\}`([^`<]*?)(?:\s*<[^>]*>)?`")
_CITE = re.compile(r"\{cite(?::\w+)?\}`[^`]*`")


def specs() -> list[dict]:
    "Every assignment spec, in file-name order."
    return [yaml.safe_load(p.read_text()) for p in sorted(SPECS.glob("a*.yml"))]


def plain_markdown(text: str) -> str:
    "MyST roles the book resolves, turned into text a plain notebook shows."
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    return _CITE.sub("(see the book's references)", text).strip()


def chapter_exercises(chapter: str) -> dict:
    "label -> {'prompt', 'solution', 'solution_code'} for every exercise of chapter `chapter` (e.g. '01_losses')."
    nb = json.loads((ROOT / "nbs" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    text = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    out = {}
    for m in _EXERCISE.finditer(text):
        label = re.search(r"^:label:\s*(\S+)", m["body"], re.M)
        if label: out[label.group(1)] = {"prompt": _OPTION.sub("", m["body"]).strip()}
    for m in _SOLUTION.finditer(text):
        body = _OPTION.sub("", m["body"]).strip()
        entry = out.setdefault(m["label"], {"prompt": ""})
        entry["solution"] = body
        entry["solution_code"] = "\n\n".join(_CODE.findall(body))
    return out


def resolve(spec: dict) -> list[dict]:
    "The questions of `spec` with prompt and solution filled in from the chapters (a missing label is an error)."
    questions, cache = [], {}
    for q in spec["questions"]:
        q = dict(q)
        if "chapter" in q:
            exercises = cache.setdefault(q["chapter"], chapter_exercises(q["chapter"]))
            if q["label"] not in exercises or "solution" not in exercises[q["label"]]:
                raise KeyError(f"{spec['name']}: no exercise with a solution labelled {q['label']!r} in nbs/{q['chapter']}.ipynb")
            found = exercises[q["label"]]
            q.setdefault("prompt", found["prompt"])
            q["solution"], q["solution_code"] = found["solution"], found["solution_code"]
        q["kind"] = "code" if q.get("tests") else "written"
        if q["kind"] == "code" and not q["solution_code"]:
            raise ValueError(f"{q['label']}: a code question needs a ```python block in its chapter solution")
        questions.append(q)
    return questions


def question_name(q: dict) -> str:
    return q["label"].replace("-", "_")


def _md(source: str) -> dict: return {"cell_type": "markdown", "metadata": {}, "source": source}
def _raw(source: str) -> dict: return {"cell_type": "raw", "metadata": {}, "source": source}
def _code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source.rstrip("\n")}


def master_notebook(spec: dict) -> dict:
    "The otter-grader master notebook of `spec`: config, then per question prompt, solution and tests."
    questions = resolve(spec)
    config = {"name": spec["name"], "init_cell": True, "check_all_cell": True, "export_cell": False,
              "run_tests": False, "generate": True, "requirements": "requirements.txt", "overwrite_requirements": True}
    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)),
             _md(f"# {spec['title']}\n\nFrom the book *Adversarial Training and Explanations*. Written answers go in the "
                 "Markdown cells marked for them; code answers replace the `...`. Run `grader.check(...)` cells to "
                 "run the public tests; hidden tests are run when your notebook is graded.")]
    for n, q in enumerate(questions, 1):
        name = question_name(q)
        heading = q.get("title") or (f"Exercise `{q['label']}`" + (f" (chapter {q['chapter']})" if "chapter" in q else ""))
        points = q.get("points") if q["kind"] == "written" else None
        qconf = {"name": name, "manual": q["kind"] == "written"}
        if points is not None: qconf["points"] = points
        cells.append(_raw("# BEGIN QUESTION\n" + yaml.safe_dump(qconf, sort_keys=False)))
        prompt = f"## Question {n}. {heading}\n\n{plain_markdown(q['prompt'])}"
        if q.get("task"): prompt += f"\n\n**What is graded:** {q['task']}"
        cells.append(_md(prompt))
        if q["kind"] == "written":
            cells += [_raw("# BEGIN SOLUTION"), _md(plain_markdown(q["solution"])), _raw("# END SOLUTION")]
        else:
            if q.get("setup"): cells.append(_code("# Setup (given)\n" + q["setup"]))
            answer = ("# BEGIN SOLUTION NO PROMPT\n" + q["solution_code"].rstrip() + "\n# END SOLUTION\n"
                      '""" # BEGIN PROMPT\n' + q["skeleton"].rstrip() + '\n""" # END PROMPT')
            cells += [_raw("# BEGIN SOLUTION"), _code(answer), _raw("# END SOLUTION"), _raw("# BEGIN TESTS")]
            for t in q["tests"]:
                conf = {"hidden": bool(t.get("hidden", False)), "points": t["points"],
                        "failure_message": f"{name}: test {t['name']} failed"}
                cells.append(_code('""" # BEGIN TEST CONFIG\n' + yaml.safe_dump(conf, sort_keys=False) +
                                   '""" # END TEST CONFIG\n' + t["code"].rstrip()))
            cells.append(_raw("# END TESTS"))
        cells.append(_raw("# END QUESTION"))
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}}


def planted_submission(solution_nb: dict, spec: dict, label: str) -> dict:
    "The reference solution notebook with the answer to `label` replaced by the spec's planted wrong answer."
    q = next(q for q in resolve(spec) if q["label"] == label)
    target = q["solution_code"].rstrip()
    nb = json.loads(json.dumps(solution_nb))
    hits = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and target in src:
            cell["source"] = src.replace(target, q["wrong"]["code"].rstrip())
            hits += 1
    if hits != 1: raise ValueError(f"{label}: the reference answer appears in {hits} cells of the solution notebook")
    return nb


def otter(*args, cwd=None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "otter"
    return subprocess.run([str(exe), *map(str, args)], cwd=cwd, check=True, capture_output=True, text=True)


def build(out: Path) -> list[Path]:
    "Master notebooks and `otter assign` output for every spec under `out`; returns the assignment folders."
    folders = []
    for spec in specs():
        folder = out / spec["name"]
        if folder.exists(): shutil.rmtree(folder)
        (folder / "master").mkdir(parents=True)
        master = folder / "master" / f"{spec['name']}.ipynb"
        master.write_text(json.dumps(master_notebook(spec), indent=1) + "\n")
        # The autograder installs the package with its pinned stack (Gradescope); locally `otter run` uses this venv.
        (folder / "master" / "requirements.txt").write_text("advex-lit @ git+https://github.com/advex-lit/advex-lit\n")
        otter("assign", master, folder / "dist")
        for part in ("student", "autograder"):
            shutil.move(str(folder / "dist" / part), str(folder / part))
        shutil.rmtree(folder / "dist")
        folders.append(folder)
        print(f"{spec['name']}: {folder / 'student' / (spec['name'] + '.ipynb')} and {next((folder / 'autograder').glob('*.zip'))}")
    return folders


def grade(notebook: Path, autograder: Path, workdir: Path) -> dict:
    "Score `notebook` with `otter run` against `autograder`: question -> {'score', 'possible', 'failed': [test names]}."
    workdir.mkdir(parents=True, exist_ok=True)
    otter("run", "-a", autograder, "-o", workdir, notebook)
    results = json.loads((workdir / "results.json").read_text())  # Gradescope's format: one entry per question
    scores = {}
    for entry in results["tests"]:
        if entry.get("max_score") is None: continue  # the summary of the public tests
        scores[entry["name"]] = {"score": entry["score"], "possible": entry["max_score"],
                                 "failed": sorted(set(_FAILED.findall(entry.get("output", ""))))}
    return scores


_FAILED = re.compile(r"\w+: test (\w+) failed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build"); b.add_argument("--out", type=Path, default=ROOT / "_build" / "assignments")
    g = sub.add_parser("grade"); g.add_argument("notebook", type=Path); g.add_argument("--autograder", type=Path, required=True)
    g.add_argument("--workdir", type=Path, default=Path("grading"))
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.out.resolve())
    else:
        print(json.dumps(grade(args.notebook.resolve(), args.autograder.resolve(), args.workdir.resolve()), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
