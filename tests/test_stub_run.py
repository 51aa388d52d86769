"""A stub leaves the chapter readable: every released chapter, run top to bottom with nothing
written (as a student who opens it and presses "Run All"), fails only in its self-check
cells — each naming its own exercise as not written yet — and nowhere else: narrative cells
that need an unfinished exercise print one line ("finish `X` first") instead of a traceback,
and do nothing heavy."""
import pytest

from autograder import notebooks
from course.release import chapters
from tests.kernel import chapter_cells, run


@pytest.mark.parametrize("chapter", chapters())
def test_only_selfchecks_fail_on_stubs(chapter, tmp_path):
    cells = [(label, notebooks.source(cell)) for label, cell in chapter_cells(chapter)]
    ran = run(cells, tmp_path)
    failed = {r.label: r.error for r in ran if r.error}
    others = {label: error for label, error in failed.items() if not label.startswith("check_")}
    assert not others, f"{chapter}: cells other than self-checks failed on the stubs: {others}"
    for label, error in failed.items():
        exercise = label[len("check_"):]
        assert exercise in error and "not written yet" in error, \
            f"{chapter}: {label} should say that {exercise} is not written yet, said: {error}"
    checks = [label for label, _ in cells if label.startswith("check_")]
    assert sorted(failed) == sorted(checks), f"{chapter}: self-checks that passed on a stub: " \
                                             f"{sorted(set(checks) - set(failed))}"
    skipped = [r for r in ran if "finish it first" in r.text]
    assert all(len(r.text.strip().splitlines()) == 1 for r in skipped)
