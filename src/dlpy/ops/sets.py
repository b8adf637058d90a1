"""Counting and searching: unique, unique_consecutive, bincount, histc, searchsorted and
bucketize, as PyTorch. None is differentiable (as in PyTorch): each returns tensors with no
gradient, but unique's and unique_consecutive's values stay in the graph of an input that
requires grad (torch's Unique2Backward0, ...), whose backward raises torch's
NotImplementedError."""

from __future__ import annotations

import numpy as np

from dlpy import meta as _meta
from dlpy.amp.dtypes import check_float8, refuse_bool
from dlpy.node_names import named
from dlpy.ops import (
    ArgDtypeError,
    ArgError,
    NoKernelError,
    UnsupportedArgError,
    check_dim,
    real_number,
)
from dlpy.ops.indexing import _NoFormula
from dlpy.ops.promotion import result_type
from dlpy.tensor import Tensor, is_floating_dtype


def _data(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)




def _values(values, x, op_name: str, node_name: str) -> Tensor:
    """``values`` as a Tensor, a node of x's graph (torch's ``node_name``) when x is tracked."""
    if isinstance(x, Tensor):
        return named(_NoFormula(op_name, values)(x), node_name)
    return Tensor(values)


def _results(values, inverse, counts, return_inverse, return_counts):
    out = [values if isinstance(values, Tensor) else Tensor(values)]
    if return_inverse:
        out.append(Tensor(inverse.astype(np.int64)))
    if return_counts:
        out.append(Tensor(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def _check_empty_slices(data: np.ndarray, dim: int) -> None:
    """torch's unique(dim=...) refuses more than one axis of size 0, then slices of no
    elements along a non-empty dim."""
    if data.shape.count(0) > 1:
        raise ArgError(f"unique: more than one axis of size 0 in shape {data.shape}, so unique "
                       "cannot be applied, as torch's")
    if data.size == 0 and data.shape[dim] != 0:
        raise ArgError(f"unique: there are 0 sized dimensions in shape {data.shape} other "
                       f"than dim {dim}, so unique cannot be applied, as torch's")


def _refuse_complex(name: str, *arrays: np.ndarray) -> None:
    """torch's error for the ordering functions of complex values (unique, searchsorted)."""
    for array in arrays:
        if array.dtype.kind == "c":
            raise NoKernelError(f"{name}: not implemented for complex tensors, got {array.dtype} "
                                "(as torch)")


@_meta.refuses("aten::_unique2")
def unique(input, sorted: bool = True, return_inverse: bool = False,  # noqa: A002 - torch's name
           return_counts: bool = False, dim: int | None = None):
    """torch.unique: the distinct values (sorted; with dim the distinct slices along it, in
    lexicographic order), and optionally the inverse indices (x's shape, or the dim's length)
    and the counts. nan values are each distinct, as PyTorch."""
    data = _data(input)
    if data.itemsize == 1:  # float8: torch refuses
        check_float8("unique", data)
    _refuse_complex("unique", data)
    if dim is None:
        values, inverse, counts = np.unique(data.reshape(-1), return_inverse=True,
                                            return_counts=True, equal_nan=False)
        return _results(_values(values, input, "_unique2", "Unique2Backward0"),
                        inverse.reshape(data.shape), counts, return_inverse, return_counts)
    dim = check_dim("unique", dim, data.ndim)
    _check_empty_slices(data, dim)
    values, inverse, counts = _unique_slices(data, dim)
    return _results(_values(values, input, "unique_dim", "UniqueDimBackward0"),
                    inverse, counts, return_inverse, return_counts)


def _slices_order(rows: np.ndarray) -> np.ndarray:
    """The order torch's unique(dim=...) sorts the flattened slices ``rows`` (n, m) in: a
    std::sort by lexicographic `<`. Without nan that is the lexicographic order (equal rows
    merge, whichever comes first); with nan, which no `<` orders, libstdc++'s sort is replayed
    (std_sort.py)."""
    n = rows.shape[0]
    if rows.dtype.kind != "f" or not np.isnan(rows).any():
        return np.lexsort(rows.T[::-1]) if rows.shape[1] else np.arange(n)
    from dlpy.ops.std_sort import std_sort_order

    values = rows.tolist()

    def less(a, b):
        for left, right in zip(values[a], values[b]):
            if left < right:
                return True
            if left > right:
                return False
        return False

    return np.array(std_sort_order(n, less), dtype=np.int64)


def _unique_slices(data: np.ndarray, dim: int):
    """(values, inverse, counts) of torch's unique(dim=...): the slices along dim sorted
    (_slices_order), each kept where it differs from the last kept one by `==` (so -0.0 equals
    0.0 and a slice holding nan is always distinct, as torch's at::equal)."""
    moved = np.moveaxis(data, dim, 0)
    rows = np.ascontiguousarray(moved).reshape(moved.shape[0], int(np.prod(moved.shape[1:])))
    order = _slices_order(rows)
    inverse = np.empty(len(order), dtype=np.int64)
    keep = []
    for i in order:
        if not keep or not (rows[i] == rows[keep[-1]]).all():
            keep.append(i)
        inverse[i] = len(keep) - 1
    counts = np.bincount(inverse, minlength=len(keep))
    values = np.moveaxis(np.ascontiguousarray(moved[np.array(keep, dtype=np.int64)]), 0, dim)
    return values, inverse, counts


@_meta.refuses("aten::unique_consecutive")
def unique_consecutive(input, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None):
    """torch.unique_consecutive: each run of equal values (slices along dim) kept once."""
    data = _data(input)
    if data.itemsize == 1:  # float8: torch refuses
        check_float8("unique", data)
    _refuse_complex("unique_consecutive", data)
    if dim is None:
        flat = data.reshape(-1)
        starts = np.ones(flat.shape, dtype=bool)
        starts[1:] = flat[1:] != flat[:-1]
        values, shape = flat[starts], data.shape
    else:
        dim = check_dim("unique_consecutive", dim, data.ndim)
        _check_empty_slices(data, dim)
        moved = np.moveaxis(data, dim, 0)
        starts = np.ones(moved.shape[0], dtype=bool)
        if moved.shape[0] > 1:
            starts[1:] = (moved[1:] != moved[:-1]).reshape(moved.shape[0] - 1, -1).any(axis=1)
        # laid out as torch's: the slices kept, row-major with dim first, moved back (numpy's
        # x[mask] may follow x's memory order instead)
        values = np.moveaxis(np.ascontiguousarray(moved[starts]), 0, dim)
        shape = (moved.shape[0],)
    inverse = (np.cumsum(starts) - 1).reshape(shape)
    counts = np.diff(np.append(np.flatnonzero(starts), starts.size))
    values = _values(values, input, "unique_consecutive", "UniqueConsecutiveBackward0")
    return _results(values, inverse, counts, return_inverse, return_counts)


@_meta.refuses("aten::bincount")
def bincount(input, weights=None, minlength: int = 0) -> Tensor:
    """torch.bincount: how often each value 0..max(x) occurs in the 1-D non-negative int
    tensor x (the sum of the weights there, given weights), at least minlength bins."""
    data = _data(input)
    if data.ndim != 1 or data.dtype.kind not in "iu":
        # torch: no kernel for a non-integer dtype (checked first), a RuntimeError for rank
        raise (ArgError if data.dtype.kind in "iu" else UnsupportedArgError)(
            f"bincount: expected a 1-D int tensor, got shape {data.shape} of {data.dtype}")
    if data.size and data.min() < 0:
        raise ArgError(f"bincount: values must be non-negative, got {data.min()}")
    if isinstance(minlength, bool) or not isinstance(minlength, (int, np.integer)) \
            or minlength < 0:
        raise ArgError(f"bincount: minlength must be a non-negative int, got {minlength!r}")
    if weights is None or data.size == 0:  # an empty x counts in int64; torch ignores its
        # weights, whatever their shape
        return Tensor(np.bincount(data, minlength=minlength).astype(np.int64))
    w = _data(weights)
    if w.shape != data.shape:
        raise ArgError(f"bincount: weights must have x's shape {data.shape}, got {w.shape}")
    # float32 weights sum in float32, any other dtype in float64, as torch's
    return Tensor(np.bincount(data, w, minlength=minlength).astype(
        np.float32 if w.dtype == np.float32 else np.float64))


def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """torch.histc: counts of x in ``bins`` equal bins over [min, max] (min == max: x's own
    range), x's dtype; values outside are left out, max falls in the last bin."""
    data = _data(input)
    if data.dtype.kind in "biuc":
        raise NoKernelError(f"histc: expected a floating-point tensor, got {data.dtype}, as "
                            "torch's")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ArgError(f"histc: bins must be a positive int, got {bins!r}")
    low, high = real_number("histc", "min", min), real_number("histc", "max", max)
    if low > high:
        raise ArgError(f"histc: max must be at least min, got min {low} and max {high}")
    check_float8("aminmax_cpu" if low == high else "linspace_cpu", data)  # torch's first kernel
    if _meta.holds_meta(input):  # a meta tensor: its counts' shape and dtype
        from dlpy.device import meta_array

        return Tensor(meta_array((bins,), data.dtype))
    if low == high and data.size:
        low, high = float(data.min()), float(data.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ArgError(f"histc: range of [{low}, {high}] is not finite")
    if low == high:
        low, high = low - 1, high + 1
    # torch's kernel: the outer edges of its linspace in x's dtype, each x's bin by
    # (x - left) * bins / (right - left) in x's dtype (float16/bfloat16 rounded at each step)
    from dlpy.creation import _linspace

    edges = _linspace(low, high, 2, data.dtype).astype(data.dtype)
    left, right = edges[0], edges[1]
    kept = data[(data >= left) & (data <= right)]
    index = ((kept - left) * data.dtype.type(bins) / (right - left)).astype(np.int64)
    index[index == bins] -= 1
    return Tensor(np.bincount(index, minlength=bins).astype(data.dtype))  # bfloat16 too


def _side(name: str, right: bool, side: str | None) -> str:
    if side is not None:
        if side not in ("left", "right"):
            raise ArgError(f"{name}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ArgError(f"{name}: right=True and side='left' disagree")
        return side
    return "right" if right else "left"


def _sorter(name: str, order: np.ndarray, shape: tuple) -> np.ndarray:
    """torch's checks of searchsorted's sorter: int64, the sequence's shape, valid indices."""
    if order.dtype != np.int64:
        raise ArgDtypeError(f"{name}: sorter must be a tensor of int64, got {order.dtype}")
    if order.shape != shape:
        raise ArgError(f"{name}: sorter must have the sorted sequence's shape {shape}, got "
                       f"{order.shape}")
    if order.size and (order.min() < 0 or order.max() >= shape[-1]):
        raise ArgError(f"{name}: sorter index out of range [0, {shape[-1]})")
    return order


def _bisect(seq: np.ndarray, vals: np.ndarray, side: str, order) -> np.ndarray:
    """torch's own binary search, for sequences holding nan (numpy's orders nan last, torch's
    steps right past any nan it meets: left side moves on while not ``mid >= value``, right
    side while not ``mid > value``)."""
    length = seq.shape[-1]
    rows = seq.reshape(-1, length) if seq.ndim > 1 else seq.reshape(1, length)
    if order is not None:
        rows = np.take_along_axis(rows, order.reshape(rows.shape), -1)
    if seq.ndim > 1 and seq.shape[:-1] != vals.shape[:-1]:
        raise ArgError(f"searchsorted: sorted_sequence {seq.shape} and values "
                       f"{vals.shape} must match on every axis but the last")
    wanted = vals.reshape(rows.shape[0], -1)
    start = np.zeros(wanted.shape, np.int64)
    end = np.full(wanted.shape, length, np.int64)
    row = np.arange(rows.shape[0])[:, None]
    while (active := start < end).any():
        mid = start + ((end - start) >> 1)
        at = rows[row, np.minimum(mid, length - 1)]
        onward = ~(at >= wanted) if side == "left" else ~(at > wanted)
        start = np.where(active & onward, mid + 1, start)
        end = np.where(active & ~onward, mid, end)
    return start.reshape(vals.shape)


@_meta.follows
def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter=None) -> Tensor:
    """torch.searchsorted: for each value, the index in the sorted innermost rows where it
    would be inserted (left: before equal values; right / side="right": after). A 1-D sequence
    serves every value; an N-D one pairs its rows with values' rows."""
    side = _side("searchsorted", right, side)
    seq, vals = _data(sorted_sequence), _data(input)
    _refuse_complex("searchsorted", seq, vals)
    if seq.dtype == np.bool_ and vals.dtype == np.bool_ and vals.size:
        refuse_bool("searchsorted_out_cpu", seq)  # (no values: no kernel runs, as torch's)
    order = None if sorter is None else _sorter("searchsorted", _data(sorter), seq.shape)
    common = result_type(sorted_sequence, input)
    if (seq.dtype != common or vals.dtype != common) and type(seq) is np.ndarray \
            and type(vals) is np.ndarray:
        # torch compares in the two's result type, a number or a 0-d tensor taking the
        # sequence's: -1 against uint8 boundaries is 255, 2.0004 against float16 ones 2.0
        seq, vals = seq.astype(common), vals.astype(common)
    if is_floating_dtype(seq.dtype) and np.isnan(seq).any():
        out = _bisect(seq, vals, side, order)
    elif seq.ndim <= 1:
        try:
            out = np.searchsorted(seq, vals, side=side, sorter=order)
        except ValueError:  # numpy's refusal of a 0-d sequence: torch's RuntimeError
            raise ArgError(f"searchsorted: boundaries tensor should have positive dimension, "
                           f"but got 0 dimension (sorted_sequence of shape {seq.shape})") from None
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise ArgError(f"searchsorted: sorted_sequence {seq.shape} and values "
                           f"{vals.shape} must match on every axis but the last")
        count = int(np.prod(seq.shape[:-1]))  # rows (-1 is ambiguous for empty rows)
        rows = seq.reshape(count, seq.shape[-1])
        vrows = vals.reshape(count, vals.shape[-1])
        orows = None if order is None else order.reshape(rows.shape)
        out = np.zeros(vrows.shape, np.int64)  # (no rows: an empty result, as torch's)
        for i, (r, v) in enumerate(zip(rows, vrows)):
            out[i] = np.searchsorted(r, v, side=side, sorter=None if orows is None else orows[i])
        out = out.reshape(vals.shape)
    return Tensor(np.asarray(out).astype(np.int32 if out_int32 else np.int64))


@_meta.follows
def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """torch.bucketize: the bucket index of each x in the 1-D sorted boundaries
    (right=False: boundaries[i-1] < x <= boundaries[i])."""
    bounds = _data(boundaries)
    if bounds.ndim != 1:
        raise ArgError(f"bucketize: boundaries must be 1-D, got shape {bounds.shape}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
