"""Sliding-window attention (Mistral, Qwen2), the preallocated StaticCache, generation_config.json,
streamers, max_time and stop_strings, against transformers where it has a reference
(tests/fixtures/make_hf_generation_more_fixtures.py)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy.models import _hf
from dlpy.models.generation import BaseStreamer, GenerationConfig, TextStreamer
from dlpy.models.llama import LlamaConfig, MistralForCausalLM, Qwen2ForCausalLM
from dlpy.models.modeling_utils import StaticCache

from .hf_fixture import arrays as decoder_arrays
from .hf_fixture import model as decoder_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLASSES = {"mistral": MistralForCausalLM, "qwen2": Qwen2ForCausalLM}


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "hf_generation_more.npz") as data:
        return {key: data[key] for key in data.files}


@lru_cache(maxsize=1)
def configs() -> dict[str, dict]:
    return json.loads((FIXTURES / "hf_generation_more.json").read_text())


def state(case: str) -> dict[str, np.ndarray]:
    prefix = f"{case}/state/"
    return {k[len(prefix):]: v for k, v in arrays().items() if k.startswith(prefix)}


@lru_cache(maxsize=2)
def model(case: str):
    cls = CLASSES[case]
    built = cls(cls.config_class.from_dict(configs()[case]), rng=np.random.default_rng(0))
    built.load_hf_state_dict(state(case))
    return built.eval()


@pytest.mark.parametrize("case", ["mistral", "qwen2"])
def test_sliding_window_equals_transformers(case):
    data, lm = arrays(), model(case)
    real = data["mask"].astype(bool)
    assert lm.config.layer_windows() == ([4, 4] if case == "mistral" else [None, 3])
    logits = lm(data["ids"], attention_mask=data["mask"]).logits.data
    np.testing.assert_allclose(logits[real], data[f"{case}/logits"][real], rtol=1e-5, atol=1e-5)
    for cache in ("static", "dynamic"):  # 9 + 10 tokens: well past the window
        for name, beams in (("greedy", 1), ("beam", 3)):
            out = lm.generate(data["ids"], attention_mask=data["mask"], max_new_tokens=10,
                              num_beams=beams, cache_implementation=cache)
            np.testing.assert_array_equal(out.data, data[f"{case}/{name}"],
                                          err_msg=f"{name}, {cache}")


def test_cached_steps_past_the_window_equal_one_pass():
    data, lm = arrays(), model("mistral")
    ids, mask = data["ids"], data["mask"]
    with dlpy.no_grad():
        full = lm(ids, attention_mask=mask).logits.data
        for past in (None, StaticCache(2, 9)):
            out = lm(ids[:, :3], attention_mask=mask[:, :3], past_key_values=past)
            steps = [out.logits.data]
            for t in range(3, 9):
                out = lm(ids[:, t:t + 1], past_key_values=out.past_key_values,
                         attention_mask=mask[:, :t + 1])
                steps.append(out.logits.data)
            real = mask.astype(bool)
            np.testing.assert_allclose(np.concatenate(steps, 1)[real], full[real],
                                       rtol=1e-5, atol=1e-5)
    assert isinstance(out.past_key_values, StaticCache) and out.past_key_values[1][0].shape == (
        2, 2, 9, 8)


def test_static_cache_is_token_identical_and_checked():
    lm, ids = decoder_model("gpt2"), decoder_arrays()["ids"][:, :5]

    def run(cache, **kwargs):
        return lm.generate(ids, max_new_tokens=6, cache_implementation=cache, **kwargs).data

    for kwargs in ({}, {"num_beams": 2}, {"do_sample": True, "generator": 0}):
        if "generator" in kwargs:
            static = run("static", do_sample=True, generator=np.random.default_rng(5))
            dynamic = run("dynamic", do_sample=True, generator=np.random.default_rng(5))
        else:
            static, dynamic = run("static", **kwargs), run("dynamic", **kwargs)
        np.testing.assert_array_equal(static, dynamic, err_msg=str(kwargs))
    cache = StaticCache(2, 4)
    with dlpy.no_grad():
        lm(ids[:, :3], past_key_values=cache)
        with pytest.raises(ValueError, match="3 cached \\+ 2 new positions exceed its "
                                             "max_length of 4"):
            lm(ids[:, 3:5], past_key_values=cache)
    with pytest.raises(ValueError, match="cache_implementation must be 'static' or 'dynamic'"):
        lm.generate(ids, cache_implementation="sliding")
    with pytest.raises(ValueError, match="no gradient flows through the preallocated"):
        lm(ids, past_key_values=StaticCache(2, 8))
    with pytest.raises(ValueError, match="max_length must be a positive integer, got 0"):
        StaticCache(2, 0)


def test_generation_config_json_sets_the_defaults(tmp_path):
    data = arrays()
    saved = configs()["generation_config"]
    _hf.write_pretrained(tmp_path, configs()["mistral"], state("mistral"))
    (tmp_path / "generation_config.json").write_text(json.dumps(saved))
    lm = MistralForCausalLM.from_pretrained(tmp_path)
    assert lm.generation_config == GenerationConfig(max_new_tokens=6, num_beams=2,
                                                    repetition_penalty=1.3,
                                                    no_repeat_ngram_size=2, do_sample=False)
    ids, mask = data["ids"], data["mask"]
    np.testing.assert_array_equal(lm.generate(ids, attention_mask=mask).data,
                                  data["mistral/config_defaults"])
    explicit = lm.generate(ids, attention_mask=mask, num_beams=1, max_new_tokens=3)  # wins
    same = model("mistral").generate(ids, attention_mask=mask, max_new_tokens=3,
                                     repetition_penalty=1.3, no_repeat_ngram_size=2)
    np.testing.assert_array_equal(explicit.data, same.data)
    given = GenerationConfig(max_length=12)  # replaces the model's; max_length counts the prompt
    assert lm.generate(ids, attention_mask=mask, generation_config=given).shape == (2, 12)
    lm.save_pretrained(tmp_path / "again")
    written = json.loads((tmp_path / "again" / "generation_config.json").read_text())
    assert written == {k: v for k, v in saved.items() if k != "transformers_version"}
    assert GenerationConfig.from_pretrained(tmp_path / "again") == lm.generation_config
    assert GenerationConfig().update(top_k=3, foo=1) == {"foo": 1}
    (tmp_path / "generation_config.json").write_text("{")
    with pytest.raises(ValueError, match="generation_config.json: not valid JSON"):
        MistralForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(TypeError, match="generation_config must be a GenerationConfig, got "
                                        "dict"):
        lm.generate(ids, generation_config={"num_beams": 2})


class Recorder(BaseStreamer):
    def __init__(self):
        self.puts, self.ended = [], 0

    def put(self, value):
        self.puts.append(np.array(value))

    def end(self):
        self.ended += 1


class Words:
    """A fake tokenizer: token i is the word "w<i>" followed by a space, 7 a newline, 9 "!"."""

    @staticmethod
    def decode(ids, skip_special_tokens=False):
        return "".join("\n" if i == 7 else "!" if i == 9 else f"w{i} " for i in ids)


def test_streamers(capsys):
    lm, ids = decoder_model("llama"), decoder_arrays()["ids"]
    recorder = Recorder()
    out = lm.generate(ids, max_new_tokens=4, streamer=recorder).data
    assert recorder.ended == 1 and len(recorder.puts) == 5
    np.testing.assert_array_equal(recorder.puts[0], ids)  # the prompt, then each step's tokens
    np.testing.assert_array_equal(np.stack(recorder.puts[1:], 1), out[:, 7:])

    class Collect(TextStreamer):
        pieces: list = []

        def on_finalized_text(self, text, stream_end=False):
            self.pieces.append((text, stream_end))
            super().on_finalized_text(text, stream_end)

    streamer = Collect(Words(), skip_prompt=True)
    for chunk in ([[1, 2]], [3], [9], [4], [7], [5]):
        streamer.put(np.array(chunk))
    streamer.end()
    assert capsys.readouterr().out == "w3 !w4 \nw5 \n"
    assert [text for text, _ in streamer.pieces] == ["w3 ", "", "!w4 ", "\n", "w5 ", ""]
    streamer = TextStreamer(Words())
    out = lm.generate(ids[:1], max_new_tokens=3, streamer=streamer).data
    assert capsys.readouterr().out == Words.decode(out[0].tolist()) + "\n"
    with pytest.raises(ValueError, match="only batch size 1 is supported"):
        streamer.put(ids)
    with pytest.raises(ValueError, match="streamer cannot be used with beam search"):
        lm.generate(ids, num_beams=2, streamer=Recorder())


def test_max_time_and_stop_strings():
    lm, ids = decoder_model("llama"), decoder_arrays()["ids"]
    assert lm.generate(ids, max_new_tokens=8, max_time=1e-9).shape == (2, 8)  # one step
    greedy = decoder_arrays()["llama/greedy"]  # stop at row 0's third new token
    stop = Words.decode(greedy[0, 8:10].tolist())
    out = lm.generate(ids, max_new_tokens=8, stop_strings=stop, tokenizer=Words(),
                      pad_token_id=0).data
    np.testing.assert_array_equal(out[0, :10], greedy[0, :10])
    np.testing.assert_array_equal(out[0, 10:], 0)  # row 0 done: padded
    np.testing.assert_array_equal(out[1], greedy[1, :out.shape[1]])
    with pytest.raises(ValueError, match="stop_strings needs tokenizer"):
        lm.generate(ids, stop_strings=["x"])
    with pytest.raises(ValueError, match="max_time must be > 0 seconds, got -1"):
        lm.generate(ids, max_time=-1)
    with pytest.raises(ValueError, match="max_length \\(7\\) leaves no room"):
        lm.generate(ids, max_length=7)
    assert LlamaConfig(sliding_window=None).layer_windows() == [None] * 32


def test_topk_on_wide_rows_keeps_the_stable_sort_order():
    from dlpy.models.generation import _topk  # the partition path (rows wider than 1,024)
    rng = np.random.default_rng(0)
    for trial in range(40):
        x = rng.normal(size=(int(rng.integers(1, 6)), 3000)).astype(np.float32)
        if trial % 3 == 0:
            x = np.round(x, 1)  # many ties at the k-th value
        if trial % 4 == 0:
            x[:, rng.integers(0, 3000, 2990)] = -np.inf  # fewer finite values than k
        if trial % 5 == 0:
            x[0, :7] = np.nan
        k = int(rng.integers(1, 12))
        expected = np.argsort(-x, axis=-1, kind="stable")[:, :k]
        assert np.array_equal(_topk(x, k), expected)
