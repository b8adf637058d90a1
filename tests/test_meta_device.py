"""The meta device (dlpy/meta.py) where the torch-recorded area meta_device cannot show it: the
engine's call sites are the plain ones again once no meta array is alive, meta factories and
layers built on meta leave the default generator as it was, a big layer built on meta keeps no
memory, functions that make their result outside an Op follow a meta input (and never turn a
CPU tensor they return into a meta one), and data-dependent ones refuse it."""

import gc
import tracemalloc

import numpy as np
import pytest

import dlpy
from dlpy import meta
from dlpy.autograd_function import PLAIN_CALL_SITES
from dlpy.tensor import Op


def test_call_sites_plain_again_once_no_meta_array_lives():
    x = dlpy.empty(2, 3, device="meta")
    y = (x + 1).sum(0)
    assert y.is_meta and meta.live()
    assert Op.__call__ is not PLAIN_CALL_SITES["op_call"]
    del x, y
    gc.collect()
    dlpy.ones(2) + 1  # the first op after the last meta array went puts the plain sites back
    assert not meta.live()
    assert Op.__call__ is PLAIN_CALL_SITES["op_call"]


def test_meta_draws_leave_the_default_generator():
    dlpy.manual_seed(11)
    want = dlpy.rand(4)
    dlpy.manual_seed(11)
    dlpy.rand(100, device="meta")
    dlpy.randn(5, 5, device="meta")
    dlpy.nn.Linear(16, 16, device="meta")
    with dlpy.device("meta"):
        dlpy.nn.Conv2d(3, 4, 3)
    t = dlpy.empty(50, device="meta")
    t.uniform_()
    t.bernoulli_(0.5)
    dlpy.functional.dropout(t, 0.5)
    assert np.array_equal(dlpy.rand(4).numpy(), want.numpy())


def test_explicit_generator_not_advanced_by_a_meta_draw():
    g = dlpy.Generator().manual_seed(3)
    dlpy.rand(10, generator=g, device="meta")
    assert np.array_equal(dlpy.rand(2, generator=g).numpy(),
                          dlpy.rand(2, generator=dlpy.Generator().manual_seed(3)).numpy())


def test_big_layer_on_meta_keeps_no_memory():
    tracemalloc.start()
    try:
        layer = dlpy.nn.Linear(20000, 20000, device="meta")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert layer.weight.is_meta and layer.weight.shape == (20000, 20000)
    assert peak < 100e6  # the weight would be 1.6 GB in float32


def test_results_made_outside_ops_follow_a_meta_input():
    x = dlpy.empty(2, 3, 4, device="meta")
    assert x.max(1).indices.is_meta and x.argmax().is_meta and x.sort(1).indices.is_meta
    assert dlpy.searchsorted(dlpy.empty(5, device="meta"), dlpy.empty(3, device="meta")).is_meta
    assert dlpy.count_nonzero(x).is_meta


def test_a_cpu_tensor_given_back_is_left_on_the_cpu():
    cpu = dlpy.ones(2)
    out = cpu.type_as(dlpy.empty(1, device="meta"))
    assert out.is_meta and out is not cpu and not cpu.is_meta
    same = dlpy.as_tensor(cpu, device="meta")
    assert same.is_meta and not cpu.is_meta


@pytest.mark.parametrize("call", [
    lambda x: dlpy.nonzero(x), lambda x: dlpy.unique(x), lambda x: x[x > 0],
    lambda x: dlpy.masked_select(x, x > 0), lambda x: dlpy.equal(x, x),
    lambda x: dlpy.where(x > 0)])
def test_data_dependent_ops_refuse_meta(call):
    with pytest.raises(NotImplementedError):
        call(dlpy.empty(2, 3, device="meta"))


def test_strides_and_pointer_of_meta_tensors():
    x = dlpy.empty(2, 3, 4, device="meta")
    assert x.stride() == (12, 4, 1) and x.is_contiguous() and x.data_ptr() == 0
    v = x.view(6, 4)
    assert v._base is x and v.stride() == (4, 1)


def test_in_place_on_meta_checks_dtype_and_counts_versions():
    x = dlpy.empty(3, dtype=dlpy.int64, device="meta")
    with pytest.raises(RuntimeError):
        x.add_(1.5)
    y = dlpy.empty(3, device="meta")
    before = y._version
    y.mul_(2)
    y[0] = dlpy.ones(())
    assert y._version == before + 2 and y.is_meta
