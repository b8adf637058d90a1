"""Strides of CPU views as torch's (src/dlpy/ops/shape.py): a new axis from ``None`` or
unsqueeze, squeeze's kept strides and view's computeStride for size-1 axes. The numbers are
torch 2.13's; the torch-recorded grid is tests/fixtures/cases_semantics_cpu_view_strides.py."""

import numpy as np
import pytest

import dlpy


def _x():
    return dlpy.arange(24.0).reshape(4, 6)


@pytest.mark.parametrize("view, strides, offset", [
    (lambda x: x[None, 1:], (24, 6, 1), 6),
    (lambda x: x[:, None, 1:3], (6, 6, 1), 1),
    (lambda x: x[None, 1:, None, ::3], (24, 6, 6, 3), 6),
    (lambda x: x[None][:, 1:], (24, 6, 1), 6),
    (lambda x: x.t()[None, 1:], (6, 1, 6), 1),
    (lambda x: x[None, 1, 2], (24,), 8),
    (lambda x: x[..., None, ::2], (6, 6, 2), 0),
    (lambda x: x[None, :, 2], (24, 6), 2),
])
def test_a_new_axis_from_none_has_unsqueezes_stride_before_the_slicing(view, strides, offset):
    x = _x()
    v = view(x)
    assert v.stride() == strides
    assert v.storage_offset() == offset
    before = v.clone()
    x.add_(1)  # the view still reads x's memory
    np.testing.assert_array_equal(v.numpy(), before.numpy() + 1)


@pytest.mark.parametrize("view, strides", [
    (lambda x: x.t().unsqueeze(2), (1, 6, 1)),
    (lambda x: x[:, ::2].unsqueeze(2), (6, 2, 1)),
    (lambda x: x[:, :1].unsqueeze(1), (6, 1, 1)),
    (lambda x: x[:, 2].unsqueeze(1), (6, 1)),
    (lambda x: x[:, 1:2].view(1, 4, 1), (24, 6, 1)),
    (lambda x: x[None, None, 1:].squeeze(0), (24, 6, 1)),
    (lambda x: x[:, :1].t().unsqueeze(0), (1, 1, 6)),
])
def test_unsqueeze_squeeze_and_view_of_non_contiguous_tensors_keep_torchs_strides(view, strides):
    x = _x()
    v = view(x)
    assert v.stride() == strides
    assert v._is_view()
    x.add_(1)
    assert v._version == x._version == 1  # one memory, one version counter


def test_a_new_axis_of_an_expanded_tensor_stays_read_only():
    v = _x().expand(2, 4, 6)[:, None, 1:]
    assert v.stride() == (0, 24, 6, 1)
    with pytest.raises(RuntimeError, match="single memory location"):
        v.add_(1)


def test_channels_last_of_an_empty_tensor_reads_its_strides():
    empty = dlpy.empty(2, 0, 3)
    assert not empty[None].is_contiguous(memory_format=dlpy.channels_last)  # (6, 3, 3, 1)
    assert dlpy.empty(2, 0, 3, 4).is_contiguous()
    assert not dlpy.empty(1, 3, 0, 1).is_contiguous(memory_format=dlpy.channels_last)
    assert dlpy.empty(2, 0, 3).unsqueeze(3).is_contiguous()  # (numel 0: contiguous)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.complex64, np.int8,
                                   np.bool_])
@pytest.mark.parametrize("view, strides", [
    (lambda x: x.t().unsqueeze(2), (1, 6, 1)),
    (lambda x: x[:, ::2].unsqueeze(2), (6, 2, 1)),
    (lambda x: x[:, ::2][..., None, None], (6, 2, 1, 1)),
    (lambda x: x[:, ::2][:, None], (6, 6, 2)),
    (lambda x: x[1:, ::3][None, :, None], (18, 6, 6, 3)),
])
def test_a_restrided_view_of_a_strided_tensor_stays_a_view_of_its_memory(view, strides, dtype):
    x = dlpy.tensor(np.arange(1, 25).reshape(4, 6).astype(dtype))
    v = view(x)
    assert v.stride() == strides
    assert v.dtype == x.dtype
    assert np.shares_memory(v.numpy(), x.numpy())
    v.zero_()  # a write through the view reaches x, and both count it
    assert v._version == x._version == 1
    assert not v.numpy().any()
    assert np.count_nonzero(x.numpy() == 0) == v.numel()  # (x kept its other elements)


@pytest.mark.parametrize("make, view, strides, offset", [
    # numbers from torch 2.13 (tests/fixtures/cases_semantics_cpu_view_strides_empty.py)
    (lambda: dlpy.empty(2, 0, 3), lambda x: x.transpose(0, 2), (1, 3, 3), 0),
    (lambda: dlpy.empty(2, 0, 3), lambda x: x[1:, :, 1:], (3, 3, 1), 4),
    (lambda: dlpy.empty(2, 0, 3), lambda x: x.unsqueeze(1), (3, 0, 3, 1), 0),
    (lambda: dlpy.empty(2, 0, 3), lambda x: x.expand(4, 2, 0, 3), (0, 3, 3, 1), 0),
    (lambda: dlpy.empty(2, 0, 3), lambda x: x.diagonal(), (1, 6), 0),
    (lambda: dlpy.empty(2, 0, 3), lambda x: x.unfold(2, 2, 1), (3, 3, 1, 1), 0),
    (lambda: dlpy.empty(2, 0, 3), lambda x: x.chunk(3, 2)[1], (3, 3, 1), 1),
    (lambda: dlpy.empty(0, 3), lambda x: x[:, ::2], (3, 2), 0),
    (lambda: dlpy.arange(24.0).reshape(4, 6), lambda x: x[1:1], (6, 1), 6),
    (lambda: dlpy.arange(24.0).reshape(4, 6), lambda x: x[:, 1:1:2].t(), (2, 6), 1),
    (lambda: dlpy.arange(24.0).reshape(4, 6), lambda x: x[1:1].unsqueeze(2), (6, 1, 1), 6),
    (lambda: dlpy.arange(24.0).reshape(4, 6), lambda x: x[:, 0:0].t().unsqueeze(1),
     (1, 24, 6), 0),
])
def test_views_of_empty_tensors_have_torchs_strides_and_storage_offset(make, view, strides,
                                                                       offset):
    x = make()
    v = view(x)
    assert v.numel() == 0
    assert v.stride() == strides
    assert v.storage_offset() == offset
    assert v._is_view() and v.is_contiguous()
    x.add_(1)
    assert v._version == x._version == 1


def test_an_empty_tensor_in_channels_last_has_torchs_strides():
    x = dlpy.empty(2, 3, 0, 4)
    assert not x.is_contiguous(memory_format=dlpy.channels_last)
    y = x.contiguous(memory_format=dlpy.channels_last)
    assert y.stride() == (0, 1, 12, 3)  # the sizes' products: 0 outside the size-0 axis
    assert y.is_contiguous(memory_format=dlpy.channels_last)
    assert y.contiguous(memory_format=dlpy.channels_last) is y
