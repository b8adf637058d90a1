"""The depthwise path's banded kernel (ops/conv_banded.py: 1-D and 2-D, one channel a group) and
the phase-split kernel it stands in for: both against the channel-major im2col in float64 (to
1e-12) over strides, dilations, paddings past the kernel, channel multipliers, rows cut into
several chunks, blocks of one channel and odd sizes; the rule that picks it; a gradient check;
float32 kept."""

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.ops import conv, conv_banded
from dlpy.testing import gradcheck

from .test_conv_paths import _assert_path_matches_im2col, _force

# (x, weight, settings): every branch of conv_banded, and MOST_CHUNK to cut rows into chunks
CASES = [
    ((2, 3, 9, 8), (3, 1, 3, 3), dict(padding=1, groups=3), 32),
    ((2, 3, 9, 8), (3, 1, 3, 3), dict(padding=1, groups=3), 3),  # 3 chunks a row
    ((3, 4, 10, 11), (4, 1, 5, 5), dict(stride=2, padding=2, groups=4), 2),  # dx added back
    ((1, 5, 11, 9), (5, 1, 3, 2), dict(stride=(3, 2), padding=(2, 1), dilation=(2, 3),
                                       groups=5), 2),
    ((2, 3, 7, 8), (6, 1, 3, 3), dict(padding=3, groups=3), 3),  # multiplier 2, padding past k
    ((2, 2, 5, 6), (6, 1, 2, 4), dict(padding="same", dilation=(2, 1), groups=2), 4),
    ((2, 3, 1, 1), (3, 1, 1, 1), dict(groups=3), 32),  # 1x1 everything
    ((2, 2, 6, 17), (2, 1, 7, 7), dict(padding=3, groups=2), 5),  # ConvNeXt's 7x7
    ((2, 3, 20), (6, 1, 7), dict(stride=2, padding=4, dilation=2, groups=3), 4),  # 1-d
]


def _banded_everywhere(monkeypatch):
    monkeypatch.setattr(conv_banded, "NARROW", 10 ** 6)
    monkeypatch.setattr(conv_banded, "WIDE_KERNEL", {1: 1, 2: 1})  # stride 1 too


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("block_bytes", [1 << 20, 1])  # 1: one channel a block
@pytest.mark.parametrize("x_shape, w_shape, settings, chunk", CASES)
def test_banded_matches_im2col(x_shape, w_shape, settings, chunk, block_bytes, grads, rng,
                               monkeypatch):
    _banded_everywhere(monkeypatch)
    monkeypatch.setattr(conv_banded, "MOST_CHUNK", chunk)
    monkeypatch.setattr(conv_banded, "BLOCK_BYTES", block_bytes)
    _assert_path_matches_im2col(monkeypatch, rng, "depthwise", x_shape, w_shape, settings,
                                1 << 19, grads)


@pytest.mark.parametrize("grads", ["xwb", "x"])
@pytest.mark.parametrize("x_shape, w_shape, settings, chunk", CASES[2:6])
def test_phase_split_matches_im2col(x_shape, w_shape, settings, chunk, grads, rng,
                                    monkeypatch):
    """The depthwise path's other kernel, where the rule does not take the banded one."""
    monkeypatch.setattr(conv_banded, "applies", lambda *args: False)
    _assert_path_matches_im2col(monkeypatch, rng, "depthwise", x_shape, w_shape, settings,
                                200, grads)


@pytest.mark.parametrize("x_shape, w_shape, groups, taken", [
    ((8, 96, 28, 28), (96, 1, 7, 7), 96, True),  # ConvNeXt's
    ((8, 240, 14, 14), (240, 1, 5, 5), 240, True),  # MobileNetV3's / EfficientNet's 5x5
    ((8, 144, 28, 28), (144, 1, 3, 3), 144, True),  # 3x3 at stride 2: 14 wide
    ((8, 576, 14, 14), (576, 1, 3, 3), 576, False),  # 3x3 at stride 1 on 14: the other kernel
    ((8, 96, 28, 28), (96, 1, 3, 3), 96, False),  # 3x3 on wide rows: the phase-split kernel
    ((8, 96, 28, 28), (96, 2, 7, 7), 48, False),  # two channels a group
    ((16, 256, 128), (256, 1, 7), 256, True),  # 1-d: from 7 wide
    ((32, 128, 256), (128, 1, 4), 128, False),
])
def test_the_rule(x_shape, w_shape, groups, taken):
    stride = 2 if x_shape[1] == 144 else 1
    out_size = conv._output_size("conv", x_shape[2:], w_shape[2:], (stride,) * (len(x_shape) - 2),
                                 tuple(k // 2 for k in w_shape[2:]), (1,) * (len(x_shape) - 2))
    assert conv_banded.applies(x_shape, w_shape, groups, out_size,
                               (stride,) * (len(x_shape) - 2)) == taken


def test_banded_gradcheck(rng, monkeypatch):
    _banded_everywhere(monkeypatch)
    monkeypatch.setattr(conv_banded, "MOST_CHUNK", 2)
    _force(monkeypatch, "depthwise")
    x = Tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 1, 3, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: conv.conv2d(x, w, b, stride=2, padding=1, groups=2),
                     x, w, b)


def test_banded_keeps_float32(rng):
    x = Tensor(rng.standard_normal((2, 4, 9, 9)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 1, 7, 7)).astype(np.float32), requires_grad=True)
    y = conv.conv2d(x, w, padding=3, groups=4)
    assert y.op.path == "depthwise"
    y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape).astype(np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32
    x64, w64 = (Tensor(t.data.astype(np.float64), requires_grad=True) for t in (x, w))
    y64 = conv.conv2d(x64, w64, padding=3, groups=4)
    y64.backward(np.cos(np.arange(y64.data.size)).reshape(y64.shape))
    for low, exact in ((y.data, y64.data), (x.grad, x64.grad), (w.grad, w64.grad)):
        np.testing.assert_allclose(low, exact, rtol=1e-5, atol=1e-4)
