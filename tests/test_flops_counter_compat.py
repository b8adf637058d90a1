"""What FLOP counters written for torch (thop, ptflops) rely on: a value's leading 1s dropped by
setitem, layers calling dlpy.functional by name at each call (a patched F.max_pool2d is seen,
a patched F.relu6 is not: ReLU6 runs F.hardtanh), and the aten ops dispatch modes see for
addmm, transposed convolutions and nn.LayerNorm."""

import dlpy
import dlpy.functional as F
from dlpy import nn
from dlpy.utils._python_dispatch import TorchDispatchMode


class _Seen(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_setitem_drops_leading_ones():
    x = dlpy.zeros(3)
    x[0] = dlpy.tensor([5.0])
    x[1:] = dlpy.ones(1, 1, 2) * 2
    assert x.tolist() == [5.0, 2.0, 2.0]


def test_pooling_layers_call_patched_functional():
    seen = []
    original = F.max_pool2d

    def patched(*args, **kwargs):
        seen.append("max_pool2d")
        return original(*args, **kwargs)

    F.max_pool2d = patched
    try:
        nn.MaxPool2d(2)(dlpy.zeros(1, 1, 4, 4))
    finally:
        F.max_pool2d = original
    assert seen == ["max_pool2d"]
    out = nn.AvgPool1d(2)(dlpy.ones(1, 1, 4))
    assert out.shape == (1, 1, 2)


def test_relu6_runs_hardtanh():
    x = dlpy.tensor([-1.0, 3.0, 8.0])
    assert nn.ReLU6()(x).tolist() == [0.0, 3.0, 6.0]


def test_dispatch_sees_addmm_conv_transpose_layer_norm():
    with _Seen() as mode:
        dlpy.addmm(dlpy.ones(5), dlpy.ones(3, 4), dlpy.ones(4, 5))
        nn.ConvTranspose1d(2, 3, 3)(dlpy.ones(1, 2, 5))
        nn.LayerNorm(4)(dlpy.ones(2, 4))
    assert "aten.addmm.default" in mode.ops and "aten.mm.default" not in mode.ops
    assert "aten.convolution.default" in mode.ops
    assert "aten.native_layer_norm.default" in mode.ops


def test_aten_underscore_convolution():
    out = dlpy.ops.aten._convolution.default(
        dlpy.ones(1, 1, 3, 3), dlpy.ones(1, 1, 2, 2), None, [1, 1], [0, 0], [1, 1], False,
        [0, 0], 1, False, False, True, True)
    assert out.tolist() == [[[[4.0, 4.0], [4.0, 4.0]]]]
