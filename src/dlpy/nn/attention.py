"""Multi-head attention with one fused QKV projection and the heads as one batched matmul."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.nn.linear import Linear
from dlpy.nn.module import Module, Parameter
from dlpy.ops.attention import additive_mask, attention, packed_attention
from dlpy.random import get_rng
from dlpy.tensor import Tensor


class MultiHeadAttention(Module):
    """PyTorch's nn.MultiheadAttention with batch_first=True, parameters named as there.

    in_proj_weight (3 * d_model, d_model) stacks W_q, W_k, W_v; out_proj is Linear(d_model,
    d_model). forward(query (batch, seq_q, d_model), key, value (batch, seq_k, d_model)) ->
    (batch, seq_q, d_model): concat_h(softmax(q_h k_h^T / sqrt(head_dim) + mask) v_h) W_o^T + b_o.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 rng=None, dtype=np.float32):
        super().__init__()
        if num_heads <= 0 or d_model % num_heads:
            raise ValueError(
                f"MultiHeadAttention: d_model must be divisible by num_heads, got d_model="
                f"{d_model} and num_heads={num_heads}"
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        self.d_model, self.num_heads, self.dropout = d_model, num_heads, dropout
        self.head_dim = d_model // num_heads
        self.rng = rng  # dropout's generator; None: the default one (dlpy.manual_seed)
        rng = get_rng(rng)
        # PyTorch's initialisation: Xavier-uniform in_proj, zero biases, out_proj as a Linear
        bound = math.sqrt(6.0 / (d_model + 3 * d_model))
        self.in_proj_weight = Parameter(rng.uniform(-bound, bound, (3 * d_model, d_model)),
                                        dtype=dtype)
        self.in_proj_bias = Parameter(np.zeros(3 * d_model), dtype=dtype) if bias else None
        self.out_proj = Linear(d_model, d_model, bias=bias, rng=rng, dtype=dtype)
        if bias:
            self.out_proj.bias.data[...] = 0

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                attn_mask=None, need_weights: bool = False, average_attn_weights: bool = True):
        """key_padding_mask (batch, seq_k): True marks padding to ignore. attn_mask (seq_q, seq_k)
        or (batch * num_heads, seq_q, seq_k): True = not allowed (or float, added to the scores).

        Returns the output, or (output, weights) with need_weights: weights (batch, seq_q, seq_k)
        averaged over heads, or (batch, num_heads, seq_q, seq_k) without averaging (numpy).
        """
        d = self.d_model
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.ndim != 3 or x.shape[-1] != d:
                raise ValueError(
                    f"MultiHeadAttention: {name} must be (batch, seq, {d}), got {x.shape}"
                )
        if key.shape != value.shape or key.shape[0] != query.shape[0]:
            raise ValueError(
                f"MultiHeadAttention: expected query (batch, seq_q, d), key and value (batch, "
                f"seq_k, d), got {query.shape}, {key.shape}, {value.shape}"
            )
        mask = self._mask(query, key, key_padding_mask, attn_mask)
        dropout_p = self.dropout if self.training else 0.0
        weight, bias = self.in_proj_weight, self.in_proj_bias
        args = dict(mask=mask, dropout_p=dropout_p, rng=self.rng, return_weights=True)
        if query is key and key is value:  # self-attention: one GEMM for q, k and v
            out, weights = packed_attention(F.linear(query, weight, bias), self.num_heads, **args)
        else:
            q, k, v = (
                F.linear(x, weight[i * d:(i + 1) * d], None if bias is None else
                         bias[i * d:(i + 1) * d])
                for i, x in enumerate((query, key, value))
            )
            out, weights = attention(q, k, v, num_heads=self.num_heads, **args)
        out = self.out_proj(out)
        if not need_weights:
            return out
        return out, (weights.mean(axis=1) if average_attn_weights else weights)

    def _mask(self, query, key, key_padding_mask, attn_mask):
        """One additive mask broadcastable to (batch, heads, seq_q, seq_k), or None."""
        batch, seq_q, seq_k = query.shape[0], query.shape[1], key.shape[1]
        dtype = query.dtype
        mask = None
        if key_padding_mask is not None:
            padding = additive_mask(key_padding_mask, dtype)
            if padding.shape != (batch, seq_k):
                raise ValueError(
                    f"MultiHeadAttention: key_padding_mask must be (batch, seq_k) = "
                    f"{(batch, seq_k)}, got {padding.shape}"
                )
            mask = padding[:, None, None, :]
        if attn_mask is not None:
            extra = additive_mask(attn_mask, dtype)
            if extra.shape == (batch * self.num_heads, seq_q, seq_k):
                extra = extra.reshape(batch, self.num_heads, seq_q, seq_k)
            elif extra.shape != (seq_q, seq_k):
                raise ValueError(
                    f"MultiHeadAttention: attn_mask must be (seq_q, seq_k) = {(seq_q, seq_k)} or "
                    f"(batch * num_heads, seq_q, seq_k), got {extra.shape}"
                )
            mask = extra if mask is None else mask + extra
        return mask

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"

