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
from autograder.sanitize import clean_result
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
    sub = clean_result(sub)  # graded here by the Grader itself, not through the batch
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
        return f"✓ {md_text(c.message)}"
    text, trace = _split_trace(c.message)
    parts = [f"✗ **{STATUS_WORDS.get(c.status, c.status)}** ({num(c.score)}/{num(c.max_score)}): {md_text(text)}"]
    if trace:
        parts += ["Where it happened in your notebook:", fenced(trace)]
    offending = _policy_line(c.message) if c.kind == "policy" else None
    if offending:
        parts += ["The line:", fenced(offending)]
    return "\n\n".join(parts)


def _summary(sub: SubmissionResult, note: str) -> str:
    parts = [f"**Total: {num(sub.score)} / {num(sub.max_score)}** points ({sub.chapter})"]
    if note:
        parts.append(md_text(note))
    if sub.error:
        parts.append(f"Your notebook could not be graded: {md_text(sub.error)}")
    if sub.student_output.strip():
        parts += ["What your code printed while graded (last lines):",
                  fenced(sub.student_output[-OUTPUT_TAIL:])]
    return "\n\n".join(parts)


def fenced(text: str) -> str:
    """``text`` as a Markdown code block that nothing inside it can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def md_text(text: str) -> str:
    """A message (which may quote the student: an exception's text, a file name) as Markdown
    that shows it and nothing more, on one line: its `backquoted` parts as code spans that
    nothing inside can close, and elsewhere no raw HTML, no autolink, no link or image (``<``, stray
    backquotes and backslashes, ``](``, ``://``, ``www.`` and ``@`` are escaped)."""
    parts = re.split(r"`([^`]+)`", re.sub(r"\r\n?|\n", " ", str(text)))  # one paragraph: no block can start
    return "".join(code_span(p) if i % 2 else _md_plain(p) for i, p in enumerate(parts))


def code_span(text: str) -> str:
    """``text`` as one inline code span, its fence longer than any run of backquotes in it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_plain(text: str) -> str:
    text = text.replace("\\", "\\\\")
    text = re.sub(r"[<`@]", lambda m: "\\" + m.group(), text)  # raw HTML, <autolinks>, code, e-mail
    text = re.sub(r"\](?=[(\[:])", r"\\]", text)  # [text](url), ![alt](src), [ref]: url
    text = text.replace("://", ":\\/\\/")  # bare URLs (GFM's autolinks)
    return re.sub(r"(?i)\b(www)\.", r"\1\\.", text)
