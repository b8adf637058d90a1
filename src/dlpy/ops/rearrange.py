"""Ops that rearrange or copy values without arithmetic: expand, repeat (tile), flip, roll, tril,
triu. Backward sends each gradient back to where its value came from (summing copies)."""

from __future__ import annotations

import numpy as np

from dlpy.ops import check_dim
from dlpy.tensor import Op, Tensor, sum_to_shape


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def _sizes(name: str, sizes, what: str = "sizes") -> tuple[int, ...]:
    """``f(x, 2, 3)`` or ``f(x, (2, 3))`` -> (2, 3), each an int."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
        raise TypeError(f"{name}: {what} must be ints, got {sizes!r}")
    return tuple(int(n) for n in sizes)


def _dims(name: str, dims, ndim: int) -> tuple[int, ...]:
    """An int or a sequence of ints -> distinct non-negative axes."""
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    axes = tuple(check_dim(name, d, ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: dims {dims} name an axis twice")
    return axes


class Expand(Op):
    """y = x broadcast to a larger shape (a copy);  dx = g summed back to x's shape."""

    def __init__(self, shape: tuple[int, ...]):
        self.new_shape = shape

    def forward(self, x):
        self.shape = x.shape
        # a copy: every dlpy op makes a writable array of its own (torch.expand is a view)
        return np.array(np.broadcast_to(x, self.new_shape))

    def backward(self, grad_output):
        return (sum_to_shape(grad_output, self.shape),)

    def backward_graph(self, grad_output, output):
        return (sum_to_shape(grad_output, self.inputs[0].shape),)


class Repeat(Op):
    """y = x tiled ``reps`` times along each axis (torch.Tensor.repeat, np.tile);
    dx = the sum of g over the copies."""

    def __init__(self, reps: tuple[int, ...]):
        self.reps = reps

    def forward(self, x):
        self.shape = x.shape
        return np.tile(x, self.reps)

    def backward(self, grad_output):
        shape = (1,) * (len(self.reps) - len(self.shape)) + self.shape
        split = [n for pair in zip(self.reps, shape) for n in pair]  # (r0, s0, r1, s1, ...)
        grad = grad_output.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return (grad.reshape(self.shape),)

    def backward_graph(self, grad_output, output):
        shape = self.inputs[0].shape
        shape = (1,) * (len(self.reps) - len(shape)) + shape
        split = [n for pair in zip(self.reps, shape) for n in pair]
        grad = grad_output.reshape(split).sum(tuple(range(0, len(split), 2)))
        return (grad.reshape(self.inputs[0].shape),)


class Flip(Op):
    """y = x reversed along dims;  dx = g reversed along them."""

    def __init__(self, dims: tuple[int, ...]):
        self.dims = dims

    def forward(self, x):
        return np.flip(x, self.dims)

    def backward(self, grad_output):
        return (np.flip(grad_output, self.dims),)

    def backward_graph(self, grad_output, output):
        return (Flip(self.dims)(grad_output),)


class Roll(Op):
    """y = x shifted cyclically by shifts along dims (None: the flattened x, shape kept);
    dx = g shifted back."""

    def __init__(self, shifts, dims):
        self.shifts, self.dims = shifts, dims

    def forward(self, x):
        return np.roll(x, self.shifts, self.dims)

    def backward(self, grad_output):
        back = -self.shifts if self.dims is None else tuple(-s for s in self.shifts)
        return (np.roll(grad_output, back, self.dims),)

    def backward_graph(self, grad_output, output):
        back = -self.shifts if self.dims is None else tuple(-s for s in self.shifts)
        return (Roll(back, self.dims)(grad_output),)


class Triangle(Op):
    """y = the lower (tril) or upper (triu) triangle of the last two axes from a diagonal, zeros
    elsewhere;  dx = the same triangle of g."""

    def __init__(self, diagonal: int, upper: bool):
        self.diagonal, self.upper = diagonal, upper

    def forward(self, x):
        return (np.triu if self.upper else np.tril)(x, self.diagonal)

    def backward(self, grad_output):
        return ((np.triu if self.upper else np.tril)(grad_output, self.diagonal),)

    def backward_graph(self, grad_output, output):
        return (Triangle(self.diagonal, self.upper)(grad_output),)

    def describe(self) -> str:
        return "Triu" if self.upper else "Tril"


def expand(x: Tensor, *sizes) -> Tensor:
    """torch.expand: x broadcast to ``sizes`` (ints or one tuple); -1 keeps an axis's size, new
    axes go in front, only axes of length 1 grow. A copy, not a view."""
    shape = _shape_of(x)
    sizes = _sizes("expand", sizes)
    extra = len(sizes) - len(shape)
    if extra < 0:
        raise ValueError(f"expand: sizes {sizes} have fewer axes than x {shape}")
    new = []
    for i, n in enumerate(sizes):
        old = shape[i - extra] if i >= extra else None
        if n == -1 and old is not None:
            n = old
        if n < 0:
            where = "a new leading" if old is None else "an"
            raise ValueError(f"expand: size {n} is not allowed for {where} axis ({i}), got "
                             f"sizes {sizes} for x {shape}")
        if old is not None and old != n and old != 1:
            raise ValueError(f"expand: axis {i} of x {shape} has length {old}, which can only "
                             f"expand to itself (or -1), got sizes {sizes}")
        new.append(n)
    return Expand(tuple(new))(x)


def expand_as(x: Tensor, other) -> Tensor:
    """x expanded to other's shape (torch.Tensor.expand_as)."""
    return expand(x, _shape_of(other))


def repeat(x: Tensor, *sizes) -> Tensor:
    """torch.Tensor.repeat: x tiled sizes[i] times along axis i (np.tile); more sizes than axes
    add leading axes."""
    shape = _shape_of(x)
    sizes = _sizes("repeat", sizes)
    if len(sizes) < len(shape):
        raise ValueError(f"repeat: needs at least one size per axis of x {shape}, got {sizes}")
    if any(n < 0 for n in sizes):
        raise ValueError(f"repeat: sizes must be >= 0, got {sizes}")
    return Repeat(sizes)(x)


def flip(x: Tensor, dims) -> Tensor:
    """torch.flip: x reversed along each axis in dims (an int or a sequence)."""
    return Flip(_dims("flip", dims, len(_shape_of(x))))(x)


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """torch.roll: x shifted cyclically by shifts along dims (one shift per dim; dims None: the
    flattened x, shape kept); values pushed off one end come in at the other."""
    shape = _shape_of(x)
    if dims is None:
        if isinstance(shifts, (tuple, list)) and len(shifts) == 1:
            shifts = shifts[0]
        if isinstance(shifts, bool) or not isinstance(shifts, (int, np.integer)):
            raise TypeError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return Roll(int(shifts), None)(x)
    shifts = _sizes("roll", shifts if isinstance(shifts, (tuple, list)) else (shifts,),
                    "shifts")
    axes = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: needs one shift per dim, got shifts {shifts} and dims {axes}")
    axes = tuple(_dims("roll", d, len(shape))[0] for d in axes)
    return Roll(shifts, axes)(x)


def _triangle(name: str, x, diagonal, upper: bool) -> Tensor:
    shape = _shape_of(x)
    if len(shape) < 2:
        raise ValueError(f"{name}: x needs at least 2 axes, got shape {shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"{name}: diagonal must be an int, got {diagonal!r}")
    return Triangle(int(diagonal), upper)(x)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """torch.tril: x on and below the diagonal-th diagonal of its last two axes, 0 above."""
    return _triangle("tril", x, diagonal, upper=False)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """torch.triu: x on and above the diagonal-th diagonal of its last two axes, 0 below."""
    return _triangle("triu", x, diagonal, upper=True)
