"""reshape, squeeze, unsqueeze, flatten, transpose, permute, .T, swapaxes, indexing, concat,
stack: gradients, PyTorch values, errors."""

import warnings

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "reshape": lambda x: x.reshape(4, 6),
    "reshape_infer": lambda x: F.reshape(x, (-1, 2)),
    "transpose": lambda x: F.transpose(x, (2, 0, 1)),
    "T": lambda x: x.T,
    "swapaxes": lambda x: F.swapaxes(x, 0, 2),
    "getitem_slice": lambda x: x[1:3, ::2],
    "getitem_int": lambda x: x[2],
    "getitem_repeat": lambda x: x[[0, 2, 0, 3]],
    "getitem_mask": lambda x, mask: x[mask],
    "concat": lambda a, b, c: F.concat([a, b, c], axis=1),
    "stack": lambda a, b: F.stack([a, b]),
    "stack_last": lambda a, b, c: F.stack([a, b, c], axis=-1),
    "unsqueeze": lambda x: x.unsqueeze(1),
    "unsqueeze_last": lambda x: F.unsqueeze(x, -1),
    "squeeze_all": lambda x: x.squeeze(),
    "squeeze_dim": lambda x: F.squeeze(x, -1),
    "squeeze_dims": lambda x: x.squeeze((0, 1, 3)),  # axis 1 (length 2) stays, as torch
    "flatten": lambda x: x.flatten(),
    "flatten_middle": lambda x: F.flatten(x, 1, 2),
    "permute": lambda x: F.permute(x, (1, 2, 0)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("shape", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("shape") == set(TORCH_CASES)


@pytest.mark.parametrize(
    "shape, new_shape",
    [((), (1, 1)), ((1,), ()), ((6,), (2, 3)), ((2, 3), (3, 1, 2)), ((2, 1, 2, 3), (-1,))],
)
def test_reshape_gradcheck(shape, new_shape, rng):
    assert gradcheck(lambda x: x.reshape(new_shape), Tensor(rng.standard_normal(shape),
                                                            requires_grad=True))


@pytest.mark.parametrize(
    "shape, axes",
    [((), ()), ((3,), None), ((2, 3), None), ((2, 1, 3), (1, 2, 0)), ((2, 3, 1, 2), (3, 0, 2, 1))],
)
def test_transpose_gradcheck(shape, axes, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.transpose(x, axes), x)


@pytest.mark.parametrize(
    "shape, index",
    [
        ((4,), 1),
        ((4,), slice(None, None, -1)),
        ((3, 4), (Ellipsis, 1)),
        ((3, 4), (None, slice(1, 3))),
        ((3, 4), ([0, 0, 2], [1, 1, 3])),  # a repeated position accumulates
        ((2, 3, 4), (slice(None), [2, 0, 2])),
        ((2, 1, 3, 2), (1, 0, slice(0, 2), -1)),
    ],
)
def test_getitem_gradcheck(shape, index, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: x[index], x)


def test_getitem_accepts_tensors_inside_the_index(rng):
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = x[Tensor(np.array([2, 0])), 1]
    np.testing.assert_array_equal(y.data, x.data[[2, 0], 1])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_gradcheck(axis, rng):
    shapes = {0: [(1, 3), (2, 3)], 1: [(2, 1), (2, 2), (2, 3)], -1: [(2, 1), (2, 1)]}[axis]
    xs = [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda *xs: F.concat(xs, axis), *xs)


@pytest.mark.parametrize("shape, axis", [((), 0), ((3,), 1), ((2, 3), 0), ((2, 1, 2), -2)])
def test_stack_gradcheck(shape, axis, rng):
    xs = [Tensor(rng.standard_normal(shape), requires_grad=True) for _ in range(3)]
    assert gradcheck(lambda *xs: F.stack(xs, axis), *xs)


def test_iterating_a_tensor_gives_its_rows(rng):
    x = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    (rows[0] * 2 + rows[2]).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0], [1, 1]])


def test_reshape_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape \(2, 3\) \(6 values\) into"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape .* into \(-1, -1\)"):
        x.reshape(-1, -1)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape .* into \(-2, -3\)"):
        x.reshape(-2, -3)
    with pytest.raises(TypeError, match=r"reshape: the shape must be ints"):
        x.reshape(2.0, 3)


def test_transpose_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"transpose: axes \(0,\) are not a permutation of the 2"):
        F.transpose(x, (0,))
    with pytest.raises(ValueError, match=r"transpose: axes \(1, 1\) are not a permutation"):
        F.transpose(x, (1, -1))
    with pytest.raises(ValueError, match=r"transpose: axis -5 is out of range for shape \(2, 3\)"):
        F.transpose(x, (0, -5))
    with pytest.raises(ValueError, match=r"swapaxes: axis 2 is out of range for shape \(2, 3\)"):
        F.swapaxes(x, 0, 2)


def test_getitem_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=r"getitem: index 5 is invalid for shape \(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match=r"getitem: index .* is invalid for shape \(2, 3\)"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match=r"getitem: index .* is invalid for shape \(2, 3\)"):
        x[np.array([0.5])]


def test_concat_and_stack_errors():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"concat: tensors need all axes but the concat axis to"):
        F.concat([a, b], axis=0)
    with pytest.raises(ValueError, match=r"stack: tensors need the same shape to match"):
        F.stack([a, b])
    with pytest.raises(ValueError, match=r"concat: axis 2 is out of range for shape \(2, 3\)"):
        F.concat([a, a], axis=2)
    with pytest.raises(ValueError, match=r"concat: needs at least one tensor"):
        F.concat([])
    with pytest.raises(ValueError, match=r"concat: zero-dimensional tensor \(at position 0\) "
                                         r"cannot be concatenated"):
        F.concat([Tensor(1.0), Tensor(2.0)])


@pytest.mark.parametrize("shape, fn, expected", [
    ((), lambda x: x.unsqueeze(0), (1,)),
    ((), lambda x: x.unsqueeze(-1), (1,)),
    ((2, 3), lambda x: x.unsqueeze(2), (2, 3, 1)),
    ((2, 3), lambda x: x.unsqueeze(-3), (1, 2, 3)),
    ((), lambda x: x.squeeze(), ()),
    ((), lambda x: x.squeeze(0), ()),
    ((1, 1), lambda x: x.squeeze(), ()),
    ((2, 1, 3), lambda x: x.squeeze(0), (2, 1, 3)),  # not length 1: kept, as torch
    ((2, 1, 3), lambda x: x.squeeze([1, 2]), (2, 3)),
    ((), lambda x: x.flatten(), (1,)),
    ((3,), lambda x: x.flatten(), (3,)),
    ((2, 0, 3), lambda x: x.flatten(0, 1), (0, 3)),
    ((2, 3, 4), lambda x: x.flatten(-2), (2, 12)),
    ((2, 3, 4), lambda x: x.flatten(1, 1), (2, 3, 4)),
    ((2, 3, 4), lambda x: x.permute((2, 1, 0)), (4, 3, 2)),
    ((2, 3, 4), lambda x: x.permute(-1, 0, 1), (4, 2, 3)),
])
def test_squeeze_unsqueeze_flatten_permute_shapes_and_gradients(shape, fn, expected, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert fn(x).shape == expected
    assert gradcheck(fn, x)


def test_squeeze_unsqueeze_flatten_permute_errors():
    x = Tensor(np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match=r"unsqueeze: axis 4 is out of range for shape "
                                         r"\(2, 1, 3\)"):
        x.unsqueeze(4)
    with pytest.raises(TypeError, match=r"unsqueeze: axis must be an int, got 1.0"):
        x.unsqueeze(1.0)
    with pytest.raises(ValueError, match=r"squeeze: axis 3 is out of range"):
        x.squeeze(3)
    with pytest.raises(ValueError, match=r"squeeze: dim \(1, -2\) names an axis twice"):
        x.squeeze((1, -2))
    with pytest.raises(ValueError, match=r"flatten: start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)
    with pytest.raises(ValueError, match=r"flatten: axis -4 is out of range"):
        x.flatten(-4)
    with pytest.raises(ValueError, match=r"permute: axes \(0, 1\) are not a permutation"):
        x.permute(0, 1)
    with pytest.raises(ValueError, match=r"permute: axes \(0, 2, 2\) are not a permutation"):
        F.permute(x, (0, 2, -1))


def test_list_read_as_tuple_warns_at_the_callers_line():
    """torch's deprecation warning: a list holding a sequence, slice, tensor, None or Ellipsis
    indexes as a tuple (x[[[0, 1], [1, 0]]] is x[[0, 1], [1, 0]]) and warns, reading or
    writing, at the line that indexed; a flat list of ints is an index array, silently."""
    x = Tensor(np.arange(16.0).reshape(4, 4))
    for index in ([[0, 1], [1, 0]], [slice(None), 0], [None, 0], [0, [1, 2]]):
        with pytest.warns(UserWarning, match="non-tuple sequence for multidimensional") as got:
            value = x[index]
        assert got[0].filename == __file__
        np.testing.assert_array_equal(value.data, x.data[tuple(index)])
        with pytest.warns(UserWarning, match="non-tuple sequence") as got:
            x[index] = 1.0
        assert got[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(x[[0, 2]].data, x.data[[0, 2]])
