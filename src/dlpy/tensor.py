"""The engine: Tensor, Op, reverse-mode backward() and no_grad.

A Tensor wraps a numpy array. Every op that produces a tensor from tensors that need gradients
records itself on the output (``tensor.op``); ``backward()`` walks that DAG in reverse topological
order, asks each op for the gradients of its inputs and accumulates them, so a tensor used twice
(a residual connection) receives the sum.
"""

from __future__ import annotations

import copy
import copyreg
import functools
import heapq as _heapq
import inspect
import itertools
import numbers
import weakref
from collections.abc import Callable, Iterator
from sys import getrefcount as _getrefcount
from typing import NamedTuple

import numpy as np

from dlpy import meta as _meta
from dlpy.device import MetaArray as _MetaArray
from dlpy.size import Size, _tuple_new
from dlpy.slice_grad import SliceGrad
from dlpy.sparse_grad import SparseGrad

_grad_enabled = True  # ops record now: grad mode on and no inference_mode block open
_grad_mode = [True]  # torch's grad mode (is_grad_enabled), on even in inference_mode's enable_grad


def _set_grad_mode(mode: bool) -> None:
    global _grad_enabled
    _grad_mode[0] = mode
    _grad_enabled = mode and not _inference_depth[0]


class _DecoratorContextManager:
    """torch.autograd.grad_mode._DecoratorContextManager: a context manager that is also a
    decorator; a decorated generator function runs each step in the block. ``clone()``: a new
    one of the same settings."""

    def _fresh(self) -> _DecoratorContextManager:
        """The block one call of a decorated function enters."""
        return self.clone()

    def clone(self) -> _DecoratorContextManager:
        return self.__class__()

    def __call__(self, function):
        if inspect.isclass(function):
            import warnings

            warnings.warn("Decorating classes is deprecated and will be disabled in future "
                          "versions. You should only decorate functions or methods.",
                          FutureWarning, stacklevel=2)
        if inspect.isgeneratorfunction(function):
            return _generator_in(self, function)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return function(*args, **kwargs)

        return wrapper


class _GradModeBlock(_DecoratorContextManager):
    """A grad-mode block as torch's: a reusable context manager and a decorator (with or without
    the call: ``@no_grad()``, ``@no_grad``)."""

    def __new__(cls, function=None):
        if function is not None:  # @no_grad on a function
            return cls()(function)
        return super().__new__(cls)

    def __init__(self, function=None):
        self._saved: list = []

    def _enter(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> None:
        self._saved.append((_grad_mode[0], _inference_depth[0]))
        self._enter()

    def __exit__(self, *exc) -> None:
        mode, _inference_depth[0] = self._saved.pop()
        _set_grad_mode(mode)

    def _fresh(self) -> _GradModeBlock:
        return self  # re-entrant: each entry saves what it changes


def _generator_in(block: _GradModeBlock, function):
    """``function``, a generator function, with each of its steps run inside ``block``."""

    @functools.wraps(function)
    def generator(*args, **kwargs):
        with block._fresh():
            steps = function(*args, **kwargs)
        try:
            with block._fresh():
                value = steps.send(None)
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    with block._fresh():
                        steps.close()
                    raise
                except BaseException as error:  # noqa: BLE001 - passed into the generator
                    with block._fresh():
                        value = steps.throw(error)
                else:
                    with block._fresh():
                        value = steps.send(sent)
        except StopIteration as stop:
            return stop.value

    return generator


class no_grad(_GradModeBlock):  # noqa: N801 - PyTorch's name
    """Within this block ops record no graph (inference, optimiser updates). Also a decorator,
    with or without the call (``@no_grad()``, ``@no_grad``), as torch's."""

    def _enter(self) -> None:
        _set_grad_mode(False)


class enable_grad(_GradModeBlock):  # noqa: N801 - PyTorch's name
    """Within this block ops record again, even inside ``no_grad`` (as torch.enable_grad; inside
    inference_mode the mode is on but nothing records, as torch's)."""

    def _enter(self) -> None:
        _set_grad_mode(True)


_scalar_warned: list[bool] = []  # float() of a tensor requiring grad warned (once a process)


def _warn_scalar_of_grad() -> None:
    """torch's warning for ``float(t)`` of a tensor that requires grad, in grad mode: once a
    process (``TORCH_WARN_ONCE``); ``t.item()`` and ``int(t)`` say nothing, as torch's."""
    import warnings

    from dlpy._caller import user_stacklevel

    _scalar_warned.append(True)
    warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                  "behavior.\nConsider using tensor.detach() first.", UserWarning,
                  stacklevel=user_stacklevel())


def _warn_always() -> bool:
    """torch.set_warn_always's flag: warnings torch gives once a process come every time."""
    from dlpy import torch_misc

    return torch_misc._warn_always


def is_grad_enabled() -> bool:
    return _grad_mode[0]


_inference_depth = [0]  # open inference_mode blocks (is_inference_mode_enabled)
# whether an inference tensor (made in an inference_mode block, Tensor._inference) was ever
# made: until then the checks on inference tensors cost one test of this flag
_inference_made = [False]
# whether a view was ever made under no_grad of a tensor that requires grad (``_gradless``):
# until then recording ops skip the check of their inputs for a stale one
_gradless_made = [False]
# whether a view's node was ever made stale (ops/views.py's ViewOfBase.stale): until then
# recording ops skip the check of their inputs for one
_stale_made = [False]
_transform_depth = [0]  # dlpy.func grad/vjp/jacrev/... calls running their function now


def _backward_in_transform() -> None:
    raise RuntimeError("backward() called inside a dlpy.func transform (grad, vjp, jacrev, "
                       "...), which torch.func does not support either; use func.grad or "
                       "func.vjp, or call backward() outside the transform")


class inference_mode(_GradModeBlock):  # noqa: N801 - PyTorch's name
    """torch.inference_mode: no recording in the block, even under enable_grad; the tensors
    made in it are inference tensors (Tensor._inference). ``inference_mode(False)`` leaves
    it, recording again (as torch's, even inside no_grad). A context manager or a decorator
    (with or without the call, as torch's)."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode on a function
            return cls()(mode)
        return object.__new__(cls)

    def __init__(self, mode: bool = True):
        super().__init__()
        self.mode = bool(mode)

    def clone(self) -> inference_mode:
        return inference_mode(self.mode)

    _fresh = clone

    def _enter(self) -> None:
        depth = _inference_depth[0]
        _inference_depth[0] = depth + 1 if self.mode else 0
        _set_grad_mode(not self.mode)


class set_grad_enabled(_DecoratorContextManager):  # noqa: N801 - PyTorch's name
    """Recording on or off: at once when called (``dlpy.set_grad_enabled(False)``), again on
    entering a ``with`` block, and back to what it was (``prev``) at its end, as
    torch.set_grad_enabled."""

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be True or False, got {mode!r}")
        self.prev, self.mode = _grad_mode[0], mode
        _set_grad_mode(mode)

    def __enter__(self) -> None:
        _set_grad_mode(self.mode)

    def __exit__(self, *exc) -> None:
        _set_grad_mode(self.prev)

    def clone(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)

    def __call__(self, function):
        """As a decorator: the mode only while ``function`` runs (undone here at once)."""
        _set_grad_mode(self.prev)
        return super().__call__(function)


_detect_anomaly = False
# forward_ad's, while a dual level is open: _in_place asks it for a compute that also moves
# the tangent of the new value onto the tensor (None: nothing to follow)
_dual_in_place = None
# autograd.graph.allow_mutation_on_saved_tensors (dlpy/autograd.py): ``_before_in_place(t)``
# copies t's memory before an in-place change, only while such a block is open; ``_mutation_watch``
# (None until a block was first opened) lets _check_versions give an op recorded in an open
# block the values it saved, and refuse (torch's AssertionError) one recorded in a closed block
_before_in_place = None
_mutation_watch = None

_anomaly_check_nan = True  # detect_anomaly(check_nan=False): record where ops were made only
# passes of autograd.grad or backward(inputs=) running now: a reentrant checkpoint refuses them
_selective_passes = 0


class InPlaceCastError(TypeError, RuntimeError):
    """An in-place op whose result's dtype cannot be stored in the tensor (float in an int
    tensor, complex in a real one, a number in a bool one): a TypeError, and torch's
    RuntimeError for code written against torch."""


class ShapeError(ValueError, RuntimeError):
    """Operands whose shapes do not fit the op (shapes that do not broadcast, matrix sizes that
    do not chain, tensors to concatenate that differ off the axis): a ValueError, and torch's
    RuntimeError for code written against torch (``except RuntimeError`` works as there)."""


class InPlaceShapeError(ValueError, RuntimeError):
    """An in-place op whose result would need another shape (x += y with y broadcasting x
    to a larger shape): a ValueError, and torch's RuntimeError for code written against
    torch."""


def _in_place_shape_error(name: str, shape, result_shape) -> InPlaceShapeError:
    return InPlaceShapeError(f"{name}: output with shape {list(shape)} doesn't match the "
                             f"broadcast shape {list(result_shape)} (an in-place op keeps the "
                             "tensor's shape)")


def _check_store(name: str, source, target, cast: str) -> None:
    """Refuse storing a ``source``-dtype result in place in a ``target``-dtype tensor where
    torch refuses it (``cast="unsafe"``: copy_, fill_, setitem store anything, as torch's;
    a stricter numpy rule, "safe", where an op asks for it):
    floats in integers or bools, complex numbers in real dtypes, anything but bools in bools;
    integers of any size and sign, and floats of any width, go in (wrapping or rounding)."""
    if cast == "unsafe":
        return
    source, target = np.dtype(source), np.dtype(target)
    floating = source.kind == "f" or source.name == "bfloat16"
    if (cast != "same_kind" and not np.can_cast(source, target, cast)) or (  # (float_power_)
            (target.kind == "b" and source.kind != "b")
            or (source.kind == "c" and target.kind != "c")
            or (floating and target.kind in "biu")):
        raise InPlaceCastError(f"{name}: a result of dtype {source} cannot be stored in place in "
                               f"a tensor of dtype {target} (torch: result type can't be cast to "
                               "the desired output type)")


class AutogradError(ValueError, RuntimeError):
    """A misuse of backward or autograd.grad (an output that needs no gradient, a missing or
    misshapen gradient, an input not used): a ValueError, and torch's RuntimeError for code
    written against torch (``except RuntimeError``)."""


def _check_grad_output(name: str, grad_output, dtype=None, index: int = 0) -> None:
    """A given gradient is a Tensor or an array, as torch's (which refuses a Python number),
    complex exactly when its output's ``dtype`` (when given) is."""
    if not isinstance(grad_output, (Tensor, np.ndarray)):
        raise TypeError(f"{name}: a gradient must be a Tensor (or None), got "
                        f"{type(grad_output).__name__}")
    if dtype is not None and (grad_output.dtype.kind == "c") != (dtype.kind == "c"):
        raise RuntimeError(f"{name}: for complex tensors, both grad_output and output must be "
                           f"complex (as torch): grad_output[{index}] is {grad_output.dtype}, "
                           f"output[{index}] is {dtype}")


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off (see ``detect_anomaly``): at once when called, and back
    to what it was at the end of a ``with`` block, as torch.autograd.set_detect_anomaly."""

    def __init__(self, mode: bool, check_nan: bool = True):
        global _detect_anomaly, _anomaly_check_nan
        self.previous = (_detect_anomaly, _anomaly_check_nan)
        _detect_anomaly, _anomaly_check_nan = bool(mode), bool(check_nan)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        global _detect_anomaly, _anomaly_check_nan
        _detect_anomaly, _anomaly_check_nan = self.previous


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Within this block, as ``torch.autograd.detect_anomaly``: the first backward function
    whose gradient holds nan raises a RuntimeError (``AnomalyError``, a FloatingPointError too)
    naming it as torch does and the line of user code that created its op (``check_nan=False``:
    no checks, the ops only remember where they were made). Warns when made, as torch's."""

    def __init__(self, check_nan: bool = True):
        import warnings

        self.check_nan = check_nan
        self._saved: list = []
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self) -> None:
        self._saved.append(set_detect_anomaly(True, self.check_nan))

    def __exit__(self, *exc) -> None:
        self._saved.pop().__exit__(*exc)


def _caller() -> str:
    """file:line of the innermost frame outside dlpy: where the user created an op."""
    import traceback

    package = __file__.rsplit("/", 1)[0]
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(package):
            return f"{frame.filename}:{frame.lineno}"
    return "?"


class AnomalyError(RuntimeError, FloatingPointError):
    """What anomaly mode raises: torch's RuntimeError (for code written against torch), and the
    FloatingPointError dlpy raised before."""


def _check_backward(op: Op, grad_output, grads) -> None:
    """torch's check: a backward function whose gradient holds nan raises, named as torch
    names it (its forward, and an inf, are not checked)."""
    if not _anomaly_check_nan:
        return
    for i, grad in enumerate(grads):
        if isinstance(grad, (SparseGrad, SliceGrad)):
            grad = grad.values
        if grad is not None and grad.dtype.kind in "fc" and np.isnan(grad).any():
            raise AnomalyError(
                f"Function '{op.name()}' returned nan values in its {i}th output (the "
                f"gradient of input {i}, shape {grad.shape}); the op was created at "
                f"{op.__dict__.get('_created_at', '?')}"
            )


# The default dtype (torch.get_default_dtype): what Python floats, the float creation functions
# and layers' parameters become; float32 or float64 (dlpy.set_default_dtype), with the complex
# dtype that pairs with it.
_default_dtype = np.dtype(np.float32)
_default_complex = np.dtype(np.complex64)


def default_dtype(dtype=None) -> np.dtype:
    """``dtype``, or the default dtype when it is None: how a ``dtype=None`` argument of a
    creation function or a layer is resolved when it is called. A quantized dtype (quint8...)
    is refused, as torch's creation functions refuse it (no kernel for it)."""
    if dtype is None:
        return _default_dtype
    if isinstance(dtype, tuple):  # dlpy.ao's QDtype
        _refuse_quantized(dtype, "a creation function")
    return dtype


def _refuse_quantized(dtype, name: str, error=None):
    """torch's refusal of a quantized dtype where a plain tensor is made: dlpy's
    QuantizedOpError for the creation functions (a TypeError, as before; torch's
    NotImplementedError, a RuntimeError), ``error`` else (``to``: ArgDtypeError, torch's
    RuntimeError)."""
    from dlpy.ao.qtensor import QuantizedOpError

    raise (error or QuantizedOpError)(
        f"{name}: could not make a tensor of the quantized dtype {dtype!r} (torch has no "
        "kernel for it here; use torch.quantize_per_tensor)")


def parameter_dtype(dtype, layer: str, has_parameters: bool = True) -> np.dtype:
    """default_dtype(dtype) for a layer's ``dtype=`` argument: a layer that makes parameters
    refuses a dtype that cannot require gradients (integer, bool), as torch's."""
    dtype = _default_dtype if dtype is None else dtype
    if has_parameters:
        resolved = np.dtype(dtype)
        if resolved.kind != "c" and not is_floating_dtype(resolved):
            raise RuntimeError(f"{layer}: only Tensors of floating point and complex dtype can "
                               f"require gradients, got dtype={resolved}")
    return dtype


def default_complex_dtype() -> np.dtype:
    """The complex dtype that pairs with the default dtype (complex64 with float32)."""
    return _default_complex


def _set_default_dtype(dtype: np.dtype) -> None:
    """dlpy.set_default_dtype's effect (it checks ``dtype``, float32 or float64)."""
    global _default_dtype, _default_complex
    _default_dtype = dtype
    # (torch pairs complex32 with float16 and bfloat16: numpy has none, complex64 stands in)
    _default_complex = np.dtype(np.complex128 if dtype == np.float64 else np.complex64)


def is_floating_dtype(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is a real floating dtype: numpy's (kind "f") or ml_dtypes' bfloat16
    (kind "V" to numpy; dlpy.bfloat16, see dlpy/amp/)."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def is_narrow_float(dtype) -> bool:
    """float16 or bfloat16 (what narrow_float converts to)."""
    dtype = np.dtype(dtype)
    return dtype.itemsize == 2 and dtype.kind in "fV"


def narrow_float(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` as float16 or bfloat16 the way torch converts: through float32 (its Half and
    BFloat16 are made from a float, so a float64 or int64 value near a tie rounds twice)."""
    with np.errstate(over="ignore"):  # (past the dtype's range: inf, as torch's, silently)
        if array.dtype.kind in "iu" or (array.dtype.kind == "f" and array.dtype.itemsize > 4):
            array = array.astype(np.float32)
        return array.astype(dtype)


def _to_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    if isinstance(data, np.generic):
        return np.asarray(data, dtype=dtype)
    # Python lists and scalars become the default dtype (float32 unless set_default_dtype).
    array = np.asarray(data, dtype=dtype)
    if array.dtype.kind in "US":  # text is not data (torch's TypeError)
        raise TypeError(f"Tensor: invalid data type '{type(data).__name__}': expected numbers, "
                        f"got {data!r:.40}")
    if dtype is None and array.dtype.kind in "fiub" and array.dtype != np.bool_:
        array = narrow_float(array, _default_dtype) if _default_dtype.itemsize == 2 else \
            array.astype(_default_dtype)
    elif dtype is None and array.dtype == np.complex128:
        array = array.astype(_default_complex)  # complex64 pairs with float32, as in PyTorch
    return array


def real_part_for(data, dtype):
    """A complex numpy array read as a real ``dtype``: a copy of its real part, with torch's
    warning (not numpy's ComplexWarning); anything else as it is. A copy, not numpy's view
    ``.real``: as_tensor(complex64 array, dtype=float32) is a cast, new memory in torch, where
    the view, already float32, would have been taken as it is (sharing the array's memory)."""
    if (type(data) is np.ndarray and data.dtype.kind == "c" and dtype is not None
            and np.dtype(dtype).kind not in "cb"):
        from dlpy.ops.arithmetic import warn_discarding_imaginary

        warn_discarding_imaginary()
        return data.real.copy()
    return data


def _holds_complex(data) -> bool:
    """Whether data is or holds (in nested lists) a Python complex number."""
    if type(data) is complex:
        return True
    return isinstance(data, (list, tuple)) and any(_holds_complex(item) for item in data)


def python_array(data, dtype=None) -> np.ndarray:
    """torch.tensor's dtypes for Python data (numpy arrays and scalars keep theirs): bools
    bool, ints int64, floats the default dtype, complex numbers its complex pair; a mix the
    widest of them."""
    if data is None:  # (numpy would read it as nan for a float dtype)
        raise NoneItemError("tensor: must be real number, not NoneType")
    if isinstance(data, (str, bytes)):  # (numpy would parse it for a numeric dtype)
        raise _creation._TextError(f"tensor: expected numbers (bool, int, float or complex), "
                                   f"got invalid data type {type(data).__name__!r}")
    if isinstance(data, (list, tuple)) and data and _may_hold_others(data):
        leaves = _leaf_types(data, set())
        if str in leaves or bytes in leaves:
            raise _creation._TextError("tensor: expected numbers (bool, int, float or "
                                       "complex), got a list holding text")
        if type(None) in leaves:  # (numpy would read None as nan for a float dtype)
            raise NoneItemError("tensor: a list holds None; expected numbers (bool, int, float "
                                "or complex)")
        if not leaves <= _PYTHON_NUMBERS:  # numpy scalars, arrays or tensors among them
            data, dtype = _numbers_of(data, leaves, dtype)
    if dtype is not None and is_narrow_float(dtype) and _holds_complex(data):
        # a Python complex number read as a real float: torch's TypeError (as numpy's for
        # float32; numpy would take its real part for float16 with a ComplexWarning)
        raise TypeError("tensor: must be real number, not complex")
    data = real_part_for(data, dtype)
    if dtype is not None and is_narrow_float(dtype):
        return narrow_float(np.asarray(data), np.dtype(dtype))
    if isinstance(data, np.generic) and dtype is not None and data.dtype.kind in "iuf":
        data = data.item()  # torch reads a numpy number as the Python one: its range checked
    if type(data) is float and dtype is not None and np.dtype(dtype).kind in "iu":
        limits = np.iinfo(dtype)  # torch's check of a float for an integer dtype; nan fails
        if not float(limits.min) <= data <= float(limits.max):
            raise RuntimeError(f"value cannot be converted to type {np.dtype(dtype)} without "
                               "overflow")
        with np.errstate(invalid="ignore"):  # 2.0 ** 63 passes the check, as torch's
            return np.array(data).astype(dtype)
    if isinstance(data, (list, tuple)) and dtype is not None and np.dtype(dtype).kind in "iu":
        _check_float_items(data, np.dtype(dtype))
    try:
        if dtype is not None and np.dtype(dtype).kind in "fc":
            with np.errstate(over="ignore"):  # 1e300 as float32 is inf, silently as torch's
                array = np.asarray(data, dtype=dtype)
        else:
            array = np.asarray(data, dtype=dtype)
    except OverflowError as error:  # an int past the dtype's range: torch's RuntimeError
        array = _wrapped_unsigned(data, dtype)
        if array is None:
            if str(error).startswith("Python int too large"):
                # beyond int64 (uint64 for an uint64 dtype): torch fails to read it as a long
                if np.dtype(dtype) == np.uint64:
                    raise ValueOverflowError("int too big to convert") from None
                raise LongOverflowError("Overflow when unpacking long long: a Python int "
                                        "beyond int64") from None
            raise ValueOverflowError(f"value cannot be converted to type {np.dtype(dtype)} "
                                     f"without overflow ({error})") from None
    except ValueError as error:  # a string that is no number: torch's TypeError
        if "inhomogeneous" in str(error):  # nested lists that are not rectangular
            raise _creation._RaggedError(f"tensor: nested lists must be rectangular, "
                                         f"{_creation._ragged(data)}") from None
        if not str(error).startswith(("could not convert string", "invalid literal")):
            raise
        raise _creation._TextError(str(error)) from None
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)):
        if array.dtype.kind in "uO":
            array = _big_ints(array)
        elif array.dtype == np.float64 and array.size and isinstance(data, (list, tuple)) and (
                array.max() >= 2.0 ** 63 or array.min() < -2.0 ** 63):
            _no_long_overflow(data)  # [2 ** 64 - 1, 1] reads as floats: ints all, torch refuses
        if array.dtype in (np.float64, np.complex128) or (
                array.dtype.kind == "i" and array.dtype != np.int64):
            if array.dtype == np.float64:  # (float16/bfloat16 through float32, as torch's)
                array = narrow_float(array, _default_dtype) if _default_dtype.itemsize == 2 \
                    else array.astype(_default_dtype)
            elif array.dtype == np.complex128:
                array = array.astype(_default_complex)
            else:
                array = array.astype(np.int64)  # numpy's default int is int32 on some platforms
    return array


def _check_float_items(data, dtype: np.dtype) -> None:
    """torch's check of each float a list holds for an integer dtype, as of one float: within
    the dtype's range (-0.5 fails for uint8, nan always); its ints wrap or fail on their own
    (_wrapped_unsigned)."""
    try:
        wide = np.asarray(data)
    except ValueError:  # ragged: numpy's refusal comes next
        return
    if wide.dtype.kind != "f":
        return
    low, high = float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)
    with np.errstate(invalid="ignore"):
        if ((wide >= low) & (wide <= high)).all():
            return
    if any(isinstance(v, float) and not low <= v <= high for v in _flat_items(data)):
        raise RuntimeError(f"value cannot be converted to type {dtype} without overflow")


def _flat_items(data):
    for item in data:
        if isinstance(item, (list, tuple)):
            yield from _flat_items(item)
        else:
            yield item


def _wrapped_unsigned(data, dtype) -> np.ndarray | None:
    """Python ints numpy refuses for an unsigned dtype: torch wraps a negative int down to
    -max (-1 is 255 as uint8) and refuses only ints beyond that, or past max (None: not
    ints for an unsigned dtype, numpy's refusal stands)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "u":
        return None
    wide = np.asarray(data)
    if wide.dtype.kind not in "iuf":  # "f": ints beside floats (_check_float_items passed)
        return None
    limit = int(np.iinfo(dtype).max)
    if wide.size and (int(wide.max()) > limit or int(wide.min()) < -limit):
        raise ValueOverflowError(f"value cannot be converted to type {dtype} without overflow")
    return wide.astype(np.int64).astype(dtype)


class ValueOverflowError(RuntimeError, OverflowError):
    """A value past an integer dtype's range: torch's RuntimeError (an OverflowError too)."""


class LongOverflowError(ValueError, OverflowError):
    """A Python int beyond int64 read for an integer tensor: torch's ValueError ("Overflow
    when unpacking long long"), an OverflowError too."""


def _no_long_overflow(data) -> None:
    """Nested lists numpy read as float64 holding values past int64: when every leaf is an int
    or a bool, numpy promoted ints beyond int64 (uint64 beside int64): torch's refusal."""
    if _leaf_types(data, set()) <= {int, bool}:
        raise LongOverflowError("Overflow when unpacking long long: a Python int beyond int64")


class IntegerDivisionError(ZeroDivisionError, RuntimeError):
    """An integer division or remainder by zero: a ZeroDivisionError, and torch's
    RuntimeError ("ZeroDivisionError")."""


def _big_ints(array: np.ndarray) -> np.ndarray:
    """Python data numpy read as uint64 (ints at or above 2 ** 63) or as objects (ints beyond
    that): torch's overflow error for integers, floats (complex numbers) with a float."""
    values = array.ravel().tolist()
    if array.dtype == np.uint64 or all(type(v) in (int, bool) for v in values):
        if any(not -2 ** 63 <= v < 2 ** 63 for v in values):
            raise LongOverflowError("Overflow when unpacking long long: a Python int beyond "
                                    "int64")
        return array
    if any(isinstance(v, complex) for v in values):
        return array.astype(np.complex128)
    if all(isinstance(v, (int, float)) for v in values):
        return array.astype(np.float64)
    return array


_PYTHON_NUMBERS = frozenset((bool, int, float, complex))


class NoneItemError(TypeError, RuntimeError):
    """tensor() of a list holding None: torch's TypeError with a dtype, its RuntimeError
    without (both)."""


def _may_hold_others(data) -> bool:
    """Whether a list may hold something other than Python numbers: any of its own items, or
    the first number of its nested lists (a full walk would cost as much as numpy's reading,
    and nested lists mixing Python and numpy numbers are rare)."""
    kinds = set(map(type, data))
    if kinds <= _PYTHON_NUMBERS:
        return False
    if any(not issubclass(kind, (list, tuple)) for kind in kinds - _PYTHON_NUMBERS):
        return True
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return type(data) not in _PYTHON_NUMBERS


def _leaf_types(data, found: set) -> set:
    """The types of what nested lists and tuples hold (one pass of ``map(type, ...)`` a list,
    cheap beside numpy's own reading of them)."""
    kinds = set(map(type, data))
    nested = {kind for kind in kinds if issubclass(kind, (list, tuple))}
    found |= kinds - nested
    if nested:
        for row in data:
            if isinstance(row, (list, tuple)):
                _leaf_types(row, found)
    return found


def _numbers_of(data, leaves: set, dtype):
    """torch.tensor's reading of lists holding numpy scalars, arrays or tensors: the dtype
    (unless given) promotes every element's (a Python float counts as the default dtype, a
    numpy scalar, array or tensor as its own: [np.float16(1.5), 2] is float16, [np.float32(1),
    np.float64(2)] float64), and a tensor stands for its one value (a tensor of more values
    is torch's error). Other leaves (strings, None) are left to numpy's reading."""
    if not all(kind in _PYTHON_NUMBERS or issubclass(kind, (np.generic, np.ndarray, Tensor))
               for kind in leaves):
        return data, dtype
    if dtype is None:
        found = set()
        for kind in leaves:
            if kind in _PYTHON_NUMBERS:
                found.add(_PYTHON_DTYPE[kind]())
            elif issubclass(kind, np.generic):
                found.add(np.dtype(kind))
        found |= _instance_dtypes(data, set())
        dtype = functools.reduce(_promotion.promote_types, found)
    if any(issubclass(kind, Tensor) for kind in leaves):
        kind = np.dtype(dtype).kind
        if kind in "iubf":
            # torch reads each tensor as an index (an integer dtype) or a real number (a
            # float dtype): a floating (complex) tensor is its TypeError (RuntimeError)
            narrower = "fcV" if kind in "iub" else "c"  # (V: bfloat16, a float)
            if any(item.data.dtype.kind in narrower and not (  # a complex one without an
                    kind == "f" and not np.any(item.data.imag))  # imaginary part reads as real
                   for item in _instance_tensors(data, [])):
                raise ArgDtypeError(f"tensor: a {'floating' if kind in 'iub' else 'complex'} "
                                    f"tensor in the data can't be read as {np.dtype(dtype)}")
        data = _tensors_as_numbers(data, np.dtype(dtype).kind not in "cV")
    return data, dtype


_PYTHON_DTYPE = {bool: lambda: np.dtype(np.bool_), int: lambda: np.dtype(np.int64),
                 float: lambda: np.dtype(_default_dtype),
                 complex: lambda: np.dtype(_default_complex)}


def _instance_dtypes(data, found: set) -> set:
    """The dtypes of the arrays and tensors in nested lists."""
    for item in data:
        if isinstance(item, (np.ndarray, Tensor)):
            found.add(item.data.dtype if isinstance(item, Tensor) else item.dtype)
        elif isinstance(item, (list, tuple)):
            _instance_dtypes(item, found)
    return found


def _instance_tensors(data, found: list) -> list:
    """The tensors in nested lists."""
    for item in data:
        if isinstance(item, Tensor):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            _instance_tensors(item, found)
    return found


class _ElementCountError(TypeError, ValueError):
    """A many-valued tensor inside a list given to tensor(): torch's TypeError (a ValueError,
    as numpy's)."""


def _tensors_as_numbers(data, real: bool = False):
    """Nested lists with each tensor replaced by its one value (numpy scalar; its real part
    for ``real`` data)."""
    out = []
    for item in data:
        if isinstance(item, Tensor):
            if item.data.size != 1:
                raise _ElementCountError("only one element tensors can be converted to Python "
                                         "scalars")
            item = item.data.reshape(())[()]
            if real and item.dtype.kind == "c":
                item = item.real
        elif isinstance(item, (list, tuple)):
            item = _tensors_as_numbers(item, real)
        out.append(item)
    return out


def as_array(value) -> np.ndarray:
    """The numpy array of ``value``: a Tensor's ``.data``; an array itself (not its ``.data``,
    a buffer numpy cannot read back for bfloat16); a torch tensor's values (bfloat16 and
    float8 as ml_dtypes' arrays, which torch's ``numpy()`` refuses; float32 without ml_dtypes);
    otherwise ``np.asarray`` of its ``.data`` or of it."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu()
        name = str(value.dtype).removeprefix("torch.")
        if name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            import sys

            from dlpy.amp.dtypes import ml_dtype

            torch = sys.modules[type(value).__module__.partition(".")[0]]
            try:
                dtype = np.dtype(ml_dtype(name))
            except ImportError:
                return value.float().numpy()
            bits = torch.int16 if dtype.itemsize == 2 else torch.uint8
            return value.contiguous().view(bits).numpy().view(dtype)
        return value.numpy()
    return np.asarray(getattr(value, "data", value))


class SparseOperandError(TypeError, NotImplementedError):
    """A sparse tensor (dlpy/sparse_tensor.py) read as an array by a dense op (torch: no
    kernel for it, NotImplementedError). The operators below catch it (no cost until raised)
    and hand ``dense (op) sparse`` to the sparse tensor's reflected method."""

    def __init__(self, tensor):
        super().__init__(f"expected a dense tensor, got a sparse ({tensor.layout.name}) tensor "
                         f"of shape {tensor.shape}: call .to_dense(), or use its own ops "
                         "(dlpy.sparse)")
        self.tensor = tensor


_NO_DTYPE = object()  # Tensor.view's dtype when it is not given (None is refused, as torch's)


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate them.

    ``Tensor(array, requires_grad=False)``: numpy arrays keep their dtype (float64 stays float64),
    Python lists and scalars become float32; ``Tensor()`` is an empty (0,) float32 tensor.
    """

    # _hooks: None, or the gradient hooks of register_hook; _post_hooks (set only by
    # register_post_accumulate_grad_hook, read only once one was registered)
    # _view_of (set only on a view: the tensor whose memory it views, see _note_view) and
    # _views (set only on such a base: weak references to its views)
    # _no_grad_view (set only on a view made under no_grad: True, or on a view of one: the
    # op that made it)
    # _inference: True on torch's inference tensors (made in an inference_mode block, or views
    # of them; unset on others: _mark_inference), "detached" on their detach()
    __slots__ = ("data", "_grad", "requires_grad", "op", "name", "_hooks", "_tick", "_post_hooks",
                 "_view_of", "_views", "_inference", "_no_grad_view", "__weakref__", "__dict__")
    __array_priority__ = 1000  # torch's; numpy defers to __array_ufunc__ below either way
    # True (in the instance's __dict__) on a view made under no_grad (or inference_mode) of a
    # tensor that requires grad: torch's such view requires grad (its base does) but is a leaf
    # with no AccumulateGrad: ops on it record, no gradient reaches it or its base
    _gradless = False

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the values (as torch's for a CPU tensor); a copy when asked or when
        ``dtype`` differs. A subclass with its own ``numpy()`` (a wrapper subclass keeping its
        values elsewhere, as PyG's EdgeIndex) gives what that returns, as torch's __array__."""
        if type(self.data) is _MetaArray:
            _meta.refuse_values(self, "numpy")
        if type(self).numpy is not Tensor.numpy:
            array = self.numpy()
            return array.astype(dtype if dtype is not None else array.dtype, copy=True) \
                if copy else (array if dtype is None else array.astype(dtype, copy=False))
        if copy:
            return self.data.astype(dtype if dtype is not None else self.data.dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    # numpy's protocols (NEP 13, NEP 18). Neither is on dlpy's own paths: ops pass .data.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """A numpy ufunc given a Tensor. ``ndarray (op) Tensor`` (numpy's operators + - * / // %
        ** @ < <= > >= == != & | ^ << >>) is the Tensor's reflected operator, a recorded op
        (or a boolean Tensor) as ``Tensor (op) ndarray`` is. Every other call,
        in-place ones (``arr -= lr * p.grad``, ``out=``) included, is numpy's on the values:
        no graph."""
        if method == "__call__" and not kwargs:
            if (len(inputs) == 2 and inputs[1] is self
                    and isinstance(inputs[0], (np.ndarray, np.generic))):
                name = _NUMPY_REFLECTED.get(ufunc)
                if name is not None:
                    result = getattr(type(self), name)(self, inputs[0])
                    if result is NotImplemented:  # == != with a string array: identity
                        return (inputs[0] is self) == (ufunc is np.equal)
                    return result
            return ufunc(*[x.__array__() if isinstance(x, Tensor) else x for x in inputs])
        if method == "at" and isinstance(inputs[0], Tensor):
            _numpy_writes_tensor(f"{ufunc.__name__}.at")
        return getattr(ufunc, method)(*_numpy_values(inputs),
                                      **_numpy_keywords(ufunc.__name__, kwargs))

    def __array_function__(self, func, types, args, kwargs):
        """A numpy function given a Tensor: numpy's answer on the values (``np.sum(t)`` is
        ``np.sum(np.asarray(t))``, an ndarray or numpy scalar, no graph); np.shape, np.ndim and
        np.size read the Tensor's."""
        for kind in types:
            if not issubclass(kind, (Tensor, np.ndarray)):
                return NotImplemented  # another library's array: let it answer
        if func in _NUMPY_SHAPE_QUERIES:
            return _NUMPY_SHAPE_QUERIES[func](*args, **kwargs)
        return func._implementation(*_numpy_values(args),
                                    **_numpy_keywords(func.__name__, kwargs) if kwargs else {})

    # torch.overrides' protocol (dlpy/overrides.py): a subclass's results are of the subclass
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """Runs ``func`` with subclass dispatch off and gives Tensor results as ``cls`` (a
        subclass may override this, as torch's)."""
        return _overrides.default_torch_function(cls, func, types, args, kwargs)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _overrides.subclass_defined(cls)

    def as_subclass(self, cls) -> Tensor:
        """A ``cls`` instance on the same values and graph (gradients flow back to self)."""
        return _overrides.as_subclass(self, cls)

    @staticmethod
    def _make_subclass(cls, data, require_grad: bool = False) -> Tensor:
        """torch's ``Tensor._make_subclass``: a ``cls`` leaf on ``data``'s values (no graph)."""
        return _overrides.make_subclass(cls, data, require_grad)

    @staticmethod
    def _make_wrapper_subclass(cls, size, *args, **kwargs) -> Tensor:
        """torch's wrapper-subclass maker: a ``cls`` instance of ``size`` whose ops go to
        ``cls.__torch_dispatch__`` (see ``dlpy.utils._python_dispatch``)."""
        from dlpy.utils._python_dispatch import make_wrapper_subclass

        return make_wrapper_subclass(cls, size, *args, **kwargs)

    def __init__(self, data=(), requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype)
        kind = self.data.dtype.kind
        if kind == "c" and type(self) is Tensor:  # complex data: a ComplexTensor (ops/complex.py)
            self.__class__ = ComplexTensor
        elif requires_grad and kind != "f" and self.data.dtype.name != "bfloat16":
            raise RuntimeError(f"Tensor: only Tensors of floating point and complex dtype can "
                               f"require gradients, got {self.data.dtype}")
        self._grad: Tensor | SparseGrad | None = None
        self.requires_grad = bool(requires_grad)
        self.op: Op | None = None
        self.name = name
        self._hooks: dict | None = None
        self._tick = 0  # the in-place clock when its op recorded it (see _check_versions)
        if _inference_depth[0]:
            _mark_inference(self)

    # ----------------------------------------------------------------- properties
    @property
    def grad(self) -> Tensor | SparseGrad | None:
        """The gradient backward() accumulated: a Tensor without a graph (one with a graph
        after ``backward(create_graph=True)``), a SparseGrad from a sparse op, or None. In-place
        changes through it (``p.grad.zero_()``, ``p.grad.mul_(0.5)``) are what optimisers see.
        A non-leaf's is None, with torch's warning, unless retain_grad() was called."""
        grad = self._grad
        if grad is None and self.op is not None and not self.retains_grad:
            import warnings

            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being "
                          "accessed. Its .grad attribute won't be populated during "
                          "autograd.backward(). If you indeed want the .grad field to be "
                          "populated for a non-leaf Tensor, use .retain_grad() on the non-leaf "
                          "Tensor.", UserWarning, stacklevel=2)
        return grad

    @grad.setter
    def grad(self, value) -> None:
        if value is self:
            raise RuntimeError("grad: can't assign a tensor as its own grad")
        self._grad = None if value is None else _as_grad(self, value)

    @grad.deleter
    def grad(self) -> None:
        """``del t.grad``: as ``t.grad = None`` (torch's)."""
        self._grad = None

    @property
    def grad_dtype(self) -> np.dtype | None:
        """The dtype a leaf's ``.grad`` must have, as torch's: its own dtype unless set. Set to
        another dtype, backward casts the gradients it accumulates to it and ``.grad =``
        takes only that dtype; set to None, ``.grad =`` takes any dtype. Leaves only."""
        if self.op is not None:
            raise RuntimeError("grad_dtype can only be accessed on leaf tensors.")
        return self.__dict__.get("_grad_dtype", self.data.dtype)

    @grad_dtype.setter
    def grad_dtype(self, value) -> None:
        global _grad_dtype_count
        if self.op is not None:
            raise RuntimeError("grad_dtype can only be set on leaf tensors.")
        if value is not None:
            if isinstance(value, (str, type)) or not isinstance(value, np.dtype):
                raise RuntimeError(f"grad_dtype must be a torch.dtype or None, but got "
                                   f"{type(value).__name__}")
            grad = self._grad
            if grad is not None and grad.dtype != value:
                raise RuntimeError(
                    f"Cannot set grad_dtype to {value} because there is already a gradient "
                    f"with dtype {grad.dtype}. Please clear the gradient (.grad = None) before "
                    "changing grad_dtype, or ensure the new grad_dtype matches the existing "
                    "gradient's dtype.")
        self.__dict__["_grad_dtype"] = value
        _grad_dtype_count += 1

    @property
    def shape(self) -> Size:
        return _tuple_new(Size, self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        """The shape (as PyTorch's ``size()``, a Size), or the length of axis ``dim``."""
        if dim is None:
            return _tuple_new(Size, self.data.shape)
        try:
            return self.data.shape[dim]
        except (IndexError, TypeError):
            raise _dim_error("size", dim, self.data.ndim) from None

    def numel(self) -> int:
        """The number of elements."""
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len: a tensor with no axes (a scalar) has no length")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:  # at iter(), as torch's (a generator would raise at next())
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __repr__(self) -> str:
        """As torch prints it: ``tensor([[1.2300, 2.0000], ...], grad_fn=<MulBackward>)``
        (dlpy/_tensor_str.py; dlpy.set_printoptions)."""
        from dlpy._tensor_str import tensor_repr

        return tensor_repr(self)

    def __format__(self, format_spec: str) -> str:
        """``f"{loss:.4f}"``: a plain tensor with no axes formats as its number (torch's);
        anything else as ``str`` (and only with an empty spec)."""
        from dlpy._tensor_str import tensor_format

        return tensor_format(self, format_spec)

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as an ndarray sharing this tensor's memory (``force=True`` too, as torch's
        ``t.detach().numpy()``). Unlike torch's, a tensor that requires grad gives its array
        too (dlpy's own code and tests read parameters so)."""
        if type(self.data) is _MetaArray:
            _meta.refuse_values(self, "numpy")
        return self.data

    def tolist(self):
        """The values as (nested) Python lists, or a number for a tensor with no axes."""
        if type(self.data) is _MetaArray:
            _meta.refuse_values(self, "tolist")
        return self.data.tolist()

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place on a leaf tensor; returns the tensor (as in PyTorch)."""
        if requires_grad is not True and requires_grad is not False:  # torch takes a bool only
            raise TypeError(f"requires_grad_(): argument 'requires_grad' must be bool, not "
                            f"{type(requires_grad).__name__}")
        if self.op is not None:
            if requires_grad:  # it requires grad already: nothing to change, as torch
                return self
            raise RuntimeError(
                "requires_grad_: only a leaf tensor's flag can be changed; call detach() first"
            )
        if requires_grad and _inference_made[0] and not _inference_depth[0] and getattr(
                self, "_inference", False):
            raise RuntimeError("Setting requires_grad=True on inference tensor outside "
                               "InferenceMode is not allowed.")
        if (requires_grad and self.data.dtype.kind not in "fc"
                and self.data.dtype.name != "bfloat16"):
            raise RuntimeError(
                f"requires_grad_: only Tensors of floating point and complex dtype can require "
                f"gradients, got {self.data.dtype}"
            )
        if self._gradless or getattr(self, "_no_grad_view", 0) is True:
            base = getattr(self, "_view_of", None)  # torch's view made under no_grad: it
            if not requires_grad and base is not None and base.requires_grad:  # requires
                self._gradless = True  # grad while its base does, with no node of its own
                _gradless_made[0] = True
                return self
            self.__dict__.pop("_gradless", None)  # with requires_grad_(): a node, a .grad
        self.requires_grad = bool(requires_grad)
        return self

    def item(self) -> float:
        if type(self.data) is _MetaArray:
            _meta.refuse_values(self, "item")
        if self.data.size != 1:
            # torch's RuntimeError and message
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to "
                               f"Scalar")
        return self.data.item()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (an inference tensor's is one too, as torch's)."""
        out = Tensor(self.data)
        if type(self.data) is np.ndarray and not self.data.flags.writeable:
            # an expanded view's read-only array: in-place changes of out go through its base's
            # memory, or are refused, as the view's (out is no view for _base)
            owner = _memory_owner(self)
            if owner is not self:
                out._memory_of = owner
        if _inference_made[0] and getattr(self, "_inference", False):
            out._inference = "detached"  # torch's: it changes in place and counts versions
        elif _inference_depth[0]:
            out._inference = False  # a view of a normal tensor's memory is normal, as torch's
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradient: None (PyTorch's default), or with ``set_to_none=False`` fill it
        with zeros in place (a sparse gradient keeps no rows, as torch's)."""
        grad = self._grad
        if set_to_none or grad is None:
            self._grad = None
        elif not isinstance(grad, Tensor):
            grad.zero_()
        else:  # the same tensor, a graph (create_graph) cut off, zeroed in place, as torch's
            if grad.op is not None:
                grad.op = None
                if not grad.data.flags.writeable:  # a broadcast view: memory of its own
                    grad.data = np.zeros(grad.data.shape, grad.data.dtype)
            grad.requires_grad = False
            if grad.data.flags.writeable:
                grad.data[...] = 0
                _bump(grad.data)  # torch's zero_(): a new version
            else:  # an expanded gradient (p.grad = g.expand(...)): zero_ writes through it
                grad.zero_()

    def register_hook(self, hook):
        """Call ``hook(grad)`` with the gradient of this tensor each time backward computes it
        (for a leaf, before it is added to ``.grad``). The hook gets a Tensor (or a
        SparseGrad); returning a Tensor or array of the same shape replaces the gradient, None
        keeps it (do not change it in place: it may be shared). Returns a handle whose ``remove()``
        takes the hook off, as PyTorch's."""
        from dlpy.hooks import add_hook

        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does "
                               "not require gradients")
        hooks = self._hooks
        if hooks is None:
            hooks = self._hooks = {}
        return add_hook(hooks, hook, "register_hook")

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf each time a backward has added to its ``.grad``
        (torch's, e.g. for an optimiser step inside backward); the hook returns None. Returns
        a handle whose ``remove()`` takes it off."""
        from dlpy.hooks import add_hook

        global _post_hook_count
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on "
                               "a tensor that does not require gradients")
        if self.op is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               f"can be registered on leaf tensors only, this one is the output "
                               f"of {self.op.describe()}")
        hooks = getattr(self, "_post_hooks", None)
        if hooks is None:
            hooks = self._post_hooks = {}
        _post_hook_count += 1  # from now on backward looks for them (never before)
        return add_hook(hooks, hook, "register_post_accumulate_grad_hook")

    # ----------------------------------------------------------------- autodiff
    def backward(self, grad_output=None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None, *, gradient=None) -> None:
        """Accumulate d(self)/d(leaf) * grad_output into ``.grad`` of every leaf that needs it.

        A tensor with one element needs no ``grad_output`` (torch's keyword ``gradient=`` is
        the same argument). Graph state (saved arrays) is freed afterwards unless
        ``retain_graph=True``. ``inputs``: a tensor or a sequence of them (leaves or not): only
        their ``.grad`` accumulate, and only the ops on a path to them run, as torch's.
        ``create_graph=True``: the ``.grad`` get a graph of their own (each op's
        ``backward_graph``), to differentiate again (Hessian-vector products, gradient
        penalties); the graph is kept (retain_graph) and grad_output may be a Tensor with one.
        """
        if _transform_depth[0]:
            _backward_in_transform()
        if inputs is not None and not isinstance(inputs, Tensor):
            from dlpy.autograd import _dict_inputs

            inputs = _dict_inputs("backward", inputs)  # a dict: its values
        if create_graph:
            from dlpy.autograd import backward

            return backward([self], None if grad_output is None and gradient is None else
                            [grad_output if gradient is None else gradient], retain_graph,
                            True, inputs)
        if gradient is not None:
            if grad_output is not None:
                raise TypeError("backward: give grad_output or gradient (torch's name for it), "
                                "not both")
            grad_output = gradient
        if not self.requires_grad:
            raise AutogradError(
                "backward: this tensor does not require gradients (no input had requires_grad=True"
                " or it was computed under no_grad())"
            )
        if self._gradless:  # a view made under no_grad: torch's edge to it is None
            raise AutogradError(_GRADLESS_ROOT.format("backward: this tensor"))
        if grad_output is None:
            if self.data.size != 1:
                raise AutogradError(
                    f"backward: grad_output must be given for a non-scalar tensor of shape "
                    f"{self.shape}"
                )
            data = self.data
            # (a loss, 0-d: one C call; np.ones_like's Python wrapper makes two)
            grad_output = np.array(1, data.dtype) if data.ndim == 0 and type(data) is \
                np.ndarray else np.ones_like(data)
            if _implicit_seed is not None:  # a TorchDispatchMode is shown it (ones_like)
                grad_output = _implicit_seed(self, grad_output)
        else:
            _check_grad_output("backward", grad_output, self.dtype)
            if isinstance(grad_output, Tensor) and (type(grad_output.data) is _MetaArray) != (
                    type(self.data) is _MetaArray):  # torch's device check (the meta device)
                raise RuntimeError(f"invalid gradient at index 0 - expected device "
                                   f"{self.device} but got {grad_output.device}")
            grad_output = np.asarray(
                grad_output.data if isinstance(grad_output, Tensor) else grad_output,
                dtype=self.dtype,
            )
            if grad_output.shape != self.shape:
                raise AutogradError(
                    f"backward: grad_output shape {grad_output.shape} must equal the tensor's "
                    f"shape {self.shape}"
                )

        if inputs is None:
            _backpropagate([self], [grad_output], bool(retain_graph))
        else:
            _backward_into("backward", [self], [grad_output], bool(retain_graph), inputs)

    # ----------------------------------------------------------------- operators
    def __add__(self, other):
        try:
            return _arith.add(self, other)
        except SparseOperandError as error:  # dense + sparse
            return _sparse_reflected(error, other, "__radd__", self)

    def __radd__(self, other):
        return _arith.add(other, self)

    def __sub__(self, other):
        try:
            return _arith.sub(self, other)
        except SparseOperandError as error:
            return _sparse_reflected(error, other, "__rsub__", self)

    def __rsub__(self, other):
        out = _arith.sub(other, self)
        if isinstance(other, Tensor):  # (an explicit x.__rsub__(y): torch's rsub node)
            from dlpy.node_names import named

            named(out, "RsubBackward0")
        return out

    def __mul__(self, other):
        try:
            return _arith.mul(self, other)
        except SparseOperandError as error:
            return _sparse_reflected(error, other, "__rmul__", self)

    def __rmul__(self, other):
        if isinstance(other, (list, tuple, str)):  # [1, 2] * t repeats, as torch's (__index__)
            return NotImplemented
        return _arith.mul(other, self)

    def __truediv__(self, other):
        return _arith.div(self, other)

    def __rtruediv__(self, other):
        if isinstance(other, (int, float, complex, Tensor)):  # torch's rdiv: reciprocal() *
            return _arith.mul(self.reciprocal(), other)  # other (1 / 0j is nan + nanj)
        return _arith.div(other, self)

    def __rdiv__(self, other):  # torch's Python 2 name of __rtruediv__
        return self.__rtruediv__(other)

    def __floordiv__(self, other):
        """torch's ``//``: floor_divide (integers stay integers), zero gradient."""
        return _pointwise.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _pointwise.floor_divide(other, self)

    def __mod__(self, other):
        """torch's ``%``: remainder, the sign of the divisor (Python's)."""
        return _pointwise.remainder(self, other)

    def __rmod__(self, other):
        return _pointwise.remainder(other, self)

    def __lshift__(self, other):
        """torch's ``<<`` and ``>>`` on integer tensors (bitwise_left/right_shift)."""
        return _pointwise.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return _pointwise.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return _pointwise.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return _pointwise.bitwise_right_shift(other, self)

    # Comparisons give a boolean Tensor with no gradient (a mask for where / masked_fill, an
    # accuracy ``(logits.argmax(1) == y).float().mean()``), as PyTorch's. Hashing stays by
    # identity (torch's): tensors are dict keys and set members. ``in``, list.index, remove and
    # count call ==, so the engine finds a tensor in a list with ``is`` or id(), never with them.
    def _compare(self, other, op, float8_kernel: str | None = None) -> Tensor:
        if (type(other) is complex or isinstance(other, Tensor) and other.data.dtype.kind == "c"
                ) and op is not np.equal and op is not np.not_equal:
            raise NoKernelError(f"{op.__name__}: complex numbers have no order; compare .real, "
                                ".imag or .abs()")  # (torch: not implemented for ComplexFloat)
        other_data = other.data if isinstance(other, Tensor) else other
        if float8_kernel is not None and (self.data.itemsize == 1 or getattr(
                other_data, "itemsize", 0) == 1):  # float8 ordered: torch refuses
            _check_float8(float8_kernel, self.data, np.asarray(other_data))
        data = array = self.data  # (array, other_array: the uncast operands lay the result out)
        other_array = other_data
        if type(other) is int and data.dtype.kind in "iu":  # torch's: in self's dtype, wrapped
            other_data = _wrapped_int(other, data.dtype)  # (uint8 > -1 is uint8 > 255)
        elif isinstance(other_data, np.ndarray) and isinstance(other, Tensor) and \
                other_data.dtype != data.dtype and (other_data.dtype.kind in "biuf" or
                                                    other_data.dtype.name == "bfloat16") \
                and (data.dtype.kind in "biuf" or data.dtype.name == "bfloat16"):
            dtype = _promotion.result_type(self, other)  # torch compares in the promoted dtype
            data, other_data = data.astype(dtype, copy=False), other_data.astype(dtype, copy=False)
        try:
            result = _meta.compared(op, data, other_data) if _meta.live() else None
            if result is None:
                result = op(data, other_data)
            if type(array) is np.ndarray and not array.flags.c_contiguous:  # torch's order,
                from dlpy.layouts import iterator_layout  # after the operands as they came

                result = iterator_layout(result, array, other_array)
            return Tensor(result)
        except TypeError:
            if getattr(type(other), "__array_ufunc__", False) is None or \
                    isinstance(other, (str, type(None))):
                return NotImplemented  # a sparse or masked tensor: its reflected comparison;
                # None or a string: Python's TypeError for < (torch's NotImplemented)
            raise
        except ValueError:
            shape = np.shape(other_data)
            try:
                np.broadcast_shapes(self.shape, shape)
            except ValueError:
                raise ShapeError(f"{op.__name__}: the shapes {self.shape} and {shape} do not "
                                 "broadcast together") from None
            raise

    def __eq__(self, other):
        """Element-wise ``==`` (torch.eq): a boolean Tensor without gradient. A Tensor, numpy
        array or number compares; anything else (None, a list, a string) is not equal."""
        if not _comparable(other):
            return NotImplemented  # Python's answer: identity, so t == None is False
        return self._compare(other, np.equal)

    def __ne__(self, other):
        """Element-wise ``!=`` (torch.ne), a boolean Tensor; True for what == is not given."""
        if not _comparable(other):
            return NotImplemented
        return self._compare(other, np.not_equal)

    def __hash__(self) -> int:
        """By identity, as torch's (``hash(t) == id(t)``): == compares values."""
        return id(self)

    def __reduce_ex__(self, protocol):
        """pickle and copy.copy, as torch's: the values (copy.copy's on the same memory),
        requires_grad, name and a subclass's own attributes; not the graph (a recorded tensor
        comes back a leaf), the gradient, the hooks nor the views."""
        reduced = object.__reduce_ex__(self, 2)
        extra, slots = reduced[2]
        extra = _without_gradless(extra)  # (a copy is a leaf of its own, as torch's)
        slots = {name: value for name, value in slots.items() if name not in _GRAPH_SLOTS}
        slots.update(_grad=None, op=None, _hooks=None, _tick=0)
        # a pair (rebuild, its arguments), as torch's, so a subclass's __reduce_ex__ may wrap
        # it: ``build, args = super().__reduce_ex__(proto)`` (geoopt's ManifoldTensor)
        return _rebuild_pickled, (reduced[0], reduced[1], extra, slots)

    def __deepcopy__(self, memo) -> Tensor:
        """copy.deepcopy of a leaf, as torch's: new memory (views copied with one ``memo``
        still share theirs), requires_grad, a deep copy of the gradient and of a subclass's
        own attributes."""
        if self.op is not None:  # torch's type and message
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.  If you were "
                               "attempting to deepcopy a module, this may be because of a "
                               "torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        import copy

        reduced = object.__reduce_ex__(self, 2)
        new = reduced[1][0].__new__(reduced[1][0])
        memo[id(self)] = new
        extra, slots = reduced[2]
        extra = _without_gradless(extra)
        base, copied, data = self._base, None, None
        if base is not None and base.op is None:  # the view of a copy of its base
            copied = copy.deepcopy(base, memo)
            data = _view_like(self.data, base.data, copied.data)
        if data is None:
            data = copy.deepcopy(self.data, memo)
        for name, value in slots.items():
            if name not in _GRAPH_SLOTS and name != "data":
                setattr(new, name, copy.deepcopy(value, memo))
        new.data, new.op, new._hooks, new._tick = data, None, None, 0
        new._grad = copy.deepcopy(self._grad, memo)
        if extra:
            for name, value in extra.items():
                setattr(new, name, copy.deepcopy(value, memo))
        return new  # (sharing the copy's memory, not a view of it for autograd: torch's)

    def __contains__(self, element) -> bool:
        """``element in t``: whether some value equals ``element`` (a number or a Tensor that
        broadcasts), as torch's ``(t == element).any()``."""
        if not isinstance(element, (Tensor, numbers.Number)):
            raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you "
                               f"passed in a {type(element).__name__}")
        return bool(np.any(self._compare(element, np.equal).data))

    def __bool__(self) -> bool:
        """The truth of a one-element tensor (``if loss > 0:``); more or fewer elements are
        ambiguous: ``RuntimeError``, as in PyTorch."""
        if self.data.size != 1:
            raise ambiguous_truth(self.data.size, self.shape)
        if type(self.data) is _MetaArray:
            _meta.refuse_values(self, "bool")
        return bool(self.data.reshape(()))

    def _number(self, name: str):
        if type(self.data) is _MetaArray:
            _meta.refuse_values(self, "item")
        if self.data.size != 1:  # torch's type and message (int, float, complex)
            raise ValueError(f"only one element tensors can be converted to Python scalars, "
                             f"got {name}() of shape {self.shape}")
        return self.data.reshape(()).item()

    def __int__(self) -> int:
        value = self._real_number("int")
        if type(value) is float and value - value != 0 and self.data.dtype.kind == "c":
            raise RuntimeError("int(): value cannot be converted to type int64_t without "
                               "overflow")  # torch's for complex; Python's ValueError for real
        return int(value)

    def __float__(self) -> float:
        if self.requires_grad and _grad_mode[0] and (not _scalar_warned or _warn_always()):
            _warn_scalar_of_grad()
        return float(self._real_number("float"))

    def _real_number(self, name: str):
        value = self._number(name)
        if isinstance(value, complex):  # its real part when it has no imaginary one, as torch
            if value.imag:
                raise RuntimeError(f"{name}(): the complex value {value} has an imaginary "
                                   "part; take .real or .abs() first")
            value = value.real
        return value

    def __complex__(self) -> complex:
        if self.requires_grad and _grad_mode[0] and (not _scalar_warned or _warn_always()):
            _warn_scalar_of_grad()
        return complex(self._number("complex"))

    def __index__(self) -> int:
        """A one-element integer tensor as an index (``range(n)``, ``list[i]``), as torch's;
        numpy then indexes ``array[Tensor([1])]`` as ``array[1]``, as it does with torch's."""
        if self.data.dtype.kind not in "iub" or self.data.size != 1:  # torch's type, message
            raise TypeError(f"only integer tensors of a single element can be converted to an "
                            f"index, got {self.data.dtype} of shape {self.shape}")
        return int(self.data.reshape(()))

    def __lt__(self, other) -> Tensor:
        return self._compare(other, np.less, "lt_cpu")

    def __le__(self, other) -> Tensor:
        return self._compare(other, np.less_equal, "le_cpu")

    def __gt__(self, other) -> Tensor:
        return self._compare(other, np.greater, "gt_cpu")

    def __ge__(self, other) -> Tensor:
        return self._compare(other, np.greater_equal, "ge_cpu")

    def __neg__(self):
        return _arith.neg(self)

    def __pos__(self):
        """``+t``: torch.positive, the tensor itself (a bool tensor is refused)."""
        return self.positive()

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or np.ndim(exponent):
            return _pointwise.pow(self, exponent)  # a tensor exponent, broadcast as torch.pow
        return _arith.power(self, exponent)

    def __rpow__(self, base):
        """number ** tensor (torch.pow with a number base)."""
        return _pointwise.pow(base, self)

    def __matmul__(self, other):
        try:
            return _matmul.matmul(self, other)
        except SparseOperandError as error:
            return _sparse_reflected(error, other, "__rmatmul__", self)

    def __rmatmul__(self, other):
        return _matmul.matmul(other, self)

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    # ----------------------------------------------------------------- methods
    def exp(self):
        return _arith.exp(self)

    def abs(self):
        return _arith.abs(self)

    def __abs__(self):
        return _arith.abs(self)

    def log(self):
        return _arith.log(self)

    def sqrt(self):
        return _arith.sqrt(self)

    def relu(self):
        return _activation.relu(self)

    def sigmoid(self):
        return _activation.sigmoid(self)

    def tanh(self):
        return _activation.tanh(self)

    def sum(self, axis=None, keepdims=None, *, dim=None, keepdim=None, dtype=None):
        """The sum over axis or axes (None: every axis); PyTorch's dim/keepdim also work, and
        its dtype= (self cast to it first)."""
        return _reduce.sum(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)

    def mean(self, axis=None, keepdims=None, *, dim=None, keepdim=None, dtype=None):
        return _reduce.mean(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None, other=None):
        """PyTorch's: x.max() the value, x.max(1) / max(dim=1) / max(axis=1) (values,
        indices); x.max(other=y) the element-wise maximum: see ``dlpy.functional.max``."""
        return _reduce.max(self, dim, keepdim, axis=axis, keepdims=keepdims, other=other)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None, other=None):
        return _reduce.min(self, dim, keepdim, axis=axis, keepdims=keepdims, other=other)

    def logsumexp(self, axis=None, keepdims=None, *, dim=None, keepdim=None):
        return _reduce.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, *legacy, keepdims=None, correction=None, unbiased=None, dim=None,
            keepdim=None):
        """Variance with PyTorch's ``correction`` (default 1) or ``unbiased``."""
        return _reduce.var(self, axis, *legacy, keepdims=keepdims, correction=correction,
                           unbiased=unbiased, dim=dim, keepdim=keepdim)

    def std(self, axis=None, *legacy, keepdims=None, correction=None, unbiased=None, dim=None,
            keepdim=None):
        return _reduce.std(self, axis, *legacy, keepdims=keepdims, correction=correction,
                           unbiased=unbiased, dim=dim, keepdim=keepdim)

    def argmax(self, axis=None, keepdims=None, *, dim=None, keepdim=None) -> Tensor:
        """The index of the (first) largest value over axis (None: of the flattened tensor), as
        an int64 Tensor (no gradient), as torch's."""
        return self._arg_extreme("argmax", np.argmax, axis, keepdims, dim, keepdim)

    def argmin(self, axis=None, keepdims=None, *, dim=None, keepdim=None) -> Tensor:
        """The index of the (first) smallest value, as ``argmax``."""
        return self._arg_extreme("argmin", np.argmin, axis, keepdims, dim, keepdim)

    @_meta.follows  # (the indices come from numpy, not an Op)
    def _arg_extreme(self, name: str, find, axis, keepdims, dim, keepdim) -> Tensor:
        axis, keepdims = _reduce.resolve_axis(name, axis, dim, keepdims, keepdim)
        if axis is not None:
            axis = _check_dim(name, axis, self.data.ndim, scalar_ok=True)
            if not self.data.ndim:  # a scalar's one pseudo-axis is the whole tensor
                axis = None
        if self.data.itemsize == 1:  # float8 and bool: torch refuses
            if self.data.dtype.kind == "b":
                raise ArgDtypeError(f"{name}: bool tensors are not supported, as torch's")
            _check_float8(f"{name}_cpu", self.data)
        found = _meta.positions(self.data, axis, keepdims)
        try:
            if found is None:
                found = find(self.data, axis=axis, keepdims=keepdims)
        except ValueError:  # an empty axis: torch's IndexError
            raise EmptyDimError(f"{name}: cannot take the {name} over an empty axis of shape "
                                f"{self.shape}") from None
        return Tensor(np.asarray(found, dtype=np.int64))

    # PyTorch's method names for what dlpy already has (no new gradients)
    def amax(self, axis=None, keepdims=None, *, dim=None, keepdim=None):
        """The max over axis or axes, values only, ties sharing the gradient (torch.amax)."""
        return _reduce.amax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def amin(self, axis=None, keepdims=None, *, dim=None, keepdim=None):
        return _reduce.amin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def norm(self, p=2, axis=None, keepdims=None, dtype=None, *, dim=None, keepdim=None):
        """The p-norm over axis (None: every axis), as torch.Tensor.norm: p a number, "fro"
        (a vector's 2-norm over at most two axes) or "nuc" (a matrix norm); dtype as torch's
        (the fourth argument there too)."""
        return _reduce.norm(self, p, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype)

    def all(self, axis=None, keepdims=None, *, dim=None, keepdim=None) -> Tensor:
        """Whether every value is nonzero (over axis), a boolean Tensor without gradient."""
        axis, keepdims = _reduce.resolve_axis("all", axis, dim, keepdims, keepdim)
        axes = () if isinstance(axis, (tuple, list)) and not axis else \
            _reduce._normalize_axis("all", axis, self.ndim)  # (all(dim=()): x != 0)
        out = row_major(np.all(self.data, axis=axes, keepdims=keepdims))  # (torch's layout)
        return Tensor(out.astype(np.uint8) if self.data.dtype == np.uint8 else out)  # (torch's)

    def any(self, axis=None, keepdims=None, *, dim=None, keepdim=None) -> Tensor:
        """Whether some value is nonzero (over axis), a boolean Tensor without gradient."""
        axis, keepdims = _reduce.resolve_axis("any", axis, dim, keepdims, keepdim)
        axes = () if isinstance(axis, (tuple, list)) and not axis else \
            _reduce._normalize_axis("any", axis, self.ndim)  # (any(dim=()): x != 0)
        out = row_major(np.any(self.data, axis=axes, keepdims=keepdims))  # (torch's layout)
        return Tensor(out.astype(np.uint8) if self.data.dtype == np.uint8 else out)  # (torch's)

    def isnan(self) -> Tensor:
        return self._test(np.isnan)

    def isinf(self) -> Tensor:
        return self._test(np.isinf)

    def isfinite(self) -> Tensor:
        return self._test(np.isfinite)

    def _test(self, test) -> Tensor:
        """A bool tensor of ``test`` (a numpy ufunc) on the values, laid out as this tensor
        (torch's element-wise order: an expanded one's too)."""
        data = self.data
        result = test(data)
        if type(data) is np.ndarray and not data.flags.c_contiguous:
            from dlpy.layouts import iterator_layout

            result = iterator_layout(result, data)
        return Tensor(result)

    def eq(self, other) -> Tensor:
        """Element-wise ``==`` as a boolean mask (the operator's); a Tensor or number only."""
        if not _comparable(other):
            raise _compare_type_error("eq", other)
        return self._compare(other, np.equal)

    def ne(self, other) -> Tensor:
        if not _comparable(other):
            raise _compare_type_error("ne", other)
        return self._compare(other, np.not_equal)

    def add(self, other, *more, alpha=1):
        """self + alpha * other (torch's deprecated ``add(alpha, other)`` too)."""
        if more:
            (other,), alpha = _pointwise.number_first("add", (other,), more, alpha, "alpha")
        return _arith.add(self, other, alpha=alpha)

    def sub(self, other, *more, alpha=1):
        """self - alpha * other (torch's deprecated ``sub(alpha, other)`` too)."""
        if more:
            (other,), alpha = _pointwise.number_first("sub", (other,), more, alpha, "alpha")
        return _arith.sub(self, other, alpha=alpha)

    def mul(self, other):
        return _arith.mul(self, other)

    def div(self, other, *, rounding_mode: str | None = None):
        """self / other; ``rounding_mode`` "trunc" or "floor" rounds the quotient (zero
        gradient, as PyTorch's; integers stay integers)."""
        return _arith.div(self, other) if rounding_mode is None else _rounded_div(
            self, other, rounding_mode)

    def matmul(self, other):
        return _matmul.matmul(self, other)

    def pow(self, exponent):
        """self ** exponent, a number or a tensor (broadcast)."""
        return self ** exponent

    def square(self):
        return _arith.power(self, 2)

    def neg(self):
        return _arith.neg(self)

    def reciprocal(self):
        """1 / self; an integer tensor gives the default float dtype, as torch's."""
        kind = self.data.dtype.kind
        from dlpy.node_names import named

        if kind == "c":  # 1 / 0j is inf + nanj, as torch's (numpy's power gives nan + nanj)
            return named(_arith.div(1, self), "ReciprocalBackward0")
        x = self if kind not in "biu" else _arith.cast(self, default_dtype())
        return named(_arith.reciprocal(x), "ReciprocalBackward0")

    def rsqrt(self):
        from dlpy.node_names import named

        return named(_arith.rsqrt(self), "RsqrtBackward0")

    def masked_fill(self, mask, value):
        """self with ``value`` wherever ``mask`` (broadcast to self's shape) is True."""
        return _mask.masked_fill(self, mask, value)

    def t(self):
        """The transpose of a tensor with at most 2 axes (one with fewer is itself)."""
        if self.ndim > 2:
            raise ShapeError(f"t: expected a tensor with at most 2 axes, got shape {self.shape}"
                             "; use transpose(...) or mT")
        return _shape._permute("t", self, None, "TBackward0")

    @property
    def mT(self):  # noqa: N802 - PyTorch's name
        """The last two axes swapped (a batch of matrices transposed); a 0-D tensor is itself
        (as torch, which warns that this is deprecated)."""
        if self.ndim < 2:
            if self.ndim == 0:
                return self
            raise ShapeError(f"mT: expected a tensor with at least 2 axes, got shape "
                             f"{self.shape}")
        return _shape.swapaxes(self, -2, -1)

    def clone(self, *, memory_format=None):
        """A copy whose gradient flows back to this tensor (an identity op); its memory in
        this tensor's order (``preserve_format``, torch's default), or ``memory_format``'s."""
        out = _arith.identity(self)
        if out._gradless:  # (made under no_grad as a view, now a copy: no view, no grad)
            del out.__dict__["_gradless"]
            out.requires_grad = False
        if type(self.data) is not np.ndarray or _dense_memory(self.data):  # (vmap's stand-ins)
            out.data = self.data.copy(order="K")  # a copy: fill_ on one leaves the other alone
            if type(self.data) is np.ndarray and out.data.strides != self.data.strides \
                    and self.data.size:  # a size-1 axis's stride too: torch's empty_strided
                from dlpy.layouts import torch_strides, with_strides

                out.data = with_strides(self.data, torch_strides(self.data))
        else:  # overlapping (expanded) or with gaps: dense strides in this tensor's axis order
            from dlpy.layouts import dense_like

            out.data = dense_like(self.data)
            out.data[...] = self.data
        if memory_format is not None:
            from dlpy.layouts import _checked, laid_out

            fmt = _checked("clone", memory_format, self.ndim)
            if type(out.data) in (np.ndarray, _MetaArray):  # (vmap's stand-ins keep theirs)
                out.data = laid_out(out.data, fmt)
        if _inference_depth[0]:  # memory of its own: an inference tensor, as torch's
            out._inference = True  # (the identity op saw a view of this tensor's memory)
            _inference_made[0] = True
        return out

    def contiguous(self, memory_format=None):
        """The tensor itself when its memory is row-major (or in ``memory_format``'s order:
        ``dlpy.channels_last``, ...), else a recorded copy that is, as torch's."""
        if memory_format is None and self.data.flags.c_contiguous:
            return self
        from dlpy.layouts import contiguous_format, preserve_format, to_format

        if memory_format is preserve_format and not self.is_contiguous():
            # torch's: itself when row-major (is_contiguous(preserve_format) is the plain
            # test), else its refusal to copy
            raise RuntimeError("preserve memory format is unsupported by the contiguous "
                               "operator")

        return to_format(self, contiguous_format if memory_format is None else memory_format,
                         "contiguous")

    def dim(self) -> int:
        """The number of axes (``ndim``)."""
        return self.data.ndim

    def nelement(self) -> int:
        return self.data.size

    def expand_as(self, other):
        """self broadcast to other's shape (a copy); the gradient is summed back."""
        return _rearrange.expand_as(self, other)

    def view_as(self, other):
        return self.view(np.shape(other.data if isinstance(other, Tensor) else other))

    def reshape_as(self, other):
        return self.reshape(np.shape(other.data if isinstance(other, Tensor) else other))

    def type_as(self, other):
        """This tensor cast to other's dtype (itself when the dtype is the same, as torch's),
        on other's device when that is meta."""
        if type(getattr(other, "data", None)) is _MetaArray and type(self.data) is not _MetaArray:
            return self.to(device="meta", dtype=other.dtype)
        return self.to(other.dtype)  # (torch's: to an integer dtype, no gradient)

    def _new_device(self, name: str, device, pin_memory, layout) -> str:
        """Where ``new_*`` makes its tensor: ``device``, else this tensor's ("meta" or
        "cpu", never the default device, as torch's)."""
        from dlpy.device import MetaArray, wants_meta

        meta = wants_meta(device) if device is not None else type(self.data) is MetaArray
        _creation._place(name, None if meta else device, pin_memory, layout)
        return "meta" if meta else "cpu"

    def _new_placed(self, out: Tensor, device) -> Tensor:
        """``out`` of ``new_*``: made fake (inside a FakeTensorMode), it goes on ``device``,
        else on this tensor's device (a FakeTensor's fake device: a fake CPU tensor's
        ``new_zeros`` is a fake CPU one though its array is a meta array)."""
        if _meta._fake[0] is not None:
            _meta._fake[0].placed(out, self.device if device is None else device)
        return out

    def new_zeros(self, *sizes, dtype=None, requires_grad: bool = False, device=None,
                  pin_memory: bool = False, layout=None, size=None) -> Tensor:
        """Zeros of this tensor's dtype (or ``dtype``), as torch's (``device``: the CPU)."""
        where = self._new_device("new_zeros", device, pin_memory, layout)
        dtype = self.dtype if dtype is None else dtype
        return self._new_placed(_creation.zeros(*sizes, dtype=dtype, requires_grad=requires_grad,
                                               size=size, device=where), device)

    def new_ones(self, *sizes, dtype=None, requires_grad: bool = False, device=None,
                 pin_memory: bool = False, layout=None, size=None) -> Tensor:
        where = self._new_device("new_ones", device, pin_memory, layout)
        dtype = self.dtype if dtype is None else dtype
        return self._new_placed(_creation.ones(*sizes, dtype=dtype, requires_grad=requires_grad,
                                               size=size, device=where), device)

    def new_full(self, size, fill_value, *, dtype=None, requires_grad: bool = False,
                 device=None, pin_memory: bool = False, layout=None) -> Tensor:
        where = self._new_device("new_full", device, pin_memory, layout)
        if isinstance(size, (int, np.integer)):  # torch's: new_full((2,), v), not new_full(2, v)
            raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, "
                            f"not {type(size).__name__}")
        return self._new_placed(_creation.full(
            size, fill_value, dtype=self.dtype if dtype is None else dtype,
            requires_grad=requires_grad, device=where), device)

    def new_tensor(self, data, dtype=None, requires_grad: bool = False, *, device=None,
                   pin_memory: bool = False, layout=None) -> Tensor:
        """A copy of ``data`` of this tensor's dtype (or ``dtype``), converted as
        torch.tensor's (a tensor given warns, as torch's; the copy is detached)."""
        where = self._new_device("new_tensor", device, pin_memory, layout)
        return self._new_placed(_creation.tensor(
            data, self.dtype if dtype is None else dtype, requires_grad, device=where), device)

    # ----------------------------------------------------------------- in place
    # PyTorch's rules. A tensor no recorded op produced changes its array in place (views and
    # detach()ed tensors of it see the change); a leaf that requires grad only under no_grad.
    # While recording, a tensor a recorded op produced (or one given a value that requires
    # grad) is rebased instead: it keeps its identity but gets a new array and a new op whose
    # input is a stand-in holding the old array and op, so no array an op saved is overwritten.
    # Every change bumps the version the reverse pass checks (see _check_versions).
    @property
    def _version(self) -> int:
        """How many times this tensor's memory was changed in place (PyTorch's ``t._version``),
        shared with its views and detach()ed copies."""
        if _inference_made[0] and getattr(self, "_inference", False) is True:
            raise RuntimeError("Inference tensors do not track version counter.")
        entry = _marks.get(id(_buffer(self.data)))
        return 0 if entry is None else entry[0]

    @property
    def _base(self) -> Tensor | None:
        """The tensor whose memory this view reads (torch's ``_base``: the first tensor of a
        chain of views), or None when this is not a view made by an op."""
        base = getattr(self, "_view_of", None)
        return base if base is not None and _buffer(base.data) is _buffer(self.data) else None

    def _is_view(self) -> bool:
        return self._base is not None

    @property
    def _cdata(self) -> int:
        """An int naming this tensor object (torch's address of its C++ tensor): libraries
        compare it to tell whether two references are the same tensor (pyro's ``module``)."""
        return id(self)

    def _outside_inference_mode(self) -> bool:
        """Whether this is an inference tensor and no inference_mode block is open: torch
        refuses changing it in place."""
        return (_inference_made[0] and not _inference_depth[0]
                and getattr(self, "_inference", False) is True)

    def _check_in_place(self, name: str) -> None:
        if self._outside_inference_mode():
            raise RuntimeError(
                f"{name}: Inplace update to inference tensor outside InferenceMode is not "
                "allowed.You can make a clone to get a normal tensor before doing inplace "
                "update.See https://github.com/pytorch/rfcs/pull/17 for more details.")
        if self.requires_grad and self.op is None and _grad_enabled:
            if getattr(self, "_no_grad_view", 0) is True:  # (one made under no_grad: torch's)
                raise RuntimeError(f"{name}: A view was created in no_grad mode and "
                                   f"{_NO_GRAD_VIEW}")
            raise RuntimeError(f"{name}: a leaf tensor that requires grad can be changed in "
                               "place only under dlpy.no_grad(), as in PyTorch (its gradient "
                               "would be that of a value it no longer holds); torch: a leaf "
                               "Variable that requires grad is being used in an in-place "
                               "operation.")

    def _check_distinct(self, name: str) -> None:
        """_in_place's refusal of an expand()ed tensor (or overlapping windows), for the random
        fills to check before they draw: torch's TensorIterator refuses it before its kernel
        runs, the generator untouched."""
        base = getattr(self, "_view_of", None)
        if base is not None and type(self.data) is np.ndarray \
                and _buffer(base.data) is _buffer(self.data) and not self.data.flags.writeable \
                and base.data.flags.writeable and _views.repeats_elements(self.data):
            raise _internal_overlap_error(name)

    def _in_place(self, name: str, compute, *operands, cast: str = "same_kind",
                  view_ok: bool = False, write=None, reshape: bool = False,
                  written=None) -> Tensor:
        """self <- compute(self, *operands), a Tensor computed by dlpy's ops, in place; returns
        self. The result keeps self's shape and is cast to its dtype (numpy's ``cast`` rule).
        ``write(array)``, when given, writes the new values straight into self's array when
        nothing is recorded (an O(slice) setitem). ``view_ok``: rebase a tensor whose array is
        a view of its op's input (``x[i] += 1``: Python writes it back with setitem).
        ``reshape``: the result may change the shape (unsqueeze_, t_): self takes its array
        (a view of the same memory when nothing is recorded) instead of writing into it.
        ``written()``, for the ops torch lets write into an expanded tensor with a deprecation
        warning (index_put_, masked_fill_, index_fill_): a bool array of self's shape, the
        elements the op writes."""
        if self._outside_inference_mode():  # torch's kernel writes, then the version counter
            with inference_mode():  # it bumps refuses the inference tensor: written, refused
                self._in_place(name, compute, *operands, cast=cast, view_ok=view_ok,
                               write=write, reshape=reshape, written=written)
        self._check_in_place(name)
        if type(self.data) is _MetaArray or any(_meta.holds_meta(o) for o in operands):
            return _meta.in_place(self, name, compute, operands, reshape, cast)
        if _before_in_place is not None:  # allow_mutation_on_saved_tensors: keep the old values
            _before_in_place(self)
        base = getattr(self, "_view_of", None)
        if base is not None and _buffer(base.data) is not _buffer(self.data):
            base = None  # (its base took another array)
        if reshape:  # new metadata over the same memory: nothing is written
            return self._in_place_reshape(name, compute, operands, base)
        if name not in _OVERLAP_OK and type(self.data) is np.ndarray:
            for operand in operands:  # torch's refusal of an input that partly overlaps self
                array = getattr(operand, "data", None)  # (buf[:-1].add_(buf[1:]))
                if type(array) is np.ndarray and array.size and np.may_share_memory(
                        array, self.data):
                    _check_partial_overlap(name, self.data, array)
        # the tensor whose memory a read-only array reads, written through below: the base,
        # or what a detach() of an expanded view was taken from (torch's shares the storage)
        memory = _written_memory(self, base)
        # expand()ed (or overlapping windows): torch refuses all but filling with one value,
        # unrecorded
        expanded = (memory is not None and not self.data.flags.writeable
                    and memory.data.flags.writeable and _views.repeats_elements(self.data))
        if memory is not None and not expanded and not self.data.flags.writeable \
                and memory.data.flags.writeable:
            # a view of an expanded or unfolded tensor whose own elements are distinct
            # (``e[0]`` of ``b.expand(3, 4)``): written through to its base's memory, as torch's
            try:
                self.data.flags.writeable = True
            except ValueError:  # (a window of unfold: numpy keeps it read-only)
                alias = _writable_alias(self.data, _buffer(memory.data))
                if alias is not None:
                    self.data = alias
        recording = _grad_enabled and (self.requires_grad or any(
            isinstance(o, Tensor) and o.requires_grad for o in operands))
        if expanded and (recording or (name not in ("fill_", "zero_") and written is None)):
            raise _internal_overlap_error(name)
        if _dual_in_place is not None:  # forward-mode AD: the tangent follows the new value
            tracked = _dual_in_place(self, compute, operands)
            if tracked is not None:
                compute, write = tracked, None
        self._check_changeable(name, base, recording)
        if recording:
            if base is not None and not reshape and self.data.flags.writeable:
                self._rebase_view(name, base, compute, operands, cast)
            else:
                self._rebase(name, compute, operands, cast, view_ok, reshape)
            return self
        if expanded and written is not None:  # torch's deprecated writes: warned, then each
            _warn_expanded(name)  # written element lands in the base's memory
            array = compute(self, *operands).data
            _check_store(name, array.dtype, self.dtype, cast)
            changes = None
            if getattr(written, "accumulate", False):  # each element's sum of what is put
                changes = compute(Tensor(np.zeros(self.shape, self.data.dtype)), *operands).data
            _write_expanded(memory, self.data, array, written(), changes)
            return self
        if expanded:  # filled through its base's memory
            memory.data.flat[_views.positions(memory.data, self.data)] = compute(
                self, *operands).data
            _bump(memory.data)
            return self
        if not self.data.flags.writeable:  # a read-only array: the tensor gets one of its own
            if memory is not None and self.data.size == 0:  # (an empty view of an expanded
                compute(self, *operands)  # tensor: checked, nothing written, the version
                _bump(memory.data)  # counted, as torch's)
                return self
            if memory is not None and memory.data.flags.writeable:  # (never a view's copy)
                raise RuntimeError(f"{name}: cannot write through this view into its base's "
                                   "memory; clone() the tensor before changing it")
            self.data = self.data.copy()
        if write is not None:
            write(self.data)
        elif reshape:
            self.data = compute(self, *operands).data
        else:
            array = compute(self, *operands).data
            if not isinstance(array, np.ndarray):
                _check_not_batched(name, array)
            if array.shape != self.shape:
                raise _in_place_shape_error(name, self.shape, array.shape)
            _check_store(name, array.dtype, self.dtype, cast)
            if array.dtype.kind == "c" and self.data.dtype.kind not in "cb":  # (copy_, fill_)
                from dlpy.ops.arithmetic import warn_discarding_imaginary

                if array.size:  # torch's warning, not numpy's ComplexWarning
                    warn_discarding_imaginary()
                array = array.real
            self.data[...] = _storable(array, self.data.dtype)
        _bump(self.data)
        return self

    def _check_changeable(self, name: str, base, recording: bool) -> None:
        """torch's refusals of an in-place change of this tensor (a view of ``base``, or None):
        views made under no_grad or of pieces of split/unbind, and while recording, outputs
        whose op refuses it (torch's messages)."""
        if base is not None and _grad_enabled:
            _check_view_in_place(name, self, base, recording)
        if recording:
            refusal = getattr(self.op, "refuses_in_place", None)
            if refusal is not None:
                if refusal.startswith("Output"):
                    raise RuntimeError(f"{name}: {refusal}")
                raise RuntimeError(f"{name}: this output of {self.op.describe()} {refusal}")

    def _in_place_reshape(self, name: str, compute, operands, base) -> Tensor:
        """``_in_place`` of a shape op (squeeze_, t_, as_strided_...): self takes new sizes and
        strides over the same memory, as torch's; its views keep sharing it, the version goes
        up (ops that saved self refuse their backward, as torch's), and a view stays a view of
        its base (recorded as the view op of its old value)."""
        if _dual_in_place is not None:  # forward-mode AD: the tangent takes the new shape
            tracked = _dual_in_place(self, compute, operands)
            if tracked is not None:
                compute = tracked
        recording = _grad_enabled and self.requires_grad
        self._check_changeable(name, base, recording)
        if recording and base is not None and base.requires_grad and base.op is None:
            raise RuntimeError(f"{name}: " + _VIEW_OF_LEAF)  # (new metadata too, as torch's)
        if recording:
            self._rebase(name, compute, operands, "unsafe", True, reshape=True)
            return self
        self.data = compute(self, *operands).data
        _bump(self.data)
        return self

    def _rebase(self, name: str, compute, operands, cast: str, view_ok: bool,
                reshape: bool = False) -> Tensor:
        """``_in_place`` while recording: self takes compute(stand-in, *operands)'s value and
        op, the stand-in a copy of the old value with the old op and hooks (PyTorch's hooks
        registered before an in-place change see the old value's gradient). The new value is
        written into self's own array, so views of it (and detach()ed tensors) see it, as
        torch's; views made by recorded ops are re-made from self (_remake_views)."""
        op = self.op
        if op is not None and not view_ok:
            buffer, own = _buffer(self.data), _stand_ins.get(op)  # (own: self before a t_())
            if any(_buffer(t.data) is buffer and t is not own for t in op.inputs):
                raise RuntimeError(
                    f"{name}: this tensor is a view of the input of {op.describe()}; dlpy cannot "
                    "change both in place while recording, as PyTorch does. Use clone() first, "
                    "or assign through the tensor it views (x[index] = ...)")
        # in place in self's array unless it changes shape (t_, unsqueeze_) or is read-only
        overwrite = not reshape and self.data.flags.writeable
        buffer = _buffer(self.data)
        old = Tensor.__new__(Tensor)
        old.data = self.data.copy() if overwrite else self.data
        old._grad, old.requires_grad = None, self.requires_grad
        old.op, old.name, old._hooks = op, self.name, self._hooks
        kept = None  # retain_grad's hook follows the new value, the others stay, as torch's
        if self._hooks and op is not None:
            kept = {k: h for k, h in self._hooks.items() if getattr(h, "retains_grad", False)}
            for k in kept:
                del old._hooks[k]
        old._tick = self._tick if op is not None else 0
        _complex.mark(old)  # complex data: a ComplexTensor, so ops admit it as one
        if overwrite and op is not None:  # arrays of self's memory its op kept (LayerNorm's
            state = op.__dict__  # xhat is its output without an affine part) keep the old values
            for key, held in state.items():
                if type(held) is np.ndarray and _buffer(held) is buffer:
                    state[key] = old.data if held is self.data else held.copy()
        version = self._version
        aliased = any(isinstance(o, Tensor) and _buffer(o.data) is buffer
                      for o in operands)  # y.mul_(y), y.mul_(y[0]): an operand is (a view of) self
        # the old value is superseded now (as torch's shared version counter): ops recorded
        # before that read it, or a view of its memory, refuse; those computing the new value
        # (recorded after this mark) do not
        _bump(old.data)
        value = compute(old, *operands)
        if not isinstance(value.data, np.ndarray):
            _check_not_batched(name, value.data)
        if value.shape != self.shape and not reshape:
            raise _in_place_shape_error(name, self.shape, value.shape)
        if value.dtype != self.dtype:
            _check_store(name, value.dtype, self.dtype, cast)
            value = _arith.cast(value, self.dtype)
        if op is not None:  # ops in the new value's history that used self ran on the old value
            _redirect(value, self, old, self._tick)
        data = value.data
        if overwrite:
            if data is not self.data:
                self.data[...] = data
            data = self.data
        elif reshape and _buffer(data) is buffer:  # a shape op: the same memory, a new view
            data = data.view() if data is old.data else data
        elif data.base is not None or data is old.data or (
                value.op is not None and any(data is t.data for t in value.op.inputs)):
            data = data.copy()  # an array of its own: marking it must mark no other's
        self.data, self.op, self.requires_grad, self._hooks = (data, value.op,
                                                               value.requires_grad, kept or None)
        _bump(data, version)
        if value.op is not None:  # its output's change came with it, not after it
            self._tick = value._tick = _clock
            _stand_ins[value.op] = old  # ops recorded before read old (see _check_versions)
            if aliased:  # torch's op overwrote the operand it saved: backward refuses
                _bump(old.data)
                _bump(data, version)
            if overwrite:
                self._remake_views(old)
        return old

    def _rebase_view(self, name: str, base: Tensor, compute, operands, cast: str) -> None:
        """``_in_place`` while recording on a view of ``base``: base is rebased to its old value
        with this view's elements replaced by compute(old view, *operands) (torch's
        CopySlices), and its views, self among them, are re-made from its new value."""
        if base.requires_grad and base.op is None:
            raise RuntimeError(
                f"{name}: " + _VIEW_OF_LEAF)
        where, pairs = _views.positions(base.data, self.data), None
        if where is None and base.dtype.kind == "c" and self.dtype == _complex.real_dtype(
                base.dtype):  # z.real, z.imag, view_as_real(z): base's memory as (..., 2) reals
            pairs = base.data[..., None].view(self.dtype)
            where = _views.positions(pairs, self.data)
        if where is None:
            raise RuntimeError(
                f"{name}: this tensor reads its base's memory as {self.dtype} (the base is "
                f"{base.dtype}); dlpy cannot record an in-place change through such a view. "
                "Use clone() first")
        shape, dtype = self.shape, self.dtype
        made = []

        def through(old_base, *operands):
            source = old_base if pairs is None else _complex.view_as_real(old_base)
            old = source.reshape(-1)[where]
            value = compute(old, *operands)
            if value.op is not None and any(t is old for t in value.op.inputs):
                made.append(value)  # an op of the view's old values: its result is the view
            if value.shape != shape:
                raise _in_place_shape_error(name, shape, value.shape)
            if value.dtype != dtype:
                _check_store(name, value.dtype, dtype, cast)
                value = _arith.cast(value, dtype)
            # base's array still holds the old values (old_base has a copy): only the view's
            # positions are written
            copy = _views.CopySlices if pairs is None else _views.ComplexCopySlices
            return copy(where, into)(old_base, value)

        into = base.data if base.data.flags.writeable else None
        base._rebase(name, through, operands, "unsafe", True)
        if made and made[0].shape == shape and _buffer(self.data) is _buffer(base.data):
            # torch's node of the change saved the view itself where it saves its result
            # (exp_, sigmoid_...): a later change of the base's memory makes its backward
            # refuse, as torch's; its backward reads the values it kept
            made[0]._version_of = (self.data, _clock)
        if type(self.op) is not _views.ViewOfBase or self.op.inputs[0] is not base:
            stand_in = base._remake_view(self)  # not among base's views (_note_view): re-made
            if stand_in is not None and stand_in.requires_grad:
                _redirect(base, self, stand_in, stand_in._tick)

    def _remake_views(self, old: Tensor) -> None:
        """After self changed in place (its array written, ``old`` the stand-in of its previous
        value), each live view of self takes its values' new op: a ViewOfBase of self (torch's
        AsStridedBackward0), with a stand-in holding its previous op for the ops that used it
        before (see _check_versions)."""
        refs = getattr(self, "_views", None)
        if not refs:
            return
        alive, buffer, stand_ins, since = [], _buffer(self.data), {}, _clock
        for ref in tuple(refs):
            view = ref()
            if view is None:
                continue
            alive.append(ref)
            if getattr(view, "_view_of", None) is self and _buffer(view.data) is buffer:
                stand_in = self._remake_view(view)
                if stand_in is not None and stand_in.requires_grad:  # (else no gradient to route)
                    stand_ins[id(view)] = stand_in
                    since = min(since, stand_in._tick)
        self._views = alive
        if stand_ins:  # self's new history used the views' old values
            _redirect_all(self, stand_ins, since)

    def _remake_view(self, view: Tensor) -> Tensor | None:
        """``view`` re-made from self (see _remake_views); returns its stand-in."""
        if view.dtype != self.dtype:
            if self.dtype.kind == "c" and view.dtype == _complex.real_dtype(self.dtype):
                # z.real, z.imag, view_as_real(z): re-made from view_as_real(z), a view of
                # self's memory kept out of self's views (it is never changed in place)
                pairs = _complex.view_as_real(self)
                pairs._view_of = None
                views = getattr(self, "_views", None)
                if views and views[-1]() is pairs:
                    views.pop()
                return pairs._remake_view(view)
            return None  # another dtype's view: left on its old history
        # the stand-in's values are never read (a view op's backward reads none, and ops that
        # read the view's old value refuse): a zero broadcast to its shape stands for them
        stand_in = Tensor.__new__(Tensor)
        stand_in.data = np.broadcast_to(np.zeros((), view.dtype), view.shape)
        stand_in._grad, stand_in.requires_grad = None, view.requires_grad
        stand_in.op, stand_in.name, stand_in._hooks = view.op, view.name, view._hooks
        stand_in._tick = getattr(view, "_tick", 0) if view.op is not None else 0
        stale = _stale_view(view, recorded=True)  # (read before view.op changes)
        op = _views.ViewOfBase(self.data, view.data)  # recorded by hand: view keeps its array
        op.inputs, op._seq = (self, stand_in), next(_sequence)
        if stale is not None:  # torch's: its node cannot be re-made; using it is refused
            op.stale, op.refuses_in_place = stale
            _stale_made[0] = True
        kept = None  # retain_grad's hook follows the new value, the others stay, as torch's
        if view._hooks:
            kept = {k: h for k, h in view._hooks.items() if getattr(h, "retains_grad", False)}
            if kept:
                stand_in._hooks = {k: h for k, h in view._hooks.items() if k not in kept} or None
        view.op, view.requires_grad, view._hooks, view._tick = op, True, kept or None, _clock
        _stand_ins[op] = stand_in
        _bump(stand_in.data)  # the view's old value changed: ops that read it refuse, as torch's
        return stand_in

    def _source(self, name: str, what: str, value) -> Tensor:
        """``value`` (a Tensor, array or number) as a Tensor that broadcasts to self's shape."""
        if value is None or isinstance(value, str):  # (numpy's object array else)
            raise TypeError(f"{name}(): argument '{what}' must be Tensor, not "
                            f"{type(value).__name__}")
        if not isinstance(value, Tensor):
            value = Tensor(np.asarray(value))
        try:
            fits = np.broadcast_shapes(value.shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:  # torch's RuntimeError
            raise ShapeError(f"{name}: {what} of shape {value.shape} does not broadcast to the "
                             f"tensor's shape {self.shape}")
        return value

    def copy_(self, other, non_blocking: bool = False) -> Tensor:
        """This tensor's values replaced by ``other`` (the source: a Tensor, array or number;
        torch's Tensor.copy_ names it ``other``) broadcast to its shape and cast to its dtype,
        in place (the gradient reaches it, as torch's, unless this tensor's dtype cannot hold
        one). ``non_blocking``: accepted (CPU only)."""
        if other is self and not self.requires_grad and type(self.data) is np.ndarray \
                and not getattr(self, "_inference", False):
            # torch's copy_ skips a tensor copied onto itself (an expanded one too, which a
            # copy would refuse); the in-place call still counts a version
            _bump(self.data)
            return self
        src = self._source("copy_", "src", other)
        if isinstance(self.data, np.ndarray) and not isinstance(src.data, np.ndarray):
            _check_not_batched("copy_", src.data)  # a batched src into an unbatched tensor
        if src.data.size and self.data.size and np.may_share_memory(src.data, self.data):
            _check_partial_overlap("copy_", self.data, src.data)
        if src.requires_grad and self.data.dtype.kind not in "fc" \
                and self.data.dtype.name != "bfloat16":
            src = src.detach()  # an int/bool tensor cannot require grad: torch's copy is plain
        elif src.requires_grad and src.data.dtype != self.data.dtype and \
                is_floating_dtype(src.data.dtype) and is_floating_dtype(self.data.dtype):
            src = src.to(self.dtype)  # cast first: the copy is the last node (CopyBackwards)
        return _fill_named(self._in_place("copy_", _filled, src, cast="unsafe"),
                           "torch::autograd::CopyBackwards")

    def fill_(self, value) -> Tensor:
        """Every value set to ``value`` (a number, or a 0-d Tensor), in place."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_: only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        if isinstance(value, complex) and self.data.dtype.kind not in "cb":
            if value.imag != 0:  # torch's checked conversion of the number
                raise InPlaceCastError(f"fill_: value {value} cannot be converted to type "
                                       f"{self.dtype} without overflow")
            value = value.real
        if not isinstance(value, Tensor) and (self.dtype.name in ("float16", "bfloat16",
                                                                  "float32")
                                              or self.dtype.kind in "iu" or type(value) is int):
            from dlpy.creation import _checked  # a finite value beyond the dtype's range:

            _checked("fill_", value, self.dtype, self.data.size)  # torch's refusal, not inf
        if isinstance(value, Tensor) and not self.data.flags.writeable and \
                _views.repeats_elements(self.data):  # (torch fills with a number only: a
            raise _internal_overlap_error("fill_")  # tensor's is copy_'s, which refuses)
        with np.errstate(over="ignore"):  # (one float16 element: 1e5 is inf, as torch's)
            out = self._in_place("fill_", _filled, self._source("fill_", "value", value),
                                 cast="unsafe")
        return _fill_named(out, "FillBackward3" if isinstance(value, Tensor) else "FillBackward2")

    def zero_(self) -> Tensor:
        return _fill_named(self._in_place("zero_", _filled, Tensor(np.zeros((), self.dtype))),
                           "ZeroBackward0")

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
        """Values from N(mean, std^2), in place, drawn as ``dlpy.nn.init.normal_`` draws them
        (dlpy's default generator, or the numpy Generator ``generator``)."""
        from dlpy.nn import init

        self._check_in_place("normal_")  # before drawing
        self._check_distinct("normal_")
        if type(self.data) is _MetaArray:
            return self
        values = init._normal(Tensor(np.empty(self.shape, self.dtype)), mean, std, generator,
                              "normal_", layout=self.data)
        return self._in_place("normal_", _filled, values)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None, **bounds) -> Tensor:
        """Values from U(a, b), in place, drawn as ``dlpy.nn.init.uniform_`` draws them; the
        bounds may be given by torch's names, ``uniform_(to=2.0)`` (``from`` through
        ``**{"from": ...}``, a Python keyword)."""
        from dlpy.nn import init

        if bounds:
            unknown = set(bounds) - {"from", "to"}
            if unknown:
                raise TypeError(f"uniform_() got an unexpected keyword argument "
                                f"'{sorted(unknown)[0]}'")
            a, b = bounds.get("from", a), bounds.get("to", b)

        self._check_in_place("uniform_")  # before drawing
        self._check_distinct("uniform_")
        if type(self.data) is _MetaArray:
            return self
        # drawn in the memory order of self, as torch's kernel walks it
        values = init._uniform(Tensor(np.empty_like(self.data)), a, b, generator, "uniform_")
        return self._in_place("uniform_", _filled, values)

    def add_(self, other, *more, alpha=1) -> Tensor:
        """self += alpha * other, in place; returns self (as every method ending in ``_``).
        torch's deprecated ``add_(alpha, other)`` too."""
        if more:
            (other,), alpha = _pointwise.number_first("add_", (other,), more, alpha, "alpha")
        return self._in_place_dense("add_", lambda x, o: x.add(o, alpha=alpha), other)

    def sub_(self, other, *more, alpha=1) -> Tensor:
        """self -= alpha * other, in place (torch's deprecated ``sub_(alpha, other)`` too)."""
        if more:
            (other,), alpha = _pointwise.number_first("sub_", (other,), more, alpha, "alpha")
        return self._in_place_dense("sub_", lambda x, o: x.sub(o, alpha=alpha), other)

    def mul_(self, other) -> Tensor:
        return self._in_place_dense("mul_", Tensor.mul, other)

    def _in_place_dense(self, name: str, function, other) -> Tensor:
        """_in_place, and a sparse other (which the dense op refuses before writing) taken as
        its dense tensor: torch's dense.add_/sub_/mul_(sparse) write the dense result."""
        try:
            return self._in_place(name, function, other)
        except SparseOperandError as error:
            if error.tensor is not other:
                raise
            return self._in_place(name, function, other.to_dense())

    def div_(self, other, *, rounding_mode: str | None = None) -> Tensor:
        return self._in_place("div_", lambda x, o: x.div(o, rounding_mode=rounding_mode), other)

    def pow_(self, exponent) -> Tensor:
        return self._in_place("pow_", Tensor.pow, exponent)

    def neg_(self) -> Tensor:
        return self._in_place("neg_", Tensor.neg)

    def abs_(self) -> Tensor:
        if self.data.dtype.kind == "c":  # |z| is real: it cannot go back into z, as torch
            raise RuntimeError("abs_: in-place abs is not supported for complex tensors")
        return self._in_place("abs_", Tensor.abs)

    def sqrt_(self) -> Tensor:
        return self._in_place("sqrt_", Tensor.sqrt)

    def exp_(self) -> Tensor:
        return self._in_place("exp_", Tensor.exp)

    def log_(self) -> Tensor:
        return self._in_place("log_", Tensor.log)

    def sigmoid_(self) -> Tensor:
        return self._in_place("sigmoid_", Tensor.sigmoid)

    def tanh_(self) -> Tensor:
        return self._in_place("tanh_", Tensor.tanh)

    def relu_(self) -> Tensor:
        return self._in_place("relu_", Tensor.relu)

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
        # the bounds as operands: a tensor bound that requires grad makes the change recorded
        return self._in_place("clamp_", Tensor.clamp, min, max)

    def clamp_min_(self, min) -> Tensor:  # noqa: A002
        return self._in_place("clamp_min_", Tensor.clamp_min, min)

    def clamp_max_(self, max) -> Tensor:  # noqa: A002
        return self._in_place("clamp_max_", Tensor.clamp_max, max)

    def masked_fill_(self, mask, value) -> Tensor:
        """``value`` wherever ``mask`` (broadcast to self's shape) is True, in place."""
        return self._in_place("masked_fill_", Tensor.masked_fill, mask,
                              _gradless_into(self, value), written=lambda: np.broadcast_to(
                                  np.asarray(mask.data if isinstance(mask, Tensor) else mask,
                                             dtype=bool), self.shape))

    def index_fill_(self, dim: int, index, value) -> Tensor:
        """``value`` at positions ``index`` (ints) along axis ``dim``, in place."""
        from dlpy.ops import check_dim

        dim = check_dim("index_fill_", dim, self.ndim, scalar_ok=True)
        index = np.asarray(index.data if isinstance(index, Tensor) else index)
        if index.dtype.kind not in "iu" or index.ndim > 1:
            raise TypeError(f"index_fill_: index must be integers in at most one axis, got "
                            f"{index.dtype} of shape {index.shape}")
        if index.dtype != np.int64:
            raise IndexError("index_fill_(): Expected dtype int64 for index.")
        if self.data.dtype.kind != "c" and (isinstance(value, complex) or isinstance(
                value, Tensor) and value.data.dtype.kind == "c"):  # (whatever its imaginary
            raise RuntimeError("index_fill_(): Converting complex Scalar to non-complex type "
                               "is not supported")  # part, before the bounds: torch's)
        size = self.shape[dim] if self.ndim else 1
        if index.size and not (-size <= index.min() and index.max() < size):
            raise IndexError(f"index_fill_: index out of range for axis {dim} of length {size},"
                             f" got {index.tolist()}")
        mask = np.zeros(size, dtype=bool)
        mask[index] = True
        mask = mask.reshape((size,) + (1,) * (self.ndim - dim - 1)) if self.ndim else mask[0]
        name = f"IndexFillBackward{int(isinstance(value, Tensor))}"  # torch's node

        def fill(x, mask, value):
            out = x.masked_fill(mask, value)
            if out.op is not None:
                from dlpy.node_names import rename

                rename(out.op, name)
            return out

        return self._in_place("index_fill_", fill, mask, _gradless_into(self, value),
                              written=lambda: np.broadcast_to(mask, self.shape))

    def addcmul_(self, tensor1, tensor2, *more, value=1) -> Tensor:
        """self += value * tensor1 * tensor2, in place (torch's deprecated ``addcmul_(value,
        tensor1, tensor2)`` too)."""
        (tensor1, tensor2), value = _pointwise.number_first("addcmul_", (tensor1, tensor2),
                                                            more, value)
        return self._in_place("addcmul_", lambda x, a, b: _pointwise.addcmul(x, a, b, value=value),
                              tensor1, tensor2)  # torch's int truncation of a float value

    def addcdiv_(self, tensor1, tensor2, *more, value=1) -> Tensor:
        """self += value * tensor1 / tensor2, in place (torch's deprecated ``addcdiv_(value,
        tensor1, tensor2)`` too)."""
        (tensor1, tensor2), value = _pointwise.number_first("addcdiv_", (tensor1, tensor2),
                                                            more, value)
        return self._in_place("addcdiv_", lambda x, a, b: _pointwise.addcdiv(x, a, b, value=value),
                              tensor1, tensor2)  # torch's refusal of integer tensor1 / tensor2

    def lerp_(self, end, weight) -> Tensor:
        """self += weight * (end - self), in place (weight a number or a Tensor)."""
        return self._in_place("lerp_", _pointwise.lerp, end, weight)  # torch's dtype checks

    # x += y changes x in place, as PyTorch's (Python then binds x to what these return: x)
    def __iadd__(self, other) -> Tensor:
        return self._in_place("+=", Tensor.add, other, view_ok=True)

    def __isub__(self, other) -> Tensor:
        return self._in_place("-=", Tensor.sub, other, view_ok=True)

    def __imul__(self, other) -> Tensor:
        return self._in_place("*=", Tensor.mul, other, view_ok=True)

    def __itruediv__(self, other) -> Tensor:
        return self._in_place("/=", Tensor.div, other, view_ok=True)

    def __ipow__(self, exponent) -> Tensor:
        return self._in_place("**=", Tensor.pow, exponent, view_ok=True)

    def __ifloordiv__(self, other) -> Tensor:
        return self._in_place("//=", Tensor.__floordiv__, other, view_ok=True)

    def __imod__(self, other) -> Tensor:
        return self._in_place("%=", Tensor.__mod__, other, view_ok=True)

    def __setitem__(self, index, value) -> None:
        """``x[index] = value`` (a number, array or Tensor broadcast to x[index]'s shape, cast
        to x's dtype), in place by the rules above; a value that requires grad gets its
        gradient (g at the positions it was written to). As torch's: a complex number with
        an imaginary part is refused by a real x; x[False] = value checks the value and writes
        nothing; a byte mask (the only index tensor) with one value is refused (torch's
        masked_fill_ takes bool masks only). Unlike torch, arrays, lists and numpy scalars are
        values too."""
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError(f"setitem: a tensor's elements are numbers: cannot assign "
                            f"{type(value).__name__} (torch's TypeError)")
        if isinstance(value, complex) and self.data.dtype.kind not in "cb":  # (bool: nonzero)
            if value.imag != 0:
                raise InPlaceCastError(f"setitem: value cannot be converted to type "
                                       f"{self.dtype} without overflow")
            value = value.real
        _check_byte_mask_fill(index, value, self.shape)
        _shape.check_ellipses("setitem", index, self.data.ndim)
        index = _shape._plain_index(index)
        _shape.check_index_count(index, self.data.ndim)
        _shape.check_masks(index, self.shape)
        if type(value) in (int, float):
            if type(value) is int and not -2 ** 63 <= value < 2 ** 63:
                raise LongOverflowError("setitem: Overflow when unpacking long long: a Python "
                                        "int beyond int64")
            dtype = self.data.dtype
            if dtype.kind in "iu" or dtype == np.float32:
                from dlpy.creation import _checked  # torch's: -1 wraps into uint8, 300 into

                value = _checked("setitem", value, dtype)  # int8 is refused, 1e39 in float32
            elif dtype == np.complex64 and type(value) is float:  # (its parts are float32)
                from dlpy.creation import _checked

                _checked("setitem", value, np.dtype(np.float32))
            elif dtype.itemsize == 2 and dtype.kind != "i" and type(value) is float \
                    and abs(value) > 65504.0:  # float16/bfloat16: inf past the range, unchecked
                with np.errstate(over="ignore"):  # as torch's (no numpy warning)
                    value = np.asarray(value, dtype)
        if type(index) is tuple and _has_bool(index) and isinstance(value, Tensor) \
                and value.dtype != self.dtype:
            # torch reads a Python bool in a tuple as an index tensor: index_put_, whose
            # dtypes must match even where nothing is written (x[False,] = t) or one value
            # fills (a bare x[True] = t is a copy, x[False] = t nothing)
            raise RuntimeError(f"setitem: Index put requires the source and destination dtypes "
                               f"match, got {self.dtype} for the destination and {value.dtype} "
                               "for the source")
        if index is False:
            return  # torch's: nothing is written (nor checked against the value's shape)
        if index is True:  # torch's: x[None] = value (a copy into x, expanded ones refused)
            index = None
        if type(index) is tuple and bool in map(type, index) and not any(
                isinstance(i, np.ndarray) or i is False for i in index) and \
                not _views.repeats_elements(self.data):  # torch: True is a new axis (None)
            index = tuple(None if type(i) is bool else i for i in index)
        source = value.data if isinstance(value, Tensor) else value
        if type(source) is np.ndarray:
            source = _storable(source, self.data.dtype)
            if source.dtype.kind == "c" and self.data.dtype.kind not in "cb":
                source = _real_source(source, index, self.shape)
        if type(source) is not np.ndarray and isinstance(value, Tensor) and \
                isinstance(self.data, np.ndarray):
            _check_not_batched("setitem", source)  # a batched value into an unbatched tensor
        advanced = type(index) is np.ndarray or (type(index) is tuple
                                                 and np.ndarray in map(type, index))
        if (_grad_enabled and not advanced and getattr(self, "_no_grad_view", 0) and (
                self.requires_grad or getattr(value, "requires_grad", False))):
            view = _index_view_name(index, self.data.shape)  # torch writes into self[index]:
            if view is not None:  # a view of this view made under no_grad
                raise RuntimeError(f"setitem: Output 0 of {view} is a view of a view which was "
                                   f"created in no_grad mode and {_NO_GRAD_VIEW}")
        if self.requires_grad and self.op is None and _grad_enabled and not advanced:
            viewed = self.data[index]  # torch writes through a view unless the index is trivial
            if viewed.shape != self.shape or viewed.strides != self.data.strides:
                raise RuntimeError("setitem: " + _VIEW_OF_LEAF)
        if advanced and isinstance(value, Tensor) and value.dtype != self.dtype and not (
                value.data.size == 1 and _is_mask(index)):  # (a mask, a 1-element value: a fill)
            raise RuntimeError(f"setitem: Index put requires the source and destination dtypes "
                               f"match, got {self.dtype} for the destination and {value.dtype} "
                               "for the source")
        if (advanced and isinstance(value, Tensor) and value.data.dtype.kind == "c"
                and self.data.dtype.kind not in "cb" and np.any(value.data.imag)):  # a fill
            raise InPlaceCastError(f"setitem: value cannot be converted to type {self.dtype} "
                                   "without overflow")
        put = advanced and _index_put(index, self.shape)
        if advanced and type(index) is tuple:  # torch's placement of the indexed axes
            split = _shape._torch_order(index, self.ndim)
            if split is not None:
                index = _OrderedIndex(*split)

        def write(array):
            try:
                if type(index) is _OrderedIndex:
                    array[index.basic][index.advanced] = source
                    return
                try:
                    array[index] = source
                except (ValueError, TypeError):  # (ml_dtypes' bfloat16: a TypeError)
                    stripped = _strip_leading_ones(source)
                    if stripped is source:
                        raise
                    array[index] = stripped  # torch drops a value's leading 1s: x[0] = t([5.])
            except (IndexError, TypeError, ValueError) as err:
                kind = ShapeError if type(err) is ValueError else type(err)  # torch's RuntimeError
                if type(err) is TypeError and np.iscomplexobj(source) and array.dtype.kind != "c":
                    kind = InPlaceCastError  # a complex value in a real tensor: RuntimeError
                raise kind(f"setitem: cannot set index {index!r} of a tensor of shape "
                                f"{self.shape} to a value of shape {np.shape(source)}: "
                                f"{err}") from None

        if (isinstance(value, Tensor) and _dual_in_place is None  # (forward AD: tangents)
                and _writes_itself(self.data, index, value.data)):
            _bump(self.data)  # x[i] += v: the view changed x already; writing it back is a no-op
            return
        # torch's overlap rules: copy_'s for a region, index_put's (any overlap) for an index
        # array; a mask with one value is a fill, unchecked
        if (isinstance(value, Tensor) and isinstance(source, np.ndarray) and source.size
                and not (advanced and source.size == 1 and _is_mask(index))
                and np.may_share_memory(source, self.data)):
            region = self.data if advanced else _region(self.data, index)
            if region.size and np.may_share_memory(source, region):
                if not advanced and _spreads(source.shape, region.shape):
                    # torch's copy_ broadcasts the source first, which is then no dense
                    # tensor: its overlap check does not refuse (x[:] = x[0]); as it reads
                    # before it writes, the source is copied
                    source = source.copy()
                else:
                    _check_partial_overlap("setitem", region, source, full_ok=not advanced)
        if not advanced and not self.data.flags.writeable and _views.repeats_elements(self.data):
            region = self[index]  # x.expand(3, 4)[0] = v: torch writes the region when its
            # own elements are distinct (a region that is no view of x, as a Python bool in
            # the index makes it, is written by index_put below, not into that copy)
            if region.data.size == 0 and _views.repeats_elements(region.data):
                # nothing to write: the value's checks on a stand-in (an empty region of an
                # expanded axis repeats elements too; writing into it came back here)
                Tensor(np.empty(region.shape, self.data.dtype))[...] = value
                _bump(self.data)
                return
            if region.data.size == 0 or (not _views.repeats_elements(region.data)
                                         and np.shares_memory(region.data, self.data)):
                region[...] = value
                if _buffer(region.data) is not _buffer(self.data):  # (an empty copy: the
                    _bump(self.data)  # write counts as torch's)
                return
            if _has_bool(index):  # torch reads the bool as an index tensor: index_put
                advanced = True
        base = getattr(self, "_view_of", None)
        memory = _written_memory(self, base)
        if (advanced and memory is not None and not self.data.flags.writeable
                and memory.data.flags.writeable and _buffer(memory.data) is _buffer(self.data)
                and not (_grad_enabled and (self.requires_grad or getattr(
                    value, "requires_grad", False)))
                and _views.repeats_elements(self.data)):
            _index_put_expanded(self, memory, index, write, source)
            return
        if self.data.flags.writeable and (base is None or _buffer(base.data)
                                          is not _buffer(self.data)):
            compute = functools.partial(_put, into=self.data, index_put=put)  # (recording: rebased)
        else:  # a view: its base is rebased (_rebase_view)
            compute = functools.partial(_put, index_put=put) if put else _put
        self._in_place("setitem", compute, value, index, cast="unsafe", view_ok=True,
                       write=write)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return _activation.clamp(self, min, max)

    def softmax(self, dim: int = -1, dtype=None):
        """As torch's: with ``dtype`` self is cast to it first (gradients flow back)."""
        return _softmax.softmax(self if dtype is None else self.to(dtype=dtype), dim)

    def log_softmax(self, dim: int = -1, dtype=None):
        return _softmax.log_softmax(self if dtype is None else self.to(dtype=dtype), dim)

    # indexing, rearranging, cumulative and more element-wise ops (ops/indexing.py,
    # rearrange.py, cumulative.py, pointwise.py), under PyTorch's names
    def gather(self, dim: int, index, *, sparse_grad: bool = False):
        return _indexing.gather(self, dim, index, sparse_grad=sparse_grad)

    def take_along_dim(self, indices, dim: int | None = None):
        return _indexing.take_along_dim(self, indices, dim)

    def index_select(self, dim: int, index):
        return _indexing.index_select(self, dim, index)

    def scatter(self, dim: int, index, src=None, *, value=None, reduce=None):
        return _indexing.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index, src):
        return _indexing.scatter_add(self, dim, index, src)

    def repeat_interleave(self, repeats, dim: int | None = None, *,
                          output_size: int | None = None):
        return _indexing.repeat_interleave(self, repeats, dim, output_size=output_size)

    def sort(self, *args, **kwargs):
        """(values, indices): indices an int64 Tensor, as torch.sort ``(dim=-1,
        descending=False)``, or all keywords with ``stable=``."""
        return _indexing.sort(self, *args, **kwargs)

    def argsort(self, *args, **kwargs) -> Tensor:
        """int64 Tensor, as ``argmax``; torch.argsort's ``(dim=-1, descending=False)``, or all
        keywords with ``stable=``."""
        return _indexing.argsort(self, *args, **kwargs)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        """(values, indices): indices an int64 Tensor, as torch.topk."""
        return _indexing.topk(self, k, dim, largest, sorted)

    def expand(self, *sizes, size=None, implicit: bool = False):
        """Broadcast to ``sizes`` (``expand(2, -1, 3)``, a tuple or torch's keyword ``size``); a
        copy, not a view. ``implicit`` (torch's tracer's mark of a broadcast it inserted) is
        accepted and changes nothing."""
        if size is not None:
            sizes = (size, *sizes)
        if not sizes:  # (as torch's parser: no sizes is no shape of ())
            raise TypeError('expand() missing 1 required positional arguments: "size"')
        return _rearrange.expand(self, *sizes)

    def repeat(self, *sizes, repeats=None):
        if repeats is not None:
            sizes = (repeats, *sizes)
        if not sizes:
            raise TypeError("repeat() missing 1 required positional argument: 'repeats'")
        return _rearrange.repeat(self, *sizes)

    def flip(self, *dims_, dims=None):
        """Reversed along ``dims`` (``flip(0, 1)``, ``flip((0, 1))`` or torch's keyword
        ``flip(dims=(0, 1))``)."""
        if dims is not None:
            if dims_:
                raise TypeError("flip() got multiple values for argument 'dims'")
            dims_ = (dims,)
        dims = dims_
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _rearrange.flip(self, dims)

    def roll(self, shifts, dims=None):
        return _rearrange.roll(self, shifts, dims)

    def tril(self, diagonal: int = 0):
        return _rearrange.tril(self, diagonal)

    def triu(self, diagonal: int = 0):
        return _rearrange.triu(self, diagonal)

    def cumsum(self, dim: int, *, dtype=None):
        return _cumulative.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype=None):
        return _cumulative.cumprod(self, dim, dtype=dtype)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype=None):
        return _cumulative.prod(self, dim, keepdim, dtype=dtype)

    def diff(self, n: int = 1, dim: int = -1, prepend=None, append=None):
        return _cumulative.diff(self, n, dim, prepend, append)

    def sin(self):
        return _pointwise.sin(self)

    def cos(self):
        return _pointwise.cos(self)

    def tan(self):
        return _pointwise.tan(self)

    def atan2(self, other):
        return _pointwise.atan2(self, other)

    def erf(self):
        return _pointwise.erf(self)

    def log1p(self):
        return _pointwise.log1p(self)

    def expm1(self):
        return _pointwise.expm1(self)

    def sign(self):
        return _pointwise.sign(self)

    def floor(self):
        return _pointwise.floor(self)

    def ceil(self):
        return _pointwise.ceil(self)

    def round(self, *, decimals: int | None = None):
        return _pointwise.round(self, decimals=decimals)

    def maximum(self, other):
        return _pointwise.maximum(self, other)

    def minimum(self, other):
        return _pointwise.minimum(self, other)

    # matrix products, diagonals and linear algebra (ops/einsum.py, ops/linalg.py), imported
    # when first used
    def mm(self, mat2):
        """self @ mat2, matrices; a sparse mat2 goes to its product (dense @ sparse)."""
        from dlpy.ops.einsum import mm
        from dlpy.sparse_tensor import SparseTensor
        from dlpy.sparse_tensor import mm as sparse_mm
        return sparse_mm(self, mat2) if isinstance(mat2, SparseTensor) else mm(self, mat2)

    def bmm(self, mat2):
        from dlpy.ops.einsum import bmm
        return bmm(self, mat2)

    def mv(self, vec):
        from dlpy.ops.einsum import mv
        return mv(self, vec)

    def dot(self, tensor):
        from dlpy.ops.einsum import dot
        return dot(self, tensor)

    def outer(self, vec2):
        from dlpy.ops.einsum import outer
        return outer(self, vec2)

    def trace(self):
        from dlpy.ops.linalg import trace
        return trace(self)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        from dlpy.ops.linalg import diagonal
        return diagonal(self, offset, dim1, dim2)

    def det(self):
        from dlpy.ops.linalg import det
        return det(self)

    def inverse(self):
        from dlpy.ops.linalg import inv
        return inv(self)

    # the rest of torch.Tensor's linear algebra (dlpy/linalg.py), imported when first used
    def matrix_exp(self):
        from dlpy.linalg import matrix_exp
        return matrix_exp(self)

    def cholesky_solve(self, input2, upper: bool = False):
        from dlpy.linalg import cholesky_solve
        return cholesky_solve(self, input2, upper)

    def cholesky_inverse(self, upper: bool = False):
        from dlpy.linalg import cholesky_inverse
        return cholesky_inverse(self, upper)

    def lu(self, pivot: bool = True, get_infos: bool = False):
        from dlpy.linalg import old_lu
        return old_lu(self, pivot, get_infos)

    def lu_solve(self, LU_data, LU_pivots):  # noqa: N803 - PyTorch's names
        from dlpy.linalg import old_lu_solve
        return old_lu_solve(self, LU_data, LU_pivots)

    def triangular_solve(self, A, upper: bool = True, transpose: bool = False,  # noqa: N803
                         unitriangular: bool = False):
        from dlpy.linalg import triangular_solve
        return triangular_solve(self, A, upper, transpose, unitriangular)

    def geqrf(self):
        from dlpy.linalg import geqrf
        return geqrf(self)

    def orgqr(self, input2):
        from dlpy.linalg import orgqr
        return orgqr(self, input2)

    def ormqr(self, input2, input3, left: bool = True, transpose: bool = False):
        from dlpy.linalg import ormqr
        return ormqr(self, input2, input3, left, transpose)

    # special functions (ops/special.py), imported when first used
    def lgamma(self):
        from dlpy.ops.special import lgamma
        return lgamma(self)

    def digamma(self):
        from dlpy.ops.special import digamma
        return digamma(self)

    def erfinv(self):
        from dlpy.ops.special import erfinv
        return erfinv(self)

    def xlogy(self, other):
        from dlpy.ops.special import xlogy
        return xlogy(self, other)

    def reshape(self, *sizes, shape=None):
        """The same values in ``sizes`` (``reshape(2, 3)``, a tuple or torch's keyword
        ``shape``)."""
        if shape is not None:
            sizes = (shape, *sizes)
        if not sizes:  # (as torch's parser: the shape () is given as reshape(()))
            raise TypeError('reshape() missing 1 required positional arguments: "shape"')
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return _shape.reshape(self, sizes)

    def unsqueeze(self, dim: int):
        return _shape.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return _shape.squeeze(self, dim)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _shape.flatten(self, start_dim, end_dim)

    def permute(self, *dims, **kwargs):
        """The axes in the order ``dims`` (``permute(2, 0, 1)``, ``permute((2, 0, 1))`` or
        ``permute(dims=(2, 0, 1))``)."""
        if kwargs:
            if dims or set(kwargs) != {"dims"}:
                raise TypeError(f"permute() got unexpected arguments {sorted(kwargs)}")
            dims = (kwargs["dims"],)
        elif not dims:
            raise TypeError("permute() missing 1 required positional argument: 'dims'")
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _shape.permute(self, dims)

    def view(self, *shape, size=None, dtype=_NO_DTYPE):
        """``reshape`` that shares the memory, as PyTorch's (torch's keyword ``size`` too): a
        tensor that views another's memory out of order (``x.t()``, ``x.permute(...)``) and
        cannot be reshaped without a copy raises RuntimeError (use reshape or contiguous()
        first). ``view(dtype)`` or ``view(dtype=dtype)``: the same bytes read as another dtype
        (no gradient); a dtype mixed with sizes, or a keyword of the wrong kind, raises
        torch's TypeError."""
        if dtype is not _NO_DTYPE:
            if shape or size is not None or not isinstance(dtype, (type, np.dtype)):
                raise TypeError(f"view() received an invalid combination of arguments: "
                                f"dtype={type(dtype).__name__} with sizes {shape or size}; "
                                "expected (dtype) or (*size)")
            return _view_dtype(self, dtype)
        if size is not None:
            if isinstance(size, (type, np.dtype)):
                raise TypeError("view() received an invalid combination of arguments: size= "
                                "takes a tuple of ints, got a dtype (use dtype=)")
            shape = (size, *shape)
        if len(shape) == 1 and isinstance(shape[0], (type, np.dtype)):
            return _view_dtype(self, shape[0])
        if not shape:
            raise TypeError("view() received an invalid combination of arguments - got (), "
                            "expected (dtype) or (*size)")
        out = self.reshape(*shape)
        data = self.data
        # torch's rule for the arrays whose layout torch shares: views (t(), permute, slices)
        # of contiguous memory. Others (numpy's results in another order, where torch's are
        # contiguous) are reshaped as they are
        if (_meta.view_strides(data.shape, _meta.strides_of(data), out.shape) is None
                if type(data) is _MetaArray else  # (a meta tensor's: torch's rule, exactly)
                not data.flags.c_contiguous and data.size and _views_contiguous(data) and
                not _reshapes_in_place(data, out.shape)):
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
        return out

    def astype(self, dtype):
        """A tensor of another dtype; gradients flow back cast to this tensor's dtype."""
        return _arith.cast(self, dtype)

    def to(self, *args, **kwargs):
        """torch's ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` or
        keywords ``device, dtype, non_blocking, copy, memory_format``: self when nothing
        changes (a copy with ``copy=True``), else cast (gradients flow back). dlpy has one
        device, the CPU; any other raises ``RuntimeError``."""
        from dlpy.device import parse_to_device

        dtype, copy, where = parse_to_device("to", args, kwargs)
        if where is not None and (where._type == "meta") != (type(self.data) is _MetaArray):
            return _meta.moved(self, where, dtype)
        if dtype is None or dtype == self.data.dtype:
            out = self.clone() if copy else self
        elif self.requires_grad and dtype.kind not in "fcV":  # torch's: no gradient (detached)
            out = _arith.cast(self.detach(), dtype)
        else:
            out = _arith.cast(self, dtype)
        fmt = kwargs.get("memory_format")
        if fmt is None:
            return out
        from dlpy.layouts import to_format

        return to_format(out, fmt)

    def float(self, *, memory_format=None):
        """This tensor as float32 (itself when it is float32 already, as torch's);
        ``memory_format`` as ``to``'s (None: torch's preserve_format)."""
        out = self if self.data.dtype == np.float32 else _arith.cast(self, np.float32)
        return out if memory_format is None else out.to(memory_format=memory_format)

    def double(self, *, memory_format=None):
        """This tensor as float64, as ``float``."""
        out = self if self.data.dtype == np.float64 else _arith.cast(self, np.float64)
        return out if memory_format is None else out.to(memory_format=memory_format)

    def transpose(self, *axes, dim0=None, dim1=None):
        """Two ints: those two axes swapped, as torch's ``transpose(dim0, dim1)`` (on a 2-d
        tensor numpy would read ``(0, 1)`` as the identity). Otherwise numpy's: the axes in the
        order given (``transpose(2, 0, 1)`` or a tuple), reversed when none are given."""
        if dim0 is not None or dim1 is not None:
            axes = (*axes, *(d for d in (dim0, dim1) if d is not None))
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        elif len(axes) == 2:
            return self.swapdims(*axes)
        return _shape.transpose(self, axes or None)

    @property
    def T(self):
        return _shape._permute("T", self, None, "PermuteBackward0")

    def split(self, split_size, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces along ``dim``, as torch's (see ``dlpy.functional.split``)."""
        from dlpy import functional

        return functional.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        from dlpy import functional

        return functional.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        from dlpy import functional

        return functional.unbind(self, dim)

    def where(self, condition, other):
        """torch.Tensor.where: self where condition holds, other elsewhere."""
        return _mask.where(condition, self, other)

    # complex numbers (ops/complex.py)
    def is_complex(self) -> bool:
        return self.data.dtype.kind == "c"

    @property
    def real(self):
        """The real part (a real tensor's is itself), as torch's ``x.real``."""
        return _complex.real(self)

    @real.setter
    def real(self, value) -> None:
        self.real.copy_(value)  # torch's x.real = v: v written into the real part

    @property
    def imag(self):
        """The imaginary part of a complex tensor."""
        return _complex.imag(self)

    @imag.setter
    def imag(self, value) -> None:
        self.imag.copy_(value)

    def conj(self):
        return _complex.conj(self)

    def angle(self):
        return _complex.angle(self)

    def stft(self, *args, **kwargs):
        """torch.Tensor.stft: ``dlpy.stft(self, ...)``."""
        from dlpy.ops.spectral import stft

        return stft(self, *args, **kwargs)

    def istft(self, *args, **kwargs):
        """torch.Tensor.istft: ``dlpy.istft(self, ...)``."""
        from dlpy.ops.spectral import istft

        return istft(self, *args, **kwargs)


def ambiguous_truth(size: int, shape) -> RuntimeError:
    """torch's error for ``bool()`` of a tensor of ``size`` != 1 elements (then its shape)."""
    which = "no values" if size == 0 else "more than one value"
    return RuntimeError(f"Boolean value of Tensor with {which} is ambiguous, got shape "
                        f"{shape} (use .any() or .all())")


def _compare_type_error(name: str, other) -> TypeError:
    return TypeError(f"{name}(): argument 'other' must be Tensor or Number, not "
                     f"{type(other).__name__}")


def _comparable(other) -> bool:
    """Whether ``tensor == other`` compares values (torch's: a Tensor, a number, a numeric
    numpy array or scalar); for anything else == falls back to Python's identity."""
    if isinstance(other, (Tensor, numbers.Number)):
        return True
    return isinstance(other, (np.ndarray, np.generic)) and other.dtype.kind in "biufc"


# numpy's operator ufuncs and the Tensor method that answers ``ndarray (op) tensor``
_NUMPY_REFLECTED = {
    np.add: "__radd__", np.subtract: "__rsub__", np.multiply: "__rmul__",
    np.true_divide: "__rtruediv__", np.floor_divide: "__rfloordiv__", np.remainder: "__rmod__",
    np.power: "__rpow__", np.matmul: "__rmatmul__", np.less: "__gt__", np.less_equal: "__ge__",
    np.greater: "__lt__", np.greater_equal: "__le__", np.equal: "__eq__",
    np.not_equal: "__ne__", np.bitwise_and: "__rand__", np.bitwise_or: "__ror__",
    np.bitwise_xor: "__rxor__", np.left_shift: "__rlshift__", np.right_shift: "__rrshift__",
}


def _numpy_size(a, axis=None) -> int:
    return int(np.prod(a.shape)) if axis is None else a.shape[axis]


# numpy functions that read a Tensor's shape as they are (a batched tensor's under vmap too)
_NUMPY_SHAPE_QUERIES = {np.shape: np.shape._implementation, np.ndim: np.ndim._implementation,
                        np.size: _numpy_size}


def _numpy_values(values) -> list:
    """The arguments of a numpy call with each Tensor as its values (its __array__)."""
    return [v.__array__() if isinstance(v, Tensor) else v for v in values]


def _numpy_keywords(name: str, kwargs: dict) -> dict:
    """numpy's keywords with each Tensor as its values; a Tensor as ``out`` is refused."""
    out = kwargs.get("out")
    if any(isinstance(o, Tensor) for o in (out if isinstance(out, tuple) else (out,))):
        _numpy_writes_tensor(name)
    if not any(isinstance(v, Tensor) for v in kwargs.values()):
        return kwargs
    return {k: v.__array__() if isinstance(v, Tensor) else v for k, v in kwargs.items()}


def _numpy_writes_tensor(name: str):
    raise TypeError(f"{name}: numpy cannot write into a dlpy Tensor (autograd would not see the "
                    "change); give an ndarray (t.numpy() to change its values without "
                    "autograd) or use the Tensor's in-place methods (add_, copy_, ...)")


def _wrapped_int(value: int, dtype: np.dtype):
    """A Python int as a number of the integer ``dtype``, wrapped as torch casts it (-1 in
    uint8 is 255); one beyond 64 bits is refused, as torch's OverflowError."""
    bounds = _INT_BOUNDS.get(dtype)
    if bounds is None:
        info = np.iinfo(dtype)
        bounds = _INT_BOUNDS[dtype] = (int(info.min), int(info.max), info.bits)
    if bounds[0] <= value <= bounds[1]:
        return value
    if not -2 ** 63 <= value < 2 ** 64:
        raise OverflowError(f"compare: the int {value} is too big to convert to {dtype}")
    return np.array(value % 2 ** bounds[2]).astype(dtype)[()]


_INT_BOUNDS: dict = {}  # integer dtype -> (min, max, bits): np.iinfo is slow to make


def _sparse_reflected(error: SparseOperandError, other, method: str, tensor: Tensor):
    """``tensor (op) other`` by other's reflected method when other is the sparse tensor that
    a dense op refused (dlpy/sparse_tensor.py); any other such error goes on."""
    if error.tensor is not other:
        raise error
    return getattr(other, method)(tensor)


def _functional_method(name: str):
    """A Tensor method that is ``dlpy.functional.<name>(self, ...)``, as torch.Tensor.<name>."""

    def method(self, *args, **kwargs):
        from dlpy import functional

        return getattr(functional, name)(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"functional.{name}(self, ...), as torch.Tensor.{name}."
    return method


# more torch-named methods, each the functional of the same name (ops/pointwise.py, reduce.py,
# cumulative.py, rearrange.py, indexing.py, sets.py)
for _name in (
    "addcdiv", "addcmul", "allclose", "aminmax", "argwhere", "bincount", "bitwise_and",
    "bitwise_left_shift", "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor",
    "broadcast_to", "clip", "copysign", "count_nonzero", "cross", "cummax", "cummin", "deg2rad",
    "dsplit", "equal", "exp2", "fix", "fliplr", "flipud", "float_power", "fmod", "frac",
    "heaviside", "histc", "hsplit", "hypot", "index_add", "index_copy", "index_fill", "isclose",
    "kthvalue", "lerp", "log10", "log2", "logaddexp", "logaddexp2", "logcumsumexp",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logit", "masked_scatter",
    "masked_select", "median", "mode", "moveaxis", "movedim", "nan_to_num", "nanmean",
    "nanmedian", "nanquantile", "nansum", "narrow", "nonzero", "put", "quantile", "rad2deg",
    "ravel", "remainder", "rot90", "sinc", "swapdims", "take", "tensor_split", "trunc",
    "unique", "unique_consecutive", "vsplit",
):
    if not hasattr(Tensor, _name):  # never replace a method the class defines
        setattr(Tensor, _name, _functional_method(_name))
if not hasattr(Tensor, "swapaxes"):  # torch's keywords axis0 / axis1 (swapdims': dim0 / dim1)
    Tensor.swapaxes = _functional_method("swapaxes")
# the inverse and hyperbolic trigonometric functions, numpy's aliases, and more (as torch)
for _name in (
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "asin", "asinh", "atan", "atanh", "cosh", "diagflat", "histogram", "inner", "sinh", "vdot",
):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _functional_method(_name))
def _invert(self):
    """``~x``: bitwise_not of an integer or bool tensor; of others torch's TypeError (where
    bitwise_not itself raises its NotImplementedError)."""
    if self.data.dtype.kind not in "biu":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return self.bitwise_not()


Tensor.__invert__ = _invert
# & | ^ ~ as torch's operators: bitwise on integer and bool tensors (masks combined so, as
# flex_attention's mask_mods do); the reflected forms too (the four are commutative)
for _name, _function in (("__and__", "bitwise_and"), ("__rand__", "bitwise_and"),
                         ("__or__", "bitwise_or"), ("__ror__", "bitwise_or"),
                         ("__xor__", "bitwise_xor"), ("__rxor__", "bitwise_xor"),
                         ("__invert__", "bitwise_not")):
    if not any(_name in vars(c) for c in Tensor.__mro__):  # hasattr sees type.__or__
        setattr(Tensor, _name, _functional_method(_function))
del _name, _function

# What a binary operator takes as its other operand, as torch's: a tensor (dlpy's sparse,
# nested and masked kinds too), a Python number, a numpy array or scalar, or an object with
# __torch_function__; and, dlpy's leniency, a list or tuple of numbers (torch refuses them).
# For anything else (a string, None, a Fraction, another library's object) the operator
# answers NotImplemented, so Python tries the other object's reflected method (``t + obj``
# calls ``obj.__radd__(t)``) and otherwise raises its TypeError ("unsupported operand
# type(s)"), as torch's operators do.
_OPERANDS: tuple[type, ...] = (Tensor, int, float, complex, np.ndarray, np.generic, list, tuple,
                               SparseGrad, SliceGrad)  # (.grad's sparse and slice kinds)


def _takes_operand(method):
    reflected = _reflected_name(method.__name__)

    def operator(self, other):
        if isinstance(other, _OPERANDS) or _operand_like(other):
            if (reflected is not None and isinstance(other, (list, tuple))
                    and _answers_itself(type(other), reflected)):
                return NotImplemented
            return method(self, other)
        return NotImplemented

    return functools.wraps(method)(operator)


_COMPARISON_REFLECTED = {"__lt__": "__gt__", "__le__": "__ge__", "__gt__": "__lt__",
                         "__ge__": "__le__"}


def _reflected_name(name: str) -> str | None:
    """The method Python tries on the other operand after ``name`` answers NotImplemented
    (``__mul__``/``__imul__``: ``__rmul__``, ``__lt__``: ``__gt__``); None for a reflected
    method (Python has already asked the other operand)."""
    if name in _COMPARISON_REFLECTED:
        return _COMPARISON_REFLECTED[name]
    if name.startswith("__r"):
        return None
    return "__r" + name[3 if name.startswith("__i") else 2:]


def _answers_itself(kind: type, reflected: str) -> bool:
    """Whether a list or tuple subclass defines the reflected operator itself (a container of
    tensors with its own arithmetic, ``dt * nested`` calling ``nested.__rmul__(dt)``): dlpy's
    leniency of taking a list or tuple of numbers as an operand steps aside for it, and the
    operator answers NotImplemented, as torch's does for every list or tuple."""
    for klass in kind.__mro__:
        if klass in (list, tuple, object):
            return False
        if reflected in vars(klass):
            return True
    return False


def _operand_like(other) -> bool:
    from dlpy.device import OnCPU

    return isinstance(other, OnCPU) or getattr(type(other), "__torch_function__", None) is \
        not None


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
              "__rmod__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__lshift__",
              "__rlshift__", "__rshift__", "__rrshift__", "__and__", "__rand__", "__or__",
              "__ror__", "__xor__", "__rxor__", "__lt__", "__le__", "__gt__", "__ge__",
              "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__ifloordiv__",
              "__imod__"):
    setattr(Tensor, _name, _takes_operand(getattr(Tensor, _name)))
del _name


def _rounded_div(x, other, rounding_mode):
    """x / other rounded toward zero ("trunc") or down ("floor"), as torch.div's rounding_mode."""
    if rounding_mode not in ("trunc", "floor"):
        if not isinstance(rounding_mode, str):  # torch's argument parser: a TypeError
            raise TypeError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                            f"{type(rounding_mode).__name__}")
        raise ArgError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                       f"{rounding_mode!r}")
    _pointwise._check_broadcast("div", x, other)  # torch's RuntimeError, not numpy's
    dtype = _promotion.result_type(x, other)
    if dtype.kind in "biu":  # integers: exact integer division in torch's result dtype
        if dtype.kind == "b":
            raise NotImplementedError(f"div: rounding_mode={rounding_mode!r} is not "
                                      "implemented for bool tensors, as torch")
        a, b = (np.asarray(as_array(v), dtype=dtype) for v in (x, other))
        if not b.all() and np.broadcast(a, b).size:  # (no element to divide: no error)
            raise IntegerDivisionError("div: integer division by zero (as torch)")
        with np.errstate(over="ignore"):
            quotient = np.floor_divide(a, b)
        if rounding_mode == "trunc":  # floor one too low where the exact quotient is negative
            quotient += (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
        return Tensor(quotient)
    if dtype.kind == "c":
        raise NotImplementedError(f"div: rounding_mode={rounding_mode!r} is not implemented "
                                  f"for complex tensors ({dtype}), as torch")
    if rounding_mode == "floor" and (dtype.kind == "f" or dtype.name == "bfloat16"):
        for number, tensor, first in ((other, x, False), (x, other, True)):
            if isinstance(number, (int, float, np.number)) and isinstance(tensor, Tensor):
                return _pointwise.FloorDivide(dtype, number, first)(tensor)
        return _pointwise.FloorDivide(dtype)(x, other)
    step = _pointwise.Step(np.trunc if rounding_mode == "trunc" else np.floor)
    from dlpy.node_names import rename

    with no_grad():  # (the values apart: torch's node gives zeros to both, never 0 / 0)
        if dtype.itemsize == 2 and _promotion.opmath_scalar(x, other) is not None:
            # a float16/bfloat16 tensor by a number: torch truncates the float32 quotient
            quotient = _arith.div(*(_arith.cast(v, np.float32) if isinstance(v, Tensor) else v
                                    for v in (x, other)))
            values = _arith.cast(step(quotient), dtype)
        else:
            values = step(_arith.div(x, other))
    out = _pointwise.Rounded(values.data)(*[v for v in (x, other) if isinstance(v, Tensor)])
    if out.op is not None:
        rename(out.op, "DivBackward2")  # torch's node for a rounding div (kept after backward)
    return out


def _mark_inference(out: Tensor) -> None:
    """``out``, made in an inference_mode block, is an inference tensor unless it views a
    normal tensor's memory (torch's rule: a view's kind is its base's)."""
    base = getattr(out, "_view_of", None)
    if base is None or getattr(base, "_inference", False):
        out._inference = True
        _inference_made[0] = True


def _check_not_stale(inputs) -> None:
    """An op recording a view whose node cannot be re-made since its base changed in place (a
    piece of split/unbind/chunk: ops/views.py's ViewOfBase.stale): refused, as torch's (it
    reads the view's grad_fn, which refuses)."""
    for t in inputs:
        stale = getattr(t.op, "stale", None)
        if stale is not None:
            raise RuntimeError(stale)
        if t._gradless and _stale_gradless(t):  # (a view made under no_grad: the same once
            raise RuntimeError(_STALE_NO_GRAD)  # its memory changed; not at backward)


def _check_not_inference(inputs, saves: tuple = ("inputs",)) -> None:
    """An op recording while an input is an inference tensor: refused as torch's (it would save
    it for backward; ops that save none, ``saves_tensors`` False, are let through, and inputs
    that ``saves``, the op's Op.saves, does not read: where's values, as torch's)."""
    for i, t in enumerate(inputs):
        if getattr(t, "_inference", False) and _reads(saves, i, inputs):
            raise RuntimeError(
                "Inference tensors cannot be saved for backward. Please do not use Tensors "
                "created in inference mode in computation tracked by autograd. To work around "
                "this, you can make a clone to get a normal tensor and use it in autograd.")


_VIEW_OF_LEAF = (
    "a view of a leaf tensor that requires grad is being used in an in-place operation (torch "
    "refuses it too: the leaf's gradient would be that of a value it no longer holds). Change it "
    "under dlpy.no_grad(), or clone() the leaf first; torch: a view of a leaf Variable that "
    "requires grad is being used in an in-place operation.")
_NO_GRAD_VIEW = (
    "is being modified inplace with grad mode enabled. Given that this use case is ambiguous and "
    "error-prone, it is forbidden. You can clarify your code by moving both the view and the "
    "inplace either both inside the no_grad block (if you don't want the inplace to be tracked) "
    "or both outside (if you want the inplace to be tracked).")
_MULTI_VIEW = (
    "is a view and is being modified inplace. This view is the output of a function that returns "
    "multiple views. Such functions do not allow the output views to be modified inplace. You "
    "should replace the inplace operation by an out-of-place one (or clone() the piece first).")


def _check_view_in_place(name: str, view: Tensor, base: Tensor, recording: bool) -> None:
    """torch's refusals of an in-place change, with grad mode on, of a view made under no_grad
    (or of a view of one) and, while recording, of a view of a piece of a function that returns
    several views (split, unbind, chunk)."""
    made = getattr(view, "_no_grad_view", 0)
    if made and (recording or _root_base(base).requires_grad):
        if made is True:
            raise RuntimeError(f"{name}: A view was created in no_grad mode and {_NO_GRAD_VIEW}")
        raise RuntimeError(f"{name}: Output 0 of {_view_name(view, made)} is a view of a view "
                           f"which was created in no_grad mode and {_NO_GRAD_VIEW}")
    if not recording or view.op is None or getattr(view.op, "refuses_in_place", None):
        return
    buffer, t = _buffer(view.data), view  # a view of a view of a piece: torch refuses it too
    while t.op is not None and t.op.inputs and _buffer(t.op.inputs[0].data) is buffer:
        t = t.op.inputs[0]
        refusal = getattr(t.op, "refuses_in_place", None) if t.op is not None else None
        if refusal is not None and refusal.startswith("Output"):
            raise RuntimeError(f"{name}: Output 0 of {_view_name(view)} {_MULTI_VIEW}")


_STALE_MULTI = (
    "is a view and its base or another view of its base has been modified inplace. This view "
    "is the output of a function that returns multiple views. Such functions do not allow the "
    "output views to be modified inplace. You should replace the inplace operation by an "
    "out-of-place one.")
_STALE_NO_GRAD = (
    "A view was created in no_grad mode and its base or another view of its base has been "
    "modified inplace with grad mode enabled. Given that this use case is ambiguous and "
    "error-prone, it is forbidden. You can clarify your code by moving both the view and the "
    "inplace either both inside the no_grad block (if you don't want the inplace to be "
    "tracked) or both outside (if you want the inplace to be tracked).")


def _stale_view(view: Tensor, recorded: bool) -> tuple[str, str] | None:
    """torch's (use, in-place) errors for ``view`` once its base (or another view of it)
    changed in place, where torch cannot re-make its node: a piece of split/unbind/chunk or a
    view of one, or (a change ``recorded``, with grad mode on) a view made under no_grad that
    requires grad; None for any other view."""
    if recorded and getattr(view, "_no_grad_view", 0) and view.requires_grad:
        return _STALE_NO_GRAD, "A view was created in no_grad mode and " + _NO_GRAD_VIEW
    buffer, t, seen = _buffer(view.data), view, set()
    while t.op is not None and id(t.op) not in seen:  # (x.copy_(x.t().t()) makes a cycle)
        seen.add(id(t.op))
        refusal = getattr(t.op, "refuses_in_place", None)
        if refusal is not None and refusal.startswith("Output"):
            head = refusal[:refusal.index(" is a view")] if t is view else \
                f"Output 0 of {_view_name(view)}"
            return f"{head} {_STALE_MULTI}", f"{head} {_MULTI_VIEW}"
        inputs = t.op.inputs
        if not inputs or _buffer(inputs[0].data) is not buffer:
            return None
        t = inputs[0]
    return None


def _stale_gradless(view: Tensor) -> bool:
    """Whether a view made under no_grad of a tensor that requires grad (``_gradless``) has
    seen its memory change in place since: torch refuses to use it for a gradient then."""
    entry = _marks.get(id(_buffer(view.data)))
    return (entry[0] if entry else 0) != view.__dict__.get("_made_version", 0)


def _root_base(t: Tensor) -> Tensor:
    """The first tensor of ``t``'s chain of views (itself if none): torch's ``_base``, which a
    leaf that is itself a view has too (dlpy's ``_view_of`` stops at a leaf that requires
    grad)."""
    buffer = _buffer(t.data)
    while (base := getattr(t, "_view_of", None)) is not None and _buffer(base.data) is buffer:
        t = base
    return t


def _index_view_name(index, shape: tuple[int, ...]) -> str | None:
    """The name of torch's last view function that a basic ``index`` applies (Select for an
    int, Slice for a slice that is not the whole axis, Unsqueeze for None), or None where the
    index is the whole tensor (torch's indexing then gives the tensor itself)."""
    items = index if type(index) is tuple else (index,)
    taking = sum(1 for i in items if i is not None and i is not Ellipsis)
    dim, name = 0, None
    for item in items:
        if item is Ellipsis:
            dim += len(shape) - taking
        elif item is None:
            name = "Unsqueeze"
        elif isinstance(item, slice):
            if dim < len(shape) and item.indices(shape[dim]) != (0, shape[dim], 1):
                name = "Slice"
            dim += 1
        else:
            name, dim = "Select", dim + 1
    return name


def _view_name(view: Tensor, op=None) -> str:
    """torch's name of the view's function (SelectBackward0 -> Select)."""
    op = view.op if not isinstance(op, Op) else op
    if op is None:
        return "AsStrided"
    return op.name().removesuffix("Backward0").removesuffix("Backward1")


def _note_view(out: Tensor, inputs, data: np.ndarray, op=None) -> None:
    """An op's output whose array shares an input's memory is a view of that input's base (the
    tensor whose memory the chain of views reads, torch's ``_base``): remembered on the output,
    and the output weakly on the base (unless the base is a leaf that requires grad, which is
    never changed in place while recording), so an in-place change of either reaches both."""
    buffer = _buffer(data)
    for t in inputs:
        if _buffer(t.data) is buffer:
            base = getattr(t, "_view_of", None)
            if base is None or _buffer(base.data) is not buffer or (
                    t.requires_grad and t.op is None and not t._gradless):  # a leaf that
                base = t  # requires grad is a base
            out._view_of = base
            if not _grad_enabled:  # torch refuses changing it in place with grad mode on
                out._no_grad_view = True
                if (data.dtype.kind in "fc" or data.dtype.name == "bfloat16") and \
                        _root_base(t).requires_grad:  # requires grad as its base (torch's:
                    out._gradless = True  # the first of the chain), a leaf without a node
                    _gradless_made[0] = True
                    entry = _marks.get(id(buffer))  # (its memory's version now: a later
                    out._made_version = entry[0] if entry else 0  # change makes it stale)
            elif getattr(t, "_no_grad_view", 0):  # (its function's name for the error)
                out._no_grad_view = op or 2
            if _inference_made[0] and getattr(base, "_inference", False):
                out._inference = True  # a view of an inference tensor is one, as torch's
            if base.op is None and base.requires_grad:
                return
            views = getattr(base, "_views", None)
            if views is None:
                base._views = [weakref.ref(out)]
                return
            views.append(weakref.ref(out))
            count = len(views)
            if count >= 64 and count & (count - 1) == 0:  # forget the views that died (at
                views[:] = [ref for ref in views if ref() is not None]  # powers of 2: O(1) a view
            return


def _redirect(value: Tensor, tensor: Tensor, old: Tensor, since) -> None:
    """Point the ops in value's history that used ``tensor`` at ``old``, the stand-in of its
    value before an in-place change (``h += f(h)``, ``h[i] += v``): they ran on that value.
    Ops recorded before ``since`` (tensor's op) cannot have used it and are not walked, nor is
    old's own history."""
    _redirect_all(value, {id(tensor): old}, since)


def _redirect_all(value: Tensor, stand_ins: dict, since) -> None:
    """``_redirect`` for several tensors at once: ``stand_ins`` maps id(tensor) to its old."""
    stack, seen = [value], {id(value)}
    seen.update(id(old) for old in stand_ins.values())
    while stack:
        t = stack.pop()
        op = t.op
        if op is None or t._tick < since:
            continue
        inputs = op.inputs
        if any(id(t) in stand_ins for t in inputs):
            op.inputs = inputs = tuple(stand_ins.get(id(t), t) for t in inputs)
        for t in inputs:
            if t.requires_grad and id(t) not in seen:
                seen.add(id(t))
                stack.append(t)


def _storable(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` as numpy may assign it into an array of ``dtype``: a bfloat16 one into an
    integer one through float32 (ml_dtypes' direct cast gives 0 out of range; torch's wraps,
    as its cast does: 300 into int8 is 44)."""
    if array.dtype.kind == "V" and array.dtype.itemsize == 2 and dtype.kind in "iu":
        return array.astype(np.float32)
    return array


def _real_source(source: np.ndarray, index, shape: tuple) -> np.ndarray:
    """A complex value's real part, to be written at ``index`` into a real tensor of
    ``shape``: with torch's warning where its setitem copies it (a value of the region's shape
    or one that broadcasts to it, not a 0-d value filling a region of axes; nothing written,
    nothing said), never numpy's ComplexWarning."""
    from dlpy.ops.arithmetic import warn_discarding_imaginary

    try:
        region = np.broadcast_to(np.empty((), bool), shape)[index].shape
    except (IndexError, TypeError, ValueError):  # (the write's own error follows)
        region = None
    if region is not None and 0 not in region and (source.ndim or region == ()):
        warn_discarding_imaginary()
    return source.real


def _warn_expanded(name: str, stacklevel: int = 4) -> None:
    """torch's deprecation warning of index_put_ / masked_fill_ / index_fill_ writing into an
    expanded tensor (one whose elements share memory)."""
    import warnings

    example = "tensor[indices] = tensor" if name == "index_put_" else "tensor[mask] = scalar"
    warnings.warn(f"Use of {name} on expanded tensors is deprecated. Please clone() the tensor "
                  "before performing this operation. This also applies to advanced indexing "
                  f"e.g. {example}", UserWarning, stacklevel=stacklevel)


def _write_expanded(base: Tensor, array: np.ndarray, values: np.ndarray, written: np.ndarray,
                    changes: np.ndarray | None = None) -> None:
    """The elements ``written`` of ``values`` (the new values of ``array``, a view of base's
    memory whose elements share it) into base's memory: where several share one place, the
    last written wins, or (accumulating) each adds its element of ``changes`` (what was put
    there, summed: values - array would lose an inf), in torch's order."""
    places = _views.positions(base.data, array)[written]
    if changes is not None:
        flat = base.data.reshape(-1)  # (a view: base's memory is its own, contiguous)
        if flat.dtype == np.bool_:  # (a bool sum is an or)
            np.logical_or.at(flat, places, changes[written])
        else:
            np.add.at(flat, places, changes[written])
    else:
        base.data.flat[places] = values[written]
    _bump(base.data)


def _index_put_expanded(tensor: Tensor, base: Tensor, index, write, source) -> None:
    """``tensor[index] = value`` with an index array or mask into an expanded tensor (one whose
    elements share memory), unrecorded: as torch's (deprecated, with its warning), each element
    written lands in the base's memory; where several share one place, the last written wins."""
    if type(index) is _OrderedIndex:
        basic = index.basic
    else:
        basic = tuple(slice(None) if type(i) is np.ndarray else i
                      for i in (index if type(index) is tuple else (index,)))
    if _views.repeats_elements(tensor.data[basic]):  # (e[0, [1, 2]]: e[0] is index_put's)
        _warn_expanded("index_put_")
        mask = _is_mask(index)  # (torch's index_put_ then fills, with a mask of 1+ axes)
        if np.size(source) == 1 and mask and np.ndim(index[0] if type(index) is tuple
                                                      else index):
            _warn_expanded("masked_fill_")
    values = tensor.data.copy()
    write(values)  # the values as the index writes them, then only those written go back
    written = np.zeros(tensor.shape, dtype=bool)
    if type(index) is _OrderedIndex:
        written[index.basic][index.advanced] = True
    else:
        written[index] = True
    base.data.flat[_views.positions(base.data, tensor.data)[written]] = values[written]
    _bump(base.data)


def _region(array: np.ndarray, index) -> np.ndarray:
    """``array[index]`` for a basic index, as an array (a 0-d one for ints on every axis)."""
    index = index if type(index) is tuple else (index,)
    return array[index if Ellipsis in index else index + (Ellipsis,)]


def _spreads(source: tuple, target: tuple) -> bool:
    """Whether broadcasting a value of shape ``source`` to ``target`` repeats its elements
    (an axis of size 1, or a missing one, over an axis of more)."""
    padded = (1,) * (len(target) - len(source)) + tuple(source)
    return len(padded) == len(target) and any(s == 1 and t > 1
                                              for s, t in zip(padded, target))


def _has_bool(index) -> bool:
    """Whether an index holds a Python bool (torch: an index tensor, [0] or [])."""
    return type(index) is bool or (type(index) is tuple and bool in map(type, index))


def _writes_itself(array: np.ndarray, index, value: np.ndarray) -> bool:
    """Whether ``array[index] = value`` writes value over its own memory (a basic index)."""
    if value.base is None or _buffer(value) is not _buffer(array) or not _shape._is_basic(index):
        return False
    try:  # with Ellipsis: ints on every axis give a 0-d view, not a scalar
        target = array[(index if type(index) is tuple else (index,)) + (Ellipsis,)]
    except (IndexError, TypeError, ValueError):
        return False
    return (type(target) is np.ndarray and target.shape == value.shape
            and _same_steps(target, value) and target.dtype == value.dtype
            and target.__array_interface__["data"][0] == value.__array_interface__["data"][0])


def _same_steps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape step alike through memory (a size-1 axis, which steps
    nowhere, may have any stride: numpy's 0 for a new axis, torch's unsqueeze stride)."""
    return all(x == y for n, x, y in zip(a.shape, a.strides, b.strides) if n != 1)


# in-place ops that read an overlapping source as it was (copy_ and setitem copy it first)
_OVERLAP_OK = frozenset({"copy_", "setitem", "fill_", "zero_", "set_"})


def _check_partial_overlap(name: str, out: np.ndarray, src: np.ndarray,
                           full_ok: bool = True) -> None:
    """torch's refusal to write to memory an input partly shares (dense arrays over the same
    bytes with other strides, or overlapping bytes at another place); the same array (unless
    ``full_ok`` is False: index_put's rule), or layouts too hard to tell, pass. For arrays whose
    bounds meet (np.may_share_memory)."""
    def bounds(a):  # the first and one-past-the-last byte a reaches
        start = a.__array_interface__["data"][0]
        reach = [(n - 1) * s for n, s in zip(a.shape, a.strides)]
        return (start + sum(r for r in reach if r < 0),
                start + sum(r for r in reach if r > 0) + a.itemsize)

    def dense(a):
        low, high = bounds(a)
        return high - low == a.nbytes and all(s for n, s in zip(a.shape, a.strides) if n > 1)

    if not (dense(out) and dense(src)):
        return
    if full_ok and bounds(out) == bounds(src) and out.shape == src.shape \
            and _same_steps(out, src):
        return
    raise RuntimeError(f"{name}: unsupported operation: some elements of the input tensor and "
                       "the written-to tensor refer to a single memory location; clone() the "
                       "tensor before performing the operation")


def _fill_named(out: Tensor, name: str) -> Tensor:
    """``out`` of fill_/zero_/copy_, its node torch's ``name`` where it is the fill itself (a view's
    is torch's AsStridedBackward0 over CopySlices, as it is)."""
    op = out.op
    if op is not None and type(op).__name__ == "Where":
        from dlpy.node_names import rename

        rename(op, name)
    return out


def _filled(x: Tensor, value: Tensor) -> Tensor:
    """value broadcast to x's shape: recorded with a zero gradient for x (torch's fill_ and
    copy_), so a tensor that required grad still does."""
    return _mask.fill_where(value, x)


class _OrderedIndex(NamedTuple):
    """An index of ints/slices/None and index arrays, applied as torch applies it: ``basic``
    (the ints, slices and None) first, then ``advanced`` (the arrays) to what is left (see
    ops/shape.py's _torch_order)."""

    basic: tuple
    advanced: tuple


def _strip_leading_ones(source):
    """``source`` (an array) without its leading dimensions of size 1 (itself when it has
    none): torch's copy into an indexed region drops them before broadcasting, so
    ``x[0] = torch.tensor([5.0])`` writes one element where numpy refuses a sequence."""
    shape = np.shape(source)
    cut = 0
    while cut < len(shape) and shape[cut] == 1:
        cut += 1
    return source.reshape(shape[cut:]) if cut and isinstance(source, np.ndarray) else source


def _check_byte_mask_fill(index, value, shape: tuple) -> None:
    """torch's refusal of x[byte_mask] = one value (masked_fill_ takes bool masks only): a
    uint8 tensor the only index tensor (besides ints, slices, None, Ellipsis), the value a
    number or a one-element tensor; a mask of another shape than its axes is left to the
    index's IndexError."""
    items = index if type(index) is tuple else (index,)
    tensors = [i for i in items if isinstance(i, list) or isinstance(i, Tensor) and i.ndim
               or type(i) is bool]  # (a Python bool is an index tensor too: index_put_)
    if (len(tensors) == 1 and isinstance(tensors[0], Tensor) and tensors[0].data.dtype == np.uint8
            and np.size(value.data if isinstance(value, Tensor) else value) == 1):
        mask = tensors[0]
        plain = tuple(np.asarray(i.data, dtype=bool) if i is mask else i for i in items)
        try:
            _shape.check_index_count(plain, len(shape))
            _shape.check_masks(plain, shape)
        except IndexError:
            return
        raise RuntimeError("setitem: masked_fill_ only supports boolean masks, but got mask with "
                           "dtype unsigned char")


def _is_mask(index) -> bool:
    """Whether ``index`` has one boolean mask as its only index array (ints, slices, None and
    Ellipsis besides): torch's setitem with it and a one-element value fills (any dtype)."""
    items = index if type(index) is tuple else (index,)
    arrays = [i for i in items if type(i) is np.ndarray]
    return len(arrays) == 1 and arrays[0].dtype == bool


def _index_put(index, shape: tuple) -> bool:
    """Whether torch's setitem with this (advanced) index is one index_put_ on the tensor
    itself (IndexPutBackward0): besides the index arrays only Ellipsis and slices covering
    their whole axis; an int, None or a part slice makes a view first (CopySlices)."""
    items = index if type(index) is tuple else (index,)
    used = sum(i.ndim if type(i) is np.ndarray and i.dtype == bool else
               0 if i is Ellipsis else 1 for i in items)
    dim = 0
    for item in items:
        if item is Ellipsis:
            dim += len(shape) - used
        elif type(item) is np.ndarray:
            dim += item.ndim if item.dtype == bool else 1
        elif type(item) is slice and dim < len(shape):
            start, stop, step = item.indices(shape[dim])
            if start != 0 or stop != shape[dim] or step != 1:
                return False
            dim += 1
        else:
            return False
    return True


def _put(x: Tensor, value, index, into: np.ndarray | None = None,
         index_put: bool = False) -> Tensor:
    """x with x[index] = value, by a recorded op (CopySlices: value gets the gradient at the
    positions ``index`` selects, x everywhere else; torch's IndexPutBackward0 when
    ``index_put``). ``into``: an array holding x's values (the changed tensor's own) that
    takes the result, written only at those positions."""
    shape = x.shape
    positions = None
    if _shape._is_basic(index) and x.data.flags.c_contiguous:  # O(selected), from addresses
        try:
            positions = _views.positions(
                x.data, x.data[(index if type(index) is tuple else (index,)) + (Ellipsis,)])
        except (IndexError, TypeError, ValueError):
            positions = None  # the general path says what is wrong
    if positions is None:
        try:
            positions = np.arange(x.data.size).reshape(shape)
            positions = (positions[index.basic][index.advanced] if type(index) is _OrderedIndex
                         else positions[index])
        except (IndexError, TypeError, ValueError) as err:
            raise IndexError(f"setitem: index {index!r} is invalid for shape {shape}: "
                             f"{err}") from None
    if not isinstance(value, Tensor):
        value = Tensor(np.asarray(value, dtype=x.dtype))
    elif value.dtype != x.dtype:
        if value.requires_grad and not (is_floating_dtype(x.dtype) or x.dtype.kind == "c"):
            value = value.detach()  # (an integer result has no gradient: torch's cast)
        value = _arith.cast(value, x.dtype)
    extra = value.ndim - len(positions.shape)
    if extra > 0 and all(n == 1 for n in value.shape[:extra]):  # torch drops leading ones
        value = value.reshape(value.shape[extra:])
    value = _indexing.expanded_to(value, positions.shape,
                                  f"setitem: a value of shape {value.shape} does not "
                                  f"broadcast to x[index]'s shape {positions.shape}")
    return (_views.IndexPut if index_put else _views.CopySlices)(positions, into)(x, value)


# ----------------------------------------------------------------- the version counter
# Ops keep references to arrays for backward (their inputs', views of them, their output), so
# an array changed in place after an op used it would make that op's gradient silently wrong.
# Every in-place change ticks a global clock and marks the array's buffer (the object owning
# its memory, which views, reshapes and detach()ed tensors share: PyTorch's shared version
# counter) with its new version and the tick. An op's output remembers the tick at which the
# op recorded it (one slot store, in Op.__call__'s recording branch: a slot, not an attribute of
# the op, so the hot path adds no dict entry); the reverse pass refuses an op whose inputs' or
# output's buffer was marked after that. Nothing is marked, and nothing checked,
# until something changes in place. Writes users make with numpy (``t.data[...] = v``) are not
# seen.
_clock = 0  # in-place changes so far
# nodes recorded so far: an op's ``_seq`` is its number, torch's sequence_nr (a reverse pass runs
# the ready node recorded last first, see _schedule)
_sequence = itertools.count(1)
# id(buffer) -> (version, tick, weak reference, the last bumps as (tick, version) pairs: what
# the version was when an op recorded, for the refusal's message)
_marks: dict[int, tuple[int, int, object, tuple]] = {}
_HISTORY = 16  # bumps remembered per buffer


# a view made under no_grad of a tensor that requires grad, as a root of backward or grad:
# it requires grad but has no node and no gradient accumulator of its own (torch's refusal)
_GRADLESS_ROOT = ("{} was made as a view under no_grad (it requires grad through its base, "
                  "with no node of its own): element 0 of tensors does not require grad and "
                  "does not have a grad_fn")


def _without_gradless(extra: dict | None) -> dict | None:
    """A tensor's own attributes but ``_gradless``: its copy requires grad as a leaf of its
    own (with a node and a .grad), as torch's copy of a view made under no_grad."""
    if extra and "_gradless" in extra:
        extra = {name: value for name, value in extra.items() if name != "_gradless"}
    return extra


def _rebuild_pickled(make: Callable, args: tuple, extra: dict | None, slots: dict) -> Tensor:
    """Tensor.__reduce_ex__'s rebuild: the object ``make(*args)`` gives with its attributes
    and slots set, as pickle sets an object's state (through the class's ``__setstate__``
    where it has one). For copyreg's ``__newobj__``, the class's own ``__new__`` is not called
    (as torch's rebuild, which makes a Tensor and retypes it): a subclass's may want
    arguments."""
    new = object.__new__(args[0]) if make is copyreg.__newobj__ else make(*args)
    setstate = getattr(new, "__setstate__", None)
    if setstate is not None:
        setstate((extra, slots))
        return new
    if extra:
        new.__dict__.update(extra)
    for name, value in slots.items():
        setattr(new, name, value)
    return new


# the slots pickle and deepcopy leave out: the graph, the gradient, hooks and views
_GRAPH_SLOTS = frozenset({"_grad", "op", "_hooks", "_tick", "_post_hooks", "_view_of",
                          "_views", "_no_grad_view"})


def _view_like(array: np.ndarray, base: np.ndarray, copied: np.ndarray) -> np.ndarray | None:
    """``array`` (a view of ``base``'s memory) rebuilt on ``copied``, base's copy: the same
    offset, shape and strides; None where numpy cannot view it so (then it is copied)."""
    owner, new_owner = _buffer(base), _buffer(copied)
    if not (isinstance(owner, np.ndarray) and isinstance(new_owner, np.ndarray)
            and _buffer(array) is owner and owner.nbytes == new_owner.nbytes):
        return None
    start = array.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    try:
        return np.ndarray(array.shape, array.dtype, buffer=new_owner, offset=start,
                          strides=array.strides)
    except (TypeError, ValueError, BufferError):
        return None


def _memory_owner(tensor: Tensor) -> Tensor:
    """The tensor whose memory ``tensor``'s array reads: the first of its chain of views,
    through detach()es of read-only views (``_memory_of``: torch's detach() shares the
    storage), or ``tensor`` itself."""
    buffer = _buffer(tensor.data)
    tensor = _root_base(tensor)
    while (owner := tensor.__dict__.get("_memory_of")) is not None and \
            _buffer(owner.data) is buffer:
        tensor = _root_base(owner)
    return tensor


def _internal_overlap_error(name: str) -> RuntimeError:
    """torch's refusal to write into a tensor whose elements share memory."""
    return RuntimeError(
        f"{name}: unsupported operation: more than one element of the written-to tensor "
        "refers to a single memory location (an expanded tensor, or overlapping windows "
        "of unfold/as_strided, which torch changes once per window and dlpy refuses). "
        "Please clone() the tensor before performing the operation")


def _written_memory(tensor: Tensor, base: Tensor | None) -> Tensor | None:
    """The tensor whose memory an in-place change of ``tensor`` (a view of ``base``, or None)
    writes through, where its own array is read-only (an expanded view, or a detach() of one):
    ``base`` or what it, or tensor, was detach()ed from; None where that is tensor itself."""
    if tensor.data.flags.writeable:
        return base
    owner = _memory_owner(tensor if base is None else base)
    return None if owner is tensor else owner


def _writable_alias(array: np.ndarray, owner) -> np.ndarray | None:
    """A writeable array on ``array``'s elements in ``owner``'s memory (same shape, strides and
    place), or None when numpy cannot make one (owner not a writeable contiguous array)."""
    if type(owner) is not np.ndarray or not owner.flags.writeable:
        return None
    offset = array.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    try:
        return np.ndarray(array.shape, array.dtype, buffer=owner, offset=offset,
                          strides=array.strides)
    except (TypeError, ValueError):
        return None


def _buffer(array):
    """The object owning ``array``'s memory (the end of its ``.base`` chain)."""
    while True:
        base = getattr(array, "base", None)
        if base is None:
            return array
        array = base


def _bump(array: np.ndarray, previous: int | None = None, tick: bool = True) -> None:
    """Mark ``array``'s buffer as changed in place now: its version goes up by one (from
    ``previous`` when given: a rebased tensor's new array continues the old one's count).
    ``tick=False``: the clock stays (a change no recorded op can have seen)."""
    global _clock
    if tick:
        _clock += 1
    # (an array that owns its memory, an optimiser's parameter: _buffer's call saved)
    buffer = array if type(array) is np.ndarray and array.base is None else _buffer(array)
    key = id(buffer)
    entry = _marks.get(key)
    if entry is None:
        try:  # forget the mark when the buffer dies (its id may be reused)
            ref = weakref.ref(buffer, lambda _, key=key: _marks.pop(key, None))
        except TypeError:  # a buffer that cannot be weakly referenced (bytes): kept, harmless
            ref = None
        version, history = 0, ()
    else:
        version, ref, history = entry[0], entry[2], entry[3]
    version = (version if previous is None else previous) + 1
    _marks[key] = (version, _clock, ref, history[1 - _HISTORY:] + ((_clock, version),))


def increment_version(tensor) -> None:
    """Record that ``tensor``'s array (or a numpy array) was changed in place by numpy, as
    torch.autograd.graph.increment_version: ops recorded before it will refuse to backward."""
    _bump(tensor.data if isinstance(tensor, Tensor) else tensor)


class _Scheduled:
    """The tensors a reverse pass visits, a set built on first use (in-place checks only)."""

    __slots__ = ("order", "ids")

    def __init__(self, order: list[Tensor]):
        self.order, self.ids = order, None

    def __contains__(self, tensor: Tensor) -> bool:
        if self.ids is None:
            self.ids = {id(t) for t in self.order}
        return id(tensor) in self.ids


def _check_versions(node: Tensor, op: Op, scheduled: _Scheduled, graph: bool = False) -> None:
    """Refuse op's backward when an array it reads (``op.saves``: inputs', its output's) was
    changed in place after op recorded node, its output, as torch refuses (called only once
    something has changed). An input that changed but is not read is fine; one rebased since
    (a recorded in-place op gave the tensor a new value and op) is replaced in op.inputs by
    the stand-in holding the value op used, so its gradient flows to the right history.
    In an allow_mutation_on_saved_tensors block, a read of a changed array gets the copy taken
    before the change instead (``_mutation_watch.restore``)."""
    tick, inputs, saves = node._tick, op.inputs, op.saves
    if graph and op.graph_saves:  # (create_graph: backward_graph reads these too)
        saves = saves + op.graph_saves
    watch = _mutation_watch  # None unless an allow_mutation_on_saved_tensors block was opened
    allowed = watch is not None and watch.admits(node, op)
    rewired = None
    for i, tensor in enumerate(inputs):
        rebased = getattr(tensor, "_tick", 0) > tick
        entry = _marks.get(id(_buffer(tensor.data)))
        changed = entry is not None and entry[1] > tick  # (not by a detach_(): same values)
        if not rebased and not changed:
            continue
        old = _stand_in(tensor, tick) if rebased else None
        if rebased and not changed and _reads(saves, i, inputs):  # detach_()ed after op saved it
            raise RuntimeError(
                "Trying to use a saved tensor that has been detached in-place, i.e. with "
                ".detach_(). This is not supported, please use out-of-place `.detach()` instead")
        if not rebased and _buffer(node.data) is _buffer(tensor.data):  # a view of it
            stale = _stale_view(node, recorded=False)
            if stale is not None:  # (its base changed under no_grad: torch's version check)
                raise RuntimeError(stale[0])
        if (changed and _reads(saves, i, inputs) and not (allowed and watch.restore(op, tick))
                ) or (rebased and (old is None or (old.requires_grad and old not in scheduled
                                             and not _selective_pass()))):
            # read, or rebased with no stand-in on the pass: refuse, never guess (a pass
            # toward some tensors only, autograd.grad's, leaves out what leads to none of
            # them: the stand-in's gradient is not needed there)
            raise _modified_error(f"input {i}", op, tensor, tick)
        if rebased:
            rewired = list(inputs) if rewired is None else rewired
            rewired[i] = old
    if rewired is not None:
        op.inputs = tuple(rewired)
    if _reads(saves, "output", inputs):
        entry = _marks.get(id(_buffer(node.data)))
        if entry is not None and entry[1] > tick and not (
                allowed and watch.restore(op, tick)):
            raise _modified_error("the output", op, node, tick)
        alias = node.__dict__.get("_version_of")  # (the view an in-place change wrote it to)
        if alias is not None:
            entry = _marks.get(id(_buffer(alias[0])))
            if entry is not None and entry[1] > alias[1]:
                raise _modified_error("the output", op, Tensor(alias[0]), alias[1])


def _selective_pass() -> bool:
    """Whether the reverse pass running is toward some tensors only (autograd.grad, backward
    with inputs=): its order holds only the tensors with a path to them."""
    return bool(_passes) and _passes[-1][1] is not None


def _reads(saves: tuple, what, inputs) -> bool:
    """Whether an op with ``saves`` reads ``what`` (an input's index or "output") in backward:
    "inputs" is every one of them (and the output), (what, j) when input j requires grad."""
    for entry in saves:
        if entry == "inputs" or (type(entry) is type(what) and entry == what):
            return True
        if type(entry) is tuple and entry[0] == what and inputs[entry[1]].requires_grad:
            return True
    return False


def _version_at(tensor: Tensor, tick: int) -> int:
    """The version ``tensor``'s buffer had at ``tick`` (as far as its remembered bumps tell)."""
    entry = _marks.get(id(_buffer(tensor.data)))
    if entry is None:
        return 0
    version = entry[0]
    for when, after in reversed(entry[3]):
        if when <= tick:
            return after
        version = after - 1
    return version


def _modified_error(what: str, op: Op, tensor: Tensor, tick: int) -> RuntimeError:
    shape = f"shape {tensor.shape}"
    if what == "the output":  # a node of several outputs: theirs, not the array holding them
        from dlpy.ops.multi_output import layout_of

        layout = layout_of(op)
        if layout is not None:
            what = f"an output ({op.name()})"
            shape = "shapes " + ", ".join(str(part[1]) for part in layout.parts)
    return RuntimeError(
        f"backward: {what} of {op.describe()} ({shape}) was modified in place "
        f"after {op.describe()} used it (it is at version {tensor._version}; expected version "
        f"{_version_at(tensor, tick)} instead): one of the "
        "variables needed for gradient computation has been modified by an inplace operation, "
        "and its gradient would be wrong. Change it after backward(), or give the op a clone() "
        "of it"
    )


# the stand-in of a rebased tensor (the value it held before), by the op its new value came from
_stand_ins: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stand_in(tensor: Tensor, tick: int) -> Tensor | None:
    """The tensor holding what ``tensor`` was at ``tick``, following its rebases back (None when
    one is not known)."""
    while getattr(tensor, "_tick", 0) > tick:
        tensor = _stand_ins.get(tensor.op) if tensor.op is not None else getattr(
            tensor, "_detached_from", None)  # (a detach_()ed tensor's old history)
        if tensor is None:
            return None
    return tensor


def _detach_in_place(tensor: Tensor) -> None:
    """``tensor.detach_()``: it becomes a leaf that needs no gradient; ops recorded from it
    before keep its history (a stand-in holding its old op, as ``_rebase``'s), as torch's."""
    global _clock
    if tensor.op is not None:
        old = Tensor.__new__(Tensor)
        old.data, old._grad, old.requires_grad = tensor.data, None, tensor.requires_grad
        old.op, old.name, old._hooks, old._tick = tensor.op, tensor.name, tensor._hooks, \
            tensor._tick
        _complex.mark(old)
        _clock += 1
        tensor._tick = _clock
        tensor._detached_from = old
    tensor.op, tensor.requires_grad = None, False


# ----------------------------------------------------------------- hooks on the reverse pass
# Counted when registered, never uncounted: a pass checks one number, so no hook costs nothing.
_post_hook_count = 0  # register_post_accumulate_grad_hook calls so far
_node_hook_count = 0  # grad_fn.register_hook / register_prehook calls so far

# ------------------------------------------------- saved_tensors_hooks on the built-in ops
# torch.autograd.graph.saved_tensors_hooks: the (pack, unpack) of the innermost block open, or
# None (set by dlpy.autograd_function's blocks); Op.__call__ packs only while it is not None
_pack_hooks = None
_packed_count = 0  # nodes packed so far: a reverse pass looks for packed nodes only after one


def _saved_order(op: Op, inputs: tuple) -> list:
    """What ``op`` saves for backward, in the order torch's node saves it: ``op.pack_order``'s
    list where the op has one, else from ``Op.saves`` (input indices, "output", (i, j) for
    input i when input j requires grad; "inputs" is each input, then the output). An entry
    is an input's index, "output", or another key of the op's (``Op.saved_array``)."""
    if not op.saves_tensors:  # torch's node saves only sizes
        return []
    count = len(inputs)
    if op.pack_order is not None:
        order = op.pack_order(inputs)
        if order is not None:
            return order
    order = []
    for entry in op.saves:
        if entry == "inputs":
            order.extend(range(count))
        elif type(entry) is tuple:
            if entry[1] < count and inputs[entry[1]].requires_grad:
                order.append(entry[0])
        else:
            order.append(entry)
    # each once; not an input the call did not give, nor a Python number made a tensor
    # (torch saves its wrapped number without packing it)
    return [what for what in dict.fromkeys(order) if what == "output" or (
        type(what) is int and what < count and "_wrapped_number" not in inputs[what].__dict__)]


def _pack_saved(op: Op, out: Tensor) -> None:
    """Pack what ``op`` (recorded, its output ``out``) saved for backward with the hooks of
    the innermost saved_tensors_hooks block: ``pack(tensor)`` once per saved tensor (the input
    or output itself, as torch's, or a tensor on what the op derived: a transposed weight, a
    mean), in torch's order.
    Each packed value is kept with the unpack hook and the names of the op's attributes that
    hold that array, which backward sets to what unpack gives (``_unpack_saved``). The op
    drops those attributes (and its ``unpacked_rebuilds``) and holds its inputs made by other
    ops through stand-ins (``_graph_input``), so that what pack kept is all that is kept
    (the tutorial's offloading to disk frees the activations). As torch's, a packed tensor is
    not checked for in-place changes (``op.saves`` becomes ())."""
    global _packed_count
    pack, unpack = _pack_hooks
    inputs = op.inputs
    order = _saved_order(op, inputs)
    if order:
        arrays = [t.data for t in inputs] + [out.data]
        packed = []
        for what in order:
            if what == "output":
                tensor = out
            elif type(what) is int:
                tensor = inputs[what]
            else:  # something the op made: a tensor of its own on it
                tensor = Tensor(op.saved_array(what))
            packed.append(pack_one(op, what, tensor, pack, unpack, arrays))
        state = op.__dict__
        if state.pop("_widened", None) is not None:  # unpacked low-precision arrays widen
            state["_widened_unpack"] = True
        for entry in packed:  # what backward reads comes from unpack now
            for name, _ in entry.names:
                state.pop(name, None)
            if type(entry.what) is str and entry.what != "output":
                state.pop(entry.what, None)  # (a key of the op's: _unpack_saved sets it again)
        for name in op.unpacked_rebuilds:
            state.pop(name, None)
        state["_packed"] = packed
        state["saves"] = ()
        _packed_count += 1
    if any(t.op is not None and type(t) is Tensor for t in inputs):
        op.inputs = tuple(_graph_input(op, i, t) for i, t in enumerate(inputs))


def _graph_input(op: Op, i: int, tensor: Tensor) -> Tensor:
    """The input ``tensor`` (made by another op) as ``op`` (recorded in a saved_tensors_hooks
    block) holds it: a stand-in of the same node without its values (a broadcast zero of its
    shape and dtype, no memory), once the op that made it reads nothing of it but through its
    own packed values; else ``tensor``. While ``tensor`` lives, the next traversal of the
    graph puts it back (``_restore_graph_inputs``: its hooks, retain_grad, autograd.grad);
    when only the graph held it, its array is freed with it."""
    producer = tensor.op
    if tensor.op is None or type(tensor) is not Tensor or _reads(
            producer.saves, "output", producer.inputs):
        return tensor
    stand_in = tensor.__dict__.get("_graph_stand_in")
    if stand_in is None:
        stand_in = Tensor.__new__(Tensor)
        data = tensor.data
        stand_in.data = np.broadcast_to(np.zeros((), dtype=data.dtype), data.shape)
        stand_in._grad = None
        stand_in.name = None
        stand_in._hooks = None
        stand_in.op = producer
        stand_in.requires_grad = True
        stand_in._tick = tensor._tick
        stand_in.__dict__["_stands_in"] = True
        tensor.__dict__["_graph_stand_in"] = stand_in
    if len(_graph_stand_ins) >= _graph_stand_ins_limit[0]:
        _prune_graph_stand_ins()
    _graph_stand_ins.append((weakref.ref(op), i, weakref.ref(tensor), stand_in))
    return stand_in


# (op, input index, the tensor, its stand-in) of each input a packed op holds by a stand-in
_graph_stand_ins: list = []
_graph_stand_ins_limit = [1024]  # pruned of dead ops when this long (then twice as long)


def _prune_graph_stand_ins() -> None:
    """Forget the stand-ins of ops that are gone."""
    _graph_stand_ins[:] = [e for e in _graph_stand_ins if e[0]() is not None]
    _graph_stand_ins_limit[0] = max(1024, 2 * len(_graph_stand_ins))


def _restore_graph_inputs() -> None:
    """Before a traversal of the graph: each stand-in whose tensor still lives (the user's, a
    view's, another op's) gives its place in its op's inputs back to that tensor, so the
    graph meets the tensor itself (its hooks, its retained gradient, autograd.grad's inputs,
    one node however many ops read it). A stand-in whose tensor is gone stays for good."""
    entries = _graph_stand_ins[:]
    _graph_stand_ins.clear()
    for op_ref, i, tensor_ref, stand_in in entries:
        op, tensor = op_ref(), tensor_ref()
        if op is None or tensor is None:
            continue
        inputs = op.inputs
        if i < len(inputs) and inputs[i] is stand_in:
            op.inputs = inputs[:i] + (tensor,) + inputs[i + 1:]


def pack_one(op: Op, what, tensor: Tensor, pack, unpack, arrays: list | None = None) -> _Packed:
    """``pack(tensor)``, the saved ``what`` of ``op`` (an input's index, "output" or a key
    of the op's), as a _Packed that knows the op's attributes holding its array (and their
    shapes): the array itself, or a view of all of it at another shape (matmul's vector as
    a row) that is no other saved array.
    ``arrays``: the op's inputs' and output's arrays (default: the inputs' and this one)."""
    global _packed_count
    array = tensor.data
    if arrays is None:
        arrays = [t.data for t in op.inputs] + [array]
    names = []
    if type(what) is int or what == "output":
        # a float16/bfloat16 op's forward saved float32 copies (amp.dtypes' float32_compute)
        array = op.__dict__.get("_widened", {}).get(what, array)
        for name, value in list(op.__dict__.items())[op._num_settings:]:
            if value is array or (what == "output" and isinstance(value, np.generic)
                                  and array.ndim == 0 and value.dtype == array.dtype
                                  and (value == array or value != value)):
                names.append((name, None))  # (a 0-d output: forward kept numpy's scalar)
            elif (type(value) is np.ndarray and _reshaped_view(value, array)
                  and not any(value is a for a in arrays)):
                names.append((name, value.shape))
    _packed_count += 1
    return _Packed(what, tuple(names), unpack, pack(tensor))


def _reshaped_view(value: np.ndarray, array: np.ndarray) -> bool:
    """Whether ``value`` (no saved array itself) is ``array`` at another shape, a view of all
    of it in its order (matmul's vector as a row; not a view that also moves axes, as
    attention's heads, which ``np.reshape`` of the unpacked array would not give back)."""
    if not (value.base is not None and value.size == array.size and value.shape != array.shape
            and (value.base is array or value.base is array.base is not None)):
        return False
    again = np.reshape(array, value.shape)
    return again.__array_interface__["data"][0] == value.__array_interface__["data"][0] and \
        all(a == b for a, b, n in zip(again.strides, value.strides, value.shape) if n > 1)


class _Packed:
    """One tensor a node saved, packed: which (input index or "output"), the op's attributes
    holding its array, the unpack hook and what pack gave."""

    __slots__ = ("what", "names", "unpack", "value")

    def __init__(self, what, names: tuple, unpack, value):
        self.what, self.names, self.unpack, self.value = what, names, unpack, value

    def unpacked(self) -> Tensor:
        """unpack(value), which must be a Tensor (TypeError, as torch's)."""
        tensor = self.unpack(self.value)
        if not isinstance(tensor, Tensor):
            raise TypeError("Output of saved tensor unpack_hook expected to be a Tensor but got "
                            f"result of type {type(tensor).__name__}")
        return tensor


def _unpack_saved(op: Op) -> None:
    """Before ``op``'s backward: unpack each tensor it packed, in order, and give its
    attributes that held the saved array the unpacked one (reshaped as they were), a key of
    the op's its attribute of that name, an input held by a stand-in its values, so that
    backward computes with what unpack gave, as torch's (``op.use_unpacked`` for an op whose
    backward reads something made from it). An unpacked tensor that does not fit (a shape
    of another size) fails there or in backward: ``UnpackedFitError``."""
    state = op.__dict__
    inputs = op.inputs
    for name in op.unpacked_rebuilds:  # None where nothing unpacked gives it (not read)
        state.setdefault(name, None)
    widen = "_widened_unpack" in state
    for entry in state["_packed"]:
        array = entry.unpacked().data
        if widen and array.dtype.itemsize == 2 and array.dtype.kind in "fV":
            array = array.astype(np.float32)  # as forward saved it (float32_compute)
        what = entry.what
        try:
            for name, shape in entry.names:
                state[name] = array if shape is None else np.reshape(array, shape)
            if type(what) is int:
                tensor = inputs[what]
                if "_stands_in" in tensor.__dict__ and np.shape(array) == tensor.data.shape:
                    tensor.data = array  # a stand-in: its values back
            elif what != "output" and type(what) is str:
                state[what] = array
            op.use_unpacked(what, array)
        except ValueError as error:
            raise UnpackedFitError(op, error) from None


class UnpackedFitError(ValueError, RuntimeError):
    """A saved_tensors_hooks unpack hook gave a tensor that backward cannot use in place of
    the saved one (a shape numpy cannot fit in): torch's RuntimeError from the op it reaches."""

    def __init__(self, op: Op, error: Exception):
        super().__init__(f"{op.name()}: a tensor a saved_tensors_hooks unpack hook gave does "
                         f"not fit the saved one: {error}")


def _unpacked_grads(op: Op, grad_output: np.ndarray) -> list:
    """``_checked_grads`` for an op whose saved tensors came from unpack hooks: numpy's
    refusal of their shapes is ``UnpackedFitError`` (torch's RuntimeError)."""
    try:
        return _checked_grads(op, grad_output)
    except ValueError as error:
        if isinstance(error, RuntimeError):
            raise
        raise UnpackedFitError(op, error) from None


class _NodeState:
    __slots__ = ("metadata", "hooks", "pre_hooks")

    def __init__(self):
        self.metadata: dict = {}
        self.hooks: dict = {}
        self.pre_hooks: dict = {}


_node_state: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # op -> _NodeState


def _state_of(op) -> _NodeState:
    state = _node_state.get(op)
    if state is None:
        state = _node_state[op] = _NodeState()
    return state


def _add_node_hook(op, hooks: dict, hook, name: str):
    from dlpy.hooks import add_hook

    global _node_hook_count
    handle = add_hook(hooks, hook, f"{op.name()}.{name}")
    _node_hook_count += 1
    return handle


class AccumulateGrad:
    """What ``next_functions`` gives for a leaf that requires grad, as torch's: the node that
    adds the gradient to ``variable.grad``."""

    next_functions: tuple = ()

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # torch's name() (its class: AccumulateGrad)

    def __call__(self, *grads) -> tuple:
        """``node(grad)``, torch's call of an AccumulateGrad: ``grad`` added to the leaf's
        ``.grad`` (a copy of it the first time); gives (), as torch's (None adds nothing)."""
        if len(grads) != 1:
            raise TypeError(f"expected 1 arguments, got {len(grads)} instead")
        grad = grads[0]
        if grad is None:
            return ()
        if not isinstance(grad, Tensor):
            raise TypeError("argument 0 is not a Variable")
        _accumulate(self.variable, grad.data, False)
        return ()

    @property
    def metadata(self) -> dict:
        return _state_of(self).metadata

    def __eq__(self, other) -> bool:
        return type(other) is AccumulateGrad and other.variable is self.variable

    def __hash__(self) -> int:
        return id(self.variable)

    def __repr__(self) -> str:
        return f"<AccumulateGrad of a leaf of shape {self.variable.shape}>"

    def register_hook(self, hook):
        """``hook((), (grad,))`` once the leaf's gradient is added to its ``.grad`` (by
        backward; not by autograd.grad). The hooks live while this node does, as torch's."""
        return _add_node_hook(self, _state_of(self).hooks, hook, "register_hook")

    def register_prehook(self, hook):
        """``hook((grad,))`` before the gradient is added to ``.grad``; returning a tuple
        replaces it."""
        return _add_node_hook(self, _state_of(self).pre_hooks, hook, "register_prehook")


def _grad_node(tensor: Tensor):
    """The node a gradient for ``tensor`` goes to: its op, an AccumulateGrad, or None."""
    if not tensor.requires_grad:
        return None
    if tensor.op is not None:
        return tensor.op
    if tensor._gradless:  # a view made under no_grad: torch's edge to it is None
        return None
    node = _accumulate_nodes.get(id(tensor))  # one per leaf while it is held, as torch's
    if node is None:
        node = _accumulate_nodes[id(tensor)] = AccumulateGrad(tensor)
    return node


def _grad_edge(tensor: Tensor) -> tuple:
    """(the node, which of its outputs) a gradient for ``tensor`` goes to: its op's, or the
    node of several outputs whose output it is (dlpy.ops.multi_output); an AccumulateGrad, or
    None, and 0."""
    node = _grad_node(tensor)
    if node is not None and node is tensor.op:
        from dlpy.ops.multi_output import node_of

        return node_of(node)
    return node, 0


# id(leaf) -> its AccumulateGrad while someone holds that node (which holds the leaf, so the
# id stays the leaf's)
_accumulate_nodes: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_held_accumulate_nodes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # op -> its
# leaves' AccumulateGrad nodes, once next_functions gave them


def _accumulate_node_state(leaf: Tensor):
    """The hooks of ``leaf``'s AccumulateGrad node, if one is alive and has any."""
    node = _accumulate_nodes.get(id(leaf))
    return None if node is None else _node_state.get(node)


def _run_accumulate_pre_hooks(leaf: Tensor, state: _NodeState, grad):
    output = (grad,)
    node = _accumulate_nodes[id(leaf)]
    for hook in list(state.pre_hooks.values()):
        result = hook(_shown(output))
        if result is not None:
            output = _hook_grads(node, "register_prehook", result, (grad,), False)
    return output[0]


class HookResultError(TypeError, RuntimeError):
    """A post-accumulate-grad hook that returns a value: a TypeError, and torch's
    RuntimeError."""


def _run_post_hooks(tensor: Tensor) -> None:
    for hook in list(tensor._post_hooks.values()):
        result = hook(tensor)
        if result is not None and result is not tensor:  # the leaf itself (p.add_(...)): ok
            raise HookResultError("register_post_accumulate_grad_hook: a hook must return None "
                                  f"(it is called for its effect), got a "
                                  f"{type(result).__name__}")


def _hooked_grads(op: Op, grad_output, backward, extra: tuple) -> list:
    """``backward(op, grad_output, *extra)`` with the op's node pre-hooks before and hooks
    after."""
    from dlpy.ops.multi_output import layout_of

    state = _node_state[op]
    graph = isinstance(grad_output, Tensor)  # a create_graph pass: gradients are Tensors
    layout = layout_of(op)  # a node of several outputs: hooks see one gradient per output
    output = (grad_output,) if layout is None else layout.unpack(grad_output, received=True)
    for hook in list(state.pre_hooks.values()):
        result = hook(_shown(output))
        if result is not None:
            output = _hook_grads(op, "register_prehook", result,
                                 (grad_output,) if layout is None else output, graph)
    if layout is None:
        grad_output = output[0]
    else:
        grad_output = None if all(g is None for g in output) else layout.pack(output)
    # a pre-hook that returned (None,): the node has no gradient to pass on, as torch's
    grads = (backward(op, grad_output, *extra) if grad_output is not None
             else (None,) * len(op.inputs))
    for hook in list(state.hooks.values()):
        result = hook(_shown(grads), _shown(output))
        if result is not None:
            grads = _hook_grads(op, "register_hook", result, op.inputs, graph, grads)
    return list(grads)


def _note_output(op: Op) -> None:
    """While node hooks exist: note that the output whose view ``op`` is (of a node of several
    outputs, ops/multi_output.py) got a gradient in this pass, so that the node's hooks see
    None for the others, as torch's."""
    from dlpy.ops.multi_output import note_gradient

    note_gradient(op)


def _shown(grads) -> tuple:
    """Gradients as hooks get them, as torch's: Tensors (an array wrapped, not copied; a
    SliceGrad, a basic index's gradient, made dense; a SparseGrad, a Tensor or None as it
    is)."""
    return tuple(g if g is None or isinstance(g, (Tensor, SparseGrad))
                 else _grad_tensor(g.dense() if type(g) is SliceGrad else np.asarray(g))
                 for g in grads)


def _hook_grads(op: Op, name: str, result, like, graph: bool, given=None) -> tuple:
    """A node hook's replacement gradients, one per entry of ``like`` (Tensors or arrays whose
    shape and dtype they take), as arrays, or Tensors in a create_graph pass. Each must be a
    Tensor of the dtype it replaces (RuntimeError, as torch's), None, or (dlpy's) a numpy
    array, cast to it; anything else is a TypeError, as torch's. One where the hook was
    ``given`` None is refused (RuntimeError, as torch's)."""
    if not isinstance(result, tuple):  # torch's: a TypeError, a list included
        raise TypeError(f"{op.name()}.{name}: a hook must return None or a tuple of "
                        f"{len(like)} gradients, got {type(result).__name__}")
    if len(result) != len(like):
        raise RuntimeError(f"{op.name()}.{name}: a hook returned an incorrect number of "
                           f"values (got {len(result)}, but expected {len(like)})")
    grads = []
    for i, (grad, ref) in enumerate(zip(result, like)):
        if grad is not None and not isinstance(grad, (Tensor, np.ndarray)):
            raise TypeError(f"{op.name()}.{name}: expected Variable, but hook returned "
                            f"'{type(grad).__name__}'")
        if grad is not None and given is not None and given[i] is None:
            raise RuntimeError(f"{op.name()}.{name}: can't replace a None gradient with a "
                               f"non-None value (gradient {i})")
        if isinstance(grad, Tensor) and ref is not None and _dtype_changed(grad, ref, given, i):
            raise RuntimeError(f"{op.name()}.{name}: a hook has changed the type of value "
                               f"{i} (was {_np_dtype(ref)}, got {grad.data.dtype})")
        if grad is None or (name == "register_hook" and not ref.requires_grad):
            grads.append(None)  # an input that needs no gradient gets none
            continue
        if graph:
            grad = _graph_grad(grad, ref.dtype)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
            grad = grad.astype(ref.dtype, copy=False)
        if tuple(grad.shape) != tuple(ref.shape):
            raise RuntimeError(f"{op.name()}.{name}: a hook returned a gradient of shape "
                               f"{tuple(grad.shape)} for gradient {i} of shape {tuple(ref.shape)}")
        grads.append(grad)
    return tuple(grads)


def _np_dtype(value) -> np.dtype:
    """The numpy dtype of a Tensor or an array."""
    return value.data.dtype if isinstance(value, Tensor) else np.dtype(value.dtype)


def _dtype_changed(grad: Tensor, ref, given, i: int) -> bool:
    """Whether a hook's gradient has another dtype than ``ref`` (the input or the gradient it
    replaces) and than the one the hook was given: torch refuses that (RuntimeError)."""
    dtype = grad.data.dtype
    if dtype == _np_dtype(ref):
        return False
    shown = None if given is None else given[i]
    return shown is None or not hasattr(shown, "dtype") or dtype != _np_dtype(shown)


class _OpLabel(str):
    """An op class's ``name = "conv2d"`` (the label its messages use), which is also its
    ``name()`` method's place: called, it gives the node's name as ``Op.name`` does."""

    kind = ""

    def __call__(self) -> str:
        from dlpy.node_names import class_name

        return class_name(self.kind)


def _make_contiguous_output(cls) -> None:
    """An op with ``contiguous_output = True`` (reductions, softmax, cumsum: torch's give a new
    contiguous tensor whatever the input's strides) returns its forward's array C-contiguous;
    numpy's would follow a transposed or permuted input's order."""
    for name in ("forward", "forward_low_precision"):
        forward = cls.__dict__.get(name)
        if forward is None:
            continue

        @functools.wraps(forward)
        def contiguous(self, *arrays, _forward=forward):
            return row_major(_forward(self, *arrays))

        setattr(cls, name, contiguous)


def row_major(array: np.ndarray) -> np.ndarray:
    """``array`` laid out as a new C-ordered array (torch's contiguous strides, a length-1
    axis's too): itself when it is, else a copy."""
    if array.flags.c_contiguous and (1 not in array.shape or _row_major(array)):
        return array
    copy = np.empty(array.shape, array.dtype)
    copy[...] = array
    return copy


_C_STRIDES: dict = {}  # (shape, itemsize) -> a new C-ordered array's strides


def _row_major(array: np.ndarray) -> bool:
    """Whether ``array``'s strides are exactly a new C-ordered array's (length-1 axes too)."""
    key = (array.shape, array.itemsize)
    strides = _C_STRIDES.get(key)
    if strides is None:
        if len(_C_STRIDES) > 4096:
            _C_STRIDES.clear()
        step, strides = array.itemsize, []
        for n in reversed(array.shape):
            strides.append(step)
            step *= n
        strides = _C_STRIDES[key] = tuple(reversed(strides))
    return array.strides == strides


class Op:
    """One primitive operation: ``forward(*arrays) -> array`` and
    ``backward(grad_output) -> one gradient per input`` (None where there is none).

    Settings (axis, heads, constants) are what ``__init__`` sets; whatever ``forward`` adds to
    ``self`` is the state saved for backward, and ``free()`` drops only that, so a freed graph can
    still be drawn (``describe``) and inspected. Calling an op instance on tensors (or numbers)
    runs forward and records the graph.
    """

    inputs: tuple[Tensor, ...] = ()
    freed = False
    # whether complex inputs are accepted: False, True or "holomorphic" (see ops/complex.py)
    complex_ok: bool | str = False
    # what backward reads of the arrays it was given, checked against in-place changes made
    # after the op recorded (see _check_versions): "output", input indices, (i, j) for "input i
    # when input j requires grad" (mul's other operand, as torch saves it); "inputs" is all of
    # them. The default reads everything; an op that reads nothing declares ().
    saves: tuple = ("inputs", "output")
    # what backward_graph (create_graph) reads besides ``saves`` (an op whose backward reads
    # only arrays of its own, as torch's node its saved tensors, while its backward_graph
    # recomputes from an input), checked in create_graph passes only
    graph_saves: tuple = ()
    # False where torch's node saves no tensor, only sizes (sum, add, views, cat): free() then
    # keeps the op, and a second backward through it works as torch's
    saves_tensors = True
    _num_settings = 0  # the first entries of __dict__ that __init__ set, itself included
    _seq = 0  # when it was recorded (Op.__call__ numbers it: torch's sequence_nr)
    # saved_tensors_hooks: None, or a method ``pack_order(inputs) -> list`` giving what
    # torch's node saves, in its order, where ``saves`` does not tell it (see _saved_order);
    # and the attributes forward made from a packed value that ``use_unpacked`` makes again
    # (dropped when packed)
    pack_order = None
    unpacked_rebuilds: tuple = ()

    def __init_subclass__(cls, **kwargs):
        # Count the attributes an op's __init__ sets (its settings) once, when it is made, so
        # the hot path (__call__) pays nothing for telling settings from saved state.
        super().__init_subclass__(**kwargs)
        label = cls.__dict__.get("name")
        if isinstance(label, str):  # an op's label for messages ("conv2d"), callable as name()
            cls.name = _OpLabel(label)
            cls.name.kind = cls.__name__
        if getattr(cls, "contiguous_output", False):
            _make_contiguous_output(cls)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            state = self.__dict__  # counting itself, so free() keeps it (a second free too)
            state["_num_settings"] = len(state) + ("_num_settings" not in state)

        cls.__init__ = __init__

    def forward(self, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray):
        raise NotImplementedError

    def backward_graph(self, grad_output: Tensor, output: Tensor) -> tuple[Tensor | None, ...]:
        """The gradients of ``backward``, computed with dlpy ops from ``self.inputs``, the
        ``output`` this op produced and ``grad_output`` (all Tensors), so that they record a
        graph of their own: used only by ``autograd.grad(create_graph=True)`` (a gradient of
        a gradient). Gradients may come at a broadcast shape, as backward's."""
        raise NotImplementedError(
            f"autograd.grad(create_graph=True): {type(self).__name__} has no differentiable "
            "backward yet; add a backward_graph method to it (see Op.backward_graph), or take "
            "first-order gradients only"
        )

    def __call__(self, *inputs) -> Tensor:
        # The hot path of every op: kept to one pass over the inputs and no extra allocations.
        if self.inputs:  # a recorded node, called as torch's Node: its backward
            return _call_node(self, inputs)
        record = False
        for t in inputs:
            # a number, an array or a complex tensor (a complex Parameter too: ComplexParameter
            # subclasses ComplexTensor); a real Parameter goes on as a Tensor (_plain_kinds:
            # the set's test costs less than the two isinstance calls, for every parameter)
            if type(t) is not Tensor and type(t) not in _plain_kinds and _routed(t):
                if _subclass_dispatch[0] is not None:  # (a __torch_dispatch__ class exists)
                    answer = _subclass_dispatch[0](self, inputs)
                    if answer is not NotImplemented:
                        return answer
                if isinstance(t, _PIECES):  # a DTensor: refused unless the op is its own
                    t._check_op(self)
                else:
                    inputs, record = _as_tensors(inputs)
                    if record is None:  # a complex input or constant: ops/complex.py admits it
                        return _complex.complex_call(self, inputs)
                    break
            if t.requires_grad:
                record = True
        count = len(inputs)
        if count == 2:
            data = self.forward(inputs[0].data, inputs[1].data)
        elif count == 1:
            data = self.forward(inputs[0].data)
        elif count == 3:  # (linear: x, weight, bias)
            data = self.forward(inputs[0].data, inputs[1].data, inputs[2].data)
        else:
            data = self.forward(*[t.data for t in inputs])
        if type(data) is not np.ndarray:  # numpy reductions return scalars: keep .data an array
            data = np.asarray(data)
        out = Tensor.__new__(Tensor)
        out.data = data
        out._grad = None
        out.name = None
        out._hooks = None
        if data.base is not None:  # perhaps a view of an input: remember its base
            _note_view(out, inputs, data, self)
        if _detect_anomaly:
            self._created_at = _caller()
        if record and _grad_enabled:
            if _inference_made[0] and self.saves_tensors:
                _check_not_inference(inputs, self.saves)
            if _stale_made[0] or _gradless_made[0]:
                _check_not_stale(inputs)
            self.inputs = inputs
            self._seq = next(_sequence)
            out._tick = _clock
            out.op = self
            out.requires_grad = True
            if _pack_hooks is not None:  # a saved_tensors_hooks block is open
                _pack_saved(self, out)
        else:
            out.op = None
            out.requires_grad = out._gradless  # (a view under no_grad of one requiring grad)
            if _inference_depth[0]:
                _mark_inference(out)
        return out

    def free(self) -> None:
        """Drop what forward saved for backward; keep the settings and the inputs, so the graph
        can still be drawn and validated. An op that keeps only sizes (``saves_tensors`` False)
        is left as it is: torch saved no tensor for it, so a second backward is allowed."""
        if not self.saves_tensors:
            return
        state = self.__dict__
        inputs = state["inputs"]
        if "_packed" in state:  # stand-ins given unpacked values (_unpack_saved): theirs go
            for t in inputs:  # (the pass's schedule holds them till it ends)
                if "_stands_in" in t.__dict__ and t.data.strides != (0,) * t.data.ndim:
                    t.data = np.broadcast_to(np.zeros((), dtype=t.data.dtype), t.data.shape)
        if self._num_settings:
            for key in list(state)[self._num_settings:]:
                del state[key]
        else:
            state.clear()
        state["inputs"] = inputs
        state["freed"] = True

    def use_unpacked(self, what, array: np.ndarray) -> None:
        """Backward is about to read ``array``, what a saved_tensors_hooks unpack hook gave for
        the saved ``what`` (an input's index or "output"); the attributes that held the saved
        array hold it already. An op whose backward reads something made from it (relu's
        mask) makes that again here."""

    def saved_array(self, what) -> np.ndarray:
        """The array of ``what``, a key of ``pack_order`` that is no input nor the output
        (torch saves it: a mean, an index, a transposed weight): the attribute of that name."""
        return getattr(self, what)

    def describe(self) -> str:
        """A short label for graph drawings."""
        return type(self).__name__

    # ------------------------------------------------ torch.autograd.graph.Node's interface
    # (t.grad_fn is the op that made t). Hooks and metadata live in _node_state, off the op's
    # __dict__ (free() keeps only settings) and off the hot path (nothing until a hook is set).
    def name(self) -> str:
        """torch's name for this node ("MulBackward0", "MmBackward0", "ViewBackward0"), else
        the op's class name + "Backward0" (dlpy/node_names.py)."""
        from dlpy.node_names import torch_name

        return torch_name(self)

    def __repr__(self) -> str:
        return f"<{self.name().rpartition('::')[2]} object at {id(self):#x}>"

    @property
    def next_functions(self) -> tuple:
        """One ``(node, 0)`` per input, as torch's: the op that made it, an ``AccumulateGrad``
        for a leaf that requires grad, or None for an input that needs no gradient. The op
        holds the AccumulateGrad nodes it gave (as torch's edges do): their hooks live with it.
        Where torch's edges are not the inputs one by one (no edge for a Python number, one
        with no node for bias=None) they are listed as torch's (node_names.edge_order)."""
        from dlpy.node_names import edge_order

        inputs, order = self.inputs, edge_order(self)
        if order is not None:
            inputs = tuple(None if i is None else inputs[i] for i in order)
        edges = tuple((None, 0) if t is None else _grad_edge(t) for t in inputs)
        held = tuple(n for n, _ in edges if type(n) is AccumulateGrad)
        if held:
            _held_accumulate_nodes[self] = held
        return edges

    @property
    def metadata(self) -> dict:
        """A dict of the user's, kept with the node (torch's ``Node.metadata``)."""
        return _state_of(self).metadata

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs)`` after this op's backward: tuples, one gradient
        per input (None where there is none) and the gradient of its output; returning a
        tuple of the same length replaces grad_inputs. Returns a handle (``remove()``)."""
        return _add_node_hook(self, _state_of(self).hooks, hook, "register_hook")

    def register_prehook(self, hook):
        """``hook(grad_outputs)`` before this op's backward; returning a tuple replaces it."""
        return _add_node_hook(self, _state_of(self).pre_hooks, hook, "register_prehook")


class NodeCallError(ValueError, RuntimeError):
    """A gradient given to a node call that its backward cannot take (its shape)."""


def _call_node(op: Op, grad_outputs: tuple):
    """``y.grad_fn(grad)``, torch's Node.__call__: the gradients of op's inputs for ``grad``,
    the gradient of its output (a Tensor, or None: no gradients), from op's backward as it
    gives them (at a broadcast shape, not summed) and without accumulating anything: a tuple,
    or a Tensor for an op of one input; None where an input needs no gradient. The graph's
    saved tensors must still be there (RuntimeError after a backward freed them);
    saved_tensors_hooks' packed ones are unpacked. In grad mode the gradients record a graph
    where ``grad`` or an input requires grad, as torch's (``_graph_node_call``)."""
    from dlpy.ops.multi_output import layout_of

    layout = layout_of(op)
    if len(grad_outputs) != (1 if layout is None else len(layout)):
        raise TypeError(f"expected {1 if layout is None else len(layout)} arguments, got "
                        f"{len(grad_outputs)} instead")
    if layout is not None:  # one gradient per output: the gradient of the node's result
        for i, g in enumerate(grad_outputs):
            if g is not None and not isinstance(g, Tensor):
                raise TypeError(f"argument {i} is not a Variable")
        grad_outputs = (None if all(g is None for g in grad_outputs) else
                        _as_grad_tensor(layout.pack(grad_outputs)),)
    grad = grad_outputs[0]
    count = len(op.inputs)
    if grad is None:
        return None if count == 1 else (None,) * count
    if not isinstance(grad, Tensor):
        raise TypeError("argument 0 is not a Variable")
    if op.freed:
        raise RuntimeError(_FREED_MESSAGE)
    if _packed_count and "_packed" in op.__dict__:
        _unpack_saved(op)
    try:
        grads = op.backward(grad.data)
    except ValueError as error:  # numpy's broadcasting refused the gradient's shape
        if "_packed" in op.__dict__:  # (or an unpacked tensor's)
            raise UnpackedFitError(op, error) from None
        raise NodeCallError(f"{op.name()}: the gradient given does not fit its output: "
                            f"{error}") from None
    if _grad_enabled and (grad.requires_grad or any(t.requires_grad for t in op.inputs)):
        graph = _graph_node_call(op, grad, count)
        if graph is not None:
            return graph
    return _node_call_results(op, grads, count, _plain_node_grad)


def _as_grad_tensor(packed) -> Tensor:
    """A packed gradient (ops/multi_output.Layout.pack) as a Tensor."""
    return packed if isinstance(packed, Tensor) else Tensor(packed)


def _plain_node_grad(g, tensor: Tensor) -> Tensor:
    """A node call's gradient (an array, a SliceGrad or a SparseGrad) for ``tensor``: a
    Tensor of its dtype (a real one's part of a complex gradient)."""
    if type(g) is not np.ndarray:
        g = g.dense() if isinstance(g, (SliceGrad, SparseGrad)) else np.asarray(g)
    if g.dtype != tensor.data.dtype and not (g.dtype.kind == "c"
                                             and tensor.data.dtype.kind == "c"):
        g = (g.real if g.dtype.kind == "c" else g).astype(tensor.data.dtype)
    return Tensor(g)


def _node_call_results(op: Op, grads, count: int, convert: Callable):
    """A node call's result: per input of ``op``, None (no gradient, or the input needs none)
    or ``convert(gradient, input)``; one value for a one-input node, else a tuple."""
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    out = [None if g is None or not tensor.requires_grad else convert(g, tensor)
           for tensor, g in zip(op.inputs, grads)]
    return out[0] if count == 1 else tuple(out)


def _graph_node_call(op: Op, grad: Tensor, count: int):
    """A node call in grad mode, as torch's: the gradients from ``op.backward_graph``, so
    that they record a graph where ``grad`` or what the op saved requires grad (mul's
    operands, exp's result: saved_values' result, else the output computed again from the
    inputs by a copy of the op); None where dlpy cannot (no backward_graph), for the plain
    call's gradients."""
    from dlpy.saved_values import result_array

    data = result_array(op)
    if data is None:  # the output's values again, from a copy of the op (its state kept)
        try:
            data = np.asarray(copy.copy(op).forward(*[t.data for t in op.inputs]))
        except Exception:  # noqa: BLE001 - no graph then, as before
            return None
    output = Tensor.__new__(Tensor)
    output.data, output._grad, output.name, output._hooks = data, None, None, None
    output.op, output.requires_grad, output._tick = op, True, _clock
    try:
        grads = op.backward_graph(grad, output)
    except NotImplementedError:
        return None
    except ValueError as error:  # numpy's broadcasting refused the gradient's shape
        raise NodeCallError(f"{op.name()}: the gradient given does not fit its output: "
                            f"{error}") from None
    return _node_call_results(op, grads, count, lambda g, tensor: _graph_grad(
        g, tensor.data.dtype))


# torch's message for reading a freed graph's saved tensors (a node call, grad_fn._saved_*)
_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")


def _as_tensors(inputs) -> tuple[tuple[Tensor, ...], bool | None]:
    """Tensors pass through; numbers and arrays become constants of the first tensor's float
    (or complex) dtype, a complex constant with a float tensor that precision's complex dtype.
    Returns them and whether one requires grad: None when one is complex."""
    dtype = None
    # (type(x) tests first: isinstance of an array that is not an instance costs more)
    for x in inputs:
        if type(x) is not np.ndarray and isinstance(x, Tensor):
            dtype = x.data.dtype
            break
    if dtype is not None and dtype.kind not in "fc" and dtype.name != "bfloat16":
        dtype = None
    tensors, record, complex_seen = [], False, False
    for x in inputs:
        if type(x) is np.ndarray or not isinstance(x, Tensor):
            if x is None or isinstance(x, str):  # torch takes numbers, not these
                raise TypeError(f"expected a Tensor or a number as an operand, got "
                                f"{type(x).__name__}")
            constant_dtype = dtype
            if dtype is not None and dtype.kind == "f" and (type(x) is complex or (
                    x.dtype.kind == "c" if type(x) is np.ndarray else
                    type(x) is not float and type(x) is not int and np.iscomplexobj(x))):
                constant_dtype = _complex.complex_dtype(dtype)
            number = type(x) is not np.ndarray
            x = Tensor(np.asarray(x, dtype=constant_dtype))
            if number:  # torch's wrapped number: saved without saved_tensors_hooks packing it
                x._wrapped_number = True
        if type(x) is not Tensor and isinstance(x, ComplexTensor):
            complex_seen = True
        elif x.requires_grad:
            record = True
        tensors.append(x)
    return tuple(tensors), None if complex_seen else record


def _sum_axes(grad, axes: tuple, keepdims: bool):
    """An array's sum by the ufunc's own reduce (an overflow's warning then comes from dlpy's
    frame, which dlpy/__init__.py's filter drops, not from numpy's wrapper); a Tensor's by
    its recorded sum."""
    if type(grad) is np.ndarray:
        return np.add.reduce(grad, axis=axes, keepdims=keepdims)
    return grad.sum(axis=axes, keepdims=keepdims)


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo numpy broadcasting: sum ``grad`` down to ``shape``. The one place this happens: for
    a numpy array, and for a Tensor (create_graph), where the sums are recorded ops."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"sum_to_shape: gradient {grad.shape} has fewer axes than {shape}")
    if type(grad) is np.ndarray and grad.dtype.itemsize == 2 and grad.dtype.kind != "c" and (
            grad.dtype == np.float16 or grad.dtype.name == "bfloat16"):
        # half precision: one sum accumulated in float32 and rounded once, as torch's sum_to
        axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape)
                                           if n == 1 and grad.shape[extra + i] != 1)
        if all(n == 1 for i, n in enumerate(shape) if grad.shape[extra + i] != n):
            return np.add.reduce(grad, axis=axes, dtype=np.float32).astype(grad.dtype).reshape(
                shape)
    if extra:
        grad = _sum_axes(grad, tuple(range(extra)), False)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = _sum_axes(grad, axes, True)
    if grad.shape != shape:
        raise ValueError(f"sum_to_shape: cannot reduce a gradient of shape {grad.shape} to {shape}")
    return grad


# the reverse passes running now, innermost last: [order, needed] of each (see _pass_order), for
# torch.autograd.graph.register_multi_grad_hook (which tensors this pass will reach)
_passes: list[list] = []
_pass_keys: list[int] = []  # a number of its own for each pass running (innermost last)
_pass_numbers = itertools.count(1)


# while a TorchDispatchMode is entered: (tensor, ones) -> the implicit gradient of a
# one-element output, shown to the modes (dlpy.utils._dispatch_backward.seed)
_implicit_seed = None


def _backpropagate(roots: list[Tensor], root_grads: list[np.ndarray], retain_graph: bool,
                   capture: set[int] | None = None, create_graph: bool = False
                   ) -> dict[int, np.ndarray]:
    """See _backpropagate_pass; this one notes the pass in _passes while it runs. Grad mode
    is ``create_graph`` during the pass, as torch's engine sets it: hooks and custom
    Functions' backward see ``is_grad_enabled()`` False in a plain backward (so a
    post-accumulate hook may update its leaf in place) and record nothing.

    numpy's floating-point warnings are off for the pass (hooks and custom Functions'
    backward included): torch's engine is silent where a gradient formula meets inf - inf or
    0 * inf, and dlpy's module filter (dlpy/__init__.py) is overridden by a program's
    ``warnings.simplefilter("always")``, the usual way to assert that nothing warns."""
    _passes.append([None, None])
    _pass_keys.append(next(_pass_numbers))
    mode = _grad_mode[0]
    if mode and not create_graph:
        _set_grad_mode(False)
    try:
        with np.errstate(all="ignore"):
            return _backpropagate_pass(roots, root_grads, retain_graph, capture, create_graph)
    finally:
        _passes.pop()
        _pass_keys.pop()
        if mode and not create_graph:
            _set_grad_mode(mode)


def _backpropagate_pass(roots: list[Tensor], root_grads: list[np.ndarray], retain_graph: bool,
                        capture: set[int] | None = None, create_graph: bool = False
                        ) -> dict[int, np.ndarray]:
    """The reverse pass shared by ``Tensor.backward`` and ``dlpy.autograd.grad``.

    Walks the tensors that need gradients from the roots back, in reverse topological order,
    summing the gradients a tensor receives from every use. Without ``capture`` each leaf's
    gradient accumulates into its ``.grad``. With ``capture`` (ids of tensors) nothing
    accumulates: only the ops on a path to a captured tensor run, and the captured tensors'
    gradients are returned by id (those that got none are missing). ``create_graph`` (with
    ``capture``; root_grads Tensors) runs ``_backpropagate_graph`` instead.
    """
    if create_graph:
        return _backpropagate_graph(roots, root_grads, capture)
    grads: dict[int, np.ndarray] = {}  # by id: Tensors may define ==
    shared = set()  # arrays someone else may hold: a leaf gets a copy of these
    owned: set[int] = set()  # sums the engine allocated, held by grads only: added to in place
    for root, grad in zip(roots, root_grads):
        existing = grads.get(id(root))
        grads[id(root)] = grad if existing is None else existing + grad
        shared.add(id(grad))
    # (a plain backward needs only the order: _pass_order's call saved)
    if capture is None:
        order, needed = _schedule(roots), None
    else:
        needed = _pass_order(roots, capture)[1]
        order = _schedule(roots, needed)
    _passes[-1][:] = order, needed
    captured: dict[int, np.ndarray] = {}
    post_hooks = _post_hook_count > 0  # checked once per pass: nothing per leaf until used
    node_hooks = _node_hook_count > 0
    packed = _packed_count > 0
    scheduled = None  # the tensors of the pass, as a set once an in-place change needs it
    for node in reversed(order):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        if owned:  # (empty unless a node was used twice)
            owned.discard(id(grad))  # handed on from here: never written to again
        if type(grad) is SliceGrad:  # hooks, ops, leaves and users see dense arrays only
            grad = grad.dense()
        op = node.op
        if capture is not None:
            grad, onward = _capture(node, grad, capture, needed, captured)
            if not onward:
                continue
        elif node._hooks:
            grad = _run_hooks(node, node._hooks, grad)
        if op is None:  # a leaf (only without capture): accumulate across backward calls
            state = _accumulate_node_state(node) if node_hooks else None
            if state is not None and state.pre_hooks:
                grad = _run_accumulate_pre_hooks(node, state, grad)
                shared.add(id(grad))  # perhaps a hook's Tensor's array: copied
                if grad is None:  # a pre-hook returned (None,): nothing to add, as torch's
                    if post_hooks and getattr(node, "_post_hooks", None):
                        _run_post_hooks(node)
                    for hook in list(state.hooks.values()):
                        hook((), (None,))
                    continue
            # a fresh array that only this leaf will hold is kept without a copy (speed)
            _accumulate(node, grad, not (retain_graph or id(grad) in shared or (
                type(grad) is np.ndarray and grad.base is not None)))
            shared.add(id(grad))
            if post_hooks and getattr(node, "_post_hooks", None):
                _run_post_hooks(node)
            if state is not None:
                for hook in list(state.hooks.values()):
                    hook((), _shown((grad,)))
            continue
        if op.freed:
            raise _freed_error(op)
        if node._tick < _clock:  # something changed in place since op recorded node
            scheduled = scheduled or _Scheduled(order)
            _check_versions(node, op, scheduled)
        if packed and "_packed" in op.__dict__:  # saved_tensors_hooks packed what op saved
            _unpack_saved(op)
        if type(grad) is not np.ndarray and isinstance(grad, SparseGrad):
            grad = grad.dense()  # sparse gradients stay sparse only in leaves
        if node_hooks:
            _note_output(op)
        if node_hooks and op in _node_state:
            parent_grads = _hooked_grads(
                op, grad, _unpacked_grads if packed and "_packed" in op.__dict__
                else _checked_grads, ())
        elif packed and "_packed" in op.__dict__:
            parent_grads = _unpacked_grads(op, grad)
        else:
            parent_grads = _checked_grads(op, grad)
        if _detect_anomaly:
            _check_backward(op, grad, parent_grads)
        for parent, parent_grad in zip(op.inputs, parent_grads):
            if parent_grad is not None:  # a node used twice gets the sum
                key = id(parent)
                existing = grads.get(key)
                grads[key] = (parent_grad if existing is None
                              else _sum(existing, parent_grad, owned))
        if not retain_graph:
            op.free()
    return captured


def _capture(node: Tensor, grad, capture: set[int], needed: set[int], captured: dict):
    """autograd.grad's pass at ``node``: its gradient after its tensor hooks, and whether its
    op runs on (toward another captured tensor). As torch's engine, a captured tensor whose op
    runs on is captured before its hooks (they run with the op), any other after them."""
    op = node.op
    onward = op is not None and any(id(p) in needed for p in (
        _edges(node, op.inputs) if node._tick < _clock else op.inputs))
    if onward and id(node) in capture:
        captured[id(node)] = grad
    if node._hooks:
        grad = _run_hooks(node, node._hooks, grad)
    if not onward and id(node) in capture:
        captured[id(node)] = grad
    return grad, onward


def _pass_order(roots: list[Tensor], capture: set[int] | None
                ) -> tuple[list[Tensor], set[int] | None]:
    """The tensors a reverse pass visits, each after its inputs, and (with ``capture``) the ids
    of those with a path to a captured tensor: only these are kept and only their ops run."""
    order = _topological_order(roots)
    if capture is None:
        return order, None
    needed = set(capture)
    for node in order:
        op = node.op
        if op is None:
            continue
        tick = node._tick
        for p in op.inputs:
            key = id(p)
            if getattr(p, "_tick", 0) > tick:  # changed in place after op read it: op's edge
                old = _stand_in(p, tick)  # leads to its old value, as torch's (not to p)
                key = key if old is None else id(old)
            if key in needed:
                needed.add(id(node))
                break
    return [node for node in order if id(node) in needed], needed


def _backward_into(name: str, roots: list[Tensor], root_grads: list, retain_graph: bool,
                   inputs, discard: frozenset = frozenset()) -> None:
    """backward(inputs=...): only the ops on a path to ``inputs`` run, and only their
    ``.grad`` accumulate (leaves or not; one the pass does not reach keeps its ``.grad``).
    ``discard``: ids of inputs whose gradient is computed but kept nowhere (a GradientEdge of
    an op's output, as torch's)."""
    global _selective_passes
    targets = _targets(name, inputs)
    for t in targets:  # a non-leaf input keeps its gradient from now on, as torch's
        if t.op is not None and id(t) not in discard and not t.retains_grad:
            t.retain_grad()
    _selective_passes += 1
    try:
        captured = _backpropagate(roots, root_grads, retain_graph, {id(t) for t in targets})
    finally:
        _selective_passes -= 1
    for t in {id(t): t for t in targets}.values():
        grad = captured.get(id(t))
        if grad is None or id(t) in discard or (t.op is not None and t.retains_grad):
            continue  # retain_grad's hook already gave a non-leaf its .grad in the pass
        _accumulate(t, grad, False)  # the pass's may be shared: copied
        if t.op is None and getattr(t, "_post_hooks", None):
            _run_post_hooks(t)


def _gradless_into(x: Tensor, value):
    """``value`` detached where it is a tensor that requires grad written in place into an
    integer or bool ``x`` (torch's masked_fill_/index_fill_ write it: no gradient goes to it;
    the out-of-place forms refuse, "Autograd not support dtype")."""
    if isinstance(value, Tensor) and value.requires_grad and not (
            is_floating_dtype(x.dtype) or x.dtype.kind == "c"):
        return value.detach()
    return value


def _views_contiguous(array: np.ndarray) -> bool:
    """Whether ``array`` is a view (through any chain: unfold's windows, then movedim) of
    memory held by a row-major array: a layout torch shares, so torch's view rule applies."""
    owner = _buffer(array)
    return owner is not array and isinstance(owner, np.ndarray) and owner.flags.c_contiguous


def _reshapes_in_place(array: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether numpy can give ``array`` the ``shape`` without a copy (PyTorch's view rule)."""
    try:
        np.reshape(array, shape, copy=False)
    except ValueError:
        return False
    except TypeError:  # numpy < 2.1 has no copy=: setting the shape of a view says it
        probe = array.view()
        try:
            probe.shape = shape
        except AttributeError:
            return False
    return True


def _view_dtype(tensor: Tensor, dtype) -> Tensor:
    """``t.view(dtype)``: the same memory read as ``dtype`` (a last axis of another length
    where the item sizes differ), without a gradient and not a view for ``_base``, as torch's;
    torch's checks of the last axis, strides and storage offset where the sizes differ. An
    empty result has torch's strides of a new tensor of its shape."""
    dtype = np.dtype(dtype)
    data = tensor.data
    old, new = data.itemsize, dtype.itemsize
    if old != new:
        _check_view_dtype(tensor, data, dtype)
        if data.shape[-1] == 1 or data.size == 0:  # any last stride reads the same memory
            data = np.lib.stride_tricks.as_strided(
                data, strides=data.strides[:-1] + (old,), writeable=data.flags.writeable)
    out = data.view(dtype)
    if out.size == 0 and old != new:  # zero strides: stride() reads a new tensor's
        out = np.lib.stride_tricks.as_strided(out, strides=(0,) * out.ndim,
                                              writeable=out.flags.writeable)
    if type(tensor.data) is _MetaArray:  # (its strides, storage offset and storage: torch's)
        out = out.view(_MetaArray)
        _meta.retyped(tensor.data, out)
    return Tensor(out)


def _check_view_dtype(tensor: Tensor, data: np.ndarray, dtype: np.dtype) -> None:
    old, new = data.itemsize, dtype.itemsize
    names = f"{_TORCH_DTYPE_NAMES.get(data.dtype.name, data.dtype.name)} as " \
            f"{_TORCH_DTYPE_NAMES.get(dtype.name, dtype.name)} (different element sizes)"
    if data.ndim == 0:
        raise RuntimeError(f"self.dim() cannot be 0 to view {names}")
    if data.size == 0:  # torch's strides of a new empty tensor
        strides = tuple(int(np.prod([max(n, 1) for n in data.shape[i + 1:]]))
                        for i in range(data.ndim))
        offset = 0
    else:
        strides, offset = tensor.stride(), tensor.storage_offset()
    if strides[-1] != 1:
        raise RuntimeError(f"self.stride(-1) must be 1 to view {names}, but got {strides[-1]}")
    if new < old:
        return
    ratio = new // old
    if data.shape[-1] % ratio:
        raise RuntimeError(f"self.size(-1) must be divisible by {ratio} to view {names}, but "
                           f"got {data.shape[-1]}")
    if offset % ratio:
        raise RuntimeError(f"self.storage_offset() must be divisible by {ratio} to view "
                           f"{names}, but got {offset}")
    for axis, stride in enumerate(strides[:-1]):
        if stride % ratio:
            raise RuntimeError(f"self.stride({axis}) must be divisible by {ratio} to view "
                               f"{names}, but got {stride}")


_TORCH_DTYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                      "bfloat16": "BFloat16", "uint8": "Byte", "int8": "Char", "int16": "Short",
                      "int32": "Int", "int64": "Long", "bool": "Bool", "complex64": "ComplexFloat",
                      "complex128": "ComplexDouble"}


def _grad_tensor(array: np.ndarray) -> Tensor:
    """``array`` (not copied) as a ``.grad``: a Tensor without a graph."""
    t = Tensor.__new__(ComplexTensor if array.dtype.kind == "c" else Tensor)
    t.data, t._grad, t.requires_grad, t.op, t.name, t._hooks, t._tick = (
        array, None, False, None, None, None, 0)
    return t


def _leaf_layout(data: np.ndarray, grad: np.ndarray, fresh: bool):
    """A first gradient of a leaf that is not C-contiguous laid out as the leaf when the leaf's
    memory is dense (a transpose, channels-last), else C-contiguous, as torch's AccumulateGrad
    (its layout contract): (grad, fresh)."""
    if grad.ndim == 4:
        from dlpy.layouts import channels_last, is_in_format, laid_out, suggests_channels_last
        if suggests_channels_last(data):
            if not is_in_format(grad, channels_last):
                return laid_out(grad, channels_last), True
            return grad, fresh
    if _dense_memory(data):
        if grad.strides != data.strides:
            out = np.empty_like(data, dtype=grad.dtype, order="K")  # data's axis order
            out[...] = grad
            return out, True
    elif not grad.flags.c_contiguous:  # an expanded or sliced leaf: a row-major gradient
        return np.ascontiguousarray(grad), True
    return grad, fresh


def _dense_memory(array: np.ndarray) -> bool:
    """Whether ``array``'s elements fill its memory without gaps or overlaps, in some order of
    its axes (torch's is_non_overlapping_and_dense)."""
    expected = array.itemsize
    for stride, size in sorted((s, n) for s, n in zip(array.strides, array.shape) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _accumulate(node: Tensor, grad, fresh: bool) -> None:
    """node.grad += grad (an array or a SparseGrad), as torch's AccumulateGrad: into the
    array of a plain dense ``.grad`` in place, else a new one. ``fresh``: nobody else holds
    ``grad``, so a first gradient keeps it without a copy."""
    if type(grad) is not np.ndarray and not isinstance(grad, SparseGrad):
        if type(grad) is _MetaArray:  # a meta gradient (no values to add): a meta .grad
            if node._grad is None or type(node._grad.data) is not _MetaArray:
                node._grad = _grad_tensor(_meta.as_meta(grad))
                if _meta._fake[0] is not None:  # (a real leaf's, inside a FakeTensorMode)
                    _meta._fake[0].leaf_grad(node, node._grad)
            return
        grad, fresh = np.array(grad), True  # a numpy scalar from an op: an array of its own
    if _grad_dtype_count:  # a grad_dtype set somewhere: the gradient cast to the leaf's
        wanted = _wanted_grad_dtype(node)
        if wanted is not None and grad.dtype != wanted:
            grad, fresh = (grad if type(grad) is np.ndarray else grad.dense()).astype(wanted), True
    existing = node._grad
    if existing is None:
        if type(grad) is np.ndarray:
            data = node.data
            if type(data) is np.ndarray and grad.shape == data.shape and not (
                    data.flags.c_contiguous and grad.flags.c_contiguous):  # (a row-major
                # leaf's gradient row-major too: torch's layout contract)
                grad, fresh = _leaf_layout(node.data, grad, fresh)
                if not fresh:  # a copy in the layout chosen (ndarray.copy is row-major)
                    grad, fresh = grad.copy(order="K"), True
            node._grad = _grad_tensor(grad if fresh else grad.copy())
        else:  # a SparseGrad
            node._grad = grad if fresh else grad.copy()
        return
    if type(existing) is not SparseGrad:
        data = existing.data
        # in place, as torch's AccumulateGrad outside create_graph, a .grad with a graph
        # (create_graph) or one requiring grad (assigned) too
        if (type(grad) is np.ndarray and data.shape == grad.shape
                and (data.dtype is grad.dtype or data.dtype == grad.dtype)):
            try:
                data += grad
            except ValueError:  # a read-only array (a broadcast view): a new one below
                pass
            else:  # a new version, as torch's AccumulateGrad: ops that saved the old .grad
                # refuse. Only another holder of the .grad or its array (an op, a view, the
                # user; torch's use_count test) can have recorded an op on it: without one,
                # the clock (which makes the rest of this pass check versions) stays, and
                # the count goes up alone. Each has one owner here: node._grad, existing.data
                if (existing.op is not None or existing.requires_grad or data.base is not None
                        or _getrefcount(existing) > _LOCAL_REFS + 1
                        or _getrefcount(data) > _LOCAL_REFS + 1):
                    _bump(data)
                else:
                    entry = _marks.get(id(data))
                    if entry is None:
                        _bump(data, tick=False)
                    else:
                        _marks[id(data)] = (entry[0] + 1,) + entry[1:]
                return
        existing = data
    total = existing + grad  # sparse + sparse stays sparse; with a dense one, dense
    node._grad = total if isinstance(total, SparseGrad) else _grad_tensor(np.asarray(total))


def _local_refs() -> int:
    """getrefcount of an object only a local variable holds (2 on CPython up to 3.13)."""
    probe = object()
    return _getrefcount(probe)


_LOCAL_REFS = _local_refs()


def _as_grad(tensor: Tensor, value) -> Tensor | SparseGrad:
    """What ``tensor.grad = value`` stores, checked as torch's: a Tensor of the tensor's shape
    and dtype, a SparseGrad of its shape, or an array of its shape, cast to its dtype (dlpy's
    .grad used to be an array) and kept as a Tensor; a list or a number is refused, as torch."""
    if isinstance(value, SparseGrad):
        if value.shape != tensor.shape:
            raise RuntimeError(f"grad: assigned a sparse gradient of shape {value.shape} to a "
                               f"tensor of shape {tensor.shape}; the shapes must match")
        return value
    if isinstance(value, Tensor):
        if not isinstance(value.data, np.ndarray):
            raise TypeError(f"grad: expected a dense Tensor, an array or None, got a "
                            f"{type(value).__name__}")
        if value.shape != tensor.shape:
            raise RuntimeError(f"grad: assigned a gradient of shape {value.shape} to a tensor "
                               f"of shape {tensor.shape}; the shapes must match")
        wanted = _wanted_grad_dtype(tensor)
        if wanted is not None and value.dtype != wanted:
            if wanted == tensor.dtype:
                raise RuntimeError(f"grad: assigned a gradient of dtype {value.dtype} to a "
                                   f"tensor of dtype {tensor.dtype}; the dtypes must match (as "
                                   "torch)")
            raise RuntimeError(f"grad: assigned a gradient of dtype {value.dtype} to a tensor "
                               f"with grad_dtype {wanted}; the gradient must match the "
                               "tensor's grad_dtype (set grad_dtype to None to allow any)")
        return value
    if getattr(value, "is_sparse", False) is True and hasattr(value, "sparse_dim"):
        return _sparse_tensor_grad(tensor, value)
    array = (value if isinstance(value, np.ndarray) else  # a numpy scalar: a 0-d array
             np.asarray(value) if isinstance(value, np.generic) else None)
    if array is None or array.dtype.kind not in "biufc":
        raise TypeError(f"grad: expected a Tensor, a numpy array or None, got a "
                        f"{type(value).__name__}")
    if array.shape != tensor.shape:
        raise RuntimeError(f"grad: assigned a gradient of shape {array.shape} to a tensor of "
                           f"shape {tensor.shape}; the shapes must match")
    wanted = _wanted_grad_dtype(tensor) if _grad_dtype_count else tensor.dtype
    if wanted is None:
        wanted = array.dtype
    return _grad_tensor(array if array.dtype == wanted else array.astype(wanted))


_grad_dtype_count = 0  # grad_dtype assignments so far: nothing checks a leaf's until one


def _wanted_grad_dtype(tensor: Tensor) -> np.dtype | None:
    """The dtype ``tensor.grad`` must have: its grad_dtype if set (None: any), else its own."""
    return tensor.__dict__.get("_grad_dtype", tensor.data.dtype) if _grad_dtype_count \
        else tensor.data.dtype


def _sparse_tensor_grad(tensor: Tensor, value) -> Tensor | SparseGrad:
    """``tensor.grad = torch.sparse_coo_tensor(...)``: a COO tensor sparse in its first dim
    as a SparseGrad (the rows an optimiser's sparse step updates), any other densified."""
    if tuple(value.shape) != tuple(tensor.shape):
        raise RuntimeError(f"grad: assigned a sparse gradient of shape {tuple(value.shape)} to "
                           f"a tensor of shape {tensor.shape}; the shapes must match")
    if value.dtype != tensor.dtype:
        raise RuntimeError(f"grad: assigned a gradient of dtype {value.dtype} to a tensor of "
                           f"dtype {tensor.dtype}; the dtypes must match (as torch)")
    if not value.is_sparse_csr and value.sparse_dim() == 1:
        return SparseGrad(value._ind[0], value._v.data, tuple(value.shape),
                          coalesced=value.is_coalesced())
    return _grad_tensor(np.asarray(value.to_dense().data))


def _backward_graph(name: str, roots: list[Tensor], root_grads: list[Tensor],
                    inputs, discard: frozenset = frozenset()) -> None:
    """backward(create_graph=True): the gradients of the pass are Tensors with a graph
    (``_backpropagate_graph``), added to the ``.grad`` of every leaf (or of ``inputs``, but
    those in ``discard``, as _backward_into) by a recorded add, so a ``.grad`` can be
    differentiated again."""
    if inputs is None:
        targets = [t for t in _topological_order(roots) if t.op is None]
    else:
        targets = _targets(name, inputs)
    captured = _backpropagate_graph(roots, root_grads, {id(t) for t in targets})
    with set_grad_enabled(True):
        for t in {id(t): t for t in targets}.values():
            grad = captured.get(id(t))
            if grad is None or id(t) in discard:
                continue
            wanted = _wanted_grad_dtype(t)
            if grad.op is None:  # a constant: an array of its own, as a plain pass's
                grad = _grad_tensor(np.array(grad.data, dtype=wanted))
            elif wanted is not None and grad.dtype != wanted:
                grad = grad.to(wanted)
            existing = t._grad
            if existing is None:
                t._grad = grad
            else:
                if isinstance(existing, SparseGrad):
                    existing = _grad_tensor(existing.dense())
                t._grad = existing + grad
            if t.op is None and getattr(t, "_post_hooks", None):
                _run_post_hooks(t)


def _targets(name: str, inputs) -> list[Tensor]:
    """backward's ``inputs``, checked: tensors that require gradients."""
    from dlpy.autograd import _as_list

    targets = _as_list(name, "inputs", inputs)
    for i, t in enumerate(targets):
        if not t.requires_grad:
            raise AutogradError(f"{name}: inputs[{i}] (shape {t.shape}) does not require "
                             "gradients, so it can get no .grad")
    return targets


def _freed_error(op: Op) -> RuntimeError:
    return RuntimeError(
        f"backward: the graph through {type(op).__name__} was already freed by an "
        "earlier backward(); pass retain_graph=True to the first call to go twice"
    )


def _backpropagate_graph(roots: list[Tensor], root_grads: list[Tensor], capture: set[int]
                         ) -> dict[int, Tensor]:
    """See _backpropagate_graph_pass; this one notes the pass in _passes while it runs (with
    numpy's floating-point warnings off, as _backpropagate)."""
    _passes.append([None, None])
    _pass_keys.append(next(_pass_numbers))
    try:
        with np.errstate(all="ignore"):
            return _backpropagate_graph_pass(roots, root_grads, capture)
    finally:
        _passes.pop()
        _pass_keys.pop()


def _backpropagate_graph_pass(roots: list[Tensor], root_grads: list[Tensor], capture: set[int]
                              ) -> dict[int, Tensor]:
    """``_backpropagate`` with create_graph: the same walk, but the gradients are Tensors and
    each op's ``backward_graph`` computes its inputs' from them with dlpy ops, so what comes
    back records how it was computed and can be differentiated again (double backward).

    Recording is on during the pass even under no_grad (as PyTorch's create_graph); the sums
    of a reused tensor's gradients, the undoing of broadcasting and the dtype casts are
    recorded ops; nothing is freed (the new graph reads the old one's tensors)."""
    if capture is None:
        raise ValueError("create_graph needs the tensors to capture: use dlpy.autograd.grad")
    grads: dict[int, Tensor] = {}
    captured: dict[int, Tensor] = {}
    with set_grad_enabled(True):
        for root, grad in zip(roots, root_grads):
            existing = grads.get(id(root))
            grads[id(root)] = grad if existing is None else existing + grad
        needed = _pass_order(roots, capture)[1]
        order = _schedule(roots, needed)
        _passes[-1][:] = order, needed
        scheduled = None
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            grad, onward = _capture(node, grad, capture, needed, captured)
            if not onward:
                continue
            op = node.op
            if op.freed:
                raise _freed_error(op)
            if node._tick < _clock:  # something changed in place since op recorded node
                scheduled = scheduled or _Scheduled(order)
                _check_versions(node, op, scheduled, True)
            if _packed_count and "_packed" in op.__dict__:
                _unpack_saved(op)
            if _node_hook_count:
                _note_output(op)
            if _node_hook_count and op in _node_state:
                parent_grads = _hooked_grads(op, grad, _checked_graph_grads, (node,))
            else:
                parent_grads = _checked_graph_grads(op, grad, node)
            if _detect_anomaly:
                _check_backward(op, grad.data, [g if g is None else g.data for g in parent_grads])
            for parent, parent_grad in zip(op.inputs, parent_grads):
                if parent_grad is not None:
                    existing = grads.get(id(parent))
                    grads[id(parent)] = (parent_grad if existing is None
                                         else existing + parent_grad)
    return captured


def _sum(existing, grad, owned: set[int]):
    """existing + grad, two gradients of one tensor.

    Only an array in ``owned`` (one this pass allocated for a sum and nobody else holds) is
    added to in place; any other (an op's grad_output handed on as it is, a hook's or the
    user's array) is never written. Slices go into one such array, ``total[index] += values``,
    so each costs O(slice), not a zero array of the whole tensor. Meta gradients sum to a meta
    array of their broadcast shape (no values to add)."""
    if type(existing) is _MetaArray or type(grad) is _MetaArray:
        from dlpy.device import meta_array

        return meta_array(np.broadcast_shapes(np.shape(existing), np.shape(grad)),
                          np.result_type(existing.dtype, grad.dtype))
    if id(existing) not in owned:
        if type(existing) is not SliceGrad and type(grad) is not SliceGrad:
            total = existing + grad  # a new array (or, sparse + sparse, a SparseGrad)
            if type(total) is np.ndarray:
                owned.add(id(total))
            return total
        if type(existing) is SliceGrad and type(grad) is not SliceGrad:
            existing, grad = grad, existing  # copy the other one rather than fill zeros
        existing = (existing.dense() if isinstance(existing, (SliceGrad, SparseGrad))
                    else np.array(existing))  # a copy, and 0-d stays an array: += in place
        owned.add(id(existing))
    if type(grad) is SliceGrad:
        grad.add_to(existing)
    elif isinstance(grad, SparseGrad):
        rows = grad.coalesce()  # unique rows: += on a fancy index then adds each once
        existing[rows.indices] += rows.values
    else:
        existing += grad
    return existing


def _check_not_batched(name: str, data) -> None:
    """An in-place op on a tensor that is not batched at a vmap level, with a batched
    operand (its result is one value per sample): refused, as torch.func refuses it."""
    if type(data).__name__ in ("_Shape", "_RunningStatistics"):  # a BatchedTensor's .data
        raise RuntimeError(f"{name}: vmap: an in-place op on a tensor that is not batched (not "
                           "an input mapped over, or made from one) with a batched operand "
                           "would store one value per sample in it; use the out-of-place op")


def _run_hooks(node: Tensor, hooks: dict, grad):
    """Each gradient hook in turn; one that returns something replaces the gradient. Under
    create_graph the hooks get a Tensor (as PyTorch's) and what they return becomes one."""
    graph = isinstance(grad, Tensor)
    keep = None  # retain_grad's hook runs last, after every other hook (as torch's)
    shown = None  # the Tensor the hooks get: one object until a hook replaces the gradient,
    # as torch's (captum's LRP marks it in one hook and reads the mark in the next)
    for hook in list(hooks.values()):
        if getattr(hook, "retains_grad", False):
            keep = hook
            continue
        if not (graph or isinstance(grad, SparseGrad)) and shown is None:
            shown = _grad_tensor(_hook_array(grad))
        returned = result = hook(grad if graph or isinstance(grad, SparseGrad) else shown)
        if result is None:
            continue
        if not isinstance(result, (Tensor, SparseGrad, np.ndarray)):
            raise TypeError(f"register_hook: expected a Tensor, but hook returned "
                            f"'{type(result).__name__}'")  # torch's TypeError
        if isinstance(result, Tensor) and result.data.dtype != node.data.dtype:
            raise RuntimeError(f"register_hook: a hook changed the dtype of the gradient (was "
                               f"{node.data.dtype}, got {result.data.dtype})")  # as torch
        if graph:
            result = _graph_grad(result, node.data.dtype)
        elif not isinstance(result, SparseGrad):
            result = _hook_array(result.data if isinstance(result, Tensor) else result)
            result = result.astype(node.data.dtype, copy=False)
        if tuple(result.shape) != node.shape:
            raise RuntimeError(f"register_hook: a hook returned a gradient of shape "
                               f"{tuple(result.shape)} for a tensor of shape {node.shape}")
        grad = result
        # the next hook gets the returned Tensor itself where it is the new gradient
        shown = returned if isinstance(returned, Tensor) and returned.data is result else None
    if keep is not None:
        keep(grad if graph or isinstance(grad, SparseGrad)
             else shown if shown is not None else _grad_tensor(_hook_array(grad)))
    return grad


def _hook_array(grad) -> np.ndarray:
    """A gradient as the array a hook's Tensor holds: a meta gradient stays one."""
    return grad if type(grad) is _MetaArray else np.asarray(grad)


def _checked_grads(op: Op, grad_output: np.ndarray) -> list[np.ndarray | None]:
    """Run op.backward and check the count and shapes of the gradients: the one place for it.

    A gradient at a broadcast shape is summed back to its input's shape, and cast to its dtype.
    """
    grads = op.backward(grad_output)
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    inputs = op.inputs
    if len(grads) != len(inputs):
        raise _count_error(op, "backward", grads)
    checked: list[np.ndarray | None] = []
    for i, (tensor, grad) in enumerate(zip(inputs, grads)):
        if grad is None or not tensor.requires_grad:
            checked.append(None)
            continue
        data = tensor.data
        if type(grad) is not np.ndarray:  # (a plain array, the common case, skips these)
            if type(grad) is SliceGrad:  # GetItem's, of a basic slice
                if grad.shape != data.shape:
                    raise RuntimeError(f"{type(op).__name__}.backward: slice gradient {i} has "
                                       f"shape {grad.shape}, input has shape {data.shape}")
                checked.append(grad if grad.dtype == data.dtype else grad.astype(data.dtype))
                continue
            if isinstance(grad, SparseGrad):
                if grad.shape != data.shape:
                    raise RuntimeError(f"{type(op).__name__}.backward: sparse gradient {i} has "
                                       f"shape {grad.shape}, input has shape {data.shape}")
                checked.append(grad if grad.dtype == data.dtype else grad.astype(data.dtype))
                continue
            grad = np.asarray(grad)
        if grad.shape != data.shape:
            try:
                grad = sum_to_shape(grad, data.shape)
            except ValueError:
                raise _shape_error(op, "backward", i, grad, data) from None
        if grad.dtype is not data.dtype and grad.dtype != data.dtype:
            if grad.dtype.kind == "c" and data.dtype.kind != "c":
                grad = grad.real  # a real input of a complex result: dL/dx is the real part
            with np.errstate(over="ignore"):  # (float64 past float32's range: inf, silently)
                grad = grad.astype(data.dtype)
        checked.append(grad)
    return checked


def _count_error(op: Op, method: str, grads) -> RuntimeError:
    return RuntimeError(f"{type(op).__name__}.{method} returned {len(grads)} gradients for "
                        f"{len(op.inputs)} inputs")


def _shape_error(op: Op, method: str, i: int, grad, data) -> RuntimeError:
    return RuntimeError(f"{type(op).__name__}.{method}: gradient {i} has shape "
                        f"{tuple(grad.shape)}, input has shape {data.shape}")


def _graph_grad(grad, dtype) -> Tensor:
    """A gradient as a Tensor of ``dtype`` for the create_graph pass: a Tensor is cast by a
    recorded op, an array (or a sparse or slice gradient) becomes a dense constant."""
    if not isinstance(grad, Tensor):
        if isinstance(grad, (SparseGrad, SliceGrad)):
            grad = grad.dense()
        if type(grad) is _MetaArray:  # a meta gradient: a meta constant
            from dlpy.device import meta_array

            return Tensor(meta_array(grad.shape, dtype))
        return Tensor(np.asarray(grad, dtype=dtype))
    return grad if grad.data.dtype == dtype else _arith.cast(grad, dtype)


def _checked_graph_grads(op: Op, grad_output: Tensor, output: Tensor) -> list[Tensor | None]:
    """op.backward_graph, checked as ``_checked_grads`` checks backward: one gradient per input,
    summed back to the input's shape (by the same ``sum_to_shape``) and cast to its dtype, each
    step a recorded op."""
    grads = op.backward_graph(grad_output, output)
    if type(grads) is not tuple:
        grads = tuple(grads) if isinstance(grads, list) else (grads,)
    if len(grads) != len(op.inputs):
        raise _count_error(op, "backward_graph", grads)
    checked: list[Tensor | None] = []
    for i, (tensor, grad) in enumerate(zip(op.inputs, grads)):
        if grad is None or not tensor.requires_grad:
            checked.append(None)
            continue
        data = tensor.data
        grad = _graph_grad(grad, data.dtype)
        if grad.shape != data.shape:
            try:
                grad = sum_to_shape(grad, data.shape)
            except ValueError:
                raise _shape_error(op, "backward_graph", i, grad, data) from None
        checked.append(grad)
    return checked


# a leaf's key in the ready queue (keys are -Op._seq): its AccumulateGrad runs as soon as it is
# ready, as torch's (sequence number UINT64_MAX)
_LEAF_KEY = -float("inf")


def _schedule(roots: list[Tensor], needed: set[int] | None = None) -> list[Tensor]:
    """The tensors a reverse pass runs, in torch's engine order, last first (each after its
    inputs, as ``_topological_order``'s). torch runs a node once every node using it has run,
    and of the nodes ready, the one recorded last (the highest ``Op._seq``), a leaf's
    AccumulateGrad at once. Edges to an input changed in place after the op read it lead to
    the value it read (``_stand_in``), as ``_check_versions`` rewires them. ``needed``: the ids
    the pass is limited to (``_pass_order``'s), else every tensor reached that needs a
    gradient. Several roots hang off one root node, as torch's GraphRoot.

    Leaves ready together run in the order of torch's ready queue (a C++
    ``std::priority_queue``: ``_heap_push``/``_heap_pop``) where that can be seen (a leaf
    with hooks, or hooks on AccumulateGrad nodes); else in the order their edges came."""
    if _graph_stand_ins:  # saved_tensors_hooks' stand-ins give way to the live tensors
        _restore_graph_inputs()
    clock = _clock
    deps: dict[int, int] = {}  # id -> the edges into it not run yet
    rewired = None  # id -> the edges of a node whose inputs changed in place after its op
    exact = _node_hook_count > 0
    stack = []
    for root in roots:
        if id(root) not in deps and (needed is None or id(root) in needed):
            deps[id(root)] = 0
            stack.append(root)
    get = deps.get
    while stack:
        node = stack.pop()
        op = node.op
        if op is None:
            # (a view made under no_grad has no node: nothing to check, an op that read it
            # after its memory changed was refused, as torch's: _check_not_stale)
            if not node._gradless and (getattr(node, "_hooks", None)
                                       or getattr(node, "_post_hooks", None)):
                exact = True
            continue
        inputs = op.inputs
        if node._tick < clock:  # perhaps an input changed in place after op read it
            inputs = _edges(node, inputs)
            if rewired is None:
                rewired = {}
            rewired[id(node)] = inputs
        for parent in inputs:
            if parent.requires_grad:
                key = id(parent)
                count = get(key)
                if count is not None:
                    deps[key] = count + 1
                elif needed is None or key in needed:
                    deps[key] = 1
                    stack.append(parent)
    ran: list[Tensor] = []
    heap: list = []
    push, pop = (_heap_push, _heap_pop) if exact else (_heapq.heappush, _heapq.heappop)
    made = 0  # (pushes so far: keeps heapq's tuples from comparing tensors)
    ready = [roots[0]] if len(roots) == 1 and id(roots[0]) in deps else []
    if len(roots) > 1:  # the root node's edges, one per root
        for root in roots:
            if id(root) in deps:
                deps[id(root)] += 1
        for root in roots:
            key = id(root)
            if key in deps:
                deps[key] -= 1
                if not deps[key]:
                    ready.append(root)
    for parent in ready:  # (the roots)
        op = parent.op
        if op is not None:
            made += 1
            push(heap, (-op._seq, made, parent))
        elif not parent._gradless:
            push(heap, (_LEAF_KEY, 0, parent))
    follow = None  # the one node made ready by the last one run, kept off an empty heap
    if exact:  # (where leaves' order shows: the order torch's nodes list their edges in)
        from dlpy.utils._dispatch_backward import _EDGE_ORDER as edge_order
    while True:
        if follow is not None:
            node, follow = follow, None
        elif heap:
            node = pop(heap)[2]
        else:
            break
        ran.append(node)
        op = node.op
        if op is None:
            continue
        if rewired is not None and id(node) in rewired:
            inputs = rewired[id(node)]
        elif exact and type(op).__name__ in edge_order:
            inputs = edge_order[type(op).__name__](op)
        else:
            inputs = op.inputs
        for parent in inputs:
            if parent.requires_grad:
                key = id(parent)
                count = get(key)
                if count is None:
                    continue
                if count != 1:
                    deps[key] = count - 1
                    continue
                op = parent.op
                if op is not None:
                    if follow is None and not heap:
                        follow = parent  # (alone: it runs next)
                        continue
                    if follow is not None:  # (not alone after all: both go on the heap)
                        made += 1
                        push(heap, (-follow.op._seq, made, follow))
                        follow = None
                    made += 1
                    push(heap, (-op._seq, made, parent))
                elif parent._gradless:
                    pass
                elif exact:
                    if follow is not None:
                        made += 1
                        push(heap, (-follow.op._seq, made, follow))
                        follow = None
                    push(heap, (_LEAF_KEY, 0, parent))
                else:  # (its place among other leaves ready with it is not seen)
                    ran.append(parent)
    ran.reverse()
    return ran


def _edges(node: Tensor, inputs: tuple) -> list[Tensor]:
    """The inputs of ``node``'s op, each input changed in place after the op read it replaced
    by the tensor holding the value it read (where one is known)."""
    tick, out = node._tick, []
    for parent in inputs:
        if getattr(parent, "_tick", 0) > tick:
            old = _stand_in(parent, tick)
            if old is not None:
                parent = old
        out.append(parent)
    return out


def _heap_push(heap: list, item: tuple) -> None:
    """libstdc++'s ``std::push_heap`` of ``item`` (a tuple: its key first; the smallest key
    comes out first) comparing keys only."""
    heap.append(None)
    _sift_up(heap, len(heap) - 1, item)


def _sift_up(heap: list, hole: int, item: tuple) -> None:
    """``item`` put at ``hole``, moved up past every parent with a larger key (libstdc++'s
    ``__push_heap``: an equal key stops it)."""
    key = item[0]
    while hole:
        parent = (hole - 1) >> 1
        if heap[parent][0] > key:
            heap[hole] = heap[parent]
            hole = parent
        else:
            break
    heap[hole] = item


def _heap_pop(heap: list) -> tuple:
    """libstdc++'s ``std::pop_heap`` then ``pop_back``, comparing keys only: the hole at the
    top goes down to a leaf by the smaller child (the right one of equals), then the last item
    goes up from there."""
    last = heap.pop()
    size = len(heap)
    if not size:
        return last
    top = heap[0]
    hole = child = 0
    while child < (size - 1) // 2:
        child = 2 * (child + 1)
        if heap[child][0] > heap[child - 1][0]:
            child -= 1
        heap[hole] = heap[child]
        hole = child
    if not size & 1 and child == (size - 2) // 2:
        child = 2 * (child + 1)
        heap[hole] = heap[child - 1]
        hole = child - 1
    _sift_up(heap, hole, last)
    return top


def _topological_order(roots: Tensor | list[Tensor]) -> list[Tensor]:
    """Tensors that need gradients, each after all of its inputs: a depth-first search with an
    explicit stack of (node, iterator over its inputs), so no recursion limit. An input changed
    in place after the op read it is followed to the value it read (``_edges``), as the pass
    routes its gradient: its new value may come after the node (``x3 = x2.exp();
    x2.copy_(x3)``)."""
    if _graph_stand_ins:  # saved_tensors_hooks' stand-ins give way to the live tensors
        _restore_graph_inputs()
    order: list[Tensor] = []
    visited: set[int] = set()
    clock = _clock

    def inputs_of(node, op):
        return _edges(node, op.inputs) if node._tick < clock else op.inputs

    for root in roots if isinstance(roots, list) else [roots]:
        if id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(inputs_of(root, root.op) if root.op is not None else ()))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent.requires_grad and (key := id(parent)) not in visited:
                    visited.add(key)
                    op = parent.op
                    if op is None:  # a leaf has no inputs to wait for: it follows at once
                        if not parent._gradless:  # (no node: no gradient goes there)
                            order.append(parent)
                        continue
                    stack.append((parent, iter(inputs_of(parent, op))))
                    break
            else:  # every input is done: the node can follow them
                stack.pop()
                order.append(node)
    return order


# The op modules import Op and Tensor from here, so they are imported last.
from dlpy import creation as _creation  # noqa: E402
from dlpy import overrides as _overrides  # noqa: E402  (before a subclass is defined)
from dlpy.ops import ArgDtypeError, ArgError, EmptyDimError, NoKernelError  # noqa: E402
from dlpy.ops import activation as _activation  # noqa: E402
from dlpy.ops import arithmetic as _arith  # noqa: E402
from dlpy.ops import check_dim as _check_dim  # noqa: E402
from dlpy.ops import complex as _complex  # noqa: E402
from dlpy.ops import cumulative as _cumulative  # noqa: E402
from dlpy.ops import indexing as _indexing  # noqa: E402
from dlpy.ops import mask as _mask  # noqa: E402
from dlpy.ops import matmul as _matmul  # noqa: E402
from dlpy.ops import pointwise as _pointwise  # noqa: E402
from dlpy.ops import promotion as _promotion  # noqa: E402
from dlpy.ops import rearrange as _rearrange  # noqa: E402
from dlpy.ops import reduce as _reduce  # noqa: E402
from dlpy.ops import shape as _shape  # noqa: E402
from dlpy.ops import softmax as _softmax  # noqa: E402
from dlpy.ops import views as _views  # noqa: E402
from dlpy.ops.complex import ComplexTensor  # noqa: E402

# Tensor subclasses that Op.__call__ does not take as plain Tensors: complex tensors, and those
# whose .data is only this process's piece of their value (register_piece_type)
_PIECES: tuple[type, ...] = ()
_ROUTED: tuple[type, ...] = (ComplexTensor,)
_plain_kinds: set[type] = set()  # Tensor subclasses Op.__call__ has taken as plain (Parameter)
# utils/_python_dispatch's answer for an op given an input of a routed type, once a
# __torch_dispatch__ subclass is defined: the op dispatched to it, or NotImplemented
_subclass_dispatch: list = [None]
_dispatch_kinds: weakref.WeakSet = weakref.WeakSet()  # the __torch_dispatch__ subclasses alive


def _routed(t) -> bool:
    """Whether Op.__call__ routes input ``t`` (not a Tensor, or one of ``_ROUTED``); a Tensor
    subclass it takes as plain is remembered in ``_plain_kinds``."""
    if isinstance(t, Tensor) and not isinstance(t, _ROUTED):
        if type(t) in _dispatch_kinds:
            return True  # (a __torch_dispatch__ subclass: never taken as plain)
        _plain_kinds.add(type(t))
        return False
    return True


def _dim_error(name: str, dim, ndim: int) -> Exception:
    """The IndexError (TypeError for a non-int) of ``size(dim)``/``stride(dim)`` with dim out of
    range, as torch's."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        return TypeError(f"{name}: dim must be an int, got {dim!r}")
    if ndim == 0:
        return IndexError(f"{name}: dim {dim} is out of range: the tensor has no axes")
    return IndexError(f"{name}: dim {dim} is out of range for a tensor with {ndim} axes "
                      f"(expected {-ndim} <= dim < {ndim})")


def _check_float8(kernel: str, *arrays: np.ndarray) -> None:
    """amp.dtypes.check_float8 (imported here on first use: amp imports this module)."""
    from dlpy.amp.dtypes import check_float8

    check_float8(kernel, *arrays)


def register_piece_type(cls: type) -> None:
    """Make every op given an instance of ``cls`` (a Tensor subclass whose .data is only a
    piece of its value: DTensor) call ``cls._check_op(op)`` first, which raises for an op
    that would compute on the piece as if it were the whole."""
    global _PIECES, _ROUTED
    _PIECES, _ROUTED = (*_PIECES, cls), (*_ROUTED, cls)
    _plain_kinds.clear()  # (a subclass of cls among them is routed from now on)
