"""Helpers shared by the chapters of the course: data, plotting, timing, self-checks.

Everything here is taught in (or used by) a chapter; each helper names the chapter
that introduces it.
"""
from course.config import FAST, fast_or

__all__ = ["FAST", "fast_or"]
