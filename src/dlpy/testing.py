"""Gradient checking: compare backward() with central differences, for dlpy's ops and your own.

    from dlpy.testing import gradcheck
    x = dlpy.Tensor(np.random.randn(3, 4), requires_grad=True)   # float64
    gradcheck(lambda x: F.softmax(x, axis=-1), x)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlpy.sparse_grad import dense
from dlpy.tensor import Tensor, no_grad


class GradcheckError(AssertionError, RuntimeError):
    """backward() and the finite differences disagree (an AssertionError, so tests report it,
    and a RuntimeError, as torch's)."""


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
    any_float: bool = False,
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
        if out.requires_grad:
            out.backward(weights)
        analytic = [dense(t.grad) if t.grad is not None else np.zeros(t.shape)
                    for _, t in checked]
    finally:
        for (_, t), grad in zip(checked, saved_grads):
            t.grad = grad

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * np.conj(weights)).real)

    for (i, t), grad in zip(checked, analytic):
        numeric = _central_differences(objective, t, eps)
        error = np.abs(grad - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            where = np.unravel_index(int(np.argmax(np.where(bad, error, -1.0))), t.shape)
            where = tuple(int(w) for w in where)
            raise GradcheckError(
                f"gradcheck: the gradient of {_name(i, t)} (shape {t.shape}) is wrong at "
                f"{int(bad.sum())} of {t.data.size} positions; largest error {error[where]:.3g} at "
                f"index {where}: backward gave {grad[where]:.10g}, finite differences "
                f"{numeric[where]:.10g} (atol={atol}, rtol={rtol})"
            )
    return True


_DOUBLE = (np.dtype(np.float64), np.dtype(np.complex128))


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
_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
               np.dtype(np.float64): (1e-7, 1e-7), np.dtype(np.complex64): (1.3e-6, 1e-5),
               np.dtype(np.complex128): (1e-7, 1e-7)}


def _array(value) -> np.ndarray:
    return dense(value.data) if isinstance(value, Tensor) else np.asarray(value)


def assert_close(actual, expected, *, rtol: float | None = None, atol: float | None = None,
                 equal_nan: bool = False, check_dtype: bool = True, msg: str | None = None
                 ) -> None:
    """torch.testing.assert_close: raise AssertionError unless
    ``|actual - expected| <= atol + rtol * |expected|`` everywhere (shapes and, with
    ``check_dtype``, dtypes equal). Default tolerances by dtype as PyTorch's (float32: 1.3e-6
    and 1e-5, float64: 1e-7 and 1e-7, integers: exact); the message counts the mismatched
    elements and gives the greatest absolute and relative differences and their index."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"assert_close: both 'rtol' and 'atol' must be either specified or "
                         f"omitted, but got rtol={rtol} and atol={atol}")
    a, e = _array(actual), _array(expected)
    if a.shape != e.shape:
        raise AssertionError(msg or f"The values for attribute 'shape' do not match: "
                             f"{a.shape} != {e.shape}.")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(msg or f"The values for attribute 'dtype' do not match: "
                             f"{a.dtype} != {e.dtype}.")
    if rtol is None:
        rtol, atol = max(_TOLERANCES.get(a.dtype, (0.0, 0.0)), _TOLERANCES.get(e.dtype,
                                                                               (0.0, 0.0)))
    wide = np.complex128 if "c" in (a.dtype.kind, e.dtype.kind) else np.float64
    a64, e64 = a.astype(wide), e.astype(wide)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        difference = np.abs(a64 - e64)
        close = (a64 == e64) | (difference <= atol + rtol * np.abs(e64))
        if equal_nan:
            close |= np.isnan(a64) & np.isnan(e64)
        if close.all():
            return
        relative = difference / np.abs(e64)
    if msg is not None:
        raise AssertionError(msg)
    bad = int((~close).sum())
    kind = "Scalars" if a.ndim == 0 else "Tensor-likes"
    lines = [f"{kind} are not close!", ""]
    if a.size > 1:
        lines.append(f"Mismatched elements: {bad} / {a.size} ({100 * bad / a.size:.1f}%)")
    for label, values, allowed in (("absolute", difference, atol), ("relative", relative, rtol)):
        values = np.where(np.isnan(values), np.inf, values)  # (a nan mismatch counts as worst)
        index = np.unravel_index(int(np.argmax(values)), a.shape)
        where = f" at index {tuple(int(i) for i in index)}" if a.ndim else ""
        lines.append(f"Greatest {label} difference: {values[index]}{where} "
                     f"(up to {allowed} allowed)")
    raise AssertionError("\n".join(lines))


def make_tensor(*shape, dtype, low: float | None = None, high: float | None = None,
                requires_grad: bool = False, noncontiguous: bool = False,
                exclude_zero: bool = False, rng: np.random.Generator | None = None) -> Tensor:
    """torch.testing.make_tensor: random values of ``dtype`` in [low, high) (default [-9, 9]
    for floats, [-9, 10) for signed integers, [0, 10) for unsigned; bools: either), drawn from
    ``rng`` (default: dlpy's generator). ``noncontiguous`` gives a strided view,
    ``exclude_zero`` replaces zeros by the smallest positive step (1, or the dtype's eps)."""
    from dlpy.random import get_rng

    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dtype = np.dtype(dtype)
    if low is not None and high is not None and low > high:
        raise ValueError(f"make_tensor: low must not exceed high, got low={low}, high={high}")
    generator = get_rng(rng)
    if dtype.kind == "b":
        data = generator.integers(0, 2, shape).astype(bool)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        low = max(info.min, -9 if low is None else int(np.ceil(low))) if dtype.kind == "i" \
            else max(0, 0 if low is None else int(np.ceil(low)))
        high = min(info.max, 10 if high is None else int(np.ceil(high)))
        data = generator.integers(low, max(high, low + 1), shape).astype(dtype)
    elif dtype.kind in "fc":
        low, high = -9.0 if low is None else low, 9.0 if high is None else high
        real = np.float32 if dtype == np.complex64 else dtype
        data = generator.uniform(low, high, shape).astype(real)
        if dtype.kind == "c":
            data = data + 1j * generator.uniform(low, high, shape).astype(real)
    else:
        raise TypeError(f"make_tensor: unsupported dtype {dtype}")
    if exclude_zero and dtype.kind != "b":
        step = 1 if dtype.kind in "iu" else np.finfo(dtype).eps
        data[data == 0] = step
    if noncontiguous and data.size > 1:
        wide = np.repeat(data, 2, axis=-1)  # every other element of a doubled last axis
        data = wide[..., ::2]
    if requires_grad and dtype.kind not in "fc":
        raise ValueError(f"make_tensor: requires_grad needs a floating dtype, got {dtype}")
    out = Tensor(data)
    if noncontiguous and data.size > 1:
        out.data = data  # keep the strided view (Tensor may have copied it)
    out.requires_grad = requires_grad
    return out
