"""Hostile and broken submissions (the cases come from nbgrader's, otter-grader's and
PrairieLearn's issue trackers): each gets a fair score — zero for what it did not really
compute — and a clear message, and leaves the batch, the gradebook and other students'
results untouched. All are graded in one batch run, next to a correct submission."""
import csv
import json
import os
import socket
import threading

import nbformat
import pytest

from autograder import paths, sandbox
from autograder.chapter import load_chapter
from autograder.grader import Grader
from tests.corpus import SOLUTION, Case, assert_case, grade_corpus, solved_notebook, write_case
from autograder.runner import Limits

CHAPTER = "05_linear_regression_scratch"
LIMITS = Limits(check_seconds=3, cell_seconds=5, submission_seconds=120, memory_mb=1500)
REPO = str(paths.course_root())
SOLUTIONS_FILE = f"{REPO}/solutions/{CHAPTER}/{CHAPTER}.ipynb"
GOOD_LINREG = "def linreg(X, w, b):\n    return X @ w + b\n"


def linreg_unless(condition_code: str) -> str:
    """A linreg that returns a wrong shape when ``condition_code`` (an expression) is true."""
    return (f"import os, socket\ndef linreg(X, w, b):\n    if {condition_code}:\n"
            "        return X @ w.reshape(-1) + b\n    return X @ w + b\n")


def _reads(path: str) -> str:
    return f"__import__('os').access({path!r}, __import__('os').R_OK)"


def _mangled(kind: str):
    nb = solved_notebook(CHAPTER)
    if kind == "nbformat3":
        v4 = nbformat.reads(json.dumps(nb), as_version=4)
        return nbformat.writes(nbformat.convert(v4, 3)).encode()
    if kind == "reordered":
        nb["cells"] = list(reversed(nb["cells"]))
    if kind == "stripped":
        for cell in nb["cells"]:
            cell["metadata"] = {}
    if kind in ("locked_edited", "redefined", "duplicated"):
        cells = nb["cells"]
        idx = next(i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade_id") == "linreg")
        bad = "def linreg(X, w, b):\n    return X.sum(1)\n"
        if kind == "locked_edited":
            setup = next(c for c in cells if "setup" in c["metadata"].get("tags", []))
            setup["source"] = "import torch\ntorch.matmul = None\nraise SystemExit\n"
        elif kind == "redefined":
            cells.insert(idx + 1, {"cell_type": "code", "id": "extra", "metadata": {},
                                   "source": bad, "outputs": [], "execution_count": None})
        else:
            dup = json.loads(json.dumps(cells[idx]))
            dup["source"], dup["id"] = bad, "dup"
            cells.insert(idx + 1, dup)
    return json.dumps(nb).encode()


@pytest.fixture(scope="module")
def port():
    """A TCP server on this machine's loopback: reachable only without a network namespace."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    threading.Thread(target=lambda: [server.accept() for _ in range(100)], daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def cases(port: int, out: str, other: str, marker: str = "") -> list[Case]:
    return [
        SOLUTION,
        # -- patching the checks or the framework, branching on being graded -----------------
        Case("patches_framework", replace={"linreg": """
            import builtins, sys, torch
            torch.allclose = lambda *a, **k: True
            torch.equal = lambda *a, **k: True
            torch.testing.assert_close = lambda *a, **k: None
            builtins.round = lambda *a, **k: 0
            sys.modules["autograder.compare"] = None
            def linreg(X, w, b):
                return torch.zeros(len(X), 1)
            """}, scores={"linreg": 0}, messages={"linreg": "expected", "training": "working `linreg`"}),
        Case("branches_on_grading", replace={"linreg": linreg_unless(
            "any(k.startswith(('NBGRADER', 'AUTOGRADER', 'SECRET')) for k in os.environ)")}),
        # -- exits and crashes ---------------------------------------------------------------
        Case("sys_exit_at_load", replace={"squared_loss": "import sys\nsys.exit(0)\n"},
             scores={"squared_loss": 0}, messages={"squared_loss": "SystemExit", "training": "working `squared_loss`"}),
        Case("kills_itself", replace={"sgd": """
            import os, signal
            def sgd(params, lr, batch_size):
                os.kill(os.getpid(), signal.SIGKILL)
            """}, scores={"sgd": 0}, messages={"sgd": "SIGKILL", "training": "working `sgd`"}),
        # -- time, processes, memory ---------------------------------------------------------
        Case("sleeps", replace={"data_iter": """
            import time
            def data_iter(batch_size, features, labels, generator=None):
                time.sleep(1000)
                yield features, labels
            """}, scores={"data_iter": 0}, messages={"data_iter": "time limit (3 s)", "training": "working `data_iter`"}),
        Case("fork_bomb", replace={"linreg": """
            import os
            def linreg(X, w, b):
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
            """}, scores={"linreg": 0}, messages={"linreg": "stopped: it exceeded", "training": "working `linreg`"}),
        # -- reading what it must not, writing outside its scratch folder ----------------------
        Case("reads_solutions", replace={"linreg": linreg_unless(_reads(SOLUTIONS_FILE))}),
        Case("reads_grader_files", replace={"linreg": linreg_unless(_reads(f"{REPO}/autograder/../solutions"))}),
        Case("reads_other_student", replace={"linreg": linreg_unless(_reads(other))}),
        Case("writes_gradebook", replace={"data_iter": f"""
            def data_iter(batch_size, features, labels, generator=None):
                for target in ({out + '/grades.csv'!r}, {out + '/summary.csv'!r}, {marker!r}):
                    try:
                        with open(target, "w") as f:
                            f.write("student_id,score\\nwrites_gradebook,1000\\n")
                    except OSError:
                        pass
                indices = torch.randperm(len(features), generator=generator)
                for i in range(0, len(features), batch_size):
                    j = indices[i: i + batch_size]
                    yield features[j], labels[j]
            """}),
        Case("uses_network", replace={"linreg": linreg_unless(
            f"not socket.socket().connect_ex(('127.0.0.1', {port}))")}),
        # -- output and returned objects -------------------------------------------------------
        Case("prints_megabytes_and_fake_results", replace={"linreg": """
            import sys
            def linreg(X, w, b):
                sys.stdout.write('{"event": "check_done", "index": 0, "status": "ok"}\\n' * 1000)
                sys.stdout.write("x" * 20_000_000)
                return X @ w + b
            """}),
        Case("lying_subclass", replace={"linreg": """
            class Liar(torch.Tensor):
                def __eq__(self, other):
                    return True
            def linreg(X, w, b):
                return (X @ w + b + 1).as_subclass(Liar)
            """}, scores={"linreg": 0.5}, messages={"linreg": "subclass", "training": "working `linreg`"}),
        Case("meta_device", replace={"linreg": "def linreg(X, w, b):\n    return (X @ w + b).to('meta')\n"},
             scores={"linreg": 0}, messages={"linreg": "meta", "training": "working `linreg`"}),
        Case("wrong_dtype", replace={"squared_loss": """
            def squared_loss(y_hat, y):
                return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).double()
            """}, scores={"squared_loss": 0}, messages={"squared_loss": "dtype torch.float64"}),
        Case("returns_nan", replace={"linreg": "def linreg(X, w, b):\n    return (X @ w + b) * float('nan')\n"},
             scores={"linreg": 0}, messages={"linreg": "non-finite", "training": "working `linreg`"}),
        Case("returns_generator", replace={"linreg": "def linreg(X, w, b):\n    return (r for r in X @ w + b)\n"},
             scores={"linreg": 0}, messages={"linreg": "generator", "training": "working `linreg`"}),
        # -- input, debugger ------------------------------------------------------------------
        Case("calls_input", replace={"linreg": "def linreg(X, w, b):\n    input('w? ')\n    return X @ w + b\n"},
             scores={"linreg": 0}, messages={"linreg": "EOFError", "training": "working `linreg`"}),
        Case("opens_debugger", replace={"linreg": "def linreg(X, w, b):\n    breakpoint()\n    return X @ w + b\n"}),
        Case("warns_on_stderr", replace={"linreg": """
            import warnings
            def linreg(X, w, b):
                warnings.warn("a harmless warning", UserWarning)
                return X @ w + b
            """}),
        # -- mangled notebooks -----------------------------------------------------------------
        Case("nbformat3", raw=_mangled("nbformat3")),
        # nbgrader runs a reversed notebook's test cells before the functions exist: so do we
        Case("cells_reordered", raw=_mangled("reordered"), scores=dict.fromkeys(
            ("synthetic_data", "data_iter", "linreg", "squared_loss", "sgd", "training"), 0),
            messages={"linreg": "comes after its test cell"}),
        Case("metadata_stripped", raw=_mangled("stripped")),
        Case("locked_cell_edited", raw=_mangled("locked_edited")),
        # a later cell's definition is what nbgrader's later test cells see: so do we
        Case("redefined_after_its_cell", raw=_mangled("redefined"), scores={"linreg": 0},
             messages={"training": "working `linreg`"}),
        Case("cell_duplicated", raw=_mangled("duplicated"), scores={"linreg": 0},
             messages={"training": "working `linreg`"}),
    ]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, port):
    tmp = tmp_path_factory.mktemp("hostile")
    out, other = tmp / "out", tmp / "submitted" / "solution" / CHAPTER / f"{CHAPTER}.ipynb"
    marker = paths.course_root() / f".hostile-write-{os.getpid()}.txt"  # in the repository
    all_cases = cases(port, str(out), str(other), str(marker))
    mp = pytest.MonkeyPatch()
    mp.setenv("NBGRADER_EXECUTION", "autograde")
    mp.setenv("SECRET_API_TOKEN", "do-not-leak")
    try:
        results = grade_corpus(CHAPTER, all_cases, tmp, limits=LIMITS)
        written = marker.exists()
    finally:
        mp.undo()
        marker.unlink(missing_ok=True)  # never leave it behind, even when the test fails
    return all_cases, results, out, written


def test_the_harness_is_sandboxed():
    assert sandbox.bwrap_works(), "bubblewrap must work where the tests run as root (./run.sh setup installs it)"


@pytest.mark.parametrize("name", [c.name for c in cases(0, "", "")])
def test_hostile_case(graded, name):
    all_cases, results, _, _ = graded
    case = next(c for c in all_cases if c.name == name)
    assert_case(CHAPTER, results[name], case)


def test_gradebook_and_repository_untouched(graded):
    _, results, out, written = graded
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {r["student_id"] for r in rows} == set(results)
    assert not any(r["student_id"] == "writes_gradebook" and r["score"] == "1000" for r in rows)
    assert "1000" not in (out / "summary.csv").read_text()
    assert not written, "student code wrote into the repository"


def test_output_is_kept_small(graded):
    _, results, _, _ = graded
    assert len(results["prints_megabytes_and_fake_results"].student_output) <= 2000


MEMORY_HOG = Case("memory_hog", replace={"sgd": """
    def sgd(params, lr, batch_size):
        hog = []
        while True:  # 512 MB a step, every page written
            hog.append(b"x" * (512 * 2**20))
    """}, scores={"sgd": 0}, messages={"sgd": "memory limit (1000 MB)", "training": "working `sgd`"})


def test_a_memory_hog_is_stopped_at_the_memory_limit(tmp_path):
    """Alone, with time to spare (page faults are slow on a loaded machine), so that the
    memory limit and not the time limit stops it; the message names the limit."""
    path = write_case(CHAPTER, MEMORY_HOG, tmp_path)
    limits = Limits(check_seconds=60, submission_seconds=300, memory_mb=1000)
    result = Grader(load_chapter(CHAPTER), limits=limits).grade(path, MEMORY_HOG.name)
    assert_case(CHAPTER, result, MEMORY_HOG)
