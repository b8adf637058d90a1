"""split, chunk, unbind (functions and Tensor methods): pieces and gradients against PyTorch,
gradcheck, torch's piece counts, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

from .conftest import load_cases

TORCH_CASES = {
    "split_int": lambda x: F.split(x, 3),
    "split_int_divides": lambda x: x.split(2),
    "split_int_larger": lambda x: F.split(x, 5),
    "split_int_last_dim": lambda x: F.split(x, 2, dim=-1),
    "split_sizes": lambda x: F.split(x, [1, 0, 5], dim=1),
    "split_sizes_tuple": lambda x: x.split((2, 3)),
    "chunk": lambda x: F.chunk(x, 4),
    "chunk_fewer": lambda x: x.chunk(4),
    "chunk_more_than_length": lambda x: F.chunk(x, 5),
    "chunk_dim1": lambda x: F.chunk(x, 3, dim=1),
    "unbind": lambda x: F.unbind(x),
    "unbind_middle": lambda x: x.unbind(1),
    "unbind_last": lambda x: F.unbind(x, -1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case):
    record = load_cases("split")[case]
    x = Tensor(record["in0"], requires_grad=True)
    pieces = TORCH_CASES[case](x)
    assert type(pieces) is tuple
    expected = sum(1 for key in record if key.startswith("out"))
    assert len(pieces) == expected
    total = None
    for k, piece in enumerate(pieces):
        np.testing.assert_array_equal(piece.data, record[f"out{k}"], err_msg=f"piece {k}")
        term = (piece * Tensor(record[f"grad_out{k}"])).sum()
        total = term if total is None else total + term
    total.backward()
    np.testing.assert_allclose(x.grad, record["grad0"], rtol=1e-12, atol=1e-12)


def test_every_fixture_case_is_tested():
    assert set(load_cases("split")) == set(TORCH_CASES)


@pytest.mark.parametrize("shape, fn", [
    ((7, 3), lambda x: F.split(x, 3)),
    ((2, 5, 3), lambda x: F.split(x, [2, 1, 2], dim=1)),
    ((4, 6), lambda x: F.chunk(x, 4, dim=-1)),
    ((3, 1, 2), lambda x: F.unbind(x, 1)),
    ((3, 4), lambda x: F.unbind(x, -1)),
])
def test_gradcheck(shape, fn, rng):
    # the pieces recombined with distinct weights, so every piece's gradient counts
    def recombined(x):
        pieces = fn(x)
        return F.concat([p.reshape(-1) * (k + 1.0) for k, p in enumerate(pieces)])

    assert gradcheck(recombined, Tensor(rng.standard_normal(shape), requires_grad=True))


def test_a_piece_left_unused_gets_zero_gradient(rng):
    x = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
    first, _ = F.split(x, [2, 3])
    first.sum().backward()
    np.testing.assert_array_equal(x.grad, np.r_[np.ones((2, 2)), np.zeros((3, 2))])


@pytest.mark.parametrize("length, chunks, sizes", [
    (10, 4, [3, 3, 3, 1]), (6, 4, [2, 2, 2]), (5, 5, [1] * 5), (5, 7, [1] * 5), (0, 3, [0] * 3),
    (1, 1, [1]),
])
def test_chunk_sizes_follow_torch(length, chunks, sizes):
    assert [p.shape[0] for p in F.chunk(Tensor(np.zeros((length, 2))), chunks)] == sizes


@pytest.mark.parametrize("length, size, sizes", [
    (7, 3, [3, 3, 1]), (6, 3, [3, 3]), (2, 5, [2]), (0, 2, [0]), (0, 0, [0]),
])
def test_split_sizes_follow_torch(length, size, sizes):
    assert [p.shape[0] for p in F.split(Tensor(np.zeros(length)), size)] == sizes


def test_unbind_of_an_empty_axis_is_empty():
    assert F.unbind(Tensor(np.zeros((0, 3)))) == ()


def test_pieces_of_a_constant_need_no_gradient():
    pieces = F.split(Tensor(np.arange(6.0)), 4)
    assert not any(p.requires_grad for p in pieces)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.split(x, 0), ValueError, r"split: split_size 0 is only valid for an axis of "
                                          r"length 0, axis 0 has length 4"),
    (lambda x: F.split(x, -1), ValueError, r"split: split_size must be >= 0, got -1"),
    (lambda x: F.split(x, 2.0), TypeError, r"split: split_size must be an int, got 2.0"),
    (lambda x: F.split(x, True), TypeError, r"split: split_size must be an int, got True"),
    (lambda x: F.split(x, [1, 2]), ValueError,
     r"split: split sizes \[1, 2\] must sum to the length 4 of axis 0 \(shape \(4, 3\)\), "
     r"they sum to 3"),
    (lambda x: F.split(x, [5, -1]), ValueError, r"split: each split size must be >= 0, got -1"),
    (lambda x: F.split(x, 2, dim=2), ValueError,
     r"split: dim 2 is out of range for a tensor with 2 axes"),
    (lambda x: F.split(x, 2, dim=0.5), TypeError, r"split: dim must be an int, got 0.5"),
    (lambda x: F.chunk(x, 0), ValueError, r"chunk: chunks must be >= 1, got 0"),
    (lambda x: F.chunk(x, "2"), TypeError, r"chunk: chunks must be an int, got '2'"),
    (lambda x: x.chunk(2, -3), ValueError,
     r"chunk: dim -3 is out of range for a tensor with 2 axes"),
    (lambda x: x.unbind(5), ValueError, r"unbind: dim 5 is out of range for a tensor with 2 axes"),
    (lambda x: F.unbind(x[0, 0]), ValueError,
     r"unbind: expected a tensor with at least one axis, got shape \(\)"),
    (lambda x: F.split(x[0, 0], 1), ValueError,
     r"split: expected a tensor with at least one axis, got shape \(\)"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(np.zeros((4, 3)), requires_grad=True))
