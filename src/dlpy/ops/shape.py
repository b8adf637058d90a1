"""Shape ops: reshape, transpose, indexing, concat, stack. They move values, so backward moves the
gradient back to where each value came from."""

import numpy as np

from dlpy.tensor import Op, Tensor


class Reshape(Op):
    """y = x viewed with a new shape;  dx = g reshaped back."""

    def __init__(self, shape):
        self.new_shape = shape

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(self.new_shape)

    def backward(self, grad_output):
        return (grad_output.reshape(self.shape),)


class Transpose(Op):
    """y = x with axes permuted;  dx = g permuted back by the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def backward(self, grad_output):
        return (np.transpose(grad_output, np.argsort(self.axes)),)


class GetItem(Op):
    """y = x[index];  dx = zeros with g added at the indexed positions (repeats accumulate)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, grad_output):
        grad = np.zeros(self.shape, dtype=self.dtype)
        if _is_basic(self.index):  # slices select each position once: plain assignment
            grad[self.index] = grad_output
        else:
            np.add.at(grad, self.index, grad_output)
        return (grad,)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class Concat(Op):
    """y = inputs joined along an axis;  each input gets its slice of g."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.splits = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=self.axis)

    def backward(self, grad_output):
        return tuple(np.split(grad_output, self.splits, axis=self.axis))


class Stack(Op):
    """y = inputs stacked along a new axis;  each input gets its slice of g."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return np.stack(xs, axis=self.axis)

    def backward(self, grad_output):
        return tuple(np.moveaxis(grad_output, self.axis, 0))


def _shape_of(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


def reshape(x, shape):
    shape = tuple(int(n) for n in shape)
    size = int(np.prod(_shape_of(x)))
    known = int(np.prod([n for n in shape if n != -1]))
    if shape.count(-1) > 1 or (
        -1 not in shape and known != size or -1 in shape and (known == 0 or size % known)
    ):
        raise ValueError(f"reshape: cannot reshape {_shape_of(x)} ({size} values) into {shape}")
    return Reshape(shape)(x)


def transpose(x, axes=None):
    ndim = len(_shape_of(x))
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    axes = tuple(int(a) % ndim if ndim else int(a) for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(
            f"transpose: axes {axes} are not a permutation of the {ndim} axes of {_shape_of(x)}"
        )
    return Transpose(axes)(x)


def swapaxes(x, axis1, axis2):
    axes = list(range(len(_shape_of(x))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, list):
        index = np.asarray(index)
    try:
        np.empty(_shape_of(x), dtype=np.bool_)[index]
    except (IndexError, TypeError) as err:
        raise ValueError(
            f"getitem: index {index!r} is invalid for shape {_shape_of(x)}: {err}"
        ) from None
    return GetItem(index)(x)


def _check_join(name, xs, axis, same_axis):
    if not xs:
        raise ValueError(f"{name}: needs at least one tensor")
    shapes = [_shape_of(x) for x in xs]
    ndim = len(shapes[0])
    limit = ndim + (0 if same_axis else 1)
    if not -limit <= axis < limit or (same_axis and ndim == 0):
        raise ValueError(f"{name}: axis {axis} is out of range for shapes {shapes}")
    axis %= limit
    for s in shapes:
        other = [n for i, n in enumerate(s) if not (same_axis and i == axis)]
        first = [n for i, n in enumerate(shapes[0]) if not (same_axis and i == axis)]
        if len(s) != ndim or other != first:
            what = "all axes but the concat axis" if same_axis else "the same shape"
            raise ValueError(f"{name}: tensors need {what} to match, got {shapes} (axis {axis})")
    return axis


def concat(xs, axis=0):
    xs = list(xs)
    return Concat(_check_join("concat", xs, axis, True))(*xs)


def stack(xs, axis=0):
    xs = list(xs)
    return Stack(_check_join("stack", xs, axis, False))(*xs)
