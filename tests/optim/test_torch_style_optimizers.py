"""What optimisers written for torch (pytorch-optimizer, torch-optimizer) rely on, without the
libraries: optimiser-wide state under non-parameter keys (saved and loaded), a torch-style
class's own ``self.lr`` and unchecked settings, load_state_dict's copy of the groups,
torch.utils._foreach_utils, the foreach maximum/minimum with numbers, addcmul's 0-d value and
torch's deprecated number-first overloads, a sparse gradient's ``.data``."""

import warnings

import numpy as np
import pytest

import dlpy
from dlpy import nn
from dlpy.optim.optimizer import Optimizer
from dlpy.utils import _foreach_utils


class _Counting(Optimizer):
    """SGD written the torch way, counting its steps in ``self.state["k"]`` and keeping a
    Tensor in its group that the step updates in place."""

    def __init__(self, params, lr=0.1):
        self.lr = lr  # set before the base class's __init__, as some libraries do
        super().__init__(params, {"lr": lr, "total": dlpy.zeros(1, dtype=dlpy.float64)})

    def step(self, closure=None):
        if "k" not in self.state:
            self.state["k"] = dlpy.tensor([0])
        self.state["k"] += 1
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                group["total"].add_(p.grad.sum())
                with dlpy.no_grad():
                    p.add_(p.grad, alpha=-group["lr"])


def _param():
    p = nn.Parameter(dlpy.tensor([1.0, -2.0], dtype=dlpy.float64))
    p.grad = dlpy.tensor([0.5, 0.25], dtype=dlpy.float64)
    return p


def test_keyed_state_entries_as_torch_dict():
    p = _param()
    opt = _Counting([p])
    assert "k" not in opt.state and len(opt.state) == 0
    opt.step()
    opt.step()
    assert "k" in opt.state and int(opt.state["k"]) == 2
    assert opt.state.keys()[0] == "k" and len(opt.state) == 1
    assert opt.state["missing"] == {} and "missing" in opt.state  # defaultdict(dict)
    del opt.state["missing"]
    assert opt.state.setdefault("ema", {"short": 1.0}) == {"short": 1.0}
    assert opt.state.get("nope", 3) == 3


def test_keyed_state_saved_and_loaded_and_groups_copied():
    p, q = _param(), _param()
    opt = _Counting([p])
    opt.step()
    sd = opt.state_dict()
    assert int(sd["state"]["k"]) == 1
    opt2 = _Counting([q])
    opt2.load_state_dict(sd)
    assert int(opt2.state["k"]) == 1
    total = float(opt.param_groups[0]["total"])
    q.grad = dlpy.tensor([1.0, 1.0], dtype=dlpy.float64)
    opt2.step()
    # the loaded group's Tensor is a copy (torch deep-copies the groups): opt's is unchanged
    assert float(opt.param_groups[0]["total"]) == total
    assert float(opt2.param_groups[0]["total"]) == total + 2.0


def test_torch_style_lr_attribute_and_unchecked_settings():
    opt = _Counting([_param()], lr=0.1)
    assert opt.lr == 0.1
    opt.lr = 0.5  # a plain attribute: the groups keep theirs, as torch's
    assert opt.lr == 0.5 and opt.param_groups[0]["lr"] == 0.1
    assert _Counting([_param()], lr=None).param_groups[0]["lr"] is None
    opt._patch_step_function()
    assert opt._zero_grad_profile_name.endswith("_Counting.zero_grad")
    with pytest.raises(ValueError):  # dlpy's own optimisers still check
        dlpy.optim.SGD([_param()], lr=-1.0)


def test_group_tensors_by_device_and_dtype():
    a, b, c = dlpy.ones(2), dlpy.ones(2, dtype=dlpy.float64), dlpy.zeros(3)
    groups = _foreach_utils._group_tensors_by_device_and_dtype([[a, b, c], [a, None, c]], True)
    cpu = dlpy.device("cpu")
    (lists, indices) = groups[(cpu, dlpy.float32)]
    assert indices == [0, 2] and lists[0][0] is a and lists[1][1] is c
    assert groups[(cpu, dlpy.float64)] == ([[b], [None]], [1])
    assert _foreach_utils._group_tensors_by_device_and_dtype([[a]])[(cpu, dlpy.float32)][1] == []
    with pytest.raises(RuntimeError):
        _foreach_utils._group_tensors_by_device_and_dtype([[]], True)
    assert _foreach_utils._has_foreach_support([a, None], cpu)


def test_foreach_maximum_minimum_numbers():
    a = [dlpy.tensor([1.0, float("nan"), 3.0]), dlpy.tensor([0.0, 5.0])]
    out = dlpy._foreach_maximum(a, 2.0)
    assert np.array_equal(out[0].numpy(), [2.0, np.nan, 3.0], equal_nan=True)
    b = [t.clone() for t in a]
    dlpy._foreach_minimum_(b, [1.5, dlpy.tensor([0.5, 9.0])])
    assert np.array_equal(b[0].numpy(), [1.0, np.nan, 1.5], equal_nan=True)
    assert b[1].tolist() == [0.0, 5.0]
    assert dlpy._foreach_maximum([dlpy.tensor([1, 5])], 2.5)[0].tolist() == [2.5, 5.0]


def test_scalar_value_and_number_first_overloads():
    x, y = dlpy.ones(2), dlpy.tensor([1.0, 2.0])
    assert x.addcdiv(y, y, value=dlpy.tensor(2.0)).tolist() == [3.0, 3.0]
    with pytest.raises(TypeError):
        x.addcmul(y, y, value=dlpy.tensor([3.0]))
    with pytest.raises(TypeError):
        x.addcmul(y, y, value=dlpy.tensor(3.0, requires_grad=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert x.clone().add_(0.5, y).tolist() == [1.5, 2.0]
        assert x.sub(2, y).tolist() == [-1.0, -3.0]
        assert x.clone().addcmul_(2, y, y).tolist() == [3.0, 9.0]
        assert x.clone().addcdiv_(2, y, y).tolist() == [3.0, 3.0]
        assert dlpy.addcmul(x, 0.5, y, y).tolist() == [1.5, 3.0]
    with pytest.raises(TypeError):
        x.add(y, y)
    with pytest.raises(TypeError):
        x.addcmul(y, y, 2)


def test_sparse_grad_data_is_itself():
    e = nn.Embedding(4, 2, sparse=True)
    e(dlpy.tensor([1, 2])).sum().backward()
    assert e.weight.grad.data is e.weight.grad and e.weight.grad.data.is_sparse


class _LibraryBase(Optimizer):
    """A library's own Optimizer subclass, written the torch way: ``__init__(params,
    defaults)`` only, and a ``step`` its concrete optimisers must replace."""

    def __init__(self, params, defaults):
        super().__init__(params, defaults)

    def step(self, closure=None):
        raise NotImplementedError

    def library_helper(self) -> str:
        return "helper"


class _SGDAndBase(dlpy.optim.SGD, _LibraryBase):
    """Derived from SGD and from the library's base (pytorch-optimizer's DeMo): the base's
    ``__init__`` stands between SGD's and Optimizer's in the method order."""

    def __init__(self, params, lr=0.1, **kwargs):
        super().__init__(params, lr=lr, momentum=0.5, foreach=False, **kwargs)

    def step(self, closure=None):
        return super().step(closure)  # SGD's step, as torch's SGD defines its own


def test_a_class_of_sgd_and_another_base_takes_sgds_init_and_step():
    w = nn.Parameter(dlpy.tensor([1.0, -2.0], dtype=dlpy.float64))
    opt = _SGDAndBase([w], lr=0.25)
    assert opt.library_helper() == "helper"
    assert opt.param_groups[0]["foreach"] is False and opt.defaults["momentum"] == 0.5
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    # SGD, momentum 0.5, g = 2 w: v1 = g0 = 2 w0, w1 = 0.5 w0; v2 = 0.5 v1 + g1 = 2 w0, w2 = 0
    np.testing.assert_allclose(w.detach().numpy(), [0.0, 0.0], atol=1e-12)
    with pytest.raises(TypeError, match=r"SGD.__init__\(\) got an unexpected keyword argument"):
        _SGDAndBase([w], bogus=1)
