"""The student's feedback page: points, passed and failed checks, code shown as code."""
import re

import pytest

from autograder.grader import SubmissionResult
from autograder.formats import svg
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


def test_a_failed_training_check_plots_each_curve_it_carries():
    training = Exercise("training", (Check("trajectory", 4, "trajectory", kind="training"),))
    curves = [{"student": [0.6, 0.5], "reference": [0.6, 0.5], "ylabel": "training loss", "first": 1},
              {"student": [0.5, 0.6], "reference": [0.7, 0.8], "ylabel": "test accuracy", "first": 1}]

    def page_with(detail) -> str:
        check = CheckResult("training", "trajectory", "training", 0.0, 4.0, "failed", "the test accuracy…", detail)
        return feedback_html(SubmissionResult("a", "09_x", (ExerciseResult.from_checks(training, [check]),)))
    assert page_with({"curves": curves}).count("<svg") == 2
    assert "aria-label='your test accuracy over the reference'" in page_with({"curves": curves})
    assert page_with({"curve": curves[0]}).count("<svg") == 1
    assert "<svg" not in page_with({})
    # each curve is a line of its points; a value that is not a finite number breaks the line
    broken = {**curves[0], "student": [0.6, float("nan"), 0.5, 0.4, float("inf")], "yscale": "linear"}
    page = page_with({"curve": broken})
    lines = re.findall(r"<polyline points='([^']*)'", page)
    assert [len(points.split()) for points in lines] == [2, 2]  # the reference's two, then 0.5 and 0.4
    assert page.count("<circle") == 1  # 0.6 alone, between the start and the nan
    # a long curve is thinned, its ends kept; junk in place of values plots nothing, no error
    long = {"student": [1.0 + i for i in range(5000)], "reference": "junk", "ylabel": "minibatch loss"}
    points = re.findall(r"<polyline points='([^']*)'", page_with({"curve": long}))[0].split()
    assert len(points) == svg.MAX_POINTS
    assert "no finite values to plot" in page_with({"curve": {"student": [float("nan")], "ylabel": "loss"}})


def test_ch09_trajectory_failure_plots_the_failing_quantity_first(monkeypatch):
    from autograder.checks import ch09_softmax_regression_training as ch09
    from autograder.checks.ch09_softmax_regression_training import _cmp_trajectory
    from autograder.spec import CheckFailed
    # the grader's own measures of the returned parameters (tests/test_claims.py) stand for the
    # figures here: this test is about what the feedback plots first
    monkeypatch.setattr(ch09, "_verified_accuracies", lambda got, n, what, epochs: list(got["test_accs"]))
    monkeypatch.setattr(ch09, "_check_claims", lambda *args: None)
    monkeypatch.setattr(ch09, "_check_training_claims", lambda *args: None)
    ref = {"epochs": [(0.8, 0.70), (0.6, 0.78), (0.55, 0.80)], "test_accs": [0.69, 0.77, 0.79],
           "own_test_accs": [0.69, 0.77, 0.79]}
    low_test = {**ref, "test_accs": [0.69, 0.77, 0.50]}
    with pytest.raises(CheckFailed, match="test accuracy after epoch 3") as failed:
        _cmp_trajectory(low_test, [ref, ref], {}, None)
    assert [c["ylabel"] for c in failed.value.detail["curves"]] == ["test accuracy", "training loss",
                                                                    "training accuracy"]
    assert failed.value.detail["curves"][0]["student"] == [0.69, 0.77, 0.50]
    assert len(_cmp_trajectory(ref, [ref, ref], {}, None)["curves"]) == 3


def test_what_the_code_printed_appears_only_when_it_printed():
    quiet = page({"rows_sum_to_one": ("passed", "ok"), "stable": ("passed", "ok"), "from_scratch": ("passed", "ok")})
    assert "What your code printed" not in quiet
    checks = [CheckResult("softmax", c.name, c.kind, c.points, c.points, "passed", "ok") for c in SOFTMAX.checks]
    loud = feedback_html(SubmissionResult("alice", "07_softmax", (ExerciseResult.from_checks(SOFTMAX, checks),),
                                          student_output="hello from my softmax\n"))
    assert "What your code printed" in loud and "hello from my softmax" in loud
