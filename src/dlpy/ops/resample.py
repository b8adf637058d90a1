"""Resampling along one axis by a few taps per output: nearest, linear and cubic interpolation
with PyTorch's index and weight rules (F.interpolate applies one Resample per spatial axis).

    indices, weights = taps("linear", size=5, out=8, scale=None, align_corners=False,
                            dtype=np.float32)
    y = resample(x, axis=2, indices=indices, weights=weights)
"""

from __future__ import annotations

import numpy as np

from dlpy.tensor import Op, Tensor


class Resample(Op):
    """y[.., i, ..] = sum_k weights[k, i] x[.., indices[k, i], ..] along ``axis`` (no weights:
    one tap, a copy);  dx[.., j, ..] = sum over (k, i) with indices[k, i] = j of
    weights[k, i] g[.., i, ..]. Each tap's products are summed by runs of equal indices
    (np.add.reduceat; interpolation's indices never decrease along i), never by np.add.at.
    """

    def __init__(self, axis: int, indices: np.ndarray, weights: np.ndarray | None):
        self.axis, self.indices, self.weights = axis, indices, weights

    def _along(self, values: np.ndarray, ndim: int) -> np.ndarray:
        """values (out,) shaped to broadcast along the axis."""
        return values.reshape((-1,) + (1,) * (ndim - self.axis - 1))

    def forward(self, x):
        self.x_shape = x.shape
        y = None
        for k, index in enumerate(self.indices):
            term = np.take(x, index, axis=self.axis)
            if self.weights is not None:
                term *= self._along(self.weights[k], x.ndim)
            if y is None:
                y = term
            else:
                y += term
        return y

    def backward(self, grad_output):
        axis = self.axis
        grad = np.zeros(self.x_shape, dtype=grad_output.dtype)
        at = (slice(None),) * axis
        for k, index in enumerate(self.indices):
            part = grad_output
            if self.weights is not None:
                part = grad_output * self._along(self.weights[k], grad_output.ndim)
            order = np.argsort(index, kind="stable")  # the identity for interpolation's taps
            index = index[order]
            if np.any(order != np.arange(order.size)):
                part = np.take(part, order, axis=axis)
            starts = np.flatnonzero(np.concatenate(([True], index[1:] != index[:-1])))
            grad[at + (index[starts],)] += np.add.reduceat(part, starts, axis=axis)
        return (grad,)


def resample(x: Tensor, axis: int, indices: np.ndarray, weights: np.ndarray | None) -> Tensor:
    """x resampled along ``axis`` (non-negative): indices (taps, out) into that axis, weights
    (taps, out) in x's dtype or None for one unweighted tap (nearest)."""
    return Resample(axis, indices, weights)(x)


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
