"""PyTorch parity where users trip: dlpy.tensor's dtype inference, index results as int64
Tensors, state_dict order. The expected dtypes and key lists were read from torch 2.13 once."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn


@pytest.mark.parametrize("data, dtype", [
    ([1, 2], np.int64), (3, np.int64), ([1, 2.0], np.float32), (2.5, np.float32),
    (True, np.bool_), ([True, False], np.bool_), ([True, 2], np.int64), ([1, 2j], np.complex64),
    ([], np.float32), ([[1, 2], [3, 4]], np.int64), (np.float64(1.5), np.float64),
    (np.array([1, 2], dtype=np.int32), np.int32),
])
def test_tensor_infers_torch_dtypes(data, dtype):
    assert dlpy.tensor(data).dtype == dtype
    assert dlpy.as_tensor(data).dtype == dtype


def test_tensor_follows_the_default_dtype_and_the_class_stays_float():
    previous = dlpy.get_default_dtype()
    try:
        dlpy.set_default_dtype(dlpy.float64)
        assert dlpy.tensor([1.0]).dtype == np.float64
        assert dlpy.tensor([1]).dtype == np.int64
        assert dlpy.tensor([1j]).dtype == np.complex128
    finally:
        dlpy.set_default_dtype(previous)
    assert dlpy.Tensor([1, 2]).dtype == np.float32  # torch.Tensor([1, 2]) is float32 too
    assert dlpy.tensor([1, 2], dtype=dlpy.float32).dtype == np.float32
    assert dlpy.full((2,), 3).dtype == np.int64
    assert dlpy.zeros(2).new_tensor([1, 2]).dtype == np.float32  # new_tensor: self's dtype


def test_int_tensors_cannot_require_gradients():
    with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype "
                                           "can require gradients, got int64"):
        dlpy.tensor([1, 2], requires_grad=True)
    assert dlpy.tensor([1.0, 2.0], requires_grad=True).requires_grad
    assert dlpy.tensor([1, 2j], requires_grad=True).requires_grad


def test_one_element_tensors_convert_to_python_numbers():
    i = dlpy.tensor([4, 2]).argmin()
    assert int(i) == 1 and float(dlpy.tensor(2.5)) == 2.5 and ["a", "b"][i] == "b"
    with pytest.raises(TypeError, match="only integer tensors .* got float32"):
        ["a"][dlpy.tensor(0.0)]
    array = np.arange(3)
    # a one-element integer tensor is an index (__index__), as torch's: numpy reads a scalar
    assert array[dlpy.tensor(1)] == 1 and np.shape(array[dlpy.tensor([1])]) == ()
    with pytest.raises(ValueError, match="one element .* shape \\(2,\\)"):
        int(dlpy.tensor([1, 2]))


x_data = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, 4.0, 4.0, -1.0], [2.0, 2.0, 7.0, 2.0]],
                  dtype=np.float32)
INDEX_RESULTS = {  # name: (dlpy's indices, torch's)
    "argmax": (lambda x: x.argmax(1), [0, 1, 2]),
    "dlpy.argmin": (lambda x: dlpy.argmin(x), 7),
    "argsort": (lambda x: x.argsort(1), [[1, 3, 2, 0], [3, 0, 1, 2], [0, 1, 3, 2]]),
    "dlpy.argsort": (lambda x: dlpy.argsort(x, 0, descending=True),
                     [[0, 1, 2, 2], [2, 2, 1, 0], [1, 0, 0, 1]]),
    "max(dim)": (lambda x: x.max(1).indices, [0, 1, 2]),
    "min(dim)": (lambda x: dlpy.min(x, 0, keepdim=True)[1], [[1, 0, 0, 1]]),
    "kthvalue": (lambda x: x.kthvalue(2, 0).indices, [2, 2, 1, 0]),
    "median": (lambda x: x.median(1).indices, [3, 0, 1]),
    "mode": (lambda x: x.mode(1).indices, [3, 2, 3]),
    "cummax": (lambda x: x.cummax(1).indices, [[0, 0, 0, 0], [0, 1, 2, 2], [0, 1, 2, 2]]),
    "cummin": (lambda x: dlpy.cummin(x, 0)[1], [[0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 0, 1]]),
}


@pytest.mark.parametrize("name", INDEX_RESULTS)
def test_index_results_are_int64_tensors(name):
    find, expected = INDEX_RESULTS[name]
    x = dlpy.tensor(x_data, requires_grad=True)
    indices = find(x)
    assert isinstance(indices, dlpy.Tensor) and not indices.requires_grad
    assert indices.dtype == np.int64
    assert indices.tolist() == expected


def test_index_tensors_index():
    x = dlpy.tensor(x_data, requires_grad=True)
    i = x.argmax(1)  # [0, 1, 2]
    np.testing.assert_array_equal(x[dlpy.arange(3), i].numpy(), [3.0, 4.0, 7.0])
    np.testing.assert_array_equal(x.gather(1, i.unsqueeze(1)).numpy()[:, 0], [3.0, 4.0, 7.0])
    np.testing.assert_array_equal(x.index_select(1, i).numpy(), x_data[:, [0, 1, 2]])
    np.testing.assert_array_equal(F.one_hot(i, 4).numpy(), np.eye(4, dtype=np.int64)[:3])
    np.testing.assert_array_equal(x_data[i], x_data[[0, 1, 2]])  # numpy takes them too
    assert x.reshape(-1)[x.argmax()].item() == 7.0
    loss = F.cross_entropy(x, i)
    loss.backward()
    assert x.grad.shape == (3, 4)


def _conv_bn_net():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.Conv2d(2, 2, 3, bias=False), nn.BatchNorm2d(2), nn.Flatten(),
                         nn.Linear(2, 2))


CONV_BN_KEYS = [  # list(torch's same net.state_dict())
    "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
    "1.num_batches_tracked", "3.weight", "4.weight", "4.bias", "4.running_mean",
    "4.running_var", "4.num_batches_tracked", "6.weight", "6.bias"]
ENCODER_LAYER_KEYS = [  # list(torch.nn.TransformerEncoderLayer(8, 2, 16).state_dict())
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
    "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
    "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]


def test_state_dict_order_is_torchs():
    net = _conv_bn_net()
    assert list(net.state_dict()) == CONV_BN_KEYS
    assert [name for name, _ in net.named_buffers()] == [
        key for key in CONV_BN_KEYS if "running" in key or "batches" in key]
    assert list(nn.TransformerEncoderLayer(8, 2, 16).state_dict()) == ENCODER_LAYER_KEYS
    other = _conv_bn_net()
    state = dict(reversed(list(net.state_dict().items())))  # loading goes by name
    other.load_state_dict(state)
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, net.state_dict()[key])


def test_adaptive_softmax_predicts_an_int64_tensor():
    module = nn.AdaptiveLogSoftmaxWithLoss(4, 6, [3], rng=np.random.default_rng(0))
    prediction = module.predict(dlpy.randn(2, 4, generator=np.random.default_rng(1)))
    assert isinstance(prediction, dlpy.Tensor) and prediction.dtype == np.int64
    assert prediction.shape == (2,) and module.predict(dlpy.zeros(4)).shape == ()
