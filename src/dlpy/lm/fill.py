"""Inference with a pretrained masked LM: load it (the bundled one by default), fill a [MASK],
and the small API an essay model uses (token ids, pooled features, the encoder itself).
Never imports the trainer."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from dlpy import nn
from dlpy.lm.model import LMConfig, MaskedLM
from dlpy.lm.tokenizer import MASK, MASK_TOKEN, PAD, SEP, WORD_START, Tokenizer
from dlpy.tensor import Tensor, no_grad

BUNDLED = Path(__file__).parent / "bundled"
WEIGHTS = ("model.npz", "checkpoint.npz")  # the exported weights, else a training checkpoint
_MAX_GLUED = 3  # letters beside a [MASK] that fill-mask lets its piece take in
_CANDIDATES = 500  # pieces fill-mask weighs per reading of the masked word


def _glued(text: str) -> str:
    """The letters and digits at the start of ``text`` (up to the first space or sign)."""
    end = 0
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[:end]


class PretrainedLM:
    """A masked LM and its tokenizer, loaded from a folder holding ``tokenizer.model`` and
    ``model.npz`` (or a training run's ``checkpoint.npz``)."""

    def __init__(self, model: MaskedLM, tokenizer: Tokenizer, meta: dict | None = None,
                 unigram: np.ndarray | None = None):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta or {}
        self.unigram = unigram  # token counts of the pretraining data (the unigram baseline)
        self.model.eval()
        self._word_start = tokenizer.starts_word()
        self.weights_path: Path | None = None  # the file the weights came from (load())
        self._fingerprint: str | None = None
        self._surface_list: list[str] | None = None
        self._marker_followers: np.ndarray | None = None

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> PretrainedLM:
        """Load from a folder (default: the encoder bundled with dlpy)."""
        folder = Path(path) if path is not None else BUNDLED
        if folder.is_file():
            folder = folder.parent
        weights = next((folder / name for name in WEIGHTS if (folder / name).exists()), None)
        if weights is None:
            raise FileNotFoundError(
                f"{folder}: no model.npz or checkpoint.npz (train one with `dlpy lm train`)"
            )
        tokenizer = Tokenizer(folder / "tokenizer.model")
        meta = nn.read_meta(weights)
        config = LMConfig.from_dict(meta.get("lm_config") or meta.get("config") or {})
        model = MaskedLM(config)
        extra = nn.load_checkpoint(weights, model)["extra"]
        lm = cls(model, tokenizer, meta, extra.get("unigram"))
        lm.weights_path = weights
        return lm

    def fingerprint(self) -> str:
        """SHA-256 of the weights file and the tokenizer file (what keys cached features);
        of the parameters and the tokenizer for a model that was not loaded from a file."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            if self.weights_path is not None:
                with open(self.weights_path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
            else:
                for name, p in self.model.named_parameters():
                    digest.update(name.encode())
                    digest.update(np.ascontiguousarray(p.data).tobytes())
            with open(self.tokenizer.path, "rb") as f:
                digest.update(f.read())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    # ----------------------------------------------------------------- fill-mask
    def fill_mask(self, text: str, top_k: int = 5) -> list[dict]:
        """The top_k words for the one [MASK] in ``text``: [{"token", "score"}], best first.

        A [MASK] glued to letters of its word ("[MASK]을", "학교[MASK]") stands for part of a
        word, but SentencePiece often spells a noun and its particle as one piece ("▁물을"),
        so the model seldom saw the particle on its own after a noun. Each way the word may be
        cut is therefore read: the mask alone, and the mask taking in up to three glued
        letters on either side, keeping only pieces spelt with those letters (which are then
        cut off the answer). A word's score is the model's probability of its piece in the
        reading that likes it best (the plain reading alone when nothing is glued)."""
        count = text.count(MASK_TOKEN)
        if count != 1:
            raise ValueError(
                f"fill-mask: expected exactly one {MASK_TOKEN} in the text, got {count}: {text!r}"
            )
        before, after = text.split(MASK_TOKEN)
        word_before = _glued(before[::-1])[::-1]  # the letters of the word before the mask
        word_after = _glued(after)
        surfaces = self._surfaces()
        best: dict[str, float] = {}
        for j in range(min(len(word_before), _MAX_GLUED) + 1):
            for k in range(min(len(word_after), _MAX_GLUED) + 1):
                head, tail = before[len(before) - j:], after[:k]
                for probs in self._mask_probs(before[: len(before) - j], after[k:]):
                    found = 0
                    for token_id in np.argsort(-probs):
                        surface = surfaces[token_id]
                        if probs[token_id] == 0 or found == _CANDIDATES:
                            break
                        if not (surface.startswith(head) and surface.endswith(tail)) \
                                or len(surface) <= j + k:
                            continue
                        found += 1
                        word = surface[j: len(surface) - k]
                        if word.strip() and probs[token_id] > best.get(word, 0.0):
                            best[word] = float(probs[token_id])
        ranked = sorted(best.items(), key=lambda item: -item[1])[:top_k]
        return [{"token": word, "score": round(score, 4)} for word, score in ranked]

    def _mask_probs(self, before: str, after: str) -> list[np.ndarray]:
        """(vocab,) probabilities of the piece at the [MASK] in before + [MASK] + after, one
        array per way the tokenizer may spell it; the special tokens get none.

        Inside a word the mask is a continuation piece. At the start of a word it is a
        word-start piece (SentencePiece spells " [MASK]" as a lone word-start marker before
        the mask, which goes: the model learnt masks that stand for a whole piece, marker
        included). A morpheme-split tokenizer also writes a word whose first piece has no
        word-start form as the lone marker and a continuation piece (물 as "▁" + "물"), so
        there a second reading keeps the marker: its continuation pieces get the model's
        probability of the lone marker in the first reading times their probability after it
        (the chain rule, one masked piece at a time). A plain tokenizer seldom writes that, and
        its model's probabilities after a lone marker mean little: one reading."""
        ids = self.tokenizer.encode(before + MASK_TOKEN + after)
        position = ids.index(MASK)
        lone_marker = position > 0 and self.tokenizer.pieces()[ids[position - 1]] == WORD_START
        if not lone_marker:  # inside a word, or at the very start of the text
            word_start = not before or before[-1:].isspace()
            return [self._probs(ids, position,
                                self._word_start if word_start else ~self._word_start)]
        dropped = ids[: position - 1] + ids[position:]
        first = self._probs(dropped, position - 1, self._word_start)
        if self.tokenizer.split != "morphemes":
            return [first]
        marker = self.tokenizer.pieces().index(WORD_START)
        second = self._probs(ids, position, self._after_marker()) * first[marker]
        first[marker] = 0.0  # the marker alone is no word
        return [first, second]

    def _probs(self, ids: list[int], position: int, allowed: np.ndarray) -> np.ndarray:
        """The model's probabilities at ``position`` of ``ids``, over the ``allowed`` pieces
        (never a special token)."""
        ids = ids[: self.model.lm_config.max_len]
        if position >= len(ids):
            raise ValueError(f"fill-mask: the [MASK] lies beyond the model's "
                             f"{self.model.lm_config.max_len} tokens")
        with no_grad():
            logits = self.model(np.asarray([ids]), [position]).data[0].astype(np.float64)
        allowed = allowed.copy()
        allowed[:5] = False  # never [PAD], [UNK], [CLS], [SEP], [MASK]
        logits = np.where(allowed, logits, -np.inf)
        probs = np.exp(logits - logits.max())
        return probs / probs.sum()

    def _after_marker(self) -> np.ndarray:
        """(vocab,) bool: continuation pieces that begin with a letter and whose word-start
        form is not a piece, which the tokenizer therefore writes after a lone word-start
        marker."""
        if self._marker_followers is None:
            pieces = self.tokenizer.pieces()
            known = set(pieces)
            self._marker_followers = np.array(
                [p[:1].isalnum() and not p.startswith("<0x") and WORD_START + p not in known
                 for p in pieces])
        return self._marker_followers

    def _surfaces(self) -> list[str]:
        if self._surface_list is None:
            self._surface_list = [self.tokenizer.surface(i)
                                  for i in range(self.tokenizer.vocab_size)]
        return self._surface_list

    # ----------------------------------------------------------------- features
    def encode(self, texts: list[str], max_len: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (batch, seq) padded with [PAD], each text closed by [SEP] as in
        pretraining, and the padding mask (True at padding); texts longer than max_len (default
        the model's) are cut."""
        max_len = min(max_len or self.model.lm_config.max_len, self.model.lm_config.max_len)
        rows = [self.tokenizer.encode(t)[: max_len - 1] + [SEP] for t in texts]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), PAD, dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids, ids == PAD

    def hidden_states(self, ids: np.ndarray, padding: np.ndarray | None = None) -> Tensor:
        """(batch, seq) ids -> (batch, seq, d_model), differentiable (fine-tuning)."""
        return self.model.encode(ids, key_padding_mask=padding)

    @property
    def encoder(self) -> MaskedLM:
        """The module to fine-tune: ``encoder.encode(ids, key_padding_mask)``."""
        return self.model

    def windows(self, text: str, max_len: int | None = None) -> list[list[int]]:
        """The text's tokens and a closing [SEP], as in pretraining, cut into consecutive
        windows of max_len (default the model's) tokens: the whole text, however long."""
        max_len = min(max_len or self.model.lm_config.max_len, self.model.lm_config.max_len)
        ids = self.tokenizer.encode(text) + [SEP]
        return [ids[i:i + max_len] for i in range(0, len(ids), max_len)]

    def pooled_features(self, texts: list[str], batch_size: int = 16,
                        max_len: int | None = None) -> np.ndarray:
        """(len(texts), d_model) float32: the mean of the final hidden states over each text's
        tokens, without gradients (frozen features). A text longer than max_len (default the
        model's 128) is read in consecutive windows of max_len tokens and the mean is over all
        the tokens of all its windows."""
        d_model = self.model.lm_config.d_model
        windows, owner = [], []
        for i, text in enumerate(texts):
            for window in self.windows(text, max_len):
                windows.append(window)
                owner.append(i)
        sums = np.zeros((len(texts), d_model), dtype=np.float64)
        counts = np.zeros(len(texts), dtype=np.float64)
        order = np.argsort([len(w) for w in windows], kind="stable")  # little padding
        with no_grad():
            for start in range(0, len(order), batch_size):
                chosen = order[start:start + batch_size]
                width = max(len(windows[j]) for j in chosen)
                ids = np.full((len(chosen), width), PAD, dtype=np.int64)
                for row, j in enumerate(chosen):
                    ids[row, :len(windows[j])] = windows[j]
                padding = ids == PAD
                hidden = self.model.encode(ids, key_padding_mask=padding).data
                keep = (~padding)[..., None].astype(hidden.dtype)  # (batch, seq, 1)
                np.add.at(sums, np.asarray(owner)[chosen], (hidden * keep).sum(axis=1))
                np.add.at(counts, np.asarray(owner)[chosen], keep.sum(axis=(1, 2)))
        return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def load_pretrained(path: str | os.PathLike | None = None) -> PretrainedLM:
    """The pretrained Korean encoder: the bundled one, or a trained run's folder."""
    return PretrainedLM.load(path)


def export(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a run's weights as ``model.npz`` in float16 (no optimiser state) beside a copy of
    its tokenizer: the form that ships in the package."""
    checkpoint = Path(checkpoint)
    folder = checkpoint.parent if checkpoint.is_file() else checkpoint
    if checkpoint.is_dir():
        checkpoint = folder / "checkpoint.npz"
    lm = PretrainedLM.load(folder)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {k: lm.meta[k] for k in ("step", "tokens_seen", "wall_seconds", "fingerprint")
            if k in lm.meta}
    earlier = lm.meta.get("init") or {}  # a run started with --init-from: count what came before
    if earlier:
        meta["init"] = earlier
    meta["tokens_seen_total"] = int(lm.meta.get("tokens_seen", 0)) + int(
        earlier.get("tokens_seen", 0))
    meta["wall_seconds_total"] = float(lm.meta.get("wall_seconds", 0.0)) + float(
        earlier.get("wall_seconds", 0.0))
    meta["lm_config"] = lm.model.config
    history = [h for h in lm.meta.get("history", []) if "eval_loss" in h]
    if history:
        meta["last_eval"] = history[-1]
    half = {name: p.data.astype(np.float16) for name, p in lm.model.named_parameters()}
    arrays = {f"param/{k}": v for k, v in half.items()}
    info = {"class": "MaskedLM", "config": lm.model.config, **meta}
    arrays["__meta__"] = np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8)
    if lm.unigram is not None:
        arrays["extra/unigram"] = lm.unigram.astype(np.int64)
    nn.save_npz(out / "model.npz", arrays)
    if (folder / "tokenizer.model").resolve() != (out / "tokenizer.model").resolve():
        shutil.copyfile(folder / "tokenizer.model", out / "tokenizer.model")
    return out
