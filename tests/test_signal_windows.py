"""dlpy.signal.windows against torch.signal.windows (tests/fixtures/misc_top/windows.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy.signal import windows

FIXTURE = Path(__file__).parent / "fixtures" / "misc_top" / "windows.npz"
# repeated from tests/fixtures/make_misc_top_fixtures.py
SETTINGS = {
    "bartlett": [{}], "blackman": [{}], "cosine": [{}], "hamming": [{}], "hann": [{}],
    "nuttall": [{}], "exponential": [{}, {"tau": 0.5}], "gaussian": [{}, {"std": 0.7}],
    "general_cosine": [{"a": [0.46, 0.23, 0.31]}], "general_hamming": [{}, {"alpha": 0.6}],
    "kaiser": [{}, {"beta": 5.0}],
}
LENGTHS = (0, 1, 2, 5, 6, 11)
CASES = [(name, case, kwargs) for name, settings in SETTINGS.items()
         for case, kwargs in enumerate(settings)]


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "case", "kwargs"), CASES)
def test_windows_equal_torch(expected, name, case, kwargs, dtype):
    function = getattr(windows, name)
    got = [function(M, sym=sym, dtype=getattr(dlpy, dtype), **kwargs)
           for M in LENGTHS for sym in (True, False)]
    assert all(w.dtype == np.dtype(dtype) for w in got)
    assert [w.shape for w in got] == [(M,) for M in LENGTHS for _ in range(2)]
    want = expected[f"{name}:{case}:{dtype}"]
    tolerance = dict(rtol=1e-13, atol=1e-15) if dtype == "float64" else dict(rtol=2e-6,
                                                                            atol=1e-7)
    np.testing.assert_allclose(np.concatenate([w.data for w in got]), want, **tolerance)


def test_exponential_center_and_default_dtype(expected):
    np.testing.assert_allclose(windows.exponential(7, center=2.0, sym=False,
                                                   dtype=dlpy.float64).data,
                               expected["exponential:center"], rtol=1e-14)
    assert windows.hann(4).dtype == np.float32  # the default dtype
    w = windows.hann(4, requires_grad=True)
    assert w.requires_grad
    assert dlpy.signal.windows is windows


def test_periodic_is_the_symmetric_window_of_one_more_point():
    np.testing.assert_allclose(windows.hann(8, sym=False, dtype=dlpy.float64).data,
                               windows.hann(9, dtype=dlpy.float64).data[:-1], atol=1e-15)


def test_bad_arguments():
    with pytest.raises(ValueError, match="hann: requires a non-negative integer window length, "
                                         "got M=-1"):
        windows.hann(-1)
    with pytest.raises(ValueError, match="kaiser: expects float32 or float64 dtypes, got int64"):
        windows.kaiser(3, dtype=dlpy.int64)
    with pytest.raises(ValueError, match="gaussian: std must be positive, got 0"):
        windows.gaussian(3, std=0)
    with pytest.raises(ValueError, match="exponential: tau must be positive, got -1"):
        windows.exponential(3, tau=-1)
    with pytest.raises(ValueError, match="exponential: center must be None for symmetric"):
        windows.exponential(3, center=1.0)
    with pytest.raises(ValueError, match="kaiser: beta must be non-negative, got -2"):
        windows.kaiser(3, beta=-2)
    with pytest.raises(TypeError, match="general_cosine: coefficients a must be a list or tuple"):
        windows.general_cosine(3, a=0.5)
    with pytest.raises(ValueError, match="general_cosine: coefficients a cannot be empty"):
        windows.general_cosine(3, a=[])
