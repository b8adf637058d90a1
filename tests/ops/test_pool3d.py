"""max_pool3d, avg_pool3d, adaptive_avg_pool3d, adaptive_max_pool1d / 3d, max_unpool1d / 3d:
PyTorch values, gradients and indices (tests/fixtures/ops/pool3d.npz), the 2-d pools as the 3-d
ones on a depth-1 volume, gradient checks, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

from .conftest import load_cases

# case -> (function giving the values, function giving (values, indices) or None)
CASES = {
    "max_pool3d": (lambda x: F.max_pool3d(x, 2), lambda x: F.max_pool3d(x, 2, None, 0, 1, False,
                                                                         True)),
    "max_pool3d_overlap_padding_dilation_ceil": (
        lambda x: F.max_pool3d(x, 3, 2, 1, dilation=(1, 2, 1), ceil_mode=True),
        lambda x: F.max_pool3d(x, 3, 2, 1, (1, 2, 1), True, return_indices=True)),
    "max_pool3d_rect_unbatched": (
        lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 2)),
        lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 2), return_indices=True)),
    "avg_pool3d": (lambda x: F.avg_pool3d(x, 2), None),
    "avg_pool3d_padding_exclude_ceil": (
        lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), None),
    "avg_pool3d_divisor_override_unbatched": (
        lambda x: F.avg_pool3d(x, (3, 2, 2), (2, 2, 1), (1, 0, 1), divisor_override=5), None),
    "adaptive_avg_pool3d": (lambda x: F.adaptive_avg_pool3d(x, (3, 4, 2)), None),
    "adaptive_avg_pool3d_none_larger_unbatched": (
        lambda x: F.adaptive_avg_pool3d(x, (None, 6, 3)), None),
    "adaptive_max_pool3d": (lambda x: F.adaptive_max_pool3d(x, (2, 3, 4)),
                            lambda x: F.adaptive_max_pool3d(x, (2, 3, 4), True)),
    "adaptive_max_pool3d_global_unbatched": (lambda x: F.adaptive_max_pool3d(x, 1),
                                             lambda x: F.adaptive_max_pool3d(x, 1, True)),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x, 4),
                            lambda x: F.adaptive_max_pool1d(x, 4, True)),
    "adaptive_max_pool1d_larger_unbatched": (lambda x: F.adaptive_max_pool1d(x, 7),
                                             lambda x: F.adaptive_max_pool1d(x, (7,), True)),
    "max_unpool1d": (lambda x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2),
                     None),
    "max_unpool1d_overlap_output_size": (lambda x: F.max_unpool1d(
        *F.max_pool1d(x, 3, 2, 1, return_indices=True), 3, 2, 1, output_size=(9,)), None),
    "max_unpool3d": (lambda x: F.max_unpool3d(*F.max_pool3d(x, 2, return_indices=True), 2),
                     None),
    "max_unpool3d_overlap_unbatched_output_size": (lambda x: F.max_unpool3d(
        *F.max_pool3d(x, 3, 2, 1, return_indices=True), 3, 2, 1, output_size=(5, 5, 5)), None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("pool3d", case, CASES[case][0])


@pytest.mark.parametrize("case", sorted(k for k, v in CASES.items() if v[1]))
def test_indices_are_torchs(case):
    record = load_cases("pool3d")[case]
    values, indices = CASES[case][1](Tensor(record["in0"]))
    np.testing.assert_array_equal(values.data, record["out"])
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, record["out_indices"])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("pool3d") == set(CASES)


def test_depth_1_pools_are_the_2d_ones(rng):
    x = rng.standard_normal((2, 3, 7, 8))
    volume = Tensor(x[:, :, None])
    y3, i3 = F.max_pool3d(volume, (1, 3, 2), (1, 2, 2), (0, 1, 1), (1, 2, 1), True, True)
    y2, i2 = F.max_pool2d(Tensor(x), (3, 2), 2, 1, (2, 1), True, True)
    np.testing.assert_array_equal(y3.data[:, :, 0], y2.data)
    np.testing.assert_array_equal(i3.data[:, :, 0], i2.data)  # depth 1: the same flat index
    np.testing.assert_array_equal(
        F.avg_pool3d(volume, (1, 3, 3), (1, 2, 1), (0, 1, 1), True, False).data[:, :, 0],
        F.avg_pool2d(Tensor(x), 3, (2, 1), 1, True, False).data)
    np.testing.assert_allclose(F.adaptive_avg_pool3d(volume, (1, 3, 5)).data[:, :, 0],
                               F.adaptive_avg_pool2d(Tensor(x), (3, 5)).data, rtol=1e-14)
    y3, i3 = F.adaptive_max_pool3d(volume, (None, 3, 5), True)
    y2, i2 = F.adaptive_max_pool2d(Tensor(x), (3, 5), True)
    np.testing.assert_array_equal(y3.data[:, :, 0], y2.data)
    np.testing.assert_array_equal(i3.data[:, :, 0], i2.data)
    restored = F.max_unpool3d(*F.max_pool3d(volume, (1, 2, 2), return_indices=True), (1, 2, 2))
    np.testing.assert_array_equal(restored.data[:, :, 0], F.max_unpool2d(
        *F.max_pool2d(Tensor(x), 2, return_indices=True), 2).data)


def test_adaptive_max_pool1d_is_the_2d_one_on_a_row(rng):
    x = rng.standard_normal((2, 3, 13))
    y1, i1 = F.adaptive_max_pool1d(Tensor(x), 5, True)
    y2, i2 = F.adaptive_max_pool2d(Tensor(x[:, :, None]), (1, 5), True)
    np.testing.assert_array_equal(y1.data, y2.data[:, :, 0])
    np.testing.assert_array_equal(i1.data, i2.data[:, :, 0])


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", [
    ((1, 2, 4, 5, 4), 2, None, 0, 1, False),
    ((1, 1, 5, 4, 5), (3, 2, 3), (2, 1, 2), (1, 1, 0), (1, 2, 1), True),
    ((2, 3, 4, 3), 2, 1, 1, 1, True),  # unbatched
])
def test_max_and_avg_pool3d_gradcheck(shape, kernel, stride, padding, dilation, ceil_mode, rng):
    # distinct values, so no two window entries tie for the maximum under the finite difference
    x = Tensor(rng.permutation(np.prod(shape)).reshape(shape) / 10.0, requires_grad=True)
    assert gradcheck(lambda x: F.max_pool3d(x, kernel, stride, padding, dilation, ceil_mode), x)
    assert gradcheck(lambda x: F.avg_pool3d(x, kernel, stride, padding, ceil_mode, False), x)
    assert gradcheck(lambda x: F.avg_pool3d(x, kernel, stride, padding, ceil_mode, True, 7), x)


@pytest.mark.parametrize("shape, output_size", [
    ((1, 2, 5, 4, 6), (2, 3, 4)),
    ((2, 3, 4, 3), (5, None, 2)),  # unbatched, a larger output
])
def test_adaptive_pools_3d_gradcheck(shape, output_size, rng):
    x = Tensor(rng.permutation(np.prod(shape)).reshape(shape) / 10.0, requires_grad=True)
    assert gradcheck(lambda x: F.adaptive_avg_pool3d(x, output_size), x)
    assert gradcheck(lambda x: F.adaptive_max_pool3d(x, output_size), x)
    assert gradcheck(lambda x: F.adaptive_max_pool1d(x[..., 0, 0], 3), x)


def test_unpool_gradcheck_and_gather(rng):
    x = Tensor(rng.standard_normal((2, 2, 3, 2, 2)), requires_grad=True)
    _, indices = F.max_pool3d(Tensor(rng.standard_normal((2, 2, 6, 4, 5))), 2,
                              return_indices=True)
    assert gradcheck(lambda x: F.max_unpool3d(x, indices, 2, output_size=(6, 4, 5)), x)
    y = F.max_unpool3d(x, indices, 2, output_size=(6, 4, 5))
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_array_equal(x.grad, np.take_along_axis(
        g.reshape(2, 2, -1), indices.data.reshape(2, 2, -1), axis=-1).reshape(x.shape))
    line = Tensor(rng.standard_normal((3, 4)), requires_grad=True)  # unbatched 1-d
    assert gradcheck(lambda v: F.max_unpool1d(v, np.array([[0, 3, 4, 7]] * 3), 2), line)


def _zeros(*shape):
    return Tensor(np.zeros(shape))


@pytest.mark.parametrize("make, error, message", [
    (lambda: F.max_pool3d(_zeros(4, 4, 4), 2), ValueError,
     r"max_pool3d: expected x \(N, C, D, H, W\) or unbatched \(C, D, H, W\), got \(4, 4, 4\)"),
    (lambda: F.max_pool3d(_zeros(1, 1, 2, 4, 4), 3), ValueError,
     r"max_pool3d: kernel \(3, 3, 3\) does not fit the input \(2, 4, 4\) with padding "
     r"\(0, 0, 0\)"),
    (lambda: F.max_pool3d(_zeros(1, 1, 4, 4, 4), (2, 2)), ValueError,
     r"max_pool3d: kernel_size: expected an int or a triple of ints, got \(2, 2\)"),
    (lambda: F.max_pool3d(_zeros(1, 1, 4, 4, 4), 2, padding=(0, 2, 0)), ValueError,
     r"max_pool3d: padding must be at most half the kernel, got padding \(0, 2, 0\) for kernel "
     r"\(2, 2, 2\)"),
    (lambda: F.max_pool3d(_zeros(1, 1, 4, 4, 4), 2, dilation=0), ValueError,
     r"max_pool3d: need dilation >= 1, got \(0, 0, 0\)"),
    (lambda: F.avg_pool3d(_zeros(1, 1, 4, 4, 4), 2, stride=0), ValueError,
     r"avg_pool3d: need kernel_size >= 1, stride >= 1, padding >= 0, got \(2, 2, 2\), "
     r"\(0, 0, 0\), \(0, 0, 0\)"),
    (lambda: F.avg_pool3d(_zeros(1, 1, 4, 4, 4), 2, divisor_override=0), ValueError,
     r"avg_pool3d: divisor_override must be a nonzero int or None, got 0"),
    (lambda: F.avg_pool3d(_zeros(4, 4), 2), ValueError,
     r"avg_pool3d: expected x \(N, C, D, H, W\) or unbatched \(C, D, H, W\), got \(4, 4\)"),
    (lambda: F.adaptive_avg_pool3d(_zeros(1, 1, 4, 4, 4), (2, 2)), ValueError,
     r"adaptive_avg_pool3d: output_size must be an int >= 0 or a triple of them \(None: the "
     r"input's size\), got \(2, 2\)"),
    (lambda: F.adaptive_max_pool3d(_zeros(4, 4), 2), ValueError,
     r"adaptive_max_pool3d: expected x \(N, C, D, H, W\) or unbatched \(C, D, H, W\), got "
     r"\(4, 4\)"),
    (lambda: F.adaptive_max_pool1d(_zeros(1, 2, 5), -1), ValueError,
     r"adaptive_max_pool1d: output_size must be >= 0, got -1"),
    (lambda: F.adaptive_max_pool1d(_zeros(1, 2, 5), (2, 2)), ValueError,
     r"adaptive_max_pool1d: output_size: expected an int or a 1-tuple of ints, got \(2, 2\)"),
    (lambda: F.adaptive_max_pool1d(_zeros(1, 1, 2, 5), 2), ValueError,
     r"adaptive_max_pool1d: expected x \(N, C, L\) or unbatched \(C, L\), got \(1, 1, 2, 5\)"),
    (lambda: F.max_unpool1d(_zeros(1, 2, 3), np.zeros((1, 2, 3), np.int64), 2, output_size=(9,)),
     ValueError, r"max_unpool1d: invalid output_size \(9,\): axis 0 must lie strictly between "
                 r"4 and 8, as in PyTorch"),
    (lambda: F.max_unpool1d(_zeros(1, 2, 3), np.full((1, 2, 3), 6), 2), ValueError,
     r"max_unpool1d: found an invalid index 6: the output planes are 6"),
    (lambda: F.max_unpool3d(_zeros(1, 1, 2, 2, 2), np.full((1, 1, 2, 2, 2), 64), 2),
     ValueError, r"max_unpool3d: found an invalid index 64: the output planes are 4x4x4"),
    (lambda: F.max_unpool3d(_zeros(1, 1, 2, 2, 2), np.zeros((1, 1, 2, 2, 2)), 2), TypeError,
     r"max_unpool3d: indices must be int64 \(max_pool3d's return_indices\), got float64"),
    (lambda: F.max_unpool3d(_zeros(1, 1, 2, 2, 2), np.zeros((1, 1, 2, 2), np.int64), 2),
     ValueError, r"max_unpool3d: expected indices of x's shape \(1, 1, 2, 2, 2\), got "
                 r"\(1, 1, 2, 2\)"),
    (lambda: F.max_unpool3d(_zeros(1, 1, 2, 2, 2), np.zeros((1, 1, 2, 2, 2), np.int64), 2,
                            output_size=(4, 4)), ValueError,
     r"max_unpool3d: output_size must have 3 or 5 elements, got \(4, 4\)"),
    (lambda: F.max_unpool3d(_zeros(2, 2), np.zeros((2, 2), np.int64), 2), ValueError,
     r"max_unpool3d: expected x \(N, C, D, H, W\) or unbatched \(C, D, H, W\), got \(2, 2\)"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
