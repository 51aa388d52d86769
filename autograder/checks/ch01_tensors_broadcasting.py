"""Checks for chapter 01, tensors, shapes and broadcasting."""
from __future__ import annotations

import torch

from autograder.checks.common import call, randn
from autograder.compare import describe, expect_tensor, preview
from autograder.policy import forbid_attributes, forbid_loops, forbid_modules
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.untrusted.wire import WireTensor
from course.selfcheck import named_dimensions

CHAPTER = "01_tensors_broadcasting"


def _randint(gen, low: int, high: int) -> int:
    """One integer in [low, high] from the parent's generator."""
    return int(torch.randint(low, high + 1, (1,), generator=gen))


def _shape_text(shape) -> str:
    return str(tuple(shape))


# -- broadcast_shape -------------------------------------------------------------------
def _compatible_pair(gen) -> tuple[tuple, tuple]:
    """Two shapes that broadcast: drop leading dims and set sizes to 1 at random."""
    ndim = _randint(gen, 1, 4)
    full = [_randint(gen, 2, 6) for _ in range(ndim)]

    def thin():
        keep = full[_randint(gen, 0, ndim):]
        return tuple(1 if _randint(gen, 0, 2) == 0 else s for s in keep)
    return thin(), thin()


def _incompatible_pair(gen) -> tuple[tuple, tuple]:
    """Two shapes that clash in exactly one aligned dimension (sizes >= 2 that differ)."""
    a, b = _compatible_pair(gen)
    while not a or not b:
        a, b = _compatible_pair(gen)
    k = _randint(gen, 1, min(len(a), len(b)))  # the clash, counted from the right
    size = _randint(gen, 2, 6)
    other = size + _randint(gen, 1, 3)
    a = a[:len(a) - k] + (size,) + a[len(a) - k + 1:]
    b = b[:len(b) - k] + (other,) + b[len(b) - k + 1:]
    return a, b


def _bshape_inputs(gen) -> dict:
    fixed_ok = [((3, 1), (1, 4)), ((4, 1), (4,)), ((), (2, 3)), ((0, 3), (1, 3)),
                ((5, 1, 4), (3, 1)), ((2, 3), (2, 3))]
    fixed_bad = [((2, 4), (3, 4)), ((3,), (4,)), ((2, 1), (8, 4, 3))]
    return {"ok": fixed_ok + [_compatible_pair(gen) for _ in range(12)],
            "bad": fixed_bad + [_incompatible_pair(gen) for _ in range(6)]}


def _run_bshape(ns, pairs, ctx) -> list[dict]:
    out = []
    for a, b in pairs:
        try:
            got = call(ctx, ns, "broadcast_shape", tuple(a), tuple(b))
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001  an exception is an answer here
            out.append({"raised": type(e).__name__, "message": str(e)[:300]})
            continue
        seq = isinstance(got, (tuple, list))
        out.append({"type": type(got).__name__,
                    "value": [v if type(v) is int else repr(v) for v in got] if seq else repr(got)[:100]})
    return out


def _bshape_ok(ns, inputs, ctx):
    return {"results": _run_bshape(ns, inputs["ok"], ctx)}


def _bshape_bad(ns, inputs, ctx):
    return {"results": _run_bshape(ns, inputs["bad"], ctx)}


def _torch_says(a, b):
    try:
        return tuple(torch.broadcast_shapes(tuple(a), tuple(b)))
    except RuntimeError:
        return None


def _cmp_bshape_ok(got, want, inputs, tol):
    for (a, b), res in zip(inputs["ok"], got["results"]):
        what = f"broadcast_shape({_shape_text(a)}, {_shape_text(b)})"
        expected = _torch_says(a, b)
        if "raised" in res:
            raise CheckFailed(f"{what} raised {res['raised']}: {res['message']}; these shapes "
                              f"broadcast to {expected}")
        if res["type"] != "tuple":
            raise CheckFailed(f"{what} returned a {res['type']} ({res['value']}); expected the tuple "
                              f"{expected} (convert with tuple(...))")
        value = res["value"]
        if not isinstance(value, list) or tuple(value) != expected:
            raise CheckFailed(f"{what} returned {tuple(value) if isinstance(value, list) else value}; "
                              f"expected {expected} (as torch.broadcast_shapes gives)")


def _cmp_bshape_raises(got, want, inputs, tol):
    for (a, b), res in zip(inputs["bad"], got["results"]):
        what = f"broadcast_shape({_shape_text(a)}, {_shape_text(b)})"
        if "raised" not in res:
            value = tuple(res["value"]) if isinstance(res["value"], list) else res["value"]
            raise CheckFailed(f"{what} returned {value}; these shapes do not broadcast, so it should "
                              "raise ValueError (rule 3: sizes differ and neither is 1)")
        if res["raised"] != "ValueError":
            raise CheckFailed(f"{what} raised {res['raised']} ({res['message'][:120]}); expected "
                              "a ValueError")


def _clash(a, b) -> tuple[int, int, int]:
    """Where a and b clash: the rightmost such dimension, counted from the right (-1 is the
    last), and its two sizes."""
    for k, (m, n) in enumerate(zip(reversed(a), reversed(b)), 1):
        if m != n and 1 not in (m, n):
            return -k, m, n
    raise ValueError("no clash")


def _dimension_names(a, b) -> set[str]:
    """Every way a message may number the clashing dimension: from the right (``-2``, or
    ``2`` / ``1`` counting from one or zero), or from the left of either shape or of the
    aligned shapes (from zero or one)."""
    k = -_clash(a, b)[0]
    lefts = [len(s) - k for s in (a, b, a if len(a) >= len(b) else b)]
    return {str(v) for v in [-k, k, k - 1] + lefts + [i + 1 for i in lefts]}




def _cmp_bshape_message(got, want, inputs, tol):
    for (a, b), res in zip(inputs["bad"], got["results"]):
        what = f"broadcast_shape({_shape_text(a)}, {_shape_text(b)})"
        if res.get("raised") != "ValueError":
            raise CheckFailed(f"{what} did not raise ValueError, so its message cannot be checked")
        dim, m, n = _clash(a, b)
        message = res["message"]
        if str(m) not in message or str(n) not in message:
            raise CheckFailed(f"{what} raised ValueError({message!r}); the message should name the "
                              f"dimension that clashes and its sizes {m} and {n}")
        if not named_dimensions(message) & _dimension_names(a, b):
            raise CheckFailed(f"{what} raised ValueError({message!r}), which names the sizes {m} "
                              f"and {n} but not the dimension where they clash: say which, e.g. "
                              f"\"dimension {dim}\" (counting from the right) or \"at {dim}\"")


def _no_torch_broadcast(tree):
    return (forbid_attributes("broadcast_shapes", "broadcast_tensors", "broadcast_to",
                              "expand", "expand_as")(tree)
            + forbid_modules("torch", "numpy", "np")(tree))


# -- row_normalize -------------------------------------------------------------------
def _positive(gen, *shape, dtype=torch.float32):
    return torch.rand(*shape, generator=gen, dtype=dtype) + 0.05


def _rownorm_inputs(gen) -> dict:
    return {"square": [_positive(gen, 4, 4), _positive(gen, 3, 3, dtype=torch.float64)],
            "rect": [_positive(gen, 3, 5), _positive(gen, 6, 2), _positive(gen, 1, 4),
                     _positive(gen, 5, 1)]}


def _unary_probe(name: str, key: str):
    """Call ``name(X)`` on each input in ``inputs[key]``, on a copy the caller keeps."""
    def probe(ns, inputs, ctx):
        out = []
        for X in inputs[key]:
            X = X.clone().to(ctx.device)
            out.append(call(ctx, ns, name, X))
        return {"results": out}
    return probe


def _untouched_probe(name: str, key: str):
    """Call ``name(X)`` and report whether X still holds its values afterwards."""
    def probe(ns, inputs, ctx):
        X = inputs[key][0].clone().to(ctx.device)
        before = X.clone()
        call(ctx, ns, name, X)
        return {"unchanged": bool(torch.equal(X, before)), "after": X}
    return probe


def _what(name: str, X: torch.Tensor) -> str:
    return f"{name}(X of shape {tuple(X.shape)}, {str(X.dtype)[6:]})"


def _cmp_rownorm(key: str):
    def compare(got, want, inputs, tol):
        for X, g, w in zip(inputs[key], got["results"], want["results"]):
            what = _what("row_normalize", X)
            if isinstance(g, WireTensor) and g.shape == w.shape and X.shape[0] == X.shape[1]:
                by_columns = X / X.sum(1)
                if torch.allclose(g.values.double(), by_columns.double(), rtol=1e-4, atol=1e-6):
                    raise CheckFailed(f"{what} divided element (i, j) by the sum of row j: X.sum(1) "
                                      "has shape (n,), which broadcasts as a row (1, n). Keep the "
                                      "reduced axis: X.sum(1, keepdim=True) has shape (n, 1)")
                if torch.allclose(g.values.double(), (X / X.sum(0, keepdim=True)).double(), rtol=1e-4):
                    raise CheckFailed(f"{what} made the columns sum to one; the rows should "
                                      "(reduce over axis 1)")
            expect_tensor(g, w, what, tol)
    return compare


def _cmp_untouched(name: str):
    def compare(got, want, inputs, tol):
        if not got["unchanged"]:
            raise CheckFailed(f"{name}(X) changed X itself (it now holds {describe(got['after'])}); "
                              "compute a new tensor instead of updating X in place (`X = X - ...`, "
                              "not `X -= ...`)")
    return compare


# -- standardize_columns ---------------------------------------------------------------
def _std_inputs(gen) -> dict:
    return {"cases": [2 + 3 * randn(gen, 6, 3), randn(gen, 10, 1), randn(gen, 3, 5, dtype=torch.float64),
                      randn(gen, 4, 4), randn(gen, 2, 3)],
            "big": [100 + 50 * randn(gen, 200, 4)]}


def _cmp_std_values(got, want, inputs, tol):
    for X, g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = _what("standardize_columns", X)
        if isinstance(g, WireTensor) and g.shape == w.shape:
            n = X.shape[0]
            unbiased = w.values.double() * ((n - 1) / n) ** 0.5
            if n > 1 and torch.allclose(g.values.double(), unbiased, rtol=1e-4, atol=1e-6):
                raise CheckFailed(f"{what} divided by the sample standard deviation (n - 1 in the "
                                  "denominator, torch.std's default); use the population one: "
                                  "X.std(0, correction=0)")
            centred = X - X.mean(0, keepdim=True)
            if torch.allclose(g.values.double(), centred.double(), rtol=1e-4, atol=1e-5):
                raise CheckFailed(f"{what} returned the centred columns without dividing by their "
                                  "standard deviation")
            rows = (X - X.mean(1, keepdim=True)) / X.std(1, correction=0, keepdim=True)
            if X.shape[1] > 1 and torch.allclose(g.values.double(), rows.double(), rtol=1e-4, atol=1e-5):
                raise CheckFailed(f"{what} standardised the rows; standardise each column "
                                  "(reduce over axis 0)")
        expect_tensor(g, w, what, tol)


def _cmp_std_stats(got, want, inputs, tol):
    X = inputs["big"][0]
    Z = got["results"][0]
    what = _what("standardize_columns", X) + " with column means near 100"
    if not isinstance(Z, WireTensor) or Z.shape != tuple(X.shape):
        raise CheckFailed(f"{what} returned {describe(Z)}; expected a tensor of shape {tuple(X.shape)}")
    Z = Z.values.double()
    means, stds = Z.mean(0), Z.std(0, correction=0)
    if not torch.allclose(means, torch.zeros_like(means), atol=1e-4):
        raise CheckFailed(f"{what}: the result's column means are {preview(means)}; expected zeros")
    if not torch.allclose(stds, torch.ones_like(stds), atol=1e-4):
        raise CheckFailed(f"{what}: the result's column standard deviations (dividing by n) are "
                          f"{preview(stds)}; expected ones")


# -- pairwise_sq_dists -----------------------------------------------------------------
def _dist_inputs(gen) -> dict:
    f64 = torch.float64
    return {"f64": [(randn(gen, 5, 3, dtype=f64), randn(gen, 4, 3, dtype=f64)),
                    (randn(gen, 4, 4, dtype=f64), randn(gen, 4, 4, dtype=f64)),
                    (randn(gen, 7, 1, dtype=f64), randn(gen, 3, 1, dtype=f64)),
                    (randn(gen, 1, 2, dtype=f64), randn(gen, 6, 2, dtype=f64)),
                    (randn(gen, 3, 6, dtype=f64), randn(gen, 1, 6, dtype=f64))],
            "f32": [(randn(gen, 6, 5), randn(gen, 8, 5))]}


def _dist_probe(key: str):
    def probe(ns, inputs, ctx):
        out = []
        for X, Y in inputs[key]:
            out.append(call(ctx, ns, "pairwise_sq_dists", X.clone().to(ctx.device), Y.clone().to(ctx.device)))
        if key == "f64":  # each point against itself: the diagonal must be zero
            X = inputs[key][0][0].clone().to(ctx.device)
            out.append(call(ctx, ns, "pairwise_sq_dists", X, X.clone()))
        return {"results": out}
    return probe


def _cmp_dists(key: str):
    def compare(got, want, inputs, tol):
        pairs = list(inputs[key]) + ([(inputs[key][0][0], inputs[key][0][0])] if key == "f64" else [])
        for (X, Y), g, w in zip(pairs, got["results"], want["results"]):
            what = (f"pairwise_sq_dists(X of shape {tuple(X.shape)}, Y of shape {tuple(Y.shape)}, "
                    f"{str(X.dtype)[6:]})")
            if isinstance(g, WireTensor) and g.shape == w.shape:
                if torch.allclose(g.values.double(), w.values.double().sqrt(), rtol=1e-4, atol=1e-6):
                    raise CheckFailed(f"{what} returned the distances; return their squares")
            expect_tensor(g, w, what, tol)
    return compare


def _no_loops_no_cdist(tree):
    return forbid_loops()(tree) + forbid_attributes("cdist", "pdist")(tree)


EXERCISES = [
    Exercise("broadcast_shape", (
        Check("compatible", 2, "the broadcast shape of compatible shapes, as a tuple",
              make_inputs=_bshape_inputs, probe=_bshape_ok, compare=_cmp_bshape_ok),
        Check("incompatible", 1, "incompatible shapes raise ValueError",
              make_inputs=_bshape_inputs, probe=_bshape_bad, compare=_cmp_bshape_raises),
        Check("message", 0.5, "the ValueError names the clashing sizes",
              make_inputs=_bshape_inputs, probe=_bshape_bad, compare=_cmp_bshape_message),
        Check("no_torch", 0.5, "the rules written by hand, without torch's broadcasting helpers",
              kind="policy", rule=_no_torch_broadcast),
    )),
    Exercise("row_normalize", (
        Check("square", 1.5, "square matrices: each row divided by its own sum (keepdim)",
              make_inputs=_rownorm_inputs, probe=_unary_probe("row_normalize", "square"),
              compare=_cmp_rownorm("square")),
        Check("rectangular", 1.5, "rows that sum to one for (n, d) matrices, (1, d) and (n, 1) included",
              make_inputs=_rownorm_inputs, probe=_unary_probe("row_normalize", "rect"),
              compare=_cmp_rownorm("rect")),
        Check("input_unchanged", 1, "X itself is not modified",
              make_inputs=_rownorm_inputs, probe=_untouched_probe("row_normalize", "rect"),
              compare=_cmp_untouched("row_normalize"), guard=True),
    )),
    Exercise("standardize_columns", (
        Check("values", 2, "(X - column mean) / column population std, in X's shape and dtype",
              make_inputs=_std_inputs, probe=_unary_probe("standardize_columns", "cases"),
              compare=_cmp_std_values),
        Check("statistics", 1, "the result's columns have mean 0 and standard deviation 1",
              make_inputs=_std_inputs, probe=_unary_probe("standardize_columns", "big"),
              compare=_cmp_std_stats),
        Check("input_unchanged", 1, "X itself is not modified",
              make_inputs=_std_inputs, probe=_untouched_probe("standardize_columns", "cases"),
              compare=_cmp_untouched("standardize_columns"), guard=True),
    )),
    Exercise("pairwise_sq_dists", (
        Check("values", 2, "squared distances of shape (n, m) for several shapes (float64)",
              make_inputs=_dist_inputs, probe=_dist_probe("f64"), compare=_cmp_dists("f64"),
              tolerance="float64"),
        # float32: the expanded formula |x|^2 - 2 x.y + |y|^2 cancels, so allow a little more
        # than 'value'.
        Check("float32", 1, "float32 inputs give a float32 (n, m) result on the inputs' device",
              make_inputs=_dist_inputs, probe=_dist_probe("f32"), compare=_cmp_dists("f32"),
              tolerance="grad"),
        Check("no_loops", 1, "no Python loops and no torch.cdist: broadcasting does the work",
              kind="policy", rule=_no_loops_no_cdist),
    )),
]

# Every requirement the exercises' prompts state, and the checks that fail when it is broken
# (tests/test_chapter_01.py holds a submission per row that breaks exactly that row). Where
# breaking it leaves no check of the function passing, the row names the guards and policy
# checks too: they are awarded only with a check that proves the function works.
REQUIREMENTS = [
    Requirement("broadcast_shape.rules", "broadcast_shape",
                "applies the three rules by hand to two shapes given as tuples of ints",
                ("compatible",), "five pairs from the table of the text"),
    Requirement("broadcast_shape.tuple", "broadcast_shape",
                "returns the broadcast shape as a **tuple** of ints", ("compatible",),
                "the result's type is tuple"),
    Requirement("broadcast_shape.raises", "broadcast_shape",
                "when the shapes are incompatible, raise a ValueError", ("incompatible", "message"),
                "(2, 4) and (3, 4) raise ValueError"),
    Requirement("broadcast_shape.message_sizes", "broadcast_shape",
                "whose message names ... its two sizes", ("message",), "the message names 2 and 3"),
    Requirement("broadcast_shape.message_dimension", "broadcast_shape",
                "whose message names the offending dimension", ("message",),
                "the message numbers the dimension (-2, or 0 from the left)"),
    Requirement("broadcast_shape.no_torch", "broadcast_shape",
                "do not call torch.broadcast_shapes, torch.broadcast_tensors or any other torch "
                "function here", ("no_torch",), "no_calls: broadcast_shapes, broadcast_tensors, torch, …"),
    Requirement("row_normalize.rows_sum_to_one", "row_normalize",
                "returns a tensor ... whose rows are non-negative and sum to one",
                ("square", "rectangular", "input_unchanged"), "a (3, 3) example, and the row sums of a (4, 6) one"),
    Requirement("row_normalize.shape", "row_normalize", "a tensor of the same shape",
                ("square", "rectangular", "input_unchanged"), "the (3, 3) example's shape"),
    Requirement("row_normalize.input_unchanged", "row_normalize", "Do not change X itself.",
                ("input_unchanged",), "X equals its copy from before the call"),
    Requirement("standardize_columns.values", "standardize_columns",
                "each column shifted to mean 0 and scaled to standard deviation 1, as in the formula",
                ("values", "statistics", "input_unchanged"),
                "a (4, 2) example; column means and deviations of a (50, 3) one"),
    Requirement("standardize_columns.population", "standardize_columns",
                "(population) standard deviation: dividing by n", ("values", "statistics", "input_unchanged"),
                "the (4, 2) example, with a hint for correction=0"),
    Requirement("standardize_columns.dtype", "standardize_columns", "The result has X's ... dtype",
                ("values",), "float64 in, float64 out"),
    Requirement("standardize_columns.shape", "standardize_columns", "The result has X's shape",
                ("values",), "the shapes of a (4, 2) example and a (3, 1) column"),
    Requirement("standardize_columns.input_unchanged", "standardize_columns",
                "X itself must not change.", ("input_unchanged",), "X equals its copy from before the call"),
    Requirement("pairwise_sq_dists.values", "pairwise_sq_dists",
                "the (n, m) matrix of squared Euclidean distances between the rows of X and of Y",
                ("values", "float32", "no_loops"),
                "a (3, 2) by (2, 2) example, the shape of (5, 4) by (7, 4), zero diagonal"),
    Requirement("pairwise_sq_dists.dtype_device", "pairwise_sq_dists",
                "in their dtype and on their device (the device is compared when grading on a GPU)",
                ("float32",), "float32 in, float32 out; float64 in, float64 out"),
    Requirement("pairwise_sq_dists.no_loops", "pairwise_sq_dists",
                "No Python loops (no for, while or comprehensions)", ("no_loops",), "no_loops"),
    Requirement("pairwise_sq_dists.no_cdist", "pairwise_sq_dists", "and no torch.cdist",
                ("no_loops",), "no_calls: cdist, pdist"),
]
