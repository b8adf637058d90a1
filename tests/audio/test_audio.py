"""dlpy.audio's own behaviour: float64 gradient checks, WAV files, random masking, Griffin-Lim
from a random phase, mu-law round trips and the error messages."""

from __future__ import annotations

import struct
import wave

import numpy as np
import pytest

import dlpy
from dlpy.audio import AudioMetaData, info, load, save
from dlpy.audio import functional as F
from dlpy.audio import transforms as T
from dlpy.models.feature_extraction import mel_filter_bank
from dlpy.tensor import Tensor
from dlpy.testing import gradcheck

RNG = np.random.default_rng(0)


def waveform(*shape) -> Tensor:
    return Tensor(0.3 * RNG.standard_normal(shape), requires_grad=True)


# ----------------------------------------------------------------- gradients
@pytest.mark.parametrize("make, shape", [
    (lambda: T.Spectrogram(n_fft=16, hop_length=4, power=1.0, normalized=True), (2, 40)),
    (lambda: T.MelSpectrogram(8000, n_fft=16, hop_length=5, n_mels=4, norm="slaney"), (40,)),
    (lambda: T.MFCC(8000, n_mfcc=3, melkwargs={"n_fft": 16, "n_mels": 5, "hop_length": 6}),
     (2, 1, 36)),
    (lambda: T.LFCC(8000, n_filter=5, n_lfcc=3, log_lf=True, speckwargs={"n_fft": 16}), (36,)),
    (lambda: T.Resample(5, 3), (2, 30)),
    (lambda: T.ComputeDeltas(win_length=5), (3, 12)),
    (lambda: T.Fade(5, 7, "half_sine"), (2, 20)),
], ids=["spectrogram", "melspectrogram", "mfcc", "lfcc", "resample", "deltas", "fade"])
def test_gradcheck_transforms(make, shape):
    assert gradcheck(make(), waveform(*shape))


@pytest.mark.parametrize("fn", [
    lambda x: F.lfilter(x, [1.0, -0.5, 0.2], [0.3, 0.2, 0.1], clamp=False),
    lambda x: F.deemphasis(x * 0.5, 0.8),
    lambda x: F.preemphasis(x, 0.9),
    lambda x: F.spectral_centroid(x, 8000, 1, dlpy.hann_window(16, dtype=np.float64), 16, 4,
                                  16),
], ids=["lfilter", "deemphasis", "preemphasis", "spectral_centroid"])
def test_gradcheck_functional(fn):
    assert gradcheck(fn, waveform(2, 30))


def test_griffinlim_gradcheck_on_a_spectrogram():
    spec = Tensor(RNG.random((5, 6)) + 0.5, requires_grad=True)
    window = dlpy.hann_window(8, dtype=np.float64)
    assert gradcheck(lambda s: F.griffinlim(s, window, 8, 2, 8, 2.0, 2, 0.5, None, False), spec)


# ----------------------------------------------------------------- griffin-lim, mu-law
def test_griffinlim_random_phase_recovers_the_magnitude():
    t = np.arange(4000) / 8000
    wave = np.sin(2 * np.pi * 440 * t) * 0.5
    spec = T.Spectrogram(n_fft=128, hop_length=32)(Tensor(wave))
    dlpy.manual_seed(0)  # (torch's stream: 30 iterations from it leave 0.108, 60 leave 0.077)
    first = T.GriffinLim(n_fft=128, hop_length=32, n_iter=60, length=4000)(spec)
    dlpy.manual_seed(0)
    again = T.GriffinLim(n_fft=128, hop_length=32, n_iter=60, length=4000)(spec)
    assert first.shape == (4000,) and np.array_equal(first.data, again.data)
    rebuilt = T.Spectrogram(n_fft=128, hop_length=32)(first).data
    error = np.linalg.norm(np.sqrt(rebuilt) - np.sqrt(spec.data)) / np.linalg.norm(
        np.sqrt(spec.data))
    assert error < 0.1


def test_mu_law_round_trip_and_range():
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    codes = T.MuLawEncoding(256)(Tensor(x))
    assert codes.data.dtype == np.int64 and codes.data.min() == 0 and codes.data.max() == 255
    back = T.MuLawDecoding(256)(codes).data
    assert back.dtype == np.float32
    assert np.abs(back - x).max() < 0.025  # half the widest step (near +-1, 0.043)


# ----------------------------------------------------------------- masking
@pytest.mark.parametrize("axis", [1, 2])
def test_masking_one_band_for_the_batch(axis):
    spec = Tensor(RNG.random((3, 20, 30)) + 1.0)
    masking = T.FrequencyMasking(8) if axis == 1 else T.TimeMasking(8)
    for seed in range(20):
        dlpy.manual_seed(seed)
        out = masking(spec, mask_value=-1.0).data
        masked = (out == -1.0)
        assert np.array_equal(out[~masked], spec.data[~masked])
        band = masked.all(axis=(0, 3 - axis))  # positions masked in every example
        assert np.array_equal(masked.any(axis=(0, 3 - axis)), band)
        width = band.sum()
        assert width < 8
        if width:
            start = band.argmax()
            assert band[start:start + width].all()


def test_iid_masks_differ_between_examples_and_repeat_with_the_seed():
    spec = Tensor(RNG.random((16, 10, 40)) + 1.0)
    dlpy.manual_seed(3)
    out = T.TimeMasking(20, iid_masks=True)(spec).data
    dlpy.manual_seed(3)
    again = T.TimeMasking(20, iid_masks=True)(spec).data
    assert np.array_equal(out, again)
    widths = (out == 0).all(axis=1).sum(axis=-1)
    assert len(set(widths.tolist())) > 1 and widths.max() < 20


def test_time_masking_p_caps_the_width_and_specaugment_fills_the_mean():
    spec = Tensor(RNG.random((2, 10, 20)) + 1.0)
    for seed in range(10):
        dlpy.manual_seed(seed)
        out = T.TimeMasking(15, p=0.1)(spec).data  # at most int(20 * 0.1) = 2 frames
        assert (out == 0).all(axis=(0, 1)).sum() < 2
    dlpy.manual_seed(1)
    out = T.SpecAugment(2, 6, 2, 4)(spec).data
    filled = np.isclose(out, spec.data.mean()) & ~np.isclose(spec.data, spec.data.mean())
    assert filled.any() and np.array_equal(out[~filled], spec.data[~filled])


def test_masking_gradient_is_zero_inside_the_band():
    spec = Tensor(RNG.random((1, 6, 12)), requires_grad=True)
    dlpy.manual_seed(5)
    out = F.mask_along_axis(spec, 10, 0.0, 2)
    out.sum().backward()
    assert np.array_equal(spec.grad != 0, out.data != 0)


# ----------------------------------------------------------------- WAV files
def test_save_load_float32_and_info(tmp_path):
    data = (0.5 * RNG.standard_normal((2, 101))).astype(np.float32)
    path = tmp_path / "float.wav"
    save(path, Tensor(data), 22050)
    assert info(path) == AudioMetaData(22050, 101, 2, 32, "PCM_F")
    loaded, rate = load(path)
    assert rate == 22050 and loaded.data.dtype == np.float32
    assert np.array_equal(loaded.data, data)
    part, _ = load(path, frame_offset=10, num_frames=5, channels_first=False)
    assert np.array_equal(part.data, data[:, 10:15].T)


def test_pcm16_through_the_wave_module(tmp_path):
    ints = np.array([[0, 1, -1, 32767, -32768, 1000]], np.int16)
    path = tmp_path / "pcm16.wav"
    with wave.open(str(path), "wb") as f:  # written by the standard library
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(ints.tobytes())
    assert info(path) == AudioMetaData(8000, 6, 1, 16, "PCM_S")
    normalized, rate = load(path)
    assert rate == 8000 and normalized.data.dtype == np.float32
    assert np.array_equal(normalized.data, ints / np.float32(32768))
    raw, _ = load(path, normalize=False)
    assert raw.data.dtype == np.int16 and np.array_equal(raw.data, ints)
    floats = np.array([[0.5, -1.0, 1.0, 0.25]], np.float32)  # float -> 16-bit PCM: scaled, clipped
    save(tmp_path / "out16.wav", floats, 8000, encoding="PCM_S", bits_per_sample=16)
    raw, _ = load(tmp_path / "out16.wav", normalize=False)
    assert np.array_equal(raw.data, [[16384, -32768, 32767, 8192]])
    save(tmp_path / "int16.wav", Tensor(ints), 8000)  # an int16 tensor stays 16-bit
    assert info(tmp_path / "int16.wav").bits_per_sample == 16
    assert np.array_equal(load(tmp_path / "int16.wav", normalize=False)[0].data, ints)


def test_pcm8_and_pcm24(tmp_path):
    save(tmp_path / "u8.wav", np.array([[0, 128, 255]], np.uint8), 8000)
    assert info(tmp_path / "u8.wav").encoding == "PCM_U"
    assert np.array_equal(load(tmp_path / "u8.wav")[0].data, [[-1.0, 0.0, 127 / 128]])
    values = np.array([0, 1, -1, 2 ** 23 - 1, -2 ** 23])
    with wave.open(str(tmp_path / "s24.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(3)
        f.setframerate(8000)
        f.writeframes(b"".join(struct.pack("<i", int(v))[:3] for v in values))
    loaded, _ = load(tmp_path / "s24.wav")
    np.testing.assert_array_equal(loaded.data[0], (values / 2 ** 23).astype(np.float32))


def test_wav_errors(tmp_path):
    (tmp_path / "text.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="not a WAV file"):
        load(tmp_path / "text.wav")
    with pytest.raises(ValueError, match="only WAV"):
        load(tmp_path / "text.wav", format="mp3")
    with pytest.raises(ValueError, match="PCM_U 8-bit and PCM_S 16/32-bit"):
        save(tmp_path / "x.wav", np.zeros((1, 4), np.float32), 8000, encoding="PCM_S",
             bits_per_sample=24)


# ----------------------------------------------------------------- shared code, errors
def test_whisper_filters_are_the_slaney_melscale_fbanks():
    ours = F.melscale_fbanks(201, 0.0, 8000.0, 80, 16000, norm="slaney", mel_scale="slaney")
    np.testing.assert_array_equal(ours.data, mel_filter_bank(201, 80, 0.0, 8000.0, 16000)
                                  .astype(np.float32))


def test_resample_module_and_function_agree_and_identity():
    x = Tensor(RNG.standard_normal((2, 300)).astype(np.float32))
    np.testing.assert_allclose(T.Resample(16000, 12000)(x).data,
                               F.resample(x, 16000, 12000).data, rtol=1e-6, atol=1e-6)
    assert T.Resample(8000, 8000)(x) is x and "kernel" not in T.Resample(8000, 8000).state_dict()


@pytest.mark.parametrize("call, message", [
    (lambda: F.spectrogram(Tensor(np.zeros(64)), 0, np.ones(16), 16, 4, 16, 2.0, "energy"),
     "normalized must be"),
    (lambda: F.spectrogram(Tensor(np.zeros(64, np.int64)), 0, np.ones(16), 16, 4, 16, 2.0,
                           False), "expected a float waveform"),
    (lambda: F.melscale_fbanks(201, 0, 8000, 40, 16000, norm="area"), "norm must be None or"),
    (lambda: F.hz_to_mel(440.0, "bark"), "mel_scale must be 'htk' or 'slaney'"),
    (lambda: F.create_dct(13, 40, "l2"), "norm must be None or 'ortho'"),
    (lambda: F.compute_deltas(Tensor(np.zeros((2, 9))), win_length=2), "at least 3"),
    (lambda: F.mask_along_axis(Tensor(np.zeros((2, 4, 5))), 3, 0.0, 0), "axis must be 1"),
    (lambda: F.mask_along_axis_iid(Tensor(np.zeros((4, 5))), 3, 0.0, 1), "at least 3"),
    (lambda: F.lfilter(Tensor(np.zeros(9)), [0.0, 1.0], [1.0, 0.0]), "must not be 0"),
    (lambda: F.resample(Tensor(np.zeros(9)), 44100.5, 16000), "positive integers"),
    (lambda: T.Resample(16000, 8000, resampling_method="linear"), "resampling_method"),
    (lambda: T.GriffinLim(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: T.MelScale(f_min=9000.0), "expected f_min <= f_max"),
    (lambda: T.MFCC(n_mfcc=200, melkwargs={"n_mels": 64}), "n_mfcc .200. must be at most"),
    (lambda: T.Vol(-1.0), "gain must be positive"),
    (lambda: T.Fade(10, 10, "cubic"), "fade_shape must be one of"),
    (lambda: T.InverseMelScale(201, n_mels=16)(Tensor(np.ones((8, 3)))), "expected 16 mel bins"),
])
def test_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_lazy_attribute():
    assert dlpy.audio.transforms.MelSpectrogram is T.MelSpectrogram
