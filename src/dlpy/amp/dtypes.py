"""Low-precision floating dtypes: numpy's float16 and ml_dtypes' bfloat16 (``dlpy.bfloat16``).

numpy has no bfloat16; ml_dtypes (``pip install dlpy[amp]``) adds one whose element-wise ufuncs
compute in float32 and round each result, as PyTorch's CPU kernels do. Matrix products and
convolutions of low-precision arrays run in float32 on the (exact) upcast inputs and round the
output once (``float32_compute``): float32 accumulation, as PyTorch's CPU bfloat16/float16
GEMMs (numpy's own float16 matmul has no BLAS, and its bfloat16 matmul returns float32).
"""

from __future__ import annotations

import functools
import weakref

import numpy as np

__all__ = ["bfloat16_type", "float32_compute", "is_low_precision"]

FLOAT32 = np.dtype(np.float32)


def __getattr__(name: str):
    if name == "bfloat16":
        return bfloat16_type()
    raise AttributeError(f"module 'dlpy.amp.dtypes' has no attribute {name!r}")


def bfloat16_type() -> type:
    """ml_dtypes.bfloat16 (a numpy scalar type), or an ImportError saying what to install.
    Imported on first use: ml_dtypes' extension takes 0.1-0.8 s to load."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError("dlpy.bfloat16 needs the ml_dtypes package (numpy has no bfloat16): "
                          "pip install 'dlpy[amp]' (or pip install ml_dtypes)") from None
    return ml_dtypes.bfloat16


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
            if array.dtype.itemsize == 2 and is_low_precision(array.dtype):
                return _widened(self, forward, arrays, output)
        return forward(self, *arrays)

    cls.forward = forward_low


def _widened(op, forward, arrays, output: str):
    """``forward`` on float32 copies of the low-precision arrays, the output rounded; this op's
    backward (an instance attribute: saved state, which free() drops) then widens its
    grad_output."""
    out_dtype = arrays[0].dtype if output == "input" else np.result_type(*arrays)
    y = forward(op, *[a.astype(FLOAT32) if is_low_precision(a.dtype) else a for a in arrays])
    backward, this = type(op).backward, weakref.ref(op)  # (no reference cycle through op)
    op.backward = lambda grad_output: backward(this(), grad_output.astype(FLOAT32, copy=False))
    if y.dtype == out_dtype:
        return y
    rounded = y.astype(out_dtype)
    if op.__dict__.get("y") is y:  # an op that saves its output (sigmoid, tanh, softmax):
        op.y = rounded.astype(FLOAT32)  # backward reads the rounded one, as torch's
    return rounded
