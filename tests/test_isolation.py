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
        try:
            with open("/dev/shm/pinned", "wb") as f:
                f.write(b"x" * (100 * 2**20))
        except OSError:
            pass
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
    """A job records answers; the next job of the same worker finds nothing. A job pins
    1.2 GB of shared memory past its 1000 MB limit: it is stopped, and the next job finds
    nothing of it either."""
    grader = Grader(load_chapter(CHAPTER), limits=LIMITS)
    def grade(case):
        return grader.grade(write_case(CHAPTER, case, tmp_path / str(len(seen))), case.name, worker=worker)
    seen = []
    for case in (RECORDS, FINDS, PINS_MEMORY, FINDS):
        seen.append(grade(case))
    records, finds, pins, finds_after = seen
    assert_case(CHAPTER, records, RECORDS)
    assert_case(CHAPTER, finds, Case("finds"))  # nothing the recording job made was there
    sgd = next(e for e in pins.exercises if e.exercise == "sgd")
    # with namespaces the kernel may refuse the segment first (SysV capped at the memory
    # limit); without, only the watch, counting shared memory, stops it
    stops = ("memory limit (1000 MB)", "shmget refused") if worker.alone else ("memory limit (1000 MB)",)
    assert any(phrase in sgd.message for phrase in stops), sgd.message
    assert_case(CHAPTER, pins, PINS_MEMORY)
    assert_case(CHAPTER, finds_after, Case("finds"))  # nor anything the memory pinner made


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


def test_without_any_isolation_the_batch_grader_refuses(tmp_path):
    """A bwrap that cannot start and a Python other users cannot read: ``grade`` refuses,
    exit status 5, with the reason and the option, and writes nothing."""
    import os
    import subprocess
    from tests.test_gradescope import failing_bwrap, private_python
    write_case(CHAPTER, STUB, tmp_path / "submitted")
    python = private_python(tmp_path / "home") / "python"
    env = {**os.environ, "PATH": f"{failing_bwrap(tmp_path / 'fakebin')}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(python), "-m", "autograder", "grade", str(tmp_path / "submitted"), "--chapter",
                           CHAPTER, "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "Refusing to grade" in proc.stderr and "--allow-unsandboxed" in proc.stderr
    assert str(tmp_path / "home") in proc.stderr, "it names the folder other users cannot read"
    assert not (tmp_path / "out").exists()
