"""``torch.device`` for a library with one device, the CPU (numpy).

``dlpy.device("cpu")``, ``device("cpu", 0)``, ``device("cuda:1")`` are made and printed as
torch's; creation functions, ``Tensor.to`` and ``Module.to`` take one (or its string) through
``as_device``, which accepts the CPU and raises ``RuntimeError`` for any other device. As
torch's, a device equals only a device (``x.device == "cpu"`` is False: compare
``x.device.type == "cpu"`` or ``x.device == dlpy.device("cpu")``). ``set_default_device`` /
``get_default_device`` and ``with dlpy.device("cpu"):`` set the default device (the CPU only).
"""

from __future__ import annotations

import numpy as np

from dlpy.cuda import NO_CUDA, NoCudaError

__all__ = ["DEVICE_TYPES", "META", "MetaArray", "OnCPU", "as_device", "device",
           "get_default_device", "is_meta_request", "meta_array", "parse_to", "set_default_device"]

# torch's device types, in the order of its error message
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                "privateuseone")
# the name of the PrivateUse1 device type, once torch.utils.rename_privateuse1_backend gave it
# one (dlpy/utils/backend_registration.py): a device string may then name it
PRIVATEUSE1 = ["privateuseone"]


def _index(value, text) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"device: the index must be an int, got {value!r}")
    if value < 0:
        raise RuntimeError(f"Device index must not be negative (device {text!r}, index {value})")
    return int(value)


class device:  # noqa: N801 - torch's name
    """A device: ``type`` ("cpu", "cuda", ...) and ``index`` (an int or None), made from a
    string ("cpu", "cuda:0"), a string and an index, another device, or an int (a CUDA index,
    as torch's). Only the CPU can hold dlpy's tensors."""

    __slots__ = ("_index", "_type")

    def __init__(self, type, index=None):  # noqa: A002 - torch's names
        if isinstance(type, device):
            if index is not None:
                raise TypeError(f"device: an index cannot be given with a device, got {type!r} "
                                f"and {index!r}")
            self._type, self._index = type.type, type.index
            return
        if isinstance(type, (int, np.integer)) and not isinstance(type, bool):
            self._type, self._index = "cuda", _index(type, type)  # torch: an accelerator index
            return
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', a device or "
                            f"an int, got {type!r}")
        if not type:
            raise RuntimeError("Device string must not be empty")
        kind, colon, number = type.partition(":")
        if not kind.replace("_", "").isalpha():  # torch's: "bfloat16" is no device string
            raise RuntimeError(f"Invalid device string: {type!r}")
        if kind not in DEVICE_TYPES and kind != PRIVATEUSE1[0]:
            raise RuntimeError(f"Expected one of {', '.join(DEVICE_TYPES)} device type at start "
                               f"of device string: {type}")
        if colon:
            if not (number.isascii() and number.isdigit()):
                raise RuntimeError(f"Invalid device string: {type!r}")
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {type}")
            index = int(number)
        self._type = kind
        self._index = None if index is None else _index(index, type)

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type={self._type!r})"
        return f"device(type={self._type!r}, index={self._index})"

    def __eq__(self, other) -> bool:
        """Equal to a device of the same type and index only (as torch's: not to a string)."""
        if isinstance(other, device):
            return (self._type, self._index) == (other._type, other._index)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __reduce__(self):
        return device, (self._type, self._index)

    def __enter__(self) -> device:
        """``with dlpy.device("cpu"):`` (torch's default-device context): the default device
        inside (``get_default_device()``): the CPU, or ``meta`` (tensors and layers made
        inside hold shapes and dtypes only); any other raises."""
        _DEFAULT.append(as_device(self, "device", meta=True))
        return self

    def __exit__(self, *exc_info) -> None:
        _DEFAULT.pop()


CPU = device("cpu")
META = device("meta")
# the default device inside a FakeTensorMode (dlpy._subclasses.fake_tensor): tensors made on the
# meta device, whatever device= asks (torch's mode fakes them all); it reports the CPU
FAKE = device("meta")
_DEFAULT = [CPU]  # set_default_device's device, then those of the open ``with device(...)``


def set_default_device(device) -> None:
    """torch.set_default_device: the device tensors are made on (None: the CPU), the CPU or
    ``meta``; any other raises ``RuntimeError``."""
    _DEFAULT[0] = as_device(device, "set_default_device", meta=True)


def default_is_meta() -> bool:
    """Whether tensors made without a ``device=`` go on the meta device (``with
    device("meta")`` or ``set_default_device("meta")``)."""
    return _DEFAULT[-1]._type == "meta"


def wants_meta(where) -> bool:
    """Whether a ``device=`` argument (None: the default device) asks for the meta device."""
    if where is None or _DEFAULT[-1] is FAKE:  # (inside a FakeTensorMode: all fake)
        return _DEFAULT[-1]._type == "meta"
    if type(where) is str:
        return where == "meta" or where.startswith("meta:")
    return isinstance(where, device) and where._type == "meta"


def get_default_device() -> device:
    """torch.get_default_device: ``dlpy.device("cpu")`` (or the CPU device set, e.g. cpu:0)."""
    where = _DEFAULT[-1]
    return CPU if where is FAKE else where


class OnCPU:
    """``device``, ``is_cpu``, ``is_cuda``, ``get_device()`` and ``cpu()`` of dlpy's other
    tensor kinds (sparse, nested, masked), as a Tensor's: they live on the CPU."""

    is_cpu, is_cuda = True, False

    @property
    def device(self) -> device:
        return CPU

    def get_device(self) -> int:
        """-1, torch's answer for a CPU tensor."""
        return -1

    def cpu(self, memory_format=None):
        """Itself (dlpy has one device), as torch's for a CPU tensor."""
        return self


def _no_device_message(where: device) -> str:
    if where.type == "cuda":
        return NO_CUDA
    return NO_CUDA.replace("CUDA", where.type.upper())


def as_device(value, name: str, meta: bool = False) -> device:
    """``value`` (None, a string, an int or a device) as the device to make tensors on: the
    CPU (or, with ``meta``, the meta device), or ``RuntimeError`` naming ``name`` and the
    device for any other."""
    if value is None:
        return CPU
    where = device(value)
    if meta and where.type == "meta":
        return where
    if where.type != "cpu":
        # torch's AssertionError for CUDA; torch makes meta tensors and refuses their data with
        # NotImplementedError (a RuntimeError too)
        error = {"cuda": NoCudaError, "meta": NotImplementedError}.get(where.type, RuntimeError)
        raise error(f"{name}: device={str(where)!r}: {_no_device_message(where)}")
    return where


def check_pin_memory(pin_memory, name: str) -> None:
    """``pin_memory=True`` raises, as in a torch without an accelerator."""
    if pin_memory:
        raise RuntimeError(f"{name}: pin_memory=True needs a CUDA device; {NO_CUDA}")


def _is_device(value) -> bool:
    if isinstance(value, device):
        return True
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return True
    # torch reads a string as a device, never as a dtype: to("bfloat16") is device()'s error
    return isinstance(value, str)


def _is_tensor(value) -> bool:
    """A Tensor or another tensor kind (sparse, nested, masked: a dtype and a device), as the
    ``other`` of ``to(other)``."""
    return (not isinstance(value, type) and hasattr(value, "dtype")
            and isinstance(getattr(value, "device", None), device))


def _dtype(value, name: str) -> np.dtype:
    try:
        return np.dtype(value)
    except TypeError:
        if isinstance(value, tuple) and type(value).__name__ == "QDtype":  # quint8, ...
            from dlpy.ops import ArgDtypeError
            from dlpy.tensor import _refuse_quantized

            _refuse_quantized(value, name, ArgDtypeError)
        raise TypeError(f"{name}: expected a dtype, a device or a tensor, got {value!r}") from None


class MetaArray(np.ndarray):
    """The storage of a tensor on torch's ``meta`` device: a shape and a dtype, no memory (a
    zero-stride view of one NaN, or 0 for integers, so a value read by mistake shows). A Tensor
    holding one says ``device == device("meta")`` and ``is_meta``. Its copies (``copy()``,
    ``copy.copy``, ``copy.deepcopy``: a deep-copied meta module) are new meta arrays, never
    the full arrays numpy's copies would be. ``strides``: the strides in elements torch gives
    the tensor (a channels-last one's, a transpose's), None for row-major ones (numpy's own are
    all 0)."""

    strides_in_elements = None
    offset_in_elements = 0  # (torch's storage_offset of a view)
    storage_nbytes = None  # (a view's: its base's storage's; None: what it reaches)

    def copy(self, order="C") -> MetaArray:
        return _meta_copy(self)  # (torch's clone)

    def __copy__(self) -> MetaArray:
        return _meta_copy(self)

    def __deepcopy__(self, memo) -> MetaArray:
        return _meta_copy(self)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        """An element-wise ufunc given a meta array computes one element, not the broadcast
        shape's all: its result is a meta array of that shape and of the one element's dtype
        (numpy's promotion and errors), or, with ``out=`` a meta array, that array (its one
        element written). Reductions, generalised ufuncs (matmul), several outputs, ``where=``
        and real ``out=`` arrays are numpy's own computation."""
        if method == "__call__" and ufunc.signature is None and ufunc.nout == 1 \
                and "where" not in kwargs and (out is None or (
                    len(out) == 1 and type(out[0]) is MetaArray)):
            shape = np.broadcast_shapes(*(np.shape(x) for x in inputs))
            target = None if out is None else out[0]
            if target is None or np.broadcast_shapes(shape, target.shape) == target.shape:
                one = [_one_element(x) for x in inputs]
                value = ufunc(*one, **kwargs)
                if target is None:
                    return meta_array(shape, value.dtype)
                if target.size:  # (all its elements are one)
                    np.lib.stride_tricks.as_strided(target, (1,), (0,))[...] = \
                        value.reshape(-1)[:1].astype(target.dtype, casting="unsafe")
                return target
        if method == "reduce" and out is None and kwargs.get("where", True) is True \
                and len(inputs) == 1:
            reduced = _reduced_one(ufunc, inputs[0], kwargs)
            if reduced is not None:
                return reduced
        # numpy's computation on plain views, its results MetaArrays as numpy's own handling
        # of a subclass would give (``out=`` arrays: themselves)
        plain = tuple(x.view(np.ndarray) if type(x) is MetaArray else x for x in inputs)
        if out is not None:
            kwargs["out"] = tuple(x.view(np.ndarray) if type(x) is MetaArray else x
                                  for x in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if type(result) is tuple:
            return tuple(r.view(MetaArray) if isinstance(r, np.ndarray) else r for r in result)
        if isinstance(result, np.generic):  # (a whole reduction: a 0-d array, as numpy's own
            return np.asarray(result).view(MetaArray)  # handling of a subclass gives)
        return result.view(MetaArray) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        """``np.zeros_like`` / ``ones_like`` / ``empty_like`` / ``full_like`` of a meta array
        (an optimiser's state for a meta parameter) are meta arrays, never full ones."""
        if func in _LIKE:
            try:
                bound = _LIKE[func].bind(*args, **kwargs)
            except TypeError:
                bound = None
            a = None if bound is None else next(iter(bound.arguments.values()))
            if type(a) is MetaArray and bound.arguments.get("subok", True) is not False:
                shape = bound.arguments.get("shape")
                dtype = bound.arguments.get("dtype")
                return meta_array(a.shape if shape is None else
                                  ((shape,) if isinstance(shape, int) else shape),
                                  a.dtype if dtype is None else dtype)
        return super().__array_function__(func, types, args, kwargs)


def _reduced_one(ufunc, array, kwargs):
    """A reduction (``min``, ``max``, ``sum``, ``any``...) of a non-empty meta array whose
    elements are all one: the ufunc reduced over a one-element array of its number of axes
    (numpy's dtype and errors), as a meta array of the reduced shape; None where numpy's own
    pass is needed (an empty array or axis, a view with strides, unknown keywords)."""
    kwargs = {k: v for k, v in kwargs.items() if k != "where"}  # (where=True: all of them)
    if not array.size or any(array.strides) or set(kwargs) - {"axis", "dtype", "keepdims",
                                                             "initial"}:
        return None
    from numpy.lib.array_utils import normalize_axis_tuple

    axis = kwargs.get("axis", 0)  # (ufunc.reduce's default is the first axis)
    axes = range(array.ndim) if axis is None else normalize_axis_tuple(axis, array.ndim)
    one = np.ones((1,) * array.ndim, array.dtype)  # (numpy's AxisError above for a bad axis)
    value = ufunc.reduce(one, **kwargs)
    keep = kwargs.get("keepdims", False)
    shape = tuple(1 if i in axes else n for i, n in enumerate(array.shape)
                  if keep or i not in axes)
    return meta_array(shape, np.asarray(value).dtype)


def _one_element(x):
    """A ufunc operand cut to one element (an array with dimensions; numbers and 0-d arrays as
    they are, an empty array too), as a plain array."""
    if isinstance(x, np.ndarray):
        x = x.view(np.ndarray) if type(x) is MetaArray else x
        return x.reshape(-1)[:1] if x.ndim and x.size else x
    return x


def _like_signatures() -> dict:
    import inspect

    def signature(function, fallback: str):
        try:
            return inspect.signature(function)
        except (TypeError, ValueError):
            namespace: dict = {}
            exec(f"def f({fallback}): pass", namespace)  # noqa: S102 - a fixed signature
            return inspect.signature(namespace["f"])

    rest = "dtype=None, order='K', subok=True, shape=None, *, device=None"
    return {np.zeros_like: signature(np.zeros_like, f"a, {rest}"),
            np.ones_like: signature(np.ones_like, f"a, {rest}"),
            np.empty_like: signature(np.empty_like, f"prototype, {rest}"),
            np.full_like: signature(np.full_like, f"a, fill_value, {rest}")}


_LIKE = _like_signatures()


def _meta_copy(array: MetaArray) -> MetaArray:
    """A new meta array like ``array``: its strides where it is dense, else dense ones in its
    axes' order (torch's clone), its own storage."""
    from dlpy.meta import preserved_strides

    return meta_array(array.shape, array.dtype, preserved_strides(array))


def meta_array(shape, dtype, strides=None) -> MetaArray:
    """A ``MetaArray`` of ``shape`` and ``dtype``: every element is the same one (it takes one
    element of memory; writing to it, as a layer's ``weight.data[...] = 0`` during its
    construction on meta, changes that element only); ``strides`` (in elements; None:
    row-major) are those its tensor reports."""
    dtype = np.dtype(dtype)
    fill = np.full((1,), np.nan if dtype.kind in "fc" else 0, dtype)
    from dlpy import meta

    meta.made(fill)  # (the meta layer of the engine's call sites, while one is alive)
    shape = tuple(shape)
    # (a user-defined dtype, as ml_dtypes' float8_e5m2, has an array interface numpy cannot
    # read back: strided as raw bytes of its size, then seen as itself)
    raw = fill.view(np.dtype((np.void, dtype.itemsize))) if dtype.isbuiltin == 2 else fill
    array = np.lib.stride_tricks.as_strided(raw, shape, (0,) * len(shape),
                                            writeable=True).view(dtype).view(MetaArray)
    if strides is not None:
        array.strides_in_elements = tuple(int(n) for n in strides)
    return array


def is_meta_request(name: str, args: tuple, kwargs: dict) -> bool:
    """Whether ``to(*args, **kwargs)`` asks for the ``meta`` device (``Module.to("meta")``,
    as the stateless base of ``torch.func.functional_call``)."""
    where = _parse_to_arguments(name, args, kwargs).get("device")
    return where is not None and device(where).type == "meta"


def _parse_to_arguments(name: str, args: tuple, kwargs: dict) -> dict:
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format",
                             "tensor"}
    if unknown:
        raise TypeError(f"{name}: unexpected keyword {sorted(unknown)[0]!r} (expected device, "
                        f"dtype, non_blocking, copy, memory_format, tensor)")
    rest = list(args)
    if "tensor" in kwargs:  # torch's keyword form of to(tensor): its dtype and device
        if (rest and not isinstance(rest[0], bool)) or not _is_tensor(kwargs["tensor"]):
            raise TypeError(f"{name}: tensor= takes a tensor (whose dtype and device to "
                            f"take), alone, got {kwargs['tensor']!r}")
        kwargs = dict(kwargs)
        rest.insert(0, kwargs.pop("tensor"))
    given: dict = {}
    if rest and _is_tensor(rest[0]):
        other = rest.pop(0)
        given["dtype"], given["device"] = other.dtype, other.device
    elif rest and (_is_device(rest[0]) or (rest[0] is None and len(rest) > 1)):
        given["device"] = rest.pop(0)
        if rest and not isinstance(rest[0], bool):
            given["dtype"] = rest.pop(0)
    elif rest and not isinstance(rest[0], bool):
        given["dtype"] = rest.pop(0)
    if len(rest) > 2 or not all(isinstance(flag, bool) for flag in rest):
        raise TypeError(f"{name}: expected (dtype), (device, dtype), (tensor) or keywords, each "
                        f"followed by non_blocking and copy (bools), got {args!r}")
    given.update(zip(("non_blocking", "copy"), rest))
    for key, value in kwargs.items():
        if key in given:
            raise TypeError(f"{name}: {key} given twice (as an argument and a keyword)")
        given[key] = value
    return given


def parse_to_device(name: str, args: tuple,
                    kwargs: dict) -> tuple[np.dtype | None, bool, device | None]:
    """``parse_to`` with the meta device taken, and the device asked for (None: not given)."""
    given = _parse_to_arguments(name, args, kwargs)
    where = given.get("device")
    where = None if where is None else as_device(where, name, meta=True)
    dtype = given.get("dtype")
    return (None if dtype is None else _dtype(dtype, name)), bool(given.get("copy", False)), \
        where


def parse_to(name: str, args: tuple, kwargs: dict,
             meta: bool = False) -> tuple[np.dtype | None, bool]:
    """torch's ``to`` arguments: ``(dtype)``, ``(device)``, ``(device, dtype)``, ``(tensor)``,
    each followed by ``non_blocking, copy``, or keywords ``device, dtype, non_blocking, copy,
    memory_format``. Returns (dtype or None, copy); a device other than the CPU (or, with
    ``meta``, the meta device) raises."""
    given = _parse_to_arguments(name, args, kwargs)
    if not (meta and is_meta_request(name, args, kwargs)):
        as_device(given.get("device"), name)
    dtype = given.get("dtype")
    return (None if dtype is None else _dtype(dtype, name)), bool(given.get("copy", False))
