"""Padding the last axes, as PyTorch's F.pad: with a constant, or with the input's own values
reflected, replicated or wrapped around. Negative widths crop."""

from __future__ import annotations

import numpy as np

from dlpy.amp.state import FP32, autocast_policy
from dlpy.layouts import laid_like, laid_out, suggested_format
from dlpy.node_names import named
from dlpy.ops import int_of
from dlpy.tensor import Op, Tensor

MODES = ("constant", "reflect", "replicate", "circular")


class _PadModeError(NotImplementedError, ValueError):
    """An unknown padding mode: torch's NotImplementedError, and a ValueError."""


class _PadValueOverflowError(OverflowError, RuntimeError):
    """A constant an integer x cannot hold (inf): numpy's OverflowError, and torch's
    RuntimeError ("value cannot be converted to type int64_t without overflow")."""


class Pad(Op):
    """y = x with widths[a] = (before, after) values added to (negative: cut from) each axis a.

    constant: y = x cropped, then surrounded by value;  dx = the inner part of g, zero where x
    was cropped. reflect / replicate / circular: y = x gathered along each padded axis by an
    index map (position p -> p reflected, clipped or wrapped into the axis);  dx = g scattered
    back by the same maps, so a value copied several times gets the sum of its copies' grads.
    """

    complex_ok = True
    saves = (0,)  # reflect / replicate: x, as torch's nodes (backward reads only sizes)

    def __init__(self, widths, mode: str, value: float, dims: int = 1):
        self.widths, self.mode, self.value = widths, mode, value
        if mode in ("constant", "circular"):  # (torch's ConstantPadNdBackward0 and its
            self.saves = ()  # circular pad's slices and cat save no tensor)
        self.dims = dims  # the (before, after) pairs given: torch's ReflectionPad{dims}D node

    def free(self) -> None:
        """A constant pad keeps only its widths, as torch's ConstantPadNdBackward0: not freed,
        so a second backward through it works; the other modes' nodes save their input."""
        if self.mode != "constant":
            super().free()

    def forward(self, x):
        self.x_shape = x.shape
        if self.mode == "constant":
            grown, cut = _split(self.widths)
            try:
                y = np.pad(x[_inner(x.shape, cut)], grown or 0,  # (or 0: a 0-d x)
                           constant_values=self.value)
            except OverflowError as error:  # inf into integers: numpy's message, torch's class
                raise _PadValueOverflowError(str(error)) from None
            except ValueError as error:  # nan into integers
                raise PadError(str(error)) from None
        else:
            y = x
            for axis, index in _index_maps(self.widths, self.mode, x.shape):
                y = np.take(y, index, axis=axis)
        fmt = suggested_format(x)
        if self.mode != "circular" and fmt is not None:
            # as torch's: channels-last or channels_last_3d (its circular pad by cat: not)
            return laid_out(y, fmt)
        return y

    def backward(self, grad_output):
        grad = self.scatter(grad_output)
        if self.mode not in ("constant", "circular"):  # laid out as x, as torch's
            grad = laid_like(grad, self.inputs[0].data)
        return (grad,)

    def scatter(self, grad_output: np.ndarray) -> np.ndarray:
        """g scattered back onto x's shape: the input's gradient."""
        if self.mode == "constant":
            grown, cut = _split(self.widths)
            return np.pad(grad_output[_inner(grad_output.shape, grown)], cut or 0)
        grad = grad_output
        for axis, index in reversed(_index_maps(self.widths, self.mode, self.x_shape)):
            n, before = self.x_shape[axis], self.widths[axis][0]
            shape = grad.shape[:axis] + (n,) + grad.shape[axis + 1:]
            summed = np.zeros(shape, dtype=grad.dtype)
            at = (slice(None),) * axis  # index along this axis: grad[at + (j,)]
            # outputs lo..hi are x's own values in order: one block; then the few copies at
            # the edges one at a time (faster than np.add.at over the whole axis)
            lo = min(max(before, 0), len(index))
            hi = min(max(before + n, lo), len(index))
            summed[at + (slice(lo - before, hi - before),)] = grad[at + (slice(lo, hi),)]
            for j in (*range(lo), *range(hi, len(index))):
                summed[at + (index[j],)] += grad[at + (j,)]
            grad = summed
        return grad

    def backward_graph(self, grad_output, output):
        if self.mode == "constant":
            grown, cut = _split(self.widths)
            grad = grad_output[_inner(grad_output.shape, grown)]
            return (Pad(cut, "constant", 0.0)(grad) if any(map(any, cut)) else grad,)
        x = self.inputs[0]
        if self.mode != "circular" and x.requires_grad:  # tied to x, as torch's pad backwards
            kind = "Reflection" if self.mode == "reflect" else "Replication"
            return (named(PadGrad(self)(grad_output, x),
                          f"{kind}Pad{self.dims}DBackwardBackward0"),)
        from dlpy.ops.indexing import add_at  # indexing's backward_graph uses Pad

        grad = grad_output
        for axis, index in reversed(_index_maps(self.widths, self.mode, self.x_shape)):
            shape = grad.shape[:axis] + (self.x_shape[axis],) + grad.shape[axis + 1:]
            grad = add_at(shape, axis, index, grad)
        return (grad,)


class PadGrad(Op):
    """A reflect / replicate Pad's gradient as an op, for create_graph: y = g scattered back
    (Pad.backward), recorded with x as an input, as torch's reflection_pad_backward, so that a
    gradient of it reaches x, as zeros, instead of leaving x unused;  dg = Pad of dy."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def __init__(self, pad: Pad):
        self.pad = Pad(pad.widths, pad.mode, pad.value, pad.dims)
        self.pad.x_shape = pad.x_shape

    def forward(self, grad, x):
        self.zeros_dtype = x.dtype
        return self.pad.scatter(grad)

    def backward(self, grad_output):
        grad = np.ascontiguousarray(Pad.forward(self.pad, grad_output))
        return grad, np.zeros(self.pad.x_shape, self.zeros_dtype)

    def backward_graph(self, grad_output, output):
        pad = self.pad
        return (Pad(pad.widths, pad.mode, pad.value, pad.dims)(grad_output),
                Tensor(np.zeros(pad.x_shape, self.zeros_dtype)))


def _split(widths):
    """The positive widths (values added) and the negative ones as positive counts (cut)."""
    return (tuple((max(b, 0), max(a, 0)) for b, a in widths),
            tuple((max(-b, 0), max(-a, 0)) for b, a in widths))


def _inner(shape, amounts):
    """The index that drops amounts[a] = (before, after) entries from each end of each axis."""
    return tuple(slice(b, n - a) for n, (b, a) in zip(shape, amounts))


def _index_maps(widths, mode, shape):
    """[(axis, index)] for each padded axis: y along that axis is x.take(index, axis)."""
    maps = []
    for axis, ((before, after), n) in enumerate(zip(widths, shape)):
        if before == 0 and after == 0:
            continue
        p = np.arange(-before, n + after)  # each output's position in x's coordinates
        if mode == "reflect":  # once at each end: |before|, |after| < n (checked)
            p = np.abs(p)
            p = np.where(p > n - 1, 2 * (n - 1) - p, p)
        elif mode == "replicate":
            p = np.clip(p, 0, n - 1)
        else:  # circular, as torch: crop first, then wrap around what is left
            start, kept = max(-before, 0), n - max(-before, 0) - max(-after, 0)
            p = start + (np.arange(-max(before, 0), kept + max(after, 0)) % kept)
        maps.append((axis, p))
    return maps


def _shape_of(x):
    return np.shape(x.data if isinstance(x, Tensor) else x)


class PadError(RuntimeError, ValueError):
    """Widths that do not fit x, or a reflect / replicate pad of an empty axis: torch's
    RuntimeError, and a ValueError as dlpy's argument errors are."""


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """x with its last len(pad) // 2 axes padded, in PyTorch's order: pad = (last axis before,
    last axis after, second last before, ...). A negative width crops. mode: "constant" (with
    value, default 0), "reflect" (no edge repeat), "replicate" (edge repeated) or "circular".
    A width may be a 0-d integer Tensor, as torch's (``(max_len - lens[i], 0)``)."""
    shape = _shape_of(input)
    if isinstance(pad, (tuple, list)):
        pad = tuple(p if (i := int_of(p)) is None else i for p in pad)
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise PadError(f"pad: pad needs a (before, after) pair per axis, an even length, got "
                       f"{len(pad)}: {tuple(pad)}")
    if len(pad) // 2 > len(shape):
        raise PadError(f"pad: pad {tuple(pad)} has {len(pad) // 2} pairs but x has only "
                       f"{len(shape)} axes, shape {shape}")
    if mode not in MODES:
        raise _PadModeError(f"pad: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if value is not None and not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"pad: value must be a number, got {value!r}")
    if mode != "constant" and value not in (None, 0):
        raise PadError(f"pad: mode {mode!r} takes no value, got {value!r}")
    if mode != "constant":
        _check_non_constant(mode, shape, len(pad), input)
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    widths = ((0, 0),) * (len(shape) - len(pairs)) + tuple(pairs)
    if mode in ("reflect", "replicate"):
        # torch's kernels refuse an output with every padded axis empty, and one of negative
        # size; one empty padded axis among longer ones gives an empty result
        sizes = [n + before + after for (before, after), n in zip(pairs, shape[-len(pairs):])]
        if max(sizes) < 1 or min(sizes) < 0:
            i = int(np.argmin(sizes))
            axis = len(shape) - len(pairs) + i
            also = " (nor of the other padded axes)" if len(sizes) > 1 and max(sizes) < 1 else ""
            raise PadError(f"pad: {pairs[i]} leaves nothing of axis {axis} (size {shape[axis]}) "
                           f"of x {shape}{also}")
    for axis, ((before, after), n) in enumerate(zip(widths, shape)):
        if (before, after) == (0, 0):
            continue
        where = f"axis {axis} (size {n}) of x {shape}"
        if mode == "constant" and n - max(-before, 0) - max(-after, 0) < 0:
            raise PadError(f"pad: cannot crop {(before, after)} from {where}")
        if mode == "reflect" and max(before, after) >= n:
            raise PadError(f"pad: reflect needs widths below the size, got {(before, after)} "
                           f"for {where}")
        # circular: a crop to nothing with no widths added gives an empty axis, as torch
        if mode == "circular" and (max(before, after) > n or n - max(-before, 0)
                                   - max(-after, 0) < max(before, after, 0)):
            raise PadError(f"pad: circular needs widths at most the size (after any crop), "
                           f"got {(before, after)} for {where}")
    if mode == "replicate" or (mode == "reflect" and len(pairs) < 3):
        return _float32_pad(input, widths, mode, len(pairs))  # torch's autocast float32 list
    return Pad(widths, mode, 0.0 if value is None else float(value), len(pairs))(input)


def _check_non_constant(mode: str, shape, length: int, x) -> None:
    """torch's rules for reflect / replicate / circular: 2, 4 or 6 widths for an input of that
    many axes + 1 (unbatched) or + 2; reflect and replicate also refuse empty non-batch axes and
    bool inputs."""
    if len(shape) not in (length // 2 + 1, length // 2 + 2) or length not in (2, 4, 6):
        raise NotImplementedError(
            f"pad: mode {mode!r} pads 1, 2 or 3 last axes of an input with one or two more "
            f"(2D or 3D input: 2 widths; 3D or 4D: 4; 4D or 5D: 6), got {length} widths for x "
            f"{shape}, as torch")
    if mode == "circular":
        return
    batched = len(shape) == length // 2 + 2
    if 0 in shape[1 if batched else 0:]:
        raise PadError(f"pad: mode {mode!r} needs non-empty axes (but the batch), got x "
                       f"{shape}")
    dtype = x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    if np.dtype(dtype) == np.bool_:
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented for bool, as torch")


@autocast_policy(FP32)
def _float32_pad(x: Tensor, widths, mode: str, dims: int) -> Tensor:
    """torch's reflection_pad1d/2d and replication_pad1d/2d/3d: float32 under autocast
    (reflection_pad3d is off the list: it keeps bfloat16)."""
    return Pad(widths, mode, 0.0, dims)(x)
