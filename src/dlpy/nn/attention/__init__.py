"""torch.nn.attention's names: MultiheadAttention (multihead.py), ``sdpa_kernel`` and
``SDPBackend`` here, ``flex_attention`` (flex_attention.py) and the causal biases (bias.py).

dlpy has one attention kernel, the fused math one of ops/attention.py, so ``sdpa_kernel``
accepts torch's backends, checks them and changes nothing: torch code runs as it is.
"""

from __future__ import annotations

import contextlib
import enum

from dlpy.backends.cuda import (  # noqa: F401 - torch.nn.attention re-exports them
    SDPAParams,
    can_use_efficient_attention,
    can_use_flash_attention,
)
from dlpy.nn.attention.multihead import (  # noqa: F401 (transformer.py imports the helpers here)
    MultiHeadAttention,
    MultiheadAttention,
    check_batch_first,
    pick,
)

__all__ = ["MultiHeadAttention", "MultiheadAttention", "SDPBackend", "WARN_FOR_UNFUSED_KERNELS",
           "activate_flash_attention_impl", "current_flash_attention_impl",
           "list_flash_attention_impls",
           "register_flash_attention_impl", "restore_flash_attention_impl", "sdpa_kernel"]

# torch's switch for warnings about why a fused kernel could not run an attention bias
# subclass; dlpy has no fused kernels, so it changes nothing
WARN_FOR_UNFUSED_KERNELS = False


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


# The registry of flash-attention implementations (torch.nn.attention's FA3 / FA4 providers):
# a name -> the callable that installs it. torch registers FA3 and FA4, whose installers import
# the flash_attn_interface / flash_attn CUDA packages; dlpy keeps those names, and activating
# them fails with ModuleNotFoundError (no CUDA kernels in dlpy), as torch's does without them.
_FLASH_ATTENTION_IMPLS: dict = {}
_FLASH_ATTENTION_ACTIVE: list = [None]  # [(name, handle)] or [None]


def register_flash_attention_impl(impl: str, *, register_fn) -> None:
    """Register (or replace) the callable that activates the flash-attention implementation
    ``impl``; ``activate_flash_attention_impl(impl)`` calls it."""
    _FLASH_ATTENTION_IMPLS[impl] = register_fn


def activate_flash_attention_impl(impl: str) -> None:
    """Restore the default implementation, then call the installer registered for ``impl``
    (ValueError for an unknown name). A handle it returns (an object with ``remove()``) is
    kept, and ``impl`` becomes the current implementation."""
    restore_flash_attention_impl(_raise_warn=False)
    register_fn = _FLASH_ATTENTION_IMPLS.get(impl)
    if register_fn is None:
        raise ValueError(f"Unknown flash attention impl '{impl}'. Available implementations: "
                         f"{list_flash_attention_impls()}")
    handle = register_fn()
    if handle is not None:
        _FLASH_ATTENTION_ACTIVE[0] = (impl, handle)


def list_flash_attention_impls() -> list[str]:
    """The registered implementations' names, sorted."""
    return sorted(_FLASH_ATTENTION_IMPLS)


def current_flash_attention_impl() -> str | None:
    """The name of the activated implementation, None when none is (the default)."""
    active = _FLASH_ATTENTION_ACTIVE[0]
    return None if active is None else active[0]


def restore_flash_attention_impl(_raise_warn: bool = True) -> None:
    """Go back to the default implementation: ``remove()`` the active one's handle (torch
    logs a warning when none was active)."""
    active = _FLASH_ATTENTION_ACTIVE[0]
    if active is not None:
        active[1].remove()
    elif _raise_warn:
        import logging

        logging.getLogger(__name__).warning(
            "Trying to restore default FA2 impl when no custom impl was activated")
    _FLASH_ATTENTION_ACTIVE[0] = None


def _needs_package(package: str):
    def register_fn(*args, **kwargs):
        raise ModuleNotFoundError(f"No module named '{package}' (dlpy has no CUDA flash-attention "
                                  f"kernels)", name=package)
    return register_fn


register_flash_attention_impl("FA3", register_fn=_needs_package("flash_attn_interface"))
register_flash_attention_impl("FA4", register_fn=_needs_package("flash_attn"))
