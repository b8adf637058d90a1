"""dlpy.stft / istft and the window functions against torch's (fixtures/fft/stft.npz and
windows.npz, made by make_fft_fixtures.py), central differences through both, a spectrogram
fitted by an optimiser, and the errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_fft import STFT_CASES, WINDOWS, complex_gradcheck, replay_case

import dlpy

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fft"


def load(name):
    with np.load(FIXTURES / name) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def ref():
    return load("stft.npz")


@pytest.mark.parametrize("case", STFT_CASES)
def test_against_torch(ref, case):
    replay_case(ref, case, STFT_CASES[case])


def test_windows_against_torch():
    ref = load("windows.npz")
    for name, lengths in WINDOWS.items():
        for length in lengths:
            for periodic in (True, False):
                window = getattr(dlpy, name)(length, periodic, dtype=np.float64)
                np.testing.assert_allclose(window.numpy(), ref[f"{name}:{length}:{periodic}"],
                                           rtol=1e-12, atol=1e-15, err_msg=f"{name} {length}")
    assert dlpy.hann_window(8).dtype == np.float32  # torch's default dtype
    assert dlpy.kaiser_window(5, True, beta=4.0, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="kaiser_window: beta is given, so periodic must be"):
        dlpy.kaiser_window(5, beta=4.0)  # torch's overloads: beta only after periodic
    np.testing.assert_allclose(dlpy.hamming_window(5, False, alpha=0.5, beta=0.5).numpy(),
                               dlpy.hann_window(5, False).numpy(), atol=1e-7)


def test_gradcheck_stft():
    rng = np.random.default_rng(0)
    x = dlpy.tensor(rng.standard_normal((2, 23)), requires_grad=True)
    window = dlpy.tensor(rng.random(6) + 0.5, requires_grad=True)
    complex_gradcheck(lambda x, w: dlpy.stft(x, 8, 3, 6, window=w, return_complex=True),
                      x, window)
    z = dlpy.tensor(rng.standard_normal(17) + 1j * rng.standard_normal(17), requires_grad=True)
    complex_gradcheck(lambda z: dlpy.stft(z, 6, 4, center=False, onesided=False,
                                          return_complex=True), z)


def test_gradcheck_istft():
    rng = np.random.default_rng(1)
    spectrum = dlpy.tensor(rng.standard_normal((5, 7)) + 1j * rng.standard_normal((5, 7)),
                           requires_grad=True)
    window = dlpy.tensor(rng.random(8) + 0.5, requires_grad=True)
    # the imaginary parts of bins 0 and n_fft / 2 do not reach the signal (their gradient is 0)
    complex_gradcheck(lambda s, w: dlpy.istft(s, 8, 2, window=w, length=20), spectrum, window)
    two_sided = dlpy.tensor(rng.standard_normal((8, 4)) + 1j * rng.standard_normal((8, 4)),
                            requires_grad=True)
    complex_gradcheck(lambda s: dlpy.istft(s, 8, 3, center=False, onesided=False,
                                           return_complex=True), two_sided)


def test_round_trip():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 100))
    for kwargs in ({}, {"hop_length": 3, "win_length": 12}, {"normalized": True}):
        window = dlpy.hann_window(kwargs.get("win_length", 16), dtype=np.float64)
        spectrum = dlpy.stft(dlpy.tensor(x), 16, window=window, return_complex=True, **kwargs)
        kwargs.pop("center", None)
        back = dlpy.istft(spectrum, 16, window=window, length=100, **kwargs)
        np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


def test_fitting_a_magnitude_spectrogram():
    """A spectral loss: Adam moves a noise signal until its |stft| matches a chirp's."""
    rng = np.random.default_rng(3)
    t = np.arange(256)
    target_signal = np.sin(0.05 * t + 0.0008 * t ** 2)
    window = dlpy.hann_window(64, dtype=np.float64)

    def magnitude(signal):
        return dlpy.stft(signal, 64, 16, window=window, return_complex=True).abs()

    target = magnitude(dlpy.tensor(target_signal)).detach()
    x = dlpy.nn.Parameter(0.1 * rng.standard_normal(256))
    optimizer = dlpy.optim.Adam([x], lr=0.05)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((magnitude(x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[50] < losses[0] / 5, (losses[0], losses[50], losses[-1])
    assert losses[-1] < losses[0] / 10


@pytest.mark.parametrize("call, error, message", [
    (lambda x: dlpy.stft(x, 16, window=dlpy.ones(16)), ValueError,
     "stft: return_complex must be given for a real input"),
    (lambda x: dlpy.stft(x, 0, return_complex=True), ValueError,
     "stft: n_fft must be a positive int, got 0"),
    (lambda x: dlpy.stft(x, 16, hop_length=0, return_complex=True), ValueError,
     "stft: hop_length must be a positive int"),
    (lambda x: dlpy.stft(x, 16, win_length=20, return_complex=True), ValueError,
     r"stft: win_length must be an int in 1 .. n_fft \(16\), got 20"),
    (lambda x: dlpy.stft(x, 16, window=dlpy.hann_window(8), return_complex=True), ValueError,
     r"stft: window must be 1-D of length win_length \(16\), got shape \(8,\)"),
    (lambda x: dlpy.stft(x, 64, center=False, return_complex=True), ValueError,
     r"stft: n_fft \(64\) must be at most the \(padded\) signal length 40"),
    (lambda x: dlpy.stft(x.reshape(2, 2, 10), 8, return_complex=True), ValueError,
     r"stft: expected a float or complex 1-D .* shape \(2, 2, 10\)"),
    (lambda x: dlpy.stft(x * 1j, 8, return_complex=True, onesided=True), ValueError,
     "stft: onesided=True needs a real input and window"),
    (lambda x: dlpy.stft(x, 8, pad_mode="mirror", return_complex=True), ValueError,
     "stft: pad_mode must be"),
    (lambda x: dlpy.istft(x.reshape(4, 10), 8), ValueError, "istft: expected a complex 2-D"),
    (lambda x: dlpy.istft(x.reshape(4, 10) * 1j, 8), ValueError,
     r"istft: expected 5 frequencies for n_fft 8 \(onesided=True\), got 4"),
    (lambda x: dlpy.istft(x[:25].reshape(5, 5) * 1j, 8, 8, window=dlpy.tensor(
        np.r_[np.ones(4), np.zeros(4)])), ValueError, "istft: the overlap-added squared window"),
    (lambda x: dlpy.hann_window(-1), ValueError, "hann_window: window_length must be a"),
    (lambda x: dlpy.kaiser_window(4, dtype=np.int32), TypeError,
     "kaiser_window: dtype must be a float dtype"),
    (lambda x: dlpy.blackman_window(4, periodic=1), TypeError, "blackman_window: periodic must"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(dlpy.tensor(np.ones(40)))


def test_return_complex_false_is_view_as_real_with_a_warning():
    x = dlpy.tensor(np.sin(np.arange(20.0)))
    window = dlpy.hann_window(8, dtype=np.float64)
    with pytest.warns(UserWarning, match="return_complex=False is deprecated"):
        pairs = dlpy.stft(x, 8, 2, window=window, return_complex=False)
    want = dlpy.view_as_real(dlpy.stft(x, 8, 2, window=window, return_complex=True))
    assert pairs.shape == (5, 11, 2)
    np.testing.assert_array_equal(pairs.data, want.data)


def test_no_window_warns_at_the_callers_line():
    with pytest.warns(UserWarning, match="no window was given") as record:
        dlpy.stft(dlpy.tensor(np.ones(16)), 8, return_complex=True)
    assert record[0].filename == __file__


def test_half_windows_round_each_step_as_torch():
    """torch computes a float16 window in float16, step by step (fixture values from torch)."""
    np.testing.assert_array_equal(
        dlpy.hann_window(7, dtype=np.float16).data.astype(np.float64),
        [0.0, 0.188232421875, 0.611328125, 0.9501953125, 0.95068359375, 0.611328125,
         0.189453125])
