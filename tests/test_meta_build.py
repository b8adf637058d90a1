"""Layers built on the meta device: no values drawn, no memory kept, the default generator left
as it was; Module.__setattr__ registering a Parameter through a patched register_parameter."""

import tracemalloc

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn
from dlpy.device import MetaArray


def test_a_layer_built_on_meta_draws_nothing_and_keeps_no_memory():
    tracemalloc.start()
    try:
        layer = nn.Linear(20000, 20000, device="meta")  # 1.6 GB of float32 on the CPU
        with dlpy.device("meta"):
            embedding = nn.Embedding(50000, 4096)
            lstm = nn.LSTM(512, 512)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak  # one element per tensor, not its values
    for p in (layer.weight, layer.bias, embedding.weight, lstm.weight_hh_l0):
        assert type(p.data) is MetaArray and p.device == dlpy.device("meta")
    assert layer.weight.shape == (20000, 20000) and layer.weight.dtype == np.float32
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad


def test_the_default_generator_is_left_as_it_was():
    dlpy.manual_seed(3)
    expected = dlpy.rand(4)
    dlpy.manual_seed(3)
    nn.Linear(8, 8, device="meta")
    with dlpy.device("meta"):
        nn.Conv2d(3, 4, 3)
        dlpy.randn(5)
    assert np.array_equal(dlpy.rand(4).numpy(), expected.numpy())


def test_a_layer_built_on_meta_runs_forward_and_backward_on_meta():
    layer = nn.Linear(6, 3, device="meta")
    out = layer(dlpy.empty(2, 6, device="meta"))
    assert out.shape == (2, 3) and out.is_meta
    out.sum().backward()
    assert layer.weight.grad.is_meta and layer.weight.grad.shape == (3, 6)
    with pytest.raises(RuntimeError, match="meta tensors"):
        out.sum().item()


def test_to_empty_then_load_state_dict_leaves_meta():
    source = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    with dlpy.device("meta"):
        target = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert all(t.is_meta for t in (*target.parameters(), *target.buffers()))
    with pytest.raises(NotImplementedError, match="to_empty"):
        target.to("cpu")
    target.to_empty(device="cpu")
    target.load_state_dict(source.state_dict())
    for a, b in zip(source.state_dict().values(), target.state_dict().values()):
        assert not b.is_meta and np.array_equal(a.numpy(), b.numpy())


def test_setattr_goes_through_a_patched_register_parameter():
    calls = []
    plain = nn.Module.register_parameter

    def register(module, name, param):
        calls.append(name)
        plain(module, name, param)
        if param is not None:  # as accelerate's init_empty_weights
            module._parameters[name] = nn.Parameter(param.to("meta"),
                                                    requires_grad=param.requires_grad)

    nn.Module.register_parameter = register
    try:
        layer = nn.Linear(3, 2)
    finally:
        nn.Module.register_parameter = plain
    assert calls == ["weight", "bias"]
    assert layer.weight.is_meta and layer.bias.is_meta
    layer.weight = nn.Parameter(dlpy.ones(2, 3))  # the plain method again: no recursion
    assert not layer.weight.is_meta


def test_save_and_load_meta_tensors_and_load_onto_meta(tmp_path):
    layer = nn.Linear(3, 2, device="meta")
    path = tmp_path / "meta.pt"
    dlpy.save({"w": layer.weight, "h": dlpy.empty(2, 5, dtype=dlpy.float16, device="meta"),
               "x": dlpy.ones(2)}, path)
    loaded = dlpy.load(path)
    assert isinstance(loaded["w"], nn.Parameter) and loaded["w"].is_meta
    assert loaded["w"].requires_grad and loaded["w"].shape == (2, 3)
    assert loaded["h"].is_meta and loaded["h"].dtype == np.float16
    assert not loaded["x"].is_meta and loaded["x"].tolist() == [1.0, 1.0]
    plain = tmp_path / "plain.pt"
    dlpy.save({"a": dlpy.ones(2, 3, dtype=dlpy.float64), "b": nn.Parameter(dlpy.zeros(4))},
              plain)
    for where in ("meta", dlpy.device("meta"), {"cpu": "meta"}):
        onto = dlpy.load(plain, map_location=where)
        assert onto["a"].is_meta and onto["a"].dtype == np.float64 and onto["a"].shape == (2, 3)
        assert isinstance(onto["b"], nn.Parameter) and onto["b"].is_meta
    assert not dlpy.load(plain, map_location="cpu")["a"].is_meta


def test_products_on_meta_take_their_shapes_without_running(monkeypatch):
    from dlpy.ops.attention import Attention
    from dlpy.ops.conv import ConvNd
    from dlpy.ops.matmul import Linear, MatMul

    def never(*args, **kwargs):
        raise AssertionError("a product ran on meta tensors")

    for cls in (Linear, MatMul, ConvNd, Attention):
        monkeypatch.setattr(cls, "forward", never)
        monkeypatch.setattr(cls, "backward", never)
    with dlpy.device("meta"):
        layer, conv = nn.Linear(4096, 1024), nn.Conv2d(64, 32, 3, stride=2, padding=1)
    x = dlpy.empty(16, 256, 4096, device="meta", requires_grad=True)
    y = layer(x)
    assert y.shape == (16, 256, 1024) and y.is_meta and y.dtype == np.float32
    (y @ dlpy.empty(1024, 8, device="meta")).sum().backward()
    assert x.grad.is_meta and x.grad.shape == x.shape and layer.weight.grad.shape == (1024, 4096)
    assert conv(dlpy.empty(2, 64, 33, 33, device="meta")).shape == (2, 32, 17, 17)
    q = dlpy.empty(2, 4, 100, 16, device="meta")
    out = F.scaled_dot_product_attention(q, q, dlpy.empty(2, 4, 100, 8, device="meta"))
    assert out.shape == (2, 4, 100, 8) and out.is_meta
    with pytest.raises(RuntimeError):  # shapes that do not fit: torch's error, as on the CPU
        dlpy.empty(4, 3, device="meta") @ dlpy.empty(5, 2, device="meta")


def test_elementwise_ops_on_meta_compute_nothing_of_their_size():
    x = dlpy.empty(64, 512, 4096, device="meta", requires_grad=True)  # 512 MiB of float32
    norm = nn.LayerNorm(4096, device="meta")
    tracemalloc.start()
    try:
        y = F.dropout(F.gelu(norm(x)) * 2.0 + x, 0.1, training=True).softmax(-1)
        y.sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak
    assert y.shape == x.shape and y.is_meta and x.grad.is_meta and norm.weight.grad.is_meta
    # broadcasting and promotion as on the CPU
    a = dlpy.empty(4, 1, 5, dtype=dlpy.int64, device="meta")
    b = dlpy.empty(3, 1, device="meta")
    assert (a + b).shape == (4, 3, 5) and (a + b).dtype == np.float32
    assert (a * 2).dtype == np.int64 and (a / 2).dtype == np.float32
    assert dlpy.where(b > 0, b, a).shape == (4, 3, 5)
    with pytest.raises(RuntimeError):
        dlpy.empty(4, 3, device="meta") + dlpy.empty(5, device="meta")
    assert dlpy.empty(6, 7, device="meta").narrow(1, 0, 5).shape == (6, 5)
