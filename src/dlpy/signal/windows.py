"""torch.signal.windows: the window functions, with torch's arguments (``sym``, ``dtype``,
``requires_grad``) and formulas.

Each is computed as torch's: its linspace grid and its formula in ``dtype`` (float32 or
float64; None: the default dtype), so float32 windows round as torch's (a blackman window's
ends are -1.49e-08 there, not 0); with ``requires_grad`` the grid (and general_cosine's
coefficients) are the leaves, the window computed from them. ``sym=False`` gives the periodic
window (for spectral analysis)."""

from __future__ import annotations

import math

import numpy as np

from dlpy.tensor import Tensor, default_dtype

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine",
           "general_hamming", "hamming", "hann", "kaiser", "nuttall"]


class _LengthTypeError(ValueError, TypeError):
    """A window length M that is not an int: a ValueError, as a negative one (torch's), and
    torch's TypeError (its linspace refuses a float M)."""


def _check(name: str, M, dtype) -> np.dtype:
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or M < 0:
        raise (_LengthTypeError if isinstance(M, bool) or not isinstance(M, (int, np.integer))
               else ValueError)(f"{name}: requires a non-negative integer window length, got "
                                f"M={M!r}")
    try:
        dtype = np.dtype(default_dtype(dtype))
    except TypeError:
        raise ValueError(f"{name}: expects float32 or float64 dtypes, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: expects float32 or float64 dtypes, got {dtype}")
    return dtype


def _window(values, dtype, requires_grad: bool) -> Tensor:
    return Tensor(np.asarray(values, np.float64).astype(dtype), requires_grad=requires_grad)


def _denominator(M: int, sym: bool) -> int:
    """The symmetric window spans M - 1 steps; the periodic one is the first M of M + 1."""
    return M - 1 if sym else M


def _empty(dtype, requires_grad: bool) -> Tensor:
    return _window(np.empty(0), dtype, requires_grad)


def _ones(M: int, dtype, requires_grad: bool) -> Tensor:
    return _window(np.ones(M), dtype, requires_grad)


def _lin(start, end, M: int, dtype, requires_grad: bool) -> Tensor:
    """torch's grid: linspace in the window's dtype (its values, and the leaf a gradient
    reaches where requires_grad)."""
    import dlpy

    return dlpy.linspace(start, end, M, dtype=dtype, requires_grad=requires_grad)


def exponential(M: int, *, center: float | None = None, tau: float = 1.0, sym: bool = True,
                dtype=None, requires_grad: bool = False) -> Tensor:
    """exp(-|n - center| / tau); center defaults to the middle of the window."""
    import dlpy

    dtype = _check("exponential", M, dtype)
    if tau <= 0:
        raise ValueError(f"exponential: tau must be positive, got {tau}")
    if sym and center is not None:
        raise ValueError(f"exponential: center must be None for symmetric windows, got {center}")
    if M == 0:
        return _empty(dtype, requires_grad)
    if center is None:
        center = (M if not sym and M > 1 else M - 1) / 2.0
    constant = 1 / tau
    k = _lin(-center * constant, (-center + (M - 1)) * constant, M, dtype, requires_grad)
    return dlpy.exp(-dlpy.abs(k))


def cosine(M: int, *, sym: bool = True, dtype=None, requires_grad: bool = False) -> Tensor:
    """sin(pi * (n + 1/2) / M) (the sine window)."""
    import dlpy

    dtype = _check("cosine", M, dtype)
    if M == 0:
        return _empty(dtype, requires_grad)
    constant = math.pi / (M + 1 if not sym and M > 1 else M)
    return dlpy.sin(_lin(0.5 * constant, (0.5 + (M - 1)) * constant, M, dtype, requires_grad))


def gaussian(M: int, *, std: float = 1.0, sym: bool = True, dtype=None,
             requires_grad: bool = False) -> Tensor:
    """exp(-(n - (M - 1)/2)^2 / (2 std^2))."""
    import dlpy

    dtype = _check("gaussian", M, dtype)
    if std <= 0:
        raise ValueError(f"gaussian: std must be positive, got {std}")
    if M == 0:
        return _empty(dtype, requires_grad)
    start = -(M if not sym and M > 1 else M - 1) / 2.0
    constant = 1 / (std * math.sqrt(2))
    k = _lin(start * constant, (start + (M - 1)) * constant, M, dtype, requires_grad)
    return dlpy.exp(-(k ** 2))


def kaiser(M: int, *, beta: float = 12.0, sym: bool = True, dtype=None,
           requires_grad: bool = False) -> Tensor:
    """I0(beta * sqrt(1 - (2n/(M-1) - 1)^2)) / I0(beta)."""
    import dlpy

    dtype = _check("kaiser", M, dtype)
    if beta < 0:
        raise ValueError(f"kaiser: beta must be non-negative, got {beta}")
    if M <= 1:
        return _ones(M, dtype, requires_grad)
    beta = dlpy.tensor(beta, dtype=dtype)  # torch makes beta a tensor of dtype first
    start = -beta
    end = dlpy.minimum(beta, start + (M - 1) * (2.0 * beta / _denominator(M, sym)))
    k = _lin(start, end, M, dtype, requires_grad)
    return dlpy.i0(dlpy.sqrt(beta * beta - dlpy.pow(k, 2))) / dlpy.i0(beta)


def general_cosine(M: int, *, a, sym: bool = True, dtype=None,
                   requires_grad: bool = False) -> Tensor:
    """sum_i (-1)^i a_i cos(2 pi i n / (M - 1))."""
    return _general_cosine("general_cosine", M, a, sym, dtype, requires_grad)


def _general_cosine(name: str, M: int, a, sym: bool, dtype, requires_grad: bool) -> Tensor:
    import dlpy

    dtype = _check(name, M, dtype)
    if M <= 1:
        return _ones(M, dtype, requires_grad)
    if isinstance(a, (str, bytes)) or not hasattr(a, "__iter__"):
        raise TypeError(f"{name}: coefficients a must be a list or tuple, got "
                        f"{type(a).__name__}")
    if not a:  # (as torch's, a tensor's truth value: ambiguous for more than one element)
        raise ValueError(f"{name}: coefficients a cannot be empty")
    a = [float(w) for w in a]
    k = _lin(0, (M - 1) * (2 * math.pi / _denominator(M, sym)), M, dtype, requires_grad)
    a_i = dlpy.tensor([(-1) ** i * w for i, w in enumerate(a)], dtype=dtype,
                      requires_grad=requires_grad)
    i = dlpy.arange(len(a), dtype=dtype, requires_grad=requires_grad)
    return (a_i.unsqueeze(-1) * dlpy.cos(i.unsqueeze(-1) * k)).sum(0)


def general_hamming(M: int, *, alpha: float = 0.54, sym: bool = True, dtype=None,
                    requires_grad: bool = False) -> Tensor:
    """alpha - (1 - alpha) cos(2 pi n / (M - 1))."""
    return _general_cosine("general_hamming", M, [alpha, 1.0 - alpha], sym, dtype,
                           requires_grad)


def hamming(M: int, *, sym: bool = True, dtype=None, requires_grad: bool = False) -> Tensor:
    """0.54 - 0.46 cos(2 pi n / (M - 1))."""
    return _general_cosine("hamming", M, [0.54, 0.46], sym, dtype, requires_grad)


def hann(M: int, *, sym: bool = True, dtype=None, requires_grad: bool = False) -> Tensor:
    """0.5 - 0.5 cos(2 pi n / (M - 1))."""
    return _general_cosine("hann", M, [0.5, 0.5], sym, dtype, requires_grad)


def blackman(M: int, *, sym: bool = True, dtype=None, requires_grad: bool = False) -> Tensor:
    """0.42 - 0.5 cos(2 pi n / (M - 1)) + 0.08 cos(4 pi n / (M - 1))."""
    return _general_cosine("blackman", M, [0.42, 0.5, 0.08], sym, dtype, requires_grad)


def nuttall(M: int, *, sym: bool = True, dtype=None, requires_grad: bool = False) -> Tensor:
    """The minimum 4-term Blackman-Harris window (Nuttall's coefficients)."""
    return _general_cosine("nuttall", M, [0.3635819, 0.4891775, 0.1365995, 0.0106411], sym,
                           dtype, requires_grad)


def bartlett(M: int, *, sym: bool = True, dtype=None, requires_grad: bool = False) -> Tensor:
    """1 - |2n/(M - 1) - 1| (the triangular window with zero ends)."""
    import dlpy

    dtype = _check("bartlett", M, dtype)
    if M <= 1:
        return _ones(M, dtype, requires_grad)
    return 1 - dlpy.abs(_lin(-1, -1 + (M - 1) * (2 / _denominator(M, sym)), M, dtype,
                             requires_grad))
