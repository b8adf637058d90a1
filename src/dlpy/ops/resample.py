"""Resampling along one axis by a few taps per output: nearest, linear and cubic interpolation
with PyTorch's index and weight rules (F.interpolate applies one Resample per spatial axis).

    indices, weights = taps("linear", size=5, out=8, scale=None, align_corners=False,
                            dtype=np.float32)
    y = resample(x, axis=2, indices=indices, weights=weights)
"""

from __future__ import annotations

import numpy as np

from dlpy.tensor import Op, Tensor

# A band holds up to 64 outputs (fewer when downsampling, so that it reads about 64 inputs)
BAND_ROWS = 64
# Products with the bands are used while the bands hold at most this many entries per tap
# (the rest are zeros): measured against the gathers, forward breaks even at about 30x,
# backward's scatter is slower up to 500x and beyond
FORWARD_FILL, BACKWARD_FILL = 32, 512
# ... and in forward only for arrays of at least this many rows along the axis (the product of
# the other axes): with fewer, many small products lose to the gathers ((8, 16, 1024) -> 2048
# linear, 128 rows: 0.58 ms gathered, 0.86 ms in 32 bands)
FORWARD_ROWS = 512
# Gathers copy whole runs of the later axes: for linear downsampling along an axis followed by
# at least this many values they beat the bands ((2, 8, 32, 64, 64) -> 13 along axis 2:
# 1.5 ms gathered, 2.6 ms in bands; (1, 3, 224, 224) -> 100 along axis 2: 0.10 and 0.18 ms)
GATHER_RUN = 16


class Resample(Op):
    """y[.., i, ..] = sum_k weights[k, i] x[.., indices[k, i], ..] along ``axis`` (no weights:
    one tap of 1, a copy): y = A x with A (out, size) the resampling matrix, dx = A^T g.
    Interpolation's A is banded, so both are BLAS products with its bands, the dense blocks
    A[rows, first:last + 1] of a few consecutive outputs and the inputs they read. Gathers
    (np.take) and sums of runs of equal indices (np.add.reduceat) instead where the bands are
    mostly zeros (strong downsampling), where the array is not finite (0 * inf would put NaN
    outside the taps), in forward for nearest (a copy, of any dtype), for arrays of few rows
    (many small products) and for linear downsampling of long runs (GATHER_RUN). Nearest
    upsampling by an integer factor k sums k strided views of the gradient.
    """

    node_name = "ResampleBackward0"  # F.interpolate sets torch's (UpsampleBilinear2DBackward0)
    saves = ()  # its taps and sizes only, as torch's upsample nodes: a second backward works
    saves_tensors = False

    def __init__(self, axis: int, indices: np.ndarray, weights: np.ndarray | None,
                 skip: np.ndarray | None = None):
        self.axis, self.indices, self.weights = axis, indices, weights
        # (taps, out) True at taps an output does not have (antialiasing's, past its window,
        # weight 0): their products are dropped, where 0 * inf would be nan (torch's kernel
        # loops over an output's own taps only)
        self.skip = skip

    def forward(self, x):
        self.x_shape = x.shape
        taps, out = self.indices.shape
        run = int(np.prod(x.shape[self.axis + 1:]))  # the values a gathered index copies
        gathers = taps <= 2 and out < x.shape[self.axis] and run >= GATHER_RUN
        bands = self.weights is not None and not gathers and \
            x.size >= FORWARD_ROWS * x.shape[self.axis] and self._bands(x, FORWARD_FILL)
        if bands:
            return self._product(x, bands, transpose=False)
        y = term = None
        for k, index in enumerate(self.indices):
            # valid indices: "wrap" skips "raise"'s bounds checks (4 times faster along the
            # last axis); the taps after the first gathered into one buffer
            if y is None:
                y = term = np.take(x, index, axis=self.axis, mode="wrap")
            else:
                if term is y:
                    term = np.empty_like(y)
                np.take(x, index, axis=self.axis, out=term, mode="wrap")
            if self.weights is not None:
                term *= self._along(self.weights[k], x.ndim)
            if self.skip is not None:
                np.copyto(term, 0, where=self._along(self.skip[k], x.ndim))
            if term is not y:
                y += term
        return y

    def backward(self, grad_output):
        repeats = self._repeats()
        if repeats:  # y repeats x's values k times: dx sums k strided views of g
            axis = self.axis
            shape = self.x_shape
            views = grad_output.reshape(shape[:axis] + (shape[axis], repeats) + shape[axis + 1:])
            at = (slice(None),) * (axis + 1)
            grad = views[at + (0,)].copy()
            for k in range(1, repeats):
                grad += views[at + (k,)]
            return (grad,)
        bands = self._bands(grad_output, BACKWARD_FILL)
        if bands:
            return (self._product(grad_output, bands, transpose=True),)
        axis = self.axis
        grad = np.zeros(self.x_shape, dtype=grad_output.dtype)
        at = (slice(None),) * axis
        for k, index in enumerate(self.indices):
            part = grad_output
            if self.weights is not None:
                part = grad_output * self._along(self.weights[k], grad_output.ndim)
            if self.skip is not None:
                np.copyto(part, 0, where=self._along(self.skip[k], grad_output.ndim))
            order = np.argsort(index, kind="stable")  # the identity for interpolation's taps
            index = index[order]
            if np.any(order != np.arange(order.size)):
                part = np.take(part, order, axis=axis)
            starts = np.flatnonzero(np.concatenate(([True], index[1:] != index[:-1])))
            if starts.size == index.size:  # distinct indices (downsampling): added at once
                grad[at + (index,)] += part
            else:
                grad[at + (index[starts],)] += np.add.reduceat(part, starts, axis=axis)
        return (grad,)

    def backward_graph(self, grad_output, output):
        return (ResampleBackward(self.axis, self.indices, self.weights, self.x_shape,
                                 self.skip)(grad_output),)

    def _repeats(self) -> int:
        """k where A repeats each input k times in order (nearest upsampling by an integer
        factor, k = 1 a copy), else 0."""
        taps, out = self.indices.shape
        size = self.x_shape[self.axis]
        if self.weights is not None or taps != 1 or not size or out % size:
            return 0
        k = out // size
        return k if np.array_equal(self.indices[0], np.arange(out) // k) else 0

    def _along(self, values: np.ndarray, ndim: int) -> np.ndarray:
        """values (out,) shaped to broadcast along the axis."""
        return values.reshape((-1,) + (1,) * (ndim - self.axis - 1))

    def _bands(self, array: np.ndarray, fill: int) -> tuple[int, np.ndarray, int] | None:
        """(step, firsts, width) or None: A's bands are ``step`` consecutive outputs each, band
        b reading inputs firsts[b] to firsts[b] + width - 1; None where a band row would hold
        more than ``fill`` entries per tap or ``array`` is not finite."""
        taps, out = self.indices.shape
        if not taps or not out:
            return None
        # downsampling by s: 64 / s outputs a band (at least 16), so that a band reads ~64 inputs
        step = max(16, min(BAND_ROWS, BAND_ROWS * out // max(self.x_shape[self.axis], 1)))
        firsts = np.minimum.reduceat(self.indices.min(axis=0), np.arange(0, out, step))
        width = int((self.indices.max(axis=0) - firsts[np.arange(out) // step]).max()) + 1
        if width > fill * taps or not np.isfinite(array).all():
            return None
        return step, firsts, width

    def _product(self, array: np.ndarray, bands, transpose: bool) -> np.ndarray:
        """A array along the axis (A^T array with ``transpose``), one product per band."""
        axis, shape, (step, firsts, width) = self.axis, array.shape, bands
        out, size = self.indices.shape[1], self.x_shape[axis]
        band, row = np.divmod(np.arange(out), step)
        blocks = np.zeros((firsts.size, step, width), dtype=array.dtype)  # A's bands
        for k, index in enumerate(self.indices):
            blocks[band, row, index - firsts[band]] += \
                1 if self.weights is None else self.weights[k]
        flat = array.reshape(int(np.prod(shape[:axis])), shape[axis],
                             int(np.prod(shape[axis + 1:])))  # (before, n, after)
        length = size if transpose else out  # of the result's axis
        result = (np.zeros if transpose else np.empty)((flat.shape[0], length, flat.shape[2]),
                                                       dtype=array.dtype)
        for block, start, first in zip(blocks, range(0, out, step), firsts.tolist()):
            rows, columns = slice(start, start + step), slice(first, first + width)
            block = block[:out - start, :size - first]  # (the last band's rows, A's edge)
            if transpose:
                result[:, columns] += _times(block.T, flat[:, rows])
            else:
                _times(block, flat[:, columns], out=result[:, rows])
        return result.reshape(shape[:axis] + (length,) + shape[axis + 1:])


class ResampleBackward(Op):
    """Resample's backward as an op, for create_graph: g -> A^T g (x's shape). Linear, and
    the resampling's adjoint, so its own gradient is the resampling of the output's gradient
    (and its backward_graph a Resample)."""

    def __init__(self, axis: int, indices: np.ndarray, weights: np.ndarray | None, x_shape,
                 skip: np.ndarray | None = None):
        self.axis, self.indices, self.weights, self.x_shape = axis, indices, weights, x_shape
        self.skip = skip

    def _resample(self) -> Resample:
        resample = Resample(self.axis, self.indices, self.weights, self.skip)
        resample.x_shape = self.x_shape
        return resample

    def forward(self, grad_output):
        return self._resample().backward(grad_output)[0]

    def backward(self, grad_output):
        return (self._resample().forward(grad_output),)

    def backward_graph(self, grad_output, output):
        return (Resample(self.axis, self.indices, self.weights, self.skip)(grad_output),)


def _times(block: np.ndarray, array: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """block (r, c) applied to axis 1 of array (before, c, after) -> (before, r, after), into
    ``out`` if given (written in place: a temporary copied there is several times slower): one
    matrix product when after is 1 (the last axis), else one per leading index."""
    if array.shape[2] == 1:
        y = np.matmul(array[:, :, 0], block.T, out=None if out is None else out[:, :, 0])
        return y[:, :, None]
    return np.matmul(block, array, out=out)


def resample(x: Tensor, axis: int, indices: np.ndarray, weights: np.ndarray | None,
             skip: np.ndarray | None = None) -> Tensor:
    """x resampled along ``axis`` (non-negative): indices (taps, out) into that axis, weights
    (taps, out) in x's dtype or None for one unweighted tap (nearest); skip (taps, out): True
    at the taps an output does not have (their products dropped)."""
    size = x.shape[axis]
    if indices.size and (indices.min() < 0 or indices.max() >= size):  # (the gathers wrap)
        raise ValueError(f"resample: indices must be in [0, {size}) along axis {axis}, got "
                         f"{indices.min()} to {indices.max()}")
    return Resample(axis, indices, weights, skip)(x)


def _scale(size: int, out: int, scale, align_corners: bool, opmath):
    """PyTorch's area_pixel_compute_scale, computed in opmath (float32 for float32 inputs):
    (size - 1) / (out - 1) with align_corners, else 1 / scale_factor where one was given,
    else size / out."""
    if align_corners:
        return opmath(size - 1) / opmath(out - 1) if out > 1 else opmath(0)
    if scale is not None and scale > 0:
        return opmath(1.0 / scale)
    return opmath(size) / opmath(out)


def _floor_index(real: np.ndarray, size: int) -> np.ndarray:
    """min(floor(real), size - 1), the floor taken in float32 as PyTorch's floorf."""
    return np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), size - 1)


def _cubic(t: np.ndarray, opmath) -> list[np.ndarray]:
    """The four weights of PyTorch's cubic convolution (A = -0.75) at fraction t."""
    a, one = opmath(-0.75), opmath(1)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + one), near(t), near(one - t), far(one - t + one)]


def taps(mode: str, size: int, out: int, scale, align_corners: bool, dtype,
         shortcuts: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(indices, weights) of shape (taps, out) for resampling an axis of ``size`` to ``out``
    values, as PyTorch's CPU kernels: nearest takes floor(i s) (nearest-exact floor((i + 0.5)
    s)), s = 1 / scale_factor when one is given, else size / out, in float32 whatever the dtype
    (with ``shortcuts``, as PyTorch's 2-D nearest kernel, out == size copies and out == 2 size
    takes i // 2 whatever the scale factor); linear and cubic take the source position
    s (i + 0.5) - 0.5 (align_corners: s i with s = (size - 1) / (out - 1)), clamped at 0 for
    linear, in the input's precision; linear copies when out == size. weights None: one
    unweighted tap."""
    i = np.arange(out)
    if mode == "nearest" and shortcuts and out in (size, 2 * size):
        return (i if out == size else i // 2)[None], None
    if mode in ("nearest", "nearest-exact"):
        s = _scale(size, out, scale, False, np.float32)
        if mode == "nearest":
            real = i.astype(np.float32) * s
        else:  # (i + 0.5) in double, times the float scale, rounded to float (floorf)
            real = ((i + 0.5) * np.float64(s)).astype(np.float32)
        return _floor_index(real, size)[None], None
    if mode == "linear" and out == size:
        return i[None], None
    opmath = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    s = _scale(size, out, scale, align_corners, opmath)
    if align_corners:
        real = s * i.astype(opmath)
    else:
        real = s * (i.astype(opmath) + opmath(0.5)) - opmath(0.5)
        if mode == "linear":  # OpenCV's rule: never left of the first value
            real = np.maximum(real, opmath(0))
    first = _floor_index(real, size)
    fraction = np.clip(real - first.astype(opmath), opmath(0), opmath(1))
    if mode == "linear":
        indices = np.stack([first, first + (first < size - 1)])
        weights = np.stack([opmath(1) - fraction, fraction])
    else:  # cubic: x[first - 1 .. first + 2], clamped to the axis
        indices = np.stack([np.clip(first - 1 + k, 0, size - 1) for k in range(4)])
        weights = np.stack(_cubic(fraction, opmath))
    return indices, weights.astype(dtype)


def _keys_cubic(x: np.ndarray, opmath) -> np.ndarray:
    """PIL's cubic filter (Keys, a = -0.5) at |x|, zero from 2 on: antialiasing's kernel."""
    a, x = opmath(-0.5), np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, opmath(0)))


def antialias_taps(mode: str, size: int, out: int, scale, align_corners: bool,
                   dtype) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(indices, weights, skip) (taps, out) of PyTorch's antialiased linear or cubic resampling
    (_upsample_bilinear2d_aa, PIL's rule): output i reads the inputs within ``support`` of its
    centre c = s (i + 0.5), support 1 (linear) or 2 (cubic) widened to s times that when
    downsampling (s > 1), weighted by the filter at (j - c + 0.5) / max(s, 1) and normalised to
    sum 1; taps = 2 ceil(support) + 1, those past an output's range weigh 0 and are skipped
    (True in ``skip``). In the input's precision with PyTorch's float32 roundings. out ==
    size: a copy (PyTorch skips the axis)."""
    i = np.arange(out)
    if out == size:
        return i[None], None, None
    opmath = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    s = _scale(size, out, scale, align_corners, opmath)
    half = 1.0 if mode == "linear" else 2.0
    support = opmath(half * s if s >= 1 else half)
    inverse = opmath(1.0 / s if s >= 1 else 1.0)
    center = (np.float64(s) * (i + 0.5)).astype(opmath)
    first = np.maximum(np.trunc((center - support) + 0.5).astype(np.int64), 0)
    count = np.minimum(np.trunc((center + support) + 0.5).astype(np.int64), size) - first
    j = np.arange(int(np.ceil(support)) * 2 + 1)[:, None]  # (taps, 1)
    # (j + first - c) in the input's precision, + 0.5 and / s in double, as PyTorch's kernel
    offset = ((j + first).astype(opmath) - center + 0.5) * np.float64(inverse)
    x = offset.astype(opmath)
    weights = np.maximum(opmath(1) - np.abs(x), opmath(0)) if mode == "linear" \
        else _keys_cubic(x, opmath)
    skip = j >= count
    weights = np.where(skip, opmath(0), weights)
    total = weights[0].copy()
    for row in weights[1:]:  # summed in order, as the kernel's loop
        total += row
    weights = weights / np.where(total != 0, total, opmath(1))
    indices = np.minimum(j + first, size - 1)
    return indices, weights.astype(dtype), skip if skip.any() else None


# ----------------------------------------------------------------- uint8 images (no gradient)
def resample_uint8(x: np.ndarray, sizes: tuple[int, int], scales, align_corners: bool,
                   mode: str, antialias: bool) -> np.ndarray:
    """x (N, C, H, W) uint8 resized to ``sizes`` by ``mode`` "linear" or "cubic", as PyTorch's
    uint8 kernel (PIL's): the width first, then the height, each pass in integers, its weights
    the double ones times 2^p rounded to int16 (p as large as int16 allows), each output
    (2^(p - 1) + sum w x) >> p clipped to [0, 255]."""
    y = x
    for axis, out, scale in ((3, sizes[1], scales[1]), (2, sizes[0], scales[0])):
        indices, weights, precision = _uint8_taps(mode, y.shape[axis], out, scale,
                                                  align_corners, antialias)
        moved = np.moveaxis(y, axis, -1).astype(np.int64)
        total = np.full(moved.shape[:-1] + (out,), 1 << (precision - 1), dtype=np.int64)
        for index, weight in zip(indices, weights):
            total += moved[..., index] * weight
        y = np.moveaxis(np.clip(total >> precision, 0, 255).astype(np.uint8), -1, axis)
    return np.ascontiguousarray(y)


def _uint8_taps(mode: str, size: int, out: int, scale, align_corners: bool, antialias: bool):
    """(indices (taps, out), int16 weights (taps, out), precision p) of one axis: PyTorch's
    _compute_indices_int16_weights_aa (PIL's bounds: the taps within the support of the centre,
    renormalised; antialias widens the support when downsampling; cubic's a is -0.5 there),
    but for cubic without antialias: 4 taps around the source, their indices clamped, a = -0.75."""
    if align_corners:
        s = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        s = 1.0 / scale if scale else size / out
    i = np.arange(out)
    width = 2 if mode == "linear" else 4
    if mode == "cubic" and not antialias:
        source = s * i if align_corners else s * (i + 0.5) - 0.5
        first = np.floor(source).astype(np.int64) - 1
        j = np.arange(4)[:, None]
        weights = _pil_filter(mode, (j + first - source), -0.75)
        indices = np.clip(j + first, 0, size - 1)
        for k in range(3, 0, -1):  # the taps clamped onto one index: one weight, their sum
            repeated = indices[k] == indices[k - 1]
            weights[k - 1] += np.where(repeated, weights[k], 0.0)
            weights[k] = np.where(repeated, 0.0, weights[k])
        return (indices,) + _int16(weights)
    delta = 0.5 if align_corners and not antialias else 0.0
    support = width / 2 * (s if antialias and s >= 1 else 1)
    taps = int(np.ceil(support)) * 2 + 1 if antialias else width
    inverse = 1 / s if antialias and s >= 1 else 1.0
    center = s * (i + 0.5 - delta)
    first = np.maximum((center - support + 0.5 + delta).astype(np.int64), 0)
    count = np.minimum((center + support + 0.5 + delta).astype(np.int64), size) - first
    j = np.arange(taps)[:, None]
    weights = _pil_filter(mode, (j + first - center + 0.5 - delta) * inverse, -0.5)
    weights = np.where(j < count, weights, 0.0)
    total = weights.sum(axis=0)
    weights = weights / np.where(total != 0, total, 1.0)
    return (np.minimum(j + first, size - 1),) + _int16(weights)


def _pil_filter(mode: str, x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    if mode == "linear":
        return np.maximum(1 - x, 0.0)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def _int16(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """The weights times 2^p rounded half away from zero, p the largest (< 22) with
    round(max w 2^(p + 1)) < 2^15 not holding for p + 1, as PyTorch's."""
    largest, precision = float(weights.max()), 0
    while precision < 22 and int(0.5 + largest * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    scaled = weights * (1 << precision)
    return np.trunc(scaled + np.where(weights < 0, -0.5, 0.5)).astype(np.int64), precision
