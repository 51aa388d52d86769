"""The instructor guide's table of exercises, points and requirement rows is the checks
modules' own: every number it quotes is read back from them here."""
import importlib
import re

from autograder import paths
from autograder.chapter import graded_chapters, load_chapter


def _table() -> dict[str, tuple[str, str, str]]:
    text = (paths.course_root() / "book" / "instructor_guide.md").read_text()
    return {m[1]: (m[2], m[3], m[4]) for m in re.finditer(r"^\| (\d\d) \| (.+) \| ([\d.]+) \| (\d+) \|$", text, re.M)}


def test_the_guides_exercise_table_is_the_checks_modules():
    table, total = _table(), 0
    assert set(table) == {c[:2] for c in graded_chapters()}, "one row per chapter"
    for chapter in graded_chapters():
        ch = load_chapter(chapter)
        rows = len(importlib.import_module(ch.checks_module).REQUIREMENTS)
        exercises, points, count = table[chapter[:2]]
        listed = re.findall(r"`?(\w+)`? \(([\d.]+)\)", exercises)
        assert [(n, float(p)) for n, p in listed] == [(e.name, e.points) for e in ch.exercises], chapter
        assert float(points) == sum(e.points for e in ch.exercises), chapter
        assert int(count) == rows, chapter
        total += rows
    text = (paths.course_root() / "book" / "instructor_guide.md").read_text()
    assert f"(9 chapters, {total} rows)" in text
