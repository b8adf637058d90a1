"""The quantizable LSTM (torch.ao.nn.quantizable.LSTM / LSTMCell): the gates as explicit Linear
layers (``igates`` for the input, ``hgates`` for the hidden state, 4 * hidden outputs each, or
one pair per gate with ``split_gates``) and FloatFunctional adds and products, so that each
intermediate result can be observed. A cell computes, as nn.LSTMCell,

    i, f, g, o = chunk4(igates(x) + hgates(h))
    c' = sigmoid(f) c + sigmoid(i) tanh(g);   h' = sigmoid(o) tanh(c')

``LSTM`` stacks ``_LSTMLayer``s (a forward ``_LSTMSingleLayer`` and, bidirectional, a backward
one over the reversed sequence). It starts in eval mode and ignores ``dropout`` (with torch's
warnings)."""

from __future__ import annotations

import numbers
import warnings

from dlpy import nn
from dlpy.ao.nn.quantized import FloatFunctional
from dlpy.ao.qtensor import QTensor, quantize_per_tensor, quint8
from dlpy.creation import zeros
from dlpy.functional import cat
from dlpy.ops import ArgAssertionError
from dlpy.ops.shape import stack

__all__ = ["LSTM", "LSTMCell"]

_GATES = ("input", "forget", "cell", "output")


class QuantizableAssertionError(ArgAssertionError):
    """torch's ``raise AssertionError`` in the quantizable modules (dlpy's ArgAssertionError:
    a ValueError too)."""


class LSTMCell(nn.Module):
    """One step of a quantizable LSTM: ``forward(x (batch, input), (h, c) or None)`` ->
    ``(h', c')`` (zeros for a missing state). Prints as ``QuantizableLSTMCell``."""

    _FLOAT_MODULE = nn.LSTMCell

    def __init__(self, input_dim: int, hidden_dim: int, bias: bool = True, device=None,
                 dtype=None, *, split_gates: bool = False):
        super().__init__()
        self.input_size, self.hidden_size = input_dim, hidden_dim
        self.bias, self.split_gates = bias, split_gates
        if not split_gates:
            self.igates = nn.Linear(input_dim, 4 * hidden_dim, bias=bias, device=device,
                                    dtype=dtype)
            self.hgates = nn.Linear(hidden_dim, 4 * hidden_dim, bias=bias, device=device,
                                    dtype=dtype)
            self.gates = FloatFunctional()
        else:  # one Linear (and one add) per gate
            self.igates, self.hgates, self.gates = nn.ModuleDict(), nn.ModuleDict(), \
                nn.ModuleDict()
            for gate in _GATES:
                self.igates[gate] = nn.Linear(input_dim, hidden_dim, bias=bias, device=device,
                                              dtype=dtype)
                self.hgates[gate] = nn.Linear(hidden_dim, hidden_dim, bias=bias, device=device,
                                              dtype=dtype)
                self.gates[gate] = FloatFunctional()
        self.input_gate, self.forget_gate = nn.Sigmoid(), nn.Sigmoid()
        self.cell_gate, self.output_gate = nn.Tanh(), nn.Sigmoid()
        self.fgate_cx, self.igate_cgate = FloatFunctional(), FloatFunctional()
        self.fgate_cx_igate_cgate, self.ogate_cy = FloatFunctional(), FloatFunctional()
        self.initial_hidden_state_qparams = (1.0, 0)
        self.initial_cell_state_qparams = (1.0, 0)
        self.hidden_state_dtype = self.cell_state_dtype = quint8

    def forward(self, x, hidden=None):
        if hidden is None or hidden[0] is None or hidden[1] is None:
            hidden = self.initialize_hidden(x.shape[0], isinstance(x, QTensor))
        hx, cx = hidden
        if not self.split_gates:
            gates = self.gates.add(self.igates(x), self.hgates(hx))
            input_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, 1)
        else:
            input_gate, forget_gate, cell_gate, out_gate = (
                self.gates[g].add(self.igates[g](x), self.hgates[g](hx)) for g in _GATES)
        input_gate = self.input_gate(input_gate)
        forget_gate = self.forget_gate(forget_gate)
        cell_gate = self.cell_gate(cell_gate)
        out_gate = self.output_gate(out_gate)
        cy = self.fgate_cx_igate_cgate.add(self.fgate_cx.mul(forget_gate, cx),
                                           self.igate_cgate.mul(input_gate, cell_gate))
        hy = self.ogate_cy.mul(out_gate, cy.tanh())
        return hy, cy

    def initialize_hidden(self, batch_size: int, is_quantized: bool = False):
        """Zero (h, c) of (batch_size, hidden_size), float32 (quantized with the initial
        qparams for a quantized input)."""
        h, c = zeros((batch_size, self.hidden_size)), zeros((batch_size, self.hidden_size))
        if is_quantized:
            (h_scale, h_zp), (c_scale, c_zp) = (self.initial_hidden_state_qparams,
                                                self.initial_cell_state_qparams)
            h = quantize_per_tensor(h, h_scale, h_zp, self.hidden_state_dtype)
            c = quantize_per_tensor(c, c_scale, c_zp, self.cell_state_dtype)
        return h, c

    def _get_name(self) -> str:
        return "QuantizableLSTMCell"

    @classmethod
    def from_params(cls, wi, wh, bi=None, bh=None, split_gates: bool = False):
        """A cell on the given weights (wi (4 hidden, input), wh (4 hidden, hidden)) and
        biases (both or neither), each made a Parameter sharing the tensor's memory (split in
        four gates with ``split_gates``)."""
        if (bi is None) != (bh is None):
            raise QuantizableAssertionError("bi and bh must both be None or both have values")
        cell = cls(input_dim=wi.shape[1], hidden_dim=wh.shape[1], bias=bi is not None,
                   split_gates=split_gates)
        if not split_gates:
            cell.igates.weight = nn.Parameter(wi)
            if bi is not None:
                cell.igates.bias = nn.Parameter(bi)
            cell.hgates.weight = nn.Parameter(wh)
            if bh is not None:
                cell.hgates.bias = nn.Parameter(bh)
        else:
            for w, b, gates in ((wi, bi, cell.igates), (wh, bh, cell.hgates)):
                for w_chunk, gate in zip(w.chunk(4, 0), gates.values()):
                    gate.weight = nn.Parameter(w_chunk)
                if b is not None:
                    for b_chunk, gate in zip(b.chunk(4, 0), gates.values()):
                        gate.bias = nn.Parameter(b_chunk)
        return cell

    @classmethod
    def from_float(cls, other, use_precomputed_fake_quant: bool = False,
                   split_gates: bool = False):
        """The quantizable cell of an nn.LSTMCell (exactly that type) that has a ``qconfig``,
        on its weights; the qconfig is copied to the cell and its gate Linears."""
        if type(other) is not cls._FLOAT_MODULE:
            raise QuantizableAssertionError(f"Expected module type {cls._FLOAT_MODULE}, got "
                                            f"{type(other)}")
        if not hasattr(other, "qconfig"):
            raise QuantizableAssertionError("The float module must have 'qconfig'")
        observed = cls.from_params(other.weight_ih, other.weight_hh, other.bias_ih,
                                   other.bias_hh, split_gates=split_gates)
        observed.qconfig = observed.igates.qconfig = observed.hgates.qconfig = other.qconfig
        if split_gates:
            for gate in (*observed.igates.values(), *observed.hgates.values()):
                gate.qconfig = other.qconfig
        return observed


class _LSTMSingleLayer(nn.Module):
    """One direction of one layer: the cell run over a (seq, batch, input) sequence ->
    ((seq, batch, hidden) outputs, last (h, c))."""

    def __init__(self, input_dim: int, hidden_dim: int, bias: bool = True, device=None,
                 dtype=None, *, split_gates: bool = False):
        super().__init__()
        self.cell = LSTMCell(input_dim, hidden_dim, bias=bias, split_gates=split_gates,
                             device=device, dtype=dtype)

    def forward(self, x, hidden=None):
        result = []
        for i in range(x.shape[0]):
            hidden = self.cell(x[i], hidden)
            result.append(hidden[0])
        return stack(result, 0), hidden

    @classmethod
    def from_params(cls, *args, **kwargs):
        cell = LSTMCell.from_params(*args, **kwargs)
        layer = cls(cell.input_size, cell.hidden_size, cell.bias, split_gates=cell.split_gates)
        layer.cell = cell
        return layer


class _LSTMLayer(nn.Module):
    """One layer, forward and (bidirectional) backward; the two directions' outputs are
    concatenated and their final states stacked."""

    def __init__(self, input_dim: int, hidden_dim: int, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False, device=None,
                 dtype=None, *, split_gates: bool = False):
        super().__init__()
        self.batch_first, self.bidirectional = batch_first, bidirectional
        kwargs = {"bias": bias, "split_gates": split_gates, "device": device, "dtype": dtype}
        self.layer_fw = _LSTMSingleLayer(input_dim, hidden_dim, **kwargs)
        if bidirectional:
            self.layer_bw = _LSTMSingleLayer(input_dim, hidden_dim, **kwargs)

    def forward(self, x, hidden=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        hx_fw, cx_fw = (None, None) if hidden is None else hidden
        hidden_bw = None
        if self.bidirectional:
            hx_bw = None if hx_fw is None else hx_fw[1]
            hx_fw = None if hx_fw is None else hx_fw[0]
            cx_bw = None if cx_fw is None else cx_fw[1]
            cx_fw = None if cx_fw is None else cx_fw[0]
            if hx_bw is not None and cx_bw is not None:
                hidden_bw = hx_bw, cx_bw
        hidden_fw = None if hx_fw is None and cx_fw is None else (hx_fw, cx_fw)
        result_fw, hidden_fw = self.layer_fw(x, hidden_fw)
        if hasattr(self, "layer_bw") and self.bidirectional:
            result_bw, hidden_bw = self.layer_bw(x.flip(0), hidden_bw)
            result = cat([result_fw, result_bw.flip(0)], result_fw.ndim - 1)
            h = stack([hidden_fw[0], hidden_bw[0]], 0)
            c = stack([hidden_fw[1], hidden_bw[1]], 0)
        else:
            result, (h, c) = result_fw, hidden_fw
        if self.batch_first:
            result = result.transpose(0, 1)
        return result, (h, c)

    @classmethod
    def from_float(cls, other, layer_idx: int = 0, qconfig=None, **kwargs):
        """Layer ``layer_idx`` of an nn.LSTM, on its weights (``weight_ih_l{k}``, ...)."""
        if not hasattr(other, "qconfig") and qconfig is None:
            raise QuantizableAssertionError("other must have qconfig or qconfig must be "
                                            "provided")
        settings = {name: kwargs.get(name, getattr(other, name)) for name in
                    ("input_size", "hidden_size", "bias", "batch_first", "bidirectional")}
        split_gates = kwargs.get("split_gates", False)
        layer = cls(settings["input_size"], settings["hidden_size"], settings["bias"],
                    settings["batch_first"], settings["bidirectional"], split_gates=split_gates)
        layer.qconfig = getattr(other, "qconfig", qconfig)
        for suffix, attribute in (("", "layer_fw"), ("_reverse", "layer_bw")):
            if suffix and not other.bidirectional:
                break
            weights = [getattr(other, f"{kind}_l{layer_idx}{suffix}", None)
                       for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            setattr(layer, attribute,
                    _LSTMSingleLayer.from_params(*weights, split_gates=split_gates))
        return layer


class LSTM(nn.Module):
    """A quantizable nn.LSTM (``QuantizableLSTM``): ``forward(x, (h0, c0) or None)`` ->
    ``(output, (h_n, c_n))`` with nn.LSTM's shapes; the weights live per layer
    (``layers[k].layer_fw.cell.igates.weight``). Starts in eval mode; ``dropout`` is
    checked, then ignored with a warning."""

    _FLOAT_MODULE = nn.LSTM

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None, *,
                 split_gates: bool = False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.training = False  # eval mode by default, as torch's
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0:
            warnings.warn("dropout option for quantizable LSTM is ignored. If you are "
                          "training, please, use nn.LSTM version followed by `prepare` step.",
                          stacklevel=2)
            if num_layers == 1:
                warnings.warn("dropout option adds dropout after all but last recurrent "
                              "layer, so non-zero dropout expects num_layers greater than 1, "
                              f"but got dropout={dropout} and num_layers={num_layers}",
                              stacklevel=2)
        kwargs = {"batch_first": False, "bidirectional": bidirectional,
                  "split_gates": split_gates, "device": device, "dtype": dtype}
        self.layers = nn.ModuleList(
            [_LSTMLayer(input_size, hidden_size, bias, **kwargs)]
            + [_LSTMLayer(hidden_size, hidden_size, bias, **kwargs)
               for _ in range(1, num_layers)])

    def forward(self, x, hidden=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        batch = x.shape[1]
        directions = 2 if self.bidirectional else 1
        if hidden is None:
            state = zeros((directions, batch, self.hidden_size))
            if directions == 1:
                state = state.squeeze(0)
            if isinstance(x, QTensor):
                state = quantize_per_tensor(state, 1.0, 0, x.dtype)
            hxcx = [(state, state) for _ in range(self.num_layers)]
        elif hasattr(hidden[0], "reshape") and not isinstance(hidden[0], (list, tuple)):
            shape = (self.num_layers, directions, batch, self.hidden_size)
            hx, cx = hidden[0].reshape(shape), hidden[1].reshape(shape)
            hxcx = [(hx[k].squeeze(0), cx[k].squeeze(0)) for k in range(self.num_layers)]
        else:  # per-layer (h, c) pairs
            hxcx = hidden
        hx_list, cx_list = [], []
        for k, layer in enumerate(self.layers):
            x, (h, c) = layer(x, hxcx[k])
            hx_list.append(h)
            cx_list.append(c)
        hx_tensor, cx_tensor = stack(hx_list), stack(cx_list)
        hx_tensor = hx_tensor.reshape(-1, hx_tensor.shape[-2], hx_tensor.shape[-1])
        cx_tensor = cx_tensor.reshape(-1, cx_tensor.shape[-2], cx_tensor.shape[-1])
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (hx_tensor, cx_tensor)

    def _get_name(self) -> str:
        return "QuantizableLSTM"

    @classmethod
    def from_float(cls, other, qconfig=None, split_gates: bool = False):
        """The quantizable LSTM of an nn.LSTM (with a ``qconfig``, or one given), on its
        weights, prepared: ``prepare_qat`` if ``other`` is training, else ``prepare``."""
        from dlpy.ao.quantization import prepare, prepare_qat

        if not isinstance(other, cls._FLOAT_MODULE):
            raise QuantizableAssertionError(f"Expected module type {cls._FLOAT_MODULE}, got "
                                            f"{type(other)}")
        if not hasattr(other, "qconfig") and not qconfig:
            raise QuantizableAssertionError("other must have qconfig or qconfig must be "
                                            "provided")
        observed = cls(other.input_size, other.hidden_size, other.num_layers, other.bias,
                       other.batch_first, other.dropout, other.bidirectional,
                       split_gates=split_gates)
        observed.qconfig = getattr(other, "qconfig", qconfig)
        for k in range(other.num_layers):
            observed.layers[k] = _LSTMLayer.from_float(other, k, qconfig, batch_first=False,
                                                       split_gates=split_gates)
        if other.training:
            observed.train()
            return prepare_qat(observed, inplace=True)
        observed.eval()
        return prepare(observed, inplace=True)

    @classmethod
    def from_observed(cls, other):
        """float -> observed is all this class does: converting is refused, as torch's."""
        raise NotImplementedError("It looks like you are trying to convert a non-quantizable "
                                  "LSTM module. Please, see the examples on quantizable LSTMs.")
