"""Quantized tensors, as torch's CPU (fbgemm/x86) backend stores them: an integer array and the
affine map ``x = (q - zero_point) * scale``, per tensor or per channel along ``axis``.

    q = clamp(rint(zero_point + x * (1 / scale)), qmin, qmax)   # float32 arithmetic, half to even
    x = (q - zero_point) * scale                                 # float32

Written the way fbgemm computes it (float32 reciprocal of the scale, the zero point added before
rounding), so ``int_repr()`` equals torch's bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlpy.ops import ArgDtypeError, ArgError, NoKernelError
from dlpy.size import Size
from dlpy.tensor import Tensor


class QuantizedOpError(ArgDtypeError, NotImplementedError):
    """An operation quantized tensors have no kernel for (arithmetic, quantizing one again):
    dlpy's ArgDtypeError (TypeError, RuntimeError) and torch's NotImplementedError."""


class QuantizedDtypeError(NoKernelError, RuntimeError):
    """What torch's quantized dtypes and tensors do not have (is_signed, a kernel for a
    plain tensor): dlpy's NoKernelError (NotImplementedError) and torch's RuntimeError."""


class QDtype(NamedTuple):
    """A quantized dtype: its name, the numpy integer type underneath and its range; torch's
    dtype flags (``is_floating_point``, ``is_complex``, ``itemsize``; ``is_signed`` refused).
    quint4x2 / quint2x4 hold 4- / 2-bit values, two / four to a byte (``bits``)."""

    name: str
    storage: type
    qmin: int
    qmax: int

    def __repr__(self) -> str:
        return f"dlpy.{self.name}"

    @property
    def is_floating_point(self) -> bool:
        return False

    @property
    def is_complex(self) -> bool:
        return False

    @property
    def itemsize(self) -> int:
        return np.dtype(self.storage).itemsize

    @property
    def is_signed(self) -> bool:
        raise QuantizedDtypeError("isSignedType not supported for quantized types")

    @property
    def bits(self) -> int:
        """The bits of one value: 4 for quint4x2, 2 for quint2x4, the storage's otherwise."""
        return {"quint4x2": 4, "quint2x4": 2}.get(self.name, 8 * self.itemsize)


quint8 = QDtype("quint8", np.uint8, 0, 255)
qint8 = QDtype("qint8", np.int8, -128, 127)
qint32 = QDtype("qint32", np.int32, -(2 ** 31), 2 ** 31 - 1)
quint4x2 = QDtype("quint4x2", np.uint8, 0, 15)
quint2x4 = QDtype("quint2x4", np.uint8, 0, 3)
QDTYPES = {"quint8": quint8, "qint8": qint8, "qint32": qint32, "quint4x2": quint4x2,
           "quint2x4": quint2x4}
SUB_BYTE = (quint4x2, quint2x4)  # packed: torch quantizes them per tensor only


class QScheme(str):
    """torch.qscheme: per_tensor_affine and friends, named constants (a str, so it prints and
    compares). As torch's, the class makes no new instances (TypeError); copies and pickles
    are the constants themselves."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("cannot create 'torch.qscheme' instances")

    def __repr__(self) -> str:
        return f"dlpy.{self}"

    def __reduce__(self) -> str:
        return str(self)  # the module's constant of that name


per_tensor_affine = str.__new__(QScheme, "per_tensor_affine")
per_tensor_symmetric = str.__new__(QScheme, "per_tensor_symmetric")
per_channel_affine = str.__new__(QScheme, "per_channel_affine")
per_channel_symmetric = str.__new__(QScheme, "per_channel_symmetric")
# float32 scales and zero points, x = (q - zero_point) * scale in float32 (quantize_per_channel
# with float zero points)
per_channel_affine_float_qparams = str.__new__(QScheme, "per_channel_affine_float_qparams")
qscheme = QScheme
QSCHEMES = (per_tensor_affine, per_tensor_symmetric, per_channel_affine, per_channel_symmetric,
            per_channel_affine_float_qparams)


def check_qdtype(name: str, dtype, error: type[TypeError] = ArgDtypeError) -> QDtype:
    """``dtype`` when it is a QDtype (not its name: torch takes dtypes only), else a TypeError
    naming ``name`` (``error``: torch's quantize functions raise RuntimeError, its observers
    AssertionError)."""
    if isinstance(dtype, QDtype):
        return dtype
    raise error(f"{name}: dtype must be dlpy.quint8, dlpy.qint8 or dlpy.qint32, got "
                f"{dtype!r}")


def _array(value) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def _float_input(name: str, x) -> np.ndarray:
    if isinstance(x, QTensor):  # torch: no quantize kernel for a quantized tensor
        raise QuantizedOpError(f"{name}: the input is already quantized; dequantize() first")
    x = _array(x)
    if x.dtype != np.float32:  # torch quantizes float32 only (not double, half)
        raise ArgDtypeError(f"{name}: expected a float32 input, got {x.dtype}")
    return x


def check_scale(name: str, scale) -> np.ndarray:
    """scale(s) as float32 (as torch keeps them), each positive and finite."""
    scale = np.asarray(_array(scale), dtype=np.float64)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError(f"{name}: scale must be positive and finite, got {scale.tolist()}")
    return scale.astype(np.float32)


def quantize_array(x: np.ndarray, scale, zero_point, qmin: int, qmax: int,
                   fused: bool = False, nan_to: int = 0, int64_cast: bool = False) -> np.ndarray:
    """int64 q = clamp(rint(zero_point + x * float32(1 / scale)), qmin, qmax), fbgemm's arithmetic
    (float32 for a float32 input); ``scale``/``zero_point`` broadcast against ``x``. ``fused``:
    the product and the sum rounded once (a fused multiply-add), as fbgemm's per-tensor kernel
    for quint8 / qint8 (0.1535 / 0.001 - 108 is 45.499996 there, not 45.5, so 45). Where x is
    nan torch's kernels give what x86's conversions make of it: ``nan_to``; ``int64_cast``:
    a kernel that casts to int64 before clamping, so nan, inf and values past int64 are qmin."""
    scale = np.asarray(scale, dtype=np.float32)
    inverse = np.float32(1.0) / scale
    zero = np.asarray(zero_point).astype(np.float32)
    if fused:  # float32 * float32 is exact in double, and so is adding an 8-bit zero point
        with np.errstate(invalid="ignore"):
            exact = zero.astype(np.float64) + x.astype(np.float64) * inverse.astype(np.float64)
        q = np.rint(exact.astype(np.float32))
    else:
        q = np.rint(zero + x.astype(np.float32) * inverse)
    # clamped in double: float32 cannot hold qint32's bounds (2 ** 31 - 1 would round up)
    q = np.clip(q.astype(np.float64), qmin, qmax)
    with np.errstate(invalid="ignore"):
        if int64_cast:
            q = np.where(np.abs(np.rint(zero + x.astype(np.float32) * inverse)) < 2.0 ** 63, q,
                         qmin)
        return np.where(np.isnan(q), nan_to, q).astype(np.int64)


SMALL_SCALE = 6.1e-5  # fbgemm's smallest scale (float16's smallest normal number)


def choose_qparams(low, high, qmin: int = 0, qmax: int = 255, preserve_sparsity: bool = False,
                   reduce_range: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """fbgemm's ChooseQuantizationParams, which the dynamic layers and torch's fused
    observe-and-fake-quantize use (the observers' formula is in observer.py), for arrays of
    ranges: each widened to hold 0 (made symmetric with ``preserve_sparsity``), scale = range /
    (qmax - qmin) in double (at least 6.1e-5), the zero point from whichever end rounds better
    (the middle for a symmetric range), nudged into [qmin, qmax]. Returns (float32 scales,
    int64 zero points)."""
    if reduce_range:
        qmin, qmax = qmin // 2, qmax // 2
    f32, f64 = np.float32, np.float64
    low, high = np.atleast_1d(np.asarray(low, f32)), np.atleast_1d(np.asarray(high, f32))
    symmetric = preserve_sparsity & (low < 0) & (high > 0)
    if np.any(symmetric):
        symmetric_qmin, symmetric_qmax = -((qmax - qmin) // 2 + 1), (qmax - qmin) // 2
        max_scale = np.maximum(np.abs(low / f64(symmetric_qmin)),
                               np.abs(high / f64(symmetric_qmax)))
        low = np.where(symmetric, (max_scale * symmetric_qmin).astype(f32), low)
        high = np.where(symmetric, (max_scale * symmetric_qmax).astype(f32), high)
    low, high = np.minimum(low, f32(0)).astype(f64), np.maximum(high, f32(0)).astype(f64)
    scale = (high - low) / (qmax - qmin)
    with np.errstate(divide="ignore", over="ignore"):
        degenerate = (scale.astype(f32) == 0) | np.isinf(f32(1) / scale.astype(f32))
    scale = np.where(degenerate, 0.1, scale)
    small = scale < SMALL_SCALE
    if np.any(small):  # widen the range so that the scale is SMALL_SCALE
        amplifier = (f32(SMALL_SCALE) / scale.astype(f32)).astype(f64)
        width = f64(f32(SMALL_SCALE * (qmax - qmin)))
        new_low = np.where(low == 0, low, np.where(high == 0, -width, low * amplifier))
        new_high = np.where(low == 0, width, np.where(high == 0, high, high * amplifier))
        low = np.where(small, new_low.astype(f32), low)
        high = np.where(small, new_high.astype(f32), high)
        scale = np.where(small, SMALL_SCALE, scale)
    from_min, from_max = qmin - low / scale, qmax - high / scale
    error_min = abs(qmin) - np.abs(low / scale)
    error_max = abs(qmax) - np.abs(high / scale)
    initial = np.where(error_min < error_max, from_min, from_max)
    initial = np.where(symmetric, (qmin + qmax) / 2, initial)
    zero_point = np.clip(np.rint(initial), qmin, qmax).astype(np.int64)
    return scale.astype(f32), zero_point


def dequantize_array(q: np.ndarray, scale, zero_point) -> np.ndarray:
    """float32 x = (q - zero_point) * scale (in double for per-channel float64 scales, as
    torch; in float32 for float zero points)."""
    if np.asarray(zero_point).dtype.kind == "f":
        return (q.astype(np.float32) - np.asarray(zero_point, np.float32)) * \
            np.asarray(scale, np.float32)
    shifted = q.astype(np.int64) - np.asarray(zero_point, dtype=np.int64)
    scale = np.asarray(scale)
    if scale.dtype != np.float64:
        return shifted.astype(np.float32) * scale.astype(np.float32)
    return (shifted * scale).astype(np.float32)


def channels_last(values: np.ndarray) -> np.ndarray:
    """values (N, C, ...) laid out with the channels innermost (N, ..., C in memory)."""
    order = (0, *range(2, values.ndim), 1)
    # (np.empty: torch's strides for size-1 axes too, which ascontiguousarray leaves at 1)
    out = np.empty(tuple(values.shape[a] for a in order), values.dtype)
    out = out.transpose(np.argsort(order))
    out[...] = values
    return out


def suggested_layout(like: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values (of like's shape) laid out as torch's suggest_memory_format of ``like``:
    channels-last for a 4-d / 5-d array whose channels are innermost, else row-major."""
    if like.ndim in (4, 5) and like.shape[1] > 1 and like.strides[1] == like.itemsize and \
            not like.flags.c_contiguous:
        return channels_last(values)
    return np.asarray(values, order="C")


def _channel_shape(ndim: int, axis: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(shape)


class QTensor:
    """A quantized tensor: the integers ``int_repr()`` and the affine map back to floats.

    Per tensor: ``q_scale()`` / ``q_zero_point()``; per channel: ``q_per_channel_scales()``
    (float64, as torch), ``q_per_channel_zero_points()`` (int64) and ``q_per_channel_axis()``.
    Holds no gradient: ``dequantize()`` gives a float32 Tensor.
    """

    __slots__ = ("_int", "dtype", "_scale", "_zero_point", "_axis", "_qscheme")
    _is_quantized_tensor = True  # (dlpy's top-level functions hand it to __dlpy_function__)

    def __init__(self, int_array: np.ndarray, dtype: QDtype, scale, zero_point,
                 axis: int | None = None, qscheme: QScheme | None = None):
        self._int = np.asarray(int_array).astype(dtype.storage, copy=False)
        self.dtype = dtype
        self._axis = axis
        if axis is None:
            self._scale, self._zero_point = float(scale), int(zero_point)  # double, as torch
        elif qscheme is per_channel_affine_float_qparams:  # float32 both, as torch
            self._scale = np.asarray(scale, dtype=np.float32).reshape(-1)
            self._zero_point = np.asarray(zero_point, dtype=np.float32).reshape(-1)
        else:
            self._scale = np.asarray(scale, dtype=np.float64).reshape(-1)  # double, as torch
            self._zero_point = np.asarray(zero_point, dtype=np.int64).reshape(-1)
        self._qscheme = qscheme or (per_tensor_affine if axis is None else per_channel_affine)

    # ------------------------------------------------------------ torch's accessors
    @property
    def shape(self) -> Size:
        return Size(self._int.shape)

    @property
    def ndim(self) -> int:
        return self._int.ndim

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self._int.ndim

    def numel(self) -> int:
        return self._int.size

    @property
    def is_quantized(self) -> bool:
        return True

    def int_repr(self) -> Tensor:
        """The stored integers as a Tensor of uint8 / int8 / int32 (a copy); quint4x2 and
        quint2x4 as torch stores them: the values in order packed into uint8 bytes, two or
        four to a byte, the first in the low bits (one dimension)."""
        if self.dtype not in SUB_BYTE:
            # (a copy, as torch's: row-major, or channels-last kept)
            return Tensor(np.array(suggested_layout(self._int, self._int), copy=True))
        bits = self.dtype.bits
        per_byte = 8 // bits
        flat = self._int.reshape(-1).astype(np.uint16)
        flat = np.concatenate([flat, np.zeros(-flat.size % per_byte, np.uint16)])
        shifts = (np.arange(per_byte) * bits).astype(np.uint16)
        packed = (flat.reshape(-1, per_byte) << shifts).sum(axis=1)
        return Tensor(packed.astype(np.uint8))

    def qscheme(self) -> QScheme:
        return self._qscheme

    def _per_tensor(self, name: str) -> None:
        if self._axis is not None:
            raise RuntimeError(f"{name}: the tensor is quantized per channel; use "
                               f"q_per_channel_{'scales' if 'scale' in name else 'zero_points'}")

    def _per_channel(self, name: str) -> None:
        if self._axis is None:
            raise RuntimeError(f"{name}: the tensor is quantized per tensor")

    def q_scale(self) -> float:
        self._per_tensor("q_scale")
        return self._scale

    def q_zero_point(self) -> int:
        self._per_tensor("q_zero_point")
        return self._zero_point

    def q_per_channel_scales(self) -> Tensor:
        self._per_channel("q_per_channel_scales")
        return Tensor(self._scale.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        self._per_channel("q_per_channel_zero_points")
        return Tensor(self._zero_point.copy())

    def q_per_channel_axis(self) -> int:
        self._per_channel("q_per_channel_axis")
        return self._axis

    def qparams(self) -> tuple[np.ndarray | np.float32, np.ndarray | int]:
        """(scale, zero_point) broadcastable against the integers: a float32 scale per tensor,
        float64 scales per channel (torch keeps doubles there)."""
        if self._axis is None:
            return np.float32(self._scale), self._zero_point
        if self._axis >= self.ndim:  # (empty_quantized of fewer dims)
            raise ArgError(f"Channel axis out of range in per channel affine dequantization. "
                           f"Got:{self._axis} Expected: [0, {self.ndim})")
        channels = self._int.shape[self._axis]
        if self._scale.size != channels:  # (empty_quantized of another shape)
            raise ArgError(f"length of scales must equal to channel, expected {channels} got, "
                           f"{self._scale.size}")
        shape = _channel_shape(self.ndim, self._axis)
        return self._scale.reshape(shape), self._zero_point.reshape(shape)

    def dequantize(self) -> Tensor:
        scale, zero_point = self.qparams()
        # torch's suggested layout (numpy keeps any transposed operand's order)
        return Tensor(suggested_layout(self._int, dequantize_array(self._int, scale,
                                                                   zero_point)))

    def with_ints(self, int_array: np.ndarray) -> QTensor:
        """Same dtype and per-tensor qparams, other integers (a reshape, a ReLU)."""
        self._per_tensor("QTensor.with_ints")
        return QTensor(int_array, self.dtype, self._scale, self._zero_point)

    # ------------------------------------------------------------ layout: torch's strided views
    # The integers are a numpy view of the tensor they came from, so that stride(),
    # storage_offset() and is_contiguous() are a plain Tensor's over them. A view of a
    # per-channel tensor keeps its channels' scales on the axis they moved to; one that takes a
    # single channel (select, an integer index) is quantized per tensor with its qparams.
    def _ints(self) -> Tensor:
        return Tensor(self._int)

    def stride(self, dim: int | None = None):
        return self._ints().stride() if dim is None else self._ints().stride(dim)

    def storage_offset(self) -> int:
        return self._ints().storage_offset()

    def is_contiguous(self, memory_format=None) -> bool:
        if memory_format is None:
            return self._ints().is_contiguous()
        return self._ints().is_contiguous(memory_format=memory_format)

    def _view(self, ints, axis: int | None = None, channels=None) -> QTensor:
        """A QTensor over ``ints`` (a Tensor or an array viewing these) with this one's dtype
        and qparams; per channel, its channels on ``axis``, ``channels`` an index into them
        (an int: the one channel, per tensor)."""
        ints = ints.data if isinstance(ints, Tensor) else ints
        if self._axis is None:
            return QTensor(ints, self.dtype, self._scale, self._zero_point,
                           qscheme=self._qscheme)
        scale, zero_point = self._scale, self._zero_point
        if channels is not None:
            scale, zero_point = scale[channels], zero_point[channels]
        if np.size(scale) == 1 and channels is not None:  # (a slice of one channel too)
            return QTensor(ints, self.dtype, scale.item(), zero_point.item())
        return QTensor(ints, self.dtype, scale, zero_point, axis=self._axis if axis is None
                       else axis, qscheme=self._qscheme)

    def _uniform(self) -> None:
        """torch reorders strides (a transpose, a permute, an expand) of per-tensor quantized
        tensors only."""
        if self._axis is not None:
            raise ArgError("Setting strides is possible only on uniformly quantized tensor")

    def reshape(self, *shape) -> QTensor:
        return self._view(self._ints().reshape(*shape))

    def view(self, *shape) -> QTensor:
        return self._view(self._ints().view(*shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> QTensor:
        return self._view(self._ints().flatten(start_dim, end_dim))

    def transpose(self, dim0: int, dim1: int) -> QTensor:
        ints = self._ints().transpose(dim0, dim1)
        if dim0 % max(self.ndim, 1) != dim1 % max(self.ndim, 1):  # (one dim: itself)
            self._uniform()
        return self._view(ints)

    def permute(self, *dims) -> QTensor:
        ints = self._ints().permute(*dims)
        self._uniform()  # (the identity too)
        return self._view(ints)

    def t(self) -> QTensor:
        ints = self._ints().t()
        if self.ndim == 2:
            self._uniform()
        return self._view(ints)

    def expand(self, *sizes) -> QTensor:
        ints = self._ints().expand(*sizes)
        self._uniform()
        return self._view(ints)

    def select(self, dim: int, index: int) -> QTensor:
        ints = self._ints().select(dim, index)
        if self._axis is None:
            return self._view(ints)
        dim = dim % self.ndim
        if dim == self._axis:
            return self._view(ints, channels=int(index) % self.shape[dim])
        return self._view(ints, self._axis - (dim < self._axis))

    def narrow(self, dim: int, start: int, length: int) -> QTensor:
        ints = self._ints().narrow(dim, start, length)
        if self._axis is None or dim % self.ndim != self._axis:
            return self._view(ints)
        start = int(start) % max(self.shape[self._axis], 1)
        return self._view(ints, channels=slice(start, start + int(length)))

    def __getitem__(self, index) -> QTensor:
        ints = self._ints()[index]
        if self._axis is None:
            return self._view(ints)
        # follow the channel axis through the index's items (basic indexing only)
        items = index if isinstance(index, tuple) else (index,)
        if any(item is Ellipsis for item in items):
            at = next(i for i, item in enumerate(items) if item is Ellipsis)
            used = sum(item is not None and item is not Ellipsis for item in items)
            items = items[:at] + (slice(None),) * (self.ndim - used) + items[at + 1:]
        dim = out = 0
        for item in items:
            if item is None:
                out += 1
                continue
            if not isinstance(item, (int, np.integer, slice)) or isinstance(item, bool):
                raise ArgError("self.qscheme() == c10::kPerTensorAffine || self.qscheme() == "
                               "c10::kPerTensorSymmetric: a per-channel quantized tensor "
                               "takes integers and slices as indices")
            if dim == self._axis:
                if isinstance(item, slice):
                    return self._view(ints, out, channels=item)
                return self._view(ints, channels=int(item))
            dim += 1
            out += isinstance(item, slice)
        return self._view(ints, out + self._axis - dim)

    def squeeze(self, dim=None) -> QTensor:
        ints = self._ints().squeeze() if dim is None else self._ints().squeeze(dim)
        if self._axis is None:
            return self._view(ints)
        dims = range(self.ndim) if dim is None else (
            [d % max(self.ndim, 1) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))])
        dropped = [d for d in dims if d < self.ndim and self.shape[d] == 1]
        if self._axis in dropped:
            raise ArgError("Squeeze is only possible on non-axis dimension for Per-Channel "
                           "Quantized Tensors.")
        return self._view(ints, self._axis - sum(d < self._axis for d in dropped))

    def unsqueeze(self, dim: int) -> QTensor:
        ints = self._ints().unsqueeze(dim)
        if self._axis is None:
            return self._view(ints)
        return self._view(ints, self._axis + (dim % (self.ndim + 1) <= self._axis))

    def detach(self) -> QTensor:
        return self._view(self._int)

    def clone(self, memory_format=None) -> QTensor:
        """A row-major copy (torch's quantized clone)."""
        if self._qscheme is per_channel_affine_float_qparams:
            raise ArgError("clone for quantized Tensor only works for PerTensorAffine and "
                           "PerChannelAffine qscheme right now")
        return self._view(np.array(self._int, order="C"))

    def contiguous(self, memory_format=None) -> QTensor:
        return self if self.is_contiguous() else self.clone()

    def relu(self) -> QTensor:
        """max(x, 0) on the integers: max(q, zero_point), qparams kept (as torch's)."""
        if self._axis is not None:
            raise ArgError("Expected quantizer->qscheme() == kPerTensorAffine to be true, but "
                           "got false.")
        if self.dtype in SUB_BYTE:
            raise QuantizedOpError(f'"qrelu" not implemented for {self.dtype.name}')
        return self.with_ints(suggested_layout(self._int, np.maximum(self._int,
                                                                     self._zero_point)))

    # ------------------------------------------------------------ comparisons
    def __eq__(self, other) -> Tensor:
        """Element-wise, on the dequantized values (torch's eq of quantized tensors)."""
        return self.dequantize() == (other.dequantize() if isinstance(other, QTensor) else other)

    def __ne__(self, other) -> Tensor:
        return self.dequantize() != (other.dequantize() if isinstance(other, QTensor) else other)

    __hash__ = object.__hash__

    def _quantizer(self) -> tuple:
        if self._axis is None:
            return self.dtype, self._qscheme, self._scale, self._zero_point
        return (self.dtype, self._qscheme, self._axis, tuple(self._scale.tolist()),
                tuple(self._zero_point.tolist()))

    def equal(self, other) -> bool:
        """torch.equal: the same shape, dtype, qscheme and qparams, and the same integers."""
        if not isinstance(other, QTensor) or self.shape != other.shape or \
                self._quantizer() != other._quantizer():
            return False
        return bool(np.array_equal(self.contiguous()._int, other.contiguous()._int))

    _FUNCTIONS = frozenset("""cat clone concat detach eq equal flatten narrow ne permute relu
        reshape select squeeze stack t transpose unsqueeze view""".split())

    @classmethod
    def __dlpy_function__(cls, name: str, input, *args, **kwargs):
        """dlpy's functions on a QTensor: the methods above, cat/stack (first operand a list of
        QTensors), eq/ne, F.relu (in place too); anything else refused."""
        if name in ("cat", "concat", "stack"):
            return concatenate(name, input, *args, **kwargs)
        if name in ("eq", "ne"):
            return input == args[0] if name == "eq" else input != args[0]
        if name == "sigmoid":  # torch.sigmoid: fixed output qparams (1/256, the lowest q at 0)
            from dlpy.ao.nn.quantized.functional import sigmoid

            return sigmoid(input, 1.0 / 256, -128 if input.dtype is qint8 else 0)
        if name not in cls._FUNCTIONS:
            raise TypeError(f"{name}: not supported on a quantized tensor; dequantize() first")
        if name == "relu":
            out = input.relu()
            if args[:1] == (True,) or kwargs.get("inplace"):
                input._int[...] = out._int
                return input
            return out
        return getattr(input, name)(*args, **kwargs)

    def _no_arithmetic(self, *args):
        raise QuantizedOpError("QTensor: quantized tensors have no arithmetic operators; use "
                            "FloatFunctional (add, mul, add_relu, add_scalar, ...) in the "
                            "float model, which convert makes QFunctional, or dequantize() "
                            "first")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = \
        __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = __pow__ = _no_arithmetic

    def __repr__(self) -> str:
        if self._axis is None:
            qparams = f"scale={self._scale}, zero_point={self._zero_point}"
        else:
            qparams = (f"scales={self._scale.tolist()}, zero_points={self._zero_point.tolist()}, "
                       f"axis={self._axis}")
        return (f"QTensor({self.dequantize().data}, size={self.shape}, dtype={self.dtype!r}, "
                f"qscheme={self._qscheme!r}, {qparams})")


def concatenate(name: str, tensors, dim: int = 0) -> QTensor:
    """torch.cat / torch.stack of per-tensor quantized tensors: the dequantized values joined
    and quantized again with the first one's qparams (a warning when the others differ)."""
    import warnings

    from dlpy import functional

    tensors = list(tensors)
    if not tensors or not all(isinstance(t, QTensor) for t in tensors):
        raise QuantizedDtypeError("Could not run 'aten::qscheme' with arguments from the 'CPU' "
                                  f"backend: {name} of quantized and plain tensors")
    first = tensors[0]
    if first._axis is not None:
        raise ArgError("Only per-tensor quantization is supported in 'cat'!")
    if name == "stack":
        tensors = [t.unsqueeze(dim) for t in tensors]  # (then joined on that new axis)
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ArgError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    if any(t._quantizer()[2:] != first._quantizer()[2:] for t in tensors):
        warnings.warn("All inputs of this cat operator must share the same quantization "
                      "parameters. Otherwise large numerical inaccuracies may occur.",
                      UserWarning, stacklevel=4)  # (the caller of torch.cat)
    for t in tensors:
        if t.dtype is not first.dtype:
            raise ArgError("All dtypes must be the same.")
        if t._qscheme != first._qscheme:
            raise ArgError("Quantization schemes must be the same.")
    values = functional.cat([t.dequantize() for t in tensors], dim).data
    dtype = first.dtype
    q = quantize_array(values, np.float32(first._scale), first._zero_point, dtype.qmin,
                       dtype.qmax, fused=dtype in (quint8, qint8))
    return QTensor(q, dtype, first._scale, first._zero_point)


def _check_number(name: str, label: str, value, kinds: tuple[type, ...]) -> None:
    """torch's argument parser: a Tensor or a number of ``kinds`` (int, or float too; a bool
    passes for a float, not for an int); dlpy's own callers pass numpy arrays too."""
    numpy_kinds = (np.integer, np.floating) if float in kinds else (np.integer,)
    if isinstance(value, (Tensor, np.ndarray, *numpy_kinds)) or (
            isinstance(value, kinds) and not (isinstance(value, bool) and float not in kinds)):
        return
    raise TypeError(f"{name}(): argument '{label}' must be a Tensor or "
                    f"{' / '.join(k.__name__ for k in kinds)}, not {type(value).__name__}")


def quantize_per_tensor(input, scale: float, zero_point: int, dtype):
    """torch.quantize_per_tensor: x (float) -> QTensor, q = clamp(rint(x / scale) + zero_point).
    A list of Tensors with Tensors of scales and zero points: a tuple of QTensors, one each."""
    if isinstance(input, (list, tuple)) and all(isinstance(t, Tensor) for t in input):
        if not isinstance(scale, Tensor) or not isinstance(zero_point, Tensor):
            raise TypeError("quantize_per_tensor(): a list of tensors takes Tensors of scales "
                            f"and zero points, got {type(scale).__name__} and "
                            f"{type(zero_point).__name__}")
        scales, zero_points = _array(scale).reshape(-1), _array(zero_point).reshape(-1)
        for label, values in (("scales", scales), ("zero_points", zero_points)):
            if values.size < len(input):
                raise IndexError(f"quantize_per_tensor: {len(input)} tensors but "
                                 f"{values.size} {label}")
        return tuple(quantize_per_tensor(t, float(scales[i]), int(zero_points[i]), dtype)
                     for i, t in enumerate(input))
    _check_number("quantize_per_tensor", "scale", scale, (float, int))
    _check_number("quantize_per_tensor", "zero_point", zero_point, (int,))
    dtype = check_qdtype("quantize_per_tensor", dtype)
    data = _float_input("quantize_per_tensor", input)
    scale_array = check_scale("quantize_per_tensor", scale)
    if scale_array.size != 1:
        raise ArgError(f"quantize_per_tensor: expected one scale, got {scale_array.size}")
    zero_point = int(np.asarray(_array(zero_point)).reshape(-1)[0])
    low, high = (dtype.qmin, dtype.qmax) if dtype not in SUB_BYTE else (0, 255)  # torch: the
    if not low <= zero_point <= high:  # storage's range for the packed dtypes
        raise ArgError(f"quantize_per_tensor: zero_point must be in [{low}, "
                         f"{high}] for {dtype.name}, got {zero_point}")
    # nan: qmax from fbgemm's 8-bit kernel, qmin from qint32's; quint4x2's casts to int64
    eight_bit = dtype in (quint8, qint8)
    if dtype in SUB_BYTE:  # torch's quantize_val: rint(x / scale) cast to int64 (nan, inf and
        # values past int64 its minimum), then the zero point added and the result clamped
        q = quantize_array(data, scale_array.reshape(()), 0, -2.0 ** 63, 2.0 ** 63,
                           int64_cast=True)
        q = np.clip(q + zero_point, dtype.qmin, dtype.qmax)
    else:
        q = quantize_array(data, scale_array.reshape(()), zero_point, dtype.qmin, dtype.qmax,
                           fused=eight_bit, nan_to=dtype.qmax if eight_bit else dtype.qmin)
    q = suggested_layout(data, q)  # (row-major for a transposed input, as torch's)
    return QTensor(q, dtype, np.asarray(_array(scale), np.float64).reshape(()), zero_point)


def quantize_per_tensor_dynamic(input, dtype, reduce_range: bool) -> QTensor:
    """torch.quantize_per_tensor_dynamic: quantize with the qparams fbgemm chooses from the
    input's range (reduce_range halves the integer range); dtype float16: a cast."""
    if dtype == np.float16:
        return input.half()
    dtype = check_qdtype("quantize_per_tensor_dynamic", dtype)
    if dtype is qint32 or dtype in SUB_BYTE:
        raise ArgDtypeError("quantize_per_tensor_dynamic: dtype must be dlpy.quint8, "
                            f"dlpy.qint8 or float16, got {dtype!r}")
    data = _float_input("quantize_per_tensor_dynamic", input)
    if data.size == 0:
        raise ArgError("quantize_per_tensor_dynamic: the input is empty (no range)")
    scale, zero_point = choose_qparams(data.min(), data.max(), dtype.qmin, dtype.qmax,
                                       reduce_range=reduce_range)
    return quantize_per_tensor(input, float(scale[0]), int(zero_point[0]), dtype)


def quantize_per_channel(input, scales, zero_points, axis: int, dtype) -> QTensor:
    """torch.quantize_per_channel: channel c of ``axis`` uses scales[c], zero_points[c]."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"quantize_per_channel(): argument 'axis' must be int, not "
                        f"{type(axis).__name__}")
    dtype = check_qdtype("quantize_per_channel", dtype)
    if dtype in SUB_BYTE:
        raise QuantizedOpError(f'"quantize_tensor_per_channel_affine" not implemented for '
                               f"'{dtype.name}'")
    data = _float_input("quantize_per_channel", input)
    # torch: Tensors of scales must be floating point, scales and zero points one-dimensional
    if isinstance(scales, Tensor) and np.dtype(scales.dtype).kind != "f":
        raise ArgError("quantize_per_channel: scale tensor must be floating point")
    for label, values in (("scale", scales), ("zero_points", zero_points)):
        if np.ndim(_array(values)) != 1:
            raise ArgError(f"quantize_per_channel: {label} tensor must have dimension 1")
    if not 0 <= axis < data.ndim:  # torch: no -1
        raise ArgError(f"quantize_per_channel: axis must be in [0, {data.ndim - 1}] "
                       f"for an input of shape {data.shape}, got {axis}")
    axis = int(axis)
    if isinstance(zero_points, Tensor) and np.dtype(zero_points.dtype).kind == "f":
        return _quantize_float_qparams(data, scales, zero_points, axis, dtype)
    scales = np.asarray(_array(scales), np.float64).reshape(-1)
    check_scale("quantize_per_channel", scales)
    zero_points = np.asarray(_array(zero_points)).astype(np.int64).reshape(-1)
    channels = data.shape[axis]
    if scales.size != channels or zero_points.size != channels:
        raise ArgError(f"quantize_per_channel: expected {channels} scales and zero points "
                       f"(axis {axis} of {data.shape}), got {scales.size} and "
                       f"{zero_points.size}")
    if np.any(zero_points < dtype.qmin) or np.any(zero_points > dtype.qmax):
        raise ArgError(f"quantize_per_channel: zero_points must be in [{dtype.qmin}, "
                         f"{dtype.qmax}] for {dtype.name}, got {zero_points.tolist()}")
    shape = _channel_shape(data.ndim, axis)
    q = quantize_array(data, scales.reshape(shape), zero_points.reshape(shape), dtype.qmin,
                       dtype.qmax, nan_to=dtype.qmin if dtype is qint32 else 0)  # (torch's nan)
    q = suggested_layout(data, q)  # (row-major for a transposed input, as torch's)
    return QTensor(q, dtype, scales, zero_points, axis=axis)


def _quantize_float_qparams(data: np.ndarray, scales, zero_points, axis: int,
                            dtype: QDtype) -> QTensor:
    """quantize_per_channel with float zero points: torch's per_channel_affine_float_qparams,
    q = clamp(rint(x * float32(1 / scale) + zero_point)) in float32 (a zero scale's inverse
    taken as 1), the zero points kept as floats."""
    scales = np.asarray(_array(scales), np.float32).reshape(-1)
    zero_points = np.asarray(_array(zero_points), np.float32).reshape(-1)
    channels = data.shape[axis]
    if scales.size != channels or zero_points.size != channels:
        raise ArgError(f"quantize_per_channel: expected {channels} scales and zero points "
                       f"(axis {axis} of {data.shape}), got {scales.size} and "
                       f"{zero_points.size}")
    shape = _channel_shape(data.ndim, axis)
    with np.errstate(divide="ignore"):
        inverse = np.where(scales == 0, np.float32(1), np.float32(1) / scales).astype(np.float32)
    q = np.rint(data * inverse.reshape(shape) + zero_points.reshape(shape))
    q = np.clip(q.astype(np.float64), dtype.qmin, dtype.qmax).astype(np.int64)
    return QTensor(np.asarray(q, order="C"), dtype, scales, zero_points, axis=axis,
                   qscheme=per_channel_affine_float_qparams)


def dequantize(tensor) -> Tensor:
    """torch.dequantize: a QTensor's float32 values (a list of QTensors: a tuple of Tensors;
    torch has no list kernel for plain tensors)."""
    if isinstance(tensor, (list, tuple)):
        for i, item in enumerate(tensor):
            if not isinstance(item, (Tensor, QTensor)):
                raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                                f"{type(item).__name__}")
            if not isinstance(item, QTensor):
                raise NoKernelError("dequantize: a list of tensors must hold quantized "
                                    "tensors only")
        return tuple(dequantize(item) for item in tensor)
    if isinstance(tensor, Tensor) and not isinstance(tensor, QTensor):
        return tensor.float()  # torch: a plain tensor as float32 (itself when it is one)
    if not isinstance(tensor, QTensor):
        raise TypeError(f"dequantize: expected a QTensor, got {type(tensor).__name__}")
    return tensor.dequantize()


# ---------------------------------------------------------------------------- torch.q_scale, ...
def _quantized_input(name: str, input) -> QTensor:  # noqa: A002 - torch's names
    """``input`` when it is quantized; a plain Tensor has no kernel (torch's
    NotImplementedError, a RuntimeError), anything else is a TypeError."""
    if isinstance(input, QTensor):
        return input
    if isinstance(input, Tensor):
        raise QuantizedDtypeError(f"Could not run 'aten::{name}' with arguments from the 'CPU' "
                                  f"backend (a plain tensor: quantized tensors only)")
    raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                    f"{type(input).__name__}")


def q_scale(input) -> float:  # noqa: A002 - torch's names
    """torch.q_scale: a per-tensor quantized tensor's scale (per channel: RuntimeError)."""
    return _quantized_input("q_scale", input).q_scale()


def q_zero_point(input) -> int:  # noqa: A002
    """torch.q_zero_point: a per-tensor quantized tensor's zero point."""
    return _quantized_input("q_zero_point", input).q_zero_point()


def q_per_channel_scales(input) -> Tensor:  # noqa: A002
    """torch.q_per_channel_scales: a per-channel quantized tensor's scales (float64)."""
    return _quantized_input("q_per_channel_scales", input).q_per_channel_scales()


def q_per_channel_zero_points(input) -> Tensor:  # noqa: A002
    """torch.q_per_channel_zero_points: a per-channel quantized tensor's zero points."""
    return _quantized_input("q_per_channel_zero_points", input).q_per_channel_zero_points()


def q_per_channel_axis(input) -> int:  # noqa: A002
    """torch.q_per_channel_axis: the axis a per-channel quantized tensor's channels run on."""
    return _quantized_input("q_per_channel_axis", input).q_per_channel_axis()


def int_repr(input) -> Tensor:  # noqa: A002
    """torch.int_repr: a quantized tensor's stored integers."""
    return _quantized_input("int_repr", input).int_repr()


def empty_quantized(size, qtensor, *, dtype=None, layout=None, device=None, pin_memory=None,
                    memory_format=None) -> QTensor:
    """torch.empty_quantized: a quantized tensor of ``size`` with ``qtensor``'s quantizer
    (scale and zero point, or per-channel scales, zero points and axis) and its dtype (or
    ``dtype``, a quantized one). torch leaves the integers uninitialized; dlpy's are 0."""
    if not isinstance(size, (list, tuple)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in size):
        raise TypeError(f"empty_quantized(): argument 'size' (position 1) must be tuple of "
                        f"ints, not {type(size).__name__}")
    qtensor = _quantized_input("empty_quantized", qtensor)
    if dtype is not None and not isinstance(dtype, QDtype):
        raise ArgError("Creation of quantized tensor requires quantized dtype like torch.quint8")
    if memory_format is not None:
        raise ArgError("Cannot set memory_format both in TensorOptions and explicit argument; "
                       "please delete the redundant setter.")
    size = tuple(int(n) for n in size)
    if any(n < 0 for n in size):
        raise ArgError(f"Trying to create tensor with negative dimension "
                       f"{min(size)}: {list(size)}")
    dtype = dtype or qtensor.dtype
    axis = qtensor._axis  # (checked against the size when the values are read, as torch)
    ints = np.zeros(size, dtype=dtype.storage)
    return QTensor(ints, dtype, qtensor._scale, qtensor._zero_point, axis=axis,
                   qscheme=qtensor._qscheme)
