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


# torch's top-level functions (torch.sum, torch.cat, torch.matmul, ...): dlpy.functional's, each
# wrapped once at import to refuse out= clearly (dlpy never writes an array in place from an op)
_TOP_LEVEL = """
    abs acos acosh add addcdiv addcmul addmm allclose amax amin aminmax arccos arccosh arcsin
    arcsinh arctan arctan2 arctanh argsort argwhere asin asinh atan atan2 atanh atleast_1d
    atleast_2d atleast_3d baddbmm bincount bitwise_and bitwise_left_shift bitwise_not
    bitwise_or bitwise_right_shift bitwise_xor block_diag bmm broadcast_shapes
    broadcast_tensors broadcast_to bucketize cartesian_prod cat cdist ceil celu chunk clamp
    clip column_stack combinations concat copysign cos cosh cosine_similarity count_nonzero
    cross cummax cummin cumprod cumsum deg2rad diag diag_embed diagflat diagonal diff digamma
    div dot dsplit dstack einsum empty_like equal erf erfinv exp exp2 expm1 fix flatten flip
    fliplr flipud float_power floor fmod frac gather hardshrink heaviside histc histogram
    hsplit hstack hypot index_add index_copy index_fill index_select inner isclose kron
    kthvalue lerp lgamma log log10 log1p log2 log_softmax logaddexp logaddexp2 logcumsumexp
    logical_and logical_not logical_or logical_xor logit logspace logsumexp masked_fill
    masked_scatter masked_select matmul max maximum mean median meshgrid min minimum mm mode
    moveaxis movedim mul mv nan_to_num nanmean nanmedian nanquantile nansum narrow neg nonzero
    norm outer pairwise_distance pdist permute pixel_shuffle pixel_unshuffle prelu prod put
    quantile rad2deg ravel relu remainder repeat_interleave reshape roll rot90 round row_stack
    rrelu scatter scatter_add searchsorted selu sigmoid sign sin sinc sinh softmax sort split
    sqrt squeeze stack std std_mean sub sum swapaxes swapdims take take_along_dim tan tanh
    tensor_split tensordot threshold topk trace transpose tril tril_indices triu triu_indices
    trunc unbind unique unique_consecutive unsqueeze vander var var_mean vdot vsplit vstack
    where xlogy
""".split()


def _no_out(function):
    def refuse_out(*args, out=None, **kwargs):
        if out is not None:
            raise TypeError(f"{function.__name__}: dlpy has no out= (arrays are never written "
                            "in place by ops): assign the result")
        return function(*args, **kwargs)

    refuse_out.__name__ = refuse_out.__qualname__ = function.__name__
    refuse_out.__doc__, refuse_out.__wrapped__ = function.__doc__, function
    return refuse_out


for _name in _TOP_LEVEL:
    globals()[_name] = _no_out(getattr(functional, _name))
__all__ += _TOP_LEVEL
del _name
