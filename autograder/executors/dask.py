"""The Dask executor: grade a batch on a Dask distributed cluster.

Each Dask worker is on the trusted side: a :class:`WarmGraders` plugin on it holds warm
sandboxed harness workers (runner.Worker: the same bubblewrap sandbox, limits and user
switch as on one machine — the untrusted side) and one Grader per chapter, which computes
the references from that worker's own ``solutions/``. The client sends each notebook as
bytes (a worker needs none of the client's files); the worker writes it into a scratch
folder of its own, grades it, and sends back the result as plain data
(``SubmissionResult.to_json``) with the fingerprint of the grader that produced it.

Only the client writes the per-submission store (``store``), as each result arrives, so an
interrupted run resumes. A task is a pure function of its notebook and the grader, so when
a worker dies the scheduler re-runs its tasks elsewhere and nothing is lost or doubled.
With ``--device cuda`` every task asks for the worker resource ``GPU`` (``dask worker
--resources GPU=1``), so it runs only on workers that offer one.

This module imports ``distributed``: batch.py imports it only for ``--cluster``.
"""
from __future__ import annotations

import hashlib
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from distributed import Client, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from autograder.chapter import load_chapter
from autograder.executors import ExecutorError
from autograder.executors.local import _bar, _say, finished_text
from autograder.grader import Grader, SubmissionResult
from autograder.runner import Limits, Worker
from autograder.sanitize import GRADER_FAILED, clean_text, grade_safely

CONNECT_SECONDS = 10  # how long the client tries to reach the scheduler
WORKERS_SECONDS = 60  # how long it waits for a first worker to join
GPU = "GPU"  # the worker resource a --device cuda task asks for
GPU_SHARE = 0.9  # of the GPU's memory, split between the harnesses that share one


class WarmGraders(WorkerPlugin):
    """On each Dask worker: warm harness workers, a Grader per chapter, a scratch folder.

    Args:
        settings: chapter → (device, seed, limits) of the client's Grader for it.
    """

    def __init__(self, settings: dict[str, tuple[str, int, Limits]]):
        self.settings = settings
        self.name = "autograder-" + hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()[:16]

    def setup(self, worker) -> None:
        import torch
        # the worker's harness jobs keep its cores busy: the grader's own work here is small,
        # and a second intra-op thread would only spin against them (as in executors/local.py)
        torch.set_num_threads(1)
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-dask-", dir=worker.local_directory))
        os.chmod(self.scratch, 0o700)  # this worker's notebooks: no other user's to read
        self.harness_share = GPU_SHARE / max(1, min(worker.state.nthreads,
                                                    int(worker.state.total_resources.get(GPU, 1))))
        self.graders: dict[str, tuple[Grader, str]] = {}
        self.free: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.closed = False

    def teardown(self, worker) -> None:
        """Close the idle harness workers; a busy one closes when its task hands it back."""
        with self.lock:
            self.closed = True
        while True:
            try:
                self.free.get_nowait().close()
            except queue.Empty:
                break
        shutil.rmtree(self.scratch, ignore_errors=True)

    def grade(self, chapter: str, student_id: str, filename: str, data: bytes) -> dict:
        """Grade one notebook given as bytes; its result as plain data, with the fingerprint
        of the grader that produced it."""
        grader, fingerprint = self.grader(chapter)
        folder = Path(tempfile.mkdtemp(dir=self.scratch))
        path = folder / Path(filename).name  # the name feedback messages cite, as locally
        path.write_bytes(data)
        harness = self.checkout()
        try:
            result = grade_safely(grader, path, student_id, worker=harness)
        finally:
            self.checkin(harness)
            shutil.rmtree(folder, ignore_errors=True)
        return {"result": result.to_json(), "fingerprint": fingerprint}

    def grader(self, chapter: str) -> tuple[Grader, str]:
        """The chapter's Grader on this worker and its fingerprint, made on first use."""
        with self.lock:
            if chapter not in self.graders:
                device, seed, limits = self.settings[chapter]
                grader = Grader(load_chapter(chapter), device=device, seed=seed, limits=limits)
                self.graders[chapter] = grader, grader.fingerprint()
            return self.graders[chapter]

    def checkout(self) -> Worker:
        """A warm harness worker: a free one, or a new one (at most one per task slot)."""
        try:
            return self.free.get_nowait()
        except queue.Empty:
            device = next(iter(self.settings.values()))[0]
            return Worker(device, gpu_fraction=self.harness_share)

    def checkin(self, harness: Worker) -> None:
        """Hand a harness worker back; close it if the plugin was torn down meanwhile."""
        with self.lock:
            if not self.closed:
                self.free.put(harness)
                return
        harness.close()


def grade_on_worker(plugin: str, chapter: str, student_id: str, filename: str, data: bytes) -> dict:
    """A Dask task: grade one notebook with this worker's :class:`WarmGraders`."""
    return get_worker().plugins[plugin].grade(chapter, student_id, filename, data)


def grade_parallel(todo: list, graders: dict, store: Callable, device: str, jobs: int,
                   progress: bool, start: float, *, cluster: str) -> dict:
    """Grade ``todo`` on the Dask cluster at ``cluster``; store each result as it arrives.

    Args:
        cluster: the scheduler's address (``tcp://HOST:PORT``) or its scheduler file.
        jobs: unused — the workers' threads (``dask worker --nthreads``) set the parallelism.

    A submission whose task failed on the cluster (its worker died every time it was tried)
    gets a result that says so, scoring zero, which is not stored: a re-run tries it again.

    Raises:
        ExecutorError: the cluster cannot be reached, has no (GPU) worker, or grades with
            other code than this machine.
    """
    plugin = WarmGraders({c: (g.device, g.seed, g.limits) for c, g in graders.items()})
    wanted = {c: g.fingerprint() for c, g in graders.items()}
    results, remote = {}, []
    for sub in todo:
        data = _read(sub.path)
        if data is None:  # unreadable here: the grader says so without any harness
            results[sub] = graders[sub.chapter].grade(sub.path, sub.student_id)
            store(sub, results[sub])
        else:
            remote.append((sub, data))
    if not remote:
        return results
    with connect(cluster) as client:
        workers = require_workers(client, cluster, device)
        if progress:
            _say(f"grading {len(remote)} submission(s) on the Dask cluster at {cluster}: {len(workers)} "
                 f"worker(s), {sum(w.get('nthreads', 1) for w in workers)} thread(s)")
        client.register_plugin(plugin, plugin.name)
        try:
            futures = {client.submit(grade_on_worker, plugin.name, sub.chapter, sub.student_id,
                                     sub.path.name, data, key=_task_key(sub, data, wanted),
                                     resources={GPU: 1} if device == "cuda" else None): sub
                       for sub, data in remote}
            results.update(_collect(client, futures, graders, wanted, store, progress, start, len(results)))
        finally:
            client.unregister_worker_plugin(plugin.name)
    return results


def connect(cluster: str) -> Client:
    """A client of the scheduler at ``cluster`` (an address, or the path of a scheduler file)."""
    try:
        if Path(cluster).is_file():
            return Client(scheduler_file=cluster, timeout=CONNECT_SECONDS, set_as_default=False)
        return Client(cluster, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, ValueError, TypeError) as e:
        raise ExecutorError(f"cannot reach a Dask scheduler at {cluster} within {CONNECT_SECONDS} s "
                            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no answer'}); "
                            "is `dask scheduler` running there?") from None


def require_workers(client: Client, cluster: str, device: str) -> list[dict]:
    """The cluster's workers (as the scheduler describes them), once one of them can take
    the batch's tasks; else raise."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_SECONDS)
    except (TimeoutError, OSError):
        raise ExecutorError(f"the Dask cluster at {cluster} has no workers after {WORKERS_SECONDS} s; "
                            f"start some with `dask worker {cluster}`") from None
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    if device == "cuda" and not any(w.get("resources", {}).get(GPU) for w in workers):
        raise ExecutorError(f"--device cuda, but no worker of the Dask cluster at {cluster} offers "
                            f"a GPU; start GPU workers with `dask worker {cluster} --resources {GPU}=1`")
    return list(workers)


def _collect(client: Client, futures: dict, graders: dict, wanted: dict, store: Callable,
             progress: bool, start: float, done: int) -> dict:
    """Each task's result as it arrives, checked and stored; a task that failed gives its
    submission a result saying so (not stored), and one line on stderr."""
    results, failed = {}, []
    total = done + len(futures)
    for fut in as_completed(futures, loop=client.loop):
        sub = futures[fut]
        if fut.status != "finished":
            error = fut.exception()
            failed.append(sub)
            why = (f"{GRADER_FAILED}: its task failed on the Dask cluster ({type(error).__name__}: "
                   f"{clean_text(error)[:300]}); it is graded again on the next run")
            results[sub] = graders[sub.chapter]._unreadable(sub.student_id, why, time.monotonic())
        else:
            answer = fut.result()
            if answer["fingerprint"] != wanted[sub.chapter]:
                raise ExecutorError("a Dask worker grades with other code or solutions than this "
                                    "machine (its grader's fingerprint differs); give every worker "
                                    "the same checkout and environment")
            results[sub] = SubmissionResult.from_json(answer["result"])
            store(sub, results[sub])
        done += 1
        if progress:
            _bar(done, total, time.monotonic() - start, finished_text(sub, results[sub]))
    if failed:
        _say(f"{len(failed)} submission(s) could not be graded on the cluster (first: "
             f"{failed[0].student_id}/{failed[0].chapter}); the reports say so, and the next run "
             "grades them again")
    return results


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _task_key(sub, data: bytes, wanted: dict) -> str:
    """The same key for the same student, notebook and grader: a re-run task is the same task."""
    digest = hashlib.sha256(data + wanted[sub.chapter].encode()).hexdigest()[:16]
    return f"autograder-{sub.chapter}-{sub.student_id}-{digest}"
