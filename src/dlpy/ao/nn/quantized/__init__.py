"""torch.ao.nn.quantized: layers that take and give QTensors and compute with integers.

A quantized Linear / Conv1d-3d / ConvTranspose1d-2d multiplies the zero-point-shifted
integers and accumulates in int32, then requantizes to the output's (scale, zero_point) as
fbgemm does (float32):

    acc[i, j] = sum_k (x[i, k] - x_zp) * (w[j, k] - w_zp[j])                    # exact integers
    y[i, j] = clamp(rint((acc + bias[j] / (x_s * w_s[j])) * (x_s * w_s[j] / y_s)) + y_zp)

The integer products are summed exactly with BLAS (float32 while every partial sum stays below
2^24, as with 7-bit activations and up to 1040 inputs; float64 below 2^53), which gives the
int32 sums bit for bit; ``exact_float = False`` uses numpy's integer matmul instead, for
comparison (benchmarks/quantization.py). Activations, batch norm, pools and Dropout are in
``modules`` (their arithmetic in ``functional``), QFunctional / FloatFunctional here.
"""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.ao.qtensor import (
    QTensor,
    channels_last,
    dequantize_array,
    qint8,
    quantize_array,
    quantize_per_tensor,
    quint8,
)
from dlpy.tensor import Tensor, as_array, no_grad

F32 = np.float32

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BNReLU2d", "BatchNorm2d", "BatchNorm3d", "Conv1d",
           "Conv2d", "Conv3d", "ConvReLU1d", "ConvReLU2d", "ConvReLU3d", "ConvTranspose1d",
           "ConvTranspose2d", "DeQuantize", "Dropout", "ELU", "FloatFunctional", "Hardswish",
           "LeakyReLU", "Linear", "LinearReLU", "MaxPool2d", "QFunctional", "Quantize", "ReLU",
           "ReLU6", "Sigmoid", "dynamic", "functional"]


def int_matmul(a: np.ndarray, b: np.ndarray, exact_float: bool = True) -> np.ndarray:
    """int32 a @ b of integer arrays. ``exact_float``: through BLAS, float32 when every partial
    sum is an integer below 2^24 (K * max|a| * max|b|: 7-bit activations times int8 weights
    up to K = 1040), else float64 (below 2^53), where the sums are exact in any order; else
    numpy's integer matmul (no BLAS)."""
    if exact_float and a.size and b.size:
        bound = int(np.abs(a).max()) * int(np.abs(b).max()) * a.shape[-1]
        if bound < 2 ** 24:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.int32)
        if bound < 2 ** 53:
            return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int32)
    return np.matmul(a.astype(np.int32), b.astype(np.int32))


def _check_qtensor(name: str, x) -> QTensor:
    if not isinstance(x, QTensor):
        raise TypeError(f"{name}: expected a QTensor (quantize the input first: QuantStub / "
                        f"dlpy.quantize_per_tensor), got {type(x).__name__}")
    return x


def requantize(acc: np.ndarray, x: QTensor, weight_scales: np.ndarray, bias, scale: float,
               zero_point: int, relu: bool, channel_shape) -> QTensor:
    """fbgemm's ReQuantizeOutput with a float bias: int32 sums -> quint8 at (scale,
    zero_point); ``relu`` clamps at the zero point."""
    act_times_w = (F32(x.q_scale()) * weight_scales).reshape(channel_shape)
    raw = acc.astype(F32)
    if bias is not None:
        raw = raw + (bias.astype(F32).reshape(channel_shape) / act_times_w)
    multiplier = act_times_w / F32(scale)
    q = np.rint(raw * multiplier) + zero_point
    q = np.clip(q, zero_point if relu else 0, 255)
    return QTensor(q.astype(np.uint8), quint8, scale, zero_point)


def _values(buffer: Tensor | None) -> np.ndarray | None:
    """A buffer's array (None for a missing bias)."""
    return None if buffer is None else buffer.data


class _WeightedQuantized(nn.Module):
    """The integer weight with its per-channel (or per-tensor) scales and zero points, a float
    bias and the output's (scale, zero_point), all as state_dict arrays."""

    relu = False
    exact_float = True  # int_matmul's path: float64 BLAS (exact) or numpy's integer matmul

    def __init__(self, weight_shape, bias: bool, per_channel: bool):
        super().__init__()
        channels = weight_shape[0] if per_channel else 1
        self.register_buffer("packed_weight", np.zeros(weight_shape, np.int8))
        self.register_buffer("weight_scales", np.ones(channels, F32))
        self.register_buffer("weight_zero_points", np.zeros(channels, np.int64))
        self.register_buffer("packed_bias", np.zeros(weight_shape[0], F32) if bias else None)
        # the output's qparams: a Python float and int, as torch's (state_dict: 0-d tensors)
        self.scale, self.zero_point = 1.0, 0
        # a one-channel weight quantized per channel stays so; the bias is given back as it
        # came (a float layer's Parameter: requires_grad), as torch's packed parameters
        self._per_channel_weight, self._bias_requires_grad = False, False

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "scale"] = Tensor(np.array(self.scale, F32))
        destination[prefix + "zero_point"] = Tensor(np.array(self.zero_point, np.int64))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        for name, kind in (("scale", float), ("zero_point", int)):
            key = prefix + name
            if key in state_dict:  # (taken out, as torch's, so that it is not unexpected)
                setattr(self, name, kind(np.asarray(as_array(state_dict.pop(key)))))
            elif strict:
                missing_keys.append(key)
        self._load_torch_layout(state_dict, prefix)
        self._match_weight_scheme(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    def _load_torch_layout(self, state_dict: dict, prefix: str) -> None:
        """A torch state dict's weight and bias (a quantized Linear's
        ``_packed_params._packed_params`` pair with its ``_packed_params.dtype``, a quantized
        convolution's QTensor ``weight`` and float ``bias``) set through ``set_weight_bias``
        and put in ``state_dict`` under this layer's own names, so ``load_state_dict`` takes
        either layout (dlpy's own is plain arrays, for .npz checkpoints)."""
        packed = state_dict.get(prefix + "_packed_params._packed_params")
        if packed is not None:
            if not (isinstance(packed, tuple) and len(packed) == 2):
                raise ValueError(f"{prefix}_packed_params._packed_params: expected the pair "
                                 f"(weight, bias), got {type(packed).__name__}")
            weight, bias = packed
            keys = ("_packed_params._packed_params", "_packed_params.dtype")
        elif isinstance(state_dict.get(prefix + "weight"), QTensor):
            weight, bias = state_dict[prefix + "weight"], state_dict.get(prefix + "bias")
            keys = ("weight", "bias")
        else:
            return
        if not isinstance(weight, QTensor):
            raise TypeError(f"{prefix}weight: expected a quantized tensor (torch's layout), "
                            f"got {type(weight).__name__}")
        if (bias is None) != (self.packed_bias is None):
            raise ValueError(f"{prefix}bias: the state dict has {'no' if bias is None else 'a'} "
                             f"bias, {type(self).__name__} was made with"
                             f"{'' if bias is None else 'out'} one")
        expected = tuple(self.packed_weight.shape)
        if tuple(weight.shape) != expected:
            raise ValueError(f"{prefix}weight: size mismatch, the state dict's is "
                             f"{tuple(weight.shape)}, this layer's {expected}")
        for key in keys:
            state_dict.pop(prefix + key, None)
        self.set_weight_bias(weight, bias)
        for name in ("packed_weight", "weight_scales", "weight_zero_points", "packed_bias"):
            if getattr(self, name) is not None:
                state_dict[prefix + name] = getattr(self, name)

    def _match_weight_scheme(self, state_dict: dict, prefix: str) -> None:
        """A state dict whose weight is quantized per tensor (one scale) loaded into a layer
        made per channel, or the other way: the layer takes the state's scheme (as torch's
        layers take the state's weight whole) instead of refusing the scales' size."""
        scales = state_dict.get(prefix + "weight_scales")
        if scales is None:
            return
        count = int(np.size(as_array(scales)))
        if count != self.weight_scales.numel() and count in (1, self.packed_weight.shape[0]):
            self.weight_scales = np.ones(count, F32)
            self.weight_zero_points = np.zeros(count, np.int64)
            self._per_channel_weight = False  # (a one-channel weight: per tensor)

    def weight(self) -> QTensor:
        """The quantized weight, as torch's ``layer.weight()``."""
        weight, scales = self.packed_weight.data, self.weight_scales.data
        if weight.ndim > 2:  # a convolution's: channels-last, as fbgemm packs it
            weight = channels_last(weight)
        zero_points = self.weight_zero_points.data
        if scales.size == 1 and not getattr(self, "_per_channel_weight", False):
            return QTensor(weight, qint8, scales[0], zero_points[0])
        return QTensor(weight, qint8, scales, zero_points, axis=0)

    def bias(self) -> Tensor | None:
        if self.packed_bias is None:
            return None
        return Tensor(self.packed_bias.data.copy(),
                      requires_grad=getattr(self, "_bias_requires_grad", False))

    def set_weight_bias(self, weight: QTensor, bias) -> None:
        if weight.dtype is not qint8:
            raise TypeError(f"{type(self).__name__}: the weight must be qint8, got "
                            f"{weight.dtype!r}")
        self.packed_weight = np.asarray(weight._int, np.int8, order="C")
        per_channel = weight._axis is not None
        self._per_channel_weight = per_channel
        self._bias_requires_grad = bool(getattr(bias, "requires_grad", False))
        self.weight_scales = np.asarray(weight._scale, F32).reshape(-1)
        self.weight_zero_points = np.asarray(weight._zero_point, np.int64).reshape(-1)
        if per_channel and weight._axis != 0:
            raise ValueError(f"{type(self).__name__}: per-channel weights must be quantized "
                             f"along axis 0, got {weight._axis}")
        if bias is not None:
            self.packed_bias = np.asarray(bias.data if isinstance(bias, Tensor) else bias, F32)

    def _shifted_weight(self) -> np.ndarray:
        shape = (-1,) + (1,) * (self.packed_weight.ndim - 1)
        return self.packed_weight.data.astype(np.int32) - \
            self.weight_zero_points.data.reshape(shape).astype(np.int32)

    @classmethod
    def from_float(cls, module, weight_observer=None):
        """The quantized layer of a float (or QAT) layer that went through ``prepare``: output
        qparams from its activation observer, weight quantized with its weight observer (or a
        QAT layer's fake quantizer)."""
        from dlpy.ao.quantization.quantize import quantize_weight

        activation = getattr(module, "activation_post_process", None)
        if activation is None:
            raise ValueError(f"{cls.__name__}.from_float: the module has no "
                             f"activation_post_process; run quantization.prepare and "
                             f"calibrate first")
        float_layer = module[0] if isinstance(module, nn.Sequential) else module
        if hasattr(float_layer, "folded"):  # a QAT conv + batch norm: fold, then quantize
            float_layer = float_layer.folded()
        weight, observer = quantize_weight(float_layer, weight_observer)
        layer = cls._like(float_layer, per_channel=weight._axis is not None)
        layer.set_weight_bias(weight, float_layer.bias)
        scale, zero_point = activation._qparams()
        layer.scale, layer.zero_point = float(scale[0]), int(zero_point[0])
        return layer

    def extra_repr(self) -> str:
        per = "per_channel" if self.weight_scales.numel() > 1 else "per_tensor"
        return f"{self._shape_repr()}, scale={float(self.scale)}, " \
               f"zero_point={int(self.zero_point)}, qscheme={per}"


class Linear(_WeightedQuantized):
    """x quint8 (..., in_features) -> quint8 (..., out_features), weight qint8 (out, in)."""

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 dtype=qint8, per_channel: bool = True):
        if dtype is not qint8:
            raise TypeError(f"quantized.Linear: only qint8 weights (fbgemm), got {dtype!r}")
        super().__init__((out_features, in_features), bias_, per_channel)
        self.in_features, self.out_features = in_features, out_features

    @classmethod
    def _like(cls, layer, per_channel: bool):
        return cls(layer.in_features, layer.out_features, layer.bias is not None,
                   per_channel=per_channel)

    def _shape_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

    def forward(self, x: QTensor) -> QTensor:
        x = _check_qtensor(type(self).__name__, x)
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"{type(self).__name__}: expected input (..., {self.in_features}), "
                             f"got {x.shape}")
        rows = x._int.reshape(-1, self.in_features).astype(np.int32) - x.q_zero_point()
        acc = int_matmul(rows, self._shifted_weight().T, self.exact_float)
        out = requantize(acc, x, self.weight_scales.data, _values(self.packed_bias),
                         float(self.scale), int(self.zero_point), self.relu, (1, -1))
        return out.reshape(x.shape[:-1] + (self.out_features,))


class LinearReLU(Linear):
    """quantized Linear + ReLU in one requantization (torch.ao.nn.intrinsic.quantized)."""

    relu = True


def _tuple(value, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def _pair(value) -> tuple[int, int]:
    return _tuple(value, 2)


class _ConvNd(_WeightedQuantized):
    """x quint8 (N, C, *spatial) -> quint8 (N, out_channels, *spatial'), weight qint8; stride,
    padding (zeros), dilation and groups as nn.ConvNd. The integer sums come from dlpy's float64
    convolution of the zero-point-shifted integers (exact below 2^53)."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, per_channel: bool = True):
        name = type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"quantized.{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        kernel = _tuple(kernel_size, self.dims)
        super().__init__((out_channels, in_channels // groups, *kernel), bias, per_channel)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = kernel, _tuple(stride, self.dims)
        self.padding, self.dilation = _tuple(padding, self.dims), _tuple(dilation, self.dims)
        for setting in ("kernel_size", "stride", "padding", "dilation"):
            if len(getattr(self, setting)) != self.dims:
                raise ValueError(f"quantized.{name}: {setting} must be an int or "
                                 f"{self.dims} ints, got {getattr(self, setting)}")

    @classmethod
    def _like(cls, layer, per_channel: bool):
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise ValueError(f"quantized.{cls.__name__}: only numeric zero padding, got "
                             f"padding={layer.padding!r}, padding_mode={layer.padding_mode!r}")
        return cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                   layer.padding, layer.dilation, layer.groups, layer.bias is not None,
                   per_channel=per_channel)

    def _shape_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
               f"stride={self.stride}, padding={self.padding}"

    def _sums(self, shifted: np.ndarray) -> np.ndarray:
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[self.dims]
        with no_grad():  # dlpy's conv on float64: every sum is an exact integer below 2^53
            return conv(Tensor(shifted), Tensor(self._shifted_weight().astype(np.float64)),
                        None, self.stride, self.padding, self.dilation, self.groups).data

    def forward(self, x: QTensor) -> QTensor:
        x = _check_qtensor(type(self).__name__, x)
        if x.ndim != self.dims + 2 or x.shape[1] != self.in_channels:
            spatial = ", ".join("DHW"[3 - self.dims:])
            raise ValueError(f"{type(self).__name__}: expected input (N, {self.in_channels}, "
                             f"{spatial}), got {x.shape}")
        shifted = x._int.astype(np.float64) - x.q_zero_point()  # exact small integers
        acc = self._sums(shifted)
        out = requantize(acc.astype(np.int32), x, self.weight_scales.data,
                         _values(self.packed_bias), float(self.scale), int(self.zero_point),
                         self.relu,
                         (1, -1) + (1,) * self.dims)
        out._int = channels_last(out._int)  # fbgemm writes channels-last (NHWC) outputs
        return out


class Conv1d(_ConvNd):
    """Quantized Conv1d: x quint8 (N, C, L) -> quint8 (N, out_channels, L')."""

    dims = 1


class Conv2d(_ConvNd):
    """Quantized Conv2d: x quint8 (N, C, H, W) -> quint8 (N, out_channels, H', W')."""

    dims = 2


class Conv3d(_ConvNd):
    """Quantized Conv3d: x quint8 (N, C, D, H, W) -> quint8 (N, out_channels, D', H', W')."""

    dims = 3


class ConvReLU1d(Conv1d):
    """quantized Conv1d + ReLU in one requantization."""

    relu = True


class ConvReLU2d(Conv2d):
    """quantized Conv2d + ReLU in one requantization."""

    relu = True


class ConvReLU3d(Conv3d):
    """quantized Conv3d + ReLU in one requantization."""

    relu = True


class _ConvTransposeNd(_ConvNd):
    """x quint8 (N, C, *spatial) -> quint8 (N, out_channels, *spatial'), the transpose of
    ConvNd's map (weight qint8 (in_channels, out_channels / groups, *kernel), one scale and
    zero point: torch's fbgemm has no per-channel transposed convolution)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1):
        name = type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"quantized.{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        kernel = _tuple(kernel_size, self.dims)
        _WeightedQuantized.__init__(self, (in_channels, out_channels // groups, *kernel), bias,
                                    per_channel=False)
        self.packed_bias = None if not bias else np.zeros(out_channels, F32)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = kernel, _tuple(stride, self.dims)
        self.padding, self.dilation = _tuple(padding, self.dims), _tuple(dilation, self.dims)
        self.output_padding = _tuple(output_padding, self.dims)

    @classmethod
    def _like(cls, layer, per_channel: bool):
        if per_channel:
            raise ValueError(f"quantized.{cls.__name__}: per-channel weights are not supported "
                             "(as torch's fbgemm); give the layer a qconfig with a per-tensor "
                             "weight observer (default_weight_observer)")
        if layer.padding_mode != "zeros":
            raise ValueError(f"quantized.{cls.__name__}: only zero padding, got padding_mode="
                             f"{layer.padding_mode!r}")
        return cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                   layer.padding, layer.output_padding, layer.groups, layer.bias is not None,
                   layer.dilation)

    def set_weight_bias(self, weight: QTensor, bias) -> None:
        if weight._axis is not None:
            raise ValueError(f"quantized.{type(self).__name__}: per-channel weights are not "
                             "supported (as torch's fbgemm); quantize the weight per tensor")
        super().set_weight_bias(weight, bias)

    def _sums(self, shifted: np.ndarray) -> np.ndarray:
        conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self.dims]
        with no_grad():  # float64: every sum is an exact integer below 2^53
            return conv(Tensor(shifted), Tensor(self._shifted_weight().astype(np.float64)),
                        None, self.stride, self.padding, self.output_padding, self.groups,
                        self.dilation).data


class ConvTranspose1d(_ConvTransposeNd):
    """Quantized ConvTranspose1d: x quint8 (N, C, L) -> quint8 (N, out_channels, L')."""

    dims = 1


class ConvTranspose2d(_ConvTransposeNd):
    """Quantized ConvTranspose2d: x quint8 (N, C, H, W) -> quint8 (N, out_channels, H', W')."""

    dims = 2


class ReLU(nn.Module):
    """ReLU on a QTensor: max(q, zero_point), same qparams (float tensors go through F.relu)."""

    def forward(self, x):
        if isinstance(x, QTensor):
            return x.with_ints(np.maximum(x._int, x.q_zero_point()))
        return F.relu(x)


class Quantize(nn.Module):
    """float Tensor -> QTensor at a fixed (scale, zero_point, dtype) (what QuantStub becomes)."""

    def __init__(self, scale: float, zero_point: int, dtype=quint8):
        super().__init__()
        self.dtype = dtype
        self.register_buffer("scale", np.array([scale], F32))  # shape (1,), as torch's
        self.register_buffer("zero_point", np.array([zero_point], np.int64))

    def forward(self, X) -> QTensor:
        return quantize_per_tensor(X, float(self.scale.data[0]), int(self.zero_point.data[0]),
                                   self.dtype)

    @classmethod
    def from_float(cls, module):
        scale, zero_point = module.activation_post_process._qparams()
        return cls(float(scale[0]), int(zero_point[0]), module.activation_post_process.dtype)

    def extra_repr(self) -> str:
        return f"scale={float(self.scale)}, zero_point={int(self.zero_point)}, " \
               f"dtype={self.dtype!r}"


class DeQuantize(nn.Module):
    """QTensor -> float32 Tensor (what DeQuantStub becomes)."""

    def forward(self, Xq):
        return _check_qtensor("DeQuantize", Xq).dequantize()

    @classmethod
    def from_float(cls, module):
        return cls()


class FloatFunctional(nn.Module):
    """add / cat / mul / add_relu as a module, so that ``prepare``
    can observe their outputs (``activation_post_process``) and ``convert`` make them
    QFunctional."""

    def __init__(self):
        super().__init__()
        self.activation_post_process = nn.Identity()

    def forward(self, x):
        raise RuntimeError("FloatFunctional: call add / cat / mul / add_relu / add_scalar / "
                           "mul_scalar, not forward")

    def add(self, x, y):
        return self.activation_post_process(F.add(x, y))

    def add_relu(self, x, y):
        return self.activation_post_process(F.relu(F.add(x, y)))

    def mul(self, x, y):
        return self.activation_post_process(F.mul(x, y))

    def cat(self, tensors, dim: int = 0):
        return self.activation_post_process(F.cat(list(tensors), dim))

    def add_scalar(self, x, y: float):
        return F.add(x, y)  # not observed: the quantized op picks its own qparams, as torch

    def mul_scalar(self, x, y: float):
        return F.mul(x, y)  # not observed, as torch


class QFunctional(nn.Module):
    """The quantized FloatFunctional: each op dequantizes (float32), computes and requantizes
    to the module's (scale, zero_point), as torch's quantized add/cat/mul."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", np.array(1.0, F32))
        self.register_buffer("zero_point", np.array(0, np.int64))

    def _requantize(self, values: np.ndarray, relu: bool = False) -> QTensor:
        # torch's vectorised quantize: rint(x * float32(1 / scale)) + zero_point
        zero_point = int(self.zero_point)
        q = np.rint(values * (F32(1.0) / self.scale.data.astype(F32))) + zero_point
        q = np.clip(q, zero_point if relu else 0, 255)
        return QTensor(q.astype(np.uint8), quint8, float(self.scale), zero_point)

    @staticmethod
    def _floats(name: str, *tensors, fused: bool = False) -> list[np.ndarray]:
        """Each QTensor's float32 values; ``fused``: as torch's vectorised add computes them,
        q * scale + (-zero_point * scale) in one fused multiply-add (rounded once)."""
        values = []
        for t in tensors:
            t = _check_qtensor(f"QFunctional.{name}", t)
            if not fused:
                values.append(dequantize_array(t._int, *t.qparams()))
                continue
            scale = F32(t.q_scale())
            offset = F32(-t.q_zero_point()) * scale
            # exact in float64 (an 8-bit integer times a float32, plus a float32), then rounded
            values.append((t._int * np.float64(scale) + np.float64(offset)).astype(F32))
        return values

    def add(self, x, y) -> QTensor:
        a, b = self._floats("add", x, y, fused=True)
        return self._requantize(a + b)

    def add_relu(self, x, y) -> QTensor:
        a, b = self._floats("add_relu", x, y, fused=True)
        return self._requantize(a + b, relu=True)

    def mul(self, x, y) -> QTensor:
        a, b = self._floats("mul", x, y)
        return self._requantize(a * b)

    def cat(self, tensors, dim: int = 0) -> QTensor:
        # torch dequantizes, concatenates and quantize_per_tensor's the result (fbgemm's form)
        values = np.concatenate(self._floats("cat", *tensors), axis=dim)
        zero_point = int(self.zero_point)
        q = quantize_array(values, self.scale.data, zero_point, 0, 255)
        return QTensor(q.astype(np.uint8), quint8, float(self.scale), zero_point)

    def add_scalar(self, x, y: float) -> QTensor:
        """x + y with qparams chosen from x's (torch's quantized add_scalar): the integers kept
        at zero point z - rint(y / s) while that is in range, else x + y requantized so that
        the range ends at 0 or 255."""
        x = _check_qtensor("QFunctional.add_scalar", x)
        scale, zero_point = x.q_scale(), x.q_zero_point()
        low, high = x.dtype.qmin, x.dtype.qmax
        shifted = zero_point - int(np.rint(np.float64(y) / scale))
        if low <= shifted <= high:
            return QTensor(x._int.copy(), x.dtype, scale, shifted)
        if shifted < low:
            new_scale, new_zero_point = (high - shifted) / (high - low) * scale, low
        else:
            new_scale, new_zero_point = (shifted - low) / (high - low) * scale, high
        values = dequantize_array(x._int, *x.qparams()) + F32(y)
        # requantized with a division, rint(v / scale) + zero_point (as torch's kernel here)
        q = np.clip(np.rint(values / F32(new_scale)) + new_zero_point, low, high)
        return QTensor(q.astype(x.dtype.storage), x.dtype, new_scale, new_zero_point)

    def mul_scalar(self, x, y: float) -> QTensor:
        """x * y as torch's quantized mul_scalar: the integers kept, scale |y| s (mirrored
        integers and zero point for y < 0; all zeros at scale 1 for y = 0)."""
        x = _check_qtensor("QFunctional.mul_scalar", x)
        scale, zero_point = x.q_scale(), x.q_zero_point()
        low, high = x.dtype.qmin, x.dtype.qmax
        if y == 0:
            return QTensor(np.zeros_like(x._int), x.dtype, 1.0, 0)
        if y > 0:
            return QTensor(x._int.copy(), x.dtype, y * scale, zero_point)
        return QTensor(low + high - x._int.astype(np.int64), x.dtype, -y * scale,
                       low + high - zero_point)

    def forward(self, x):
        raise RuntimeError("QFunctional: call add / cat / mul / add_relu / add_scalar / "
                           "mul_scalar, not forward")

    @classmethod
    def from_float(cls, module):
        scale, zero_point = module.activation_post_process._qparams()
        layer = cls()
        layer.scale, layer.zero_point = np.array(scale[0], F32), np.array(zero_point[0])
        return layer

    def extra_repr(self) -> str:
        return f"scale={float(self.scale)}, zero_point={int(self.zero_point)}"


from dlpy.ao.nn.quantized import dynamic, functional  # noqa: E402
from dlpy.ao.nn.quantized.modules import (  # noqa: E402
    ELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm2d,
    BatchNorm3d,
    BNReLU2d,
    Dropout,
    Hardswish,
    LeakyReLU,
    MaxPool2d,
    ReLU6,
    Sigmoid,
)
