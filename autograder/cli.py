"""``python -m autograder``: grade a class, check one notebook, or write a Gradescope bundle.

Every argument and path of ``grade`` is checked first, before PyTorch is loaded (it takes
seconds): a bad one ends the command at once with one line saying what was expected and
what came instead, and exit status 2. Only then is the class folder surveyed (a folder
with nothing to grade ends it with status 1, writing nothing), and then the grader loaded.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import lateness
from autograder.executors import ExecutorError
from autograder.submissions import Survey, graded_chapters, nearest_text, not_graded_lines, survey

DEFAULT_DB = "default"  # --gradebook with no URL: the course's own gradebook


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported in one line (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _positive(kind: type):
    """An argparse type: a number of ``kind`` greater than zero."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number "
                                             f"greater than 0, got {text!r}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m autograder", description="Grade the course's notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade SUBMITTED/<student>/<chapter>/<chapter>.ipynb")
    g.add_argument("submitted", type=Path)
    g.add_argument("--chapter", required=True, help="a chapter slug, or 'all'")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--jobs", type=_positive(int), default=None, help="parallel harnesses (default: cores)")
    g.add_argument("--out", type=Path, default=Path("grading-out"))
    g.add_argument("--seed", type=int, default=None, help="draw other inputs than the default")
    g.add_argument("--timeout", type=_positive(float), default=None,
                   help="seconds of wall time per submission, all its checks and re-runs together "
                        "(default: 20 times the reference solutions' time for the chapter, at "
                        "least 30 s)")
    g.add_argument("--check-timeout", type=_positive(float), default=None,
                   help="caps every check's own time limit (default: each check's, 20 s for most)")
    g.add_argument("--memory-mb", type=_positive(int), default=None,
                   help="memory of one submission's processes (default 4096)")
    g.add_argument("--gradebook", nargs="?", const=DEFAULT_DB, default=None, metavar="DB_URL",
                   help="also write the scores into nbgrader's gradebook (default: the course's "
                        "gradebook.db from nbgrader_config.py), so formgrader shows them; the "
                        "autograded copies go into autograded/ beside SUBMITTED")
    g.add_argument("--due", action="append", default=[], metavar="[CHAPTER=]DATE",
                   help="the due date (ISO 8601 or nbgrader's '2026-03-01 17:00:00 Europe/Berlin'; "
                        "UTC without a zone) of every chapter graded, or of CHAPTER; repeatable. "
                        "Default: the gradebook's (--gradebook's, or the course's when it exists)")
    g.add_argument("--late-penalty", choices=lateness.METHODS, default=None,
                   help="none, zero, or subtract --late-points-per-hour per hour late (default: "
                        "LatePenalty.penalty_method in nbgrader_config.py, which nbgrader's own "
                        "path reads too)")
    g.add_argument("--late-points-per-hour", type=_positive(float), default=None,
                   help="for --late-penalty subtract (default: LatePenalty.points_per_hour in "
                        "nbgrader_config.py)")
    g.add_argument("--force", action="store_true",
                   help="re-grade even if the notebook and the grader are unchanged")
    g.add_argument("--roster", type=Path, metavar="CSV",
                   help="students' names and LMS ids for summary.csv and canvas.csv: nbgrader's "
                        "student columns (id, first_name, last_name, email, lms_user_id; optionally "
                        "sis_user_id, sis_login_id, section)")
    g.add_argument("--allow-unsandboxed", action="store_true",
                   help="grade even where no isolation is possible (no bubblewrap, and Python not "
                        "readable by other users): student code then runs with this grader's rights")
    g.add_argument("--canvas-assignments", type=Path, metavar="CSV",
                   help="canvas.csv's column headers: rows 'chapter,Name (id)', each the header of the "
                        "chapter's assignment in Canvas's gradebook export, so an import fills it "
                        "(default: the chapter's slug, a new assignment)")
    g.add_argument("--canvas-before-penalty", action="store_true",
                   help="canvas.csv's scores before the late penalty, for assignments whose Canvas "
                        "late policy takes its own")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="tcp://HOST:PORT",
                       help="grade on the workers of this Dask scheduler instead of this machine")
    where.add_argument("--scheduler-file", type=Path, metavar="FILE",
                       help="the same, for the scheduler that wrote FILE (dask scheduler --scheduler-file)")
    c = sub.add_parser("check", help="run a notebook's self-checks and print a table")
    c.add_argument("notebook", type=Path)
    s = sub.add_parser("gradescope", help="write a chapter's Gradescope autograder bundle (a zip)")
    s.add_argument("chapter", help="a chapter slug")
    s.add_argument("--out", type=Path, default=Path("gradescope"), help="folder for CHAPTER_gradescope.zip")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--seed", type=int, default=None, help="draw other inputs than the default")
    s.add_argument("--timeout", type=float, default=None,
                   help="seconds for the harness (default: leaves room in Gradescope's 10 minutes)")
    s.add_argument("--memory-mb", type=int, default=None,
                   help="memory of the harness; Gradescope's container needs it plus the grader's")
    s.add_argument("--visibility", default="visible",
                   help="when students see the tests: visible, after_due_date, after_published, hidden")
    s.add_argument("--allow-unsandboxed", action="store_true",
                   help="let the bundle grade where no isolation is possible (else it refuses, score 0)")
    args = parser.parse_args(argv)
    return {"grade": grade, "check": check, "gradescope": gradescope}[args.command](args)


def check(args) -> int:
    from autograder.notebooks import NotebookError
    from autograder.selfcheck_cli import print_table, run_selfchecks
    try:
        rows = run_selfchecks(args.notebook)
    except NotebookError as e:
        print(e, file=sys.stderr)
        return 2
    return 1 if print_table(rows) else 0


def grade(args) -> int:
    """Check the arguments, survey the class folder, grade, report; the exit status: 0, 1
    (nothing to grade), 2 (a bad argument), 3 (the gradebook), 4 (the cluster), 5 (no
    isolation possible here, and no --allow-unsandboxed)."""
    known = graded_chapters()
    problem = argument_problem(args, known)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    found = survey(args.submitted, None if args.chapter == "all" else [args.chapter], known)
    if not found.submissions:
        print(f"nothing to grade in {args.submitted}: no notebook in <student_id>/<chapter>/ for "
              f"{'any chapter' if args.chapter == 'all' else args.chapter}; nothing was written",
              file=sys.stderr)
        for line in not_graded_lines(found.not_graded):
            print(line, file=sys.stderr)
        return 1
    _say(found_line(found, args.submitted))
    from autograder import sandbox
    if args.allow_unsandboxed:
        os.environ[sandbox.ALLOW_ENV] = "1"
    refused = None if _cluster(args) else sandbox.refusal()  # a cluster's workers refuse there
    if refused:
        print(refused, file=sys.stderr)
        return 5
    # the workers start first: their start overlaps reading the gradebook and importing PyTorch
    workers = None if _cluster(args) else _early_workers(args, found)
    stopped = _class_problem(args, found)
    if isinstance(stopped, int):  # stopped before grading: the workers were not used
        if workers is not None:
            workers.close()
        return stopped
    deadlines, roster, canvas = stopped
    return _grade_found(args, found, deadlines, roster, canvas, workers)


def _class_problem(args, found: Survey):
    """The late policy, due dates, roster and Canvas options: ``(deadlines, roster, canvas)``,
    or the exit status (with the reason on stderr) when one of them cannot be used."""
    policy = _late_policy(args)
    if policy is None:
        return 2
    context = _class_context(args, found, policy)
    if context is None:
        return 3
    roster = _roster(args.roster)
    if roster is None:
        return 2
    deadlines, gb_roster = context
    canvas = _canvas_options(args, found.chapters)
    if canvas is None:
        return 2
    return deadlines, {**gb_roster, **roster.get("roster", {})}, canvas


def _canvas_options(args, chapters: list[str]) -> dict | None:
    """canvas.csv's options (formats/canvas.py); None, with the reason on stderr, when the
    --canvas-assignments file cannot be used."""
    from autograder.formats.canvas import RosterError, read_assignment_map
    try:
        assignments = read_assignment_map(args.canvas_assignments, chapters) if args.canvas_assignments else {}
    except RosterError as e:
        print(e, file=sys.stderr)
        return None
    return {"assignments": assignments, "before_penalty": args.canvas_before_penalty}


def _early_workers(args, found: Survey):
    """Start the sandboxed workers now, before PyTorch is imported here: their start and the
    grader's imports overlap (seconds, on a cold start). Their device is a guess (a GPU is
    only possible where /dev/nvidia* exists); a wrong guess is started again later."""
    from autograder.runner import WorkerPool, preload_for
    guess = "cpu" if args.device == "cpu" or not list(Path("/dev").glob("nvidia*")) else "cuda"
    count = min(args.jobs or os.cpu_count() or 1, len(found.submissions))
    return WorkerPool(count, guess, preload_for({s.chapter for s in found.submissions}))


def _grade_found(args, found: Survey, deadlines: lateness.Deadlines, roster: dict, canvas: dict,
                 workers) -> int:
    """Load the grader (and PyTorch), grade what was found with the ``workers`` started early
    (None: on a cluster), print the summary, write the gradebook."""
    from autograder import batch
    from autograder.inline import pick_device
    from autograder.runner import Limits
    # on a cluster, cuda names the workers' GPUs (the --resources GPU=1 workers), not this machine's
    device = "cuda" if _cluster(args) and args.device == "cuda" else pick_device(args.device)
    limits = Limits(**{k: v for k, v in (("submission_seconds", args.timeout), ("memory_mb", args.memory_mb),
                                         ("check_seconds", args.check_timeout)) if v is not None})
    try:
        run = batch.grade_class(args.submitted, found, args.out, device=device, jobs=args.jobs,
                                seed=args.seed, limits=limits, force=args.force, deadlines=deadlines,
                                roster=roster, workers=workers, canvas=canvas, **_cluster(args))
    except ExecutorError as e:
        print(e, file=sys.stderr)
        return 4
    from autograder.formats.canvas import late_note
    print("\n".join(batch.summary_lines(run) + not_graded_lines(run.not_graded)
                    + [n for n in [late_note(run.results, canvas["before_penalty"])] if n]))
    print(batch.wrote_line(args.out, run))
    return write_gradebook(args.gradebook, run.results, args.submitted, deadlines) if args.gradebook else 0


def argument_problem(args, known: list[str]) -> str | None:
    """The first thing wrong with ``grade``'s arguments and paths, in one line; None if none."""
    for problem in (_submitted_problem(args.submitted), _chapter_problem(args.chapter, known),
                    _out_problem(args.out, args.submitted), _due_problem(args.due, known),
                    _gradebook_problem(args.gradebook), _file_problem("--roster", args.roster),
                    _file_problem("--canvas-assignments", getattr(args, "canvas_assignments", None)),
                    _file_problem("--scheduler-file", args.scheduler_file)):
        if problem:
            return problem
    return None


def _submitted_problem(submitted: Path) -> str | None:
    expected = "expected the class folder, SUBMITTED/<student_id>/<chapter>/<chapter>.ipynb"
    if not submitted.exists():
        return f"no such folder: {submitted} ({expected})"
    if not submitted.is_dir():
        return f"{submitted} is a file; {expected}"
    if not os.access(submitted, os.R_OK | os.X_OK):
        return f"{submitted} cannot be read (permission denied)"
    return None


def _chapter_problem(chapter: str, known: list[str]) -> str | None:
    if chapter == "all" or chapter in known:
        return None
    return f"--chapter {chapter!r} is not a chapter of this course; {nearest_text(chapter, known)} (or 'all')"


def _out_problem(out: Path, submitted: Path) -> str | None:
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file; expected a folder (created if missing)"
    if submitted.resolve() in [out.resolve(), *out.resolve().parents]:
        return f"--out {out} is inside the class folder {submitted}; put the grades elsewhere"
    existing = next(p for p in [out, *out.absolute().parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return f"--out {out}: cannot create a folder in {existing} (not a writable folder)"
    return None


def _due_problem(dues: list[str], known: list[str]) -> str | None:
    try:
        due_dates(dues, known)
    except ValueError as e:
        return str(e)
    return None


def due_dates(dues: list[str], chapters: list[str]) -> dict:
    """``--due [CHAPTER=]DATE`` options as chapter → naive UTC datetime (a date without a
    chapter applies to every chapter in ``chapters``; a chapter's own date wins).

    Raises:
        ValueError: an unknown chapter or a date that cannot be read, in one line.
    """
    every, own = {}, {}
    for text in dues:
        chapter, _, when = text.rpartition("=") if "=" in text.split(" ")[0] else ("", "", text)
        if chapter and chapter not in chapters:
            raise ValueError(f"--due {text!r}: {chapter!r} is not a chapter of this course; "
                             f"{nearest_text(chapter, chapters)}")
        try:
            parsed = lateness.parse_time(when)
        except ValueError as e:
            raise ValueError(f"--due {text!r}: {e}; expected e.g. 2026-03-01T17:00:00+01:00") from None
        (own.__setitem__(chapter, parsed) if chapter else every.update({c: parsed for c in chapters}))
    return {**every, **own}


def _gradebook_problem(where: str | None) -> str | None:
    if where in (None, DEFAULT_DB) or "://" in where:
        return None
    path = Path(where)
    if path.is_dir():
        return f"--gradebook {where} is a folder; expected a database URL or an SQLite file"
    if not path.absolute().parent.is_dir():
        return f"--gradebook {where}: no folder {path.absolute().parent} for the database file"
    return None


def _file_problem(option: str, path: Path | None) -> str | None:
    if path is not None and not path.is_file():
        return f"{option} {path}: no such file"
    return None


def found_line(found: Survey, submitted: Path) -> str:
    """``found 9 submission(s) of 2 chapter(s) from 5 student(s) in submitted; 3 not graded``."""
    students = len({s.student_id for s in found.submissions})
    return (f"found {len(found.submissions)} submission(s) of {len(found.chapters)} chapter(s) from "
            f"{students} student(s) in {submitted}; {len(found.not_graded)} folder(s) not graded (listed at the end)")


def _class_context(args, found: Survey, policy: lateness.LatePolicy) -> tuple[lateness.Deadlines, dict] | None:
    """Due dates, extensions and the late ``policy``; the gradebook's roster. None (with the
    reason on stderr) when the gradebook named by ``--gradebook`` cannot be read.

    The due dates come from wherever the instructor set them: ``--due``, else the gradebook —
    the one ``--gradebook`` names, or the course's own (``nbgrader_config.py``) when it exists.
    A chapter with neither is graded without lateness, and a line says so and why."""
    due, extensions, roster = due_dates(args.due, found.chapters), {}, {}
    db_url = _db_url(args.gradebook) if args.gradebook else existing_gradebook()
    if db_url:
        _say(f"reading due dates, extensions and names from the gradebook {db_url}…")
        from autograder.formats import gradebook
        try:
            db_due, extensions, roster = gradebook.read_class(db_url, found.chapters)
        except Exception as e:  # noqa: BLE001  a database that cannot be opened: say which and why
            print(f"cannot read the gradebook {db_url}: {type(e).__name__}: {e}", file=sys.stderr)
            if args.gradebook:
                return None
            db_due = {}
        due = {**db_due, **due}
    for line in due_lines(found.chapters, due, args.due, db_url, policy):
        _say(line)
    return lateness.Deadlines(due, extensions, policy), roster


def existing_gradebook() -> str | None:
    """The course's own gradebook (``nbgrader_config.py``'s, or ``gradebook.db``) when it
    exists: an SQLite file that is there, or any other database URL; else None."""
    from autograder.formats import gradebook
    url = gradebook.default_db_url()
    if url.startswith("sqlite:///"):
        return url if Path(url[len("sqlite:///"):]).is_file() else None
    return url


def due_lines(chapters: list[str], due: dict, dues: list[str], db_url: str | None,
              policy: lateness.LatePolicy) -> list[str]:
    """Where each chapter's due date came from, in one line, and one line naming the
    chapters graded without lateness, and why."""
    given = set(due_dates(dues, chapters))
    dated = [f"{c} {lateness.shown(lateness.iso(due[c]))} (from {'--due' if c in given else 'the gradebook'})"
             for c in chapters if c in due]
    lines = [f"due: {'; '.join(dated)}; late work: {policy.describe()}"] if dated else []
    undated = [c for c in chapters if c not in due]
    if undated:
        where = (f"the gradebook {db_url} has none" if db_url else
                 "no gradebook (nbgrader_config.py's, or --gradebook)")
        lines.append(f"lateness not applied to {', '.join(undated)}: no due date (no --due, and {where}); "
                     f"set one with `nbgrader db assignment add {undated[0]} --duedate=...` or --due")
    return lines


def configured_policy(root: Path | None = None) -> lateness.LatePolicy:
    """The late policy the course's ``nbgrader_config.py`` sets for nbgrader's late-penalty
    plugin (autograder/nbgrader_plugins.py): the one both grading paths apply.

    Raises:
        ValueError: a setting the policy does not know, in one line.
    """
    from autograder.formats.gradebook import course_config
    return lateness.policy_from_config(course_config(root))


def _late_policy(args) -> lateness.LatePolicy | None:
    """``--late-penalty`` and ``--late-points-per-hour`` over ``nbgrader_config.py``'s policy.
    With ``--gradebook`` they must agree with it — nbgrader's own path reads only the file,
    and the gradebook holds one penalty — else None, with the reason on stderr."""
    try:
        configured = configured_policy()
    except ValueError as e:
        print(e, file=sys.stderr)
        return None
    wanted = lateness.LatePolicy(args.late_penalty or configured.method,
                                 args.late_points_per_hour or configured.points_per_hour)
    if args.gradebook and wanted != configured:
        print(f"--late-penalty {wanted.method} ({wanted.describe()}) differs from nbgrader_config.py's "
              f"({configured.describe()}); with --gradebook both grading paths must give the same "
              f"penalty: set c.{lateness.PLUGIN_SECTION}.penalty_method and .points_per_hour there",
              file=sys.stderr)
        return None
    return wanted


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cluster(args) -> dict:
    """``cluster=`` for ``batch.grade_all``: the Dask scheduler's address or file, if given."""
    where = args.cluster or args.scheduler_file
    return {"cluster": str(where)} if where else {}


def _roster(path: Path | None) -> dict | None:
    """``roster=`` for ``batch.grade_all`` from the --roster file ({} without one); None,
    with the reason on stderr, when the file cannot be used."""
    if path is None:
        return {}
    from autograder.formats.canvas import RosterError, read_roster
    try:
        return {"roster": read_roster(path)}
    except RosterError as e:
        print(e, file=sys.stderr)
        return None


def gradescope(args) -> int:
    """Write the chapter's Gradescope bundle; 0, or 2 for an unknown chapter or setting."""
    known = graded_chapters()
    if args.chapter not in known:
        print(f"unknown chapter {args.chapter!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    from autograder.executors.gradescope import build_bundle
    limits = {k: v for k, v in (("submission_seconds", args.timeout), ("memory_mb", args.memory_mb))
              if v is not None}
    try:
        bundle = build_bundle(args.chapter, args.out, device=args.device, seed=args.seed,
                              visibility=args.visibility, limits=limits,
                              allow_unsandboxed=args.allow_unsandboxed)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    print(f"wrote {bundle}: upload it on the assignment's Configure Autograder page")
    return 0


def _db_url(url: str) -> str:
    from autograder.formats import gradebook
    return gradebook.default_db_url() if url == DEFAULT_DB else gradebook.as_db_url(url)


def write_gradebook(url: str, results: list, submitted: Path | None = None,
                    deadlines: lateness.Deadlines | None = None) -> int:
    """Write the scores into nbgrader's gradebook, with the autograded copies beside
    ``submitted``; 0, or 3 when it cannot be written."""
    from autograder.formats import gradebook
    db_url = _db_url(url)
    try:
        count = gradebook.write_gradebook(results, db_url, submitted,
                                          due=deadlines.due if deadlines else None, progress=_say)
    except gradebook.GradebookError as e:
        print(e, file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001  the database's own errors (locked, read-only, …): one line
        print(f"cannot write the gradebook {db_url}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              file=sys.stderr)
        return 3
    where = f"; autograded copies in {Path(submitted).resolve().parent / gradebook.AUTOGRADED}" if submitted else ""
    print(f"wrote {count} submission(s) into nbgrader's gradebook {db_url}{where}")
    return 0
