"""dlpy: deep learning from scratch in Python.

``import dlpy`` loads the engine and the functional API; ``dlpy.nn``, ``dlpy.optim``,
``dlpy.autograd``, ``dlpy.data`` and ``dlpy.graph`` are imported on first use, so the import
stays fast.
"""

import sys
import warnings

# _code_cache first: where Python keeps no .pyc files, it serves dlpy's modules compiled once
from dlpy import _code_cache, functional  # noqa: F401
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
from dlpy.device import device, get_default_device, set_default_device
from dlpy.random import manual_seed
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

# torch's float arithmetic is silent where it gives inf or nan (1 / 0, log(0), 0 / 0, past the
# dtype's range): numpy's floating-point warnings raised in dlpy's own modules are not passed
# on. The filter matches warnings attributed to dlpy's modules only, so a program's own numpy
# arithmetic warns as before (and np.seterr, global to the thread, is left alone). Like any
# filter it goes with a warnings.catch_warnings() block that the first import of dlpy ran in.
warnings.filterwarnings(
    "ignore", r"(divide by zero|overflow|underflow|invalid value) encountered in|Mean of empty "
    r"slice|Degrees of freedom <= 0", RuntimeWarning, r"dlpy(\.|$)")

__version__ = "0.1.0"
_LAZY = ("autograd", "data", "graph", "io", "nn", "optim", "testing", "text", "utils")
__all__ = [
    "Op", "Tensor", "arange", "autograd", "data", "default_generator", "detect_anomaly", "device",
    "empty", "enable_grad", "eye", "full", "full_like", "functional", "graph",
    "inference_mode", "is_grad_enabled", "linspace", "manual_seed", "nn", "no_grad", "ones",
    "ones_like", "optim", "rand", "rand_like", "randint", "randn", "randn_like", "randperm",
    "set_detect_anomaly", "set_grad_enabled", "sum_to_shape", "tensor", "testing", "utils",
    "zeros", "zeros_like",
]
__all__ += ["get_default_device", "set_default_device"]  # torch 2.x (dlpy/device.py)


def __getattr__(name: str):
    # PEP 562: a subpackage is imported when first asked for (``dlpy.nn.Linear``)
    if name in _LAZY:
        __import__(f"dlpy.{name}")
        return sys.modules[f"dlpy.{name}"]
    if name in _AMP:  # mixed precision (dlpy/amp/): ml_dtypes' bfloat16 is imported on first use
        return getattr(__import__("dlpy.amp", fromlist=["_"]), _AMP[name])
    if name in ("Generator", "default_generator"):  # numpy.random is imported on first use
        from dlpy import generator, random

        return generator.Generator if name == "Generator" else random._default_generator()
    raise AttributeError(f"module 'dlpy' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_AMP) | {"Generator", "default_generator"})


# torch.amp, torch.cpu.amp and torch.autocast / torch.bfloat16 (dlpy/amp/, dlpy/cpu/), imported
# on first use: dlpy.bfloat16 is ml_dtypes' (an ImportError saying what to install without it)
_LAZY += ("amp", "cpu")
_LAZY += ("version", "torch_version")  # torch.version, torch.torch_version
_LAZY += ("futures", "types")  # torch.futures (dlpy/futures.py), torch.types (dlpy/types.py)
_AMP = {"bfloat16": "bfloat16", "float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2",
        "autocast": "autocast",
        **{name: name for name in (
            "is_autocast_enabled", "get_autocast_dtype", "is_autocast_available",
            "set_autocast_enabled", "set_autocast_dtype", "clear_autocast_cache",
            "is_autocast_cache_enabled", "set_autocast_cache_enabled",
            "autocast_increment_nesting", "autocast_decrement_nesting",
            "is_autocast_cpu_enabled", "set_autocast_cpu_enabled", "get_autocast_cpu_dtype",
            "get_autocast_gpu_dtype", "set_autocast_cpu_dtype", "GradScaler")}}
__all__ += ["amp", "cpu", *(n for n in _AMP if n not in (  # (a star import needs no ml_dtypes)
    "bfloat16", "float8_e4m3fn", "float8_e5m2"))]


# torch.linalg's namespace, imported on first use (dlpy/linalg.py)
_LAZY += ("linalg",)
__all__ += ["linalg"]

# torch.library's custom operators, imported on first use (dlpy/library.py)
_LAZY += ("library",)
__all__ += ["library"]

# torch.distributions' namespace, imported on first use (dlpy/distributions/)
_LAZY += ("distributions",)
_LAZY += ("_subclasses",)  # torch._subclasses.fake_tensor (FakeTensorMode)
__all__ += ["distributions"]

# torch.func's transforms (grad, vmap, jacrev, functional_call), imported on first use
# (dlpy/func.py)
_LAZY += ("func",)
__all__ += ["func"]

# torch.special's namespace (dlpy/special.py), imported on first use
_LAZY += ("special",)
__all__ += ["special"]

# torch.profiler's namespace (profile, record_function, schedule), imported on first use
# (dlpy/profiler.py)
_LAZY += ("profiler",)
__all__ += ["profiler"]

# torch.onnx.export's tracing form (dlpy/onnx.py; needs the onnx package), imported on first use
_LAZY += ("onnx",)
__all__ += ["onnx"]

# torch.fft's namespace (dlpy/fft.py), imported on first use; complex numbers, stft/istft and
# the windows at the top level, as torch's (ops/complex.py, ops/spectral.py)
_LAZY += ("fft",)
__all__ += ["fft"]

# torchvision's models and transforms (dlpy/vision/), imported on first use
_LAZY += ("vision",)
__all__ += ["vision"]

# torchaudio's functional, transforms and WAV load/save (dlpy/audio/), imported on first use
_LAZY += ("audio",)
__all__ += ["audio"]

# torch.fx's symbolic tracing, Graph and GraphModule (dlpy/fx/), imported on first use
_LAZY += ("fx",)
__all__ += ["fx"]

# torch.export, torch.jit (trace/script/save/load/freeze) and torch.hub, on dlpy.fx and a
# pickle-free file format (dlpy/export/, dlpy/jit.py, dlpy/hub.py), imported on first use
_LAZY += ("export", "jit", "hub")
__all__ += ["export", "hub", "jit"]
from dlpy.ops.complex import (  # noqa: E402
    angle,
    complex,
    conj,
    imag,
    is_complex,
    polar,
    real,
    view_as_complex,
    view_as_real,
)
from dlpy.ops.spectral import (  # noqa: E402
    bartlett_window,
    blackman_window,
    hamming_window,
    hann_window,
    istft,
    kaiser_window,
    stft,
)

__all__ += ["angle", "bartlett_window", "blackman_window", "complex", "conj", "hamming_window",
            "hann_window", "imag", "is_complex", "istft", "kaiser_window", "polar", "real",
            "stft", "view_as_complex", "view_as_real"]


# torch's top-level functions (torch.sum, torch.cat, torch.matmul, ...): dlpy.functional's, each
# wrapped once at import to take torch's out= (the result written into the given tensor)
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


def _out_dtype(name, args, kwargs, out):
    """torch's sum, nansum, prod, cumsum and cumprod with out= and no dtype= compute in out's
    dtype (x cast to it first: torch.sum(floats, out=int64_tensor) sums the truncated values);
    nansum/nanmean of floats into integers or bools: torch has no such kernel."""
    if name in ("nansum", "nanmean") and isinstance(out, Tensor) and out.dtype.kind in "biu" \
            and args and isinstance(args[0], Tensor) and args[0].dtype.kind not in "biu":
        from dlpy.amp.dtypes import _torch_name
        from dlpy.ops import NoKernelError

        raise NoKernelError(f'"nansum_cpu" not implemented for \'{_torch_name(out.dtype)}\'')
    if name == "mean" and isinstance(out, Tensor) and kwargs.get("dtype") is None and args \
            and isinstance(args[0], Tensor) and not args[0].requires_grad:
        import numpy

        from dlpy.amp.dtypes import is_low_precision

        # torch's mean.out of floats sums in out's dtype (float32 for a float16/bfloat16
        # out), x cast to it first: a complex x into a real out keeps its real part (integer
        # x, or an integer out, refused as before)
        if args[0].dtype.kind in "fc" or is_low_precision(args[0].dtype):
            if is_low_precision(out.dtype):
                kwargs["dtype"] = numpy.dtype(numpy.float32)
            elif out.dtype.kind in "fc":
                kwargs["dtype"] = out.dtype
        return
    if name not in ("sum", "nansum", "prod", "cumsum", "cumprod") or not isinstance(out, Tensor):
        return
    if name in ("sum", "prod") and len(args) < 2 and "dim" not in kwargs and "axis" not in kwargs:
        # torch's sum(input, *, dtype) and prod(input, *, dtype) have no out=; only the forms
        # with a dim do
        raise TypeError(f"{name}() received an invalid combination of arguments: out= needs a "
                        "dim")
    if kwargs.get("dtype") is not None:
        import numpy

        if numpy.dtype(kwargs["dtype"]) != out.dtype:  # torch's message
            raise RuntimeError(f"Expected out tensor to have dtype "
                               f"{numpy.dtype(kwargs['dtype'])}, but got {out.dtype} instead")
    elif args and isinstance(args[0], Tensor) and not args[0].requires_grad:
        kwargs["dtype"] = out.dtype


def _quantized(args, name: str):
    """The QTensor class when the first operand (or the first in a list of them) is one and
    it takes torch's ``name`` itself (torch.cat, torch.transpose, ...), else None."""
    first = args[0]
    if type(first) in (list, tuple) and first:
        first = first[0]
    kind = type(first)
    return kind if name in getattr(kind, "_FUNCTIONS", ()) and \
        getattr(kind, "_is_quantized_tensor", False) else None


def _no_out(function):
    def with_out(*args, out=None, **kwargs):
        if args and type(args[0]) is not Tensor and _quantized(args, function.__name__):
            return _quantized(args, function.__name__).__dlpy_function__(
                function.__name__, *args, **kwargs)
        if out is None:
            return function(*args, **kwargs)
        from dlpy.torch_functions import check_out_inputs, exact_out, write_out

        check_out_inputs(function.__name__, args, out)
        _out_dtype(function.__name__, args, kwargs, out)
        return write_out(function.__name__, function(*args, **kwargs), out,
                         exact=exact_out(function.__name__, args, kwargs, out))

    with_out.__name__ = with_out.__qualname__ = function.__name__
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


def _no_out_elementwise(function):
    """_no_out's, and a masked or nested first operand handed to its class's __dlpy_function__
    (torch.exp(masked_tensor) keeps the mask, as torch's), a sparse one to its method
    (torch.abs(sparse) is sparse); one type check on the dense path."""
    name = function.__name__

    def with_out(input, *args, out=None, **kwargs):  # noqa: A002 - torch's name
        if type(input) is not Tensor:
            if hasattr(type(input), "__dlpy_function__"):
                return type(input).__dlpy_function__(name, input, *args, **kwargs)
            if isinstance(input, _sparse_tensor.SparseTensor) and hasattr(input, name):
                return getattr(input, name)(*args, **kwargs)
        if out is None:
            return function(input, *args, **kwargs)
        from dlpy.torch_functions import check_out_inputs, exact_out, write_out

        check_out_inputs(name, (input, *args), out)
        return write_out(name, function(input, *args, **kwargs), out,
                         exact=exact_out(name, (input, *args), kwargs, out))

    with_out.__name__ = with_out.__qualname__ = name
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


# the element-wise functions MaskedTensor and NestedTensor have (dlpy.masked.maskedtensor.UNARY)
# and SparseTensor has (dlpy.sparse_tensor.UNARY)
_ELEMENTWISE = set("""
    abs acos asin asinh atan atanh ceil cos cosh erf erfinv exp expm1 floor frac log log1p log2
    log10 relu round sigmoid sign sin sinh sqrt square tan tanh trunc""".split())
def _no_out_nested(function):
    """_no_out's, and a nested or masked first operand handed to its class's
    __dlpy_function__ (torch.add(nt, nt, alpha=2), torch.sum(nt, dim=2), torch.bmm(nt, dense),
    torch.unbind(nt), torch.amax(mt, 1)); one type check on the dense path."""
    name = function.__name__

    def with_out(input, *args, out=None, **kwargs):  # noqa: A002 - torch's name
        if type(input) is not Tensor and (getattr(type(input), "is_nested", False) is True
                                          or getattr(type(input), "_is_masked_tensor", False)):
            return type(input).__dlpy_function__(name, input, *args, **kwargs)
        if out is None:
            return function(input, *args, **kwargs)
        from dlpy.torch_functions import check_out_inputs, exact_out, write_out

        check_out_inputs(name, (input, *args), out)
        _out_dtype(name, (input, *args), kwargs, out)
        return write_out(name, function(input, *args, **kwargs), out,
                         exact=exact_out(name, (input, *args), kwargs, out))

    with_out.__name__ = with_out.__qualname__ = name
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


_NESTED_FIRST = {"add", "sub", "mul", "div", "sum", "mean", "bmm", "unbind", "maximum",
                 "minimum", "prod", "amax", "amin", "logsumexp", "var", "std", "norm", "neg",
                 "masked_fill", "nan_to_num", "clamp", "isnan", "isinf", "isfinite",
                 "logical_not", "reciprocal", "rsqrt"}
for _name in _TOP_LEVEL:
    _function = getattr(functional, _name)
    globals()[_name] = (_no_out_elementwise if _name in _ELEMENTWISE else
                        _no_out_nested if _name in _NESTED_FIRST else _no_out)(_function)
__all__ += _TOP_LEVEL
del _name, _function, _ELEMENTWISE, _NESTED_FIRST


def _dtype_third(function):
    """torch.softmax(input, dim, dtype): F.softmax's third argument is _stacklevel instead."""
    def torch_form(input, dim=None, dtype=None, **kwargs):  # noqa: A002 - torch's name
        return function(input, dim, dtype=dtype, **kwargs)

    torch_form.__name__ = torch_form.__qualname__ = function.__name__
    torch_form.__doc__ = function.__doc__
    return torch_form


softmax = _no_out(_dtype_third(functional.softmax))


def _exact_out(function):
    """torch.complex and torch.polar's out=: of the result's complex dtype exactly (torch's
    message), no casting into another."""
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        from dlpy.torch_functions import check_out_inputs, write_out

        check_out_inputs(function.__name__, args, out)
        result = function(*args, **kwargs)
        if isinstance(out, Tensor) and out.dtype != result.dtype:
            raise RuntimeError(f"{function.__name__}: expected out of dtype {result.dtype}, "
                               f"got {out.dtype} (as torch)")
        return write_out(function.__name__, result, out)

    with_out.__name__ = with_out.__qualname__ = function.__name__
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


polar, complex = _exact_out(polar), _exact_out(complex)  # noqa: A001 - torch.complex takes out=


def _creation_out(function, ranged: bool = False, warn_count: bool = False):
    """torch.zeros(..., out=o) and the other creation functions: made in ``o``'s dtype (a
    ``dtype`` that is not it is an error) and written into ``o``. ``ranged`` (arange, range,
    linspace, logspace): as torch's kernels, which resize ``o`` only when its number of
    elements is not the count, an ``o`` of as many elements keeps its shape and strides and
    takes the values in its row-major order (arange(4, out=zeros(2, 2)) is [[0, 1], [2, 3]]).
    ``warn_count`` (arange): an ``o`` holding another number of elements is resized with
    torch's warning about the count."""
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        from dlpy.torch_functions import write_out

        dtype = kwargs.pop("dtype", None)
        if dtype is not None and dtype != out.dtype:
            raise RuntimeError(f"{function.__name__}: dtype {dtype} does not match dtype of out "
                               f"parameter ({out.dtype})")
        requires_grad = kwargs.pop("requires_grad", False)
        result = function(*args, dtype=out.dtype, **kwargs)
        if ranged and isinstance(out, Tensor) and out.ndim != 1 \
                and out.data.size == result.data.size:
            result = result.reshape(out.shape)
        elif warn_count and isinstance(out, Tensor) and out.data.size \
                and out.data.size != result.data.size:
            import warnings

            from dlpy._caller import user_stacklevel

            warnings.warn(f"The number of elements in the out tensor of shape {list(out.shape)} is "
                          f"{out.data.size} which does not match the computed number of elements "
                          f"{result.data.size}. Note that this may occur as a result of rounding "
                          f"error. The out tensor will be resized to a tensor of shape "
                          f"({result.data.size},).", UserWarning,
                          stacklevel=user_stacklevel())  # (torch's words)
        write_out(function.__name__, result, out, warn=False)
        return out.requires_grad_(True) if requires_grad else out

    with_out.__name__ = with_out.__qualname__ = function.__name__
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


zeros, ones, full, empty, eye = (_creation_out(f) for f in (zeros, ones, full, empty, eye))
linspace = _creation_out(linspace, ranged=True)
logspace = _creation_out(globals()["logspace"], ranged=True)  # (set by the _TOP_LEVEL loop)
arange = _creation_out(arange, ranged=True, warn_count=True)


def _drawn_out(function, fill=None):
    """torch.rand / randn / randint(..., out=o): _creation_out's, but an ``o`` of the size
    asked for that is not contiguous keeps its strides and takes the draws in its memory
    order, as torch's resize_ and in-place fill of ``o`` (randn's normal_ draws a strided one
    value by value). ``fill(o, generator)``: that in-place fill (rand, randn: the size parsed
    as theirs); else (randint's integers, which do not depend on the layout) the draws made
    row-major, then laid in ``o``'s memory order."""
    plain = _creation_out(function)

    def with_out(*args, out=None, **kwargs):
        import numpy as np

        if not isinstance(out, Tensor) or type(out.data) is not np.ndarray \
                or out.data.flags.c_contiguous or kwargs.get("dtype", out.dtype) != out.dtype:
            return plain(*args, out=out, **kwargs)
        from dlpy.creation import _shape
        from dlpy.tensor_methods import _memory_order
        from dlpy.torch_functions import write_out

        if fill is not None:
            if _shape(function.__name__, args, kwargs.get("size")) != out.shape:
                return plain(*args, out=out, **kwargs)  # resized: contiguous
            with no_grad():
                fill(out, kwargs.get("generator"))
            return out.requires_grad_(True) if kwargs.get("requires_grad") else out
        requires_grad = kwargs.pop("requires_grad", False)
        result = function(*args, **dict(kwargs, dtype=out.dtype))
        perm = _memory_order(out.data)
        if result.shape == out.shape and perm is not None:
            result = Tensor(result.data.reshape([out.shape[i] for i in perm]).transpose(
                np.argsort(perm)))
        write_out(function.__name__, result, out, warn=False)
        return out.requires_grad_(True) if requires_grad else out

    with_out.__name__ = with_out.__qualname__ = function.__name__
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


# torch's random draws take out= too: drawn in out's dtype, as its creation functions
rand = _drawn_out(rand, lambda out, generator: out.uniform_(generator=generator))
randn = _drawn_out(randn, lambda out, generator: out.normal_(generator=generator))
randint, randperm = _drawn_out(randint), _creation_out(randperm)
log_softmax = _no_out(_dtype_third(functional.log_softmax))

# the rest of torch's top-level functions: more of dlpy.functional's (element-wise, scatter and
# select families, nn.functional's whose torch.* signature is the same), then torch_functions'
# (tensor and dtype utilities, random draws, torch.* forms of nn.functional's with torch's
# argument order, the Tensor methods as functions, top-level in-place and *_copy functions)
from dlpy import tensor_methods as _tensor_methods  # noqa: E402, F401 - attaches methods
from dlpy import torch_functions as _torch_functions  # noqa: E402

_TOP_LEVEL_MORE = """
    adaptive_avg_pool1d bilinear channel_shuffle conv1d conv2d conv3d conv_transpose1d
    conv_transpose2d conv_transpose3d diagonal_scatter erfc floor_divide fmax fmin frexp gcd
    i0 igamma igammac index_put index_reduce isneginf isposinf isreal lcm ldexp
    max_pool1d_with_indices mvlgamma nextafter polygamma pow rms_norm scatter_reduce select
    select_scatter sgn signbit slice_scatter tile unflatten
""".split()
for _name in _TOP_LEVEL_MORE:
    globals()[_name] = _no_out(getattr(functional, _name))
_TOP_LEVEL_MORE += [n for n in _torch_functions.TOP_LEVEL if n not in _TOP_LEVEL_MORE]
for _name in _torch_functions.TOP_LEVEL:
    globals()[_name] = _no_out(getattr(_torch_functions, _name))
globals()["range"] = _creation_out(_torch_functions.range, ranged=True)  # (arange's out=)
__all__ += [n for n in _TOP_LEVEL_MORE if n not in __all__]  # (concat: torch_functions' now)
del _name


def _normal_out(plain):
    """torch.normal(mean, std, out=o) into an ``o`` of the result's shape that is not
    contiguous: torch's normal_out, ``o.normal_(0, std)`` (a tensor std: ``normal_(0, 1)``,
    then ``mul_(std)``) then ``add_(mean)``, so the draws follow o's memory order and
    normal_'s one-at-a-time draws of a strided tensor; else _no_out's (o written over)."""
    def with_out(mean, std=1.0, size=None, *, out=None, generator=None, **kwargs):
        import builtins

        import numpy as np

        shapes = [np.shape(a.data) for a in (mean, std) if isinstance(a, Tensor)]
        if not isinstance(out, Tensor) or type(out.data) is not np.ndarray \
                or out.data.flags.c_contiguous or kwargs or is_grad_enabled() and builtins.any(
                    isinstance(a, Tensor) and a.requires_grad for a in (mean, std, out)) \
                or (tuple(size) if size is not None and not shapes else
                    np.broadcast_shapes(*shapes) if shapes and size is None else None) \
                != out.shape or isinstance(std, Tensor) and not (std.data >= 0).all() \
                or not isinstance(std, Tensor) and not std >= 0:
            return plain(mean, std, size, out=out, generator=generator, **kwargs)
        with no_grad():
            if isinstance(mean, Tensor) or isinstance(std, Tensor):
                out.normal_(0.0, 1.0 if isinstance(std, Tensor) else std, generator=generator)
                if isinstance(std, Tensor):
                    out.mul_(std)
                return out.add_(mean)
            return out.normal_(mean, std, generator=generator)

    with_out.__name__ = with_out.__qualname__ = "normal"
    with_out.__doc__, with_out.__wrapped__ = plain.__doc__, plain
    return with_out


globals()["normal"] = _normal_out(globals()["normal"])  # torch.normal's out= (_no_out's above)


def _bernoulli_out(plain):
    """torch.bernoulli(p, out=o) into an ``o`` of p's shape that is not contiguous: torch's
    ``o.bernoulli_(p)``, the draws in o's memory order; else _no_out's."""
    def with_out(input, *args, out=None, generator=None, **kwargs):  # noqa: A002
        import numpy as np

        if args or kwargs or not isinstance(out, Tensor) or not isinstance(input, Tensor) \
                or type(out.data) is not np.ndarray or out.data.flags.c_contiguous \
                or out.shape != input.shape or is_grad_enabled() and (
                    out.requires_grad or input.requires_grad):
            return plain(input, *args, out=out, generator=generator, **kwargs)
        with no_grad():
            return out.bernoulli_(input, generator=generator)

    with_out.__name__ = with_out.__qualname__ = "bernoulli"
    with_out.__doc__, with_out.__wrapped__ = plain.__doc__, plain
    return with_out


globals()["bernoulli"] = _bernoulli_out(globals()["bernoulli"])
# the default generator's state: torch.random's functions, kept in dlpy.random
from dlpy.random import get_rng_state, initial_seed, seed, set_rng_state  # noqa: E402, F401

__all__ += ["get_rng_state", "initial_seed", "seed", "set_rng_state"]

# torch.Generator (dlpy/generator.py, imported on first use by __getattr__ above: numpy.random
# costs import time), torch.quasirandom and torch.signal (imported on first use)
_LAZY += ("quasirandom", "signal")
__all__ += ["Generator", "quasirandom", "signal"]

# torch's remaining top-level machinery: finfo/iinfo, Size, threads, determinism, as_strided,
# segment_reduce, frombuffer, DLPack, cond/while_loop, nonzero_static, ... (dlpy/torch_misc.py)
from dlpy import torch_misc as _torch_misc  # noqa: E402

globals().update({_name: getattr(_torch_misc, _name) for _name in _torch_misc.TOP_LEVEL})
__all__ += _torch_misc.TOP_LEVEL
# the ones torch gives out= (and torch.angle)
for _name in ("angle", "as_strided_copy", "conj_physical", "view_as_complex_copy",
              "view_as_real_copy"):
    globals()[_name] = _no_out(globals()[_name])
del _name

# torch's ATen-level "native" functions: native_layer_norm/batch_norm/group_norm/dropout,
# embedding_bag's four outputs, grid_sampler, conv_tbc, the functional RNNs (native_functions.py)
from dlpy import native_functions as _native_functions  # noqa: E402

globals().update({_name: getattr(_native_functions, _name)
                  for _name in _native_functions.TOP_LEVEL})
__all__ += _native_functions.TOP_LEVEL

# torch._foreach_* (one op over lists of tensors: optimisers, soft target updates), not in
# __all__ as torch's are private names (dlpy/foreach_ops.py)
from dlpy import foreach_ops as _foreach_ops  # noqa: E402

globals().update({_name: getattr(_foreach_ops, _name) for _name in _foreach_ops.TOP_LEVEL})

# torch.__future__'s module-conversion flags (dlpy/future_flags.py)
from dlpy import future_flags as __future__  # noqa: E402

sys.modules["dlpy.__future__"] = __future__

# torch's legacy tensor types: torch.FloatTensor(2, 3), torch.LongTensor([1, 2]),
# isinstance(x, torch.FloatTensor) (dlpy/legacy_types.py)
from dlpy import legacy_types as _legacy_types  # noqa: E402

globals().update({_name: getattr(_legacy_types, _name) for _name in _legacy_types.TOP_LEVEL})
__all__ += _legacy_types.TOP_LEVEL

# torch's miscellaneous names: sym_* helpers, newaxis, build flags, set_default_tensor_type,
# the legacy typed storages, from_file, as_strided_scatter (dlpy/legacy_misc.py)
from dlpy import legacy_misc as _legacy_misc  # noqa: E402

globals().update({_name: getattr(_legacy_misc, _name) for _name in _legacy_misc.TOP_LEVEL})
__all__ += _legacy_misc.TOP_LEVEL

# torch's math constants, Python floats as torch's: torch.pi, torch.e, torch.inf, torch.nan
import math as _math  # noqa: E402

pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan
__all__ += ["e", "inf", "nan", "pi"]


# torch's top-level linear algebra kept in dlpy.linalg (torch.cholesky_solve, torch.lu_unpack,
# torch.matrix_exp, the old torch.lu / torch.lu_solve, ...), which is imported on first call
_FROM_LINALG = {
    "cholesky_inverse": "cholesky_inverse", "cholesky_solve": "cholesky_solve",
    "geqrf": "geqrf", "lobpcg": "lobpcg", "lu": "old_lu", "lu_solve": "old_lu_solve",
    "lu_unpack": "lu_unpack", "matrix_exp": "matrix_exp", "orgqr": "orgqr", "ormqr": "ormqr",
    "pca_lowrank": "pca_lowrank", "svd_lowrank": "svd_lowrank",
    "triangular_solve": "triangular_solve",
}


def _from_linalg(name: str, target: str):
    def function(*args, out=None, **kwargs):
        from dlpy import linalg

        result = getattr(linalg, target)(*args, **kwargs)
        if out is None:
            return result
        from dlpy.torch_functions import write_out

        return write_out(name, result, out)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}: dlpy.linalg.{target} (see its docstring)."
    return function


for _name, _target in _FROM_LINALG.items():
    globals()[_name] = _from_linalg(_name, _target)
__all__ += list(_FROM_LINALG)
del _name, _target

# torch's dtype names (torch.float32, torch.complex64, torch.long, ...): the numpy scalar types
# dlpy's tensors hold (dlpy.bfloat16: ml_dtypes', above); ``x.to(dlpy.complex64)``,
# ``dtype=dlpy.int64``
import numpy as _np  # noqa: E402

_DTYPES = {
    "float16": _np.float16, "half": _np.float16, "float32": _np.float32, "float": _np.float32,
    "float64": _np.float64, "double": _np.float64, "complex64": _np.complex64,
    "cfloat": _np.complex64, "complex128": _np.complex128, "cdouble": _np.complex128,
    "uint8": _np.uint8, "int8": _np.int8, "int16": _np.int16, "short": _np.int16,
    "int32": _np.int32, "int": _np.int32, "int64": _np.int64, "long": _np.int64,
    "uint16": _np.uint16, "uint32": _np.uint32, "uint64": _np.uint64, "bool": _np.bool_,
}
_DTYPES = {name: _np.dtype(kind) for name, kind in _DTYPES.items()}
globals().update(_DTYPES)
__all__ += list(_DTYPES)


class _AbsentDtype:
    """A torch dtype dlpy has no tensors of (``torch.complex32`` / ``chalf``, torch's
    experimental ComplexHalf; numpy has none): it exists so that code naming it runs
    (``dtype in (torch.float16, torch.complex32)``), with torch's dtype attributes; asking
    numpy for it (a tensor of this dtype) is a TypeError."""

    __slots__ = ("name", "itemsize", "is_floating_point", "is_complex", "is_signed")

    def __init__(self, name: str, itemsize: int, *, is_complex: bool):
        self.name, self.itemsize = name, itemsize
        self.is_floating_point, self.is_complex, self.is_signed = False, is_complex, True

    def __repr__(self) -> str:
        return self.name

    @property
    def dtype(self):  # numpy's np.dtype(x) asks for it: no array of this dtype
        raise TypeError(f"dlpy has no {self.name} tensors (numpy has no such dtype)")

    def to_complex(self):
        """torch's ``dtype.to_complex()``: itself (a complex dtype)."""
        return self

    def to_real(self):
        """torch's ``dtype.to_real()``: complex32's real part, float16."""
        return _np.dtype(_np.float16)

    def __reduce__(self) -> str:
        return self.name  # pickled by name: dlpy.complex32, the one instance


complex32 = chalf = _AbsentDtype("complex32", 4, is_complex=True)
__all__ += ["complex32", "chalf"]


class _DtypeKind(type):
    def __instancecheck__(cls, value) -> bool:
        return isinstance(value, (_np.dtype, _AbsentDtype)) or (
            isinstance(value, type) and issubclass(value, _np.generic))


class dtype(metaclass=_DtypeKind):  # noqa: N801 - torch's name
    """torch.dtype: the class of dlpy's dtypes, for annotations (``dtype: torch.dtype``) and
    ``isinstance(x, torch.dtype)``: dlpy.float32 and the other names (numpy scalar types) and
    ``t.dtype`` (a numpy dtype) are instances; none is made from it."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("cannot create 'dlpy.dtype' instances: use dlpy.float32, dlpy.int64...")


__all__ += ["dtype"]


# torch.save / torch.load's zip checkpoint format (dlpy/serialization.py), imported on first call
def load(f, map_location=None, weights_only=True, *, mmap=None,
         **pickle_load_args):
    """torch.load: read a torch.save (or dlpy.save) file; see dlpy.serialization.load."""
    from dlpy.serialization import load as _load

    return _load(f, map_location=map_location, weights_only=weights_only, mmap=mmap,
                 **pickle_load_args)


def save(obj, f, pickle_module=None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False) -> None:
    """torch.save: write ``obj`` in torch's zip format (or its legacy one); see
    dlpy.serialization.save."""
    from dlpy.serialization import save as _save

    _save(obj, f, pickle_module, pickle_protocol, _use_new_zipfile_serialization,
          _disable_byteorder_record)


__all__ += ["load", "save"]
_LAZY += ("serialization",)  # torch.serialization.add_safe_globals & co.

# sparse tensors (dlpy/sparse_tensor.py): the COO / CSR constructors and layouts at the top
# level, torch.sparse's functions in dlpy.sparse (imported on first use), and the top-level
# functions that take a sparse operand (dlpy.mm(S, X), dlpy.sum(S), ...) dispatching on it
from dlpy import sparse_tensor as _sparse_tensor  # noqa: E402

# torch.memory_format: contiguous_format, channels_last, channels_last_3d, preserve_format
from dlpy.layouts import (  # noqa: E402
    channels_last,
    channels_last_3d,
    contiguous_format,
    memory_format,
    preserve_format,
)
from dlpy.sparse_tensor import Layout as layout  # noqa: E402  (torch.layout)
from dlpy.sparse_tensor import (  # noqa: E402
    jagged,
    sparse_bsc,
    sparse_bsc_tensor,
    sparse_bsr,
    sparse_bsr_tensor,
    sparse_compressed_tensor,
    sparse_coo,
    sparse_coo_tensor,
    sparse_csc,
    sparse_csc_tensor,
    sparse_csr,
    sparse_csr_tensor,
    strided,
)

__all__ += ["channels_last", "channels_last_3d", "contiguous_format", "layout", "memory_format",
            "preserve_format"]

_LAZY += ("sparse",)
__all__ += ["jagged", "sparse", "sparse_bsc", "sparse_bsc_tensor", "sparse_bsr",
            "sparse_bsr_tensor", "sparse_compressed_tensor", "sparse_coo", "sparse_coo_tensor",
            "sparse_csc", "sparse_csc_tensor", "sparse_csr", "sparse_csr_tensor", "strided"]
for _name, _function in _sparse_tensor.TOP_LEVEL_SPARSE.items():
    globals()[_name] = _sparse_tensor._sparse_top_level(_name, globals()[_name], _function)
del _name, _function
# torch's private check of compressed tensors' arguments (not in __all__, as torch's)
_validate_sparse_compressed_tensor_args = _sparse_tensor.validate_sparse_compressed_tensor_args
globals().update(_sparse_tensor.SPARSE_FUNCTIONS)  # torch.hspmm, smm, sspaddmm, ...
__all__ += list(_sparse_tensor.SPARSE_FUNCTIONS)


def spmm(input, mat2):  # noqa: A002 - PyTorch's name
    """torch.spmm: ``mm`` by another name (a sparse ``input`` times a dense ``mat2`` is dense,
    as the GCN papers' code uses it)."""
    return mm(input, mat2)  # noqa: F821 - set above from _TOP_LEVEL


__all__ += ["spmm"]

# torch.masked and torch.nested (jagged layout): dlpy/masked/ and dlpy/nested/, imported on
# first use; torch.masked's two constructors at the top level as torch's
_LAZY += ("masked", "nested")
__all__ += ["as_masked_tensor", "masked", "masked_tensor", "nested"]


def masked_tensor(data, mask, requires_grad: bool = False):
    """torch.masked.masked_tensor: see dlpy.masked.masked_tensor."""
    from dlpy.masked import masked_tensor as _masked_tensor

    return _masked_tensor(data, mask, requires_grad=requires_grad)


def as_masked_tensor(data, mask):
    """torch.masked.as_masked_tensor: see dlpy.masked.as_masked_tensor."""
    from dlpy.masked import as_masked_tensor as _as_masked_tensor

    return _as_masked_tensor(data, mask)

# torch.ao.quantization (dlpy/ao/): the quantized dtypes, qschemes and tensor constructors at the
# top level as torch's; fake quantization imported on first call; dlpy.ao imported on first use
from dlpy.ao.qtensor import (  # noqa: E402
    dequantize,
    empty_quantized,
    int_repr,
    per_channel_affine,
    per_channel_affine_float_qparams,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    q_per_channel_axis,
    q_per_channel_scales,
    q_per_channel_zero_points,
    q_scale,
    q_zero_point,
    qint8,
    qint32,
    qscheme,
    quantize_per_channel,
    quantize_per_tensor,
    quantize_per_tensor_dynamic,
    quint2x4,
    quint4x2,
    quint8,
)

_LAZY += ("ao",)
__all__ += ["_fake_quantize_learnable_per_channel_affine",
            "_fake_quantize_learnable_per_tensor_affine", "_fused_moving_avg_obs_fq_helper",
            "choose_qparams_optimized", "fused_moving_avg_obs_fake_quant", "ao", "dequantize",
            "fake_quantize_per_channel_affine", "fake_quantize_per_tensor_affine",
            "per_channel_affine", "per_channel_affine_float_qparams", "per_channel_symmetric",
            "per_tensor_affine",
            "per_tensor_symmetric", "qint32", "qint8", "quantize_per_channel",
            "quantize_per_tensor", "quantize_per_tensor_dynamic", "quint8",
            # the quantized tensors' accessors as functions, the packed dtypes
            "empty_quantized", "int_repr", "q_per_channel_axis", "q_per_channel_scales",
            "q_per_channel_zero_points", "q_scale", "q_zero_point", "qscheme", "quint2x4",
            "quint4x2"]


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min: int, quant_max: int):
    """torch.fake_quantize_per_tensor_affine: see dlpy.ao.quantization."""
    from dlpy.ao.quantization import fake_quantize_per_tensor_affine as _function

    return _function(input, scale, zero_point, quant_min, quant_max)


def fake_quantize_per_channel_affine(input, scale, zero_point, axis: int, quant_min: int,
                                     quant_max: int):
    """torch.fake_quantize_per_channel_affine: see dlpy.ao.quantization."""
    from dlpy.ao.quantization import fake_quantize_per_channel_affine as _function

    return _function(input, scale, zero_point, axis, quant_min, quant_max)


def choose_qparams_optimized(input, numel: int, n_bins: int, ratio: float, bit_width: int):  # noqa: A002
    """torch.choose_qparams_optimized: see dlpy.ao.quantization.fake_quantize."""
    from dlpy.ao.quantization.fake_quantize import choose_qparams_optimized as _function

    return _function(input, numel, n_bins, ratio, bit_width)


def fused_moving_avg_obs_fake_quant(input, observer_on, fake_quant_on, running_min,  # noqa: A002
                                    running_max, scale, zero_point, averaging_const: float,
                                    quant_min: int, quant_max: int, ch_axis: int,
                                    per_row_fake_quant: bool = False,
                                    symmetric_quant: bool = False):
    """torch.fused_moving_avg_obs_fake_quant: see dlpy.ao.quantization.fake_quantize."""
    from dlpy.ao.quantization.fake_quantize import fused_moving_avg_obs_fake_quant as _function

    return _function(input, observer_on, fake_quant_on, running_min, running_max, scale,
                     zero_point, averaging_const, quant_min, quant_max, ch_axis,
                     per_row_fake_quant, symmetric_quant)


def _fused_moving_avg_obs_fq_helper(input, observer_on, fake_quant_on, running_min,  # noqa: A002
                                    running_max, scale, zero_point, averaging_const: float,
                                    quant_min: int, quant_max: int, ch_axis: int,
                                    per_row_fake_quant: bool = False,
                                    symmetric_quant: bool = False):
    """torch._fused_moving_avg_obs_fq_helper: see dlpy.ao.quantization.fake_quantize."""
    from dlpy.ao.quantization.fake_quantize import _fused_moving_avg_obs_fq_helper as _function

    return _function(input, observer_on, fake_quant_on, running_min, running_max, scale,
                     zero_point, averaging_const, quant_min, quant_max, ch_axis,
                     per_row_fake_quant, symmetric_quant)


def _fake_quantize_learnable_per_tensor_affine(x, scale, zero_point, quant_min: int,
                                               quant_max: int, grad_factor: float = 1.0):
    """torch._fake_quantize_learnable_per_tensor_affine (LSQ): see dlpy.ao.quantization."""
    from dlpy.ao.quantization import _fake_quantize_learnable_per_tensor_affine as _function

    return _function(x, scale, zero_point, quant_min, quant_max, grad_factor)


def _fake_quantize_learnable_per_channel_affine(x, scale, zero_point, axis: int,
                                                quant_min: int, quant_max: int,
                                                grad_factor: float = 1.0):
    """torch._fake_quantize_learnable_per_channel_affine (LSQ): see dlpy.ao.quantization."""
    from dlpy.ao.quantization.fake_quantize import (
        _fake_quantize_learnable_per_channel_affine as _function,
    )

    return _function(x, scale, zero_point, axis, quant_min, quant_max, grad_factor)

# torch.cuda, torch.backends, torch.mps, torch.accelerator (a CPU-only torch's answers: no
# device, settable flags) and torch.compiler (dlpy/cuda.py, backends/, mps.py, accelerator.py,
# compiler.py), imported on first use; torch.compile runs the model eagerly; torch.vmap is
# dlpy.func.vmap (dlpy.func imported on first use)
_LAZY += ("accelerator", "backends", "compiler", "cuda", "mps")
__all__ += ["accelerator", "backends", "compile", "compiler", "cuda", "mps", "vmap"]
_LAZY += ("distributed",)  # torch.distributed after a bare `import torch` (imported on first use)
_LAZY += ("_C",)  # torch._C.DisableTorchFunctionSubclass & co. (dlpy/_C.py)
_LAZY += ("__config__",)  # torch.__config__.show() / parallel_info() (dlpy/__config__.py)
_LAZY += ("_dynamo",)  # torch._dynamo (dlpy/_dynamo/): torch too imports it on first use


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend=None, mode=None,  # noqa: A001
            options=None, disable: bool = False, **kwargs):
    """torch.compile: the model run eagerly (an OptimizedModule for a Module); see
    dlpy.compiler.compile."""
    from dlpy.compiler import compile as _compile

    return _compile(model, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                    options=options, disable=disable, **kwargs)


_getattr_lazy = __getattr__


def __getattr__(name: str):  # noqa: F811 - extends the lazy lookup above with torch.vmap
    if name == "vmap":
        from dlpy.func import vmap as _vmap

        return _vmap
    if name == "Tag":  # torch.Tag, the op schema tags (dlpy/library.py)
        from dlpy.library import Tag as _Tag

        return _Tag
    if name == "torch":  # torch.torch is torch itself (libraries write torch.torch.Tensor)
        return sys.modules[__name__]
    if name in _LAZY_FROM:  # torch.parse_schema, torch.Stream, ... (imported on first use)
        return getattr(__import__(_LAZY_FROM[name], fromlist=["_"]), name)
    return _getattr_lazy(name)


# torch.parse_schema / FunctionSchema / Argument (dlpy/aten.py), the device-generic
# torch.Stream / Event (dlpy/accelerator.py), torch.Future (dlpy/futures.py),
# torch.PyTorchFileReader (dlpy/serialization.py), torch.ScriptModule (dlpy/jit.py)
_LAZY_FROM = {"parse_schema": "dlpy.aten", "FunctionSchema": "dlpy.aten", "Future": "dlpy.futures",
              "Argument": "dlpy.aten", "Stream": "dlpy.accelerator", "Event": "dlpy.accelerator",
              "_assert": "dlpy.torch_functions", "_assert_async": "dlpy.torch_functions",
              "_standard_gamma": "dlpy.torch_functions",
              "_sample_dirichlet": "dlpy.torch_functions",
              "_segment_reduce": "dlpy.ops.segment",
              "_convert_indices_from_coo_to_csr": "dlpy.sparse_tensor",
              "_convert_indices_from_csr_to_coo": "dlpy.sparse_tensor",
              "PyTorchFileReader": "dlpy.serialization", "ScriptModule": "dlpy.jit"}


_dir_lazy = __dir__


def __dir__():  # noqa: F811 - the lazy names above and vmap
    return sorted(set(_dir_lazy()) | {"Tag", "vmap"} | set(_LAZY_FROM))


from dlpy import saved_values as _saved_values  # noqa: E402

_saved_values.install()  # grad_fn._saved_self, ... on the op classes, once they are all imported

from dlpy import return_types as _return_types  # noqa: E402

_return_types.install()  # torch's names on the result types (max, sort, linalg_svd, ...)

from dlpy import numpy_aliases as _numpy_aliases  # noqa: E402

_numpy_aliases.install()  # torch's axis=/keepdims=/x=/x2= on the builtins' counterparts
