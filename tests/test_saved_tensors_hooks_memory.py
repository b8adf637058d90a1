"""saved_tensors_hooks that offload to disk free the forward's activations (dlpy's built-in
ops drop what they packed and hold their inputs through stand-ins): peak memory measured by
tracemalloc, and the gradients unchanged; stand-ins give way to live tensors."""

import gc
import os
import tempfile
import tracemalloc
import uuid

import numpy as np

import dlpy
from dlpy import autograd_function as af
from dlpy import functional as F

_WIDTH, _BATCH, _DEPTH = 256, 128, 8


def _mlp():
    rng = np.random.default_rng(0)
    return [(dlpy.tensor(rng.standard_normal((_WIDTH, _WIDTH)) * 0.05, requires_grad=True),
             dlpy.tensor(np.zeros(_WIDTH), requires_grad=True)) for _ in range(_DEPTH)]


def _forward(layers, x):
    h = x
    for weight, bias in layers:
        h = F.linear(h, weight, bias).relu()
    return h.sum()


def _peak(run) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        kept = run()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del kept
    return peak


def _disk_hooks(folder):
    def pack(t):
        path = os.path.join(folder, uuid.uuid4().hex + ".npy")
        np.save(path, t.data)
        return path

    def unpack(path):
        return dlpy.tensor(np.load(path))

    return af.saved_tensors_hooks(pack, unpack)


def test_disk_offloading_frees_the_activations():
    layers = _mlp()
    x = dlpy.tensor(np.random.default_rng(1).standard_normal((_BATCH, _WIDTH)))
    activation = _BATCH * _WIDTH * 8  # bytes of one float64 activation
    folder = tempfile.mkdtemp()

    plain = _peak(lambda: _forward(layers, x))

    def offloaded():
        with _disk_hooks(folder):
            return _forward(layers, x)

    packed = _peak(offloaded)
    # 2 activations a layer (linear's and relu's): all kept without hooks; with them only
    # the ones of the layer running
    assert plain >= 2 * _DEPTH * activation
    assert plain - packed >= 2 * (_DEPTH - 2) * activation, (plain, packed)


def test_offloaded_gradients_match():
    layers = _mlp()
    x = dlpy.tensor(np.random.default_rng(1).standard_normal((_BATCH, _WIDTH)))
    _forward(layers, x).backward()
    want = [p.grad.data.copy() for layer in layers for p in layer]
    for layer in layers:
        for p in layer:
            p.grad = None
    with _disk_hooks(tempfile.mkdtemp()):
        loss = _forward(layers, x)
    loss.backward()
    for p, g in zip([p for layer in layers for p in layer], want):
        np.testing.assert_allclose(p.grad.data, g, rtol=1e-12, atol=1e-12)


def test_live_intermediate_keeps_its_hooks_and_grad():
    x = dlpy.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    seen = []
    with af.saved_tensors_hooks(lambda t: t.data.copy(), lambda a: dlpy.tensor(a)):
        h = x.exp()
        y = h.sin() * h
    h.register_hook(lambda g: seen.append(g.data.copy()))
    (g,) = dlpy.autograd.grad(y.sum(), h, retain_graph=True)
    y.sum().backward()
    e = np.exp(x.data)
    want = np.cos(e) * e + np.sin(e)
    np.testing.assert_allclose(g.data, want)
    np.testing.assert_allclose(x.grad.data, want * e)
    assert len(seen) == 2


def test_dropped_intermediate_leaves_no_array():
    x = dlpy.tensor(np.ones((64, 64)), requires_grad=True)
    with af.saved_tensors_hooks(lambda t: t.data.copy(), lambda a: dlpy.tensor(a)):
        y = x.exp().sin().sum()
    op = y.grad_fn.next_functions[0][0]  # sin's node: its input is a stand-in
    stand_in = op.inputs[0]
    assert stand_in.data.strides == (0, 0) and stand_in.data.shape == (64, 64)
    y.backward()
    np.testing.assert_allclose(x.grad.data, np.cos(np.e) * np.e * np.ones((64, 64)))
