"""The class report: how a whole class did, for the instructor.

``class_report.html`` shows, per chapter: the score distribution of each exercise (a bar
chart, embedded as PNG), the most common failure messages of each exercise with how many
students got them and who, the submissions that did not run at all, those flagged (several
notebooks in one folder…), those whose notebooks are identical (the same SHA-256) and those
submitted late; then every folder that was not graded,
with the reason. ``class_report.csv`` has one row per chapter and exercise with the same
figures (the top failure's students separated by spaces).
"""
from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median

from autograder import paths
from autograder.grader import SubmissionResult
from autograder.formats.common import atomic_write, html_page, rich_text, write_csv
from autograder.formats.svg import bar_chart
from autograder.spec import ExerciseResult

CLASS_COLUMNS = ["chapter", "exercise", "submissions", "max_score", "mean", "median",
                 "full_marks", "zero", "top_failure", "top_failure_count", "top_failure_students"]
NOT_RUN = ("crashed", "missing", "timeout")  # check statuses where the code never answered
TOP_FAILURES = 3  # failure messages shown per exercise
STUDENTS_SHOWN = 40  # students named under each common failure


@dataclass(frozen=True)
class Failure:
    """One kind of failure of one check: a message (numbers blanked out), how many had it,
    and who (their student ids, when known)."""
    check: str
    message: str
    count: int
    students: tuple[str, ...] = ()


def failure_key(message: str) -> str:
    """A message with its numbers blanked, so the same mistake groups across students."""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", " ".join(message.split()))[:300]


def common_failures(exercises: list[ExerciseResult], top: int = TOP_FAILURES,
                    students: list[str] | None = None) -> list[Failure]:
    """The most frequent failing-check messages among these results of one exercise, with
    the students who had each (``students[i]`` is the student of ``exercises[i]``).

    Each student counts once per message, however many of its checks gave it.
    """
    counts: Counter = Counter()
    first: dict[str, tuple[str, str]] = {}  # key -> (check, message) where first seen
    who: dict[str, list[str]] = {}
    for i, ex in enumerate(exercises):
        keys = {}
        for c in ex.checks:
            if c.status != "passed":
                line = c.message.split("\n")[0]
                keys.setdefault(failure_key(line), (c.check, line))
        counts.update(keys.keys())
        for key, seen in keys.items():
            first.setdefault(key, seen)
            if students is not None:
                who.setdefault(key, []).append(students[i])
    return [Failure(first[k][0], first[k][1], n, tuple(who.get(k, ()))) for k, n in counts.most_common(top)]


def did_not_run(sub: SubmissionResult) -> str | None:
    """Why a submission failed to run at all, or None: an unreadable notebook, or every
    check that calls code crashed, timed out or found its cell missing."""
    if sub.error:
        return sub.error
    probed = [c for ex in sub.exercises for c in ex.checks if c.kind != "policy"]
    if probed and all(c.status in NOT_RUN for c in probed):
        return probed[0].message.split("\n")[0]
    return None


def exercise_rows(results: list[SubmissionResult]) -> list[dict]:
    """One row per chapter and exercise: scores summarised, and the top failure."""
    rows = []
    for chapter in sorted({r.chapter for r in results}):
        subs = [r for r in results if r.chapter == chapter]
        for name in _exercise_names(subs):
            pairs = [(s.student_id, e) for s in subs for e in s.exercises if e.exercise == name]
            exs = [e for _, e in pairs]
            scores = [e.score for e in exs]
            top = common_failures(exs, 1, [sid for sid, _ in pairs])
            rows.append({"chapter": chapter, "exercise": name, "submissions": len(exs),
                         "max_score": exs[0].max_score, "mean": round(mean(scores), 3),
                         "median": float(median(scores)),
                         "full_marks": sum(e.score >= e.max_score for e in exs),
                         "zero": sum(e.score == 0 for e in exs),
                         "top_failure": top[0].message if top else "",
                         "top_failure_count": top[0].count if top else 0,
                         "top_failure_students": " ".join(top[0].students) if top else ""})
    return rows


def class_report_html(results: list[SubmissionResult], not_graded=(), isolation: str = "") -> str:
    """The whole report as one self-contained HTML page; ``isolation``: what student code ran
    under (sandbox.describe)."""
    parts = ["<h1>Class report</h1>",
             f"<p>{len(results)} submission(s) of {len({r.student_id for r in results})} "
             f"student(s); {len(not_graded)} folder(s) <a href='#not-graded'>not graded</a>.</p>"]
    if isolation:
        parts.append(f"<p class='isolation'>Student code ran in isolation: {_e(isolation)}.</p>")
    for chapter in sorted({r.chapter for r in results}):
        parts += _chapter_section(chapter, [r for r in results if r.chapter == chapter])
    parts += _not_graded_section(not_graded)
    style = ("body{max-width:64em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:.2em .5em;text-align:left;vertical-align:top}td.n{text-align:right}"
             ".dist{display:flex;flex-wrap:wrap;gap:.5em}")
    return html_page("Class report", style, "\n".join(parts))


def write_class_report(out_dir: Path, results: list[SubmissionResult], not_graded=(),
                       isolation: str = "") -> None:
    """Write ``class_report.html`` and ``class_report.csv`` into ``out_dir``; ``not_graded``
    (submissions.NotGraded) are listed at the end of the page."""
    results = list(results)
    write_csv(Path(out_dir) / "class_report.csv", CLASS_COLUMNS, exercise_rows(results))
    atomic_write(Path(out_dir) / "class_report.html", class_report_html(results, not_graded, isolation))


def _not_graded_section(not_graded) -> list[str]:
    rows = "".join(f"<tr><td>{_e(n.path)}</td><td>{_e(n.reason)}</td></tr>" for n in not_graded)
    return [f"<h2 id='not-graded'>Not graded ({len(not_graded)})</h2>",
            f"<table><tr><th>folder or file</th><th>why</th></tr>{rows}</table>" if rows else "<p>None.</p>"]


def _listed(title: str, items: list[tuple[str, str]]) -> list[str]:
    """A heading with a count, and a list of ``(student, text)`` (or "None.")."""
    return [f"<h3>{_e(title)} ({len(items)})</h3>",
            "<ul>" + "".join(f"<li><b>{_e(sid)}</b>: {_e(text[:300])}</li>" for sid, text in items) + "</ul>"
            if items else "<p>None.</p>"]


def _chapter_section(chapter: str, subs: list[SubmissionResult]) -> list[str]:
    totals = [s.score for s in subs]
    parts = [f"<h2>{_e(chapter)}</h2>",
             f"<p>{len(subs)} submission(s); total mean {mean(totals):.2f}, median "
             f"{median(totals):g} of {subs[0].max_score:g} points.</p>",
             _distribution_img(chapter, subs),
             "<table><tr><th>exercise</th><th>mean / max</th><th>full marks</th><th>zero</th>"
             "<th>most common failures (students)</th></tr>"]
    for name in _exercise_names(subs):
        pairs = [(s.student_id, e) for s in subs for e in s.exercises if e.exercise == name]
        exs = [e for _, e in pairs]
        fails = "<br>".join(f"<b>{f.count}×</b> {_e(f.check)}: {rich_text(f.message[:300])}"
                            f"<br><small>{_students(f.students)}</small>"
                            for f in common_failures(exs, students=[sid for sid, _ in pairs])) or "—"
        parts.append(f"<tr><td>{_e(name)}</td><td class='n'>{mean(e.score for e in exs):.2f} / "
                     f"{exs[0].max_score:g}</td><td class='n'>{sum(e.score >= e.max_score for e in exs)}"
                     f"</td><td class='n'>{sum(e.score == 0 for e in exs)}</td><td>{fails}</td></tr>")
    parts.append("</table>")
    parts += _listed("Submissions that did not run", [(s.student_id, why) for s in subs if (why := did_not_run(s))])
    parts += _listed("Flagged: which file was graded", [(s.student_id, s.note) for s in subs if s.note])
    parts += _listed("Identical notebooks (the same SHA-256)", identical(subs))
    parts += _listed("Submitted late", [(s.student_id, _late(s)) for s in subs if s.seconds_late > 0])
    return parts


def identical(subs: list[SubmissionResult]) -> list[tuple[str, str]]:
    """Submissions of one chapter whose notebooks are byte for byte the same file (the same
    SHA-256): per student, the others who submitted it. The released notebook itself,
    submitted unchanged, is no copy of anyone's."""
    by_hash: dict[str, list[str]] = {}
    released = {_sha256(paths.release_notebook(s.chapter)) for s in subs[:1]}
    for s in subs:
        if s.notebook_sha256 and s.notebook_sha256 not in released:
            by_hash.setdefault(s.notebook_sha256, []).append(s.student_id)
    return [(sid, f"the same notebook (SHA-256 {digest[:16]}…) as {', '.join(o for o in group if o != sid)}")
            for digest, group in by_hash.items() if len(group) > 1 for sid in group]


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _students(ids: tuple[str, ...], shown: int = STUDENTS_SHOWN) -> str:
    """``alice, bob`` (and how many more past ``shown``)."""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return _e(", ".join(ids[:shown])) + more


def _late(sub: SubmissionResult) -> str:
    from autograder.lateness import late_text, shown
    penalty = f"; {sub.late_penalty:g} point(s) off: {sub.final_score:g} of {sub.max_score:g}" if sub.late_penalty else ""
    return f"{late_text(sub.seconds_late)} (submitted {shown(sub.timestamp)}, due {shown(sub.duedate)}){penalty}"


def _distribution_img(chapter: str, subs: list[SubmissionResult]) -> str:
    """Bar charts of how many students got each score, one panel per exercise (inline SVG)."""
    panels = []
    for name in _exercise_names(subs):
        exs = [e for s in subs for e in s.exercises if e.exercise == name]
        counts = Counter(e.score for e in exs)
        scores = sorted(counts)
        panels.append(bar_chart([f"{k:g}" for k in scores], [counts[k] for k in scores],
                                f"{name} (of {exs[0].max_score:g})", "points", "student"))
    return (f"<div class='dist' role='group' aria-label='{_e(f'score distribution per exercise, {chapter}')}'>"
            + "".join(panels) + "</div>")


def _exercise_names(subs: list[SubmissionResult]) -> list[str]:
    return list(dict.fromkeys(e.exercise for s in subs for e in s.exercises))


def _e(text: object) -> str:
    return html.escape(str(text))
