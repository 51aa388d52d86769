"""Accessible to every reader (issue 20): every figure described, every figure's series
told apart without colour, and the grader's pages pass axe-core and fit a phone. The book's
own pages are audited in tests/test_book.py, on the build made there (tests/a11y.py is what
both share)."""
import io

from matplotlib.figure import Figure
import nbformat
import pytest

from autograder.formats.classreport import write_class_report
from autograder.formats.feedback import feedback_html
from autograder.grader import SubmissionResult
from autograder.spec import Check, CheckResult, Exercise, ExerciseResult
from course import release
from tests import a11y
from tools import nbauthor

ROOT = a11y.ROOT


def released_figures():
    """(chapter, cell, svg text) of every figure in chapters/."""
    for chapter in release.chapters():
        nb = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
        for cell in release.figure_cells(nb):
            for out in cell.outputs:
                svg = out.get("data", {}).get("image/svg+xml")
                if svg:
                    yield chapter, cell, svg


def test_every_figure_has_a_real_description():
    alts = {}
    for chapter, cell, _ in released_figures():
        alt = release.figure_description(cell)
        where = f"{chapter} cell {cell.get('id')}"
        assert len(alt) >= 80 and "_images" not in alt and ".svg" not in alt, \
            f"{where}: its description is missing or too thin: {alt!r}"
        assert alt not in alts, f"{where} has the same description as {alts.get(alt)}"
        alts[alt] = where
        caption = (cell.metadata.mystnb.get("figure") or {}).get("caption", "")
        assert caption != alt, f"{where}: the caption repeats the description"
    assert len(alts) >= 47, f"only {len(alts)} figures in chapters/"


def test_release_refuses_an_undescribed_figure():
    cell = nbformat.v4.new_code_cell("plt.plot([1, 2])", id="bare-figure")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg/>", "text/plain": "<Figure>"})]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="no-figure"), cell])
    with pytest.raises(release.ReleaseError, match=r"1 figure\(s\) without a description: cell 1 \(id bare-figure\)"):
        release.check_figure_descriptions("99_x", nb)
    nbauthor.describe(cell, "A line rising from 1 to 2: the simplest plot there is.")
    release.check_figure_descriptions("99_x", nb)
    assert cell.metadata.mystnb == {"image": {"alt": "A line rising from 1 to 2: the simplest plot there is."}}


def test_series_are_told_apart_without_colour():
    """Under deuteranopia, protanopia and tritanopia (colorspacious), series sharing an axes
    differ by colour (ΔE ≥ 15) or by line style or marker — in every released figure."""
    checked, problems = 0, []
    for chapter, cell, svg in released_figures():
        checked += sum(len(axes) for axes in a11y.series(svg))
        problems += [f"{chapter} cell {cell.get('id')}: {p}" for p in a11y.series_conflicts(svg)]
    assert checked > 100, f"found only {checked} series: is the SVG reader still right?"
    assert not problems, "\n".join(problems)


def test_the_colour_check_catches_tab10_green_and_red():
    """What chapter 03 drew before: tab10's green and red, both solid, become one olive."""
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="tab:green", linestyle="-")  # both solid, whatever the style in force
    ax.plot([0, 1], [1, 0], color="tab:red", linestyle="-")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    assert any("deuteranomaly" in p for p in a11y.series_conflicts(buf.getvalue()))
    ax.lines[1].set_linestyle("--")  # a style of its own is enough
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    assert a11y.series_conflicts(buf.getvalue()) == []


LONG_LINE = "loss at step 10000: " + "0.123456789 " * 40  # one printed line far wider than a phone
LINREG = Exercise("linreg", (Check("values", 2, "values"), Check("training", 2, "training", kind="training"),
                             Check("no_lstsq", 1, "no lstsq", kind="policy")))
CURVE = {"curve": {"student": [2.0 / (1 + t) + 0.5 for t in range(30)],
                   "reference": [2.0 / (1 + t) ** 2 for t in range(30)], "ylabel": "loss"}}


def _submission(student: str, passed: bool) -> SubmissionResult:
    """A graded submission: one that passed everything, or one whose page shows a failed
    value check, a failed training check with its curve, a traceback and a long printed line."""
    trace = "\n  cell linreg, line 3: " + "y_hat = torch.matmul(X, w) + b  # " + "x" * 200
    checks = [CheckResult("linreg", "values", "value", 2.0 * passed, 2.0, "passed" if passed else "failed",
                          "values" if passed else "linreg(X (6, 2), w (2, 1)) returned shape (6,); expected (6, 1)"
                          + trace),
              CheckResult("linreg", "training", "training", 2.0 * passed, 2.0, "passed" if passed else "failed",
                          "training" if passed else "the loss after 30 steps is 0.56; expected below 0.01",
                          {} if passed else CURVE),
              CheckResult("linreg", "no_lstsq", "policy", 1.0, 1.0, "passed", "no lstsq")]
    return SubmissionResult(student, "05_linear_regression_scratch",
                            (ExerciseResult.from_checks(LINREG, checks),), None, student_output=LONG_LINE)


def test_grader_pages_pass_axe_and_fit_a_phone(tmp_path):
    subs = [_submission("alice", True), _submission("bob", False)]
    (tmp_path / "feedback.html").write_text(feedback_html(subs[1]))
    write_class_report(tmp_path, subs)
    browser = a11y.Browser()
    try:
        with a11y.serve(tmp_path) as base:
            for name in ("feedback.html", "class_report.html"):
                page = browser.page()
                page.goto(base + name)
                assert page.evaluate("document.documentElement.lang") == "en", name
                assert browser.axe(page) == [], name
                assert name != "feedback.html" or page.locator("svg").count() == 1  # the curve is there
                page.close()
                phone = browser.page(a11y.PHONE)
                phone.goto(base + name)
                width = phone.evaluate("document.documentElement.scrollWidth")
                assert width <= a11y.PHONE["width"], f"{name} is {width} px wide on a 390 px phone"
                text_px = phone.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
                assert text_px >= 14, f"{name}: body text {text_px} px on a phone (no viewport?)"
                overflowing = phone.evaluate("[...document.querySelectorAll('pre')]"
                                             ".filter(p => p.scrollWidth > p.clientWidth + 1).length")
                assert overflowing == 0, f"{name}: {overflowing} printed block(s) run out of their box"
                phone.close()
    finally:
        browser.close()
    assert browser.left == [], f"requests left 127.0.0.1: {browser.left[:3]}"
