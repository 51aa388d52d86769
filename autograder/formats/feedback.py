"""feedback/<student>/<chapter>.html: a student's feedback page."""
from __future__ import annotations

import base64
import io
import re

from autograder.formats.common import escape as _e, num as _num, rich_text
from autograder.grader import SubmissionResult


def feedback_html(sub: SubmissionResult) -> str:
    """A student's feedback page: per exercise the points, the checks that passed and those
    that failed and why (what was called, with which shapes, what came back, what was
    expected), the loss curve of training checks over the reference's, and for policy checks
    the line that called what the exercise forbids. Never the reference's code."""
    parts = [f"<h1>{_e(sub.chapter)} — {_e(sub.student_id)}</h1>",
             f"<p class='total'>Total: <b>{_num(sub.score)} / {_num(sub.max_score)}</b> points</p>"]
    if sub.error:
        parts.append(f"<p class='error'>Your notebook could not be graded: {_e(sub.error)}</p>")
    parts.append(_overview(sub))
    for ex in sub.exercises:
        parts += _exercise_section(ex)
    if sub.student_output.strip():
        parts.append("<h2>What your code printed while graded (last lines)</h2>"
                     f"<pre>{_e(sub.student_output[-1500:])}</pre>")
    style = ("body{font-family:sans-serif;max-width:52em;margin:2em auto}li{margin:.3em 0}"
             ".passed{color:#1a7f37}.failed,.error,.crashed,.timeout,.missing{color:#b42318}"
             ".partial{color:#9a6700}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap;color:#222}"
             "code{background:#f4f4f4;padding:0 .2em;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}")
    return (f"<!doctype html><meta charset='utf-8'><title>{_e(sub.chapter)} feedback</title>"
            f"<style>{style}</style>" + "\n".join(parts))


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
        curve = (c.detail or {}).get("curve")
        if curve:
            item += f"<br>{_curve_img(curve)}"
    return item + "</li>"


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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(curve.get("reference", []), label="reference", color="gray")
    ax.plot(curve.get("student", []), label="your functions", alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel(curve.get("xlabel", "step"))
    ax.set_ylabel(curve.get("ylabel", "loss"))
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f"<img alt='your loss curve over the reference' src='data:image/png;base64,{data}'>"
