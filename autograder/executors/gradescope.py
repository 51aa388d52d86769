"""The Gradescope executor: an autograder bundle, and the run inside Gradescope's container.

``build_bundle`` writes ``OUT/<chapter>_gradescope.zip``, the zip Gradescope's "Configure
Autograder" page takes: ``setup.sh`` and ``run_autograder`` (from ``gradescope_files/``), the
``autograder`` package with only this chapter's checks, the ``course`` package, the chapter's
release (``chapters/``) and solutions (the reference), the pinned requirements, and
``gradescope.json`` (the chapter, device, seed, limits and test visibility it was built with).

``main`` is what ``run_autograder`` runs for each submission. Under ``$GRADESCOPE_ROOT``
(default ``/autograder``) it

1. makes the reference, the settings, the submission and the results folder readable by
   their owner only (root), so that a harness job running as a user id of its own cannot
   read them even where bubblewrap cannot make namespaces;
2. picks the notebook to grade in ``submission/`` by the batch grader's rule
   (:func:`pick_notebook`);
3. grades it with the chapter's :class:`~autograder.grader.Grader` on one warm sandboxed
   :class:`~autograder.runner.Worker` — the batch grader's "grade one submission" step,
   with the same harness, sandbox and checks;
4. writes ``results/results.json`` (``formats/gradescope.py``) — whatever happened, a valid
   one: a submission that cannot be graded scores zero with the reason.
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
from autograder.sandbox import PACKAGES

DEFAULT_ROOT = "/autograder"
CONFIG = "gradescope.json"
TEMPLATES = Path(__file__).with_name("gradescope_files")
SCRIPTS = ("setup.sh", "run_autograder")
TOP_FILES = ("requirements.txt", "constraints.txt", "pyproject.toml", "nbgrader_config.py")
STUDENT = "submission"  # the student id results carry (Gradescope knows who it is)
# Readable by root only while grading: the reference, the settings (the seed), the
# student's files and Gradescope's metadata about them, and where results are written.
PRIVATE = ("source/solutions", f"source/{CONFIG}", "submission", "submission_metadata.json", "results")
# The harness's limits: well inside Gradescope's default 10 minutes (starting and the
# reference's answers take the rest); memory: see the instructor guide (choose 2 GB).
DEFAULT_LIMITS = {"submission_seconds": 420.0, "memory_mb": 1024}


# -- the bundle ---------------------------------------------------------------------------
def build_bundle(chapter: str, out: Path, device: str = "auto", seed: int | None = None,
                 visibility: str = "visible", limits: dict | None = None) -> Path:
    """Write ``out/<chapter>_gradescope.zip``, Gradescope's autograder bundle for a chapter.

    Args:
        chapter: a graded chapter's slug.
        out: the folder to write the zip into (created if needed).
        device: ``auto``, ``cpu`` or ``cuda``, chosen when grading.
        seed: the seed the checks' inputs are drawn from (default: the course's).
        visibility: when students see the tests (one of ``VISIBILITIES``).
        limits: ``runner.Limits`` fields for the harness (default ``DEFAULT_LIMITS``).

    Returns:
        The zip's path.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}; got {visibility!r}")
    config = {"chapter": chapter, "device": device, "seed": seed, "visibility": visibility,
              "limits": {**DEFAULT_LIMITS, **(limits or {})}}
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
    """Grade ``$GRADESCOPE_ROOT/submission`` and write ``results/results.json``; always 0."""
    root = Path(os.environ.get("GRADESCOPE_ROOT") or DEFAULT_ROOT)
    start = time.monotonic()
    try:
        results = grade_root(root)
    except Exception as e:  # noqa: BLE001  Gradescope needs a results.json whatever happens
        traceback.print_exc()
        results = failure_json("The autograder could not grade this submission "
                               f"({type(e).__name__}); your instructor can see why in its log.")
    results["execution_time"] = round(time.monotonic() - start)
    atomic_write(root / "results" / "results.json", json.dumps(results, indent=1))
    print(f"score {results['score']:g}; wrote {root}/results/results.json")
    return 0


def grade_root(root: Path) -> dict:
    """Grade the notebook in ``root/submission`` as ``root/source/gradescope.json`` says."""
    config = json.loads((root / "source" / CONFIG).read_text())
    make_private(root)
    with tempfile.TemporaryDirectory(prefix="submission-") as scratch:
        path, note = pick_notebook(root / "submission", config["chapter"], Path(scratch))
        print(note.replace("`", ""))
        sub = grade_notebook(path, config)
    return results_json(sub, note, config.get("visibility", "visible"))


def make_private(root: Path) -> None:
    """Make ``PRIVATE`` readable by their owner only; create the results folder."""
    (root / "results").mkdir(parents=True, exist_ok=True)
    for name in PRIVATE:
        path = root / name
        if path.exists() and not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


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
