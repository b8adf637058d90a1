"""Matrix products: batched matmul with broadcast batch axes, the fused affine map of Linear, and
bilinear (a composite)."""

import math

import numpy as np

from dlpy.amp.dtypes import _c_name, _torch_name, float32_compute, is_low_precision
from dlpy.ops import ArgDtypeError, ArgError
from dlpy.ops.shape import squeeze, swapaxes, unsqueeze
from dlpy.tensor import Op, ShapeError, Tensor, as_array


class NumberOperandError(ShapeError, TypeError):
    """matmul with a Python number (``x @ 2``): a ShapeError (it has no axes), and torch's
    TypeError (its ``@`` takes tensors only)."""


@float32_compute  # float16/bfloat16 arrays: float32 products, rounded output
class MatMul(Op):
    """y = a @ b over the last two axes, batch axes broadcast;  da = g @ b^T, db = a^T @ g.

    A 1-D operand is a row (a) or column (b) vector, as in numpy.matmul.
    """

    float8_ok = True  # torch's mm and linear run on float8 (amp/dtypes.py's _float8)
    complex_ok = "holomorphic"
    # read by backward (in-place checks, Op.saves), in torch's order (saved_tensors_hooks):
    # mat2 when self requires grad, then self when mat2 does
    saves = ((1, 0), (0, 1))
    unpacked_rebuilds = ("a", "b")  # (saved_tensors_hooks: made again from the unpacked)

    def pack_order(self, inputs):
        """What torch's node packs (saved_tensors_hooks), by the product matmul runs: dot
        (self, tensor) and mv (self, vec) their operands, each when the other requires grad;
        mm (mat2, then self) a vector as a row; a batch of matrices times a matrix or a
        vector folded into rows; batches both bmm's (mat2, then self) at the broadcast
        batch, flattened into one axis."""
        a, b = inputs
        a_grad, b_grad = a.requires_grad, b.requires_grad
        if a.ndim <= 2 and b.ndim > 2:
            return None  # (torch's transposed products: not followed)
        if b.ndim == 1:  # dot, mv (a batch of matrices folded into rows)
            return [w for w, keep in ((0 if a.ndim <= 2 else "a_rows", b_grad), (1, a_grad))
                    if keep]
        if a.ndim <= 2 or b.ndim == 2:  # mm: a vector as a row, a batch folded into rows
            first = "a" if a.ndim == 1 else 0 if a.ndim == 2 else "a_rows"
            return [w for w, keep in ((1, a_grad), (first, b_grad)) if keep]
        return [w for w, keep in (("b_bmm", a_grad), ("a_bmm", b_grad)) if keep]

    def saved_array(self, what):
        """The arrays torch's products save (pack_order): a's rows, a and b as bmm's."""
        a, b = self.a, self.b
        if what == "a_rows":
            return _rows(a)
        if what == "a":
            return a
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        x = a if what == "a_bmm" else b
        return np.broadcast_to(x, batch + x.shape[-2:]).reshape((-1,) + x.shape[-2:])

    def use_unpacked(self, what, array):
        """saved_tensors_hooks: a and b (as forward kept them) from what unpack gave for a
        derived key (an input itself is put back by the engine)."""
        if type(what) is int:
            return
        a, b = self.inputs[0].shape, self.inputs[1].shape
        if what == "a":  # the vector as a row, as torch's mm gets it
            self.a = array
        elif what == "a_rows":
            self.a = np.reshape(array, a)
        else:
            batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
            if what == "a_bmm":
                self.a = np.reshape(array, batch + a[-2:])
            else:
                self.b = np.reshape(array, batch + b[-2:])

    def check_dtypes(self, a, b):
        """torch's refusal of two dtypes (float32_compute asks before widening)."""
        if a.dtype != b.dtype:
            _refuse_mixed(a, b)

    def forward(self, a, b):
        if a.dtype.kind == "b" and b.dtype.kind == "b":
            raise NotImplementedError("matmul: not implemented for bool tensors, as torch")
        if a.dtype != b.dtype:
            _refuse_mixed(a, b)
        self.a_vector, self.b_vector = a.ndim == 1, b.ndim == 1
        self.a = a[None, :] if self.a_vector else a
        self.b = b[:, None] if self.b_vector else b
        y = _folded_matmul(self.a, self.b)
        if self.b_vector:
            y = y[..., 0]
        if self.a_vector:
            y = y[..., 0, :] if not self.b_vector else y[..., 0]
        return y

    def backward(self, grad_output):
        a, b = self.a, self.b
        g = grad_output
        if self.b_vector:
            g = g[..., None]
        if self.a_vector:
            g = g[..., None, :]
        a_grad = b_grad = None
        if self.inputs[0].requires_grad:
            a_grad = _folded_matmul(g, _mT(b))
            if self.a_vector:
                a_grad = a_grad[..., 0, :]
        if self.inputs[1].requires_grad:
            if a.ndim > 2 and max(self.inputs[1].ndim, 2) == 2:  # (b: None if not read)
                # a (..., m, k) @ b (k, n): fold the batch into the rows, one GEMM
                b_grad = _rows(a).T @ _rows(g)
            else:
                b_grad = np.matmul(_mT(a), g)
            if self.b_vector:
                b_grad = b_grad[..., 0]
        return a_grad, b_grad

    def backward_graph(self, grad_output, output):
        a, b = self.inputs
        a_vector, b_vector, g = a.ndim == 1, b.ndim == 1, grad_output
        if b_vector:  # a column (k,) -> (k, 1), and g gets that axis back
            b, g = b.reshape(b.shape + (1,)), unsqueeze(g, -1)
        if a_vector:  # a row (k,) -> (1, k)
            a, g = a.reshape((1,) + a.shape), unsqueeze(g, -2)
        a_grad = b_grad = None
        if self.inputs[0].requires_grad:
            a_grad = g @ swapaxes(b, -1, -2)  # (..., m, k), summed to a's shape by the engine
            if a_vector:
                a_grad = squeeze(a_grad, -2)
        if self.inputs[1].requires_grad:
            b_grad = swapaxes(a, -1, -2) @ g
            if b_vector:
                b_grad = squeeze(b_grad, -1)
        return a_grad, b_grad


@float32_compute  # float16/bfloat16 arrays: float32 products, rounded output
class Linear(Op):
    """y = x @ w^T + b with w (out, in) as in PyTorch; x (..., in) -> y (..., out).

    dx = g @ w,  dw = g^T x (batch axes folded into one GEMM),  db = sum of g over batch axes.
    Holomorphic for complex x, w, b (nn.Linear with dtype=complex64).
    """

    float8_ok = True  # torch's mm and linear run on float8 (amp/dtypes.py's _float8)
    complex_ok = "holomorphic"
    saves = ((0, 1), (1, 0))  # read by backward (in-place checks, Op.saves)
    unpacked_rebuilds = ("x", "weight")  # (saved_tensors_hooks: made again from the unpacked)

    def pack_order(self, inputs):
        """What torch's node packs (saved_tensors_hooks): x (its rows: a vector as one, a
        batch folded) when the weight requires grad and weight.t() when x does; in that
        order for addmm (a bias, with x of at most 2 axes or contiguous), the other way
        round for mm (no bias, or torch's matmul then add)."""
        x, weight = inputs[0], inputs[1]
        rows = (0 if x.ndim == 2 else "x_rows", weight.requires_grad)
        weight_t = ("weight_t", x.requires_grad)
        fused = len(inputs) > 2 and (x.ndim <= 2 or x.data.flags.c_contiguous)
        return [w for w, keep in ((rows, weight_t) if fused else (weight_t, rows)) if keep]

    def saved_array(self, what):
        """weight.t(), or x's rows (pack_order)."""
        return self.weight.T if what == "weight_t" else _rows(np.atleast_2d(self.x))

    def use_unpacked(self, what, array):
        """saved_tensors_hooks: x and the weight (as forward kept them) from what unpack gave."""
        if what == "weight_t":
            self.weight = np.swapaxes(array, -1, -2)
        else:
            self.x = np.reshape(array, self.inputs[0].shape)

    def complex_forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = np.matmul(x, weight.T)
        return y if bias is None else y + bias  # a real y cannot take a complex bias in place

    def check_dtypes(self, x, weight, bias=None):
        """torch's refusal of two dtypes (float32_compute asks before widening)."""
        if x.dtype != weight.dtype or bias is not None and bias.dtype != weight.dtype:
            _refuse_mixed_linear(x, weight, bias)

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        if x.dtype != weight.dtype or bias is not None and bias.dtype != weight.dtype:
            _refuse_mixed_linear(x, weight, bias)
        if x.dtype.kind == "b" and weight.dtype.kind == "b":
            raise NotImplementedError("linear: not implemented for bool tensors, as torch")
        if x.ndim == 2 and len(x) <= 64 and x.size * len(weight) > 4096:
            # measured with OpenBLAS: for a small batch (MNIST's 50 x 784 @ 784 x 128), w @ x^T
            # transposed back is ~15% faster than x @ w^T (for large ones, slower); made
            # C-contiguous so later element-wise ops do not mix memory orders (3x slower).
            # A tiny product (at most 4096 multiply-adds) skips the copy, which costs more
            # than it saves there (the same numbers: bitwise equal on 6,000 random shapes)
            y = np.ascontiguousarray((weight @ x.T).T)
        else:  # (a 2-D x: np.matmul without _folded_matmul's call)
            y = _folded_matmul(x, weight.T) if x.ndim > 2 else np.matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def forward_low_precision(self, x, weight, bias=None):
        """float16/bfloat16 arrays: float32 products rounded once, as torch's fused kernel;
        but a non-contiguous input of 3+ axes with a bias takes torch's unfused path
        (at::linear: matmul, then the bias added), its product rounded before the bias."""
        wide = [a.astype(np.float32) if a.dtype.itemsize <= 2 and a.dtype.kind in "fV" else a
                for a in ((x, weight) if bias is None else (x, weight, bias))]
        if bias is None or x.ndim < 3 or x.flags.c_contiguous:
            return type(self).forward.__wrapped__(self, *wide)
        self.x, self.weight = wide[:2]
        product = np.result_type(x, weight)
        y = _folded_matmul(wide[0], wide[1].T).astype(product)  # rounded before the bias
        return (y.astype(np.float32) if is_low_precision(product) else y) + wide[2]

    def backward(self, grad_output):
        x, weight = self.x, self.weight
        g2 = grad_output if grad_output.ndim == 2 else _rows(grad_output)  # (rows, out)
        x_grad = None
        if self.inputs[0].requires_grad:  # (2-D: np.matmul without _folded_matmul's call)
            x_grad = np.matmul(grad_output, weight) if grad_output.ndim == 2 else \
                _folded_matmul(grad_output, weight)
        w_grad = g2.T @ (x if x.ndim == 2 else _rows(x)) if self.inputs[1].requires_grad \
            else None
        if len(self.inputs) == 2:
            return x_grad, w_grad
        # (np.add.reduce is g2.sum without ndarray.sum's Python wrapper)
        b_grad = np.add.reduce(g2, axis=0) if self.inputs[2].requires_grad else None
        return x_grad, w_grad, b_grad

    def backward_graph(self, grad_output, output):
        x, weight = self.inputs[:2]
        # exact row counts (as _rows): -1 is ambiguous where an axis is empty
        g2 = grad_output.reshape((math.prod(grad_output.shape[:-1]), grad_output.shape[-1]))
        x_grad = grad_output @ weight if x.requires_grad else None
        w_grad = g2.T @ x.reshape((math.prod(x.shape[:-1]), x.shape[-1])) \
            if weight.requires_grad else None
        return (x_grad, w_grad, grad_output)[:len(self.inputs)]  # the engine sums b's


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _folded_matmul(a, b):
    """np.matmul(a, b) for a (..., m, k) and b (k, n): with a 2-D b and batch axes on a, one
    GEMM over a's rows folded together, 1.5-4.7x faster than numpy's loop of small GEMMs on
    (batch, seq, d) shapes (OpenBLAS, measured); otherwise np.matmul."""
    if a.ndim > 2 and b.ndim == 2:
        return (_rows(a) @ b).reshape(a.shape[:-1] + b.shape[-1:])
    return np.matmul(a, b)


def _rows(x):
    """(..., n) -> (rows, n), a view when possible; exact sizes, so an empty axis works too."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def matmul(a, b):
    """Batched matrix product, batch axes broadcast as in numpy.matmul."""
    if type(a) in (list, tuple) or type(b) in (list, tuple):  # torch's binding takes tensors
        raise TypeError(f"matmul: expected tensors, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    a_shape, b_shape = np.shape(as_array(a)), np.shape(as_array(b))
    if len(a_shape) == 0 or len(b_shape) == 0:
        error = ShapeError if isinstance(a, Tensor) and isinstance(b, Tensor) else \
            NumberOperandError
        raise error(f"matmul: both operands need at least one axis, got {a_shape} @ {b_shape}")
    k_a = a_shape[-1]
    k_b = b_shape[-2] if len(b_shape) >= 2 else b_shape[0]
    if k_a != k_b:
        raise ShapeError(
            f"matmul: x.shape[-1] must equal w.shape[-2], got {a_shape} @ {b_shape}"
        )
    try:
        np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ShapeError(
            f"matmul: batch axes {a_shape[:-2]} and {b_shape[:-2]} cannot be broadcast, "
            f"got {a_shape} @ {b_shape}"
        ) from None
    return MatMul()(a, b)


def _refuse_mixed(a, b):
    """torch's RuntimeError for a product of two dtypes (it promotes none: ``float64 @
    float32``, ``int64 @ float32``), worded as the kernel the shapes reach says it: dot (two
    vectors), addmv (a vector on the right), mm (a matrix on the right), bmm (a batch)."""
    names = _torch_name(a.dtype), _torch_name(b.dtype)
    if a.ndim == 1 and b.ndim == 1:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{names[0]} and {names[1]}")
    if b.ndim == 1:
        raise RuntimeError(f"addmv input tensors must have the same dtype, but got {names[1]}, "
                           f"{names[0]}, and {names[1]}")
    if b.ndim == 2:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_c_name(a.dtype)} != {_c_name(b.dtype)}")
    raise RuntimeError(f"expected scalar type {names[0]} but found {names[1]}")


def _refuse_mixed_linear(x, weight, bias):
    """torch's RuntimeError for F.linear over two dtypes: the bias's against the weight's
    (addmm's self), else the input's (mat1) against the weight's; without a bias, mm's."""
    if bias is None:
        _refuse_mixed(x, weight)
    first = bias if bias.dtype != weight.dtype else x
    raise RuntimeError(f"{'self' if first is bias else 'mat1'} and mat2 must have the same "
                       f"dtype, but got {_torch_name(first.dtype)} and "
                       f"{_torch_name(weight.dtype)}")


def linear(x, weight, bias=None):
    """x (..., in) @ weight(out, in)^T + bias (out,) -> (..., out); a 1-D weight (in,) without
    bias gives x @ weight (...,), as torch's."""
    # (a plain Tensor's or array's shape read here: _shape's call costs more than its test)
    x_shape = x.data.shape if isinstance(x, Tensor) else _shape(x)
    w_shape = weight.data.shape if isinstance(weight, Tensor) else _shape(weight)
    if len(w_shape) != 2 or len(x_shape) == 0 or x_shape[-1] != w_shape[1]:
        if len(w_shape) == 1 and len(x_shape) and x_shape[-1] == w_shape[0] and bias is None:
            return matmul(x, weight)
        raise ShapeError(
            f"linear: expected x.shape[-1] == weight.shape[1] with weight (out, in), "
            f"got x {x_shape} and weight {w_shape}"
        )
    if bias is None:
        return Linear()(x, weight)
    b_shape = bias.data.shape if isinstance(bias, Tensor) else _shape(bias)
    if b_shape != (w_shape[0],):  # torch's: any bias that broadcasts to the output
        from dlpy.ops import broadcasts_to
        from dlpy.ops.arithmetic import add

        out_shape = (*x_shape[:-1], w_shape[0])
        if not broadcasts_to(b_shape, out_shape):
            raise ShapeError(f"linear: bias of shape {b_shape} does not broadcast to the "
                             f"output's shape {out_shape} (it is ({w_shape[0]},) as a rule)")
        return add(Linear()(x, weight), bias)
    return Linear()(x, weight, bias)


def _shape(value) -> tuple[int, ...]:
    """A Tensor's or array's shape, a plain tuple (linear's checks: a Size costs more)."""
    if type(value) is np.ndarray:  # (before isinstance, which costs more when it fails)
        return value.shape
    return value.data.shape if isinstance(value, Tensor) else np.shape(as_array(value))


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij x1[..., i] weight[o, i, j] x2[..., j] + bias[o], as torch's
    F.bilinear: x1 (..., in1) and x2 (..., in2) with the same leading axes, weight
    (out, in1, in2) (another rank is an ArgError: torch's RuntimeError), bias (out,), all of
    one dtype. A composite: x1 through a linear map to (..., out, in2), then a product with
    x2 summed over in2."""
    input1, input2, weight = (v if isinstance(v, Tensor) else Tensor(v)
                              for v in (input1, input2, weight))
    w_shape = np.shape(as_array(weight))
    if len(w_shape) != 3:
        raise ArgError(f"bilinear: expected weight (out, in1, in2), got shape {w_shape}")
    out, in1, in2 = w_shape
    if input1.ndim == 0 or input2.ndim == 0 or input1.shape[:-1] != input2.shape[:-1]:
        raise ShapeError(f"bilinear: expected x1 (..., in1) and x2 (..., in2) with the same "
                         f"leading axes, got {input1.shape} and {input2.shape}")
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise ShapeError(f"bilinear: expected x1 (..., {in1}) and x2 (..., {in2}) for weight "
                         f"{w_shape}, got {input1.shape} and {input2.shape}")
    if bias is not None and np.shape(as_array(bias)) != (out,):
        raise ShapeError(f"bilinear: bias must have shape ({out},), got "
                         f"{np.shape(getattr(bias, 'data', bias))}")
    dtypes = [v.data.dtype for v in (input1, input2, weight)]
    if bias is not None:
        dtypes.append(np.asarray(as_array(bias)).dtype)
    if len(set(dtypes)) > 1:  # torch's _trilinear refuses mixed dtypes (no promotion)
        names = ", ".join(f"{n}: {d}" for n, d in zip(("input1", "input2", "weight", "bias"),
                                                       dtypes))
        raise ArgDtypeError(f"bilinear: all tensors must have the same dtype, got {names}")
    lead = input1.shape[:-1]
    dtype = input1.data.dtype
    if is_low_precision(dtype) and input2.data.dtype == dtype and weight.data.dtype == dtype:
        y = _BilinearLowPrecision()(input1.reshape((-1, in1)), input2.reshape((-1, in2)), weight)
        y = y.reshape(lead + (out,))
        return y if bias is None else y + bias
    # torch's order (_trilinear): sum over in1 first, then over in2, each a matmul rounded once
    w = weight.transpose(0, 1).reshape(in1, out * in2)
    mapped = BilinearMatMul()(input1, w)  # (..., out * in2)
    y = BilinearMatMul()(mapped.reshape(lead + (out, in2)), input2.reshape(lead + (in2, 1)))
    y = y.reshape(lead + (out,))
    return y if bias is None else y + bias


class _BilinearLowPrecision(Op):
    """bilinear on float16/bfloat16 x1 (n, in1), x2 (n, in2), w (out, in1, in2), rounded where
    torch's _trilinear rounds: per output unit a float32 sum over in1, then one over in2, each
    rounded once; the gradients of x1 and x2 accumulate over the output units in the low
    dtype, and products without a sum are rounded too (its _trilinear_backward)."""

    saves = ("inputs",)

    def forward(self, x1, x2, w):
        self.low = x1.dtype
        self.x1, self.x2, self.w = (a.astype(np.float32) for a in (x1, x2, w))
        self.t = self._round(np.einsum("ni,kij->nkj", self.x1, self.w))  # (n, out, in2)
        # (C order: einsum's default follows a transposed x1's, torch's output is contiguous)
        return np.einsum("nkj,nj->nk", self.t, self.x2, order="C").astype(self.low)

    def _round(self, a):
        return a.astype(self.low).astype(np.float32)

    def backward(self, grad_output):
        g = grad_output.astype(np.float32)
        x1, x2, w, t, r = self.x1, self.x2, self.w, self.t, self._round
        grads = [None, None, None]
        if self.inputs[0].requires_grad:
            acc = np.zeros_like(x1)
            for k in range(w.shape[0]):
                buf = r(g[:, k, None, None] * w[k])  # (n, in1, in2)
                acc = r(acc + r(np.einsum("nij,nj->ni", buf, x2)))
            grads[0] = acc
        if self.inputs[1].requires_grad:
            acc = np.zeros_like(x2)
            for k in range(w.shape[0]):
                acc = r(acc + r(t[:, k] * g[:, k, None]))
            grads[1] = acc
        if self.inputs[2].requires_grad:
            buf = r(x1[:, None, :] * g[:, :, None])  # (n, out, in1)
            grads[2] = r(np.einsum("nki,nj->kij", buf, x2))
        return tuple(None if a is None else a.astype(self.low) for a in grads)

    def backward_graph(self, grad_output, output):
        # the same contractions recorded (their derivatives), with backward's values (torch's
        # _trilinear_backward roundings)
        from dlpy.ops.arithmetic import Valued
        from dlpy.ops.einsum import einsum

        x1, x2, w = self.inputs
        formulas = (lambda: einsum("nk,kij,nj->ni", grad_output, w, x2),
                    lambda: einsum("nk,kij,ni->nj", grad_output, w, x1),
                    lambda: einsum("nk,ni,nj->kij", grad_output, x1, x2))
        exact = self.backward(grad_output.data)
        return tuple(None if value is None else Valued(value)(formula())
                     for value, formula in zip(exact, formulas))


class BilinearMatMul(MatMul):
    """bilinear's products: MatMul that autocast leaves alone (torch's bilinear is on none of
    its CPU lists; amp/autocast_mode.py registers it so)."""
