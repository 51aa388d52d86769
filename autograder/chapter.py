"""A chapter's checks and its reference solution, loaded from ``solutions/``."""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

from autograder import notebooks, paths
from autograder.spec import Check, Exercise


@dataclass(frozen=True)
class Chapter:
    """One nbgrader assignment: its slug, its exercises and its notebooks."""
    slug: str
    exercises: tuple[Exercise, ...]

    @property
    def checks_module(self) -> str:
        return check_module_name(self.slug)

    @property
    def max_score(self) -> float:
        return sum(e.points for e in self.exercises)

    def exercise(self, name: str) -> Exercise:
        for ex in self.exercises:
            if ex.name == name:
                return ex
        raise KeyError(f"chapter {self.slug} has no exercise {name!r}")

    def functions(self) -> list[str]:
        """Every function the chapter's exercises grade, in the chapter's order."""
        return [name for ex in self.exercises for name in ex.own]

    def check(self, exercise: str, name: str) -> Check:
        return next(c for c in self.exercise(exercise).checks if c.name == name)

    def release(self) -> dict:
        """The released notebook (``chapters/``): the source of setup and locked cells."""
        return notebooks.read_notebook(paths.release_notebook(self.slug))


def check_module_name(slug: str) -> str:
    """``05_linear_regression_scratch`` → ``autograder.checks.ch05_linear_regression_scratch``."""
    return f"autograder.checks.ch{slug}"


@functools.lru_cache(maxsize=None)
def load_chapter(slug: str) -> Chapter:
    """The chapter's checks, from ``autograder/checks/ch<slug>.py``.

    Raises:
        KeyError: there are no checks for this chapter.
    """
    try:
        module = importlib.import_module(check_module_name(slug))
    except ModuleNotFoundError:
        raise KeyError(f"no checks for chapter {slug!r}; known: {', '.join(graded_chapters())}") from None
    return Chapter(slug, tuple(module.EXERCISES))


def graded_chapters() -> list[str]:
    """Chapters that have a solutions notebook and a checks module."""
    out = []
    for slug in paths.chapters():
        try:
            importlib.import_module(check_module_name(slug))
        except ModuleNotFoundError:
            continue
        out.append(slug)
    return out


@functools.lru_cache(maxsize=None)
def reference_namespace(slug: str) -> dict[str, Any]:
    """The solutions' namespace (:func:`build_reference_namespace`), built once per process."""
    return build_reference_namespace(slug)


def build_reference_namespace(slug: str, replace: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the solutions notebook's setup and solution cells; return their namespace.

    Trusted: runs in the grader, never in the harness.

    Args:
        replace: grade_id → source run instead of that solution cell (for calibrating
            checks against other implementations; the other functions see it, as in a
            student's notebook).
    """
    nb = notebooks.read_notebook(paths.solutions_notebook(slug))
    ns: dict[str, Any] = {"__name__": "__reference__"}
    program = notebooks.build_program(nb, nb)
    replace = dict(replace or {})
    for label, src in program.cells:
        if label.startswith(notebooks.SETUP_TAG) or label in program.found:
            src = replace.pop(label, src)
            exec(compile(src, f"<solutions/{slug}: {label}>", "exec"), ns)
    for label, src in replace.items():  # cells of no solution's name: run after them all
        exec(compile(src, f"<replacing {label}>", "exec"), ns)
    return ns
