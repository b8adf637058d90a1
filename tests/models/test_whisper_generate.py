"""Whisper's generate against transformers 5.25: beams, sampling, timestamps, long-form with
the temperature fallback, prompts, languages (tests/fixtures/make_whisper_generate_fixtures.py)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from dlpy.models.feature_extraction import WhisperFeatureExtractor
from dlpy.models.generation import GENERATION_CONFIG
from dlpy.models.whisper import (
    LANGUAGES,
    TO_LANGUAGE_CODE,
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperGenerationConfig,
    WhisperTokenizer,
    _WhisperProcessors,
    compression_ratio,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@lru_cache(maxsize=1)
def fixture():
    with np.load(FIXTURES / "whisper_generate.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads((FIXTURES / "whisper_generate.json").read_text())


def whisper() -> WhisperForConditionalGeneration:
    arrays, values = fixture()
    net = WhisperForConditionalGeneration(WhisperConfig.from_dict(values["config"]),
                                          rng=np.random.default_rng(0))
    net.load_hf_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("state/")})
    net.generation_config = WhisperGenerationConfig.from_dict(values["generation"])
    return net.eval()


def audio(seconds: float, pitch: float) -> np.ndarray:
    """The fixture script's synthetic waveform."""
    t = np.arange(int(seconds * 16000)) / 16000.0
    wave = 0.4 * np.sin(2 * np.pi * pitch * t) + 0.2 * np.sin(2 * np.pi * 3.7 * pitch * t ** 1.1)
    envelope = np.clip(np.sin(2 * np.pi * 0.9 * t) * 1.5, 0.0, 1.0)
    return (wave * envelope).astype(np.float32)


def run(net, name: str, monkeypatch=None):
    """generate on the case's input with its arguments; the decisions of _need_fallback."""
    arrays, values = fixture()
    case = values["cases"][name]
    kwargs = dict(case["kwargs"])
    if "prompt_ids" in kwargs:
        kwargs["prompt_ids"] = np.array(kwargs["prompt_ids"])
    if isinstance(kwargs.get("temperature"), list):
        kwargs["temperature"] = tuple(kwargs["temperature"])
    features = arrays[case["input"]][:case.get("rows", 2)]
    if kwargs.pop("from_encoder", False):
        kwargs["encoder_outputs"] = net.get_encoder()(features).last_hidden_state
        features = None
    if case.get("rows", 1) > 1 and case["input"] == "long":
        kwargs["attention_mask"] = arrays["long_mask"]
    decisions = []
    if monkeypatch is not None:
        need = net._need_fallback

        def recording(*args):
            decisions.append(list(need(*args)))
            return decisions[-1]
        monkeypatch.setattr(net, "_need_fallback", recording)
    return case, net.generate(features, **kwargs), decisions


SHORT = ["greedy", "timestamps", "beams", "beams_penalty", "beams_timestamps", "top_k_1",
         "top_p_small", "do_sample_without_temperature", "prompt", "prompt_timestamps",
         "languages", "language_alias", "encoder_outputs"]
LONG = ["long", "long_condition", "long_prompt_all", "long_prompt_first", "long_beams",
        "long_batch", "long_max_new_tokens", "fallback_compression", "fallback_logprob",
        "no_speech"]


@pytest.mark.parametrize("name", SHORT + LONG)
def test_generate_equals_transformers(name, monkeypatch):
    net = whisper()
    case, out, decisions = run(net, name, monkeypatch)
    if "segments" in case:
        out, segments = out["sequences"], out["segments"]
        assert len(segments) == len(case["segments"])
        for row, expected in zip(segments, case["segments"]):
            assert [s["tokens"].tolist() for s in row] == [s[2] for s in expected]
            np.testing.assert_allclose([[s["start"], s["end"]] for s in row],
                                       [s[:2] for s in expected], atol=1e-9)
    assert out.dtype == np.int64
    assert out.data.tolist() == case["sequences"]
    assert decisions == case["decisions"]


def test_fallback_thresholds_trigger():
    """The fixture's threshold cases do decide: a fallback, a window skipped as silence."""
    _, values = fixture()
    cases = values["cases"]
    assert [True, False] in cases["fallback_compression"]["decisions"]
    assert [True, False] in cases["fallback_logprob"]["decisions"]
    assert [False, True] in cases["no_speech"]["decisions"]


def test_timestamp_processor_equals_transformers():
    arrays, _ = fixture()
    net = whisper()
    settings = WhisperGenerationConfig.copy_of(net.generation_config)
    settings.return_timestamps = True
    settings.suppress_tokens = settings.begin_suppress_tokens = None
    processors = _WhisperProcessors(lambda ids, scores: scores, settings, 3, 53)
    ids, scores = arrays["ts_ids"], arrays["ts_scores"]
    np.testing.assert_array_equal(processors(ids[:, :3], scores), arrays["ts_first"])
    np.testing.assert_array_equal(processors(ids, scores), arrays["ts_out"])


def test_long_form_features_equal_transformers():
    arrays, values = fixture()
    extractor = WhisperFeatureExtractor.from_dict(values["extractor"])
    long = extractor([audio(3.3, 440.0), audio(1.7, 300.0)], sampling_rate=16000,
                     truncation=False, padding="longest", return_attention_mask=True)
    np.testing.assert_allclose(long["input_features"], arrays["long"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(long["attention_mask"], arrays["long_mask"])
    short = extractor([audio(0.8, 440.0), audio(0.5, 300.0)], sampling_rate=16000)
    np.testing.assert_allclose(short["input_features"], arrays["short"], rtol=1e-4, atol=1e-4)


def test_generation_config_keeps_unknown_keys(tmp_path):
    _, values = fixture()
    config = WhisperGenerationConfig.from_dict(values["generation"])
    assert config.extra == {"alignment_heads": [[1, 0], [1, 2]], "custom_key": "kept"}
    assert config.prev_sot_token_id == 50 and config.max_initial_timestamp_index == 5
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / GENERATION_CONFIG).read_text()) == values["generation"]
    assert WhisperGenerationConfig.from_pretrained(tmp_path) == config


def test_languages_and_compression_ratio():
    assert len(LANGUAGES) == 100 and LANGUAGES["yue"] == "cantonese"
    assert TO_LANGUAGE_CODE["haitian creole"] == TO_LANGUAGE_CODE["haitian"] == "ht"
    net = whisper()
    settings = net.generation_config
    for language in ("de", "German", "<|de|>"):
        assert net._language_id(settings, language) == 43
    assert net._language_id(settings, "mandarin") == 45
    with pytest.raises(ValueError, match=r"language 'korean' \(<\|ko\|>\) is not in the"):
        net._language_id(settings, "korean")
    with pytest.raises(ValueError, match="language 'klingon' is not in the generation config"):
        net._language_id(settings, "klingon")
    assert compression_ratio(np.full(60, 43), 80) > 4 > compression_ratio(np.arange(20), 80)


def test_errors():
    arrays, _ = fixture()
    net = whisper()
    long = arrays["long"]
    with pytest.raises(ValueError, match="105 frames are more than one window"):
        net.generate(long[:1], return_timestamps=False)
    with pytest.raises(ValueError, match="batched long-form transcription needs"):
        net.generate(long)
    with pytest.raises(ValueError, match="prompt_condition_type='all-segments' needs"):
        net.generate(long[:1], prompt_condition_type="all-segments")
    with pytest.raises(ValueError, match="no_speech_threshold is used with logprob_threshold"):
        net.generate(long[:1], no_speech_threshold=0.5)
    with pytest.raises(NotImplementedError, match="logprob_threshold with beam search"):
        net.generate(long[:1], num_beams=2, logprob_threshold=-1.0)
    with pytest.raises(TypeError, match="unexpected argument 'beams'"):
        net.generate(long[:1], beams=2)
    with pytest.raises(ValueError, match="task must be 'translate' or 'transcribe'"):
        net.generate(arrays["short"], task="summarise")
    with pytest.raises(ValueError, match="2 languages for a batch of 1"):
        net.generate(arrays["short"][:1], language=["de", "fr"])


def test_tokenizer_decode_equals_transformers():
    _, values = fixture()
    tok = WhisperTokenizer.from_pretrained(FIXTURES / "whisper_tokenizer")
    assert tok.timestamp_begin == 53
    for case in values["decode"]["sequences"]:
        ids = case["ids"]
        assert tok.decode(ids) == case["text"]
        assert tok.decode(ids, skip_special_tokens=True) == case["skip"]
        assert tok.decode(ids, decode_with_timestamps=True) == case["stamps"]
        assert tok.decode(np.array(ids), decode_with_timestamps=True, skip_special_tokens=True,
                          time_precision=0.04) == case["stamps_skip"]
        out = tok.decode(ids, output_offsets=True)
        assert out["text"] == case["text"]
        assert [[o["text"], list(o["timestamp"])] for o in out["offsets"]] == \
            [[o["text"], o["timestamp"]] for o in case["offsets"]]
    for text, ids in values["decode"]["prompt_ids"].items():
        assert tok.get_prompt_ids(text).tolist() == ids
    with pytest.raises(ValueError, match="holds the special token <|de|>"):
        tok.get_prompt_ids("the <|de|> winner")


def test_streamer():
    arrays, values = fixture()
    net = whisper()
    expected = values["cases"]["greedy"]["sequences"]

    class Recorder:
        def __init__(self):
            self.values, self.ended = [], 0

        def put(self, value):
            self.values.append(np.asarray(value))

        def end(self):
            self.ended += 1
            self.values.append(None)

    streamer = Recorder()
    out = net.generate(arrays["short"], max_new_tokens=10, streamer=streamer)
    # put(prompt), put(tokens) each step and end() for each window: row 1 needs two (its
    # text goes on after the last pair of ids at or above timestamp_begin)
    assert out.data.tolist() == expected and streamer.ended == 2
    assert streamer.values[0].tolist() == [[41, 42, 48, 52], [41, 42, 48, 52]]
    first_end = next(i for i, value in enumerate(streamer.values) if value is None)
    steps = np.stack(streamer.values[1:first_end], 1)  # (batch, steps) of the first window
    assert steps[0].tolist() == expected[0][:10]  # row 0: one window, 10 tokens, no eos


def test_auto_tokenizer_gives_whisper_tokenizer_by_tokenizer_class():
    from dlpy.models import AutoTokenizer
    from dlpy.models.whisper import WhisperTokenizer

    directory = Path(__file__).resolve().parents[1] / "fixtures" / "whisper_tokenizer"
    assert type(AutoTokenizer.from_pretrained(directory)) is WhisperTokenizer
