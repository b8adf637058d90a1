"""Spectral ops on numpy.fft: the complex, real-to-complex and complex-to-real transforms over
any axes, fftshift, and the framing of a signal (stft's frames and istft's overlap-add).

Each is a fixed linear map y = A x, so ``backward`` is the adjoint A^H g (PyTorch's gradients,
with its convention for complex numbers), and ``backward_graph`` applies A^H as a recorded op
whose own backward is A: a gradient of a gradient costs one more transform.
"""

from __future__ import annotations

import warnings

import numpy as np

from dlpy._caller import user_stacklevel
from dlpy.amp.state import FP32, autocast_policy
from dlpy.device import as_device
from dlpy.ops import ArgDtypeError, ArgError, DimError, NoKernelError
from dlpy.ops.arithmetic import cast
from dlpy.ops.complex import complex, complex_dtype, imag, mark, real, real_dtype, view_as_real
from dlpy.ops.pad import pad
from dlpy.ops.promotion import promote_types
from dlpy.ops.shape import getitem, swapaxes
from dlpy.tensor import Op, Tensor, default_dtype

NORMS = ("backward", "ortho", "forward")
# the adjoint of a transform scaled by s is the opposite-direction sum scaled by s too:
# numpy's name for that scale on the other transform
_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _resize(a: np.ndarray, axes, sizes) -> np.ndarray:
    """a cut or zero-padded at the end of each of ``axes`` to ``sizes`` (numpy.fft's n and s)."""
    for axis, size in zip(axes, sizes):
        n = a.shape[axis]
        if n > size:
            a = a[(slice(None),) * axis + (slice(0, size),)]
        elif n < size:
            widths = [(0, 0)] * a.ndim
            widths[axis] = (0, size - n)
            a = np.pad(a, widths)
    return a


def laid_out(a: np.ndarray, order) -> np.ndarray:
    """a copied into memory laid out axis by axis in ``order`` (outermost first), as torch's
    transform writes its result (fft.py's torch_order); a as it is when order is None."""
    if order is None or a.ndim < 2 or (a.flags.c_contiguous and list(order) == list(range(a.ndim))):
        return a  # (already so: no copy)
    out = np.empty([a.shape[axis] for axis in order], a.dtype).transpose(np.argsort(order))
    out[...] = a
    return out


class LinearOp(Op):
    """y = A x for a fixed linear map: subclasses give ``apply`` (A) and ``adjoint`` (A^H),
    computed from settings only (so a freed op can still apply them)."""

    complex_ok = True

    def apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def adjoint(self, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x):
        return self.apply(x)

    def backward(self, grad_output):
        return (self.adjoint(grad_output),)

    def backward_graph(self, grad_output, output):
        return (mark(Apply(self, adjoint=True)(grad_output)),)


class Apply(Op):
    """y = A x, or A^H x with ``adjoint``, for a LinearOp's map A: istft's overlap-add (the
    adjoint of framing) and the gradient ops of create_graph;  dx = the other one of g."""

    complex_ok = True

    def __init__(self, linear: LinearOp, adjoint: bool):
        self.linear, self.adjoint = linear, adjoint

    def forward(self, x):
        return self.linear.adjoint(x) if self.adjoint else self.linear.apply(x)

    def backward(self, grad_output):
        linear = self.linear
        return (linear.apply(grad_output) if self.adjoint else linear.adjoint(grad_output),)

    def backward_graph(self, grad_output, output):
        return (mark(Apply(self.linear, not self.adjoint)(grad_output)),)

    def describe(self) -> str:
        return f"{type(self.linear).__name__}{'Adjoint' if self.adjoint else ''}"


class FFT(LinearOp):
    """The complex DFT (or its inverse) over ``axes``, the input cut or zero-padded to ``s``
    first: numpy.fft.fftn / ifftn;  dx = the opposite transform of g with the same scale,
    cut or padded back to x's shape."""

    def __init__(self, in_shape, axes, s, norm: str, inverse: bool, order=None):
        self.in_shape, self.axes, self.s, self.norm, self.inverse = in_shape, axes, s, norm, inverse
        self.order = order

    def apply(self, x):
        transform = np.fft.ifftn if self.inverse else np.fft.fftn
        return laid_out(transform(x, self.s, self.axes, self.norm).astype(
            complex_dtype(x.dtype), copy=False), self.order)

    def adjoint(self, g):
        transform = np.fft.fftn if self.inverse else np.fft.ifftn
        grad = transform(g, self.s, self.axes, _DUAL[self.norm])
        return _resize(grad, self.axes, [self.in_shape[a] for a in self.axes])


class RFFT(LinearOp):
    """The DFT of a real x over ``axes``, only the n // 2 + 1 non-negative frequencies of the
    last of them kept: numpy.fft.rfftn;  dx = Re(inverse transform of g zero-padded to the full
    length), as PyTorch's: each kept bin counts once (no Hermitian doubling)."""

    def __init__(self, in_shape, axes, s, norm: str, order=None):
        self.in_shape, self.axes, self.s, self.norm, self.order = in_shape, axes, s, norm, order

    def apply(self, x):
        return laid_out(np.fft.rfftn(x, self.s, self.axes, self.norm).astype(
            complex_dtype(x.dtype), copy=False), self.order)

    def adjoint(self, g):
        # Re(inverse DFT of g with zeros for the negative frequencies) is a real inverse DFT
        # (half the work of the complex one) of g with the bins irfft counts twice halved
        axis, n = self.axes[-1], self.s[-1]
        halved = n - (n // 2 + 1)
        if halved > 0:
            g = g.copy()
            g[(slice(None),) * axis + (slice(1, 1 + halved),)] *= 0.5
        grad = np.fft.irfftn(g, self.s, self.axes, _DUAL[self.norm])
        grad = _resize(grad, self.axes, [self.in_shape[a] for a in self.axes])
        return grad.astype(real_dtype(g.dtype), copy=False)


class IRFFT(LinearOp):
    """The real inverse DFT over ``axes`` of the non-negative frequencies of the last axis
    (the rest implied by Hermitian symmetry), output lengths ``s``: numpy.fft.irfftn;
    dx = rfftn(g) with bins 1 .. n - (n // 2 + 1) of the last axis doubled (each stands for
    itself and its mirror), as PyTorch's, then cut or padded to x's shape."""

    def __init__(self, in_shape, axes, s, norm: str, order=None):
        self.in_shape, self.axes, self.s, self.norm, self.order = in_shape, axes, s, norm, order

    def apply(self, x):
        if x.size == 0:  # (numpy's irfftn of an empty input returns uninitialised memory)
            shape = list(x.shape)
            for axis, n in zip(self.axes, self.s):
                shape[axis] = n
            return laid_out(np.zeros(shape, real_dtype(x.dtype)), self.order)
        return laid_out(np.fft.irfftn(x, self.s, self.axes, self.norm).astype(
            real_dtype(x.dtype), copy=False), self.order)

    def adjoint(self, g):
        grad = np.fft.rfftn(g, self.s, self.axes, _DUAL[self.norm])
        axis, n = self.axes[-1], self.s[-1]
        doubled = n - (n // 2 + 1)
        if doubled > 0:
            grad[(slice(None),) * axis + (slice(1, 1 + doubled),)] *= 2
        return _resize(grad, self.axes, [self.in_shape[a] for a in self.axes])


class FFTShift(LinearOp):
    """numpy.fft.fftshift (or ifftshift with ``inverse``) over ``axes``;  dx = the other shift."""

    def __init__(self, axes, inverse: bool):
        self.axes, self.inverse = axes, inverse

    def apply(self, x):  # (a contiguous result, as torch's)
        return np.ascontiguousarray((np.fft.ifftshift if self.inverse else np.fft.fftshift)(
            x, self.axes))

    def adjoint(self, g):
        return (np.fft.fftshift if self.inverse else np.fft.ifftshift)(g, self.axes)


class Frames(LinearOp):
    """(..., length) -> (..., n_frames, frame_length): frame f is x[..., f*hop : f*hop +
    frame_length];  dx = the frames of g added back where they came from (overlap-add)."""

    def __init__(self, length: int, frame_length: int, hop: int):
        self.length, self.frame_length, self.hop = length, frame_length, hop
        self.n_frames = 1 + (length - frame_length) // hop

    def apply(self, x):
        windows = np.lib.stride_tricks.sliding_window_view(x, self.frame_length, axis=-1)
        return np.ascontiguousarray(windows[..., :self.n_frames * self.hop:self.hop, :])

    def adjoint(self, g):
        # the columns k*hop .. (k+1)*hop of every frame land side by side in x: one add per
        # hop-wide band of columns, not one per frame
        hop, n_frames, batch = self.hop, g.shape[-2], g.shape[:-2]
        out = np.zeros(batch + (self.length + hop,), g.dtype)  # room for a last, padded band
        for start in range(0, self.frame_length, hop):
            band = g[..., start:start + hop]  # (..., n_frames, hop or fewer)
            if band.shape[-1] < hop:
                band = _resize(band, (band.ndim - 1,), (hop,))
            out[..., start:start + n_frames * hop] += band.reshape(batch + (-1,))
        return np.ascontiguousarray(out[..., :self.length])


# ----------------------------------------------------------------- windows
class _LengthTypeError(ValueError, TypeError):
    """A window_length that is not an int: a ValueError, as a negative one, and torch's
    TypeError (its argument parser refuses a float)."""


def _window(name: str, window_length, periodic: bool, dtype, requires_grad: bool, device,
            values):
    """``values(n, N, r)`` at n = 0 .. N - 1 with N = window_length (+ 1 for a periodic window:
    one period of a longer symmetric one, for spectral analysis), its first window_length, as
    torch's windows; ``device`` the CPU only (dlpy.device). torch computes a window in its
    dtype step by step (visible in a float16 or bfloat16 one), so ``values`` follows its steps,
    carried in float32 (float64 for float64), each result and constant rounded to the dtype
    by ``r``."""
    as_device(device, name)
    if (isinstance(window_length, bool) or not isinstance(window_length, (int, np.integer))
            or window_length < 0):
        raise (_LengthTypeError if isinstance(window_length, bool) or not isinstance(
            window_length, (int, np.integer)) else ArgError)(
            f"{name}: window_length must be a non-negative int, got {window_length!r}")
    if not isinstance(periodic, bool):
        raise TypeError(f"{name}: periodic must be True or False, got {periodic!r}")
    dtype = np.dtype(default_dtype(dtype))
    length = int(window_length)
    if dtype.kind != "f" and dtype.name != "bfloat16" and (dtype.kind != "c" or length > 1):
        # torch: a complex dtype has no kernel (NotImplementedError; a window of length 0 or
        # 1 needs none: empty, or ones), others a RuntimeError
        raise (NoKernelError if dtype.kind == "c" else ArgDtypeError)(
            f"{name}: dtype must be a float dtype, got {dtype}")
    if length <= 1:
        array = np.ones(length, dtype)
    else:
        work = np.float64 if dtype == np.float64 else np.float32

        def r(a):  # a value of the dtype, held as float32 / float64
            return np.asarray(a).astype(dtype).astype(work)

        size = length + 1 if periodic else length
        array = values(np.arange(size, dtype=work), size, r)[:length].astype(dtype)
    return Tensor(array, requires_grad=requires_grad)


def _cos(x: np.ndarray) -> np.ndarray:
    """cos in float64, given back in x's dtype (as torch's float32 cos, within an ulp)."""
    return np.cos(x.astype(np.float64)).astype(x.dtype)


def _hamming(alpha: float, beta: float):
    """torch's steps for alpha - beta cos(2 pi n / (N - 1))."""
    def values(n, size, r):
        w = r(_cos(r(n * r(2 * np.pi / (size - 1)))))
        return r(r(w * r(-beta)) + r(alpha))
    return values


def hann_window(window_length: int, periodic: bool = True, *, dtype=None,
                device=None, requires_grad: bool = False) -> Tensor:
    """0.5 - 0.5 cos(2 pi n / (N - 1)), the default dtype unless ``dtype``
    (torch.hann_window)."""
    return _window("hann_window", window_length, periodic, dtype, requires_grad, device,
                   _hamming(0.5, 0.5))


def _in_order(name: str, **given) -> None:
    """torch's window overloads take their optional arguments in order: one may be given only
    when each before it is (kaiser_window(8, beta=5.0) needs periodic too)."""
    names = list(given)
    for before, after in zip(names, names[1:]):
        if given[after] is not None and given[before] is None:
            raise TypeError(f"{name}: {after} is given, so {before} must be too (torch's "
                            f"overloads take {', '.join(names)} in that order)")


def hamming_window(window_length: int, periodic: bool | None = None, alpha: float | None = None,
                   beta: float | None = None, *, dtype=None, device=None,
                   requires_grad: bool = False) -> Tensor:
    """alpha - beta cos(2 pi n / (N - 1)) (torch.hamming_window; periodic True, alpha 0.54 and
    beta 0.46 by default)."""
    _in_order("hamming_window", periodic=periodic, alpha=alpha, beta=beta)
    periodic = True if periodic is None else periodic
    alpha = 0.54 if alpha is None else alpha
    beta = 0.46 if beta is None else beta
    return _window("hamming_window", window_length, periodic, dtype, requires_grad, device,
                   _hamming(float(alpha), float(beta)))


def _blackman(n, size, r):
    """torch's steps for 0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))."""
    w = r(n * r(np.pi / (size - 1)))
    high = r(r(_cos(r(w * 4))) * r(0.08))
    low = r(r(_cos(r(w * 2))) * r(0.5))
    return r(r(high - low) + r(0.42))


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None,
                    device=None, requires_grad: bool = False) -> Tensor:
    """0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))."""
    return _window("blackman_window", window_length, periodic, dtype, requires_grad, device,
                   _blackman)


def _bartlett(n, size, r):
    """torch's steps for the triangle 1 - |2 n / (N - 1) - 1|: 2n / (N - 1) rising, then
    2 - that falling."""
    w = r(n * r(2 / (size - 1)))
    half = (size - 1) // 2 + 1
    w[half:] = r(2 - w[half:])
    return w


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None,
                    device=None, requires_grad: bool = False) -> Tensor:
    """The triangle 1 - |2 n / (N - 1) - 1|."""
    return _window("bartlett_window", window_length, periodic, dtype, requires_grad, device,
                   _bartlett)


def kaiser_window(window_length: int, periodic: bool | None = None, beta: float | None = None,
                  *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """I0(beta sqrt(1 - (2 n / (N - 1) - 1)^2)) / I0(beta) (periodic True, beta 12 by
    default); computed at once, as torch's kernel does."""
    _in_order("kaiser_window", periodic=periodic, beta=beta)
    periodic = True if periodic is None else periodic
    beta = 12.0 if beta is None else float(beta)
    return _window("kaiser_window", window_length, periodic, dtype, requires_grad, device,
                   lambda n, size, r: np.i0(beta * np.sqrt(np.abs(
                       1 - (2 * n.astype(np.float64) / (size - 1) - 1) ** 2))) / np.i0(beta))


# ----------------------------------------------------------------- stft and istft
def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _pad_last(x: Tensor, before: int, after: int, mode: str) -> Tensor:
    """x padded along its last axis (the complex parts one at a time: Pad is real)."""
    if x.data.dtype.kind == "c":
        return complex(_pad_last(real(x), before, after, mode),
                       _pad_last(imag(x), before, after, mode))
    if x.ndim == 1 and mode != "constant":  # F.pad's other modes need (C, L) or (N, C, L)
        return pad(x.reshape(1, -1), (before, after), mode).reshape(-1)
    return pad(x, (before, after), mode)


class PadModeError(ValueError, NotImplementedError):
    """A pad_mode stft does not know: a ValueError, and torch's NotImplementedError."""


def _stft_settings(name: str, n_fft, hop_length, win_length, window, dtype):
    """(hop, the window padded to n_fft as a Tensor), checked as torch checks them."""
    if isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < 1:
        raise ArgError(f"{name}: n_fft must be a positive int, got {n_fft!r}")
    hop = n_fft // 4 if hop_length is None else hop_length
    if isinstance(hop, bool) or not isinstance(hop, (int, np.integer)) or hop < 1:
        raise ArgError(f"{name}: hop_length must be a positive int, got {hop!r}")
    win_length = n_fft if win_length is None else win_length
    if (isinstance(win_length, bool) or not isinstance(win_length, (int, np.integer))
            or not 0 < win_length <= n_fft):
        raise ArgError(f"{name}: win_length must be an int in 1 .. n_fft ({n_fft}), got "
                       f"{win_length!r}")
    if window is None:
        warnings.warn(f"{name}: no window was given, so a rectangular one is used (spectral "
                      "leakage); pass window=torch.hann_window(...), or window=torch.ones(...) "
                      "to keep the rectangular one without this warning", UserWarning,
                      stacklevel=user_stacklevel())  # the caller of stft, past any wrapper
        window = Tensor(np.ones(win_length, real_dtype(dtype)))
    window = _as_tensor(window)
    if window.shape != (win_length,):
        raise ArgError(f"{name}: window must be 1-D of length win_length ({win_length}), got "
                       f"shape {window.shape}")
    left = (n_fft - win_length) // 2
    if left or win_length < n_fft:
        window = _pad_last(window, left, n_fft - win_length - left, "constant")
    return int(hop), window


@autocast_policy(FP32)
def stft(input, n_fft: int, hop_length: int | None = None, win_length: int | None = None,  # noqa: A002
         window=None, center: bool = True, pad_mode: str = "reflect", normalized: bool = False,
         onesided: bool | None = None, return_complex: bool | None = None,
         align_to_window: bool | None = None) -> Tensor:
    """The short-time Fourier transform, as torch.stft: (length,) or (batch, length) ->
    complex (..., n_fft // 2 + 1 or n_fft frequencies, frames), frame t the DFT of
    x[t hop : t hop + n_fft] * window (x padded by n_fft // 2 each side with ``pad_mode``
    when ``center``); ``normalized`` scales by n_fft^-1/2. ``return_complex`` must be given
    for a real input and window; False (deprecated, as torch) gives view_as_real's
    (..., 2) of the result.

    ``align_to_window`` (torch 2.13; only with ``center=False``, else a RuntimeError): frame t
    puts the window's first sample (not the zero-padded n_fft frame's) at x[t hop], so a
    window shorter than n_fft covers x[t hop : t hop + win_length] and there are
    1 + (length - win_length) // hop frames: x is zero-padded by (n_fft - win_length) // 2
    each side, as torch's. As torch, the signal must still hold n_fft samples, and when
    n_fft - win_length is odd and the last frame would run past that padding (torch reads
    out of its storage) it is an error."""
    if center and align_to_window is not None:  # torch's Python wrapper, before anything else
        raise ArgError("stft align_to_window should only be set when center = false")
    if align_to_window is not None and not isinstance(align_to_window, (bool, np.bool_)):
        raise TypeError(f"stft(): argument 'align_to_window' must be bool or None, not "
                        f"{type(align_to_window).__name__}")
    if center and pad_mode not in ("constant", "reflect", "replicate", "circular"):
        # torch's Python stft pads (F.pad checks the mode) before anything else is checked
        raise PadModeError(f"stft: pad_mode must be 'constant', 'reflect', 'replicate' or "
                           f"'circular', got {pad_mode!r}")
    x = _as_tensor(input)
    if (x.data.dtype.kind not in "fc" and x.data.dtype.name != "bfloat16") or x.ndim not in (1, 2):
        raise ArgError(f"stft: expected a float or complex 1-D (length) or 2-D (batch, "
                       f"length) tensor, got {x.dtype} of shape {x.shape}")
    hop, window = _stft_settings("stft", n_fft, hop_length, win_length, window, x.dtype)
    # the frames are transformed after the window multiplies them: in the dtype both promote
    # to, so a float16 / bfloat16 signal with a float32 window is a float32 transform
    work = promote_types(x.data.dtype, window.data.dtype)
    if work == np.float16 or work.name == "bfloat16":  # as torch's CPU FFTs
        raise ArgDtypeError(f"stft: {work.name} is not supported, convert to float32 first")
    if work != x.data.dtype:
        x = cast(x, work)
    is_complex = x.data.dtype.kind == "c" or window.data.dtype.kind == "c"
    if return_complex is None and not is_complex:
        raise ArgError("stft: return_complex must be given for a real input and window: "
                       "pass return_complex=True (view_as_real(...) gives the real and "
                       "imaginary parts as a last axis)")
    if return_complex is False:
        warnings.warn("stft with return_complex=False is deprecated (as in torch): pass "
                      "return_complex=True and take view_as_real(...) of the result",
                      UserWarning, stacklevel=user_stacklevel())
    onesided = not is_complex if onesided is None else onesided
    if onesided and is_complex:
        raise ArgError("stft: onesided=True needs a real input and window; pass "
                       "onesided=False for complex ones")
    if center:
        x = _pad_last(x, n_fft // 2, n_fft // 2, pad_mode)
    length = x.shape[-1]
    if not 0 < n_fft <= length:
        raise ArgError(f"stft: n_fft ({n_fft}) must be at most the (padded) signal length "
                       f"{length}")
    win_length = n_fft if win_length is None else int(win_length)
    if align_to_window and win_length < n_fft:
        side = (n_fft - win_length) // 2
        n_frames = 1 + (length - win_length) // hop
        if (n_frames - 1) * hop + n_fft > length + 2 * side:
            raise ArgError(f"stft: with align_to_window, the last of {n_frames} frames "
                           f"(n_fft {n_fft}, hop {hop}) runs past the signal ({length} samples "
                           f"padded by {side} each side); torch refuses it too")
        x = _pad_last(x, side, side, "constant")
        frames = mark(Frames(x.shape[-1], n_fft, hop)(x))
        frames = getitem(frames, (Ellipsis, slice(0, n_frames), slice(None))) * window
    else:
        frames = mark(Frames(length, n_fft, hop)(x)) * window  # (..., n_frames, n_fft)
    axis, norm = frames.ndim - 1, "ortho" if normalized else "backward"
    if onesided:
        spectrum = RFFT(frames.shape, (axis,), (n_fft,), norm)(frames)
    else:
        spectrum = FFT(frames.shape, (axis,), (n_fft,), norm, inverse=False)(frames)
    out = swapaxes(mark(spectrum), -1, -2)
    return view_as_real(out) if return_complex is False else out


@autocast_policy(FP32)
def istft(input, n_fft: int, hop_length: int | None = None, win_length: int | None = None,  # noqa: A002
          window=None, center: bool = True, normalized: bool = False,
          onesided: bool | None = None, length: int | None = None,
          return_complex: bool = False) -> Tensor:
    """The inverse of stft, as torch.istft: each frame's inverse DFT times the window,
    overlap-added, divided by the overlap-added squared window (which must stay above 1e-11:
    the NOLA condition), the centre padding cut off, the result cut or zero-padded to
    ``length``. complex (..., frequencies, frames) -> real (or, return_complex, complex).
    As torch: hop_length at most win_length, a complex window only with return_complex, and
    an empty output (length 0) an error."""
    x = _as_tensor(input)
    if x.ndim < 2:  # torch indexes the frequency axis first: an IndexError
        raise DimError(f"istft: expected a complex 2-D (frequencies, frames) or 3-D (batch, "
                       f"frequencies, frames) tensor, got shape {x.shape}")
    if x.data.dtype.kind != "c" or x.ndim not in (2, 3):
        raise ArgError(f"istft: expected a complex 2-D (frequencies, frames) or 3-D (batch, "
                       f"frequencies, frames) tensor, got {x.dtype} of shape {x.shape}")
    hop, window = _stft_settings("istft", n_fft, hop_length, win_length, window, x.dtype)
    if hop > (n_fft if win_length is None else win_length):  # as torch: frames must overlap
        raise ArgError(f"istft: hop_length ({hop}) must be at most win_length "
                       f"({n_fft if win_length is None else win_length})")
    n_bins, n_frames = x.shape[-2], x.shape[-1]
    onesided = n_bins != n_fft if onesided is None else onesided
    if n_bins != (n_fft // 2 + 1 if onesided else n_fft):
        raise ArgError(f"istft: expected {n_fft // 2 + 1 if onesided else n_fft} frequencies "
                       f"for n_fft {n_fft} (onesided={onesided}), got {n_bins}")
    if onesided and return_complex:
        raise ArgError("istft: a complex output needs onesided=False")
    if window.data.dtype.kind == "c" and not return_complex:
        raise ArgError("istft: a complex window needs return_complex=True (and "
                       "onesided=False)")
    if length is not None and (isinstance(length, bool)
                               or not isinstance(length, (int, np.integer)) or length < 0):
        raise ArgError(f"istft: length must be a non-negative int, got {length!r}")
    spectrum = swapaxes(x, -1, -2)  # (..., n_frames, n_bins)
    axis, norm = spectrum.ndim - 1, "ortho" if normalized else "backward"
    if return_complex:
        frames = mark(FFT(spectrum.shape, (axis,), (n_fft,), norm, inverse=True)(spectrum))
    else:  # a real output: the first n_fft // 2 + 1 bins, as torch (a two-sided input too)
        frames = IRFFT(spectrum.shape, (axis,), (n_fft,), norm)(spectrum)
    full = n_fft + hop * (n_frames - 1)
    overlap_add = Apply(Frames(full, n_fft, hop), adjoint=True)
    y = mark(overlap_add(frames * window))
    squares = window * window * Tensor(np.ones((n_frames, 1), real_dtype(window.dtype)))
    envelope = Apply(Frames(full, n_fft, hop), adjoint=True)(squares)  # (full,)
    start = n_fft // 2 if center else 0
    end = start + length if length is not None else full - (n_fft // 2 if center else 0)
    if length is None and center and n_fft == 1:  # torch slices to -(n_fft // 2), which is 0
        end = 0  # for n_fft 1: an empty output, refused below as torch refuses it
    y, envelope = getitem(y, (Ellipsis, slice(start, end))), getitem(envelope, slice(start, end))
    if not envelope.data.size:  # torch's NOLA check reduces the envelope: none is an error
        raise ArgError("istft: the output is empty (length 0 or no frames); ask for at least "
                       "one sample")
    if np.abs(envelope.data).min() < 1e-11:
        raise ArgError("istft: the overlap-added squared window falls below 1e-11 (the NOLA "
                       "condition fails): choose a window and hop_length whose frames overlap")
    y = y / envelope
    if end > full:  # a length past the frames: zeros, with torch's warning
        import warnings

        from dlpy._caller import user_stacklevel

        warnings.warn("The length of signal is shorter than the length parameter. Result is "
                      "being padded with zeros in the tail. Please check your center and "
                      "hop_length settings.", UserWarning, stacklevel=user_stacklevel())
        y = _pad_last(y, 0, end - full, "constant")
    return y
