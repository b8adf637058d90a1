"""Quantized activations, batch norm and pools (torch.ao.nn.quantized's ReLU6, Hardswish, ELU,
LeakyReLU, Sigmoid, BatchNorm2d/3d, Dropout; MaxPool2d, AvgPool2d and AdaptiveAvgPool2d are
dlpy's: torch runs its float pools on quantized tensors, dlpy's ``convert`` swaps them for
these). Each takes and gives QTensors; the arithmetic is in ``functional``."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.ao.nn.quantized import functional as qF
from dlpy.ao.qtensor import QTensor

F32 = np.float32


class _OutputQParams(nn.Module):
    """The output's (scale, zero_point) as buffers, read from the float layer's observer by
    ``from_float``."""

    def __init__(self, scale: float, zero_point: int):
        super().__init__()
        self.register_buffer("scale", np.array(scale, F32))
        self.register_buffer("zero_point", np.array(zero_point, np.int64))

    @classmethod
    def _observed(cls, module) -> tuple[float, int]:
        observer = getattr(module, "activation_post_process", None)
        if observer is None:
            raise ValueError(f"{cls.__name__}.from_float: the module has no "
                             f"activation_post_process; run quantization.prepare and "
                             f"calibrate first")
        scale, zero_point = observer._qparams()
        return float(scale[0]), int(zero_point[0])

    def extra_repr(self) -> str:
        return f"scale={float(self.scale)}, zero_point={int(self.zero_point)}"


class ReLU6(nn.Module):
    """min(max(q, zero_point), q(6)): the input's qparams kept."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return qF.relu6(input) if isinstance(input, QTensor) else F.relu6(input)

    @classmethod
    def from_float(cls, module):
        return cls(getattr(module, "inplace", False))


class Hardswish(_OutputQParams):
    """x * relu6(x + 3) / 6 on the dequantized input, requantized to (scale, zero_point)."""

    def forward(self, input):
        return qF.hardswish(input, float(self.scale), int(self.zero_point))

    @classmethod
    def from_float(cls, module):
        return cls(*cls._observed(module))


class ELU(_OutputQParams):
    """elu(x, alpha) on the dequantized input, requantized to (scale, zero_point)."""

    def __init__(self, scale: float, zero_point: int, alpha: float = 1.0):
        super().__init__(scale, zero_point)
        self.alpha = alpha

    def forward(self, input):
        return qF.elu(input, float(self.scale), int(self.zero_point), self.alpha)

    @classmethod
    def from_float(cls, module):
        return cls(*cls._observed(module), module.alpha)


class LeakyReLU(_OutputQParams):
    """leaky_relu(x, negative_slope) on the dequantized input, requantized."""

    def __init__(self, scale: float, zero_point: int, negative_slope: float = 0.01,
                 inplace: bool = False):
        super().__init__(scale, zero_point)
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return qF.leaky_relu(input, self.negative_slope, scale=float(self.scale),
                            zero_point=int(self.zero_point))

    @classmethod
    def from_float(cls, module):
        return cls(*cls._observed(module), module.negative_slope)


class Sigmoid(_OutputQParams):
    """sigmoid on the dequantized input, requantized to (output_scale, output_zero_point);
    from a float nn.Sigmoid: torch's fixed (1/256, 0), as its quantized sigmoid op."""

    def __init__(self, output_scale: float = 1.0 / 256, output_zero_point: int = 0):
        super().__init__(output_scale, output_zero_point)

    def forward(self, input):
        if not isinstance(input, QTensor):  # a float input (outside the quantized part): as nn
            return F.sigmoid(input)
        return qF.sigmoid(input, float(self.scale), int(self.zero_point))

    @classmethod
    def from_float(cls, module):
        return cls()


class _BatchNorm(_OutputQParams):
    """Quantized batch norm in eval form: the running statistics and affine parameters as
    buffers, y = rint(alpha (q - in_zp) + beta) + zero_point (see functional.batch_norm)."""

    dims = 2
    relu = False

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(1.0, 0)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.register_buffer("weight", np.ones(num_features, F32))
        self.register_buffer("bias", np.zeros(num_features, F32))
        self.register_buffer("running_mean", np.zeros(num_features, F32))
        self.register_buffer("running_var", np.ones(num_features, F32))

    def forward(self, x):
        x = qF.check_qtensor(type(self).__name__, x)
        if x.ndim != self.dims + 2:
            raise ValueError(f"quantized.{type(self).__name__}: expected a {self.dims + 2}-D "
                             f"input (N, {self.num_features}, ...), got {x.shape}")
        return qF.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                             self.eps, float(self.scale), int(self.zero_point), self.relu)

    @classmethod
    def from_float(cls, module):
        scale, zero_point = cls._observed(module)
        module = module[0] if isinstance(module, nn.Sequential) else module  # BNReLU2d
        layer = cls(module.num_features, module.eps, module.momentum)
        if module.weight is not None:
            layer.weight = np.asarray(module.weight.data, F32).copy()
            layer.bias = np.asarray(module.bias.data, F32).copy()
        if module.running_mean is None:
            raise ValueError(f"quantized.{cls.__name__}.from_float: the batch norm tracks no "
                             f"running statistics (track_running_stats=False)")
        layer.running_mean = np.asarray(module.running_mean.data, F32).copy()
        layer.running_var = np.asarray(module.running_var.data, F32).copy()
        layer.scale, layer.zero_point = np.array(scale, F32), np.array(zero_point, np.int64)
        return layer

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, {super().extra_repr()}"


class BatchNorm2d(_BatchNorm):
    """Quantized BatchNorm2d: (N, C, H, W) quint8 -> quint8 at (scale, zero_point)."""

    dims = 2


class BNReLU2d(BatchNorm2d):
    """Quantized BatchNorm2d + ReLU in one requantization."""

    relu = True


class BatchNorm3d(_BatchNorm):
    """Quantized BatchNorm3d: (N, C, D, H, W) quint8 -> quint8 at (scale, zero_point)."""

    dims = 3


class Dropout(nn.Module):
    """Dropout in a quantized model: the identity (quantized models run in eval mode)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return input  # quantized models run in eval mode: the identity, QTensor or not

    @classmethod
    def from_float(cls, module):
        return cls(module.p)


class MaxPool2d(nn.Module):
    """max_pool2d on a QTensor (the integers; qparams kept); a float input goes through
    F.max_pool2d. dlpy's, for ``convert``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, input):
        pool = qF.max_pool2d if isinstance(input, QTensor) else F.max_pool2d
        return pool(input, self.kernel_size, self.stride, self.padding, self.dilation,
                    self.ceil_mode)

    @classmethod
    def from_float(cls, module):
        if module.return_indices:
            raise ValueError("quantized.MaxPool2d: return_indices=True has no quantized form")
        return cls(module.kernel_size, module.stride, module.padding, module.dilation,
                   module.ceil_mode)


class AvgPool2d(nn.Module):
    """avg_pool2d on a QTensor (integer sums requantized to the input's qparams)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        pool = qF.avg_pool2d if isinstance(x, QTensor) else F.avg_pool2d
        return pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                    self.count_include_pad, self.divisor_override)

    @classmethod
    def from_float(cls, module):
        return cls(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                   module.count_include_pad, module.divisor_override)


class AdaptiveAvgPool2d(nn.Module):
    """adaptive_avg_pool2d on a QTensor (integer sums requantized to the input's qparams)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        pool = qF.adaptive_avg_pool2d if isinstance(x, QTensor) else F.adaptive_avg_pool2d
        return pool(x, self.output_size)

    @classmethod
    def from_float(cls, module):
        return cls(module.output_size)


__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BNReLU2d", "BatchNorm2d", "BatchNorm3d", "Dropout",
           "ELU", "Hardswish", "LeakyReLU", "MaxPool2d", "ReLU6", "Sigmoid"]
