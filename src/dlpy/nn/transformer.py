"""The Transformer encoder: post-LN (the report's) or pre-LN layers, named as in PyTorch."""

from __future__ import annotations

import copy

import numpy as np

from dlpy import functional as F
from dlpy.nn.attention import MultiHeadAttention
from dlpy.nn.container import ModuleList
from dlpy.nn.linear import Linear
from dlpy.nn.module import Module
from dlpy.nn.norm import Dropout, LayerNorm
from dlpy.random import give_copies_own_rngs
from dlpy.tensor import Tensor

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """PyTorch's nn.TransformerEncoderLayer with batch_first=True (same parameter names).

    post-LN (norm_first=False): x = norm1(x + attn(x)); x = norm2(x + ff(x))
    pre-LN (norm_first=True):   x = x + attn(norm1(x)); x = x + ff(norm2(x))
    with ff(x) = linear2(dropout(activation(linear1(x)))); x is (batch, seq, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, rng=None,
                 layer_norm_eps: float = 1e-5, dtype=np.float32):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"TransformerEncoderLayer: activation must be one of {sorted(_ACTIVATIONS)}, "
                f"got {activation!r}"
            )
        self.config = dict(d_model=d_model, num_heads=num_heads, dim_feedforward=dim_feedforward,
                           dropout=dropout, activation=activation, norm_first=norm_first,
                           layer_norm_eps=layer_norm_eps)
        self.activation, self.norm_first = activation, norm_first
        # assignment order = PyTorch's parameter order
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, rng=rng, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, rng=rng, dtype=dtype)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, rng=rng, dtype=dtype)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)

    def forward(self, x: Tensor, key_padding_mask=None, attn_mask=None) -> Tensor:
        """key_padding_mask (batch, seq): True marks padding; attn_mask (seq, seq): True = not
        allowed. Padded positions still get outputs; real positions never see them."""
        if self.norm_first:
            x = x + self._attention(self.norm1(x), key_padding_mask, attn_mask)
            return x + self._feedforward(self.norm2(x))
        x = self.norm1(x + self._attention(x, key_padding_mask, attn_mask))
        return self.norm2(x + self._feedforward(x))

    def _attention(self, x, key_padding_mask, attn_mask):
        out = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask)
        return self.dropout1(out)

    def _feedforward(self, x):
        hidden = self.dropout(_ACTIVATIONS[self.activation](self.linear1(x)))
        return self.dropout2(self.linear2(hidden))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, norm_first={self.norm_first}"


class TransformerEncoder(Module):
    """num_layers encoder layers (``layers.0``, ``layers.1``, ... as in PyTorch), then an optional
    final ``norm``.

    layer_config: the keyword arguments of TransformerEncoderLayer (each layer initialised afresh
    from ``rng``), or a TransformerEncoderLayer that is copied num_layers times as PyTorch does.
    """

    def __init__(self, layer_config: dict | TransformerEncoderLayer, num_layers: int,
                 norm: LayerNorm | bool | None = None, rng=None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"TransformerEncoder: num_layers must be at least 1, got {num_layers}")
        if isinstance(layer_config, TransformerEncoderLayer):
            layers = [copy.deepcopy(layer_config) for _ in range(num_layers)]
            give_copies_own_rngs(layer_config, layers)  # else every copy draws the same masks
            layer_config = layer_config.config
        elif isinstance(layer_config, dict):
            rng = rng if rng is not None else layer_config.get("rng")
            kwargs = {**layer_config, "rng": rng}
            layers = [TransformerEncoderLayer(**kwargs) for _ in range(num_layers)]
        else:
            raise TypeError(
                "TransformerEncoder: layer_config must be a dict of TransformerEncoderLayer "
                f"arguments or a TransformerEncoderLayer, got {type(layer_config).__name__}"
            )
        self.num_layers = num_layers
        self.layers = ModuleList(layers)
        if norm is True:
            norm = LayerNorm(layer_config["d_model"], eps=layer_config.get("layer_norm_eps", 1e-5),
                             dtype=layers[0].norm1.weight.dtype)
        self.norm = norm or None
        config = {k: v for k, v in layer_config.items() if k not in ("rng", "dtype")}
        self.config = dict(layer_config=config, num_layers=num_layers, norm=self.norm is not None)

    def forward(self, x: Tensor, key_padding_mask=None, attn_mask=None) -> Tensor:
        """x (batch, seq, d_model) -> (batch, seq, d_model)."""
        for layer in self.layers:
            x = layer(x, key_padding_mask=key_padding_mask, attn_mask=attn_mask)
        return x if self.norm is None else self.norm(x)

