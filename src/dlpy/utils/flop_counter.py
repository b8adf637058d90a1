"""``torch.utils.flop_counter``: how many floating-point operations a model runs, per module.

    with FlopCounterMode(depth=2) as counter:      # prints the table on exit
        model(x).sum().backward()
    counter.get_total_flops(); counter.get_flop_counts()["MLP.layers"]["aten.mm"]

Each dlpy op that does a matrix product is counted as the ATen op(s) torch runs for it, with
torch's formulas (``mm_flop``, ``conv_flop_count``, ``sdpa_flop_count``, ...):

    Linear (nn.Linear, F.linear)        aten.addmm (aten.mm without bias); backward aten.mm
    MatMul (@, matmul, bmm, einsum)     aten.mm, or aten.bmm with batch axes on both sides
    ConvNd, ConvTransposeNd             aten.convolution, aten.convolution_backward
    Attention (fused SDPA, MHA)         aten._scaled_dot_product_flash_attention_for_cpu
                                        (torch's CPU kernel, counted as torch counts its
                                        flash kernels) and its _backward
    ScoresAttention (P @ v)             aten.bmm
    GRU/RNN/LSTM sequences and cells    per step aten.addmm (aten.mm without bias) for
                                        h W_hh^T, aten.mm for an LSTM's projection (torch's
                                        unfused path; its CPU nn.LSTM runs oneDNN, uncounted)

A backward counts only the gradients it computes (inputs that require grad), as torch's.
Counts are keyed by module name (``Global``, then ``ModuleTracker``'s names) and by op name,
a string (``aten.mm`` here is ``"aten.mm"``). While the block runs, ``Op.__call__`` and the
engine's backward call are swapped for counting ones (``swap_call_sites``); outside it nothing
changes.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from dlpy.autograd_function import swap_call_sites
from dlpy.utils.module_tracker import ModuleTracker

__all__ = ["FlopCounterMode", "aten", "register_flop_formula"]

class FlopCounterStateError(RuntimeError, AssertionError):
    """``__exit__`` without ``__enter__`` (torch: AssertionError)."""


_ORDER = 0  # innermost swap_call_sites layer: counts the calls as they reach the engine


class _Aten:
    """``aten.mm`` -> "aten.mm": torch's op names as the strings dlpy keys counts by."""

    def __getattr__(self, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return f"aten.{name}"


aten = _Aten()
flop_registry: dict[Any, Callable] = {}


def register_flop_formula(targets, get_raw: bool = False) -> Callable:
    """Decorator: ``formula(*arg_shapes, out_shape=...) -> int`` counts the op(s) named by
    ``targets`` (a name such as ``aten.mm``, or a list of them). dlpy passes shapes already, so
    ``get_raw`` changes nothing."""
    names = targets if isinstance(targets, (list, tuple)) else [targets]

    def register(formula: Callable) -> Callable:
        for name in names:
            if name in flop_registry:
                raise RuntimeError(f"duplicate registrations for {name}")
            flop_registry[name] = formula
        return formula

    return register


# ------------------------------------------------------------------- torch's formulas
@register_flop_formula(aten.mm)
def mm_flop(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """2 m n k for (m, k) @ (k, n)."""
    m, k = a_shape
    k2, n = b_shape
    if k != k2:
        raise ValueError(f"mm_flop: inner dimensions must match, got {a_shape} @ {b_shape}")
    return m * n * 2 * k


@register_flop_formula(aten.addmm)
def addmm_flop(self_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    return mm_flop(a_shape, b_shape)


@register_flop_formula(aten.bmm)
def bmm_flop(a_shape, b_shape, out_shape=None, **kwargs) -> int:
    """2 b m n k for (b, m, k) @ (b, k, n)."""
    b, m, k = a_shape
    b2, k2, n = b_shape
    if b != b2 or k != k2:
        raise ValueError(f"bmm_flop: expected (b, m, k) @ (b, k, n), got {a_shape} @ {b_shape}")
    return b * m * n * 2 * k


@register_flop_formula(aten.baddbmm)
def baddbmm_flop(self_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    return bmm_flop(a_shape, b_shape)


def conv_flop_count(x_shape, w_shape, out_shape, transposed: bool = False) -> int:
    """2 * N * prod(positions) * prod(kernel) * c_out * c_in (w_shape = (c_out, c_in, *kernel)),
    the positions being the output's (the input's for a transposed convolution); bias not
    counted."""
    batch_size = x_shape[0]
    conv_shape = (x_shape if transposed else out_shape)[2:]
    c_out, c_in, *filter_size = w_shape
    return math.prod(conv_shape) * math.prod(filter_size) * batch_size * c_out * c_in * 2


@register_flop_formula(aten.convolution)
def conv_flop(x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, *args,
              out_shape=None, **kwargs) -> int:
    return conv_flop_count(x_shape, w_shape, out_shape, transposed=transposed)


@register_flop_formula(aten.convolution_backward)
def conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                       transposed, _output_padding, _groups, output_mask, out_shape,
                       **kwargs) -> int:
    """The input gradient as the transposed convolution of the output gradient by w, the
    weight gradient as a convolution of x by the output gradient (torch's formula)."""
    def t(shape):
        return [shape[1], shape[0]] + list(shape[2:])

    flop_count = 0
    if output_mask[0]:
        flop_count += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:
        if transposed:
            flop_count += conv_flop_count(t(grad_out_shape), t(x_shape), t(out_shape[1]))
        else:
            flop_count += conv_flop_count(t(x_shape), t(grad_out_shape), t(out_shape[1]))
    return flop_count


def sdpa_flop_count(query_shape, key_shape, value_shape) -> int:
    """q k^T and P v: two batched products over (batch * heads)."""
    b, h_q, s_q, d_q = query_shape
    _, _, s_k, _ = key_shape
    d_v = value_shape[-1]
    return (bmm_flop((b * h_q, s_q, d_q), (b * h_q, d_q, s_k))
            + bmm_flop((b * h_q, s_q, s_k), (b * h_q, s_k, d_v)))


def sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape) -> int:
    """The scores recomputed, then the gradients of P v and of q k^T: five batched
    products."""
    b, h_q, s_q, d_q = query_shape
    _, _, s_k, _ = key_shape
    d_v = value_shape[-1]
    bh = b * h_q
    return (bmm_flop((bh, s_q, d_q), (bh, d_q, s_k)) + bmm_flop((bh, s_q, d_v), (bh, d_v, s_k))
            + bmm_flop((bh, s_k, s_q), (bh, s_q, d_v)) + bmm_flop((bh, s_q, s_k), (bh, s_k, d_q))
            + bmm_flop((bh, d_q, s_q), (bh, s_q, s_k)))


SDPA = "aten._scaled_dot_product_flash_attention_for_cpu"
SDPA_BACKWARD = SDPA + "_backward"


@register_flop_formula([SDPA, aten._scaled_dot_product_flash_attention,
                        aten._scaled_dot_product_efficient_attention])
def sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


@register_flop_formula([SDPA_BACKWARD, aten._scaled_dot_product_flash_attention_backward,
                        aten._scaled_dot_product_efficient_attention_backward])
def sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args,
                       out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# ------------------------------------------------------------- dlpy ops as ATen calls
def _mm_calls(name: str, a: tuple, b: tuple, need: tuple[bool, bool] | None):
    """Forward (need None) or backward calls of a product a (..., m, k) @ b (k, n) folded
    into one mm (name "aten.mm"), or batched (B, m, k) @ (B, k, n) ("aten.bmm")."""
    if need is None:
        return [(name, (a, b), a[:-1] + b[-1:])]
    calls = []
    if need[0]:  # grad_a = g @ b^T
        calls.append((name, (a[:-1] + b[-1:], b[:-2] + (b[-1], b[-2])), a))
    if need[1]:  # grad_b = a^T @ g
        calls.append((name, (a[:-2] + (a[-1], a[-2]), a[:-1] + b[-1:]), b))
    return calls


def _folds_transposed(a: tuple, b: tuple, a_requires_grad: bool) -> bool:
    """Whether torch's matmul folds (m, k) or (k,) @ (B..., k, n) into one product of b^T
    (at::native's should_fold): when ``a`` requires grad, else for a 1-D ``a`` when b^T
    (b contiguous) views as a matrix without a copy (b empty, or its sizes make it so)."""
    if a_requires_grad:
        return True
    if len(a) == 2:
        return False
    shape = b[:-2] + (b[-1], b[-2])  # b^T, strides of a contiguous b
    strides = [math.prod(b[i + 1:]) for i in range(len(b))]
    strides[-2], strides[-1] = strides[-1], strides[-2]
    return math.prod(b) == 0 or all(strides[i] == strides[i + 1] * shape[i + 1]
                                    for i in range(len(b) - 1))


def _matmul_calls(shapes, need, a_requires_grad=False):
    a, b = shapes[:2]
    if len(b) < 2 or not a:  # a matrix-vector or dot product: torch's mv/dot, not counted
        return []
    if need is not None:
        a_requires_grad = need[0]
    if len(a) <= 2 < len(b) and _folds_transposed(a, b, a_requires_grad):
        if len(a) == 1:  # b^T @ a: torch's mv, not counted
            return []
        # (m, k) @ (B, k, n): torch folds b^T @ a^T into one mm
        batch = math.prod(b[:-2])
        return _mm_calls("aten.mm", (batch * b[-1], b[-2]), (a[1], a[0]), need)
    if len(a) == 1:
        a = (1,) + a
    if len(b) == 2:  # (..., m, k) @ (k, n): the batch folded into the rows, one mm
        return _mm_calls("aten.mm", (math.prod(a[:-1]), a[-1]), b, need)
    batch = math.prod(_broadcast(a[:-2], b[:-2]))
    return _mm_calls("aten.bmm", (batch,) + a[-2:], (batch,) + b[-2:], need)


def _broadcast(a: tuple, b: tuple) -> tuple:
    size = max(len(a), len(b))
    a, b = (1,) * (size - len(a)) + a, (1,) * (size - len(b)) + b
    return tuple(y if x == 1 else x for x, y in zip(a, b))  # (a size 0 wins over 1)


def _linear_calls(shapes, need):
    x, w = shapes[:2]
    rows = (math.prod(x[:-1]), x[-1])  # a 1-D x as one row, as torch's linear
    if need is None:
        if len(shapes) > 2:
            return [("aten.addmm", (shapes[2], rows, (w[1], w[0])), (rows[0], w[0]))]
        return [("aten.mm", (rows, (w[1], w[0])), (rows[0], w[0]))]
    return _mm_calls("aten.mm", rows, (w[1], w[0]), need[:2])


def _conv_calls(op, shapes, out, grad, need, transposed: bool):
    x, w = shapes[:2]
    bias = shapes[2] if len(shapes) > 2 else None
    nd = len(x) - 2
    output_padding = getattr(op, "output_padding", (0,) * nd)
    settings = (tuple(op.stride), tuple(op.padding), tuple(op.dilation), transposed,
                tuple(output_padding), op.groups)
    if need is None:
        return [("aten.convolution", (x, w, bias, *settings), out)]
    mask = [need[0], need[1], bias is not None and need[2]]
    outs = [x if mask[0] else None, w if mask[1] else None, bias if mask[2] else None]
    return [("aten.convolution_backward", (grad, x, w, bias, *settings, mask), outs)]


def _attention_calls(op, shapes, need):
    if op.packed:
        width = shapes[0][-1] // 3
        shapes = [shapes[0][:-1] + (width,)] * 3
    if op.num_heads is not None:  # (batch, seq, heads * dim) -> (batch, heads, seq, dim)
        heads = op.num_heads
        shapes = [(s[0], heads, s[1], s[2] // heads) for s in shapes[:3]]
    q, k, v = shapes[:3]
    lead = math.prod(q[:-2])  # every query head attends (grouped or broadcast keys too)
    q, k, v = (lead, 1) + q[-2:], (lead, 1) + k[-2:], (lead, 1) + v[-2:]
    out = q[:-1] + v[-1:]
    if need is None:
        return [(SDPA, (q, k, v), out)]
    if not any(need):
        return []
    return [(SDPA_BACKWARD, (out, q, k, v), (q, k, v))]


def _scores_attention_calls(shapes, need):
    scores, v = shapes[:2]
    batch = math.prod(scores[:-2])
    return _mm_calls("aten.bmm", (batch,) + scores[-2:], (batch,) + v[-2:], need)


def _recurrence_calls(op, shapes, need):
    """A fused recurrent layer as torch's unfused path runs it: per step t over its n_t
    sequences, h W_hh^T (+ b_hh) as aten.addmm (aten.mm without bias), an LSTM's projection
    h W_hr^T as aten.mm; backward the products' input and weight gradients per step (none for
    the first step's state unless it requires grad)."""
    from dlpy.ops.rnn import _OneStep

    x = shapes[0] if not isinstance(op, _OneStep) else (1,) + shapes[0]
    seq_len, batch = x[0], x[1]
    gates, width = shapes[1 + op.num_states]
    w_hr = shapes[-1] if getattr(op, "proj", False) else None
    hidden = w_hr[1] if w_hr is not None else width
    if op.lengths is None:
        rows = [batch] * seq_len
    else:
        rows = [int((op.lengths > t).sum()) for t in range(seq_len)]
    rows = [n for n in rows if n]
    calls = []
    w_index = 1 + op.num_states
    for step, n in enumerate(rows):
        if need is None:
            if op.bias:
                calls.append(("aten.addmm", ((gates,), (n, width), (width, gates)), (n, gates)))
            else:
                calls.append(("aten.mm", ((n, width), (width, gates)), (n, gates)))
            if w_hr is not None:
                calls.append(("aten.mm", ((n, hidden), (hidden, width)), (n, width)))
            continue
        state_grad = step > 0 or need[1]
        if w_hr is not None:
            calls += _mm_calls("aten.mm", (n, hidden), (hidden, width), (True, need[-1]))
        calls += _mm_calls("aten.mm", (n, width), (width, gates), (state_grad, need[w_index]))
    return calls


def aten_calls(op, shapes: list[tuple], out: tuple | None, grad: tuple | None = None,
               need: tuple[bool, ...] | None = None,
               requires_grad: tuple[bool, ...] = ()) -> list[tuple[str, tuple, Any]]:
    """The ATen calls torch would make for dlpy op ``op`` with input ``shapes``: forward
    (``need`` None; ``requires_grad``: which inputs require grad, which changes how torch's
    matmul folds) or backward (``need``: which inputs get a gradient), as (name, argument
    shapes, output shape) for the formulas."""
    from dlpy.ops.attention import Attention, ScoresAttention
    from dlpy.ops.conv import ConvNd, ConvTransposeNd
    from dlpy.ops.matmul import Linear, MatMul
    from dlpy.ops.rnn import _Recurrence

    if isinstance(op, Linear):
        return _linear_calls(shapes, need)
    if isinstance(op, MatMul):
        return _matmul_calls(shapes, need, bool(requires_grad and requires_grad[0]))
    if isinstance(op, ConvNd):
        return _conv_calls(op, shapes, out, grad, need, False)
    if isinstance(op, ConvTransposeNd):
        return _conv_calls(op, shapes, out, grad, need, True)
    if isinstance(op, Attention):
        return _attention_calls(op, shapes, need)
    if isinstance(op, ScoresAttention):
        return _scores_attention_calls(shapes, need)
    if isinstance(op, _Recurrence):
        return _recurrence_calls(op, shapes, need)
    return []


def _shape(value) -> tuple:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else ()


# ------------------------------------------------------------------------- the mode
_SUFFIXES = ["", "K", "M", "B", "T"]


def get_suffix_str(number: int) -> str:
    """The suffix a table shows ``number`` with: K, M, B, T (1.01B shows as 1010M)."""
    index = max(0, min(len(_SUFFIXES) - 1, (len(str(number)) - 2) // 3))
    return _SUFFIXES[index]


def convert_num_with_suffix(number: int, suffix: str) -> str:
    return f"{number / 1000 ** _SUFFIXES.index(suffix):.3f}" + suffix


def convert_to_percent_str(num: int, denom: int) -> str:
    return "0%" if denom == 0 else f"{num / denom:.2%}"


class FlopCounterMode:
    """Counts the FLOPs of the ops run inside the block, per module and per op; prints the
    table (``get_table(depth)``) on exit when ``display``. ``custom_mapping``: op name ->
    formula(*arg_shapes, out_shape=...) replacing torch's, or a dlpy ``Op`` class ->
    formula(*input_shapes, out_shape=...) counting that op's forward under its class name.
    ``mods`` is accepted and unused, as torch's (with its warning)."""

    def __init__(self, mods=None, depth: int = 2, display: bool = True,
                 custom_mapping: dict | None = None) -> None:
        self.flop_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.depth, self.display = depth, display
        if mods is not None:
            warnings.warn("mods argument is not needed anymore, you can stop passing it",
                          stacklevel=2)
        custom_mapping = dict(custom_mapping or {})
        for key, formula in custom_mapping.items():
            if not callable(formula):
                raise TypeError(f"FlopCounterMode: custom_mapping[{key!r}] must be a "
                                f"callable formula, got {type(formula).__name__}")
        self.flop_registry = {**flop_registry, **{k: v for k, v in custom_mapping.items()
                                                  if isinstance(k, str)}}
        self._op_formulas = {k: v for k, v in custom_mapping.items() if isinstance(k, type)}
        self.mod_tracker = ModuleTracker()
        self._swap = None

    def get_total_flops(self) -> int:
        return sum(self.flop_counts["Global"].values())

    def get_flop_counts(self) -> dict[str, dict[str, int]]:
        """Module name -> {op name: FLOPs}."""
        return {name: dict(ops) for name, ops in self.flop_counts.items()}

    def get_table(self, depth: int | None = None) -> str:
        """torch's table: Module, FLOP, % Total; modules (sorted by name) down to ``depth``
        levels, each followed by its ops; a Global row only when some FLOPs lie outside
        every module."""
        if depth is None:
            depth = self.depth
        if depth is None:
            depth = 999999
        global_flops = self.get_total_flops()
        global_suffix = get_suffix_str(global_flops)
        is_global_subsumed = False

        def process_mod(mod_name: str, depth: int) -> list[list[str]]:
            nonlocal is_global_subsumed
            total_flops = sum(self.flop_counts[mod_name].values())
            is_global_subsumed |= total_flops >= global_flops
            padding = " " * depth
            rows = [[padding + mod_name, convert_num_with_suffix(total_flops, global_suffix),
                     convert_to_percent_str(total_flops, global_flops)]]
            for op, count in self.flop_counts[mod_name].items():
                rows.append([padding + " - " + str(op),
                             convert_num_with_suffix(count, global_suffix),
                             convert_to_percent_str(count, global_flops)])
            return rows

        values: list[list[str]] = []
        for mod in sorted(self.flop_counts.keys()):
            if mod == "Global":
                continue
            mod_depth = mod.count(".") + 1
            if mod_depth > depth:
                continue
            values.extend(process_mod(mod, mod_depth - 1))
        if "Global" in self.flop_counts and not is_global_subsumed:
            for row in values:
                row[0] = " " + row[0]
            values = process_mod("Global", 0) + values
        if not values:
            values = [["Global", "0", "0%"]]
        return _simple_table(["Module", "FLOP", "% Total"], values)

    def _count(self, name_or_op, shapes, out, parents) -> None:
        if isinstance(name_or_op, str):
            formula = self.flop_registry.get(name_or_op)
            if formula is None:
                return
            flops = formula(*shapes, out_shape=out)
            key = name_or_op
        else:
            flops = self._op_formulas[type(name_or_op)](*shapes, out_shape=out)
            key = type(name_or_op).__name__
        for parent in parents:
            self.flop_counts[parent][key] += int(flops)

    def _counting_op_call(self, inner):
        def op_call(op, *inputs):
            out = inner(op, *inputs)
            shapes = [_shape(x) for x in inputs]
            if type(op) in self._op_formulas:
                self._count(op, shapes, _shape(out), set(self.mod_tracker.parents))
            else:
                requires_grad = tuple(bool(getattr(x, "requires_grad", False))
                                      for x in inputs)
                for name, args, out_shape in aten_calls(op, shapes, _shape(out),
                                                        requires_grad=requires_grad):
                    self._count(name, args, out_shape, set(self.mod_tracker.parents))
            return out

        return op_call

    def _counting_backward(self, inner):
        def backward(op, grad_output, *rest):
            grads = inner(op, grad_output, *rest)
            if type(op) not in self._op_formulas:
                need = tuple(bool(getattr(x, "requires_grad", False)) for x in op.inputs)
                shapes = [_shape(x) for x in op.inputs]
                calls = aten_calls(op, shapes, None, _shape(grad_output), need)
                parents = self.mod_tracker.parents_of(op)
                for name, args, out_shape in calls:
                    self._count(name, args, out_shape, parents)
            return grads

        return backward

    def __enter__(self) -> FlopCounterMode:
        if self._swap is not None:
            raise RuntimeError("FlopCounterMode is not reentrant")
        self.flop_counts.clear()
        self.mod_tracker.__enter__()
        # only the numpy backward is counted: under create_graph, backward_graph records ops,
        # which op_call counts
        self._swap = swap_call_sites(_ORDER, op_call=self._counting_op_call,
                                     checked_grads=self._counting_backward)
        self._swap.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._swap is None:
            raise FlopCounterStateError("FlopCounterMode.__exit__ without __enter__")
        self._swap.__exit__(None, None, None)
        self._swap = None
        self.mod_tracker.__exit__()
        if self.display:
            print(self.get_table(self.depth))


def _number(text: str):
    """int or float if tabulate would read ``text`` as a number, else None."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def _simple_table(headers: list[str], rows: list[list[str]]) -> str:
    """tabulate's "simple" format as torch's get_table calls it (first column left, the
    others right, whitespace kept; a column of numbers only printed as numbers)."""
    columns = [list(column) for column in zip(*rows)]
    for i, column in enumerate(columns):
        numbers = [_number(cell) for cell in column]
        if all(n is not None for n in numbers):
            columns[i] = [str(n) if isinstance(n, int) else format(n, "g") for n in numbers]
    widths = [max(len(header) + 2, *(len(cell) for cell in column))
              for header, column in zip(headers, columns)]

    def line(cells):
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths)))

    lines = [line(headers), "  ".join("-" * width for width in widths)]
    lines += [line(cells) for cells in zip(*columns)]
    return "\n".join(lines)
