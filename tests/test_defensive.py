"""Nothing a submission contains stops the batch, its tree is read and not followed, and its
text is escaped for wherever it goes (issue 18, attacks 5, 8 and 9; DESIGN.md §2).

Property-based fuzzing (Hypothesis, derandomized: the same examples on every run) throws
malformed progress lines, wire messages, notebooks, unicode (lone surrogates, NUL, bidi
controls), non-finite and complex numbers at the parsers and the writers in-process; then
one local batch of crafted submissions (and one small run on a Dask cluster) checks that
every report is written for every student, and that a re-run resumes.
"""
import csv
import html
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from autograder import batch, notebooks, paths, runner, submissions
from autograder.chapter import graded_chapters, load_chapter
from autograder.formats import write_all
from autograder.formats.common import csv_cell, write_csv
from autograder.formats.gradescope import md_text, results_json
from autograder.grader import SubmissionResult
from autograder.runner import Limits
from autograder.sanitize import clean_result
from autograder.spec import CheckResult, ExerciseResult
from autograder.untrusted import wire
from tests.corpus import SOLUTION, STUB, Case, solved_notebook, write_case

CHAPTER = "05_linear_regression_scratch"
FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
LIMITS = Limits(check_seconds=20, cell_seconds=10, submission_seconds=120, memory_mb=2000)
HOSTILE_TEXT = "\ud800 \x00 \u202e ![x](http://evil.example/x.png) <img src=x onerror=alert(1)> `"
FORMULA = '=HYPERLINK("evil.example","click")'
NOT_UTF8 = os.fsdecode(b"name\xff")  # a folder name that is not UTF-8: "name\udcff"
REPORTS = ("grades.csv", "summary.csv", "canvas.csv", "results.json", "class_report.html",
           "class_report.csv")

# -- what a job, a notebook or a student's text may hold --------------------------------------
nasty_text = st.lists(st.sampled_from(list("ab=+-@\t\r\n`<>[]()!:/.\\\"'{}") +
                                      ["\ud800", "\udfff", "\x00", "\u202e", "\u2066", "\ufeff", "é",
                                       "www.", "http://", "evil.example", "&lt;"]), max_size=30).map("".join)
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) |
           st.complex_numbers() | nasty_text)
json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | nasty_text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(nasty_text | st.sampled_from(["event", "index", "label", "error",
                                                                        "cells", "source", "metadata"]),
                                           inner, max_size=4), max_leaves=20)
details = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) |
                       st.dictionaries(nasty_text, inner, max_size=4), max_leaves=25)


def deep(n: int) -> str:
    return "[" * n + "]" * n


progress_lines = st.one_of(
    st.builds(lambda kind, value: json.dumps({"event": kind, "index": value, "label": value,
                                              "error": value}),
              st.sampled_from(["cell", "cell_done", "check", "check_done", "done", "x"]), json_values),
    json_values.map(json.dumps),
    st.sampled_from(['{"event":"check","index":[]}', '{"event":"check_done","index":{}}',
                     '{"event":"check","index":1.0}', '{"event":"check","index":true}',
                     '{"event":"cell","label":["a"]}', '{"event":"cell_done","label":"x","error":[1]}',
                     deep(100_000), '{"a":' * 5000 + "1" + "}" * 5000, "\x00\xff", "NaN", "]"]),
    nasty_text)


@FUZZ
@given(st.lists(progress_lines, max_size=8), st.binary(max_size=64))
def test_progress_lines_cannot_stop_the_watcher(tmp_path_factory, lines, tail):
    job_dir = tmp_path_factory.mktemp("job")
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + tail
    (job_dir / "progress.jsonl").write_bytes(data)
    (job_dir / "out_1.bin").write_bytes(tail)
    report = runner.HarnessReport()
    by_index = {0: None, 1: None}
    events = runner._read_progress(job_dir)
    for ev in events:
        now = runner._advance(ev, job_dir, by_index, report)
        assert now is None or (now[0] == "cell" and type(now[1]) is str) or \
            (now[0] == "check" and type(now[1]) is int and now[1] in by_index)
    assert set(report.outputs) <= {0, 1} and all(type(k) is int for k in report.outputs)
    assert all(type(k) is str and type(v) is str for k, v in report.cell_errors.items())
    for out in report.outputs.values():
        assert out["status"] in ("ok", "error") and type(out.get("error", "")) is str


def test_progress_is_read_once_and_a_half_written_line_when_it_ends(tmp_path):
    path = tmp_path / "progress.jsonl"
    path.write_bytes(b'{"event":"cell","label":"a"}\n' + b"x" * (runner.MAX_EVENT_BYTES + 1) + b'\n{"event":"ce')
    assert runner._read_progress(tmp_path) == [{"event": "cell", "label": "a"}]
    with open(path, "ab") as f:
        f.write(b'll_done","label":"a","error":"E"}\n')
    assert [e["event"] for e in runner._read_progress(tmp_path)] == ["cell", "cell_done"]
    with open(path, "ab") as f:  # past the bytes read from a job: never read
        f.write(b" " * runner.MAX_PROGRESS_BYTES + b'\n{"event":"done"}\n')
    assert len(runner._read_progress(tmp_path)) == 2


def test_a_fifo_in_place_of_a_jobs_file_does_not_block(tmp_path):
    for name in ("progress.jsonl", "out_0.bin", "student_output.txt"):
        os.mkfifo(tmp_path / name)
    assert runner._read_progress(tmp_path) == []
    assert runner._read_output(tmp_path, 0)["status"] == "error"
    assert runner._tail(tmp_path / "student_output.txt", 1) == ""


def _raw_message(head: bytes, body: bytes) -> bytes:
    return len(head).to_bytes(8, "big") + head + body


wire_messages = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda v, body: _raw_message(json.dumps({"data": v, "arrays": {}}).encode(), body),
              json_values, st.binary(max_size=32)),
    st.builds(lambda dtype, shape, offset, body: _raw_message(json.dumps(
        {"data": {"__tensor__": "a0"}, "arrays": {"a0": {"dtype": dtype, "shape": shape, "offset": offset}}}).encode(),
        body), json_values, json_values, json_values, st.binary(max_size=64)),
    st.builds(lambda v: _raw_message(json.dumps({"data": v, "arrays": {}}).encode(), b""),
              st.sampled_from([{"__float__": [1]}, {"__float__": "1e999x"}, {"__tensor__": "zz"},
                               {"__tensor__": []}, {"__dict__": [1, 2]}, {"__seq__": "list", "items": 5},
                               {"__ndarray__": {}}, {"__object__": [], "text": {}}])),
    st.just(_raw_message(deep(100_000).encode(), b"")))


@FUZZ
@given(wire_messages)
def test_wire_readers_raise_only_valueerror(buffer):
    for read in (wire.loads_raw, lambda b: wire.loads_message(bytearray(b[4:])),
                 lambda b: wire.loads(b[8:].decode("utf-8", "replace"), b)):
        try:
            read(buffer)
        except ValueError:
            pass


notebook_json = st.one_of(
    json_values,
    st.builds(lambda nbformat, cells: {"nbformat": nbformat, "nbformat_minor": 5, "metadata": {},
                                       "cells": cells},
              json_values | st.just("4"), st.lists(json_values | st.builds(
                  lambda src, meta, kind: {"cell_type": kind, "source": src, "metadata": meta},
                  json_values, json_values, st.sampled_from(["code", "markdown", 3])), max_size=5)))


@FUZZ
@given(notebook_json)
def test_a_malformed_notebook_is_a_message(tmp_path_factory, nb):
    path = tmp_path_factory.mktemp("nb") / f"{CHAPTER}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8", errors="surrogatepass")
    release = notebooks.read_notebook(paths.release_notebook(CHAPTER))
    try:
        program = notebooks.build_program(release, notebooks.read_notebook(path))
    except notebooks.NotebookError as e:
        assert str(e)
    else:
        assert all(type(s.label) is str and type(s.source) is str for s in program.steps)
    assert submissions.solutions_written(path, submissions.release_stubs(CHAPTER)) >= -1


def test_deep_or_mistyped_notebooks_are_refused_with_a_reason(tmp_path):
    (tmp_path / "deep.ipynb").write_text(deep(100_000))
    nb = solved_notebook(CHAPTER)
    (tmp_path / "str.ipynb").write_text(json.dumps({**nb, "nbformat": "4"}))
    with pytest.raises(notebooks.NotebookError, match="nested too deeply"):
        notebooks.read_notebook(tmp_path / "deep.ipynb")
    with pytest.raises(notebooks.NotebookError, match="nbformat is \"4\""):
        notebooks.read_notebook(tmp_path / "str.ipynb")


def _result(student: str, message: str, detail) -> SubmissionResult:
    check = CheckResult("linreg", "values", "probe", 0.0, 1.0, "failed", message, detail)
    ex = ExerciseResult("linreg", 0.0, 1.0, "failed", message, (check,), note=message)
    return SubmissionResult(student, CHAPTER, (ex,), error=message, student_output=message,
                            notebook=f"{student}/{CHAPTER}/{CHAPTER}.ipynb", note=message)


@FUZZ
@given(nasty_text, details)
def test_every_writer_writes_whatever_a_result_holds(tmp_path_factory, text, detail):
    out = tmp_path_factory.mktemp("out")
    raw = _result("s" + re.sub(r"[^a-z]", "", text), text,
                  {"curve": {"student": detail, "reference": [1.0]}, "x": detail})
    sub = clean_result(raw)
    json.dumps(sub.to_json(), allow_nan=False)
    write_all(out, [sub], {"device": "cpu"})
    for name in REPORTS:
        (out / name).read_text(encoding="utf-8")
    json.dumps(results_json(raw), allow_nan=False).encode("utf-8")  # Gradescope: graded without the batch


@FUZZ
@given(nasty_text)
def test_markdown_shows_student_text_and_nothing_more(text):
    shown = _markdown()(md_text(f"`f(x)` raised ValueError: {text}"))
    assert set(re.findall(r"</?([a-zA-Z]+)", shown)) <= {"p", "code"}, shown


def _markdown():
    """Markdown as GitHub renders it: CommonMark, tables, strikethrough, and autolinks of
    ``www.``, ``http://`` and e-mail addresses (not of every bare domain)."""
    from markdown_it import MarkdownIt
    md = MarkdownIt("gfm-like").enable("linkify")
    md.linkify.set({"fuzzy_link": False})
    return md.render


@FUZZ
@given(st.lists(nasty_text | st.sampled_from([FORMULA, "-1.5", "+3", "@SUM(A1)", "-2+3", "1e-5"]),
                min_size=1, max_size=4))
def test_no_csv_cell_is_a_formula(tmp_path_factory, cells):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    columns = [f"c{i}" for i in range(len(cells))]
    write_csv(path, columns, [dict(zip(columns, cells))])
    (row,) = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")) or re.fullmatch(r"[+-][\d.e+-]+", value)
    assert csv_cell("-1.5") == "-1.5" and csv_cell(-1.5) == -1.5 and csv_cell(FORMULA) == "'" + FORMULA


# -- one batch of crafted submissions ---------------------------------------------------------
def _crafted_cases() -> list[Case]:
    forge_progress = """
        open("../progress.jsonl", "a").write('{"event":"check","index":[]}\\n' + "[" * 100000 + "\\n"
                                             + '{"event":"cell","label":{"a":1}}\\n')
        def linreg(X, w, b):
            return X @ w + b
        """
    nb = solved_notebook(CHAPTER)
    return [
        SOLUTION, STUB,
        Case("progress_forger", replace={"linreg": forge_progress}),
        Case("surrogate", replace={"linreg": "def linreg(X, w, b):\n    raise ValueError('\\ud800 \\x00 \\u202e')\n"}),
        Case("markdown", replace={"linreg": f"def linreg(X, w, b):\n    raise ValueError({HOSTILE_TEXT!r})\n"}),
        Case("complex_curve", replace={"squared_loss": """
            import torch
            _float = torch.Tensor.float
            torch.Tensor.float = lambda self: _float(self).to(torch.complex64) * (1 + 1j)
            def squared_loss(y_hat, y):
                return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
            """}),
        Case("nbformat_string", raw=json.dumps({**nb, "nbformat": "4"}).encode()),
        Case("deep_json", raw=deep(100_000).encode()),
        Case(FORMULA, replace={"linreg": "def linreg(X, w, b):\n    return X @ w + b + 0\n"}),
    ]


def _tree(submitted: Path) -> None:
    """The submissions, and a tree that tries to be followed: links to the solutions and to
    another student's notebook, a linked chapter folder, a FIFO, a sparse file over the
    size cap, a FIFO as timestamp.txt, a byte-for-byte copy of another's notebook, and a
    student whose folder's name is not UTF-8."""
    for case in _crafted_cases():
        write_case(CHAPTER, case, submitted)
    solution_nb = submitted / "solution" / CHAPTER / f"{CHAPTER}.ipynb"
    for name, target in (("linked_solutions", paths.solutions_notebook(CHAPTER)), ("copycat", solution_nb)):
        (submitted / name / CHAPTER).mkdir(parents=True)
        (submitted / name / CHAPTER / f"{CHAPTER}.ipynb").symlink_to(target)
    (submitted / "linked_folder").mkdir()
    (submitted / "linked_folder" / CHAPTER).symlink_to(solution_nb.parent)
    (submitted / "linked_student").symlink_to(submitted / "solution")
    (submitted / os.fsdecode(b"link\xfe")).symlink_to(os.fsdecode(b"/nowhere\xfe"))
    (submitted / "pipe" / CHAPTER).mkdir(parents=True)
    os.mkfifo(submitted / "pipe" / CHAPTER / f"{CHAPTER}.ipynb")
    (submitted / "huge" / CHAPTER).mkdir(parents=True)
    with open(submitted / "huge" / CHAPTER / f"{CHAPTER}.ipynb", "wb") as f:
        f.truncate(submissions.MAX_MB * 10**6 + 1)
    os.mkfifo(submitted / "stub" / CHAPTER / "timestamp.txt")
    write_case(CHAPTER, Case(NOT_UTF8, raw=b"{not json"), submitted)
    (submitted / "twin" / CHAPTER).mkdir(parents=True)
    (submitted / "twin" / CHAPTER / f"{CHAPTER}.ipynb").write_bytes(solution_nb.read_bytes())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("defensive")
    submitted, out = root / "submitted", root / "out"
    _tree(submitted)
    found = submissions.survey(submitted, [CHAPTER], graded_chapters())
    run = batch.grade_class(submitted, found, out, jobs=2, progress=False, limits=LIMITS)
    return root, run, {r.student_id: r for r in run.results}


def test_every_report_is_written_for_every_student(graded):
    root, run, results = graded
    out = root / "out"
    graded_ids = {c.name for c in _crafted_cases()} | {"twin", "name\ufffd"}
    assert set(results) == graded_ids
    for name in REPORTS:
        text = (out / name).read_text(encoding="utf-8")
        assert "\ud800" not in text and "\x00" not in text
    data = json.loads((out / "results.json").read_text())
    assert {s["student_id"] for s in data["submissions"]} == graded_ids
    for sid in graded_ids:
        assert (out / "feedback" / sid / f"{CHAPTER}.html").is_file()
        assert not list((out / "feedback" / sid).glob(".*")), "no temporary file left"
    assert not [p for p in out.rglob(".*.*") if p.is_file() and ".results" not in p.parts]
    assert batch.wrote_line(out, run) == (f"wrote {out}/: grades.csv, summary.csv, canvas.csv, results.json, "
                                          f"feedback/ ({len(results)} page(s)), class_report.html, "
                                          "class_report.csv")


def test_each_crafted_submission_fails_alone_with_a_message(graded):
    _, _, results = graded
    full = load_chapter(CHAPTER).max_score
    assert results["solution"].score == full and results["twin"].score == full
    assert results["progress_forger"].score == full, "forged progress lines are ignored, not believed"
    linreg = results["surrogate"].exercises[2]
    assert linreg.score == 0 and "ValueError: \ufffd \ufffd \u202e" in linreg.checks[0].message
    assert "not a whole number" in results["nbformat_string"].error
    assert "nested too deeply" in results["deep_json"].error
    training = {c.check: c for c in results["complex_curve"].exercises[-1].checks}
    curve = training["trajectory"].detail["curve"]
    assert curve["student"] and all(v is None for v in curve["student"]), "a complex value is no curve value"
    assert all(isinstance(v, float) and math.isfinite(v) for v in curve["reference"])


def test_links_fifos_and_huge_files_are_not_graded_with_the_reason(graded):
    root, run, _ = graded
    reasons = {n.path: n.reason for n in run.not_graded}
    for path in (f"linked_solutions/{CHAPTER}/{CHAPTER}.ipynb", f"copycat/{CHAPTER}/{CHAPTER}.ipynb",
                 f"linked_folder/{CHAPTER}", "linked_student"):
        assert reasons[path].startswith("a symbolic link"), (path, reasons)
    assert "FIFO" in reasons[f"pipe/{CHAPTER}/{CHAPTER}.ipynb"]
    assert f"over the {submissions.MAX_MB} MB limit" in reasons[f"huge/{CHAPTER}/{CHAPTER}.ipynb"]
    page = (root / "out" / "class_report.html").read_text()
    assert "a symbolic link" in page and "FIFO" in page
    assert "timestamp.txt not read: a FIFO" in graded[2]["stub"].note
    printed = "\n".join(submissions.not_graded_lines(run.not_graded))
    assert "link\ufffd: a symbolic link (to /nowhere\ufffd)" in printed and printed.encode("utf-8")


def test_the_class_report_flags_identical_notebooks_and_names_who_failed(graded):
    root, _, _ = graded
    page = (root / "out" / "class_report.html").read_text()
    section = page.split("Identical notebooks")[1].split("<h3>")[0]
    assert "solution" in section and "twin" in section and "stub" not in section
    failures = page.split("most common failures")[1].split("</table>")[0]
    named = re.findall(r"<b>(\d+)×</b>.*?<br><small>(.*?)</small>", failures)
    assert named and all(len(html.unescape(ids).split(", ")) == int(n) for n, ids in named), named
    assert any("deep_json" in ids.split(", ") for _, ids in named), named


def test_csv_cells_are_not_formulas(graded):
    root, _, _ = graded
    for name in ("grades.csv", "summary.csv", "canvas.csv"):
        rows = list(csv.reader(io.StringIO((root / "out" / name).read_text())))
        cells = [c for row in rows for c in row]
        assert "'" + FORMULA in cells, name
        assert not [c for c in cells if c.startswith(("=", "@", "\t", "\r"))], name


def test_gradescope_markdown_shows_the_exception_as_text(graded):
    render = _markdown()
    sub = graded[2]["markdown"]
    output = results_json(sub)
    shown = "".join(render(t["output"]) for t in output["tests"]) + render(output["output"])
    assert "evil.example" in shown and "<img" not in shown and "<a " not in shown


def test_a_rerun_resumes_without_a_crash(graded, tmp_path):
    root, first, _ = graded
    out = root / "out"
    stored = out / ".results" / CHAPTER
    (stored / "stub.json").write_text(deep(100_000))  # a stored result that cannot be read
    kept = json.loads((stored / "twin.json").read_text())  # one that holds a lone surrogate
    kept["result"]["exercises"][0]["message"] = "stored \ud800"
    (stored / "twin.json").write_text(json.dumps(kept))
    found = submissions.survey(root / "submitted", [CHAPTER], graded_chapters())
    again = batch.grade_class(root / "submitted", found, out, jobs=1, progress=False, limits=LIMITS)
    assert again.graded == 1 and again.reused == len(first.results) - 1
    assert [r.to_json() for r in again.results if r.student_id not in ("stub", "twin")] == \
        [r.to_json() for r in first.results if r.student_id not in ("stub", "twin")]
    assert "stored \ufffd" in (out / "grades.csv").read_text(encoding="utf-8")


# -- the same on a Dask cluster -----------------------------------------------------------------
def test_a_crafted_class_on_a_dask_cluster_writes_every_report(tmp_path):
    from tests.test_cluster import grade_args, loopback_cluster
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    cases = {c.name: c for c in _crafted_cases()}
    for name in ("progress_forger", "surrogate", "nbformat_string"):
        write_case(CHAPTER, cases[name], submitted)
    with loopback_cluster(tmp_path, workers=1) as cluster:
        proc = subprocess.run([sys.executable, "-m", "autograder", *grade_args(submitted, out),
                               "--cluster", cluster.address], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in REPORTS:
        assert (out / name).is_file(), name
    data = json.loads((out / "results.json").read_text())
    assert {s["student_id"] for s in data["submissions"]} == {"progress_forger", "surrogate", "nbformat_string"}
    assert all((out / "feedback" / sid / f"{CHAPTER}.html").is_file()
               for sid in ("progress_forger", "surrogate", "nbformat_string"))
    assert "wrote" in proc.stdout and "canvas.csv" in proc.stdout.splitlines()[-1]


def test_on_gradescope_a_notebook_over_the_size_cap_is_refused_with_the_reason(tmp_path):
    from autograder.executors.gradescope import pick_notebook
    (tmp_path / "submission").mkdir()
    with open(tmp_path / "submission" / f"{CHAPTER}.ipynb", "wb") as f:
        f.truncate(submissions.MAX_MB * 10**6 + 1)
    (tmp_path / "scratch").mkdir()
    path, note = pick_notebook(tmp_path / "submission", CHAPTER, tmp_path / "scratch")
    assert path is None and f"over the {submissions.MAX_MB} MB limit" in note, note


def test_a_fault_of_the_grader_on_one_submission_fails_it_alone_and_is_not_kept(tmp_path, monkeypatch):
    from autograder.grader import Grader
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    for name in ("boom", "fine"):
        write_case(CHAPTER, Case(name, raw=b"{not json"), submitted)
    grade = Grader.grade

    def faulty(self, path, student_id, **kwargs):
        if student_id == "boom":
            raise StopIteration  # as a forged progress event could make the runner raise
        return grade(self, path, student_id, **kwargs)
    monkeypatch.setattr(Grader, "grade", faulty)
    results = {r.student_id: r for r in batch.grade_all(submitted, [CHAPTER], out, jobs=1, progress=False)}
    assert results["boom"].score == 0 and "the grader failed on this submission (StopIteration" in results["boom"].error
    assert "not valid JSON" in results["fine"].error
    assert (out / "feedback" / "boom" / f"{CHAPTER}.html").is_file()
    assert sorted(p.stem for p in (out / ".results" / CHAPTER).glob("*.json")) == ["fine"], "graded again next run"
