"""The grading pipeline for one submission: load → run in harness → compare → results.

Ordering matters: inputs are drawn (here, from the secret seed) before the harness starts;
references are computed here from ``solutions/`` on the same inputs and seeds, after or
while the harness runs; comparison happens only here.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autograder import notebooks, policy, references, runner
from autograder.checks import common
from autograder.oracle import Budget, Oracle
from autograder.untrusted import standin, wire
from autograder.chapter import Chapter, reference_namespace
from autograder.spec import (Check, CheckFailed, CheckResult, Context, Exercise, ExerciseResult,
                             SubmissionResult, seed_everything)  # SubmissionResult: re-exported
from autograder.tolerances import tolerance
from course.selfcheck import error_hint

DEFAULT_SEED = 20251121  # the course's default; instructors pass --seed to draw other inputs
# A check run with stand-ins waits for answers from the grader (a round trip per call and
# per backward pass): it gets this many times its usual time limit.
STANDIN_SLOWDOWN = 4
# A submission's time budget, unless --timeout sets one: this many times what the reference
# solutions take for all of the chapter's checks, and never less than BUDGET_FLOOR seconds
# (the harness's fork, a slow machine, a correct but slower solution). It covers every
# phase of the submission: its cells, its checks, and the re-runs with stand-ins.
BUDGET_FACTOR = 20
BUDGET_FLOOR = 30.0


def derive_seed(seed: int, *names: object) -> int:
    """A 31-bit seed for one purpose, derived from the run's seed and names."""
    digest = hashlib.sha256(repr((seed,) + names).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class Grader:
    """Grades submissions of one chapter; caches the reference's answers between them."""
    chapter: Chapter
    device: str = "cpu"
    seed: int = DEFAULT_SEED
    limits: runner.Limits = field(default_factory=runner.Limits)

    def __post_init__(self) -> None:
        self._refs: dict[tuple, Any] = {}
        self._ref_dir: Path | None = None
        self.reference_seconds = 0.0  # spent getting reference answers (for the profile)
        self._reference_time: float | None = None
        self._lock = threading.Lock()
        self._inputs = {(ex.name, c.name): self.inputs_for(ex, c)
                        for ex in self.chapter.exercises for c in ex.checks
                        if c.probe and lead(ex, c) is c}

    def warm_up(self) -> None:
        """Build now what stand-ins are answered from (the solutions' namespace, where an
        exercise uses another's functions), rather than mid-run on a busy machine; the
        batch grader calls this while its workers start."""
        if any(ex.uses for ex in self.chapter.exercises):
            reference_namespace(self.chapter.slug)

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
        """The reference's outputs for a check (a list when it has variants): from memory,
        else from the reference cache on disk (references.py), else computed and stored."""
        check = lead(exercise, check)
        key = (exercise.name, check.name)
        with self._lock:
            if key not in self._refs:
                start = time.monotonic()
                self._refs[key] = references.cached(
                    self.reference_folder() / f"{exercise.name}.{check.name}",
                    lambda: self._timed_reference_runs(exercise, check))
                self.reference_seconds += time.monotonic() - start
            return self._refs[key]

    def prepare_references(self) -> Path:
        """Every reference answer of the chapter, read or computed now; the folder they are in."""
        for ex in self.chapter.exercises:
            for check in ex.checks:
                if check.probe:
                    self.reference(ex, check)
        return self.reference_folder()

    def reference_folder(self) -> Path:
        """Where this grader's reference answers are kept (references.py)."""
        if self._ref_dir is None:
            self._ref_dir = references.folder(self.chapter.slug,
                                              references.cache_key(self.chapter.slug, self.seed, self.device))
        return self._ref_dir

    # -- the time budget -------------------------------------------------------------
    def budget(self) -> float:
        """Seconds of wall time one submission may take, all phases together: the limits'
        ``submission_seconds`` when set (``--timeout``), else ``BUDGET_FACTOR`` times the
        reference solutions' time for every check, at least ``BUDGET_FLOOR``."""
        if self.limits.submission_seconds is not None:
            return float(self.limits.submission_seconds)
        return round(max(BUDGET_FLOOR, BUDGET_FACTOR * self.reference_time()), 1)

    def reference_time(self) -> float:
        """Seconds the reference solutions take for all of the chapter's probes: measured when
        each reference answer is computed, kept beside it (``<exercise>.<check>.seconds``),
        and measured once more where a stored answer has no time."""
        with self._lock:
            if self._reference_time is None:
                self._reference_time = sum(self._check_time(ex, check) for ex in self.chapter.exercises
                                           for check in ex.checks if check.probe and lead(ex, check) is check)
            return self._reference_time

    def _check_time(self, exercise: Exercise, check: Check) -> float:
        try:
            return float(self._time_file(exercise, check).read_text())
        except (OSError, ValueError):
            with references.RNG_LOCK:
                return self._timed_reference_runs(exercise, check, keep=False)

    def _time_file(self, exercise: Exercise, check: Check) -> Path:
        return self.reference_folder() / f"{exercise.name}.{check.name}.seconds"

    def _timed_reference_runs(self, exercise: Exercise, check: Check, keep: bool = True) -> Any:
        """The reference's answers (``keep``), or only the seconds its first run took; either
        way that time — what a student's one run of the check compares with (other variants
        are the grader's own calibration) — is written beside the stored answers."""
        timing: dict = {}
        value = self._reference_runs(exercise, check, timing) if keep else self._reference_runs(exercise, check, timing, 1)
        try:
            self._time_file(exercise, check).parent.mkdir(parents=True, exist_ok=True)
            self._time_file(exercise, check).write_text(f"{timing['first']:.4f}\n")
        except OSError:
            pass  # a read-only course folder: measured again by the next grader
        return value if keep else timing["first"]

    def _reference_runs(self, exercise: Exercise, check: Check, timing: dict | None = None,
                        variants: int | None = None) -> Any:
        """The reference's outputs for every variant of the check (the first ``variants``);
        ``timing["first"]``: the seconds of the first run."""
        start = time.monotonic()
        outs = [self._reference_run(exercise, check, 0)]
        if timing is not None:
            timing["first"] = time.monotonic() - start
        outs += [self._reference_run(exercise, check, v) for v in range(1, variants or check.reference_variants)]
        return outs if check.reference_variants > 1 else outs[0]

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
        """Grade one notebook; faults in it become messages and zeros, never exceptions.

        Two phases. First every check runs with the student's own functions, in one
        process with no stand-in anywhere. Then each exercise that failed checks while
        calling a function of the student's that failed its *own* checks runs those checks
        again, in a process of its own, with a working function standing in (answered by
        the reference here, see oracle.py) — so one bug costs points once, and no process
        that holds a stand-in for A ever runs A's checks.
        """
        start, clock = time.monotonic(), Stopwatch()
        try:
            student_nb = notebooks.read_notebook(path)
            raw = Path(path).read_bytes()
        except notebooks.NotebookError as e:
            return self._unreadable(student_id, str(e), start)
        except OSError as e:
            return self._unreadable(student_id, f"cannot read {Path(path).name}: {e.strerror}", start)
        program = notebooks.build_program(self.chapter.release(), student_nb)
        steps = [(s.kind, s.label, s.source) for s in program.steps]
        limits = dataclasses.replace(self.limits, submission_seconds=self.budget())
        deadline = time.monotonic() + limits.submission_seconds  # one budget for every phase below
        clock.lap("read")
        report = runner.run(steps, list(self._jobs().values()), self.device, limits, worker, deadline=deadline)
        clock.lap("harness", report.seconds)
        reference_before = self.reference_seconds
        known = {ex.name: self._exercise_result(ex, program, report) for ex in self.chapter.exercises}
        budget = Budget()  # this submission's stand-ins' share of the grader (oracle.py)
        for ex in self.chapter.exercises:  # in order: a stand-in's verdict is the final one
            plan = self.standin_plan(ex, known, program.sources())
            if plan is None or (plan.jobs and time.monotonic() >= deadline):  # the budget is spent:
                continue  # the first verdict stands
            stood = {}
            if plan.jobs:
                clock.lap("compare")
                again = runner.run(steps, plan.jobs, self.device, limits, worker,
                                   Oracle(self.chapter, self.device, plan.names, budget), deadline=deadline)
                clock.lap("standins")
                for job in plan.jobs:
                    out = again.outputs.get(job.index, NO_ANSWER)
                    if _could_not_stand_in(out):  # e.g. called with a function: keep what was
                        continue
                    report.outputs[job.index] = out
                    stood[job.index] = plan.names
            known[ex.name] = self._exercise_result(ex, program, report, stood, plan)
        clock.lap("compare")
        clock.move("compare", "reference", self.reference_seconds - reference_before)
        results = tuple(known[ex.name] for ex in self.chapter.exercises)
        return SubmissionResult(student_id, self.chapter.slug, results, None,
                                hashlib.sha256(raw).hexdigest(), time.monotonic() - start,
                                report.student_output[-2000:], clock.laps)

    def standin_plan(self, ex: Exercise, known: dict[str, ExerciseResult],
                     sources: list[str]) -> "StandInPlan | None":
        """Whether to grade ``ex`` again with working functions standing in for the student's
        failed ones it calls (directly, through the student's helpers, or through its
        checks), and the probe jobs to run so. ``known`` holds each exercise's latest result:
        a function has failed when its exercise still fails with its own stand-ins. An
        exercise with no code of its own whose every piece failed gets a plan with no jobs:
        nothing of the student's is left to test, and it scores nothing even where its first
        phase passed (a probe the student replaced can report a pass with every piece a stub:
        tests/test_claims.py). An exercise that ran out of time is graded again only when a
        function standing in was stopped in its own checks, out of time or crashed (the
        stand-in removes the cause); otherwise the same code would spend the budget again."""
        failed = failed_functions(self.chapter, known) - set(ex.own)
        reach = notebooks.reachable(notebooks.call_graph(sources), set(ex.own) | set(ex.uses)) | set(ex.uses)
        names = tuple(n for n in self.chapter.functions() if n in failed & reach)
        if not ex.own and names and set(ex.uses) <= set(names):  # passed or not: a pass here
            return StandInPlan(ex.name, names, [], nothing_left=True)  # was not the student's work
        if timed_out(known[ex.name]) and not set(names) & stopped_functions(self.chapter, known):
            return None  # the stand-ins would not remove what ran out of time: it would again
        redo = {lead(ex, self.chapter.check(ex.name, r.check)).name
                for r in known[ex.name].checks if r.status != "passed" and r.kind != "policy"}
        if not names or not redo:
            return None
        jobs = [dataclasses.replace(job, standins=names, timeout=job.timeout * STANDIN_SLOWDOWN)
                for check, job in self._probes(ex) if check.name in redo]
        return StandInPlan(ex.name, names, jobs)

    def grade_in_process(self, ns: dict, exercise_name: str, sources: list[str],
                         earlier: dict[str, ExerciseResult]) -> ExerciseResult:
        """The nbgrader path: probe the functions in ``ns`` (a kernel's globals) in this process.

        Args:
            ns: the kernel's globals at the hidden test cell.
            exercise_name: the exercise to grade.
            sources: the cells run in the kernel so far (for policy checks and stand-ins).
            earlier: the results of exercises graded before in this kernel.

        Returns:
            The exercise's result, with stand-ins as :meth:`grade` uses them.
        """
        exercise = self.chapter.exercise(exercise_name)
        program = notebooks.Program(steps=[notebooks.Step("cell", name, cell_source_of(name, sources))
                                           for name in exercise.own],
                                    found={name: "grade_id" for name in exercise.own if name in ns})
        report = runner.HarnessReport()
        for check, job in self._probes(exercise):
            report.outputs[job.index] = self._probe_here(check, job, ns)
        first = self._exercise_result(exercise, program, report)
        plan = self.standin_plan(exercise, {**earlier, exercise_name: first}, sources)
        stood = {}
        if plan and plan.jobs:
            transport = standin.DirectTransport(Oracle(self.chapter, self.device, plan.names).answer)
            saved = standin.install(ns, list(plan.names), transport)
            try:
                for job in plan.jobs:
                    check = self.chapter.check(exercise_name, job.check)
                    out = self._probe_here(check, job, ns)
                    if not _could_not_stand_in(out):
                        report.outputs[job.index] = out
                        stood[job.index] = plan.names
            finally:
                standin.restore(ns, saved)
        return self._exercise_result(exercise, program, report, stood, plan)

    def _probe_here(self, check: Check, job: runner.ProbeJob, ns: dict) -> dict:
        ctx = Context(device=torch.device(self.device), seed=job.seed)
        seed_everything(ctx.seed)
        try:
            outputs = check.probe(ns, copy.deepcopy(job.inputs), ctx)
            out = {"status": "ok", "outputs": outputs, "call": ctx.call}
        except Exception as e:  # noqa: BLE001  the student's exception is the finding
            out = {"status": "error", "error": f"{type(e).__name__}: {e}", "call": ctx.call}
        return wire.roundtrip(out)

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

    def _jobs(self) -> dict[int, runner.ProbeJob]:
        return {job.index: job for ex in self.chapter.exercises for _, job in self._probes(ex)}

    def _unreadable(self, student_id: str, why: str, start: float) -> SubmissionResult:
        results = tuple(ExerciseResult.from_checks(ex, [
            CheckResult(ex.name, c.name, c.kind, 0.0, c.points, "missing", why) for c in ex.checks])
            for ex in self.chapter.exercises)
        return SubmissionResult(student_id, self.chapter.slug, results, why, "",
                                time.monotonic() - start)

    # -- comparing -------------------------------------------------------------------
    def _exercise_result(self, exercise: Exercise, program: notebooks.Program,
                         report: runner.HarnessReport, stood: dict[int, tuple[str, ...]] | None = None,
                         plan: "StandInPlan | None" = None) -> ExerciseResult:
        """Compare every check of ``exercise``; ``stood`` names the stand-ins a probe ran with."""
        stood = stood or {}
        missing = self._missing_message(exercise, program, report)
        results = []
        for check in exercise.checks:
            if missing:
                results.append(CheckResult(exercise.name, check.name, check.kind, 0.0,
                                           check.points, "missing", missing))
            elif check.rule:
                continue
            else:
                index = self._index(exercise, check)
                result = self._evaluate(exercise, check, report.outputs.get(index), program)
                names = stood.get(index, ())
                results.append(dataclasses.replace(result, standins=names) if names else result)
        if not missing:
            results += self._policy_results(exercise, program, results)
        if plan and plan.nothing_left:  # every piece failed its own checks: nothing of the
            # student's is left to test, and a pass could only come from a probe they replaced
            results = [dataclasses.replace(r, score=0.0, status="failed" if r.status == "passed"
                                           else r.status, message=plan.message()) for r in results]
        results = guarded(exercise, results)
        order = [c.name for c in exercise.checks]
        results.sort(key=lambda r: order.index(r.check))
        return ExerciseResult.from_checks(exercise, results)

    def _missing_message(self, exercise: Exercise, program, report) -> str | None:
        for name in exercise.own:
            how = program.found.get(name, "missing")
            if how == "missing":
                return (f"the cell defining `{name}` (grade_id '{name}') is missing from the "
                        "notebook; copy it back from the released chapter and write your code in it")
            if name in report.cell_errors:
                return f"the cell `{name}` raised an error when run: {report.cell_errors[name]}"
        return None

    def _evaluate(self, exercise: Exercise, check: Check, out: dict | None,
                  program: notebooks.Program | None = None) -> CheckResult:
        def result(status: str, message: str, score: float = 0.0, detail=None) -> CheckResult:
            return CheckResult(exercise.name, check.name, check.kind, score, check.points,
                               status, message, detail or {})
        if out is None:
            return result("crashed", "no answer came back from the harness for this check")
        if out.get("status") != "ok":
            return result(out.get("status", "error"), self._error_message(out, exercise, program))
        want = self.reference(exercise, check)
        tol = tolerance(check.tolerance, torch.device(self.device).type)
        inputs = self._inputs[exercise.name, lead(exercise, check).name]
        token = common.PROGRAM.set(program)  # hints that rest on the code read it there
        try:
            detail = check.compare(out.get("outputs"), want, inputs, tol)
        except CheckFailed as e:
            return result("failed", str(e), detail=getattr(e, "detail", None))
        except Exception as e:  # noqa: BLE001  malformed answers land here
            return result("failed", f"{check.description}: the answer had an unexpected form "
                                    f"({type(e).__name__}: {e})")
        finally:
            common.PROGRAM.reset(token)
        return result("passed", check.description, check.points, detail if isinstance(detail, dict) else None)

    def _error_message(self, out: dict, exercise: Exercise, program: notebooks.Program | None) -> str:
        """What a probe's exception means for the student: a stub, an argument the function
        does not take, or the call and the error."""
        error, call = str(out.get("error", "")), str(out.get("call", ""))
        name = call.split("(")[0] or exercise.name
        if re.match(r"NotImplementedError:?\s*(\n|$)", error):  # the stub's bare raise, not a library's
            return f"`{name}` is not written yet: it still raises NotImplementedError"
        undefined = re.match(r"NameError: name '(\w+)' is not defined", error)
        missing = undefined and program is not None and undefined.group(1)
        if missing and program.found.get(missing, "missing") != "missing" \
                and not _binds(program.source_of(missing) or "", missing):
            others = sorted(notebooks.defines(program.source_of(missing) or ""))
            listed = f" (it defines {', '.join(f'`{n}`' for n in others)})" if others else ""
            return (f"`{missing}` is not defined: the cell `{missing}` does not define it{listed}. Keep "
                    f"the function's name and signature as the cell gave them: def {missing}(...)")
        if undefined and program is not None and program.found.get(undefined.group(1), "missing") != "missing":
            return (f"`{undefined.group(1)}` is not defined yet where the test cell runs: in your "
                    f"notebook the cell defining `{undefined.group(1)}` comes after its test cell. The "
                    "grader, like nbgrader, runs the notebook in order: move that cell back above")
        if error.startswith("TypeError") and program is not None:
            hint = notebooks.signature_hint(name, program.source_of(name) or "",
                                            self._release_sources().get(name, ""))
            if hint:
                return hint
        hint = error_hint(exercise.name, error)
        if hint:  # after the error's first line, before the trace lines the harness appended
            first, _, trace = error.partition("\n")
            error = f"{first} — {hint}" + (f"\n{trace}" if trace else "")
        return f"{call} raised {error}" if call else error

    def _release_sources(self) -> dict[str, str]:
        if not hasattr(self, "_release_src"):
            release = self.chapter.release()
            self._release_src = {notebooks.grade_id(c): notebooks.source(c)
                                 for c in notebooks.code_cells(release) if notebooks.is_solution(c)}
        return self._release_src

    def _policy_results(self, exercise: Exercise, program, results: list[CheckResult]) -> list[CheckResult]:
        guards = {c.name for c in exercise.checks if c.guard}  # a passed guard proves nothing
        working = any(r.status == "passed" and r.check not in guards for r in results)
        out = []
        for check in (c for c in exercise.checks if c.rule):
            found = []
            for name in exercise.own:
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


NO_ANSWER = {"status": "crashed", "error": "no answer came back from the harness", "call": ""}


def _could_not_stand_in(out: dict) -> bool:
    """A second-phase answer where a stand-in could not be called as asked (it was passed
    something that cannot cross to the grader, such as a function of the student's): the
    first phase's verdict, with the student's own function, stands."""
    return out.get("status") == "error" and "cannot be passed to or returned by a stand-in" in str(out.get("error"))


@dataclass(frozen=True)
class StandInPlan:
    """An exercise to grade again with working functions standing in for ``names``."""
    exercise: str
    names: tuple[str, ...]
    jobs: list
    nothing_left: bool = False  # every piece the exercise uses failed: nothing to run

    def message(self) -> str:
        listed = ", ".join(f"`{n}`" for n in self.names)
        return (f"not graded: your {listed} did not pass their own checks, and this exercise has "
                "no code of its own, so nothing of yours is left for it to test")


def timed_out(result: ExerciseResult) -> bool:
    return any(r.status == "timeout" for r in result.checks)


def stopped_functions(chapter: Chapter, results: dict[str, ExerciseResult]) -> set[str]:
    """The student's functions whose own checks were stopped: out of time, or crashed (a
    runaway may meet the memory or process limit before the time limit)."""
    return {name for ex in chapter.exercises if ex.name in results
            and any(r.status in ("timeout", "crashed") for r in results[ex.name].checks) for name in ex.own}


def failed_functions(chapter: Chapter, results: dict[str, ExerciseResult]) -> set[str]:
    """The student's functions whose exercise failed a check of what they compute (a policy
    offence alone does not count: the function still computes the right thing)."""
    failed = set()
    for ex in chapter.exercises:
        result = results.get(ex.name)
        if result and any(r.status != "passed" and r.kind != "policy" for r in result.checks):
            failed |= set(ex.own)
    return failed


def guarded(exercise: Exercise, results: list[CheckResult]) -> list[CheckResult]:
    """Guards that passed are awarded only when a check that proves the function works passed
    too (DESIGN.md §3: no points for doing nothing)."""
    kinds = {c.name: c for c in exercise.checks}
    working = any(r.status == "passed" and not kinds[r.check].guard and not kinds[r.check].rule
                  for r in results)
    if working:
        return results
    return [dataclasses.replace(r, score=0.0, status="failed",
                                message=f"{r.message}: not awarded until the function works (code "
                                        "that does nothing passes this check too)")
            if kinds[r.check].guard and r.status == "passed" else r for r in results]


def _binds(src: str, name: str) -> bool:
    """Whether the cell ``src`` binds ``name`` at all (def, class, assignment, import); True
    when it does not parse (nothing can be said of it)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name:
            return True
    return False


def cell_source_of(name: str, sources: list[str]) -> str:
    """The source of the last cell among ``sources`` that defines ``name`` at top level."""
    return next((src for src in reversed(sources) if name in notebooks.defines(src)), "")


class Stopwatch:
    """Wall time per stage of grading one submission (for benchmarks/profile.py)."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self.last = time.monotonic()

    def lap(self, stage: str, parts: dict[str, float] | None = None) -> None:
        """Charge the time since the last lap to ``stage`` (split as ``parts`` say, if given)."""
        now = time.monotonic()
        spent, self.last = now - self.last, now
        for name, seconds in (parts or {}).items():
            self.laps[f"{stage}:{name}"] = round(self.laps.get(f"{stage}:{name}", 0.0) + seconds, 4)
        self.laps[stage] = round(self.laps.get(stage, 0.0) + spent, 4)

    def move(self, source: str, target: str, seconds: float) -> None:
        """Move ``seconds`` of ``source``'s time to ``target`` (time measured inside it)."""
        self.laps[source] = round(self.laps.get(source, 0.0) - seconds, 4)
        self.laps[target] = round(self.laps.get(target, 0.0) + seconds, 4)
