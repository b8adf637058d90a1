"""dlpy.audio against torchaudio 2.9 (tests/fixtures/make_audio_fixtures.py): every transform and
functional case on mono, stereo and batched signals, float32 within 1e-5 and float64 within
1e-10 (the transform's torchaudio state dict loaded), the waveform's gradient in float64, and the
transforms' state_dict keys."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from dlpy.audio import functional as F
from dlpy.audio import transforms as T
from dlpy.tensor import Tensor

FIXTURE = Path(__file__).parents[1] / "fixtures" / "audio.npz"
with np.load(FIXTURE) as _data:
    REF = {key: _data[key] for key in _data.files}
CASES = {case["case"]: case for case in json.loads(REF["cases"].tobytes())}


def grad_output(case: str, shape) -> np.ndarray:
    """The fixture script's upstream gradient for a case."""
    return np.random.default_rng(list(case.encode())).standard_normal(shape)


def close(ours, ref, rtol: float) -> None:
    ours = np.asarray(ours.data if isinstance(ours, Tensor) else ours)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * max(np.abs(ref).max(), 1e-30))


def build(case: dict, load_state: bool):
    """The case as a callable; a transform with torchaudio's state dict when ``load_state``."""
    if case["kind"] == "transform":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = getattr(T, case["name"])(**case["kwargs"])
        prefix = f"{case['case']}:state:"
        state = {key[len(prefix):]: value for key, value in REF.items()
                 if key.startswith(prefix)}
        assert sorted(module.state_dict()) == sorted(state)
        if load_state:
            module.load_state_dict(state)
        return module
    kwargs = dict(case["kwargs"])
    if case["name"] == "spectral_centroid":
        kwargs["window"] = np.hanning(kwargs["win_length"] + 1)[:-1]
    function = getattr(F, case["name"])
    return lambda x: function(x, **kwargs)


def case_input(case: dict) -> np.ndarray:
    source = case["input"]
    return REF[f"{case['case']}:input" if source == "own" else f"signal:{source}"]


def float32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.complex64 if x.dtype.kind == "c" else np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_values_and_gradient(name):
    case = CASES[name]
    fn = build(case, load_state=True)
    x = Tensor(case_input(case), requires_grad=case["grad"])
    out = fn(x)
    # Fade's curves are float32 in torchaudio for any input (torch.linspace, sin, log10 in
    # float32): equal to within float32's rounding only
    close(out, REF[f"{name}:out64"], 1e-6 if case["name"] == "Fade" else 1e-10)
    if case["grad"]:
        out.backward(Tensor(grad_output(name, out.shape)))
        close(x.grad, REF[f"{name}:grad"], 1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_values(name):
    case = CASES[name]
    out = build(case, load_state=False)(Tensor(float32(case_input(case))))
    ref = REF.get(f"{name}:out32")
    if ref is None:  # checked against torchaudio's float64 result
        ref = REF[f"{name}:out64"]
    if out.data.dtype.kind == "i":
        np.testing.assert_array_equal(out.data, ref)
    else:
        assert out.data.dtype == float32(ref).dtype
        close(out, ref, 1e-5)


@pytest.mark.parametrize("name", sorted(key[5:] for key in REF if key.startswith("keys:")))
def test_state_dict_keys(name):
    defaults = {"FrequencyMasking": (10,), "TimeMasking": (10,), "SpecAugment": (2, 10, 2, 10),
                "Vol": (0.5,), "InverseMelScale": (201,), "Resample": (16000, 8000),
                "SpectralCentroid": (16000,)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = getattr(T, name)(*defaults.get(name, ()))
    assert list(module.state_dict()) == json.loads(REF[f"keys:{name}"].tobytes())
