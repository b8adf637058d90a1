"""torch.nn.attention.bias: causal masks of either corner, usable as ``attn_mask`` of
``F.scaled_dot_product_attention`` (dlpy reads them as the boolean mask they stand for)."""

from __future__ import annotations

import enum

import numpy as np

from dlpy.backends.cuda import (  # noqa: F401 - importable from here, as torch's
    SDPAParams,
    can_use_efficient_attention,
    can_use_flash_attention,
    is_flash_attention_available,
)

__all__ = ["CausalBias", "CausalVariant", "causal_lower_right", "causal_upper_left"]


class CausalVariant(enum.IntEnum):
    """UPPER_LEFT: query i sees keys 0..i (torch.tril(ones(L, S))); LOWER_RIGHT: the diagonal
    ends at the last key, query i sees keys 0..i + S - L (tril with offset S - L)."""

    UPPER_LEFT = 1
    LOWER_RIGHT = 2


class CausalBias:
    """A causal mask of (seq_len_q, seq_len_kv) kept as its variant and lengths; as an
    ``attn_mask`` (or through ``np.asarray``) it is the boolean mask, True where attention is
    allowed. With LOWER_RIGHT and seq_len_q > seq_len_kv the first rows see no key: dlpy gives
    them zero output (torch warns that they may be NaN)."""

    def __init__(self, variant: CausalVariant, seq_len_q: int, seq_len_kv: int) -> None:
        if not isinstance(variant, CausalVariant):
            raise TypeError(f"CausalBias: variant must be a CausalVariant, got {variant!r}")
        for name, value in (("seq_len_q", seq_len_q), ("seq_len_kv", seq_len_kv)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"CausalBias: {name} must be an int >= 0, got {value!r}")
        self.variant, self.seq_len_q, self.seq_len_kv = variant, int(seq_len_q), int(seq_len_kv)

    def _materialize(self, device=None) -> np.ndarray:
        """The (seq_len_q, seq_len_kv) boolean mask, True where attention is allowed."""
        offset = 0 if self.variant == CausalVariant.UPPER_LEFT else self.seq_len_kv - self.seq_len_q
        return np.tri(self.seq_len_q, self.seq_len_kv, offset, dtype=bool)

    def __array__(self, dtype=None, copy=None):
        mask = self._materialize()
        return mask if dtype is None else mask.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.seq_len_q, self.seq_len_kv)

    def __repr__(self) -> str:
        return (f"CausalBias({self.variant.name}, seq_len_q={self.seq_len_q}, "
                f"seq_len_kv={self.seq_len_kv})")


def _causal(name: str, variant: CausalVariant, size) -> CausalBias:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if len(size) != 2:
        raise ValueError(f"{name}: expected two sizes (seq_len_q, seq_len_kv), got {size}")
    return CausalBias(variant, *size)


def causal_upper_left(*size) -> CausalBias:
    """torch.nn.attention.bias.causal_upper_left(seq_len_q, seq_len_kv): the diagonal starts at
    the first query and the first key (torch.tril(ones(size)), SDPA's is_causal)."""
    return _causal("causal_upper_left", CausalVariant.UPPER_LEFT, size)


def causal_lower_right(*size) -> CausalBias:
    """torch.nn.attention.bias.causal_lower_right(seq_len_q, seq_len_kv): the diagonal ends at
    the last query and the last key (the last query sees every key: decoding with a cache)."""
    return _causal("causal_lower_right", CausalVariant.LOWER_RIGHT, size)
