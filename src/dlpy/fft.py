"""torch.fft's functions on dlpy tensors: discrete Fourier transforms with their gradients.

    import dlpy.fft
    spectrum = dlpy.fft.rfft(signal)                 # real (..., n) -> complex (..., n // 2 + 1)
    loss = (spectrum.abs() - target).pow(2).mean()   # a spectral loss, differentiable

Names, arguments (``n``/``s``, ``dim``, ``norm`` = "backward" | "ortho" | "forward") and
gradients are PyTorch's; the transforms are numpy.fft's. A real input to a complex transform
becomes complex (float32 -> complex64, float64 -> complex128), integers become the default float
dtype first.
"""

from __future__ import annotations

import numpy as np

from dlpy.amp.state import FP32, autocast_policy
from dlpy.ops import ArgDtypeError, ArgError, check_dim
from dlpy.ops.arithmetic import cast
from dlpy.ops.complex import complex_dtype, conj, mark
from dlpy.ops.spectral import FFT, IRFFT, NORMS, RFFT, FFTShift
from dlpy.tensor import Tensor, default_dtype

__all__ = [
    "fft", "fft2", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifft2", "ifftn", "ifftshift",
    "ihfft", "irfft", "irfft2", "irfftn", "rfft", "rfft2", "rfftfreq", "rfftn",
    "hfft2", "hfftn", "ihfft2", "ihfftn",
]


class _SizeTypeError(ArgError, TypeError):
    """A number of data points (n, s) that is not an int: dlpy's ArgError, and torch's
    TypeError (its argument parser refuses a float)."""


class _ComplexDtypeError(ArgDtypeError, NotImplementedError):
    """fftfreq / rfftfreq asked for a complex dtype: dlpy's ArgDtypeError, and torch's
    NotImplementedError (its kernel has no complex arange)."""


# hfft / ihfft are irfft / rfft of the conjugate with the scale on the other transform
_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _tensor(name: str, x) -> Tensor:
    if not isinstance(x, Tensor):  # (a list, a number, an array: torch's TypeError)
        raise TypeError(f"fft_{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")
    return x


def _two(name: str, dim):
    """A 2-D transform's dim: None is torch's TypeError (an int is taken as one dim)."""
    if dim is None:
        raise TypeError(f"fft_{name}(): argument 'dim' must be tuple of ints, not NoneType")
    return dim


def _input(name: str, x, real: bool = False) -> Tensor:
    x = _tensor(name, x)
    kind = x.data.dtype.kind
    if kind in "iub":  # integers become the default float dtype, as torch's
        return cast(x, default_dtype())
    if kind not in "fc" and x.data.dtype.name != "bfloat16":
        raise ArgDtypeError(f"{name}: expected a float or complex tensor, got {x.dtype}")
    if real and kind == "c":
        raise ArgDtypeError(f"{name}: expects a real input tensor, got {x.dtype}")
    return x


def _kernel(name: str, x: Tensor) -> Tensor:
    """x, if torch's CPU transforms take its dtype: float16 and bfloat16 are refused (by a
    one-axis transform before its dim and n, by the others after their dims and sizes, and
    before the norm)."""
    if x.data.dtype == np.float16 or x.data.dtype.name == "bfloat16":
        raise ArgDtypeError(f"{name}: expected a float or complex tensor of a dtype the CPU "
                            f"transforms take, got {x.data.dtype.name}: convert to float32 first")
    return x


def _norm(name: str, norm) -> str:
    if norm is None:
        return "backward"
    if norm not in NORMS:
        raise ArgError(f"{name}: norm must be None, 'backward', 'ortho' or 'forward', got "
                       f"{norm!r}")
    return norm


def _plan(name: str, x: Tensor, s, dim, all_dims: bool, none_ok: bool = False):
    """(dims, sizes) for torch.fft's rules: dim None with s None means every axis (all_dims) or
    the default given as dim; with s, the last len(s) axes; a size of -1 keeps the length.
    ``none_ok``: no axis at all is allowed (fftn / ifftn, whose result is then a complex copy)."""
    ndim = x.ndim
    if isinstance(s, (int, np.integer)):
        s = [s]
    if dim is None:
        if s is None:
            dims = list(range(ndim)) if all_dims else []
        else:
            if len(s) > ndim:
                raise ArgError(f"{name}: s {tuple(s)} has {len(s)} values but the input has "
                               f"only {ndim} dimensions")
            dims = list(range(ndim - len(s), ndim))
    else:
        dims = [dim] if isinstance(dim, (int, np.integer)) else list(dim)
    dims = [check_dim(name, d, ndim) for d in dims]
    if len(set(dims)) != len(dims):
        raise ArgError(f"{name}: dim {dim!r} names an axis twice")
    if not dims and not none_ok:
        raise ArgError(f"{name}: needs at least one axis to transform, got dim {dim!r} for a "
                       f"tensor of shape {x.shape}")
    if s is None:
        sizes = [x.shape[d] for d in dims]
    else:
        s = list(s)
        if len(s) != len(dims):
            raise ArgError(f"{name}: s {tuple(s)} and dim {tuple(dims)} must have the same "
                           "length")
        sizes = [x.shape[d] if n == -1 else n for d, n in zip(dims, s)]
    for n in sizes:
        not_int = isinstance(n, bool) or not isinstance(n, (int, np.integer))
        if not_int or n < 1:
            raise (_SizeTypeError if not_int else ArgError)(
                f"{name}: invalid number of data points {n} (sizes must be >= 1), for a tensor "
                f"of shape {x.shape}")
    return tuple(dims), tuple(int(n) for n in sizes)


def _one(name: str, x, n, dim, real: bool = False):
    # as torch's one-axis transforms: a complex input to rfft / ihfft refused first, then dim,
    # then n, taken literally: -1 ("keep the length") is for s only
    x = _tensor(name, x)
    if real and x.is_complex():
        raise ArgDtypeError(f"{name}: expects a real input tensor, got {x.dtype}")
    _kernel(name, x)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__}")
    check_dim(name, dim, x.ndim)
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n < 1:
        raise ArgError(f"{name}: invalid number of data points {n} (n must be >= 1)")
    return None if n is None else (n,)


def _c2c(name, x, s, dim, norm, inverse, all_dims=True, one_axis=False):
    given = _tensor(name, x)
    x = _input(name, x)
    dims, sizes = _plan(name, x, s, dim, all_dims, none_ok=True)
    x = _kernel(name, x)
    if not dims:  # fftn of a 0-d tensor, or dim=(): the input as complex (norm still checked)
        _norm(name, norm)
        return mark(cast(x, complex_dtype(x.dtype)))
    # a real input's one-axis transform is torch's r2c, which converts only integers
    order = _c2c_order(given, dims, sizes, convert=not given.is_complex() and not (
        one_axis and given.is_floating_point()))
    x = _kernel(name, x)
    return mark(FFT(x.shape, dims, sizes, _norm(name, norm), inverse, order)(x))


def _r2c(name, x, s, dim, norm, all_dims=True, hermitian=False):
    given = _tensor(name, x)
    x = _input(name, x, real=not hermitian)  # (ihfftn checks its axes first, rfftn not)
    dims, sizes = _plan(name, x, s, dim, all_dims)
    x = _input(name, x, real=True)
    order = _r2c_order(given, dims, sizes, two_steps=hermitian and len(dims) > 1)
    x, norm = _kernel(name, x), _norm(name, norm)
    return mark(RFFT(x.shape, dims, sizes, _SWAP[norm] if hermitian else norm, order)(x))


def _c2r(name, x, s, dim, norm, all_dims=True, hermitian=False):
    given = _tensor(name, x)
    x = _input(name, x)
    if hermitian:  # hfft: irfft of the conjugate
        x = conj(x)
    # the last axis holds n // 2 + 1 bins of a signal of even length n, when s does not say
    # (s None, or -1 for the last axis)
    if s is None:
        dims, _ = _plan(name, x, None, dim, all_dims)
        s = [x.shape[d] for d in dims[:-1]] + [2 * (x.shape[dims[-1]] - 1)]
        dim = dims
    elif not isinstance(s, (int, np.integer)) and len(s) and s[-1] == -1:
        dims, _ = _plan(name, x, s, dim, all_dims)
        s = list(s[:-1]) + [2 * (x.shape[dims[-1]] - 1)]
        dim = dims
    dims, sizes = _plan(name, x, s, dim, all_dims)
    order = _c2r_order(given, dims, sizes, hermitian)
    x, norm = _kernel(name, x), _norm(name, norm)
    return IRFFT(x.shape, dims, sizes, _SWAP[norm] if hermitian else norm, order)(x)


# ----------------------------------------------------------------- torch's result layout
# torch's (MKL) transforms write their result in a memory order of their own, which shows in
# its strides: the axes not transformed first, by the input's stride (largest first), then the
# transformed ones (_exec_fft); a multi-axis transform sorts its axes by stride too, and
# irfftn / hfftn / ihfftn are two transforms in a row. The functions below follow those steps
# on the input's strides and give the result's axis order, outermost first.
def _contiguous(shape) -> list:
    strides, step = [0] * len(shape), 1
    for axis in range(len(shape) - 1, -1, -1):
        strides[axis] = step
        step *= max(shape[axis], 1)
    return strides


def _dense(shape, strides) -> bool:
    """torch's is_non_overlapping_and_dense: the elements fill a block of memory once."""
    expected = 1
    for axis in sorted((a for a in range(len(shape)) if shape[a] != 1), key=lambda a: strides[a]):
        if strides[axis] != expected:
            return False
        expected *= shape[axis]
    return True


def _converted(shape, strides) -> list:
    """The strides of x.to(dtype): kept when dense, else contiguous."""
    return list(strides) if _dense(shape, strides) else _contiguous(shape)


def _like(shape, strides) -> list:
    """The strides of empty_like(x) (a resolved conjugate): kept when dense, else dense ones
    in x's axis order (torch's infer_dense_strides, an insertion sort that leaves an axis of
    stride 0 where it is)."""
    if _dense(shape, strides):
        return list(strides)
    from dlpy.meta import axis_sort

    out, step = [0] * len(shape), 1
    for axis in axis_sort(shape, [strides]):  # innermost first
        out[axis] = step
        step *= shape[axis] if shape[axis] > 1 else 1
    return out


def _resized(shape, strides, dims, sizes):
    """(shape, strides) after the cut (a view) or zero-padding (a contiguous copy) to sizes."""
    shape, padded = list(shape), False
    for axis, n in zip(dims, sizes):
        padded = padded or shape[axis] < n
        shape[axis] = n
    return shape, _contiguous(shape) if padded else list(strides)


def _exec_order(strides, dims) -> list:
    """_exec_fft's order: the batch axes moved first by std::partition (which swaps from
    both ends), stably sorted by stride, largest first; then dims as given."""
    order, first, last = list(range(len(strides))), 0, len(strides)
    while True:
        while first != last and order[first] not in dims:
            first += 1
        if first == last:
            break
        last -= 1
        while first != last and order[last] in dims:
            last -= 1
        if first == last:
            break
        order[first], order[last] = order[last], order[first]
        first += 1
    return sorted(order[:first], key=lambda a: -strides[a]) + list(dims)


def _order_strides(order, shape) -> list:
    inner = _contiguous([shape[a] for a in order])
    strides = [0] * len(shape)
    for axis, stride in zip(order, inner):
        strides[axis] = stride
    return strides


def _by_stride(strides, dims) -> list:
    return sorted(dims, key=lambda a: -strides[a])


def _c2c_order(x: Tensor, dims, sizes, convert: bool) -> list:
    shape, strides = list(x.shape), list(x.stride())
    if convert:
        strides = _converted(shape, strides)
    shape, strides = _resized(shape, strides, dims, sizes)
    return _exec_order(strides, _by_stride(strides, dims))


def _r2c_order(x: Tensor, dims, sizes, two_steps: bool) -> list:
    shape, strides = list(x.shape), list(x.stride())
    if not x.is_floating_point():
        strides = _converted(shape, strides)
    shape, strides = _resized(shape, strides, dims, sizes)
    shape[dims[-1]] = shape[dims[-1]] // 2 + 1
    if two_steps:  # ihfftn: rfft over the last axis, then a complex transform of the others
        strides = _order_strides(_exec_order(strides, [dims[-1]]), shape)
        return _exec_order(strides, _by_stride(strides, dims[:-1]))
    return _exec_order(strides, _by_stride(strides, dims[:-1]) + [dims[-1]])


def _c2r_order(x: Tensor, dims, sizes, hermitian: bool) -> list:
    shape, strides = list(x.shape), list(x.stride())
    if not x.is_complex():
        strides = _converted(shape, strides)
    shape, strides = _resized(shape, strides, dims, list(sizes[:-1]) + [sizes[-1] // 2 + 1])
    if len(dims) > 1:  # a complex transform of the other axes first
        strides = _order_strides(_exec_order(strides, _by_stride(strides, dims[:-1])), shape)
    if hermitian:  # the conjugate is resolved into a copy
        strides = _like(shape, strides)
    return _exec_order(strides, [dims[-1]])


# ----------------------------------------------------------------- one axis
@autocast_policy(FP32)
def fft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:  # noqa: A002
    """The DFT along ``dim``, the input cut or zero-padded to ``n``."""
    return _c2c("fft", input, _one("fft", input, n, dim), dim, norm, inverse=False, one_axis=True)


@autocast_policy(FP32)
def ifft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:  # noqa: A002
    return _c2c("ifft", input, _one("ifft", input, n, dim), dim, norm, inverse=True, one_axis=True)


@autocast_policy(FP32)
def rfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:  # noqa: A002
    """The DFT of a real input along ``dim``: the n // 2 + 1 non-negative frequencies."""
    return _r2c("rfft", input, _one("rfft", input, n, dim, real=True), dim, norm)


@autocast_policy(FP32)
def irfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:  # noqa: A002
    """The real signal of length n (default 2 * (bins - 1)) whose rfft is ``input``."""
    return _c2r("irfft", input, _one("irfft", input, n, dim), dim, norm)


@autocast_policy(FP32)
def hfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:  # noqa: A002
    """The real DFT of a Hermitian-symmetric signal given by its first half (irfft of the
    conjugate, scaled as a forward transform)."""
    return _c2r("hfft", input, _one("hfft", input, n, dim), dim, norm, hermitian=True)


@autocast_policy(FP32)
def ihfft(input, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:  # noqa: A002
    """The inverse of hfft: the conjugate of rfft, scaled as an inverse transform."""
    return conj(_r2c("ihfft", input, _one("ihfft", input, n, dim, real=True), dim, norm,
                     hermitian=True))


# ----------------------------------------------------------------- two and n axes
@autocast_policy(FP32)
def fft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:  # noqa: A002
    return _c2c("fft2", input, s, _two("fft2", dim), norm, inverse=False)


@autocast_policy(FP32)
def ifft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:  # noqa: A002
    return _c2c("ifft2", input, s, _two("ifft2", dim), norm, inverse=True)


@autocast_policy(FP32)
def rfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:  # noqa: A002
    return _r2c("rfft2", input, s, _two("rfft2", dim), norm)


@autocast_policy(FP32)
def irfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:  # noqa: A002
    return _c2r("irfft2", input, s, _two("irfft2", dim), norm)


@autocast_policy(FP32)
def fftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:  # noqa: A002
    """The DFT over ``dim`` (None: the last len(s) axes, or every axis), sizes ``s``."""
    return _c2c("fftn", input, s, dim, norm, inverse=False)


@autocast_policy(FP32)
def ifftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:  # noqa: A002
    return _c2c("ifftn", input, s, dim, norm, inverse=True)


@autocast_policy(FP32)
def rfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:  # noqa: A002
    """The real-input DFT over ``dim``; the last of them keeps n // 2 + 1 frequencies."""
    return _r2c("rfftn", input, s, dim, norm)


@autocast_policy(FP32)
def irfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:  # noqa: A002
    return _c2r("irfftn", input, s, dim, norm)


def hfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:  # noqa: A002
    """hfft over two axes: the real DFT of a Hermitian signal, the last axis one-sided."""
    return _hermitian("hfft2", input, s, _two("hfft2", dim), norm)


def ihfft2(input, s=None, dim=(-2, -1), norm: str | None = None) -> Tensor:  # noqa: A002
    """The inverse of hfft2: the conjugate of rfft2, scaled as an inverse transform."""
    return _inverse_hermitian("ihfft2", input, s, _two("ihfft2", dim), norm)


def hfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:  # noqa: A002
    """hfft over ``dim`` (fftn's defaults): irfftn of the conjugate, scaled as forward."""
    return _hermitian("hfftn", input, s, dim, norm)


def ihfftn(input, s=None, dim=None, norm: str | None = None) -> Tensor:  # noqa: A002
    """The inverse of hfftn: the conjugate of rfftn, scaled as an inverse transform."""
    return _inverse_hermitian("ihfftn", input, s, dim, norm)


def _hermitian(name, x, s, dim, norm):
    # fftn of a Hermitian X is real: N conj(ifftn(conj X)) = irfftn of conj(x), norms swapped
    return _c2r(name, x, s, dim, norm, hermitian=True)


def _inverse_hermitian(name, x, s, dim, norm):
    # ifftn of a real x = conj(fftn(x)) / N: rfftn's half, conjugated, norms swapped
    return conj(_r2c(name, x, s, dim, norm, hermitian=True))


# ----------------------------------------------------------------- frequencies and shifts
def _frequencies(name: str, values: np.ndarray, dtype, requires_grad: bool) -> Tensor:
    dtype = np.dtype(default_dtype(dtype))
    if dtype.kind != "f" and dtype.name != "bfloat16":
        raise (_ComplexDtypeError if dtype.kind == "c" else ArgDtypeError)(
            f"{name}: dtype must be a float dtype, got {dtype}")
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def _count(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name}: n must be an int, got {n!r}")
    if n < 0:
        raise ArgError(f"{name}: n must be a non-negative int, got {n!r}")
    return int(n)


def _spacing(n: int, d) -> float:
    """torch's scale 1 / (n d) in float64: inf (and nan bins) where n d is 0."""
    with np.errstate(divide="ignore"):
        return float(np.float64(1.0) / (np.float64(n) * np.float64(float(d))))


def fftfreq(n: int, d: float = 1.0, *, dtype=None, layout=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """The frequencies of fft's n bins for sample spacing d: [0, 1, ..., -1] / (d n)."""
    n = _count("fftfreq", n)
    bins = np.arange(n, dtype=np.float64)
    bins[(n + 1) // 2:] -= n
    with np.errstate(invalid="ignore"):
        values = bins * _spacing(n, d)
    return _frequencies("fftfreq", values, dtype, requires_grad)


def rfftfreq(n: int, d: float = 1.0, *, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """The frequencies of rfft's n // 2 + 1 bins for sample spacing d (torch's C++ division:
    n = -1 gives one bin, n = -2 and -3 none)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"rfftfreq: n must be an int, got {n!r}")
    n = int(n)
    count = (n // 2 if n >= 0 else -(-n // 2)) + 1
    if count < 0:
        raise ArgError(f"rfftfreq: n = {n} gives a negative number of bins")
    with np.errstate(invalid="ignore"):  # n = 0: 0 / 0 = nan, as torch's
        values = np.arange(count, dtype=np.float64) * _spacing(n, d)
    return _frequencies("rfftfreq", values, dtype, requires_grad)


def _shift(name: str, x, dim, inverse: bool) -> Tensor:
    x = _tensor(name, x)
    if dim is None:
        dims = tuple(range(x.ndim))
        if not dims:  # a 0-d tensor: no axis to shift, as torch's (numpy's roll would fail)
            raise ArgError(f"{name}: `shifts` required (a 0-d tensor has no axis to shift)")
    else:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if not dims:
            raise RuntimeError(f"{name}: `shifts` required (dim is empty)")
        dims = tuple(check_dim(name, d, x.ndim) for d in dims)
    return FFTShift(dims, inverse)(x)


def fftshift(input, dim=None) -> Tensor:  # noqa: A002
    """The zero frequency moved to the middle of ``dim`` (None: every axis)."""
    return _shift("fftshift", input, dim, inverse=False)


def ifftshift(input, dim=None) -> Tensor:  # noqa: A002
    """The inverse of fftshift."""
    return _shift("ifftshift", input, dim, inverse=True)


# ----------------------------------------------------------------- out=
def _with_out(function):
    """torch.fft's ``out=``: the result written into ``out`` (cast to its dtype when torch's
    rules allow: complex64 into complex128, not complex into float), as torch.linalg's."""
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        from dlpy.torch_functions import write_out

        # a transform's out= has its result's kind: complex, or real (irfft, hfft), checked
        # as torch's: by a one-axis real-to-complex or complex-to-real transform (fft / ifft
        # of a real input too) before its input, by the others last
        name = function.__name__
        given = args[0] if args else kwargs.get("input")
        complex_result = not name.startswith(("irfft", "hfft"))

        def check_kind():
            if isinstance(out, Tensor) and complex_result != (out.dtype.kind == "c"):
                raise ArgDtypeError(f"{name} expects a "
                                    f"{'complex' if complex_result else 'floating point'} "
                                    f"output tensor, but got {out.dtype}")
        one_axis = name in ("rfft", "irfft", "hfft", "ihfft") or (
            name in ("fft", "ifft") and isinstance(given, Tensor) and not given.is_complex())
        if one_axis:
            check_kind()
        result = function(*args, **kwargs)
        if not one_axis:
            check_kind()
        return write_out(f"fft.{name}", result, out, exact=False)

    with_out.__name__ = with_out.__qualname__ = function.__name__
    with_out.__doc__, with_out.__wrapped__ = function.__doc__, function
    return with_out


def _frequencies_out(function):
    """fftfreq / rfftfreq's out=: torch's creation functions' (the values made in out's dtype,
    a dtype given that is not it an error, requires_grad=True asked of out)."""
    from dlpy import _creation_out

    return _creation_out(function)


for _name in __all__:
    if _name.endswith("freq"):
        globals()[_name] = _frequencies_out(globals()[_name])
    elif not _name.endswith("shift"):  # torch's fftshift / ifftshift have no out=
        globals()[_name] = _with_out(globals()[_name])
