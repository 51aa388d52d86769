"""Results made safe to write, and a submission that cannot stop the batch.

Everything in a result that came from a submission — messages (an exception's text), what
its code printed, file names, a check's detail (the curves of a training check) — is cleaned
here, where the batch takes a result (:func:`clean_result`): a lone surrogate or a NUL
becomes U+FFFD (so every writer can encode it as UTF-8), a number that is not finite becomes
``None`` (results.json stays JSON), a complex number or any other object becomes ``None``
too (a curve value must be a real number), and a detail nested deeper than
``MAX_DEPTH`` or longer than ``MAX_ITEMS`` is cut there.

:func:`grade_safely` is the last net (DESIGN.md §2: nothing from a submission stops the
batch): an exception that escapes the grader on one submission gives that submission a
result that says so, scoring zero, instead of stopping the class. Such a result is not
kept for a re-run (:func:`is_grader_failure`): the next run grades it again.

Imports no PyTorch at module level.
"""
from __future__ import annotations

import dataclasses
import math
import re
import time
import traceback
from typing import Any

MAX_DEPTH = 12  # nesting of a check's detail kept
MAX_ITEMS = 100_000  # entries of one list or dict in a detail kept
MAX_TEXT = 100_000  # characters of one string kept
GRADER_FAILED = "the grader failed on this submission"
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: Any) -> str:
    """``text`` as a string every writer can encode: lone surrogates and NUL become U+FFFD."""
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # noqa: BLE001  a hostile __str__
            text = "<unprintable>"
    return _UNSAFE.sub("\ufffd", text[:MAX_TEXT])


def clean_data(value: Any, depth: int = 0) -> Any:
    """A check's detail as plain JSON data: strings cleaned, numbers finite and real (else
    None), lists and dicts bounded; anything else None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, (list, tuple)):
        return [clean_data(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {clean_text(k): clean_data(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    return None  # complex numbers, tensors, objects: not a value a report can show


def _clean_check(check):
    return dataclasses.replace(
        check, exercise=clean_text(check.exercise), check=clean_text(check.check),
        message=clean_text(check.message), status=clean_text(check.status),
        score=_finite(check.score), max_score=_finite(check.max_score),
        detail=clean_data(dict(check.detail)) if isinstance(check.detail, dict) else {},
        standins=tuple(clean_text(s) for s in check.standins))


def _clean_exercise(ex):
    return dataclasses.replace(
        ex, exercise=clean_text(ex.exercise), message=clean_text(ex.message), status=clean_text(ex.status),
        note=clean_text(ex.note), score=_finite(ex.score), max_score=_finite(ex.max_score),
        checks=tuple(_clean_check(c) for c in ex.checks))


def _finite(x: Any) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def clean_result(result):
    """A SubmissionResult whose every string, number and detail any output format can write."""
    text = {f: clean_text(getattr(result, f)) for f in
            ("student_id", "chapter", "notebook_sha256", "student_output", "notebook", "note",
             "duedate", "timestamp")}
    return dataclasses.replace(
        result, **text, error=None if result.error is None else clean_text(result.error),
        exercises=tuple(_clean_exercise(e) for e in result.exercises),
        seconds=_finite(result.seconds), seconds_late=_finite(result.seconds_late),
        late_penalty=_finite(result.late_penalty),
        timings={clean_text(k): _finite(v) for k, v in dict(result.timings or {}).items()})


def grade_safely(grader, path, student_id: str, **kwargs):
    """``grader.grade(path, student_id, **kwargs)``, cleaned; an exception there (a fault
    this submission found in the grader) gives a result scoring zero that says so."""
    start = time.monotonic()
    try:
        return clean_result(grader.grade(path, student_id, **kwargs))
    except Exception as e:  # noqa: BLE001  the batch goes on; the result names the fault
        last = traceback.extract_tb(e.__traceback__)[-1:]
        where = f" in {last[0].name}" if last else ""
        why = (f"{GRADER_FAILED} ({type(e).__name__}{where}: {clean_text(e)[:300]}); it is graded "
               "again on the next run — report it to the course staff if it persists")
        return clean_result(grader._unreadable(student_id, why, start))


def is_grader_failure(result) -> bool:
    """Whether ``result`` is :func:`grade_safely`'s stand-in for a grade (not to be kept)."""
    return bool(result.error) and result.error.startswith(GRADER_FAILED)
