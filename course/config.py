"""The one switch that makes heavy cells quick: ``COURSE_FAST``.

Set ``COURSE_FAST=1`` in the environment to run every chapter in *fast mode*: fewer
epochs and a slice of the data. The test suite uses it to check that each solutions
notebook runs clean; the book, the release command and grading use the real settings.
nbgrader's *Validate* runs in fast mode too (it sets ``NBGRADER_EXECUTION=validate``): it
checks that the notebook runs and the exercises pass, which needs no full training runs.
"""
import os
from pathlib import Path

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist (course/data.py)

FAST: bool = (os.environ.get("COURSE_FAST", "") not in ("", "0", "false", "False")
              or os.environ.get("NBGRADER_EXECUTION") == "validate")


def fast_or(real, fast):
    """Return ``fast`` in fast mode and ``real`` otherwise.

    Args:
        real: the value the book and grading use (e.g. ``num_epochs = 10``).
        fast: the value the test suite uses (e.g. ``1``).
    """
    return fast if FAST else real
