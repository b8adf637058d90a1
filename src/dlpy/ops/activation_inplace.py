"""The in-place activations of torch.nn.functional (``relu_``, ``elu_``, ``celu_``, ``selu_``,
``leaky_relu_``, ``hardtanh_``, ``rrelu_``, ``threshold_``, ``silu_``, ``mish_``,
``hardswish_``, ``hardsigmoid_``) which the ``inplace=True`` of
their functional forms (``dlpy.ops.activation``) calls.

Each changes its input through ``Tensor._in_place`` and returns it, under PyTorch's rules: a
leaf that requires grad is refused while recording; a tensor an op produced is rebased, so the
gradient still flows through the activation to what came before; views and ``detach()``ed
copies of a tensor no op produced see the change. No op of their own: the same ops as the
out-of-place forms, so the values and gradients are theirs. Those whose torch node saves the
result (elu_, celu_, selu_, leaky_relu_, rrelu_: EluBackward1, ...) take its name, backward
refuses once the result is changed in place again, and elu_/celu_/selu_ take their slope from
the result (float16/bfloat16: the rounded one), leaky_relu_ its mask; a negative alpha or slope
makes their backward refuse, as torch's.
"""

from __future__ import annotations

from dlpy.node_names import rename
from dlpy.ops.activation import elu as _elu
from dlpy.ops.activation import hardtanh_unordered as _hardtanh
from dlpy.ops.activation import leaky_relu as _leaky_relu
from dlpy.ops.activation import relu as _relu
from dlpy.ops.activation import silu as _silu
from dlpy.ops.activation_more import celu as _celu
from dlpy.ops.activation_more import hardsigmoid as _hardsigmoid
from dlpy.ops.activation_more import hardswish as _hardswish
from dlpy.ops.activation_more import mish as _mish
from dlpy.ops.activation_more import selu as _selu
from dlpy.ops.activation_more import threshold as _threshold
from dlpy.tensor import Tensor


def _tensor(name: str, input) -> Tensor:  # noqa: A002 - PyTorch's names
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: expected a Tensor (an in-place op changes it), got "
                        f"{type(input).__name__}")
    return input


def _result_saved(value: Tensor, name: str) -> Tensor:
    """value, computed by an in-place activation, with its node as torch's in-place one: named
    ``name`` and reading its result (a later in-place change of it makes backward refuse), which
    its backward takes the slope from (float16/bfloat16: the rounded one), and refuses for a
    negative alpha or slope, as torch's (the ops' ``result``)."""
    op = value.op
    if op is not None:
        rename(op, name)
        op.saves = ("output",)  # (an instance setting: the class's out-of-place form reads x)
        op.result = value.data
    return value


def _renamed(value: Tensor, name: str) -> Tensor:
    """value with its node named ``name`` (torch's in-place overload that saves the input)."""
    if value.op is not None:
        rename(value.op, name)
    return value


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    """max(x, 0) in place; returns x."""
    return _tensor("relu_", input)._in_place("relu_", _relu)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """F.elu in place; returns x."""
    return _tensor("elu_", input)._in_place(
        "elu_", lambda t: _result_saved(_elu(t, alpha), "EluBackward1"))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """F.celu in place; returns x."""
    return _tensor("celu_", input)._in_place(
        "celu_", lambda t: _result_saved(_celu(t, alpha), "CeluBackward1"))


def selu_(input: Tensor) -> Tensor:  # noqa: A002
    """F.selu in place; returns x."""
    return _tensor("selu_", input)._in_place(
        "selu_", lambda t: _result_saved(_selu(t), "EluBackward1"))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """F.leaky_relu in place; returns x."""
    return _tensor("leaky_relu_", input)._in_place(
        "leaky_relu_",
        lambda t: _result_saved(_leaky_relu(t, negative_slope), "LeakyReluBackward1"))


def silu_(input: Tensor) -> Tensor:  # noqa: A002
    """F.silu in place (torch's ``silu(x, inplace=True)``); returns x."""
    return _tensor("silu_", input)._in_place("silu_", _silu)


def mish_(input: Tensor) -> Tensor:  # noqa: A002
    """F.mish in place (torch's ``mish(x, inplace=True)``); returns x."""
    return _tensor("mish_", input)._in_place("mish_", _mish)


def hardswish_(input: Tensor) -> Tensor:  # noqa: A002
    """F.hardswish in place; returns x."""
    return _tensor("hardswish_", input)._in_place("hardswish_", _hardswish)


def hardsigmoid_(input: Tensor) -> Tensor:  # noqa: A002
    """F.hardsigmoid in place; returns x."""
    return _tensor("hardsigmoid_", input)._in_place("hardsigmoid_", _hardsigmoid)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """F.hardtanh in place; returns x."""
    return _tensor("hardtanh_", input)._in_place(
        "hardtanh_", lambda t: _hardtanh(t, min_val, max_val))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:  # noqa: A002
    """F.threshold in place (x where x > threshold, else value); returns x."""
    return _tensor("threshold_", input)._in_place(
        "threshold_", lambda t: _renamed(_threshold(t, threshold, value), "ThresholdBackward1"))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
           training: bool = False, *, rng=None) -> Tensor:
    """F.rrelu in place (training: one slope ~ U(lower, upper) per element, drawn once);
    returns x."""
    from dlpy.functional import rrelu  # (functional imports this module)

    return _tensor("rrelu_", input)._in_place(
        "rrelu_", lambda t: _result_saved(rrelu(t, lower, upper, training, rng=rng),
                                          "RreluWithNoiseBackward1"))
