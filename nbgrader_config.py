"""nbgrader's configuration: each chapter is one assignment.

solutions/NN_slug/NN_slug.ipynb  (source)  --generate_assignment-->  chapters/NN_slug/...
submitted/<student>/NN_slug/      (nbgrader's layout, from `nbgrader collect` or an LMS)
autograded/, feedback/            (nbgrader's own autograde and feedback steps)

`nbgrader generate_assignment --force` deletes chapters/<assignment> before writing it:
everything in chapters/ is generated (use `./run.sh release`, which also keeps the
outputs of narrative cells).
"""
import os

c = get_config()  # noqa: F821  (provided by nbgrader)

# The folder of this file, absolute: nbgrader warns "root '.' is not absolute" for a relative
# one (and resolves it against wherever it was started).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.course_id = "linear-nn-course"

# Solution cells become this stub; the self-checks name it.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Chapters train models: give cells time (the autograder's own limits are in autograder/).
c.ExecutePreprocessor.timeout = 600
c.Execute.timeout = 600

# Late work: one policy for both grading paths. nbgrader's own plugin knows only none and
# zero; the course's (autograder/nbgrader_plugins.py) computes the batch grader's penalties, and
# the batch grader reads these same two settings. none | zero | subtract (points_per_hour for
# each hour late, the hours rounded).
c.AssignLatePenalties.plugin_class = "autograder.nbgrader_plugins.LatePenalty"
c.LatePenalty.penalty_method = "none"
c.LatePenalty.points_per_hour = 1.0

# Hidden tests put back without a false "checksum has changed!" warning for every test cell
# (autograder/nbgrader_plugins.py); otherwise nbgrader's own sanitizing steps, in its order.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.nbgrader_plugins.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
