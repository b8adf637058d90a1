"""Module: parameter names and order, strict state dicts, checkpoints with config and optimiser."""

import numpy as np
import pytest

from dlpy import nn, optim


class Block(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.config = {"width": 4}
        self.first = nn.Linear(3, 4, rng=rng)
        self.act = nn.ReLU()
        self.layers = nn.ModuleList([nn.Linear(4, 4, rng=rng), nn.Linear(4, 2, rng=rng)])
        self.norm = nn.LayerNorm(2)

    def forward(self, x):
        x = self.act(self.first(x))
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def make(seed=0):
    return Block(np.random.default_rng(seed))


def test_named_parameters_are_dotted_and_in_assignment_order():
    assert [k for k, _ in make().named_parameters()] == [
        "first.weight", "first.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight",
        "layers.1.bias", "norm.weight", "norm.bias",
    ]
    assert make().num_parameters() == 3 * 4 + 4 + 16 + 4 + 8 + 2 + 2 + 2


def test_num_parameters_takes_hugging_face_keywords():
    """A model listing nn.Module before Hugging Face's ModuleUtilsMixin reaches Module's
    num_parameters: it takes the mixin's keywords with its meaning."""
    model = nn.Sequential(nn.Embedding(10, 3), nn.Linear(3, 2), nn.LayerNorm(2))
    model[2].weight.requires_grad_(False)
    assert model.num_parameters() == 30 + 6 + 2 + 2 + 2
    assert model.num_parameters(exclude_embeddings=True) == 6 + 2 + 2 + 2
    assert model.num_parameters(only_trainable=True) == 30 + 6 + 2 + 2
    assert model.num_parameters(only_trainable=True, exclude_embeddings=True) == 6 + 2 + 2


def test_shared_parameter_is_listed_once():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(list(model.parameters())) == 3


def test_parameters_and_buffers_are_generators_as_torchs():
    # torch's: a generator (next(model.parameters()) finds the dtype); recurse=False: own only;
    # remove_duplicate=False lists a shared parameter under each name
    model = make()
    first = next(model.parameters())
    assert first is model.first.weight and iter(model.parameters()) is not None
    assert not isinstance(model.parameters(), list)
    assert list(model.layers[0].parameters(recurse=False)) == [model.layers[0].weight,
                                                               model.layers[0].bias]
    assert list(model.parameters(recurse=False)) == []
    assert [n for n, _ in model.named_parameters(prefix="net", recurse=True)][:2] == [
        "net.first.weight", "net.first.bias"]
    shared = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    shared[1].weight = shared[0].weight
    assert [n for n, _ in shared.named_parameters(remove_duplicate=False)] == [
        "0.weight", "0.bias", "1.weight", "1.bias"]
    norm = nn.BatchNorm1d(3)
    assert not isinstance(norm.buffers(), list)
    assert [n for n, _ in norm.named_buffers()] == ["running_mean", "running_var",
                                                    "num_batches_tracked"]
    assert len(list(nn.Sequential(norm).buffers(recurse=False))) == 0


def test_state_dict_shares_the_parameters_arrays():
    # as torch's: detached tensors over the parameters' storage (timm's EMA writes through
    # them); clone() makes a snapshot
    model = make()
    state = model.state_dict()
    snapshot = {k: v.clone() for k, v in state.items()}
    assert not state["first.weight"].requires_grad
    state["first.weight"][...] = 0
    assert np.abs(model.first.weight.data).sum() == 0
    assert np.abs(snapshot["first.weight"].data).sum() > 0
    model.load_state_dict(snapshot)  # in place: the earlier state sees the loaded values
    np.testing.assert_array_equal(state["first.weight"].data, snapshot["first.weight"].data)


def test_strict_load_reports_missing_unexpected_and_shape():
    model, state = make(), make(1).state_dict()
    del state["norm.bias"]
    state["extra.weight"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"missing keys: \['norm.bias'\]; unexpected keys: "
                                         r"\['extra.weight'\]"):
        model.load_state_dict(state)
    state = make(1).state_dict()
    state["layers.1.weight"] = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"shape mismatch for layers.1.weight: the model has "
                                         r"\(2, 4\), the state has \(4, 2\)"):
        model.load_state_dict(state)


def test_non_strict_load_takes_what_matches():
    model, other = make(), make(1)
    state = {"first.bias": other.first.bias.data}
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model.first.bias.data, other.first.bias.data)


def test_save_load_round_trip_with_config_and_optimizer(tmp_path):
    model = make()
    opt = optim.AdamW(model.parameters(), lr=0.01)
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    for _ in range(3):
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    path = tmp_path / "run" / "model.npz"
    nn.save_checkpoint(path, model, opt, extra={"epoch": 3}, meta={"note": "test"})
    assert nn.read_meta(path) == {"class": "Block", "config": {"width": 4},
                                  "optimizer": "AdamW", "note": "test"}
    restored = make(9)
    restored_opt = optim.AdamW(restored.parameters(), lr=0.5)
    info = nn.load_checkpoint(path, restored, restored_opt)
    assert int(info["extra"]["epoch"]) == 3
    for (name, a), (_, b) in zip(model.named_parameters(), restored.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    np.testing.assert_array_equal(model(x).data, restored(x).data)
    assert restored_opt.lr == 0.01 and restored_opt.state_dict().keys() == opt.state_dict().keys()
    # Module.save/load are the same format without the optimiser
    model.save(tmp_path / "plain.npz")
    assert make(3).load(tmp_path / "plain.npz") == {}


def test_load_errors_name_the_file(tmp_path):
    model = make()
    model.save(tmp_path / "a.npz")
    other = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"a.npz: load_state_dict: .*missing keys: \['0.weight'"):
        other.load(tmp_path / "a.npz")
    with pytest.raises(FileNotFoundError, match="nothing.npz: no such checkpoint file"):
        model.load(tmp_path / "nothing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable .npz checkpoint"):
        model.load(tmp_path / "bad.npz")


def test_compressed_checkpoint_holds_the_same_arrays_in_fewer_bytes(tmp_path):
    model = nn.Sequential(nn.Linear(64, 64))
    model[0].weight.data[:, :48] = 0  # something a deflate can shrink
    table = np.arange(10_000, dtype=np.int64)
    nn.save_checkpoint(tmp_path / "plain.npz", model, extra={"table": table})
    nn.save_checkpoint(tmp_path / "small.npz", model, extra={"table": table}, compress=True)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 2
    restored = nn.Sequential(nn.Linear(64, 64))
    info = nn.load_checkpoint(tmp_path / "small.npz", restored)
    np.testing.assert_array_equal(restored[0].weight.data, model[0].weight.data)
    np.testing.assert_array_equal(info["extra"]["table"], table)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    model = make()
    model.save(tmp_path / "m.npz")
    model.save(tmp_path / "m.npz")  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


class Counted(nn.Module):
    """A module with buffers: a persistent index table and a non-persistent scratch."""

    def __init__(self, rng):
        super().__init__()
        self.inner = nn.Linear(3, 2, rng=rng)
        self.register_buffer("table", np.arange(5, dtype=np.int64))
        self.register_buffer("scratch", np.zeros(3), persistent=False)


def test_buffers_are_saved_and_loaded_but_never_learnt(tmp_path):
    model = Counted(np.random.default_rng(0))
    model.inner.register_buffer("seen", np.zeros(2, dtype=np.int32))
    assert [k for k, _ in model.named_parameters()] == ["inner.weight", "inner.bias"]
    assert [k for k, _ in model.named_buffers()] == ["table", "scratch", "inner.seen"]
    # torch's order: a module's own parameters and buffers, then its children's
    assert list(model.state_dict()) == ["table", "inner.weight", "inner.bias", "inner.seen"]
    opt = optim.SGD(model.parameters(), lr=0.1)  # buffers are not parameters
    assert len(opt.params) == 2
    model.table = np.array([9, 8, 7, 6, 5])  # assigning replaces the buffer's array
    model.inner.seen[...] = 3
    assert model._buffers["table"] is model.table
    state = model.state_dict()
    state["table"][0] = -1  # a view of the buffer, as torch's
    assert model.table[0] == -1
    model.table[0] = 9
    model.save(tmp_path / "m.npz")
    fresh = Counted(np.random.default_rng(1))
    fresh.inner.register_buffer("seen", np.zeros(2, dtype=np.int32))
    fresh.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(fresh.table, [9, 8, 7, 6, 5])
    assert fresh.table.dtype == np.int64 and fresh.inner.seen.dtype == np.int32
    np.testing.assert_array_equal(fresh.inner.seen, [3, 3])
    np.testing.assert_array_equal(fresh.inner.weight.data, model.inner.weight.data)
    # the non-persistent buffer stays as the module made it
    np.testing.assert_array_equal(fresh.scratch, np.zeros(3))


def test_buffers_are_tensors_updated_in_place_as_torchs():
    import dlpy

    table = np.arange(4.0)
    model = nn.Module()
    model.register_buffer("pe", table)  # a numpy array: a Tensor over it, not a copy
    assert type(model.pe) is dlpy.Tensor and not model.pe.requires_grad
    assert model.pe.size(0) == 4 and model.pe.numel() == 4 and model.pe.data is table
    given = dlpy.ones(2)
    model.register_buffer("given", given)
    assert model.given is given  # a Tensor is kept itself (torch: `self.x is t`)
    assert all(type(b) is dlpy.Tensor for b in model.buffers())
    state = model.state_dict()  # Tensors sharing the buffers' arrays, as torch's
    assert all(type(v) is dlpy.Tensor for v in state.values())
    state["pe"][0] = -1.0
    assert model.pe[0].item() == -1.0
    held = model.pe
    model.load_state_dict({"pe": np.full(4, 7.0), "given": np.zeros(2)})
    assert model.pe is held and held.tolist() == [7.0] * 4  # loaded into the same Tensor
    bn = nn.BatchNorm1d(3)
    mean, count = bn.running_mean, bn.num_batches_tracked
    bn(dlpy.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3)))
    assert bn.running_mean is mean and bn.num_batches_tracked is count  # updated in place
    np.testing.assert_allclose(mean.numpy(), [0.45, 0.55, 0.65], rtol=1e-6)
    assert count.item() == 1
    bn.running_var.fill_(2.0)  # torch's in-place methods write into the buffer
    assert bn.state_dict()["running_var"].tolist() == [2.0, 2.0, 2.0]
    import pickle  # a module pickled while buffers were numpy arrays unpickles with Tensors

    old = nn.BatchNorm1d(2)
    old._buffers["running_mean"] = old.__dict__["running_mean"] = np.ones(2, np.float32)
    back = pickle.loads(pickle.dumps(old))
    assert type(back.running_mean) is dlpy.Tensor and back._buffers["running_mean"] is \
        back.running_mean and back.running_mean.tolist() == [1.0, 1.0]


def test_buffer_errors():
    model = Counted(np.random.default_rng(0))
    state = model.state_dict()
    del state["table"]
    with pytest.raises(ValueError, match=r"missing keys: \['table'\]"):
        model.load_state_dict(state)
    state["table"] = np.arange(4)
    with pytest.raises(ValueError, match=r"shape mismatch for table: the model has \(5,\), the "
                                         r"state has \(4,\)"):
        model.load_state_dict(state)
    with pytest.raises(KeyError, match="attribute 'inner' already exists"):
        model.register_buffer("inner", np.zeros(1))
    with pytest.raises(KeyError, match=r'buffer name can.+contain "\."'):
        model.register_buffer("a.b", np.zeros(1))
    model.register_buffer("empty", None)  # a None buffer is not listed nor saved
    assert "empty" not in dict(model.named_buffers()) and "empty" not in model.state_dict()
    del model.table
    assert "table" not in model.state_dict()


def test_to_double_and_float_cast_parameters_and_float_buffers_in_place():
    model = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    model[0].register_buffer("table", np.arange(4))            # an index table stays int
    model[0].register_buffer("running", np.ones(2, np.float32))
    weight = model[0].weight
    weight.grad = np.ones_like(weight.data)
    assert model.double() is model
    assert model[0].weight is weight and weight.dtype == np.float64
    assert weight.grad.dtype == np.float64  # the gradient is cast along, as torch's
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[0].running.dtype == np.float64 and model[0].table.dtype == np.arange(4).dtype
    assert dict(model.named_buffers())["0.running"].dtype == np.float64
    out = model(nn.Parameter(np.ones((1, 3))))
    assert out.dtype == np.float64
    assert model.float()[0].weight.dtype == np.float32
    assert model.to("cpu") is model
    with pytest.raises(TypeError, match="floating point .* dtype=torch.int64"):
        model.to(np.int64)


def test_apply_calls_fn_post_order_once_per_child_and_returns_self():
    model = make()
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Linear", "Linear", "ModuleList", "LayerNorm", "Block"]
    shared = nn.Linear(2, 2)
    pair = nn.Sequential(shared, shared)  # one child under two names: visited once (torch)
    calls = []
    pair.apply(calls.append)
    assert calls == [shared, pair]


def test_requires_grad_freezes_and_unfreezes_every_parameter():
    model = make()
    assert model.layers.requires_grad_(False) is model.layers
    assert [k for k, p in model.named_parameters() if not p.requires_grad] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    (model(x) ** 2).sum().backward()
    assert model.layers[0].weight.grad is None and model.first.weight.grad is not None
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_a_replaced_parameter_or_module_keeps_its_place_and_shared_modules_come_once():
    # torch 2.13 gives ['weight', 'bias'] after replacing a Linear's weight, and lists a
    # module shared by a Sequential once in named_modules (twice with remove_duplicate=False)
    layer = nn.Linear(2, 3)
    layer.weight = nn.Parameter(np.zeros((3, 2), np.float32))
    assert list(layer.state_dict()) == ["weight", "bias"]
    model = nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 1))
    first = nn.Linear(1, 1)
    model[0] = first  # ModuleList.__setitem__, as PyTorch's
    model[-1] = nn.Linear(1, 1)
    assert model[0] is first
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(IndexError, match="index 2 out of range for 2 modules"):
        model[2] = nn.Linear(1, 1)
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert [name for name, _ in twice.named_modules()] == ["", "0"]
    assert [name for name, _ in twice.named_modules(remove_duplicate=False)] == ["", "0", "1"]
    assert len(list(twice.modules())) == 2 and len(list(twice.parameters())) == 2
    # a module replaced by a parameter of the same name is a parameter now, in no other list
    holder = nn.Sequential(nn.Linear(1, 1))
    setattr(holder, "0", nn.Parameter(np.zeros(1, np.float32)))
    assert list(holder.state_dict()) == ["0"] and list(holder.children()) == []


def test_named_children_get_submodule_get_parameter_and_registration():
    # the names and errors of torch 2.13's Module methods for the same model
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    outer = nn.Sequential(model, model)
    assert [name for name, _ in outer.named_children()] == ["0"]  # shared: once
    assert outer.get_submodule("0.2") is model[2]
    assert outer.get_submodule("") is outer
    assert outer.get_parameter("0.2.bias") is model[2].bias
    with pytest.raises(AttributeError, match="Sequential has no attribute `5`"):
        outer.get_submodule("0.5")
    with pytest.raises(AttributeError, match="Linear has no attribute `weightx`"):
        outer.get_parameter("0.0.weightx")
    holder = nn.Linear(1, 1)
    holder.register_parameter("scale", nn.Parameter(np.ones(1, np.float32)))
    holder.add_module("inner", nn.Linear(1, 2))
    holder.register_module("other", None)
    assert list(holder.state_dict()) == ["weight", "bias", "scale", "inner.weight",
                                         "inner.bias"]
    with pytest.raises(KeyError, match=r'parameter name can.+contain "\."'):
        holder.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        holder.add_module("forward", nn.ReLU())
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        holder.add_module("x", 3)
    with pytest.raises(TypeError, match="cannot assign 'numpy.ndarray' object to parameter 'w'"):
        holder.register_parameter("w", np.ones(1))


def test_a_childs_own_state_dict_is_called():
    """As torch's (torchmetrics' Metric overrides state_dict): a parent's state_dict calls each
    child's state_dict, so an override's entries are in the parent's dict."""

    class Child(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(2, 2)

        def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
            state = super().state_dict(destination=destination, prefix=prefix,
                                       keep_vars=keep_vars)
            state[prefix + "extra"] = np.ones(1)
            return state

    model = nn.Sequential(Child(), nn.Linear(2, 1))
    assert list(model.state_dict()) == ["0.inner.weight", "0.inner.bias", "0.extra",
                                        "1.weight", "1.bias"]
