"""torch._subclasses.fake_tensor: ``FakeTensorMode``, tensors with a shape, a dtype and a device
and no values, built on dlpy's meta device (``dlpy.meta``).

    with FakeTensorMode() as mode:
        model = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU())   # allocates nothing
        x = torch.randn(64, 4096)                                # FakeTensor(..., size=(64, 4096))
        with FlopCounterMode(display=False) as counter:
            model(x).sum().backward()                            # fake .grad of each weight
    fake = mode.from_tensor(real)                                # cached: the same fake again

A ``FakeTensor`` is a Tensor whose array is a meta array (``dlpy.device.MetaArray``), of the
class ``FakeTensor``, with ``fake_mode`` (the mode that made it) and ``fake_device`` (the CPU,
``meta``, or a CUDA device: torch's fake CUDA tensors need no CUDA): ``t.device`` is its fake
device, ``is_meta``/``is_cuda`` follow it, ``repr`` torch's ``FakeTensor(..., size=(2, 3))``.
Inside the mode the default device is a fake one (``dlpy.device.FAKE``): every factory,
``*_like`` and layer built (its parameters: FakeTensors marked ``_is_param``, so
``isinstance(p, nn.Parameter)``) makes fake tensors through the meta device's paths, on the
fake device asked for (``device="meta"``, ``"cuda"``; a layer's ``device=``), ``*_like`` and
``new_*`` on their input's otherwise; the meta layer's hooks (``dlpy.meta._fake``) make the
results of ops on fake tensors FakeTensors, inside the mode or after it (as torch's, whose fake
tensors re-enter their mode), on their inputs' common fake device (torch's rule: a 0-d CPU one
gives way; two others are torch's ``FakeTensorDeviceMismatchError``; indexing and ``copy_``
follow their tensor). ``from_tensor`` keeps a tensor's strides, storage offset and storage
size. Value reads (``item``, ``tolist``, ``bool``, ``float``) raise
``DataDependentOutputException``, ops whose result's shape depends on values (``nonzero``,
``unique``, ``masked_select``, a boolean mask index) ``DynamicOutputShapeException``, a real
tensor given to an op beside a fake one (or one with dimensions inside the mode) torch's
``AssertionError`` unless ``allow_non_fake_inputs`` (then the result is fake, on the devices of
all the inputs, and a real leaf's ``.grad`` is a FakeTensor), tensors of two modes torch's
"Mixing fake modes" ``AssertionError``; converting a module holding fake parameters
(``double``, ``to``, ``cpu``) torch's "Couldn't swap" RuntimeError. ``torch.tensor`` /
``as_tensor`` / ``asarray`` of Python data on ``device="meta"`` inside the mode are real meta
tensors, as torch's; in-place fills (``fill_``, ``zero_``, the random ones) take their own
values; ``uniform_`` / ``copy_`` into a fake CUDA tensor, and layers drawing uniform initial
values built on ``"cuda"``, are torch's CPU-only "not linked with support for cuda" error.
Differences: an optimizer's state is meta tensors; torch's "Couldn't swap" comes from weak
references its caches hold (which parameter it names depends on the ops that ran: dlpy
always names the first).
Nothing of this costs anything while no meta array lives: the hooks are called by the meta
layer only."""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

from dlpy import meta as _meta
from dlpy.device import _DEFAULT, CPU, FAKE, META, MetaArray, device, meta_array
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Tensor

__all__ = ["DataDependentOutputException", "DynamicOutputShapeException", "FakeTensor",
           "FakeTensorDeviceMismatchError", "FakeTensorMode", "UnsupportedFakeTensorException",
           "UnsupportedOperatorException", "is_fake", "unset_fake_temporarily"]


class UnsupportedFakeTensorException(RuntimeError):
    """torch's error for an op fake tensors cannot run."""


class DataDependentOutputException(RuntimeError):
    """torch's error for reading a fake tensor's values (``item``, ``tolist``, ``bool``,
    ``equal``): they are not there."""


class DynamicOutputShapeException(NotImplementedError):
    """torch's error (a RuntimeError) for an op whose result's shape depends on its input's
    values (``nonzero``, ``unique``, ``masked_select``); a NotImplementedError too, dlpy's meta
    device's error for them."""


class UnsupportedOperatorException(RuntimeError):
    """torch's error for an operator without a fake kernel."""


class FakeTensorDeviceMismatchError(RuntimeError):
    """torch's error for an op given fake tensors of two fake devices (a CPU one with
    dimensions beside a meta one)."""


_NO_CUDA = "PyTorch is not linked with support for cuda devices"
_MIXED = ("Please convert all Tensors to FakeTensors first or instantiate FakeTensorMode with "
          "'allow_non_fake_inputs'. Found in {}")

# the modes entered, innermost last (None: unset_fake_temporarily)
_modes: list = []
# the fake device the ops running inside an op that follows its first input's device take
# (indexing, copy_: torch's kernels that take tensors of other devices), innermost last
_following_device: list = []
_busy = [0]  # depth of ops on fake tensors running: their own inner calls are not checked
_own_value = [0]  # fill_ of a number running: its 0-d tensor is its own
# in-place fills whose first operand is their own values (drawn, or zeros)
_OWN_VALUES = frozenset({"zero_", "normal_", "uniform_", "bernoulli_", "random_",
                         "exponential_", "geometric_", "cauchy_", "log_normal_"})


def _active():
    return _modes[-1] if _modes else None


class FakeTensor(Tensor):
    """torch's tensor without data: a shape, a dtype, ``fake_mode`` and ``fake_device`` (its
    ``device``). Made by a ``FakeTensorMode`` (factories inside it, ``from_tensor``) and by
    ops on fake tensors; ``FakeTensor(mode, elem, device)`` makes one of ``elem``'s shape and
    dtype."""

    __torch_function__ = _disabled_torch_function_impl  # (defining it installs no dispatch)
    __slots__ = ()
    _marked_parameter = True  # nn.Parameter(fake) is the fake marked _is_param, as torch's
    fake_mode = None
    fake_device = CPU

    def __new__(cls, fake_mode=None, elem=None, device=None, *args, **kwargs):
        return Tensor.__new__(cls)

    def __init__(self, fake_mode=None, elem=None, device=None, *args, **kwargs):
        data = getattr(elem, "data", elem)
        super().__init__(meta_array(np.shape(data), np.asarray(data).dtype if data is not None
                                    and type(data) is not MetaArray else
                                    (np.float32 if data is None else data.dtype)))
        _make_fake(self, fake_mode, CPU if device is None else _as_device(device))

    # -------------------------------------------------------------- the fake device
    @property
    def device(self) -> device:
        return self.fake_device

    @property
    def is_meta(self) -> bool:
        return self.fake_device._type == "meta"

    @property
    def is_cpu(self) -> bool:
        return self.fake_device._type == "cpu"

    @property
    def is_cuda(self) -> bool:
        return self.fake_device._type == "cuda"

    def get_device(self) -> int:
        return self.fake_device._index if self.fake_device._type == "cuda" else -1

    def __repr__(self) -> str:  # (its fake device's: none shown for the CPU)
        return super().__repr__()

    __str__ = __repr__

    def to(self, *args, **kwargs):
        """torch's ``to``: a cast keeps the fake device; ``to("meta")`` a fake copy on the
        fake meta device, ``to("cpu")`` on the CPU one (self when nothing changes)."""
        from dlpy.device import parse_to_device

        dtype, copy, where = parse_to_device("to", args, kwargs)
        if where is None:
            return Tensor.to(self, *args, **kwargs)
        where = _as_device(where)
        if where == self.fake_device:
            if dtype is not None and dtype != self.dtype:
                return Tensor.to(self, dtype)
            return self.clone() if copy else self
        out = self.clone() if dtype is None or dtype == self.dtype else Tensor.to(self, dtype)
        _make_fake(out, self.fake_mode, where)
        out.__dict__["fake_device"] = where
        return out

    def cpu(self, memory_format=None):
        return self.to("cpu")

    def detach(self) -> Tensor:
        out = Tensor.detach(self)
        _make_fake(out, self.fake_mode, self.fake_device)
        return out

    @property
    def grad(self):
        grad = Tensor.grad.fget(self)
        if grad is not None and type(grad) is Tensor and type(grad.data) is MetaArray:
            _make_fake(grad, self.fake_mode, self.fake_device)
        return grad

    @grad.setter
    def grad(self, value) -> None:
        Tensor.grad.fset(self, value)

    @grad.deleter
    def grad(self) -> None:
        Tensor.grad.fdel(self)

    # -------------------------------------------------------------- no values to read
    def item(self):
        if self.data.size != 1:  # torch's check first
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted "
                               "to Scalar")
        _Hooks.refuse(self, "item")

    def __getitem__(self, index):
        # torch's index kernel: the result on this tensor's device, indices of any
        _following_device.append(self.fake_device)
        try:
            _HOOKS.check((self, *(index if type(index) is tuple else (index,))))  # (real ones)
            out = Tensor.__getitem__(self, index)
        finally:
            _following_device.pop()
        _all_made(out, self.fake_mode, self.fake_device, parameters=False)
        return out

    def state_dict_value(self):
        """state_dict()'s value of a fake parameter or buffer: a fake too, as torch's."""
        return self.detach()

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
        if self.fake_device._type == "cuda":  # (torch's CUDA kernel: its CPU-only build's error)
            raise RuntimeError(_NO_CUDA)
        return Tensor.uniform_(self, a, b, generator=generator)

    def fill_(self, value) -> Tensor:
        if isinstance(value, Tensor):  # (a real one refused, as torch's)
            return Tensor.fill_(self, value)
        _own_value[0] += 1  # (the number's 0-d tensor: fill_'s own)
        try:
            return Tensor.fill_(self, value)
        finally:
            _own_value[0] -= 1

    def _in_place(self, name: str, compute, *operands, **options):
        # the operands checked as an op's (a real tensor refused), the change itself run as
        # one op (its inner ops see stand-ins of the operands: not checked); the values a
        # fill draws or makes itself are its own, not checked
        if self.fake_device._type == "cuda" and name in ("uniform_", "copy_"):
            # torch's fake CUDA tensors run these through CUDA kernels: its CPU-only build's
            # error (nn.Linear, nn.Conv2d, nn.LSTM, nn.init.*_uniform_ built on "cuda")
            raise RuntimeError(_NO_CUDA)
        if name in _OWN_VALUES or (name == "fill_" and _own_value[0]):
            checked = (self, *operands[1:])
        else:
            checked = (self, *operands)
        # torch's copy_ takes a source of any device, add_ one beside the meta device
        follow = name == "copy_" or (name == "add_" and any(
            where._type == "meta" for where, _ in _devices((self, *operands), real=False)))
        if follow:
            _following_device.append(self.fake_device)
        try:
            _HOOKS.check(checked)
            _busy[0] += 1
            try:
                return Tensor._in_place(self, name, compute, *operands, **options)
            finally:
                _busy[0] -= 1
        finally:
            if follow:
                _following_device.pop()


def _as_device(where) -> device:
    """The fake device of a ``device=`` asked for inside the mode: meta (with its index, as
    torch's), a CUDA one (its index, else 0: torch's fake CUDA tensors need no CUDA), else
    the CPU."""
    where = device(where)
    if where.type == "meta":
        return META if where.index is None else where
    if where.type == "cuda":
        return device("cuda", 0) if where.index is None else where
    return CPU


def _make_fake(t, mode, where, parameters: bool = True) -> None:
    """``t`` (a Tensor or, with ``parameters``, a Parameter holding a meta array) made a
    FakeTensor of ``mode``."""
    kind = type(t)
    if kind is FakeTensor:
        return
    if kind is not Tensor:
        if not parameters:
            return
        from dlpy.nn.module import Parameter

        if kind is not Parameter:
            return
        t._is_param = True
    t.__class__ = FakeTensor
    extra = t.__dict__
    extra["fake_mode"] = mode
    if where is not CPU:
        extra["fake_device"] = where


def _all_made(value, mode, where, parameters: bool = True) -> None:
    if isinstance(value, Tensor):
        if type(value.data) is MetaArray:
            _make_fake(value, mode, where, parameters)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _all_made(item, mode, where, parameters)


# Tensor methods that make their result outside an op (comparisons, any/all, new_*: numpy on
# the meta array, or a Tensor of their own): on a FakeTensor, wrapped so that it is fake too
_OWN = frozenset({"backward", "register_hook", "numpy", "tolist", "item", "to", "cpu", "detach",
                  "_in_place", "retain_grad", "register_post_accumulate_grad_hook",
                  "data_ptr", "untyped_storage", "storage", "dim", "size", "stride", "numel",
                  "element_size", "nelement", "is_contiguous", "get_device", "type"})
_DUNDERS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__invert__",
            "__and__", "__or__", "__xor__", "__rand__", "__ror__", "__rxor__", "__getitem__")
_wrapped = [False]


def _following(function):
    def method(self, *args, **kwargs):
        out = function(self, *args, **kwargs)
        if out is not NotImplemented and out is not None and out is not self:
            _all_made(out, self.fake_mode, self.fake_device, parameters=False)
        return out

    method.__name__ = method.__qualname__ = function.__name__
    method.__doc__ = function.__doc__
    return method


def _wrap_methods() -> None:
    if _wrapped[0]:
        return
    _wrapped[0] = True
    import inspect

    for name, value in list(vars(Tensor).items()):
        if name in FakeTensor.__dict__ or name in _OWN or not inspect.isfunction(value):
            continue
        if name.startswith("_") and name not in _DUNDERS:
            continue
        setattr(FakeTensor, name, _following(value))


def _first_fake(values):
    for value in values:
        if type(value) is FakeTensor:
            return value
        if type(value) is tuple or type(value) is list:
            found = _first_fake(value)
            if found is not None:
                return found
    return None


def _fakes(values):
    for value in values:
        if type(value) is FakeTensor:
            yield value
        elif type(value) is tuple or type(value) is list:
            yield from _fakes(value)


def _devices(values, real: bool):
    """(device, tensor) of the FakeTensors in ``values`` and, with ``real``, of its other
    tensors (their own device: what torch's mode makes them before its device check)."""
    for value in values:
        if type(value) is FakeTensor:
            yield value.fake_device, value
        elif type(value) is tuple or type(value) is list:
            yield from _devices(value, real)
        elif real and isinstance(value, Tensor):
            yield (META if type(value.data) is MetaArray else CPU), value


def _common_device(values, real: bool = False) -> device:
    """The fake device of an op's results, torch's rule: the fake inputs' one device (with
    ``real``, the other tensors' too), where a 0-d CPU one gives way to any other; two others
    are torch's ``FakeTensorDeviceMismatchError``."""
    if _following_device:
        return _following_device[-1]
    common = scalar = None
    for here, t in _devices(values, real):
        zero_dim = here._type == "cpu" and t.data.ndim == 0
        if common is None:
            common, scalar = here, zero_dim
        elif here == common:
            scalar = scalar and zero_dim
        elif zero_dim:
            continue  # (a CPU scalar beside a tensor of another device)
        elif scalar:
            common, scalar = here, zero_dim
        else:
            raise FakeTensorDeviceMismatchError(
                f"Expected all tensors to be on the same device, but found at least two "
                f"devices, {common} and {here}!")
    return CPU if common is None else common


def _mixing_error(call: str):
    return AssertionError(_MIXED.format(call))


def _op_name(op) -> str:
    return f"dlpy.{type(op).__name__}"


class _Hooks:
    """What the meta call site asks (``dlpy.meta._fake[0]``)."""

    @staticmethod
    def check(inputs):
        """An op's inputs, one a meta array at least: None when none is fake (the meta
        device's checks), else (mode, device) of its results; real tensors beside fake ones
        (any, or a meta one: torch's non-fake tensors) raise unless the mode allows them,
        fake tensors of two modes raise."""
        if _busy[0]:
            return None if _first_fake(inputs) is None else (None, _common_device(inputs))
        first = _first_fake(inputs)
        mode = _active()
        if first is None and mode is None:
            return None
        owner = first.fake_mode if first is not None else mode
        if mode is not None and owner is not mode:
            raise AssertionError(f"Mixing fake modes NYI x.fake_mode={owner!r} vs "
                                 f"self={mode!r}")
        allow = owner is not None and owner.allow_non_fake_inputs
        where = _common_device(inputs, real=allow)
        for t in inputs:
            for item in (t if type(t) in (tuple, list) else (t,)):
                if isinstance(item, Tensor) and type(item) is not FakeTensor:
                    if not allow:
                        raise _mixing_error("an op given a FakeTensor and a real Tensor")
                elif type(item) is FakeTensor and item.fake_mode is not owner:
                    raise AssertionError(f"Mixing fake modes NYI x.fake_mode="
                                         f"{item.fake_mode!r} vs self={owner!r}")
        return owner, where

    @staticmethod
    def run(body, inner, op, inputs):
        _busy[0] += 1
        try:
            return body(inner, op, inputs)
        finally:
            _busy[0] -= 1

    @staticmethod
    def real_call(inner, op, inputs):
        """An op given no meta array while the meta layer is in: inside a FakeTensorMode a
        real tensor with dimensions is torch's error (unless allowed), a 0-d one gives a fake
        result; elsewhere the plain call."""
        mode = _active()
        if mode is None or _busy[0] or not any(isinstance(t, Tensor) for t in inputs):
            if not _meta._live:
                _meta._maybe_deactivate()
            return inner(op, *inputs)
        if not mode.allow_non_fake_inputs and any(
                isinstance(t, Tensor) and t.data.ndim for t in inputs):
            raise _mixing_error(f"{_op_name(op)} given real Tensors inside the mode")
        _busy[0] += 1
        try:
            out = inner(op, *inputs)
        finally:
            _busy[0] -= 1
        _meta.metafy(out)
        return out

    @staticmethod
    def made(value, fake) -> None:
        """Tensors made on the meta device (``fake`` None: while a mode is entered) or by an
        op on fake tensors (``fake``: (mode, device))."""
        if fake is None:
            mode = _active()
            if mode is None or _busy[0]:
                return
            where = _meta.building_where[-1] if _meta.building_where else None
            fake = (mode, CPU if where is None else _as_device(where))
        _all_made(value, *fake)

    @staticmethod
    def leaf_grad(node, grad) -> None:
        """The meta ``.grad`` backward gave a real leaf inside a FakeTensorMode (one allowing
        real inputs): a FakeTensor on the leaf's device, as torch's."""
        mode = _active()
        if mode is not None and type(node) is not FakeTensor:
            _make_fake(grad, mode, META if type(node.data) is MetaArray else CPU,
                       parameters=False)

    @staticmethod
    def placed(out, where) -> None:
        """The FakeTensors in ``out``, made by a factory or ``new_*`` asked for ``where`` (a
        device or its string; None: not asked), go on that fake device (``torch.empty(3,
        device="meta")`` inside the mode: a fake meta tensor)."""
        if where is None:
            return
        where = _as_device(where)
        for t in _fakes(out if type(out) in (tuple, list) else (out,)):
            if where is CPU:
                t.__dict__.pop("fake_device", None)
            else:
                t.__dict__["fake_device"] = where

    @staticmethod
    def uniform_drawn() -> None:
        """A layer built inside the mode draws from U(a, b): on a fake CUDA device torch's
        ``uniform_`` runs a CUDA kernel (nn.Linear, nn.Conv2d, nn.LSTM, nn.MultiheadAttention
        built with ``device="cuda"``: its CPU-only build's RuntimeError)."""
        if _active() is None or _busy[0] or not _meta.building_where:
            return
        where = _meta.building_where[-1]
        if where is not None and _as_device(where)._type == "cuda":
            raise RuntimeError(_NO_CUDA)

    @staticmethod
    def drawn(out, sources) -> None:
        """A draw from FakeTensors' parameters (bernoulli's probabilities, multinomial's
        weights, poisson's rates, normal's mean and std): a fake on their fake device."""
        first = _first_fake(sources)
        if first is None:
            return
        where = _common_device(sources)
        _all_made(out, first.fake_mode, where, parameters=False)
        _HOOKS.placed(out, where)

    @staticmethod
    def real_meta(where, data):
        """A context for ``torch.tensor`` / ``as_tensor`` / ``asarray`` of ``data`` asked
        for ``where``: inside the mode, Python data (not a tensor, not a numpy array) on
        ``device="meta"`` (no index) is made a real meta tensor, as torch's (whose shortcut
        for the meta device runs below the mode); otherwise nothing changes."""
        if _active() is None or _busy[0] or where is None or isinstance(
                data, (Tensor, np.ndarray)) or hasattr(data, "nbytes"):  # (or a storage)
            return contextlib.nullcontext()
        where = device(where)
        if where.type != "meta" or where.index is not None:
            return contextlib.nullcontext()
        return _unfaked()

    @staticmethod
    @contextlib.contextmanager
    def following(values):
        """The ops run inside take the common fake device of ``values`` (torch's check of
        them all: ``FakeTensorDeviceMismatchError``)."""
        if _first_fake(values) is None:
            yield
            return
        _following_device.append(_common_device(values))
        try:
            yield
        finally:
            _following_device.pop()

    @staticmethod
    def follow(out, values) -> None:
        """The tensors a function given a FakeTensor made outside an op (meta ones): fake."""
        first = _first_fake(values)
        if first is not None:
            _all_made(out, first.fake_mode, first.fake_device, parameters=False)

    @staticmethod
    def refuse(tensor, what: str) -> None:
        """A FakeTensor's values read (``what``: item, bool, tolist, numpy): torch's errors."""
        if type(tensor) is not FakeTensor:
            return
        if what == "numpy":
            raise RuntimeError(".numpy() is not supported for tensor subclasses.")
        raise DataDependentOutputException(f"aten._local_scalar_dense.default ({what} of a "
                                           "FakeTensor, which holds no values)")

    @staticmethod
    def refused(message: str):
        return DynamicOutputShapeException(message)


class FakeTensorMode:
    """torch's FakeTensorMode: inside ``with FakeTensorMode():`` tensors and layers made are
    FakeTensors (shapes and dtypes only: nothing allocated, nothing drawn); ``from_tensor``
    gives a real tensor's fake (the same one each time). ``allow_non_fake_inputs=True`` lets
    ops take real tensors (made fake). torch's other arguments are taken and change nothing."""

    def __init__(self, *, allow_fallback_kernels: bool = True, allow_non_fake_inputs: bool = False,
                 shape_env=None, static_shapes=None, export: bool = False, **kwargs) -> None:
        self.allow_fallback_kernels = allow_fallback_kernels
        self.allow_non_fake_inputs = allow_non_fake_inputs
        self.shape_env = shape_env
        self.static_shapes = shape_env is None if static_shapes is None else static_shapes
        self.export = export
        self._memo: dict[int, tuple] = {}
        self.fake_tensor_converter = FakeTensorConverter()
        self._anchors: list = []
        _wrap_methods()
        _meta._fake[0] = _HOOKS

    def __enter__(self) -> FakeTensorMode:
        # a meta array held while inside: the meta layer (whose call site checks) stays in
        self._anchors.append(meta_array((), np.float32))
        _modes.append(self)
        _DEFAULT.append(FAKE)
        return self

    def __exit__(self, *exc_info) -> None:
        _DEFAULT.pop()
        _modes.pop()
        self._anchors.pop()

    def from_tensor(self, tensor, *, static_shapes=None, source=None, symbolic_context=None,
                    trace: bool = True):
        """``tensor``'s fake (its shape, dtype, requires_grad; a Parameter's is marked one, so
        ``isinstance(fake, nn.Parameter)``), the same FakeTensor for the same tensor while it
        lives; a fake tensor of this mode is itself."""
        if type(tensor) is FakeTensor:
            if tensor.fake_mode is not self:
                raise AssertionError(f"Mixing fake modes NYI x.fake_mode={tensor.fake_mode!r} "
                                     f"vs self={self!r}")
            return tensor
        if not isinstance(tensor, Tensor):
            raise TypeError(f"from_tensor: expected a Tensor, got {type(tensor).__name__}")
        key = id(tensor)
        held = self._memo.get(key)
        if held is not None and held[0]() is tensor:
            return held[1]
        fake = Tensor(_meta_view_of(tensor), requires_grad=tensor.requires_grad)
        from dlpy.nn.module import Parameter

        _make_fake(fake, self, META if type(tensor.data) is MetaArray else CPU)
        if isinstance(tensor, Parameter):
            fake._is_param = True
        memo = self._memo
        self._memo[key] = (weakref.ref(tensor, lambda _, key=key: memo.pop(key, None)), fake)
        return fake

    def is_our_fake(self, t) -> bool:
        return type(t) is FakeTensor and t.fake_mode is self

    @property
    def avoid_device_init(self) -> bool:
        return True


def _meta_view_of(tensor) -> MetaArray:
    """A meta array of ``tensor``'s shape and dtype reporting its strides, storage offset and
    storage size (torch's fake of a view is a view of a fake storage of its base's size)."""
    array = meta_array(tensor.data.shape, tensor.data.dtype, tensor.stride())
    array.offset_in_elements = tensor.storage_offset()
    array.storage_nbytes = tensor.untyped_storage().nbytes()
    return array


class FakeTensorConverter:
    """torch's ``mode.fake_tensor_converter``: ``from_real_tensor(mode, t)`` is
    ``mode.from_tensor(t)``."""

    def from_real_tensor(self, fake_mode, t, make_constant: bool = False, shape_env=None, *,
                         source=None, symbolic_context=None, trace: bool = True):
        return fake_mode.from_tensor(t)

    def from_meta_and_device(self, fake_mode, t, device):
        """A fake of the meta tensor ``t``'s shape, dtype and strides on ``device``."""
        fake = Tensor(_meta_view_of(t))
        _make_fake(fake, fake_mode, _as_device(device))
        return fake


_HOOKS = _Hooks()


@contextlib.contextmanager
def _unfaked():
    """No FakeTensorMode active inside (the default device kept)."""
    _modes.append(None)
    try:
        yield
    finally:
        _modes.pop()


@contextlib.contextmanager
def unset_fake_temporarily():
    """torch's: inside, no FakeTensorMode is active (factories make real tensors); yields the
    mode that was (or None)."""
    mode = _active()
    _modes.append(None)
    _DEFAULT.append(CPU)
    try:
        yield mode
    finally:
        _DEFAULT.pop()
        _modes.pop()


def is_fake(x) -> bool:
    """torch._subclasses.fake_tensor.is_fake: whether ``x`` is a FakeTensor."""
    return type(x) is FakeTensor


def maybe_get_fake_mode(t):
    """The FakeTensorMode of a fake tensor, else None."""
    return t.fake_mode if type(t) is FakeTensor else None
