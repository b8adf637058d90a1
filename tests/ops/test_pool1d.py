"""max_pool1d, avg_pool1d, adaptive_avg_pool1d and adaptive_max_pool2d: PyTorch values,
gradients and indices (tests/fixtures/ops/pool1d.npz, adaptive_max_pool.npz), the 1d pools as
the 2d ones on a height-1 image, PyTorch's adaptive windows written out, gradient checks,
errors."""

import math

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

from .conftest import load_cases

# (family, case) -> (function giving the values, function giving (values, indices) or None)
CASES = {
    ("pool1d", "max_pool1d"): (lambda x: F.max_pool1d(x, 2),
                               lambda x: F.max_pool1d(x, 2, return_indices=True)),
    ("pool1d", "max_pool1d_overlap_padding"): (
        lambda x: F.max_pool1d(x, 3, 2, 1),
        lambda x: F.max_pool1d(x, 3, 2, 1, return_indices=True)),
    ("pool1d", "max_pool1d_dilation_ceil"): (
        lambda x: F.max_pool1d(x, 3, 2, 1, dilation=2, ceil_mode=True),
        lambda x: F.max_pool1d(x, 3, 2, 1, 2, True, True)),
    ("pool1d", "max_pool1d_unbatched"): (lambda x: F.max_pool1d(x, 3, 1, 1), None),
    ("pool1d", "avg_pool1d"): (lambda x: F.avg_pool1d(x, 2), None),
    ("pool1d", "avg_pool1d_padding_exclude_ceil"): (
        lambda x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), None),
    ("pool1d", "avg_pool1d_unbatched"): (lambda x: F.avg_pool1d(x, 3, 2, 1), None),
    ("pool1d", "adaptive_avg_pool1d"): (lambda x: F.adaptive_avg_pool1d(x, 4), None),
    ("pool1d", "adaptive_avg_pool1d_larger_unbatched"): (
        lambda x: F.adaptive_avg_pool1d(x, 6), None),
    ("adaptive_max_pool", "adaptive_max_pool2d"): (
        lambda x: F.adaptive_max_pool2d(x, (3, 4)),
        lambda x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True)),
    ("adaptive_max_pool", "adaptive_max_pool2d_larger"): (
        lambda x: F.adaptive_max_pool2d(x, (5, 6)),
        lambda x: F.adaptive_max_pool2d(x, (5, 6), True)),
    ("adaptive_max_pool", "adaptive_max_pool2d_none_unbatched"): (
        lambda x: F.adaptive_max_pool2d(x, (None, 2)),
        lambda x: F.adaptive_max_pool2d(x, (None, 2), True)),
    ("adaptive_max_pool", "adaptive_max_pool2d_global"): (
        lambda x: F.adaptive_max_pool2d(x, 1), None),
    ("adaptive_max_pool", "adaptive_max_pool2d_nan"): (
        lambda x: F.adaptive_max_pool2d(x, 2), lambda x: F.adaptive_max_pool2d(x, 2, True)),
}


@pytest.mark.parametrize("family, case", sorted(CASES))
def test_matches_torch(family, case, torch_reference):
    torch_reference(family, case, CASES[family, case][0])


@pytest.mark.parametrize("family, case", sorted(k for k, v in CASES.items() if v[1]))
def test_indices_are_torchs(family, case):
    record = load_cases(family)[case]
    values, indices = CASES[family, case][1](Tensor(record["in0"]))
    np.testing.assert_array_equal(values.data, record["out"])
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, record["out_indices"])


@pytest.mark.parametrize("family", ["pool1d", "adaptive_max_pool"])
def test_every_fixture_case_is_tested(family, fixture_cases):
    assert fixture_cases(family) == {case for f, case in CASES if f == family}


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", [
    ((2, 3, 9), 2, None, 0, 1, False),
    ((1, 2, 10), 3, 2, 1, 1, False),
    ((1, 2, 11), 3, 2, 1, 2, True),
    ((3, 7), 2, 1, 1, 1, True),  # unbatched
])
def test_max_pool1d_is_max_pool2d_on_a_row_and_gradchecks(shape, kernel, stride, padding,
                                                          dilation, ceil_mode, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    y, indices = F.max_pool1d(x, kernel, stride, padding, dilation, ceil_mode, True)
    y2, indices2 = F.max_pool2d(x.data[..., None, :], (1, kernel),
                                (1, stride or kernel), (0, padding), (1, dilation), ceil_mode,
                                True)
    np.testing.assert_array_equal(y.data, y2.data[..., 0, :])
    np.testing.assert_array_equal(indices.data, indices2.data[..., 0, :])
    assert gradcheck(lambda x: F.max_pool1d(x, kernel, stride, padding, dilation, ceil_mode), x)


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode, include_pad", [
    ((2, 3, 9), 2, None, 0, False, True),
    ((1, 2, 10), 3, 2, 1, True, False),
    ((3, 7), 3, 2, 1, False, True),  # unbatched
])
def test_avg_pool1d_gradcheck(shape, kernel, stride, padding, ceil_mode, include_pad, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.avg_pool1d(x, kernel, stride, padding, ceil_mode, include_pad),
                     x)


def _windows(size, out):
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


@pytest.mark.parametrize("shape, output_size", [((2, 3, 10), 4), ((3, 4), 6), ((1, 2, 5), 5),
                                                ((1, 1, 7), 1)])
def test_adaptive_avg_pool1d_window_rule_and_gradcheck(shape, output_size, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    y = F.adaptive_avg_pool1d(x, output_size)
    expected = np.stack([x.data[..., a:b].mean(axis=-1)
                         for a, b in _windows(shape[-1], output_size)], axis=-1)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    assert gradcheck(lambda x: F.adaptive_avg_pool1d(x, output_size), x)


@pytest.mark.parametrize("shape, output_size", [
    ((2, 3, 7, 9), (3, 4)), ((1, 2, 3, 4), (5, 6)), ((2, 6, 5), (None, 2)), ((1, 1, 5, 5), 1),
    ((1, 2, 8, 6), (4, 3)),  # divisible: max_pool2d
])
def test_adaptive_max_pool2d_window_rule_and_gradcheck(shape, output_size, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    y, indices = F.adaptive_max_pool2d(x, output_size, return_indices=True)
    sizes = output_size if isinstance(output_size, tuple) else (output_size,) * 2
    out_h, out_w = (shape[-2 + i] if n is None else n for i, n in enumerate(sizes))
    assert y.shape == indices.shape == shape[:-2] + (out_h, out_w)
    for i, (r0, r1) in enumerate(_windows(shape[-2], out_h)):
        for j, (c0, c1) in enumerate(_windows(shape[-1], out_w)):
            window = x.data[..., r0:r1, c0:c1]
            np.testing.assert_array_equal(y.data[..., i, j], window.max(axis=(-2, -1)))
            where = np.argmax(window.reshape(*window.shape[:-2], -1), axis=-1)
            rows, cols = np.divmod(where, c1 - c0)
            np.testing.assert_array_equal(indices.data[..., i, j],
                                          (rows + r0) * shape[-1] + cols + c0)
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, output_size), x)
    if sizes == (4, 3):
        np.testing.assert_array_equal(y.data, F.max_pool2d(x, 2).data)


def test_adaptive_max_pool2d_overlapping_windows_add_their_gradients():
    # 3 columns into 2 windows, [0, 2) and [1, 3): the middle maximum is in both
    x = Tensor(np.array([[[[0.0, 5.0, 1.0]]]]), requires_grad=True)
    y = F.adaptive_max_pool2d(x, (1, 2))
    np.testing.assert_array_equal(y.data, [[[[5.0, 5.0]]]])
    y.backward(np.array([[[[2.0, 3.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[0.0, 5.0, 0.0]]]])


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((2, 3, 8)).astype(np.float32), requires_grad=True)
    for y in (F.max_pool1d(x, 2), F.avg_pool1d(x, 3, 2, 1), F.adaptive_avg_pool1d(x, 3),
              F.adaptive_max_pool2d(x, (2, 3))):
        assert y.dtype == np.float32
        x.grad = None
        y.sum().backward()
        assert x.grad.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda: F.max_pool1d(Tensor(np.zeros(8)), 2),
     r"max_pool1d: expected x \(N, C, L\) or unbatched \(C, L\), got \(8,\)"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 2, 8))), 2), r"got \(1, 1, 2, 8\)"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 8))), 2, padding=2),
     r"max_pool1d: padding must be at most half the kernel, got padding 2 for kernel 2"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 8))), (2, 2)),
     r"max_pool1d: kernel_size: expected an int or a 1-tuple of ints, got \(2, 2\)"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 2))), 3),
     r"max_pool1d: kernel \(3,\) does not fit the input \(2,\) with padding \(0,\)"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 4))), 3, dilation=2),
     r"max_pool1d: kernel \(3,\) with dilation \(2,\) does not fit"),
    (lambda: F.max_pool1d(Tensor(np.zeros((1, 1, 4))), 2, stride=0),
     r"max_pool1d: need kernel_size >= 1, stride >= 1, padding >= 0, got 2, 0, 0"),
    (lambda: F.avg_pool1d(Tensor(np.zeros(8)), 2),
     r"avg_pool1d: expected x \(N, C, L\) or unbatched \(C, L\), got \(8,\)"),
    (lambda: F.avg_pool1d(Tensor(np.zeros((1, 1, 8))), 3, padding=2),
     r"avg_pool1d: padding must be at most half the kernel"),
    (lambda: F.adaptive_avg_pool1d(Tensor(np.zeros(8)), 2),
     r"adaptive_avg_pool1d: expected x \(N, C, L\) or unbatched \(C, L\), got \(8,\)"),
    (lambda: F.adaptive_avg_pool1d(Tensor(np.zeros((1, 8))), -1),
     r"adaptive_avg_pool1d: output_size must be >= 0, got -1"),
    (lambda: F.adaptive_avg_pool1d(Tensor(np.zeros((1, 8))), (2, 2)),
     r"adaptive_avg_pool1d: output_size: expected an int or a 1-tuple of ints"),
    (lambda: F.adaptive_max_pool2d(Tensor(np.zeros((4, 4))), 2),
     r"adaptive_max_pool2d: expected x \(N, C, H, W\) or unbatched \(C, H, W\), got \(4, 4\)"),
    (lambda: F.adaptive_max_pool2d(Tensor(np.zeros((1, 4, 4))), (2, -1)),
     r"adaptive_max_pool2d: output_size must be an int >= 0 or a pair of them"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
