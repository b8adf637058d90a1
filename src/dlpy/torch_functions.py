"""torch's top-level functions that dlpy lacked: composites of dlpy's ops (no hand-written
backward: addbmm, cov, renorm, trapezoid, ...), the old linear-algebra spellings (torch.svd,
torch.qr, pinverse, logdet), random draws (bernoulli, multinomial, poisson), tensor and dtype
utilities (is_tensor, from_numpy, result_type, can_cast), and the torch.* forms of
nn.functional's functions whose argument order or reduction differs (torch.batch_norm,
torch.embedding, torch.kl_div, ...). ``dlpy/__init__.py`` exports them at the top level."""

from __future__ import annotations

import builtins
import contextlib
import functools
import math
import numbers
import warnings
from typing import NamedTuple

import numpy as np

from dlpy import random_streams
from dlpy._caller import user_stacklevel
from dlpy.amp.dtypes import check_float8
from dlpy.amp.state import FP32, LOWER, autocast_policy
from dlpy.creation import (
    CreationError,
    _check_length,
    _drawn_like,
    _on_meta,
    _place,
    check_int_bounds,
    numpy_source,
    plain_dtype,
)
from dlpy.meta import holds_meta, metafy
from dlpy.ops import ArgDtypeError, ArgError, ArgIndexError, NoKernelError, check_dim
from dlpy.ops.einsum import _scaled_sum, _shared_low_precision  # beta * input + alpha * product
from dlpy.ops.indexing import check_histogram_dtypes
from dlpy.ops.linalg import QRResult, SlogdetResult
from dlpy.return_types import structseq_repr, subtype
from dlpy.tensor import (
    ShapeError,
    Tensor,
    _set_default_dtype,
    default_dtype,
    is_floating_dtype,
    is_narrow_float,
    narrow_float,
    python_array,
    real_part_for,
)

_range = builtins.range  # before ``range`` below shadows it


def _data(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _own_method(value, name: str) -> bool:
    """Whether ``value`` is one of dlpy's tensor-like classes that are no Tensor (MaskedTensor,
    SparseTensor, NestedTensor) with a method ``name``, which torch's function then runs."""
    return type(value).__module__.startswith("dlpy.") and callable(
        getattr(type(value), name, None))


def _tensor(value) -> Tensor:
    """value as a Tensor: a Python number as torch.tensor makes it (a float in the default
    dtype, a complex in its complex one), an array as it is."""
    if isinstance(value, Tensor):
        return value
    if type(value) in (bool, int, float, complex):
        from dlpy.creation import tensor

        return tensor(value)
    return Tensor(np.asarray(value))


# ----------------------------------------------------------------- matrix products
class _BatchDimError(ShapeError, IndexError):
    """addbmm's batch2 with too few axes: a ShapeError, and torch's IndexError."""


@autocast_policy(LOWER)
def addbmm(input, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addbmm: beta * input + alpha * sum_b batch1[b] @ batch2[b]."""
    from dlpy.node_names import named
    from dlpy.ops.einsum import bmm, refuse_other_self

    if isinstance(batch2, Tensor) and batch2.ndim < 3:  # torch: "Dimension out of range"
        raise _BatchDimError(f"addbmm: expected batch2 to be 3-D (b, m, p), got shape "
                             f"{tuple(batch2.shape)}")
    refuse_other_self("addbmm", input, batch1, batch2)
    products = bmm(batch1, batch2)
    if _shared_low_precision(input, batch1, batch2) is not None and len(products) > 0:
        # float16/bfloat16: torch's loop of addmm_, one batch at a time, rounded after each
        from dlpy.ops.einsum import addmm

        result = input
        for b in builtins.range(len(products)):
            result = addmm(result, batch1[b], batch2[b], beta=beta if b == 0 else 1,
                           alpha=alpha)
        return named(result, "AddbmmBackward0")
    # (the batch sum keeps an integer dtype: torch's result is input's)
    return named(_scaled_sum("addbmm", input, products.sum(0, dtype=products.dtype), beta,
                             alpha, blas=True), "AddbmmBackward0")


def addmv(input, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addmv: beta * input + alpha * mat @ vec."""
    from dlpy.node_names import named
    from dlpy.ops.einsum import mv, refuse_other_self

    refuse_other_self("addmv", input, mat, vec)
    return named(_scaled_sum("addmv", input, mv(mat, vec), beta, alpha, blas=True),
                 "AddmvBackward0")


def addr(input, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addr: beta * input + alpha * outer(vec1, vec2)."""
    from dlpy.node_names import named
    from dlpy.ops.einsum import outer
    from dlpy.ops.promotion import promote_types

    if all(isinstance(x, Tensor) for x in (input, vec1, vec2)):
        # torch's addr is one elementwise kernel over the three (input expanded), promoted
        # together: the product is taken in the result's dtype (complex64 vectors into a
        # complex128 input were multiplied in complex64)
        dtype = promote_types(promote_types(input.dtype, vec1.dtype), vec2.dtype)
        vec1, vec2 = (v if v.dtype == dtype else v.to(dtype) for v in (vec1, vec2))
    product = outer(vec1, vec2)
    kind = np.result_type(_data(input), product.data).kind
    for what, value in (("beta", beta), ("alpha", alpha)):  # torch's check_addr_scalar
        if isinstance(value, (bool, np.bool_)) and kind != "b":
            raise ArgError(f"Boolean {what} only supported for Boolean results.")
        if kind in "biu" and not isinstance(value, (int, np.integer, np.bool_)):
            raise ArgError(f"For integral input tensors, argument {what} must not be a "
                           f"floating point number.")
    return named(_scaled_sum("addr", input, product, beta, alpha), "AddrBackward0")


def chain_matmul(*matrices) -> Tensor:
    """torch.chain_matmul: the product of 2-D matrices, left to right (one: its copy)."""
    from dlpy.linalg import multi_dot

    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch "
                  "release. Use torch.linalg.multi_dot instead, which accepts a list of two or "
                  "more tensors rather than multiple parameters.", UserWarning, stacklevel=2)
    if not matrices:
        raise ArgError("chain_matmul: expected one or more matrices")
    for i, m in enumerate(matrices):
        if _tensor(m).ndim != 2:
            raise ShapeError(f"chain_matmul: expected 2-D matrices, got shape "
                             f"{tuple(_tensor(m).shape)} at position {i}")
    if len(matrices) == 1:
        return _tensor(matrices[0]).clone()
    return multi_dot(list(matrices))


# ----------------------------------------------------------------- statistics and norms
def dist(input: Tensor, other, p=2) -> Tensor:  # noqa: A002
    """torch.dist: the p-norm of input - other (broadcast), over every element."""
    from dlpy.node_names import named
    from dlpy.ops.pointwise import _tensors

    _tensors("dist", input, other)
    return named((_tensor(input) - other).norm(p), "DistBackward0")


class _CovError(ArgError):
    """cov's refusals (ValueError as before, torch's RuntimeError: ArgError is both)."""


def cov(input: Tensor, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:  # noqa: A002
    """torch.cov: the covariance of the variables in input's rows (a 1-D input: one variable),
    observations in its columns, with optional integer frequency and floating observation
    weights (at most 1-D, one per observation); divisor sum(w) - correction * sum(w * a) /
    sum(w) (torch's formula, 0 where that is <= 0); the result squeezed as torch's (one
    variable: a 0-d tensor), in the dtype input and the weights promote to."""
    x = _tensor(input)
    if x.ndim > 2:
        raise _CovError(f"cov: expected a 1-D or 2-D tensor, got shape {x.shape}")
    if isinstance(correction, (bool, float, np.floating)):
        raise TypeError(f"cov(): argument 'correction' must be int, not "
                        f"{type(correction).__name__}")
    x = x.reshape(1, -1) if x.ndim < 2 else x
    n = x.shape[1]
    weights = None
    for what, w, kinds, kind_name in (("fweights", fweights, "iu", "integral"),
                                      ("aweights", aweights, "f", "floating point")):
        if w is None:
            continue
        w = _tensor(w)
        if w.ndim > 1 or w.numel() != n:
            raise _CovError(f"cov: {what} must be 1-D of length {n}, got shape {w.shape}")
        if not (is_floating_dtype(w.dtype) if kinds == "f" else w.dtype.kind in kinds):
            raise _CovError(f"cov(): expected {what} to have {kind_name} dtype but got "
                            f"{what} with {w.dtype} dtype")
        if (w.data < 0).any():
            raise _CovError(f"cov: {what} must be non-negative")
        w = w.reshape(-1)
        weights = w if weights is None else weights * w
    if weights is None:
        total = Tensor(np.array(n, dtype=np.int64))
        mean = x.sum(1, keepdims=True) / total
    else:
        total = weights.sum()
        if not total.data:
            raise _CovError("cov(): weights sum to zero, can't be normalized")
        mean = (x * weights).sum(1, keepdims=True) / total
    if aweights is None or correction == 0:
        divisor = total - correction
    else:
        divisor = total - correction * (weights * _tensor(aweights).reshape(-1)).sum() / total
    if divisor.data <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the number of observations.", UserWarning,
                      stacklevel=user_stacklevel())
        divisor = divisor * 0
    centred = x - mean
    out = centred @ (centred if weights is None else centred * weights).t() / divisor
    return out.squeeze()


def corrcoef(input: Tensor) -> Tensor:  # noqa: A002
    """torch.corrcoef: Pearson's correlation coefficients of the rows, clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal().sqrt()
    return (c / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1)


def renorm(input: Tensor, p, dim: int, maxnorm) -> Tensor:  # noqa: A002
    """torch.renorm: each slice along dim whose p-norm exceeds maxnorm scaled down to norm
    maxnorm (by maxnorm / (norm + 1e-7), as torch); input has at least 2 axes, as torch's."""
    x = _tensor(input)
    if x.ndim < 2:
        raise ArgError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    dim = check_dim("renorm", dim, x.ndim)
    if p <= 0:
        raise ArgError(f"renorm: p must be positive, got {p}")
    if maxnorm < 0:
        raise ArgError(f"renorm: maxnorm must be non-negative, got {maxnorm}")
    axes = tuple(i for i in _range(x.ndim) if i != dim)
    norms = x.norm(p, axes, True)
    factor = (maxnorm / (norms + 1e-7)).where(norms.data > maxnorm, 1.0)
    from dlpy.layouts import row_major_array
    from dlpy.node_names import named  # torch's one kernel (a composite here)

    out = x * factor
    out.data = row_major_array(out.data)  # torch's kernel's result is contiguous, whatever x's
    return named(out, "RenormBackward0")


# ----------------------------------------------------------------- integration and gradients
def _spacing_dim(name, y, dim, dx=None):
    if y.dtype == np.bool_:
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported")
    if isinstance(dx, (bool, np.bool_, complex)):
        raise RuntimeError(f"{name}: Currently, we only support dx as a real number.")
    return check_dim(name, dim, y.ndim)


def _along(y: Tensor, dim: int, start, stop) -> Tensor:
    return y[(slice(None),) * dim + (slice(start, stop),)]


def trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """torch.trapezoid: the trapezoidal rule along dim, with sample points x (1-D, or y's
    shape) or a constant spacing dx (default 1)."""
    y = _tensor(y)
    dim = _spacing_dim("trapezoid", y, dim, dx)
    if x is not None and dx is not None:
        raise TypeError("trapezoid: give x or dx, not both")
    if y.shape[dim] == 0:  # torch's zeros_like_except: y's dtype (int64 stays), no graph
        return y.new_zeros(y.shape[:dim] + y.shape[dim + 1:])
    from dlpy.node_names import named  # torch's kernel scales by a Scalar: Mul/DivBackward1

    if x is None:
        # torch's formula, (sum - (first + last) / 2) dx: one point gives 0 (nan if infinite)
        ends = (y.select(dim, 0) + y.select(dim, -1)) * 0.5
        out = named((y.sum(dim) - ends) * (1.0 if dx is None else dx), "MulBackward1")
        for product in (ends, out):  # a Scalar's product saves no tensor: not freed, as torch's
            if product.op is not None:
                product.op.saves_tensors = False
        return out
    pairs = _along(y, dim, 1, None) + _along(y, dim, None, -1)
    return named((pairs * _steps("trapezoid", y, x, dim)).sum(dim) / 2, "DivBackward1")


trapz = trapezoid


def _steps(name, y, x, dim):
    if isinstance(x, (numbers.Number, np.number, np.bool_)):  # trapz(y, 0.5) meaning dx=0.5
        raise TypeError(f"{name}() received an invalid combination of arguments - got (Tensor, "
                        f"{type(x).__name__}): x must be a Tensor of sample points; a spacing "
                        f"goes in dx=")
    x = _tensor(x)
    if x.ndim == 1:
        if x.shape[0] != y.shape[dim]:
            raise ShapeError(f"{name}: x has {x.shape[0]} points, y {y.shape[dim]} along dim "
                             f"{dim}")
        steps = x[1:] - x[:-1]
        return steps.reshape((-1,) + (1,) * (y.ndim - dim - 1))
    return _along(x, dim, 1, None) - _along(x, dim, None, -1)


def cumulative_trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """torch.cumulative_trapezoid: the running trapezoidal integral along dim (one fewer
    element)."""
    from dlpy.ops.cumulative import cumsum

    y = _tensor(y)
    dim = _spacing_dim("cumulative_trapezoid", y, dim, dx)
    pairs = _along(y, dim, 1, None) + _along(y, dim, None, -1)
    if x is None:
        return cumsum(pairs * ((1.0 if dx is None else dx) / 2), dim)
    if dx is not None:
        raise TypeError("cumulative_trapezoid: give x or dx, not both")
    return cumsum(pairs * _steps("cumulative_trapezoid", y, x, dim) / 2, dim)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple[Tensor, ...]:  # noqa: A002
    """torch.gradient: the derivative estimated by central differences inside and one-sided
    ones (first or second order: edge_order) at the edges, along each dim (default: every
    axis, each at most once); spacing is a number (or a 0-d tensor), one number per dim, or
    one 1-D tensor of coordinates per dim (differentiable, as torch's); a tuple of tensors,
    one per dim."""
    from dlpy.ops.shape import concat

    y = _tensor(input)
    if edge_order not in (1, 2):
        raise ArgError(f"gradient: edge_order must be 1 or 2, got {edge_order}")
    dims = list(_range(y.ndim)) if dim is None else (
        [dim] if isinstance(dim, (int, np.integer)) else list(dim))
    dims = [check_dim("gradient", d, y.ndim) for d in dims]
    if len(set(dims)) != len(dims):
        raise ArgError(f"dim {next(d for d in dims if dims.count(d) > 1)} appears multiple times "
                       "in the list of dims")
    if spacing is None:  # (torch's default, given by name)
        spacing = 1
    if isinstance(spacing, Tensor):
        if spacing.ndim:  # torch takes a number or a list of them, not one coordinate tensor
            raise TypeError("gradient(): spacing must be a number or a list of numbers or of "
                            "1-D tensors, got a Tensor")
        spacing = spacing.item()
    spacings = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    if len(spacings) != len(dims):
        raise ArgError(f"gradient: {len(spacings)} spacings for {len(dims)} dims")
    if len({isinstance(h, Tensor) for h in spacings}) > 1:
        raise TypeError("gradient(): spacing must be all numbers or all tensors")
    out = []
    for d, h in zip(dims, spacings):
        if y.shape[d] < edge_order + 1:
            raise ArgError(f"gradient: dim {d} needs at least {edge_order + 1} points, got "
                           f"{y.shape[d]}")
        if isinstance(h, Tensor):  # coordinates: numpy's (and torch's) uneven-step formulas
            out.append(concat(_gradient_at(y, d, h, edge_order), d))
            continue
        if not isinstance(h, (int, float, np.integer, np.floating)):
            raise TypeError(f"gradient: spacing must be numbers or tensors, got {h!r}")
        if edge_order == 1:
            first = (_along(y, d, 1, 2) - _along(y, d, 0, 1)) / h
            last = (_along(y, d, -1, None) - _along(y, d, -2, -1)) / h
        else:
            first = (-1.5 * _along(y, d, 0, 1) + 2 * _along(y, d, 1, 2)
                     - 0.5 * _along(y, d, 2, 3)) / h
            last = (0.5 * _along(y, d, -3, -2) - 2 * _along(y, d, -2, -1)
                    + 1.5 * _along(y, d, -1, None)) / h
        inner = (_along(y, d, 2, None) - _along(y, d, None, -2)) / (2 * h)
        out.append(concat([first, inner, last], d))
    return tuple(out)


def _gradient_at(y: Tensor, d: int, x: Tensor, edge_order: int) -> list:
    """gradient's three pieces (first edge, inside, last edge) along dim d of y sampled at the
    coordinates x (1-D, y.shape[d] long), composed of tensor ops (torch's formulas, so the
    coordinates get gradients too)."""
    if x.ndim != 1 or x.shape[0] != y.shape[d]:
        raise ArgError(f"gradient: coordinates for dim {d} must be 1-D with {y.shape[d]} "
                       f"values, got shape {tuple(x.shape)}")
    dx = x[1:] - x[:-1]
    along = (-1,) + (1,) * (y.ndim - 1 - d)  # coefficients broadcast along dim d
    h1, h2 = dx[:-1], dx[1:]
    a = (-h2 / (h1 * (h1 + h2))).reshape(along)
    b = ((h2 - h1) / (h1 * h2)).reshape(along)
    c = (h1 / (h2 * (h1 + h2))).reshape(along)
    inner = a * _along(y, d, None, -2) + b * _along(y, d, 1, -1) + c * _along(y, d, 2, None)
    if edge_order == 1:
        first = (_along(y, d, 1, 2) - _along(y, d, 0, 1)) / dx[0]
        last = (_along(y, d, -1, None) - _along(y, d, -2, -1)) / dx[-1]
        return [first, inner, last]
    h0, h1 = dx[0], dx[1]
    first = (-(2.0 * h0 + h1) / (h0 * (h0 + h1)) * _along(y, d, 0, 1)
             + (h0 + h1) / (h0 * h1) * _along(y, d, 1, 2)
             + (-h0) / (h1 * (h0 + h1)) * _along(y, d, 2, 3))
    hl, hm = dx[-1], dx[-2]
    last = (hl / (hm * (hl + hm)) * _along(y, d, -3, -2)
            - (hl + hm) / (hl * hm) * _along(y, d, -2, -1)
            + (2 * hl + hm) / (hl * (hl + hm)) * _along(y, d, -1, None))
    return [first, inner, last]


# ----------------------------------------------------------------- linear algebra (torch's
# older spellings of torch.linalg)
def logdet(input: Tensor) -> Tensor:  # noqa: A002
    """torch.logdet: log(det(A)), nan for a negative determinant and -inf for zero; complex A:
    log(sign) + log|det A|, complex (as torch)."""
    from dlpy.linalg import slogdet

    sign, logabs = slogdet(input)
    if sign.dtype.kind == "c":
        return sign.log() + logabs
    bad = np.where(sign.data < 0, np.nan, -np.inf).astype(logabs.dtype)
    return logabs.where(sign.data > 0, bad)


@autocast_policy(FP32)
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """torch.pinverse: linalg.pinv with singular values below rcond * the largest cut."""
    from dlpy.linalg import pinv

    return pinv(input, rtol=rcond)


class SVDResult(NamedTuple):

    _torch_name = "svd"  # torch.return_types.svd
    __repr__ = structseq_repr
    U: Tensor
    S: Tensor
    V: Tensor


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> SVDResult:  # noqa: A002
    """torch.svd (the old API): (U, S, V) with input = U diag(S) V^T, V not transposed;
    without ``compute_uv`` U and V are zeros (..., m, m) and (..., n, n), as torch's."""
    from dlpy import linalg

    if not compute_uv:
        x = _tensor(input)
        s = linalg.svdvals(x)
        *batch, m, n = x.shape
        return SVDResult(Tensor(np.zeros((*batch, m, m), dtype=x.dtype)), s,
                         Tensor(np.zeros((*batch, n, n), dtype=x.dtype)))
    u, s, vh = linalg.svd(input, full_matrices=not some)
    return SVDResult(u, s, vh.mH)  # V (the conjugate transpose of Vh for complex input)


_qr_result = subtype(QRResult, "qr")  # the old API's names: torch.return_types.qr
_slogdet_result = subtype(SlogdetResult, "slogdet")


def qr(input: Tensor, some: bool = True):  # noqa: A002
    """torch.qr (the old API): linalg.qr in mode "reduced" (some) or "complete"."""
    from dlpy import linalg

    return _qr_result(*linalg.qr(input, mode="reduced" if some else "complete"))


def cholesky(input: Tensor, upper: bool = False) -> Tensor:  # noqa: A002
    """torch.cholesky (the old API): linalg.cholesky."""
    from dlpy import linalg
    from dlpy.node_names import named

    try:
        return named(linalg.cholesky(input, upper=upper), "CholeskyBackward0")
    except linalg.LinAlgError as error:  # torch's text names "cholesky" here
        raise linalg.LinAlgError(str(error).replace("linalg.cholesky:", "cholesky:", 1)) from None


# ----------------------------------------------------------------- random draws
def _rng(generator):
    from dlpy.random import get_rng

    return get_rng(generator)


def _drawn(values: np.ndarray, node: str, *sources) -> Tensor:
    """Draws with the tensors ``sources`` as parameters: where one requires grad, so does the
    result, with a zero gradient for each (torch's ``node``: NormalBackward3,
    BernoulliBackward0, PoissonBackward0)."""
    from dlpy.node_names import rename
    from dlpy.ops.pointwise import Drawn
    from dlpy.tensor import is_grad_enabled

    tensors = [s for s in sources if isinstance(s, Tensor)]
    if not (is_grad_enabled() and builtins.any(t.requires_grad for t in tensors)):
        return Tensor(values)
    out = Drawn(values)(*tensors)
    rename(out.op, node)
    return out


def _no_derivative(name: str, out: Tensor, *sources) -> Tensor:
    """``out``, a draw torch has no derivative for (bernoulli(x, p), binomial,
    _sample_dirichlet): where a source requires grad, so does the result, through torch's
    NotImplemented node, whose backward raises."""
    from dlpy.node_names import named
    from dlpy.ops.indexing import _NoDerivative
    from dlpy.tensor import is_grad_enabled

    tracked = [s for s in sources if isinstance(s, Tensor) and s.requires_grad]
    if not (tracked and is_grad_enabled()):
        return out
    return named(_NoDerivative(name, out.data)(*tracked), "torch::autograd::NotImplemented")


def bernoulli(input, p=None, *, generator=None) -> Tensor:  # noqa: A002
    """torch.bernoulli: 1 with probability input (or the number p), else 0, in input's dtype
    (a zero gradient for input's probabilities; none for the number p's draws)."""
    data = _data(input)
    if p is not None:  # a number: the draws take input's shape and dtype (an int one too)
        if not 0 <= p <= 1:  # (checked first, an empty input too: torch's bernoulli_(p))
            raise ArgError(f"bernoulli: expects p to be in [0, 1], but got p={p}")
        probs = np.full(data.shape, p)
    elif data.dtype.kind not in "fV":
        raise NoKernelError(f"bernoulli: expected floating-point probabilities, got {data.dtype}")
    else:
        probs = data
    if holds_meta(input):  # (no probabilities to check or draw with)
        return _meta_draws(data.shape, data.dtype, input)
    valid = (probs >= 0) & (probs <= 1)  # NaN refused too, as torch's
    if not valid.all():  # (torch draws for the values before the first invalid one)
        count = random_streams.draws_before(valid)
        rng = _rng(generator)
        if p is None and random_streams.is_torch(rng):
            random_streams.bernoulli(rng, (count,), probs.reshape(-1)[:count])
        raise ArgError("bernoulli: probabilities must be in [0, 1]")
    # torch's kernels: a float64 uniform for a number p (or float64 probabilities), a float32
    # one for float32/16 probabilities
    draws = random_streams.bernoulli(_rng(generator), probs.shape,
                                     probs if p is None else np.float64(p))
    if p is not None:
        return _no_derivative("bernoulli", Tensor(draws.astype(data.dtype)), input)
    return _drawn(draws.astype(data.dtype), "BernoulliBackward0", input)


def multinomial(input, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator=None) -> Tensor:
    """torch.multinomial: num_samples category indices per row of the (unnormalised,
    non-negative) weights input (1-D or 2-D), int64; without replacement each at most once."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial: num_samples must be an int, got {num_samples!r}")
    if _data(input).dtype.kind in "biuc":
        raise ArgDtypeError(f"multinomial: expected floating-point weights, got "
                            f"{_data(input).dtype}, as torch's")
    weights = _data(input)
    if weights.ndim not in (1, 2):
        raise ArgError(f"multinomial: expected a 1-D or 2-D tensor, got shape {weights.shape}")
    if weights.shape[-1] == 0:
        raise ArgError("multinomial: the weights have no categories")
    if holds_meta(input):  # (no weights to check or draw with)
        if num_samples < 1 or not replacement and num_samples > weights.shape[-1]:
            raise ArgError(f"multinomial: cannot draw {num_samples} samples "
                           f"{'with' if replacement else 'without'} replacement from "
                           f"{weights.shape[-1]} categories")
        return _meta_draws(weights.shape[:-1] + (num_samples,), np.int64, input)
    weights = weights.astype(np.float64)
    rows = weights.reshape(-1, weights.shape[-1])
    valid = ((rows >= 0) & np.isfinite(rows)).all(-1) & (rows.sum(-1) > 0)
    if not valid.all():
        rng = _rng(generator)
        if replacement and num_samples > 1 and random_streams.is_torch(rng):
            # torch's kernel checks row by row, drawing each valid row's samples first
            for _ in builtins.range(random_streams.draws_before(valid)):
                random_streams.uniform(rng, (num_samples,), np.float64)
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise ArgError("multinomial: weights must be finite and non-negative")
    if (rows.sum(-1) <= 0).any():
        raise ArgError("multinomial: every row must have a positive sum")
    if num_samples < 1:
        raise ArgError(f"multinomial: num_samples must be positive, got {num_samples}")
    if not replacement and num_samples > rows.shape[-1]:
        raise ArgError(f"multinomial: cannot draw {num_samples} samples without replacement "
                       f"from {rows.shape[-1]} categories")
    rng = _rng(generator)
    if random_streams.is_torch(rng):
        out = _multinomial_torch(rng, _data(input), num_samples, replacement)
        return Tensor(out.reshape(weights.shape[:-1] + (num_samples,)))
    out = np.stack([_categories(rng, row, num_samples, replacement)
                    for row in rows]).astype(np.int64) if len(rows) \
        else np.zeros((0, num_samples), np.int64)  # no rows (a (0, n) input): torch's empty
    return Tensor(out.reshape(weights.shape[:-1] + (num_samples,)))


def _meta_draws(shape, dtype, *sources) -> Tensor:
    """Draws from meta tensors' parameters (``sources``): a meta tensor of their shape and
    dtype (nothing drawn, the generator left as it is, as torch's meta kernels); a FakeTensor's
    give a fake on its fake device."""
    from dlpy import meta as _meta
    from dlpy.device import meta_array

    out = metafy(Tensor(meta_array(shape, dtype)))
    if _meta._fake[0] is not None:
        _meta._fake[0].drawn(out, sources)
    return out


def _multinomial_torch(rng, weights: np.ndarray, num_samples: int,
                       replacement: bool) -> np.ndarray:
    """torch's CPU multinomial: without replacement (or one sample), argmax / top-k of
    weights / Exp(1) draws (in the weights' dtype); with replacement, per row, a float64
    uniform a sample looked up in the normalised cumulative weights."""
    rows = weights.reshape(-1, weights.shape[-1])
    if not replacement or num_samples == 1:
        # torch's exponential_ of empty_like(weights): drawn in the weights' memory order
        noise = _drawn_like("multinomial", lambda shape, contiguous: random_streams.exponential(
            rng, shape, 1.0), weights, weights.dtype, None).reshape(rows.shape)
        keys = (rows / noise).astype(np.float64)
        if num_samples == 1:
            return np.argmax(keys, axis=-1)[:, None].astype(np.int64)
        # top-k, largest first; where keys tie (zero weights' are all 0), torch.topk's choice
        # and order among them, libstdc++'s nth_element and sort replayed
        order = np.argsort(-keys, axis=-1, kind="stable")[:, :num_samples].astype(np.int64)
        ranked = np.take_along_axis(keys, order, axis=-1)
        ties = (ranked[:, 1:] == ranked[:, :-1]).any(axis=-1)
        if num_samples < keys.shape[-1]:  # a tie at the cut: which of them is taken
            ties |= ranked[:, -1] == np.sort(keys, axis=-1)[:, -num_samples - 1]
        if ties.any():
            from dlpy.ops.topk_ties import topk_positions

            for i in np.flatnonzero(ties):
                order[i] = topk_positions(keys[i].tolist(), num_samples, True, True)
        return order
    work = np.float64 if rows.dtype == np.float64 else np.float32
    out = np.empty((len(rows), num_samples), np.int64)
    for i, row in enumerate(rows.astype(work)):
        cumulative = np.cumsum(row, dtype=work)
        total = cumulative[-1]
        if total > 0:
            cumulative = (cumulative / total).astype(work)
        uniforms = random_streams.uniform(rng, (num_samples,), np.float64)
        out[i] = np.minimum(np.searchsorted(cumulative, uniforms, side="left"), len(row) - 1)
    return out


def _categories(rng, row: np.ndarray, num_samples: int, replacement: bool) -> np.ndarray:
    """num_samples indices drawn with the weights row; without replacement, once the categories
    of positive weight are used up the zero-weight ones follow in random order (as torch's,
    which does not refuse them)."""
    positive = int((row > 0).sum())
    if replacement or num_samples <= positive:
        return rng.choice(len(row), num_samples, replace=replacement, p=row / row.sum())
    drawn = rng.choice(len(row), positive, replace=False, p=row / row.sum())
    rest = rng.permutation(np.flatnonzero(row == 0))[:num_samples - positive]
    return np.concatenate([drawn, rest])


def poisson(input, generator=None) -> Tensor:  # noqa: A002
    """torch.poisson: a Poisson draw with each rate, in input's dtype (no gradient)."""
    rates = _data(input)
    if rates.dtype.kind not in "fV":
        raise NoKernelError(f"poisson: expected floating-point rates, got {rates.dtype}")
    if holds_meta(input):  # (no rates to check or draw with)
        return _meta_draws(rates.shape, rates.dtype, input)
    if not (rates >= 0).all():  # NaN too, as torch's, which draws for the rates before the
        # first invalid one
        count = random_streams.draws_before(rates >= 0)
        random_streams.poisson(_rng(generator), rates.reshape(-1)[:count])
        raise ArgError("poisson: the rates must be non-negative")
    return _drawn(random_streams.poisson(_rng(generator), rates).astype(rates.dtype),
                  "PoissonBackward0", input)


def _standard_gamma(input, generator=None) -> Tensor:  # noqa: A002
    """torch._standard_gamma: a Gamma(input, 1) draw per element, in input's dtype,
    differentiable in input by implicit reparameterisation (as ``Gamma.rsample``; libraries
    call it to sample Gamma-based distributions of their own)."""
    from dlpy.distributions.continuous import _standard_gamma as draw

    alpha = input if isinstance(input, Tensor) else Tensor(_data(input))
    if alpha.data.dtype not in (np.float32, np.float64):  # torch's kernels: none for the
        # half types either
        raise NoKernelError(f"_standard_gamma: \"gamma_cpu\" not implemented for "
                            f"{alpha.data.dtype} concentrations, as torch's")
    return draw(alpha, alpha.shape, _rng(generator))


def _sample_dirichlet(input, generator=None) -> Tensor:  # noqa: A002
    """torch._sample_dirichlet: a Dirichlet(input) draw over the last axis (float64 gammas
    normalised, in input's dtype), as torch's CPU kernel; differentiable in input."""
    from dlpy.distributions.continuous import _sample_dirichlet as draw

    alpha = input if isinstance(input, Tensor) else Tensor(_data(input))
    if alpha.data.dtype not in (np.float32, np.float64):  # (no half-type kernel: torch's)
        raise NoKernelError(f"_sample_dirichlet: \"dirichlet\" not implemented for "
                            f"{alpha.data.dtype} concentrations, as torch's")
    return _no_derivative("_sample_dirichlet", draw(alpha.detach(), alpha.shape,
                                                    _rng(generator)), input)


class _BinomialDtypeError(TypeError, ValueError):
    """binomial of an integer count or prob: a TypeError, and torch's ValueError."""


def binomial(count, prob, generator=None) -> Tensor:
    """torch.binomial: a Binomial(count, prob) draw per element, in prob's dtype."""
    sources = (count, prob)
    count, prob = _data(count), _data(prob)
    if count.dtype.kind in "biuc" or prob.dtype.kind in "biuc":
        raise _BinomialDtypeError(f"binomial: expected floating-point count and prob, got "
                                  f"{count.dtype} and {prob.dtype}")
    if count.dtype != prob.dtype:  # torch's TensorIterator: prob in count's dtype exactly
        raise RuntimeError(f"binomial: Found dtype {prob.dtype} but expected {count.dtype}")
    if count.dtype not in (np.float32, np.float64):  # no half-type kernel, as torch's
        raise NoKernelError(f"binomial: \"binomial_cpu\" not implemented for {count.dtype}")
    try:
        count, prob = np.broadcast_arrays(count, prob)
    except ValueError:
        raise ShapeError(f"binomial: count {count.shape} and prob {prob.shape} cannot be "
                         "broadcast together") from None
    return _no_derivative("binomial", Tensor(random_streams.binomial(
        _rng(generator), count, prob.astype(count.dtype))), *sources)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           pin_memory: bool = False) -> Tensor:
    """torch.normal: draws from N(mean, std^2), mean and std numbers or tensors (broadcast),
    or numbers with ``size``."""
    _place("normal", device, pin_memory)
    tensors = [a for a in (mean, std) if isinstance(a, Tensor)]
    if (size is None) != bool(tensors):  # torch's overloads: a tensor, or size
        raise TypeError("normal: expected normal(mean, std) with a tensor mean or std, or "
                        "normal(mean, std, size) with numbers")
    mean_data, std_data = _data(mean), _data(std)
    try:
        shape = tuple(size) if size is not None else np.broadcast_shapes(mean_data.shape,
                                                                         std_data.shape)
    except ValueError:
        raise ArgError(f"normal: the shapes of mean {mean_data.shape} and std "
                       f"{std_data.shape} do not broadcast") from None
    on_meta = builtins.any(holds_meta(t) for t in tensors)  # (no std to check or draw)
    if not on_meta and not (std_data >= 0).all():  # NaN too, as torch's
        raise ArgError("normal: std must be non-negative")
    if dtype is None:  # a tensor mean's dtype, else a tensor std's (as torch's)
        dtype = tensors[0].dtype if tensors else get_default_dtype()
    if np.dtype(dtype).kind not in "fV":
        raise NoKernelError(f"normal: expected a floating-point result, got {np.dtype(dtype)}")
    if on_meta:
        return _meta_draws(shape, dtype, *tensors)
    if builtins.any(n < 0 for n in shape):  # a negative size: torch's RuntimeError
        raise ArgError(f"normal: negative dimension in size {shape}")
    dtype = np.dtype(dtype)
    rng = _rng(generator)
    if not random_streams.is_torch(rng):
        return Tensor((rng.standard_normal(shape) * std_data + mean_data).astype(dtype))
    # torch's: normal_(mean, std) for numbers; else N(0, std) for a number std (N(0, 1) for a
    # tensor one, then * std), then + mean, each step in the result's dtype
    if size is not None:
        return Tensor(random_streams.normal(rng, shape, dtype, float(mean_data),
                                            float(std_data)))
    if isinstance(std, Tensor):
        draws = random_streams.normal(rng, shape, dtype)
        draws = (draws * std_data.astype(dtype)).astype(dtype)
    else:
        draws = random_streams.normal(rng, shape, dtype, 0.0, float(std_data))
    # torch's nodes: NormalBackward1 (a tensor mean), 2 (a tensor std), 3 (both)
    node = f"NormalBackward{isinstance(mean, Tensor) + 2 * isinstance(std, Tensor)}"
    return _drawn((draws + mean_data.astype(dtype)).astype(dtype), node, mean, std)


def randint_like(input, low=0, high=None, *, dtype=None, generator=None,  # noqa: A002
                 device=None, layout=None, requires_grad: bool = False,
                 memory_format=None) -> Tensor:
    """torch.randint_like: random ints in [low, high) of input's shape (and dtype), in its
    memory order (``memory_format``)."""
    _place("randint_like", device, False, layout)
    if high is None:
        low, high = 0, low
    data = _data(input)
    dtype = data.dtype if dtype is None else np.dtype(dtype)
    if not low < high:
        raise ArgError(f"randint_like: low must be less than high, got [{low}, {high})")
    low, high = check_int_bounds("randint_like", low, high, dtype)
    values = _drawn_like("randint_like", lambda shape, contiguous: random_streams.integers(
        _rng(generator), shape, low, high, dtype), data, dtype, memory_format)
    return Tensor(values, requires_grad=requires_grad)


# ----------------------------------------------------------------- tensors and dtypes
def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def _assert(condition, message) -> None:
    """torch._assert: ``assert condition, message`` as a function (torch's traceable assert,
    as timm's PatchEmbed checks input sizes): an AssertionError with ``message`` when
    ``condition`` is false (a one-element tensor by its truth; bool() refuses a larger one).
    A condition of a type with ``__torch_function__`` (an fx Proxy: the check recorded in its
    graph) is handed to it, as torch's."""
    if type(condition) is not bool and type(condition) is not Tensor:
        from dlpy import overrides

        if overrides.has_torch_function((condition,)):
            return overrides.handle_torch_function(_assert, (condition,), condition, message)
    if not condition:
        raise AssertionError(message)
    return None


def _assert_async(tensor, assert_msg=None) -> None:
    """torch._assert_async: check that ``tensor`` (one element) is nonzero, as torch's CPU
    kernel does at once: a RuntimeError naming ``assert_msg`` (or torch's own message) when it
    is zero; a tensor of no or several elements is a RuntimeError as its truth is."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"_assert_async(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(tensor).__name__}")
    data = tensor.data
    if data.size != 1:
        raise ArgError(f"Boolean value of Tensor with {'no' if data.size == 0 else 'more than one'}"
                       f" value{'s' if data.size == 0 else ''} is ambiguous")
    if not data.reshape(()).item():
        raise ArgError(assert_msg if assert_msg is not None
                       else "Expected Tensor with single nonzero value, but got zero")


def is_floating_point(input) -> bool:  # noqa: A002
    if not isinstance(input, Tensor):  # torch's: a Python float is not a tensor
        raise TypeError(f"is_floating_point: expected a Tensor, got {type(input).__name__}")
    return is_floating_dtype(input.data.dtype)  # bfloat16 too


def is_nonzero(input) -> bool:  # noqa: A002
    """torch.is_nonzero: the truth of a one-element tensor."""
    data = _data(input)
    if data.size != 1:
        raise ArgError(f"is_nonzero: expected a tensor with one element, got shape "
                       f"{data.shape}")
    return bool(data.reshape(()) != 0)


def numel(input) -> int:  # noqa: A002
    if not hasattr(input, "numel"):  # torch's type; a list or a number is refused
        raise TypeError(f"numel(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    return int(input.numel())


def is_storage(obj) -> bool:
    """torch.is_storage: whether obj is a storage (``t.untyped_storage()``'s)."""
    from dlpy.storage import TypedStorage, UntypedStorage

    return isinstance(obj, (UntypedStorage, TypedStorage))


def from_numpy(ndarray: np.ndarray, /) -> Tensor:
    """torch.from_numpy: a Tensor sharing the array's memory (changes show in both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy array, got {type(ndarray).__name__}")
    _warn_read_only(numpy_source(ndarray))
    from dlpy.device import _DEFAULT, FAKE

    if _DEFAULT[-1] is FAKE:  # (inside a FakeTensorMode: a fake of its shape and strides)
        return _on_meta_from_data(lambda: Tensor(ndarray), ndarray, None)
    return Tensor(ndarray)


def _warn_read_only(array: np.ndarray) -> None:
    """torch's warning on sharing the memory of a numpy array that is not writeable."""
    if not array.flags.writeable:
        warnings.warn("The given NumPy array is not writable, and PyTorch does not support "
                      "non-writable tensors. This means writing to this tensor will result in "
                      "undefined behavior. You may want to copy the array to protect its data or "
                      "make it writable before converting it to a tensor.", UserWarning,
                      stacklevel=user_stacklevel())


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """torch.as_tensor: a Tensor as is, or data converted (sharing a numpy array's memory when
    the dtype already fits, or a storage's: storage_elements); Python floats become the default
    dtype, ints int64 (as torch). On the meta device (``device="meta"``, or the default device
    when none is given): a Tensor moved there (a meta one as is), other data converted and
    keeping its shape and dtype only; a meta Tensor asked onto the CPU is torch's error."""
    from dlpy.device import wants_meta

    if wants_meta(device) or (device is None and holds_meta(data)):
        if isinstance(data, Tensor):
            return data.to(device="meta", dtype=None if dtype is None else
                           plain_dtype(dtype, "as_tensor"))
        return _on_meta_from_data(lambda: as_tensor(data, dtype, "cpu"), data, device)
    if holds_meta(data):
        data.to(device)  # torch's error for a meta tensor's values (the device checked)
    _place("as_tensor", device, False)
    dtype = plain_dtype(dtype, "as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == np.dtype(dtype) else data.astype(dtype)
    if isinstance(data, np.ndarray):
        _warn_read_only(numpy_source(data))  # even when a cast copies it, as torch's
        data = real_part_for(data, dtype)
        if dtype is not None and data.dtype != np.dtype(dtype) and is_narrow_float(dtype):
            return Tensor(narrow_float(data, np.dtype(dtype)))  # through float32, as torch
        if dtype is None or data.dtype == np.dtype(dtype):
            return Tensor(data)  # its memory shared
        from dlpy.layouts import copied

        return Tensor(copied(data, dtype))
    if is_storage(data):  # its memory as dtype, shared
        from dlpy.storage import storage_elements

        return Tensor(storage_elements(data, dtype))
    return Tensor(_numbers("as_tensor", python_array(data, dtype)))


def _on_meta_from_data(make, data, where) -> Tensor:
    """``make()``'s CPU tensor of ``data`` (read on the CPU even inside a FakeTensorMode,
    where every device is fake) turned into a meta tensor: a FakeTensor inside the mode on the
    fake device asked for, but a real meta tensor for Python data on ``device="meta"``, as
    torch's."""
    from dlpy import meta as _meta
    from dlpy.device import _DEFAULT, CPU

    fake = _meta._fake[0]
    with fake.real_meta(where, data) if fake is not None else contextlib.nullcontext():
        _DEFAULT.append(CPU)
        try:
            out = metafy(make())
        finally:
            _DEFAULT.pop()
        if fake is not None:
            fake.placed(out, where)
    return out


def asarray(obj, *, dtype=None, device=None, copy=None,
            requires_grad: bool | None = None) -> Tensor:
    """torch.asarray: as_tensor, with copy=True forcing a copy and copy=False refusing one (a
    cast, a Python sequence). A Tensor comes back itself when nothing changes; a copy or cast
    of it is recorded (``requires_grad`` unspecified: as the Tensor's, torch 2.13's). A storage
    gives its memory read as ``dtype`` (dlpy.storage.storage_elements), shared unless copied.
    Numbers, lists and numpy arrays go to the meta device as ``as_tensor``'s."""
    from dlpy.device import wants_meta

    if wants_meta(device) and not isinstance(obj, Tensor) and not is_storage(obj):
        return _on_meta_from_data(lambda: asarray(obj, dtype=dtype, device="cpu", copy=copy,
                                                  requires_grad=requires_grad), obj, device)
    _place("asarray", device, False)
    dtype = plain_dtype(dtype, "asarray")
    if isinstance(obj, Tensor):
        same = dtype is None or obj.data.dtype == np.dtype(dtype)
        if copy is False and not same:
            raise ValueError(f"asarray: can't alias tensor with dtype {obj.data.dtype} into "
                             f"dtype {np.dtype(dtype)} (copy=False)")
        if same and not copy:  # itself (requires_grad=True sets its flag, as torch's)
            return obj.requires_grad_() if requires_grad and not obj.requires_grad else obj
        if requires_grad is None or requires_grad and obj.requires_grad:
            return obj.clone() if same else obj.to(dtype)
        obj, copy = obj.data, True  # a new leaf (a copy, as torch's)
    elif isinstance(obj, np.ndarray):
        numpy_source(obj)
        if not obj.ndim and (dtype is None or obj.dtype == np.dtype(dtype)):
            copy = True  # torch reads a 0-d array as a numpy scalar: copied, copy=False or not
        elif not copy and (dtype is None or obj.dtype == np.dtype(dtype)):
            _warn_read_only(obj)  # its memory shared, as torch's
    if copy is False:
        if isinstance(obj, np.generic):  # torch's RuntimeError (a ValueError too)
            raise _AliasError("asarray: can't alias NumPy scalars. Either remove copy=False or "
                              "transform it in a ndarray")
        if not isinstance(obj, np.ndarray):
            raise ValueError("asarray: can't alias arbitrary sequence into a tensor (copy=False)")
        if dtype is not None and obj.dtype != np.dtype(dtype):
            raise ValueError(f"asarray: can't alias {obj.dtype} data into dtype "
                             f"{np.dtype(dtype)} (copy=False)")
    if is_storage(obj):  # its memory as dtype (shared unless copy=True)
        from dlpy.storage import storage_elements

        obj = storage_elements(obj, dtype)
    if isinstance(obj, np.ndarray):
        obj = real_part_for(obj, dtype)
        if dtype is not None and obj.dtype != np.dtype(dtype) and is_narrow_float(dtype):
            obj, copy = narrow_float(obj, np.dtype(dtype)), False  # through float32, as torch
        from dlpy.layouts import copied

        array = copied(obj, dtype) if copy or (dtype is not None and obj.dtype != np.dtype(
            dtype)) else obj
    else:
        array = _numbers("asarray", python_array(obj, dtype))
    return Tensor(array, requires_grad=bool(requires_grad))


class _AliasError(RuntimeError, ValueError):
    """asarray(numpy scalar, copy=False): torch's RuntimeError (a ValueError, as the refusal to
    alias other data)."""


def _numbers(name: str, array: np.ndarray) -> np.ndarray:
    """``array`` read from Python data, unless it holds other things (None, strings), which
    torch can't infer a dtype of."""
    if array.dtype.kind in "OSUMm":
        raise ArgDtypeError(f"{name}: could not infer a dtype of data numpy reads as "
                            f"{array.dtype}")
    return array




def scalar_tensor(s, dtype=None, requires_grad: bool = False, *, device=None,
                  pin_memory: bool = False, layout=None) -> Tensor:
    """torch.scalar_tensor: a 0-d tensor (of the default dtype unless ``dtype``)."""
    _place("scalar_tensor", device, pin_memory, layout)
    if not isinstance(s, (numbers.Number, np.generic)) and not (
            isinstance(s, Tensor) and s.ndim == 0):
        raise TypeError(f"scalar_tensor(): argument 's' must be Number, not {type(s).__name__}")
    from dlpy.creation import full  # a fill of no dimensions: its checks and conversions

    value = s.item() if isinstance(s, Tensor) else s
    return full((), value.item() if isinstance(value, np.generic) else value,
                dtype=default_dtype(dtype), requires_grad=requires_grad)


def range(start=0, end=None, step=1, dtype=None, requires_grad: bool = False, *,  # noqa: A001
          device=None, layout=None) -> Tensor:
    """torch.range (deprecated in torch): start to end inclusive, every step (the default
    dtype unless ``dtype``); torch's RuntimeErrors for a zero step, bounds that are not finite
    or go against the step's sign, and more values than an int64 counts."""
    _place("range", device, False, layout)
    warnings.warn("torch.range is deprecated and will be removed in a future release because its "
                  "behavior is inconsistent with Python's range builtin. Instead, use "
                  "torch.arange, which produces values in [start, end).", UserWarning,
                  stacklevel=user_stacklevel())
    dtype = default_dtype(dtype)
    if end is None:
        raise TypeError("range() missing 1 required positional arguments: \"end\"")
    if np.dtype(dtype).kind in "cb":  # torch has no bool or complex range kernel (checked first)
        raise NoKernelError(f"range: not implemented for {np.dtype(dtype)}, as torch's "
                            f"(\"range_cpu\" not implemented for its dtype)")
    # a 0-d tensor bound or step is read as its number (a float32 one's value, widened), as
    # torch's Scalar: the count and the values in the accumulate type, not the tensor's dtype
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if np.dtype(dtype).kind in "iu":  # torch casts the bounds and the step to the dtype first
        start, end, step = (_int_bound(v) for v in (start, end, step))
    elif is_narrow_float(dtype):  # float16/bfloat16: torch counts in float32 (their
        # accumulate type): range(0.3, 1.3, 0.1) has 10 values there, 11 in float64
        start, end, step = (np.float32(v) for v in (start, end, step))
    if step == 0:
        raise CreationError("range: step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise CreationError(f"range: unsupported range: {start} -> {end}")
    if (end < start) if step > 0 else (end > start):
        raise CreationError("range: upper bound and lower bound inconsistent with step sign")
    _check_length("range", (end - start) / step + 1)
    # torch's count, truncated, with its + 1 in the same arithmetic (float32's 7.9999995 + 1
    # is 9.0); the values start + i * step in it too (float16/bfloat16: float32), rounded
    narrow = is_narrow_float(dtype)
    count = int((end - start) / step + (np.float32(1) if narrow else 1))
    index = np.arange(max(count, 0), dtype=np.float32 if narrow else None)
    with np.errstate(over="ignore"):  # (past float16's range: inf, silently as torch's)
        return Tensor((start + index * step).astype(dtype), requires_grad=requires_grad)


def _int_bound(value):
    """A bound or step of torch.range with an integer dtype, truncated as torch's cast (a
    non-finite one is left for range's own check)."""
    return int(value) if math.isfinite(value) else value


def get_default_dtype() -> np.dtype:
    """torch.get_default_dtype: what Python floats, the float creation functions and layers'
    parameters become (float32 unless ``set_default_dtype``)."""
    return default_dtype()


def set_default_dtype(d) -> None:
    """torch.set_default_dtype: float32, float64, float16 or bfloat16 (a numpy dtype or its
    name) becomes what Python floats, creation functions (tensor, zeros, randn, arange of
    floats, ...) and layers made from now on use; complex values take the complex dtype that
    pairs with it (complex64 for float16 and bfloat16, where torch has complex32)."""
    try:
        dtype = None if d is None else np.dtype(d)  # np.dtype(None) would be float64
    except TypeError:
        dtype = None
    if dtype is None or not (dtype in (np.dtype(np.float32), np.dtype(np.float64))
                             or is_narrow_float(dtype)):
        got = repr(d) if dtype is None else dtype
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the "
                        f"default type, got {got}")
    _set_default_dtype(dtype)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """torch.set_printoptions for Tensor's repr: precision (4), threshold (1000 elements;
    above it, a summary), edgeitems (3), linewidth (80), profile ("default", "short", "full")
    and sci_mode (True, False or None: automatic; reset by every call, as torch's).
    dlpy._tensor_str has get_printoptions() and the printoptions(...) context manager."""
    from dlpy import _tensor_str

    _tensor_str.set_printoptions(precision, threshold, edgeitems, linewidth, profile, sci_mode)


def _category(dtype: np.dtype) -> int:
    from dlpy.ops.promotion import category

    return category(np.dtype(dtype))


def promote_types(type1, type2) -> np.dtype:
    """torch.promote_types: the smallest dtype both fit, by torch's rule: an int (or bool) with
    a float is that float (numpy would widen int64 + float32 to float64); dlpy.ops.promotion,
    which the element-wise ops follow."""
    from dlpy.ops.promotion import promote_types as promoted

    return promoted(_as_dtype("promote_types", type1), _as_dtype("promote_types", type2))


def _as_dtype(name: str, value) -> np.dtype:
    """A dtype argument: a dtype (or its numpy name), never a tensor (numpy would take its
    dtype) nor None (numpy would take float64), as torch's."""
    if value is None or isinstance(value, (Tensor, np.ndarray)):
        raise TypeError(f"{name}: expected a dtype, got {type(value).__name__}")
    return np.dtype(value)


def result_type(tensor1, tensor2) -> np.dtype:
    """torch.result_type: the dtype of an arithmetic op on the two (tensors or numbers), by
    torch's priorities: tensors with axes, then 0-d tensors, then Python numbers; a lower one
    counts only when it is of a higher category (bool < int < float); a numpy array counts as
    a tensor here. The element-wise ops follow it (dlpy.ops.promotion)."""
    from dlpy.ops.promotion import result_type as resulting

    for value in (tensor1, tensor2):
        if not isinstance(value, (Tensor, np.ndarray, bool, int, float, complex, np.generic)):
            raise TypeError(f"result_type: expected tensors or numbers, got {value!r}")
    return resulting(*(Tensor(v) if isinstance(v, np.ndarray) else v
                       for v in (tensor1, tensor2)))


def can_cast(from_, to) -> bool:
    """torch.can_cast: whether type promotion allows it: never to a lower category (float to
    int, int to bool); any size within a category."""
    return _category(_as_dtype("can_cast", from_)) <= _category(_as_dtype("can_cast", to))


def _overload_keyword(function: str, name: str, value, other_name: str, other):
    """The argument given as ``name`` or as ``other_name`` (torch's name for it in another
    overload); both, or neither, is torch's TypeError."""
    if other is None:
        if value is None:
            raise TypeError(f"{function}() missing required argument '{name}'")
        return value
    if value is not None:
        raise TypeError(f"{function}() got both '{name}' and '{other_name}'")
    return other


def _tensor_keywords(*names):
    """torch's overloads name a number's place otherwise (isin's ``element``/``test_element``):
    a number given by the tensor's keyword (``elements=2``) matches none of them, a
    TypeError, while given positionally it picks the number's overload."""
    def decorate(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            for name in names:
                if name in kwargs and not isinstance(kwargs[name], Tensor):
                    raise TypeError(f"{function.__name__}() received an invalid combination "
                                    f"of arguments: {name}= must be a Tensor, got "
                                    f"{type(kwargs[name]).__name__}")
            return function(*args, **kwargs)

        return call

    return decorate


@_tensor_keywords("elements", "test_elements")
def isin(elements=None, test_elements=None, *, assume_unique: bool = False, invert: bool = False,
         element=None, test_element=None) -> Tensor:
    """torch.isin: whether each element occurs in test_elements (a bool tensor). A number in
    either place goes by torch's singular keyword for it too: ``element=`` (one number looked
    up in test_elements) or ``test_element=`` (the one number looked for)."""
    elements = _overload_keyword("isin", "elements", elements, "element", element)
    test_elements = _overload_keyword("isin", "test_elements", test_elements, "test_element",
                                      test_element)
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin() received an invalid combination of arguments: one of elements "
                        "and test_elements must be a Tensor, got two numbers")
    given, given_test = elements, test_elements
    elements, test_elements = _data(elements), _data(test_elements)
    if elements.itemsize == 1 or test_elements.itemsize == 1:  # float8, bool: torch refuses
        if np.bool_ in (elements.dtype, test_elements.dtype):
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
        check_float8("isin_default_cpu", elements, test_elements)
    for array in (elements, test_elements):
        if array.dtype.kind == "c":  # torch has no complex kernel
            raise RuntimeError(f"Unsupported input type encountered for isin(): {array.dtype}")
    from dlpy.ops import promotion as _promotion

    # compared in torch's promoted dtype, a number or 0-d tensor wrapping into it (300 in a
    # uint8 tensor's isin is 44, -1 is 255)
    dtype = _promotion.result_type(given, given_test)
    elements, test_elements = (a.astype(dtype, copy=False) for a in (elements, test_elements))
    return Tensor(np.isin(elements, test_elements, assume_unique=assume_unique, invert=invert))


def unravel_index(indices, shape) -> tuple[Tensor, ...]:
    """torch.unravel_index: flat indices as a tuple of int64 coordinate tensors."""
    index = _data(indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: indices must be integers, got {index.dtype}")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = int(np.prod(shape))
    if index.size and (index.min() < -size or index.max() >= size):
        raise ValueError(f"unravel_index: an index is out of range for shape {shape}")
    return tuple(Tensor(c.astype(np.int64)) for c in np.unravel_index(index % max(size, 1),
                                                                     shape))


def histogramdd(input, bins, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """torch.histogramdd: counts of input's rows (N, D) in a D-dimensional grid of bins (an
    int, D ints, or D edge tensors: no default, as torch's overloads); (hist, bin_edges), no
    gradient."""
    data = _data(input)
    weight = check_histogram_dtypes("histogramdd", data, weight)
    if weight is not None and weight.shape != data.shape[:-1]:  # (torch's: not just as many)
        raise ArgError(f"histogramdd: weight must have the input's shape without its last "
                       f"axis {data.shape[:-1]}, got {weight.shape}")
    points = data.reshape(-1, data.shape[-1])
    dims = points.shape[1]
    if isinstance(bins, (list, tuple)) and len(bins) != dims:
        raise ArgError(f"histogramdd: expected {dims} bins (one per dimension of the "
                       f"input's last axis), got {len(bins)}")
    if range is not None and len(range) != 2 * dims:
        raise ArgError(f"histogramdd: for a {dims}-dimensional histogram range should have "
                       f"{2 * dims} elements, got {len(range)}")
    if isinstance(bins, (list, tuple)) and bins and not isinstance(bins[0], (int, np.integer)):
        bins = [_data(b) for b in bins]
        for edges in bins:
            if edges.dtype != data.dtype:
                raise ArgDtypeError(f"histogramdd: bins must have the input's dtype "
                                    f"{data.dtype}, got {edges.dtype}")
    else:  # torch's edges: linspace computed from both ends (numpy's differ by an ulp)
        counts = [bins] * dims if isinstance(bins, (int, np.integer)) else list(bins)
        ranges = [(range[2 * d], range[2 * d + 1]) if range is not None else
                  (points[:, d].min(), points[:, d].max()) if len(points) else (0.0, 1.0)
                  for d in _range(dims)]
        for d, (low, high) in enumerate(ranges):
            if not (np.isfinite(low) and np.isfinite(high)):
                raise ArgError(f"histogramdd: dimension {d}'s range [{low}, {high}] is not "
                               "finite")
        # an empty range widens by 0.5 each way, as torch's
        ranges = [(low - 0.5, high + 0.5) if low == high else (low, high)
                  for low, high in ranges]
        bins = [_linspace(low, high, n + 1) for (low, high), n in zip(ranges, counts)]
    ranges = None if range is None else list(zip(range[::2], range[1::2]))
    with np.errstate(divide="ignore", invalid="ignore"):  # density of nothing: 0 / 0, silently
        hist, edges = np.histogramdd(points, bins=bins, range=ranges,
                                     weights=None if weight is None else weight.reshape(-1),
                                     density=density)
    return HistogramddResult(Tensor(hist.astype(data.dtype)),
                             tuple(Tensor(e.astype(data.dtype)) for e in edges))


class HistogramddResult(NamedTuple):

    _torch_name = "histogramdd"  # torch.return_types.histogramdd
    __repr__ = structseq_repr
    hist: Tensor
    bin_edges: tuple


HistogramddResult.__name__ = HistogramddResult.__qualname__ = "histogramdd"  # (torch's type name)


def _linspace(start, end, steps: int) -> np.ndarray:
    """torch.linspace's values: start + i * step in the first half, end - (steps - 1 - i) * step
    in the second (numpy's are all start + i * step)."""
    step = (end - start) / (steps - 1)
    i = np.arange(steps)
    return np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))


# ----------------------------------------------------------------- torch.* forms of
# nn.functional's functions (torch's argument order; reductions as torch's ints)
_REDUCTION = {0: "none", 1: "mean", 2: "sum"}


def _reduction(name: str, reduction) -> str:
    if isinstance(reduction, str):
        return reduction
    if reduction not in _REDUCTION:
        raise ValueError(f"{name}: reduction must be 0 (none), 1 (mean) or 2 (sum), got "
                         f"{reduction!r}")
    return _REDUCTION[reduction]


def dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    from dlpy.ops.mask import dropout as _dropout

    return _dropout(input, p, train)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    from dlpy.ops.mask import alpha_dropout as _alpha_dropout

    return _alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    from dlpy import functional

    return functional.feature_alpha_dropout(input, p, train)


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5,  # noqa: A002
               cudnn_enable: bool = True) -> Tensor:
    """torch.layer_norm: normalised over the trailing ``normalized_shape`` axes."""
    from dlpy.ops.norm import layer_norm as _layer_norm

    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(
        normalized_shape)
    x = _tensor(input)
    if not shape:
        raise ArgError("layer_norm: normalized_shape must hold at least one size, got ()")
    if len(shape) > x.ndim or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} must be the input's last axes, "
                         f"got input of shape {x.shape}")
    # (over one axis: the tensors themselves, which torch's node saves)
    flat = x if len(shape) == 1 else x.reshape(x.shape[:x.ndim - len(shape)] + (math.prod(shape),))
    weight = None if weight is None else _flat(_tensor(weight))
    bias = None if bias is None else _flat(_tensor(bias))
    from dlpy.node_names import named  # torch's node (here a view of dlpy's, over one axis)

    return named(_layer_norm(flat, weight, bias, eps).reshape(x.shape),
                 "NativeLayerNormBackward0")


def _flat(tensor: Tensor) -> Tensor:
    """``tensor`` as one axis: itself when it is one already."""
    return tensor if tensor.ndim == 1 else tensor.reshape(-1)


def batch_norm(input: Tensor, weight, bias, running_mean, running_var, training: bool,  # noqa: A002
               momentum: float, eps: float, cudnn_enabled: bool = True) -> Tensor:
    from dlpy.ops.norm import batch_norm as _batch_norm

    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Tensor, weight, bias, running_mean, running_var,  # noqa: A002
                  use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool = True) -> Tensor:
    from dlpy.ops.norm import instance_norm as _instance_norm

    return _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                          momentum, eps)


def group_norm(input: Tensor, num_groups: int, weight=None, bias=None, eps: float = 1e-5,  # noqa: A002
               cudnn_enabled: bool = True) -> Tensor:
    from dlpy.ops.norm import group_norm_unchecked

    return group_norm_unchecked(input, num_groups, weight, bias, eps)


def embedding(weight: Tensor, indices, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """torch.embedding(weight, indices, ...): weight first (F.embedding's order reversed);
    padding_idx -1 is none."""
    from dlpy.ops.embedding import embedding as _embedding

    return _embedding(indices, weight, None if padding_idx == -1 else padding_idx,
                      scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def embedding_renorm_(input: Tensor, indices, max_norm: float, norm_type: float) -> Tensor:  # noqa: A002
    """torch.embedding_renorm_: the rows of input (num_embeddings, dim) that ``indices`` look
    up whose norm_type-norm exceeds max_norm scaled to it, in place (F.embedding's max_norm)."""
    from dlpy.ops.embedding import _INDEX_DTYPES, renorm_rows

    ids = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if ids.dtype not in _INDEX_DTYPES:
        raise ArgDtypeError(f"embedding_renorm_: indices must be int64 or int32, got "
                            f"{ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= input.shape[0]):
        raise ValueError(f"embedding_renorm_: indices must lie in [0, {input.shape[0]}), got "
                         f"values from {ids.min()} to {ids.max()}")
    renorm_rows(input, ids, max_norm, norm_type)
    return input


def kl_div(input: Tensor, target, reduction=0, log_target: bool = False) -> Tensor:  # noqa: A002
    """torch.kl_div: reduction an int (0 none, 1 mean over every element, 2 sum); unreduced by
    default, as torch 2.13's (F.kl_div's default is the mean)."""
    from dlpy import functional

    return functional._kl_div(input, target, _reduction("kl_div", reduction), log_target)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, pos_weight=None,  # noqa: A002
                                     reduction=1) -> Tensor:
    from dlpy.ops.loss import binary_cross_entropy_with_logits as _bce

    return _bce(input, target, weight, pos_weight=pos_weight,
                reduction=_reduction("binary_cross_entropy_with_logits", reduction))


def _with_int_reduction(name: str):
    def function(*args, reduction=1, **kwargs):
        from dlpy import functional

        if len(args) > _POSITIONAL[name]:  # reduction given by position, as torch.* allows
            args, reduction = args[:-1], args[-1]
        if name == "poisson_nll_loss" and len(args) == 5:  # eps is keyword-only in dlpy's
            args, kwargs = args[:4], {**kwargs, "eps": args[4]}
        return getattr(functional, name)(*args, reduction=_reduction(name, reduction),
                                         **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: functional.{name} with reduction an int (0, 1, 2)."
    return function


# the number of positional arguments before reduction in torch.<name>
_POSITIONAL = {"margin_ranking_loss": 4, "hinge_embedding_loss": 3,
               "cosine_embedding_loss": 4, "poisson_nll_loss": 5, "triplet_margin_loss": 7}
for _name in _POSITIONAL:
    globals()[_name] = _with_int_reduction(_name)
del _name


def is_same_size(input, other) -> bool:  # noqa: A002
    return _data(input).shape == _data(other).shape


def is_signed(input) -> bool:  # noqa: A002
    dtype = _data(input).dtype
    return dtype.kind in "ic" or is_floating_dtype(dtype)  # bfloat16 too


def rsub(input, other, *, alpha=1) -> Tensor:  # noqa: A002
    """torch.rsub: other - alpha * input (sub's checks of alpha and of bools, as torch's)."""
    from dlpy.ops.arithmetic import sub
    from dlpy.ops.pointwise import _tensors

    _tensors("rsub", input, None)
    out = sub(other, _tensor(input), alpha=alpha)
    if isinstance(other, Tensor) and alpha == 1:  # torch's rsub(Tensor, Tensor) node
        from dlpy.node_names import named

        named(out, "RsubBackward0")
    return out


def concatenate(tensors, dim: int = 0, axis=None) -> Tensor:
    """torch.concatenate: cat (``axis`` as numpy's name for dim)."""
    from dlpy import functional

    return functional.cat(tensors, dim if axis is None else axis)


concat = concatenate  # torch.concat(tensors, dim=...); dlpy's concat(xs, axis) still works


def typename(obj) -> str:
    """torch.typename: "dlpy.FloatTensor" for a tensor (see Tensor.type()); for a class or a
    function its own qualified name ("module.Name"), for any other object its type's (a
    builtin's without the module), as torch's."""
    if isinstance(obj, Tensor):
        return obj.type()
    if hasattr(obj, "__qualname__") or hasattr(obj, "__name__"):
        module = getattr(obj, "__module__", "") or ""
        name = getattr(obj, "__qualname__", None) or obj.__name__
    else:
        module, name = type(obj).__module__ or "", type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def hash_tensor(input, dim=None, *, keepdim: bool = False, mode: int = 0) -> Tensor:  # noqa: A002
    """torch.hash_tensor: the xor of the elements' 64-bit patterns (floats widened to float64,
    integers and bools to int64, then read as uint64), over all elements or over ``dim`` (an int
    or a tuple of ints, kept as size 1 with ``keepdim``): a uint64 tensor. Only mode 0 (xor);
    an empty tensor needs a dim, and a reduced dim may not be empty (torch's IndexError)."""
    if mode != 0:
        raise ArgError(f"Unknown hash_tensor mode: {mode}")
    data = np.asarray(input.data)
    if data.dtype.kind == "c":
        raise NoKernelError(f'"xor_sum_cpu" not implemented for {data.dtype.name}')
    wide = data.astype(np.float64 if data.dtype.kind == "f" else np.int64)
    bits = np.ascontiguousarray(wide).view(np.uint64).reshape(data.shape)
    dims = () if dim is None else (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    if not dims and bits.size == 0:
        raise ArgError("hash_tensor: Expected reduction dim to be specified for input.numel() "
                       "== 0. Specify the reduction dim with the 'dim' argument.")
    axes = tuple(sorted({check_dim("hash_tensor", d, bits.ndim, scalar_ok=True) for d in dims})) \
        if dims else tuple(builtins.range(bits.ndim))
    axes = axes if bits.ndim else ()  # (a 0-d tensor's dim 0 or -1: itself, as torch's)
    for axis in axes:
        if bits.shape[axis] == 0:
            raise ArgIndexError(f"hash_tensor: Expected reduction dim {axis} to have non-zero "
                                "size.")
    out = np.bitwise_xor.reduce(bits, axis=axes, keepdims=keepdim)
    return Tensor(np.asarray(out, dtype=np.uint64))


def _quantized_pool(name: str, input, pool):  # noqa: A002
    """A max pooling of a per-tensor quantized tensor: ``pool`` on its integers (the affine map
    keeps the order), the result with the input's qdtype, scale and zero point."""
    from dlpy.ao.qtensor import QTensor

    if not isinstance(input, QTensor) or input._axis is not None:
        raise ArgError(f"{name}: expected a per-tensor quantized tensor")
    ints = Tensor(input.int_repr().data.astype(np.float64))
    return QTensor(pool(ints).data, input.dtype, input.q_scale(), input.q_zero_point())


def quantized_max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1,  # noqa: A002
                         ceil_mode: bool = False):
    """torch.quantized_max_pool1d: max_pool1d over a quantized (C, L) or (N, C, L) tensor; an
    empty stride is the kernel size."""
    from dlpy import functional

    return _quantized_pool("quantized_max_pool1d", input, lambda x: functional.max_pool1d(
        x, kernel_size, list(stride) or None, padding, dilation, ceil_mode))


def quantized_max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1,  # noqa: A002
                         ceil_mode: bool = False):
    """torch.quantized_max_pool2d: max_pool2d over a quantized (C, H, W) or (N, C, H, W)
    tensor; an empty stride is the kernel size."""
    from dlpy import functional

    return _quantized_pool("quantized_max_pool2d", input, lambda x: functional.max_pool2d(
        x, kernel_size, list(stride) or None, padding, dilation, ceil_mode))


def quantized_batch_norm(input, weight, bias, mean, var, eps: float, output_scale: float,  # noqa: A002
                         output_zero_point: int):
    """torch.quantized_batch_norm: batch normalisation (inference, channels on dim 1) of a
    quantized tensor, (x - mean) / sqrt(var + eps) * weight + bias on its dequantized values,
    quantized again per tensor with ``output_scale`` / ``output_zero_point`` and its qdtype."""
    from dlpy.ao.qtensor import QTensor, dequantize_array, quantize_array

    if not isinstance(input, QTensor) or input._axis is not None:
        raise ArgError("quantized_batch_norm: expected a per-tensor quantized tensor")
    if input.ndim < 2:
        raise ArgError(f"quantized_batch_norm: expected at least 2 dims, got {input.ndim}")
    shape = [1, -1] + [1] * (input.ndim - 2)
    channels = input.shape[1]

    def per_channel(value, default):
        return (np.full(channels, default, np.float64) if value is None
                else np.asarray(value.data, np.float64)).reshape(shape)

    x = dequantize_array(input.int_repr().data, input.q_scale(), input.q_zero_point())
    y = (x - per_channel(mean, 0.0)) / np.sqrt(per_channel(var, 1.0) + eps) * per_channel(
        weight, 1.0) + per_channel(bias, 0.0)
    q = quantize_array(y.astype(np.float32), np.float64(output_scale), int(output_zero_point),
                       input.dtype.qmin, input.dtype.qmax)
    return QTensor(q, input.dtype, float(output_scale), int(output_zero_point))


def is_anomaly_enabled() -> bool:
    import sys

    return sys.modules["dlpy.tensor"]._detect_anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """torch.is_anomaly_check_nan_enabled: whether anomaly mode checks gradients for nan."""
    import sys

    return sys.modules["dlpy.tensor"]._anomaly_check_nan


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    from dlpy.tensor import set_detect_anomaly

    set_detect_anomaly(enabled, check_nan)


def constant_pad_nd(input: Tensor, pad, value=0) -> Tensor:  # noqa: A002
    """torch.constant_pad_nd: F.pad with a constant."""
    from dlpy.ops.pad import pad as _pad

    return _pad(input, pad, value=value)


def frobenius_norm(input: Tensor, dim, keepdim: bool = False) -> Tensor:  # noqa: A002
    """torch.frobenius_norm: sqrt of the sum of squares over dim (one axis or two)."""
    from dlpy import linalg

    return linalg.vector_norm(input, 2, dim, keepdim)


def nuclear_norm(input: Tensor, dim=(-2, -1), keepdim: bool = False) -> Tensor:  # noqa: A002
    from dlpy import linalg

    return linalg.matrix_norm(input, "nuc", dim, keepdim)


# ----------------------------------------------------------------- linear algebra by name
def matrix_power(input: Tensor, n: int) -> Tensor:  # noqa: A002
    """torch.matrix_power: linalg.matrix_power."""
    from dlpy import linalg

    return linalg.matrix_power(input, n)


def slogdet(input: Tensor):  # noqa: A002
    """torch.slogdet: linalg.slogdet, (sign, logabsdet)."""
    from dlpy import linalg

    return _slogdet_result(*linalg.slogdet(input))


# ----------------------------------------------------------------- torch.<name>(input, ...)
# that is input.<name>(...) (a Tensor method), and torch's top-level in-place functions
METHOD_FUNCTIONS = """
    absolute adjoint all any argmax argmin clamp_max clamp_min clone det detach divide eq ge
    ger greater greater_equal gt inverse isfinite isinf isnan le less less_equal lt msort
    multiply ne negative not_equal positive reciprocal rsqrt split_with_sizes square subtract t
    true_divide unsafe_chunk unsafe_split unsafe_split_with_sizes
""".split()
IN_PLACE_FUNCTIONS = """
    abs_ acos_ acosh_ addmv_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_
    atan_ atanh_ ceil_ clamp_ clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ detach_ erf_ erfc_
    exp2_ exp_ expm1_ fill_ fix_ floor_ frac_ gcd_ i0_ index_put_ lcm_ ldexp_ log10_ log1p_
    log2_ log_ logit_ nan_to_num_ neg_ negative_ rad2deg_ reciprocal_ relu_ resize_as_ round_
    rsqrt_ sigmoid_ sin_ sinc_ sinh_ sqrt_ square_ tan_ tanh_ trunc_ xlogy_ zero_
""".split()
# torch's *_copy functions: the view op's result as a tensor of its own
COPY_FUNCTIONS = """
    alias detach diagonal expand narrow permute select slice squeeze t transpose unbind unfold
    unsqueeze view split split_with_sizes
""".split()


# torch's comparisons and clamps take no number as their input (torch.eq(2, t) is a
# TypeError)
_TENSOR_INPUT = set("eq ge gt le lt ne greater greater_equal less less_equal not_equal "
                    "clamp_min clamp_max".split())


# torch.<name>(number, tensor): the tensor's reflected operator with the number
_REFLECTED = {"multiply": "__rmul__", "subtract": "__rsub__", "divide": "__rtruediv__",
              "true_divide": "__rtruediv__"}


def _from_method(name: str):
    def function(input, *args, **kwargs):  # noqa: A002
        if not isinstance(input, Tensor):
            if _own_method(input, name):
                return getattr(input, name)(*args, **kwargs)  # a MaskedTensor, a SparseTensor
            if name in _TENSOR_INPUT or input is None or isinstance(input, str):
                # (None and text are no array-like: numpy would make an object array)
                raise TypeError(f"{name}(): argument 'input' must be a Tensor, not "
                                f"{type(input).__name__}, as torch")
            reflected = _REFLECTED.get(name)
            if (reflected is not None and type(input) in (bool, int, float)
                    and len(args) == 1 and isinstance(args[0], Tensor) and not kwargs):
                # a number first: torch's wrapped number, a scalar in the promotion (not a
                # default-dtype tensor: multiply(0.1, float64) is exact, bfloat16 stays)
                return getattr(args[0], reflected)(input)
        return getattr(_tensor(input), name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}(input, ...): input.{name}(...)."
    return function


def _copied(value, name: str | None = None):
    """A row-major copy of the view ``value`` (or of each view in a tuple), as torch's *_copy
    kernels write theirs (transpose_copy of a (4, 3) tensor: strides (4, 1), not the view's
    (1, 3)), its node named as they name theirs: the view's node name + "_copy"
    (ViewBackward0_copy), or ``name`` + "_copy"."""
    if isinstance(value, (tuple, list)):
        return tuple(_copied(v, name) for v in value)
    from dlpy.layouts import contiguous_format
    from dlpy.node_names import named

    node, copy = value.grad_fn, value.clone(memory_format=contiguous_format)
    if copy.grad_fn is not None and (node is not None or name is not None):
        named(copy, f"{name or node.name()}_copy")
    return copy


def _copy_function(base: str):
    def function(input, *args, **kwargs):  # noqa: A002
        x = _tensor(input)
        if base == "alias":
            return _copied(x, "AliasBackward0")
        if base == "transpose":  # torch's (dim0, dim1): a swap, not numpy's permutation
            return _copied(x.swapdims(*args, **kwargs))
        if base == "narrow":  # (Tensor.narrow_copy: torch's own checks and node)
            return x.narrow_copy(*args, **kwargs)
        if base == "slice":  # torch.slice_copy(input, dim=0, start=None, end=None, step=1)
            dim, start, end, step = (list(args) + [0, None, None, 1][len(args):])[:4]
            return _copied(x[(slice(None),) * dim + (slice(start, end, step),)])
        return _copied(getattr(x, base)(*args, **kwargs))

    name = f"{base}_copy"
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: input.{base}(...) as a copy."
    return function


for _name in METHOD_FUNCTIONS + IN_PLACE_FUNCTIONS:
    if _name not in globals():
        globals()[_name] = _from_method(_name)
for _name in COPY_FUNCTIONS:
    globals()[f"{_name}_copy"] = _copy_function(_name)


def fill(input: Tensor, value) -> Tensor:  # noqa: A002
    """torch.fill: a copy of input filled with value (in input's dtype)."""
    from dlpy.node_names import named  # torch's out-of-place fill: FillBackward0 / 1

    out = _tensor(input).clone().fill_(value)
    if out.grad_fn is not None and out.grad_fn.name().startswith("FillBackward"):
        named(out, "FillBackward1" if isinstance(value, Tensor) else "FillBackward0")
    return out


def _functional_in_place(name: str):
    def function(input, *args, **kwargs):  # noqa: A002
        from dlpy import functional

        base = getattr(functional, name[:-1])
        return input._in_place(name, lambda x: base(x, *args, **kwargs))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: functional.{name[:-1]}(input, ...) in place."
    return function


rrelu_ = _functional_in_place("rrelu_")  # (torch's generator= keyword: rrelu's own)


def _activation_in_place(name: str):
    """torch.celu_/selu_/threshold_: functional's in-place form, whose node is torch's in-place
    one (CeluBackward1, EluBackward1: the slope read from the result; ThresholdBackward1)."""

    def function(input, *args, **kwargs):  # noqa: A002
        from dlpy.ops import activation_inplace

        return getattr(activation_inplace, name)(input, *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: functional.{name}(input, ...)."
    return function


for _name in ("celu_", "selu_", "threshold_"):
    globals()[_name] = _activation_in_place(_name)


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.dropout_: torch.dropout in place."""
    return input._in_place("dropout_", lambda x: dropout(x, p, train))


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    return input._in_place("alpha_dropout_", lambda x: alpha_dropout(x, p, train))


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    return input._in_place("feature_alpha_dropout_", lambda x: feature_alpha_dropout(x, p, train))


def ctc_loss(log_probs: Tensor, targets, input_lengths, target_lengths, blank: int = 0,
             reduction=1, zero_infinity: bool = False) -> Tensor:
    """torch.ctc_loss: reduction an int (0 none, 1 mean, 2 sum)."""
    from dlpy.ops.ctc import ctc_loss as _ctc_loss

    return _ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                     _reduction("ctc_loss", reduction), zero_infinity)


def _pool(name: str):
    def function(input, kernel_size, stride=(), *args, **kwargs):  # noqa: A002
        from dlpy import functional

        stride = None if stride in ((), []) else stride  # torch.*'s "stride = kernel_size"
        return getattr(functional, name)(input, kernel_size, stride, *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: functional.{name} (stride=() means kernel_size)."
    return function


for _name in ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d"):
    globals()[_name] = _pool(_name)


def adaptive_max_pool1d(input: Tensor, output_size):  # noqa: A002
    """torch.adaptive_max_pool1d: (values, indices), as torch's top-level form."""
    from dlpy import functional

    return functional.adaptive_max_pool1d(input, output_size, return_indices=True)


def _rnn_cell(nonlinearity: str):
    def function(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
        from dlpy import functional
        from dlpy.ops import rnn as rnn_ops

        x_proj = functional.linear(input, w_ih, b_ih)
        return rnn_ops.rnn_cell(x_proj, hx, w_hh, b_hh, nonlinearity)

    function.__name__ = function.__qualname__ = f"rnn_{nonlinearity}_cell"
    function.__doc__ = (f"torch.rnn_{nonlinearity}_cell: one Elman step, h' = {nonlinearity}("
                        "input W_ih^T + b_ih + hx W_hh^T + b_hh); input (N, I), hx (N, H).")
    return function


rnn_tanh_cell, rnn_relu_cell = _rnn_cell("tanh"), _rnn_cell("relu")


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """torch.lstm_cell: one LSTM step (gates i, f, g, o), hx = (h, c) each (N, H) ->
    (h', c')."""
    from dlpy import functional
    from dlpy.ops import rnn as rnn_ops

    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"lstm_cell(): hx must be a tuple of 2 tensors (h, c), got "
                        f"{type(hx).__name__}")
    x_proj = functional.linear(input, w_ih, b_ih)
    return tuple(rnn_ops.lstm_cell(x_proj, hx[0], hx[1], w_hh, b_hh))


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """torch.gru_cell: one GRU step (gates r, z, n; torch's formula), hx (N, H) -> h'."""
    from dlpy import functional
    from dlpy.ops import rnn as rnn_ops

    return rnn_ops.gru_cell(functional.linear(input, w_ih, b_ih), hx, w_hh, b_hh)


del _name

# what dlpy/__init__.py exports from here
TOP_LEVEL = sorted(
    {"addbmm", "addmv", "addr", "adaptive_max_pool1d", "alpha_dropout", "alpha_dropout_",
     "as_tensor", "asarray", "batch_norm", "bernoulli", "binary_cross_entropy_with_logits",
     "binomial", "can_cast", "chain_matmul", "cholesky", "corrcoef", "cov", "ctc_loss",
     "cumulative_trapezoid", "dist", "dropout", "dropout_", "embedding", "embedding_renorm_",
     "feature_alpha_dropout", "feature_alpha_dropout_", "fill", "from_numpy",
     "get_default_dtype", "set_default_dtype", "gradient", "group_norm", "histogramdd",
     "instance_norm", "is_floating_point", "is_nonzero", "is_storage", "is_tensor", "isin",
     "kl_div", "layer_norm", "logdet", "matrix_power", "multinomial", "normal", "numel", "pinverse",
     "poisson", "promote_types", "qr", "randint_like", "range", "renorm", "result_type",
     "scalar_tensor", "set_printoptions", "slogdet", "svd",
     "trapezoid", "trapz", "unravel_index", "celu_", "selu_", "rrelu_", "threshold_",
     "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "is_same_size", "is_signed",
     "rsub", "concat", "concatenate", "typename", "hash_tensor", "quantized_max_pool1d",
     "quantized_max_pool2d", "quantized_batch_norm", "is_anomaly_enabled",
     "is_anomaly_check_nan_enabled", "set_anomaly_enabled",
     "constant_pad_nd", "frobenius_norm", "nuclear_norm",
     "rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"}
    | set(_POSITIONAL) | set(METHOD_FUNCTIONS) | set(IN_PLACE_FUNCTIONS)
    | {f"{base}_copy" for base in COPY_FUNCTIONS}
)


# torch's functions whose out= must have the result's dtype exactly (no cast): the unary ops
# that keep their input's dtype, matrix products, index selections, index results; a tuple
# result (max(dim), sort, topk...) is held to it too
EXACT_OUT = frozenset("""
    abs absolute neg negative floor ceil round trunc fix sign sgn frac bitwise_not nan_to_num
    clamp clip where amax amin argmax argmin nonzero mm matmul bmm mv dot index_select gather
    addmm addmv baddbmm addbmm
    masked_select take inverse norm logcumsumexp quantile nanquantile conj_physical clamp_min
    clamp_max float_power heaviside msort histc searchsorted bucketize
    index_add index_copy scatter scatter_add scatter_reduce""".split())


def exact_out(name: str, args: tuple, kwargs: dict, out=None) -> bool | None:
    """Whether torch's out= of this call wants the result's very dtype, where that depends on
    the arguments (None: EXACT_OUT's rule): clamp with a tensor bound and abs of a complex
    tensor cast into any out (TensorIterator's kernels), with numbers they do not."""
    if name in ("clamp", "clip"):
        bounds = (*args[1:], kwargs.get("min"), kwargs.get("max"))
        return not builtins.any(isinstance(b, Tensor) for b in bounds)
    if name in ("abs", "absolute") and args and isinstance(args[0], Tensor):
        if args[0].data.dtype.kind != "c":
            return True
        if isinstance(out, Tensor) and out.data.dtype.kind == "c":
            # torch's complex kernel writes |z| + 0j into a complex out of the input's very
            # dtype (complex128 into complex64's abs: its "Found dtype ... but expected ...")
            if out.dtype != args[0].dtype:
                raise RuntimeError(f"{name}: Found dtype {out.dtype} but expected "
                                   f"{args[0].dtype}")
        return False  # a real out: any cast
    return None


# torch's functions with no out= (dlpy's wrapper gives every top-level function one)
NO_OUT = frozenset({"det", "logdet", "count_nonzero", "isnan", "isinf", "isfinite", "isreal",
                    "isclose", "positive", "index_fill", "masked_fill", "masked_scatter", "put",
                    "index_put", "flip", "roll"})
# ... whose out= may not partly share memory with an input (torch's TensorIterator: the same
# memory with the same strides is fine, out=x; with others, out=x.t(), refused)
NO_PARTIAL_OVERLAP = frozenset("""
    abs absolute acos arccos acosh arccosh asin arcsin asinh arcsinh atan arctan atanh arctanh
    bitwise_not ceil clamp clip cos cosh deg2rad digamma erf erfc erfinv exp exp2 expm1 fix
    floor frac lgamma log log10 log1p log2 logit i0 nan_to_num neg negative rad2deg reciprocal
    round rsqrt sigmoid sign sgn sin sinc sinh sqrt square tan tanh trunc logical_not
    add sub subtract mul multiply div divide true_divide floor_divide remainder fmod atan2
    arctan2 pow float_power maximum minimum fmax fmin copysign hypot nextafter xlogy ldexp
    logaddexp logaddexp2 heaviside bitwise_and bitwise_or bitwise_xor bitwise_left_shift
    bitwise_right_shift logical_and logical_or logical_xor eq ne lt le gt ge greater
    greater_equal less less_equal not_equal gcd lcm where lerp addcmul addcdiv
    cumsum cumprod""".split())
# ... whose out= may share no memory with the index or source, and only all of the input's
# (torch's index_add & co copy the input into a new out first: out=x is fine, out=x.t() not)
NO_SOURCE_OVERLAP = frozenset({"index_add", "index_copy", "scatter", "scatter_add",
                               "scatter_reduce"})
# ... whose out= may share no memory with an input (torch refuses even a full alias there)
NO_OVERLAP = frozenset({"cat", "concat", "concatenate", "stack", "index_select", "gather",
                        "masked_select", "take"})


def check_out_inputs(name: str, inputs, out) -> None:
    """What torch's out= forms refuse about the inputs: an out= at all (NO_OUT), an input
    sharing memory with ``out`` (NO_OVERLAP), a number for where's values."""
    if name in NO_OUT:
        raise TypeError(f"{name}() got an unexpected keyword argument 'out'")
    if name == "where" and len(inputs) == 3 and not builtins.all(
            isinstance(x, Tensor) for x in inputs):
        raise TypeError("where(): with out=, input and other must be Tensors, got "
                        f"{type(inputs[1]).__name__} and {type(inputs[2]).__name__}")
    if name == "bucketize" and inputs and not isinstance(inputs[0], Tensor):
        # (torch's bucketize of a number is another overload, which has no out=)
        raise TypeError(f"bucketize() received an invalid combination of arguments: a "
                        f"{type(inputs[0]).__name__} input takes no out=")
    if not isinstance(out, Tensor):
        return
    if name in NO_SOURCE_OVERLAP and inputs and isinstance(inputs[0], Tensor) and \
            inputs[0].data.size and out.shape == inputs[0].shape and \
            np.may_share_memory(inputs[0].data, out.data):  # (another shape: resized first)
        from dlpy.tensor import _check_partial_overlap

        _check_partial_overlap(name, out.data, inputs[0].data)
    if name in NO_OVERLAP or name in NO_SOURCE_OVERLAP and not (inputs and out is inputs[0]):
        # (index_add(x, ..., out=x) is torch's index_add_, which does not check its source)
        flat = [x for a in inputs[name in NO_SOURCE_OVERLAP:]
                for x in (a if isinstance(a, (list, tuple)) else (a,))]
        if builtins.any(isinstance(x, Tensor) and np.shares_memory(x.data, out.data) for x in flat):
            raise RuntimeError(f"{name}: unsupported operation: some elements of the input "
                               "tensor and the written-to tensor refer to a single memory "
                               "location. Please clone() the tensor before performing the "
                               "operation.")
    elif name in NO_PARTIAL_OVERLAP:
        from dlpy.tensor import _check_partial_overlap

        if name not in ("cumsum", "cumprod", "float_power") and builtins.any(
                x is out for x in inputs):  # (float_power: a composite, on casts of its inputs)
            _check_read_write_out(name, inputs, out)

        for x in inputs:
            if isinstance(x, Tensor) and x.data.size and out.data.size and \
                    np.may_share_memory(x.data, out.data) and not (
                        name in ("cumsum", "cumprod") and out.shape != x.shape):
                # (cumsum's out of another shape: torch checks once it is resized)
                _check_partial_overlap(name, out.data, x.data)


# torch's composites that copy their result into out=, which then records the copy (its
# gradient flows: CopyBackwards), as write_out's ``differentiable``
DIFFERENTIABLE_OUT = frozenset({"quantile", "nanquantile"})


def _check_read_write_out(name: str, inputs, out) -> None:
    """An element-wise op's out= that is one of its inputs (torch.add(x, y, out=x)) is read as
    well as written: torch's TensorIterator resizes no such out, so the inputs' broadcast shape
    must be its own (torch's RuntimeError; resized, with a warning, when it is no input)."""
    try:
        shape = np.broadcast_shapes(*(x.shape for x in inputs if isinstance(x, Tensor)))
    except ValueError:
        return  # (shapes that do not broadcast: the op's own error)
    if shape != out.shape:
        raise RuntimeError(f"{name}: output with shape {list(out.shape)} doesn't match the "
                           f"broadcast shape {list(shape)}")


# torch's cat family refuses an out= its inputs cannot cast to with a TypeError
_JOIN_OUT = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack", "row_stack",
                       "dstack", "column_stack"})


def write_out(name: str, result, out, exact: bool | None = None, warn: bool = True,
              differentiable: bool = False):
    """torch's ``out=``: ``result`` (a Tensor, or a named tuple of them: max(dim), sort,
    topk...) written into ``out`` (a Tensor, or a tuple as long), which is returned. As torch:
    no gradient flows through ``out=`` (a result that needs one, or an ``out`` leaf requiring
    one, is a RuntimeError); the result must cast to ``out``'s dtype by torch's rules (float
    into an integer ``out`` is an error; ``exact`` (default: ``name`` in EXACT_OUT, or a tuple
    result) wants the very dtype); an ``out`` of another shape is resized (with a warning if it
    held elements, unless not ``warn``: creation functions). ``differentiable``: torch's
    composites (linalg.norm, cond...) that copy their result into ``out``, which then records
    the copy."""
    if isinstance(result, tuple):
        if not hasattr(result, "_fields"):  # chunk, split, var_mean: torch has no out= there
            raise TypeError(f"{name}() got an unexpected keyword argument 'out'")
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}: out= must be a tuple of {len(result)} tensors, got "
                            f"{type(out).__name__}")
        written = [write_out(name, r, o, exact=exact is not False) for r, o in zip(result, out)]
        return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
    if not isinstance(result, Tensor):
        raise TypeError(f"{name}() got an unexpected keyword argument 'out'")
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: out= must be a Tensor, got {type(out).__name__}")
    from dlpy.tensor import is_grad_enabled, no_grad

    differentiable = differentiable or name in DIFFERENTIABLE_OUT
    if is_grad_enabled() and (out.requires_grad or result.requires_grad and not differentiable):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    if name in ("all", "any"):  # a bool result, into a bool or uint8 out only
        if out.dtype not in (np.bool_, np.uint8):
            raise RuntimeError(f"{name} only supports bool tensor for result, got: {out.dtype}")
    elif name in ("isposinf", "isneginf", "signbit") and out.dtype != np.bool_:
        raise RuntimeError(f"{name} does not support non-boolean outputs.")  # torch's message
    elif (name in EXACT_OUT if exact is None else exact) and result.dtype != out.dtype:
        raise RuntimeError(f"{name}: expected out tensor to have dtype {result.dtype}, but got "
                           f"{out.dtype} instead")
    kind = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
    if kind.get(result.dtype.kind, 2) > kind.get(out.dtype.kind, 2) and name not in (
            "all", "any", "bernoulli"):
        # (all/any: a uint8 result goes into a bool out too, as torch's; bernoulli's 0s and
        # 1s into any dtype, torch's bernoulli_ of out; another random draw into integers:
        # torch has no kernel, its NotImplementedError)
        error = TypeError if name in _JOIN_OUT else NoKernelError if name in (
            "rand", "randn", "normal") else RuntimeError
        raise error(f"{name}: result type {result.dtype} can't be cast to the desired "
                    f"output type {out.dtype}")
    if out.shape != result.shape:
        if out.data.size and warn:
            import warnings

            warnings.warn(f"An output with one or more elements was resized since it had "
                          f"shape {list(out.shape)}, which does not match the required output "
                          f"shape {list(result.shape)}. This behavior is deprecated, and in a "
                          "future PyTorch release outputs will not be resized unless they have "
                          "zero elements. You can explicitly reuse an out tensor t by resizing "
                          "it, inplace, to zero elements with t.resize_(0).", UserWarning,
                          stacklevel=user_stacklevel())  # (torch's words)
        # torch's resized out takes the layout its kernel gives a new result (a transposed
        # input's for a pointwise op), which dlpy's result has; a composite's (quantile's) is
        # resized row-major before the copy
        if name in DIFFERENTIABLE_OUT and type(result.data) is np.ndarray:
            out.data = np.empty(result.shape, dtype=out.dtype)
        else:
            out.data = np.empty_like(result.data, dtype=out.dtype)
    if differentiable:
        return out.copy_(result)
    with no_grad():
        out.copy_(result)
    return out


# torch's meta device (dlpy.meta): normal, randint_like and scalar_tensor make meta tensors
# given device="meta" (or where the default device is meta), drawing nothing
normal = _on_meta(normal, default=False)
randint_like = _on_meta(randint_like, like=True)
scalar_tensor = _on_meta(scalar_tensor)
