"""What a harness worker imports before its first job (runner.preload_for): the framework,
with torchvision and torch._dynamo (each about 160 MB) only for the chapters that use them,
and each chapter's WORKER_WARMUP (chapter 09: Fashion-MNIST, read once per worker) — and a
job that needs a module its worker did not import still imports it and is graded."""
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
    named = "numpy,chapter:09_softmax_regression_training,chapter:../../etc,chapter:os.system,chapter:"
    assert worker_module._chapters(["--preload", named]) == ("09_softmax_regression_training",)
    assert worker_module._chapters([]) == ()


def test_the_chapters_are_named_for_their_warm_up():
    assert "chapter:09_softmax_regression_training" in preload_for(["09_softmax_regression_training"])
    assert "chapter:09_softmax_regression_training" not in preload_for(["05_linear_regression_scratch"])


# accuracy (the first exercise: no probe has read any data yet), with a line that reports what
# the job found already loaded by its worker
ACCURACY_REPORTING_THE_CACHE = """
import autograder.checks.ch09_softmax_regression_training as _checks
print("fashion-mnist splits already loaded:", _checks._fashion_mnist.cache_info().currsize)

def accuracy(y_hat, y):
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(1)
    return float((y_hat.reshape(-1).type(y.dtype) == y).sum())  # a column (n, 1) too
"""


def test_chapter_09_s_worker_reads_fashion_mnist_once_for_all_its_jobs(tmp_path):
    chapter = "09_softmax_regression_training"
    path = write_case(chapter, Case("reports_cache", replace={"accuracy": ACCURACY_REPORTING_THE_CACHE}),
                      tmp_path / "submitted")
    grader = Grader(load_chapter(chapter))
    outputs = {}
    for name, preload in (("warmed", preload_for([chapter])), ("not warmed", preload_for(["05_linear_regression_scratch"]))):
        with Worker("cpu", preload=preload) as worker:
            result = grader.grade(path, name, worker=worker)
        assert result.score == result.max_score, result.exercises
        outputs[name] = result.student_output
    assert "fashion-mnist splits already loaded: 2" in outputs["warmed"]
    assert "fashion-mnist splits already loaded: 0" in outputs["not warmed"]


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


def test_the_graders_start_builds_no_iri_grammars():
    """jsonschema (through nbformat) builds 38 Lark grammars when ``rfc3987_syntax`` is
    installed, as it is here: autograder/__init__.py keeps it from being imported, and
    notebooks are still read and validated."""
    import subprocess
    import sys
    code = ("import sys, autograder.cli, autograder.notebooks, nbformat\n"
            "nbformat.validate(nbformat.v4.new_notebook())\n"
            "print(sorted({'lark', 'rfc3987_syntax'} & {m for m, v in sys.modules.items() if v}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
