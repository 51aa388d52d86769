"""nbgrader's configuration: each chapter is one assignment.

solutions/NN_slug/NN_slug.ipynb  (source)  --generate_assignment-->  chapters/NN_slug/...
submitted/<student>/NN_slug/      (nbgrader's layout, from `nbgrader collect` or an LMS)
autograded/, feedback/            (nbgrader's own autograde and feedback steps)

`nbgrader generate_assignment --force` deletes chapters/<assignment> before writing it:
everything in chapters/ is generated (use `./run.sh release`, which also keeps the
outputs of narrative cells).
"""
c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.root = "."
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
