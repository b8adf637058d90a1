"""torch's memory formats: channels_last / channels_last_3d strides, is_contiguous, to /
contiguous / clone / *_like with memory_format, Module.to(memory_format=). The strides are
torch 2.13's for the same calls (checked by hand)."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn


def test_channels_last_strides_and_contiguity_as_torchs():
    x = dlpy.randn(1, 2, 3, 3, requires_grad=True)
    y = x.to(memory_format=dlpy.channels_last)
    assert y.stride() == (18, 1, 6, 2) and y.shape == (1, 2, 3, 3)
    assert y.is_contiguous(memory_format=dlpy.channels_last) and not y.is_contiguous()
    np.testing.assert_array_equal(y.data, x.data)
    assert y.clone().stride() == (18, 1, 6, 2)  # preserve_format
    assert y.clone(memory_format=dlpy.contiguous_format).stride() == (18, 9, 3, 1)
    back = y.contiguous()
    assert back.stride() == (18, 9, 3, 1) and back.is_contiguous()
    assert y.to(memory_format=dlpy.channels_last) is y and x.contiguous() is x
    v = dlpy.ones(1, 2, 3, 4, 5).to(memory_format=dlpy.channels_last_3d)
    assert v.stride() == (120, 1, 40, 10, 2)
    assert dlpy.ones(1, 1, 1, 1).is_contiguous(memory_format=dlpy.channels_last)
    assert not dlpy.ones(2, 3).is_contiguous(memory_format=dlpy.channels_last)  # as torch's
    (y * y).sum().backward()  # the relayout passes the gradient through
    np.testing.assert_allclose(x.grad.data, 2 * x.data)


def test_like_functions_preserve_the_format():
    x = dlpy.ones(1, 2, 3, 3).to(memory_format=dlpy.channels_last)
    for make in (dlpy.zeros_like, dlpy.ones_like, dlpy.empty_like, dlpy.rand_like,
                 dlpy.randn_like, lambda t, **k: dlpy.full_like(t, 2.0, **k)):
        assert make(x).stride() == (18, 1, 6, 2)
        assert make(x, memory_format=dlpy.contiguous_format).stride() == (18, 9, 3, 1)
    assert dlpy.zeros_like(dlpy.ones(2, 3)).stride() == (3, 1)


def test_modules_and_ops_run_on_channels_last():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, rng=rng), nn.BatchNorm2d(4), nn.ReLU())
    x = dlpy.Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    want = model(x).data
    weight = model[0].weight
    assert model.to(memory_format=dlpy.channels_last) is model and model[0].weight is weight
    assert weight.is_contiguous(memory_format=dlpy.channels_last)
    got = model(x.to(memory_format=dlpy.channels_last))
    np.testing.assert_allclose(got.data, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.avg_pool2d(x.to(memory_format=dlpy.channels_last), 2).data,
                               F.avg_pool2d(x, 2).data, rtol=1e-6)


def test_format_errors_as_torchs():
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        dlpy.ones(2, 3).to(memory_format=dlpy.channels_last)
    with pytest.raises(RuntimeError, match="required rank 5 tensor to use channels_last_3d"):
        dlpy.ones(1, 2, 3, 3).contiguous(memory_format=dlpy.channels_last_3d)
    with pytest.raises(TypeError, match="memory_format must be a dlpy.memory_format"):
        dlpy.ones(1, 2, 3, 3).to(memory_format="channels_last")
    assert repr(dlpy.channels_last) == "dlpy.channels_last"
    assert isinstance(dlpy.preserve_format, dlpy.memory_format)
    assert isinstance(dlpy.strided, dlpy.layout)


def test_convert_conv_weight_memory_format_as_torchs():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(2, 2), nn.Conv3d(2, 2, 1))
    weight = model[0].weight
    assert nn.utils.convert_conv2d_weight_memory_format(model, dlpy.channels_last) is model
    assert model[0].weight is weight and weight.stride() == (27, 1, 9, 3)
    assert model[2].weight.is_contiguous()  # a 3-d conv is the other function's
    nn.utils.convert_conv3d_weight_memory_format(model, dlpy.channels_last_3d)
    assert model[2].weight.is_contiguous(memory_format=dlpy.channels_last_3d)


def test_size_one_axes_strides_as_torchs():
    """A size-1 axis's stride, as torch's: a fresh channels-last tensor's steps over the axes
    inside it; ``to(memory_format=)`` copies unless the tensor already suggests the format,
    ``contiguous(memory_format=)`` only when it is not contiguous in it."""
    cl = dlpy.channels_last
    x = dlpy.zeros(2, 3, 1, 1)
    y = x.to(memory_format=cl)
    assert y.stride() == (3, 1, 3, 3) and x.contiguous(memory_format=cl) is x
    assert y.to(memory_format=dlpy.contiguous_format).stride() == (3, 1, 1, 1)
    assert y.to(memory_format=cl) is y and y.contiguous() is y
    assert x.clone(memory_format=cl).stride() == (3, 1, 3, 3)
    assert dlpy.empty_like(x, memory_format=cl).stride() == (3, 1, 3, 3)
    w = nn.Conv2d(4, 4, 3, groups=4).to(memory_format=cl).weight  # (4, 1, 3, 3)
    assert w.stride() == (9, 1, 3, 1)
    z = dlpy.zeros(2, 1, 4, 5)
    assert z.contiguous(memory_format=cl) is z and z.to(memory_format=cl).stride() == (20, 1, 5, 1)
