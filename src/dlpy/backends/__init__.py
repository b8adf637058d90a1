"""``torch.backends``: the switches of torch's native backends, kept as plain settable flags.

dlpy computes with numpy on the CPU, so none of these backends is available and the flags
change nothing; scripts that set them (``dlpy.backends.cudnn.benchmark = True``) run unchanged.

``disable_global_flags`` / ``flags_frozen`` and the private ``__allow_nonbracketed_mutation``
context manager are torch's switch between setting flags directly and only through their
``flags()`` blocks; libraries enter the context manager before setting cudnn flags (MONAI's
``set_determinism``). dlpy records the switch; its flags stay settable either way.
"""

import contextlib
from collections.abc import Iterator

from dlpy.backends import (
    cpu,
    cuda,
    cudnn,
    cusparselt,
    kleidiai,
    mha,
    miopen,
    mkl,
    mkldnn,
    mps,
    nnpack,
    openmp,
    opt_einsum,
    quantized,
)

__allow_nonbracketed_mutation_flag = True


def disable_global_flags() -> None:
    """Freeze the flags (torch then refuses setting them outside a ``flags()`` block)."""
    global __allow_nonbracketed_mutation_flag
    __allow_nonbracketed_mutation_flag = False


def flags_frozen() -> bool:
    return not __allow_nonbracketed_mutation_flag


@contextlib.contextmanager
def __allow_nonbracketed_mutation() -> Iterator[None]:
    """Unfreeze the flags inside the block (torch's private helper, which libraries call)."""
    global __allow_nonbracketed_mutation_flag
    old = __allow_nonbracketed_mutation_flag
    __allow_nonbracketed_mutation_flag = True
    try:
        yield
    finally:
        __allow_nonbracketed_mutation_flag = old


__all__ = ["cpu", "cuda", "cudnn", "cusparselt", "disable_global_flags", "flags_frozen",
           "kleidiai", "mha", "miopen", "mkl", "mkldnn", "mps", "nnpack", "openmp", "opt_einsum",
           "quantized"]
