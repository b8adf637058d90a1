"""ConvNd's three ways of computing (ops/conv.py conv_path): the rule that picks one, each path
forced through the PyTorch fixtures of conv1d/2d/3d and the second-order cases; the
channels-last and Winograd paths against the channel-major im2col one in float64 (to 1e-12:
the same sums in another order; Winograd's transforms are exact in binary but for rounding),
over strides, dilations, paddings, odd sizes, 1-3 spatial axes and blocks that split samples;
float64 gradient checks through both; Winograd's float32 error against the exact result."""

import numpy as np
import pytest
from second_order import check_second_order

from dlpy import Tensor
from dlpy.ops import conv, conv_channels_last, conv_winograd
from dlpy.testing import gradcheck

from .conftest import load_cases
from .test_conv import TORCH_CASES as CONV2D_CASES
from .test_conv1d import TORCH_CASES as CONV1D_CASES
from .test_conv3d import TORCH_CASES as CONV3D_CASES
from .test_conv_higher_order import OPS as SECOND_ORDER_CASES

PATHS = ("im2col", "channels_last", "winograd")
RULE = conv.conv_path


def _force(monkeypatch, path: str) -> None:
    """Make every ConvNd take path where it can (channels_last: groups 1; winograd: 3x3,
    stride 1, dilation 1, groups 1), else the rule's."""
    def forced(x_shape, w_shape, stride, dilation, groups, out_size):
        if path == "im2col" or path == "channels_last" and groups == 1 or (
                path == "winograd" and conv_winograd.applies(w_shape[2:], stride, dilation,
                                                             groups)):
            return path
        return RULE(x_shape, w_shape, stride, dilation, groups, out_size)
    monkeypatch.setattr(conv, "conv_path", forced)


@pytest.mark.parametrize("x_shape, w_shape, stride, dilation, groups, path", [
    ((16, 64, 32, 32), (64, 64, 3, 3), (1, 1), (1, 1), 1, "winograd"),  # a ResNet layer
    ((8, 128, 16, 16), (128, 128, 3, 3), (1, 1), (1, 1), 1, "winograd"),
    ((8, 256, 8, 8), (256, 256, 3, 3), (1, 1), (1, 1), 1, "im2col"),  # few tiles, long rows
    ((16, 64, 32, 32), (64, 64, 3, 3), (1, 1), (2, 2), 1, "channels_last"),  # dilated
    ((50, 16, 14, 14), (32, 16, 3, 3), (1, 1), (1, 1), 1, "channels_last"),  # few channels
    ((50, 16, 14, 14), (32, 16, 5, 5), (1, 1), (1, 1), 1, "channels_last"),  # the MNIST CNN
    ((8, 8, 8, 16, 16), (16, 8, 3, 3, 3), (1, 1, 1), (1, 1, 1), 1, "channels_last"),  # 3-d
    ((50, 1, 28, 28), (16, 1, 5, 5), (1, 1), (1, 1), 1, "im2col"),  # one channel: short runs
    ((64, 7, 14, 14), (16, 7, 3, 3), (1, 1), (1, 1), 1, "im2col"),
    ((16, 64, 32, 32), (64, 64, 3, 3), (2, 2), (1, 1), 1, "im2col"),  # strided
    ((16, 64, 32, 32), (64, 32, 3, 3), (1, 1), (1, 1), 2, "im2col"),  # groups
    ((32, 16, 200), (32, 16, 5), (1,), (1,), 1, "im2col"),  # 1-d: long rows
])
def test_the_rule(x_shape, w_shape, stride, dilation, groups, path):
    out_size = conv._output_size("conv", x_shape[2:], w_shape[2:], stride,
                                 tuple(k // 2 for k in w_shape[2:]), dilation)
    assert conv.conv_path(x_shape, w_shape, stride, dilation, groups, out_size) == path


@pytest.mark.parametrize("x_shape, w_shape, path", [
    ((2, 8, 5, 5), (3, 8, 3, 3), "channels_last"), ((2, 4, 5, 5), (3, 4, 3, 3), "im2col"),
    ((1, 32, 16, 16), (32, 32, 3, 3), "winograd")])
def test_the_op_takes_the_rule_s_path(x_shape, w_shape, path, rng):
    op = conv.Conv2d((1, 1), (1, 1), (1, 1))
    y = op.forward(rng.standard_normal(x_shape), rng.standard_normal(w_shape))
    assert op.path == path and y.flags.c_contiguous


FIXTURE_CASES = [("conv", case, fn) for case, fn in CONV2D_CASES.items()
                 if case.startswith("conv2d")]
FIXTURE_CASES += [("conv1d", case, fn) for case, fn in CONV1D_CASES.items()
                  if case.startswith("conv") and "transpose" not in case]
FIXTURE_CASES += [("conv3d", case, fn) for case, fn in CONV3D_CASES.items()
                  if case.startswith("conv3d")]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("family, case, fn", FIXTURE_CASES,
                         ids=[f"{f}-{c}" for f, c, _ in FIXTURE_CASES])
def test_each_path_matches_torch(family, case, fn, path, monkeypatch, torch_reference):
    assert case in load_cases(family)
    _force(monkeypatch, path)
    torch_reference(family, case, fn)


SECOND_ORDER = sorted(case for case in SECOND_ORDER_CASES if case.startswith("conv"))


@pytest.mark.parametrize("case", SECOND_ORDER)
def test_second_order_through_channels_last(case, monkeypatch):
    _force(monkeypatch, "channels_last")
    fn, *shapes = SECOND_ORDER_CASES[case]
    check_second_order(fn, *shapes)


def _value_and_grads(monkeypatch, path, x, w, b, grads, **settings):
    _force(monkeypatch, path)
    inputs = [Tensor(x, requires_grad="x" in grads), Tensor(w, requires_grad="w" in grads),
              Tensor(b, requires_grad="b" in grads)]
    fn = {3: conv.conv1d, 4: conv.conv2d, 5: conv.conv3d}[x.ndim]
    y = fn(*inputs, **settings)
    y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape))
    return y.data, [t.grad for t in inputs]


def _assert_path_matches_im2col(monkeypatch, rng, path, x_shape, w_shape, settings,
                                block_bytes, grads):
    """path's value and the gradients named in grads equal im2col's (the others None)."""
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    monkeypatch.setattr(conv_channels_last, "BLOCK_BYTES", block_bytes)
    y0, grads0 = _value_and_grads(monkeypatch, "im2col", x, w, b, grads, **settings)
    y1, grads1 = _value_and_grads(monkeypatch, path, x, w, b, grads, **settings)
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-12)
    for name, g0, g1 in zip("xwb", grads0, grads1):
        if name in grads:
            np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-12, err_msg=name)
        else:
            assert g0 is None and g1 is None


def _gradcheck_path(monkeypatch, rng, path, block_bytes, x_shape, w_shape, settings):
    _force(monkeypatch, path)
    monkeypatch.setattr(conv_channels_last, "BLOCK_BYTES", block_bytes)
    fn = {3: conv.conv1d, 4: conv.conv2d, 5: conv.conv3d}[len(x_shape)]
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    assert gradcheck(lambda x, w, b: fn(x, w, b, **settings), x, w, b)


# (x shape, weight shape, settings): every branch of conv_channels_last
CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(dilation=2)),
    ((3, 8, 10, 11), (5, 8, 3, 3), dict(padding=1)),  # the chosen case of the rule
    ((1, 4, 11, 9), (4, 4, 3, 2), dict(stride=(2, 3), padding=(2, 1), dilation=(2, 3))),
    ((2, 3, 7, 7), (2, 3, 3, 3), dict(stride=2, padding=1)),  # strided: col2im adds
    ((2, 3, 6, 6), (2, 3, 3, 3), dict(padding=3)),  # padding past d (k - 1): col2im adds
    ((2, 3, 7, 8), (4, 3, 2, 4), dict(padding="same", dilation=(2, 3))),  # odd total
    ((3, 5, 20), (6, 5, 4), dict(stride=2, padding=1)),  # 1-d
    ((2, 3, 5, 6, 7), (4, 3, 3, 2, 3), dict(stride=(1, 2, 1), padding=(1, 0, 1),
                                            dilation=(1, 1, 2))),  # 3-d
    ((2, 3, 5, 4, 6), (2, 3, 3, 3, 3), dict(padding=1)),
    ((2, 3, 1, 1), (4, 3, 1, 1), {}),  # 1x1 everything
    ((2, 1, 6, 6), (3, 1, 1, 1), dict(stride=2)),  # a 1x1 kernel, strided
]


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("block_bytes", [1 << 19, 200])  # 200: a block of a few lines
@pytest.mark.parametrize("x_shape, w_shape, settings", CASES)
def test_channels_last_matches_im2col(x_shape, w_shape, settings, block_bytes, grads, rng,
                                      monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "channels_last", x_shape, w_shape, settings,
                                block_bytes, grads)


def test_blocks_cover_every_row_once():
    """Whole samples where one fits in BLOCK_BYTES, else runs of lines of one sample."""
    for n, out_size, row_bytes in [(5, (3, 4), 8), (3, (7, 2), 10 ** 5), (4, (6,), 1)]:
        seen = np.zeros((n, out_size[0]), dtype=int)
        for samples, lines, shape in conv_channels_last.blocks(n, out_size, row_bytes):
            seen[samples, lines] += 1
            assert shape == seen[samples, lines].shape + tuple(out_size[1:])
        assert (seen == 1).all()


@pytest.mark.parametrize("x_shape, w_shape, settings", CASES[:4] + CASES[-4:])
def test_channels_last_gradcheck(x_shape, w_shape, settings, rng, monkeypatch):
    _gradcheck_path(monkeypatch, rng, "channels_last", 200, x_shape, w_shape, settings)


def test_channels_last_keeps_float32(rng):
    x = Tensor(rng.standard_normal((2, 8, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    y = conv.conv2d(x, w, b, padding=1)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    expected = conv.conv2d(Tensor(x.data.astype(np.float64)), Tensor(w.data.astype(np.float64)),
                           padding=1)
    np.testing.assert_allclose(y.data, expected.data, rtol=1e-5, atol=1e-4)


# 3x3, stride 1, dilation 1: every branch of conv_winograd (odd outputs: a half-empty last
# tile; padding 0, 2 and uneven; a single tile)
WINOGRAD_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), {}),
    ((3, 5, 10, 11), (6, 5, 3, 3), dict(padding=1)),
    ((1, 4, 11, 9), (5, 4, 3, 3), dict(padding=(2, 1))),
    ((2, 3, 6, 7), (2, 3, 3, 3), dict(padding=(0, 2))),
    ((1, 2, 3, 3), (3, 2, 3, 3), {}),  # one output
    ((2, 2, 4, 4), (1, 2, 3, 3), dict(padding="same")),
]


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("block_bytes", [1 << 19, 300])  # 300: one tile row a block
@pytest.mark.parametrize("x_shape, w_shape, settings", WINOGRAD_CASES)
def test_winograd_matches_im2col(x_shape, w_shape, settings, block_bytes, grads, rng,
                                 monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "winograd", x_shape, w_shape, settings,
                                block_bytes, grads)


@pytest.mark.parametrize("x_shape, w_shape, settings", WINOGRAD_CASES[:4])
def test_winograd_gradcheck(x_shape, w_shape, settings, rng, monkeypatch):
    _gradcheck_path(monkeypatch, rng, "winograd", 300, x_shape, w_shape, settings)


def test_winograd_float32_error_is_that_of_im2col(rng, monkeypatch):
    """F(2x2, 3x3)'s transforms (sums of 4 values, halves) cost float32 a few roundings more
    than im2col's: measured, both stay near 1e-7 of the largest value (the float32 tests of
    the ops allow 1e-5), Winograd within 4x im2col's error."""
    x = rng.standard_normal((4, 32, 18, 17))
    w = rng.standard_normal((32, 32, 3, 3)) / 10
    errors = {}
    for path in ("im2col", "winograd"):
        grads = {}
        for dtype in (np.float64, np.float32):
            _force(monkeypatch, path)
            xt = Tensor(x.astype(dtype), requires_grad=True)
            wt = Tensor(w.astype(dtype), requires_grad=True)
            y = conv.conv2d(xt, wt, padding=1)
            y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape).astype(dtype))
            grads[dtype] = (y.data, xt.grad, wt.grad)
        errors[path] = [np.abs(low - exact).max() / np.abs(exact).max()
                        for low, exact in zip(grads[np.float32], grads[np.float64])]
    assert max(errors["winograd"]) < 1e-6
    assert all(e_wg < 4 * e_im2col for e_wg, e_im2col in zip(errors["winograd"],
                                                            errors["im2col"])), errors
