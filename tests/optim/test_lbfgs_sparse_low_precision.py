"""LBFGS with the strong-Wolfe line search and SparseAdam on float16 and bfloat16 parameters:
torch's single-tensor steps bit for bit (tests/fixtures/lbfgs_sparse_low.npz, made by
make_lbfgs_sparse_low_fixtures.py): the line search's scalars are torch's 0-d tensors of the
dtype, each op rounded there. Sizes are whole SIMD vectors (64 and 32 values)."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import nn, optim

REF = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "lbfgs_sparse_low.npz")
DTYPES = ("bfloat16", "float16")
LBFGS_CASES = {"lr1": 1.0, "short": 0.05, "long": 3.0}
SPARSE_CASES = {"plain": {"lr": 0.01}, "maximize": {"lr": 0.1, "betas": (0.8, 0.9),
                                                    "maximize": True}}


def low(name: str) -> np.dtype:
    return np.dtype(dlpy.bfloat16) if name == "bfloat16" else np.dtype(np.float16)


def bits(a: np.ndarray) -> np.ndarray:
    """The values' bits, every NaN as one pattern (its sign is no part of torch's contract)."""
    a = np.asarray(a)
    out = a.view(np.int16).copy()
    out[np.isnan(a.astype(np.float32))] = 0x7E00
    return out


def nan_free(want: np.ndarray, dtype: str) -> np.ndarray:
    """The fixture's bits with NaNs as ``bits`` gives them."""
    return bits(want.view(low(dtype)))


def quadratic(p, a, c, trail=None):
    """LBFGS's closure: 0.5 sum(a (p - c)^2), summed exactly and rounded to the dtype (as the
    fixture's torch closure), with its gradient a (p - c); ``trail`` gathers (point, loss)."""

    def closure():
        diff = p.data - c
        grad = a * diff
        p.grad = dlpy.Tensor(grad)
        loss = np.sum(grad.astype(np.float64) * diff.astype(np.float64)) * 0.5
        loss = np.float32(loss).astype(p.dtype)
        if trail is not None:
            trail.append((bits(p.data), bits(loss)))
        return dlpy.Tensor(loss)

    return closure


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LBFGS_CASES)
def test_strong_wolfe_lbfgs_steps_equal_torchs(case, dtype):
    """Three steps of five iterations: every closure call's point and loss, and each step's
    result, equal torch's (the closure computes as torch's: any difference is the
    optimiser's)."""
    start, a, c = (REF[f"lbfgs/{dtype}/{k}"].view(low(dtype)) for k in ("start", "a", "c"))
    p = nn.Parameter(dlpy.Tensor(start.copy()))
    opt = optim.LBFGS([p], lr=LBFGS_CASES[case], max_iter=5, history_size=3,
                      line_search_fn="strong_wolfe")
    trail = []
    closure = quadratic(p, a, c, trail)

    prefix = f"lbfgs/{dtype}/{case}"
    for k, want in enumerate(REF[f"{prefix}/steps"]):
        opt.step(closure)
        assert p.dtype == low(dtype)
        np.testing.assert_array_equal(bits(p.data), nan_free(want, dtype),
                                      err_msg=f"step {k + 1}")
    points, losses = zip(*trail)
    np.testing.assert_array_equal(np.stack(points), nan_free(REF[f"{prefix}/points"], dtype))
    np.testing.assert_array_equal(np.stack(losses), nan_free(REF[f"{prefix}/losses"], dtype))


@pytest.mark.parametrize("line_search_fn, lr", [("strong_wolfe", 1.0), (None, 0.1)])
def test_lbfgs_low_precision_state_round_trips(line_search_fn, lr):
    """The step's numbers (t, H_diag, ro) save as numbers and load back as the step holds
    them (0-d tensors of the dtype, or the Python float lr as t): the next step continues as
    without the round trip."""
    dtype = "bfloat16"
    start, a, c = (REF[f"lbfgs/{dtype}/{k}"].view(low(dtype)) for k in ("start", "a", "c"))
    runs = []
    for reload in (False, True):
        p = nn.Parameter(dlpy.Tensor(start.copy()))
        opt = optim.LBFGS([p], lr=lr, max_iter=5, history_size=3,
                          line_search_fn=line_search_fn)
        closure = quadratic(p, a, c)
        opt.step(closure)
        if reload:
            opt.load_state_dict(opt.state_dict())
        opt.step(closure)
        runs.append(bits(p.data))
    np.testing.assert_array_equal(runs[1], runs[0])
    if line_search_fn:
        np.testing.assert_array_equal(runs[0], REF["lbfgs/bfloat16/lr1/steps"][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SPARSE_CASES)
def test_sparse_adam_steps_equal_torchs(case, dtype):
    """Four steps of embedding lookups repeating rows up to four times (summed in order,
    each sum rounded to the dtype, as torch's coalesce): the weight after each step equals
    torch's."""
    weight = REF[f"sparse/{dtype}/weight"].view(low(dtype))
    grads = REF[f"sparse/{dtype}/grads"].view(low(dtype))
    embedding = nn.Embedding(16, 32, sparse=True, dtype=low(dtype))
    embedding.weight.data[...] = weight
    opt = optim.SparseAdam(embedding.parameters(), **SPARSE_CASES[case])
    for k, (idx, grad, want) in enumerate(zip(REF["sparse/lookups"], grads,
                                              REF[f"sparse/{dtype}/{case}"])):
        opt.zero_grad()
        embedding(dlpy.tensor(idx)).backward(dlpy.Tensor(grad))
        opt.step()
        assert embedding.weight.dtype == low(dtype)
        assert opt.state[0]["exp_avg"].dtype == low(dtype)
        np.testing.assert_array_equal(bits(embedding.weight.data), nan_free(want, dtype),
                                      err_msg=f"step {k + 1}")
