"""where / masked_fill (attention masks) and dropout."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "where": lambda a, b, condition: F.where(condition, a, b),
    "where_broadcast_condition": lambda a, b, condition: F.where(condition, a, b),
    "masked_fill": lambda x, mask: F.masked_fill(x, mask, -1e9),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("mask", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("mask") == set(TORCH_CASES)


@pytest.mark.parametrize(
    "condition_shape, a_shape, b_shape",
    [((), (), ()), ((3,), (3,), ()), ((2, 3), (3,), (2, 1)), ((2, 1, 3, 1), (1, 2, 1, 2), (2,))],
)
def test_where_gradcheck(condition_shape, a_shape, b_shape, rng):
    condition = rng.random(condition_shape) > 0.5
    a = Tensor(rng.standard_normal(a_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(b_shape), requires_grad=True)
    assert gradcheck(lambda a, b: F.where(condition, a, b), a, b)


def test_masked_fill_blocks_the_gradient_where_masked(rng):
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    mask = np.array([True, False, True])
    y = F.masked_fill(x, mask, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(y.data[:, mask], 0.0)
    np.testing.assert_array_equal(x.grad, np.broadcast_to(~mask, (2, 3)).astype(float))


@pytest.mark.parametrize("shape", [(), (4,), (2, 1, 3)])
def test_dropout_gradcheck(shape, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.dropout(x, 0.4, True, np.random.default_rng(1)), x)


def test_dropout_zeroes_and_rescales_with_a_seeded_generator():
    x = Tensor(np.ones((200, 100), dtype=np.float32), requires_grad=True)
    y = F.dropout(x, p=0.25, training=True, rng=np.random.default_rng(0))
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.01 and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # the same mask and scale
    again = F.dropout(x, p=0.25, training=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again.data, y.data)


def test_dropout_is_the_identity_when_not_training_or_p_is_zero(rng):
    x = Tensor(rng.standard_normal(5))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True) is x


def test_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"where: condition must be boolean, got float64"):
        F.where(np.ones((2, 3)), x, x)
    with pytest.raises(ValueError, match=r"where: shapes \[\(2,\), \(2, 3\), \(2, 3\)\] cannot be"):
        F.where(np.ones(2, bool), x, x)
    with pytest.raises(ValueError, match=r"masked_fill: mask \(2, 2\) and x \(3,\) cannot be "
                                         r"broadcast together"):
        F.masked_fill(Tensor(np.ones(3)), np.ones((2, 2), bool), 0.0)
    # out of place, a larger mask broadcasts x (as torch's); masked_fill_ keeps x's shape
    assert F.masked_fill(Tensor(np.ones(3)), np.ones((2, 3), bool), 0.0).shape == (2, 3)
    with pytest.raises(ValueError, match=r"cannot be converted to float16 without overflow"):
        F.masked_fill(Tensor(np.ones(3, np.float16)), np.ones(3, bool), 7e4)
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)
    np.testing.assert_array_equal(F.dropout(x, 1).data, np.zeros((2, 3)))  # torch's x * 0
