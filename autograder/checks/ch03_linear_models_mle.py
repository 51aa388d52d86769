"""Checks for chapter 03, linear models, squared loss and maximum likelihood."""
from __future__ import annotations

import math

import torch

from autograder.checks.common import call, randn
from autograder.compare import describe, expect_tensor, expect_values
from autograder.policy import forbid_attributes
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.untrusted.wire import WireTensor

CHAPTER = "03_linear_models_mle"


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


# -- normal_equation -------------------------------------------------------------------
def _regression(gen, n, d, dtype, noise=0.1):
    X = randn(gen, n, d, dtype=dtype)
    w = randn(gen, d, 1, dtype=dtype)
    b = randn(gen, 1, dtype=dtype)
    return X, w, b, X @ w + b + noise * randn(gen, n, 1, dtype=dtype)


def _ne_inputs(gen):
    cases = []
    for n, d, dtype in ((20, 2, torch.float64), (50, 5, torch.float32), (8, 1, torch.float64),
                        (30, 3, torch.float32)):
        X, _, _, y = _regression(gen, n, d, dtype)
        cases.append({"X": X, "y": y})
    X, w, b, _ = _regression(gen, 15, 3, torch.float64)
    return {"cases": cases, "exact": {"X": X, "w": w, "b": b, "y": X @ w + b}}


def _ne_call(ctx, ns, X, y):
    return call(ctx, ns, "normal_equation", X.to(ctx.device), y.to(ctx.device))


def _ne_values(ns, inputs, ctx):
    return {"results": [_ne_call(ctx, ns, c["X"], c["y"]) for c in inputs["cases"]]}


def _ne_flat(ns, inputs, ctx):
    return {"results": [_ne_call(ctx, ns, c["X"], c["y"].reshape(-1)) for c in inputs["cases"]]}


def _ne_exact(ns, inputs, ctx):
    case = inputs["exact"]
    return {"result": _ne_call(ctx, ns, case["X"], case["y"])}


def _wb(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}; expected a pair (w, b)")
    return result


def _cmp_ne(y_shape):
    def compare(got, want, inputs, tol):
        for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
            y = case["y"] if y_shape == "column" else case["y"].reshape(-1)
            what = f"normal_equation(X {_shape(case['X'])}, y {_shape(y)}) [{_dtype(case['X'])}]"
            (gw, gb), (rw, rb) = _wb(g, what), _wb(r, what)
            expect_tensor(gw, rw, f"{what}: w", tol)
            expect_tensor(gb, rb, f"{what}: b", tol)
    return compare


def _cmp_ne_exact(got, want, inputs, tol):
    case = inputs["exact"]
    what = (f"normal_equation(X {_shape(case['X'])}, y {_shape(case['y'])}) "
            "with noiseless y = X @ w + b")
    w, b = _wb(got["result"], what)
    for name, value, true in (("w", w, case["w"]), ("b", b, case["b"])):
        if not isinstance(value, WireTensor) or value.shape != tuple(true.shape):
            raise CheckFailed(f"{what} returned {name} = {describe(value)}; expected shape "
                              f"{tuple(true.shape)}")
        expect_values(value.values, true, f"{what}: {name}, compared with the true {name}", tol)


# -- gaussian_nll ----------------------------------------------------------------------
def _nll_inputs(gen):
    cases = []
    for n, dtype, sigma in ((10, torch.float32, 1.0), (25, torch.float64, 0.3),
                            (7, torch.float32, 2.5), (1, torch.float64, 1.7)):
        cases.append({"y_hat": randn(gen, n, 1, dtype=dtype), "y": randn(gen, n, 1, dtype=dtype),
                      "sigma": sigma, "tensor_sigma": n == 7})
    return {"cases": cases}


def _sigma_arg(case, ctx):
    if case["tensor_sigma"]:
        return torch.tensor(case["sigma"], dtype=case["y_hat"].dtype, device=ctx.device)
    return case["sigma"]


def _nll_probe(flat):
    def probe(ns, inputs, ctx):
        out = []
        for case in inputs["cases"]:
            y = case["y"].reshape(-1) if flat else case["y"]
            out.append(call(ctx, ns, "gaussian_nll", case["y_hat"].to(ctx.device), y.to(ctx.device),
                            _sigma_arg(case, ctx)))
        return {"results": out}
    return probe


def _nll_what(case, flat):
    y_shape = f"({case['y'].shape[0]},)" if flat else _shape(case["y"])
    sigma = f"tensor({case['sigma']})" if case["tensor_sigma"] else f"{case['sigma']}"
    return (f"gaussian_nll(y_hat {_shape(case['y_hat'])}, y {y_shape}, sigma={sigma}) "
            f"[{_dtype(case['y_hat'])}]")


FLAT_HINT = (" — with y of shape (n,) and y_hat of shape (n, 1), y - y_hat broadcasts "
             "to (n, n); reshape y to y_hat's shape first")


def _expect_with_hint(got, want, what, tol, hint: str, flat: bool) -> None:
    """``expect_tensor``, its message followed by ``hint`` — or, for (n,) labels, the
    broadcasting hint when no more specific one applies. Hints speak of values: they are
    added only when the shape is right and the values are not."""
    try:
        expect_tensor(got, want, what, tol)
    except CheckFailed as e:
        wrong_values = (isinstance(got, WireTensor) and got.shape == want.shape and not torch.allclose(
            got.values.double().cpu(), want.values.double(), rtol=tol.rtol, atol=tol.atol))
        if not wrong_values:
            raise
        raise CheckFailed(str(e) + (hint or (FLAT_HINT if flat else ""))) from None


def _nll_hint(got, case):
    """Name the common slips: a sum instead of a mean, a missing log term, σ for σ²."""
    if not isinstance(got, WireTensor) or got.values.numel() != 1:
        return ""
    r2 = (case["y"].double() - case["y_hat"].double()) ** 2
    s, v = case["sigma"], got.values.double().item()
    logs = 0.5 * math.log(2 * math.pi * s ** 2)
    slips = {"the sum over examples instead of the mean": (logs + r2 / (2 * s * s)).sum().item(),
             "the ½·log(2πσ²) term is missing": (r2 / (2 * s * s)).mean().item(),
             "σ was used where σ² belongs": (0.5 * math.log(2 * math.pi * s) + r2 / (2 * s)).mean().item()}
    for name, value in slips.items():
        if len(r2) > 1 and abs(v - value) <= 1e-4 * max(1.0, abs(value)):
            return f" — it looks like {name}"
    return ""


def _cmp_nll(flat):
    def compare(got, want, inputs, tol):
        for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
            what = _nll_what(case, flat)
            _expect_with_hint(g, r, what, tol, _nll_hint(g, case), flat)
    return compare


def _nll_grad(ns, inputs, ctx):
    case = inputs["cases"][1]
    y_hat = case["y_hat"].to(ctx.device).requires_grad_()
    sigma = torch.tensor(case["sigma"], dtype=y_hat.dtype, device=ctx.device, requires_grad=True)
    out = call(ctx, ns, "gaussian_nll", y_hat, case["y"].to(ctx.device), sigma)
    out.backward()
    return {"y_hat_grad": y_hat.grad, "sigma_grad": sigma.grad}


def _cmp_nll_grad(got, want, inputs, tol):
    case = inputs["cases"][1]
    what = (f"gaussian_nll(y_hat {_shape(case['y_hat'])}, y {_shape(case['y'])}, "
            "sigma=a scalar tensor that requires grad)")
    for key, name in (("y_hat_grad", "y_hat"), ("sigma_grad", "sigma")):
        if not isinstance(got[key], WireTensor):
            raise CheckFailed(f"{what}: no gradient reached {name}; compute the result from "
                              f"{name} with torch operations (torch.log, not math.log)")
        try:
            expect_tensor(got[key], want[key], f"{what}: the gradient with respect to {name}", tol)
        except CheckFailed as e:
            hint = (" — take log(σ) with torch.log on the tensor: math.log turns it into a plain "
                    "number, and autograd never sees that term") if name == "sigma" else ""
            raise CheckFailed(str(e) + hint) from None


# -- mle_sigma -------------------------------------------------------------------------
def _sigma_inputs(gen):
    cases = []
    for n, dtype, shift in ((12, torch.float32, 0.0), (40, torch.float64, 0.7), (5, torch.float32, -1.5),
                            (1, torch.float64, 0.0)):
        y_hat = randn(gen, n, 1, dtype=dtype)
        cases.append({"y_hat": y_hat, "y": y_hat + shift + 0.5 * randn(gen, n, 1, dtype=dtype)})
    return {"cases": cases}


def _sigma_probe(flat):
    def probe(ns, inputs, ctx):
        return {"results": [call(ctx, ns, "mle_sigma", c["y_hat"].to(ctx.device),
                                 (c["y"].reshape(-1) if flat else c["y"]).to(ctx.device))
                            for c in inputs["cases"]]}
    return probe


def _sigma_hint(got, case):
    if not isinstance(got, WireTensor) or got.values.numel() != 1 or len(case["y"]) < 2:
        return ""
    r = (case["y"] - case["y_hat"]).double().reshape(-1)
    v = got.values.double().item()
    slips = {"σ² (the mean squared residual) instead of σ; take its square root": (r ** 2).mean().item(),
             "the standard deviation of the residuals (torch.std subtracts their mean and divides "
             "by n - 1); the noise has mean zero around y_hat, so use sqrt(mean(residual²))": r.std().item(),
             "the residuals' standard deviation with their mean subtracted; the noise has mean zero "
             "around y_hat, so use sqrt(mean(residual²))": r.std(correction=0).item(),
             "divided by n - 1; the maximum-likelihood estimate divides by n":
                 math.sqrt((r ** 2).sum().item() / (len(r) - 1))}
    for name, value in slips.items():
        if abs(v - value) <= 1e-4 * max(1.0, abs(value)):
            return f" — it looks like {name}"
    return ""


def _cmp_sigma(flat):
    def compare(got, want, inputs, tol):
        for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
            y_shape = f"({case['y'].shape[0]},)" if flat else _shape(case["y"])
            what = f"mle_sigma(y_hat {_shape(case['y_hat'])}, y {y_shape}) [{_dtype(case['y_hat'])}]"
            _expect_with_hint(g, r, what, tol, _sigma_hint(g, case), flat)
    return compare


# -- best_constant ---------------------------------------------------------------------
def _const_inputs(gen):
    def sample(*shape, dtype=torch.float32):
        y = 3 * randn(gen, *shape, dtype=dtype)
        y.view(-1)[0] = 50.0  # an outlier: the mean and the median differ
        return y
    return {"cases": [sample(9), sample(10, 1), sample(1), sample(16, dtype=torch.float64),
                      sample(7, 1, dtype=torch.float64)]}


def _const_probe(loss):
    def probe(ns, inputs, ctx):
        return {"results": [call(ctx, ns, "best_constant", y.clone().to(ctx.device), loss)
                            for y in inputs["cases"]]}
    return probe


def _const_what(y, loss):
    return f"best_constant(y {_shape(y)} [{_dtype(y)}], {loss!r})"


def _scalar(got, y, what):
    if not isinstance(got, WireTensor):
        raise CheckFailed(f"{what} returned {describe(got)}; expected a scalar tensor (shape ())")
    if got.shape != ():
        raise CheckFailed(f"{what} returned shape {got.shape}; expected a scalar tensor, shape () "
                          "(reduce over all of y, e.g. y.mean() rather than y.mean(0))")
    if got.dtype != y.dtype:
        raise CheckFailed(f"{what} returned dtype {got.dtype}; expected {y.dtype}, y's dtype")
    return got.values.double().item()


def _cmp_const_l2(got, want, inputs, tol):
    for y, g, r in zip(inputs["cases"], got["results"], want["results"]):
        what = _const_what(y, "l2")
        c = _scalar(g, y, what)
        if len(y.reshape(-1)) > 1 and abs(c - y.double().median().item()) < 1e-6:
            raise CheckFailed(f"{what} returned the median {c:.6g}; the squared loss is minimised by "
                              f"the mean, {r.values.item():.6g}")
        expect_tensor(g, r, what, tol)


def _cmp_const_l1(got, want, inputs, tol):
    for y, g in zip(inputs["cases"], got["results"]):
        what = _const_what(y, "l1")
        c = _scalar(g, y, what)
        flat = torch.sort(y.double().reshape(-1)).values
        n = len(flat)
        lo, hi = flat[(n - 1) // 2].item(), flat[n // 2].item()
        slack = tol.atol + tol.rtol * max(abs(lo), abs(hi))
        if not lo - slack <= c <= hi + slack:
            median = f"{lo:.6g}" if n % 2 else f"any value in [{lo:.6g}, {hi:.6g}]"
            hint = (" — that is the mean, which minimises the squared loss"
                    if abs(c - flat.mean().item()) < 1e-5 * max(1.0, abs(c)) else "")
            raise CheckFailed(f"{what} returned {c:.6g}{hint}; the mean absolute error is minimised "
                              f"by a median: {median}")


def _const_bad_loss(ns, inputs, ctx):
    try:
        value = call(ctx, ns, "best_constant", inputs["cases"][0].clone().to(ctx.device), "huber")
    except ValueError:
        return {"raised": "ValueError"}
    except Exception as e:  # noqa: BLE001  the wrong kind of error is the finding
        return {"raised": type(e).__name__}
    return {"raised": None, "value": value}


def _cmp_const_bad_loss(got, want, inputs, tol):
    if got["raised"] != "ValueError":
        what = "raised " + got["raised"] if got["raised"] else "returned " + describe(got.get("value"))
        raise CheckFailed(f"best_constant(y, 'huber') {what}; expected a ValueError for a loss "
                          "other than 'l1' or 'l2'")


# -- ridge -----------------------------------------------------------------------------
def _ridge_inputs(gen):
    """Full-rank problems, problems with a duplicated column (XᵀX singular, where the normal
    equations have no unique answer) and with fewer examples than features."""
    cases = []
    for n, d, dtype, lam, dup in ((30, 3, torch.float64, 0.5, False), (25, 4, torch.float32, 2.0, False),
                                  (20, 3, torch.float64, 1.0, True), (40, 5, torch.float32, 3.0, True),
                                  (4, 8, torch.float64, 0.1, False)):
        X, _, _, y = _regression(gen, n, d, dtype)
        if dup:
            X = torch.cat([X, 2 * X[:, :1]], dim=1)
        cases.append({"X": X, "y": y, "lam": lam, "duplicated": dup})
    return {"cases": cases}


def _ridge_probe(flat):
    def probe(ns, inputs, ctx):
        return {"results": [call(ctx, ns, "ridge", c["X"].to(ctx.device),
                                 (c["y"].reshape(-1) if flat else c["y"]).to(ctx.device), c["lam"])
                            for c in inputs["cases"]]}
    return probe


def _ridge_hint(got, case) -> str:
    """Name the common slips: λ·n on the diagonal, λ added to every entry, no λ at all."""
    if not isinstance(got, WireTensor) or got.shape != (case["X"].shape[1], 1):
        return ""
    X, y, lam = case["X"].double(), case["y"].double(), case["lam"]
    d = X.shape[1]
    slips = {"λ·n on the diagonal; the loss is a sum, so λ itself goes there":
                 (X.T @ X + lam * len(X) * torch.eye(d, dtype=X.dtype), X.T @ y),
             "λ added to every entry of XᵀX; it goes on the diagonal only (λ·I)":
                 (X.T @ X + lam + 1e-9 * torch.eye(d, dtype=X.dtype), X.T @ y)}
    for name, (A, rhs) in slips.items():
        try:
            value = torch.linalg.solve(A, rhs)
        except RuntimeError:
            continue
        if torch.allclose(got.values.double().cpu(), value, rtol=1e-3, atol=1e-5):
            return f" — it looks like {name}"
    return ""


def _cmp_ridge(flat):
    def compare(got, want, inputs, tol):
        for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
            y_shape = f"({case['y'].shape[0]},)" if flat else _shape(case["y"])
            dup = " with a duplicated column (XᵀX singular)" if case["duplicated"] else ""
            what = (f"ridge(X {_shape(case['X'])}{dup}, y {y_shape}, lam={case['lam']:g}) "
                    f"[{_dtype(case['X'])}]")
            _expect_with_hint(g, r, what, tol, _ridge_hint(g, case), flat)
    return compare


EXERCISES = [
    Exercise("normal_equation", (
        Check("values", 2, "w of shape (d, 1) and b of shape (1,) matching the least-squares solution",
              make_inputs=_ne_inputs, probe=_ne_values, compare=_cmp_ne("column"), tolerance="grad"),
        Check("flat_labels", 1, "y of shape (n,) gives the same w (d, 1) and b (1,) as y of shape (n, 1)",
              make_inputs=_ne_inputs, probe=_ne_flat, compare=_cmp_ne("flat"), tolerance="grad"),
        Check("exact_fit", 1, "noiseless data: the true w and b are recovered",
              make_inputs=_ne_inputs, probe=_ne_exact, compare=_cmp_ne_exact, tolerance="float64"),
        Check("no_lstsq", 1, "solves the normal equations (no inverse, lstsq, pinv or pinverse)",
              kind="policy", rule=forbid_attributes("lstsq", "pinv", "pinverse", "inv", "inverse")),
    )),
    Exercise("gaussian_nll", (
        Check("values", 2, "the mean of ½·log(2πσ²) + (y - y_hat)² / (2σ²), a scalar tensor",
              make_inputs=_nll_inputs, probe=_nll_probe(False), compare=_cmp_nll(False)),
        Check("flat_labels", 1, "y of shape (n,) is reshaped to y_hat's (n, 1), not broadcast to (n, n)",
              make_inputs=_nll_inputs, probe=_nll_probe(True), compare=_cmp_nll(True)),
        Check("gradient", 1, "gradients flow to y_hat and to a tensor sigma", kind="gradient",
              tolerance="grad", make_inputs=_nll_inputs, probe=_nll_grad, compare=_cmp_nll_grad),
    )),
    Exercise("mle_sigma", (
        Check("values", 2, "sqrt(mean((y - y_hat)²)), a scalar tensor",
              make_inputs=_sigma_inputs, probe=_sigma_probe(False), compare=_cmp_sigma(False)),
        Check("flat_labels", 1, "y of shape (n,) is reshaped to y_hat's (n, 1), not broadcast to (n, n)",
              make_inputs=_sigma_inputs, probe=_sigma_probe(True), compare=_cmp_sigma(True)),
    )),
    Exercise("best_constant", (
        Check("l2", 1, "'l2': the mean of y, a scalar tensor in y's dtype",
              make_inputs=_const_inputs, probe=_const_probe("l2"), compare=_cmp_const_l2),
        Check("l1", 1.5, "'l1': a median of y, a scalar tensor in y's dtype",
              make_inputs=_const_inputs, probe=_const_probe("l1"), compare=_cmp_const_l1),
        Check("bad_loss", 0.5, "another loss name raises ValueError",
              make_inputs=_const_inputs, probe=_const_bad_loss, compare=_cmp_const_bad_loss),
    )),
    Exercise("ridge", (
        Check("values", 1.5, "w (d, 1) solving (XᵀX + λI) w = Xᵀy, also where XᵀX is singular",
              make_inputs=_ridge_inputs, probe=_ridge_probe(False), compare=_cmp_ridge(False), tolerance="grad"),
        Check("flat_labels", 1, "y of shape (n,) gives the same w as y of shape (n, 1)",
              make_inputs=_ridge_inputs, probe=_ridge_probe(True), compare=_cmp_ridge(True), tolerance="grad"),
        Check("solve", 0.5, "solves the system (no inverse, lstsq, pinv or pinverse)",
              kind="policy", rule=forbid_attributes("lstsq", "pinv", "pinverse", "inv", "inverse")),
    )),
]

# Every requirement the exercises' prompts state, and the checks that fail when it is broken
# (tests/test_chapter_03.py holds a submission per row that breaks exactly that row). Where
# breaking it leaves no check of the function passing, the row names the policy check too: it
# is awarded only with a check that proves the function works.
REQUIREMENTS = [
    Requirement("normal_equation.affine", "normal_equation",
                "returns (w, b) minimising the squared loss of the affine model",
                ("values", "flat_labels", "exact_fit", "no_lstsq"),
                "noiseless y = 2 x1 - x2 + 0.5; the residual is orthogonal to every column"),
    Requirement("normal_equation.flat_labels", "normal_equation",
                "y has shape (n,) or (n, 1) — treat both alike", ("flat_labels",),
                "w for y of shape (4,) and (4, 1)"),
    Requirement("normal_equation.shapes", "normal_equation", "return w of shape (d, 1) and b of shape (1,)",
                ("values", "flat_labels", "exact_fit", "no_lstsq"), "the shapes of w and b"),
    Requirement("normal_equation.dtype_device", "normal_equation",
                "in X's dtype and on its device (the device is compared when grading on a GPU)",
                ("values", "flat_labels"), "float32 X gives float32 w and b"),
    Requirement("normal_equation.solve", "normal_equation",
                "by solving the normal equations with torch.linalg.solve: no inv or inverse",
                ("no_lstsq",), "no_calls: inv, inverse, lstsq, pinv, pinverse"),
    Requirement("normal_equation.no_lstsq", "normal_equation", "do not use torch.linalg.lstsq, pinv or pinverse",
                ("no_lstsq",), "no_calls: inv, inverse, lstsq, pinv, pinverse"),
    Requirement("gaussian_nll.mean", "gaussian_nll",
                "the negative log-likelihood per example, averaged over the examples",
                ("values", "flat_labels", "gradient"), "½·log(2π) for y == y_hat, a (3, 1) example"),
    Requirement("gaussian_nll.scalar", "gaussian_nll", "as a scalar tensor (shape ())",
                ("values", "flat_labels"), "the result's shape is ()"),
    Requirement("gaussian_nll.flat_labels", "gaussian_nll",
                "y has shape (n,) or (n, 1) — reshape it to y_hat's shape before subtracting",
                ("flat_labels",), "the (3, 1) example with y of shape (3,)"),
    Requirement("gaussian_nll.sigma", "gaussian_nll", "sigma is a positive Python float or a scalar tensor",
                ("values", "flat_labels"), "sigma given as 1.0, 2.0 and a tensor"),
    Requirement("gaussian_nll.torch_ops", "gaussian_nll",
                "use torch operations (torch.log, not math.log) so that gradients flow to sigma",
                ("gradient",), "the gradient with respect to a tensor sigma"),
    Requirement("mle_sigma.values", "mle_sigma", "returning σ̂ = sqrt((1/n) Σ (y - ŷ)²)",
                ("values", "flat_labels"), "residuals ±1 give 1; residuals all 3 give 3, with hints"),
    Requirement("mle_sigma.scalar", "mle_sigma", "as a scalar tensor (shape ())",
                ("values", "flat_labels"), "the result's shape is ()"),
    Requirement("mle_sigma.flat_labels", "mle_sigma", "y has shape (n,) or (n, 1)",
                ("flat_labels",), "y of shape (4,) and (4, 1)"),
    Requirement("best_constant.l2", "best_constant",
                "the constant prediction that minimises the mean 'l2' (squared) loss", ("l2",),
                "the mean of [1, 2, 3, 4, 100]"),
    Requirement("best_constant.l1", "best_constant",
                "... or 'l1' (absolute) loss; for 'l1', any median is accepted", ("l1",),
                "a median of [1, 2, 3, 4, 100] and of [1, 2, 3, 10], with a hint for the mean"),
    Requirement("best_constant.scalar", "best_constant",
                "as a scalar tensor (shape ()); y may have shape (n,) or (n, 1)", ("l2", "l1"),
                "the results' shapes for y of shape (5, 1)"),
    Requirement("best_constant.dtype", "best_constant", "in y's dtype", ("l2", "l1"),
                "float64 y gives a float64 result"),
    Requirement("best_constant.bad_loss", "best_constant", "Raise a ValueError for any other loss",
                ("bad_loss",), "best_constant(y, 'huber') raises ValueError"),
    Requirement("ridge.closed_form", "ridge",
                "returning the w that minimises ½‖Xw - y‖² + ½λ‖w‖² (X possibly with n < d or with "
                "duplicated columns): solve (XᵀX + λI) w = Xᵀy, λ on the diagonal only and not "
                "multiplied by n", ("values", "flat_labels", "solve"),
                "two identical columns with y = x give 14/29 each; the gradient vanishes for X (3, 5)"),
    Requirement("ridge.flat_labels", "ridge", "y has shape (n,) or (n, 1), treat both alike",
                ("flat_labels",), "w for y of shape (3,) and (3, 1)"),
    Requirement("ridge.shape", "ridge", "return w of shape (d, 1)", ("values", "flat_labels", "solve"),
                "the shape of w"),
    Requirement("ridge.dtype_device", "ridge", "in X's dtype and on its device",
                ("values", "flat_labels", "solve"), "float32 X gives float32 w"),
    Requirement("ridge.solve", "ridge", "with torch.linalg.solve; no inv, inverse, lstsq, pinv or pinverse",
                ("solve",), "no_calls: inv, inverse, lstsq, pinv, pinverse"),
]
