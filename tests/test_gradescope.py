"""The Gradescope bundle: built by ``python -m autograder gradescope``, unzipped into a
throw-away ``/autograder``-shaped tree, its ``run_autograder`` writes a results.json that
follows Gradescope's specification (checked against a JSON Schema written from
gradescope/autograder_samples docs/specs.md) and gives the batch grader's scores, check by
check, for a correct, a wrong, a stub, an unreadable and a hostile notebook."""
import dataclasses
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder.chapter import load_chapter
from autograder.executors.gradescope import uses_fashion_mnist
from autograder.formats.gradescope import results_json
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, Case, case_notebook, grade_corpus

CHAPTER = ch05.CHAPTER
WRONG = examples.SGD_NEVER_ZEROES
NOT_JSON = examples.NOT_JSON

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "simple_format", "html", "md", "ansi"]}
TEST = {"type": "object", "additionalProperties": False, "properties": {
    "score": {"type": "number"}, "max_score": {"type": "number"},
    "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"}, "name_format": FORMAT,
    "number": {"type": "string"}, "output": {"type": "string"}, "output_format": FORMAT,
    "tags": {"type": "array", "items": {"type": "string"}}, "visibility": VISIBILITY,
    "extra_data": {"type": "object"}}}
SCHEMA = {  # Gradescope's results.json, from the specification's fields and their values
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False,
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"}, "output_format": FORMAT, "test_output_format": FORMAT,
        "test_name_format": FORMAT, "visibility": VISIBILITY, "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"}, "tests": {"type": "array", "items": TEST},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "value"],
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}}},
    # "score: optional, but required if not on each test case"
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}


def hostile(root: Path) -> Case:
    """Forges results.json and a file beside it, prints a Markdown fence and JSON, and
    returns a wrong shape if it can read the bundle's reference solutions."""
    results = root / "results"
    solutions = root / "source" / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"
    return Case("hostile", replace={"linreg": f"""
        import json, os
        for name in ("results.json", "forged"):
            try:
                with open(os.path.join({str(results)!r}, name), "w") as f:
                    json.dump({{"score": 1000, "tests": []}}, f)
            except OSError:
                pass
        print("````\\n{{\\"score\\": 1000}}")
        def linreg(X, w, b):
            if os.access({str(solutions)!r}, os.R_OK):
                return X @ w.reshape(-1) + b
            return X @ w + b
        """})


def unzip(bundle: Path, dest: Path) -> None:
    """Extract as Gradescope does: files at the root of the archive, modes kept."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            os.chmod(dest / info.filename, (info.external_attr >> 16) & 0o777)


def autograder_tree(bundle: Path, root: Path, files: dict[str, bytes]) -> None:
    """An ``/autograder``-shaped tree at ``root``: the bundle in source/, ``files`` in submission/."""
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    unzip(bundle, root / "source")
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)


def autograder_env(root: Path) -> dict:
    """run_autograder's environment: the tree's root, and this venv's python3 first on PATH."""
    return {**os.environ, "GRADESCOPE_ROOT": str(root),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run_autograder(bundle: Path, root: Path, files: dict[str, bytes]) -> dict:
    """Run the bundle's run_autograder on ``files`` in ``root``; return its results.json."""
    autograder_tree(bundle, root, files)
    return run_tree(root)


def run_tree(root: Path) -> dict:
    """Run the run_autograder of the tree at ``root``; return its results.json."""
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=autograder_env(root), cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def notebook_bytes(case: Case) -> bytes:
    return case.raw if case.raw is not None else json.dumps(case_notebook(CHAPTER, case)).encode()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", CHAPTER, "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out / f"{CHAPTER}_gradescope.zip"


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("autograder")


@pytest.fixture(scope="module")
def cases(roots) -> list[Case]:
    return [SOLUTION, WRONG, STUB, NOT_JSON, hostile(roots / "hostile")]


@pytest.fixture(scope="module")
def graded(bundle, roots, cases) -> dict[str, dict]:
    """results.json per case; the solution is submitted beside a stray scratch notebook."""
    out = {}
    for case in cases:
        files = {f"{CHAPTER}.ipynb": notebook_bytes(case)}
        if case is SOLUTION:
            files["scratch.ipynb"] = notebook_bytes(STUB)
        out[case.name] = run_autograder(bundle, roots / case.name, files)
    return out


@pytest.fixture(scope="module")
def batch(cases, tmp_path_factory) -> dict:
    return grade_corpus(CHAPTER, cases, tmp_path_factory.mktemp("batch"))


def test_bundle_holds_what_gradescope_runs(bundle):
    names = set(zipfile.ZipFile(bundle).namelist())
    assert {"setup.sh", "run_autograder", "requirements.txt", "constraints.txt", "gradescope.json",
            f"solutions/{CHAPTER}/{CHAPTER}.ipynb", f"chapters/{CHAPTER}/{CHAPTER}.ipynb",
            f"autograder/checks/ch{CHAPTER}.py", "course/data.py"} <= names
    assert not [n for n in names if n.startswith("autograder/checks/ch0") and CHAPTER not in n], \
        "only this chapter's checks"
    assert not [n for n in names if n.startswith(("solutions/", "chapters/")) and CHAPTER not in n]
    for script in ("setup.sh", "run_autograder"):
        info = zipfile.ZipFile(bundle).getinfo(script)
        assert (info.external_attr >> 16) & 0o111, f"{script} is executable"
    setup = zipfile.ZipFile(bundle).read("setup.sh").decode()
    assert "FASHION_MNIST=0" in setup and "-c \"$SOURCE/constraints.txt\"" in setup
    assert subprocess.run(["bash", "-n"], input=setup, text=True).returncode == 0
    assert uses_fashion_mnist("09_softmax_regression_training") and not uses_fashion_mnist(CHAPTER)


def test_results_follow_the_specification(graded):
    for name, results in graded.items():
        jsonschema.validate(results, SCHEMA)
        assert results["output_format"] == "md" and results["stdout_visibility"] == "hidden", name


def test_scores_equal_the_batch_graders(graded, batch):
    for name, results in graded.items():
        sub = batch[name]
        assert results["score"] == sub.score, name
        checks = [c for ex in sub.exercises for c in ex.checks]
        assert [(t["name"], t["score"], t["max_score"]) for t in results["tests"]] == \
            [(f"{c.exercise}: {c.check}", c.score, c.max_score) for c in checks], name
        assert [t["status"] == "passed" for t in results["tests"]] == [c.status == "passed" for c in checks]


def test_correct_stub_and_wrong_feedback(graded, batch):
    full = load_chapter(CHAPTER).max_score
    solution = graded[SOLUTION.name]
    assert solution["score"] == full and all(t["status"] == "passed" for t in solution["tests"])
    assert f"graded {CHAPTER}.ipynb (the exact name); not graded: scratch.ipynb (still the stub)" \
        in solution["output"], "the batch grader's rule, and what it left out"
    assert graded[STUB.name]["score"] == 0
    assert "not written yet" in graded[STUB.name]["tests"][0]["output"]
    failed = [t for t in graded[WRONG.name]["tests"] if t["status"] == "failed"]
    messages = {f"{c.exercise}: {c.check}": c.message for ex in batch[WRONG.name].exercises for c in ex.checks}
    assert failed and all(messages[t["name"]].split("\n")[0] in t["output"] for t in failed)
    assert "could not be graded" in graded[NOT_JSON.name]["output"]


def test_hostile_notebook_cannot_forge_or_read(graded, batch, roots):
    results = graded["hostile"]
    assert results["score"] == batch["hostile"].score < 1000 and results["tests"]
    assert not (roots / "hostile" / "results" / "forged").exists()
    linreg = [t for t in results["tests"] if t["name"].startswith("linreg")]
    assert linreg and all(t["status"] == "passed" for t in linreg), "the reference was not readable"
    assert "`````text" in results["output"], "what it printed stays inside one code block"


def test_no_notebook_scores_zero_with_the_reason(bundle, tmp_path):
    results = run_autograder(bundle, tmp_path / "autograder", {"notes.txt": b"I forgot"})
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and "No notebook" in results["output"]
    assert sum(t["max_score"] for t in results["tests"]) == load_chapter(CHAPTER).max_score


def test_a_broken_bundle_still_writes_results(bundle, tmp_path):
    root = tmp_path / "autograder"
    autograder_tree(bundle, root, {f"{CHAPTER}.ipynb": notebook_bytes(SOLUTION)})
    (root / "source" / "gradescope.json").write_text("{not json")
    results = run_tree(root)
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and "could not grade" in results["output"]


def test_leaderboard_carries_a_checks_test_accuracy(batch):
    sub = batch[SOLUTION.name]
    first = sub.exercises[0]
    check = dataclasses.replace(first.checks[0], detail={"test_accuracy": 0.8312345})
    sub = dataclasses.replace(sub, exercises=(dataclasses.replace(first, checks=(check,) + first.checks[1:]),)
                              + sub.exercises[1:])
    results = results_json(sub)
    jsonschema.validate(results, SCHEMA)
    assert results["leaderboard"] == [{"name": "Test accuracy", "value": 0.8312}]
    assert "leaderboard" not in results_json(batch[STUB.name])
