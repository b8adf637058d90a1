"""dlpy.audio.functional.lfilter against torchaudio 2.9 (tests/fixtures/lfilter.npz, made by
tests/fixtures/make_lfilter_fixtures.py): values and the gradients of the waveform and both
coefficients for 1-D and 2-D coefficients, batching on and off, the clamp, a long recursion and
float32; float64 gradient checks; biquad with Tensor coefficients; the error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlpy.audio import functional as F
from dlpy.tensor import Tensor
from dlpy.testing import gradcheck

REF = np.load(Path(__file__).parents[1] / "fixtures" / "lfilter.npz")
CASES = {case["case"]: case for case in json.loads(REF["cases"].tobytes())}
RNG = np.random.default_rng(0)


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float, what: str):
    """Within tolerance of expected's largest magnitude (at least 1)."""
    assert actual.shape == expected.shape, what
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance * scale, err_msg=what)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torchaudio(name):
    case = CASES[name]
    x, a, b = (Tensor(REF[f"{name}:{key}"], requires_grad=True) for key in "xab")
    out = F.lfilter(x, a, b, clamp=case["clamp"], batching=case["batching"])
    (out * REF[f"{name}:grad_output"]).sum().backward()
    results = {"out": out.data, "dx": x.grad, "da": a.grad, "db": b.grad}
    for key, value in results.items():
        assert value.dtype == np.dtype(case["dtype"]), key
        if case["dtype"] == "float64":
            assert_close(value, REF[f"{name}:{key}"], 1e-12, key)
        else:  # torchaudio's float32 sums over time are ~2e-5 off; its float64 ones are not
            assert_close(value, REF[f"{name}:{key}"], 1e-4, key)
            assert_close(value, REF[f"{name}:{key}64"], 1e-5, key)


def test_clamped_case_reaches_the_clamp():
    # the clamped case must clamp somewhere, or it tests nothing that the others do not
    out = F.lfilter(REF["clamped:x"], REF["clamped:a"], REF["clamped:b"], clamp=False).data
    assert np.abs(out).max() > 1.0


def test_long_signal_matches_the_plain_recursion():
    # a recursion sample by sample over 20 blocks, poles close to z = 1, three rows
    x = 0.3 * RNG.standard_normal((3, 5000))
    a, b = np.array([1.0, -1.97, 0.9704]), np.array([0.2, -0.1, 0.05])
    fir = np.stack([np.convolve(row, b)[:5000] for row in x])
    expected = np.zeros((3, 5002))
    for n in range(5000):
        expected[:, n + 2] = fir[:, n] - a[1] * expected[:, n + 1] - a[2] * expected[:, n]
    out = F.lfilter(Tensor(x), a, b, clamp=False).data
    np.testing.assert_allclose(out, expected[:, 2:], rtol=0,
                               atol=1e-12 * np.abs(expected).max())


def coefficients(*shape) -> tuple[Tensor, Tensor]:
    a = RNG.uniform(-0.3, 0.3, shape)
    a[..., 0] = RNG.uniform(1.0, 2.0, shape[:-1])  # a stable filter, a[0] not 1
    return Tensor(a, requires_grad=True), Tensor(RNG.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("x_shape, coefficient_shape, batching", [
    ((2, 25), (3,), True),
    ((2, 3, 20), (3, 4), True),
    ((2, 20), (3, 2), False),
    ((4,), (6,), True),  # a signal shorter than the order
])
def test_gradcheck(x_shape, coefficient_shape, batching):
    x = Tensor(0.3 * RNG.standard_normal(x_shape), requires_grad=True)
    a, b = coefficients(*coefficient_shape)
    assert gradcheck(lambda x, a, b: F.lfilter(x, a, b, clamp=False, batching=batching),
                     x, a, b)


def test_every_filter_equals_one_filter_at_a_time():
    x = Tensor(0.3 * RNG.standard_normal((2, 30)))
    a, b = coefficients(3, 3)
    out = F.lfilter(x, a, b, clamp=False, batching=False)
    assert out.shape == (2, 3, 30)
    for i in range(3):
        one = F.lfilter(x, a.data[i], b.data[i], clamp=False)
        np.testing.assert_allclose(out.data[:, i], one.data, rtol=0, atol=1e-15)


def test_biquad_with_tensor_coefficients():
    x = Tensor(0.3 * RNG.standard_normal((2, 20)), requires_grad=True)
    b1, a1 = (Tensor(np.array(value), requires_grad=True) for value in (0.3, -0.4))
    out = F.biquad(x, 0.2, b1, 0.1, 1.2, a1, 0.2)
    np.testing.assert_allclose(out.data, F.biquad(x, 0.2, 0.3, 0.1, 1.2, -0.4, 0.2).data,
                               rtol=0, atol=0)
    assert gradcheck(lambda x, b1, a1: F.biquad(x * 0.5, 0.2, b1, 0.1, 1.2, a1, 0.2), x, b1, a1)


@pytest.mark.parametrize("call, message", [
    (lambda: F.lfilter(Tensor(np.zeros(9)), [1.0, 0.5], [1.0, 0.5, 0.0]), "of one shape"),
    (lambda: F.lfilter(Tensor(np.zeros(9)), np.ones((1, 1, 2)), np.ones((1, 1, 2))),
     "of one shape"),
    (lambda: F.lfilter(Tensor(np.zeros((2, 9))), [[1.0, 0.5], [0.0, 1.0]], np.ones((2, 2))),
     "must not be 0"),
    (lambda: F.lfilter(Tensor(np.zeros((3, 9))), np.ones((2, 2)), np.ones((2, 2))),
     r"expected a waveform \(\.\.\., 2, time\) for 2 filters, got \(3, 9\)"),
    (lambda: F.lfilter(Tensor(np.zeros(9)), np.ones((2, 2)), np.ones((2, 2))),
     r"got \(9,\)"),
    (lambda: F.lfilter(Tensor(np.array(1.0)), [1.0], [1.0]), "got a scalar"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
