"""MaskedTensor's shape ops against torch.masked (fixtures/masked_nested/shape_masked.npz, made
by make_masked_nested_shape_fixtures.py): values, masks and gradients; the ops torch.masked
cannot run or differentiate (permute, squeeze, expand, flip, split, ...) against the same op on
the data and the mask, with central differences; cat/stack refuse a dense operand."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cases_masked_nested_shape import MASKED_SHAPE_CASES

import dlpy
from dlpy import Tensor
from dlpy import functional as F
from dlpy.masked import MaskedTensor, as_masked_tensor
from dlpy.testing import assert_close, gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "masked_nested" / "shape_masked.npz"


LIB = SimpleNamespace(masked=dlpy.masked, F=F, cat=dlpy.cat, stack=dlpy.stack)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("case", MASKED_SHAPE_CASES)
def test_against_torch(ref, case):
    fn = MASKED_SHAPE_CASES[case][2]
    arrays = {k.split(":", 1)[1]: v for k, v in ref.items() if k.startswith(case + ":")}
    mt = dlpy.masked_tensor(arrays["x"], arrays["mask"], requires_grad=True)
    out = fn(LIB, mt)
    assert isinstance(out, MaskedTensor)
    out_mask = out.get_mask().data
    np.testing.assert_array_equal(out_mask, arrays["out_mask"])
    assert_close(np.where(out_mask, out.get_data().data, 0.0), arrays["out"], rtol=1e-12,
                 atol=1e-12)
    out.backward(dlpy.masked_tensor(arrays["grad_out"], out_mask))
    assert_close(mt.grad.get_data().data, arrays["grad"], rtol=1e-10, atol=1e-12)


# torch.masked 2.13 has no forward (permute, movedim, squeeze, flip, unbind, list index) or no
# backward (unsqueeze, expand, split, chunk, boolean index) for these
BEYOND_TORCH = {
    "permute": lambda t: t.permute(2, 0, 1),
    "T": lambda t: t.T,
    "movedim": lambda t: t.movedim(0, 2),
    "unsqueeze_expand": lambda t: t.unsqueeze(1).expand(-1, 2, -1, -1),
    "squeeze": lambda t: t[:, :1].squeeze(1),
    "flip": lambda t: t.flip(0, 2),
    "split": lambda t: t.split([1, 3], 2),
    "chunk": lambda t: t.chunk(2, 2),
    "unbind": lambda t: t.unbind(1),
    "index_list": lambda t: t[[1, 0, 1]],
    "index_bool": lambda t: t[:, np.array([True, False, True])],
    "index_tensor": lambda t: t[Tensor(np.array([1, 0]))],
}


def _flat(out):
    """A MaskedTensor or a tuple of them as one dense Tensor (masked-out elements 0)."""
    parts = out if isinstance(out, tuple) else (out,)
    return dlpy.cat([F.reshape(p.to_tensor(0.0), (-1,)) for p in parts])


@pytest.mark.parametrize("name", BEYOND_TORCH)
def test_beyond_torch_equals_the_op_on_data_and_mask(name):
    fn = BEYOND_TORCH[name]
    rng = np.random.default_rng(3)
    x, mask = rng.standard_normal((2, 3, 4)), rng.random((2, 3, 4)) < 0.6
    out = fn(as_masked_tensor(Tensor(x), mask))
    want_data, want_mask = fn(Tensor(x)), fn(Tensor(mask))
    pairs = zip(out, want_data, want_mask) if isinstance(out, tuple) else \
        [(out, want_data, want_mask)]
    for got, data, m in pairs:
        assert isinstance(got, MaskedTensor) and got.shape == data.shape
        np.testing.assert_array_equal(got.get_data().data, data.data)
        np.testing.assert_array_equal(got.get_mask().data, m.data)
    assert gradcheck(lambda leaf: _flat(fn(as_masked_tensor(leaf, mask))),
                     Tensor(x, requires_grad=True))


def test_gradient_of_an_expanded_masked_tensor_sums_over_the_copies():
    mt = dlpy.masked_tensor(np.array([[1.0, 2.0, 3.0]]), np.array([[True, False, True]]),
                            requires_grad=True)
    out = mt.expand(4, 3) * 2.0
    out.sum().backward()
    np.testing.assert_array_equal(mt.grad.get_data().data, [[8.0, 0.0, 8.0]])
    np.testing.assert_array_equal(mt.clone().get_mask().data, mt.get_mask().data)
    assert mt.contiguous() is mt and mt.view_as(mt.T.T).shape == (1, 3)


def test_shape_errors_are_clear():
    mt = dlpy.masked_tensor(np.ones((2, 3)), np.ones((2, 3), bool))
    with pytest.raises(TypeError, match="cat: expected only MaskedTensors .* a Tensor at "
                                        "position 1"):
        dlpy.cat([mt, Tensor(np.ones((2, 3)))])
    with pytest.raises(TypeError, match="a MaskedTensor cannot be used as an index"):
        mt[mt]
    with pytest.raises(ValueError):
        mt.view(4, 2)
    with pytest.raises(TypeError, match="stack: unexpected arguments"):
        MaskedTensor.__dlpy_function__("stack", [mt], 0, out=None)
