"""Softmax and log-softmax over one axis, with the O(N) backward of the report."""

import numpy as np

from dlpy.amp.dtypes import float32_compute
from dlpy.ops import int_of
from dlpy.ops.arithmetic import identity
from dlpy.tensor import Op, Tensor


class _DimError(IndexError, ValueError):
    """An axis out of range: torch's IndexError ("Dimension out of range"), and a ValueError."""


class _DtypeError(TypeError, NotImplementedError):
    """An integer input without dtype=: a TypeError, and torch's NotImplementedError."""


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class Softmax(Op):
    """y = exp(x - max) / sum(exp(x - max));  dx = y * (g - sum(y * g)): O(N), no Jacobian."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = x - x.max(axis=self.axis, keepdims=True)  # shifted: exp cannot overflow
        np.exp(e, out=e)
        e /= e.sum(axis=self.axis, keepdims=True)
        self.y = e
        return e

    def backward(self, grad_output):
        y = self.y
        grad = y * grad_output
        grad -= y * grad.sum(axis=self.axis, keepdims=True)  # y * (g - sum(y * g))
        return (grad,)

    def backward_graph(self, grad_output, output):
        return (output * (grad_output - (output * grad_output).sum(self.axis, keepdims=True)),)


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class LogSoftmax(Op):
    """y = x - logsumexp(x);  dx = g - softmax(x) * sum(g)."""

    contiguous_output = True  # torch's result is contiguous whatever x's strides

    saves = ("output",)  # read by backward (in-place checks, Op.saves)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.y = y
        return y

    def forward_low_precision(self, x):
        """float16/bfloat16: torch's last-axis kernel rounds sum(exp) and its log to x's dtype
        before the float32 subtraction; over another axis it is the float32 forward."""
        wide = x.astype(np.float32)
        if self.axis != x.ndim - 1:
            return self.forward(wide)
        shifted = wide - wide.max(axis=self.axis, keepdims=True)
        total = np.exp(shifted).sum(axis=self.axis, keepdims=True).astype(x.dtype)
        self.y = shifted - np.log(total.astype(np.float32)).astype(x.dtype).astype(np.float32)
        return self.y

    def backward(self, grad_output):
        softmax = np.exp(self.y)
        return (grad_output - softmax * grad_output.sum(axis=self.axis, keepdims=True),)

    def backward_graph(self, grad_output, output):
        return (grad_output - output.exp() * grad_output.sum(self.axis, keepdims=True),)


def _axis(name, x, axis):
    """axis in [0, ndim), or None for a 0-d x (whose axis 0 or -1 torch takes)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    shape = data.shape
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        if int_of(axis) is None:  # (a 0-d integer tensor is taken, as torch's)
            raise TypeError(f"{name}: axis must be an int, got {axis!r}")
        axis = int_of(axis)
    if not -max(len(shape), 1) <= axis < max(len(shape), 1):  # (torch's dim check first)
        raise _DimError(f"{name}: axis {axis} is out of range for shape {shape}")
    if data.dtype.kind in "biu" and data.size:  # (an empty one is returned first, as torch's)
        raise _DtypeError(f"{name}: expected a floating-point input, got {data.dtype} (pass "
                          f"dtype= to cast it first, as torch's)")
    if not shape:
        return None
    return int(axis) % len(shape)


def _over(op, name, x, axis):
    axis = _axis(name, x, axis)
    if axis is None:  # a 0-d x: over its one element; its node torch's (not the reshape's)
        from dlpy.node_names import named

        x = x if isinstance(x, Tensor) else Tensor(x)
        from dlpy.ops.shape import own_reshape

        return named(own_reshape(op(0)(x.reshape(1)), ()), f"{op.__name__}Backward0")
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.shape[axis] == 0 or data.size == 0 and data.dtype.kind in "biuc":
        # empty: as it is, as torch (an integer or complex one too, before its kernel's
        # dtype check)
        from dlpy.node_names import named  # (a copy, under torch's node name)

        return named(x.clone() if isinstance(x, Tensor) else identity(x),
                     f"{op.__name__}Backward0")
    return op(axis)(x)


def softmax(x, axis=-1):
    return _over(Softmax, "softmax", x, axis)


def log_softmax(x, axis=-1):
    return _over(LogSoftmax, "log_softmax", x, axis)
