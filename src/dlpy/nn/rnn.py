"""Recurrent layers: RNN (tanh / relu), LSTM (with projections) and GRU as PyTorch's, and
their one-step cells RNNCell, LSTMCell, GRUCell. A layer projects the input of every step at
once (linear), then runs each direction's whole sequence in one fused op (dlpy.ops.rnn), whose
backward goes back through time in one numpy loop. Float16/bfloat16 weights (and autocast)
run one op a step instead, rounding where torch's CPU cells round; so do layers given
ExpandedWeights (per-sample gradients, ``call_for_per_sample_grads``), whose rules see each
step's linear as torch's RNN decompositions give them.

Parameters carry PyTorch's names and shapes (``weight_ih_l0`` (gates * hidden, input),
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0`` (proj_size, hidden) with
projections, ``_reverse`` for the backward direction; gate order i, f, g, o for LSTM and r, z, n
for GRU; a cell's ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``), so a torch state dict
loads unchanged.

The input may also be a ``PackedSequence`` (``dlpy.nn.utils.rnn``): the output is then packed
too, and each sequence's h_n (c_n) is taken at its own last step, as torch's. It runs on the
padded batch, where a sequence past its end keeps its state.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

from dlpy import functional as F
from dlpy.amp import state as amp_state
from dlpy.amp.dtypes import is_low_precision
from dlpy.device import as_device
from dlpy.nn.linear import run_reset_override
from dlpy.nn.module import Module, Parameter
from dlpy.nn.utils_rnn import PackedSequence, packed_index, pad_packed_sequence
from dlpy.ops import ArgError
from dlpy.ops import rnn as rnn_ops
from dlpy.ops.promotion import promote_types
from dlpy.random import get_rng
from dlpy.random_streams import layer_uniform
from dlpy.tensor import Tensor, is_floating_dtype, parameter_dtype

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNError(RuntimeError, ValueError):
    """An input or state that does not fit the layer (its size, shape or dtype): torch's
    RuntimeError (its class first, as `type(e)`'s builtin base), a ValueError to dlpy."""


class _HiddenCountError(RuntimeError, TypeError):
    """An LSTM's hx that is not two states: torch's RuntimeError, a TypeError to dlpy."""


class _HiddenIndexError(_HiddenCountError, IndexError):
    """An LSTM's hx of fewer than two states (a 1-tuple, a Tensor): a _HiddenCountError, and
    the IndexError of torch's ``hx[1]``."""


class _StateTypeError(RNNError, AttributeError):
    """A state given as a tuple or list (of Tensors) where a Tensor is expected: an RNNError,
    and the AttributeError of torch's ``hx.dim()`` (a tuple is no Tensor)."""


class _CellStateItemError(_HiddenCountError, _StateTypeError):
    """An LSTMCell's hx holding something other than a Tensor (None, a number, a tuple): the
    AttributeError of torch's ``hx[i].dim()``, checked before the count (a _HiddenCountError
    and a _StateTypeError, the classes raised before)."""


class _InputDtypeError(ValueError, RuntimeError):
    """A layer's input of another dtype than its weights: torch's ValueError (its class
    first), a RuntimeError as dlpy's other input errors."""


class _TensorStateError(TypeError, ValueError):
    """An LSTMCell's hx given as one Tensor: the TypeError of torch's lstm_cell, and the
    ValueError its forward raises first where the Tensor's rows (hx[0], hx[1]) are not 1-D
    or 2-D."""


def _positive_int(name: str, what: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ArgError(f"{name}: {what} must be >= {minimum}, got {value}")
    return int(value)


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _add_parameters(module: Module, shapes: dict, suffix: str, hidden_size: int, init_rng,
                    dtype) -> None:
    """Parameters <kind><suffix> of shapes {kind: shape}, drawn in that order (PyTorch's), each
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) (0 for a cell of hidden_size 0, as torch's)."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size else 0.0
    for kind, shape in shapes.items():
        setattr(module, f"{kind}{suffix}",
                Parameter(layer_uniform(init_rng, shape, dtype, bound), dtype=dtype))


def _reset_uniform(module: Module) -> None:
    """PyTorch's reset_parameters of the recurrent layers and cells: every parameter redrawn
    in place from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) with the default generator."""
    from dlpy.nn import init

    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size else 0.0
    for param in module.parameters():
        init.uniform_(param, -bound, bound)


def _check_dtype(name: str, what: str, t: Tensor, dtype, error=RNNError) -> None:
    """Raise ``error`` unless ``t`` has the weights' dtype (torch's rule: no silent promotion;
    its class: mostly ValueError for a layer's input, RuntimeError for states and a cell's
    input)."""
    if t.dtype != dtype:
        raise error(f"{name}: {what} dtype ({np.dtype(t.dtype).name}) does not match the "
                         f"weights' dtype ({np.dtype(dtype).name}): convert the {what} "
                         f"(.to({np.dtype(dtype).name})) or the model")


def _no_proj_size(name: str, proj_size) -> None:
    """torch's RNN and GRU refuse a proj_size keyword, even 0 (projections are LSTM's)."""
    if proj_size is not None:
        raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or "
                         "GRU")


def _autocasting() -> bool:
    """Whether an autocast block is on: the steps then run as torch's CPU cells do, one op at
    a time (the hidden projection in the autocast dtype, the gates rounded to it)."""
    return amp_state.active > 0 and amp_state.thread_state().enabled


def _autocast_dtype(dtype) -> np.dtype:
    """The dtype a tensor of ``dtype`` takes in torch's autocast-cast matmuls: every float
    but float64 becomes the autocast dtype; float64 and the others stay."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype != np.float64 or is_low_precision(dtype):
        return amp_state.autocast_dtype(amp_state.thread_state())
    return dtype


def _check_autocast_dtypes(name: str, tensors) -> np.dtype:
    """Under autocast: torch casts the input, states and weights of its recurrent matmuls
    (float32/float16/bfloat16 to the autocast dtype, float64 kept), which then must share a
    dtype (its RuntimeError: "mat1 and mat2 must have the same dtype"); that dtype."""
    tensors = [(what, t) for what, t in tensors if t is not None]
    dtypes = {_autocast_dtype(t.dtype) for _, t in tensors}
    if len(dtypes) > 1:
        seen = {}  # what -> "dtype (cast to ...)", the weights as one entry
        for what, t in tensors:
            what = "weights" if what.startswith(("weight", "bias")) else what
            cast = _autocast_dtype(t.dtype)
            seen.setdefault(what, np.dtype(t.dtype).name + (
                f" (cast to {cast.name})" if cast != t.dtype else ""))
        raise RNNError(f"{name}: under autocast the input, states and weights must have the "
                       "same dtype once cast (mat1 and mat2 must have the same dtype), got "
                       + ", ".join(f"{what} {text}" for what, text in seen.items()))
    return dtypes.pop()


def _refuse_sequence(name: str, what: str, given) -> None:
    """torch's state is a Tensor: a tuple or list (even of a fitting shape) fails its
    ``hx.dim()`` (an AttributeError), as GRU's, RNN's and the cells' (h0, ) do."""
    if isinstance(given, (tuple, list)):
        kind = type(given).__name__
        raise _StateTypeError(f"{name}: expected {what} a Tensor, got a {kind} ('{kind}' "
                              "object has no attribute 'dim')")


def _stepwise(dtype) -> bool:
    """Whether to run the steps one op at a time (_rnn_step, _gru_step, _lstm_step) instead of
    the fused op: under autocast, and for float16/bfloat16 weights, where torch's CPU cells
    round each op's result to that dtype (the fused op keeps float32 within a step)."""
    return _autocasting() or is_low_precision(dtype)


def _rnn_step(x_t, h, w_hh, b_hh, relu: bool):
    """torch's SimpleCell: act(linear(h, W_hh, b_hh) + x_t)."""
    s = F.linear(h, w_hh, b_hh) + x_t
    return s.relu() if relu else s.tanh()


def _gru_step(x_t, h, w_hh, b_hh):
    """torch's GRUCell: r, z from the summed gates, n = tanh(i_n + h_n * r),
    h' = (h - n) * z + n."""
    i_r, i_z, i_n = x_t.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = (h_r + i_r).sigmoid()
    z = (h_z + i_z).sigmoid()
    n = (i_n + h_n * r).tanh()
    return (h - n) * z + n


def _lstm_step(x_t, h, c, w_hh, b_hh):
    """torch's LSTMCell: gates = linear(h, W_hh, b_hh) + x_t; c' = f * c + i * g,
    h' = o * tanh(c')."""
    i, f, g, o = (F.linear(h, w_hh, b_hh) + x_t).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _check_flag(name: str, flag: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")


def _per_sample(module: Module) -> bool:
    """Whether ``call_for_per_sample_grads`` gave the layer ExpandedWeights: it then runs one
    op a step, as torch's RNN decompositions, so that each step's ``F.linear`` adds its part
    of every sample's gradient (the fused ops know nothing of them)."""
    expanded = sys.modules.get("dlpy.nn._expanded_weights")  # (importing it turns dispatch on)
    return expanded is not None and any(
        isinstance(p, expanded.ExpandedWeight) for p in module._parameters.values())


def _linear_batch_first(x: Tensor, weight, bias) -> Tensor:
    """linear(x, weight, bias) of a time-major x (L, N, H_in) taken batch first, the axis
    ExpandedWeights read samples from (torch's decomposition marks them batch-second
    instead), returned time-major."""
    return F.swapaxes(F.linear(F.swapaxes(x, 0, 1), weight, bias), 0, 1)


class RNNBase(Module):
    """The stack of layers (and directions) shared by RNN, LSTM and GRU (torch's ``RNNBase``,
    with its arguments in its order, then dlpy's keyword ``rng``): ``mode`` "RNN_TANH",
    "RNN_RELU", "LSTM" or "GRU" picks the gates; the parameters weight_ih_l{k}, weight_hh_l{k},
    bias_ih_l{k}, bias_hh_l{k} (weight_hr_l{k} with proj_size; "_reverse" ones when
    bidirectional) drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), then a subclass's
    own reset_parameters runs, as torch's."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None, *,
                 rng=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        name = type(self).__name__
        as_device(device, name)  # the CPU only
        self.mode = mode
        # torch's order: dropout (its check and warning), the flags, then the sizes
        float(dropout)  # (torch's first use: its TypeError for None, a list)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:  # torch's warning, word for word
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for flag, value in (("bias", bias), ("batch_first", batch_first),
                            ("bidirectional", bidirectional)):
            _check_flag(name, flag, value)
        self.input_size = _positive_int(name, "input_size", input_size)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size)
        self.num_layers = _positive_int(name, "num_layers", num_layers)
        self.proj_size = _positive_int(name, "proj_size", proj_size, minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"{name}: proj_size must be smaller than hidden_size "
                             f"({self.hidden_size}), got {self.proj_size}")
        self.output_size = self.proj_size or self.hidden_size  # the size of h
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.rng = rng  # None: the default generator, drawn at call time (dropout)
        init_rng = get_rng(rng)
        if mode not in _GATES:
            raise ValueError(f"{name}: unrecognized RNN mode {mode!r} (expected one of "
                             f"{', '.join(_GATES)})")
        gate_size = _GATES[mode] * self.hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.output_size * directions
            for suffix in self._suffixes():
                shapes = {"weight_ih": (gate_size, layer_input),
                          "weight_hh": (gate_size, self.output_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if self.proj_size:
                    shapes["weight_hr"] = (self.proj_size, self.hidden_size)
                _add_parameters(self, shapes, f"_l{layer}{suffix}", self.hidden_size, init_rng,
                                dtype)
        run_reset_override(self)

    def reset_parameters(self) -> None:
        """Every weight and bias redrawn in place from U(-1/sqrt(hidden_size),
        1/sqrt(hidden_size)), as PyTorch's."""
        _reset_uniform(self)

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    # ------------------------------------------------------------------ forward
    def _direction(self, x_proj: Tensor, h: Tensor, c: Tensor | None, layer: int, suffix: str,
                   lengths, per_sample: bool = False):
        """(output (L, N, P), h_n, c_n or None) of one layer's direction from the input's
        projection x_proj (L, N, gates * H), in one fused op, or one op a step (as torch's
        CPU cells round) for float16/bfloat16 weights and, but for LSTM without projections,
        under autocast; and for an LSTM's c0 of another dtype (promoted, as torch's cells)."""
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        b_hh = getattr(self, f"bias_hh_l{layer}{suffix}", None)
        reverse = suffix == "_reverse"
        w_hr = getattr(self, f"weight_hr_l{layer}{suffix}", None)
        # (under autocast torch's LSTM layer is one oneDNN op in the autocast dtype, fused here
        # too; float16/bfloat16 weights take torch's native cells, one op at a time)
        lstm = self.mode == "LSTM"
        # (with projections, or a state of another dtype, torch's LSTM takes its native cells,
        # each op autocast and promoting on its own: c_n stays float32 under autocast)
        native = is_low_precision(w_hh.dtype) or (
            w_hr is not None and _autocasting()) or (
                c is not None and c.dtype != h.dtype and not _autocasting()) \
            if lstm else _stepwise(w_hh.dtype)
        if (lengths is None and native) or per_sample:
            outputs = [None] * x_proj.shape[0]
            # a packed batch's sequence keeps its state past its end (and its reverse
            # direction starts at its own end); its outputs there are zeros, as padding
            active = None if lengths is None else np.asarray(lengths.data)[:, None]
            for t in (reversed(range(len(outputs))) if reverse else range(len(outputs))):
                if lstm:
                    h_t, c_t = _lstm_step(x_proj[t], h, c, w_hh, b_hh)
                    # (torch's cells: matmul(h, w_hr.t()), a view cast afresh each step under
                    # autocast; its decomposition for per-sample gradients: linear(h, w_hr))
                    if w_hr is not None:
                        h_t = F.linear(h_t, w_hr) if per_sample else F.matmul(h_t, w_hr.t())
                else:
                    h_t = _gru_step(x_proj[t], h, w_hh, b_hh) if self.mode == "GRU" else \
                        _rnn_step(x_proj[t], h, w_hh, b_hh, self.mode == "RNN_RELU")
                if active is None:
                    h, c = h_t, (c_t if lstm else None)
                    outputs[t] = h
                else:
                    mask = Tensor(t < active)
                    h = F.where(mask, h_t, h)
                    c = F.where(mask, c_t, c) if lstm else None
                    outputs[t] = F.where(mask, h_t, Tensor(np.zeros((), h_t.dtype)))
            return F.stack(outputs, 0), h, c
        if lstm:
            return rnn_ops.lstm_sequence(x_proj, h, c, w_hh, b_hh, w_hr, reverse, lengths)
        if self.mode == "GRU":
            return (*rnn_ops.gru_sequence(x_proj, h, w_hh, b_hh, reverse, lengths), None)
        nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
        return (*rnn_ops.rnn_sequence(x_proj, h, w_hh, b_hh, nonlinearity, reverse, lengths),
                None)

    def _check_state(self, state, what: str, shape: tuple[int, ...], size: str,
                     dtype) -> Tensor:
        """The state, of ``shape`` and (outside autocast) ``dtype``; a float64 LSTM's c0
        may be of any dtype that promotes to float64, bfloat16 too (torch's native cells then
        multiply it in, where its float32 LSTM, oneDNN's, refuses)."""
        _refuse_sequence(type(self).__name__, what, state)
        state = _as_tensor(state)
        if state.shape != shape:
            raise RNNError(
                f"{type(self).__name__}: expected {what} of shape {shape} "
                f"(num_layers * num_directions, batch, {size}), got {state.shape}")
        if not _autocasting() and not (what == "c0" and np.dtype(dtype) == np.float64 and
                                       (state.dtype.kind in "biuf"
                                        or is_floating_dtype(state.dtype))):
            _check_dtype(type(self).__name__, what, state, dtype)
        return state

    def _forward(self, x, hx):
        """(output, h_n, c_n) of a tensor, or of a PackedSequence (the output packed too)."""
        if not isinstance(x, PackedSequence):
            return self._run(x, hx)
        padded, lengths = pad_packed_sequence(x)  # (L, N, H_in) in the batch's own order
        order = x.sorted_indices
        if order is None or not _per_sample(self):
            output, h_n, c_n = self._run(padded, hx, lengths)
            return x.with_data(output[packed_index(x)]), h_n, c_n
        # per-sample gradients come in the packed (longest first) order, as torch's: the
        # samples run in that order, the states and the output go back to the batch's own
        order, back = order.data, x.unsorted_indices.data
        if hx is not None:  # (a state of another shape is left to _run's checks)
            hx = tuple(state if state is None or np.ndim(state) != 3
                       or np.shape(state)[1] != len(order) else _as_tensor(state)[:, order]
                       for state in hx)
        output, h_n, c_n = self._run(padded[:, order], hx, lengths[order])
        return (x.with_data(output[:, back][packed_index(x)]), h_n[:, back],
                None if c_n is None else c_n[:, back])

    def _run(self, x, hx, lengths=None):
        """x (L, N, H_in) or batch-first / unbatched; hx None or (h0, c0-or-None).
        lengths: x is time-major and sequence b is lengths[b] steps long (packed input):
        its state stops changing after its last step (and the reverse direction starts
        there), so h_n is taken at each sequence's own end, as torch's."""
        name = type(self).__name__
        x = _as_tensor(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input of 3 dimensions (batched) or 2 "
                             f"(unbatched), got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise RNNError(f"{name}: expected input.shape[-1] == input_size == "
                             f"{self.input_size}, got shape {x.shape}")
        if not _autocasting():  # (torch's input check is off under autocast)
            # torch's ValueError; a packed LSTM input skips the check and fails in its matmul
            # (RuntimeError)
            packed_lstm = lengths is not None and self.mode == "LSTM"
            _check_dtype(name, "input", x, self.weight_ih_l0.dtype,
                         RNNError if packed_lstm else _InputDtypeError)
        batched = x.ndim == 3
        if not batched:
            x = F.unsqueeze(x, 1)  # (L, 1, H_in)
        elif self.batch_first and lengths is None:
            x = F.swapaxes(x, 0, 1)  # (N, L, H_in) -> (L, N, H_in)
        seq_len, batch = x.shape[0], x.shape[1]
        if seq_len == 0:
            raise RNNError(f"{name}: expected a sequence of at least one step, got shape "
                           f"{x.shape}")
        directions = 2 if self.bidirectional else 1
        num_states = self.num_layers * directions
        h0 = c0 = None
        if hx is not None:
            h0, c0 = hx
            size = "proj_size" if self.proj_size else "hidden_size"
            given = (num_states, batch, self.output_size) if batched \
                else (num_states, self.output_size)
            h0 = self._check_state(h0, "h0", given, size, x.dtype)
            if not batched:
                h0 = F.unsqueeze(h0, 1)
            if c0 is not None:
                given = (num_states, batch, self.hidden_size) if batched \
                    else (num_states, self.hidden_size)
                c0 = self._check_state(c0, "c0", given, "hidden_size", x.dtype)
                if not batched:
                    c0 = F.unsqueeze(c0, 1)
        is_lstm = self.mode == "LSTM"
        if _autocasting():
            self._check_autocast(x, h0, c0)
        per_sample = _per_sample(self)
        zeros_h = x.new_zeros((batch, self.output_size))  # (on x's device: the CPU or meta)
        zeros_c = x.new_zeros((batch, self.hidden_size))
        h_finals, c_finals = [], []
        layer_input = x
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training, self.rng)
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * directions + direction
                w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
                b_ih = getattr(self, f"bias_ih_l{layer}{suffix}", None)
                # (L, N, gates * H), all steps at once
                x_proj = _linear_batch_first(layer_input, w_ih, b_ih) if per_sample \
                    else F.linear(layer_input, w_ih, b_ih)
                h = zeros_h if h0 is None else h0[index]
                c = (zeros_c if c0 is None else c0[index]) if is_lstm else None
                output, h, c = self._direction(x_proj, h, c, layer, suffix, lengths, per_sample)
                outputs.append(output)  # (L, N, P)
                h_finals.append(h)
                c_finals.append(c)
            layer_input = outputs[0] if directions == 1 else F.concat(outputs, -1)
        output = layer_input  # (L, N, directions * P)
        if is_lstm and directions == 1:
            # (a view of the [h | c] states: torch's output is a fresh tensor, contiguous)
            output = output.contiguous()
        h_n = F.stack(h_finals, 0)
        c_n = F.stack(c_finals, 0) if is_lstm else None
        if not batched:
            # (squeeze, as torch's: the outputs' grad_fn is SqueezeBackward1)
            output, h_n = F.squeeze(output, 1), F.squeeze(h_n, 1)
            c_n = F.squeeze(c_n, 1) if is_lstm else None
        elif self.batch_first and lengths is None:
            output = F.swapaxes(output, 0, 1)
        return output, h_n, c_n

    def _check_autocast(self, x: Tensor, h0, c0) -> None:
        """torch's dtype rules under autocast: the input, h0 and the weights meet in
        autocast-cast matmuls (float64 or integers among float32 ones: its RuntimeError); so
        does c0 in its float32 LSTM (oneDNN's, all cast), while with projections or a float64
        input (its native cells) c0 is multiplied in, and must not make h float64 before the
        projection's matmul."""
        name = type(self).__name__
        tensors = [("input", x), ("h0", h0)] + list(zip(self._flat_weights_names,
                                                        self._flat_weights))
        native = self.mode != "LSTM" or self.proj_size or \
            _autocast_dtype(x.dtype) != _autocast_dtype(np.float32)
        if not native:
            tensors.append(("c0", c0))
        dtype = _check_autocast_dtypes(name, tensors)
        if native and c0 is not None and self.proj_size and \
                _autocast_dtype(promote_types(dtype, c0.dtype)) != dtype:
            raise RNNError(f"{name}: under autocast c0 ({np.dtype(c0.dtype).name}) makes h "
                           f"{np.dtype(promote_types(dtype, c0.dtype)).name} before the "
                           "projection (mat1 and mat2 must have the same dtype)")

    def flatten_parameters(self) -> None:
        """torch's call to pack the weights into one cuDNN buffer: nothing to do here (as
        torch's on the CPU); programs call it after loading or replicating a model."""

    @property
    def _all_weights(self) -> list[list[str]]:
        """The parameter names of each layer and direction, in torch's order."""
        kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else []) \
            + (["weight_hr"] if self.proj_size else [])
        return [[f"{kind}_l{layer}{suffix}" for kind in kinds]
                for layer in range(self.num_layers) for suffix in self._suffixes()]

    @property
    def _flat_weights_names(self) -> list[str]:
        return [name for names in self._all_weights for name in names]

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters of each layer and direction (torch's property)."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        """torch's: the sizes, then the settings off their defaults (never nonlinearity)."""
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


_RNNBase = RNNBase  # (dlpy's older name)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    Input (L, N, input_size), (N, L, input_size) with batch_first, unbatched (L, input_size)
    or a PackedSequence; h0 (num_layers * num_directions, N, hidden_size). Returns
    (output, h_n), output (L, N, num_directions * hidden_size) (packed for packed input).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, rng=None,
                 dtype=None, device=None, proj_size=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        _no_proj_size("RNN", proj_size)
        rnn_ops.check_nonlinearity("RNN", nonlinearity)
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype, rng=rng)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument names
        output, h_n, _ = self._forward(input, None if hx is None else (hx, None))
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory, gates i, f, g, o:
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).

    forward(x, (h0, c0)=None) -> (output, (h_n, c_n)); shapes as RNN, c like h. With
    ``proj_size`` P > 0, h = (o * tanh(c)) W_hr^T is of size P (output, h0 and h_n too) and
    W_hh is (4 * hidden_size, P), as torch's.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, rng=None, dtype=None,
                 device=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype, rng=rng)

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument name
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            short = len(hx) < 2 if isinstance(hx, (tuple, list)) else \
                isinstance(hx, Tensor) and (hx.ndim == 0 or hx.shape[0] < 2)  # (torch's hx[1])
            raise (_HiddenIndexError if short else _HiddenCountError)(
                f"LSTM: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        if hx is not None and (hx[0] is None or hx[1] is None):
            raise TypeError("LSTM: hx must hold both h0 and c0, got None for one of them")
        output, h_n, c_n = self._forward(input, None if hx is None else tuple(hx))
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit, gates r, z, n (PyTorch's formula):
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.

    forward(x, h0=None) -> (output, h_n); shapes as RNN.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, rng=None, dtype=None, device=None,
                 proj_size=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        _no_proj_size("GRU", proj_size)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype, rng=rng)

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument names
        output, h_n, _ = self._forward(input, None if hx is None else (hx, None))
        return output, h_n


# ---------------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """One step of RNN / LSTM / GRU (torch's ``RNNCellBase``, with its arguments in its order,
    then dlpy's keyword ``rng``): weight_ih (num_chunks * hidden_size, input_size), weight_hh
    (num_chunks * hidden_size, hidden_size) and, with bias, bias_ih and bias_hh (num_chunks *
    hidden_size,), drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), then a subclass's
    own reset_parameters runs, as torch's; and the checks the three cells share."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None, *, rng=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        name = type(self).__name__
        as_device(device, name)  # the CPU only
        # (torch's cells take zero sizes, where its layers refuse them)
        self.input_size = _positive_int(name, "input_size", input_size, minimum=0)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size, minimum=0)
        _check_flag(name, "bias", bias)
        self.bias = bias
        gate_size = _positive_int(name, "num_chunks", num_chunks) * self.hidden_size
        shapes = {"weight_ih": (gate_size, self.input_size),
                  "weight_hh": (gate_size, self.hidden_size)}
        if bias:
            shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
        _add_parameters(self, shapes, "", self.hidden_size, get_rng(rng), dtype)
        if not bias:  # the names there, set to None, as torch's
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        run_reset_override(self)

    def reset_parameters(self) -> None:
        """Every weight and bias redrawn in place from U(-1/sqrt(hidden_size),
        1/sqrt(hidden_size)), as PyTorch's."""
        _reset_uniform(self)

    def _project(self, x) -> tuple[Tensor, bool]:
        """(x W_ih^T + b_ih as (N, gates * H), whether x was batched)."""
        x = _as_tensor(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            error = ValueError if x.ndim not in (1, 2) else RNNError  # (torch's classes)
            raise error(f"{type(self).__name__}: expected input of shape (batch, "
                        f"{self.input_size}) or ({self.input_size},), got {x.shape}")
        if not _autocasting():  # (autocast casts x and the weights for the projections)
            _check_dtype(type(self).__name__, "input", x, self.weight_ih.dtype)
        else:  # (but float64 and integers meet float32 ones there: torch's RuntimeError)
            _check_autocast_dtypes(type(self).__name__, [("input", x)] + [
                (name, t) for name, t in self.named_parameters()])
        batched = x.ndim == 2
        if not batched:
            x = F.unsqueeze(x, 0)
        return F.linear(x, self.weight_ih, getattr(self, "bias_ih", None)), batched

    def _state(self, state, what: str, batch: int, batched: bool, dtype,
               in_matmul: bool = True) -> Tensor:
        """The given state as (N, H), zeros of the input's ``dtype`` (torch's) where it is
        None. ``in_matmul``: the state meets the weights in a matmul (h; an LSTM's c does
        not, and may be of any dtype: torch promotes)."""
        if state is None:
            return Tensor(np.zeros((batch, self.hidden_size), dtype=dtype))
        _refuse_sequence(type(self).__name__, what, state)
        state = _as_tensor(state)
        shape = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if state.shape != shape:
            raise RNNError(
                f"{type(self).__name__}: expected {what} of shape {shape}, got {state.shape}")
        if in_matmul and not _autocasting():
            _check_dtype(type(self).__name__, what, state, self.weight_hh.dtype)
        elif in_matmul:
            _check_autocast_dtypes(type(self).__name__, [
                (what, state), ("weight_hh", self.weight_hh)])
        return state if batched else F.unsqueeze(state, 0)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class _CellBase(RNNCellBase):
    """dlpy's cells: the gates of ``mode`` ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True,
                 rng=None, dtype=None, device=None):
        super().__init__(input_size, hidden_size, bias, _GATES[mode], device, dtype, rng=rng)


class RNNCell(_CellBase):
    """One Elman step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu.

    forward(x (N, input_size) or (input_size,), h=None (zeros)) -> h' (N, hidden_size) or
    (hidden_size,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng=None, dtype=None, device=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__("RNN_TANH", input_size, hidden_size, bias, rng, dtype, device)
        self.nonlinearity = nonlinearity  # (checked at call time, as torch's)

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument name
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"RNNCell: unknown nonlinearity {self.nonlinearity!r} (expected "
                               "'tanh' or 'relu')")
        x_proj, batched = self._project(input)
        h = self._state(hx, "hx", x_proj.shape[0], batched, _as_tensor(input).dtype)
        if _stepwise(self.weight_hh.dtype):
            h = _rnn_step(x_proj, h, self.weight_hh, getattr(self, "bias_hh", None),
                          self.nonlinearity == "relu")
            return h if batched else F.squeeze(h, 0)
        h = rnn_ops.rnn_cell(x_proj, h, self.weight_hh, getattr(self, "bias_hh", None),
                             self.nonlinearity)
        return h if batched else F.squeeze(h, 0)

    def extra_repr(self) -> str:
        text = super().extra_repr()  # the name unquoted, as torch's
        return text + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh"
                       else "")


class LSTMCell(_CellBase):
    """One LSTM step, gates i, f, g, o: c' = f * c + i * g, h' = o * tanh(c').

    forward(x (N, input_size) or (input_size,), (h, c)=None (zeros)) -> (h', c').
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=None, device=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__("LSTM", input_size, hidden_size, bias, rng, dtype, device)

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument name
        if isinstance(hx, (tuple, list)) and _as_tensor(input).ndim in (1, 2):
            for i, state in enumerate(hx):  # torch's hx[i].dim(), before the count (numpy
                if not isinstance(state, (Tensor, np.ndarray)):  # arrays: dlpy's, kept)
                    raise _CellStateItemError(
                        f"LSTMCell: hx[{i}] must be a Tensor, got {type(state).__name__} "
                        f"('{type(state).__name__}' object has no attribute 'dim')")
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            # (torch's lstm_cell: a RuntimeError for a tuple of another length, a TypeError for
            # a Tensor, or the ValueError of its dim check on the Tensor's rows)
            raise (_HiddenCountError if isinstance(hx, (tuple, list)) else _TensorStateError)(
                f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        x_proj, batched = self._project(input)
        h, c = (None, None) if hx is None else hx
        dtype = _as_tensor(input).dtype
        h = self._state(h, "h", x_proj.shape[0], batched, dtype)
        c = self._state(c, "c", x_proj.shape[0], batched, dtype, in_matmul=False)
        if _stepwise(self.weight_hh.dtype) or c.dtype != self.weight_hh.dtype:
            # (a c of another dtype is multiplied in: torch's native cell promotes)
            h, c = _lstm_step(x_proj, h, c, self.weight_hh, getattr(self, "bias_hh", None))
            return (h, c) if batched else (F.squeeze(h, 0), F.squeeze(c, 0))
        h, c = rnn_ops.lstm_cell(x_proj, h, c, self.weight_hh, getattr(self, "bias_hh", None))
        return (h, c) if batched else (F.squeeze(h, 0), F.squeeze(c, 0))


class GRUCell(_CellBase):
    """One GRU step (PyTorch's formula): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) * n + z * h.

    forward(x (N, input_size) or (input_size,), h=None (zeros)) -> h'.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=None, device=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__("GRU", input_size, hidden_size, bias, rng, dtype, device)

    def forward(self, input, hx=None):  # noqa: A002 - torch's argument name
        x_proj, batched = self._project(input)
        h = self._state(hx, "hx", x_proj.shape[0], batched, _as_tensor(input).dtype)
        if _stepwise(self.weight_hh.dtype):
            h = _gru_step(x_proj, h, self.weight_hh, getattr(self, "bias_hh", None))
            return h if batched else F.squeeze(h, 0)
        h = rnn_ops.gru_cell(x_proj, h, self.weight_hh, getattr(self, "bias_hh", None))
        return h if batched else F.squeeze(h, 0)
