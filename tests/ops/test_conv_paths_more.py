"""The convolution kernels of the depthwise rewrite and the strided im2col (ops/conv.py _Phases),
against the channel-major im2col / col2im they replace (conv._im2col, conv._col2im, kept) in
float64 to 1e-12, with gradient checks; and an empty batch (N = 0) through every path: an empty
output, an empty input gradient and zero weight and bias gradients, as PyTorch."""

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.ops import conv, conv_banded, conv_channels_last, conv_depthwise
from dlpy.testing import gradcheck

from .test_conv_paths import DEPTHWISE_CASES, _force

FUNCTIONS = {3: conv.conv1d, 4: conv.conv2d, 5: conv.conv3d}


def _no_banded(monkeypatch) -> None:
    """The depthwise path's own kernel everywhere (not conv_banded's banded products)."""
    monkeypatch.setattr(conv_banded, "NARROW", -1)
    monkeypatch.setattr(conv_banded, "WIDE_KERNEL", {1: 10 ** 6, 2: 10 ** 6})


def _settings(x_shape, w_shape, settings):
    nd = len(x_shape) - 2
    stride = conv._ntuple(settings.get("stride", 1), nd, "stride")
    dilation = conv._ntuple(settings.get("dilation", 1), nd, "dilation")
    padding = settings.get("padding", 0)
    if padding == "same":
        return None
    padding = conv._ntuple(padding, nd, "padding")
    out = conv._output_size("conv", x_shape[2:], w_shape[2:], stride, padding, dilation)
    return stride, padding, dilation, settings.get("groups", 1), out


def _reference(x, w, g, stride, padding, dilation, groups, out):
    """y, dx, dw by the channel-major im2col and col2im of before (conv._im2col, _col2im)."""
    n, o = x.shape[0], w.shape[0]
    cols = conv._im2col(conv._pad(x, padding), w.shape[2:], stride, dilation, out, groups)
    y = (w.reshape(groups, o // groups, -1) @ cols).reshape(o, n, *out).swapaxes(0, 1)
    g_cols = conv._channels_first(g).reshape(groups, o // groups, -1)
    w_t = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    dx = conv._col2im(w_t @ g_cols, x.shape, w.shape[2:], stride, padding, dilation, out)
    return y, dx, conv._correlate(cols, g_cols).reshape(w.shape)


@pytest.mark.parametrize("block_bytes", [1 << 19, 200])
@pytest.mark.parametrize("x_shape, w_shape, settings", DEPTHWISE_CASES)
def test_depthwise_kernel_matches_old_im2col(x_shape, w_shape, settings, block_bytes, rng,
                                             monkeypatch):
    """conv_depthwise's forward and backward (banded off; 200: blocks of a group and a sample,
    the E buffer's layout changing at the last block) against the old im2col."""
    found = _settings(x_shape, w_shape, settings)
    if found is None:  # "same": the padded case is the next one's
        found = _settings(x_shape, w_shape, {**settings, "padding": (1, 1)})
    stride, padding, dilation, groups, out = found
    _no_banded(monkeypatch)
    monkeypatch.setattr(conv_channels_last, "BLOCK_BYTES", block_bytes)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    g = rng.standard_normal((x_shape[0], w_shape[0], *out))
    y0, dx0, dw0 = _reference(x, w, g, stride, padding, dilation, groups, out)
    y1 = conv_depthwise.forward(x, w, stride, padding, dilation, out, groups)
    dx1, dw1 = conv_depthwise.backward(x, w, g, stride, padding, dilation, groups, True, True)
    dx2, _ = conv_depthwise.backward(x, w, g, stride, padding, dilation, groups, True, False)
    _, dw2 = conv_depthwise.backward(x, w, g, stride, padding, dilation, groups, False, True)
    for got, expected in ((y1, y0), (dx1, dx0), (dw1, dw0), (dx2, dx0), (dw2, dw0)):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# MobileNet's shapes, small: the flat copies (row stride 1, W = s_w out_w: stride 1 and (1, 2);
# the backward's whole rows at stride 2 and (3, 2)), the row-by-row ones (stride 2, odd widths),
# a channel multiplier and 4 channels a group
WIDE_CASES = [
    ((2, 4, 16, 16), (4, 1, 3, 3), (1, 1), (1, 1), 4),
    ((2, 4, 16, 16), (4, 1, 3, 3), (1, 2), (1, 1), 4),
    ((2, 4, 16, 16), (4, 1, 3, 3), (2, 2), (1, 1), 4),
    ((1, 3, 12, 12), (6, 1, 3, 3), (3, 2), (1, 1), 3),
    ((2, 4, 16, 17), (8, 1, 3, 3), (2, 2), (1, 1), 4),
    ((1, 8, 15, 18), (8, 4, 3, 3), (1, 1), (1, 1), 2),
    ((2, 3, 17, 16), (3, 1, 5, 5), (2, 2), (2, 2), 3),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, groups", WIDE_CASES)
def test_depthwise_kernel_on_wide_rows(x_shape, w_shape, stride, padding, groups, rng,
                                       monkeypatch):
    _no_banded(monkeypatch)
    dilation = (1, 1)
    out = conv._output_size("conv", x_shape[2:], w_shape[2:], stride, padding, dilation)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    g = rng.standard_normal((x_shape[0], w_shape[0], *out))
    y0, dx0, dw0 = _reference(x, w, g, stride, padding, dilation, groups, out)
    y1 = conv_depthwise.forward(x, w, stride, padding, dilation, out, groups)
    dx1, dw1 = conv_depthwise.backward(x, w, g, stride, padding, dilation, groups, True, True)
    dx2, _ = conv_depthwise.backward(x, w, g, stride, padding, dilation, groups, True, False)
    _, dw2 = conv_depthwise.backward(x, w, g, stride, padding, dilation, groups, False, True)
    for got, expected in ((y1, y0), (dx1, dx0), (dw1, dw0), (dx2, dx0), (dw2, dw0)):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# strided convolutions: the phases' forward, dx and dw (BLOCKED_ROWS 10**6: every layer taken
# as a stem) and im2col's (0), over 1-3 axes, strides per axis, dilation, padding, odd sizes,
# groups
STRIDED_CASES = [
    ((2, 3, 11, 12), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 3, 13, 13), (4, 3, 7, 7), dict(stride=2, padding=3)),  # a stem
    ((1, 4, 12, 11), (6, 2, 3, 2), dict(stride=(3, 2), padding=(2, 1), dilation=(2, 3),
                                        groups=2)),
    ((2, 3, 20), (4, 3, 5), dict(stride=3, padding=2, dilation=2)),  # 1-d
    ((1, 2, 6, 7, 8), (3, 2, 3, 2, 3), dict(stride=(2, 1, 3), padding=(1, 0, 1))),  # 3-d
]


@pytest.mark.parametrize("blocked_rows", [0, 10 ** 6])
@pytest.mark.parametrize("x_shape, w_shape, settings", STRIDED_CASES)
def test_strided_im2col_matches_old(x_shape, w_shape, settings, blocked_rows, rng,
                                    monkeypatch):
    monkeypatch.setattr(conv, "BLOCKED_ROWS", blocked_rows)
    monkeypatch.setattr(conv_channels_last, "BLOCK_BYTES", 400)  # several blocks a sample
    stride, padding, dilation, groups, out = _settings(x_shape, w_shape, settings)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    g = rng.standard_normal((x_shape[0], w_shape[0], *out))
    y0, dx0, dw0 = _reference(x, w, g, stride, padding, dilation, groups, out)
    y1, cols = conv.conv_forward("im2col", x, w, stride, padding, dilation, groups, out)
    dx1, dw1 = conv.conv_backward("im2col", x, w, g, stride, padding, dilation, groups, True,
                                  True, cols)
    _, dw2 = conv.conv_backward("im2col", x, w, g, stride, padding, dilation, groups, False,
                                True)
    for got, expected in ((y1, y0), (dx1, dx0), (dw1, dw0), (dw2, dw0)):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path, x_shape, w_shape, settings", [
    ("depthwise", (2, 3, 6, 7), (3, 1, 3, 3), dict(padding=1, groups=3)),
    ("depthwise", (1, 2, 7, 6), (4, 1, 3, 2), dict(stride=2, padding=1, groups=2)),
    ("im2col", (2, 2, 7, 7), (3, 2, 3, 3), dict(stride=2, padding=1)),
    ("im2col", (1, 2, 9, 8), (2, 2, 5, 5), dict(stride=2, padding=2)),
])
@pytest.mark.parametrize("blocked_rows", [0, 10 ** 6])
def test_gradcheck_new_kernels(path, x_shape, w_shape, settings, blocked_rows, rng,
                               monkeypatch):
    _no_banded(monkeypatch)
    _force(monkeypatch, path)
    monkeypatch.setattr(conv, "BLOCKED_ROWS", blocked_rows)
    fn = FUNCTIONS[len(x_shape)]
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: fn(x, w, b, **settings), x, w, b)


# (function, x shape with N = 0, weight shape, settings, path forced)
EMPTY_CASES = [
    (conv.conv1d, (0, 4, 9), (6, 4, 3), {}, "im2col"),
    (conv.conv1d, (0, 4, 9), (6, 4, 3), dict(stride=2), "im2col"),
    (conv.conv2d, (0, 3, 9, 9), (6, 3, 3, 3), dict(stride=2, padding=1), "im2col"),
    (conv.conv2d, (0, 8, 9, 9), (6, 8, 3, 3), dict(padding=1), "channels_last"),
    (conv.conv2d, (0, 4, 9, 9), (4, 4, 3, 3), dict(padding=1), "winograd"),
    (conv.conv3d, (0, 2, 5, 5, 5), (4, 2, 3, 3, 3), {}, "im2col"),
    (conv.conv2d, (0, 6, 20, 20), (6, 1, 3, 3), dict(padding=1, groups=6), "depthwise"),
    (conv.conv2d, (0, 6, 9, 9), (6, 1, 5, 5), dict(padding=2, groups=6), "depthwise"),
    (conv.conv2d, (0, 6, 9, 9), (4, 6, 1, 1), dict(stride=2), "pointwise"),
    (conv.conv2d, (0, 16, 9, 9), (16, 8, 3, 3), dict(padding=1, groups=2), "grouped"),
    (conv.conv_transpose1d, (0, 4, 5), (4, 3, 3), dict(stride=2), "im2col"),
    (conv.conv_transpose2d, (0, 4, 5, 5), (4, 3, 3, 3), dict(stride=2, padding=1), "im2col"),
    (conv.conv_transpose2d, (0, 4, 5, 5), (4, 1, 3, 3), dict(groups=4), "depthwise"),
    (conv.conv_transpose3d, (0, 4, 3, 3, 3), (4, 3, 3, 3, 3), {}, "im2col"),
]


@pytest.mark.parametrize("fn, x_shape, w_shape, settings, path", EMPTY_CASES)
def test_empty_batch(fn, x_shape, w_shape, settings, path, monkeypatch):
    """N = 0: y (0, O, *out), dx (0, C, *spatial), dw and db zero, as PyTorch."""
    _force(monkeypatch, path)
    transposed = fn.__name__.startswith("conv_transpose")
    out_channels = w_shape[1] * settings.get("groups", 1) if transposed else w_shape[0]
    x = Tensor(np.zeros(x_shape, dtype=np.float32), requires_grad=True)
    w = Tensor(np.ones(w_shape, dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones(out_channels, dtype=np.float32), requires_grad=True)
    y = fn(x, w, b, **settings)
    full = fn(Tensor(np.zeros((1, *x_shape[1:]), dtype=np.float32)), w.detach(), b.detach(),
              **settings)
    assert y.shape == (0, *full.shape[1:]) and y.data.dtype == np.float32
    y.sum().backward()
    assert x.grad.shape == x_shape
    np.testing.assert_array_equal(np.asarray(w.grad), np.zeros(w_shape))
    np.testing.assert_array_equal(np.asarray(b.grad), np.zeros(out_channels))
