"""A harness worker lives as long as the grader, whichever thread started it: bubblewrap's
--die-with-parent follows the starting *thread*, so workers started from a pool's threads
(the early WorkerPool, a restart in the local executor, a Dask task) used to die with
those threads, and their first job was lost and graded again on a fresh worker. And while
the workers' jobs run, the grader computes on one intra-op thread."""
import threading
import time

from autograder.chapter import load_chapter
from autograder.grader import Grader
from autograder.runner import Worker, WorkerPool, preload_for
from tests.corpus import SOLUTION, write_case

CHAPTER = "01_tensors_broadcasting"


def _grade_keeps_the_worker(worker: Worker, tmp_path) -> None:
    time.sleep(1)  # the starting thread has ended: a sandbox tied to it is gone by now
    assert worker.proc.poll() is None, "the worker died with the thread that started it"
    pid = worker.proc.pid
    result = Grader(load_chapter(CHAPTER)).grade(write_case(CHAPTER, SOLUTION, tmp_path), "s", worker=worker)
    assert result.score == result.max_score
    assert worker.proc.pid == pid, "the worker had to be started again"


def test_a_worker_outlives_the_thread_that_started_it(tmp_path):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("worker", Worker("cpu", preload=preload_for([CHAPTER]))))
    thread.start()
    thread.join()
    try:
        _grade_keeps_the_worker(box["worker"], tmp_path)
    finally:
        box["worker"].close()


def test_the_early_pool_s_workers_survive_take(tmp_path):
    [worker] = WorkerPool(1, "cpu", preload_for([CHAPTER])).take(1, "cpu")
    try:
        _grade_keeps_the_worker(worker, tmp_path)
    finally:
        worker.close()


def test_the_grader_computes_on_one_thread_while_its_jobs_run(tmp_path):
    """The jobs keep the cores busy: the grader's own work meanwhile (comparisons, the answers
    to stand-ins) runs on one intra-op thread, and the setting is restored afterwards."""
    import torch
    from autograder.executors.local import grade_parallel
    from autograder.grader import SubmissionResult
    from autograder.submissions import Submission

    class Idle:  # a worker the fake grader never uses
        def close(self):
            pass

    class Pool:
        def take(self, count, device):
            return [Idle() for _ in range(count)]

    class Recording:
        threads: list = []

        def warm_up(self):
            pass

        def grade(self, path, student_id, worker=None):
            self.threads.append(torch.get_num_threads())
            return SubmissionResult(student_id, CHAPTER, ())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        todo = [Submission(s, CHAPTER, tmp_path / f"{s}.ipynb") for s in ("a", "b", "c")]
        results = grade_parallel(todo, {CHAPTER: Recording()}, lambda sub, result: None, "cpu", 2,
                                 False, time.monotonic(), workers=Pool())
        assert len(results) == 3 and Recording.threads == [1, 1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_warming_up_builds_what_stand_ins_answer_from():
    """Built while the workers start, not mid-run: the solutions' namespace, where an exercise
    uses another's functions (chapter 09), and nothing where none does (chapter 01)."""
    from autograder.chapter import reference_namespace
    plain, using = Grader(load_chapter(CHAPTER)), Grader(load_chapter("09_softmax_regression_training"))
    reference_namespace.cache_clear()
    plain.warm_up()
    assert reference_namespace.cache_info().currsize == 0
    using.warm_up()
    assert reference_namespace.cache_info().currsize == 1 and callable(
        reference_namespace("09_softmax_regression_training")["accuracy"])
