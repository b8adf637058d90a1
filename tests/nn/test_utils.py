"""nn.utils (clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters),
checked against torch.nn.utils (stored values: tests/fixtures/habits)."""

from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor, nn
from dlpy.sparse_grad import SparseGrad

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "habits" / "habits.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith("clip:")}


def _params(ref):
    ps = [Tensor(np.zeros((3, 4)), requires_grad=True), Tensor(np.zeros(5), requires_grad=True)]
    ps[0].grad, ps[1].grad = ref["clip:g0"].copy(), ref["clip:g1"].copy()
    return ps


@pytest.mark.parametrize("key,norm_type", [("2", 2.0), ("1.5", 1.5), ("inf", float("inf"))])
def test_clip_grad_norm_matches_torch(ref, key, norm_type):
    ps = _params(ref)
    norm = nn.utils.clip_grad_norm_(ps, max_norm=1.0, norm_type=norm_type)
    np.testing.assert_allclose(norm.item(), ref[f"clip:{key}:norm"], rtol=1e-6)
    np.testing.assert_allclose(ps[0].grad, ref[f"clip:{key}:g0"], rtol=1e-12)
    np.testing.assert_allclose(ps[1].grad, ref[f"clip:{key}:g1"], rtol=1e-12)


def test_clip_grad_norm_returns_a_nonfinite_norm_as_pytorch_does():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.array([np.nan, 1.0])
    assert np.isnan(nn.utils.clip_grad_norm_([p], 1.0).item())
    with pytest.raises(FloatingPointError):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        nn.utils.clip_grad_norm_([p], 1.0, norm_type="fro")


def test_clip_grad_value_matches_torch_and_clips_sparse_rows(ref):
    ps = _params(ref)
    nn.utils.clip_grad_value_(ps, 0.5)
    np.testing.assert_array_equal(ps[0].grad, ref["clip:value:g0"])
    np.testing.assert_array_equal(ps[1].grad, ref["clip:value:g1"])
    w = Tensor(np.zeros((4, 2)), requires_grad=True)
    w.grad = SparseGrad(np.array([0, 3]), np.array([[2.0, -0.1], [-3.0, 0.2]]), (4, 2))
    nn.utils.clip_grad_value_([w], 1.0)
    np.testing.assert_array_equal(w.grad.values, [[1.0, -0.1], [-1.0, 0.2]])
    nn.utils.clip_grad_value_([w], float("inf"))  # no clipping, as torch's
    np.testing.assert_array_equal(w.grad.values, [[1.0, -0.1], [-1.0, 0.2]])


def test_parameters_round_trip_through_a_vector():
    model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.ReLU(),
                          nn.Linear(4, 2, rng=np.random.default_rng(1)))
    params = list(model.parameters())
    vec = nn.utils.parameters_to_vector(params)
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vec.data[:12], params[0].data.reshape(-1))
    nn.utils.vector_to_parameters(vec.data * 2.0, params)
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(params).data, vec.data * 2.0)
    assert params[0].data.dtype == np.float32 and params[0].shape == (4, 3)
    with pytest.raises(ValueError, match="the vector has 5 numbers, the parameters 26"):
        nn.utils.vector_to_parameters(np.zeros(5), params)
    with pytest.raises(ValueError, match="1-D"):
        nn.utils.vector_to_parameters(np.zeros((2, 13)), params)
