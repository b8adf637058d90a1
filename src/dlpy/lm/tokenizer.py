"""The subword tokenizer: a SentencePiece unigram model trained on a sample of the corpus.

Ids 0-4 are fixed: [PAD], [UNK], [CLS], [SEP], [MASK]. Byte fallback keeps rare characters
(hanja, emoji) out of [UNK]: they become UTF-8 byte pieces and decode back exactly.
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

    def starts_word(self) -> np.ndarray:
        """(vocab,) bool: which pieces begin a new word (carry the word-start marker)."""
        return np.array([p.startswith(WORD_START) for p in self.pieces()])


def train_tokenizer(paths: list[str], out: str | os.PathLike, vocab_size: int = 16000,
                    sample_chars: int = 12_000_000, seed: int = 0,
                    heldout_every: int = 100) -> Path:
    """Train a unigram SentencePiece model on a sample of the training split of ``paths``
    (about ``sample_chars`` characters spread evenly over the files, documents drawn at random)
    and write ``out`` (a ``.model`` file). Returns the path."""
    from dlpy.lm.data import read_documents, split_documents

    spm = _sentencepiece()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    budget = sample_chars // max(1, len(paths))
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.txt"
        with open(sample, "w", encoding="utf-8") as f:
            for path in paths:
                size = os.path.getsize(path) * (4 if path.endswith((".gz", ".zip")) else 1)
                # characters are ~3 bytes and compression ~3x: keep about budget / chars-in-file
                keep = min(1.0, budget / max(1, size / 3))
                taken = 0
                for text in split_documents(read_documents(path), heldout_every, False):
                    if rng.random() >= keep:
                        continue
                    for line in text.split("\n"):
                        line = line.strip()
                        if line:
                            f.write(line[:4000] + "\n")
                    taken += len(text)
                    if taken >= budget:
                        break
        spm.SentencePieceTrainer.train(
            input=str(sample), model_prefix=str(out.with_suffix("")), model_type="unigram",
            vocab_size=vocab_size, character_coverage=0.9995, byte_fallback=True,
            pad_id=PAD, unk_id=UNK, bos_id=CLS, eos_id=SEP, pad_piece="[PAD]",
            unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
            user_defined_symbols=[MASK_TOKEN], input_sentence_size=2_000_000,
            shuffle_input_sentence=True, max_sentence_length=16384, num_threads=2,
            hard_vocab_limit=False, minloglevel=2,
        )
    produced = out.with_suffix(".model")
    if produced != out:
        os.replace(produced, out)
    vocab_file = out.with_suffix(".vocab")
    if vocab_file.exists():
        vocab_file.unlink()
    return out
