from dlpy.lm.tokenizer import MASK, PAD, SEP, Tokenizer


def test_round_trip(tokenizer):
    for text in ["나는 학교에서 밥을 먹었다.", "동생은 도서관에서 책을 읽었다.",
                 "처음 보는 글자: 鬱陵島 😀, 그래도 그대로."]:  # unseen characters: byte pieces
        ids = tokenizer.encode(text)
        assert all(0 <= i < tokenizer.vocab_size for i in ids)
        assert tokenizer.decode(ids) == text


def test_special_ids_and_mask(tokenizer):
    assert tokenizer.sp.pad_id() == PAD and tokenizer.sp.eos_id() == SEP
    ids = tokenizer.encode("나는 [MASK] 먹었다.")
    assert ids.count(MASK) == 1
    assert tokenizer.surface(MASK) == "[MASK]"


def test_surface_has_no_word_marker(tokenizer):
    pieces = tokenizer.pieces()
    word = next(i for i, p in enumerate(pieces) if p.startswith("\u2581") and len(p) > 1)
    assert tokenizer.surface(word) == pieces[word][1:]
    assert tokenizer.starts_word()[word]


def test_missing_model_names_the_file(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="nothing.model"):
        Tokenizer(tmp_path / "nothing.model")
