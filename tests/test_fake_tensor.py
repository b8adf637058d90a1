"""torch's FakeTensorMode on dlpy's meta device (dlpy._subclasses.fake_tensor): nothing
allocated, FLOP counts equal to a real run's, nothing left behind after the mode."""

import gc
import tracemalloc

import numpy as np
import pytest

import dlpy
from dlpy import meta, nn
from dlpy._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensor,
    FakeTensorDeviceMismatchError,
    FakeTensorMode,
    is_fake,
    unset_fake_temporarily,
)
from dlpy.device import MetaArray
from dlpy.utils.flop_counter import FlopCounterMode


def test_a_large_model_built_and_run_under_the_mode_allocates_nothing():
    tracemalloc.start()
    try:
        with FakeTensorMode():
            # 4 x 16384^2 float32 weights: 4 GiB on the CPU
            model = nn.Sequential(*(nn.Linear(16384, 16384) for _ in range(4)))
            x = dlpy.empty(64, 16384)
            out = model(x)
            out.sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 30 * 2**20, peak
    assert is_fake(out) and out.shape == (64, 16384)
    for p in model.parameters():
        assert type(p) is FakeTensor and type(p.data) is MetaArray
        assert isinstance(p, nn.Parameter) and is_fake(p.grad) and p.grad.shape == p.shape


def _flops(model_fn, make_input):
    dlpy.manual_seed(0)
    model = model_fn()
    x = make_input()
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops(), {k: dict(v) for k, v in counter.get_flop_counts().items()}


@pytest.mark.parametrize("model_fn, shape", [
    (lambda: nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8)), (16, 32)),
    (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                           nn.Linear(8 * 8 * 8, 4)), (2, 3, 8, 8)),
    (lambda: nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, dropout=0.0), (2, 5, 16)),
])
def test_flop_counts_equal_those_of_a_real_run(model_fn, shape):
    real = _flops(model_fn, lambda: dlpy.randn(*shape))
    with FakeTensorMode():
        fake = _flops(model_fn, lambda: dlpy.randn(*shape))
    assert real == fake and real[0] > 0


def test_the_mode_leaves_nothing_behind():
    device_before = dlpy.get_default_device()
    with FakeTensorMode() as mode:
        x = dlpy.randn(2, 3)
        assert x.fake_mode is mode and dlpy.get_default_device() == device_before
        layer = nn.Linear(3, 4)
    assert dlpy.get_default_device() == device_before
    y = dlpy.ones(2, 3)
    assert type(y) is dlpy.Tensor and type(y.data) is np.ndarray and y.sum().item() == 6.0
    assert type(nn.Linear(3, 4).weight.data) is np.ndarray
    # fake tensors keep working after the mode (as torch's), and real ops stay real
    assert is_fake(layer(x)) and (y * 2).sum().item() == 12.0
    # once every fake (meta) array is gone, the meta layer goes: the plain call sites again
    del x, layer, mode
    gc.collect()
    dlpy.ones(2) + 1
    assert not meta.live()


def test_the_mode_is_left_after_an_error_inside_it():
    with pytest.raises(DataDependentOutputException):
        with FakeTensorMode():
            dlpy.zeros(()).item()
    assert not is_fake(dlpy.zeros(2))
    with unset_fake_temporarily() as outer:
        assert outer is None and not is_fake(dlpy.zeros(2))


def test_values_and_data_dependent_ops_are_refused():
    with FakeTensorMode():
        x = dlpy.randn(4)
        with pytest.raises(DynamicOutputShapeException):
            x.nonzero()
        with pytest.raises(DynamicOutputShapeException):
            x[x > 0]
        with pytest.raises(DataDependentOutputException):
            x.sum().item()
        with pytest.raises(RuntimeError, match="numpy"):
            x.numpy()


def test_real_tensors_beside_fake_ones():
    real = dlpy.ones(3)
    with FakeTensorMode():
        fake = dlpy.zeros(3)
        with pytest.raises(AssertionError, match="allow_non_fake_inputs"):
            fake + real
        with pytest.raises(AssertionError):
            real * 2
    with FakeTensorMode(allow_non_fake_inputs=True):
        assert is_fake(dlpy.zeros(3) + real) and is_fake(real * 2)


def test_from_tensor_is_cached_and_keeps_parameters():
    mode = FakeTensorMode()
    p = nn.Parameter(dlpy.zeros(3, 2))
    fake = mode.from_tensor(p)
    assert mode.from_tensor(p) is fake and type(fake) is FakeTensor
    assert isinstance(fake, nn.Parameter) and fake.requires_grad and fake.shape == (3, 2)
    assert repr(fake) == "Parameter(FakeTensor(..., size=(3, 2), requires_grad=True))"
    assert str(fake.device) == "cpu" and not fake.is_meta


def test_a_factory_asked_for_meta_inside_the_mode_makes_a_fake_meta_tensor():
    with FakeTensorMode():
        on_meta = dlpy.empty(3, 4, device="meta")
        on_cpu = dlpy.empty(3, 4)
        like = dlpy.zeros_like(on_meta)
        results = [on_meta, like, on_meta * 2, on_meta.sum(0), on_meta @ on_meta.T,
                   on_meta.new_zeros(2), on_meta.new_full((2,), 1.0)]
        cpu_results = [on_cpu + 1, on_cpu.new_ones(2), on_cpu.new_empty(5),
                       dlpy.zeros_like(on_meta, device="cpu")]
    assert all(type(t) is FakeTensor and str(t.fake_device) == "meta" and t.is_meta
               for t in results)
    assert all(type(t) is FakeTensor and t.device.type == "cpu" and not t.is_meta
               for t in cpu_results)


def test_fakes_of_two_fake_devices_do_not_mix():
    with FakeTensorMode():
        on_meta, on_cpu = dlpy.empty(3, device="meta"), dlpy.empty(3)
        with pytest.raises(FakeTensorDeviceMismatchError, match="cpu and meta"):
            on_cpu + on_meta
        with pytest.raises(RuntimeError, match="same device"):
            dlpy.cat([on_meta, on_cpu])
        # a 0-d CPU tensor gives way to the other device, as torch's
        scaled = dlpy.tensor(2.0) * on_meta
    assert str(scaled.fake_device) == "meta"


def test_new_tensors_follow_their_fake_device_so_an_lstm_stays_on_the_fake_cpu():
    with FakeTensorMode():
        lstm = nn.LSTM(4, 5, batch_first=True)
        x = dlpy.randn(2, 3, 4)
        h0 = x.new_zeros(1, 2, 5)  # (a meta array: it was fake meta by the array's name)
        out, (h, c) = lstm(x, (h0, h0))
        plain, _ = lstm(x)
    assert [str(t.fake_device) for t in (h0, out, h, c, plain)] == ["cpu"] * 5
    assert out.shape == (2, 3, 5) and type(out) is FakeTensor
    fake_meta = FakeTensorMode().from_tensor(dlpy.empty(2, device="meta"))
    assert str(fake_meta.new_zeros(3).fake_device) == "meta"  # (outside the mode too)


def test_fake_devices_follow_the_asked_device_and_refuse_to_mix():
    with FakeTensorMode():
        on_cuda = dlpy.empty(3, device="cuda")
        assert str(on_cuda.device) == "cuda:0" and on_cuda.is_cuda
        assert str((on_cuda * 2).device) == "cuda:0"
        assert str((on_cuda + dlpy.tensor(1.0)).device) == "cuda:0"  # (a 0-d CPU one gives way)
        layer = nn.Linear(2, 3, device="meta")
        assert all(str(p.device) == "meta" and is_fake(p) for p in layer.parameters())
        with pytest.raises(FakeTensorDeviceMismatchError, match="cuda:0 and cpu"):
            on_cuda + dlpy.empty(3)
        with pytest.raises(FakeTensorDeviceMismatchError, match="cpu and meta"):
            layer(dlpy.empty(4, 2))
        indexed = dlpy.empty(5, 3, device="meta")[dlpy.tensor([0, 1])]
        assert str(indexed.device) == "meta" and indexed.shape == (2, 3)


def test_from_tensor_keeps_strides_offset_and_storage():
    mode = FakeTensorMode()
    base = dlpy.randn(4, 3)
    fake = mode.from_tensor(base[1:, 1:])
    assert (fake.stride(), fake.storage_offset()) == ((3, 1), 4)
    assert fake.untyped_storage().nbytes() == 48
    assert mode.from_tensor(base.t()).stride() == (1, 3)


def test_a_module_of_fake_parameters_refuses_conversion_and_a_real_leaf_gets_a_fake_grad():
    with FakeTensorMode():
        layer = nn.Linear(2, 3)
        with pytest.raises(RuntimeError, match="Couldn't swap Linear.weight"):
            layer.double()
    x = dlpy.randn(2, 3, requires_grad=True)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        (x * 2).sum().backward()
    assert is_fake(x.grad) and x.grad.fake_mode is mode and x.grad.shape == (2, 3)
