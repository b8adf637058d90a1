"""The transformers reference values of tests/fixtures/hf_seq2seq.{npz,json}
(make_hf_seq2seq_fixtures.py) and dlpy models loaded with their weights, and the generate
runs they recorded."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from dlpy import optim
from dlpy.models import bart, t5

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLASSES = {"t5": t5.T5ForConditionalGeneration, "bart": bart.BartForConditionalGeneration}
RUNS = {  # fixture name -> generate's arguments (besides max_new_tokens=8)
    "greedy": {}, "beam": {"num_beams": 3}, "greedy_eos": {"eos": True},
    "beam_eos": {"num_beams": 3, "eos": True},
    "beam_eos_early": {"num_beams": 3, "eos": True, "early_stopping": True,
                       "length_penalty": 0.5},
    "greedy_rules": {"eos": True, "min_length": 4, "no_repeat_ngram_size": 2,
                     "forced_bos_token_id": 3},
    "beam_rules": {"num_beams": 3, "eos": True, "min_length": 4, "no_repeat_ngram_size": 2,
                   "forced_bos_token_id": 3},
}


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "hf_seq2seq.npz") as data:
        return {key: data[key] for key in data.files}


@lru_cache(maxsize=1)
def configs() -> dict[str, dict]:
    return json.loads((FIXTURES / "hf_seq2seq.json").read_text())


def state(case: str) -> dict[str, np.ndarray]:
    """The transformers state dict of ``case`` (t5, t5_gated, bart)."""
    prefix = f"{case}/state/"
    return {key[len(prefix):]: value for key, value in arrays().items()
            if key.startswith(prefix)}


def model(case: str, cls=None):
    """The dlpy model (default: the language model) of ``case`` with its weights, in eval
    mode."""
    config = configs()[case]
    cls = cls or CLASSES[config["model_type"]]
    built = cls(cls.config_class.from_dict(config), rng=np.random.default_rng(0))
    built.load_hf_state_dict(state(case))
    return built.eval()


def run(lm, case: str, name: str, **extra):
    """generate() with the arguments of the fixture's run ``name``."""
    data = arrays()
    kwargs = dict(RUNS[name], **extra)
    if kwargs.pop("eos", False):
        kwargs["eos_token_id"] = int(data[f"{case}/eos"])
    return lm.generate(data[f"{case}/ids"], attention_mask=data[f"{case}/mask"],
                       max_new_tokens=8, **kwargs)


def check_generation(case: str) -> None:
    """Every recorded run token for token, and two of them without the cache."""
    lm = model(case)
    for name in RUNS:
        out = run(lm, case, name)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out.data, arrays()[f"{case}/{name}"], err_msg=name)
    for name in ("greedy", "beam_rules"):
        np.testing.assert_array_equal(run(lm, case, name, use_cache=False).data,
                                      arrays()[f"{case}/{name}"], err_msg=name)


def check_training_step(case: str, tolerance: float = 1e-5) -> None:
    """The training-mode loss, its gradients and the loss after one AdamW step."""
    data = arrays()
    lm = model(case).train()
    opt = optim.AdamW(lm.parameters(), lr=1e-2)
    inputs = {"attention_mask": data[f"{case}/mask"], "labels": data[f"{case}/labels"]}
    loss = lm(data[f"{case}/ids"], **inputs).loss
    loss.backward()
    np.testing.assert_allclose(loss.item(), data[f"{case}/loss"], rtol=1e-5)
    norm = np.sqrt(sum(float((p.grad ** 2).sum()) for p in lm.parameters()))
    np.testing.assert_allclose(norm, data[f"{case}/grad_norm"], rtol=1e-4)
    parameters = dict(lm.named_parameters())
    prefix = f"{case}/grad/"
    for key in (k for k in data if k.startswith(prefix)):
        np.testing.assert_allclose(parameters[key[len(prefix):]].grad, data[key],
                                   rtol=1e-4, atol=tolerance, err_msg=key)
    opt.step()
    after = lm(data[f"{case}/ids"], **inputs).loss
    np.testing.assert_allclose(after.item(), data[f"{case}/loss_after"], rtol=1e-4)


def check_cached_decoding(case: str) -> None:
    """The decoder one token at a time over its cache gives the one-pass logits."""
    data = arrays()
    lm = model(case)
    ids, mask = data[f"{case}/ids"], data[f"{case}/mask"]
    decoder_ids = np.abs(data[f"{case}/labels"]) % 50 + 3
    full = lm(ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits.data
    out = lm(ids, attention_mask=mask, decoder_input_ids=decoder_ids[:, :2], use_cache=True)
    encoded, steps = out.encoder_last_hidden_state, [out.logits.data]
    for t in range(2, decoder_ids.shape[1]):
        out = lm(attention_mask=mask, decoder_input_ids=decoder_ids[:, t:t + 1],
                 encoder_outputs=encoded, past_key_values=out.past_key_values)
        steps.append(out.logits.data)
    layer = out.past_key_values[0]
    assert len(layer) == 4  # self key, self value, cross key, cross value
    assert layer[0].shape[2] == decoder_ids.shape[1] and layer[2].shape[2] == ids.shape[1]
    np.testing.assert_allclose(np.concatenate(steps, 1), full, rtol=1e-5, atol=1e-5)
