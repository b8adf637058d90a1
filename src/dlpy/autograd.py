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

import bisect
import contextlib
import sys
import types
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from dlpy._caller import user_stacklevel as _user_stacklevel
from dlpy.device import meta_array
from dlpy.meta import holds_meta
from dlpy.ops.multi_output import layout_of, node_of
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import (
    _GRADLESS_ROOT,
    AccumulateGrad,
    AutogradError,
    Op,
    Tensor,
    _backpropagate,
    _backward_graph,
    _backward_into,
    _check_grad_output,
    _DecoratorContextManager,
    _grad_node,
    _graph_grad,
    _stand_ins,
    detect_anomaly,
    enable_grad,
    inference_mode,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)

__all__ = ["Function", "FunctionCtx", "Variable", "backward", "detect_anomaly", "enable_grad",
           "forward_ad", "functional", "grad", "gradcheck", "gradgradcheck", "graph",
           "inference_mode", "is_multithreading_enabled", "no_grad", "once_differentiable",
           "profiler", "set_detect_anomaly", "set_grad_enabled", "set_multithreading_enabled"]


class _VariableType(type):
    """Variable's metaclass: every Tensor is a Variable (``isinstance(x, Variable)``), as in
    torch, where Variable and Tensor merged."""

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, Tensor)

    def __call__(cls, data=None, requires_grad: bool = False, volatile: bool = False):
        if data is None:
            data = Tensor(np.zeros(0, np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        out.requires_grad = requires_grad
        return out


class Variable(metaclass=_VariableType):
    """torch.autograd.Variable, the old wrapper: ``Variable(tensor)`` is a Tensor of the same
    data (no copy, as torch's; ``requires_grad`` sets its flag, ``volatile`` is ignored);
    data that is no tensor is a TypeError; no data: an empty float32 tensor."""


# torch.autograd.variable, the legacy module holding Variable
variable = types.ModuleType("dlpy.autograd.variable", "torch.autograd.variable: Variable.")
variable.Variable = Variable
sys.modules[variable.__name__] = variable


_multithreading = [True]


def is_multithreading_enabled() -> bool:
    """torch's flag for its multithreaded backward (dlpy's backward runs in the calling
    thread either way)."""
    return _multithreading[0]


class set_multithreading_enabled(_DecoratorContextManager):  # noqa: N801 - torch's name
    """Sets the flag at once (back to ``prev`` at the end of a ``with`` block, as torch's);
    changes nothing in dlpy."""

    def __init__(self, mode: bool):
        self.prev, self.mode = _multithreading[0], mode
        _multithreading[0] = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        _multithreading[0] = self.prev

    def clone(self) -> set_multithreading_enabled:
        return set_multithreading_enabled(self.mode)


_grad_layout_enforced = [True]


class enforce_grad_layout_policy(_DecoratorContextManager):  # noqa: N801 - torch's name
    """torch.autograd.enforce_grad_layout_policy(enable=True): sets the flag at once (back
    to ``prev`` at the end of a ``with`` block, as torch's). In torch it lets an accumulated
    gradient keep the incoming gradient's strides instead of its parameter's; dlpy's
    gradients hold the same values either way, so the flag changes nothing here."""

    def __init__(self, enable: bool = True):
        self.prev, self.mode = _grad_layout_enforced[0], enable
        _grad_layout_enforced[0] = bool(enable)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        _grad_layout_enforced[0] = self.prev

    def clone(self) -> enforce_grad_layout_policy:
        return enforce_grad_layout_policy(self.mode)


class _NotATensorError(TypeError, RuntimeError):
    """A sequence of outputs or inputs holding something else than a Tensor: a TypeError, and
    torch's RuntimeError ("all inputs have to be Tensors") for code written against torch."""


def _as_list(name: str, what: str, values) -> list[Tensor]:
    tensors = [values] if isinstance(values, Tensor) else list(values)
    if not tensors:
        raise AutogradError(f"{name}: {what} is empty")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise _NotATensorError(f"{name}: {what}[{i}] is a {type(t).__name__}, not a dlpy "
                                   "Tensor")
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
        raise AutogradError(f"{name}: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise AutogradError(
                f"{name}: output {i} does not require gradients (no input had "
                "requires_grad=True or it was computed under no_grad())"
            )
        if out._gradless:
            raise AutogradError(_GRADLESS_ROOT.format(f"{name}: output {i}"))
        if g is None:
            if out.data.size != 1:
                raise AutogradError(f"{name}: output {i} has shape {out.shape}; give its "
                                 "grad_outputs (only a one-element output needs none)")
            if out.data.dtype.kind == "c":
                raise RuntimeError(f"{name}: grad can be implicitly created only for real "
                                   f"scalar outputs, output {i} is {out.dtype}: reduce it to a "
                                   "real loss (.abs(), .real) or pass its grad_outputs")
            seed = np.ones_like(out.data)
            shown = sys.modules["dlpy.tensor"]._implicit_seed  # a TorchDispatchMode's
            if shown is not None:
                seed = shown(out, seed)
            grads.append(seed)
            continue
        _check_grad_output(name, g, out.dtype, i)
        if isinstance(g, Tensor) and holds_meta(g) != holds_meta(out):  # torch's device check
            raise RuntimeError(f"invalid gradient at index {i} - expected device {out.device} "
                               f"but got {g.device}")
        array = np.asarray(g.data if isinstance(g, Tensor) else g, dtype=out.dtype)
        if array.shape != out.shape:
            raise AutogradError(f"{name}: grad_outputs[{i}] has shape {array.shape}, output {i} "
                             f"has shape {out.shape}")
        grads.append(g if graph and isinstance(g, Tensor) else array)
    return [_graph_grad(g, out.dtype) for g, out in zip(grads, outputs)] if graph else grads


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, *,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...] | dict:
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple, one per input).

    grad_outputs: the vector of the vector-Jacobian product, one per output (each output with
    more than one element needs it); several outputs' gradients are summed. retain_graph:
    keep the graph for another pass (default False, as PyTorch's default of create_graph).
    allow_unused: an input the outputs do not depend on gives None instead of an error;
    materialize_grads: zeros instead of None (allow_unused implied, as torch's).
    Leaves' ``.grad`` are left as they are; tensor hooks run as in ``backward``.
    create_graph: return the gradients as Tensors that record how they were computed (through
    each op's ``backward_graph``), to differentiate them again; a gradient that depends on no
    tensor needing gradients is a constant, as PyTorch's. It keeps the graph (retain_graph),
    records even under no_grad (as PyTorch), and hooks get and may return Tensors.
    is_grads_batched: each grad_output has a leading batch dimension; one pass per entry, the
    gradients stacked along it (torch's vmap over the backward, done here as a loop).
    only_inputs: torch's deprecated flag, ignored (with its warning when False).
    outputs and inputs may be GradientEdges (``graph.get_gradient_edge``): an input edge is
    the gradient with respect to its tensor (None, or an error, where the outputs do not
    reach it; materialize_grads refuses that), an output edge starts the pass there.
    """
    if not only_inputs:
        import warnings

        warnings.warn("only_inputs argument is deprecated and is ignored now (defaults to "
                      "True). To accumulate gradient for other parts of the graph, please use "
                      "torch.autograd.backward.", UserWarning,
                      stacklevel=_user_stacklevel())
    if type(inputs) is dict:  # named inputs (dict(model.named_parameters())): named results
        keys = list(inputs)
        found = grad(outputs, _dict_inputs("grad", inputs), grad_outputs, retain_graph,
                     create_graph, only_inputs, allow_unused, is_grads_batched,
                     materialize_grads=materialize_grads)
        return dict(zip(keys, found))
    inputs = _dict_inputs("grad", inputs)
    if retain_graph is None and _keep_graph[0]:  # vmap calling func once per sample
        retain_graph = True
    outputs = _edge_outputs("autograd.grad", outputs)  # GradientEdges: their tensors
    inputs, edges = _edge_inputs(outputs, inputs)
    if is_grads_batched:
        return _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
                             allow_unused, materialize_grads)
    if materialize_grads:
        if allow_unused is False:
            raise ValueError("autograd.grad: materialize_grads=True needs allow_unused True "
                             "or not given, as torch")
        allow_unused = True
    outputs = _as_list("autograd.grad", "outputs", outputs)
    inputs, sparse = _sparse_inputs(inputs)
    inputs = _as_list("autograd.grad", "inputs", inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise AutogradError(f"autograd.grad: input {i} (shape {t.shape}) does not require "
                             "gradients")
    capture = {id(t) for t in inputs}
    engine = sys.modules["dlpy.tensor"]
    engine._selective_passes += 1
    try:
        if create_graph:
            root_grads = _root_grads("autograd.grad", outputs, grad_outputs, graph=True)
            captured = _backpropagate(outputs, root_grads, True, capture, create_graph=True)
            if retain_graph is False:
                _free_pass(outputs, capture)
        else:
            root_grads = _root_grads("autograd.grad", outputs, grad_outputs)
            captured = _backpropagate(outputs, root_grads, bool(retain_graph), capture)
    finally:
        engine._selective_passes -= 1
    results: list[Tensor | None] = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None:
            if not allow_unused:
                raise AutogradError(
                    f"The differentiated Tensor at index {i} (shape {t.shape}) appears to not "
                    "have been used in the graph. Set allow_unused=True if this is the desired "
                    "behavior (it gives None for that input)"
                )
            if materialize_grads and i in edges:
                raise RuntimeError("materialize_grads cannot be used when the given input is a "
                                   "GradientEdge")
            results.append(Tensor(np.zeros(t.shape, dtype=t.dtype), requires_grad=create_graph)
                           if materialize_grads else None)
            continue
        if create_graph and g.requires_grad:
            results.append(g)
            continue
        if isinstance(g, Tensor):  # a constant of the create_graph pass
            g = g.data
        dtype = t.dtype
        if engine._grad_dtype_count and t.op is None:  # a leaf's grad_dtype, as torch's
            dtype = engine._wanted_grad_dtype(t)
            dtype = g.dtype if dtype is None else dtype
        if holds_meta(t):  # a meta input's gradient: a meta tensor (no values to copy)
            results.append(Tensor(meta_array(t.shape, dtype)))
            continue
        g = g.dense() if isinstance(g, SparseGrad) else np.array(g, dtype=dtype)
        results.append(sparse[i]._sparse_grad(g) if i in sparse else Tensor(g))
    return tuple(results)


def _dict_inputs(name: str, inputs):
    """grad/backward's ``inputs`` given as a dict (torch 2.13): its values, as a tuple; other
    Mappings are refused, as torch's."""
    if type(inputs) is dict:
        if not inputs:
            raise RuntimeError(f"`inputs` argument to `{name}()` cannot be empty.")
        return tuple(inputs.values())
    if isinstance(inputs, Mapping):
        raise TypeError(f"`inputs` argument to `{name}()` must be a dict, not "
                        f"{type(inputs).__name__}. Other Mapping types are not supported.")
    if hasattr(inputs, "__next__"):  # a generator or iterator: read once, here
        return tuple(inputs)
    return inputs


# > 0 while vmap runs its function for a sample that another follows: autograd.grad's
# retain_graph=None then keeps the graph (torch's vmap makes one batched call)
_keep_graph = [0]


def _sparse_inputs(inputs):
    """autograd.grad's inputs with each sparse tensor replaced by its values (the tensor of the
    graph), and the sparse ones by position (their gradients are given back sparse)."""
    from dlpy.sparse_tensor import SparseTensor

    inputs = [inputs] if isinstance(inputs, (Tensor, SparseTensor)) else list(inputs)
    sparse = {i: t for i, t in enumerate(inputs) if isinstance(t, SparseTensor)}
    return [t._v if i in sparse else t for i, t in enumerate(inputs)], sparse


def _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                  materialize_grads) -> tuple[Tensor | None, ...]:
    """autograd.grad(is_grads_batched=True): one grad per row of the grad_outputs, stacked."""
    from dlpy.ops.shape import stack

    outputs = _as_list("autograd.grad", "outputs", outputs)
    if grad_outputs is None:
        raise ValueError("autograd.grad: is_grads_batched=True needs grad_outputs")
    grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    if any(not isinstance(g, Tensor) or g.dim() == 0 for g in grad_outputs):
        raise ValueError("autograd.grad: is_grads_batched=True needs each grad_output to be a "
                         "Tensor with a leading batch dimension")
    sizes = {g.shape[0] for g in grad_outputs}
    if len(sizes) != 1:
        raise ValueError(f"autograd.grad: is_grads_batched=True needs one batch size for all "
                         f"grad_outputs, got {sorted(sizes)}")
    if materialize_grads:
        if allow_unused is False:
            raise ValueError("autograd.grad: materialize_grads=True needs allow_unused True "
                             "or not given, as torch")
        allow_unused = True
    (size,) = sizes
    rows = []
    for b in range(size):
        keep = True if b < size - 1 else retain_graph
        rows.append(grad(outputs, inputs, [g[b] for g in grad_outputs], keep, create_graph,
                         allow_unused=allow_unused))
    inputs = _as_list("autograd.grad", "inputs", inputs)
    # an unused input's materialized zeros have its own shape, without the batch (as torch's)
    return tuple(stack(list(column)) if column[0] is not None
                 else Tensor(np.zeros(t.shape, dtype=t.dtype), requires_grad=create_graph)
                 if materialize_grads else None for column, t in zip(zip(*rows), inputs))


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors=None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs=None) -> None:
    """``sum(t.backward(g))`` over several tensors in one pass: each leaf's ``.grad`` gets
    the sum of the gradients from all of them (a tensor shared by their graphs is visited
    once). ``inputs``: only these tensors' ``.grad`` accumulate (leaves or not), and only the
    ops on a path to them run, as torch's; a GradientEdge there is its tensor (an op's edge:
    its gradient is computed and kept nowhere, as torch's), and ``tensors`` may be edges
    too. ``create_graph=True``: the ``.grad`` become Tensors with a graph (added to by
    recorded ops), to differentiate again; the graph is kept."""
    if sys.modules["dlpy.tensor"]._transform_depth[0]:
        sys.modules["dlpy.tensor"]._backward_in_transform()
    if isinstance(tensors, (list, tuple)) and not tensors:
        return  # no roots: nothing to do (torch's engine runs no pass)
    tensors = _as_list("autograd.backward", "tensors",
                       _edge_outputs("autograd.backward", tensors))
    discard = frozenset()  # an op's GradientEdge among inputs: its gradient is kept nowhere
    inputs = _dict_inputs("backward", inputs)
    if inputs is not None:
        inputs, edges = _edge_inputs(tensors, inputs)
        if edges:
            given = {id(t) for i, t in enumerate(inputs) if not edges.get(i)}
            discard = frozenset(id(t) for i, t in enumerate(inputs)
                                if edges.get(i) and id(t) not in given)
    if create_graph:
        root_grads = _root_grads("autograd.backward", tensors, grad_tensors, graph=True)
        _backward_graph("autograd.backward", tensors, root_grads, inputs, discard)
        if retain_graph is False:
            _free_pass(tensors, None)
        return
    root_grads = _root_grads("autograd.backward", tensors, grad_tensors)
    if inputs is None:
        _backpropagate(tensors, root_grads, bool(retain_graph))
    else:
        _backward_into("autograd.backward", tensors, root_grads, bool(retain_graph), inputs,
                       discard)


def _free_pass(roots: list[Tensor], capture: set[int] | None) -> None:
    """create_graph=True with retain_graph=False: free the ops the pass ran, as torch does
    (the new graph holds what it needs)."""
    from dlpy.tensor import _pass_order

    order, needed = _pass_order(roots, capture)
    for node in order:
        op = node.op
        if op is not None and not op.freed and (
                needed is None or any(id(p) in needed for p in op.inputs)):
            op.free()


def _outputs_flat(name: str, out) -> Tensor:
    """A function's output (a Tensor or a sequence of them) as one flat Tensor."""
    outputs = [out] if isinstance(out, Tensor) else list(out) if isinstance(
        out, (list, tuple)) else None
    if not outputs or any(not isinstance(o, Tensor) for o in outputs):
        raise TypeError(f"{name}: func must return a Tensor or a sequence of Tensors, got "
                        f"{type(out).__name__}")
    from dlpy.ops.shape import concat
    return outputs[0] if len(outputs) == 1 else concat([o.reshape(-1) for o in outputs])


def _checked(name: str, check, raise_exception: bool) -> bool:
    """check() -> True; its GradcheckError raised, or False without raise_exception."""
    from dlpy.testing import GradcheckError
    try:
        return check()
    except GradcheckError:
        if raise_exception:
            raise
        return False


# torch's gradcheck/gradgradcheck switches for checks dlpy does not run (accepted, ignored)
_TORCH_CHECK_OPTIONS = frozenset({
    "nondet_tol", "check_undefined_grad", "check_grad_dtypes", "check_batched_grad",
    "check_batched_forward_grad", "check_forward_ad", "check_backward_ad", "fast_mode", "masked",
    "gen_non_contig_grad_outputs", "check_fwd_over_rev", "check_rev_over_rev"})


def _torch_options(name: str, options: dict) -> None:
    unknown = sorted(set(options) - _TORCH_CHECK_OPTIONS)
    if unknown:
        raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")


def _low_precision(name: str, inputs) -> bool:
    """Warn (as torch) for each differentiable input that is not float64: the check still
    runs, in that precision (where it usually fails)."""
    import warnings
    low = False
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype not in (np.float64,
                                                                          np.complex128):
            warnings.warn(f"{name}: input #{i} requires gradient and is not a double precision "
                          "floating point; the check is likely to fail", UserWarning,
                          stacklevel=3)
            low = True
    return low


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0,
              check_forward_ad: bool = False, check_backward_ad: bool = True, seed: int = 0,
              **options) -> bool:
    """torch.autograd.gradcheck: the gradients of ``func(*inputs)`` (a Tensor or a sequence of
    them) with respect to every input with requires_grad, against central differences
    (``dlpy.testing.gradcheck``: analytic within atol + rtol * |numeric|), one output at a
    time (the others' gradients undefined, as torch's); outputs that are not floating point
    are skipped. Then, as torch's, backward run twice must agree within nondet_tol
    (reentrant) and must give zeros for a zero grad_output. inputs: a Tensor or a tuple
    (non-Tensors pass through). Returns True, or raises GradcheckError (False with
    raise_exception=False). Each output counts through a fixed random projection (seed), as
    torch's fast_mode, not the whole Jacobian. check_forward_ad=True also checks forward
    mode (``_forward_ad_check``); check_backward_ad=False skips the backward checks (a
    Function with only a jvp). torch's other switches (fast_mode, check_batched_grad, ...) are
    accepted and ignored."""
    from dlpy import testing
    _torch_options("gradcheck", options)
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError("Expected at least one of check_forward_ad or check_backward_ad "
                             "to be True")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if not any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    low = _low_precision("gradcheck", inputs)

    def check():
        if check_forward_ad:
            _forward_ad_check(func, inputs, eps, atol, rtol, seed)
        if not check_backward_ad:
            return True
        count = len(_differentiable_outputs(func(*inputs)))
        for k in range(count):
            def output(*args, k=k):
                return _differentiable_outputs(func(*args))[k]
            try:
                testing.gradcheck(output, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                                  any_float=low)
            except testing.GradcheckError as err:
                where = "" if err.input is None else f" with respect to input {err.input}"
                raise testing.GradcheckError(
                    f"Jacobian mismatch for output {k}{where},\n{err}") from None
        if count:
            _backward_properties(func, inputs, nondet_tol, seed)
        return True
    return _checked("gradcheck", check, raise_exception)


def _forward_ad_check(func, inputs: tuple, eps: float, atol: float, rtol: float,
                      seed: int) -> None:
    """gradcheck's check_forward_ad: for each input that requires grad, the tangents forward
    mode (``forward_ad``) gives the outputs for a fixed random tangent of that input (seed)
    against central differences along it, within atol + rtol * |numeric|; GradcheckError
    naming the output and input where they disagree."""
    from dlpy import testing
    rng = np.random.default_rng(seed)
    plain = [t.detach() if isinstance(t, Tensor) else t for t in inputs]
    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        tangent = Tensor(rng.standard_normal(t.shape).astype(t.dtype))
        with forward_ad.dual_level():
            args = list(plain)
            args[i] = forward_ad.make_dual(plain[i], tangent)
            tangents = [forward_ad.unpack_dual(o).tangent
                        for o in _differentiable_outputs(func(*args))]
        with no_grad():
            moved = [[plain[i] + sign * eps * tangent if j == i else a
                      for j, a in enumerate(plain)] for sign in (1, -1)]
            plus, minus = (_differentiable_outputs(func(*m)) for m in moved)
        for k, (got, a, b) in enumerate(zip(tangents, plus, minus)):
            numeric = (np.asarray(a.data) - np.asarray(b.data)) / (2 * eps)
            analytic = np.zeros_like(numeric) if got is None else np.asarray(got.data)
            if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
                error = testing.GradcheckError(
                    f"Jacobian computed with forward mode mismatch for output {k} with respect "
                    f"to input {i}: largest error "
                    f"{np.max(np.abs(analytic - numeric)):.3g} (atol={atol}, rtol={rtol})")
                error.input = i
                raise error


def _differentiable_outputs(out) -> list:
    """func's output as a list of its floating-point (or complex) Tensors."""
    outputs = [out] if isinstance(out, Tensor) else list(out) if isinstance(
        out, (list, tuple)) else None
    if outputs is None or any(not isinstance(o, Tensor) for o in outputs):
        raise TypeError(f"gradcheck: func must return a Tensor or a sequence of Tensors, got "
                        f"{type(out).__name__}")
    return [o for o in outputs if o.dtype.kind in "fc"]


def _backward_properties(func, inputs, nondet_tol: float, seed: int) -> None:
    """torch's checks after the Jacobians: backward run twice with the same grad_output agrees
    within nondet_tol, and a zero grad_output gives zero gradients."""
    from dlpy import enable_grad, testing
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    rng = np.random.default_rng(seed)
    with enable_grad():
        for out in _differentiable_outputs(func(*inputs)):
            if not out.requires_grad:
                continue
            weights = rng.standard_normal(out.shape)
            if out.dtype.kind == "c":
                weights = weights + 1j * rng.standard_normal(out.shape)
            runs = [grad(out, checked, Tensor(weights.astype(out.dtype)), retain_graph=True,
                         allow_unused=True, materialize_grads=True) for _ in range(2)]
            for a, b in zip(*runs):
                if a.data.size and np.max(np.abs(a.data - b.data)) > nondet_tol:
                    raise testing.GradcheckError(
                        "Backward is not reentrant, i.e., running backward with same input "
                        "and grad_output multiple times gives different values, although "
                        "analytical gradient matches numerical gradient."
                        f"The tolerance for nondeterminism was {nondet_tol}.")
            zeros = grad(out, checked, Tensor(np.zeros(out.shape, out.dtype)),
                         retain_graph=True, allow_unused=True, materialize_grads=True)
            if any(np.any(g.data != 0) for g in zeros):
                raise testing.GradcheckError("backward not multiplied by grad_output")


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0,
                  **options) -> bool:
    """torch.autograd.gradgradcheck: the second derivatives of ``func(*inputs)``, as
    gradcheck of (inputs, grad_outputs) -> grad(func(*inputs), inputs, grad_outputs,
    create_graph=True). grad_outputs: one per output; None: random float64 ones that
    require gradients (as torch's). The create_graph gradients are first compared with
    backward's at the inputs (a backward_graph whose values are wrong is caught even where
    its own derivatives agree with them). Returns True, or raises GradcheckError (False
    with raise_exception=False)."""
    from dlpy import enable_grad, testing
    _torch_options("gradgradcheck", options)
    if not (options.get("check_fwd_over_rev", False) or options.get("check_rev_over_rev", True)):
        raise AssertionError("Expected at least one of check_fwd_over_rev or check_rev_over_rev "
                             "to be True")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    low = _low_precision("gradgradcheck", inputs)
    differentiable = [i for i, t in enumerate(inputs) if isinstance(t, Tensor)
                      and t.requires_grad]
    if not differentiable:
        raise ValueError("gradgradcheck: no input is a Tensor with requires_grad=True")
    out = func(*inputs)
    outputs = [out] if isinstance(out, Tensor) else list(out)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor((rng.standard_normal(o.shape) + 1j * rng.standard_normal(
            o.shape) if o.dtype.kind == "c" else rng.standard_normal(o.shape)).astype(o.dtype),
            requires_grad=True) for o in outputs]
    else:
        grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else \
            list(grad_outputs)
        if len(grad_outputs) != len(outputs):
            raise ValueError(f"gradgradcheck: {len(grad_outputs)} grad_outputs for "
                             f"{len(outputs)} outputs")
        grad_outputs = [g if isinstance(g, Tensor) else Tensor(np.asarray(g))
                        for g in grad_outputs]
    count = len(inputs)

    def first_gradients(*args):
        xs, vs = args[:count], args[count:]
        with enable_grad():  # testing.gradcheck's finite differences run under no_grad
            out = func(*xs)
            grads = grad(out, [xs[i] for i in differentiable], grad_outputs=list(vs),
                         create_graph=True, allow_unused=True)
        return [g for g in grads if g is not None]

    def check():
        with enable_grad():
            expected = grad(func(*inputs), [inputs[i] for i in differentiable],
                            grad_outputs=[v.data for v in grad_outputs], allow_unused=True)
        for i, got, want in zip(differentiable, first_gradients(*inputs, *grad_outputs),
                                expected):
            if want is not None and not np.allclose(got.data, want.data, rtol=rtol,
                                                    atol=atol):
                raise testing.GradcheckError(
                    f"gradgradcheck: the create_graph gradient of input {i} differs from "
                    f"backward's (largest difference "
                    f"{np.max(np.abs(got.data - want.data)):.3g}): a backward_graph is wrong")
        return testing.gradcheck(
            lambda *args: _outputs_flat("gradgradcheck", first_gradients(*args)),
            *inputs, *grad_outputs, eps=eps, atol=atol, rtol=rtol, seed=seed, any_float=low)
    return _checked("gradgradcheck", check, raise_exception)


# torch.autograd.Function and torch.autograd.functional. ``functional`` lives in its own file
# (dlpy/autograd_functional.py) and is registered as the submodule dlpy.autograd.functional,
# so ``import dlpy.autograd.functional`` and ``from dlpy.autograd.functional import jacobian``
# work while this file stays a module.
from dlpy import autograd_functional as functional  # noqa: E402
from dlpy.autograd_function import Function, FunctionCtx, once_differentiable  # noqa: E402
from dlpy.overrides import is_tensor_like  # noqa: E402, F401 - torch.autograd.is_tensor_like

sys.modules[f"{__name__}.functional"] = functional
# torch.autograd.function (``from torch.autograd.function import once_differentiable``)
from dlpy import autograd_function as function  # noqa: E402

sys.modules[f"{__name__}.function"] = function
# torch.autograd.profiler (dlpy/autograd_profiler.py), importable as dlpy.autograd.profiler
from dlpy import autograd_profiler as profiler  # noqa: E402
from dlpy import forward_ad  # noqa: E402 - torch.autograd.forward_ad (dlpy/forward_ad.py)

sys.modules[f"{__name__}.forward_ad"] = forward_ad
sys.modules[f"{__name__}.profiler"] = profiler
# torch.autograd.gradcheck the module (GradcheckError, the deprecated Jacobian helpers); the
# attribute dlpy.autograd.gradcheck stays the function, as torch's
from dlpy import autograd_gradcheck as _gradcheck_module  # noqa: E402

sys.modules[f"{__name__}.gradcheck"] = _gradcheck_module


class _MultiHandle:
    """The handle register_multi_grad_hook returns: remove() takes off every tensor's hook."""

    def __init__(self, handles: tuple):
        self.handles = handles

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def __enter__(self) -> _MultiHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def register_multi_grad_hook(tensors, fn, *, mode: str = "all") -> _MultiHandle:
    """torch.autograd.graph.register_multi_grad_hook. ``mode="all"``: ``fn(grads)`` once per
    backward pass, when every tensor of ``tensors`` that the pass reaches has its gradient (a
    list in their order, None for those it does not reach). ``mode="any"``: ``fn(grad)`` with
    the first gradient of one of them, once per pass. Returns a handle with ``remove()``."""
    engine = sys.modules["dlpy.tensor"]
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = list(tensors)
    seen: dict[int, list] = {}  # by the pass (its [order, needed] record): what came so far

    def current() -> list:
        if not engine._passes:
            raise RuntimeError("register_multi_grad_hook: a hook ran outside a backward pass")
        return engine._passes[-1]

    if mode == "any":
        def any_hook(grad):
            record = current()
            if id(record) not in seen:
                seen.clear()  # (only the running pass is kept)
                seen[id(record)] = [record]
                fn(grad)

        return _MultiHandle(tuple(t.register_hook(any_hook) for t in tensors
                                  if t.requires_grad))

    def hook_of(index: int):
        def all_hook(grad):
            record = current()
            state = seen.get(id(record))
            if state is None or state[0] is not record:
                order, needed = record
                in_pass = {id(t) for t in order} if needed is None else needed
                waiting = sum(1 for t in tensors if id(t) in in_pass)
                state = seen[id(record)] = [record, waiting, [None] * len(tensors)]
            state[2][index] = grad if isinstance(grad, Tensor) else Tensor(grad)
            state[1] -= 1
            if state[1] <= 0:
                del seen[id(record)]
                fn(state[2])

        return all_hook

    return _MultiHandle(tuple(t.register_hook(hook_of(i)) for i, t in enumerate(tensors)))


class GradientEdge(NamedTuple):
    """torch.autograd.graph.GradientEdge: where a gradient enters the graph, ``node`` (a
    ``grad_fn``, or a leaf's AccumulateGrad) and ``output_nr``, which of its outputs (0 but
    for the nodes of several outputs, split's, eigh's, ...: dlpy.ops.multi_output). As
    ``inputs`` of grad/backward: the gradient with respect to that output (of a tensor one no
    longer holds, too); as ``outputs``: a pass starting there.
    ``ownership_token``: torch's field for Python-made nodes, None here."""

    node: object
    output_nr: int
    ownership_token: object = None


def get_gradient_edge(tensor: Tensor) -> GradientEdge:
    """torch.autograd.graph.get_gradient_edge: the edge of ``tensor``, ``(grad_fn, output_nr)``
    or a leaf's ``(AccumulateGrad, 0)``; ``grad(loss, get_gradient_edge(t))`` is
    ``grad(loss, t)``. RuntimeError for a tensor that does not require gradients. The node
    keeps a reference to the tensor, so the edge can start a pass (``outputs``) after the
    tensor itself was dropped."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does "
                           "not require gradients")
    node, number = _grad_node(tensor), 0
    if node is tensor.op:
        node, number = node_of(node)  # (a node of several outputs: ops/multi_output.py)
        try:  # a cycle op <-> tensor, collected with the graph; free() drops it
            if node is tensor.op:
                node.__dict__["_edge_output"] = tensor
            else:
                node.__dict__.setdefault("_edge_outputs", {})[number] = tensor
        except AttributeError:  # (a node without a __dict__: found by searching the graph)
            pass
    return GradientEdge(node, number)


def _edge_tensor(edge: GradientEdge, graph: list[Tensor] | None = None) -> Tensor | None:
    """The tensor whose gradient ``edge`` stands for: a leaf's (AccumulateGrad), the output
    get_gradient_edge noted on the node (or its value before an in-place change, the one the
    node made), else the tensor of ``graph`` (a pass's tensors) that the node made; None
    when none is known."""
    node = edge.node
    if type(node) is AccumulateGrad:
        return node.variable
    if not isinstance(node, Op):
        raise _NotATensorError(f"GradientEdge: node must be a grad_fn, got "
                               f"{type(node).__name__}")
    layout = layout_of(node)
    if layout is not None:  # a node of several outputs: the output's tensor
        if not 0 <= edge.output_nr < len(layout):
            raise AutogradError(f"GradientEdge: output_nr {edge.output_nr} of {node.name()}, "
                                f"a node of {len(layout)} outputs")
        tensor = getattr(node, "__dict__", {}).get("_edge_outputs", {}).get(edge.output_nr)
        return tensor if tensor is not None else layout.outputs[edge.output_nr]()
    if edge.output_nr != 0:
        raise AutogradError(f"GradientEdge: output_nr {edge.output_nr} of {node.name()}: a "
                            "node of one output (output_nr 0)")
    tensor = getattr(node, "__dict__", {}).get("_edge_output")
    while tensor is not None and tensor.op is not node:  # changed in place since: the value
        tensor = _stand_ins.get(tensor.op) if tensor.op is not None else None  # node made
    if tensor is None and graph is not None:
        tensor = next((t for t in graph if t.op is node), None)
    return tensor


def _edge_outputs(name: str, outputs):
    """grad/backward's ``outputs`` with each GradientEdge replaced by its tensor (the pass
    starts there); an edge whose tensor is not known is refused."""
    if isinstance(outputs, GradientEdge):
        outputs = [outputs]
    elif isinstance(outputs, Tensor) or not any(isinstance(o, GradientEdge) for o in outputs):
        return outputs
    resolved = []
    for i, out in enumerate(outputs):
        if isinstance(out, GradientEdge):
            tensor = _edge_tensor(out)
            if tensor is None:
                raise AutogradError(
                    f"{name}: outputs[{i}] is a GradientEdge of {out.node.name()} whose tensor "
                    "dlpy does not know: take the edge with get_gradient_edge(tensor)")
            out = tensor
        resolved.append(out)
    return resolved


def _edge_inputs(outputs, inputs) -> tuple[object, dict[int, bool]]:
    """grad/backward's ``inputs`` with each GradientEdge replaced by its tensor (found in the
    graph of ``outputs`` where the node does not say it), and the edges' positions: True for
    an op's output (its gradient is kept nowhere by backward), False for a leaf's. An edge the
    outputs do not reach is a tensor of no graph (so: unused)."""
    if isinstance(inputs, GradientEdge):
        inputs = [inputs]
    elif isinstance(inputs, (Tensor, dict)) or not any(
            isinstance(t, GradientEdge) for t in inputs):
        return inputs, {}
    graph, resolved, edges = None, [], {}
    for i, t in enumerate(inputs):
        if isinstance(t, GradientEdge):
            edges[i] = type(t.node) is not AccumulateGrad
            tensor = _edge_tensor(t)
            if tensor is None:
                if graph is None:
                    from dlpy.tensor import _topological_order
                    roots = _as_list("autograd.grad", "outputs", outputs)
                    graph = _topological_order(roots)
                tensor = _edge_tensor(t, graph)
            t = tensor if tensor is not None else Tensor(np.zeros(0), requires_grad=True)
        resolved.append(t)
    return resolved, edges


class _AllowMutationOnSavedContext:
    """What an ``allow_mutation_on_saved_tensors`` block yields, as torch's: its state, a copy
    of the memory of each tensor changed in place in the block, taken before the change (by
    the id of the array owning that memory: (clock, owner, bytes) triples). ``clear()``
    drops them (as the block's end does)."""

    def __init__(self):
        self.copies: dict[int, list[tuple]] = {}

    def clear(self) -> None:
        self.copies.clear()


class _MutationWatch:
    """The engine's side of allow_mutation_on_saved_tensors (``dlpy.tensor._mutation_watch``,
    kept once a block was opened): the clocks of the open block and of the closed ones (the
    engine's clock, moved on at each block's start and end, so the ops recorded in a block
    are those with its clocks)."""

    def __init__(self):
        self.open: _AllowMutationOnSavedContext | None = None
        self.start = 0
        self.starts: list[int] = []  # closed blocks: [starts[k], ends[k]) in clock ticks
        self.ends: list[int] = []

    def before_write(self, tensor: Tensor) -> None:
        """Copy the memory ``tensor`` writes to (all of its owner's bytes, so any view of it
        can be rebuilt on the copy), unless a copy was taken since the last change."""
        from dlpy.tensor import _buffer

        engine = sys.modules["dlpy.tensor"]
        owner = _buffer(tensor.data)
        taken = self.open.copies.setdefault(id(owner), [])
        if taken and taken[-1][0] == engine._clock and taken[-1][1] is owner:
            return  # nothing changed since that copy (every change moves the clock on)
        raw = None
        if (type(owner) is np.ndarray and owner.dtype.kind not in "OV" and owner.size
                and (owner.flags.c_contiguous or owner.flags.f_contiguous)):
            raw = owner.ravel(order="A").view(np.uint8).copy()  # its bytes in memory order
        taken.append((engine._clock, owner, raw))

    def admits(self, node: Tensor, op) -> bool:
        """Whether ``op`` (which made ``node``) was recorded in the open block; an op recorded
        in a closed block that reads saved values refuses, as torch's unpack hook."""
        tick = node._tick
        if self.open is not None and tick >= self.start:
            return True
        k = bisect.bisect_right(self.starts, tick) - 1
        if k >= 0 and tick < self.ends[k] and _reads_saved(op):
            raise AssertionError("Trying to backward outside of the "
                                 "'allow_mutation_on_saved_tensors' contextin which the graph "
                                 "was originally recorded.")
        return False

    def restore(self, op, tick: int) -> bool:
        """Give ``op`` (recorded at ``tick``) the values its saved arrays held then: each array
        of op's state in memory changed in place in the block since ``tick`` becomes the same
        view of the copy taken before the first such change. False where that cannot be (no
        copy of that time, or memory numpy cannot copy so): the usual refusal. Memory never
        changed in place in the block (dlpy's own marks, as a stand-in's) is left as it is."""
        from dlpy.tensor import _buffer, _marks

        state, copies, rebuilt = op.__dict__, self.open.copies, {}
        for key, value in list(state.items()):
            arrays = (value,) if type(value) is np.ndarray else value if type(value) in (
                tuple, list) else ()
            for array in arrays:
                if type(array) is not np.ndarray or id(array) in rebuilt:
                    continue
                owner = _buffer(array)
                taken, entry = copies.get(id(owner)), _marks.get(id(owner))
                if not taken or entry is None or entry[1] <= tick:
                    continue  # not changed in place in the block since op recorded
                copy = next((raw for clock, held, raw in taken if clock >= tick and held is owner),
                            None)
                if copy is None:
                    return False
                start = array.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
                rebuilt[id(array)] = np.ndarray(array.shape, array.dtype, buffer=copy,
                                                offset=start, strides=array.strides)
            if type(value) is np.ndarray and id(value) in rebuilt:
                state[key] = rebuilt[id(value)]
            elif arrays and any(id(a) in rebuilt for a in arrays if type(a) is np.ndarray):
                state[key] = type(value)(rebuilt.get(id(a), a) if type(a) is np.ndarray else a
                                         for a in value)
        return True


def _reads_saved(op) -> bool:
    """Whether ``op``'s backward reads a saved tensor (an input or its output; Op.saves). A
    0-d constant that needs no gradient (where a Python number went: torch saves the number,
    not a tensor) does not count."""
    from dlpy.tensor import _reads

    inputs, saves = op.inputs, op.saves
    return _reads(saves, "output", inputs) or any(
        _reads(saves, i, inputs) and (t.requires_grad or t.data.ndim)
        for i, t in enumerate(inputs))


@contextlib.contextmanager
def allow_mutation_on_saved_tensors():
    """torch.autograd.graph.allow_mutation_on_saved_tensors: in the block, a tensor saved for
    backward may be changed in place (recorded or under no_grad): its memory is copied before
    the change and the backward of the ops recorded in the block reads the copy, the values
    they saved (torch clones on mutation). Yields the block's state. A graph recorded in the
    block backpropagates there only: after the block, an op of it that reads a saved value
    refuses (AssertionError, as torch's); blocks cannot be nested (RuntimeError). Changes not
    made by an in-place method (an optimizer's step, numpy writes) are not copied."""
    engine = sys.modules["dlpy.tensor"]
    watch = engine._mutation_watch
    if watch is None:
        watch = engine._mutation_watch = _MutationWatch()
    if watch.open is not None:
        raise RuntimeError("allow_mutation_on_saved_tensors contexts cannot be nested")
    ctx = _AllowMutationOnSavedContext()
    engine._clock += 1  # the block's ops are those recorded from this tick on
    watch.open, watch.start = ctx, engine._clock
    engine._before_in_place = watch.before_write
    try:
        yield ctx
    finally:
        engine._before_in_place = None
        engine._clock += 1
        watch.starts.append(watch.start)
        watch.ends.append(engine._clock)
        watch.open = None
        ctx.clear()


def _graph_module():
    """``dlpy.autograd.graph``, as torch.autograd.graph: ``Node`` (the class of every
    ``grad_fn``, for isinstance) and ``increment_version``. A module object made here, so
    ``import dlpy.autograd.graph`` works while this file stays a module."""
    import abc
    import types

    from dlpy.tensor import AccumulateGrad, Op, increment_version

    class Node(abc.ABC):  # noqa: B024 - an ABC only for isinstance, as torch's
        """What a ``grad_fn`` is: an Op (``name()``, ``next_functions``, ``metadata``,
        ``register_hook``, ``register_prehook``) or an AccumulateGrad."""

    Node.register(Op)
    Node.register(AccumulateGrad)
    Node.__module__, Node.__qualname__ = f"{__name__}.graph", "Node"
    module = types.ModuleType(f"{__name__}.graph", "torch.autograd.graph's Node, "
                              "increment_version and the saved tensors hooks")
    from dlpy.autograd_function import (
        disable_saved_tensors_hooks,
        save_on_cpu,
        saved_tensors_hooks,
    )

    def graph_increment_version(tensor) -> None:
        """torch.autograd.graph.increment_version: bump the version of a tensor, or of each
        tensor of an iterable (RuntimeError for anything else, as torch's)."""
        if isinstance(tensor, Tensor):
            tensor = (tensor,)
        try:
            tensors = tuple(tensor)
        except TypeError:
            raise _NotATensorError("increment_version expect a Iterable[Tensor] as input, got "
                                   f"{type(tensor).__name__}") from None
        for t in tensors:
            if not isinstance(t, Tensor):
                raise _NotATensorError("increment_version expects each element of the "
                                       f"iterable to be a tensor, got {type(t).__name__}")
        for t in tensors:
            increment_version(t)

    graph_increment_version.__name__ = graph_increment_version.__qualname__ = "increment_version"
    module.Node, module.increment_version = Node, graph_increment_version
    module.saved_tensors_hooks, module.save_on_cpu = saved_tensors_hooks, save_on_cpu
    module.disable_saved_tensors_hooks = disable_saved_tensors_hooks
    module.register_multi_grad_hook = register_multi_grad_hook
    module.GradientEdge, module.get_gradient_edge = GradientEdge, get_gradient_edge
    module.allow_mutation_on_saved_tensors = allow_mutation_on_saved_tensors
    module._AllowMutationOnSavedContext = _AllowMutationOnSavedContext
    for public in (GradientEdge, get_gradient_edge, allow_mutation_on_saved_tensors):
        public.__module__ = module.__name__
    module.__all__ = ["Node", "increment_version", "saved_tensors_hooks", "save_on_cpu",
                      "disable_saved_tensors_hooks", "register_multi_grad_hook",
                      "GradientEdge", "get_gradient_edge", "allow_mutation_on_saved_tensors"]
    return module


graph = _graph_module()
sys.modules[graph.__name__] = graph


def _grad_mode_module():
    """torch.autograd.grad_mode: the grad-mode blocks and their base class."""
    import types

    module = types.ModuleType(f"{__name__}.grad_mode", "torch.autograd.grad_mode's grad-mode "
                              "context managers")
    module.__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
                      "set_multithreading_enabled"]
    for name in module.__all__:
        setattr(module, name, globals()[name])
    module._DecoratorContextManager = _DecoratorContextManager
    return module


grad_mode = _grad_mode_module()
sys.modules[grad_mode.__name__] = grad_mode


def _anomaly_mode_module():
    """torch.autograd.anomaly_mode: detect_anomaly and set_detect_anomaly (dlpy.tensor's)."""
    module = types.ModuleType(f"{__name__}.anomaly_mode", "torch.autograd.anomaly_mode's "
                              "anomaly detection blocks")
    module.__all__ = ["detect_anomaly", "set_detect_anomaly"]
    module.detect_anomaly, module.set_detect_anomaly = detect_anomaly, set_detect_anomaly
    return module


anomaly_mode = _anomaly_mode_module()
sys.modules[anomaly_mode.__name__] = anomaly_mode


# torch.autograd's profiler enums and checks (torch.autograd.ProfilerActivity is
# torch.profiler's), and the view-replay switch
from dlpy.autograd_profiler import DeviceType, ProfilerState  # noqa: E402, F401
from dlpy.profiler import ProfilerActivity, kineto_available  # noqa: E402, F401

_view_replay = [False]


def is_view_replay_enabled() -> bool:
    """Whether autograd replays views' original view functions (torch's switch for
    functionalized tensors; off at start). dlpy's views always keep their view function, so
    the switch only reads back what ``_force_original_view_tracking`` set."""
    return _view_replay[0]


class _force_original_view_tracking(_DecoratorContextManager):  # noqa: N801 - torch's name
    """Set the view-replay switch at once (as torch's) and back to the previous value at the
    end of a ``with`` block; as a decorator, only while the decorated function runs."""

    def __init__(self, mode: bool) -> None:
        self.prev, self.mode = _view_replay[0], bool(mode)
        _view_replay[0] = self.mode

    def __call__(self, function):
        _view_replay[0] = self.prev
        return super().__call__(function)

    def __enter__(self) -> None:
        _view_replay[0] = self.mode

    def __exit__(self, *exc) -> None:
        _view_replay[0] = self.prev

    def clone(self):
        return self.__class__(self.mode)
