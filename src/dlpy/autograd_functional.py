"""``torch.autograd.functional`` as dlpy spells it (``dlpy.autograd.functional``): the
Jacobian of a function and its vector-Jacobian product, first order only.

    J = dlpy.autograd.functional.jacobian(lambda x: F.softmax(x), x)   # (5, 5)
    y, vjp = dlpy.autograd.functional.vjp(f, (x, w), v)

The inputs are copied into fresh leaves that need gradients (the caller's tensors are never
touched, and need not require gradients); the results are constants. ``jacobian`` runs one
backward pass per output element (a row of the Jacobian each), over one recorded graph.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlpy.tensor import Tensor, _backpropagate, enable_grad

__all__ = ["jacobian", "vjp"]


def _as_tuple(name: str, what: str, values) -> tuple[bool, tuple[Tensor, ...]]:
    """(was it a tuple?, the tensors)."""
    is_tuple = isinstance(values, (tuple, list))
    values = tuple(values) if is_tuple else (values,)
    for i, t in enumerate(values):
        if not isinstance(t, Tensor):
            where = f"{what}[{i}]" if is_tuple else what
            raise TypeError(f"{name}: {where} must be a dlpy Tensor (or give a tuple of "
                            f"Tensors), got {type(t).__name__}")
    return is_tuple, values


def _leaves(name: str, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    for i, t in enumerate(inputs):
        if t.dtype.kind != "f":
            raise TypeError(f"{name}: input {i} has dtype {t.dtype}; only floating point "
                            "inputs can be differentiated")
    return tuple(Tensor(t.data, requires_grad=True) for t in inputs)


def _check_options(name: str, create_graph: bool) -> None:
    if create_graph:
        raise NotImplementedError(f"{name}: create_graph=True (gradients of gradients) is not "
                                  "supported: dlpy's gradients are constants")


def _gradients(output: Tensor, grad_output: np.ndarray, leaves: tuple[Tensor, ...]
               ) -> list[np.ndarray | None]:
    """d(sum(output * grad_output))/d(leaf) for each leaf (None: it was not used); the
    graph is kept for the next pass."""
    if not output.requires_grad:
        return [None] * len(leaves)
    captured = _backpropagate([output], [grad_output], True, capture={id(t) for t in leaves})
    return [captured.get(id(t)) for t in leaves]


def _dense(grad, leaf: Tensor) -> np.ndarray:
    if grad is None:
        return np.zeros(leaf.shape, dtype=leaf.dtype)
    if hasattr(grad, "to_dense"):  # a SparseGrad
        grad = grad.to_dense()
    return np.array(grad, dtype=leaf.dtype)


def _independent(name: str, i: int, j: int) -> ValueError:
    return ValueError(f"{name}: output {i} of the function does not depend on input {j}, which "
                      "strict=True does not allow")


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, in torch's layout: for an output of shape O
    and an input of shape I a Tensor of shape O + I; a tuple over the inputs when
    ``inputs`` is a tuple, over the outputs when ``func`` returns a tuple (a tuple of tuples
    for both). An output that does not depend on an input gives zeros (an error with
    ``strict=True``). ``vectorize`` changes nothing here (rows are computed one by one)."""
    name = "jacobian"
    _check_options(name, create_graph)
    if strategy != "reverse-mode":
        raise NotImplementedError(f"{name}: only strategy='reverse-mode' is supported, got "
                                  f"{strategy!r}")
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    leaves = _leaves(name, inputs)
    with enable_grad():
        result = func(*leaves)
    outputs_tuple, outputs = _as_tuple(name, "the output of func", result)
    blocks = []
    for i, out in enumerate(outputs):
        rows: list[list[np.ndarray]] = [[] for _ in leaves]
        used = [False] * len(leaves)
        seed = np.zeros(out.data.size, dtype=out.dtype)
        for k in range(out.data.size):
            seed[k] = 1
            grads = _gradients(out, seed.reshape(out.shape), leaves)
            seed[k] = 0
            for j, (g, leaf) in enumerate(zip(grads, leaves)):
                used[j] |= g is not None
                rows[j].append(_dense(g, leaf))
        if strict:
            for j, u in enumerate(used):
                if not u:
                    raise _independent(name, i, j)
        block = []
        for j, leaf in enumerate(leaves):
            if rows[j]:
                array = np.stack(rows[j]).reshape(out.shape + leaf.shape)
            else:  # an output with no elements
                array = np.zeros(out.shape + leaf.shape, dtype=leaf.dtype)
            block.append(Tensor(array))
        blocks.append(tuple(block) if inputs_tuple else block[0])
    return tuple(blocks) if outputs_tuple else blocks[0]


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), v^T J)``: the outputs (constants) and the vector-Jacobian product
    for each input (a tuple when ``inputs`` is a tuple, zeros for an input the outputs do not
    depend on). ``v`` has the outputs' shapes (one per output for a tuple); it may be left
    out when func returns a one-element tensor."""
    name = "vjp"
    _check_options(name, create_graph)
    inputs_tuple, inputs = _as_tuple(name, "inputs", inputs)
    leaves = _leaves(name, inputs)
    with enable_grad():
        result = func(*leaves)
    outputs_tuple, outputs = _as_tuple(name, "the output of func", result)
    if v is None:
        if len(outputs) != 1 or outputs[0].data.size != 1:
            raise ValueError(f"{name}: v can be left out only when func returns a single "
                             f"one-element Tensor, got shapes {[o.shape for o in outputs]}")
        vs = (np.ones_like(outputs[0].data),)
    else:
        vs = tuple(v) if isinstance(v, (tuple, list)) and outputs_tuple else (v,)
        if len(vs) != len(outputs):
            raise ValueError(f"{name}: {len(vs)} vectors v for {len(outputs)} outputs")
        vs = tuple(np.asarray(x.data if isinstance(x, Tensor) else x, dtype=o.dtype)
                   for x, o in zip(vs, outputs))
        for i, (x, o) in enumerate(zip(vs, outputs)):
            if x.shape != o.shape:
                raise ValueError(f"{name}: v[{i}] has shape {x.shape}, output {i} has shape "
                                 f"{o.shape}")
    roots = [(o, x) for o, x in zip(outputs, vs) if o.requires_grad]
    totals: list[np.ndarray | None] = [None] * len(leaves)
    if roots:
        captured = _backpropagate([o for o, _ in roots], [x for _, x in roots], False,
                                  capture={id(t) for t in leaves})
        totals = [captured.get(id(t)) for t in leaves]
    if strict:
        for j, g in enumerate(totals):
            if g is None:
                raise _independent(name, 0, j)
    products = tuple(Tensor(_dense(g, leaf)) for g, leaf in zip(totals, leaves))
    values = tuple(Tensor(o.data) for o in outputs)
    return (values if outputs_tuple else values[0],
            products if inputs_tuple else products[0])
