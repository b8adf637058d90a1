"""The last torch.nn.Module methods: get_buffer, set_submodule, extra state, state-dict hooks,
register_backward_hook, cpu/half/type/to_empty/share_memory. Expectations from torch 2.x."""

import numpy as np
import pytest

import dlpy
from dlpy import nn


class WithExtra(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1, rng=np.random.default_rng(0))
        self.k = 3

    def get_extra_state(self):
        return {"k": self.k}

    def set_extra_state(self, state):
        self.k = state["k"]


class Parent(nn.Module):
    def __init__(self):
        super().__init__()
        self.e = WithExtra()
        self.register_buffer("r", np.zeros(1))


def linear():
    return nn.Linear(2, 3, rng=np.random.default_rng(0))


def test_get_buffer_and_errors():
    seq = nn.Sequential(nn.BatchNorm1d(3))
    assert seq.get_buffer("0.running_var") is seq[0].running_var
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        seq.get_buffer("0.weight")  # torch's messages
    with pytest.raises(AttributeError, match="Sequential has no attribute `x`"):
        seq.get_buffer("x.running_var")


def test_set_submodule_replaces_adds_and_refuses():
    seq = nn.Sequential(nn.Sequential(linear()))
    tanh = nn.Tanh()
    seq.set_submodule("0.0", tanh)
    assert seq[0][0] is tanh
    seq.set_submodule("0.extra", nn.ReLU())  # a new child of an existing parent
    assert isinstance(seq.get_submodule("0.extra"), nn.ReLU)
    with pytest.raises(AttributeError, match="strict=True.*no submodule 'y'"):
        seq.set_submodule("0.y", nn.ReLU(), strict=True)
    with pytest.raises(ValueError, match="non-empty"):
        seq.set_submodule("", nn.ReLU())
    with pytest.raises(ValueError, match="expected a Module, got int"):
        seq.set_submodule("0.0", 3)
    lin = linear()
    with pytest.raises(AttributeError, match="'weight' is not a Module"):
        nn.Sequential(lin).set_submodule("0.weight", nn.ReLU())


def test_extra_state_saved_and_restored_as_torch():
    sd = Parent().state_dict()
    # torch: ['r', 'e._extra_state', 'e.lin.weight', 'e.lin.bias'] (dlpy: arrays first)
    assert sorted(sd) == ["e._extra_state", "e.lin.bias", "e.lin.weight", "r"]
    assert sd["e._extra_state"] == {"k": 3}
    sd["e._extra_state"] = {"k": 7}
    model = Parent()
    keys = model.load_state_dict(sd)
    assert model.e.k == 7 and keys.missing_keys == [] and keys.unexpected_keys == []
    del sd["e._extra_state"]
    assert Parent().load_state_dict(sd, strict=False).missing_keys == ["e._extra_state"]
    with pytest.raises(ValueError, match=r"missing keys: \['e._extra_state'\]"):
        Parent().load_state_dict(sd)


def test_extra_state_key_unexpected_without_override():
    lin = nn.Linear(1, 1)
    state = {**lin.state_dict(), "_extra_state": 1}
    keys = lin.load_state_dict(state, strict=False)
    assert keys.missing_keys == [] and keys.unexpected_keys == ["_extra_state"]


def test_base_extra_state_methods_refuse():
    with pytest.raises(RuntimeError, match="get_extra_state: not overridden"):
        nn.Linear(1, 1).get_extra_state()


def test_state_dict_hooks_order_edit_and_remove():
    seq = nn.Sequential(linear(), nn.Sequential(linear()))
    calls = []
    handles = [
        seq.register_state_dict_pre_hook(lambda m, prefix, keep: calls.append(("pre", prefix))),
        seq[1].register_state_dict_pre_hook(lambda m, p, k: calls.append(("pre", p))),
        seq[1][0].register_state_dict_post_hook(
            lambda m, sd, prefix, meta: calls.append(("post", prefix))),
        seq.register_state_dict_post_hook(lambda m, sd, p, meta: sd.pop("0.bias")),
    ]
    with pytest.raises(RuntimeError, match="post-hook must return None"):
        seq.state_dict()  # dict.pop returns the array: torch refuses too
    handles[3].remove()
    calls.clear()
    handles.append(seq.register_state_dict_post_hook(
        lambda m, sd, p, meta: sd.__setitem__("tag", np.ones(1))))
    sd = seq.state_dict()
    assert calls == [("pre", ""), ("pre", "1."), ("post", "1.0.")]  # torch's order
    assert "tag" in sd and "0.bias" in sd
    for h in handles:
        h.remove()
    calls.clear()
    assert "tag" not in seq.state_dict() and calls == []


def test_load_state_dict_pre_hook_renames_keys():
    lin = linear()
    old = {"w": np.ones((3, 2)), "bias": np.zeros(3)}

    def rename(module, state, prefix, meta, strict, missing, unexpected, errors):
        state[prefix + "weight"] = state.pop(prefix + "w")

    seq = nn.Sequential(lin)
    lin.register_load_state_dict_pre_hook(rename)
    seq.load_state_dict({"0." + k: v for k, v in old.items()})
    np.testing.assert_array_equal(lin.weight.data, np.ones((3, 2)))

    def fail(module, state, prefix, meta, strict, missing, unexpected, errors):
        errors.append("old checkpoint")

    lin.register_load_state_dict_pre_hook(fail)
    with pytest.raises(ValueError, match="old checkpoint"):
        seq.load_state_dict({"0." + k: v for k, v in old.items()})


def test_load_state_dict_post_hook_sees_and_clears_keys():
    lin = linear()
    seen = []

    def clear(module, keys):
        seen.append((list(keys.missing_keys), list(keys.unexpected_keys)))
        keys.missing_keys.clear()
        keys.unexpected_keys.clear()

    handle = lin.register_load_state_dict_post_hook(clear)
    result = lin.load_state_dict({"weight": np.ones((3, 2)), "junk": np.zeros(1)})
    assert seen == [(["bias"], ["junk"])]  # torch: strict passes once the hook clears both
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(lin.weight.data, np.ones((3, 2)))
    handle.remove()
    with pytest.raises(ValueError, match="unexpected keys"):
        lin.load_state_dict({"weight": np.ones((3, 2)), "bias": np.zeros(3), "junk": 1})
    lin.register_load_state_dict_post_hook(lambda m, keys: 1)
    with pytest.raises(RuntimeError, match="must return None"):
        lin.load_state_dict(lin.state_dict())


def test_hooks_must_be_callable():
    with pytest.raises(TypeError, match="register_state_dict_pre_hook: a hook must be callable"):
        linear().register_state_dict_pre_hook(3)


def test_register_backward_hook_warns_then_acts_as_full_hook():
    tanh = nn.Tanh()
    got = []
    with pytest.warns(FutureWarning, match="register_backward_hook is deprecated"):
        tanh.register_backward_hook(lambda m, gi, go: got.append((len(gi), len(go))))
    x = dlpy.Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    tanh(x).sum().backward()
    assert got == [(1, 1)]  # torch: [(1, 1)]
    np.testing.assert_allclose(x.grad, 1 - np.tanh(x.data) ** 2)


def test_register_backward_hook_refuses_several_inputs():
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    add = Add()
    with pytest.warns(FutureWarning):
        add.register_backward_hook(lambda m, gi, go: None)
    a = dlpy.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="one input only, the module got 2"):
        add(a, a * 2).sum().backward()


def test_cpu_share_memory_return_self():
    lin = linear()
    weight = lin.weight.data
    assert lin.cpu() is lin and lin.share_memory() is lin and lin.weight.data is weight


def test_half_and_type_match_torch_dtypes():
    bn = nn.BatchNorm1d(3).half()
    # torch: float16 everywhere but num_batches_tracked (int64)
    assert {k: v.dtype.name for k, v in bn.state_dict().items()} == {
        "weight": "float16", "bias": "float16", "running_mean": "float16",
        "running_var": "float16", "num_batches_tracked": "int64"}
    bn = nn.BatchNorm1d(3)
    assert bn.type(np.float64) is bn
    # torch's type casts integer buffers too
    assert {v.dtype.name for v in bn.state_dict().values()} == {"float64"}
    # an integer dtype: refused while a parameter requires grad (torch's words), else cast
    with pytest.raises(RuntimeError, match="requires gradients must be floating point"):
        bn.type(np.int64)
    assert bn.weight.dtype == np.float64
    bn.requires_grad_(False)
    assert bn.type("torch.IntTensor") is bn
    assert {v.dtype.name for v in bn.state_dict().values()} == {"int32"}
    assert nn.ReLU().type(np.int32) is not None  # nothing to cast
    with pytest.raises(ValueError, match="invalid type: 'no such type'"):  # torch's
        nn.ReLU().type("no such type")


def test_to_complex_dtype_makes_floating_parameters_complex_in_place():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    layer.weight.grad = dlpy.Tensor(np.ones((2, 2), np.float32))
    with pytest.warns(UserWarning, match="Complex modules are a new feature"):
        assert layer.to(np.complex64) is layer
    assert layer.weight is weight and isinstance(weight, nn.Parameter)
    assert weight.dtype == np.complex64 and weight.grad.dtype == np.complex64
    out = layer(dlpy.Tensor(np.full((1, 2), 1 + 1j, np.complex64)))
    assert out.dtype == np.complex64
    np.testing.assert_allclose(out.data[0], (1 + 1j) * weight.data.sum(1) + layer.bias.data,
                               rtol=1e-6)
    with pytest.warns(UserWarning):
        bn = nn.BatchNorm1d(2).to(np.complex128)
    assert {k: v.dtype.name for k, v in bn.state_dict().items()} == {
        "weight": "complex128", "bias": "complex128", "running_mean": "complex128",
        "running_var": "complex128", "num_batches_tracked": "int64"}


def test_to_empty_zeros_same_shape_dtype_same_objects():
    bn = nn.BatchNorm1d(3).double()
    weight = bn.weight
    bn.running_mean += 1
    assert bn.to_empty(device="cpu") is bn and bn.weight is weight
    for name, value in bn.state_dict().items():
        assert not value.any(), name
    assert bn.weight.dtype == np.float64 and bn.running_mean.shape == (3,)
    seq = nn.Sequential(linear())
    seq.to_empty(recurse=False)
    assert seq[0].weight.data.any()  # only the module's own state
    with pytest.raises(RuntimeError, match="Sequential.to_empty: device='cuda': dlpy runs on "
                                           "the CPU"):
        seq.to_empty(device="cuda")


def test_getattr_as_torch_names_registered_entries_and_refuses_others():
    # Python calls Module.__getattr__ only where the normal lookup fails; code written for
    # torch may call it itself (gpytorch's settable hyperparameters: self.__getattr__(name))
    layer = nn.Linear(2, 3)
    layer.register_buffer("count", dlpy.zeros(1))
    seq = nn.Sequential(layer)
    assert layer.__getattr__("weight") is layer.weight
    assert layer.__getattr__("count") is layer.count
    assert seq.__getattr__("0") is layer
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        layer.__getattr__("nope")
    assert getattr(layer, "nope", 5) == 5 and not hasattr(layer, "nope")

    class Settable(nn.Module):  # gpytorch's pattern: a property reading its raw parameter
        def __init__(self):
            super().__init__()
            self.raw_scale = nn.Parameter(dlpy.zeros(1))

        @property
        def scale(self):
            return self.__getattr__("raw_scale").exp()

    np.testing.assert_allclose(Settable().scale.numpy(), [1.0])


def test_a_class_property_keeps_its_name_over_a_registered_entry():
    # torch keeps parameters in their table only: a property of the class (geoopt's
    # PoincareBall.k over its base's parameter k) keeps the name, and its setter is not called
    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.k = nn.Parameter(dlpy.ones(1))

    class Shadowing(Base):
        def __init__(self):
            super().__init__()
            self.scale = 3

        @property
        def k(self):  # no setter; no answer yet while Base registers k (else a KeyError)
            return self.scale * 2

    m = Shadowing()
    assert m.k == 6 and "k" not in vars(m)
    assert list(dict(m.named_parameters())) == ["k"]
    del m.k
    assert list(dict(m.named_parameters())) == [] and m.k == 6

    class Named(nn.Module):  # a name the class answers already: torch's KeyError
        def __init__(self):
            super().__init__()
            self.forward = nn.Parameter(dlpy.ones(1))

    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        Named()


class CastsItsData(nn.Module):
    """A module that converts extra state in ``_apply`` (as gpytorch's ExactGP casts its
    training data) and redirects assignments to one buffer's name (as gpytorch's priors do)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1, rng=np.random.default_rng(0))
        self.register_buffer("scale", dlpy.ones(2))
        self.train_x = dlpy.ones(3, 2)
        self.applied = 0

    def _apply(self, fn):
        self.applied += 1
        self.train_x = fn(self.train_x)
        return super()._apply(fn)

    def __setattr__(self, name, value):
        if name == "scale" and "scale" in self._buffers:
            raise AssertionError("a conversion must not assign a buffer through __setattr__")
        super().__setattr__(name, value)


@pytest.mark.parametrize("convert", [lambda m: m.double(), lambda m: m.to(np.float64),
                                     lambda m: m.to(dtype=np.float64)])
def test_to_and_double_go_through_apply(convert):
    """torch's to/double/float are _apply(convert): a subclass's _apply sees them, and buffers
    are written to _buffers directly; parameters stay the same objects, gradients cast too."""
    m = CastsItsData()
    weight = m.lin.weight
    m.lin.weight.grad = dlpy.ones(1, 2)
    assert convert(m) is m
    assert m.applied == 1 and m.train_x.dtype == np.float64
    assert m.scale.dtype == np.float64 and m._buffers["scale"] is m.scale
    assert m.lin.weight is weight and weight.dtype == np.float64
    assert weight.grad.dtype == np.float64
    m.float()
    assert m.applied == 2 and m.train_x.dtype == np.float32 and m.scale.dtype == np.float32
