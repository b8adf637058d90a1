"""EssayNet, the essay scorer, and SeedNet, the report's model rebuilt for comparison.

EssayNet = wide part + statistics part + deep part, summed; four outputs (the total score and
the three rubric criteria), each standardised by the training targets' mean and std:

    wide:  TF-IDF n-grams (B, n) -> Linear(n, 4 * (1 + P)) -> shared + own prompt's weights
    stats: text statistics (B, s) -> per-prompt Linear, plus an MLP over [stats, prompt one-hot]
    deep:  morphemes -> Embedding (Kiwi vectors) -> Linear -> + sinusoidal positions
           + prompt embedding -> TransformerEncoder (padding mask) -> masked mean -> Linear(d, 4)

P is the number of training prompts; an unseen prompt uses the shared weights only. The batch
is a dict of numpy arrays: wide (B, n), stats (B, s), prompt (B,) (-1 unknown), ids (B, T),
padding (B, T) (True = padding).

SeedNet (`--arch seed`): the report's EssayNet with the positional-encoding bug fixed: embedding
+ positions -> two post-LN encoder layers (4 heads, ReLU) -> ReLU -> Linear(d, 1) -> mean over
the sequence -> sigmoid = score / 30.
"""

from __future__ import annotations

import numpy as np

import dlpy.functional as F
from dlpy import nn
from dlpy.tensor import Tensor

NUM_OUTPUTS = 4  # total, organisation, content, expression


def prompt_selector(prompt: np.ndarray, num_prompts: int) -> np.ndarray:
    """(B,) prompt ids -> (B, 1 + P) float32: column 0 (shared) always 1, column 1 + p for a
    known prompt p."""
    prompt = np.asarray(prompt, dtype=np.int64)
    out = np.zeros((prompt.size, 1 + num_prompts), dtype=np.float32)
    out[:, 0] = 1.0
    known = (prompt >= 0) & (prompt < num_prompts)
    out[np.nonzero(known)[0], 1 + prompt[known]] = 1.0
    return out


def masked_mean(x: Tensor, padding: np.ndarray) -> Tensor:
    """(B, T, d) -> (B, d): the mean over the real (not padding) positions."""
    keep = (~np.asarray(padding, dtype=bool)).astype(x.dtype)  # (B, T)
    counts = np.maximum(keep.sum(axis=1, keepdims=True), 1.0)  # (B, 1)
    return F.sum(x * keep[:, :, None], axis=1) / counts


class PerPrompt(nn.Module):
    """A Linear with one weight set shared by all prompts plus one per prompt:
    y = x W_shared^T + x W_prompt^T (+ bias). (B, in) -> (B, out)."""

    def __init__(self, in_features: int, out_features: int, num_prompts: int, bias: bool,
                 rng: np.random.Generator, gain: float = 1.0):
        super().__init__()
        self.out_features, self.num_prompts = out_features, num_prompts
        # the output is multiplied by `gain`: Adam's steps are scale-free, so this gives these
        # weights gain times the learning rate of the rest of the model
        self.gain = float(gain)
        self.linear = nn.Linear(in_features, out_features * (1 + num_prompts), bias=bias, rng=rng)
        self.linear.weight.data *= 0.01 / self.gain  # start near zero: the bias carries the mean

    def forward(self, x, selector: np.ndarray) -> Tensor:
        out = self.linear(x).reshape((x.shape[0], 1 + self.num_prompts, self.out_features))
        out = F.sum(out * selector[:, :, None], axis=1)
        return out * self.gain if self.gain != 1.0 else out


class EssayNet(nn.Module):
    """The scorer (see the module docstring). d_model = 0 or num_layers = 0 drops the deep part;
    embedding_matrix (V, E) initialises the embedding (frozen unless train_embeddings)."""

    def __init__(self, num_ngrams: int, num_stats: int, num_prompts: int, vocab_size: int = 2,
                 embedding_dim: int = 32, d_model: int = 64, num_layers: int = 1,
                 num_heads: int = 4, dim_feedforward: int = 128, hidden: int = 32,
                 max_len: int = 512, train_embeddings: bool = False, dropout: float = 0.0,
                 embedding_matrix: np.ndarray | None = None, seed: int = 0,
                 wide_gain: float = 1.0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.config = dict(arch="essaynet", wide_gain=wide_gain, num_ngrams=num_ngrams,
                           num_stats=num_stats,
                           num_prompts=num_prompts, vocab_size=vocab_size,
                           embedding_dim=embedding_dim, d_model=d_model, num_layers=num_layers,
                           num_heads=num_heads, dim_feedforward=dim_feedforward, hidden=hidden,
                           max_len=max_len, train_embeddings=train_embeddings, dropout=dropout,
                           seed=seed)
        self.num_prompts = num_prompts
        self.wide = PerPrompt(num_ngrams, NUM_OUTPUTS, num_prompts, bias=True, rng=rng,
                              gain=wide_gain)
        self.stats_linear = PerPrompt(num_stats, NUM_OUTPUTS, num_prompts, bias=False, rng=rng)
        self.stats_hidden = nn.Linear(num_stats + 1 + num_prompts, hidden, rng=rng)
        self.stats_out = nn.Linear(hidden, NUM_OUTPUTS, rng=rng)
        self.stats_out.weight.data *= 0.1
        self.deep = d_model > 0 and num_layers > 0
        if self.deep:
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0, rng=rng)
            if embedding_matrix is not None:
                if embedding_matrix.shape != (vocab_size, embedding_dim):
                    raise ValueError(
                        f"EssayNet: embedding_matrix must be ({vocab_size}, {embedding_dim}), "
                        f"got {embedding_matrix.shape}")
                self.embedding.weight.data[...] = embedding_matrix
            else:
                self.embedding.weight.data *= 0.1
            self.embedding.weight.requires_grad = bool(train_embeddings)
            self.project = nn.Linear(embedding_dim, d_model, rng=rng)
            self.positions = nn.SinusoidalPositionalEncoding(d_model, max_len)
            self.prompt_embedding = nn.Embedding(1 + num_prompts, d_model, rng=rng)
            self.prompt_embedding.weight.data *= 0.1
            self.encoder = nn.TransformerEncoder(
                dict(d_model=d_model, num_heads=num_heads, dim_feedforward=dim_feedforward,
                     dropout=dropout, activation="relu", norm_first=True), num_layers, norm=True,
                rng=rng)
            self.deep_out = nn.Linear(d_model, NUM_OUTPUTS, rng=rng)
            self.deep_out.weight.data *= 0.1

    def forward(self, batch: dict) -> Tensor:
        """-> (B, 4) standardised predictions (total, organisation, content, expression)."""
        selector = prompt_selector(batch["prompt"], self.num_prompts)
        stats = Tensor(batch["stats"])
        out = self.wide(Tensor(batch["wide"]), selector) + self.stats_linear(stats, selector)
        stats_in = Tensor(np.concatenate([batch["stats"], selector], axis=1))
        out = out + self.stats_out(F.relu(self.stats_hidden(stats_in)))
        if self.deep:
            x = self.project(self.embedding(batch["ids"]))  # (B, T, d_model)
            x = self.positions(x)
            x = x + F.matmul(Tensor(selector), self.prompt_embedding.weight)[:, None, :]
            x = self.encoder(x, key_padding_mask=batch["padding"])
            out = out + self.deep_out(masked_mean(x, batch["padding"]))
        return out

    def wide_penalty(self) -> Tensor | None:
        """sum of the squared effective n-gram weights (the ridge penalty)."""
        w = self.wide.linear.weight
        return F.sum(w * w) * (self.wide.gain ** 2)


class SeedNet(nn.Module):
    """The report's EssayNet (`--arch seed`). Output (B, 1): the predicted score / 30."""

    def __init__(self, vocab_size: int, embedding_dim: int, num_heads: int = 4,
                 max_len: int = 256, embedding_matrix: np.ndarray | None = None,
                 train_embeddings: bool = False, seed: int = 0, **_ignored):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.config = dict(arch="seed", vocab_size=vocab_size, embedding_dim=embedding_dim,
                           num_heads=num_heads, max_len=max_len,
                           train_embeddings=train_embeddings, seed=seed)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0, rng=rng)
        if embedding_matrix is not None:
            self.embedding.weight.data[...] = embedding_matrix
        self.embedding.weight.requires_grad = bool(train_embeddings)
        self.positions = nn.SinusoidalPositionalEncoding(embedding_dim, max_len)
        self.encoder = nn.TransformerEncoder(
            dict(d_model=embedding_dim, num_heads=num_heads, dim_feedforward=embedding_dim,
                 activation="relu", norm_first=False), 2, rng=rng)
        self.out = nn.Linear(embedding_dim, 1, rng=rng)

    def forward(self, batch: dict) -> Tensor:
        x = self.positions(self.embedding(batch["ids"]))  # added, not multiplied
        x = F.relu(self.encoder(x, key_padding_mask=batch["padding"]))
        per_token = self.out(x)  # (B, T, 1)
        return F.sigmoid(masked_mean(per_token, batch["padding"]))  # (B, 1)

    def wide_penalty(self) -> Tensor | None:
        return None


def build_model(config: dict, embedding_matrix: np.ndarray | None = None) -> nn.Module:
    """The model a config describes (what a checkpoint's meta stores)."""
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    arch = config.get("arch", "essaynet")
    if arch == "essaynet":
        return EssayNet(**kwargs, embedding_matrix=embedding_matrix)
    if arch == "seed":
        return SeedNet(**kwargs, embedding_matrix=embedding_matrix)
    raise ValueError(f"unknown architecture {arch!r}: expected 'essaynet' or 'seed'")
