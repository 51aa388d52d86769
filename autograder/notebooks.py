"""Reading notebooks, trusted or not, and choosing what the harness runs.

The harness runs what ``nbgrader autograde`` would run, minus what cannot matter to a
grade, in the student's notebook order (:func:`build_program`):

1. the release's cells tagged ``setup`` (imports), taken from ``chapters/`` — the
   student's copies of locked cells are ignored, as nbgrader's OverwriteCells does;
2. each solution cell (found by its nbgrader ``grade_id``, or, when the metadata was
   stripped, by the first unlocked code cell that defines the function at top level), run
   whole, as the student wrote it;
3. every other code cell — the chapter's narrative cells and cells the student added —
   reduced to its *definitions*: top-level imports, ``def``, ``class``, and names bound to
   constants (numbers, strings, tuples/lists/dicts of them, arithmetic on them,
   ``torch.tensor(...)``/``np.array(...)`` of them). Training runs, plots and prints are
   left out: they take time and change nothing a check calls;
4. at the place of each hidden test cell ``test_<exercise>``, a *probe point*: that
   exercise's checks run there, on the definitions made so far, as nbgrader's hidden test
   runs at that cell. A later cell that redefines a function therefore changes what later
   test cells see, exactly as in nbgrader. Exercises whose test cell is missing are probed
   at the end.

Self-check cells (locked, visible asserts) are not run: they grade nothing.
"""
from __future__ import annotations

import ast
import functools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SETUP_TAG = "setup"


class NotebookError(Exception):
    """The notebook cannot be read at all; the message says why."""


# CPython 3.11's ast.parse is not thread-safe ("SystemError: AST constructor recursion depth
# mismatch" when two threads parse at once, gh-106905), and the batch grader grades in threads.
_PARSE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=256)
def parse(src: str) -> ast.Module:
    """``ast.parse``, one thread at a time. The tree is shared (callers only read it): grading
    one submission parses the same cells some 70 times (definitions, call graphs, policies)."""
    with _PARSE_LOCK:
        return ast.parse(src)


def read_notebook(path: str | Path) -> dict:
    """Read a notebook as plain JSON, upgrading nbformat 3 to 4.

    Raises:
        NotebookError: the file is missing, not JSON, or not a notebook.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise NotebookError(f"cannot read {Path(path).name}: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookError(f"{Path(path).name} is not valid JSON (line {e.lineno}: {e.msg}); "
                            "open it in Jupyter and save it again") from None
    except RecursionError:
        raise NotebookError(f"{Path(path).name} is JSON nested too deeply to be a notebook; "
                            "open it in Jupyter and save it again") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        raise NotebookError(f"{Path(path).name} is JSON but not a Jupyter notebook")
    version = data.get("nbformat", 4)
    if type(version) is not int:
        raise NotebookError(f"{Path(path).name} is not a valid notebook: its nbformat is "
                            f"{json.dumps(version)[:40]}, not a whole number; open it in Jupyter "
                            "and save it again")
    if version < 4:
        try:
            data = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as e:  # nbformat's converters raise many kinds of error
            raise NotebookError(f"{Path(path).name} is an nbformat {data.get('nbformat')} "
                                f"notebook that could not be converted: {e}") from None
    return data


def source(cell: dict) -> str:
    """A cell's source as one string (it may be stored as a list of lines)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {})
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell: dict) -> str | None:
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_solution(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("solution"))


def tags(cell: dict) -> list[str]:
    meta = cell.get("metadata", {})
    found = meta.get("tags", []) if isinstance(meta, dict) else []
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def defines(src: str) -> set[str]:
    """Names a cell defines at top level with ``def`` or ``class`` (empty if it does not parse)."""
    try:
        tree = parse(src)
    except (SyntaxError, ValueError):
        return set()
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def setup_sources(release_nb: dict) -> list[str]:
    """Sources of the release's code cells tagged ``setup``."""
    return [source(c) for c in code_cells(release_nb) if SETUP_TAG in tags(c)]


def solution_ids(release_nb: dict) -> list[str]:
    """grade_ids of the release's solution cells, in order."""
    return [grade_id(c) for c in code_cells(release_nb) if is_solution(c) and grade_id(c)]


@dataclass(frozen=True)
class Step:
    """One step of a program: run a cell (``label``, ``source``), or probe ``exercise``."""
    kind: str  # "cell" | "probe"
    label: str
    source: str = ""


@dataclass
class Program:
    """What the harness runs for one submission, and how each graded cell was found."""
    steps: list[Step] = field(default_factory=list)
    found: dict[str, str] = field(default_factory=dict)  # grade_id -> "grade_id" | "def" | "missing"

    @property
    def cells(self) -> list[tuple[str, str]]:
        """``(label, source)`` of every cell step, in order."""
        return [(s.label, s.source) for s in self.steps if s.kind == "cell"]

    def source_of(self, label: str) -> str | None:
        return next((s.source for s in self.steps if s.kind == "cell" and s.label == label), None)

    def probe_points(self) -> list[str]:
        return [s.label for s in self.steps if s.kind == "probe"]

    def sources(self) -> list[str]:
        """The source of every cell step, in order."""
        return [s.source for s in self.steps if s.kind == "cell"]


TEST_PREFIX = "test_"
CHECK_PREFIX = "check_"


def build_program(release_nb: dict, student_nb: dict) -> Program:
    """Setup cells of the release, then the student's cells in their order (see the module
    docstring): solution cells whole, other cells reduced to definitions, probe points at
    the hidden test cells."""
    program = Program(steps=[Step("cell", f"{SETUP_TAG}-{k}", src)
                             for k, src in enumerate(setup_sources(release_nb), 1)])
    wanted = solution_ids(release_nb)
    solutions = {gid: _find_solution(code_cells(student_nb), gid) for gid in wanted}
    program.found = {gid: how for gid, (_, how) in solutions.items()}
    chosen = {id(cell): gid for gid, (cell, _) in solutions.items() if cell is not None}
    tests = {f"{TEST_PREFIX}{ex}" for ex in test_ids(release_nb)}
    for index, cell in enumerate(student_nb.get("cells", []), 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        program.steps += _steps_for(cell, index, chosen, tests)
    return program


def _steps_for(cell: dict, index: int, chosen: dict, tests: set[str]) -> list[Step]:
    gid = grade_id(cell) or ""
    if id(cell) in chosen:
        return [Step("cell", chosen[id(cell)], strip_magics(source(cell)))]
    if gid in tests:
        return [Step("probe", gid[len(TEST_PREFIX):])]
    if SETUP_TAG in tags(cell) or gid.startswith(CHECK_PREFIX) or gid == "setup":
        return []
    kept = definitions(strip_magics(source(cell)))
    return [Step("cell", f"cell {index}", kept)] if kept.strip() else []


def test_ids(release_nb: dict) -> list[str]:
    """Exercises that have a hidden test cell ``test_<exercise>`` in the release, in order."""
    return [gid[len(TEST_PREFIX):] for c in code_cells(release_nb)
            if (gid := grade_id(c) or "").startswith(TEST_PREFIX) and nbgrader_meta(c).get("grade")]


_CONST_CALLS = {"tensor", "array", "asarray", "float32", "float64", "int64", "sqrt", "exp", "log"}
_CONST_ROOTS = {"torch", "np", "numpy", "math"}


def definitions(src: str) -> str:
    """The top-level definitions of a cell (see the module docstring), as source; ``""`` when
    it has none or does not parse (nbgrader would stop at the error; nothing is defined)."""
    try:
        tree = parse(src)
    except (SyntaxError, ValueError):
        return ""
    lines = src.splitlines()
    kept = [stmt for stmt in tree.body if _is_definition(stmt)]
    return "\n".join("\n".join(lines[_first_line(s) - 1: s.end_lineno]) for s in kept)


def _first_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno] + [d.lineno for d in decorators])


def _is_definition(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return all(isinstance(t, (ast.Name, ast.Tuple)) for t in targets) and _is_constant(stmt.value)
    return False


def _is_constant(node: ast.AST) -> bool:
    """Literals, containers of them, arithmetic on them, and ``torch.tensor(...)``-like calls of them."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_constant(k) for k in node.keys) and all(map(_is_constant, node.values))
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left) and _is_constant(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CONST_CALLS:
        root = node.func.value
        return (isinstance(root, ast.Name) and root.id in _CONST_ROOTS
                and all(map(_is_constant, node.args)) and all(_is_constant(k.value) for k in node.keywords))
    if isinstance(node, ast.Attribute):  # torch.float32, math.pi
        return isinstance(node.value, ast.Name) and node.value.id in _CONST_ROOTS
    return False


def _find_solution(cells: list[dict], gid: str) -> tuple[dict | None, str]:
    for cell in reversed(cells):  # the last of duplicates, as nbgrader's DeduplicateIds keeps
        if grade_id(cell) == gid:
            return cell, "grade_id"
    for cell in cells:  # metadata stripped: the first unlocked cell defining the function
        if not nbgrader_meta(cell).get("locked") and gid in defines(source(cell)):
            return cell, "def"
    return None, "missing"


def call_graph(sources: list[str]) -> dict[str, set[str]]:
    """For each function or class defined at top level in ``sources``: the names its body
    mentions (what it may call). A name defined twice mentions what either definition does."""
    graph: dict[str, set[str]] = {}
    for src in sources:
        try:
            tree = parse(src)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                graph.setdefault(node.name, set()).update(
                    n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    return graph


def reachable(graph: dict[str, set[str]], roots: set[str]) -> set[str]:
    """Every name mentioned by ``roots``' definitions, directly or through other definitions."""
    seen, todo = set(), list(roots)
    while todo:
        for name in graph.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def signature_hint(name: str, student_src: str, release_src: str) -> str | None:
    """When the student's ``def name`` does not take the arguments the exercise's does, say
    which (``data_iter`` takes no ``generator`` argument; …); else None."""
    mine, theirs = _params(student_src, name), _params(release_src, name)
    if mine is None or theirs is None:
        return None
    (params, flexible), (wanted, _) = mine, theirs
    have = {p.split("=")[0] for p in params}
    need = [w.split("=")[0] for w in wanted]
    asked = f"`{name}({', '.join(wanted)})`"
    missing = [w for w in need if w not in have]
    if missing and not flexible:
        return f"`{name}` takes no `{missing[0]}` argument; the exercise asks for {asked}"
    extra = [p for p in params if "=" not in p and p not in need]
    if extra:
        return f"`{name}` needs an argument `{extra[0]}` that the exercise does not pass; it asks for {asked}"
    return None


def _params(src: str, name: str) -> tuple[list[str], bool] | None:
    """A function's parameters as written (``generator=None``) and whether it takes *args or
    **kwargs, from the last top-level ``def name`` in ``src``."""
    try:
        tree = parse(src)
    except (SyntaxError, ValueError):
        return None
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    if not defs:
        return None
    args = defs[-1].args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [a.arg + ("" if d is None else f"={ast.unparse(d)}") for a, d in zip(positional, defaults)]
    params += [a.arg + ("" if d is None else f"={ast.unparse(d)}")
               for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return params, bool(args.vararg or args.kwarg)


def strip_magics(src: str) -> str:
    """Comment out IPython magics and shell escapes, which plain Python cannot run."""
    lines = []
    for line in src.splitlines():
        stripped = line.lstrip()
        lines.append("# " + line if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)
