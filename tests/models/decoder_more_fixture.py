"""The transformers reference values of tests/fixtures/hf_decoder_more.{npz,json}
(make_hf_decoder_more_fixtures.py) and dlpy models loaded with their weights."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

import dlpy
from dlpy.models import AutoModelForCausalLM
from dlpy.models.auto import AutoConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = dict(rtol=1e-5, atol=1e-5)


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "hf_decoder_more.npz") as data:
        return {key: data[key] for key in data.files}


@lru_cache(maxsize=1)
def configs() -> dict[str, dict]:
    return json.loads((FIXTURES / "hf_decoder_more.json").read_text())


def state(case: str) -> dict[str, np.ndarray]:
    """The transformers state dict of ``case``."""
    prefix = f"{case}/state/"
    return {key[len(prefix):]: value for key, value in arrays().items()
            if key.startswith(prefix)}


def model(case: str, weights: str | None = None, cls=None):
    """The dlpy causal LM of config ``case`` (chosen by model_type, as AutoModelForCausalLM)
    with the weights of ``weights`` (default: case), in eval mode."""
    config = AutoConfig.from_dict(configs()[case])
    cls = cls or AutoModelForCausalLM.model_class(config.model_type)
    built = cls(config, rng=np.random.default_rng(0))
    built.load_hf_state_dict(state(weights or case))
    return built.eval()


def real(values: np.ndarray) -> np.ndarray:
    """The values at the tokens (not the left padding) of the fixture's batch."""
    return values[arrays()["mask"].astype(bool)]


def check_logits_hidden_greedy(case: str) -> None:
    """Logits and the body's last hidden state to 1e-5, greedy generate token for token, with
    the cache and without."""
    data, lm = arrays(), model(case)
    with dlpy.no_grad():
        out = lm(data["ids"], attention_mask=data["mask"])
        body = lm.base_model(data["ids"], attention_mask=data["mask"])
    assert out.logits.shape == (2, 7, 64) and out.logits.dtype == np.float32
    np.testing.assert_allclose(real(out.logits.data), real(data[f"{case}/logits"]), **TOL)
    np.testing.assert_allclose(real(body.last_hidden_state.data), real(data[f"{case}/hidden"]),
                               **TOL)
    for use_cache in (True, False):
        tokens = lm.generate(data["ids"], attention_mask=data["mask"], max_new_tokens=8,
                             use_cache=use_cache)
        np.testing.assert_array_equal(tokens.data, data[f"{case}/greedy"],
                                      err_msg=f"use_cache={use_cache}")


def check_training_step(case: str, labels=None, **kwargs) -> None:
    """Loss, global gradient norm and two gradients of model(ids, labels) in train mode."""
    data = arrays()
    check_step_against(data, model(case).train(), case,
                       data["labels"] if labels is None else labels, **kwargs)


def check_step_against(data, lm, case: str, labels, **kwargs) -> None:
    """lm(ids, labels) in train mode: its loss, gradient norm and the two gradients the fixture
    ``data`` holds under ``case/``."""
    out = lm(data["ids"], labels=labels, **kwargs)
    out.loss.backward()
    np.testing.assert_allclose(out.loss.item(), data[f"{case}/loss"], rtol=1e-5)
    norm = np.sqrt(sum(float((p.grad ** 2).sum()) for p in lm.parameters()
                       if p.grad is not None))
    np.testing.assert_allclose(norm, data[f"{case}/grad_norm"], rtol=1e-4)
    params = dict(lm.named_parameters())
    prefix = f"{case}/grad/"
    names = [key[len(prefix):] for key in data if key.startswith(prefix)]
    assert len(names) == 2
    for name in names:
        np.testing.assert_allclose(params[name].grad, data[prefix + name], rtol=1e-4,
                                   atol=1e-6, err_msg=name)
