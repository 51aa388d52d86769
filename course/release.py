"""The release command: ``python -m course.release [CHAPTER ...|all] [--fast]``.

For each chapter, in this order (each step needs the one before):

1. execute ``solutions/CH/CH.ipynb`` top to bottom in a scratch copy — a failing cell
   fails the command, naming the cell;
2. ``nbgrader generate_assignment CH --force``: solution cells → stubs, hidden tests
   removed, checksums recorded, into ``chapters/CH/``;
3. copy the outputs of narrative cells (no nbgrader metadata) from the executed notebook
   into the generated one, so the book and the student see the expected output; solution,
   self-check and test cells carry none. A figure without a description (its cell's
   ``mystnb.image.alt``, see tools/nbauthor.py) fails the release; the cell metadata,
   description included, is kept in ``chapters/``;
4. record the assignment, its notebook and its cells in the course's gradebook (as
   ``nbgrader generate_assignment`` does with a database), so that ``nbgrader autograde``
   and formgrader work on a fresh gradebook — also for a chapter that was up to date, when
   the gradebook lacks it or holds other cells (``--no-db`` skips this step). Step 2 runs
   with ``--no-db``: a gradebook that refuses the chapter (nbgrader will not add or remove
   cells of a notebook with submissions) must not stop its release.

A chapter whose inputs have not changed is not released again (``--no-cache`` forces it).
Its inputs are hashed into a *release key* (:func:`release_key`): the files of
``solutions/CH/``, the ``course`` modules its code imports (transitively), its checks module
in ``autograder/checks/``, the pinned packages, nbgrader's configuration and
``RELEASE_FORMAT``. The released notebook carries the key it was made from in its metadata
(``course_release.key``), so a clean clone whose committed chapters are current executes
nothing and rewrites nothing; and each executed notebook is kept under ``release-cache/``
(ignored by git), so going back to inputs released before needs no execution either.
The key leaves out the machine (timings in the outputs vary with it) and the grading
machinery beyond the chapter's checks (the test suite runs the solutions against it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR_NAME = "release-cache"
CACHE_KEEP = 4  # executed notebooks kept per chapter
# Bump when generate/merge change what a released notebook looks like: every chapter is
# then released again.
RELEASE_FORMAT = "1"
# Files whose content every chapter's release depends on, relative to ROOT.
SHARED_INPUTS = ("constraints.txt", "requirements.txt", "nbgrader_config.py",
                 "course/__init__.py", "course/config.py", "autograder/checks/common.py")
_IMPORT = re.compile(r"^\s*(?:from\s+(course(?:\.\w+)*)\s+import\s+([\w ,()]+)"
                     r"|import\s+(course(?:\.\w+)*))", re.M)


class ReleaseError(RuntimeError):
    """A chapter could not be released; the message names the cell or step."""


def chapters() -> list[str]:
    """All chapters in ``solutions/``, in order."""
    return sorted(p.name for p in (ROOT / "solutions").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


def execute(chapter: str, fast: bool = False, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute the solutions notebook in a scratch copy of its folder; return it with outputs.

    Raises:
        ReleaseError: naming the first cell that failed.
    """
    src_dir = ROOT / "solutions" / chapter
    nb = nbformat.read(src_dir / f"{chapter}.ipynb", as_version=4)
    env = {**os.environ, "COURSE_FAST": "1" if fast else "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    with tempfile.TemporaryDirectory(prefix=f"release-{chapter}-") as tmp:
        shutil.copytree(src_dir, tmp, dirs_exist_ok=True)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        old_env = dict(os.environ)
        os.environ.update(env)
        try:
            client.execute()
        except CellExecutionError as e:
            raise ReleaseError(f"{chapter}: {failing_cell(nb)}\n{str(e)[-2000:]}") from None
        finally:
            os.environ.clear()
            os.environ.update(old_env)
    return nb


def failing_cell(nb: nbformat.NotebookNode) -> str:
    """Describe the first cell whose outputs hold an error."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                label = f"cell {i} (id {cell.get('id')}" + (f", grade_id {gid})" if gid else ")")
                return f"{label} failed with {out.get('ename')}: {out.get('evalue')}"
    return "a cell failed"


def generate(chapter: str, release_dir: Path) -> Path:
    """Run ``nbgrader generate_assignment`` into ``release_dir``; return the notebook path."""
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe), "generate_assignment", chapter, "--force", "--no-db",
           f"--CourseDirectory.release_directory={release_dir}", "--log-level=WARN"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    out = Path(release_dir) / chapter / f"{chapter}.ipynb"
    if proc.returncode != 0 or not out.is_file():
        raise ReleaseError(f"{chapter}: nbgrader generate_assignment failed:\n{proc.stdout}{proc.stderr}")
    return out


def is_narrative(cell) -> bool:
    """A code cell that is not a solution, self-check, setup or test cell."""
    return cell.cell_type == "code" and not cell.metadata.get("nbgrader")


def merge_outputs(generated: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Copy the executed notebook's outputs into the generated one's narrative cells."""
    if len(generated.cells) != len(executed.cells):
        raise ReleaseError("nbgrader changed the number of cells; cannot match outputs")
    for gen, ran in zip(generated.cells, executed.cells):
        if gen.cell_type != "code":
            continue
        gen.execution_count = None
        gen.outputs = [strip_count(o) for o in ran.outputs] if is_narrative(gen) else []
        if is_narrative(gen) and "mystnb" in ran.metadata:  # the figure's description
            gen.metadata["mystnb"] = ran.metadata["mystnb"]
    return generated


def strip_count(output):
    if "execution_count" in output:
        output["execution_count"] = None
    return output


def figure_cells(nb: nbformat.NotebookNode) -> list:
    """The code cells whose outputs hold an image (a figure)."""
    return [cell for cell in nb.cells if cell.cell_type == "code"
            and any(k.startswith("image/") for o in cell.get("outputs", []) for k in o.get("data", {}))]


def figure_description(cell) -> str:
    """The description (alt text) of the figure a cell draws, or "" (tools/nbauthor.describe)."""
    image = (cell.metadata.get("mystnb") or {}).get("image") or {}
    return str(image.get("alt") or "").strip()


def check_figure_descriptions(chapter: str, nb: nbformat.NotebookNode) -> None:
    """Every figure must be described for a reader who cannot see it.

    Raises:
        ReleaseError: naming each cell whose figure has no description.
    """
    bare = [f"cell {nb.cells.index(c)} (id {c.get('id')})" for c in figure_cells(nb)
            if not figure_description(c)]
    if bare:
        raise ReleaseError(
            f"{chapter}: {len(bare)} figure(s) without a description: {', '.join(bare)}. "
            "Describe each (what it shows, the point it makes) in the cell's metadata with "
            "tools/nbauthor.py's describe(cell, alt, caption) (myst-nb's mystnb.image.alt).")


def hidden_test_scores(nb: nbformat.NotebookNode) -> dict[str, tuple[float, float]]:
    """Points earned and possible per graded test cell of an executed notebook."""
    from nbgrader.utils import determine_grade
    return {cell.metadata.nbgrader["grade_id"]: determine_grade(cell)
            for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}


def check_full_marks(chapter: str, nb: nbformat.NotebookNode) -> None:
    """The solutions must earn every point of their own hidden tests.

    Raises:
        ReleaseError: naming each test cell that lost points.
    """
    lost = {gid: (got, out_of) for gid, (got, out_of) in hidden_test_scores(nb).items()
            if got is None or got < out_of}
    if lost:
        cells = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader")}
        lines = [f"{gid}: {got}/{out_of}\n" + "".join(o.get("text", "") for o in cells[gid].outputs)
                 for gid, (got, out_of) in lost.items()]
        raise ReleaseError(f"{chapter}: the solutions lose points in their own hidden tests:\n"
                           + "\n".join(lines))


def release(chapter: str, fast: bool = False) -> Path:
    """Execute, generate and merge one chapter into ``chapters/``; return the notebook path.

    Always executes; the executed notebook is stored in the cache and the result stamped
    with its release key (see :func:`update` for the cached path).
    """
    key = release_key(chapter, fast=fast)
    executed = execute(chapter, fast=fast)
    check_full_marks(chapter, executed)
    store_executed(chapter, key, executed)
    return publish(chapter, key, executed)


def publish(chapter: str, key: str, executed: nbformat.NotebookNode) -> Path:
    """Generate ``chapters/CH`` and merge ``executed``'s outputs into it, stamped with ``key``."""
    check_figure_descriptions(chapter, executed)
    out = generate(chapter, ROOT / "chapters")
    merged = merge_outputs(nbformat.read(out, as_version=4), executed)
    merged.metadata["course_release"] = {"key": key}
    nbformat.write(merged, out)
    return out


def update(chapter: str, fast: bool = False, cache: bool = True) -> tuple[Path, str]:
    """Release one chapter unless it is current; return its path and what was done.

    Args:
        chapter: the chapter's slug.
        fast: execute in fast mode (a different key: never mistaken for a real release).
        cache: use the stamp and the cache; False executes as :func:`release` does.

    Returns:
        ``(path, action)``, action being ``"up to date"`` (nothing written), ``"from cache"``
        (generated again from a stored execution) or ``"executed"``.
    """
    if not cache:
        return release(chapter, fast=fast), "executed"
    key = release_key(chapter, fast=fast)
    out = ROOT / "chapters" / chapter / f"{chapter}.ipynb"
    if stamped_key(out) == key:
        return out, "up to date"
    executed = load_executed(chapter, key)
    if executed is not None:
        return publish(chapter, key, executed), "from cache"
    return release(chapter, fast=fast), "executed"


def release_inputs(chapter: str) -> list[Path]:
    """Every file a chapter's release depends on, sorted (see the module docstring)."""
    folder = ROOT / "solutions" / chapter
    own = [p for p in folder.rglob("*") if p.is_file()
           and not {".ipynb_checkpoints", "__pycache__"} & set(p.relative_to(folder).parts)]
    checks = ROOT / "autograder" / "checks" / f"ch{chapter}.py"
    shared = [ROOT / name for name in SHARED_INPUTS] + ([checks] if checks.is_file() else [])
    return sorted(set(own) | set(shared) | course_modules(own), key=lambda p: str(p.relative_to(ROOT)))


def course_modules(files: list[Path]) -> set[Path]:
    """The ``course`` package's modules that ``files`` (notebooks or .py) import, transitively."""
    todo = [_code_text(p) for p in files if p.suffix in (".ipynb", ".py")]
    found: set[Path] = set()
    while todo:
        for match in _IMPORT.finditer(todo.pop()):
            module, names, plain = match.groups()
            parts = (module or plain).split(".")
            candidates = [parts] + [parts + [n.strip("() ")] for n in (names or "").split(",")]
            for dotted in candidates:
                path = ROOT.joinpath(*dotted).with_suffix(".py")
                if path.is_file() and path not in found:
                    found.add(path)
                    todo.append(path.read_text())
    return found


def _code_text(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text()
    nb = json.loads(path.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def release_key(chapter: str, fast: bool = False) -> str:
    """A hash of everything the chapter's release depends on; machine-independent."""
    digest = hashlib.sha256(f"format {RELEASE_FORMAT}\nchapter {chapter}\nfast {fast}\n".encode())
    for path in release_inputs(chapter):
        digest.update(f"{path.relative_to(ROOT).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def stamped_key(notebook: Path) -> str | None:
    """The release key a released notebook was made from (None if absent or unreadable)."""
    try:
        return json.loads(Path(notebook).read_text())["metadata"]["course_release"]["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cache_path(chapter: str, key: str) -> Path:
    """Where the executed notebook for ``key`` is kept."""
    return ROOT / CACHE_DIR_NAME / chapter / f"{key}.ipynb"


def store_executed(chapter: str, key: str, executed: nbformat.NotebookNode) -> None:
    """Keep an executed notebook under its key; drop the oldest beyond ``CACHE_KEEP``."""
    path = cache_path(chapter, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    nbformat.write(executed, tmp)
    tmp.replace(path)
    kept = sorted(path.parent.glob("*.ipynb"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


def load_executed(chapter: str, key: str) -> nbformat.NotebookNode | None:
    """The cached executed notebook for ``key``, or None."""
    path = cache_path(chapter, key)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None
    path.touch()  # recently used: kept longest
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", default=["all"], help="chapter slugs, or 'all'")
    parser.add_argument("--fast", action="store_true", help="execute in fast mode (not for publishing)")
    parser.add_argument("--no-cache", action="store_true",
                        help="execute every chapter named, even if its inputs are unchanged")
    parser.add_argument("--no-db", action="store_true",
                        help="do not record the chapters in the course's gradebook")
    args = parser.parse_args(argv)
    wanted = chapters() if "all" in args.chapters else args.chapters
    unknown = sorted(set(wanted) - set(chapters()))
    if unknown:
        parser.error(f"no such chapter(s): {', '.join(unknown)}; known: {', '.join(chapters())}")
    status = 0
    for chapter in wanted:
        start = time.monotonic()
        try:
            out, action = update(chapter, fast=args.fast, cache=not args.no_cache)
        except ReleaseError as e:
            print(f"release failed: {e}", file=sys.stderr)
            return 1
        ok, recorded = (True, "") if args.no_db else record_in_gradebook(chapter, force=action != "up to date")
        status = status if ok else 1
        print(f"{chapter}: {action} -> {out.relative_to(ROOT)}{recorded} "
              f"({time.monotonic() - start:.1f} s)", flush=True)
    return status


def record_in_gradebook(chapter: str, force: bool = False) -> tuple[bool, str]:
    """Step 4: the chapter in the course's gradebook. Returns whether it is there, and what
    was done for the output line (why not also on stderr, when nbgrader refused)."""
    from autograder.formats import gradebook
    db_url = gradebook.default_db_url()
    try:
        changed = gradebook.ensure_assignment(chapter, db_url, force=force)
    except gradebook.GradebookError as e:
        print(f"{chapter}: not recorded in the gradebook {db_url}: {e}", file=sys.stderr)
        return False, "; not recorded in the gradebook (see above)"
    return True, "; recorded in the gradebook" if changed else ""


if __name__ == "__main__":
    sys.exit(main())
