"""The transformers reference values of tests/fixtures/hf_qwen3.{npz,json}
(make_qwen3_fixtures.py): Qwen3, Qwen3-MoE, Gemma 2 without soft-capping, and every decoder
family's hidden states and attention weights; dlpy models loaded with their weights."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from dlpy.models import AutoModelForCausalLM
from dlpy.models.auto import AutoConfig

from . import decoder_more_fixture, hf_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = dict(rtol=1e-5, atol=1e-5)


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "hf_qwen3.npz") as data:
        values = {key: data[key] for key in data.files}
    inputs = decoder_more_fixture.arrays()  # the same (2, 7) batch as hf_decoder_more.npz
    values.update({key: inputs[key] for key in ("ids", "mask", "labels")})
    return values


@lru_cache(maxsize=1)
def configs() -> dict[str, dict]:
    return json.loads((FIXTURES / "hf_qwen3.json").read_text())


def state(case: str) -> dict[str, np.ndarray]:
    prefix = f"{case}/state/"
    return {key[len(prefix):]: value for key, value in arrays().items()
            if key.startswith(prefix)}


def model(case: str, weights: str | None = None, cls=None):
    """The dlpy causal LM of config ``case`` with the weights of ``weights`` (default: case)
    in eval mode; gemma2_nocap has hf_decoder_more's Gemma 2 weights."""
    config = AutoConfig.from_dict(configs()[case])
    cls = cls or AutoModelForCausalLM.model_class(config.model_type)
    built = cls(config, rng=np.random.default_rng(0))
    weights = weights or case
    built.load_hf_state_dict(decoder_more_fixture.state("gemma2") if weights == "gemma2_nocap"
                             else state(weights))
    return built.eval()


def family_model(case: str):
    """The dlpy model whose hidden states and attentions hf_qwen3.npz holds as ``case``."""
    if case in ("gpt2", "llama", "qwen2"):
        return hf_fixture.model(case)
    if case == "mistral":
        return hf_fixture.model("mistral", "llama")
    if case in decoder_more_fixture.configs():
        return decoder_more_fixture.model(case)
    return model(case)


def real(values: np.ndarray) -> np.ndarray:
    """The values at the tokens (not the left padding) of the batch: (batch, seq, ...)."""
    return values[arrays()["mask"].astype(bool)]
