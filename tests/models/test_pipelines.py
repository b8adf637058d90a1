"""dlpy.models.pipelines against transformers' pipelines on the tiny checkpoints of
tests/fixtures/make_pipeline_fixtures.py (cases.json: transformers 5.25; cases_legacy.json:
transformers 4.57 for the tasks 5 removed)."""

from __future__ import annotations

import json
import warnings
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest

from dlpy.models import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer
from dlpy.models.pipelines import pipeline, resample

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipelines"
CASES = {name: json.loads((FIXTURES / name).read_text())
         for name in ("cases.json", "cases_legacy.json")}
ALL = [case for cases in CASES.values() for case in cases]


@lru_cache(maxsize=1)
def inputs() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "inputs.npz") as data:
        return {key: data[key] for key in data.files}


def replay(value):
    """A case's stored input as the pipeline takes it (files, arrays, PIL images)."""
    if isinstance(value, list):
        return [replay(v) for v in value]
    if isinstance(value, dict) and "raw" in value:
        return {**value, "raw": replay(value["raw"])}
    if isinstance(value, dict) and "path" in value:
        return str(FIXTURES / value["path"])
    if isinstance(value, dict) and "array" in value:
        return inputs()[value["array"]]
    if isinstance(value, dict) and "pil" in value:
        from PIL import Image
        return Image.fromarray(inputs()[value["pil"]])
    return value


@cache
def make(task: str, model: str, tokenizer: str | None = None):
    """The pipeline of a fixture directory (the tokenizer of another one when named)."""
    tokenizer = None if tokenizer is None else str(FIXTURES / tokenizer)
    with warnings.catch_warnings():  # feature-extraction: BertModel from a masked-LM checkpoint
        warnings.filterwarnings("ignore", ".*(no weights for|are not used by)")
        return pipeline(task, model=str(FIXTURES / model), tokenizer=tokenizer)


def assert_same(actual, expected, where="output") -> None:
    """Equal structure, strings and ints; floats to 1e-5."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (where, actual)
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, actual)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert isinstance(actual, float) and abs(actual - expected) <= 1e-5, (where, actual,
                                                                              expected)
    else:
        assert type(actual) is type(expected) and actual == expected, (where, actual, expected)


@pytest.mark.parametrize("case", ALL, ids=[case["name"] for case in ALL])
def test_equals_transformers(case):
    pipe = make(case["task"], case["model"], case["init"].get("tokenizer"))
    assert_same(pipe(replay(case["inputs"]), **case["kwargs"]), case["output"])


def case(name: str) -> dict:
    return next(c for c in ALL if c["name"] == name)


def test_batch_size_gives_the_same_answers():
    ner = make("token-classification", "bert_tok")
    texts = case("ner_list")["inputs"] + ["john"]
    one = ner(texts, aggregation_strategy="max")
    assert_same(ner(texts, aggregation_strategy="max", batch_size=3), json.loads(json.dumps(one)))
    fill = pipeline("fill-mask", model=str(FIXTURES / "bert_mlm"), batch_size=2, top_k=2)
    assert_same(fill(case("fill_mask_top2")["inputs"]), case("fill_mask_top2")["output"])
    qa = make("question-answering", "bert_qa")
    assert_same(qa(case("qa_list")["inputs"], batch_size=2, max_answer_len=2),
                case("qa_list")["output"])


def test_objects_and_guessed_tasks():
    directory = FIXTURES / "bert_mlm"
    model = AutoModelForMaskedLM.from_pretrained(directory)
    fill = pipeline("fill-mask", model=model, tokenizer=AutoTokenizer.from_pretrained(directory),
                    device="cpu")
    assert_same(fill(case("fill_mask")["inputs"]), case("fill_mask")["output"])
    fill = pipeline("fill-mask", model=model, tokenizer=str(directory), device=-1,
                    dtype="float32")
    assert_same(fill(case("fill_mask")["inputs"]), case("fill_mask")["output"])
    for name, task in (("bert_tok", "token-classification"), ("gpt2", "text-generation"),
                       ("t5", "text2text-generation"), ("vit", "image-classification"),
                       ("clip", "zero-shot-image-classification"),
                       ("whisper", "automatic-speech-recognition")):
        assert pipeline(model=str(FIXTURES / name)).task == task


def test_float16():
    classify = pipeline("text-classification", model=str(FIXTURES / "bert_seq"),
                        dtype="float16")
    for actual, expected in zip(classify(case("classify_list")["inputs"]),
                                case("classify_list")["output"]):
        assert actual["label"] == expected["label"]
        assert abs(actual["score"] - expected["score"]) < 2e-3
    with pytest.raises(ValueError, match="unknown dtype 'float17'"):
        pipeline("text-classification", model=str(FIXTURES / "bert_seq"), dtype="float17")


def test_question_answering_call_forms():
    qa = make("question-answering", "bert_qa")
    item = case("qa")["inputs"]
    expected = case("qa")["output"]
    assert_same(qa(question=item["question"], context=item["context"]), expected)
    assert_same(qa(item["question"], item["context"]), expected)
    assert_same(qa(question=[item["question"]] * 2, context=item["context"]), [expected] * 2)


def test_generation_tokens_and_prefix():
    generate = make("text-generation", "gpt2")
    ids = generate("a cat", max_new_tokens=8, do_sample=False, return_tensors=True)
    ids = ids[0]["generated_token_ids"]
    prompt = generate.tokenizer(["a cat"])["input_ids"][0].tolist()
    assert ids[:len(prompt)] == prompt
    text = "a cat" + generate.tokenizer.decode(ids[len(prompt):])
    assert text == case("generate")["output"][0]["generated_text"]
    summary = make("summarization", "t5")
    assert summary.prefix == "summarize: "
    out = summary("a cat", max_new_tokens=3, return_tensors=True)
    assert list(out[0]) == ["summary_token_ids"] and len(out[0]["summary_token_ids"]) <= 4


def test_resample():
    t8 = np.arange(800) / 8000
    t16 = np.arange(1600) / 16000
    up = resample(np.sin(2 * np.pi * 440 * t8), 8000, 16000)
    assert up.shape == (1600,)
    np.testing.assert_allclose(up[100:-100], np.sin(2 * np.pi * 440 * t16)[100:-100], atol=2e-3)
    down = resample(np.sin(2 * np.pi * 300 * t16).astype(np.float32)[None], 16000, 8000)
    assert down.shape == (1, 800) and down.dtype == np.float32
    np.testing.assert_allclose(down[0, 50:-50], np.sin(2 * np.pi * 300 * t8)[50:-50], atol=2e-3)
    assert np.array_equal(resample(t8, 8000, 8000), t8)
    with pytest.raises(ValueError, match="positive integers"):
        resample(t8, 0, 16000)
    asr = make("automatic-speech-recognition", "whisper")
    speech = inputs()["speech"]
    at_8k = resample(speech, 16000, 8000)
    kwargs = {"generate_kwargs": {"max_new_tokens": 5}}
    assert asr({"raw": at_8k, "sampling_rate": 8000}, **kwargs) == \
        asr(resample(at_8k, 8000, 16000), **kwargs)


def test_errors():
    bert = str(FIXTURES / "bert_mlm")
    with pytest.raises(KeyError, match="Unknown task summarise"):
        pipeline("summarise", model=bert)
    with pytest.raises(ValueError, match="no model given"):
        pipeline("fill-mask")
    with pytest.raises(FileNotFoundError, match="no model directory 'nowhere'"):
        pipeline("fill-mask", model="nowhere")
    with pytest.raises(ValueError, match="AutoModelForCausalLM has no model for model_type 'bert'"):
        pipeline("text-generation", model=bert)
    classifier = AutoModelForSequenceClassification.from_pretrained(FIXTURES / "bert_seq")
    with pytest.raises(ValueError, match="BertForSequenceClassification has no head"):
        pipeline("fill-mask", model=classifier, tokenizer=bert)
    with pytest.raises(ValueError, match="no tokenizer"):
        pipeline("text-classification", model=classifier)
    with pytest.raises(RuntimeError):
        pipeline("fill-mask", model=bert, device="cuda")
    fill = make("fill-mask", "bert_mlm")
    with pytest.raises(ValueError, match=r"no mask_token \(\[MASK\]\) found in the input 'a cat'"):
        fill("a cat")
    with pytest.raises(TypeError, match="unexpected argument.s. topk; it takes truncation"):
        make("feature-extraction", "bert_mlm")("a cat", topk=2)
    with pytest.raises(ValueError, match="function_to_apply must be one of"):
        make("text-classification", "bert_seq")("a dog", function_to_apply="relu")
    with pytest.raises(ValueError, match="aggregation_strategy must be one of"):
        make("token-classification", "bert_tok")("a dog", aggregation_strategy="mean")
    with pytest.raises(KeyError, match="question:..., context"):
        make("question-answering", "bert_qa")({"question": "who?"})
    with pytest.raises(ValueError, match="`context` cannot be empty"):
        make("question-answering", "bert_qa")(question="who?", context="")
    with pytest.raises(ValueError, match="chat messages"):
        make("text-generation", "gpt2")([{"role": "user", "content": "hi"}])
    images = make("image-classification", "vit")
    with pytest.raises(ValueError, match="is a URL; dlpy downloads nothing"):
        images("https://example.com/cat.png")
    with pytest.raises(FileNotFoundError, match="no image file 'missing.png'"):
        images("missing.png")
    with pytest.raises(ValueError, match="candidate_labels are needed"):
        make("zero-shot-image-classification", "clip")(str(FIXTURES / "image.png"))
    asr = make("automatic-speech-recognition", "whisper")
    with pytest.raises(ValueError, match="return_language is not supported"):
        asr(np.zeros(100, np.float32), return_language=True)
    with pytest.raises(ValueError, match='needs to contain a "raw" key'):
        asr({"sampling_rate": 16000})
