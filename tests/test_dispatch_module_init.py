"""dlpy.utils._dispatch_module_init: layers built inside a TorchDispatchMode show torch's
construction kernels. The torch-recorded area ``torch_dispatch_module_init`` compares the calls
with torch's; these tests check what it cannot: the layers' own ``__init__``\\ s are swapped only
while a mode is entered, and the values are those drawn outside a mode."""

import numpy as np

import dlpy
from dlpy import nn
from dlpy.utils import _dispatch_module_init as module_init
from dlpy.utils import _python_dispatch as pd


class Log(pd.TorchDispatchMode):  # (--import-mode=importlib: no test module imports another)
    def __init__(self):
        super().__init__()
        self.funcs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.funcs.append(str(func))
        return func(*args, **(kwargs or {}))


def _inits() -> dict:
    return {cls: cls.__dict__["__init__"] for cls, _ in module_init._layers()}


def test_plain_inits_are_back_after_the_mode():
    before = _inits()
    with Log():
        swapped = _inits()
        nn.Linear(2, 2)
    assert all(swapped[cls] is not init for cls, init in before.items())
    assert _inits() == before
    assert not any(getattr(init, "__dlpy_dispatching__", False) for init in before.values())


def test_nested_modes_swap_once_and_restore():
    before = _inits()
    with Log() as outer:
        with Log() as inner:
            nn.PReLU()
        nn.PReLU()
    assert inner.funcs == ["aten.empty.memory_format", "aten.fill_.Scalar"]
    # (the inner handler's calls go on to the outer mode, then the second layer's)
    assert outer.funcs == ["aten.empty.memory_format", "aten.fill_.Scalar"] * 2
    assert _inits() == before


def test_values_drawn_inside_a_mode_are_those_drawn_outside():
    def build():
        return nn.Sequential(nn.Linear(4, 3), nn.Conv2d(2, 3, 2), nn.Embedding(5, 2, 1),
                             nn.LSTM(3, 2), nn.MultiheadAttention(4, 2, add_bias_kv=True),
                             nn.BatchNorm1d(3))

    dlpy.manual_seed(7)
    outside = build().state_dict()
    after_outside = dlpy.rand(3).numpy()
    dlpy.manual_seed(7)
    with Log() as mode:
        inside = build().state_dict()
    after_inside = dlpy.rand(3).numpy()
    assert list(inside) == list(outside)
    for key in outside:
        np.testing.assert_array_equal(inside[key].numpy(), outside[key].numpy())
    np.testing.assert_array_equal(after_inside, after_outside)  # (the stream drawn alike)
    assert mode.funcs.count("aten.uniform_.default") == 2 + 2 + 4 + 3  # (MHA: out_proj, in_proj)


def test_a_mode_returning_other_tensors_leaves_the_parameters():
    class Replace(pd.TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            return dlpy.zeros(out.shape) if isinstance(out, dlpy.Tensor) else out

    dlpy.manual_seed(1)
    expected = nn.Linear(3, 2).weight.numpy()
    dlpy.manual_seed(1)
    with Replace():
        layer = nn.Linear(3, 2)
    np.testing.assert_array_equal(layer.weight.numpy(), expected)


def test_a_meta_layer_shows_nothing():
    with Log() as mode:
        layer = nn.Linear(3, 2, device="meta")
    assert layer.weight.is_meta
    assert mode.funcs == []
