"""Gradescope's results.json for one submission (the autograder specification of the
``gradescope/autograder_samples`` repository, docs/specs.md).

One Gradescope test per check, numbered ``exercise.check`` in the chapter's order, with the
check's points; its output is the feedback page's message for it — what was called, what
came back, what was expected, where in the notebook it happened, the offending line of a
policy check — as Markdown. The top-level output says which notebook was graded and why,
and what the student's code printed. A check whose detail carries ``test_accuracy`` (chapter
09's training check) adds a leaderboard entry.
"""
from __future__ import annotations

import re

from autograder.formats.common import num
from autograder.formats.feedback import STATUS_WORDS, _policy_line, _split_trace
from autograder.grader import SubmissionResult
from autograder.spec import CheckResult

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
LEADERBOARD = {"test_accuracy": "Test accuracy"}  # check detail key -> leaderboard column
OUTPUT_TAIL = 1500  # characters of what the student's code printed, as on the feedback page


def results_json(sub: SubmissionResult, note: str = "", visibility: str = "visible") -> dict:
    """Gradescope's results.json for one graded submission.

    Args:
        sub: the submission's results, as the batch grader gives them.
        note: a sentence for the top of the output (which notebook was graded, and why).
        visibility: when students see the tests (one of ``VISIBILITIES``).

    Returns:
        A dict that serialises to results.json: score, execution_time, output (Markdown),
        stdout_visibility, tests (one per check) and, where a check measured one, leaderboard.
    """
    tests = [_test(ex_no, check_no, c, visibility)
             for ex_no, ex in enumerate(sub.exercises, 1)
             for check_no, c in enumerate(ex.checks, 1)]
    out = {"score": sub.score, "execution_time": round(sub.seconds), "output": _summary(sub, note),
           "output_format": "md", "stdout_visibility": "hidden", "visibility": visibility,
           "tests": tests, "extra_data": {"chapter": sub.chapter, "notebook_sha256": sub.notebook_sha256}}
    board = leaderboard(sub)
    return {**out, "leaderboard": board} if board else out


def failure_json(message: str) -> dict:
    """A results.json for when nothing could be graded: zero, and why, for the student."""
    return {"score": 0.0, "execution_time": 0, "output": message, "output_format": "md",
            "stdout_visibility": "hidden", "tests": []}


def leaderboard(sub: SubmissionResult) -> list[dict]:
    """Leaderboard entries from the checks' details (chapter 09: the test accuracy)."""
    entries = []
    for c in (c for ex in sub.exercises for c in ex.checks):
        for key, name in LEADERBOARD.items():
            value = (c.detail or {}).get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                entries.append({"name": name, "value": round(float(value), 4)})
    return entries


def _test(ex_no: int, check_no: int, c: CheckResult, visibility: str) -> dict:
    return {"name": f"{c.exercise}: {c.check}", "number": f"{ex_no}.{check_no}",
            "score": c.score, "max_score": c.max_score,
            "status": "passed" if c.status == "passed" else "failed",
            "output": check_markdown(c), "output_format": "md", "tags": [c.kind],
            "visibility": visibility}


def check_markdown(c: CheckResult) -> str:
    """One check's feedback as Markdown: the feedback page's message, trace and line."""
    if c.status == "passed":
        return f"✓ {c.message}"
    text, trace = _split_trace(c.message)
    parts = [f"✗ **{STATUS_WORDS.get(c.status, c.status)}** ({num(c.score)}/{num(c.max_score)}): {text}"]
    if trace:
        parts += ["Where it happened in your notebook:", fenced(trace)]
    offending = _policy_line(c.message) if c.kind == "policy" else None
    if offending:
        parts += ["The line:", fenced(offending)]
    return "\n\n".join(parts)


def _summary(sub: SubmissionResult, note: str) -> str:
    parts = [f"**Total: {num(sub.score)} / {num(sub.max_score)}** points ({sub.chapter})"]
    if note:
        parts.append(note)
    if sub.error:
        parts.append(f"Your notebook could not be graded: {sub.error}")
    if sub.student_output.strip():
        parts += ["What your code printed while graded (last lines):",
                  fenced(sub.student_output[-OUTPUT_TAIL:])]
    return "\n\n".join(parts)


def fenced(text: str) -> str:
    """``text`` as a Markdown code block that nothing inside it can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"
