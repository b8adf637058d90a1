"""Shared helpers for the op tests: PyTorch reference values from tests/fixtures/ops/*.npz."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_grouped

from dlpy import Tensor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ops"


@functools.cache
def load_cases(family: str) -> dict[str, dict[str, np.ndarray]]:
    """{case: {"in0": ..., "arg_labels": ..., "out": ..., "grad_out": ..., "grad0": ...}}."""
    return load_grouped(FIXTURES / f"{family}.npz")


def check_against_torch(family: str, case: str, fn, rtol: float = 1e-10, atol: float = 1e-12):
    """Apply fn to the fixture's inputs (float64) and compare value and input gradients."""
    record = load_cases(family)[case]
    n_inputs = sum(1 for k in record if k.startswith("in"))
    inputs = [Tensor(record[f"in{i}"], requires_grad=True) for i in range(n_inputs)]
    args = {k[len("arg_"):]: v for k, v in record.items() if k.startswith("arg_")}
    out = fn(*inputs, **args)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, record["out"], rtol=rtol, atol=atol, err_msg="forward")
    out.backward(record["grad_out"])
    for i, t in enumerate(inputs):
        grad = t.grad if t.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(
            grad, record[f"grad{i}"], rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
        )


@pytest.fixture
def torch_reference():
    """check_against_torch(family, case, fn): dlpy's value and gradients equal PyTorch's."""
    return check_against_torch


@pytest.fixture
def fixture_cases():
    """fixture_cases(family) -> the case names stored for that op family."""
    return lambda family: set(load_cases(family))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
