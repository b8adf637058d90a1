"""The masked language model: a small pre-LN Transformer encoder with tied input/output
embeddings, built from dlpy.nn, and the masking of the masked-LM objective."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.lm.tokenizer import CLS, MASK, PAD, SEP
from dlpy.tensor import Tensor


@dataclass
class LMConfig:
    """The model's shape; saved with every checkpoint so the model rebuilds from it."""
    vocab_size: int = 16000
    d_model: int = 256
    num_layers: int = 4
    num_heads: int = 4
    dim_feedforward: int = 1024
    max_len: int = 128
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, values: dict) -> LMConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class MaskedLM(nn.Module):
    """ids (batch, seq) -> hidden states (batch, seq, d_model) -> vocabulary logits.

    embed + learned positions -> dropout -> pre-LN encoder with a final layer norm ->
    (at the asked positions only) dense, GELU, layer norm -> h @ embed.weight^T + bias.
    """

    def __init__(self, config: LMConfig, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        c = config
        self.lm_config = c
        self.embed = nn.Embedding(c.vocab_size, c.d_model, rng=rng)
        self.embed.weight.data *= 0.02  # BERT's N(0, 0.02): tied logits start near uniform
        self.positions = nn.LearnedPositionalEmbedding(c.max_len, c.d_model, rng=rng)
        self.positions.weight.data *= 0.02
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = nn.TransformerEncoder(
            dict(d_model=c.d_model, num_heads=c.num_heads, dim_feedforward=c.dim_feedforward,
                 dropout=c.dropout, activation="gelu", norm_first=True),
            c.num_layers, norm=True, rng=rng)
        self.head_dense = nn.Linear(c.d_model, c.d_model, rng=rng)
        self.head_norm = nn.LayerNorm(c.d_model)
        self.head_bias = nn.Parameter(np.zeros(c.vocab_size, dtype=np.float32))
        self.config = asdict(c)

    def encode(self, ids, key_padding_mask=None) -> Tensor:
        """(batch, seq) ids -> (batch, seq, d_model) final hidden states."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] > self.lm_config.max_len:
            raise ValueError(
                f"MaskedLM: expected ids (batch, seq <= {self.lm_config.max_len}), got "
                f"{ids.shape}"
            )
        x = self.dropout(self.positions(self.embed(ids)))
        return self.encoder(x, src_key_padding_mask=key_padding_mask)

    def head_states(self, hidden: Tensor, positions=None) -> Tensor:
        """The states the vocabulary projection reads at ``positions`` (flat indices into
        batch * seq; all if None): (n, d_model). logits = states @ embed.weight^T + head_bias
        (or F.linear_cross_entropy of them, which never holds the (n, vocab_size) logits)."""
        flat = hidden.reshape(-1, self.lm_config.d_model)
        if positions is not None:
            flat = F.embedding(np.asarray(positions), flat)  # gather rows: (n, d_model)
        return self.head_norm(F.gelu(self.head_dense(flat)))

    def logits(self, hidden: Tensor, positions=None) -> Tensor:
        """Vocabulary logits at ``positions`` (flat indices into batch * seq; all if None):
        (n, vocab_size). Only the masked positions need the vocabulary projection."""
        return F.linear(self.head_states(hidden, positions), self.embed.weight, self.head_bias)

    def forward(self, ids, positions=None, key_padding_mask=None) -> Tensor:
        return self.logits(self.encode(ids, key_padding_mask), positions)


def mask_tokens(ids: np.ndarray, rng: np.random.Generator, vocab_size: int,
                mask_prob: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BERT's masking: choose ``mask_prob`` of the real tokens; of those 80 % become [MASK],
    10 % a random token, 10 % stay. Returns (inputs, flat positions, labels at them)."""
    ids = np.asarray(ids)
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    chosen = (rng.random(ids.shape) < mask_prob) & ~special
    if not chosen.any():  # at least one prediction per batch
        candidates = np.flatnonzero(~special)
        if candidates.size == 0:
            raise ValueError("mask_tokens: the batch holds no real tokens")
        chosen.flat[candidates[rng.integers(candidates.size)]] = True
    positions = np.flatnonzero(chosen)
    labels = ids.reshape(-1)[positions].astype(np.int64)
    inputs = ids.copy()
    flat = inputs.reshape(-1)
    draw = rng.random(positions.size)
    flat[positions[draw < 0.8]] = MASK
    randomised = positions[(draw >= 0.8) & (draw < 0.9)]
    flat[randomised] = rng.integers(5, vocab_size, randomised.size)
    return inputs, positions, labels


def masked_lm_loss(model: MaskedLM, ids: np.ndarray, rng: np.random.Generator,
                   mask_prob: float = 0.15) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """The masked-LM objective on one batch: (mean cross-entropy over the masked tokens,
    their logits as numpy, their labels)."""
    inputs, positions, labels = mask_tokens(ids, rng, model.lm_config.vocab_size, mask_prob)
    logits = model(inputs, positions)
    return F.cross_entropy(logits, labels), logits.data, labels
