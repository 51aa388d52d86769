"""Each job alone (issue 18 items 2 and 6; issue 21 item 1): a job shares nothing with the
next one of the same worker — no SysV segment, semaphore or queue, no /dev/shm file — and
its shared memory counts against its memory limit. Both ways a job is made alone are tried:
namespaces of its own (where the kernel allows it: here, under bubblewrap) and, with them
turned off (as on Gradescope or in Docker), everything of its user removed after it. And a
DataLoader with worker processes (which needs a writable /dev/shm) is graded like any other."""
import html
import json

import pytest

from autograder import sandbox
from autograder.chapter import load_chapter
from autograder.grader import Grader
from autograder.runner import Limits, Worker, preload_for
from tests.corpus import STUB, Case, assert_case, grade_corpus, write_case

CHAPTER = "05_linear_regression_scratch"
LIMITS = Limits(check_seconds=20, cell_seconds=20, submission_seconds=240, memory_mb=1000)
KEY = 0x5EED  # the SysV key the recording job uses
SHM_FILE = "/dev/shm/answers"

# C's SysV calls, for the student's code
IPC = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
libc.shmdt.argtypes = (ctypes.c_void_p,)
libc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
"""

# at load: records "answers" in a SysV segment (mode 0666), a semaphore set, a message queue
# and a /dev/shm file, as a student would who replays answers in a later job
RECORDS = Case("records", replace={"squared_loss": IPC + f"""
shmid = libc.shmget({KEY}, 4096, 0o1666)
if shmid >= 0:
    addr = libc.shmat(shmid, None, 0)
    ctypes.memmove(addr, b"answers", 7)
    libc.shmdt(addr)
libc.semget({KEY}, 1, 0o1666)
libc.msgget({KEY}, 0o1666)
try:
    with open({SHM_FILE!r}, "w") as f:
        f.write("answers")
except OSError:
    pass

def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
"""})

# returns a wrong shape if anything recorded by an earlier job is still there
FINDS = Case("finds", replace={"linreg": IPC + f"""
def recorded():
    sysv = [len(open(f"/proc/sysvipc/{{kind}}").read().splitlines()) > 1 for kind in ("shm", "sem", "msg")]
    return (any(sysv) or libc.shmget({KEY}, 0, 0) >= 0 or os.path.exists({SHM_FILE!r})
            or bool(os.listdir("/dev/shm")))

def linreg(X, w, b):
    if recorded():
        return X @ w.reshape(-1) + b
    return X @ w + b
"""})

# detached SysV segments and a /dev/shm file: 1.2 GB that no process's resident memory shows,
# made the first time sgd is called; a correct sgd otherwise
PINS_MEMORY = Case("pins_memory", replace={"sgd": IPC + """
pinned = []
def sgd(params, lr, batch_size):
    if not pinned:
        for _ in range(6):
            shmid = libc.shmget(0, 200 * 2**20, 0o1600)
            if shmid < 0:
                raise OSError(ctypes.get_errno(), "shmget refused")
            addr = libc.shmat(shmid, None, 0)
            ctypes.memset(addr, 1, 200 * 2**20)
            libc.shmdt(addr)
            pinned.append(shmid)
        with open("/dev/shm/pinned", "wb") as f:
            f.write(b"x" * (100 * 2**20))
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()
"""}, scores={"sgd": 0}, messages={"training": "working `sgd`"})


@pytest.fixture(params=["namespaces", "cleanup"])
def worker(request, monkeypatch):
    """One warm worker whose jobs have namespaces of their own, or share its namespace and
    are cleaned up after."""
    if request.param == "cleanup":
        monkeypatch.setenv(sandbox.NO_JOB_NAMESPACES_ENV, "1")
    with Worker("cpu", preload=preload_for([CHAPTER])) as w:
        assert w.alone == (request.param == "namespaces"), "jobs get namespaces of their own here"
        yield w


def test_nothing_a_job_records_reaches_the_next_job(worker, tmp_path):
    grader = Grader(load_chapter(CHAPTER), limits=LIMITS)
    results = {case.name: grader.grade(write_case(CHAPTER, case, tmp_path), case.name, worker=worker)
               for case in (RECORDS, FINDS, PINS_MEMORY, FINDS)}
    assert_case(CHAPTER, results["records"], RECORDS)
    sgd = next(e for e in results["pins_memory"].exercises if e.exercise == "sgd")
    assert "memory limit (1000 MB)" in sgd.message or "shmget refused" in sgd.message, sgd.message
    assert_case(CHAPTER, results["pins_memory"], PINS_MEMORY)
    assert_case(CHAPTER, results["finds"], Case("finds"))  # the later one: nothing was left


def test_shared_memory_counts_against_the_memory_limit(tmp_path, monkeypatch):
    """With no namespaces, no SysV limits of its own: only the watch stops it."""
    monkeypatch.setenv(sandbox.NO_JOB_NAMESPACES_ENV, "1")
    path = write_case(CHAPTER, PINS_MEMORY, tmp_path)
    result = Grader(load_chapter(CHAPTER), limits=LIMITS).grade(path, PINS_MEMORY.name)
    assert_case(CHAPTER, result, PINS_MEMORY)
    sgd = next(e for e in result.exercises if e.exercise == "sgd")
    assert "memory limit (1000 MB)" in sgd.message, sgd.message


LOADER_CHAPTER = "06_linear_regression_concise"
LOADER_WITH_WORKERS = Case("loader_with_workers", replace={"load_array": """
def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train, num_workers=2)
"""})


def test_a_data_loader_with_worker_processes_scores_full_marks(tmp_path):
    path = write_case(LOADER_CHAPTER, LOADER_WITH_WORKERS, tmp_path)
    limits = Limits(check_seconds=120, submission_seconds=400)
    result = Grader(load_chapter(LOADER_CHAPTER), limits=limits).grade(path, LOADER_WITH_WORKERS.name)
    assert_case(LOADER_CHAPTER, result, LOADER_WITH_WORKERS)


def test_every_report_names_the_isolation(tmp_path):
    grade_corpus(CHAPTER, [STUB], tmp_path, jobs=1)
    text = sandbox.describe()
    assert text.startswith("bubblewrap") and "own IPC namespace and /dev/shm" in text
    out = tmp_path / "out"
    assert json.loads((out / "results.json").read_text())["run"]["sandbox"] == text
    for page in (out / "feedback" / "stub" / f"{CHAPTER}.html", out / "class_report.html"):
        assert f"ran in isolation: {html.escape(text)}" in page.read_text()
