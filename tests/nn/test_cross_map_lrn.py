"""CrossMapLRN2d against PyTorch's legacy formula (tests/fixtures/nn/last.npz, written by
tests/fixtures/make_nn_last_fixtures.py); its gradient is the derivative of that forward
(gradcheck); where its window is LocalResponseNorm's, both agree; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_nn_last import LRN

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.nn.norm import cross_map_window
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "last.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("channels, size", LRN)
def test_matches_torch(channels, size, ref):
    layer = nn.CrossMapLRN2d(size, alpha=0.3, beta=0.75, k=2)
    y = layer(Tensor(ref[f"lrn:{channels}:{size}:x"]))
    np.testing.assert_allclose(y.data, ref[f"lrn:{channels}:{size}:y"], rtol=1e-13, atol=0)


def test_window_keeps_channel_zero_as_torchs_loop():
    # size 3 (pre_pad 2): channel 0's square is added first and never dropped
    np.testing.assert_array_equal(cross_map_window(5, 3), [
        [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 0, 1, 1, 1], [1, 0, 0, 1, 1]])


@pytest.mark.parametrize("channels, size", [(3, 5), (6, 3), (5, 2)])
def test_gradcheck(channels, size):
    x = Tensor(np.random.default_rng(0).standard_normal((2, channels, 2, 3)), requires_grad=True)
    assert gradcheck(nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.5), x)


def test_is_local_response_norm_where_the_windows_agree():
    # 3 channels, size 5: every window holds all channels, as LocalResponseNorm's (torch agrees)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 4)), requires_grad=True)
    y = nn.CrossMapLRN2d(5, alpha=0.2, beta=0.6, k=1.0)(x)
    x2 = Tensor(x.data.copy(), requires_grad=True)
    z = F.local_response_norm(x2, 5, 0.2, 0.6, 1.0)
    np.testing.assert_allclose(y.data, z.data, rtol=1e-13)
    w = np.random.default_rng(2).standard_normal(y.shape)
    (y * Tensor(w)).sum().backward()
    (z * Tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad, x2.grad, rtol=1e-12)


def test_repr_dtype_and_errors():
    layer = nn.CrossMapLRN2d(5)
    assert repr(layer) == "CrossMapLRN2d(5, alpha=0.0001, beta=0.75, k=1)"  # torch's int k
    x = Tensor(np.ones((1, 4, 2, 2), dtype=np.float32))
    assert layer(x).dtype == np.float32
    with pytest.raises(ValueError, match=r"CrossMapLRN2d: expected a 4-d input \(N, C, H, W\), "
                                         r"got shape \(4, 2, 2\)"):
        layer(Tensor(np.ones((4, 2, 2))))
    with pytest.raises(ValueError, match="CrossMapLRN2d: size must be a positive"):
        nn.CrossMapLRN2d(0)
    assert "CrossMapLRN2d" in nn.__all__
