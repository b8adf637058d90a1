"""``torch.utils._python_dispatch``: ``TorchDispatchMode`` and ``__torch_dispatch__``, the hooks
below autograd that see every op as an ATen overload (``dlpy.ops.aten.mm.default``).

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            print(func)                          # aten.add.Tensor, aten.mm.default, ...
            return func(*args, **(kwargs or {}))

    with Log():
        (x @ w + 1).relu().sum()

While a mode is entered, each call of one of dlpy's ops reaches the innermost mode's
``__torch_dispatch__(func, types, args, kwargs)`` with ``func`` the overload torch's dispatcher
shows for that call (after torch's decompositions: ``F.linear`` on a matrix is ``aten.t`` then
``aten.addmm``, ``t.reshape`` ``aten.view``, ``softmax`` ``aten._softmax``), ``args`` and
``kwargs`` as the overload's schema arguments (trailing defaults left out, as torch's), and
``types`` the subclass types among them. The mode's return value is the op's result. The mode
is off while its handler runs: ``func(*args)`` there goes to the next mode out, and past the
last one runs the op (dlpy's own call of it when the arguments are those given, so nothing is
computed twice and random ops draw once; else the overload's implementation). As torch's, the
handler runs below autograd: what it computes records no graph, and the op's node (its
``grad_fn``) is the op's own whatever the mode did (a mode that turns ``aten.add`` into
``aten.sub`` gives sub's values with add's gradient).

How dlpy finds the calls: its ops are numpy kernels (``Op`` subclasses), so while a mode is
entered (or a ``__torch_dispatch__`` subclass exists) ``Op.__call__`` is swapped for a
dispatching one (``swap_call_sites``) that maps each op and its settings to torch's overload
(``_OP_CALLS``), and a few public methods and factories that run no op (in-place methods,
``copy_``, ``detach``, ``item``, comparisons, ``ones``/``zeros``/...) are swapped too
(``_FUNCTION_CALLS``); outside, nothing changes. An op dlpy has no mapping for runs without
reaching the mode. A layer built while a mode is entered shows torch's construction kernels
(``empty``, then ``uniform_`` / ``fill_`` / ``zero_``...: ``dlpy.utils._dispatch_module_init``,
whose ``__init__``\\ s are swapped in with the rest).

A backward run while a mode is entered reaches it as torch's autograd shows it
(``dlpy.utils._dispatch_backward``: the engine's call sites are swapped with the rest): the
seed's ``ones_like``, each node's backward as the aten calls of torch 2.13's formula with the
real gradients as arguments (``expand`` of a sum, ``div`` of a mean, ``threshold_backward``,
``sigmoid_backward``, ``tanh_backward``, ``gelu_backward``, the ``detach`` of saved results,
``t`` + ``mm`` of mm and linear (the weight's ``t`` after the leaves addmm feeds),
``_softmax_backward_data``, ``_log_softmax_backward_data``, ``native_layer_norm_backward``,
``convolution_backward``, ``embedding_dense_backward``, ``nll_loss_backward`` (dlpy's
composite nll_loss is recorded as one node inside a mode), ``mul``/``div``/``neg``/``pow`` of
element-wise ops, ``view``/``t``/``transpose``/``permute`` of shape ops, a broadcast input's
``sum.dim_IntList`` + ``view``, ``native_batch_norm_backward``,
``max_pool2d_with_indices_backward``, ``avg_pool2d_backward``,
``_scaled_dot_product_flash_attention_for_cpu_backward``, ``bmm`` (matmul of batches between
``view``\\ s), ``select_backward``/``slice_backward``/``new_zeros`` + ``index_put`` of
indexing, ``slice``/``select`` of cat and stack), the ``add`` of a tensor used twice and the
``.grad`` accumulation (``detach``, ``new_empty_strided`` + ``copy_``, ``add_``), in the order
of torch's engine. The mode's return value is the gradient the pass goes on with (a mode that
changes values changes the gradients, as torch's). The backward of an op without such a rule
(3-d pooling, split, ...) runs as numpy, unseen by the mode; so
does a ``__torch_dispatch__`` subclass's backward.

Tensor subclasses: ``Tensor._make_wrapper_subclass(cls, size, ...)`` makes an instance holding
no values of its own (zeros of its shape and dtype stand in) and an op given one goes to
``cls.__torch_dispatch__`` (after the modes), which unwraps, calls ``func`` and rewraps, as
torch's wrapper subclasses do. Defining such a class swaps ``Op.__call__`` for good (a check
per op call from then on). Autograd does not record through subclass results.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import weakref
from collections.abc import Callable, Iterator

import numpy as np

from dlpy import aten as _aten_module
from dlpy.aten import OpOverload, aten
from dlpy.tensor import Tensor, is_grad_enabled, no_grad, set_grad_enabled

_tensor_module = sys.modules["dlpy.tensor"]  # (``dlpy.tensor`` the attribute is the factory)

__all__ = ["TorchDispatchMode", "BaseTorchDispatchMode", "is_in_torch_dispatch_mode",
           "_get_current_dispatch_mode", "_get_current_dispatch_mode_stack",
           "_disable_current_modes", "_push_mode", "_pop_mode", "_pop_mode_temporarily",
           "_len_torch_dispatch_stack", "any_torch_dispatch_mode_on_stack",
           "is_traceable_wrapper_subclass", "make_wrapper_subclass"]


class DispatchFailedError(TypeError):
    """Every ``__torch_dispatch__`` asked returned NotImplemented (torch's TypeError)."""


class UnableToCastError(RuntimeError):
    """A handler's result is no Tensor where the op returns one (torch's RuntimeError)."""


class NoDispatchMappingError(NotImplementedError, TypeError):
    """An op given a ``__torch_dispatch__`` subclass that dlpy cannot show as an ATen call."""


# ---------------------------------------------------------------------------- state
_mode_stack: list = []  # entered modes, innermost last
_inside = [0]  # how many handlers are running (is_in_torch_dispatch_mode within one)
_pending: list = []  # (func, args, kwargs, kernel): the op calls now being dispatched
# the __torch_dispatch__ subclasses alive (tensor.py's: the plain Op.__call__ routes their
# instances here, _subclass_op_call)
_dispatch_types: weakref.WeakSet = _tensor_module._dispatch_kinds
_live_types = [0]  # how many of them (the WeakSet may still hold one being collected)
_swap = None  # the swap_call_sites block, while installed
_functions_wrapped: list = []  # [True] once the functions have their dispatching wrappers
_quiet = [0]  # > 0 while an op's own value is computed: the ops it runs are below it (torch's
# kernel runs no dispatch of its own), so none of them reaches the modes
_rules: dict = {}  # ("ns::op", mode or subclass type) -> register_torch_dispatch's function


class TorchDispatchMode:
    """``with mode:`` hands every op call below autograd to ``mode.__torch_dispatch__(func,
    types, args, kwargs)`` (see the module's docstring); a subclass defines the handler."""

    def __init__(self, _dispatch_key=None):
        self._dispatch_key = _dispatch_key

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError()

    def __enter__(self):
        _push_mode(self)
        self.__dict__["_entered"] = self.__dict__.get("_entered", 0) + 1
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        entered = self.__dict__.get("_entered", 0)
        if not entered:
            raise IndexError("pop from an empty deque")  # torch's
        self.__dict__["_entered"] = entered - 1
        _pop_mode()

    @classmethod
    def push(cls, *args, **kwargs):
        """A new mode of ``cls`` to enter (torch's deprecated spelling)."""
        return cls(*args, **kwargs)

    @classmethod
    def is_infra_mode(cls) -> bool:
        return False


class BaseTorchDispatchMode(TorchDispatchMode):
    """A mode that runs every op as it is (a base for modes that look at some)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _push_mode(mode) -> None:
    _mode_stack.append(mode)
    _install()


def _pop_mode(k=None):
    """The innermost mode, taken off the stack."""
    if not _mode_stack:
        raise AssertionError("Trying to pop from an empty mode stack")
    mode = _mode_stack.pop()
    _uninstall_if_idle()
    return mode


@contextlib.contextmanager
def _pop_mode_temporarily(k=None) -> Iterator:
    """The innermost mode off the stack within the block (given to it), put back after."""
    mode = _pop_mode()
    try:
        yield mode
    finally:
        _push_mode(mode)


def _get_current_dispatch_mode():
    """The innermost mode entered, None outside every mode (and inside the handler of the
    only one: it is off while its handler runs)."""
    return _mode_stack[-1] if _mode_stack else None


def _get_current_dispatch_mode_stack() -> list:
    """The modes entered, outermost first (a new list)."""
    return list(_mode_stack)


def _len_torch_dispatch_stack() -> int:
    return len(_mode_stack)


def is_in_torch_dispatch_mode(include_infra_modes: bool = True) -> bool:
    """Whether a mode is entered or a handler is running."""
    return bool(_mode_stack) or _inside[0] > 0


def any_torch_dispatch_mode_on_stack(*, include_infra_modes: bool = True, respect_mode_stack:
                                     bool = False) -> bool:
    return bool(_mode_stack)


@contextlib.contextmanager
def _disable_current_modes() -> Iterator[list]:
    """Every mode off within the block; the block gets the list of them (outermost first)
    and they are back after it, as torch's."""
    old = list(_mode_stack)
    del _mode_stack[:]
    try:
        yield old
    finally:
        _mode_stack[:] = old + _mode_stack
        if _mode_stack:  # (a dispatch subclass collected within may have uninstalled it)
            _install()


def is_traceable_wrapper_subclass(t) -> bool:
    """Whether ``t`` is an instance of a wrapper subclass defining ``__tensor_flatten__``."""
    return isinstance(t, Tensor) and type(t) is not Tensor and hasattr(
        type(t), "__tensor_flatten__") and hasattr(type(t), "__tensor_unflatten__")


# ---------------------------------------------------------------------------- dispatching
def _dispatch_type(value) -> type | None:
    kind = type(value)
    return kind if kind in _dispatch_types else None


def _subclass_types(args, kwargs) -> tuple:
    """The ``__torch_dispatch__`` subclasses among the arguments (lists included), in order."""
    found: list = []

    def look(values):
        for v in values:
            if type(v) in (list, tuple):
                look(v)
            elif type(v) in _dispatch_types and type(v) not in found:
                found.append(type(v))

    if _dispatch_types:
        look(args)
        look(kwargs.values())
    return tuple(found)


def _failed(func, handlers: list) -> DispatchFailedError:
    listed = "\n".join(f"  - {h}" for h in handlers)
    return DispatchFailedError(f"Multiple dispatch failed for 'torch._ops.{func}'; all "
                               f"__torch_dispatch__ handlers returned NotImplemented:\n\n"
                               f"{listed}\n\nFor more information, try re-running with "
                               f"TORCH_LOGS=not_implemented")


def redispatch(func: OpOverload, args: tuple, kwargs: dict, types: tuple | None = None):
    """``func(*args, **kwargs)`` from where the dispatcher stands: the innermost mode's handler
    (off while it runs), else the ``__torch_dispatch__`` of a subclass among the arguments,
    else the op itself (the pending call's kernel when these are its arguments). A function
    ``register_torch_dispatch`` gave for the op and the mode's (or subclass's) very type runs
    in place of its ``__torch_dispatch__``, as ``rule(mode, func, types, args, kwargs)``."""
    if _quiet[0]:
        return _run_overload(func, args, kwargs)
    if _mode_stack:
        mode = _mode_stack.pop()
        _inside[0] += 1
        try:
            kinds = _subclass_types(args, kwargs) if types is None else types
            rule = _rules.get((_qualified(func), type(mode))) if _rules else None
            with no_grad():  # below autograd: nothing the handler computes is recorded
                result = mode.__torch_dispatch__(func, kinds, args, kwargs) if rule is None \
                    else rule(mode, func, kinds, args, kwargs)
        finally:
            _inside[0] -= 1
            _mode_stack.append(mode)
        if result is NotImplemented:
            raise _failed(func, [f"mode object {mode!r}"])
        return result
    kinds = _subclass_types(args, kwargs)
    if kinds:
        for kind in kinds:
            rule = _rules.get((_qualified(func), kind)) if _rules else None
            with no_grad():
                result = kind.__torch_dispatch__(func, kinds, args, kwargs) if rule is None \
                    else rule(kind, func, kinds, args, kwargs)
            if result is not NotImplemented:
                return result
        raise _failed(func, [f"tensor subclass {k}" for k in kinds])
    if _pending:
        top, top_args, top_kwargs, kernel = _pending[-1]
        if top is func and _same_arguments(args, top_args) and _same_arguments(
                tuple(kwargs.values()), tuple(top_kwargs.values())) and \
                kwargs.keys() == top_kwargs.keys():
            return kernel()
    return _run_overload(func, args, kwargs)


def _run_overload(func, args: tuple, kwargs: dict):
    """The overload's own implementation (an aten op's, or a custom op's kernel)."""
    if func._is_custom_op:
        return func._dispatch(*func._bind(args, kwargs))
    return func._run(*func._bind(args, kwargs))


def _qualified(func) -> str:
    """``aten::add``: the op an overload belongs to (what ``register_torch_dispatch`` names)."""
    return f"{func._namespace}::{func._opname}"


def register_torch_dispatch(op, torch_dispatch_class, func: Callable | None = None, /, *,
                            lib=None):
    """``torch.library.register_torch_dispatch``: under a mode of exactly the type
    ``torch_dispatch_class`` (or for that ``__torch_dispatch__`` subclass), every overload of
    ``op`` (``"mylib::foo"``, an overload or a custom op) reaches ``func(mode, func, types,
    args, kwargs)`` in place of the class's ``__torch_dispatch__``; a decorator without
    ``func``."""
    name = op if isinstance(op, str) else _qualified(getattr(op, "_opoverload", op))
    if "::" not in name:
        raise ValueError(f"register_torch_dispatch: expected an op name 'namespace::name', "
                         f"got {name!r}")
    name = name.partition(".")[0]

    def register(rule: Callable) -> Callable:
        _rules[(name, torch_dispatch_class)] = rule
        return rule

    return register if func is None else register(func)


def _same_arguments(given: tuple, expected: tuple) -> bool:
    """Whether ``given`` are the arguments handed to the handler (tensors by identity)."""
    if len(given) != len(expected):
        return False
    for g, e in zip(given, expected):
        if isinstance(g, (Tensor, np.ndarray)) or isinstance(e, (Tensor, np.ndarray)):
            if g is not e:
                return False
        elif type(g) in (list, tuple) and type(e) in (list, tuple):
            if not _same_arguments(tuple(g), tuple(e)):
                return False
        elif type(g) is not type(e) or g != e:
            return False
    return True


def dispatch(func: OpOverload, args: tuple, kwargs: dict, kernel: Callable,
             types: tuple | None = None):
    """Dispatch one op call: ``kernel()`` computes it when the handlers call ``func`` with
    these very arguments (``types``: what the handlers get as such, else the subclasses among
    the arguments)."""
    _pending.append((func, args, kwargs, kernel))
    try:
        return redispatch(func, args, kwargs, types)
    finally:
        _pending.pop()


def _normalized(func: OpOverload, values: list, kwargs: dict | None = None) -> tuple:
    """(args, kwargs) of ``func`` given its positional values: trailing defaults left out, and
    keyword-only ones that are their defaults, as torch's dispatcher hands them."""
    schema = func._schema
    positional = schema.positional
    values = list(values)
    while values and len(values) <= len(positional) and positional[len(values) - 1].has_default \
            and _aten_module._same(values[-1], positional[len(values) - 1].default_value):
        values.pop()
    kept = {}
    for key, value in (kwargs or {}).items():
        arg = schema.by_name[key]
        if not (arg.has_default and _aten_module._same(value, arg.default_value)):
            kept[key] = value
    return tuple(values), kept


# ------------------------------------------------------------- calls computed first
# overloads whose autograd node saves their result (torch's autograd then shows it detached)
_SAVES_RESULT_FUNCS = frozenset({
    "aten.reciprocal.default", "aten.rsqrt.default", "aten.pow.Scalar", "aten.pow.Tensor_Tensor",
    "aten.linalg_vector_norm.default", "aten.std.correction", "aten.amax.default",
    "aten.amin.default", "aten._softmax.default", "aten._log_softmax.default"})


def _tensors(values) -> Iterator[Tensor]:
    for v in values:
        if isinstance(v, Tensor):
            yield v
        elif type(v) in (list, tuple):
            yield from _tensors(v)


def _returns(func) -> list:
    """(base, is_list) of each of the overload's returns."""
    returns = func._schema.returns
    return returns if func._is_custom_op else [(r.base, r.is_list) for r in returns]


def _aten_form(func, out, plain: bool = False):
    """A function's result as the overload returns it: a tuple for several returns, a list
    for ``Tensor[]`` (Tensors on the same arrays without graph when ``plain``)."""
    returns = _returns(func)
    if len(returns) > 1 or (returns and returns[0][1]):
        items = [_plain(t) if plain and isinstance(t, Tensor) else t for t in out]
        return tuple(items) if len(returns) > 1 else items
    return _plain(out) if plain and isinstance(out, Tensor) else out


def _function_form(out, result, first: bool):
    """The handler's ``result`` (the overload's form) as the function returns it, ``out``
    being what the function returned (None when the handler never ran it)."""
    if first:
        result = result[0] if isinstance(result, (tuple, list)) else result
    elif isinstance(out, tuple) and isinstance(result, (tuple, list)):
        result = type(out)(*result) if hasattr(out, "_fields") else tuple(result)
    if isinstance(out, Tensor) or first:
        if not isinstance(result, Tensor):
            raise UnableToCastError(f"Unable to cast {result} to Tensor")
    return result


def _take_values(out, result, first: bool) -> None:
    """The handler's values into the recorded result (its gradient stays the op's)."""
    if first:
        out, result = out[0], result[0] if isinstance(result, (tuple, list)) else result
    pairs = zip(out, result) if isinstance(out, (tuple, list)) else [(out, result)]
    for o, r in pairs:
        if isinstance(o, Tensor):
            if not isinstance(r, Tensor):
                raise UnableToCastError(f"Unable to cast {r} to Tensor")
            if r.data is not o.data:
                o.data = r.data


def _recorded(func, values: tuple, named: dict, compute: Callable, inputs, first: bool = False,
              given: list | None = None):
    """Dispatch ``func(*values, **named)`` whose value ``compute()`` gives (quietly: the ops it
    runs are below it) in the overload's form; the caller gets the function's form (the first
    tensor where ``first``). When autograd records (a tensor among ``inputs`` requires grad),
    the value is computed, and recorded, before the handlers run: they see it without graph,
    and values they return replace it in the recorded result (its gradient the op's); the
    result's detach follows where torch's node saves it. ``given`` (a list) gets what the
    handlers returned, each of its tensors."""
    grad = is_grad_enabled()
    # (a dispatch subclass among the inputs with values of its own, an index: recorded too,
    # the function reading its values, as torch's autograd above the dispatch records it)
    if grad and any(t.requires_grad for t in _tensors(inputs)) and (
            not _subclass_types(inputs, {}) or _valued(tuple(_tensors(inputs))) is not None):
        _quiet[0] += 1
        try:
            full = compute()
        finally:
            _quiet[0] -= 1
        value = _aten_form(func, full, plain=True)
        result = dispatch(func, values, named, lambda: value)
        if result is not value:
            _take_values(full, result, first)
        if given is not None:
            given[:] = list(result) if isinstance(result, (tuple, list)) else [result]
        out = full[0] if first else full
        if str(func) in _SAVES_RESULT_FUNCS:
            saved = out if isinstance(out, Tensor) else out[0]
            dispatch(aten.detach.default, (saved,), {}, lambda: _plain(saved), (Tensor,))
        return out
    made: list = []

    def kernel():
        _quiet[0] += 1
        try:
            with set_grad_enabled(grad):
                full = compute()
        finally:
            _quiet[0] -= 1
        value = _aten_form(func, full)
        made.append((full, value))
        return value

    result = dispatch(func, values, named, kernel)
    if made and result is made[-1][1]:
        return made[-1][0][0] if first else made[-1][0]
    return _function_form(made[-1][0] if made else None, result, first)


def _step(func, *args, **kwargs):
    """One of the calls torch makes on the way to an op (a view before a product): dispatched
    with its value from the overload, recorded as the caller's autograd would (so a tensor
    that requires grad gives one that does, as torch's)."""
    values, named = _normalized(func, list(args), kwargs)
    return _recorded(func, values, named, lambda: func._run(*func._bind(args, kwargs)), args)


def custom_op_call(overload, args: tuple, kwargs: dict):
    """A custom op's call (bound arguments) while modes or dispatch subclasses are about:
    dispatched as ``overload`` with its trailing defaults left out, its kernel below it."""
    if _quiet[0] or not (_mode_stack or (_dispatch_types and _subclass_types(args, kwargs))):
        return redispatch(overload, args, kwargs)
    schema = overload._schema
    values = list(args)
    while values and schema.positional[len(values) - 1].has_default and \
            _aten_module._same(values[-1], schema.positional[len(values) - 1].default):
        values.pop()
    named = {k: v for k, v in kwargs.items() if not (
        schema.by_name[k].has_default and _aten_module._same(v, schema.by_name[k].default))}
    return _recorded(overload, tuple(values), named, lambda: overload._dispatch(args, kwargs),
                     (args, tuple(kwargs.values())))


# ------------------------------------------------------------- dlpy's ops as aten calls
def _ndim(value) -> int:
    return value.data.ndim if isinstance(value, Tensor) else 0


def _viewable(x) -> bool:
    return not isinstance(x, Tensor) or x.data.flags.c_contiguous or x.data.size <= 1


def _unary(name: str, overload: str = "default") -> Callable:
    def call(op, inputs):
        return getattr(getattr(aten, name), overload), list(inputs[:1]), {}
    return call


def _binary(name: str) -> Callable:
    """add/sub/mul/div: ``.Tensor`` with the number second where the caller gave it first
    (torch's reflected operators), number - tensor ``aten.rsub.Scalar``."""
    def call(op, inputs):
        a, b = inputs[:2]
        kwargs = {"alpha": op.alpha} if hasattr(op, "alpha") else {}
        if not isinstance(a, Tensor) and isinstance(b, Tensor):
            if name == "sub":
                return aten.rsub.Scalar, [b, a], kwargs
            if name in ("add", "mul"):
                a, b = b, a
        return getattr(aten, name).Tensor, [a, b], kwargs
    return call


def _matmul(op, inputs):
    found = _aten_module._matmul_overload(op, inputs)
    return None if found is None else (getattr(getattr(aten, found[0]), found[1]),
                                       list(inputs[:2]), {})


def _linear(op, inputs):
    """torch's linear: the weight's ``t``, then ``addmm`` (``mm`` without bias), with a batch
    viewed as a matrix before and the result viewed back after."""
    x, weight, *rest = inputs
    bias = rest[0] if rest else None
    if _ndim(x) < 2 or _ndim(weight) != 2 or (bias is not None and not isinstance(bias, Tensor)):
        return None
    shape = list(x.shape)
    if len(shape) == 2:
        wt = _step(aten.t.default, weight)
        return (aten.addmm.default, [bias, x, wt], {}) if bias is not None else \
            (aten.mm.default, [x, wt], {})
    if not _viewable(x):
        return None
    rows, out_shape = [int(np.prod(shape[:-1])), shape[-1]], shape[:-1] + [weight.shape[0]]
    if bias is None:  # torch's matmul of x by the weight's transpose
        wt = _step(aten.t.default, weight)
        out = _step(aten.mm.default, _step(aten.view.default, x, rows), wt)
        op.__dict__["_folded"] = out  # (its values the result's: _linear_result)
        return aten._unsafe_view.default, [out, out_shape], {}
    flat = _step(aten.view.default, x, rows)
    out = _step(aten.addmm.default, bias, flat, _step(aten.t.default, weight))
    op.__dict__["_folded"] = out
    return aten.view.default, [out, out_shape], {}


def _linear_result(op, inputs, out):
    """A batch's linear: the values of the product a mode gave (its view), as torch's."""
    folded = op.__dict__.pop("_folded", None)
    if folded is None or folded.data is out.data:
        return out
    value = _plain(folded)
    value.data = folded.data.reshape(out.data.shape)
    return value


def _reduction(name: str, dim_overload: str) -> Callable:
    def call(op, inputs):
        if not getattr(op, "dim_given", True):
            return getattr(aten, name).default, [inputs[0]], {}
        return getattr(getattr(aten, name), dim_overload), [
            inputs[0], list(op.axes), bool(op.keepdims)], {}
    return call


def _softmax(name: str) -> Callable:
    def call(op, inputs):
        return getattr(aten, name).default, [inputs[0], op.axis, False], {}
    return call


def _reshape(op, inputs):
    x = inputs[0]
    named = getattr(op, "node_name", None)
    if named == "UnsqueezeBackward0":
        dim = next(i for i, (a, b) in enumerate(zip(list(x.shape) + [None], op.new_shape))
                   if a != b or b == 1)
        return aten.unsqueeze.default, [x, dim], {}
    if named == "SqueezeBackward1":
        dim = next((i for i, (a, b) in enumerate(zip(x.shape, list(op.new_shape) + [None]))
                    if a != b), len(x.shape) - 1)
        return aten.squeeze.dim, [x, dim], {}
    if named not in (None, "ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0"):
        return None  # (reshape's names: a view, an alias of a view, a copy)
    if not _viewable(x):  # torch's reshape of what no view can show: a copy, viewed
        from dlpy import contiguous_format

        copy = _step(aten.clone.default, x, memory_format=contiguous_format)
        return aten._unsafe_view.default, [copy, list(op.new_shape)], {}
    return aten.view.default, [x, list(op.new_shape)], {}


def _transpose(op, inputs):
    x, axes = inputs[0], tuple(op.axes)
    named = getattr(op, "node_name", None)
    if named == "TBackward0":
        return aten.t.default, [x], {}
    if named == "PermuteBackward0":
        return aten.permute.default, [x, list(axes)], {}
    moved = op.__dict__.get("given_dims") or [i for i, a in enumerate(axes) if a != i]
    if len(moved) == 2:
        return aten.transpose.int, [x, moved[0], moved[1]], {}
    return aten.permute.default, [x, list(axes)], {}


_MAX = 9223372036854775807  # torch's end of an open slice


def _getitem(op, inputs):
    """Indexing as torch applies it, item by item: ``select.int`` for an integer, ``slice.Tensor``
    for a slice, ``unsqueeze`` for None; integer or boolean arrays are gathered into one
    ``index.Tensor`` call at the end (None for the dims before them that they leave alone, as
    torch's list); the last call is the op's, the ones before are dispatched on their own."""
    if getattr(op, "node_name", None) is not None:
        return None
    index = op.index
    items = list(index) if isinstance(index, tuple) else [index]
    x = inputs[0]
    if any(isinstance(i, np.ndarray) for i in items):
        return _advanced_getitem(x, items)
    if any(i is Ellipsis for i in items):
        k = items.index(Ellipsis)
        fill = len(x.shape) - sum(i is not None for i in items if i is not Ellipsis)
        items = items[:k] + [slice(None)] * fill + items[k + 1:]
    steps, dim = [], 0
    for item in items:
        dim = _basic_item(item, dim, steps)
        if dim is None:
            return None
    if not steps:
        return aten.alias.default, [x], {}
    for func, rest in steps[:-1]:
        x = _step(func, x, *rest)
    func, rest = steps[-1]
    return func, [x] + rest, {}


def _basic_item(item, dim: int, steps: list) -> int | None:
    """One None, integer or slice of an index, at ``dim``: its aten step appended to ``steps``
    (none for a full slice); the dim of the next item, or None for an item of another kind."""
    if item is None:
        steps.append((aten.unsqueeze.default, [dim]))
        return dim + 1
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        steps.append((aten.select.int, [dim, int(item)]))
        return dim
    if not isinstance(item, slice):
        return None
    if item != slice(None):
        start = 0 if item.start is None else int(item.start)
        stop = _MAX if item.stop is None else int(item.stop)
        step = 1 if item.step is None else int(item.step)
        steps.append((aten.slice.Tensor, [dim, start, stop] + ([step] if step != 1 else [])))
    return dim + 1


def _advanced_getitem(x, items: list):
    """``x[items]`` with integer or boolean arrays among the items, as torch's indexing applies
    it: the integers, slices and Nones first (dispatched on their own), then one
    ``index.Tensor`` with a list holding each array at its dim and None at the dims before it
    that take no array. None (no mapping) for what that does not cover: a 0-d array, or a
    boolean array of several dims followed by anything but full slices."""
    consumed = [(i.ndim if isinstance(i, np.ndarray) and i.dtype == np.bool_ else
                 0 if i is None or i is Ellipsis else 1) for i in items]
    if any(i is Ellipsis for i in items):
        k = items.index(Ellipsis)
        items = items[:k] + [slice(None)] * (len(x.shape) - sum(consumed)) + items[k + 1:]
    steps, listed, dim = [], [], 0
    for n, item in enumerate(items):
        if isinstance(item, np.ndarray):
            if item.ndim == 0 or item.dtype.kind not in "iub" or (
                    item.dtype == np.bool_ and item.ndim > 1
                    and any(i != slice(None) for i in items[n + 1:])):
                return None
            listed += [None] * (dim - len(listed)) + [Tensor(item)]
            dim += 1
        else:
            dim = _basic_item(item, dim, steps)
            if dim is None:
                return None
    for func, rest in steps:
        x = _step(func, x, *rest)
    return aten.index.Tensor, [x, listed], {}


def _cat(name: str) -> Callable:
    def call(op, inputs):
        return getattr(aten, name).default, [list(inputs), op.axis], {}
    return call


def _cast(op, inputs):
    return aten._to_copy.default, [inputs[0]], {"dtype": np.dtype(op.dtype)}


def _expand(op, inputs):
    return aten.expand.default, [inputs[0], list(op.new_shape)], {}


def _where(op, inputs):
    if len(inputs) != 2 or not all(isinstance(t, Tensor) for t in inputs):
        return None
    return aten.where.self, [Tensor(np.asarray(op.condition)), *inputs], {}


def _clamp(op, inputs):
    if op.open_bounds:
        return None
    low = None if op.low is None or op.low == -np.inf else op.low
    high = None if op.high is None or op.high == np.inf else op.high
    return aten.clamp.default, [inputs[0], low, high], {}


def _max_min(op, inputs):
    if getattr(op, "nan_share", False) and not op.keepdims and len(op.axes) == _ndim(inputs[0]):
        return getattr(aten, type(op).__name__.lower()).default, [inputs[0]], {}
    return None


def _leaky_relu(op, inputs):
    return aten.leaky_relu.default, [inputs[0], op.negative_slope], {}


def _gelu_tanh(op, inputs):
    return aten.gelu.default, [inputs[0]], {"approximate": "tanh"}


def _power(op, inputs):
    exponent = op.exponent
    if float(exponent).is_integer():
        exponent = int(exponent)
    return aten.pow.Tensor_Scalar, [inputs[0], exponent], {}


def _mse(op, inputs):
    reduction = {"none": 0, "mean": 1, "sum": 2}[op.reduction]
    return aten.mse_loss.default, [inputs[0], inputs[1], reduction], {}


def _relayout(op, inputs):
    from dlpy import contiguous_format

    if op.fmt is not contiguous_format:
        return None
    return aten.clone.default, [inputs[0]], {"memory_format": contiguous_format}


def _attention(op, inputs):
    """Scaled dot-product attention of 4-d q, k, v without dropout: torch's CPU kernel,
    whose second result is the log-sum-exp of the scores; a causal mask as is_causal, another
    as attn_mask (the additive mask torch's kernel is given), a scale not 1 / sqrt(dim) as
    scale."""
    if op.packed or op.num_heads is not None or len(inputs) != 3 or \
            any(_ndim(t) != 4 for t in inputs) or getattr(op, "keep", None) is not None:
        return None
    from dlpy.utils._dispatch_backward import attention_arguments

    causal, kwargs = attention_arguments(op, inputs[0].shape, inputs[1].shape)
    return aten._scaled_dot_product_flash_attention_for_cpu.default, list(inputs) + (
        [0.0, True] if causal else []), kwargs


def _attention_result(op, inputs, out):
    """(output, logsumexp) as torch's kernel returns them."""
    from dlpy.utils._dispatch_backward import attention_logsumexp

    return (out, Tensor(attention_logsumexp(op, inputs[0].data, inputs[1].data)))


def _pool_indices(op, out: Tensor) -> Tensor:
    """max_pool2d_with_indices' second result: the maxima's indices (meta for a meta out)."""
    from dlpy import meta as _meta
    from dlpy.device import meta_array

    if _meta.is_meta_array(out.data):
        return Tensor(meta_array(out.data.shape, np.int64))
    return Tensor(op.indices())


def _listed(values) -> list:
    return [int(v) for v in values]


def _trimmed(values: list, defaults: list) -> list:
    """``values`` without the trailing ones that are torch's defaults (``defaults``: of the
    last positions; ``int[2] padding=0`` is [0, 0], which the schema's comparison misses)."""
    values, head = list(values), len(values) - len(defaults)
    while len(values) > head:
        default = defaults[len(values) - head - 1]
        if type(values[-1]) is not type(default) or values[-1] != default:
            break
        values.pop()
    return values


def _max_pool(op, inputs):
    """max_pool2d: torch's max_pool2d_with_indices (its indices the second result)."""
    if len(op.kernel) != 2 or _ndim(inputs[0]) != 4:
        return None
    stride = [] if op.__dict__.get("default_stride") else _listed(op.stride)
    values = _trimmed([inputs[0], _listed(op.kernel), stride, _listed(op.padding),
                       _listed(op.dilation), bool(op.ceil_mode)],
                      [[], [0, 0], [1, 1], False])
    return aten.max_pool2d_with_indices.default, values, {}


def _avg_pool(op, inputs):
    if len(op.kernel) != 2 or _ndim(inputs[0]) != 4:
        return None
    stride = [] if op.__dict__.get("default_stride") else _listed(op.stride)
    values = _trimmed([inputs[0], _listed(op.kernel), stride, _listed(op.padding),
                       bool(op.ceil_mode), bool(op.count_include_pad), op.divisor_override],
                      [[], [0, 0], False, True, None])
    return aten.avg_pool2d.default, values, {}


# dlpy's op class -> its aten call: (overload, positional values, kwargs) or None where dlpy
# cannot show it as one (the op then runs without reaching the modes); a rule may dispatch
# the calls torch makes before it (linear's t) through the overloads themselves
_OP_CALLS: dict[str, Callable] = {
    **{kind: _unary(name) for kind, (name, overload) in
       _aten_module._OP_CLASS_OVERLOADS.items() if overload == "default" and kind not in (
           "ELU", "LeakyReLU", "Softplus", "Maximum", "Softmax", "LogSoftmax", "Expand",
           "GELU")},
    "GELU": _unary("gelu"), "GELUTanh": _gelu_tanh, "LeakyReLU": _leaky_relu,
    "Maximum": lambda op, inputs: (aten.maximum.default, list(inputs[:2]), {}),
    "Add": _binary("add"), "ScaledAdd": _binary("add"), "Sub": _binary("sub"),
    "ScaledSub": _binary("sub"), "Mul": _binary("mul"), "Div": _binary("div"),
    "Power": _power, "Pow": lambda op, inputs: (aten.pow.Tensor_Tensor, list(inputs[:2]), {}),
    "MatMul": _matmul, "Linear": _linear,
    "Sum": _reduction("sum", "dim_IntList"), "Mean": _reduction("mean", "dim"),
    "Max": _max_min, "Min": _max_min,
    "Softmax": _softmax("_softmax"), "LogSoftmax": _softmax("_log_softmax"),
    "Reshape": _reshape, "Transpose": _transpose, "GetItem": _getitem,
    "Concat": _cat("cat"), "Stack": _cat("stack"),
    "Flip": lambda op, inputs: (aten.flip.default, [inputs[0], list(op.dims)], {}),
    "Identity": lambda op, inputs: (aten.clone.default, [inputs[0]], {}),
    "Relayout": _relayout, "Cast": _cast, "Expand": _expand, "Where": _where,
    "Clamp": _clamp, "MSELoss": _mse, "Attention": _attention,
    "MaxPool2d": _max_pool, "AvgPool2d": _avg_pool,
}
# ops whose torch kernel returns more than the op's tensor: the full result from dlpy's
_OP_RESULTS: dict[str, Callable] = {
    "Attention": _attention_result,
    "MaxPool2d": lambda op, inputs, out: (out, _pool_indices(op, out)),
    "Linear": _linear_result,
}
# torch's autograd saves these ops' results for backward, detaching them (aten.detach)
_SAVES_RESULT = frozenset({"ReLU", "Sigmoid", "Tanh", "Exp", "Sqrt", "Expm1", "Softmax",
                           "LogSoftmax", "Max", "Min", "Pow", "Attention"})


def aten_call(op, inputs: tuple) -> tuple | None:
    """(overload, args, kwargs) torch's dispatcher shows for dlpy's ``op`` called on
    ``inputs``, or None; the calls torch makes before it are dispatched on the way."""
    rule = _OP_CALLS.get(type(op).__name__)
    if rule is None:
        return None
    found = rule(op, inputs)
    if found is None:
        return None
    func, values, kwargs = found
    return (func, *_normalized(func, values, kwargs))


def _plain(out: Tensor) -> Tensor:
    """A Tensor on ``out``'s array, with no graph (what the op's kernel gives below
    autograd)."""
    plain = Tensor.__new__(Tensor)
    plain.data = out.data
    plain._grad = None
    plain.name = None
    plain._hooks = None
    plain.op = None
    plain.requires_grad = False
    return plain


def _as_result(func: OpOverload, result):
    """The handler's result as the op's: a Tensor (the first of a tuple the overload returns)."""
    if isinstance(result, tuple) and len(func._schema.returns) > 1:
        result = result[0]
    if not isinstance(result, Tensor):
        raise UnableToCastError(f"Unable to cast {result} to Tensor")
    return result


def _dispatching_call(inner: Callable) -> Callable:
    """``Op.__call__`` while modes or dispatch subclasses are about: each mapped op goes through
    ``dispatch``; a recorded one is computed (and recorded) first, its value the kernel's."""

    def call(op, *inputs):
        if _quiet[0] or not _mode_stack and not (_dispatch_types and
                                                 _subclass_types(inputs, {})):
            return inner(op, *inputs)
        found = aten_call(op, inputs)
        if found is None:
            if _subclass_types(inputs, {}):
                raise NoDispatchMappingError(
                    f"dlpy: {type(op).__name__} has no aten call to show a __torch_dispatch__ "
                    f"subclass")
            return inner(op, *inputs)
        func, args, kwargs = found
        kind = type(op).__name__
        whole = _OP_RESULTS.get(kind)
        recording = is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad
                                              for t in inputs)
        valued = inputs
        if recording and _subclass_types(inputs, {}):
            valued = _valued(inputs)
            recording = valued is not None
        if recording:
            out = inner(op, *valued)
            value = _plain(out)
            if kind in ("Mul", "Div") and not all(isinstance(t, Tensor) for t in inputs):
                op.__dict__["_given"] = inputs  # (the number as given: its backward's)
            answer = whole(op, inputs, value) if whole else value

            def kernel():
                return answer
        else:
            def kernel():
                value = inner(op, *inputs)
                return whole(op, inputs, value) if whole else value
        result = dispatch(func, args, kwargs, kernel)
        if not recording:
            return _as_result(func, result) if not _subclass_types(inputs, {}) else \
                (result[0] if isinstance(result, tuple) and whole else result)
        if whole and isinstance(result, tuple) and isinstance(answer, tuple) and any(
                isinstance(r, Tensor) and r.data is not a.data for r, a in zip(result, answer)):
            op.__dict__["_mode_results"] = result  # (the saved results a mode changed: the
            # backward reads them, as torch's node does; state, free() drops it)
        result = _as_result(func, result)
        if result is not value and result.data is not out.data:
            # the handler's values, the op's gradient (as torch's)
            out.data = np.asarray(result.numpy()) if type(result) in _dispatch_types and \
                type(result).numpy is not Tensor.numpy else result.data
        if kind in _SAVES_RESULT:
            dispatch(aten.detach.default, (out,), {}, lambda: _plain(out), (Tensor,))
        return out

    return call


# ------------------------------------------------------------- methods that run no op
def _in_place(name: str) -> Callable:
    def call(self, other, *, alpha=1, rounding_mode=None):
        if not isinstance(self, Tensor):
            return None
        kwargs = {"alpha": alpha} if alpha != 1 else {}
        name_ = f"{name}_"
        if rounding_mode is not None:
            return getattr(aten, name_).Tensor_mode, (self, other), {"rounding_mode":
                                                                    rounding_mode}
        return getattr(aten, name_).Tensor, (self, other), kwargs
    return call


def _compare(name: str) -> Callable:
    def call(self, other):
        if not isinstance(self, Tensor):
            return None
        return getattr(aten, name).Tensor if isinstance(other, Tensor) else \
            getattr(aten, name).Scalar, (self, other), {}
    return call


def _factory(name: str, overload: str = "default") -> Callable:
    def call(*size, dtype=None, device=None, requires_grad=False, **rest):
        from dlpy import device as device_type

        if len(size) == 1 and isinstance(size[0], (list, tuple)):
            size = tuple(size[0])
        if not all(isinstance(s, (int, np.integer)) for s in size) or rest:
            return None
        kwargs = {"dtype": dtype} if dtype is not None else {}
        kwargs.update(device=device_type("cpu"), pin_memory=False)
        return getattr(getattr(aten, name), overload), ([int(s) for s in size],), kwargs
    return call


def _eye(n, m=None, *, dtype=None, **rest):
    from dlpy import device as device_type

    if rest:
        return None
    kwargs = {"dtype": dtype} if dtype is not None else {}
    kwargs.update(device=device_type("cpu"), pin_memory=False)
    return (aten.eye.default, (n,), kwargs) if m is None else (aten.eye.m, (n, m), kwargs)


def _full(size, fill_value, *, dtype=None, **rest):
    from dlpy import device as device_type

    if isinstance(size, (int, np.integer)) or rest:
        return None
    kwargs = {"dtype": dtype} if dtype is not None else {}
    kwargs.update(device=device_type("cpu"), pin_memory=False)
    return aten.full.default, ([int(s) for s in size], fill_value), kwargs


def _arange(*args, dtype=None, **rest):
    from dlpy import device as device_type

    if rest or not 1 <= len(args) <= 3:
        return None
    kwargs = {"dtype": dtype} if dtype is not None else {}
    kwargs.update(device=device_type("cpu"), pin_memory=False)
    overload = {1: aten.arange.default, 2: aten.arange.start, 3: aten.arange.start_step}
    return overload[len(args)], tuple(args), kwargs


def _like(name: str) -> Callable:
    def call(input, *, dtype=None, **rest):  # noqa: A002 - torch's names
        if not isinstance(input, Tensor) or rest:
            return None
        kwargs = {"dtype": dtype} if dtype is not None else {}
        kwargs["pin_memory"] = False
        return getattr(aten, name).default, (input,), kwargs
    return call


def _cpu_kwargs(dtype, generator=None, device=True) -> dict:
    """A factory's keywords as torch's dispatcher shows them: dtype and generator where given,
    then (for a factory not made from another tensor) the device and pin_memory."""
    from dlpy import device as device_type

    kwargs = {} if dtype is None else {"dtype": dtype}
    if generator is not None:
        kwargs["generator"] = generator
    if device:
        kwargs["device"] = device_type("cpu")
    kwargs["pin_memory"] = False
    return kwargs


def _plain_sizes(size) -> list | None:
    """A size given as ints or one sequence of ints, as a list (None: anything else)."""
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = tuple(size[0])
    return [int(n) for n in size] if all(_is_int(n) for n in size) else None


def _spaced(name: str) -> Callable:
    def call(start, end, steps, *args, dtype=None, base=None, **rest):
        if rest or any(isinstance(v, Tensor) for v in (start, end, steps)) or len(args) > 1:
            return None
        base = args[0] if args else base
        extra = [] if base is None else [float(base)]  # logspace's base
        return getattr(aten, name).default, (start, end, steps, *extra), _cpu_kwargs(dtype)
    return call


def _randint(*args, size=None, dtype=None, generator=None, **rest):
    if size is not None:
        args = (*args, size)
    if rest or not 2 <= len(args) <= 3 or not isinstance(args[-1], (list, tuple)) or \
            not all(_is_int(v) for v in args[:-1]):
        return None
    overload = ("low" if len(args) == 3 else "default") if generator is None else \
        ("low_generator" if len(args) == 3 else "generator")
    return getattr(aten.randint, overload), (*args[:-1], [int(n) for n in args[-1]]), \
        _cpu_kwargs(dtype, generator)


def _drawn(name: str) -> Callable:
    """rand/randn with a generator: their ``.generator`` overloads."""
    plain = _factory(name)

    def call(*size, generator=None, dtype=None, **rest):
        if generator is None:
            return plain(*size, dtype=dtype, **rest)
        sizes = _plain_sizes(size)
        if sizes is None or {k for k, v in rest.items() if v} - {"requires_grad"}:
            return None
        return getattr(aten, name).generator, (sizes,), _cpu_kwargs(dtype, generator)
    return call


def _randperm(n, *, dtype=None, generator=None, **rest):
    if rest or generator is not None or not _is_int(n):
        return None
    return aten.randperm.default, (n,), _cpu_kwargs(dtype)


def _normal(mean, std=1.0, size=None, *, generator=None, dtype=None, **rest):
    if rest:
        return None
    kwargs = {} if generator is None else {"generator": generator}
    if isinstance(mean, Tensor) and isinstance(std, Tensor):
        return aten.normal.Tensor_Tensor, (mean, std), kwargs
    if isinstance(mean, Tensor):
        return aten.normal.Tensor_float, (mean, float(std)), kwargs
    if isinstance(std, Tensor):
        return aten.normal.float_Tensor, (float(mean), std), kwargs
    if size is None:
        return None
    return aten.normal.float_float, (float(mean), float(std), [int(n) for n in size]), \
        _cpu_kwargs(dtype, generator)


def _indices(name: str) -> Callable:
    def call(row, col, offset=0, *, dtype=None, **rest):
        if rest or not all(_is_int(v) for v in (row, col, offset)):
            return None
        return getattr(aten, name).default, (row, col, offset), _cpu_kwargs(dtype)
    return call


def _empty_strided(size, stride, *, dtype=None, **rest):
    if {k for k, v in rest.items() if v} - {"requires_grad"}:
        return None
    return aten.empty_strided.default, ([int(n) for n in size], [int(n) for n in stride]), \
        _cpu_kwargs(dtype)


def _scalar_tensor(s, *, dtype=None, **rest):
    if rest or isinstance(s, Tensor):
        return None
    return aten.scalar_tensor.default, (s,), _cpu_kwargs(dtype)


def _full_like(input, fill_value, *, dtype=None, **rest):  # noqa: A002
    if not isinstance(input, Tensor) or rest:
        return None
    return aten.full_like.default, (input, fill_value), _cpu_kwargs(dtype, device=False)


def _randint_like(input, *args, dtype=None, **rest):  # noqa: A002
    if not isinstance(input, Tensor) or rest or not 1 <= len(args) <= 2:
        return None
    overload = aten.randint_like.default if len(args) == 1 else aten.randint_like.low_dtype
    return overload, (input, *args), _cpu_kwargs(dtype, device=False)


def _new(name: str) -> Callable:
    """t.new_zeros / new_ones / new_empty (size), new_full (size, fill_value)."""
    def call(self, *size, dtype=None, **rest):
        if not isinstance(self, Tensor) or rest:
            return None
        fill = ()
        if name == "new_full":
            if len(size) != 2:
                return None
            size, fill = (size[0],), (size[1],)
        sizes = _plain_sizes(size)
        if sizes is None:
            return None
        return getattr(aten, name).default, (self, sizes, *fill), _cpu_kwargs(dtype,
                                                                              device=False)
    return call


def _random_fill(name: str, *floats: str) -> Callable:
    """uniform_ / normal_ / exponential_ / cauchy_ / log_normal_ / geometric_ (self, the
    distribution's numbers as floats, generator=)."""
    def call(self, *args, generator=None, **named):
        if not isinstance(self, Tensor) or len(args) > len(floats) or set(named) - set(floats):
            return None
        given = [i for i, key in enumerate(floats) if i < len(args) or key in named]
        schema = getattr(aten, name).default._schema.positional[1:]
        values = [args[i] if i < len(args) else named.get(key, schema[i].default_value)
                  for i, key in enumerate(floats[:given[-1] + 1 if given else 0])]
        return getattr(aten, name).default, (self, *(float(v) for v in values)), \
            {} if generator is None else {"generator": generator}
    return call


def _init_fill(name: str, bounds: Callable) -> Callable:
    """nn.init.<name>(tensor, ...): torch's in-place kernel ``name`` with the numbers
    ``bounds(tensor, *args, **kwargs)`` gives (None: the function's own call)."""
    def call(tensor, *args, generator=None, **kwargs):
        if not isinstance(tensor, Tensor) or 0 in tensor.shape:
            return None
        numbers = bounds(tensor, *args, **kwargs)
        if numbers is None:
            return None
        return getattr(aten, name).default, (tensor, *(float(v) for v in numbers)), \
            {} if generator is None else {"generator": generator}
    return call


def _kaiming(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", *, uniform):
    from dlpy.nn import init

    caller = f"init.kaiming_{'uniform' if uniform else 'normal'}_"
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(
        init._calculate_correct_fan(tensor, mode, caller))
    return (-math.sqrt(3.0) * std, math.sqrt(3.0) * std) if uniform else (0.0, std)


def _xavier(tensor, gain=1.0, *, uniform):
    from dlpy.nn import init

    fan_in, fan_out = init._calculate_fan_in_and_fan_out(tensor, "init.xavier")
    if fan_in + fan_out == 0:
        return None
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return (-math.sqrt(3.0) * std, math.sqrt(3.0) * std) if uniform else (0.0, std)


def _init_constant(tensor, val):
    if not isinstance(tensor, Tensor):
        return None
    return aten.fill_.Scalar, (tensor, val), {}


# nn.init's functions: the in-place kernels torch's run (uniform_ with the bounds computed)
_INIT_CALLS = {
    "uniform_": _init_fill("uniform_", lambda t, a=0.0, b=1.0: (a, b)),
    "normal_": _init_fill("normal_", lambda t, mean=0.0, std=1.0: (mean, std)),
    "kaiming_uniform_": _init_fill("uniform_", functools.partial(_kaiming, uniform=True)),
    "kaiming_normal_": _init_fill("normal_", functools.partial(_kaiming, uniform=False)),
    "xavier_uniform_": _init_fill("uniform_", functools.partial(_xavier, uniform=True)),
    "xavier_normal_": _init_fill("normal_", functools.partial(_xavier, uniform=False)),
    "zeros_": lambda tensor: (aten.zero_.default, (tensor,), {}) if isinstance(
        tensor, Tensor) else None,
    "ones_": lambda tensor: _init_constant(tensor, 1.0),
    "constant_": _init_constant,
}


def _bernoulli_(self, p=0.5, *, generator=None):
    if not isinstance(self, Tensor):
        return None
    kwargs = {} if generator is None else {"generator": generator}
    if isinstance(p, Tensor):
        return aten.bernoulli_.Tensor, (self, p), kwargs
    return aten.bernoulli_.float, (self, float(p)), kwargs


def _random_(self, *args, generator=None, **named):
    if not isinstance(self, Tensor) or named or not all(_is_int(v) or v is None for v in args):
        return None
    kwargs = {} if generator is None else {"generator": generator}
    if not args:
        return aten.random_.default, (self,), kwargs
    if len(args) == 1:
        return aten.random_.to, (self, args[0]), kwargs
    return getattr(aten.random_, "from"), (self, *args), kwargs


def _fill(self, value):
    if not isinstance(self, Tensor):
        return None
    return (aten.fill_.Tensor if isinstance(value, Tensor) else aten.fill_.Scalar), \
        (self, value), {}


# owner ("Tensor" or "dlpy") -> name -> (rule giving (overload, args, kwargs) or None)
_FUNCTION_CALLS: dict[str, dict[str, Callable]] = {
    "Tensor": {
        **{f"{name}_": _in_place(name) for name in ("add", "sub", "mul", "div")},
        "__iadd__": _in_place("add"), "__isub__": _in_place("sub"),
        "__imul__": _in_place("mul"), "__itruediv__": _in_place("div"),
        "copy_": lambda self, src, non_blocking=False: (aten.copy_.default, (self, src), {}),
        "zero_": lambda self: (aten.zero_.default, (self,), {}),
        "fill_": _fill,
        **{name: _new(name) for name in ("new_zeros", "new_ones", "new_empty", "new_full")},
        "new_tensor": lambda self, data, *args, **kwargs: (
            None if isinstance(data, Tensor) else (aten.lift_fresh.default, (), {})),
        "uniform_": _random_fill("uniform_", "from", "to"),
        "normal_": _random_fill("normal_", "mean", "std"),
        "exponential_": _random_fill("exponential_", "lambd"),
        "cauchy_": _random_fill("cauchy_", "median", "sigma"),
        "log_normal_": _random_fill("log_normal_", "mean", "std"),
        "geometric_": _random_fill("geometric_", "p"),
        "bernoulli_": _bernoulli_, "random_": _random_,
        "detach": lambda self: (aten.detach.default, (self,), {}),
        "item": lambda self: (aten._local_scalar_dense.default, (self,), {}),
        **{f"__{name}__": _compare(name) for name in ("gt", "lt", "ge", "le")},
        **{name: _compare(name) for name in ("gt", "lt", "ge", "le")},
    },
    "dlpy": {
        **{name: _factory(name) for name in ("ones", "zeros")},
        "randn": _drawn("randn"), "rand": _drawn("rand"), "randint": _randint,
        "randperm": _randperm, "normal": _normal, "linspace": _spaced("linspace"),
        "logspace": _spaced("logspace"), "tril_indices": _indices("tril_indices"),
        "triu_indices": _indices("triu_indices"), "empty_strided": _empty_strided,
        "scalar_tensor": _scalar_tensor, "full_like": _full_like,
        "randint_like": _randint_like,
        "empty": _factory("empty", "memory_format"), "eye": _eye,
        "full": _full, "arange": _arange, "tensor": lambda data, *args, **kwargs: (
            None if isinstance(data, Tensor) else (aten.lift_fresh.default, (), {})),
        **{name: _like(name) for name in ("ones_like", "zeros_like", "empty_like",
                                           "randn_like", "rand_like")},
    },
    "init": _INIT_CALLS,
}


def _dispatching_function(plain: Callable, rule: Callable) -> Callable:
    @functools.wraps(plain)
    def call(*args, **kwargs):
        if _quiet[0] or not _mode_stack and not (_live_types[0] and
                                                 _subclass_types(args, kwargs)):
            return plain(*args, **kwargs)
        try:
            found = rule(*args, **kwargs)
        except TypeError:  # arguments the rule does not know: the function's own error
            found = None
        if found is None:
            return plain(*args, **kwargs)
        func, values, named = found
        grad = is_grad_enabled()
        if func is aten.lift_fresh.default:  # torch.tensor: the new tensor, lifted
            made = plain(*args, **kwargs)
            return dispatch(func, (made,), {}, lambda: made)
        values, named = _normalized(func, list(values), named)

        def kernel():
            with set_grad_enabled(grad):
                return plain(*args, **kwargs)

        result = dispatch(func, values, named, kernel)
        if func._schema.returns and str(func._schema.returns[0]).startswith("Tensor") and \
                not isinstance(result, Tensor):
            raise UnableToCastError(f"Unable to cast {result} to Tensor")
        return result

    call.__dlpy_dispatching__ = True
    return call


# ------------------------------------------------- functions shown with the user's arguments
# torch's dispatcher shows what the caller gave (``softmax(-1)``'s dim -1, ``clamp(-1, 1)``'s
# ints), which dlpy's ops have normalised: these methods and functions are dispatched as the
# overload themselves, their ops below it. A rule gives (overload, args, kwargs[, first]) or
# None (the function's own call, its ops then dispatched as theirs).
def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _dim_list(dim) -> list | None:
    if dim is None:
        return None
    return [int(dim)] if _is_int(dim) else [int(d) for d in dim]


def _softmax_call(name: str) -> Callable:
    def call(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002 - torch's names
        if not isinstance(input, Tensor) or dtype is not None or not _is_int(dim):
            return None
        return getattr(aten, name).default, [input, dim, False], {}
    return call


def _tensor_method_softmax(name: str) -> Callable:
    rule = _softmax_call(name)
    return lambda self, dim=-1, dtype=None: rule(self, dim, 3, dtype)


def _dim_call(name: str, overload: str = "default") -> Callable:
    """unsqueeze/transpose/select-like: the tensor and int arguments as given."""
    def call(input, *dims):  # noqa: A002
        if not isinstance(input, Tensor) or not all(_is_int(d) for d in dims):
            return None
        return getattr(getattr(aten, name), overload), [input, *dims], {}
    return call


def _squeeze(input, dim=None):  # noqa: A002
    if not isinstance(input, Tensor):
        return None
    if dim is None:
        return aten.squeeze.default, [input], {}
    if _is_int(dim):
        return aten.squeeze.dim, [input, dim], {}
    return aten.squeeze.dims, [input, list(dim)], {}


def _joined(name: str) -> Callable:
    def call(tensors, dim=0):
        if not isinstance(tensors, (list, tuple)) or not tensors or not all(
                isinstance(t, Tensor) for t in tensors) or not _is_int(dim):
            return None
        return getattr(aten, name).default, [list(tensors), dim], {}
    return call


def _dim_reduction(name: str, overload: str) -> Callable:
    """sum/mean over the dims given (as given); without dims the op's own rule."""
    def call(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
        if not isinstance(input, Tensor) or dim is None or (dim == [] or dim == ()):
            return None
        kwargs = {} if dtype is None else {"dtype": dtype}
        return getattr(getattr(aten, name), overload), [input, _dim_list(dim), bool(keepdim)], \
            kwargs
    return call


def _max_min_dim(name: str) -> Callable:
    def call(input, dim=None, keepdim=False):  # noqa: A002
        if not isinstance(input, Tensor) or not _is_int(dim):
            return None
        return getattr(aten, name).dim, [input, dim, bool(keepdim)], {}
    return call


def _sort(input, dim=-1, descending=False, *, stable=None):  # noqa: A002
    if not isinstance(input, Tensor) or not _is_int(dim):
        return None
    if stable is not None:
        return aten.sort.stable, [input], {"stable": stable, "dim": dim,
                                           "descending": bool(descending)}
    return aten.sort.default, [input, dim, bool(descending)], {}


def _topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    if not isinstance(input, Tensor) or not _is_int(k) or not _is_int(dim):
        return None
    return aten.topk.default, [input, k, dim, bool(largest), bool(sorted)], {}


def _chunk(input, chunks, dim=0):  # noqa: A002 - torch's chunk: split by ceil(size / chunks)
    if not isinstance(input, Tensor) or not _is_int(chunks) or chunks <= 0 or not _is_int(dim) \
            or not -input.ndim <= dim < max(input.ndim, 1):
        return None
    size = input.shape[dim]
    return aten.split.Tensor, [input, -(-size // chunks) if size else 0, dim], {}


def _split(tensor, split_size_or_sections, dim=0):
    if not isinstance(tensor, Tensor) or not _is_int(dim):
        return None
    if _is_int(split_size_or_sections):
        return aten.split.Tensor, [tensor, split_size_or_sections, dim], {}
    return aten.split_with_sizes.default, [tensor, list(split_size_or_sections), dim], {}


def _unbind(input, dim=0):  # noqa: A002
    return (aten.unbind.int, [input, dim], {}) if isinstance(input, Tensor) and _is_int(dim) \
        else None


def _arg_reduction(name: str) -> Callable:
    def call(input, dim=None, keepdim=False):  # noqa: A002
        if not isinstance(input, Tensor) or not (dim is None or _is_int(dim)):
            return None
        return getattr(aten, name).default, [input, dim, bool(keepdim)], {}
    return call


def _amax_amin(name: str) -> Callable:
    def call(input, dim=(), keepdim=False):  # noqa: A002
        if not isinstance(input, Tensor):
            return None
        return getattr(aten, name).default, [input, _dim_list(dim) or [], bool(keepdim)], {}
    return call


def _var_std(name: str) -> Callable:
    """var/std: torch's ``.correction`` overload, the legacy ``unbiased`` (a bool, positional
    after dim or by name) as the correction it means."""
    def call(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
        if not isinstance(input, Tensor):
            return None
        if isinstance(dim, bool):  # var(True): unbiased
            dim, unbiased = None, dim
        if unbiased is not None and correction is not None:
            return None
        kwargs = {}
        if correction is not None:
            kwargs["correction"] = correction
        elif unbiased is not None or dim is not None:
            kwargs["correction"] = int(True if unbiased is None else unbiased)
        if keepdim:
            kwargs["keepdim"] = True
        return getattr(aten, name).correction, [input, _dim_list(dim)], kwargs
    return call


def _vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    if not isinstance(x, Tensor) or not _is_number(ord):
        return None
    kwargs = {} if dtype is None else {"dtype": dtype}
    return aten.linalg_vector_norm.default, [x, ord, _dim_list(dim), bool(keepdim)], kwargs


def _norm(input, p="fro", dim=None, keepdim=False, dtype=None):  # noqa: A002
    if p == "fro" and (dim is None or _is_int(dim) or len(dim) == 1):
        p = 2
    return _vector_norm(input, p, dim, keepdim, dtype=dtype)


def _masked_fill(input, mask, value):  # noqa: A002
    if not isinstance(input, Tensor) or not isinstance(mask, Tensor):
        return None
    if isinstance(value, Tensor):
        return aten.masked_fill.Tensor, [input, mask, value], {}
    return aten.masked_fill.Scalar, [input, mask, value], {}


def _gather(input, dim, index, *, sparse_grad=False):  # noqa: A002
    if not isinstance(input, Tensor) or not isinstance(index, Tensor) or not _is_int(dim):
        return None
    return aten.gather.default, [input, dim, index], {"sparse_grad": bool(sparse_grad)}


def _scatter(input, dim, index, src=None, *, value=None, reduce=None):  # noqa: A002
    if not isinstance(input, Tensor) or not isinstance(index, Tensor) or reduce is not None \
            or not _is_int(dim):
        return None
    if value is None and src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if isinstance(src, Tensor) and value is None:
        return aten.scatter.src, [input, dim, index, src], {}
    if src is None and value is not None:
        return aten.scatter.value, [input, dim, index, value], {}
    return None


def _index_select(input, dim, index):  # noqa: A002
    if not isinstance(input, Tensor) or not isinstance(index, Tensor) or not _is_int(dim):
        return None
    return aten.index_select.default, [input, dim, index], {}


def _embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,  # noqa: A002
               scale_grad_by_freq=False, sparse=False):
    if not isinstance(weight, Tensor) or not isinstance(input, Tensor) or max_norm is not None:
        return None
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return aten.embedding.default, [weight, input, -1 if padding_idx is None else padding_idx,
                                    bool(scale_grad_by_freq), bool(sparse)], {}


def _compare_strict(name: str) -> Callable:
    """eq/ne: ``.Tensor`` with a tensor, ``.Scalar`` with a number (else the method's own)."""
    def call(self, other):
        if not isinstance(self, Tensor):
            return None
        if isinstance(other, Tensor):
            return getattr(aten, name).Tensor, [self, other], {}
        if _is_number(other) or isinstance(other, bool):
            return getattr(aten, name).Scalar, [self, other], {}
        return None
    return call


def _clamp_call(input, min=None, max=None):  # noqa: A002 - torch's names
    if not isinstance(input, Tensor) or not all(v is None or _is_number(v) for v in (min, max)) \
            or (min is None and max is None):
        return None
    return aten.clamp.default, [input, min, max], {}


def _type_as(self, other):
    from dlpy import device as device_type
    from dlpy import strided

    if not isinstance(self, Tensor) or not isinstance(other, Tensor) or self.dtype == other.dtype:
        return None
    return aten._to_copy.default, [self], {"dtype": other.dtype, "layout": strided,
                                           "device": device_type("cpu")}


def _rpow(self, base):
    if not isinstance(self, Tensor) or not _is_number(base):
        return None
    return aten.pow.Scalar, [base, self], {}


def _layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    if not isinstance(input, Tensor):
        return None
    if (normalized_shape is None or isinstance(normalized_shape, Tensor)) and input.ndim:
        # dlpy's own form layer_norm(x, weight, bias, eps) (nn.LayerNorm's): the last axis
        return _layer_norm(input, [input.shape[-1]], normalized_shape, weight,
                           1e-5 if bias is None else bias)
    shape = [int(normalized_shape)] if _is_int(normalized_shape) else [
        int(s) for s in normalized_shape]
    return aten.native_layer_norm.default, [input, shape, weight, bias, float(eps)], {}, True


def _conv(n: int) -> Callable:
    def call(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
        if not isinstance(input, Tensor) or not isinstance(weight, Tensor) or isinstance(
                padding, str) or input.ndim != n + 2:
            return None

        def listed(v):
            return [int(v)] * n if _is_int(v) else [int(x) for x in v]

        return aten.convolution.default, [input, weight, bias, listed(stride), listed(padding),
                                          listed(dilation), False, [0] * n, int(groups)], {}
    return call


def _conv_transpose(n: int) -> Callable:
    """F.conv_transpose{n}d as torch dispatches it: one ``aten.convolution`` (transposed)."""
    def call(input, weight, bias=None, stride=1, padding=0, output_padding=0,  # noqa: A002
             groups=1, dilation=1):
        if not isinstance(input, Tensor) or not isinstance(weight, Tensor) or \
                input.ndim != n + 2:
            return None

        def listed(v):
            return [int(v)] * n if _is_int(v) else [int(x) for x in v]

        return aten.convolution.default, [input, weight, bias, listed(stride), listed(padding),
                                          listed(dilation), True, listed(output_padding),
                                          int(groups)], {}
    return call


def _addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """torch.addmm / Tensor.addmm as one ``aten.addmm`` (not dlpy's mm then add)."""
    if not all(isinstance(t, Tensor) for t in (input, mat1, mat2)) or mat1.ndim != 2 or \
            mat2.ndim != 2:
        return None
    named = {name: value for name, value in (("beta", beta), ("alpha", alpha)) if value != 1}
    return aten.addmm.default, [input, mat1, mat2], named


_REDUCTION_CODES = {"none": 0, "mean": 1, "sum": 2}


def _nll_loss(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002
              reduce=None, reduction="mean"):
    if not isinstance(input, Tensor) or not isinstance(target, Tensor) or input.ndim not in (
            1, 2) or size_average is not None or reduce is not None or \
            reduction not in _REDUCTION_CODES:
        return None
    return aten.nll_loss_forward.default, [input, target, weight, _REDUCTION_CODES[reduction],
                                           ignore_index], {}, True


# the rules a Tensor method and the torch function of its name share
_SHOWN_BOTH: dict[str, Callable] = {
    "sum": _dim_reduction("sum", "dim_IntList"), "mean": _dim_reduction("mean", "dim"),
    "max": _max_min_dim("max"), "min": _max_min_dim("min"), "sort": _sort, "topk": _topk,
    "chunk": _chunk, "split": _split, "unbind": _unbind,
    "argmax": _arg_reduction("argmax"), "argmin": _arg_reduction("argmin"),
    "amax": _amax_amin("amax"), "amin": _amax_amin("amin"),
    "var": _var_std("var"), "std": _var_std("std"), "norm": _norm,
    "masked_fill": _masked_fill, "gather": _gather, "scatter": _scatter,
    "index_select": _index_select, "clamp": _clamp_call, "clip": _clamp_call,
    "addmm": _addmm,
}

# owner ("Tensor", "dlpy", "F": dlpy.functional, "linalg") -> name -> rule
_SHOWN_CALLS: dict[str, dict[str, Callable]] = {
    "Tensor": {
        "expand": lambda self, *sizes: (aten.expand.default, [self, list(
            sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)) else sizes)],
            {}) if isinstance(self, Tensor) and all(_is_int(v) for v in (
                sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)) else sizes))
        else None,
        "softmax": _tensor_method_softmax("_softmax"),
        "log_softmax": _tensor_method_softmax("_log_softmax"),
        "unsqueeze": _dim_call("unsqueeze"), "squeeze": _squeeze,
        "transpose": _dim_call("transpose", "int"),
        **_SHOWN_BOTH,
        "type_as": _type_as, "__rpow__": _rpow,
        "rsqrt": lambda self: (aten.rsqrt.default, [self], {}) if isinstance(self, Tensor)
        else None,
        "reciprocal": lambda self: (aten.reciprocal.default, [self], {})
        if isinstance(self, Tensor) else None,
        **{name: _compare_strict(name) for name in ("eq", "ne")},
        **{f"__{name}__": _compare_strict(name) for name in ("eq", "ne")},
    },
    "dlpy": {
        "softmax": _softmax_call("_softmax"), "log_softmax": _softmax_call("_log_softmax"),
        "unsqueeze": _dim_call("unsqueeze"), "squeeze": _squeeze,
        "transpose": _dim_call("transpose", "int"), "stack": _joined("stack"),
        "cat": _joined("cat"), "concat": _joined("cat"), "concatenate": _joined("cat"),
        **_SHOWN_BOTH,
        "rsqrt": lambda input: (aten.rsqrt.default, [input], {})  # noqa: A002
        if isinstance(input, Tensor) else None,
        "reciprocal": lambda input: (aten.reciprocal.default, [input], {})  # noqa: A002
        if isinstance(input, Tensor) else None,
        **{name: _compare_strict(name) for name in ("eq", "ne")},
    },
    "F": {
        "softmax": _softmax_call("_softmax"), "log_softmax": _softmax_call("_log_softmax"),
        "layer_norm": _layer_norm, "conv1d": _conv(1), "conv2d": _conv(2),
        "conv3d": _conv(3), "nll_loss": _nll_loss, "embedding": _embedding,
        **{f"conv_transpose{n}d": _conv_transpose(n) for n in (1, 2, 3)},
    },
    "linalg": {"vector_norm": _vector_norm},
}


def _shown_function(plain: Callable, rule: Callable) -> Callable:
    """``plain`` while modes or dispatch subclasses are about: dispatched as the overload
    its rule names, with the caller's arguments (see ``_recorded``)."""
    @functools.wraps(plain)
    def call(*args, **kwargs):
        if _quiet[0] or not _mode_stack and not (_live_types[0] and
                                                 _subclass_types(args, kwargs)):
            return plain(*args, **kwargs)
        try:
            found = rule(*args, **kwargs)
        except (TypeError, ValueError):  # arguments the rule does not know: the function's
            found = None
        if found is None:
            return plain(*args, **kwargs)
        func, values, named, *first = found
        values, named = _normalized(func, list(values), named)
        if first:  # the overload's implementation gives its whole result
            impl_args = func._bind(values, named)
            out = _recorded(func, values, named, lambda: func._run(*impl_args), (args, kwargs),
                            first=True)
            if type(out) is Tensor and out.op is not None:  # a composite torch runs as one
                from dlpy.utils import _dispatch_backward  # op: one node (nll_loss's)

                _dispatch_backward.as_one_node(out, func, values)
        else:
            out = _recorded(func, values, named, lambda: plain(*args, **kwargs), (args, kwargs))
        if type(out) is Tensor and out.op is not None:  # (the call as shown: its
            out.op.__dict__["_shown"] = values  # backward's, softmax's dim as given)
            out.op.__dict__["_shown_func"] = func
        return out

    call.__dlpy_dispatching__ = True
    return call


# composites torch shows as several ops: rule(plain, *args, **kwargs) computes the result
# through the dispatched pieces, or gives NotImplemented (the function's own call)
def _rtruediv(plain, self, other):
    """number / tensor: torch's reciprocal, then mul by the number."""
    if not isinstance(self, Tensor) or not _is_number(other) or self.dtype.kind not in "fc":
        return NotImplemented
    return self.reciprocal() * other


def _where(plain, condition, input=None, other=None):  # noqa: A002
    """where with a number: torch makes it a 0-d tensor (scalar_tensor) first."""
    from dlpy import device as device_type
    from dlpy import strided

    if not isinstance(condition, Tensor) or not (
            isinstance(input, Tensor) ^ isinstance(other, Tensor)) or not all(
            isinstance(v, Tensor) or _is_number(v) for v in (input, other)):
        return NotImplemented
    tensor = input if isinstance(input, Tensor) else other
    number = other if tensor is input else input
    if tensor.dtype.kind != "f" or not isinstance(number, (float, np.floating)):
        return NotImplemented
    scalar = _step(aten.scalar_tensor.default, float(number), dtype=tensor.dtype,
                   layout=strided, device=device_type("cpu"))
    pair = (tensor, scalar) if tensor is input else (scalar, tensor)
    return _recorded(aten.where.self, (condition, *pair), {},
                     lambda: plain(condition, input, other), (tensor,))


def _cross_entropy(plain, input, target, weight=None, size_average=None,  # noqa: A002
                   ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0):
    """torch's cross_entropy of class indices: log_softmax over the classes, then nll_loss."""
    from dlpy import functional

    if not isinstance(input, Tensor) or not isinstance(target, Tensor) or input.ndim not in (
            1, 2) or target.dtype.kind not in "iu" or label_smoothing != 0.0 or \
            size_average is not None or reduce is not None:
        return NotImplemented
    logp = functional.log_softmax(input, 0 if input.ndim == 1 else 1)
    return functional.nll_loss(logp, target, weight, ignore_index=ignore_index,
                               reduction=reduction)


def _reshaped(x: Tensor, shape: list) -> Tensor:
    """torch's reshape as the dispatcher shows it: a view, or a copy viewed."""
    from dlpy import contiguous_format

    data = x.data
    if list(data.shape) == list(shape) or data.size == 0 or np.shares_memory(
            data.reshape(shape), data):  # (numpy views where torch's view can)
        return _step(aten.view.default, x, shape)
    return _step(aten._unsafe_view.default,
                 _step(aten.clone.default, x, memory_format=contiguous_format), shape)


def _matmul_nd(plain, self, other):
    """torch's matmul with a batch: an N-d tensor by a matrix folded into one mm (when
    autograd records or the batch views as rows), else both operands expanded to the
    broadcast batch, viewed as 3-d, one bmm; the result ``_unsafe_view``ed to its shape."""
    if not (isinstance(self, Tensor) and isinstance(other, Tensor)) or self.ndim < 2 or \
            other.ndim < 2 or self.ndim == other.ndim == 2 or type(self) is not Tensor or \
            type(other) is not Tensor:
        return NotImplemented
    n, m, p = self.shape[-2], self.shape[-1], other.shape[-1]
    if m != other.shape[-2]:
        return NotImplemented
    records = is_grad_enabled() and (self.requires_grad or other.requires_grad)
    if self.ndim == 3 and other.ndim == 3 and other.shape[0] == 1 != self.shape[0]:
        other = _step(aten.squeeze.dim, other, 0)  # (torch's: a batch times a matrix)
    elif self.ndim == 3 and other.ndim == 3 and self.shape[0] == 1 != other.shape[0]:
        self = _step(aten.squeeze.dim, self, 0)  # (a matrix times a batch)
    if other.ndim > self.ndim:
        _step(aten.transpose.int, other, -2, -1)  # (torch's should_fold looks at other^T)
    if self.ndim == 2:
        return _matrix_by_batch(self, other)
    if other.ndim == 2 and (records or _viewable(self)):
        rows = _reshaped(self, [int(np.prod(self.shape[:-1])), m])
        out = _step(aten.mm.default, rows, other)
        shape = list(self.shape[:-1]) + [p]
    else:
        batch = list(np.broadcast_shapes(tuple(self.shape[:-2]), tuple(other.shape[:-2])))
        size = int(np.prod(batch))
        left = _reshaped(_step(aten.expand.default, self, batch + [n, m]), [size, n, m])
        right = _reshaped(_step(aten.expand.default, other, batch + [m, p]), [size, m, p])
        out = _step(aten.bmm.default, left, right)
        shape = batch + [n, p]
    return _step(aten._unsafe_view.default, out, shape)  # (the steps' values and graph: a
    # handler's change to one shows in the result, and the product is computed once)


def _strided_linear(plain, input, weight, bias=None):  # noqa: A002
    """linear of a batch that views as no matrix (a transposed batch): torch's matmul by the
    weight's ``t`` (the batch copied to rows: ``clone`` + ``_unsafe_view``), then ``add``."""
    if not isinstance(input, Tensor) or type(input) is not Tensor or input.ndim < 3 or \
            _viewable(input) or not isinstance(weight, Tensor) or weight.ndim != 2 or \
            input.dtype.kind != "f" or not (bias is None or isinstance(bias, Tensor)):
        return NotImplemented
    out = _matmul_nd(None, input, _step(aten.t.default, weight))
    if out is NotImplemented or bias is None:
        return out
    return _step(aten.add.Tensor, out, bias)


def _matrix_by_batch(self: Tensor, other: Tensor) -> Tensor:
    """torch's matmul of a matrix (n, m) by a batch (..., m, p): folded as (other^T @ self^T)^T
    (``transpose`` + ``t``, the batch's rows one mm, ``_unsafe_view``, ``transpose`` back and
    ``clone``) when self requires grad, else both expanded to the batch and one bmm."""
    from dlpy import contiguous_format

    n, m, p = self.shape[0], self.shape[1], other.shape[-1]
    batch = list(other.shape[:-2])
    if not self.requires_grad:
        size = int(np.prod(batch))
        left = _reshaped(_step(aten.expand.default, self, batch + [n, m]), [size, n, m])
        right = _reshaped(_step(aten.expand.default, other, batch + [m, p]), [size, m, p])
        return _step(aten._unsafe_view.default, _step(aten.bmm.default, left, right),
                     batch + [n, p])
    flipped = _step(aten.transpose.int, other, -2, -1)  # (..., p, m)
    self_t = _step(aten.t.default, self)
    rows = _reshaped(flipped, [int(np.prod(batch + [p])), m])
    out = _step(aten.mm.default, rows, self_t)
    out = _step(aten._unsafe_view.default, out, batch + [p, n])
    return _step(aten.clone.default, _step(aten.transpose.int, out, -2, -1),
                 memory_format=contiguous_format)


def _batch_norm(plain, input, running_mean=None, running_var=None, weight=None,  # noqa: A002
                bias=None, training=False, momentum=0.1, eps=1e-5):
    """torch's batch_norm on CPU: an empty uint8 reserve, then native_batch_norm (out, the
    batch's mean and 1 / std when training, else two empty tensors)."""
    from dlpy import device as device_type
    from dlpy import strided

    given = (input, running_mean, running_var, weight, bias)
    if not isinstance(input, Tensor) or input.ndim < 2 or input.dtype.kind != "f" or not all(
            t is None or isinstance(t, Tensor) and _dispatch_type(t) is None for t in given):
        return NotImplemented
    _step(aten.empty.memory_format, [0], dtype=np.dtype(np.uint8), layout=strided,
          device=device_type("cpu"))
    values = [input, weight, bias, running_mean, running_var, bool(training), float(momentum),
              float(eps)]

    made = []

    def compute():
        out = plain(input, running_mean, running_var, weight, bias, training, momentum, eps)
        op, dtype = out.op, input.dtype
        if training and hasattr(op, "batch_mean") and hasattr(op, "inv_std"):
            saved = (np.asarray(op.batch_mean, dtype).reshape(-1),
                     np.asarray(op.inv_std, dtype).reshape(-1))
        else:  # (evaluation's empty tensors; a meta input's statistics are none either)
            size = input.shape[1] if training else 0
            empty = np.zeros(size, dtype if running_mean is None else running_mean.dtype)
            saved = (empty, empty.copy())
        made.append((out, Tensor(saved[0]), Tensor(saved[1])))
        return made[-1]

    full = []
    result = _recorded(aten.native_batch_norm.default, tuple(values), {}, compute,
                       (input, weight, bias), first=True, given=full)
    if made and len(full) == 3 and result.op is not None and all(
            isinstance(t, Tensor) for t in full[1:]) and (
            full[1].data is not made[0][1].data or full[2].data is not made[0][2].data):
        # a mode's statistics: the backward reads them, as torch's node does
        result.op.__dict__["_mode_results"] = tuple(full)
    return result


def _one_int(value):
    """A 1-d pool's setting (an int, or a sequence of one) as an int, else None."""
    if type(value) in (tuple, list) and len(value) == 1:
        value = value[0]
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(
        value, bool) else None


def _pool1d(plain, shown, input, settings: list) -> Tensor:  # noqa: A002
    """torch's 1-d pool of a batch (N, C, L): ``unsqueeze`` at -2, the 2-d pool (kernel
    ``shown(wide, *settings)``, each setting [1, s] or [0, p]), the results ``squeeze``\\ d
    at -2."""
    if not isinstance(input, Tensor) or type(input) is not Tensor or input.ndim != 3 or \
            input.dtype.kind != "f" or None in settings:
        return NotImplemented
    wide = _step(aten.unsqueeze.default, input, -2)
    out = shown(wide, *settings)
    if isinstance(out, tuple):
        return tuple(_step(aten.squeeze.dim, t, -2) for t in out)
    return _step(aten.squeeze.dim, out, -2)


def _max_pool1d(plain, input, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
                ceil_mode=False, return_indices=False):
    """max_pool1d (torch's max_pool1d_with_indices): max_pool2d_with_indices between an
    unsqueeze and two squeezes (the indices' too)."""
    from dlpy import functional

    stride = kernel_size if stride is None or type(stride) in (tuple, list) and not stride \
        else stride
    settings = [_one_int(v) for v in (kernel_size, stride, padding, dilation)]
    out = _pool1d(plain, lambda wide, k, s, p, d: functional.max_pool2d(
        wide, (1, k), (1, s), (0, p), (1, d), bool(ceil_mode), return_indices=True),
        input, settings)
    if out is NotImplemented or return_indices:
        return out
    return out[0]


def _avg_pool1d(plain, input, kernel_size, stride=None, padding=0,  # noqa: A002
                ceil_mode=False, count_include_pad=True):
    """avg_pool1d: avg_pool2d between an unsqueeze and a squeeze."""
    from dlpy import functional

    stride = kernel_size if stride is None or type(stride) in (tuple, list) and not stride \
        else stride
    settings = [_one_int(v) for v in (kernel_size, stride, padding)]
    return _pool1d(plain, lambda wide, k, s, p: functional.avg_pool2d(
        wide, (1, k), (1, s), (0, p), bool(ceil_mode), bool(count_include_pad)),
        input, settings)


def _adaptive_sizes(nd: int, input, output_size) -> list | None:  # noqa: A002
    """An adaptive pool's output sizes, for a floating batch torch pools as 2-d, else None."""
    sizes = [_one_int(output_size)] * nd if nd == 1 or _one_int(output_size) is not None \
        else [_one_int(v) for v in output_size] if type(output_size) in (tuple, list) and \
        len(output_size) == 2 else [None]
    if not isinstance(input, Tensor) or type(input) is not Tensor or input.ndim not in (
            nd + 1, nd + 2) or input.dtype.kind != "f" or None in sizes or 0 in input.shape[
            -nd:] or 0 in input.shape and sizes != [1, 1]:  # (an empty batch: its mean only)
        return None
    return [1] * (2 - nd) + sizes


def _adaptive_avg_pool(nd: int) -> Callable:
    """adaptive_avg_pool1d / 2d of a batch: torch's ``mean.dim`` over the plane for an
    output of ones, else ``_adaptive_avg_pool2d``; a 1-d pool's between an ``unsqueeze`` at
    -2 and a ``squeeze.dim`` at -2."""
    def pool(plain, input, output_size):  # noqa: A002
        sizes = _adaptive_sizes(nd, input, output_size)
        if sizes is None:
            return NotImplemented
        wide = _step(aten.unsqueeze.default, input, -2) if nd == 1 else input
        if all(n == 1 for n in sizes):
            out = _step(aten.mean.dim, wide, [-1, -2], True)
        else:
            out = _step(aten._adaptive_avg_pool2d.default, wide, sizes)
        return _step(aten.squeeze.dim, out, -2) if nd == 1 else out
    return pool


def _adaptive_max_pool(nd: int) -> Callable:
    """adaptive_max_pool1d / 2d of a batch: torch's ``adaptive_max_pool2d`` (values and
    indices); a 1-d pool's between an ``unsqueeze`` at -2 and two ``squeeze.dim`` at -2 (the
    indices' first)."""
    def pool(plain, input, output_size, return_indices=False):  # noqa: A002
        sizes = _adaptive_sizes(nd, input, output_size)
        if sizes is None:
            return NotImplemented
        wide = _step(aten.unsqueeze.default, input, -2) if nd == 1 else input
        out, indices = _step(aten.adaptive_max_pool2d.default, wide, sizes)
        if nd == 1:
            indices = _step(aten.squeeze.dim, indices, -2)
            out = _step(aten.squeeze.dim, out, -2)
        return (out, indices) if return_indices else out
    return pool


def _sdpa(plain, query, key, value, attn_mask=None, *args, **kwargs):
    """scaled_dot_product_attention with a boolean attn_mask (True: attend): torch's
    conversion to an additive one first (two ``scalar_tensor``\\ s, -inf then 0, and a
    ``where``), then the kernel given that mask."""
    from dlpy import device as device_type
    from dlpy import strided

    if not isinstance(attn_mask, Tensor) or type(attn_mask) is not Tensor or \
            attn_mask.dtype != np.bool_ or not isinstance(query, Tensor) or \
            query.dtype.kind != "f" or kwargs.get("mask") is not None:
        return NotImplemented
    cpu = device_type("cpu")
    low = _step(aten.scalar_tensor.default, -np.inf, dtype=query.dtype, device=cpu)
    zero = _step(aten.scalar_tensor.default, 0.0, dtype=query.dtype, layout=strided,
                 device=cpu)
    additive = _step(aten.where.self, attn_mask, zero, low)
    return plain(query, key, value, additive, *args, **kwargs)


_COMPOSITES: dict[str, dict[str, Callable]] = {
    "Tensor": {"__rtruediv__": _rtruediv, "__rdiv__": _rtruediv, "__matmul__": _matmul_nd,
               "matmul": _matmul_nd},
    "dlpy": {"where": _where, "matmul": _matmul_nd},
    "F": {"cross_entropy": _cross_entropy, "batch_norm": _batch_norm, "linear": _strided_linear,
          "max_pool1d": _max_pool1d, "avg_pool1d": _avg_pool1d,
          "adaptive_avg_pool1d": _adaptive_avg_pool(1),
          "adaptive_avg_pool2d": _adaptive_avg_pool(2),
          "adaptive_max_pool1d": _adaptive_max_pool(1),
          "adaptive_max_pool2d": _adaptive_max_pool(2),
          "scaled_dot_product_attention": _sdpa},
}


def _composite_function(plain: Callable, rule: Callable) -> Callable:
    @functools.wraps(plain)
    def call(*args, **kwargs):
        if _quiet[0] or not _mode_stack:
            return plain(*args, **kwargs)
        try:
            result = rule(plain, *args, **kwargs)
        except TypeError:
            result = NotImplemented
        return plain(*args, **kwargs) if result is NotImplemented else result

    call.__dlpy_dispatching__ = True
    return call


# ---------------------------------------------------------------------------- installing
def _install(modes: bool = True) -> None:
    """The dispatching functions, the first time, and torch.ops.aten's dispatcher; with
    ``modes`` (a mode entered) the dispatching ``Op.__call__`` swapped in too, until no mode is
    left. A dispatch subclass alone swaps nothing: the plain ``Op.__call__`` hands an op given
    one of its instances to ``_subclass_op_call`` (an input of a type it does not take as
    plain), so the engine's hot path costs the same whatever classes a library defined."""
    global _swap
    _aten_module._dispatcher = redispatch
    if not _functions_wrapped:
        _wrap_functions()
    if not modes or _swap is not None:
        return
    from dlpy.autograd_function import swap_call_sites
    from dlpy.utils import _dispatch_backward, _dispatch_module_init

    # (the engine's sites too: a backward is shown as torch's autograd shows it)
    _swap = swap_call_sites(3, op_call=_dispatching_call, **_dispatch_backward.WRAPS)
    _swap.__enter__()
    _tensor_module._implicit_seed = _dispatch_backward.seed
    _dispatch_module_init.install()  # layers built show torch's construction kernels


def _valued(inputs: tuple) -> tuple | None:
    """The op's inputs with each dispatch subclass instance that requires no gradient and has
    its own ``numpy()`` (a wrapper keeping its values elsewhere: PyG's Index / EdgeIndex) as
    a plain Tensor of those values: autograd records the op on them, as torch's autograd
    above the dispatch records it, so a gradient reaches the other inputs (the features an
    edge index gathers). None where one has no values to give (its gradient unknown)."""
    valued = []
    for t in inputs:
        if type(t) in _dispatch_types:
            if t.requires_grad or type(t).numpy is Tensor.numpy:
                return None
            t = Tensor(np.asarray(t.numpy()))
        valued.append(t)
    return tuple(valued)


def _quiet_plain_call(op, *inputs):
    """The plain ``Op.__call__`` computing an op's own value for a dispatch subclass's handler
    (quietly: its instances among the inputs are not handed over again)."""
    from dlpy.autograd_function import PLAIN_CALL_SITES

    _quiet[0] += 1
    try:
        return PLAIN_CALL_SITES["op_call"](op, *inputs)
    finally:
        _quiet[0] -= 1


def _subclass_op_call(op, inputs: tuple):
    """The plain ``Op.__call__``'s answer for an op given an input it does not take as plain:
    dispatched where one is an instance of a ``__torch_dispatch__`` subclass (no mode entered:
    with one, the dispatching ``Op.__call__`` stands above and has done it), else
    NotImplemented and the plain call goes on."""
    if _quiet[0] or _mode_stack or not _subclass_types(inputs, {}):
        return NotImplemented
    return _subclass_call(op, *inputs)


_subclass_call = _dispatching_call(_quiet_plain_call)


def _wrap_functions() -> None:
    """The functions that are no op (factories, composites, views computed in place) get
    their dispatching wrappers, for good: they pass calls through while no mode is entered
    and no dispatch subclass is given, and a function keeps one identity from then on (a
    table keyed by ``dlpy.cat`` built inside a mode still finds it after, as torch's). Where
    dlpy.overrides' public callable stands, the wrapper goes inside it (that one stays the
    public name a ``__torch_function__`` handler is given)."""
    import dlpy
    import dlpy.functional
    import dlpy.linalg

    _functions_wrapped.append(True)
    import dlpy.nn.init

    owners = {"Tensor": Tensor, "dlpy": dlpy, "F": dlpy.functional, "linalg": dlpy.linalg,
              "init": dlpy.nn.init}
    tables = ((_FUNCTION_CALLS, _dispatching_function), (_SHOWN_CALLS, _shown_function),
              (_COMPOSITES, _composite_function))
    for (owner_name, rules), wrap in ((item, wrap) for table, wrap in tables
                                      for item in table.items()):
        owner = owners[owner_name]
        for name, rule in rules.items():
            plain = getattr(owner, name, None)
            public = plain if getattr(plain, "_set_inner", None) is not None else None
            if public is not None:  # dlpy.overrides' public callable: the wrapper inside
                plain = public.__wrapped__
            if plain is None or getattr(plain, "__dlpy_dispatching__", False):
                continue
            if public is not None:
                public._set_inner(wrap(plain, rule))
            else:
                setattr(owner, name, wrap(plain, rule))


def _uninstall_if_idle() -> None:
    """Put the plain ``Op.__call__`` back once no mode is entered (the engine's hot path is
    then as before), and torch.ops.aten's plain calls once no dispatch subclass is defined
    either."""
    global _swap
    if _mode_stack or _inside[0]:
        return
    if not _live_types[0]:
        _aten_module._dispatcher = None
    if _swap is not None:
        swap, _swap = _swap, None
        swap.__exit__(None, None, None)
        _tensor_module._implicit_seed = None
        from dlpy.utils import _dispatch_backward, _dispatch_module_init

        _dispatch_backward.reset()
        _dispatch_module_init.uninstall()


def subclass_defined(cls: type) -> None:
    """``Tensor.__init_subclass__`` of a class defining ``__torch_dispatch__``: ops given its
    instances go to it from now on."""
    if cls in _dispatch_types:
        return
    _dispatch_types.add(cls)
    _live_types[0] += 1
    weakref.finalize(cls, _class_collected).atexit = False
    _tensor_module._subclass_dispatch[0] = _subclass_op_call
    _tensor_module._plain_kinds.discard(cls)
    _install(modes=False)


def _class_collected() -> None:
    """A dispatch subclass was collected: the plain call sites again once none is left."""
    _live_types[0] -= 1
    _uninstall_if_idle()


def make_wrapper_subclass(cls, size, strides=None, storage_offset=None, memory_format=None,
                          dtype=None, layout=None, device=None, pin_memory=False,
                          requires_grad=False, dispatch_sizes_strides_policy=None,
                          dispatch_device=False, dispatch_layout=False, _extra_dispatch_keys=None,
                          storage_size=None):
    """``Tensor._make_wrapper_subclass``: a ``cls`` instance of that size and dtype holding no
    values of its own (read-only zeros stand in); its ops go to ``cls.__torch_dispatch__``."""
    import dlpy

    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"_make_wrapper_subclass: cls must be a Tensor subclass, got {cls!r}")
    if hasattr(cls, "__torch_dispatch__"):
        subclass_defined(cls)
    out = Tensor.__new__(cls)
    Tensor.__init__(out, np.zeros(tuple(int(s) for s in size),
                                  np.dtype(dtype) if dtype is not None
                                  else dlpy.get_default_dtype()),
                    requires_grad=bool(requires_grad))
    return out
