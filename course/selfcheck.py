"""Visible self-checks: the test cell after each exercise (every chapter).

They run where students are — a released chapter with no solutions anywhere — so they
check known answers and properties, judge one exercise each (never through the student's
other functions), and say in plain words what to fix::

    with SelfCheck("linreg") as check:
        check.shape(linreg(X, w, b), (4, 1), "linreg(X, w, b) with X (4, 2), w (2, 1)")
        check.no_calls(linreg, "matmul", why="write the product with @")

A failing self-check raises :class:`SelfCheckFailed`, which Jupyter shows as its message
alone — no frames of this module. Each result is remembered for the kernel
(:data:`RESULTS`), keyed by the exercise and the very object that passed, so that:

* the graded test cell's visible line, :func:`require`, fails nbgrader's *Validate* with the
  self-check's message until the exercise passes (it does nothing while nbgrader grades);
* a narrative cell whose first line is ``# needs: name, ...`` prints one line ("finish
  ``name`` first") instead of running, until those exercises pass (an IPython input
  transformer, registered when this module is imported in a kernel).
"""
from __future__ import annotations

import ast
import inspect
import math
import os
import re
import sys
import textwrap

import torch

# The kernel's self-check results: exercise -> (the object that passed, or None; message).
# One kernel is one student's notebook, so this is the notebook's state, not the course's.
RESULTS: dict[str, tuple[object, str]] = {}
NEEDS = re.compile(r"^\s*#\s*needs:\s*([\w ,`]+?)\s*$")
NOT_WRITTEN = ("is not written yet: replace `raise NotImplementedError()` in its cell with your "
               "code, run that cell, then run this one again.")


class SelfCheckFailed(AssertionError):
    """A self-check's verdict; shown in Jupyter as the message alone."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an error is shown
        return [f"\x1b[0;31m✗ {line}\x1b[0m" if i == 0 else line
                for i, line in enumerate(str(self).splitlines())]


class SelfCheck:
    """Collects the results of one exercise's self-checks and reports them together.

    Args:
        name: the exercise (the function or class the student writes).
    """

    def __init__(self, name: str):
        self.name = name
        self.passed = 0
        self.failures: list[str] = []
        self.namespace = sys._getframe(1).f_globals  # the notebook's globals

    def __enter__(self) -> "SelfCheck":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and not issubclass(exc_type, AssertionError):
            explained = self._explain(exc_type, exc, tb)
            if exc_type is NotImplementedError or not self.failures:
                self._fail(explained)
            self.failures.append(explained)  # after the failures already found, with their hints
        elif exc_type is not None and not isinstance(exc, SelfCheckFailed):
            self.failures.append(str(exc))
        if self.failures:
            lines = "\n".join(f"  ✗ {msg}" for msg in self.failures)
            self._fail(f"{self.name}: {len(self.failures)} self-check(s) failed, "
                       f"{self.passed} passed:\n{lines}")
        RESULTS[self.name] = (self.namespace.get(self.name), "passed")
        print(f"✓ {self.name}: all {self.passed} self-checks passed.")
        return False

    def _fail(self, message: str) -> None:
        RESULTS[self.name] = (None, message)
        raise SelfCheckFailed(message) from None

    def _explain(self, exc_type, exc, tb) -> str:
        """An exception from the student's code, said in one line: whose stub, or what raised."""
        where = _student_frame(tb)
        if exc_type is NotImplementedError:
            owner = where or self.name
            if owner in (self.name, *_methods(self.namespace.get(self.name))):
                return f"{self.name} {NOT_WRITTEN}"
            return (f"{self.name} called `{owner}`, which is not written yet; this self-check "
                    f"should not depend on it — tell your instructor")
        at = f" (in `{where}`)" if where else ""
        hint = error_hint(self.name, f"{exc_type.__name__}: {exc}")
        return f"{self.name} raised {exc_type.__name__}{at}: {exc}" + (f" — {hint}" if hint else "")

    def depend(self, n: int) -> None:
        """``n`` checks were not run because the last failure would fail them too: said
        once, under that failure."""
        if n and self.failures:
            self.failures[-1] += f" (and {n} checks that depend on it)" if n > 1 else \
                " (and 1 check that depends on it)"

    # -- checks -----------------------------------------------------------------------
    def that(self, condition: bool, message: str) -> bool:
        """Record one check: passes when ``condition`` holds, else reports ``message``."""
        if condition:
            self.passed += 1
        else:
            self.failures.append(message)
        return bool(condition)

    def tensor(self, value, what: str) -> bool:
        """Check that ``value`` is a torch tensor."""
        return self.that(isinstance(value, torch.Tensor),
                         f"{what} should be a torch.Tensor, got {type(value).__name__}")

    def shape(self, value, shape: tuple, what: str, hint: str = "") -> bool:
        """Check a tensor's shape, e.g. ``(n, 1)`` and not ``(n,)``; ``hint`` (when the
        caller has established its cause, from the code) replaces the generic one."""
        if not self.tensor(value, what):
            return False
        got = tuple(value.shape)
        return self.that(got == tuple(shape), f"{what} should have shape {tuple(shape)}, got {got}"
                                              f"{' — ' + hint if hint else shape_hint(got, tuple(shape))}")

    def close(self, actual, expected, what: str, rtol: float = 1e-4, atol: float = 1e-5,
              hint: str = "") -> bool:
        """Check values (tensors, arrays or numbers) agree within tolerances.

        A mismatch names the values and, where it recognises the mistake, a hint: a constant
        factor (a missing division or ½), a flipped sign, a broadcast shape; ``hint`` adds the
        exercise's own.
        """
        if isinstance(expected, torch.Tensor):
            if not self.tensor(actual, what):
                return False
            if tuple(actual.shape) != tuple(expected.shape):
                why = f" — {hint}" if hint else shape_hint(tuple(actual.shape), tuple(expected.shape))
                return self.that(False, f"{what} should have shape {tuple(expected.shape)}, got "
                                        f"{tuple(actual.shape)}{why}")
            a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
            numpy = False
        else:
            numpy = not isinstance(actual, torch.Tensor)  # NumPy (chapter 04) is shown as NumPy
            try:
                a = (actual.detach().cpu() if isinstance(actual, torch.Tensor) else
                     torch.as_tensor(actual)).to(torch.float64)
                e = torch.as_tensor(expected, dtype=torch.float64)
            except (TypeError, ValueError, RuntimeError):
                return self.that(False, f"{what} should be a number, got {type(actual).__name__}")
            if e.dim() == 0 and a.numel() == 1:
                a = a.reshape(())
            if a.shape != e.shape:
                return self.that(False, f"{what} should have shape {tuple(e.shape)}, got {tuple(a.shape)}")
        ok = bool(torch.allclose(a, e, rtol=rtol, atol=atol))
        worst = (a - e).abs().max().item() if a.numel() else 0.0
        extra = " — " + (hint or value_hint(a, e)) if (hint or value_hint(a, e)) else ""
        return self.that(ok, f"{what}: expected {_short(e, numpy)}, got {_short(a, numpy)} (largest difference "
                             f"{worst:.3g}){extra}")

    def no_calls(self, fn, *names: str, why: str = "") -> bool:
        """Check that the student's ``fn`` does not use any of ``names`` (``softmax``,
        ``logsumexp``, ``cross_entropy``…) — the functions the exercise asks to write by hand."""
        tree = _tree_of(fn)
        if tree is None:
            return self.that(True, "")
        found = sorted({n for n in _used_names(tree) if n in names})
        return self.that(not found, f"{self.name} uses `{found[0] if found else ''}`, which this "
                                    f"exercise asks you not to use{': ' + why if why else ''}")

    def no_loops(self, fn, why: str = "") -> bool:
        """Check that the student's ``fn`` has no Python ``for``/``while`` loop or comprehension."""
        tree = _tree_of(fn)
        loops = [] if tree is None else [n for n in ast.walk(tree) if isinstance(
            n, (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp))]
        line = f" (line {loops[0].lineno})" if loops else ""
        return self.that(not loops, f"{self.name} has a Python loop{line}; this exercise asks for "
                                    f"whole-array operations only{': ' + why if why else ''}")


# -- hints ------------------------------------------------------------------------------
def shape_hint(got: tuple, want: tuple) -> str:
    """A hint for the shape mistakes of this course ((n, 1) against (n,))."""
    if len(got) == 2 and len(want) == 2 and got[0] == got[1] == want[0] and want[1] == 1:
        return (" — an (n, 1) tensor was broadcast against an (n,) one; reshape one of them to "
                "the other's shape first")
    if len(got) + 1 == len(want) >= 2 and want[-1] == 1 and got == want[:-1]:
        return " — the trailing dimension of size 1 is missing (use .reshape(-1, 1))"
    if got == () and want == (1,):
        return " — a 0-d tensor: the one example's dimension (of size 1) was dropped"
    if len(got) == len(want) + 1 and got[-1] == 1 and got[:-1] == want:
        return " — there is an extra trailing dimension of size 1"
    if len(got) == 2 and got == want[::-1]:
        return " — it is transposed"
    return ""


# (exercise or None for any, what the error says) -> what it means; each read off the error itself
ERROR_HINTS = [
    (None, re.compile(r"'function' object has no attribute '(eval|train)'"),
     "net is a plain function here, which has no {0}(): call net.{0}() only when "
     "isinstance(net, torch.nn.Module)"),
    ("accuracy", re.compile(r"IndexError: Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)"),
     "y_hat has one dimension here (a vector of predicted classes), so it has no dim 1 to take the "
     "argmax over: take argmax(1) only when y_hat has two dimensions"),
    (None, re.compile(r"matmul: Input operand 1 has a mismatch in its core dimension 0"),
     "the inner sizes of the matrix product differ: to sum over the examples, transpose the first "
     "operand (x.T @ r, shapes (1, n) @ (n, 1))"),
]


# A number that a word says is a dimension: "dimension -2", "axis 0", "dim=1", "at -2",
# "2nd dimension" (chapter 01's broadcast_shape: its prompt asks for the clash's dimension).
_DIMENSION = re.compile(r"\b(?:dim\w*|axis|axes|at|position|index)\W{0,3}?(-?\d+)"
                        r"|(-?\d+)(?:st|nd|rd|th)?\W{0,3}(?:dim|axis)", re.I)


def named_dimensions(message: str) -> set[str]:
    """The numbers ``message`` names as dimensions, as written (``-2``, ``0``…)."""
    return {a or b for a, b in _DIMENSION.findall(message)}


def error_hint(exercise: str, error: str) -> str:
    """What an error raised by the student's ``exercise`` means, where the error's own text
    establishes it ("" otherwise)."""
    for owner, pattern, hint in ERROR_HINTS:
        m = pattern.search(error)
        if m and owner in (None, exercise):
            return hint.format(*m.groups())
    return ""


def value_hint(a: torch.Tensor, e: torch.Tensor) -> str:
    """Recognise a constant factor or a flipped sign between ``a`` and the expected ``e``."""
    mask = e.abs() > 1e-12
    if mask.sum() < 2 or not torch.isfinite(a).all():  # one number's ratio proves nothing
        return ""
    ratios = a[mask] / e[mask]
    k = ratios.mean().item()
    if not torch.allclose(ratios, torch.full_like(ratios, k), rtol=1e-3, atol=1e-9) or abs(k - 1) < 1e-6:
        return ""
    if abs(k + 1) < 1e-3:
        return "the sign is flipped"
    if abs(k - 2) < 1e-3 or abs(k - 0.5) < 1e-3:
        return f"yours is {k:g} times the expected value: a factor 2 or ½ is missing or extra"
    return (f"yours is {k:.4g} times the expected value: a division (by the batch size or the "
            f"number of examples?) is missing or extra")


# -- reading the student's function -------------------------------------------------------
def _tree_of(fn) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def calls(code, name: str, *, method: bool | None = None, no_args: bool = False) -> bool:
    """Whether ``code`` (a function, or a cell's source) calls ``name``: a function
    ``name(...)`` (``method=False``), a method ``x.name(...)`` (``method=True``) or either;
    with ``no_args``, only calls with no arguments (``squeeze()``). False when the code
    cannot be read — hints that rest on it are then left out, never guessed."""
    tree = _tree_of(code) if callable(code) else _parse(code)
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.Call) or (no_args and (node.args or node.keywords)):
            continue
        f = node.func
        if (method is not True and isinstance(f, ast.Name) and f.id == name) or \
                (method is not False and isinstance(f, ast.Attribute) and f.attr == name):
            return True
    return False


def _parse(src) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(src)) if isinstance(src, str) else None
    except (SyntaxError, ValueError):
        return None


def _used_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[-1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # getattr(torch, "softmax")
    return names


def _student_frame(tb) -> str | None:
    """The innermost function of the traceback that is the notebook's (not a library's)."""
    library = (sys.base_prefix, sys.prefix, os.path.dirname(__file__))
    name = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(library) and "site-packages" not in code.co_filename \
                and code.co_name != "<module>":
            name = code.co_name
        tb = tb.tb_next
    return name


def _methods(obj) -> tuple[str, ...]:
    return tuple(n for n, v in vars(obj).items() if callable(v)) if inspect.isclass(obj) else ()


def _short(t: torch.Tensor, numpy: bool = False) -> str:
    """A few values for a message, as the student's library writes them: ``tensor([…])``, or
    ``array([…])`` where the values are NumPy's."""
    flat = t.flatten()
    if flat.numel() == 1 and t.dim() == 0:
        return f"{flat.item():.6g}"
    body = ", ".join(f"{v:.4g}" for v in flat[:6].tolist())
    more = ", …" if flat.numel() > 6 else ""
    return f"{'array' if numpy else 'tensor'}([{body}{more}]) of shape {tuple(t.shape)}"


# -- what the self-checks unlock ------------------------------------------------------------
def passed(name: str, namespace: dict | None = None) -> bool:
    """Whether ``name``'s self-check passed for the object ``name`` is bound to now."""
    obj, verdict = RESULTS.get(name, (None, ""))
    current = (namespace or _user_namespace()).get(name)
    return verdict == "passed" and obj is current


def require(*names: str) -> None:
    """The graded test cell's visible line: under nbgrader's Validate, fail with the
    self-check's message unless every named exercise passed it; elsewhere do nothing (the
    self-check cell above already spoke; under autograde the hidden tests decide)."""
    if os.environ.get("NBGRADER_EXECUTION") != "validate":
        return
    namespace = sys._getframe(1).f_globals
    todo = [n for n in names if not passed(n, namespace)]
    if todo:
        lines = [f"  {n}: {_why_not(n)}" for n in todo]
        raise SelfCheckFailed(f"not done yet: {', '.join(todo)}\n" + "\n".join(lines))


def _why_not(name: str) -> str:
    """Why ``name`` has not passed, in a few words (Validate shows lines of 90 characters)."""
    _, verdict = RESULTS.get(name, (None, ""))
    if not verdict:
        return "its self-check has not run (run the cells above in order)"
    if verdict == "passed":
        return "changed after its self-check passed: run the self-check again"
    if "not written yet" in verdict.split("\n")[0]:
        return "not written yet"
    failures = [ln.strip(" ✗") for ln in verdict.split("\n")[1:] if ln.strip()]
    first = failures[0] if failures else verdict
    return first if len(first) <= 80 else first[:77] + "..."


def _user_namespace() -> dict:
    try:
        return get_ipython().user_ns  # noqa: F821  (IPython's builtin)
    except NameError:
        return sys.modules["__main__"].__dict__


def skip_unfinished(lines: list[str]) -> list[str]:
    """IPython input transformer: a cell starting ``# needs: a, b`` prints one line instead of
    running while ``a`` or ``b`` has not passed its self-check."""
    first = next((ln for ln in lines if ln.strip()), "")
    match = NEEDS.match(first)
    if not match:
        return lines
    names = [n.strip(" `") for n in match.group(1).split(",") if n.strip(" `")]
    todo = [n for n in names if not passed(n)]
    if not todo:
        return lines
    listed = ", ".join(f"`{n}`" for n in todo)
    return [f"print({f'⏸ This cell needs {listed}: finish it first (its self-check above has not passed yet), then run this cell again.'!r})\n"]


# Library warnings a student's code commonly sets off, and what they mean (one line each):
# said under the warning in the notebook, and in the grader's "What your code printed".
WARNING_MEANINGS = {
    "Converting a tensor with requires_grad=True to a scalar":
        "float() or int() of a tensor that is part of the autograd graph: harmless here; "
        "l.sum().item() (or float(l.sum().detach())) says the same without the warning",
}


def warning_meaning(text: str) -> str:
    """What a library warning means, where this course knows it ("" otherwise)."""
    return next((m for k, m in WARNING_MEANINGS.items() if k in str(text)), "")


def _explaining(show):
    """``warnings.showwarning`` that adds the meaning of a known warning on a line of its own."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        show(message, category, filename, lineno, file, line)
        meaning = warning_meaning(message)
        if meaning:
            print(f"  ↳ what this warning means: {meaning}", file=file or sys.stderr)
    showwarning.explains = True
    return showwarning


def _register() -> None:
    try:
        shell = get_ipython()  # noqa: F821
    except NameError:
        return
    if skip_unfinished not in shell.input_transformers_post:
        shell.input_transformers_post.append(skip_unfinished)
    import warnings
    if not getattr(warnings.showwarning, "explains", False):
        warnings.showwarning = _explaining(warnings.showwarning)


_register()
