"""generate() against transformers' generate (greedy and beam search token for token,
tests/fixtures/make_hf_decoder_fixtures.py), the cache against recomputation, and sampling."""

from __future__ import annotations

import numpy as np
import pytest

import dlpy
from dlpy.models.generation import _Processors

from .hf_fixture import arrays, model

RUNS = {  # fixture name -> generate's arguments (besides max_new_tokens=8)
    "greedy": {}, "beam": {"num_beams": 3}, "greedy_penalty": {"repetition_penalty": 1.5},
    "greedy_eos": {"eos": True}, "beam_eos": {"num_beams": 3, "eos": True},
    "beam_eos_early": {"num_beams": 3, "eos": True, "early_stopping": True,
                       "length_penalty": 0.5},
}


def run(lm, case, name, **extra):
    data = arrays()
    kwargs = dict(RUNS[name], **extra)
    if kwargs.pop("eos", False):
        kwargs.update(eos_token_id=int(data[f"{case}/eos"]), pad_token_id=0)
    return lm.generate(data["ids"], attention_mask=data["mask"], max_new_tokens=8, **kwargs)


@pytest.mark.parametrize("case", ["gpt2", "llama", "qwen2"])
def test_greedy_and_beam_search_equal_transformers(case):
    lm = model(case)
    for name in RUNS:
        out = run(lm, case, name)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out.data, arrays()[f"{case}/{name}"], err_msg=name)


@pytest.mark.parametrize("case", ["gpt2", "llama"])
def test_the_cache_changes_nothing(case):
    lm = model(case)
    for name in ("greedy", "beam_eos"):
        np.testing.assert_array_equal(run(lm, case, name, use_cache=False).data,
                                      arrays()[f"{case}/{name}"], err_msg=name)


def test_sampling():
    data = arrays()
    lm = model("llama")
    ids, mask = data["ids"], data["mask"]

    def sample(seed, **kwargs):
        generator = dlpy.Generator().manual_seed(seed)
        return lm.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=True,
                           generator=generator, **kwargs).data

    first = sample(1, top_k=0)
    np.testing.assert_array_equal(first, sample(1, top_k=0))  # the generator decides
    assert not all(np.array_equal(first, sample(seed, top_k=0)) for seed in range(2, 6))
    np.testing.assert_array_equal(sample(3, top_k=1), data["llama/greedy"][:, :13])
    np.testing.assert_array_equal(sample(4, top_p=1e-6), data["llama/greedy"][:, :13])
    many = lm.generate(ids[:1], max_new_tokens=2, do_sample=True, num_return_sequences=4,
                       generator=np.random.default_rng(0))
    assert many.shape == (4, 9)
    assert lm.training is False


def test_processors():
    scores = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))
    kept = np.isfinite(_Processors(1.0, True, 1.0, 2, 1.0)(np.zeros((1, 0), int), scores))
    np.testing.assert_array_equal(kept, [[True, True, False, False]])
    kept = np.isfinite(_Processors(1.0, True, 1.0, 0, 0.7)(np.zeros((1, 0), int), scores))
    np.testing.assert_array_equal(kept, [[True, True, False, False]])  # 0.5 + 0.3 >= 0.7
    penalised = _Processors(2.0, False, 1.0, 0, 1.0)(np.array([[0, 0]]),
                                                     np.array([[-1.0, 4.0]], np.float32))
    np.testing.assert_array_equal(penalised, [[-2.0, 4.0]])
    skipped = _Processors(2.0, False, 1.0, 0, 1.0, prompt_ignore_length=np.array([1, 0]))(
        np.array([[0, 1], [0, 1]]), np.array([[-1.0, 4.0], [-1.0, 4.0]], np.float32))
    np.testing.assert_array_equal(skipped, [[-1.0, 2.0], [-2.0, 2.0]])  # row 0's pad spared
    hot = _Processors(1.0, True, 0.5, 0, 1.0)(np.zeros((1, 0), int), scores)
    np.testing.assert_allclose(hot, scores * 2)


def test_length_and_ngram_processors():
    scores = np.zeros((2, 5), np.float32)
    ids = np.array([[1, 2, 3, 1, 2], [4, 4, 4, 4, 4]])
    banned = _Processors(1.0, False, 1.0, 0, 1.0, no_repeat_ngram_size=3)(ids, scores)
    np.testing.assert_array_equal(np.isinf(banned), [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])
    rules = _Processors(1.0, False, 1.0, 0, 1.0, min_length=3, eos_token_id=[2, 4],
                        forced_bos_token_id=1, forced_eos_token_id=0, max_length=4)
    np.testing.assert_array_equal(rules(ids[:, :1], scores)[0], [-np.inf, 0, -np.inf,
                                                                 -np.inf, -np.inf])
    np.testing.assert_array_equal(rules(ids[:, :2], scores)[0], [0, 0, -np.inf, 0, -np.inf])
    np.testing.assert_array_equal(rules(ids[:, :3], scores)[0], [0, -np.inf, -np.inf,
                                                                 -np.inf, -np.inf])
    lm = model("gpt2")  # with a decoder, min_length counts the prompt, as transformers
    eos = int(arrays()["gpt2/eos"])
    assert np.isin(arrays()["gpt2/greedy_eos"][0, 7:], eos).any()
    out = run(lm, "gpt2", "greedy_eos", min_length=15)
    assert out.shape == (2, 15) and not np.isin(out.data[:, 7:], eos).any()


def test_errors():
    lm = model("gpt2")
    ids = arrays()["ids"]
    with pytest.raises(ValueError, match="max_new_tokens must be a positive integer, got 0"):
        lm.generate(ids, max_new_tokens=0)
    with pytest.raises(ValueError, match=r"num_return_sequences \(4\) must be <= num_beams"):
        lm.generate(ids, num_beams=2, num_return_sequences=4)
    with pytest.raises(NotImplementedError, match="beam sampling"):
        lm.generate(ids, do_sample=True, num_beams=2)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        lm.generate(ids, do_sample=True, temperature=0.0)
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, vocab_size=64\)"):
        lm.generate(ids + 64)
    with pytest.raises(ValueError, match="attention_mask must have input_ids' shape"):
        lm.generate(ids, attention_mask=np.ones((2, 3)))
