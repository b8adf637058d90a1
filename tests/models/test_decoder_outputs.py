"""output_hidden_states and output_attentions of every decoder family against transformers'
(tests/fixtures/make_qwen3_fixtures.py), Gemma 2 without soft-capping, and the sliding-window
cache's ring buffers (Mistral, Qwen3's sliding layers, Gemma 2)."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy
from dlpy.models.llama import SlidingWindowCache

from . import decoder_more_fixture
from .qwen3_fixture import TOL, arrays, family_model, model, real

FAMILIES = ["gpt2", "llama", "qwen2", "mistral", "mixtral", "phi3", "gemma", "gemma2",
            "gemma2_nocap", "gpt_neox", "qwen3", "qwen3_sliding", "qwen3_moe"]


@pytest.mark.parametrize("case", FAMILIES)
def test_hidden_states_and_attentions_equal_transformers(case):
    data = arrays()
    lm = model(case) if case == "gemma2_nocap" else family_model(case)
    with dlpy.no_grad():
        out = lm(data["ids"], attention_mask=data["mask"], output_hidden_states=True,
                 output_attentions=True)
        body = lm.base_model(data["ids"], attention_mask=data["mask"],
                             output_hidden_states=True)
        plain = lm(data["ids"], attention_mask=data["mask"])
    want_hidden, want_weights = data[f"{case}/hidden_states"], data[f"{case}/attentions"]
    assert len(out.hidden_states) == len(want_hidden) == lm.config.num_hidden_layers + 1
    for got, want in zip(out.hidden_states, want_hidden):
        np.testing.assert_allclose(real(got.data), real(want), **TOL)
    assert body.hidden_states[-1] is body.last_hidden_state  # after the final norm
    assert len(out.attentions) == len(want_weights)
    for got, want in zip(out.attentions, want_weights):
        assert got.shape == want.shape  # (batch, heads, seq, keys)
        # rows of real queries: a padded query sees no key (zeros here, uniform there)
        np.testing.assert_allclose(real(got.transpose(0, 2, 1, 3)),
                                   real(want.transpose(0, 2, 1, 3)), **TOL)
    assert list(out)[-2:] == ["hidden_states", "attentions"]  # transformers' order
    assert plain.hidden_states is None and plain.attentions is None
    assert "hidden_states" not in plain
    np.testing.assert_array_equal(plain.logits.data, out.logits.data)


def test_hidden_states_carry_the_graph():
    data, lm = arrays(), family_model("llama")
    out = lm(data["ids"], output_hidden_states=True)
    (out.hidden_states[1] ** 2).sum().backward()
    layer0 = lm.model.layers[0].self_attn.q_proj.weight.grad
    layer1 = lm.model.layers[1].self_attn.q_proj.weight.grad
    assert layer0 is not None and np.abs(layer0).sum() > 0 and layer1 is None


def test_gemma2_without_softcapping_equals_transformers():
    data, lm = arrays(), model("gemma2_nocap")
    assert lm.config.attn_logit_softcapping is None and lm.config.final_logit_softcapping is None
    with dlpy.no_grad():
        logits = lm(data["ids"], attention_mask=data["mask"]).logits.data
        hidden = lm.model(data["ids"], attention_mask=data["mask"]).last_hidden_state.data
    np.testing.assert_allclose(real(logits), real(data["gemma2_nocap/logits"]), **TOL)
    np.testing.assert_allclose(real(hidden), real(data["gemma2_nocap/hidden"]), **TOL)
    capped = decoder_more_fixture.arrays()["gemma2/logits"]
    assert np.abs(real(logits) - real(capped)).max() > 0.1  # the caps did change the logits
    for use_cache in (True, False):
        tokens = lm.generate(data["ids"], attention_mask=data["mask"], max_new_tokens=8,
                             use_cache=use_cache).data
        np.testing.assert_array_equal(tokens, data["gemma2_nocap/greedy"])


@pytest.mark.parametrize("case", ["qwen3_sliding", "gemma2"])
def test_ring_buffer_steps_equal_one_pass(case):
    """Prompt of 3, then one token a step past the window, with left padding: each step's
    logits equal one pass over the whole sequence; the sliding layers' storage stays
    window keys, written in place."""
    data, lm = arrays(), family_model(case)
    windows = lm.config.layer_windows()
    rng = np.random.default_rng(1)
    ids = np.concatenate([data["ids"], rng.integers(1, 64, (2, 5))], 1)  # 12 tokens
    mask = np.concatenate([data["mask"], np.ones((2, 5), np.int64)], 1)
    with dlpy.no_grad():
        full = lm(ids, attention_mask=mask).logits.data
        out = lm(ids[:, :3], attention_mask=mask[:, :3])
        cache, steps = out.past_key_values, [out.logits.data]
        buffers = [cache.keys[i] for i in range(len(windows))]
        for t in range(3, ids.shape[1]):
            out = lm(ids[:, t:t + 1], past_key_values=cache, attention_mask=mask[:, :t + 1])
            assert out.past_key_values is cache
            steps.append(out.logits.data)
    assert isinstance(cache, SlidingWindowCache) and cache.get_seq_length() == 12
    for i, window in enumerate(windows):
        if window is None:  # a buffer of at least 16 positions, not grown by 12
            assert cache.keys[i].shape[2] == 16 and cache[i][0].shape[2] == 12
        else:
            assert cache.keys[i] is buffers[i] and cache.keys[i].shape[2] == window
            assert cache[i][0].shape[2] == window - 1
    got = np.concatenate(steps, 1)
    np.testing.assert_allclose(got[mask.astype(bool)], full[mask.astype(bool)], **TOL)
    # with gradients on, a step attends to the window's keys in order and keeps its graph
    out = lm(ids[:, :3], attention_mask=mask[:, :3])
    for t in range(3, 5):
        out = lm(ids[:, t:t + 1], past_key_values=out.past_key_values,
                 attention_mask=mask[:, :t + 1])
    np.testing.assert_allclose(out.logits.data[:, -1], full[:, 4], **TOL)
    out.logits.sum().backward()
    assert lm.lm_head.weight.grad is not None


def test_ring_buffer_prompt_longer_than_the_window_and_beams():
    """Mistral with a window of 3: a 7-token prompt fills the ring with its last 3 keys; the
    next step, greedy and beam search equal decoding without a cache; Qwen3's full layer's
    buffer grows."""
    data, lm = arrays(), family_model("mistral")
    lm.config.sliding_window = 3
    ids, mask = data["ids"], data["mask"]
    with dlpy.no_grad():
        out = lm(ids, attention_mask=mask)
        cache = out.past_key_values
        assert [cache.keys[i].shape[2] for i in range(2)] == [3, 3]
        nxt = np.array([[5], [9]])
        step = lm(nxt, past_key_values=cache, attention_mask=np.concatenate(
            [mask, np.ones((2, 1), np.int64)], 1)).logits.data
        whole = lm(np.concatenate([ids, nxt], 1), attention_mask=np.concatenate(
            [mask, np.ones((2, 1), np.int64)], 1)).logits.data
    np.testing.assert_allclose(step[:, -1], whole[:, -1], **TOL)
    for beams in (1, 2):
        cached = lm.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=beams).data
        uncached = lm.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=beams,
                               use_cache=False).data
        np.testing.assert_array_equal(cached, uncached)
    # a full layer beside sliding ones: its buffer grows past 16 positions, beams reorder it
    mixed = family_model("qwen3_sliding")
    cached = mixed.generate(ids, attention_mask=mask, max_new_tokens=12, num_beams=2).data
    np.testing.assert_array_equal(cached, mixed.generate(ids, attention_mask=mask,
                                                         max_new_tokens=12, num_beams=2,
                                                         use_cache=False).data)
