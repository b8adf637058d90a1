"""Multi-head attention with one fused QKV projection and the heads as one batched matmul (the
computation is ``attend`` of functional.py, shared with F.multi_head_attention_forward)."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.amp.state import is_autocast_enabled
from dlpy.nn.attention.functional import (
    AssertedShapeError,
    as_tensor,
    attend,
    warn_mismatched_masks,
)
from dlpy.nn.linear import NonDynamicallyQuantizableLinear
from dlpy.nn.module import Module, Parameter
from dlpy.ops import ArgAssertionError
from dlpy.random import get_rng
from dlpy.random_streams import layer_uniform, normal
from dlpy.tensor import (
    ShapeError,
    Tensor,
    as_array,
    is_floating_dtype,
    is_grad_enabled,
    parameter_dtype,
)


def _dtype(dtype):
    from dlpy.tensor import parameter_dtype

    return parameter_dtype(dtype, "", has_parameters=False)


def _xavier(rng, shape: tuple, dtype):
    """torch's xavier_uniform_ on a new (fan_out, fan_in) weight: its bound, its draws."""
    fan_out, fan_in = shape
    return layer_uniform(rng, shape, dtype, math.sqrt(3.0) * math.sqrt(2.0 / float(fan_in
                                                                                 + fan_out)))

class ShapeAssertionError(ShapeError, AssertionError):
    """A shape that does not fit where torch refuses with an ``assert`` (a key of another width
    than kdim, inputs of mixed ranks): dlpy's ShapeError (a ValueError and a RuntimeError), and
    torch's AssertionError."""


def check_batch_first(owner: str, batch_first) -> bool:
    """batch_first must be True ((batch, seq, feature) inputs) or False ((seq, batch,
    feature), torch's default); returns it as a bool."""
    if not isinstance(batch_first, (bool, np.bool_)):
        raise TypeError(f"{owner}: batch_first must be True or False, got {batch_first!r}")
    return bool(batch_first)


def to_batch_first(x, batch_first: bool):
    """(seq, batch, ...) -> (batch, seq, ...) when the layout is not batch-first (and back:
    the same swap); None and batch-first inputs pass unchanged."""
    return x if batch_first or x is None else x.transpose(0, 1)


def pick(owner: str, name: str, value, torch_name: str, torch_value):
    """One argument under dlpy's name or PyTorch's (``num_heads`` / ``nhead``), not both."""
    if torch_value is None:
        return value
    if value is not None:
        raise TypeError(f"{owner}: got both {name}={value!r} and {torch_name}={torch_value!r}; "
                        "give one")
    return torch_value


class MultiHeadAttention(Module):
    """PyTorch's nn.MultiheadAttention with batch_first=True, parameters named as there.

    in_proj_weight (3 * d_model, d_model) stacks W_q, W_k, W_v (q_proj_weight (d_model,
    d_model), k_proj_weight (d_model, kdim), v_proj_weight (d_model, vdim) instead when kdim or
    vdim differ from d_model); out_proj is a Linear(d_model, d_model) (torch's
    NonDynamicallyQuantizableLinear). forward(query (batch, seq_q,
    d_model), key (batch, seq_k, kdim), value (batch, seq_k, vdim)) -> (batch, seq_q, d_model):
    concat_h(softmax(q_h k_h^T / sqrt(head_dim) + mask) v_h) W_o^T + b_o.
    add_bias_kv appends the learned bias_k, bias_v (1, 1, d_model) as one more key and value;
    add_zero_attn appends a zero key and value (after the projections, as PyTorch).
    """

    def __init__(self, d_model: int | None = None, num_heads: int | None = None,
                 dropout: float = 0.0, bias: bool = True, rng=None, dtype=None, *,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = True, embed_dim: int | None = None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        d_model = pick("MultiHeadAttention", "d_model", d_model, "embed_dim", embed_dim)
        if d_model is None or num_heads is None:
            raise TypeError("MultiHeadAttention: needs d_model (or PyTorch's embed_dim) and "
                            "num_heads")
        self.batch_first = check_batch_first("MultiHeadAttention", batch_first)
        if d_model <= 0 or num_heads <= 0:
            raise ValueError(f"MultiHeadAttention: d_model and num_heads must be > 0, got "
                             f"d_model={d_model} and num_heads={num_heads}")
        if d_model % num_heads:
            raise ArgAssertionError(
                f"MultiHeadAttention: d_model must be divisible by num_heads, got d_model="
                f"{d_model} and num_heads={num_heads}"
            )
        # (dropout outside [0, 1] is refused at a training call, not here, as torch's)
        self.d_model, self.num_heads, self.dropout = d_model, num_heads, dropout
        self.embed_dim = d_model  # PyTorch's name
        self.kdim = d_model if kdim is None else kdim
        self.vdim = d_model if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == d_model and self.vdim == d_model
        self.add_zero_attn = bool(add_zero_attn)
        self.head_dim = d_model // num_heads
        self.rng = rng  # dropout's generator; None: the default one (dlpy.manual_seed)
        rng = get_rng(rng)
        # PyTorch's initialisation, in its order: out_proj as a Linear (its bias then zeroed),
        # then Xavier-uniform input projections, zero biases, Xavier-normal bias_k and bias_v
        out_proj = NonDynamicallyQuantizableLinear(d_model, d_model, bias=bias, rng=rng,
                                                   dtype=dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_xavier(rng, (3 * d_model, d_model), dtype),
                                            dtype=dtype)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)  # registered empty, as torch's
        else:
            for name, width in (("q", d_model), ("k", self.kdim), ("v", self.vdim)):
                setattr(self, f"{name}_proj_weight",
                        Parameter(_xavier(rng, (d_model, width), dtype), dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        self.register_parameter("in_proj_bias", Parameter(np.zeros(3 * d_model), dtype=dtype)
                                if bias else None)
        self.out_proj = out_proj
        if bias:
            self.out_proj.bias.data[...] = 0
        self.bias_k = self.bias_v = None
        if add_bias_kv:  # Xavier-normal of a (1, 1, d_model) array: fan_in = fan_out = d_model
            std = math.sqrt(2.0 / float(d_model + d_model))
            self.bias_k = Parameter(normal(rng, (1, 1, d_model), _dtype(dtype), 0.0, std),
                                    dtype=dtype)
            self.bias_v = Parameter(normal(rng, (1, 1, d_model), _dtype(dtype), 0.0, std),
                                    dtype=dtype)

    def _reset_parameters(self) -> None:
        """PyTorch's: the input projections redrawn Xavier-uniform, the biases zero, bias_k and
        bias_v Xavier-normal, in place with the default generator (out_proj.weight kept)."""
        from dlpy.nn import init

        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                init.xavier_uniform_(getattr(self, name))
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for param in (self.bias_k, self.bias_v):
            if param is not None:
                init.xavier_normal_(param)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                attn_mask=None, need_weights: bool = False, average_attn_weights: bool = True,
                is_causal: bool = False):
        return self._forward(query, key, value, key_padding_mask, attn_mask, need_weights,
                             average_attn_weights, is_causal)

    def _forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                 attn_mask=None, need_weights: bool = False, average_attn_weights: bool = True,
                 is_causal: bool = False, fast: bool = False):
        """key_padding_mask (batch, seq_k): True marks padding to ignore. attn_mask (seq_q, seq_k)
        or (batch * num_heads, seq_q, seq_k): True = not allowed (or float, added to the scores).
        is_causal: query i sees keys 0..i only; without attn_mask it makes that mask, with one it
        is a hint, as in PyTorch (the mask is used as given).

        Returns the output, or (output, weights) with need_weights: weights (batch, seq_q, seq_k)
        averaged over heads, or (batch, num_heads, seq_q, seq_k) without averaging (while
        recording a Tensor with a gradient, as torch's; a float attn_mask Tensor that requires
        grad gets one too). ``fast``: torch's inference fast path computes it (see
        MultiheadAttention._fast_path)."""
        if not self.batch_first:  # (seq, batch, feature) in and out; self-attention's one
            given = (query, key)   # tensor transposed once
            query = to_batch_first(query, False)
            key = query if key is given[0] else to_batch_first(key, False)
            value = key if value is given[1] else query if value is given[0] else \
                to_batch_first(value, False)
        d = self.d_model
        for name, x, width in (("query", query, d), ("key", key, self.kdim),
                               ("value", value, self.vdim)):
            if x.ndim != 3 or x.shape[-1] != width:
                raise (AssertedShapeError if name == "query" else ShapeAssertionError)(
                    f"MultiHeadAttention: {name} must be (batch, seq, {width}), got {x.shape}"
                )
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            # torch asserts key and value alike; a batch unlike the query's fails later
            raise (AssertedShapeError if key.shape[:2] != value.shape[:2] else ShapeError)(
                f"MultiHeadAttention: expected query (batch, seq_q, {d}), key (batch, seq_k, "
                f"{self.kdim}) and value (batch, seq_k, {self.vdim}), got {query.shape}, "
                f"{key.shape}, {value.shape}"
            )
        # torch hands is_causal on to SDPA (a top-left causal mask over every key, an added
        # bias_k or zero key included, in place of attn_mask) without padding mask or weights
        causal = bool(is_causal) and key_padding_mask is None and not need_weights and not fast
        if is_causal and attn_mask is None and not causal:  # True above the diagonal
            attn_mask = np.triu(np.ones((query.shape[1], key.shape[1]), dtype=bool), 1)
        out, weights = attend(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, bias_k=self.bias_k, bias_v=self.bias_v,
            add_zero_attn=self.add_zero_attn, key_padding_mask=key_padding_mask,
            attn_mask=None if causal else attn_mask, causal=causal,
            dropout_p=self.dropout if self.training else 0.0, rng=self.rng,
            owner="MultiHeadAttention", nan_masked_rows=need_weights or fast)
        # out_proj's parameters through F.linear, as torch's (its module is never called: its
        # hooks do not run, torchinfo and module trackers do not see it run)
        if fast:  # torch's fast path projects the batch-first rows as they are
            out = F.linear(out, self.out_proj.weight, self.out_proj.bias)
        else:
            # torch's kernel projects (seq, batch, embed) rows: its output is laid out so, and
            # a batch_first output is a transposed view of it
            out = F.linear(out.transpose(0, 1).contiguous(), self.out_proj.weight,
                           self.out_proj.bias)
            out = out.transpose(0, 1) if self.batch_first else out
        if not need_weights:
            return out
        return out, as_tensor(weights.mean(1) if average_attn_weights else weights)

    def extra_repr(self) -> str:
        text = f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            text += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.bias_k is not None:
            text += ", add_bias_kv=True"
        if self.add_zero_attn:
            text += ", add_zero_attn=True"
        return text


class MultiheadAttention(MultiHeadAttention):
    """torch.nn.MultiheadAttention, with torch's defaults and call: ``MultiheadAttention(
    embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
    kdim=None, vdim=None, batch_first=False)``, so inputs are (seq, batch, embed_dim) unless
    batch_first=True; ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``,
    weights None without need_weights. dlpy's MultiHeadAttention is the same layer with
    batch-first inputs by default and the output alone."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device=None, dtype=None, *, rng=None):
        from dlpy.device import as_device

        as_device(device, "MultiheadAttention")  # the CPU only, as everywhere
        super().__init__(embed_dim, num_heads, dropout, bias, rng, dtype,
                         add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, kdim=kdim,
                         vdim=vdim, batch_first=batch_first)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                need_weights: bool = True, attn_mask=None, average_attn_weights: bool = True,
                is_causal: bool = False):
        """As torch's; an unbatched call takes query (seq_q, embed_dim), key and value
        (seq_k, kdim / vdim), key_padding_mask (seq_k,) and gives unbatched results."""
        warn_mismatched_masks(key_padding_mask, attn_mask)
        if getattr(query, "ndim", 3) not in (2, 3):  # torch's assert
            raise AssertedShapeError(f"MultiheadAttention: query should be unbatched 2-D or "
                                     f"batched 3-D, got shape {tuple(query.shape)}")
        fast = self._fast_path(query, key, value, attn_mask, key_padding_mask)
        unbatched = query.ndim == 2
        if unbatched:  # a batch of one, taken off the results
            if key.ndim != 2 or value.ndim != 2:
                raise AssertedShapeError(f"MultiheadAttention: an unbatched (2-D) query needs 2-D "
                                         f"key and value, got {tuple(key.shape)} and "
                                         f"{tuple(value.shape)}")
            if getattr(attn_mask, "ndim", 2) == 3 \
                    and attn_mask.shape != (self.num_heads, query.shape[0], key.shape[0]):
                raise AssertedShapeError(f"MultiheadAttention: an unbatched query's 3-D attn_mask "
                                         f"must be (num_heads, seq_q, seq_k), got "
                                         f"{tuple(attn_mask.shape)}")
            axis = 0 if self.batch_first else 1
            query, key, value = (t.unsqueeze(axis) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0) \
                    if isinstance(key_padding_mask, Tensor) else as_array(key_padding_mask)[None]
        if fast:  # torch's fast path does not read is_causal: attn_mask is used as given
            is_causal = False
        if is_causal and attn_mask is None:
            raise ShapeError("MultiheadAttention: is_causal needs attn_mask (the causal mask), "
                             "as torch's")
        if is_causal and key_padding_mask is None and not need_weights:
            attn_mask = None  # torch hands the hint on to SDPA: the causal mask, not attn_mask
        out = self._forward(query, key, value, key_padding_mask=key_padding_mask,
                            attn_mask=attn_mask, need_weights=need_weights,
                            average_attn_weights=average_attn_weights, is_causal=is_causal,
                            fast=fast)
        out, weights = out if need_weights else (out, None)
        if unbatched:
            out = out.squeeze(axis)
            weights = None if weights is None else weights.squeeze(0)
        return out, weights

    def _fast_path(self, query, key, value, attn_mask=None, key_padding_mask=None) -> bool:
        """Whether torch's forward takes its inference fast path (_native_multi_head_attention):
        batched self-attention (query, key and value one tensor) in eval mode, batch_first, an
        even number of heads, a packed in-projection with bias of the query's dtype, no bias_k
        or zero attention, no float mask, nothing that wants a gradient. Its results are not
        the general path's: a query whose every key is masked gets NaN (without need_weights
        too), is_causal is not read, and the output is laid out batch-first."""
        from dlpy.backends import mha

        tensors = (query, key, value, self.in_proj_weight, self.in_proj_bias,
                   self.out_proj.weight, self.out_proj.bias)
        float_mask = any(isinstance(mask, (Tensor, np.ndarray)) and is_floating_dtype(mask.dtype)
                         for mask in (attn_mask, key_padding_mask))
        return (isinstance(query, Tensor) and not self.training and mha.get_fastpath_enabled()
                and not float_mask and query.ndim == 3
                and query is key and key is value and self.in_proj_weight is not None
                and self.in_proj_bias is not None and query.dtype == self.in_proj_weight.dtype
                and self.num_heads % 2 == 0 and self.batch_first
                and self.bias_k is None and not self.add_zero_attn
                and not is_autocast_enabled("cpu")
                and not (is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad
                                                   for t in tensors)))

    def merge_masks(self, attn_mask, key_padding_mask, query):
        """torch's: the masks as one (batch, num_heads, seq, seq) mask (attn_mask (seq, seq) or
        (batch * num_heads, seq, seq) plus key_padding_mask (batch, seq)), and its type: 1 for
        key_padding_mask alone (returned as is), 2 with attn_mask, None without masks. query
        (batch, seq, embed_dim): self-attention."""
        merged, mask_type = None, None
        if key_padding_mask is not None:
            merged, mask_type = key_padding_mask, 1
        if attn_mask is not None:
            batch, seq_len, _ = query.shape
            mask_type = 2
            if attn_mask.ndim == 3:
                merged = attn_mask.view(batch, -1, seq_len, seq_len)
            else:
                merged = attn_mask.view(1, 1, seq_len, seq_len).expand(
                    batch, self.num_heads, -1, -1)
            if key_padding_mask is not None:
                merged = merged + key_padding_mask.view(batch, 1, 1, seq_len).expand(
                    -1, self.num_heads, -1, -1)
        return merged, mask_type

    def extra_repr(self) -> str:
        return ""  # torch's prints its out_proj only

