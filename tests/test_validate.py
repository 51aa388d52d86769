"""nbgrader's Validate means it: on every released chapter with its stubs it fails and names the
exercises still to do; on a wrong answer it fails with the self-check's message; on a
correct notebook it passes — with `nbgrader validate` and with the server call behind
JupyterLab's Validate button (nbgrader's validate_assignment extension, over HTTP)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from autograder import paths
from autograder.chapter import load_chapter
from course.release import chapters
from tests.corpus import Case, write_case
from tests.test_formgrader import free_port

BIN = Path(sys.executable).parent
TOKEN = "validate-test"
CH05 = "05_linear_regression_scratch"
WRONG_LINREG = Case("wrong", replace={"linreg": "def linreg(X, w, b):\n    return X @ w - b\n"})


def validate(folder: Path, names: list[str]) -> dict[str, str]:
    """Run `nbgrader validate` on several notebooks in one process; its report per notebook."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("COURSE_FAST", None)
    proc = subprocess.run([str(BIN / "nbgrader"), "validate", *names], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1500)
    text = proc.stdout
    parts = re.split(r"Validating '([^']+)'", text)
    return {Path(parts[i]).stem: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def copies(tmp: Path, source) -> list[str]:
    for chapter in chapters():
        shutil.copy(source(chapter), tmp / f"{chapter}.ipynb")
    return [f"{chapter}.ipynb" for chapter in chapters()]


def test_validate_fails_on_every_chapters_stubs_and_names_its_exercises(tmp_path):
    reports = validate(tmp_path, copies(tmp_path, paths.release_notebook))
    assert sorted(reports) == chapters()
    for chapter, report in reports.items():
        assert "VALIDATION FAILED" in report, f"{chapter}: Validate passed its stubs:\n{report}"
        for ex in load_chapter(chapter).exercises:
            for name in ex.own:
                assert f"{name}: not written yet" in report, f"{chapter}: {name} not named:\n{report}"


def test_validate_passes_every_solutions_notebook(tmp_path):
    reports = validate(tmp_path, copies(tmp_path, paths.solutions_notebook))
    assert sorted(reports) == chapters()
    for chapter, report in reports.items():
        assert "Success! Your notebook passes all the tests." in report, f"{chapter}:\n{report[-3000:]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A jupyter server (nbgrader's extensions as installed) on 127.0.0.1 over a folder holding
    chapter 05 with its stubs, with a wrong answer, and solved; the validate endpoint's URL."""
    root = tmp_path_factory.mktemp("student")
    shutil.copy(paths.release_notebook(CH05), root / "stub.ipynb")
    shutil.copy(write_case(CH05, WRONG_LINREG, tmp_path_factory.mktemp("w")), root / "wrong.ipynb")
    shutil.copy(write_case(CH05, Case("solved"), tmp_path_factory.mktemp("s")), root / "solved.ipynb")
    port, home = free_port(), tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("COURSE_FAST", None)
    proc = subprocess.Popen([str(BIN / "jupyter"), "server", "--no-browser", "--allow-root",
                             "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
                             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(home / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter server did not start:\n" + (home / "server.log").read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def button(url: str, notebook: str) -> dict:
    """What JupyterLab's Validate button gets back for ``notebook``."""
    request = urllib.request.Request(f"{url}/assignments/validate?token={TOKEN}", method="POST",
                                     data=urllib.parse.urlencode({"path": notebook}).encode())
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def test_the_validate_button_agrees(server):
    stub, wrong, solved = (button(server, f"{n}.ipynb") for n in ("stub", "wrong", "solved"))
    assert stub["success"] and wrong["success"] and solved["success"], (stub, wrong, solved)
    failed = [cell["raw_error"] for cell in stub["value"]["failed"]]
    assert len(failed) == len(load_chapter(CH05).exercises)
    assert any("linreg: not written yet" in e for e in failed)
    wrong_failed = [cell["raw_error"] for cell in wrong["value"]["failed"]]
    assert len(wrong_failed) == 2 and all("linreg" in e for e in wrong_failed), wrong_failed
    assert any("expected" in e for e in wrong_failed), "the self-check's own message is shown"
    assert solved["value"] == {}, solved
