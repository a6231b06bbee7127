"""The course kit's assignments (issue 17): built by otter-grader from the chapters' exercises.

The specs are checked in this venv; building and grading use otter in `.venv-teach` (`make teach-venv`), because
otter pins wrapt<2 and the main stack has wrapt 2. Grading runs `otter run` on each notebook (about 10-25 s each)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEACH_PYTHON = ROOT / ".venv-teach" / "bin" / "python"
sys.path.insert(0, str(ROOT / "assignments"))
import build  # noqa: E402

SPECS = build.specs()
CODE = [(s["name"], q["label"]) for s in SPECS for q in build.resolve(s) if q["kind"] == "code"]


def test_every_assignment_of_the_teaching_page_has_a_spec_whose_exercises_exist():
    teaching = (ROOT / "nbs" / "teaching.md").read_text()
    assert [s["name"] for s in SPECS] == ["a1", "a2"]
    for spec in SPECS:
        for q in build.resolve(spec):  # raises when a label is not in its chapter
            if "chapter" in q:
                assert f"{{ref}}`{q['label']}`" in teaching, f"{q['label']} is graded but not on the teaching page"
                assert q["solution"], q["label"]


def test_code_questions_have_tests_a_skeleton_and_a_planted_wrong_answer():
    for spec in SPECS:
        for q in build.resolve(spec):
            if q["kind"] != "code": continue
            names = [t["name"] for t in q["tests"]]
            assert len(set(names)) == len(names) and any(not t.get("hidden") for t in q["tests"]), q["label"]
            assert any(t.get("hidden") for t in q["tests"]), f"{q['label']}: no hidden test"
            assert q["skeleton"].strip() and "..." in q["skeleton"]
            assert set(q["wrong"]["fails"]) <= set(names) and q["wrong"]["fails"], q["label"]
            assert q["wrong"]["code"].strip() != q["solution_code"].strip()


def test_roles_become_plain_text():
    assert build.plain_markdown("under {prf:ref}`losses-loss-cvx`, see {cite}`madry2018towards`.") == \
        "under `losses-loss-cvx`, see (see the book's references)."


def solution_lines(q) -> list:
    "Lines of the reference solution long enough to be telling, minus those the student is given anyway."
    given = "\n".join([q.get("prompt", ""), q.get("setup", ""), q.get("skeleton", "")])
    text = q["solution_code"] if q["kind"] == "code" else build.plain_markdown(q["solution"])
    return [l.strip() for l in text.splitlines() if len(l.strip()) >= 25 and l.strip() not in given]


def leaked(notebook: dict, spec) -> list:
    text = "\n".join("".join(c["source"]) for c in notebook["cells"])
    return [line for q in build.resolve(spec) for line in solution_lines(q) if line in text]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not TEACH_PYTHON.exists():
        pytest.fail("the assignment tests need otter-grader in .venv-teach: run `make teach-venv` (make test does)")
    out = tmp_path_factory.mktemp("assignments")
    subprocess.run([str(TEACH_PYTHON), str(ROOT / "assignments" / "build.py"), "build", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out


def grade(built, name, notebook: Path, tag: str) -> dict:
    zip_path = next((built / name / "autograder").glob("*.zip"))
    run = subprocess.run([str(TEACH_PYTHON), str(ROOT / "assignments" / "build.py"), "grade", str(notebook),
                          "--autograder", str(zip_path), "--workdir", str(built / name / f"grading-{tag}")],
                         check=True, capture_output=True, text=True)
    return json.loads(run.stdout)


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_student_notebook_holds_no_solution_text(built, spec):
    student = json.loads((built / spec["name"] / "student" / f"{spec['name']}.ipynb").read_text())
    solution = json.loads((built / spec["name"] / "autograder" / f"{spec['name']}.ipynb").read_text())
    assert leaked(student, spec) == []
    # the check can fail: the solution notebook holds every one of those lines
    assert len(leaked(solution, spec)) == sum(len(solution_lines(q)) for q in build.resolve(spec)) > 0
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    assert "BEGIN SOLUTION" not in text and "BEGIN TEST CONFIG" not in text
    hidden = [l.strip() for q in build.resolve(spec) for t in q.get("tests", []) if t.get("hidden")
              for l in t["code"].splitlines() if len(l.strip()) >= 30]
    assert hidden and not [l for l in hidden if l in text], "hidden test code in the student notebook"


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_reference_solutions_score_full_marks(built, spec):
    name = spec["name"]
    scores = grade(built, name, built / name / "autograder" / f"{name}.ipynb", "reference")
    code = [build.question_name(q) for q in build.resolve(spec) if q["kind"] == "code"]
    assert sorted(scores) == sorted(code)
    for q, s in scores.items():
        assert s["score"] == s["possible"] > 0 and s["failed"] == [], (q, s)


@pytest.mark.parametrize("name,label", CODE, ids=[label for _, label in CODE])
def test_planted_wrong_answer_loses_the_marks_of_the_tests_that_target_it(built, name, label):
    spec = next(s for s in SPECS if s["name"] == name)
    q = next(q for q in build.resolve(spec) if q["label"] == label)
    solution = json.loads((built / name / "autograder" / f"{name}.ipynb").read_text())
    planted = built / name / f"planted-{label}.ipynb"
    planted.write_text(json.dumps(build.planted_submission(solution, spec, label)))
    scores = grade(built, name, planted, label)
    target = build.question_name(q)
    lost = sum(t["points"] for t in q["tests"] if t["name"] in q["wrong"]["fails"])
    assert scores[target]["failed"] == sorted(q["wrong"]["fails"]), scores[target]
    assert scores[target]["score"] == scores[target]["possible"] - lost
    for other, s in scores.items():  # the other questions keep their marks
        if other != target: assert s["score"] == s["possible"], (other, s)
