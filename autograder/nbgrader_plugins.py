"""The course's additions to nbgrader, set in ``nbgrader_config.py``: a late-penalty plugin
with the batch grader's policies, and an ``OverwriteCells`` that restores hidden tests
without a false alarm.

**Late penalties.** nbgrader 0.9's own ``LateSubmissionPlugin`` knows ``none`` and ``zero`` only. This subclass
offers every policy of :mod:`autograder.lateness` — ``none``, ``zero`` and ``subtract``
(``points_per_hour`` for each hour late, the hours rounded) — and computes the penalty with
the same function the batch grader uses, so both grading paths store the same penalty in
the gradebook. ``nbgrader_config.py`` selects it and names the policy::

    c.AssignLatePenalties.plugin_class = "autograder.nbgrader_plugins.LatePenalty"
    c.LatePenalty.penalty_method = "subtract"   # none | zero | subtract
    c.LatePenalty.points_per_hour = 1.0

**Hidden tests.** ``nbgrader generate_assignment`` records each test cell in the gradebook
*before* it clears the hidden tests, so the released cell never matches the recorded
checksum, and ``nbgrader autograde``'s ``OverwriteCells`` warns "Attribute 'checksum' for
cell test_… has changed!" for every test cell of every submission — a student who changed
nothing included (nbgrader issue 1961) — while it puts the hidden tests back. The subclass
below puts them back first when the student's cell is exactly the released one, so the
warning is left for cells a student did change. ``nbgrader_config.py`` lists it in
``Autograde.sanitize_preprocessors``; the batch grader's autograded copies use it too.

**Canvas downloads.** ``CanvasFileNames`` is nbgrader's ``FileNameCollectorPlugin`` with
Canvas's file names as its default (``autograder.formats.canvas.CANVAS_FILENAME_REGEXP``):
each student id is ``<name>_<Canvas user id>``, the name Canvas put in the file name kept and
its ``LATE_`` mark dropped, so a student has one id, late or not.

nbgrader imports this module from the course's root (it puts its working folder on
``sys.path``). It imports nothing heavy: nbgrader loads it in every ``autograde``.
"""
from __future__ import annotations

from textwrap import dedent

import copy

from nbgrader import preprocessors, utils
from nbgrader.api import MissingEntry
from nbgrader.plugins import FileNameCollectorPlugin, LateSubmissionPlugin
from traitlets import Enum, Float, Unicode

from autograder.lateness import METHODS, LatePolicy

# Canvas names each downloaded file <name>_[LATE_]<user id>_<submission id>_<file name>
# (the name: the student's sortable name, lower case, run together: "doejane"; some
# downloads keep an underscore, "doe_jane"), and a resubmitted file <file name>-<n>.<ext>.
# student_id takes the name and the user id (with LATE_ between them, which
# nbgrader_plugins.CanvasFileNames drops), so the student's name survives zip_collect.
CANVAS_FILENAME_REGEXP = (r".*/(?P<student_id>[^/]*?_(?:LATE_)?\d+)_\d+_"
                          r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$")


class LatePenalty(LateSubmissionPlugin):
    """Late-submission penalties as the batch grader computes them (autograder/lateness.py)."""

    penalty_method = Enum(METHODS, default_value="none", help=dedent("""
        What lateness costs:
            'none': recorded, no penalty;
            'zero': a late submission scores zero (penalty = score);
            'subtract': points_per_hour for each hour late, the hours rounded.""")).tag(config=True)
    points_per_hour = Float(1.0, help="Points off per hour late, for 'subtract'.").tag(config=True)

    def policy(self) -> LatePolicy:
        return LatePolicy(self.penalty_method, self.points_per_hour)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        """The penalty for a notebook with ``score`` submitted ``total_seconds_late`` late;
        None for no penalty (what nbgrader stores for an on-time notebook, and what the batch
        grader's gradebook writer stores too)."""
        penalty = self.policy().penalty(score, total_seconds_late)
        self.log.info("late penalty (%s): %s", self.policy().describe(), penalty)
        return penalty or None


class OverwriteCells(preprocessors.OverwriteCells):
    """nbgrader's ``OverwriteCells``, which first restores the hidden tests of a locked cell
    the student left as released (see the module docstring); any other change to a locked
    cell is still reported and undone by nbgrader's own code."""

    def preprocess_cell(self, cell, resources, cell_index):
        self._restore_hidden_tests(cell)
        return super().preprocess_cell(cell, resources, cell_index)

    def _restore_hidden_tests(self, cell) -> None:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not grade_id or not utils.is_locked(cell):
            return
        try:
            recorded = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return
        released = copy.deepcopy(cell)
        released.source = recorded.source
        if preprocessors.ClearHiddenTests(parent=self)._remove_hidden_test_region(released) \
                and released.source == cell.source:
            cell.source = recorded.source


class CanvasFileNames(FileNameCollectorPlugin):
    """``zip_collect`` of a Canvas "Download Submissions" zip (see the module docstring)."""

    named_regexp = Unicode(CANVAS_FILENAME_REGEXP, help="Canvas's download file names, with the "
                           "groups student_id (name and user id) and file_id.").tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        info = super().collect(submitted_file)
        if info and info.get("student_id"):
            info["student_id"] = info["student_id"].replace("_LATE_", "_")
        return info
