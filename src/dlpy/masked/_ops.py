"""torch.masked's reductions and normalisations on a Tensor and a boolean mask (or on a
MaskedTensor): the masked-out elements filled with the identity, then dlpy's op.

A MaskedTensor's methods (``mt.sum(1)``) give a MaskedTensor; the functions here given a
MaskedTensor (``masked.sum(mt, 1)``) give a plain Tensor, the op on the filled data, as torch's
(the undecorated function, ``sum.__wrapped__``, is the method's)."""

from __future__ import annotations

import builtins
import functools

import numpy as np

from dlpy import functional as F
from dlpy.amp.dtypes import is_low_precision
from dlpy.ops import ArgError, DimError
from dlpy.tensor import Tensor


class MaskDimError(ArgError, IndexError):
    """A mask of more dims than the input: an ArgError, and torch's IndexError."""


def _dims(name: str, dim, ndim: int) -> tuple[int, ...]:
    """dim (None: every axis, an int or a tuple of ints) as sorted non-negative axes; a dim
    given twice is refused (as torch's); a 0-d input takes dim 0 or -1 (no axis)."""
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"masked.{name}: dim must be an int or a tuple of ints, got {dim!r}")
        if d in out:  # torch compares the dim as given with the ones before, made >= 0
            raise ArgError(f"masked.{name}: dim={d} appears multiple times in the list of dims")
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise DimError(f"masked.{name}: dim {d} is out of range for {ndim} dimensions")
        out.append(int(d) % builtins.max(ndim, 1))
    return tuple(sorted(set(out))) if ndim else ()


def _dim_one(name: str, dim, ndim: int) -> int:
    """The axis of a function along one dim: the first of a tuple of dims, as torch's."""
    dims = _dims(name, dim, ndim)
    return dims[0] if dims else 0


def _operands(name: str, input, mask, dtype):
    """(data Tensor, boolean mask array at data's shape, the MaskedTensor or None)."""
    from dlpy.masked.maskedtensor import MaskedTensor

    masked = input if isinstance(input, MaskedTensor) else None
    if masked is not None:
        if mask is not None:
            raise ValueError(f"masked.{name}: a MaskedTensor input carries its mask; got mask= "
                             "too")
        data, mask = masked._data, masked._mask
    else:
        data = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
        if mask is None:
            mask = np.ones(data.shape, bool)
        else:
            mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
            if mask.dtype != np.bool_:  # torch reads a number mask as mask != 0
                if mask.dtype.kind not in "iufc":
                    raise TypeError(f"masked.{name}: mask must be boolean, got {mask.dtype}")
                mask = mask != 0
            if mask.ndim > data.ndim:
                raise MaskDimError(f"masked.{name}: mask of {mask.ndim} dims does not broadcast "
                                   f"to the input's shape {data.shape}")
            try:
                mask = np.broadcast_to(mask, data.shape)
            except ValueError:
                raise ArgError(f"masked.{name}: mask of shape {mask.shape} does not broadcast "
                               f"to the input's shape {data.shape}") from None
    if dtype is not None:
        data = data.to(dtype)
    return data, mask, masked


def _plain(function):
    """function, its MaskedTensor result given as the plain Tensor of its data (torch.masked's
    functions take a MaskedTensor's data and mask and return a Tensor)."""
    @functools.wraps(function)
    def public(*args, **kwargs):
        out = function(*args, **kwargs)
        return out if isinstance(out, Tensor) else out._data

    return public


def _identity(value, dtype):
    """value (0, 1, +-inf) in dtype: an integer's +-inf is its largest / smallest value."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub" and np.isinf(value):
        info = np.iinfo(np.int64 if dtype.kind == "b" else dtype)
        value = info.max if value > 0 else info.min
    return np.asarray(value).astype(dtype)


def _result(out: Tensor, mask: np.ndarray, masked):
    """out as it is (a Tensor input) or as a MaskedTensor with mask (a MaskedTensor input)."""
    if masked is None:
        return out
    from dlpy.masked.maskedtensor import MaskedTensor

    return MaskedTensor(out, np.broadcast_to(mask, out.shape))


def _filled(data: Tensor, mask: np.ndarray, value) -> Tensor:
    return F.where(mask, data, _identity(value, data.dtype))


def _reduce(name: str, function, identity, input, dim, keepdim, dtype, mask, cast=False):
    """function(filled data, dims, keepdim); cast: the result in dtype (the input's by
    default), as torch's amax / amin / logsumexp."""
    out_dtype = dtype if dtype is not None else _data_dtype(input)
    data, mask, masked = _operands(name, input, mask, dtype)
    dims = _dims(name, dim, data.ndim)
    out = function(_filled(data, mask, identity), dims, bool(keepdim))
    if cast and out.dtype != np.dtype(out_dtype):
        out = out.to(out_dtype)
    return _result(out, mask.any(axis=dims, keepdims=bool(keepdim)), masked)


def _data_dtype(input):
    from dlpy.masked.maskedtensor import MaskedTensor

    if isinstance(input, MaskedTensor):
        return input._data.dtype
    return input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype


@_plain
def sum(input, dim=None, *, keepdim=False, dtype=None, mask=None):  # noqa: A001
    """torch.masked.sum: the sum of the kept elements over dim (0 where none is kept)."""
    return _reduce("sum", lambda x, d, k: F.sum(x, dim=d, keepdim=k), 0.0, input, dim, keepdim,
                   dtype, mask)


@_plain
def prod(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.prod: the product of the kept elements over dim (1 where none is kept)."""
    def product(x, dims, keep):
        for d in reversed(dims):  # dlpy's prod takes one axis at a time
            x = F.prod(x, d, keep)
        return x

    return _reduce("prod", product, 1.0, input, dim, keepdim, dtype, mask)


@_plain
def amax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.amax: the max of the kept elements over dim (-inf where none is kept)."""
    return _reduce("amax", lambda x, d, k: F.amax(x, dim=d, keepdim=k), -np.inf, input, dim,
                   keepdim, dtype, mask, cast=True)


@_plain
def amin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.amin: the min of the kept elements over dim (inf where none is kept)."""
    return _reduce("amin", lambda x, d, k: F.amin(x, dim=d, keepdim=k), np.inf, input, dim,
                   keepdim, dtype, mask, cast=True)


@_plain
def logsumexp(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.logsumexp: log(sum(exp)) of the kept elements (-inf where none is kept)."""
    return _reduce("logsumexp", lambda x, d, k: F.logsumexp(x, dim=d, keepdim=k), -np.inf,
                   input, dim, keepdim, dtype, mask, cast=True)


def _arg(name: str, pick, identity, input, dim, keepdim, dtype, mask):
    """The index in dtype (the input's by default: a float input gives float indices, as
    torch's)."""
    out_dtype = dtype if dtype is not None else _data_dtype(input)
    data, mask, masked = _operands(name, input, mask, None)
    filled = np.where(mask, data.data, _identity(identity, data.dtype))
    if dim is None:
        index = np.asarray(pick(filled.reshape(-1)))
        keep = np.asarray(mask.any())
    else:
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"masked.{name}: dim must be an int, not {type(dim).__name__}")
        (axis,) = _dims(name, dim, data.ndim) or (None,)
        index, keep = pick(filled, axis=axis), mask.any(axis=axis)
        if keepdim:
            index, keep = np.expand_dims(index, axis), np.expand_dims(keep, axis)
    return _result(Tensor(index.astype(out_dtype)), keep, masked)


@_plain
def argmax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.argmax: the index of the max kept element along dim (no gradient)."""
    return _arg("argmax", np.argmax, -np.inf, input, dim, keepdim, dtype, mask)


@_plain
def argmin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.argmin: the index of the min kept element along dim (no gradient)."""
    return _arg("argmin", np.argmin, np.inf, input, dim, keepdim, dtype, mask)


def _count(mask: np.ndarray, dims, keepdim: bool) -> np.ndarray:
    return mask.sum(axis=dims, keepdims=keepdim)


@_plain
def mean(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.mean: sum / count of the kept elements (nan where none is kept)."""
    data, mask, masked = _operands("mean", input, mask, dtype)
    if data.dtype.kind not in "fc" and not is_low_precision(data.dtype):  # (bfloat16: "V")
        raise ValueError(f"mean(): Could not infer output dtype. {'Optional' if dtype else 'Input'}"
                         f" dtype must be either a floating point or complex dtype. Got: "
                         f"{data.dtype}")
    dims = _dims("mean", dim, data.ndim)
    total = F.sum(_filled(data, mask, 0.0), dim=dims, keepdim=bool(keepdim))
    count = _count(mask, dims, bool(keepdim)).astype(data.dtype)
    # nan where nothing is kept, without a 0/0 in the forward or the backward
    out = F.where(count > 0, total / np.maximum(count, 1), np.nan)
    return _result(out, mask.any(axis=dims, keepdims=bool(keepdim)), masked)


@_plain
def var(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None,
        mask=None):
    """torch.masked.var: sum((x - mean)^2) / (count - correction) over the kept elements,
    correction 1 by default (unbiased=False: 0); the divisor is clamped at 0, as torch's."""
    return _variance("var", input, dim, unbiased, correction, keepdim, dtype, mask, root=False)


@_plain
def std(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None,
        mask=None):
    """torch.masked.std: sqrt of ``var``."""
    return _variance("std", input, dim, unbiased, correction, keepdim, dtype, mask, root=True)


def _variance(name, input, dim, unbiased, correction, keepdim, dtype, mask, root):
    if unbiased is not None and correction is not None:
        raise ValueError(f"masked.{name}: give correction or unbiased, not both")
    correction = float(unbiased) if unbiased is not None else (
        1.0 if correction is None else float(correction))
    data, mask, masked = _operands(name, input, mask, dtype)
    dims = _dims(name, dim, data.ndim)
    count = _count(mask, dims, True).astype(data.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = F.sum(_filled(data, mask, 0.0), dim=dims, keepdim=True) / count
        deviation = _filled(data - centre, mask, 0.0)
        divisor = np.maximum(count - correction, 0.0)
        square = deviation * (deviation.conj() if np.dtype(deviation.dtype).kind == "c"
                              else deviation)
        out = F.sum(square, dim=dims, keepdim=True) / divisor
    if not keepdim:
        out = F.squeeze(out, dims) if dims else out
    if root:
        out = F.sqrt(out)
    return _result(out, mask.any(axis=dims, keepdims=bool(keepdim)), masked)


@_plain
def norm(input, ord=2.0, dim=None, *, keepdim=False, dtype=None, mask=None):  # noqa: A002
    """torch.masked.norm: the ord-norm (a number) of the kept elements over dim (masked-out
    ones are 0; inf for ord -inf)."""
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.number)):
        raise TypeError(f"masked.norm: ord must be a number, not {type(ord).__name__}")
    _check_vector_norm("norm", input, dtype)
    identity = np.inf if ord == -np.inf else 0.0
    return _reduce("norm", lambda x, d, k: F.norm(x, ord, dim=d, keepdim=k), identity, input,
                   dim, keepdim, dtype, mask)


def _check_vector_norm(name: str, input, dtype) -> None:
    """torch's linalg.vector_norm checks of the input before dtype converts it: floating or
    complex, and a dtype it converts to without narrowing (float32 to float16 is refused)."""
    if not isinstance(input, Tensor):
        return
    have = np.dtype(input.dtype)
    if have.kind not in "fc" and not is_low_precision(have):
        raise ArgError(f"masked.{name}: linalg.vector_norm expects a floating point or complex "
                       f"input, got {have}")
    if dtype is not None and np.promote_types(have, np.dtype(dtype)) != np.dtype(dtype):
        raise ArgError(f"masked.{name}: linalg.vector_norm: the dtype of the input ({have}) "
                       f"should be convertible without narrowing to the specified dtype "
                       f"({np.dtype(dtype)})")


def _along(name: str, function, identity, input, dim, dtype, mask):
    """A normalisation along one dim: same shape and mask out."""
    data, mask, masked = _operands(name, input, mask, dtype)
    if dim is None:
        raise TypeError(f"masked.{name}: dim is required (an int)")
    axis = _dim_one(name, dim, data.ndim)
    return _result(function(_filled(data, mask, identity), axis), mask, masked)


@_plain
def softmax(input, dim, *, dtype=None, mask=None):
    """torch.masked.softmax: softmax over the kept elements along dim (masked-out ones 0; nan
    where none is kept)."""
    return _along("softmax", F.softmax, -np.inf, input, dim, dtype, mask)


@_plain
def log_softmax(input, dim, *, dtype=None, mask=None):
    """torch.masked.log_softmax: log_softmax over the kept elements (masked-out ones -inf)."""
    return _along("log_softmax", F.log_softmax, -np.inf, input, dim, dtype, mask)


@_plain
def softmin(input, dim, *, dtype=None, mask=None):
    """torch.masked.softmin: softmax of -input over the kept elements."""
    return _along("softmin", lambda x, a: F.softmax(-x, a), np.inf, input, dim, dtype, mask)


@_plain
def normalize(input, ord, dim, *, eps=1e-12, dtype=None, mask=None):  # noqa: A002
    """torch.masked.normalize: input / max(norm of the kept elements, eps) along dim
    (masked-out ones 0)."""
    _check_vector_norm("normalize", input, dtype)
    data, full_mask, _ = _operands("normalize", input, mask, dtype)

    def scaled(x, axis):  # the norm of the kept elements (ord -inf: masked-out ones are inf)
        kept = x if ord != -np.inf else _filled(data, full_mask, np.inf)
        return x / F.clamp(F.norm(kept, ord, dim=axis, keepdim=True), min=eps)

    return _along("normalize", scaled, 0.0, input, dim, dtype, mask)


def _cumulative(name: str, function, identity, input, dim, dtype, mask):
    """function(filled data, axis, dtype) along one dim, in dtype (the input's by default)."""
    out_dtype = dtype if dtype is not None else _data_dtype(input)
    data, mask, masked = _operands(name, input, mask, None)
    axis = _dim_one(name, dim, data.ndim)
    out = function(_filled(data, mask, identity), axis, dtype=out_dtype)
    return _result(out, mask, masked)


@_plain
def cumsum(input, dim, *, dtype=None, mask=None):
    """torch.masked.cumsum: the running sum of the kept elements along dim (masked-out ones
    add 0)."""
    return _cumulative("cumsum", F.cumsum, 0.0, input, dim, dtype, mask)


@_plain
def cumprod(input, dim, *, dtype=None, mask=None):
    """torch.masked.cumprod: the running product of the kept elements along dim (masked-out
    ones multiply by 1)."""
    return _cumulative("cumprod", F.cumprod, 1.0, input, dim, dtype, mask)


@_plain
def median(input, dim=-1, *, keepdim=False, dtype=None, mask=None):
    """torch.masked.median: the lower median of the kept elements along dim (nan where none is
    kept; an integer input, computed in float32, must keep one in every slice)."""
    out_dtype = dtype if dtype is not None else _data_dtype(input)
    data, mask, masked = _operands("median", input, mask, None)
    is_float = data.dtype.kind == "f" or is_low_precision(data.dtype)  # (bfloat16: "V")
    if not is_float:
        data = data.to(np.float32)
    axis = _dim_one("median", dim, data.ndim)
    out = F.nanmedian(_filled(data, mask, np.nan), axis, bool(keepdim)).values
    if not is_float:
        if np.isnan(out.data).any():
            raise ValueError("masked median expects no fully masked out rows if dtype is not "
                             "floating point")
        out = out.to(out_dtype)
    return _result(out, mask.any(axis=axis, keepdims=bool(keepdim)), masked)


@_plain
def logaddexp(input, other, *, dtype=None, input_mask=None, other_mask=None):
    """torch.masked.logaddexp: log(exp(input) + exp(other)), each masked-out element -inf."""
    out_dtype = dtype if dtype is not None else _data_dtype(input)
    data, input_mask, _ = _operands("logaddexp", input, input_mask, None)
    other, other_mask, _ = _operands("logaddexp", other, other_mask, None)
    out = F.logaddexp(_filled(data, input_mask, -np.inf), _filled(other, other_mask, -np.inf))
    return out if out.dtype == np.dtype(out_dtype) else out.to(out_dtype)
