"""PreTrainedTokenizer against transformers' PreTrainedTokenizerFast on a tiny WordPiece
tokenizer.json (tests/fixtures/make_hf_encoder_fixtures.py): padding, truncation to max_length
and to model_max_length, pairs, decoding, special tokens."""

import json
import sys

import numpy as np
import pytest

import dlpy
from dlpy.models.tokenizer import PreTrainedTokenizer

from .hf_encoder import TOKENIZER_DIR, group

NAMES = ("input_ids", "attention_mask", "token_type_ids")


@pytest.fixture(scope="module")
def tokenizer():
    return PreTrainedTokenizer.from_pretrained(TOKENIZER_DIR)


def texts():
    return group("tok")["texts"].tolist()


@pytest.mark.parametrize("case, kwargs", [("pad", {}), ("trunc", {"max_length": 6}),
                                          ("model_max", {"truncation": True})])
def test_batches_equal_transformers(tokenizer, case, kwargs):
    batch = tokenizer(texts(), **kwargs)
    assert list(batch) == ["input_ids", "token_type_ids", "attention_mask"]
    for name in NAMES:
        np.testing.assert_array_equal(batch[name], group(f"tok/{case}")[name])
        assert batch[name].dtype == np.int64


def test_pairs_and_tensors(tokenizer):
    batch = tokenizer(["the cat", "a dog ran"], ["sat on the mat", "!"], return_tensors="dlpy")
    for name in NAMES:
        assert isinstance(batch[name], dlpy.Tensor)
        np.testing.assert_array_equal(batch[name].numpy(), group("tok/pair")[name])


def test_decode_equals_transformers(tokenizer):
    ids = group("tok/pad")["input_ids"]
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == \
        group("tok")["decoded"].tolist()
    assert tokenizer.batch_decode(dlpy.Tensor(ids)) == group("tok")["decoded_special"].tolist()
    assert tokenizer.decode([2, 5, 6, 3], skip_special_tokens=True) == "the cat"


def test_special_tokens_lengths_and_lists(tokenizer):
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id, tokenizer.bos_token) == (0, 4, None)
    assert tokenizer.encode("the [MASK] sat") == [2, 5, 4, 7, 3]  # [MASK] stays whole
    assert tokenizer.tokenize("Unbelievable") == ["un", "##believ", "##able"]
    assert tokenizer.convert_tokens_to_ids(["cat", "[SEP]"]) == [6, 3]
    out = tokenizer(["the cat", "a dog ran on"], padding=False, return_tensors=None)
    assert out.input_ids == [[2, 5, 6, 3], [2, 10, 11, 12, 8, 3]]
    padded = tokenizer("the cat", padding="max_length", max_length=6)
    np.testing.assert_array_equal(padded.attention_mask, [[1, 1, 1, 1, 0, 0]])
    long = tokenizer(" ".join(["cat"] * 20), truncation=False)
    assert long.input_ids.shape == (1, 22)  # no cut without truncation


def test_errors_name_the_problem(tokenizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json: no such file"):
        PreTrainedTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json: not a tokenizers tokenizer.json"):
        PreTrainedTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"lengths \[4, 6\] cannot be one array"):
        tokenizer(["the cat", "a dog ran on"], padding=False)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, vocab_size=27\), got 99"):
        tokenizer.decode([2, 99])
    with pytest.raises(ValueError, match="2 texts but 1 text pairs"):
        tokenizer(["a", "b"], ["c"])
    with pytest.raises(TypeError, match="expected a text or a list of texts"):
        tokenizer([1, 2])
    config = json.loads((TOKENIZER_DIR / "tokenizer_config.json").read_text())
    del config["pad_token"]
    (tmp_path / "tokenizer.json").write_text((TOKENIZER_DIR / "tokenizer.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="padding needs a pad_token"):
        PreTrainedTokenizer.from_pretrained(tmp_path)(["a", "the cat"])


def test_missing_library_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import fails
    with pytest.raises(ImportError, match="pip install tokenizers"):
        PreTrainedTokenizer.from_pretrained(TOKENIZER_DIR)
