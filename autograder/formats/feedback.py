"""feedback/<student>/<chapter>.html: a student's feedback page."""
from __future__ import annotations

import math
import re

from autograder.formats.common import escape as _e, html_page, num as _num, rich_text
from autograder.formats.svg import COLORS, line_chart
from autograder.grader import SubmissionResult


def feedback_html(sub: SubmissionResult, isolation: str = "") -> str:
    """A student's feedback page: per exercise the points, the checks that passed and those
    that failed and why (what was called, with which shapes, what came back, what was
    expected), the curves of a failed training check over the reference's (the quantity
    that failed among them), and for policy checks the line that called what the exercise
    forbids; which file was graded (with its hash) and when it was submitted. Never the
    reference's code. ``isolation``: what the student's code ran under (sandbox.describe)."""
    parts = [f"<h1>{_e(sub.chapter)} — {_e(sub.student_id)}</h1>", _total(sub), *_provenance(sub)]
    if sub.error:
        parts.append(f"<p class='error'>Your notebook could not be graded: {_e(sub.error)}</p>")
    parts.append(_overview(sub))
    for ex in sub.exercises:
        parts += _exercise_section(ex)
    if sub.student_output.strip():
        parts.append("<h2>What your code printed while graded (last lines)</h2>"
                     f"<pre>{_e(sub.student_output[-1500:])}</pre>")
    if isolation:
        parts.append(f"<p class='isolation'>Your code ran in isolation: {_e(isolation)}.</p>")
    style = ("body{max-width:52em}li{margin:.3em 0}"
             ".passed{color:#1a7f37}.failed,.error,.crashed,.timeout,.missing{color:#b42318}"
             ".partial{color:#9a6700}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap;color:#222}"
             "code{background:#f4f4f4;padding:0 .2em;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}")
    return html_page(f"{sub.chapter} feedback", style, "\n".join(parts))


def _total(sub) -> str:
    if not sub.late_penalty:
        return f"<p class='total'>Total: <b>{_num(sub.score)} / {_num(sub.max_score)}</b> points</p>"
    return (f"<p class='total'>Total: <b>{_num(sub.final_score)} / {_num(sub.max_score)}</b> points "
            f"({_num(sub.score)} earned, {_num(sub.late_penalty)} off for late submission)</p>")


def _provenance(sub) -> list[str]:
    """Which file was graded and why, and when it was submitted against the due date."""
    from autograder.lateness import late_text, shown
    parts = []
    if sub.notebook:
        digest = f" (SHA-256 <code>{_e(sub.notebook_sha256[:16])}…</code>)" if sub.notebook_sha256 else ""
        parts.append(f"<p class='file'>Graded file: <code>{_e(sub.notebook)}</code>{digest}</p>")
    if sub.note:
        parts.append(f"<p class='note'>Note: {_e(sub.note)}</p>")
    if sub.timestamp or sub.duedate:
        when = f"Submitted {_e(shown(sub.timestamp) or 'at an unknown time')}"
        due = f"; due {_e(shown(sub.duedate))}" if sub.duedate else ""
        late = f": <b class='failed'>{_e(late_text(sub.seconds_late))}</b>" if sub.seconds_late > 0 else \
            (": on time" if sub.duedate and sub.timestamp else "")
        parts.append(f"<p class='when'>{when}{due}{late}.</p>")
    return parts


STATUS_WORDS = {"failed": "failed", "error": "raised an error", "timeout": "ran out of time",
                "crashed": "crashed the grader's process", "missing": "could not run"}


def _overview(sub: SubmissionResult) -> str:
    rows = "".join(f"<tr><td><a href='#{_e(ex.exercise)}'>{_e(ex.exercise)}</a></td>"
                   f"<td>{_num(ex.score)} / {_num(ex.max_score)}</td>"
                   f"<td class='{ex.status}'>{_e(ex.status)}</td></tr>" for ex in sub.exercises)
    return f"<table><tr><th>exercise</th><th>points</th><th>status</th></tr>{rows}</table>"


def _exercise_section(ex) -> list[str]:
    """An exercise's heading, its failed checks (grouped by message), then the passed ones."""
    passed = [c for c in ex.checks if c.status == "passed"]
    failed = [c for c in ex.checks if c.status != "passed"]
    parts = [f"<h2 id='{_e(ex.exercise)}'>{_e(ex.exercise)}: {_num(ex.score)} / "
             f"{_num(ex.max_score)}</h2>"]
    if ex.note:  # a stand-in: said whether the exercise passed or not (it passed with help)
        parts.append(f"<p class='note'>Note: {_e(ex.note)}.</p>")
    if failed:
        parts.append(f"<p>Not passed ({len(failed)} of {len(ex.checks)} checks):</p><ul>")
        for group in _grouped(failed):
            parts.append(_failed_item(group))
        parts.append("</ul>")
    if passed:
        parts.append(f"<p>Passed ({len(passed)} of {len(ex.checks)} checks):</p><ul>")
        parts += [f"<li class='passed'>✓ <b>{_e(c.check)}</b> ({_num(c.score)}/{_num(c.max_score)}): "
                  f"{rich_text(c.message)}</li>" for c in passed]
        parts.append("</ul>")
    return parts


def _grouped(checks) -> list[list]:
    """Checks that failed with the same message, together (a stub fails every check alike)."""
    groups: dict[tuple, list] = {}
    for c in checks:
        groups.setdefault((c.status, c.message), []).append(c)
    return list(groups.values())


def _failed_item(group: list) -> str:
    first = group[0]
    names = ", ".join(f"<b>{_e(c.check)}</b>" for c in group)
    lost = sum(c.max_score - c.score for c in group)
    text, trace = _split_trace(first.message)
    item = (f"<li class='{first.status}'>✗ {names} ({STATUS_WORDS.get(first.status, first.status)}; "
            f"{_num(sum(c.score for c in group))}/{_num(sum(c.max_score for c in group))}, "
            f"{_num(lost)} lost): {rich_text(text)}")
    if trace:
        item += f"<br>Where it happened in your notebook:<pre>{_e(trace)}</pre>"
    offending = _policy_line(first.message) if first.kind == "policy" else None
    if offending:
        item += f"<br>The line:<pre>{_e(offending)}</pre>"
    for c in group:
        for curve in curves(c.detail):
            item += f"<br>{_curve_img(curve)}"
    return item + "</li>"


def curves(detail) -> list[dict]:
    """The curves a check's detail carries: ``detail["curves"]`` (a list), else
    ``detail["curve"]`` alone. A curve is a dict: ``student`` and ``reference`` (values),
    ``ylabel``, ``xlabel``, ``first`` (the x of the first value, default 0) and ``yscale``
    (default ``log`` for a loss, else ``linear``)."""
    detail = detail or {}
    many = detail.get("curves")
    return [c for c in many if isinstance(c, dict)] if isinstance(many, list) else \
        [detail["curve"]] if isinstance(detail.get("curve"), dict) else []


def _split_trace(message: str) -> tuple[str, str]:
    """A message, and the traceback lines the harness appended to it (``  cell X, line N: …``)."""
    lines = str(message).split("\n")
    trace = [ln.strip() for ln in lines[1:] if ln.strip()]
    return lines[0], "\n".join(trace)


def _policy_line(message: str) -> str | None:
    """The offending source line quoted in a policy message: ``… uses `X` (`the line`) …``."""
    m = re.search(r"line (\d+) of the cell `([^`]+)` uses `[^`]+` \(`(.+?)`\)", message)
    return f"# cell {m.group(2)}, line {m.group(1)}\n{m.group(3)}" if m else None


def _curve_img(curve: dict) -> str:
    """The student's curve over the reference's, as an inline SVG chart."""
    ylabel = str(curve.get("ylabel", "loss"))
    first = curve.get("first", 0)
    first = first if isinstance(first, (int, float)) and math.isfinite(first) else 0
    series = [("reference", _values(curve.get("reference")), COLORS["reference"]),
              ("your functions", _values(curve.get("student")), COLORS["student"])]
    return line_chart(series, f"your {ylabel} over the reference", str(curve.get("xlabel", "step")), ylabel,
                      first=first, log=curve.get("yscale", "log" if "loss" in ylabel else "linear") == "log")


def _values(values) -> list:
    return list(values) if isinstance(values, (list, tuple)) else []
