"""A tiny Korean corpus written by the tests themselves, and a tokenizer trained on it."""

import gzip
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("sentencepiece")

SUBJECTS = ["나는", "친구는", "동생은", "선생님은", "우리는", "엄마는", "아빠는", "학생들은"]
OBJECTS = ["밥을", "사과를", "책을", "영화를", "음악을", "축구를", "그림을", "편지를"]
VERBS = ["먹었다", "좋아한다", "읽었다", "보았다", "들었다", "했다", "그렸다", "썼다"]
PLACES = ["학교에서", "집에서", "공원에서", "도서관에서", "서울에서", "바다에서"]


def sentences(count, seed=0):
    rng = np.random.default_rng(seed)
    pick = lambda words: words[rng.integers(len(words))]  # noqa: E731
    return [f"{pick(SUBJECTS)} {pick(PLACES)} {pick(OBJECTS)} {pick(VERBS)}."
            for _ in range(count)]


def write_text_corpus(path, documents, bad_lines=()):
    """A .txt.gz of documents separated by empty lines; bad_lines: raw byte lines (not UTF-8)
    inserted after the first document's first line."""
    with gzip.open(path, "wb") as f:
        for i, doc in enumerate(documents):
            lines = doc.split("\n")
            f.write((lines[0] + "\n").encode())
            if i == 0:
                for raw in bad_lines:
                    f.write(raw + b"\n")
            for line in lines[1:]:
                f.write((line + "\n").encode())
            f.write(b"\n")
    return path


def write_essay_zip(path, essays):
    """A zip of AI Hub-like essay JSON, one member per essay (paragraphs with markers)."""
    with zipfile.ZipFile(path, "w") as archive:
        for i, paragraphs in enumerate(essays):
            record = {"paragraph": [{"paragraph_txt": "#@문장구분#".join(p) + "#@문장구분#"}
                                    for p in paragraphs]}
            archive.writestr(f"글짓기/essay_{i}.json", json.dumps(record, ensure_ascii=False))
        archive.writestr("글짓기/broken.json", b"\xff\xfe not json")
    return path


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm_corpus")
    lines = sentences(3000)
    documents = ["\n".join(lines[i:i + 3]) for i in range(0, len(lines), 3)]
    write_text_corpus(folder / "text.txt.gz", documents)
    essays = [[lines[i:i + 2], lines[i + 2:i + 4]] for i in range(0, 400, 4)]
    write_essay_zip(folder / "essays.zip", essays)
    return folder


@pytest.fixture(scope="session")
def tokenizer_path(corpus_dir, tmp_path_factory):
    from dlpy.lm.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("lm_tokenizer") / "tokenizer.model"
    # unigram: on this regular corpus it learns syllables, not words (the vocabulary transfer
    # tests move from it to word pieces)
    return train_tokenizer([str(corpus_dir / "text.txt.gz"), str(corpus_dir / "essays.zip")],
                           out, vocab_size=400, sample_chars=200_000, heldout_every=0,
                           model_type="unigram")


@pytest.fixture(scope="session")
def tokenizer(tokenizer_path):
    from dlpy.lm.tokenizer import Tokenizer

    return Tokenizer(tokenizer_path)


NOUNS = "학교 친구 동생 도서관 공원 사과 음악 영화 선생님 바다 병원 가족 사람 하늘".split()
PARTICLES = "에 에서 을 를 은 는 이 가 와 의 도 로".split()


@pytest.fixture(scope="session")
def particle_corpus(tmp_path_factory):
    """A .txt.gz where 14 nouns meet 12 particles at random: enough variety that SentencePiece
    learns word pieces (the fixture corpus above is so regular that it learns syllables)."""
    rng = np.random.default_rng(0)
    lines = [" ".join(NOUNS[rng.integers(len(NOUNS))] + PARTICLES[rng.integers(len(PARTICLES))]
                      for _ in range(6)) + " 갔다." for _ in range(2000)]
    path = tmp_path_factory.mktemp("particles") / "text.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def word_tokenizers(particle_corpus, tmp_path_factory):
    """{"none": plain BPE, "bpe": morpheme-split BPE, "unigram": morpheme-split unigram}
    tokenizers of particle_corpus."""
    from dlpy.lm.tokenizer import Tokenizer, train_tokenizer

    folder = tmp_path_factory.mktemp("word_tokenizers")
    kinds = {"none": ("none", "bpe"), "bpe": ("morphemes", "bpe"),
             "unigram": ("morphemes", "unigram")}
    return {name: Tokenizer(train_tokenizer([str(particle_corpus)], folder / f"{name}.model",
                                            vocab_size=420, sample_chars=200_000,
                                            heldout_every=0, split=split, model_type=kind))
            for name, (split, kind) in kinds.items()}
