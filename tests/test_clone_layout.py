"""clone() / *_like(preserve_format) of a tensor that is not non-overlapping and dense: the copy's
strides are torch's infer_dense_strides (the input's axis order, an expanded axis left in place),
so an expanded tensor's clone is contiguous, as torch's."""

import numpy as np

import dlpy


def _base():
    return dlpy.arange(24.0).reshape(2, 3, 4)


def test_clone_of_expanded_is_row_major_and_equal():
    a = _base()[None].expand(3, 2, 3, 4)
    c = a.clone()
    assert c.stride() == (24, 12, 4, 1) and c.is_contiguous()
    assert np.array_equal(c.numpy(), a.numpy())
    c.fill_(0.0)  # a copy: the source is untouched
    assert float(_base().sum()) == float(a[0].sum())
    assert dlpy.arange(3.0)[None].expand(2, 3).clone().stride() == (3, 1)
    assert dlpy.arange(3.0)[:, None].expand(3, 4).clone().stride() == (4, 1)


def test_clone_keeps_axis_order_of_permuted_expanded_and_strided():
    a = _base()
    assert a.permute(2, 0, 1)[:, None].expand(4, 3, 2, 3).clone().stride() == (1, 12, 36, 4)
    assert a.transpose(0, 2)[..., None].expand(4, 3, 2, 5).clone().stride() == (5, 20, 60, 1)
    assert a[:, ::2].clone().stride() == (8, 4, 1)
    assert a.transpose(0, 2).clone().stride() == (1, 4, 12)  # dense: the same strides


def test_like_factories_of_expanded_follow_clone():
    e = _base().permute(2, 0, 1)[:, None].expand(4, 3, 2, 3)
    for make in (dlpy.empty_like, dlpy.zeros_like, dlpy.ones_like):
        assert make(e).stride() == (1, 12, 36, 4)
    assert float(dlpy.ones_like(e).sum()) == 72.0
    assert dlpy.zeros_like(_base()[None].expand(2, 2, 3, 4)).stride() == (24, 12, 4, 1)


def test_clone_of_expanded_gradient_sums_back():
    x = dlpy.arange(3.0, requires_grad=True)
    (x[None].expand(2, 3).clone() * dlpy.arange(6.0).reshape(2, 3)).sum().backward()
    assert x.grad.tolist() == [3.0, 5.0, 7.0]
