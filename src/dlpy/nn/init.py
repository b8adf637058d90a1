"""torch.nn.init: fill a tensor's values in place (no graph is recorded), keep its dtype,
return it. A numpy array (a parameter's ``.data``) is filled in place too.

Random fills draw float64 from ``generator`` (a numpy Generator; dlpy's default generator
when None) and cast: U(a, b) is ``generator.uniform(a, b, shape)`` and N(mean, std^2) is
``generator.normal(mean, std, shape)``, so the bounds and standard deviations are PyTorch's
but the streams are numpy's. fan_in = size(1) * receptive field, fan_out = size(0) *
receptive field, where the receptive field is the product of the sizes after the first two.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from dlpy import random_streams as streams
from dlpy._caller import user_stacklevel
from dlpy.meta import holds_meta
from dlpy.random import fork_rng, get_rng
from dlpy.tensor import Tensor, increment_version, is_floating_dtype

__all__ = [
    "calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "orthogonal_", "sparse_", "trunc_normal_", "uniform_", "xavier_normal_",
    "xavier_uniform_", "zeros_",
    # PyTorch's deprecated names without the underscore: they warn and call the underscore form
    "constant", "dirac", "eye", "kaiming_normal", "kaiming_uniform", "normal", "orthogonal",
    "sparse", "uniform", "xavier_normal", "xavier_uniform",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")
NONLINEARITIES = (*_LINEAR, "tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain of a nonlinearity (``nn.functional`` name): 1 for linear, conv and
    sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + negative_slope^2)) for leaky_relu
    (``param``, default 0.01), 3/4 for selu."""
    if nonlinearity in _LINEAR:
        return 1  # an int, as torch's
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, float) or (isinstance(param, int) and not isinstance(param, bool)):
            negative_slope = param  # as torch: a Python int or float (np.float64 is a float)
        else:
            raise ValueError(f"init.calculate_gain: leaky_relu's negative_slope must be a "
                             f"number, got {param!r}")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"init.calculate_gain: unsupported nonlinearity {nonlinearity!r}; "
                     f"expected one of {', '.join(NONLINEARITIES)}")


def _calculate_fan_in_and_fan_out(tensor: Tensor, caller: str = "init") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of at least 2 dimensions, as PyTorch computes them."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"{caller}: fan in and fan out need a tensor of at least 2 "
                         f"dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str, caller: str = "init") -> int:
    mode = _check_mode(mode, caller)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, caller)
    return fan_in if mode == "fan_in" else fan_out


def _check_mode(mode: str, caller: str) -> str:
    lowered = mode.lower()  # a mode that is not a string: AttributeError, as torch's
    if lowered not in ("fan_in", "fan_out"):
        raise ValueError(f"{caller}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return lowered


def _check_tensor(tensor: Tensor, caller: str, random: bool = False,
                  complex_ok: bool = False) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{caller}: expected a dlpy Tensor or Parameter, got "
                        f"{type(tensor).__name__}")
    if random and not is_floating_dtype(tensor.data.dtype) \
            and not (complex_ok and tensor.data.dtype.kind == "c"):
        raise _NotFloatError(f"{caller}: random values need a floating-point tensor, got "
                             f"{tensor.data.dtype}")


class _NotFloatError(NotImplementedError, TypeError):
    """A random fill of an integer or bool tensor: torch's NotImplementedError (no kernel)."""


class _BoundsError(ValueError, RuntimeError):
    """Bounds a > b or a negative std: a ValueError, and the RuntimeError of torch's
    ``Tensor.uniform_`` / ``normal_``."""


class _ZeroScaleError(ValueError, ZeroDivisionError):
    """trunc_normal_ with std 0, xavier_* of a (0, 0) tensor, dirac_ with groups 0: a
    ValueError, and the ZeroDivisionError torch's formulas raise."""


def _generator(generator: np.random.Generator | None, caller: str) -> np.random.Generator:
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{caller}: generator must be a numpy Generator or None, got "
                        f"{type(generator).__name__}")
    return get_rng(generator)


def _fill(tensor: Tensor, values) -> Tensor:
    """Write ``values`` into the tensor's array in place, cast to its dtype."""
    if tensor.data.flags.writeable:
        tensor.data[...] = values
        increment_version(tensor)  # ops recorded before would read the new values
    else:  # a read-only array (a broadcast view): give the tensor an array of its own
        tensor.data = np.array(np.broadcast_to(values, tensor.shape), dtype=tensor.dtype)
    return tensor


def _uniform(tensor: Tensor, a: float, b: float, generator, caller: str) -> Tensor:
    _check_tensor(tensor, caller, random=True, complex_ok=True)
    if not a <= b:  # also refuses NaN
        raise _BoundsError(f"{caller}: expected a <= b, got a={a}, b={b}")
    if not math.isfinite(b - a):  # torch's "to - from exceeds the dtype's range"
        raise _BoundsError(f"{caller}: b - a must be finite, got a={a}, b={b}")
    from dlpy.creation import _FLOAT_DIGITS

    if tensor.data.dtype.name in _FLOAT_DIGITS:  # torch's check_uniform_bounds: the bounds
        # and their difference within the dtype's range (float16's 65504)
        largest = 3.3895313892515355e38 if tensor.data.dtype.name == "bfloat16" else \
            float(np.finfo(tensor.data.dtype).max)
        torch_name = _FLOAT_DIGITS[tensor.data.dtype.name][1]
        for what, value in (("from", a), ("to", b)):
            if not -largest <= value <= largest:
                raise _BoundsError(f"{caller}: {what} is out of bounds for {torch_name}")
        if b - a > largest:
            raise _BoundsError(f"{caller}: expects to - from <= the largest {torch_name}, but "
                               f"found to={b} and from={a}")
    rng = _generator(generator, caller)
    return _fill(tensor, _in_memory_order(
        tensor.data, lambda shape, _: streams.uniform(rng, shape, _draw_dtype(tensor), a, b)))


def _normal(tensor: Tensor, mean: float, std: float, generator, caller: str,
            layout: np.ndarray | None = None) -> Tensor:
    """``layout``: the array whose memory the draws walk (Tensor.normal_ fills a new tensor
    for its own); the tensor's by default."""
    _check_tensor(tensor, caller, random=True, complex_ok=True)
    if not std >= 0:
        raise _BoundsError(f"{caller}: std must be >= 0, got {std}")
    rng = _generator(generator, caller)
    if tensor.data.dtype.kind == "c":  # torch's real and imaginary parts: std / sqrt(2) each
        std = std / math.sqrt(2)
    return _fill(tensor, _in_memory_order(
        tensor.data if layout is None else layout,
        lambda shape, contiguous: streams.normal(rng, shape, _draw_dtype(tensor), mean, std,
                                                 contiguous)))


def _in_memory_order(array, draw) -> np.ndarray:
    """``draw(shape, contiguous)``'s values laid out as torch's kernels write them into
    ``array``: in the order of its memory (a transposed tensor's first row is not the first
    values drawn), and whether it is contiguous (normal_'s batched draws)."""
    from dlpy.tensor_methods import _memory_order

    pairs = array.dtype.kind == "c"  # torch's view_as_real: (real, imag), the innermost axis

    def drawn(shape, contiguous):
        values = draw((*shape, 2) if pairs else shape, contiguous)
        return values[..., 0] + 1j * values[..., 1] if pairs else values

    perm = _memory_order(array)
    if perm is None:
        return drawn(array.shape, type(array) is not np.ndarray or array.flags.c_contiguous)
    return drawn(tuple(array.shape[i] for i in perm), False).transpose(np.argsort(perm))


def _draw_dtype(tensor: Tensor) -> np.dtype:
    """The dtype torch's uniform_/normal_ draw in: the tensor's (a complex one's real
    counterpart; float32 for an integer one, which torch refuses elsewhere)."""
    dtype = tensor.dtype
    if dtype.kind == "c":
        return np.dtype(np.float64 if dtype == np.complex128 else np.float32)
    return dtype if dtype.kind == "f" or (dtype.kind == "V" and dtype.itemsize == 2) \
        else np.dtype(np.float32)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Tensor:
    """Values from U(a, b)."""
    return _uniform(tensor, a, b, generator, "init.uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Values from N(mean, std^2)."""
    return _normal(tensor, mean, std, generator, "init.normal_")


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: np.random.Generator | None = None) -> Tensor:
    """Values from N(mean, std^2) restricted to [a, b] (a and b are values, not multiples of
    std). As PyTorch: values outside are redrawn when [a, b] holds more than 30% of the mass,
    else uniform proposals on [a, b] are accepted with probability pdf / peak pdf. As
    torch's, std = 0 raises ZeroDivisionError and a negative std acts as its absolute value."""
    caller = "init.trunc_normal_"
    _check_tensor(tensor, caller, random=True)
    if not a <= b:
        raise _BoundsError(f"{caller}: expected a <= b, got a={a}, b={b}")
    if std == 0:
        raise _ZeroScaleError(f"{caller}: std must not be 0")
    rng = _generator(generator, caller)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("init.trunc_normal_: mean is more than 2 std from [a, b]; the "
                      "distribution of values may be incorrect", stacklevel=2)

    def cdf(x: float) -> float:
        return (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0)))) / 2.0

    size = tensor.data.size
    if streams.is_torch(rng):
        return _fill(tensor, _trunc_normal_torch(rng, tensor, mean, std, a, b))
    if cdf(b) - cdf(a) > 0.3:
        values = rng.normal(mean, std, size)
        redraw = np.flatnonzero((values < a) | (values > b))
        while redraw.size:
            values[redraw] = rng.normal(mean, std, redraw.size)
            redraw = redraw[(values[redraw] < a) | (values[redraw] > b)]
    else:
        log_peak = -0.5 * ((min(max(mean, a), b) - mean) / std) ** 2
        values = np.empty(size)
        pending = np.arange(size)
        while pending.size:
            candidates = rng.uniform(a, b, pending.size)
            log_ratio = -0.5 * ((candidates - mean) / std) ** 2 - log_peak
            accept = np.log(rng.random(pending.size)) <= log_ratio
            values[pending[accept]] = candidates[accept]
            pending = pending[~accept]
    return _fill(tensor, values.reshape(tensor.shape))


def _trunc_normal_torch(rng, tensor: Tensor, mean: float, std: float, a: float, b: float):
    """torch 2.13's trunc_normal_ draw for draw, in the tensor's dtype: normal_ redrawn whole
    while values fall outside [a, b] (more than 30% of the mass inside), else U(a, b)
    proposals accepted where log U(0, 1) <= -((x - mean) / std)^2 / 2 - log_peak."""
    from dlpy.tensor_methods import _memory_order

    dtype, work = _draw_dtype(tensor), _draw_dtype(tensor).type
    # every draw walks the tensor's memory (its first row is not the first values of a
    # transposed one): drawn in that order, the axes put back at the end
    perm = _memory_order(tensor.data)
    shape = tensor.shape if perm is None else tuple(tensor.shape[i] for i in perm)
    if perm is not None:
        return _trunc_normal_drawn(rng, dtype, work, shape, mean, std, a, b, False,
                                   tensor.data.transpose(perm).flags.c_contiguous
                                   ).transpose(np.argsort(perm))
    contiguous = type(tensor.data) is not np.ndarray or tensor.data.flags.c_contiguous
    return _trunc_normal_drawn(rng, dtype, work, shape, mean, std, a, b, contiguous, False)


def _trunc_normal_drawn(rng, dtype, work, shape, mean: float, std: float, a: float, b: float,
                        contiguous: bool, dense: bool) -> np.ndarray:
    """_trunc_normal_torch's values in memory order. ``contiguous``: the tensor is (normal_'s
    batched draws); ``dense``: it is a permutation of a contiguous one, so the redraws'
    empty_like keeps its strides (else they are contiguous)."""
    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if cdf((b - mean) / std) - cdf((a - mean) / std) > 0.3:
        low, high = work(a), work(b)  # the bounds in the tensor's dtype, as torch's
        result = streams.normal(rng, shape, dtype, mean, std, contiguous)
        while True:
            outside = (result < low) | (result > high)
            if not outside.any():
                return result
            result = np.where(outside, streams.normal(rng, shape, dtype, mean, std,
                                                      contiguous or not dense), result)
    log_peak = -0.5 * ((max(a, min(mean, b)) - mean) / std) ** 2

    def log_pdf(x):  # torch's in-place chain, each step in the dtype
        return (((x - work(mean)) / work(std)) ** 2 * work(-0.5) - work(log_peak)).astype(dtype)

    def rejected(x):
        with np.errstate(divide="ignore"):  # a uniform 0 (float16): -inf, as torch's log_
            return np.log(streams.uniform(rng, shape, dtype)) > log_pdf(x)

    result = streams.uniform(rng, shape, dtype, a, b)
    pending = rejected(result)
    while pending.any():
        candidates = streams.uniform(rng, shape, dtype, a, b)
        result = np.where(pending, candidates, result)
        pending = np.where(pending, rejected(candidates), pending)
    return result


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Every value ``val`` (a number or a 0-d tensor)."""
    _check_tensor(tensor, "init.constant_")
    if isinstance(val, Tensor) and val.ndim:
        raise _BoundsError(f"init.constant_: val must be a number or a 0-d tensor, got a "
                           f"tensor of shape {val.shape}")
    return _fill(tensor, val.item() if isinstance(val, Tensor) else val)


def ones_(tensor: Tensor) -> Tensor:
    """Every value 1."""
    _check_tensor(tensor, "init.ones_")
    return _fill(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Every value 0."""
    _check_tensor(tensor, "init.zeros_")
    return _fill(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (ones on the main diagonal of a 2-D tensor of any shape)."""
    _check_tensor(tensor, "init.eye_")
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_: expected a 2-dimensional tensor, got shape "
                         f"{tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: np.random.Generator | None = None) -> Tensor:
    """U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot)."""
    _check_tensor(tensor, "init.xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "init.xavier_uniform_")
    if fan_in + fan_out == 0:
        raise _ZeroScaleError(f"init.xavier_uniform_: fan_in + fan_out is 0 (shape {tensor.shape})")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    if tensor.data.size == 0:
        return tensor
    bound = math.sqrt(3.0) * std
    return _uniform(tensor, -bound, bound, generator, "init.xavier_uniform_")


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: np.random.Generator | None = None) -> Tensor:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot)."""
    _check_tensor(tensor, "init.xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "init.xavier_normal_")
    if fan_in + fan_out == 0:
        raise _ZeroScaleError(f"init.xavier_normal_: fan_in + fan_out is 0 (shape {tensor.shape})")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    if tensor.data.size == 0:
        return tensor
    return _normal(tensor, 0.0, std, generator, "init.xavier_normal_")


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, caller: str
                 ) -> float | None:
    """gain / sqrt(fan) (He); None for a tensor with a size 0 (PyTorch warns and skips before
    it checks the other arguments)."""
    _check_tensor(tensor, caller)
    if 0 in tensor.shape:
        warnings.warn(f"{caller}: initializing a zero-element tensor is a no-op",
                      stacklevel=user_stacklevel())
        return None
    fan = _calculate_correct_fan(tensor, mode, caller)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """U(-bound, bound), bound = gain * sqrt(3 / fan_mode), gain = calculate_gain(nonlinearity,
    a) (He). ``a`` is leaky_relu's negative slope; mode 'fan_in' or 'fan_out'."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "init.kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _uniform(tensor, -bound, bound, generator, "init.kaiming_uniform_")


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """N(0, std^2), std = gain / sqrt(fan_mode), gain = calculate_gain(nonlinearity, a) (He)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "init.kaiming_normal_")
    if std is None:
        return tensor
    return _normal(tensor, 0.0, std, generator, "init.kaiming_normal_")


def orthogonal_(tensor: Tensor, gain: float = 1.0,
                generator: np.random.Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain``: the tensor seen as (size(0), the rest)
    has orthonormal rows or columns (whichever are fewer), from the QR decomposition of a
    standard normal matrix with the signs fixed so that it is uniformly distributed."""
    caller = "init.orthogonal_"
    _check_tensor(tensor, caller)
    if tensor.ndim < 2:
        raise ValueError(f"{caller}: expected a tensor of at least 2 dimensions, got shape "
                         f"{tensor.shape}")
    if tensor.data.size == 0:
        return tensor
    _check_tensor(tensor, caller, random=True)
    rng = _generator(generator, caller)
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flattened = streams.normal(rng, (rows, cols), _draw_dtype(tensor)) \
        if streams.is_torch(rng) else rng.standard_normal((rows, cols))
    if tensor.data.dtype.itemsize == 2:  # drawn first, as torch's, then its QR has no kernel
        raise _NotFloatError(f'{caller}: "geqrf_cpu" not implemented for '
                             f"'{'Half' if tensor.data.dtype == np.float16 else 'BFloat16'}'")
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    q = q * np.sign(np.diag(r))  # the sign of R's diagonal makes Q uniform (Haar)
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta of a 3-, 4- or 5-d convolution weight (out, in, *kernel): a 1 at the
    kernel's centre (size // 2 on each axis) for output channel g * out/groups + d and input
    channel d, d < min(out/groups, in), zeros elsewhere, so the convolution passes its input
    through (the first channels of each group)."""
    caller = "init.dirac_"
    _check_tensor(tensor, caller)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"{caller}: expected a 3, 4 or 5-dimensional tensor, got shape "
                         f"{tensor.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 \
            or tensor.shape[0] % groups:
        zero = isinstance(groups, (int, np.integer)) and groups == 0  # (torch's size % groups)
        raise (_ZeroScaleError if zero else ValueError)(
            f"{caller}: groups must be a positive divisor of dim 0 ({tensor.shape[0]}), got "
            f"{groups!r}")
    out_per_group = tensor.shape[0] // groups
    channels = np.arange(min(out_per_group, tensor.shape[1]))
    centre = tuple(size // 2 for size in tensor.shape[2:])
    values = np.zeros(tensor.shape)
    for g in range(groups):
        values[(g * out_per_group + channels, channels) + centre] = 1
    return _fill(tensor, values)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01,
            generator: np.random.Generator | None = None) -> Tensor:
    """A sparse 2-D matrix (Martens 2010): values from N(0, std^2), then in each column
    ceil(sparsity * rows) entries, at random rows, set to zero (as torch's, a count past the
    rows zeroes them all and a negative one all but that many)."""
    caller = "init.sparse_"
    _check_tensor(tensor, caller, random=True)
    if tensor.ndim != 2:
        raise ValueError(f"{caller}: expected a 2-dimensional tensor, got shape "
                         f"{tensor.shape}")
    if not std >= 0:
        raise _BoundsError(f"{caller}: std must be >= 0, got {std}")
    rng = _generator(generator, caller)
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    if streams.is_torch(rng):  # torch's: normal_, then a randperm a column (the default
        values = _in_memory_order(  # (generator), the normal_ walking the tensor's memory
            tensor.data, lambda shape, contiguous: streams.normal(
                rng, shape, _draw_dtype(tensor), 0.0, std, contiguous)).copy()
        for col in range(cols):
            values[streams.randperm(get_rng(None), rows)[:num_zeros], col] = 0.0
        return _fill(tensor, values)
    values = rng.normal(0.0, std, (rows, cols))
    zero_rows = np.argsort(rng.random((rows, cols)), axis=0)[:num_zeros]  # a permutation each
    values[zero_rows, np.arange(cols)] = 0.0
    return _fill(tensor, values)


# the inits torch fills through uniform_ or copy_ (a fake CUDA tensor's: its CPU-only build's
# RuntimeError)
_CUDA_KERNELS = frozenset({"uniform_", "trunc_normal_", "xavier_uniform_", "kaiming_uniform_",
                           "orthogonal_", "sparse_", "dirac_"})


def _fills_arrays(init):
    """Let ``init`` take a parameter's ``.data`` too (torch's ``nn.init.normal_(m.weight.data,
    0.0, 0.02)``; dlpy's ``.data`` is the numpy array): filled in place through a Tensor that
    shares it, and returned."""

    @functools.wraps(init)
    def fill_array_or_tensor(tensor, *args, **kwargs):
        if holds_meta(tensor):
            if getattr(tensor, "is_cuda", False) and init.__name__ in _CUDA_KERNELS:
                # a FakeTensorMode's CUDA tensor: torch runs uniform_ / copy_ on CUDA there
                raise RuntimeError("PyTorch is not linked with support for cuda devices")
            # a meta tensor keeps having no values: the arguments are checked on a stand-in
            # of its shape and dtype, drawing from a forked generator (torch's draw nothing)
            with fork_rng():
                init(Tensor(np.empty(tensor.data.shape, tensor.data.dtype)), *args, **kwargs)
            return tensor
        if not isinstance(tensor, np.ndarray):
            return init(tensor, *args, **kwargs)
        shared = Tensor(tensor)
        init(shared, *args, **kwargs)
        if shared.data is not tensor:  # the fill replaced the array: copy into the given one
            tensor[...] = shared.data
        return tensor

    return fill_array_or_tensor


uniform_ = _fills_arrays(uniform_)
normal_ = _fills_arrays(normal_)
trunc_normal_ = _fills_arrays(trunc_normal_)
constant_ = _fills_arrays(constant_)
ones_ = _fills_arrays(ones_)
zeros_ = _fills_arrays(zeros_)
eye_ = _fills_arrays(eye_)
dirac_ = _fills_arrays(dirac_)
xavier_uniform_ = _fills_arrays(xavier_uniform_)
xavier_normal_ = _fills_arrays(xavier_normal_)
kaiming_uniform_ = _fills_arrays(kaiming_uniform_)
kaiming_normal_ = _fills_arrays(kaiming_normal_)
orthogonal_ = _fills_arrays(orthogonal_)
sparse_ = _fills_arrays(sparse_)


def _deprecated(method):
    """PyTorch's old name of ``method`` (no trailing underscore): warns, then calls it."""
    old_name = method.__name__[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"nn.init.{old_name} is now deprecated in favor of "
                      f"nn.init.{method.__name__}", FutureWarning, stacklevel=2)
        return method(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    deprecated_init.__doc__ = f"Deprecated: use {method.__name__}."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
