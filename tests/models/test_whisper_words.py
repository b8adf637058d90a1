"""Whisper's token timestamps (generate(return_token_timestamps=True): cross-attention of the
alignment heads, median filter, dynamic time warping) and the speech pipeline's
return_timestamps="word" against transformers 5.25 (make_whisper_word_fixtures.py)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from dlpy.models.whisper import (
    WhisperTokenizer,
    _combine_tokens_into_words,
    _dynamic_time_warping,
    _median_filter,
)

from .test_pipeline_long import asr
from .test_whisper_generate import audio, whisper

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@cache
def fixture():
    with np.load(FIXTURES / "whisper_words.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads((FIXTURES / "whisper_words.json").read_text())


@cache
def model():
    return whisper()


def plain(value):
    """Outputs as JSON would hold them: tuples as lists, numpy numbers as Python ones."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def test_cross_attentions_equal_transformers():
    arrays, _ = fixture()
    out = model()(arrays["short"], decoder_input_ids=arrays["cross/ids"], output_attentions=True)
    assert len(out.cross_attentions) == 2
    for i, weights in enumerate(out.cross_attentions):
        np.testing.assert_allclose(weights.numpy(), arrays[f"cross/{i}"], atol=1e-5)
    plain_out = model()(arrays["short"], decoder_input_ids=arrays["cross/ids"])
    assert plain_out.cross_attentions is None and "cross_attentions" not in plain_out
    np.testing.assert_array_equal(plain_out.logits.numpy(), out.logits.numpy())


@pytest.mark.parametrize("name", sorted(fixture()[1]["generate"]))
def test_token_timestamps_equal_transformers(name):
    arrays, values = fixture()
    case = values["generate"][name]
    kwargs = dict(case["kwargs"])
    if isinstance(kwargs.get("temperature"), list):
        kwargs["temperature"] = tuple(kwargs["temperature"])
    if case["mask"]:
        kwargs["attention_mask"] = arrays[case["input"] + "_mask"][:case["rows"]]
    out = model().generate(arrays[case["input"]][:case["rows"]], return_token_timestamps=True,
                           **kwargs)
    assert out["sequences"].numpy().tolist() == case["sequences"]
    times = out["token_timestamps"].numpy()
    assert times.dtype == np.float32  # multiples of 0.02 s, as transformers' exactly
    np.testing.assert_array_equal(times, np.array(case["token_timestamps"], np.float32))
    if "segments" in case:
        ours = [[s["token_timestamps"].tolist() for s in row] for row in out["segments"]]
        assert len(ours) == len(case["segments"])
        for mine, theirs in zip(ours, case["segments"]):
            assert len(mine) == len(theirs)
            for a, b in zip(mine, theirs):  # shifted by the window's time in float32
                np.testing.assert_array_equal(np.float32(a), np.float32(b))


@pytest.mark.parametrize("name", sorted(fixture()[1]["pipeline"]))
def test_word_timestamps_pipeline_equals_transformers(name):
    case = fixture()[1]["pipeline"][name]
    output = asr()(audio(**case["inputs"]), return_timestamps="word", **case["kwargs"])
    assert plain(output) == case["output"]  # words and times exactly
    assert all(set(chunk) == {"text", "timestamp"} for chunk in output["chunks"])


def test_dynamic_time_warping_and_median_filter_equal_transformers():
    arrays, _ = fixture()
    for i in range(3):
        text, time = _dynamic_time_warping(arrays[f"dtw/{i}"])
        np.testing.assert_array_equal(text, arrays[f"dtw/{i}/text"])
        np.testing.assert_array_equal(time, arrays[f"dtw/{i}/time"])
    for width in (3, 7, 23):  # 23: the axis (11) is shorter than width // 2 + 1: unchanged
        np.testing.assert_array_equal(_median_filter(arrays["median/in"], width),
                                      arrays[f"median/{width}"])
    with pytest.raises(ValueError, match="odd positive"):
        _median_filter(arrays["median/in"], 4)


def test_words_and_decode_asr_equal_transformers():
    _, values = fixture()
    tokenizer = WhisperTokenizer.from_pretrained(FIXTURES / "whisper_tokenizer")
    for case in values["words"]:
        words = _combine_tokens_into_words(tokenizer, case["tokens"], case["language"])
        assert plain(words) == case["words"]
    for case in values["decode_asr"]:
        windows = [{**w, "tokens": np.array(w["tokens"]), **(
            {"stride": tuple(w["stride"])} if "stride" in w else {})} for w in case["windows"]]
        text, optional = tokenizer.decode_asr(windows, return_timestamps="word")
        assert text == case["text"]
        assert plain(optional["chunks"]) == case["chunks"]


def test_errors_name_the_problem():
    arrays, _ = fixture()
    net = whisper()
    net.generation_config.extra = None
    with pytest.raises(ValueError, match="no `alignment_heads`"):
        net.generate(arrays["short"], return_token_timestamps=True)
    net.generation_config.extra = {"alignment_heads": [[2, 0]]}
    with pytest.raises(ValueError, match=r"alignment head \[2, 0\] is outside"):
        net.generate(arrays["short"], return_token_timestamps=True)
    with pytest.raises(NotImplementedError, match="return_dict_in_generate is implemented"):
        model().generate(arrays["long"][:1], return_token_timestamps=True,
                         return_dict_in_generate=True)
