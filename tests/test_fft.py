"""dlpy.fft against torch.fft (fixtures/fft/fft.npz, made by make_fft_fixtures.py): values and
gradients, odd and even lengths, n / s different from the input's, every norm; central
differences for first and second derivatives; the errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_fft import FFT_CASES, complex_gradcheck, replay_case

import dlpy
import dlpy.fft
from dlpy.autograd import gradgradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fft" / "fft.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("case", FFT_CASES)
def test_against_torch(ref, case):
    replay_case(ref, case, FFT_CASES[case])


def real(rng, *shape):
    return dlpy.tensor(rng.standard_normal(shape), requires_grad=True)


def cplx(rng, *shape):
    return dlpy.tensor(rng.standard_normal(shape) + 1j * rng.standard_normal(shape),
                       requires_grad=True)


# name -> (fn, input shape, complex input?)
GRADCHECKS = {
    "fft_real": (lambda x: dlpy.fft.fft(x, n=7), (2, 5), False),
    "fft_cut": (lambda x: dlpy.fft.fft(x, n=3, norm="ortho"), (2, 5), True),
    "ifft_pad": (lambda x: dlpy.fft.ifft(x, n=8, dim=0), (5, 2), True),
    "rfft_even": (lambda x: dlpy.fft.rfft(x), (2, 6), False),
    "rfft_odd_pad": (lambda x: dlpy.fft.rfft(x, n=7, norm="forward"), (2, 5), False),
    "irfft_odd": (lambda x: dlpy.fft.irfft(x, n=7), (2, 4), True),
    "irfft_even_long": (lambda x: dlpy.fft.irfft(x, n=10, norm="ortho"), (2, 4), True),
    "irfft_even_short": (lambda x: dlpy.fft.irfft(x, n=4), (2, 5), True),
    "hfft": (lambda x: dlpy.fft.hfft(x, n=6), (2, 4), True),
    "ihfft": (lambda x: dlpy.fft.ihfft(x, norm="ortho"), (2, 5), False),
    "fft2_s": (lambda x: dlpy.fft.fft2(x, s=(3, 5)), (2, 4, 4), True),
    "rfftn": (lambda x: dlpy.fft.rfftn(x, dim=(0, 2)), (3, 2, 5), False),
    "irfft2": (lambda x: dlpy.fft.irfft2(x, s=(4, 5)), (4, 3), True),
    "shifts": (lambda x: dlpy.fft.fftshift(x, dim=0) * dlpy.fft.ifftshift(x), (3, 4), True),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    """Central differences agree with the gradients where the transform is a true map of its
    input: irfft's input bins are free apart from the imaginary parts of bin 0 (and of bin n/2
    for an even n), which numpy.fft ignores and torch's gradient (like ours) gives 0 there."""
    fn, shape, is_complex = GRADCHECKS[name]
    rng = np.random.default_rng(len(name))
    x = cplx(rng, *shape) if is_complex else real(rng, *shape)
    complex_gradcheck(fn, x)


def test_rfft_gradient_counts_each_bin_once_and_irfft_doubles():
    """torch's convention, by hand: the gradient of rfft is the adjoint of the one-sided DFT
    (no Hermitian doubling), that of irfft doubles bins 1 .. n - (n // 2 + 1)."""
    x = dlpy.tensor(np.zeros(4), requires_grad=True)
    dlpy.fft.rfft(x).real.sum().backward()  # sum over k = 0..2 of cos(2 pi k t / 4)
    np.testing.assert_allclose(x.grad, [3, 0, 1, 0], atol=1e-12)
    for n, doubled in ((6, [1, 2, 2, 1]), (7, [1, 2, 2, 2])):
        spectrum = dlpy.tensor(np.zeros(4, complex), requires_grad=True)
        dlpy.fft.irfft(spectrum, n=n, norm="forward")[0].backward()
        np.testing.assert_allclose(spectrum.grad, doubled)


# name -> (real -> real fn, input shape): second derivatives by backward_graph
GRADGRADCHECKS = {
    "rfft_power": (lambda x: (dlpy.fft.rfft(x) * dlpy.fft.rfft(x).conj()).real, (2, 6)),
    "fft_convolution": (lambda x: dlpy.fft.irfft(dlpy.fft.rfft(x) ** 2, n=5), (5,)),
    "fftn_ifftn": (lambda x: (dlpy.fft.ifftn(dlpy.fft.fftn(x) * dlpy.fft.fftn(x))).real,
                   (3, 4)),
    "hfft_ihfft": (lambda x: dlpy.fft.hfft(dlpy.fft.ihfft(x) ** 2, n=5) * x, (5,)),
    "shift": (lambda x: dlpy.fft.fftshift(x * x), (4, 3)),
}


@pytest.mark.parametrize("name", GRADGRADCHECKS)
def test_gradgradcheck(name):
    fn, shape = GRADGRADCHECKS[name]
    assert gradgradcheck(fn, real(np.random.default_rng(len(name)), *shape))


def test_dtypes():
    x32 = dlpy.tensor([1.0, 2.0, 3.0, 4.0])
    assert dlpy.fft.fft(x32).dtype == np.complex64 and dlpy.fft.rfft(x32).dtype == np.complex64
    assert dlpy.fft.irfft(dlpy.fft.rfft(x32)).dtype == np.float32
    assert dlpy.fft.fft(dlpy.tensor(np.arange(4))).dtype == np.complex64  # ints: float32 first
    assert dlpy.fft.fft(dlpy.tensor(np.ones(4))).dtype == np.complex128
    assert dlpy.fft.fftshift(x32).dtype == np.float32
    np.testing.assert_allclose(dlpy.fft.irfft(dlpy.fft.rfft(x32), n=4).numpy(), x32.numpy(),
                               rtol=1e-6)


def test_frequencies_and_shifts():
    f = dlpy.fft.fftfreq(5, d=0.5)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f.numpy(), [0, 0.4, 0.8, -0.8, -0.4], rtol=1e-6)
    assert dlpy.fft.rfftfreq(6, dtype=np.float64).tolist() == [0, 1 / 6, 2 / 6, 3 / 6]
    assert dlpy.fft.fftfreq(0).shape == (0,)
    x = dlpy.tensor(np.arange(10.0).reshape(2, 5))
    np.testing.assert_array_equal(dlpy.fft.fftshift(x).numpy(), np.fft.fftshift(x.numpy()))
    np.testing.assert_array_equal(dlpy.fft.ifftshift(dlpy.fft.fftshift(x, 1), 1).numpy(),
                                  x.numpy())


def test_spectral_loss_decreases_with_an_optimiser():
    """Fit a signal to a target magnitude spectrum with Adam: the loss falls by 100x."""
    rng = np.random.default_rng(0)
    target = np.abs(np.fft.rfft(np.sin(np.arange(32) * 0.7) * 3, norm="ortho"))
    x = dlpy.nn.Parameter(rng.standard_normal(32))
    optimizer = dlpy.optim.Adam([x], lr=0.05)
    losses = []
    for _ in range(300):
        optimizer.zero_grad()
        loss = ((dlpy.fft.rfft(x, norm="ortho").abs() - dlpy.tensor(target)) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 100


@pytest.mark.parametrize("call, error, message", [
    (lambda x: dlpy.fft.fft(x, norm="unitary"), ValueError,
     "fft: norm must be None, 'backward', 'ortho' or 'forward', got 'unitary'"),
    (lambda x: dlpy.fft.fft(x, n=0), ValueError, "fft: invalid number of data points 0"),
    (lambda x: dlpy.fft.irfft(x[:, :1]), ValueError, "irfft: invalid number of data points 0"),
    (lambda x: dlpy.fft.fft(x, dim=2), ValueError, "fft: dim 2 is out of range"),
    (lambda x: dlpy.fft.rfft(x * 1j), TypeError, "rfft: expects a real input tensor, got"),
    (lambda x: dlpy.fft.fftn(x, dim=(0, 0)), ValueError, r"fftn: dim \(0, 0\) names an axis"),
    (lambda x: dlpy.fft.fftn(x, s=(2, 2), dim=(0,)), ValueError,
     r"fftn: s \(2, 2\) and dim \(0,\) must have the same length"),
    (lambda x: dlpy.fft.fft(np.array(["a", "b"])), TypeError,
     r"fft_fft\(\): argument 'input' \(position 1\) must be Tensor, not ndarray"),
    (lambda x: dlpy.fft.fftshift([1.0, 2.0]), TypeError, "must be Tensor, not list"),
    (lambda x: dlpy.fft.fft2(x, dim=None), TypeError, "argument 'dim' must be tuple of ints"),
    (lambda x: dlpy.fft.fftfreq(-1), ValueError, "fftfreq: n must be a non-negative int"),
    (lambda x: dlpy.fft.rfftfreq(4, dtype=np.int64), TypeError, "rfftfreq: dtype must be a"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(dlpy.tensor(np.ones((3, 4))))
