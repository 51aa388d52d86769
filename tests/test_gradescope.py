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
from autograder.executors.gradescope import clean_nbgrader_config, uses_fashion_mnist
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


# -- isolation where bubblewrap cannot start (issue 18 item 1) ------------------------------
def attacker(marker: Path, root: Path) -> Case:
    """Writes its user id to ``marker`` (it ran, as whom), forges results.json, SIGKILLs its
    parent and grandparent (the worker and the grader), and returns a wrong shape if it can
    read the bundle's reference solutions or reference answers."""
    private = [root / "source" / "solutions", root / "source" / "release-cache"]
    return Case("attacker", replace={"linreg": f"""
        import json, os, signal
        with open({str(marker)!r}, "w") as f:
            f.write(str(os.getuid()))
        try:
            with open({str(root / "results" / "results.json")!r}, "w") as f:
                json.dump({{"score": 999, "tests": []}}, f)
        except OSError:
            pass
        parent = os.getppid()
        grandparent = int(open(f"/proc/{{parent}}/stat").read().rsplit(")", 1)[1].split()[1])
        killed = False
        for pid in (grandparent, parent):
            try:
                os.kill(pid, signal.SIGKILL)
                killed = True
            except OSError:
                pass
        if killed:  # the grader is gone: nothing left to wait for
            os._exit(0)
        def linreg(X, w, b):
            if any(os.access(p, os.R_OK) for p in {[str(p) for p in private]!r}):
                return X @ w.reshape(-1) + b
            return X @ w + b
        """})


def failing_bwrap(folder: Path) -> Path:
    """A folder holding a ``bwrap`` that cannot start (as in Gradescope's containers)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    os.chmod(folder / "bwrap", 0o755)
    return folder


def private_python(home: Path) -> Path:
    """A virtual environment inside ``home`` (root's, mode 0700: a pyenv under /root) that
    imports this one's packages; its bin folder."""
    home.mkdir(mode=0o700)
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    import site
    [own] = list((venv / "lib").glob("python3*/site-packages"))
    repo = str(Path(__file__).resolve().parents[1])  # the course's packages, as the editable install finds them
    (own / "course_packages.pth").write_text("\n".join([*site.getsitepackages(), repo]) + "\n")
    return venv / "bin"


def world_tree(bundle: Path, files: dict[str, bytes], allow: bool = False) -> Path:
    """An /autograder-shaped tree in a folder every user can traverse (as /autograder is)."""
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="autograder-tree-"))
    os.chmod(root, 0o755)
    autograder_tree(bundle, root, files)
    if allow:
        config = json.loads((root / "source" / "gradescope.json").read_text())
        (root / "source" / "gradescope.json").write_text(json.dumps({**config, "allow_unsandboxed": True}))
    return root


def run_without_bwrap(root: Path, path: str, wrap: list[str] = (), **env) -> dict:
    env = {**autograder_env(root), "PATH": path, **env}
    proc = subprocess.run([*wrap, str(root / "source" / "run_autograder")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture
def drop():
    """A folder every user may write into: where the attacker leaves its marker."""
    import shutil
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="drop-"))
    os.chmod(folder, 0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_no_isolation_refuses_and_a_killed_grader_keeps_no_forged_result(bundle, tmp_path, drop):
    """bwrap fails and Python lives in a folder other users cannot read: no user switch is
    possible. The grader refuses (0, with the reason) and runs nothing; allowed explicitly,
    it grades and says "UNSANDBOXED"; an attacker that forges results.json and kills the
    grader there gets the trusted side's 0, not its 999."""
    import shutil
    path = f"{failing_bwrap(tmp_path / 'fakebin')}{os.pathsep}{private_python(tmp_path / 'home')}" \
           f"{os.pathsep}{os.environ['PATH']}"
    marker = drop / "ran"
    roots = []
    try:
        roots.append(world_tree(bundle, {f"{CHAPTER}.ipynb": notebook_bytes(attacker(marker, Path("/x")))}))
        refused = run_without_bwrap(roots[-1], path)
        jsonschema.validate(refused, SCHEMA)
        assert refused["score"] == 0 and "Refusing to grade" in refused["output"]
        assert "--allow-unsandboxed" in refused["output"] and not marker.exists(), "nothing ran"
        assert refused["extra_data"]["isolation"].startswith("none possible")

        roots.append(world_tree(bundle, {f"{CHAPTER}.ipynb": notebook_bytes(SOLUTION)}, allow=True))
        allowed = run_without_bwrap(roots[-1], path)
        assert allowed["score"] == load_chapter(CHAPTER).max_score
        assert "UNSANDBOXED" in allowed["output"] and allowed["extra_data"]["isolation"].startswith("UNSANDBOXED")

        roots.append(world_tree(bundle, {}, allow=True))
        (roots[-1] / "submission" / f"{CHAPTER}.ipynb").write_bytes(notebook_bytes(attacker(marker, roots[-1])))
        scratch = tmp_path / "scratch"  # the killed grader's worker folder: removed with tmp_path
        scratch.mkdir()
        killed = run_without_bwrap(roots[-1], path, TMPDIR=str(scratch))
        assert marker.read_text() == "0", "it ran, as root"
        jsonschema.validate(killed, SCHEMA)
        assert killed["score"] == 0 and "stopped before it finished" in killed["output"]
        assert "UNSANDBOXED" in killed["output"]
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def test_without_bubblewrap_student_code_runs_as_a_user_of_its_own(bundle, tmp_path, drop):
    """bwrap fails, Python is readable by every user (setup.sh's venv; here root's pyenv
    seen through a mount namespace where /root is open): each job runs as a user id of its
    own, which cannot read the references, forge results.json or kill the grader."""
    import shutil
    import tempfile
    marker = drop / "ran"
    root = world_tree(bundle, {})
    (root / "submission" / f"{CHAPTER}.ipynb").write_bytes(notebook_bytes(attacker(marker, root)))
    keep = Path(tempfile.mkdtemp(prefix="pyenv-"))
    home = Path.home()
    # /root open to others, with its Python still there: a tmpfs over it, the Python bound back
    reveal = (f"set -e; for d in {home}/.pyenv; do mkdir -p {keep}$d; mount --bind $d {keep}$d; done; "
              f"mount -t tmpfs -o mode=755 tmpfs {home}; mkdir -p {home}/.pyenv; "
              f"mount --bind {keep}{home}/.pyenv {home}/.pyenv; exec \"$0\"")
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", reveal] \
        if (home / ".pyenv").is_dir() and not os.stat(home).st_mode & 0o001 else []
    try:
        path = os.pathsep.join([str(failing_bwrap(tmp_path / "fakebin")), str(Path(sys.executable).parent),
                                os.environ["PATH"]])
        results = run_without_bwrap(root, path, wrap)
        jsonschema.validate(results, SCHEMA)
        assert marker.exists(), results["output"]
        assert int(marker.read_text()) != 0, "the job ran as a user of its own"
        assert results["extra_data"]["isolation"].startswith("own user id"), results["output"]
        assert results["score"] == load_chapter(CHAPTER).max_score, results["output"]
        assert not (root / "results" / "forged").exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(keep, ignore_errors=True)


# -- trying the bundle locally: setup.sh (issue 22 item 6) ----------------------------------
FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$SETUP_LOG" 2>/dev/null || true
if [ "$1" = -m ] && [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
exit 0
"""


@pytest.mark.parametrize("index", ["default", "pypi"])
def test_setup_installs_under_the_root_from_the_chosen_index(bundle, tmp_path, index):
    """setup.sh run as the guide's "Try the bundle locally" says, with apt-get and Python
    stood in for (they would install for minutes): every path is under $GRADESCOPE_ROOT,
    PyTorch comes from its CPU index unless TORCH_INDEX_URL=pypi, the venv is readable."""
    root = tmp_path / "autograder"
    autograder_tree(bundle, root, {})
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name, text in (("apt-get", "#!/bin/sh\necho \"apt-get $*\" >> \"$SETUP_LOG\"\n"), ("python3.11", FAKE_PYTHON)):
        (fake / name).write_text(text)
        os.chmod(fake / name, 0o755)
    log = tmp_path / "setup.log"
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "SETUP_LOG": str(log), "PYTHON": str(fake / "python3.11"),
           "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", **({"TORCH_INDEX_URL": "pypi"} if index == "pypi" else {})}
    proc = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text()
    assert f"python -m venv {root}/venv" in calls and f"-e {root}/source" in calls
    assert f"-r {root}/source/requirements.txt -c {root}/source/constraints.txt" in calls
    assert ("--extra-index-url https://download.pytorch.org/whl/cpu" in calls) == (index == "default")
    assert "/autograder/" not in calls.replace(str(root), "ROOT")
    assert os.stat(root / "venv" / "bin" / "python").st_mode & 0o005 == 0o005, "every user can run it"


def test_the_bundle_carries_no_local_nbgrader_setting(bundle):
    from autograder import paths
    course = (paths.course_root() / "nbgrader_config.py").read_text()
    shipped = zipfile.ZipFile(bundle).read("nbgrader_config.py").decode()
    assert shipped == clean_nbgrader_config(course)
    local = course + ('import json\nc.Exchange.root = "/srv/nbgrader/exchange"\n'
                      'c.CourseDirectory.db_url = "sqlite:////home/me/gradebook.db"\n'
                      'c.CourseDirectory.submitted_directory = os.path.expanduser(\n    "~/inbox")\n'
                      'c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}\n')
    cleaned = clean_nbgrader_config(local)
    assert cleaned == course + 'c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}\n'
    assert clean_nbgrader_config(course) == course, "nothing local: kept byte for byte"
