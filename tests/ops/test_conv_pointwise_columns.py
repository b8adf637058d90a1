"""conv_pointwise's products over the batch's N * positions columns (_flat: few positions, as
in late stages and squeeze-excitation's 1x1 maps) and its (N, C) rows at one position: forward
and gradients against numpy's sums in float64, over strides and paddings, 1-3 spatial axes,
and float64 gradient checks; the transposed convolution through the same backward."""

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.ops import conv, conv_pointwise
from dlpy.testing import gradcheck

# (x shape, out channels, stride, padding): batch 3, 12 in and 10 out channels, so that
# _flat holds for up to 5 positions
CASES = [((3, 12, 1, 1), 10, 1, 0),  # one position: (N, C) rows
         ((3, 12, 2, 2), 10, 2, 0),  # strided to one position
         ((3, 12, 2, 2), 10, 1, 0),  # 4 positions: columns
         ((3, 12, 2, 2), 10, 2, 1),  # padded and strided: dx put back in a zero array
         ((3, 12, 1, 2), 10, 1, (0, 1)),
         ((3, 12, 5), 10, 1, 0),  # 1-d
         ((3, 12, 1, 2, 2), 10, 1, 0),  # 3-d
         ((1, 12, 2, 2), 10, 1, 0),  # batch 1: N products
         ((3, 4, 4, 4), 5, 1, 0)]  # many positions: N products and their sum


def _reference(x, weight, grad_output, stride, padding):
    """(y, dx, dw) by numpy's sums over the strided, padded input."""
    spatial = x.ndim - 2
    stride, padding = ((s,) * spatial if isinstance(s, int) else s for s in (stride, padding))
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    taken = padded[(slice(None), slice(None))
                   + tuple(slice(None, None, s) for s in stride)]  # every stride from 0
    w = weight.reshape(weight.shape[:2])
    y = np.einsum("oc,nc...->no...", w, taken)
    taken_grad = np.einsum("oc,no...->nc...", w, grad_output)
    padded_grad = np.zeros_like(padded)
    padded_grad[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = \
        taken_grad
    x_grad = padded_grad[(slice(None), slice(None))
                         + tuple(slice(p, p + n) for p, n in zip(padding, x.shape[2:]))]
    n = x.shape[0]
    w_grad = np.einsum("nop,ncp->oc", grad_output.reshape(n, w.shape[0], -1),
                       taken.reshape(n, w.shape[1], -1)).reshape(weight.shape)
    return y, x_grad, w_grad


def _conv(x, weight, stride, padding):
    return getattr(conv, f"conv{x.ndim - 2}d")(x, weight, stride=stride, padding=padding)


@pytest.mark.parametrize("x_shape, out_channels, stride, padding", CASES)
def test_against_numpy(x_shape, out_channels, stride, padding):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    weight = Tensor(rng.standard_normal((out_channels, x_shape[1]) + (1,) * (len(x_shape) - 2)),
                    requires_grad=True)
    y = _conv(x, weight, stride, padding)
    grad_output = rng.standard_normal(y.shape)
    y.backward(Tensor(grad_output))
    expected = _reference(x.data, weight.data, grad_output, stride, padding)
    for got, want in zip((y, x.grad, weight.grad), expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_the_cases_take_each_way():
    # columns for 2-5 positions of batch 3, N products for batch 1 and for many positions
    assert [conv_pointwise._flat(3, p, 10, 12) for p in (2, 4, 5, 6)] == [True] * 3 + [False]
    assert not conv_pointwise._flat(1, 4, 10, 12) and not conv_pointwise._flat(3, 64, 5, 4)


@pytest.mark.parametrize("x_shape, out_channels, stride, padding", CASES[:4])
def test_gradcheck(x_shape, out_channels, stride, padding):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    weight = Tensor(rng.standard_normal((out_channels, x_shape[1], 1, 1)), requires_grad=True)
    assert gradcheck(lambda x, w: _conv(x, w, stride, padding), x, weight)


def test_transposed_convolution_at_few_positions():
    # conv_transpose2d's forward is the pointwise backward's dx (the columns there)
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((3, 10, 2, 2)), requires_grad=True)
    weight = Tensor(rng.standard_normal((10, 12, 1, 1)), requires_grad=True)
    y = conv.conv_transpose2d(x, weight)
    np.testing.assert_allclose(y.numpy(), np.einsum("oc,nohw->nchw", weight.data[:, :, 0, 0],
                                                    x.data), rtol=1e-12)
    assert gradcheck(conv.conv_transpose2d, x, weight)
