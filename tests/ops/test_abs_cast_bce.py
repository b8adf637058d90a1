"""The ops added for PyTorch habits: abs, cast (astype/to), BCE with logits: gradient checks."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

rng = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(3,), (2, 1, 3), ()])
def test_abs_gradcheck(shape):
    x = Tensor(rng.standard_normal(shape) + 0.1, requires_grad=True)  # away from the kink
    assert gradcheck(F.abs, x)


def test_abs_gradient_at_zero_is_zero_as_in_pytorch():
    x = Tensor(np.zeros(2), requires_grad=True)
    F.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0])


def test_cast_gradcheck_and_dtype():
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(lambda t: F.cast(t, np.float64) * 2, x)
    assert F.cast(x, "float32").dtype == np.float32
    with pytest.raises(TypeError, match="is not a dtype"):
        F.cast(x, "bogus-type")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_bce_with_logits_gradcheck(reduction, shape):
    logits = Tensor(rng.standard_normal(shape) * 4, requires_grad=True)
    targets = rng.uniform(0, 1, shape)
    assert gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, targets, reduction), logits)


def test_bce_with_logits_is_stable_for_huge_logits():
    loss = F.binary_cross_entropy_with_logits(Tensor(np.array([1000.0, -1000.0])),
                                              np.array([0.0, 1.0]), "none")
    np.testing.assert_allclose(loss.numpy(), [1000.0, 1000.0])
    with pytest.raises(ValueError, match=r"targets \(3,\) must have the logits' shape \(2,\)"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros(2)), np.zeros(3))
