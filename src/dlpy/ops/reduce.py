"""Reductions: sum, mean, max, min, logsumexp, var, std and p-norms over an axis (or axes, or
everything), and the weighted sum of squares (a ridge penalty in one op). Each takes dlpy's
``axis``/``keepdims`` or PyTorch's ``dim``/``keepdim``."""

import math
from typing import NamedTuple

import numpy as np

from dlpy import meta as _meta
from dlpy._caller import user_stacklevel
from dlpy.amp.dtypes import _torch_name, check_float8, float32_compute, refuse_bool, refuse_float8
from dlpy.amp.state import FP32, autocast_policy
from dlpy.node_names import named
from dlpy.ops import (
    ArgDtypeError,
    ArgError,
    DimError,
    EmptyDimError,
    RepeatedDimError,
    broadcasts_to,
    int_of,
    real_number,
)
from dlpy.ops import complex as _complex
from dlpy.ops.arithmetic import cast, dropped_as_zeros, slope_grad
from dlpy.ops.mask import where
from dlpy.ops.rearrange import expand
from dlpy.ops.shape import GetItem, scalar_copy
from dlpy.return_types import structseq_repr, subtype
from dlpy.tensor import Op, Tensor, is_floating_dtype, is_grad_enabled, row_major


def _normalize_axis(name, axis, ndim):
    """axis (None, an int or a sequence of ints) -> a tuple of distinct non-negative axes.
    (This module defines sum and max, so it must not call the builtins of those names.) An
    empty sequence is every axis too, as torch's sum(dim=()) (all/any excepted)."""
    if axis is None or (isinstance(axis, (tuple, list)) and not axis):
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            if int_of(a) is None:
                raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
            a = int_of(a)
        if ndim == 0 and a in (0, -1):  # a scalar's one pseudo-axis, as in PyTorch
            if len(axes) > 1:
                raise RepeatedDimError(f"{name}: axis {axis!r} names axis 0 twice")
            continue
        if not -ndim <= a < ndim:
            raise DimError(f"{name}: axis {a} is out of range for a tensor with {ndim} axes")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise RepeatedDimError(f"{name}: axis {axis!r} names an axis twice")
    return tuple(out)


def resolve_axis(name, axis, dim, keepdims, keepdim):
    """PyTorch's dim/keepdim as aliases of axis/keepdims -> (axis, keepdims as a bool); naming
    one thing twice is a TypeError."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: give axis or dim (the same thing), not both")
        axis = dim
    if keepdim is not None:
        if keepdims is not None:
            raise TypeError(f"{name}: give keepdims or keepdim (the same thing), not both")
        keepdims = keepdim
    return axis, bool(keepdims)


def _floating_or_complex(dtype: np.dtype) -> bool:
    return dtype.kind in "fc" or dtype.name.startswith(("bfloat16", "float8"))


def _floating_only(name, x) -> None:
    """torch's refusal of bool and integer input (std, var)."""
    dtype = _dtype_of(x)
    if dtype.kind in "biu":
        raise ArgDtypeError(f"{name}: expected a floating point or complex tensor, got {dtype}, "
                            "as torch's")


def _dtype_of(x) -> np.dtype:
    return x.data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype


def _dtype_arg(name, dtype) -> np.dtype:
    """A reduction's ``dtype=`` as a numpy dtype: a dlpy dtype or a Python type (float: float64,
    as torch's); a string (numpy's 'float32') or anything else is torch's TypeError."""
    try:
        if isinstance(dtype, str):
            raise TypeError
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}(): argument 'dtype' must be torch.dtype (dlpy.float64, ...), "
                        f"not {type(dtype).__name__}") from None


def accumulate_input(name, x, dtype):
    """torch's ``dtype=`` on sum, prod, cumsum, ...: x cast to dtype first (a recorded cast:
    the gradient flows back and arrives in x's dtype) -> (x, the result's dtype or None).
    Without dtype, bool and integer inputs give int64, as torch's (numpy's: uint64 for unsigned
    ones); floats keep their dtype."""
    source = _dtype_of(x)
    if dtype is None:
        if source.kind != "u":  # uint64 too: torch sums it to int64
            return x, None
        dtype = np.int64
    dtype = _dtype_arg(name, dtype)
    if dtype == source:
        return x, dtype
    if getattr(x, "requires_grad", False) and not _floating_or_complex(dtype):
        if is_grad_enabled():
            raise RuntimeError(f"{name}: x requires gradients, so dtype must be a float or "
                               f"complex dtype, got {dtype} (torch: 'Autograd not support "
                               f"dtype', a RuntimeError)")
        x = x.detach()  # under no_grad torch reduces it in any dtype
    return cast(x, dtype), dtype


def in_dtype(y, dtype):
    """A reduction's result in the dtype ``accumulate_input`` gave (numpy sums and multiplies
    small integers and bools as int64: cast back, wrapping around as torch's do)."""
    return y if dtype is None or y.dtype == dtype else cast(y, dtype)


def _mean_input(name, x, dtype):
    """torch's mean: of a floating point or complex tensor, or with such a ``dtype=`` (x cast
    to it first, as ``accumulate_input``); anything else is torch's RuntimeError."""
    if dtype is None:
        source = _dtype_of(x)
        if not _floating_or_complex(source):
            raise RuntimeError(f"{name}(): could not infer output dtype. Input dtype must be "
                               f"either a floating point or complex dtype. Got: "
                               f"{_torch_name(source)}")
        return x
    return accumulate_input(name, x, _mean_dtype(name, dtype))[0]


def _mean_dtype(name, dtype) -> np.dtype:
    dtype = _dtype_arg(name, dtype)
    if not _floating_or_complex(dtype):
        raise RuntimeError(f"{name}(): could not infer output dtype. Optional dtype must be "
                           f"either a floating point or complex dtype. Got: {_torch_name(dtype)}")
    return dtype


def norm_input(name, x, dtype):
    """torch's checks of a norm's input and ``dtype=`` (messages as torch's ``name``,
    linalg.vector_norm or linalg.matrix_norm): x floating point or complex; dtype of the same
    kind, not narrower than x's; x cast to it first (the result is real either way)."""
    source = _dtype_of(x)
    if not _floating_or_complex(source):
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                           f"{_torch_name(source)}")
    if dtype is None:
        return x
    dtype = _dtype_arg(name, dtype)
    if not _floating_or_complex(dtype):
        raise RuntimeError(f"{name}: dtype should be floating point or complex, but got "
                           f"{_torch_name(dtype)}")
    if (source.kind == "c") != (dtype.kind == "c"):
        kind = "complex for complex" if source.kind == "c" else "real for real"
        raise RuntimeError(f"{name}: dtype should be {kind} inputs, but got {_torch_name(dtype)}")
    if np.promote_types(source, dtype) != dtype:
        raise RuntimeError(f"{name}: the dtype of the input ({_torch_name(source)}) should be "
                           f"convertible without narrowing to the specified dtype "
                           f"({_torch_name(dtype)})")
    return accumulate_input(name, x, dtype)[0]


def _rounded(array, low):
    """A float32 array rounded to float16/bfloat16 ``low`` and back: torch's rounding of each
    step of a low-precision formula (past its range: inf, silently)."""
    with np.errstate(over="ignore"):
        return array.astype(low).astype(np.float32)


def _keep(op, tensor):
    """A reduction's output (or its gradient), a Tensor, with the reduced axes kept as length 1:
    it broadcasts against the input (for backward_graph)."""
    if op.keepdims:
        return tensor
    return tensor.reshape(tuple(1 if i in op.axes else n
                                for i, n in enumerate(op.inputs[0].shape)))


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class Sum(Op):
    """y = sum of x over axes;  dx = g broadcast back over those axes."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves_tensors = False  # torch saves only sizes: a second backward works

    complex_ok = True
    float8_kernel = "sum_cpu"  # torch's refusal of float8 (amp/dtypes.py's _float8)
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, axes, keepdims, dim_given=None):
        self.axes, self.keepdims = axes, keepdims
        self.dim_given = dim_given  # whether a dim was given (torch's overload): None unknown

    def forward(self, x):
        self.shape = x.shape
        # (the ufunc's own reduce: np.sum's wrapper is numpy's frame, where inf + -inf's
        # "invalid value" warning would escape dlpy's filter, __init__.py)
        return np.add.reduce(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        return (np.broadcast_to(grad_output, self.shape),)

    def backward_graph(self, grad_output, output):
        return (expand(_keep(self, grad_output), self.inputs[0].shape),)


def _two_over(dof) -> np.float64:
    """2 / (N - correction) of var's gradient: inf (or -inf) at no degrees of freedom, as
    torch's (a nan gradient then; a Python ZeroDivisionError before)."""
    with np.errstate(divide="ignore"):
        return np.float64(2.0) / np.float64(dof)


class Mean(Sum):
    """y = mean of x over axes;  dx = g / n broadcast back."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, x):
        self.count = int(np.prod([x.shape[a] for a in self.axes]))
        self.shape = x.shape
        if not self.count:  # nan, silently as torch's (numpy warns "Mean of empty slice")
            return np.add.reduce(x, axis=self.axes, keepdims=self.keepdims) * np.nan
        with np.errstate(over="ignore", invalid="ignore"):  # (past the dtype: inf, silently)
            return np.mean(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad_output):
        (grad,) = super().backward(grad_output)
        return (grad / np.asarray(self.count, dtype=grad.dtype),)

    def backward_graph(self, grad_output, output):
        (grad,) = super().backward_graph(grad_output, output)
        return (grad / self.count,)


class Max(Op):
    """y = max of x over axes;  dx = g shared equally among the positions that reach the max."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves = (0, "output")  # read by backward (in-place checks, Op.saves)

    reduce = staticmethod(np.max)
    float8_kernel = "max_all"  # torch's refusal of float8

    def __init__(self, axes, keepdims, nan_share=False):
        # nan_share: torch.max(x)'s whole reduction, whose nan result shares g among x's nans
        # (torch.amax's mask is x == y: no position, g / 0)
        self.axes, self.keepdims, self.nan_share = axes, keepdims, nan_share

    def forward(self, x):
        if x.itemsize == 1:  # float8: torch refuses
            refuse_float8(self.float8_kernel, x)
        y = self.reduce(x, axis=self.axes, keepdims=True)
        self.mask = x == y
        if self.nan_share and is_floating_dtype(x.dtype) and np.isnan(y).any():
            self.mask = np.isnan(x)
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        count = self.mask.sum(axis=self.axes, keepdims=True)
        grad = grad_output * self.mask / count
        if self.nan_share or isinstance(self, Median):
            # torch.max(x), min(x), median(x): evenly_distribute_backward fills g / count in
            # at the extremes (zeros elsewhere, an inf g too); amax/amin multiply by the mask
            return (dropped_as_zeros(grad, self.mask),)
        return (grad,)

    def backward_graph(self, grad_output, output):
        # a constant share, as PyTorch: the max's second derivative is 0 almost everywhere
        share = self.mask / self.mask.sum(axis=self.axes, keepdims=True)
        return (_keep(self, grad_output) * share,)


class Min(Max):
    """y = min of x over axes;  dx = g shared equally among the positions that reach the min."""

    reduce = staticmethod(np.min)
    float8_kernel = "min_all"


def _infinite_rows(probs: np.ndarray, x: np.ndarray, top: np.ndarray) -> np.ndarray:
    """logsumexp's softmax with torch's gradient exp(x - y) on the rows holding +inf (y = inf):
    0 at the finite entries, nan at the infinite ones."""
    if not np.isposinf(top).any():
        return probs
    with np.errstate(invalid="ignore"):
        return np.where(np.isposinf(top), np.exp(x - top), probs).astype(probs.dtype, copy=False)


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class LogSumExp(Op):
    """y = log(sum(exp(x))) over axes, computed as m + log(sum(exp(x - m))) with m the max;
    dx = g * softmax(x), kept from the forward pass (exp(x - y) would lose float32's digits
    when |y| is large): the fused, stable form."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves = (0, "output")  # read by backward (in-place checks, Op.saves)

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        # initial=-inf: an empty axis sums to 0 and gives -inf, as PyTorch
        top = np.max(x, axis=self.axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(top), top, 0)  # a row of -inf (or a +inf) must not make inf - inf
        probs = np.exp(x - m)
        total = probs.sum(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (np.log(total) + m).astype(x.dtype, copy=False)
            probs /= total  # nan on a row of -inf, as PyTorch's gradient
        self.probs = _infinite_rows(probs, x, top)
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def forward_low_precision(self, x):
        """float16/bfloat16 as torch's composite: each of amax, x - m, exp, sum (float32
        accumulation), log and + m rounded to x's dtype."""
        low = x.dtype

        def rounded(a):
            return a.astype(low).astype(np.float32)

        x = x.astype(np.float32)
        top = np.max(x, axis=self.axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(top), top, 0)
        with np.errstate(over="ignore"):
            probs = rounded(np.exp(rounded(x - m)))
            total = rounded(probs.sum(axis=self.axes, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (rounded(np.log(total)) + m).astype(low)
            probs /= total
        self.probs = _infinite_rows(probs, x, top)
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        return (grad_output * self.probs,)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        return (_keep(self, grad_output) * (x - _keep(self, output)).exp(),)


def _kept_mean(x, axes, dtype=None):
    """``x.mean(axis=axes, keepdims=True, dtype=dtype)``; over an empty slice nan without
    numpy's "Mean of empty slice" RuntimeWarning (torch's var/std of nothing warns only about
    the degrees of freedom)."""
    if x.size or type(x) is not np.ndarray:  # (meta and vmap's stand-ins: their own mean)
        return x.mean(axis=axes, keepdims=True, dtype=dtype)
    total = x.sum(axis=axes, keepdims=True, dtype=dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / total.dtype.type(math.prod(x.shape[a] for a in axes))


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class Var(Op):
    """y = sum((x - mean)^2) / max(0, n - correction) over axes;  dx = 2 (x - mean) g /
    (n - correction). n - correction <= 0 gives inf (or nan when every deviation is 0), as
    PyTorch; its gradient divides by n - correction unclamped (negative where correction > n),
    and over every axis (``every_axis``: no dim given) is g times nan where x is the mean, inf
    elsewhere, as torch's var_backward."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves = (0,)  # read by backward (in-place checks, Op.saves)

    root = False

    low = None  # float16/bfloat16 x: backward rounds each step to it, as torch's formula
    welford = False  # var_mean/std_mean: torch's Welford kernel (a float64 mean) always
    every_axis = False  # no dim given: torch's var_backward has its own form at dof <= 0

    def __init__(self, axes, keepdims, correction):
        self.axes, self.keepdims, self.correction = axes, keepdims, correction

    def forward(self, x):
        dof = math.prod(x.shape[a] for a in self.axes) - self.correction
        self.dof = x.dtype.type(dof if dof > 0 else 0)  # max(0, dof): this module shadows max
        self.grad_dof = dof  # backward's divisor: unclamped, as torch's var_backward
        self.deviation = x - _kept_mean(x, self.axes)
        # torch's CPU kernels accumulate float32 in float64 (a variance past float32's range
        # still gives a finite std), the result rounded once: about a float32 mean where one
        # value comes out (std_var_all), else a float64 one (Welford's; var_mean's always)
        wide = x.dtype == np.float32 and type(x) is np.ndarray
        if wide:
            center = _kept_mean(x, self.axes)
            if self.welford or center.size > 1:
                center = _kept_mean(x, self.axes, np.float64)
            deviation = x.astype(np.float64) - center
        else:
            deviation = self.deviation
            count = dof + self.correction
            if type(x) is np.ndarray and x.dtype == np.float64 and x.size > 0 and (
                    self.welford or x.size > count):
                # torch's Welford kernel (every var/std with a dim, var_mean's always) gives a
                # row of equal values exactly 0 (the two-pass mean's rounding gave 1e-17, and
                # std a gradient where torch's is 0): deviations from each row's first value,
                # their mean taken out (backward keeps the two-pass deviations, as torch's)
                first = x[tuple(slice(0, 1) if a in self.axes else slice(None)
                                for a in range(x.ndim))]
                shifted = x - first
                deviation = shifted - shifted.mean(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = np.square(deviation).sum(axis=self.axes, keepdims=True) / (
                np.float64(self.dof) if wide else self.dof)
            if self.root:
                y = np.sqrt(y)
            if wide:
                y = y.astype(np.float32)
        self.y = y
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def forward_low_precision(self, x):
        """float16/bfloat16: computed in float32, the output rounded once; backward then
        reads the rounded output and x - (the rounded mean), rounded, as torch's."""
        self.low, wide = x.dtype, x.astype(np.float32)
        y = self.forward(wide)
        self.y = _rounded(self.y, self.low)
        with np.errstate(invalid="ignore"):  # (no elements: nan, silently as torch's)
            mean = wide.mean(axis=self.axes, keepdims=True)
        self.deviation = _rounded(wide - _rounded(mean, self.low), self.low)
        with np.errstate(over="ignore"):
            return y.astype(self.low)

    def _no_dof(self) -> np.ndarray | None:
        """torch's var_backward factor over every axis at n - correction <= 0 (nan where x is
        the mean, inf elsewhere, not 2 (x - mean) / (n - correction)); None otherwise."""
        if not (self.every_axis and self.grad_dof <= 0):
            return None
        return np.where(self.deviation == 0, np.nan, np.inf).astype(self.deviation.dtype)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            no_dof = self._no_dof()
            if no_dof is not None:  # std: var's of g / (2 std), 0 there (std is inf or nan)
                if self.root:
                    grad_output = np.where(self.y == 0, 0, grad_output / (self.y * 2))
                return ((grad_output * no_dof).astype(self.deviation.dtype),)
            if self.low is not None:  # torch's var_backward(g / (2 std)) for std, each step
                if self.root:  # rounded to x's dtype
                    grad_output = np.where(self.y == 0, 0, _rounded(
                        grad_output / _rounded(self.y * 2, self.low), self.low))
                scale = _rounded(grad_output * np.float32(_two_over(self.grad_dof)), self.low)
                return (self.deviation * scale,)
            if self.root:  # d std = d var / (2 std), and 0 where std = 0, as PyTorch
                scale = np.where(self.y == 0, 0, grad_output / (self.y * self.grad_dof))
            else:
                scale = grad_output * _two_over(self.grad_dof)
            return (self.deviation * scale,)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        grad_output, output = _keep(self, grad_output), _keep(self, output)
        deviation = x - x.mean(axis=self.axes, keepdims=True)
        no_dof = self._no_dof()
        if no_dof is not None:  # a constant factor: no gradient through it, as torch's where
            if self.root:
                zero = output.data == 0
                grad_output = where(zero, 0.0, grad_output / (where(zero, 1.0, output) * 2))
            grad = grad_output * Tensor(no_dof.real)  # (real: inf * (inf + 0j) has a nan)
            return (grad.to(no_dof.dtype) if no_dof.dtype.kind == "c" else grad,)
        if not self.root:
            return (deviation * (grad_output * _two_over(self.grad_dof)),)
        zero = output.data == 0  # a constant: no gradient where std = 0, as backward
        safe = where(zero, 1.0, output)
        return (deviation * where(zero, 0.0, grad_output / (safe * self.grad_dof)),)


class Std(Var):
    """y = sqrt(var(x));  dx = (x - mean) g / (std * (n - correction)), 0 where std is 0."""

    saves = (0, "output")  # read by backward (in-place checks, Op.saves)

    root = True


class ComplexVar(Var):
    """var of a complex z, real: the variances of the real and imaginary parts added, as
    torch's;  dz = 2 (z - mean) g / (n - correction), torch's var_backward: the real factor
    times the complex deviation (inf times a deviation is inf where n = correction, not nan).
    Over every axis (``every_axis``: no dim given) with n <= correction: g times nan where z is
    the mean, inf elsewhere, a real gradient (0 imaginary part), as torch's."""

    complex_ok = True

    def __init__(self, axes, keepdims, correction, every_axis):
        super().__init__(axes, keepdims, correction)
        self.every_axis = every_axis

    def forward(self, z):
        count = math.prod(z.shape[a] for a in self.axes)
        dof = count - self.correction
        self.dof = z.real.dtype.type(dof if dof > 0 else 0)
        self.grad_dof = dof  # backward's divisor: unclamped, as torch's var_backward
        with np.errstate(divide="ignore", invalid="ignore"):  # (an empty z: nan, no warning)
            self.deviation = z - z.sum(axis=self.axes, keepdims=True) / z.real.dtype.type(count)
            y = (np.square(self.deviation.real).sum(axis=self.axes, keepdims=True) / self.dof
                 + np.square(self.deviation.imag).sum(axis=self.axes, keepdims=True) / self.dof)
            if self.root:
                y = np.sqrt(y)
        self.y = y
        return y if self.keepdims else np.squeeze(y, axis=self.axes)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.root:  # torch's std_backward: var's of g / (2 std), 0 where std = 0
                grad_output = np.where(self.y == 0, 0, grad_output / (self.y * 2))
            if self.every_axis and self.grad_dof <= 0:
                grad = grad_output * np.where(self.deviation == 0, np.nan, np.inf)
                return (grad.astype(self.deviation.dtype),)
            return (grad_output * _two_over(self.grad_dof) * self.deviation,)


class ComplexStd(ComplexVar):
    """sqrt(var) of a complex z, as ComplexVar."""

    saves = (0, "output")  # read by backward (in-place checks, Op.saves)

    root = True


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class Norm(Op):
    """y = (sum |x|^p)^(1/p) over axes (p = inf: max |x|, -inf: min |x|, 0: the count of
    non-zeros; p < 0 gives 0 where some x is 0);  dx = g sign(x) |x|^(p-1) / y^(p-1), p = 2:
    g x / y; p = +-inf: g sign(x) shared among the positions that reach the max (min); p = 0:
    none (as torch). Where y = 0 the gradient is 0 (as PyTorch), so normalising a zero vector
    gives no nan (p = 2: g times 0, nan for a nan g, as torch's)."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves = (0, "output")  # read by backward (in-place checks, Op.saves)

    low = None  # float16/bfloat16 x: backward rounds as torch's (p = 2)

    complex_ok = True  # (p = 2 only: norm() takes the other norms of |x|)

    def __init__(self, p, axes, keepdims):
        self.p, self.axes, self.keepdims = p, axes, keepdims

    def forward(self, x):
        p, axes, magnitude = self.p, self.axes, np.abs(x)
        if p == math.inf:
            y = np.max(magnitude, axis=axes, keepdims=True, initial=0)
        elif p == -math.inf:
            y = np.min(magnitude, axis=axes, keepdims=True, initial=math.inf)
        elif p == 0:
            y = (magnitude != 0).sum(axis=axes, keepdims=True)
        elif p == 1:
            y = magnitude.sum(axis=axes, keepdims=True)
        elif p == 2:
            squares = np.square(x) if x.dtype.kind != "c" else np.square(magnitude)
            y = np.sqrt(squares.sum(axis=axes, keepdims=True))
        else:
            with np.errstate(divide="ignore"):  # p < 0: 0^p = inf, and the norm 0
                y = (magnitude ** p).sum(axis=axes, keepdims=True) ** (1 / p)
        self.x, self.y = x, y.astype(x.real.dtype, copy=False)
        return self.y if self.keepdims else np.squeeze(self.y, axis=axes)

    def forward_low_precision(self, x):
        """float16/bfloat16: computed in float32, the output rounded once; backward reads the
        rounded norm."""
        self.low = x.dtype
        y = self.forward(x.astype(np.float32))
        self.y = _rounded(self.y, self.low)
        return y.astype(self.low)

    def backward(self, grad_output):
        if not self.keepdims:
            grad_output = np.expand_dims(grad_output, self.axes)
        p, x, y = self.p, self.x, self.y
        if p == 0:
            return (None,)
        if p in (math.inf, -math.inf):
            at_max = np.abs(x) == y
            return (np.sign(x) * at_max * (grad_output / at_max.sum(axis=self.axes,
                                                                   keepdims=True)),)
        if p == 1:
            return (np.sign(x) * grad_output,)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2:  # torch's g * (x / y) (each rounded for float16/bfloat16), x / y taken
                # as 0 where y = 0: a nan or inf g still gives nan there, as torch's
                unit = x / y if self.low is None else _rounded(x / y, self.low)
                return (grad_output * np.where(y == 0, 0, unit),)
            scale = np.where(y == 0, 0, grad_output / y ** (p - 1))
            magnitude = np.abs(x)
            # sign(x) |x|^(p-1), with 0^(negative) taken as 0 where x is 0 (p < 1)
            powered = np.where(magnitude == 0, 0, magnitude ** (p - 1))
            return (np.sign(x) * powered * scale,)

    def backward_graph(self, grad_output, output):
        (x,), p = self.inputs, self.p
        grad_output, y = _keep(self, grad_output), _keep(self, output)
        sign = np.sign(x.data)
        if p == 0:
            return (None,)
        # p = +-inf, 1: constant slopes (the share of each position at the max, sign(x)),
        # tied to x as torch's (through sgn), so a gradient of them reaches x as zeros
        if p in (math.inf, -math.inf):
            at_max = np.abs(x.data) == y.data
            share = sign * at_max / at_max.sum(axis=self.axes, keepdims=True)
            return (slope_grad(grad_output, share, x),)
        if p == 1:
            return (slope_grad(grad_output, sign, x),)
        zero = y.data == 0  # no gradient where the norm is 0, as backward
        scale = where(zero, 0.0, grad_output / (where(zero, 1.0, y) ** (p - 1)))
        if p == 2:
            return (x * scale,)
        magnitude = x.abs()
        small = magnitude.data == 0  # 0^(p-1) taken as 0
        return (where(small, 0.0, where(small, 1.0, magnitude) ** (p - 1)) * sign * scale,)


class SumOfSquares(Op):
    """y = sum(w * x^2) over everything, w a constant broadcast to x;  dx = 2 w x g.

    One op instead of sum(x * x * w): two passes over x forward and one backward instead of
    three temporaries and the gradient of a product (a ridge penalty on a large weight matrix
    is evaluated every step)."""

    def __init__(self, weight):
        self.weight = weight

    def forward(self, x):
        self.x = x
        w = self.weight
        if w is None:
            return np.asarray(np.vdot(x, x), dtype=x.dtype)
        return np.asarray(np.vdot(x * w, x), dtype=x.dtype)

    def backward(self, grad_output):
        scale = 2.0 * np.asarray(grad_output, dtype=self.x.dtype)
        # the small weight array is scaled, then x multiplied once
        return (self.x * (scale if self.weight is None else self.weight * scale),)

    def backward_graph(self, grad_output, output):
        scale = grad_output * 2.0 if self.weight is None else grad_output * (2.0 * self.weight)
        return (self.inputs[0] * scale,)


def sum_of_squares(x, weight=None):
    """sum(weight * x ** 2) as a scalar; `weight` (a constant: number or array that broadcasts to
    x without changing its shape) defaults to 1."""
    shape = _shape(x)
    if weight is not None:
        weight = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
        if not broadcasts_to(weight.shape, shape):
            raise ValueError(f"sum_of_squares: weight of shape {weight.shape} does not "
                             f"broadcast to x's shape {shape}")
        dtype = np.asarray(x.data if isinstance(x, Tensor) else x).dtype
        weight = weight.astype(dtype if dtype.kind == "f" else np.float32, copy=False)
    return SumOfSquares(weight)(x)


def _shape(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


def sum(input, axis=None, keepdims=None, *, dim=None, keepdim=None, dtype=None):  # noqa: A001
    """The sum over axis or axes (None: every axis); with ``dtype`` x is cast to it first, as
    torch's (bool and integer x sum to int64 without it)."""
    axis, keepdims = resolve_axis("sum", axis, dim, keepdims, keepdim)
    input, dtype = accumulate_input("sum", input, dtype)
    axes = _normalize_axis("sum", axis, len(_shape(input)))
    return in_dtype(Sum(axes, keepdims, axis is not None)(input), dtype)


def mean(input, axis=None, keepdims=None, *, dim=None, keepdim=None, dtype=None):
    """The mean over axis or axes; x floating point or complex, or cast first to ``dtype``
    (one of those), as torch's."""
    axis, keepdims = resolve_axis("mean", axis, dim, keepdims, keepdim)
    input = _mean_input("mean", input, dtype)
    axes = _normalize_axis("mean", axis, len(_shape(input)))
    return Mean(axes, keepdims, axis is not None)(input)


class MaxResult(NamedTuple):
    """What max/min return when called as PyTorch's max(dim): torch.return_types.max."""

    _torch_name = "max"  # torch.return_types.max
    __repr__ = structseq_repr

    values: Tensor  # carries the gradient, to the position of ``indices`` only
    indices: Tensor  # int64 (no gradient), the first of tied extremes (the first nan), as PyTorch


class MinResult(MaxResult):
    """torch.return_types.min: (values, indices)."""

    _torch_name = "min"  # torch.return_types.min

    __slots__ = ()


@_meta.follows
def _extreme(name, op, x, axis, keepdims, dim, keepdim):
    """max or min. Given one int dim (positional, as PyTorch's x.max(1), dim= or its numpy
    alias axis=) or keepdim= / keepdims=, it is PyTorch's max(dim): (values, indices) along
    that axis (a tuple of axes there is torch's TypeError); with no axis the value over every
    axis, and with a positional tuple of axes dlpy's values alone, ties sharing the gradient
    (as torch.amax)."""
    torch_form = (dim is not None and not isinstance(dim, (tuple, list))) or keepdim is not None \
        or (name in ("max", "min") and (axis is not None or keepdims is not None))
    axis, keepdims = resolve_axis(name, axis, dim, keepdims, keepdim)
    shape = _shape(x)
    if isinstance(x, Tensor) and x.data.itemsize == 1:  # float8: torch's kernel refuses
        kernel = (f"{name}_cpu" if torch_form else f"{name[1:]}_values_cpu"
                  if name.startswith("a") else f"{name}_all")  # max(dim), amax, max()
        check_float8(kernel, x.data)
    if torch_form and (axis is None or isinstance(axis, (tuple, list))):
        raise TypeError(f"{name}: with dim=/keepdim= (PyTorch's {name}(dim) -> (values, "
                        f"indices)) dim must be one int, got {axis!r}; for the {name} over "
                        f"several or all axes use a{name}(x, dim, keepdim)")
    axes = _normalize_axis(name, axis, len(shape))
    if 0 in shape and (axis is None or any(shape[a] == 0 for a in axes)):
        # torch: no dim is a RuntimeError, an empty dim named an IndexError
        every = axis is None or (isinstance(axis, (tuple, list)) and not axis)
        error = ArgError if every else EmptyDimError
        raise error(f"{name}: cannot take the {name} over an empty axis of shape {shape}")
    if not torch_form:
        return op(axes, keepdims, name in ("max", "min") and axis is None)(x)
    result = MaxResult if op is Max else MinResult
    node_name = "MaxBackward0" if op is Max else "MinBackward0"  # torch's grad_fn
    _complex.refuse(name, x)  # complex numbers have no order
    if not shape:  # a scalar's one pseudo-axis: itself, at index 0
        return result(scalar_copy(x, node_name), Tensor(np.zeros((), dtype=np.int64)))
    (axis,) = axes
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    find = np.argmax if op is Max else np.argmin
    indices = _meta.positions(data, axis, keepdims)
    if indices is None:
        indices = np.asarray(find(data, axis=axis, keepdims=keepdims), dtype=np.int64)
    return result(_values_at(x, axis, indices, keepdims, node_name), Tensor(indices))


def _values_at(x, axis: int, indices: np.ndarray, keepdims: bool, node_name: str):
    """x's values at ``indices`` along axis (the result's shape, axis kept or not): x indexed
    with them and an arange along every other axis, GetItem's gradient going to those
    positions only, the node named ``node_name`` as torch's (MaxBackward0, ModeBackward0)."""
    index = []
    for i, n in enumerate(x.shape):
        if i == axis:
            index.append(indices)
        else:
            at = i if keepdims or i < axis else i - 1  # the axis's place in the result
            index.append(np.arange(n).reshape([-1 if j == at else 1
                                               for j in range(indices.ndim)]))
    return GetItem(tuple(index), node_name)(x)


def _binary_other(name, dim, keepdim, other):
    """torch.max / min's binary overload ``(input, other)`` named by keyword: ``other`` in
    dim's place (with a dim or keepdim too it matches no overload: torch's TypeError)."""
    if other is None:
        return dim
    if dim is not None or keepdim is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments: other= "
                        "with dim or keepdim")
    return other


def max(input, dim=None, keepdim=None, *, axis=None, keepdims=None, other=None):  # noqa: A001
    """PyTorch's max: with one int dim (x.max(1), dim=1, or torch's alias axis=1) or
    keepdim=, MaxResult(values, indices) along it; with no axis (or dlpy's positional tuple of
    axes) the values alone, as torch.amax (ties share the gradient); with a tensor in dim's
    place (``torch.max(a, b)``) or as torch's keyword ``other`` the element-wise maximum, as
    torch's overload."""
    dim = _binary_other("max", dim, keepdim, other)
    if isinstance(dim, Tensor):
        from dlpy.ops.pointwise import maximum

        return maximum(input, dim)
    return _extreme("max", Max, input, axis, keepdims, dim, keepdim)


def min(input, dim=None, keepdim=None, *, axis=None, keepdims=None, other=None):  # noqa: A001
    """The min, as ``max`` (a tensor in dim's place or as ``other``: the element-wise
    minimum)."""
    dim = _binary_other("min", dim, keepdim, other)
    if isinstance(dim, Tensor):
        from dlpy.ops.pointwise import minimum

        return minimum(input, dim)
    return _extreme("min", Min, input, axis, keepdims, dim, keepdim)


def amax(input, axis=None, keepdims=None, *, dim=None, keepdim=None):
    """torch.amax: the max over axis or axes (None: every axis), values only; ties share the
    gradient equally."""
    axis, keepdims = resolve_axis("amax", axis, dim, keepdims, keepdim)
    return _extreme("amax", Max, input, axis, keepdims, None, None)


def amin(input, axis=None, keepdims=None, *, dim=None, keepdim=None):
    """torch.amin, as ``amax``."""
    axis, keepdims = resolve_axis("amin", axis, dim, keepdims, keepdim)
    return _extreme("amin", Min, input, axis, keepdims, None, None)


def logsumexp(input, axis=None, keepdims=None, *, dim=None, keepdim=None):
    """log(sum(exp(x))) over axis (None: every axis), without overflow; -inf over an empty axis.
    An integer or bool x is taken as the default float dtype, as torch's."""
    axis, keepdims = resolve_axis("logsumexp", axis, dim, keepdims, keepdim)
    if isinstance(input, Tensor) and input.data.dtype.kind in "biu":
        from dlpy.ops.promotion import floating

        input = floating(input)
    axes = _normalize_axis("logsumexp", axis, len(_shape(input)))
    if isinstance(input, Tensor) and input.data.dtype.kind == "c":
        # log(sum(exp(x - m))) + m, m the largest finite real part (a constant), as torch's
        shift = np.max(input.data.real, axis=axes, keepdims=True, initial=-np.inf)
        shift = np.where(np.isfinite(shift), shift, 0).astype(input.data.real.dtype)
        out = sum((input - Tensor(shift)).exp(), axes, keepdims).log()
        return out + Tensor(shift if keepdims else shift.reshape(out.shape))
    return LogSumExp(axes, keepdims)(input)


class _BothGivenError(TypeError, ValueError):
    """correction= and unbiased= together: a ValueError, and torch's TypeError."""


def _correction(name, correction, unbiased):
    """PyTorch's correction (default 1, Bessel's) or its older unbiased=True/False."""
    if unbiased is not None:
        if correction is not None:
            raise _BothGivenError(f"{name}: give correction or unbiased, not both")
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{name}: unbiased must be True or False, got {unbiased!r}")
        return float(unbiased)
    if isinstance(correction, (bool, np.bool_)):  # a Scalar to torch: True is 1
        return float(correction)
    return 1.0 if correction is None else real_number(name, "correction", correction)


def _legacy_moments(name, axis, legacy, unbiased, keepdim):
    """torch's older positional forms var(unbiased) and var(dim, unbiased[, keepdim]) (std,
    var_mean, std_mean too) -> (axis, unbiased, keepdim)."""
    if isinstance(axis, (bool, np.bool_)) and not legacy and unbiased is None:
        return None, bool(axis), keepdim
    if not legacy:
        return axis, unbiased, keepdim
    if len(legacy) > 2 or not all(isinstance(v, (bool, np.bool_)) for v in legacy) \
            or unbiased is not None or (len(legacy) == 2 and keepdim is not None):
        raise TypeError(f"{name}: expected (dim, unbiased, keepdim) positionally, unbiased and "
                        f"keepdim bools given once, got {legacy!r}")
    return axis, bool(legacy[0]), bool(legacy[1]) if len(legacy) == 2 else keepdim


def var(input, axis=None, *legacy, keepdims=None, correction=None, unbiased=None, dim=None,
        keepdim=None):
    """Variance over axis (None: every axis): sum((x - mean)^2) / (n - correction), correction 1
    by default (unbiased=False is correction 0), as torch.var; torch's older positional
    var(unbiased) and var(dim, unbiased, keepdim) too."""
    return _moment("var", input, axis, legacy, keepdims, correction, unbiased, dim, keepdim)


def _moment(name, input, axis, legacy, keepdims, correction, unbiased, dim, keepdim):
    """var or std (``name``: "var", "std", "var_mean", "std_mean"), as the functions."""
    axis, unbiased, keepdim = _legacy_moments(name, axis, legacy, unbiased, keepdim)
    axis, keepdims = resolve_axis(name, axis, dim, keepdims, keepdim)
    shape = _shape(input)
    axes = _normalize_axis(name, axis, len(shape))
    correction = _correction(name, correction, unbiased)
    count = math.prod(shape[a] for a in axes)
    if count - correction <= 0:
        import warnings

        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly "
                      "less than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=user_stacklevel())
    root = name.startswith("std")
    if isinstance(input, Tensor) and input.data.dtype.kind == "c":  # real, as torch's
        op = (ComplexStd if root else ComplexVar)(axes, keepdims, correction,
                                                  axis is None or not shape)
        return named(op(input), "StdBackward0" if root else "VarBackward0")
    _floating_only(name.split("_")[0], input)
    op = (Std if root else Var)(axes, keepdims, correction)
    op.welford = name.endswith("_mean")
    op.every_axis = axis is None or not shape
    return op(input)


def std(input, axis=None, *legacy, keepdims=None, correction=None, unbiased=None, dim=None,
        keepdim=None):
    """sqrt(var(x, axis, keepdims, correction)), as torch.std; its gradient is 0 where std is 0."""
    return _moment("std", input, axis, legacy, keepdims, correction, unbiased, dim, keepdim)


def norm(input, p=2, axis=None, keepdims=None, *, dim=None, keepdim=None, dtype=None):
    """The p-norm (sum |x|^p)^(1/p) over axis (None: every axis, flattened), p any real
    number or +-inf, as torch.linalg.vector_norm (x floating point or complex, cast first to
    ``dtype`` if given); the gradient at a zero vector is 0. torch.norm's p="fro" is p = 2 (over
    at most two axes), "nuc" (or "fro" over more) torch.linalg.matrix_norm's; p=None is 2."""
    axis, keepdims = resolve_axis("norm", axis, dim, keepdims, keepdim)
    if isinstance(p, str):
        if p != "fro" or not (axis is None or not isinstance(axis, (tuple, list))
                              or len(axis) <= 2):
            from dlpy.linalg import matrix_norm  # torch.norm's "nuc": a matrix norm

            if axis is None:
                axis = list(range(len(_shape(input))))
            return matrix_norm(input, p, axis if isinstance(axis, (tuple, list)) else [axis],
                               keepdims, dtype=dtype)
        p = 2
    input = norm_input("linalg.vector_norm", input, dtype)
    p = real_number("norm", "p", 2 if p is None else p, finite=False)
    axes = _normalize_axis("norm", axis, len(_shape(input)))
    if (p < 0 or p == math.inf) and any(_shape(input)[a] == 0 for a in axes):
        raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on an empty "
                           f"tensor because the operation does not have an identity")
    if type(input) is not Tensor and np.iscomplexobj(input.data if isinstance(input, Tensor)
                                                     else input):
        from dlpy.ops.arithmetic import abs as _abs

        if p != 2:  # the norm of the magnitudes, real (as torch's); the 2-norm's gradient is
            input = _abs(input)  # g x / y of x itself, as torch's (through |x| the second
            # derivative lost its 1 / y where some x is 0: sgn's derivative there is 0)
    return Norm(p, axes, keepdims)(input)


# ----------------------------------------------------------------- more of torch's reductions,
# composed from the ops above (gradients of gradients come free); integer results carry none


class ValuesIndices(NamedTuple):
    """(values, indices), as torch.return_types.median / kthvalue / mode / aminmax's kin."""

    _torch_name = "median"  # torch.return_types.median
    __repr__ = structseq_repr

    values: Tensor  # carries the gradient, to the position of ``indices`` only
    indices: Tensor  # int64, no gradient


# each op's own kind, named (and printed) as torch's
VALUES_INDICES = {name: subtype(ValuesIndices, name) for name in (
    "median", "nanmedian", "mode", "kthvalue", "cummax", "cummin")}


class MinMax(NamedTuple):
    """torch.return_types.aminmax: (min, max)."""

    _torch_name = "aminmax"  # torch.return_types.aminmax
    __repr__ = structseq_repr

    min: Tensor
    max: Tensor


class NanSum(Sum):
    """y = sum of x over axes, nan taken as 0;  dx = g * (x is not nan), a product as torch's
    (an inf or nan g, from the nanmean of an all-nan row, gives nan where x is nan)."""

    saves = (0,)  # the nan positions of x, as torch saves x
    saves_tensors = True

    def forward(self, x):
        self.keep = ~np.isnan(x)
        return super().forward(np.where(self.keep, x, x.dtype.type(0)))

    def backward(self, grad_output):
        (grad,) = super().backward(grad_output)
        return (grad * self.keep,)

    def backward_graph(self, grad_output, output):
        (grad,) = super().backward_graph(grad_output, output)
        return (grad * Tensor(~np.isnan(self.inputs[0].data)),)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum with nan taken as 0 (before the cast to ``dtype``, as torch's);  dx = g where x
    is not nan, 0 there. Integer and bool x sum as ``sum``; complex x is refused, as torch's."""
    _complex.refuse("nansum", input)
    if not _floating_or_complex(_dtype_of(input)):
        return sum(input, dim=dim, keepdim=keepdim, dtype=dtype)
    if dtype is not None and np.dtype(dtype).kind == "c":
        raise NotImplementedError("\"nansum_cpu\" not implemented for "
                                  f"'{_torch_name(np.dtype(dtype))}'")  # as torch's
    if dtype is not None and not _floating_or_complex(np.dtype(dtype)):  # nan to 0, then cast
        return sum(where(np.isnan(input.data), 0.0, input), dim=dim, keepdim=keepdim, dtype=dtype)
    input, dtype = accumulate_input("nansum", input, dtype)
    return NanSum(_normalize_axis("nansum", dim, input.ndim), keepdim)(input)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the values that are not nan (nan where every value is nan); x floating point
    or complex, ``dtype`` too, as torch's."""
    source = _dtype_of(input)
    if not _floating_or_complex(source):
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype "
                           f"but got {_torch_name(source)}")
    if dtype is not None:
        dtype = _mean_dtype("nanmean", dtype)
    axes = _normalize_axis("nanmean", dim, input.ndim)
    count = np.sum(~np.isnan(input.data), axis=axes, keepdims=keepdim)
    total = nansum(input, dim, keepdim, dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count.astype(total.dtype)


@_meta.follows
def count_nonzero(input, dim=None) -> Tensor:
    """The number of non-zero elements over dim (None: all), an int64 tensor."""
    data = np.asarray(input.data if isinstance(input, Tensor) else input)
    axes = _normalize_axis("count_nonzero", dim, data.ndim)
    return Tensor(row_major(np.count_nonzero(data, axis=axes).astype(np.int64)))


def var_mean(input, dim=None, *legacy, correction=None, unbiased=None, keepdim=None):
    """(var, mean) over dim, as torch.var_mean."""
    dim, unbiased, keepdim = _legacy_moments("var_mean", dim, legacy, unbiased, keepdim)
    keepdim = bool(keepdim)
    from dlpy.ops.multi_output import join  # torch's one node for both

    return join("VarMeanBackward0", (_moment("var_mean", input, None, (), None, correction,
                                             unbiased, dim, keepdim),
                                     mean(input, dim=dim, keepdim=keepdim)))


def std_mean(input, dim=None, *legacy, correction=None, unbiased=None, keepdim=None):
    """(std, mean) over dim, as torch.std_mean."""
    dim, unbiased, keepdim = _legacy_moments("std_mean", dim, legacy, unbiased, keepdim)
    keepdim = bool(keepdim)
    from dlpy.ops.multi_output import join

    return join("StdMeanBackward0", (_moment("std_mean", input, None, (), None, correction,
                                             unbiased, dim, keepdim),
                                     mean(input, dim=dim, keepdim=keepdim)))


def aminmax(input, *, dim=None, keepdim=False) -> MinMax:
    """(amin, amax) over dim (None: everything), as torch.aminmax."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"aminmax(): argument 'dim' must be int, not {type(dim).__name__}")
    from dlpy.ops.multi_output import join

    return MinMax(*join("AminmaxBackward0", (amin(input, dim=dim, keepdim=keepdim),
                                             amax(input, dim=dim, keepdim=keepdim))))


def _lower_median(x, axis, keepdims):
    """The lower of the two middle values over axes (nan if any value is nan)."""
    flat = np.moveaxis(x, axis, tuple(range(-len(axis), 0))).reshape(
        *[n for i, n in enumerate(x.shape) if i not in axis], -1)
    y = np.sort(flat, axis=-1)[..., (flat.shape[-1] - 1) // 2]  # nan sorts last
    if is_floating_dtype(x.dtype) or x.dtype.kind == "c":  # (integers: no nan, and float64
        y = np.where(np.isnan(flat).any(axis=-1), np.nan, y).astype(x.dtype)  # would round)
    return y.reshape([1 if i in axis else n for i, n in enumerate(x.shape)])


class Median(Max):
    """y = the lower median of x over every axis;  dx = g shared equally among the positions
    equal to it (the nans when it is nan), as PyTorch's median()."""

    reduce = staticmethod(_lower_median)
    float8_kernel = "median_cpu"

    def forward(self, x):
        y = super().forward(x)
        if np.isnan(y).any():
            self.mask = np.isnan(x)
        return y


def _lower_nanmedian(x, axis, keepdims):
    """The lower of the two middle values that are not nan over axes (nan if all are)."""
    flat = np.moveaxis(x, axis, tuple(range(-len(axis), 0))).reshape(
        *[n for i, n in enumerate(x.shape) if i not in axis], -1)
    valid = (~np.isnan(flat)).sum(axis=-1, keepdims=True)
    y = np.take_along_axis(np.sort(flat, axis=-1), np.maximum(valid - 1, 0) // 2, axis=-1)
    return y.reshape([1 if i in axis else n for i, n in enumerate(x.shape)])


class NanMedian(Median):
    """y = the lower median of x's values that are not nan, over every axis;  dx = g shared
    equally among the positions equal to it (the nans when all are nan), as PyTorch's
    nanmedian()."""

    reduce = staticmethod(_lower_nanmedian)
    float8_kernel = "median_cpu"


def _dim_or_scalar(name, x, dim):
    from dlpy.ops import check_dim

    return check_dim(name, dim, x.ndim, scalar_ok=True)


def _select(name, x, dim, keepdim, indices, node_name) -> ValuesIndices:
    """x's values at ``indices`` (kept axis of length 1) along dim: the gradient goes there,
    through a node torch's name (KthvalueBackward0, ...)."""
    result = VALUES_INDICES[name]
    if x.ndim == 0:
        return result(scalar_copy(x, node_name), Tensor(np.zeros((), dtype=np.int64)))
    if not keepdim:
        indices = np.squeeze(indices, dim)
    # row-major as torch's (an argsort along a transposed x's axis came transposed)
    indices = indices.astype(np.int64, order="C")
    return result(_values_at(x, dim, indices, keepdim, node_name), Tensor(indices))


def _median_dim(name, x, dim, keepdim, ignore_nan):
    dim = _dim_or_scalar(name, x, dim)
    data = x.data if x.ndim else x.data.reshape(1)
    if data.shape[dim] == 0 and x.ndim:  # (also where another axis is empty, as torch's)
        raise _EmptyKError(f"{name}(): Expected reduction dim {dim % data.ndim} to have "
                           "non-zero size.")
    # no order (the values are gathered, which takes complex); after the dim's checks, as
    # torch's kernel
    _complex.refuse(name, x)
    refuse_bool("median_out", data)  # (after the dim's checks, as torch's kernel)
    found = _meta.positions(data, dim, keepdims=True)  # (a meta x: no values to sort)
    if found is not None:
        return _select(name, x, dim, keepdim, found,
                       "MedianBackward1" if name == "median" else "NanmedianBackward1")
    order = np.argsort(data, axis=dim, kind="stable")  # nan last
    nans = np.isnan(data)
    valid = data.shape[dim] - nans.sum(axis=dim, keepdims=True)
    if ignore_nan:
        k = np.maximum(valid - 1, 0) // 2
    else:  # a row with a nan gives its first nan
        k = np.where(valid < data.shape[dim], valid, (data.shape[dim] - 1) // 2)
    return _select(name, x, dim, keepdim, np.take_along_axis(order, k, axis=dim),
                   "MedianBackward1" if name == "median" else "NanmedianBackward1")


def median(input, dim=None, keepdim=False):
    """torch.median: with no dim the lower median of everything (nan if any is nan); with dim
    (values, indices) of the lower median along it (nan and its index where a row has one)."""
    if dim is None:
        if input.data.size == 0 and input.data.dtype.kind in "fVb":  # nan, as torch's (True
            return _empty_median(input, "MedianBackward0")  # for bool: no kernel runs)
        refuse_bool("median_cpu", input.data)
        if input.data.size == 0 and input.data.dtype.kind in "iu":  # torch's nan made an
            dtype = input.data.dtype  # integer: the lowest int32/int64, else 0
            low = np.iinfo(dtype).min if dtype.kind == "i" and dtype.itemsize >= 4 else 0
            return Tensor(np.array(low, dtype=dtype))
        return Median(tuple(range(input.ndim)), False)(input)
    return _median_dim("median", input, dim, keepdim, ignore_nan=False)


def _empty_median(input, node_name):
    """The median of no values: nan (True for bool), a node of x's graph when x requires grad
    (an empty gradient), as torch's."""
    if not (input.requires_grad and is_grad_enabled()):
        return Tensor(np.array(np.nan, dtype=input.data.dtype))
    return named(input.sum() + float("nan"), node_name)


def nanmedian(input, dim=None, keepdim=False):
    """torch.nanmedian: median ignoring nan (nan where a row is all nan)."""
    if dim is None:
        if input.data.size == 0 and input.data.dtype.kind in "fV":
            return _empty_median(input, "NanmedianBackward0")
        if input.data.size == 0 or not _floating_or_complex(input.data.dtype):
            return median(input)
        return NanMedian(tuple(range(input.ndim)), False)(input)
    return _median_dim("nanmedian", input, dim, keepdim, ignore_nan=True)


class _EmptyKError(ArgError, IndexError):
    """kthvalue along a dim of size 0: torch's IndexError (non-zero size expected), an
    ArgError (ValueError, RuntimeError) as for any k out of range."""


@_meta.follows
def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """(values, indices) of the k-th smallest (k from 1) along dim, as torch.kthvalue."""
    dim = _dim_or_scalar("kthvalue", input, dim)
    size = input.shape[dim] if input.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= size:
        raise (_EmptyKError if size == 0 else ArgError)(
            f"kthvalue: k must be an int in [1, {size}], got {k!r}")
    if input.ndim:  # complex numbers have no order; a 0-d x runs no kernel (its value,
        _complex.refuse("kthvalue", input)  # untracked), as torch's
    _complex.refuse_grad("kthvalue", input)
    data = input.data if input.ndim else input.data.reshape(1)
    if data.itemsize == 1:  # float8 and bool: torch refuses (a 0-d x runs no kernel)
        check_float8("kthvalue_cpu", data)
        if input.ndim:
            refuse_bool("kthvalue_cpu", data)
    return _select("kthvalue", input, dim, keepdim, kthvalue_indices(data, k, dim),
                   "KthvalueBackward0")


def _mode_sorted(row) -> int:
    """Index torch's CPU mode gives for a row: it std::sorts (value, index) pairs by `<` (nan
    equivalent to everything), then takes the first longest run of `==` values and the index
    at its end (replayed: std_sort.py)."""
    from dlpy.ops.std_sort import std_sort_order

    values = row.tolist()
    order = std_sort_order(len(values), lambda i, j: values[i] < values[j])
    best, best_count, count = order[0], 0, 0
    for k, i in enumerate(order):
        count += 1
        if k == len(order) - 1 or not values[i] == values[order[k + 1]]:
            if count > best_count:
                best, best_count = i, count
            count = 0
    return best


@_meta.follows
def mode(input, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """(values, indices) of the most frequent value along dim (the smallest of equally frequent
    ones) and the position torch's CPU mode gives (the last where it occurs, in up to 16
    values)."""
    dim = _dim_or_scalar("mode", input, dim)
    data = np.moveaxis(input.data if input.ndim else input.data.reshape(1), dim, -1)
    if not data.shape[-1]:
        raise EmptyDimError(f"mode: dim {dim} of shape {tuple(input.shape)} is empty")
    if input.ndim and data.size:  # complex numbers have no order; a 0-d or empty x runs no
        _complex.refuse("mode", input)  # kernel (untracked), as torch's
    _complex.refuse_grad("mode", input)
    if _meta.is_meta_array(data):  # no values to count: meta positions
        from dlpy.device import meta_array

        found = meta_array(data.shape[:-1] if input.ndim else (1,), np.int64)
        indices = np.expand_dims(found, dim) if input.ndim else found
        return _select("mode", input, dim, keepdim, indices, "ModeBackward0")
    rows = data.reshape(-1, data.shape[-1])
    found = np.empty(len(rows), dtype=np.int64)
    for r, row in enumerate(rows):
        if len(row) > 16 or _floating_or_complex(row.dtype) and np.isnan(row).any():
            # (up to 16 values std::sort is a stable insertion sort: without nan, the last
            # position of the mode, found below)
            found[r] = _mode_sorted(row)
            continue
        values, counts = np.unique(row, return_counts=True)
        best = values[np.argmax(counts)]
        found[r] = np.flatnonzero(row == best)[-1]
    indices = np.expand_dims(found.reshape(data.shape[:-1]), dim) if input.ndim else found
    return _select("mode", input, dim, keepdim, indices, "ModeBackward0")


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name, x, q, dim, keepdim, interpolation, ignore_nan):
    from dlpy.ops.pointwise import lerp

    if interpolation not in _INTERPOLATIONS:
        raise ArgError(f"{name}: interpolation must be one of {_INTERPOLATIONS}, got "
                       f"{interpolation!r}")
    if isinstance(q, Tensor) and q.dtype != _dtype_of(x):
        raise ArgDtypeError(f"{name}: q tensor must have the input's dtype {_dtype_of(x)}, got "
                            f"{q.dtype}, as torch's")
    _complex.refuse(name, x)
    if x.dtype not in (np.float32, np.float64):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype, got "
                           f"{x.dtype}")
    if x.data.size == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    # torch's ranks q (n - 1) are computed in the input's dtype (float32 rounds 0.5000001 to 0.5)
    rank_dtype = x.dtype
    qs = np.asarray(q.data if isinstance(q, Tensor) else q, dtype=rank_dtype)
    if qs.ndim > 1 or not _meta.valueless(qs) and (
            np.isnan(qs).any() or (qs < 0).any() or (qs > 1).any()):
        raise ArgError(f"{name}: q must be a number or a 1-D sequence in [0, 1], got {q!r}")
    if dim is None:
        source, axis, kept = x.reshape(-1), 0, (1,) * x.ndim
    else:
        axis = _dim_or_scalar(name, x, dim)
        source = x if x.ndim else x.reshape(1)
        kept = tuple(1 if i == axis else n for i, n in enumerate(source.shape)) if x.ndim \
            else ()  # (a 0-d x keeps its no axes)
    if _meta.holds_meta(x):  # the quantiles' shape, nothing sorted
        rest = kept if keepdim else tuple(n for i, n in enumerate(source.shape) if i != axis)
        return _meta.shaped((x, q), qs.shape + rest, x.dtype)
    moved = source.sort(dim=axis).values  # nan last
    perm = [i for i in range(moved.ndim) if i != axis] + [axis]
    moved = moved.permute(*perm)  # (..., n)
    n = moved.shape[-1]
    nans = np.isnan(moved.data)
    # the quantiles along a last axis, as torch's (..., Q) result, moved first at the end: q's
    # axis is the innermost in memory
    qs_row = qs.reshape((1,) * (moved.ndim - 1) + (-1,))  # (1, ..., 1, Q)
    if ignore_nan:
        ranks = qs_row * (n - nans.sum(axis=-1, keepdims=True) - 1).astype(rank_dtype)
        ranks = np.maximum(ranks, 0)
    else:
        ranks = np.where(nans.any(axis=-1, keepdims=True), n - 1, qs_row * qs.dtype.type(n - 1))
    rounded = {"lower": np.floor, "higher": np.ceil, "nearest": np.round}.get(interpolation)
    if rounded is not None:
        ranks = rounded(ranks)
    shape = moved.shape[:-1] + qs_row.shape[-1:]  # (..., Q)
    # row-major, as torch's (a nan count along a permuted x's axis came in its layout)
    ranks = np.ascontiguousarray(np.broadcast_to(ranks, shape))
    below_index = ranks.astype(np.int64)
    out = moved.gather(-1, below_index)
    if interpolation in ("linear", "midpoint"):
        above = moved.gather(-1, np.ceil(ranks).astype(np.int64))
        weights = np.full(shape, 0.5) if interpolation == "midpoint" else ranks - below_index
        out = lerp(out, above, Tensor(weights.astype(x.dtype)))
    if qs.ndim == 0:
        out = out.squeeze(-1)  # (...)
    else:
        out = out.unsqueeze(0).transpose(0, -1).squeeze(-1)  # (Q, ...), as torch's
    if keepdim:
        lead = () if qs.ndim == 0 else (shape[-1],)
        out = out.reshape(lead + kept) if dim is None or not x.ndim else \
            out.unsqueeze(len(lead) + axis)
    if not x.ndim and not keepdim:  # (torch's last node for a 0-d x: SqueezeBackward4)
        from dlpy.node_names import named

        named(out, "SqueezeBackward4")
    return out


@autocast_policy(FP32)
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """torch.quantile: the q-th quantiles along dim (None: of everything), q a number or a
    1-D sequence (its axis first in the result); nan where a row has a nan."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


@autocast_policy(FP32)
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """torch.nanquantile: quantile ignoring nan (nan where a row is all nan)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


def _quickselect(row: np.ndarray, k: int) -> int:
    """The position in ``row`` of its k-th smallest value (k from 0) that PyTorch's CPU
    kthvalue returns among ties: the index its quickselect (median-of-three pivot, nan
    largest; ATen's quick_select_template) leaves at k, replayed here."""
    values, where = list(row), list(range(len(row)))

    def greater(a, b):
        return (a != a and b == b) or a > b

    def swap(i, j):
        values[i], values[j] = values[j], values[i]
        where[i], where[j] = where[j], where[i]

    low, high = 0, len(values) - 1
    while high > low:
        if high == low + 1:
            if greater(values[low], values[high]):
                swap(low, high)
            break
        swap(low + (high - low) // 2, low + 1)
        if greater(values[low + 1], values[high]):
            swap(low + 1, high)
        if greater(values[low], values[high]):
            swap(low, high)
        if greater(values[low + 1], values[low]):
            swap(low + 1, low)
        i, j, pivot = low + 1, high, values[low]
        while True:
            i += 1
            while greater(pivot, values[i]):
                i += 1
            j -= 1
            while greater(values[j], pivot):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(low, j)
        if j <= k:
            low = i
        if j >= k:
            high = j - 1
    return where[k]


def kthvalue_indices(data: np.ndarray, k: int, dim: int) -> np.ndarray:
    """The indices torch.kthvalue returns (kept axis of length 1): a stable sort's, except in
    rows where the k-th value is tied, which replay PyTorch's quickselect (``_quickselect``)."""
    found = _meta.positions(data, dim, keepdims=True)  # (a meta x: no values to sort)
    if found is not None:
        return found
    order = np.argsort(data, axis=dim, kind="stable")
    found = np.take(order, [k - 1], axis=dim)
    moved = np.moveaxis(data, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    chosen = np.moveaxis(found, dim, -1).reshape(-1)
    value = rows[np.arange(len(rows)), chosen]
    tied = ((rows == value[:, None]) | (np.isnan(rows) & np.isnan(value)[:, None])).sum(-1) > 1
    for r in np.flatnonzero(tied):
        chosen[r] = _quickselect(rows[r], k - 1)
    return np.moveaxis(chosen.reshape(moved.shape[:-1] + (1,)), -1, dim)
