"""What a TorchDispatchMode sees of a layer being built, as torch 2.13 shows it.

torch's layers make each parameter with ``aten.empty`` (the running statistics with ``zeros``,
``ones`` and a lifted ``tensor(0)``) and then fill them in place in ``reset_parameters``:
``uniform_`` with the kaiming or 1/sqrt(fan_in) bounds, ``normal_``, ``fill_``, ``zero_``.
dlpy's layers draw their values in numpy in ``__init__``, so a mode would see nothing. While a
mode is entered (``_python_dispatch._install``) the ``__init__`` of each layer in ``_LAYERS`` is
swapped for one that builds the layer as ever and then hands the mode torch's calls, in torch's
order, with the layer's own parameters and buffers as their tensors; each call's kernel does
nothing (the values are those drawn outside a mode). ``uninstall`` puts the plain ``__init__``\\ s
back when the last mode is left, so building a layer outside a mode costs what it did.

A layer nested in a described one (MultiheadAttention's out_proj) is shown by its owner's
description; a described layer built inside a carrier (``_CARRIERS``: TransformerEncoderLayer,
the dlpy subclasses that call a described ``__init__``) shows its calls with the ``dtype=`` the
carrier was given, as torch's factory kwargs pass it down. A layer whose class overrides
``reset_parameters`` outside dlpy shows the tensors made, then that method runs (its own calls
seen), as torch's; one built on another device (meta, a FakeTensorMode) and a lazy one (its
template) show nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator

import numpy as np

from dlpy.tensor import Tensor

_saved: list = []  # (class, its own __init__) while the dispatching ones are installed
_given: list = []  # the dtype= given to each carrier being built, outermost first
_silent = [0]  # > 0 while a described layer is built (its nested layers are its own calls)


# ---------------------------------------------------------------------------- the calls
def _rule(owner: str, name: str) -> Callable:
    from dlpy.utils import _python_dispatch as dispatch

    return dispatch._FUNCTION_CALLS[owner][name]


def _made(name: str, tensor: Tensor, dtype) -> tuple:
    """torch.<name>(shape, dtype=dtype) made ``tensor`` (``empty``, ``zeros``, ``ones``)."""
    func, values, named = _rule("dlpy", name)(list(tensor.shape), dtype=dtype)
    return func, values, named, tensor


def _empty(shape: tuple, dtype) -> tuple:
    """An ``empty`` whose tensor the layer does not keep (an RNN's biases without bias)."""
    return _made("empty", Tensor(np.zeros(shape, np.float32)), dtype)


def _init(name: str, tensor: Tensor, *args, **kwargs) -> Iterator[tuple]:
    """nn.init.<name>(tensor, ...)'s kernel, as the dispatching nn.init shows it."""
    found = _rule("init", name)(tensor, *args, **kwargs)
    if found is not None:
        yield (*found, tensor)


def _in_place(name: str, tensor: Tensor, *args) -> tuple:
    """tensor.<name>(*args) (``zero_``, ``fill_``)."""
    return (*_rule("Tensor", name)(tensor, *args), tensor)


def _kaiming_layer(layer, dtype, bias_without_fan: bool) -> Iterator[tuple]:
    """Linear's and the convolutions': weight and bias made, kaiming_uniform_(a=sqrt(5)) of the
    weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of the bias (the convolutions' only for a
    fan_in other than 0)."""
    weight, bias = layer.weight, layer.bias
    yield _made("empty", weight, dtype)
    if bias is not None:
        yield _made("empty", bias, dtype)
    yield from _init("kaiming_uniform_", weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = math.prod(weight.shape[1:])
        if fan_in or bias_without_fan:
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            yield from _init("uniform_", bias, -bound, bound)


def _linear(layer, dtype, args, kwargs) -> Iterator[tuple]:
    return _kaiming_layer(layer, dtype, True)


def _conv(layer, dtype, args, kwargs) -> Iterator[tuple]:
    return _kaiming_layer(layer, dtype, False)


def _bilinear(layer, dtype, args, kwargs) -> Iterator[tuple]:
    weight, bias = layer.weight, layer.bias
    yield _made("empty", weight, dtype)
    if bias is not None:
        yield _made("empty", bias, dtype)
    bound = 1 / math.sqrt(weight.shape[1])
    for param in (weight, bias):
        if param is not None:
            yield from _init("uniform_", param, -bound, bound)


def _embedding(layer, dtype, args, kwargs) -> Iterator[tuple]:
    """empty, normal_, and the padding row's ``select`` + ``fill_(0)``; nothing for a given
    ``_weight``."""
    from dlpy.aten import aten

    weight_at = 7 if type(layer).__name__ == "EmbeddingBag" else 6
    if kwargs.get("_weight") is not None or len(args) > weight_at and \
            args[weight_at] is not None:
        return
    weight = layer.weight
    yield _made("empty", weight, dtype)
    yield from _init("normal_", weight)
    if layer.padding_idx is not None:
        row = Tensor(weight.data[layer.padding_idx])
        yield aten.select.int, (weight, 0, layer.padding_idx), {}, row
        yield _in_place("fill_", row, 0)


def _affine(layer, dtype, args, kwargs) -> Iterator[tuple]:
    """LayerNorm's, GroupNorm's, RMSNorm's: weight and bias made, then ones_ and zeros_."""
    weight, bias = layer.weight, getattr(layer, "bias", None)
    for param in (weight, bias):
        if param is not None:
            yield _made("empty", param, dtype)
    yield from _ones_zeros(weight, bias)


def _ones_zeros(weight, bias) -> Iterator[tuple]:
    if weight is not None:
        yield from _init("ones_", weight)
    if bias is not None:
        yield from _init("zeros_", bias)


def _norm_base(layer, dtype, args, kwargs) -> Iterator[tuple]:
    """Batch and instance norm: weight, bias made; running_mean ``zeros``, running_var
    ``ones``, num_batches_tracked a lifted ``tensor(0)``; then reset_running_stats' zero_,
    fill_(1), zero_ and the affine's ones_, zeros_."""
    from dlpy.aten import aten

    weight, bias = layer.weight, layer.bias
    for param in (weight, bias):
        if param is not None:
            yield _made("empty", param, dtype)
    mean, var, count = (getattr(layer, name, None) for name in (
        "running_mean", "running_var", "num_batches_tracked"))
    if mean is not None:
        yield _made("zeros", mean, dtype)
        yield _made("ones", var, dtype)
        yield aten.lift_fresh.default, (count,), {}, count
        yield _in_place("zero_", mean)
        yield _in_place("fill_", var, 1)
        yield _in_place("zero_", count)
    yield from _ones_zeros(weight, bias)


def _prelu(layer, dtype, args, kwargs) -> Iterator[tuple]:
    yield _made("empty", layer.weight, dtype)
    yield from _init("constant_", layer.weight, layer.init)


def _attention(layer, dtype, args, kwargs) -> Iterator[tuple]:
    """MultiheadAttention's: the input projections and in_proj_bias made, out_proj built (a
    Linear's four calls), bias_k and bias_v made; then xavier_uniform_ of the projections,
    constant_(0) of the two biases, xavier_normal_ of bias_k and bias_v."""
    projections = [layer.in_proj_weight] if layer._qkv_same_embed_dim else [
        layer.q_proj_weight, layer.k_proj_weight, layer.v_proj_weight]
    for weight in projections:
        yield _made("empty", weight, dtype)
    if layer.in_proj_bias is not None:
        yield _made("empty", layer.in_proj_bias, dtype)
    yield from _kaiming_layer(layer.out_proj, dtype, True)
    kv = [t for t in (layer.bias_k, layer.bias_v) if t is not None]
    for t in kv:
        yield _made("empty", t, dtype)
    for weight in projections:
        yield from _init("xavier_uniform_", weight)
    if layer.in_proj_bias is not None:
        yield from _init("constant_", layer.in_proj_bias, 0.0)
        yield from _init("constant_", layer.out_proj.bias, 0.0)
    for t in kv:
        yield from _init("xavier_normal_", t)


def _recurrent(layer, dtype, args, kwargs) -> Iterator[tuple]:
    """The recurrent layers and cells: each layer's and direction's weight_ih, weight_hh,
    bias_ih, bias_hh (made by a layer without bias too, then dropped), weight_hr made; then
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) of every parameter."""
    names = [name for name, _ in layer.named_parameters()]
    cell = not hasattr(layer, "num_layers")
    suffixes = [""] if cell else [f"_l{n}{s}" for n in range(layer.num_layers)
                                  for s in layer._suffixes()]
    for suffix in suffixes:
        weight_ih = getattr(layer, f"weight_ih{suffix}")
        yield _made("empty", weight_ih, dtype)
        yield _made("empty", getattr(layer, f"weight_hh{suffix}"), dtype)
        for kind in ("bias_ih", "bias_hh"):
            if f"{kind}{suffix}" in names:
                yield _made("empty", getattr(layer, f"{kind}{suffix}"), dtype)
            elif not cell:
                yield _empty(weight_ih.shape[:1], dtype)
        if f"weight_hr{suffix}" in names:
            yield _made("empty", getattr(layer, f"weight_hr{suffix}"), dtype)
    bound = 1.0 / math.sqrt(layer.hidden_size) if layer.hidden_size > 0 else 0
    for param in layer.parameters():
        yield from _init("uniform_", param, -bound, bound)


# ---------------------------------------------------------------------------- installing
def _layers() -> list[tuple[type, Callable | None]]:
    """(class, description) of the layers whose own ``__init__`` is swapped; a description
    None marks a carrier (its dtype= is the one its described layers show)."""
    from dlpy.nn import conv, embedding, linear, norm, rnn, transformer
    from dlpy.nn.attention import multihead

    return [
        (linear.Linear, _linear), (linear.Bilinear, _bilinear), (linear.PReLU, _prelu),
        *((getattr(conv, f"{kind}{n}d"), _conv) for kind in ("Conv", "ConvTranspose")
          for n in (1, 2, 3)),
        (embedding.Embedding, _embedding), (embedding.EmbeddingBag, _embedding),
        (norm.LayerNorm, _affine), (norm.GroupNorm, _affine), (norm.RMSNorm, _affine),
        (norm._NormBase, _norm_base), (multihead.MultiHeadAttention, _attention),
        (rnn.RNNBase, _recurrent), (rnn.RNNCellBase, _recurrent),
        *((carrier, None) for carrier in (
            norm._InstanceNorm, norm.SyncBatchNorm, multihead.MultiheadAttention, rnn.RNN,
            rnn.LSTM, rnn.GRU, rnn._CellBase, rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell,
            transformer._Layer)),
    ]


def _own_reset(layer) -> bool:
    """Whether the layer's class has a reset_parameters defined outside dlpy (torch runs it at
    construction, and so does dlpy's layer: the mode sees the tensors made, then its calls)."""
    for klass in type(layer).__mro__:
        if "reset_parameters" in vars(klass) or "_reset_parameters" in vars(klass):
            return not klass.__module__.startswith("dlpy.")
    return False


def _on_cpu(layer) -> bool:
    """Whether the layer's tensors hold values (not meta or fake ones)."""
    return all(type(t.data) is np.ndarray for t in layer.parameters()) and all(
        type(t.data) is np.ndarray for t in layer.buffers())


def _made_funcs() -> tuple:
    from dlpy.aten import aten

    return (aten.empty.memory_format, aten.zeros.default, aten.ones.default,
            aten.lift_fresh.default)


def _show(steps: Iterator[tuple]) -> None:
    from dlpy.utils import _python_dispatch as dispatch

    for func, values, named, result in steps:
        values, named = dispatch._normalized(func, list(values), named)
        dispatch.dispatch(func, values, named, lambda result=result: result)


def _dispatching_init(init: Callable, describe: Callable | None) -> Callable:
    from dlpy.utils import _python_dispatch as dispatch

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if _silent[0] or dispatch._quiet[0] or not dispatch._mode_stack:
            return init(self, *args, **kwargs)
        given = _given[0] if _given else kwargs.get("dtype")
        if describe is None:
            _given.append(given)
            try:
                return init(self, *args, **kwargs)
            finally:
                _given.pop()
        own_reset, reset_called = _own_reset(self), []
        if own_reset:  # (run_reset_override's call held back: torch's empties come first)
            object.__setattr__(self, "reset_parameters", lambda: reset_called.append(True))
        _silent[0] += 1
        try:
            init(self, *args, **kwargs)
        finally:
            _silent[0] -= 1
            if own_reset:
                del self.__dict__["reset_parameters"]
        if _on_cpu(self):
            steps = describe(self, given, args, kwargs)
            if own_reset:  # (the tensors made; the fills are the class's own method's)
                steps = (step for step in steps if step[0] in _made_funcs())
            _show(steps)
        if reset_called:
            self.reset_parameters()

    __init__.__dlpy_dispatching__ = True
    return __init__


def _silenced(method: Callable) -> Callable:
    """``method`` with the layers it builds showing nothing (a lazy layer's template)."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        _silent[0] += 1
        try:
            return method(*args, **kwargs)
        finally:
            _silent[0] -= 1

    return call


def install() -> None:
    """The dispatching ``__init__``\\ s in (a mode was entered)."""
    from dlpy.nn.lazy import LazyModuleMixin

    if _saved:
        return
    for cls, describe in _layers():
        init = cls.__dict__["__init__"]
        _saved.append((cls, "__init__", init))
        cls.__init__ = _dispatching_init(init, describe)
    setup = LazyModuleMixin.__dict__["_lazy_setup"]
    _saved.append((LazyModuleMixin, "_lazy_setup", setup))
    LazyModuleMixin._lazy_setup = _silenced(setup)


def uninstall() -> None:
    """The plain ``__init__``\\ s back (no mode is left)."""
    while _saved:
        cls, name, plain = _saved.pop()
        setattr(cls, name, plain)
