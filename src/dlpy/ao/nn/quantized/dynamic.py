"""torch.ao.nn.quantized.dynamic: int8 weights, float activations quantized per call (Linear,
LSTM).

Each forward picks the input's (scale, zero_point) from its min/max (fbgemm's
ChooseQuantizationParams, 7-bit with reduce_range as torch's x86/fbgemm), quantizes it, sums
the integer products exactly and returns floats: y = (x_s * w_s) * acc + bias (float32).
"""

from __future__ import annotations

import copy

import numpy as np

from dlpy import nn
from dlpy.ao.nn.quantized import _WeightedQuantized, int_matmul
from dlpy.ao.qtensor import QTensor, choose_qparams, quantize_array, quint8
from dlpy.tensor import Tensor

F32 = np.float32


class Linear(_WeightedQuantized):
    """float (..., in_features) -> float (..., out_features) with a qint8 weight."""

    def __init__(self, in_features: int, out_features: int, bias_: bool = True,
                 per_channel: bool = False, reduce_range: bool = True):
        super().__init__((out_features, in_features), bias_, per_channel)
        self.in_features, self.out_features = in_features, out_features
        self.reduce_range = reduce_range

    _like = classmethod(lambda cls, layer, per_channel: cls(
        layer.in_features, layer.out_features, layer.bias is not None, per_channel))

    def _shape_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"dtype=qint8"

    @classmethod
    def from_float(cls, module, weight_observer=None):
        from dlpy.ao.quantization.quantize import quantize_weight

        weight, _ = quantize_weight(module, weight_observer)
        layer = cls._like(module, per_channel=weight._axis is not None)
        layer.set_weight_bias(weight, module.bias)
        return layer

    def extra_repr(self) -> str:
        per = "per_channel" if self.weight_scales.numel() > 1 else "per_tensor"
        return f"{self._shape_repr()}, qscheme={per}"

    def quantize_input(self, x: np.ndarray) -> QTensor:
        scale, zero_point = choose_qparams(x.min(), x.max(), reduce_range=self.reduce_range)
        scale, zero_point = float(scale[0]), int(zero_point[0])
        q = quantize_array(x, scale, zero_point, 0, 255)
        return QTensor(q.astype(np.uint8), quint8, scale, zero_point)

    def forward(self, x) -> Tensor:
        data = np.asarray(x.data if isinstance(x, Tensor) else x, F32)
        if data.shape[-1:] != (self.in_features,):
            raise ValueError(f"dynamic.Linear: expected input (..., {self.in_features}), got "
                             f"{data.shape}")
        if data.size == 0:
            return Tensor(np.zeros(data.shape[:-1] + (self.out_features,), F32))
        q = self.quantize_input(data)
        rows = q._int.reshape(-1, self.in_features).astype(np.int32) - q.q_zero_point()
        acc = int_matmul(rows, self._shifted_weight().T)
        y = (F32(q.q_scale()) * self.weight_scales.data) * acc.astype(F32)
        if self.packed_bias is not None:
            y = y + self.packed_bias.data
        return Tensor(y.astype(F32).reshape(data.shape[:-1] + (self.out_features,)))




def _sigmoid(v: np.ndarray) -> np.ndarray:
    return F32(1.0) / (F32(1.0) + np.exp(-v))


class LSTM(nn.Module):
    """An LSTM whose input-hidden and hidden-hidden products are dynamic int8 Linears (torch's
    quantize_dynamic of nn.LSTM): per layer and direction, the input products of the whole
    sequence are computed at once (one input quantization, as torch), the hidden products step
    by step; the gates (i, f, g, o) in float32. Input (L, N, input_size) ((N, L, ...) with
    batch_first, or unbatched (L, input_size)); returns (output, (h_n, c_n))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.bidirectional = batch_first, bidirectional
        self.dropout = dropout  # as torch's: inference only, so never applied
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"ih_l{layer}{suffix}",
                        Linear(layer_input, 4 * hidden_size, bias))
                setattr(self, f"hh_l{layer}{suffix}",
                        Linear(hidden_size, 4 * hidden_size, bias))

    @classmethod
    def from_float(cls, module, weight_observer=None):
        """The dynamic LSTM of an nn.LSTM (no projection): every weight quantized with
        ``weight_observer`` (a fresh one per weight; default: the qconfig's)."""
        from dlpy.ao.quantization.quantize import quantize_weight

        if getattr(module, "proj_size", 0):
            raise ValueError("dynamic.LSTM: proj_size > 0 is not supported")
        layer = cls(module.input_size, module.hidden_size, module.num_layers,
                    module.bias, module.batch_first, module.dropout, module.bidirectional)
        factory = (lambda: weight_observer) if weight_observer is not None else \
            module.qconfig.weight
        for name, target in list(layer.named_children()):
            kind, suffix = name.split("_", 1)  # "ih", "l0" / "l0_reverse"
            float_layer = nn.Linear(1, 1)
            float_layer.weight = getattr(module, f"weight_{kind}_{suffix}")
            float_layer.bias = getattr(module, f"bias_{kind}_{suffix}", None)
            weight, _ = quantize_weight(float_layer, copy.deepcopy(factory()))
            target.set_weight_bias(weight, float_layer.bias)
        return layer

    def _direction(self, name: str, x: np.ndarray, h: np.ndarray, c: np.ndarray,
                   reverse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gates_x = getattr(self, f"ih_{name}")(x).data  # (L, N, 4H), the sequence at once
        hidden = getattr(self, f"hh_{name}")
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = np.empty(x.shape[:2] + (self.hidden_size,), F32)
        for t in steps:
            i, f, g, o = np.split(gates_x[t] + hidden(h).data, 4, axis=-1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            outputs[t] = h
        return outputs, h, c

    def forward(self, input, hx=None):
        data = np.asarray(input.data if isinstance(input, Tensor) else input, F32)
        unbatched = data.ndim == 2
        if data.ndim not in (2, 3) or data.shape[-1] != self.input_size:
            raise ValueError(f"dynamic.LSTM: expected input (L, N, {self.input_size}) or "
                             f"(L, {self.input_size}), got {data.shape}")
        data = data[:, None] if unbatched else data.swapaxes(0, 1) if self.batch_first else data
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions, data.shape[1], self.hidden_size)
        if hx is None:
            h0 = c0 = np.zeros(shape, F32)
        else:
            h0, c0 = (np.asarray(v.data if isinstance(v, Tensor) else v, F32) for v in hx)
            h0, c0 = (v[:, None] if unbatched else v for v in (h0, c0))
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(("", "_reverse")[:directions]):
                k = layer * directions + d
                out, h, c = self._direction(f"l{layer}{suffix}", data, h0[k], c0[k], d == 1)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            data = np.concatenate(outputs, axis=-1)
        h_n, c_n = np.stack(h_n), np.stack(c_n)
        if unbatched:
            data, h_n, c_n = data[:, 0], h_n[:, 0], c_n[:, 0]
        elif self.batch_first:
            data = data.swapaxes(0, 1)
        return Tensor(np.ascontiguousarray(data)), (Tensor(h_n), Tensor(c_n))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, " \
               f"dtype=qint8" + (", bidirectional=True" if self.bidirectional else "")


__all__ = ["LSTM", "Linear"]
