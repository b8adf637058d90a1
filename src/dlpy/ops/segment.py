"""torch.segment_reduce: reduce consecutive runs (segments) of an axis, each run's length given.

Segments are numbered over the batch: element n of batch row b belongs to segment
b * S + s, so one ``ufunc.at`` does every row. Empty segments give ``initial`` (or sum 0,
prod 1, mean nan, max -inf, min +inf)."""

from __future__ import annotations

import math

import numpy as np

from dlpy.ops import check_dim
from dlpy.tensor import Op, Tensor

_REDUCE = {"sum": (np.add, 0.0), "mean": (np.add, 0.0), "max": (np.maximum, -np.inf),
           "min": (np.minimum, np.inf), "prod": (np.multiply, 1.0)}
_NAMES = {"amax": "max", "amin": "min"}  # torch's other names of max and min


class SegmentReduce(Op):
    """y[b, s] = reduce(x[b, offsets[b, s]:offsets[b, s + 1]]) along ``axis``;
    sum: dx = g;  mean: dx = g / length;  max/min: g shared equally by the elements equal to y;
    prod: dx = g * y / x (a segment with one zero: g * the product of the others there, 0
    elsewhere). Tied maxima share g only when g > 0, as torch's kernel does."""

    saves = ("inputs", "output")
    forward_ad_unsupported = "segment_reduce"  # (torch's name in its refusal)

    def __init__(self, reduce: str, lengths: np.ndarray, axis: int, initial):
        self.reduce, self.lengths, self.axis, self.initial = reduce, lengths, axis, initial

    def forward(self, x):
        axis, lengths = self.axis, self.lengths  # lengths: (batch, segments)
        batch, segments = lengths.shape
        self.shape = x.shape
        rest = x.shape[axis + 1:]
        self.flat = x.reshape(batch * x.shape[axis], -1)  # (batch * N, prod(rest))
        self.ids = np.repeat(np.arange(batch * segments), lengths.reshape(-1))
        self.counts = lengths.reshape(-1, 1)  # (batch * segments, 1)
        ufunc, identity = _REDUCE[self.reduce]
        if self.initial is not None:
            identity = self.initial
        out = np.full((batch * segments, self.flat.shape[1]), identity, dtype=x.dtype)
        ufunc.at(out, self.ids, self.flat)
        if self.reduce == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                empty = np.nan if self.initial is None else self.initial
                out = np.where(self.counts > 0, out / np.maximum(self.counts, 1), empty)
            out = out.astype(x.dtype, copy=False)
        self.out = out
        return out.reshape(x.shape[:axis] + (segments,) + rest)

    def backward(self, grad_output):
        g = grad_output.reshape(self.out.shape)[self.ids]  # each element's segment's gradient
        flat, ids, reduce = self.flat, self.ids, self.reduce
        if reduce == "mean":
            g = g / self.counts[ids]
        elif reduce in ("max", "min"):
            hit = (flat == self.out[ids]) | np.isnan(flat)
            ties = np.zeros(self.out.shape)
            np.add.at(ties, ids, hit)
            # torch's kernel shares only a positive gradient among ties (a negative one goes
            # whole to each tied element); kept so, to equal torch
            g = np.where(hit, np.where(g > 0, g / np.maximum(ties[ids], 1), g), 0.0)
        elif reduce == "prod":
            zero = flat == 0
            zeros = np.zeros(self.out.shape)
            np.add.at(zeros, ids, zero)
            others = np.full(self.out.shape, 1.0 if self.initial is None else self.initial)
            np.multiply.at(others, ids, np.where(zero, 1.0, flat))  # the nonzero factors
            with np.errstate(invalid="ignore", divide="ignore"):
                nonzero_grad = g * self.out[ids] / np.where(zero, 1.0, flat)
            g = np.where(zeros[ids] == 0, nonzero_grad,
                         np.where(zero & (zeros[ids] == 1), g * others[ids], 0.0))
        return (g.astype(flat.dtype, copy=False).reshape(self.shape),)

    def backward_graph(self, grad_output, output):
        from dlpy.autograd_function import once_differentiable_grads

        return once_differentiable_grads(
            self, grad_output, "derivative for aten::_segment_reduce_backward is not implemented")


def segment_reduce(data, reduce: str, *, lengths=None, indices=None, offsets=None,
                   axis: int = 0, unsafe: bool = False, initial=None) -> Tensor:
    """torch.segment_reduce: ``reduce`` ('sum', 'mean', 'max' or 'amax', 'min' or 'amin',
    'prod') over the consecutive segments of ``axis`` whose sizes are ``lengths`` (or
    ``offsets``, one more, the starts and the end). lengths has shape data.shape[:axis] + (S,);
    the result data.shape[:axis] + (S,) + data.shape[axis + 1:]. ``initial`` starts every
    segment."""
    data = data if isinstance(data, Tensor) else Tensor(np.asarray(data))
    reduce = _NAMES.get(reduce, reduce)
    if reduce not in _REDUCE:
        raise ValueError(f"segment_reduce: reduce must be one of {sorted(_REDUCE)}, got "
                         f"{reduce!r}")
    if data.dtype.kind != "f":
        raise TypeError(f"segment_reduce: expected a floating-point data tensor, got "
                        f"{data.dtype}")
    if indices is not None:
        raise ValueError("segment_reduce: indices is not supported (as in torch): give lengths "
                         "or offsets")
    if (lengths is None) == (offsets is None):
        raise ValueError("segment_reduce: give exactly one of lengths and offsets")
    axis = check_dim("segment_reduce", axis, data.ndim)
    if lengths is not None:
        lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    else:
        offsets = np.asarray(offsets.data if isinstance(offsets, Tensor) else offsets)
        lengths = np.diff(offsets, axis=-1) if offsets.ndim else offsets
    if lengths.dtype.kind == "f" and (lengths == np.round(lengths)).all():
        lengths = lengths.astype(np.int64)  # lengths given as floats: dlpy.tensor([2., 3.])
    if lengths.dtype.kind not in "iu" or lengths.ndim != axis + 1 or (
            lengths.shape[:-1] != data.shape[:axis]):
        raise ValueError(f"segment_reduce: lengths/offsets must be integers of shape "
                         f"data.shape[:axis] + (segments,) = {data.shape[:axis]} + (S,), got "
                         f"{lengths.dtype} {lengths.shape}")
    if not unsafe and ((lengths < 0).any() or (lengths.sum(-1) != data.shape[axis]).any()):
        raise ValueError(f"segment_reduce: the segment lengths must be non-negative and add up "
                         f"to data.shape[axis] = {data.shape[axis]}, got {lengths.tolist()}")
    batched = lengths.reshape(math.prod(data.shape[:axis]), -1).astype(np.int64)
    return SegmentReduce(reduce, batched, axis, initial)(data)


# torch._segment_reduce: the same function under its private name (PyG calls it)
_segment_reduce = segment_reduce
