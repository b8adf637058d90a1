"""Folding an eval-mode BatchNorm into the convolution or linear layer before it, as
torch.nn.utils.fusion: y = bn(conv(x)) becomes one conv with

    w' = w * gamma / sqrt(running_var + eps)          (per output channel)
    b' = (b - running_mean) * gamma / sqrt(running_var + eps) + beta
"""

from __future__ import annotations

import copy

import numpy as np

from dlpy.nn.module import Module, Parameter
from dlpy.tensor import as_array

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]


def _bn_arrays(name, bn_rm, bn_rv, bn_w, bn_b):
    """running_mean, running_var, weight (ones when None) and bias (zeros when None)."""
    if bn_rm is None or bn_rv is None:
        raise ValueError(f"{name}: the BatchNorm must track running statistics "
                         "(track_running_stats=True)")
    mean, var = as_array(bn_rm), as_array(bn_rv)
    weight = np.ones_like(mean) if bn_w is None else as_array(bn_w)
    bias = np.zeros_like(mean) if bn_b is None else as_array(bn_b)
    return mean, var, weight, bias


def _requires_grad(value) -> bool:
    return bool(getattr(value, "requires_grad", False))


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """(weight, bias) Parameters of the convolution with the BatchNorm folded in, in the conv's
    dtypes; ``transpose``: conv_w is a transposed convolution's (in, out / groups, ...). A
    missing conv bias counts as zeros (and its Parameter then does not require grad, as
    PyTorch's)."""
    mean, var, gamma, beta = _bn_arrays("fuse_conv_bn_weights", bn_rm, bn_rv, bn_w, bn_b)
    weight = as_array(conv_w)
    bias = np.zeros_like(mean) if conv_b is None else as_array(conv_b)
    bias_dtype = weight.dtype if conv_b is None else bias.dtype
    rsqrt = 1 / np.sqrt(var + np.asarray(bn_eps, var.dtype))
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (weight.ndim - 2)
    fused_w = (weight * (gamma * rsqrt).reshape(shape)).astype(weight.dtype)
    fused_b = ((bias - mean) * rsqrt * gamma + beta).astype(bias_dtype)
    return (Parameter(fused_w, _requires_grad(conv_w)),
            Parameter(fused_b, _requires_grad(conv_b)))


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w,
                           bn_b) -> tuple[Parameter, Parameter]:
    """(weight, bias) Parameters of the linear layer with the BatchNorm1d folded in, in the
    layer's dtypes (a missing bias counts as zeros)."""
    mean, var, gamma, beta = _bn_arrays("fuse_linear_bn_weights", bn_rm, bn_rv, bn_w, bn_b)
    weight = as_array(linear_w)
    bias = np.zeros_like(mean) if linear_b is None else as_array(linear_b)
    bias_dtype = weight.dtype if linear_b is None else bias.dtype
    scale = gamma * (1 / np.sqrt(var + np.asarray(bn_eps, var.dtype)))
    fused_w = weight * scale[:, None].astype(weight.dtype)
    fused_b = ((bias - mean) * scale + beta).astype(bias_dtype)
    return (Parameter(fused_w, _requires_grad(linear_w)),
            Parameter(fused_b, _requires_grad(linear_b)))


def _check_eval(name: str, layer: Module, bn: Module) -> None:
    if layer.training or bn.training:
        raise ValueError(f"{name}: fusion only for eval (call .eval() on both modules first)")


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A copy of ``conv`` (eval mode) computing bn(conv(x)) for the eval-mode ``bn``."""
    _check_eval("fuse_conv_bn_eval", conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose)
    return fused


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A copy of ``linear`` (eval mode) computing bn(linear(x)) for the eval-mode BatchNorm1d
    ``bn`` (its num_features linear.out_features or 1)."""
    _check_eval("fuse_linear_bn_eval", linear, bn)
    if bn.num_features not in (linear.out_features, 1):
        raise ValueError(f"fuse_linear_bn_eval: expected bn.num_features == "
                         f"linear.out_features ({linear.out_features}) or 1, got "
                         f"{bn.num_features}")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    return fused
