"""The transformers reference values of tests/fixtures/hf_decoder.{npz,json}
(make_hf_decoder_fixtures.py) and dlpy models loaded with their weights."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from dlpy.models import gpt2, llama

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLASSES = {"gpt2": gpt2.GPT2LMHeadModel, "llama": llama.LlamaForCausalLM,
           "mistral": llama.MistralForCausalLM, "qwen2": llama.Qwen2ForCausalLM}


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "hf_decoder.npz") as data:
        return {key: data[key] for key in data.files}


@lru_cache(maxsize=1)
def configs() -> dict[str, dict]:
    return json.loads((FIXTURES / "hf_decoder.json").read_text())


def state(case: str) -> dict[str, np.ndarray]:
    """The transformers state dict of ``case`` (gpt2, llama, qwen2)."""
    prefix = f"{case}/state/"
    return {key[len(prefix):]: value for key, value in arrays().items()
            if key.startswith(prefix)}


def model(case: str, weights: str | None = None):
    """The dlpy model of config ``case`` with the weights of ``weights`` (default: case), in
    eval mode."""
    config = configs()[case]
    cls = CLASSES[config["model_type"]]
    built = cls(cls.config_class.from_dict(config), rng=np.random.default_rng(0))
    built.load_hf_state_dict(state(weights or case))
    return built.eval()


def real_positions(logits: np.ndarray) -> np.ndarray:
    """The logits at the tokens (not the left padding) of the fixture's batch, flattened."""
    mask = arrays()["mask"].astype(bool)
    return logits[mask]
