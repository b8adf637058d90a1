"""Convolution and transposed convolution layers over (N, C, L), (N, C, H, W) and
(N, C, D, H, W) inputs (or unbatched (C, *spatial)), pooling and unpooling layers (one class
each for all three, the 1d / 2d / 3d layers naming the number of spatial axes), and Flatten /
Unflatten (feature maps <-> Linear)."""

from __future__ import annotations

import inspect
import math

import numpy as np

from dlpy import functional as F
from dlpy.device import as_device
from dlpy.nn.linear import reset_uniform, run_reset_override
from dlpy.nn.module import Module, Parameter
from dlpy.ops import ArgError, DimError
from dlpy.ops.conv import (
    SPATIAL,
    ConvError,
    _check_transpose_settings,
    _dilation,
    _groups,
    _ntuple,
    _padding,
)
from dlpy.random import get_rng
from dlpy.random_streams import kaiming_bound, layer_uniform
from dlpy.tensor import ShapeError, Tensor, parameter_dtype


def _check_channels(name: str, in_channels: int, out_channels: int, groups) -> int:
    if in_channels < 0 or out_channels < 0:  # (0 channels: an empty weight, as torch's)
        raise ArgError(
            f"{name}: in_channels and out_channels must be >= 0, got {in_channels}, "
            f"{out_channels}"
        )
    groups = _groups(groups, name)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{name}: in_channels and out_channels must be divisible by groups={groups}, got "
            f"{in_channels}, {out_channels}"
        )
    return groups


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _padding_mode(name: str, padding_mode) -> str:
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"{name}: padding_mode must be one of {', '.join(PADDING_MODES)}, got "
                         f"{padding_mode!r}")
    return padding_mode


def _mode_widths(padding, kernel_size, dilation) -> tuple[int, ...]:
    """F.pad's widths (last axis first) that a padding_mode other than zeros pads with before
    a convolution without padding, as PyTorch: the padding each side, or for "same"
    d (k - 1) in total, the odd one at the end."""
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        return tuple(w for t in reversed(totals) for w in (t // 2, t - t // 2))
    if padding == "valid":
        return (0, 0) * len(kernel_size)
    return tuple(p for p in reversed(padding) for _ in range(2))


def _conv_repr(layer) -> str:
    """torch's: channels, kernel_size and stride, then only the settings off their defaults."""
    nd = len(layer.kernel_size)
    text = (f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, "
            f"stride={layer.stride}")
    if layer.padding != (0,) * nd:  # a string ("same", "valid") too, unquoted as torch's
        text += f", padding={layer.padding}"
    if layer.dilation != (1,) * nd:
        text += f", dilation={layer.dilation}"
    if layer.output_padding != (0,) * nd:
        text += f", output_padding={layer.output_padding}"
    if layer.groups != 1:
        text += f", groups={layer.groups}"
    if layer.bias is None:
        text += ", bias=False"
    if layer.padding_mode != "zeros":
        text += f", padding_mode={layer.padding_mode}"
    return text


class _PadRankError(NotImplementedError, ConvError):
    """An input of another rank to a layer with a padding_mode: a ConvError, and the
    NotImplementedError of torch's ``F.pad`` (run first: no non-constant padding of that
    rank)."""


def _check_input(name: str, x, channels: int, spatial: str, padded: bool = False) -> None:
    """x (N, channels, *spatial) or unbatched (channels, *spatial); ``padded``: the layer pads
    with a padding_mode first."""
    ndim = spatial.count(",") + 3
    rank_ok = np.ndim(x.data if isinstance(x, Tensor) else x) in (ndim, ndim - 1)
    if not rank_ok or x.shape[-ndim + 1] != channels:
        raise (ConvError if rank_ok or not padded else _PadRankError)(
            f"{name}: expected input (N, {channels}, {spatial}) or unbatched ({channels}, "
            f"{spatial}), got {x.shape}")


class _ConvNd(Module):
    """The convolutions' base, transposed ones too (torch's ``_ConvNd``): weight
    (out_channels, in_channels / groups, *kernel_size), or (in_channels, out_channels / groups,
    *kernel_size) when ``transposed``, and bias (out_channels,), as PyTorch.

    torch's arguments, all positional (a subclass calls ``super().__init__(in_channels,
    out_channels, kernel_size, stride, padding, dilation, transposed, output_padding, groups,
    bias, padding_mode)``), then device and dtype, and dlpy's keyword ``rng``: each size an int
    or one per spatial axis (``nd`` of the class, or for a class that names none, as many as
    kernel_size has), kept as tuples. padding: an int, one per axis, "valid" or "same" (stride
    1); padding_mode "reflect", "replicate" or "circular" pads with F.pad in that mode, then
    convolves without padding (a transposed one takes "zeros" only). Initialised as PyTorch:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = the weight's axis 1 times the kernel's size; a
    subclass's own reset_parameters then runs, as torch's. forward is the convolution (an
    unbatched input (in_channels, *spatial) gives (out_channels, *out)); ``_conv_forward(x,
    weight, bias)`` the same with another weight and bias.
    """

    nd: int | None = None  # the spatial axes: 1, 2 or 3 (None: len(kernel_size))
    function = None  # F.conv1d/2d/3d (None: by the number of axes)
    transposed = False  # torch's attribute (its _ConvNd holds both kinds)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                 dilation, transposed: bool, output_padding, groups: int, bias: bool,
                 padding_mode: str, device=None, dtype=None, *,
                 rng: np.random.Generator | None = None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        name = type(self).__name__
        as_device(device, name)  # the CPU only
        nd = self.nd or len(kernel_size)  # (torch's len() of an int: a TypeError)
        transposed = bool(transposed)
        if transposed and padding_mode != "zeros":  # (before the other checks, as torch's)
            raise ValueError(f'{name}: only padding_mode "zeros" is supported, as in PyTorch, '
                             f"got {padding_mode!r}")
        self.groups = _check_channels(name, in_channels, out_channels, groups)
        self.padding_mode = _padding_mode(name, padding_mode)
        self.transposed = transposed
        rng = get_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, nd, f"{name}: kernel_size")
        if min(self.kernel_size) < 1:
            raise (ValueError if transposed else ArgError)(
                f"{name}: kernel_size must be >= 1, got {kernel_size!r}")
        self.stride = _ntuple(stride, nd, f"{name}: stride")
        if transposed:
            self.padding = _ntuple(padding, nd, f"{name}: padding")
            self.output_padding = _ntuple(output_padding, nd, f"{name}: output_padding")
            self.dilation = _dilation(dilation, name, nd)
            # output_padding is checked by forward, as torch's: an output_size there replaces it
            _check_transpose_settings(name, self.stride, self.padding, (0,) * nd, self.dilation)
        else:
            self.padding = _padding(name, padding, self.stride)  # a tuple, "valid" or "same"
            self.dilation = _dilation(dilation, name, nd)
            self.output_padding = _ntuple(output_padding, nd, f"{name}: output_padding")
        # torch's attribute: F.pad's widths for a padding_mode (a list for "same"/"valid");
        # a plain attribute, so that a subclass or user may set it, as torch's forward reads it
        widths = _mode_widths(self.padding, self.kernel_size, self.dilation)
        self._reversed_padding_repeated_twice = list(widths) if isinstance(self.padding, str) \
            else widths
        first, second = (in_channels, out_channels) if transposed else \
            (out_channels, in_channels)
        fan_in = second // self.groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0  # (0 for an empty weight)
        shape = (first, second // self.groups, *self.kernel_size)
        # torch's order and bounds: kaiming_uniform_(a=sqrt(5)) for weight, then the bias
        self.weight = Parameter(layer_uniform(rng, shape, dtype,
                                              kaiming_bound(fan_in)), dtype=dtype)
        self.register_parameter("bias", Parameter(
            layer_uniform(rng, (out_channels,), dtype, bound),
            dtype=dtype) if bias else None)
        run_reset_override(self)

    def reset_parameters(self) -> None:
        """weight and bias redrawn in place from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the
        default generator, fan_in the weight's axis 1 times the kernel's size, as PyTorch's."""
        reset_uniform(self, self.weight.shape[1] * math.prod(self.kernel_size))

    def _function(self):
        """The functional convolution of the layer's kind and number of axes."""
        if self.function is not None:
            # F's current binding: the __torch_function__ dispatch swaps F.conv2d for a
            # dispatching one (an overriding argument, ExpandedWeight, then sees the call)
            current = getattr(F, self.function.__name__, None)
            return current if current is not None and inspect.unwrap(current) is \
                inspect.unwrap(self.function) else self.function
        functions = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d) \
            if self.transposed else (F.conv1d, F.conv2d, F.conv3d)
        return functions[len(self.kernel_size) - 1]

    def _checked_forward(self, input: Tensor) -> Tensor:
        """Conv1d/2d/3d's forward: the input's shape checked, then ``_conv_forward`` with the
        layer's own weight and bias. ``_ConvNd`` itself has no forward, as torch's: a subclass
        that defines none raises Module's "missing the required forward" error."""
        _check_input(type(self).__name__, input, self.in_channels,
                     SPATIAL[len(self.kernel_size)][0], self.padding_mode != "zeros")
        return self._conv_forward(input, self.weight, self.bias)

    def _conv_forward(self, x: Tensor, weight, bias) -> Tensor:
        """torch's: the layer's convolution with another weight and bias (a subclass's forward
        standardises or reparametrises the weight, then calls this)."""
        function = self._function()
        if self.padding_mode != "zeros":
            return function(F.pad(x, self._reversed_padding_repeated_twice, self.padding_mode),
                            weight, bias, self.stride, 0, self.dilation, self.groups)
        return function(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return _conv_repr(self)


def _conv_init(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
               dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
               rng: np.random.Generator | None = None, dtype=None):
    """Conv1d/2d/3d's constructor: PyTorch's arguments in its order, then rng and dtype."""
    _ConvNd.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                     False, 0, groups, bias, padding_mode, dtype=dtype, rng=rng)


class Conv1d(_ConvNd):
    """x (N, in_channels, L) or unbatched (in_channels, L) -> (..., out_channels, L_out); weight
    (out_channels, in_channels / groups, k), as F.conv1d; everything else as Conv2d."""

    nd = 1
    function = staticmethod(F.conv1d)
    __init__ = _conv_init
    forward = _ConvNd._checked_forward


class Conv2d(_ConvNd):
    """x (N, in_channels, H, W) or unbatched (in_channels, H, W) -> (..., out_channels, H_out,
    W_out); weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,), as
    F.conv2d; PyTorch's initialisation, padding strings and padding modes."""

    nd = 2
    function = staticmethod(F.conv2d)
    __init__ = _conv_init
    forward = _ConvNd._checked_forward


class Conv3d(_ConvNd):
    """x (N, in_channels, D, H, W) or unbatched (in_channels, D, H, W) -> (..., out_channels,
    D_out, H_out, W_out); weight (out_channels, in_channels / groups, kd, kh, kw), as F.conv3d;
    everything else as Conv2d (padding_mode zeros, reflect, replicate or circular)."""

    nd = 3
    function = staticmethod(F.conv3d)
    __init__ = _conv_init
    forward = _ConvNd._checked_forward


def _transpose_output_padding(name: str, x_shape, output_size, kernel, stride, padding,
                              dilation) -> tuple[int, ...]:
    """The output_padding that gives output_size (the spatial sizes, or with the leading axes
    too), as PyTorch's ConvTranspose: it must lie from the size output_padding 0 gives to that
    plus stride - 1."""
    spatial = len(kernel)
    leading = len(x_shape) - spatial  # 2, or 1 unbatched
    if not isinstance(output_size, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in output_size):
        raise ValueError(f"{name}: output_size must be a tuple of ints, got {output_size!r}")
    size = tuple(int(n) for n in output_size)
    if len(size) == leading + spatial:
        size = size[leading:]
    if len(size) != spatial:
        raise ValueError(f"{name}: for a {len(x_shape)}D input, output_size must have {spatial} "
                         f"or {leading + spatial} elements, got {tuple(output_size)}")
    smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, k, s, p, d in
                zip(x_shape[leading:], kernel, stride, padding, dilation)]
    largest = [m + s - 1 for m, s in zip(smallest, stride)]
    if any(not lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
        raise ValueError(f"{name}: requested an output size of {size}, but valid sizes range "
                         f"from {tuple(smallest)} to {tuple(largest)} (for an input of "
                         f"{tuple(x_shape[leading:])})")
    return tuple(n - m for n, m in zip(size, smallest))


class _ConvTransposeNd(_ConvNd):
    """The transposed convolutions (a _ConvNd, as torch's): weight (in_channels, out_channels /
    groups, *kernel), bias (out_channels,), initialised as PyTorch's: U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) with fan_in = out_channels / groups * kernel size (the weight's axis 1 times
    its kernel, PyTorch's fan_in of that shape), so a torch state dict loads unchanged and gives
    torch's output. torch's positional arguments, as _ConvNd's (padding_mode "zeros" only).
    forward(x, output_size=None): output_size picks the output_padding, as PyTorch. The settings
    are kept as tuples of one int per spatial axis."""

    transposed = True

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        name = type(self).__name__
        _check_input(name, input, self.in_channels, SPATIAL[len(self.kernel_size)][0])
        output_padding = self.output_padding if output_size is None else \
            _transpose_output_padding(name, input.shape, output_size, self.kernel_size, self.stride,
                                      self.padding, self.dilation)
        return self._function()(input, self.weight, self.bias, self.stride, self.padding,
                                output_padding, self.groups, self.dilation)

    def _output_padding(self, input, output_size, stride, padding, kernel_size,  # noqa: A002
                        num_spatial_dims: int, dilation=None):
        """torch's helper (subclasses' forwards call it): the output_padding that gives
        ``output_size`` (a list), or the layer's own (a tuple) when it is None."""
        if output_size is None:
            return tuple(self.output_padding)
        dilation = (1,) * num_spatial_dims if dilation is None else tuple(dilation)
        return list(_transpose_output_padding(
            type(self).__name__, tuple(input.shape), output_size,
            tuple(kernel_size)[:num_spatial_dims], tuple(stride), tuple(padding), dilation))


def _conv_transpose_init(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                         padding=0, output_padding=0, groups: int = 1, bias: bool = True,
                         dilation=1, padding_mode: str = "zeros",
                         rng: np.random.Generator | None = None, dtype=None):
    """ConvTranspose1d/2d/3d's constructor: PyTorch's arguments in its order (output_padding,
    groups, bias, dilation, padding_mode), then rng and dtype."""
    _ConvTransposeNd.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                              dilation, True, output_padding, groups, bias, padding_mode,
                              dtype=dtype, rng=rng)


class ConvTranspose1d(_ConvTransposeNd):
    """x (N, in_channels, L) or unbatched (in_channels, L) -> (..., out_channels, L_out) as
    F.conv_transpose1d."""

    nd = 1
    function = staticmethod(F.conv_transpose1d)
    __init__ = _conv_transpose_init


class ConvTranspose2d(_ConvTransposeNd):
    """x (N, in_channels, H, W) or unbatched (in_channels, H, W) -> (N, out_channels, H_out,
    W_out) as F.conv_transpose2d, H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + 1 +
    output_padding."""

    nd = 2
    function = staticmethod(F.conv_transpose2d)
    __init__ = _conv_transpose_init


class ConvTranspose3d(_ConvTransposeNd):
    """x (N, in_channels, D, H, W) or unbatched (in_channels, D, H, W) -> (..., out_channels,
    D_out, H_out, W_out) as F.conv_transpose3d."""

    nd = 3
    function = staticmethod(F.conv_transpose3d)
    __init__ = _conv_transpose_init


def _current(function):
    """dlpy.functional's current binding of ``function``'s name: torch's pooling layers call
    F.max_pool2d, F.adaptive_avg_pool2d... by attribute at each call, so a function a program
    patches onto the module (a FLOP counter's wrapper) is the one they run."""
    return getattr(F, function.__name__, function)


class _MaxPoolNd(Module):
    """Max over kernel_size windows every stride (default kernel_size), as F.max_pool1d / 2d /
    3d, and with return_indices the int64 indices too. The arguments in PyTorch's order
    (return_indices before ceil_mode, unlike the functions); the settings checked, then kept
    as given (an int or a tuple; stride None is kernel_size), as PyTorch's."""

    nd = 1
    function = staticmethod(F.max_pool1d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        name, nd = type(self).__name__, self.nd
        _ntuple(kernel_size, nd, f"{name}: kernel_size")
        if stride is not None:
            _ntuple(stride, nd, f"{name}: stride")
        _ntuple(padding, nd, f"{name}: padding")
        _dilation(dilation, name, nd)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)

    def forward(self, input: Tensor):
        return _current(self.function)(input, self.kernel_size, self.stride, self.padding,
                                       self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max pooling of (N, C, L) or (C, L) -> (..., L_out)."""

    nd = 1
    function = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max pooling of (N, C, H, W) or (C, H, W) -> (..., H_out, W_out)."""

    nd = 2
    function = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) -> (..., D_out, H_out, W_out)."""

    nd = 3
    function = staticmethod(F.max_pool3d)


def _avg_pool_init(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                   count_include_pad: bool = True, divisor_override: int | None = None) -> None:
    """AvgPool2d/3d's constructor (AvgPool1d's without divisor_override): the settings checked,
    then kept as PyTorch keeps them: tuples of one int for 1d, as given for 2d and 3d (stride
    None is kernel_size)."""
    Module.__init__(self)
    name, nd = type(self).__name__, self.nd
    tuples = (_ntuple(kernel_size, nd, f"{name}: kernel_size"),
              None if stride is None else _ntuple(stride, nd, f"{name}: stride"),
              _ntuple(padding, nd, f"{name}: padding"))
    if nd == 1:
        kernel_size, stride, padding = tuples
    self.kernel_size = kernel_size
    self.stride = kernel_size if stride is None else stride
    self.padding = padding
    self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
    self.divisor_override = divisor_override


class _AvgPoolNd(Module):
    """Mean over kernel_size windows every stride (default kernel_size), as F.avg_pool1d / 2d /
    3d: (N, C, *spatial) or (C, *spatial) -> (..., *out). torch's base: its constructor takes
    nothing (a subclass sets kernel_size, stride, padding, ...); the layers' take the
    settings."""

    nd = 2

    def forward(self, input: Tensor) -> Tensor:
        # F.avg_pool1d / 2d / 3d by name at each call, as torch's layers (avg_pool1d has no
        # divisor_override)
        args = (input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                self.count_include_pad)
        if self.nd == 1:
            return F.avg_pool1d(*args)
        return getattr(F, f"avg_pool{self.nd}d")(*args, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Average pooling of (N, C, L) or (C, L) -> (..., L_out), as F.avg_pool1d (no
    divisor_override, as PyTorch)."""

    nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        _avg_pool_init(self, kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Average pooling of (N, C, H, W) or (C, H, W) -> (..., H_out, W_out), as F.avg_pool2d."""

    nd = 2
    __init__ = _avg_pool_init


class AvgPool3d(_AvgPoolNd):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) -> (..., D_out, H_out, W_out), as
    F.avg_pool3d."""

    nd = 3
    __init__ = _avg_pool_init


class _AdaptiveAvgPoolNd(Module):
    """Averages over PyTorch's adaptive windows, as F.adaptive_avg_pool1d / 2d / 3d."""

    function = staticmethod(F.adaptive_avg_pool1d)

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return _current(self.function)(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """(N, C, L) or (C, L) -> (..., output_size), averaging PyTorch's adaptive windows, as
    F.adaptive_avg_pool1d."""

    function = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """(N, C, H, W) or (C, H, W) -> (..., *output_size), averaging PyTorch's adaptive windows, as
    F.adaptive_avg_pool2d; AdaptiveAvgPool2d(1) is the global average pool."""

    function = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """(N, C, D, H, W) or (C, D, H, W) -> (..., *output_size), averaging PyTorch's adaptive
    windows, as F.adaptive_avg_pool3d."""

    function = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(Module):
    """The max over PyTorch's adaptive windows, as F.adaptive_max_pool1d / 2d / 3d; with
    return_indices the int64 indices too."""

    function = staticmethod(F.adaptive_max_pool2d)

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, bool(return_indices)

    def forward(self, input: Tensor):
        return _current(self.function)(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """(N, C, L) or (C, L) -> (..., output_size), as F.adaptive_max_pool1d."""

    function = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """(N, C, H, W) or (C, H, W) -> (..., *output_size), as F.adaptive_max_pool2d."""

    function = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """(N, C, D, H, W) or (C, D, H, W) -> (..., *output_size), as F.adaptive_max_pool3d."""

    function = staticmethod(F.adaptive_max_pool3d)


def _max_unpool_init(self, kernel_size, stride=None, padding=0) -> None:
    """MaxUnpool1d/2d/3d's constructor: the settings checked and kept as tuples."""
    Module.__init__(self)
    name, nd = type(self).__name__, self.nd
    self.kernel_size = _ntuple(kernel_size, nd, f"{name}: kernel_size")
    if min(self.kernel_size) < 1:
        raise ValueError(f"{name}: kernel_size must be >= 1, got {kernel_size!r}")
    self.stride = self.kernel_size if stride is None else \
        _ntuple(stride, nd, f"{name}: stride")
    self.padding = _ntuple(padding, nd, f"{name}: padding")


class _MaxUnpoolNd(Module):
    """The partial inverse of the max pools, as F.max_unpool1d / 2d / 3d: forward(x, indices,
    output_size=None) puts each value of x (N, C, *spatial) or (C, *spatial) back at its index
    (the pool's return_indices) in a zero (..., *out). torch's base: its constructor takes
    nothing; the layers' take the settings and keep them as tuples."""

    nd = 2
    function = staticmethod(F.max_unpool2d)

    def forward(self, input: Tensor, indices, output_size=None) -> Tensor:
        return self.function(input, indices, self.kernel_size, self.stride, self.padding,
                             output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d: (N, C, L) or (C, L) -> (..., L_out)."""

    nd = 1
    function = staticmethod(F.max_unpool1d)
    __init__ = _max_unpool_init


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d: (N, C, H, W) or (C, H, W) -> (..., H_out, W_out)."""

    nd = 2
    function = staticmethod(F.max_unpool2d)
    __init__ = _max_unpool_init


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of MaxPool3d: (N, C, D, H, W) or (C, D, H, W) -> (..., D_out, H_out,
    W_out)."""

    nd = 3
    function = staticmethod(F.max_unpool3d)
    __init__ = _max_unpool_init


class Flatten(Module):
    """The axes start_dim..end_dim into one, as torch.nn.Flatten (default: all but the batch
    axis, (N, d1, d2, ...) -> (N, d1 * d2 * ...))."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Axis dim -> the axes unflattened_size (their product its size; one may be -1), as
    torch.nn.Unflatten: Unflatten(1, (3, 4)) makes (N, 12) into (N, 3, 4)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(n, (int, np.integer)) for n in unflattened_size):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple of ints, got "
                            f"{unflattened_size!r}")
        # dim and the sizes kept as given (a list stays a list, a Size a Size: their reprs
        # show as torch's); as torch's, a bad dim or bad sizes fail only when called
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        if isinstance(self.dim, bool) or not isinstance(self.dim, (int, np.integer)):
            raise TypeError(f"Unflatten: dim must be an int, got {self.dim!r}")
        sizes = tuple(int(n) for n in self.unflattened_size)
        if not sizes or any(n < -1 for n in sizes) or sizes.count(-1) > 1:
            raise ArgError(f"Unflatten: unflattened_size must be sizes >= 0 with at most one "
                           f"-1, got {sizes}")
        if not -input.ndim <= self.dim < input.ndim:
            # (torch's IndexError, a RuntimeError for a tensor with no axes)
            raise (DimError if input.ndim else ArgError)(
                f"Unflatten: dim {self.dim} is out of range for shape {input.shape}")
        dim = self.dim % input.ndim
        n = input.shape[dim]
        known = math.prod(s for s in sizes if s != -1)
        fits = n % known == 0 if -1 in sizes and known else known == n
        if not fits:
            raise ShapeError(f"Unflatten: sizes {sizes} do not multiply to the size {n} of axis "
                             f"{dim} of {input.shape}")
        return input.reshape(*input.shape[:dim], *sizes, *input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class _LPPoolNd(Module):
    """(sum over each window of x^p)^(1 / p) (``F.lp_pool1d/2d/3d``)."""

    nd = 1

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride = norm_type, kernel_size, stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        function = (F.lp_pool1d, F.lp_pool2d, F.lp_pool3d)[self.nd - 1]
        # float(p), as torch's layer: an integer x is then powered in floating point
        return function(input, float(self.norm_type), self.kernel_size, self.stride,
                        self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling of (N, C, L) (``F.lp_pool1d``)."""

    nd = 1


class LPPool2d(_LPPoolNd):
    """Power-average pooling of (N, C, H, W) (``F.lp_pool2d``)."""

    nd = 2


class LPPool3d(_LPPoolNd):
    """Power-average pooling of (N, C, D, H, W) (``F.lp_pool3d``)."""

    nd = 3
