"""Lazy modules, as torch.nn's: LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d,
LazyBatchNorm1d/2d/3d, LazyInstanceNorm1d/2d/3d, with UninitializedParameter and
UninitializedBuffer (torch.nn.parameter's).

A lazy module leaves out one size (``in_features``, ``in_channels``, ``num_features``): its
parameters and buffers are uninitialized (empty) until the first forward reads the size from
the input (``initialize_parameters``), or ``load_state_dict`` gives them the state's shapes. The
values are those the non-lazy class (``cls_to_become``) built with the same settings draws from
the same generator in the same order (so with the same seed the same values); they go into the
lazy module's own Parameter objects (an optimiser made before holds them), and at its first
call the module becomes that class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpy.device import as_device
from dlpy.nn.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from dlpy.nn.linear import Linear
from dlpy.nn.module import Module, Parameter
from dlpy.nn.norm import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    _BatchNorm,
    _InstanceNorm,
)
from dlpy.ops import ArgError, ArgIndexError
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Tensor, default_dtype, parameter_dtype

_SHAPE_ERROR = ("Can't access the shape of an uninitialized parameter or buffer. This error "
                "usually happens in `load_state_dict` when trying to load an uninitialized "
                "parameter into an initialized one. Call `forward` to initialize the parameters "
                "before accessing their attributes.")


def _use_error(what: str) -> ValueError:
    return ValueError(f"Attempted to use an uninitialized parameter in {what}. This error "
                      "happens when you are using a `LazyModule` or explicitly manipulating "
                      "`torch.nn.parameter.UninitializedParameter` objects. When using "
                      "LazyModules Call `forward` with a dummy batch to initialize the "
                      "parameters before calling torch functions")


class _UninitializedMixin:
    """What UninitializedParameter and UninitializedBuffer share (torch's
    UninitializedTensorMixin): an empty array whose shape is not to be read, a repr without
    values, and ``materialize`` giving it zeros of a shape and its ``cls_to_become`` class (the
    same object)."""

    __slots__ = ()
    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Zeros of ``shape`` (torch's: uninitialised memory), of ``dtype`` (default: its
        own), and the class ``cls_to_become``."""
        as_device(device, type(self).__name__)  # the CPU only
        if isinstance(shape, int):
            shape = (shape,)
        dtype = self.data.dtype if dtype is None else dtype
        self.data = np.zeros(tuple(shape), dtype=dtype)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(_SHAPE_ERROR)

    def numel(self) -> int:
        raise _use_error("numel")

    def dim(self) -> int:
        raise _use_error("dim")

    def requires_grad_(self, requires_grad: bool = True):
        raise _use_error("requires_grad_")

    def state_dict_value(self):
        """state_dict() holds the uninitialized parameter itself (torch's lazy modules)."""
        return self

    def load_state_dict_value(self, key: str, given) -> None:
        """load_state_dict into one still uninitialized: an uninitialized (empty) value is
        nothing to load (torch's); values are refused."""
        if np.size(given.data if isinstance(given, Tensor) else given):
            raise RuntimeError(f"load_state_dict: {key} is uninitialized in the module "
                               "(its lazy module could not take its shape from the state)")

    def __deepcopy__(self, memo):
        copied = type(self)(requires_grad=self.requires_grad, dtype=self.data.dtype)
        memo[id(self)] = copied
        return copied

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_UninitializedMixin, Parameter):
    """A lazy module's parameter before its shape is known (torch.nn.parameter's): an empty
    array; ``materialize(shape)`` makes it a plain Parameter (the same object)."""

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        as_device(device, "UninitializedParameter")  # the CPU only
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__(np.empty(0, dtype=dtype), requires_grad=requires_grad, dtype=dtype)


class UninitializedBuffer(_UninitializedMixin, Tensor):
    """A lazy module's buffer before its shape is known (torch.nn.parameter's);
    ``materialize(shape)`` makes it a plain Tensor (the same object)."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors
    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        as_device(device, "UninitializedBuffer")  # the CPU only
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__(np.empty(0, dtype=dtype), requires_grad=requires_grad)

    def astype(self, dtype) -> UninitializedBuffer:
        """Module.to(dtype) / double() before the first call: still uninitialized, of
        ``dtype``."""
        return UninitializedBuffer(self.requires_grad, dtype=dtype)


def is_lazy(param) -> bool:
    """Whether ``param`` is an uninitialized parameter or buffer (torch.nn.parameter's)."""
    return isinstance(param, _UninitializedMixin)


_MODULE_KEYS = frozenset(Module().__dict__)  # what every module has (registries, hooks)


class LazyModuleMixin:
    """What the lazy modules share, as torch's: ``inferred`` names the constructor argument
    the first input decides (0 until then), ``_settings`` the others; ``cls_to_become`` the
    class the module becomes at its first call. A forward pre-hook (registered first, so the
    user's hooks see the built layer) calls ``initialize_parameters(input)``, which builds
    ``cls_to_become`` and moves its values into this module's own parameters and buffers;
    ``load_state_dict`` gives them the state's shapes instead."""

    cls_to_become: type[Module] | None = None
    inferred = "in_features"

    def __init__(self, *args, **kwargs) -> None:
        """A user's lazy module (``class M(LazyModuleMixin, nn.Module)`` with its own
        ``initialize_parameters``): the module's own __init__, then the pre-hook that calls
        ``initialize_parameters`` at the first call (torch's). dlpy's lazy layers set up
        through ``_lazy_setup`` instead."""
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_initialize_hook", self.register_forward_pre_hook(
            LazyModuleMixin._infer_parameters, with_kwargs=True))

    def _lazy_setup(self, settings: dict[str, Any], template_size: int = 1) -> None:
        """This module as ``cls_to_become`` with ``inferred`` 0 would be (its attributes, the
        settings checked), its parameters uninitialized and its statistics buffers too."""
        Module.__init__(self)
        dtype = settings["dtype"] = default_dtype(settings.get("dtype"))
        object.__setattr__(self, "_settings", settings)
        drawn = {**settings, "rng": np.random.default_rng(0)} if "rng" in settings else settings
        template = self.cls_to_become(**{self.inferred: template_size}, **drawn)
        for name, value in template.__dict__.items():
            if name in template._parameters:
                self.register_parameter(name, None if value is None else
                                        UninitializedParameter(dtype=dtype))
            elif name in template._buffers:
                if value is not None and value.data.ndim > 0:  # (num_batches_tracked: kept)
                    value = UninitializedBuffer(dtype=dtype)
                self.register_buffer(name, value, persistent=name not in
                                     template._non_persistent)
            elif name not in _MODULE_KEYS:
                object.__setattr__(self, name, value)
        object.__setattr__(self, self.inferred, 0)
        object.__setattr__(self, "_initialize_hook", self.register_forward_pre_hook(
            LazyModuleMixin._infer_parameters, with_kwargs=True))

    def reset_parameters(self) -> None:
        """Nothing while the sizes are unknown (PyTorch's); the built layer's own afterwards."""
        if not self.has_uninitialized_params() and getattr(self, self.inferred):
            self.cls_to_become.reset_parameters(self)

    def has_uninitialized_params(self) -> bool:
        return any(is_lazy(p) for p in self._parameters.values()) \
            or any(is_lazy(b) for b in self._buffers.values())

    def initialize_parameters(self, input, *args, **kwargs) -> None:  # noqa: A002
        """The sizes from ``input``: ``cls_to_become`` built with them and the settings, its
        values taken into this module's uninitialized parameters and buffers (the same
        objects). The class stays until the call that runs it (torch's)."""
        if self.has_uninitialized_params():
            array = input.data if isinstance(input, Tensor) else np.asarray(input)
            self._build(self._size_of(array))

    def _build(self, size: int, only=None) -> None:
        """Take ``cls_to_become(inferred=size)``'s attributes and values (``only``: the
        parameters and buffers named, the others left uninitialized)."""
        template = self.cls_to_become(**{self.inferred: int(size)}, **self._settings)
        for name, value in template.__dict__.items():
            if name in _MODULE_KEYS or name == "_initialize_hook":
                continue
            own = self._parameters.get(name, self._buffers.get(name))
            if name in template._parameters or name in template._buffers:
                if is_lazy(own) and value is not None and (only is None or name in only):
                    own.materialize(value.shape, dtype=own.data.dtype)
                    own.data[...] = value.data
            else:
                object.__setattr__(self, name, value)

    @staticmethod
    def _infer_parameters(module, args, kwargs=None):
        """The forward pre-hook: sizes from the first input, then the module becomes
        ``cls_to_become`` (and the hook goes)."""
        module.initialize_parameters(*args, **(kwargs or {}))
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
        module._initialize_hook.remove()
        for name in ("_initialize_hook", "_settings"):
            module.__dict__.pop(name, None)
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def _size_of(self, x: np.ndarray) -> int:
        raise NotImplementedError

    def _size_in_state(self, state: dict[str, Any], prefix: str) -> int | None:
        """The inferred size a state dict's arrays give, or None."""
        return None

    def _materialize_from_state(self, state: dict[str, Any], prefix: str) -> None:
        """Called by Module.load_state_dict before it loads (PyTorch's lazy load hook): the
        uninitialized parameters and buffers the state holds values for take their shapes;
        the class stays until the first call."""
        if self.has_uninitialized_params() and "_settings" not in self.__dict__:
            for name, own in (*self._parameters.items(), *self._buffers.items()):
                given = state.get(prefix + name)  # (a user's lazy module: torch's hook)
                if is_lazy(own) and given is not None and not is_lazy(given):
                    own.materialize(np.shape(given.data if isinstance(given, Tensor)
                                             else given))
        elif self.has_uninitialized_params():
            size = self._size_in_state(state, prefix)
            if size is not None:
                self._build(size, only={name[len(prefix):] for name in state
                                        if name.startswith(prefix)
                                        and not is_lazy(state[name])})


def _shape(state: dict[str, Any], key: str) -> tuple[int, ...] | None:
    value = state.get(key)
    if value is None:
        return None
    shape = tuple(np.shape(value.data if isinstance(value, Tensor) else value))
    return shape if int(np.prod(shape)) > 0 else None  # (an uninitialized one: empty)


class LazyLinear(LazyModuleMixin, Linear):
    """Linear with ``in_features`` read from the first input's last axis."""

    cls_to_become = Linear
    inferred = "in_features"

    def __init__(self, out_features: int, bias: bool = True, rng=None, dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        self._lazy_setup({"out_features": out_features, "bias": bias, "rng": rng,
                          "dtype": dtype})

    def _size_of(self, x):
        if x.ndim < 1:
            raise ArgIndexError(f"LazyLinear: expected an input (..., in_features), got shape "
                                f"{x.shape}")
        return x.shape[-1]

    def _size_in_state(self, state, prefix):
        shape = _shape(state, prefix + "weight")
        return None if shape is None else shape[1]


class _LazyConvMixin(LazyModuleMixin):
    """Conv / ConvTranspose with ``in_channels`` read from the first input's channel axis
    (1, or 0 for an unbatched input)."""

    inferred = "in_channels"
    nd = 2
    transposed = False

    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, *args,
                 rng=None, dtype=None, **kwargs):
        dtype = parameter_dtype(dtype, type(self).__name__)
        names = (("output_padding", "groups", "bias", "dilation", "padding_mode")
                 if self.transposed else ("dilation", "groups", "bias", "padding_mode"))
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}: too many positional arguments")
        settings = {"out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
                    "padding": padding, **dict(zip(names, args)), **kwargs, "rng": rng,
                    "dtype": dtype}
        groups = settings.get("groups", 1)
        self._lazy_setup(settings, groups if isinstance(groups, int) and groups > 0 else 1)

    def _size_of(self, x):
        if x.ndim not in (self.nd + 1, self.nd + 2):
            raise ArgError(f"{type(self).__name__}: expected an input with {self.nd + 1} "
                           f"(unbatched) or {self.nd + 2} (batched) axes, got shape {x.shape}")
        return x.shape[1 if x.ndim == self.nd + 2 else 0]

    def _size_in_state(self, state, prefix):
        shape = _shape(state, prefix + "weight")
        if shape is None:
            return None
        return shape[0] if self.transposed else shape[1] * self._settings.get("groups", 1)


class _LazyNormMixin(LazyModuleMixin):
    """BatchNorm / InstanceNorm with ``num_features`` read from the first input's channel
    axis."""

    inferred = "num_features"
    nd = 1
    instance = False

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *,
                 bias: bool = True):
        as_device(device, type(self).__name__)  # the CPU only
        dtype = parameter_dtype(dtype, type(self).__name__, affine)
        settings = {"eps": eps, "momentum": momentum, "affine": affine,
                    "track_running_stats": track_running_stats, "dtype": dtype, "bias": bias}
        self._lazy_setup(settings)

    def _size_of(self, x):
        if self.instance:  # (torch reads axis 1 of an unbatched input too, and then fails)
            if x.ndim not in (self.nd + 1, self.nd + 2):
                raise ValueError(f"{type(self).__name__}: expected an input with {self.nd + 1}"
                                 f" or {self.nd + 2} axes, got shape {x.shape}")
            return x.shape[0 if x.ndim == self.nd + 1 else 1]
        if x.ndim < 2:  # (another rank: the built layer's forward refuses it, as torch's)
            raise ArgIndexError(f"{type(self).__name__}: expected an input (N, C, ...), got "
                                f"shape {x.shape}")
        return x.shape[1]

    def _size_in_state(self, state, prefix):
        for key in ("weight", "bias", "running_mean", "running_var"):
            shape = _shape(state, prefix + key)
            if shape is not None:
                return shape[0]
        return None


class LazyConv1d(_LazyConvMixin, Conv1d):
    cls_to_become, nd = Conv1d, 1


class LazyConv2d(_LazyConvMixin, Conv2d):
    cls_to_become, nd = Conv2d, 2


class LazyConv3d(_LazyConvMixin, Conv3d):
    cls_to_become, nd = Conv3d, 3


class LazyConvTranspose1d(_LazyConvMixin, ConvTranspose1d):
    cls_to_become, nd, transposed = ConvTranspose1d, 1, True


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    cls_to_become, nd, transposed = ConvTranspose2d, 2, True


class LazyConvTranspose3d(_LazyConvMixin, ConvTranspose3d):
    cls_to_become, nd, transposed = ConvTranspose3d, 3, True


class LazyBatchNorm1d(_LazyNormMixin, _BatchNorm):
    cls_to_become, nd = BatchNorm1d, 1


class LazyBatchNorm2d(_LazyNormMixin, _BatchNorm):
    cls_to_become, nd = BatchNorm2d, 2


class LazyBatchNorm3d(_LazyNormMixin, _BatchNorm):
    cls_to_become, nd = BatchNorm3d, 3


class _LazyInstanceNormMixin(_LazyNormMixin):
    """torch's lazy instance norms take its lazy norms' defaults, affine=True and
    track_running_stats=True (InstanceNorm's own are False)."""

    instance = True


class LazyInstanceNorm1d(_LazyInstanceNormMixin, _InstanceNorm):
    cls_to_become, nd = InstanceNorm1d, 1


class LazyInstanceNorm2d(_LazyInstanceNormMixin, _InstanceNorm):
    cls_to_become, nd = InstanceNorm2d, 2


class LazyInstanceNorm3d(_LazyInstanceNormMixin, _InstanceNorm):
    cls_to_become, nd = InstanceNorm3d, 3
