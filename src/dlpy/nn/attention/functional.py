"""torch.nn.functional.multi_head_attention_forward, the computation of nn.MultiheadAttention.

``attend`` is the one code path: the in-projections, bias_k/bias_v, static keys and values,
zero attention, the masks and the fused attention, batch-first. MultiheadAttention
(multihead.py) calls it with its parameters and applies out_proj's weight and bias (F.linear);
``multi_head_attention_forward`` is torch's sequence-first functional form around it.
"""

from __future__ import annotations

import functools
import sys
import warnings

import numpy as np

from dlpy import functional as F
from dlpy._caller import user_stacklevel
from dlpy.amp.state import is_autocast_enabled
from dlpy.ops.attention import (
    MaskTypeError,
    ScoresAttention,
    _keep,
    additive_mask,
    attention,
    packed_attention,
)
from dlpy.ops.promotion import promote_types
from dlpy.tensor import ShapeError, Tensor, is_floating_dtype, is_grad_enabled

NAME = "multi_head_attention_forward"


class AssertedShapeError(ValueError, AssertionError):
    """A shape torch's multi-head attention checks with ``assert`` (the query's embedding
    dimension, key_padding_mask's shape): a ValueError, and torch's AssertionError."""


class AssertedTypeError(TypeError, AssertionError):
    """A mask dtype torch's multi-head attention refuses with ``assert`` (an integer mask)."""


def attend(query, key, value, num_heads, in_proj_weight, in_proj_bias, *, q_proj_weight=None,
           k_proj_weight=None, v_proj_weight=None, bias_k=None, bias_v=None,
           add_zero_attn=False, key_padding_mask=None, attn_mask=None, static_k=None,
           static_v=None, causal=False, dropout_p=0.0, rng=None, owner=NAME,
           nan_masked_rows=False):
    """Multi-head attention before the output projection, batch-first.

    query (batch, seq_q, d), key (batch, seq_k, kdim), value (batch, seq_k, vdim) ->
    (concat_h(softmax(q_h k_h^T / sqrt(head_dim) + mask) v_h) (batch, seq_q, d), weights
    (batch, num_heads, seq_q, seq_k') as a numpy array). in_proj_weight (3 d, d) stacks W_q, W_k,
    W_v; None: the separate q/k/v_proj_weight. static_k/static_v (batch * num_heads, seq,
    head_dim) replace the projected keys/values; bias_k/bias_v (1, 1, d) and add_zero_attn
    append one key and value each (never masked). ``causal``: a top-left causal mask over all
    keys replaces attn_mask (torch's is_causal hint when it goes to SDPA).
    ``nan_masked_rows``: a query whose every key is masked gets NaN weights and output (torch's
    need_weights=True path, a plain softmax); otherwise zeros. With it, while recording, the
    weights are a Tensor with a gradient (torch's need_weights path; the fused op otherwise); a
    float attn_mask Tensor that requires grad gets its gradient.
    """
    given = [mask.dtype for mask in (key_padding_mask, attn_mask) if isinstance(mask, Tensor)
             and (mask.dtype == np.bool_ or is_floating_dtype(mask.dtype))]
    if any(map(is_floating_dtype, given)) and is_floating_dtype(query.dtype) \
            and not is_autocast_enabled("cpu"):
        # torch adds the masks before using them (a boolean one as the query's dtype): their
        # sum's dtype is checked: the weights path adds it to the scores (baddbmm), SDPA takes
        # float32 or the query's dtype
        merged = functools.reduce(promote_types, [query.dtype if dtype == np.bool_ else dtype
                                                  for dtype in given])
        if merged != query.dtype and not (merged == np.float32 and not nan_masked_rows):
            raise MaskTypeError(f"{owner}: expected a float mask of the query's dtype "
                                f"{query.dtype}, got {merged}")
    out, weights, mask = _attend(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 q_proj_weight, k_proj_weight, v_proj_weight, bias_k, bias_v,
                                 add_zero_attn, key_padding_mask, attn_mask, static_k, static_v,
                                 causal, dropout_p, rng, owner,
                                 nan_masked_rows and is_grad_enabled() and not _exporting())
    if isinstance(weights, Tensor):  # softmax made NaN rows itself
        return out, weights
    if nan_masked_rows and mask is not None and mask.shape[-1]:  # (no keys: no row masked)
        dead = np.isneginf(mask).all(axis=-1)  # broadcastable to (batch, heads, seq_q)
        if dead.any():
            dead = np.broadcast_to(dead, weights.shape[:-1])
            weights = np.where(dead[..., None], np.nan, weights).astype(weights.dtype)
            rows = dead.any(axis=1)[..., None]  # (batch, seq_q, 1)
            out = out + Tensor(np.where(rows, np.nan, 0).astype(out.dtype))
    return out, weights


def _attend(query, key, value, num_heads, in_proj_weight, in_proj_bias, q_proj_weight,
            k_proj_weight, v_proj_weight, bias_k, bias_v, add_zero_attn, key_padding_mask,
            attn_mask, static_k, static_v, causal, dropout_p, rng, owner, weights_grad):
    """``attend``'s computation; returns (output, weights, the additive mask or None)."""
    d, batch = query.shape[-1], query.shape[0]
    extra_keys = (bias_k is not None) + bool(add_zero_attn)
    # a float attn_mask or key_padding_mask that wants a gradient (a learned bias) is added to
    # the scores as a Tensor; the other masks stay constant arrays
    learned = attn_mask if not causal and _wants_grad(attn_mask) else None
    learned_padding = key_padding_mask if _wants_grad(key_padding_mask) else None
    keys = key if static_k is None else static_k
    mask = _mask(owner, query, keys, num_heads,
                 None if learned_padding is not None else key_padding_mask,
                 None if learned is not None else attn_mask, extra_keys, causal)
    if learned is not None or learned_padding is not None:
        _mask(owner, query, keys, num_heads, None if learned_padding is None
              else learned_padding.data, None if learned is None else learned.data, 0,
              False)  # their shapes checked as any mask's
        if learned is not None and learned.ndim == 3:  # (batch * heads, seq_q, seq_k)
            learned = F.reshape(learned, (batch, num_heads, *learned.shape[1:]))
        if learned_padding is not None:  # (batch, seq_k) -> (batch, 1, 1, seq_k)
            padding = F.reshape(learned_padding, (batch, 1, 1, learned_padding.shape[-1]))
            learned = padding if learned is None else learned + padding
    args = dict(mask=mask, dropout_p=dropout_p, rng=rng, return_weights=True)
    if query is key and key is value and in_proj_weight is not None and not extra_keys \
            and static_k is None and static_v is None and learned is None and not weights_grad:
        # self-attention: one GEMM for q, k and v
        return (*packed_attention(F.linear(query, in_proj_weight, in_proj_bias), num_heads,
                                  **args), mask)
    if in_proj_weight is not None:
        weights = [in_proj_weight[i * d:(i + 1) * d] for i in range(3)]
    else:
        weights = [q_proj_weight, k_proj_weight, v_proj_weight]
    q, k, v = [None if static is not None else
               F.linear(x, w, None if in_proj_bias is None else in_proj_bias[i * d:(i + 1) * d])
               for i, (x, w, static) in enumerate(zip((query, key, value), weights,
                                                      (None, static_k, static_v)))]
    if static_k is not None:
        k = _merge_heads(owner, "static_k", static_k, batch, num_heads, d)
    if static_v is not None:
        v = _merge_heads(owner, "static_v", static_v, batch, num_heads, d)
    if bias_k is not None:
        k = F.concat([k, F.expand(bias_k, (batch, 1, d))], axis=1)
        v = F.concat([v, F.expand(bias_v, (batch, 1, d))], axis=1)
    if add_zero_attn:
        zero = Tensor(np.zeros((batch, 1, d), dtype=k.dtype))
        k, v = F.concat([k, zero], axis=1), F.concat([v, zero], axis=1)
    if learned is not None or weights_grad:
        return _attend_explicit(q, k, v, num_heads, learned, mask, extra_keys, dropout_p, rng,
                                owner, weights_grad)
    return (*attention(q, k, v, num_heads=num_heads, **args), mask)


def _attend_explicit(q, k, v, num_heads, bias, mask, extra_keys, dropout_p, rng, owner,
                     weights_grad):
    """Attention with the scores q_h k_h^T / sqrt(head_dim) + bias made with dlpy ops, for a
    float attn_mask ``bias`` that gets a gradient (a learned position bias) and, with
    ``weights_grad``, weights that carry a gradient as torch's need_weights path gives them:
    softmax as its own op (NaN on a row whose every key is masked), dropout on the weights,
    then P v. Without ``weights_grad``, softmax and P v are fused (ScoresAttention), as
    F.scaled_dot_product_attention does for a learned bias. Returns (output, weights, the
    additive mask)."""
    batch, seq_q, d = q.shape
    head = d // num_heads

    def heads(x):  # (batch, seq, heads * dim) -> (batch, heads, seq, dim)
        return F.swapaxes(F.reshape(x, (batch, x.shape[1], num_heads, x.shape[2] // num_heads)),
                          1, 2)

    scores = F.matmul(heads(q), F.swapaxes(heads(k), -1, -2)) * (1.0 / np.sqrt(head))
    full = mask
    if bias is not None:
        if bias.ndim == 3:  # (batch * heads, seq_q, seq_k)
            bias = F.reshape(bias, (batch, num_heads, *bias.shape[1:]))
        bias = bias.to(q.dtype)
        if extra_keys:  # the appended keys are never masked
            zeros = Tensor(np.zeros((*bias.shape[:-1], extra_keys), dtype=bias.dtype))
            bias = F.concat([bias, zeros], axis=-1)
        scores = scores + bias
        full = bias.data if mask is None else mask + bias.data
    if weights_grad:
        if mask is not None:
            scores = scores + Tensor(mask)
        weights = F.softmax(scores, -1)
        keep = _keep(dropout_p, rng, weights.shape, q)
        if keep is not None:
            weights = weights * Tensor(keep)
        out = F.matmul(weights, heads(v))
    else:
        if dropout_p:
            raise NotImplementedError(f"{owner}: dropout with an attn_mask that requires grad "
                                      "is not supported")
        op = ScoresAttention(mask)
        out = op(scores, heads(v))
        weights = op.p.astype(q.dtype, copy=False)
    out = F.reshape(F.swapaxes(out, 1, 2), (batch, seq_q, out.shape[1] * out.shape[3]))
    return out, weights, full


def _wants_grad(mask) -> bool:
    """A float mask Tensor that requires grad, while recording (a learned bias)."""
    return isinstance(mask, Tensor) and mask.requires_grad and is_floating_dtype(mask.dtype) \
        and is_grad_enabled()


def _merge_heads(owner, name, static, batch, num_heads, d):
    """torch's static_k/static_v (batch * num_heads, seq, head_dim) -> (batch, seq, d)."""
    if static.ndim != 3 or static.shape[0] != batch * num_heads \
            or static.shape[2] != d // num_heads:
        raise AssertedShapeError(f"{owner}: {name} must be (batch * num_heads, seq, "
                                 f"head_dim) = ({batch * num_heads}, seq, {d // num_heads}), "
                                 f"got {static.shape}")
    seq = static.shape[1]
    merged = F.swapaxes(F.reshape(static, (batch, num_heads, seq, d // num_heads)), 1, 2)
    return F.reshape(merged, (batch, seq, d))


def _mask(owner, query, key, num_heads, key_padding_mask, attn_mask, extra_keys, causal):
    """One additive mask broadcastable to (batch, heads, seq_q, seq_k + extra_keys), or None
    (the added bias and zero keys are never masked, as in PyTorch)."""
    batch, seq_q, seq_k = query.shape[0], query.shape[1], key.shape[1]
    dtype = query.dtype
    if causal:  # True above the diagonal, over every key, extra ones included (torch's SDPA)
        return additive_mask(np.triu(np.ones((seq_q, seq_k + extra_keys), dtype=bool), 1),
                             dtype)
    mask = None
    for name, given in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
        given_dtype = getattr(given, "dtype", None)
        if given_dtype is not None and given_dtype != np.bool_ \
                and not is_floating_dtype(given_dtype):
            raise AssertedTypeError(f"{owner}: only bool and floating {name} are supported, "
                                    f"got {given_dtype}")
    if attn_mask is not None and np.ndim(as_mask(attn_mask)) not in (2, 3):
        raise AssertedShapeError(f"{owner}: expected a 2-D or 3-D attn_mask, got "
                                 f"{np.shape(as_mask(attn_mask))}")
    if key_padding_mask is not None:
        padding = additive_mask(key_padding_mask, dtype)
        if padding.shape != (batch, seq_k):
            raise AssertedShapeError(f"{owner}: key_padding_mask must be (batch, seq_k) = "
                             f"{(batch, seq_k)}, got {padding.shape}")
        mask = padding[:, None, None, :]
    if attn_mask is not None:
        extra = additive_mask(attn_mask, dtype)
        if extra.shape == (batch * num_heads, seq_q, seq_k):
            extra = extra.reshape(batch, num_heads, seq_q, seq_k)
        elif extra.shape != (seq_q, seq_k):
            raise ShapeError(f"{owner}: attn_mask must be (seq_q, seq_k) = {(seq_q, seq_k)} or "
                             f"(batch * num_heads, seq_q, seq_k), got {extra.shape}")
        mask = extra if mask is None else mask + extra
    if mask is not None and extra_keys:
        mask = np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, extra_keys)])
    return mask


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False, *,
                                 rng=None):
    """torch's F.multi_head_attention_forward: query (L, N, E) or (L, E), key and value (S, N,
    kdim / vdim) or (S, kdim / vdim), sequence-first -> (output (L, N, E) or (L, E), weights
    (N, L, S) averaged over heads, (N, num_heads, L, S) without averaging, or None without
    need_weights). While recording, the weights carry a gradient, as torch's. ``rng``:
    dropout's generator (dlpy's).
    """
    warn_mismatched_masks(key_padding_mask, attn_mask)
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertedShapeError(f"{NAME}: expected query, key and value all (seq, batch, "
                                 f"feature) or all unbatched (seq, feature), got {query.shape}, "
                                 f"{key.shape}, {value.shape}")
    batched = query.ndim == 3
    embed_dim = query.shape[-1]
    if embed_dim != embed_dim_to_check:
        raise AssertedShapeError(f"{NAME}: expected query's embedding dimension "
                                 f"{embed_dim_to_check}, got {embed_dim}")
    if num_heads <= 0 or embed_dim % num_heads:
        raise AssertedShapeError(f"{NAME}: embed_dim {embed_dim} must be divisible by "
                                 f"num_heads {num_heads}")
    same = key.shape[:-1] == value.shape[:-1] if use_separate_proj_weight \
        else key.shape == value.shape
    if not same or key.shape[1:-1] != query.shape[1:-1]:
        raise AssertedShapeError(f"{NAME}: expected key and value of the same (seq, batch) "
                                 f"(and the same shape without use_separate_proj_weight), "
                                 f"query's batch, got query {query.shape}, key {key.shape}, "
                                 f"value {value.shape}")
    names = ("q_proj_weight", "k_proj_weight", "v_proj_weight") if use_separate_proj_weight \
        else ("in_proj_weight",)
    given = dict(in_proj_weight=in_proj_weight, q_proj_weight=q_proj_weight,
                 k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight)
    for name in names:
        if given[name] is None:
            raise AssertedShapeError(f"{NAME}: use_separate_proj_weight="
                                     f"{use_separate_proj_weight} needs {name}, got None")
    if (bias_k is None) != (bias_v is None):
        raise AssertedShapeError(f"{NAME}: give both bias_k and bias_v or neither")
    if bias_k is not None and (static_k is not None or static_v is not None):
        raise AssertedShapeError(f"{NAME}: bias_k/bias_v cannot be added to static_k/static_v")
    if is_causal and attn_mask is None:
        raise ShapeError(f"{NAME}: is_causal needs attn_mask (the causal mask), as torch's")
    if not batched and key_padding_mask is not None:  # (S,) -> (1, S)
        key_padding_mask = key_padding_mask.unsqueeze(0) \
            if isinstance(key_padding_mask, Tensor) else as_mask(key_padding_mask)[None]

    def batch_first(x):  # (S, N, E) -> (N, S, E); unbatched (S, E) -> (1, S, E)
        return F.swapaxes(x, 0, 1) if batched else F.reshape(x, (1, *x.shape))

    query_b = batch_first(query)
    key_b = query_b if key is query else batch_first(key)
    value_b = key_b if value is key else batch_first(value)
    # torch hands is_causal on to SDPA (a causal mask in place of attn_mask) only there
    causal = is_causal and key_padding_mask is None and not need_weights
    out, weights = attend(
        query_b, key_b, value_b, num_heads, None if use_separate_proj_weight else in_proj_weight,
        in_proj_bias, q_proj_weight=q_proj_weight, k_proj_weight=k_proj_weight,
        v_proj_weight=v_proj_weight, bias_k=bias_k, bias_v=bias_v, add_zero_attn=add_zero_attn,
        key_padding_mask=key_padding_mask, attn_mask=attn_mask, static_k=static_k,
        static_v=static_v, causal=causal, dropout_p=dropout_p if training else 0.0, rng=rng,
        nan_masked_rows=need_weights)
    # torch's kernel projects (seq, batch, embed) rows: its output is laid out so, not as a
    # transposed view of a batch-first one
    out = F.linear(F.swapaxes(out, 0, 1).contiguous() if batched else F.reshape(out, out.shape[1:]),
                   out_proj_weight, out_proj_bias)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = weights.mean(1)
    weights = as_tensor(weights)
    return out, weights if batched else weights[0]


def warn_mismatched_masks(key_padding_mask, attn_mask, names=("key_padding_mask",
                                                            "attn_mask")) -> None:
    """torch's _canonical_mask: a padding mask of another dtype than the attention mask (a
    boolean one with a float one, float32 with float64) is deprecated, a UserWarning."""
    if key_padding_mask is None or attn_mask is None:  # (no getattr: an fx Proxy records it)
        return
    dtypes = [getattr(mask, "dtype", None) for mask in (key_padding_mask, attn_mask)]
    # (dtypes only: numpy takes None for float64, so float64 == None, and a traced mask's
    # (fx, jit.script) dtype is a Proxy, which a comparison would branch on)
    if all(isinstance(dtype, np.dtype) for dtype in dtypes) and dtypes[0] != dtypes[1]:
        warnings.warn(f"Support for mismatched {names[0]} and {names[1]} is deprecated. Use same "
                      f"type for both instead.", stacklevel=user_stacklevel())


def _exporting() -> bool:
    """An ONNX export is tracing (the weights need no gradient; the fused op exports)."""
    onnx = sys.modules.get("dlpy.onnx")
    return onnx is not None and onnx.is_in_onnx_export()


def as_tensor(weights):
    """attend's weights as a Tensor: a numpy array wrapped, a Tensor (with its gradient) as is."""
    return weights if isinstance(weights, Tensor) else Tensor(weights)


def as_mask(mask):
    """The numpy array of a mask given as a Tensor or an array."""
    return mask.data if isinstance(mask, Tensor) else np.asarray(mask)
