"""Recurrent layers: RNN (tanh / relu), LSTM and GRU as PyTorch's, composed from linear,
sigmoid, tanh, relu, mul, add, unbind, chunk and stack over the time steps (no hand-written
backward; a step's slice costs O(step) in backward, see dlpy.slice_grad).

Parameters carry PyTorch's names and shapes (``weight_ih_l0`` (gates * hidden, input),
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``_reverse`` for the backward direction; gate
order i, f, g, o for LSTM and r, z, n for GRU), so a torch state dict loads unchanged.

The input may also be a ``PackedSequence`` (``dlpy.nn.utils.rnn``): the output is then packed
too, and each sequence's h_n (c_n) is taken at its own last step, as torch's. It runs on the
padded batch, where a sequence past its end keeps its state (``where`` on a mask).
"""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy.nn.module import Module, Parameter
from dlpy.nn.utils_rnn import PackedSequence, packed_index, pad_packed_sequence
from dlpy.random import get_rng
from dlpy.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _positive_int(name: str, what: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: {what} must be >= {minimum}, got {value}")
    return int(value)


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


class _RNNBase(Module):
    """The stack of layers (and directions) shared by RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, rng=None, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = _positive_int(name, "input_size", input_size)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size)
        self.num_layers = _positive_int(name, "num_layers", num_layers)
        for flag, value in (("bias", bias), ("batch_first", batch_first),
                            ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be a number in [0, 1), got {dropout!r}")
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.rng = rng  # None: the default generator, drawn at call time (dropout)
        init_rng = get_rng(rng)
        gate_size = _GATES[mode] * self.hidden_size
        bound = 1.0 / math.sqrt(self.hidden_size)
        directions = 2 if bidirectional else 1
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in self._suffixes():
                shapes = {"weight_ih": (gate_size, layer_input),
                          "weight_hh": (gate_size, self.hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                # drawn in PyTorch's parameter order, each U(-1/sqrt(hidden), 1/sqrt(hidden))
                for kind, shape in shapes.items():
                    setattr(self, f"{kind}_l{layer}{suffix}",
                            Parameter(init_rng.uniform(-bound, bound, shape), dtype=dtype))

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    # ------------------------------------------------------------------ forward
    def _cell(self, x_proj: Tensor, h: Tensor, c: Tensor | None, w_hh, b_hh):
        """One time step from the input's projection x_proj (N, gates * H); returns (h, c)."""
        h_proj = F.linear(h, w_hh, b_hh)  # (N, gates * H)
        if self.mode == "RNN_TANH":
            return F.tanh(x_proj + h_proj), None
        if self.mode == "RNN_RELU":
            return F.relu(x_proj + h_proj), None
        if self.mode == "LSTM":
            i, f, g, o = F.chunk(x_proj + h_proj, 4, 1)
            c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
            return F.sigmoid(o) * F.tanh(c), c
        # GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        x_r, x_z, x_n = F.chunk(x_proj, 3, 1)
        h_r, h_z, h_n = F.chunk(h_proj, 3, 1)
        r = F.sigmoid(x_r + h_r)
        z = F.sigmoid(x_z + h_z)
        n = F.tanh(x_n + r * h_n)
        return (1.0 - z) * n + z * h, None

    def _check_state(self, state, what: str, shape: tuple[int, ...]) -> Tensor:
        state = _as_tensor(state)
        if state.shape != shape:
            raise ValueError(f"{type(self).__name__}: expected {what} of shape {shape} "
                             f"(num_layers * num_directions, batch, hidden_size), got "
                             f"{state.shape}")
        return state

    def _forward(self, x, hx):
        """(output, h_n, c_n) of a tensor, or of a PackedSequence (the output packed too)."""
        if not isinstance(x, PackedSequence):
            return self._run(x, hx)
        padded, lengths = pad_packed_sequence(x)  # (L, N, H_in) in the batch's own order
        output, h_n, c_n = self._run(padded, hx, lengths)
        return x.with_data(output[packed_index(x)]), h_n, c_n

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
            raise ValueError(f"{name}: expected input.shape[-1] == input_size == "
                             f"{self.input_size}, got shape {x.shape}")
        batched = x.ndim == 3
        if not batched:
            x = F.unsqueeze(x, 1)  # (L, 1, H_in)
        elif self.batch_first and lengths is None:
            x = F.swapaxes(x, 0, 1)  # (N, L, H_in) -> (L, N, H_in)
        seq_len, batch = x.shape[0], x.shape[1]
        if seq_len == 0:
            raise ValueError(f"{name}: expected a sequence of at least one step, got shape "
                             f"{x.shape}")
        directions = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * directions, batch, self.hidden_size)
        given = state_shape if batched else (state_shape[0], state_shape[2])
        h0 = c0 = None
        if hx is not None:
            h0, c0 = hx
            h0 = self._check_state(h0, "h0", given)
            if not batched:
                h0 = F.unsqueeze(h0, 1)
            if c0 is not None:
                c0 = self._check_state(c0, "c0", given)
                if not batched:
                    c0 = F.unsqueeze(c0, 1)
        is_lstm = self.mode == "LSTM"
        shortest = None if lengths is None else int(lengths.min())
        zeros = Tensor(np.zeros((batch, self.hidden_size), dtype=x.dtype))
        h_finals, c_finals = [], []
        layer_input = x
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training, self.rng)
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * directions + direction
                w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
                w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
                b_ih = getattr(self, f"bias_ih_l{layer}{suffix}", None)
                b_hh = getattr(self, f"bias_hh_l{layer}{suffix}", None)
                x_proj = F.linear(layer_input, w_ih, b_ih)  # (L, N, gates * H), all steps at once
                x_steps = F.unbind(x_proj, 0)  # L slices of (N, gates * H)
                h = zeros if h0 is None else h0[index]
                c = (zeros if c0 is None else c0[index]) if is_lstm else None
                steps = range(seq_len - 1, -1, -1) if direction else range(seq_len)
                hs = []
                for t in steps:
                    h_new, c_new = self._cell(x_steps[t], h, c, w_hh, b_hh)
                    if lengths is None or t < shortest:
                        h, c = h_new, c_new
                    else:  # past its end a sequence keeps its state (its output is unused)
                        running = (t < lengths)[:, None]  # (N, 1)
                        h = F.where(running, h_new, h)
                        c = F.where(running, c_new, c) if is_lstm else None
                    hs.append(h)
                if direction:
                    hs.reverse()
                outputs.append(F.stack(hs, 0))  # (L, N, H)
                h_finals.append(h)
                c_finals.append(c)
            layer_input = outputs[0] if directions == 1 else F.concat(outputs, -1)
        output = layer_input  # (L, N, directions * H)
        h_n = F.stack(h_finals, 0)
        c_n = F.stack(c_finals, 0) if is_lstm else None
        if not batched:
            output, h_n = output[:, 0], h_n[:, 0]
            c_n = c_n[:, 0] if is_lstm else None
        elif self.batch_first and lengths is None:
            output = F.swapaxes(output, 0, 1)
        return output, h_n, c_n

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
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


class RNN(_RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    Input (L, N, input_size), (N, L, input_size) with batch_first, unbatched (L, input_size)
    or a PackedSequence; h0 (num_layers * num_directions, N, hidden_size). Returns
    (output, h_n), output (L, N, num_directions * hidden_size) (packed for packed input).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, rng=None,
                 dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         rng, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, h0=None):
        output, h_n, _ = self._forward(x, None if h0 is None else (h0, None))
        return output, h_n

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(_RNNBase):
    """Long short-term memory, gates i, f, g, o:
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).

    forward(x, (h0, c0)=None) -> (output, (h_n, c_n)); shapes as RNN, c like h.
    ``proj_size`` is not supported.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, rng=None, dtype=np.float32):
        if proj_size != 0:
            raise NotImplementedError(f"LSTM: proj_size is not supported (got {proj_size}); "
                                      f"leave it 0")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, rng, dtype)

    def forward(self, x, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTM: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        if hx is not None and (hx[0] is None or hx[1] is None):
            raise TypeError("LSTM: hx must hold both h0 and c0, got None for one of them")
        output, h_n, c_n = self._forward(x, None if hx is None else tuple(hx))
        return output, (h_n, c_n)


class GRU(_RNNBase):
    """Gated recurrent unit, gates r, z, n (PyTorch's formula):
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.

    forward(x, h0=None) -> (output, h_n); shapes as RNN.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, rng=None, dtype=np.float32):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, rng, dtype)

    def forward(self, x, h0=None):
        output, h_n, _ = self._forward(x, None if h0 is None else (h0, None))
        return output, h_n
