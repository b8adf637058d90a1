"""torch.ao.nn.qat: float layers whose weight is fake-quantized in every forward (straight-
through gradients), so training adapts to int8 weights; ``convert`` turns them into quantized
layers with the weight quantization they trained with."""

from __future__ import annotations

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

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"{type(self).__name__}: expected input (..., {self.in_features}), "
                             f"got {x.shape}")
        out = F.linear(x, self.weight_fake_quant(self.weight), self.bias)
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

    def forward(self, x):
        weight = self.weight_fake_quant(self.weight)
        if self.padding_mode != "zeros":
            x = F.pad(x, self._mode_widths, self.padding_mode)
            out = F.conv2d(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)
        else:
            out = F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation,
                           self.groups)
        return F.relu(out) if self.fused else out


class ConvReLU2d(Conv2d):
    fused = True


__all__ = ["Conv2d", "ConvReLU2d", "Linear", "LinearReLU"]
