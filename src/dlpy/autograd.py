"""Gradients as values: ``dlpy.autograd.grad`` and ``backward``, as in ``torch.autograd``.

``loss.backward()`` accumulates into the ``.grad`` of every leaf. ``grad(outputs, inputs)``
instead returns d(outputs)/d(inputs) for the tensors asked for, leaves or not, and touches no
``.grad``: what a saliency map, a gradient-based explanation or a check of one part of a
model needs::

    x = dlpy.tensor(features, requires_grad=True)
    (gx,) = dlpy.autograd.grad(model(x).sum(), x)

With ``create_graph=True`` the gradients are computed with dlpy ops (each op's
``backward_graph``) and come back as Tensors with a graph of their own, so they can be
differentiated again: a Hessian-vector product, a gradient penalty, a MAML inner step::

    (gx,) = dlpy.autograd.grad((x ** 3).sum(), x, create_graph=True)   # 3 x^2
    (gxx,) = dlpy.autograd.grad(gx.sum(), x)                           # 6 x
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import (
    _CREATE_GRAPH_BACKWARD,
    Tensor,
    _backpropagate,
    _graph_grad,
    detect_anomaly,
    no_grad,
    set_detect_anomaly,
)

__all__ = ["Function", "FunctionCtx", "backward", "detect_anomaly", "functional", "grad",
           "no_grad", "once_differentiable", "set_detect_anomaly"]


def _as_list(name: str, what: str, values) -> list[Tensor]:
    tensors = [values] if isinstance(values, Tensor) else list(values)
    if not tensors:
        raise ValueError(f"{name}: {what} is empty")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what}[{i}] is a {type(t).__name__}, not a dlpy Tensor")
    return tensors


def _root_grads(name: str, outputs: list[Tensor], grad_outputs, graph: bool = False
                ) -> list[np.ndarray]:
    """The checked vectors of the vector-Jacobian product, one per output; with ``graph``
    (create_graph) as Tensors: a given Tensor is kept (the gradients then depend on it too),
    anything else is a constant."""
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{name}: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise ValueError(
                f"{name}: output {i} does not require gradients (no input had "
                "requires_grad=True or it was computed under no_grad())"
            )
        if g is None:
            if out.data.size != 1:
                raise ValueError(f"{name}: output {i} has shape {out.shape}; give its "
                                 "grad_outputs (only a one-element output needs none)")
            grads.append(np.ones_like(out.data))
            continue
        array = np.asarray(g.data if isinstance(g, Tensor) else g, dtype=out.dtype)
        if array.shape != out.shape:
            raise ValueError(f"{name}: grad_outputs[{i}] has shape {array.shape}, output {i} "
                             f"has shape {out.shape}")
        grads.append(g if graph and isinstance(g, Tensor) else array)
    return [_graph_grad(g, out.dtype) for g, out in zip(grads, outputs)] if graph else grads


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple, one per input).

    grad_outputs: the vector of the vector-Jacobian product, one per output (each output with
    more than one element needs it); several outputs' gradients are summed. retain_graph:
    keep the graph for another pass (default False, as PyTorch's default of create_graph).
    allow_unused: an input the outputs do not depend on gives None instead of an error.
    Leaves' ``.grad`` are left as they are; tensor hooks run as in ``backward``.
    create_graph: return the gradients as Tensors that record how they were computed (through
    each op's ``backward_graph``), to differentiate them again; a gradient that depends on no
    tensor needing gradients is a constant, as PyTorch's. It keeps the graph (retain_graph),
    records even under no_grad (as PyTorch), and hooks get and may return Tensors.
    """
    outputs = _as_list("autograd.grad", "outputs", outputs)
    inputs = _as_list("autograd.grad", "inputs", inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise ValueError(f"autograd.grad: input {i} (shape {t.shape}) does not require "
                             "gradients")
    capture = {id(t) for t in inputs}
    if create_graph:
        root_grads = _root_grads("autograd.grad", outputs, grad_outputs, graph=True)
        captured = _backpropagate(outputs, root_grads, True, capture, create_graph=True)
    else:
        root_grads = _root_grads("autograd.grad", outputs, grad_outputs)
        captured = _backpropagate(outputs, root_grads, bool(retain_graph), capture)
    results: list[Tensor | None] = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None:
            if not allow_unused:
                raise ValueError(
                    f"autograd.grad: input {i} (shape {t.shape}) was not used to compute the "
                    "outputs; pass allow_unused=True to get None for it"
                )
            results.append(None)
            continue
        if create_graph and g.requires_grad:
            results.append(g)
            continue
        if isinstance(g, Tensor):  # a constant of the create_graph pass
            g = g.data
        g = g.to_dense() if isinstance(g, SparseGrad) else np.array(g, dtype=t.dtype)
        results.append(Tensor(g))
    return tuple(results)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors=None,
             retain_graph: bool = False, create_graph: bool = False) -> None:
    """``sum(t.backward(g))`` over several tensors in one pass: each leaf's ``.grad`` gets
    the sum of the gradients from all of them (a tensor shared by their graphs is visited
    once). ``create_graph=True`` is refused, as in ``Tensor.backward``: use ``grad``."""
    if create_graph:
        raise NotImplementedError(_CREATE_GRAPH_BACKWARD.format(name="autograd.backward"))
    tensors = _as_list("autograd.backward", "tensors", tensors)
    _backpropagate(tensors, _root_grads("autograd.backward", tensors, grad_tensors),
                   retain_graph)


# torch.autograd.Function and torch.autograd.functional. ``functional`` lives in its own file
# (dlpy/autograd_functional.py) and is registered as the submodule dlpy.autograd.functional,
# so ``import dlpy.autograd.functional`` and ``from dlpy.autograd.functional import jacobian``
# work while this file stays a module.
from dlpy import autograd_functional as functional  # noqa: E402
from dlpy.autograd_function import Function, FunctionCtx, once_differentiable  # noqa: E402

sys.modules[f"{__name__}.functional"] = functional
