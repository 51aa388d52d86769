"""No points for doing nothing (DESIGN.md §3): in every chapter, submissions whose functions do
nothing — return None, or return their first argument — score zero on every exercise. A
check that such code passes (an "in place" check, a "no gradients recorded" check) is a
guard, awarded only with a check that proves the function works.

The submissions are graded in each chapter's own corpus batch (tests/test_chapter_NN.py,
where assert_case checks the zeros); this test makes sure no chapter leaves them out."""
import importlib

import pytest

from autograder.chapter import graded_chapters
from tests.corpus import doing_nothing_cases


@pytest.mark.parametrize("chapter", graded_chapters())
def test_every_chapter_grades_doing_nothing(chapter):
    module = importlib.import_module(f"tests.test_chapter_{chapter[:2]}")
    cases = {c.name: c for c in module.CASES}
    for nothing in doing_nothing_cases(chapter):
        assert nothing.name in cases, f"{chapter}: its corpus lacks the case {nothing.name}"
        assert cases[nothing.name].scores == nothing.scores, f"{chapter}: {nothing.name} must score 0 everywhere"
        assert cases[nothing.name].replace == nothing.replace
