"""The ops of a MobileNet block (conv 1x1, batch norm, ReLU6) as they are recorded there:
ReLU6's Clamp makes its mask in backward from the input it keeps (nothing saved by forward but
x), in place after a batch norm too. Values and gradients against float64 textbook formulas;
PyTorch's own values are checked in test_activation.py and test_batch_norm.py."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, no_grad
from dlpy.ops.activation import Clamp
from dlpy.testing import gradcheck


def reference_block(x, w, gamma, beta, g, eps=1e-5):
    """y = relu6(batch_norm(conv1x1(x))) and dL/dx, dL/dw for L = sum(y * g), float64."""
    z = np.einsum("oc,nchw->nohw", w, x)
    axes = (0, 2, 3)
    mean = z.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(((z - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    xhat = (z - mean) * inv_std
    b = xhat * gamma[:, None, None] + beta[:, None, None]
    y = np.clip(b, 0.0, 6.0)
    gb = g * ((b > 0) & (b < 6))  # no gradient at 0 and 6, as torch's hardtanh
    h = gb * gamma[:, None, None]
    gz = (h - h.mean(axis=axes, keepdims=True)
          - xhat * (h * xhat).mean(axis=axes, keepdims=True)) * inv_std
    return y, np.einsum("oc,nohw->nchw", w, gz), np.einsum("nohw,nchw->oc", gz, x)


@pytest.mark.parametrize("inplace", [False, True])
def test_conv_batch_norm_relu6_block_matches_float64_formulas(inplace, rng):
    x = rng.standard_normal((3, 4, 5, 6))
    w = rng.standard_normal((6, 4))
    gamma, beta = rng.uniform(0.5, 3.0, 6), rng.uniform(-1.0, 4.0, 6)
    g = rng.standard_normal((3, 6, 5, 6))
    xt, wt = Tensor(x, requires_grad=True), Tensor(w.reshape(6, 4, 1, 1), requires_grad=True)
    z = F.conv2d(xt, wt)
    b = F.batch_norm(z, None, None, Tensor(gamma), Tensor(beta), training=True)
    y = F.relu6(b, inplace=inplace)
    assert (y is b) == inplace
    y.backward(Tensor(g))
    expected_y, expected_dx, expected_dw = reference_block(x, w, gamma, beta, g)
    assert 0 < (expected_y == 6).sum() and 0 < (expected_y == 0).sum()  # both kinks hit
    np.testing.assert_allclose(y.data, expected_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.data, expected_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(wt.grad.data.reshape(6, 4), expected_dw, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("bounds", [(0.0, 6.0, True), (-1.0, 1.0, True), (-1.0, 1.0, False),
                                    (None, 0.5, False), (-0.5, None, False)])
def test_clamp_mask_at_bounds_nan_and_infinities(dtype, bounds):
    low, high, open_bounds = bounds
    values = [-np.inf, -7.0, -1.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.0, 5.5, 6.0, 7.0, np.inf,
              np.nan]
    x = np.array(values, dtype=dtype).reshape(2, 7)
    g = np.linspace(-2.0, 3.0, x.size).astype(dtype).reshape(x.shape)
    op = Clamp(low, high, open_bounds)
    y = op.forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.clip(x, low, high))
    inside = np.ones(x.shape, bool)
    if low is not None:
        inside &= (x > low) if open_bounds else (x >= low)
    if high is not None:
        inside &= (x < high) if open_bounds else (x <= high)
    (dx,) = op.backward(g)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, g * inside)
    (again,) = op.backward(g)  # the mask made again: a second backward gives the same
    np.testing.assert_array_equal(again, dx)


def test_relu6_of_a_zero_dimensional_tensor():
    for value, slope in ((3.0, 1.0), (6.0, 0.0), (-1.0, 0.0)):
        x = Tensor(np.array(value), requires_grad=True)
        F.relu6(x).backward()
        assert x.grad.data == slope


def test_relu6_gradcheck_away_from_the_kinks(rng):
    x = rng.uniform(-3.0, 9.0, (2, 3, 4))
    x[np.abs(x) < 0.1] += 0.3
    x[np.abs(x - 6) < 0.1] += 0.3
    assert gradcheck(F.relu6, Tensor(x, requires_grad=True))
    assert gradcheck(lambda t: F.hardtanh(t, -1.0, 2.0), Tensor(x / 3, requires_grad=True))


def test_relu6_refuses_backward_after_its_input_changed_in_place(rng):
    x = Tensor(rng.standard_normal((2, 3)) * 4, requires_grad=True)
    z = x * 1.0
    y = F.relu6(z)
    with no_grad():
        z.add_(10.0)  # backward reads z for the mask: the change must not go unnoticed
    with pytest.raises(RuntimeError, match="in.place|modified|version"):
        y.sum().backward()


def test_relu6_second_order_gradient_is_zero(rng):
    from dlpy.autograd import grad

    x = Tensor(rng.uniform(-2.0, 8.0, (3, 4)), requires_grad=True)
    (dx,) = grad(F.relu6(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(dx.data, ((x.data > 0) & (x.data < 6)).astype(float))
    (ddx,) = grad((dx * x).sum(), x)
    np.testing.assert_array_equal(ddx.data, dx.data)
