"""The decode step's shortcuts (dlpy.models' batch-1 generation): head splits as views with no op
behind them when nothing is recorded, no causal mask for one query without padding, rotate_half
and grouped-query attention on the arrays, GPT-2's Conv1D as one fused op. Each must give what
the recorded (gradient) path gives, and generation the same tokens cached and uncached."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy
from dlpy.models.llama import rotate_half
from dlpy.models.modeling_utils import causal_mask, merge_heads, split_heads, split_last

from . import decoder_more_fixture, hf_fixture


def test_head_views_equal_the_ops_and_record_only_with_gradients():
    x = dlpy.Tensor(np.random.default_rng(0).normal(size=(2, 3, 12)).astype(np.float32),
                    requires_grad=True)
    recorded = split_heads(x, 4)
    assert recorded.shape == (2, 4, 3, 3) and recorded.op is not None
    merge_heads(recorded).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones_like(x.data))
    with dlpy.no_grad():
        view = split_heads(x, 4)
        assert view.op is None and np.shares_memory(view.data, x.data)
        np.testing.assert_array_equal(view.data, recorded.data)
        np.testing.assert_array_equal(merge_heads(view).data, x.data)
        pieces = split_last(x, 4)
        np.testing.assert_array_equal(rotate_half(view).data,
                                      rotate_half(recorded.detach()).data)
    assert [p.shape for p in pieces] == [(2, 3, 4)] * 3 and all(p.op is None for p in pieces)
    np.testing.assert_array_equal(np.concatenate([p.data for p in pieces], -1), x.data)
    assert all(p.op is not None for p in split_last(x, 4))
    with dlpy.no_grad():
        uneven = split_last(x, [6, 3, 3])
    assert [p.shape[-1] for p in uneven] == [6, 3, 3]
    np.testing.assert_array_equal(uneven[1].data, x.data[..., 6:9])
    half = x.data[..., 6:]
    np.testing.assert_array_equal(rotate_half(x).data[..., :6], -half)


def test_causal_mask_is_none_only_when_nothing_is_hidden():
    assert causal_mask("m", None, 1, 1, 5) is None  # a decode step sees every key
    assert causal_mask("m", None, 1, 1, 3, sliding_window=4) is None  # 4 keys: all in window
    windowed = causal_mask("m", None, 1, 1, 4, sliding_window=4)  # 5 keys: the first hidden
    np.testing.assert_array_equal(windowed[0, 0, 0], [True, False, False, False, False])
    padded = causal_mask("m", np.array([[0, 1, 1]]), 1, 1, 2)
    np.testing.assert_array_equal(padded[0, 0, 0], [True, False, False])
    assert causal_mask("m", None, 1, 2, 3).shape == (1, 1, 2, 5)


CASES = [("gpt2", hf_fixture.model), ("llama", hf_fixture.model),  # llama: grouped kv heads
         ("gemma2", decoder_more_fixture.model),  # soft-capped scores, a sliding layer
         ("phi3", decoder_more_fixture.model)]  # q, k, v cut from one projection


@pytest.mark.parametrize("case, load", CASES)
def test_decode_step_equals_the_recorded_path(case, load):
    lm = load(case)
    ids = np.random.default_rng(1).integers(0, lm.config.vocab_size, (2, 5))
    prompt, step = ids[:, :4], ids[:, 4:]
    # with gradients on, every op is recorded (the plain path); under no_grad the shortcuts
    first = lm(prompt, use_cache=True)
    full = lm(step, past_key_values=first.past_key_values, use_cache=True).logits
    assert full.requires_grad
    with dlpy.no_grad():
        fast_first = lm(prompt, use_cache=True)
        fast = lm(step, past_key_values=fast_first.past_key_values, use_cache=True).logits
        whole = lm(ids).logits
    np.testing.assert_allclose(fast_first.logits.data, first.logits.data, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fast.data, full.data, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fast.data[:, -1], whole.data[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case, load", CASES)
def test_greedy_tokens_same_cached_uncached_and_with_a_full_mask(case, load):
    lm = load(case)
    ids = np.random.default_rng(2).integers(0, lm.config.vocab_size, (1, 3))
    settings = dict(max_new_tokens=6, eos_token_id=None, pad_token_id=0)
    tokens = lm.generate(ids, **settings).data
    assert tokens.shape == (1, 9)
    for extra in (dict(attention_mask=np.ones_like(ids)), dict(use_cache=False),
                  dict(cache_implementation="dynamic")):
        np.testing.assert_array_equal(lm.generate(ids, **settings, **extra).data, tokens)
