"""The course's autograder: student code in a sandboxed child, checks in the parent.

Pipeline (DESIGN.md §2): load the submission → run the probes in the harness child →
compare with the reference computed here from ``solutions/`` → report.
"""
__version__ = "0.1.0"
