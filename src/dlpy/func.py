"""``torch.func`` as dlpy spells it (``dlpy.func``): function transforms and ``functional_call``.

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)  # one gradient a sample
    d2 = grad(grad(dlpy.sin))(x)                                       # -sin(x)
    out = functional_call(model, {k: p - lr * g ...}, (x,))            # MAML with modules

The transforms take and return Tensors and never touch ``.grad``. They are built on
``dlpy.autograd.grad``: the arguments to differentiate enter as fresh leaves (through a
recorded identity when they already require gradients), and the gradients are recorded
(create_graph) only when the function's graph reaches a tensor an enclosing transform or the
caller differentiates (an outer ``grad``'s leaves, a model's Parameters it closes over), so
``grad(grad(f))`` and ``jacrev(jacrev(f))`` work and a plain ``grad(f)`` pays for a
first-order pass only. Arguments and outputs may be nested tuples, lists and dicts of Tensors.

``vmap`` is vectorised (``dlpy.func_batching``: a batching rule per op) and falls back to one
call per sample where the function reads a batched value. ``jacrev`` vmaps the vjp over the
basis of cotangents, as torch.func: one batched backward pass for all of an output's rows
(one pass per row where a backward cannot be batched). ``jvp`` is forward mode
(``dlpy.forward_ad``), ``jacfwd`` vmaps it over the basis of tangents and ``hessian`` is
jacfwd over a gradient (forward over reverse), as torch.func; ``linearize`` keeps the
double-vjp trick (func runs once; each jvp_fn call is one backward pass).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from dlpy import autograd as _autograd
from dlpy import forward_ad as _forward
from dlpy import func_batching as _batching
from dlpy import random as _random
from dlpy.autograd import grad as _autograd_grad
from dlpy.autograd_functional import _implicit_seed, _leaves
from dlpy.ops import ArgDtypeError, ArgError
from dlpy.ops.rearrange import expand
from dlpy.ops.shape import Transpose, stack
from dlpy.tensor import (
    Tensor,
    _check_grad_output,
    _topological_order,
    enable_grad,
    inference_mode,
    is_floating_dtype,
    is_grad_enabled,
)

__all__ = ["debug_unwrap", "functional_call", "functionalize", "grad", "grad_and_value",
           "hessian", "jacfwd", "jacrev", "jvp", "linearize", "replace_all_batch_norm_modules_",
           "rearrange", "stack_module_state", "vjp", "vmap"]

_TREE = "Tensors (or nested tuples, lists and dicts of them)"


class _ChunkSizeError(ValueError, TypeError):
    """jacrev's chunk_size not an int: torch's TypeError (it computes with it), dlpy's
    ValueError."""


class _NotAModuleError(TypeError, AttributeError):
    """A module argument that is not an nn.Module: torch's AttributeError (it reads the
    module's attributes), dlpy's TypeError."""


class _DictsError(TypeError, ValueError):
    """functional_call's parameter_and_buffer_dicts not a dict or a tuple/list of dicts:
    torch's ValueError, dlpy's TypeError."""


class _NotASubmoduleError(AttributeError, TypeError):
    """A functional_call key whose path goes through an attribute that is not a submodule:
    torch's TypeError, dlpy's AttributeError."""


class _NamesDifferError(RuntimeError, KeyError):
    """stack_module_state's models with different parameter/buffer names: torch's KeyError
    (it looks the first model's names up in the others), dlpy's RuntimeError."""


# ----------------------------------------------------------------------------- pytrees
def _flatten(tree) -> tuple[list, Any]:
    """The leaves of a nested tuple/list/dict (anything else, None too, is a leaf) and the
    structure that ``_unflatten`` rebuilds it from."""
    leaves: list = []

    def walk(node):
        if isinstance(node, dict):
            return ("dict", type(node), list(node), [walk(v) for v in node.values()])
        if isinstance(node, (tuple, list)):
            return ("seq", type(node), [walk(v) for v in node])
        leaves.append(node)
        return None

    return leaves, walk(tree)


def _unflatten(spec, leaves):
    leaves = iter(leaves)

    def build(node):
        if node is None:
            return next(leaves)
        if node[0] == "dict":
            _, cls, keys, children = node
            return cls(zip(keys, [build(c) for c in children]))
        _, cls, children = node
        values = [build(c) for c in children]
        return cls(*values) if hasattr(cls, "_fields") else cls(values)  # a namedtuple

    return build(spec)


def _prefix_leaves(name: str, what: str, prefix, tree) -> list:
    """One entry of ``prefix`` (in_dims, out_dims) per leaf of ``tree``: an int or None stands
    for a whole subtree, as torch's pytree prefixes."""
    if isinstance(prefix, bool):  # torch: a TypeError for an in_dim, 0/1 for an out_dim
        if what == "in_dims":
            raise TypeError(f"{name}: an in_dim must be an int or None, got {prefix!r}")
        prefix = int(prefix)
    if prefix is None or isinstance(prefix, int):
        return [prefix] * len(_flatten(tree)[0])
    if what == "out_dims" and isinstance(tree, Tensor) and type(prefix) is tuple \
            and len(prefix) == 1:  # torch's edge case: out_dims=(d,) for one Tensor
        return _prefix_leaves(name, what, prefix[0], tree)
    if isinstance(prefix, dict) and isinstance(tree, dict) and set(prefix) == set(tree):
        return [d for k in tree for d in _prefix_leaves(name, what, prefix[k], tree[k])]
    if isinstance(prefix, (tuple, list)) and isinstance(tree, (tuple, list)) \
            and isinstance(prefix, list) == isinstance(tree, list) and len(prefix) == len(tree):
        return [d for p, t in zip(prefix, tree) for d in _prefix_leaves(name, what, p, t)]
    raise ValueError(f"{name}: {what} {prefix!r} must be an int, None, or a tuple/list/dict "
                     f"of them matching the structure of its value, got {_describe(tree)}")


def _describe(tree) -> str:
    if isinstance(tree, Tensor):
        return f"a Tensor of shape {tree.shape}"
    if isinstance(tree, dict):
        return f"a dict with keys {list(tree)}"
    if isinstance(tree, (tuple, list)):
        return f"a {type(tree).__name__} of {len(tree)}"
    return f"a {type(tree).__name__}"


def _tensor_leaves(name: str, what: str, tree, error: type = ValueError
                   ) -> tuple[list[Tensor], Any]:
    """The leaves of ``tree``, all Tensors, else ``error`` (torch's classes: ValueError for
    an input, RuntimeError for an output or aux)."""
    leaves, spec = _flatten(tree)
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise error(f"{name}: {what} must be {_TREE}, got {type(leaf).__name__}")
    return leaves, spec


def _split_aux(name: str, result):
    """(output, aux) of a has_aux function's result; aux must hold only Tensors (torch's
    RuntimeError)."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise RuntimeError(f"{name}: with has_aux=True the function must return an "
                           f"(output, aux) tuple, got {_describe(result)}")
    _tensor_leaves(name, "aux", result[1], RuntimeError)
    return result


# ----------------------------------------------------------------------------- levels
def _argnums(name: str, argnums) -> tuple[int, ...]:
    items = argnums if isinstance(argnums, tuple) else (argnums,)
    for a in items:
        if not isinstance(a, (int, np.integer)):  # (a bool is an int, as torch's)
            raise RuntimeError(f"{name}: argnums must be an int or a tuple of ints, got "
                               f"{argnums!r}")
    if not items:
        raise RuntimeError(f"{name}: argnums must not be an empty tuple")
    return tuple(int(a) for a in items)


def _check_argnums(name: str, argnums: tuple[int, ...], num_args: int) -> tuple[int, ...]:
    checked = []
    for a in argnums:
        if not -num_args <= a < num_args:
            raise RuntimeError(f"{name}: argnum={a} is out of range for {num_args} "
                               "positional argument(s)")
        checked.append(a % num_args)
    if len(set(checked)) != len(checked):
        raise RuntimeError(f"{name}: argnums {argnums} names an argument twice")
    return tuple(checked)


# the fresh leaves a level made for its constant arguments, once its func has returned (by id,
# the tensor held weakly): constants to every other level from then on (a vjp_fn or jvp_fn
# called later inside another transform), so they never count as reaching outside; while the
# func runs they are the variables of the transforms nested in it
_FRESH: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _reaching_outside(tensors, own: set[int]) -> set[int]:
    """The ids of the tensors (among ``tensors`` and their graphs) with a path to a tensor
    needing gradients that this transform did not make: an enclosing transform's leaf, or one
    the function closes over. Only those are differentiated from outside."""
    roots = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
    reaching: set[int] = set()
    if roots:
        for node in _topological_order(roots):  # each node after its inputs
            if node.op is None:
                if id(node) not in own and _FRESH.get(id(node)) is not node:
                    reaching.add(id(node))
            elif any(id(p) in reaching for p in node.op.inputs):
                reaching.add(id(node))
    return reaching


class _Level:
    """One transform's call of ``func``: the differentiated arguments' leaves, the outputs, and
    whether the graph reaches outside (then the gradients are recorded, create_graph)."""

    def __init__(self, name: str, func: Callable, args: tuple, kwargs: dict,
                 argnums: tuple[int, ...], has_aux: bool):
        self.name = name
        argnums = _check_argnums(name, argnums, len(args))
        self.outer = is_grad_enabled()  # under no_grad the results are constants (as torch)
        self.specs, inputs, bounds = [], [], [0]
        for a in argnums:
            leaves, spec = _tensor_leaves(name, f"argument {a}", args[a])
            self.specs.append(spec)
            inputs += leaves
            bounds.append(len(inputs))
        # inside a vectorised vmap: the leaves are physical (every level's batch axis in
        # front, an unbatched argument broadcast), so each sample gets its own gradient
        self.batched = bool(_batching.batch_sizes())
        if self.batched and name not in ("grad", "grad_and_value"):
            raise _batching.Unbatchable(f"{name} inside a vectorised vmap")
        raw = inputs
        if self.batched:
            inputs = [_carried(_batching.to_physical, t) for t in inputs]
        with inference_mode(False):  # fresh leaves, not inference tensors (as torch.func's)
            self.leaves = list(_leaves(name, tuple(inputs), self.outer))
        if _forward.active():  # a grad inside a jvp: the leaves carry the tangents on
            for t, leaf in zip(inputs if self.batched else raw, self.leaves):
                _forward.carry(t, leaf)  # (batched: the physical inputs hold the tangents)
        self.own = {id(t) for t in self.leaves if t.op is None}
        given = ([_carried(_batching.from_physical, t) for t in self.leaves] if self.batched
                 else self.leaves)
        args = list(args)
        for k, a in enumerate(argnums):
            args[a] = _unflatten(self.specs[k], given[bounds[k]:bounds[k + 1]])
        self.bounds = bounds
        depth = sys.modules["dlpy.tensor"]._transform_depth
        depth[0] += 1  # backward() is refused while func runs, as torch.func refuses it
        try:
            with inference_mode(False), enable_grad():  # (torch.func runs func recording)
                result = func(*args, **kwargs)
        finally:
            depth[0] -= 1
        for t in self.leaves:  # constants to any other level from now on (see _FRESH)
            if t.op is None:
                _FRESH[id(t)] = t
        self.aux = None
        if has_aux:
            result, self.aux = _split_aux(name, result)
        if self.batched:
            result, self.aux = (_map_tensors(_carrying(_batching.to_physical), tree)
                                for tree in (result, self.aux))
        self.output = result
        flat = _flatten(result)[0] + _flatten(self.aux)[0]
        self.tracked = self.outer and bool(_reaching_outside(flat, self.own))

    def vjp(self, outputs: list[Tensor], cotangents: list, wrt: list[Tensor] | None = None,
            create_graph: bool | None = None, retain_graph: bool = False) -> list[Tensor]:
        """sum_i outputs[i] . cotangents[i] differentiated with respect to ``wrt`` (the
        leaves); zeros where an output does not depend on a leaf."""
        wrt = self.leaves if wrt is None else wrt
        create_graph = self.tracked if create_graph is None else create_graph
        # inside a jvp the gradients are computed with ops, which carry the tangents on
        create_graph = create_graph or _forward.active()
        roots = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
        grads: tuple = (None,) * len(wrt)
        if roots:
            grads = _autograd_grad([o for o, _ in roots], wrt, [c for _, c in roots],
                                   retain_graph=retain_graph or create_graph,
                                   create_graph=create_graph, allow_unused=True)
        return [Tensor(np.zeros(t.shape, dtype=t.dtype)) if g is None else g
                for g, t in zip(grads, wrt)]

    def by_argument(self, flat: list, is_tuple: bool):
        """Per-leaf values regrouped as the differentiated arguments (a tuple with tuple
        argnums)."""
        trees = tuple(_unflatten(spec, flat[self.bounds[k]:self.bounds[k + 1]])
                      for k, spec in enumerate(self.specs))
        return trees if is_tuple else trees[0]

    def results(self, tree, extra_own: set[int] = frozenset(), tracked: bool | None = None):
        """``tree`` as the transform returns it: Tensors that reach outside keep their graph,
        the others become constants (torch's unwrapping of a level). ``tracked``: whether
        anything may reach outside (the level's own flag by default; a vjp_fn's cotangents
        needing gradients make it so too)."""
        leaves, spec = _flatten(tree)
        own = self.own | extra_own
        tracked = self.tracked if tracked is None else tracked
        reaching = _reaching_outside(leaves, own) if tracked else set()

        def unwrapped(t: Tensor) -> Tensor:  # a tangent too: a constant unless it reaches out
            if not t.requires_grad or (tracked and _reaching_outside([t], own)):
                return t
            return _carried(_constant, t, unwrapped)

        tree = _unflatten(spec, [leaf if not isinstance(leaf, Tensor) or id(leaf) in reaching
                                 or not leaf.requires_grad else _carried(_constant, leaf,
                                                                         unwrapped)
                                 for leaf in leaves])
        return _map_tensors(_carrying(_batching.from_physical), tree) if self.batched else tree

    def sample_shape(self, t: Tensor) -> tuple[int, ...]:
        """An output's shape for one sample (without the vmap levels' batch axes)."""
        return t.shape[len(_batching.batch_sizes()):] if self.batched else t.shape


_SAME = object()


def _constant(t: Tensor) -> Tensor:
    return Tensor(t.data)


def _carried(function: Callable, t: Tensor, convert: Callable | None = _SAME) -> Tensor:
    """function(t), a new tensor of t's value, with t's forward-mode tangents (converted by
    ``convert``, function itself by default)."""
    out = function(t)
    if not _forward.active():
        return out
    return _forward.carry(t, out, function if convert is _SAME else convert)


def _carrying(function: Callable) -> Callable:
    return lambda t: _carried(function, t)


def _map_tensors(function: Callable, tree):
    leaves, spec = _flatten(tree)
    return _unflatten(spec, [function(x) if isinstance(x, Tensor) else x for x in leaves])


def _output_leaves(level: _Level, floating: bool = False) -> tuple[list[Tensor], Any]:
    """The outputs' Tensors; with ``floating`` (vjp, jacrev) each must be floating point or
    complex (torch's RuntimeError)."""
    leaves, spec = _tensor_leaves(level.name, "the function's output", level.output,
                                  RuntimeError)
    for o in leaves if floating else ():
        if not (is_floating_dtype(o.dtype) or o.dtype.kind == "c"):
            raise RuntimeError(f"{level.name}: every output of the function must be a floating "
                               f"point or complex Tensor, got one of dtype {o.dtype}")
    return leaves, spec


def _cotangents(name: str, what: str, given, outputs: list[Tensor], spec) -> list:
    """``given`` checked against ``outputs`` (same structure and shapes): Tensors that require
    gradients are kept (the products then depend on them), anything else becomes an array; a
    None cotangent stands for ones at a one-element output (torch's implicit gradient)."""
    leaves, given_spec = _flatten(given)
    if given_spec != spec:  # torch's class: RuntimeError
        raise RuntimeError(f"{name}: the {what} must have the structure of the "
                         f"{'primals' if what == 'tangents' else 'output'}, got "
                         f"{_describe(given)}")
    out = []
    for i, (c, o) in enumerate(zip(leaves, outputs)):
        if what == "cotangents" and c is None:  # torch's implicit ones, for one element only
            if o.data.size != 1:
                raise RuntimeError(f"{name}: cotangents[{i}] is None, which stands for ones "
                                   f"only for a one-element output, got shape {o.shape}")
            _implicit_seed(o)
            c = np.ones(o.shape, dtype=o.dtype)
        elif what == "cotangents" and not isinstance(c, (Tensor, np.ndarray)):  # a TypeError
            raise ArgDtypeError(f"{name}: cotangents[{i}] must be a Tensor or None, got "
                                f"{type(c).__name__}")
        elif what == "cotangents":  # complex exactly when the output is (cast, it lost a part)
            _check_grad_output(name, c, o.dtype, i)
        array = np.asarray(c.data if isinstance(c, Tensor) else c, dtype=o.dtype)
        if array.shape != o.shape:
            kind = "primal" if what == "tangents" else "output"
            raise RuntimeError(f"{name}: {what}[{i}] has shape {array.shape}, the {kind} "
                             f"{o.shape}")
        out.append(c if isinstance(c, Tensor) and c.requires_grad else array)
    return out


def _any_tracked(values) -> bool:
    return is_grad_enabled() and any(isinstance(v, Tensor) and v.requires_grad for v in values)


# ----------------------------------------------------------------------------- transforms
def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False
                   ) -> Callable:
    """``func`` -> a function returning (the gradient of func's one-element output with
    respect to the arguments ``argnums``, that output); with ``has_aux`` func returns
    (output, aux) and the function (gradient, (output, aux)). The gradient has the structure
    of the argument (a tuple of them for tuple argnums)."""
    return _grad_transform("grad_and_value", func, argnums, has_aux, with_value=True)


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False
         ) -> Callable:
    """``func`` -> its gradient function, as ``torch.func.grad``: the gradient of func's
    one-element output with respect to the arguments ``argnums`` (Tensors or nested
    tuples/lists/dicts of them; a tuple of gradients for tuple argnums); with ``has_aux``
    func returns (output, aux) and the function (gradient, aux). Composes:
    ``grad(grad(f))``, ``vmap(grad(f))``."""
    return _grad_transform("grad", func, argnums, has_aux, with_value=False)


def _grad_transform(name: str, func: Callable, argnums, has_aux: bool, with_value: bool
                    ) -> Callable:
    is_tuple = isinstance(argnums, tuple)
    argnums = _argnums(name, argnums)

    def transformed(*args, **kwargs):
        level = _Level(name, func, args, kwargs, argnums, has_aux)
        out = level.output
        if not isinstance(out, Tensor):  # torch's classes here: RuntimeError
            raise RuntimeError(f"{name}: the function must return a Tensor"
                            f"{' as its first output' if has_aux else ''}, got "
                            f"{type(out).__name__}")
        if level.sample_shape(out) != ():
            raise RuntimeError(f"{name}: the function must return a scalar (one element), got "
                             f"shape {level.sample_shape(out)}; it must be a 0-d Tensor, as "
                             "torch.func's (for other outputs use vjp or jacrev)")
        _implicit_seed(out)  # ones as the gradient of a complex output: torch refuses them
        grads = level.vjp([out], [np.ones_like(out.data)])
        gradient = level.results(level.by_argument(grads, is_tuple))
        value = level.results((out, level.aux) if has_aux else out)
        if with_value:
            return gradient, value
        return (gradient, value[1]) if has_aux else gradient

    return transformed


def vjp(func: Callable, *primals, has_aux: bool = False):
    """``(func(*primals), vjp_fn)`` (and aux with ``has_aux``), as ``torch.func.vjp``:
    ``vjp_fn(cotangents)``, cotangents with the structure and shapes of the output, returns
    a tuple with the vector-Jacobian product for each primal (zeros where the output does not
    depend on it). vjp_fn can be called more than once (unless ``retain_graph=False`` is
    passed to it; ``create_graph=True`` records the products). The outputs must be floating
    point or complex."""
    name = "vjp"
    level = _Level(name, func, primals, {}, tuple(range(len(primals))), has_aux)
    outputs, spec = _output_leaves(level, floating=True)

    def vjp_fn(cotangents, retain_graph: bool = True, create_graph: bool | None = None):
        given = _cotangents(name, "cotangents", cotangents, outputs, spec)
        tracked = level.tracked or _any_tracked(given)
        if create_graph is not None:
            tracked = tracked or bool(create_graph)
        grads = level.vjp(outputs, given, create_graph=tracked, retain_graph=retain_graph)
        return level.results(level.by_argument(grads, True), tracked=tracked)

    value = level.results(level.output)
    return (value, vjp_fn, level.results(level.aux)) if has_aux else (value, vjp_fn)


def jvp(func: Callable, primals: tuple, tangents: tuple, *, strict: bool = False,
        has_aux: bool = False):
    """``(func(*primals), J tangents)`` (and aux with ``has_aux``), as ``torch.func.jvp``:
    primals and tangents are tuples of the same structure and shapes. Forward mode
    (``dlpy.forward_ad``): func runs once on dual tensors, each op pushing the tangents on by
    its JVP rule; nests (forward over forward), and a ``grad`` inside gives Hessian-vector
    products. Where an op has neither a rule nor a ``backward_graph`` the double-vjp path
    is tried instead. ``strict``: an output independent of the primals is an error (else its
    tangent is zeros)."""
    name = "jvp"
    for what, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, tuple):  # torch's class: RuntimeError
            raise RuntimeError(f"{name}: {what} must be a tuple (of {_TREE}), got "
                               f"{type(value).__name__}")
    flat, spec = _tensor_leaves(name, "primals", tuple(primals), ArgError)  # torch's RuntimeError
    if not flat:
        raise RuntimeError(f"{name}: primals must hold at least one Tensor")
    given = _tangent_leaves(name, tuple(tangents), flat, spec)
    try:
        with _forward._level() as level:
            duals = [_forward._attached(p, t if _forward.batched((p, t)) else
                                        _forward._laid_out_as(name, p, t), level)  # as make_dual's
                     for p, t in zip(flat, given)]
            result = func(*_unflatten(spec, duals))
            aux = None
            if has_aux:
                result, aux = _split_aux(name, result)
            outputs, out_spec = _tensor_leaves(name, "the function's output", result,
                                               RuntimeError)
            products = []
            for o in outputs:
                tangent = _forward.tangent_of(o, level)
                if tangent is None and strict:
                    raise RuntimeError(f"{name}: with strict=True every output must depend on "
                                       "the primals; one does not")
                products.append(Tensor(np.zeros(o.shape, dtype=o.dtype)) if tangent is None
                                else tangent)
    except NotImplementedError:  # an op with no rule and no backward_graph
        return _jvp_by_vjp(func, primals, tangents, has_aux)
    products = _unflatten(out_spec, products)
    return (result, products, aux) if has_aux else (result, products)


def _tangent_leaves(name: str, tangents: tuple, primals: list[Tensor], spec) -> list[Tensor]:
    """The tangents checked against the primals (structure, shape; a floating primal), as
    Tensors of the primal's dtype (a Tensor is kept: it may be batched or a dual itself)."""
    leaves, given_spec = _flatten(tangents)
    if given_spec != spec:
        raise RuntimeError(f"{name}: the tangents must have the structure of the primals, got "
                         f"{_describe(tangents)}")
    out = []
    for i, (t, p) in enumerate(zip(leaves, primals)):
        if not _forward._differentiable(p.dtype):
            raise ValueError(f"{name}: primals[{i}] has dtype {p.dtype}; only floating point "
                             "or complex primals have tangents")  # torch's class: ValueError
        if not isinstance(t, Tensor):
            t = Tensor(np.asarray(t, dtype=p.dtype))
        if t.shape != p.shape:  # torch's class: RuntimeError
            raise RuntimeError(f"{name}: tangents[{i}] has shape {t.shape}, the primal "
                             f"{p.shape}")
        if t.dtype != p.dtype:
            # (a complex tangent of a real primal: the cast would drop its imaginary part)
            if not _forward._differentiable(t.dtype) or (t.dtype.kind == "c"
                                                         and p.dtype.kind != "c"):
                raise ValueError(f"{name}: tangents[{i}] has dtype {t.dtype}, the primal "
                                 f"{p.dtype}")
            t = t.to(p.dtype) if hasattr(t, "to") else Tensor(t.data.astype(p.dtype))
        out.append(t)
    return out


def _jvp_by_vjp(func: Callable, primals: tuple, tangents: tuple, has_aux: bool):
    """jvp by the double-vjp trick (J v is the gradient of u -> J^T u at u = 0 with respect to
    u): the path before forward mode, kept for ops without a JVP rule or backward_graph."""
    level, jvp_fn = _linearized("jvp", func, tuple(primals), has_aux, retain_graph=False)
    products = jvp_fn(tuple(tangents))
    value = level.results(level.output)
    return (value, products, level.results(level.aux)) if has_aux else (value, products)


def _linearized(name: str, func: Callable, primals: tuple, has_aux: bool,
                retain_graph: bool, passing: bool = False):
    """func called once at ``primals`` and its J^T u recorded (u leaves at 0); returns the
    level and ``jvp_fn(tangents)``: J tangents (tangents a tuple shaped as primals), the
    gradient of that record with respect to u. ``retain_graph`` lets jvp_fn run again.
    ``passing``: the output's leaves that are not Tensors (numbers, None) are refused no more
    but passed through to the products, as torch's linearize."""
    level = _Level(name, func, primals, {}, tuple(range(len(primals))), has_aux)
    primal_spec = _flatten(primals)[1]
    if passing:
        leaves, spec = _flatten(level.output)
        outputs = [leaf for leaf in leaves if isinstance(leaf, Tensor)]
    else:
        outputs, spec = _output_leaves(level)
        leaves = outputs
    us = [Tensor(np.zeros_like(o.data), requires_grad=True) for o in outputs]
    vector_jacobian = level.vjp(outputs, us, create_graph=True) if outputs else [
        None] * len(level.leaves)  # J^T u, recorded

    def jvp_fn(tangents: tuple):
        given = _cotangents(name, "tangents", tangents, level.leaves, primal_spec)
        roots = [(g, v) for g, v in zip(vector_jacobian, given)
                 if g is not None and g.requires_grad]
        tracked = level.tracked or _any_tracked(given)
        products = iter(level.vjp([g for g, _ in roots], [v for _, v in roots], wrt=us,
                                  create_graph=tracked, retain_graph=retain_graph)
                        if us else [])
        return level.results(_unflatten(spec, [next(products) if isinstance(leaf, Tensor)
                                               else leaf for leaf in leaves]),
                             extra_own={id(u) for u in us}, tracked=tracked)

    return level, jvp_fn


def linearize(func: Callable, *primals) -> tuple[Any, Callable]:
    """``(func(*primals), jvp_fn)``, as ``torch.func.linearize``: ``jvp_fn(*tangents)``
    (tangents shaped as the primals) returns J tangents at ``primals``. func runs once; each
    jvp_fn call is one backward pass through the recorded J^T u (jvp's double-vjp trick)."""
    level, product = _linearized("linearize", func, primals, False, retain_graph=True,
                                 passing=True)

    def jvp_fn(*tangents):
        return product(tangents)

    return level.results(level.output), jvp_fn


def jacrev(func: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False,
           chunk_size: int | None = None) -> Callable:
    """``func`` -> its Jacobian function, as ``torch.func.jacrev``: for an output of shape O
    and an argument of shape I a Tensor of shape O + I; the output's structure with, at each
    output, the argument's structure (a tuple of them for tuple argnums). With ``has_aux``:
    (jacobian, aux). The vjp vmapped over the basis of cotangents: one batched backward pass
    per output (``func_batching.jacobian_rows``), or one pass per output element where a
    backward cannot be batched; ``chunk_size`` changes nothing. As torch's, the Jacobian
    function takes positional arguments only."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or
                                   not isinstance(chunk_size, int) or chunk_size < 1):
        error = ValueError if isinstance(chunk_size, int) else _ChunkSizeError
        raise error(f"jacrev: chunk_size must be None or a positive int, got {chunk_size!r}")
    return _positional(_jacobian_transform("jacrev", func, argnums, has_aux))


def _positional(transformed: Callable) -> Callable:
    """``transformed`` called with positional arguments only: torch's jacrev, jacfwd and
    hessian pass no keyword arguments on (a TypeError)."""

    def positional(*args):
        return transformed(*args)

    return positional


def jacfwd(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """``func`` -> its Jacobian function by forward mode, as ``torch.func.jacfwd``: ``jvp``
    vmapped over the basis of tangents (one column a basis vector, all in one batched pass;
    one pass per column where the function cannot be vectorised). Shapes and structure as
    ``jacrev``'s. Falls back to jacrev where an op has neither a JVP rule nor a
    backward_graph. Positional arguments only, as torch's."""
    name = "jacfwd"
    _check_randomness(name, randomness)
    is_tuple = isinstance(argnums, tuple)
    argnums = _argnums(name, argnums)

    def transformed(*args, **kwargs):
        nums = _check_argnums(name, argnums, len(args))
        specs, leaves, bounds = [], [], [0]
        for a in nums:
            tree_leaves, spec = _tensor_leaves(name, f"argument {a}", args[a])
            specs.append(spec)
            leaves += tree_leaves
            bounds.append(len(leaves))
        for i, leaf in enumerate(leaves):
            if leaf.dtype.kind == "c":  # torch's RuntimeError
                raise ArgError(f"{name}: Expected all inputs to be real but received complex "
                               f"tensor at flattened input idx: {i}")
            if not is_floating_dtype(leaf.dtype):  # torch's class: ValueError
                raise ValueError(f"{name}: input {i} has dtype {leaf.dtype}; only floating "
                                "point inputs can be differentiated")
        sizes = [leaf.data.size for leaf in leaves]
        total = sum(sizes)
        if total == 0:
            return _jacobian_transform(name, func, argnums if is_tuple else argnums[0],
                                       has_aux)(*args, **kwargs)
        offsets = np.cumsum([0] + sizes)
        basis = [Tensor(np.eye(total, dtype=leaf.dtype)[:, offsets[j]:offsets[j + 1]]
                        .reshape((total,) + leaf.shape)) for j, leaf in enumerate(leaves)]
        primals = tuple(_unflatten(specs[k], leaves[bounds[k]:bounds[k + 1]])
                        for k in range(len(nums)))

        def partial(*differentiated):
            full = list(args)
            for k, a in enumerate(nums):
                full[a] = differentiated[k]
            return func(*full, **kwargs)

        def column(*tangent_leaves):
            tangents = tuple(_unflatten(specs[k], tangent_leaves[bounds[k]:bounds[k + 1]])
                             for k in range(len(nums)))
            result = jvp(partial, primals, tangents, has_aux=has_aux)
            return (result[1], result[2]) if has_aux else result[1]

        try:
            pushed = vmap(column, out_dims=(0, None) if has_aux else 0,
                          randomness=randomness)(*basis)
        except NotImplementedError:
            return _jacobian_transform(name, func, argnums if is_tuple else argnums[0],
                                       has_aux)(*args, **kwargs)
        columns, aux = pushed if has_aux else (pushed, None)
        flat, out_spec = _tensor_leaves(name, "the function's output", columns, RuntimeError)
        blocks = []
        for o in flat:  # (total,) + out shape -> out shape + each leaf's shape
            out_shape = o.shape[1:]
            moved = _moved(o, 0, o.ndim - 1)
            block = [moved[..., offsets[j]:offsets[j + 1]].reshape(out_shape + leaf.shape)
                     if len(leaves) > 1 else moved.reshape(out_shape + leaf.shape)
                     for j, leaf in enumerate(leaves)]
            blocks.append(tuple(_unflatten(specs[k], block[bounds[k]:bounds[k + 1]])
                                for k in range(len(nums))) if is_tuple else
                          _unflatten(specs[0], block[bounds[0]:bounds[1]]))
        jacobian = _unflatten(out_spec, blocks)
        return (jacobian, aux) if has_aux else jacobian

    return _positional(transformed)


def _jacobian_transform(name: str, func: Callable, argnums, has_aux: bool) -> Callable:
    is_tuple = isinstance(argnums, tuple)
    argnums = _argnums(name, argnums)

    def transformed(*args, **kwargs):
        level = _Level(name, func, args, kwargs, argnums, has_aux)
        outputs, spec = _output_leaves(level, floating=name == "jacrev")
        blocks = []
        tracked = level.tracked or _forward.active()  # in a jvp: rows that carry tangents
        for out in outputs:
            stacked = _batching.jacobian_rows(out, level.leaves)
            if stacked is not None:  # one batched backward pass for all the rows
                blocks.append(level.by_argument(
                    [_batching.jacobian_block(g, out, leaf, tracked)
                     for g, leaf in zip(stacked, level.leaves)], is_tuple))
                continue
            rows: list[list[Tensor]] = [[] for _ in level.leaves]
            seed = np.zeros(out.data.size, dtype=out.dtype)
            for k in range(out.data.size):  # row k: the gradient of output element k
                seed[k] = 1
                grads = level.vjp([out], [seed.reshape(out.shape).copy()], retain_graph=True)
                seed[k] = 0
                for row, g in zip(rows, grads):
                    row.append(g)
            block = []
            for row, leaf in zip(rows, level.leaves):
                shape = out.shape + leaf.shape
                if not row:  # an output with no elements
                    block.append(Tensor(np.zeros(shape, dtype=leaf.dtype)))
                elif tracked:
                    block.append(stack(row).reshape(shape))
                else:
                    block.append(Tensor(np.stack([g.data for g in row]).reshape(shape)))
            blocks.append(level.by_argument(block, is_tuple))
        jacobian = level.results(_unflatten(spec, blocks))
        return (jacobian, level.results(level.aux)) if has_aux else jacobian

    return transformed


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """``func`` -> its Hessian function, ``jacfwd(jacrev(func, argnums), argnums)`` as torch's:
    forward over reverse, each column one Hessian-vector product, vmapped over the basis (a
    scalar function's jacrev is its grad, which vmap vectorises). For an argument of shape I
    a Tensor of shape I + I; for tuple argnums a tuple of tuples, block [i][j] of shape
    I_i + I_j. Positional arguments only, as torch's."""

    def gradient(*args, **kwargs):  # jacrev of a function of scalar output
        def scalar(*a, **k):
            out = func(*a, **k)
            if not isinstance(out, Tensor) or out.shape != ():
                raise _NotScalar
            return out

        return grad(scalar, argnums)(*args, **kwargs)

    def transformed(*args):
        try:
            return jacfwd(gradient, argnums)(*args)
        except _NotScalar:
            return jacfwd(jacrev(func, argnums), argnums)(*args)

    return transformed


class _NotScalar(Exception):
    """hessian's function has an output other than one scalar: jacrev, not grad, inside."""


# ----------------------------------------------------------------------------- vmap
_RANDOMNESS = ("error", "different", "same")


def _check_randomness(name: str, randomness) -> None:
    if randomness not in _RANDOMNESS:  # torch's class: RuntimeError
        raise RuntimeError(f"{name}: randomness must be one of {list(_RANDOMNESS)}, got "
                           f"{randomness!r}")


def _generator_state():
    """The default generator's state as comparable bytes (torch's layout; None before its
    first use)."""
    generator = _random._default
    return None if generator is None else generator.get_state().data.tobytes()


def _normal_dim(name: str, what: str, dim: int, ndim: int) -> int:
    if not -ndim <= dim < ndim:  # torch: ValueError for an in_dim, IndexError for an out_dim
        error = IndexError if what == "out_dim" else ValueError
        raise error(f"{name}: {what}={dim} is out of range for a Tensor with {ndim} "
                    f"dimension(s)" + ("" if ndim else " (a scalar: use None)"))
    return dim % ndim


def vmap(func: Callable, in_dims=0, out_dims=0, randomness: str = "error", *,
         chunk_size: int | None = None, _vectorize: bool = True) -> Callable:
    """``func`` mapped over a batch dimension, as ``torch.func.vmap``: ``in_dims`` (an int or
    None per positional argument, or a tuple/list/dict prefix of its structure; None: passed
    whole) says which dimension of each input is the batch, ``out_dims`` where the batch goes
    in each output. Keyword arguments are passed whole.

    Vectorised (``dlpy.func_batching``): func runs once, on batched tensors that look like one
    sample, each op on the whole batch (an op without a batching rule once per sample); where
    func reads a batched tensor's values (``.item()``, ``if x:``), func is called once per
    sample and the results stacked instead: the same results, slower. The result is recorded,
    so it can be differentiated. randomness: "different" (each sample draws on: func then runs
    once per sample), "same" (every sample gets the same draws) or "error" (a draw from the
    default generator is an error; a layer's own ``rng`` is not watched, and draws once for
    the whole batch). ``chunk_size`` changes nothing."""
    name = "vmap"
    _check_randomness(name, randomness)
    if chunk_size is not None and (isinstance(chunk_size, bool) or
                                   not isinstance(chunk_size, int) or chunk_size < 1):
        error = ValueError if isinstance(chunk_size, int) and not isinstance(chunk_size, bool) \
            else TypeError  # torch's classes
        raise error(f"{name}: chunk_size must be None or a positive int, got {chunk_size!r}")

    def mapped(*args, **kwargs):
        if in_dims is None or isinstance(in_dims, int):
            dims = [in_dims] * len(args)
        elif isinstance(in_dims, tuple) and len(in_dims) == len(args):
            dims = list(in_dims)
        else:
            raise ValueError(f"{name}: in_dims must be an int, None, or a tuple with one entry "
                             f"per positional argument ({len(args)}), got {in_dims!r}"
                             + (" (a list: give a tuple)" if isinstance(in_dims, list) else ""))
        leaves, spec = _flatten(tuple(args))
        leaf_dims = _prefix_leaves(name, "in_dims", tuple(dims), tuple(args))
        size = None
        for leaf, dim in zip(leaves, leaf_dims):
            if dim is None:
                continue
            if not isinstance(leaf, Tensor):
                raise ValueError(f"{name}: in_dim={dim} for an input of type "
                                 f"{type(leaf).__name__}; only Tensors can be mapped over "
                                 "(give None for it)")
            n = leaf.shape[_normal_dim(name, "in_dim", dim, leaf.ndim)]
            if size is not None and n != size:
                raise ValueError(f"{name}: the mapped inputs must have the same size in their "
                                 f"mapped dimension, got {size} and {n}")
            size = n
        if size is None:
            raise ValueError(f"{name}: at least one input must be a Tensor mapped over (all "
                             "in_dims are None or no Tensor was given)")
        if randomness == "same":
            _random._default_generator()  # made now, so that every sample starts from one state
        start = _generator_state()
        if _vectorize:
            try:
                out = _vectorised(name, func, kwargs, leaves, leaf_dims, spec, size, out_dims,
                                  randomness)
            except _batching.Unbatchable:
                _batching.stats["vmap_loops"] = _batching.stats.get("vmap_loops", 0) + 1
                _rewind(start)
            else:
                if _generator_state() == start or randomness == "same":
                    return out
                if randomness == "error":
                    raise RuntimeError(f"{name}: func drew from the default random generator "
                                       "with randomness='error'; pass randomness='different' "
                                       "or 'same'")
                _rewind(start)  # "different": each sample draws on, as the loop does
        if not size:  # no sample: one of zeros gives the outputs' structure, shapes and dtypes
            zeros = [leaf if dim is None else Tensor(np.zeros(
                leaf.shape[:dim % leaf.ndim] + leaf.shape[dim % leaf.ndim + 1:], leaf.data.dtype))
                for leaf, dim in zip(leaves, leaf_dims)]
            out = func(*_unflatten(spec, zeros), **kwargs)
            return _stack_samples(name, [_flatten(out)], out_dims, none=True)
        samples = []
        for i in range(size):
            sliced = [leaf if dim is None else leaf[(slice(None),) * (dim % leaf.ndim) + (i,)]
                      for leaf, dim in zip(leaves, leaf_dims)]
            if randomness == "same" and start is not None:
                _rewind(start)
            before = _generator_state() if randomness == "error" else None
            keep = i < size - 1  # autograd.grad in func keeps the graph for the next sample
            _autograd._keep_graph[0] += keep
            try:
                out = func(*_unflatten(spec, sliced), **kwargs)
            finally:
                _autograd._keep_graph[0] -= keep
            if randomness == "error" and _generator_state() != before:
                raise RuntimeError(f"{name}: func drew from the default random generator with "
                                   "randomness='error'; pass randomness='different' or 'same'")
            samples.append(_flatten(out))
        return _stack_samples(name, samples, out_dims)

    return mapped


def _rewind(state) -> None:
    """The default generator back at ``state`` (None: not made yet)."""
    if state is None:
        _random._default = None
    else:
        _random._default.set_state(Tensor(np.frombuffer(state, np.uint8).copy()))


def _moved(t: Tensor, source: int, destination: int) -> Tensor:
    """t with axis ``source`` moved to ``destination`` (a recorded op; t itself if in place)."""
    if source == destination:
        return t
    axes = [a for a in range(t.ndim) if a != source]
    axes.insert(destination, source)
    return Transpose(tuple(axes))(t)


def _vectorised(name: str, func: Callable, kwargs: dict, leaves: list, leaf_dims: list, spec,
                size: int, out_dims, randomness: str = "error"):
    """vmap's one call of func on batched tensors (a new level of func_batching)."""
    with _batching.batching(size, randomness) as level:
        mapped = [leaf if dim is None else
                  _batching.wrap(_moved(leaf, dim % leaf.ndim, 0), level)
                  for leaf, dim in zip(leaves, leaf_dims)]
        out = _batching.swapped(func)(*_unflatten(spec, mapped), **kwargs)
        flat, out_spec = _flatten(out)
        dims = _prefix_leaves(name, "out_dims", out_dims, out)
        return _unflatten(out_spec, [_unmapped(name, j, x, dim, level, size)
                                     for j, (x, dim) in enumerate(zip(flat, dims))])


def _unmapped(name: str, j: int, x, dim, level: int, size: int) -> Tensor:
    """Output ``j`` of the vectorised call with its batch axis at ``dim``."""
    if not isinstance(x, Tensor):  # torch's class: ValueError
        raise ValueError(f"{name}: func must return {_TREE}, got {type(x).__name__}")
    if type(x) is _batching.BatchedTensor and x.level == level:
        value = x.value
        if dim is None:
            if type(value) is not Tensor:
                raise _batching.Unbatchable(f"{name}: out_dims=None for a value batched at an "
                                            "outer level")
            if any(not np.array_equal(row, value.data[0]) for row in value.data[1:]):
                raise ValueError(f"{name}: out_dims=None for output {j}, which differs "
                                 "between samples")
            return value[0]
        return _moved(value, 0, _normal_dim(name, "out_dim", dim, value.ndim))
    if dim is None:
        return x
    dim = _normal_dim(name, "out_dim", dim, x.ndim + 1)
    shape = x.shape[:dim] + (size,) + x.shape[dim:]
    return expand(x.reshape(x.shape[:dim] + (1,) + x.shape[dim:]), shape)


def _stack_samples(name: str, samples: list, out_dims, none: bool = False):
    """The samples' outputs stacked along out_dims; ``none``: the one sample stands for no
    sample (an empty batch), the outputs are empty along out_dims."""
    first, spec = samples[0]
    if any(s != spec for _, s in samples[1:]):
        raise RuntimeError(f"{name}: func returned outputs of different structures for "
                           "different samples (data-dependent: torch refuses it)")
    dims = _prefix_leaves(name, "out_dims", out_dims, _unflatten(spec, first))
    stacked = []
    for j, dim in enumerate(dims):
        column = [leaves[j] for leaves, _ in samples]
        for value in column:
            if not isinstance(value, Tensor):
                raise ArgError(f"{name}: func must return {_TREE}, got "
                               f"{type(value).__name__}")
        if dim is None:
            if any(not np.array_equal(v.data, column[0].data) for v in column[1:]):
                raise ValueError(f"{name}: out_dims=None for output {j}, which differs "
                                 "between samples")
            stacked.append(column[0])
            continue
        shapes = {v.shape for v in column}
        if len(shapes) != 1:
            raise RuntimeError(f"{name}: output {j} has different shapes for different "
                               f"samples: {sorted(shapes)} (data-dependent: torch refuses it)")
        dim = _normal_dim(name, "out_dim", dim, column[0].ndim + 1)
        stacked.append(stack(column, axis=dim)[(slice(None),) * dim + (slice(0, 0),)] if none
                       else stack(column, axis=dim))
    return _unflatten(spec, stacked)


# ----------------------------------------------------------------------------- modules
_MISSING = object()


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights: bool = True, strict: bool = False):
    """``module(*args, **kwargs)`` with the given tensors in place of its parameters and
    buffers (by dotted name, ``"0.weight"``), as ``torch.func.functional_call``; the originals
    are put back afterwards, even when the call raises. ``parameter_and_buffer_dicts``: a dict
    or a tuple of dicts (with no key twice). ``tie_weights``: a value given for one name of a
    tied (shared) parameter replaces it under all its names. ``strict``: every parameter and
    buffer must be given, and nothing else. A buffer is the given Tensor itself (a numpy
    array is wrapped, not copied), so in-place updates, BatchNorm's running statistics, land
    in it, as torch's."""
    from dlpy.nn.module import Module

    name = "functional_call"
    if not isinstance(module, Module):
        raise _NotAModuleError(f"{name}: module must be a dlpy.nn.Module, got "
                               f"{type(module).__name__}")
    dicts = _dicts(name, parameter_and_buffer_dicts)
    given = {k: v for d in dicts for k, v in d.items()}
    named = _named_tensors(module)
    if tie_weights:
        given = _untied(name, named, given)
    if strict:
        missing = [k for k in named if k not in given]
        unexpected = [k for k in given if k not in named]
        if missing or unexpected:  # torch's class and wording
            lines = [f"{what} key(s): {', '.join(repr(k) for k in keys)}."
                     for what, keys in (("Unexpected", unexpected), ("Missing", missing)) if keys]
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t"
                               + "\n\t".join(lines))
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    swapped = []  # (owner, attr, kind, original, installed)
    try:
        for key, value in given.items():
            swapped.append(_swap(name, module, key, value))
        return module(*args, **(kwargs or {}))
    finally:
        for owner, attr, kind, original, installed in reversed(swapped):
            current = owner.__dict__.get(attr, _MISSING)
            if kind is not None:
                dict.__setitem__(getattr(owner, kind), attr, original)
            if original is _MISSING:
                owner.__dict__.pop(attr, None)
            else:
                owner.__dict__[attr] = original
            if kind == "_buffers" and current is not _MISSING:
                _write_back(dicts, owner, attr, current, installed, module)


def _dicts(name: str, value) -> list[dict]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, (tuple, list)) and all(isinstance(d, dict) for d in value):
        repeated = sorted({k for i, d in enumerate(value) for k in d
                           if any(k in e for e in value[i + 1:])})
        if repeated:
            raise ValueError(f"{name}: keys {repeated} appear in more than one dict")
        return list(value)
    raise _DictsError(f"{name}: parameter_and_buffer_dicts must be a dict or a tuple of dicts "
                      f"(of name -> Tensor), got {_describe(value)}")


def _named_tensors(module) -> dict[str, Any]:
    """Every parameter and buffer under every name it has (a shared one more than once)."""
    named = {}
    for prefix, owner in module.named_modules(remove_duplicate=False):
        for registry in (owner._parameters, owner.__dict__.get("_buffers", {})):
            for attr, value in registry.items():
                if value is not None:
                    named[f"{prefix}.{attr}" if prefix else attr] = value
    return named


def _untied(name: str, named: dict, given: dict) -> dict:
    """``given`` with, for each name of a tied tensor given, the same value under its other
    names (an error when two of them are given different values)."""
    groups: dict[int, list[str]] = {}
    for key, value in named.items():
        groups.setdefault(id(value), []).append(key)
    untied = dict(given)
    for keys in groups.values():
        present = [k for k in keys if k in given]
        if len(keys) < 2 or not present:
            continue
        if len({id(given[k]) for k in present}) > 1:
            raise ValueError(f"{name}: got different values for the tied keys {sorted(keys)}; "
                             "give one of them, or pass tie_weights=False")
        for k in keys:
            untied[k] = given[present[0]]
    return untied


def _swap(name: str, module, key: str, value):
    from dlpy.nn.module import Module, _as_buffer

    if not isinstance(key, str) or not key:  # torch's KeyError for ""
        raise KeyError(f"{name}: a key must be a non-empty name, got {key!r}")
    path, _, attr = key.rpartition(".")
    owner = module
    for part in path.split(".") if path else ():
        child = owner._modules.get(part, _MISSING)
        if child is _MISSING:
            child = getattr(owner, part, _MISSING)
        if child is _MISSING or child is None:
            raise AttributeError(f"{name}: no submodule for key {key!r}: "
                                 f"{type(owner).__name__} has no attribute `{part}`")
        if not isinstance(child, Module):
            raise _NotASubmoduleError(f"{name}: no submodule for key {key!r}: `{part}` is not "
                                      "an nn.Module")
        owner = child
    if value is not None and not isinstance(value, Tensor):
        if not isinstance(value, np.ndarray) or attr not in owner.__dict__.get("_buffers", {}):
            raise TypeError(f"{name}: the value for {key!r} must be a dlpy Tensor, got "
                            f"{type(value).__name__}")
    original = owner.__dict__.get(attr, _MISSING)
    if attr in owner._parameters:
        kind = "_parameters"
    elif attr in owner.__dict__.get("_buffers", {}):
        kind = "_buffers"
        if isinstance(value, _batching.BatchedTensor):  # its statistics per sample: in place
            raise _batching.Unbatchable(f"{name}: buffer {key!r} batched inside a vectorised "
                                        f"vmap")  # (vmap calls the function once per sample)
        value = _as_buffer(value)
    else:
        kind = None
        if isinstance(getattr(type(owner), attr, None), property):
            raise ValueError(f"{name}: {key!r} is computed (a parametrization?); give its "
                             f"underlying tensor, e.g. '{path + '.' if path else ''}"
                             f"parametrizations.{attr}.original'")
        if attr in owner._modules:
            raise ValueError(f"{name}: {key!r} is a submodule, not a tensor")
        if original is not _MISSING and original is not None \
                and not isinstance(original, Tensor):  # torch's TypeError
            raise TypeError(f"{name}: attribute {key!r} is a {type(original).__name__}, not a "
                            "Tensor")
    if kind is not None:  # (the table itself: the instance's copy is set here, as it was)
        dict.__setitem__(getattr(owner, kind), attr, value)
    owner.__dict__[attr] = value
    return owner, attr, kind, original, value


def _write_back(dicts: list[dict], owner, attr: str, current, installed, module) -> None:
    """A buffer the module replaced during the call (``self.buffer = new``; for one given as a
    numpy array, also ``self.buffer.data = new``): the new value goes into the caller's dict,
    as torch's."""
    array = current.data if isinstance(current, Tensor) else current
    for prefix, m in module.named_modules(remove_duplicate=False):
        if m is owner:
            key = f"{prefix}.{attr}" if prefix else attr
            for d in dicts:
                if key not in d:
                    continue
                if isinstance(d[key], Tensor):
                    if current is not installed:
                        d[key] = current if isinstance(current, Tensor) else Tensor(current)
                elif array is not d[key]:
                    d[key] = array


def functionalize(func: Callable, *, remove: str = "mutations") -> Callable:
    """``func`` with its mutations (and, for ``remove='mutations_and_views'``, its views)
    removed, as ``torch.func.functionalize``. dlpy runs eagerly and has no traced program to
    rewrite, so the result computes what ``func`` computes, input mutations included (torch
    copies those back to the inputs too)."""
    if remove not in ("mutations", "mutations_and_views"):
        raise ArgError("functionalize: expected remove='mutations' or "
                       f"'mutations_and_views', got {remove!r}")

    def functionalized(*args, **kwargs):
        return func(*args, **kwargs)

    functionalized.__name__ = getattr(func, "__name__", "functionalized")
    functionalized.__doc__ = getattr(func, "__doc__", None)
    return functionalized


def stack_module_state(models) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)`` for ensembling with ``vmap``, as ``torch.func.stack_module_state``:
    each parameter (buffer) of same-class models in the same mode stacked along a new first
    axis, by ``named_parameters`` (``named_buffers``) name. The stacked parameters are new
    leaves (requiring gradients when the models' do), unconnected to the models'.

        params, buffers = stack_module_state(models)
        out = vmap(lambda p, b, x: functional_call(models[0], (p, b), (x,)),
                   in_dims=(0, 0, None))(params, buffers, x)      # (len(models), ...)"""
    from dlpy.nn.module import Module

    name = "stack_module_state"
    if not hasattr(models, "__len__"):  # torch's TypeError: a sequence of models
        raise TypeError(f"{name}: models must be a sequence (a list) of modules, got "
                        f"{type(models).__name__}")
    models = list(models)
    if not models:
        raise RuntimeError(f"{name}: expected at least one model, got 0")
    for m in models:
        if not isinstance(m, Module):
            raise _NotAModuleError(f"{name}: expected dlpy.nn.Modules, got {type(m).__name__}")
    if len({m.training for m in models}) > 1:
        raise RuntimeError(f"{name}: expected all models in the same training/eval mode")
    if len({type(m) for m in models}) > 1:
        raise RuntimeError(f"{name}: expected models of one class, got "
                         f"{sorted({type(m).__name__ for m in models})}")

    def stacked(named: list[dict], key: str, is_parameter: bool) -> Tensor:
        values = [n[key] for n in named]
        shapes = {np.shape(v.data if isinstance(v, Tensor) else v) for v in values}
        if len(shapes) > 1:
            raise RuntimeError(f"{name}: {key} has different shapes across the models: "
                             f"{sorted(shapes)}")
        requires_grad = {v.requires_grad for v in values} if is_parameter else {False}
        if len(requires_grad) > 1:
            raise RuntimeError(f"{name}: expected {key} of every model to have the same "
                             "requires_grad")
        array = np.stack([np.asarray(v.data if isinstance(v, Tensor) else v) for v in values])
        return Tensor(array, requires_grad=requires_grad.pop())

    named_params = [dict(m.named_parameters()) for m in models]
    named_buffers = [dict(m.named_buffers()) for m in models]
    for kind, named in (("parameters", named_params), ("buffers", named_buffers)):
        if any(list(n) != list(named[0]) for n in named):
            raise _NamesDifferError(f"{name}: the models' {kind} differ in names")
    params = {k: stacked(named_params, k, True) for k in named_params[0]}
    buffers = {k: stacked(named_buffers, k, False) for k in named_buffers[0]
               if named_buffers[0][k] is not None}
    return params, buffers


def replace_all_batch_norm_modules_(root):
    """``root`` with every batch-norm layer in it (``root`` too) changed in place to keep no
    running statistics (``running_mean`` / ``running_var`` / ``num_batches_tracked`` None,
    ``track_running_stats`` False), as ``torch.func.replace_all_batch_norm_modules_``: such a
    layer then normalises with the batch's statistics, so it can run under ``vmap``."""
    from dlpy.nn.norm import _BatchNorm

    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root


def _rearrange_side(pattern: str, side: str) -> list[list[str]]:
    """One side of a rearrange pattern: its dims, each a list of axis names (one name, or the
    names of a parenthesised group; '...' for the dims an ellipsis stands for)."""
    groups, group = [], None
    for token in side.replace("(", " ( ").replace(")", " ) ").split():
        if token == "(":
            if group is not None:
                raise ArgError(f"rearrange: nested parentheses in {pattern!r}")
            group = []
        elif token == ")":
            if group is None:
                raise ArgError(f"rearrange: unbalanced parentheses in {pattern!r}")
            groups.append(group)
            group = None
        elif token != "..." and not token.isidentifier():
            raise ArgError(f"rearrange: invalid axis name {token!r} in {pattern!r}")
        elif group is not None:
            group.append(token)
        else:
            groups.append([token])
    if group is not None:
        raise ArgError(f"rearrange: unbalanced parentheses in {pattern!r}")
    return groups


def rearrange(tensor, pattern: str, **axes_lengths: int) -> Tensor:
    """torch.func.rearrange (einops' rearrange): reorders, merges and splits the dims of
    ``tensor`` (or of a stacked list/tuple of tensors) as ``pattern`` says, e.g.
    ``"b h w c -> b (c h w)"`` or ``"b (h1 h) w c -> (b h1) h w c"`` with ``h1=2``; a
    group split on the left needs the sizes of all but one of its axes in ``axes_lengths``;
    ``...`` stands for the dims not named. Every name on one side must be on the other."""
    if isinstance(tensor, (list, tuple)):
        tensor = stack(list(tensor))
    if pattern.count("->") != 1:
        raise ArgError(f"rearrange: the pattern must hold exactly one '->', got {pattern!r}")
    left, right = (_rearrange_side(pattern, side) for side in pattern.split("->"))
    names_left = [n for g in left for n in g]
    names_right = [n for g in right for n in g]
    if len(set(names_left)) != len(names_left) or sorted(names_left) != sorted(names_right):
        raise ArgError(f"rearrange: each axis must appear once on each side of {pattern!r}")
    shape = list(tensor.shape)
    if "..." in names_left:
        at = next(i for i, g in enumerate(left) if "..." in g)
        if left[at] != ["..."]:
            raise ArgError(f"rearrange: an ellipsis cannot be in a group in {pattern!r}")
        count = len(shape) - (len(left) - 1)
        dots = [f"...{i}" for i in range(max(count, 0))]
        left = left[:at] + [[d] for d in dots] + left[at + 1:]
        right = [h for g in right  # a lone "..." stays apart, one in a group is merged
                 for h in ([[d] for d in dots] if g == ["..."] else
                           [[d for n in g for d in (dots if n == "..." else [n])]])]
    if len(left) != len(shape):
        raise ArgError(f"rearrange: {pattern!r} names {len(left)} dims, the tensor has "
                       f"{len(shape)}")
    sizes = {n: int(v) for n, v in axes_lengths.items()}
    for group, size in zip(left, shape):
        unknown = [n for n in group if n not in sizes]
        known = int(np.prod([sizes[n] for n in group if n in sizes]))
        if len(unknown) > 1:
            raise ArgError(f"rearrange: cannot infer the sizes of {unknown} in {pattern!r}")
        if unknown:
            if known == 0 or size % known:
                raise ArgError(f"rearrange: dim of size {size} cannot be split by {known}")
            sizes[unknown[0]] = size // known
        elif known != size:
            raise ArgError(f"rearrange: dim of size {size} does not match {group} = {known}")
    atoms = [n for g in left for n in g]
    order = [atoms.index(n) for g in right for n in g]
    out = tensor.reshape([sizes[n] for n in atoms]).permute(order)
    return out.reshape([int(np.prod([sizes[n] for n in g])) for g in right])


def debug_unwrap(tensor, *, recurse: bool = True):
    """torch.func.debug_unwrap: inside ``vmap``, the plain tensor a batched one stands for (the
    batch axis first; with ``recurse``, through every vmap level, else one level); any other
    tensor is returned as it is (TypeError for a non-tensor, as torch's). For debugging only
    (printing in a debugger): computing with the result inside the transformed function is
    undefined, as in torch."""
    from dlpy.tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"debug_unwrap: expected a Tensor, got {type(tensor).__name__}")
    while isinstance(tensor, _batching.BatchedTensor):
        tensor = tensor.value
        if not recurse:
            break
    return tensor
