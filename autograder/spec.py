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
        message = "all checks passed" if not failed else "; ".join(
            dict.fromkeys(r.message for r in failed))
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


def standin_note(names: list[str]) -> str:
    """The feedback's line about stand-ins: ``graded with a working `accuracy`, since yours
    did not pass its own checks``."""
    listed = " and ".join(f"`{n}`" for n in names)
    return (f"graded with a working {listed}, since yours did not pass "
            f"{'its' if len(names) == 1 else 'their'} own checks")
