"""expand, expand_as, repeat, flip, roll, tril, triu: PyTorch values and gradients
(tests/fixtures/ops/rearrange.npz), gradient checks, errors."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "expand": lambda x: x.expand(2, 3, 4),
    "expand_keep": lambda x: F.expand(x, (3, -1)),
    "expand_scalar": lambda x: x.expand(2, 3),
    "expand_as": lambda x: F.expand_as(x, np.zeros((4, 2, 5, 3))),
    "repeat": lambda x: x.repeat(2, 1, 3),
    "repeat_same_rank": lambda x: F.repeat(x, (1, 4, 2)),
    "flip": lambda x: x.flip(0, 2),
    "flip_last": lambda x: F.flip(x, -1),
    "roll_flat": lambda x: x.roll(5),
    "roll_dims": lambda x: F.roll(x, (1, -2), (0, 2)),
    "roll_negative_dim": lambda x: x.roll(7, -1),
    "tril": lambda x: F.tril(x),
    "tril_diagonal_batched": lambda x: x.tril(1),
    "triu": lambda x: x.triu(),
    "triu_negative_diagonal": lambda x: F.triu(x, -1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("rearrange", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("rearrange") == set(TORCH_CASES)


def _x(rng, shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("shape, sizes", [
    ((), (3,)), ((1,), (4,)), ((3, 1), (-1, 5)), ((3, 1), (2, 3, 4)), ((1, 2, 1), (2, -1, -1, 3)),
    ((2, 3), (2, 3)),
])
def test_expand_gradcheck(shape, sizes, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: x.expand(*sizes), x)
    y = x.expand(sizes)
    assert y._base is x and np.shares_memory(y.data, x.data)  # a view, as torch's
    with pytest.raises(RuntimeError, match=r"add_: (unsupported operation: more than one "
                                           r"element|a view of a leaf tensor)"):
        y.add_(1)
    with dlpy.no_grad():
        x.mul_(2)
    np.testing.assert_array_equal(y.data, np.broadcast_to(x.data, y.shape))


@pytest.mark.parametrize("shape, sizes", [
    ((), (3,)), ((3,), (2,)), ((2, 3), (1, 2)), ((2, 1, 3), (2, 3, 1)), ((2, 3), (2, 1, 1)),
    ((2, 3), (0, 1)),
])
def test_repeat_gradcheck(shape, sizes, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: x.repeat(*sizes), x)
    np.testing.assert_array_equal(x.repeat(*sizes).data, np.tile(x.data, sizes))


@pytest.mark.parametrize("shape, dims", [((4,), 0), ((2, 3), (0, 1)), ((2, 1, 3), [-1, 1])])
def test_flip_gradcheck(shape, dims, rng):
    assert gradcheck(lambda x: F.flip(x, dims), _x(rng, shape))


@pytest.mark.parametrize("shape, shifts, dims", [
    ((5,), 2, None), ((2, 3), -4, None), ((2, 3), 1, 0), ((2, 1, 3), (1, 2), (-1, 0)),
    ((3, 4), (1, 1), (1, 1)),
])
def test_roll_gradcheck(shape, shifts, dims, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: F.roll(x, shifts, dims), x)
    np.testing.assert_array_equal(F.roll(x, shifts, dims).data, np.roll(x.data, shifts, dims))


@pytest.mark.parametrize("shape, diagonal", [((3, 3), 0), ((2, 4), -1), ((2, 1, 3), 1),
                                             ((1, 1), 5)])
def test_tril_triu_gradcheck(shape, diagonal, rng):
    x = _x(rng, shape)
    assert gradcheck(lambda x: F.tril(x, diagonal), x)
    assert gradcheck(lambda x: F.triu(x, diagonal), x)
    np.testing.assert_array_equal((F.tril(x, diagonal) + F.triu(x, diagonal + 1)).data, x.data)


def test_errors():
    x = Tensor(np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"expand: axis 0 of x \(3, 1\) has length 3, which can "
                                         r"only expand to itself \(or -1\), got sizes \(4, 2\)"):
        x.expand(4, 2)
    with pytest.raises(ValueError, match=r"expand: size -1 is not allowed for a new leading "
                                         r"axis \(0\)"):
        x.expand(-1, 3, 2)
    with pytest.raises(ValueError, match=r"expand: size -2 is not allowed for an axis \(1\)"):
        x.expand(3, -2)
    with pytest.raises(ValueError, match=r"expand: sizes \(3,\) have fewer axes than x \(3, 1\)"):
        x.expand(3)
    with pytest.raises(TypeError, match=r"expand: sizes must be ints, got \(3.0, 1\)"):
        x.expand(3.0, 1)
    with pytest.raises(ValueError, match=r"repeat: needs at least one size per axis of x "
                                         r"\(3, 1\), got \(2,\)"):
        x.repeat(2)
    with pytest.raises(ValueError, match=r"repeat: sizes must be >= 0, got \(1, -1\)"):
        x.repeat(1, -1)
    with pytest.raises(ValueError, match=r"flip: dims \(0, -2\) name an axis twice"):
        F.flip(x, (0, -2))
    with pytest.raises(ValueError, match=r"flip: dim 2 is out of range for a tensor with 2 axes"):
        x.flip(2)
    with pytest.raises(ValueError, match=r"roll: needs one shift per dim, got shifts \(1, 2\) "
                                         r"and dims \(0,\)"):
        F.roll(x, (1, 2), (0,))
    with pytest.raises(TypeError, match=r"roll: without dims, shifts must be one int, got "
                                        r"\(1, 2\)"):
        x.roll((1, 2))
    with pytest.raises(ValueError, match=r"tril: x needs at least 2 axes, got shape \(3,\)"):
        F.tril(Tensor(np.ones(3)))
    with pytest.raises(TypeError, match=r"triu: diagonal must be an int, got 0.5"):
        x.triu(0.5)
