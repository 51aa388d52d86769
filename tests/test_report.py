"""The student's feedback page: points, passed and failed checks, code shown as code."""
from autograder.grader import SubmissionResult
from autograder.formats.feedback import feedback_html
from autograder.spec import Check, CheckResult, Exercise, ExerciseResult

SOFTMAX = Exercise("softmax", (Check("rows_sum_to_one", 2, "rows sum to one"),
                               Check("stable", 1, "large logits"),
                               Check("from_scratch", 1, "written from scratch", kind="policy")))


def page(results: dict) -> str:
    checks = [CheckResult("softmax", c.name, c.kind, c.points if results[c.name][0] == "passed" else 0.0,
                          c.points, *results[c.name]) for c in SOFTMAX.checks]
    return feedback_html(SubmissionResult("alice", "07_softmax", (ExerciseResult.from_checks(SOFTMAX, checks),)))


def test_policy_failure_shows_the_offending_line_as_code():
    html = page({"rows_sum_to_one": ("passed", "rows sum to one"), "stable": ("passed", "large logits"),
                 "from_scratch": ("failed", "written from scratch: line 3 of the cell `softmax` uses "
                                            "`torch.softmax` (`return torch.softmax(X, 1)`), which "
                                            "this exercise does not allow")})
    assert "<pre># cell softmax, line 3\nreturn torch.softmax(X, 1)</pre>" in html
    assert "<code>torch.softmax</code>" in html
    assert "Passed (2 of 3 checks)" in html and "Not passed (1 of 3 checks)" in html
    assert "3 / 4" in html


def test_checks_failing_alike_are_one_item_and_tracebacks_are_code():
    stub = "`softmax` is not written yet: it still raises NotImplementedError"
    html = page({"rows_sum_to_one": ("error", stub), "stable": ("error", stub),
                 "from_scratch": ("failed", "written from scratch: not awarded until the function works")})
    assert html.count("not written yet") == 1 and "<b>rows_sum_to_one</b>, <b>stable</b>" in html
    assert "3 lost" in html
    traced = page({"rows_sum_to_one": ("error", "softmax((2, 3)) raised ValueError: bad\n"
                                                "  cell softmax, line 2: X.exp()\n"),
                   "stable": ("passed", "ok"), "from_scratch": ("passed", "ok")})
    assert "<pre>cell softmax, line 2: X.exp()</pre>" in traced
