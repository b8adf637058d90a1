"""The torch names libraries probe before taking a tracing-safe path (kornia's): torch.torch,
torch._subclasses.fake_tensor (is_fake, true only of a FakeTensorMode's tensors),
torch.fx.experimental.proxy_tensor (get_proxy_mode), torch._C._are_functorch_transforms_active,
torch._assert_async, and torch.complex32 (a dtype dlpy names but has no tensors of)."""

import copy
import pickle

import numpy as np
import pytest

import dlpy
from dlpy import _C, func
from dlpy._subclasses import FakeTensor, FakeTensorMode
from dlpy._subclasses.fake_tensor import is_fake
from dlpy.fx.experimental.proxy_tensor import get_proxy_mode


def test_torch_torch_is_the_module():
    assert dlpy.torch is dlpy and dlpy.torch.torch.Tensor is dlpy.Tensor


def test_only_a_fake_mode_s_tensors_are_fake_and_no_proxy_mode():
    assert is_fake(dlpy.ones(2)) is False and is_fake(3) is False
    assert get_proxy_mode() is None
    assert issubclass(FakeTensor, dlpy.Tensor)
    fake = FakeTensorMode().from_tensor(dlpy.ones(2))  # (tests/test_fake_tensor.py: the mode)
    assert is_fake(fake) and isinstance(fake, FakeTensor) and fake.shape == (2,)


def test_functorch_transforms_active_inside_transforms_only():
    seen = []

    def probe(t):
        seen.append(_C._are_functorch_transforms_active())
        return (t * 2).sum()

    x = dlpy.ones(3)
    assert _C._are_functorch_transforms_active() is False
    func.grad(probe)(x)
    func.vmap(probe)(dlpy.ones(2, 3))
    func.jvp(probe, (x,), (x,))
    assert seen == [True, True, True]
    with dlpy.autograd.forward_ad.dual_level():  # a dual level is not a functorch transform
        assert _C._are_functorch_transforms_active() is False
    assert _C._are_functorch_transforms_active() is False


def test_assert_async():
    assert dlpy._assert_async(dlpy.tensor(2.0)) is None
    assert dlpy._assert_async(dlpy.tensor([True]), "never") is None
    with pytest.raises(RuntimeError, match="single nonzero value"):
        dlpy._assert_async(dlpy.tensor(0.0))
    with pytest.raises(RuntimeError, match="^bad value$"):
        dlpy._assert_async(dlpy.tensor(False), "bad value")
    with pytest.raises(RuntimeError, match="more than one value"):
        dlpy._assert_async(dlpy.tensor([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="no values"):
        dlpy._assert_async(dlpy.zeros(0))
    with pytest.raises(TypeError):
        dlpy._assert_async(1)


def test_complex32_is_named_but_has_no_tensors():
    c = dlpy.complex32
    assert dlpy.chalf is c and isinstance(c, dlpy.dtype) and repr(c) == "complex32"
    assert c not in (dlpy.float16, dlpy.complex64) and c != np.dtype(np.complex64)
    assert (c.itemsize, c.is_complex, c.is_floating_point, c.is_signed) == (4, True, False, True)
    assert c.to_complex() is c and c.to_real() == dlpy.float16
    assert pickle.loads(pickle.dumps(c)) is c and copy.deepcopy(c) is c
    for make in (lambda: dlpy.zeros(2, dtype=c), lambda: dlpy.ones(2).to(c),
                 lambda: dlpy.tensor([1.0], dtype=c)):
        with pytest.raises(TypeError, match="no complex32 tensors"):
            make()
