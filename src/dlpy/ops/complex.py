"""Complex tensors: the ComplexTensor class, how ops admit them, and the ops between real and
complex (complex, polar, view_as_real, view_as_complex, conj, real, imag, angle).

Gradients follow PyTorch's convention: for a real loss L of z = x + iy, ``z.grad`` is
dL/dx + i dL/dy (twice the conjugate Wirtinger derivative). An op's ``backward`` gets that
gradient of its output and returns those of its inputs; a real input takes the real part.

A tensor holding complex data is a ``ComplexTensor``, a Tensor subclass with no state of its
own, so ``Op.__call__``'s test of each input's type, which it makes anyway, tells it that a
complex tensor came in: a real op pays nothing. Such a call goes to ``complex_call``: an op
class without ``complex_ok`` is refused with a TypeError; ``complex_ok = True`` means its
forward and backward are right for complex arrays as they are (linear ops with real
coefficients: add, sum, reshape); ``complex_ok = "holomorphic"`` means its backward is the
derivative f'(z) times g, which for complex values becomes conj(backward(conj(g))); such an
op may give a ``complex_forward`` for complex arrays (sigmoid, pow), so its real forward tests
nothing.
"""

from __future__ import annotations

import builtins
import functools

import numpy as np

from dlpy.amp.state import FP32, autocast_policy
from dlpy.layouts import follows_inputs, laid_as_inputs
from dlpy.ops import ArgDtypeError, ArgError, NoKernelError
from dlpy.overrides import _disabled_torch_function_impl
from dlpy.tensor import Op, Tensor, _note_view


class ComplexTensor(Tensor):
    """A Tensor whose data is complex64 or complex128 (``Tensor(...)`` of complex data makes
    one). Only the ops that declare ``complex_ok`` accept it."""

    __torch_function__ = _disabled_torch_function_impl  # ops give plain Tensors
    __slots__ = ()

    def backward(self, grad_output=None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None, *, gradient=None) -> None:
        """Tensor.backward, which needs the gradient given: a complex output has no implicit
        one (as torch)."""
        if grad_output is None and gradient is None:
            raise RuntimeError(f"backward: grad can be implicitly created only for real scalar "
                               f"outputs, this tensor is {self.dtype}: reduce it to a real loss "
                               "(.abs(), .real) or pass grad_output")
        super().backward(grad_output, retain_graph, create_graph, inputs, gradient=gradient)

    def _compare(self, other, op, float8_kernel=None) -> Tensor:
        if op is np.equal or op is np.not_equal:
            return super()._compare(other, op)
        raise NoKernelError(f"{op.__name__}: complex numbers have no order; compare .real, .imag "
                            "or .abs()")

    def argmax(self, *args, **kwargs):
        raise ArgDtypeError("argmax: complex numbers have no order; use .abs() or .real first")

    def argmin(self, *args, **kwargs):
        raise ArgDtypeError("argmin: complex numbers have no order; use .abs() or .real first")


def mark(out: Tensor) -> Tensor:
    """``out`` as a ComplexTensor when its data is complex (outputs of the ops that make
    complex values from real ones)."""
    if type(out) is Tensor and out.data.dtype.kind == "c":
        out.__class__ = ComplexTensor
    return out


def complex_call(op: Op, inputs: tuple[Tensor, ...]) -> Tensor:
    """Run ``op`` on inputs of which one or more is complex (Op.__call__ sends them here)."""
    kind = type(op).complex_ok
    if not kind:
        dtypes = sorted({str(t.dtype) for t in inputs if isinstance(t, ComplexTensor)})
        raise NoKernelError(f"{type(op).__name__.lower()}: complex tensors are not supported, got "
                            f"{', '.join(dtypes)}; take .real, .imag, .abs() or view_as_real() "
                            "first")
    if kind == "holomorphic" and not getattr(type(op), "_complex_form", False):
        op.__class__ = _holomorphic(type(op))
    # the op runs on plain stand-ins (Op.__call__ then takes its usual path) and records the
    # complex tensors themselves as its inputs
    out = op(*[_plain(t) if isinstance(t, ComplexTensor) else t for t in inputs])
    if out.op is op:
        op.inputs = inputs
    if out.data.base is not None and getattr(out, "_view_of", None) is not None:
        _note_view(out, inputs, out.data)  # a view of the input, not of its stand-in
    return mark(out)


def _plain(t: Tensor) -> Tensor:
    plain = Tensor.__new__(Tensor)
    plain.data, plain.requires_grad, plain._grad, plain.op = t.data, t.requires_grad, None, None
    plain.name, plain._hooks, plain._tick = None, None, 0
    return plain


@functools.cache
def _holomorphic(cls: type) -> type:
    """cls with the complex form of its backward: g * conj(f'(z)) = conj(f'(z) * conj(g))."""

    def backward(self, grad_output):
        return tuple(None if g is None else np.conj(g)
                     for g in _as_tuple(cls.backward(self, np.conj(grad_output))))

    def backward_graph(self, grad_output, output):
        return tuple(None if g is None else conj(g)
                     for g in _as_tuple(cls.backward_graph(self, conj(grad_output), output)))

    methods = {"backward": backward, "backward_graph": backward_graph, "_complex_form": True,
               "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    if hasattr(cls, "complex_forward"):
        methods["forward"] = cls.complex_forward
    return type(cls.__name__, (cls,), methods)


def _as_tuple(grads) -> tuple:
    if type(grads) is tuple:
        return grads
    return tuple(grads) if isinstance(grads, list) else (grads,)


def complex_dtype(dtype) -> np.dtype:
    """The complex dtype that pairs with a real one: float32 -> complex64, else complex128."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return dtype
    return np.dtype(np.complex64 if dtype == np.float32 else np.complex128)


def refuse(name: str, *values) -> None:
    """The TypeError of a function that, as torch's, takes no complex tensors (mse_loss, sort,
    max(dim)), for the composites that would otherwise compute something."""
    dtypes = sorted({str(v.dtype) for v in values if isinstance(v, ComplexTensor)})
    if dtypes:
        raise NoKernelError(f"{name}: complex tensors are not supported, got {', '.join(dtypes)} "
                            "(as torch); take .real, .imag, .abs() or view_as_real() first")


def refuse_complex_grad(name: str, dtype, *inputs) -> None:
    """torch's RuntimeError for an op whose derivative is real-only (scatter_reduce,
    index_reduce, select_scatter, slice_scatter out of place), asked for a complex result
    while an input requires grad and grad mode is on; its in-place form takes it."""
    from dlpy.tensor import is_grad_enabled

    if np.dtype(dtype).kind == "c" and is_grad_enabled() and any(
            isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise RuntimeError(f"{name} does not support automatic differentiation for outputs "
                           "with complex dtype.")


def refuse_grad(name: str, x) -> None:
    """torch's RuntimeError for a function with no complex formula (cummax, mode...) whose
    complex result would be tracked: one that ran no kernel (a 0-d or empty x) still checks."""
    if isinstance(x, ComplexTensor):
        refuse_complex_grad(name, x.dtype, x)


def number(name: str, what: str, value, finite: bool = True) -> float | complex:
    """A setting that may be a real or a complex number (lerp's weight, addcmul's value), as
    ``ops.real_number`` checks a real one; a complex one comes back as a Python complex."""
    from dlpy.ops import real_number

    if not isinstance(value, (builtins.complex, np.complexfloating)):
        return real_number(name, what, value, finite)
    value = builtins.complex(value)
    if value != value or (finite and not np.isfinite(value)):
        raise ValueError(f"{name}: {what} must be a {'finite ' if finite else ''}number, "
                         f"got {value}")
    return value


def power(a: np.ndarray, b) -> np.ndarray:
    """a ** b for complex arrays as torch's exp(b log a), with C99's special values, where numpy's
    power differs from it: at a zero base (0 ** 0j is nan, 0 ** (-1 + 1j) inf + nan j), an
    infinite or nan base (torch's inf ** 4 is inf + nan j, (inf + 1j) ** 0j nan; numpy's
    repeated products give nan + nan j, 1) and a result that overflows (numpy's nan + nan j for
    1e300 (1 + 1j) ** 4, torch's -inf + inf j); numpy's power elsewhere (its rounding within
    an ulp of torch's)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.power(a, b)
        odd = (a == 0) | ~np.isfinite(a) | ~np.isfinite(out)
        if odd.any():
            # (b complex first, as torch's kernel: a real b times log(inf) has no nan part)
            exponent = np.asarray(b).astype(out.dtype)
            out = np.where(odd, np.exp(exponent * np.log(a.astype(out.dtype))), out)
    return out


def real_dtype(dtype) -> np.dtype:
    """complex64 -> float32, complex128 -> float64 (a real dtype is itself)."""
    dtype = np.dtype(dtype)
    return np.empty(0, dtype).real.dtype if dtype.kind == "c" else dtype


# ----------------------------------------------------------------- ops
class Conj(Op):
    """y = conj(z);  dz = conj(g)."""

    complex_ok = True
    saves = ()  # backward reads neither z nor y (torch's node saves nothing)

    def forward(self, z):
        return np.conj(z)

    def backward(self, grad_output):
        return (np.conj(grad_output),)

    def backward_graph(self, grad_output, output):
        return (conj(grad_output),)


def _part_strides(z, part):
    """An empty z's real / imaginary part with torch's strides: twice those stride() reads
    of z (numpy's zero strides of a new empty array read as contiguous ones), as torch's."""
    if z.size or any(z.strides):
        return part  # numpy's part view: z's byte strides, twice z's in elements
    strides, step = [0] * z.ndim, z.itemsize
    for axis in range(z.ndim - 1, -1, -1):
        strides[axis] = step
        step *= max(z.shape[axis], 1)
    return np.lib.stride_tricks.as_strided(part, strides=tuple(strides),
                                           writeable=part.flags.writeable)


class Real(Op):
    """y = Re(z);  dz = g (a real gradient: the imaginary part gets none)."""

    complex_ok = True
    saves = ()  # backward reads neither z nor y (torch's node saves nothing)

    def forward(self, z):
        return _part_strides(z, z.real)  # a view, as torch's: writing to it writes z

    def backward(self, grad_output):
        return (grad_output,)  # the engine makes it complex, 0 imaginary part

    def backward_graph(self, grad_output, output):
        return (grad_output,)


class Imag(Op):
    """y = Im(z);  dz = i g."""

    complex_ok = True
    saves = ()  # backward reads neither z nor y (torch's node saves nothing)

    def forward(self, z):
        return _part_strides(z, z.imag)  # a view, as torch's: writing to it writes z

    def backward(self, grad_output):
        return (grad_output * 1j,)

    def backward_graph(self, grad_output, output):
        return (grad_output * 1j,)


@follows_inputs
class Angle(Op):
    """y = atan2(Im z, Re z);  dz = g i z / |z|^2 (0 at z = 0). A real x gives 0 or pi, with
    a zero gradient, as PyTorch's."""

    saves = (0,)  # backward reads z, never the result (as torch's)

    complex_ok = True

    def forward(self, z):
        self.z = z
        if z.dtype.kind == "c":
            return np.angle(z).astype(real_dtype(z.dtype), copy=False)
        # pi below 0, else 0 (-0.0 too, where atan2 gives pi), nan kept: torch's real angle
        return np.where(z < 0, np.pi, np.where(z == z, 0, z)).astype(z.dtype, copy=False)

    def backward(self, grad_output):
        z = self.z
        if z.dtype.kind != "c":
            return (np.zeros_like(z),)
        square = z.real**2 + z.imag**2
        safe = np.where(square == 0, 1, square)
        return (np.where(square == 0, 0, grad_output * 1j * z / safe),)

    def backward_graph(self, grad_output, output):
        from dlpy.ops.mask import where

        (z,) = self.inputs
        if z.data.dtype.kind != "c":
            return (Tensor(np.zeros_like(z.data)),)
        square = real(z * conj(z))
        zero = square.data == 0  # a constant mask, as backward's
        return (where(zero, 0.0, grad_output * 1j * z / where(zero, 1.0, square)),)


@follows_inputs
class Complex(Op):
    """z = real + i imag (broadcast);  d real = Re(g), d imag = Im(g)."""

    def forward(self, real, imag):
        dtype = complex_dtype(np.result_type(real, imag))
        out = np.empty(np.broadcast_shapes(real.shape, imag.shape), dtype)
        out.real, out.imag = real, imag
        # (laid out as torch's TensorIterator over the parts: a transposed imag, a transposed
        # result)
        return laid_as_inputs(out, real, imag)

    def backward(self, grad_output):
        return grad_output.real, grad_output.imag

    def backward_graph(self, grad_output, output):
        return real(grad_output), imag(grad_output)


@follows_inputs
class Polar(Op):
    """z = r (cos t + i sin t);  dr = Re(conj(g) sgn(z)), dt = Re(conj(g) i z), torch's
    formula: sgn(z) is e^{it} where r > 0, so dr is 0 where r = 0 and flips its sign where
    r < 0 (torch's polar_backward)."""

    saves = ("output",)  # backward reads the result, never r or theta (as torch's)

    def forward(self, r, t):
        real, imag = r * np.cos(t), r * np.sin(t)  # each part on its own, as torch's: r < 0
        z = np.empty(real.shape, complex_dtype(np.result_type(r, t)))  # at t = 0 gives -0.0i
        z.real, z.imag = real, imag
        self.z = z = laid_as_inputs(z, r, t)  # (torch's TensorIterator layout, as complex's)
        return z

    def backward(self, grad_output):
        size = np.abs(self.z)
        sign = np.where(size == 0, 0, self.z / np.where(size == 0, 1, size))
        r_grad = (np.conj(grad_output) * sign).real
        t_grad = (np.conj(grad_output) * 1j * self.z).real
        return r_grad, t_grad

    def backward_graph(self, grad_output, output):
        return real(conj(grad_output) * sgn(output)), real(conj(grad_output) * 1j * output)


class ViewAsReal(Op):
    """(...) complex -> (..., 2) real: the two parts;  dz = g[..., 0] + i g[..., 1]."""

    complex_ok = True
    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, z):
        # a view, as torch's: writing to it writes z (the new axis of one is contiguous,
        # as numpy's dtype view needs)
        out = z[..., None].view(real_dtype(z.dtype))
        if out.size == 0:  # zero strides: stride() reads a new tensor's, as torch's
            out = np.lib.stride_tricks.as_strided(out, strides=(0,) * out.ndim,
                                                  writeable=out.flags.writeable)
        return out

    def backward(self, grad_output):
        return (grad_output[..., 0] + 1j * grad_output[..., 1],)

    def backward_graph(self, grad_output, output):
        return (view_as_complex(grad_output),)


class ViewAsComplex(Op):
    """(..., 2) real -> (...) complex: x[..., 0] + i x[..., 1];  dx = the parts of g stacked."""

    saves = ()  # backward reads no input or output (in-place checks, Op.saves)

    def forward(self, x):
        if x.strides[-1] == x.itemsize:  # a view, as torch's: writing to it writes x
            return x.view(complex_dtype(x.dtype))[..., 0]
        out = np.empty(x.shape[:-1], complex_dtype(x.dtype))
        out.real, out.imag = x[..., 0], x[..., 1]
        return out

    def backward(self, grad_output):
        return (np.stack([grad_output.real, grad_output.imag], axis=-1),)

    def backward_graph(self, grad_output, output):
        return (view_as_real(grad_output),)


# ----------------------------------------------------------------- functions
def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def is_complex(input) -> bool:
    """Whether x holds complex numbers (torch.is_complex: a tensor only)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_complex: expected a Tensor, got {type(input).__name__}")
    return input.data.dtype.kind == "c"


def conj(input) -> Tensor:
    """The complex conjugate; a real tensor is returned as it is (as torch.conj)."""
    input = _as_tensor(input)
    return Conj()(input) if input.data.dtype.kind == "c" else input


def real(input) -> Tensor:
    """The real part (a real tensor is itself, as torch.real)."""
    input = _as_tensor(input)
    return Real()(input) if input.data.dtype.kind == "c" else input


def imag(input) -> Tensor:
    """The imaginary part; complex tensors only (as torch.imag)."""
    input = _as_tensor(input)
    if input.data.dtype.kind != "c":
        raise ComplexPartsError(f"imag: expected a complex tensor, got {input.dtype} (a real "
                                "tensor has no imaginary part)")
    return Imag()(input)


def angle(input) -> Tensor:
    """The argument atan2(Im, Re) in (-pi, pi]; for a real tensor 0 or pi (as torch.angle)."""
    input = _as_tensor(input)
    if input.data.dtype.kind in "biu":  # integers and bools: the default float dtype, as torch's
        from dlpy.ops.promotion import floating

        input = floating(input)
    elif input.data.dtype.kind not in "fcV":  # (bfloat16's kind is V)
        raise TypeError(f"angle: expected a float or complex tensor, got {input.dtype}")
    return Angle()(input)


def _real_pair(name: str, what: tuple[str, str], a, b) -> tuple[Tensor, Tensor]:
    for t, label in zip((a, b), what):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): argument '{label}' must be Tensor, not "
                            f"{type(t).__name__}")
        if t.data.dtype not in (np.float32, np.float64):
            raise ComplexPartsKernelError(f"{name}: {label} must be float32 or float64, got "
                                          f"{t.dtype}")
    if a.dtype != b.dtype:
        raise ComplexPartsError(f"{name}: {what[0]} and {what[1]} must have the same dtype, got "
                        f"{a.dtype} and {b.dtype}")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ArgError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast "
                       "together") from None
    return a, b


def sgn(x) -> Tensor:
    """torch.sgn of a complex tensor: z / |z|, 0 at z = 0 (gradient 0 there, as torch's);
    composed, so its second derivative comes too."""
    from dlpy.ops.mask import where

    x = _as_tensor(x)
    zero = x.data == 0  # a constant mask, as torch's masked_fill in sgn_backward
    return where(zero, 0.0, x / where(zero, 1.0, x.abs()))


def complex(real, imag) -> Tensor:  # noqa: A001 - torch.complex
    """real + i imag, both float32 (-> complex64) or both float64 (-> complex128)."""
    return mark(Complex()(*_real_pair("complex", ("real", "imag"), real, imag)))


@autocast_policy(FP32)
def polar(abs, angle) -> Tensor:  # noqa: A002 - torch.polar's names
    """abs * (cos(angle) + i sin(angle)), both float32 or both float64."""
    return mark(Polar()(*_real_pair("polar", ("abs", "angle"), abs, angle)))


def _tensor_input(name: str, input) -> Tensor:  # noqa: A002
    """``input`` where it is a Tensor, else torch's TypeError (no list or number)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    return input


def view_as_real(input) -> Tensor:
    """A complex tensor of shape (...) as a real one of shape (..., 2), a view of x (a Tensor
    only, as torch's)."""
    input = _tensor_input("view_as_real", input)
    if input.data.dtype.kind != "c":
        raise ViewAsError(f"view_as_real: expected a complex tensor, got {input.dtype}")
    return ViewAsReal()(input)


@autocast_policy(FP32)
def view_as_complex(input) -> Tensor:
    """A real tensor of shape (..., 2) as a complex one of shape (...), a view of x where its
    last axis is contiguous (else a copy); a Tensor only, as torch's."""
    input = _tensor_input("view_as_complex", input)
    if input.data.dtype not in (np.float32, np.float64):
        raise ViewAsError(f"view_as_complex: expected a float32 or float64 tensor, got "
                          f"{input.dtype}")
    if input.ndim == 0 or input.shape[-1] != 2:
        raise ViewAsError(f"view_as_complex: the last axis must have length 2, got shape "
                          f"{input.shape}")
    strides = input.stride()
    if strides[-1] != 1:
        raise ViewAsError("view_as_complex: the tensor must have a last dimension with stride 1, "
                          f"got strides {strides}")
    if any(s % 2 for s in strides[:-1]) or input.storage_offset() % 2:
        raise ViewAsError("view_as_complex: the tensor must have a storage offset and strides "
                          "(but the last) divisible by 2, got strides "
                          f"{strides} and offset {input.storage_offset()}")
    return mark(ViewAsComplex()(input))


class ComplexPartsError(RuntimeError, TypeError):
    """complex / polar of parts that are not both float32 or both float64, imag of a real
    tensor: torch's RuntimeError (a TypeError too)."""


class ComplexPartsKernelError(NotImplementedError, ComplexPartsError):
    """complex / polar of parts of a dtype with no kernel (float16 for polar, torch's
    NotImplementedError; integers, torch's RuntimeError): a NotImplementedError, so a
    RuntimeError, and a TypeError as ComplexPartsError."""


class ViewAsError(RuntimeError, TypeError, ValueError):
    """view_as_real / view_as_complex refusing a tensor: torch's RuntimeError (a TypeError or
    ValueError as dlpy's were)."""
