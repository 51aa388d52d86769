"""What a harness worker imports before its first job (runner.preload_for): the framework,
with torchvision and torch._dynamo (each about 160 MB) only for the chapters that use them —
and a job that needs a module its worker did not import still imports it and is graded."""
from autograder.chapter import load_chapter
from autograder.grader import Grader
from autograder.runner import Worker, preload_for
from autograder.untrusted import worker as worker_module
from tests.corpus import Case, write_case

OPTIONAL = ("torchvision", "torchvision.transforms", "torch._dynamo")


def test_each_chapter_preloads_what_it_uses_and_no_more():
    assert not set(OPTIONAL) & set(preload_for(["01_tensors_broadcasting"]))
    assert not set(OPTIONAL) & set(preload_for(["05_linear_regression_scratch"]))
    assert {"torchvision", "torchvision.transforms"} <= set(preload_for(["08_fashion_mnist"]))
    assert "torch._dynamo" not in preload_for(["08_fashion_mnist"])
    for chapter in ("06_linear_regression_concise", "09_softmax_regression_training"):  # make optimizers
        assert "torch._dynamo" in preload_for([chapter])
    both = preload_for(["05_linear_regression_scratch", "08_fashion_mnist"])
    assert "torchvision" in both and "torch" in both and "matplotlib.pyplot" in both


def test_a_chapter_that_cannot_be_read_preloads_everything():
    assert preload_for(["99_no_such_chapter"]) == worker_module.FRAMEWORK


def test_the_worker_imports_only_framework_modules_it_is_asked_for():
    assert worker_module._preload(["--preload", "numpy,os,subprocess,torch"]) == ("numpy", "torch")
    assert worker_module._preload([]) == worker_module.FRAMEWORK
    assert worker_module._preload(["--something", "else"]) == worker_module.FRAMEWORK


def test_a_job_imports_what_its_worker_did_not(tmp_path):
    """Chapter 05's worker has no torchvision; a student who imports it in a cell of their own
    (and uses it in linreg) is graded as if it had been there."""
    chapter = "05_linear_regression_scratch"
    helper = "import torchvision\n\ndef vision_version():\n    return torchvision.__version__\n"
    case = Case("imports_torchvision", insert=(("linreg", helper),),
                replace={"linreg": "def linreg(X, w, b):\n    assert vision_version()\n    return X @ w + b\n"})
    path = write_case(chapter, case, tmp_path / "submitted")
    preload = preload_for([chapter])
    assert "torchvision" not in preload
    grader = Grader(load_chapter(chapter))
    with Worker("cpu", preload=preload) as worker:
        result = grader.grade(path, case.name, worker=worker)
    assert result.score == result.max_score, result.exercises
