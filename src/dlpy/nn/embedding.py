"""Embedding: a lookup table of learnable vectors; EmbeddingBag: the sum, mean or max of bags of
them."""

from __future__ import annotations

import numpy as np

from dlpy import functional as F
from dlpy.device import as_device
from dlpy.nn.module import Module, Parameter
from dlpy.ops import ArgAssertionError, ArgError
from dlpy.ops.embedding import _check_max_norm, _PaddingIdxError
from dlpy.random import get_rng
from dlpy.random_streams import normal
from dlpy.tensor import Tensor, as_array, is_floating_dtype, no_grad, parameter_dtype


def _draw_dtype(dtype):
    """The dtype torch's init.normal_ draws the table in (its weight's)."""
    from dlpy.tensor import parameter_dtype

    return np.dtype(parameter_dtype(dtype, "", has_parameters=False))

class _EmptyTablePaddingError(ArgAssertionError, IndexError):
    """padding_idx 0 of a table of no rows: torch checks only a positive padding_idx and fails
    zeroing row 0 (an IndexError); an ArgAssertionError, as dlpy's other padding_idx errors."""


def _padding_error(num_embeddings: int, padding_idx, error):
    """The class of a padding_idx outside the table: ``error``, or for padding_idx 0 of an
    empty table torch's IndexError too."""
    return _EmptyTablePaddingError if num_embeddings == 0 and padding_idx == 0 else error


class Embedding(Module):
    """ids (...) integers in [0, num_embeddings) -> (..., embedding_dim);
    weight (num_embeddings, embedding_dim) initialised N(0, 1) as in PyTorch.

    PyTorch's arguments in its order, then ``rng``. padding_idx: that row starts at zero and
    gets no gradient (its positions output the row, zeros unless it was set otherwise).
    max_norm: each forward first renormalises the looked-up rows whose norm_type-norm exceeds
    it, in the weight itself (F.embedding). scale_grad_by_freq: each id's gradient divided by
    its count in the batch. sparse: the weight's gradient is a SparseGrad over the looked-up
    rows, for ``optim.SparseAdam`` or ``SGD`` (dlpy.sparse_grad). _weight: the initial weight
    (a copy; _freeze: not trained).
    """

    # (for a layer pickled before it had these settings)
    max_norm, norm_type, scale_grad_by_freq = None, 2.0, False

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None, *,
                 rng: np.random.Generator | None = None):
        # None: the default dtype now (torch's), or a given _weight's own
        dtype = (None if dtype is None and _weight is not None
                 else parameter_dtype(dtype, "Embedding", _weight is None))
        super().__init__()
        as_device(device, "Embedding")  # the CPU only
        if num_embeddings < 0 or embedding_dim < 0:  # (an empty table is torch's too)
            raise ArgError(
                f"Embedding: num_embeddings and embedding_dim must be >= 0, got "
                f"{num_embeddings}, {embedding_dim}"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise _padding_error(num_embeddings, padding_idx, ArgAssertionError)(
                    f"Embedding: padding_idx must lie in [-{num_embeddings}, {num_embeddings}),"
                    f" got {padding_idx}"
                )
            padding_idx %= num_embeddings
        _check_max_norm("Embedding", max_norm, norm_type)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = bool(scale_grad_by_freq), bool(sparse)
        if _weight is None:
            weight = normal(get_rng(rng), (num_embeddings, embedding_dim),
                            _draw_dtype(dtype))
            if padding_idx is not None:
                weight[padding_idx] = 0.0
        else:  # as given (its padding row too), as PyTorch's
            weight = _weight if isinstance(_weight, Tensor) else as_array(_weight)
            if tuple(weight.shape) != (num_embeddings, embedding_dim):
                raise ArgAssertionError(f"Embedding: _weight must have shape ({num_embeddings}, "
                                        f"{embedding_dim}), got {tuple(weight.shape)}")
        self.weight = Parameter(weight, requires_grad=not _freeze, dtype=dtype)
        _share_weight(self, _weight)

    def reset_parameters(self) -> None:
        """The weight redrawn N(0, 1) from the default generator, the padding row zero."""
        _reset(self)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding holding ``embeddings`` (num_embeddings, embedding_dim), in its dtype (a
        Tensor's memory shared, as PyTorch's); ``freeze`` (the default, as PyTorch) keeps it out
        of training; integer embeddings only frozen, as PyTorch's. Draws nothing from the
        default generator."""
        weight = embeddings if isinstance(embeddings, Tensor) else np.array(as_array(embeddings))
        if weight.ndim != 2:
            raise ArgAssertionError(f"Embedding.from_pretrained: expected a 2-D array "
                                    f"(num_embeddings, embedding_dim), got shape "
                                    f"{tuple(weight.shape)}")
        return cls(*weight.shape, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=weight, _freeze=freeze)

    def forward(self, input) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        if self.sparse:
            text += ", sparse=True"
        return text


def _share_weight(layer, weight):
    """The layer's weight on the given Tensor's memory, as PyTorch's Parameter(_weight) (a
    write to either shows in the other)."""
    if isinstance(weight, Tensor) and weight.data.dtype == layer.weight.data.dtype:
        layer.weight.data = weight.data
    return layer


def _reset(layer) -> None:
    """torch's reset_parameters of the embeddings: weight N(0, 1) in place, padding row 0."""
    from dlpy.nn import init

    init.normal_(layer.weight)
    if layer.padding_idx is not None:
        with no_grad():
            layer.weight[layer.padding_idx].fill_(0.0)


class EmbeddingBag(Module):
    """Bags of ids -> the sum, mean or max of their rows of weight (num_embeddings,
    embedding_dim), (bags, embedding_dim), as torch.nn.EmbeddingBag (``F.embedding_bag``):
    forward(input, offsets=None, per_sample_weights=None) with 2-D ids (one bag a row) or 1-D
    ids split at offsets. PyTorch's arguments in its order, then rng and dtype; weight
    N(0, 1), the padding_idx row zero (left out of every bag). max_norm: the looked-up rows
    renormalised in the weight first, as Embedding's; scale_grad_by_freq: each row's gradient
    divided by its id's count in the input (sum and mean modes)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight=None, include_last_offset: bool = False,
                 padding_idx: int | None = None, *, rng: np.random.Generator | None = None,
                 dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        name = "EmbeddingBag"
        if num_embeddings < 0 or embedding_dim < 0:
            raise ValueError(f"{name}: num_embeddings and embedding_dim must be >= 0, got "
                             f"{num_embeddings}, {embedding_dim}")
        _check_max_norm(name, max_norm, norm_type)
        if mode not in F.EMBEDDING_BAG_MODES:
            raise ValueError(f"{name}: mode must be sum, mean or max, got {mode!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise _padding_error(num_embeddings, padding_idx, _PaddingIdxError)(
                    f"{name}: padding_idx must lie in [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.scale_grad_by_freq = max_norm, bool(scale_grad_by_freq)
        self.norm_type, self.mode, self.sparse = norm_type, mode, bool(sparse)
        self.include_last_offset, self.padding_idx = bool(include_last_offset), padding_idx
        if _weight is None:
            weight = normal(get_rng(rng), (num_embeddings, embedding_dim),
                            _draw_dtype(dtype))
            if padding_idx is not None:
                weight[padding_idx] = 0.0
        else:
            weight = as_array(_weight)
            if weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"{name}: _weight must have shape ({num_embeddings}, "
                                 f"{embedding_dim}), got {weight.shape}")
        self.weight = Parameter(weight, dtype=dtype)
        _share_weight(self, _weight)

    def reset_parameters(self) -> None:
        """The weight redrawn N(0, 1) from the default generator, the padding row zero."""
        _reset(self)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag holding a copy of ``embeddings`` (num_embeddings, embedding_dim) in
        its dtype, frozen by default, as PyTorch's; draws nothing from the default generator."""
        weight = np.array(as_array(embeddings))
        if weight.ndim != 2 or not is_floating_dtype(weight.dtype):  # (bfloat16's kind is "V")
            raise _PaddingIdxError(f"EmbeddingBag.from_pretrained: expected a 2-D float array, got "
                             f"shape {weight.shape} of {weight.dtype}")
        layer = cls(*weight.shape, max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                    weight, include_last_offset, padding_idx, dtype=weight.dtype)
        layer.weight.requires_grad = not freeze
        return _share_weight(layer, embeddings)

    def forward(self, input, offsets=None, per_sample_weights=None) -> Tensor:  # noqa: A002
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset,
                               padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        """torch's: the settings off their defaults, each repr'd (mode='sum'), mode always;
        sparse and include_last_offset never."""
        extra = f"{self.num_embeddings}, {self.embedding_dim}"
        extra += f", max_norm={self.max_norm!r}" if self.max_norm is not None else ""
        extra += f", norm_type={self.norm_type!r}" if self.norm_type != 2 else ""
        extra += ", scale_grad_by_freq=True" if self.scale_grad_by_freq else ""
        extra += f", mode={self.mode!r}"
        extra += f", padding_idx={self.padding_idx!r}" if self.padding_idx is not None else ""
        return extra
