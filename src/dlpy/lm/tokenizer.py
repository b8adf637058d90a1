"""The subword tokenizer: a SentencePiece model (BPE or unigram) trained on a sample of the
corpus.

Ids 0-4 are fixed: [PAD], [UNK], [CLS], [SEP], [MASK]. Byte fallback keeps rare characters
(hanja, emoji) out of [UNK]: they become UTF-8 byte pieces and decode back exactly.

``split="morphemes"`` (the default) trains the pieces on text that Kiwi has cut where a noun
ends inside a word and where a particle begins (물|을, 학교|에, 사람|들|은), through
SentencePiece's ``pretokenization_delimiter``: no piece learnt crosses such a cut, so the
vocabulary holds 물 and 을 but not 물을. Encoding needs no Kiwi: plain text is cut by the
vocabulary alone, and it still decodes back exactly.

``model_type="bpe"`` (the default) learns the pieces by merging frequent pairs; "unigram"
prunes a large vocabulary by likelihood. On cut text the unigram model drops word-start forms
of syllables that are frequent inside words (물, 마, 했다) and spells those words as a lone
word-start marker and a continuation piece (8 % of all tokens); BPE keeps them (see docs/lm.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
MASK_TOKEN = "[MASK]"
WORD_START = "\u2581"  # SentencePiece's word-boundary marker
CUT = "\u241f"  # the morpheme cut in the training sample (SYMBOL FOR UNIT SEPARATOR)
SPLITS = ("morphemes", "none")
MODEL_TYPES = ("bpe", "unigram")
# a cut goes after a noun-like morpheme that something other than a noun follows in the same
# word, and before every particle
_NOUN_LIKE = ("NN", "NP", "NR", "XR", "SL", "SH", "SN")


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise RuntimeError(
            "dlpy.lm needs sentencepiece: pip install 'dlpy[lm]'"
        ) from None
    return sentencepiece


class Tokenizer:
    """Text <-> ids with a SentencePiece model file (``tokenizer.model``)."""

    def __init__(self, path: str | os.PathLike):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such tokenizer model")
        spm = _sentencepiece()
        self.path = path
        self.sp = spm.SentencePieceProcessor(model_file=path)
        if self.sp.piece_to_id(MASK_TOKEN) != MASK or self.sp.pad_id() != PAD:
            raise ValueError(f"{path}: not a dlpy.lm tokenizer ([PAD]=0 ... [MASK]=4 expected)")
        self.vocab_size = int(self.sp.get_piece_size())
        self._pieces: list[str] | None = None
        self._split: str | None = None

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    def pieces(self) -> list[str]:
        """Every piece by id, as SentencePiece spells it (with the word-start marker)."""
        if self._pieces is None:
            self._pieces = [self.sp.id_to_piece(i) for i in range(self.vocab_size)]
        return self._pieces

    def surface(self, token_id: int) -> str:
        """A token as plain text: no word-start marker; byte pieces decoded."""
        piece = self.pieces()[int(token_id)]
        if piece.startswith("<0x"):
            return self.sp.decode([int(token_id)])
        return piece.replace(WORD_START, "")

    @property
    def split(self) -> str:
        """How the pieces were learnt: "morphemes" (cut at nouns and particles) or "none".
        The model file keeps its training settings; CUT appears in it only as the
        ``pretokenization_delimiter`` (no piece can hold it)."""
        if self._split is None:
            self._split = "morphemes" if CUT.encode() in self.sp.serialized_model_proto() \
                else "none"
        return self._split

    def starts_word(self) -> np.ndarray:
        """(vocab,) bool: which pieces begin a new word (carry the word-start marker)."""
        return np.array([p.startswith(WORD_START) for p in self.pieces()])


def morpheme_cuts(tokens) -> list[int]:
    """Character offsets where a word is cut, from Kiwi's tokens of one line: after a noun-like
    morpheme followed by a non-noun in the same word (학교|에, 사람|들, 공부|하다), and before
    a particle (먹기|를). Only where the two morphemes touch in the text (a contraction such as
    갔 = 가 + 았 is left whole)."""
    cuts = []
    for before, token in zip(tokens, tokens[1:]):
        if before.len == 0 or token.len == 0 or token.start != before.start + before.len:
            continue
        noun_ends = before.tag.startswith(_NOUN_LIKE) and not token.tag.startswith(_NOUN_LIKE)
        if noun_ends or token.tag.startswith("J"):
            cuts.append(token.start)
    return cuts


def cut_morphemes(lines: list[str], kiwi=None) -> list[str]:
    """Each line with CUT inserted at its morpheme_cuts (a line Kiwi rejects is kept uncut)."""
    if kiwi is None:
        from dlpy.text.analysis import get_analyzer

        kiwi = get_analyzer("kiwi").kiwi
    lines = [line.replace(CUT, " ") for line in lines]
    try:  # the whole batch at once (Kiwi's worker threads), else line by line
        analyses = list(kiwi.tokenize(lines)) if len(lines) > 1 else None
    except Exception:
        analyses = None
    out = []
    for number, line in enumerate(lines):
        try:
            tokens = analyses[number] if analyses is not None else kiwi.tokenize(line)
            cuts = morpheme_cuts(tokens)
        except Exception:  # Kiwi refuses some text (lone surrogates): learn it uncut
            cuts = []
        pieces, last = [], 0
        for cut in cuts:
            pieces.append(line[last:cut])
            last = cut
        pieces.append(line[last:])
        out.append(CUT.join(pieces))
    return out


def train_tokenizer(paths: list[str], out: str | os.PathLike, vocab_size: int = 16000,
                    sample_chars: int = 12_000_000, seed: int = 0,
                    heldout_every: int = 100, split: str = "morphemes",
                    model_type: str = "bpe") -> Path:
    """Train a SentencePiece model (``model_type`` "bpe" or "unigram") on a sample of the
    training split of ``paths`` (about ``sample_chars`` characters spread evenly over the
    files, documents drawn at random) and write ``out`` (a ``.model`` file).
    ``split="morphemes"``: cut the sample at nouns and particles with Kiwi first (see the
    module's docstring). Returns the path."""
    from dlpy.lm.data import read_documents, split_documents

    if split not in SPLITS:
        raise ValueError(f"train_tokenizer: split must be one of {SPLITS}, got {split!r}")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"train_tokenizer: model_type must be one of {MODEL_TYPES}, "
                         f"got {model_type!r}")
    spm = _sentencepiece()
    kiwi = None
    if split == "morphemes":
        from dlpy.text.analysis import get_analyzer

        kiwi = get_analyzer("kiwi").kiwi
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    budget = sample_chars // max(1, len(paths))
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.txt"
        with open(sample, "w", encoding="utf-8") as f:
            pending: list[str] = []

            def write(lines: list[str]) -> None:
                for line in cut_morphemes(lines, kiwi) if kiwi is not None else lines:
                    f.write(line + "\n")
                lines.clear()

            for path in paths:
                size = os.path.getsize(path) * (4 if path.endswith((".gz", ".zip")) else 1)
                # characters are ~3 bytes and compression ~3x: keep about budget / chars-in-file
                keep = min(1.0, budget / max(1, size / 3))
                taken = 0
                for text in split_documents(read_documents(path), heldout_every, False):
                    if rng.random() >= keep:
                        continue
                    pending += [line.strip()[:4000] for line in text.split("\n") if line.strip()]
                    if len(pending) >= 2000:
                        write(pending)
                    taken += len(text)
                    if taken >= budget:
                        break
            write(pending)
        spm.SentencePieceTrainer.train(
            input=str(sample), model_prefix=str(out.with_suffix("")), model_type=model_type,
            vocab_size=vocab_size, character_coverage=0.9995, byte_fallback=True,
            pad_id=PAD, unk_id=UNK, bos_id=CLS, eos_id=SEP, pad_piece="[PAD]",
            unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
            user_defined_symbols=[MASK_TOKEN], input_sentence_size=2_000_000,
            shuffle_input_sentence=True, max_sentence_length=16384, num_threads=2,
            hard_vocab_limit=False, minloglevel=2,
            **({"pretokenization_delimiter": CUT} if split == "morphemes" else {}),
        )
    produced = out.with_suffix(".model")
    if produced != out:
        os.replace(produced, out)
    vocab_file = out.with_suffix(".vocab")
    if vocab_file.exists():
        vocab_file.unlink()
    return out
