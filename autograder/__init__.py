"""The course's autograder: student code in a sandboxed child, checks in the parent.

Pipeline (DESIGN.md §2): load the submission → run the probes in the harness child →
compare with the reference computed here from ``solutions/`` → report.

Layout:

* the one step, trusted: ``grader.py`` (grade one submission), with ``notebooks.py``,
  ``chapter.py``, ``spec.py``, ``compare.py``, ``tolerances.py``, ``policy.py`` and the
  chapters' ``checks/``; ``runner.py`` and ``sandbox.py`` start, watch and kill the harness;
* ``untrusted/`` — what runs inside the sandboxed harness process (harness, worker, wire);
* ``executors/`` — where the step runs (``local.py``: a pool of warm workers on this machine;
  ``dask.py``: on a Dask cluster's workers; ``gradescope.py``: one submission in Gradescope's
  container, and the bundle that installs it there);
* ``formats/`` — what is written from the results (CSV tables, results.json, feedback, the
  class report, nbgrader's gradebook, Canvas's import CSV, Gradescope's results.json);
* ``batch.py`` ties them together for a class; ``cli.py`` is ``python -m autograder``;
  ``inline.py`` is the nbgrader path (hidden test cells call the same checks in the kernel).
"""
__version__ = "0.1.0"

import sys as _sys

# nbformat imports jsonschema, which imports ``rfc3987_syntax`` when it is installed (Jupyter's
# event schemas pull it in) and builds 38 Lark grammars on import: 0.9 s of every grading
# process's start, for an "iri" format checker that no notebook schema uses. Marking it absent
# makes jsonschema skip that checker (its import is guarded for exactly that).
_sys.modules.setdefault("rfc3987_syntax", None)
