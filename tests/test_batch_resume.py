"""Re-running a batch skips unchanged submissions; a changed notebook or --force regrades."""
import json

from autograder import batch
from autograder.chapter import load_chapter
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, write_case

CHAPTER = ch05.CHAPTER


def expected_total(case) -> float:
    """The total chapter 05's corpus expects of a case."""
    return sum({**{ex.name: ex.points for ex in load_chapter(CHAPTER).exercises}, **case.scores}.values())


def run_info(out):
    return json.loads((out / "results.json").read_text())["run"]


def test_rerun_reuses_results_and_regrades_what_changed(tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    for case in (SOLUTION, STUB):
        write_case(CHAPTER, case, submitted)
    first = batch.grade_all(submitted, [CHAPTER], out, jobs=2, progress=False)
    assert run_info(out)["graded"] == 2 and run_info(out)["reused"] == 0

    again = batch.grade_all(submitted, [CHAPTER], out, jobs=2, progress=False)
    assert run_info(out)["graded"] == 0 and run_info(out)["reused"] == 2
    assert [r.to_json() for r in again] == [r.to_json() for r in first]

    never_zeroes = examples.SGD_NEVER_ZEROES
    write_case(CHAPTER, never_zeroes, submitted)  # a new student
    nb = submitted / "stub" / CHAPTER / f"{CHAPTER}.ipynb"
    nb.write_text(nb.read_text() + "\n")  # the stub's notebook changed
    results = batch.grade_all(submitted, [CHAPTER], out, jobs=2, progress=False)
    assert run_info(out)["graded"] == 2 and run_info(out)["reused"] == 1
    scores = {r.student_id: r.score for r in results}
    assert scores["solution"] == expected_total(SOLUTION) and scores["stub"] == 0
    assert 0 < scores["sgd_never_zeroes"] < expected_total(SOLUTION)

    batch.grade_all(submitted, [CHAPTER], out, jobs=2, progress=False, force=True)
    assert run_info(out)["graded"] == 3


def test_an_interrupted_run_keeps_what_was_graded(tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    write_case(CHAPTER, SOLUTION, submitted)
    batch.grade_all(submitted, [CHAPTER], out, jobs=1, progress=False)
    (out / "grades.csv").unlink()  # as if the run had died before writing the reports
    write_case(CHAPTER, STUB, submitted)
    batch.grade_all(submitted, [CHAPTER], out, jobs=1, progress=False)
    assert run_info(out)["reused"] == 1 and run_info(out)["graded"] == 1
    assert "solution" in (out / "grades.csv").read_text()


def test_a_rerun_with_nothing_to_grade_closes_the_workers_started_early(tmp_path):
    """The command line starts workers before it knows that every result can be reused; a
    run with nothing left to grade ends them and removes their scratch folders."""
    from autograder.chapter import graded_chapters
    from autograder.runner import WorkerPool
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    write_case(CHAPTER, STUB, submitted)
    batch.grade_all(submitted, [CHAPTER], out, jobs=1, progress=False)
    pool = WorkerPool(1, "cpu", ("numpy",))
    batch.grade_class(submitted, batch.survey(submitted, [CHAPTER], graded_chapters()), out, jobs=1,
                      progress=False, workers=pool)
    assert run_info(out)["graded"] == 0
    worker = pool._futures[0].result()
    assert worker.proc.poll() is not None and not worker.scratch.exists()
