"""Pipelines on long inputs against transformers 5.25 (make_pipeline_long_fixtures.py):
token-classification's ``stride`` windows and ``is_split_into_words``; speech recognition's
default 5 beams, ``generate_kwargs``, segment timestamps, ``chunk_length_s`` chunking and
long-form audio on a tiny random Whisper with timestamp tokens; Whisper's
generate(return_dict_in_generate=True, output_scores=True) on one window."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from dlpy.models.feature_extraction import WhisperFeatureExtractor
from dlpy.models.pipelines import pipeline
from dlpy.models.whisper import WhisperTokenizer, _longest_common_sequence

from .test_whisper_generate import audio, fixture, whisper

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = {case["name"]: case for case in
         json.loads((FIXTURES / "pipeline_long.json").read_text())}


def same(ours, theirs):
    """Equal labels, words, spans and text; scores to 1e-5."""
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs)
        for key in theirs:
            same(ours[key], theirs[key])
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            same(a, b)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=1e-5)
    else:
        assert ours == theirs


@cache
def ner():
    return pipeline("token-classification", model=str(FIXTURES / "pipelines" / "bert_tok"))


@cache
def asr():
    return pipeline("automatic-speech-recognition", model=whisper(),
                    tokenizer=WhisperTokenizer.from_pretrained(FIXTURES / "whisper_tokenizer"),
                    feature_extractor=WhisperFeatureExtractor(**fixture()[1]["extractor"]))


@pytest.mark.parametrize("name", [n for n, c in CASES.items()
                                  if c["task"] == "token-classification"])
def test_token_classification_windows_and_words(name):
    case = CASES[name]
    same(ner()(case["inputs"], **case["kwargs"]), case["output"])


@pytest.mark.parametrize("name", [n for n, c in CASES.items()
                                  if c["task"] == "automatic-speech-recognition"])
def test_speech_recognition_equals_transformers(name):
    case = CASES[name]
    wave = audio(case["inputs"]["seconds"], case["inputs"]["pitch"])
    same(asr()(wave, **case["kwargs"]), case["output"])


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["task"] == "generate"])
def test_whisper_generate_dict_equals_transformers(name):
    case = CASES[name]
    features = asr().feature_extractor(audio(**case["inputs"]),
                                       sampling_rate=16000)["input_features"]
    out = asr().model.generate(features, return_dict_in_generate=True, **case["kwargs"])
    assert out["sequences"].numpy().tolist() == case["output"]["sequences"]
    if "scores" in case["output"]:
        scores = np.stack([step.numpy() for step in out["scores"]])
        expected = np.array(case["output"]["scores"], np.float32)
        np.testing.assert_allclose(np.where(np.isinf(expected), 0, scores),
                                   np.where(np.isinf(expected), 0, expected), atol=1e-4)
        np.testing.assert_array_equal(np.isinf(scores), np.isinf(expected))


def test_longest_common_sequence_joins_overlaps():
    assert _longest_common_sequence([[1, 2, 3, 4, 5], [4, 5, 6, 7]]) == [1, 2, 3, 4, 5, 6, 7]
    assert _longest_common_sequence([[1, 2, 3], [9, 8]]) == [1, 2, 3, 9, 8]  # no overlap
    assert _longest_common_sequence([[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7]]) == \
        [1, 2, 3, 4, 5, 6, 7]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='aggregation_strategy="none"'):
        ner()("john smith", stride=2, aggregation_strategy="none")
    with pytest.raises(ValueError, match="must be less than"):
        ner()("john smith", stride=16, aggregation_strategy="simple")
    with pytest.raises(ValueError, match="must be a list of tokens"):
        ner()("john smith", is_split_into_words=True)
    with pytest.raises(ValueError, match="offset_mapping"):
        ner()("john", offset_mapping=[(0, 4)])
    wave = np.zeros(8000, np.float32)
    with pytest.raises(ValueError, match="superior to stride length"):
        asr()(wave, chunk_length_s=0.5, stride_length_s=0.3)
    with pytest.raises(ValueError, match="cannot return `char` timestamps"):
        asr()(wave, return_timestamps="char")
    features = asr().feature_extractor(wave, sampling_rate=16000)["input_features"]
    with pytest.raises(NotImplementedError, match="output_scores with beam search"):
        asr().model.generate(features, return_dict_in_generate=True, output_scores=True,
                             num_beams=2, max_new_tokens=2)
