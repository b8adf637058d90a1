"""Fully connected layers and element-wise activation modules."""

from __future__ import annotations

import math
import warnings

import numpy as np

import dlpy
from dlpy import functional as F
from dlpy._caller import user_stacklevel
from dlpy.device import as_device
from dlpy.nn.module import Module, Parameter
from dlpy.ops import ArgAssertionError, ArgError, real_number
from dlpy.random import get_rng
from dlpy.random_streams import kaiming_bound, layer_uniform
from dlpy.tensor import ShapeError, Tensor, parameter_dtype


def setting(name: str, what: str, value, finite: bool = True):
    """A real-number setting, checked (``real_number``) and kept as given when a Python int or
    float (torch's reprs print ``value=20`` for 20), else as a float."""
    number = real_number(name, what, value, finite)
    return value if type(value) in (int, float) else number


def size_setting(name: str, what: str, value) -> int:
    """A size setting (in_features, ...): an int >= 0 (0 is an empty layer, as torch's)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int >= 0, got {value!r}")
    if value < 0:
        raise ArgError(f"{name}: {what} must be an int >= 0, got {value}")
    return int(value)


class _InputTypeError(AttributeError, TypeError):
    """An input with no shape (a list): the AttributeError of reading its shape, and the
    TypeError of torch's ``F.linear`` (an argument that is not a Tensor)."""


def reset_uniform(layer: Module, fan_in: int, kaiming: bool = True) -> None:
    """PyTorch's reset_parameters of the linear, bilinear and convolution layers: weight and
    bias (where there is one) redrawn in place from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the
    default generator (bound 0 for fan_in 0); the weight's bound computed as torch's
    kaiming_uniform_(a=sqrt(5)) computes it where ``kaiming`` (Linear, the convolutions)."""
    from dlpy.nn import init

    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
    for param, limit in ((layer.weight, kaiming_bound(fan_in) if kaiming else bound),
                         (layer.bias, bound)):
        if param is not None and param.data.size:
            init.uniform_(param, -limit, limit)


def run_reset_override(layer: Module) -> None:
    """torch's layers end their ``__init__`` with ``self.reset_parameters()``, so a subclass's
    own reset_parameters (its initialisation) runs at construction: so it does here, where the
    reset_parameters the layer's class finds is one defined outside dlpy (dlpy's own layers
    draw their values in ``__init__``, from ``rng``)."""
    for klass in type(layer).__mro__:
        if "reset_parameters" in vars(klass):
            if not klass.__module__.startswith("dlpy."):
                layer.reset_parameters()
            return


class Linear(Module):
    """y = x @ weight^T + bias; weight (out_features, in_features) as in PyTorch.

    Initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=None, device=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        as_device(device, "Linear")  # the CPU only
        super().__init__()
        rng = get_rng(rng)
        self.in_features = size_setting("Linear", "in_features", in_features)
        self.out_features = size_setting("Linear", "out_features", out_features)
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        # torch's order and bounds: kaiming_uniform_(a=sqrt(5)) for weight, then the bias
        weight = layer_uniform(rng, (out_features, in_features), dtype,
                               kaiming_bound(in_features))
        self.weight = Parameter(weight, dtype=dtype)
        self.register_parameter("bias", Parameter(layer_uniform(rng, (out_features,), dtype,
                                                                bound),
                                                  dtype=dtype) if bias else None)
        run_reset_override(self)

    def reset_parameters(self) -> None:
        """weight and bias redrawn in place from U(-1/sqrt(in), 1/sqrt(in)) (the default
        generator), as PyTorch's."""
        reset_uniform(self, self.in_features)

    def forward(self, input):  # noqa: A002 - PyTorch's name (m(input=x))
        try:  # (a plain tuple: a Size's indexing costs a Python call)
            shape = input.data.shape if type(input) is Tensor else input.shape
        except AttributeError as err:  # (a list: torch's F.linear raises TypeError)
            raise _InputTypeError(str(err)) from None
        if shape[-1:] != (self.in_features,):
            raise ShapeError(
                f"Linear: expected input (..., {self.in_features}), got {input.shape}"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear by another name: MultiheadAttention's ``out_proj``, as torch's (which keeps it
    out of dynamic quantization, whose mapping matches the exact type Linear)."""


class ReLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace  # change x in place and return it (F.relu_)

    def forward(self, input):
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    def forward(self, input):
        return dlpy.sigmoid(input)  # torch.sigmoid: a call_function node when traced


class Tanh(Module):
    def forward(self, input):
        return dlpy.tanh(input)  # torch.tanh: a call_function node when traced


class GELU(Module):
    """x * Phi(x); ``approximate="tanh"`` for PyTorch's tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ArgError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x); ``inplace=True`` changes x and returns it (as torch's)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.silu(input, self.inplace) if self.inplace else F.silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = setting("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = setting("ELU", "alpha", alpha)
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = setting("Softplus", "beta", beta)
        self.threshold = setting("Softplus", "threshold", threshold, finite=False)

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x limited to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None):
        super().__init__()
        # torch's old keyword names, still taken with its FutureWarning
        for old, new in (("min_value", min_value), ("max_value", max_value)):
            if new is not None:
                warnings.warn(f"keyword argument `{old}` is deprecated and renamed to "
                              f"`{old[:3]}_val`", FutureWarning, stacklevel=user_stacklevel())
        min_val = min_val if min_value is None else min_value
        max_val = max_val if max_value is None else max_value
        self.min_val = setting("Hardtanh", "min_val", min_val, finite=False)
        self.max_val = setting("Hardtanh", "max_val", max_val, finite=False)
        if not self.max_val > self.min_val:  # (strictly, as torch's module, not its F.hardtanh)
            raise ArgAssertionError(f"Hardtanh: max_val ({self.max_val}) must be greater than "
                                    f"min_val ({self.min_val})")
        self.inplace = inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + \
            (", inplace=True" if self.inplace else "")


class _SoftmaxDim(Module):
    """What Softmax, LogSoftmax and Softmin share (each a Module of its own, as torch's, not a
    Softmax): the axis ``dim``; without one (deprecated), torch's implicit choice with its
    warning: axis 0 of a 0-, 1- or 3-d input, else axis 1."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def _dim(self, x) -> int:
        if self.dim is not None:
            return self.dim
        import warnings

        name = {"LogSoftmax": "log_softmax"}.get(type(self).__name__, type(self).__name__.lower())
        warnings.warn(f"Implicit dimension choice for {name} has been "
                      "deprecated. Change the call to include dim=X as an argument.",
                      UserWarning, stacklevel=3)
        return 0 if x.ndim in (0, 1, 3) else 1

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxDim):
    """softmax over axis ``dim``; without one (deprecated), torch's implicit choice with its
    warning: axis 0 of a 0-, 1- or 3-d input, else axis 1."""

    def forward(self, input):
        return F.softmax(input, self._dim(input))


class LogSoftmax(_SoftmaxDim):
    """log_softmax over axis ``dim``."""

    def forward(self, input):
        return F.log_softmax(input, self._dim(input))


class Identity(Module):
    """The input itself; any constructor arguments are accepted and ignored, as PyTorch's."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class PReLU(Module):
    """x where x > 0, weight * x elsewhere; ``weight`` (num_parameters,) starts at ``init``: one
    slope for every element (num_parameters=1) or one per channel (axis 1 of the input)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) \
                or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive integer, got "
                             f"{num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init = setting("PReLU", "init", init)  # as given, torch's attribute
        self.weight = Parameter(np.full(self.num_parameters, float(self.init)), dtype=dtype)

    def reset_parameters(self) -> None:
        """Every slope back to ``init``, in place (PyTorch's)."""
        from dlpy.nn import init

        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class SELU(Module):
    """scale * (x if x > 0 else alpha * (exp(x) - 1)), PyTorch's constants."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class CELU(Module):
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = setting("CELU", "alpha", alpha)
        if self.alpha == 0:
            raise ArgError("CELU: alpha must be nonzero, got 0.0")
        self.inplace = inplace

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Mish(Module):
    """x * tanh(softplus(x)); ``inplace=True`` changes x and returns it (as torch's)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.mish(input, self.inplace) if self.inplace else F.mish(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardswish(Module):
    """x * relu6(x + 3) / 6; ``inplace=True`` changes x and returns it (as torch's, which
    shows no extra_repr)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.hardswish(input, self.inplace) if self.inplace else F.hardswish(input)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6; ``inplace=True`` changes x and returns it (as torch's, which shows no
    extra_repr)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.hardsigmoid(input, self.inplace) if self.inplace else F.hardsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input):
        return F.softsign(input)


class LogSigmoid(Module):
    """log(sigmoid(x)), stable for large |x|."""

    def forward(self, input):
        return F.logsigmoid(input)


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = setting("Threshold", "threshold", threshold, finite=False)
        self.value = setting("Threshold", "value", value, finite=False)
        self.inplace = inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + \
            (", inplace=True" if self.inplace else "")


class Tanhshrink(Module):
    """x - tanh(x)."""

    def forward(self, input):
        return F.tanhshrink(input)


class Softshrink(Module):
    """x - lambd above lambd, x + lambd below -lambd, 0 in between (lambd >= 0)."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = setting("Softshrink", "lambd", lambd, finite=False)
        if self.lambd < 0:
            raise ArgError(f"Softshrink: lambd must be >= 0, got {self.lambd}")

    def forward(self, input):
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Module):
    """x where |x| > lambd, 0 elsewhere."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = setting("Hardshrink", "lambd", lambd, finite=False)

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class ReLU6(Hardtanh):
    """min(max(x, 0), 6): Hardtanh(0, 6), as torch's."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    # forward: Hardtanh's (F.hardtanh, as torch's layer: a patched F.relu6 does not see it)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softmin(_SoftmaxDim):
    """softmax(-x) over axis ``dim`` (or torch's implicit choice, as Softmax's)."""

    def forward(self, input):
        return F.softmin(input, self._dim(input))


def _check_in1_features(in1_features: int) -> None:
    """torch's Bilinear.reset_parameters refuses in1_features 0 (its bound, 1 / sqrt(in1),
    would divide by it), at construction too."""
    if in1_features <= 0:
        raise ValueError(f"in1_features must be > 0, but got (in1_features={in1_features})")


class Bilinear(Module):
    """y = x1^T weight[o] x2 + bias[o] for each output o: x1 (..., in1_features), x2 (...,
    in2_features) -> (..., out_features); weight (out_features, in1_features, in2_features).

    Initialised as PyTorch does: U(-1/sqrt(in1), 1/sqrt(in1)) for weight and bias.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, rng=None, dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        rng = get_rng(rng)
        self.in1_features = size_setting("Bilinear", "in1_features", in1_features)
        self.in2_features = size_setting("Bilinear", "in2_features", in2_features)
        self.out_features = size_setting("Bilinear", "out_features", out_features)
        _check_in1_features(self.in1_features)
        bound = 1.0 / math.sqrt(in1_features)
        weight = layer_uniform(rng, (out_features, in1_features, in2_features), dtype, bound)
        self.weight = Parameter(weight, dtype=dtype)
        self.register_parameter("bias", Parameter(layer_uniform(rng, (out_features,), dtype,
                                                                bound),
                                                  dtype=dtype) if bias else None)

    def reset_parameters(self) -> None:
        """weight and bias redrawn in place from U(-1/sqrt(in1), 1/sqrt(in1)), as PyTorch's."""
        _check_in1_features(self.in1_features)
        reset_uniform(self, self.in1_features, kaiming=False)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class RReLU(Module):
    """Randomized leaky ReLU: a slope ~ U(lower, upper) per negative element while training
    (from ``rng`` or dlpy's generator), the mean slope (lower + upper) / 2 in eval mode
    (``F.rrelu``)."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False,
                 rng=None):
        super().__init__()
        self.lower = setting("RReLU", "lower", lower)
        self.upper = setting("RReLU", "upper", upper)
        self.rng = rng  # lower > upper is refused by the forward (F.rrelu), as torch's
        self.inplace = inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace, rng=self.rng)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace
                                                             else "")


class Softmax2d(Module):
    """softmax over the channels of (N, C, H, W) or (C, H, W) (axis -3)."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected x (N, C, H, W) or (C, H, W), got {input.shape}")
        return F.softmax(input, -3)
