"""Whisper's log-mel features, as transformers' WhisperFeatureExtractor (its numpy path),
settings from ``preprocessor_config.json``:

    pad / cut   each waveform to chunk_length * sampling_rate samples (30 s), zeros after
    STFT        frames of n_fft samples every hop_length, centred (reflect-padded by n_fft / 2),
                a periodic Hann window; power |X|^2, the last frame dropped
    mel         (feature_size, 1 + n_fft / 2) triangular filters on the slaney mel scale from
                0 to 8000 Hz, slaney-normalised (each filter's area 2 / its width in Hz)
    log         log10(max(mel, 1e-10)), clamped below at its maximum - 8, then (x + 4) / 4

Output {"input_features": (batch, feature_size, chunk_length * sampling_rate / hop_length)
float32} (and "attention_mask" (batch, frames) with return_attention_mask).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dlpy.audio.functional import hz_to_mel, mel_to_hz, melscale_filters
from dlpy.models import _hf
from dlpy.tensor import Tensor

__all__ = ["WhisperFeatureExtractor", "hertz_to_mel", "mel_filter_bank", "mel_to_hertz"]

PREPROCESSOR_CONFIG = _hf.PREPROCESSOR_CONFIG


def hertz_to_mel(freq: np.ndarray) -> np.ndarray:
    """The slaney mel scale: linear (3 / 200 mel a Hz) below 1 kHz, logarithmic above."""
    return hz_to_mel(freq, "slaney")


def mel_to_hertz(mels: np.ndarray) -> np.ndarray:
    """The inverse of hertz_to_mel."""
    return mel_to_hz(mels, "slaney")


def mel_filter_bank(num_frequency_bins: int, num_mel_filters: int, min_frequency: float,
                    max_frequency: float, sampling_rate: int) -> np.ndarray:
    """(num_frequency_bins, num_mel_filters) float64: triangles between num_mel_filters + 2
    points evenly spaced in slaney mels, each scaled by 2 / (its upper - lower edge in Hz), as
    transformers' mel_filter_bank(norm="slaney", mel_scale="slaney") (and librosa's): dlpy.audio's
    melscale_fbanks(norm="slaney", mel_scale="slaney") in float64."""
    return melscale_filters(num_frequency_bins, min_frequency, max_frequency, num_mel_filters,
                            sampling_rate, norm="slaney", mel_scale="slaney")


@dataclasses.dataclass
class WhisperFeatureExtractor(_hf.PreprocessorFile):
    """Raw audio (mono, sampling_rate Hz) -> Whisper's log-mel input_features."""

    directory_kind = "a speech model's"

    feature_size: int = 80
    sampling_rate: int = 16000
    hop_length: int = 160
    chunk_length: int = 30
    n_fft: int = 400
    padding_value: float = 0.0
    return_attention_mask: bool = False

    def __post_init__(self):
        for name in ("feature_size", "sampling_rate", "hop_length", "chunk_length", "n_fft"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"WhisperFeatureExtractor: {name} must be a positive integer, "
                                 f"got {value!r}")
        self.mel_filters = mel_filter_bank(1 + self.n_fft // 2, self.feature_size, 0.0, 8000.0,
                                           self.sampling_rate)

    @property
    def n_samples(self) -> int:
        """The samples of one window: chunk_length seconds."""
        return self.chunk_length * self.sampling_rate

    @property
    def nb_max_frames(self) -> int:
        return self.n_samples // self.hop_length

    # ------------------------------------------------------------------ config files
    @classmethod
    def from_dict(cls, values: dict, source: str = "preprocessor config"):
        """From a preprocessor_config.json dict; other keys (mel_filters, processor_class...)
        are ignored: the filters are recomputed."""
        if not isinstance(values, dict):
            raise TypeError(f"{source}: expected a dict, got {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        try:
            return cls(**{key: value for key, value in values.items() if key in names})
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "feature_extractor_type": type(self).__name__}

    # ------------------------------------------------------------------ features
    def __call__(self, raw_speech, sampling_rate: int | None = None,
                 return_tensors: str | None = None, return_attention_mask: bool | None = None,
                 max_length: int | None = None, truncation: bool = True,
                 padding: bool | str = "max_length", pad_to_multiple_of: int | None = None,
                 do_normalize: bool | None = None) -> dict:
        """raw_speech: one waveform (samples,) or a batch (a list of them, or (batch,
        samples)) -> {"input_features": (batch, feature_size, samples // hop_length)}, as
        transformers: padding "max_length" pads with zeros to ``max_length`` samples (default
        30 s) and, with truncation, cuts longer ones; "longest" (or True) pads to the longest
        waveform (long-form audio: truncation=False, padding="longest"); pad_to_multiple_of
        rounds up; do_normalize makes each waveform zero-mean, unit-variance first.
        "attention_mask" (batch, frames) with return_attention_mask."""
        owner = type(self).__name__
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(f"{owner}: the audio is sampled at {sampling_rate} Hz, but the model "
                             f"takes {self.sampling_rate} Hz; resample it first")
        waves = _waveforms(owner, raw_speech)
        longest = max(len(wave) for wave in waves)
        if padding is True or padding == "longest":
            length = longest
        elif padding == "max_length":
            length = max_length or self.n_samples
            if not truncation:
                length = max(length, longest)
        elif padding is False or padding == "do_not_pad":
            if len({len(wave) for wave in waves}) > 1:
                raise ValueError(f"{owner}: padding={padding!r} needs waveforms of one length, "
                                 f"got {sorted({len(wave) for wave in waves})} samples")
            length = longest
        else:
            raise ValueError(f"{owner}: padding must be 'max_length', 'longest' (True) or "
                             f"'do_not_pad' (False), got {padding!r}")
        if pad_to_multiple_of:
            length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
        padded = np.full((len(waves), length), self.padding_value, np.float32)
        mask = np.zeros((len(waves), length), np.int32)
        for i, wave in enumerate(waves):
            n = min(len(wave), length)
            padded[i, :n], mask[i, :n] = wave[:n], 1
            if do_normalize:  # transformers' zero_mean_unit_var_norm over the real samples
                part = padded[i, :n]
                padded[i, :n] = (part - part.mean()) / np.sqrt(part.var() + 1e-7)
                padded[i, n:] = self.padding_value
        features = self.extract_fbank_features(padded)
        if return_tensors not in (None, "np", "dl"):
            raise ValueError(f"{owner}: return_tensors must be None, 'np' or 'dl', got "
                             f"{return_tensors!r}")
        out = {"input_features": Tensor(features) if return_tensors == "dl" else features}
        if self.return_attention_mask if return_attention_mask is None else \
                return_attention_mask:
            frames = mask[:, ::self.hop_length]  # one a frame; the STFT's last one dropped
            out["attention_mask"] = frames[:, :-1] if length % self.hop_length else frames
        return out

    def extract_fbank_features(self, waveforms: np.ndarray) -> np.ndarray:
        """(batch, samples) -> (batch, feature_size, samples // hop_length) log-mel, each
        example clamped at its own maximum - 8."""
        window = np.hanning(self.n_fft + 1)[:-1]  # periodic Hann
        pad = self.n_fft // 2
        out = []
        for wave in np.asarray(waveforms, dtype=np.float64):
            wave = np.pad(wave, pad, mode="reflect")
            count = 1 + (len(wave) - self.n_fft) // self.hop_length
            starts = np.arange(count) * self.hop_length
            frames = wave[starts[:, None] + np.arange(self.n_fft)[None, :]] * window
            power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (frames, bins)
            mel = self.mel_filters.T @ power.T  # (mels, frames)
            log_spec = np.log10(np.maximum(mel, 1e-10))[:, :-1]
            log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
            out.append((log_spec + 4.0) / 4.0)
        return np.asarray(out, dtype=np.float32)


def _waveforms(owner: str, raw_speech) -> list[np.ndarray]:
    """One waveform or a batch as a list of float32 (samples,) arrays."""
    if isinstance(raw_speech, (list, tuple)) and raw_speech \
            and np.ndim(raw_speech[0]) >= 1:
        waves = [np.asarray(w, dtype=np.float32) for w in raw_speech]
    else:
        array = np.asarray(raw_speech, dtype=np.float32)
        waves = [array] if array.ndim == 1 else list(array)
    for i, wave in enumerate(waves):
        if wave.ndim != 1 or not len(wave):
            raise ValueError(f"{owner}: expected mono waveforms (samples,), got waveform {i} of "
                             f"shape {wave.shape}")
    return waves
