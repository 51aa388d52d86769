"""What a check is, and what grading returns: small frozen dataclasses.

A :class:`Check` is data plus three small functions:

* ``make_inputs(gen)`` — draws fresh inputs in the trusted parent;
* ``probe(ns, inputs, ctx)`` — calls the functions found in namespace ``ns`` on those
  inputs and returns plain data (tensors, numbers, strings). It runs on the student's
  namespace in the harness child and on the reference namespace in the parent: the same
  code, so the two answers are comparable and no reference code is written twice;
* ``compare(got, want, inputs, tol)`` — raises :class:`CheckFailed` with a message a
  student can act on, or returns ``None``.

Policy checks have no probe: they read the solution cell's syntax tree (see policy.py).
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch


class CheckFailed(AssertionError):
    """Raised by a compare function: the message says what came back and what was expected."""


@dataclass
class Context:
    """What a probe may know: the device to run on, the seed the harness set, the call made.

    ``call`` is set by the probe just before it calls student code, so an exception can be
    reported with the call that raised it.
    """
    device: torch.device
    seed: int
    call: str = ""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) before a probe; student code never chooses."""
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Check:
    """One graded property of one exercise, worth ``points``."""
    name: str
    points: float
    description: str
    kind: str = "value"  # value | gradient | training | policy
    make_inputs: Callable[[torch.Generator], dict] | None = None
    probe: Callable[[Mapping[str, Any], dict, Context], dict] | None = None
    compare: Callable[..., None] | None = None
    rule: Callable[[Any], list[tuple[int, str]]] | None = None  # policy: AST -> offences
    tolerance: str = "value"  # a key of tolerances.TOLERANCES
    timeout: float = 20.0  # seconds of wall time for the probe in the harness
    reference_variants: int = 1  # training checks: reference runs over this many shuffles
    # A guard passes on code that does nothing (a no-op ``sgd`` changes nothing "in place"),
    # or rests on a verdict seen only in the student's process, where a replaced probe can
    # report anything ("updated in place", "a generator"): it is awarded only together with
    # a check of the same exercise that proves the function works (any passed check that is
    # neither a guard nor a policy, and compares values with the reference's).
    guard: bool = False
    # Checks of the same exercise that this one fails with whenever they fail (the same value,
    # compared again on other inputs): its failure is then reported once, under theirs.
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    """A graded unit: one test cell ``test_<name>`` in the notebook, worth the sum of its checks.

    ``functions`` are the solution cells (grade_id = function name) it grades: by default
    the one named like the exercise; ``()`` for an exercise with no code of its own (a
    training run built from earlier pieces). ``uses`` are other exercises' functions its
    checks call: when one of them failed its own checks, it stands in (grader.py).
    """
    name: str
    checks: tuple[Check, ...]
    functions: tuple[str, ...] | None = None
    uses: tuple[str, ...] = ()

    @property
    def points(self) -> float:
        return float(sum(c.points for c in self.checks))

    @property
    def own(self) -> tuple[str, ...]:
        """The solution cells this exercise grades."""
        return (self.name,) if self.functions is None else self.functions


@dataclass(frozen=True)
class Requirement:
    """One requirement an exercise's prompt states, and the checks that fail when it is broken.

    Each checks module keeps a table of these (``REQUIREMENTS``): every sentence of a prompt
    that asks for something (a shape, a dtype, an argument, in place, ``no_grad``, a
    generator, a forbidden function, no loops…) is a row, and the corpus tests hold, per
    row, a submission that breaks exactly that requirement and loses exactly these checks.

    Args:
        id: short and unique in the chapter, ``exercise.what`` (``data_iter.generator``).
        exercise: the exercise whose prompt states it.
        text: the requirement, as the prompt says it.
        checks: the hidden checks (of ``exercise``) that fail when it is broken.
        selfcheck: what the visible self-check tests of it ("" when it cannot be seen
            without the reference).
    """
    id: str
    exercise: str
    text: str
    checks: tuple[str, ...]
    selfcheck: str = ""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check for one student."""
    exercise: str
    check: str
    kind: str
    score: float
    max_score: float
    status: str  # passed | failed | error | timeout | crashed | missing
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)  # curves for training checks
    standins: tuple[str, ...] = ()  # functions that stood in for the student's in this check

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict) -> "CheckResult":
        return CheckResult(**{**data, "standins": tuple(data.get("standins", ()))})


@dataclass(frozen=True)
class ExerciseResult:
    """All checks of one exercise for one student, and the points they add up to."""
    exercise: str
    score: float
    max_score: float
    status: str
    message: str
    checks: tuple[CheckResult, ...]
    note: str = ""  # e.g. which of the student's functions were stood in for, and why

    @staticmethod
    def from_checks(exercise: Exercise, results: list[CheckResult]) -> "ExerciseResult":
        score = round(sum(r.score for r in results), 6)
        failed = [r for r in results if r.status != "passed"]
        status = "passed" if not failed else ("partial" if score > 0 else "failed")
        message = "all checks passed" if not failed else "; ".join(_reported(exercise, failed))
        stood = sorted({n for r in results for n in r.standins})
        note = standin_note(stood) if stood else ""
        return ExerciseResult(exercise.name, score, exercise.points, status,
                              f"{message} ({note})" if note else message, tuple(results), note)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict) -> "ExerciseResult":
        checks = tuple(CheckResult.from_json(c) for c in data["checks"])
        return ExerciseResult(**{**data, "checks": checks})


def _reported(exercise: Exercise, failed: list[CheckResult]) -> list[str]:
    """The failures' messages, each root cause once: a check that failed with the same message
    as an earlier one, or that depends on (``Check.depends_on``) a check that failed, is
    counted under it ("and 2 checks that depend on it") instead of repeated."""
    declared = {c.name: c.depends_on for c in exercise.checks}
    names = {r.check for r in failed}
    roots: dict[str, int] = {}  # message -> checks counted under it
    for r in failed:
        root = next((d for d in declared.get(r.check, ()) if d in names), None)
        message = next(f.message for f in failed if f.check == root) if root else r.message
        if message in roots:
            roots[message] += 1
        else:
            roots[message] = 0
    out = []
    for m, n in roots.items():
        first, newline, trace = m.partition("\n")  # after the first line, before a trace
        counted = "" if not n else " (and 1 check that depends on it)" if n == 1 else \
            f" (and {n} checks that depend on it)"
        out.append(first + counted + newline + trace)
    return out

@dataclass(frozen=True)
class SubmissionResult:
    """A student's results for one chapter."""
    student_id: str
    chapter: str
    exercises: tuple[ExerciseResult, ...]
    error: str | None = None  # the notebook could not be graded at all
    notebook_sha256: str = ""
    seconds: float = 0.0
    student_output: str = ""
    timings: dict = field(default_factory=dict)  # seconds per stage (benchmarks/profile.py)
    # Set by batch.py from the class folder (see submissions.py, lateness.py):
    notebook: str = ""  # the file graded, relative to the class folder
    note: str = ""  # what else its folder held and why this file was graded; timestamp problems
    duedate: str = ""  # the chapter's due date, ISO 8601 in UTC ("" if none)
    timestamp: str = ""  # when it was submitted (nbgrader's timestamp.txt), ISO 8601 in UTC
    seconds_late: float = 0.0  # after the due date and any extension
    late_penalty: float = 0.0  # points off the total for lateness

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 6)

    @property
    def final_score(self) -> float:
        """The score after the late penalty (``score`` in ``nbgrader export``)."""
        return round(self.score - self.late_penalty, 6)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "exercises": [e.to_json() for e in self.exercises]}

    @staticmethod
    def from_json(data: dict) -> "SubmissionResult":
        exercises = tuple(ExerciseResult.from_json(e) for e in data["exercises"])
        return SubmissionResult(**{**data, "exercises": exercises})


def standin_note(names: list[str]) -> str:
    """The feedback's line about stand-ins: ``graded with a working `accuracy`, since yours
    did not pass its own checks``."""
    listed = " and ".join(f"`{n}`" for n in names)
    return (f"graded with a working {listed}, since yours did not pass "
            f"{'its' if len(names) == 1 else 'their'} own checks")
