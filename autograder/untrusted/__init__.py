"""The untrusted side: code that runs inside the sandboxed harness process.

* ``worker.py`` — a warm process that imports the framework once and forks one job per
  submission, each as a user id of its own with resource limits;
* ``harness.py`` — the job: runs the student's cells and the checks' probes, writes plain
  data back;
* ``wire.py`` — the plain-data format (JSON + ``.npz``, never pickle) both sides speak; the
  trusted side reads what comes back with it and validates everything.

Nothing here sees a reference, an expected value or another student's files.
"""
