"""Running and whole products and sums along an axis: cumsum, cumprod, prod, and diff (cumsum's
inverse, composed from slices). Products have exact gradients also where x holds zeros."""

from __future__ import annotations

import numbers
import operator

import numpy as np

from dlpy import meta as _meta
from dlpy.amp.dtypes import float32_compute, is_low_precision
from dlpy.amp.state import FP32, autocast_policy
from dlpy.ops import ArgError, check_dim
from dlpy.ops.arithmetic import abs as _abs
from dlpy.ops.arithmetic import exp, log, sub
from dlpy.ops.mask import where
from dlpy.ops.rearrange import Flip
from dlpy.ops.reduce import accumulate_input, in_dtype
from dlpy.ops.shape import concat, getitem, reshape
from dlpy.tensor import Op, Tensor


class _DiffTypeError(ArgError, TypeError):
    """diff's n that is not an int (a float, a bool, None), or a number as prepend/append:
    dlpy's ArgError, and torch's TypeError (its argument parser refuses it)."""


def _tensor_input(name: str, x) -> None:
    """torch's refusal of a non-tensor input (a list, a number) to the ops that take none."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


# torch's CPU scans run float32 (complex64) in a float64 (complex128) accumulator, rounding each
# output; numpy's would accumulate the rounding error of every step (0.1 summed 1000 times: 99.999)
_WIDE = {np.dtype(np.float32): np.float64, np.dtype(np.complex64): np.complex128}


def _scan(ufunc, a: np.ndarray, axis: int) -> np.ndarray:
    """ufunc.accumulate along axis (np.add: cumsum), float32 through a float64 accumulator."""
    wide = _WIDE.get(a.dtype)
    if wide is None:
        return ufunc.accumulate(a, axis=axis)
    return ufunc.accumulate(a, axis=axis, dtype=wide).astype(a.dtype)


def _reverse_cumsum(a: np.ndarray, axis: int) -> np.ndarray:
    """out[i] = sum of a[i:] along axis: a new array in a's memory order (no reversed view:
    a gradient a hook sees has torch's strides, as its flip's copy)."""
    return np.flip(_scan(np.add, np.flip(a, axis), axis), axis).copy(order="K")


def _exclusive_cumprod(a: np.ndarray, axis: int) -> np.ndarray:
    """out[i] = product of a[:i] along axis (1 for i = 0)."""
    moved = np.moveaxis(a, axis, -1)
    out = np.ones_like(moved)
    np.cumprod(moved[..., :-1], axis=-1, out=out[..., 1:])
    return np.moveaxis(out, -1, axis)


@float32_compute  # float16/bfloat16: float32 running sums rounded once, as torch's CPU kernel
class CumSum(Op):
    """y[i] = x[0] + ... + x[i] along dim (from +0.0, as torch's: never -0.0);
    dx[i] = g[i] + ... + g[n-1]."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves_tensors = False  # torch saves only sizes: a second backward works
    saves = ()  # backward reads no input or output: either may change in place, as torch's

    float8_kernel = "cumsum_out_cpu"  # torch's refusal of float8 (amp/dtypes.py)
    complex_ok = True

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        y = _scan(np.add, x, self.dim)
        if y.dtype.kind in "fc":  # torch's sums start from +0: a -0.0 prefix gives +0.0
            y += 0.0
        return y

    def forward_low_precision(self, x):  # float16/bfloat16: a float32 accumulator, as torch's
        return np.cumsum(x.astype(np.float32), axis=self.dim) + np.float32(0)

    def backward(self, grad_output):
        return (_reverse_cumsum(grad_output, self.dim),)

    def backward_graph(self, grad_output, output):
        return (_reverse_cumsum_graph(grad_output, self.dim),)


@float32_compute  # float16/bfloat16: float32 running products rounded once, as torch's
class CumProd(Op):
    """y[i] = x[0] * ... * x[i] along dim;  dx[k] = sum over i >= k of g[i] y[i] / x[k].
    Where x holds zeros (the division fails), as PyTorch: before a row's first zero the formula
    holds; at the first zero dx is that sum with the zero left out of the products; after it
    every product holds the zero, so dx is 0."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    complex_ok = "holomorphic"

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        self.x = x
        self.y = _scan(np.multiply, x, self.dim)
        return self.y

    low = None  # float16/bfloat16 x: backward rounds each step to it, as torch's

    def forward_low_precision(self, x):  # float16/bfloat16: a float32 accumulator, as torch's
        self.low, self.x = x.dtype, x.astype(np.float32)
        self.y = np.cumprod(self.x, axis=self.dim)
        return self.y

    def backward(self, grad_output):
        x, y, dim, low = self.x, self.y, self.dim, self.low
        if x.ndim == 0 or x.shape[dim] <= 1:  # torch's cumprod_backward passes g through
            return (grad_output,)  # along a dim of one value: no formula (linear)
        zero = x == 0
        if not zero.any():
            if low is not None:  # torch's g * y and its reverse cumsum, each rounded to x's dtype
                def rounded(a):
                    return a.astype(low).astype(np.float32)

                return (rounded(_reverse_cumsum(rounded(grad_output * y), dim)) / x,)
            return (_reverse_cumsum(grad_output * y, dim) / x,)
        zeros_so_far = np.cumsum(zero, axis=dim)
        before = zeros_so_far == 0
        first = zero & (zeros_so_far == 1)
        skipping = np.cumprod(np.where(first, 1, x), axis=dim)  # the products without it
        grad = np.where(first, _reverse_cumsum(grad_output * skipping, dim), 0)
        at_before = _reverse_cumsum(grad_output * y, dim) / np.where(before, x, 1)
        return (np.where(before, at_before, grad),)

    def backward_graph(self, grad_output, output):
        x, dim, zero = self.inputs[0], self.dim, self.x == 0
        if self.x.ndim == 0 or self.x.shape[dim] <= 1:  # (as backward)
            return (grad_output,)
        if not zero.any():
            return (_reverse_cumsum_graph(grad_output * output, dim) / x,)
        # x' = x with each row's first zero x_z set to 1: y = y' times x_z from z on, so
        # dx = the gradient at x' (one zero fewer) of g' = g times x_z from z on, and
        # dx_z = sum of g y' from z on. Exact in every derivative, as PyTorch's double backward.
        zeros_so_far = np.cumsum(zero, axis=dim)
        first = zero & (zeros_so_far == 1)
        inner = CumProd(dim)
        skipping = inner(where(first, 1.0, x))  # y'
        x_z = where(first, x, 0.0).sum(dim, keepdims=True)
        # CumProd's own backward_graph, not the complex form inner takes for complex x: this
        # one runs inside that form already (conjugating again undid it for complex x)
        (rest,) = CumProd.backward_graph(inner, grad_output * where(zeros_so_far > 0, x_z, 1.0),
                                         skipping)
        return (where(first, _reverse_cumsum_graph(grad_output * skipping, dim), rest),)


class Prod(Op):
    """y = product of x along dim (None: of every value);  dx = g * y / x, or where x holds
    zeros the product of the other values (exclusive products from both ends), as PyTorch.
    float16/bfloat16 multiply in their own dtype, rounding each product, as torch's CPU
    kernel (which, reducing a contiguous axis, runs several lanes at once: its order there
    differs)."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    complex_ok = "holomorphic"

    # a 0-d x's (run on its one element): torch's prod_backward passes g through as it is
    scalar = False

    def __init__(self, dim: int | None, keepdim: bool):
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        self.x = x
        self.y = np.multiply.reduce(x, axis=self.dim, keepdims=True)  # (the ufunc's: dlpy's frame)
        if self.keepdim:
            return self.y
        return self.y.reshape(()) if self.dim is None else np.squeeze(self.y, self.dim)

    def backward(self, grad_output):
        x, y = self.x, self.y
        if self.scalar or x.ndim == 0:
            return (grad_output.reshape(x.shape),)
        grad_output = grad_output.reshape(y.shape)
        if not (x == 0).any():
            return (grad_output * (y / x),)
        axis = self.dim
        if axis is None:
            flat = x.reshape(-1)
            others = _exclusive_cumprod(flat, 0) * np.flip(_exclusive_cumprod(flat[::-1], 0))
            return (grad_output * others.reshape(x.shape),)
        flipped = np.flip(_exclusive_cumprod(np.flip(x, axis), axis), axis)
        return (grad_output * (_exclusive_cumprod(x, axis) * flipped),)

    def backward_graph(self, grad_output, output):
        x, keep = self.inputs[0], self.y.shape
        if self.scalar or x.ndim == 0:  # (as backward)
            return (grad_output.reshape(x.shape),)
        grad_output = grad_output.reshape(keep)
        if not (self.x == 0).any():
            return (grad_output * (output.reshape(keep) / x),)
        axis, values = (0, x.reshape(-1)) if self.dim is None else (self.dim, x)
        flipped = Flip((axis,))(_exclusive_cumprod_graph(Flip((axis,))(values), axis))
        others = _exclusive_cumprod_graph(values, axis) * flipped
        return (grad_output * others.reshape(x.shape),)


def _reverse_cumsum_graph(a: Tensor, axis: int) -> Tensor:
    """``_reverse_cumsum`` with recorded ops."""
    return Flip((axis,))(CumSum(axis)(Flip((axis,))(a)))


def _exclusive_cumprod_graph(a: Tensor, axis: int) -> Tensor:
    """``_exclusive_cumprod`` with recorded ops (exact where a holds zeros)."""
    ones = Tensor(np.ones(a.shape[:axis] + (1,) + a.shape[axis + 1:], dtype=a.dtype))
    if a.shape[axis] == 1:
        return ones
    return concat([ones, CumProd(axis)(getitem(a, (slice(None),) * axis + (slice(-1),)))], axis)


def _along(name: str, op, x, dim) -> Tensor:
    shape = _shape_of(x)
    dim = check_dim(name, dim, len(shape), scalar_ok=True)
    if not shape:  # a scalar: its own running sum or product (torch's one node, CumsumBackward0)
        from dlpy.node_names import class_name, named
        from dlpy.ops.shape import own_reshape

        return named(own_reshape(op(dim)(reshape(x, (1,))), ()), class_name(op.__name__))
    return op(dim)(x)


def _scan_input(name: str, input, dtype):
    input, dtype = accumulate_input(name, input, dtype)
    shape = _shape_of(input)
    # torch's kernels have no bool accumulator; a 0-d or an empty x runs none (a copy, or
    # nothing to scan), so there bool is torch's result
    if dtype == np.bool_ and shape and 0 not in shape:
        raise NotImplementedError(f'"{name}_out_cpu" not implemented for \'Bool\'')
    return input, dtype


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """torch.cumsum: running sums along dim; with ``dtype`` x is cast to it first (bool and
    integer x give int64 without it)."""
    input, dtype = _scan_input("cumsum", input, dtype)
    return in_dtype(_along("cumsum", CumSum, input, dim), dtype)


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """torch.cumprod: running products along dim (gradient exact also with zeros in x); dtype
    as cumsum's."""
    input, dtype = _scan_input("cumprod", input, dtype)
    return in_dtype(_along("cumprod", CumProd, input, dim), dtype)


@autocast_policy(FP32)
def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """torch.prod: the product of every value (dim None) or along one axis dim, the axis kept
    with length 1 when ``keepdim``; gradient exact also with zeros in x; dtype as cumsum's."""
    shape = _shape_of(input)
    if not isinstance(keepdim, (bool, np.bool_)):
        raise TypeError(f"prod: keepdim must be True or False, got {keepdim!r}")
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod: dim must be one int (or None for every axis), got {dim!r}")
    if dim is not None:
        dim = check_dim("prod", dim, len(shape), scalar_ok=True)
    input, dtype = accumulate_input("prod", input, dtype)
    if dim is None:
        return in_dtype(Prod(None, bool(keepdim))(input), dtype)
    if not shape:
        op = Prod(0, False)
        op.scalar = True
        return in_dtype(op(reshape(input, (1,))), dtype)
    return in_dtype(Prod(dim, bool(keepdim))(input), dtype)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """torch.diff: x[1:] - x[:-1] along dim, n times; ``prepend``/``append`` (tensors of x's
    number of dims) are joined on first; n == 0 gives a copy of x (without them, as torch).
    Composed from slices and sub, so backward is theirs."""
    if isinstance(n, (bool, np.bool_)) or not hasattr(type(n), "__index__"):
        raise _DiffTypeError(f"diff: n must be an int >= 0, got {n!r}")
    n = operator.index(n)  # an int, a numpy integer or a 0-d integer tensor, as torch's
    if n < 0:
        raise ArgError(f"diff: n must be an int >= 0, got {n!r}")
    shape = _shape_of(input)
    if not shape:
        raise ArgError("diff: x must have at least one axis, got shape ()")
    dim = check_dim("diff", dim, len(shape))
    for label, extra in (("prepend", prepend), ("append", append)):
        if isinstance(extra, (numbers.Number, np.number, np.bool_)):
            raise _DiffTypeError(f"diff(): argument '{label}' must be Tensor, not "
                                 f"{type(extra).__name__}")
        if extra is not None and len(_shape_of(extra)) != len(shape):
            raise ArgError("diff expects prepend or append to be the same dimension as input")
    if n == 0:  # (torch's copy: a tensor of its own, node CopyBackwards)
        from dlpy.node_names import named

        return named(input.clone(), "torch::autograd::CopyBackwards")
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, input, append) if p is not None]
        input = concat(parts, axis=dim)
    before = (slice(None),) * dim
    for _ in range(int(n)):
        later = getitem(input, before + (slice(1, None),))
        earlier = getitem(input, before + (slice(None, -1),))
        # booleans differ where they change (torch's logical_xor; numpy refuses bool -)
        input = (Tensor(later.data != earlier.data) if later.dtype == np.bool_
                 else sub(later, earlier))
    return input


@float32_compute  # float16/bfloat16: a float32 accumulator, rounded once, as torch's
class LogCumSumExp(Op):
    """y[i] = log(exp(x[0]) + ... + exp(x[i])) along dim, one stable logaddexp a step (float32
    through a float64 accumulator, as torch's CPU kernel). Backward is torch's formula (from
    TensorFlow's): the positive and the negative parts of g each as a reverse logcumsumexp,
    dx = exp(rlcse(log g+ - y) + x) - exp(rlcse(log g- - y) + x), so it overflows nowhere."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    float8_kernel = "logcumsumexp_out_cpu"

    def __init__(self, dim: int):
        self.dim = dim

    low = None  # float16/bfloat16 x: backward rounds each step to it, as torch's
    # a 0-d x's (run on its one element): torch's logcumsumexp_backward passes a 0-d gradient
    # through as it is (no formula: no rounding in float16, and linear, as a copy's)
    scalar = False

    def forward(self, x):
        self.x = x
        self.y = _scan(np.logaddexp, x, self.dim)
        return self.y

    def forward_low_precision(self, x):
        self.low, self.x = x.dtype, x.astype(np.float32)
        self.y = np.logaddexp.accumulate(self.x, axis=self.dim)
        return self.y

    def backward(self, grad_output):
        if self.scalar:
            return (grad_output,)
        x, y, dim, low = self.x, self.y, self.dim, self.low
        lowest = np.finfo(low or grad_output.dtype).min

        def rounded(a):
            return a if low is None else a.astype(low).astype(np.float32)

        def part(log_grad):
            flipped = _scan(np.logaddexp, np.flip(rounded(log_grad - y), dim), dim)
            return rounded(np.exp(rounded(np.flip(rounded(flipped), dim) + x)))

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_abs = rounded(np.log(np.abs(grad_output)))
            positive = part(np.where(grad_output > 0, log_abs, lowest))
            negative = part(np.where(grad_output < 0, log_abs, lowest))
        return ((positive - negative).astype(grad_output.dtype, copy=False),)

    def backward_graph(self, grad_output, output):
        if self.scalar:
            return (grad_output,)
        x, dim = self.inputs[0], self.dim
        lowest = float(np.finfo(grad_output.dtype).min)
        log_abs = log(_abs(grad_output))

        def part(log_grad):
            flipped = LogCumSumExp(dim)(Flip((dim,))(log_grad - output))
            return exp(Flip((dim,))(flipped) + x)

        positive = part(where(grad_output > 0, log_abs, lowest))
        return (positive - part(where(grad_output < 0, log_abs, lowest)),)


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along dim without overflow; real floats by the LogCumSumExp op
    (integers as float32), complex ones as one stable logsumexp over an (n, n) lower triangle
    (O(n^2) memory along dim); float16 and bfloat16 computed in float32 and rounded once."""
    from dlpy.node_names import named
    from dlpy.ops.reduce import logsumexp

    _tensor_input("logcumsumexp", input)
    dim = check_dim("logcumsumexp", dim, input.ndim, scalar_ok=True)
    if input.dtype.kind in "biu":  # torch's kernel has floats and complex numbers only
        from dlpy.amp.dtypes import _torch_name

        raise NotImplementedError(f'"logcumsumexp_out_cpu" not implemented for '
                                  f"'{_torch_name(input.dtype)}'")
    if input.ndim == 0:  # over its one element (torch's node, LogcumsumexpBackward0, saves
        from dlpy.ops.shape import own_reshape  # the result: a change of it refuses backward)

        one = reshape(input, (1,))
        if input.dtype.kind == "c":
            return named(own_reshape(logcumsumexp(one, 0), ()), "LogcumsumexpBackward0")
        op = LogCumSumExp(0)
        op.scalar = True
        return named(own_reshape(op(one), ()), "LogcumsumexpBackward0")
    if input.dtype.kind != "c":
        return LogCumSumExp(dim)(input)
    if is_low_precision(input.dtype):  # float32 throughout, rounded once, as torch's CPU kernel
        from dlpy.ops.arithmetic import cast

        return cast(logcumsumexp(cast(input, np.float32), dim), input.dtype)
    n = input.shape[dim]
    perm = [i for i in range(input.ndim) if i != dim] + [dim]
    moved = input.permute(*perm)  # (..., n)
    later = np.triu(np.ones((n, n), dtype=bool), 1)  # [j, i]: i > j is left out
    pairs = moved.unsqueeze(-2).expand(moved.shape[:-1] + (n, n))  # (..., j, i)
    y = logsumexp(pairs.masked_fill(later, -np.inf), dim=-1)  # (..., n)
    # the first element is x's own, as torch's scan starts (not log(exp(x)): its imaginary
    # part unwrapped); contiguous, as torch's
    y = getitem(y, (Ellipsis, slice(1, None))).permute(*np.argsort(perm))
    first = getitem(input, (slice(None),) * dim + (slice(0, 1),))
    return named(concat([first, y], dim), "LogcumsumexpBackward0")


def _running(name: str, x: Tensor, dim: int, better):
    """(values, indices) of the running max (better: >=) or min (<=) along dim; a tie or a nan
    moves the index to the later position, as PyTorch."""
    from dlpy.ops.complex import refuse, refuse_grad
    from dlpy.ops.indexing import Gather
    from dlpy.ops.reduce import VALUES_INDICES

    _tensor_input(name, x)
    if x.ndim and x.numel():  # complex numbers have no order, as torch (whose 0-d or empty x
        refuse(name, x)  # runs no kernel: its value, or nothing, untracked)
    else:
        refuse_grad(name, x)
    result = VALUES_INDICES[name]
    dim = check_dim(name, dim, x.ndim, scalar_ok=True)
    node_name = f"{name.capitalize()}Backward0"  # torch's grad_fn: CummaxBackward0
    if x.ndim == 0:  # its own value, in new memory (not a view of x), as torch's
        from dlpy.node_names import named
        from dlpy.ops.shape import own_reshape

        return result(named(own_reshape(reshape(x, (1,)), ()), node_name),
                      Tensor(np.zeros((), dtype=np.int64)))
    found = _meta.positions(x.data, dim, same=True)
    if found is not None:  # a meta tensor: positions of its shape, no pass over its values
        return result(Gather(dim, found, node_name)(x), Tensor(found))
    data = np.moveaxis(x.data, dim, 0)
    indices = np.zeros(data.shape, dtype=np.int64)
    if data.shape[0]:
        best, at = data[0].copy(), np.zeros(data.shape[1:], dtype=np.int64)
    for i in range(data.shape[0]):
        value = data[i]
        take = np.isnan(value) | (~np.isnan(best) & better(value, best))
        best, at = np.where(take, value, best), np.where(take, i, at)
        indices[i] = at
    indices = np.ascontiguousarray(np.moveaxis(indices, 0, dim))  # (torch's are contiguous)
    op = Gather(dim, indices, node_name)
    op.saves = (0,)  # torch's node saves x: changing it in place refuses backward
    return result(op(x), Tensor(indices))


@_meta.follows
def cummax(input: Tensor, dim: int):
    """torch.cummax: (values, indices) of the running maximum along dim; the gradient goes to
    the position of each running maximum."""
    return _running("cummax", input, dim, np.greater_equal)


@_meta.follows
def cummin(input: Tensor, dim: int):
    """torch.cummin: (values, indices) of the running minimum along dim."""
    return _running("cummin", input, dim, np.less_equal)
