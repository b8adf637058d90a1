"""Fake quantization: quantize then dequantize in the forward pass, so training sees the int8
rounding, with the straight-through estimator in backward (torch's kernels):

    q = rint(zero_point + x * float32(1 / scale));  y = (clamp(q, qmin, qmax) - zero_point) * scale
    dy/dx = 1 where qmin <= q <= qmax, else 0

``_fake_quantize_learnable_per_tensor_affine`` (LSQ, Esser et al. 2020) also learns scale and
zero point: inside the range dy/dscale = (y - x) / scale, dy/dzero_point = 0; below (above) it
dy/dscale = qmin - zero_point (qmax - zero_point), dy/dzero_point = -scale; both times
``grad_factor``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlpy.amp.dtypes import _torch_name
from dlpy.amp.state import FP32, autocast_policy
from dlpy.ao.qtensor import (
    _array,
    _check_number,
    check_scale,
    choose_qparams,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    quint8,
)
from dlpy.ao.quantization.observer import (
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    _PartialWrapper,
    _resize_from_state,
    _store,
)
from dlpy.nn.module import Module
from dlpy.ops import ArgAssertionError, ArgDtypeError, ArgError, ArgIndexError, NoKernelError
from dlpy.return_types import structseq_repr
from dlpy.tensor import Op, Tensor, is_grad_enabled

F32 = np.float32


class RangeAssertionError(ArgError, AssertionError):
    """FakeQuantize's quant_min > quant_max: dlpy's ArgError (ValueError, RuntimeError), torch's
    assert."""


def _check_range(name: str, quant_min: int, quant_max: int) -> None:
    if quant_min > quant_max:
        raise ArgError(f"{name}: expected quant_min <= quant_max, got [{quant_min}, "
                       f"{quant_max}]")


def _check_float(name: str, x) -> None:
    dtype = np.dtype(x.dtype)
    if dtype.kind != "f" and dtype.name != "bfloat16":
        raise NoKernelError(f"{name}: expected a floating-point input, got {dtype}")


def _check_arguments(name: str, x, quant_min, quant_max) -> None:
    """torch's argument parser: a Tensor input, int bounds (TypeError)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    for label, value in (("quant_min", quant_min), ("quant_max", quant_max)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name}(): argument '{label}' must be int, not "
                            f"{type(value).__name__}")


def _check_no_grad(name: str, *qparams) -> None:
    """torch's kernels are not differentiable in scale / zero_point (the LSQ function is)."""
    if is_grad_enabled() and any(isinstance(v, Tensor) and v.requires_grad for v in qparams):
        raise ArgError(f"The function '{name}' is not differentiable with respect to argument "
                       f"'scale' or 'zero_point'. This input cannot have requires_grad True.")


def _check_qparam_dtypes(scale, zero_point) -> None:
    """torch's per-channel kernel: Tensor scales float32 / bfloat16, zero points int32 /
    float32 / float16."""
    for value, allowed, what, names in (
            (scale, ("float32", "bfloat16"), "Scale", "Float or BFloat16"),
            (zero_point, ("int32", "float32", "float16"), "Zero-point", "Int32, Float or Half")):
        if isinstance(value, Tensor) and np.dtype(value.dtype).name not in allowed:
            raise RuntimeError(f"{what} must be {names}, found "
                               f"{_torch_name(np.dtype(value.dtype))}")


def _check_zero_point(name: str, zero_point, quant_min: int, quant_max: int) -> None:
    if np.any(zero_point < quant_min) or np.any(zero_point > quant_max):
        raise ArgError(f"{name}: zero_point must be in [{quant_min}, {quant_max}], got "
                       f"{np.asarray(zero_point).tolist()}")


def _clamped(q: np.ndarray, quant_min: int, quant_max: int, per_tensor: bool) -> np.ndarray:
    """q clamped to [quant_min, quant_max] as torch's kernels do it: the per-tensor one in
    float (a nan goes to quant_min, +-inf to the ends), the per-channel ones after a cast to
    int64 (x86: nan, inf and values past int64 become its minimum, so quant_min)."""
    if per_tensor:
        return np.fmin(np.fmax(q, quant_min), quant_max)
    with np.errstate(invalid="ignore"):
        return np.clip(np.where(np.abs(q) < 2.0 ** 63, q, quant_min), quant_min, quant_max)


def fake_quantize_array(x: np.ndarray, scale, zero_point, quant_min: int, quant_max: int,
                        float32_out: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask): torch's fake-quantize arithmetic (x's precision for x / scale; y rounded to
    float32 even for a float64 x in the per-tensor kernel, x's precision in the per-channel
    one) and where q fell inside [quant_min, quant_max]."""
    scale = np.asarray(scale, F32)
    if np.asarray(zero_point).dtype.kind == "f":  # torch's float zero point: inside the rint,
        # in x's precision (float32 for a float32 / half x)
        work = np.float64 if x.dtype == np.float64 else F32
        zero_point = np.asarray(zero_point, F32).astype(work)
        # (lrintf: the sum rounded to float32 first, a float64 x's too)
        q = np.rint((x.astype(work, copy=False) * (F32(1.0) / scale).astype(work) +
                     zero_point).astype(F32)).astype(np.float64)
        mask = (q >= quant_min) & (q <= quant_max)
        # (q - zero_point) * scale in double, as torch's (lrintf's long and the float zero
        # point meet in double: qmax 2 ** 31 - 1 less zero point 2 ** 31 is -1, not 0)
        y = (_clamped(q, quant_min, quant_max, False) -
             zero_point.astype(np.float64)) * scale.astype(np.float64)
        return y.astype(x.dtype), mask
    else:  # the zero point added in x's precision (float32 for a float32 / half x: a large
        # one loses its last bits there, as in torch's kernels)
        work = np.float64 if x.dtype == np.float64 else F32
        q = np.rint(x * (F32(1.0) / scale)).astype(work) + np.asarray(zero_point).astype(work)
    mask = (q >= quant_min) & (q <= quant_max)
    # (q - zero_point exactly, as torch's int64 arithmetic)
    shifted = _clamped(q, quant_min, quant_max, float32_out).astype(np.float64) - \
        np.asarray(zero_point, np.int64)
    y = shifted.astype(F32) * scale if float32_out else shifted * scale.astype(np.float64)
    return y.astype(x.dtype, copy=False), mask


class FakeQuantizePerTensor(Op):
    """y = fake_quant(x) with one (scale, zero_point); dy/dx = 1 inside the range, else 0."""

    saves = ()
    float32_out = True
    forward_ad_unsupported = "fake_quantize_per_tensor_affine_cachemask"  # (torch's refusal)

    def __init__(self, scale: float, zero_point: int, quant_min: int, quant_max: int):
        self.scale, self.zero_point = scale, zero_point
        self.quant_min, self.quant_max = quant_min, quant_max

    def forward(self, x):
        y, self.mask = fake_quantize_array(x, self.scale, self.zero_point, self.quant_min,
                                           self.quant_max, self.float32_out)
        return y

    def backward(self, grad_output):
        return (grad_output * self.mask,)

    def backward_graph(self, grad_output, output):
        # torch's fake_quantize_*_cachemask_backward: grad * mask, recorded
        return (grad_output * Tensor(self.mask),)


class FakeQuantizePerChannel(FakeQuantizePerTensor):
    """fake_quant with scales[c], zero_points[c] along ``axis``; the same straight-through
    gradient."""

    float32_out = False
    forward_ad_unsupported = "fake_quantize_per_channel_affine_cachemask"  # (torch's refusal)

    def __init__(self, scales, zero_points, axis: int, quant_min: int, quant_max: int,
                 ndim: int):
        shape = [1] * ndim
        shape[axis] = -1
        super().__init__(scales.reshape(shape), zero_points.reshape(shape), quant_min,
                         quant_max)


@autocast_policy(FP32)
def fake_quantize_per_tensor_affine(x: Tensor, scale, zero_point, quant_min: int,
                                    quant_max: int) -> Tensor:
    """torch.fake_quantize_per_tensor_affine (scale/zero_point numbers or one-element tensors)."""
    name = "fake_quantize_per_tensor_affine"
    _check_arguments(name, x, quant_min, quant_max)
    _check_number(name, "scale", scale, (float, int))
    # torch's overloads: (float, int) numbers, or Tensors (a number beside a Tensor is wrapped)
    _check_number(name, "zero_point", zero_point,
                  (int, float) if isinstance(scale, Tensor) else (int,))
    _check_no_grad(name, scale, zero_point)
    _check_range(name, quant_min, quant_max)
    tensor_qparams = isinstance(scale, Tensor)
    scale = check_scale(name, scale).reshape(-1)
    zero_point = np.asarray(_array(zero_point)).reshape(-1)
    if scale.size != 1 or zero_point.size != 1:
        raise ArgError(f"{name}: expected one scale and zero point, got {scale.size} and "
                         f"{zero_point.size}")
    zero_point = int(zero_point[0])
    if not tensor_qparams:  # (torch's overload of Tensor qparams does not check)
        _check_zero_point(name, zero_point, quant_min, quant_max)
    _check_float(name, x)
    return FakeQuantizePerTensor(scale[0], zero_point, quant_min, quant_max)(x)


def fake_quantize_per_channel_affine(x: Tensor, scale, zero_point, axis: int, quant_min: int,
                                     quant_max: int) -> Tensor:
    """torch.fake_quantize_per_channel_affine: channel c of ``axis`` uses scale[c],
    zero_point[c]."""
    name = "fake_quantize_per_channel_affine"
    _check_arguments(name, x, quant_min, quant_max)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{name}(): argument 'axis' must be int, not {type(axis).__name__}")
    _check_qparam_dtypes(scale, zero_point)  # (torch's first check)
    for label, value in (("scale", scale), ("zero_point", zero_point)):
        if isinstance(value, (int, float, np.number)):  # torch: Tensors (dlpy: sequences too)
            raise TypeError(f"{name}(): argument '{label}' must be Tensor, not "
                            f"{type(value).__name__}")
        if np.ndim(_array(value)) != 1:
            raise ArgError(f"{name}: {label.replace('_', ' ')} should be a 1-D tensor")
    if np.size(_array(zero_point)) == 0:  # torch: its range check takes zero_point.min()
        raise ArgError(f"{name}: zero_point is empty (no channel)")
    _check_no_grad(name, scale, zero_point)
    _check_range(name, quant_min, quant_max)
    ndim = len(x.shape)
    if not 0 <= axis < ndim:  # torch: no negative axis
        # torch: a negative axis is a RuntimeError, one past the last an IndexError
        raise (ArgIndexError if axis >= ndim else ArgError)(
            f"{name}: axis must be in [0, {ndim - 1}] for an input of shape "
            f"{tuple(x.shape)}, got {axis}")
    _check_float(name, x)
    scale = check_scale(name, scale).reshape(-1)
    float_zero_point = isinstance(zero_point, Tensor) and np.dtype(zero_point.dtype).kind == "f"
    zero_point = np.asarray(_array(zero_point)).reshape(-1)
    zero_point = zero_point.astype(F32) if float_zero_point else (
        np.rint(zero_point).astype(np.int64))
    if scale.size != x.shape[axis] or zero_point.size != x.shape[axis]:
        raise ArgError(f"{name}: expected {x.shape[axis]} scales and zero points (axis "
                       f"{axis} of {tuple(x.shape)}), got {scale.size} and {zero_point.size}")
    if not float_zero_point:  # torch checks the range of integer zero points only
        _check_zero_point(name, zero_point, quant_min, quant_max)
    return FakeQuantizePerChannel(scale, zero_point, axis, quant_min, quant_max, ndim)(x)


class FakeQuantizeLearnable(Op):
    """LSQ: y = fake_quant(x; scale, round(zero_point)) with gradients for x, scale and
    zero_point (one-element tensors), torch's _fake_quantize_learnable_per_tensor_affine."""

    saves = (0, 1, 2)
    forward_ad_unsupported = "_fake_quantize_learnable_per_tensor_affine"  # (torch's refusal)

    def __init__(self, quant_min: int, quant_max: int, grad_factor: float):
        self.quant_min, self.quant_max, self.grad_factor = quant_min, quant_max, grad_factor

    def _zero_point(self, zero_point: np.ndarray, forward: bool) -> int:
        # forward rounds half to even, backward adds 0.5 and truncates (torch's two forms)
        value = F32(zero_point.reshape(-1)[0])
        value = np.rint(value) if forward else value + F32(0.5)
        return int(np.clip(value, self.quant_min, self.quant_max))

    def forward(self, x, scale, zero_point):
        self.x, self.scale, self.zero_point = x, scale, zero_point
        y, _ = fake_quantize_array(x, F32(scale.reshape(-1)[0]),
                                   self._zero_point(zero_point, True), self.quant_min,
                                   self.quant_max)
        return y

    def backward(self, grad_output):
        if self.x.dtype in (np.float64, np.float16):  # torch's backward kernel: float32 only
            raise ArgDtypeError("Expected dY_.scalar_type() == ScalarType::Float to be true, "
                                "but got false.")
        if not self.quant_min <= 0 <= self.quant_max:  # (torch's backward checks it only)
            raise ArgError("`quant_min` should be less than or equal to `quant_max`, and the "
                           "quantization range should include 0.")
        x, scale = self.x, F32(self.scale.reshape(-1)[0])
        zero_point = self._zero_point(self.zero_point, False)
        # the zero point added before rounding here (the forward adds it after): at a tie
        # the two differ, torch's backward kernel is this one
        q = np.rint(F32(zero_point) + x * (F32(1.0) / scale))
        below, above = q < self.quant_min, q > self.quant_max
        inside = ~(below | above)
        fake = (q - zero_point) * float(scale)
        grad_scale = np.where(inside, (fake - x) / float(scale),
                              np.where(below, self.quant_min - zero_point,
                                       self.quant_max - zero_point))
        grad_zero_point = np.where(inside, 0.0, -float(scale))
        factor = self.grad_factor
        return (grad_output * inside,
                np.sum(grad_output * grad_scale * factor).reshape(self.scale.shape),
                np.sum(grad_output * grad_zero_point * factor).reshape(self.zero_point.shape))

    def backward_graph(self, grad_output, output):
        from dlpy.autograd_function import once_differentiable_grads

        return once_differentiable_grads(
            self, grad_output, "derivative for "
            "aten::_fake_quantize_learnable_per_tensor_affine_backward is not implemented")


def _fake_quantize_learnable_per_tensor_affine(x: Tensor, scale: Tensor, zero_point: Tensor,
                                               quant_min: int, quant_max: int,
                                               grad_factor: float = 1.0) -> Tensor:
    """torch._fake_quantize_learnable_per_tensor_affine (LSQ): scale and zero_point are
    one-element tensors that receive gradients."""
    name = "_fake_quantize_learnable_per_tensor_affine"
    for label, value in (("scale", scale), ("zero_point", zero_point)):
        if not isinstance(value, Tensor) or value.data.size != 1:
            raise TypeError(f"{name}: {label} must be a one-element Tensor, got "
                            f"{type(value).__name__}")
        if value.ndim == 0:  # torch reads scale[0] and zero_point[0] (before any check)
            raise ArgIndexError("select() cannot be applied to a 0-dim tensor.")
    _check_range(name, quant_min, quant_max)
    check_scale(name, scale.data)
    return FakeQuantizeLearnable(quant_min, quant_max, float(grad_factor))(x, scale, zero_point)


class FakeQuantizeLearnablePerChannel(Op):
    """LSQ per channel along ``axis``: y = fake_quant(x; scale[c], round(zero_point[c])) with
    gradients for x, scale and zero_point (one per channel), as torch's
    _fake_quantize_learnable_per_channel_affine."""

    saves = (0, 1, 2)
    forward_ad_unsupported = "_fake_quantize_learnable_per_channel_affine"

    def __init__(self, axis: int, quant_min: int, quant_max: int, grad_factor: float):
        self.axis, self.quant_min, self.quant_max = axis, quant_min, quant_max
        self.grad_factor = grad_factor

    def _channels(self, values: np.ndarray, ndim: int) -> np.ndarray:
        shape = [1] * ndim
        shape[self.axis] = -1
        return values.reshape(shape)

    def _zero_points(self, zero_point: np.ndarray) -> np.ndarray:
        # torch rounds half to even and clamps, in the forward and the backward alike
        return np.clip(np.rint(zero_point.astype(F32)), self.quant_min, self.quant_max)

    def forward(self, x, scale, zero_point):
        self.x, self.scale, self.zero_point = x, scale, zero_point
        zero_points = self._channels(self._zero_points(zero_point).astype(np.int64), x.ndim)
        y, _ = fake_quantize_array(x, self._channels(scale.astype(F32), x.ndim), zero_points,
                                   self.quant_min, self.quant_max, float32_out=False)
        return y

    def backward(self, grad_output):
        if not self.quant_min <= 0 <= self.quant_max:  # (torch's backward checks it only)
            raise ArgError("Expecting `quant_min` <= 0 and `quant_max` >= 0")
        if self.x.dtype in (np.float64, np.float16):  # torch's backward kernel: float32 only
            raise ArgDtypeError("Expected dY.scalar_type() == ScalarType::Float to be true, "
                                "but got false.")
        x, ndim = self.x.astype(F32), self.x.ndim
        scale = self._channels(self.scale.astype(F32), ndim)
        zero_point = self._channels(self._zero_points(self.zero_point), ndim)
        inverse = F32(1.0) / scale
        # torch's backward kernel adds the zero point before rounding (the forward after)
        q = np.rint(zero_point + x * inverse)
        below, above = q < self.quant_min, q > self.quant_max
        inside = ~(below | above)
        fake = (np.clip(q, self.quant_min, self.quant_max) - zero_point) * scale
        factor = F32(self.grad_factor)
        grad = grad_output.astype(F32)
        grad_scale = np.where(inside, grad * (fake - x) * inverse,
                              grad * np.where(below, self.quant_min - zero_point,
                                              self.quant_max - zero_point)) * factor
        grad_zero_point = np.where(inside, F32(0), -grad * scale * factor)
        others = tuple(d for d in range(ndim) if d != self.axis)
        return (grad_output * inside,
                grad_scale.sum(axis=others).reshape(self.scale.shape),
                grad_zero_point.sum(axis=others).reshape(self.zero_point.shape))


def _fake_quantize_learnable_per_channel_affine(x: Tensor, scale: Tensor, zero_point: Tensor,
                                                axis: int, quant_min: int, quant_max: int,
                                                grad_factor: float = 1.0) -> Tensor:
    """torch._fake_quantize_learnable_per_channel_affine (LSQ per channel): scale and
    zero_point are 1-D tensors of x.shape[axis] channels that receive gradients."""
    name = "_fake_quantize_learnable_per_channel_affine"
    _check_arguments(name, x, quant_min, quant_max)
    _check_range(name, quant_min, quant_max)
    for label, value in (("scale", scale), ("zero_point", zero_point)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}(): argument '{label}' must be Tensor, not "
                            f"{type(value).__name__}")
        if value.ndim != 1:
            raise ArgError(f"{name}: {label.replace('_', ' ')} should be a 1-D tensor")
    ndim = len(x.shape)
    if not 0 <= axis < ndim:
        raise (ArgIndexError if axis >= ndim else ArgError)(
            f"{name}: axis must be in [0, {ndim - 1}] for an input of shape "
            f"{tuple(x.shape)}, got {axis}")
    if scale.data.size != x.shape[axis] or zero_point.data.size != x.shape[axis]:
        raise ArgError(f"{name}: expected {x.shape[axis]} scales and zero points (axis "
                       f"{axis} of {tuple(x.shape)}), got {scale.data.size} and "
                       f"{zero_point.data.size}")
    check_scale(name, scale.data)
    return FakeQuantizeLearnablePerChannel(int(axis), quant_min, quant_max,
                                           float(grad_factor))(x, scale, zero_point)


class FakeQuantize(Module):
    """An observer plus fake quantization (torch.ao.quantization.FakeQuantize): while the
    observer is enabled, each forward updates it and copies its (scale, zero_point) into the
    ``scale``/``zero_point`` buffers; while fake quantization is enabled the output is
    fake-quantized with them (per channel along ``ch_axis`` for a per-channel qscheme)."""

    with_args = classmethod(_PartialWrapper)

    def __init__(self, observer=MovingAverageMinMaxObserver, quant_min=None, quant_max=None,
                 is_dynamic: bool = False, **observer_kwargs):
        super().__init__()
        if quant_min is not None and quant_max is not None:  # torch: asserts
            if quant_min > quant_max:
                raise RangeAssertionError(f"FakeQuantize: expected quant_min <= quant_max, got "
                                          f"[{quant_min}, {quant_max}]")
            dtype = observer_kwargs.get("dtype", quint8)
            if quant_min < dtype.qmin:  # (torch's messages)
                raise ArgAssertionError("quant_min out of bound")
            if quant_max > dtype.qmax:
                raise ArgAssertionError("quant_max out of bound")
            observer_kwargs.update(quant_min=quant_min, quant_max=quant_max)
        self.activation_post_process = observer(is_dynamic=is_dynamic, **observer_kwargs)
        post = self.activation_post_process
        self.quant_min, self.quant_max = post.quant_min, post.quant_max
        self.is_dynamic, self.dtype, self.qscheme = post.is_dynamic, post.dtype, post.qscheme
        self.ch_axis = getattr(post, "ch_axis", -1)
        self.is_per_channel = self.qscheme in (per_channel_affine, per_channel_symmetric)
        self.register_buffer("fake_quant_enabled", np.array([1], np.uint8))
        self.register_buffer("observer_enabled", np.array([1], np.uint8))
        self.register_buffer("scale", np.array([1.0], F32))
        self.register_buffer("zero_point", np.array([0], np.int32))

    def calculate_qparams(self):
        return self.activation_post_process.calculate_qparams()

    def _materialize_from_state(self, state: dict, prefix: str) -> None:
        _resize_from_state(self, ("scale", "zero_point"), state, prefix)

    def _qparams(self) -> tuple[np.ndarray, np.ndarray]:
        return self.activation_post_process._qparams()

    def _forward_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """The (scale, zero_point) forward fake-quantizes with: the observer's."""
        return self.activation_post_process._qparams()

    # the switches return None, as torch's
    def enable_fake_quant(self, enabled: bool = True) -> None:
        self.fake_quant_enabled.data[0] = int(enabled)

    def disable_fake_quant(self) -> None:
        self.enable_fake_quant(False)

    def enable_observer(self, enabled: bool = True) -> None:
        self.observer_enabled.data[0] = int(enabled)

    def disable_observer(self) -> None:
        self.enable_observer(False)

    def forward(self, X: Tensor) -> Tensor:
        if self.observer_enabled.data[0]:
            self.activation_post_process(X)
            scale, zero_point = self._forward_qparams()
            _store(self.scale, scale)
            _store(self.zero_point, zero_point)
        if not self.fake_quant_enabled.data[0]:
            return X
        if self.is_per_channel:
            return fake_quantize_per_channel_affine(X, self.scale.data, self.zero_point.data,
                                                    self.ch_axis, self.quant_min, self.quant_max)
        return fake_quantize_per_tensor_affine(X, self.scale.data, self.zero_point.data,
                                               self.quant_min, self.quant_max)

    def extra_repr(self) -> str:
        return (f"fake_quant_enabled={self.fake_quant_enabled}, observer_enabled="
                f"{self.observer_enabled}, quant_min={self.quant_min}, quant_max="
                f"{self.quant_max}, dtype={self.dtype!r}, qscheme={self.qscheme!r}, ch_axis="
                f"{self.ch_axis}, scale={self.scale}, zero_point={self.zero_point}")


class FusedMovingAvgObsFakeQuantize(FakeQuantize):
    """torch's fused observe + fake-quantize (the default QAT qconfig's): the same moving
    averages, but forward picks its qparams with fbgemm's ChooseQuantizationParams (symmetric
    schemes keep zero exact), as torch's fused kernel; ``calculate_qparams`` (what ``convert``
    reads) is still the observer's formula, as torch."""

    def __init__(self, observer=MovingAverageMinMaxObserver, quant_min: int = 0,
                 quant_max: int = 255, **observer_kwargs):
        # torch's defaults are quint8's range (so a qint8 one must give its own), its
        # switches int64 (FakeQuantize's are uint8)
        super().__init__(observer, quant_min, quant_max, **observer_kwargs)
        self.fake_quant_enabled = Tensor(np.array([1], np.int64))
        self.observer_enabled = Tensor(np.array([1], np.int64))

    def forward(self, X: Tensor) -> Tensor:
        if X.numel() == 0:  # torch's fused kernel returns an empty input as it is, unobserved
            return X.clone()
        return super().forward(X)

    def _forward_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        post = self.activation_post_process
        symmetric = self.qscheme in (per_tensor_symmetric, per_channel_symmetric)
        return choose_qparams(post.min_val.data, post.max_val.data, self.quant_min, self.quant_max,
                              symmetric)


default_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=quint8,
    qscheme=per_tensor_affine, reduce_range=True)
default_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_tensor_symmetric, reduce_range=False)
default_per_channel_weight_fake_quant = FakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_channel_symmetric, reduce_range=False, ch_axis=0)
default_fused_act_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=quint8)
default_fused_wt_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_tensor_symmetric)
default_fused_per_channel_wt_fake_quant = FusedMovingAvgObsFakeQuantize.with_args(
    observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=qint8,
    qscheme=per_channel_symmetric)


def disable_observer(module) -> None:
    """For ``model.apply``: freeze a FakeQuantize's qparams (torch's disable_observer)."""
    if isinstance(module, FakeQuantize):
        module.disable_observer()


def enable_observer(module) -> None:
    """For ``model.apply``: let a FakeQuantize update its qparams again."""
    if isinstance(module, FakeQuantize):
        module.enable_observer()


def disable_fake_quant(module) -> None:
    """For ``model.apply``: a FakeQuantize passes its input through unchanged."""
    if isinstance(module, FakeQuantize):
        module.disable_fake_quant()


def enable_fake_quant(module) -> None:
    """For ``model.apply``: a FakeQuantize fake-quantizes again."""
    if isinstance(module, FakeQuantize):
        module.enable_fake_quant()


# ------------------------------------------------------------------ torch's fused kernels
def _float32_data(tensor: Tensor) -> np.ndarray:
    """A Tensor's float32 array, as torch's kernels read one (``data_ptr<float>``): another
    dtype is torch's 'expected scalar type Float' RuntimeError."""
    if np.dtype(tensor.dtype) != F32:
        raise ArgError(f"expected scalar type Float but found "
                       f"{_torch_name(np.dtype(tensor.dtype)).capitalize()}")
    return tensor.data


def _half(value: np.float32) -> np.float32:
    return F32(np.float16(value))


def _quant_loss(x: np.ndarray, low: np.float32, high: np.float32, bit_width: int) -> np.float32:
    """The L2 error of quantizing ``x`` to ``bit_width`` bits over [low, high], in float32 as
    torch's ``calculate_quant_loss`` (low rounded to float16, the scale rounded to float16,
    the squared errors summed in order)."""
    low = _half(low)
    data_range = F32(high - low)
    qmax = F32((1 << bit_width) - 1)
    scale = F32(1.0) if data_range == 0 else _half(data_range / qmax)
    inverse = F32(1.0) if scale == 0 else F32(1.0) / scale
    q = np.maximum(F32(0.0), np.minimum(np.rint((x - low) * inverse), qmax))
    error = x - (q * scale + low)
    return np.sqrt(np.cumsum(error * error, dtype=F32)[-1])


def choose_qparams_optimized(input: Tensor, numel: int, n_bins: int, ratio: float,  # noqa: A002
                             bit_width: int) -> tuple[Tensor, Tensor]:
    """torch.choose_qparams_optimized: a greedy search for the range of the first ``numel``
    values of a float32 tensor that quantizes them (to ``bit_width`` bits) with the least L2
    error: starting from [min, max], each step moves one end inward by (max - min) / n_bins,
    whichever loses less, until (1 - ratio) * n_bins steps are left; the best local optimum
    wins. Returns (max, min) as one-element float32 tensors, torch's order."""
    name = "choose_qparams_optimized"
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    for position, label, value, kinds in ((2, "numel", numel, (int, np.integer)),
                                          (3, "n_bins", n_bins, (int, np.integer)),
                                          (4, "ratio", ratio, (int, float, np.number)),
                                          (5, "bit_width", bit_width, (int, np.integer))):
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "float" if label == "ratio" else "int"
            raise TypeError(f"{name}(): argument '{label}' (position {position}) must be "
                            f"{kind}, not {type(value).__name__}")
    data = _float32_data(input)
    if data.size == 0:
        raise ValueError("input tensor is empty and has no data")
    if numel < 0 or numel > data.size:
        raise ArgError("numel is out of the bound of input tensor")
    x = np.ascontiguousarray(data).reshape(-1)[:numel]
    with np.errstate(all="ignore"):
        low, high = F32(x.min()), F32(x.max())
        step = F32(high - low) / F32(n_bins)
        min_bins = F32(float(F32(n_bins)) * (1.0 - float(ratio)))
        best = current = _quant_loss(x, low, high, bit_width)
        cur_min, cur_max, threshold = low, high, F32(min_bins * step)
        while F32(cur_min + threshold) < cur_max:
            loss_left = _quant_loss(x, F32(cur_min + step), cur_max, bit_width)
            loss_right = _quant_loss(x, cur_min, F32(cur_max - step), bit_width)
            if current < loss_left and current < loss_right and current < best:
                best, low, high = current, cur_min, cur_max  # a local optimum
            if loss_left < loss_right:
                cur_min, current = F32(cur_min + step), loss_left
            else:
                cur_max, current = F32(cur_max - step), loss_right
    return Tensor(np.array([high], F32)), Tensor(np.array([low], F32))


class FusedObsFqResult(NamedTuple):
    """torch._fused_moving_avg_obs_fq_helper's (output, mask)."""

    output: Tensor
    mask: Tensor


FusedObsFqResult._torch_name = "_fused_moving_avg_obs_fq_helper"
FusedObsFqResult.__repr__ = structseq_repr


class FakeQuantizeMasked(Op):
    """y = x where ``mask`` holds the fake-quantized values; dy/dx = mask (the fused kernel's
    straight-through gradient)."""

    saves = ()

    def __init__(self, y: np.ndarray, mask: np.ndarray):
        self.y, self.mask = y, mask

    def forward(self, x):
        return self.y

    def backward(self, grad_output):
        return (grad_output * self.mask,)

    def backward_graph(self, grad_output, output):
        # torch's fake_quantize_*_cachemask_backward: grad * mask, recorded
        return (grad_output * Tensor(self.mask),)


def _switch(name: str, label: str, position: int, flag) -> bool:
    if not isinstance(flag, Tensor):
        raise TypeError(f"{name}(): argument '{label}' (position {position}) must be Tensor, "
                        f"not {type(flag).__name__}")
    if flag.data.size != 1:
        raise ArgError(f"a Tensor with {flag.data.size} elements cannot be converted to Scalar")
    return bool(int(flag.data.reshape(-1)[0]))


def _moving_average(running: np.ndarray, current: np.ndarray, averaging_const: float) -> None:
    """running += c (current - running), in float32, where running is finite (else current)."""
    c = F32(averaging_const)
    for i in range(current.size):
        old = running[i]
        running[i] = current[i] if np.isinf(old) else F32(old + c * F32(current[i] - old))


def _fused_moving_avg_obs_fq_helper(self: Tensor, observer_on: Tensor, fake_quant_on: Tensor,
                                    running_min: Tensor, running_max: Tensor, scale: Tensor,
                                    zero_point: Tensor, averaging_const: float, quant_min: int,
                                    quant_max: int, ch_axis: int,
                                    per_row_fake_quant: bool = False,
                                    symmetric_quant: bool = False) -> FusedObsFqResult:
    """torch._fused_moving_avg_obs_fq_helper: the fused observe-and-fake-quantize of the default
    QAT configuration, on float32 buffers updated in place. With ``observer_on``, the running
    min/max move toward the input's (per row of ``ch_axis`` 0 with ``per_row_fake_quant``; an
    infinite running value takes the input's at once); with ``fake_quant_on``, (scale,
    zero_point) are chosen from them with fbgemm's ChooseQuantizationParams (``symmetric_quant``
    keeps zero exact) and the input is fake-quantized with them. Returns (output, mask), the
    mask where the quantized value fell in [quant_min, quant_max] (all True when fake
    quantization is off and the output is a copy)."""
    name = "_fused_moving_avg_obs_fq_helper"
    if not isinstance(self, Tensor):
        raise TypeError(f"{name}(): argument 'self' (position 1) must be Tensor, not "
                        f"{type(self).__name__}")
    if ch_axis >= self.ndim:
        raise ArgError("Error in fused_moving_avg_obs_fake_quant_cpu: ch_axis must be < "
                       "self.dim()")
    observe = _switch(name, "observer_on", 2, observer_on)
    rows = per_row_fake_quant
    if rows:
        size = self.shape[ch_axis]
        if running_min.data.size == 0:  # torch sizes empty buffers to the channels
            running_min.data = np.full(size, np.inf, F32)
            running_max.data = np.full(size, -np.inf, F32)
            scale.data = np.zeros(size, scale.dtype)
            zero_point.data = np.zeros(size, zero_point.dtype)
    if observe:
        if rows and ch_axis != 0:
            raise ArgError("Per-channel FakeQuant in fused_moving_avg_obs_fake_quant is only "
                           "supported on axis == 0")
        x = _float32_data(self)
        if rows:
            flat = x.reshape(x.shape[0], -1)
            current_min, current_max = flat.min(axis=1), flat.max(axis=1)
        else:
            current_min, current_max = x.min().reshape(1), x.max().reshape(1)
        low, high = _float32_data(running_min), _float32_data(running_max)
        _moving_average(low.reshape(-1), current_min, averaging_const)
        _moving_average(high.reshape(-1), current_max, averaging_const)
    if not _switch(name, "fake_quant_on", 3, fake_quant_on):
        return FusedObsFqResult(self.clone(), Tensor(np.ones(self.shape, bool)))
    if rows:
        low, high = _float32_data(running_min), _float32_data(running_max)
    else:
        for buffer in (running_min, running_max):
            if buffer.data.size != 1:
                raise ArgError(f"a Tensor with {buffer.data.size} elements cannot be "
                               f"converted to Scalar")
        low, high = running_min.data.reshape(-1)[:1], running_max.data.reshape(-1)[:1]
    new_scale, new_zero_point = choose_qparams(low, high, quant_min, quant_max,
                                               symmetric_quant)
    scale.data.reshape(-1)[:new_scale.size] = new_scale
    zero_point.data.reshape(-1)[:new_zero_point.size] = new_zero_point
    _check_range_message(quant_min, quant_max)
    x = self.data
    if rows:
        shape = [1] * x.ndim
        shape[ch_axis] = -1
        y, mask = fake_quantize_array(x, new_scale.reshape(shape),
                                      new_zero_point.reshape(shape), quant_min, quant_max,
                                      float32_out=False)
    else:
        y, mask = fake_quantize_array(x, new_scale[0], int(new_zero_point[0]), quant_min,
                                      quant_max)
    return FusedObsFqResult(FakeQuantizeMasked(y, mask)(self), Tensor(mask))


def _check_range_message(quant_min: int, quant_max: int) -> None:
    if quant_min > quant_max:  # torch's fake-quantize kernels' words
        raise ArgError("`quant_min` should be less than or equal to `quant_max`.")


def fused_moving_avg_obs_fake_quant(self: Tensor, observer_on: Tensor, fake_quant_on: Tensor,
                                    running_min: Tensor, running_max: Tensor, scale: Tensor,
                                    zero_point: Tensor, averaging_const: float, quant_min: int,
                                    quant_max: int, ch_axis: int,
                                    per_row_fake_quant: bool = False,
                                    symmetric_quant: bool = False) -> Tensor:
    """torch.fused_moving_avg_obs_fake_quant: ``_fused_moving_avg_obs_fq_helper``'s output (an
    empty input is returned as a copy, its buffers untouched)."""
    if isinstance(self, Tensor) and self.data.size == 0:
        return self.clone()
    return _fused_moving_avg_obs_fq_helper(
        self, observer_on, fake_quant_on, running_min, running_max, scale, zero_point,
        averaging_const, quant_min, quant_max, ch_axis, per_row_fake_quant,
        symmetric_quant).output
