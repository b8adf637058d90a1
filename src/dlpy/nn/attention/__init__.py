"""torch.nn.attention's names: MultiheadAttention (multihead.py), ``sdpa_kernel`` and
``SDPBackend`` here, ``flex_attention`` (flex_attention.py) and the causal biases (bias.py).

dlpy has one attention kernel, the fused math one of ops/attention.py, so ``sdpa_kernel``
accepts torch's backends, checks them and changes nothing: torch code runs as it is.
"""

from __future__ import annotations

import contextlib
import enum

from dlpy.nn.attention.multihead import (  # noqa: F401 (transformer.py imports the helpers here)
    MultiHeadAttention,
    MultiheadAttention,
    check_batch_first,
    pick,
)

__all__ = ["MultiHeadAttention", "MultiheadAttention", "SDPBackend", "sdpa_kernel"]


class SDPBackend(enum.IntEnum):
    """torch.nn.attention.SDPBackend, the same members and values. dlpy runs every one of them
    as its single math kernel (the one torch's MATH backend is)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority: bool = False):
    """torch.nn.attention.sdpa_kernel: accepts one SDPBackend or a list of them and does
    nothing else (dlpy has one kernel); usable as ``with`` and as a decorator, as torch's."""
    items = [backends] if isinstance(backends, SDPBackend) else backends
    if not isinstance(items, (list, tuple)) or not all(isinstance(b, SDPBackend) for b in items):
        raise TypeError("sdpa_kernel: expected an SDPBackend or a list of SDPBackend, got "
                        f"{backends!r}")
    yield {}
