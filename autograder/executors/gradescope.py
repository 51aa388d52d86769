"""The Gradescope executor: an autograder bundle, and the run inside Gradescope's container.

``build_bundle`` writes ``OUT/<chapter>_gradescope.zip``, the zip Gradescope's "Configure
Autograder" page takes: ``setup.sh`` and ``run_autograder`` (from ``gradescope_files/``), the
``autograder`` package with only this chapter's checks, the ``course`` package, the chapter's
release (``chapters/``) and solutions (the reference), the pinned requirements, and
``gradescope.json`` (the chapter, device, seed, limits and test visibility it was built with).

``main`` is what ``run_autograder`` runs for each submission. Under ``$GRADESCOPE_ROOT``
(default ``/autograder``) it

1. writes a provisional result — zero, "the autograder stopped before it finished" — into a
   folder only root can read (``PENDING``): what ``run_autograder`` publishes if this
   process is killed (by the kernel, or by anything else);
2. makes the reference, the settings, the submission and the results folder readable by
   their owner only (root), and the bundle's own code writable by root only, so that a
   harness job running as a user id of its own cannot read, forge or change them even where
   bubblewrap cannot make namespaces; refuses to grade (zero, with the reason) where no
   isolation at all is possible, unless the bundle was built with ``--allow-unsandboxed``;
3. picks the notebook to grade in ``submission/`` by the batch grader's rule
   (:func:`pick_notebook`);
4. grades it with the chapter's :class:`~autograder.grader.Grader` on one warm sandboxed
   :class:`~autograder.runner.Worker` — the batch grader's "grade one submission" step,
   with the same harness, sandbox and checks;
5. once the worker and every process of the job are gone, writes the result into
   ``PENDING`` and then moves it to ``results/results.json`` (``formats/gradescope.py``):
   only this trusted process writes it, whatever happened — a submission that cannot be
   graded scores zero with the reason — and it names the isolation student code ran under.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from autograder import paths, submissions
from autograder.chapter import load_chapter
from autograder.formats.common import atomic_write
from autograder.formats.gradescope import VISIBILITIES, failure_json, results_json
from autograder.grader import Grader, SubmissionResult
from autograder.inline import pick_device
from autograder.runner import Limits, Worker, preload_for
from autograder import sandbox
from autograder.sandbox import PACKAGES

DEFAULT_ROOT = "/autograder"
CONFIG = "gradescope.json"
TEMPLATES = Path(__file__).with_name("gradescope_files")
SCRIPTS = ("setup.sh", "run_autograder")
TOP_FILES = ("requirements.txt", "constraints.txt", "pyproject.toml")
# nbgrader settings the bundle keeps (the course's layout and stubs); never the instructor's
# exchange, database, course root or any other local path
NBGRADER_KEPT = ("CourseDirectory", "ClearSolutions", "ExecutePreprocessor", "Execute",
                 "LateSubmissionPlugin", "AssignLatePenalties", "LatePenalty", "Autograde")
NBGRADER_LOCAL = ("db_url", "exchange", "course_directory")
PENDING = ".autograder-private"  # under the root, mode 0700: results before they are published
STUDENT = "submission"  # the student id results carry (Gradescope knows who it is)
# Readable by root only while grading: the reference and its answers, the settings (the
# seed), the student's files and Gradescope's metadata about them, and where results are
# written (and kept before they are published).
PRIVATE = ("source/solutions", "source/release-cache", f"source/{CONFIG}", "submission",
           "submission_metadata.json", "results", PENDING)
# The harness's limits: well inside Gradescope's default 10 minutes (starting and the
# reference's answers take the rest); memory: see the instructor guide (choose 2 GB).
DEFAULT_LIMITS = {"submission_seconds": 420.0, "memory_mb": 1024}


# -- the bundle ---------------------------------------------------------------------------
def build_bundle(chapter: str, out: Path, device: str = "auto", seed: int | None = None,
                 visibility: str = "visible", limits: dict | None = None,
                 allow_unsandboxed: bool = False) -> Path:
    """Write ``out/<chapter>_gradescope.zip``, Gradescope's autograder bundle for a chapter.

    Args:
        chapter: a graded chapter's slug.
        out: the folder to write the zip into (created if needed).
        device: ``auto``, ``cpu`` or ``cuda``, chosen when grading.
        seed: the seed the checks' inputs are drawn from (default: the course's).
        visibility: when students see the tests (one of ``VISIBILITIES``).
        limits: ``runner.Limits`` fields for the harness (default ``DEFAULT_LIMITS``).
        allow_unsandboxed: grade even where no isolation is possible (student code then runs
            as root); without it such a run scores zero with the reason.

    Returns:
        The zip's path.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}; got {visibility!r}")
    config = {"chapter": chapter, "device": device, "seed": seed, "visibility": visibility,
              "limits": {**DEFAULT_LIMITS, **(limits or {})}, "allow_unsandboxed": allow_unsandboxed}
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        stage = Path(tmp)
        _copy_sources(chapter, stage)
        _copy_references(chapter, stage, seed)
        _write_scripts(chapter, stage)
        (stage / CONFIG).write_text(json.dumps(config, indent=1))
        return _zip(stage, out / f"{chapter}_gradescope.zip")


def _copy_sources(chapter: str, stage: Path) -> None:
    root = paths.course_root()
    for package in PACKAGES:
        shutil.copytree(root / package, stage / package, ignore=_ignore_for(chapter))
    for folder in ("solutions", "chapters"):
        shutil.copytree(root / folder / chapter, stage / folder / chapter, ignore=_ignore_for(chapter))
    for name in TOP_FILES:
        shutil.copy2(root / name, stage / name)
    (stage / "nbgrader_config.py").write_text(clean_nbgrader_config((root / "nbgrader_config.py").read_text()))


def clean_nbgrader_config(text: str) -> str:
    """The course's ``nbgrader_config.py`` with only what the bundle needs: its docstring,
    comments, ``c = get_config()`` and the settings of ``NBGRADER_KEPT`` that name no local
    place (``NBGRADER_LOCAL``, or an absolute or home path). Every other statement — an
    exchange path, a gradebook URL, an import, anything unknown — is cut out, line by line;
    a configuration with none of them is kept byte for byte (the reference answers' key
    depends on it)."""
    import ast
    drop: set[int] = set()
    body = ast.parse(text).body
    for node in body:
        if not _kept_setting(node, first=node is body[0]):
            drop.update(range(node.lineno, node.end_lineno + 1))
    lines = text.splitlines(keepends=True)
    return "".join(line for number, line in enumerate(lines, 1) if number not in drop)


def _kept_setting(node, first: bool) -> bool:
    import ast
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and first:
        return True  # the docstring
    if isinstance(node, ast.Import) and [a.name for a in node.names] == ["os"]:
        return True  # the course's own (its root is the folder of the file, not a local path)
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return False
    target = node.targets[0]
    if isinstance(target, ast.Name):
        return target.id == "c" and isinstance(node.value, ast.Call) \
            and getattr(node.value.func, "id", "") == "get_config"
    local = [v.value for v in ast.walk(node.value) if isinstance(v, ast.Constant) and isinstance(v.value, str)
             and v.value.startswith(("/", "~"))]
    return (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)
            and isinstance(target.value.value, ast.Name) and target.value.value.id == "c"
            and target.value.attr in NBGRADER_KEPT and not local
            and not any(word in target.attr.lower() for word in NBGRADER_LOCAL))


def _copy_references(chapter: str, stage: Path, seed: int | None) -> None:
    """The chapter's reference answers on the CPU (Gradescope's device), computed here once
    (or taken from this course's reference cache), so that no submission computes them."""
    grader = Grader(load_chapter(chapter), device="cpu", **({"seed": seed} if seed is not None else {}))
    folder = grader.prepare_references()
    shutil.copytree(folder, stage / folder.relative_to(paths.course_root()))


def _ignore_for(chapter: str):
    """Caches, checkpoints, and every other chapter's checks module."""
    own = f"ch{chapter}.py"

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in ("__pycache__", ".ipynb_checkpoints") or n.endswith(".pyc")}
        if Path(folder).name == "checks":
            skip |= {n for n in names if n.startswith("ch") and n.endswith(".py") and n != own}
        return skip
    return ignore


def _write_scripts(chapter: str, stage: Path) -> None:
    flag = "1" if uses_fashion_mnist(chapter) else "0"
    for name in SCRIPTS:
        text = (TEMPLATES / name).read_text().replace("@FASHION_MNIST@", flag)
        (stage / name).write_text(text)
        os.chmod(stage / name, 0o755)


def uses_fashion_mnist(chapter: str) -> bool:
    """Whether grading the chapter reads Fashion-MNIST (its reference or its checks do)."""
    root = paths.course_root()
    sources = [paths.solutions_notebook(chapter), root / "autograder" / "checks" / f"ch{chapter}.py"]
    return any("fashion_mnist" in p.read_text() for p in sources if p.is_file())


def _zip(stage: Path, target: Path) -> Path:
    """Zip the files of ``stage`` at the archive's root (as Gradescope wants), modes kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(stage).as_posix())
    os.replace(tmp, target)
    return target


# -- the run inside Gradescope ------------------------------------------------------------
def main() -> int:
    """Grade ``$GRADESCOPE_ROOT/submission`` and publish ``results/results.json``; 0 once published."""
    root = Path(os.environ.get("GRADESCOPE_ROOT") or DEFAULT_ROOT)
    start = time.monotonic()
    write_pending(root, stopped_json())
    try:
        results = grade_root(root)
    except sandbox.Refused as e:
        print(e)
        results = failure_json(str(e))
    except Exception as e:  # noqa: BLE001  Gradescope needs a results.json whatever happens
        traceback.print_exc()
        results = failure_json("The autograder could not grade this submission "
                               f"({type(e).__name__}); your instructor can see why in its log.")
    results["execution_time"] = round(time.monotonic() - start)
    results = with_isolation(results)
    write_pending(root, results)
    publish(root)
    print(f"score {results['score']:g}; wrote {root}/results/results.json")
    return 0


def stopped_json() -> dict:
    """The result published when the grader is killed before it finishes."""
    return with_isolation(failure_json(
        "The autograder stopped before it finished grading this submission (it was killed, "
        "or the machine ran out of memory or time): 0 points. Your instructor can see why in its log."))


def with_isolation(results: dict) -> dict:
    """``results`` with the isolation student code ran under, in the output and extra_data."""
    try:
        where = sandbox.describe()
    except Exception as e:  # noqa: BLE001  never lose a result to this line
        where = f"unknown ({type(e).__name__})"
    output = results.get("output", "")
    return {**results, "output": f"{output}\n\nIsolation: {where}." if output else f"Isolation: {where}.",
            "extra_data": {**results.get("extra_data", {}), "isolation": where}}


def write_pending(root: Path, results: dict) -> None:
    """Keep ``results`` in the root-only ``PENDING`` folder (atomically)."""
    (root / PENDING).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root / PENDING, 0o700)
    atomic_write(root / PENDING / "results.json", json.dumps(results, indent=1))


def publish(root: Path) -> None:
    """Move the pending result into ``results/results.json`` (atomically: a reader sees the
    old file or the new one)."""
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    atomic_write(results / "results.json", (root / PENDING / "results.json").read_bytes())


def grade_root(root: Path) -> dict:
    """Grade the notebook in ``root/submission`` as ``root/source/gradescope.json`` says."""
    config = json.loads((root / "source" / CONFIG).read_text())
    make_private(root)
    if config.get("allow_unsandboxed"):
        os.environ[sandbox.ALLOW_ENV] = "1"
    sandbox.check()
    write_pending(root, stopped_json())  # now naming the isolation the job will run under
    with tempfile.TemporaryDirectory(prefix="submission-") as scratch:
        path, note = pick_notebook(root / "submission", config["chapter"], Path(scratch))
        print(note.replace("`", ""))
        sub = grade_notebook(path, config)
    return results_json(sub, note, config.get("visibility", "visible"))


def make_private(root: Path) -> None:
    """Make ``PRIVATE`` readable by their owner only, the bundle's code writable by its owner
    only; create the results folder."""
    (root / "results").mkdir(parents=True, exist_ok=True)
    for name in PRIVATE:
        path = root / name
        if path.exists() and not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
    for folder, dirs, files in os.walk(root / "source"):
        for name in [".", *dirs, *files]:
            path = Path(folder, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                if mode & 0o022:
                    os.chmod(path, mode & ~0o022)


def submitted_notebooks(folder: Path) -> list[Path]:
    """Every ``.ipynb`` file under ``folder``, shallowest first, then alphabetically.

    Skipped as in a class folder (submissions.py): names starting with ``.`` (checkpoints)
    and ``submissions.IGNORED`` (``__MACOSX``…); and symbolic links, which could point the
    trusted grader at a file that is not the student's.
    """
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*.ipynb")
             if p.is_file() and not p.is_symlink() and p.resolve().is_relative_to(folder.resolve())
             and not any(part.startswith(".") or part in submissions.IGNORED
                         for part in p.relative_to(folder).parts)]
    return sorted(found, key=lambda p: (len(p.relative_to(folder).parts), p.relative_to(folder).as_posix()))


def pick_notebook(folder: Path, chapter: str, scratch: Path) -> tuple[Path | None, str]:
    """The notebook to grade, by the batch grader's rule (``submissions.pick_notebook``:
    one with answers written before a stub, then the exact name, …), and a sentence for the
    student saying which one and why.

    Every notebook under ``folder`` is copied into ``scratch/<chapter>/`` (of several with
    one name, the shallowest), where the rule picks one; that copy is graded. None when
    there is no notebook at all.
    """
    found = submitted_notebooks(folder)
    if not found:
        return None, (f"No notebook (`.ipynb` file) was found in your submission. "
                      f"Upload the chapter's notebook, `{chapter}.ipynb`.")
    lineup = scratch / chapter
    lineup.mkdir()
    origin: dict[str, Path] = {}
    for path in found:
        if path.name not in origin:
            origin[path.name] = path
            shutil.copy2(path, lineup / path.name)
    sub, why = submissions.pick_notebook(lineup, STUDENT)
    if sub is None:  # every notebook refused (over the size limit)
        return None, f"No notebook could be graded: {why}."
    parts = [f"Graded `{origin[sub.path.name].relative_to(folder).as_posix()}`."]
    if sub.note:
        parts.append(f"{sub.note}.")
    shadowed = [p.relative_to(folder).as_posix() for p in found if origin[p.name] != p]
    if shadowed:
        parts.append(f"Not graded either, as a notebook of the same name lies nearer the top: "
                     f"{', '.join(shadowed)}.")
    return sub.path, " ".join(parts)


def grade_notebook(path: Path | None, config: dict) -> SubmissionResult:
    """Grade one notebook with the chapter's Grader on one warm sandboxed Worker.

    With no notebook, every check scores zero with the reason (no harness is started).
    """
    device = pick_device(config.get("device", "auto"))
    seed = {"seed": config["seed"]} if config.get("seed") is not None else {}
    grader = Grader(load_chapter(config["chapter"]), device=device,
                    limits=Limits(**config.get("limits", {})), **seed)
    if path is None:  # the Grader's own "cannot read" result, from a folder with no file in it
        with tempfile.TemporaryDirectory() as empty:
            return grader.grade(Path(empty) / f"{config['chapter']}.ipynb", STUDENT)
    with Worker(device, preload=preload_for([config["chapter"]])) as worker:
        return grader.grade(path, STUDENT, worker=worker)


if __name__ == "__main__":
    raise SystemExit(main())
