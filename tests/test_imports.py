"""The packages read top to bottom: no module of ``autograder`` or ``course`` imports, even
indirectly, a module that imports it back.

Every import statement counts — at module level, inside functions, and under
``if TYPE_CHECKING:`` — because a circle through a function-level import is still a circle:
the two modules cannot be understood, tested or moved one without the other, and which one
loads first decides what breaks. Imports are read from the syntax tree (nothing is imported).
An import of a package (``from autograder import paths``) counts as an import of each module
named; of a package's ``__init__`` only when nothing else fits."""
import ast
from pathlib import Path

from autograder import paths

ROOT = paths.course_root()
PACKAGES = ("autograder", "course")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """The course modules ``path`` imports, anywhere in it."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != me:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import circle per strongly connected group of modules (Tarjan), as a path."""
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v), on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, known) for name, path in known.items()}


def test_the_graph_sees_function_level_and_type_checking_imports():
    graph = import_graph()
    assert "autograder.spec" in graph["autograder.formats.gradebook"]  # under TYPE_CHECKING
    assert "course.config" in graph["autograder.sandbox"]  # module level
    assert "course.data" in graph["autograder.checks.ch09_softmax_regression_training"]  # in a function


def test_a_circle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import circles among the course's modules: " + "; ".join(" <-> ".join(g) for g in found)


def test_layers_the_issue_named():
    """The gradebook writer needs the result types, not the grader; the harness's runner knows
    the stand-ins' oracle only as an object it is handed."""
    graph = import_graph()
    assert "autograder.grader" not in graph["autograder.formats.gradebook"]
    assert "autograder.oracle" not in graph["autograder.runner"]
