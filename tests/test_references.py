"""Reference answers are computed once and kept (autograder/references.py): a second grader —
another process, another grading run — reads them back instead of computing them, and
grades exactly as the first."""
import pytest

from autograder import references
from autograder.chapter import load_chapter
from autograder.grader import Grader
from autograder.runner import Worker
from tests.corpus import Case, write_case

CHAPTER = "05_linear_regression_scratch"
CASES = [Case("solution"), Case("sgd_no_zero", replace={"sgd": """
    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
    """})]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A reference cache of its own for the test."""
    monkeypatch.setattr(references, "folder", lambda chapter, key: tmp_path / "refs" / chapter / key)
    # the chapter's files are the key's other part (test_the_key_follows_what_answers_depend_on)
    monkeypatch.setattr(references, "cache_key", lambda chapter, seed, device: f"{seed}-{device}")
    return tmp_path / "refs"


def test_a_second_grader_reads_the_references_and_grades_alike(cache, tmp_path, monkeypatch):
    paths = [write_case(CHAPTER, case, tmp_path / "submitted") for case in CASES]
    with Worker("cpu") as worker:
        first = Grader(load_chapter(CHAPTER))
        before = [first.grade(p, c.name, worker=worker) for p, c in zip(paths, CASES)]
        stored = sorted(p.name for p in cache.rglob("*") if p.is_file() and p.suffix != ".seconds")  # not the times
        assert len(stored) == len({(ex.name, c.name) for ex in first.chapter.exercises
                                   for c in ex.checks if c.probe and c is _lead(ex, c)})
        monkeypatch.setattr(Grader, "_reference_runs", lambda *a: pytest.fail("computed again"))
        second = Grader(load_chapter(CHAPTER))
        after = [second.grade(p, c.name, worker=worker) for p, c in zip(paths, CASES)]
    assert [r.exercises for r in after] == [r.exercises for r in before]
    assert after[0].score == after[0].max_score and after[1].score < after[1].max_score


def test_a_damaged_cache_file_is_computed_again(cache):
    path = cache / "x" / "ex.check"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an answer")
    assert references.cached(path, lambda: {"answer": 42}) == {"answer": 42}
    assert references.cached(path, lambda: pytest.fail("computed again")) == {"answer": 42}


def _lead(ex, check):
    from autograder.grader import lead
    return lead(ex, check)


def test_the_key_follows_what_answers_depend_on():
    key = references.cache_key(CHAPTER, 1, "cpu")
    assert key == references.cache_key(CHAPTER, 1, "cpu")
    assert key != references.cache_key(CHAPTER, 2, "cpu")
    assert key != references.cache_key("04_gradient_descent_numpy", 1, "cpu")


def test_answers_keep_their_shapes_and_types_through_the_cache(cache):
    import torch
    from autograder.untrusted import wire
    answer = wire.roundtrip({"scalar": torch.tensor(2.5), "int": torch.tensor(3), "vector": torch.ones(2),
                             "number": 1.5, "pair": (torch.zeros(1, 1), "text")})
    path = cache / "shapes" / "ex.check"
    assert references.cached(path, lambda: answer) == answer
    back = references.cached(path, lambda: pytest.fail("computed again"))
    assert back["scalar"].shape == () and back["int"].dtype == torch.int64 and back["pair"][0].shape == (1, 1)
