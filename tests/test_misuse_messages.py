"""Misuse that torch refuses: dlpy refuses too, naming the function and the bad value (never a
raw numpy message). The fixture cases_torch_semantics checks that each raises; this checks the
words of the messages (each was a raw numpy or Python message before)."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn
from dlpy.data import TensorDataset


@pytest.mark.parametrize("call, error, match", [
    (lambda: dlpy.ones(2, 3).argmax(2), ValueError, "argmax: dim 2 is out of range"),
    (lambda: dlpy.ones(2, 3).argmin(dim=-3), ValueError, "argmin: dim -3 is out of range"),
    (lambda: dlpy.ones(2, 3).size(2), IndexError, "size: dim 2 is out of range"),
    (lambda: dlpy.tensor(1.0).size(0), IndexError, "size: dim 0 .* no axes"),
    (lambda: dlpy.ones(2, 3).stride(-3), IndexError, "stride: dim -3 is out of range"),
    (lambda: dlpy.tensor([[1, 2], [3]]), ValueError,
     r"tensor: nested lists must be rectangular, expected sequence of length 2 at dim 1 \(got 1"),
    (lambda: dlpy.tensor([[1, 2], 3]), ValueError, "tensor: nested lists must be rectangular"),
    (lambda: dlpy.tensor(["a"]), TypeError, "tensor: expected numbers"),
    (lambda: dlpy.tensor(np.array([1, 2], dtype=object)), TypeError,
     "can.t convert np.ndarray of type numpy.object_"),
    (lambda: F.mse_loss(dlpy.ones(2, 3), dlpy.ones(4)), ValueError,
     r"mse_loss: target of shape \(4,\) does not broadcast"),
    (lambda: F.l1_loss(dlpy.ones(2, 3), dlpy.ones(2, 2)), ValueError, "l1_loss: target"),
    (lambda: dlpy.ones(2).clamp(min=dlpy.ones(3)), ValueError,
     "clamp: the input and the bounds .* cannot be broadcast"),
    (lambda: nn.Linear(-1, 2), ValueError, "Linear: in_features must be an int >= 0, got -1"),
    (lambda: nn.Linear(3.0, 2), TypeError, "Linear: in_features must be an int"),
    (lambda: nn.Bilinear(2, 2, -1), ValueError, "Bilinear: out_features must be"),
    (lambda: nn.Conv2d(1, 2, -3), ValueError, "Conv2d: kernel_size must be >= 1"),
    (lambda: nn.LayerNorm(-1), ValueError, "LayerNorm: normalized_shape must hold sizes >= 0"),
    (lambda: nn.MultiheadAttention(-4, 2), ValueError, "d_model and num_heads must be > 0"),
    (lambda: nn.Parameter(dlpy.tensor([1, 2])), RuntimeError,
     "Parameter: only Tensors of floating point"),
    (lambda: F.relu(dlpy.tensor([True])), TypeError, "relu: bool inputs are not supported"),
    (lambda: F.gelu(dlpy.tensor([1, 2])), TypeError, "gelu: expected a floating-point input"),
    (lambda: F.silu(dlpy.tensor([1, 2])), TypeError, "silu: expected a floating-point input"),
    (lambda: F.softsign(dlpy.tensor([True])), TypeError, "softsign: expected a floating-point"),
    (lambda: dlpy.multinomial(dlpy.tensor([1, 1]), 1), TypeError,
     "multinomial: expected floating-point weights"),
    (lambda: dlpy.histc(dlpy.tensor([1, 2]), bins=2), TypeError, "histc: expected a floating"),
    (lambda: dlpy.kron(dlpy.ones(2), 3), TypeError, "kron: other must be a Tensor, got int"),
    (lambda: dlpy.cartesian_prod(dlpy.ones(2, 2)), ValueError,
     r"cartesian_prod: expected 1-D tensors, got tensor 0 of shape \(2, 2\)"),
    (lambda: TensorDataset(dlpy.ones(2))[2], IndexError,
     "TensorDataset: index 2 is out of range for 2 items"),
])
def test_misuse_is_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_what_stays_allowed():
    # a scalar's pseudo-axis, an int Parameter without gradients, and integer inputs that
    # torch promotes (softsign, tanhshrink: the default float dtype)
    assert dlpy.tensor(5.0).argmax(0).item() == 0
    assert dlpy.tensor(5.0).argmax(-1, keepdim=True).shape == ()
    assert nn.Parameter(dlpy.tensor([1, 2]), requires_grad=False).dtype == np.int64
    assert nn.Linear(0, 2).weight.shape == (2, 0)
    assert F.softsign(dlpy.tensor([1, 2])).dtype == np.float32
    assert F.tanhshrink(dlpy.tensor([1, 2])).dtype == np.float32
    assert dlpy.ones(2, 3).size(-1) == 3 and dlpy.ones(2, 3).stride(0) == 3


@pytest.mark.parametrize("call", [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: dlpy.where(a > 0, a, b),
    lambda a, b: dlpy.matmul(a, a), lambda a, b: dlpy.mm(a, a), lambda a, b: a.bmm(a),
    lambda a, b: dlpy.cat([a, b]), lambda a, b: dlpy.stack([a, b]),
    lambda a, b: F.linear(a, dlpy.Tensor(np.ones((2, 4)))),
    lambda a, b: nn.Linear(4, 2)(a),
])
def test_shape_mismatches_are_value_errors_and_torchs_runtime_errors(call):
    # dlpy's ValueError, and torch's RuntimeError for code written against torch
    a, b = dlpy.Tensor(np.ones((2, 3))), dlpy.Tensor(np.ones(4))
    with pytest.raises(RuntimeError) as caught:
        call(a, b)
    assert isinstance(caught.value, ValueError) and type(caught.value).__name__ == "ShapeError"
