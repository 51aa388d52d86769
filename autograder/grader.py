"""The grading pipeline for one submission: load → run in harness → compare → results.

Ordering matters: inputs are drawn (here, from the secret seed) before the harness starts;
references are computed here from ``solutions/`` on the same inputs and seeds, after or
while the harness runs; comparison happens only here.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autograder import notebooks, policy, runner
from autograder.untrusted import wire
from autograder.chapter import Chapter, reference_namespace
from autograder.spec import (Check, CheckFailed, CheckResult, Context, Exercise, ExerciseResult,
                             seed_everything)
from autograder.tolerances import tolerance

DEFAULT_SEED = 20251121  # the course's default; instructors pass --seed to draw other inputs


def derive_seed(seed: int, *names: object) -> int:
    """A 31-bit seed for one purpose, derived from the run's seed and names."""
    digest = hashlib.sha256(repr((seed,) + names).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class SubmissionResult:
    """A student's results for one chapter."""
    student_id: str
    chapter: str
    exercises: tuple[ExerciseResult, ...]
    error: str | None = None  # the notebook could not be graded at all
    notebook_sha256: str = ""
    seconds: float = 0.0
    student_output: str = ""

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 6)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "exercises": [e.to_json() for e in self.exercises]}

    @staticmethod
    def from_json(data: dict) -> "SubmissionResult":
        exercises = tuple(ExerciseResult.from_json(e) for e in data["exercises"])
        return SubmissionResult(**{**data, "exercises": exercises})


@dataclass
class Grader:
    """Grades submissions of one chapter; caches the reference's answers between them."""
    chapter: Chapter
    device: str = "cpu"
    seed: int = DEFAULT_SEED
    limits: runner.Limits = field(default_factory=runner.Limits)

    def __post_init__(self) -> None:
        self._refs: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self._inputs = {(ex.name, c.name): self.inputs_for(ex, c)
                        for ex in self.chapter.exercises for c in ex.checks
                        if c.probe and lead(ex, c) is c}

    def fingerprint(self) -> str:
        """What a result depends on besides the notebook: the grader's code, the chapter's
        solutions and release, the seed, the device and the limits."""
        from autograder import paths
        digest = hashlib.sha256(repr((self.seed, self.device, self.limits)).encode())
        package = Path(__file__).resolve().parent
        for path in sorted(package.rglob("*.py")) + [paths.solutions_notebook(self.chapter.slug),
                                                    paths.release_notebook(self.chapter.slug)]:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    # -- inputs and references -------------------------------------------------------
    def inputs_for(self, exercise: Exercise, check: Check, variant: int = 0) -> dict:
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "inputs", exercise.name, check.name))
        inputs = check.make_inputs(gen) if check.make_inputs else {}
        return {**inputs, "variant": variant} if check.reference_variants > 1 else inputs

    def probe_seed(self, exercise: Exercise, check: Check) -> int:
        return derive_seed(self.seed, "probe", exercise.name, lead(exercise, check).name)

    def reference(self, exercise: Exercise, check: Check) -> Any:
        """The reference's outputs for a check (a list when it has variants), computed once."""
        check = lead(exercise, check)
        key = (exercise.name, check.name)
        with self._lock:
            if key not in self._refs:
                outs = [self._reference_run(exercise, check, v) for v in range(check.reference_variants)]
                self._refs[key] = outs if check.reference_variants > 1 else outs[0]
            return self._refs[key]

    def _reference_run(self, exercise: Exercise, check: Check, variant: int) -> Any:
        ns = dict(reference_namespace(self.chapter.slug))
        inputs = self._inputs[exercise.name, check.name]
        inputs = {**inputs, "variant": variant} if check.reference_variants > 1 else inputs
        ctx = Context(device=torch.device(self.device), seed=self.probe_seed(exercise, check))
        seed_everything(ctx.seed)
        return wire.roundtrip(check.probe(ns, copy.deepcopy(inputs), ctx))

    # -- one submission --------------------------------------------------------------
    def grade(self, path: str | Path, student_id: str,
              worker: runner.Worker | None = None) -> SubmissionResult:
        """Grade one notebook; faults in it become messages and zeros, never exceptions."""
        start = time.monotonic()
        try:
            student_nb = notebooks.read_notebook(path)
            raw = Path(path).read_bytes()
        except notebooks.NotebookError as e:
            return self._unreadable(student_id, str(e), start)
        except OSError as e:
            return self._unreadable(student_id, f"cannot read {Path(path).name}: {e.strerror}", start)
        program = notebooks.build_program(self.chapter.release(), student_nb)
        jobs = self._jobs(program)
        report = runner.run(program.cells, list(jobs.values()), self.device, self.limits, worker)
        results = tuple(self._exercise_result(ex, program, report) for ex in self.chapter.exercises)
        return SubmissionResult(student_id, self.chapter.slug, results, None,
                                hashlib.sha256(raw).hexdigest(), time.monotonic() - start,
                                report.student_output[-2000:])

    def grade_in_process(self, ns: dict, sources: dict[str, str], exercise_name: str) -> ExerciseResult:
        """The nbgrader path: probe the functions in ``ns`` (a kernel's globals) in this process."""
        exercise = self.chapter.exercise(exercise_name)
        program = notebooks.Program(cells=[(k, v) for k, v in sources.items()],
                                    found={k: "grade_id" for k in sources})
        report = runner.HarnessReport()
        for index, (check, job) in enumerate(self._probes(exercise)):
            ctx = Context(device=torch.device(self.device), seed=job.seed)
            seed_everything(ctx.seed)
            try:
                outputs = check.probe(dict(ns), copy.deepcopy(job.inputs), ctx)
                out = {"status": "ok", "outputs": outputs, "call": ctx.call}
            except Exception as e:  # noqa: BLE001  the student's exception is the finding
                out = {"status": "error", "error": f"{type(e).__name__}: {e}", "call": ctx.call}
            report.outputs[job.index] = wire.roundtrip(out)
        return self._exercise_result(exercise, program, report)

    def _probes(self, exercise: Exercise):
        """One probe job per group of checks that share a probe and its inputs."""
        for check in exercise.checks:
            if check.probe and lead(exercise, check) is check:
                timeout = max(c.timeout for c in exercise.checks if lead(exercise, c) is check)
                yield check, runner.ProbeJob(
                    index=self._index(exercise, check), module=self.chapter.checks_module,
                    exercise=exercise.name, check=check.name, seed=self.probe_seed(exercise, check),
                    inputs=self._inputs[exercise.name, check.name],
                    timeout=min(timeout, self.limits.check_seconds or timeout))

    def _index(self, exercise: Exercise, check: Check) -> int:
        return list(self._inputs).index((exercise.name, lead(exercise, check).name))

    def _jobs(self, program: notebooks.Program) -> dict[int, runner.ProbeJob]:
        return {job.index: job for ex in self.chapter.exercises for _, job in self._probes(ex)}

    def _unreadable(self, student_id: str, why: str, start: float) -> SubmissionResult:
        results = tuple(ExerciseResult.from_checks(ex, [
            CheckResult(ex.name, c.name, c.kind, 0.0, c.points, "missing", why) for c in ex.checks])
            for ex in self.chapter.exercises)
        return SubmissionResult(student_id, self.chapter.slug, results, why, "",
                                time.monotonic() - start)

    # -- comparing -------------------------------------------------------------------
    def _exercise_result(self, exercise: Exercise, program: notebooks.Program,
                         report: runner.HarnessReport) -> ExerciseResult:
        missing = self._missing_message(exercise, program, report)
        results = []
        for check in exercise.checks:
            if missing:
                results.append(CheckResult(exercise.name, check.name, check.kind, 0.0,
                                           check.points, "missing", missing))
            elif check.rule:
                continue
            else:
                out = report.outputs.get(self._index(exercise, check))
                results.append(self._evaluate(exercise, check, out))
        if not missing:
            results += self._policy_results(exercise, program, results)
        order = [c.name for c in exercise.checks]
        results.sort(key=lambda r: order.index(r.check))
        return ExerciseResult.from_checks(exercise, results)

    def _missing_message(self, exercise: Exercise, program, report) -> str | None:
        for name in exercise.uses:
            how = program.found.get(name, "missing")
            if how == "missing":
                return (f"the cell defining `{name}` (grade_id '{name}') is missing from the "
                        "notebook; copy it back from the released chapter and write your code in it")
            if name in report.cell_errors:
                return f"the cell `{name}` raised an error when run: {report.cell_errors[name]}"
        return None

    def _evaluate(self, exercise: Exercise, check: Check, out: dict | None) -> CheckResult:
        def result(status: str, message: str, score: float = 0.0, detail=None) -> CheckResult:
            return CheckResult(exercise.name, check.name, check.kind, score, check.points,
                               status, message, detail or {})
        if out is None:
            return result("crashed", "no answer came back from the harness for this check")
        if out.get("status") != "ok":
            return result(out.get("status", "error"), _error_message(out, exercise))
        want = self.reference(exercise, check)
        tol = tolerance(check.tolerance, torch.device(self.device).type)
        inputs = self._inputs[exercise.name, lead(exercise, check).name]
        try:
            detail = check.compare(out.get("outputs"), want, inputs, tol)
        except CheckFailed as e:
            return result("failed", str(e), detail=getattr(e, "detail", None))
        except Exception as e:  # noqa: BLE001  malformed answers land here
            return result("failed", f"{check.description}: the answer had an unexpected form "
                                    f"({type(e).__name__}: {e})")
        return result("passed", check.description, check.points, detail if isinstance(detail, dict) else None)

    def _policy_results(self, exercise: Exercise, program, results: list[CheckResult]) -> list[CheckResult]:
        working = any(r.status == "passed" for r in results)
        out = []
        for check in (c for c in exercise.checks if c.rule):
            found = []
            for name in exercise.uses:
                src = program.source_of(name) or ""
                found += [(name, line, what, policy.source_line(src, line))
                          for line, what in policy.offences(src, check.rule)]
            if found:
                name, line, what, text = found[0]
                msg = (f"{check.description}: line {line} of the cell `{name}` uses `{what}` "
                       f"(`{text}`), which this exercise does not allow")
                out.append(CheckResult(exercise.name, check.name, check.kind, 0.0, check.points, "failed", msg))
            elif not working:
                out.append(CheckResult(exercise.name, check.name, check.kind, 0.0, check.points, "failed",
                                       f"{check.description}: not awarded until the function works"))
            else:
                out.append(CheckResult(exercise.name, check.name, check.kind, check.points,
                                       check.points, "passed", check.description))
        return out


def lead(exercise: Exercise, check: Check) -> Check:
    """The first check of the exercise with the same probe, inputs and reference runs:
    checks that differ only in what they compare share one probe run and its answer."""
    return next(c for c in exercise.checks if c.probe is check.probe
                and c.make_inputs is check.make_inputs
                and c.reference_variants == check.reference_variants)


def _error_message(out: dict, exercise: Exercise) -> str:
    error, call = str(out.get("error", "")), str(out.get("call", ""))
    if error.startswith("NotImplementedError"):
        name = call.split("(")[0] or exercise.name
        return f"`{name}` is not written yet: it still raises NotImplementedError"
    return f"{call} raised {error}" if call else error
