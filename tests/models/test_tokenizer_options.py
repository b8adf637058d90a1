"""PreTrainedTokenizer's call options against transformers 5.25's AutoTokenizer on a byte-level
BPE (GPT-2-like), a WordPiece (BERT-like) and a Unigram (T5-like) tokenizer, English and
Korean text (tests/fixtures/make_tokenizer_options_fixtures.py): offsets, special-token masks,
lengths, overflowing windows with a stride, pre-split words, the word / sequence / character
maps, extra_special_tokens and tokens added at run time."""

import json
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy.models.tokenizer import CharSpan, PreTrainedTokenizer

pytest.importorskip("tokenizers")

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tokenizer_options"
CASES = json.loads((FIXTURES / "cases.json").read_text())
INPUTS = CASES["inputs"]
KINDS = ("bpe", "wordpiece", "unigram")


def load(kind):
    return PreTrainedTokenizer.from_pretrained(FIXTURES / kind)


def assert_fields(batch, expected, keys):
    for key in keys:
        if key in expected:
            np.testing.assert_array_equal(batch[key], np.array(expected[key]), err_msg=key)


def assert_maps(batch, expected):
    for row in range(len(expected["word_ids"])):
        assert batch.word_ids(row) == expected["word_ids"][row]
        assert batch.sequence_ids(row) == expected["sequence_ids"][row]
        assert batch.tokens(row) == expected["tokens"][row]
        spans = [batch.token_to_chars(row, j) for j in range(len(expected["tokens"][row]))]
        assert [None if s is None else list(s) for s in spans] == \
            expected["token_to_chars"][row]
        assert [batch.char_to_token(row, c) for c in range(30)] == \
            expected["char_to_token"][row]


FIELDS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask",
          "offset_mapping", "length")


@pytest.mark.parametrize("kind", KINDS)
def test_offsets_masks_lengths_and_maps(kind):
    tokenizer, expected = load(kind), CASES[kind]
    batch = tokenizer(INPUTS["texts"], return_offsets_mapping=True,
                      return_special_tokens_mask=True, return_length=True)
    assert list(batch) == [k for k in expected["plain"] if k in FIELDS]  # transformers' order
    assert batch.offset_mapping.shape[2] == 2 and batch.length.dtype == np.int64
    assert_fields(batch, expected["plain"], FIELDS)
    assert_maps(batch, expected["plain"])
    assert batch.token_to_chars(1) == CharSpan(*expected["plain"]["token_to_chars"][0][1])
    assert [tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
            for ids in batch.input_ids.tolist()] == expected["special_mask"]
    assert tokenizer.all_special_tokens == expected["all_special_tokens"]
    assert tokenizer.all_special_ids == expected["special_ids"]


@pytest.mark.parametrize("kind", KINDS)
def test_pairs_with_offsets_and_sequence_ids(kind):
    tokenizer, expected = load(kind), CASES[kind]["pairs"]
    first, second = zip(*INPUTS["pairs"])
    batch = tokenizer(list(first), list(second), return_offsets_mapping=True,
                      return_special_tokens_mask=True)
    assert_fields(batch, expected, FIELDS)
    assert_maps(batch, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_overflowing_windows_with_stride(kind):
    tokenizer, expected = load(kind), CASES[kind]
    batch = tokenizer(INPUTS["long"], max_length=12, stride=3, return_overflowing_tokens=True,
                      return_offsets_mapping=True)
    assert_fields(batch, expected["overflow"], (*FIELDS, "overflow_to_sample_mapping"))
    assert [batch.word_ids(i) for i in range(len(batch.input_ids))] == \
        expected["overflow"]["word_ids"]
    one = tokenizer(INPUTS["long"][0], max_length=10, stride=2, padding=False,
                    return_overflowing_tokens=True, return_tensors=None)
    assert dict(one) == expected["overflow_single"]  # lists of rows, as transformers


@pytest.mark.parametrize("kind", KINDS)
def test_split_into_words(kind):
    tokenizer, expected = load(kind), CASES[kind]["split_words"]
    batch = tokenizer(INPUTS["words"], is_split_into_words=True, return_offsets_mapping=True,
                      return_tensors="dlpy")
    assert isinstance(batch.input_ids, dlpy.Tensor)
    assert_fields({k: v.numpy() for k, v in batch.items()}, expected, FIELDS)
    assert_maps(batch, expected)
    one = tokenizer(INPUTS["words"][0], is_split_into_words=True, padding=False,
                    return_tensors=None)
    assert one.input_ids == [i for i, m in zip(expected["input_ids"][0],
                                               expected["attention_mask"][0]) if m]


@pytest.mark.parametrize("kind", KINDS)
def test_extra_and_added_tokens(kind):
    tokenizer, expected = load(kind), CASES[kind]
    text = " ".join([INPUTS["texts"][0], tokenizer.all_special_tokens[-1]])
    assert tokenizer.decode(tokenizer.encode(text), skip_special_tokens=True) == \
        expected["decode_skip"]
    if "image_token" in expected:  # extra_special_tokens as a dict: named model tokens
        assert [tokenizer.image_token, tokenizer.image_token_id] == expected["image_token"]
    added = expected["added"]
    counts = [tokenizer.add_tokens(["catdog", "날씨가좋다"]),
              tokenizer.add_special_tokens({"extra_special_tokens": ["<new_special>"]},
                                           replace_extra_special_tokens=False)]
    assert counts == added["counts"] and len(tokenizer) == added["length"]
    ids = tokenizer.encode("a catdog says 날씨가좋다 <new_special> hi")
    assert ids == added["ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == added["tokens"]
    assert tokenizer.decode(ids) == added["decoded"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == added["skipped"]
    assert tokenizer.all_special_tokens == added["all_special_tokens"]


def test_option_errors_name_the_problem():
    tokenizer = load("wordpiece")
    with pytest.raises(TypeError, match="a list of words or a list of such lists"):
        tokenizer("a b c", is_split_into_words=True)
    with pytest.raises(ValueError, match="already_has_special_tokens=True"):
        tokenizer.get_special_tokens_mask([2, 5, 3])
    with pytest.raises(ValueError, match="expected \\*_token names"):
        tokenizer.add_special_tokens({"padding": "[PAD]"})
    with pytest.raises(ValueError, match="stride set to 4"):
        tokenizer("the cat sat on the mat", max_length=4, stride=4,
                  return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="no encodings"):
        dlpy.models.tokenizer.BatchEncoding({"input_ids": [[1]]}).word_ids()
    tokenizer.add_special_tokens({"pad_token": "<pad2>"})  # a new pad token pads from now on
    assert tokenizer.pad_token_id == len(tokenizer) - 1
    assert tokenizer(["a", "a b"]).input_ids[0, -1] == tokenizer.pad_token_id
