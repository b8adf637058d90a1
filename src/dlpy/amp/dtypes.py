"""Low-precision floating dtypes: numpy's float16, ml_dtypes' bfloat16 (``dlpy.bfloat16``) and
float8 (``dlpy.float8_e4m3fn``, ``dlpy.float8_e5m2``: storage formats, as torch's, which refuses
nearly all arithmetic on them; ``to_float8`` rounds as torch's casts do).

numpy has no bfloat16; ml_dtypes (``pip install dlpy[amp]``) adds one whose element-wise ufuncs
compute in float32 and round each result, as PyTorch's CPU kernels do. Matrix products and
convolutions of low-precision arrays run in float32 on the (exact) upcast inputs and round the
output once (``float32_compute``): float32 accumulation, as PyTorch's CPU bfloat16/float16
GEMMs (numpy's own float16 matmul has no BLAS, and its bfloat16 matmul returns float32).
"""

from __future__ import annotations

import functools
import sys
import warnings
import weakref

import numpy as np

__all__ = ["bfloat16_type", "float32_compute", "float8_type", "is_float8", "is_low_precision",
           "stored_dtype", "to_float8"]

FLOAT32 = np.dtype(np.float32)
ML_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")  # torch's names, ml_dtypes' too


def __getattr__(name: str):
    if name in ML_DTYPES:  # dlpy.bfloat16: a numpy dtype, as dlpy.float32 (t.dtype is it)
        return np.dtype(ml_dtype(name))
    raise AttributeError(f"module 'dlpy.amp.dtypes' has no attribute {name!r}")


def ml_dtype(name: str) -> type:
    """ml_dtypes' scalar type ``name`` (bfloat16, float8_e4m3fn, float8_e5m2), or an ImportError
    saying what to install. Imported on first use: ml_dtypes' extension takes 0.1-0.8 s."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError(f"dlpy.{name} needs the ml_dtypes package (numpy has no {name}): "
                          "pip install 'dlpy[amp]' (or pip install ml_dtypes)") from None
    return getattr(ml_dtypes, name)


def bfloat16_type() -> type:
    """ml_dtypes.bfloat16 (a numpy scalar type), or an ImportError saying what to install."""
    return ml_dtype("bfloat16")


def float8_type(name: str) -> type:
    """ml_dtypes.float8_e4m3fn or float8_e5m2 (torch's names), or an ImportError."""
    return ml_dtype(name)


_warned: set[str] = set()  # the dtypes whose widening to float32 was warned about


def stored_dtype(name: str, source: str) -> np.dtype | None:
    """The numpy dtype a file's ``name`` tensor (bfloat16, float8_e4m3fn, float8_e5m2) loads
    as: ml_dtypes' type, or None where ml_dtypes is missing (the caller widens to float32,
    exactly) after one warning per dtype naming ``source``."""
    try:
        return np.dtype(ml_dtype(name))
    except ImportError:
        if name not in _warned:
            _warned.add(name)
            warnings.warn(f"{source}: {name} tensors load as float32 (exact values) because "
                          f"the ml_dtypes package is missing; pip install 'dlpy[amp]' keeps "
                          f"them {name}", RuntimeWarning, stacklevel=3)
        return None


def is_float8(dtype) -> bool:
    """Whether ``dtype`` is one of ml_dtypes' float8 types (told by name)."""
    dtype = np.dtype(dtype)
    return dtype.itemsize == 1 and dtype.name.startswith("float8")


_FLOAT8_MAX = {"float8_e4m3fn": 448.0, "float8_e5m2": 57344.0}
# torch's names of dtypes in its messages
_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool", "complex64": "ComplexFloat",
                "complex128": "ComplexDouble", "float8_e4m3fn": "Float8_e4m3fn",
                "float8_e5m2": "Float8_e5m2"}


def _torch_name(dtype: np.dtype) -> str:
    return _TORCH_NAMES.get(dtype.name, dtype.name)


# the C++ names some of torch's messages give dtypes by ("expected m1 and m2 to have the same
# dtype, but got: double != float")
_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
            "bfloat16": "c10::BFloat16", "complex64": "c10::complex<float>",
            "complex128": "c10::complex<double>", "int64": "long int", "int32": "int",
            "int16": "short int", "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}


def _c_name(dtype: np.dtype) -> str:
    return _C_NAMES.get(dtype.name, dtype.name)


def refuse_float8(kernel: str | None, *arrays: np.ndarray) -> None:
    """torch's refusals of arithmetic on float8 (a storage format there): float8 with another
    dtype is its RuntimeError (a 0-d array, a Python number's constant, is not promoted);
    ``kernel`` (torch's kernel name, e.g. "add_stub") on float8 its NotImplementedError; None
    for an op torch runs on float8 of one dtype (mul, mm). Arrays without float8 pass."""
    float8 = next((a.dtype for a in arrays if is_float8(a.dtype)), None)
    if float8 is None:
        return
    other = next((a.dtype for a in arrays if a.dtype != float8 and a.ndim), None)
    if other is not None:
        raise RuntimeError(f"Promotion for Float8 Types is not supported, attempted to promote "
                           f"{_torch_name(float8)} and {_torch_name(other)}")
    if kernel is not None:
        raise NotImplementedError(f'"{kernel}" not implemented for {_torch_name(float8)!r}')


def check_float8(kernel: str | None, *arrays: np.ndarray) -> None:
    """refuse_float8 where one of ``arrays`` is float8, after a test of its item size (1
    byte) that costs an op on other dtypes ~30 ns."""
    for a in arrays:
        if a.dtype.itemsize == 1 and is_float8(a.dtype):
            refuse_float8(kernel, *arrays)


def refuse_bool(kernel: str, array: np.ndarray) -> None:
    """torch's NotImplementedError for a kernel with no bool version (median_cpu, kthvalue_cpu,
    searchsorted_out_cpu, ...): ``kernel`` is its name."""
    if array.dtype == np.bool_:
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')


def to_float8(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` rounded to a float8 dtype as torch's ``to(float8_...)`` on the CPU: via
    float32 (float64 rounds there first), to nearest even; e4m3fn (no infinities) saturates
    beyond +-448, infinities too, where ml_dtypes gives NaN; e5m2 overflows to +-inf; a NaN
    keeps its sign as 0x7F / 0xFF (ml_dtypes: e5m2's 0x7E)."""
    dtype = np.dtype(dtype)
    x = np.asarray(array)
    if x.dtype != FLOAT32:
        x = x.astype(FLOAT32)
    with np.errstate(invalid="ignore", over="ignore"):
        y = x.astype(dtype)
    bits = y.view(np.uint8)
    sign = (x.view(np.uint32) >> 24).astype(np.uint8) & np.uint8(0x80)
    nan = np.isnan(x)
    if dtype.name == "float8_e4m3fn":
        over = ~nan & (np.abs(x) > _FLOAT8_MAX["float8_e4m3fn"])
        bits[over] = sign[over] | np.uint8(0x7E)
    bits[nan] = sign[nan] | np.uint8(0x7F)
    return y


def is_low_precision(dtype) -> bool:
    """Whether ``dtype`` is float16 or bfloat16 (told by name: ml_dtypes is not imported)."""
    dtype = np.dtype(dtype)
    return dtype.itemsize == 2 and (dtype.kind == "f" or dtype.name == "bfloat16")


def float32_compute(cls: type | None = None, *, output: str = "promoted"):
    """Class decorator for an op whose arrays may be float16/bfloat16 (matmul, linear,
    convolutions, reductions, norms, softmax, the activations that are more than one ufunc):
    forward runs on float32 copies of the low-precision inputs and its output is rounded once
    to numpy's result dtype of the inputs (bfloat16 for bfloat16 inputs); that op's backward
    then runs in float32 too (the engine rounds each input's gradient to that input's dtype),
    on the rounded output where the op saved its output as ``y``, as torch's kernels.
    Subclasses that override forward are wrapped too. Float32 and float64 arrays take the op's
    own forward after one itemsize test per input, and its own backward untouched.

    ``@float32_compute(output="input")``: the output takes the first input's dtype instead
    (the norms: bfloat16 x with float32 weights gives bfloat16, as torch's mixed-type norms).
    An op with a ``forward_low_precision`` method gets the low-precision arrays there instead
    (torch's kernel rounds between its steps), its backward widened as above. Float8 arrays
    get torch's refusal (``_float8``), or, for an op with ``float8_ok``, the float32 forward.
    """
    if cls is None:
        return functools.partial(float32_compute, output=output)
    _wrap(cls, output)
    base_init_subclass = super(cls, cls).__init_subclass__  # Op's (counts the settings)

    def __init_subclass__(sub, **kwargs):
        base_init_subclass.__func__(sub, **kwargs)
        _wrap(sub, output)

    cls.__init_subclass__ = classmethod(__init_subclass__)
    return cls


def _wrap(cls: type, output: str) -> None:
    if "forward" not in cls.__dict__:
        return
    forward = cls.__dict__["forward"]

    @functools.wraps(forward)
    def forward_low(self, *arrays):
        for array in arrays:
            if array.dtype.itemsize <= 2:
                if is_low_precision(array.dtype):
                    return _widened(self, forward, arrays, output)
                if is_float8(array.dtype):
                    return _float8(self, forward, arrays, output)
        return forward(self, *arrays)

    cls.forward = forward_low


def _float8(op, forward, arrays, output: str):
    """An op on float8 arrays: torch's refusal, or for an op with ``float8_ok`` (matmul and
    linear, which torch runs on float8 of one dtype, but not on two vectors: its dot) the
    float32 forward rounded to float8."""
    kernel = getattr(op, "float8_kernel", type(op).__name__)  # torch's kernel name, or ours
    if getattr(op, "float8_ok", False):
        if any(a.ndim > 1 for a in arrays):
            refuse_float8(None, *arrays)  # float8 with another dtype
            return _widened(op, forward, arrays, output)
        kernel = "dot"
    refuse_float8(kernel, *arrays)
    raise AssertionError("unreachable")  # refuse_float8 raised: a float8 array is here


def _widened(op, forward, arrays, output: str):
    """``forward`` on float32 copies of the low-precision arrays, the output rounded; this op's
    backward (an instance attribute: saved state, which free() drops) then widens its
    grad_output."""
    check = getattr(op, "check_dtypes", None)  # an op that takes one dtype (matmul, linear):
    if check is not None:  # its refusal of two, before the widening makes them one
        check(*arrays)
    out_dtype = arrays[0].dtype if output == "input" else np.result_type(*arrays)
    special = getattr(op, "forward_low_precision", None)  # an op that rounds where torch's
    if special is not None:  # composite kernel rounds (logsumexp): given the arrays as they are
        y = special(*arrays)
    else:
        widened = [a.astype(FLOAT32) if a.dtype.itemsize <= 2 and a.dtype.kind in "fV"
                   else a for a in arrays]  # float16, bfloat16, float8
        y = forward(op, *widened)
        if sys.modules["dlpy.tensor"]._pack_hooks is not None:  # (dlpy.tensor: a function too)
            # saved_tensors_hooks pack the inputs as they are: the engine's _pack_saved finds
            # the float32 copies of them that the op saved here
            op._widened = {i: w for i, (w, a) in enumerate(zip(widened, arrays)) if w is not a}
    backward, this = type(op).backward, weakref.ref(op)  # (no reference cycle through op)
    op.backward = lambda grad_output: backward(this(), grad_output.astype(
        grad_output.dtype if grad_output.dtype.kind == "c" else FLOAT32, copy=False))  # (a
    # complex product of a half operand: its gradient stays complex)
    if y.dtype == out_dtype:
        return y
    rounded = y.astype(out_dtype)
    if op.__dict__.get("y") is y:  # an op that saves its output (sigmoid, tanh, softmax):
        op.y = rounded.astype(FLOAT32)  # backward reads the rounded one, as torch's
        if "_widened" in op.__dict__:
            op._widened["output"] = op.y
    return rounded
