"""dlpy.nn._per_sample_grad (torch.nn.utils._per_sample_grad.call_for_per_sample_grads) and
dlpy.nn._expanded_weights.ExpandedWeight: per-sample gradients checked against one backward per
sample (numerically, no torch)."""

import numpy as np
import pytest

import dlpy
import dlpy.compat
import dlpy.nn as nn
from dlpy.nn._expanded_weights import ExpandedWeight
from dlpy.nn._per_sample_grad import call_for_per_sample_grads


def _filled(module):
    with dlpy.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(dlpy.tensor(np.sin(np.arange(p.numel()) * 0.37 + i).reshape(p.shape) * 0.5))
    return module


def _x(*shape):
    return dlpy.tensor(np.sin(np.arange(int(np.prod(shape))) * 0.7 + 0.2).reshape(shape))


def _per_sample_reference(module, x):
    """Each sample's gradient from its own backward (the sum of outputs' squares)."""
    rows = []
    for i in range(x.shape[0]):
        module.zero_grad()
        (module(x[i:i + 1]) ** 2).sum().backward()
        rows.append([p.grad.numpy().copy() for p in module.parameters()])
    module.zero_grad(set_to_none=True)
    return [np.stack(r) for r in zip(*rows)]


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(3, 2), (4, 3)),
    (lambda: nn.Linear(3, 2), (2, 5, 3)),
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1), (3, 2, 7)),
    (lambda: nn.Conv2d(4, 4, 2, groups=2, dilation=2), (2, 4, 5, 5)),
    (lambda: nn.Conv2d(2, 2, 3, padding="same"), (2, 2, 4, 4)),
    (lambda: nn.Conv3d(2, 2, 2, stride=2, padding=1), (2, 2, 3, 3, 3)),
    (lambda: nn.LayerNorm(4), (3, 4)),
    (lambda: nn.LayerNorm([2, 3]), (2, 4, 2, 3)),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 3)),
    (lambda: nn.InstanceNorm2d(2, affine=True), (2, 2, 3, 3)),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), (3, 3)),
])
def test_grad_sample_matches_per_sample_backward(make, shape):
    module = _filled(make().double())
    x = _x(*shape)
    expected = _per_sample_reference(module, x)
    (call_for_per_sample_grads(module)(x) ** 2).sum().backward()
    for p, e in zip(module.parameters(), expected):
        assert p.grad is None
        assert p.grad_sample.shape == (shape[0], *p.shape)
        np.testing.assert_allclose(p.grad_sample.numpy(), e, rtol=1e-10, atol=1e-12)


def test_embedding_and_mean_reduction():
    module = _filled(nn.Embedding(5, 3).double())
    index = dlpy.tensor(np.array([[0, 1, 4], [2, 2, 0]]))
    (call_for_per_sample_grads(module, loss_reduction="mean")(index).sum() / 2).backward()
    expected = np.zeros((2, 5, 3))
    for n, row in enumerate([[0, 1, 4], [2, 2, 0]]):
        for i in row:
            expected[n, i] += 1.0
    np.testing.assert_allclose(module.weight.grad_sample.numpy(), expected)


def test_input_gradient_and_accumulation():
    module = _filled(nn.Linear(3, 2).double())
    x = _x(2, 3).requires_grad_()
    f = call_for_per_sample_grads(module)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tile(module.weight.numpy().sum(0), (2, 1)))
    first = module.weight.grad_sample.numpy().copy()
    f(x).sum().backward()  # the same wrapper: added, as torch's
    np.testing.assert_allclose(module.weight.grad_sample.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="accumulates the gradients"):
        call_for_per_sample_grads(module)  # a new wrapper refuses a filled grad_sample


def test_errors():
    with pytest.raises(RuntimeError, match="cannot handle function batch_norm"):
        call_for_per_sample_grads(nn.BatchNorm1d(3).double())(_x(4, 3))
    with pytest.raises(RuntimeError, match="cannot handle function rnn_tanh_cell"):
        call_for_per_sample_grads(nn.RNNCell(3, 2).double())(_x(2, 3))
    with pytest.raises(RuntimeError, match="batch size matching input"):
        call_for_per_sample_grads(nn.Linear(3, 2).double(), batch_size=3)(_x(4, 3))
    with pytest.raises(RuntimeError, match="Unable to find a tensor"):
        call_for_per_sample_grads(nn.Linear(3, 2))()
    with pytest.raises(RuntimeError, match="sum or mean"):
        call_for_per_sample_grads(nn.Linear(3, 2), loss_reduction="max")
    with pytest.raises(RuntimeError, match="must be nn.Module"):
        call_for_per_sample_grads(3)
    with pytest.raises(RuntimeError, match="requires_grad"):
        ExpandedWeight(dlpy.ones(2), 2, "sum")
    weight = ExpandedWeight(nn.Parameter(dlpy.ones(2)), 2, "sum")
    with pytest.raises(RuntimeError, match="cannot handle function"):
        weight + 1


def test_parameters_restored_and_torch_paths():
    module = nn.Linear(3, 2).double()
    weight = module.weight
    call_for_per_sample_grads(module)(_x(2, 3))
    assert module.weight is weight and type(module.weight) is nn.Parameter
    with dlpy.compat.as_torch():
        from torch.nn.utils._expanded_weights import ExpandedWeight as torch_ew
        from torch.nn.utils._per_sample_grad import call_for_per_sample_grads as torch_call
    assert torch_ew is ExpandedWeight and torch_call is call_for_per_sample_grads


class _Last(nn.Module):
    """A recurrent layer's output (batch first) and final state, squared and summed by the
    reference's loss."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        out, state = self.layer(x)
        h = state[0] if isinstance(state, tuple) else state
        return dlpy.cat([out.reshape(x.shape[0], -1), h.transpose(0, 1).reshape(x.shape[0], -1)],
                        1)


@pytest.mark.parametrize("make", [
    lambda: nn.RNN(3, 4, nonlinearity="relu", batch_first=True),
    lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
    lambda: nn.LSTM(3, 4, proj_size=2, batch_first=True),
    lambda: nn.GRU(3, 2, num_layers=2, bias=False, batch_first=True),
])
def test_recurrent_layers_grad_sample_matches_per_sample_backward(make):
    # run one op a step, as torch's RNN decompositions: each step's linear adds its part
    module = _filled(_Last(make()).double())
    x = _x(3, 4, 3) * 0.5
    expected = _per_sample_reference(module, x)
    (call_for_per_sample_grads(module)(x) ** 2).sum().backward()
    for p, e in zip(module.parameters(), expected):
        assert p.grad is None
        np.testing.assert_allclose(p.grad_sample.numpy(), e, rtol=1e-9, atol=1e-12)


def test_packed_sequence_grad_sample_in_packed_order():
    # a packed batch's per-sample gradients come longest first, as torch's
    lstm = _filled(nn.LSTM(3, 2, batch_first=True).double())
    x, lengths = _x(3, 4, 3) * 0.5, [2, 4, 3]
    pack = nn.utils.rnn.pack_padded_sequence
    packed = pack(x, dlpy.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, (h, _) = call_for_per_sample_grads(lstm, batch_size=3)(packed)
    ((out.data ** 2).sum() + (h ** 2).sum()).backward()
    samples = [p.grad_sample.numpy().copy() for p in lstm.parameters()]
    for p in lstm.parameters():
        p.grad_sample = None
    for row, i in enumerate(np.argsort([-n for n in lengths], kind="stable")):
        lstm.zero_grad()
        one = pack(x[int(i):int(i) + 1, :lengths[i]], dlpy.tensor([lengths[i]]), batch_first=True)
        out_i, (h_i, _) = lstm(one)
        ((out_i.data ** 2).sum() + (h_i ** 2).sum()).backward()
        for p, sample in zip(lstm.parameters(), samples):
            np.testing.assert_allclose(sample[row], p.grad.numpy(), rtol=1e-9, atol=1e-12)
