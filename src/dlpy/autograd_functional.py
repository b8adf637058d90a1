"""``torch.autograd.functional`` as dlpy spells it (``dlpy.autograd.functional``): Jacobians,
Hessians and the products with them, in torch's signatures and layouts.

    J = dlpy.autograd.functional.jacobian(lambda x: F.softmax(x), x)   # (5, 5)
    y, vjp = dlpy.autograd.functional.vjp(f, (x, w), v)
    H = dlpy.autograd.functional.hessian(lambda w: loss(w), w)         # w.shape + w.shape

The inputs are copied into fresh leaves that need gradients (the caller's tensors are never
touched, and need not require gradients); the results are constants. With
``create_graph=True`` an input that requires gradients enters through a recorded identity
instead, and the results are Tensors with a graph back to it (as torch). ``jacobian`` runs one
backward pass per output element (a row of the Jacobian each), over one recorded graph, or
with ``vectorize=True`` one batched pass for all of them (torch's vmap over the basis);
``jvp`` and ``hvp`` use the double-backward trick, as torch: the gradient of a vector-Jacobian
product with respect to its (zero) vector is the Jacobian-vector product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlpy import func_batching as _batching
from dlpy.ops import ArgAssertionError
from dlpy.ops.arithmetic import identity
from dlpy.ops.shape import stack
from dlpy.tensor import (
    AutogradError,
    Tensor,
    _backpropagate,
    _check_grad_output,
    _graph_grad,
    enable_grad,
    is_floating_dtype,
)

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _as_tuple(name: str, what: str, values) -> tuple[bool, tuple[Tensor, ...]]:
    """(was it a tuple?, the tensors). A list is refused, for the inputs and for func's
    outputs alike (torch's TypeError)."""
    if isinstance(values, list):
        raise TypeError(f"{name}: {what} must be a Tensor or a tuple of Tensors, got a list")
    is_tuple = isinstance(values, tuple)
    values = tuple(values) if is_tuple else (values,)
    for i, t in enumerate(values):
        if not isinstance(t, Tensor):
            where = f"{what}[{i}]" if is_tuple else what
            raise TypeError(f"{name}: {where} must be a dlpy Tensor (or give a tuple of "
                            f"Tensors), got {type(t).__name__}")
    return is_tuple, values


def _leaves(name: str, inputs: tuple[Tensor, ...], create_graph: bool) -> tuple[Tensor, ...]:
    """Fresh tensors for func to be differentiated at; with create_graph an input that requires
    gradients comes through a recorded identity, so the results depend on it (torch's
    _grad_preprocess)."""
    for i, t in enumerate(inputs):
        if not (is_floating_dtype(t.dtype) or t.dtype.kind == "c"):
            raise RuntimeError(f"{name}: input {i} has dtype {t.dtype}; only floating point "
                               "or complex inputs can be differentiated")  # torch's class
        if t.dtype.kind == "c" and name in ("jacrev", "jacfwd"):  # torch.func: real only
            raise RuntimeError(f"{name}: Expected all inputs to be real but received complex "
                               f"tensor at flattened input idx: {i}")
    with enable_grad():
        return tuple(identity(t) if create_graph and t.requires_grad
                     else Tensor(t.data, requires_grad=True) for t in inputs)


def _grad(outputs, vectors, wrt: tuple[Tensor, ...], create_graph: bool
          ) -> list[Tensor | None]:
    """d(sum_i outputs[i] . vectors[i]) / d(t) for each t in ``wrt``: constant Tensors, or with
    create_graph Tensors with a graph; None where t was not used. An output that is None or
    needs no gradients is left out; the graph is kept for the next pass."""
    roots = [(o, v) for o, v in zip(outputs, vectors) if o is not None and o.requires_grad]
    if not roots:
        return [None] * len(wrt)
    vectors = [_graph_grad(v, o.dtype) if create_graph
               else np.asarray(v.data if isinstance(v, Tensor) else v, dtype=o.dtype)
               for o, v in roots]
    captured = _backpropagate([o for o, _ in roots], vectors, True,
                              capture={id(t) for t in wrt}, create_graph=create_graph)
    grads = [captured.get(id(t)) for t in wrt]
    if create_graph:
        return grads
    return [g if g is None else Tensor(_dense(g, t)) for g, t in zip(grads, wrt)]


def _dense(grad, leaf: Tensor) -> np.ndarray:
    if grad is None:
        return np.zeros(leaf.shape, dtype=leaf.dtype)
    if hasattr(grad, "dense"):  # a SparseGrad
        grad = grad.dense()
    return np.array(grad, dtype=leaf.dtype)


def _filled(name: str, grads, refs, strict: bool, create_graph: bool, what: str
            ) -> tuple[Tensor, ...]:
    """Zeros (constants) for the gradients that are None; with ``strict`` that is an error, and
    so, with create_graph, is a gradient that does not depend on the inputs (torch's
    _fill_in_zeros)."""
    out = []
    for j, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise AutogradError(f"{name}: the {what} does not depend on input {j}, which "
                                    "strict=True does not allow")
            g = Tensor(np.zeros(ref.shape, dtype=ref.dtype))
        elif strict and create_graph and not g.requires_grad:
            raise AutogradError(f"{name}: the {what} with respect to input {j} does not depend on "
                                "the inputs, which strict=True with create_graph=True does not "
                                "allow")
        out.append(g)
    return tuple(out)


def _independent(name: str, i: int, j: int) -> AutogradError:
    return AutogradError(f"{name}: output {i} of the function does not depend on input {j}, which "
                         "strict=True does not allow")


def _vectors(name: str, v, refs: tuple[Tensor, ...], refs_tuple: bool, what: str,
             create_graph: bool) -> tuple:
    """v checked against ``refs`` (the outputs for vjp, the inputs for jvp/hvp/vhp): one array
    per ref of its shape; a Tensor that requires gradients stays one under create_graph (the
    results then depend on it). v may be left out for one one-element ref."""
    if v is None:
        if len(refs) != 1 or refs[0].data.size != 1:
            raise AutogradError(f"{name}: v can be left out only when {what} a single "
                                f"one-element Tensor, got shapes {[tuple(r.shape) for r in refs]}")
        _implicit_seed(refs[0])  # the ones are a gradient (of the output, or of a first
        # backward's result of the input's dtype): torch refuses them for a complex one
        return (np.ones_like(refs[0].data),)
    if isinstance(v, list):
        raise TypeError(f"{name}: v must be a Tensor or a tuple of Tensors, got a list")
    vs = tuple(v) if isinstance(v, (tuple, list)) and refs_tuple else (v,)
    if len(vs) != len(refs):
        raise AutogradError(f"{name}: {len(vs)} vectors v for {len(refs)} "
                            f"{'outputs' if 'returns' in what else 'inputs'}")
    out = []
    for i, (x, r) in enumerate(zip(vs, refs)):
        if "returns" in what and isinstance(x, (Tensor, np.ndarray)):  # an output's gradient:
            _check_grad_output(name, x, r.dtype, i)  # complex exactly when the output is
        array = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=r.dtype)
        if array.shape != r.shape:
            kind = "output" if "returns" in what else "input"
            raise AutogradError(f"{name}: v[{i}] has shape {array.shape}, {kind} {i} has shape "
                                f"{r.shape}")
        keep = create_graph and isinstance(x, Tensor) and x.requires_grad
        out.append(x if keep else array)
    return tuple(out)


def _results(values: tuple[Tensor, ...], create_graph: bool) -> tuple[Tensor, ...]:
    """The function's outputs as returned: constants unless create_graph (torch's
    _grad_postprocess)."""
    return values if create_graph else tuple(Tensor(o.data) for o in values)


def _call(name: str, func: Callable, leaves: tuple[Tensor, ...]):
    with enable_grad():
        result = func(*leaves)
    return _as_tuple(name, "the output of func", result)


def _scalar_output(name: str, func: Callable, leaves: tuple[Tensor, ...]) -> Tensor:
    """func's output, which must be a single Tensor with one element (hessian, vhp, hvp); what
    is not a Tensor nor a tuple of Tensors is a TypeError, as torch's."""
    with enable_grad():
        out = func(*leaves)
    _as_tuple(name, "the output of func", out)
    if not isinstance(out, Tensor) or out.data.size != 1:
        got = (f"shape {out.shape}" if isinstance(out, Tensor) else type(out).__name__)
        raise AutogradError(f"{name}: func must return a single Tensor with one element, got "
                            f"{got}")
    _implicit_seed(out)
    return out


def _implicit_seed(out: Tensor) -> None:
    """torch's refusal to seed a complex output with an implicit gradient of ones (jacobian's
    rows, hessian, vhp, hvp differentiate their outputs so)."""
    if out.dtype.kind == "c":
        raise RuntimeError("grad can be implicitly created only for real scalar outputs but got "
                           f"torch.{out.dtype}")


def _check_strategy(name: str, what: str, strategy: str, vectorize: bool) -> None:
    """torch's rules for ``strategy``: 'forward-mode' only with vectorize=True. Both give the
    same Jacobian; dlpy computes it by reverse mode either way."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ArgAssertionError(f"{name}: {what} must be 'forward-mode' or 'reverse-mode', "
                                f"got {strategy!r}")
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError(f"{name}: {what}='forward-mode' is only implemented for "
                                  "vectorize=True (as torch's)")


def _forward_jacobian(name: str, func: Callable, inputs, create_graph: bool, strict: bool,
                      vectorize: bool):
    """strategy='forward-mode': the columns by forward-mode AD (torch.func.jacfwd), so an
    autograd.Function's jvp is what runs, as torch's; the layout as the reverse mode's, but in
    torch's containers: for tuple inputs a list per output (and a list of them for tuple
    outputs), for one input a tuple over tuple outputs. create_graph, then strict, then
    vectorize are refused in torch's order."""
    from dlpy.func import jacfwd
    if create_graph:
        raise NotImplementedError(f"{name}: create_graph=True and strategy='forward-mode' are "
                                  "not supported together (as torch's)")
    if strict:
        raise RuntimeError(f"{name}: strict=True and strategy='forward-mode' are not supported "
                           "together (as torch's)")
    _check_strategy(name, "strategy", "forward-mode", vectorize)
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    outputs_tuple = False

    def outputs(*xs):
        nonlocal outputs_tuple
        outputs_tuple, outs = _as_tuple(name, "outputs of the user-provided function",
                                        func(*xs))
        return outs

    cols = jacfwd(outputs, argnums=tuple(range(len(inputs))))(*inputs)
    blocks = [Tensor(np.array(block.data)) for row in cols for block in row]
    rows = [blocks[i * len(inputs):(i + 1) * len(inputs)] for i in range(len(cols))]
    if not inputs_tuple:
        rows = tuple(row[0] for row in rows)
    return rows if outputs_tuple else rows[0]


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, in torch's layout: for an output of shape O
    and an input of shape I a Tensor of shape O + I; a tuple over the inputs when
    ``inputs`` is a tuple, over the outputs when ``func`` returns a tuple (a tuple of tuples
    for both). An output that does not depend on an input gives zeros (an error with
    ``strict=True``). ``create_graph``: the Jacobian can be differentiated again (a Hessian).
    ``vectorize``: all the rows of an output in one backward pass with a batched cotangent (the
    basis), as torch's (``func_batching.jacobian_rows``); one pass per row without it, with
    ``strict``, or where a backward cannot be batched."""
    name = "jacobian"
    if strategy == "forward-mode":  # (its checks in torch's order)
        return _forward_jacobian(name, func, inputs, create_graph, strict, vectorize)
    _check_strategy(name, "strategy", strategy, vectorize)
    if strict and vectorize:
        raise AutogradError(f"{name}: strict=True and vectorize=True are not supported together "
                            "(as torch's); set one of them to False")
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    leaves = _leaves(name, inputs, create_graph)
    outputs_tuple, outputs = _call(name, func, leaves)
    blocks = []
    for i, out in enumerate(outputs):
        stacked = _batching.jacobian_rows(out, list(leaves)) if vectorize and not strict \
            else None
        if stacked is not None:
            block = tuple(_batching.jacobian_block(g, out, leaf, create_graph)
                          for g, leaf in zip(stacked, leaves))
            blocks.append(block if inputs_tuple else block[0])
            continue
        if out.data.size and not vectorize:  # (torch's vectorized rows are vjps of given
            _implicit_seed(out)  # one-hot vectors: a complex output is no refusal there)
        rows: list[list[Tensor]] = [[] for _ in leaves]
        used = [False] * len(leaves)
        seed = np.zeros(out.data.size, dtype=out.dtype)
        for k in range(out.data.size):
            seed[k] = 1
            grads = _grad([out], [seed.reshape(out.shape).copy()], leaves, create_graph)
            seed[k] = 0
            for j, g in enumerate(grads):
                used[j] |= g is not None
            for j, g in enumerate(_filled(name, grads, leaves, False, False, "")):
                if strict and create_graph and grads[j] is not None and not g.requires_grad:
                    raise AutogradError(f"{name}: the Jacobian with respect to input {j} does not "
                                        "depend on the inputs, which strict=True with "
                                        "create_graph=True does not allow")
                rows[j].append(g)
        if strict:
            for j, u in enumerate(used):
                if not u:
                    raise _independent(name, i, j)
        block = []
        for j, leaf in enumerate(leaves):
            if not rows[j]:  # an output with no elements
                block.append(Tensor(np.zeros(out.shape + leaf.shape, dtype=leaf.dtype)))
            elif create_graph:
                block.append(stack(rows[j]).reshape(out.shape + leaf.shape))
            else:
                block.append(Tensor(np.stack([r.data for r in rows[j]])
                                    .reshape(out.shape + leaf.shape)))
        blocks.append(tuple(block) if inputs_tuple else block[0])
    return tuple(blocks) if outputs_tuple else blocks[0]


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of ``func`` (which returns one one-element Tensor) at ``inputs``, as
    torch's: the Jacobian of its gradient. For inputs of shapes I a Tensor of shape I + I, or
    for a tuple of inputs a tuple of tuples, block [i][j] of shape I_i + I_j (a list of lists
    with outer_jacobian_strategy='forward-mode', torch's containers for that strategy, whose
    refusals of create_graph and strict it shares, as the outer Jacobian's)."""
    name = "hessian"
    forward = outer_jacobian_strategy == "forward-mode"
    if forward and create_graph:
        raise NotImplementedError(f"{name}: create_graph=True and outer_jacobian_strategy="
                                  "'forward-mode' are not supported together (as torch's)")
    if forward and strict:
        raise RuntimeError(f"{name}: strict=True and outer_jacobian_strategy='forward-mode' are "
                           "not supported together (as torch's)")
    _check_strategy(name, "outer_jacobian_strategy", outer_jacobian_strategy, vectorize)
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)

    def gradient(*leaves):
        def value(*xs):
            return _scalar_output(name, func, xs).reshape(())

        jac = jacobian(value, leaves, create_graph=True)
        if strict:
            for j, g in enumerate(jac):
                if not g.requires_grad:
                    raise AutogradError(f"{name}: the gradient of the function with respect to "
                                        f"input {j} does not depend on the inputs (a linear "
                                        "function?), which strict=True does not allow")
        return jac

    result = jacobian(gradient, inputs, create_graph=create_graph, strict=strict,
                      vectorize=vectorize)
    if not inputs_tuple:
        return result[0][0]
    return [list(row) for row in result] if forward else result


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), v^T J)``: the outputs and the vector-Jacobian product for each input
    (a tuple when ``inputs`` is a tuple, zeros for an input the outputs do not depend on).
    ``v`` has the outputs' shapes (one per output for a tuple); it may be left out when func
    returns a one-element tensor."""
    name = "vjp"
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    leaves = _leaves(name, inputs, create_graph)
    outputs_tuple, outputs = _call(name, func, leaves)
    if strict:  # torch's check: every output computed from the inputs
        for i, out in enumerate(outputs):
            if not out.requires_grad:
                raise AutogradError(f"{name}: output {i} of the function does not require "
                                    "gradients; with strict=True every output must be "
                                    "computed in a differentiable manner from the inputs")
    vs = _vectors(name, v, outputs, outputs_tuple, "func returns", create_graph)
    totals = _grad(outputs, vs, leaves, create_graph)
    if strict:
        for j, g in enumerate(totals):
            if g is None:
                raise _independent(name, 0, j)
    products = _filled(name, totals, leaves, strict, create_graph, "vector-Jacobian product")
    values = _results(outputs, create_graph)
    return (values if outputs_tuple else values[0],
            products if inputs_tuple else products[0])


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), J v)``: the outputs and the Jacobian-vector product for each output
    (a tuple when func returns a tuple), by the double-backward trick as torch: J v is the
    gradient of u -> J^T u (linear in u) with respect to u, taken at u = 0. ``v`` has the
    inputs' shapes; it may be left out for one one-element input."""
    name = "jvp"
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    leaves = _leaves(name, inputs, create_graph)
    vs = _vectors(name, v, inputs, inputs_tuple, "the input is", create_graph)
    outputs_tuple, outputs = _call(name, func, leaves)
    us = tuple(Tensor(np.zeros_like(o.data), requires_grad=True) for o in outputs)
    vector_jacobian = _grad(outputs, us, leaves, True)  # J^T u, recorded
    if strict:
        for j, g in enumerate(vector_jacobian):
            if g is None:
                raise _independent(name, 0, j)
    products = _grad(vector_jacobian, vs, us, create_graph)
    products = _filled(name, products, outputs, strict, create_graph,
                       "Jacobian-vector product")
    values = _results(outputs, create_graph)
    return (values if outputs_tuple else values[0],
            products if outputs_tuple else products[0])


def _gradient_of_scalar(name: str, func: Callable, inputs, v, create_graph: bool, strict: bool):
    """(inputs_tuple, leaves, the output, its gradient recorded, v checked): what vhp and hvp
    share."""
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    leaves = _leaves(name, inputs, create_graph)
    vs = _vectors(name, v, inputs, inputs_tuple, "the input is", create_graph)
    out = _scalar_output(name, func, leaves)
    jac = _grad([out], [np.ones_like(out.data)], leaves, True)
    if strict:
        for j, g in enumerate(jac):
            if g is None:
                raise _independent(name, 0, j)
            if not g.requires_grad:
                raise AutogradError(f"{name}: the gradient of the function with respect to input "
                                    f"{j} does not depend on the inputs (a linear function?), "
                                    "which strict=True does not allow")
    return inputs_tuple, leaves, out, jac, vs


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), v^T H)`` for a func that returns one one-element Tensor: the
    gradient of (gradient . v). A tuple of products when ``inputs`` is a tuple."""
    name = "vhp"
    inputs_tuple, leaves, out, jac, vs = _gradient_of_scalar(name, func, inputs, v,
                                                             create_graph, strict)
    products = _filled(name, _grad(jac, vs, leaves, create_graph), leaves, strict,
                       create_graph, "vector-Hessian product")
    return (_results((out,), create_graph)[0],
            products if inputs_tuple else products[0])


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), H v)`` for a func that returns one one-element Tensor, by the
    double-backward trick as torch (H v = the gradient of u -> H u . 1 with respect to u,
    H^T u being the gradient of (gradient . u)). Equal to vhp where H is symmetric."""
    name = "hvp"
    inputs_tuple, leaves, out, jac, vs = _gradient_of_scalar(name, func, inputs, v,
                                                             create_graph, strict)
    us = tuple(Tensor(np.zeros_like(t.data), requires_grad=True) for t in leaves)
    hessian_u = _grad(jac, us, leaves, True)  # H^T u, recorded
    products = _filled(name, _grad(hessian_u, vs, us, create_graph), leaves, strict,
                       create_graph, "Hessian-vector product")
    return (_results((out,), create_graph)[0],
            products if inputs_tuple else products[0])
