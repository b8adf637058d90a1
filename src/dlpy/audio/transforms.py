"""torchaudio.transforms' counterpart: nn.Modules over dlpy.audio.functional with torchaudio's
names, defaults and buffers (``window``, ``fb``, ``dct_mat``, ``filter_mat``, ``kernel``, the
submodules ``spectrogram``/``mel_scale``/``MelSpectrogram``/``Spectrogram``), so their state
dicts load into each other. Buffers are float32 as torch's; a float64 input uses them cast."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import dlpy
from dlpy.audio import functional as F
from dlpy.nn.module import Module
from dlpy.ops.spectral import hann_window
from dlpy.tensor import Tensor

__all__ = ["AmplitudeToDB", "ComputeDeltas", "Deemphasis", "Fade", "FrequencyMasking",
           "GriffinLim", "InverseMelScale", "InverseSpectrogram", "LFCC", "MFCC", "MelScale",
           "MelSpectrogram", "MuLawDecoding", "MuLawEncoding", "Preemphasis", "Resample",
           "SpecAugment", "SpectralCentroid", "Spectrogram", "TimeMasking", "Vol"]


def _like(buffer: Tensor, x) -> Tensor:
    """A float32 buffer as a Tensor in the input's float dtype (the buffer itself if it is)."""
    dtype = F._real_dtype(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
    return buffer if buffer.dtype == dtype else Tensor(buffer.data.astype(dtype))


def _apply_matrix(x, matrix: Tensor) -> Tensor:
    """(..., rows, time) -> (..., columns, time): x.mT @ matrix, transposed back."""
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    return dlpy.matmul(x.transpose(-1, -2), _like(matrix, x)).transpose(-1, -2)


class _Windowed(Module):
    """The settings and ``window`` buffer that Spectrogram, InverseSpectrogram and GriffinLim
    share: win_length (default n_fft), hop_length (default win_length // 2)."""

    def __init__(self, n_fft: int, win_length, hop_length, window_fn, wkwargs):
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        window = window_fn(self.win_length, **(wkwargs or {}))
        self.register_buffer("window", window.data if isinstance(window, Tensor) else window)


class Spectrogram(_Windowed):
    """(..., time) -> (..., n_fft // 2 + 1, frames): |stft|^power (complex when power=None)."""

    def __init__(self, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int | None = None, pad: int = 0,
                 window_fn: Callable = hann_window, power: float | None = 2.0,
                 normalized=False, wkwargs: dict | None = None, center: bool = True,
                 pad_mode: str = "reflect", onesided: bool = True,
                 return_complex: bool | None = None):
        super().__init__(n_fft, win_length, hop_length, window_fn, wkwargs)
        self.pad, self.power, self.normalized = pad, power, normalized
        self.center, self.pad_mode, self.onesided = center, pad_mode, onesided

    def forward(self, waveform) -> Tensor:
        return F.spectrogram(waveform, self.pad, self.window, self.n_fft, self.hop_length,
                             self.win_length, self.power, self.normalized, self.center,
                             self.pad_mode, self.onesided)


class InverseSpectrogram(_Windowed):
    """complex (..., freq, frames) -> (..., time): istft."""

    def __init__(self, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int | None = None, pad: int = 0,
                 window_fn: Callable = hann_window, normalized=False,
                 wkwargs: dict | None = None, center: bool = True, pad_mode: str = "reflect",
                 onesided: bool = True):
        super().__init__(n_fft, win_length, hop_length, window_fn, wkwargs)
        self.pad, self.normalized = pad, normalized
        self.center, self.pad_mode, self.onesided = center, pad_mode, onesided

    def forward(self, spectrogram, length: int | None = None) -> Tensor:
        return F.inverse_spectrogram(spectrogram, length, self.pad, self.window, self.n_fft,
                                     self.hop_length, self.win_length, self.normalized,
                                     self.center, self.pad_mode, self.onesided)


class GriffinLim(_Windowed):
    """A magnitude spectrogram (..., freq, frames) -> a waveform (..., time) (Griffin-Lim)."""

    def __init__(self, n_fft: int = 400, n_iter: int = 32, win_length: int | None = None,
                 hop_length: int | None = None, window_fn: Callable = hann_window,
                 power: float = 2.0, wkwargs: dict | None = None, momentum: float = 0.99,
                 length: int | None = None, rand_init: bool = True):
        if not 0 <= momentum < 1:
            raise ValueError(f"GriffinLim: momentum must be in [0, 1), got {momentum}")
        super().__init__(n_fft, win_length, hop_length, window_fn, wkwargs)
        self.n_iter, self.length, self.power = n_iter, length, power
        self.momentum, self.rand_init = momentum, rand_init

    def forward(self, specgram) -> Tensor:
        return F.griffinlim(specgram, self.window, self.n_fft, self.hop_length, self.win_length,
                            self.power, self.n_iter, self.momentum, self.length, self.rand_init)


class SpectralCentroid(_Windowed):
    """(..., time) -> (..., frames): each frame's magnitude-weighted mean frequency."""

    def __init__(self, sample_rate: int, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int | None = None, pad: int = 0,
                 window_fn: Callable = hann_window, wkwargs: dict | None = None):
        super().__init__(n_fft, win_length, hop_length, window_fn, wkwargs)
        self.sample_rate, self.pad = sample_rate, pad

    def forward(self, waveform) -> Tensor:
        return F.spectral_centroid(waveform, self.sample_rate, self.pad, self.window, self.n_fft,
                                   self.hop_length, self.win_length)


class AmplitudeToDB(Module):
    """Power (stype "power", 10 log10) or amplitude ("magnitude", 20 log10) to decibels,
    clamped at 1e-10 and at the maximum - top_db."""

    def __init__(self, stype: str = "power", top_db: float | None = None):
        super().__init__()
        if top_db is not None and top_db < 0:
            raise ValueError(f"AmplitudeToDB: top_db must be positive, got {top_db}")
        self.stype, self.top_db = stype, top_db
        self.multiplier = 10.0 if stype == "power" else 20.0
        self.amin, self.ref_value = 1e-10, 1.0
        self.db_multiplier = math.log10(max(self.amin, self.ref_value))

    def forward(self, x) -> Tensor:
        return F.amplitude_to_DB(x, self.multiplier, self.amin, self.db_multiplier, self.top_db)


def _mel_settings(owner: str, sample_rate: int, f_min: float, f_max) -> float:
    f_max = f_max if f_max is not None else float(sample_rate // 2)
    if f_min > f_max:
        raise ValueError(f"{owner}: expected f_min <= f_max, got {f_min} > {f_max}")
    return f_max


class MelScale(Module):
    """A spectrogram (..., n_stft, time) -> (..., n_mels, time) through the ``fb`` buffer."""

    def __init__(self, n_mels: int = 128, sample_rate: int = 16000, f_min: float = 0.0,
                 f_max: float | None = None, n_stft: int = 201, norm: str | None = None,
                 mel_scale: str = "htk"):
        super().__init__()
        self.n_mels, self.sample_rate, self.f_min = n_mels, sample_rate, f_min
        self.f_max = _mel_settings("MelScale", sample_rate, f_min, f_max)
        self.norm, self.mel_scale = norm, mel_scale
        self.register_buffer("fb", F.melscale_fbanks(n_stft, f_min, self.f_max, n_mels,
                                                      sample_rate, norm, mel_scale).data)

    def forward(self, specgram) -> Tensor:
        return _apply_matrix(specgram, self.fb)


class InverseMelScale(Module):
    """A mel spectrogram (..., n_mels, time) -> (..., n_stft, time): relu of the least-squares
    solution of fb.T X = mel (dlpy.linalg.lstsq, so it is differentiable)."""

    def __init__(self, n_stft: int, n_mels: int = 128, sample_rate: int = 16000,
                 f_min: float = 0.0, f_max: float | None = None, norm: str | None = None,
                 mel_scale: str = "htk", driver: str = "gels"):
        super().__init__()
        if driver not in ("gels", "gelsy", "gelsd", "gelss"):
            raise ValueError(f"InverseMelScale: driver must be 'gels', 'gelsy', 'gelsd' or "
                             f"'gelss', got {driver!r}")
        self.n_mels, self.sample_rate, self.f_min, self.driver = n_mels, sample_rate, f_min, driver
        self.f_max = _mel_settings("InverseMelScale", sample_rate, f_min, f_max or None)
        self.register_buffer("fb", F.melscale_fbanks(n_stft, f_min, self.f_max, n_mels,
                                                      sample_rate, norm, mel_scale).data)

    def forward(self, melspec) -> Tensor:
        melspec = melspec if isinstance(melspec, Tensor) else Tensor(np.asarray(melspec))
        shape = melspec.shape
        if shape[-2] != self.n_mels:
            raise ValueError(f"InverseMelScale: expected {self.n_mels} mel bins, got {shape[-2]}")
        fb = _like(self.fb, melspec)  # (freq, n_mels)
        solution = dlpy.linalg.lstsq(fb.transpose(0, 1).reshape((1,) + fb.shape[::-1]),
                                     melspec.reshape(-1, shape[-2], shape[-1]),
                                     driver=self.driver).solution
        return dlpy.relu(solution).reshape(shape[:-2] + (fb.shape[0], shape[-1]))


class MelSpectrogram(Module):
    """(..., time) -> (..., n_mels, frames): Spectrogram then MelScale (submodules
    ``spectrogram`` and ``mel_scale``)."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400,
                 win_length: int | None = None, hop_length: int | None = None,
                 f_min: float = 0.0, f_max: float | None = None, pad: int = 0,
                 n_mels: int = 128, window_fn: Callable = hann_window, power: float = 2.0,
                 normalized: bool = False, wkwargs: dict | None = None, center: bool = True,
                 pad_mode: str = "reflect", onesided: bool | None = None,
                 norm: str | None = None, mel_scale: str = "htk"):
        super().__init__()
        self.sample_rate, self.n_fft, self.pad, self.power = sample_rate, n_fft, pad, power
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        self.normalized, self.n_mels, self.f_max, self.f_min = normalized, n_mels, f_max, f_min
        self.spectrogram = Spectrogram(n_fft, self.win_length, self.hop_length, pad, window_fn,
                                       power, normalized, wkwargs, center, pad_mode, True)
        self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max, n_fft // 2 + 1, norm,
                                  mel_scale)

    def forward(self, waveform) -> Tensor:
        return self.mel_scale(self.spectrogram(waveform))


class _Cepstrum(Module):
    """MFCC's and LFCC's last steps: log (offset 1e-6) or decibels (top_db 80), then the DCT
    in the ``dct_mat`` buffer."""

    def _settings(self, owner: str, sample_rate: int, dct_type: int, norm: str):
        if dct_type != 2:
            raise ValueError(f"{owner}: only dct_type 2 is supported, got {dct_type}")
        self.sample_rate, self.dct_type, self.norm = sample_rate, dct_type, norm
        self.top_db = 80.0
        self.amplitude_to_DB = AmplitudeToDB("power", self.top_db)

    def _cepstrum(self, filtered: Tensor, log: bool) -> Tensor:
        filtered = dlpy.log(filtered + 1e-6) if log else self.amplitude_to_DB(filtered)
        return _apply_matrix(filtered, self.dct_mat)


class MFCC(_Cepstrum):
    """(..., time) -> (..., n_mfcc, frames): the DCT of the log mel spectrogram
    (``melkwargs`` go to MelSpectrogram, submodule ``MelSpectrogram``)."""

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 40, dct_type: int = 2,
                 norm: str = "ortho", log_mels: bool = False, melkwargs: dict | None = None):
        super().__init__()
        self._settings("MFCC", sample_rate, dct_type, norm)
        self.n_mfcc, self.log_mels = n_mfcc, log_mels
        self.MelSpectrogram = MelSpectrogram(sample_rate=sample_rate, **(melkwargs or {}))
        if n_mfcc > self.MelSpectrogram.n_mels:
            raise ValueError(f"MFCC: n_mfcc ({n_mfcc}) must be at most n_mels "
                             f"({self.MelSpectrogram.n_mels})")
        self.register_buffer("dct_mat", F.create_dct(n_mfcc, self.MelSpectrogram.n_mels,
                                                     norm).data)

    def forward(self, waveform) -> Tensor:
        return self._cepstrum(self.MelSpectrogram(waveform), self.log_mels)


class LFCC(_Cepstrum):
    """(..., time) -> (..., n_lfcc, frames): the DCT of the log linear-filter spectrogram
    (``speckwargs`` go to Spectrogram, submodule ``Spectrogram``)."""

    def __init__(self, sample_rate: int = 16000, n_filter: int = 128, f_min: float = 0.0,
                 f_max: float | None = None, n_lfcc: int = 40, dct_type: int = 2,
                 norm: str = "ortho", log_lf: bool = False, speckwargs: dict | None = None):
        super().__init__()
        self._settings("LFCC", sample_rate, dct_type, norm)
        self.f_min = f_min
        self.f_max = f_max if f_max is not None else float(sample_rate // 2)
        self.n_filter, self.n_lfcc, self.log_lf = n_filter, n_lfcc, log_lf
        self.Spectrogram = Spectrogram(**(speckwargs or {}))
        if n_lfcc > self.Spectrogram.n_fft:
            raise ValueError(f"LFCC: n_lfcc ({n_lfcc}) must be at most n_fft "
                             f"({self.Spectrogram.n_fft})")
        self.register_buffer("filter_mat", F.linear_fbanks(
            self.Spectrogram.n_fft // 2 + 1, f_min, self.f_max, n_filter, sample_rate).data)
        self.register_buffer("dct_mat", F.create_dct(n_lfcc, n_filter, norm).data)

    def forward(self, waveform) -> Tensor:
        return self._cepstrum(_apply_matrix(self.Spectrogram(waveform), self.filter_mat),
                              self.log_lf)


class _OneSetting(Module):
    """A module around one functional with one setting: forward(x) = function(x, setting)."""

    setting: str

    def __init__(self, value):
        super().__init__()
        setattr(self, self.setting, value)

    def forward(self, x) -> Tensor:
        return type(self).function(x, getattr(self, self.setting))


class MuLawEncoding(_OneSetting):
    """[-1, 1] -> int64 codes (mu-law companding)."""

    setting, function = "quantization_channels", staticmethod(F.mu_law_encoding)

    def __init__(self, quantization_channels: int = 256):
        super().__init__(quantization_channels)


class MuLawDecoding(_OneSetting):
    """Mu-law codes -> [-1, 1]."""

    setting, function = "quantization_channels", staticmethod(F.mu_law_decoding)

    def __init__(self, quantization_channels: int = 256):
        super().__init__(quantization_channels)


class Resample(Module):
    """(..., time) at orig_freq -> new_freq Hz, the sinc kernel computed once (buffer
    ``kernel`` (new, 1, taps) as torchaudio's conv1d weight, float32 unless ``dtype``)."""

    def __init__(self, orig_freq: int = 16000, new_freq: int = 16000,
                 resampling_method: str = "sinc_interp_hann", lowpass_filter_width: int = 6,
                 rolloff: float = 0.99, beta: float | None = None, *, dtype=None):
        super().__init__()
        self.orig_freq, self.new_freq = orig_freq, new_freq
        self.gcd = math.gcd(int(orig_freq), int(new_freq))
        self.resampling_method, self.lowpass_filter_width = resampling_method, lowpass_filter_width
        self.rolloff, self.beta = rolloff, beta
        if orig_freq != new_freq:
            kernel, self.width = F.sinc_resample_kernel(orig_freq, new_freq, self.gcd,
                                                        lowpass_filter_width, rolloff,
                                                        resampling_method, beta)
            dtype = np.float32 if dtype is None else np.dtype(dtype)
            self.register_buffer("kernel", kernel[:, None, :].astype(dtype))

    def forward(self, waveform) -> Tensor:
        if self.orig_freq == self.new_freq:
            return waveform
        return F.apply_resample_kernel(waveform, self.orig_freq, self.new_freq, self.gcd,
                                       self.kernel, self.width)


class ComputeDeltas(Module):
    """Delta coefficients along the last axis (compute_deltas)."""

    def __init__(self, win_length: int = 5, mode: str = "replicate"):
        super().__init__()
        self.win_length, self.mode = win_length, mode

    def forward(self, specgram) -> Tensor:
        return F.compute_deltas(specgram, self.win_length, self.mode)


class _AxisMasking(Module):
    """A random band of frequencies (axis 1) or frames (axis 2) set to mask_value; one band
    for the batch, or one an example with ``iid_masks``."""

    def __init__(self, mask_param: int, axis: int, iid_masks: bool, p: float = 1.0):
        super().__init__()
        self.mask_param, self.axis, self.iid_masks, self.p = mask_param, axis, iid_masks, p

    def forward(self, specgram, mask_value=0.0) -> Tensor:
        specgram = specgram if isinstance(specgram, Tensor) else Tensor(np.asarray(specgram))
        axis = self.axis + specgram.ndim - 3
        mask = F.mask_along_axis_iid if self.iid_masks else F.mask_along_axis
        return mask(specgram, self.mask_param, mask_value, axis, p=self.p)


class FrequencyMasking(_AxisMasking):
    """SpecAugment's frequency masking: a band of up to freq_mask_param bins."""

    def __init__(self, freq_mask_param: int, iid_masks: bool = False):
        super().__init__(freq_mask_param, 1, iid_masks)


class TimeMasking(_AxisMasking):
    """SpecAugment's time masking: a band of up to time_mask_param frames (at most p of them)."""

    def __init__(self, time_mask_param: int, iid_masks: bool = False, p: float = 1.0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"TimeMasking: p must be between 0.0 and 1.0, got {p}")
        super().__init__(time_mask_param, 2, iid_masks, p=p)


class SpecAugment(Module):
    """n_time_masks time bands then n_freq_masks frequency bands, filled with the input's mean
    (or zeros with ``zero_masking``); per example with ``iid_masks`` on 3-D and larger input."""

    def __init__(self, n_time_masks: int, time_mask_param: int, n_freq_masks: int,
                 freq_mask_param: int, iid_masks: bool = True, p: float = 1.0,
                 zero_masking: bool = False):
        super().__init__()
        self.n_time_masks, self.time_mask_param = n_time_masks, time_mask_param
        self.n_freq_masks, self.freq_mask_param = n_freq_masks, freq_mask_param
        self.iid_masks, self.p, self.zero_masking = iid_masks, p, zero_masking

    def forward(self, specgram) -> Tensor:
        x = specgram if isinstance(specgram, Tensor) else Tensor(np.asarray(specgram))
        mask_value = 0.0 if self.zero_masking else x.mean()
        time_dim = x.ndim - 1
        iid = x.ndim > 2 and self.iid_masks
        mask = F.mask_along_axis_iid if iid else F.mask_along_axis
        for _ in range(self.n_time_masks):
            x = mask(x, self.time_mask_param, mask_value, time_dim, p=self.p)
        for _ in range(self.n_freq_masks):
            x = mask(x, self.freq_mask_param, mask_value, time_dim - 1, p=self.p)
        return x


class Preemphasis(_OneSetting):
    """y[i] = x[i] - coeff x[i - 1]."""

    setting, function = "coeff", staticmethod(F.preemphasis)

    def __init__(self, coeff: float = 0.97):
        super().__init__(coeff)


class Deemphasis(_OneSetting):
    """y[i] = x[i] + coeff y[i - 1], clamped to [-1, 1]."""

    setting, function = "coeff", staticmethod(F.deemphasis)

    def __init__(self, coeff: float = 0.97):
        super().__init__(coeff)


class Vol(Module):
    """waveform scaled by ``gain`` (gain_type "amplitude", "power" or "db"), clamped to [-1, 1]."""

    def __init__(self, gain: float, gain_type: str = "amplitude"):
        super().__init__()
        if gain_type not in ("amplitude", "power", "db"):
            raise ValueError(f"Vol: gain_type must be 'amplitude', 'power' or 'db', got "
                             f"{gain_type!r}")
        if gain_type in ("amplitude", "power") and gain < 0:
            raise ValueError(f"Vol: gain must be positive for gain_type {gain_type!r}, got {gain}")
        self.gain, self.gain_type = gain, gain_type

    def forward(self, waveform) -> Tensor:
        if self.gain_type == "amplitude":
            waveform = F._tensor(waveform) * self.gain
        elif self.gain_type == "db":
            waveform = F.gain(waveform, self.gain)
        else:
            waveform = F.gain(waveform, 10 * math.log10(self.gain))
        return dlpy.clamp(waveform, -1, 1)


_FADES = {  # fade-in curves of t in [0, 1]; a fade-out is the curve's mirror image
    "linear": (lambda t: t, lambda t: 1 - t),
    "exponential": (lambda t: 2.0 ** (t - 1) * t, lambda t: 2.0 ** -t * (1 - t)),
    "logarithmic": (lambda t: np.log10(0.1 + t) + 1, lambda t: np.log10(1.1 - t) + 1),
    "quarter_sine": (lambda t: np.sin(t * math.pi / 2),
                     lambda t: np.sin(t * math.pi / 2 + math.pi / 2)),
    "half_sine": (lambda t: np.sin(t * math.pi - math.pi / 2) / 2 + 0.5,
                  lambda t: np.sin(t * math.pi + math.pi / 2) / 2 + 0.5),
}


class Fade(Module):
    """The first fade_in_len samples faded in and the last fade_out_len faded out
    (fade_shape "linear", "exponential", "logarithmic", "quarter_sine" or "half_sine")."""

    def __init__(self, fade_in_len: int = 0, fade_out_len: int = 0, fade_shape: str = "linear"):
        super().__init__()
        if fade_shape not in _FADES:
            raise ValueError(f"Fade: fade_shape must be one of {sorted(_FADES)}, got "
                             f"{fade_shape!r}")
        self.fade_in_len, self.fade_out_len, self.fade_shape = fade_in_len, fade_out_len, fade_shape

    def forward(self, waveform) -> Tensor:
        x = F._tensor(waveform)
        length = x.shape[-1]
        fade_in, fade_out = _FADES[self.fade_shape]
        ramp_in = fade_in(np.linspace(0, 1, self.fade_in_len, dtype=np.float32))
        ramp_out = fade_out(np.linspace(0, 1, self.fade_out_len, dtype=np.float32))
        curve_in, curve_out = np.ones(length, np.float32), np.ones(length, np.float32)
        curve_in[:self.fade_in_len] = ramp_in
        curve_out[length - self.fade_out_len:] = ramp_out
        envelope = np.clip(curve_in, 0, 1) * np.clip(curve_out, 0, 1)  # each clamped, as torch
        return x * Tensor(envelope.astype(F._real_dtype(x)))
