"""torch.nn.grad: the input and weight gradients of conv1d / conv2d / conv3d given the gradient
of their output, for autograd Functions that run a convolution themselves. The input gradient
is the transposed convolution of grad_output (with the output_padding that gives input_size
back); the weight gradient is the convolution of the input by grad_output (ops/conv.py)."""

from __future__ import annotations

from dlpy.ops import conv as _conv
from dlpy.ops.conv import ConvError
from dlpy.tensor import Tensor

_TRANSPOSE = {1: _conv.conv_transpose1d, 2: _conv.conv_transpose2d, 3: _conv.conv_transpose3d}


def _settings(nd: int, name: str, stride, padding, dilation, groups):
    stride = _conv._ntuple(stride, nd, f"{name}: stride", True)
    padding = _conv._ntuple(padding, nd, f"{name}: padding", True)
    dilation = _conv._dilation(dilation, name, nd, True, ConvError)
    return stride, padding, dilation, _conv._groups(groups, name, ConvError)


def _check_output(name: str, x_shape, w_shape, grad_output, stride, padding, dilation,
                  groups: int, nd: int) -> None:
    """grad_output must have the shape conv(x, w) has."""
    _conv._check_conv_shapes(name, x_shape, w_shape, groups, nd)
    out = _conv._output_size(name, x_shape[2:], w_shape[2:], stride, padding, dilation)
    expected = (x_shape[0], w_shape[0], *out)
    if tuple(grad_output.shape) != expected:
        raise ConvError(f"{name}: expected grad_output of shape {expected} for input "
                        f"{x_shape} and weight {w_shape}, got {tuple(grad_output.shape)}")


def _input_grad(nd: int, input_size, weight: Tensor, grad_output: Tensor, stride, padding,
                dilation, groups) -> Tensor:
    name = f"conv{nd}d_input"
    stride, padding, dilation, groups = _settings(nd, name, stride, padding, dilation, groups)
    x_shape = tuple(int(n) for n in input_size)
    _check_output(name, x_shape, tuple(weight.shape), grad_output, stride, padding, dilation,
                  groups, nd)
    base = _conv._transpose_output_size(name, grad_output.shape[2:], weight.shape[2:], stride,
                                        padding, (0,) * nd, dilation)
    output_padding = tuple(n - b for n, b in zip(x_shape[2:], base))  # below the stride
    return _TRANSPOSE[nd](grad_output, weight, None, stride, padding, output_padding, groups,
                          dilation)


def _weight_grad(nd: int, input: Tensor, weight_size, grad_output: Tensor, stride,  # noqa: A002
                 padding, dilation, groups) -> Tensor:
    name = f"conv{nd}d_weight"
    stride, padding, dilation, groups = _settings(nd, name, stride, padding, dilation, groups)
    w_shape = tuple(int(n) for n in weight_size)
    _check_output(name, tuple(input.shape), w_shape, grad_output, stride, padding, dilation,
                  groups, nd)
    return _conv._conv_weight_grad(input, grad_output, w_shape[2:], stride, padding, dilation,
                                   groups)


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv1d's input (of shape input_size, (N, C, L)) given grad_output."""
    return _input_grad(1, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1,  # noqa: A002
                  groups=1):
    """The gradient of conv1d's weight (of shape weight_size, (O, C / groups, k))."""
    return _weight_grad(1, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv2d's input (of shape input_size, (N, C, H, W)) given grad_output."""
    return _input_grad(2, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1,  # noqa: A002
                  groups=1):
    """The gradient of conv2d's weight (of shape weight_size, (O, C / groups, kh, kw))."""
    return _weight_grad(2, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of conv3d's input (of shape input_size, (N, C, D, H, W)) given
    grad_output."""
    return _input_grad(3, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1,  # noqa: A002
                  groups=1):
    """The gradient of conv3d's weight (of shape weight_size, (O, C / groups, kd, kh, kw))."""
    return _weight_grad(3, input, weight_size, grad_output, stride, padding, dilation, groups)
