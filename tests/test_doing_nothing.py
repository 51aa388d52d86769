"""No points for doing nothing (DESIGN.md §3): in every chapter, a submission whose functions
do nothing — return None, or return their first argument — scores zero on every exercise.
A check that such code passes (an "in place" check, a "no gradients recorded" check) is a
guard: it is awarded only with a check that proves the function works."""
import pytest

from autograder.chapter import graded_chapters
from tests.corpus import assert_case, doing_nothing_cases, grade_corpus


@pytest.mark.parametrize("chapter", graded_chapters())
def test_doing_nothing_scores_zero(chapter, tmp_path):
    cases = doing_nothing_cases(chapter)
    results = grade_corpus(chapter, cases, tmp_path)
    for case in cases:
        assert_case(chapter, results[case.name], case)
