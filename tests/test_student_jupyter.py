"""A student's Jupyter: `./run.sh lab` starts JupyterLab — as root too — with nbgrader's
instructor extensions off (formgrader, create assignment, course list: nbgrader's documented
switches, in a configuration folder of its own) and Validate kept; and what its Validate
button gets back: the stubs fail naming every exercise, a wrong answer fails with the
self-check's message, a solved notebook passes."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from autograder import paths
from autograder.chapter import load_chapter
from tests.corpus import Case, write_case
from tests.servers import free_port, stop

CH05 = "05_linear_regression_scratch"
WRONG_LINREG = Case("wrong", replace={"linreg": "def linreg(X, w, b):\n    return X @ w - b\n"})

TOKEN = "student-test"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("student")
    shutil.copytree(paths.release_notebook(CH05).parent, root / CH05)
    shutil.copy(write_case(CH05, WRONG_LINREG, tmp_path_factory.mktemp("w")), root / "wrong.ipynb")
    shutil.copy(write_case(CH05, Case("solved"), tmp_path_factory.mktemp("s")), root / "solved.ipynb")
    home, port = tmp_path_factory.mktemp("home"), free_port()
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    env.pop("COURSE_FAST", None)
    proc = subprocess.Popen([str(paths.course_root() / "run.sh"), "lab", str(root), "--no-browser", "--ip=127.0.0.1",
                             f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={TOKEN}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(home / "lab.log", "w"),
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail("./run.sh lab exited:\n" + (home / "lab.log").read_text()[-2000:])
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-2000:])
        yield url
    finally:
        stop(proc)


def status(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_lab_starts_as_root_on_the_folder(lab):
    with urllib.request.urlopen(f"{lab}/api/contents?token={TOKEN}", timeout=30) as response:
        names = {item["name"] for item in json.loads(response.read())["content"]}
    assert {CH05, "wrong.ipynb", "solved.ipynb"} <= names


def test_instructor_extensions_are_off_and_validate_is_on(lab):
    with urllib.request.urlopen(f"{lab}/lab?token={TOKEN}", timeout=30) as response:
        page = response.read().decode()
    config = json.loads(re.search(r'id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S).group(1))
    disabled = config.get("disabledExtensions", [])
    for ext in ("formgrader", "create-assignment", "course-list"):
        assert f"@jupyter/nbgrader:{ext}" in disabled, disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    assert status(f"{lab}/formgrader?token={TOKEN}") == 404
    assert status(f"{lab}/assignments/validate?token={TOKEN}", "POST") != 404


def button(url: str, notebook: str) -> dict:
    """What JupyterLab's Validate button gets back for ``notebook`` (nbgrader's server call)."""
    request = urllib.request.Request(f"{url}/assignments/validate?token={TOKEN}", method="POST",
                                     data=urllib.parse.urlencode({"path": notebook}).encode())
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def test_the_validate_button_means_it(lab):
    stub, wrong, solved = (button(lab, n) for n in (f"{CH05}/{CH05}.ipynb", "wrong.ipynb", "solved.ipynb"))
    assert stub["success"] and wrong["success"] and solved["success"], (stub, wrong, solved)
    failed = [cell["raw_error"] for cell in stub["value"]["failed"]]
    assert len(failed) == len(load_chapter(CH05).exercises)
    assert any("linreg: not written yet" in e for e in failed)
    wrong_failed = [cell["raw_error"] for cell in wrong["value"]["failed"]]
    assert len(wrong_failed) == 2 and all("linreg" in e for e in wrong_failed), wrong_failed
    assert any("expected" in e for e in wrong_failed), "the self-check's own message is shown"
    assert solved["value"] == {}, solved
