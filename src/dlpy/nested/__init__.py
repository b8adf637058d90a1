"""torch.nested: the default strided layout (dlpy/nested/strided.py: components that may differ
in every dim, ``nested_tensor([a, b])``) and the jagged layout, below.

The jagged layout: batches of sequences of different lengths, no padding.

    x = dlpy.nested.as_nested_tensor([a, b, c], layout=dlpy.nested.jagged)  # a (3, d), b (5, d)
    h = F.linear(x, w)                         # (B, j, d) -> (B, j, out) on x.values()
    q = h.unflatten(-1, (heads, head_dim)).transpose(1, 2)              # (B, H, j, D)
    y = F.scaled_dot_product_attention(q, q, q)                         # each sequence alone
    dense = dlpy.nested.to_padded_tensor(y.transpose(1, 2), 0.0)

Supported on a nested tensor (ragged dim 1, or 2 after ``transpose(1, 2)``): the element-wise
functions (methods and F.relu / F.gelu / ...), + - * / ** with a nested tensor of the same
structure or a dense tensor that broadcasts to the dims after the ragged one (or (B, 1, *inner)),
F.linear and matmul with a dense weight, F.softmax / F.log_softmax over the last dim or the
ragged dim, F.layer_norm over the last dim, sum / mean (all, over the ragged dim: dense, or
another dim), F.scaled_dot_product_attention, F.dropout, dlpy.functional.cat along a dim after
the ragged one, transpose, permute, unflatten, flatten, unbind; on the dims after the batch and
ragged ones: reshape/view (ragged dim 1), narrow, split, chunk (also along the batch dim: whole
sequences), unsqueeze/squeeze, expand, select, indexing (``nt[..., 1:3]``); masked_select
makes one of a dense tensor and a mask. Anything else raises NotImplementedError naming the op,
as torch refuses it (the batch or ragged dim). See nested_tensor.py for the representation.
"""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.device import as_device, check_pin_memory
from dlpy.nested.nested_tensor import (
    NestedTensor,
    cat,
    jagged,
    scaled_dot_product_attention,
)
from dlpy.nested.nested_tensor import to_padded_tensor as _jagged_padded
from dlpy.nested.strided import StridedNestedTensor
from dlpy.nested.strided import to_padded_tensor as _strided_padded
from dlpy.ops import ArgDtypeError, ArgError, ArgTypeAssertionError, NoKernelError
from dlpy.sparse_tensor import strided
from dlpy.tensor import Tensor, as_array

__all__ = [
    "NestedTensor", "StridedNestedTensor", "as_nested_tensor", "cat", "jagged", "masked_select",
    "narrow", "nested_tensor",
    "nested_tensor_from_jagged", "scaled_dot_product_attention", "to_padded_tensor",
]


def _check_layout(name: str, layout) -> None:
    if layout is not None and layout is not jagged and layout is not strided:
        raise ArgError(f"{name}: Specified layout is unsupported for nested tensors: "
                       f"{layout!r} (dlpy.strided, the default, or dlpy.nested.jagged)")


def _strided_components(name: str, tensor_list, dtype=None) -> list:
    """The components of a strided nested tensor: tensors (or nested lists of numbers) of one
    number of dims, in ``dtype`` (None: the first one's; torch casts the others to it)."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"{name}: Only lists (List[Tensor] and List[List...[Scalar]]) are "
                        f"accepted in nested_tensor, got {type(tensor_list).__name__}")
    components = [_as_component(t) for t in tensor_list]
    for i, c in enumerate(components):
        if c.ndim != components[0].ndim:
            raise ArgError(f"{name}: All Tensors given to nested_tensor must have the same "
                           f"dimension. Found dimension {c.ndim} for Tensor at index {i} and "
                           f"dimension {components[0].ndim} for Tensor at index 0.")
    if not components:
        return components
    target = components[0].dtype if dtype is None else dtype
    return [c if c.dtype == target else c.to(target) for c in components]


def _strided(components, dtype, ndim: int | None = None) -> StridedNestedTensor:
    if dtype is not None:
        components = [c.to(dtype) for c in components]
    dtype = components[0].dtype if components else (dtype or _default_dtype())
    return StridedNestedTensor(components, dtype,
                               components[0].ndim + 1 if components else (ndim or 1))


def _default_dtype():
    from dlpy.torch_functions import get_default_dtype

    return get_default_dtype()


def _components(name: str, tensor_list) -> list:
    """The shapes of the components (tensors, or nested lists of numbers where ``name`` takes
    them): a non-empty list of one dtype, each of at least one dim, equal after the first."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"{name}: expected a non-empty list of tensors, got "
                        f"{type(tensor_list).__name__}")
    if not tensor_list:  # torch's RuntimeError; a TypeError as before
        raise ArgDtypeError(f"{name}: cannot construct a nested tensor from an empty list")
    shapes = [np.shape(as_array(t)) for t in tensor_list]
    for shape in shapes:
        if len(shape) == 0 or shape[1:] != shapes[0][1:]:
            raise ArgError(f"{name}: the components must have at least one dim and equal "
                           f"dims after the first (the ragged one), got shapes {shapes}")
    dtypes = {t.dtype for t in tensor_list if isinstance(t, Tensor)}
    if len(dtypes) > 1:
        raise ArgError(f"{name}: all the components must have the same dtype, got "
                       f"{sorted(str(d) for d in dtypes)}")
    return shapes


def _as_component(t) -> Tensor:
    """A component as a Tensor (a list of numbers: torch.tensor's dtype, float32 for floats)."""
    from dlpy.creation import tensor

    return t if isinstance(t, Tensor) else tensor(t)


def _offsets_of(lengths) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def nested_tensor(tensor_list, *, dtype=None, layout=None, device=None, requires_grad=False,
                  pin_memory=False) -> NestedTensor:
    """torch.nested.nested_tensor: a new leaf nested tensor holding copies of the components
    (no gradient reaches them; as_nested_tensor keeps the graph). The default layout is
    torch's, strided (components of one number of dims, any sizes); layout=dlpy.nested.jagged
    takes components (j, *inner) that differ in their first dim only."""
    _check_layout("nested_tensor", layout)
    as_device(device, "nested_tensor")
    check_pin_memory(pin_memory, "nested_tensor")
    if layout is not jagged:
        components = _strided_components("nested_tensor", tensor_list, dtype)
        out = _strided([Tensor(np.array(c.data)) for c in components], dtype)
        return out.requires_grad_() if requires_grad else out
    if isinstance(tensor_list, (list, tuple)):
        tensor_list = [_as_component(t) for t in tensor_list]
    shapes = _components("nested_tensor", tensor_list)
    values = np.concatenate([t.data for t in tensor_list])
    if dtype is not None:
        values = values.astype(dtype)
    return NestedTensor(Tensor(values, requires_grad=requires_grad),
                        _offsets_of([s[0] for s in shapes]))


def as_nested_tensor(ts, dtype=None, device=None, layout=None) -> NestedTensor:
    """torch.nested.as_nested_tensor: a nested tensor on the components themselves (their cat
    is the values, so gradients reach them), or on a dense (B, n, *inner) tensor (every
    sequence of length n); a nested tensor is returned as it is (or cast to dtype). The default
    layout is strided (components copied by a graph op: gradients reach them)."""
    _check_layout("as_nested_tensor", layout)
    as_device(device, "as_nested_tensor")
    if getattr(type(ts), "is_nested", False) is True:  # torch: layout None is no match
        if layout is not ts.layout:
            raise ArgError("as_nested_tensor(): Converting between nested tensor layouts is "
                           f"not supported ({ts.layout} to {layout})")
        return ts if dtype is None else ts.to(dtype)
    if layout is not jagged:
        if isinstance(ts, Tensor):
            if ts.ndim < 2:
                raise ArgError("as_nested_tensor(): Expected tensor argument to have "
                               f"dim() > 1, got shape {ts.shape}")
            return _strided(list(ts.unbind(0)), dtype)
        if not isinstance(ts, (list, tuple)) or not all(isinstance(t, Tensor) for t in ts):
            raise TypeError("as_nested_tensor(): Expected first argument to be a tensor or a "
                            "list / tuple of tensors")
        components = _strided_components("as_nested_tensor", ts, dtype)
        if not any(c.requires_grad for c in components):
            return _strided([c.detach() for c in components], dtype)
        # one copy of all the components (as torch's buffer): a gradient that reaches one
        # component gives the others zeros, not None
        buffer = F.cat([c.reshape(-1) for c in components], 0)
        ends = np.cumsum([c.numel() for c in components]).tolist()
        return _strided([buffer[end - c.numel():end].reshape(c.shape)
                         for c, end in zip(components, ends)], dtype)
    if isinstance(ts, Tensor):
        if ts.ndim < 2:
            raise ArgError(f"as_nested_tensor: a dense tensor needs (B, n, ...), got shape "
                             f"{ts.shape}")
        batch, n = ts.shape[:2]
        values = ts.reshape((batch * n,) + ts.shape[2:])
        lengths = [n] * batch
    else:
        if isinstance(ts, (list, tuple)) and not all(isinstance(t, Tensor) for t in ts):
            raise TypeError("as_nested_tensor: expected a tensor or a list / tuple of tensors "
                            "(nested_tensor takes lists of numbers)")
        shapes = _components("as_nested_tensor", ts)
        values = F.cat(list(ts), 0)
        lengths = [s[0] for s in shapes]
    if dtype is not None:
        values = values.to(dtype)
    return NestedTensor(values, _offsets_of(lengths))


def _int_array(name: str, what: str, value) -> np.ndarray:
    """A 1-D integer tensor (or array) as an array of its dtype (int32 offsets stay int32)."""
    if not isinstance(value, (Tensor, np.ndarray)):
        raise TypeError(f"{name}: {what} must be a Tensor, not {type(value).__name__}")
    array = as_array(value)
    if array.ndim != 1:  # torch's AssertionError; a TypeError as before
        raise ArgTypeAssertionError(f"{name}: {what} must be 1-D, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name}: {what} must be a 1-D integer tensor, got {array.dtype} of "
                        f"shape {array.shape}")
    return array.astype(array.dtype if array.dtype in (np.int32, np.int64) else np.int64)


def to_padded_tensor(input, padding, output_size=None) -> Tensor:
    """torch.nested.to_padded_tensor: a dense tensor, each component padded after its end to
    the longest (or to ``output_size``, one size per dim, none smaller) with ``padding``."""
    if isinstance(input, StridedNestedTensor):
        return _strided_padded(input, padding, output_size)
    if not isinstance(input, NestedTensor):
        raise NoKernelError(f"to_padded_tensor: expected a nested tensor, got "
                            f"{type(input).__name__}")
    return _jagged_padded(input, padding, output_size)


def nested_tensor_from_jagged(values, offsets=None, lengths=None, jagged_dim=None,
                              min_seqlen=None, max_seqlen=None) -> NestedTensor:
    """torch.nested.nested_tensor_from_jagged: sequence i is values[offsets[i] : offsets[i] +
    lengths[i]] (lengths None: up to offsets[i + 1]; offsets None: the cumsum of lengths). The
    values are used as they are (a view: gradients reach them)."""
    name = "nested_tensor_from_jagged"
    if isinstance(values, np.ndarray):
        values = Tensor(values)
    if not isinstance(values, Tensor):
        raise TypeError(f"{name}: values must be a Tensor, not {type(values).__name__}")
    if values.ndim < 1:
        raise ValueError(f"{name}: values must have at least one dim, got shape {values.shape}")
    if offsets is None and lengths is None:  # torch's RuntimeError; a TypeError as before
        raise ArgDtypeError(f"{name}: give offsets, lengths or both")
    lens = None if lengths is None else _int_array(name, "lengths", lengths)
    offsets = _offsets_of(lens) if offsets is None else _int_array(name, "offsets", offsets)
    if len(offsets) < 2 or offsets[0] < 0 or np.any(np.diff(offsets) < 0) \
            or offsets[-1] > values.shape[0]:
        raise ValueError(f"{name}: offsets must be non-decreasing from >= 0 up to at most "
                         f"values.shape[0] = {values.shape[0]}, got {offsets.tolist()}")
    if lens is not None:
        if len(lens) != len(offsets) - 1 or np.any(lens < 0) \
                or np.any(offsets[:-1] + lens > values.shape[0]):
            raise ValueError(f"{name}: lengths must be {len(offsets) - 1} counts >= 0 that stay "
                             f"inside values, got {lens.tolist()} for offsets "
                             f"{offsets.tolist()}")
        if np.array_equal(lens, np.diff(offsets)):
            lens = None
    ragged_idx = 1 if jagged_dim is None else int(jagged_dim)
    if not 1 <= ragged_idx <= values.ndim:
        raise ValueError(f"{name}: jagged_dim must be in 1..{values.ndim}, got {jagged_dim}")
    return NestedTensor(values, offsets, lens, ragged_idx)


class _NarrowOperandError(TypeError, RuntimeError):
    """narrow's jagged layout of no dense tensor: a TypeError, and torch's RuntimeError (of
    a nested tensor: it has no sizes)."""


def narrow(tensor, dim: int, start, length, layout=None) -> NestedTensor:
    """torch.nested.narrow: of a dense (B, n, *inner) tensor, sequence i = tensor[i,
    start[i] : start[i] + length[i]] (start and length ints or (B,) tensors) as a jagged view
    with holes (gradients reach the tensor). The default (strided) layout narrows dim 0 only:
    components start .. start + length - 1 of ``as_nested_tensor(tensor)``, as torch's."""
    _check_layout("narrow", layout)
    if layout is not jagged:
        if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                   for n in (start, length)):
            raise ArgError("narrow: start and length must be integers for the strided layout "
                           "NT impl")
        return as_nested_tensor(tensor).narrow(dim, start, length)
    if not isinstance(tensor, Tensor) or tensor.ndim < 2:
        raise _NarrowOperandError("narrow: expected a dense tensor of at least 2 dims (B, n, "
                                  "...)")
    if dim != 1:
        raise NotImplementedError(f"narrow: only dim 1 can be narrowed into a jagged tensor, "
                                  f"got {dim}")
    batch, n = tensor.shape[:2]
    start = np.broadcast_to(np.asarray(as_array(start), np.int64), (batch,))
    length = np.broadcast_to(np.asarray(as_array(length), np.int64), (batch,))
    if np.any(start < 0) or np.any(length < 0) or np.any(start + length > n):
        raise ValueError(f"narrow: start {start.tolist()} and length {length.tolist()} must "
                         f"stay inside dim 1 of size {n}")
    values = tensor.reshape((batch * n,) + tensor.shape[2:])
    offsets = np.append(np.arange(batch) * n + start, batch * n).astype(np.int64)
    return NestedTensor(values, offsets, length.copy())


def masked_select(tensor, mask) -> NestedTensor:
    """torch.nested.masked_select: of a dense (*lead, n) tensor, the elements where ``mask``
    (broadcast to its shape) is True, one sequence per row of the last dim: a jagged
    (prod(lead), j) tensor (gradients reach the tensor)."""
    if not isinstance(tensor, Tensor):
        tensor = Tensor(np.asarray(tensor))
    mask = as_array(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be boolean, got {mask.dtype}")
    if tensor.ndim < 1:
        raise ValueError("masked_select: the tensor needs at least one dim, got shape ()")
    try:
        mask = np.broadcast_to(mask, tensor.shape)
    except ValueError:
        raise ValueError(f"masked_select: mask of shape {mask.shape} does not broadcast to the "
                         f"tensor's shape {tensor.shape}") from None
    values = tensor.reshape(-1)[np.flatnonzero(mask)]
    lengths = mask.sum(axis=-1).reshape(-1)
    return NestedTensor(values, _offsets_of(lengths))
