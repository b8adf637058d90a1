"""Observers, as torch.ao.quantization.observer: modules that watch the tensors passing through
(min/max, a moving average, a histogram) and turn what they saw into (scale, zero_point).

Everything is float32, as torch's buffers, so ``calculate_qparams`` equals torch's:

    affine:     scale = max(eps, (max(max_val, 0) - min(min_val, 0)) / (qmax - qmin))
                zero_point = clamp(qmin - round(min(min_val, 0) / scale), qmin, qmax)
    symmetric:  scale = max(eps, max(-min(min_val, 0), max(max_val, 0)) / ((qmax - qmin) / 2))
                zero_point = 0 (qint8) or 128 (quint8; the midpoint of a custom range)
"""

from __future__ import annotations

import warnings

import numpy as np

from dlpy.ao.qtensor import (
    QSCHEMES,
    QDtype,
    QScheme,
    QTensor,
    check_qdtype,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    quint8,
)
from dlpy.nn.module import Module
from dlpy.ops import (
    ArgAssertionError,
    ArgDtypeError,
    ArgError,
    ArgTypeAssertionError,
    DimError,
    NoKernelError,
    UnsupportedArgError,
)
from dlpy.tensor import Tensor

F32 = np.float32
FLOAT32 = np.dtype(np.float32)  # dlpy.float32: PlaceholderObserver's default dtype
PER_TENSOR = (per_tensor_affine, per_tensor_symmetric)
PER_CHANNEL = (per_channel_affine, per_channel_symmetric)
EPS = float(np.finfo(np.float32).eps)


class _PartialWrapper:
    """``Observer.with_args(**kwargs)``: a factory that makes the module with those settings
    (torch's _PartialWrapper); ``.with_args`` again adds more."""

    def __init__(self, cls, **kwargs):
        self.cls, self.kwargs = cls, kwargs

    def __call__(self, **kwargs):
        return self.cls(**{**self.kwargs, **kwargs})

    def with_args(self, **kwargs) -> _PartialWrapper:
        return _PartialWrapper(self.cls, **{**self.kwargs, **kwargs})

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.cls.__name__}.with_args({settings})"


def calculate_qmin_qmax(quant_min, quant_max, dtype: QDtype, reduce_range: bool
                        ) -> tuple[int, int]:
    """The integer range: the custom one or the dtype's, halved by ``reduce_range`` (fbgemm's
    7-bit activations that keep its 16-bit intermediate sums from overflowing), as torch."""
    if quant_min is not None and quant_max is not None:
        if not quant_min <= 0 <= quant_max or quant_min >= quant_max:
            raise ArgAssertionError(f"observer: the range [quant_min, quant_max] must contain 0 "
                                    f"and quant_min < quant_max, got [{quant_min}, {quant_max}]")
        # torch bounds the width for qint8 and qint32 only (not quint8)
        if dtype.name != "quint8" and quant_max - quant_min + 1 > (
                256 if dtype.qmax < 2 ** 8 else 2 ** 32):
            raise ArgAssertionError(f"observer: [{quant_min}, {quant_max}] is wider than "
                                    f"{dtype.name}'s range")
        return (quant_min // 2, quant_max // 2) if reduce_range else (quant_min, quant_max)
    if reduce_range and dtype.name in ("quint8", "qint8"):  # (torch halves 8-bit ranges only:
        return dtype.qmin // 2, dtype.qmax // 2  # qint32, quint4x2 keep theirs)
    return dtype.qmin, dtype.qmax


def _store(buffer: Tensor, value) -> None:
    """Put ``value`` into a buffer in place (torch's ``copy_``, after ``resize_`` where the shape
    changes), so a reference a user holds (``m = obs.min_val``) sees the new values."""
    value = np.asarray(value, dtype=buffer.dtype)
    if value.shape == buffer.shape:
        buffer.data[...] = value
    else:
        buffer.data = value.copy()


def _resize_from_state(module, names: tuple[str, ...], state: dict, prefix: str) -> None:
    """torch's ``_load_from_state_dict`` of the per-channel observers and FakeQuantize: a
    buffer whose length follows the data it saw (``min_val``/``max_val``, ``scale``/
    ``zero_point``) takes the saved shape before the state loads into it (Module.load_state_dict
    calls ``_materialize_from_state`` first)."""
    for name in names:
        value, buffer = state.get(prefix + name), module._buffers.get(name)
        if value is not None and buffer is not None and np.shape(value) != buffer.shape:
            buffer.data = np.zeros(np.shape(value), buffer.dtype)


def _shown(buffer: Tensor):
    """A buffer in a repr: a number for one without axes (torch's ``min_val=inf``)."""
    return buffer.data.item() if buffer.ndim == 0 else buffer


class ObserverBase(Module):
    """An observer: ``forward(x)`` records statistics and returns x unchanged."""

    with_args = classmethod(_PartialWrapper)

    def __init__(self, dtype=None, is_dynamic: bool = False):
        super().__init__()
        self.dtype = check_qdtype(type(self).__name__, dtype, ArgTypeAssertionError)
        self.is_dynamic = bool(is_dynamic)

    def calculate_qparams(self):
        raise NotImplementedError


class UniformQuantizationObserverBase(ObserverBase):
    """dtype, qscheme, reduce_range, quant_min/quant_max and eps, and the shared formula."""

    def __init__(self, dtype=None, qscheme=per_tensor_affine, reduce_range: bool = False,
                 quant_min=None, quant_max=None, eps: float = EPS, is_dynamic: bool = False):
        super().__init__(quint8 if dtype is None else dtype, is_dynamic)
        name = type(self).__name__
        if not _is_qscheme(qscheme, QSCHEMES):  # torch: NotImplementedError
            raise UnsupportedArgError(f"{name}: qscheme must be one of {list(QSCHEMES)}, got "
                                      f"{qscheme!r}")
        self.qscheme = qscheme
        self.reduce_range = bool(reduce_range)
        self.has_customized_qrange = quant_min is not None and quant_max is not None
        self.quant_min, self.quant_max = calculate_qmin_qmax(quant_min, quant_max, self.dtype,
                                                             self.reduce_range)
        self.register_buffer("eps", np.array([eps], dtype=F32))

    def _calculate_qparams(self, min_val: np.ndarray, max_val: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """float32 scale(s), int32 (affine) / int64 (symmetric) zero point(s) from the observed
        range (shape (1,) per tensor); (1.0, 0) before anything was observed, with torch's
        warning."""
        min_val, max_val = np.asarray(min_val, F32), np.asarray(max_val, F32)
        if min_val.size == 0 or (min_val.ndim == 0 and min_val == np.inf and max_val == -np.inf):
            warnings.warn("must run observer before calling calculate_qparams. Returning "
                          "default values.", stacklevel=3)
            return np.array([1.0], F32), np.array([0], np.int64)
        if np.any(min_val > max_val):  # torch: an assert
            raise ArgAssertionError(f"{type(self).__name__}: min {min_val} should be at most max "
                             f"{max_val}")
        quant_min, quant_max = self.quant_min, self.quant_max
        min_neg = np.minimum(min_val, F32(0))
        max_pos = np.maximum(max_val, F32(0))
        eps = self.eps.data.astype(F32).reshape(())
        zero_point = np.zeros(min_neg.shape, np.int64)
        if self.qscheme in (per_tensor_symmetric, per_channel_symmetric):
            max_pos = np.maximum(-min_neg, max_pos)
            scale = np.maximum(max_pos / F32((quant_max - quant_min) / 2), eps)
            if self.dtype.name == "quint8":  # the middle of the range (quint8 only, as torch)
                middle = (quant_min + quant_max) // 2 if self.has_customized_qrange else 128
                zero_point[...] = middle
        else:
            scale = np.maximum((max_pos - min_neg) / F32(quant_max - quant_min), eps)
            zero_point = quant_min - np.rint(min_neg / scale).astype(np.int64)
            # torch: int32 zero points for the affine schemes, int64 for the symmetric ones
            zero_point = np.clip(zero_point, quant_min, quant_max).astype(np.int32)
        return scale.astype(F32).reshape(-1), zero_point.reshape(-1)

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """(scale float32, zero_point int32 / int64) as Tensors, torch's shapes and dtypes."""
        scale, zero_point = self._qparams()
        return Tensor(scale), Tensor(zero_point)

    def _qparams(self) -> tuple[np.ndarray, np.ndarray]:
        return self._calculate_qparams(self.min_val.data, self.max_val.data)

    def reset_min_max_vals(self) -> None:
        """Refused where the observer keeps more than min/max (the histogram), as torch."""
        raise UnsupportedArgError("Cannot reset min/max values in the given observer.")

    def extra_repr(self) -> str:
        return f"min_val={_shown(self.min_val)}, max_val={_shown(self.max_val)}"


def _is_qscheme(qscheme, allowed) -> bool:
    """``qscheme`` is one of ``allowed`` (a QScheme itself: torch refuses its name)."""
    return isinstance(qscheme, QScheme) and qscheme in allowed


def _observed(x, keep_double: bool = False) -> np.ndarray:
    """x's values as float32 (float64 ones kept with ``keep_double``)."""
    if isinstance(x, QTensor):  # torch: RuntimeError
        raise ArgDtypeError("observer: expected a float tensor, got a quantized one; "
                            "dequantize() first")
    data = np.asarray(x.data if isinstance(x, Tensor) else x)
    return data if keep_double and data.dtype == np.float64 else data.astype(F32)


def _check_symmetric_range(observer) -> None:
    """torch's min/max observers: no reduce_range for a symmetric quint8 scheme."""
    if (observer.reduce_range and observer.dtype.name == "quint8"
            and observer.qscheme in (per_tensor_symmetric, per_channel_symmetric)):
        raise UnsupportedArgError(f"{type(observer).__name__}: cannot reduce range for "
                                  f"symmetric quantization for quint8")


def _check_channels(name: str, new: np.ndarray, old: np.ndarray) -> None:
    """Per-channel statistics of another length than those kept: one broadcasts against
    several (torch's min / arithmetic of the two), other lengths are torch's RuntimeError."""
    if new.shape != old.shape and new.size != 1 and old.size != 1:
        raise ArgError(f"{name}: the size of tensor a ({new.size}) must match the size of "
                       f"tensor b ({old.size}) at non-singleton dimension 0")


def _check_scheme(observer, qscheme, per_channel: bool) -> None:
    """A per-tensor observer's qscheme (per_channel False) or a per-channel one's: the other
    kind names the observer to use; anything else is torch's NotImplementedError."""
    own, other = (PER_CHANNEL, PER_TENSOR) if per_channel else (PER_TENSOR, PER_CHANNEL)
    name = type(observer).__name__
    if qscheme in other:
        kind, use = ("per-tensor", "MinMaxObserver") if per_channel else \
            ("per-channel", "PerChannelMinMaxObserver")
        raise UnsupportedArgError(f"{name}: {kind} qscheme {qscheme!r}; use {use}")
    if not _is_qscheme(qscheme, own):
        raise UnsupportedArgError(f"{name}: qscheme must be one of {list(own)}, got "
                                  f"{qscheme!r}")


class MinMaxObserver(UniformQuantizationObserverBase):
    """The running minimum and maximum of everything seen."""

    def __init__(self, dtype=None, qscheme=per_tensor_affine, reduce_range: bool = False,
                 quant_min=None, quant_max=None, eps: float = EPS, is_dynamic: bool = False):
        _check_scheme(self, qscheme, per_channel=False)
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        _check_symmetric_range(self)
        self.register_buffer("min_val", np.array(np.inf, F32))
        self.register_buffer("max_val", np.array(-np.inf, F32))

    def _update(self, low: np.ndarray, high: np.ndarray) -> None:
        _store(self.min_val, np.minimum(low, self.min_val.data))
        _store(self.max_val, np.maximum(high, self.max_val.data))

    def forward(self, x_orig):
        data = _observed(x_orig)
        if data.size:
            self._update(data.min(), data.max())
        return x_orig

    def reset_min_max_vals(self) -> None:
        _store(self.min_val, np.inf)
        _store(self.max_val, -np.inf)


def _moving_average():
    """The _update of the moving-average observers (the first batch is taken as it is)."""

    def update(self, low, high):
        min_val, max_val = self.min_val.data, self.max_val.data
        if np.all(min_val == np.inf) and np.all(max_val == -np.inf) or min_val.size == 0:
            _store(self.min_val, low)
            _store(self.max_val, high)
            return
        _check_channels(type(self).__name__, np.asarray(low), min_val)
        c = F32(self.averaging_constant)
        _store(self.min_val, min_val + c * (low - min_val))
        _store(self.max_val, max_val + c * (high - max_val))

    return update


class MovingAverageMinMaxObserver(MinMaxObserver):
    """min/max as exponential moving averages: m += averaging_constant * (batch_min - m)."""

    def __init__(self, averaging_constant: float = 0.01, dtype=None, qscheme=per_tensor_affine,
                 reduce_range: bool = False, quant_min=None, quant_max=None, eps: float = EPS,
                 is_dynamic: bool = False):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        self.averaging_constant = float(averaging_constant)

    _update = _moving_average()


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """min/max per channel of ``ch_axis`` (a weight's output channels)."""

    def __init__(self, ch_axis: int = 0, dtype=None, qscheme=per_channel_affine,
                 reduce_range: bool = False, quant_min=None, quant_max=None, eps: float = EPS,
                 is_dynamic: bool = False):
        _check_scheme(self, qscheme, per_channel=True)
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        _check_symmetric_range(self)
        self.ch_axis = int(ch_axis)
        self.register_buffer("min_val", np.zeros(0, F32))
        self.register_buffer("max_val", np.zeros(0, F32))

    def _update(self, low, high) -> None:
        if self.min_val.numel() == 0:
            _store(self.min_val, low)
            _store(self.max_val, high)
            return
        _check_channels(type(self).__name__, low, self.min_val.data)
        _store(self.min_val, np.minimum(low, self.min_val.data))
        _store(self.max_val, np.maximum(high, self.max_val.data))

    def forward(self, x_orig):
        data = _observed(x_orig)
        if data.size == 0:
            return x_orig
        # torch flattens the dims after the channel's: one more dim at least (IndexError)
        if data.ndim < 2 or not -data.ndim <= self.ch_axis < data.ndim:
            raise DimError(f"{type(self).__name__}: ch_axis {self.ch_axis} is out of range "
                           f"for an input of shape {data.shape} (at least 2 dims)")
        rows = np.moveaxis(data, self.ch_axis, 0).reshape(data.shape[self.ch_axis], -1)
        self._update(rows.min(axis=1), rows.max(axis=1))
        return x_orig

    def reset_min_max_vals(self) -> None:
        self.min_val, self.max_val = np.zeros(0, F32), np.zeros(0, F32)  # new buffers, as torch

    def _materialize_from_state(self, state: dict, prefix: str) -> None:
        _resize_from_state(self, ("min_val", "max_val"), state, prefix)


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel min/max as exponential moving averages."""

    def __init__(self, averaging_constant: float = 0.01, ch_axis: int = 0, dtype=None,
                 qscheme=per_channel_affine, reduce_range: bool = False, quant_min=None,
                 quant_max=None, eps: float = EPS, is_dynamic: bool = False):
        super().__init__(ch_axis, dtype, qscheme, reduce_range, quant_min, quant_max, eps,
                         is_dynamic)
        self.averaging_constant = float(averaging_constant)

    _update = _moving_average()


def histc(x: np.ndarray, bins: int, low, high) -> np.ndarray:
    """torch.histc in x's precision (float32, double for float64 values): bin =
    floor((x - low) * bins / (high - low)), x == high in the last bin, values outside
    [low, high] dropped."""
    work = np.float64 if x.dtype == np.float64 else F32
    low, high = work(low), work(high)
    if low == high:  # torch widens an empty range by 1 on each side
        low, high = low - work(1), high + work(1)
    inside = x[(x >= low) & (x <= high)]
    position = ((inside - low) * F32(bins) / (high - low)).astype(np.int64)
    np.clip(position, 0, bins - 1, out=position)
    return np.bincount(position, minlength=bins).astype(F32)


class HistogramObserver(UniformQuantizationObserverBase):
    """A histogram of the values (``bins`` bins over the running min/max); ``calculate_qparams``
    picks the [min, max] that minimises the L2 quantization error over it (torch's
    _non_linear_param_search). torch's default activation observer for x86/fbgemm."""

    def __init__(self, bins: int = 2048, dtype=None, qscheme=per_tensor_affine,
                 reduce_range: bool = False, quant_min=None, quant_max=None, eps: float = EPS,
                 is_dynamic: bool = False):
        if not _is_qscheme(qscheme, PER_TENSOR):  # torch: NotImplementedError
            raise UnsupportedArgError(f"HistogramObserver: only per-tensor qschemes, got "
                                      f"{qscheme!r}")
        if is_dynamic:
            raise ValueError("HistogramObserver: dynamic quantization is not supported")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        self.bins = int(bins)
        self.register_buffer("histogram", np.zeros(self.bins, F32))
        self.register_buffer("min_val", np.array(np.inf, F32))
        self.register_buffer("max_val", np.array(-np.inf, F32))
        self.dst_nbins = 2 ** (8 if self.dtype.qmax < 2 ** 8 else 32)
        self.upsample_rate = 16

    def forward(self, x_orig):
        data = _observed(x_orig, keep_double=True).reshape(-1)  # (torch.histc of doubles)
        kind = np.dtype(x_orig.dtype).kind if isinstance(x_orig, Tensor) else "f"
        if data.size and kind not in "fV":  # torch.histc: floating point only (V: bfloat16)
            raise NoKernelError(f"HistogramObserver: histc is not implemented for "
                                f"{np.dtype(x_orig.dtype).name}")
        data = data[np.isfinite(data)] if not np.all(np.isfinite(data)) else data
        if data.size == 0:
            return x_orig
        x_min, x_max = data.min(), data.max()
        min_val, max_val, histogram = self.min_val.data, self.max_val.data, self.histogram.data
        if min_val == np.inf or max_val == -np.inf:
            _store(self.min_val, x_min)
            _store(self.max_val, x_max)
            _store(self.histogram, histc(data, self.bins, x_min, x_max))
            return x_orig
        new_min, new_max = min(min_val, x_min), max(max_val, x_max)
        update = histc(data, self.bins, new_min, new_max)
        if new_min == min_val and new_max == max_val:
            combined = histogram + update
        elif min_val == max_val:
            combined = (histc(min_val.reshape(1), self.bins, new_min, new_max)
                        * histogram.sum() + update)
        else:
            combined = update + self._upscale(new_min, new_max)
        _store(self.histogram, combined)
        _store(self.min_val, new_min)
        _store(self.max_val, new_max)
        return x_orig

    def _upscale(self, update_min, update_max) -> np.ndarray:
        """The old histogram re-binned onto [update_min, update_max] (each bin split into
        ``upsample_rate`` parts, each part's mass sent to the new bin of its midpoint)."""
        rate, bins = self.upsample_rate, self.bins
        histogram = np.repeat(self.histogram.data, rate) / F32(rate)
        orig_min, orig_max = self.min_val.data, self.max_val.data
        bin_size = (orig_max - orig_min) / F32(bins * rate)
        middles = _linspace(orig_min, orig_max, bins * rate + 1)[:-1] + F32(0.5) * bin_size
        edges = _linspace(F32(update_min), F32(update_max), bins + 1)
        buckets = np.searchsorted(edges, middles, side="right") - 1
        buckets = np.clip(buckets, 0, bins - 1)
        return np.bincount(buckets, weights=histogram, minlength=bins).astype(F32)

    def _quantization_error(self, start_bin: int, end_bin: int) -> float:
        bin_width = (float(self.max_val.data) - float(self.min_val.data)) / self.bins
        dst_width = bin_width * (end_bin - start_bin + 1) / self.dst_nbins
        if dst_width == 0.0:
            return 0.0
        src_begin = ((np.arange(self.bins) - start_bin) * bin_width).astype(F32)
        src_end = src_begin + F32(bin_width)
        dst_width32 = F32(dst_width)
        begin_bin = np.clip(np.floor(src_begin / dst_width32), 0, self.dst_nbins - 1)
        begin_center = (begin_bin + F32(0.5)) * dst_width32
        end_bin_of = np.clip(np.floor(src_end / dst_width32), 0, self.dst_nbins - 1)
        density = self.histogram.data / F32(bin_width)
        half = F32(dst_width / 2)

        def norm(delta_begin, delta_end):
            return density * ((delta_end ** 3 - delta_begin ** 3) / F32(3))

        total = norm(src_begin - begin_center, half)
        total = total + (end_bin_of - begin_bin - 1) * norm(-half, half)
        end_center = end_bin_of * dst_width32 + half
        total = total + norm(-half, src_end - end_center)
        return float(total.astype(F32).sum(dtype=F32))

    def _non_linear_param_search(self) -> tuple[np.ndarray, np.ndarray]:
        min_val, histogram = self.min_val.data, self.histogram.data
        bin_width = (self.max_val.data - min_val) / F32(self.bins)
        total = float(histogram.sum(dtype=F32))
        cumulative = np.cumsum(histogram, dtype=F32)
        stepsize, alpha, beta = 1e-5, 0.0, 1.0
        start_bin, end_bin = 0, self.bins - 1
        norm_min = float("inf")
        while alpha < beta:
            next_alpha, next_beta = alpha + stepsize, beta - stepsize
            left, right = start_bin, end_bin
            while left < end_bin and cumulative[left] < next_alpha * total:
                left += 1
            while right > start_bin and cumulative[right] > next_beta * total:
                right -= 1
            next_start, next_end = start_bin, end_bin
            if left - start_bin > end_bin - right:
                next_start, alpha = left, next_alpha
            else:
                next_end, beta = right, next_beta
            if next_start == start_bin and next_end == end_bin:
                continue
            norm = self._quantization_error(next_start, next_end)
            if norm > norm_min:
                break
            norm_min, start_bin, end_bin = norm, next_start, next_end
        new_min = (min_val + bin_width * F32(start_bin)).astype(F32)
        new_max = (min_val + bin_width * F32(end_bin + 1)).astype(F32)
        return new_min, new_max

    def _qparams(self) -> tuple[np.ndarray, np.ndarray]:
        if self.min_val.data == np.inf and self.max_val.data == -np.inf:
            return self._calculate_qparams(self.min_val.data, self.max_val.data)  # warns, (1.0, 0)
        return self._calculate_qparams(*self._non_linear_param_search())


def _linspace(start, end, steps: int) -> np.ndarray:
    """torch.linspace in float32: start + i * step from the start for the first half, end - (n -
    1 - i) * step for the second (torch's symmetric formula)."""
    start, end = F32(start), F32(end)
    step = (end - start) / F32(steps - 1)
    index = np.arange(steps, dtype=F32)
    half = steps // 2
    return np.where(np.arange(steps) < half, start + step * index,
                    end - step * (F32(steps - 1) - index)).astype(F32)


class PlaceholderObserver(ObserverBase):
    """Records nothing: carries the dtype (and is_dynamic) for dynamic quantization; any dtype
    (float32 by default, float16 for fp16 dynamic quantization), as torch."""

    def __init__(self, dtype=FLOAT32, is_dynamic: bool = False, **kwargs):
        Module.__init__(self)
        self.dtype = dtype
        self.is_dynamic = bool(is_dynamic)

    def forward(self, x):
        return x

    def calculate_qparams(self):
        raise RuntimeError("PlaceholderObserver: calculate_qparams should not be called")


default_observer = MinMaxObserver.with_args(quant_min=0, quant_max=127)
default_weight_observer = MinMaxObserver.with_args(dtype=qint8, qscheme=per_tensor_symmetric)
default_per_channel_weight_observer = PerChannelMinMaxObserver.with_args(
    dtype=qint8, qscheme=per_channel_symmetric)
default_histogram_observer = HistogramObserver.with_args(quant_min=0, quant_max=127)
default_dynamic_quant_observer = PlaceholderObserver.with_args(dtype=quint8, is_dynamic=True)
