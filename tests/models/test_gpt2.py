"""GPT-2 in transformers' layout against transformers' own logits, gradients and checkpoints
(tests/fixtures/make_hf_decoder_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlpy
from dlpy import optim
from dlpy.models import _hf
from dlpy.models.gpt2 import Conv1D, GPT2Config, GPT2LMHeadModel, GPT2Model
from dlpy.nn.module import state_dict_once

from .hf_fixture import arrays, configs, model, real_positions, state

TOL = dict(rtol=1e-5, atol=1e-5)


def test_logits_equal_transformers_with_left_padding():
    data = arrays()
    logits = model("gpt2")(data["ids"], attention_mask=data["mask"]).logits
    assert logits.shape == (2, 7, 64) and logits.dtype == np.float32
    np.testing.assert_allclose(real_positions(logits.data),
                               real_positions(data["gpt2/logits"]), **TOL)


def test_parameter_names_are_transformers_and_conv1d_keeps_its_layout():
    lm = model("gpt2")
    # lm_head tied: stored once; torch's state_dict lists it under both names
    assert list(state_dict_once(lm)) == list(state("gpt2"))
    assert list(lm.state_dict())[-1] == "lm_head.weight"
    assert lm.lm_head.weight is lm.transformer.wte.weight
    assert lm.transformer.h[0].attn.c_attn.weight.shape == (32, 96)  # (in, out)
    layer = Conv1D(3, 2, rng=np.random.default_rng(0))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(layer(dlpy.Tensor(x)).data,
                               x @ layer.weight.data + layer.bias.data, rtol=1e-6)


def test_cached_decoding_equals_one_pass():
    data = arrays()
    lm, ids, mask = model("gpt2"), data["ids"], data["mask"]
    with dlpy.no_grad():
        full = lm(ids, attention_mask=mask).logits.data
        out = lm(ids[:, :4], attention_mask=mask[:, :4], use_cache=True)
        steps = [out.logits.data]
        for t in range(4, 7):
            out = lm(ids[:, t:t + 1], past_key_values=out.past_key_values,
                     attention_mask=mask[:, :t + 1])
            steps.append(out.logits.data)
    assert out.past_key_values[0][0].shape == (2, 4, 7, 8)  # (batch, heads, seq, head_dim)
    np.testing.assert_allclose(real_positions(np.concatenate(steps, 1)),
                               real_positions(full), **TOL)


def test_explicit_positions_and_base_model():
    data = arrays()
    lm = model("gpt2")
    default = lm(data["ids"][:1]).logits.data
    explicit = lm(data["ids"][:1], position_ids=np.arange(7)[None]).logits.data
    np.testing.assert_array_equal(default, explicit)
    hidden = lm.transformer(data["ids"][:1]).last_hidden_state
    np.testing.assert_allclose(hidden.data @ lm.lm_head.weight.data.T, default, **TOL)
    embeds = lm.transformer.wte(data["ids"][:1])
    np.testing.assert_array_equal(lm(inputs_embeds=embeds).logits.data, default)
    types = np.full((1, 7), 5)  # token types are looked up in wte and added
    typed = lm(inputs_embeds=embeds + lm.transformer.wte.weight[5]).logits.data
    np.testing.assert_allclose(lm(data["ids"][:1], token_type_ids=types).logits.data, typed,
                               **TOL)


def test_training_step_matches_transformers():
    data = arrays()
    lm = model("gpt2").train()
    opt = optim.AdamW(lm.parameters(), lr=1e-2)
    loss = lm(data["ids"], labels=data["labels"]).loss
    loss.backward()
    np.testing.assert_allclose(loss.item(), data["gpt2/loss"], rtol=1e-5)
    norm = np.sqrt(sum(float((p.grad ** 2).sum()) for p in lm.parameters()))
    np.testing.assert_allclose(norm, data["gpt2/grad_norm"], rtol=1e-4)
    params = dict(lm.named_parameters())
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.wte.weight"):
        np.testing.assert_allclose(params[name].grad, data[f"gpt2/grad/{name}"],
                                   rtol=1e-4, atol=1e-6)
    opt.step()
    after = lm(data["ids"], labels=data["labels"]).loss.item()
    np.testing.assert_allclose(after, data["gpt2/loss_after"], rtol=1e-4)


def test_a_few_adamw_steps_fit_a_toy_sequence():
    config = GPT2Config(vocab_size=16, n_positions=8, n_embd=16, n_layer=1, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    lm = GPT2LMHeadModel(config, rng=np.random.default_rng(0))
    opt = optim.AdamW(lm.parameters(), lr=3e-2)
    ids = np.array([[1, 5, 9, 2, 7, 3, 11, 4]])
    losses = []
    for _ in range(15):
        loss = lm(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_from_pretrained_round_trip(tmp_path):
    # a directory as transformers writes it: its config.json, the weights in safetensors
    _hf.write_pretrained(tmp_path / "hf", configs()["gpt2"], state("gpt2"))
    lm = GPT2LMHeadModel.from_pretrained(tmp_path / "hf")
    assert not lm.training
    data = arrays()
    reference = lm(data["ids"]).logits.data
    lm.save_pretrained(tmp_path / "dlpy")
    saved = json.loads((tmp_path / "dlpy" / "config.json").read_text())
    assert saved["model_type"] == "gpt2" and saved["architectures"] == ["GPT2LMHeadModel"]
    again = GPT2LMHeadModel.from_pretrained(tmp_path / "dlpy")
    np.testing.assert_array_equal(again(data["ids"]).logits.data, reference)
    body = GPT2Model.from_pretrained(tmp_path / "dlpy")  # the body of an LM checkpoint
    np.testing.assert_array_equal(body.wte.weight.data, lm.transformer.wte.weight.data)


def test_old_checkpoint_keys_load(tmp_path):
    # the original GPT-2 files: no "transformer." prefix, causal-mask buffers, lm_head stored
    old = {key.removeprefix("transformer."): value for key, value in state("gpt2").items()}
    old["h.0.attn.bias"] = np.tril(np.ones((1, 1, 24, 24), np.float32))
    old["lm_head.weight"] = old["wte.weight"]
    _hf.write_pretrained(tmp_path, configs()["gpt2"], old)
    lm = GPT2LMHeadModel.from_pretrained(tmp_path)
    np.testing.assert_array_equal(lm.transformer.h[1].mlp.c_fc.weight.data,
                                  state("gpt2")["transformer.h.1.mlp.c_fc.weight"])


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        GPT2LMHeadModel.from_pretrained(tmp_path / "missing")
    config = dict(configs()["gpt2"])
    del config["n_embd"]
    _hf.write_pretrained(tmp_path / "a", config, state("gpt2"))
    with pytest.raises(ValueError, match="config.json: missing required field.*n_embd"):
        GPT2LMHeadModel.from_pretrained(tmp_path / "a")
    weights = state("gpt2")
    weights["transformer.extra.weight"] = weights.pop("transformer.ln_f.bias")
    _hf.write_pretrained(tmp_path / "b", configs()["gpt2"], weights)
    with pytest.raises(ValueError, match=r"missing keys: \['transformer.ln_f.bias'\]; "
                                         r"unexpected keys: \['transformer.extra.weight'\]"):
        GPT2LMHeadModel.from_pretrained(tmp_path / "b")
    with pytest.raises(ValueError, match="model_type 'llama'"):
        GPT2Config.from_dict({**configs()["gpt2"], "model_type": "llama"})
    lm = model("gpt2")
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=64\), got 64"):
        lm(np.array([[0, 64]]))
    with pytest.raises(ValueError, match="position 24 is beyond the n_positions=24"):
        lm(np.zeros((1, 25), np.int64))
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, past \+ seq_len\)"):
        lm(np.zeros((1, 3), np.int64), attention_mask=np.ones((1, 4)))
