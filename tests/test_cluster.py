"""Grading on a Dask cluster: a real scheduler and two workers on 127.0.0.1 give, submission
by submission, the results of a local run — with a worker killed mid-run, and when an
interrupted run is resumed. A hostile submission reaches no other folder; a local run
imports nothing of Dask; an unreachable scheduler, or --device cuda without a GPU worker, is
one line on stderr."""
import contextlib
import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import cli
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, Case, write_case

CHAPTER = ch05.CHAPTER
DASK = Path(sys.executable).with_name("dask")
MARK = "reached-by-a-student"
WAIT = 300  # seconds: a generous bound on any one wait, never a measurement


def reaching_out(root: Path) -> Case:
    """A submission that tries to write into every folder under ``root`` (the workers', the
    client's output, the other submissions), then solves the exercise."""
    return Case("reaches_out", replace={"linreg": f"""
        import os
        for folder, _, _ in os.walk({str(root)!r}):
            try:
                open(os.path.join(folder, {MARK!r}), "w").write("x")
            except OSError:
                pass
        def linreg(X, w, b):
            return X @ w + b
        """})


def corpus_cases(wrong: int) -> list[Case]:
    """The solution, the stub, ``wrong`` other cases spread over chapter 05's corpus and,
    given any, its first unreadable file."""
    others = examples.WRONG
    spread = others[::max(1, len(others) // wrong)][:wrong] if wrong else []
    return [SOLUTION, STUB] + spread + [c for c in others if c.raw is not None and c not in spread][:1]


def write_class(submitted: Path, cases: list[Case], root: Path | None = None) -> None:
    """The cases and, given ``root``, the submission that reaches out and a student whose
    folder has no notebook."""
    for case in cases:
        write_case(CHAPTER, case, submitted)
    if root:
        write_case(CHAPTER, reaching_out(root), submitted)
        (submitted / "no_notebook" / CHAPTER).mkdir(parents=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(DASK), *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclasses.dataclass
class Cluster:
    address: str
    scheduler_file: Path
    workers: dict  # name → its process
    client: object


@contextlib.contextmanager
def loopback_cluster(root: Path, workers: int = 2):
    """A scheduler and ``workers`` single-thread workers on 127.0.0.1 (no nanny: a killed
    worker stays dead), their logs and folders under ``root``; all stopped on the way out."""
    from distributed import Client
    port, file = free_port(), root / "scheduler.json"
    address = f"tcp://127.0.0.1:{port}"
    procs = {"scheduler": start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                                 "--scheduler-file", str(file)], root / "scheduler.log")}
    try:
        for name in (f"w{i}" for i in range(workers)):
            procs[name] = start(["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                 "--no-dashboard", "--name", name, "--local-directory", str(root / name)],
                                root / f"{name}.log")
        with Client(address, timeout=WAIT, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=WAIT)
            yield Cluster(address, file, {n: p for n, p in procs.items() if n != "scheduler"}, client)
    finally:
        for proc in reversed(procs.values()):  # the workers first, then the scheduler
            stop(proc)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="module")
def cluster(root):
    with loopback_cluster(root) as running:
        yield running


@pytest.fixture(scope="module")
def local(root):
    """The class graded locally by the command line, in a process of its own; its results
    and the Dask modules it imported."""
    submitted, out = root / "submitted", root / "local"
    write_class(submitted, corpus_cases(2), root=root)
    code = ("import sys; from autograder import cli; rc = cli.main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))); "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *grade_args(submitted, out), "--jobs", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return stored(out), proc.stdout.splitlines()[-1]


def grade_args(submitted: Path, out: Path, *more: str) -> list[str]:
    return ["grade", str(submitted), "--chapter", "all", "--device", "cpu", "--out", str(out), *more]


def grade_in_background(submitted: Path, out: Path, *more: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", *grade_args(submitted, out, *more)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored(out: Path) -> dict:
    """Each stored result, without what differs between any two runs (its times; the paths of
    the job's temporary folders in what the student's code printed)."""
    found = {}
    for path in (out / ".results").glob("*/*.json"):
        result = json.loads(path.read_text())["result"]
        found[result["student_id"], result["chapter"]] = {
            k: v for k, v in result.items() if k not in ("seconds", "timings", "student_output")}
    return found


def graded_remotely(out: Path) -> list[Path]:
    return [p for p in (out / ".results").glob("*/*.json") if p.stem != "no_notebook"]


def first_graded_remotely(out: Path, grading: subprocess.Popen) -> None:
    """Return once a result that came from the cluster is stored."""
    deadline = time.monotonic() + WAIT
    while not graded_remotely(out):
        assert grading.poll() is None or graded_remotely(out), grading.communicate()
        assert time.monotonic() < deadline, "no result came back from the cluster"
        time.sleep(0.1)


def busy_worker(cluster: Cluster) -> str:
    """The name of a worker that is grading a submission now."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        names = {a: w["name"] for a, w in cluster.client.scheduler_info(n_workers=-1)["workers"].items()}
        busy = [names[a] for a, keys in cluster.client.processing().items() if keys and a in names]
        if busy:
            return busy[0]
        time.sleep(0.05)
    raise AssertionError("no worker was grading anything")


def run_info(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["run"]


def test_a_local_run_imports_nothing_of_dask(local):
    assert local[1] == "[]"


def test_a_worker_killed_mid_run_loses_no_submission(root, cluster, local):
    out = root / "cluster"
    grading = grade_in_background(root / "submitted", out, "--cluster", cluster.address)
    first_graded_remotely(out, grading)
    victim = busy_worker(cluster)
    cluster.workers[victim].kill()  # SIGKILL, with a submission in its hands
    stdout, stderr = grading.communicate(timeout=WAIT)
    assert grading.returncode == 0, stderr
    alive = {w["name"] for w in cluster.client.scheduler_info(n_workers=-1)["workers"].values()}
    assert victim not in alive and alive
    import torch
    assert set(cluster.client.run(torch.get_num_threads).values()) == {1}  # the grader's own threads
    assert stored(out) == local[0]
    assert (out / "grades.csv").read_text() == (root / "local" / "grades.csv").read_text()
    assert run_info(out)["graded"] == len(local[0]) and run_info(out)["cluster"] == cluster.address
    assert not list(root.rglob(MARK)), "a submission wrote outside its sandbox"


def test_an_interrupted_cluster_run_resumes(root, cluster, local):
    submitted, out = root / "resume-submitted", root / "resume"
    names = [c.name for c in corpus_cases(1)[:3]]  # the solution, the stub, one wrong
    for name in names:  # the very notebooks the local run graded
        shutil.copytree(root / "submitted" / name, submitted / name)
    grading = grade_in_background(submitted, out, "--cluster", cluster.address)
    first_graded_remotely(out, grading)
    grading.kill()  # the client dies: what it stored stays
    grading.wait()
    done = len(stored(out))
    rc = cli.main(grade_args(submitted, out, "--scheduler-file", str(cluster.scheduler_file)))
    assert rc == 0
    assert run_info(out)["reused"] == done and run_info(out)["graded"] == len(names) - done
    assert stored(out) == {k: v for k, v in local[0].items() if k[0] in names}


def test_an_unreachable_cluster_is_one_line_and_a_nonzero_exit(root, capfd):
    submitted = root / "unreachable-submitted"
    write_class(submitted, [STUB])
    rc = cli.main(grade_args(submitted, root / "unreachable", "--cluster", f"tcp://127.0.0.1:{free_port()}"))
    err = capfd.readouterr().err.strip()
    assert rc != 0 and "Traceback" not in err, err
    assert "cannot reach a Dask scheduler at tcp://127.0.0.1:" in err.splitlines()[-1], err


def test_cuda_on_a_cluster_without_gpu_workers_is_refused(root, cluster, capfd):
    submitted = root / "cuda-submitted"
    write_class(submitted, [STUB])
    rc = cli.main(grade_args(submitted, root / "cuda", "--device", "cuda", "--cluster", cluster.address))
    err = capfd.readouterr().err.strip()
    assert rc != 0 and "Traceback" not in err, err
    assert "--resources GPU=1" in err.splitlines()[-1], err
