"""torch's ``meta`` device: tensors that hold a shape and a dtype and no values.

A meta tensor is a ``Tensor`` whose array is a ``MetaArray`` (``dlpy.device.meta_array``: a
zero-stride view of one NaN, or 0 for integers). It is made by the creation functions given
``device="meta"`` (or inside ``with dlpy.device("meta"):`` / after
``set_default_device("meta")``), by ``Tensor.to("meta")``, by ``Module.to("meta")`` and by
dlpy's layers built on the meta device (``nn.Linear(4096, 4096, device="meta")``: the layer's
draws from the default generator are meta arrays of their shapes, and its parameters and
buffers become meta tensors as they are registered: nothing is drawn or allocated).

Ops on meta tensors run their forward on the meta arrays and keep only the result's shape and
dtype, so shapes, dtypes and errors are those of the real computation; gradients are meta
tensors too. Products, linear layers, convolutions and attention take their result's shape from
rules on their inputs' shapes instead, element-wise ops from their forward on small stand-ins,
and their gradients are meta arrays of their inputs' shapes: nothing of the tensors' size is
computed (``_shape_rule``). In-place changes of a meta tensor (``uniform_``, ``copy_``,
``nn.init``) check their arguments and change nothing; reading values (``item``, ``tolist``,
``numpy``, ``bool``, ``to("cpu")``) raises torch's errors. A CPU tensor with dimensions given
to an op beside a meta tensor is torch's device error (a 0-d one or a Python number is taken,
as torch's).

While no meta array is alive the engine's call sites are the plain ones: the first meta array
puts the meta layer in (``dlpy.autograd_function.swap_call_sites``), and it leaves again once
every meta array is gone."""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
import weakref

import numpy as np

from dlpy.device import MetaArray

# weak references to the fill arrays under every live MetaArray (by id: arrays are unhashable)
_live: dict[int, weakref.ref] = {}
_layer = [None]  # the swap_call_sites block while the meta layer is in
_building = [0]  # depth of dlpy layers being built on the meta device


def made(fill: np.ndarray) -> None:
    """A MetaArray over ``fill`` was made: note it, and put the meta layer in."""
    ref = weakref.ref(fill, _gone)
    _live[id(ref)] = ref
    if _layer[0] is None:
        _activate()


def _gone(ref) -> None:
    _live.pop(id(ref), None)


def _activate() -> None:
    from dlpy.autograd_function import swap_call_sites

    block = swap_call_sites(-100, op_call=_meta_op_call, checked_grads=_meta_grads)
    _layer[0] = block
    block.__enter__()


def _maybe_deactivate() -> None:
    if _layer[0] is not None and not _live:
        block, _layer[0] = _layer[0], None
        block.__exit__(None, None, None)


def is_meta_array(array) -> bool:
    return type(array) is MetaArray


def as_meta(array: np.ndarray) -> MetaArray:
    """A MetaArray of ``array``'s shape and dtype: ``array`` itself when it is a zero-stride
    MetaArray already (a view of one keeps its memory relation), else a new one."""
    if type(array) is MetaArray and not any(array.strides):
        return array
    from dlpy.device import meta_array

    return meta_array(array.shape, array.dtype)


def metafy(value):
    """Tensors in ``value`` (a Tensor, or tuples / lists of them) given meta arrays in place
    of their values; returns ``value``."""
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor):
        data = value.data
        if isinstance(data, np.ndarray):
            value.data = as_meta(data)
        grad = value._grad
        if isinstance(grad, Tensor) and isinstance(grad.data, np.ndarray):
            grad.data = as_meta(grad.data)
    elif isinstance(value, (tuple, list)):
        for item in value:
            metafy(item)
    return value


def holds_meta(t) -> bool:
    """Whether ``t`` is a tensor on the meta device (a numpy array's ``.data`` is a
    memoryview, not read: float16's cannot be made)."""
    return not isinstance(t, np.ndarray) and type(getattr(t, "data", None)) is MetaArray


def check_devices(inputs) -> None:
    """torch's refusal of a CPU tensor with dimensions beside a meta one."""
    from dlpy.tensor import Tensor

    for t in inputs:
        if isinstance(t, Tensor) and type(t.data) is not MetaArray and t.data.ndim:
            raise RuntimeError("Tensor on device cpu is not on the expected device meta!")


def _meta_op_call(inner):
    def meta_call(self, *inputs):
        for t in inputs:
            if type(t) is not np.ndarray and type(getattr(t, "data", None)) is MetaArray:
                break
        else:
            if not _live:
                _maybe_deactivate()
            return inner(self, *inputs)
        if self.inputs:  # a recorded node called as torch's Node: its backward
            return inner(self, *inputs)
        check_devices(inputs)
        refusal = getattr(self, "meta_refusal", None)
        if refusal is None and _masks(getattr(self, "index", None)):
            refusal = data_dependent("aten::nonzero (a boolean mask index)")
        if refusal is not None:
            raise NotImplementedError(refusal)
        shape = _shape_rule(self, inputs, inner)
        if shape is not None:  # a costly op: its result's shape and dtype alone
            from dlpy.device import meta_array

            result = meta_array(*shape)
            self.__dict__["forward"] = lambda *arrays: result
            self.__dict__["_meta_shaped"] = True
            try:
                out = inner(self, *inputs)
            finally:
                self.__dict__.pop("forward", None)
            return metafy(out)  # (Op.__call__'s np.asarray took the subclass off)
        with np.errstate(all="ignore"):
            out = inner(self, *inputs)
        metafy(out)
        base = getattr(out, "_view_of", None)
        if base is not None and holds_meta(base):
            _share_memory(out, base)
        return out

    return meta_call


def check_where(condition, input, other) -> None:
    """torch.where's devices: a condition with dimensions on the CPU beside a meta value, or a
    meta condition beside a CPU value with dimensions, is torch's error."""
    values = [v for v in (input, other) if not np.isscalar(v)]
    if holds_meta(condition):
        check_devices(values)
    elif any(holds_meta(v) for v in values):
        check_devices([condition])


def _masks(index) -> bool:
    """Whether an op's ``index`` (GetItem's, IndexPut's) holds a boolean mask: what it selects
    depends on the mask's values, so torch refuses it on a meta tensor."""
    if index is None:
        return False
    for item in index if type(index) is tuple else (index,):
        if type(item) is MetaArray and item.dtype == np.bool_ and item.ndim:
            return True
    return False


def _share_memory(view, base) -> None:
    """A view of a meta tensor made by a copying numpy call (``view`` of a zero-stride array)
    shares its base's one element again, so ``view._base`` is its base, as torch's."""
    from dlpy.tensor import _buffer

    owner = _buffer(base.data)
    if (_buffer(view.data) is not owner and isinstance(owner, np.ndarray) and owner.size == 1
            and owner.dtype == view.data.dtype):
        shape = view.data.shape
        view.data = np.lib.stride_tricks.as_strided(
            owner, shape, (0,) * len(shape), writeable=owner.flags.writeable).view(MetaArray)


# ---------------------------------------------------------- shapes of the costly ops
# The products, convolutions and attention on meta tensors get their result's shape and dtype
# from the inputs' shapes, without running the product (a meta forward of a large model would
# otherwise cost its real time), and their gradients are meta arrays of the inputs' shapes.
# Anything unusual (two dtypes, complex or integer arrays, shapes that do not fit, a
# saved_tensors_hooks block) runs the op's own forward, which raises its own errors.
_RULES: list = []


def _rules() -> list:
    if not _RULES:
        from dlpy.ops.attention import Attention
        from dlpy.ops.conv import ConvNd, _output_size
        from dlpy.ops.matmul import Linear, MatMul

        def matmul(op, a, b):
            if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
                return None
            if b.ndim == 1:
                return a.shape[:-1]
            if a.ndim == 1:
                return b.shape[:-2] + b.shape[-1:]
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            return batch + (a.shape[-2], b.shape[-1])

        def linear(op, x, weight, bias=None):
            if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1] or (
                    bias is not None and bias.shape not in ((weight.shape[0],), ())):
                return None
            return x.shape[:-1] + weight.shape[:1]

        def conv(op, x, weight, bias=None):
            nd = len(op.stride)
            if (x.ndim != nd + 2 or weight.ndim != nd + 2 or x.shape[1] != weight.shape[1]
                    * op.groups or weight.shape[0] % op.groups or (
                        bias is not None and bias.shape != weight.shape[:1])):
                return None
            size = _output_size(op.name, x.shape[2:], weight.shape[2:], op.stride,
                                op.padding, op.dilation)
            return (x.shape[0], weight.shape[0], *size)

        def attention(op, *arrays):
            # the result's shape; the weights (what the caller may return) as a meta array
            from dlpy.device import meta_array

            if op.with_lse:
                return None
            if op.packed:  # (batch, seq, 3 * width): q, k, v side by side
                (qkv,) = arrays
                if qkv.ndim != 3 or qkv.shape[-1] % 3 or (qkv.shape[-1] // 3) % op.num_heads:
                    return None
                batch, seq = qkv.shape[:2]
                op.weights = meta_array((batch, op.num_heads, seq, seq), qkv.dtype)
                return (batch, seq, qkv.shape[-1] // 3)
            if len(arrays) != 3:
                return None
            q, k, v = arrays
            if op.num_heads is not None:  # (batch, seq, heads * dim)
                heads = op.num_heads
                if (q.ndim != 3 or k.ndim != 3 or v.ndim != 3 or q.shape[-1] != k.shape[-1]
                        or q.shape[-1] % heads or v.shape[-1] % heads or k.shape[:2]
                        != v.shape[:2] or q.shape[0] != k.shape[0]):
                    return None
                op.weights = meta_array((q.shape[0], heads, q.shape[1], k.shape[1]), q.dtype)
                return q.shape[:2] + v.shape[-1:]
            if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] \
                    or k.shape[-2] != v.shape[-2]:
                return None
            batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
            op.weights = meta_array(batch + (q.shape[-2], k.shape[-2]), q.dtype)
            return batch + (q.shape[-2], v.shape[-1])

        _RULES.extend([(MatMul, matmul), (Linear, linear), (ConvNd, conv),
                       (Attention, attention)])
    return _RULES


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47)
# the modules of the element-wise ops (activations, arithmetic, pointwise functions, softmax,
# dropout and where, the normalisations): those the stand-ins may stand for
_ELEMENTWISE_MODULES = frozenset(f"dlpy.ops.{name}" for name in (
    "activation", "activation_inplace", "activation_more", "arithmetic", "pointwise",
    "special", "special_more", "softmax", "mask", "complex", "norm"))


# the modules whose ops' gradients on meta are meta arrays of their inputs' shapes without
# running their backward (whose only errors are about what forward already checked)
_SHAPED_GRADS = _ELEMENTWISE_MODULES | frozenset(f"dlpy.ops.{name}" for name in (
    "reduce", "shape", "views", "rearrange", "matmul", "conv", "attention", "pad", "loss",
    "cumulative"))


def _elementwise(op, inputs, inner):
    """(shape, dtype) of an element-wise op's result (its inputs' broadcast shape), found by
    calling it (unrecorded, on a copy of the op) on small stand-ins of its meta inputs: each
    size above 1 becomes its own prime, so a result of the stand-ins' broadcast shape is one of
    the inputs' broadcast shape (a product or a reduction gives another shape, or refuses the
    stand-ins: None, its own forward). Numbers and 0-d tensors are given as they are, so the
    result's dtype follows torch's promotion as on the CPU."""
    if type(op).__module__ not in _ELEMENTWISE_MODULES or any(
            not isinstance(value, (bool, int, float, str, type(None), np.dtype, np.generic))
            and not (type(value) is np.ndarray and value.ndim == 0)
            for value in vars(op).values()):
        return None  # (settings with arrays or tuples: indices, statistics, shapes)
    shapes = [np.shape(t.data) if holds_meta(t) else () for t in inputs]
    sizes = sorted({n for shape in shapes for n in shape if n > 1})
    if not sizes or len(sizes) > len(_PRIMES):
        return None
    from dlpy.tensor import Tensor, no_grad

    small = dict(zip(sizes, _PRIMES))
    stand_ins = [Tensor(np.zeros(tuple(small.get(n, n) for n in t.data.shape), t.data.dtype))
                 if holds_meta(t) else t for t in inputs]
    try:
        with no_grad(), np.errstate(all="ignore"):
            out = inner(copy.copy(op), *stand_ins)
        expected = np.broadcast_shapes(*(np.shape(getattr(t, "data", t)) for t in stand_ins))
    except Exception:  # noqa: BLE001 - the op's own forward gives its own error
        return None
    data = getattr(out, "data", None)
    if type(data) is not np.ndarray or data.shape != expected:
        return None
    return np.broadcast_shapes(*shapes), data.dtype


def _shape_rule(op, inputs, inner):
    """(shape, dtype) of an op's result on meta inputs from their shapes (a costly op's rule,
    or an element-wise op's stand-ins), or None: its forward runs on the meta arrays."""
    if sys.modules["dlpy.tensor"]._pack_hooks is not None:  # (dlpy.tensor is also a function)
        return None
    if not type(op).__module__.startswith("dlpy.ops."):
        return None  # (an autograd.Function's, a hook's, a collective's: their own code)
    rule = next((rule for cls, rule in _rules() if isinstance(op, cls)), None)
    if rule is None:
        for t in inputs:  # meta tensors, numbers and 0-d CPU tensors
            data = getattr(t, "data", t)
            if not (type(data) is MetaArray or isinstance(data, (bool, int, float))
                    or (type(data) is np.ndarray and data.ndim == 0)):
                return None
            if np.asarray(data).dtype.kind not in "biuf":
                return None
        return _elementwise(op, inputs, inner)
    arrays = [getattr(t, "data", None) for t in inputs]
    if any(type(a) is not MetaArray for a in arrays) or len({a.dtype for a in arrays}) != 1 \
            or arrays[0].dtype.kind != "f":
        return None  # (a number or a CPU operand, two dtypes: the op's own path and errors)
    try:
        shape = rule(op, *arrays)
    except ValueError:  # (batch shapes that do not broadcast)
        return None
    return None if shape is None else (tuple(shape), arrays[0].dtype)


def _meta_grads(inner):
    def meta_checked(op, grad_output):
        if op.__dict__.get("_meta_shaped") or (type(grad_output) is MetaArray and
                                                type(op).__module__ in _SHAPED_GRADS):
            # (its forward ran on nothing, or on stand-ins: the gradients' shapes alone)
            from dlpy.device import meta_array

            return [meta_array(t.data.shape, t.data.dtype)
                    if getattr(t, "requires_grad", False) else None for t in op.inputs]
        if type(grad_output) is not MetaArray and not any(
                holds_meta(t) for t in op.inputs):
            return inner(op, grad_output)
        with np.errstate(all="ignore"):
            grads = inner(op, grad_output)
        return [None if g is None else as_meta(g if isinstance(g, np.ndarray)
                                               else np.broadcast_to(np.zeros((), g.dtype),
                                                                    g.shape))
                for g in grads]

    return meta_checked


def live() -> bool:
    """Whether a meta array is alive (the meta layer is in): the one check the functions
    below cost while none is."""
    return _layer[0] is not None


def given_meta(values) -> bool:
    """Whether ``values`` (arguments: tensors, or tuples / lists of them) hold a meta tensor."""
    for value in values:
        if type(value) is tuple or type(value) is list:
            if any(holds_meta(v) for v in value):
                return True
        elif holds_meta(value):
            return True
    return False


def _metafy_new(value, given: set):
    """``metafy`` of the tensors in ``value`` that are not among the arguments (ids in
    ``given``): a function's own results, never a CPU tensor it was given and returns."""
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor):
        if id(value) not in given:
            metafy(value)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _metafy_new(item, given)
    return value


def follows(function):
    """``function`` makes (part of) its result outside an Op (indices from numpy, a
    ``Tensor(...)`` of its own): given a meta tensor, the tensors of its result are meta
    tensors too, as torch's (the values it computed from a meta array's stand-in values are
    dropped). Costs one check while no meta array is alive."""

    @functools.wraps(function)
    def meta_follows(*args, **kwargs):
        out = function(*args, **kwargs)
        if _layer[0] is not None and (given_meta(args) or given_meta(kwargs.values())):
            given = {id(a) for a in (*args, *kwargs.values())}
            _metafy_new(out, given)
        return out

    return meta_follows


def data_dependent(name: str) -> str:
    """torch's message for an op whose result's shape depends on values, given a meta tensor."""
    return (f"{name}: attempted to run this operator with Meta tensors: its result's shape "
            "depends on the values, which a meta tensor does not have")


def refuses(name: str):
    """A function whose result's shape depends on its input's values (nonzero, unique,
    masked_select, bincount) or that reads values (equal, allclose): given a meta tensor,
    torch's ``NotImplementedError``. Costs one check while no meta array is alive."""

    def wrap(function):
        @functools.wraps(function)
        def meta_refuses(*args, **kwargs):
            if _layer[0] is not None and (given_meta(args) or given_meta(kwargs.values())):
                raise NotImplementedError(data_dependent(name))
            return function(*args, **kwargs)

        return meta_refuses

    return wrap


def contiguous_strides(shape) -> tuple:
    """torch's row-major strides of ``shape``, in elements (a size-0 or 1 axis counting as 1):
    what a meta tensor reports (its array is a zero-stride view)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def refuse_values(tensor, what: str) -> None:
    """torch's errors for reading a meta tensor's values."""
    if what in ("item", "bool"):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")
    if what == "numpy":
        raise TypeError("can't convert meta device type tensor to numpy. Use Tensor.cpu() to "
                        "copy the tensor to host memory first.")
    raise NotImplementedError("Cannot copy out of meta tensor; no data!" + (
        " Please use torch.nn.Module.to_empty() instead of torch.nn.Module.to() when moving "
        "module from meta to a different device." if what == "module" else ""))


class _ShapeDraws:
    """The generator a layer built on the meta device draws its initial values from: every
    draw is a MetaArray of the size asked for (float64, or int64 for ``integers``), so
    ``nn.Linear(8192, 8192, device="meta")`` neither draws nor allocates its weight. A method
    other than those numpy's layers call draws from a scratch generator."""

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._drawn(size, low, high)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._drawn(size, loc, scale)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._drawn(size, dtype=dtype)

    def random(self, size=None, dtype=np.float64, out=None):
        return self._drawn(size, dtype=dtype)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return self._drawn(size, low, high, dtype=dtype)

    @staticmethod
    def _drawn(size, *parameters, dtype=np.float64):
        from dlpy.device import meta_array

        shape = np.broadcast_shapes(*(np.shape(p) for p in parameters if p is not None)) \
            if size is None else ((size,) if isinstance(size, (int, np.integer)) else size)
        return meta_array(shape, dtype)

    def __getattr__(self, name: str):
        return getattr(np.random.default_rng(0), name)


_SHAPE_DRAWS = _ShapeDraws()
# _SHAPE_DRAWS while a layer is built on meta: dlpy.random.get_rng's list itself
from dlpy.random import _meta_draws as shape_draws  # noqa: E402


@contextlib.contextmanager
def building():
    """A dlpy layer being built on the meta device: its draws from the default generator are
    meta arrays of their shapes (``_ShapeDraws``; the default generator is left as it was, as
    torch's meta factories leave it), and its parameters and buffers become meta tensors as
    they are registered."""
    from dlpy.device import _DEFAULT, META
    from dlpy.random import fork_rng

    _building[0] += 1
    _DEFAULT.append(META)
    kept = shape_draws[0]
    shape_draws[0] = _SHAPE_DRAWS
    try:
        if _building[0] == 1:
            with fork_rng():
                yield
        else:
            yield
    finally:
        shape_draws[0] = kept
        _DEFAULT.pop()
        _building[0] -= 1


def registered(value):
    """What a layer being built on the meta device registers: a Parameter keeps its identity
    and takes a meta array; an array or tensor buffer becomes a meta tensor."""
    if not _building[0] or value is None:
        return value
    from dlpy.tensor import Tensor

    if isinstance(value, Tensor):
        if type(value.data) is not MetaArray and isinstance(value.data, np.ndarray):
            value.data = as_meta(value.data)
            value._grad = None
        return value
    if isinstance(value, np.ndarray):
        return as_meta(value)
    return value


_NO_VALUES = ("copy_", "fill_", "zero_", "normal_", "uniform_", "bernoulli_", "exponential_",
              "geometric_", "log_normal_", "cauchy_", "random_")


def in_place(tensor, name: str, compute, operands, reshape: bool, cast: str = "same_kind"):
    """An in-place change of a meta tensor (or of a tensor by a meta operand): the result's
    shape and dtype and the devices are checked by running ``compute`` on the meta arrays
    (unrecorded); a meta tensor keeps its meta array (a new one where the shape changes:
    ``t_``, ``unsqueeze_``) and its version goes up, a CPU tensor given a meta operand is
    torch's error. ``x[index] = value`` takes CPU values and indices, as torch's copy_."""
    from dlpy.device import meta_array
    from dlpy.tensor import Tensor, _bump, _check_store, no_grad

    if type(tensor.data) is not MetaArray:
        if name == "copy_":
            refuse_values(tensor, "copy")
        raise RuntimeError("Tensor on device meta is not on the expected device cpu!")
    if name not in _NO_VALUES:
        if name == "setitem":  # (value, index): the value as a meta tensor of its shape
            value = operands[0]
            operands = (meta_like(value) if isinstance(value, Tensor) else Tensor(
                meta_array(np.shape(value), tensor.dtype)), *operands[1:])
        with no_grad(), np.errstate(all="ignore"):
            result = compute(tensor, *operands)
        if reshape:
            tensor.data = as_meta(result.data)
        elif result.shape != tensor.shape:
            from dlpy.tensor import _in_place_shape_error

            raise _in_place_shape_error(name, tensor.shape, result.shape)
        else:
            _check_store(name, result.dtype, tensor.dtype, cast)
    _bump(tensor.data)
    return tensor


def meta_like(tensor):
    """``tensor`` as a meta tensor: itself when it is one, else an unrecorded meta tensor of
    its shape and dtype."""
    if holds_meta(tensor):
        return tensor
    from dlpy.device import meta_array
    from dlpy.tensor import Tensor

    return Tensor(meta_array(tensor.data.shape, tensor.data.dtype))


def moved(tensor, where, dtype):
    """``tensor.to(where, dtype)`` across the meta device: to meta, a recorded copy keeping
    the shape and (cast) dtype; from meta to the CPU, torch's error."""
    if where.type != "meta":
        refuse_values(tensor, "copy")
    from dlpy.ops import arithmetic

    out = arithmetic.cast(tensor, dtype) if dtype is not None and dtype != tensor.dtype \
        else tensor.clone()
    return metafy(out)
