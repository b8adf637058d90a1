"""Shape ops of dlpy.nested's jagged tensors against torch.nested (fixtures/masked_nested/
shape_nested.npz, made by make_masked_nested_shape_fixtures.py): reshape/view, narrow, chunk,
split, unsqueeze/squeeze, expand, select, indexing, permute, masked_select; values and
gradients, central differences where torch 2.13 has no backward; holes; what torch refuses."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cases_masked_nested_shape import NESTED_SHAPE_CASES

import dlpy
import dlpy.nested
from dlpy import functional as F
from dlpy.nested import NestedTensor
from dlpy.testing import assert_close, gradcheck

JAGGED = dlpy.nested.jagged  # these tests are of the jagged layout (not the default)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "masked_nested" / "shape_nested.npz"
LIB = SimpleNamespace(nested=dlpy.nested, F=F, cat=dlpy.cat)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _function(case):
    lengths, _, _, fn = NESTED_SHAPE_CASES[case]
    n = len(lengths)

    def function(*leaves):
        out = fn(LIB, dlpy.nested.as_nested_tensor(list(leaves[:n]), layout=JAGGED), *leaves[n:])
        return dlpy.nested.to_padded_tensor(out, 0.0) if isinstance(out, NestedTensor) else out

    return function


@pytest.mark.parametrize("case", NESTED_SHAPE_CASES)
def test_against_torch(ref, case):
    lengths, _, dense_shapes, _ = NESTED_SHAPE_CASES[case]
    arrays = {k.split(":", 1)[1]: v for k, v in ref.items() if k.startswith(case + ":")}
    leaves = [dlpy.tensor(arrays[f"c{i}"], requires_grad=True) for i in range(len(lengths))]
    leaves += [dlpy.tensor(arrays[f"d{k}"], requires_grad=True)
               for k in range(len(dense_shapes))]
    out = _function(case)(*leaves)
    assert_close(out.data, arrays["out"], rtol=1e-12, atol=1e-12)
    if "gc0" not in arrays:  # torch 2.13 has no (working) backward: central differences
        small = [dlpy.tensor(leaf.data[:2], requires_grad=True) if i < len(lengths) else
                 dlpy.tensor(leaf.data, requires_grad=True) for i, leaf in enumerate(leaves)]
        assert gradcheck(_function(case), *small)
        return
    out.backward(arrays["grad_out"])
    names = [f"gc{i}" for i in range(len(lengths))] + [f"gd{k}" for k in
                                                       range(len(dense_shapes))]
    for leaf, name in zip(leaves, names):
        grad = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad
        assert_close(grad, arrays[name], rtol=1e-10, atol=1e-12)


def test_holes_survive_the_shape_ops_and_chunk_keeps_them():
    rng = np.random.default_rng(2)
    dense = dlpy.tensor(rng.standard_normal((3, 5, 4)), requires_grad=True)
    start, length = np.array([1, 0, 2]), np.array([3, 2, 1])
    nt = dlpy.nested.narrow(dense, 1, start, length, layout=JAGGED)  # a view with holes
    pieces = nt.reshape(3, -1, 2, 2).narrow(-1, 1, 1).chunk(2, 0)
    assert [len(p) for p in pieces] == [2, 1]
    for i, component in enumerate(pieces[0].unbind() + pieces[1].unbind()):
        want = dense.data[i, start[i]:start[i] + length[i]].reshape(-1, 2, 2)[..., 1:2]
        np.testing.assert_array_equal(component.data, want)
    dlpy.nested.to_padded_tensor(pieces[1], 0.0).sum().backward()
    grad = np.zeros((3, 5, 4))
    grad[2, 2, [1, 3]] = 1.0
    np.testing.assert_array_equal(dense.grad, grad)


def test_transposed_layout_and_masked_select():
    rng = np.random.default_rng(4)
    nt = dlpy.nested.nested_tensor([rng.standard_normal((k, 6)) for k in (2, 3)],
                                   layout=JAGGED)
    heads = nt.unflatten(-1, (2, 3)).transpose(1, 2)  # (B, H, j, D)
    assert heads.shape == (2, 2, None, 3)
    assert heads.unsqueeze(-1).shape == (2, 2, None, 3, 1)
    assert heads.unsqueeze(1).shape == (2, 1, 2, None, 3)
    assert heads[:, 1].shape == (2, None, 3) and heads.select(1, 0)._ragged_idx == 1
    assert heads.permute(0, 2, 1, 3).shape == (2, None, 2, 3)
    np.testing.assert_array_equal(heads.permute(0, 2, 1, 3).values().data, nt.values().data
                                  .reshape(5, 2, 3))
    x = dlpy.tensor(np.arange(6.0).reshape(2, 3))
    selected = dlpy.nested.masked_select(x, np.array([True, False, True]))  # broadcast rows
    assert selected.shape == (2, None)
    np.testing.assert_array_equal(selected.offsets().data, [0, 2, 4])
    np.testing.assert_array_equal(selected.values().data, [0.0, 2.0, 3.0, 5.0])


@pytest.mark.parametrize("call, error, message", [
    (lambda nt: nt.reshape(3, -1), ValueError, r"inner dims \(4,\) .* cannot be reshaped"),
    (lambda nt: nt.view(-1, -1, 4), ValueError, "keeps its batch and ragged dims"),
    (lambda nt: nt.narrow(1, 0, 1), NotImplementedError, "narrow: not supported on the ragged"),
    (lambda nt: nt.narrow(0, 0, 1), NotImplementedError, "narrow: not supported on the batch"),
    (lambda nt: nt.chunk(2, 1), NotImplementedError, "chunk: not supported on the ragged"),
    (lambda nt: nt.split(1, 0), NotImplementedError, "split: not supported on the batch"),
    (lambda nt: nt.unsqueeze(0), NotImplementedError, "unsqueeze: not supported on the batch"),
    (lambda nt: nt.squeeze(), NotImplementedError, "give the dim to squeeze"),
    (lambda nt: nt[0:1], NotImplementedError, "':' at the batch and ragged dims"),
    (lambda nt: nt.expand(3, None, 4, 2), ValueError, "expected 3 sizes"),
    (lambda nt: nt.permute(1, 0, 2), NotImplementedError, "batch dim .* must stay first"),
    (lambda nt: dlpy.nested.masked_select(dlpy.tensor(np.ones((2, 3))), np.ones(2)),
     TypeError, "mask must be boolean"),
])
def test_what_torch_refuses_is_refused_clearly(call, error, message):
    nt = dlpy.nested.nested_tensor([np.ones((k, 4)) for k in (1, 3, 2)],
                                   layout=JAGGED)
    with pytest.raises(error, match=message):
        call(nt)
