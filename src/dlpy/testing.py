"""Gradient checking: compare backward() with central differences, for dlpy's ops and your own.

    from dlpy.testing import gradcheck
    x = dlpy.Tensor(np.random.randn(3, 4), requires_grad=True)   # float64
    gradcheck(lambda x: F.softmax(x, dim=-1), x)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlpy.sparse_grad import dense
from dlpy.tensor import Tensor, no_grad


class GradcheckError(RuntimeError, AssertionError):
    """backward() and the finite differences disagree (a RuntimeError, as torch's, and an
    AssertionError, so tests report it). ``input``: the index of the input it names, if any."""

    input: int | None = None


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
    any_float: bool = False,
    directions: int | None = None,
) -> bool:
    """Check the gradients of ``fn(*inputs)`` for every input Tensor with ``requires_grad=True``.

    The scalar differentiated is ``sum(fn(*inputs) * w)`` with ``w`` a fixed random array, so every
    output element counts (a plain sum would hide a softmax's gradient, which sums to zero).
    The analytic gradient (``backward``) must match the central difference
    ``(f(x + eps) - f(x - eps)) / (2 eps)`` within ``atol + rtol * |numeric|`` everywhere.
    Inputs must be float64 or complex128 (any_float=True: other float dtypes are checked in
    their own, usually too coarse, precision). A complex input's gradient is torch's
    dL/dx + i dL/dy (z = x + iy, each part perturbed); a complex output is weighted by a
    complex w through Re(sum(out * conj(w))), whose gradient at the output is w. ``fn`` must
    be deterministic (give dropout a seeded generator).
    ``directions=k`` checks k random directions u of each input instead of every element (as
    torch's fast_mode): the derivative along u, (f(x + eps u) - f(x - eps u)) / (2 eps), must
    match the gradient's projection <grad, u> (its real and imaginary parts for a complex
    input). 2k evaluations of ``fn`` an input instead of 2 an element: for the gradchecks of
    second and third derivatives, where each evaluation is a whole create_graph pass. A wrong
    element still moves every projection (u is Gaussian), but the error report cannot say
    where.
    Returns True, or raises GradcheckError naming the input, the largest error and where it is.
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    for i, t in checked:
        if t.dtype not in _DOUBLE and not (any_float and t.dtype.kind in "fc"):
            raise TypeError(
                f"gradcheck: {_name(i, t)} is {t.dtype}; central differences need float64 "
                "(or complex128)"
            )

    saved_grads = [t.grad for _, t in checked]
    try:
        for _, t in checked:
            t.grad = None
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
        rng = np.random.default_rng(seed)
        weights = rng.standard_normal(out.shape)
        if out.dtype.kind == "c":
            weights = weights + 1j * rng.standard_normal(out.shape)
        grads = [None] * len(checked)
        if out.requires_grad:  # autograd.grad: inputs that are not leaves (views) count too
            from dlpy.autograd import grad as autograd_grad
            grads = autograd_grad(out, [t for _, t in checked], Tensor(weights),
                                  allow_unused=True)
        analytic = [np.zeros(t.shape) if g is None else
                    dense(g.data if isinstance(g, Tensor) else g)
                    for (_, t), g in zip(checked, grads)]
    finally:
        for (_, t), grad in zip(checked, saved_grads):
            t.grad = grad

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * np.conj(weights)).real)

    for (i, t), grad in zip(checked, analytic):
        if directions is not None:
            _check_directions(objective, i, t, grad, eps, atol, rtol,
                              np.random.default_rng([seed, i]), directions)
            continue
        numeric = _central_differences(objective, t, eps)
        error = np.abs(grad - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            where = np.unravel_index(int(np.argmax(np.where(bad, error, -1.0))), t.shape)
            where = tuple(int(w) for w in where)
            failure = GradcheckError(
                f"gradcheck: the gradient of {_name(i, t)} (shape {t.shape}) is wrong at "
                f"{int(bad.sum())} of {t.data.size} positions; largest error {error[where]:.3g} at "
                f"index {where}: backward gave {grad[where]:.10g}, finite differences "
                f"{numeric[where]:.10g} (atol={atol}, rtol={rtol})"
            )
            failure.input = i
            raise failure
    return True


_DOUBLE = (np.dtype(np.float64), np.dtype(np.complex128))


def _check_directions(objective: Callable[[], float], i: int, t: Tensor, grad: np.ndarray,
                      eps: float, atol: float, rtol: float, rng, count: int) -> None:
    """gradcheck(directions=count) of input ``i``: central differences along ``count``
    Gaussian directions, each part of a complex input apart, against <grad, u>."""
    original = t.data
    parts = ((1, grad.real), (1j, grad.imag)) if t.dtype.kind == "c" else ((1, grad.real),)
    try:
        for k in range(count):
            u = rng.standard_normal(original.shape)
            for step, part in parts:
                t.data = (original + step * eps * u).astype(original.dtype)
                plus = objective()
                t.data = (original - step * eps * u).astype(original.dtype)
                minus = objective()
                numeric = (plus - minus) / (2 * eps)
                analytic = float(np.sum(part * u))
                if abs(analytic - numeric) > atol + rtol * abs(numeric):
                    failure = GradcheckError(
                        f"gradcheck: the gradient of {_name(i, t)} (shape {t.shape}) is wrong "
                        f"along random direction {k}{' (imaginary part)' if step == 1j else ''}"
                        f": backward gives {analytic:.10g}, finite differences {numeric:.10g} "
                        f"(atol={atol}, rtol={rtol})")
                    failure.input = i
                    raise failure
    finally:
        t.data = original


def _central_differences(objective: Callable[[], float], t: Tensor, eps: float) -> np.ndarray:
    original = t.data
    t.data = original.copy()  # perturb a private copy: the caller's array is never touched
    flat = t.data.reshape(-1)  # a view of t.data
    steps = (1, 1j) if t.dtype.kind == "c" else (1,)  # a complex entry: its two parts
    numeric = np.zeros(t.data.size, dtype=np.complex128 if len(steps) == 2 else np.float64)
    try:
        for k in range(t.data.size):
            value = flat[k]
            for step in steps:
                flat[k] = value + step * eps
                plus = objective()
                flat[k] = value - step * eps
                minus = objective()
                flat[k] = value
                numeric[k] += step * (plus - minus) / (2 * eps)
    finally:
        t.data = original
    return numeric.reshape(t.shape)


def _name(i: int, t: Tensor) -> str:
    return f"input {i} ({t.name})" if t.name else f"input {i}"


# torch.testing.assert_close's default (rtol, atol) by dtype; integers and bools: exact
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5),
               "complex128": (1e-7, 1e-7)}
_NUMBER_DTYPES = {int: "int64", float: "float64", complex: "complex128"}


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise, its message, where in the inputs."""

    def __init__(self, kind: type, text: str, where: tuple = ()):
        super().__init__(text)
        self.kind, self.text, self.where = kind, text, where

    def error(self, msg=None) -> Exception:
        if isinstance(msg, str):
            return self.kind(msg)
        text = self.text
        if self.where:
            text += "\n\nThe failure occurred for item " + "".join(str([k]) for k in self.where)
        return self.kind(msg(text) if callable(msg) else text)


def _tolerances(dtypes, rtol, atol) -> tuple[float, float]:
    if rtol is not None:
        return rtol, atol
    pairs = [_TOLERANCES.get(np.dtype(d).name, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, complex)) and not isinstance(value, bool)


def _is_tensor_like(value) -> bool:
    from dlpy.sparse_tensor import SparseTensor

    return isinstance(value, (Tensor, SparseTensor, np.ndarray, np.generic)) and not isinstance(
        value, (bool, np.bool_, int, float, complex))


def _leaves(actual, expected, where: tuple = ()):
    """(actual, expected, where) for each pair of leaves of two nested sequences/mappings, as
    torch's originate_pairs; the structure's mismatches raise _Mismatch."""
    from collections.abc import Mapping, Sequence

    if isinstance(actual, Sequence) and isinstance(expected, Sequence) and not isinstance(
            actual, str) and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: "
                            f"{len(actual)} != {len(expected)}", where)
        for i in range(len(actual)):
            yield from _leaves(actual[i], expected[i], (*where, i))
    elif isinstance(actual, Mapping) and isinstance(expected, Mapping):
        keys_a, keys_e = set(actual), set(expected)
        if keys_a != keys_e:
            raise _Mismatch(AssertionError, f"The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {sorted(keys_e - keys_a)}\n"
                            f"Additional keys in the actual mapping: {sorted(keys_a - keys_e)}",
                            where)
        try:
            keys = sorted(keys_a)
        except TypeError:
            keys = list(keys_a)
        for key in keys:
            yield from _leaves(actual[key], expected[key], (*where, key))
    elif (actual is None or expected is None or (
            isinstance(actual, (bool, np.bool_)) and isinstance(expected, (bool, np.bool_)))
          or (_is_number(actual) and _is_number(expected))
          or (_is_tensor_like(actual) and _is_tensor_like(expected))):
        yield actual, expected, where
    else:
        raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type "
                        f"{_type_text(actual)} and {_type_text(expected)}.", where)


def _type_text(value) -> str:
    from dlpy.size import _as_torch

    return "<class 'torch.Tensor'>" if type(value) is Tensor and _as_torch() else str(type(value))


def _mismatch_text(identifier: str, equality: bool, extra: str | None, absolute, absolute_at,
                   atol, relative, relative_at, rtol) -> str:
    text = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        text += extra + "\n"
    for kind, diff, at, tolerance in (("absolute", absolute, absolute_at, atol),
                                      ("relative", relative, relative_at, rtol)):
        text += (f"{kind.title()} difference: {diff}" if at is None else
                 f"Greatest {kind} difference: {diff} at index {at}")
        text += "\n" if equality else f" (up to {tolerance} allowed)\n"
    return text.strip()


def _compare_numbers(a, e, rtol, atol, equal_nan, check_dtype) -> None:
    import cmath

    if check_dtype and type(a) is not type(e):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(a)} != {type(e)}.")
    rtol, atol = _tolerances([_NUMBER_DTYPES.get(type(v), "float64") for v in (a, e)], rtol,
                             atol)
    if a == e or (equal_nan and cmath.isnan(a) and cmath.isnan(e)):
        return
    difference = abs(a - e)
    if cmath.isfinite(difference) and difference <= atol + rtol * abs(e):
        return
    relative = float("inf") if e == 0 else difference / abs(e)
    raise _Mismatch(AssertionError, _mismatch_text(
        "Scalars", rtol == 0 and atol == 0, f"Expected {e} but got {a}.", difference, None,
        atol, relative, None, rtol))


def _dtype_text(dtype: np.dtype) -> str:
    from dlpy.size import _as_torch

    return f"torch.{dtype.name}" if _as_torch() else dtype.name


def _strides(value, array: np.ndarray) -> tuple:
    if isinstance(value, Tensor):
        return tuple(value.stride())
    return tuple(s // array.itemsize for s in array.strides) if array.itemsize else ()


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_dtype, check_layout,
                     check_stride) -> None:
    from dlpy.ops.pointwise import isclose
    from dlpy.ops.promotion import promote_types
    from dlpy.size import Size

    a, e = _array(actual), _array(expected)
    if a.shape != e.shape:
        raise _Mismatch(AssertionError, f"The values for attribute 'shape' do not match: "
                        f"{Size(a.shape)} != {Size(e.shape)}.")
    if check_layout:
        layouts = [getattr(v, "layout", None) for v in (actual, expected)]
        if None not in layouts and layouts[0] != layouts[1]:
            raise _Mismatch(AssertionError, f"The values for attribute 'layout' do not match: "
                            f"{layouts[0]} != {layouts[1]}.")
    if check_dtype and a.dtype != e.dtype:
        raise _Mismatch(AssertionError, f"The values for attribute 'dtype' do not match: "
                        f"{_dtype_text(a.dtype)} != {_dtype_text(e.dtype)}.")
    if check_stride and _strides(actual, a) != _strides(expected, e):
        raise _Mismatch(AssertionError, f"The values for attribute 'stride()' do not match: "
                        f"{_strides(actual, a)} != {_strides(expected, e)}.")
    rtol, atol = _tolerances([a.dtype, e.dtype], rtol, atol)
    if a.dtype != e.dtype:
        common = promote_types(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    close = isclose(Tensor(a), Tensor(e), rtol=rtol, atol=atol, equal_nan=equal_nan).data
    if close.all():
        return
    equality = rtol == 0 and atol == 0
    if a.ndim == 0:
        a0, e0 = a.item(), e.item()
        difference = abs(a0 - e0)
        relative = float("inf") if e0 == 0 else difference / abs(e0)
        raise _Mismatch(AssertionError, _mismatch_text(
            "Scalars", equality, f"Expected {e0} but got {a0}.", difference, None, atol,
            relative, None, rtol))
    if a.dtype.kind in "biu":  # differences of integers in int64, their ratios in float32
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        difference = np.abs(a - e).reshape(-1)
        difference[close.reshape(-1)] = 0
        relative = difference / np.abs(e).reshape(-1)
        if a.dtype.kind in "iu":
            relative = relative.astype(np.float32)
        relative[close.reshape(-1)] = 0
    bad = int(close.size - close.sum())
    extra = f"Mismatched elements: {bad} / {close.size} ({bad / close.size:.1%})"
    worst = []
    for values in (difference, relative):
        # torch.max: the first nan, else the first greatest value
        nans = np.isnan(values) if values.dtype.kind in "fc" else np.zeros(values.shape, bool)
        flat = int(np.argmax(nans)) if nans.any() else int(np.argmax(values))
        worst.append((values[flat].item(), tuple(int(i) for i in np.unravel_index(flat, a.shape))))
    raise _Mismatch(AssertionError, _mismatch_text(
        "Tensor-likes", equality, extra, worst[0][0], worst[0][1], atol, worst[1][0],
        worst[1][1], rtol))


def _array(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return dense(value.data)
    return value.to_dense().data if hasattr(value, "to_dense") else np.asarray(value)


def assert_close(actual, expected, *, allow_subclasses: bool = True,
                 rtol: float | None = None, atol: float | None = None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True, check_layout: bool = True,
                 check_stride: bool = False, msg=None) -> None:
    """torch.testing.assert_close: raise AssertionError unless
    ``|actual - expected| <= atol + rtol * |expected|`` everywhere (shapes and, with
    ``check_dtype``, dtypes equal). Inputs: Tensors (or numpy arrays, which dlpy also lets
    meet Tensors), Python numbers, None, and sequences/mappings of them compared item by item;
    other pairings raise TypeError. Default tolerances by dtype as PyTorch's (float32: 1.3e-6
    and 1e-5, float64: 1e-7 and 1e-7, integers: exact); the message counts the mismatched
    elements and gives the greatest absolute and relative differences and their index.
    ``msg``: a string replacing the message, or a callable given it."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    try:
        pairs = list(_leaves(actual, expected))
        for a, e, where in pairs:  # allow_subclasses=False: tensor-likes of one type only
            if (not allow_subclasses and _is_tensor_like(a) and _is_tensor_like(e)
                    and type(a) is not type(e)):
                raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of "
                                f"type {_type_text(a)} and {_type_text(e)}.", where)
    except _Mismatch as mismatch:
        raise mismatch.error() from None
    for a, e, where in pairs:
        try:
            if a is None or e is None:
                if not (a is None and e is None):
                    raise _Mismatch(AssertionError, f"None mismatch: {a} is not {e}")
            elif isinstance(a, (bool, np.bool_)) and isinstance(e, (bool, np.bool_)):
                if bool(a) != bool(e):
                    raise _Mismatch(AssertionError, f"Booleans mismatch: {a} is not {e}")
            elif _is_number(a):
                _compare_numbers(a, e, rtol, atol, equal_nan, check_dtype)
            else:
                _compare_tensors(a, e, rtol, atol, equal_nan, check_dtype, check_layout,
                                 check_stride)
        except _Mismatch as mismatch:
            mismatch.where = where
            raise mismatch.error(msg) from None



def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan: bool = True,
                    msg: str = "") -> None:
    """torch.testing.assert_allclose (deprecated: warns a FutureWarning; assert_close
    replaces it): ``expected`` that is no tensor becomes one of ``actual``'s dtype; both
    tolerances or neither (then the dtypes' defaults); dtypes need not match; nan equals nan
    unless ``equal_nan`` is False."""
    import warnings

    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be "
                  "removed in a future release. Please use `torch.testing.assert_close()` "
                  "instead.", FutureWarning, stacklevel=2)
    from dlpy.creation import tensor

    if not isinstance(actual, Tensor):
        actual = tensor(actual)
    if not isinstance(expected, Tensor):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _tolerances((actual.dtype, expected.dtype), None, None)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_dtype=False, check_stride=False, msg=msg or None)

def _bounds(dtype: np.dtype, low, high, lowest, highest, default_low, default_high):
    """make_tensor's [low, high): the defaults, torch's checks, clamped to the dtype's range
    (integers: both ends rounded up)."""
    import math
    import warnings

    low = default_low if low is None else low
    high = default_high if high is None else high
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    if low == high and dtype.kind in "fc":
        warnings.warn("Passing `low==high` to `torch.testing.make_tensor` for floating or "
                      "complex types is deprecated; use `torch.full(...)` instead.",
                      FutureWarning, stacklevel=3)
    elif low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    elif high < lowest or low >= highest:
        raise ValueError(f"The value interval specified by `low` and `high` is [{low}, {high}), "
                         f"but {dtype} only supports [{lowest}, {highest})")
    low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)
    return (math.ceil(low), math.ceil(high)) if dtype.kind in "biu" else (low, high)


def _torch_text(value) -> str:
    """A dtype or memory format as torch prints it (``torch.int64``, ``torch.channels_last``)."""
    name = getattr(value, "name", None) if not isinstance(value, np.dtype) else value.name
    return f"torch.{name}" if isinstance(name, str) else str(value)


def make_tensor(*shape, dtype, device=None, low: float | None = None,
                high: float | None = None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False, memory_format=None,
                rng: np.random.Generator | None = None) -> Tensor:
    """torch.testing.make_tensor: random values of ``dtype`` in [low, high) (default [-9, 9]
    for floats, [-9, 10) for integers, clamped to the dtype's range; bools: either), drawn
    from ``rng`` (default: dlpy's generator). ``noncontiguous`` gives a strided view,
    ``memory_format`` a copy in that layout, ``exclude_zero`` replaces zeros by 1 (or the
    dtype's smallest normal number). ``device``: accepted (dlpy runs on the CPU); torch
    requires it."""
    from dlpy.random import get_rng

    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dtype = np.dtype(dtype)
    if noncontiguous and memory_format is not None:
        raise ValueError(f"The parameters `noncontiguous` and `memory_format` are mutually "
                         f"exclusive, but got noncontiguous={noncontiguous} and "
                         f"memory_format={_torch_text(memory_format)}")
    if requires_grad and dtype.kind not in "fc":
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral "
                         f"dtypes, but got dtype={_torch_text(dtype)}")
    generator = get_rng(rng)
    noncontiguous = noncontiguous and int(np.prod(shape)) > 1
    drawn = (*shape[:-1], 2 * shape[-1]) if noncontiguous else shape
    if dtype.kind in "biu":
        if dtype.kind == "b":
            lowest, highest, default_low = 0, 2, 0
        else:
            info = np.iinfo(dtype)
            lowest, highest = int(info.min), int(info.max) + (dtype != np.int64)
            default_low = -9
        low, high = _bounds(dtype, low, high, lowest, highest, default_low,
                            2 if dtype.kind == "b" else 10)
        data = generator.integers(low, max(high, low + 1), drawn).astype(dtype)
    elif dtype.kind in "fc" or dtype.name == "bfloat16":
        real = np.dtype(np.float32 if dtype == np.complex64 else np.float64
                        if dtype.kind == "c" else dtype)
        info = np.finfo(real)
        low, high = _bounds(dtype, low, high, float(info.min), float(info.max), -9, 9)
        data = generator.uniform(low, high, drawn).astype(real)
        if dtype.kind == "c":
            data = data + 1j * generator.uniform(low, high, drawn).astype(real)
    else:
        raise TypeError(f"make_tensor: unsupported dtype {dtype}")
    if noncontiguous:
        data = data[..., 1::2]
    if exclude_zero:
        data[data == 0] = 1 if dtype.kind in "biu" else np.finfo(real).tiny
    out = Tensor(data)
    if noncontiguous:
        out.data = data  # keep the strided view (Tensor may have copied it)
    if memory_format is not None:
        out = out.contiguous(memory_format=memory_format)
    out.requires_grad = requires_grad
    return out
