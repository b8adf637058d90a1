"""ModuleDict, ParameterList, ParameterDict and Module.apply: state dict names and apply order
checked against PyTorch's (stored values: tests/fixtures/habits/init.npz, made by
tests/fixtures/make_init_fixtures.py)."""

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor, nn, optim
from dlpy.nn import init

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "habits" / "init.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: [str(s) for s in data[k]] for k in data.files
                if k.startswith(("keys:", "apply:"))}


def ones(*shape):
    return nn.Parameter(np.ones(shape, np.float32))


class Net(nn.Module):
    """The same as the fixture script's Net."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleDict({
            "enc": nn.Linear(3, 4),
            "dec": nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)),
        })
        self.scales = nn.ParameterList([ones(2), nn.Parameter(np.zeros(3, np.float32))])
        self.gates = nn.ParameterDict({"out": ones(2), "in": nn.Parameter(np.zeros(4))})
        self.head = nn.Linear(2, 1)

    def forward(self, x):
        h = self.blocks["dec"](self.blocks["enc"](x))
        return self.head(h * self.scales[0] + self.gates["out"])


def edited() -> Net:
    """The fixture script's ``edited``."""
    net = Net()
    net.blocks["enc"] = nn.Linear(3, 4)
    net.blocks.update([("mid", nn.Linear(4, 4))])
    net.blocks.pop("dec")
    net.scales.append(ones(1))
    net.scales[0] = ones(2)
    net.gates["bias"] = nn.Parameter(np.zeros(1))
    net.gates.update(OrderedDict([("z", ones(1)), ("a", ones(1))]))
    net.gates.update([("y", ones(1)), ("b", ones(1))])
    del net.gates["out"]
    return net


CASES = {
    "net": Net,
    "edited": edited,
    "moduledict": lambda: nn.ModuleDict([("b", nn.Linear(2, 2)), ("a", nn.Linear(2, 1))]),
    "parameterlist": lambda: nn.ParameterList([ones(2) for _ in range(3)]),
    "parameterdict": lambda: nn.ParameterDict({"w": ones(2), "b": ones(2)}),
}


@pytest.mark.parametrize("case", CASES)
def test_state_dict_keys_match_torch(ref, case):
    model = CASES[case]()
    assert list(model.state_dict()) == ref[f"keys:{case}"]
    assert [k for k, _ in model.named_parameters()] == ref[f"keys:{case}"]


def apply_order(model):
    """The names of the modules model.apply(fn) calls fn on, in call order."""
    names = {}
    for name, module in model.named_modules():  # a shared module: its first name, as torch
        names.setdefault(id(module), name)
    visited = []
    assert model.apply(lambda m: visited.append(names[id(m)])) is model
    return visited


def test_apply_visits_children_before_parents_as_torch(ref):
    assert apply_order(Net()) == ref["apply:order"]
    assert apply_order(nn.Sequential(*[nn.Linear(2, 2)] * 2)) == ref["apply:shared"]


def test_apply_with_init_reinitialises_every_linear_in_call_order():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4)),
                          nn.Linear(4, 2))
    rng = np.random.default_rng(0)

    def init_weights(module):
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight, gain=init.calculate_gain("relu"), generator=rng)
            init.zeros_(module.bias)

    model.apply(init_weights)
    replay = np.random.default_rng(0)
    for linear in [model[0], model[2][0], model[3]]:
        fan_out, fan_in = linear.weight.shape
        bound = np.sqrt(2.0) * np.sqrt(6.0 / (fan_in + fan_out))
        expected = replay.uniform(-bound, bound, linear.weight.shape).astype(np.float32)
        np.testing.assert_allclose(linear.weight.data, expected, rtol=1e-6)
        assert not linear.bias.data.any()


def test_module_dict_is_a_dict_of_registered_modules():
    enc, dec = nn.Linear(3, 4), nn.Linear(4, 2)
    blocks = nn.ModuleDict({"enc": enc})
    blocks["dec"] = dec
    assert len(blocks) == 2 and "enc" in blocks and "mid" not in blocks
    assert list(blocks) == list(blocks.keys()) == ["enc", "dec"]
    assert list(blocks.values()) == [enc, dec] and dict(blocks.items()) == {"enc": enc,
                                                                            "dec": dec}
    assert blocks["enc"] is enc and blocks.enc is enc
    assert [k for k, _ in blocks.named_parameters()] == ["enc.weight", "enc.bias",
                                                         "dec.weight", "dec.bias"]
    replacement = nn.Linear(3, 4)
    blocks.update(nn.ModuleDict({"enc": replacement}))  # another ModuleDict; keeps the place
    assert list(blocks) == ["enc", "dec"] and blocks["enc"] is replacement
    assert all(p is not enc.weight for p in blocks.parameters())
    assert blocks.pop("enc") is replacement and list(blocks) == ["dec"]
    assert not hasattr(blocks, "enc")
    blocks.clear()
    assert len(blocks) == 0 and list(blocks.parameters()) == []
    with pytest.raises(KeyError, match="'enc'"):
        blocks["enc"]
    with pytest.raises(KeyError, match="'enc'"):
        del blocks["enc"]


def test_parameter_list_indexes_appends_and_wraps_tensors():
    a, b = ones(2), ones(3)
    params = nn.ParameterList([a])
    assert params.append(b) is params and len(params) == 2
    assert params[0] is a and params[-1] is b and list(params) == [a, b]
    part = params[1:]
    assert isinstance(part, nn.ParameterList) and part[0] is b and len(part) == 1
    plain = Tensor(np.zeros(4, np.float32))
    params.extend([plain])
    assert isinstance(params[2], nn.Parameter) and params[2].requires_grad
    plain.data[0] = 5.0  # wrapped over the same memory, as torch's Parameter(t)
    assert params[2].data[0] == 5.0
    c = ones(2)
    params[0] = c
    assert [k for k, _ in params.named_parameters()] == ["0", "1", "2"] and params[0] is c
    with pytest.raises(IndexError, match="ParameterList: index 3 out of range for 3 entries"):
        params[3]
    with pytest.raises(IndexError, match="index -4 out of range"):
        params[-4] = c
    params.append(7)  # any other value is kept as it is, as torch's (not a parameter)
    assert params[3] == 7 and len(params) == 4 and list(params.state_dict()) == ["0", "1", "2"]
    with pytest.raises(RuntimeError, match="floating point"):  # torch's Parameter refuses it
        params.append(Tensor(np.arange(2)))
    assert len(params) == 4
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an "
                                        "iterable, but got Parameter"):
        params.extend(c)


def test_parameter_dict_orders_keys_as_torch():
    plain = nn.ParameterDict({"w": ones(1), "b": ones(1), "a": ones(1)})
    assert list(plain) == ["a", "b", "w"]  # a plain dict is sorted, as PyTorch
    ordered = nn.ParameterDict(OrderedDict([("w", ones(1)), ("b", ones(1))]))
    assert list(ordered.keys()) == ["w", "b"]
    pairs = nn.ParameterDict([("w", ones(1)), ("b", ones(1))])
    assert list(pairs) == ["w", "b"]
    p = ones(2)
    pairs["c"] = p
    assert pairs["c"] is p and pairs.get("c") is p and pairs.get("nothing") is None
    assert "c" in pairs and len(pairs) == 3 and list(pairs.values())[-1] is p
    assert dict(pairs.items())["c"] is p
    assert pairs.pop("c") is p and "c" not in pairs and "c" not in pairs.state_dict()
    pairs.clear()
    assert len(pairs) == 0


def test_container_key_errors():
    with pytest.raises(KeyError, match="attribute 'keys' already exists, it cannot be a key"):
        nn.ModuleDict({"keys": nn.ReLU()})
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        nn.ParameterDict({"training": ones(1)})
    with pytest.raises(KeyError, match="a key must be a non-empty string without '.', got 'a.b'"):
        nn.ModuleDict({"a.b": nn.ReLU()})
    with pytest.raises(KeyError, match="got ''"):
        nn.ParameterDict({"": ones(1)})
    with pytest.raises(TypeError, match="ParameterDict: keys must be strings, got int 1"):
        nn.ParameterDict([(1, ones(1))])
    with pytest.raises(TypeError, match="ModuleDict: expected a Module, got int"):
        nn.ModuleDict({"a": 3})
    assert nn.ParameterDict({"a": 1.0})["a"] == 1.0  # kept as it is, as torch's
    with pytest.raises(AttributeError, match="no attribute 'b'"):  # torch's getattr
        nn.ParameterDict({"a": 1.0})["b"]
    with pytest.raises(TypeError, match="ModuleDict: expected a Module, got str"):
        nn.ModuleDict(["ab"])  # the pair ('a', 'b'), as torch's
    with pytest.raises(ValueError, match=r"ModuleDict.update: element 0 should be a \(key, "
                                         r"value\) pair, got 3 items"):
        nn.ModuleDict(["abc"])
    with pytest.raises(TypeError, match="ModuleDict.update: expected a mapping or an iterable "
                                        "of .* got int"):
        nn.ModuleDict(3)


def test_containers_train_and_round_trip_through_a_checkpoint(tmp_path):
    model = Net()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    loss = (model(x) ** 2).sum()
    loss.backward()
    assert model.scales[0].grad is not None and model.gates["out"].grad is not None
    assert model.blocks["enc"].weight.grad is not None
    assert model.scales[1].grad is None  # unused in forward
    opt = optim.SGD([p for p in model.parameters() if p.grad is not None], lr=0.1)
    before = model.gates["out"].data.copy()
    opt.step()
    assert not np.array_equal(model.gates["out"].data, before)
    model.save(tmp_path / "net.npz")
    fresh = Net()
    fresh.load(tmp_path / "net.npz")
    for (name, a), (_, b) in zip(model.named_parameters(), fresh.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_container_reprs():
    assert repr(nn.ModuleDict({"act": nn.ReLU()})) == "ModuleDict(\n  (act): ReLU()\n)"
    assert repr(nn.ParameterList([ones(2)])) == \
        "ParameterList(  (0): Parameter containing: [torch.float32 of size 2])"  # torch's
    assert repr(nn.ParameterList([ones(2), ones(2, 3)])) == (  # torch's
        "ParameterList(\n    (0): Parameter containing: [torch.float32 of size 2]\n"
        "    (1): Parameter containing: [torch.float32 of size 2x3]\n)")
    assert repr(nn.ParameterDict({"b": ones(2), "a": ones()})) == (
        "ParameterDict(\n    (a): Parameter containing: [torch.FloatTensor of size ]\n"
        "    (b): Parameter containing: [torch.FloatTensor of size 2]\n)")
    assert repr(nn.ParameterDict()) == "ParameterDict()"
