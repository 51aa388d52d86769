"""chapters/ is generated from solutions/ and in sync with it; notebooks follow the conventions."""
import json

import nbformat
import pytest

from autograder import notebooks, paths
from autograder.chapter import graded_chapters, load_chapter
from course import release

CHAPTERS = release.chapters()


def test_every_chapter_is_released_and_graded():
    assert CHAPTERS, "no chapters in solutions/"
    for ch in CHAPTERS:
        assert paths.release_notebook(ch).is_file(), f"{ch} is not released: run ./run.sh release {ch}"
    assert graded_chapters() == CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapters_in_sync_with_solutions(chapter, tmp_path):
    """Regenerate with nbgrader and compare every cell's source and metadata."""
    fresh = nbformat.read(release.generate(chapter, tmp_path), as_version=4)
    committed = nbformat.read(paths.release_notebook(chapter), as_version=4)
    assert len(fresh.cells) == len(committed.cells), f"{chapter}: cell count differs; run ./run.sh release {chapter}"
    for i, (a, b) in enumerate(zip(fresh.cells, committed.cells)):
        assert (a.cell_type, a.source) == (b.cell_type, b.source), \
            f"{chapter}: cell {i} differs from solutions/; run ./run.sh release {chapter}"
        assert a.metadata == b.metadata, f"{chapter}: cell {i} metadata differs; run ./run.sh release {chapter}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_outputs_only_on_narrative_cells(chapter):
    nb = nbformat.read(paths.release_notebook(chapter), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        if not release.is_narrative(cell):
            assert not cell.outputs, f"{chapter}: a solution/check/test cell carries output"
    assert any(c.outputs for c in code if release.is_narrative(c)), f"{chapter}: no stored outputs"
    assert not any(e.get("ename") for c in code for e in c.outputs), f"{chapter}: an output is an error"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_committed_clean(chapter):
    nb = json.loads(paths.solutions_notebook(chapter).read_text())
    for cell in nb["cells"]:
        assert cell.get("id"), f"{chapter}: a cell has no id"
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, \
                f"{chapter}: solutions are committed without outputs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_matches_its_checks(chapter):
    """Each exercise: a solution cell per function, a self-check, a hidden test cell whose
    points equal the checks' points; and no test cell without an exercise."""
    nb = notebooks.read_notebook(paths.solutions_notebook(chapter))
    cells = {notebooks.grade_id(c): c for c in notebooks.code_cells(nb) if notebooks.grade_id(c)}
    assert notebooks.setup_sources(nb), f"{chapter}: no cell tagged 'setup'"
    exercises = load_chapter(chapter).exercises
    for ex in exercises:
        for fn in ex.own + ex.uses:
            assert notebooks.is_solution(cells.get(fn, {})), f"{chapter}: no solution cell {fn!r}"
            assert f"check_{fn}" in cells, f"{chapter}: no self-check cell for {fn!r}"
        test = cells.get(f"test_{ex.name}")
        assert test is not None, f"{chapter}: no hidden test cell test_{ex.name}"
        points = test["metadata"]["nbgrader"]["points"]
        assert points == ex.points, f"{chapter}: test_{ex.name} is worth {points}, its checks {ex.points}"
        assert f"grade({chapter!r}, {ex.name!r}, globals())" in notebooks.source(test)
    graded = {gid for gid, c in cells.items() if c["metadata"]["nbgrader"].get("grade")}
    assert graded == {f"test_{ex.name}" for ex in exercises}
