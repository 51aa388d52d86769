"""Policy checks: what a from-scratch exercise may not call, read from the syntax tree.

Each rule takes the parsed solution cell and returns ``(line, what)`` for each offence.
"""
from __future__ import annotations

import ast
from typing import Callable

from autograder.notebooks import parse

Rule = Callable[[ast.AST], list[tuple[int, str]]]


def forbid_attributes(*names: str) -> Rule:
    """Forbid ``anything.name`` (``torch.softmax``, ``F.softmax``, ``X.softmax``), importing
    ``name`` from a module, and reaching it through ``getattr(obj, "name")``."""
    banned = set(names)

    def rule(tree: ast.AST) -> list[tuple[int, str]]:
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in banned:
                found.append((node.lineno, ast.unparse(node)))
            elif isinstance(node, ast.ImportFrom):
                found += [(node.lineno, f"from {node.module} import {a.name}")
                          for a in node.names if a.name in banned]
            elif isinstance(node, ast.Constant) and node.value in banned:
                found.append((node.lineno, repr(node.value)))
        return found
    return rule


def forbid_loops() -> Rule:
    """Forbid Python-level iteration: ``for``, ``while`` and comprehensions."""
    kinds = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp,
             ast.GeneratorExp)

    def rule(tree: ast.AST) -> list[tuple[int, str]]:
        return [(n.lineno, type(n).__name__.lower() + " loop") for n in ast.walk(tree)
                if isinstance(n, kinds)]
    return rule


def forbid_modules(*modules: str) -> Rule:
    """Forbid importing (or naming) whole modules, e.g. ``torch`` in a NumPy-only chapter."""
    banned = set(modules)

    def rule(tree: ast.AST) -> list[tuple[int, str]]:
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(node.lineno, f"import {a.name}") for a in node.names
                          if a.name.split(".")[0] in banned]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in banned:
                found.append((node.lineno, f"from {node.module} import ..."))
            elif isinstance(node, ast.Name) and node.id in banned:
                found.append((node.lineno, node.id))
        return found
    return rule


def offences(src: str, rule: Rule, function: str | None = None) -> list[tuple[int, str]]:
    """Apply ``rule`` to a cell's source (to one function's definition if ``function`` is given).

    Source that does not parse has no offences: its other checks already fail.
    """
    try:
        tree = parse(src)  # one thread at a time (see notebooks.parse)
    except (SyntaxError, ValueError):
        return []
    if function:
        defs = [n for n in tree.body if getattr(n, "name", None) == function]
        tree = ast.Module(body=defs or tree.body, type_ignores=[])
    return sorted(set(rule(tree)))


def source_line(src: str, lineno: int) -> str:
    """The text of line ``lineno`` (1-based) of ``src``, stripped."""
    lines = src.splitlines()
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
