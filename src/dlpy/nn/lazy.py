"""Lazy modules, as torch.nn's: LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d,
LazyBatchNorm1d/2d/3d, LazyInstanceNorm1d/2d/3d, with UninitializedParameter and
UninitializedBuffer (torch.nn.parameter's).

A lazy module leaves out one size (``in_features``, ``in_channels``, ``num_features``): its
parameters and buffers are uninitialized (empty) until the first forward reads the size from
the input, or ``load_state_dict`` from the state's arrays. Then the module is built as the
non-lazy class (``cls_to_become``) with the same settings would be, drawing from the same
generator in the same order (so with the same seed it holds the same values), its arrays go
into the lazy module's own Parameter objects, and the module becomes that class. An optimiser
given an uninitialized parameter refuses it (PyTorch's rule).
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
)
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Tensor, default_dtype

_NOT_YET = ("has no shape until its module's first forward (or load_state_dict): run one "
            "forward before making the optimiser, as in PyTorch")


class UninitializedParameter(Parameter):
    """A lazy module's parameter before its shape is known (torch.nn.parameter's): an empty
    array; ``materialize(shape or array)`` gives it values and makes it a plain Parameter (the
    same object). It is not a leaf an optimiser or an op can use."""

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, dtype=None):
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__(np.empty(0, dtype=dtype), requires_grad=requires_grad, dtype=dtype)

    @property
    def is_leaf(self) -> bool:
        raise ValueError(f"UninitializedParameter: this parameter {_NOT_YET}")

    def materialize(self, shape_or_array, dtype=None) -> None:
        """Zeros of ``shape`` (or a copy of an array), of ``dtype`` (default: its own)."""
        dtype = self.data.dtype if dtype is None else dtype
        if isinstance(shape_or_array, (tuple, list, int)):
            values = np.zeros(shape_or_array, dtype=dtype)
        else:
            values = np.array(shape_or_array, dtype=dtype, copy=True)
        self.data = values
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"UninitializedParameter(dtype={self.data.dtype})"


class UninitializedBuffer(Tensor):
    """A lazy module's buffer before its shape is known (torch.nn.parameter's); a module
    holds it as an empty array until it is materialised."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors
    __slots__ = ()

    def __init__(self, requires_grad: bool = False, dtype=None):
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        super().__init__(np.empty(0, dtype=dtype), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return f"UninitializedBuffer(dtype={self.data.dtype})"


_MODULE_KEYS = frozenset(Module().__dict__)  # what every module has (registries, hooks)


class LazyModuleMixin:
    """What the lazy modules share: ``inferred`` names the constructor argument the first
    input decides, ``_settings`` the others; ``cls_to_become`` the class built then."""

    cls_to_become: type[Module]
    inferred = "in_features"

    def _lazy_setup(self, settings: dict[str, Any], params: tuple[str, ...],
                    buffers: dict[str, Any]) -> None:
        Module.__init__(self)
        dtype = default_dtype(settings.get("dtype"))
        object.__setattr__(self, "_settings", settings)
        object.__setattr__(self, self.inferred, 0)
        for name in params:
            setattr(self, name, UninitializedParameter(dtype=dtype) if name else None)
        for name, value in buffers.items():  # None: uninitialized (an empty array)
            self.register_buffer(name, np.empty(0, dtype=dtype) if value is None else value)

    def reset_parameters(self) -> None:
        """Nothing while the sizes are unknown (PyTorch's); the built layer's own afterwards."""

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values()) \
            or any(getattr(self, "_uninitialized_buffers", ()))

    def initialize_parameters(self, size: int) -> None:
        """Build ``cls_to_become`` with ``inferred=size`` and the settings, take its arrays
        into this module's parameters and buffers, and become that class."""
        template = self.cls_to_become(**{self.inferred: int(size)}, **self._settings)
        for name, value in template.__dict__.items():
            if name in _MODULE_KEYS:
                continue
            if name in template._parameters:
                own = self._parameters.get(name)
                if isinstance(own, UninitializedParameter):
                    own.materialize(value.data)
                else:
                    setattr(self, name, value)
            elif name in template._buffers:
                own = self._buffers.get(name)
                if own is not None and value is not None:  # torch's materialize: same Tensor
                    own.data, value = value.data, own
                self.register_buffer(name, value, persistent=name not in
                                     template._non_persistent)
            else:
                object.__setattr__(self, name, value)
        self.__dict__.pop("_settings", None)
        self.__dict__.pop("_uninitialized_buffers", None)
        self.__class__ = self.cls_to_become

    def forward(self, x, *args, **kwargs):
        self.initialize_parameters(self._size_of(x.data if isinstance(x, Tensor)
                                                 else np.asarray(x)))
        return self.forward(x, *args, **kwargs)

    def _size_of(self, x: np.ndarray) -> int:
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The built layer's, with the size still unknown shown as 0 (torch's
        ``LazyLinear(in_features=0, out_features=3, bias=True)``)."""
        settings = dict(self._settings)
        if "rng" in settings:  # a template of its own: the user's generator draws nothing
            settings["rng"] = np.random.default_rng(0)
        try:  # a size the settings accept (divisible by groups)
            template = self.cls_to_become(**{self.inferred: settings.get("groups", 1)},
                                          **settings)
        except (TypeError, ValueError):  # settings the layer will refuse when built
            shown = {k: v for k, v in self._settings.items() if k not in ("rng", "dtype")}
            return ", ".join([f"{self.inferred}=0"] + [f"{k}={v!r}" for k, v in shown.items()])
        object.__setattr__(template, self.inferred, 0)
        return template.extra_repr()

    def _size_in_state(self, state: dict[str, Any], prefix: str) -> int | None:
        """The inferred size a state dict's arrays give, or None."""
        return None

    def _materialize_from_state(self, state: dict[str, Any], prefix: str) -> None:
        """Called by Module.load_state_dict before it loads (PyTorch's lazy load hook)."""
        if type(self) is not self.cls_to_become:  # still lazy
            size = self._size_in_state(state, prefix)
            if size is not None:
                self.initialize_parameters(size)


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
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        self._lazy_setup({"out_features": out_features, "bias": bias, "rng": rng,
                          "dtype": dtype}, ("weight", "bias" if bias else ""), {})
        self.out_features = out_features

    def _size_of(self, x):
        if x.ndim < 1:
            raise ValueError(f"LazyLinear: expected an input (..., in_features), got shape "
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
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        names = (("output_padding", "groups", "bias", "dilation", "padding_mode")
                 if self.transposed else ("dilation", "groups", "bias", "padding_mode"))
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}: too many positional arguments")
        settings = {"out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
                    "padding": padding, **dict(zip(names, args)), **kwargs, "rng": rng,
                    "dtype": dtype}
        self._lazy_setup(settings, ("weight", "bias" if settings.get("bias", True) else ""), {})
        self.out_channels = out_channels

    def _size_of(self, x):
        if x.ndim not in (self.nd + 1, self.nd + 2):
            raise ValueError(f"{type(self).__name__}: expected an input with {self.nd + 1} "
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
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        settings = {"eps": eps, "momentum": momentum, "affine": affine,
                    "track_running_stats": track_running_stats, "dtype": dtype, "bias": bias}
        params = ("weight", "bias" if bias else "") if affine else ("", "")
        buffers = {"running_mean": None, "running_var": None,
                   "num_batches_tracked": np.array(0, dtype=np.int64)} \
            if track_running_stats else {}
        self._lazy_setup(settings, params, buffers)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        object.__setattr__(self, "_uninitialized_buffers",
                           [n for n, v in buffers.items() if v is None])

    def _size_of(self, x):
        batched_rank = self.nd + 2 if not (self.nd == 1 and not self.instance) else None
        if self.instance:
            if x.ndim not in (self.nd + 1, self.nd + 2):
                raise ValueError(f"{type(self).__name__}: expected an input with {self.nd + 1}"
                                 f" or {self.nd + 2} axes, got shape {x.shape}")
            return x.shape[0 if x.ndim == self.nd + 1 else 1]
        if x.ndim < 2 or (batched_rank is not None and x.ndim != batched_rank):
            raise ValueError(f"{type(self).__name__}: expected an input (N, C, ...) of "
                             f"{batched_rank or '2 or 3'} axes, got shape {x.shape}")
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


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    cls_to_become, nd = BatchNorm1d, 1


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    cls_to_become, nd = BatchNorm2d, 2


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    cls_to_become, nd = BatchNorm3d, 3


class _LazyInstanceNormMixin(_LazyNormMixin):
    """torch's lazy instance norms take its lazy norms' defaults, affine=True and
    track_running_stats=True (InstanceNorm's own are False)."""

    instance = True


class LazyInstanceNorm1d(_LazyInstanceNormMixin, InstanceNorm1d):
    cls_to_become, nd = InstanceNorm1d, 1


class LazyInstanceNorm2d(_LazyInstanceNormMixin, InstanceNorm2d):
    cls_to_become, nd = InstanceNorm2d, 2


class LazyInstanceNorm3d(_LazyInstanceNormMixin, InstanceNorm3d):
    cls_to_become, nd = InstanceNorm3d, 3
