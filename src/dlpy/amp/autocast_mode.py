"""torch.autocast for the CPU: a context manager (and decorator) within which the ops on
PyTorch's CPU lists run in the autocast dtype (bfloat16 by default) or in float32.

- lower precision (float32 inputs cast to the autocast dtype): matmul, mm, bmm, ``@``,
  linalg.vecdot, linear, conv1d/2d/3d, conv_transpose1d/2d/3d, addmm, baddbmm, addbmm, prelu,
  scaled_dot_product_attention, the LSTM and RNN layers and RNNCell (as torch's: not GRU,
  LSTMCell, GRUCell);
- float32 (float16/bfloat16 inputs cast to float32): the losses (mse, l1, smooth_l1, huber,
  nll, cross_entropy, binary_cross_entropy(_with_logits), kl_div, the margin and embedding
  losses, poisson_nll, ctc), prod, trace, cdist, quantile, nanquantile, avg_pool3d,
  max_pool3d, adaptive_avg_pool3d, adaptive_max_pool3d, fractional_max_pool2d/3d,
  max_unpool1d/2d/3d, grid_sample, reflection pads 1d/2d and replication pads 1d/2d/3d, the
  fft family, the linalg factorisations, inverses and solves (inv, cholesky, qr, eig*, svd*,
  solve, lstsq, ...), stft, istft, polar, view_as_complex, fake_quantize_per_tensor_affine;
- promote (float32 if an input is float32, else the autocast dtype; an input of the other
  half dtype first is a RuntimeError, as torch's): cat, stack, index_copy;
- every other op runs in its inputs' dtype (element-wise ops keep bfloat16).

Float64 tensors are never cast. The casts are ops (Cast), so gradients flow back through
them to float32 weights, whose ``.grad`` stays float32. Within a block each weight (a leaf that
requires grad) is cast once (``cache_enabled``). Blocks nest; the state is per thread.
"""

from __future__ import annotations

import functools
import threading
import warnings

import numpy as np

from dlpy.amp import state as _state
from dlpy.amp.dtypes import is_low_precision

__all__ = ["autocast", "autocast_decrement_nesting", "autocast_increment_nesting",
           "clear_autocast_cache", "custom_bwd", "custom_fwd", "get_autocast_cpu_dtype",
           "get_autocast_dtype", "get_autocast_gpu_dtype", "is_autocast_available",
           "is_autocast_cache_enabled", "is_autocast_cpu_enabled", "is_autocast_enabled",
           "set_autocast_cache_enabled", "set_autocast_cpu_dtype", "set_autocast_cpu_enabled",
           "set_autocast_dtype", "set_autocast_enabled"]

get_autocast_dtype = _state.get_autocast_dtype
is_autocast_enabled = _state.is_autocast_enabled
_swap_lock = threading.Lock()
_swap = None  # the open swap_call_sites block while any enabled autocast block is open
_ORDER = 2  # outside the profiler's timing (0) and checkpoint's tracing (1): their ops see
# the cast inputs


class _DeviceTypeError(TypeError, ValueError):
    """A device_type that is not a string: a TypeError, and torch's ValueError ("Expected
    `device_type` of type `str`")."""


# the device types torch's autocast takes (the other known ones: False, an unknown one: an error)
_AUTOCAST_TYPES = ("cpu", "cuda", "ipu", "xpu", "maia", "xla", "hpu", "mps", "mtia",
                   "privateuseone")


def is_autocast_available(device_type: str) -> bool:
    """torch.amp.is_autocast_available: whether torch's autocast takes ``device_type`` (dlpy
    autocasts on "cpu" only; blocks of the others change nothing here)."""
    return _state.check_device_type("is_autocast_available", device_type) in _AUTOCAST_TYPES


def _register_ops() -> None:
    """The primitive ops on torch's lists (the composites carry autocast_policy)."""
    from dlpy.ops.conv import ConvNd, ConvTransposeNd
    from dlpy.ops.matmul import BilinearMatMul, Linear, MatMul
    from dlpy.ops.rnn import LSTMCell, LSTMSequence, RNNSequence

    # torch's fused LSTM and Elman layers (and cell) run in the autocast dtype; its GRU layer
    # and the LSTM and GRU cells do not (their outputs stay float32 there, as here)
    for cls in (MatMul, Linear, ConvNd, ConvTransposeNd, LSTMSequence, RNNSequence):
        _state.register_op(cls, _state.LOWER)
    _state.register_op(LSTMCell, None)
    _state.register_op(BilinearMatMul, None)


def _open() -> None:
    global _swap
    with _swap_lock:
        _state.active += 1
        if _state.active == 1:
            from dlpy.autograd_function import swap_call_sites

            if not _state.OP_POLICIES:
                _register_ops()
            _swap = swap_call_sites(_ORDER, op_call=_state.op_call)
            _swap.__enter__()


def _close() -> None:
    global _swap
    with _swap_lock:
        _state.active -= 1
        if _state.active == 0 and _swap is not None:
            swap, _swap = _swap, None
            swap.__exit__(None, None, None)


# ----------------------------------------------------------------- torch's state functions
def set_autocast_enabled(device_type, enabled=None) -> None:
    """torch.set_autocast_enabled(device_type, enabled): autocast on or off in this thread
    outside (or inside) a block, as the blocks' own switch: a block restores what it found
    on exit. ``set_autocast_enabled(enabled)`` (torch's old form, for CUDA there) sets the
    CPU's here; other device types are a ``RuntimeError`` for True (dlpy has no CUDA)."""
    if enabled is None:
        device_type, enabled = "cpu", device_type
    device_type = _state.check_device_type("set_autocast_enabled", device_type)
    if not isinstance(enabled, bool):
        raise TypeError(f"set_autocast_enabled(): argument 'enabled' must be bool, not "
                        f"{type(enabled).__name__}")
    if device_type != "cpu":
        if enabled:
            raise RuntimeError(f"set_autocast_enabled: dlpy runs on the CPU only; got "
                               f"device_type={device_type!r} (use 'cpu')")
        return
    state = _state.thread_state()
    state.enabled = enabled
    if enabled and not state.opened:  # the op hooks stay open while this thread may use them
        state.opened = True
        _open()
    elif not enabled and state.opened and state.nesting == 0:
        state.opened = False
        _close()


def set_autocast_dtype(device_type: str, dtype) -> None:
    """torch.set_autocast_dtype(device_type, dtype): the dtype the next autocast blocks (and
    set_autocast_enabled) cast to; as torch, any dtype is taken here, and a block opened with
    one other than bfloat16/float16 warns and runs disabled."""
    device_type = _state.check_device_type("set_autocast_dtype", device_type)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"set_autocast_dtype: expected dtype a dtype, got {dtype!r}") from None
    if device_type == "cpu":
        _state.thread_state().dtype = dtype


def is_autocast_cache_enabled() -> bool:
    """torch.is_autocast_cache_enabled: whether the weights' casts are cached (per block)."""
    return _state.thread_state().cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    """torch.set_autocast_cache_enabled."""
    if not isinstance(enabled, bool):
        raise TypeError(f"set_autocast_cache_enabled(): argument 'enabled' must be bool, not "
                        f"{type(enabled).__name__}")
    _state.thread_state().cache_enabled = enabled


def clear_autocast_cache() -> None:
    """torch.clear_autocast_cache: forget the cached casts of the weights."""
    _state.thread_state().cache.clear()


def autocast_increment_nesting() -> int:
    """torch.autocast_increment_nesting: one more open block; the new count."""
    state = _state.thread_state()
    state.nesting += 1
    return state.nesting


def autocast_decrement_nesting() -> int:
    """torch.autocast_decrement_nesting: one fewer open block; the new count (at 0 torch's
    callers clear the cache)."""
    state = _state.thread_state()
    state.nesting = max(state.nesting - 1, 0)
    return state.nesting


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"torch.{old} is deprecated. Please use torch.{new} instead.",
                  DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled() -> bool:
    """torch.is_autocast_cpu_enabled (deprecated): is_autocast_enabled('cpu')."""
    _deprecated("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    """torch.set_autocast_cpu_enabled (deprecated): set_autocast_enabled('cpu', enabled)."""
    _deprecated("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def get_autocast_gpu_dtype():
    """torch.get_autocast_gpu_dtype (deprecated): get_autocast_dtype('cuda')."""
    _deprecated("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def get_autocast_cpu_dtype():
    """torch.get_autocast_cpu_dtype (deprecated): get_autocast_dtype('cpu')."""
    _deprecated("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype) -> None:
    """torch.set_autocast_cpu_dtype (deprecated): set_autocast_dtype('cpu', dtype)."""
    _deprecated("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


class autocast:  # noqa: N801 - PyTorch's name
    """``with dlpy.autocast("cpu", dtype=dlpy.bfloat16):`` (or ``@autocast(...)`` on a
    function): PyTorch's CPU autocast (see the module's docstring for the op lists).

    ``dtype``: bfloat16 (default: the one ``get_autocast_dtype("cpu")`` gives when made) or
    float16 (another warns and disables the block, as torch's); ``enabled=False`` turns
    autocast off inside the block (nested in an enabled one); ``cache_enabled``: cast each
    weight once per block (default: ``is_autocast_cache_enabled()``). ``device_type`` "cpu";
    "cuda" warns and does nothing (as a torch without CUDA: dlpy has none); torch's other
    autocast device types ("cuda:0", "xpu", "mps", ...) do nothing."""

    def __init__(self, device_type: str, dtype=None, enabled: bool = True,
                 cache_enabled: bool | None = None):
        if not isinstance(device_type, str):
            raise _DeviceTypeError(f"autocast: expected device_type a string such as 'cpu', "
                                   f"got {device_type!r}")
        if _state.check_device_type("autocast", device_type) not in _AUTOCAST_TYPES:
            raise RuntimeError(f"autocast: unsupported device_type {device_type!r} (dlpy "
                               f"autocasts on 'cpu' only)")
        self.device = device_type
        # a disabled CPU block over the thread's unset dtype (bfloat16) leaves it unresolved:
        # ``autocast("cpu", enabled=False)`` (libraries wrap their float32 code in it) then
        # never imports ml_dtypes (fast_dtype resolves it when read)
        lazy = (device_type == "cpu" and dtype is None and not enabled
                and _state.thread_state().dtype is None)
        self._fast_dtype = None if lazy else get_autocast_dtype(device_type)
        if dtype is not None:
            try:
                self._fast_dtype = np.dtype(dtype).type
            except TypeError:
                raise TypeError(f"autocast: expected dtype a dtype, got {dtype!r}") from None
        self._enabled = bool(enabled)
        if self._enabled and device_type == "cuda":
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. "
                          "Disabling", UserWarning, stacklevel=2)
            self._enabled = False
        elif self._enabled and not is_low_precision(self.fast_dtype):
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                          "autocast.\nCPU Autocast only supports dtypes of torch.bfloat16, "
                          "torch.float16 currently.", UserWarning, stacklevel=2)
            self._enabled = False
        self._cache_enabled = (_state.thread_state().cache_enabled if cache_enabled is None
                               else bool(cache_enabled))

    @property
    def fast_dtype(self):
        """The dtype the block casts to (the thread's autocast dtype when made, unless given);
        unresolved, the unset default's bfloat16."""
        if self._fast_dtype is None:
            self._fast_dtype = _state.autocast_dtype_named("bfloat16")
        return self._fast_dtype

    @fast_dtype.setter
    def fast_dtype(self, dtype) -> None:
        self._fast_dtype = dtype

    def __enter__(self):
        if self.device != "cpu":  # a disabled CUDA block: the CPU's state is not touched
            return self
        state = _state.thread_state()
        self._previous = (state.enabled, state.dtype, state.cache_enabled)
        # unresolved (a disabled block made over the unset default): stays the unset default
        dtype = None if self._fast_dtype is None else np.dtype(self._fast_dtype)
        self._open = self._enabled
        state.enabled, state.dtype = self._open, dtype
        state.cache_enabled = self._cache_enabled
        state.nesting += 1
        if self._open:
            _open()
        return self

    def __exit__(self, *exc) -> bool:
        if self.device != "cpu":
            return False
        state = _state.thread_state()
        state.nesting -= 1
        if state.nesting == 0:
            state.cache.clear()  # as torch: the casts cached live until the outermost exit
        state.enabled, state.dtype, state.cache_enabled = self._previous
        if self._open:
            _close()
        if state.nesting == 0 and state.opened and not state.enabled:
            state.opened = False  # set_autocast_enabled(True) inside, switched off by the exit
            _close()
        return False

    def __call__(self, function):
        @functools.wraps(function)
        def autocast_function(*args, **kwargs):
            unresolved = self._fast_dtype is None and _state.thread_state().dtype is None
            with autocast(self.device, None if unresolved else self.fast_dtype, self._enabled,
                          self._cache_enabled):
                return function(*args, **kwargs)

        return autocast_function


def _check_custom_device_type(device_type) -> None:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """torch.amp.custom_fwd for an autograd.Function's forward: with ``cast_inputs`` a dtype,
    inside autocast the floating tensor arguments are cast to it and forward runs with autocast
    off; without, forward runs in the autocast state of the call (backward is given it too,
    by ``custom_bwd``)."""
    _check_custom_device_type(device_type)
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        state = _state.thread_state()
        # with cast_inputs, forward (and so backward, custom_bwd) runs with autocast off
        args[0]._fwd_used_autocast = state.enabled and cast_inputs is None
        args[0]._dtype = _state.autocast_dtype(state)
        if cast_inputs is None or not state.enabled:
            return fwd(*args, **kwargs)
        target = np.dtype(cast_inputs)
        args = tuple(_state._cast_to(a, target, state) for a in args)
        with autocast(device_type, enabled=False):
            return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """torch.amp.custom_bwd: backward runs in the autocast state its forward ran in."""
    _check_custom_device_type(device_type)
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with autocast(device_type, dtype=getattr(ctx, "_dtype", None),
                      enabled=getattr(ctx, "_fwd_used_autocast", False)):
            return bwd(*args, **kwargs)

    return decorate_bwd

