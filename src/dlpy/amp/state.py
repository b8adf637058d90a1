"""Autocast's per-thread state and its two hooks: ``autocast_policy`` (a decorator for the
functions on PyTorch's CPU op lists that are composites here) and ``op_call`` (wrapped around
``Op.__call__`` while an autocast block is open, for the primitive ops on those lists).

Outside every enabled autocast block nothing is swapped in: a decorated function pays one
global test, an op nothing. Imported by the ops, so it imports no op at module level.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

__all__ = ["autocast_policy", "is_autocast_enabled", "get_autocast_dtype"]

# how many enabled autocast blocks are open, over all threads: the hooks do nothing at 0
active = 0
_local = threading.local()
LOWER, FP32, PROMOTE = "lower_precision_fp", "fp32", "promote"
KEEP = "keep"  # off torch's lists although built from listed ops here (mv, dot): not cast


class _ThreadState:
    __slots__ = ("enabled", "dtype", "cache_enabled", "nesting", "cache", "inside", "opened")

    def __init__(self):
        self.opened = False  # set_autocast_enabled opened the op hooks (autocast_mode.py)
        self.enabled = False
        self.dtype = None  # None: bfloat16, resolved when asked (ml_dtypes is optional)
        self.cache_enabled = True
        self.nesting = 0  # autocast blocks open in this thread, enabled or not
        self.cache = {}  # id(leaf) -> (leaf, its cast): the weights cast once per block
        self.inside = 0  # > 0 while a policy function runs: its own ops are not autocast


def thread_state() -> _ThreadState:
    state = getattr(_local, "state", None)
    if state is None:
        state = _local.state = _ThreadState()
    return state


def autocast_dtype(state: _ThreadState) -> np.dtype:
    if state.dtype is None:
        from dlpy.amp.dtypes import bfloat16_type

        state.dtype = np.dtype(bfloat16_type())
    return state.dtype


# torch's device types (others are its RuntimeError); dlpy autocasts on "cpu" only
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                "privateuseone")


def check_device_type(name: str, device_type) -> str:
    """``device_type`` checked as torch checks it (a string naming a device type)."""
    if not isinstance(device_type, str):
        raise TypeError(f"{name}: expected device_type a string such as 'cpu', got "
                        f"{device_type!r}")
    if device_type.split(":")[0] not in DEVICE_TYPES:
        raise RuntimeError(f"{name}: expected one of {', '.join(DEVICE_TYPES)} device type at "
                           f"start of device string: {device_type}")
    return device_type.split(":")[0]


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """torch.is_autocast_enabled(device_type): whether autocast is on in this thread (an
    enabled block, or set_autocast_enabled); other device types are always False (dlpy has
    no CUDA). Without an argument, as torch's: CUDA's (so False)."""
    if device_type is None:
        return False
    return check_device_type("is_autocast_enabled", device_type) == "cpu" and \
        thread_state().enabled


def get_autocast_dtype(device_type: str):
    """torch.get_autocast_dtype(device_type): the dtype autocast casts to on the CPU
    (bfloat16 unless set_autocast_dtype or an autocast block set another); other device types
    give torch's defaults (float16; bfloat16 for xla, hpu)."""
    device_type = check_device_type("get_autocast_dtype", device_type)
    if device_type != "cpu":
        return autocast_dtype_named("bfloat16" if device_type in ("xla", "hpu") else "float16")
    return autocast_dtype(thread_state())


def autocast_dtype_named(name: str) -> np.dtype:
    """The dtype object (as dlpy.bfloat16, dlpy.float16 are) of ``name``."""
    if name == "bfloat16":
        from dlpy.amp.dtypes import bfloat16_type

        return np.dtype(bfloat16_type())
    return np.dtype(name)


# ----------------------------------------------------------------- casting
def _eligible(x) -> bool:
    """torch's rule: floating tensors other than float64 are cast."""
    from dlpy.tensor import Tensor, is_floating_dtype

    return (isinstance(x, Tensor) and is_floating_dtype(x.data.dtype)
            and x.data.dtype != np.float64)


def _cast_to(x, dtype: np.dtype, state: _ThreadState):
    if not _eligible(x) or x.data.dtype == dtype:
        return x
    from dlpy.ops.arithmetic import cast

    # torch caches the casts of leaves that require grad (the weights) within a block
    if state.cache_enabled and x.requires_grad and x.op is None:
        hit = state.cache.get(id(x))
        if hit is not None and hit[0] is x and hit[1].data.dtype == dtype:
            return hit[1]
        casted = cast(x, dtype)
        state.cache[id(x)] = (x, casted)
        return casted
    return cast(x, dtype)


def _flat(values):
    for x in values:
        if isinstance(x, (list, tuple)):
            yield from x
        else:
            yield x


def _target(policy: str, values, state: _ThreadState) -> np.dtype | None:
    if policy == LOWER:
        return autocast_dtype(state)
    if policy == FP32:
        return np.dtype(np.float32)
    if policy == KEEP:
        return None
    # PROMOTE (torch's prioritize, folded left to right): float32 once an input is float32,
    # else the autocast dtype; an input of the other half dtype before any float32 input is
    # torch's RuntimeError. float64 inputs are not cast.
    lower = autocast_dtype(state)
    for x in _flat(values):
        if not _eligible(x):
            continue
        dtype = x.data.dtype
        if dtype == np.float32:
            return dtype
        if dtype != lower:
            raise RuntimeError(f"autocast: a {dtype} input of a promoting op (cat, stack, "
                               f"index_copy) in an autocast block of {lower}: expected "
                               f"float32, float64 or {lower} (torch: Unexpected floating "
                               f"ScalarType in at::autocast::prioritize)")
    return None


def cast_values(policy: str, values, state: _ThreadState):
    """``values`` (a tuple of arguments, lists of tensors one level down) cast by ``policy``."""
    dtype = _target(policy, values, state)
    if dtype is None:
        return values

    def one(x):
        if isinstance(x, (list, tuple)):
            return type(x)(_cast_to(v, dtype, state) for v in x)
        return _cast_to(x, dtype, state)

    return tuple(one(x) for x in values)


def autocast_policy(policy: str):
    """Decorator: inside an enabled autocast block, ``function``'s tensor arguments are cast by
    ``policy`` (LOWER: float32 to the autocast dtype; FP32: float16/bfloat16 to float32;
    PROMOTE: to float32 if one is float32; KEEP: none) and its own ops run without autocast,
    as torch's kernels."""

    def decorate(function):
        @functools.wraps(function)
        def autocast_function(*args, **kwargs):
            if not active:
                return function(*args, **kwargs)
            state = thread_state()
            if not state.enabled or state.inside:
                return function(*args, **kwargs)
            args = cast_values(policy, args, state)
            if kwargs:
                kwargs = dict(zip(kwargs, cast_values(policy, tuple(kwargs.values()), state)))
            state.inside += 1
            try:
                return function(*args, **kwargs)
            finally:
                state.inside -= 1

        autocast_function.autocast_policy = policy
        return autocast_function

    return decorate


# ----------------------------------------------------------------- the primitive ops
OP_POLICIES: dict[type, str | None] = {}  # op class -> policy (subclasses inherit it; None:
_resolved: dict[type, str | None] = {}  # not autocast, for a subclass of a listed op)


def register_op(cls: type, policy: str | None) -> None:
    OP_POLICIES[cls] = policy
    _resolved.clear()


def _policy_of(cls: type) -> str | None:
    try:
        return _resolved[cls]
    except KeyError:
        policy = next((OP_POLICIES[k] for k in cls.__mro__ if k in OP_POLICIES), None)
        _resolved[cls] = policy
        return policy


def op_call(inner):
    """The wrap of ``Op.__call__`` while an autocast block is open (autograd_function's
    swap_call_sites): inputs of an op on a list cast by its policy, then the call."""

    def autocast_call(self, *inputs):
        policy = _policy_of(type(self))
        if policy is not None:
            state = thread_state()
            if state.enabled and not state.inside:
                inputs = cast_values(policy, inputs, state)
        return inner(self, *inputs)

    return autocast_call
