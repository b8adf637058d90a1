import pytest

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


class _Token:  # the fields of a kiwipiepy Token that morpheme_cuts reads
    def __init__(self, form, tag, start, length):
        self.form, self.tag, self.start, self.len = form, tag, start, length


def test_morpheme_cuts_after_nouns_and_before_particles():
    from dlpy.lm.tokenizer import morpheme_cuts

    # 사람들은 병원에서 먹기를 갔다: 사람|들|은 병원|에서 먹기|를; 갔 (가 + 았) is not cut
    tokens = [_Token("사람", "NNG", 0, 2), _Token("들", "XSN", 2, 1), _Token("은", "JX", 3, 1),
              _Token("병원", "NNG", 5, 2), _Token("에서", "JKB", 7, 2),
              _Token("먹", "VV", 10, 1), _Token("기", "ETN", 11, 1), _Token("를", "JKO", 12, 1),
              _Token("가", "VV", 14, 1), _Token("았", "EP", 14, 1), _Token("다", "EF", 15, 1),
              _Token("대한", "NNP", 17, 2), _Token("민국", "NNP", 19, 2)]  # noun + noun: whole
    assert morpheme_cuts(tokens) == [2, 3, 7, 12]


def test_cut_morphemes_with_kiwi():
    pytest = __import__("pytest")
    pytest.importorskip("kiwipiepy")
    from dlpy.lm.tokenizer import CUT, cut_morphemes

    lines = cut_morphemes(["목이 말라서 물을 마셨다.", "학교에 갔다.", "\ud800 외톨이 대리 문자"])
    assert lines[0] == f"목{CUT}이 말라서 물{CUT}을 마셨다."
    assert lines[1] == f"학교{CUT}에 갔다."
    assert lines[2].replace(CUT, "") == "\ud800 외톨이 대리 문자"  # Kiwi's refusal: kept


def _crossed_cuts(tokenizer, lines):
    """How many of Kiwi's cuts in ``lines`` fall inside a piece of ``tokenizer``'s encoding."""
    from dlpy.lm.tokenizer import CUT, cut_morphemes

    crossed = 0
    for cut_line in cut_morphemes(lines):
        cuts, offset = set(), 0
        for part in cut_line.split(CUT)[:-1]:
            offset += len(part)
            cuts.add(offset)
        line = cut_line.replace(CUT, "")
        ids = tokenizer.encode(line)
        bounds = {len(tokenizer.decode(ids[:k])) for k in range(1, len(ids) + 1)}
        crossed += len(cuts - bounds)
    return crossed


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_a_morpheme_tokenizer_keeps_no_noun_and_particle_together(word_tokenizers, model_type):
    """On text where nouns meet many particles a plain tokenizer learns 학교에, 병원에 as
    pieces, across Kiwi's cuts; the morpheme-split ones learn 학교 and 에 apart. Unigram never
    spells a cut noun and particle as one piece; BPE, which fills its whole vocabulary with
    merges, also merges the few spellings Kiwi left uncut somewhere in this tiny corpus, so it
    crosses a few cuts, far fewer than the plain one. All decode exactly."""
    from .conftest import NOUNS, PARTICLES

    plain, morphemes = word_tokenizers["none"], word_tokenizers[model_type]
    assert plain.split == "none" and morphemes.split == "morphemes"
    def grammatical(noun, particle):  # 을/를, 은/는, 이/가 as the noun's last letter wants
        closed = (ord(noun[-1]) - 0xAC00) % 28 != 0
        return particle not in ("을은이" if not closed else "를는가")

    usual = "에 에서 의 도 을 를 은 는 이 가".split()
    lines = [f"{noun}{particle} 갔다." for noun in NOUNS for particle in PARTICLES
             if particle in usual and grammatical(noun, particle)]
    crossed = _crossed_cuts(plain, lines)
    assert crossed >= 20  # noun + particle pieces such as ▁학교에
    assert _crossed_cuts(morphemes, lines) <= (0 if model_type == "unigram" else crossed // 4)
    assert "\u2581학교" in morphemes.pieces() and "에" in morphemes.pieces()
    text = "동생은 도서관에서 사과를 먹었다."
    pieces = [morphemes.pieces()[i] for i in morphemes.encode(text)]
    assert pieces[:3] == ["\u2581동생", "은", "\u2581도서관"]
    for tokenizer in (plain, morphemes):
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_unknown_split_is_refused(tmp_path):
    import pytest

    from dlpy.lm.tokenizer import train_tokenizer

    with pytest.raises(ValueError, match="split must be one of"):
        train_tokenizer([], tmp_path / "t.model", split="words")
    with pytest.raises(ValueError, match="model_type must be one of"):
        train_tokenizer([], tmp_path / "t.model", model_type="wordpiece")


def test_tokenizer_command(particle_corpus, tmp_path, capsys):
    from dlpy import cli

    out = tmp_path / "made.model"
    assert cli.main(["lm", "tokenizer", "--data", str(particle_corpus), "--out", str(out),
                     "--vocab-size", "420", "--sample-chars", "100000",
                     "--heldout-every", "0"]) == 0
    made = Tokenizer(out)
    assert made.split == "morphemes" and "\u2581학교" in made.pieces()
    assert "bpe pieces, split morphemes" in capsys.readouterr().err
    assert cli.main(["lm", "tokenizer", "--data", str(particle_corpus), "--out", str(out),
                     "--vocab-size", "420", "--sample-chars", "100000", "--heldout-every", "0",
                     "--type", "unigram", "--split", "none"]) == 0
    assert "unigram pieces, split none" in capsys.readouterr().err
    assert Tokenizer(out).split == "none"
    assert cli.main(["lm", "tokenizer", "--data", str(tmp_path / "none.txt.gz"),
                     "--out", str(out)]) == 2
    assert "none.txt.gz: no such file" in capsys.readouterr().err
