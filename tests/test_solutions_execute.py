"""Every solutions notebook runs top to bottom (fast mode) and earns full marks in its own
hidden tests, through nbgrader's own scoring of the test cells."""
import pytest

from course import release


@pytest.mark.parametrize("chapter", release.chapters())
def test_solutions_run_clean_and_score_full_marks(chapter):
    nb = release.execute(chapter, fast=True)
    release.check_full_marks(chapter, nb)
    scores = release.hidden_test_scores(nb)
    assert scores and all(got == out_of for got, out_of in scores.values())
