"""dlpy.layouts' one stride sort (iterator_order) and what uses it: dense_like (clone / *_like of
a tensor that is not non-overlapping and dense), iterator_layout (an element-wise result),
laid_as_inputs and the follows_inputs decorator. A negative stride (a numpy view torch cannot
have, np.flip's) counts by its absolute value: the order is the re-materialised array's."""

import numpy as np

import dlpy
from dlpy.layouts import (
    dense_like,
    follows_inputs,
    iterator_layout,
    iterator_order,
    laid_as_inputs,
    torch_strides,
)
from dlpy.tensor import Op


def _strides(array):
    return tuple(torch_strides(array))


def test_order_of_plain_layouts():
    a = np.arange(24.0).reshape(2, 3, 4)
    assert iterator_order(a.shape, [a]) is None  # row-major
    p = a.transpose(2, 0, 1)
    assert iterator_order(p.shape, [p]) == [1, 2, 0]
    e = np.broadcast_to(np.arange(3.0)[:, None], (3, 4))  # an expanded axis decides nothing
    assert iterator_order(e.shape, [e]) is None


def test_negative_strides_count_by_absolute_value():
    """A flipped view sorts as its copy: the flip of a transposed array as the transposed one."""
    a = np.arange(24.0).reshape(2, 3, 4)
    for view in (a[::-1], a[:, ::-1, ::-1], a.transpose(2, 0, 1)[::-1, :, ::-1],
                 a.transpose(1, 2, 0)[:, ::-1]):
        copy = view.copy(order="K")  # numpy's re-materialised view: positive strides, same order
        assert all(s > 0 for s in copy.strides)
        assert iterator_order(view.shape, [view]) == iterator_order(copy.shape, [copy])
        assert _strides(dense_like(view)) == _strides(copy)


def test_dense_like_round_trips_values_and_orders():
    a = np.arange(24.0).reshape(2, 3, 4)
    for view in (a.transpose(2, 0, 1)[:, None].repeat(1, 1), a[:, ::2], a[::-1].transpose(1, 0, 2),
                 np.broadcast_to(a.transpose(2, 0, 1)[:, None], (4, 3, 2, 3))):
        out = dense_like(view)
        out[...] = view
        assert np.array_equal(out, view) and out.shape == view.shape
        total = 1
        for stride, size in sorted(zip(torch_strides(out), out.shape)):  # dense: no gaps
            if size != 1:
                assert stride == total
                total *= size
    expanded = np.broadcast_to(np.arange(4.0).reshape(2, 1, 2).transpose(2, 1, 0), (2, 3, 2))
    out = dense_like(expanded, np.float32)  # (2, 3, 2) strides (1, 0, 2): axis 1 left in place
    assert out.dtype == np.float32 and _strides(out) == (1, 2, 6)


def test_iterator_layout_and_laid_as_inputs():
    a = np.arange(12.0).reshape(3, 4)
    t = a.T
    assert laid_as_inputs(a + 1, a, 2.0) is not None
    result = np.ascontiguousarray(t * 2)  # a row-major result of a transposed input
    laid = laid_as_inputs(result, t)
    assert _strides(laid) == _strides(t) and np.array_equal(laid, t * 2)
    flipped = t[::-1]  # a negative stride: laid out as the flip's copy (positive strides)
    out = iterator_layout(np.ascontiguousarray(flipped * 1), flipped)
    assert _strides(out) == _strides(flipped.copy(order="K")) == (1, 4)
    view = t[:2]  # a view of an input: the op chose its memory, kept
    assert iterator_layout(view, t) is view


def test_follows_inputs_wraps_subclasses_and_flat_kernels():
    @follows_inputs(numpy_order=False)
    class FlatAdd(Op):  # a kernel on the flattened values: a row-major result
        def forward(self, a, b):
            a, b = np.broadcast_arrays(a, b)
            return (a.reshape(-1) + b.reshape(-1)).reshape(a.shape)

    class FlatSub(FlatAdd):
        def forward(self, a, b):
            a, b = np.broadcast_arrays(a, b)
            return (a.reshape(-1) - b.reshape(-1)).reshape(a.shape)

    ones = dlpy.ones(4, dtype=dlpy.float64)
    x = dlpy.arange(12.0, dtype=dlpy.float64).view(4, 3).t()  # strides (1, 3)
    for op in (FlatAdd, FlatSub):
        out = op()(ones, x)  # the row-major first operand is broadcast: x decides
        assert out.stride() == (1, 3)
        assert op()(ones, x.contiguous()).stride() == (4, 1)
    assert np.array_equal(FlatSub()(ones, x).numpy(), (ones - x).numpy())
