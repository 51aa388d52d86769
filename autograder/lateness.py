"""Late work, counted as nbgrader counts it.

When a submission was made: nbgrader's ``timestamp.txt`` in the submission folder (written
by ``nbgrader submit``/``collect``; ``zip_collect`` and LMS downloads may add it). When it
was due: the assignment's due date — from ``--due`` or the gradebook — plus the student's
extension, if the gradebook grants one. Times without a zone are UTC, as in nbgrader.

The penalty (:class:`LatePolicy`) follows nbgrader's ``LateSubmissionPlugin``:

* ``none`` (the default): lateness is recorded, no points are taken off;
* ``zero``: a late submission scores zero (the penalty is its whole score);
* ``subtract``: ``points_per_hour`` for each hour late, the hours rounded to the nearest
  whole hour — the per-hour plugin of nbgrader's documentation.

As nbgrader's ``AssignLatePenalties`` does, the penalty is kept between 0 and the score.

One policy for both grading paths: the course's ``nbgrader_config.py`` sets nbgrader's
late-penalty plugin to :class:`autograder.nbgrader_plugins.LatePenalty`, which computes the
penalty with this module, and names the policy in its section
(``c.LatePenalty.penalty_method``, ``c.LatePenalty.points_per_hour``); the batch grader reads
the same two values (:func:`policy_from_config`), so ``nbgrader autograde`` and the batch
grader store the same penalty in the gradebook.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

METHODS = ("none", "zero", "subtract")
TIMESTAMP = "timestamp.txt"


@dataclass(frozen=True)
class LatePolicy:
    """How many points lateness costs."""
    method: str = "none"
    points_per_hour: float = 1.0  # for "subtract"

    def penalty(self, score: float, seconds_late: float) -> float:
        """Points taken off a submission with ``score`` that came ``seconds_late`` late."""
        if seconds_late <= 0 or self.method == "none":
            return 0.0
        wanted = score if self.method == "zero" else round(seconds_late / 3600) * self.points_per_hour
        return min(max(0.0, wanted), max(0.0, score))

    def describe(self) -> str:
        """The policy in words, for the summary and the feedback."""
        return {"none": "late work is recorded, not penalised",
                "zero": "late work scores zero",
                "subtract": f"{self.points_per_hour:g} point(s) off per hour late"}[self.method]


PLUGIN_SECTION = "LatePenalty"  # nbgrader_config.py's section for autograder.nbgrader_plugins.LatePenalty


def policy_from_config(config: dict) -> LatePolicy:
    """The late policy that ``nbgrader_config.py`` (as a nested dict) sets: its ``LatePenalty``
    section, over ``LateSubmissionPlugin``'s (the plugin's base class: traitlets gives a
    subclass its base's settings too); ``none`` when neither says.

    Raises:
        ValueError: a method or a number of points that is not one of the policy's, in one line.
    """
    merged = {**dict(config.get("LateSubmissionPlugin", {})), **dict(config.get(PLUGIN_SECTION, {}))}
    method = merged.get("penalty_method", "none")
    if method not in METHODS:
        raise ValueError(f"nbgrader_config.py: penalty_method {method!r} is not one of {', '.join(METHODS)}")
    try:
        points = float(merged.get("points_per_hour", 1.0))
    except (TypeError, ValueError):
        points = -1.0
    if points <= 0:
        raise ValueError(f"nbgrader_config.py: points_per_hour {merged.get('points_per_hour')!r} "
                         "is not a number greater than 0")
    return LatePolicy(method, points)


@dataclass(frozen=True)
class Deadlines:
    """Due dates per chapter, extensions per (chapter, student), and the penalty policy."""
    due: dict  # chapter -> naive UTC datetime
    extensions: dict  # (chapter, student_id) -> timedelta
    policy: LatePolicy = LatePolicy()

    def seconds_late(self, chapter: str, student_id: str, submitted: dt.datetime | None) -> float:
        """How long after the due date (plus any extension) this was submitted; 0 if on time
        or either time is unknown."""
        due = self.due.get(chapter)
        if submitted is None or due is None:
            return 0.0
        due = due + self.extensions.get((chapter, student_id), dt.timedelta(0))
        return max(0.0, (submitted - due).total_seconds())


def parse_time(text: str) -> dt.datetime:
    """A date and time as nbgrader reads one (``nbgrader.utils.parse_utc``): ISO 8601 or
    ``2026-03-01 17:00:00.000000 Europe/Berlin`` (a zone name or offset as a third part);
    returned as a naive datetime in UTC. Without a zone, UTC.

    Raises:
        ValueError: not a date.
    """
    import dateutil.parser
    import dateutil.tz
    parts = text.strip().split(" ")
    try:
        if len(parts) == 3:
            zone = int(parts[2]) if parts[2].lstrip("+-").isdigit() else dateutil.tz.gettz(parts[2])
            when = dateutil.parser.parse(" ".join(parts[:2] + ["TZ"]), tzinfos={"TZ": zone})
        else:
            when = dateutil.parser.parse(text.strip())
    except (ValueError, OverflowError) as e:
        raise ValueError(f"not a date and time: {text.strip()[:80]!r} ({e})") from None
    return (when - when.utcoffset()).replace(tzinfo=None) if when.tzinfo is not None else when


def read_timestamp(folder: Path) -> tuple[dt.datetime | None, str]:
    """When the submission in ``folder`` was made, from its ``timestamp.txt``.

    Returns:
        ``(time, "")``; ``(None, "")`` when there is no timestamp.txt; ``(None, why)`` when
        it cannot be read (the submission then counts as on time, with that note).
    """
    path = Path(folder) / TIMESTAMP
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        return None, f"{TIMESTAMP} could not be read ({e.strerror}); counted as on time"
    if not text.strip():
        return None, f"{TIMESTAMP} is empty; counted as on time"
    try:
        return parse_time(text), ""
    except ValueError as e:
        return None, f"{TIMESTAMP}: {e}; counted as on time"


def late_text(seconds: float) -> str:
    """``3 h 20 min late`` / ``2 days 4 h late``; "" when on time."""
    if seconds <= 0:
        return ""
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = ([f"{days} day{'s' if days != 1 else ''}"] if days else []) + ([f"{hours} h"] if hours else []) \
        + ([f"{mins} min"] if mins and not days else [])
    return (" ".join(parts) or f"{seconds:.0f} s") + " late"


def iso(when: dt.datetime | None) -> str:
    """A naive UTC datetime as ISO 8601 with a ``Z``; "" for None."""
    return when.isoformat() + "Z" if when else ""


def shown(iso_utc: str) -> str:
    """An ISO 8601 UTC time for people: ``2026-03-01 17:05 UTC``."""
    when = from_iso(iso_utc)
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else ""


def from_iso(text: str) -> dt.datetime | None:
    """The inverse of :func:`iso`."""
    return dt.datetime.fromisoformat(text.rstrip("Z")) if text else None
