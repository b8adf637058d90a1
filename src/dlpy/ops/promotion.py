"""PyTorch's type promotion for element-wise ops (torch.result_type, torch.promote_types).

numpy promotes by value kinds and sizes alone (int64 + float32 -> float64, int64 + 1.5 ->
float64); torch keeps floats at their tensor's precision and ranks operands in three tiers:

- dimensioned tensors (ndim > 0) decide the dtype within their category (bool < integer <
  floating < complex): int64 + float32 -> float32, uint8 + int8 -> int16, float16 + bfloat16 ->
  float32;
- a zero-dimensional tensor counts only when its category is higher than theirs (float32 * 0-d
  float64 stays float32; int64 * 0-d float64 is float64);
- a Python (or numpy) scalar counts only when its category is higher still, and then as the
  default dtype of its category: int64 tensor + 1.5 -> float32 (the default float dtype), a
  uint8 tensor - 3 stays uint8.

``promote(name, *operands)`` gives the operands cast to that dtype (a recorded cast for a
Tensor, so gradients flow back in the operand's own dtype; a number becomes a 0-d array of it),
so the numpy computation that follows happens in torch's dtype. Operands of dlpy's other tensor
kinds (complex, sparse, distributed, nested) are left to their own rules.
"""

from __future__ import annotations

import numpy as np

from dlpy.tensor import Tensor, default_complex_dtype, default_dtype

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
# torch's C++ names of the integer dtypes, for its promotion error of uint16/uint32/uint64
_TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int",
                "int64": "Long", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64"}
_NUMBERS = (bool, int, float, complex, np.bool_, np.integer, np.floating, np.complexfloating)


def category(dtype: np.dtype) -> int:
    """0 bool, 1 integer, 2 floating (bfloat16 and float8 too), 3 complex."""
    return _CATEGORY.get(dtype.kind, 2)


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch.promote_types: the smallest dtype both values fit, by torch's table (an integer and
    a float give the float, float16 and bfloat16 give float32)."""
    if a == b:
        return a
    ca, cb = category(a), category(b)
    if ca < 2 and cb < 2 and ((a.kind == "u" and a.itemsize > 1)
                              or (b.kind == "u" and b.itemsize > 1)):
        raise RuntimeError("Promotion for uint16, uint32, uint64 types is not supported, "
                           f"attempted to promote {_TORCH_NAMES[a.name]} and "
                           f"{_TORCH_NAMES[b.name]}")
    if ca != cb:
        high, low = (a, b) if ca > cb else (b, a)
        if category(high) == 3 and category(low) == 2 and low.itemsize == 8:
            return np.dtype(np.complex128)  # complex64 with float64: complex128
        return high
    if ca == 2 and (a.itemsize < 4 or b.itemsize < 4 or a.kind != "f" or b.kind != "f"):
        wide = [d for d in (a, b) if d.kind == "f" and d.itemsize >= 4]
        return max(wide, key=lambda d: d.itemsize) if wide else np.dtype(np.float32)
    return np.promote_types(a, b)


def _scalar_dtype(x) -> np.dtype:
    """A number's dtype as torch's wrapped numbers: bool, int64, the default float dtype, or
    the default float's complex dtype."""
    if isinstance(x, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(x, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(x, (float, np.floating)):
        return np.dtype(default_dtype())
    return np.dtype(default_complex_dtype())


def _combine(higher, lower):
    """torch's combine_categories: ``lower`` (a tier below) counts only when its category is
    higher than ``higher``'s."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if category(higher) == 3:
        return higher
    if category(lower) == 3:  # a float keeps its precision: float32 * 0-d complex128 is
        # complex64, float64 * 1j complex128 (torch's toComplexType; float16's complex32: 64)
        if category(higher) == 2:
            return np.dtype(np.complex128 if higher == np.float64 else np.complex64)
        return lower
    if category(higher) == 2:
        return higher
    if higher.kind == "b" or category(lower) == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> np.dtype:
    """torch.result_type over Tensors and numbers; a numpy array counts as a number of its
    category (dlpy takes arrays as constants in a Tensor's dtype)."""
    dims = zeros = scalars = None
    for x in operands:
        if not isinstance(x, Tensor):  # a number, or a numpy array: dlpy's constants, which
            # take a Tensor's dtype of their category, as Python numbers do in torch
            d = _scalar_dtype(x if isinstance(x, _NUMBERS) else np.asarray(x).dtype.type(0))
            scalars = d if scalars is None else promote_types(scalars, d)
            continue
        d = x.data.dtype
        if x.data.ndim:
            dims = d if dims is None else promote_types(dims, d)
        else:
            zeros = d if zeros is None else promote_types(zeros, d)
    return _combine(dims, _combine(zeros, scalars))


def _plain(x) -> bool:
    """A dense real Tensor (or Parameter), a numpy array or a number: the operands torch's
    rules are applied to here."""
    if isinstance(x, Tensor):
        dtype = x.data.dtype  # not complex, not float8 (torch refuses mixed float8 arithmetic)
        return (type(x) is Tensor or type(x).__name__ in ("Parameter", "Buffer", "FakeTensor")) \
            and dtype.kind != "c" and not (dtype.kind == "V" and dtype.itemsize == 1)
    return isinstance(x, (np.ndarray, *_NUMBERS)) and np.asarray(x).dtype.kind in "biuf"


def _complex_operand(x) -> bool:
    """A complex number, or a dense complex Tensor (dlpy's ComplexTensor)."""
    if isinstance(x, Tensor):
        return type(x).__name__ == "ComplexTensor" and x.data.dtype.kind == "c"
    return isinstance(x, (complex, np.complexfloating))


def promote(*operands, dtype=None) -> list:
    """The operands in torch's result dtype (or ``dtype``): Tensors of another dtype cast (a
    recorded cast), numbers and arrays as arrays of it. Operands other than plain dense real
    ones come back unchanged."""
    from dlpy.ops.arithmetic import cast

    if not all(_plain(x) for x in operands):
        if all(_plain(x) or _complex_operand(x) for x in operands):
            # a real Tensor with a complex number, or a complex Tensor with real ones: torch's
            # result type (an int tensor + 1j: complex64; complex64 * an int64 tensor or a 0-d
            # float64 one: complex64), the numbers left as they are (as arrays of it when no
            # operand is a Tensor: where(c, 1j, 0.) is complex64)
            dtype = result_type(*operands) if dtype is None else dtype
            if not any(isinstance(x, Tensor) for x in operands):
                return [np.asarray(x, dtype=dtype) for x in operands]
            return [cast(x, dtype) if isinstance(x, Tensor) and x.data.dtype != dtype else x
                    for x in operands]
        return list(operands)
    if dtype is None:
        dtype = result_type(*operands)

    out = []
    for x in operands:
        if isinstance(x, Tensor):
            out.append(x if x.data.dtype == dtype else cast(x, dtype))
            continue
        try:
            out.append(np.asarray(x, dtype=dtype))
        except OverflowError:  # an int past the dtype's range wraps, as torch's (int8 + 300)
            out.append(np.asarray(x).astype(dtype))
    return out


def needs_promotion(a, b) -> bool:
    """The fast test of a binary op: False when numpy already computes in torch's dtype (two
    Tensors of one dtype; a floating Tensor with a Python number)."""
    if isinstance(a, Tensor):
        kind = a.data.dtype
        if isinstance(b, Tensor):
            return b.data.dtype != kind
        return not ((type(b) is float or type(b) is int) and kind.kind == "f"
                    and kind.itemsize > 2)  # float16 with a number: see opmath_scalar
    if isinstance(b, Tensor):
        return not ((type(a) is float or type(a) is int) and b.data.dtype.kind == "f"
                    and b.data.dtype.itemsize > 2)
    return True


def _half(x) -> bool:
    """A plain float16/bfloat16 Tensor."""
    dtype = x.data.dtype
    return dtype.itemsize == 2 and dtype.kind in "fV" and _plain(x)


def _scalar_like(x) -> bool:
    """A real number, or a 0-d float32/float64 Tensor: what torch's CPU kernels read as a
    float32 ("opmath") scalar."""
    if isinstance(x, Tensor):
        return (not x.data.ndim and x.data.dtype.kind == "f" and x.data.dtype.itemsize > 2
                and _plain(x))
    return isinstance(x, (int, float, np.integer, np.floating))


def opmath_scalar(a, b):
    """For a float16/bfloat16 Tensor and a number (or, on its right, a 0-d float32/float64
    Tensor, a scalar to torch's promotion too): (the Tensor's dtype, the operands with the
    scalar as float32), as torch's mul and div compute them, in float32 with the scalar
    unrounded and the result rounded once (x * 0.37, not x * float16(0.37)); None for other
    operands."""
    if isinstance(a, Tensor) and _half(a) and _scalar_like(b) and (
            a.data.ndim or not isinstance(b, Tensor)):  # (0-d with 0-d: float32's dtype)
        if isinstance(b, Tensor):  # (a recorded cast: its gradient flows back)
            from dlpy.ops.arithmetic import cast

            return a.data.dtype, (a, b if b.data.dtype == np.float32 else cast(b, np.float32))
        return a.data.dtype, (a, _float32(b))
    if isinstance(b, Tensor) and _half(b) and not isinstance(a, Tensor) and _scalar_like(a):
        # (a 0-d Tensor on the left is rounded to b's dtype first, as torch's kernels)
        return b.data.dtype, (_float32(a), b)
    return None


def _float32(number) -> Tensor:
    """A number as a float32 constant (beyond float32's range: inf, as torch's opmath)."""
    with np.errstate(over="ignore"):
        return Tensor(np.asarray(float(number), dtype=np.float32))


def promote_floating(*operands) -> list:
    """The operands in torch's result dtype, the default float dtype where that is bool or
    integer (torch's xlogy, atan2, copysign of integer tensors: float32; an int32 tensor with a
    float64 one: float64). Floating Tensors of one dtype come back unchanged at once."""
    first = operands[0]
    if isinstance(first, Tensor) and first.data.dtype.kind == "f" and all(
            isinstance(x, Tensor) and x.data.dtype == first.data.dtype for x in operands):
        return list(operands)
    if not all(_plain(x) for x in operands):
        return list(operands)
    dtype = result_type(*operands)
    if category(dtype) < 2:
        dtype = np.dtype(default_dtype())
    return promote(*operands, dtype=dtype)


def floating(x):
    """An integer or bool Tensor as the default float dtype (torch's sqrt, exp, sin... of an
    integer tensor: float32), anything else as it is."""
    if isinstance(x, Tensor) and x.data.dtype.kind in "biu" and _plain(x):
        from dlpy.ops.arithmetic import cast

        return cast(x, default_dtype())
    return x
