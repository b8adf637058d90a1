"""More element-wise non-linearities, with PyTorch's gradients at the kinks: prelu, selu, celu,
mish, hardswish, hardsigmoid, softsign, logsigmoid, glu, threshold, tanhshrink, softshrink,
hardshrink, relu6, softmin."""

import numpy as np

from dlpy.amp.dtypes import float32_compute, is_low_precision
from dlpy.amp.state import LOWER, autocast_policy
from dlpy.layouts import follows_inputs
from dlpy.ops import ArgDtypeError, ArgError, check_dim, real_number
from dlpy.ops import promotion as _promotion
from dlpy.ops.activation import _GELU_BLOCK as _BLOCK
from dlpy.ops.activation import (
    Clamp,
    Softplus,
    _in_blocks,
    _sigmoid,
    floating_only,
    hardtanh_bounds,
    refuse_negative_in_place_slope,
)
from dlpy.ops.arithmetic import dropped_as_zeros, neg, slope_grad
from dlpy.ops.mask import where
from dlpy.ops.shape import concat
from dlpy.ops.softmax import softmax
from dlpy.tensor import Op, ShapeError, Tensor, as_array, row_major


class _ValueOverflowError(OverflowError, RuntimeError):
    """threshold's value out of the input's integer range: numpy's OverflowError, and torch's
    RuntimeError ("value cannot be converted to type uint8_t without overflow")."""


# SELU's constants (Klambauer et al. 2017), as PyTorch's
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@follows_inputs
class PReLU(Op):
    """y = x if x > 0 else weight * x, one weight per channel (axis 1) or one for all;
    dx = g if x > 0 else weight * g (weight at 0, as PyTorch); dweight = sum(g * x where x <= 0).
    """

    saves = (0, 1)  # read by backward (in-place checks, Op.saves): not the output

    def forward(self, x, weight):
        # (C,) on axis 1 of x (N, C, *) (no weights for C = 0); a single one broadcasts as it is
        shape = (1, -1) + (1,) * (x.ndim - 2) if weight.size != 1 else ()
        self.x, self.weight, self.weight_shape = x, weight.reshape(shape), weight.shape
        self.positive = x > 0
        return np.where(self.positive, x, self.weight * x)

    def backward(self, grad_output):
        x, weight, positive = self.x, self.weight, self.positive
        x_grad = np.where(positive, grad_output, weight * grad_output)
        w_terms = np.where(positive, 0, grad_output * x)
        # float16/bfloat16 terms summed in float32, rounded once, as torch's sum (not in order)
        wide = np.float32 if is_low_precision(w_terms.dtype) else None
        if weight.size != 1:
            w_grad = w_terms.sum(axis=(0, *range(2, x.ndim)), dtype=wide)
        else:
            w_grad = np.reshape(w_terms.sum(dtype=wide), self.weight_shape)
        return x_grad, w_grad.astype(w_terms.dtype, copy=False)

    def backward_graph(self, grad_output, output):
        # torch's double backward (_prelu_kernel_backward's) takes x = 0 as positive: there the
        # gradient keeps its value (weight * g, and 0 for the weight) but has no derivative by
        # the weight nor by x; a constant weight's x gradient is tied to x (zero derivative)
        x, weight = self.inputs
        axes = (0, *range(2, x.ndim)) if weight.data.size != 1 else None
        negative = self.x < 0
        if weight.requires_grad:
            slope = where(negative, weight.reshape(self.weight.shape), self.weight)
            x_grad = where(self.positive, grad_output, slope * grad_output)
        else:
            slope = np.where(self.positive, 1, self.weight).astype(self.x.dtype, copy=False)
            x_grad = slope_grad(grad_output, slope, x)
        if x.requires_grad:
            w_terms = where(negative, grad_output * x, 0.0)
        else:  # tied to the weight, as torch's node takes it (a zero derivative)
            w_terms = slope_grad(grad_output, np.where(negative, self.x, 0), weight)
        return x_grad, w_terms.sum(axes).reshape(self.weight_shape)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class ScaledELU(Op):
    """PyTorch's elu kernel: y = scale * x if x > 0 else scale * alpha * (exp(input_scale * x)
    - 1); dx = scale * g, or scale * alpha * input_scale * exp(input_scale * x) * g where x <= 0
    (so at 0, as PyTorch). SELU and CELU are two settings of it; ``kind`` is torch's node
    name ("Elu" for selu, "Celu")."""

    saves = (0,)  # read by backward (in-place checks, Op.saves): x, as torch's, not y
    result = None  # selu_/celu_'s node (EluBackward1, CeluBackward1): its result, the slope's

    def __init__(self, alpha, scale, input_scale, kind="Elu"):
        self.alpha, self.scale, self.input_scale, self.kind = alpha, scale, input_scale, kind

    def forward(self, x):
        self.x = x
        negative = self.alpha * np.expm1(np.minimum(x, 0) * self.input_scale)
        return self.scale * np.where(x > 0, x, negative)

    def backward(self, grad_output):
        if self.result is not None:  # (source, as torch's): g input_scale (y + scale alpha)
            refuse_negative_in_place_slope("elu", self.alpha)  # where y <= 0
            y = self.result.astype(grad_output.dtype, copy=False)
            negative = grad_output * self.input_scale * (y + self.scale * self.alpha)
            return (np.where(y > 0, self.scale * grad_output, negative),)
        x = self.x
        slope = (self.scale * self.alpha * self.input_scale) * np.exp(np.minimum(x, 0)
                                                                        * self.input_scale)
        return (np.where(x > 0, self.scale * grad_output, slope * grad_output),)

    def backward_graph(self, grad_output, output):
        if self.result is not None:  # (create_graph too, as torch's)
            refuse_negative_in_place_slope("elu", self.alpha)
        # scale alpha exp(input_scale x) = y + scale alpha where x <= 0: no exp to overflow
        negative = (output + self.scale * self.alpha) * self.input_scale
        x = self.x  # at x = 0 the slope scale alpha input_scale, and no second derivative
        at_zero = self.scale * self.alpha * self.input_scale  # (torch's x < 0 there)
        return (grad_output * where(x > 0, self.scale, where(x == 0, at_zero, negative)),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Mish(Op):
    """y = x * tanh(softplus(x));  dx = g * (t + x * sigmoid(x) * (1 - t^2)), t = tanh(softplus
    (x)). softplus as log1p(exp(-|x|)) + max(x, 0): no overflow at any x."""

    saves = (0,)  # read by backward (in-place checks, Op.saves): x, as torch's, not y

    def forward(self, x):
        self.x = x
        self.t = np.tanh(np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))
        return x * self.t

    def backward(self, grad_output):
        x, t = self.x, self.t
        return (grad_output * (t + x * _sigmoid(x) * (1 - t * t)),)

    def backward_graph(self, grad_output, output):
        (x,) = self.inputs
        t = Softplus(1.0, 20.0)(x).tanh()  # tanh is 1 where softplus turns linear
        return (grad_output * (t + x * x.sigmoid() * (1 - t * t)),)


def _scratch(buffer: np.ndarray, block: np.ndarray) -> np.ndarray:
    """A scratch array of block's shape: the start of buffer (made once for the blocks of
    _in_blocks), or a new one for a whole array that _in_blocks did not split."""
    if block.size > buffer.size:
        return np.empty(block.shape, buffer.dtype)
    return buffer[:block.size].reshape(block.shape)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Hardswish(Op):
    """y = x * min(max(x + 3, 0), 6) / 6;  dx = g * (x / 3 + 1/2) for -3 < x < 3, g for x >= 3,
    0 for x <= -3 (torch 2.13's values at -3 and 3)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves): x, as torch's, not y

    def forward(self, x):
        self.x = x
        if x.dtype.kind != "f":
            return x * np.clip(x + 3, 0, 6) / 6
        three, six = x.dtype.type(3), x.dtype.type(6)

        def kernel(xb, yb):  # in place, in blocks
            # clip(x, -3, 3) + 3 is clip(x + 3, 0, 6) value for value (x + 3 rounds to 6 for
            # every x above 3, and to 0 only at -3), one clamp instead of two
            np.clip(xb, -three, three, out=yb)
            yb += three
            yb *= xb
            yb /= six

        y = np.empty_like(x)
        _in_blocks(kernel, x, y)
        return y

    def backward(self, grad_output):
        x = self.x
        if x.dtype.kind != "f" or np.result_type(grad_output, x) != x.dtype \
                or np.shape(grad_output) != x.shape:
            inside = grad_output * (x / 3 + 0.5)
            # a nan x: nan (the inside formula), as torch's vectorized hardswish_backward
            return (np.where(x >= 3, grad_output, np.where(x <= -3, 0, inside)),)
        one, three, half = x.dtype.type(1), x.dtype.type(3), x.dtype.type(0.5)
        scratch = np.empty(min(x.size, _BLOCK), x.dtype)

        def kernel(xb, gb, out):
            # No masks (a bool mask multiplied in costs a pass of its own, np.where and
            # where= 8-15x one): e = x / 3 clamped to [-1, 1] is +-1 exactly at and beyond
            # the kinks only, so trunc(e) / 2 is +-1/2 there and 0 inside, and
            # e - trunc(e) / 2 + 1/2 is 1 at and above 3, 0 at and below -3, and x / 3 + 1/2
            # (the same rounding) inside. A nan x gives nan, as torch's vectorized kernel (its
            # scalar one, for a short tail, gives g): the clamp keeps the nan.
            ends = _scratch(scratch, xb)
            np.divide(xb, three, out=out)
            np.clip(out, -one, one, out=out)
            np.trunc(out, out=ends)
            ends *= half
            out -= ends
            out += half
            out *= gb

        grad = np.empty_like(x)
        _in_blocks(kernel, x, grad_output, grad)
        return (dropped_as_zeros(grad, ~(x <= -3)),)  # (the kernel's 0 * g below -3)

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        inside = (self.x > -3) & (self.x < 3)
        return (grad_output * where(inside, x / 3 + 0.5, (self.x >= 3).astype(x.dtype)),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Hardsigmoid(Op):
    """y = min(max(x + 3, 0), 6) / 6;  dx = g / 6 for -3 < x < 3, else 0 (0 at +-3, as PyTorch)."""

    saves = (0,)  # read by backward (in-place checks, Op.saves): x, as torch's, not y

    def forward(self, x):
        self.x = x  # the mask -3 < x < 3 is backward's to make: a forward alone needs none
        if x.dtype.kind != "f":
            return np.clip(x + 3, 0, 6) / 6
        three, six = x.dtype.type(3), x.dtype.type(6)

        def kernel(xb, yb):  # in place, in blocks
            np.add(xb, three, out=yb)
            np.clip(yb, 0, six, out=yb)
            yb /= six

        y = np.empty_like(x)
        _in_blocks(kernel, x, y)
        return y

    def _inside(self) -> np.ndarray:
        return (self.x > -3) & (self.x < 3)

    def backward(self, grad_output):
        x, grad_output = self.x, np.asarray(grad_output)
        if grad_output.shape != x.shape or grad_output.dtype.kind != "f":
            inside = self._inside()
            return (dropped_as_zeros(grad_output * inside / 6, inside),)
        three, six = x.dtype.type(3), grad_output.dtype.type(6)
        scratch = np.empty(min(x.size, _BLOCK), bool)

        def kernel(xb, gb, out):
            inside = _scratch(scratch, xb)
            np.greater(xb, -three, out=inside)
            inside &= xb < three
            np.multiply(gb, inside, out=out)
            out /= six

        grad = np.empty_like(grad_output)
        _in_blocks(kernel, x, grad_output, grad)
        return (dropped_as_zeros(grad, self._inside()),)

    def backward_graph(self, grad_output, output):
        return (grad_output * (self._inside() / 6),)  # a constant


@float32_compute  # float16/bfloat16: one rounding of the float32 result
class LogSigmoid(Op):
    """y = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), exact for large |x|;
    dx = g * sigmoid(-x)."""

    saves = (0,)  # backward reads x (and its own buffer), never y (as torch's)

    buffer = None  # float16/bfloat16: exp(-|x|) in x's dtype, torch's saved buffer

    def forward(self, x):
        self.x = x  # (row-major whatever x's strides: torch's log_sigmoid_forward's output)
        return row_major(np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))))

    def forward_low_precision(self, x):
        """float16/bfloat16: the float32 result (rounded once by the caller); backward reads
        exp(-|x|) rounded to x's dtype, as torch's kernel (its buffer)."""
        y = self.forward(x.astype(np.float32))
        self.buffer = np.exp(-np.abs(self.x)).astype(x.dtype).astype(np.float32)
        return y

    def backward(self, grad_output):
        if self.buffer is None:
            return (grad_output * _sigmoid(-self.x),)
        s = self.buffer / (1 + self.buffer)  # sigmoid(-|x|)
        return (grad_output * np.where(self.x < 0, 1 - s, s),)

    def backward_graph(self, grad_output, output):
        return (grad_output * neg(self.inputs[0]).sigmoid(),)


@float32_compute  # float16/bfloat16: one rounding of the float32 result
class GLU(Op):
    """x split in halves a, b along ``axis``: y = a * sigmoid(b);
    da = g * sigmoid(b), db = g * a * sigmoid(b) * (1 - sigmoid(b))."""

    saves = (0,)  # backward reads x's halves, never y (as torch's)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.a, b = np.split(x, 2, axis=self.axis)
        self.s = _sigmoid(b)
        return self.a * self.s

    def forward_low_precision(self, x):
        """float16/bfloat16: the float32 result (rounded once by the caller); backward reads
        sigmoid(b) rounded to x's dtype, as torch's kernel."""
        y = self.forward(x.astype(np.float32))
        self.s = self.s.astype(x.dtype).astype(np.float32)
        return y

    def backward(self, grad_output):
        s = self.s
        a_grad = grad_output * s
        b_grad = a_grad * self.a * (1 - s)
        return (np.concatenate([a_grad, b_grad], axis=self.axis),)

    def backward_graph(self, grad_output, output):
        x = self.inputs[0]
        half = x.shape[self.axis] // 2
        before = (slice(None),) * self.axis
        a, s = x[before + (slice(None, half),)], x[before + (slice(half, None),)].sigmoid()
        a_grad = grad_output * s
        return (concat([a_grad, a_grad * a * (1 - s)], self.axis),)


@follows_inputs
class Threshold(Op):
    """y = value where x <= threshold, else x;  dx = g where x > threshold (0 at the threshold,
    as PyTorch); nan stays nan with its gradient, as PyTorch's."""

    saves = (0,)  # torch's node saves x, not y (in-place checks, Op.saves)

    def __init__(self, threshold, value):
        self.threshold, self.value = threshold, value

    def forward(self, x):
        self.below = x <= self.threshold
        try:
            value = np.asarray(self.value, dtype=x.dtype)
        except OverflowError as error:
            raise _ValueOverflowError(*error.args) from None
        return np.where(self.below, value, x)

    def backward(self, grad_output):
        return (np.where(self.below, 0, grad_output),)

    def backward_graph(self, grad_output, output):  # tied to x, as torch's threshold_backward
        return (slope_grad(grad_output, ~self.below, self.inputs[0],
                           "ThresholdBackwardBackward0"),)


@follows_inputs
@float32_compute  # float16/bfloat16: one rounding of the float32 result
class Tanhshrink(Op):
    """y = x - tanh(x);  dx = g * tanh(x)^2 (no cancellation near 0)."""

    low = None  # float16/bfloat16: x's dtype
    # backward reads tanh(x), kept: x and y may change in place after (torch's composite
    # saves tanh's result); backward_graph recomputes it from x
    saves = ()
    graph_saves = (0,)

    def pack_order(self, inputs):
        """torch's composite packs (saved_tensors_hooks) tanh's result."""
        return ["t"]

    def forward(self, x):
        self.t = np.tanh(x)
        return x - self.t

    def forward_low_precision(self, x):
        """float16/bfloat16 as torch's kernel: tanh rounded to x's dtype, then x - it rounded."""
        wide = x.astype(np.float32)
        self.t = np.tanh(wide).astype(x.dtype).astype(np.float32)
        self.low = x.dtype
        return wide - self.t

    def backward(self, grad_output):
        if self.low is None:
            return (grad_output * self.t * self.t,)
        # torch's composite x - tanh(x): tanh's gradient rounded to x's dtype, then added to g
        tanh_grad = (grad_output * (1 - self.t * self.t)).astype(self.low).astype(np.float32)
        return (grad_output - tanh_grad,)

    def backward_graph(self, grad_output, output):
        t = self.inputs[0].tanh()
        return (grad_output * t * t,)


@follows_inputs
class Shrink(Op):
    """|x| <= lambd gives 0 and no gradient (at +-lambd too, as PyTorch), elsewhere
    softshrink: y = x - sign(x) lambd, hardshrink: y = x; dx = g there."""

    saves = (0,)  # backward reads its mask (x's), never y (as torch's)

    def __init__(self, lambd, soft):
        self.lambd, self.soft = lambd, soft

    def forward(self, x):
        lambd = self.lambd
        # false for nan, which passes as PyTorch's; lambd rounded to x's dtype (float16,
        # bfloat16 too), as torch's hardshrink and both backwards
        self.dead = (x >= -lambd) & (x <= lambd)
        if self.soft:  # x * 0 in between, as PyTorch's (-0.0 at -lambd)
            if is_low_precision(x.dtype):  # torch's kernel: float32 x and lambd, rounded once
                return self._soft(x.astype(np.float32)).astype(x.dtype)
            return self._soft(x)
        return np.where(self.dead, np.zeros((), dtype=x.dtype), x)

    def _soft(self, x):
        lambd = self.lambd
        dead = (x >= -lambd) & (x <= lambd)
        return np.where(dead, x * 0, np.where(x > lambd, x - lambd, x + lambd))

    def backward(self, grad_output):
        return (np.where(self.dead, 0, grad_output),)

    def backward_graph(self, grad_output, output):  # tied to x, as torch's shrink backwards
        kind = "Softshrink" if self.soft else "Hardshrink"
        return (slope_grad(grad_output, ~self.dead, self.inputs[0],
                           f"{kind}BackwardBackward0"),)


@autocast_policy(LOWER)
def prelu(input, weight):
    """x where x > 0, weight * x elsewhere; weight (C,) for the channels on axis 1 of x
    (N, C, *), or one value (shape (1,) or ()) for every element. x and weight are floating
    tensors of one dtype, as torch's (which promotes neither)."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu: expected weight to be a Tensor, got {type(weight).__name__}")
    floating_only("prelu", input)
    x_dtype, w_dtype = as_array(input).dtype, weight.data.dtype
    if x_dtype != w_dtype:
        raise ArgDtypeError(f"prelu: expected input and weight of one dtype (no type promotion, as "
                            f"torch's), got {x_dtype} and {w_dtype}")
    x_shape = np.shape(as_array(input))
    w_shape = np.shape(weight.data)
    if len(w_shape) > 1:
        raise ArgError(f"prelu: expected weight to be a scalar or 1D, got shape {w_shape}")
    count = int(np.prod(w_shape))
    if count != 1:
        channels = x_shape[1] if len(x_shape) >= 2 else 1
        if count != channels:
            raise ArgError(f"prelu: expected one weight or one per channel (axis 1 of "
                           f"{x_shape}: {channels}), got weight of shape {w_shape}")
    return PReLU()(input, weight)


def selu(input, inplace=False):
    """scale * (x if x > 0 else alpha * (exp(x) - 1)), PyTorch's SELU constants; in place with
    ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import selu_

        return selu_(input)
    floating_only("selu", input)
    return ScaledELU(SELU_ALPHA, SELU_SCALE, 1.0)(input)


def celu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x / alpha) - 1); in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import celu_

        return celu_(input, alpha)
    floating_only("celu", input)
    alpha = real_number("celu", "alpha", alpha)
    if alpha == 0:
        raise ArgError("celu: alpha must be nonzero, got 0.0")
    return ScaledELU(alpha, 1.0, 1.0 / alpha, "Celu")(input)


def mish(input, inplace=False):
    """x * tanh(softplus(x)); in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import mish_

        return mish_(input)
    floating_only("mish", input)
    return Mish()(input)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6; in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import hardswish_

        return hardswish_(input)
    floating_only("hardswish", input)
    return Hardswish()(input)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6; in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import hardsigmoid_

        return hardsigmoid_(input)
    floating_only("hardsigmoid", input)
    return Hardsigmoid()(input)


def softsign(input):
    """x / (1 + |x|); an integer x as the default float dtype, as torch's. Composed as torch's
    (DivBackward0, float16/bfloat16 rounded after each step, a NaN gradient at +-inf)."""
    floating_only("softsign", input, "b")
    x = _promotion.floating(input)
    return x / (x.abs() + 1)


def logsigmoid(input):
    """log(sigmoid(x)), without overflow or log(0) at any x."""
    floating_only("logsigmoid", input)
    return LogSigmoid()(input)


def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of x along dim (whose size must be even)."""
    floating_only("glu", input)
    shape = np.shape(as_array(input))
    if len(shape) == 0:
        raise ArgError("glu: expected a tensor with at least one axis, got shape ()")
    axis = check_dim("glu", dim, len(shape))
    if shape[axis] % 2:
        raise ShapeError(f"glu: the halved axis must have an even size, but axis {axis} of "
                         f"{shape} has size {shape[axis]}")
    return GLU(axis)(input)


def _threshold_setting(what, setting):
    """threshold's threshold or value: a real number, nan included (as torch's: a nan value
    fills every x <= threshold with nan; with a nan threshold, x <= threshold is never true and
    every x is kept)."""
    if isinstance(setting, (float, np.floating)) and np.isnan(setting):
        return float(setting)
    return real_number("threshold", what, setting, finite=False)


def threshold(input, threshold, value, inplace=False):  # noqa: A002 - PyTorch's names
    """x where x > threshold, else value; in place with ``inplace=True``."""
    if inplace:
        from dlpy.ops.activation_inplace import threshold_

        return threshold_(input, threshold, value)
    floating_only("threshold", input, "b")
    threshold = _threshold_setting("threshold", threshold)
    value = _threshold_setting("value", value)
    dtype = getattr(getattr(input, "data", None), "dtype", None)
    if dtype is not None and dtype.kind in "iu":  # torch converts both to x's dtype, checked
        from dlpy.ops.mask import _check_fits

        for number in (threshold, value):
            _check_fits("threshold", number, dtype)
    return Threshold(threshold, value)(input)


def tanhshrink(input):
    """x - tanh(x); an integer x as the default float dtype, as torch's."""
    floating_only("tanhshrink", input, "b")
    x = _promotion.floating(input)
    if getattr(getattr(x, "dtype", None), "kind", "f") == "c":
        return x - x.tanh()  # torch's composite, holomorphic
    return Tanhshrink()(x)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 in between; lambd >= 0."""
    floating_only("softshrink", input)
    lambd = real_number("softshrink", "lambd", lambd, finite=False)
    if lambd < 0:
        raise ArgError(f"softshrink: lambd must be >= 0, got {lambd}")
    return Shrink(lambd, soft=True)(input)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, 0 elsewhere (a negative lambd keeps every x, as PyTorch)."""
    floating_only("hardshrink", input)
    return Shrink(real_number("hardshrink", "lambd", lambd, finite=False), soft=False)(input)


def relu6(input, inplace=False):
    """min(max(x, 0), 6), hardtanh(x, 0, 6): no gradient at 0 and 6, as PyTorch; in place with
    ``inplace=True`` (as torch's: ``hardtanh_(x, 0, 6)``); a quantized x: the quantized
    relu6."""
    if getattr(type(input), "_is_quantized_tensor", False):
        from dlpy.ao.nn.quantized.functional import relu6 as quantized_relu6

        return quantized_relu6(input, inplace)
    if inplace:
        from dlpy.ops.activation_inplace import hardtanh_

        return hardtanh_(input, 0.0, 6.0)
    return Clamp(*hardtanh_bounds("relu6", input, 0.0, 6.0), open_bounds=True)(input)


def softmin(x, dim):
    """softmax(-x) along dim (which must be given, as dlpy's softmax module)."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    return softmax(neg(x), dim)


__all__ = ["SELU_ALPHA", "SELU_SCALE", "celu", "glu", "hardshrink", "hardsigmoid", "hardswish",
           "logsigmoid", "mish", "prelu", "relu6", "selu", "softmin", "softshrink", "softsign",
           "tanhshrink", "threshold"]
