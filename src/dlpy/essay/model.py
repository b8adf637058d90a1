"""EssayNet, the essay scorer, and SeedNet, the report's model rebuilt for comparison.

EssayNet = wide part + statistics part + deep part, summed; three outputs (the rubric criteria
organisation, content, expression), each standardised by the training targets' mean and std. The
total is not a free output: the family (`dlpy.essay.families`) forms it from the criteria with
the essay's rubric weights, total = 30 * sum_c w_c * criterion_c / sum_c w_c.

Conditioning: every essay has a group selector with a shared column, its category's column and
its prompt's column (`group_selector`); unknown categories/prompts use the shared weights only.

    wide:  TF-IDF n-grams, sparse -> sparse_linear over [shared n-gram weights; one copy per
           category (; one copy per prompt, with prompt_copies)] (the copies are penalised
           harder: shrunk toward the shared ones; a copy holds only the n-grams its training
           essays hold: compact_rows)
    stats: text statistics (B, s) -> per-group Linear, plus an MLP over [stats, selector]
    bias:  per group
    deep:  morphemes -> Embedding (Kiwi vectors) -> Linear -> + sinusoidal positions
           + group embedding -> TransformerEncoder (padding mask) -> masked mean -> Linear(d, 3)
    lm:    the pretrained LM's pooled features of the essay (frozen, standardised; computed
           outside the model: dlpy.essay.pretrained) -> Linear(256, 3), ridge-penalised

The batch is a dict: wide (SparseRows over num_ngrams), stats (B, s), category (B,), prompt (B,)
(-1 unknown), ids (B, T), padding (B, T) (True = padding), lm (B, num_lm_features).

SeedNet (`--family seed`): the report's EssayNet with the positional-encoding bug fixed: embedding
+ positions -> two post-LN encoder layers (4 heads, ReLU) -> ReLU -> Linear(d, 1) -> mean over
the sequence -> sigmoid = score / 30.
"""

from __future__ import annotations

import numpy as np

import dlpy.functional as F
from dlpy import nn
from dlpy.tensor import Tensor

NUM_CRITERIA = 3  # organisation, content, expression
NUM_OUTPUTS = NUM_CRITERIA


def group_selector(category: np.ndarray, prompt: np.ndarray, num_categories: int,
                   num_prompts: int) -> np.ndarray:
    """(B,) category and prompt ids -> (B, 1 + C + P) float32: column 0 (shared) always 1,
    column 1 + c for a known category c, column 1 + C + p for a known prompt p."""
    category = np.asarray(category, dtype=np.int64)
    prompt = np.asarray(prompt, dtype=np.int64)
    out = np.zeros((prompt.size, 1 + num_categories + num_prompts), dtype=np.float32)
    out[:, 0] = 1.0
    known = (category >= 0) & (category < num_categories)
    out[np.nonzero(known)[0], 1 + category[known]] = 1.0
    known = (prompt >= 0) & (prompt < num_prompts)
    out[np.nonzero(known)[0], 1 + num_categories + prompt[known]] = 1.0
    return out


def prompt_selector(prompt: np.ndarray, num_prompts: int) -> np.ndarray:
    """(B,) prompt ids -> (B, 1 + P): shared column plus the prompt's own."""
    return group_selector(np.full(np.size(prompt), -1), prompt, 0, num_prompts)


def wide_rows(rows: F.SparseRows, category: np.ndarray, num_categories: int,
              prompt: np.ndarray | None = None, num_prompts: int = 0) -> F.SparseRows:
    """The n-gram rows over [shared; category 0; ...; category C-1 (; prompt 0; ...; prompt
    P-1)] copies of the n-gram columns: each row's entries once for the shared copy, then once
    more for its essay's category copy (a known category only) and, with `num_prompts`, once
    more for its prompt's copy (a known prompt only). O(nnz) index arithmetic, no sort."""
    n = rows.num_columns
    lengths = np.diff(rows.indptr)
    copies = [(np.asarray(category, dtype=np.int64), num_categories, 1)]
    if num_prompts > 0:
        copies.append((np.asarray(prompt, dtype=np.int64), num_prompts, 1 + num_categories))
    known_rows = [(group >= 0) & (group < count) for group, count, _ in copies]
    copies_per_row = 1 + sum(known.astype(np.int64) for known in known_rows)
    indptr = np.concatenate([[0], np.cumsum(lengths * copies_per_row)])
    row_of = rows.row_of_entry()
    offset_in_row = np.arange(rows.indices.size) - rows.indptr[row_of]
    size = int(indptr[-1])
    indices = np.empty(size, dtype=np.int64)
    values = np.empty(size, dtype=rows.values.dtype)
    at = indptr[row_of] + offset_in_row  # where each entry's next copy goes
    indices[at] = rows.indices
    values[at] = rows.values
    for (group, _, first), known_row in zip(copies, known_rows):
        known = known_row[row_of]
        at = at + lengths[row_of] * known
        indices[at[known]] = n * (first + group[row_of[known]]) + rows.indices[known]
        values[at[known]] = rows.values[known]
    return F.SparseRows(indptr, indices, values,
                        n * (1 + num_categories + num_prompts))


def copy_keys(rows: F.SparseRows, num_ngrams: int) -> np.ndarray:
    """The sorted keys g * num_ngrams + j of the (copy g, n-gram j) pairs that occur in
    `rows` (wide_rows' expansion; column num_ngrams * (1 + g) + j): the copy rows training can
    move. A pair no training essay holds gets no gradient from the data, and at zero its ridge
    penalty's gradient is zero too, so under Adam(W) its weight would stay exactly zero: such
    rows are left out of the weight matrix (`compact_rows`), which predicts the same."""
    columns = rows.indices[rows.indices >= num_ngrams]
    return np.unique(columns - num_ngrams).astype(np.int64)


def compact_rows(rows: F.SparseRows, keys: np.ndarray, num_ngrams: int) -> F.SparseRows:
    """wide_rows' expansion with each copy column mapped to its row in a compact weight matrix
    [shared n-grams; one row per key of `keys`] (row num_ngrams + position of the key); entries
    of pairs not in `keys` (an n-gram a copy never saw in training) are dropped."""
    columns = rows.indices
    copy = columns >= num_ngrams
    key = (columns[copy] - num_ngrams).astype(keys.dtype)  # same dtype: no copy of `keys`
    position = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
    found = keys[position] == key if keys.size else np.zeros(key.size, dtype=bool)
    keep = np.ones(columns.size, dtype=bool)
    keep[np.nonzero(copy)[0][~found]] = False
    mapped = columns.copy()
    mapped[copy] = num_ngrams + position
    row_of = rows.row_of_entry()
    counts = np.bincount(row_of[keep], minlength=rows.num_rows)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return F.SparseRows(indptr, mapped[keep], rows.values[keep], num_ngrams + keys.size)


def masked_mean(x: Tensor, padding: np.ndarray) -> Tensor:
    """(B, T, d) -> (B, d): the mean over the real (not padding) positions."""
    keep = (~np.asarray(padding, dtype=bool)).astype(x.dtype)  # (B, T)
    counts = np.maximum(keep.sum(axis=1, keepdims=True), 1.0)  # (B, 1)
    return F.sum(x * keep[:, :, None], axis=1) / counts


class PerPrompt(nn.Module):
    """A Linear with one weight set shared by all groups plus one per group (category, prompt):
    y = sum over the selector's columns of x W_g^T (+ bias). (B, in) -> (B, out)."""

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
                 wide_gain: float = 1.0, num_categories: int = 0, num_lm_features: int = 0,
                 prompt_copies: bool = False, num_copy_rows: int | None = None):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.config = dict(arch="essaynet", wide_gain=wide_gain, num_ngrams=num_ngrams,
                           num_stats=num_stats, num_categories=num_categories,
                           num_prompts=num_prompts, vocab_size=vocab_size,
                           embedding_dim=embedding_dim, d_model=d_model, num_layers=num_layers,
                           num_heads=num_heads, dim_feedforward=dim_feedforward, hidden=hidden,
                           max_len=max_len, train_embeddings=train_embeddings, dropout=dropout,
                           seed=seed, num_lm_features=num_lm_features,
                           prompt_copies=bool(prompt_copies), num_copy_rows=num_copy_rows)
        self.num_prompts, self.num_categories = num_prompts, num_categories
        self.prompt_copies = bool(prompt_copies)
        self.num_ngrams = num_ngrams
        groups = num_categories + num_prompts
        self.wide_gain = float(wide_gain)
        # rows: the shared n-gram weights, then one copy per category (and per prompt); zero.
        # With num_copy_rows the copies keep only the (copy, n-gram) pairs of the training
        # essays, listed in the `copy_keys` buffer (set by the family; see copy_keys()); without
        # (models made before), every copy holds every n-gram.
        copies = 1 + num_categories + (num_prompts if prompt_copies else 0)
        rows = num_ngrams * copies if num_copy_rows is None else num_ngrams + num_copy_rows
        key_dtype = np.int32 if num_ngrams * copies < 2 ** 31 else np.int64  # half the file
        self.register_buffer("copy_keys", None if num_copy_rows is None
                             else np.zeros(num_copy_rows, dtype=key_dtype))
        self.wide_weight = nn.Parameter(np.zeros((rows, NUM_OUTPUTS), dtype=np.float32))
        self.group_bias = nn.Parameter(np.zeros((1 + groups, NUM_OUTPUTS), dtype=np.float32))
        self.stats_linear = PerPrompt(num_stats, NUM_OUTPUTS, groups, bias=False, rng=rng)
        self.stats_hidden = nn.Linear(num_stats + 1 + groups, hidden, rng=rng)
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
            self.prompt_embedding = nn.Embedding(1 + groups, d_model, rng=rng)
            self.prompt_embedding.weight.data *= 0.1
            self.encoder = nn.TransformerEncoder(
                dict(d_model=d_model, num_heads=num_heads, dim_feedforward=dim_feedforward,
                     dropout=dropout, activation="relu", norm_first=True), num_layers, norm=True,
                rng=rng)
            self.deep_out = nn.Linear(d_model, NUM_OUTPUTS, rng=rng)
            self.deep_out.weight.data *= 0.1
        self.num_lm_features = num_lm_features
        if num_lm_features > 0:
            # a generator of its own: adding the LM input leaves the other parts' start as it was
            self.lm_linear = nn.Linear(num_lm_features, NUM_OUTPUTS, bias=False,
                                       rng=np.random.default_rng([seed, 1]))
            self.lm_linear.weight.data *= 0.01

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """As Module's, with the sorted `copy_keys` stored as their steps (`copy_key_steps`:
        key[i] - key[i - 1], mostly 1-3, in the smallest unsigned integer type that holds
        them): a quarter of the bytes, and they deflate to almost nothing. Module's own
        override point, so it holds inside a wrapper too (an AveragedModel's state)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        key = prefix + "copy_keys"
        if self.copy_keys is not None and key in destination:
            steps = np.diff(np.asarray(destination.pop(key), dtype=np.int64), prepend=-1)
            dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                         if steps.size == 0 or steps.max() <= np.iinfo(t).max)
            destination[prefix + "copy_key_steps"] = steps.astype(dtype)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args) -> None:
        """Takes `copy_key_steps` (what state_dict writes) or `copy_keys` (models written
        before)."""
        key = prefix + "copy_key_steps"
        if key in state_dict:
            steps = np.asarray(state_dict.pop(key))
            if steps.ndim != 1 or (steps.size and steps.min() < 1):
                raise ValueError("load_state_dict: copy_key_steps must be positive steps "
                                 f"(a 1-D array), got shape {steps.shape}")
            state_dict[prefix + "copy_keys"] = np.cumsum(steps.astype(np.int64)) - 1
        super()._load_from_state_dict(state_dict, prefix, *args)

    def selector(self, batch: dict) -> np.ndarray:
        category = batch.get("category", np.full(len(batch["prompt"]), -1))
        return group_selector(category, batch["prompt"], self.num_categories, self.num_prompts)

    def wide_input(self, rows: F.SparseRows, category: np.ndarray, prompt: np.ndarray
                   ) -> F.SparseRows:
        """The essays' n-gram rows over the rows of `wide_weight` (shared, category and prompt
        copies; compacted to the trained pairs when the model has `copy_keys`)."""
        expanded = wide_rows(rows, category, self.num_categories, prompt,
                             self.num_prompts if self.prompt_copies else 0)
        if self.copy_keys is None:
            return expanded
        return compact_rows(expanded, self.copy_keys.data, self.num_ngrams)

    def ngram_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The n-gram (featurizer column) each row of `wide_weight` belongs to."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.copy_keys is None:
            return rows % self.num_ngrams
        out = rows.copy()
        copy = rows >= self.num_ngrams
        out[copy] = self.copy_keys.data[rows[copy] - self.num_ngrams] % self.num_ngrams
        return out

    def parts(self, batch: dict) -> dict[str, Tensor]:
        """The summands of the output, each (B, 3): wide, bias, stats, stats_mlp (, deep)
        (, lm)."""
        selector = self.selector(batch)
        category = batch.get("category", np.full(len(batch["prompt"]), -1))
        wide = F.sparse_linear(self.wide_input(batch["wide"], category, batch["prompt"]),
                               self.wide_weight)
        out = {"wide": wide * self.wide_gain if self.wide_gain != 1.0 else wide,
               "bias": F.matmul(Tensor(selector), self.group_bias)}
        stats = Tensor(batch["stats"])
        out["stats"] = self.stats_linear(stats, selector)
        stats_in = Tensor(np.concatenate([batch["stats"], selector], axis=1))
        out["stats_mlp"] = self.stats_out(F.relu(self.stats_hidden(stats_in)))
        if self.deep:
            x = self.project(self.embedding(batch["ids"]))  # (B, T, d_model)
            x = self.positions(x)
            x = x + F.matmul(Tensor(selector), self.prompt_embedding.weight)[:, None, :]
            x = self.encoder(x, src_key_padding_mask=batch["padding"])
            out["deep"] = self.deep_out(masked_mean(x, batch["padding"]))
        if self.num_lm_features > 0:
            out["lm"] = self.lm_linear(Tensor(batch["lm"]))
        return out

    def forward(self, batch: dict) -> Tensor:
        """-> (B, 3) standardised criteria (organisation, content, expression)."""
        parts = list(self.parts(batch).values())
        out = parts[0]
        for part in parts[1:]:
            out = out + part
        return out

    def wide_penalty(self, l2_shared: float, l2_group: float) -> Tensor:
        """l2_shared * |shared n-gram weights|^2 + l2_group * |category/prompt copies|^2 (effective
        weights, i.e. times the gain), + l2_shared * |LM feature weights|^2 with the LM input."""
        w = self.wide_weight
        scale = np.full((w.shape[0], 1), l2_group * self.wide_gain ** 2, dtype=np.float32)
        scale[:self.num_ngrams] = l2_shared * self.wide_gain ** 2
        penalty = F.sum_of_squares(w, scale)
        if self.num_lm_features > 0:
            penalty = penalty + F.sum_of_squares(self.lm_linear.weight) * np.float32(l2_shared)
        return penalty


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
        x = F.relu(self.encoder(x, src_key_padding_mask=batch["padding"]))
        per_token = self.out(x)  # (B, T, 1)
        return F.sigmoid(masked_mean(per_token, batch["padding"]))  # (B, 1)

    def wide_penalty(self, l2_shared: float, l2_group: float) -> Tensor | None:
        return None


def build_model(config: dict, embedding_matrix: np.ndarray | None = None) -> nn.Module:
    """The model a config describes (what a checkpoint's meta stores)."""
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    arch = config.get("arch", "essaynet")
    if arch not in MODELS:
        raise ValueError(f"unknown architecture {arch!r}: expected one of {sorted(MODELS)}")
    return MODELS[arch](**kwargs, embedding_matrix=embedding_matrix)


MODELS = {"essaynet": EssayNet, "seed": SeedNet}
