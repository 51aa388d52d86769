"""expect_values: the tolerance rule of torch.testing.assert_close, without its import cost."""
import math
import subprocess
import sys

import pytest
import torch

from autograder.compare import expect_values
from autograder.spec import CheckFailed
from autograder.tolerances import tolerance

VALUE = tolerance("value", "cpu")  # rtol 1e-5, atol 1e-6
EXACT = tolerance("exact", "cpu")


def passes(got, want, tol=VALUE) -> bool:
    try:
        expect_values(torch.as_tensor(got), torch.as_tensor(want), "f(x)", tol)
        return True
    except CheckFailed:
        return False


def test_the_tolerance_is_atol_plus_rtol_times_the_reference():
    assert passes([1.0 + 1e-5], [1.0]) and not passes([1.0 + 2e-5], [1.0])  # 1e-6 + 1e-5 * 1
    assert passes([1e-6], [0.0]) and not passes([3e-6], [0.0])
    assert passes([100.0 + 1e-3], [100.0]) and not passes([100.0 + 2e-3], [100.0])
    assert passes([3, 4], [3, 4], EXACT) and not passes([3, 5], [3, 4], EXACT)
    assert passes([True, False], [True, False], EXACT) and not passes([True, True], [True, False], EXACT)


def test_nan_and_infinity_agree_only_where_the_reference_has_them():
    inf, nan = math.inf, math.nan
    assert passes([inf, -inf, nan], [inf, -inf, nan])
    assert not passes([inf], [-inf]) and not passes([inf], [1e30]) and not passes([1.0, 2.0], [1.0, nan])
    with pytest.raises(CheckFailed, match="non-finite values"):
        expect_values(torch.tensor([1.0, nan]), torch.tensor([1.0, 2.0]), "f(x)", VALUE)


def test_a_shape_that_differs_fails_instead_of_broadcasting():
    with pytest.raises(CheckFailed, match=r"returned shape \(3, 1\); expected \(3,\)"):
        expect_values(torch.ones(3, 1), torch.ones(3), "f(x)", VALUE)
    with pytest.raises(CheckFailed, match=r"returned shape \(1,\); expected \(3,\)"):
        expect_values(torch.ones(1), torch.ones(3), "f(x)", VALUE)


def test_the_message_gives_the_largest_difference_and_the_tolerance():
    with pytest.raises(CheckFailed, match=r"largest difference 0\.5, tolerance 'value': rtol=1e-05"):
        expect_values(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]), "f(x)", VALUE)
    assert passes(torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.5]))  # compared in want's dtype


def test_comparing_imports_no_distributed_tensors():
    code = ("import sys, torch\nfrom autograder.compare import expect_values\n"
            "from autograder.tolerances import tolerance\n"
            "expect_values(torch.ones(3), torch.ones(3), 'f', tolerance('value', 'cpu'))\n"
            "print('torch.distributed.tensor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
