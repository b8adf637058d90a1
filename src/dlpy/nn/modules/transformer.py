"""``torch.nn.modules.transformer``: the transformer modules (dlpy.nn.transformer's) and the
helpers programs import from there: ``_get_activation_fn`` ("relu"/"gelu" to F.relu/F.gelu),
``_get_clones`` (a ModuleList of N deep copies), ``_generate_square_subsequent_mask``,
``_get_seq_len`` and ``_detect_is_causal_mask``, with torch's signatures."""

import copy

from dlpy import functional as F
from dlpy.nn.attention import MultiheadAttention  # noqa: F401
from dlpy.nn.container import ModuleList
from dlpy.nn.init import xavier_uniform_  # noqa: F401
from dlpy.nn.linear import Linear  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.norm import (
    Dropout,  # noqa: F401
    LayerNorm,  # noqa: F401
)
from dlpy.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    _seq_len,
)
from dlpy.nn.transformer import (
    _detect_is_causal_mask as _detect_causal,
)

__all__ = [
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer",
]


def _get_activation_fn(activation: str):
    """The function of a transformer layer's activation name: "relu" F.relu, "gelu" F.gelu;
    another name torch's RuntimeError."""
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _get_clones(module, N: int) -> ModuleList:  # noqa: N803 - torch's name
    """A ModuleList of N deep copies of ``module`` (the layers of a stack, as torch's)."""
    return ModuleList([copy.deepcopy(module) for _ in range(N)])


def _generate_square_subsequent_mask(sz: int, device=None, dtype=None):
    """The causal (sz, sz) mask: -inf above the diagonal, 0 elsewhere, of ``dtype`` (default:
    the default dtype), as Transformer.generate_square_subsequent_mask."""
    return Transformer.generate_square_subsequent_mask(sz, device, dtype)


def _get_seq_len(src, batch_first: bool):
    """The sequence length of a layer's input: (seq, d) unbatched, else axis 1 with
    batch_first, axis 0 without; None for a nested tensor (torch's)."""
    if getattr(src, "is_nested", False):
        return None
    return _seq_len(src, batch_first)


def _detect_is_causal_mask(mask, is_causal=None, size=None) -> bool:
    """is_causal as given (True only for True); None with a mask: whether the mask is the
    causal (size, size) one (size default: the mask's second last axis), as torch's."""
    if is_causal is None and mask is not None and size is None:
        size = mask.shape[-2]
    return _detect_causal(mask, is_causal, size)
