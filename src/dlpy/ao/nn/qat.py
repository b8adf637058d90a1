"""torch.ao.nn.qat: float layers whose weight is fake-quantized in every forward (straight-
through gradients), so training adapts to int8 weights; ``convert`` turns them into quantized
layers with the weight quantization they trained with."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.ao.nn import intrinsic


def _check_qconfig(name: str, qconfig) -> None:
    if qconfig is None:
        raise ValueError(f"{name}: a qconfig is required (get_default_qat_qconfig())")


class _QATMixin:
    """weight_fake_quant from qconfig.weight(); from_float shares the float layer's
    parameters."""

    float_type: type = nn.Module
    fused = False

    def _setup(self, qconfig) -> None:
        _check_qconfig(type(self).__name__, qconfig)
        self.qconfig = qconfig
        self.weight_fake_quant = qconfig.weight()

    @classmethod
    def from_float(cls, module):
        layer_type = intrinsic.LinearReLU if cls.fused and cls.float_type is nn.Linear else \
            intrinsic.ConvReLU2d if cls.fused else cls.float_type
        if type(module) is not layer_type:
            raise TypeError(f"{cls.__name__}.from_float: expected {layer_type.__name__}, got "
                            f"{type(module).__name__}")
        qconfig = getattr(module, "qconfig", None)
        float_layer = module[0] if cls.fused else module
        layer = cls._like(float_layer, qconfig)
        layer.weight, layer.bias = float_layer.weight, float_layer.bias
        return layer


class Linear(_QATMixin, nn.Linear):
    """nn.Linear with ``weight_fake_quant`` applied to the weight in forward."""

    float_type = nn.Linear

    def __init__(self, in_features: int, out_features: int, bias: bool = True, qconfig=None,
                 rng=None, dtype=None):
        super().__init__(in_features, out_features, bias, rng=rng, dtype=dtype)
        self._setup(qconfig)

    @classmethod
    def _like(cls, layer, qconfig):
        return cls(layer.in_features, layer.out_features, layer.bias is not None, qconfig)

    def forward(self, input):
        if input.shape[-1:] != (self.in_features,):
            raise ValueError(f"{type(self).__name__}: expected input (..., {self.in_features}), "
                             f"got {input.shape}")
        out = F.linear(input, self.weight_fake_quant(self.weight), self.bias)
        return F.relu(out) if self.fused else out


class LinearReLU(Linear):
    fused = True


class Conv2d(_QATMixin, nn.Conv2d):
    """nn.Conv2d with ``weight_fake_quant`` applied to the weight in forward."""

    float_type = nn.Conv2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 qconfig=None, rng=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, rng=rng, dtype=dtype)
        self._setup(qconfig)

    @classmethod
    def _like(cls, layer, qconfig):
        return cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                   layer.padding, layer.dilation, layer.groups, layer.bias is not None,
                   layer.padding_mode, qconfig)

    def forward(self, input):
        weight = self.weight_fake_quant(self.weight)
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, self.padding_mode)
            out = F.conv2d(input, weight, self.bias, self.stride, 0, self.dilation, self.groups)
        else:
            out = F.conv2d(input, weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)
        return F.relu(out) if self.fused else out


class ConvReLU2d(Conv2d):
    fused = True


class ConvBn2d(Conv2d):
    """Conv2d + BatchNorm2d trained with the batch norm folded into the fake-quantized weight
    (torch's nniqat.ConvBn2d, its approximate forward):

        s = bn.weight / sqrt(bn.running_var + eps)
        y = bn(conv(x, fake_quant(w * s), 0) / s + b)

    so the weights trained are the ones ``convert`` folds with the running statistics
    (``folded``) and quantizes."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = False, padding_mode: str = "zeros",
                 eps: float = 1e-5, momentum: float = 0.1, qconfig=None, rng=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, qconfig=qconfig, rng=rng, dtype=dtype)
        self.bn = nn.BatchNorm2d(out_channels, eps, momentum)

    @classmethod
    def from_float(cls, module):
        expected = intrinsic.ConvBnReLU2d if cls.fused else intrinsic.ConvBn2d
        if type(module) is not expected:
            raise TypeError(f"{cls.__name__}.from_float: expected {expected.__name__}, got "
                            f"{type(module).__name__}")
        conv, bn = module[0], module[1]
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, conv.dilation, conv.groups, conv.bias is not None,
                    conv.padding_mode, bn.eps, bn.momentum, getattr(module, "qconfig", None))
        layer.weight, layer.bias = conv.weight, conv.bias
        layer.bn = bn
        return layer

    def forward(self, x):
        bn = self.bn
        channels = (-1,) + (1,) * (self.weight.ndim - 1)
        running_std = np.sqrt(bn.running_var.data + np.float32(bn.eps))
        gamma = bn.weight if bn.weight is not None else np.ones_like(running_std)
        scale_factor = gamma / running_std  # (out_channels,)
        weight = self.weight_fake_quant(self.weight * scale_factor.reshape(channels))
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, self.padding_mode)
            out = F.conv2d(x, weight, None, self.stride, 0, self.dilation, self.groups)
        else:
            out = F.conv2d(x, weight, None, self.stride, self.padding, self.dilation,
                           self.groups)
        out = out / scale_factor.reshape((1, -1, 1, 1))
        if self.bias is not None:
            out = out + self.bias.reshape((1, -1, 1, 1))
        out = bn(out)
        return F.relu(out) if self.fused else out

    def folded(self) -> Conv2d:
        """A QAT Conv2d with the batch norm folded in with its running statistics, sharing
        weight_fake_quant: what ``convert`` quantizes."""
        bn = self.bn
        layer = Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                       self.padding, self.dilation, self.groups, True, self.padding_mode,
                       self.qconfig)
        layer.weight, layer.bias = nn.utils.fuse_conv_bn_weights(
            self.weight, self.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight,
            bn.bias)
        layer.weight_fake_quant = self.weight_fake_quant
        return layer


class ConvBnReLU2d(ConvBn2d):
    fused = True


__all__ = ["Conv2d", "ConvBn2d", "ConvBnReLU2d", "ConvReLU2d", "Linear", "LinearReLU"]
