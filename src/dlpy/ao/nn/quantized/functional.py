"""torch.ao.nn.quantized.functional: ops on QTensors computed as torch's x86 (fbgemm) CPU kernels.

Elementwise ops dequantize as the vectorised kernels do (one fused multiply-add per value,
``q * scale + (-zero_point * scale)``), compute in float32 and requantize to the output's
(scale, zero_point) with ``rint(y * float32(1 / scale)) + zero_point``. Pooling works on the
integers: max pooling keeps them, average pooling sums them exactly and requantizes with
``zero_point + rint(float32(sum - zero_point * count) * (in_scale / out_scale / divisor))``.
"""

from __future__ import annotations

import numpy as np

from dlpy.ao.qtensor import QTensor, quantize_array, quint8
from dlpy.ops import ArgError
from dlpy.tensor import Tensor, as_array

F32 = np.float32

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "celu", "clamp", "elu",
           "hardsigmoid", "hardswish", "hardtanh", "interpolate", "leaky_relu", "max_pool1d",
           "max_pool2d", "relu6", "sigmoid", "threshold", "upsample", "upsample_bilinear",
           "upsample_nearest"]


class _NotQuantizedError(TypeError, ValueError):
    """A float tensor given to a quantized op: a TypeError, and torch's ValueError (its
    quantized functionals check ``input.is_quantized``)."""


def check_qtensor(name: str, x) -> QTensor:
    if not isinstance(x, QTensor):
        raise _NotQuantizedError(f"{name}: expected a QTensor (quantize the input first: "
                                 f"QuantStub / dlpy.quantize_per_tensor), got "
                                 f"{type(x).__name__}")
    if x._axis is not None:
        raise ValueError(f"{name}: expected a per-tensor quantized input, got one quantized per "
                         f"channel along axis {x._axis}")
    return x


def dequantize_fused(x: QTensor) -> np.ndarray:
    """float32 q * scale + (-zero_point * scale), rounded once, as torch's vectorised dequantize
    (an FMA): exact in float64 (an 8-bit integer times a float32, plus a float32)."""
    scale = F32(x.q_scale())
    offset = F32(-x.q_zero_point()) * scale
    return (x._int * np.float64(scale) + np.float64(offset)).astype(F32)


def quantize_vec(values: np.ndarray, scale: float, zero_point: int, dtype=quint8,
                 low: int | None = None, divide: bool = False) -> QTensor:
    """torch's vectorised quantize: clamp(rint(y * float32(1 / scale)) + zero_point), at least
    ``low`` where given (a fused ReLU); ``divide``: rint(y / scale), as torch's hardswish."""
    values = values.astype(F32)
    scaled = values / F32(scale) if divide else values * (F32(1.0) / F32(scale))
    q = np.rint(scaled) + zero_point
    q = np.clip(q, dtype.qmin if low is None else low, dtype.qmax)
    return QTensor(q.astype(dtype.storage), dtype, scale, zero_point)


def _out_qparams(x: QTensor, scale, zero_point) -> tuple[float, int]:
    return (x.q_scale() if scale is None else float(scale),
            x.q_zero_point() if zero_point is None else int(zero_point))


def relu6(x, inplace: bool = False) -> QTensor:
    """min(max(q, zero_point), q(6)): the integers clamped, the qparams kept."""
    x = check_qtensor("relu6", x)
    six = quantize_array(np.array(6.0, F32), x.q_scale(), x.q_zero_point(), x.dtype.qmin,
                         x.dtype.qmax)
    return x.with_ints(np.clip(x._int, x.q_zero_point(), int(six)).astype(x.dtype.storage))


def hardswish(x, scale: float | None = None, zero_point: int | None = None) -> QTensor:
    """y = x * min(max(x + 3, 0), 6) / 6 on the dequantized values, requantized."""
    x = check_qtensor("hardswish", x)
    v = dequantize_fused(x)
    y = v * np.minimum(np.maximum(v + F32(3), F32(0)), F32(6)) / F32(6)
    return quantize_vec(y, *_out_qparams(x, scale, zero_point), x.dtype, divide=True)


def elu(x, scale: float, zero_point: int, alpha: float = 1.0) -> QTensor:
    """y = x for x > 0, alpha (exp(x) - 1) otherwise, requantized."""
    x = check_qtensor("elu", x)
    v = dequantize_fused(x)
    y = np.where(v > 0, v, (np.exp(v) - F32(1)) * F32(alpha))
    return quantize_vec(y, *_out_qparams(x, scale, zero_point), x.dtype)


def celu(x, scale: float, zero_point: int, alpha: float = 1.0) -> QTensor:
    """y = max(0, x) + min(0, alpha (exp(x / alpha) - 1)), requantized."""
    x = check_qtensor("celu", x)
    v = dequantize_fused(x)
    y = np.where(v > 0, v, (np.exp(v / F32(alpha)) - F32(1)) * F32(alpha))
    return quantize_vec(y, float(scale), int(zero_point), x.dtype)


def clamp(input, min_, max_) -> QTensor:  # noqa: A002 - torch's names
    """The integers clamped to the quantized bounds (rint(bound / scale) + zero_point), the
    qparams kept (torch's quantized clamp)."""
    x = check_qtensor("clamp", input)
    # the bounds quantized with the zero point added before rounding (-1 at scale 2 and zero
    # point 127 is 126, as torch's)
    low, high = (int(quantize_array(np.array(b, F32), x.q_scale(), x.q_zero_point(),
                                    x.dtype.qmin, x.dtype.qmax, fused=True))
                 for b in (min_, max_))
    return x.with_ints(np.minimum(np.maximum(x._int, low), high).astype(x.dtype.storage))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> QTensor:
    """torch's quantized hardtanh: the quantized clamp (in place: into ``input``)."""
    out = clamp(input, min_val, max_val)
    if inplace:
        input._int[...] = out._int
        return input
    return out


def threshold(input, threshold: float, value: float) -> QTensor:  # noqa: A002
    """y = value where x <= threshold, else x, on the dequantized values, requantized to the
    input's qparams."""
    x = check_qtensor("threshold", input)
    # (q - zero_point) * scale exactly: the zero point itself is 0, not the fused form's
    # rounding residue (which exceeds a threshold of 0)
    v = (x._int.astype(np.int64) - x.q_zero_point()).astype(F32) * F32(x.q_scale())
    y = np.where(v <= F32(threshold), F32(value), v)
    # (requantized with the zero point added before rounding: -1 at scale 2 and zero point -1
    # is -2, as torch's)
    q = quantize_array(y, x.q_scale(), x.q_zero_point(), x.dtype.qmin, x.dtype.qmax, fused=True)
    return x.with_ints(q.astype(x.dtype.storage))


def hardsigmoid(input, inplace: bool = False) -> QTensor:  # noqa: A002
    """relu6(x + 3) / 6 requantized to torch's fixed output qparams: scale 1/256 and zero
    point 0 (quint8) or -128 (qint8)."""
    x = check_qtensor("hardsigmoid", input)
    v = dequantize_fused(x)
    y = np.minimum(np.maximum(v + F32(3), F32(0)), F32(6)) / F32(6)
    return quantize_vec(y, 1.0 / 256, -128 if x.dtype.name == "qint8" else 0, x.dtype)


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False,
               scale: float | None = None, zero_point: int | None = None) -> QTensor:
    """y = x for x > 0, negative_slope x otherwise, requantized."""
    x = check_qtensor("leaky_relu", x)
    v = dequantize_fused(x)
    y = np.where(v > 0, v, v * F32(negative_slope))
    return quantize_vec(y, *_out_qparams(x, scale, zero_point), x.dtype)


def sigmoid(x, scale: float = 1.0 / 256, zero_point: int = 0) -> QTensor:
    """1 / (1 + exp(-x)) requantized; torch's fixed output qparams (1/256, 0) by default."""
    x = check_qtensor("sigmoid", x)
    v = dequantize_fused(x)
    y = F32(1) / (F32(1) + np.exp(-v))
    return quantize_vec(y, scale, zero_point, x.dtype)


def batch_norm(x, weight, bias, mean, var, eps: float, scale: float, zero_point: int,
               relu: bool = False) -> QTensor:
    """torch's quantized batch_norm (N, C, ...): per channel alpha = weight / sqrt(var + eps)
    * in_scale / out_scale and beta = (bias - mean * weight / sqrt(var + eps)) / out_scale
    (float32), y = zero_point + rint(alpha (q - in_zero_point) + beta); ``relu`` clamps at
    the zero point (BNReLU2d)."""
    x = check_qtensor("batch_norm", x)
    channels = x.shape[1] if x.ndim > 1 else 0
    arrays = [np.asarray(as_array(a), F32) for a in (weight, bias, mean, var)]
    if any(a.shape != (channels,) for a in arrays):
        raise ValueError(f"batch_norm: expected weight, bias, mean and var of shape "
                         f"({channels},) for an input {x.shape}, got "
                         f"{[tuple(a.shape) for a in arrays]}")
    weight, bias, mean, var = arrays
    inv_sigma = F32(1) / np.sqrt(var + F32(eps))
    alpha = inv_sigma * weight * F32(F32(x.q_scale()) / F32(scale))
    beta = (bias - mean * inv_sigma * weight) / F32(scale)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    shifted = (x._int.astype(np.int32) - x.q_zero_point()).astype(F32)
    y = (shifted.astype(np.float64) * alpha.reshape(shape) + beta.reshape(shape)).astype(F32)
    q = np.clip(np.rint(y) + zero_point, zero_point if relu else x.dtype.qmin, x.dtype.qmax)
    return QTensor(q.astype(x.dtype.storage), x.dtype, scale, zero_point)


def _pair(value, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name}: expected an int or a pair, got {value!r}")
    return tuple(int(v) for v in pair)


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
              ceil_mode: bool) -> int:
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window starts inside
        out -= 1
    return out


def _check_pool_input(name: str, x) -> QTensor:
    x = check_qtensor(name, x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: expected an input (N, C, H, W) or (C, H, W), got {x.shape}")
    return x


def _windows(ints: np.ndarray, kernel, stride, padding, dilation, out, fill) -> np.ndarray:
    """(..., out_h, out_w, k_h, k_w) windows of the (..., H, W) integers padded with ``fill``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if out[0] <= 0 or out[1] <= 0:  # no window (a kernel wider than the input): empty
        return np.zeros(ints.shape[:-2] + (max(out[0], 0), max(out[1], 0), kh, kw), ints.dtype)
    need_h = (out[0] - 1) * sh + dh * (kh - 1) + 1
    need_w = (out[1] - 1) * sw + dw * (kw - 1) + 1
    h, w = ints.shape[-2:]
    widths = [(0, 0)] * (ints.ndim - 2) + [(ph, max(need_h - h - ph, 0)),
                                           (pw, max(need_w - w - pw, 0))]
    padded = np.pad(ints, widths, constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(
        padded, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(-2, -1))
    return view[..., : out[0] * sh : sh, : out[1] * sw : sw, ::dh, ::dw]


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> QTensor:
    """The maxima of the integers over each window (padding never wins); qparams kept. A float
    tensor goes to dlpy.functional.max_pool2d, as torch's."""
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices has no quantized form (as torch)")
    if isinstance(x, Tensor):
        from dlpy import functional as F

        return F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)
    x = _check_pool_input("max_pool2d", x)
    kernel = _pair(kernel_size, "max_pool2d")
    stride = kernel if stride is None or stride == [] else _pair(stride, "max_pool2d")
    padding, dilation = _pair(padding, "max_pool2d"), _pair(dilation, "max_pool2d")
    out = tuple(_out_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                zip(x.shape[-2:], kernel, stride, padding, dilation))
    if min(out) <= 0:  # torch's check (its average pool has none: an empty output)
        sizes = "x".join(str(n) for n in x.shape[-3:])
        raise ArgError(f"Given input size: ({sizes}). Calculated output size: "
                       f"({x.shape[-3]}x{out[0]}x{out[1]}). Output size is too small.")
    windows = _windows(x._int.astype(np.int64), kernel, stride, padding, dilation, out,
                       np.iinfo(np.int64).min)
    return x.with_ints(windows.max(axis=(-2, -1)).astype(x.dtype.storage))


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False) -> QTensor:
    """max_pool2d over (N, C, 1, L) windows of one row."""
    if isinstance(x, Tensor):
        from dlpy import functional as F

        return F.max_pool1d(x, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                            return_indices=return_indices)
    x = check_qtensor("max_pool1d", x)
    if x.ndim not in (2, 3):
        raise ValueError(f"max_pool1d: expected an input (C, L) or (N, C, L), got "
                         f"{tuple(x.shape)}")

    def one(value, name):
        value = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
        if isinstance(value, (tuple, list)):
            raise ValueError(f"max_pool1d: {name} must be one int, got {value!r}")
        return (1, value)

    stride = None if stride is None or stride == [] else one(stride, "stride")
    out = max_pool2d(x.unsqueeze(-2), one(kernel_size, "kernel_size"), stride,
                     (0, one(padding, "padding")[1]), one(dilation, "dilation"), ceil_mode,
                     return_indices)
    return out.squeeze(-2)


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
                align_corners=None) -> QTensor:
    """Resampled integers, the qparams kept: nearest copies them, bilinear interpolates them
    in float32 and rounds half to even (torch's quantized kernels)."""
    from dlpy import functional as F

    x = check_qtensor("interpolate", input)
    if mode not in ("bilinear", "nearest"):  # torch: no quantized kernel
        from dlpy.ops import NoKernelError

        raise NoKernelError(f"Could not run 'aten::upsample_{mode}' with arguments from the "
                            f"'QuantizedCPU' backend")
    ints = Tensor(x._int.astype(F32))
    out = F.interpolate(ints, size, scale_factor, mode, align_corners).data
    q = np.clip(np.rint(out), x.dtype.qmin, x.dtype.qmax)
    return x.with_ints(np.asarray(q, order="C").astype(x.dtype.storage))


def upsample(input, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
             align_corners=None) -> QTensor:
    """interpolate under its older name."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_bilinear(input, size=None, scale_factor=None) -> QTensor:  # noqa: A002
    """Bilinear with align_corners=True, as torch's."""
    return interpolate(input, size, scale_factor, "bilinear", True)


def upsample_nearest(input, size=None, scale_factor=None) -> QTensor:  # noqa: A002
    return interpolate(input, size, scale_factor, "nearest")


def _requantize_sums(x: QTensor, sums: np.ndarray, counts: np.ndarray, divisors: np.ndarray,
                     scale: float, zero_point: int) -> QTensor:
    """rint(zero_point + float32(sum - in_zp * count) * float32(in_scale / out_scale /
    divisor)): torch's quantized average pools add the zero point before rounding (a mean at
    a tie, -1.5 steps, rounds to -1 there, not -2)."""
    multiplier = F32(x.q_scale()) / F32(scale) / divisors.astype(F32)
    shifted = (sums - x.q_zero_point() * counts).astype(F32)
    q = np.clip(np.rint(F32(zero_point) + shifted * multiplier), x.dtype.qmin, x.dtype.qmax)
    return QTensor(q.astype(x.dtype.storage), x.dtype, scale, zero_point)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> QTensor:
    """The integer sums over each window requantized to the input's qparams (torch's quantized
    avg_pool2d, NCHW)."""
    x = _check_pool_input("avg_pool2d", x)
    kernel = _pair(kernel_size, "avg_pool2d")
    stride = kernel if stride is None or stride == [] else _pair(stride, "avg_pool2d")
    padding = _pair(padding, "avg_pool2d")
    if divisor_override is not None and int(divisor_override) <= 0:
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override}")
    out = tuple(_out_size(n, k, s, p, 1, ceil_mode) for n, k, s, p in
                zip(x.shape[-2:], kernel, stride, padding))
    sums = _windows(x._int.astype(np.int64), kernel, stride, padding, (1, 1), out, 0)
    sums = sums.sum(axis=(-2, -1))
    counts, pools = [], []
    for n, o, k, s, p in zip(x.shape[-2:], out, kernel, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        pools.append(end - start)
        counts.append(np.minimum(end, n) - np.maximum(start, 0))
    count = counts[0][:, None] * counts[1][None, :]
    pool = pools[0][:, None] * pools[1][None, :]
    divisor = np.full(count.shape, int(divisor_override)) if divisor_override is not None \
        else pool if count_include_pad else count
    return _requantize_sums(x, sums, count, divisor, x.q_scale(), x.q_zero_point())


def adaptive_avg_pool2d(x, output_size) -> QTensor:
    """The integer sums over torch's adaptive windows (floor(i H / out) to ceil((i + 1) H /
    out)) requantized to the input's qparams."""
    x = _check_pool_input("adaptive_avg_pool2d", x)
    sizes = _pair(output_size, "adaptive_avg_pool2d")
    sizes = tuple(n if s is None else s for s, n in zip(sizes, x.shape[-2:]))
    ints = x._int.astype(np.int64)
    bounds = []
    for n, o in zip(x.shape[-2:], sizes):
        i = np.arange(o)
        bounds.append((i * n // o, -(-(i + 1) * n // o)))
    sums = np.empty(x.shape[:-2] + sizes, np.int64)
    count = np.empty(sizes, np.int64)
    for i, (h0, h1) in enumerate(zip(*bounds[0])):
        for j, (w0, w1) in enumerate(zip(*bounds[1])):
            sums[..., i, j] = ints[..., h0:h1, w0:w1].sum(axis=(-2, -1))
            count[i, j] = (h1 - h0) * (w1 - w0)
    return _requantize_sums(x, sums, count, count, x.q_scale(), x.q_zero_point())
