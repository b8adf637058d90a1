"""dlpy: deep learning from scratch in Python.

``import dlpy`` loads the engine and the functional API; ``dlpy.nn``, ``dlpy.optim``,
``dlpy.autograd``, ``dlpy.data`` and ``dlpy.graph`` are imported on first use, so the import
stays fast.
"""

import sys

from dlpy import functional
from dlpy.creation import (
    arange,
    empty,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from dlpy.random import default_generator, manual_seed
from dlpy.tensor import (
    Op,
    Tensor,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
    sum_to_shape,
)

__version__ = "0.1.0"
_LAZY = ("autograd", "data", "graph", "io", "nn", "optim", "testing", "text", "utils")
__all__ = [
    "Op", "Tensor", "arange", "autograd", "data", "default_generator", "detect_anomaly",
    "empty", "enable_grad", "eye", "full", "full_like", "functional", "graph",
    "inference_mode", "is_grad_enabled", "linspace", "manual_seed", "nn", "no_grad", "ones",
    "ones_like", "optim", "rand", "rand_like", "randint", "randn", "randn_like", "randperm",
    "set_detect_anomaly", "set_grad_enabled", "sum_to_shape", "tensor", "testing", "utils",
    "zeros", "zeros_like",
]


def __getattr__(name: str):
    # PEP 562: a subpackage is imported when first asked for (``dlpy.nn.Linear``)
    if name in _LAZY:
        __import__(f"dlpy.{name}")
        return sys.modules[f"dlpy.{name}"]
    raise AttributeError(f"module 'dlpy' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


# torch.linalg's namespace, imported on first use (dlpy/linalg.py)
_LAZY += ("linalg",)
__all__ += ["linalg"]

# torch.distributions' namespace, imported on first use (dlpy/distributions/)
_LAZY += ("distributions",)
__all__ += ["distributions"]

# torch.func's transforms (grad, vmap, jacrev, functional_call), imported on first use
# (dlpy/func.py)
_LAZY += ("func",)
__all__ += ["func"]

# torch.profiler's namespace (profile, record_function, schedule), imported on first use
# (dlpy/profiler.py)
_LAZY += ("profiler",)
__all__ += ["profiler"]
