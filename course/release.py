"""The release command: ``python -m course.release [CHAPTER ...|all] [--fast]``.

For each chapter, in this order (each step needs the one before):

1. execute ``solutions/CH/CH.ipynb`` top to bottom in a scratch copy — a failing cell
   fails the command, naming the cell;
2. ``nbgrader generate_assignment CH --force``: solution cells → stubs, hidden tests
   removed, checksums recorded, into ``chapters/CH/``;
3. copy the outputs of narrative cells (no nbgrader metadata) from the executed notebook
   into the generated one, so the book and the student see the expected output; solution,
   self-check and test cells carry none.
"""
from __future__ import annotations

import argparse
import os
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
    return generated


def strip_count(output):
    if "execution_count" in output:
        output["execution_count"] = None
    return output


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
    """Execute, generate and merge one chapter into ``chapters/``; return the notebook path."""
    executed = execute(chapter, fast=fast)
    check_full_marks(chapter, executed)
    out = generate(chapter, ROOT / "chapters")
    merged = merge_outputs(nbformat.read(out, as_version=4), executed)
    nbformat.write(merged, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", default=["all"], help="chapter slugs, or 'all'")
    parser.add_argument("--fast", action="store_true", help="execute in fast mode (not for publishing)")
    args = parser.parse_args(argv)
    wanted = chapters() if "all" in args.chapters else args.chapters
    unknown = sorted(set(wanted) - set(chapters()))
    if unknown:
        parser.error(f"no such chapter(s): {', '.join(unknown)}; known: {', '.join(chapters())}")
    for chapter in wanted:
        start = time.monotonic()
        try:
            out = release(chapter, fast=args.fast)
        except ReleaseError as e:
            print(f"release failed: {e}", file=sys.stderr)
            return 1
        print(f"released {chapter} -> {out.relative_to(ROOT)} ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
