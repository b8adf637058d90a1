"""The quantizable MultiheadAttention (torch.ao.nn.quantizable.MultiheadAttention): the input
projections as three Linear layers (``linear_Q``, ``linear_K``, ``linear_V``), the query
scaling as a FloatFunctional, and QuantStub / DeQuantStub markers where attention leaves and
re-enters the quantized region, so that each can be observed. In float it computes
nn.MultiheadAttention's attention (without ``is_causal``, which it refuses, and without static
keys); its own parameters are the Linears' (``in_proj_weight`` & co. stay, unused, from
nn.MultiheadAttention)."""

from __future__ import annotations

import warnings

from dlpy import functional as F
from dlpy import nn
from dlpy.ao.nn.quantizable.modules.rnn import QuantizableAssertionError
from dlpy.ao.nn.quantized import FloatFunctional
from dlpy.ao.qtensor import QTensor, quantize_per_tensor
from dlpy.creation import zeros
from dlpy.ops import ArgError

__all__ = ["MultiheadAttention"]


class MultiheadAttention(nn.MultiheadAttention):
    """``QuantizableMultiheadAttention``: nn.MultiheadAttention's constructor and call,
    computed through explicit Linear projections (see the module)."""

    _FLOAT_MODULE = nn.MultiheadAttention

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device=None, dtype=None):
        from dlpy.ao.quantization import DeQuantStub, QuantStub

        super().__init__(embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim,
                         vdim, batch_first, device=device, dtype=dtype)
        kwargs = {"bias": bias, "device": device, "dtype": dtype}
        self.linear_Q = nn.Linear(self.embed_dim, self.embed_dim, **kwargs)
        self.linear_K = nn.Linear(self.kdim, self.embed_dim, **kwargs)
        self.linear_V = nn.Linear(self.vdim, self.embed_dim, **kwargs)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim, **kwargs)
        self.q_scaling_product = FloatFunctional()
        self.quant_attn_output, self.quant_attn_output_weights = QuantStub(), QuantStub()
        self.dequant_q, self.dequant_k, self.dequant_v = DeQuantStub(), DeQuantStub(), \
            DeQuantStub()

    def _get_name(self) -> str:
        return "QuantizableMultiheadAttention"

    @classmethod
    def from_float(cls, other):
        """The quantizable attention of an nn.MultiheadAttention (exactly that type) with a
        ``qconfig``: its weights split into linear_Q / K / V (new Parameters on slices of
        in_proj_weight / in_proj_bias; out_proj's and bias_k / bias_v shared), in eval mode,
        prepared."""
        from dlpy.ao.quantization import prepare

        if type(other) is not cls._FLOAT_MODULE:
            raise QuantizableAssertionError(f"Expected type {cls._FLOAT_MODULE}, got "
                                            f"{type(other)}")
        if not hasattr(other, "qconfig"):
            raise QuantizableAssertionError("The float module must have 'qconfig'")
        observed = cls(other.embed_dim, other.num_heads, other.dropout,
                       other.in_proj_bias is not None, other.bias_k is not None,
                       other.add_zero_attn, other.kdim, other.vdim, other.batch_first)
        observed.bias_k, observed.bias_v = other.bias_k, other.bias_v
        observed.qconfig = other.qconfig
        observed.out_proj.weight, observed.out_proj.bias = other.out_proj.weight, \
            other.out_proj.bias
        e = other.embed_dim
        parts = (("linear_Q", slice(0, e)), ("linear_K", slice(e, 2 * e)),
                 ("linear_V", slice(2 * e, None)))
        bias = other.in_proj_bias
        for (name, rows), single in zip(parts, ("q", "k", "v")):
            linear = getattr(observed, name)
            if other._qkv_same_embed_dim:
                weight = other.in_proj_weight[rows, :]
                linear.weight = nn.Parameter(weight, weight.requires_grad)
            else:
                linear.weight = nn.Parameter(getattr(other, f"{single}_proj_weight"))
            linear.bias = None if bias is None else nn.Parameter(bias[rows], bias.requires_grad)
        observed.eval()
        return prepare(observed, inplace=True)

    @classmethod
    def from_observed(cls, other):
        """Refused, as torch's: this class does float -> observed only."""
        raise NotImplementedError("It looks like you are trying to prepare an MHA module. "
                                  "Please, see the examples on quantizable MHAs.")

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """As nn.MultiheadAttention's (batched inputs only): (output, weights averaged over
        heads, per head without ``average_attn_weights``, None without ``need_weights``)."""
        return self._forward_impl(query, key, value, key_padding_mask, need_weights, attn_mask,
                                  average_attn_weights, is_causal)

    def _forward_impl(self, query, key, value, key_padding_mask=None, need_weights=True,
                      attn_mask=None, average_attn_weights=True, is_causal=False):
        if attn_mask is not None and is_causal:
            raise QuantizableAssertionError("Only allow causal mask or attn_mask")
        if is_causal:
            raise QuantizableAssertionError("causal mask not supported by AO MHA module")
        if self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        tgt_len, bsz, embed_dim = query.shape
        if self.embed_dim != embed_dim:
            raise QuantizableAssertionError(f"embed_dim mismatch: {self.embed_dim} != "
                                            f"{embed_dim}")
        if key.shape[0] != value.shape[0] or key.shape[1] != value.shape[1]:
            raise QuantizableAssertionError(f"key and value size mismatch: key.size()="
                                            f"{key.shape}, value.size()={value.shape}")
        heads = self.num_heads
        head_dim = self.embed_dim // heads
        q = self.q_scaling_product.mul_scalar(self.linear_Q(query), float(head_dim) ** -0.5)
        k, v = self.linear_K(key), self.linear_V(value)
        if attn_mask is not None:
            if str(attn_mask.dtype) in ("uint8", "torch.uint8"):
                warnings.warn("Byte tensor for `attn_mask` in `nn.MultiheadAttention` is "
                              "deprecated. Use bool tensor instead.", stacklevel=3)
                attn_mask = attn_mask.bool()
            if not attn_mask.is_floating_point() and not _is_bool(attn_mask):
                raise QuantizableAssertionError(f"Only float and bool types are supported for "
                                                f"attn_mask, not {attn_mask.dtype}")
            if attn_mask.ndim == 2:
                attn_mask = attn_mask.unsqueeze(0)
                if list(attn_mask.shape) != [1, query.shape[0], key.shape[0]]:
                    raise ArgError("The size of the 2D attn_mask is not correct.")
            elif attn_mask.ndim == 3:
                if list(attn_mask.shape) != [bsz * heads, query.shape[0], key.shape[0]]:
                    raise ArgError("The size of the 3D attn_mask is not correct.")
            else:
                raise ArgError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
        if key_padding_mask is not None and str(key_padding_mask.dtype) in ("uint8",
                                                                             "torch.uint8"):
            warnings.warn("Byte tensor for `key_padding_mask` in `nn.MultiheadAttention` is "
                          "deprecated. Use bool tensor instead.", stacklevel=3)
            key_padding_mask = key_padding_mask.bool()
        if self.bias_k is not None and self.bias_v is not None:
            k = F.cat([k, self.bias_k.repeat(1, bsz, 1)])
            v = F.cat([v, self.bias_v.repeat(1, bsz, 1)])
            if attn_mask is not None:
                attn_mask = F.pad(attn_mask, (0, 1))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, 1))
        elif self.bias_k is not None or self.bias_v is not None:
            raise QuantizableAssertionError("bias_k and bias_v must both be None or both set")
        q = q.contiguous().view(tgt_len, bsz * heads, head_dim).transpose(0, 1)
        k = k.contiguous().view(-1, bsz * heads, head_dim).transpose(0, 1)
        v = v.contiguous().view(-1, bsz * heads, head_dim).transpose(0, 1)
        src_len = k.shape[1]
        if key_padding_mask is not None:
            if key_padding_mask.shape[0] != bsz:
                raise QuantizableAssertionError(f"key_padding_mask.size(0) must be {bsz}, got "
                                                f"{key_padding_mask.shape[0]}")
            if key_padding_mask.shape[1] != src_len:
                raise QuantizableAssertionError(f"key_padding_mask.size(1) must be {src_len}, "
                                                f"got {key_padding_mask.shape[1]}")
        if self.add_zero_attn:
            src_len += 1
            k_zeros = zeros((k.shape[0], 1) + tuple(k.shape[2:]))
            if isinstance(k, QTensor):
                k_zeros = quantize_per_tensor(k_zeros, k.q_scale(), k.q_zero_point(), k.dtype)
            k = F.cat([k, k_zeros], 1)
            v_zeros = zeros((v.shape[0], 1) + tuple(k.shape[2:]))
            if isinstance(v, QTensor):
                v_zeros = quantize_per_tensor(v_zeros, v.q_scale(), v.q_zero_point(), v.dtype)
            v = F.cat([v, v_zeros], 1)
            if attn_mask is not None:
                attn_mask = F.pad(attn_mask, (0, 1))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, 1))
        q, k, v = self.dequant_q(q), self.dequant_k(k), self.dequant_v(v)
        weights = q.bmm(k.transpose(1, 2))
        if attn_mask is not None:
            weights = weights.masked_fill(attn_mask, float("-inf")) if _is_bool(attn_mask) \
                else weights + attn_mask
        if key_padding_mask is not None:
            weights = weights.view(bsz, heads, tgt_len, src_len).masked_fill(
                key_padding_mask.unsqueeze(1).unsqueeze(2), float("-inf")).view(
                bsz * heads, tgt_len, src_len)
        weights = F.softmax(weights, dim=-1)
        weights = F.dropout(weights, p=self.dropout, training=self.training)
        output = weights.bmm(v)
        if self.batch_first:  # torch's layout: (batch * heads, tgt, head_dim) read as
            # (batch, tgt, embed) (mixes the heads' rows when num_heads > 1, as torch's)
            output = output.view(bsz, tgt_len, self.embed_dim)
        else:
            output = output.transpose(0, 1).contiguous().view(tgt_len, bsz, self.embed_dim)
        output = self.out_proj(self.quant_attn_output(output))
        weights = self.quant_attn_output_weights(weights)
        if not need_weights:
            return output, None
        weights = weights.view(bsz, heads, tgt_len, src_len)
        return output, (weights.mean(dim=1) if average_attn_weights else weights)


def _is_bool(mask) -> bool:
    return str(mask.dtype) in ("bool", "torch.bool")
