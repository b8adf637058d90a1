"""The transformers reference values of tests/fixtures/hf_vision_speech.{npz,json}
(make_hf_vision_speech_fixtures.py) and dlpy models loaded with their weights."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "hf_vision_speech.npz") as data:
        return {key: data[key] for key in data.files}


@lru_cache(maxsize=1)
def configs() -> dict[str, dict]:
    return json.loads((FIXTURES / "hf_vision_speech.json").read_text())


def group(prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix/`` (a state dict, gradients), the prefix dropped."""
    prefix = prefix.rstrip("/") + "/"
    return {key[len(prefix):]: value for key, value in arrays().items()
            if key.startswith(prefix)}


def model(cls, case: str, config=None, state=None):
    """A dlpy ``cls`` with the weights of ``case`` (vit, clip, whisper), in eval mode."""
    config = config or cls.config_class.from_dict(configs()[case])
    built = cls(config, rng=np.random.default_rng(0))
    built.load_hf_state_dict(group(f"{case}/state") if state is None else state)
    return built.eval()


def check_gradients(module, case: str, rename=lambda name: name) -> None:
    """The norm of every gradient and the recorded ones against transformers'."""
    data = arrays()
    norm = np.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum())
                       for p in module.parameters() if p.grad is not None))
    np.testing.assert_allclose(norm, data[f"{case}/grad_norm"], rtol=1e-5)
    parameters = dict(module.named_parameters())
    for name, grad in group(f"{case}/grad").items():
        np.testing.assert_allclose(parameters[rename(name)].grad, grad, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
