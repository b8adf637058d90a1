"""torch's ``meta`` device: tensors that hold a shape and a dtype and no values.

A meta tensor is a ``Tensor`` whose array is a ``MetaArray`` (``dlpy.device.meta_array``: a
read-only zero-stride view of one NaN, or 0 for integers). It is made by the creation functions
given ``device="meta"`` (or inside ``with dlpy.device("meta"):`` / after
``set_default_device("meta")``), by ``Tensor.to("meta")``, by ``Module.to("meta")`` and by
dlpy's layers built on the meta device (``nn.Linear(4096, 4096, device="meta")``: each layer
draws its values as usual, from a scratch generator, and its parameters and buffers lose them
as they are registered; peak memory is one layer's, never the model's).

Ops on meta tensors run their forward on the meta arrays and keep only the result's shape and
dtype, so shapes, dtypes and errors are those of the real computation; gradients are meta
tensors too. In-place changes of a meta tensor (``uniform_``, ``copy_``, ``nn.init``) check
their arguments and change nothing; reading values (``item``, ``tolist``, ``numpy``, ``bool``,
``to("cpu")``) raises torch's errors. A CPU tensor with dimensions given to an op beside a meta
tensor is torch's device error (a 0-d one or a Python number is taken, as torch's).

While no meta array is alive the engine's call sites are the plain ones: the first meta array
puts the meta layer in (``dlpy.autograd_function.swap_call_sites``), and it leaves again once
every meta array is gone."""

from __future__ import annotations

import contextlib
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
        if refusal is not None:
            raise NotImplementedError(refusal)
        with np.errstate(all="ignore"):
            out = inner(self, *inputs)
        return metafy(out)

    return meta_call


def _meta_grads(inner):
    def meta_checked(op, grad_output):
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


@contextlib.contextmanager
def building():
    """A dlpy layer being built on the meta device: its random draws come from a scratch
    generator (the default generator is left as it was, as torch's meta factories leave it),
    and its parameters and buffers become meta tensors as they are registered."""
    from dlpy.device import _DEFAULT, META
    from dlpy.random import fork_rng

    _building[0] += 1
    _DEFAULT.append(META)
    try:
        if _building[0] == 1:
            with fork_rng():
                yield
        else:
            yield
    finally:
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


def in_place(tensor, name: str, compute, operands, reshape: bool):
    """An in-place change of a meta tensor (or of a tensor by a meta operand): the result's
    shape and the devices are checked by running ``compute`` on the meta arrays (unrecorded);
    a meta tensor keeps its meta array (a new one where the shape changes: ``t_``,
    ``unsqueeze_``), a CPU tensor given a meta operand is torch's error."""
    from dlpy.tensor import no_grad

    if type(tensor.data) is not MetaArray:
        if name == "copy_":
            refuse_values(tensor, "copy")
        raise RuntimeError("Tensor on device meta is not on the expected device cpu!")
    if name not in _NO_VALUES:
        with no_grad(), np.errstate(all="ignore"):
            result = compute(tensor, *operands)
        if reshape:
            tensor.data = as_meta(result.data)
        elif result.shape != tensor.shape:
            from dlpy.tensor import _in_place_shape_error

            raise _in_place_shape_error(name, tensor.shape, result.shape)
    return tensor


def moved(tensor, where, dtype):
    """``tensor.to(where, dtype)`` across the meta device: to meta, a recorded copy keeping
    the shape and (cast) dtype; from meta to the CPU, torch's error."""
    if where.type != "meta":
        refuse_values(tensor, "copy")
    from dlpy.ops import arithmetic

    out = arithmetic.cast(tensor, dtype) if dtype is not None and dtype != tensor.dtype \
        else tensor.clone()
    return metafy(out)
