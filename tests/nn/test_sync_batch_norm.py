"""SyncBatchNorm in one process: BatchNorm's values, gradients and running statistics; the
synchronised op with a one-process reduce is batch_norm (values, gradients, running statistics)
and passes a float64 gradient check; convert_sync_batchnorm; errors. The 2-rank equivalence is
tests/distributed/test_sync_batch_norm.py (under mpirun)."""

import numpy as np
import pytest

from dlpy import Tensor, nn
from dlpy import functional as F
from dlpy.ops.norm import sync_batch_norm
from dlpy.testing import gradcheck


def one_rank(values):
    """The allreduce of one process."""
    return np.array(values, dtype=np.float64)


def pair(cls, **kwargs):
    """A BatchNorm and a SyncBatchNorm, float64, the same non-trivial weight and bias."""
    rng = np.random.default_rng(0)
    plain, synced = cls(3, dtype=np.float64, **kwargs), nn.SyncBatchNorm(3, dtype=np.float64,
                                                                          **kwargs)
    if plain.weight is not None:
        plain.weight.data[...] = synced.weight.data[...] = rng.uniform(0.5, 1.5, 3)
        plain.bias.data[...] = synced.bias.data[...] = rng.normal(size=3)
    return plain, synced


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                        (nn.BatchNorm2d, (2, 3, 4, 4)),
                                        (nn.BatchNorm3d, (2, 3, 2, 3, 2))])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False},
                                    {"track_running_stats": False}])
def test_one_process_is_batch_norm(cls, shape, kwargs):
    plain, synced = pair(cls, **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(3):
        data = rng.normal(2.0, 3.0, shape)
        target = rng.normal(size=shape)
        grads = []
        for module in (plain, synced):
            x = Tensor(data.copy(), requires_grad=True)
            y = module(x)
            (y * Tensor(target)).sum().backward()
            grads.append((y.data, x.grad, [p.grad for p in module.parameters()]))
        np.testing.assert_array_equal(grads[0][0], grads[1][0])
        np.testing.assert_array_equal(grads[0][1], grads[1][1])
        for a, b in zip(grads[0][2], grads[1][2]):
            np.testing.assert_array_equal(a, b)
        plain.zero_grad()
        synced.zero_grad()
    assert list(plain.state_dict()) == list(synced.state_dict())
    for key, value in plain.state_dict().items():
        np.testing.assert_array_equal(value, synced.state_dict()[key], err_msg=key)
    if plain.track_running_stats:
        assert int(synced.num_batches_tracked) == 3
        assert not np.allclose(synced.running_mean, 0)  # the statistics moved
    plain.eval(), synced.eval()
    data = rng.normal(size=shape)
    np.testing.assert_array_equal(plain(data).data, synced(data).data)


@pytest.mark.parametrize("affine", [True, False])
def test_the_synchronised_op_in_one_process_is_batch_norm(affine):
    rng = np.random.default_rng(2)
    data, target = rng.normal(1.0, 2.0, (5, 3, 4)), rng.normal(size=(5, 3, 4))
    results = []
    for function in (lambda *a: F.batch_norm(*a[:5], True, *a[5:]),
                     lambda *a: sync_batch_norm(*a, one_rank)):
        x = Tensor(data.copy(), requires_grad=True)
        weight = Tensor(np.array([0.5, 1.0, 2.0]), requires_grad=True) if affine else None
        bias = Tensor(np.array([0.1, -0.2, 0.3]), requires_grad=True) if affine else None
        mean, var = np.zeros(3), np.ones(3)
        y = function(x, mean, var, weight, bias, 0.3, 1e-5)
        (y * Tensor(target)).sum().backward()
        grads = [x.grad] + ([weight.grad, bias.grad] if affine else [])
        results.append((y.data, mean, var, grads))
    (y0, mean0, var0, grads0), (y1, mean1, var1, grads1) = results
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-13)  # E[x^2] - mean^2: not bitwise
    np.testing.assert_allclose(mean1, mean0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(var1, var0, rtol=1e-13)
    for a, b in zip(grads0, grads1):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    assert np.abs(grads1[0]).max() > 1e-3


def test_the_synchronised_op_passes_a_gradient_check():
    rng = np.random.default_rng(3)
    x = Tensor(rng.normal(size=(4, 3, 2)), requires_grad=True)
    weight = Tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True)
    bias = Tensor(rng.normal(size=3), requires_grad=True)
    gradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b, 0.1, 1e-5, one_rank) ** 3,
              x, weight, bias)


def test_the_reduce_sees_sums_sums_of_squares_and_counts():
    calls = []

    def recording(values):
        calls.append(np.array(values))
        return one_rank(values)

    x = Tensor(np.arange(12.0).reshape(2, 3, 2), requires_grad=True)
    sync_batch_norm(x, None, None, None, None, 0.1, 1e-5, recording).sum().backward()
    forward, backward = calls
    np.testing.assert_array_equal(forward, [14, 22, 30, 86, 158, 262, 4])  # 0+1+36+49, ...
    assert backward.shape == (6,)
    np.testing.assert_allclose(x.grad, 0, atol=1e-12)  # the sum of a normalised input


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_mode():
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4, momentum=0.2),
                        nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4 * 2 * 2, bias=False)))
    net[1].running_mean[...] = 0.5
    net.eval()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    weight = net[1].weight
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert converted is net
    assert type(net[1]) is nn.SyncBatchNorm and type(net[2][1]) is nn.SyncBatchNorm
    assert net[1].weight is weight and net[1].momentum == 0.2 and not net[1].training
    assert net[2][1].bias is None
    assert list(net.state_dict()) == list(before)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3))
    assert type(single) is nn.SyncBatchNorm and single.num_features == 3


def test_errors():
    with pytest.raises(ValueError, match="SyncBatchNorm: process_group must be None"):
        nn.SyncBatchNorm(3, process_group="world")
    with pytest.raises(ValueError, match=r"SyncBatchNorm: expected at least a 2D input .* \(3,\)"):
        nn.SyncBatchNorm(3)(np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="SyncBatchNorm: expected 3 channels on axis 1"):
        nn.SyncBatchNorm(3)(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="sync_batch_norm: expected more than 1 value"):
        sync_batch_norm(Tensor(np.ones((1, 3))), None, None, None, None, 0.1, 1e-5, one_rank)
    assert "SyncBatchNorm(3, eps=1e-05" in repr(nn.SyncBatchNorm(3))
