"""layer_norm over the last axis with the O(N) backward: gradients, PyTorch values, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "layer_norm": F.layer_norm,
    "layer_norm_affine": F.layer_norm,
    "layer_norm_weight": F.layer_norm,
    "layer_norm_eps": lambda x: F.layer_norm(x, eps=0.1),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("norm", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("norm") == set(TORCH_CASES)


@pytest.mark.parametrize("shape", [(2,), (1, 4), (3, 4), (2, 1, 3), (2, 2, 1, 3)])
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_gradcheck(shape, affine, rng):
    d = shape[-1]
    args = [Tensor(rng.standard_normal(shape), requires_grad=True)]
    if affine != "none":
        args.append(Tensor(rng.standard_normal(d), requires_grad=True))
    if affine == "both":
        args.append(Tensor(rng.standard_normal(d), requires_grad=True))
    assert gradcheck(F.layer_norm, *args)


def test_output_has_zero_mean_and_unit_variance(rng):
    y = F.layer_norm(Tensor(rng.standard_normal((4, 8)) * 10 + 3), eps=0.0)
    np.testing.assert_allclose(y.data.mean(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.data.var(-1), 1.0)


def test_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(3,\) for input "
                                         r"\(2, 3\), got \(2,\)"):
        F.layer_norm(x, Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"layer_norm: bias must have shape \(3,\)"):
        F.layer_norm(x, Tensor(np.ones(3)), Tensor(np.ones((1, 3))))
    # a bias alone shifts the normalised input, as torch's
    shifted = F.layer_norm(Tensor(np.arange(6.0).reshape(2, 3)), None, Tensor(np.ones(3)))
    np.testing.assert_allclose(shifted.data, 1 + np.array([[-1.0, 0, 1]] * 2) * 1.2247357,
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"layer_norm: the input needs at least one axis"):
        F.layer_norm(Tensor(1.0))
