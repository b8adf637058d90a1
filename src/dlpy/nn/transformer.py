"""The Transformer: encoder and decoder layers, post-LN (the report's) or pre-LN, and the whole
encoder-decoder model, named as in PyTorch."""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np

from dlpy import functional as F
from dlpy._caller import user_stacklevel
from dlpy.device import as_device
from dlpy.nn import init
from dlpy.nn.attention import MultiheadAttention, check_batch_first, pick
from dlpy.nn.attention.functional import AssertedShapeError, warn_mismatched_masks
from dlpy.nn.attention.multihead import ShapeAssertionError
from dlpy.nn.container import ModuleList
from dlpy.nn.linear import GELU, Linear, ReLU
from dlpy.nn.module import Module
from dlpy.nn.norm import Dropout, LayerNorm
from dlpy.ops import ArgError
from dlpy.ops.attention import additive_mask
from dlpy.random import get_rng, give_copies_own_rngs
from dlpy.tensor import (
    ShapeError,
    Tensor,
    as_array,
    default_dtype,
    is_floating_dtype,
    is_grad_enabled,
    parameter_dtype,
)

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def _activation_name(owner: str, activation):
    """The activation's name, "relu" or "gelu" (also given as the function F.relu / F.gelu),
    or another callable as it is (``torch.tanh``, ``nn.SiLU()``: PyTorch takes any)."""
    plain = inspect.unwrap(activation) if callable(activation) else activation
    for name, fn in _ACTIVATIONS.items():  # (unwrapped: dlpy.overrides may wrap F.gelu)
        if plain is inspect.unwrap(fn):
            return name
    if isinstance(activation, str) and activation in _ACTIVATIONS:
        return activation
    if callable(activation) and not isinstance(activation, str):
        return activation
    raise ArgError(f"{owner}: activation must be one of {sorted(_ACTIVATIONS)}, got "
                   f"{activation!r} (or a callable)")


def _relu_or_gelu(activation) -> int:
    """torch's TransformerEncoderLayer.activation_relu_or_gelu: 1 relu, 2 gelu (a name, F's
    function or an nn.ReLU / nn.GELU), 0 anything else."""
    if isinstance(activation, ReLU) or (isinstance(activation, str) and activation == "relu"):
        return 1
    return 2 if isinstance(activation, GELU) or (isinstance(activation, str)
                                                 and activation == "gelu") else 0


def _activation_config(activation) -> str:
    """What ``config`` (JSON) records of an activation: its name (a callable's own name)."""
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", type(activation).__name__)


def _layer_norm(d_model: int, eps: float, bias: bool, dtype) -> LayerNorm:
    return LayerNorm(d_model, eps=eps, bias=bias, dtype=dtype)


def _causal_mask(attn_mask, is_causal, x, memory, batch_first: bool, attention=None,
                 key_padding_mask=None):
    """dlpy's convenience (torch's MultiheadAttention refuses is_causal without a mask): a layer
    given *_is_causal and no mask gets the causal one, True above the diagonal; not where
    ``attention`` (self-attention on x) takes torch's fast path, which reads no is_causal."""
    if not is_causal or attn_mask is not None:
        return attn_mask
    if _self_attention_fast_path(attention, x, None, key_padding_mask):
        return None
    axis = 1 if batch_first and x.ndim == 3 else 0
    causal = np.triu(np.ones((x.shape[axis], memory.shape[axis]), dtype=bool), 1)
    # of a float padding mask's dtype (a mask of its own making is no "mismatched" mask)
    padding_dtype = getattr(key_padding_mask, "dtype", None)
    if padding_dtype is not None and is_floating_dtype(padding_dtype):
        return additive_mask(causal, padding_dtype)
    return causal


def _self_attention_fast_path(attention, x, attn_mask, key_padding_mask) -> bool:
    """Whether ``attention`` (a layer's self_attn) takes torch's fast path on x; not when it is
    wrapped (FSDP's wrapper, which forwards no attributes) or replaced."""
    return isinstance(attention, MultiheadAttention) \
        and attention._fast_path(x, x, x, attn_mask, key_padding_mask)


def _float_mask(mask, dtype):
    """torch's _canonical_mask: a boolean mask as an additive one of ``dtype`` (True: -inf), a
    float one as given."""
    if not isinstance(mask, (Tensor, np.ndarray)) or mask.dtype != np.bool_:
        return mask  # (None, a float mask, or an fx Proxy: as given)
    return Tensor(additive_mask(as_array(mask), dtype))


def _fused_masks(attn_mask, key_padding_mask, src, num_heads: int):
    """torch's fused encoder layer's masks: attn_mask ((seq, seq) or (batch * heads, seq, seq))
    and key_padding_mask ((batch, seq)) added as floats (True: -inf), then read as booleans,
    nonzero = not allowed. Returns (attn_mask, key_padding_mask) as boolean arrays."""
    as_bool = [None if m is None else additive_mask(as_array(m), np.float64) != 0
               for m in (attn_mask, key_padding_mask)]
    if attn_mask is None or key_padding_mask is None:
        return tuple(as_bool)
    batch, seq = src.shape[0], src.shape[1]
    added = additive_mask(as_array(attn_mask), np.float64)
    added = added.reshape(batch, num_heads, seq, seq) if added.ndim == 3 else added
    added = added + additive_mask(as_array(key_padding_mask), np.float64)[:, None, None, :]
    merged = np.broadcast_to(added != 0, (batch, num_heads, seq, seq))
    return merged.reshape(batch * num_heads, seq, seq), None


def _detect_is_causal_mask(mask, is_causal, seq_len: int) -> bool:
    """torch's stacks' hint: is_causal as given; None with a mask: whether the mask is the
    causal (seq_len, seq_len) one (True / -inf above the diagonal, False / 0 elsewhere), which
    lets the layers' attention drop it for its own causal mask (as torch's, whose dtype then
    does not matter)."""
    if is_causal is not None or mask is None:
        return is_causal is True
    mask = as_array(mask)
    if mask.shape != (seq_len, seq_len):
        return False
    future = np.triu(np.ones((seq_len, seq_len), dtype=bool), 1)
    causal = future if mask.dtype == np.bool_ else np.where(future, -np.inf, 0.0)
    return bool((mask == causal).all())


def _seq_len(x, batch_first: bool) -> int:
    """The sequence length of a layer's input: (seq, d) unbatched, else batch_first's axis."""
    return x.shape[0] if x.ndim == 2 else x.shape[1 if batch_first else 0]


def _check_shape(owner: str, name: str, x, shapes) -> None:
    """A mask (or input) must have one of ``shapes``; the error names the argument."""
    if x is None:
        return
    shape = np.shape(as_array(x))
    if shape not in shapes:  # (torch's MultiheadAttention: a RuntimeError for an attn_mask, an
        # assert for a key_padding_mask)
        error = AssertedShapeError if name.endswith("key_padding_mask") else ArgError
        raise error(f"{owner}: {name} must be {' or '.join(map(str, shapes))}, got {shape}")


class _Layer(Module):
    """What encoder and decoder layers share: the arguments (kept as ``config``), the
    self-attention and feed-forward blocks; the decoder adds attention to the encoder's output
    (``cross_attention``): ``multihead_attn``, ``norm3``, ``dropout3``."""

    cross_attention = False

    def __init__(self, d_model: int, num_heads: int | None = None, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", norm_first: bool = False,
                 rng=None, layer_norm_eps: float | None = None, dtype=None, *,
                 bias: bool = True, batch_first: bool = False, nhead: int | None = None,
                 device=None):
        owner = type(self).__name__
        if isinstance(norm_first, (int, float, np.number)) \
                and not isinstance(norm_first, (bool, np.bool_)):
            # a number where dlpy has norm_first: torch's positional order, ..., activation,
            # layer_norm_eps, batch_first, norm_first, bias
            layer_norm_eps, norm_first, torch_batch_first, torch_bias, rng, dtype = \
                norm_first, layer_norm_eps or False, rng, dtype, None, None
            batch_first = batch_first if torch_batch_first is None else torch_batch_first
            bias = bias if torch_bias is None else torch_bias
        layer_norm_eps = 1e-5 if layer_norm_eps is None else layer_norm_eps
        dtype = parameter_dtype(dtype, owner)
        super().__init__()
        num_heads = pick(owner, "num_heads", num_heads, "nhead", nhead)
        if num_heads is None:
            raise TypeError(f"{owner}: needs num_heads (or PyTorch's nhead)")
        activation = _activation_name(owner, activation)
        if not self.cross_attention:  # torch's encoder layer keeps it (its fast-path check)
            self.activation_relu_or_gelu = _relu_or_gelu(activation)
        if not isinstance(norm_first, (bool, np.bool_)):
            raise TypeError(f"{owner}: norm_first must be True or False, got {norm_first!r} "
                            "(dlpy's order is d_model, num_heads, dim_feedforward, dropout, "
                            "activation, norm_first, rng, layer_norm_eps: give PyTorch's "
                            "layer_norm_eps by keyword)")
        batch_first = check_batch_first(owner, batch_first)
        as_device(device, owner)  # the CPU only
        self.config = dict(d_model=d_model, num_heads=num_heads, dim_feedforward=dim_feedforward,
                           dropout=dropout, activation=_activation_config(activation),
                           norm_first=bool(norm_first),
                           layer_norm_eps=layer_norm_eps, bias=bool(bias),
                           batch_first=batch_first)
        self.norm_first = bool(norm_first)
        self.batch_first, self.num_heads = batch_first, num_heads
        # assignment order = PyTorch's parameter order; the attention layers are torch's
        # MultiheadAttention in the layer's own layout (it sees the layer's tensors as they
        # come, unbatched ones too, as torch's: hooks on self_attn see torch's shapes)
        self.self_attn = MultiheadAttention(d_model, num_heads, dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype, rng=rng)
        if self.cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, num_heads, dropout, bias=bias,
                                                     batch_first=batch_first, dtype=dtype,
                                                     rng=rng)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, rng=rng, dtype=dtype)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, rng=rng, dtype=dtype)
        self.norm1 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.norm2 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        if self.cross_attention:
            self.norm3 = _layer_norm(d_model, layer_norm_eps, bias, dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        if self.cross_attention:
            self.dropout3 = Dropout(dropout, rng=rng)
        # last, as torch: a Module activation is the last child (repr, state_dict order); a
        # name gives the function (torch's layer.activation is F.relu)
        self._activation_name = activation if isinstance(activation, str) else None
        self.activation = getattr(F, activation) if isinstance(activation, str) else activation

    def _feedforward(self, x, last_dropout):
        # a name's function looked up now (dlpy.overrides may have wrapped F.relu, and fx
        # records F's own), unless the activation was replaced since; a function a program
        # patched onto F (one that does not unwrap to F's own: a FLOP counter's) is not seen,
        # as torch's layer holds F.relu from its construction
        activation, name = self.activation, self._activation_name
        if name is not None and inspect.unwrap(activation) is inspect.unwrap(_ACTIVATIONS[name]):
            current = getattr(F, name)
            if inspect.unwrap(current) is inspect.unwrap(_ACTIVATIONS[name]):
                activation = current
        hidden = self.dropout(activation(self.linear1(x)))
        return last_dropout(self.linear2(hidden))


class TransformerEncoderLayer(_Layer):
    """PyTorch's nn.TransformerEncoderLayer (same parameter names and defaults: dropout 0.1,
    batch_first=False, so x is (seq, batch, d_model) unless batch_first=True).

    post-LN (norm_first=False): x = norm1(x + attn(x)); x = norm2(x + ff(x))
    pre-LN (norm_first=True):   x = x + attn(norm1(x)); x = x + ff(norm2(x))
    with ff(x) = linear2(dropout(activation(linear1(x)))).
    """

    def forward(self, src: Tensor, src_mask=None, src_key_padding_mask=None,
                is_causal: bool = False) -> Tensor:
        """torch's call (its parameters): src_mask (seq, seq): True = not allowed (or float,
        added to the scores); src_key_padding_mask (batch, seq): True marks padding. Padded
        positions still get outputs; real positions never see them."""
        key_padding_mask, attn_mask = src_key_padding_mask, src_mask
        warn_mismatched_masks(key_padding_mask, attn_mask, ("src_key_padding_mask", "src_mask"))
        # torch's layer makes its boolean masks float before using them: its self_attn sees
        # float masks (which keep MultiheadAttention off its own fast path)
        key_padding_mask, attn_mask = (_float_mask(mask, src.dtype)
                                       for mask in (key_padding_mask, attn_mask))
        x = src  # (seq, d_model) unbatched: self_attn takes it as it is
        if self._fast_path(src):
            # torch's fused layer (_transformer_encoder_layer_fwd) reads no is_causal, and its
            # masks merged (added as floats) as a boolean mask: nonzero is not allowed
            attn_mask, key_padding_mask = _fused_masks(attn_mask, key_padding_mask, src,
                                                       self.num_heads)
            is_causal = False
        if self.norm_first:
            x = x + self._attention(self.norm1(x), key_padding_mask, attn_mask, is_causal)
            x = x + self._feedforward(self.norm2(x), self.dropout2)
        else:
            x = self.norm1(x + self._attention(x, key_padding_mask, attn_mask, is_causal))
            x = self.norm2(x + self._feedforward(x, self.dropout2))
        return x

    def _fast_path(self, src) -> bool:
        """Whether torch's forward takes its fused inference path: batched src in eval mode,
        batch_first, biases, a relu or gelu activation, one eps for both norms, an even
        number of heads, no hooks, nothing that wants a gradient."""
        from dlpy.amp.state import is_autocast_enabled
        from dlpy.backends import mha

        attention = self.self_attn
        if not isinstance(attention, MultiheadAttention):  # wrapped (FSDP) or replaced
            return False
        tensors = (src, attention.in_proj_weight, attention.in_proj_bias,
                   attention.out_proj.weight, attention.out_proj.bias, self.norm1.weight,
                   self.norm1.bias, self.norm2.weight, self.norm2.bias, self.linear1.weight,
                   self.linear1.bias, self.linear2.weight, self.linear2.bias)
        return (isinstance(src, Tensor) and not self.training and mha.get_fastpath_enabled()
                and src.ndim == 3
                and self.batch_first and attention.in_proj_bias is not None
                and attention._qkv_same_embed_dim and bool(self.activation_relu_or_gelu)
                and self.norm1.eps == self.norm2.eps and self.num_heads % 2 == 0
                and not is_autocast_enabled("cpu")
                and not any(m._forward_hooks or m._forward_pre_hooks for m in self.modules())
                and not (is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad
                                                   for t in tensors)))

    def _attention(self, x, key_padding_mask, attn_mask, is_causal):
        attn_mask = _causal_mask(attn_mask, is_causal, x, x, self.batch_first, self.self_attn,
                                 key_padding_mask)
        out, _ = self.self_attn(x, x, x, key_padding_mask=key_padding_mask,
                                attn_mask=attn_mask, need_weights=False, is_causal=is_causal)
        return self.dropout1(out)


class TransformerDecoderLayer(_Layer):
    """PyTorch's nn.TransformerDecoderLayer with batch_first=True (same parameter names): self-
    attention over the target, attention to the encoder's output (memory), feed-forward.

    post-LN: x = norm1(x + self_attn(x)); x = norm2(x + cross_attn(x, memory));
             x = norm3(x + ff(x))
    pre-LN:  x = x + self_attn(norm1(x)); x = x + cross_attn(norm2(x), memory);
             x = x + ff(norm3(x))
    tgt (batch, seq_t, d_model), memory (batch, seq_s, d_model) -> (batch, seq_t, d_model)
    with batch_first=True; (seq, batch, d_model) each with torch's default batch_first=False.
    """

    cross_attention = True

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None,
                tgt_is_causal: bool | None = False, memory_is_causal: bool = False) -> Tensor:
        """tgt_mask (seq_t, seq_t), memory_mask (seq_t, seq_s) (or (batch * num_heads, ...)):
        True = not allowed, or float, added to the scores; tgt_key_padding_mask (batch, seq_t),
        memory_key_padding_mask (batch, seq_s): True marks padding. *_is_causal: without a mask,
        make the causal one; with a mask, a hint (the mask is used as given), as PyTorch."""
        x = tgt  # unbatched (seq, d_model) ones too: the attention layers take them as they are
        # a mask with the *_is_causal hint and no padding mask is not read (torch's attention
        # hands is_causal on to SDPA in its place): its shape is not checked either
        self._check(x, memory,
                    None if tgt_is_causal and tgt_key_padding_mask is None
                    and not _self_attention_fast_path(self.self_attn, x, tgt_mask, None)
                    else tgt_mask,
                    None if memory_is_causal and memory_key_padding_mask is None
                    else memory_mask, tgt_key_padding_mask, memory_key_padding_mask)
        if self.norm_first:
            x = x + self._self_block(self.norm1(x), tgt_mask, tgt_key_padding_mask,
                                     tgt_is_causal)
            x = x + self._cross_block(self.norm2(x), memory, memory_mask,
                                      memory_key_padding_mask, memory_is_causal)
            x = x + self._feedforward(self.norm3(x), self.dropout3)
        else:
            x = self.norm1(x + self._self_block(x, tgt_mask, tgt_key_padding_mask,
                                                tgt_is_causal))
            x = self.norm2(x + self._cross_block(x, memory, memory_mask,
                                                 memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._feedforward(x, self.dropout3))
        return x

    def _self_block(self, x, attn_mask, key_padding_mask, is_causal):
        attn_mask = _causal_mask(attn_mask, is_causal, x, x, self.batch_first, self.self_attn,
                                 key_padding_mask)
        out, _ = self.self_attn(x, x, x, key_padding_mask=key_padding_mask,
                                attn_mask=attn_mask, need_weights=False,
                                is_causal=bool(is_causal))
        return self.dropout1(out)

    def _cross_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        attn_mask = _causal_mask(attn_mask, is_causal, x, memory, self.batch_first)
        out, _ = self.multihead_attn(x, memory, memory, key_padding_mask=key_padding_mask,
                                     attn_mask=attn_mask, need_weights=False,
                                     is_causal=bool(is_causal))
        return self.dropout2(out)

    def _check(self, tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
               memory_key_padding_mask):
        owner, d = "TransformerDecoderLayer", self.config["d_model"]
        seq_axis = 1 if self.batch_first and tgt.ndim == 3 else 0  # unbatched: (seq, d_model)
        if tgt.ndim not in (2, 3) or memory.ndim != tgt.ndim or tgt.shape[-1] != d \
                or memory.shape[-1] != d or tgt.shape[1 - seq_axis] != memory.shape[1 - seq_axis]:
            layout = "batch, seq_{}" if self.batch_first else "seq_{}, batch"
            # (torch: a RuntimeError for a width, its MultiheadAttention's assert for ranks)
            ranks = tgt.shape[-1] == d and memory.shape[-1] == d \
                and (tgt.ndim not in (2, 3) or memory.ndim != tgt.ndim)
            raise (ShapeAssertionError if ranks else ShapeError)(
                f"{owner}: expected tgt ({layout.format('t')}, {d}) and memory "
                f"({layout.format('s')}, {d}), got {tgt.shape} and {memory.shape} "
                f"(or both unbatched: (seq, {d}))")
        seq_t, seq_s = tgt.shape[seq_axis], memory.shape[seq_axis]
        batch = 1 if tgt.ndim == 2 else tgt.shape[1 - seq_axis]
        heads = batch * self.num_heads
        _check_shape(owner, "tgt_mask", tgt_mask, [(seq_t, seq_t), (heads, seq_t, seq_t)])
        _check_shape(owner, "memory_mask", memory_mask, [(seq_t, seq_s), (heads, seq_t, seq_s)])
        padding = (lambda seq: [(seq,)]) if tgt.ndim == 2 else (lambda seq: [(batch, seq)])
        _check_shape(owner, "tgt_key_padding_mask", tgt_key_padding_mask, padding(seq_t))
        _check_shape(owner, "memory_key_padding_mask", memory_key_padding_mask, padding(seq_s))


def _make_layers(owner, layer_class, layer_config, num_layers, rng):
    """num_layers layers: fresh ones from a dict of arguments, or deep copies of a layer (each
    with generators of its own, else every copy draws the same dropout masks). A dict is
    dlpy's own form and keeps dlpy's defaults (batch_first=True, dropout 0.0); a layer keeps
    its own settings (torch's defaults). Returns the layers and their config (the arguments in
    full, as the layers checked them)."""
    if num_layers < 1:
        raise ValueError(f"{owner}: num_layers must be at least 1, got {num_layers}")
    if isinstance(layer_config, layer_class):
        layers = [copy.deepcopy(layer_config) for _ in range(num_layers)]
        give_copies_own_rngs(layer_config, layers)
    elif isinstance(layer_config, dict):
        rng = rng if rng is not None else layer_config.get("rng")
        layer_config = {"batch_first": True, "dropout": 0.0, **layer_config, "rng": rng}
        layers = [layer_class(**layer_config) for _ in range(num_layers)]
    else:
        raise TypeError(f"{owner}: layer_config must be a dict of {layer_class.__name__} "
                        f"arguments or a {layer_class.__name__}, got {type(layer_config).__name__}")
    return layers, layers[0].config


class _Stack(Module):
    """Layers ``layers.0``, ``layers.1``, ... (as in PyTorch), then an optional final ``norm``
    (True: a LayerNorm as the layers'). layer_config: the keyword arguments of ``layer_class``
    (each layer initialised afresh from ``rng``), or a layer that is copied num_layers times as
    PyTorch does."""

    layer_class: type[_Layer] = _Layer

    def __init__(self, layer_config: dict | _Layer, num_layers: int,
                 norm: LayerNorm | bool | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True, *, rng=None):
        # enable_nested_tensor, mask_check: torch's fast-path switches, nothing to switch here
        super().__init__()
        given_layer = isinstance(layer_config, _Layer)  # torch's form (a dict is dlpy's)
        layers, layer_config = _make_layers(type(self).__name__, self.layer_class, layer_config,
                                            num_layers, rng)
        self.num_layers = num_layers
        if self.layer_class is TransformerEncoderLayer:  # torch's encoder keeps them
            self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check
            self.use_nested_tensor = enable_nested_tensor
            # torch warns when its layer cannot take the nested-tensor fast path (dlpy's
            # dict form is dlpy's own: no warning)
            self._refuse_nested_tensor(layers[0], warn=given_layer)
        self.layers = ModuleList(layers)
        if norm is True:
            norm = _layer_norm(layer_config["d_model"], layer_config.get("layer_norm_eps", 1e-5),
                               layer_config.get("bias", True), layers[0].norm1.weight.dtype)
        self.norm = norm or None
        self.config = dict(layer_config=dict(layer_config), num_layers=num_layers,
                           norm=self.norm is not None)


    def _refuse_nested_tensor(self, layer, warn: bool) -> None:
        """torch's TransformerEncoder check: use_nested_tensor False (and a UserWarning) when
        enable_nested_tensor is on but ``layer`` cannot take that fast path."""
        why = "encoder_layer."
        if layer.norm_first:
            why += "norm_first was True"
        elif not layer.batch_first:
            why += ("self_attn.batch_first was not True(use batch_first for better inference "
                    "performance)")
        elif not layer.config["bias"]:
            why += "self_attn was passed bias=False"
        elif not layer.activation_relu_or_gelu:
            why += "activation_relu_or_gelu was not True"
        elif layer.norm1.eps != layer.norm2.eps:
            why += "norm1.eps was not equal to encoder_layer.norm2.eps"
        elif layer.num_heads % 2 == 1:
            why += "self_attn.num_heads is odd"
        else:
            return
        if self.enable_nested_tensor:
            if warn:
                warnings.warn("enable_nested_tensor is True, but self.use_nested_tensor is False "
                              f"because {why}", stacklevel=user_stacklevel())
            self.use_nested_tensor = False


class TransformerEncoder(_Stack):
    """num_layers encoder layers (``layers.0``, ``layers.1``, ... as in PyTorch), then an optional
    final ``norm``: ``TransformerEncoder(encoder_layer, num_layers, norm=None,
    enable_nested_tensor=True, mask_check=True, *, rng=None)``, with encoder_layer a layer to
    copy (torch's) or a dict of TransformerEncoderLayer's keyword arguments (dlpy's).
    """

    layer_class = TransformerEncoderLayer

    def forward(self, src: Tensor, mask=None, src_key_padding_mask=None,
                is_causal: bool | None = None) -> Tensor:
        """torch's call (its parameters): src in the layers' layout, (seq, batch, d_model) or
        with batch_first (batch, seq, d_model), mask (seq, seq), src_key_padding_mask (batch,
        seq). Each layer is called as torch's calls it (src_mask=, is_causal=,
        src_key_padding_mask= keywords)."""
        x, key_padding_mask, attn_mask = src, src_key_padding_mask, mask
        warn_mismatched_masks(key_padding_mask, attn_mask, ("src_key_padding_mask", "mask"))
        # float, as torch's encoder makes them (its layers see float masks: no second warning)
        key_padding_mask, attn_mask = (_float_mask(m, src.dtype)
                                       for m in (key_padding_mask, attn_mask))
        keep = self._nested_keep(x, key_padding_mask, attn_mask)
        is_causal = _detect_is_causal_mask(attn_mask, is_causal,
                                           _seq_len(x, self.layers[0].batch_first))
        for layer in self.layers:
            x = layer(x, src_mask=attn_mask, is_causal=is_causal,
                      src_key_padding_mask=key_padding_mask)
        if keep is not None:  # torch's nested-tensor path pads its output back with zeros
            x = x.masked_fill(Tensor(~keep[..., None]), 0.0)
        return x if self.norm is None else self.norm(x)

    def _nested_keep(self, src, key_padding_mask, attn_mask):
        """The (batch, seq) keep mask where torch would run its nested-tensor fast path
        (inference, padding mask alone, left-aligned padding), else None."""
        layer = self.layers[0]
        if (key_padding_mask is None or attn_mask is not None or layer.training
                or not getattr(self, "use_nested_tensor", False) or src.ndim != 3):
            return None
        if is_grad_enabled() and (src.requires_grad
                                  or any(p.requires_grad for p in layer.parameters())):
            return None
        mask = as_array(key_padding_mask)
        keep = ~mask if mask.dtype == np.bool_ else mask == 0
        if keep.shape != src.shape[:2]:
            return None
        if getattr(self, "mask_check", True):
            # left-aligned: no kept position after a padded one
            if (np.cumsum(~keep, axis=1).astype(bool) & keep).any():
                return None
        return keep


class TransformerDecoder(_Stack):
    """num_layers decoder layers (``layers.0``, ...), then an optional final ``norm``:
    ``TransformerDecoder(layer_config, num_layers, norm=None, rng=None)``, with layer_config the
    keyword arguments of TransformerDecoderLayer or a layer to copy.
    """

    layer_class = TransformerDecoderLayer

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        """tgt (batch, seq_t, d_model), memory (batch, seq_s, d_model) -> (batch, seq_t,
        d_model); the masks as TransformerDecoderLayer's, given to every layer (tgt_is_causal
        None: True when tgt_mask is the causal mask, as torch's)."""
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal,
                                               _seq_len(tgt, self.layers[0].batch_first))
        for layer in self.layers:
            tgt = layer(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return tgt if self.norm is None else self.norm(tgt)


class Transformer(Module):
    """PyTorch's nn.Transformer (its defaults: dropout 0.1, batch_first=False): encoder
    (num_encoder_layers layers and a final norm) and decoder (num_decoder_layers layers and a
    final norm), parameters named
    ``encoder.layers.0....``, ``encoder.norm....``, ``decoder.layers.0....``, ``decoder.norm....``.
    Every parameter of two or more axes starts Xavier-uniform, as PyTorch's.

    forward(src (seq_s, batch, d_model), tgt (seq_t, batch, d_model)) -> (seq_t, batch, d_model),
    or (batch, seq, d_model) each with batch_first=True.
    """

    def __init__(self, d_model: int = 512, num_heads: int | None = None,
                 num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, rng=None, dtype=None, *,
                 nhead: int | None = None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        num_heads = pick("Transformer", "num_heads", num_heads, "nhead", nhead)
        num_heads = 8 if num_heads is None else num_heads
        batch_first = check_batch_first("Transformer", batch_first)
        activation = _activation_name("Transformer", activation)
        layer = dict(d_model=d_model, num_heads=num_heads, dim_feedforward=dim_feedforward,
                     dropout=dropout, activation=activation, norm_first=norm_first,
                     layer_norm_eps=layer_norm_eps, bias=bias, rng=rng, dtype=dtype,
                     batch_first=batch_first)  # (rng None: the default generator's one stream)
        rng = get_rng(rng)
        # as torch's: one layer of each kind drawn, then copied (the copies draw nothing)
        self.encoder = custom_encoder if custom_encoder is not None else \
            TransformerEncoder(TransformerEncoderLayer(**layer), num_encoder_layers, norm=True)
        self.decoder = custom_decoder if custom_decoder is not None else \
            TransformerDecoder(TransformerDecoderLayer(**layer), num_decoder_layers, norm=True)
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p, generator=rng)
        self.d_model, self.num_heads = d_model, num_heads
        self.nhead, self.batch_first = num_heads, batch_first  # PyTorch's attributes
        self.config = None if custom_encoder is not None or custom_decoder is not None else dict(
            d_model=d_model, num_heads=num_heads, num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
            dropout=dropout, activation=_activation_config(activation),
            layer_norm_eps=layer_norm_eps, norm_first=bool(norm_first), bias=bool(bias),
            batch_first=batch_first)

    def _reset_parameters(self) -> None:
        """PyTorch's: every parameter of two or more dimensions redrawn Xavier-uniform in
        place with the default generator."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        """Masks: True = not allowed (or float, added to the scores); src_mask (seq_s, seq_s),
        tgt_mask (seq_t, seq_t), memory_mask (seq_t, seq_s); the *_key_padding_mask (batch,
        seq): True marks padding. generate_square_subsequent_mask(seq_t) is the causal tgt_mask."""
        owner, d, axis = "Transformer", self.d_model, 0 if self.batch_first else 1
        unbatched = src.ndim == 2 and tgt.ndim == 2  # (seq_s, d) and (seq_t, d), as PyTorch's
        if not unbatched and (src.ndim != 3 or tgt.ndim != 3
                              or src.shape[axis] != tgt.shape[axis]) \
                or src.shape[-1] != d or tgt.shape[-1] != d:
            layout = "(batch, seq_{}, %d)" if self.batch_first else "(seq_{}, batch, %d)"
            # (torch: a RuntimeError for widths or batches, its MultiheadAttention's assert for
            # ranks)
            ranks = src.shape[-1] == d and tgt.shape[-1] == d and not (
                src.ndim == 3 and tgt.ndim >= 2 and src.shape[axis] != tgt.shape[axis])
            raise (ShapeAssertionError if ranks else ShapeError)(
                f"{owner}: expected src {layout.format('s') % d} and tgt "
                f"{layout.format('t') % d}, got {src.shape} and {tgt.shape} "
                f"(or both unbatched: (seq, {d}))")
        batch, seq_s = (1, src.shape[0]) if unbatched else (src.shape[axis], src.shape[1 - axis])
        _check_shape(owner, "src_mask", src_mask,
                     [(seq_s, seq_s), (batch * self.num_heads, seq_s, seq_s)])
        _check_shape(owner, "src_key_padding_mask", src_key_padding_mask,
                     [(seq_s,)] if unbatched else [(batch, seq_s)])
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """(sz, sz) float mask: -inf above the diagonal (the future), 0 elsewhere, as PyTorch's:
        a Tensor without gradient (``.to(device)`` as torch programs call it)."""
        dtype = default_dtype(dtype)  # None: the default dtype now (torch's)
        as_device(device, "generate_square_subsequent_mask")
        if np.issubdtype(dtype, np.integer):  # torch's full(-inf) refuses (bool: True above)
            raise RuntimeError(f"generate_square_subsequent_mask: -inf cannot be held by "
                               f"{np.dtype(dtype).name}; give a floating dtype (or bool)")
        future = np.triu(np.ones((sz, sz), dtype=bool), 1)
        return Tensor(np.where(future, -np.inf, 0.0).astype(dtype))
