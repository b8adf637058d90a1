"""Vectorised ``dlpy.func.vmap``: batched tensors and a batching rule per op, as functorch's.

While a vmap runs, each mapped input is a ``BatchedTensor``: a Tensor whose ``value`` is the
physical tensor with the vmap axis first and whose ``shape`` is one sample's, so the Python code
of dlpy.functional and nn computes its settings (axes, reshape targets) for one sample.
``Op.__call__`` is swapped (``swap_call_sites``, only while a vmap runs: the ordinary path costs
nothing) for a dispatcher that, when an input is batched, applies the op class's rule: the same
op on the physical arrays with its settings moved past the batch axis (elementwise ops align the
inputs' ranks first), or, for an op without a rule, one call per sample, stacked. The ops run on
the physical tensors and are recorded there, so autograd needs nothing new: a gradient through a
vmap is an ordinary backward, and ``grad`` inside vmap differentiates the physical leaves.

Nested vmaps stack levels: a level-2 BatchedTensor's value is a level-1 one (or a plain tensor,
unbatched at level 1), and a rule calls the op again on the values, which dispatches the level
below. A batched tensor's ``.data`` gives only its per-sample shape and dtype; reading its
values (``.item()``, ``np.asarray``, ``if x:``, a function that reads ``x.data`` values) raises
``Unbatchable``, and vmap then calls the function once per sample instead: slower, same result.
Functions that read values in Python (losses reading labels, sort/topk/max(dim), a batched
index or mask) are swapped for rules (``_FUNCTIONS``) in their home modules while vmap runs.
``jacobian_rows``: jacrev's vjp vmapped over the basis of cotangents, one batched backward.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
from collections.abc import Callable, Iterator

import numpy as np

from dlpy import forward_ad as _forward_ad
from dlpy.autograd_function import swap_call_sites
from dlpy.layouts import Relayout, contiguous_format
from dlpy.ops import (
    activation,
    activation_more,
    arithmetic,
    attention,
    conv,
    cumulative,
    einsum,
    fold,
    indexing,
    mask,
    multi_output,
    norm,
    pad,
    pointwise,
    rearrange,
    reduce,
    resample,
    rnn,
    softmax,
    special,
    special_more,
)
from dlpy.ops.matmul import Linear, MatMul
from dlpy.ops.shape import Concat, GetItem, IndexAdd, Reshape, Stack, Transpose
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Op, Tensor, _backpropagate

__all__ = ["BatchedTensor", "Unbatchable", "batch_sizes", "batching", "from_physical",
           "jacobian_block", "jacobian_rows", "swapped", "wrap", "to_physical"]

_sizes: list[int] = []  # the batch size of each active vmap level (level k at index k - 1)
_randomness: list[str] = []  # and its vmap's randomness ("error", "different", "same")
_swap: contextlib.AbstractContextManager | None = None
stats = {"op_loops": {}}  # op class name -> how many times it ran once per sample (tests read it)


class Unbatchable(RuntimeError):
    """Code read the values of a batched tensor (vmap then runs the function sample by sample;
    raised outside vmap when a batched tensor escaped it)."""


def _unbatchable(what: str):
    raise Unbatchable(f"vmap: {what} of a batched tensor (a vmap's per-sample value) cannot be "
                      "read while vectorised; vmap calls the function once per sample instead "
                      "(a batched tensor that escaped its vmap cannot be used)")


class _NoOrder:
    """The flags of a per-sample value (_Shape): in no memory order; any other flag (whether
    it is writeable, ...) is the values' and raises Unbatchable, as _Shape's attributes."""

    c_contiguous = f_contiguous = False

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        _unbatchable(f"ndarray.flags.{name}")


_NO_ORDER = _NoOrder()


class _Shape:
    """What ``.data`` of a BatchedTensor is: the per-sample shape and dtype (the Python code of
    the ops reads them); any use of the values raises ``Unbatchable``."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype):
        self.shape, self.dtype = shape, dtype

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    # a per-sample value has no memory order of its own: contiguous() copies it (Relayout's
    # rule, a C-order copy of the batch) rather than handing the function to the loop
    flags = property(lambda self: _NO_ORDER)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __array__(self, *args, **kwargs):
        _unbatchable("the values")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        _unbatchable(f"ndarray.{name}")

    def _values(self, *args):
        _unbatchable("the values")

    __getitem__ = __iter__ = __bool__ = __float__ = __int__ = __index__ = _values
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _values
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _values
    __truediv__ = __rtruediv__ = __neg__ = __pow__ = __and__ = __or__ = __invert__ = _values
    __hash__ = None


class _RunningStatistics(_Shape):
    """A training batch norm's batch statistics under vmap: one per sample, so updating the
    running statistics with them is refused, as torch.func refuses it."""

    __slots__ = ()

    def _values(self, *args):
        raise RuntimeError("vmap: batch_norm in training mode would update its running "
                           "statistics in place from a batched input (an error in torch.func "
                           "too); call .eval() on the module, or build it with "
                           "track_running_stats=False")

    __array__ = __mul__ = __rmul__ = __add__ = __radd__ = _values


class BatchedTensor(Tensor):
    """One sample's view of a batched value at vmap ``level``: ``value`` is the tensor with the
    batch axis first (batched at the lower levels, or plain); ``shape`` is ``value.shape[1:]``."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors
    __slots__ = ("value", "level")

    @property
    def data(self):
        return _Shape(self.value.shape[1:], self.value.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return len(self.value.shape) - 1

    def __repr__(self) -> str:
        return (f"BatchedTensor(level={self.level}, shape={self.shape}, dtype={self.dtype}, "
                f"value shape={self.value.shape})")

    def detach(self) -> Tensor:
        return wrap(self.value.detach(), self.level)

    def _check_in_place(self, name: str) -> None:
        """Whether the batched value may change in place: a wrapper has no op of its own (an
        intermediate's wrapper is no leaf), so its value answers."""
        self.value._check_in_place(name)

    def item(self):
        _unbatchable("item()")

    def tolist(self):
        _unbatchable("tolist()")

    def numpy(self):
        _unbatchable("numpy()")

    def __array__(self, *args, **kwargs):
        _unbatchable("the values")

    def __bool__(self) -> bool:
        _unbatchable("the truth value (data-dependent control flow)")

    def backward(self, *args, **kwargs):
        raise RuntimeError("backward: not supported on a batched tensor inside vmap (as in "
                           "torch.func); use dlpy.func.grad or vjp inside the function")

    # Comparisons: a Tensor computes them with numpy on .data (no op); a batched one runs them
    # as a Compare op, which the elementwise rule batches. Defining the operators here also
    # makes Python call them first for `plain > batched` (a subclass's reflected operator).
    def _compare(self, other, op, float8_kernel=None) -> Tensor:  # (no float8 in vmap)
        return _compared(self, other, op)

    def __lt__(self, other) -> Tensor:
        return _compared(self, other, np.less)

    def __le__(self, other) -> Tensor:
        return _compared(self, other, np.less_equal)

    def __gt__(self, other) -> Tensor:
        return _compared(self, other, np.greater)

    def __ge__(self, other) -> Tensor:
        return _compared(self, other, np.greater_equal)

    def __eq__(self, other):
        return Tensor.__eq__(self, other)  # Tensor's checks, then _compare: a Compare op

    def __ne__(self, other):
        return Tensor.__ne__(self, other)

    __hash__ = Tensor.__hash__


class Compare(Op):
    """a OP b element-wise (a numpy comparison ufunc), a bool array without gradient: the
    comparison of batched values as an op, so vmap's elementwise rule batches it."""

    def __init__(self, ufunc):
        self.ufunc = ufunc

    def forward(self, a, b):
        return self.ufunc(a, b)

    def backward(self, grad_output):
        return None, None


def _compared(x: Tensor, other, ufunc) -> Tensor:
    from dlpy.tensor import no_grad

    with no_grad():  # a bool result: nothing to differentiate
        return Compare(ufunc)(x, other)


def wrap(value: Tensor, level: int) -> BatchedTensor:
    out = BatchedTensor.__new__(BatchedTensor)
    out.value, out.level = value, level
    out.grad, out.op, out.name, out._hooks, out._tick = None, None, None, None, 0
    out.requires_grad = value.requires_grad
    return out


def batch_sizes() -> tuple[int, ...]:
    """The batch sizes of the active vmap levels, outermost first (empty outside vmap)."""
    return tuple(_sizes)


# ---------------------------------------------------------------------------- levels
@contextlib.contextmanager
def batching(size: int, randomness: str = "error") -> Iterator[int]:
    """A new vmap level of ``size`` (yields its number); the batched dispatcher and the
    function rules are in place while any level is active."""
    global _swap
    _sizes.append(size)
    _randomness.append(randomness)
    if len(_sizes) == 1:
        _swap = swap_call_sites(2, op_call=_dispatching)
        _swap.__enter__()
        _swap_functions(True)
    try:
        yield len(_sizes)
    finally:
        _sizes.pop()
        _randomness.pop()
        if not _sizes:
            _swap_functions(False)
            swap, _swap = _swap, None
            swap.__exit__(None, None, None)


def to_physical(t) -> Tensor:
    """A per-sample value at the current nesting -> the plain tensor with every active level's
    batch axis in front (outermost first); an unbatched one is broadcast (recorded when it
    requires gradients)."""
    return _physical(t, len(_sizes))


def _physical(t, level: int) -> Tensor:
    if level == 0:
        return t
    if type(t) is BatchedTensor and t.level == level:
        return _physical(t.value, level - 1)
    below = _physical(t, level - 1)  # sizes[:level - 1] + shape: insert this level's axis
    return _insert_axis(below, level - 1, _sizes[level - 1])


def _insert_axis(t: Tensor, axis: int, size: int) -> Tensor:
    shape = t.shape[:axis] + (size,) + t.shape[axis:]
    if type(t) is Tensor and not t.requires_grad:  # a constant: a broadcast view, no copy
        return Tensor(np.broadcast_to(np.expand_dims(t.data, axis), shape))
    return rearrange.Expand(shape)(Reshape(t.shape[:axis] + (1,) + t.shape[axis:])(t))


def from_physical(t: Tensor) -> Tensor:
    """The inverse of ``to_physical``: a plain tensor batched at every active level."""
    for level in range(1, len(_sizes) + 1):
        t = wrap(t, level)
    return t


def physical_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_sizes) + tuple(shape)


def jacobian_rows(output: Tensor, wrt: list[Tensor]) -> list[Tensor | None] | None:
    """The Jacobian of ``output`` (m elements) with respect to each tensor of ``wrt``, as
    (m,) + t.shape (None where output does not depend on t), by torch.func's jacrev: the
    vector-Jacobian product vmapped over the basis of cotangents, i.e. one backward pass
    through the ops' ``backward_graph`` with the m one-hot cotangents as one batched cotangent.
    The rows are recorded (differentiable again). None where this does not pay or cannot be
    done (one element: a plain pass is cheaper; a backward that reads its gradient's values,
    counted in ``stats["jacobian_loops"]``): the caller then runs one backward pass per row."""
    m = output.data.size
    if not output.requires_grad or m < 2 or output.dtype.kind != "f":
        return None
    basis = Tensor(np.eye(m, dtype=output.dtype).reshape((m,) + output.shape))
    try:
        with batching(m) as level:
            captured = _backpropagate([output], [wrap(basis, level)], True,
                                      capture={id(t) for t in wrt}, create_graph=True)
            grads = [captured.get(id(t)) for t in wrt]
            return [None if g is None else to_physical(g) for g in grads]
    except Unbatchable:
        stats["jacobian_loops"] = stats.get("jacobian_loops", 0) + 1
        return None


def jacobian_block(rows: Tensor | None, output: Tensor, t: Tensor, recorded: bool) -> Tensor:
    """``jacobian_rows``' (m,) + t.shape as the block output.shape + t.shape: recorded when the
    Jacobian is to be differentiated again, a constant otherwise; zeros for None."""
    shape = output.shape + t.shape
    if rows is None:
        return Tensor(np.zeros(shape, dtype=t.dtype))
    if recorded:
        return rows.reshape(shape)
    return Tensor(np.array(rows.data, dtype=t.dtype).reshape(shape))


# ---------------------------------------------------------------------------- dispatch
def _dispatching(inner: Callable) -> Callable:
    def batched_call(op, *inputs):
        level = 0
        for t in inputs:
            if type(t) is BatchedTensor and t.level > level:
                level = t.level
        if not level:
            return inner(op, *inputs)
        return _rule(type(op))(op, level, inputs)

    return batched_call


def _value(t, level: int):
    """(the input at ``level``: the value if batched there, else itself; whether batched)."""
    if type(t) is BatchedTensor and t.level == level:
        return t.value, True
    return t, False


def _ndim(t) -> int:
    return t.ndim if isinstance(t, Tensor) else np.ndim(t)


def _shape(t) -> tuple[int, ...]:
    return t.shape if isinstance(t, Tensor) else np.shape(t)


def _aligned(value, shape: tuple[int, ...], rank: int):
    """A batched value (B,) + shape with singleton axes after the batch axis, up to ``rank``
    per-sample axes, so it broadcasts against unbatched inputs as one sample would."""
    if len(shape) >= rank:
        return value
    return Reshape((value.shape[0],) + (1,) * (rank - len(shape)) + tuple(shape))(value)


def _batched_everywhere(t, level: int):
    """The value of ``t`` at ``level``, broadcast along the batch axis if t is unbatched."""
    value, batched = _value(t, level)
    if batched:
        return value
    if not isinstance(t, Tensor):
        t = Tensor(np.asarray(t))
    shape = t.shape
    return rearrange.Expand((_sizes[level - 1],) + shape)(Reshape((1,) + shape)(t))


def _elementwise(op, level, inputs):
    """Broadcasting ops: batched inputs get singleton axes after the batch axis up to the
    highest per-sample rank (of the inputs and of any array setting, a where's condition)."""
    rank = max(_ndim(t) for t in inputs)
    for setting in op.__dict__.values():
        if type(setting) is np.ndarray:
            rank = max(rank, setting.ndim)
    values = []
    for t in inputs:
        value, batched = _value(t, level)
        values.append(_aligned(value, t.shape, rank) if batched else value)
    return wrap(op(*values), level)


def _relayout(op, level, inputs):
    """contiguous(): a C-order copy of the batched array, sample by sample the same; another
    memory format orders the sample's own axes (channels-last), so the loop."""
    return (_elementwise if op.fmt is contiguous_format else _loop)(op, level, inputs)


def _shifted(*names: str):
    """Ops with axis settings: the same op with its (non-negative) axes moved past the batch
    axis; negative ones count from the end and stay."""

    def shift(axes):
        if axes is None:
            return None
        if isinstance(axes, tuple):
            return tuple(a + 1 if a >= 0 else a for a in axes)
        return axes + 1 if axes >= 0 else axes

    def rule(op, level, inputs):
        for name in names:
            if getattr(op, name) is None:  # everything: no per-sample form
                return _loop(op, level, inputs)
            setattr(op, name, shift(getattr(op, name)))
        return wrap(op(*[_batched_everywhere(t, level) for t in inputs]), level)

    return rule


def _reshape(op, level, inputs):
    op.new_shape = (_sizes[level - 1],) + tuple(op.new_shape)
    rule = op.strides_rule  # (unsqueeze's new axis, squeeze's kept axes: after the batch's)
    if rule is not None:
        op.strides_rule = rule + 1 if type(rule) is int else (0,) + tuple(a + 1 for a in rule)
    return wrap(op(inputs[0].value), level)


def _expand(op, level, inputs):
    (t,) = inputs
    value = _aligned(t.value, t.shape, len(op.new_shape))
    op.new_shape = (_sizes[level - 1],) + tuple(op.new_shape)
    return wrap(op(value), level)


def _transpose(op, level, inputs):
    ndim = inputs[0].ndim
    op.axes = (0,) + tuple(int(a) % ndim + 1 for a in op.axes)
    return wrap(op(inputs[0].value), level)


def _is_advanced(item) -> bool:
    return not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer)))


def _getitem(op, level, inputs):
    """x[index] (and its gradient's op, IndexAdd: zeros of a shape with values added at
    index): the index with a full slice for the batch axis in front."""
    index = op.index if isinstance(op.index, tuple) else (op.index,)
    advanced = [i for i, item in enumerate(index) if _is_advanced(item)]
    if advanced and advanced[-1] - advanced[0] + 1 != len(advanced):
        return _loop(op, level, inputs)  # split advanced indices: numpy moves their axes first
    op.index = (slice(None),) + index
    if isinstance(op, IndexAdd):
        op.shape = (_sizes[level - 1],) + tuple(op.shape)
    return wrap(op(_batched_everywhere(inputs[0], level)), level)


def _matmul(op, level, inputs):
    from dlpy.ops.matmul import matmul
    from dlpy.ops.shape import squeeze, unsqueeze

    a, b = inputs
    if _ndim(b) == 1:  # a column vector (k, 1), and the axis is dropped again
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    if _ndim(a) == 1:  # a row vector (1, k)
        return squeeze(matmul(unsqueeze(a, 0), b), -2)
    return _elementwise(op, level, inputs)  # the batch axes broadcast as elementwise ones


def _linear(op, level, inputs):
    from dlpy.ops.matmul import matmul
    from dlpy.ops.shape import swapaxes

    x, weight, *bias = inputs
    if not any(type(t) is BatchedTensor and t.level == level for t in (weight, *bias)):
        return wrap(op(_value(x, level)[0], weight, *bias), level)  # one GEMM, as one sample
    y = matmul(x, swapaxes(weight, -1, -2))  # a weight per sample: batched matmul
    return y + bias[0] if bias else y


def _layer_norm(op, level, inputs):
    x, *affine = inputs
    if not any(type(t) is BatchedTensor and t.level == level for t in affine):
        return wrap(op(_batched_everywhere(x, level), *affine), level)
    y = norm.LayerNorm(op.eps)(x)  # a weight per sample: normalise, then the affine map
    y = y * affine[0]
    return y + affine[1] if len(affine) > 1 else y


def _fold(nd: int, value, shape):
    """(B,) + (N, C, *spatial) -> (B * N, C, *spatial); an unbatched (C, *spatial) as N = 1."""
    if len(shape) == nd + 2:
        return Reshape((-1,) + tuple(shape[1:]))(value), True
    return value, False


def _unfold(out, folded: bool, size: int):
    if folded:
        out = Reshape((size, -1) + out.shape[1:])(out)
    return out


def _batch_norm(op, level, inputs):
    """Eval mode (running statistics): the samples folded into N. Training mode normalises
    over each sample's own batch: once per sample."""
    x, *affine = inputs
    if op.training and op.__dict__.get("update") is not None:  # running statistics to update
        _RunningStatistics(x.shape[1:2], x.dtype)._values()  # (refused, as torch.func's)
    if op.training:
        out = _loop(op, level, inputs)
        op.batch_mean = op.batch_var = _RunningStatistics(x.shape[1:2], x.dtype)
        return out
    if x.ndim < 2 or any(type(t) is BatchedTensor and t.level == level for t in affine):
        return _loop(op, level, inputs)
    out = op(Reshape((-1,) + x.shape[1:])(x.value), *affine)
    return wrap(Reshape((_sizes[level - 1],) + x.shape)(out), level)


def _pool(op, level, inputs):
    (x,) = inputs
    nd = len(op.kernel)
    value, folded = _fold(nd, x.value, x.shape)
    return wrap(_unfold(op(value), folded, _sizes[level - 1]), level)


def _conv(op, level, inputs):
    x, weight, *bias = inputs
    size, nd = _sizes[level - 1], len(op.stride)
    if any(type(t) is BatchedTensor and t.level == level for t in (weight, *bias)):
        return _conv_per_sample_weight(op, level, inputs)
    value, folded = _fold(nd, x.value, x.shape)
    return wrap(_unfold(op(value, weight, *bias), folded, size), level)


def _conv_per_sample_weight(op, level, inputs):
    """A weight per sample: the samples become groups of one convolution (B * groups)."""
    x, weight, *bias = inputs
    size = _sizes[level - 1]
    if x.ndim == len(op.stride) + 1:  # unbatched (C, *spatial) per sample
        return _loop(op, level, inputs)
    value = _batched_everywhere(x, level)  # (B, N, C, *spatial)
    n, channels, spatial = value.shape[1], value.shape[2], value.shape[3:]
    value = Transpose((1, 0) + tuple(range(2, value.ndim)))(value)  # (N, B, C, ...)
    value = Reshape((n, size * channels) + spatial)(value)
    w = _batched_everywhere(weight, level)  # (B, O, C / g, *kernel)
    out_channels = w.shape[1]
    w = Reshape((size * out_channels,) + w.shape[2:])(w)
    rest = [Reshape((size * out_channels,))(_batched_everywhere(b, level)) for b in bias]
    op.groups = op.groups * size
    out = op(value, w, *rest)  # (N, B * O, *out_spatial)
    out = Reshape((n, size, out_channels) + out.shape[2:])(out)
    return wrap(Transpose((1, 0) + tuple(range(2, out.ndim)))(out), level)


def _attention(op, level, inputs):
    """Fused attention: per-head (batch, seq, heads * dim) inputs get the samples folded into
    the batch (a mask or dropout with a batch axis repeated for them); otherwise the batch axes
    broadcast as elementwise ones. A copy of the op runs, and the caller's op gets only the
    weights' per-sample shape: reading them (return_weights) makes vmap go sample by sample."""
    size, run = _sizes[level - 1], copy.copy(op)
    if op.num_heads is None:
        out = _elementwise(run, level, inputs)
        shape = run.weights.shape[1:]
    else:
        values = [_batched_everywhere(t, level) for t in inputs]  # (B, batch, seq, features)
        batch = values[0].shape[1]
        for name in ("mask", "keep"):
            array = getattr(op, name)
            if array is not None and array.ndim == 4 and array.shape[0] == batch > 1:
                setattr(run, name, np.concatenate([array] * size))
        folded = run(*[Reshape((-1,) + v.shape[2:])(v) for v in values])
        out = wrap(Reshape((size, batch) + folded.shape[1:])(folded), level)
        shape = (run.weights.shape[0] // size,) + run.weights.shape[1:]
    op.weights = _Shape(shape, run.weights.dtype)
    return out


def _roll(op, level, inputs):
    """Roll along dims (moved past the batch axis), or with dims None each sample flattened."""
    (t,) = inputs
    if op.dims is None:
        size = _sizes[level - 1]
        op.dims = 1
        flat = op(Reshape((size, -1))(t.value))
        return wrap(Reshape((size,) + t.shape)(flat), level)
    op.dims = tuple(d + 1 if d >= 0 else d for d in op.dims)
    return wrap(op(t.value), level)


def _index_setting(op, level, inputs):
    """gather / scatter / scatter_add with an (unbatched) index array setting: the index
    broadcast along the batch axis, dim moved past it."""
    size = _sizes[level - 1]
    op.dim += 1
    op.index = np.broadcast_to(op.index, (size,) + op.index.shape)
    return wrap(op(*[_batched_everywhere(t, level) for t in inputs]), level)


def _pad(op, level, inputs):
    op.widths = ((0, 0),) + tuple(op.widths)
    return wrap(op(inputs[0].value), level)


def _batched_at(level, *tensors) -> bool:
    return any(type(t) is BatchedTensor and t.level == level for t in tensors)


def _prelu(op, level, inputs):
    """The channels on axis 1 of each sample (N, C, *): the samples folded into N; a weight per
    sample: max(x, 0) + w min(x, 0) with w on the channel axis (PReLU's gradients, at 0 too)."""
    x, weight = inputs
    if _batched_at(level, weight):
        channels = weight.shape[0] if weight.ndim else 1
        w = weight.reshape((channels,) + (1,) * (x.ndim - 2)) if channels > 1 else weight
        positive = activation.relu(x)
        return positive + (x - positive) * w
    value = _batched_everywhere(x, level)
    if weight.data.size == 1 or x.ndim < 2:
        return wrap(op(value, weight), level)
    out = op(Reshape((-1,) + x.shape[1:])(value), weight)
    return wrap(Reshape((_sizes[level - 1],) + x.shape)(out), level)


def _group_norm(op, level, inputs):
    """Each sample's (N, C, *) folded into N (a weight per sample: normalised, then the affine
    map on the channel axis). The statistics instance_norm reads back to update running ones
    are per sample: reading them sends vmap to the loop."""
    x, *affine = inputs
    size, run = _sizes[level - 1], copy.copy(op)
    if _batched_at(level, *affine):
        run.has_weight = run.has_bias = False
        y = run(x)
        channels = (x.shape[1],) + (1,) * (x.ndim - 2)
        if op.has_weight:
            y = y * affine[0].reshape(channels)
        if op.has_bias:
            y = y + affine[-1].reshape(channels)
        out = y
    else:
        value = Reshape((-1,) + x.shape[1:])(_batched_everywhere(x, level))
        out = wrap(Reshape((size,) + x.shape)(run(value, *affine)), level)
    op.mean = op.var = _Shape((x.shape[0], op.num_groups), x.dtype)
    return out


def _rms_norm(op, level, inputs):
    """Over the last axes: the batch axis in front changes nothing (a weight per sample:
    normalised, then scaled)."""
    x, *weight = inputs
    if _batched_at(level, *weight):
        return norm.RMSNorm(op.num_axes, op.eps)(x) * weight[0]
    return wrap(op(_batched_everywhere(x, level), *weight), level)


def _recurrence(op, level, inputs):
    """Fused RNN / LSTM / GRU (a step or a sequence): with the weights shared, the samples
    folded into the layer's batch axis N (lengths repeated for them); a weight per sample runs
    sample by sample."""
    count = op.num_states
    if _batched_at(level, *inputs[count + 1:]):
        return _loop(op, level, inputs)
    size, step = _sizes[level - 1], isinstance(op, rnn._OneStep)
    x = _batched_everywhere(inputs[0], level)  # (B, [L,] N, G)
    if not step:
        x = Transpose((1, 0, 2, 3))(x)  # (L, B, N, G)
    x = Reshape(x.shape[:-3] + (-1, x.shape[-1]))(x)
    states = [Reshape((-1, s.shape[-1]))(_batched_everywhere(s, level))
              for s in inputs[1:count + 1]]
    if op.lengths is not None:
        op.lengths = np.tile(op.lengths, size)
    out = op(x, *states, *inputs[count + 1:])  # ([L,] B N, S)
    out = Reshape(out.shape[:-2] + (size, -1, out.shape[-1]))(out)
    return wrap(out if step else Transpose((1, 0, 2, 3))(out), level)


def _columns(nd: Callable[[Op], int]):
    """unfold / fold: the samples folded into N (each sample's input has its N)."""

    def rule(op, level, inputs):
        (x,) = inputs
        value, folded = _fold(nd(op), x.value, x.shape)
        return wrap(_unfold(op(value), folded, _sizes[level - 1]), level)

    return rule


def _einsum(op, level, inputs):
    """A label of its own for the batch axis, on the batched operands and the output."""
    batch = 1 + max((label for labels in (*op.input_labels, op.output_labels)
                     for label in labels), default=-1)
    values = []
    for k, t in enumerate(inputs):
        value, batched = _value(t, level)
        values.append(value)
        if batched:
            op.input_labels = list(op.input_labels)
            op.input_labels[k] = [batch] + list(op.input_labels[k])
    op.output_labels = [batch] + list(op.output_labels)
    return wrap(op(*values), level)


def _loop(op, level, inputs):
    """No rule (or a case the rule does not cover): the op once per sample, stacked."""
    name = type(op).__name__
    stats["op_loops"][name] = stats["op_loops"].get(name, 0) + 1
    if not _sizes[level - 1]:
        return wrap(_none_stacked(copy.copy(op)(*_zero_sample(level, inputs))), level)
    return wrap(_stack([copy.copy(op)(*sliced) for sliced in _samples(level, inputs)]), level)


def _zero_sample(level, values):
    """A vmap over no sample has none to loop over: ``values`` with the batched ones replaced
    by zeros of one sample's shape, whose result gives the shape and dtype of none."""
    return [Tensor(np.zeros(v.shape, v.dtype)) if type(v) is BatchedTensor and v.level == level
            else v for v in values]


def _none_stacked(sample: Tensor) -> Tensor:
    """No sample stacked: (0,) + the sample's shape (torch's result of an empty batch)."""
    return GetItem(slice(0, 0))(Stack(0)(sample))


def _samples(level, values):
    """Per sample i, ``values`` with the batched ones (at ``level``) indexed at i."""
    size = _sizes[level - 1]
    for i in range(size):
        yield [GetItem(i)(v.value) if type(v) is BatchedTensor and v.level == level else v
               for v in values]


def _stack(tensors):
    return Stack(0)(*tensors)



def _classes(module, *exclude: str) -> list[type]:
    return [c for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Op) and c is not Op
            and c.__module__ == module.__name__ and c.__name__ not in exclude]


_RULES: dict[type, Callable] = {}
for _module in (arithmetic, pointwise, activation, special, special_more):
    for _cls in _classes(_module):
        _RULES[_cls] = _elementwise
for _cls in _classes(activation_more, "GLU", "PReLU"):
    _RULES[_cls] = _elementwise
_RULES.update({
    mask.Where: _elementwise, mask.Dropout: _elementwise, Compare: _elementwise,
    MatMul: _matmul, Linear: _linear,
    reduce.Sum: _shifted("axes"), reduce.Max: _shifted("axes"),
    reduce.LogSumExp: _shifted("axes"), reduce.Var: _shifted("axes"),
    reduce.Norm: _shifted("axes"), softmax.Softmax: _shifted("axis"),
    softmax.LogSoftmax: _shifted("axis"), activation_more.GLU: _shifted("axis"),
    cumulative.CumSum: _shifted("dim"), cumulative.CumProd: _shifted("dim"),
    cumulative.Prod: _shifted("dim"), Concat: _shifted("axis"), Stack: _shifted("axis"),
    Reshape: _reshape, Transpose: _transpose, GetItem: _getitem, IndexAdd: _getitem,
    rearrange.Expand: _expand, multi_output.Outputs: _elementwise,
    norm.LayerNorm: _layer_norm, norm.BatchNorm: _batch_norm, attention.Attention: _attention,
    # flex_attention's softmax-times-v: its mask broadcasts from the right, its matmul over
    # leading axes (its lse under vmap comes from ops: flex_attention._row_statistics)
    attention.ScoresAttention: _elementwise,
    conv.ConvNd: _conv, conv.MaxPoolNd: _pool, conv.AvgPoolNd: _pool,
    rearrange.Flip: _shifted("dims"), rearrange.Roll: _roll, resample.Resample: _shifted("axis"),
    indexing.IndexSelect: _shifted("dim"), indexing.Gather: _index_setting,
    indexing.Scatter: _index_setting, indexing.ScatterAdd: _index_setting, pad.Pad: _pad,
    activation_more.PReLU: _prelu, norm.GroupNorm: _group_norm, norm.RMSNorm: _rms_norm,
    rnn._Recurrence: _recurrence, einsum.Einsum: _einsum, Relayout: _relayout,
    fold.Unfold: _columns(lambda op: len(op.kernel)), fold.Fold: _columns(lambda op: 1),
})
_resolved: dict[type, Callable] = {}



def _rule(cls: type) -> Callable:
    rule = _resolved.get(cls)
    if rule is None:
        rule = next((_RULES[c] for c in cls.__mro__ if c in _RULES), _loop)
        _resolved[cls] = rule
    return rule


# ---------------------------------------------------------------------------- functions
# Functions that read an argument's values in Python (integer labels, ids) rather than pass it
# to an op: swapped, in the modules that users and layers call them through, while vmap runs.
def _top_level(values) -> int:
    return max((v.level for v in values if type(v) is BatchedTensor), default=0)


def _integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _wrap_all(out, level: int):
    """A function's result (Tensors, index arrays, tuples and NamedTuples of them) batched at
    ``level``."""
    if isinstance(out, Tensor):
        return wrap(out, level)
    if isinstance(out, np.ndarray):
        return wrap(Tensor(out), level)
    if isinstance(out, tuple):
        items = [_wrap_all(item, level) for item in out]
        return type(out)(*items) if hasattr(out, "_fields") else tuple(items)
    return out


def _arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _loss_arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    """A loss's arguments with torch's deprecated size_average / reduce (or dlpy's older
    positional reduction, a string in weight's or size_average's place) folded into
    ``reduction``."""
    from dlpy.functional import _legacy_reduction, _weight_or_reduction

    arguments = _arguments(signature, args, kwargs)
    if "weight" in arguments and "size_average" in arguments:
        arguments["weight"], arguments["reduction"] = _weight_or_reduction(
            arguments["weight"], arguments["reduction"])
    if "size_average" in arguments:
        arguments["reduction"] = _legacy_reduction(arguments["size_average"],
                                                   arguments["reduce"], arguments["reduction"])
        arguments["size_average"] = arguments["reduce"] = None
    return arguments


def _along_dim(*tensors: str, dim: str = "dim"):
    """Functions that read values (sort, topk, max(dim), cummax; gather and scatter with a
    batched index): called on the physical tensors (the unbatched ones broadcast) with ``dim``
    moved past the batch axis, each output batched. A dim of None (the flattened tensor, for
    take_along_dim; max over everything, no indices) is the sample flattened, or the plain
    function."""

    def make(plain: Callable) -> Callable:
        signature = inspect.signature(plain)

        def rule(*args, **kwargs):
            arguments = _arguments(signature, args, kwargs)
            level = _top_level([arguments[name] for name in tensors])
            axis = arguments[dim]
            if not level or not (_integer(axis) or axis is None and plain.__name__ ==
                                 "take_along_dim"):
                return plain(*args, **kwargs)
            if axis is None:  # flattened: each sample's values and indices as 1-D
                axis = 0
                for name in tensors:
                    arguments[name] = np.reshape(arguments[name], -1) if not isinstance(
                        arguments[name], Tensor) else arguments[name].reshape(-1)
            for name in tensors:
                if isinstance(arguments[name], (Tensor, np.ndarray)):
                    arguments[name] = _batched_everywhere(arguments[name], level)
            arguments[dim] = axis + 1 if axis >= 0 else axis
            return _wrap_all(rule(**arguments), level)

        rule.__name__ = plain.__name__
        return rule

    return make


def _index_select(plain: Callable) -> Callable:
    """A batched index (one per sample): each sample's positions read by take_along_dim; a
    batched x alone is IndexSelect's op rule."""
    def index_select(x, dim, index):
        level = _top_level((x, index))
        if not level or not _batched_at(level, index):
            return plain(x, dim, index)
        ndim = _ndim(x)
        dim = dim % ndim if _integer(dim) and -ndim <= dim < ndim else dim
        positions = index.reshape((1,) * dim + (-1,) + (1,) * (ndim - dim - 1))
        if positions.dtype != np.int64:  # index_select takes int32, take_along_dim int64 only
            positions = positions.long()
        return indexing.take_along_dim(x, positions, dim)

    return index_select


def _where(plain: Callable) -> Callable:
    """A batched condition (masked_fill's mask too): the inputs' batch axes aligned as an
    elementwise op's."""
    def where(condition, a=mask._ONLY_CONDITION, b=mask._ONLY_CONDITION):
        level = _top_level((condition, a, b))
        if not level or not _batched_at(level, condition) or a is mask._ONLY_CONDITION:
            return plain(condition, a, b)
        rank = max(_ndim(v) for v in (condition, a, b))
        values = []
        for v in (condition, a, b):
            value, batched = _value(v, level)
            values.append(_aligned(value, v.shape, rank) if batched else value)
        return wrap(where(*values), level)

    return where


def _per_sample(losses, reduction: str):
    """Each sample's losses (the physical (B, ...) of reduction "none") summed or averaged."""
    axes = tuple(range(1, losses.ndim))
    if reduction == "none" or not axes:
        return losses
    return (reduce.sum if reduction == "sum" else reduce.mean)(losses, axis=axes)


def _elementwise_loss(plain: Callable) -> Callable:
    """smooth_l1 / huber / binary cross-entropy (they read the values: the piecewise mask, the
    targets): the losses of the physical tensors, then each sample's reduction. A weight per
    sample runs sample by sample."""
    signature = inspect.signature(plain)
    first, second = list(signature.parameters)[:2]

    def rule(*args, **kwargs):
        arguments = _loss_arguments(signature, args, kwargs)
        level = _top_level((arguments[first], arguments[second]))
        if not level:
            return plain(*args, **kwargs)
        reduction = arguments["reduction"]
        extra = [v for k, v in arguments.items() if k not in (first, second)]
        if reduction not in ("mean", "sum", "none") or _batched_at(level, *extra):
            return _function_loop(rule, level, (arguments.pop(first), arguments.pop(second)),
                                  arguments)
        arguments.update({first: _batched_everywhere(arguments[first], level),
                          second: _batched_everywhere(arguments[second], level),
                          "reduction": "none"})
        return wrap(_per_sample(rule(**arguments), reduction), level)

    rule.__name__ = plain.__name__
    return rule


def _class_loss(plain: Callable) -> Callable:
    """cross_entropy / nll_loss (they read the labels): each sample's losses over the physical
    batch, then its own reduction; the mean over its rows not ignored (weighted by their
    class's weight), nan if none, as torch. Nested vmaps' means and a weight per sample run
    sample by sample."""
    signature = inspect.signature(plain)
    first, second = list(signature.parameters)[:2]

    def rule(*args, **kwargs):
        arguments = _loss_arguments(signature, args, kwargs)
        scores, labels = arguments[first], arguments[second]
        level = _top_level((scores, labels))
        if not level:
            return plain(*args, **kwargs)
        reduction, weight = arguments["reduction"], arguments["weight"]
        targets = _batched_everywhere(labels, level)
        if reduction not in ("mean", "sum", "none") or _batched_at(level, weight) or (
                reduction == "mean" and type(targets) is not Tensor):
            return _function_loop(rule, level, (arguments.pop(first), arguments.pop(second)),
                                  arguments)
        arguments.update({first: _batched_everywhere(scores, level), second: targets,
                          "reduction": "none"})
        losses = rule(**arguments)
        total = _per_sample(losses, "sum" if reduction == "mean" else reduction)
        if reduction == "mean":
            counts = _row_counts(targets.data, losses.ndim, arguments["ignore_index"], weight)
            empty = counts == 0  # every row ignored: nan, with no gradient (as torch)
            total = (total / Tensor(np.where(empty, 1, counts).astype(total.dtype))
                     + Tensor(np.where(empty, np.nan, 0).astype(total.dtype)))
        return wrap(total, level)

    rule.__name__ = plain.__name__
    return rule


def _row_counts(labels: np.ndarray, ndim: int, ignore_index: int, weight) -> np.ndarray:
    """The denominator of each sample's mean: its rows not ignored (their weights' sum with
    class weights); for probability targets every row."""
    axes = tuple(range(1, ndim))
    if labels.dtype.kind not in "iu":
        return np.full(labels.shape[0], np.prod(labels.shape[1:ndim]), dtype=np.float64)
    kept = labels != ignore_index
    if weight is None:
        return kept.sum(axis=axes).astype(np.float64)
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float64)
    return (w[np.where(kept, labels, 0)] * kept).sum(axis=axes)


def _embedding(plain: Callable) -> Callable:
    def embedding(ids, weight, padding_idx=None, max_norm=None, norm_type=2.0,
                  scale_grad_by_freq=False, sparse=False):
        level = _top_level((ids, weight))
        settings = dict(padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                        scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
        if not level:
            return plain(ids, weight, **settings)
        ids_value, ids_batched = _value(ids, level)
        weight_value, weight_batched = _value(weight, level)
        if not weight_batched:  # one table: look the whole batch of ids up at once
            return wrap(embedding(ids_value, weight, **settings), level)
        if sparse or max_norm is not None or scale_grad_by_freq or (
                ids_batched and type(ids_value) is not Tensor):
            return _function_loop(embedding, level, (ids, weight), settings)
        ids_array = np.asarray(ids_value.data if isinstance(ids_value, Tensor) else ids_value)
        if ids_batched:  # each sample's ids in its own table
            rows = np.arange(len(ids_array)).reshape((-1,) + (1,) * (ids_array.ndim - 1))
            out = GetItem((rows, ids_array))(weight_value)
        else:  # a table per sample, shared ids: rows of each table
            out = GetItem((slice(None), ids_array))(weight_value)
        if padding_idx is not None:  # the padding rows' values, with no gradient
            keep = ids_array != padding_idx % weight.shape[0]
            if not ids_batched:
                keep = keep[None]
            out = mask.Where(keep[..., None])(out, out.detach())
        return wrap(out, level)

    return embedding


def _function_loop(function: Callable, level: int, args: tuple, kwargs: dict):
    stats["op_loops"][function.__name__] = stats["op_loops"].get(function.__name__, 0) + 1
    if not _sizes[level - 1]:
        return wrap(_none_stacked(function(*_zero_sample(level, args), **kwargs)), level)
    return wrap(_stack([function(*sliced, **kwargs) for sliced in _samples(level, args)]),
                 level)


_FUNCTIONS = {
    "cross_entropy": _class_loss, "nll_loss": _class_loss, "_cross_entropy": _class_loss,
    "_nll_loss": _class_loss, "embedding": _embedding,
    "smooth_l1_loss": _elementwise_loss, "huber_loss": _elementwise_loss,
    "binary_cross_entropy": _elementwise_loss,
    "binary_cross_entropy_with_logits": _elementwise_loss, "mse_loss": _elementwise_loss,
    "sort": _along_dim("input"), "argsort": _along_dim("input"), "topk": _along_dim("input"),
    "max": _along_dim("input"), "min": _along_dim("input"), "cummax": _along_dim("input"),
    "cummin": _along_dim("input"), "gather": _along_dim("input", "index"),
    "take_along_dim": _along_dim("input", "indices"),
    "scatter": _along_dim("input", "index", "src"),
    "scatter_add": _along_dim("input", "index", "src"), "index_select": _index_select,
    "where": _where,
}
_FUNCTION_HOMES = ("dlpy", "dlpy.functional", "dlpy.ops.loss", "dlpy.ops.embedding",
                   "dlpy.ops.indexing", "dlpy.ops.reduce", "dlpy.ops.cumulative",
                   "dlpy.ops.mask")
_plain_functions: list[tuple[object, str, Callable]] = []  # what is swapped now
_table: list[tuple[object, str, Callable]] = []  # (home module, name, plain function)
_swapped: dict[Callable, Callable] = {}  # plain function -> its rule (made once)


def _swap_functions(on: bool) -> None:
    if on:
        if not _table or any(getattr(module, name) is not plain
                             for module, name, plain in _table):
            _table[:] = _homes()  # first use, or a function was replaced since
        for module, name, plain in _table:
            if plain not in _swapped:
                _swapped[plain] = _tangents_kept(_FUNCTIONS[name](plain))
            _plain_functions.append((module, name, plain))
            setattr(module, name, _swapped[plain])
    else:
        while _plain_functions:
            module, name, plain = _plain_functions.pop()
            setattr(module, name, plain)


def _tangents_kept(rule: Callable) -> Callable:
    """A function's rule runs on the physical values and wraps its result: a forward-AD tangent
    of a jvp inside the vmap lives on the batched tensors (or an unbatched dual beside them)
    and the wrapper made of the result has none (vmap(jvp(where(x > 0, x, 0.1 * x))) gave zero
    tangents), so with a tangent among batched arguments vmap calls the function once per
    sample, where the ops carry the tangents."""
    def rule_or_samples(*args, **kwargs):
        if _forward_ad.active():
            values = (*args, *kwargs.values())
            if any(type(v) is BatchedTensor for v in values) and any(
                    isinstance(v, Tensor) and _has_tangent(v) for v in values):
                raise Unbatchable(f"vmap: {rule.__name__} of a batched tensor carrying a "
                                  "forward-AD tangent runs once per sample")
        return rule(*args, **kwargs)

    rule_or_samples.__name__ = rule.__name__
    return rule_or_samples


def _has_tangent(t: Tensor) -> bool:
    return any(_forward_ad.tangent_of(t, level) is not None
               for level in range(1, _forward_ad._visible + 1))


def _homes() -> list[tuple[object, str, Callable]]:
    table = []
    for home in _FUNCTION_HOMES:
        module = importlib.import_module(home)
        for name in _FUNCTIONS:
            plain = getattr(module, name, None)
            # F.cross_entropy / F.nll_loss (torch's class axis) run as they are and call their
            # classes-last forms (_cross_entropy, _nll_loss), which take the rule
            if plain is not None and not getattr(plain, "_vmap_through", False):
                table.append((module, name, plain))
    return table


def swapped(function: Callable) -> Callable:
    """``function``'s batching rule if it is one of the functions that read values (vmap of
    ``F.cross_entropy`` itself, looked up before vmap swapped it), else itself."""
    try:
        return _swapped.get(function, function)
    except TypeError:  # unhashable: a callable object
        return function
