"""Ops that rearrange or copy values without arithmetic: expand, repeat (tile), flip, roll, tril,
triu. Backward sends each gradient back to where its value came from (summing copies)."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from dlpy._caller import user_stacklevel
from dlpy.amp.state import FP32, KEEP, autocast_policy
from dlpy.layouts import storage_cloned_layout, suggested_format
from dlpy.ops import (
    ArgDtypeError,
    ArgError,
    DimError,
    NoKernelError,
    RepeatedDimError,
    check_dim,
    int_of,
)
from dlpy.tensor import Op, ShapeError, Tensor, _dense_memory, as_array, row_major, sum_to_shape


class DimArgError(DimError, RuntimeError):
    """A dim out of range where torch raises RuntimeError (rot90's dims): a DimError, and
    torch's RuntimeError."""


class StepTypeError(TypeError, ValueError):
    """A step that is not an int: torch's TypeError (a ValueError as dlpy's was)."""


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def _sizes(name: str, sizes, what: str = "sizes") -> tuple[int, ...]:
    """``f(x, 2, 3)`` or ``f(x, (2, 3))`` -> (2, 3), each an int."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
        ints = [n if isinstance(n, (int, np.integer)) and not isinstance(n, bool) else int_of(n)
                for n in sizes]
        if None in ints:
            raise TypeError(f"{name}: {what} must be ints, got {sizes!r}")
        sizes = ints
    return tuple(int(n) for n in sizes)


def _dims(name: str, dims, ndim: int, scalar_ok: bool = False) -> tuple[int, ...]:
    """An int or a sequence of ints -> distinct non-negative axes (``scalar_ok``: a tensor with
    no axes has one pseudo-axis, as check_dim's)."""
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    axes = tuple(check_dim(name, d, ndim, scalar_ok) for d in dims)
    if len(set(axes)) != len(axes):
        raise RepeatedDimError(f"{name}: dims {dims} name an axis twice")
    return axes


class Expand(Op):
    """y = x broadcast to a larger shape, a view of x's memory (a grown axis has stride 0, so
    its elements share memory: read-only, and in-place changes are refused, as torch's);
    dx = g summed back to x's shape."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, shape: tuple[int, ...]):
        self.new_shape = shape

    def forward(self, x):
        self.shape = x.shape
        if not x.size and type(x) is np.ndarray:  # torch's strides (inferExpandGeometry)
            return _empty_expand(x, self.new_shape)
        if np.prod(self.new_shape) == x.size:  # only new leading axes of length 1: writable
            return x.reshape(self.new_shape)
        return np.broadcast_to(x, self.new_shape)

    def backward(self, grad_output):
        return (sum_to_shape(grad_output, self.shape),)

    def backward_graph(self, grad_output, output):
        return (sum_to_shape(grad_output, self.inputs[0].shape),)


def _empty_expand(x: np.ndarray, shape) -> np.ndarray:
    """``x`` (empty) expanded to ``shape`` with torch's strides: x's where the size stays, 0
    where it grows, a new leading axis of size 1 stepping over the axes inside it."""
    from dlpy.ops.shape import empty_strides, empty_view

    strides, lead = empty_strides(x), len(shape) - x.ndim
    new = [0] * len(shape)
    for axis in range(len(shape) - 1, -1, -1):
        if axis >= lead:
            size, stride = x.shape[axis - lead], strides[axis - lead]
        else:
            size = 1
            stride = shape[axis + 1] * new[axis + 1] if axis + 1 < len(shape) else 1
        new[axis] = stride if size == shape[axis] else 0
    return empty_view(x, np.broadcast_to(x, shape), new)


class Repeat(Op):
    """y = x tiled ``reps`` times along each axis (torch.Tensor.repeat, np.tile);
    dx = the sum of g over the copies."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, reps: tuple[int, ...]):
        self.reps = reps

    def forward(self, x):
        self.shape = x.shape
        y = np.tile(x, self.reps)  # (all-1 reps copy x's layout: made row-major; a 0-d result
        if not y.size:  # stays 0-d); numpy's empty tile is a reshape of x (a view): torch's
            return y.copy()  # is a tensor of its own
        return y if y.flags.c_contiguous else np.ascontiguousarray(y)

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

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, dims: tuple[int, ...]):
        self.dims = dims

    def forward(self, x, dims=None):
        # a new tensor in x's memory order (torch's empty_like), not a reversed view: x's
        # strides where x is dense, else dense in the order of x's strides (an expanded x:
        # row-major), as torch's
        flipped = np.flip(x, self.dims if dims is None else dims)
        if type(x) is not np.ndarray or _dense_memory(x):
            return flipped.copy(order="K")
        from dlpy.layouts import dense_like

        out = dense_like(x)
        out[...] = flipped
        return out

    def backward(self, grad_output):
        # a new array in g's memory order, as torch's flip: never a reversed view (a hook or a
        # retained .grad would see its negative strides)
        return (np.flip(grad_output, self.dims).copy(order="K"),)

    def backward_graph(self, grad_output, output):
        return (Flip(self.dims)(grad_output),)


class Roll(Op):
    """y = x shifted cyclically by shifts along dims (None: the flattened x, shape kept);
    dx = g shifted back."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, shifts, dims):
        self.shifts, self.dims = shifts, dims

    def forward(self, x):
        out = np.roll(x, self.shifts, self.dims)
        if out.flags.c_contiguous or suggested_format(x) is not None:
            return out  # torch's layout: channels_last kept, any other order made contiguous
        return row_major(out)

    def backward(self, grad_output):
        back = -self.shifts if self.dims is None else tuple(-s for s in self.shifts)
        return (np.roll(grad_output, back, self.dims),)

    def backward_graph(self, grad_output, output):
        back = -self.shifts if self.dims is None else tuple(-s for s in self.shifts)
        return (Roll(back, self.dims)(grad_output),)


class Triangle(Op):
    """y = the lower (tril) or upper (triu) triangle of the last two axes from a diagonal, zeros
    elsewhere;  dx = the same triangle of g."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

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
        raise ShapeError(f"expand: sizes {sizes} have fewer axes than x {shape}")
    new = []
    for i, n in enumerate(sizes):
        old = shape[i - extra] if i >= extra else None
        if n == -1 and old is not None:
            n = old
        if n < 0:
            where = "a new leading" if old is None else "an"
            raise ShapeError(f"expand: size {n} is not allowed for {where} axis ({i}), got "
                             f"sizes {sizes} for x {shape}")
        if old is not None and old != n and old != 1:
            raise ShapeError(f"expand: axis {i} of x {shape} has length {old}, which can only "
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
        raise ShapeError(f"repeat: needs at least one size per axis of x {shape}, got {sizes}")
    if any(n < 0 for n in sizes):
        raise ArgError(f"repeat: sizes must be >= 0, got {sizes}")
    return Repeat(sizes)(x)


class Rot90(Op):
    """y = x rotated k quarter turns in the plane of dims (torch's one node, Rot90Backward0: a
    new tensor, never a view: k = 0 a clone, 2 a flip, odd k a flip transposed, in torch's
    memory order); dx = g rotated back."""

    saves_tensors = False
    complex_ok = True
    saves = ()

    def __init__(self, k: int, dims: tuple[int, int]):
        self.k, self.dims = k, dims

    def forward(self, x):
        k, (a, b) = self.k, self.dims
        if k == 0:  # torch's clone(memory_format=contiguous)
            return x.copy()
        if k == 2:
            return Flip.forward(self, x, (a, b))
        return np.swapaxes(Flip.forward(self, x, (b if k == 1 else a,)), a, b)

    def backward(self, grad_output):
        return (Rot90((-self.k) % 4, self.dims).forward(grad_output),)

    def backward_graph(self, grad_output, output):
        return (Rot90((-self.k) % 4, self.dims)(grad_output),)


def flip(input: Tensor, dims) -> Tensor:
    """torch.flip: x reversed along each axis in dims (an int or a sequence); a scalar's
    dim 0 (or -1) leaves it as it is."""
    ndim = len(_shape_of(input))
    axes = _dims("flip", dims, ndim, scalar_ok=True)
    return Flip(axes if ndim else ())(input)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """torch.roll: x shifted cyclically by shifts along dims (one shift per dim; dims None: the
    flattened x, shape kept); values pushed off one end come in at the other."""
    shape = _shape_of(input)
    if dims is None:
        if isinstance(shifts, (tuple, list)) and len(shifts) == 1:
            shifts = shifts[0]
        if isinstance(shifts, bool) or not isinstance(shifts, (int, np.integer)):
            raise ArgDtypeError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return Roll(int(shifts), None)(input)
    shifts = _sizes("roll", shifts if isinstance(shifts, (tuple, list)) else (shifts,),
                    "shifts")
    axes = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if not shifts:
        raise ArgError("roll: shifts must not be empty")
    if len(shifts) != len(axes):
        raise ArgError(f"roll: needs one shift per dim, got shifts {shifts} and dims {axes}")
    axes = tuple(_dims("roll", d, len(shape))[0] for d in axes)
    return Roll(shifts, axes)(input)


def _triangle(name: str, x, diagonal, upper: bool) -> Tensor:
    shape = _shape_of(x)
    if len(shape) < 2:
        raise ShapeError(f"{name}: x needs at least 2 axes, got shape {shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise TypeError(f"{name}: diagonal must be an int, got {diagonal!r}")
    return Triangle(int(diagonal), upper)(x)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """torch.tril: x on and below the diagonal-th diagonal of its last two axes, 0 above."""
    return _triangle("tril", input, diagonal, upper=False)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """torch.triu: x on and above the diagonal-th diagonal of its last two axes, 0 below."""
    return _triangle("triu", input, diagonal, upper=True)


# ----------------------------------------------------------------- more of torch's rearranging
# functions, composed from recorded ops (permute, reshape, slicing, concat), so gradients and
# gradients of gradients come free


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _axis_list(name: str, dims, ndim: int, error: type[DimError] = DimError) -> list[int]:
    dims = list(dims) if isinstance(dims, (tuple, list)) else [dims]
    out = [check_dim(name, d, ndim, scalar_ok=True, error=error) for d in dims]
    if len(set(out)) != len(out):
        raise RepeatedDimError(f"{name}: dims {dims} name an axis twice")
    return out


def movedim(input: Tensor, source, destination) -> Tensor:
    """torch.movedim: axes ``source`` moved to positions ``destination`` (ints or sequences of
    the same length), the others kept in order."""
    source = _axis_list("movedim", source, input.ndim)
    destination = _axis_list("movedim", destination, input.ndim)
    if len(source) != len(destination):
        raise ArgError(f"movedim: source {source} and destination {destination} must have "
                         "the same length")
    if input.ndim == 0:  # torch's alias: a view (AliasBackward0), not a copy
        from dlpy.ops.shape import GetItem

        return GetItem(())(input)
    perm: list = [None] * input.ndim
    for s, d in zip(source, destination):
        perm[d] = s
    rest = iter(i for i in range(input.ndim) if i not in source)
    return input.permute(*[next(rest) if p is None else p for p in perm])


moveaxis = movedim


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """torch.swapdims / swapaxes: axes dim0 and dim1 exchanged."""
    from dlpy.ops.shape import swapaxes

    return swapaxes(input, dim0, dim1)


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    """The shape the shapes broadcast to, as torch.broadcast_shapes (a Size)."""
    from dlpy.size import Size

    try:
        return Size(np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s)
                                           for s in shapes]))
    except ValueError:  # torch's RuntimeError
        raise ShapeError(f"broadcast_shapes: shapes {list(shapes)} cannot be broadcast "
                         "together") from None


def broadcast_to(input: Tensor, *shape, size=None) -> Tensor:
    """torch.broadcast_to: expand to ``shape`` (a tuple, or sizes as Tensor.broadcast_to
    takes them, or torch's keyword ``size``; a copy; its gradient sums back)."""
    if size is not None:
        shape = (size, *shape)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return expand(input, tuple(shape))


def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    """Each tensor expanded to their common shape."""
    for i, t in enumerate(tensors):
        if isinstance(t, (list, tuple)):  # torch: tensors as separate arguments
            raise TypeError(f"broadcast_tensors: expected Tensor as element {i}, got "
                            f"{type(t).__name__}")
    shape = broadcast_shapes(*[_shape_of(t) for t in tensors])
    # a tensor of that shape already is returned itself, as torch's (no view, no node)
    return tuple(t if isinstance(t, Tensor) and tuple(t.shape) == tuple(shape)
                 else expand(_tensor(t), shape) for t in tensors)


def _atleast(name: str, tensors, ndim: int):
    """atleast_nd: a tensor with fewer axes gains size-1 ones as torch (1-D (n,) -> (1, n) ->
    (1, n, 1)); a tuple for several tensors (or one sequence)."""
    single = len(tensors) == 1 and not isinstance(tensors[0], (tuple, list))
    items = tensors[0] if len(tensors) == 1 and not single else tensors
    from dlpy.node_names import named

    out = []
    for x in items:
        x = _tensor(x)
        if x.ndim < ndim:
            lifted = {0: (1,) * ndim, 1: ((1,) + x.shape + (1,))[:ndim],
                      2: x.shape + (1,)}[x.ndim]
            # torch's node: a view of a 0-d tensor, unsqueezes of the others
            x = named(x.reshape(lifted), "UnsqueezeBackward0") if x.ndim else x.reshape(lifted)
        out.append(x)
    return out[0] if single else tuple(out)


def atleast_1d(*tensors):
    return _atleast("atleast_1d", tensors, 1)


def atleast_2d(*tensors):
    return _atleast("atleast_2d", tensors, 2)


def atleast_3d(*tensors):
    return _atleast("atleast_3d", tensors, 3)


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """torch.rot90: rotated by 90 degrees k times, from the first axis of dims toward the
    second."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"rot90: k must be an int, got {k!r}")
    dims = _axis_list("rot90", dims, input.ndim, DimArgError)
    if len(dims) != 2 or input.ndim < 2:
        raise ArgError(f"rot90: expected two different dims of a tensor with 2+ axes, got "
                         f"dims {dims} for {input.ndim} axes")
    return Rot90(k % 4, tuple(dims))(input)


def fliplr(input: Tensor) -> Tensor:
    """Reversed along axis 1 (the columns); x needs 2+ axes."""
    if input.ndim < 2:
        raise ShapeError(f"fliplr: expected a tensor with 2+ axes, got shape {input.shape}")
    return flip(input, [1])


def flipud(input: Tensor) -> Tensor:
    """Reversed along axis 0 (the rows); x needs 1+ axes."""
    if input.ndim < 1:
        raise ArgError("flipud: expected a tensor with 1+ axes, got a scalar")
    return flip(input, [0])


def ravel(input: Tensor) -> Tensor:
    """torch's contiguous().view(-1): a view of input, or of its contiguous copy."""
    return input.contiguous().view(-1)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """x[..., start:start + length, ...] along dim (start may be negative), as torch.narrow."""
    if input.ndim == 0:
        raise ShapeError("narrow: cannot be applied to a tensor with no axes")
    if isinstance(start, Tensor):  # torch's narrow(Tensor start) overload
        if start.ndim or start.dtype.kind not in "iu":
            raise ArgDtypeError(f"narrow: start must be an 0-dim integral Tensor, got "
                                f"{start!r}")  # (torch's RuntimeError)
        start = int(start.data)
    if isinstance(length, Tensor) and length.dtype.kind in "iu" and length.numel() == 1:
        length = int(length.data.reshape(()))  # an int argument takes a one-value integral
        # Tensor, as torch's (its __index__): gpytorch's ``narrow(-1, 0, num_tasks)``
    for what, value in (("start", start), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"narrow: {what} must be an int, got {value!r}")
    if length < 0:  # (checked before the dim, as torch's)
        raise ArgError(f"narrow: length must be non-negative, got {length}")
    dim = check_dim("narrow", dim, input.ndim)
    size = input.shape[dim]
    begin = start + size if start < 0 else start
    if not 0 <= begin <= size:  # torch's IndexError ("start out of range")
        raise DimError(f"narrow: start {start} is out of range for dim {dim} of size {size}")
    if length < 0 or begin + length > size:
        raise ArgError(f"narrow: start {start} and length {length} do not fit dim {dim} "
                         f"of size {size}")
    return input[(slice(None),) * dim + (slice(begin, begin + length),)]


def _split_argument(name: str, indices_or_sections, keywords: dict):
    """The one of indices_or_sections and torch's keyword forms (sections=, indices=,
    tensor_indices_or_sections=) that was given."""
    given = {k: v for k, v in keywords.items() if v is not None}
    if indices_or_sections is not None:
        given["indices_or_sections"] = indices_or_sections
    if len(given) != 1:
        raise TypeError(f"{name}() takes one of indices_or_sections, sections, indices or "
                        f"tensor_indices_or_sections, got {sorted(given) or 'none'}")
    return next(iter(given.values()))


def tensor_split(input: Tensor, indices_or_sections=None, dim: int = 0, *, sections=None,
                 indices=None, tensor_indices_or_sections=None) -> tuple[Tensor, ...]:
    """torch.tensor_split: n near-equal pieces along dim (the first size % n one longer), or
    pieces cut at the given indices (a negative one counts from the end)."""
    indices_or_sections = _split_argument(
        "tensor_split", indices_or_sections, {"sections": sections, "indices": indices,
                                              "tensor_indices_or_sections":
                                              tensor_indices_or_sections})
    if input.ndim == 0:
        raise ArgError("tensor_split: expected a tensor with at least one axis, got shape ()")
    dim = check_dim("tensor_split", dim, input.ndim)
    size = input.shape[dim]
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dtype != np.int64:
            raise ArgDtypeError(f"tensor_split: expected tensor_indices_or_sections to have "
                                f"dtype int64, got {indices_or_sections.dtype}")
        if indices_or_sections.ndim > 1:
            raise ArgError(f"tensor_split: expected tensor_indices_or_sections to be a 0-d "
                           f"or 1-d tensor, got {indices_or_sections.ndim}-d")
        indices_or_sections = indices_or_sections.tolist()  # 0-d: sections; 1-d: indices
    if isinstance(indices_or_sections, (int, np.integer)) and \
            not isinstance(indices_or_sections, bool):
        n = int(indices_or_sections)
        if n < 1:
            raise ArgError(f"tensor_split: sections must be at least 1, got {n}")
        lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
        cuts = np.cumsum([0] + lengths).tolist()
    else:
        cuts = [0] + [int(i) + size if i < 0 else int(i) for i in indices_or_sections] + [size]
    pieces = []
    for begin, end in zip(cuts[:-1], cuts[1:]):
        begin, end = min(max(begin, 0), size), min(max(end, 0), size)
        pieces.append(input[(slice(None),) * dim + (slice(begin, max(begin, end)),)])
    return tuple(pieces)


def _split_along(name: str, x: Tensor, indices_or_sections, dim: int, min_ndim: int,
                 keywords: dict):
    indices_or_sections = _split_argument(name, indices_or_sections, keywords)
    if x.ndim < min_ndim:
        raise ShapeError(f"{name}: expected a tensor with {min_ndim}+ axes, got shape "
                         f"{x.shape}")
    if isinstance(indices_or_sections, (int, np.integer)) and (
            indices_or_sections == 0 or x.shape[dim] % indices_or_sections):
        raise ArgError(f"{name}: dim {dim} of size {x.shape[dim]} does not split into "
                         f"{indices_or_sections} equal pieces")
    return tensor_split(x, indices_or_sections, dim)


def hsplit(input: Tensor, indices_or_sections=None, *, sections=None,
           indices=None) -> tuple[Tensor, ...]:
    return _split_along("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1,
                        {"sections": sections, "indices": indices})


def vsplit(input: Tensor, indices_or_sections=None, *, sections=None,
           indices=None) -> tuple[Tensor, ...]:
    return _split_along("vsplit", input, indices_or_sections, 0, 2,
                        {"sections": sections, "indices": indices})


def dsplit(input: Tensor, indices_or_sections=None, *, sections=None,
           indices=None) -> tuple[Tensor, ...]:
    return _split_along("dsplit", input, indices_or_sections, 2, 3,
                        {"sections": sections, "indices": indices})


def _join(name: str, tensors, axis: int, lift) -> Tensor:
    from dlpy.ops.shape import concat

    if not isinstance(tensors, (tuple, list)):
        raise TypeError(f"{name}: expected a tuple or list of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:  # torch's RuntimeError
        raise ShapeError(f"{name}: expected a non-empty sequence of tensors")
    return concat([lift(_tensor(t)) for t in tensors], axis)


def hstack(tensors) -> Tensor:
    """Joined along axis 1 (axis 0 for 1-D tensors)."""
    first = _tensor(tensors[0]) if isinstance(tensors, (tuple, list)) and tensors else None
    axis = 0 if first is not None and first.ndim <= 1 else 1
    return _join("hstack", tensors, axis, atleast_1d)


def vstack(tensors) -> Tensor:
    """1-D tensors as rows, joined along axis 0."""
    return _join("vstack", tensors, 0, atleast_2d)


row_stack = vstack


def dstack(tensors) -> Tensor:
    """Joined along axis 2 after atleast_3d."""
    return _join("dstack", tensors, 2, atleast_3d)


def column_stack(tensors) -> Tensor:
    """0-D and 1-D tensors as columns, joined along axis 1."""
    return _join("column_stack", tensors, 1,
                 lambda t: t.reshape(t.data.size, 1) if t.ndim <= 1 else t)


def block_diag(*tensors) -> Tensor:
    """The tensors (0-D, 1-D: one row, or 2-D) on the diagonal of a matrix of zeros."""
    from dlpy.node_names import named
    from dlpy.ops.shape import concat

    blocks, given = [], []
    for t in tensors:
        if isinstance(t, (list, tuple)):  # torch: tensors as separate arguments
            raise TypeError(f"block_diag: expected Tensors, got {type(t).__name__}")
        t = _tensor(t)
        given.append(t)
        if t.ndim > 2:
            raise ShapeError(f"block_diag: expected tensors with at most 2 axes, got shape "
                             f"{t.shape}")
        blocks.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not blocks:
        from dlpy.tensor import default_dtype

        return Tensor(np.zeros((1, 0), default_dtype(None)))

    from dlpy.ops.promotion import result_type

    # torch.result_type of the tensors as given: a 0-d one is of lower priority (complex64
    # with a 0-d float64: complex64)
    dtype = result_type(*given)
    width = int(np.sum([b.shape[1] for b in blocks]))
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        parts = [Tensor(np.zeros((r, left), dtype)), b if b.dtype == dtype else b.astype(dtype),
                 Tensor(np.zeros((r, width - left - c), dtype))]
        rows.append(concat(parts, 1))
        left += c
    return named(concat(rows, 0), "BlockDiagBackward0")


_meshgrid_warned: list[bool] = []


def meshgrid(*tensors, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Grids of 1-D tensors: with "ij" the i-th output varies along axis i, with "xy" the first
    two axes swap (numpy's default). No ``indexing``: "ij", with torch's warning (once a
    process) that it will be required."""
    if indexing is None:
        indexing = "ij"
        from dlpy import torch_misc

        if not _meshgrid_warned or torch_misc._warn_always:
            import warnings

            from dlpy._caller import user_stacklevel

            _meshgrid_warned.append(True)
            warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass "
                          "the indexing argument.", UserWarning, stacklevel=user_stacklevel())
    if indexing not in ("ij", "xy"):
        raise ArgError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise ArgError("meshgrid: expected a non-empty list of tensors")
    tensors = [_tensor(t) for t in tensors]
    for t in tensors:
        if t.ndim > 1:
            raise ShapeError(f"meshgrid: expected 0-D or 1-D tensors, got shape {t.shape}")
    if len({t.dtype for t in tensors}) > 1:
        raise ArgDtypeError(f"meshgrid: expects all tensors to have the same dtype, got "
                        f"{[str(t.dtype) for t in tensors]}")
    sizes = [t.data.size for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[0], order[1] = 1, 0
    shape = tuple(sizes[i] for i in order)
    out = []
    for i, t in enumerate(tensors):
        where = [1] * len(tensors)
        where[order.index(i)] = sizes[i]
        out.append(expand(t.reshape(tuple(where)), shape))
    return tuple(out)


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of the 1-D tensors' elements, one a row (n1 * n2 * ..., k); one
    tensor is returned as it is."""
    from dlpy.ops.shape import stack

    for i, t in enumerate(tensors):
        if isinstance(t, (list, tuple)):  # torch: tensors as separate arguments
            raise TypeError(f"cartesian_prod: expected Tensors, got {type(t).__name__}")
        if np.ndim(as_array(t)) != 1:
            raise ShapeError(f"cartesian_prod: expected 1-D tensors, got tensor {i} of shape "
                             f"{np.shape(as_array(t))}")
    if len({as_array(t).dtype for t in tensors}) > 1:
        raise ArgDtypeError("cartesian_prod: expected tensors of one dtype (meshgrid's rule), got "
                        f"{[str(as_array(t).dtype) for t in tensors]}")
    if len(tensors) == 1:  # (the same tensor, as torch's)
        return _tensor(tensors[0])
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The r-length combinations of a 1-D tensor's elements, one a row, as itertools (and
    torch.combinations)."""
    import itertools

    if input.ndim != 1:
        raise ShapeError(f"combinations: expected a 1-D tensor, got shape {input.shape}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
        raise ArgError(f"combinations: r must be a non-negative int, got {r!r}")
    from dlpy.ops.shape import stack

    if r == 0:
        return Tensor(np.zeros((0,), dtype=input.dtype))
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    index = np.array(list(pick(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    # (no combination, r > n: still the stack of empty picks, in the graph as torch's)
    return stack([input[index[:, j]] for j in range(r)], 1)  # StackBackward0, as torch's


_cross_warned = False  # torch warns once a process (set_warn_always: every time)
_engine = sys.modules["dlpy.tensor"]  # (the module; dlpy.tensor the attribute is a function)


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The 3-D cross product along dim (None: the first axis of size 3), broadcast."""
    from dlpy.ops.pointwise import _tensors

    _tensors("cross", input, other)
    from dlpy.ops.shape import stack

    if len(_shape_of(input)) != len(_shape_of(other)):
        raise ShapeError(f"cross: input and other must have the same number of axes, got "
                         f"shapes {_shape_of(input)} and {_shape_of(other)}")
    if isinstance(input, Tensor) and isinstance(other, Tensor) and input.dtype != other.dtype:
        raise ArgDtypeError(f"cross: expected input and other to have the same dtype, got "
                            f"{input.dtype} and {other.dtype}")
    if isinstance(input, Tensor) and input.dtype == np.bool_:  # torch's kernel has none
        raise NoKernelError("cross: \"cross\" not implemented for 'Bool'")
    if dim is None:  # torch.cross's deprecated default: input's own first axis of size 3
        global _cross_warned
        if not _cross_warned or _engine._warn_always():
            _cross_warned = True
            warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\n"
                          "Please either pass the dim explicitly or simply use "
                          "torch.linalg.cross.\nThe default value of dim will change to agree "
                          "with that of linalg.cross in a future release.", UserWarning,
                          stacklevel=user_stacklevel())
        sizes = [i for i, n in enumerate(_shape_of(input)) if n == 3]
        if not sizes:
            raise ShapeError(f"cross: no axis of size 3 in shape {_shape_of(input)}")
        dim = sizes[0]
    dim = check_dim("cross", dim, len(_shape_of(input)))
    sizes = (_shape_of(input)[dim], _shape_of(other)[dim])
    if sizes != (3, 3):  # (the cross axis is not broadcast, as torch's)
        raise ShapeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                         f"{sizes[0]} and {sizes[1]}")
    input, other = broadcast_tensors(input, other)

    def part(t, i):
        return t[(slice(None),) * dim + (i,)]

    a0, a1, a2 = (part(input, i) for i in range(3))
    b0, b1, b2 = (part(other, i) for i in range(3))
    from dlpy.node_names import named  # torch's one kernel (a composite here)

    return named(stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim),
                 "LinalgCrossBackward0")


class ChebyshevDistance(Op):
    """y = max |x| over the last axis (the inf-norm of differences in cdist and pdist);
    dx = g * sign(x) at every position reaching the max, ties NOT shared: torch's cdist and
    pdist kernels' gradient (vector_norm's shares them)."""

    saves = (0, "output")  # read by backward (in-place checks, Op.saves)

    def forward(self, x):
        self.x = x
        self.y = np.abs(x).max(-1, initial=0)  # (0 for empty rows, as torch)
        return self.y

    def backward(self, grad_output):
        y = self.y[..., None]
        reached = np.abs(self.x) == y
        return (np.where(reached, grad_output[..., None] * np.sign(self.x), 0)
                .astype(self.x.dtype, copy=False),)

    def backward_graph(self, grad_output, output):
        # sign(x) at the max is piecewise constant: g times a constant array
        x = self.x
        slope = np.where(np.abs(x) == self.y[..., None], np.sign(x), 0).astype(x.dtype)
        return (grad_output.unsqueeze(-1) * Tensor(slope),)


class HammingDistance(Op):
    """y = the number of nonzero x over the last axis (the 0-"norm" of differences in cdist and
    pdist);  dx = 0, as torch's cdist and pdist kernels (vector_norm's gives none)."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return np.count_nonzero(x, axis=-1).astype(x.dtype)

    def backward(self, grad_output):
        return (np.zeros(self.shape, self.dtype),)

    def backward_graph(self, grad_output, output):
        return (grad_output.unsqueeze(-1) * Tensor(np.zeros(self.shape, self.dtype)),)


def distance(difference: Tensor, p: float) -> Tensor:
    """The p-norm of difference along its last axis, as torch's cdist / pdist (their gradient
    at p = inf and p = 0 differs from vector_norm's)."""
    from dlpy.ops.reduce import norm

    if p == float("inf"):
        return ChebyshevDistance()(difference)
    if p == 0:
        return HammingDistance()(difference)
    return norm(difference, p, dim=-1)


@autocast_policy(FP32)
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """Distances between the rows of x1 (..., P, M) and of x2 (..., R, M): (..., P, R), the
    p-norm (p >= 0) of each difference (gradient 0 where two rows are equal). ``compute_mode``
    is checked and otherwise ignored: the differences are always taken directly (torch's
    exact mode, "donot_use_mm_for_euclid_dist")."""
    from dlpy.ops.pointwise import _tensors

    _tensors("cdist", x1, x2)
    if compute_mode not in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"cdist: {compute_mode!r} is not a valid value for compute_mode")
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(f"cdist: expected (..., P, M) and (..., R, M), got {x1.shape} and "
                         f"{x2.shape}")
    if not p >= 0:
        raise ArgError(f"cdist: p must be non-negative, got {p}")
    if x1.dtype != x2.dtype:
        raise ArgDtypeError(f"cdist: expected x1 and x2 of one dtype, got {x1.dtype} and "
                            f"{x2.dtype}, as torch")
    if x1.dtype.kind == "c":  # (torch's: floating-point dtypes only)
        raise ArgDtypeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype}")
    if x1.dtype.kind in "fV" and x1.dtype.itemsize <= 2:  # float16, bfloat16, float8
        raise NotImplementedError(f"cdist: not implemented for {x1.dtype}, as torch (outside "
                                  f"autocast, which computes it in float32)")
    from dlpy.node_names import named

    # torch's node: its matrix-product path (p = 2, forced or more than 25 rows) ends in a view
    by_products = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == "use_mm_for_euclid_dist_if_necessary"
        and (x1.shape[-2] > 25 or x2.shape[-2] > 25)))
    return named(distance(x1.unsqueeze(-2) - x2.unsqueeze(-3), p),
                 "ViewBackward0" if by_products else "CdistBackward0")


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:  # noqa: N803
    """torch.vander: (n,) -> (n, N), columns x^(N-1) ... x^0 (x^0 ... x^(N-1) when
    increasing); a stack of running products, so the gradient is the products'."""
    from dlpy.ops.arithmetic import mul
    from dlpy.ops.shape import stack

    shape = _shape_of(x)
    if len(shape) != 1:
        raise ShapeError(f"vander: expected a 1-D tensor, got shape {shape}")
    if N is None:
        N = shape[0]  # noqa: N806
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 0:
        raise ArgError(f"vander: N must be a non-negative int, got {N!r}")
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.dtype.kind in "biu" and x.dtype != np.int64:  # torch computes integers in int64
        from dlpy.ops.arithmetic import cast

        x = cast(x, np.int64)
    columns = [Tensor(np.ones(shape, dtype=x.dtype))][:N]
    while len(columns) < N:
        columns.append(x if len(columns) == 1 else mul(columns[-1], x))
    if not columns:
        return Tensor(np.zeros((shape[0], 0), dtype=x.dtype))
    return stack(columns if increasing else columns[::-1], axis=1)


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """torch.diagflat: x flattened onto the offset-th diagonal of a square matrix."""
    from dlpy.ops.linalg import diag
    from dlpy.ops.shape import reshape

    return diag(reshape(input, (-1,)), offset)


def inner(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.inner: the sum over the last axes of both, a's free axes then b's (a product when
    either is a scalar)."""
    from dlpy.ops.pointwise import _tensors

    _tensors("inner", input, other)
    from dlpy.ops.arithmetic import mul
    from dlpy.ops.einsum import tensordot

    a, b = _shape_of(input), _shape_of(other)
    if not a or not b:
        return mul(input, other)
    if a[-1] != b[-1]:
        raise ShapeError(f"inner: last dimensions must match, got shapes {a} and {b}")
    return tensordot(input, other, dims=([len(a) - 1], [len(b) - 1]))


@autocast_policy(KEEP)  # off torch's CPU autocast list
def vdot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.vdot: sum(conj(input) * other) of two 1-D tensors of one length (a real input is
    its own conjugate)."""
    from dlpy.ops.pointwise import _tensors

    _tensors("vdot", input, other)
    from dlpy.node_names import named
    from dlpy.ops.complex import conj
    from dlpy.ops.einsum import vector_dot

    return named(vector_dot("vdot", conj(input), "other", other), "VdotBackward0")


# ----------------------------------------------------------------- Tensor.unfold (sliding
# windows), tile, unflatten, sum_to_size, select and the *_scatter family
class SlidingWindows(Op):
    """y = the windows x[..., i*step : i*step + size, ...] along dim, the window axis last
    (torch.Tensor.unfold): a view of x's memory, as torch's, read-only where windows overlap
    (step < size);  dx = each window's gradient added back where it came from."""

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, dim: int, size: int, step: int):
        self.dim, self.size, self.step = dim, size, step

    def forward(self, x):
        self.shape = x.shape
        if not x.size and type(x) is np.ndarray:  # torch's strides: the windows' step, then
            from dlpy.ops.shape import empty_strides, empty_view  # the axis's own

            dim, strides = self.dim, empty_strides(x)
            shape = list(x.shape)
            shape[dim] = (shape[dim] - self.size) // self.step + 1
            return empty_view(x, np.empty(shape + [self.size], x.dtype), strides[:dim] + [
                strides[dim] * self.step] + strides[dim + 1:] + [strides[dim]])
        windows = np.lib.stride_tricks.sliding_window_view(
            x, self.size, axis=self.dim,
            writeable=x.flags.writeable and (self.step >= self.size or x.shape[self.dim] == 0))
        index = (slice(None),) * self.dim + (slice(None, None, self.step),)
        return windows[index]

    def backward(self, grad_output):
        dim, step = self.dim, self.step
        grad = np.zeros(self.shape, dtype=grad_output.dtype)
        count = grad_output.shape[dim]
        for k in range(self.size):  # the k-th element of every window
            index = (slice(None),) * dim + (slice(k, k + step * (count - 1) + 1, step),)
            grad[index] += grad_output[..., k]
        return (grad,)

    def backward_graph(self, grad_output, output):
        return (WindowsGrad(self)(grad_output),)

    def describe(self) -> str:
        return f"SlidingWindows(dim={self.dim}, size={self.size}, step={self.step})"


class WindowsGrad(Op):
    """SlidingWindows' gradient as an op, for create_graph (torch's UnfoldBackwardBackward0):
    y = each window's values added back where they came from;  dg = the windows of dy."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, windows: SlidingWindows):
        self.windows = SlidingWindows(windows.dim, windows.size, windows.step)
        self.windows.shape = windows.shape

    def forward(self, grad):
        return self.windows.backward(grad)[0]

    def backward(self, grad_output):
        return (np.ascontiguousarray(self.windows.forward(grad_output)),)

    def backward_graph(self, grad_output, output):
        windows = self.windows
        return (SlidingWindows(windows.dim, windows.size, windows.step)(grad_output),)


def sliding_windows(x: Tensor, dim: int, size: int, step: int) -> Tensor:
    """torch.Tensor.unfold(dim, size, step): every window of ``size`` values along dim, ``step``
    apart; dim becomes the number of windows and a last axis of length size is added."""
    shape = _shape_of(x)
    dim = check_dim("unfold", dim, len(shape), scalar_ok=True)
    length = shape[dim] if shape else 1
    for what, value in (("size", size), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"unfold: {what} must be an int, got {value!r}")
    if not 0 <= size <= length:
        raise ShapeError(f"unfold: size {size} must be in [0, {length}] (the length of dim "
                         f"{dim})")
    if step < 1:
        raise ShapeError(f"unfold: step must be positive, got {step}")
    if not shape:  # (torch's node: UnfoldBackward0)
        from dlpy.node_names import named

        return named(x.reshape(1)[:size], "UnfoldBackward0")
    return SlidingWindows(dim, int(size), int(step))(x)


def tile(input: Tensor, dims) -> Tensor:
    """torch.tile: repeat with ones prepended to ``dims`` when it has fewer entries than x
    has axes."""
    dims = _sizes("tile", (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims),
                  "dims")
    ndim = len(_shape_of(input))
    return repeat(input, (1,) * (ndim - len(dims)) + dims)


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """torch.unflatten: axis dim split into ``sizes`` (one entry may be -1)."""
    shape = _shape_of(input)
    # (a 0-d tensor's dim: torch's RuntimeError, "unflatten got an unexpected error")
    dim = check_dim("unflatten", dim, len(shape), error=DimArgError if not shape else DimError)
    sizes = _sizes("unflatten", (sizes,) if isinstance(sizes, (int, np.integer)) else
                   tuple(sizes))
    known = int(np.prod([n for n in sizes if n != -1]))
    filled = tuple(shape[dim] // known if n == -1 and known else n for n in sizes)
    if sizes.count(-1) > 1 or not sizes or int(np.prod(filled)) != shape[dim]:
        raise ShapeError(f"unflatten: sizes {sizes} do not multiply to the size "
                         f"{shape[dim]} of dim {dim}")
    return input.reshape(shape[:dim] + filled + shape[dim + 1:])


def sum_to_size(x: Tensor, *size) -> Tensor:
    """torch.Tensor.sum_to_size: x summed down to ``size`` (which must broadcast to x's
    shape): the undoing of broadcasting, recorded."""
    from dlpy.ops.reduce import sum as _sum

    size = _sizes("sum_to_size", size, "size")
    shape = _shape_of(x)
    try:
        fits = len(size) <= len(shape) and np.broadcast_shapes(size, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"sum_to_size: size {size} is not expandable to the tensor's shape "
                         f"{shape}")
    extra = len(shape) - len(size)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(size)
                                       if n == 1 and shape[extra + i] != 1)
    if not axes:  # the same size: x itself, as torch's
        return x
    out = _sum(x, axes, True)  # torch's sum(dims, keepdim=True), then a view of it where x
    return out.reshape(size) if extra else out  # had leading axes


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """torch.select: x[..., index, ...] along dim (that axis removed)."""
    shape = _shape_of(input)
    dim = check_dim("select", dim, len(shape))
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        if int_of(index) is None:  # (a 0-d integer tensor is taken, as torch's)
            raise TypeError(f"select: index must be an int, got {index!r}")
        index = int_of(index)
    if not -shape[dim] <= index < shape[dim]:
        raise IndexError(f"select: index {index} is out of range for dim {dim} of size "
                         f"{shape[dim]}")
    return input[(slice(None),) * dim + (int(index),)]


def _scatter_into(name: str, x: Tensor, src, index) -> Tensor:
    """x with x[index] = src (src of exactly x[index]'s shape): the gradient of x is zero
    there, src's is the gradient at those positions."""
    from dlpy.node_names import named
    from dlpy.ops.complex import refuse_complex_grad
    from dlpy.tensor import _put

    target = np.empty(_shape_of(x), dtype=bool)[index].shape
    if _shape_of(src) != target:
        raise ShapeError(f"{name}: src must have shape {target}, got {_shape_of(src)}")
    # torch's node: SelectScatterBackward0 ... (one kernel), not an in-place write's CopySlices
    kind = "".join(part.capitalize() for part in name.split("_"))
    out = storage_cloned_layout(named(_put(x, src, index), f"{kind}Backward0"), x)
    if name != "diagonal_scatter":  # (torch's derivatives of the other two are real-only)
        refuse_complex_grad(name, out.dtype, x, src)
    return out


def select_scatter(input: Tensor, src, dim: int, index: int) -> Tensor:
    """torch.select_scatter: x with x.select(dim, index) replaced by src."""
    dim = check_dim("select_scatter", dim, len(_shape_of(input)))
    select(input, dim, index)  # checks index
    return _scatter_into("select_scatter", input, src, (slice(None),) * dim + (int(index),))


def slice_scatter(input: Tensor, src, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """torch.slice_scatter: x with x[..., start:end:step, ...] (along dim) replaced by src."""
    dim = check_dim("slice_scatter", dim, len(_shape_of(input)))
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        if int_of(step) is None:  # (a 0-d integer tensor is taken, as torch's)
            raise StepTypeError(f"slice_scatter: step must be a positive int, got {step!r}")
        step = int_of(step)
    if step < 1:  # torch's RuntimeError ("slice step must be positive")
        raise ArgError(f"slice_scatter: step must be a positive int, got {step!r}")
    return _scatter_into("slice_scatter", input, src,
                         (slice(None),) * dim + (slice(start, end, step),))


def diagonal_scatter(input: Tensor, src, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """torch.diagonal_scatter: x with x.diagonal(offset, dim1, dim2) replaced by src."""
    shape = _shape_of(input)
    dim1 = check_dim("diagonal_scatter", dim1, len(shape))
    dim2 = check_dim("diagonal_scatter", dim2, len(shape))
    if dim1 == dim2:
        raise ArgError(f"diagonal_scatter: dim1 and dim2 must differ, got {dim1} twice")
    positions = np.diagonal(np.arange(int(np.prod(shape))).reshape(shape), offset, dim1, dim2)
    return _scatter_into("diagonal_scatter", input, src, np.unravel_index(positions, shape))
