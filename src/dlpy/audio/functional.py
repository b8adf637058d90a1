"""torchaudio.functional's counterpart: spectrograms, mel/linear filter banks, the DCT, decibels,
mu-law, band-limited resampling, deltas, masking and first-order filters, built from dlpy ops
(stft/istft, matmul, pad) so gradients reach the waveform where torchaudio's do. Shapes are
torchaudio's: waveforms (..., time), spectrograms (..., freq, time). Filter banks and DCT
matrices are float32 Tensors, as torch's defaults; the numpy builders (float64) behind them are
shared with the Whisper feature extractor and the speech pipeline's resampler."""

from __future__ import annotations

import math
import warnings

import numpy as np

import dlpy
from dlpy.ops.complex import complex as _complex
from dlpy.ops.complex import mark
from dlpy.ops.pad import pad as _pad
from dlpy.ops.shape import getitem
from dlpy.ops.spectral import Frames, istft, stft
from dlpy.tensor import Op, Tensor

__all__ = ["DB_to_amplitude", "amplitude_to_DB", "apply_resample_kernel", "biquad",
           "compute_deltas", "create_dct", "deemphasis", "detect_pitch_frequency", "gain",
           "griffinlim", "hz_to_mel", "inverse_spectrogram", "lfilter", "linear_fbanks",
           "mask_along_axis", "mask_along_axis_iid", "mel_to_hz", "melscale_fbanks",
           "melscale_filters", "mu_law_decoding", "mu_law_encoding", "preemphasis", "resample",
           "sinc_resample_kernel", "spectral_centroid", "spectrogram"]


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _real_dtype(x: Tensor) -> np.dtype:
    """x's float dtype (float32 for a complex64 x, float32 for an integer one)."""
    kind = x.data.dtype
    if kind.kind == "c":
        return np.dtype(np.float32 if kind == np.complex64 else np.float64)
    return kind if kind.kind == "f" else np.dtype(np.float32)


def _window_like(window, x: Tensor) -> Tensor:
    """The window as a Tensor in x's float dtype (a module's float32 buffer beside a float64
    waveform: torch would need module.double(), dlpy casts)."""
    window = _tensor(window)
    dtype = _real_dtype(x)
    return window if window.data.dtype == dtype else Tensor(window.data.astype(dtype))


def _spec_norms(name: str, normalized) -> tuple[bool, bool]:
    """(frame_length_norm, window_norm) from torchaudio's ``normalized``: True or "window"
    divides by the window's L2 norm, "frame_length" by n_fft ** 0.5 (stft's normalized)."""
    if isinstance(normalized, str):
        if normalized not in ("frame_length", "window"):
            raise ValueError(f"{name}: normalized must be True, False, 'window' or "
                             f"'frame_length', got {normalized!r}")
        return normalized == "frame_length", normalized == "window"
    if isinstance(normalized, bool):
        return False, normalized
    raise TypeError(f"{name}: normalized must be a bool or a str, got {type(normalized).__name__}")


# ----------------------------------------------------------------- spectrograms
def spectrogram(waveform, pad: int, window, n_fft: int, hop_length: int, win_length: int,
                power: float | None, normalized, center: bool = True, pad_mode: str = "reflect",
                onesided: bool = True, return_complex: bool | None = None) -> Tensor:
    """(..., time) -> (..., n_fft // 2 + 1, frames): |stft|^power, or the complex stft when
    ``power`` is None; the waveform zero-padded by ``pad`` each side first."""
    if return_complex is not None:
        warnings.warn("spectrogram: return_complex is deprecated and has no effect (power=None "
                      "returns the complex spectrogram)", stacklevel=2)
    x = _tensor(waveform)
    if x.data.dtype.kind != "f":
        raise TypeError(f"spectrogram: expected a float waveform (..., time), got {x.dtype}")
    if pad > 0:
        x = _pad(x, (pad, pad), "constant")
    frame_length_norm, window_norm = _spec_norms("spectrogram", normalized)
    window = _window_like(window, x)
    shape = x.shape
    spec = stft(x.reshape(-1, shape[-1]), n_fft, hop_length, win_length, window, center,
                pad_mode, frame_length_norm, onesided, return_complex=True)
    spec = spec.reshape(shape[:-1] + spec.shape[-2:])
    if window_norm:
        spec = spec / float(np.sqrt((window.data.astype(np.float64) ** 2).sum()))
    if power is None:
        return spec
    return spec.abs() if power == 1.0 else spec.abs().pow(power)


def inverse_spectrogram(spectrogram, length: int | None, pad: int, window, n_fft: int,  # noqa: F811
                        hop_length: int, win_length: int, normalized, center: bool = True,
                        pad_mode: str = "reflect", onesided: bool = True) -> Tensor:
    """complex (..., freq, frames) -> (..., time): istft, the least-squares inverse of
    ``spectrogram(power=None)``; with ``length``, the ``pad`` samples each side cut off."""
    spec = _tensor(spectrogram)
    frame_length_norm, window_norm = _spec_norms("inverse_spectrogram", normalized)
    if spec.data.dtype.kind != "c":
        raise ValueError(f"inverse_spectrogram: expected a complex spectrogram (..., freq, time), "
                         f"got {spec.dtype}")
    window = _window_like(window, spec)
    if window_norm:
        spec = spec * float(np.sqrt((window.data.astype(np.float64) ** 2).sum()))
    shape = spec.shape
    waveform = istft(spec.reshape(-1, shape[-2], shape[-1]), n_fft, hop_length, win_length,
                     window, center, frame_length_norm, onesided,
                     length + 2 * pad if length is not None else None)
    if length is not None and pad > 0:
        waveform = waveform[:, pad:-pad]
    return waveform.reshape(shape[:-2] + waveform.shape[-1:])


def griffinlim(specgram, window, n_fft: int, hop_length: int, win_length: int, power: float,
               n_iter: int, momentum: float, length: int | None, rand_init: bool) -> Tensor:
    """A waveform (..., time) whose spectrogram's magnitude is ``specgram`` (..., freq, frames)
    ** (1 / power): fast Griffin-Lim, ``n_iter`` rounds of istft/stft keeping the phase, with
    ``momentum``; the phase starts random (dlpy's default generator) or at zero."""
    if not 0 <= momentum < 1:
        raise ValueError(f"griffinlim: momentum must be in [0, 1), got {momentum}")
    momentum = momentum / (1 + momentum)
    spec = _tensor(specgram)
    shape = spec.shape
    spec = spec.reshape((-1,) + shape[-2:]).pow(1 / power)
    window = _window_like(window, spec)
    dtype = _real_dtype(spec)
    if rand_init:
        angles = _complex(dlpy.rand(*spec.shape, dtype=dtype), dlpy.rand(*spec.shape, dtype=dtype))
    else:
        angles = mark(Tensor(np.ones(spec.shape, np.complex64 if dtype == np.float32
                                     else np.complex128)))
    previous = None
    for _ in range(n_iter):
        inverse = istft(spec * angles, n_fft, hop_length, win_length, window, length=length)
        rebuilt = stft(inverse, n_fft, hop_length, win_length, window, True, "reflect", False,
                       True, return_complex=True)
        angles = rebuilt
        if momentum and previous is not None:
            angles = angles - previous * momentum
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    waveform = istft(spec * angles, n_fft, hop_length, win_length, window, length=length)
    return waveform.reshape(shape[:-2] + waveform.shape[-1:])


def amplitude_to_DB(x, multiplier: float, amin: float, db_multiplier: float,  # noqa: N802
                    top_db: float | None = None) -> Tensor:
    """multiplier * log10(max(x, amin)) - multiplier * db_multiplier, clamped below at the
    maximum - top_db of each (channel, freq, time) block (the whole input when 2-D or 3-D)."""
    x = _tensor(x)
    x_db = dlpy.log10(dlpy.clamp(x, min=amin)) * multiplier - multiplier * db_multiplier
    if top_db is not None:
        shape = x_db.shape
        channels = shape[-3] if x_db.ndim > 2 else 1
        x_db = x_db.reshape(-1, channels, shape[-2], shape[-1])
        floor = (dlpy.amax(x_db, dim=(-3, -2, -1)) - top_db).reshape(-1, 1, 1, 1)
        x_db = dlpy.maximum(x_db, floor).reshape(shape)
    return x_db


def DB_to_amplitude(x, ref: float, power: float) -> Tensor:  # noqa: N802
    """ref * (10 ** (0.1 x)) ** power: the inverse of amplitude_to_DB (power 1 for power
    spectrograms, 0.5 for amplitudes)."""
    return dlpy.exp(_tensor(x) * (0.1 * math.log(10.0) * power)) * ref


# ----------------------------------------------------------------- filter banks
def hz_to_mel(freq, mel_scale: str = "htk") -> np.ndarray:
    """Hertz to mels (float64): htk 2595 log10(1 + f / 700); slaney linear (3 / 200 mel a Hz)
    below 1 kHz, logarithmic above."""
    if mel_scale not in ("slaney", "htk"):
        raise ValueError(f"hz_to_mel: mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    freq = np.asarray(freq, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    logstep = math.log(6.4) / 27.0
    return np.where(freq >= 1000.0, 15.0 + np.log(np.maximum(freq, 1e-10) / 1000.0) / logstep,
                    3.0 * freq / 200.0)


def mel_to_hz(mels, mel_scale: str = "htk") -> np.ndarray:
    """The inverse of hz_to_mel (float64)."""
    if mel_scale not in ("slaney", "htk"):
        raise ValueError(f"mel_to_hz: mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    mels = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    logstep = math.log(6.4) / 27.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(logstep * (mels - 15.0)), 200.0 * mels / 3.0)


def _triangles(all_freqs: np.ndarray, f_pts: np.ndarray) -> np.ndarray:
    """(n_freqs, len(f_pts) - 2): filter k rises from f_pts[k] to f_pts[k + 1], falls to
    f_pts[k + 2] (librosa's construction)."""
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - all_freqs[:, None]  # (n_freqs, n_filter + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def melscale_filters(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                     norm: str | None = None, mel_scale: str = "htk") -> np.ndarray:
    """melscale_fbanks as a float64 numpy array (n_freqs, n_mels)."""
    if norm is not None and norm != "slaney":
        raise ValueError(f"melscale_fbanks: norm must be None or 'slaney', got {norm!r}")
    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2)
    f_pts = mel_to_hz(m_pts, mel_scale)
    filters = _triangles(all_freqs, f_pts)
    if norm == "slaney":  # each filter's area 2 / its width in Hz: about constant energy
        filters = filters * (2.0 / (f_pts[2:n_mels + 2] - f_pts[:n_mels]))[None, :]
    return filters


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int,
                    norm: str | None = None, mel_scale: str = "htk") -> Tensor:
    """(n_freqs, n_mels) float32 triangular filters evenly spaced in mels from f_min to f_max
    (``spec.mT @ fb`` applies them); ``norm="slaney"`` scales each to area 2 / width."""
    filters = melscale_filters(n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale)
    if (filters.max(axis=0) == 0.0).any():
        warnings.warn(f"At least one mel filterbank has all zero values. The value for `n_mels` "
                      f"({n_mels}) may be set too high. Or, the value for `n_freqs` ({n_freqs}) "
                      f"may be set too low.", stacklevel=2)
    return Tensor(filters.astype(np.float32))


def linear_fbanks(n_freqs: int, f_min: float, f_max: float, n_filter: int,
                  sample_rate: int) -> Tensor:
    """(n_freqs, n_filter) float32 triangular filters evenly spaced in Hz from f_min to f_max."""
    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    f_pts = np.linspace(f_min, f_max, n_filter + 2)
    return Tensor(_triangles(all_freqs, f_pts).astype(np.float32))


def create_dct(n_mfcc: int, n_mels: int, norm: str | None) -> Tensor:
    """(n_mels, n_mfcc) float32 DCT-II matrix: cos(pi / n_mels (n + 0.5) k), times 2
    (norm None) or orthonormal (norm "ortho")."""
    if norm is not None and norm != "ortho":
        raise ValueError(f"create_dct: norm must be None or 'ortho', got {norm!r}")
    n = np.arange(n_mels, dtype=np.float64)
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    dct = np.cos(math.pi / n_mels * (n + 0.5) * k)  # (n_mfcc, n_mels)
    if norm is None:
        dct *= 2.0
    else:
        dct[0] *= 1.0 / math.sqrt(2.0)
        dct *= math.sqrt(2.0 / n_mels)
    return Tensor(np.ascontiguousarray(dct.T).astype(np.float32))


# ----------------------------------------------------------------- mu-law, gain, emphasis
def mu_law_encoding(x, quantization_channels: int) -> Tensor:
    """x in [-1, 1] -> int64 codes 0 .. quantization_channels - 1:
    sign(x) log1p(mu |x|) / log1p(mu), mu = channels - 1, scaled and rounded down."""
    data = _tensor(x).data
    if data.dtype.kind != "f":
        data = data.astype(np.float32)
    mu = data.dtype.type(quantization_channels - 1.0)
    x_mu = np.sign(data) * np.log1p(mu * np.abs(data)) / np.log1p(mu)
    return Tensor(((x_mu + 1) / 2 * mu + 0.5).astype(np.int64))


def mu_law_decoding(x_mu, quantization_channels: int) -> Tensor:
    """Codes 0 .. quantization_channels - 1 -> [-1, 1]: the inverse of mu_law_encoding."""
    x_mu = _tensor(x_mu)
    if x_mu.data.dtype.kind != "f":
        x_mu = Tensor(x_mu.data.astype(np.float32))
    mu = quantization_channels - 1.0
    x = x_mu / mu * 2 - 1.0
    return dlpy.sign(x) * (dlpy.exp(x.abs() * math.log1p(mu)) - 1.0) / mu


def gain(waveform, gain_db: float = 1.0) -> Tensor:
    """waveform * 10 ** (gain_db / 20)."""
    waveform = _tensor(waveform)
    return waveform if gain_db == 0 else waveform * (10 ** (gain_db / 20))


def preemphasis(waveform, coeff: float = 0.97) -> Tensor:
    """y[i] = x[i] - coeff x[i - 1] along the last axis (y[0] = x[0])."""
    x = _tensor(waveform)
    first, rest = getitem(x, (Ellipsis, slice(0, 1))), getitem(x, (Ellipsis, slice(1, None)))
    return dlpy.cat([first, rest - getitem(x, (Ellipsis, slice(0, -1))) * coeff], dim=-1)


def deemphasis(waveform, coeff: float = 0.97) -> Tensor:
    """y[i] = x[i] + coeff y[i - 1]: the inverse of preemphasis (lfilter, clamped to [-1, 1]
    as torchaudio's)."""
    return lfilter(waveform, [1.0, -coeff], [1.0, 0.0])


def _fir(x: np.ndarray, b: np.ndarray, future: bool = False) -> np.ndarray:
    """sum_k b[f, k] x[r, f, n - k] for x (rows, filters, time), b (filters, order), or with
    ``future`` sum_k b[f, k] x[r, f, n + k] (the adjoint): one multiply-add over all rows and
    samples a tap (faster than a sliding-window einsum or matmul for the usual few taps)."""
    out = b[:, :1] * x  # the first tap, then the delayed (or advanced) ones
    length = x.shape[-1]
    for k in range(1, min(b.shape[-1], length)):
        tap = b[:, k:k + 1]
        if future:
            out[..., :length - k] += tap * x[..., k:]
        else:
            out[..., k:] += tap * x[..., :length - k]
    return out


def _lagged_products(t: np.ndarray, s: np.ndarray, order: int) -> np.ndarray:
    """(filters, order): sum over rows and n of t[r, f, n] s[r, f, n - k] for k < order (the
    coefficients' gradients), one einsum over sliding windows of s."""
    padded = np.concatenate([np.zeros(s.shape[:-1] + (order - 1,), s.dtype), s], axis=-1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, order, axis=-1)  # s[n - k]
    return np.einsum("rft,rftk->fk", t, windows)[:, ::-1]


class _AllPole:
    """The all-pole filter y[n] = x[n] - sum_{k >= 1} a[f, k] y[n - k] (zero initial state) on x
    (rows, filters, time), a (filters, order) with a[:, 0] = 1, by blocks of time: a block's
    zero-state response is one matmul with the lower-triangular Toeplitz matrix of the impulse
    response, and the last order - 1 outputs of each block, which start the next, are carried
    across blocks by a doubling scan (log2(blocks) matmuls): no Python loop over samples. As
    accurate as the recursion sample by sample: float32 runs in float64, and float64 takes one
    step of iterative refinement (the blocks' rounding grows with the block for poles near the
    unit circle; the residual x - a * y is as small as the recursion's). Set up once per filter
    and length, for the forward pass and the transposed one."""

    def __init__(self, a: np.ndarray, rows: int, length: int):
        self.a = a.astype(np.float64)
        filters, order = a.shape
        self.p = p = order - 1
        if p == 0 or length == 0:
            return
        # the matmul costs rows * block flops a sample: short blocks, but at least p so that
        # a block holds a whole state
        self.block = block = max(p, min(length, 32))
        # responses over one block to a unit impulse (row 0) and to y[-j] = 1 (row j, no input)
        response = np.zeros((filters, p + 1, p + block))
        response[:, 0, p] = 1.0
        response[:, np.arange(1, p + 1), p - np.arange(1, p + 1)] = 1.0
        feedback = -self.a[:, None, :0:-1]  # (filters, 1, p): -a[p] .. -a[1]
        for n in range(p, p + block):
            response[:, :, n] += np.sum(response[:, :, n - p:n] * feedback, axis=-1)
        impulse, self.initial = response[:, 0, p:], response[:, 1:, p:]  # (filters, [p,] block)
        lags = np.arange(block) - np.arange(block)[:, None]  # n - m at [m, n]
        self.toeplitz = np.where(lags >= 0, impulse[:, np.maximum(lags, 0)], 0)  # x @ it: (.., n)
        self.carry = self.initial[:, :, :-p - 1:-1]  # (filters, p, p): y[-j] -> a block's y[-1 - i]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.p == 0 or x.shape[-1] == 0:
            return x.copy()
        if x.dtype != np.float64:
            return self._blocks(x.astype(np.float64)).astype(x.dtype)
        y = self._blocks(x)
        return y + self._blocks(x - _fir(y, self.a))

    def _blocks(self, x: np.ndarray) -> np.ndarray:
        rows, filters, length = x.shape
        block, p = self.block, self.p
        count = -(-length // block)
        if length % block:
            x = np.concatenate([x, np.zeros((rows, filters, count * block - length))], axis=-1)
        out = x.reshape(rows, filters, count, block) @ self.toeplitz  # zero-state responses
        # each block's last p outputs (y[-1] .. y[-p] of the next): its own plus, by the scan,
        # those carried from every block before it (carry ** d from the block d back); the
        # scan stops where carry ** d falls below 1e-30, whose terms are below any rounding of
        # the outputs and would only cost time in subnormal numbers
        states = out[..., :-p - 1:-1].copy()  # (rows, filters, count, p)
        power, distance = self.carry, 1
        while distance < count and np.abs(power).max() > 1e-30:
            states[:, :, distance:] += states[:, :, :-distance] @ power
            power, distance = power @ power, 2 * distance
        out[:, :, 1:] += states[:, :, :-1] @ self.initial
        return out.reshape(rows, filters, -1)[..., :length]


class LFilter(Op):
    """y = the IIR filter b / a of x along the last axis, one filter per row of a and b:
    a[f, 0] y[n] = sum_k b[f, k] x[n - k] - sum_{k >= 1} a[f, k] y[n - k] (zero initial state).
    x is (..., time) for 1-D coefficients, (..., filters or 1, time) for 2-D ones (filters,
    order). With t = the filter 1 / a run backwards in time on g (the transposed system):
    dx[n] = sum_k b[k] t[n + k] / a[0], db[k] = sum_n t[n] x[n - k] / a[0],
    da[k] = -sum_n t[n] y[n - k] / a[0] (k = 0 included: the normalisation by a[0])."""

    def forward(self, x, a_coeffs, b_coeffs):
        order = a_coeffs.shape[-1]
        a = a_coeffs.reshape(-1, order).astype(x.dtype)
        filters = a.shape[0]
        self.a0 = a[:, :1]  # (filters, 1)
        self.a, self.b = a / self.a0, b_coeffs.reshape(-1, order).astype(x.dtype) / self.a0
        shape = x.shape if a_coeffs.ndim == 1 else x.shape[:-2] + (filters, x.shape[-1])
        rows = math.prod(shape[:-1]) // filters
        self.x = np.broadcast_to(x, shape).reshape(rows, filters, shape[-1])
        self.all_pole = _AllPole(self.a, rows, shape[-1])
        self.y = self.all_pole(_fir(self.x, self.b))  # (rows, filters, time)
        return self.y.reshape(shape)

    def backward(self, grad_output):
        x, a_coeffs, b_coeffs = self.inputs
        g = np.ascontiguousarray(grad_output[..., ::-1]).reshape(self.y.shape)
        t = self.all_pole(g)[..., ::-1]  # dL/d(the FIR's output)
        order = self.a.shape[-1]
        dx = (_fir(t, self.b, future=True).reshape(grad_output.shape)
              if x.requires_grad else None)  # at the broadcast shape: the engine sums
        da = (-_lagged_products(t, self.y, order) / self.a0).reshape(a_coeffs.shape).astype(
            a_coeffs.dtype) if a_coeffs.requires_grad else None
        db = (_lagged_products(t, self.x, order) / self.a0).reshape(b_coeffs.shape).astype(
            b_coeffs.dtype) if b_coeffs.requires_grad else None
        return dx, da, db


def lfilter(waveform, a_coeffs, b_coeffs, clamp: bool = True, batching: bool = True) -> Tensor:
    """An IIR filter along the last axis, as torchaudio.functional.lfilter: coefficients (order,)
    filter every (..., time) row alike; (num_filters, order) ones filter channel i of
    (..., num_filters, time) with filter i (``batching``) or every row with every filter
    (``batching=False``: out (..., num_filters, time)). a[..., 0] normalises; the output is
    clamped to [-1, 1] with ``clamp``. Differentiable in the waveform and both coefficients."""
    x = _tensor(waveform)
    if x.data.dtype.kind != "f":
        x = Tensor(x.data.astype(_real_dtype(x)))
    a, b = _tensor(a_coeffs), _tensor(b_coeffs)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(f"lfilter: expected a_coeffs and b_coeffs of one shape, (order,) or "
                         f"(num_filters, order), got {tuple(a.shape)} and {tuple(b.shape)}")
    if np.any(a.data[..., 0] == 0):
        raise ValueError("lfilter: a_coeffs[..., 0] must not be 0")
    if x.ndim == 0:
        raise ValueError("lfilter: expected a waveform (..., time), got a scalar")
    if a.ndim == 2 and batching and (x.ndim < 2 or x.shape[-2] != a.shape[0]):
        raise ValueError(f"lfilter: with batching, expected a waveform (..., {a.shape[0]}, time) "
                         f"for {a.shape[0]} filters, got {tuple(x.shape)}")
    if a.ndim == 2 and not batching:
        x = x.unsqueeze(-2)  # (..., 1, time): LFilter runs every filter on it
    y = LFilter()(x, a, b)
    return dlpy.clamp(y, -1.0, 1.0) if clamp else y


def _coefficients(*values) -> list | Tensor:
    """Scalar coefficients as a 1-D Tensor, differentiable in those given as Tensors (a plain
    list when none is)."""
    if not any(isinstance(value, Tensor) for value in values):
        return list(values)
    return dlpy.stack([_tensor(value).reshape(()) for value in values])


def biquad(waveform, b0, b1, b2, a0, a1, a2) -> Tensor:
    """The second-order IIR filter (b0 + b1 z^-1 + b2 z^-2) / (a0 + a1 z^-1 + a2 z^-2)
    (lfilter, clamped to [-1, 1]); coefficients are numbers or scalar Tensors (differentiable)."""
    return lfilter(waveform, _coefficients(a0, a1, a2), _coefficients(b0, b1, b2))


# ----------------------------------------------------------------- resampling
def _check_frequencies(orig_freq, new_freq) -> None:
    if orig_freq <= 0 or new_freq <= 0 or int(orig_freq) != orig_freq \
            or int(new_freq) != new_freq:
        raise ValueError(f"resample: frequencies must be positive integers, got {orig_freq} -> "
                         f"{new_freq} (scale both to integers with the same ratio)")


def sinc_resample_kernel(orig_freq: int, new_freq: int, gcd: int, lowpass_filter_width: int = 6,
                         rolloff: float = 0.99, resampling_method: str = "sinc_interp_hann",
                         beta: float | None = None) -> tuple[np.ndarray, int]:
    """(kernel (new, 2 width + orig) float64, width) for orig/new reduced by gcd: row j samples
    sinc(pi base (i / orig - j / new)) windowed to ``lowpass_filter_width`` zero crossings
    (Hann or Kaiser with ``beta``), base = rolloff x the lower rate."""
    _check_frequencies(orig_freq, new_freq)
    if resampling_method not in ("sinc_interp_hann", "sinc_interp_kaiser"):
        raise ValueError(f"resample: resampling_method must be 'sinc_interp_hann' or "
                         f"'sinc_interp_kaiser', got {resampling_method!r}")
    if lowpass_filter_width <= 0:
        raise ValueError(f"resample: lowpass_filter_width must be positive, got "
                         f"{lowpass_filter_width}")
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    index = np.arange(-width, width + orig, dtype=np.float64)[None] / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + index) * base
    t = np.clip(t, -lowpass_filter_width, lowpass_filter_width)
    if resampling_method == "sinc_interp_hann":
        window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    else:
        # torchaudio holds beta and I0(beta) as float32 scalars
        beta = float(np.float32(14.769656459379492 if beta is None else beta))
        window = (np.i0(beta * np.sqrt(1 - (t / lowpass_filter_width) ** 2))
                  / float(np.float32(np.i0(beta))))
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t) * window * (base / orig)
    return kernel, width


def apply_resample_kernel(waveform, orig_freq: int, new_freq: int, gcd: int, kernel,
                          width: int) -> Tensor:
    """(..., time) -> (..., ceil(time * new / orig)): frames of the zero-padded waveform every
    orig samples (a strided conv1d) times the kernel's rows, interleaved."""
    x = _tensor(waveform)
    if x.data.dtype.kind != "f":
        raise TypeError(f"resample: expected a float waveform, got {x.dtype}")
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    kernel = np.asarray(_tensor(kernel).data).reshape(new, -1).astype(x.data.dtype)
    shape, length = x.shape, x.shape[-1]
    padded = _pad(x.reshape(-1, length), (width, width + orig), "constant")
    frames = Frames(padded.shape[-1], kernel.shape[1], orig)(padded)  # (batch, n_frames, taps)
    out = dlpy.matmul(frames, Tensor(np.ascontiguousarray(kernel.T)))  # (batch, n_frames, new)
    out = out.reshape(out.shape[0], -1)
    out = getitem(out, (Ellipsis, slice(0, math.ceil(new * length / orig))))
    return out.reshape(shape[:-1] + out.shape[-1:])


def resample(waveform, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6,
             rolloff: float = 0.99, resampling_method: str = "sinc_interp_hann",
             beta: float | None = None) -> Tensor:
    """Band-limited resampling of (..., time) from orig_freq to new_freq Hz (windowed sinc
    interpolation, torchaudio's method); ceil(time * new / orig) samples."""
    _check_frequencies(orig_freq, new_freq)
    x = _tensor(waveform)
    if orig_freq == new_freq:
        return x
    gcd = math.gcd(int(orig_freq), int(new_freq))
    kernel, width = sinc_resample_kernel(orig_freq, new_freq, gcd, lowpass_filter_width,
                                         rolloff, resampling_method, beta)
    return apply_resample_kernel(x, orig_freq, new_freq, gcd, kernel, width)


# ----------------------------------------------------------------- deltas, masks, centroid
def compute_deltas(specgram, win_length: int = 5, mode: str = "replicate") -> Tensor:
    """d_t = sum_{n=1}^{N} n (c_{t+n} - c_{t-n}) / (2 sum n^2) along the last axis,
    N = (win_length - 1) // 2, the edges padded with ``mode``."""
    if win_length < 3:
        raise ValueError(f"compute_deltas: win_length must be at least 3, got {win_length}")
    x = _tensor(specgram)
    shape, time = x.shape, x.shape[-1]
    n = (win_length - 1) // 2
    denom = n * (n + 1) * (2 * n + 1) / 3
    padded = _pad(x.reshape(1, -1, time), (n, n), mode)
    out = None
    for k in range(1, n + 1):
        term = (getitem(padded, (Ellipsis, slice(n + k, n + k + time)))
                - getitem(padded, (Ellipsis, slice(n - k, n - k + time)))) * k
        out = term if out is None else out + term
    return (out / denom).reshape(shape)


def _mask_param(name: str, mask_param: int, p: float, axis_length: int) -> int:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p must be between 0.0 and 1.0, got {p}")
    return mask_param if p == 1.0 else min(mask_param, int(axis_length * p))


def _check_axis(name: str, axis: int, dim: int, least: int) -> None:
    if dim < least:
        raise ValueError(f"{name}: expected a spectrogram of at least {least} dimensions, got "
                         f"{dim}")
    if axis not in (dim - 2, dim - 1):
        raise ValueError(f"{name}: axis must be {dim - 2} (frequency) or {dim - 1} (time), got "
                         f"{axis}")


def _masked(x: Tensor, mask: np.ndarray, mask_value) -> Tensor:
    value = mask_value if isinstance(mask_value, Tensor) else Tensor(
        np.asarray(mask_value, x.data.dtype))
    return dlpy.where(Tensor(mask), value, x)


def mask_along_axis(specgram, mask_param: int, mask_value: float, axis: int,
                    p: float = 1.0) -> Tensor:
    """One band [v0, v0 + v) along ``axis`` (frequency or time) set to ``mask_value`` in every
    example: v ~ uniform(0, mask_param), v0 ~ uniform(0, size - v) (dlpy's default
    generator); mask_param capped at size * p."""
    x = _tensor(specgram)
    _check_axis("mask_along_axis", axis, x.ndim, 2)
    size = x.shape[axis]
    mask_param = _mask_param("mask_along_axis", mask_param, p, size)
    if mask_param < 1:
        return x
    value = float(dlpy.rand(1).data[0]) * mask_param
    start = float(dlpy.rand(1).data[0]) * (size - value)
    begin, end = int(start), int(start) + int(value)
    positions = np.arange(size)
    mask = (positions >= begin) & (positions < end)
    mask = mask[:, None] if axis == x.ndim - 2 else mask
    return _masked(x, mask, mask_value)


def mask_along_axis_iid(specgrams, mask_param: int, mask_value, axis: int,
                        p: float = 1.0) -> Tensor:
    """As mask_along_axis, a band drawn for each example (all but the last two axes)."""
    x = _tensor(specgrams)
    dim = x.ndim
    _check_axis("mask_along_axis_iid", axis, dim, 3)
    size = x.shape[axis]
    mask_param = _mask_param("mask_along_axis_iid", mask_param, p, size)
    if mask_param < 1:
        return x
    dtype = _real_dtype(x)
    value = dlpy.rand(tuple(x.shape[:dim - 2]), dtype=dtype).data * mask_param
    start = dlpy.rand(tuple(x.shape[:dim - 2]), dtype=dtype).data * (size - value)
    begin = start.astype(np.int64)[..., None, None]
    end = begin + value.astype(np.int64)[..., None, None]
    positions = np.arange(size)
    mask = (positions >= begin) & (positions < end)  # (..., 1, size): along the last axis
    if axis == dim - 2:
        mask = np.swapaxes(mask, -1, -2)
    return _masked(x, mask, mask_value)


def spectral_centroid(waveform, sample_rate: int, pad: int, window, n_fft: int,
                      hop_length: int, win_length: int) -> Tensor:
    """(..., time) -> (..., frames): the magnitude-weighted mean frequency of each frame."""
    spec = spectrogram(waveform, pad, window, n_fft, hop_length, win_length, 1.0, False)
    freqs = np.linspace(0, sample_rate // 2, 1 + n_fft // 2).astype(spec.data.dtype)[:, None]
    return (spec * Tensor(freqs)).sum(dim=-2) / spec.sum(dim=-2)


def detect_pitch_frequency(waveform, sample_rate: int, frame_time: float = 10 ** (-2),
                           win_length: int = 30, freq_low: int = 85,
                           freq_high: int = 3400) -> Tensor:
    """(..., time) -> (..., frames) pitch in Hz, as torchaudio: the lag of the largest normalised
    cross-correlation of each frame_time frame (the shorter lag when its peak is within 1 % of
    the best), median-smoothed over win_length frames. Not differentiable (nor is torchaudio's)."""
    x = np.asarray(_tensor(waveform).data)
    if x.dtype.kind != "f":
        raise TypeError(f"detect_pitch_frequency: expected a float waveform, got {x.dtype}")
    shape, length = x.shape, x.shape[-1]
    x = x.reshape(-1, length)
    lags = math.ceil(sample_rate / freq_low)
    frame_size = math.ceil(sample_rate * frame_time)
    n_frames = math.ceil(length / frame_size)
    x = np.pad(x, ((0, 0), (0, lags + n_frames * frame_size - length)))
    head = x[:, :n_frames * frame_size].reshape(len(x), n_frames, frame_size)
    head_energy = (1e-9 + np.sqrt((head * head).sum(-1))) ** 2
    nccf = np.empty((len(x), n_frames, lags), x.dtype)
    for lag in range(1, lags + 1):
        shifted = x[:, lag:lag + n_frames * frame_size].reshape(len(x), n_frames, frame_size)
        nccf[..., lag - 1] = ((head * shifted).sum(-1) / head_energy
                              / (1e-9 + np.sqrt((shifted * shifted).sum(-1))) ** 2)
    lag_min = math.ceil(sample_rate / freq_high)
    best = nccf[..., lag_min:]
    best_index, best_value = best.argmax(-1), best.max(-1)
    half = nccf[..., lag_min:lags // 2]
    half_index, half_value = half.argmax(-1), half.max(-1)
    indices = np.where(half_value > 0.99 * best_value, half_index, best_index) + lag_min + 1
    # median smoothing: the first value repeated (win_length - 1) // 2 times in front, the
    # lower median of each win_length window (torch.median)
    before = (win_length - 1) // 2
    indices = np.concatenate([np.repeat(indices[:, :1], before, axis=1), indices], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(indices, win_length, axis=-1)
    median = np.sort(windows, axis=-1)[..., (win_length - 1) // 2]
    # torch divides a scalar by a float32 tensor as scalar * (1 / tensor), rounded twice
    freq = np.float32(sample_rate) * (np.float32(1) / (median.astype(np.float32) + 1e-9))
    return Tensor(freq.astype(np.float32).reshape(shape[:-1] + freq.shape[-1:]))
