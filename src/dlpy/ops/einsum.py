"""einsum (torch's equation syntax, with ``...`` broadcasting and repeated subscripts) and the
matrix products PyTorch users call by name: mm, bmm, mv, dot, outer, tensordot, addmm, baddbmm,
kron. einsum is one op; the others are composites over matmul and einsum.

An equation is parsed once into integer labels: each letter, each axis the ellipsis covers, and a
private label for an operand's size-1 axis that broadcasts against a larger one (so no
broadcasting is left for numpy). A contraction of two operands is one batched matmul (the same
GEMMs as F.matmul); three or more go pairwise in the order ``np.einsum_path`` chooses.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from dlpy.amp import state as _autocast
from dlpy.amp.dtypes import _c_name, _torch_name, float32_compute
from dlpy.amp.state import KEEP, LOWER, autocast_policy
from dlpy.node_names import named
from dlpy.ops import ArgDtypeError, ArgError, NoKernelError, check_dim
from dlpy.ops.arithmetic import add, cast, mul
from dlpy.ops.matmul import matmul
from dlpy.ops.shape import reshape
from dlpy.tensor import Op, ShapeError, Tensor

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # label = position: ASCII order
_ELLIPSIS = len(_LETTERS)  # the ellipsis' axes get labels 52, 53, ... (right-aligned)


class EinsumError(ValueError, RuntimeError):
    """An equation that does not fit its operands (a bad subscript, too few operands, sizes that
    do not broadcast): a ValueError, and torch's RuntimeError for code written against torch."""


class TensordotDimsError(TypeError, ValueError, RuntimeError):
    """tensordot's dims neither an int nor two lists of axes: a TypeError, and torch's
    ValueError (a sequence of another length) or RuntimeError (a float)."""


# ------------------------------------------------------------------ contracting numpy arrays
def _sizes(operands) -> dict[int, int]:
    return {label: n for array, labels in operands for label, n in zip(labels, array.shape)}


def _single(array: np.ndarray, labels: list[int], out: list[int]) -> np.ndarray:
    """One operand onto the labels ``out``: a diagonal where a label repeats, a sum over the
    labels ``out`` lacks, then the axes in ``out``'s order."""
    if labels == out:
        return array
    if len(set(labels)) < len(labels):  # a diagonal: numpy's einsum, on compact labels
        names = {label: i for i, label in enumerate(dict.fromkeys(labels))}
        summing = array.dtype.kind in "biu" and not set(labels) <= set(out)
        return np.einsum(array, [names[label] for label in labels], [names[label] for label in out],
                         dtype=np.int64 if summing else None)
    summed = tuple(i for i, label in enumerate(labels) if label not in out)
    if summed:  # integers and bools add up in int64, as torch.sum
        array = array.sum(axis=summed, dtype=np.int64 if array.dtype.kind in "biu" else None)
        labels = [label for label in labels if label in out]
    return array.transpose([labels.index(label) for label in out])


def _pair(a: np.ndarray, a_labels: list[int], b: np.ndarray, b_labels: list[int],
          out: list[int]) -> np.ndarray:
    """Two operands onto ``out`` as one batched matmul (batch, left, k) @ (batch, k, right)."""
    a_keep, b_keep = set(b_labels) | set(out), set(a_labels) | set(out)
    a_target = [label for label in dict.fromkeys(a_labels) if label in a_keep]
    b_target = [label for label in dict.fromkeys(b_labels) if label in b_keep]
    a, b = _single(a, a_labels, a_target), _single(b, b_labels, b_target)
    sizes = _sizes([(a, a_target), (b, b_target)])
    batch = [label for label in a_target if label in b_target and label in out]
    summed = [label for label in a_target if label in b_target and label not in out]
    left = [label for label in a_target if label not in b_target]
    right = [label for label in b_target if label not in a_target]
    if out == batch + right + left and out != batch + left + right:
        return _pair(b, b_target, a, a_target, out)  # b^T a^T: the output needs no transpose
    n_batch, n_left, n_sum, n_right = (math.prod(sizes[label] for label in group)
                                       for group in (batch, left, summed, right))
    a = a.transpose([a_target.index(label) for label in batch + left + summed])
    b = b.transpose([b_target.index(label) for label in batch + summed + right])
    lead = (n_batch,) if batch else ()  # no batch: 2-D, so the result is a fresh array
    if summed:
        y = np.matmul(a.reshape(lead + (n_left, n_sum)), b.reshape(lead + (n_sum, n_right)))
    else:  # nothing to add up (an outer or element-wise product): broadcasting, not GEMMs
        y = a.reshape(lead + (n_left, 1)) * b.reshape(lead + (1, n_right))
    labels = batch + left + right
    shape = tuple(sizes[label] for label in labels)
    if y.shape != shape:  # reshape and transpose only when needed: a view costs a copy later
        y = y.reshape(shape)
    return y if labels == out else y.transpose([labels.index(label) for label in out])


def _path(operands, out: list[int]) -> list[tuple[int, ...]]:
    """The pairwise order, on compact labels (numpy takes < 52): as torch's, opt_einsum's
    ``contract_path`` with ``torch.backends.opt_einsum.strategy`` where that package is
    installed and enabled, else np.einsum_path's greedy one."""
    from dlpy.backends import opt_einsum as backend

    names: dict[int, int] = {}
    for label in [label for _, labels in operands for label in labels] + out:
        names.setdefault(label, len(names))
    if len(names) > len(_LETTERS):
        return [(0, 1)] * (len(operands) - 1)  # left to right
    args = [x for array, labels in operands for x in (array, [names[label] for label in labels])]
    if backend.enabled and backend.is_available():
        return list(backend.get_opt_einsum().contract_path(
            *args, [names[label] for label in out], optimize=backend.strategy or "auto")[0])
    return np.einsum_path(*args, [names[label] for label in out], optimize="greedy")[0][1:]


def _contract(operands: list[tuple[np.ndarray, list[int]]], out: list[int]) -> np.ndarray:
    """The einsum of (array, labels) pairs onto the labels ``out`` (each in some operand)."""
    if len(operands) == 1:
        return _single(operands[0][0], operands[0][1], out)
    if len(operands) == 2:
        (a, a_labels), (b, b_labels) = operands
        return _pair(a, a_labels, b, b_labels, out)
    operands = list(operands)
    for positions in _path(operands, out):
        picked = [operands[p] for p in positions]
        for p in sorted(positions, reverse=True):
            del operands[p]
        needed = set(out).union(*(labels for _, labels in operands))
        labels = [label for label in dict.fromkeys(label for _, ls in picked for label in ls)
                  if label in needed]
        contract = _fold if len(picked) > 2 else _contract  # numpy may take several at once
        operands.append((contract(picked, labels), labels))
    array, labels = operands[0]
    return _single(array, labels, out)


def _fold(operands: list[tuple[np.ndarray, list[int]]], out: list[int]) -> np.ndarray:
    """The einsum of several operands, contracted pairwise from left to right."""
    array, labels = operands[0]
    for i, (other, other_labels) in enumerate(operands[1:], 2):
        needed = set(out).union(*(ls for _, ls in operands[i:]))
        keep = [label for label in dict.fromkeys(labels + other_labels) if label in needed]
        array, labels = _pair(array, labels, other, other_labels, keep), keep
    return _single(array, labels, out)


@float32_compute  # float16/bfloat16: float32 products and sums rounded once, as torch's bmm
class Einsum(Op):
    """y = einsum(equation, *operands). The gradient of operand k is the einsum of g (with the
    output's labels) and the other operands onto k's labels: broadcast along a label only k has
    (it was summed), written onto the diagonal where k repeats a label, zero elsewhere."""

    complex_ok = "holomorphic"

    def __init__(self, equation: str, inputs: list[list[int]], output: list[int]):
        self.equation, self.input_labels, self.output_labels = equation, inputs, output
        # backward reads operand i only for another operand's gradient, never the output (as
        # torch's bmm decomposition saves): the result may be changed in place (y += bias)
        self.saves = tuple((i, k) for i in range(len(inputs)) for k in range(len(inputs))
                           if k != i)
        # one operand: linear, its gradient needs no values (torch's permute/sum: a second
        # backward works)
        self.saves_tensors = len(inputs) > 1

    def forward(self, *operands):
        if len({x.dtype for x in operands}) > 1:
            # integer operands take the floating ones' dtype, as torch's promotion (numpy's
            # einsum would make float32 with int64 a float64)
            floats = [x.dtype for x in operands if x.dtype.kind in "fc"]
            if floats:
                common = np.result_type(*floats)
                operands = tuple(x.astype(common) if x.dtype.kind in "biu" else x
                                 for x in operands)
        self.operands = operands
        return _contract(list(zip(operands, self.input_labels)), self.output_labels)

    def backward(self, grad_output):
        grads = []
        for k, (tensor, labels) in enumerate(zip(self.inputs, self.input_labels)):
            if not tensor.requires_grad:
                grads.append(None)
                continue
            others = [(grad_output, self.output_labels)] + [
                (array, other) for j, (array, other)
                in enumerate(zip(self.operands, self.input_labels)) if j != k]
            grads.append(_operand_grad(others, labels, self.operands[k]))
        return tuple(grads)

    def backward_graph(self, grad_output, output):
        # backward's einsums as recorded Einsum ops: a label only operand k has is put back by
        # a constant of ones, a repeated one onto the diagonal by an identity matrix
        grads = []
        fresh = 1 + max((label for labels in (*self.input_labels, self.output_labels)
                         for label in labels), default=-1)  # a label no operand uses
        for k, (tensor, labels) in enumerate(zip(self.inputs, self.input_labels)):
            if not tensor.requires_grad:
                grads.append(None)
                continue
            operands = [(grad_output, self.output_labels)] + [
                (other, other_labels) for j, (other, other_labels)
                in enumerate(zip(self.inputs, self.input_labels)) if j != k]
            present = set().union(*(other_labels for _, other_labels in operands))
            target: list[int] = []
            for label, n in zip(labels, tensor.shape):
                if label in target:
                    operands.append((Tensor(np.eye(n, dtype=tensor.dtype)), [label, fresh]))
                    label, fresh = fresh, fresh + 1
                elif label not in present:
                    operands.append((Tensor(np.ones(n, dtype=tensor.dtype)), [label]))
                target.append(label)
            grads.append(Einsum(self.equation, [other_labels for _, other_labels in operands],
                                target)(*[other for other, _ in operands]))
        return tuple(grads)

    def describe(self) -> str:
        return f"Einsum({self.equation})"


def _operand_grad(others, labels: list[int], operand: np.ndarray) -> np.ndarray:
    unique = list(dict.fromkeys(labels))
    sizes = dict(zip(labels, operand.shape))
    present = set().union(*(other for _, other in others))
    grad = _contract(others, [label for label in unique if label in present])
    if len(present.intersection(unique)) < len(unique):
        # labels only this operand has were summed in forward: the gradient is constant along
        # them
        grad = grad.reshape([sizes[label] if label in present else 1 for label in unique])
        grad = np.broadcast_to(grad, [sizes[label] for label in unique])
    if len(unique) == len(labels):
        return grad if grad.flags.c_contiguous else np.ascontiguousarray(grad)
    full = np.zeros(operand.shape, dtype=grad.dtype)  # a repeated label: onto the diagonal
    index = tuple(np.arange(sizes[label]).reshape(
        [-1 if u == label else 1 for u in unique]) for label in labels)
    full[index] = grad
    return full


# ------------------------------------------------------------------ parsing torch's equations
def _parse_term(equation: str, term: str, start: int, name: str) -> list:
    """A term's subscripts: letter labels and one Ellipsis at most."""
    parts: list = []
    i = 0
    while i < len(term):
        char = term[i]
        if char == " ":  # spaces between subscripts, as torch (not inside '...' or '->')
            i += 1
            continue
        if char == ".":
            if term[i:i + 3] != "...":
                raise EinsumError(f"einsum: '.' at index {start + i} of {equation!r} is not part "
                                  f"of an ellipsis '...'")
            if Ellipsis in parts:
                raise EinsumError(f"einsum: {name} has more than one ellipsis in {equation!r}")
            parts.append(Ellipsis)
            i += 3
            continue
        if char not in _LETTERS:
            raise EinsumError(f"einsum: invalid subscript {char!r} at index {start + i} of "
                              f"{equation!r}: subscripts must be letters a-z, A-Z")
        parts.append(_LETTERS.index(char))
        i += 1
    return parts


def _parse(equation: str, shapes: list[tuple[int, ...]]):
    """(labels of each operand, labels of the output), broadcasting resolved: an operand's size-1
    axis against a larger size gets a label of its own."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {equation!r}")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise EinsumError(f"einsum: the equation {equation!r} has {len(terms)} operand "
                          f"term(s) but {len(shapes)} operand(s) were given")
    starts = np.cumsum([0] + [len(t) + 1 for t in terms])
    parsed = [_parse_term(equation, t, int(s), f"operand {k}")
              for k, (t, s) in enumerate(zip(terms, starts))]
    ellipsis_ndim = 0
    for k, (parts, shape) in enumerate(zip(parsed, shapes)):
        letters = len(parts) - (Ellipsis in parts)
        if letters > len(shape) or (Ellipsis not in parts and letters != len(shape)):
            missing = "" if Ellipsis in parts else " (and no ellipsis)"
            raise EinsumError(f"einsum: operand {k} has {letters} subscript(s) in {equation!r} "
                              f"but {len(shape)} axes{missing}, shape {shape}")
        if Ellipsis in parts:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - letters)
    inputs = []
    for parts, shape in zip(parsed, shapes):
        labels: list[int] = []
        for part in parts:
            if part is Ellipsis:
                covered = len(shape) - (len(parts) - 1)
                labels += range(_ELLIPSIS + ellipsis_ndim - covered, _ELLIPSIS + ellipsis_ndim)
            else:
                labels.append(part)
        inputs.append(labels)
    sizes = _check_sizes(equation, inputs, shapes)
    if arrow:
        output = _parse_term(equation, rhs, len(lhs) + 2, "the output")
        labels = []
        for part in output:
            if part is Ellipsis:
                labels += range(_ELLIPSIS, _ELLIPSIS + ellipsis_ndim)
                continue
            letter = _LETTERS[part]
            if part in labels:
                raise EinsumError(f"einsum: output subscript {letter} appears more than once in "
                                  f"{equation!r}")
            if part not in sizes:
                raise EinsumError(f"einsum: output subscript {letter} of {equation!r} appears in "
                                  f"no operand")
            labels.append(part)
        output = labels
    else:  # the ellipsis' axes, then the letters used once, in ASCII order (as torch, numpy)
        counts: dict[int, int] = {}
        for labels in inputs:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        output = list(range(_ELLIPSIS, _ELLIPSIS + ellipsis_ndim)) + sorted(
            label for label, count in counts.items() if count == 1 and label < _ELLIPSIS)
    # a size-1 axis against a larger size: a label of its own, summed over one value
    private = _ELLIPSIS + ellipsis_ndim
    for labels, shape in zip(inputs, shapes):
        renamed: dict[int, int] = {}
        for i, (label, n) in enumerate(zip(labels, shape)):
            if n == 1 and sizes[label] != 1:
                if label not in renamed:
                    renamed[label], private = private, private + 1
                labels[i] = renamed[label]
    return inputs, output


def _label_name(label: int) -> str:
    if label < _ELLIPSIS:
        return f"subscript {_LETTERS[label]}"
    return "an axis of the ellipsis"


def _check_sizes(equation, inputs, shapes) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for k, (labels, shape) in enumerate(zip(inputs, shapes)):
        own: dict[int, int] = {}
        for label, n in zip(labels, shape):
            if own.setdefault(label, n) != n:
                raise EinsumError(f"einsum: {_label_name(label)} is repeated in operand {k} "
                                  f"with sizes {own[label]} and {n}, which must match "
                                  f"({equation!r}, shape {shape})")
        for label, n in own.items():
            seen = sizes.setdefault(label, n)
            if seen != n and 1 not in (seen, n):
                raise EinsumError(f"einsum: {_label_name(label)} has size {n} in operand {k} "
                                  f"but {seen} before, which cannot be broadcast ({equation!r}, "
                                  f"shapes {[tuple(s) for s in shapes]})")
            sizes[label] = seen if n == 1 else n  # 1 broadcasts (to 0 too)
    return sizes


def _from_sublists(args) -> tuple[str, list]:
    """torch's other form einsum(x, [0, 1], y, [1, 2], [0, 2]) -> ('ab,bc->ac', [x, y])."""
    def term(sublist) -> str:
        if not isinstance(sublist, (list, tuple)):
            raise TypeError(f"einsum: expected a list of subscripts after each operand, got "
                            f"{sublist!r}")
        out = ""
        for s in sublist:
            if s is Ellipsis:
                out += "..."
            elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) \
                    and 0 <= s < len(_LETTERS):
                out += _LETTERS[s]
            else:
                if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
                    raise ValueError(f"einsum: sublist subscripts must be integers in [0, 52), "
                                     f"got {s}")
                raise TypeError(f"einsum: sublist subscripts must be integers or Ellipsis, got "
                                f"{s!r}")
        return out
    operands = list(args[0::2][:len(args) // 2])
    terms = [term(s) for s in args[1::2][:len(args) // 2]]
    equation = ",".join(terms)
    if len(args) % 2:
        equation += "->" + term(args[-1])
    return equation, operands


def _shape_of(x) -> tuple[int, ...]:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def einsum(equation, *operands) -> Tensor:
    """torch.einsum: ``einsum('bij,bjk->bik', a, b)``; operands also as one list, or in torch's
    sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``. Subscripts are letters; ``...``
    stands for the (broadcast) leading axes; without ``->`` the output is the ellipsis' axes and
    then the letters used once, in ASCII order; a letter repeated in one operand takes its
    diagonal ('ii->i'); size-1 axes broadcast. Contracted as batched matmuls."""
    if not isinstance(equation, str):
        equation, operands = _from_sublists((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: at least one operand is needed")
    for k, x in enumerate(operands):
        if not isinstance(x, Tensor):  # as torch: no lists, numbers or arrays
            raise TypeError(f"einsum: expected Tensor as operand {k}, got {type(x).__name__}")
    shapes = [_shape_of(x) for x in operands]
    inputs, output = _parse(equation, shapes)
    contracts = _contracts(inputs, output, shapes)
    if all(getattr(x, "dtype", None) == np.bool_ for x in operands) and contracts:
        # torch sums such products with bmm, which has no bool kernel
        raise NotImplementedError(f"einsum: {equation!r} sums products of bool tensors, which "
                                  f"torch does not implement")
    if contracts:  # torch's bmm then: one dtype (after autocast's cast)
        if _autocast.active:
            operands = _autocast_operands(operands)
        first = operands[0].dtype
        other = next((x.dtype for x in operands if x.dtype != first), None)
        if other is not None:
            raise RuntimeError(f"expected scalar type {_torch_name(np.dtype(first))} but found "
                               f"{_torch_name(np.dtype(other))}")
    return Einsum(equation, inputs, output)(*operands)


def _contracts(inputs: list[list[int]], output: list[int], shapes: list) -> bool:
    """Whether a label is summed between two operands, of a size other than 1 in both: torch's
    einsum then runs a bmm, which autocast casts ('ij,j->i' is, 'i,i->i' and 'ij->i' are not,
    nor 'ij,jk->ik' with j of size 1: torch multiplies then)."""
    seen: set[int] = set()
    for labels, shape in zip(inputs, shapes):
        sized = {label for label, n in zip(labels, shape) if n != 1}
        if any(label in seen and label not in output for label in sized):
            return True
        seen.update(sized)
    return False


def _autocast_operands(operands):
    state = _autocast.thread_state()
    if not state.enabled or state.inside:
        return operands
    return _autocast.cast_values(LOWER, tuple(operands), state)


# ------------------------------------------------------------------ named products
def _check_ndim(name: str, what: str, x, ndim: int) -> tuple[int, ...]:
    shape = _shape_of(x)
    if len(shape) != ndim:
        raise ShapeError(f"{name}: expected {what} to be {ndim}-D, got shape {shape}")
    return shape


def _matrix_times(name: str, matrix: Tensor, what: str, other: Tensor, ndim: int) -> Tensor:
    """matrix (n, m) @ other (m, ...) of ``ndim`` axes, both checked (mm, mv)."""
    a = _check_ndim(name, "input", matrix, 2)
    b = _check_ndim(name, what, other, ndim)
    if a[1] != b[0]:
        raise ShapeError(f"{name}: shapes {a} and {b} cannot be multiplied ({a[1]} != {b[0]})")
    return matmul(matrix, other)


def mm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.mm: (n, m) @ (m, p) -> (n, p); exactly 2-D (no broadcasting: use matmul)."""
    return _matrix_times("mm", input, "mat2", mat2, 2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.bmm: (b, n, m) @ (b, m, p) -> (b, n, p); exactly 3-D, equal batch sizes."""
    a = _check_ndim("bmm", "input", input, 3)
    b = _check_ndim("bmm", "mat2", mat2, 3)
    if a[0] != b[0] or a[2] != b[1]:
        raise ShapeError(f"bmm: expected input (b, n, m) and mat2 (b, m, p), got {a} and {b}")
    return named(matmul(input, mat2), "BmmBackward0")


@autocast_policy(KEEP)  # off torch's CPU autocast list (matmul is on it)
def mv(input: Tensor, vec: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.mv: (n, m) @ (m,) -> (n,)."""
    return _matrix_times("mv", input, "vec", vec, 1)


@autocast_policy(KEEP)  # off torch's CPU autocast list
def dot(input: Tensor, tensor: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.dot: the inner product of two 1-D tensors of one length -> a scalar."""
    from dlpy.ops.pointwise import _tensors

    _tensors("dot", input, tensor)
    return vector_dot("dot", input, "tensor", tensor)


def vector_dot(name: str, input: Tensor, other_name: str, other: Tensor) -> Tensor:  # noqa: A002
    """dot and vdot: two 1-D tensors of one length -> their inner product, a scalar."""
    a = _check_ndim(name, "input", input, 1)
    b = _check_ndim(name, other_name, other, 1)
    if a != b:
        raise ShapeError(f"{name}: expected two vectors of one length, got {a} and {b}")
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.outer: (n,) and (m,) -> (n, m), y[i, j] = input[i] * vec2[j]."""
    from dlpy.ops.pointwise import _tensors

    _tensors("outer", input, vec2)
    a = _check_ndim("outer", "input", input, 1)
    b = _check_ndim("outer", "vec2", vec2, 1)
    return mul(reshape(input, (a[0], 1)), reshape(vec2, (1, b[0])))


def _dims_list(name: str, dims, ndim: int) -> list[int]:
    if not isinstance(dims, (list, tuple)):  # torch's binding takes int lists only
        raise TypeError(f"{name}: expected dims as two lists of axes, got "
                        f"{type(dims).__name__} {dims!r} in place of a list")
    return [check_dim(name, d, ndim) for d in dims]


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """torch.tensordot: dims an int n (a's last n axes with b's first n) or two lists of axes
    ``([1, 0], [0, 1])``; the result has a's free axes, then b's. An einsum."""
    a_shape, b_shape = _shape_of(a), _shape_of(b)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        raise RuntimeError("both inputs should have same dtype")  # torch's (it promotes none)
    if isinstance(a, Tensor) and a.dtype == np.bool_:  # torch's mm has no bool kernel
        raise NoKernelError("tensordot: \"addmm_impl_cpu_\" not implemented for 'Bool'")
    if isinstance(dims, Tensor):  # torch's: a 0-d count, or a (2, n) table of axes
        dims = dims.data.item() if dims.ndim == 0 else dims.data.tolist()
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        most = min(len(a_shape), len(b_shape))
        if not 0 <= dims <= most:
            raise ArgError(f"tensordot: dims ({dims}) must lie in [0, {most}] for shapes "
                           f"{a_shape} and {b_shape}")
        a_dims = list(range(len(a_shape) - dims, len(a_shape)))
        b_dims = list(range(dims))
    elif isinstance(dims, (list, tuple)) and len(dims) == 2:
        a_dims = _dims_list("tensordot", dims[0], len(a_shape))
        b_dims = _dims_list("tensordot", dims[1], len(b_shape))
    else:
        raise TensordotDimsError(f"tensordot: dims must be an int or two lists of axes, got "
                                 f"{dims!r}")
    if len(a_dims) != len(b_dims):
        raise ArgError(f"tensordot: a and b need as many contracted axes, got {a_dims} and "
                       f"{b_dims}")
    if len(set(a_dims)) < len(a_dims) or len(set(b_dims)) < len(b_dims):
        raise ArgError(f"tensordot: an axis is contracted twice, got {a_dims} and {b_dims}")
    for i, j in zip(a_dims, b_dims):
        if a_shape[i] != b_shape[j]:
            raise ShapeError(f"tensordot: contracted axes must match, got size {a_shape[i]} "
                             f"(axis {i} of {a_shape}) and {b_shape[j]} (axis {j} of {b_shape})")
    if len(a_shape) + len(b_shape) > len(_LETTERS):
        raise ValueError("tensordot: too many axes for einsum's 52 subscripts")
    a_labels = list(_LETTERS[:len(a_shape)])
    b_labels = list(_LETTERS[len(a_shape):len(a_shape) + len(b_shape)])
    for i, j in zip(a_dims, b_dims):
        b_labels[j] = a_labels[i]
    out = [x for i, x in enumerate(a_labels) if i not in a_dims] + \
          [x for j, x in enumerate(b_labels) if j not in b_dims]
    # under autocast as torch's: a product through mm (cast), a full contraction not
    contract = _einsum_kept if not out else _einsum_lowered
    equation = f"{''.join(a_labels)},{''.join(b_labels)}->{''.join(out)}"
    return named(contract(equation, a, b), "ViewBackward0")  # torch's node: a view of an mm


@autocast_policy(KEEP)
def _einsum_kept(equation: str, a, b) -> Tensor:
    return einsum(equation, a, b)


@autocast_policy(LOWER)
def _einsum_lowered(equation: str, a, b) -> Tensor:
    return einsum(equation, a, b)


def _scaled_sum(name: str, input, product: Tensor, beta, alpha, *,  # noqa: A002
                blas: bool = False) -> Tensor:
    """beta * input + alpha * product, with input broadcast to product's shape; beta 0 ignores
    input (its NaN and inf too; its gradient is 0), as torch. An integer product takes the
    scalars as ints (torch converts them to its dtype); a 0-d tensor not requiring grad is a
    number, as torch's binding. ``blas``: torch's BLAS-backed kernels (addmm, addmv, addbmm),
    where alpha 0 ignores the product (NaN and inf in the operands too), as gemm/gemv."""
    complex_product = product.dtype.kind == "c"
    scalars = []
    for what, value in (("beta", beta), ("alpha", alpha)):
        if isinstance(value, Tensor) and value.ndim == 0 and not value.requires_grad:
            value = value.data.item()  # torch's Number arguments take such a tensor
        if not isinstance(value, (int, float, np.integer, np.floating)) and not (
                complex_product and isinstance(value, (complex, np.complexfloating))):
            raise ArgDtypeError(f"{name}: {what} must be a number (complex ones for complex "
                                f"tensors only), got {value!r}")  # True is 1, as torch
        scalars.append(value)
    beta, alpha = scalars
    shape = _shape_of(input)
    try:
        if np.broadcast_shapes(shape, product.shape) != product.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{name}: input of shape {tuple(shape)} does not broadcast to the "
                         f"product's shape {tuple(product.shape)}") from None
    # the scalars in the result's kind (a bool product, addr's: as bools; addr of a float
    # input and bool or int vectors: as floats), as torch converts them to its dtype
    from dlpy.ops.promotion import promote_types

    result = promote_types(input.data.dtype, product.dtype) if isinstance(input, Tensor) \
        else product.dtype  # (addr: the input's dtype counts, a 0-d one too, as torch's)
    kind = result.kind
    number = bool if kind == "b" else int if kind in "iu" else complex if kind == "c" \
        else float
    for what, value in (("beta", beta), ("alpha", alpha)):
        if kind in "iu" and isinstance(value, (float, np.floating)) and np.isfinite(value) \
                and not np.iinfo(result).min <= int(value) <= np.iinfo(result).max:
            raise ArgError(f"{name}: {what} {value} cannot be converted to type "
                           f"{np.dtype(result).name} without overflow")  # (torch's)
    alpha, beta = number(alpha), number(beta)
    if alpha == 0 and blas:  # a zero value and gradient, whatever the product holds
        from dlpy.ops.mask import where

        product = where(np.zeros(product.shape, dtype=bool), product, 0)
    elif alpha != 1:
        product = mul(product, alpha)
    if beta == 0:
        if isinstance(input, Tensor) and input.requires_grad:  # a zero gradient, as torch's
            from dlpy.ops.mask import where

            product = add(product, where(np.zeros(shape, dtype=bool), input, 0))
        return product if product.dtype == result else product.to(result)  # (input's dtype
    summed = add(input if beta == 1 else mul(input, beta), product)  # counts, as torch's)
    return summed if summed.dtype == result else summed.to(result)


@autocast_policy(LOWER)
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """torch.addmm: beta * input + alpha * (mat1 @ mat2), mat1 (n, m), mat2 (m, p), input
    broadcast to (n, p)."""
    refuse_other_self("addmm", input, mat1, mat2)
    low = _shared_low_precision(input, mat1, mat2)
    if low is not None:  # float16/bfloat16: all in float32, rounded once, as torch's kernel
        input, mat1, mat2 = (cast(t, np.float32) for t in (input, mat1, mat2))
        return named(cast(_scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha, blas=True),
                          low),
                     "AddmmBackward0")
    return named(_scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha, blas=True),
                 "AddmmBackward0")


def refuse_other_self(name: str, input, a, b) -> None:  # noqa: A002 - PyTorch's names
    """torch's refusal of an ``input`` (the added tensor) of a dtype other than the product's
    (addmm, addbmm, addmv, baddbmm promote none); the product's own operands are mm's."""
    if not (isinstance(input, Tensor) and isinstance(a, Tensor) and isinstance(b, Tensor)):
        return
    dtypes = input.data.dtype, a.data.dtype, b.data.dtype
    if dtypes[0] == dtypes[2] and (name != "addmv" or dtypes[0] == dtypes[1]):
        return
    if name == "addmv":
        raise RuntimeError("addmv input tensors must have the same dtype, but got "
                           f"{_torch_name(dtypes[0])}, {_torch_name(dtypes[1])}, and "
                           f"{_torch_name(dtypes[2])}")
    if name == "baddbmm":
        raise RuntimeError(f"Input dtypes must be the same, got: input {_c_name(dtypes[0])}, "
                           f"batch1: {_c_name(dtypes[1])}, batch2: {_c_name(dtypes[2])}")
    raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                       f"{_torch_name(dtypes[0])} and {_torch_name(dtypes[2])}")


def _shared_low_precision(*values):
    """The float16/bfloat16 dtype all ``values`` (tensors) share, else None."""
    first = values[0]
    if not isinstance(first, Tensor) or first.data.dtype.itemsize != 2:
        return None
    dtype = first.data.dtype
    if dtype.kind not in "fV" or not all(isinstance(v, Tensor) and v.data.dtype == dtype
                                         for v in values):
        return None
    return dtype


@autocast_policy(LOWER)
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1,  # noqa: A002
            alpha=1) -> Tensor:
    """torch.baddbmm: beta * input + alpha * bmm(batch1, batch2), input broadcast to
    (b, n, p)."""
    refuse_other_self("baddbmm", input, batch1, batch2)
    low = _shared_low_precision(input, batch1, batch2)
    if low is not None:  # float16/bfloat16: all in float32, rounded once, as torch's kernel
        input, batch1, batch2 = (cast(t, np.float32) for t in (input, batch1, batch2))
        return named(cast(_scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha), low),
                     "BaddbmmBackward0")
    return named(_scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha),
                 "BaddbmmBackward0")


def kron(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002 - PyTorch's names
    """torch.kron: the Kronecker product; the tensor with fewer axes gets leading 1s; the result
    has shape a.shape * b.shape, y[i*q + k, j*r + l] = a[i, j] b[k, l] (2-D)."""
    for name, value in (("input", input), ("other", other)):
        if isinstance(value, (numbers.Number, list, tuple)):
            raise TypeError(f"kron: {name} must be a Tensor, got {type(value).__name__}")
    a_shape, b_shape = _shape_of(input), _shape_of(other)
    ndim = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    b_shape = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    a = reshape(input, [n for m in a_shape for n in (m, 1)])  # (a0, 1, a1, 1, ...)
    b = reshape(other, [n for m in b_shape for n in (1, m)])  # (1, b0, 1, b1, ...)
    return named(reshape(mul(a, b), [m * n for m, n in zip(a_shape, b_shape)]),
                 "UnsafeViewBackward0")

