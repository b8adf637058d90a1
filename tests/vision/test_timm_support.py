"""What timm needs of torchvision and torch beyond the models: torchvision.ops.misc's
FrozenBatchNorm2d (fixed statistics, no num_batches_tracked) through ``import
torchvision.ops.misc``, KMNIST, torch.jit.annotations' typing names, and Optimizer.zero_grad on
a subclass that skips ``__init__`` (timm's Lookahead)."""

import typing

import numpy as np

import dlpy
from dlpy import compat, nn
from dlpy.vision import datasets as D
from dlpy.vision import ops

from .test_datasets import _mnist


def test_frozen_batch_norm_is_eval_batch_norm_and_drops_the_counter():
    bn = nn.BatchNorm2d(3)
    rng = np.random.default_rng(0)
    with dlpy.no_grad():
        for t in (bn.weight, bn.bias, bn.running_mean):
            t.copy_(dlpy.tensor(rng.standard_normal(3).astype(np.float32)))
        bn.running_var.copy_(dlpy.tensor(rng.uniform(0.5, 2, 3).astype(np.float32)))
    frozen = ops.FrozenBatchNorm2d(3)
    result = frozen.load_state_dict(bn.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    assert sorted(frozen.state_dict()) == ["bias", "running_mean", "running_var", "weight"]
    assert not list(frozen.parameters()) and repr(frozen) == "FrozenBatchNorm2d(3, eps=1e-05)"
    x = dlpy.tensor(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    expected = bn.eval()(x).numpy()
    np.testing.assert_allclose(frozen.train()(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_ops_misc_is_importable_as_torchvisions():
    with compat.as_torch():
        from torchvision.ops.misc import Conv2dNormActivation, FrozenBatchNorm2d
    assert FrozenBatchNorm2d is ops.FrozenBatchNorm2d
    assert Conv2dNormActivation is ops.Conv2dNormActivation


def test_kmnist_uses_its_folder_and_classes(tmp_path):
    images, labels = _mnist(tmp_path, "KMNIST", n=3)
    data = D.KMNIST(tmp_path)
    assert len(data) == 3 and data.classes == ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya",
                                                "re", "wo"]
    np.testing.assert_array_equal(data[1][0], images[1])


def test_jit_annotations_names():
    with compat.as_torch():
        from torch.jit.annotations import Dict, List, Optional, Tuple
    names = ("List", "Dict", "Optional", "Tuple")
    assert (List, Dict, Optional, Tuple) == tuple(getattr(typing, n) for n in names)


def test_zero_grad_of_a_wrapper_sharing_param_groups():
    class Wrapper(dlpy.optim.Optimizer):
        def __init__(self, base):  # no super().__init__(), as timm's Lookahead
            self.base, self.param_groups, self.defaults = base, base.param_groups, {}

        def step(self, closure=None):
            return self.base.step(closure)

    w = nn.Parameter(dlpy.ones(2))
    opt = Wrapper(dlpy.optim.SGD([w], lr=0.5))
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None
