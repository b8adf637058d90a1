"""avg_pool2d, adaptive_avg_pool2d and max_pool2d's dilation, ceil_mode and return_indices:
PyTorch values and indices (tests/fixtures/ops/pool.npz), gradient checks, PyTorch's window and
divisor rules written out as loops, errors."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.testing import gradcheck

from .conftest import load_cases

# max_pool2d cases: settings; pool.npz holds torch's values, gradients and indices
MAX_POOL_CASES = {
    "max_pool2d_indices": {"kernel_size": 2},
    "max_pool2d_ceil_mode": {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    "max_pool2d_ceil_mode_kernel_past_input": {"kernel_size": 2, "stride": 2, "ceil_mode": True},
    "max_pool2d_dilation": {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2},
    "max_pool2d_dilation_ceil_rect": {"kernel_size": (2, 3), "stride": (3, 2),
                                      "padding": (1, 1), "dilation": (3, 2), "ceil_mode": True},
}

TORCH_CASES = {
    "avg_pool2d": lambda x: F.avg_pool2d(x, 2),
    "avg_pool2d_overlap_padding": lambda x: F.avg_pool2d(x, 3, 2, 1),
    "avg_pool2d_exclude_pad": lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    "avg_pool2d_rect_odd": lambda x: F.avg_pool2d(x, (2, 3), (2, 3)),
    "avg_pool2d_rect_padding_exclude":
        lambda x: F.avg_pool2d(x, (3, 2), (1, 2), (1, 1), count_include_pad=False),
    "avg_pool2d_ceil_mode": lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "avg_pool2d_ceil_mode_exclude":
        lambda x: F.avg_pool2d(x, (2, 3), 2, 1, ceil_mode=True, count_include_pad=False),
    "avg_pool2d_ceil_mode_kernel_past_input": lambda x: F.avg_pool2d(x, 3, 2, ceil_mode=True),
    "avg_pool2d_divisor_override": lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=5),
    "adaptive_avg_pool2d": lambda x: F.adaptive_avg_pool2d(x, (3, 4)),
    "adaptive_avg_pool2d_global": lambda x: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avg_pool2d_larger": lambda x: F.adaptive_avg_pool2d(x, (5, 6)),
    "adaptive_avg_pool2d_none": lambda x: F.adaptive_avg_pool2d(x, (None, 2)),
    "adaptive_avg_pool2d_divisible": lambda x: F.adaptive_avg_pool2d(x, (4, 3)),
    **{case: lambda x, kwargs=kwargs: F.max_pool2d(x, **kwargs)
       for case, kwargs in MAX_POOL_CASES.items()},
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("pool", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("pool") == set(TORCH_CASES)


@pytest.mark.parametrize("case", sorted(MAX_POOL_CASES))
def test_max_pool2d_indices_are_torchs(case):
    record = load_cases("pool")[case]
    x = Tensor(record["in0"])
    y, indices = F.max_pool2d(x, **MAX_POOL_CASES[case], return_indices=True)
    np.testing.assert_array_equal(y.data, record["out"])
    assert indices.dtype == np.int64 and indices.shape == y.shape
    np.testing.assert_array_equal(indices.data, record["out_indices"])
    # each index points at its maximum in the flattened H*W plane
    planes = x.data.reshape(*x.shape[:2], -1)
    np.testing.assert_array_equal(
        np.take_along_axis(planes, indices.data.reshape(*x.shape[:2], -1), axis=2),
        y.data.reshape(*x.shape[:2], -1))
    _, layer_indices = nn.MaxPool2d(**MAX_POOL_CASES[case], return_indices=True)(x)
    np.testing.assert_array_equal(layer_indices.data, record["out_indices"])
    np.testing.assert_array_equal(nn.MaxPool2d(**MAX_POOL_CASES[case])(x).data, record["out"])


AVG_SETTINGS = [  # shape, kernel, stride, padding, ceil_mode, count_include_pad
    ((2, 3, 6, 4), 2, None, 0, False, True),
    ((1, 2, 7, 5), 2, None, 0, False, True),  # a remainder row and column are dropped
    ((2, 1, 7, 7), 3, 2, 1, False, True),
    ((2, 1, 7, 7), 3, 2, 1, False, False),
    ((1, 2, 5, 6), (1, 3), (1, 2), (0, 1), False, False),
    ((1, 1, 5, 8), (3, 2), (2, 3), (1, 1), True, True),
    ((1, 1, 5, 8), (3, 2), (2, 3), (1, 1), True, False),
    ((1, 2, 2, 3), 3, 2, 0, True, True),  # the kernel runs past the input: ceil_mode only
    ((1, 1, 1, 1), 1, None, 0, False, True),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode, include_pad", AVG_SETTINGS)
def test_avg_pool2d_gradcheck(shape, kernel, stride, padding, ceil_mode, include_pad, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, include_pad),
                     x)


def test_avg_pool2d_divisor_override_gradcheck(rng):
    x = Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    assert gradcheck(lambda x: F.avg_pool2d(x, 2, 1, 1, divisor_override=-3), x)


def _pairs(v):
    return v if isinstance(v, tuple) else (v, v)


def _avg_pool_loops(x, kernel, stride, padding, ceil_mode, include_pad):
    """PyTorch's CPU kernel (AvgPoolKernel.cpp), one window at a time."""
    (kh, kw), (ph, pw) = _pairs(kernel), _pairs(padding)
    sh, sw = _pairs(stride if stride is not None else kernel)
    n, c, h, w = x.shape

    def out_len(size, k, s, p):
        length = (size + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
        return length - 1 if ceil_mode and (length - 1) * s >= size + p else length

    ho, wo = out_len(h, kh, sh, ph), out_len(w, kw, sw, pw)
    y = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            pool_size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
            y[:, :, i, j] = total / (pool_size if include_pad else (h1 - h0) * (w1 - w0))
    return y


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode, include_pad", AVG_SETTINGS)
def test_avg_pool2d_is_pytorchs_window_rule(shape, kernel, stride, padding, ceil_mode,
                                            include_pad, rng):
    x = rng.standard_normal(shape)
    y = F.avg_pool2d(Tensor(x), kernel, stride, padding, ceil_mode, include_pad)
    np.testing.assert_allclose(y.data, _avg_pool_loops(x, kernel, stride, padding, ceil_mode,
                                                       include_pad), rtol=1e-12, atol=1e-14)


def test_count_include_pad_decides_whether_padding_counts():
    x = Tensor(np.ones((1, 1, 4, 4)))
    included = F.avg_pool2d(x, 3, 1, 1).data[0, 0]
    assert included[0, 0] == pytest.approx(4 / 9) and included[0, 1] == pytest.approx(6 / 9)
    assert included[1, 1] == 1.0
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False).data, 1.0)


def _adaptive_loops(x, out_h, out_w):
    """PyTorch's rule: start = floor(i * in / out), end = ceil((i + 1) * in / out)."""
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(math.floor(i * h / out_h), math.ceil((i + 1) * h / out_h))
            cols = slice(math.floor(j * w / out_w), math.ceil((j + 1) * w / out_w))
            y[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return y


@pytest.mark.parametrize("shape, output_size", [
    ((2, 3, 7, 9), (3, 4)),  # overlapping windows of two sizes
    ((1, 2, 5, 5), 1),  # the global average pool
    ((1, 1, 3, 4), (5, 7)),  # more outputs than inputs: windows repeat values
    ((2, 2, 8, 6), (4, 3)),  # divisible: plain avg_pool2d
    ((1, 2, 6, 5), (None, 2)),  # None keeps the input's size
    ((1, 1, 1, 1), 1),
])
def test_adaptive_avg_pool2d_window_rule_and_gradcheck(shape, output_size, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, output_size)
    sizes = output_size if isinstance(output_size, tuple) else (output_size,) * 2
    out_h, out_w = (shape[2 + i] if n is None else n for i, n in enumerate(sizes))
    assert y.shape == shape[:2] + (out_h, out_w)
    np.testing.assert_allclose(y.data, _adaptive_loops(x.data, out_h, out_w), rtol=1e-12)
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), x)


def test_adaptive_global_pool_is_the_mean_and_divisible_is_avg_pool2d(rng):
    x = Tensor(rng.standard_normal((2, 3, 6, 4)))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (1, 1)).data,
                               x.data.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (3, 2)).data,
                               F.avg_pool2d(x, (2, 2)).data, rtol=1e-12)
    same = F.adaptive_avg_pool2d(x, (6, 4))
    np.testing.assert_array_equal(same.data, x.data)
    assert same is not x


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((2, 3, 7, 6)).astype(np.float32), requires_grad=True)
    for y in (F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
              F.adaptive_avg_pool2d(x, (3, 4))):
        assert y.dtype == np.float32
        x.grad = None
        y.sum().backward()
        assert x.grad.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda: F.avg_pool2d(Tensor(np.zeros((4, 4))), 2), r"avg_pool2d: expected x "
     r"\(N, C, H, W\) or unbatched \(C, H, W\), got \(4, 4\)"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 2, 2))), 3),
     r"avg_pool2d: kernel \(3, 3\) does not fit the input \(2, 2\) with padding \(0, 0\)"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2),
     r"avg_pool2d: padding must be at most half the kernel, got padding \(2, 2\)"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, stride=0),
     r"avg_pool2d: need kernel_size >= 1, stride >= 1, padding >= 0"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, divisor_override=0),
     r"divisor_override must be a nonzero int or None, got 0"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, divisor_override=1.5),
     r"divisor_override must be a nonzero int or None, got 1.5"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), (2, 2, 2)),
     r"avg_pool2d: kernel_size: expected an int or a pair of ints"),
    (lambda: F.adaptive_avg_pool2d(Tensor(np.zeros((4, 4))), 2),
     r"adaptive_avg_pool2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\), got \(4, 4\)"),
    (lambda: F.adaptive_avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), (-1, 2)),
     r"output_size must be an int >= 0 or a pair of them \(None: the input's size\), "
     r"got \(-1, 2\)"),
    (lambda: F.adaptive_avg_pool2d(Tensor(np.zeros((1, 1, 4, 4))), (2, 2, 2)),
     r"output_size must be an int >= 0 or a pair"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_max_pool2d_output_may_be_changed_in_place_before_backward():
    # torch saves max_pool2d's input and indices, not its output: nn.ReLU(inplace=True) after
    # a pool (the spatial transformer tutorial's localisation net) backpropagates
    x = Tensor(np.array([[[[1.0, -2.0, 0.5, 3.0], [-1.0, 0.0, -4.0, 2.0],
                           [-3.0, -5.0, 6.0, 1.0], [-2.0, -1.5, 0.0, 7.0]]]]), requires_grad=True)
    y = F.max_pool2d(x, 2)
    y.relu_()
    y.sum().backward()
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 0] = expected[0, 0, 0, 3] = expected[0, 0, 3, 3] = 1.0  # -1 clamped away
    np.testing.assert_array_equal(y.data[0, 0], [[1.0, 3.0], [0.0, 7.0]])
    np.testing.assert_array_equal(x.grad, expected)
