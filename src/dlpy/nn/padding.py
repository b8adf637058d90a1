"""Padding layers with PyTorch's names (ZeroPad2d, ReflectionPad1d, ...): each keeps its widths as
a tuple in F.pad's order (last axis first: left, right, top, bottom, front, back) and calls
F.pad."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module
from dlpy.ops import ArgError, UnsupportedArgError
from dlpy.tensor import Tensor


class _PaddingTypeError(ValueError, TypeError):
    """Padding widths that are not ints: a ValueError, as dlpy's other padding errors, and
    torch's TypeError (F.pad's argument parser refuses a float)."""


def _widths(name: str, padding, count: int, exact: bool = True) -> tuple[int, ...]:
    """An int (the same on every side) or ``count`` ints, as PyTorch's padding layers take; not
    ``exact`` (constant padding): any even number of ints, as torch's F.pad takes on the call."""
    widths = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * count
    not_int = not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool)
                      for w in widths)
    if (len(widths) != count if exact else len(widths) % 2) or not_int:
        # torch: a float a TypeError, an odd count a RuntimeError, an even count that does
        # not fit the input's rank a NotImplementedError ("Padding size 2 is not supported")
        error = _PaddingTypeError if not_int else ArgError if len(widths) % 2 \
            else UnsupportedArgError
        raise error(f"{name}: padding must be an int or {count} ints, got {padding!r}")
    return tuple(int(w) for w in widths)


class _PadNd(Module):
    """What the padding layers share: ``padding`` (F.pad's widths, last axis first), set by
    the layer's constructor (or, as torch's bases leave it, by a subclass's), padded in
    ``mode`` over ``axes`` axes."""

    mode = "constant"
    axes = 1  # the padded axes: 1, 2 or 3

    def _set_padding(self, padding) -> None:
        """``padding``: an int (the same each side) or 2 * axes ints, kept as a tuple."""
        try:
            self.padding = _widths(type(self).__name__, padding, 2 * self.axes,
                                   exact=self.mode != "constant")
        except (ArgError, UnsupportedArgError, _PaddingTypeError):
            # as PyTorch's: its layers keep any widths (_pair / _quadruple pass a sequence
            # through) and F.pad refuses them on the call
            self.padding = tuple(padding) if isinstance(padding, (tuple, list)) \
                else (padding,) * (2 * self.axes)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        ndim = np.ndim(input.data if isinstance(input, Tensor) else input)
        # the padded axes: the layer's for circular (PyTorch's CircularPad checks the rank),
        # else as many as the widths pair up to (F.pad's check; an odd count is F.pad's error)
        axes = self.axes if self.mode == "circular" else len(self.padding) // 2
        if len(self.padding) % 2 and self.mode != "circular":
            return F.pad(input, self.padding, self.mode)
        if ndim not in (axes + 1, axes + 2):  # as PyTorch's (constant: any rank)
            # torch's NotImplementedError ("Padding size 4 is not supported for 2D input"),
            # its RuntimeError where the widths outnumber the axes: both RuntimeErrors
            raise UnsupportedArgError(f"{type(self).__name__}: expected a {axes + 1}-D "
                                      f"(unbatched) or {axes + 2}-D input, got {ndim}-D")
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _Widths:
    """The constructor of the reflection, replication and circular layers: ``padding`` only."""

    def __init__(self, padding):
        super().__init__()
        self._set_padding(padding)


class _ConstantPadNd(_PadNd):
    """Constant padding with ``value`` (torch's base: ``__init__(value)``; the layers, and a
    subclass, set ``padding``)."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ConstantWidths:
    """The constructor of the constant padding layers: ``padding``, then ``value``."""

    def __init__(self, padding, value: float):
        super().__init__(value)
        self._set_padding(padding)


class _ReflectionPadNd(_PadNd):
    """Padding with the values mirrored at each edge (torch's base)."""

    mode = "reflect"


class _ReplicationPadNd(_PadNd):
    """Padding with the edge values repeated (torch's base)."""

    mode = "replicate"


class _CircularPadNd(_PadNd):
    """Padding wrapped around (torch's base)."""

    mode = "circular"


class ConstantPad1d(_ConstantWidths, _ConstantPadNd):
    """Pads the last axis with ``value``: padding an int or (left, right)."""


class ConstantPad2d(_ConstantWidths, _ConstantPadNd):
    """Pads the last two axes with ``value``: padding an int or (left, right, top, bottom)."""

    axes = 2


class ConstantPad3d(_ConstantWidths, _ConstantPadNd):
    """Pads the last three axes with ``value``: padding an int or (left, right, top, bottom,
    front, back)."""

    axes = 3


class _ZeroPadNd:
    """The zero padding layers (each a ConstantPad of its rank, as torch's): ``padding`` only,
    value 0."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd, ConstantPad1d):
    """Pads the last axis with zeros: padding an int or (left, right)."""


class ZeroPad2d(_ZeroPadNd, ConstantPad2d):
    """Pads the last two axes with zeros: padding an int or (left, right, top, bottom)."""


class ZeroPad3d(_ZeroPadNd, ConstantPad3d):
    """Pads the last three axes with zeros: padding an int or six ints."""


class ReflectionPad1d(_Widths, _ReflectionPadNd):
    """(C, L) or (N, C, L): the values mirrored at each end (no edge repeat), widths below L."""


class ReflectionPad2d(_Widths, _ReflectionPadNd):
    """(C, H, W) or (N, C, H, W): the values mirrored at each edge, widths below the size."""

    axes = 2


class ReflectionPad3d(_Widths, _ReflectionPadNd):
    """(C, D, H, W) or (N, C, D, H, W): the values mirrored at each face."""

    axes = 3


class ReplicationPad1d(_Widths, _ReplicationPadNd):
    """(C, L) or (N, C, L): the end values repeated."""


class ReplicationPad2d(_Widths, _ReplicationPadNd):
    """(C, H, W) or (N, C, H, W): the edge values repeated."""

    axes = 2


class ReplicationPad3d(_Widths, _ReplicationPadNd):
    """(C, D, H, W) or (N, C, D, H, W): the face values repeated."""

    axes = 3


class CircularPad1d(_Widths, _CircularPadNd):
    """(C, L) or (N, C, L): wrapped around (the other end's values), widths up to L."""


class CircularPad2d(_Widths, _CircularPadNd):
    """(C, H, W) or (N, C, H, W): wrapped around, as a torus."""

    axes = 2


class CircularPad3d(_Widths, _CircularPadNd):
    """(C, D, H, W) or (N, C, D, H, W): wrapped around along each axis."""

    axes = 3
